"""The composer's text fields stop at core's ceilings (core.rules.validation: text far longer than any platform
takes is refused there; the fields only keep a paste from sending megabytes to it)."""
from __future__ import annotations

from core.rules.validation import LINK_CEILING, TEXT_CEILING
from tests.test_compose_extras import template, world  # noqa: F401  (the composer alone, on a copied data dir)


def test_the_composers_fields_stop_at_cores_ceilings(world):
    db, owner, ws, open_as, accounts = world
    at = open_as(owner, compose_accounts=[a.id for a in accounts])
    assert at.text_area(key="compose_caption").proto.max_chars == TEXT_CEILING
    assert at.text_input(key="compose_link").proto.max_chars == LINK_CEILING
    assert at.text_input(key="compose_hashtags").proto.max_chars == TEXT_CEILING
    assert at.text_input(key="compose_cta").proto.max_chars == TEXT_CEILING
    # the first comment has no guard of its own: its counter shows the platforms' limit (test_compose_extras)
    assert at.text_area(key="compose_first_comment").proto.max_chars == 0

"""The store contract for kept composer drafts (core.store.PeopleStore), on every store: one per person and
workspace, replaced as they write, forgotten once, never another person's or workspace's."""
from __future__ import annotations

import pytest

from core.domain import User
from core.domain.errors import NotFoundError
from core.store.people import KeptDraft


def test_a_kept_draft_is_replaced_as_the_person_writes_and_forgotten_once(world, clock):
    store = world.store
    first = KeptDraft(user_id=world.owner.id, workspace_id=world.ws.id, kept_at=clock.now,
                      fields={"compose_caption": "Spring is här 🌷", "compose_accounts": ["acc_1", "acc_2"]})
    assert store.keep_draft(first) == first
    assert store.get_kept_draft(world.owner.id, world.ws.id) == first          # text, lists and times round-trip
    later = clock.advance(minutes=2)
    second = KeptDraft(user_id=world.owner.id, workspace_id=world.ws.id, kept_at=later,
                       fields={"compose_caption": "Spring is here"})
    store.keep_draft(second)
    assert store.get_kept_draft(world.owner.id, world.ws.id) == second
    # Another workspace of the same person, and another person: nothing of theirs.
    assert store.get_kept_draft(world.owner.id, world.other_ws.id) is None
    other = store.add_user(User(email="ed@example.test", id="user_ed"))
    assert store.get_kept_draft(other.id, world.ws.id) is None
    assert store.forget_kept_draft(world.owner.id, world.ws.id) is True
    assert store.forget_kept_draft(world.owner.id, world.ws.id) is False
    assert store.get_kept_draft(world.owner.id, world.ws.id) is None


def test_a_draft_for_a_workspace_or_person_that_is_not_there_is_refused(world, clock):
    with pytest.raises(NotFoundError):
        world.store.keep_draft(KeptDraft(user_id=world.owner.id, workspace_id="ws_gone", fields={}, kept_at=clock.now))
    with pytest.raises(NotFoundError):
        world.store.keep_draft(KeptDraft(user_id="user_gone", workspace_id=world.ws.id, fields={}, kept_at=clock.now))

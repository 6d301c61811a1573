"""A LinkedIn first comment whose answer was lost: LinkedIn lets no ordinary app read comments back, so nobody can
tell whether it went out. People are told it MAY not have been posted (never "was not posted", never a permission
problem of their account), with the post's link, and the comment is never sent a second time."""
from __future__ import annotations

import pytest

from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow

sandbox = pytest.importorskip("sandbox")

from tests.test_in_doubt import Clock, publisher, run_due  # noqa: E402
from tests.test_threads_and_comments import comments, emu, template, world  # noqa: E402,F401


def test_a_lost_linkedin_comment_is_told_as_a_doubt_not_as_a_refusal(world):
    li = world.connect("linkedin")
    clock = Clock(utcnow())
    post = world.post(li, at=clock(), text="We are hiring", first_comment="Apply: https://example.com/jobs")
    world.emu.add_fault(kind="lost_response", platform="linkedin", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [d] = run_due(world, clock, pub)
    for _ in range(4):
        if d.state == DeliveryState.PUBLISHED:
            break
        clock.now = d.next_attempt_at
        [d] = run_due(world, clock, pub)
    # LinkedIn has the comment (its answer was lost), once; the post is published with its link.
    assert d.state == DeliveryState.PUBLISHED and d.external_url
    assert len(comments(world, "linkedin")) == 1 and len(world.emu.posts("linkedin")) == 1
    said = d.progress["followup_error"]
    assert said.startswith("The first comment on your LinkedIn post may not have been posted: LinkedIn did not "
                           "answer whether the first comment was posted")
    assert "add it by hand if it is missing" in said
    assert "permission" not in said.lower() and "was not posted" not in said
    [note] = [n for n in world.store.list_notifications(workspace_id=world.workspace.id)
              if n.kind == "followup_failed"]
    assert note.title == "The first comment on your LinkedIn post may not have been posted"
    assert note.subject_id == post.id and d.external_url in note.body
    assert "permission" not in note.body.lower() and "Page role" not in note.body

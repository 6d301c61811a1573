"""A first comment whose answer was lost and that nobody can check (LinkedIn lets no ordinary app read comments
back; elsewhere the listing had not shown it by the last attempt): people are told it MAY not have been posted
(never "was not posted", never a permission problem of their account), with the post's link, and the comment is
never sent a second time."""
from __future__ import annotations

from dataclasses import replace

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


def test_a_comment_still_in_doubt_when_the_attempts_run_out_is_told_as_a_doubt(world):
    """Facebook can list comments, but this one's answer was lost and the listing has not shown it by the last
    attempt: the post is published and people are told the comment MAY be missing, not that it was refused, nor
    asked to "mark it published" (it is)."""
    fb = world.connect("facebook")
    world.emu.configure(listing_lag_s={"facebook": 10**6})       # the comments listing never shows it in time
    clock = Clock(utcnow())
    world.post(fb, at=clock(), text="Opening hours this week", first_comment="Closed on Monday")
    world.emu.add_fault(kind="lost_response", platform="facebook", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("comment:sent")
    # Earlier looks used up all but the last attempt the policy gives a doubt (2 x max_attempts).
    last = world.store.update_delivery(replace(first, attempts=2 * pub.policy.max_attempts - 1),
                                       expected_version=first.version)
    clock.now = last.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and len(comments(world, "facebook")) == 1
    said = done.progress["followup_error"]
    assert said.startswith("The first comment on your Facebook Page post may not have been posted: ")
    assert said.endswith("Look at the post and add what is missing by hand.")
    assert "mark it published" not in said and "was not posted" not in said

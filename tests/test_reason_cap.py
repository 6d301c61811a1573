"""A cancel or reject reason is a few sentences for the activity log and the author's notification: a reason over
1,000 characters (a 10 MB paste) is refused in words and nothing is stored or sent."""
from __future__ import annotations

import pytest

from core.domain import Role
from core.domain.errors import ValidationError
from core.domain.lifecycle import PostStatus
from core.rules.validation import REASON_MAX
from core.services.scheduler import Scheduler
from tests.test_approvals import status, w, write  # noqa: F401  (the approvals workspace and its people)

HUGE = "Because. " * 1_200_000          # about 10 MB


def test_a_ten_megabyte_rejection_reason_is_refused_and_nothing_is_told(w):
    write(w, "p1", 24)
    with pytest.raises(ValidationError) as err:
        Scheduler(w.store, clock=w.clock, actor=w.people[Role.APPROVER]).reject("p1", HUGE)
    [problem] = err.value.problems
    assert problem.code == "reason_too_long" and problem.field == "reason"
    assert problem.message == ("Keep the reason to 1,000 characters or fewer (a few sentences); this one has "
                               f"{len(HUGE.strip()):,}.")
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL
    assert not w.store.list_notifications(workspace_id=w.ws.id)
    assert not [e for e in w.store.list_events(workspace_id=w.ws.id) if e.action == "post.rejected"]


def test_a_ten_megabyte_cancel_reason_is_refused_and_the_post_stays(w):
    write(w, "p1", 24)
    with pytest.raises(ValidationError, match="Keep the reason to 1,000 characters or fewer"):
        Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).cancel("p1", HUGE)
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL
    assert not [e for e in w.store.list_events(workspace_id=w.ws.id) if e.action == "post.cancelled"]


def test_a_reason_of_the_full_length_is_kept_whole(w):
    write(w, "p1", 24)
    reason = "x" * REASON_MAX
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).cancel("p1", reason)
    assert status(w, "p1") == PostStatus.CANCELLED
    [event] = [e for e in w.store.list_events(workspace_id=w.ws.id) if e.action == "post.cancelled"]
    assert event.reason == reason

"""A person settles what the runner could not: it is live, publish it again, or do not publish it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.domain import Account, Delivery, Post, Schedule, Workspace
from core.domain.errors import IllegalTransitionError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.rules.permissions import Actor
from core.services.scheduler import Scheduler
from core.store import InMemoryPostStore

T0 = datetime(2030, 5, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def world():
    store = InMemoryPostStore(clock=lambda: T0)
    ws = store.add_workspace(Workspace(name="Brand"))
    acct = store.save_account(Account(platform="linkedin", handle="@brand", workspace_id=ws.id))
    post = Post(caption="Hello", accounts=(acct,), schedule=Schedule(scheduled_at=T0), workspace_id=ws.id,
                state=PostState.APPROVED, id="p1")
    d = Delivery(post_id="p1", account_id=acct.id, platform="linkedin", due_at=T0, id="d1")
    store.add_post(post, [d])
    claimed = store.claim_due(T0, runner_id="r", lease_until=T0 + timedelta(minutes=2))[0]
    store.save_progress("d1", "r", "sent", T0.isoformat())
    store.finish_delivery(claimed.needs_review(evidence="The answer was lost and LinkedIn cannot list it."),
                          runner_id="r")
    return store, Scheduler(store, clock=lambda: T0 + timedelta(minutes=30),
                            actor=Actor.for_user("u1", {ws.id: "editor"}))


def test_it_is_live(world):
    store, s = world
    d = s.confirm_published("d1", url="https://www.linkedin.com/feed/update/urn:li:share:1/")
    assert d.state == DeliveryState.PUBLISHED and d.external_url.endswith("share:1/")
    assert store.get_post_status("p1") == PostStatus.PUBLISHED
    [event] = [e for e in store.list_events(subject_id="d1") if e.action == "delivery.confirmed_published"]
    assert event.actor == "user:u1" and event.from_state == "needs_review"


def test_publish_it_again_skips_the_lookup_and_gives_fresh_attempts(world):
    store, s = world
    d = s.try_again("d1")
    assert d.state == DeliveryState.QUEUED and d.attempts == 0 and not d.progress.get("sent")
    assert d.next_attempt_at == T0 + timedelta(minutes=30)
    again = store.claim_due(T0 + timedelta(minutes=31), runner_id="r2", lease_until=T0 + timedelta(hours=1))
    assert [x.id for x in again] == ["d1"]


def test_do_not_publish_it(world):
    store, s = world
    d = s.give_up("d1")
    assert d.state == DeliveryState.FAILED and "decided by user:u1" in d.last_error
    assert store.get_post_status("p1") == PostStatus.FAILED
    with pytest.raises(IllegalTransitionError):
        s.confirm_published("d1")                     # settled once; "try again" is what is left
    assert s.try_again("d1").state == DeliveryState.QUEUED

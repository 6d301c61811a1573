"""The store contract for the activity log, notifications and batches (core.store.ActivityStore), on every store."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta, timezone

import pytest

from core.domain import Batch, BatchState, Notification
from core.domain.errors import NotFoundError

from tests.store_contract.world import T0, deliveries_for, event, make_post


# ---------------------------------------------------------------- activity, notifications, batches

def test_events_are_listed_newest_first(world):
    store = world.store
    store.record_event(event("post_1", T0, "created"))
    store.record_event(event("post_1", T0 + timedelta(minutes=2), "approved", actor="user:user_owner",
                             reason="looks good", details={"note": "ok", "at": T0 + timedelta(minutes=2)}))
    store.record_event(event("post_2", T0 + timedelta(minutes=1), "created"))
    store.record_event(event("post_3", T0 + timedelta(minutes=3), "created", workspace_id="ws_other"))
    assert [(e.subject_id, e.action) for e in store.list_events()] == [
        ("post_3", "created"), ("post_1", "approved"), ("post_2", "created"), ("post_1", "created")]
    assert [e.action for e in store.list_events(subject_id="post_1")] == ["approved", "created"]
    assert [e.subject_id for e in store.list_events(workspace_id="ws_acme")] == ["post_1", "post_2", "post_1"]
    assert [e.subject_id for e in store.list_events(workspace_id="ws_acme", subject_id="post_2")] == ["post_2"]
    assert len(store.list_events(limit=2)) == 2
    approved = store.list_events(subject_id="post_1")[0]
    assert (approved.actor, approved.reason) == ("user:user_owner", "looks good")
    assert approved.at == T0 + timedelta(minutes=2)
    assert approved.details["note"] == "ok"


def test_events_of_one_instant_come_back_in_reverse_order_of_writing(world, clock):
    store = world.store
    at = T0
    # Ids against the order of writing: a store that broke ties by id would fail.
    store.record_event(event("post_1", at, "created", id="evt_z"))
    post = make_post(world, "post_1")
    post = store.add_post(post, deliveries_for(post), events=[event("post_1", at, "scheduled", id="evt_m"),
                                                              event("post_1", at, "notified", id="evt_a")])
    store.record_event(event("post_1", at - timedelta(microseconds=1), "drafted", id="evt_0"))  # earlier, written later
    store.record_event(event("post_1", at, "approved", id="evt_b"))
    expected = ["approved", "notified", "scheduled", "created", "drafted"]
    assert [e.action for e in store.list_events(subject_id="post_1")] == expected
    assert [e.action for e in store.list_events(workspace_id="ws_acme")] == expected
    assert [e.id for e in store.list_events(limit=2)] == ["evt_b", "evt_a"]
    # Many in one write keep their order too.
    many = [event("post_1", at + timedelta(minutes=1), f"step_{n:02}", id=f"evt_step_{99 - n:02}") for n in range(25)]
    store.update_post(post, expected_version=1, events=many)
    assert [e.action for e in store.list_events(subject_id="post_1", limit=25)] == [
        f"step_{n:02}" for n in reversed(range(25))]


def test_events_are_written_with_the_post(world, clock):
    post = make_post(world, "post_1")
    world.store.add_post(post, deliveries_for(post),
                         events=[event("post_1", clock.now, "created", to_state="scheduled")])
    [logged] = world.store.list_events(subject_id="post_1")
    assert logged.to_state == "scheduled" and logged.workspace_id == "ws_acme"


def test_notifications(world, clock):
    store = world.store
    everyone = store.add_notification(Notification(workspace_id=world.ws.id, kind="publish_failed",
                                                   title="A post failed", body="LinkedIn said no", id="n_all",
                                                   subject_id="post_1"))
    assert everyone.created_at == clock.now
    clock.advance(minutes=1)
    store.add_notification(Notification(workspace_id=world.ws.id, kind="approval_needed", title="Please approve",
                                        user_id=world.owner.id, id="n_owner"))
    clock.advance(minutes=1)
    store.add_notification(Notification(workspace_id=world.ws.id, kind="approval_needed", title="For someone else",
                                        user_id="user_else", id="n_else"))
    store.add_notification(Notification(workspace_id=world.other_ws.id, kind="x", title="Elsewhere", id="n_other"))

    ids = lambda ns: [n.id for n in ns]  # noqa: E731
    assert ids(store.list_notifications(workspace_id=world.ws.id)) == ["n_else", "n_owner", "n_all"]
    assert ids(store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id)) == ["n_owner", "n_all"]
    assert ids(store.list_notifications(workspace_id=world.ws.id, limit=1)) == ["n_else"]
    assert store.list_notifications(workspace_id=world.ws.id)[-1] == everyone
    store.mark_notification_read("n_all", clock.now.astimezone(timezone(timedelta(hours=-5))))
    assert ids(store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id, unread_only=True)) == [
        "n_owner"]
    read = store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id)[-1]
    assert read.read_at == clock.now and read.read_at.utcoffset() == timedelta(0)
    with pytest.raises(NotFoundError, match="No notification with id n_ghost"):
        store.mark_notification_read("n_ghost", clock.now)


def test_batches(world, clock):
    store = world.store
    first = store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 4), prompt="spring", id="b1"))
    assert first.created_at == clock.now and first.state == BatchState.PENDING_APPROVAL
    store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 11), id="b2"))
    store.save_batch(Batch(workspace_id=world.other_ws.id, week_start=date(2030, 3, 18), id="b3"))
    assert store.get_batch("b1") == first
    decided = store.save_batch(replace(first, state=BatchState.APPROVED, decided_at=clock.now,
                                       decided_by=world.owner.id))
    assert store.get_batch("b1") == decided
    assert [b.id for b in store.list_batches(workspace_id=world.ws.id)] == ["b2", "b1"]
    with pytest.raises(NotFoundError, match="No batch with id b_ghost"):
        store.get_batch("b_ghost")
    with pytest.raises(NotFoundError, match="No workspace"):
        store.save_batch(Batch(workspace_id="ws_ghost", week_start=date(2030, 3, 4)))

"""The runner's store contract: claiming with leases, fencing, holds, heartbeats, snapshots, and races.

Runs against every store (memory, SQLite, PostgreSQL) through the store fixtures of tests/conftest.py.
The concurrency tests race several claimers the way several runner processes would: on SQLite each
thread has its own engine on one file, on PostgreSQL each its own connection.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from core.db.sql_store import SqlPostStore
from core.db.testing import sqlite_engine
from core.domain import Account, AccountStatus, Delivery, Post, Schedule, Workspace
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.domain.catalog import Platform
from core.store import AccountSnapshot, Heartbeat, MetricSnapshot
from tests.store_contract.world import T0

NOW = T0 + timedelta(hours=1)
LEASE = NOW + timedelta(minutes=2)
WS = "ws_claims"


# ---------------------------------------------------------------- a small world

def seed(store, n: int = 3, *, platform: Platform = Platform.X, **account_fields) -> list[Account]:
    try:
        store.get_workspace(WS)
    except Exception:
        store.add_workspace(Workspace(name="Claims", id=WS))
    start = len(store.list_accounts(workspace_id=WS))
    return [store.save_account(Account(platform=platform, handle=f"@acct{i}", oauth_token=f"token-{i}",
                                       workspace_id=WS, id=f"acct_{i:03d}", **account_fields))
            for i in range(start, start + n)]


def add_post(store, pid: str, accounts, at, *, state: PostState = PostState.APPROVED, **delivery_fields) -> list[Delivery]:
    accounts = list(accounts) if isinstance(accounts, (list, tuple)) else [accounts]
    post = Post(caption=f"Caption of {pid}", accounts=tuple(accounts), id=pid, workspace_id=WS, state=state,
                schedule=Schedule(scheduled_at=at, timezone_name="UTC"))
    ds = [Delivery(post_id=pid, account_id=a.id, platform=a.platform, due_at=at, id=f"dlv_{pid}_{a.id}",
                   **delivery_fields) for a in accounts]
    store.add_post(post, ds)
    return [store.get_delivery(d.id) for d in ds]


def ids(deliveries) -> list[str]:
    return [d.id for d in deliveries]


def publish(store, d: Delivery, runner: str, at=NOW) -> Delivery:
    done = store.finish_delivery(d.mark_published(external_id=f"ext-{d.id}", external_url=None, at=at), runner_id=runner)
    assert done is not None
    return done


def actions(store, subject_id: str) -> list[str]:
    return [e.action for e in reversed(store.list_events(subject_id=subject_id))]


# ---------------------------------------------------------------- claim_due: what is claimable

def test_claim_due_takes_only_due_deliveries_of_approved_posts(store):
    a = seed(store, 6)
    due = add_post(store, "p_due", a[0], NOW - timedelta(minutes=1))[0]
    exactly_now = add_post(store, "p_now", a[1], NOW)[0]
    add_post(store, "p_later", a[2], NOW + timedelta(seconds=1))
    add_post(store, "p_draft", a[3], NOW - timedelta(minutes=1), state=PostState.DRAFT)
    add_post(store, "p_pending", a[4], NOW - timedelta(minutes=1), state=PostState.PENDING_APPROVAL)
    add_post(store, "p_cancelled", a[5], NOW - timedelta(minutes=1), state=PostState.CANCELLED)
    claimed = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert ids(claimed) == [due.id, exactly_now.id]
    assert store.claim_due(NOW, runner_id="r2", lease_until=LEASE) == []


def test_claim_due_leaves_the_platforms_a_runner_has_no_room_for(store):
    xs, lis = seed(store, 2), seed(store, 2, platform=Platform.LINKEDIN)
    x_due = [add_post(store, f"p_x{i}", a, NOW - timedelta(minutes=2))[0] for i, a in enumerate(xs)]
    li_due = [add_post(store, f"p_li{i}", a, NOW - timedelta(minutes=1))[0] for i, a in enumerate(lis)]
    # X deliveries are due first, but this runner's X slots are full: LinkedIn's are claimed, X's wait.
    claimed = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=10, room={"x": 0})
    assert ids(claimed) == ids(li_due)
    assert store.next_due_at(NOW, skip_platforms=["x", "linkedin"]) is None
    assert store.next_due_at(NOW) == x_due[0].due_at
    # Room for one more X delivery: one is claimed (the earliest), the other stays for later.
    assert ids(store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=10, room={"x": 1})) == ids(x_due[:1])
    assert ids(store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=10, room={"linkedin": 0})) == ids(x_due[1:])


def test_claim_due_takes_no_more_of_a_platform_than_its_room(store):
    yts, xs = seed(store, 5, platform=Platform.YOUTUBE), seed(store, 3)
    yt_due = [add_post(store, f"p_yt{i}", a, NOW - timedelta(minutes=10 - i))[0] for i, a in enumerate(yts)]
    x_due = [add_post(store, f"p_x{i}", a, NOW - timedelta(minutes=1))[0] for i, a in enumerate(xs)]
    # Eight free workers, YouTube due first but with room for two: the other six go to X (all three of them).
    claimed = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=8, room={"youtube": 2})
    assert sorted(ids(claimed)) == sorted(ids(yt_due[:2]) + ids(x_due))


def test_claim_expired_leaves_the_callers_own_running_attempts(store):
    a = seed(store, 2)
    d1, d2 = (add_post(store, f"p_{i}", acct, NOW - timedelta(minutes=1))[0] for i, acct in enumerate(a))
    store.claim_due(NOW, runner_id="r1", lease_until=NOW + timedelta(seconds=1), limit=2)
    later = NOW + timedelta(seconds=5)
    taken = store.claim_expired(later, runner_id="r1", lease_until=later + timedelta(minutes=2), exclude_ids=[d1.id])
    assert ids(taken) == [d2.id]


def test_claim_due_skips_terminal_and_in_flight_states_and_takes_due_retries(store):
    a = seed(store, 4)
    # Deliveries reach retry_wait, failed and published through a claim and an outcome, as in production.
    first = add_post(store, "p_retry", a[0], NOW - timedelta(minutes=10))[0]
    [c] = store.claim_due(NOW - timedelta(minutes=9), runner_id="r0", lease_until=LEASE)
    store.finish_delivery(c.retry_later(at=NOW - timedelta(seconds=5), error="503"), runner_id="r0")
    later = add_post(store, "p_retry_later", a[1], NOW - timedelta(minutes=10))[0]
    [c] = store.claim_due(NOW - timedelta(minutes=9), runner_id="r0", lease_until=LEASE)
    assert c.id == later.id
    store.finish_delivery(c.retry_later(at=NOW + timedelta(minutes=5), error="503"), runner_id="r0")
    failed = add_post(store, "p_failed", a[2], NOW - timedelta(minutes=10))[0]
    [c] = store.claim_due(NOW - timedelta(minutes=9), runner_id="r0", lease_until=LEASE)
    store.finish_delivery(c.mark_failed(error="rejected"), runner_id="r0")
    published = add_post(store, "p_published", a[3], NOW - timedelta(minutes=10))[0]
    [c] = store.claim_due(NOW - timedelta(minutes=9), runner_id="r0", lease_until=LEASE)
    publish(store, c, "r0")

    claimed = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert ids(claimed) == [first.id]
    assert claimed[0].attempts == 2                       # the retry is the second attempt
    assert store.get_delivery(failed.id).state == DeliveryState.FAILED
    assert store.get_delivery(published.id).state == DeliveryState.PUBLISHED
    assert store.get_delivery(later.id).state == DeliveryState.RETRY_WAIT


def test_claim_sets_attempt_runner_lease_marker_and_writes_the_event(store, clock):
    a = seed(store, 2)
    d, other = add_post(store, "p1", a, NOW - timedelta(minutes=1))
    before = store.get_delivery(d.id)
    assert store.get_post_status("p1") == PostStatus.SCHEDULED
    claimed = {c.id: c for c in store.claim_due(NOW, runner_id="runner-a", lease_until=LEASE)}
    assert set(claimed) == {d.id, other.id}
    c = claimed[d.id]
    assert c.state == DeliveryState.PUBLISHING
    assert (c.attempts, c.claimed_by, c.lease_expires_at, c.marker) == (1, "runner-a", LEASE, d.id)
    assert c.version == before.version + 1
    assert store.get_delivery(d.id) == c                  # what came back is what is stored
    assert store.get_post_status("p1") == PostStatus.PUBLISHING
    events = [e for e in store.list_events(subject_id=d.id) if e.action == "delivery.publishing"]
    assert len(events) == 1
    e = events[0]
    assert (e.actor, e.workspace_id, e.to_state, e.at) == ("runner:runner-a", WS, "publishing", clock.now)
    assert e.details["post_id"] == "p1" and e.details["attempt"] == 1 and e.details["platform"] == "x"


def test_a_recorded_marker_is_kept_across_attempts(store):
    [acct] = seed(store, 1)
    d = add_post(store, "p1", acct, NOW - timedelta(minutes=1))[0]
    [c] = store.claim_due(NOW, runner_id="r", lease_until=LEASE)
    assert c.marker == d.id
    # the marker an adapter recorded survives the retry
    store.finish_delivery(replace(c.retry_later(at=NOW, error="503"), marker="mk-42"), runner_id="r")
    [again] = store.claim_due(NOW, runner_id="r", lease_until=LEASE)
    assert (again.marker, again.attempts) == ("mk-42", 2)


def test_claim_due_one_per_account_per_call_earliest_first(store):
    a, b = seed(store, 2)
    a_late = add_post(store, "pa2", a, NOW - timedelta(minutes=1))[0]
    a_early = add_post(store, "pa1", a, NOW - timedelta(minutes=5))[0]
    a_mid = add_post(store, "pa3", a, NOW - timedelta(minutes=3))[0]
    b_only = add_post(store, "pb1", b, NOW - timedelta(minutes=2))[0]
    first = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert ids(first) == [a_early.id, b_only.id]
    # A has one in flight: nothing more for A, whoever asks
    assert store.claim_due(NOW, runner_id="r1", lease_until=LEASE) == []
    assert store.claim_due(NOW, runner_id="r2", lease_until=LEASE) == []
    publish(store, first[0], "r1")
    assert ids(store.claim_due(NOW, runner_id="r2", lease_until=LEASE)) == [a_mid.id]
    assert store.claim_due(NOW, runner_id="r1", lease_until=LEASE) == []
    publish(store, store.get_delivery(a_mid.id), "r2")
    assert ids(store.claim_due(NOW, runner_id="r1", lease_until=LEASE)) == [a_late.id]


def test_claim_due_respects_the_limit_in_due_order(store):
    accounts = seed(store, 5)
    made = [add_post(store, f"p{i}", acct, NOW - timedelta(minutes=10 - i))[0] for i, acct in enumerate(accounts)]
    got = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)
    assert ids(got) == ids(made[:2])
    got = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)
    assert ids(got) == ids(made[2:4])
    assert ids(store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)) == ids(made[4:])


def test_a_busy_account_with_a_backlog_does_not_starve_the_others(store):
    """Account A has many due deliveries (earliest of all) and one in flight; B's one must still be claimed."""
    a, b = seed(store, 2)
    for i in range(12):
        add_post(store, f"pa{i:02d}", a, NOW - timedelta(minutes=30 - i))
    b_only = add_post(store, "pb", b, NOW - timedelta(minutes=1))[0]
    [in_flight] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=1)
    assert in_flight.account_id == a.id
    assert ids(store.claim_due(NOW, runner_id="r2", lease_until=LEASE, limit=1)) == [b_only.id]


def test_claim_due_fills_the_limit_across_accounts_whatever_the_backlog_order(store):
    a, b, c = seed(store, 3)
    for i in range(30):                    # far more than any window a store may look at per claimed row
        add_post(store, f"pa{i:02d}", a, NOW - timedelta(minutes=60 - i))
    b_first = add_post(store, "pb", b, NOW - timedelta(minutes=2))[0]
    c_first = add_post(store, "pc", c, NOW - timedelta(minutes=1))[0]
    got = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=3)
    assert ids(got) == ["dlv_pa00_" + a.id, b_first.id, c_first.id]


def test_claim_due_breaks_ties_by_id(store):
    accounts = seed(store, 6)
    for i, acct in enumerate(reversed(accounts)):
        add_post(store, f"p{i}", acct, NOW - timedelta(minutes=1))      # all due at the same instant
    got = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=3)
    everything = sorted(f"dlv_p{i}_{acct.id}" for i, acct in enumerate(reversed(accounts)))
    assert ids(got) == everything[:3]


def test_held_accounts_are_left_alone_until_the_hold_ends(store):
    a, b = seed(store, 2)
    held = add_post(store, "pa", a, NOW - timedelta(minutes=1))[0]
    free = add_post(store, "pb", b, NOW - timedelta(minutes=1))[0]
    store.hold_account(a.id, NOW + timedelta(minutes=10), "x-rate-limit-reset")
    assert ids(store.claim_due(NOW, runner_id="r", lease_until=LEASE)) == [free.id]
    assert store.claim_due(NOW + timedelta(minutes=9), runner_id="r", lease_until=LEASE) == []
    # an earlier hold does not shorten it; a later one extends it
    store.hold_account(a.id, NOW + timedelta(minutes=1), "shorter")
    assert store.account_holds(NOW) == {a.id: (NOW + timedelta(minutes=10), "x-rate-limit-reset")}
    store.hold_account(a.id, NOW + timedelta(minutes=20), "daily cap")
    assert store.account_holds(NOW) == {a.id: (NOW + timedelta(minutes=20), "daily cap")}
    assert store.claim_due(NOW + timedelta(minutes=19), runner_id="r", lease_until=LEASE) == []
    assert store.account_holds(NOW + timedelta(minutes=20)) == {}       # ended holds are not listed
    assert ids(store.claim_due(NOW + timedelta(minutes=20), runner_id="r", lease_until=LEASE)) == [held.id]


@pytest.mark.parametrize("status,claimable", [
    (AccountStatus.CONNECTED, True), (AccountStatus.EXPIRING, True), (AccountStatus.EXPIRED, True),
    (AccountStatus.RECONNECT_NEEDED, False), (AccountStatus.REVOKED, False)])
def test_accounts_needing_a_reconnect_are_not_claimed_for(store, status, claimable):
    [acct] = seed(store, 1, status=status)
    d = add_post(store, "p", acct, NOW - timedelta(minutes=1))[0]
    assert ids(store.claim_due(NOW, runner_id="r", lease_until=LEASE)) == ([d.id] if claimable else [])
    if not claimable:
        store.save_account(replace(store.get_account(acct.id), status=AccountStatus.CONNECTED))
        assert ids(store.claim_due(NOW, runner_id="r", lease_until=LEASE)) == [d.id]


def test_next_due_at(store):
    a, b, c = seed(store, 3)
    assert store.next_due_at() is None
    add_post(store, "p_draft", a, NOW - timedelta(hours=1), state=PostState.DRAFT)
    assert store.next_due_at() is None
    add_post(store, "p_b", b, NOW + timedelta(minutes=5))
    add_post(store, "p_c", c, NOW + timedelta(minutes=3))
    assert store.next_due_at() == NOW + timedelta(minutes=3)
    [claimed] = store.claim_due(NOW + timedelta(minutes=3), runner_id="r", lease_until=LEASE)
    assert store.next_due_at() == NOW + timedelta(minutes=5)          # in flight is not waiting
    store.finish_delivery(claimed.retry_later(at=NOW + timedelta(minutes=4), error="503"), runner_id="r")
    assert store.next_due_at() == NOW + timedelta(minutes=4)          # retries count, at their next time


def test_next_due_at_skips_accounts_that_time_alone_will_not_free(store):
    a, b, c = seed(store, 3)
    add_post(store, "p_a1", a, NOW - timedelta(minutes=2))
    add_post(store, "p_a2", a, NOW - timedelta(minutes=1))
    add_post(store, "p_b", b, NOW + timedelta(minutes=5))
    add_post(store, "p_c", c, NOW + timedelta(minutes=7))
    store.claim_due(NOW, runner_id="r", lease_until=LEASE)             # a is busy with p_a1
    assert store.next_due_at(NOW) == NOW + timedelta(minutes=5)        # p_a2 waits for a worker, not for time
    store.hold_account(b.id, NOW + timedelta(hours=1), "rate limited")
    assert store.next_due_at(NOW) == NOW + timedelta(minutes=7)
    store.save_account(replace(store.get_account(c.id), status=AccountStatus.RECONNECT_NEEDED))
    assert store.next_due_at(NOW) is None


# ---------------------------------------------------------------- leases, take-over, fencing

def test_claim_expired_takes_over_only_expired_leases(store, clock):
    a, b, c = seed(store, 3)
    short = add_post(store, "pa", a, NOW - timedelta(minutes=1))[0]
    long = add_post(store, "pb", b, NOW - timedelta(minutes=1))[0]
    store.claim_due(NOW, runner_id="r1", lease_until=NOW + timedelta(seconds=30), limit=1)
    store.claim_due(NOW, runner_id="r1", lease_until=NOW + timedelta(minutes=5), limit=1)
    waiting = add_post(store, "pc", c, NOW - timedelta(minutes=1))[0]       # queued: never "expired"
    at = NOW + timedelta(seconds=30)
    assert store.claim_expired(at, runner_id="r2", lease_until=at + timedelta(minutes=2)) == []  # not yet
    at = NOW + timedelta(seconds=31)
    taken = store.claim_expired(at, runner_id="r2", lease_until=at + timedelta(minutes=2))
    assert ids(taken) == [short.id]
    t = taken[0]
    assert (t.state, t.claimed_by, t.lease_expires_at, t.attempts) == (
        DeliveryState.PUBLISHING, "r2", at + timedelta(minutes=2), 2)          # a take-over counts as an attempt
    assert store.get_delivery(short.id) == t
    assert actions(store, short.id) == ["delivery.publishing", "delivery.lease_expired"]
    take = store.list_events(subject_id=short.id)[0]
    assert take.actor == "runner:r2" and take.reason
    assert store.get_delivery(long.id).claimed_by == "r1"
    assert store.get_delivery(waiting.id).state == DeliveryState.QUEUED
    assert store.claim_expired(at, runner_id="r3", lease_until=at + timedelta(minutes=2)) == []


def test_claim_expired_respects_the_limit_oldest_lease_first(store):
    accounts = seed(store, 4)
    for i, acct in enumerate(accounts):
        add_post(store, f"p{i}", acct, NOW - timedelta(minutes=1))
        store.claim_due(NOW, runner_id="r1", lease_until=NOW + timedelta(seconds=10 * (4 - i)))
    later = NOW + timedelta(minutes=5)
    first = store.claim_expired(later, runner_id="r2", lease_until=later + timedelta(minutes=2), limit=2)
    assert [d.account_id for d in first] == [accounts[3].id, accounts[2].id]


def test_renew_leases(store):
    a, b, c = seed(store, 3)
    for acct in (a, b, c):
        add_post(store, f"p_{acct.id}", acct, NOW - timedelta(minutes=1))
    mine = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)
    [theirs] = store.claim_due(NOW, runner_id="r2", lease_until=LEASE)
    later = LEASE + timedelta(minutes=2)
    assert store.renew_leases("r1", later) == 2
    assert all(store.get_delivery(d.id).lease_expires_at == later for d in mine)
    assert store.get_delivery(theirs.id).lease_expires_at == LEASE
    assert store.renew_leases("r1", later + timedelta(minutes=1), ids=[mine[0].id, theirs.id]) == 1
    assert store.get_delivery(mine[0].id).lease_expires_at == later + timedelta(minutes=1)
    assert store.get_delivery(mine[1].id).lease_expires_at == later
    assert store.renew_leases("r1", later, ids=[]) == 0
    assert store.renew_leases("nobody", later) == 0
    # renewed leases are not taken over; the one that was not renewed is
    taken = store.claim_expired(LEASE + timedelta(seconds=1), runner_id="r3", lease_until=later)
    assert ids(taken) == [theirs.id]
    # a runner cannot renew what it lost
    assert store.renew_leases("r2", later) == 0
    publish(store, mine[0], "r1")
    assert store.renew_leases("r1", later) == 1


def test_fencing_a_runner_that_lost_its_lease_cannot_write(store):
    [acct] = seed(store, 1)
    d = add_post(store, "p", acct, NOW - timedelta(minutes=1))[0]
    [old] = store.claim_due(NOW, runner_id="r1", lease_until=NOW + timedelta(seconds=30))
    assert store.save_progress(d.id, "r1", "sent", NOW.isoformat()) is True
    later = NOW + timedelta(minutes=1)
    [new] = store.claim_expired(later, runner_id="r2", lease_until=later + timedelta(minutes=2))
    assert new.progress == {"sent": NOW.isoformat()}
    before = store.get_delivery(d.id)
    events_before = store.list_events(subject_id=d.id)
    # the old runner's late writes are refused and change nothing
    assert store.save_progress(d.id, "r1", "tweet:0", "123") is False
    assert store.finish_delivery(old.mark_published(external_id="late", external_url=None, at=later),
                                 runner_id="r1") is None
    assert store.finish_delivery(old.mark_failed(error="late"), runner_id="r1") is None
    assert store.get_delivery(d.id) == before
    assert store.list_events(subject_id=d.id) == events_before
    assert store.get_post_status("p") == PostStatus.PUBLISHING
    # the new holder can
    assert store.save_progress(d.id, "r2", "tweet:0", "456") is True
    done = store.finish_delivery(new.mark_published(external_id="456", external_url=None, at=later), runner_id="r2")
    assert done.state == DeliveryState.PUBLISHED and done.external_id == "456"
    assert done.progress == {"sent": NOW.isoformat(), "tweet:0": "456"}   # saved steps are kept
    assert store.get_delivery(d.id) == done
    assert store.get_post_status("p") == PostStatus.PUBLISHED
    # and once it is finished, nobody holds it any more
    assert store.save_progress(d.id, "r2", "x", "y") is False
    assert store.finish_delivery(new.mark_failed(error="again"), runner_id="r2") is None


def test_save_progress_needs_a_delivery_in_flight(store):
    [acct] = seed(store, 1)
    d = add_post(store, "p", acct, NOW - timedelta(minutes=1))[0]
    assert store.save_progress(d.id, "r1", "sent", "now") is False            # queued: not claimed
    assert store.save_progress("dlv_nope", "r1", "sent", "now") is False
    [c] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert store.save_progress(d.id, "r1", "sent", "t1") is True
    assert store.save_progress(d.id, "r1", "ig_container", "c-9") is True
    assert store.save_progress(d.id, "r1", "sent", "t2") is True
    got = store.get_delivery(d.id)
    assert got.progress == {"sent": "t2", "ig_container": "c-9"}
    assert got.version > c.version
    assert store.save_progress(d.id, "r2", "sent", "t3") is False            # not the holder
    assert store.get_delivery(d.id).progress["sent"] == "t2"


def test_finish_delivery_writes_the_outcome_and_events(store, clock):
    from core.domain import ActivityEvent
    [acct] = seed(store, 1)
    d = add_post(store, "p", acct, NOW - timedelta(minutes=1))[0]
    [c] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    event = ActivityEvent(action="delivery.published", subject_type="delivery", subject_id=d.id, at=clock.now,
                          actor="runner:r1", workspace_id=WS)
    done = store.finish_delivery(c.mark_published(external_id="e1", external_url="https://x.test/e1", at=NOW),
                                 runner_id="r1", events=[event])
    assert (done.state, done.claimed_by, done.lease_expires_at, done.version) == (
        DeliveryState.PUBLISHED, None, None, c.version + 1)
    assert store.get_delivery(d.id) == done
    assert actions(store, d.id) == ["delivery.publishing", "delivery.published"]
    assert store.get_post_status("p") == PostStatus.PUBLISHED


def test_finishing_each_delivery_rewrites_the_post_status_from_all_of_them(store):
    a = seed(store, 3)
    add_post(store, "p", a, NOW - timedelta(minutes=1))
    first, second, third = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert store.get_post_status("p") == PostStatus.PUBLISHING
    publish(store, first, "r1")
    assert store.get_post_status("p") == PostStatus.PUBLISHING            # two still in flight
    store.finish_delivery(second.retry_later(at=NOW + timedelta(minutes=5), error="503"), runner_id="r1")
    assert store.get_post_status("p") == PostStatus.PUBLISHING            # one waiting, one in flight
    store.finish_delivery(third.mark_failed(error="rejected"), runner_id="r1")
    assert store.get_post_status("p") == PostStatus.PUBLISHING            # the retry is still to come
    [again] = store.claim_due(NOW + timedelta(minutes=5), runner_id="r1", lease_until=LEASE)
    publish(store, again, "r1")
    assert store.get_post_status("p") == PostStatus.PARTIALLY_PUBLISHED   # two out, one failed for good
    assert {d.state for d in store.get_deliveries("p")} == {DeliveryState.PUBLISHED, DeliveryState.FAILED}


def test_release_claims_gives_back_only_unsent_claims(store, clock):
    a, b, c, other = seed(store, 4)
    unsent = add_post(store, "pa", a, NOW - timedelta(minutes=1))[0]
    sent = add_post(store, "pb", b, NOW - timedelta(minutes=1))[0]
    theirs = add_post(store, "pc", c, NOW - timedelta(minutes=1))[0]
    add_post(store, "pd", other, NOW - timedelta(minutes=1))
    store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)
    store.claim_due(NOW, runner_id="r2", lease_until=LEASE, limit=1)
    [done] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=1)
    publish(store, done, "r1")
    assert store.save_progress(sent.id, "r1", "sent", NOW.isoformat())
    assert store.release_claims("r1") == 1
    u = store.get_delivery(unsent.id)
    assert (u.state, u.claimed_by, u.lease_expires_at, u.attempts, u.next_attempt_at) == (
        DeliveryState.QUEUED, None, None, 0, unsent.due_at)
    assert actions(store, unsent.id) == ["delivery.publishing", "delivery.released"]
    assert store.get_delivery(sent.id).state == DeliveryState.PUBLISHING        # mid-call: reconciled later
    assert store.get_delivery(sent.id).claimed_by == "r1"
    assert store.get_delivery(theirs.id).claimed_by == "r2"
    assert store.get_delivery(done.id).state == DeliveryState.PUBLISHED
    assert store.get_post_status("pa") == PostStatus.SCHEDULED
    assert store.release_claims("r1") == 0
    # what was given back is claimable again, as the first attempt
    [again] = store.claim_due(NOW, runner_id="r3", lease_until=LEASE)
    assert again.id == unsent.id and again.attempts == 1


# ---------------------------------------------------------------- pacing counts

def test_published_count(store):
    a, b = seed(store, 2)
    since = NOW - timedelta(minutes=10)
    add_post(store, "p_old", a, NOW - timedelta(hours=1))
    recent = add_post(store, "p_recent", a, NOW - timedelta(minutes=5))[0]
    add_post(store, "p_b", b, NOW - timedelta(minutes=5))
    [c] = store.claim_due(NOW - timedelta(hours=1), runner_id="r", lease_until=LEASE)
    publish(store, c, "r", at=NOW - timedelta(hours=1))
    for c in store.claim_due(NOW - timedelta(minutes=5), runner_id="r", lease_until=LEASE):   # a's and b's
        publish(store, c, "r", at=NOW - timedelta(minutes=5))
    assert store.get_delivery(recent.id).state == DeliveryState.PUBLISHED
    assert store.published_count(a.id, since) == 1
    assert store.published_count(a.id, NOW - timedelta(hours=2)) == 2
    assert store.published_count(a.id, NOW - timedelta(minutes=5)) == 1    # at `since` counts
    assert store.published_count(b.id, since) == 1
    add_post(store, "p_next", a, NOW)
    store.claim_due(NOW, runner_id="r", lease_until=LEASE)
    assert store.published_count(a.id, since) == 2                          # plus the one in flight


def test_published_count_includes_the_one_in_flight_however_late_it_is(store):
    """The publisher subtracts the in-flight delivery from this count, so it must always be in it."""
    [acct] = seed(store, 1)
    d = add_post(store, "p_late", acct, NOW - timedelta(days=5))[0]
    assert ids(store.claim_due(NOW, runner_id="r", lease_until=LEASE)) == [d.id]
    assert store.published_count(acct.id, NOW - timedelta(minutes=10)) == 1


def test_published_count_looks_back_the_same_in_every_store(store):
    """A delivery published now but due days earlier (a person pressed "publish anyway") falls outside
    the look-back every store applies (an index on (account_id, due_at) serves the SQL query)."""
    from core.store import PACING_LOOKBACK
    [acct] = seed(store, 1)
    since = NOW - timedelta(minutes=10)
    old = add_post(store, "p_old", acct, since - PACING_LOOKBACK - timedelta(minutes=1))[0]
    edge = add_post(store, "p_edge", acct, since - PACING_LOOKBACK + timedelta(minutes=1))[0]
    for d in (old, edge):
        [c] = store.claim_due(NOW, runner_id="r", lease_until=LEASE)
        publish(store, c, "r", at=NOW)
    assert {store.get_delivery(old.id).state, store.get_delivery(edge.id).state} == {DeliveryState.PUBLISHED}
    assert store.published_count(acct.id, since) == 1


# ---------------------------------------------------------------- heartbeats and insights

def test_heartbeats(store):
    a = Heartbeat(runner_id="host-a", host="a.local", pid=11, started_at=T0, beat_at=T0 + timedelta(seconds=5),
                  info={"in_flight": 2, "claim_id": "host-a:11:abc"})
    b = Heartbeat(runner_id="host-b", host="b.local", pid=22, started_at=T0, beat_at=T0 + timedelta(seconds=7))
    store.save_heartbeat(a)
    store.save_heartbeat(b)
    assert store.list_heartbeats() == [b, a]
    a2 = replace(a, beat_at=T0 + timedelta(seconds=10), info={"in_flight": 0})
    store.save_heartbeat(a2)
    assert store.list_heartbeats() == [a2, b]
    store.delete_heartbeat("host-a")
    store.delete_heartbeat("host-nobody")
    assert store.list_heartbeats() == [b]


def test_metric_snapshots_round_trip(store):
    [acct] = seed(store, 1)
    d = add_post(store, "p", acct, NOW - timedelta(minutes=1))[0]
    publish(store, store.claim_due(NOW, runner_id="r", lease_until=LEASE)[0], "r")
    assert ids(store.published_deliveries(NOW - timedelta(days=1))) == [d.id]
    assert store.published_deliveries(NOW + timedelta(seconds=1)) == []
    first = MetricSnapshot(delivery_id=d.id, post_id="p", account_id=acct.id, workspace_id=WS, platform="x",
                           external_id=f"ext-{d.id}", taken_at=NOW, metrics={"views": 10, "likes": 1},
                           raw={"impression_count": 10, "nested": {"a": [1, 2]}})
    second = replace(first, taken_at=NOW + timedelta(hours=1), metrics={"views": 25, "likes": 3}, raw={})
    same_instant = replace(second, metrics={"views": 26, "likes": 3})
    other = replace(first, delivery_id="dlv_other", workspace_id="ws_elsewhere")
    followers = AccountSnapshot(account_id=acct.id, workspace_id=WS, platform="x", taken_at=NOW, followers=100,
                                raw={"followers_count": 100})
    store.add_metric_snapshots([first, second], [followers])
    store.add_metric_snapshots([same_instant, other], [replace(followers, taken_at=NOW + timedelta(hours=1),
                                                               followers=None, raw={})])
    store.add_metric_snapshots()
    assert store.list_metric_snapshots(delivery_id=d.id) == [same_instant, second, first]
    assert store.list_metric_snapshots(workspace_id=WS, limit=2) == [same_instant, second]
    assert store.list_metric_snapshots(workspace_id="ws_elsewhere") == [other]
    assert len(store.list_metric_snapshots()) == 4
    got = store.list_account_snapshots(account_id=acct.id)
    assert [s.followers for s in got] == [None, 100]
    assert got[1] == followers
    assert store.list_account_snapshots(account_id=acct.id, limit=1)[0].taken_at == NOW + timedelta(hours=1)


# ---------------------------------------------------------------- races

def claimer_stores(store, kind: str, n: int, clock):
    """One store per claimer: separate engines (SQLite, like separate processes), separate connections (PG)."""
    if kind == "memory":
        return [store] * n, lambda: None
    if kind == "sqlite":
        path = Path(store.engine.url.database)
        engines = [sqlite_engine(path, migrate=False) for _ in range(n)]
        stores = [SqlPostStore(e, store._cipher, clock=clock) for e in engines]
        return stores, lambda: [e.dispose() for e in engines]
    # PostgreSQL: the pool hands each thread its own connection (its own session)
    return [store] * n, lambda: None


@pytest.mark.parametrize("claimers", [6])
def test_concurrent_claimers_claim_each_delivery_once_and_one_per_account(store, kind, clock, claimers):
    n_accounts, per_account = 60, 5
    accounts = seed(store, n_accounts)
    rng = random.Random(7)
    slots = [NOW - timedelta(seconds=s) for s in range(n_accounts * per_account)]
    rng.shuffle(slots)
    for i in range(n_accounts * per_account):
        add_post(store, f"p{i:03d}", accounts[i % n_accounts], slots[i])
    total = n_accounts * per_account
    stores, close = claimer_stores(store, kind, claimers, clock)
    guard = threading.Lock()
    in_flight: dict[str, str] = {}
    claims: Counter = Counter()
    violations: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()
    finished = [0]

    def work(k: int) -> None:
        me, s, r = f"runner-{k}", stores[k], random.Random(k)
        deadline = time.monotonic() + 45
        try:
            while not done.is_set() and time.monotonic() < deadline:
                got = s.claim_due(NOW, runner_id=me, lease_until=LEASE, limit=r.randint(1, 8))
                with guard:
                    for d in got:
                        claims[d.id] += 1
                        if d.account_id in in_flight:
                            violations.append(f"{d.id}: account {d.account_id} already in flight "
                                              f"with {in_flight[d.account_id]}")
                        in_flight[d.account_id] = d.id
                if not got:
                    time.sleep(0.001)
                for d in got:
                    if r.random() < 0.3:
                        assert s.save_progress(d.id, me, "sent", "now")
                    with guard:                           # leave the set before the outcome commits
                        in_flight.pop(d.account_id, None)
                    assert s.finish_delivery(d.mark_published(external_id=d.id, external_url=None, at=NOW),
                                             runner_id=me) is not None
                    with guard:
                        finished[0] += 1
                        if finished[0] == total:
                            done.set()
        except BaseException as exc:  # reported below
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(claimers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        close()
    assert not errors, errors
    assert not violations, violations[:5]
    assert finished[0] == total
    assert len(claims) == total and set(claims.values()) == {1}
    assert store.claim_due(NOW, runner_id="late", lease_until=LEASE) == []
    assert store.next_due_at() is None
    all_ids = [f"dlv_p{i:03d}_{accounts[i % n_accounts].id}" for i in range(total)]
    for delivery_id in all_ids[::25]:
        assert actions(store, delivery_id) == ["delivery.publishing"]      # finish was given no events
        assert store.get_delivery(delivery_id).attempts == 1


def test_concurrent_claim_due_and_claim_expired_never_double_claim(store, kind, clock):
    """Sweepers taking over expired leases race claimers: every delivery has one holder at a time."""
    accounts = seed(store, 20)
    for i, acct in enumerate(accounts):
        add_post(store, f"p{i:02d}", acct, NOW - timedelta(minutes=1))
    # half of them claimed by a dead runner with an expired lease
    store.claim_due(NOW, runner_id="dead", lease_until=NOW - timedelta(seconds=1), limit=10)
    stores, close = claimer_stores(store, kind, 6, clock)
    results: dict[str, list[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def work(k: int) -> None:
        s, me = stores[k], f"r{k}"
        barrier.wait()
        got = (s.claim_expired if k % 2 else s.claim_due)(NOW, runner_id=me, lease_until=LEASE, limit=20)
        with lock:
            results[me] = ids(got)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        close()
    every = [i for got in results.values() for i in got]
    assert len(every) == len(set(every)) == 20
    for runner, got in results.items():
        for delivery_id in got:
            assert store.get_delivery(delivery_id).claimed_by == runner


def test_release_claims_never_gives_back_a_delivery_a_worker_just_marked_sent(store, kind, clock):
    """Shutdown's release races a worker's last save_progress("sent"): one of them wins, never both."""
    [acct] = seed(store, 1)
    add_post(store, "p", acct, NOW - timedelta(minutes=1))
    workers, close = claimer_stores(store, kind, 1, clock)
    outcomes = Counter()
    try:
        for i in range(40):
            [d] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
            saved = []
            start = threading.Barrier(2)

            def worker():
                start.wait()
                saved.append(workers[0].save_progress(d.id, "r1", "sent", f"t{i}"))

            t = threading.Thread(target=worker)
            t.start()
            start.wait()
            released = store.release_claims("r1")
            t.join(10)
            now = store.get_delivery(d.id)
            if saved[0]:
                assert (released, now.state) == (0, DeliveryState.PUBLISHING), f"round {i}: sent, then released"
                outcomes["sent"] += 1
                store.finish_delivery(now.retry_later(at=NOW, error="503"), runner_id="r1")
            else:
                assert (released, now.state) == (1, DeliveryState.QUEUED), f"round {i}"
                outcomes["released"] += 1
    finally:
        close()


@pytest.mark.postgres
def test_postgres_claimers_skip_rows_whose_post_another_transaction_holds(store, kind):
    """finish_delivery and update_post lock the post first; claims must skip, not wait (or deadlock)."""
    if kind != "postgres":
        pytest.skip("row locks: PostgreSQL only")
    import sqlalchemy as sa
    from core.db.schema import posts
    a, b = seed(store, 2)
    stuck = add_post(store, "pa", a, NOW - timedelta(minutes=1))[0]
    add_post(store, "pb", b, NOW - timedelta(minutes=1))
    store.claim_due(NOW, runner_id="dead", lease_until=NOW - timedelta(seconds=1), limit=2)
    got: dict = {}
    with store.engine.connect() as other:
        tx = other.begin()
        other.execute(sa.select(posts.c.id).where(posts.c.id == "pa").with_for_update())

        def sweep():
            got["taken"] = store.claim_expired(NOW, runner_id="r2", lease_until=LEASE)

        t = threading.Thread(target=sweep)
        t.start()
        t.join(5)
        blocked = t.is_alive()
        tx.rollback()
        t.join(10)
    assert not blocked, "claim_expired waited for a post another transaction holds (deadlock-prone)"
    assert [d.account_id for d in got["taken"]] == [b.id]
    assert store.get_delivery(stuck.id).claimed_by == "dead"


# ---------------------------------------------------------------- connections

@pytest.mark.postgres
def test_postgres_a_connection_closed_while_idle_is_replaced_not_used(store, kind, monkeypatch):
    """No ping per checkout (a round trip per transaction), but one idle long enough is pinged first: the
    server may have closed it (a restart, an idle timeout), and the runner's next write must not fail on it."""
    if kind != "postgres":
        pytest.skip("server-side connections: PostgreSQL only")
    import sqlalchemy as sa
    from core.db import engine as engine_module
    [acct] = seed(store, 1)
    add_post(store, "p", acct, NOW - timedelta(minutes=1))
    engine = store.engine
    engine.dispose()
    with engine.connect() as conn:                   # the pool's only connection from now on
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as conn:                   # in use moments ago: handed out as is
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == pid
    admin = sa.create_engine(engine.url)
    try:
        with admin.connect() as other:
            assert other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    monkeypatch.setattr(engine_module, "PING_IDLE_S", 0.0)      # as if it had sat idle for a while
    [claimed] = store.claim_due(NOW, runner_id="r1", lease_until=LEASE)
    assert claimed.post_id == "p"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid

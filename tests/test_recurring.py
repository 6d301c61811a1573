"""Recurring series continue one occurrence at a time, DST-correct, without a catch-up burst."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.domain import Account, Delivery, Post, Schedule, Workspace
from core.domain.lifecycle import PostState
from core.services.recurring import continue_series, occurrence_id
from core.store import InMemoryPostStore

UTC = timezone.utc


def _published_series(store, *, at: datetime, tz: str, rule: str = "FREQ=DAILY") -> Post:
    ws = store.add_workspace(Workspace(name="Brand", timezone_name=tz))
    acct = store.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    post = Post(caption="Good morning", accounts=(acct,), schedule=Schedule(scheduled_at=at, timezone_name=tz),
                workspace_id=ws.id, state=PostState.APPROVED, recurrence=rule, id="series1", series_id="series1")
    d = Delivery(post_id=post.id, account_id=acct.id, platform="x", due_at=at)
    store.add_post(post, [d])
    claimed = d.start_publishing(runner_id="r", lease_until=at + timedelta(minutes=2))
    claimed = store.update_delivery(claimed, expected_version=1)
    store.update_delivery(claimed.mark_published(external_id="1", external_url=None, at=at), expected_version=2)
    return store.get_post(post.id)


def test_the_next_occurrence_keeps_the_local_time_across_spring_forward():
    # 09:00 in New York on Saturday 13 March 2027 is 14:00 UTC; clocks go forward that night.
    at = datetime(2027, 3, 13, 14, 0, tzinfo=UTC)
    store = InMemoryPostStore(clock=lambda: at + timedelta(minutes=1))
    post = _published_series(store, at=at, tz="America/New_York")
    nxt = continue_series(store, post, clock=lambda: at + timedelta(minutes=1))
    assert nxt.due_at == datetime(2027, 3, 14, 13, 0, tzinfo=UTC)          # still 09:00 local, now EDT
    assert nxt.id == occurrence_id("series1", nxt.due_at) and nxt.series_id == "series1"
    [d] = store.get_deliveries(nxt.id)
    assert d.due_at == nxt.due_at and d.state.value == "queued"


def test_continuing_twice_creates_one_occurrence():
    at = datetime(2027, 10, 30, 7, 0, tzinfo=UTC)                           # Berlin falls back on the 31st
    store = InMemoryPostStore()
    post = _published_series(store, at=at, tz="Europe/Berlin")
    first = continue_series(store, post, clock=lambda: at + timedelta(minutes=1))
    assert first.due_at == datetime(2027, 10, 31, 8, 0, tzinfo=UTC)         # 09:00 CET after 09:00 CEST
    assert continue_series(store, post, clock=lambda: at + timedelta(minutes=2)) is None
    assert len([p for p in store.list_posts() if p.series_id == "series1"]) == 2


def test_after_downtime_there_is_no_burst_only_the_next_occurrence():
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    store = InMemoryPostStore()
    post = _published_series(store, at=at, tz="UTC")
    week_later = at + timedelta(days=7, hours=3)                            # the runner was down a week
    nxt = continue_series(store, post, clock=lambda: week_later)
    assert nxt.due_at == datetime(2027, 1, 12, 9, 0, tzinfo=UTC)            # tomorrow 09:00, nothing in between
    assert len([p for p in store.list_posts() if p.series_id == "series1"]) == 2
    [event] = [e for e in store.list_events(subject_id=nxt.id) if e.action == "post.recurred"]
    assert event.details["skipped_count"] == 7 and "Skipped 7" in event.reason


def test_an_unsettled_or_ended_series_is_left_alone():
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    store = InMemoryPostStore()
    post = _published_series(store, at=at, tz="UTC", rule="FREQ=DAILY;COUNT=1")
    assert continue_series(store, post, clock=lambda: at + timedelta(minutes=1)) is None


def test_the_calendars_planned_repeats_are_the_dates_the_series_then_makes():
    # A weekly series across Berlin's fall-back: the calendar's planned dates are the posts continue_series makes.
    from core.services.calendar import planned_repeats
    at = datetime(2027, 10, 23, 7, 0, tzinfo=UTC)                            # Sat 09:00 CEST
    store = InMemoryPostStore()
    ws = store.add_workspace(Workspace(name="Brand", timezone_name="Europe/Berlin"))
    acct = store.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    post = Post(caption="Weekend", accounts=(acct,), schedule=Schedule(scheduled_at=at, timezone_name="Europe/Berlin"),
                workspace_id=ws.id, state=PostState.APPROVED, recurrence="FREQ=WEEKLY;COUNT=3", id="s", series_id="s")
    store.add_post(post, [Delivery(post_id="s", account_id=acct.id, platform="x", due_at=at)])
    window = dict(start=datetime(2027, 10, 18, tzinfo=UTC), end=datetime(2027, 11, 29, tzinfo=UTC), now=at)
    planned = [r.at for r in planned_repeats(store, ws.id, **window)]
    assert planned == [datetime(2027, 10, 30, 7, 0, tzinfo=UTC), datetime(2027, 11, 6, 8, 0, tzinfo=UTC)]   # CET
    [d] = store.get_deliveries("s")
    claimed = store.update_delivery(d.start_publishing(runner_id="r", lease_until=at + timedelta(minutes=2)),
                                    expected_version=1)
    store.update_delivery(claimed.mark_published(external_id="1", external_url=None, at=at), expected_version=2)
    nxt = continue_series(store, store.get_post("s"), clock=lambda: at + timedelta(minutes=1))
    assert nxt.due_at == planned[0]
    # the new occurrence is now the series' current post: one planned date left (COUNT=3), the made one a post
    assert [r.at for r in planned_repeats(store, ws.id, **window)] == planned[1:]


def test_an_overdue_series_is_drawn_with_the_dates_it_then_makes():
    # The runner was stopped four days: the post of Monday 09:00 still waits. The calendar's planned dates are the
    # ones the series makes once the runner is back and settles that post (too late: a person reviews it).
    from core.services.calendar import planned_repeats
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    now = at + timedelta(days=4, hours=3)                                   # Friday 12:00
    store = InMemoryPostStore(clock=lambda: now)
    ws = store.add_workspace(Workspace(name="Brand", timezone_name="UTC"))
    acct = store.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    post = Post(caption="Good morning", accounts=(acct,), schedule=Schedule(scheduled_at=at, timezone_name="UTC"),
                workspace_id=ws.id, state=PostState.APPROVED, recurrence="FREQ=DAILY", id="s", series_id="s")
    store.add_post(post, [Delivery(post_id="s", account_id=acct.id, platform="x", due_at=at)])
    week = dict(start=datetime(2027, 1, 4, tzinfo=UTC), end=datetime(2027, 1, 11, tzinfo=UTC), now=now)
    planned = [r.at for r in planned_repeats(store, ws.id, **week)]
    assert planned == [datetime(2027, 1, d, 9, 0, tzinfo=UTC) for d in (9, 10)]   # Saturday and Sunday
    [d] = store.get_deliveries("s")
    claimed = store.update_delivery(d.start_publishing(runner_id="r", lease_until=now + timedelta(minutes=2)),
                                    expected_version=1)
    store.update_delivery(claimed.needs_review(evidence="Due four days ago.", code="too_late"), expected_version=2)
    nxt = continue_series(store, store.get_post("s"), clock=lambda: now)
    assert nxt.due_at == planned[0]
    assert [r.at for r in planned_repeats(store, ws.id, **week)] == planned[1:]


def test_a_series_left_behind_for_days_goes_on_once_its_late_post_is_settled():
    # The runner was stopped four days; back, it finds Monday's post too late to publish (a person reviews it),
    # which does not run the publish hook: housekeeping continues the series, from now (no burst).
    from core.services.series import continue_settled_series
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    now = at + timedelta(days=4, hours=3)                                   # Friday 12:00
    store = InMemoryPostStore(clock=lambda: now)
    ws = store.add_workspace(Workspace(name="Brand", timezone_name="UTC"))
    acct = store.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    post = Post(caption="Good morning", accounts=(acct,), schedule=Schedule(scheduled_at=at, timezone_name="UTC"),
                workspace_id=ws.id, state=PostState.APPROVED, recurrence="FREQ=DAILY", id="s", series_id="s")
    store.add_post(post, [Delivery(post_id="s", account_id=acct.id, platform="x", due_at=at)])
    [d] = store.get_deliveries("s")
    claimed = store.update_delivery(d.start_publishing(runner_id="r", lease_until=now + timedelta(minutes=2)),
                                    expected_version=1)
    store.update_delivery(claimed.needs_review(evidence="Due four days ago.", code="too_late"), expected_version=2)
    assert continue_settled_series(store, clock=lambda: now) == 1
    [nxt] = [p for p in store.list_posts() if p.id != "s"]
    assert nxt.series_id == "s" and nxt.due_at == datetime(2027, 1, 9, 9, 0, tzinfo=UTC)     # Saturday's
    assert continue_settled_series(store, clock=lambda: now) == 1 and len(store.list_posts()) == 2   # once


def test_housekeeping_reads_every_settled_post_not_the_first_page_only():
    # More settled posts than one read of the store returns (500; many workspaces share a database): the series
    # among the last ones goes on too.
    from core.services import series
    last = 500
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    store = InMemoryPostStore()
    ws = store.add_workspace(Workspace(name="Brand", timezone_name="UTC"))
    acct = store.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    for n in range(last + 1):                            # one-off series that ended, then a daily one
        due = at + timedelta(minutes=n)
        store.add_post(Post(caption=f"Post {n}", accounts=(acct,), workspace_id=ws.id, state=PostState.APPROVED,
                            schedule=Schedule(scheduled_at=due, timezone_name="UTC"), id=f"s{n}", series_id=f"s{n}",
                            recurrence="FREQ=DAILY" if n == last else "FREQ=DAILY;COUNT=1"),
                       [Delivery(post_id=f"s{n}", account_id=acct.id, platform="x", due_at=due, id=f"d{n}")])
        claimed = store.update_delivery(store.get_delivery(f"d{n}").start_publishing(
            runner_id="r", lease_until=due + timedelta(minutes=2)), expected_version=1)
        store.update_delivery(claimed.mark_published(external_id=str(n), external_url=None, at=due),
                              expected_version=2)
    assert series.continue_settled_series(store, clock=lambda: at + timedelta(days=1)) == last + 1
    [nxt] = [p for p in store.list_posts(limit=1000) if p.series_id == f"s{last}" and p.id != f"s{last}"]
    assert nxt.due_at == at + timedelta(days=1, minutes=last)


def test_a_series_stopped_on_purpose_days_ago_stays_stopped():
    # Monday's post went out on time; its next one (Tuesday's) was cancelled to stop the series. On Friday
    # housekeeping looks back over the week (for posts settled late) and leaves this one alone.
    from core.services.scheduler import Scheduler
    from core.services.series import continue_settled_series
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    clock = [at]
    store = InMemoryPostStore(clock=lambda: clock[0])
    post = _published_series(store, at=at, tz="UTC")
    nxt = continue_series(store, post, clock=lambda: at + timedelta(minutes=1))
    Scheduler(store, clock=lambda: clock[0]).cancel(nxt.id)
    clock[0] = at + timedelta(days=4, hours=3)
    assert continue_settled_series(store, clock=lambda: clock[0]) == 0
    assert len(store.list_posts()) == 2

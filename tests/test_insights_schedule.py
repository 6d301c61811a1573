"""Metric history collection (issue 12): what is pulled when, within each platform's limits, missing stays missing.

Three layers, each with a controllable clock:
- the store's "what is due" (memory, SQLite, PostgreSQL): decided from the history itself;
- the schedule over a month of ticks (core.services.insights on the memory store, a recording adapter);
- (real HTTP to the emulator: YouTube's daily quota and Graph's per-user call limit pause one platform or one
  account until the reset while the others go on, and what was skipped is pulled next time; a metric the
  platform leaves out is stored missing. Those, and the normalisation table of every platform against the
  emulator's real answers, are in tests/test_insights_emulator.py.)
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from core.domain import Account, AccountStatus, Delivery, Post, Schedule, Workspace
from core.domain.catalog import Platform
from core.domain.errors import RetryLater
from core.domain.lifecycle import PostState
from core.platforms.base import AccountMetrics, PostMetrics
from core.services import insights
from core.services.insights import MetricSchedule, Pauses, PullResult
from core.store import AccountSnapshot, InMemoryPostStore, MetricSnapshot

UTC = timezone.utc
T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
WS = "ws_brand"
SCHEDULE = MetricSchedule()          # the defaults: hourly for 48 h, daily until 30 days, followers every 6 h


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def account(store, name: str, platform: Platform = Platform.X, **changes) -> Account:
    return store.save_account(Account(
        platform=platform, handle=f"@{name}", oauth_token=f"access-{name}", external_id=f"ext-{name}",
        workspace_id=WS, id=f"acct_{name}", **changes))


def published(store, acct: Account, pid: str, at: datetime, *, external_id: str | None = None,
              is_demo: bool = False) -> Delivery:
    """A post published on `acct` at `at` (its delivery)."""
    post = Post(caption=f"Post {pid}", accounts=(acct,), workspace_id=WS, id=pid,
                schedule=Schedule(scheduled_at=at), state=PostState.APPROVED, is_demo=is_demo)
    store.add_post(post, [Delivery(post_id=pid, account_id=acct.id, platform=acct.platform, due_at=at,
                                   id=f"dlv_{pid}")])
    [d] = store.get_deliveries(pid)
    d = store.update_delivery(d.start_publishing(runner_id="r", lease_until=at + timedelta(minutes=5)),
                              expected_version=d.version)
    return store.update_delivery(d.mark_published(external_id=external_id or f"x-{pid}", external_url=None, at=at),
                                 expected_version=d.version)


def snapshot(d: Delivery, at: datetime, **changes) -> MetricSnapshot:
    return MetricSnapshot(delivery_id=d.id, post_id=d.post_id, account_id=d.account_id, workspace_id=WS,
                          platform=d.platform.value, external_id=d.external_id, taken_at=at,
                          metrics={"likes": 1}, **changes)


def due(store, now: datetime) -> list[str]:
    return [d.id for d in store.deliveries_due_for_metrics(
        now, young_for=SCHEDULE.young_for, young_every=SCHEDULE.young_every, old_every=SCHEDULE.old_every,
        max_age=SCHEDULE.max_age)]


# ---------------------------------------------------------------- the store: what is due, from the history

def test_what_is_due_is_read_from_the_history(store):
    """memory, SQLite and PostgreSQL: each delivery's last snapshot decides; demo posts are never due."""
    store.add_workspace(Workspace(name="Brand", id=WS))
    a = account(store, "a")
    now = T0 + timedelta(days=40)
    fresh = published(store, a, "fresh", now - timedelta(minutes=30))               # never pulled: due first
    young_recent = published(store, a, "young_recent", now - timedelta(hours=5))    # pulled 20 min ago: not due
    young_stale = published(store, a, "young_stale", now - timedelta(hours=6))      # pulled 61 min ago: due
    old_recent = published(store, a, "old_recent", now - timedelta(days=3))         # pulled 5 h ago: not due
    old_stale = published(store, a, "old_stale", now - timedelta(days=4))           # pulled 25 h ago: due
    too_old = published(store, a, "too_old", now - timedelta(days=31))              # past 30 days: never
    demo = published(store, a, "demo", now - timedelta(hours=2), is_demo=True)      # demo data: never
    store.add_metric_snapshots([
        snapshot(young_recent, now - timedelta(minutes=20)), snapshot(young_stale, now - timedelta(minutes=61)),
        snapshot(young_stale, now - timedelta(minutes=121)), snapshot(old_recent, now - timedelta(hours=5)),
        snapshot(old_stale, now - timedelta(hours=25)), snapshot(too_old, now - timedelta(days=2)),
        snapshot(demo, now - timedelta(days=1), is_demo=True)])
    # Never pulled first (the earliest published first), then the oldest last snapshot first.
    assert due(store, now) == [fresh.id, old_stale.id, young_stale.id]
    assert demo.id not in due(store, now + timedelta(days=1))
    # The limit keeps the longest waiting; the rest stay due.
    assert [d.id for d in store.deliveries_due_for_metrics(
        now, young_for=SCHEDULE.young_for, young_every=SCHEDULE.young_every, old_every=SCHEDULE.old_every,
        max_age=SCHEDULE.max_age, limit=2)] == [fresh.id, old_stale.id]
    # What waits for its platform's reset is left out, so it never takes the others' places under the limit.
    yt = account(store, "yt", Platform.YOUTUBE)
    video = published(store, yt, "video", now - timedelta(hours=1))
    kw = dict(young_for=SCHEDULE.young_for, young_every=SCHEDULE.young_every, old_every=SCHEDULE.old_every,
              max_age=SCHEDULE.max_age)
    assert [d.id for d in store.deliveries_due_for_metrics(now, **kw)] == [video.id, fresh.id, old_stale.id,
                                                                          young_stale.id]
    assert [d.id for d in store.deliveries_due_for_metrics(now, skip_platforms={"youtube"}, **kw)] == \
        [fresh.id, old_stale.id, young_stale.id]
    assert [d.id for d in store.deliveries_due_for_metrics(now, skip_accounts={a.id}, **kw)] == [video.id]
    assert [d.id for d in store.deliveries_due_for_metrics(now, skip_deliveries={fresh.id, video.id}, **kw)] == \
        [old_stale.id, young_stale.id]


def test_followers_are_due_for_accounts_the_runner_acts_for(store):
    store.add_workspace(Workspace(name="Brand", id=WS))
    now = T0 + timedelta(days=1)
    never, recent, stale = account(store, "never"), account(store, "recent"), account(store, "stale")
    account(store, "gone", status=AccountStatus.RECONNECT_NEEDED)      # waits for a person: not pulled
    seeded = account(store, "seeded")

    def followers(acct, at, **changes):
        return AccountSnapshot(account_id=acct.id, workspace_id=WS, platform="x", taken_at=at, followers=10,
                               **changes)
    store.add_metric_snapshots((), [followers(recent, now - timedelta(hours=5)),
                                    followers(stale, now - timedelta(hours=7)),
                                    followers(seeded, now - timedelta(minutes=1), is_demo=True)])
    assert store.accounts_due_for_followers(now, every=timedelta(hours=6)) == [never.id, seeded.id, stale.id]
    assert store.accounts_due_for_followers(now, every=timedelta(hours=6), limit=1) == [never.id]


# ---------------------------------------------------------------- the schedule over a month

class Recorder:
    """An adapter that answers every id and records each call; `limited` accounts answer "too many calls"."""

    def __init__(self, clock, *, omit: tuple[str, ...] = ()):
        self.clock = clock
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.follower_calls: list[tuple[str, datetime]] = []
        self.limited: dict[str, datetime] = {}
        self.omit = omit

    def post_metrics(self, creds, ids):
        if creds.account_id in self.limited:
            raise RetryLater("Too many calls.", code="17", rate_limited=True, retry_at=self.limited[creds.account_id])
        self.calls.append((creds.account_id, tuple(ids)))
        values = {k: v for k, v in {"views": 100, "likes": 7, "clicks": 2}.items() if k not in self.omit}
        return {i: PostMetrics(i, values, raw={"omitted": list(self.omit)}) for i in ids}

    def account_metrics(self, creds):
        if creds.account_id in self.limited:
            raise RetryLater("Too many calls.", code="17", rate_limited=True, retry_at=self.limited[creds.account_id])
        self.follower_calls.append((creds.account_id, self.clock()))
        return AccountMetrics(followers=1000)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def memory(clock) -> InMemoryPostStore:
    store = InMemoryPostStore(clock=clock)
    store.add_workspace(Workspace(name="Brand", id=WS))
    return store


def run_ticks(store, adapter, clock, *, until: timedelta, tick: timedelta = timedelta(minutes=10),
              pauses: Pauses | None = None) -> None:
    end = clock.now + until
    while clock.now < end:
        insights.pull_insights(store, lambda p: adapter, clock=clock, schedule=SCHEDULE, pauses=pauses)
        clock.now += tick


def test_a_post_is_pulled_hourly_for_48_hours_then_daily_and_not_after_30_days(memory, clock):
    a = account(memory, "a")
    d = published(memory, a, "p1", T0)
    adapter = Recorder(clock)
    run_ticks(memory, adapter, clock, until=timedelta(days=32))            # a tick every 10 minutes for 32 days
    ages = sorted((s.taken_at - T0) / timedelta(hours=1) for s in memory.list_metric_snapshots(delivery_id=d.id))
    # Hourly while younger than 48 h: at 0, 1, ..., 47 h. At 48 h it is old: daily after its last pull (47 h),
    # from the first tick that is 23 h 58 min later (71 h), up to 30 days (720 h): 71, 95, ..., 719.
    assert ages == [float(h) for h in range(48)] + [71.0 + 24 * k for k in range(28)]
    assert len(adapter.calls) == 48 + 28                                   # one call per pull: nothing wasted


def test_followers_are_pulled_every_six_hours_posts_or_not(memory, clock):
    quiet, busy = account(memory, "quiet"), account(memory, "busy")
    published(memory, busy, "p1", T0)
    adapter = Recorder(clock)
    run_ticks(memory, adapter, clock, until=timedelta(days=2))
    for acct in (quiet, busy):
        taken = sorted(s.taken_at for s in memory.list_account_snapshots(account_id=acct.id))
        assert [(t - T0) / timedelta(hours=1) for t in taken] == [0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0]


def test_one_call_per_batch_the_platform_allows(memory, clock):
    """YouTube's videos.list takes 50 ids a call: 120 due videos are 3 calls (50, 50, 20); X takes 100."""
    yt, x = account(memory, "yt", Platform.YOUTUBE), account(memory, "x", Platform.X)
    for n in range(120):
        published(memory, yt, f"v{n:03d}", T0 - timedelta(minutes=n), external_id=f"vid{n:03d}")
        published(memory, x, f"t{n:03d}", T0 - timedelta(minutes=n), external_id=f"tw{n:03d}")
    adapter = Recorder(clock)
    report = PullResult()
    assert insights.pull_insights(memory, lambda p: adapter, clock=clock, schedule=SCHEDULE, report=report) == 240
    assert sorted((acct, len(ids)) for acct, ids in adapter.calls) == [
        ("acct_x", 20), ("acct_x", 100), ("acct_yt", 20), ("acct_yt", 50), ("acct_yt", 50)]
    assert (report.calls, report.snapshots, report.followers) == (5, 240, 2)


def test_a_limited_account_waits_for_its_reset_the_others_go_on_and_what_was_skipped_comes_next(memory, clock):
    a, b = account(memory, "a"), account(memory, "b")
    da, db = published(memory, a, "pa", T0), published(memory, b, "pb", T0)
    adapter = Recorder(clock)
    adapter.limited["acct_a"] = T0 + timedelta(minutes=25)                 # "too many calls" until 08:25
    pauses = Pauses()
    report = PullResult()
    insights.pull_insights(memory, lambda p: adapter, clock=clock, schedule=SCHEDULE, pauses=pauses, report=report)
    assert report.paused == {"account:acct_a": T0 + timedelta(minutes=25)} and report.snapshots == 1
    assert [s.delivery_id for s in memory.list_metric_snapshots()] == [db.id]
    assert [acct for acct, _ in adapter.calls] == ["acct_b"]
    assert memory.list_account_snapshots(account_id="acct_a") == []        # its followers wait too

    # 10 and 20 minutes later: still before its reset, so not even asked (the platform would only refuse again).
    del adapter.limited["acct_a"]
    for _ in range(2):
        clock.now += timedelta(minutes=10)
        insights.pull_insights(memory, lambda p: adapter, clock=clock, schedule=SCHEDULE, pauses=pauses)
    assert [acct for acct, _ in adapter.calls] == ["acct_b"]
    # After the reset what was skipped is still due and is pulled; b is not due again until its hour is up.
    clock.now += timedelta(minutes=10)
    insights.pull_insights(memory, lambda p: adapter, clock=clock, schedule=SCHEDULE, pauses=pauses)
    assert [acct for acct, _ in adapter.calls] == ["acct_b", "acct_a"]
    [snap] = memory.list_metric_snapshots(delivery_id=da.id)
    assert snap.taken_at == T0 + timedelta(minutes=30)
    assert len(memory.list_account_snapshots(account_id="acct_a")) == 1


def test_demo_posts_are_never_pulled(memory, clock):
    a = account(memory, "a")
    published(memory, a, "demo", T0 - timedelta(hours=3), is_demo=True)
    real = published(memory, a, "real", T0 - timedelta(hours=3))
    adapter = Recorder(clock)
    run_ticks(memory, adapter, clock, until=timedelta(hours=3))
    assert {ids for _, ids in adapter.calls} == {(real.external_id,)}
    assert memory.list_metric_snapshots(delivery_id="dlv_demo") == []


def test_a_metric_the_platform_leaves_out_is_stored_missing_not_zero(memory, clock):
    a = account(memory, "a")
    d = published(memory, a, "p", T0)
    insights.pull_insights(memory, lambda p: Recorder(clock, omit=("clicks",)), clock=clock, schedule=SCHEDULE)
    [snap] = memory.list_metric_snapshots(delivery_id=d.id)
    assert snap.metrics == {"views": 100, "likes": 7}                     # no "clicks": 0


def test_schedule_from_settings_and_its_refusals():
    from core.infra.settings import Settings
    s = Settings.from_env({"OUTPOST_METRICS_YOUNG_HOURS": "24", "OUTPOST_METRICS_YOUNG_EVERY_S": "1800",
                           "OUTPOST_METRICS_OLD_EVERY_S": "43200", "OUTPOST_METRICS_MAX_AGE_DAYS": "14",
                           "OUTPOST_FOLLOWERS_EVERY_S": "3600"})
    schedule = MetricSchedule.from_settings(s)
    assert (schedule.young_for, schedule.young_every, schedule.old_every, schedule.max_age,
            schedule.followers_every) == (timedelta(hours=24), timedelta(minutes=30), timedelta(hours=12),
                                          timedelta(days=14), timedelta(hours=1))
    from core.domain.errors import ConfigurationError
    with pytest.raises(ConfigurationError, match="OUTPOST_FOLLOWERS_EVERY_S must be more than 0"):
        Settings.from_env({"OUTPOST_FOLLOWERS_EVERY_S": "0"})
    from jobs.runner import _parser, config_from_args
    config = config_from_args(_parser().parse_args(["--metrics-young-every-s", "600", "--metrics-tick-s", "60"]),
                              Settings())
    assert config.metrics.young_every == timedelta(minutes=10) and config.metrics_tick_s == 60
    with pytest.raises(SystemExit, match="must be more than 0"):
        config_from_args(_parser().parse_args(["--metrics-old-every-s", "0"]), Settings())


def test_a_post_the_platform_gives_nothing_for_is_asked_again_at_its_time_not_every_tick(memory, clock):
    """No data yet, deleted, a story past 24 h: no snapshot to date it, so the pull itself remembers it asked."""
    a = account(memory, "a")
    gone = published(memory, a, "gone", T0, external_id="deleted-1")
    kept = published(memory, a, "kept", T0, external_id="here-1")

    class Forgetful(Recorder):
        def post_metrics(self, creds, ids):
            return {i: m for i, m in super().post_metrics(creds, ids).items() if i != "deleted-1"}

    adapter = Forgetful(clock)
    pauses = Pauses()
    run_ticks(memory, adapter, clock, until=timedelta(hours=3), pauses=pauses)     # 18 ticks of 10 minutes
    asked = [ids for _, ids in adapter.calls]
    assert asked == [("deleted-1", "here-1")] * 3                          # at 0, 1 and 2 h, with the other one
    assert memory.list_metric_snapshots(delivery_id=gone.id) == []          # nothing stored, not zeros
    assert len(memory.list_metric_snapshots(delivery_id=kept.id)) == 3


def test_a_paused_platform_never_takes_the_others_places(memory, clock):
    """With room for two deliveries a pull, YouTube's quota spent and three videos waiting, X's post is still read."""
    yt, x = account(memory, "yt", Platform.YOUTUBE), account(memory, "x", Platform.X)
    for n in range(3):
        published(memory, yt, f"v{n}", T0 - timedelta(hours=3 - n), external_id=f"vid{n}")
    tweet = published(memory, x, "t", T0, external_id="tw")
    pauses = Pauses()
    pauses.hold("platform:youtube", T0 + timedelta(hours=10))
    adapter = Recorder(clock)
    insights.pull_insights(memory, lambda p: adapter, clock=clock, schedule=replace(SCHEDULE, limit=2),
                           pauses=pauses)
    assert adapter.calls == [("acct_x", ("tw",))]
    assert len(memory.list_metric_snapshots(delivery_id=tweet.id)) == 1

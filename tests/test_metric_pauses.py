"""Metric pauses that outlive the runner (issue 12): a platform's "too many calls" or "quota used up" answer holds
back that account's (or, for YouTube's project quota and Graph's app limit, the whole platform's) metric pulls
until the reset, and a restarted runner or `jobs.runner --once` from cron remembers it instead of calling straight
into the limit again. Every store (memory, SQLite, PostgreSQL), a controllable clock, no sleeps.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import Account, Delivery, Post, Schedule, Workspace
from core.domain.catalog import Platform
from core.domain.errors import NaiveDatetimeError, RetryLater, ValidationError
from core.domain.lifecycle import PostState
from core.platforms.base import AccountMetrics, PostMetrics
from core.services import insights
from core.services.insights import MetricSchedule, Pauses, PullResult
from tests.store_contract.world import T0

WS = "ws_pauses"


# ---------------------------------------------------------------- the store

def test_a_pause_is_stored_and_a_later_one_wins(store, clock):
    until = T0 + timedelta(hours=1)
    first = store.pause_metrics("account:acct_a", until, "Instagram asked to wait.", now=T0)
    assert (first.scope, first.kind, first.name, first.until, first.set_at) == \
        ("account:acct_a", "account", "acct_a", until, T0)
    # An earlier end does not shorten it; a later one replaces it, with its reason.
    assert store.pause_metrics("account:acct_a", T0 + timedelta(minutes=5), "shorter", now=T0).until == until
    later = store.pause_metrics("account:acct_a", T0 + timedelta(hours=3), "Still limited.", now=T0)
    store.pause_metrics("platform:youtube", T0 + timedelta(hours=9), "YouTube's quota is used up.", now=T0)
    pauses = store.metric_pauses(T0 + timedelta(minutes=1))
    assert [(p.scope, p.until, p.reason) for p in pauses] == [
        ("account:acct_a", later.until, "Still limited."),
        ("platform:youtube", T0 + timedelta(hours=9), "YouTube's quota is used up.")]
    assert [p.scope for p in store.metric_pauses(T0, scopes=["platform:youtube", "account:other"])] == \
        ["platform:youtube"]
    assert store.metric_pauses(T0, scopes=[]) == []


def test_ended_pauses_are_ignored_then_deleted(store, clock):
    store.pause_metrics("account:acct_a", T0 + timedelta(hours=1), "limited", now=T0)
    store.pause_metrics("platform:instagram", T0 + timedelta(hours=2), "app limit", now=T0)
    later = T0 + timedelta(hours=1)
    assert [p.scope for p in store.metric_pauses(later)] == ["platform:instagram"]     # ended at exactly its time
    assert store.drop_expired_metric_pauses(later) == 1
    assert store.drop_expired_metric_pauses(later) == 0
    # A new pause deletes the ended ones on the way.
    store.pause_metrics("account:acct_b", T0 + timedelta(hours=5), "limited", now=T0 + timedelta(hours=3))
    assert [p.scope for p in store.metric_pauses(T0)] == ["account:acct_b"]
    # A person lifts one: it ends at once.
    assert store.lift_metric_pause("account:acct_b") is True
    assert store.lift_metric_pause("account:acct_b") is False
    assert store.metric_pauses(T0) == []


@pytest.mark.parametrize("scope", ["acct_a", "delivery:d1", "account:", "platform: ", "", "account:" + "x" * 200])
def test_a_pause_names_an_account_or_a_platform(store, clock, scope):
    with pytest.raises(ValidationError, match="account:<id>"):
        store.pause_metrics(scope, T0 + timedelta(hours=1), "limited", now=T0)
    assert store.metric_pauses(T0) == []


def test_a_pause_needs_a_time_with_its_zone(store, clock):
    with pytest.raises(NaiveDatetimeError):
        store.pause_metrics("account:a", (T0 + timedelta(hours=1)).replace(tzinfo=None), "limited", now=T0)
    assert store.metric_pauses(T0) == []


# ---------------------------------------------------------------- the runner's pulls, across a restart

class Platformish:
    """An adapter that answers every id and records each call; `limited` accounts answer with `error`."""

    def __init__(self):
        self.calls: list[str] = []
        self.limited: dict[str, RetryLater] = {}

    def post_metrics(self, creds, ids):
        self.calls.append(creds.account_id)
        if creds.account_id in self.limited:
            raise self.limited[creds.account_id]
        return {i: PostMetrics(i, {"likes": 3}) for i in ids}

    def account_metrics(self, creds):
        self.calls.append(creds.account_id)
        if creds.account_id in self.limited:
            raise self.limited[creds.account_id]
        return AccountMetrics(followers=10)


def _account(store, name: str, platform: Platform) -> Account:
    return store.save_account(Account(platform=platform, handle=f"@{name}", oauth_token=f"access-{name}",
                                      external_id=f"ext-{name}", workspace_id=WS, id=f"acct_{name}"))


def _published(store, acct: Account, pid: str) -> Delivery:
    post = Post(caption=f"Post {pid}", accounts=(acct,), workspace_id=WS, id=pid,
                schedule=Schedule(scheduled_at=T0), state=PostState.APPROVED)
    store.add_post(post, [Delivery(post_id=pid, account_id=acct.id, platform=acct.platform, due_at=T0,
                                   id=f"dlv_{pid}")])
    [d] = store.get_deliveries(pid)
    d = store.update_delivery(d.start_publishing(runner_id="r", lease_until=T0 + timedelta(minutes=5)),
                              expected_version=d.version)
    return store.update_delivery(d.mark_published(external_id=f"x-{pid}", external_url=None, at=T0),
                                 expected_version=d.version)


def _pull(store, adapter, clock, pauses: Pauses) -> PullResult:
    report = PullResult()
    insights.pull_insights(store, lambda p: adapter, clock=clock, schedule=MetricSchedule(), pauses=pauses,
                           report=report)
    return report


@pytest.fixture
def world(store, clock):
    store.add_workspace(Workspace(name="Brand", id=WS))
    ig, x = _account(store, "ig", Platform.INSTAGRAM), _account(store, "x", Platform.X)
    _published(store, ig, "ig1")
    _published(store, x, "x1")
    return store, ig, x


def test_a_restarted_runner_keeps_away_from_an_account_until_its_reset(world, clock):
    store, ig, x = world
    clock.now = T0 + timedelta(minutes=10)
    reset = clock.now + timedelta(minutes=40)
    adapter = Platformish()
    adapter.limited[ig.id] = RetryLater("Instagram says this account made too many calls.", code="17",
                                        rate_limited=True, retry_at=reset)
    report = _pull(store, adapter, clock, Pauses())
    assert report.paused == {f"account:{ig.id}": reset}
    [pause] = store.metric_pauses(clock.now)
    assert (pause.scope, pause.until) == (f"account:{ig.id}", reset)
    assert "@ig" in pause.reason and "too many calls" in pause.reason

    # The runner restarts (or cron runs --once): a fresh Pauses reads the store, and Instagram is not called.
    adapter.limited.clear()
    adapter.calls.clear()
    clock.now = reset - timedelta(minutes=15)                      # its post was never read: due, but paused
    _pull(store, adapter, clock, Pauses())
    assert ig.id not in adapter.calls

    # After the reset the next pull reads it, and the ended pause is gone from the store.
    clock.now = reset + timedelta(seconds=1)
    adapter.calls.clear()
    report = _pull(store, adapter, clock, Pauses())
    assert ig.id in adapter.calls and report.snapshots >= 1
    assert store.metric_pauses(T0) == []


def test_a_whole_platform_waits_after_a_restart_and_other_platforms_go_on(world, clock):
    store, ig, x = world
    yt1, yt2 = _account(store, "yt1", Platform.YOUTUBE), _account(store, "yt2", Platform.YOUTUBE)
    _published(store, yt1, "v1")
    _published(store, yt2, "v2")
    clock.now = T0 + timedelta(minutes=10)
    midnight_pacific = clock.now + timedelta(hours=8)
    adapter = Platformish()
    quota = RetryLater("The YouTube API project used up today's quota; it resets at midnight Pacific time.",
                       code="quotaExceeded", retry_at=midnight_pacific)
    adapter.limited.update({yt1.id: quota, yt2.id: quota})
    first = _pull(store, adapter, clock, Pauses())
    assert first.paused == {"platform:youtube": midnight_pacific}
    assert adapter.calls.count(yt1.id) + adapter.calls.count(yt2.id) == 1     # the second channel was not asked
    [pause] = store.metric_pauses(clock.now)
    assert pause.scope == "platform:youtube" and "every YouTube account" in pause.reason

    adapter.calls.clear()
    clock.now += timedelta(hours=2)
    _pull(store, adapter, clock, Pauses())                          # restarted: still no YouTube call
    assert set(adapter.calls) == {ig.id, x.id}


def test_a_pause_a_person_lifts_ends_for_the_running_runner_too(world, clock):
    store, ig, x = world
    clock.now = T0 + timedelta(minutes=10)
    adapter = Platformish()
    adapter.limited[x.id] = RetryLater("X: too many requests.", code="429", rate_limited=True,
                                       retry_at=clock.now + timedelta(hours=2))
    pauses = Pauses()                                               # one runner, kept between pulls
    _pull(store, adapter, clock, pauses)
    adapter.limited.clear()
    adapter.calls.clear()
    clock.now += timedelta(hours=1, minutes=1)
    _pull(store, adapter, clock, pauses)
    assert x.id not in adapter.calls
    assert store.lift_metric_pause(f"account:{x.id}")
    clock.now += timedelta(minutes=5)
    _pull(store, adapter, clock, pauses)
    assert x.id in adapter.calls


def test_a_store_that_cannot_keep_the_pause_still_leaves_the_account_alone_this_run(world, clock, monkeypatch):
    store, ig, x = world
    clock.now = T0 + timedelta(minutes=10)
    adapter = Platformish()
    adapter.limited[x.id] = RetryLater("X: too many requests.", code="429", rate_limited=True,
                                       retry_at=clock.now + timedelta(hours=2))

    def broken(*a, **kw):
        raise RuntimeError("database is locked")
    monkeypatch.setattr(store, "pause_metrics", broken)
    pauses = Pauses()
    _pull(store, adapter, clock, pauses)
    adapter.limited.clear()
    adapter.calls.clear()
    clock.now += timedelta(hours=1, minutes=1)
    _pull(store, adapter, clock, pauses)
    assert x.id not in adapter.calls and ig.id in adapter.calls


def test_pages_read_which_accounts_are_paused_and_why(world, clock):
    store, ig, x = world
    fb = _account(store, "fb", Platform.FACEBOOK)
    store.pause_metrics(f"account:{ig.id}", T0 + timedelta(hours=1), "Instagram: too many calls.", now=T0)
    store.pause_metrics("platform:instagram", T0 + timedelta(hours=3), "Graph: the app's limit.", now=T0)
    store.pause_metrics("platform:facebook", T0 + timedelta(minutes=30), "Graph: the app's limit.", now=T0)
    paused = insights.pauses_for_accounts(store, [ig, x, fb], T0 + timedelta(minutes=10))
    assert {k: (p.scope, p.reason) for k, p in paused.items()} == {
        ig.id: ("platform:instagram", "Graph: the app's limit."),      # the later of its own and its platform's
        fb.id: ("platform:facebook", "Graph: the app's limit.")}
    assert insights.pauses_for_accounts(store, [ig, x, fb], T0 + timedelta(hours=3)) == {}
    assert insights.pauses_for_accounts(store, [], T0) == {}


def test_the_runner_process_after_a_restart_does_not_call_into_the_limit(world, clock, tmp_path):
    """jobs.runner itself: the pull of one Runner pauses an account; a new Runner (a restart, or cron's --once) on
    the same database leaves it alone until the reset."""
    from jobs.runner import Runner, RunnerConfig
    from core.infra.settings import Settings
    store, ig, x = world
    clock.now = T0 + timedelta(minutes=10)
    reset = clock.now + timedelta(hours=1)
    adapter = Platformish()
    adapter.limited[ig.id] = RetryLater("Instagram: too many calls.", code="17", rate_limited=True, retry_at=reset)
    settings = Settings(data_dir=tmp_path, sandbox=True)

    def runner() -> Runner:
        return Runner(store, settings, RunnerConfig(name="test-runner"), adapter_for=lambda p: adapter, clock=clock)
    runner().pull_insights()
    adapter.limited.clear()
    adapter.calls.clear()
    clock.now = reset - timedelta(minutes=1)
    runner().pull_insights()
    assert ig.id not in adapter.calls
    clock.now = reset
    runner().pull_insights()
    assert ig.id in adapter.calls

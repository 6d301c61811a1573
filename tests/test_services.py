"""The runner's jobs as core services (core.services), called directly with no Runner, and the notifications they
send (core.services.notifications). A fake adapter and a recording notifier stand in for the platforms and the people."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from core.services import notifications
from core.domain import Account, AccountStatus, Delivery, Notification, OAuthState, Post, Schedule, User, Workspace
from core.domain.errors import PlatformError, ReconnectNeeded
from core.domain.lifecycle import DeliveryState, PostState
from core.platforms.base import AccountMetrics, PostMetrics, PublishResult, TokenSet
from core.domain.catalog import Platform
from core.services import generation, housekeeping, insights, reminders, series, tokens
from core.store import Heartbeat, InMemoryPostStore

UTC = timezone.utc
T0 = datetime(2030, 3, 4, 8, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A Notifier that keeps what it was given (the way email will be a second Notifier)."""

    def __init__(self):
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> Notification:
        self.sent.append(notification)
        return notification


class FakeAdapter:
    """What the jobs call. Per account id: `refuse` raises ReconnectNeeded, `flaky` a passing PlatformError,
    `broken` a bug (RuntimeError)."""

    refresh_ahead = timedelta(minutes=30)

    def __init__(self, clock, *, refuse=(), flaky=(), broken=()):
        self.clock = clock
        self.refuse, self.flaky, self.broken = set(refuse), set(flaky), set(broken)
        self.refreshed: list[str] = []
        self.metrics_for: list[str] = []
        self.found: dict[str, PublishResult] = {}

    def _trouble(self, creds):
        if creds.account_id in self.refuse:
            raise ReconnectNeeded(f"The platform revoked access for {creds.account_id}.", platform="x")
        if creds.account_id in self.flaky:
            raise PlatformError("The platform is having a bad minute.", platform="x", http_status=503)
        if creds.account_id in self.broken:
            raise RuntimeError(f"a bug while handling {creds.account_id}")

    def refresh_due(self, creds, now):
        return creds.expires_at is not None and creds.expires_at - now <= self.refresh_ahead

    def refresh(self, creds):
        self._trouble(creds)
        self.refreshed.append(creds.account_id)
        return TokenSet(access_token=f"renewed-{creds.account_id}", refresh_token=creds.refresh_token,
                        expires_at=self.clock() + timedelta(hours=2))

    def post_metrics(self, creds, external_ids):
        self._trouble(creds)
        self.metrics_for.append(creds.account_id)
        return {i: PostMetrics(external_id=i, values={"likes": 3}) for i in external_ids}

    def account_metrics(self, creds):
        return AccountMetrics(followers=42)

    def find_published(self, creds, request, *, since):
        return self.found.get(request.progress.get("publish_id", ""))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(clock) -> InMemoryPostStore:
    store = InMemoryPostStore(clock=clock)
    store.add_workspace(Workspace(name="Brand", id="ws_brand"))
    return store


def account(store, name: str, *, expires_in: timedelta = timedelta(minutes=10), platform=Platform.X) -> Account:
    return store.save_account(Account(
        platform=platform, handle=f"@{name}", oauth_token=f"access-{name}", refresh_token=f"refresh-{name}",
        token_expires_at=T0 + expires_in, external_id=f"ext-{name}", workspace_id="ws_brand", id=f"acct_{name}"))


def post(store, accounts, *, pid: str, at: datetime, state=PostState.APPROVED, caption="Spring sale starts today",
         **extra) -> Post:
    p = Post(caption=caption, accounts=tuple(accounts), workspace_id="ws_brand", id=pid,
             schedule=Schedule(scheduled_at=at), state=state, **extra)
    store.add_post(p, [Delivery(post_id=p.id, account_id=a.id, platform=a.platform, due_at=at,
                                id=f"dlv_{pid}_{a.id}") for a in accounts])
    return store.get_post(p.id)


def publish(store, d: Delivery, *, external_id: str, at: datetime, **changes) -> Delivery:
    d = store.update_delivery(d.start_publishing(runner_id="r", lease_until=at + timedelta(minutes=5)),
                              expected_version=d.version)
    return store.update_delivery(replace(d.mark_published(external_id=external_id, external_url=None, at=at),
                                         **changes), expected_version=d.version)


# ---------------------------------------------------------------- notifications: the texts people read

# Two accounts on LinkedIn: a notification about one delivery names which of them it went to.
_BRAND_LI = Account(platform=Platform.LINKEDIN, handle="Acme Inc", workspace_id="ws_brand", id="acct_a")
_CAREERS_LI = Account(platform=Platform.LINKEDIN, handle="Acme Careers", workspace_id="ws_brand", id="acct_b")


def _post() -> Post:
    return Post(caption="Spring   sale\nstarts today", accounts=(_CAREERS_LI, _BRAND_LI), workspace_id="ws_brand",
                id="post_1", schedule=Schedule(scheduled_at=T0))


def _delivery(state: DeliveryState, error: str, account_id: str = "acct_a") -> Delivery:
    return replace(Delivery(post_id="post_1", account_id=account_id, platform=Platform.LINKEDIN, due_at=T0),
                   state=state, last_error=error)


@pytest.mark.parametrize("note,kind,title,body,subject", [
    # a delivery failed for good: the platform's reason, which account (handle and platform), and which post
    (lambda: notifications.delivery_outcome(_post(), _delivery(DeliveryState.FAILED, "Duplicate content.")),
     "delivery_failed", "A post could not be published",
     "\u201cSpring sale starts today\u201d for Acme Inc on LinkedIn: Duplicate content.", "post_1"),
    # Outpost cannot tell whether it went out: a person decides (the other LinkedIn account of the post)
    (lambda: notifications.delivery_outcome(_post(), _delivery(DeliveryState.NEEDS_REVIEW, "No answer.", "acct_b")),
     "delivery_needs_review", "A post needs your review",
     "\u201cSpring sale starts today\u201d for Acme Careers on LinkedIn: No answer.", "post_1"),
    # any other settled state still says which post and why
    (lambda: notifications.delivery_outcome(_post(), _delivery(DeliveryState.QUEUED, "Waiting.")),
     "delivery_queued", "Publishing update", "\u201cSpring sale starts today\u201d for Acme Inc on LinkedIn: Waiting.",
     "post_1"),
    # an account no longer among the post's targets: the platform is still said
    (lambda: notifications.delivery_outcome(_post(), _delivery(DeliveryState.FAILED, "Gone.", "acct_removed")),
     "delivery_failed", "A post could not be published",
     "\u201cSpring sale starts today\u201d on LinkedIn: Gone.", "post_1"),
    # an account to reconnect: the reason, then what waits for it
    (lambda: notifications.reconnect_needed(Account(platform=Platform.X, handle="@brand", workspace_id="ws_brand",
                                                    id="acct_x"), "X revoked Outpost's access.", at=T0),
     "reconnect_needed", "Reconnect @brand on X",
     "X revoked Outpost's access. Posts for @brand on X wait until you connect it again from Accounts.", "acct_x"),
    # a post due soon that nobody approved
    (lambda: notifications.approval_reminder(_post()), "approval_needed", "A post is waiting for approval",
     "\u201cSpring sale starts today\u201d is due Mon 4 Mar 08:00 (UTC) and will not go out until someone approves it.",
     "post_1"),
])
def test_each_kind_of_notification_says_who_what_and_links_to_its_subject(note, kind, title, body, subject):
    n = note()
    assert (n.kind, n.title, n.body, n.subject_id) == (kind, title, body, subject)
    assert n.workspace_id == "ws_brand" and n.user_id is None          # everyone in the workspace who should know


def test_a_long_caption_is_cut_in_the_summary():
    p = replace(_post(), caption="word " * 30)
    assert notifications.summary(p) == "\u201c" + ("word " * 12)[:59] + "\u2026\u201d"
    assert notifications.summary(replace(p, title="Launch day")) == "\u201cLaunch day\u201d"


def test_the_in_app_notifier_writes_to_the_store(store):
    notifications.InAppNotifier(store).notify(notifications.approval_reminder(_post()))
    [n] = store.list_notifications(workspace_id="ws_brand")
    assert n.kind == "approval_needed" and n.subject_id == "post_1"


# ---------------------------------------------------------------- tokens

def test_refresh_tokens_refreshes_only_what_is_due(store, clock):
    account(store, "soon", expires_in=timedelta(minutes=10))
    account(store, "later", expires_in=timedelta(days=30))
    adapter = FakeAdapter(clock)
    assert tokens.refresh_tokens(store, lambda p: adapter, clock=clock, actor="script:test") == 1
    assert adapter.refreshed == ["acct_soon"]
    assert store.get_account("acct_soon").oauth_token == "renewed-acct_soon"
    assert store.get_account("acct_later").oauth_token == "access-later"
    [event] = [e for e in store.list_events(subject_id="acct_soon") if e.action == "account.token_refreshed"]
    assert event.actor == "script:test"


@pytest.mark.parametrize("trouble,status,told", [
    # the platform refuses the refresh: reconnect needed, people told once through the notifier
    ("refuse", AccountStatus.RECONNECT_NEEDED, 1),
    # a passing platform problem: still connected, nobody told, tried again next time
    ("flaky", AccountStatus.CONNECTED, 0),
    # a bug: logged, the account untouched (a bug is not a reconnect)
    ("broken", AccountStatus.CONNECTED, 0),
])
def test_one_accounts_refresh_trouble_never_stops_the_others(store, clock, trouble, status, told):
    for name in ("a", "b", "c"):
        account(store, name)
    adapter = FakeAdapter(clock, **{trouble: {"acct_b"}})
    notifier = Recorder()
    assert tokens.refresh_tokens(store, lambda p: adapter, clock=clock, notifier=notifier) == 2
    assert sorted(adapter.refreshed) == ["acct_a", "acct_c"]
    assert store.get_account("acct_b").status == status
    assert len(notifier.sent) == told
    assert store.list_notifications(workspace_id="ws_brand") == []       # delivered by the notifier given
    if told:
        assert notifier.sent[0].kind == "reconnect_needed" and notifier.sent[0].subject_id == "acct_b"
        assert notifier.sent[0].body.startswith("The platform revoked access for acct_b.")
        tokens.refresh_tokens(store, lambda p: adapter, clock=clock, notifier=notifier)
        assert len(notifier.sent) == 1                                   # told once, however often it runs


def test_refresh_tokens_stops_between_accounts_when_asked(store, clock):
    for name in ("a", "b"):
        account(store, name)
    adapter = FakeAdapter(clock)
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 1                                             # stop after the first account

    assert tokens.refresh_tokens(store, lambda p: adapter, clock=clock, should_stop=should_stop) == 1
    assert len(adapter.refreshed) == 1


# ---------------------------------------------------------------- insights

def test_pull_insights_snapshots_recent_posts_and_followers_per_account(store, clock):
    a, b, c = (account(store, n) for n in ("a", "b", "c"))
    p = post(store, [a, b, c], pid="post_1", at=T0 - timedelta(hours=2))
    for d in store.get_deliveries(p.id):
        publish(store, d, external_id=f"ext-post-{d.account_id}", at=T0 - timedelta(hours=1))
    old = post(store, [a], pid="post_old", at=T0 - timedelta(days=40))
    [d] = store.get_deliveries(old.id)
    publish(store, d, external_id="ext-old", at=T0 - timedelta(days=40))
    adapter = FakeAdapter(clock, flaky={"acct_b"})
    assert insights.pull_insights(store, lambda p: adapter, clock=clock, days=30) == 2
    assert sorted(adapter.metrics_for) == ["acct_a", "acct_c"]                # b skipped this hour, not the others
    [snap] = store.list_metric_snapshots(delivery_id="dlv_post_1_acct_a")
    assert snap.metrics == {"likes": 3} and snap.taken_at == T0 and snap.workspace_id == "ws_brand"
    assert store.list_metric_snapshots(delivery_id="dlv_post_old_acct_a") == []  # older than 30 days
    assert [s.followers for s in store.list_account_snapshots(account_id="acct_a")] == [42]
    assert store.list_account_snapshots(account_id="acct_b") == []


def test_resolve_pending_fills_in_the_public_id_once_the_platform_has_it(store, clock):
    a = account(store, "tt", platform=Platform.TIKTOK)
    p = post(store, [a], pid="post_tt", at=T0 - timedelta(hours=1))
    [d] = store.get_deliveries(p.id)
    d = publish(store, d, external_id="publish-7", at=T0 - timedelta(minutes=50),
                progress={"pending_id": "yes"})
    adapter = FakeAdapter(clock)
    [same] = insights.resolve_pending(store, adapter, a, [d])
    assert same.progress.get("pending_id") and same.external_id == "publish-7"   # not there yet: unchanged
    adapter.found["publish-7"] = PublishResult(external_id="7301", url="https://www.tiktok.com/@tt/video/7301")
    [found] = insights.resolve_pending(store, adapter, a, [d])
    assert found.external_id == "7301" and not found.progress.get("pending_id")
    assert store.get_deliveries(p.id)[0].external_url == "https://www.tiktok.com/@tt/video/7301"


# ---------------------------------------------------------------- reminders

def test_approval_reminders_tell_once_about_posts_due_within_a_day(store, clock):
    a = account(store, "a")
    post(store, [a], pid="post_soon", at=T0 + timedelta(hours=3), state=PostState.PENDING_APPROVAL)
    post(store, [a], pid="post_far", at=T0 + timedelta(days=2), state=PostState.PENDING_APPROVAL)
    post(store, [a], pid="post_approved", at=T0 + timedelta(hours=3))
    notifier = Recorder()
    assert reminders.approval_reminders(store, clock=clock, notifier=notifier) == 1
    assert [(n.kind, n.subject_id) for n in notifier.sent] == [("approval_needed", "post_soon")]
    # Told once: the in-app notifier stored it, and the next run finds it.
    assert reminders.approval_reminders(store, clock=clock) == 1
    assert reminders.approval_reminders(store, clock=clock) == 0
    assert len(store.list_notifications(workspace_id="ws_brand")) == 1


def test_approval_reminders_go_on_after_one_fails(store, clock):
    a = account(store, "a")
    for n in (1, 2):
        post(store, [a], pid=f"post_{n}", at=T0 + timedelta(hours=n), state=PostState.PENDING_APPROVAL)

    class Hiccup(Recorder):
        def notify(self, notification):
            if not self.sent:
                self.sent.append(None)
                raise RuntimeError("the mail server hiccuped")
            return super().notify(notification)

    notifier = Hiccup()
    assert reminders.approval_reminders(store, clock=clock, notifier=notifier) == 1
    assert len(notifier.sent) == 2


# ---------------------------------------------------------------- housekeeping and series

def test_housekeeping_purges_old_connect_attempts_and_heartbeats_of_runners_long_gone(store, clock):
    old = T0 - timedelta(days=2)
    store.add_user(User(email="owner@example.com", id="u"))
    store.add_oauth_state(OAuthState(state_hash="old", user_id="u", workspace_id="ws_brand", platform=Platform.X,
                                     expires_at=old))
    store.add_oauth_state(OAuthState(state_hash="fresh", user_id="u", workspace_id="ws_brand", platform=Platform.X,
                                     expires_at=T0 + timedelta(minutes=5)))
    for runner_id, beat_at in (("killed:1:a", old), ("me:2:b", old), ("recent:3:c", T0 - timedelta(minutes=5))):
        store.save_heartbeat(Heartbeat(runner_id=runner_id, host="h", pid=1, started_at=old, beat_at=beat_at))
    housekeeping.housekeeping(store, clock=clock, keep_runner_id="me:2:b")
    assert {b.runner_id for b in store.list_heartbeats()} == {"me:2:b", "recent:3:c"}
    assert store.consume_oauth_state("old", T0 - timedelta(days=3)) is None
    assert store.consume_oauth_state("fresh", T0) is not None


def test_housekeeping_forgets_dashboard_sessions_that_ended_over_a_week_ago(store, clock):
    from core.store.people import Session
    store.add_user(User(email="owner@example.com", id="u"))
    def session(mark: str, **kw) -> Session:
        values = dict(id_hash=mark * 64, user_id="u", created_at=T0 - timedelta(days=20),
                      last_seen_at=T0 - timedelta(days=10), expires_at=T0 + timedelta(days=10))
        return store.add_session(Session(**{**values, **kw}))
    session("a")                                                   # still signed in
    session("b", revoked_at=T0 - timedelta(days=8))                # signed out 8 days ago
    session("c", expires_at=T0 - timedelta(days=9))                # ran out 9 days ago
    session("d", revoked_at=T0 - timedelta(days=2))                # signed out 2 days ago: kept a little longer
    housekeeping.housekeeping(store, clock=clock)
    assert [m for m in "abcd" if store.get_session(m * 64)] == ["a", "d"]


def test_a_settled_series_gets_its_next_occurrence(store, clock):
    a = account(store, "a")
    p = post(store, [a], pid="post_weekly", at=T0 - timedelta(hours=3), recurrence="FREQ=WEEKLY",
             series_id="post_weekly")
    [d] = store.get_deliveries(p.id)
    publish(store, d, external_id="e1", at=T0 - timedelta(hours=2))
    assert series.after_publish(store, store.get_post("post_weekly"), clock=clock) is not None
    assert series.after_publish(store, store.get_post("post_weekly"), clock=clock) is None   # once
    due = sorted(x.due_at for x in store.list_posts(workspace_id="ws_brand") if x.series_id == "post_weekly")
    assert due == [T0 - timedelta(hours=3), T0 - timedelta(hours=3) + timedelta(weeks=1)]
    one_off = post(store, [a], pid="post_once", at=T0 - timedelta(hours=3))
    assert series.after_publish(store, one_off, clock=clock) is None


def test_housekeeping_continues_a_series_left_behind(store, clock):
    a = account(store, "a")
    p = post(store, [a], pid="post_weekly", at=T0 - timedelta(hours=3), recurrence="FREQ=WEEKLY",
             series_id="post_weekly")
    [d] = store.get_deliveries(p.id)
    publish(store, d, external_id="e1", at=T0 - timedelta(hours=2))      # settled while no runner continued it
    housekeeping.housekeeping(store, clock=clock)
    assert len([x for x in store.list_posts(workspace_id="ws_brand") if x.series_id == "post_weekly"]) == 2


# ---------------------------------------------------------------- generation

def test_the_generation_hook_runs_the_generator_when_there_is_one():
    calls = []
    assert generation.generate_batches(None) is None
    assert generation.generate_batches(lambda: calls.append(1) or "2 batches") == "2 batches"
    assert calls == [1]

    def broken():
        raise RuntimeError("the model is down")

    with pytest.raises(RuntimeError):                 # the runner's guard logs and counts it
        generation.generate_batches(broken)

"""An account whose stored tokens cannot be decrypted (a lost or rotated key, a damaged row) never takes the others
down: it loads without its tokens, is marked "reconnect needed" once with a plain reason, and every runner job
that walks accounts goes on with the rest. Runs on the memory store, SQLite and (when
OUTPOST_TEST_POSTGRES_URL is set) PostgreSQL, through the store fixtures of tests/conftest.py."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.services.connect import (UNREADABLE_REASON, StoredAccessUnreadable, account_health, credentials,
                          mark_reconnect_needed, save_connected_account)
from core.db.schema import accounts as accounts_table
from core.db.sql_store import SqlPostStore
from core.db.testing import sqlite_engine
from core.domain import Account, AccountStatus, Delivery, Post, Schedule, Workspace
from core.domain.errors import ReconnectNeeded
from core.domain.lifecycle import DeliveryState, PostState
from core.platforms.base import AccountMetrics, PostMetrics, Profile, TokenSet
from core.domain.catalog import Platform
from core.infra.secrets import TokenCipher
from core.infra.settings import Settings
from jobs.runner import Runner, RunnerConfig

UTC = timezone.utc
T0 = datetime(2030, 3, 4, 8, 0, 0, tzinfo=UTC)
# Token material that must never show up in a reason, a notification, an event, a page or a log line.
TOKENS = {name: (f"access-{name}-5ecret-0123456789abcdef", f"refresh-{name}-5ecret-fedcba9876543210")
          for name in ("a", "broken", "c")}


class World:
    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self.ws = store.add_workspace(Workspace(name="Brand", id="ws_brand"))
        self.accounts = {}
        for name, platform in (("a", Platform.X), ("broken", Platform.LINKEDIN), ("c", Platform.MASTODON)):
            access, refresh = TOKENS[name]
            self.accounts[name] = store.save_account(Account(
                platform=platform, handle=f"@{name}", oauth_token=access, refresh_token=refresh,
                token_expires_at=T0 + timedelta(minutes=10), external_id=f"ext-{name}", workspace_id=self.ws.id,
                id=f"acct_{name}", secrets={"page_token": f"page-{name}-5ecret-token"}))
        self.broken = self.accounts["broken"]

    def publish_one_each(self) -> Post:
        """A post published on every account (for insights)."""
        accts = tuple(self.accounts.values())
        post = Post(caption="Spring sale starts today", accounts=accts, workspace_id=self.ws.id, id="post_1",
                    schedule=Schedule(scheduled_at=T0 - timedelta(hours=2)), state=PostState.APPROVED)
        ds = [Delivery(post_id=post.id, account_id=a.id, platform=a.platform, due_at=post.due_at,
                       id=f"dlv_{a.id}") for a in accts]
        self.store.add_post(post, ds)
        for d in self.store.get_deliveries(post.id):
            d = self.store.update_delivery(d.start_publishing(runner_id="r", lease_until=T0 + timedelta(minutes=5)),
                                           expected_version=d.version)
            self.store.update_delivery(d.mark_published(external_id=f"ext-post-{d.account_id}", external_url=None,
                                                        at=T0 - timedelta(hours=1)), expected_version=d.version)
        return post

    def damage(self, account_id: str) -> None:
        """Make one account's stored token undecryptable, the way each store can be damaged."""
        store = self.store
        if isinstance(store, SqlPostStore):
            with store.engine.begin() as conn:
                blob = conn.execute(sa.select(accounts_table.c.oauth_token_enc)
                                    .where(accounts_table.c.id == account_id)).scalar()
                flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]   # fails its integrity check
                conn.execute(accounts_table.update().where(accounts_table.c.id == account_id)
                             .values(oauth_token_enc=flipped))
        else:
            # The memory store keeps accounts as objects: store one as a SQL store loads a damaged row.
            store.save_account(store.get_account(account_id).with_unreadable_secrets("damaged in the test"))

    def reconnect_notes(self, account_id: str):
        return [n for n in self.store.list_notifications(workspace_id=self.ws.id)
                if n.kind == "reconnect_needed" and n.subject_id == account_id]


@pytest.fixture
def world(store, clock) -> World:
    return World(store, clock)


class FakeAdapter:
    """Just what the runner's jobs call; records which accounts it acted for."""

    refresh_ahead = timedelta(minutes=30)

    def __init__(self, clock, fail_for: set[str] = frozenset()):
        self.clock = clock
        self.fail_for = set(fail_for)
        self.refreshed: list[str] = []
        self.metrics_for: list[str] = []

    def _maybe_fail(self, creds):
        if creds.account_id in self.fail_for:
            raise RuntimeError(f"a bug while handling {creds.account_id}")

    def refresh_due(self, creds, now):
        return creds.expires_at is not None and creds.expires_at - now <= self.refresh_ahead

    def refresh(self, creds):
        self._maybe_fail(creds)
        assert creds.access_token and creds.refresh_token
        self.refreshed.append(creds.account_id)
        return TokenSet(access_token=f"renewed-{creds.account_id}", refresh_token=creds.refresh_token,
                        expires_at=self.clock() + timedelta(hours=2))

    def post_metrics(self, creds, external_ids):
        self._maybe_fail(creds)
        self.metrics_for.append(creds.account_id)
        return {i: PostMetrics(external_id=i, values={"likes": 3}) for i in external_ids}

    def account_metrics(self, creds):
        return AccountMetrics(followers=42)


def make_runner(store, clock, tmp_path, adapter) -> Runner:
    return Runner(store, Settings(data_dir=tmp_path), RunnerConfig(name="test", concurrency=1),
                  adapter_for=lambda platform: adapter, clock=clock)


def assert_no_token_material(*texts: str) -> None:
    for text in texts:
        for access, refresh in TOKENS.values():
            assert access not in (text or "") and refresh not in (text or "")
        assert "5ecret" not in (text or "")


# ---------------------------------------------------------------- reading

def test_one_unreadable_account_does_not_stop_the_others_from_loading(world):
    world.damage(world.broken.id)
    listed = {a.id: a for a in world.store.list_accounts()}
    assert set(listed) == {"acct_a", "acct_broken", "acct_c"}
    broken = listed["acct_broken"]
    assert broken.secrets_unreadable
    assert broken.oauth_token is None and broken.refresh_token is None and broken.secrets == {}
    assert_no_token_material(broken.secrets_unreadable, repr(broken))
    for name in ("a", "c"):
        assert listed[f"acct_{name}"].secrets_unreadable is None
        assert listed[f"acct_{name}"].oauth_token == TOKENS[name][0]
    assert world.store.get_account(world.broken.id).secrets_unreadable
    assert world.store.find_account(world.ws.id, "linkedin", "ext-broken").id == world.broken.id
    assert len(world.store.list_accounts(workspace_id=world.ws.id)) == 3


def test_credentials_refuse_an_unreadable_account_with_a_reconnect(world):
    world.damage(world.broken.id)
    broken = world.store.get_account(world.broken.id)
    with pytest.raises(StoredAccessUnreadable) as err:
        credentials(broken)
    assert isinstance(err.value, ReconnectNeeded)
    assert str(err.value) == UNREADABLE_REASON and err.value.account_id == broken.id
    health = account_health(broken, T0)
    assert health.status == AccountStatus.RECONNECT_NEEDED and health.message == UNREADABLE_REASON


def test_posts_still_load_with_an_unreadable_account_among_their_targets(world):
    post = world.publish_one_each()
    world.damage(world.broken.id)
    loaded = world.store.get_post(post.id)
    assert {a.id for a in loaded.accounts} == {"acct_a", "acct_broken", "acct_c"}
    assert [a.secrets_unreadable is not None for a in loaded.accounts if a.id == world.broken.id] == [True]


# ---------------------------------------------------------------- marking

def test_mark_reconnect_needed_tells_people_once(world, clock):
    account = world.accounts["a"]
    reason = "X refused the refresh token (invalid_grant); connect the account again"
    marked = mark_reconnect_needed(world.store, account, reason, actor="runner:r1", clock=clock)
    assert marked.status == AccountStatus.RECONNECT_NEEDED
    again = mark_reconnect_needed(world.store, account, "something else", actor="runner:r2", clock=clock)
    assert again.status == AccountStatus.RECONNECT_NEEDED
    [note] = world.reconnect_notes(account.id)
    assert note.title == "Reconnect @a on X" and reason in note.body and "Accounts" in note.body
    [event] = [e for e in world.store.list_events(subject_id=account.id) if e.action == "account.reconnect_needed"]
    assert event.reason == reason + "." and event.actor == "runner:r1"
    assert event.from_state == "connected" and event.to_state == "reconnect_needed"
    stored = world.store.get_account(account.id)
    assert account_health(stored, T0).message == f"Reconnect needed: {reason}."
    assert "reconnect_reason" not in credentials(stored).meta   # the reason is for people, not adapters
    assert stored.oauth_token == TOKENS["a"][0]                 # marking never loses the tokens


def test_a_reason_holding_a_token_is_redacted(world, clock):
    account = world.accounts["a"]
    mark_reconnect_needed(world.store, account, f"refused {TOKENS['a'][0]} and access_token=abc123def456 too",
                          clock=clock)
    [note] = world.reconnect_notes(account.id)
    [event] = [e for e in world.store.list_events(subject_id=account.id) if e.action == "account.reconnect_needed"]
    health = account_health(world.store.get_account(account.id), T0).message
    assert_no_token_material(note.body, event.reason, health)
    assert "abc123def456" not in note.body + event.reason + health


def test_reconnecting_an_unreadable_account_stores_new_tokens(world, clock):
    world.damage(world.broken.id)
    mark_reconnect_needed(world.store, world.store.get_account(world.broken.id), UNREADABLE_REASON, clock=clock)
    account = save_connected_account(
        world.store, user_id="user_1", workspace_id=world.ws.id, platform=Platform.LINKEDIN,
        token=TokenSet(access_token="fresh-access", refresh_token="fresh-refresh"),
        profile=Profile(external_id="ext-broken", handle="@broken"), now=clock())
    assert account.id == world.broken.id
    stored = world.store.get_account(world.broken.id)
    assert stored.secrets_unreadable is None and stored.status == AccountStatus.CONNECTED
    assert stored.oauth_token == "fresh-access" and stored.refresh_token == "fresh-refresh"
    assert "reconnect_reason" not in stored.meta
    assert account_health(stored, T0).status == AccountStatus.CONNECTED


def test_saving_an_unreadable_account_keeps_its_stored_tokens_for_when_the_key_comes_back(tmp_path, clock):
    engine = sqlite_engine(tmp_path / "keys.sqlite")
    try:
        old = TokenCipher.generate("old")
        world = World(SqlPostStore(engine, old, clock=clock), clock)
        # The key file was replaced: only a new key is configured.
        lost = SqlPostStore(engine, TokenCipher.generate("new"), clock=clock)
        listed = lost.list_accounts()
        assert len(listed) == 3 and all(a.secrets_unreadable for a in listed)
        assert "'old'" in listed[0].secrets_unreadable       # the operator learns which key is missing
        mark_reconnect_needed(lost, listed[0], UNREADABLE_REASON, clock=clock)
        # The key is restored: the tokens are all still there.
        back = {a.id: a for a in SqlPostStore(engine, old, clock=clock).list_accounts()}
        assert {a.oauth_token for a in back.values()} == {access for access, _ in TOKENS.values()}
        assert back[listed[0].id].status == AccountStatus.RECONNECT_NEEDED
        assert world.broken.id in back
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the runner's jobs

def test_refresh_tokens_refreshes_the_others_and_marks_the_unreadable_one_once(world, clock, tmp_path, caplog):
    world.damage(world.broken.id)
    adapter = FakeAdapter(clock)
    runner = make_runner(world.store, clock, tmp_path, adapter)
    with caplog.at_level(logging.INFO):
        assert runner.refresh_tokens() == 2
    assert sorted(adapter.refreshed) == ["acct_a", "acct_c"]
    for name in ("a", "c"):
        assert world.store.get_account(f"acct_{name}").oauth_token == f"renewed-acct_{name}"
    broken = world.store.get_account(world.broken.id)
    assert broken.status == AccountStatus.RECONNECT_NEEDED
    [note] = world.reconnect_notes(broken.id)
    assert note.body.startswith(UNREADABLE_REASON)
    [event] = [e for e in world.store.list_events(subject_id=broken.id) if e.action == "account.reconnect_needed"]
    assert event.reason == UNREADABLE_REASON and event.actor == f"runner:{runner.claim_id}"
    assert account_health(broken, T0).message == UNREADABLE_REASON
    assert any(broken.id in r.getMessage() for r in caplog.records)

    clock.now += timedelta(minutes=10)
    runner.refresh_tokens()                              # and again: still told once
    assert len(world.reconnect_notes(broken.id)) == 1
    assert len([e for e in world.store.list_events(subject_id=broken.id)
                if e.action == "account.reconnect_needed"]) == 1
    assert_no_token_material(note.title, note.body, event.reason, caplog.text,
                             *(e.reason or "" for e in world.store.list_events(subject_id=broken.id)))


def test_refresh_tokens_goes_on_after_an_unexpected_error(world, clock, tmp_path, caplog):
    adapter = FakeAdapter(clock, fail_for={"acct_a"})
    runner = make_runner(world.store, clock, tmp_path, adapter)
    with caplog.at_level(logging.ERROR, logger="outpost.runner"):
        assert runner.refresh_tokens() == 2
    assert sorted(adapter.refreshed) == ["acct_broken", "acct_c"]
    assert world.store.get_account("acct_a").status == AccountStatus.CONNECTED   # a bug is not a reconnect
    assert world.reconnect_notes("acct_a") == []
    [record] = [r for r in caplog.records if "acct_a" in r.getMessage()]
    assert record.exc_info is not None


def test_pull_insights_pulls_the_others(world, clock, tmp_path):
    world.publish_one_each()
    world.damage(world.broken.id)
    adapter = FakeAdapter(clock)
    runner = make_runner(world.store, clock, tmp_path, adapter)
    assert runner.pull_insights() == 2
    assert sorted(adapter.metrics_for) == ["acct_a", "acct_c"]
    for name in ("a", "c"):
        assert len(world.store.list_account_snapshots(account_id=f"acct_{name}")) == 1
    assert world.store.list_account_snapshots(account_id=world.broken.id) == []


def test_pull_insights_goes_on_after_an_unexpected_error(world, clock, tmp_path):
    world.publish_one_each()
    adapter = FakeAdapter(clock, fail_for={"acct_a"})
    runner = make_runner(world.store, clock, tmp_path, adapter)
    assert runner.pull_insights() == 2
    assert sorted(adapter.metrics_for) == ["acct_broken", "acct_c"]


def test_housekeeping_continues_every_other_series_when_one_fails(world, clock, tmp_path, monkeypatch):
    import core.services.series as series_module
    for n in (1, 2):
        post = Post(caption=f"Weekly tip {n}", accounts=(world.accounts["a"],), workspace_id=world.ws.id,
                    id=f"post_series_{n}", schedule=Schedule(scheduled_at=T0 - timedelta(hours=3)),
                    state=PostState.APPROVED, recurrence="FREQ=WEEKLY", series_id=f"post_series_{n}")
        world.store.add_post(post, [Delivery(post_id=post.id, account_id="acct_a", platform=Platform.X,
                                             due_at=post.due_at, id=f"dlv_series_{n}")])
        [d] = world.store.get_deliveries(post.id)
        d = world.store.update_delivery(d.start_publishing(runner_id="r", lease_until=T0), expected_version=d.version)
        world.store.update_delivery(d.mark_published(external_id=f"e{n}", external_url=None,
                                                     at=T0 - timedelta(hours=2)), expected_version=d.version)
    seen = []

    def continue_series(store, post, **kwargs):
        seen.append(post.id)
        if len(seen) == 1:
            raise RuntimeError("a damaged series")

    monkeypatch.setattr(series_module, "continue_series", continue_series)
    make_runner(world.store, clock, tmp_path, FakeAdapter(clock)).housekeeping()
    assert sorted(seen) == ["post_series_1", "post_series_2"]


def test_approval_reminders_go_on_after_one_fails(world, clock, tmp_path, monkeypatch):
    for n in (1, 2):
        post = Post(caption=f"Needs a yes {n}", accounts=(world.accounts["a"],), workspace_id=world.ws.id,
                    id=f"post_wait_{n}", schedule=Schedule(scheduled_at=T0 + timedelta(hours=n)),
                    state=PostState.PENDING_APPROVAL)
        world.store.add_post(post, [Delivery(post_id=post.id, account_id="acct_a", platform=Platform.X,
                                             due_at=post.due_at, id=f"dlv_wait_{n}")])
    real = world.store.add_notification
    tried = []

    def add_notification(note):
        tried.append(note.subject_id)
        if len(tried) == 1:
            raise RuntimeError("the notifications table hiccuped")
        return real(note)

    monkeypatch.setattr(world.store, "add_notification", add_notification)
    assert make_runner(world.store, clock, tmp_path, FakeAdapter(clock)).approval_reminders() == 1
    assert sorted(tried) == ["post_wait_1", "post_wait_2"]


# ---------------------------------------------------------------- publishing for it

@pytest.mark.parametrize("expired", [False, True], ids=["token-valid", "token-expired"])
def test_a_due_post_for_an_unreadable_account_waits_for_a_reconnect_instead_of_hanging(world, clock, tmp_path,
                                                                                       expired):
    import httpx

    from core.platforms.registry import build_adapter
    from core.services.publisher import Publisher

    if expired:   # the publisher tries a refresh first: that must end the same way
        world.store.save_account(replace(world.broken, token_expires_at=T0 - timedelta(minutes=1)))
    post = Post(caption="Spring sale starts today", accounts=(world.broken,), workspace_id=world.ws.id, id="post_due",
                schedule=Schedule(scheduled_at=T0), state=PostState.APPROVED)
    world.store.add_post(post, [Delivery(post_id=post.id, account_id=world.broken.id, platform=Platform.LINKEDIN,
                                         due_at=T0, id="dlv_due")])
    world.damage(world.broken.id)
    [d] = world.store.get_deliveries(post.id)
    d = world.store.update_delivery(d.start_publishing(runner_id="r", lease_until=T0 + timedelta(minutes=2)),
                                    expected_version=d.version)
    calls = []
    client = httpx.Client(transport=httpx.MockTransport(lambda request: calls.append(request.url) or
                                                        httpx.Response(500)))
    adapter = build_adapter("linkedin", Settings(data_dir=tmp_path, sandbox=True), client)
    Publisher(world.store, lambda platform: adapter, runner_id="r", clock=clock).run(d)
    d = world.store.get_delivery(d.id)
    assert d.state == DeliveryState.QUEUED and d.last_error_code == "reconnect_needed"   # waiting, with a reason
    assert calls == []                                                                   # no platform was called
    assert world.store.get_account(world.broken.id).status == AccountStatus.RECONNECT_NEEDED
    [note] = world.reconnect_notes(world.broken.id)
    assert UNREADABLE_REASON in note.body
    assert_no_token_material(note.body, d.last_error)

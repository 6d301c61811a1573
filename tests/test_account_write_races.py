"""A person's Disconnect (or reconnect) that lands while a background job is between reading an account and
writing it back is never undone: lifting an "unreadable" hold, marking "reconnect needed" and saving a refreshed
token all write conditionally (`update_account_if`). The person's action is run exactly between the job's last
read and its write (the store's get_account is wrapped), on the memory store, SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db.schema import accounts as accounts_table
from core.domain import Account, AccountStatus, Membership, Role, User, Workspace
from core.domain.catalog import Platform
from core.domain.errors import ReconnectNeeded
from core.platforms.base import TokenSet
from core.rules.permissions import Actor
from core.services.accounts import disconnect_account
from core.services.connect import RECONNECT_REASON_KEY, UNREADABLE_REASON, mark_reconnect_needed, refresh_account
from core.services.tokens import lift_unreadable_hold


@pytest.fixture
def world(store):
    ws = store.add_workspace(Workspace(name="Acme", id="ws")).id
    owner = store.add_user(User(email="o@acme.test", display_name="Olive", id="u"))
    store.set_membership(Membership(user_id=owner.id, workspace_id=ws, role=Role.OWNER))
    return store, Actor.of(store, owner.id), ws


def _after_reads(store, n: int, act) -> None:
    """Run `act` right after the store's `n`-th get_account from now (then stop watching)."""
    real, seen = store.get_account, []

    def get_account(account_id):
        account = real(account_id)
        seen.append(account_id)
        if len(seen) == n:
            store.get_account = real
            act(account_id)
        return account
    store.get_account = get_account


def _disconnect(store, actor):
    return lambda account_id: disconnect_account(store, actor, account_id)


def _assert_disconnected(store, account_id):
    final = store.get_account(account_id)
    assert final.status is AccountStatus.REVOKED
    assert (final.oauth_token, final.refresh_token) == (None, None)


def test_lifting_an_unreadable_hold_never_undoes_a_disconnect(world):
    store, actor, ws = world
    held = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="old-token",
                                      refresh_token="old-refresh", status=AccountStatus.RECONNECT_NEEDED,
                                      meta={RECONNECT_REASON_KEY: UNREADABLE_REASON}))
    _after_reads(store, 1, _disconnect(store, actor))        # lift has just read the account as stored
    assert lift_unreadable_hold(store, held) is None
    _assert_disconnected(store, held.id)
    assert not [e for e in store.list_events(workspace_id=ws) if e.action == "account.readable_again"]


def test_marking_reconnect_needed_never_undoes_a_disconnect(world):
    store, actor, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     refresh_token="ref"))
    _after_reads(store, 1, _disconnect(store, actor))
    result = mark_reconnect_needed(store, acc, "X refused the token.")
    assert result.status is AccountStatus.REVOKED
    _assert_disconnected(store, acc.id)
    assert "Disconnected on" in store.get_account(acc.id).meta[RECONNECT_REASON_KEY]   # the person's reason stays
    assert not [e for e in store.list_events(workspace_id=ws) if e.action == "account.reconnect_needed"]


def test_marking_reconnect_needed_leaves_a_fresh_reconnect_alone(world):
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok"))
    _after_reads(store, 1, lambda aid: store.save_account(replace(store.get_account(aid), oauth_token="new-tok")))
    result = mark_reconnect_needed(store, acc, "X refused the token.")
    final = store.get_account(acc.id)
    assert result == final and final.status is AccountStatus.CONNECTED and final.oauth_token == "new-tok"


class _Refreshing:
    def refresh(self, credentials):
        return TokenSet(access_token="refreshed-token", refresh_token="refreshed-refresh")


def test_a_refreshed_token_never_undoes_a_disconnect(world, clock):
    store, actor, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     refresh_token="ref", token_expires_at=clock() + timedelta(minutes=5)))
    _after_reads(store, 1, _disconnect(store, actor))     # refresh_account's read just before its write
    with pytest.raises(ReconnectNeeded, match="disconnected while its access was being renewed"):
        refresh_account(store, _Refreshing(), acc, clock=clock)
    _assert_disconnected(store, acc.id)


def test_a_refreshed_token_does_not_replace_a_persons_reconnect(world, clock):
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     refresh_token="ref"))
    _after_reads(store, 1, lambda aid: store.save_account(replace(store.get_account(aid), oauth_token="person-tok",
                                                                  refresh_token="person-ref")))
    result = refresh_account(store, _Refreshing(), acc, clock=clock)
    final = store.get_account(acc.id)
    assert result == final and (final.oauth_token, final.refresh_token) == ("person-tok", "person-ref")


def test_a_refresh_with_nothing_in_its_way_is_saved(world, clock):
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     refresh_token="ref", daily_cap=3))
    saved = refresh_account(store, _Refreshing(), acc, clock=clock)
    assert saved == store.get_account(acc.id)
    assert (saved.oauth_token, saved.refresh_token, saved.daily_cap) == ("refreshed-token", "refreshed-refresh", 3)
    assert saved.status is AccountStatus.CONNECTED


# ---------------------------------------------------------------- a reconnect while the platform answers
# The job read the account, then talked to the platform with its token; the person reconnected during that call,
# before the job's write reads the account again: the write must still see that the access is not the one used.

def test_a_refusal_of_the_old_access_leaves_a_reconnect_made_during_the_call_alone(world):
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok"))
    store.save_account(replace(store.get_account(acc.id), oauth_token="new-tok"))   # the person, during the call
    result = mark_reconnect_needed(store, acc, "X refused the token.")                # the refusal of "tok"
    final = store.get_account(acc.id)
    assert result == final and final.status is AccountStatus.CONNECTED and final.oauth_token == "new-tok"
    assert [n for n in store.list_notifications(workspace_id=ws) if n.kind == "reconnect_needed"] == []


class _ReconnectedDuringTheCall:
    """A platform that renews the old grant while the person reconnects the account."""

    def __init__(self, store, account_id):
        self.store, self.account_id = store, account_id

    def refresh(self, credentials):
        self.store.save_account(replace(self.store.get_account(self.account_id), oauth_token="person-tok",
                                        refresh_token="person-ref"))
        return TokenSet(access_token="refreshed-token", refresh_token="refreshed-refresh")


def test_a_renewal_of_the_old_grant_does_not_replace_a_reconnect_made_during_the_call(world, clock):
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     refresh_token="ref"))
    result = refresh_account(store, _ReconnectedDuringTheCall(store, acc.id), acc, clock=clock)
    final = store.get_account(acc.id)
    assert result == final and (final.oauth_token, final.refresh_token) == ("person-tok", "person-ref")
    assert "account.token_refreshed" not in [e.action for e in store.list_events(subject_id=acc.id)]


def test_a_reconnect_notice_sent_just_after_a_reconnect_stays_unread(world, clock):
    """A runner refused even the new access marks the account again right after the reconnect was saved: the
    reconnect settles the notices sent before it, never that new one."""
    from core.platforms.base import Profile
    from core.services.connect import save_connection
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     external_id="x1", connected_at=clock() - timedelta(days=3)))
    mark_reconnect_needed(store, acc, "X refused the token.")
    real = store.record_event

    def record_event(event):
        real(event)
        if event.action == "account.reconnected":       # saved; a runner refused the new access marks it again
            store.record_event = real
            mark_reconnect_needed(store, store.get_account(acc.id), "X refused the new token too.")
    store.record_event = record_event
    saved, reconnected = save_connection(store, user_id="u", workspace_id=ws, platform=Platform.X,
                                         token=TokenSet(access_token="new-tok"), now=clock(),
                                         profile=Profile(external_id="x1", handle="brand", display_name="Brand"))
    assert reconnected and store.get_account(acc.id).status is AccountStatus.RECONNECT_NEEDED
    notes = [n for n in store.list_notifications(workspace_id=ws) if n.kind == "reconnect_needed"]
    assert sorted((n.body.split(" Posts")[0], n.read_at is None) for n in notes) == [
        ("X refused the new token too.", True), ("X refused the token.", False)]


def test_a_refusal_of_the_old_access_just_before_the_reconnect_is_saved_leaves_no_notice_unread(world, clock):
    """A runner refused the old access lands between the reconnect listing the notices and saving the account:
    the account ends connected with the new access, and that notice (about the old access) is read too."""
    from core.platforms.base import Profile
    from core.services.connect import save_connection
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok",
                                     external_id="x1", connected_at=clock() - timedelta(days=3)))
    real_save = store.save_account

    def save_account(account):
        store.save_account = real_save
        mark_reconnect_needed(store, acc, "X refused the token.")          # the runner, with "tok"
        return real_save(account)
    store.save_account = save_account
    save_connection(store, user_id="u", workspace_id=ws, platform=Platform.X, token=TokenSet(access_token="new-tok"),
                    now=clock(), profile=Profile(external_id="x1", handle="brand", display_name="Brand"))
    final = store.get_account(acc.id)
    assert final.status is AccountStatus.CONNECTED and final.oauth_token == "new-tok"
    assert [n.read_at is not None for n in store.list_notifications(workspace_id=ws)
            if n.kind == "reconnect_needed"] == [True]


def test_on_postgresql_a_disconnect_committed_while_the_write_waits_is_seen(world, kind):
    """Two processes: the conditional write reads the row under its lock (FOR UPDATE), so a Disconnect committing
    while it waits is what it compares against, not the version from before."""
    if kind != "postgres":
        pytest.skip("the row lock is PostgreSQL's (SQLite writers queue for the whole file; memory uses one lock)")
    store, _, ws = world
    acc = store.save_account(Account(platform=Platform.X, handle="brand", workspace_id=ws, oauth_token="tok"))
    done = {}

    def lift():
        done["result"] = store.update_account_if(acc.id, {"status": AccountStatus.CONNECTED, "oauth_token": "tok"},
                                                 {"status": AccountStatus.RECONNECT_NEEDED})
    with store.engine.connect() as person:
        with person.begin():           # the person's Disconnect, not committed yet: it holds the row
            person.execute(accounts_table.update().where(accounts_table.c.id == acc.id).values(
                status="revoked", oauth_token_enc=None, refresh_token_enc=None))
            writer = threading.Thread(target=lift)
            writer.start()
            with store.engine.connect() as watch:   # until the conditional write waits for that row
                for _ in range(600):
                    if watch.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                             "AND datname = current_database() AND query ILIKE '%accounts%' AND pid <> :me"),
                                     {"me": person.connection.dbapi_connection.info.backend_pid}).scalar():
                        break
                    watch.rollback()
                    threading.Event().wait(0.05)
                else:
                    pytest.fail("the conditional write never waited for the row")
        writer.join(30)
    assert done == {"result": None}
    _assert_disconnected(store, acc.id)

"""The store contract for connected accounts and connect attempts (core.store.AccountStore), on every store."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from core.domain import Account, AccountStatus, OAuthState, Workspace
from core.domain.errors import DuplicateError, NaiveDatetimeError, NotFoundError
from core.domain.catalog import Platform

from tests.store_contract.world import T0, UTC, World


# ---------------------------------------------------------------- accounts

def test_account_round_trip(store, clock):
    store.add_workspace(Workspace(name="W", id="ws_1"))
    account = Account(
        platform="tiktok", handle="@dancer", display_name="Dancer", oauth_token="act.secret-token",
        refresh_token="rft.secret-refresh",
        token_expires_at=datetime(2030, 3, 5, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        refresh_expires_at=T0 + timedelta(days=365), scopes=("user.info.basic", "video.publish"),
        external_id="tt-123", id="acct_tt", workspace_id="ws_1", daily_cap=3, min_gap_minutes=45,
        status=AccountStatus.EXPIRING, meta={"privacy_options": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"],
                                             "creator": {"nickname": "D", "max_video_s": 600}})
    saved = store.save_account(account)
    assert saved.connected_at == clock.now
    got = store.get_account("acct_tt")
    assert got == saved
    assert (got.oauth_token, got.refresh_token) == ("act.secret-token", "rft.secret-refresh")
    assert got.token_expires_at == datetime(2030, 3, 5, 8, 0, tzinfo=UTC)
    assert got.platform is Platform.TIKTOK and got.status is AccountStatus.EXPIRING
    # Saving again replaces it (token refresh); connected_at is kept when given.
    refreshed = store.save_account(replace(got, oauth_token="act.new", refresh_token=None, token_expires_at=None,
                                           status=AccountStatus.CONNECTED))
    assert store.get_account("acct_tt") == refreshed
    assert refreshed.connected_at == saved.connected_at and store.get_account("acct_tt").refresh_token is None
    with pytest.raises(NotFoundError, match="No connected account with id acct_ghost"):
        store.get_account("acct_ghost")
    with pytest.raises(NotFoundError, match="No workspace"):
        store.save_account(Account(platform="x", handle="@h", workspace_id="ws_ghost"))


def test_list_accounts_sorted_by_platform_then_handle(store):
    store.add_workspace(Workspace(name="W", id="ws_1"))
    for pid, platform, handle, ws in (("a1", "x", "@zed", "ws_1"), ("a2", "instagram", "@b", "ws_1"),
                                      ("a3", "x", "@Amy", "ws_1"), ("a4", "linkedin", "Co", None)):
        store.save_account(Account(platform=platform, handle=handle, id=pid, workspace_id=ws))
    assert [a.id for a in store.list_accounts()] == ["a2", "a4", "a3", "a1"]
    assert [a.id for a in store.list_accounts(workspace_id="ws_1")] == ["a2", "a3", "a1"]
    assert store.list_accounts(workspace_id="ws_nope") == []


def test_find_account_by_platform_account(world):
    store = world.store
    ig = store.save_account(replace(world.ig, external_id="17841400000000001"))
    # The same id on another platform, and the same Instagram account in another workspace: other rows.
    li = store.save_account(Account(platform="linkedin", handle="Acme B", external_id="17841400000000001",
                                    workspace_id=world.ws.id, id="acct_li_b"))
    elsewhere = store.save_account(Account(platform="instagram", handle="@acme", external_id="17841400000000001",
                                           workspace_id=world.other_ws.id, id="acct_ig_other"))
    found = store.find_account(world.ws.id, "instagram", "17841400000000001")
    assert found == ig and found.oauth_token == "ig-token" and found.refresh_token == "ig-refresh"
    assert store.find_account(world.ws.id, Platform.INSTAGRAM, "17841400000000001") == ig
    assert store.find_account(world.ws.id, "linkedin", "17841400000000001") == li
    assert store.find_account(world.other_ws.id, "instagram", "17841400000000001") == elsewhere
    assert store.find_account(world.ws.id, "instagram", "17841400000000002") is None
    assert store.find_account(world.ws.id, "x", "17841400000000001") is None
    assert store.find_account("ws_ghost", "instagram", "17841400000000001") is None
    assert store.find_account(world.ws.id, "linkedin", None) is None  # world.li has no external id


def test_a_platform_account_is_stored_once_per_workspace(world):
    store = world.store
    ig = store.save_account(replace(world.ig, external_id="ig-1"))
    with pytest.raises(DuplicateError, match="Instagram account ig-1 is already connected in workspace ws_acme"):
        store.save_account(Account(platform="instagram", handle="@acme2", external_id="ig-1",
                                   workspace_id=world.ws.id, id="acct_ig_2"))
    with pytest.raises(DuplicateError, match="already connected"):
        store.save_account(replace(world.li, platform="instagram", external_id="ig-1"))  # an update, same clash
    assert [a.id for a in store.list_accounts(workspace_id=world.ws.id)] == ["acct_ig", "acct_li"]
    assert store.get_account("acct_li") == world.li
    # Saving the same row again (a reconnect) is what find_account is for.
    again = store.save_account(replace(ig, oauth_token="ig-token-2"))
    assert store.find_account(world.ws.id, "instagram", "ig-1") == again
    # No external id, or no workspace: not constrained.
    for n in range(2):
        store.save_account(Account(platform="instagram", handle=f"@n{n}", workspace_id=world.ws.id, id=f"acct_n{n}"))
        store.save_account(Account(platform="instagram", handle=f"@f{n}", external_id="ig-1", id=f"acct_free{n}"))
    assert len(store.list_accounts()) == 7


# ---------------------------------------------------------------- connect attempts

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def connect_attempt(world: World, state_hash: str = "a" * 64, **overrides) -> OAuthState:
    fields = dict(state_hash=state_hash, user_id=world.owner.id, workspace_id=world.ws.id, platform="tiktok",
                  expires_at=T0 + timedelta(minutes=10), code_verifier=VERIFIER)
    fields.update(overrides)
    return OAuthState(**fields)


def test_connect_attempt_round_trip(world, clock):
    store = world.store
    state = connect_attempt(world, account_id=world.ig.id,
                            expires_at=(T0 + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-7))))
    assert store.add_oauth_state(state) is None
    start = clock.now
    clock.advance(minutes=2)
    used = store.consume_oauth_state(state.state_hash, clock.now.astimezone(timezone(timedelta(hours=1))))
    assert used == replace(state, created_at=start, used_at=clock.now)
    assert used.code_verifier == VERIFIER and used.platform is Platform.TIKTOK and used.account_id == "acct_ig"
    assert used.expires_at == T0 + timedelta(minutes=10) and used.used_at.utcoffset() == timedelta(0)
    # Without a verifier (platforms without PKCE); a given created_at is kept.
    plain = connect_attempt(world, "b" * 64, platform="linkedin", code_verifier=None,
                            created_at=T0 - timedelta(minutes=1))
    store.add_oauth_state(plain)
    assert store.consume_oauth_state(plain.state_hash, clock.now) == replace(plain, used_at=clock.now)
    # Expiry is the caller's to judge (it says "expired", not "unknown"): an expired attempt is still returned.
    late = connect_attempt(world, "c" * 64)
    store.add_oauth_state(late)
    assert store.consume_oauth_state(late.state_hash, T0 + timedelta(hours=1)).used_at == T0 + timedelta(hours=1)


def test_a_connect_attempt_is_read_without_being_used(world, clock):
    store = world.store
    state = connect_attempt(world)
    store.add_oauth_state(state)
    assert store.get_oauth_state(state.state_hash) == replace(state, created_at=clock.now)
    assert store.get_oauth_state(state.state_hash).used_at is None                  # reading used nothing
    used = store.consume_oauth_state(state.state_hash, clock.now)
    assert store.get_oauth_state(state.state_hash) == used and used.used_at == clock.now
    assert store.get_oauth_state("f" * 64) is None


def test_connect_attempt_refusals(world, clock):
    store = world.store
    store.add_oauth_state(connect_attempt(world))
    with pytest.raises(DuplicateError):
        store.add_oauth_state(connect_attempt(world, user_id="user_owner", platform="x"))
    with pytest.raises(NotFoundError, match="No workspace with id ws_ghost"):
        store.add_oauth_state(connect_attempt(world, "d" * 64, workspace_id="ws_ghost"))
    with pytest.raises(NotFoundError, match="No user with id user_ghost"):
        store.add_oauth_state(connect_attempt(world, "e" * 64, user_id="user_ghost"))
    with pytest.raises(NaiveDatetimeError):
        store.consume_oauth_state("a" * 64, datetime(2030, 3, 4, 8, 5))
    # Nothing above used it up.
    assert store.consume_oauth_state("d" * 64, clock.now) is None
    assert store.consume_oauth_state("a" * 64, clock.now).code_verifier == VERIFIER


def test_a_connect_attempt_is_consumed_once(world, clock):
    store = world.store
    store.add_oauth_state(connect_attempt(world))
    first = store.consume_oauth_state("a" * 64, clock.now)
    assert first is not None and first.used_at == clock.now
    clock.advance(seconds=5)
    assert store.consume_oauth_state("a" * 64, clock.now) is None  # the replay
    assert store.consume_oauth_state("a" * 64, clock.now) is None
    assert store.consume_oauth_state("f" * 64, clock.now) is None  # never issued
    with pytest.raises(DuplicateError):  # and a used attempt cannot be issued again
        store.add_oauth_state(connect_attempt(world))


def test_concurrent_consumers_of_one_attempt_exactly_one_wins(world, clock):
    store = world.store
    for round_ in range(3):
        state_hash = f"{round_}" * 64
        store.add_oauth_state(connect_attempt(world, state_hash))
        barrier = threading.Barrier(8)
        results: list = []
        errors: list[BaseException] = []

        def consume() -> None:
            barrier.wait(timeout=30)
            try:
                results.append(store.consume_oauth_state(state_hash, clock.now))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=consume) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and len(results) == 8
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0].state_hash == state_hash and winners[0].code_verifier == VERIFIER


def test_purge_connect_attempts(world, clock):
    store = world.store
    now = T0 + timedelta(hours=1)
    soon, gone = now + timedelta(minutes=5), now - timedelta(minutes=1)
    for name, expires in (("expired", gone), ("used", soon), ("fresh", soon), ("used_later", soon),
                          ("expires_now", now)):
        store.add_oauth_state(connect_attempt(world, name.ljust(64, "_"), expires_at=expires))
    assert store.consume_oauth_state("used".ljust(64, "_"), now - timedelta(minutes=2)) is not None
    assert store.consume_oauth_state("used_later".ljust(64, "_"), now + timedelta(minutes=1)) is not None

    assert store.purge_oauth_states(now) == 2
    assert store.purge_oauth_states(now.astimezone(timezone(timedelta(hours=5)))) == 0
    # The purged ones are gone (they can be issued again); the others are kept as they were.
    for name in ("expired", "used"):
        store.add_oauth_state(connect_attempt(world, name.ljust(64, "_")))
    for name in ("fresh", "used_later", "expires_now"):
        with pytest.raises(DuplicateError):
            store.add_oauth_state(connect_attempt(world, name.ljust(64, "_")))
    assert store.consume_oauth_state("used_later".ljust(64, "_"), now) is None
    assert store.consume_oauth_state("fresh".ljust(64, "_"), now).code_verifier == VERIFIER
    assert store.purge_oauth_states(soon + timedelta(minutes=1)) == 5
    with pytest.raises(NaiveDatetimeError):
        store.purge_oauth_states(datetime(2030, 3, 4))


def test_release_account_hold(world, clock):
    """A person lifts a hold: it is gone at once for that account only; lifting none says so."""
    store = world.store
    store.hold_account("acct_ig", clock.now + timedelta(hours=1), "X's limit: 300 posts in 3 hours.")
    store.hold_account("acct_li", clock.now + timedelta(hours=2), "LinkedIn's daily limit.")
    assert store.release_account_hold("acct_ig") is True
    assert set(store.account_holds(clock.now)) == {"acct_li"}
    assert store.release_account_hold("acct_ig") is False
    # A new hold after lifting is kept again (nothing left behind that makes it look shorter).
    store.hold_account("acct_ig", clock.now + timedelta(minutes=5), "Burst limit.")
    assert store.account_holds(clock.now)["acct_ig"] == (clock.now + timedelta(minutes=5), "Burst limit.")

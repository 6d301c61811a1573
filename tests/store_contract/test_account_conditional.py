"""The store contract for a conditional account write (`update_account_if`), on every store: it changes an account
only while the account is still as the caller read it, so a background job (lifting a hold, marking "reconnect
needed", saving a refreshed token) can never undo a person's Disconnect or reconnect made meanwhile."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.domain import AccountStatus
from core.domain.errors import NotFoundError

from tests.store_contract.world import World


def _read(world: World):
    return world.store.get_account(world.ig.id)


def test_writes_the_changes_when_the_account_is_as_read(world: World):
    store, read = world.store, _read(world)
    # Someone else changes a field the conditional write does not touch: it is kept, not overwritten by `read`.
    store.save_account(replace(read, daily_cap=4))
    done = store.update_account_if(read.id, {"status": read.status, "oauth_token": "ig-token"},
                                   {"status": AccountStatus.RECONNECT_NEEDED, "meta": {"reconnect_reason": "Why."}})
    assert done is not None and done == store.get_account(read.id)
    assert done.status is AccountStatus.RECONNECT_NEEDED and done.meta == {"reconnect_reason": "Why."}
    assert (done.oauth_token, done.refresh_token, done.daily_cap) == ("ig-token", "ig-refresh", 4)


def test_refuses_when_the_account_was_disconnected_since(world: World):
    store, read = world.store, _read(world)
    disconnected = store.save_account(replace(read, status=AccountStatus.REVOKED, oauth_token=None,
                                              refresh_token=None))
    assert store.update_account_if(read.id, {"status": read.status, "oauth_token": read.oauth_token},
                                   {"status": AccountStatus.CONNECTED}) is None
    assert store.get_account(read.id) == disconnected       # nothing written: still disconnected, no tokens


def test_refuses_when_the_account_was_reconnected_since(world: World):
    store, read = world.store, _read(world)
    # Same status, new tokens: the token is compared as loaded, though it is stored encrypted.
    reconnected = store.save_account(replace(read, oauth_token="ig-new-token", refresh_token="ig-new-refresh"))
    assert store.update_account_if(read.id, {"status": read.status, "oauth_token": read.oauth_token},
                                   {"oauth_token": "from-an-old-refresh", "status": AccountStatus.CONNECTED}) is None
    assert store.get_account(read.id) == reconnected


def test_new_tokens_are_stored_and_read_back(world: World):
    store, read = world.store, _read(world)
    done = store.update_account_if(read.id, {"oauth_token": "ig-token"},
                                   {"oauth_token": "ig-rotated", "refresh_token": "ig-refresh-2"})
    got = store.get_account(read.id)
    assert done == got and (got.oauth_token, got.refresh_token) == ("ig-rotated", "ig-refresh-2")
    assert got.status is read.status and got.handle == read.handle


def test_status_may_be_given_as_its_word(world: World):
    read = _read(world)
    done = world.store.update_account_if(read.id, {"status": "connected"}, {"status": "reconnect_needed"})
    assert done is not None and done.status is AccountStatus.RECONNECT_NEEDED


def test_unknown_account_and_wrong_fields_are_refused(world: World):
    store = world.store
    with pytest.raises(NotFoundError, match="No connected account with id acct_ghost"):
        store.update_account_if("acct_ghost", {}, {"status": AccountStatus.CONNECTED})
    with pytest.raises(ValueError, match="no field colour"):
        store.update_account_if(world.ig.id, {"colour": "red"}, {})
    with pytest.raises(ValueError, match="cannot change external_id"):
        store.update_account_if(world.ig.id, {}, {"external_id": "178"})
    assert store.get_account(world.ig.id) == _read(world)

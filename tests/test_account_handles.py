"""A handle is in a workspace once per platform, however the account is added (core.services.accounts.add_account
as scripts and the API example use it, as well as the connect flows)."""
from __future__ import annotations

import pytest

from core.domain import Account, Workspace
from core.domain.catalog import Platform
from core.domain.errors import DuplicateError
from core.rules.permissions import Actor
from core.services.accounts import add_account


def test_the_same_handle_on_the_same_platform_is_refused_in_words_and_nothing_is_added(store):
    store.add_workspace(Workspace(name="Acme", id="ws"))
    store.add_workspace(Workspace(name="Other", id="ws2"))
    script = Actor.system("test")
    add_account(store, script, Account(platform=Platform.X, handle="@casey", workspace_id="ws"))
    with pytest.raises(DuplicateError, match=r"^@Casey on X is already in this workspace; nothing was added\.$"):
        add_account(store, script, Account(platform=Platform.X, handle="@Casey", workspace_id="ws"))
    # the same handle elsewhere is another account: another platform, another workspace
    add_account(store, script, Account(platform=Platform.INSTAGRAM, handle="@casey", workspace_id="ws"))
    add_account(store, script, Account(platform=Platform.X, handle="@casey", workspace_id="ws2"))
    assert sorted((a.workspace_id, a.platform.value) for a in store.list_accounts()) == [
        ("ws", "instagram"), ("ws", "x"), ("ws2", "x")]


def test_a_token_renewed_while_a_person_disconnects_the_account_is_not_kept(store):
    """The runner asks the platform for a new access token; meanwhile the owner disconnects the account. The new
    token must not bring the account back (connected, with tokens, its posts going out again)."""
    from core.domain.errors import ReconnectNeeded
    from core.domain import AccountStatus
    from core.platforms.base import TokenSet
    from core.services.accounts import disconnect_account
    from core.services.connect import refresh_account

    store.add_workspace(Workspace(name="Acme", id="ws"))
    owner = Actor.system("test")
    account = add_account(store, owner, Account(platform=Platform.X, handle="@casey", workspace_id="ws",
                                                oauth_token="old-access", refresh_token="old-refresh"))

    class SlowPlatform:
        def refresh(self, credentials):
            disconnect_account(store, owner, account.id)       # the person clicks while the platform answers
            return TokenSet(access_token="new-access", refresh_token="new-refresh")

    with pytest.raises(ReconnectNeeded, match="was disconnected while its access was being renewed"):
        refresh_account(store, SlowPlatform(), account)
    stored = store.get_account(account.id)
    assert stored.status == AccountStatus.REVOKED and stored.oauth_token is None and stored.refresh_token is None

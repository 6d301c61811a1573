"""The world every part of the store contract starts from (the stores themselves: tests/conftest.py)."""
from __future__ import annotations

import pytest

from core.domain import Account, Membership, Role, User, Workspace
from core.domain.catalog import Platform
from tests.store_contract.world import World


@pytest.fixture
def world(store) -> World:
    ws = store.add_workspace(Workspace(name="Acme", timezone_name="Europe/Berlin", id="ws_acme"))
    other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    owner = store.add_user(User(email="owner@acme.test", display_name="Olive", id="user_owner"))
    store.set_membership(Membership(user_id=owner.id, workspace_id=ws.id, role=Role.OWNER))
    ig = store.save_account(Account(platform=Platform.INSTAGRAM, handle="@acme", oauth_token="ig-token",
                                    refresh_token="ig-refresh", workspace_id=ws.id, id="acct_ig"))
    li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", oauth_token="li-token",
                                    workspace_id=ws.id, id="acct_li"))
    x = store.save_account(Account(platform=Platform.X, handle="@other", oauth_token="x-token",
                                   workspace_id=other.id, id="acct_x"))
    return World(store, ws, other, owner, ig, li, x)

"""Loose ends of issue 10: text a platform or an old row brings in is cleaned, never fatal; runner defaults.

Connecting runs the real Mastodon and Bluesky adapters on the shared fake transport (tests.platform_harness).
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.services.auth import create_owner
from core.services.connect import ConnectService
from core.services.connect_password import PasswordConnectService
from core.store import InMemoryPostStore
from tests import test_platform_bluesky as bluesky
from tests import test_platform_mastodon as mastodon


@pytest.fixture
def owner_and_workspace():
    store = InMemoryPostStore()
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    return store, owner, ws


def wire_json(body: dict) -> httpx.Response:
    """A JSON answer as a platform sends it: a lone surrogate travels as its \\u escape (httpx cannot encode it)."""
    return httpx.Response(200, content=json.dumps(body).encode("ascii"), headers={"content-type": "application/json"})


def mastodon_profile(display_name: str, username: str = "outpost") -> dict:
    return {"id": "109876543210", "username": username, "acct": username, "display_name": display_name,
            "url": f"https://fosstodon.org/@{username}", "followers_count": 12}


def connect_mastodon(store, owner, ws, profile: dict):
    adapter, fake, _ = mastodon.make({
        ("POST", "/oauth/token"): {"access_token": "masto-access", "token_type": "Bearer",
                                   "scope": "read write:statuses write:media", "created_at": 1573979017},
        ("GET", "/api/v1/accounts/verify_credentials"): wire_json(profile)},
        instance="fosstodon.org")
    service = ConnectService(store, lambda platform: adapter, clock=lambda: mastodon.NOW)
    url = service.start(user_id=owner.id, workspace_id=ws.id, platform="mastodon")
    state = parse_qs(urlsplit(url).query)["state"][0]
    return service.finish(user_id=owner.id, state=state, code="code-1"), fake


@pytest.mark.parametrize("sent, kept", [
    ("Out\x07post", "Outpost"),                 # BEL: an invisible control character
    ("Outpost\x00", "Outpost"),                 # NUL, which PostgreSQL refuses
    ("Out\ud800post", "Out\ufffdpost"),         # a lone surrogate becomes the replacement character
    ("Out\npost\t", "Out post "),               # a name is one line
    ("\x1b\x07", "@outpost@fosstodon.org"),     # nothing left: the handle stands in, as for an empty name
    ("Outpost \U0001F680", "Outpost \U0001F680"),  # nothing wrong: kept as sent
])
def test_an_oauth_connect_keeps_the_platforms_name_without_the_characters_outpost_refuses(
        owner_and_workspace, sent, kept):
    store, owner, ws = owner_and_workspace
    account, fake = connect_mastodon(store, owner, ws, mastodon_profile(sent))
    assert account.display_name == kept and account.handle == "@outpost@fosstodon.org"
    assert store.get_account(account.id).display_name == kept
    fake.assert_called("GET", "/api/v1/accounts/verify_credentials", times=1)


def test_a_handle_with_a_control_character_connects_cleaned(owner_and_workspace):
    store, owner, ws = owner_and_workspace
    account, _ = connect_mastodon(store, owner, ws, mastodon_profile("Outpost", username="out\x07post"))
    assert account.handle == "@outpost@fosstodon.org"
    assert [a.handle for a in store.list_accounts(workspace_id=ws.id)] == ["@outpost@fosstodon.org"]


@pytest.mark.parametrize("sent, kept", [
    ("Casey\x07", "Casey"),
    ("Ca\udc00sey", "Ca\ufffdsey"),
    ("\x00", "@outpost.bsky.social"),
])
def test_an_app_password_connect_keeps_the_platforms_name_without_the_characters_outpost_refuses(
        owner_and_workspace, sent, kept):
    store, owner, ws = owner_and_workspace
    adapter, fake = bluesky.make({
        ("POST", "com.atproto.server.createSession"): httpx.Response(200, json=bluesky.session()),
        ("GET", "app.bsky.actor.getProfile"): wire_json({
            "did": bluesky.DID, "handle": "outpost.bsky.social", "displayName": sent})})
    service = PasswordConnectService(store, lambda platform: adapter, clock=lambda: bluesky.NOW)
    account = service.connect(user_id=owner.id, workspace_id=ws.id, platform="bluesky",
                              identifier="outpost.bsky.social", password="xxxx-xxxx-xxxx-xxxx")
    assert (account.handle, account.display_name) == ("@outpost.bsky.social", kept)
    assert store.get_account(account.id).display_name == kept
    assert fake.paths() == ["POST com.atproto.server.createSession", "GET app.bsky.actor.getProfile"]


# ---------------------------------------------------------------- rows stored before the text rule still load
OLD_TEXT = [
    # (stored before the rule, what loads)
    ("Brand\x07", "Brand"),               # BEL: refused at construction since the rule
    ("Bra\x1bnd", "Brand"),               # ESC, as terminals leave it in pasted text
    ("Brand\u0085", "Brand"),             # a C1 control (NEL)
    ("Brand\tteam", "Brand team"),        # a tab in a one-line name
]


@pytest.mark.parametrize("stored, loaded", OLD_TEXT)
def test_rows_written_before_the_text_rule_still_load(kind, store, stored, loaded):
    """SQLite, and PostgreSQL (which stores any control character but NUL), may hold names from before the rule:
    loading them must not raise, and what loads can be saved again."""
    if kind == "memory":
        pytest.skip("raw rows are SQL")
    import sqlalchemy as sa

    from core.db.schema import accounts, users, workspaces
    from core.domain import Account, User, Workspace
    ws = store.add_workspace(Workspace(name="Brand", id="ws_old"))
    user = store.add_user(User(email="old@example.com", display_name="Olive", id="user_old"))
    account = store.save_account(Account(platform="mastodon", handle="@brand@fosstodon.org", display_name="Brand",
                                         oauth_token="token", workspace_id=ws.id, id="acct_old"))
    with store.engine.begin() as conn:
        conn.execute(sa.update(workspaces).where(workspaces.c.id == ws.id).values(name=stored))
        conn.execute(sa.update(users).where(users.c.id == user.id).values(display_name=stored))
        conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(display_name=stored,
                                                                                   handle="@" + stored))
    assert store.get_workspace(ws.id).name == loaded
    assert [w.name for w in store.list_workspaces()] == [loaded]
    assert store.get_user(user.id).display_name == loaded
    again = store.get_account(account.id)
    assert (again.display_name, again.handle, again.oauth_token) == (loaded, "@" + loaded, "token")
    assert [a.display_name for a in store.list_accounts(workspace_id=ws.id)] == [loaded]
    store.save_account(again)                      # what loads can be written back, cleaned
    store.update_workspace(store.get_workspace(ws.id))
    assert store.get_account(account.id).display_name == loaded


def test_a_stored_name_with_nothing_left_after_cleaning_loads_under_its_id(kind, store):
    if kind == "memory":
        pytest.skip("raw rows are SQL")
    import sqlalchemy as sa

    from core.db.schema import accounts, workspaces
    from core.domain import Account, Workspace
    ws = store.add_workspace(Workspace(name="Brand", id="ws_old"))
    account = store.save_account(Account(platform="x", handle="@brand", external_id="2244994945", workspace_id=ws.id,
                                         id="acct_old"))
    with store.engine.begin() as conn:
        conn.execute(sa.update(workspaces).where(workspaces.c.id == ws.id).values(name="\x07"))
        conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(handle="\x1b\x07"))
    assert store.get_workspace(ws.id).name == "ws_old"
    assert store.get_account(account.id).handle == "2244994945"

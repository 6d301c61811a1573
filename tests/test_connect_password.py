"""Connecting Bluesky with a handle and an app password, against the emulator, with the SQL store.

The account lands exactly as an OAuth connect leaves it (encrypted tokens, events, health); it
publishes with the stored session and renews it; the password is never kept anywhere; every
refusal is explained in plain words.
"""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.services.auth import create_owner
from core.services.connect import ConnectError, account_health, credentials, refresh_account
from core.services.connect_password import PasswordConnectService, password_platforms
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.domain import AccountStatus, Membership, RenderedContent, Role, User
from core.domain.errors import PermissionDenied
from core.rules.permissions import Actor
from core.platforms.base import PublishRequest
from core.domain.catalog import Platform
from core.platforms.registry import build_adapter
from core.infra.secrets import load_keyring
from core.infra.settings import Settings

sandbox = pytest.importorskip("sandbox")
APP_PASSWORD = "sandbox-app-password"


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=4) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    saved = sandbox.SandboxConfig().as_dict()
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=emu.url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, load_keyring(env_value=None, key_file=settings.key_file))
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    client = httpx.Client(timeout=15, trust_env=False)

    def adapter_for(platform):
        return build_adapter(platform, settings, client, clock=emu.state.clock.dt, sleep=emu.advance)

    service = PasswordConnectService(store, adapter_for, clock=emu.state.clock.dt)
    yield store, service, owner, ws, adapter_for
    client.close()
    engine.dispose()
    emu.config.update(saved)


def connect(service, owner, ws, handle="casey.bsky.social", password=APP_PASSWORD):
    return service.connect(user_id=owner.id, workspace_id=ws.id, platform="bluesky", identifier=handle,
                           password=password)


def test_only_bluesky_connects_with_a_password():
    assert password_platforms() == (Platform.BLUESKY,)


def test_connect_publish_and_refresh(world, emu):
    store, service, owner, ws, adapter_for = world
    account = connect(service, owner, ws, "@casey.bsky.social")
    assert (account.platform, account.handle, account.status) == (Platform.BLUESKY, "@casey.bsky.social",
                                                                  AccountStatus.CONNECTED)
    assert account.external_id.startswith("did:plc:") and account.meta["pds"].startswith("https://morel.")
    stored = store.get_account(account.id)
    assert stored.oauth_token == account.oauth_token and stored.refresh_token == account.refresh_token  # decrypted
    assert stored.token_expires_at - emu.state.clock.dt() <= timedelta(hours=2)
    [event] = store.list_events(subject_id=account.id)
    assert event.action == "account.connected" and event.details["method"] == "app_password"
    # The password is nowhere: not in the account, its meta, or the event.
    assert APP_PASSWORD not in repr((stored, stored.meta, stored.secrets, stored.oauth_token, stored.refresh_token,
                                     event))
    health = account_health(stored, emu.state.clock.dt())
    assert health.status == AccountStatus.CONNECTED and "89 days" in health.message

    adapter = adapter_for(Platform.BLUESKY)
    content = RenderedContent(platform=Platform.BLUESKY, text="First post from Outpost", caption="", hashtags=(),
                              media_urls=(), link="", title=None)
    result = adapter.publish(credentials(stored), PublishRequest(content=content, marker="m1"))
    assert result.url.startswith("https://bsky.app/profile/casey.bsky.social/post/")

    emu.advance(3 * 3600)                                      # the 2-hour access token has expired
    assert adapter.refresh_due(credentials(stored), emu.state.clock.dt())
    refreshed = refresh_account(store, adapter, stored, clock=emu.state.clock.dt)
    assert refreshed.oauth_token != stored.oauth_token and refreshed.refresh_token != stored.refresh_token
    assert store.get_account(account.id).refresh_token == refreshed.refresh_token      # the rotated one is kept
    adapter.publish(credentials(refreshed), PublishRequest(content=content, marker="m2"))
    assert len(emu.posts("bluesky")) == 2


def test_reconnecting_updates_the_same_account(world):
    store, service, owner, ws, _ = world
    first = connect(service, owner, ws)
    second = connect(service, owner, ws, "casey")                 # just the name works too
    assert second.id == first.id and len(store.list_accounts(workspace_id=ws.id)) == 1
    assert second.refresh_token != first.refresh_token
    assert sorted(e.action for e in store.list_events(subject_id=first.id)) == ["account.connected",
                                                                                "account.reconnected"]


@pytest.mark.parametrize("password, code, words", [
    ("wrong-password", "wrong_password", "did not accept that handle and app password"),
    # the main password of an account with email sign-in codes on
    ("sandbox-main-password", "main_password", "Use an app password instead"),
])
def test_refused_passwords_are_explained_and_nothing_is_saved(world, password, code, words):
    store, service, owner, ws, _ = world
    with pytest.raises(ConnectError, match=words) as info:
        connect(service, owner, ws, password=password)
    assert info.value.problems[0].code == code and password not in str(info.value)
    assert store.list_accounts(workspace_id=ws.id) == []


def test_too_many_sign_ins_say_wait(world, emu):
    store, service, owner, ws, _ = world
    emu.configure(bsky_sessions_5min=1)
    connect(service, owner, ws)
    with pytest.raises(ConnectError, match="Too many sign-ins.*Try again in a few minutes") as info:
        connect(service, owner, ws)
    assert info.value.problems[0].code == "rate_limited"


def test_missing_handle_and_password_are_both_named(world):
    store, service, owner, ws, _ = world
    with pytest.raises(ConnectError) as info:
        connect(service, owner, ws, handle=" ", password="")
    assert [p.code for p in info.value.problems] == ["handle_missing", "password_missing"]


def test_only_owners_connect(world, emu):
    store, service, owner, ws, _ = world
    editor = store.add_user(User(email="ed@example.com"))
    store.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    before = len(emu.state.requests)
    with pytest.raises(PermissionDenied, match="^Editors cannot connect or change accounts; ask an owner.$"):
        service.connect(user_id=editor.id, workspace_id=ws.id, platform="bluesky", identifier="casey.bsky.social",
                        password=APP_PASSWORD)
    with pytest.raises(PermissionDenied, match="^You are not a member of this workspace.$"):
        service.connect(actor=Actor.for_user(owner.id, {"ws_elsewhere": Role.OWNER}), workspace_id=ws.id,
                        platform="bluesky", identifier="casey.bsky.social", password=APP_PASSWORD)
    assert len(emu.state.requests) == before          # refused before the password went anywhere
    assert store.list_accounts(workspace_id=ws.id) == []


def test_the_role_is_checked_again_when_the_connection_completes(world):
    """An owner demoted while Bluesky was opening the session connects nothing."""
    store, _, owner, ws, adapter_for = world

    class DemotedDuringLogin:
        def __init__(self, adapter):
            self._adapter = adapter

        def __getattr__(self, name):
            return getattr(self._adapter, name)

        def login(self, identifier, password):
            store.set_membership(Membership(user_id=owner.id, workspace_id=ws.id, role=Role.VIEWER))
            return self._adapter.login(identifier, password)

    service = PasswordConnectService(store, lambda p: DemotedDuringLogin(adapter_for(p)))
    with pytest.raises(PermissionDenied, match="^Viewers cannot connect or change accounts; ask an owner.$"):
        connect(service, owner, ws)
    assert store.list_accounts(workspace_id=ws.id) == []
    assert not [e for e in store.list_events(workspace_id=ws.id) if e.action.startswith("account.")]


def test_oauth_platforms_are_sent_to_their_button(world):
    store, service, owner, ws, _ = world
    with pytest.raises(ConnectError, match="Mastodon connects through its own consent page"):
        service.connect(user_id=owner.id, workspace_id=ws.id, platform="mastodon", identifier="a", password="b")


def test_an_unreachable_bluesky_is_said_plainly(tmp_path):
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url="http://127.0.0.1:9")   # nothing listens
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, load_keyring(env_value=None, key_file=settings.key_file))
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    with httpx.Client(timeout=5, trust_env=False) as client:
        service = PasswordConnectService(store, lambda p: build_adapter(p, settings, client))
        with pytest.raises(ConnectError, match="Bluesky could not be reached") as info:
            connect(service, owner, ws)
    assert info.value.problems[0].code == "unreachable"
    engine.dispose()


def test_the_accounts_page_connects_bluesky_and_forgets_the_password(emu, tmp_path, monkeypatch):
    """The page as a person uses it: a refused main password is explained, the box is emptied, an app
    password connects, and the account shows in the table."""
    from streamlit.testing.v1 import AppTest

    from pages import shared
    emu.reset(clock=True)
    monkeypatch.setenv("OUTPOST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OUTPOST_SANDBOX", "true")
    monkeypatch.setenv("OUTPOST_SANDBOX_URL", emu.url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    shared.settings.clear()
    shared.store.clear()
    try:
        db = shared.store()
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand")
        at = AppTest.from_file("../pages/accounts.py", default_timeout=30)
        at.session_state["ctx"] = shared.Context(user=owner, workspace=ws,
                                                 membership=db.get_membership(owner.id, ws.id))
        at.run()
        labels = [b.label for b in at.button]
        assert labels.count("Connect Bluesky") == 1 and "Connect Mastodon" in labels    # the form's, no consent page
        assert any("App passwords" in c.value for c in at.caption)

        at.text_input(key="handle_bluesky_0").input("casey.bsky.social")
        at.text_input(key="app_password_bluesky_0").input("sandbox-main-password")
        at.button(key="connect_bluesky").click().run()
        assert [e.value for e in at.error] == [
            "Bluesky asked for the sign-in code it emails you, which means this was your main password. Use an app "
            "password instead (Bluesky: Settings > Privacy and security > App passwords)."]
        assert at.text_input(key="handle_bluesky_1").value == "casey.bsky.social"      # kept for the retry
        assert at.text_input(key="app_password_bluesky_1").value == ""                # the password is not
        assert "sandbox-main-password" not in repr(at._session_state.filtered_state)

        at.text_input(key="app_password_bluesky_1").input(APP_PASSWORD)
        at.button(key="connect_bluesky").click().run()
        assert [s.value for s in at.success] == ["Connected @casey.bsky.social on Bluesky."]
        assert list(at.dataframe[0].value["Account"]) == ["@casey.bsky.social"]
        assert APP_PASSWORD not in repr(at._session_state.filtered_state)
        # The same account again (a new app password): it is updated, and the page says it was reconnected.
        at.text_input(key="handle_bluesky_2").input("casey.bsky.social")
        at.text_input(key="app_password_bluesky_2").input(APP_PASSWORD)
        at.button(key="connect_bluesky").click().run()
        assert [s.value for s in at.success] == ["Reconnected @casey.bsky.social on Bluesky."]
        assert list(at.dataframe[0].value["Account"]) == ["@casey.bsky.social"]
    finally:
        shared.store.clear()
        shared.settings.clear()

"""Connecting accounts through the real OAuth flow against the emulator, with the SQL store.

For each of the six platforms: start from ConnectService, press Allow on the emulator's consent
page over HTTP, come back with code and state, finish, publish with the stored (encrypted) token,
and refresh it. Forged, replayed, expired and someone else's states are refused.
"""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.services.auth import create_owner
from core.services.connect import ConnectService, ConnectError, account_health, credentials, refresh_account
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.domain import AccountStatus, Membership, Role, User
from core.domain.errors import PermissionDenied
from core.rules.permissions import Actor
from core.platforms.base import MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.registry import build_adapter
from core.infra.secrets import load_keyring
from core.infra.settings import Settings
from tests.sandbox_helpers import press_on_consent_page, query_of

sandbox = pytest.importorskip("sandbox")


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=3) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=emu.url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, load_keyring(env_value=None, key_file=settings.key_file))
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    client = httpx.Client(timeout=15, trust_env=False)

    def adapter_for(platform):
        return build_adapter(platform, settings, client, clock=emu.state.clock.dt, sleep=emu.advance)

    service = ConnectService(store, adapter_for, clock=emu.state.clock.dt)
    yield store, service, owner, ws, adapter_for, settings
    client.close()
    engine.dispose()


def consent(url: str, *, handle: str = "sandbox_creator", decision: str = "allow") -> dict:
    """What a person's browser does on the consent page: load it, press the button, follow the redirect."""
    location = press_on_consent_page(url, handle=handle, decision=decision)
    assert location.startswith("http://127.0.0.1:8501/?")  # the dashboard root
    return query_of(location)


SAMPLE = {"image": "/_media/sample.jpg?w=1080&h=1080", "video": "/_media/sample.mp4"}
# What each platform is asked to publish with the freshly stored token.
CONTENT = {
    Platform.INSTAGRAM: ("image", "First sandbox post"),
    Platform.FACEBOOK: (None, "First sandbox post"),
    Platform.LINKEDIN: (None, "First sandbox post (with reserved characters: #launch @team)"),
    Platform.X: (None, "First sandbox post"),
    Platform.TIKTOK: ("video", "First sandbox post"),
    Platform.YOUTUBE: ("video", "First sandbox post"),
}


@pytest.mark.parametrize("platform", list(CONTENT))
def test_connect_publish_and_refresh(world, emu, platform):
    store, service, owner, ws, adapter_for, _ = world
    url = service.start(user_id=owner.id, workspace_id=ws.id, platform=platform)
    back = consent(url, handle=f"{platform.value}_brand")
    account = service.finish(user_id=owner.id, state=back["state"], code=back["code"])
    assert account.platform == platform and account.external_id and account.status == AccountStatus.CONNECTED
    stored = store.get_account(account.id)
    assert stored.oauth_token == account.oauth_token and stored.oauth_token  # decrypted round trip
    assert [e.action for e in store.list_events(subject_id=account.id)] == ["account.connected"]

    adapter = adapter_for(platform)
    kind, text = CONTENT[platform]
    from core.domain import RenderedContent
    media = (MediaItem(url=emu.url + SAMPLE[kind], kind=kind),) if kind else ()
    content = RenderedContent(platform=platform, text=text, caption=text, hashtags=(),
                              media_urls=tuple(m.url for m in media), link="", title="Sandbox video" if kind == "video" else None)
    result = adapter.publish(credentials(stored), PublishRequest(content=content, media=media, marker="m1"))
    assert result.external_id

    emu.advance(25 * 3600)  # Instagram only refreshes tokens at least 24 h old
    refreshed = refresh_account(store, adapter, stored, clock=emu.state.clock.dt)
    assert refreshed.oauth_token != stored.oauth_token
    assert store.get_account(account.id).oauth_token == refreshed.oauth_token
    assert "account.token_refreshed" in [e.action for e in store.list_events(subject_id=account.id)]


def test_reconnecting_updates_the_same_account_and_keeps_the_refresh_token(world):
    store, service, owner, ws, *_ = world
    first = service.finish(user_id=owner.id, **_params(consent(service.start(user_id=owner.id, workspace_id=ws.id,
                                                                               platform=Platform.YOUTUBE))))
    second = service.finish(user_id=owner.id, **_params(consent(service.start(user_id=owner.id, workspace_id=ws.id,
                                                                                platform=Platform.YOUTUBE))))
    assert second.id == first.id and len(store.list_accounts(workspace_id=ws.id)) == 1
    assert store.get_account(first.id).refresh_token  # Google may omit it on reconnect; the stored one stays


def test_reconnecting_says_so_and_settles_the_reconnect_notice(world, emu):
    """An account the platform stopped accepting tells the workspace "Reconnect ..."; once someone reconnects it,
    that notice asks for nothing any more (read), the page is told it was a reconnect, and a notice about another
    account stays."""
    from core.services.connect import mark_reconnect_needed
    store, service, owner, ws, *_ = world
    first = service.finish(user_id=owner.id, **_params(consent(service.start(
        user_id=owner.id, workspace_id=ws.id, platform=Platform.LINKEDIN), handle="bakery")))
    assert service.reconnected is False
    other = service.finish(user_id=owner.id, **_params(consent(service.start(
        user_id=owner.id, workspace_id=ws.id, platform=Platform.X), handle="bakery_x")))
    for account in (first, other):
        mark_reconnect_needed(store, store.get_account(account.id), "LinkedIn said the access was revoked.")
    unread = {n.subject_id for n in store.list_notifications(workspace_id=ws.id, unread_only=True)
              if n.kind == "reconnect_needed"}
    assert unread == {first.id, other.id}

    emu.advance(60)
    again = service.finish(user_id=owner.id, **_params(consent(service.start(
        user_id=owner.id, workspace_id=ws.id, platform=Platform.LINKEDIN, account_id=first.id), handle="bakery")))
    assert again.id == first.id and again.status == AccountStatus.CONNECTED
    assert service.reconnected is True
    unread = {n.subject_id for n in store.list_notifications(workspace_id=ws.id, unread_only=True)
              if n.kind == "reconnect_needed"}
    assert unread == {other.id}
    settled = [n for n in store.list_notifications(workspace_id=ws.id) if n.subject_id == first.id]
    assert settled and all(n.read_at is not None for n in settled)


def test_a_facebook_page_token_is_kept_encrypted_and_posts_without_a_lookup(world, emu):
    store, service, owner, ws, adapter_for, _ = world
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.FACEBOOK))
    account = store.get_account(service.finish(user_id=owner.id, **_params(back)).id)
    page_token = account.secrets.get("page_access_token")
    assert page_token and page_token != account.oauth_token          # the Page's own token, not the user's
    assert "page_access_token" not in account.meta                   # never in the plain meta column
    from core.domain import RenderedContent
    content = RenderedContent(platform=Platform.FACEBOOK, text="Fresh bread at 7", caption="Fresh bread at 7",
                              hashtags=(), media_urls=(), link="", title=None)
    before = len(emu.state.requests)
    result = adapter_for(Platform.FACEBOOK).publish(credentials(account), PublishRequest(content=content))
    calls = [(r["method"], r["path"]) for r in list(emu.state.requests)[before:]]
    assert result.external_id and result.url.startswith("https://www.facebook.com/")
    assert len(calls) == 1 and calls[0][0] == "POST" and calls[0][1].endswith("/feed")   # no Page lookup, no GET


def _params(back: dict) -> dict:
    return {"state": back.get("state"), "code": back.get("code"), "error": back.get("error")}


def test_forged_state_refused(world):
    store, service, owner, ws, *_ = world
    with pytest.raises(ConnectError, match="not valid or was already used"):
        service.finish(user_id=owner.id, state="made-up", code="abc")
    assert store.list_accounts(workspace_id=ws.id) == []


def test_replayed_state_refused(world):
    store, service, owner, ws, *_ = world
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.X))
    service.finish(user_id=owner.id, **_params(back))
    with pytest.raises(ConnectError, match="already used"):
        service.finish(user_id=owner.id, **_params(back))


def test_expired_state_refused(world, emu):
    store, service, owner, ws, *_ = world
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.LINKEDIN))
    emu.advance(11 * 60)
    with pytest.raises(ConnectError, match="expired"):
        service.finish(user_id=owner.id, **_params(back))
    assert store.list_accounts(workspace_id=ws.id) == []


def test_someone_elses_state_refused(world):
    store, service, owner, ws, *_ = world
    other = store.add_user(User(email="mallory@example.com"))
    store.set_membership(Membership(user_id=other.id, workspace_id=ws.id, role=Role.EDITOR))
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.TIKTOK))
    with pytest.raises(ConnectError, match="started by someone else"):
        service.finish(user_id=other.id, **_params(back))
    assert store.list_accounts(workspace_id=ws.id) == []
    # The refusal did not use up the owner's attempt: the owner still completes it.
    assert service.finish(user_id=owner.id, **_params(back)).platform == Platform.TIKTOK


def test_the_role_is_checked_again_when_the_connection_completes(world):
    store, service, owner, ws, *_ = world
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.LINKEDIN))
    store.set_membership(Membership(user_id=owner.id, workspace_id=ws.id, role=Role.EDITOR))  # demoted meanwhile
    with pytest.raises(PermissionDenied, match="Editors cannot connect or change accounts; ask an owner"):
        service.finish(user_id=owner.id, **_params(back))
    assert store.list_accounts(workspace_id=ws.id) == []
    assert not [e for e in store.list_events(workspace_id=ws.id) if e.action.startswith("account.")]


def test_only_owners_connect(world):
    store, service, owner, ws, *_ = world
    editor = store.add_user(User(email="ed@example.com"))
    store.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    with pytest.raises(PermissionDenied, match="^Editors cannot connect or change accounts; ask an owner.$"):
        service.start(user_id=editor.id, workspace_id=ws.id, platform=Platform.X)
    # An owner of another workspace is an outsider here, whether named by id or passed as an actor.
    stranger, _ = create_owner(store, email="stranger@example.com", password="a long password",
                               workspace_name="Elsewhere")
    with pytest.raises(PermissionDenied, match="^You are not a member of this workspace.$"):
        service.start(actor=Actor.of(store, stranger.id), workspace_id=ws.id, platform=Platform.X)


def test_a_script_cannot_connect_through_a_consent_page(world):
    store, service, owner, ws, *_ = world
    with pytest.raises(PermissionDenied, match="needs a signed-in person.*system:seed cannot"):
        service.start(actor=Actor.system("seed"), workspace_id=ws.id, platform=Platform.X)


def test_the_dashboard_passes_the_person_as_an_actor(world):
    """What pages/ do: start and finish with the signed-in person's actor; the account is recorded in their name."""
    store, service, owner, ws, *_ = world
    back = consent(service.start(actor=Actor.of(store, owner.id), workspace_id=ws.id, platform=Platform.X))
    account = service.finish(actor=Actor.of(store, owner.id), **_params(back))
    [event] = store.list_events(subject_id=account.id)
    assert event.action == "account.connected" and event.actor == f"user:{owner.id}"


def test_declined_consent_is_explained(world):
    store, service, owner, ws, *_ = world
    back = consent(service.start(user_id=owner.id, workspace_id=ws.id, platform=Platform.FACEBOOK), decision="deny")
    with pytest.raises(ConnectError, match="you chose not to allow access"):
        service.finish(user_id=owner.id, **_params(back))


def test_health_reports_expiry(world, emu):
    store, service, owner, ws, *_ = world
    account = service.finish(user_id=owner.id, **_params(consent(service.start(
        user_id=owner.id, workspace_id=ws.id, platform=Platform.INSTAGRAM))))
    now = emu.state.clock.dt()
    assert account_health(account, now).status == AccountStatus.CONNECTED
    assert account_health(account, now + timedelta(days=55)).status == AccountStatus.EXPIRING
    assert account_health(account, now + timedelta(days=61)).status == AccountStatus.EXPIRED


def test_a_practice_account_without_a_token_is_not_called_connected():
    from core.domain import Account
    from core.domain.timeutil import utcnow
    practice = Account(platform="instagram", handle="@casey")
    health = account_health(practice, utcnow())
    assert health.status == AccountStatus.RECONNECT_NEEDED
    assert health.message.startswith("Not connected") and "Connect Instagram" in health.message
    assert health.practice and health.short == "Not connected"


@pytest.mark.parametrize("message, practice, short", [
    ("Not connected (practice account): use Connect X to publish.", True, "Not connected"),   # added by hand
    ("Not connected, says the platform.", False, "Reconnect needed"),    # the flag decides, not the words
    ("Reconnect needed: X refused the token.", False, "Reconnect needed"),
])
def test_the_short_status_says_not_connected_only_for_a_practice_account(message, practice, short):
    from core.services.connect import Health
    assert Health(AccountStatus.RECONNECT_NEEDED, message, practice=practice).short == short

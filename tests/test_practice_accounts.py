"""Sandbox practice accounts and reconnecting, against the emulator with the SQL store.

"Add a sandbox account" (Posts -> New post) connects the account for real through the emulator's consent page
(Bluesky: its app password), so it publishes like an account connected from Accounts; a handle is in a workspace
once per platform, however it is added; Reconnect updates the account it was pressed on (a practice account added
before adopts the platform's id), and signing in as someone else is refused in words with nothing stored.
"""
from __future__ import annotations

import re

import httpx
import pytest

from core.services.auth import create_owner
from core.services.connect import ConnectError, ConnectService, account_health, credentials
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.domain import Account, AccountStatus, RenderedContent
from core.domain.catalog import Platform
from core.platforms.base import PublishRequest
from core.platforms.registry import build_adapter
from core.infra.secrets import load_keyring
from core.infra.settings import Settings
from core.rules.permissions import Actor
from tests.sandbox_helpers import press_on_consent_page, query_of

sandbox = pytest.importorskip("sandbox")
from sandbox.seed import connect_practice_account, prefill  # noqa: E402


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=5) as emulator:
        yield emulator


class World:
    pass


@pytest.fixture
def w(emu, tmp_path):
    emu.reset(clock=True)
    w = World()
    w.settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=emu.url)
    engine = make_engine(w.settings.database_url)
    upgrade(engine)
    w.store = SqlPostStore(engine, load_keyring(env_value=None, key_file=w.settings.key_file))
    owner, w.ws = create_owner(w.store, email="owner@example.com", password="a long password",
                               workspace_name="Brand")
    w.actor = Actor.of(w.store, owner.id)
    w.client = httpx.Client(timeout=15, trust_env=False)
    w.adapter_for = lambda p: build_adapter(p, w.settings, w.client)
    w.service = ConnectService(w.store, w.adapter_for)
    yield w
    w.client.close()
    engine.dispose()


def add(w, platform, handle):
    return connect_practice_account(w.store, w.settings, actor=w.actor, workspace_id=w.ws.id, platform=platform,
                                    handle=handle)


def accounts(w):
    return w.store.list_accounts(workspace_id=w.ws.id)


def publish(w, account, text="Practice post"):
    content = RenderedContent(platform=account.platform, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    return w.adapter_for(account.platform).publish(credentials(w.store.get_account(account.id)),
                                                   PublishRequest(content=content, media=(), marker="m1"))


@pytest.mark.parametrize("platform", [Platform.X, Platform.LINKEDIN, Platform.BLUESKY])
def test_a_practice_account_is_connected_for_real_and_publishes(w, platform):
    account = add(w, platform, "@acme_shop")
    assert account.status == AccountStatus.CONNECTED and account.oauth_token and account.external_id
    assert account_health(account, account.connected_at).status == AccountStatus.CONNECTED
    assert publish(w, account).external_id
    assert [a.id for a in accounts(w)] == [account.id]


def test_adding_the_same_handle_twice_is_refused_in_words(w):
    first = add(w, Platform.X, "@acme")
    with pytest.raises(ConnectError, match="@acme on X is already in this workspace"):
        add(w, Platform.X, "ACME")
    assert [a.id for a in accounts(w)] == [first.id]
    add(w, Platform.LINKEDIN, "acme")            # the same name on another platform is another account
    assert len(accounts(w)) == 2


def test_a_practice_account_needs_a_handle(w):
    with pytest.raises(ConnectError, match="Enter a handle"):
        add(w, Platform.X, " @!! ")
    assert accounts(w) == []


@pytest.mark.parametrize("platform, typed, handle", [
    (Platform.X, " @Acme Shop! ", "AcmeShop"),                  # letters, digits, dots, dashes and underscores
    (Platform.X, "a" * 40, "a" * 30),                           # at most 30, as the consent page keeps it
    (Platform.X, " @!! ", ""),                                  # nothing usable: refused in words
    (Platform.BLUESKY, "Acme_Shop", "acme-shop.bsky.social"),   # Bluesky: a domain name
    (Platform.BLUESKY, "acme.example", "acme.example"),
])
def test_a_typed_handle_is_kept_as_the_emulator_keeps_it(platform, typed, handle):
    from sandbox.oauth import clean_handle
    from sandbox.seed import practice_handle
    assert practice_handle(platform, typed) == handle
    if platform != Platform.BLUESKY:
        assert handle == clean_handle(typed, "")               # one rule, the emulator's


def test_practice_accounts_exist_only_in_sandbox_mode(w):
    w.settings = Settings(data_dir=w.settings.data_dir, sandbox=False)
    with pytest.raises(ConnectError, match="only in sandbox mode"):
        add(w, Platform.X, "@acme")
    assert accounts(w) == []


def reconnect(w, account, *, as_handle=None):
    """Accounts -> Reconnect: the consent page opens filled in with the account's handle; Allow as `as_handle`
    (what the page says when not given)."""
    url = prefill(w.service.start(actor=w.actor, workspace_id=w.ws.id, platform=account.platform,
                                  account_id=account.id), account)
    page = w.client.get(url)
    shown = re.search(r'name="handle" value="([^"]*)"', page.text).group(1)
    back = query_of(press_on_consent_page(url, handle=as_handle or shown))
    return w.service.finish(actor=w.actor, state=back["state"], code=back["code"])


def test_reconnecting_a_tokenless_practice_account_connects_that_account(w):
    old = w.store.save_account(Account(platform=Platform.X, handle="@casey", workspace_id=w.ws.id))
    done = reconnect(w, old)
    assert done.id == old.id and done.oauth_token and done.external_id
    assert [a.id for a in accounts(w)] == [old.id]
    assert publish(w, done).external_id
    # and it stays that one account when reconnected again
    assert reconnect(w, done).id == old.id and len(accounts(w)) == 1


def test_reconnecting_as_someone_else_is_refused_and_changes_nothing(w):
    mine = add(w, Platform.X, "@acme")
    before = w.store.get_account(mine.id)
    with pytest.raises(ConnectError, match="You signed in as @sandbox_creator on X; sign in as @acme to reconnect it"):
        reconnect(w, mine, as_handle="sandbox_creator")
    assert [a.id for a in accounts(w)] == [mine.id]
    after = w.store.get_account(mine.id)
    assert (after.handle, after.external_id, after.oauth_token) == (before.handle, before.external_id,
                                                                    before.oauth_token)


@pytest.mark.parametrize("platform", [Platform.X, Platform.LINKEDIN, Platform.FACEBOOK, Platform.INSTAGRAM])
def test_reconnect_opens_the_consent_page_as_the_account_and_updates_it(w, platform):
    mine = add(w, platform, "acme_shop")
    again = reconnect(w, mine)             # Allow as the page was filled in
    assert again.id == mine.id and again.external_id == mine.external_id and len(accounts(w)) == 1
    assert [e.action for e in w.store.list_events(subject_id=mine.id)][:1] == ["account.reconnected"]


def test_connecting_a_handle_already_added_by_hand_adopts_that_account(w):
    old = w.store.save_account(Account(platform=Platform.X, handle="@casey", workspace_id=w.ws.id))
    url = w.service.start(actor=w.actor, workspace_id=w.ws.id, platform=Platform.X)
    back = query_of(press_on_consent_page(url, handle="casey"))
    done = w.service.finish(actor=w.actor, state=back["state"], code=back["code"])
    assert done.id == old.id and done.oauth_token and len(accounts(w)) == 1


def test_a_reconnect_of_an_account_removed_meanwhile_is_refused(w):
    other = w.store.add_workspace(w.ws.__class__(name="Other"))
    foreign = w.store.save_account(Account(platform=Platform.X, handle="@x", workspace_id=other.id))
    with pytest.raises(ConnectError, match="no longer in this workspace"):
        w.service.start(actor=w.actor, workspace_id=w.ws.id, platform=Platform.X, account_id=foreign.id)


@pytest.mark.parametrize("platform", [Platform.LINKEDIN, Platform.X, Platform.FACEBOOK])
def test_declining_consent_is_said_in_outposts_words(w, platform):
    url = w.service.start(actor=w.actor, workspace_id=w.ws.id, platform=platform)
    back = query_of(press_on_consent_page(url, handle="acme", decision="deny"))
    with pytest.raises(ConnectError) as refused:
        w.service.finish(actor=w.actor, **{k: back.get(k) for k in ("state", "code", "error", "error_description")})
    said = str(refused.value)
    assert f"{platform.label} was not connected: you chose not to allow access." in said
    assert ".." not in said and "The user denied" not in said
    assert accounts(w) == []


def test_facebook_pages_handle_added_twice_is_refused(w):
    first = add(w, Platform.FACEBOOK, "casey")            # the platform names it "casey.page"
    with pytest.raises(ConnectError, match="already in this workspace; nothing was added"):
        add(w, Platform.FACEBOOK, "casey")
    assert [a.id for a in accounts(w)] == [first.id]


def test_the_posts_popover_adds_a_connected_account_says_so_and_empties_its_form(emu, tmp_path, monkeypatch):
    """Posts -> New post -> Add a sandbox account, as the owner: connected for real, recorded in their name, the
    handle box emptied and "Added @casey on X" said; the same handle again is refused in words."""
    from tests.page_harness import dashboard_store, page_opener
    from core.services.auth import create_owner
    emu.reset(clock=True)
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=emu.url) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand")
        at = page_opener(db, ws.id, "../pages/posts.py")(owner)
        at.selectbox(key="new_acc_platform").select(Platform.X).run()
        at.text_input(key="new_acc_handle").input("@casey")
        at.button(key="new_acc_add").click().run()
        assert not at.exception and not at.error
        [account] = db.list_accounts(workspace_id=ws.id)
        assert account.handle == "@casey" and account.oauth_token and account.external_id
        [event] = [e for e in db.list_events(workspace_id=ws.id) if e.action == "account.connected"]
        assert event.actor == f"user:{owner.id}" and event.subject_id == account.id
        assert any(m.value.startswith("Added @casey on X") for m in at.success)
        assert at.text_input(key="new_acc_handle").value == ""

        at.text_input(key="new_acc_handle").input("casey")
        at.button(key="new_acc_add").click().run()
        assert "@casey on X is already in this workspace" in " ".join(m.value for m in at.error)
        assert len(db.list_accounts(workspace_id=ws.id)) == 1

"""Connect sandbox accounts the way a person does, without a browser: for tests, demos and benchmarks.

Each account goes through Outpost's real OAuth flow (`core.services.connect.ConnectService`): start, the
emulator's consent page answered over HTTP with "Allow", the redirect's code and state handed to
`finish`. The account that lands in the store is exactly what the dashboard would have stored.
Bluesky has no consent page: its accounts sign in with the emulator's app password (`sandbox-app-password`).

`connect_practice_account` is the dashboard's "Add a sandbox account" (Posts -> New post): one account, connected
the same way, so it publishes like any connected account; `prefill` puts an account's handle on a consent page
(reconnecting it signs in as that account unless the person changes it).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from core.services.connect import ConnectError, ConnectService, at_handle, handle_taken
from core.domain import Account
from core.domain.errors import Problem
from core.rules.permissions import Action, Actor, check
from core.domain.catalog import Platform
from core.platforms.registry import build_adapter
from core.infra.settings import Settings
from core.store import PostStore
from sandbox.oauth import clean_handle


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent(browser: httpx.Client, url: str, *, handle: str, decision: str = "allow") -> dict[str, str]:
    """Load the consent page, press the button; the query of the redirect back (code and state, or error)."""
    page = browser.get(url)
    page.raise_for_status()
    answer = browser.post(url.split("?")[0], data={**_query(url), "handle": handle, "decision": decision})
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:200]}")
    return _query(answer.headers["location"])


# Where a practice account keeps the name it signs in with on the emulator's consent page (the platform may call it
# otherwise: a Facebook Page "acme.page", a LinkedIn member "Acme Shop").
SIGN_IN_KEY = "sandbox_sign_in"


def sign_in_name(account: Account) -> str:
    """The name `account` signs in with on the emulator's consent page."""
    kept = (account.meta or {}).get(SIGN_IN_KEY)
    if kept:
        return str(kept)
    name = account.handle.strip().lstrip("@")
    if account.platform == Platform.FACEBOOK and name.endswith(".page"):
        name = name[: -len(".page")]
    elif account.platform == Platform.MASTODON:
        name = name.split("@")[0]
    elif account.platform == Platform.LINKEDIN:
        name = name.lower().replace(" ", "_")
    return name


def prefill(consent_url: str, account: Account) -> str:
    """The emulator's consent page for `consent_url` with its handle box filled in for `account` (reconnecting
    it): Allow signs in as that account unless the person changes the name."""
    return f"{consent_url}&{urlencode({'handle': sign_in_name(account)})}"


def practice_handle(platform: Platform | str, typed: str) -> str:
    """The handle a practice account gets for what was typed ("" when nothing usable was): as the emulator keeps
    it; on Bluesky a domain name ("acme" becomes "acme.bsky.social")."""
    handle = clean_handle(typed, "")          # as the emulator's consent page keeps it
    if handle and Platform.parse(platform) == Platform.BLUESKY:
        handle = handle.replace("_", "-").lower()
        if "." not in handle:
            handle += ".bsky.social"
    return handle


def _already_here(account: Account) -> ConnectError:
    return ConnectError(Problem("handle_taken", f"{at_handle(account.handle)} on {account.platform.label} is already "
                                "in this workspace; nothing was added.", field="handle"))


def connect_practice_account(store: PostStore, settings: Settings, *, actor: Actor, workspace_id: str,
                             platform: Platform | str, handle: str, client: httpx.Client | None = None) -> Account:
    """Add a practice account in sandbox mode, connected for real through the emulator (its consent page answered
    "Allow" over HTTP; Bluesky with its app password), so it publishes like one connected from Accounts.

    Refused in words (ConnectError), with nothing stored: not sandbox mode, no usable handle, the handle already
    in the workspace on that platform, the emulator not answering."""
    platform = Platform.parse(platform)
    check(actor, Action.CONNECT_ACCOUNTS, workspace_id, subject="workspace")
    if not settings.sandbox:
        raise ConnectError(Problem("not_sandbox", "Practice accounts exist only in sandbox mode. Connect a real "
                                   f"account with Connect {platform.label} on Accounts."))
    clean = practice_handle(platform, handle)
    if not clean:
        raise ConnectError(Problem("handle_missing", "Enter a handle for the practice account, such as @yourbrand "
                                   "(letters, digits, dots, dashes and underscores).", field="handle"))
    accounts = store.list_accounts(workspace_id=workspace_id)
    taken = handle_taken(store, workspace_id, platform, clean, accounts=accounts)
    if taken is not None and taken.external_id is not None:
        raise _already_here(taken)
    before = {a.id for a in accounts if a.external_id is not None}
    try:
        [account] = connect_accounts(store, settings, actor=actor, workspace_id=workspace_id, platform=platform,
                                     handles=[clean], client=client)
    except (httpx.HTTPError, RuntimeError) as exc:
        raise ConnectError(Problem("sandbox_unreachable", "The sandbox emulator did not answer, so the practice "
                                   f"account was not added ({type(exc).__name__}). Is it running? ./outpost start "
                                   "starts it.")) from None
    if account.id in before:    # the platform's account for that name was here already (under its own handle)
        raise _already_here(account)
    if platform == Platform.BLUESKY:
        return account
    return store.save_account(replace(account, meta={**dict(account.meta or {}), SIGN_IN_KEY: clean}))


def connect_accounts(store: PostStore, settings: Settings, *, workspace_id: str, platform: Platform | str,
                     handles: Iterable[str], user_id: str | None = None, actor: Actor | None = None,
                     client: httpx.Client | None = None, **account_changes) -> list[Account]:
    """Connect one sandbox account per handle, as `actor` (or the person `user_id`); `account_changes`
    (daily_cap=..., min_gap_minutes=...) are saved on each."""
    own = client is None
    client = client or httpx.Client(timeout=30, trust_env=False)
    try:
        from core.services.connect_password import PasswordConnectService, password_platforms
        from sandbox.config import SandboxConfig
        adapter_for = lambda p: build_adapter(p, settings, client)  # noqa: E731
        service = ConnectService(store, adapter_for)
        with_password = Platform.parse(platform) in password_platforms()          # Bluesky: no consent page
        out = []
        for handle in handles:
            if with_password:
                # Bluesky handles are domain names: no underscores.
                account = PasswordConnectService(store, adapter_for).connect(
                    user_id=user_id, actor=actor, workspace_id=workspace_id, platform=platform,
                    identifier=handle.replace("_", "-"), password=SandboxConfig().bsky_app_password)
            else:
                url = service.start(user_id=user_id, actor=actor, workspace_id=workspace_id, platform=platform)
                back = consent(client, url, handle=handle)
                account = service.finish(user_id=user_id, actor=actor, state=back["state"], code=back["code"])
            if account_changes:
                account = store.save_account(replace(account, **account_changes))
            out.append(account)
        return out
    finally:
        if own:
            client.close()

"""Connect sandbox accounts the way a person does, without a browser: for tests, demos and benchmarks.

Each account goes through Outpost's real OAuth flow (`core.services.connect.ConnectService`): start, the
emulator's consent page answered over HTTP with "Allow", the redirect's code and state handed to
`finish`. The account that lands in the store is exactly what the dashboard would have stored.
Bluesky has no consent page: its accounts sign in with the emulator's app password (`sandbox-app-password`).
"""
from __future__ import annotations

from typing import Iterable
from urllib.parse import parse_qs, urlsplit

import httpx

from core.services.connect import ConnectService
from core.domain import Account
from core.domain.catalog import Platform
from core.platforms.registry import build_adapter
from core.infra.settings import Settings
from core.store import PostStore


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


def connect_accounts(store: PostStore, settings: Settings, *, user_id: str, workspace_id: str,
                     platform: Platform | str, handles: Iterable[str], client: httpx.Client | None = None,
                     **account_changes) -> list[Account]:
    """Connect one sandbox account per handle; `account_changes` (daily_cap=..., min_gap_minutes=...) are saved on each."""
    from dataclasses import replace
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
                    user_id=user_id, workspace_id=workspace_id, platform=platform,
                    identifier=handle.replace("_", "-"), password=SandboxConfig().bsky_app_password)
            else:
                url = service.start(user_id=user_id, workspace_id=workspace_id, platform=platform)
                back = consent(client, url, handle=handle)
                account = service.finish(user_id=user_id, state=back["state"], code=back["code"])
            if account_changes:
                account = store.save_account(replace(account, **account_changes))
            out.append(account)
        return out
    finally:
        if own:
            client.close()

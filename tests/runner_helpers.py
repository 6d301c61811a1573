"""A small world for runner tests: the emulator, a SQLite store, an owner, connected sandbox accounts."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from core.services.auth import create_owner
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.domain import Account, Delivery, Post, Schedule
from core.domain.lifecycle import PostState
from core.infra.secrets import load_keyring
from core.infra.settings import Settings
from core.domain.timeutil import utcnow
from sandbox.seed import connect_accounts

_texts = itertools.count(1)


@dataclass
class World:
    emu: object
    settings: Settings
    store: SqlPostStore
    owner: object
    workspace: object
    client: httpx.Client
    accounts: dict = field(default_factory=dict)

    def connect(self, platform: str, handle: str | None = None, **changes) -> Account:
        handle = handle or f"{platform}_brand_{next(_texts)}"
        account = connect_accounts(self.store, self.settings, user_id=self.owner.id, workspace_id=self.workspace.id,
                                   platform=platform, handles=[handle], client=self.client,
                                   **({"daily_cap": 100, "min_gap_minutes": 0} | changes))[0]
        self.accounts[account.id] = account
        return account

    def post(self, accounts: list[Account] | Account, *, at: datetime | None = None, text: str | None = None,
             recurrence: str | None = None, tz: str = "UTC", media: tuple[str, ...] = (), **extra) -> Post:
        """An approved post stored with its deliveries (no scheduling checks: tests pick the times)."""
        accounts = [accounts] if isinstance(accounts, Account) else list(accounts)
        at = at or utcnow()
        from core.domain import new_id
        post = Post(caption=text or f"Runner test post number {next(_texts)}", accounts=tuple(accounts), id=new_id("post"),
                    schedule=Schedule(scheduled_at=at, timezone_name=tz), workspace_id=self.workspace.id,
                    state=PostState.APPROVED, recurrence=recurrence, media_urls=media, **extra)
        if recurrence:
            from dataclasses import replace
            post = replace(post, series_id=post.id)
        deliveries = [Delivery(post_id=post.id, account_id=a.id, platform=a.platform, due_at=at) for a in accounts]
        return self.store.add_post(post, deliveries)


def make_world(emu, tmp_path, **settings_changes) -> World:
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=emu.url, **settings_changes)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, load_keyring(env_value=None, key_file=settings.key_file))
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    return World(emu=emu, settings=settings, store=store, owner=owner, workspace=ws,
                 client=httpx.Client(timeout=15, trust_env=False))


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")

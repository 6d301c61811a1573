"""A small world for runner tests: the emulator, a SQLite store, an owner, connected sandbox accounts."""
from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from core.services.auth import create_owner
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.db.testing import sqlite_engine
from core.domain import Account, Delivery, Post, Schedule
from core.domain.lifecycle import PostState
from core.infra.secrets import TokenCipher, load_keyring
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
    keyring = load_keyring(env_value=None, key_file=settings.key_file)
    if "database_url" in settings_changes:
        engine = make_engine(settings.database_url)
        upgrade(engine)
        store = SqlPostStore(engine, keyring)
        owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    else:
        # The SQLite file starts as a copy of one migrated with its owner and workspace made once per process
        # (the migrations and a bcrypt hash at the product's cost are the same for every runner test).
        owner_id, ws_id = _owner_template(Path(settings.database_url.removeprefix("sqlite:///")))
        store = SqlPostStore(make_engine(settings.database_url), keyring)
        owner, ws = store.get_user(owner_id), store.get_workspace(ws_id)
    return World(emu=emu, settings=settings, store=store, owner=owner, workspace=ws,
                 client=httpx.Client(timeout=15, trust_env=False))


_TEMPLATE: dict[str, tuple[Path, str, str]] = {}


def _owner_template(path: Path) -> tuple[str, str]:
    """Copy to `path` a SQLite database at head holding the owner and the workspace "Brand": (owner id, ws id)."""
    if "owner" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="outpost-runner-world-"))
        atexit.register(shutil.rmtree, folder, True)
        engine = sqlite_engine(folder / "owner.sqlite")
        try:
            store = SqlPostStore(engine, TokenCipher.generate())    # nothing of the owner's is encrypted
            owner, ws = create_owner(store, email="owner@example.com", password="a long password",
                                     workspace_name="Brand")
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        _TEMPLATE["owner"] = (folder / "owner.sqlite", owner.id, ws.id)
    template, owner_id, ws_id = _TEMPLATE["owner"]
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return owner_id, ws_id


def wait_for(predicate, timeout: float = 45.0, interval: float = 0.05):
    """Poll until `predicate()` is truthy. The bound only matters when the awaited thing never happens: it is generous
    because a runner thread on a loaded 2-core machine can take well over 15 s to get to a post (seen once)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")

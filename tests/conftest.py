"""Shared fixtures: the stores every store contract runs against, a running dashboard and a real browser
(Debian's Chromium via Playwright)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.db.sql_store import SqlPostStore
from core.db.testing import clear_tables, postgres_schema, sqlite_engine
from core.infra.secrets import TokenCipher
from core.store import InMemoryPostStore
from tests.store_contract.world import POSTGRES_URL, SKIP_POSTGRES, T0, Clock

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


# ---------------------------------------------------------------- stores
# `store` is each store in turn (in memory, SQLite, and PostgreSQL when OUTPOST_TEST_POSTGRES_URL is set: each test
# module gets its own schema, each test empty tables), on the controllable `clock`; `kind` says which one it is.
# A module that needs a store of its own defines its own `store` fixture.

@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(scope="module")
def postgres_engine():
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    with postgres_schema(POSTGRES_URL) as engine:
        yield engine


@pytest.fixture(params=[
    "memory",
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]),
])
def kind(request) -> str:
    return request.param


@pytest.fixture
def store(kind, clock, tmp_path, request):
    if kind == "memory":
        yield InMemoryPostStore(clock=clock)
    elif kind == "sqlite":
        engine = sqlite_engine(tmp_path / "outpost.sqlite")
        yield SqlPostStore(engine, TokenCipher.generate(), clock=clock)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        clear_tables(engine)
        yield SqlPostStore(engine, TokenCipher.generate(), clock=clock)


# ---------------------------------------------------------------- the dashboard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s ({last})")


@pytest.fixture(scope="module")
def sandbox_emulator():
    """The platform emulator, in this process, on a free port."""
    from sandbox import Emulator
    with Emulator.start(seed=5) as emu:
        yield emu


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, sandbox_emulator):
    """A real `streamlit run app.py` on a free port with its own data directory; yields its URL."""
    data = tmp_path_factory.mktemp("dashboard-data")
    port = free_port()
    env = {**os.environ, "OUTPOST_DATA_DIR": str(data), "OUTPOST_SANDBOX": "true",
           "OUTPOST_SANDBOX_URL": sandbox_emulator.url, "OUTPOST_DASHBOARD_URL": f"http://127.0.0.1:{port}"}
    env.pop("DATABASE_URL", None)
    log = open(data / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health")
        yield DashboardUrl(f"http://127.0.0.1:{port}", data)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class DashboardUrl(str):
    """The dashboard's URL, carrying its data directory (tests open the same database beside it)."""

    def __new__(cls, url: str, data_dir):
        value = super().__new__(cls, url)
        value.data_dir = data_dir
        return value


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
    # which would break later tests that call asyncio.run().
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium (./outpost test installs it with apt-get as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                     "--disable-background-networking", "--disable-component-update",
                                     "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(20_000)
    yield p
    context.close()

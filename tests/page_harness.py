"""What the AppTest page tests share: the dashboard's own store on a fresh data directory, and a page opened as
someone (the signed-in context app.py would hand the page)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

BERLIN = "Europe/Berlin"


@contextmanager
def dashboard_store(tmp_path, monkeypatch, *, sandbox_url: str | None = "http://127.0.0.1:9") -> Iterator[Any]:
    """`pages.shared.store()` on a SQLite file in `tmp_path` (sandbox mode when `sandbox_url` is given), its
    cached settings and store forgotten before and after."""
    from pages import shared
    monkeypatch.setenv("OUTPOST_DATA_DIR", str(tmp_path))
    if sandbox_url is not None:
        monkeypatch.setenv("OUTPOST_SANDBOX", "true")
        monkeypatch.setenv("OUTPOST_SANDBOX_URL", sandbox_url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    shared.settings.clear()
    shared.store.clear()
    try:
        yield shared.store()
    finally:
        shared.store.clear()
        shared.settings.clear()


@contextmanager
def owner_world(tmp_path, monkeypatch, *, timezone_name: str = BERLIN):
    """The dashboard's store with its first owner and their workspace "Brand": (db, owner, workspace)."""
    from core.services.auth import create_owner
    with dashboard_store(tmp_path, monkeypatch) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand",
                                 timezone_name=timezone_name)
        yield db, owner, ws


def page_opener(db, workspace_id: str, path: str, *, timeout: float = 30) -> Callable[..., Any]:
    """open_as(user, **session_state): the page at `path` (relative to tests/) run as `user` in the workspace as
    stored now, with any extra session state set first (each run given `timeout` seconds)."""
    from streamlit.testing.v1 import AppTest

    from pages import shared

    def open_as(user, **session_state):
        at = AppTest.from_file(path, default_timeout=timeout)
        at.session_state["ctx"] = shared.Context(user=user, workspace=db.get_workspace(workspace_id),
                                                 membership=db.get_membership(user.id, workspace_id))
        for key, value in session_state.items():
            at.session_state[key] = value
        return at.run()

    return open_as

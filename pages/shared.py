"""What every page needs: settings, the store, the signed-in user and workspace. Streamlit glue only."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.domain import Membership, User, Workspace
from core.domain.errors import OutpostError, Problem, ValidationError
from core.rules.permissions import Action, Actor
from core.domain import timeutil
from core.services.views import blocked_rows, data_version
from core.infra.settings import Settings


@st.cache_resource
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource
def store():
    from core.infra.logs import configure_logging
    from core.services.runtime import open_store
    configure_logging(settings().log_level, json_lines=settings().log_json)
    return open_store(settings())


@st.cache_resource
def _http_client():
    import httpx
    return httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False)


def adapter_for(platform):
    """A platform adapter configured from settings (sandbox emulator or the real platform)."""
    from core.platforms.registry import build_adapter
    return build_adapter(platform, settings(), _http_client())


@st.cache_resource
def media_library():
    from core.media.library import MediaLibrary
    return MediaLibrary(settings().media_dir, settings().public_media_url)


def media_checker():
    """Fetches and checks media links (uploads are read from disk); in sandbox mode the local emulator's
    sample media is allowed."""
    from urllib.parse import urlsplit
    from core.media.checks import MediaChecker
    allow = [urlsplit(settings().sandbox_url).netloc] if settings().sandbox else []
    return MediaChecker(allow_hosts=allow, library=media_library())


# The analytics engine is refreshed from the SQL database at most this often when a page asks for it.
ANALYTICS_REFRESH_S = 30.0
_OPENED: list = []      # the engines _analytics opened, so tests can close them


@st.cache_resource
def _analytics():
    """One analytics engine per dashboard process (its DuckDB file in the data directory, or in memory when another
    process holds the file), with when it was last refreshed."""
    import threading
    from core.services.analytics import open_engine
    engine = open_engine(settings())
    _OPENED.append(engine)
    return {"engine": engine, "refreshed": None, "lock": threading.Lock()}


def analytics_engine(*, refresh: bool = False):
    """The dashboard's analytics engine, fed from the SQL database: refreshed when it was last refreshed more than
    ANALYTICS_REFRESH_S ago (incremental: only new rows are read), or now with `refresh=True` (after this page
    wrote something, such as the demo data). Its `version` keys the cached query answers.

    A refresh that fails leaves the engine as it was (the page shows what it read before, and
    `analytics_problem()` says why); the next page that asks tries again."""
    import logging
    import time
    holder = _analytics()
    with holder["lock"]:
        last = holder["refreshed"]
        if refresh or last is None or time.monotonic() - last > ANALYTICS_REFRESH_S:
            try:
                holder["engine"].refresh()
            except Exception as exc:       # the database is busy or gone: keep what was read, say so, try again
                logging.getLogger("outpost.dashboard").exception("Analytics refresh failed")
                holder["problem"] = f"{type(exc).__name__}: {exc}"
            else:
                holder["problem"] = None
                holder["refreshed"] = time.monotonic()
    return holder["engine"]


def analytics_problem() -> str | None:
    """Why the last refresh of the analytics engine failed, or None when it worked."""
    return _analytics().get("problem")


def forget_analytics_engine() -> None:
    """Close and forget the process's analytics engine (tests that change the data directory)."""
    while _OPENED:
        _OPENED.pop().close()
    _analytics.clear()


@dataclass(frozen=True)
class Context:
    user: User
    workspace: Workspace
    membership: Membership
    # The person with their roles in all their workspaces, as app.py read them on this run (a connection that
    # completes here may have been started in another of their workspaces).
    person: Actor | None = None

    @property
    def actor(self) -> Actor:
        """Who acts in core services: this person, with their roles as read on this run (only the current
        workspace's when app.py did not pass them all)."""
        if self.person is not None:
            return self.person
        return Actor.for_user(self.user.id, [self.membership] if self.membership else [])

    def can(self, action: Action) -> bool:
        """Whether to show a control: core refuses it anyway when the role does not allow it."""
        return self.actor.can(action, self.workspace.id)


def context() -> Context:
    """The signed-in user's current workspace; stops the page if there is none (app.py signs people in)."""
    ctx = st.session_state.get("ctx")
    if ctx is None:
        st.stop()
    return ctx


def problem_words(error: OutpostError) -> list[str]:
    """What went wrong, one message per problem (none repeated)."""
    problems: list[Problem] = error.problems if isinstance(error, ValidationError) else []
    return list(dict.fromkeys(p.message for p in problems)) if problems else [str(error)]


def show_problems(error: OutpostError) -> None:
    """Every problem with the input, in plain words."""
    show_messages(problem_words(error))


def show_messages(messages: list[str]) -> None:
    """Problems already in words: one as it is, several as a list."""
    if len(messages) > 1:
        st.error("This needs fixing before it can be saved:\n\n" + "\n".join(f"- {m}" for m in messages))
    else:
        st.error(messages[0])


# No ttl: the minute in the key already ends an answer's use when the minute turns (a write whose event is dated in
# the past, which data_version misses, shows within a minute), and max_entries bounds the memory.
@st.cache_data(max_entries=64, show_spinner=False)
def _blocked(workspace_id: str, tz_name: str, minute, version: str, *, _ctx):
    return blocked_rows(store(), workspace_id, tz_name=tz_name, now=minute, actor=_ctx.actor)


def waiting_for_accounts(ctx) -> list[dict]:
    """core.services.views.blocked_rows for the current workspace, kept while its data version and the minute are
    the same (an account that cannot post can have thousands of planned posts: they are read once, not every run).
    The data version is read with the person's permission on every run, cached answer or not."""
    ws = ctx.workspace
    version = data_version(store(), ws.id, actor=ctx.actor)
    minute = timeutil.utcnow().replace(second=0, microsecond=0)   # read at call time (tests set the clock)
    return _blocked(ws.id, ws.timezone_name, minute, version, _ctx=ctx)

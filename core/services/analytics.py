"""What the Analytics page reads: the named queries, the exports and the SQL box, each for one workspace and told
who acts.

    f = period(ws.id, ws.timezone_name, days=30, today=local_today)        # the last 30 local days
    kpis = run_query(engine, ctx.actor, "overview", f)                           # a DataFrame (core.analytics.queries)
    data = export_csv(engine, ctx.actor, "post_table", f)                  # the same table as CSV bytes
    history = export_parquet(engine, ctx.actor, ws.id)                     # the whole metric history
    answer = run_sql(engine, ctx.actor, ws.id, "SELECT count(*) FROM posts")

Every operation checks `Action.VIEW` on the workspace first (any member reads, a viewer too; someone outside the
workspace is refused with "You are not a member of this workspace." before anything is read): the rule is
core.rules.permissions', the page only lays out what comes back.

Answers are cached per (engine, engine.version, query, filters, extra): a refresh that changed anything gives a
new version, so a cached answer is never staler than the engine. The check runs before the cache is asked, so a
cached answer is never handed to someone who may not read it.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable

import pandas as pd

from core.analytics import definitions, exports, sqlbox
from core.analytics.queries import QUERIES, Filters
from core.domain.errors import Problem, ValidationError
from core.domain.timeutil import zone
from core.rules.permissions import Action, Actor, check

__all__ = ["run_query", "export_csv", "export_parquet", "run_sql"]

PRESETS = (7, 30, 90)             # the period picker's "last N days"
_CACHE_SIZE = 96                   # answers kept per engine (the page asks ~15 per choice of filters)
# One cache per engine (gone with it): answers by (version, query, filters, extra).
_caches: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple, pd.DataFrame]]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _may_read(actor: Actor, workspace_id: str) -> None:
    check(actor, Action.VIEW, workspace_id, subject="workspace")


# ---------------------------------------------------------------- periods

@dataclass(frozen=True)
class Period:
    """A range of local days, both inclusive (what the page's date picker shows)."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def describe(self) -> str:
        if self.first == self.last:
            return f"{self.first:%d %b %Y}"
        same_year = self.first.year == self.last.year
        return f"{self.first:%d %b}{'' if same_year else f' {self.first:%Y}'} – {self.last:%d %b %Y}"


def last_days(days: int, today: date) -> Period:
    """The last `days` local days, today included."""
    if days < 1:
        raise ValidationError(Problem("period", "Choose a period of at least one day.", field="period"))
    return Period(today - timedelta(days=days - 1), today)


def filters_for(workspace_id: str, tz_name: str, period: Period, *, platforms: Iterable[str] = (),
                account_ids: Iterable[str] = (), include_demo: bool = True) -> Filters:
    """The queries' Filters for local days `period` in the workspace's zone: [first 00:00, day after last 00:00)
    as UTC instants (a day across a DST change is 23 or 25 hours, as the calendar says)."""
    if period.last < period.first:
        raise ValidationError(Problem("period", "The period ends before it starts: pick the first day, then the "
                                                "last.", field="period"))
    tz = zone(tz_name)
    start = datetime.combine(period.first, time(0), tz)
    end = datetime.combine(period.last + timedelta(days=1), time(0), tz)
    return Filters(workspace_id=workspace_id, start=start.astimezone(timezone.utc), end=end.astimezone(timezone.utc),
                   tz_name=tz_name, platforms=tuple(sorted(platforms)), account_ids=tuple(sorted(account_ids)),
                   include_demo=include_demo)


# ---------------------------------------------------------------- the operations

def _answer(engine, name: str, f: Filters, extra: dict[str, Any]) -> pd.DataFrame:
    try:
        query = QUERIES[name]
    except KeyError:
        raise ValueError(f"No analytics query named {name!r}; the queries are {', '.join(sorted(QUERIES))}.") from None
    key = (engine.version, name, f, tuple(sorted(extra.items())))
    with _cache_lock:
        answers = _caches.setdefault(engine, OrderedDict())
        if key in answers:
            answers.move_to_end(key)
            return answers[key].copy()
    con = engine.cursor()
    try:
        frame = query(con, f, **extra)
    finally:
        con.close()
    with _cache_lock:
        for old in [k for k in answers if k[0] < engine.version]:     # a refresh changed something: never asked again
            del answers[old]
        answers[key] = frame
        while len(answers) > _CACHE_SIZE:
            answers.popitem(last=False)
    return frame.copy()


def run_query(engine, actor: Actor, name: str, filters: Filters, **extra) -> pd.DataFrame:
    """The named query `name` (core.analytics.queries.QUERIES) for `filters`' workspace, as a DataFrame."""
    _may_read(actor, filters.workspace_id)
    return _answer(engine, name, filters, extra)


def export_csv(engine, actor: Actor, name: str, filters: Filters, **extra) -> bytes:
    """The named query's table as CSV for a spreadsheet (formula-like cells neutralised: core.analytics.exports)."""
    return exports.csv_bytes(run_query(engine, actor, name, filters, **extra))


def export_parquet(engine, actor: Actor, workspace_id: str) -> bytes:
    """The workspace's whole metric history (every snapshot, not only the period) as one Parquet file."""
    _may_read(actor, workspace_id)
    con = engine.cursor()
    try:
        return exports.history_parquet(con, workspace_id)
    finally:
        con.close()


def run_sql(engine, actor: Actor, workspace_id: str, sql: str, **limits):
    """A power user's read-only SELECT over the workspace's analytics tables (core.analytics.sqlbox: one statement,
    no writes, no files or network, a row and a time limit). A refusal is a `sqlbox.SqlBoxError` in plain words."""
    _may_read(actor, workspace_id)
    return sqlbox.run_readonly(engine, workspace_id, sql, **limits)


def forget_answers() -> None:
    """Drop every cached answer (tests; a refresh does not need it: the version changes)."""
    with _cache_lock:
        _caches.clear()


def table_csv(frame: pd.DataFrame) -> bytes:
    """A table the page already holds (read through a permission-checked call) as CSV, formula cells neutralised."""
    return exports.csv_bytes(frame)


def export_filename(workspace_name: str, what: str, ext: str, *, day: date | None = None) -> str:
    """A download's file name: ``sams-bakery-post-table-2026-12-03.csv``."""
    return exports.export_filename(workspace_name, what, ext, day=day)


def sql_tables() -> dict[str, str]:
    """The SQL box's tables and what each holds."""
    return {name: what for name, (what, _) in sqlbox.BOX_TABLES.items()}


def definition(name: str) -> str:
    """What a figure means, in the words shown beside it (core.analytics.definitions, the one place it is said)."""
    return definitions.definition(name).formula


def series_notes(platforms: Iterable[str] = ()) -> list[str]:
    """Where a metric series changes meaning on one of these platforms (all when empty), in words."""
    return [n.note for n in definitions.series_notes(tuple(platforms))]


def open_engine(settings):
    """The dashboard's analytics engine on `settings.database_url`, not yet refreshed: its DuckDB is the file
    `<data dir>/analytics.duckdb`, which only the dashboard opens and which keeps what was read between starts
    (in memory instead when another dashboard process holds it: `engine.mode`, `engine.note` say so)."""
    from core.analytics.engine import FILE_NAME, AnalyticsEngine
    return AnalyticsEngine(settings.database_url, path=settings.data_dir / FILE_NAME)

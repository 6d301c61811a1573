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


def overview_now(f: Filters, now: datetime) -> dict[str, datetime]:
    """The overview's extra argument: `now` to the minute while the period is still running (its figures are then
    compared to date, `Filters.previous`), nothing for a period that is over (its answer stays cached)."""
    if not f.ends_after(now):
        return {}
    # To the minute, but at least the period's first minute: in it, the stretch before is that one minute, never
    # the whole period before.
    return {"now": max(now.astimezone(timezone.utc).replace(second=0, microsecond=0), f.start + timedelta(minutes=1))}


def comparison_words(f: Filters, now: datetime) -> str:
    """What the overview's changes compare, in words: 'the 7 days before', 'the day before', or, for a period
    still running, the stretch so far against the same stretch just before, with both spans' local times."""
    tz = zone(f.tz_name)
    days = round((f.end - f.start) / timedelta(days=1))
    if not f.ends_after(now):
        return "the day before" if days == 1 else f"the {days} days before"
    cut = overview_now(f, now)["now"]
    prev = f.previous(cut)

    def span(a: datetime, b: datetime) -> str:
        a, b = a.astimezone(tz), b.astimezone(tz)
        return f"{a:%d %b %H:%M} – {b:%H:%M}" if a.date() == b.date() else f"{a:%d %b %H:%M} – {b:%d %b %H:%M}"
    return (f"the same stretch just before, as the period is not over: {span(f.start, cut)} (so far) against "
            f"{span(prev.start, prev.end)}")


def change_words(kpi: str, change_pct: float, change_pts: float) -> str | None:
    """A KPI's change as the card shows it: '+2.0 pts' for a rate (percentage points), '+4.3%' otherwise; None
    when not available; '0.0%' / '0.0 pts' without a sign."""
    rate = kpi in definitions.RATE_KPIS
    value = change_pts if rate else change_pct
    if value is None or pd.isna(value):
        return None
    text = f"{value:+.1f}{' pts' if rate else '%'}"
    return text[1:] if text.startswith(("+0.0", "-0.0")) else text


# ---------------------------------------------------------------- top and bottom posts

RANK_SIZE = 5       # posts in the Top and in the Bottom list


@dataclass(frozen=True)
class Ranking:
    """The period's posts ranked by one figure: row labels of `posts`, best first, and what was left out."""

    by: str
    order: tuple
    young: int = 0          # published less than definitions.SETTLE before now: still gathering figures
    unreported: int = 0     # settled, but their platform did not report `by`

    @property
    def one_list(self) -> bool:
        """Too few posts for a Top and a Bottom that do not share posts: one ranked list instead."""
        return len(self.order) < 2 * RANK_SIZE

    @property
    def top(self) -> tuple:
        return self.order[:RANK_SIZE]

    @property
    def bottom(self) -> tuple:
        return tuple(reversed(self.order))[:RANK_SIZE]

    def left_out(self) -> list[str]:
        """Why posts are missing from the ranking, one sentence per reason."""
        what = self.by.replace("_", " ")
        notes = []
        if self.young:
            notes.append(f"{_posts(self.young)} published less than {definitions.SETTLE_WORDS} ago "
                         f"{'is' if self.young == 1 else 'are'} not ranked yet: "
                         f"{'its' if self.young == 1 else 'their'} figures are still growing.")
        if self.unreported:
            notes.append(f"{_posts(self.unreported)} left out: {'its' if self.unreported == 1 else 'their'} "
                         f"platform did not report {what}.")
        return notes


def _posts(n: int) -> str:
    return f"{n:,} post" if n == 1 else f"{n:,} posts"


def rank_posts(posts: pd.DataFrame, by: str, now: datetime) -> Ranking:
    """`posts` (post_table) ranked by `by`, best first, leaving out the posts younger than definitions.SETTLE (their
    figures still grow: a 15-minute-old post is not a bottom post) and those without the figure."""
    if posts.empty:
        return Ranking(by, ())
    young = posts["published_at"] > pd.Timestamp(now) - definitions.SETTLE
    settled = posts[~young]
    ranked = settled.dropna(subset=[by]).sort_values(by, ascending=False, kind="stable")
    return Ranking(by, tuple(ranked.index), young=int(young.sum()), unreported=len(settled) - len(ranked))


# ---------------------------------------------------------------- follower counts

FOLLOWERS_START = ("Follower counts start when an account was connected to Outpost (read once a day from then on); "
                   "the platforms do not give the history before that.")


@dataclass(frozen=True)
class LoneCount:
    """An account with a single follower count in the period: one dot on the chart, said in words."""

    who: str
    day: pd.Timestamp
    followers: int
    first: bool             # no count before it: the account's first (its line starts there)


def lone_counts(followers: pd.DataFrame, label: str = "who") -> list[LoneCount]:
    """The accounts with a single follower count in the period (follower_growth rows); `label` names the column
    naming accounts."""
    known = followers.dropna(subset=["followers"]) if "followers" in followers else followers.iloc[0:0]
    out = []
    for _, rows in known.groupby("account_id", sort=False):
        if len(rows) != 1:
            continue
        row = rows.iloc[0]
        out.append(LoneCount(who=row[label] if label in rows else row.get("handle", row["account_id"]),
                             day=pd.Timestamp(row["day"]), followers=int(row["followers"]),
                             first="change" in rows and pd.isna(row["change"])))
    return out


def follower_notes(followers: pd.DataFrame, label: str = "who") -> list[str]:
    """What the follower chart needs said: where counts start, and, for each account with a single count in the
    period (one dot), that it is its first count or its only one here."""
    notes = [FOLLOWERS_START]
    for lone in lone_counts(followers, label):
        count = f"{lone.followers:,} followers"
        if lone.first:
            notes.append(f"{lone.who}: first count on {lone.day:%d %b %Y} ({count}); the line starts there.")
        else:
            notes.append(f"{lone.who}: one count in this period, on {lone.day:%d %b %Y} ({count}).")
    return notes


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
    """The named query's table as CSV for a spreadsheet (formula-like cells neutralised, times in UTC and in the
    workspace's zone, changes rounded: core.analytics.exports)."""
    frame = run_query(engine, actor, name, filters, **extra)
    return exports.csv_bytes(exports.for_spreadsheet(frame, filters.tz_name))


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

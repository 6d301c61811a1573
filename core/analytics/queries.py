"""The named analytics queries: each answers one question of the dashboard as a DataFrame, in DuckDB SQL.

Every query is ``name(con, f, **extra) -> DataFrame`` with the columns the contract names (the page is built
against them), registered in `QUERIES`. What each figure means is written once in `core.analytics.definitions`
and computed here exactly so:

- A post's figures are its latest snapshot (`arg_max` by ``(taken_at, seq)``); a post is one delivery (one
  post on one account), counted in the period it was *published* in.
- engagements = likes + comments + shares + saves over the parts reported; NULL when none is.
- engagement rate = engagements / reach, or / views where reach is missing or 0 (`rate_basis`).
- Days, weekdays and hours are local to ``Filters.tz_name`` (DuckDB's ICU ``timezone(tz, ts)``), so a post at
  01:30 UTC on the last Sunday of March is a Sunday 03:30 in Berlin, and posts at 00:30 and 01:30 UTC on the
  last Sunday of October are both 02:30 there (the clock said so twice).

Values are always bound as parameters, never formatted into the SQL; a filter that is not set adds no SQL.
Speed: each post's latest figures are kept in `post_figures` (one row per delivery), folded in from new
snapshots by the feed in the transaction that wrote them (`fold_in`), and what its post says (type, origin,
hashtags, caption) in `post_attrs`, both in delivery-key order; so a question reads the few thousand deliveries
of its period and joins their rows there by integer key (DuckDB skips the other row groups), not the ten million
snapshots nor the posts by their text ids. Each account's last follower count per local day is kept the same
way (`follower_days`, folded at refresh in the workspace's zone), so the follower growth of a period of whole
local days reads its few rows only. Where those tables cannot be written, the snapshots are read, pruned
by workspace key and by ``taken_at >= start - 1 day`` (the feed appends them in time order, so DuckDB's zone
maps skip the older row groups), and the posts joined. What is left is DuckDB's fixed cost per statement
(planning, a round trip, the DataFrame): the SQL is kept flat, and on a connection of an engine that knows of
every write (`Writes`: its refresh says when it wrote) a query makes one statement, its SQL (overview three,
post_curve two): no freshness check, the workspace's key kept until the next write. On any other connection a
query first checks in DuckDB that the folded figures are fresh and folds them when not (`fold_latest`). Each
query runs on its own cursor of the caller's connection.
"""
from __future__ import annotations

import contextvars
import functools
import math
import re
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import duckdb
import pandas as pd

from core.analytics.definitions import DEFINITIONS, ON_TIME_SECONDS, RATE_KPIS
from core.analytics.schema import METRICS
from core.domain.errors import Problem, ValidationError
from core.domain.timeutil import to_utc, zone

# A snapshot taken this long before its post's publication is still read (clocks of the runner and of the
# platform may disagree a little); the latest snapshot of a post is always after its publication.
SNAPSHOT_SLACK = timedelta(days=1)
SETTLED = ("published", "failed", "needs_review")


@dataclass(frozen=True)
class Filters:
    """What the dashboard is looking at: a workspace, a period [start, end) in UTC, its zone, and narrowing."""

    workspace_id: str
    start: datetime            # UTC, inclusive  (the period)
    end: datetime              # UTC, exclusive
    tz_name: str = "UTC"       # the workspace's zone (days, weekdays, hours are local)
    platforms: tuple[str, ...] = ()     # empty: all
    account_ids: tuple[str, ...] = ()   # empty: all
    include_demo: bool = True

    def __post_init__(self):
        if not isinstance(self.workspace_id, str) or not self.workspace_id.strip():
            raise ValidationError(Problem("no_workspace", "Choose a workspace to see its analytics.",
                                          field="workspace_id"))
        start, end = to_utc(self.start, "start of the period"), to_utc(self.end, "end of the period")
        if start >= end:
            raise ValidationError(Problem(
                "empty_period", f"The period must end after it starts (it starts {start:%Y-%m-%d %H:%M} UTC and "
                f"ends {end:%Y-%m-%d %H:%M} UTC).", field="end"))
        zone(self.tz_name)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "platforms", tuple(self.platforms or ()))
        object.__setattr__(self, "account_ids", tuple(self.account_ids or ()))

    def previous(self, now: datetime | None = None) -> "Filters":
        """The period of the same length just before this one, otherwise the same filters. With `now` inside the
        period (it ends after now), only the stretch as long as [start, now) from that period's start: today
        00:00 to 10:30 is compared with yesterday 00:00 to 10:30, not with the whole of yesterday."""
        tz = zone(self.tz_name)
        first, after = self.start.astimezone(tz), self.end.astimezone(tz)
        if first.time() == after.time() == datetime.min.time():
            # Whole local days: the same number of days before, from local midnight (across a DST change the
            # UTC length would start it at 01:00 or 23:00), and to date the same local time of day.
            start = datetime.combine(first.date() - (after.date() - first.date()), first.time(), tz)
            end = self.start
            if now is not None and self.ends_after(now):
                local = to_utc(now, "current time").astimezone(tz)
                end = datetime.combine(start.date() + (local.date() - first.date()), local.time(), tz)
            return Filters(self.workspace_id, start, end, self.tz_name, self.platforms, self.account_ids,
                           self.include_demo)
        length = self.end - self.start
        end = self.start
        if now is not None and self.ends_after(now):
            end = self.start - length + (to_utc(now, "current time") - self.start)
        return Filters(self.workspace_id, self.start - length, end, self.tz_name, self.platforms,
                       self.account_ids, self.include_demo)

    def ends_after(self, now: datetime) -> bool:
        """Whether the period is still running at `now` (its figures are the period so far)."""
        return self.start < to_utc(now, "current time") < self.end


# ---------------------------------------------------------------- shared SQL
def _params(con: duckdb.DuckDBPyConnection, f: Filters, lo: datetime | None = None,
            hi: datetime | None = None) -> dict:
    """The bound values every query uses ($wkey, $lo, $hi, $snap_from, $tz, the filters)."""
    lo = f.start if lo is None else lo
    hi = f.end if hi is None else hi
    return {"wkey": _wkey(con, f.workspace_id), "lo": lo, "hi": hi, "snap_from": lo - SNAPSHOT_SLACK,
            "tz": f.tz_name, "platforms": list(f.platforms), "accounts": list(f.account_ids)}


def _wkey(con: duckdb.DuckDBPyConnection, workspace_id: str) -> int:
    """The workspace's integer key (-1 when the engine does not know it): from `Writes` while nothing was
    written since it was read, else asked."""
    writes = _writes.get()
    if writes is not None:
        hit = writes.known(("wkey", workspace_id))
        if hit is not None:
            return hit
        seen = writes.seen()
    rows = con.execute("SELECT wkey FROM workspaces WHERE workspace_id = $w", {"w": workspace_id}).fetchall()
    key = rows[0][0] if rows else -1
    if writes is not None:
        writes.keep(seen, ("wkey", workspace_id), key)
    return key


# ---------------------------------------------------------------- what the queries know without asking DuckDB
class Writes:
    """What the queries of one analytics database may take as known without asking DuckDB: every writer of it
    says when it wrote (`wrote`), and leaves the derived tables (`post_figures`, `post_attrs`) consistent with
    the rest in the same transaction (`fold_in`). The engine's refresh does both; a caller that writes the tables
    itself (a benchmark, a test) calls `AnalyticsEngine.tables_written()`.

    While `trusted`, a query neither checks that the folded figures are fresh (two statements) nor looks up the
    workspace's key (one statement) more than once per write: one statement per query is left. Before the first
    announced write (an engine read from a file, or filled by hand without saying so) it is not trusted: every
    query checks in DuckDB and folds, as a query on any connection not handed out by an engine does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self.trusted = False
        self._known: dict[tuple, object] = {}

    def seen(self) -> int:
        return self._count

    def wrote(self, *, folded: bool) -> None:
        """Something was written and committed; `folded`: the derived tables were brought up to date with it
        (in the same transaction), so the queries may trust them from now on."""
        with self._lock:
            self._count += 1
            self._known = {}
            self.trusted = folded

    def known(self, key: tuple, default=None):
        """A fact read since the last write (a workspace's key, the zone its follower days are folded in)."""
        return self._known.get(key, default)

    def keep(self, seen: int, key: tuple, value) -> None:
        """Keep `value` as known, unless something was written since it was read (`seen`)."""
        with self._lock:
            if seen == self._count:
                self._known[key] = value


_registry: "weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Writes]" = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()
# The Writes of the connection the running named query was given (set by `_named`, per thread).
_writes: contextvars.ContextVar[Writes | None] = contextvars.ContextVar("analytics_writes", default=None)


def register(con: duckdb.DuckDBPyConnection, writes: Writes) -> duckdb.DuckDBPyConnection:
    """Name the `Writes` of the database `con` is a connection to (the engine does it for the cursors it hands
    out); returns `con`."""
    with _registry_lock:
        _registry[con] = writes
    return con


def _writes_of(con: duckdb.DuckDBPyConnection) -> Writes | None:
    with _registry_lock:
        return _registry.get(con)


# The filters become SQL conditions only when set (DuckDB plans a shorter query faster); values stay bound.
def _aw(f: Filters, alias: str = "a") -> str:
    """Conditions on an account (alias `alias`, columns platform and account_id) from the filters."""
    out = ""
    if f.platforms:
        out += f" AND list_contains($platforms::VARCHAR[], {alias}.platform)"
    if f.account_ids:
        out += f" AND list_contains($accounts::VARCHAR[], {alias}.account_id)"
    return out


def _demo(f: Filters, alias: str) -> str:
    return "" if f.include_demo else f" AND NOT coalesce({alias}.is_demo, false)"


def _dw(f: Filters) -> str:
    """Deliveries (alias d) of the workspace that pass the filters."""
    return "d.wkey = $wkey" + _aw(f, "d") + _demo(f, "d")

ENGAGEMENT_PARTS = ("likes", "comments", "shares", "saves")


def _engagements(prefix: str = "") -> str:
    """SQL for engagements: the sum of the parts reported, NULL when none is."""
    parts = [prefix + c for c in ENGAGEMENT_PARTS]
    return (f"CASE WHEN {' AND '.join(f'{c} IS NULL' for c in parts)} THEN NULL "
            f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in parts)} END")



# ---------------------------------------------------------------- each post's latest figures
# A snapshot's place in time: (taken_at, seq) as one number, so that one `max`/`arg_max` finds the latest.
_ORDER_KEY = "((epoch_us(taken_at)::HUGEINT << 64) + seq)"
# Each post's figures, with engagements and the rate computed once (the definitions, in SQL).
FIGURES = (*METRICS, "engagements", "rate_base", "rate_basis", "engagement_rate")


def _latest_select(where: str) -> str:
    """Each delivery's latest snapshot among the post_snapshots rows `where` selects, and what follows from it."""
    return f"""
SELECT dkey, wkey, k, {", ".join(METRICS)}, engagements,
       CASE WHEN engagements IS NOT NULL THEN base END AS rate_base,
       CASE WHEN engagements IS NOT NULL AND base IS NOT NULL THEN basis END AS rate_basis,
       CASE WHEN engagements IS NOT NULL THEN engagements / base END AS engagement_rate
FROM (SELECT *, {_engagements()} AS engagements,
             CASE WHEN reach > 0 THEN reach WHEN views > 0 THEN views END AS base,
             CASE WHEN reach > 0 THEN 'reach' WHEN views > 0 THEN 'views' END AS basis
      FROM (SELECT dkey, any_value(wkey) AS wkey, max({_ORDER_KEY}) AS k,
                   {", ".join(f"arg_max_null({m}, {_ORDER_KEY}) AS {m}" for m in METRICS)}
            FROM post_snapshots {where} GROUP BY dkey))"""


LATEST_DDL = f"""
CREATE TABLE IF NOT EXISTS post_figures (dkey INTEGER, wkey INTEGER, k HUGEINT,
    {", ".join(f"{m} BIGINT" for m in METRICS)}, engagements BIGINT, rate_base BIGINT, rate_basis VARCHAR,
    engagement_rate DOUBLE);
CREATE TABLE IF NOT EXISTS post_figures_state (snapshots BIGINT, deliveries BIGINT, max_seq BIGINT,
    probe_dkey INTEGER, probe_id VARCHAR);
CREATE TABLE IF NOT EXISTS post_attrs (dkey INTEGER, p_wkey INTEGER, content_type VARCHAR, is_ai_generated BOOLEAN,
    p_demo BOOLEAN, caption VARCHAR, media_url VARCHAR, hashtags VARCHAR, tags VARCHAR[]);
CREATE TABLE IF NOT EXISTS post_attrs_state (deliveries BIGINT, posts BIGINT);
CREATE TABLE IF NOT EXISTS follower_days (wkey INTEGER, akey INTEGER, real BOOLEAN, day DATE, k HUGEINT,
    followers BIGINT, prev BIGINT);
CREATE TABLE IF NOT EXISTS follower_days_state (snapshots BIGINT, max_seq BIGINT);
CREATE TABLE IF NOT EXISTS follower_zones (wkey INTEGER, tz VARCHAR, known BOOLEAN);"""
# What each delivery's post says (its row in `post_attrs`, by delivery key): the queries that group or list by
# what was posted read it by integer key instead of joining ten thousands of posts by their text ids. Extended
# when deliveries or posts were added (rows of new deliveries, and of deliveries whose post had not arrived);
# the feed updates the rows of the posts it changed (`post_attrs_update`); rebuilt whole when the folded figures
# are (delivery keys may be new) or someone said posts changed in place (`post_attrs_stale`).
POST_ATTRS = {"p_wkey": "p.wkey", "content_type": "p.content_type", "is_ai_generated": "p.is_ai_generated",
              "p_demo": "p.is_demo", "caption": "p.caption", "media_url": "p.media_url",
              # as the post table shows them: '#launch #sale'
              "hashtags": "array_to_string(list_transform(p.hashtags, lambda t: '#' || ltrim(t, '#')), ' ')",
              # each once, case folded, for the hashtag table
              "tags": "list_distinct(list_filter(list_transform(p.hashtags, lambda t: lower(ltrim(t, '#'))), "
                      "lambda t: t <> ''))"}


def post_attrs_stale(con: duckdb.DuckDBPyConnection) -> None:
    """Say that posts changed in place in ways nobody told `post_attrs_update`: the next query rebuilds `post_attrs`."""
    con.execute(LATEST_DDL)
    con.execute("DELETE FROM post_attrs_state")
    con.execute("DELETE FROM follower_days_state")      # account keys may be new too


def post_attrs_update(con: duckdb.DuckDBPyConnection, changed: str) -> None:
    """Bring the `post_attrs` rows of the posts in table `changed` (posts' columns) up to date (the feed calls it
    in its transaction for the posts it wrote)."""
    con.execute(LATEST_DDL)
    sets = ", ".join(f"{a} = x.{a}" for a in POST_ATTRS)
    con.execute(f"""UPDATE post_attrs SET {sets}
                    FROM (SELECT d.dkey, {", ".join(f"{c} AS {a}" for a, c in POST_ATTRS.items())}
                          FROM {changed} p JOIN deliveries d ON d.post_id = p.post_id) x
                    WHERE post_attrs.dkey = x.dkey""")
_fold_lock = threading.Lock()


def fold_in(con: duckdb.DuckDBPyConnection) -> str:
    """`fold_latest` inside the caller's open transaction (the feed's, after it wrote): readers see the new rows
    and the figures folded from them together, or neither."""
    with _fold_lock:
        con.execute(LATEST_DDL)
        return _fold(con)


def fold_latest(con: duckdb.DuckDBPyConnection) -> str:
    """Bring `post_figures` (each delivery's latest snapshot and its derived figures) up to date; say what it did.

    The feed only appends snapshots, so new rows are those past the highest `seq` folded, and their number is
    how much the table grew: those are folded in (a post's row replaced when a new snapshot is later). Anything
    else rebuilds it from every snapshot: the table shrank, or deliveries did, or the highest delivery key now
    names another delivery (the feed rebuilt everything after a deletion and may have given new keys); or rows
    arrived below the mark (PostgreSQL's late commits). Checking costs two row counts (DuckDB keeps them) and
    one lookup by key; a query calls it unless its engine said the tables are folded (`Writes`). Returns 'fresh',
    'folded' or 'rebuilt'.
    """
    with con.cursor() as cur:             # its own connection: its own transaction, whatever the caller's state
        try:                              # the usual case, read only: nothing new since the last fold
            if _quick_fresh(cur):
                return "fresh"
        except duckdb.CatalogException:   # the first query on this database: the tables are not there yet
            pass
        with _fold_lock:
            cur.execute(LATEST_DDL)
            cur.execute("BEGIN TRANSACTION")
            try:
                outcome = _fold(cur)
                cur.execute("COMMIT")
                return outcome
            except BaseException:
                cur.execute("ROLLBACK")
                raise


def _state(con: duckdb.DuckDBPyConnection) -> tuple:
    """(snapshots now, deliveries now, (snapshots, deliveries, max_seq) folded or None, keys unchanged,
    post_attrs' (deliveries, posts) counts against now's: equal when up to date, None when to be rebuilt)."""
    n_snap = con.execute("SELECT count(*) FROM post_snapshots").fetchall()[0][0]
    n_del = con.execute("SELECT count(*) FROM deliveries").fetchall()[0][0]
    n_posts = con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
    rows = con.execute("SELECT s.snapshots, s.deliveries, s.max_seq, s.probe_dkey, s.probe_id, a.deliveries, a.posts "
                       "FROM post_figures_state s LEFT JOIN post_attrs_state a ON true").fetchall()
    if not rows:
        return n_snap, n_del, None, False, None
    snapshots, deliveries, max_seq, probe_dkey, probe_id, a_del, a_posts = rows[0]
    now = con.execute("SELECT delivery_id FROM deliveries WHERE dkey = $k", {"k": probe_dkey}).fetchall()
    return (n_snap, n_del, (snapshots, deliveries, max_seq), (now[0][0] if now else None) == probe_id,
            None if a_del is None else ((a_del, a_posts), (n_del, n_posts)))


def _quick_fresh(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether nothing changed since the last fold, in two statements (every query asks): the counts and the
    marks in one (a cross join of one-row tables plans faster than scalar subqueries; no row when either mark
    is missing), then the lookup of the probe's key."""
    rows = con.execute(f"""SELECT * FROM (SELECT count(*) FROM post_snapshots), (SELECT count(*) FROM deliveries),
        (SELECT count(*) FROM posts), post_figures_state s, post_attrs_state a,
        (SELECT count(*) FROM account_snapshots), follower_days_state fs, (SELECT count(*) FROM ({_ZONES_CHANGED}))
        """).fetchall()
    if not rows:
        return False
    (n_snap, n_del, n_posts, snapshots, deliveries, max_seq, probe_dkey, probe_id, a_del, a_posts,
     n_fol, fol_snapshots, _fol_seq, zones_changed) = rows[0]
    if not (n_snap == snapshots and n_del >= deliveries and (a_del, a_posts) == (n_del, n_posts)
            and n_fol == fol_snapshots and not zones_changed):
        return False
    now = con.execute("SELECT delivery_id FROM deliveries WHERE dkey = $k", {"k": probe_dkey}).fetchall()
    return (now[0][0] if now else None) == probe_id


_PROBE = "(SELECT dkey FROM deliveries ORDER BY dkey DESC LIMIT 1)"


def _fresh(n_snap: int, n_del: int, mark: tuple | None, same_keys: bool, attrs=((0, 0), (0, 0))) -> bool:
    return (mark is not None and same_keys and n_snap == mark[0] and n_del >= mark[1] and attrs is not None
            and attrs[0] == attrs[1])


def _fold(con: duckdb.DuckDBPyConnection) -> str:
    followers = _fold_followers(con)
    n_snap, n_del, mark, same_keys, attrs = _state(con)
    if _fresh(n_snap, n_del, mark, same_keys, attrs):
        return "folded" if followers else "fresh"
    outcome = _fold_figures(con, n_snap, n_del, mark, same_keys)
    if outcome == "rebuilt" or attrs is None:       # rebuilt: the delivery keys may be new
        con.execute("DELETE FROM post_attrs")
        _extend_attrs(con)
    elif attrs[0] != attrs[1]:
        _extend_attrs(con)
    return "folded" if outcome == "fresh" else outcome


def _extend_attrs(con: duckdb.DuckDBPyConnection) -> None:
    """Rows for the deliveries post_attrs does not have yet, and again for those whose post was not there."""
    cols = ", ".join(POST_ATTRS.values())
    con.execute(f"""INSERT INTO post_attrs SELECT d.dkey, {cols} FROM deliveries d
                    ANTI JOIN post_attrs a ON a.dkey = d.dkey LEFT JOIN posts p ON p.post_id = d.post_id
                    ORDER BY d.dkey""")
    sets = ", ".join(f"{a} = x.{a}" for a in POST_ATTRS)
    con.execute(f"""UPDATE post_attrs SET {sets}
                    FROM (SELECT m.dkey, {", ".join(f"{c} AS {a}" for a, c in POST_ATTRS.items())}
                          FROM (SELECT a.dkey, d.post_id FROM post_attrs a JOIN deliveries d ON d.dkey = a.dkey
                                WHERE a.p_wkey IS NULL) m JOIN posts p ON p.post_id = m.post_id) x
                    WHERE post_attrs.dkey = x.dkey""")
    con.execute("DELETE FROM post_attrs_state")
    con.execute("INSERT INTO post_attrs_state SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM posts)")


def _fold_figures(con: duckdb.DuckDBPyConnection, n_snap: int, n_del: int, mark: tuple | None,
                  same_keys: bool) -> str:
    if _fresh(n_snap, n_del, mark, same_keys):
        return "fresh"
    if mark is not None and same_keys and n_snap > mark[0] and n_del >= mark[1]:
        new, top = con.execute("SELECT count(*), max(seq) FROM post_snapshots WHERE seq > $m",
                               {"m": mark[2]}).fetchone()
        if new == n_snap - mark[0]:
            con.execute("CREATE OR REPLACE TEMP TABLE post_figures_new AS " + _latest_select("WHERE seq > $m"),
                        {"m": mark[2]})
            con.execute("DELETE FROM post_figures USING post_figures_new n "
                        "WHERE post_figures.dkey = n.dkey AND n.k > post_figures.k")
            con.execute("INSERT INTO post_figures SELECT n.* FROM post_figures_new n "
                        "ANTI JOIN post_figures l ON l.dkey = n.dkey ORDER BY n.dkey")
            con.execute("DROP TABLE post_figures_new")
            con.execute(f"""UPDATE post_figures_state SET snapshots = $s, deliveries = $d, max_seq = $m,
                probe_dkey = {_PROBE}, probe_id = (SELECT delivery_id FROM deliveries WHERE dkey = {_PROBE})""",
                        {"s": n_snap, "d": n_del, "m": max(top, mark[2])})
            return "folded"
    con.execute("DELETE FROM post_figures")
    con.execute("INSERT INTO post_figures " + _latest_select("") + " ORDER BY dkey")
    con.execute("DELETE FROM post_figures_state")
    con.execute(f"""INSERT INTO post_figures_state SELECT $s, $d, coalesce(max(seq), 0), {_PROBE},
                    (SELECT delivery_id FROM deliveries WHERE dkey = {_PROBE}) FROM post_snapshots""",
                {"s": n_snap, "d": n_del})
    return "rebuilt"


# ---------------------------------------------------------------- each account's last follower count per local day
# `follower_days`: per workspace, account and local day (in the workspace's zone, `follower_zones`) the day's last
# follower count (by (taken_at, seq)) and the last one of the account's day before (`prev`): the follower growth
# reads a period's few rows instead of every count of the history. Two variants: `real` false counts every row,
# true leaves demo rows out (a period without demo data). Folded with the post figures (`_fold`): new counts
# (seq past the mark) replace a day's figure when later and the accounts' `prev` are computed again; a workspace
# whose zone changed (or a new one) is rebuilt; counts arriving below the mark, fewer counts than folded, or a
# feed that read everything again (`post_attrs_stale`) rebuild it all.
_ZONES_CHANGED = """SELECT w.wkey FROM workspaces w ANTI JOIN follower_zones z
    ON z.wkey = w.wkey AND z.tz IS NOT DISTINCT FROM w.timezone_name"""


def _follower_rows(where: str = "") -> str:
    """Each (workspace, account, variant, local day)'s last count among the account_snapshots rows `where` keeps;
    workspaces whose zone DuckDB does not know get none (their queries read the counts themselves)."""
    return f"""SELECT s.wkey, s.akey, r.real, CAST(timezone(z.tz, s.taken_at) AS DATE) AS day,
       max({_ORDER_KEY}) AS k, arg_max(s.followers, {_ORDER_KEY}) AS followers
FROM account_snapshots s JOIN follower_zones z ON z.wkey = s.wkey AND z.known
     CROSS JOIN (VALUES (false), (true)) r(real)
WHERE s.followers IS NOT NULL AND (NOT r.real OR NOT coalesce(s.is_demo, false)){where}
GROUP BY ALL"""


_FOLLOWER_PREV = "lag(followers) OVER (PARTITION BY wkey, akey, real ORDER BY day)"


def _rebuild_followers(con: duckdb.DuckDBPyConnection, wkeys: list[int] | None) -> None:
    """Every follower day again, of the workspaces `wkeys` (None: all)."""
    cond = "" if wkeys is None else " AND list_contains($w, s.wkey)"
    params = {} if wkeys is None else {"w": wkeys}
    con.execute("DELETE FROM follower_days" + ("" if wkeys is None else " WHERE list_contains($w, wkey)"), params)
    con.execute(f"""INSERT INTO follower_days SELECT wkey, akey, real, day, k, followers, {_FOLLOWER_PREV}
                    FROM ({_follower_rows(cond)}) ORDER BY wkey, day, akey, real""", params)


def _fold_followers(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring `follower_days` up to date with account_snapshots and the workspaces' zones; whether it changed."""
    n, = con.execute("SELECT count(*) FROM account_snapshots").fetchone()
    state = con.execute("SELECT snapshots, max_seq FROM follower_days_state").fetchall()
    zones = [r[0] for r in con.execute(_ZONES_CHANGED).fetchall()]
    if state and n == state[0][0] and not zones:
        return False
    if zones:
        con.execute("DELETE FROM follower_zones")
        con.execute("INSERT INTO follower_zones SELECT wkey, timezone_name, "
                    "timezone_name IN (SELECT name FROM pg_timezone_names()) FROM workspaces")
    top = state[0][1] if state else 0
    if not state or n < state[0][0]:
        zones = None                              # all of it
    elif n > state[0][0]:
        new, new_top = con.execute("SELECT count(*), max(seq) FROM account_snapshots WHERE seq > $m",
                                   {"m": top}).fetchone()
        if new != n - state[0][0]:                # rows arrived below the mark (a late commit): all again
            zones = None
        else:
            top = max(top, new_top)
            con.execute("CREATE OR REPLACE TEMP TABLE follower_new AS " + _follower_rows(" AND s.seq > $m"),
                        {"m": state[0][1]})
            same = ("follower_days.wkey = n.wkey AND follower_days.akey = n.akey AND follower_days.real = n.real "
                    "AND follower_days.day = n.day")
            con.execute(f"UPDATE follower_days SET k = n.k, followers = n.followers FROM follower_new n "
                        f"WHERE {same} AND n.k > follower_days.k")
            con.execute(f"INSERT INTO follower_days SELECT n.wkey, n.akey, n.real, n.day, n.k, n.followers, NULL "
                        f"FROM follower_new n WHERE NOT EXISTS (SELECT 1 FROM follower_days WHERE {same}) "
                        f"ORDER BY n.wkey, n.day, n.akey, n.real")
            # The day before may have changed for any later day of these accounts.
            con.execute(f"""UPDATE follower_days SET prev = x.prev
                FROM (SELECT wkey, akey, real, day, {_FOLLOWER_PREV} AS prev FROM follower_days
                      WHERE akey IN (SELECT akey FROM follower_new)) x
                WHERE follower_days.wkey = x.wkey AND follower_days.akey = x.akey AND follower_days.real = x.real
                  AND follower_days.day = x.day AND follower_days.prev IS DISTINCT FROM x.prev""")
            con.execute("DROP TABLE follower_new")
    if zones is None:
        top = con.execute("SELECT coalesce(max(seq), 0) FROM account_snapshots").fetchone()[0]
        _rebuild_followers(con, None)
    elif zones:
        _rebuild_followers(con, zones)
    con.execute("DELETE FROM follower_days_state")
    con.execute("INSERT INTO follower_days_state VALUES ($n, $m)", {"n": n, "m": top})
    return True


# Set by the benchmark to time the queries without the folded table (the snapshots read every time).
USE_FOLDED = True


def _figures(con: duckdb.DuckDBPyConnection, f: Filters, extra_cols: str = "", post: tuple[str, ...] = ()) -> str:
    """CTE `pf`: the deliveries published in [$lo, $hi) that pass the filters, each with its latest figures
    and the `post` attributes of its post (names of `POST_ATTRS`; NULL where the post is not there).

    From `post_figures` and `post_attrs`, kept up to date here; where they cannot be written (a read-only
    database), from the snapshots themselves, read from `$snap_from` on (zone maps skip the older row groups),
    and from the posts.
    """
    cols = f"d.dkey, d.delivery_id, d.post_id, d.account_id, d.platform, d.published_at{extra_cols}"
    where = f"{_dw(f)} AND d.state = 'published' AND d.published_at >= $lo AND d.published_at < $hi"
    figures = ", ".join(f"l.{c}" for c in FIGURES)
    if USE_FOLDED:
        try:
            writes = _writes.get()
            if writes is None or not writes.trusted:
                fold_latest(con)
            attrs = "".join(f", pa.{a}" for a in post)
            join = " LEFT JOIN post_attrs pa ON pa.dkey = d.dkey" if post else ""
            # The period's deliveries first (a few thousand): DuckDB then builds its hash table on them and
            # skips the row groups of post_figures / post_attrs outside their keys (both are in key order). By
            # key alone: a snapshot carries its delivery's workspace (the feed writes it so), and a condition on
            # post_figures' workspace makes DuckDB build on the tens of thousands of that workspace instead.
            return f"""pf AS (SELECT {cols.replace("d.", "d_.")}, {figures}{attrs}
    FROM (SELECT * FROM deliveries d WHERE {where}) d_ LEFT JOIN post_figures l ON l.dkey = d_.dkey
    {join.replace("d.dkey", "d_.dkey")})"""
        except duckdb.Error:
            pass
    raw = _latest_select("s SEMI JOIN pd_ ON s.dkey = pd_.dkey WHERE s.wkey = $wkey AND s.taken_at >= $snap_from")
    attrs = "".join(f", {POST_ATTRS[a]} AS {a}" for a in post)
    join = " LEFT JOIN posts p ON p.post_id = d.post_id" if post else ""
    return f"""pd_ AS (SELECT {cols}{attrs} FROM deliveries d{join} WHERE {where}),
pf AS (SELECT pd_.*, {figures} FROM pd_ LEFT JOIN ({raw}) l ON l.dkey = pd_.dkey)"""


# Pooled rate of a group: sum of engagements / sum of bases, over posts with a rate.
_POOLED_RATE = "sum(engagements) FILTER (WHERE rate_base IS NOT NULL) / sum(rate_base)"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict, arrow: bool = False) -> pd.DataFrame:
    """Run `sql` with the parameters it names (DuckDB refuses unused ones) and take the result as a DataFrame:
    straight from the result (`df()`, cheapest for the few rows most queries answer with) or, for a long, wide
    answer (`arrow=True`), through Arrow."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    bound = {k: v for k, v in params.items() if k in used}
    if arrow:
        return con.sql(sql, params=bound).to_arrow_table().to_pandas()
    return con.execute(sql, bound).df()


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    """The rows of `sql` as dicts, for a query that reads a few rows itself (no DataFrame built: ~1 ms each)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    result = con.execute(sql, {k: v for k, v in params.items() if k in used})
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict, columns: list[str],
         arrow: bool = False) -> pd.DataFrame:
    df = _fetch(con, sql, params, arrow)
    if list(df.columns) != columns:      # the SQL names them in order: no copy of the frame in the usual case
        df = df[columns].reset_index(drop=True)
    return df


def _local_date(df: pd.DataFrame, col: str = "day") -> pd.DataFrame:
    if len(df):
        df[col] = pd.to_datetime(df[col]).dt.date
    else:
        df[col] = pd.Series([], dtype=object)
    return df


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


# ---------------------------------------------------------------- the queries
def _named(query: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """A named query runs on its own cursor: the caller's connection (an unread result, an open transaction)
    never gets in its way, and it leaves nothing on it."""
    @functools.wraps(query)
    def run(con: duckdb.DuckDBPyConnection, f: Filters, **extra) -> pd.DataFrame:
        if not isinstance(f, Filters):
            raise TypeError(f"{query.__name__} needs Filters, not {type(f).__name__}")
        token = _writes.set(_writes_of(con))
        try:
            with con.cursor() as cur:
                return query(cur, f, **extra)
        finally:
            _writes.reset(token)
    return run


_KPIS = ("followers", "reach", "views", "engagements", "engagement_rate", "posts_published", "success_rate")


@_named
def overview(con: duckdb.DuckDBPyConnection, f: Filters, now: datetime | None = None, **_) -> pd.DataFrame:
    """One row per KPI: this period's value, the previous period's, the change (in percent; for a rate in
    percentage points), its definition. With `now` inside the period, the previous figures are those of the
    same stretch to date (`Filters.previous`)."""
    prev = f.previous(now)
    p = _params(con, f, lo=prev.start, hi=f.end)
    p["mid"] = f.start
    p["prev_end"] = prev.end
    posts = _records(con, f"""
WITH {_figures(con, f)}
SELECT (published_at >= $mid) AS cur, count(*) AS posts_published,
       sum(reach)::DOUBLE AS reach, count(reach) AS n_reach,
       sum(views)::DOUBLE AS views, count(views) AS n_views,
       sum(engagements)::DOUBLE AS engagements, count(engagements) AS n_eng,
       ({_POOLED_RATE})::DOUBLE AS engagement_rate,
       count(*) FILTER (WHERE rate_basis = 'reach') AS n_rate_reach,
       count(*) FILTER (WHERE rate_basis = 'views') AS n_rate_views
FROM pf WHERE published_at >= $mid OR published_at < $prev_end GROUP BY ALL""", p)
    rel = _records(con, f"""
SELECT (d.due_at >= $mid) AS cur,
       count(*) FILTER (WHERE d.state = 'published') AS published,
       count(*) FILTER (WHERE d.state IN ('published', 'failed', 'needs_review')) AS settled
FROM deliveries d WHERE {_dw(f)} AND d.due_at >= $lo AND d.due_at < $hi
  AND (d.due_at >= $mid OR d.due_at < $prev_end) GROUP BY ALL""", p)
    fol = _records(con, f"""
WITH acc AS (SELECT a.akey FROM accounts a WHERE a.wkey = $wkey{_aw(f)}),
l AS (SELECT akey, arg_max(followers, {_ORDER_KEY}) AS at_end,
             arg_max(followers, {_ORDER_KEY}) FILTER (WHERE taken_at < $prev_end) AS at_start
      FROM account_snapshots s SEMI JOIN acc ON acc.akey = s.akey
      WHERE s.wkey = $wkey AND s.followers IS NOT NULL AND s.taken_at < $hi{_demo(f, "s")} GROUP BY akey)
SELECT true AS cur, sum(at_end)::DOUBLE AS followers, count(at_end) AS n FROM l
UNION ALL
SELECT false AS cur, sum(at_start)::DOUBLE AS followers, count(at_start) AS n FROM l""", p)

    by_cur = {name: {bool(r["cur"]): r for r in records}
              for name, records in (("posts", posts), ("rel", rel), ("fol", fol))}

    def pick(frame: str, cur: bool, col: str, default=math.nan):
        value = by_cur[frame].get(cur, {}).get(col)
        return default if value is None or pd.isna(value) else value

    rows = []
    for kpi in _KPIS:
        values, basis = [], ""
        for cur in (True, False):
            if kpi == "followers":
                values.append(float(pick("fol", cur, "followers")))
                if cur:
                    basis = f"{int(pick('fol', True, 'n', 0))} accounts with a follower count"
            elif kpi == "posts_published":
                values.append(float(pick("posts", cur, "posts_published", 0)))
            elif kpi == "success_rate":
                settled = pick("rel", cur, "settled", 0)
                values.append(pick("rel", cur, "published", 0) / settled if settled else math.nan)
                if cur:
                    basis = f"{int(settled)} posts due and settled"
            elif kpi == "engagement_rate":
                values.append(float(pick("posts", cur, "engagement_rate")))
                if cur:
                    by_reach, by_views = int(pick("posts", True, "n_rate_reach", 0)), int(pick("posts", True,
                                                                                           "n_rate_views", 0))
                    basis = ("reach" if by_reach and not by_views else "views" if by_views and not by_reach
                             else f"reach ({by_reach} posts), views ({by_views} posts)" if by_reach else "")
            else:
                values.append(float(pick("posts", cur, kpi)))
                if cur:
                    n = {"reach": "n_reach", "views": "n_views", "engagements": "n_eng"}[kpi]
                    basis = (f"{int(pick('posts', True, n, 0))} of {int(pick('posts', True, 'posts_published', 0))}"
                             " posts report it")
        value, previous = values
        if kpi in RATE_KPIS:        # a rate's change is read in percentage points, not relative to itself
            change, points = math.nan, (value - previous) * 100
        else:
            change = (value - previous) / previous * 100 if previous and not math.isnan(previous) else math.nan
            points = math.nan
        d = DEFINITIONS[kpi]
        rows.append({"kpi": kpi, "label": d.label, "value": value, "previous": previous, "change_pct": change,
                     "change_pts": points, "definition": d.formula, "basis": basis})
    return pd.DataFrame(rows, columns=["kpi", "label", "value", "previous", "change_pct", "change_pts", "definition",
                                       "basis"])


@_named
def daily_trends(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per local day of publication, platform and account: posts and their summed latest figures."""
    df = _run(con, f"""
WITH {_figures(con, f)}
SELECT CAST(timezone($tz, pf.published_at) AS DATE) AS day, pf.platform, pf.account_id, a.handle,
       count(*) AS posts, sum(reach)::DOUBLE AS reach, sum(views)::DOUBLE AS views,
       sum(engagements)::DOUBLE AS engagements, ({_POOLED_RATE})::DOUBLE AS engagement_rate
FROM pf LEFT JOIN accounts a ON a.account_id = pf.account_id
GROUP BY ALL ORDER BY day, pf.platform, pf.account_id""", _params(con, f),
              ["day", "platform", "account_id", "handle", "posts", "reach", "views", "engagements",
               "engagement_rate"])
    return _local_date(df)


def _folded_zone(con: duckdb.DuckDBPyConnection, wkey: int) -> str | None:
    """The zone the workspace's follower days are folded in (None when they cannot be read: the query then reads
    the counts themselves); kept until the next write on an engine's connection."""
    writes = _writes.get()
    if writes is not None and writes.trusted:
        seen = writes.seen()
        hit = writes.known(("zone", wkey), ())
        if hit != ():
            return hit
    else:
        seen = None
        fold_latest(con)
    rows = con.execute("SELECT tz FROM follower_zones WHERE wkey = $w AND known", {"w": wkey}).fetchall()
    tz = rows[0][0] if rows else None
    if seen is not None:
        writes.keep(seen, ("zone", wkey), tz)
    return tz


def _follower_days_sql(con: duckdb.DuckDBPyConnection, f: Filters, p: dict) -> str | None:
    """follower_growth from `follower_days` (None when they are not folded in the filters' zone): the period's
    whole local days straight from it; a day the period only partly covers (it starts or ends at another hour
    than local midnight) from its own counts, with the day before's last count from it."""
    if not USE_FOLDED:
        return None
    try:
        if _folded_zone(con, p["wkey"]) != f.tz_name:
            return None
    except duckdb.Error:
        return None
    tz = zone(f.tz_name)
    lo, hi = f.start.astimezone(tz), (f.end - timedelta(microseconds=1)).astimezone(tz)
    lo_whole, hi_whole = lo.time() == datetime.min.time(), f.end.astimezone(tz).time() == datetime.min.time()
    first, last = lo.date(), hi.date()
    edges = ([] if lo_whole else [first]) + ([] if hi_whole or (last == first and not lo_whole) else [last])
    p.update(d_first=first, d_last=last, w_first=first + timedelta(days=0 if lo_whole else 1),
             w_last=last - timedelta(days=0 if hi_whole else 1), edges=edges, real=not f.include_demo,
             ea_from=f.start - timedelta(days=2), ea_to=f.start + timedelta(days=2), eb_from=f.end - timedelta(days=2))
    if not edges:
        return f"""
SELECT fd.day, a.account_id, a.handle, a.platform, fd.followers, (fd.followers - fd.prev)::DOUBLE AS change
FROM follower_days fd JOIN accounts a ON a.akey = fd.akey AND a.wkey = $wkey{_aw(f)}
WHERE fd.wkey = $wkey AND fd.real = $real AND fd.day BETWEEN $w_first AND $w_last
ORDER BY fd.day, a.account_id"""
    # The days the period covers only in part, from their own counts: the last of those in the period (fin) and,
    # on its first day, the last of those before it (fbase: the first change's base; without one, the last count
    # of the days before, `prev`). One join and no CTE: DuckDB plans that faster than the same in CTEs.
    windows = " OR ".join(w for w, on in (("(s.taken_at >= $ea_from AND s.taken_at < $ea_to)", not lo_whole),
                                          ("s.taken_at >= $eb_from", not hi_whole)) if on)
    last = "CASE WHEN r.day IS NULL THEN fd.followers ELSE r.fin END"
    return f"""
SELECT fd.day, a.account_id, a.handle, a.platform, {last} AS followers,
       ({last} - coalesce(r.fbase, fd.prev))::DOUBLE AS change
FROM follower_days fd
LEFT JOIN (SELECT akey, CAST(timezone($tz, taken_at) AS DATE) AS day,
                  arg_max(followers, {_ORDER_KEY}) FILTER (WHERE taken_at >= $lo) AS fin,
                  arg_max(followers, {_ORDER_KEY}) FILTER (WHERE taken_at < $lo) AS fbase
           FROM account_snapshots s
           WHERE s.wkey = $wkey AND s.followers IS NOT NULL AND s.taken_at < $hi AND ({windows}){_demo(f, "s")}
           GROUP BY ALL) r ON r.akey = fd.akey AND r.day = fd.day AND list_contains($edges::DATE[], r.day)
JOIN accounts a ON a.akey = fd.akey AND a.wkey = $wkey{_aw(f)}
WHERE fd.wkey = $wkey AND fd.real = $real AND fd.day BETWEEN $d_first AND $d_last
  AND (fd.day BETWEEN $w_first AND $w_last OR r.fin IS NOT NULL)
ORDER BY fd.day, a.account_id"""


@_named
def follower_growth(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per account and local day with a count: the day's last follower count and its change since the one before."""
    p = _params(con, f)
    folded = _follower_days_sql(con, f, p)
    if folded is not None:
        return _local_date(_run(con, folded, p, ["day", "account_id", "handle", "platform", "followers", "change"]))
    df = _run(con, f"""
WITH acc AS (SELECT a.akey, a.account_id, a.handle, a.platform FROM accounts a WHERE a.wkey = $wkey{_aw(f)}),
u AS (  -- the last count of each local day, and (day NULL) the last one before the period: the first change's base
    SELECT akey, CASE WHEN taken_at >= $lo THEN CAST(timezone($tz, taken_at) AS DATE) END AS day,
           arg_max(followers, {_ORDER_KEY}) AS followers
    FROM account_snapshots s{" SEMI JOIN acc ON acc.akey = s.akey" if f.platforms or f.account_ids else ""}
    WHERE s.wkey = $wkey AND s.followers IS NOT NULL AND s.taken_at < $hi{_demo(f, "s")} GROUP BY ALL),
w AS (SELECT akey, day, followers,
             followers - lag(followers) OVER (PARTITION BY akey ORDER BY day NULLS FIRST) AS change FROM u)
SELECT w.day, acc.account_id, acc.handle, acc.platform, w.followers, w.change::DOUBLE AS change
FROM w JOIN acc ON acc.akey = w.akey WHERE w.day IS NOT NULL ORDER BY w.day, acc.account_id""", p,
              ["day", "account_id", "handle", "platform", "followers", "change"])
    return _local_date(df)


@_named
def post_curve(con: duckdb.DuckDBPyConnection, f: Filters, delivery_id: str = "", **_) -> pd.DataFrame:
    """Every snapshot of one published post of the workspace since its publication (its metrics' curves)."""
    p = _params(con, f)
    # Its key and publication first, so the snapshot scan filters by constants (zone maps skip other posts). The
    # lookup names the delivery alone (the key's index answers it; another condition makes DuckDB scan every
    # delivery) and the workspace, publication and demo conditions are checked on the row it returns.
    rows = con.execute("SELECT dkey, wkey, published_at, is_demo FROM deliveries WHERE delivery_id = $d",
                       {"d": delivery_id}).fetchall()
    hit = [r for r in rows if r[1] == p["wkey"] and r[2] is not None and (f.include_demo or not r[3])]
    p.update(dkey=hit[0][0] if hit else -1, published=hit[0][2] if hit else f.start)
    p["snap_from"] = p["published"] - SNAPSHOT_SLACK
    metrics = ", ".join(f"s.{m}::DOUBLE AS {m}" for m in METRICS)
    df = _run(con, f"""
SELECT s.taken_at, (epoch_us(s.taken_at) - epoch_us($published::TIMESTAMPTZ)) / 3.6e9 AS hours_since_publish,
       {metrics}, ({_engagements("s.")})::DOUBLE AS engagements
FROM post_snapshots s
WHERE s.dkey = $dkey AND s.wkey = $wkey AND s.taken_at >= $snap_from
ORDER BY s.taken_at, s.seq""", p, ["taken_at", "hours_since_publish", *METRICS, "engagements"])
    return _utc(df, "taken_at")


_POST_TABLE_COLUMNS = ["delivery_id", "post_id", "published_at", "platform", "account_id", "handle", "caption",
                       "link", "thumbnail", "content_type", "is_ai_generated", "is_demo", "hashtags", *METRICS,
                       "engagements", "engagement_rate", "rate_basis"]


@_named
def post_table(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row per post published in the period with its latest figures, newest first."""
    df = _run(con, f"""
WITH {_figures(con, f, ", d.external_url, d.is_demo AS d_demo",
              ("caption", "media_url", "content_type", "is_ai_generated", "p_demo", "hashtags"))}
SELECT pf.delivery_id, pf.post_id, pf.published_at, pf.platform, pf.account_id, a.handle, pf.caption,
       pf.external_url AS link, pf.media_url AS thumbnail, pf.content_type, pf.is_ai_generated,
       (coalesce(pf.d_demo, false) OR coalesce(pf.p_demo, false)) AS is_demo,
       pf.hashtags,
       {", ".join(f"pf.{m}::DOUBLE AS {m}" for m in METRICS)}, pf.engagements::DOUBLE AS engagements, pf.engagement_rate, pf.rate_basis
FROM pf LEFT JOIN accounts a ON a.account_id = pf.account_id
ORDER BY pf.published_at DESC, pf.delivery_id""", _params(con, f), _POST_TABLE_COLUMNS, arrow=True)
    df = _utc(df, "published_at")
    df["rate_basis"] = df["rate_basis"].astype(object).where(df["rate_basis"].notna(), None)
    return df


@_named
def best_time_grid(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Posts by local weekday (0 = Monday) and hour of publication, with their average results (cells with posts)."""
    return _run(con, f"""
WITH {_figures(con, f)}, t AS (SELECT timezone($tz, published_at) AS local, engagements, engagement_rate FROM pf)
SELECT (isodow(local) - 1)::INTEGER AS weekday, hour(local)::INTEGER AS hour, count(*) AS posts,
       avg(engagement_rate) AS avg_engagement_rate, avg(engagements) AS avg_engagements
FROM t GROUP BY ALL ORDER BY weekday, hour""", _params(con, f),
                ["weekday", "hour", "posts", "avg_engagement_rate", "avg_engagements"])


@_named
def hashtags(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per hashtag (case folded) of the posts published in the period: posts and their average results."""
    return _run(con, f"""
WITH {_figures(con, f, post=("p_wkey", "tags"))},
tags AS (  -- each post's hashtags once, case folded (POST_ATTRS["tags"])
    SELECT unnest(pf.tags) AS tag, pf.engagements, pf.engagement_rate, pf.reach
    FROM pf WHERE pf.p_wkey = $wkey)
SELECT '#' || tag AS hashtag, count(*) AS posts, avg(engagements) AS avg_engagements,
       avg(engagement_rate) AS avg_engagement_rate, sum(reach)::DOUBLE AS total_reach
FROM tags GROUP BY tag ORDER BY posts DESC, avg_engagements DESC NULLS LAST, hashtag""", _params(con, f),
                ["hashtag", "posts", "avg_engagements", "avg_engagement_rate", "total_reach"])


@_named
def content_types(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per content type (text, image, carousel, video) of the posts published in the period."""
    return _run(con, f"""
WITH {_figures(con, f, post=("content_type",))}
SELECT coalesce(pf.content_type, 'unknown') AS content_type, count(*) AS posts,
       avg(pf.engagements) AS avg_engagements, avg(pf.engagement_rate) AS avg_engagement_rate,
       avg(pf.reach) AS avg_reach
FROM pf
GROUP BY ALL ORDER BY posts DESC, content_type""", _params(con, f),
                ["content_type", "posts", "avg_engagements", "avg_engagement_rate", "avg_reach"])


@_named
def ai_vs_human(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """AI-generated against hand-written posts published in the period."""
    return _run(con, f"""
WITH {_figures(con, f, post=("is_ai_generated",))}
SELECT CASE WHEN coalesce(pf.is_ai_generated, false) THEN 'AI-generated' ELSE 'Hand-written' END AS origin,
       count(*) AS posts, avg(pf.engagements) AS avg_engagements, avg(pf.engagement_rate) AS avg_engagement_rate
FROM pf
GROUP BY ALL ORDER BY origin""", _params(con, f), ["origin", "posts", "avg_engagements", "avg_engagement_rate"])


@_named
def workflow(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row: AI posts generated, posts approved and rejected, posts published, approval rate, time to approve."""
    return _run(con, f"""
WITH p AS (
    SELECT p.post_id, p.created_at, p.is_ai_generated FROM posts p
    WHERE p.wkey = $wkey{_demo(f, "p")}{
        f" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.post_id AND {_dw(f)})"
        if f.platforms or f.account_ids else ""}),
dec AS (
    SELECT x.post_id, arg_max(x.action, (x."at", x.seq)) AS action, max(x."at") AS decided_at
    FROM decisions x WHERE x.wkey = $wkey AND x."at" >= $lo AND x."at" < $hi
      AND x.action IN ('approved', 'rejected') GROUP BY x.post_id),
counts AS (
    SELECT count(*) FILTER (WHERE dec.action = 'approved') AS approved,
           count(*) FILTER (WHERE dec.action = 'rejected') AS rejected,
           median(epoch(dec.decided_at - p.created_at) / 3600.0) FILTER (WHERE dec.action = 'approved') AS hours
    FROM dec JOIN p ON p.post_id = dec.post_id)
SELECT (SELECT count(*) FROM p WHERE p.is_ai_generated AND p.created_at >= $lo AND p.created_at < $hi)
           AS generated,
       counts.approved, counts.rejected,
       (SELECT count(DISTINCT d.post_id) FROM deliveries d SEMI JOIN p ON p.post_id = d.post_id
        WHERE {_dw(f)} AND d.state = 'published' AND d.published_at >= $lo AND d.published_at < $hi)
           AS published,
       CASE WHEN counts.approved + counts.rejected > 0
            THEN counts.approved / (counts.approved + counts.rejected) END::DOUBLE AS approval_rate,
       counts.hours::DOUBLE AS median_hours_to_approve
FROM counts""", _params(con, f),
                ["generated", "approved", "rejected", "published", "approval_rate", "median_hours_to_approve"])


def _reliability_sql(f: Filters, group: str) -> str:
    return f"""
WITH r AS (
    SELECT d.platform, d.state, d.attempts,
           CASE WHEN d.state = 'published' AND d.published_at IS NOT NULL
                THEN epoch(d.published_at - d.due_at) END AS late_s
    FROM deliveries d
    WHERE {_dw(f)} AND d.due_at >= $lo AND d.due_at < $hi AND d.state <> 'cancelled')
SELECT {group} count(*) AS due,
       count(*) FILTER (WHERE state = 'published') AS published,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'needs_review') AS needs_review,
       (count(*) FILTER (WHERE late_s <= {ON_TIME_SECONDS})
        / nullif(count(*) FILTER (WHERE state IN ('published', 'failed', 'needs_review')), 0))::DOUBLE
           AS on_time_rate,
       quantile_cont(late_s, 0.5)::DOUBLE AS lateness_p50_s, quantile_cont(late_s, 0.95)::DOUBLE AS lateness_p95_s,
       coalesce(sum(greatest(coalesce(attempts, 0) - 1, 0)), 0)::BIGINT AS retries
FROM r"""


@_named
def reliability(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row: posts due in the period, how they ended, how many on time, how late (p50, p95), retries."""
    return _run(con, _reliability_sql(f, ""), _params(con, f),
                ["due", "published", "failed", "needs_review", "on_time_rate", "lateness_p50_s", "lateness_p95_s",
                 "retries"])


@_named
def reliability_by_platform(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """The reliability figures per platform."""
    return _run(con, _reliability_sql(f, "platform,") + " GROUP BY platform ORDER BY platform", _params(con, f),
                ["platform", "due", "published", "failed", "on_time_rate", "lateness_p50_s", "lateness_p95_s",
                 "retries"])


@_named
def failures(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Posts due in the period that failed, per platform and error code, most frequent first."""
    return _run(con, f"""
SELECT d.platform, coalesce(nullif(d.last_error_code, ''), 'unknown') AS reason, count(*) AS failures
FROM deliveries d WHERE {_dw(f)} AND d.due_at >= $lo AND d.due_at < $hi AND d.state = 'failed'
GROUP BY ALL ORDER BY failures DESC, platform, reason""", _params(con, f), ["platform", "reason", "failures"])


QUERIES: dict[str, Callable[..., pd.DataFrame]] = {q.__name__: q for q in (
    overview, daily_trends, follower_growth, post_curve, post_table, best_time_grid, hashtags, content_types,
    ai_vs_human, workflow, reliability, reliability_by_platform, failures)}

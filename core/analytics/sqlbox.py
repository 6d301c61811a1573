"""The read-only SQL box: a power user's own query over one workspace's analytics, and nothing else.

Safety comes from what the query runs in, not from a list of forbidden words:

1. **A separate database.** The query never touches the engine's DuckDB. It runs in its own in-memory DuckDB
   (`duckdb.connect(":memory:", config=...)`) that holds only this workspace's tables (`BOX_TABLES`), copied
   from the engine through Arrow with readable ids (each table from one state of the engine). Other
   workspaces' rows are not there to be read.
2. **No way out.** That database is opened with ``enable_external_access=false`` (DuckDB itself then refuses
   every file and network access: ``read_csv``, ``read_parquet``, ``read_json``, ``read_text``, ``read_blob``,
   ``glob``, ``'file.csv'`` and ``https://`` replacement scans, ``query_table('/path')``, ``COPY``, ``ATTACH`` of
   a file, ``EXPORT``, ``INSTALL``), no extension autoloading or community extensions, Python replacement scans
   off (a query cannot read a DataFrame that happens to sit in a Python variable), no spilling to disk, one
   thread, a memory ceiling, and then ``lock_configuration=true`` so no ``SET`` can loosen any of it.
   tests/test_analytics_sqlbox.py checks each of these refusals against DuckDB itself.
3. **One read-only statement.** ``duckdb.extract_statements`` must find exactly one statement of type SELECT
   (``SELECT``, ``WITH ... SELECT``, ``FROM ...``, ``VALUES``, ``DESCRIBE``/``SHOW``/``SUMMARIZE``). That check is
   ours because DuckDB would happily run ``INSERT``, ``CREATE``, ``LOAD json`` (built in), ``ATTACH ':memory:'``,
   ``PRAGMA``, ``CALL`` or ``CHECKPOINT`` in a database of its own.
4. **Writes never land.** DuckDB 2.0 allows data-modifying CTEs (``WITH x AS (DELETE ... RETURNING *) SELECT
   ...`` is a SELECT statement, also inside ``query('...')``). We refuse them when the parse tree shows one (for
   a clear message), and every query runs inside a transaction that is always rolled back, so even one we did
   not see cannot change the copy other queries read.
5. **Limits.** At most ``row_limit + 1`` rows are read from a streaming result (``truncated`` says there were
   more), weighing at most MAX_RESULT_BYTES; a watchdog thread interrupts the connection after ``time_limit_s``
   (and keeps interrupting until the query stops); a memory ceiling turns a huge join or list into an error.
   DuckDB checks for interrupts between chunks of work, so one giant value (``repeat('x', 2000000000)``) can
   run on past the limit: the query runs on a worker thread, the caller gets the time-limit error at the limit
   plus GRACE_S regardless, and at most RUNNING_PER_WORKSPACE queries per workspace run at once, so such
   leftovers cannot pile up. Such a query never outruns its limit silently: the caller is told at the limit that
   it was stopped and that DuckDB is still finishing one step of it, the log says so (and again, with how long it
   ran, when it has ended), and `leftovers()` counts the ones still running. (What they cannot do is stop
   sooner: a process per query would, at the price of copying the tables into it.)

The copy is made as queries need it, cached per engine and workspace, and kept up to date, so only the first
query on the metric history pays for copying it:

- **Only the tables a query reads.** A new copy holds stand-ins (views with each table's columns that stop any
  query reading a row of them); the tables the query names (``duckdb.get_table_names``, which also reads inside
  ``query('...')``) are copied before it runs, and one it reaches some other way (``query_table('po' ||
  'sts')``) is copied when it does, and the query runs again: never an answer from an empty stand-in. A query on
  ``posts`` does not wait for ten million snapshots to be copied.
- **Only what is new after a refresh.** The copy is tagged with the engine's ``version`` (it grows with every
  refresh that changed something). When it moved on, the copy is brought up to date before the query: the
  snapshots are append-only in ``seq`` order, so the rows past the copy's mark are appended and only the
  deliveries they belong to get their latest figures (``post_metrics``) again; the small tables are copied anew.
  When rows went or arrived below the mark (a rebuilt feed, PostgreSQL's late commits), the table is copied anew.
  (bench/sqlbox.py at 10M rows, 2 cores under a load of ~11: the first query after 100,000 new rows took 0.4 s
  instead of 9.1 s; a workspace's first query on its posts alone 0.3 s instead of 11.8 s.)
- **Said, not silent.** The copy does not count against the query's time limit. When it has many rows to take
  in (NOTICE_ROWS), ``on_copy`` is told first in words, for the page to show while the person waits, and
  `SqlResult.copy_ms` says how long it took. The first copy of a large history still takes seconds (about a
  second per million snapshot rows of the workspace on an idle core): Arrow moves every row once.

The memory ceiling is set (and locked) when a copy is opened: what every table would weigh copied (ROW_BYTES
each, counted in the engine) with COPY_ROOM and GROWTH_BYTES to grow into, plus QUERY_MEMORY_BYTES for the
queries. A copy whose room for queries has run out is let go and a new one made; copying that runs out of memory
all the same is tried once more with ROOM_RETRY times the room. The cache is bounded: at most CACHED_WORKSPACES
copies weighing at most CACHE_BYTES together are kept, the least recently used dropped first (the latest copy
stays whatever its weight: the query that asked for it is running on it); a copy of another workspace is kept
while outdated and brought up to date when next asked for.
"""
from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import logging

import duckdb
import pandas as pd
import pyarrow as pa

from core.analytics.schema import METRICS
from core.domain.errors import ValidationError

MAX_SQL_CHARS = 20_000
#: Workspaces whose copies are kept per engine (least recently used dropped first). A copy holds the workspace's
#: whole metric history (about 140 bytes a snapshot row: 1M rows weighed 140 MB, so 10M ~1.4 GB), so few are kept.
CACHED_WORKSPACES = 2
#: What the kept copies may weigh together (DuckDB's own count of their memory); the latest one is always kept.
CACHE_BYTES = 1024 * 1024 * 1024
#: Working memory a query may use on top of the copied tables.
QUERY_MEMORY_BYTES = 512 * 1024 * 1024
#: The most an answer may weigh once read (row_limit bounds rows, not the size of one huge text cell).
MAX_RESULT_BYTES = 64 * 1024 * 1024
#: Queries running at once on one workspace's copy. A query DuckDB cannot interrupt quickly (one giant value:
#: repeat('x', 2000000000) took 50 s here) is left to finish in the background after its time limit; this bounds
#: how many of those can pile up.
RUNNING_PER_WORKSPACE = 3
#: How long past the time limit the caller waits for DuckDB to honour the interrupt before answering anyway.
GRACE_S = 1.0

#: A copy's memory ceiling (locked when it is opened) leaves this much room over what its tables would weigh once
#: all copied, for later refreshes to add to them; when a refresh's rows no longer fit, a new copy is made.
COPY_ROOM = 1.25
GROWTH_BYTES = 64 * 1024 * 1024
#: When copying a table ran out of memory all the same (a table far heavier per row than ROW_BYTES), the copy is
#: made again once with this much more room.
ROOM_RETRY = 3.0
#: About what one row weighs in a copy, per table (measured on bench.analytics' history with DuckDB 2.0: see
#: bench/sqlbox.py), for the ceiling above.
ROW_BYTES = {"workspace": 256, "accounts": 512, "posts": 1024, "deliveries": 512, "post_snapshots": 160,
             "post_metrics": 256, "followers": 128, "decisions": 256}
#: A copy that takes in at least this many rows says so first (`on_copy`): over a million rows take seconds.
NOTICE_ROWS = 200_000

log = logging.getLogger("outpost.analytics.sqlbox")

_SAFE_CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    "max_temp_directory_size": "0B",
    # No temporary files at all: with only the size capped, DuckDB still made a `.tmp` directory in the
    # dashboard's working directory and offloaded blocks to it under memory pressure.
    "temp_directory": "",
    "threads": 1,
}

_METRIC_COLUMNS = ", ".join(f"s.{m}" for m in METRICS)

# Each delivery's latest snapshot; `only` narrows it to some deliveries (a copy brought up to date recomputes only
# those with new snapshots). arg_max over (taken_at, seq) is a hash aggregate: 3x quicker here than a row_number()
# window.
_POST_METRICS = (
    "SELECT d.delivery_id, d.post_id, d.account_id, d.platform, d.published_at, l.taken_at, "
    + ", ".join(f"l.{m}" for m in METRICS) + ", l.is_demo"
    " FROM (SELECT s.dkey, arg_max(s, (s.taken_at, s.seq)) AS l FROM post_snapshots s WHERE s.wkey = $w{only}"
    " GROUP BY s.dkey) m LEFT JOIN deliveries d ON d.dkey = m.dkey ORDER BY d.delivery_id")
_NEW_DELIVERIES = " AND s.dkey IN (SELECT dkey FROM post_snapshots WHERE wkey = $w AND seq > $m)"

# name -> (what it holds, the SELECT on the engine's tables that fills it; $w is the workspace's key).
BOX_TABLES: dict[str, tuple[str, str]] = {
    "workspace": (
        "this workspace (one row)",
        "SELECT workspace_id, name, timezone_name FROM workspaces WHERE wkey = $w"),
    "accounts": (
        "connected accounts",
        "SELECT account_id, platform, handle, display_name, status FROM accounts WHERE wkey = $w"
        " ORDER BY account_id"),
    "posts": (
        "posts as written (one row per post)",
        "SELECT post_id, caption, hashtags, link, media_url, media_count, content_type, is_ai_generated, is_demo,"
        " state, status, batch_id, created_by, created_at, updated_at FROM posts WHERE wkey = $w ORDER BY post_id"),
    "deliveries": (
        "one row per post on one account: due, published, attempts, errors",
        "SELECT d.delivery_id, d.post_id, d.account_id, d.platform, a.handle, d.state, d.due_at, d.published_at,"
        " d.attempts, d.last_error_code, d.last_error, d.external_url, d.is_demo, d.updated_at"
        " FROM deliveries d LEFT JOIN accounts a ON a.akey = d.akey WHERE d.wkey = $w ORDER BY d.delivery_id"),
    "post_snapshots": (
        "every metric snapshot of a published delivery (NULL = not available)",
        # In feed order (no ORDER BY: sorting the largest table by strings tripled the copy's time).
        f"SELECT d.delivery_id, d.post_id, d.account_id, d.platform, s.taken_at, {_METRIC_COLUMNS}, s.is_demo"
        " FROM post_snapshots s LEFT JOIN deliveries d ON d.dkey = s.dkey WHERE s.wkey = $w"),
    "post_metrics": (
        "each delivery's latest snapshot: its current figures",
        _POST_METRICS.format(only="")),
    "followers": (
        "every follower count of an account",
        "SELECT a.account_id, a.platform, a.handle, s.taken_at, s.followers, s.is_demo FROM account_snapshots s"
        " LEFT JOIN accounts a ON a.akey = s.akey WHERE s.wkey = $w ORDER BY a.account_id, s.taken_at, s.seq"),
    "decisions": (
        "approval decisions ('approved' or 'rejected') and who made them",
        "SELECT post_id, \"at\", action, actor FROM decisions WHERE wkey = $w ORDER BY \"at\", seq"),
}

# What a refused statement type does, in words (DuckDB's StatementType names).
_REFUSED = {
    "changes data or tables": ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE_INTO",
                               "CREATE_FUNC", "VACUUM", "ANALYZE"),
    "reads or writes files": ("COPY", "EXPORT", "COPY_DATABASE"),
    "opens another database": ("ATTACH", "DETACH"),
    "installs or loads extensions": ("LOAD", "EXTENSION"),
    "changes settings or runs a procedure": ("PRAGMA", "SET", "CALL", "VARIABLE_SET"),
    "controls transactions": ("TRANSACTION",),
    "prepares or executes other statements": ("PREPARE", "EXECUTE"),
}
_REFUSED_BY_TYPE = {t: what for what, types in _REFUSED.items() for t in types}
# Each box table's rows are counted in this engine table (for its weight) ...
_COUNTED_IN = {"workspace": "workspaces", "accounts": "accounts", "posts": "posts", "deliveries": "deliveries",
               "post_snapshots": "post_snapshots", "post_metrics": "deliveries", "followers": "account_snapshots",
               "decisions": "decisions"}
# ... and these are made from the snapshots (brought up to date by what was appended past their mark).
_FROM_SNAPSHOTS = frozenset({"post_snapshots", "post_metrics"})
_NOT_COPIED = "outpost-sqlbox-not-copied-yet:"
_BATCH_ROWS = 64 * 1024
_SELECT_ONLY = "This box runs one read-only query: SELECT ..., WITH ... SELECT ... or FROM ...."


class SqlBoxError(ValidationError):
    """The SQL box refused a query or stopped it; the message says why in a power user's words."""

    def __init__(self, message: str, *, code: str = "sql_refused"):
        super().__init__(message, code=code)
        self.code = code


@dataclass(frozen=True)
class SqlResult:
    """A query's answer: at most `row_limit` rows; `truncated` when the query had more. `copy_ms`: how long the
    box took first to copy or bring up to date the tables the query reads (0 when they were ready)."""

    df: pd.DataFrame
    truncated: bool
    elapsed_ms: float
    copy_ms: float = 0.0


def run_readonly(con, workspace_id: str, sql: str, *, row_limit: int = 1000, time_limit_s: float = 5.0,
                 on_copy: Callable[[str], None] | None = None) -> SqlResult:
    """Run one read-only query over `workspace_id`'s analytics tables (BOX_TABLES); refused: SqlBoxError.

    `con` is the AnalyticsEngine (its copy is cached and brought up to date by the engine's version) or a DuckDB
    connection to the engine's tables (copied for this call only). The time limit counts the query, not the copy
    before it; when that copy has many rows to take in, `on_copy` is first told so in words (for the page to
    show while the person waits).
    """
    if not isinstance(row_limit, int) or row_limit < 1:
        raise ValueError("row_limit must be a positive whole number")
    if not time_limit_s > 0:
        raise ValueError("time_limit_s must be positive")
    statement = _one_select(sql)
    _refuse_while_stopping(workspace_id)          # before a copy is made for nothing
    notify = on_copy or (lambda words: None)
    started = time.perf_counter()
    wanted = _tables_named(statement.query)
    room, box = 1.0, None
    for _ in range(len(BOX_TABLES) + 2):
        try:
            with _copying():
                if box is None:
                    box, open_source = _box_for(con, workspace_id, notify, room=room)
                box.fill(wanted, open_source, notify)
        except _TooTight:
            if room > 1.0:
                raise SqlBoxError("This workspace's analytics are too large for the SQL box's memory. Use the "
                                  "exports (CSV, Parquet) for this question.", code="sql_memory") from None
            room, box = ROOM_RETRY, None
            continue
        if not isinstance(con, duckdb.DuckDBPyConnection):
            _CACHE.trim(con)                    # the copy grew: hold to the cache's bounds again
        copy_ms = (time.perf_counter() - started) * 1000.0
        try:
            result = box.run(statement, row_limit=row_limit, time_limit_s=time_limit_s)
        except _NotCopied as missing:
            wanted.add(missing.name)
            continue
        return replace(result, copy_ms=copy_ms)
    raise SqlBoxError("The box could not get this query's tables ready. Run it again.", code="sql_error")


@contextmanager
def _copying() -> Iterator[None]:
    """DuckDB failing while the box copies (not the person's query) said in words."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise _TooTight() from exc
    except duckdb.Error as exc:
        log.warning("SQL box: copying the analytics tables failed: %s", _duckdb_words(exc))
        raise SqlBoxError("The SQL box could not copy this workspace's analytics tables (DuckDB said: "
                          f"{_duckdb_words(exc)}). Run the query again in a moment.", code="sql_copy") from exc


def _tables_named(sql: str) -> set[str]:
    """The box's tables `sql` names (DuckDB's parser, which also reads inside query('...')); every word that is a
    table's name when it cannot parse them. A table read some other way is copied when the query reaches it.
    DESCRIBE and SHOW read no rows: the stand-ins answer them."""
    if re.match(r"\s*(DESCRIBE|DESC|SHOW)\b", sql, re.IGNORECASE):
        return set()
    try:
        named = {n.lower() for n in duckdb.get_table_names(sql)}
    except duckdb.Error:
        named = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
    return {n for n in BOX_TABLES if n in named}


def _one_select(sql: str) -> duckdb.Statement:
    if not isinstance(sql, str) or not sql.strip():
        raise SqlBoxError("Write a query first. " + _SELECT_ONLY, code="sql_empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlBoxError(f"This query is {len(sql):,} characters long; the box takes at most "
                          f"{MAX_SQL_CHARS:,}.", code="sql_too_long")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlBoxError(f"DuckDB could not read this SQL: {_duckdb_words(exc)}", code="sql_syntax") from exc
    if not statements:
        raise SqlBoxError("Write a query first (this is only comments). " + _SELECT_ONLY, code="sql_empty")
    if len(statements) > 1:
        raise SqlBoxError(f"Found {len(statements)} statements separated by ';'. Run one query at a time. "
                          + _SELECT_ONLY, code="sql_many_statements")
    statement = statements[0]
    kind = statement.type.name
    if kind == "SELECT":
        return statement
    if kind == "MULTI":  # a top-level PIVOT expands into several statements
        raise SqlBoxError("Refused: this statement expands into several (a top-level PIVOT does). Wrap it in a"
                          " query: SELECT * FROM (PIVOT ...). " + _SELECT_ONLY, code="sql_not_select")
    what = _REFUSED_BY_TYPE.get(kind, "is not a plain query")
    # The statement as the person wrote it (INSTALL, not DuckDB's type LOAD), where its text starts with a word.
    first = re.match(r"\s*([A-Za-z]+)", statement.query or "")
    label = first.group(1).upper() if first and kind in _REFUSED_BY_TYPE else kind.replace("_", " ")
    raise SqlBoxError(f"Refused: {label} {what}. " + _SELECT_ONLY, code="sql_not_select")


# A query node other than SELECT / set operation / CTE in the parse tree: a data-modifying CTE.
_WRITE_NODE = re.compile(r"^(INSERT|UPDATE|DELETE|MERGE\w*)_QUERY_NODE$")


def _writes_in(tree: object) -> str | None:
    """The first data-modifying node (INSERT, UPDATE, DELETE, MERGE) in DuckDB's JSON parse tree, if any."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str) and _WRITE_NODE.match(kind):
                return kind.split("_")[0]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


class _NotCopied(Exception):
    """A query read a table of the box that is not copied yet (one its text did not name: query_table('po' ||
    'sts')): copied, then the query runs again."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _TooTight(Exception):
    """This copy's memory ceiling has no room left for what it must take in: a new copy is made instead."""


@contextmanager
def _reading(open_source: Callable[[], duckdb.DuckDBPyConnection]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new connection to the engine's tables in one transaction: what is read through it is one state of them
    even if a refresh commits meanwhile."""
    source = open_source()
    try:
        source.begin()
        yield source
    finally:
        try:
            source.rollback()
        except duckdb.Error:
            pass                  # closing ends it anyway
        source.close()


def _wkey(source: duckdb.DuckDBPyConnection, workspace_id: str) -> int | None:
    rows = source.execute("SELECT wkey FROM workspaces WHERE workspace_id = ?", [workspace_id]).fetchall()
    return rows[0][0] if rows else None   # unknown workspace: every table empty, with its columns


def _snapshot_mark(source: duckdb.DuckDBPyConnection, wkey: int | None) -> tuple[int, int]:
    """(the workspace's snapshot rows, their highest seq): what a table fed by the snapshots was made from."""
    rows = source.execute("SELECT count(*), coalesce(max(seq), 0) FROM post_snapshots WHERE wkey = $w",
                          {"w": wkey}).fetchall()
    return int(rows[0][0]), int(rows[0][1])


def _estimated_bytes(source: duckdb.DuckDBPyConnection, wkey: int | None) -> int:
    """What every table of the box would weigh once copied, about (rows counted in the engine, ROW_BYTES each)."""
    counts = ", ".join(f"(SELECT count(*) FROM {table} WHERE wkey = $w)" for table in sorted(set(_COUNTED_IN.values())))
    got = dict(zip(sorted(set(_COUNTED_IN.values())), source.execute(f"SELECT {counts}", {"w": wkey}).fetchall()[0]))
    return sum(int(got[_COUNTED_IN[name]]) * ROW_BYTES[name] for name in BOX_TABLES)


def _heavy(rows: int) -> bool:
    return rows >= NOTICE_ROWS


class _Box:
    """One workspace's copy in its own locked-down in-memory DuckDB, its tables copied when a query first needs
    them and brought up to date (`catch_up`) after a refresh.

    Until a table is copied, its name is a view with the table's columns that stops any query reading a row of
    it (``error('outpost-sqlbox-not-copied-yet:<name>')``): SHOW TABLES and DESCRIBE see every table, and a query
    that reads one its text did not name is told so (`_NotCopied`), and runs again once it is copied, never on an
    empty stand-in."""

    def __init__(self, open_source: Callable[[], duckdb.DuckDBPyConnection], workspace_id: str, *,
                 room: float = 1.0):
        self.workspace_id = workspace_id
        self.version: int | None = None        # the engine version it was last brought up to (the cache's key)
        self.db = duckdb.connect(":memory:", config=dict(_SAFE_CONFIG))
        self._running = threading.BoundedSemaphore(RUNNING_PER_WORKSPACE)
        self._filling = threading.Lock()       # one copy or catch-up at a time
        # The tables copied so far; for those made from the snapshots, (snapshot rows, highest seq) they hold.
        self.marks: dict[str, tuple[int, int] | None] = {}
        with _reading(open_source) as source:
            wkey = _wkey(source, workspace_id)
            for name, (_, select) in BOX_TABLES.items():
                shape = source.sql(select, params={"w": wkey})
                columns = ", ".join(f'CAST(NULL AS {kind}) AS "{column}"'
                                    for column, kind in zip(shape.columns, shape.types))
                self.db.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM range(1) "
                                f"WHERE error('{_NOT_COPIED}{name}') IS NULL")
            estimate = _estimated_bytes(source, wkey)
        # The ceiling is set once (it is locked below): room for every table once copied, for growth by later
        # refreshes (COPY_ROOM), and for the queries' own work.
        self.limit = QUERY_MEMORY_BYTES + GROWTH_BYTES + int(estimate * COPY_ROOM * room)
        self.db.execute(f"SET memory_limit = '{self.limit}B'")
        self.db.execute("SET lock_configuration = true")
        self.bytes = self._used()

    def _used(self) -> int:
        cur = self.db.cursor()
        try:
            return int(cur.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
                                   ).fetchall()[0][0])
        finally:
            cur.close()

    def fill(self, names: set[str], open_source: Callable[[], duckdb.DuckDBPyConnection],
             notify: Callable[[str], None]) -> None:
        """Copy the tables in `names` that are not copied yet (each from the same state of the engine)."""
        if all(n in self.marks for n in names if n in BOX_TABLES):
            return
        with self._filling:
            todo = [n for n in BOX_TABLES if n in names and n not in self.marks]
            if not todo:
                return
            with _reading(open_source) as source:
                wkey = _wkey(source, self.workspace_id)
                mark = _snapshot_mark(source, wkey) if set(todo) & _FROM_SNAPSHOTS else None
                if mark and _heavy(mark[0]):
                    notify(f"Copying this workspace's {mark[0]:,} metric snapshots into the SQL box first (the "
                           "first query on them since the dashboard started; later ones only add what is new). "
                           "This can take a few seconds.")
                for name in todo:
                    self._replace(source, name, wkey)
                    self.marks[name] = mark if name in _FROM_SNAPSHOTS else None
            self.bytes = self._used()

    def catch_up(self, open_source: Callable[[], duckdb.DuckDBPyConnection], notify: Callable[[str], None]) -> None:
        """Bring the copied tables up to what the engine holds now: the snapshots only grow (the feed appends them
        in `seq` order), so the rows past the mark are appended and only the deliveries they belong to get their
        latest figures again; the other tables are small and copied anew. When rows went, or came below the mark
        (PostgreSQL's late commits, a feed that read everything again), a table is copied anew. Raises
        `_TooTight` when the memory ceiling has too little room left for queries: a new copy is made instead."""
        with self._filling:
            if self.limit - self._used() < QUERY_MEMORY_BYTES:
                raise _TooTight()
            with _reading(open_source) as source:
                wkey = _wkey(source, self.workspace_id)
                rows_now, top_now = _snapshot_mark(source, wkey)
                counted: dict[int, int] = {}      # rows past a mark, counted once for the tables sharing it

                def past(top: int) -> int:
                    if top not in counted:
                        counted[top] = int(source.execute(
                            "SELECT count(*) FROM post_snapshots WHERE wkey = $w AND seq > $m",
                            {"w": wkey, "m": top}).fetchall()[0][0])
                    return counted[top]

                for name in [n for n in BOX_TABLES if n in self.marks]:
                    if name not in _FROM_SNAPSHOTS:
                        self._replace(source, name, wkey)
                        continue
                    rows, top = self.marks[name]
                    if (rows_now, top_now) == (rows, top):
                        continue
                    new = past(top)
                    if wkey is None or rows_now != rows + new:
                        if _heavy(rows_now):
                            notify(f"The analytics data was read again, so the SQL box copies this workspace's "
                                   f"{rows_now:,} metric snapshots anew first. This can take a few seconds.")
                        self._replace(source, name, wkey)
                    elif name == "post_snapshots":
                        if _heavy(new):
                            notify(f"Adding {new:,} new metric snapshots to the SQL box's copy first.")
                        self._append(source, wkey, top)
                    else:
                        self._refigure(source, wkey, top)
                    self.marks[name] = (rows_now, top_now)
            self.bytes = self._used()

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        """`work` on the box in one transaction of ours (queries running meanwhile keep reading what was there)."""
        cur = self.db.cursor()
        try:
            cur.begin()
            try:
                work(cur)
                cur.commit()
            except BaseException:
                cur.rollback()
                raise
        except duckdb.OutOfMemoryException as exc:
            raise _TooTight() from exc
        finally:
            cur.close()

    def _replace(self, source: duckdb.DuckDBPyConnection, name: str, wkey: int | None) -> None:
        reader = source.sql(BOX_TABLES[name][1], params={"w": wkey}).to_arrow_reader(_BATCH_ROWS)
        kind = "TABLE" if name in self.marks else "VIEW"

        def work(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"DROP {kind} {name}")
            cur.from_arrow(reader).create(name)
        try:
            self._write(work)
        finally:
            reader.close()

    def _append(self, source: duckdb.DuckDBPyConnection, wkey: int, top: int) -> None:
        reader = source.sql(BOX_TABLES["post_snapshots"][1] + " AND s.seq > $m",
                            params={"w": wkey, "m": top}).to_arrow_reader(_BATCH_ROWS)
        try:
            self._write(lambda cur: cur.from_arrow(reader).insert_into("post_snapshots"))
        finally:
            reader.close()

    def _refigure(self, source: duckdb.DuckDBPyConnection, wkey: int, top: int) -> None:
        """post_metrics: the rows of the deliveries with snapshots past `top` computed again, the others kept."""
        fresh = source.sql(_POST_METRICS.format(only=_NEW_DELIVERIES),
                           params={"w": wkey, "m": top}).to_arrow_table()
        if fresh.column("delivery_id").null_count:      # a snapshot of no known delivery: no id to match by
            self._replace(source, "post_metrics", wkey)
            return

        def work(cur: duckdb.DuckDBPyConnection) -> None:
            cur.register("fresh_post_metrics", fresh)
            cur.execute("CREATE OR REPLACE TABLE post_metrics AS SELECT * FROM (SELECT p.* FROM post_metrics p "
                        "ANTI JOIN fresh_post_metrics f ON p.delivery_id = f.delivery_id "
                        "UNION ALL SELECT * FROM fresh_post_metrics) ORDER BY delivery_id")
            cur.unregister("fresh_post_metrics")
        self._write(work)

    def run(self, statement: duckdb.Statement, *, row_limit: int, time_limit_s: float) -> SqlResult:
        """The query on a worker thread; the caller has its answer (or the time-limit error) by the limit plus
        GRACE_S even when DuckDB takes longer to stop."""
        _refuse_while_stopping(self.workspace_id)
        if not self._running.acquire(blocking=False):
            raise SqlBoxError(f"{RUNNING_PER_WORKSPACE} queries of this workspace are still running (one that "
                              "passed its time limit is still being stopped). Try again in a moment.",
                              code="sql_busy")
        outcome: dict[str, object] = {}
        finished = threading.Event()
        fate = {"abandoned": False}           # set by the caller when it stops waiting, under `settled`
        settled = threading.Lock()
        started = time.monotonic()

        def work() -> None:
            try:
                outcome["result"] = self._execute(statement, row_limit=row_limit, time_limit_s=time_limit_s)
            except BaseException as exc:  # handed to the caller below
                outcome["error"] = exc
            finally:
                with settled:
                    finished.set()
                    left_behind = fate["abandoned"]
                if left_behind:
                    _LEFTOVERS.change(self.workspace_id, -1)
                    log.warning("SQL box: a query of workspace %s stopped %.1f s after it started (its time limit "
                                "was %g s).", self.workspace_id, time.monotonic() - started, time_limit_s)
                self._running.release()

        threading.Thread(target=work, name="sqlbox-query", daemon=True).start()
        if not finished.wait(time_limit_s + GRACE_S):
            with settled:
                if not finished.is_set():
                    fate["abandoned"] = True
                    _LEFTOVERS.change(self.workspace_id, +1)
            if not fate["abandoned"]:   # it ended just now: its answer came too late, but nothing is left behind
                raise SqlBoxError(_time_limit_words(time_limit_s), code="sql_time_limit")
            log.warning("SQL box: a query of workspace %s passed its %g s time limit and DuckDB has not stopped it "
                        "yet (one step of it does not look at interrupts); it runs on in the background until it "
                        "does, read-only: %s", self.workspace_id, time_limit_s, _shorten(statement.query))
            raise SqlBoxError(_time_limit_words(time_limit_s) + " DuckDB is still finishing one step of it that it "
                              "cannot interrupt (one giant value, such as repeat() or lpad() with a huge length). "
                              "It changes nothing; until it ends it takes one of the "
                              f"{RUNNING_PER_WORKSPACE} places for this workspace's queries.", code="sql_time_limit")
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["result"]  # type: ignore[return-value]

    def _execute(self, statement: duckdb.Statement, *, row_limit: int, time_limit_s: float) -> SqlResult:
        cur = self.db.cursor()
        try:
            self._refuse_writes(cur, statement)
            fired, done = threading.Event(), threading.Event()

            def watchdog() -> None:
                if done.wait(time_limit_s):
                    return
                fired.set()
                # Again and again until the query gives up: an interrupt that lands between two steps of the
                # query (binding, the start of execution) could otherwise be lost.
                while not done.is_set():
                    cur.interrupt()
                    done.wait(0.05)

            timer = threading.Thread(target=watchdog, name="sqlbox-time-limit", daemon=True)
            started = time.perf_counter()
            batches: list[pa.RecordBatch] = []
            read = 0
            cur.begin()
            timer.start()
            try:
                reader = cur.sql(statement).to_arrow_reader(max(1, min(row_limit + 1, 64 * 1024)))
                schema = reader.schema
                try:
                    weight = 0
                    for batch in reader:
                        batches.append(batch)
                        read += batch.num_rows
                        weight += batch.nbytes
                        if weight > MAX_RESULT_BYTES:
                            raise SqlBoxError(
                                f"The answer is larger than {MAX_RESULT_BYTES // 2**20} MB. Select fewer or shorter "
                                "columns, or fewer rows.", code="sql_too_big")
                        if read > row_limit:
                            break
                finally:
                    reader.close()
            except duckdb.InterruptException as exc:
                if fired.is_set():
                    raise SqlBoxError(_time_limit_words(time_limit_s), code="sql_time_limit") from exc
                raise SqlBoxError("The query was interrupted.", code="sql_interrupted") from exc
            except duckdb.Error as exc:
                missing = _not_copied(exc)
                if missing and missing not in self.marks:
                    raise _NotCopied(missing) from exc
                raise _explain(exc) from exc
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                done.set()
                timer.join()
                try:
                    cur.rollback()
                except duckdb.Error:
                    pass  # the connection is closed below; an open transaction dies with it
        finally:
            cur.close()
        table = pa.Table.from_batches(batches, schema=schema).slice(0, row_limit)
        return SqlResult(df=_frame(table), truncated=read > row_limit, elapsed_ms=elapsed_ms)

    @staticmethod
    def _refuse_writes(cur: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
        try:
            tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [statement.query]).fetchall()[0][0])
        except (duckdb.Error, TypeError, ValueError):
            return  # not serialisable: the rolled-back transaction still keeps the copy unchanged
        found = _writes_in(tree)
        if found:
            article = "an" if found[0] in "AEIOU" else "a"
            raise SqlBoxError(f"Refused: this query hides {article} {found} (a data-modifying WITH). " + _SELECT_ONLY,
                              code="sql_not_select")


def _shorten(sql: str, limit: int = 300) -> str:
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= limit else one_line[:limit] + "..."


class _Counter:
    """Left-behind queries per workspace, across its copies (a refresh makes a new copy; the old one's leftovers
    still count)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_workspace: dict[str, int] = {}

    def change(self, workspace_id: str, by: int) -> None:
        with self._lock:
            n = self._by_workspace.get(workspace_id, 0) + by
            if n:
                self._by_workspace[workspace_id] = n
            else:
                self._by_workspace.pop(workspace_id, None)

    def of(self, workspace_id: str | None = None) -> int:
        with self._lock:
            if workspace_id is None:
                return sum(self._by_workspace.values())
            return self._by_workspace.get(workspace_id, 0)


_LEFTOVERS = _Counter()


def _refuse_while_stopping(workspace_id: str) -> None:
    if _LEFTOVERS.of(workspace_id) >= RUNNING_PER_WORKSPACE:     # left behind by this copy or older ones
        raise SqlBoxError(f"{RUNNING_PER_WORKSPACE} queries of this workspace passed their time limit and are still "
                          "being stopped. Try again in a moment.", code="sql_busy")


def leftovers(workspace_id: str | None = None) -> int:
    """Queries past their time limit that DuckDB is still finishing in the background (in this process, or of
    one workspace)."""
    return _LEFTOVERS.of(workspace_id)


def _time_limit_words(limit_s: float) -> str:
    return (f"Stopped after {limit_s:g} s: the query took longer than the box's time limit. Narrow it (a WHERE on "
            "taken_at or published_at, fewer joins) or aggregate first.")


def _explain(exc: duckdb.Error) -> SqlBoxError:
    words = _duckdb_words(exc)
    if isinstance(exc, duckdb.PermissionException):
        return SqlBoxError("Refused: files, other databases and the network are out of reach in this box; query "
                           f"its tables ({', '.join(BOX_TABLES)}). DuckDB said: {words}", code="sql_external")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SqlBoxError("Stopped: the query needed more memory than the box allows. Aggregate first or narrow "
                           "it with WHERE.", code="sql_memory")
    if isinstance(exc, duckdb.ParserException):
        return SqlBoxError(f"DuckDB could not read this SQL: {words}", code="sql_syntax")
    if isinstance(exc, duckdb.CatalogException):
        if "extension" in words:
            words = words.split(" Please try installing", 1)[0] + " Extensions cannot be loaded in this box."
        return SqlBoxError(f"{words} The tables here are: {', '.join(BOX_TABLES)}.", code="sql_unknown_name")
    return SqlBoxError(f"The query failed: {words}", code="sql_error")


def _not_copied(exc: BaseException) -> str | None:
    """The table a stand-in view stopped the query at (see `_Box`), if that is what `exc` is."""
    found = re.search(re.escape(_NOT_COPIED) + r"(\w+)", str(exc))
    return found.group(1) if found and found.group(1) in BOX_TABLES else None


def _duckdb_words(exc: BaseException) -> str:
    # DuckDB's message without the LINE/caret drawing, which a one-line message cannot show.
    return " ".join(str(exc).split("\n\nLINE")[0].split())


def _frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas for a table on screen: whole numbers as nullable ints (NULL stays missing, not NaN),
    DuckDB's DECIMAL results (SUM of integers is a HUGEINT) as ints or floats instead of Decimal objects."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_decimal(field.type):
            target = pa.int64() if field.type.scale == 0 else pa.float64()
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(pa.float64(), safe=False)
        elif pa.types.is_interval(field.type):
            # pandas would show a DateOffset repr; DuckDB's own wording is what the user wrote.
            column = pa.array([None if v is None else _interval_text(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=table.column_names)
    nullable = {pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
                pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.Int64Dtype(), pa.uint16(): pd.Int64Dtype(),
                pa.uint32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=nullable.get)


def _interval_text(value) -> str:
    """An INTERVAL as DuckDB prints it: ``1 month 2 days 03:00:00``."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    parts = []
    if months:
        years, months = divmod(months, 12) if months > 0 else (0, months)
        parts += [f"{years} year{'s' * (abs(years) != 1)}"] if years else []
        parts += [f"{months} month{'s' * (abs(months) != 1)}"] if months else []
    if days:
        parts.append(f"{days} day{'s' * (abs(days) != 1)}")
    if nanos or not parts:
        sign = "-" if nanos < 0 else ""
        seconds, fraction = divmod(abs(nanos), 1_000_000_000)
        hours, rest = divmod(seconds, 3600)
        clock = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        parts.append(clock + (f".{fraction // 1000:06d}".rstrip("0") if fraction else ""))
    return " ".join(parts)


class _Cache:
    """Copies per engine (weakly held) and workspace, each tagged with the engine version it is up to date with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._building: dict[tuple[int, str], threading.Lock] = {}
        self.builds = 0    # how many copies were opened (tests and the bench read it)
        self.catch_ups = 0  # how many were brought up to date after a refresh instead

    def get(self, engine, workspace_id: str, notify: Callable[[str], None], *, room: float = 1.0) -> _Box:
        """The workspace's copy, up to date with the engine's version; `room` > 1 opens a new, roomier one."""
        version = engine.version  # read before catching up: a refresh meanwhile makes the next call catch up again
        with self._lock:
            boxes = self._by_engine.setdefault(engine, OrderedDict())
            build_lock = self._building.setdefault((id(engine), workspace_id), threading.Lock())
        with build_lock:  # one copy or catch-up at a time per workspace; others wait and use it
            with self._lock:
                if room == 1.0:
                    box = boxes.get(workspace_id)
                else:                           # the kept one ran out of room: let it go first
                    boxes.pop(workspace_id, None)
                    box = None
            if box is not None and box.version != version:
                try:
                    box.catch_up(engine.cursor, notify)
                    with self._lock:
                        self.catch_ups += 1
                except _TooTight:
                    with self._lock:
                        boxes.pop(workspace_id, None)
                    box = None              # let it go before the new one is made: never both held
            if box is None:
                box = _Box(engine.cursor, workspace_id, room=room)
                with self._lock:
                    self.builds += 1
            box.version = version
            with self._lock:
                boxes[workspace_id] = box
                boxes.move_to_end(workspace_id)
                self._trim(boxes)
            return box

    def trim(self, engine) -> None:
        """Hold to the bounds again (a copy grows as its tables are copied)."""
        with self._lock:
            self._trim(self._by_engine.get(engine, OrderedDict()))

    @staticmethod
    def _trim(boxes: OrderedDict) -> None:
        while len(boxes) > 1 and (len(boxes) > CACHED_WORKSPACES
                                  or sum(b.bytes for b in boxes.values()) > CACHE_BYTES):
            boxes.popitem(last=False)

    def held(self, engine) -> dict[str, int]:
        """The copies kept for `engine`: workspace -> bytes (tests and the bench read it)."""
        with self._lock:
            return {w: b.bytes for w, b in self._by_engine.get(engine, {}).items()}


_CACHE = _Cache()


def _box_for(con, workspace_id: str, notify: Callable[[str], None] = lambda words: None, *,
             room: float = 1.0) -> tuple[_Box, Callable[[], duckdb.DuckDBPyConnection]]:
    """The box to run on and where its tables are copied from."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return _Box(con.cursor, workspace_id, room=room), con.cursor
    if hasattr(con, "cursor") and hasattr(con, "version"):
        return _CACHE.get(con, workspace_id, notify, room=room), con.cursor
    raise TypeError("run_readonly needs the AnalyticsEngine or a DuckDB connection to its tables")


def copies_held(engine) -> dict[str, int]:
    """The workspaces whose copies are kept for `engine`, with what each weighs in bytes."""
    return _CACHE.held(engine)


def copies_made() -> int:
    """How many workspace copies the cache has opened in this process."""
    return _CACHE.builds


def copies_brought_up_to_date() -> int:
    """How many times a kept copy was brought up to date after a refresh (instead of copied anew)."""
    return _CACHE.catch_ups

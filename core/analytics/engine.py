"""The analytics engine: one DuckDB per dashboard process, fed from the SQL database by `core.analytics.feed`.

DuckDB cannot attach SQLite or PostgreSQL offline, and a process holding a DuckDB file for writing locks every
other process out. So the dashboard owns its DuckDB (a file only it opens, `<data dir>/analytics.duckdb`, or in
memory), and `refresh()` copies what is new in the SQL database into it as Arrow (see `core.analytics.feed`). The
runner never opens it.

The file keeps what was read between dashboard starts: the feed's marks live in its table ``feed_marks``, so a
reopened file reads only what is new (seconds instead of the whole history). It is only ever a copy, so whenever
it cannot be trusted it is rebuilt from the SQL database, and the log says why:

- the analytics tables changed with an Outpost upgrade (`layout_version()` differs): rebuilt from scratch;
- the SQL database is not the one the file was read from (another DATABASE_URL, a SQLite file replaced or
  recreated, a PostgreSQL database recreated: `source_identity()`), at open or at any later refresh: rebuilt,
  never two databases' rows mixed;
- the file is corrupt or unreadable: moved aside as ``analytics.duckdb.broken-<UTC time>`` and rebuilt;
- another process holds the file (a second dashboard): this one keeps its analytics in memory (it reads the
  whole history at start) and says so in the log and in `note`; the page works the same.

A process killed while it held the file leaves DuckDB's write-ahead log beside it; the next open replays it.

Threads: Streamlit runs each session in its own thread. Readers take `cursor()` (a new DuckDB connection on the
same database, one per thread or per query); refreshes run one at a time under a lock and write in one DuckDB
transaction, so a reader sees either the state before a refresh or the one after. That transaction also folds
each post's latest figures (`core.analytics.queries.fold_in`), and the refresh then tells the queries of the
cursors this engine hands out (`Writes`): they trust the folded tables without checking them, and ask for a
workspace's key once per refresh. A caller that writes the tables itself says so with `tables_written()`.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from core.analytics.queries import Writes, fold_latest, register
from core.analytics.schema import DDL

log = logging.getLogger("outpost.analytics")

#: The engine's file in the data directory.
FILE_NAME = "analytics.duckdb"
#: Bumped by hand when what the feed writes changes in a way the DDL and the feed's source do not show.
LAYOUT_EDITION = 1
# What the file was made by and read from (not part of core.analytics.schema: it describes the copy, not the data).
_META_DDL = "CREATE TABLE IF NOT EXISTS engine_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"


def layout_version() -> str:
    """A fingerprint of the analytics tables and of the code that fills them (the feed, and the queries, which keep
    derived tables such as each post's latest figures in the same DuckDB): a file made with another one was made
    by another version of Outpost and is rebuilt. A module may declare ``LAYOUT_VERSION`` (bumped when what it
    writes changes); without one, any change to its code counts."""
    from core.analytics import feed, queries
    parts = [str(LAYOUT_EDITION), DDL]
    for module in (feed, queries):
        declared = getattr(module, "LAYOUT_VERSION", None)
        if declared is not None:
            parts.append(f"{module.__name__} {declared}")
            continue
        try:
            parts.append(Path(module.__file__).read_text(encoding="utf-8"))
        except OSError:
            parts.append(f"{module.__name__} source unavailable")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


# ---------------------------------------------------------------- which database the copy was read from

def source_identity(sql_engine) -> dict[str, str] | None:
    """Who the SQL database is: its URL (password left out, hashed), the file's inode (SQLite) or the database's
    oid and schema (PostgreSQL), and its first workspace's id (random, written once). None when it cannot be
    asked (the feed then reports the real problem)."""
    import sqlalchemy as sa
    try:
        url = sql_engine.url
        backend = url.get_backend_name()
        ident = {"url": hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]}
        if backend == "sqlite":
            # No file yet: nothing to ask (connecting would create an empty one and hide the feed's "start
            # Outpost once" advice).
            ident["db"] = f"inode {os.stat(Path(url.database or '').expanduser()).st_ino}"
        with sql_engine.connect() as conn:
            if backend == "postgresql":
                oid, schemas = conn.execute(sa.text(
                    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()), "
                    "CAST(current_schemas(false) AS TEXT)")).one()
                ident["db"] = f"oid {oid} {schemas}"
            first = conn.execute(sa.text("SELECT id FROM workspaces ORDER BY created_at, id LIMIT 1")).first()
            conn.rollback()
        ident["first_workspace"] = first[0] if first else ""
        return ident
    except Exception:          # not a database we can ask (yet): no opinion
        return None


def different_source(held: dict[str, str] | None, now: dict[str, str] | None) -> str:
    """Why `now` is another database than the one `held` describes, in words; '' when it is the same (or unknown).
    A database with no workspace yet has no first workspace to compare: its first one is simply taken."""
    if not held or not now:
        return ""
    if held.get("url") != now.get("url"):
        return "the database address (DATABASE_URL) changed"
    if held.get("db") != now.get("db"):
        return "the database was replaced or recreated"
    if held.get("first_workspace") and held.get("first_workspace") != now.get("first_workspace"):
        return "the database holds other workspaces than the ones analytics read (it was replaced or recreated)"
    return ""


# ---------------------------------------------------------------- opening the file

class _Locked(Exception):
    pass


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise _Locked(str(exc)) from exc
        raise


def _discard(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        if p.exists():
            p.unlink()


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target, n = path.with_name(f"{path.name}.broken-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    wal = Path(f"{path}.wal")
    if path.exists():
        path.rename(target)
    if wal.exists():
        wal.rename(Path(f"{target}.wal"))
    return target


def _read_meta(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, str]]:
    """The file's tables and its engine_meta; a DuckDB error here means the file is damaged."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    meta = dict(con.execute("SELECT key, value FROM engine_meta").fetchall()) if "engine_meta" in tables else {}
    for table in tables:            # touch each table's first block: a damaged catalogue or header fails here
        con.execute(f'SELECT count(*) FROM "{table}"').fetchall()
    return tables, meta


def open_file(path: Path, identity: dict[str, str] | None
              ) -> tuple[duckdb.DuckDBPyConnection, str, str, dict[str, str] | None]:
    """(connection, mode 'file' or 'memory', note in words, the source identity to compare later refreshes with)
    for the engine's file at `path`. With `identity` None (the database could not be asked now) a file is kept
    and the identity it holds is returned: the first refresh that can ask compares with it."""
    path = Path(path)
    layout = layout_version()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in (1, 2, 3):
            try:
                con = _connect(path)
            except _Locked:
                raise
            except (duckdb.Error, OSError) as exc:
                moved = _move_aside(path)
                log.warning("Analytics: %s could not be opened (%s); moved it aside to %s and rebuilding it from "
                            "the database.", path, _words(exc), moved.name)
                note = f"The analytics file could not be read and was rebuilt (the old one is {moved.name})."
                continue
            try:
                tables, meta = _read_meta(con)
            except duckdb.Error as exc:
                con.close()
                moved = _move_aside(path)
                log.warning("Analytics: %s is damaged (%s); moved it aside to %s and rebuilding it from the "
                            "database.", path, _words(exc), moved.name)
                note = f"The analytics file was damaged and was rebuilt (the old one is {moved.name})."
                continue
            reason, held = "", None
            if tables and meta.get("layout") != layout:
                reason = "this version of Outpost keeps its analytics tables differently"
            elif tables:
                try:
                    held = json.loads(meta.get("source") or "null")
                except ValueError:
                    held = None
                reason = different_source(held, identity)
                if not held and identity is not None and tables - {"engine_meta"}:
                    reason = "the file does not say which database it was read from"
            if reason:
                con.close()
                _discard(path)
                log.warning("Analytics: rebuilding %s from scratch: %s.", path, reason)
                note = f"Analytics is read again from the start: {reason}."
                continue
            if attempt == 1:
                reopened = bool(tables - {"engine_meta"})
                note = "Reopened the analytics file: only what is new is read." if reopened else ""
                log.info("Analytics: opened %s (%s).", path, "reading only what is new" if reopened else "new file")
            con.execute(_META_DDL)
            con.execute("INSERT OR REPLACE INTO engine_meta VALUES ('layout', ?)", [layout])
            if identity is not None:
                con.execute("INSERT OR REPLACE INTO engine_meta VALUES ('source', ?)", [json.dumps(identity)])
            return con, "file", note, identity if identity is not None else held
        raise RuntimeError("the file could not be made usable after three tries")
    except _Locked as exc:
        log.warning("Analytics: %s is held by another process (%s); this dashboard keeps its analytics in memory "
                    "and reads the whole history at start.", path, _words(exc))
        return in_memory_duckdb(), "memory", (
            "Another dashboard process holds the analytics file, so this one keeps its analytics in memory "
            "(its first refresh reads the whole history)."), identity
    except Exception as exc:        # a directory we may not write, a file we may not move: memory still works
        log.warning("Analytics: %s cannot be used (%s); this dashboard keeps its analytics in memory.",
                    path, _words(exc))
        return in_memory_duckdb(), "memory", (
            f"The analytics file cannot be used ({_words(exc)}), so analytics is kept in memory."), identity


_MEMORY_DBS = itertools.count(1)


def in_memory_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose spilled blocks go to a directory of its own under the system's temporary directory
    (DuckDB makes it when it first spills and removes it on close), not to `.tmp` in the process's working
    directory, DuckDB's default for an in-memory database (the dashboard's would be the project's)."""
    spill = os.path.join(tempfile.gettempdir(), f"outpost-duckdb-{os.getpid()}-{next(_MEMORY_DBS)}")
    return duckdb.connect(":memory:", config={"temp_directory": spill})


def _words(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did: new or changed rows per DuckDB table, how long it took, the version after it."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    version: int = 0
    rebuilt: bool = False          # the SQL side lost rows (demo removed) or is another database: read again
    reason: str = ""               # why it rebuilt, in words

    @property
    def changed(self) -> bool:
        return any(self.rows.values()) or self.rebuilt

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        return {"rows": dict(self.rows), "seconds": round(self.seconds, 4), "version": self.version,
                "rebuilt": self.rebuilt, "reason": self.reason}


class AnalyticsEngine:
    """The dashboard's DuckDB with the analytics tables, and the feed that keeps it up to date.

    `path` makes it a file (see the module's notes: reopened incrementally, rebuilt when it cannot be trusted,
    in memory when another process holds it); without it the DuckDB is in memory. `mode` says which it is and
    `note` why, in words."""

    def __init__(self, database_url: str = "", *, path: str | Path | None = None, engine: Any = None):
        self.path = Path(path) if path else None
        self._sql, self._owns_sql = None, False
        if engine is not None:
            self._sql = engine
        elif database_url:
            import sqlalchemy as sa
            from core.db.engine import make_engine, normalize_url
            # SQLite: no connection kept between refreshes (the feed reads through its helper process; this one
            # only asks who the database is), so a file replaced between two refreshes is the one asked next.
            sqlite = sa.make_url(normalize_url(database_url)).get_backend_name() == "sqlite"
            kwargs = {"poolclass": sa.pool.NullPool} if sqlite else {}
            self._sql, self._owns_sql = make_engine(database_url, **kwargs), True
        self._identity = source_identity(self._sql) if self._sql is not None else None
        try:
            if self.path is not None:
                con, self.mode, self.note, self._identity = open_file(self.path, self._identity)
            else:
                con, self.mode, self.note = in_memory_duckdb(), "memory", ""
        except BaseException:
            self._dispose_sql()
            raise
        # The root connection only hands out cursors; the feed writes on a cursor of its own, so a reader asking
        # for a cursor never touches a connection a refresh is using.
        self._con = con
        self._lock = threading.RLock()
        self._version = 0
        self._writes = Writes()        # what the queries may take as known between two writes (refresh says)
        self._closed = False
        self._feed = None
        self._writer = None
        try:
            self._con.execute(DDL).fetchall()
            if self._sql is not None:
                from core.analytics.feed import Feed
                self._writer = self._con.cursor()
                self._feed = Feed(self._writer, engine=self._sql)
        except BaseException:
            if self._writer is not None:
                self._writer.close()
            self._con.close()
            self._dispose_sql()
            raise

    @classmethod
    def in_memory(cls) -> "AnalyticsEngine":
        """An empty engine with the schema and no SQL source (tests and benchmarks fill its tables themselves)."""
        return cls()

    @property
    def version(self) -> int:
        """Grows whenever a refresh changed anything: a cache key for query results."""
        return self._version

    @property
    def has_source(self) -> bool:
        return self._feed is not None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection on the shared DuckDB, for one thread (close it when done, or use it in `with`)."""
        if self._closed:
            raise RuntimeError("The analytics engine is closed.")
        return register(self._con.cursor(), self._writes)

    def tables_written(self) -> str:
        """Say that the analytics tables were written directly, not by `refresh()` (a benchmark or a test filling
        an in-memory engine): the derived tables are folded now, and the queries trust them (no freshness check
        per query) until the next write, which the writer announces the same way. Returns what the fold did
        ('fresh', 'folded', 'rebuilt')."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The analytics engine is closed.")
            outcome = fold_latest(self._con)       # on a cursor of its own
            self._version += 1
            self._writes.wrote(folded=True)
            return outcome

    def refresh(self, full: bool = False) -> RefreshResult:
        """Copy what is new or changed in the SQL database; `full=True` drops everything and reads it all again.

        When the SQL database is not the one the engine was read from (replaced, recreated, another address),
        everything is read again from it (`rebuilt`, with the reason). Without a SQL source (`in_memory()`)
        there is nothing to read: the result counts no rows.
        """
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                raise RuntimeError("The analytics engine is closed.")
            if self._feed is None:
                return RefreshResult({}, time.perf_counter() - started, self._version)
            identity = source_identity(self._sql)
            other = different_source(self._identity, identity)
            if other:
                log.warning("Analytics: reading everything again: %s.", other)
            outcome = self._feed.run(full=full or bool(other))
            if identity is not None and identity != self._identity:
                self._remember(identity)
            if outcome.changed:
                self._version += 1
            if outcome.changed or not self._writes.trusted:
                self._writes.wrote(folded=True)      # the feed folded in its own transaction
            return RefreshResult(outcome.rows, time.perf_counter() - started, self._version,
                                 outcome.rebuilt, other or outcome.reason)

    def _remember(self, identity: dict[str, str]) -> None:
        # After the refresh that read this database committed: a crash in between leaves the old identity, which
        # only makes the next start read everything again.
        self._identity = identity
        if self.mode == "file":
            cur = self._con.cursor()
            try:
                cur.execute(_META_DDL)
                cur.execute("INSERT OR REPLACE INTO engine_meta VALUES ('source', ?)", [json.dumps(identity)])
            finally:
                cur.close()

    def _dispose_sql(self) -> None:
        if self._owns_sql and self._sql is not None:
            self._sql.dispose()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._feed is not None:
                self._feed.close()
                self._writer.close()
            self._con.close()
            self._dispose_sql()

    def __enter__(self) -> "AnalyticsEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

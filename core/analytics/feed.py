"""The analytics feed: copies what is new in the SQL database (SQLite or PostgreSQL) into the engine's DuckDB.

DuckDB cannot attach SQLite or PostgreSQL here (the scanner extensions download on first use and fail offline),
so the feed reads the SQL database through the ADBC drivers, which hand back Arrow record batches, and DuckDB
turns them into the tables of `core.analytics.schema` in SQL (JSON parsed by DuckDB's json, never row by row in
Python). One refresh reads everything in one read transaction of the SQL database (a consistent picture) and
writes everything in one DuckDB transaction (readers see the state before it or after it, never half).

SQLite is read by ADBC in a helper process (`_SqliteWorker`), never in the dashboard's own: the ADBC SQLite
driver carries its own copy of SQLite, and two copies in one process break SQLite's file locks (see the comment
at `_SQLITE_WORKER`). PostgreSQL is read by ADBC in this process, on a connection kept between refreshes.

What is read, and how only the new part is read:

- ``post_metric_snapshots``, ``account_metric_snapshots``, ``activity_events`` are append-only: only rows past the
  last seen ``seq`` (kept in ``feed_marks``). On PostgreSQL a sequence number is taken at INSERT and becomes
  visible at COMMIT, so a lower number can appear after a higher one was read: there the feed reads again the
  last `PG_SEQ_WINDOW` numbers below its mark and keeps only the rows it does not hold yet. (SQLite has one
  writer at a time: numbers become visible in order.)
- ``posts`` and ``deliveries`` change in place: rows whose ``updated_at`` is at or after the last seen one minus
  `UPDATED_OVERLAP` (a transaction that commits late carries an earlier time), plus the posts of changed
  deliveries (a delivery's change rewrites its post's derived status without touching the post's updated_at).
  They are upserted by id; a row read again without a change does not count as changed.
- ``workspaces`` and ``accounts`` are small: read in full each time, upserted.
- Only ``post.approved`` and ``post.rejected`` events become ``decisions``.

Integer keys (wkey, akey, dkey) are given in order of first appearance and kept across refreshes. A snapshot of
a delivery or an account the SQL database no longer has (history outlives what it measured) gets a key and a
placeholder row (``deliveries.state`` NULL) so its history stays readable.

Deletions (the sandbox's demo history is removed in one click): before reading, the feed compares cheap figures
of the SQL database with what the engine holds (row counts of the small tables, and the highest ``seq`` of each
append-only one). Fewer rows there than here means something was deleted: the engine is emptied and fed again
from scratch in the same transaction. The large snapshot table is not counted (that would read all of it on
every refresh): the app deletes snapshots only together with their posts, which the posts count catches.
"""
from __future__ import annotations

import atexit
import json
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from core.analytics.schema import METRICS
from core.analytics.queries import fold_in, post_attrs_stale, post_attrs_update

UTC = timezone.utc
# Re-read posts and deliveries changed this long before the last change seen: a write stamps updated_at when it
# starts and becomes visible when it commits (seconds later for a large one, such as the demo history), and
# runners on other machines have their own clocks. Rows inside the overlap are read again each refresh.
UPDATED_OVERLAP = timedelta(seconds=60)
# PostgreSQL: sequence numbers read again below the mark (numbers taken by transactions that commit later).
PG_SEQ_WINDOW = 20_000
# Rows per chunk written into DuckDB while reading a large source (bounded memory on a full load).
CHUNK_ROWS = 500_000
# ADBC SQLite hands back this many rows per Arrow batch (its default, 1024, makes many small batches).
SQLITE_BATCH_ROWS = 65_536
# A media link is a video when its file name ends so (core/media/library.py stores uploads under these).
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "webm", "mkv", "avi")
DECISION_ACTIONS = {"post.approved": "approved", "post.rejected": "rejected"}

# DuckDB tables in the order they are fed, and the SQL sources behind them.
TABLES = ("workspaces", "accounts", "posts", "deliveries", "post_snapshots", "account_snapshots", "decisions")


@dataclass
class FeedOutcome:
    rows: dict[str, int] = field(default_factory=dict)
    rebuilt: bool = False
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.rebuilt or any(self.rows.values())


class _Rows:
    def __init__(self, rows: list[tuple]):
        self._rows = rows

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return self._rows


class _Duck:
    """The engine's DuckDB connection, each statement's result read to its end (DuckDB 2.0 refuses the next
    statement on a connection while a result is unfinished)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, params: list | None = None) -> _Rows:
        return _Rows(self.con.execute(sql, params).fetchall() if params else self.con.execute(sql).fetchall())

    def register(self, name: str, value) -> None:
        self.con.register(name, value)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)


class FeedError(RuntimeError):
    """The SQL database could not be read for analytics (said in words; the cause is chained)."""


# ---------------------------------------------------------------- the two SQL dialects

# Column kinds: S text, I integer, T timestamp (UTC), B boolean, J JSON (as text). A lower-case kind may be NULL.
class _Dialect:
    name = ""

    def src(self, column: str, kind: str) -> str:            # the SQL database's expression
        raise NotImplementedError

    def dd(self, column: str, kind: str) -> str:             # DuckDB's expression over the Arrow column
        raise NotImplementedError

    def timestamp_literal(self, at: datetime) -> str:
        raise NotImplementedError


class _Sqlite(_Dialect):
    """SQLite keeps datetimes as UTC wall-time text and booleans as integers, and ADBC's SQLite driver types each
    column from its first batch of rows (a column that starts with NULLs and then has text fails). So every
    column that may be NULL is read as text with '' for NULL, and DuckDB casts it back."""

    name = "sqlite"

    def src(self, column: str, kind: str) -> str:
        if kind in "sitj":
            return f"IFNULL(CAST({column} AS TEXT), '')"
        if kind in "IB":
            return f"CAST({column} AS INTEGER)"
        if kind in "ST":
            return f"CAST({column} AS TEXT)"
        return f"CAST({column} AS TEXT)"      # J

    def dd(self, column: str, kind: str) -> str:
        c = f'"{column}"'
        if kind in "sj":
            return f"NULLIF({c}, '')"
        if kind == "i":
            return f"CAST(NULLIF({c}, '') AS BIGINT)"
        if kind in "tT":
            return f"(CAST(NULLIF({c}, '') AS TIMESTAMP) AT TIME ZONE 'UTC')"
        if kind == "B":
            return f"CAST({c} AS BOOLEAN)"
        return c

    def timestamp_literal(self, at: datetime) -> str:
        # The stored form (SQLAlchemy's SQLite DateTime): compared as text, which orders like time.
        return "'" + at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"


class _Postgres(_Dialect):
    name = "postgresql"

    def src(self, column: str, kind: str) -> str:
        if kind in "sSjJ":
            return f"CAST({column} AS TEXT)"
        if kind in "iI":
            return f"CAST({column} AS BIGINT)"
        return column

    def dd(self, column: str, kind: str) -> str:
        # An empty text is no text, as on SQLite (where NULL travels as '').
        return f"""NULLIF("{column}", '')""" if kind in "sj" else f'"{column}"'

    def timestamp_literal(self, at: datetime) -> str:
        return "TIMESTAMPTZ '" + at.astimezone(UTC).isoformat() + "'"


# ---------------------------------------------------------------- the SQL side's columns

def _columns(spec: str) -> list[tuple[str, str, str]]:
    """'d.id:S:delivery_id, ...' -> [(SQL expression, kind, name)]."""
    out = []
    for item in spec.split(","):
        expr, kind, name = (part.strip() for part in item.strip().split(":"))
        out.append((expr, kind, name))
    return out


WORKSPACES = _columns("id:S:id, name:s:name, timezone_name:s:timezone_name")
ACCOUNTS = _columns("id:S:id, workspace_id:s:workspace_id, platform:S:platform, handle:s:handle, "
                    "display_name:s:display_name, status:s:status")
POSTS = _columns("p.id:S:id, p.workspace_id:s:workspace_id, p.caption:s:caption, p.hashtags:j:hashtags, "
                 "p.link:s:link, p.media_urls:j:media_urls, p.is_ai_generated:B:is_ai_generated, "
                 "p.is_demo:B:is_demo, p.state:s:state, p.status:s:status, p.batch_id:s:batch_id, "
                 "p.created_by:s:created_by, p.created_at:t:created_at, p.updated_at:t:updated_at")
DELIVERIES = _columns("d.id:S:id, d.post_id:S:post_id, d.account_id:S:account_id, p.workspace_id:s:workspace_id, "
                      "d.platform:S:platform, d.state:S:state, d.due_at:t:due_at, d.published_at:t:published_at, "
                      "d.attempts:i:attempts, d.last_error_code:s:last_error_code, d.last_error:s:last_error, "
                      "d.external_url:s:external_url, p.is_demo:B:is_demo, d.updated_at:t:updated_at")
POST_SNAPSHOTS = _columns("seq:I:seq, delivery_id:S:delivery_id, taken_at:T:taken_at, metrics:j:metrics, "
                          "is_demo:B:is_demo")
# What a placeholder delivery is made of (its snapshots outlived it), grouped by delivery_id.
SNAPSHOT_DELIVERIES = _columns("delivery_id:S:delivery_id, MAX(post_id):S:post_id, MAX(account_id):S:account_id, "
                               "MAX(workspace_id):s:workspace_id, MAX(platform):S:platform, "
                               "MAX(CASE WHEN is_demo THEN 1 ELSE 0 END):I:is_demo")
ACCOUNT_SNAPSHOTS = _columns("seq:I:seq, account_id:S:account_id, workspace_id:s:workspace_id, "
                             "platform:S:platform, taken_at:T:taken_at, followers:i:followers, is_demo:B:is_demo")
EVENTS = _columns("seq:I:seq, subject_id:S:subject_id, workspace_id:s:workspace_id, \"at\":T:at, "
                  "action:S:action, actor:s:actor")


# ---------------------------------------------------------------- connecting to the SQL database

def _sqlalchemy_engine(database_url: str, engine: Any):
    if engine is not None:
        return engine, False
    from core.db.engine import make_engine
    return make_engine(database_url), True


class _Connection:
    """An ADBC connection to the same database (and, on PostgreSQL, the same search_path) as a SQLAlchemy engine."""

    def __init__(self, engine):
        self.engine = engine
        backend = engine.url.get_backend_name()
        if backend == "sqlite":
            self.dialect: _Dialect = _Sqlite()
            database = engine.url.database or ""
            if not database or database == ":memory:" or database.startswith("file:"):
                raise FeedError("Analytics reads a SQLite database from its file; an in-memory SQLite database "
                                "cannot be shared with it.")
            # Absolute: the reading process may start after the dashboard changed its working directory.
            self._target = str(Path(database).expanduser().resolve())
            self._search_path = None
        elif backend == "postgresql":
            self.dialect = _Postgres()
            url = engine.url.set(drivername="postgresql")
            self._target = url.render_as_string(hide_password=False)
            # The engine may set its schema through connect_args (tests do): ask the server which it uses.
            with engine.connect() as conn:
                self._search_path = conn.exec_driver_sql("SHOW search_path").scalar()
        else:
            raise FeedError(f"Analytics can read SQLite or PostgreSQL, not {backend}.")

    kept: tuple | None = None          # PostgreSQL: the ADBC connection and cursor kept between refreshes

    @property
    def target(self) -> str:
        return self._target

    @property
    def search_path(self) -> str | None:
        return self._search_path

    def open(self) -> "_Reader":
        if self.dialect.name == "sqlite":
            return _SqliteReader(self._target)
        return _PostgresReader(self)

    def drop(self) -> None:
        kept, self.kept = self.kept, None
        if kept is not None:
            for thing in reversed(kept):
                try:
                    thing.close()
                except Exception:     # already broken
                    pass


class _Reader:
    """One read transaction on the SQL database: `one(sql)` -> the first row, `tables(sql)` -> Arrow tables of
    about CHUNK_ROWS rows each (none for no rows)."""

    def one(self, sql: str) -> tuple:
        raise NotImplementedError

    def tables(self, sql: str) -> Iterator[pa.Table]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _chunked(batches) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        if batch.num_rows:
            pending.append(batch)
            size += batch.num_rows
        if size >= CHUNK_ROWS:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if size:
        yield pa.Table.from_batches(pending)
    # No rows, no table: an empty result's column types are not the real ones (ADBC's SQLite driver types
    # columns from their values).


class _PostgresReader(_Reader):
    """ADBC's PostgreSQL driver in this process (libpq over a socket: nothing shared with psycopg). The connection
    is kept between refreshes (opening one reads the server's type catalogue, a few hundred milliseconds) and
    opened again after an error."""

    def __init__(self, owner: "_Connection"):
        self._owner = owner
        if owner.kept is None:
            try:
                import adbc_driver_postgresql.dbapi as adbc
                con = adbc.connect(owner.target, autocommit=True)
            except Exception as exc:      # the driver's own errors
                raise FeedError(f"Analytics could not open the database to read it: {exc}") from exc
            cur = con.cursor()
            if owner.search_path:
                cur.execute(f"SET search_path TO {owner.search_path}")
            owner.kept = (con, cur)
        self._con, self._cur = owner.kept
        self._ok = False
        try:
            self._cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._ok = True
        finally:
            if not self._ok:
                self.close()

    def one(self, sql: str) -> tuple:
        self._ok = False
        self._cur.execute(sql)
        row = self._cur.fetchone()
        self._ok = True
        return row

    def tables(self, sql: str) -> Iterator[pa.Table]:
        self._ok = False
        self._cur.execute(sql)
        yield from _chunked(self._cur.fetch_record_batch())
        self._ok = True

    def close(self) -> None:
        if self._ok:
            try:
                self._cur.execute("ROLLBACK")
                return
            except Exception:     # the connection broke: open a new one next time
                pass
        self._owner.drop()


# ADBC's SQLite driver links its own copy of SQLite. Two copies of SQLite in one process break SQLite's locking
# (POSIX locks belong to the process: closing one copy's file drops the other copy's locks, and each copy takes
# itself for the only user; https://www.sqlite.org/howtocorrupt.html section 2.2.1): the dashboard's own
# connections (Python's sqlite3) then read stale data or fail with "disk I/O error". So the SQLite reads run in
# a small helper process of their own, which sends the results back as Arrow IPC streams over a pipe.
_SQLITE_WORKER = r"""
import json, struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
sys.stdout = sys.stderr
def send(kind, payload=b""):
    out.write(kind + struct.pack("<Q", len(payload)))
    out.write(payload)
    out.flush()
try:
    import pyarrow as pa
    import adbc_driver_sqlite.dbapi as adbc
    from adbc_driver_sqlite import StatementOptions
    broken = None
except Exception as exc:
    broken = f"{type(exc).__name__}: {exc}"
def ipc(batches):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    return sink.getvalue().to_pybytes()
con = cur = None
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    req = json.loads(inp.read(struct.unpack("<I", head)[0]))
    try:
        if broken:
            raise RuntimeError(broken)
        op = req["op"]
        if op == "begin":
            con = adbc.connect(req["path"], autocommit=True)
            cur = con.cursor()
            cur.execute("BEGIN")
            send(b"O")
        elif op == "end":
            try:
                if cur is not None:
                    cur.execute("ROLLBACK")
                    cur.close()
            finally:
                if con is not None:
                    con.close()
                con = cur = None
            send(b"O")
        else:
            cur.adbc_statement.set_options(**{StatementOptions.BATCH_ROWS.value: str(req["batch_rows"])})
            cur.execute(req["sql"])
            pending, size = [], 0
            for batch in cur.fetch_record_batch():
                if batch.num_rows:
                    pending.append(batch)
                    size += batch.num_rows
                if size >= req["chunk_rows"]:
                    send(b"A", ipc(pending))
                    pending, size = [], 0
            if size:
                send(b"A", ipc(pending))
            send(b"D")
    except Exception as exc:
        send(b"E", f"{type(exc).__name__}: {exc}".encode())
"""


class _SqliteWorker:
    """The helper process that reads SQLite with ADBC (one per dashboard process, started on first use, ended
    with the process or when its pipe closes). Requests go one at a time: a reader holds `lock` throughout."""

    lock = threading.Lock()
    _proc: "subprocess.Popen | None" = None

    @classmethod
    def ensure(cls) -> "subprocess.Popen":
        if cls._proc is None or cls._proc.poll() is not None:
            cls._proc = subprocess.Popen([sys.executable, "-c", _SQLITE_WORKER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return cls._proc

    @classmethod
    def stop(cls) -> None:
        """End the helper process (at exit; a later read starts a new one)."""
        with cls.lock:
            proc, cls._proc = cls._proc, None
            if proc is not None and proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    @classmethod
    def kill(cls) -> None:
        """End the helper process now (the caller holds `lock`)."""
        proc, cls._proc = cls._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    @classmethod
    def ask(cls, request: dict) -> Iterator[tuple[bytes, bytes]]:
        proc = cls.ensure()
        body = json.dumps(request).encode()
        try:
            proc.stdin.write(struct.pack("<I", len(body)) + body)
            proc.stdin.flush()
            while True:
                head = proc.stdout.read(9)
                if len(head) < 9:
                    raise EOFError
                kind, size = head[:1], struct.unpack("<Q", head[1:])[0]
                payload = proc.stdout.read(size) if size else b""
                yield kind, payload
                if kind in (b"O", b"D", b"E"):
                    return
        except (OSError, EOFError, ValueError) as exc:
            cls.kill()
            raise FeedError("Analytics could not read the database: its reading process stopped.") from exc


atexit.register(_SqliteWorker.stop)


class _SqliteReader(_Reader):
    def __init__(self, path: str):
        self._streaming = False
        if not Path(path).is_file():      # SQLite would create an empty database there
            raise FeedError(f"Analytics found no database at {path}: start Outpost once to create it.")
        _SqliteWorker.lock.acquire()
        try:
            self._expect_ok({"op": "begin", "path": path}, "open the database to read it")
        except BaseException:
            _SqliteWorker.lock.release()
            raise

    @staticmethod
    def _expect_ok(request: dict, doing: str) -> None:
        for kind, payload in _SqliteWorker.ask(request):
            if kind == b"E":
                raise FeedError(f"Analytics could not {doing}: {payload.decode(errors='replace')}")

    def tables(self, sql: str) -> Iterator[pa.Table]:
        request = {"op": "query", "sql": sql, "batch_rows": SQLITE_BATCH_ROWS, "chunk_rows": CHUNK_ROWS}
        self._streaming = True      # until the worker says it is done: a reply left half read breaks the pipe
        for kind, payload in _SqliteWorker.ask(request):
            if kind == b"A":
                yield pa.ipc.open_stream(payload).read_all()
            elif kind == b"E":
                self._streaming = False
                raise FeedError(f"Analytics could not read the database: {payload.decode(errors='replace')}")
        self._streaming = False

    def one(self, sql: str) -> tuple:
        tables = list(self.tables(sql))
        return tuple(column[0].as_py() for column in tables[0].columns) if tables else ()

    def close(self) -> None:
        try:
            if self._streaming:         # stopped half way through a reply: start a fresh worker next time
                _SqliteWorker.kill()
            else:
                self._expect_ok({"op": "end"}, "finish reading the database")
        finally:
            _SqliteWorker.lock.release()


# ---------------------------------------------------------------- the feed

class Feed:
    """Feeds one DuckDB connection (the engine's) from one SQL database. Not thread-safe: the engine locks."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, database_url: str = "", engine: Any = None):
        self._con = _Duck(con)
        self._engine, self._owns_engine = _sqlalchemy_engine(database_url, engine)
        self._source = _Connection(self._engine)
        self._d = self._source.dialect
        self._marks_cache: dict[str, tuple] | None = None
        # The small tables as last read: read again in full each time, written only when they differ.
        self._last_small: dict[str, pa.Table] = {}

    def close(self) -> None:
        self._source.drop()
        if self._owns_engine:
            self._engine.dispose()

    # -- one refresh

    def run(self, *, full: bool = False) -> FeedOutcome:
        reader = self._source.open()
        try:
            return self._run(reader, full)
        finally:
            reader.close()

    def _run(self, cur, full: bool) -> FeedOutcome:
        con = self._con
        self._marks_cache = None
        reason = "" if not full else "a full refresh was asked for"
        if not full:
            reason = self._deleted(cur)
        outcome = FeedOutcome(rows={t: 0 for t in TABLES}, rebuilt=bool(reason), reason=reason)
        con.execute("BEGIN TRANSACTION")
        try:
            if outcome.rebuilt:
                for table in TABLES + ("feed_marks",):
                    con.execute(f"DELETE FROM {table}")
                self._marks_cache, self._last_small = {}, {}
            outcome.rows["workspaces"] = self._workspaces(cur)
            outcome.rows["accounts"] = self._accounts(cur)
            since_deliveries = self._mark_at("deliveries")
            outcome.rows["deliveries"] = self._deliveries(cur, since_deliveries)
            outcome.rows["posts"] = self._posts(cur, self._mark_at("posts"), since_deliveries)
            if outcome.rebuilt:
                # Everything read again: what the queries keep of the posts by delivery key is rebuilt on next use.
                post_attrs_stale(con)
            outcome.rows["post_snapshots"] = self._post_snapshots(cur)
            outcome.rows["account_snapshots"] = self._account_snapshots(cur)
            outcome.rows["decisions"] = self._decisions(cur)
            # Each post's latest figures and what its post says, folded from what was just written in the same
            # transaction: a query never sees new rows without them, so it need not check (core.analytics.queries).
            fold_in(con.con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            self._marks_cache, self._last_small = None, {}
            raise
        finally:
            for name in ("src", "stage", "pending"):
                con.execute(f"DROP TABLE IF EXISTS temp.{name}")
        return outcome

    # -- deletions

    def _deleted(self, cur) -> str:
        """Why the SQL database holds less than the engine (something was deleted), or '' when it does not."""
        held = self._con.execute(
            "SELECT (SELECT count(*) FROM workspaces), "
            "(SELECT count(*) FROM accounts WHERE status IS DISTINCT FROM '(gone)'), "
            "(SELECT count(*) FROM posts), (SELECT count(*) FROM deliveries WHERE state IS NOT NULL), "
            "(SELECT count(*) FROM account_snapshots)").fetchone()
        if not any(held) and self._mark_seq("post_snapshots") == 0 and self._mark_seq("activity_events") == 0:
            return ""
        there = cur.one("SELECT (SELECT count(*) FROM workspaces), (SELECT count(*) FROM accounts), "
                    "(SELECT count(*) FROM posts), (SELECT count(*) FROM deliveries), "
                    "(SELECT count(*) FROM account_metric_snapshots), "
                    "(SELECT COALESCE(MAX(seq), 0) FROM post_metric_snapshots), "
                    "(SELECT COALESCE(MAX(seq), 0) FROM activity_events)")
        there = [int(v or 0) for v in there]
        names = ("workspaces", "accounts", "posts", "deliveries", "account metric snapshots")
        for name, here, now in zip(names, held, there[:5]):
            if now < here:
                return f"{here - now} of the {name} were deleted"
        for name, source, now in (("post metric snapshots", "post_snapshots", there[5]),
                                  ("activity events", "activity_events", there[6])):
            if now < self._mark_seq(source):
                return f"the latest {name} were deleted"
        return ""

    # -- marks

    def _marks(self) -> dict[str, tuple]:
        if self._marks_cache is None:
            self._marks_cache = {r[0]: (r[1], r[2]) for r in self._con.execute("SELECT * FROM feed_marks").fetchall()}
        return self._marks_cache

    def _mark_seq(self, source: str) -> int:
        seq = self._marks().get(source, (None, None))[0]
        return int(seq) if seq is not None else 0

    def _mark_at(self, source: str) -> datetime | None:
        return self._marks().get(source, (None, None))[1]

    def _set_mark(self, source: str, *, seq: int | None = None, at: datetime | None = None) -> None:
        self._con.execute("INSERT OR REPLACE INTO feed_marks VALUES (?, ?, ?)", [source, seq, at])
        self._marks()[source] = (seq, at)

    # -- reading

    def _select(self, columns, tail: str) -> str:
        return "SELECT " + ", ".join(f'{self._d.src(e, k)} AS "{n}"' for e, k, n in columns) + " " + tail

    def _batches(self, cur: _Reader, query: str) -> Iterator[pa.Table]:
        """The result of `query` as Arrow tables of about CHUNK_ROWS rows (none when it has no rows)."""
        return cur.tables(query)

    def _stage(self, table: pa.Table, columns, select: str) -> None:
        """`table` into DuckDB as temp.stage: `select` over `src`, whose columns are DuckDB expressions by name."""
        con = self._con
        con.register("src_arrow", table)
        try:
            exprs = ", ".join(f'{self._d.dd(n, k)} AS "{n}"' for _, k, n in columns)
            con.execute(f"CREATE OR REPLACE TEMP TABLE src AS SELECT {exprs} FROM src_arrow")
        finally:
            con.unregister("src_arrow")
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS {select}")

    def _upsert(self, table: str, key: str, columns: list[str], int_key: str | None = None) -> int:
        """temp.stage into `table` by `key`: changed rows updated, new rows inserted (with the next integer
        keys); returns how many rows changed or were added."""
        con = self._con
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in columns)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
        changed = con.execute(f'UPDATE {table} AS t SET {sets} FROM stage AS s '
                              f'WHERE t."{key}" = s."{key}" AND ({differs})').fetchone()[0]
        names = ", ".join(f'"{c}"' for c in [key] + columns)
        values = ", ".join(f's."{c}"' for c in [key] + columns)
        new = "WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE t.\"{k}\" = s.\"{k}\")".format(t=table, k=key)
        if int_key:
            added = con.execute(
                f'INSERT INTO {table} ("{int_key}", {names}) '
                f'SELECT m.top + row_number() OVER (ORDER BY s."{key}"), {values} FROM stage AS s, '
                f'(SELECT COALESCE(MAX("{int_key}"), 0) AS top FROM {table}) AS m {new}').fetchone()[0]
        else:
            added = con.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM stage AS s {new}").fetchone()[0]
        return int(changed) + int(added)

    # -- the small tables, read in full

    def _unchanged(self, name: str, chunks: list[pa.Table]) -> bool:
        table = pa.concat_tables(chunks) if chunks else None
        previous = self._last_small.get(name)
        self._last_small[name] = table
        return name in self._last_small and previous is not None and table is not None and previous.equals(table)

    def _workspaces(self, cur) -> int:
        total = 0
        chunks = list(self._batches(cur, self._select(WORKSPACES, "FROM workspaces ORDER BY id")))
        if self._unchanged("workspaces", chunks):
            return 0
        for chunk in chunks:
            self._stage(chunk, WORKSPACES, "SELECT id AS workspace_id, name, timezone_name FROM src")
            total += self._upsert("workspaces", "workspace_id", ["name", "timezone_name"], "wkey")
        return total

    def _accounts(self, cur) -> int:
        total = 0
        chunks = list(self._batches(cur, self._select(ACCOUNTS, "FROM accounts ORDER BY id")))
        if self._unchanged("accounts", chunks):
            return 0
        for chunk in chunks:
            self._stage(chunk, ACCOUNTS,
                        "SELECT src.id AS account_id, w.wkey, src.workspace_id, src.platform, src.handle, "
                        "src.display_name, src.status "
                        "FROM src LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id")
            total += self._upsert("accounts", "account_id",
                                  ["wkey", "workspace_id", "platform", "handle", "display_name", "status"], "akey")
        return total

    # -- the tables that change in place

    def _since(self, mark: datetime | None) -> str | None:
        return None if mark is None else self._d.timestamp_literal(mark - UPDATED_OVERLAP)

    def _deliveries(self, cur, mark: datetime | None) -> int:
        since = self._since(mark)
        query = self._select(DELIVERIES, "FROM deliveries AS d JOIN posts AS p ON p.id = d.post_id"
                                         + (f" WHERE d.updated_at >= {since}" if since else ""))
        total = 0
        for chunk in self._batches(cur, query):
            if self._known(chunk, "deliveries", "delivery_id", {"updated_at": "t", "state": "S"}):
                continue
            self._stage(chunk, DELIVERIES,
                        "SELECT src.id AS delivery_id, src.post_id, a.akey, "
                        "COALESCE(w.wkey, a.wkey) AS wkey, src.account_id, "
                        "COALESCE(src.workspace_id, a.workspace_id) AS workspace_id, src.platform, src.state, "
                        "src.due_at, src.published_at, CAST(src.attempts AS INTEGER) AS attempts, "
                        "src.last_error_code, src.last_error, src.external_url, src.is_demo, src.updated_at "
                        "FROM src LEFT JOIN accounts AS a ON a.account_id = src.account_id "
                        "LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id")
            self._stub_accounts()
            total += self._upsert("deliveries", "delivery_id",
                                  ["post_id", "akey", "wkey", "account_id", "workspace_id", "platform", "state",
                                   "due_at", "published_at", "attempts", "last_error_code", "last_error",
                                   "external_url", "is_demo", "updated_at"], "dkey")
            self._advance_at("deliveries")
        return total

    def _posts(self, cur, mark: datetime | None, deliveries_mark: datetime | None) -> int:
        since = self._since(mark)
        tail = "FROM posts AS p"
        if since:
            tail += f" WHERE p.updated_at >= {since}"
            d_since = self._since(deliveries_mark) or since
            # The posts of changed deliveries: their derived status changed without their updated_at.
            tail = (f"{tail} UNION {self._select(POSTS, 'FROM posts AS p')} WHERE p.id IN "
                    f"(SELECT d.post_id FROM deliveries AS d WHERE d.updated_at >= {d_since})")
        video = "|".join(VIDEO_EXTENSIONS)
        total = 0
        for chunk in self._batches(cur, self._select(POSTS, tail)):
            # Everything but the derived status changes with updated_at.
            if self._known(chunk, "posts", "post_id", {"updated_at": "t", "state": "s", "status": "s"}):
                continue
            self._stage(chunk, POSTS, f"""
                SELECT src.id AS post_id, w.wkey, src.workspace_id, src.caption,
                    list_sort(list_distinct(list_filter(list_transform(
                        list_concat(COALESCE(try(json_extract_string(src.hashtags, '$[*]')), []),
                                    regexp_extract_all(COALESCE(src.caption, ''),
                                                       '(?:^|[^\\p{{L}}\\p{{N}}_#/&])#([\\p{{L}}\\p{{N}}_]+)', 1)),
                        lambda t: lower(ltrim(trim(t), '#'))), lambda t: t <> ''))) AS hashtags,
                    NULLIF(src.link, '') AS link,
                    m.urls[1] AS media_url,
                    CAST(len(m.urls) AS INTEGER) AS media_count,
                    CASE WHEN len(m.urls) = 0 THEN 'text'
                         WHEN len(list_filter(m.urls, lambda u: regexp_matches(lower(u),
                              '\\.({video})([?#].*)?$'))) > 0 THEN 'video'
                         WHEN len(m.urls) >= 2 THEN 'carousel'
                         ELSE 'image' END AS content_type,
                    src.is_ai_generated, src.is_demo, src.state, src.status, src.batch_id, src.created_by,
                    src.created_at, src.updated_at
                FROM src
                CROSS JOIN LATERAL (SELECT list_filter(COALESCE(try(json_extract_string(src.media_urls, '$[*]')), []),
                                                       lambda u: u IS NOT NULL AND trim(u) <> '') AS urls) AS m
                LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id""")
            total += self._upsert("posts", "post_id",
                                  ["wkey", "workspace_id", "caption", "hashtags", "link", "media_url", "media_count",
                                   "content_type", "is_ai_generated", "is_demo", "state", "status", "batch_id",
                                   "created_by", "created_at", "updated_at"])
            post_attrs_update(self._con, "stage")    # what the queries keep of these posts by delivery key
            self._advance_at("posts")
        return total

    def _known(self, chunk: pa.Table, table: str, key: str, compared: dict[str, str]) -> bool:
        """Whether every row of `chunk` (read again inside the overlap) is held as it is: then nothing is staged."""
        values = ", ".join(f'{self._d.dd(c, k)} AS "{c}"' for c, k in compared.items())
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM a."{c}"' for c in compared)
        self._con.register("again", chunk)
        try:
            return self._con.execute(
                f'SELECT count(*) FROM (SELECT id, {values} FROM again) AS a '
                f'LEFT JOIN {table} AS t ON t."{key}" = a.id WHERE t."{key}" IS NULL OR {differs}').fetchone()[0] == 0
        finally:
            self._con.unregister("again")

    def _advance_at(self, source: str) -> None:
        latest = self._con.execute("SELECT MAX(updated_at) FROM stage").fetchone()[0]
        mark = self._mark_at(source)
        if latest is not None and (mark is None or latest > mark):
            self._set_mark(source, at=latest)

    # -- placeholders for history that outlived its account or delivery

    def _stub_accounts(self) -> None:
        """Accounts in temp.stage (account_id, platform, workspace_id) that the engine does not know."""
        self._con.execute("""
            INSERT INTO accounts (akey, account_id, wkey, workspace_id, platform, handle, display_name, status)
            SELECT m.top + row_number() OVER (ORDER BY s.account_id), s.account_id, w.wkey, s.workspace_id,
                   s.platform, s.account_id, s.account_id, '(gone)'
            FROM (SELECT account_id, max(platform) AS platform, max(workspace_id) AS workspace_id
                  FROM stage WHERE akey IS NULL GROUP BY account_id) AS s
            LEFT JOIN workspaces AS w ON w.workspace_id = s.workspace_id,
            (SELECT COALESCE(MAX(akey), 0) AS top FROM accounts) AS m""")
        self._con.execute("UPDATE stage SET akey = a.akey, wkey = COALESCE(stage.wkey, a.wkey) FROM accounts AS a "
                          "WHERE stage.akey IS NULL AND a.account_id = stage.account_id")

    def _stub_deliveries(self) -> None:
        """Deliveries in temp.stage (delivery_id, post_id, account_id, ...) that the engine does not know."""
        self._con.execute("""
            INSERT INTO deliveries (dkey, delivery_id, post_id, akey, wkey, account_id, workspace_id, platform,
                                    is_demo)
            SELECT m.top + row_number() OVER (ORDER BY s.delivery_id), s.*
            FROM (SELECT delivery_id, max(post_id), max(akey), max(wkey), max(account_id), max(workspace_id),
                         max(platform), bool_or(is_demo)
                  FROM stage WHERE dkey IS NULL GROUP BY delivery_id) AS s,
                 (SELECT COALESCE(MAX(dkey), 0) AS top FROM deliveries) AS m""")
        self._con.execute("UPDATE stage SET dkey = d.dkey FROM deliveries AS d "
                          "WHERE stage.dkey IS NULL AND d.delivery_id = stage.delivery_id")

    # -- the append-only tables

    def _seq_where(self, cur, source: str, sql_table: str, held_table: str, extra: str = "") -> str:
        """The WHERE that reads `sql_table` past the mark of `source`. On PostgreSQL also the numbers below the
        mark (within PG_SEQ_WINDOW) that the engine does not hold: committed after a higher number was read. Only
        the numbers are read for that check (an index-only walk); rows are read only when some are missing."""
        mark = self._mark_seq(source)
        where = f"WHERE seq > {mark}{extra}"
        if self._d.name != "postgresql" or mark == 0:
            return where
        low = max(mark - PG_SEQ_WINDOW, 0)
        chunks = list(cur.tables(f"SELECT seq FROM {sql_table} WHERE seq > {low} AND seq <= {mark}{extra}"))
        there = pa.concat_tables(chunks) if chunks else pa.table({"seq": pa.array([], pa.int64())})
        self._con.register("seqs_there", there)
        try:
            missing = [int(r[0]) for r in self._con.execute(
                f"SELECT seq FROM seqs_there WHERE seq NOT IN (SELECT seq FROM {held_table} WHERE seq > {low}) "
                "ORDER BY seq").fetchall()]
        finally:
            self._con.unregister("seqs_there")
        if missing:
            where = f"WHERE (seq > {mark} OR seq IN ({', '.join(map(str, missing))})){extra}"
        return where

    def _post_snapshots(self, cur) -> int:
        """The largest source, in one statement per chunk straight from Arrow: a snapshot's keys come from its
        delivery (only delivery_id, taken_at, metrics are read). Snapshots of deliveries the engine does not know
        wait in temp.pending until the read is over (no second query while one streams), then get placeholder
        deliveries made from their snapshots' other columns."""
        where = self._seq_where(cur, "post_snapshots", "post_metric_snapshots", "post_snapshots")
        metrics = "{" + ", ".join(f'"{m}": "BIGINT"' for m in METRICS) + "}"
        d = self._d
        converted = (f"""(SELECT seq, delivery_id, {d.dd("taken_at", "T")} AS taken_at,
                              try(json_transform({d.dd("metrics", "j")}, '{metrics}')) AS m,
                              {d.dd("is_demo", "B")} AS is_demo FROM snap)""")
        insert = ("INSERT INTO post_snapshots SELECT s.seq, d.dkey, d.akey, d.wkey, s.taken_at, "
                  + ", ".join(f"s.m.{m}" for m in METRICS) + ", s.is_demo FROM {source} AS s "
                  "JOIN deliveries AS d ON d.delivery_id = s.delivery_id ORDER BY s.seq")
        total, pending = 0, False
        for chunk in self._batches(cur, self._select(POST_SNAPSHOTS,
                                                     f"FROM post_metric_snapshots {where} ORDER BY seq")):
            self._con.register("snap", chunk)
            try:
                if self._con.execute("SELECT count(*) FROM snap "
                                     "WHERE delivery_id NOT IN (SELECT delivery_id FROM deliveries)").fetchone()[0]:
                    self._con.execute(("INSERT INTO pending " if pending else "CREATE TEMP TABLE pending AS ")
                                      + f"SELECT * FROM {converted} "
                                      "WHERE delivery_id NOT IN (SELECT delivery_id FROM deliveries)")
                    pending = True
                total += self._con.execute(insert.format(source=converted)).fetchone()[0]
                latest = self._con.execute("SELECT MAX(seq) FROM snap").fetchone()[0]
            finally:
                self._con.unregister("snap")
            if latest is not None and latest > self._mark_seq("post_snapshots"):
                self._set_mark("post_snapshots", seq=int(latest))
        if pending:
            unknown = [r[0] for r in self._con.execute("SELECT DISTINCT delivery_id FROM pending").fetchall()]
            self._stub_deliveries_from(cur, unknown)
            total += self._con.execute(insert.format(source="pending")).fetchone()[0]
        return total

    def _stub_deliveries_from(self, cur, delivery_ids: list[str]) -> None:
        """Placeholders for deliveries the SQL database no longer has, from their snapshots."""
        for start in range(0, len(delivery_ids), 500):
            ids = ", ".join("'" + i.replace("'", "''") + "'" for i in delivery_ids[start:start + 500])
            for chunk in self._batches(cur, self._select(
                    SNAPSHOT_DELIVERIES,
                    f"FROM post_metric_snapshots WHERE delivery_id IN ({ids}) GROUP BY delivery_id")):
                self._stage(chunk, SNAPSHOT_DELIVERIES, """
                    SELECT src.delivery_id, CAST(NULL AS INTEGER) AS dkey, src.post_id, a.akey,
                           COALESCE(w.wkey, a.wkey) AS wkey, src.account_id,
                           COALESCE(src.workspace_id, a.workspace_id) AS workspace_id, src.platform,
                           CAST(src.is_demo AS BOOLEAN) AS is_demo
                    FROM src LEFT JOIN accounts AS a ON a.account_id = src.account_id
                    LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id""")
                self._stub_accounts()
                self._stub_deliveries()

    def _account_snapshots(self, cur) -> int:
        where = self._seq_where(cur, "account_snapshots", "account_metric_snapshots", "account_snapshots")
        total = 0
        for chunk in self._batches(cur, self._select(ACCOUNT_SNAPSHOTS,
                                                     f"FROM account_metric_snapshots {where} ORDER BY seq")):
            self._stage(chunk, ACCOUNT_SNAPSHOTS, """
                SELECT src.seq, a.akey, COALESCE(w.wkey, a.wkey) AS wkey, src.account_id,
                       COALESCE(src.workspace_id, a.workspace_id) AS workspace_id, src.platform, src.taken_at,
                       src.followers, src.is_demo
                FROM src LEFT JOIN accounts AS a ON a.account_id = src.account_id
                LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id""")
            self._stub_accounts()
            total += self._con.execute(
                "INSERT INTO account_snapshots SELECT seq, akey, wkey, taken_at, followers, is_demo "
                "FROM stage ORDER BY seq").fetchone()[0]
            self._advance_seq("account_snapshots")
        return total

    def _decisions(self, cur) -> int:
        actions = ", ".join(f"'{a}'" for a in DECISION_ACTIONS)
        where = self._seq_where(cur, "activity_events", "activity_events", "decisions",
                                extra=f" AND action IN ({actions})")
        # The mark moves past the events that are not decisions too: up to the highest number in this snapshot.
        top = int(cur.one("SELECT COALESCE(MAX(seq), 0) FROM activity_events")[0] or 0)
        total = 0
        for chunk in self._batches(cur, self._select(EVENTS, f"FROM activity_events {where} AND seq <= {top} "
                                                             "ORDER BY seq")):
            self._stage(chunk, EVENTS, f"""
                SELECT src.seq, src.subject_id AS post_id, w.wkey, src."at",
                       CASE src.action {' '.join(f"WHEN '{k}' THEN '{v}'" for k, v in DECISION_ACTIONS.items())}
                       END AS action, src.actor
                FROM src LEFT JOIN workspaces AS w ON w.workspace_id = src.workspace_id""")
            total += self._con.execute('INSERT INTO decisions SELECT seq, post_id, wkey, "at", action, actor '
                                       "FROM stage ORDER BY seq").fetchone()[0]
        if top > self._mark_seq("activity_events"):
            self._set_mark("activity_events", seq=top)
        return total

    def _advance_seq(self, source: str) -> None:
        latest = self._con.execute("SELECT MAX(seq) FROM stage").fetchone()[0]
        if latest is not None and latest > self._mark_seq(source):
            self._set_mark(source, seq=int(latest))

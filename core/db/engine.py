"""Engines for the system of record: a SQLite file by default, PostgreSQL for teams.

SQLite is tuned for one dashboard and one or more runners on one machine: WAL
(readers never block the writer), a busy timeout instead of instant "database is
locked" errors, foreign keys on, and write transactions that take the write lock
up front (``BEGIN IMMEDIATE``) so two writers never deadlock upgrading a read
lock. See https://www.sqlite.org/wal.html and https://www.sqlite.org/lang_transaction.html
"""
from __future__ import annotations

import json
import threading
import time as _time
import weakref
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option that marks a connection's next transaction as a writer.
WRITE_OPTION = "outpost_write"
# Execution option for a read of one statement: SQLite runs it in its own implicit read transaction, no BEGIN.
SINGLE_READ_OPTION = "outpost_single_read"


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` become `postgresql+psycopg://` (the driver Outpost ships)."""
    url = (url or "").strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, **engine_kwargs: Any) -> Engine:
    """An engine for `url` with Outpost's connection settings (extra kwargs go to create_engine)."""
    parsed = sa.make_url(normalize_url(url))
    engine_kwargs.setdefault("json_serializer", json_dumps)
    if parsed.get_backend_name() == "sqlite":
        # A SQLite file connection cannot be dropped by a server, so no ping before each checkout (it was a
        # query per transaction).
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **engine_kwargs)
        _tune_sqlite(engine)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)      # a server may have closed an idle connection
    engine = sa.create_engine(parsed, **engine_kwargs)
    _ping_only_when_idle(engine)
    return engine


# A server may close a connection that sat idle (a restart, an idle timeout, a firewall), so connections are
# pinged before use (pool_pre_ping), but only one that sat idle this long: pinging each checkout was one
# more round trip per transaction, and a runner makes several transactions per post.
PING_IDLE_S = 10.0


def _ping_only_when_idle(engine: Engine) -> None:
    if not getattr(engine.pool, "_pre_ping", False):
        return
    idle_since: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()
    dialect = engine.dialect
    ping = dialect.do_ping

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, _record):
        if dbapi_connection is not None:
            idle_since[dbapi_connection] = _time.monotonic()

    def do_ping(dbapi_connection) -> bool:
        since = idle_since.get(dbapi_connection)
        if since is not None and _time.monotonic() - since < PING_IDLE_S:
            return True                                # in use moments ago
        return ping(dbapi_connection)

    dialect.do_ping = do_ping


def _tune_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own handling
        # never begins before a SELECT, so reads would get no consistent snapshot).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection):
        options = conn.get_execution_options()
        write = options.get(WRITE_OPTION)
        if not write and options.get(SINGLE_READ_OPTION):
            return                  # one statement is its own snapshot (and the ROLLBACK at close a no-op)
        # Straight to the driver: BEGIN through SQLAlchemy's statement machinery cost more than the query it
        # opened (a runner opens several transactions per post). COMMIT / ROLLBACK go to the driver anyway.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")


class _SqliteWriter:
    """The writers of one process on one SQLite engine: a lock they queue on, and one connection they share
    (each in turn, under the lock). One connection for every write means no pool checkout per write, and a
    page cache that stays valid from one write to the next (a connection's cache is dropped whenever another
    connection wrote)."""

    def __init__(self, engine: Engine):
        self.lock = threading.RLock()
        self.conn: Connection | None = None
        self.engine = weakref.ref(engine)

    def connection(self) -> Connection:
        conn = self.conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                self.close()
            engine = self.engine()
            if engine is None:
                raise RuntimeError("The engine of this SQLite writer is gone.")
            conn = self.conn = engine.connect()
            conn.execution_options(**{WRITE_OPTION: True})
        return conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection: the pool has let go of it already
                pass


_WRITERS: "weakref.WeakKeyDictionary[Engine, _SqliteWriter]" = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def _sqlite_writer(engine: Engine) -> _SqliteWriter:
    with _WRITERS_GUARD:
        writer = _WRITERS.get(engine)
        if writer is None:
            writer = _WRITERS[engine] = _SqliteWriter(engine)

            def _on_dispose(_engine, writer=writer):
                with writer.lock:
                    writer.close()
            sa.event.listen(engine, "engine_disposed", _on_dispose)
        return writer


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any error.

    On SQLite, the threads of one process queue for the write lock on a Python lock first: SQLite's own
    busy handler makes a waiting writer sleep in growing steps (up to 100 ms) and retry, so with many threads
    the file's write lock sat idle between writers. Other processes still meet at BEGIN IMMEDIATE.
    The lock is held from BEGIN IMMEDIATE to COMMIT, on the one connection this process writes with (no pool
    checkout or reset per write, and its page cache stays warm between writes).
    """
    if is_sqlite(engine):
        writer = _sqlite_writer(engine)
        with writer.lock:
            conn = writer.connection()
            try:
                with conn.begin():
                    yield conn
            finally:
                if conn.invalidated:            # a broken connection is not kept for the next writer
                    writer.close()
        return
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"A value of type {type(value).__name__} cannot be stored as JSON.")


def json_dumps(value: Any) -> str:
    """JSON for the database: enums as their values, datetimes as ISO 8601."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))

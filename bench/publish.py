"""How fast and how punctually the runners publish: lag, throughput, memory.

    python -m bench.publish --deliveries 10000 --accounts 500 --latency-ms 200 --spread-s 600
    python -m bench.publish --deliveries 2000 --accounts 500 --latency-ms 200 --spread-s 0       # throughput
    python -m bench.publish --deliveries 2000 --accounts 500 --latency-ms 200 --spread-s 60 \\
        --background-posts 100000                                                              # memory
    ... [--runners R] [--platforms x,facebook,linkedin] [--database-url postgresql://...]

What it does:
1. Starts the platform emulator (`python -m sandbox`, its own process), lifts its quotas and turns its
   duplicate refusal off (a double publish must show up as a second post, not be hidden by the platform).
2. Creates a fresh database (a SQLite file in a temporary directory, or a new schema on the PostgreSQL server
   given by --database-url), an owner and a workspace, and connects M accounts through Outpost's real OAuth
   flow against the emulator (round robin over --platforms; caps lifted on each account).
3. Optionally schedules K background posts two months ahead (--background-posts), in bulk.
4. Sets the emulator's latency to L ms on every platform request and measures the floor: F publishing calls
   (--floor-calls, default min(N, 2000)) made straight from the adapters on a bare HTTP client, from a pool
   of --concurrency threads, round robin over the same accounts with the same kind of posts, no database and
   no runner (bench.common.measure_floor): what the platforms allow at that concurrency and latency.
5. Starts R runner processes (`python -m jobs.runner`) and waits for their first heartbeat.
6. Schedules N approved posts (one delivery each, unique text) due uniformly over S seconds from a moment
   just after they are written (S=0: all at that moment), and waits until every one is settled.
7. Stops the runners (SIGTERM) and prints the figures as ONE JSON object on the last line of stdout.

The runners' pacing is lifted: by default a runner publishes at most 3 posts per account per 10 minutes and
holds posts at an account's daily cap. This benchmark puts ~20 posts per account within 10 minutes, so the
runners get `--burst-limit 1000000 --no-daily-cap` (see bench.common.runner_args); nothing else is changed.

Figures: deliveries, published, duplicates, lost (bench.common.tally says exactly what counts), lag_p50_s and
lag_p99_s (the emulator's receipt time minus the due time, per delivery, matched by text; the receipt time is
taken after the emulator's injected latency, so the latency is part of the lag), throughput_per_s
(published / (last receipt - first due); meaningful with --spread-s 0), runner_rss_mb (peak VmHWM of any
runner process). A few extra keys help reading them (failed, needs_review, lag_max_s, CPU seconds).
Against the floor: floor_per_s (the bare client's calls per second), efficiency (throughput_per_s /
floor_per_s; meaningful with --spread-s 0 and one runner's --concurrency), runner_cpu_ms_per_delivery (the runner
processes' CPU time from scheduling to settling, from /proc, per delivery) and floor_cpu_ms_per_call (the
bare client's CPU per call, for comparison).
Targets: lag p99 <= 1.5 s at 10,000/500/200 ms/600 s; >= 100 per second and efficiency >= 0.5 at S=0 (one
runner, SQLite); two runners on PostgreSQL >= 1.3 times one; RSS <= 250 MB with 100,000 scheduled posts;
duplicates and lost always 0. The exit status is 1 when duplicates or lost are not 0.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta

from bench.common import (DEFAULT_PLATFORMS, RunnerPool, UTC, build_world, cleanup, emit, insert_background,
                          make_workdir, measure_floor, parse_platforms, percentile, phases, rounded, runner_args, say,
                          schedule_uniform, stop_on_sigterm, tally, wait_settled)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__.split("\n")[0])
    p.add_argument("--deliveries", type=int, required=True, help="N deliveries (one post each)")
    p.add_argument("--accounts", type=int, required=True, help="M connected emulator accounts")
    p.add_argument("--latency-ms", type=float, default=0.0, help="L ms added to every platform request")
    p.add_argument("--spread-s", type=float, default=0.0, help="due uniformly over S seconds (0: all at once)")
    p.add_argument("--runners", type=int, default=1, help="R runner processes")
    p.add_argument("--database-url", default=None,
                   help="a PostgreSQL server (a fresh schema is created, then dropped); default: a fresh SQLite file")
    p.add_argument("--platforms", default=",".join(DEFAULT_PLATFORMS),
                   help="comma-separated, round robin over the accounts (x, facebook, linkedin, instagram)")
    p.add_argument("--background-posts", type=int, default=0,
                   help="K extra approved posts scheduled two months ahead (memory with a full calendar)")
    p.add_argument("--concurrency", type=int, default=32, help="each runner's --concurrency")
    p.add_argument("--timeout-s", type=float, default=None,
                   help="how long to wait after the last due time (default: max(120, N/20) s)")
    p.add_argument("--lead-s", type=float, default=None,
                   help="how far ahead of writing the posts the first is due (default: 1.5 + N/4000 s)")
    p.add_argument("--floor-calls", type=int, default=None,
                   help="publishing calls from a bare client before the runners start (default min(N, 2000); 0: none)")
    p.add_argument("--seed", type=int, default=1, help="the emulator's seed")
    p.add_argument("--runner-log-level", default="INFO")
    p.add_argument("--platform-dedupe", action="store_true",
                   help="let the emulator refuse duplicate texts as the platforms do (off: duplicates stay visible)")
    p.add_argument("--no-analyze", action="store_true",
                   help="PostgreSQL: skip ANALYZE after the bulk inserts (as if autovacuum had not caught up yet)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite file) and schema")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stop_on_sigterm()
    if args.deliveries < 1 or args.accounts < 1 or args.runners < 1 or args.spread_s < 0:
        raise SystemExit("--deliveries, --accounts and --runners must be at least 1, --spread-s at least 0")
    platforms = parse_platforms(args.platforms)
    n, spread = args.deliveries, args.spread_s
    workdir = make_workdir(args.keep)
    world = pool = None
    try:
        world = build_world(workdir=workdir, database_url=args.database_url, platforms=platforms,
                            accounts=args.accounts, seed=args.seed, platform_dedupe=args.platform_dedupe,
                            keep=args.keep)
        insert_background(world, args.background_posts, analyze=not args.no_analyze)
        # After connecting: the OAuth round trips need not pay the latency.
        world.emulator.set_latency(args.latency_ms)
        floor_calls = min(n, 2000) if args.floor_calls is None else max(0, args.floor_calls)
        floor = measure_floor(world, floor_calls, args.concurrency)
        if floor:
            say(f"floor: {floor['floor_ok']} of {floor_calls} calls from a bare client, {floor['floor_per_s']}/s "
                f"at {args.concurrency} in flight ({floor['floor_cpu_ms_per_call']} ms CPU per call)")
        pool = RunnerPool(world, args.runners, runner_args(concurrency=args.concurrency,
                                                           log_level=args.runner_log_level),
                          log_level=args.runner_log_level)
        pool.wait_ready()
        say(f"{args.runners} runner(s) up")

        cpu_before = world.watch.cpu_now("runner")
        t0 = schedule_uniform(world, n, spread, lead_s=args.lead_s, analyze=not args.no_analyze)
        written = datetime.now(UTC)
        if written > t0:
            say(f"WARNING: the posts were written {(written - t0).total_seconds():.2f}s after the first was due; "
                "raise --lead-s (that time counts as lag)")
        ahead = (t0 - written).total_seconds()
        say(f"{n} deliveries scheduled, due {t0:%H:%M:%S} + {spread:g}s, the first {ahead:.1f}s from now")
        last_due = t0 + timedelta(seconds=spread)
        timeout = args.timeout_s if args.timeout_s is not None else max(120.0, n / 20)
        deadline = time.monotonic() + max(0.0, (last_due - datetime.now(UTC)).total_seconds()) + timeout
        counts = wait_settled(world.db.engine, last_due + timedelta(seconds=1), deadline)
        settled = datetime.now(UTC)
        runner_cpu = world.watch.cpu_now("runner") - cpu_before
        say("settled: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
            f" ({(settled - t0).total_seconds():.1f}s after the first due time)")
        pool.stop()
        result = tally(world, last_due + timedelta(seconds=1))
        lags = result.lags_s
        window = ((result.last_receipt - result.first_due).total_seconds()
                  if result.last_receipt and result.first_due else 0.0)
        out = {
            "deliveries": result.deliveries,
            "published": result.published,
            "duplicates": result.duplicates,
            "lost": result.lost,
            "lag_p50_s": rounded(percentile(lags, 50)),
            "lag_p99_s": rounded(percentile(lags, 99)),
            "throughput_per_s": rounded(result.published / window, 1) if window > 0 else None,
            "runner_rss_mb": world.watch.peak_mb("runner"),
            # Extras, to read the figures above.
            "failed": result.failed,
            "needs_review": result.needs_review,
            "lag_max_s": rounded(max(lags) if lags else None),
            "accounts": len(world.accounts),
            "runners": args.runners,
            "background_posts": args.background_posts,
            "database": "postgresql" if world.db.schema else "sqlite",
            "runner_cpu_s": world.watch.total_cpu("runner"),
            "emulator_cpu_s": world.watch.total_cpu("emulator"),
        }
        throughput = out["throughput_per_s"]
        out["floor_per_s"] = floor.get("floor_per_s")
        out["efficiency"] = (round(throughput / floor["floor_per_s"], 2)
                             if throughput and floor.get("floor_per_s") else None)
        out["runner_cpu_ms_per_delivery"] = round(runner_cpu * 1000 / result.deliveries, 2) if result.deliveries else None
        out.update({k: v for k, v in floor.items() if k not in out})
        out["phases_p50_p99_s"] = phases(world, result)
        if result.lost:
            out["lost_detail"] = result.lost_detail
        if result.codes:
            out["codes"] = result.codes
        emit(out)
        return 1 if result.duplicates or result.lost else 0
    finally:
        if pool is not None:
            pool.stop(timeout_s=10)
        if world is not None:
            world.watch.stop()
            world.emulator.stop()
            world.db.close()
        cleanup(workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())

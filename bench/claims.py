"""What one claim costs as the backlog of due deliveries grows: it should not grow with it.

    python -m bench.claims                                   # SQLite, backlogs 100, 1,000, 10,000, 100,000
    python -m bench.claims --database-url postgresql://...   # the same on a fresh PostgreSQL schema
    ... [--backlogs 100,1000,10000,100000] [--accounts 500] [--limit 32] [--rounds 60] [--layouts spread,front]

No emulator and no runner process: the store's own runner methods, called in this process, on a fresh
database with M accounts, for two shapes of backlog (--layouts):

- ``spread``: the due deliveries round robin over all accounts (a calendar that fell due).
- ``front``: nine tenths of the backlog (leaving the others two claims' worth at least), and the earliest of
  it, on 32 accounts that are busy (one delivery
  each in flight, claimed by another runner before the timing starts); the rest spread over the others.
  Every claim must pass over the busy accounts' rows to find claimable ones: the worst case for a claim
  that walks the due deliveries in order.

For each backlog size (filled incrementally: 100, then 900 more, ...) it runs R rounds of what a runner
does: ``claim_due(limit=32)``, then finishing the previous round's claims (the runner's workers finish
while it claims again, so the previous 32 accounts are in flight during each claim), then ``next_due_at``.
Each finish is ``retry_later`` due again at once (at the back of the line), so the backlog keeps its size.

Printed last, as one JSON object: per layout and backlog, the median (and p90) milliseconds per claim_due
call, per finish_delivery and per next_due_at; and per layout the ratio of the largest backlog's median claim
to the smallest's (``claim_ratio``: 1.0 is "costs the same whatever the backlog").
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import datetime, timedelta

from bench.common import (BenchDatabase, UTC, cleanup, emit, insert_posts, make_workdir, percentile, rounded, say,
                          stop_on_sigterm)

PLATFORMS = ("x", "facebook", "linkedin")
HOT_ACCOUNTS = 32          # the "front" layout's busy accounts
HOT_SHARE = 0.9            # ... and their share of the backlog


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.claims", description=__doc__.split("\n")[0])
    p.add_argument("--backlogs", default="100,1000,10000,100000", help="due deliveries, comma-separated, ascending")
    p.add_argument("--accounts", type=int, default=500, help="M accounts (round robin over x, facebook, linkedin)")
    p.add_argument("--limit", type=int, default=32, help="claim_due's limit (a runner's free workers)")
    p.add_argument("--rounds", type=int, default=60, help="claims timed per backlog size")
    p.add_argument("--layouts", default="spread,front", help="spread, front, or both (comma-separated)")
    p.add_argument("--database-url", default=None,
                   help="a PostgreSQL server (a fresh schema per layout, dropped after); default: SQLite files")
    p.add_argument("--keep", action="store_true", help="keep the work directory and schemas")
    return p


class Scenario:
    """One database, its accounts, and a backlog that grows in steps."""

    def __init__(self, workdir, database_url: str | None, accounts: int, layout: str, keep: bool, limit: int):
        from core.domain import Account, Workspace
        from core.domain.catalog import Platform
        from core.services.runtime import open_store
        from core.infra.settings import Settings
        self.layout = layout
        self.limit = limit
        self.db = BenchDatabase(workdir, database_url, keep=keep)
        self.store = open_store(Settings(data_dir=workdir, database_url=self.db.url))
        ws = self.store.add_workspace(Workspace(name=f"Claims bench ({layout})"))
        self.workspace_id = ws.id
        self.accounts = [self.store.save_account(Account(
            platform=Platform.parse(PLATFORMS[i % len(PLATFORMS)]), handle=f"@claims{i:05d}",
            oauth_token=f"token-{i}", workspace_id=ws.id, daily_cap=100000, min_gap_minutes=0))
            for i in range(accounts)]
        self.hot = self.accounts[:HOT_ACCOUNTS] if layout == "front" else []
        self.cold = self.accounts[HOT_ACCOUNTS:] if layout == "front" else self.accounts
        self.base = datetime.now(UTC) - timedelta(minutes=30)
        self.filled = 0
        self.made = 0

    def hot_rows(self, size: int) -> int:
        """How many of a backlog of `size` belong to the busy accounts: nine tenths, leaving the others at least
        two claims' worth (and the busy accounts one each)."""
        if not self.hot or size <= 0:
            return 0
        return max(len(self.hot), size - max(size - int(size * HOT_SHARE), 2 * self.limit))

    def fill_to(self, size: int) -> float:
        """Add due deliveries until the backlog holds `size`; returns seconds taken."""
        started = time.monotonic()
        add = size - self.filled
        if add <= 0:
            return 0.0
        hot_n = self.hot_rows(size) - self.hot_rows(self.filled)

        def items():
            # "front": the busy accounts' rows are due first (the earlier the more there are), the rest after.
            for i in range(hot_n):
                k = self.made + i
                yield (self.hot[k % len(self.hot)], f"claims bench hot {k}",
                       self.base - timedelta(milliseconds=k + 1), ())
            for i in range(add - hot_n):
                k = self.made + hot_n + i
                yield (self.cold[k % len(self.cold)], f"claims bench {k}",
                       self.base + timedelta(milliseconds=k % 600_000), ())

        insert_posts(self.db.engine, self.workspace_id, items())
        self.made += add
        self.filled = size
        return time.monotonic() - started

    def occupy_hot_accounts(self) -> None:
        """One delivery of each busy account in flight, held by another runner for the whole run."""
        if not self.hot:
            return
        now = datetime.now(UTC)
        got = self.store.claim_due(now, runner_id="bench-other-runner", lease_until=now + timedelta(hours=2),
                                   limit=len(self.hot))
        hot = {a.id for a in self.hot}
        if {d.account_id for d in got} != hot:
            raise RuntimeError(f"expected the {len(hot)} busy accounts' first deliveries, claimed {len(got)} others")

    def close(self) -> None:
        self.store.engine.dispose()
        self.db.close()


def measure(sc: Scenario, *, limit: int, rounds: int, runner_id: str) -> dict:
    store = sc.store
    claim_ms, finish_ms, next_ms, sizes = [], [], [], []
    in_hand: list = []
    gc.collect()
    for i in range(rounds + 1):
        now = datetime.now(UTC)
        t = time.perf_counter()
        claimed = store.claim_due(now, runner_id=runner_id, lease_until=now + timedelta(minutes=5), limit=limit)
        took = (time.perf_counter() - t) * 1000
        if i:                                  # the first claim only fills the pipeline
            claim_ms.append(took)
            sizes.append(len(claimed))
        accounts = [d.account_id for d in claimed] + [d.account_id for d in in_hand]
        if len(set(accounts)) != len(accounts):
            raise RuntimeError("two deliveries of one account in flight at once")
        for d in in_hand:
            again = datetime.now(UTC) - timedelta(seconds=1)
            t = time.perf_counter()
            done = store.finish_delivery(d.retry_later(at=again, error="bench: again"), runner_id=runner_id)
            finish_ms.append((time.perf_counter() - t) * 1000)
            if done is None:
                raise RuntimeError(f"lost the claim on {d.id}")
        in_hand = claimed
        t = time.perf_counter()
        store.next_due_at(datetime.now(UTC))
        next_ms.append((time.perf_counter() - t) * 1000)
    for d in in_hand:
        store.finish_delivery(d.retry_later(at=datetime.now(UTC), error="bench: again"), runner_id=runner_id)
    return {"claim_ms_p50": rounded(percentile(claim_ms, 50)), "claim_ms_p90": rounded(percentile(claim_ms, 90)),
            "claimed_per_call_p50": percentile(sizes, 50),
            "finish_ms_p50": rounded(percentile(finish_ms, 50)), "finish_ms_p90": rounded(percentile(finish_ms, 90)),
            "next_due_ms_p50": rounded(percentile(next_ms, 50)), "next_due_ms_p90": rounded(percentile(next_ms, 90))}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stop_on_sigterm()
    try:
        backlogs = sorted({int(x) for x in args.backlogs.split(",") if x.strip()})
    except ValueError:
        raise SystemExit(f"--backlogs: numbers, comma-separated (got {args.backlogs!r})") from None
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    if not backlogs or backlogs[0] < 1 or args.accounts < 1 or args.limit < 1 or args.rounds < 1:
        raise SystemExit("--backlogs, --accounts, --limit and --rounds must be at least 1")
    if not layouts or set(layouts) - {"spread", "front"}:
        raise SystemExit(f"--layouts: spread, front or both (got {args.layouts!r})")
    if "front" in layouts and (args.accounts <= HOT_ACCOUNTS or backlogs[0] < HOT_ACCOUNTS + 2 * args.limit):
        raise SystemExit(f"--layouts front needs more than {HOT_ACCOUNTS} accounts and backlogs of at least "
                         f"{HOT_ACCOUNTS} + 2 x --limit")
    out: dict = {"database": "postgresql" if args.database_url else "sqlite", "accounts": args.accounts,
                 "limit": args.limit, "rounds": args.rounds, "backlogs": backlogs}
    workdir = make_workdir(args.keep)
    try:
        for layout in layouts:
            (workdir / layout).mkdir()
            sc = Scenario(workdir / layout, args.database_url, args.accounts, layout, args.keep, args.limit)
            try:
                figures = {}
                for size in backlogs:
                    took = sc.fill_to(size)
                    if size == backlogs[0]:
                        sc.occupy_hot_accounts()
                    figures[str(size)] = fig = measure(sc, limit=args.limit, rounds=args.rounds,
                                                       runner_id=f"bench-claims-{layout}")
                    say(f"{layout:6s} backlog {size:>7,}: claim {fig['claim_ms_p50']:.2f} ms "
                        f"(p90 {fig['claim_ms_p90']:.2f}, {fig['claimed_per_call_p50']:g} claimed), finish "
                        f"{fig['finish_ms_p50']:.2f} ms, next_due_at {fig['next_due_ms_p50']:.2f} ms "
                        f"(filled in {took:.1f}s)")
                smallest, largest = figures[str(backlogs[0])], figures[str(backlogs[-1])]
                out[layout] = figures
                out[f"{layout}_claim_ratio"] = rounded(largest["claim_ms_p50"] / smallest["claim_ms_p50"], 2)
                out[f"{layout}_next_due_ratio"] = rounded(largest["next_due_ms_p50"] / smallest["next_due_ms_p50"], 2)
            finally:
                sc.close()
    finally:
        cleanup(workdir, args.keep)
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The runner benchmarks, run small: correctness only (nothing published twice, nothing lost), never timing.

Each bench runs as `python -m bench.<name>` in its own process, as a person would run it, with the emulator
and the runners as further processes; its last stdout line is the JSON result. The figures it prints about
speed (lag, throughput, memory) are for people reading a full-size run and are not asserted here.

The runs are started together, when the module's first test asks for them, and each test waits for its
own: most of a run is waiting (due times, the 30 s before a lost answer is checked, leases running out
after a kill), so side by side they take about as long as the longest alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")
SMALL = ["--deliveries", "40", "--accounts", "8", "--latency-ms", "20", "--spread-s", "3"]

RUNS = {
    # One runner, text posts on X, Facebook and LinkedIn, due over 3 s.
    "publish": ["publish", *SMALL],
    # Two runners sharing the database, everything due at once.
    "publish_two_runners": ["publish", *SMALL, "--runners", "2", "--spread-s", "0"],
    # Fault shares raised from 5/3/2% so that each kind fires on 40 deliveries, and one SIGKILL. 429s on Facebook
    # and on X with a 3-second window (X's real one is 15 minutes, LinkedIn's "after midnight": the runner waits).
    # The in-doubt timings are scaled down together, in the same order as the product's defaults (request timeout
    # 4 s < slow apply 6 s < settle window 10 s; the runner's listing lag 3 s covers the emulator's 2 s; a lost
    # answer asked about after 3 s): every fault lands in the same case as at full size, in a minute, not four.
    "chaos": ["chaos", "--deliveries", "40", "--kills", "1", "--accounts", "8", "--latency-ms", "20",
              "--spread-s", "3", "--p-5xx", "0.1", "--p-429", "0.1", "--p-lost", "0.1",
              "--rate-limit-platforms", "facebook,x", "--x-window-s", "3",
              "--platform-timeout-s", "4", "--slow-apply-s", "6", "--settle-s", "10", "--listing-lag-s", "2",
              "--runner-listing-lag-s", "3", "--reconcile-after-s", "3"],
}
# What a claim costs as the backlog grows (no emulator, no runner): small backlogs, both layouts.
CLAIMS = ["claims", "--backlogs", "50,300", "--accounts", "60", "--limit", "4", "--rounds", "3"]
RUNS["claims"] = CLAIMS
if POSTGRES_URL:
    RUNS["publish_postgres"] = ["publish", *SMALL, "--runners", "2", "--database-url", POSTGRES_URL]
    RUNS["claims_postgres"] = [*CLAIMS, "--database-url", POSTGRES_URL]


class Run:
    def __init__(self, module: str, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_") and k != "DATABASE_URL"}
        self.name = f"bench.{module}"
        self.proc = subprocess.Popen([sys.executable, "-m", self.name, *args], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self, timeout: float = 240) -> dict:
        """The last stdout line, parsed; the bench must have exited 0 (it exits 1 on duplicates or lost)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()           # the bench stops its emulator and runners on SIGTERM
            out, err = self.proc.communicate(timeout=30)
            pytest.fail(f"{self.name} did not finish within {timeout:.0f}s:\n{err[-3000:]}")
        lines = out.strip().splitlines()
        assert lines, f"{self.name} printed nothing (exit {self.proc.returncode}):\n{err[-3000:]}"
        result = json.loads(lines[-1])
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}: {result}\n{err[-3000:]}"
        return result


# Which runs each test reads (so `-k chaos` starts only the chaos run).
NEEDS = {"test_publish_bench_publishes_each_delivery_exactly_once": ("publish", "publish_two_runners"),
         "test_publish_bench_on_postgres": ("publish_postgres",),
         "test_chaos_bench_loses_nothing_and_publishes_nothing_twice": ("chaos",),
         "test_claims_bench_reports_the_cost_per_backlog": ("claims",),
         "test_claims_bench_on_postgres": ("claims_postgres",)}


@pytest.fixture(scope="module")
def runs(request):
    wanted = {name for item in request.session.items for name in NEEDS.get(item.originalname, ())}
    started = {name: Run(*args) for name, args in RUNS.items() if name in wanted}
    yield started
    for run in started.values():
        if run.proc.poll() is None:
            run.proc.terminate()
            run.proc.wait(30)


@pytest.mark.parametrize("name", ["publish", "publish_two_runners"])
def test_publish_bench_publishes_each_delivery_exactly_once(runs, name):
    result = runs[name].result()
    assert result["deliveries"] == 40
    assert result["duplicates"] == 0
    assert result["lost"] == 0
    assert result["published"] == 40               # no faults injected: every delivery goes out
    for key in ("lag_p50_s", "lag_p99_s", "throughput_per_s", "runner_rss_mb", "floor_per_s", "efficiency",
                "runner_cpu_ms_per_delivery"):
        assert key in result                       # reported, not judged
    assert result["floor_ok"] == result["floor_calls"] == 40     # the bare client's calls all went through


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set OUTPOST_TEST_POSTGRES_URL to run the benches on PostgreSQL")
def test_publish_bench_on_postgres(runs):
    result = runs["publish_postgres"].result()
    assert (result["published"], result["duplicates"], result["lost"]) == (40, 0, 0)


def test_chaos_bench_loses_nothing_and_publishes_nothing_twice(runs):
    # In-doubt deliveries wait for the settle window (10 s here, 2 minutes at full size) and two listing checks
    # before they are sent again or go to review: the run takes under a minute.
    result = runs["chaos"].result(timeout=300)
    assert result["deliveries"] == 40
    assert result["kills"] == 1
    assert result["duplicates"] == 0
    assert result["lost"] == 0
    assert result["failed_but_posted"] == 0
    # Every delivery ended somewhere a person can see: published, failed with a reason, or waiting for review.
    assert result["published"] + result["failed"] + result["needs_review"] == 40
    # The runners ran with the scaled-down timings the command line asked for.
    assert result["runner_timings"] == {"OUTPOST_PLATFORM_TIMEOUT_S": "4", "OUTPOST_SETTLE_S": "10",
                                        "OUTPOST_LISTING_LAG_S": "3", "reconcile_after_s": 3.0}


def check_claims(result: dict) -> None:
    assert result["backlogs"] == [50, 300]
    for layout in ("spread", "front"):
        for size in ("50", "300"):
            figures = result[layout][size]
            assert figures["claimed_per_call_p50"] == 4             # the limit, one per account, every call
            assert figures["claim_ms_p50"] > 0 and figures["finish_ms_p50"] > 0
        assert result[f"{layout}_claim_ratio"] > 0                  # reported, not judged


def test_claims_bench_reports_the_cost_per_backlog(runs):
    check_claims(runs["claims"].result())


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set OUTPOST_TEST_POSTGRES_URL to run the benches on PostgreSQL")
def test_claims_bench_on_postgres(runs):
    check_claims(runs["claims_postgres"].result())


@pytest.mark.parametrize("args, words", [
    (["--platform-timeout-s", "8", "--slow-apply-s", "6", "--settle-s", "10"], "must outlast the runner's request timeout"),
    (["--platform-timeout-s", "4", "--slow-apply-s", "12", "--settle-s", "10"], "land within its settle window"),
    (["--listing-lag-s", "5", "--runner-listing-lag-s", "3"], "must cover the emulator's"),
])
def test_chaos_bench_refuses_timings_that_change_what_a_fault_means(args, words):
    # Checked before anything starts (no emulator, no database): a run scaled down wrongly says so in words.
    from bench import chaos
    with pytest.raises(SystemExit, match=words):
        chaos.main(["--deliveries", "4", "--kills", "0", *args])

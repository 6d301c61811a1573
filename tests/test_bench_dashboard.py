"""`python -m bench.dashboard`, run small: it starts the dashboard, signs in through the form, opens the calendar
(200 posts in the month: every day busy enough to show counts per status, which must add up to exactly 200) and
the Posts page in Chromium, approves batches through core, and prints one JSON line with every figure.
Speed is reported, not judged here (a full-size run's figures are in the README)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed at /usr/bin/chromium")
def test_dashboard_bench_prints_every_figure():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_") and k != "DATABASE_URL"}
    proc = subprocess.run([sys.executable, "-m", "bench.dashboard", "--calendar-posts", "200", "--total-posts", "300",
                           "--batch", "5", "--rounds", "1", "--accounts", "4"],
                          cwd=ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("calendar_2000_posts_ms", "posts_page_100k_ms", "approve_batch_50_ms", "approve_batch_50_page_ms", "floor_ms"):
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result)
    assert result["load_1m_start"] >= 0 and result["load_1m_end"] >= 0
    assert (result["calendar_posts"], result["total_posts"], result["batch"], result["rounds"]) == (200, 300, 5, 1)
    assert result["database"] == "sqlite"

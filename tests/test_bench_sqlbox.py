"""bench.sqlbox run small, as a person runs it: its last line is the JSON result, its answers right (speed is not
asserted here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_sqlbox_prints_its_figures_as_the_last_line():
    out = subprocess.run([sys.executable, "-m", "bench.sqlbox", "--rows", "20000", "--refresh-rows", "500"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"rows", "first_query_ms", "next_query_ms", "after_refresh_ms"} <= set(result)
    assert (result["rows"], result["refresh_rows"]) == (20000, 500)
    assert result["answers_ok"] is True              # the box's answers match the engine's own, before and after
    assert all(result[k] > 0 for k in ("first_query_ms", "next_query_ms", "after_refresh_ms"))
    # The refresh was taken in by bringing the copy up to date, not by copying it again (the second copy is the
    # other workspace's, for its posts).
    assert (result["copies_made"], result["copies_brought_up_to_date"]) == (2, 1)
    assert result["posts_first_query_ms"] > 0
    assert 0 < result["workspace_snapshots"] <= 20000 + 500


@pytest.mark.parametrize("args, message", [
    (["--rows", "10"], "--rows must be at least 1000"),
    (["--rows", "2000", "--refresh-rows", "3000"], "--refresh-rows cannot exceed --rows"),
])
def test_bench_sqlbox_refuses_bad_arguments_in_words(args, message, capsys):
    from bench.sqlbox import main
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err

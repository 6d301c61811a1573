"""bench.best_time run small, as a person runs it: its last line is the JSON result (figures not asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_best_time_prints_its_figures_as_the_last_line():
    out = subprocess.run([sys.executable, "-m", "bench.best_time", "--trials", "3", "--weeks", "2",
                          "--held-out-weeks", "1", "--accounts", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["trials"], result["weeks"], result["held_out_weeks"], result["accounts"]) == (3, 2, 1, 2)
    for key in ("top1_accuracy", "top3_accuracy"):
        assert result[key] in (0.0, 0.333, 0.667, 1.0)
    assert result["top1_accuracy"] <= result["top3_accuracy"]
    assert sum(result["labels"].values()) == 3
    by_label = result["accuracy_by_label"]          # calibration: accuracy among the trials of each label
    assert sum(v["trials"] for v in by_label.values()) == 3
    assert all(result["labels"][k] == v["trials"] and v["top1"] <= v["top3"] for k, v in by_label.items())


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "--trials, --weeks, --held-out-weeks and --accounts must be at least 1"),
    (["--posts-per-week", "lots"], "--posts-per-week takes a range such as 7-21"),
    (["--posts-per-week", "9-3"], "--posts-per-week takes a range such as 7-21 (at least 1)"),
])
def test_bench_best_time_refuses_bad_arguments_in_words(args, message, capsys):
    from bench.best_time import main
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err

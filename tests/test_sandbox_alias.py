"""The emulator moved to the top-level `sandbox` package; its old name `jobs.sandbox` still works for a release."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sandbox = pytest.importorskip("sandbox")


def test_the_old_import_gives_the_same_emulator():
    import jobs.sandbox
    assert jobs.sandbox.Emulator is sandbox.Emulator
    assert jobs.sandbox.SandboxConfig is sandbox.SandboxConfig and jobs.sandbox.PLATFORMS == sandbox.PLATFORMS


@pytest.mark.parametrize("module", ["sandbox", "jobs.sandbox"])
def test_both_commands_start_the_same_emulator_cli(module):
    # --help exercises the whole import chain and the argument parser without binding a port.
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-m", module, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--state-file" in done.stdout and "python -m sandbox" in done.stdout
    assert done.stderr == ""

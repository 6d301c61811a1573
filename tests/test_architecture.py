"""The architecture is executable: import-linter's contracts in `.importlinter` hold.

core never imports pages, jobs, the emulator, bench or Streamlit; core's packages form layers that only point
down (services > db > store > platforms > media > rules > infra > domain); pages import neither core.db nor
SQLAlchemy themselves; no cycles between the modules of any core package. A failure prints import-linter's
report: which import breaks which contract.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.is_file(), f"import-linter is not installed in {sys.prefix}: pip install -r requirements-dev.txt"
    done = subprocess.run([str(lint), str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"import contracts broken:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout


def test_the_contracts_name_every_core_package():
    """A new package under core/ must take its place in the layers, or the layers contract says nothing of it."""
    packages = sorted(p.parent.name for p in (ROOT / "core").glob("*/__init__.py"))
    config = (ROOT / ".importlinter").read_text(encoding="utf-8")
    layers = config.split("[importlinter:contract:core-layers]")[1].split("[importlinter:contract:")[0]
    missing = [name for name in packages if f"core.{name}\n" not in layers]
    assert not missing, f"core packages missing from the layers contract in .importlinter: {missing}"

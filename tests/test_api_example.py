"""The README's Python API example runs exactly as written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ISSUE_EXAMPLE = '''from datetime import datetime, timezone
from core import Account, Platform, Post, Schedule, Scheduler, InMemoryPostStore

account = Account(platform=Platform.INSTAGRAM, handle="@creator", display_name="Creator", oauth_token="secure-token")
schedule = Schedule(scheduled_at=datetime(2026, 2, 10, 9, 0, tzinfo=timezone.utc), timezone_name="UTC")
post = Post(account=account, caption="Launching something new today.", hashtags=["#launch", "#creator"],
            media_urls=["https://example.com/asset.jpg"], schedule=schedule)
store = InMemoryPostStore()
scheduler = Scheduler(store)
scheduler.schedule_post("post-001", post)
'''


def test_the_example_runs_as_a_script(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(ISSUE_EXAMPLE + "print(scheduler.status('post-001').status.value)\n")
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "scheduled"
    # The token is never printed, not even by repr.
    assert "secure-token" not in out.stdout + out.stderr


def test_the_readme_shows_the_example_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert any(ISSUE_EXAMPLE.strip() in b for b in blocks)


def test_example_objects_behave():
    namespace: dict = {}
    exec(ISSUE_EXAMPLE, namespace)
    scheduler, store = namespace["scheduler"], namespace["store"]
    post = scheduler.get("post-001")
    assert post.caption == "Launching something new today."
    assert post.hashtags == ("#launch", "#creator")
    assert "secure-token" not in repr(post)
    [delivery] = store.get_deliveries("post-001")
    assert delivery.platform.value == "instagram" and delivery.state.value == "queued"

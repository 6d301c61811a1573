"""Times an adapter checkpoints in a delivery's progress ("sent", "doubt_at", "reply_sent:2") are read by one
function, core.platforms.base.checkpoint_time: a time that is unset, emptied ("sending it again is safe") or
unreadable means "not sent", the same on every platform. Kept by reading each adapter's source for a parse of
its own, so the next adapter written does not bring one back."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import core.platforms.base as base
from core.platforms.base import checkpoint_time

PLATFORMS = Path(base.__file__).resolve().parent


@pytest.mark.parametrize("stored,read", [
    (None, None), ("", None), ("not a time", None),
    ("2030-03-04T08:00:00.123456+00:00", datetime(2030, 3, 4, 8, 0, 0, 123456, tzinfo=timezone.utc)),
])
def test_a_checkpointed_time_reads_back_or_means_not_sent(stored, read):
    assert checkpoint_time(stored) == read


def test_no_adapter_parses_checkpointed_times_itself():
    # progress.get("...") handed straight to fromisoformat, or a second name for the reader
    own_parse = re.compile(r"fromisoformat\(\s*progress\b|=\s*checkpoint_time\s*(#|$)", re.MULTILINE)
    offenders = [p.name for p in sorted(PLATFORMS.glob("*.py")) if own_parse.search(p.read_text())]
    assert offenders == []
    assert not hasattr(base, "_when")

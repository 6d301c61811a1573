"""pages.shared: problems said once each, and the 'waiting for an account' rows kept while the workspace's data and
the minute are the same."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from core.domain.errors import OutpostError, Problem, ValidationError
from core.domain.timeutil import UTC
from pages import shared


@pytest.mark.parametrize("error, words", [
    # every problem, in order, none repeated (two accounts on one platform give the same message twice)
    (ValidationError([Problem("a", "Too long."), Problem("b", "No media."), Problem("a", "Too long.")]),
     ["Too long.", "No media."]),
    # one problem: its message alone
    (ValidationError("Pick an account."), ["Pick an account."]),
    # any other refusal: its message
    (OutpostError("Only an owner can do that."), ["Only an owner can do that."]),
    # a validation error without problems: its own words
    (ValidationError([]), ["invalid input"]),
])
def test_problem_words_are_each_problem_once(error, words):
    assert shared.problem_words(error) == words


def test_waiting_rows_are_read_again_when_the_minute_turns_or_the_data_changes(monkeypatch):
    reads, version = [], {"now": "v1"}
    clock = {"now": datetime(2030, 3, 4, 9, 0, 5, tzinfo=UTC)}
    monkeypatch.setattr(shared, "store", lambda: None)
    monkeypatch.setattr(shared, "data_version", lambda store, ws_id, actor: version["now"])
    monkeypatch.setattr(shared.timeutil, "utcnow", lambda: clock["now"])

    def blocked_rows(store, ws_id, *, tz_name, now, actor):
        reads.append(now)
        return [{"account_id": "a", "read_at": now}]

    monkeypatch.setattr(shared, "blocked_rows", blocked_rows)
    ctx = SimpleNamespace(workspace=SimpleNamespace(id=f"ws-{uuid.uuid4()}", timezone_name="UTC"), actor=None)
    minute = clock["now"].replace(second=0)

    assert shared.waiting_for_accounts(ctx) == [{"account_id": "a", "read_at": minute}]
    clock["now"] += timedelta(seconds=50)                 # 09:00:55, the same minute and data: kept
    shared.waiting_for_accounts(ctx)
    assert reads == [minute]
    clock["now"] += timedelta(seconds=10)                 # 09:01:05: read again, at the new minute
    assert shared.waiting_for_accounts(ctx)[0]["read_at"] == minute + timedelta(minutes=1)
    version["now"] = "v2"                                 # something was written: read again
    shared.waiting_for_accounts(ctx)
    assert reads == [minute, minute + timedelta(minutes=1), minute + timedelta(minutes=1)]

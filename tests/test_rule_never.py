"""A repeat rule whose BYSETPOS asks for a date its period never holds is refused at once, in words: before,
it was accepted silently and every look for its next date searched to the year 9999 (0.3 to 0.5 s of CPU each,
in the composer's preview and after each post of the series)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core import Account, InMemoryPostStore, Platform, Post, Schedule, Scheduler
from core.domain.errors import ValidationError
from core.rules.timing import validate_rule

X = Account(platform=Platform.X, handle="@brand", oauth_token="t")
WHEN = Schedule(scheduled_at=datetime.now(timezone.utc) + timedelta(days=1), timezone_name="Europe/Berlin")


def test_the_ninth_monday_the_thirtieth_of_april_or_june_is_refused_when_scheduling():
    rule = "FREQ=YEARLY;BYMONTH=4,6;BYMONTHDAY=31,30;BYDAY=MO;BYSETPOS=9"
    with pytest.raises(ValidationError) as err:
        Scheduler(InMemoryPostStore()).schedule_post("p1", Post(caption="Hi", account=X, recurrence=rule,
                                                                schedule=WHEN))
    [problem] = err.value.problems
    assert problem.code == "rule_never" and problem.field == "recurrence"
    assert problem.message == ("This repeat never happens: BYSETPOS=9 picks a date by its place in each year, but "
                               "the rest of the rule gives at most 4 dates a year.")


@pytest.mark.parametrize("rule, words", [
    ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-6", "at most 5 dates a month"),
    ("FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=3", "at most 2 dates a week"),
    ("FREQ=DAILY;BYHOUR=9,10;BYSETPOS=3", "at most 2 dates a day"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,15;BYSETPOS=3,-3", "at most 2 dates a month"),
])
def test_other_positions_past_their_period_are_refused(rule, words):
    with pytest.raises(ValidationError) as err:
        validate_rule(rule)
    assert err.value.problems[0].code == "rule_never" and words in err.value.problems[0].message


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",            # the last working day of the month
    "FREQ=YEARLY;BYMONTH=4,6;BYMONTHDAY=30;BYDAY=MO;BYSETPOS=1",  # rare, but it happens (30 June 2031 is a Monday)
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5",                         # a fifth Monday: some months have one
    "FREQ=MONTHLY;BYMONTHDAY=1,15;BYSETPOS=2,3",                # one of the positions exists
    "FREQ=DAILY;BYHOUR=9,10;BYSETPOS=2",
])
def test_positions_a_period_can_hold_are_kept(rule):
    assert validate_rule(rule) == rule

"""The composer's repeat rule builder (core.rules.recurrence_builder): choices -> RRULE the Scheduler accepts,
RRULE -> words and back to the same choices, the next posts in the workspace's zone (across a DST change), and
every wrong choice said in words at once."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from core.domain.errors import ValidationError
from core.domain.timeutil import zone
from core.rules.recurrence_builder import (RepeatChoices, build_rule, choices_from_rule, describe, off_rule_start,
                                           upcoming)

BERLIN = "Europe/Berlin"


@pytest.mark.parametrize("choices, rule, words", [
    (RepeatChoices("daily"), "FREQ=DAILY", "every day"),
    (RepeatChoices("daily", every=3, ends="after", count=4), "FREQ=DAILY;INTERVAL=3;COUNT=4", "every 3 days, 4 times"),
    (RepeatChoices("weekdays"), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday"),
    (RepeatChoices("weekdays", every=2, ends="on", until=date(2027, 3, 1)),
     "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;UNTIL=20270301", "every 2 weeks on weekdays, until Mon 1 Mar 2027"),
    (RepeatChoices("weekly", days=("TU", "TH"), every=2, ends="after", count=6),
     "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=6", "every 2 weeks on Tue, Thu, 6 times"),
    (RepeatChoices("weekly", days=("FR",)), "FREQ=WEEKLY;BYDAY=FR", "every week on Friday"),
    (RepeatChoices("monthly", month_day=15), "FREQ=MONTHLY;BYMONTHDAY=15", "every month on day 15"),
    (RepeatChoices("monthly", month_day=31, every=2), "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=31",
     "every 2 months on day 31 (a month without day 31 is skipped)"),
])
def test_choices_make_the_rule_its_words_and_reopen_the_same(choices, rule, words):
    assert build_rule(choices) == rule
    assert describe(rule) == words
    assert choices_from_rule(rule) == choices


def test_weekly_days_come_out_in_week_order_once():
    assert build_rule(RepeatChoices("weekly", days=("SU", "mo", "MO"))) == "FREQ=WEEKLY;BYDAY=MO,SU"


def test_a_rule_the_builder_cannot_make_is_kept_as_it_is():
    assert choices_from_rule("FREQ=MONTHLY;BYDAY=1MO") is None        # first Monday: not one of the builder's
    assert choices_from_rule("FREQ=YEARLY") is None
    assert choices_from_rule("") is None and choices_from_rule("nonsense") is None
    assert describe("FREQ=MONTHLY;BYDAY=1MO") == "every month on the first Monday"


def test_wrong_choices_are_all_said_at_once_in_words():
    with pytest.raises(ValidationError) as exc:
        build_rule(RepeatChoices("weekly", every=0, days=(), ends="after", count=0))
    assert [p.message for p in exc.value.problems] == [
        "'Every' must be a whole number from 1 to 99.",
        "Choose at least one day of the week for a weekly post.",
        "The number of posts must be from 1 to 500."]
    with pytest.raises(ValidationError) as exc:
        build_rule(RepeatChoices("monthly", month_day=32, ends="on"))
    assert [p.message for p in exc.value.problems] == ["The day of the month must be from 1 to 31.",
                                                      "Choose the date the series ends on."]
    with pytest.raises(ValidationError, match=r"cannot end \(01 Mar 2027\) before its first post \(02 Mar 2027\)"):
        build_rule(RepeatChoices("daily", ends="on", until=date(2027, 3, 1)), first_day=date(2027, 3, 2))


def test_the_next_five_posts_keep_their_wall_time_across_the_clock_change():
    first = datetime(2027, 3, 26, 9, 0, tzinfo=zone(BERLIN))          # summer time starts on Sun 28 Mar 2027
    posts = upcoming(build_rule(RepeatChoices("daily")), first, BERLIN)
    assert [p.local.strftime("%a %d %b %H:%M %Z") for p in posts] == [
        "Fri 26 Mar 09:00 CET", "Sat 27 Mar 09:00 CET", "Sun 28 Mar 09:00 CEST", "Mon 29 Mar 09:00 CEST",
        "Tue 30 Mar 09:00 CEST"]


def test_an_ending_series_lists_only_its_posts_and_the_first_post_counts():
    first = datetime(2027, 3, 2, 18, 30, tzinfo=zone(BERLIN))          # a Tuesday
    rule = build_rule(RepeatChoices("weekly", days=("MO",), ends="after", count=3))
    posts = upcoming(rule, first, BERLIN)
    assert [p.local.strftime("%a %d %b") for p in posts] == ["Tue 02 Mar", "Mon 08 Mar", "Mon 15 Mar"]
    assert off_rule_start(rule, first, BERLIN)
    assert not off_rule_start(build_rule(RepeatChoices("weekly", days=("TU",))), first, BERLIN)
    until = build_rule(RepeatChoices("daily", ends="on", until=date(2027, 3, 4)))
    assert [p.local.day for p in upcoming(until, first, BERLIN)] == [2, 3, 4]   # the end day itself included

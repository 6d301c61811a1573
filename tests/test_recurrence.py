"""core.rules.timing recurrence: RRULE validation, plain words, occurrences across DST and leap
years, and catching up after downtime without a burst.

DST facts (tz database, 2026): Europe/Berlin is CET (UTC+1) until Sun 29 Mar 02:00, then CEST
(UTC+2) until Sun 25 Oct 03:00; America/New_York springs forward Sun 8 Mar at 02:00 and falls
back Sun 1 Nov at 02:00.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.domain.errors import ValidationError
from core.rules.timing import catch_up, describe_rule, next_occurrence, validate_rule

UTC = timezone.utc
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def occurrences(rule: str, anchor: datetime, tz: str, n: int, *, after: datetime | None = None):
    """The first `n` occurrences after `after` (from the anchor, inclusive, when None)."""
    found = []
    cursor = after if after is not None else anchor - timedelta(seconds=1)
    for _ in range(n):
        res = next_occurrence(rule, anchor, tz, after=cursor)
        if res is None:
            break
        found.append(res)
        cursor = res.at
    return found


# ---------------------------------------------------------------- validate_rule

@pytest.mark.parametrize(("rule", "normalised"), [
    ("FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"),                       # already normal
    ("RRULE:FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"),                 # the iCalendar property name is dropped
    ("  rrule:freq=weekly; byday=mo,we;  ", "FREQ=WEEKLY;BYDAY=MO,WE"),     # case, spaces, a trailing ';'
    ("BYDAY=MO;FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=MO"),                       # FREQ first
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),   # leap day exists
    ("FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYMONTHDAY=-1"),           # the last day of the month
    ("FREQ=DAILY;UNTIL=20261231T235959Z", "FREQ=DAILY;UNTIL=20261231T235959Z"),
    ("FREQ=DAILY;UNTIL=20261231", "FREQ=DAILY;UNTIL=20261231"),
    ("FREQ=DAILY;COUNT=10", "FREQ=DAILY;COUNT=10"),
    ("FREQ=DAILY;BYHOUR=9,17", "FREQ=DAILY;BYHOUR=9,17"),                   # twice a day is fine
    ("FREQ=MONTHLY;BYDAY=1MO", "FREQ=MONTHLY;BYDAY=1MO"),                   # first Monday
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU"),
])
def test_validate_rule_accepts(rule, normalised):
    assert validate_rule(rule) == normalised


@pytest.mark.parametrize(("rule", "code", "words"), [
    ("", "invalid_rule", "empty"),
    ("FREQ=HOURLY", "rule_too_frequent", "every hour is too frequent"),
    ("FREQ=MINUTELY;INTERVAL=30", "rule_too_frequent", "every minute"),
    ("RRULE:FREQ=SECONDLY", "rule_too_frequent", "every second"),
    # 24 hours x 2 minutes a day is hourly posting in disguise.
    ("FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=0,30", "rule_too_frequent", "48 times a day"),
    ("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY", "rule_dtstart", "DTSTART"),
    ("FREQ=DAILY;DTSTART=20260101T090000Z", "rule_dtstart", "DTSTART"),
    ("FREQ=DAILY;COUNT=3;UNTIL=20261231", "rule_count_until", "not both"),
    ("FREQ=FORTNIGHTLY", "invalid_rule", "FREQ must be"),
    ("BYDAY=MO", "invalid_rule", "needs a FREQ"),
    ("FREQ=WEEKLY;BYDAY=XX", "invalid_rule", "BYDAY"),
    ("FREQ=WEEKLY;BYDAY=", "invalid_rule", "NAME=VALUE"),
    ("FREQ=DAILY;INTERVAL=0", "invalid_rule", "INTERVAL"),
    ("FREQ=DAILY;COUNT=abc", "invalid_rule", "COUNT"),
    ("FREQ=MONTHLY;BYMONTHDAY=32", "invalid_rule", "BYMONTHDAY"),
    ("FREQ=MONTHLY;BYMONTHDAY=0", "invalid_rule", "BYMONTHDAY"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "rule_never", "never happens"),
    ("FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31", "rule_never", "never happens"),
    ("FREQ=DAILY;UNTIL=2026-12-31", "invalid_rule", "UNTIL"),
    ("FREQ=DAILY;UNTIL=20261301", "invalid_rule", "UNTIL"),
    ("FREQ=DAILY;FOO=1", "invalid_rule", "FOO"),
    ("FREQ=DAILY;FREQ=WEEKLY", "invalid_rule", "twice"),
    ("EXRULE:FREQ=DAILY", "invalid_rule", "not a repeat rule"),
    ("every monday", "invalid_rule", "NAME=VALUE"),
    (42, "invalid_rule", "must be text"),
])
def test_validate_rule_refuses(rule, code, words):
    with pytest.raises(ValidationError) as exc:
        validate_rule(rule)
    assert exc.value.problems[0].code == code
    assert words in str(exc.value)


# ---------------------------------------------------------------- describe_rule

@pytest.mark.parametrize(("rule", "words"), [
    ("FREQ=WEEKLY;BYDAY=MO", "every week on Monday"),
    ("FREQ=DAILY", "every day"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", "every 2 weeks on Tue, Thu"),
    ("FREQ=MONTHLY;BYMONTHDAY=1", "every month on day 1"),
    ("RRULE:FREQ=WEEKLY", "every week"),                                     # the anchor's weekday; no more to say
    ("FREQ=DAILY;INTERVAL=3", "every 3 days"),
    ("FREQ=DAILY;BYDAY=MO,WE,FR", "every week on Mon, Wed, Fri"),            # daily on some days is weekly
    ("FREQ=MONTHLY;BYMONTHDAY=1,15", "every month on days 1, 15"),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", "every month on the last day"),
    ("FREQ=MONTHLY;BYDAY=1MO", "every month on the first Monday"),
    ("FREQ=MONTHLY;BYDAY=-1FR;COUNT=5", "every month on the last Friday, 5 times"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "every year on 29 Feb"),
    ("FREQ=YEARLY;BYMONTH=1,7", "every year in Jan, Jul"),
    ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231", "every week on Friday, until Thu 31 Dec 2026"),
    ("FREQ=DAILY;COUNT=1", "every day, once"),
    # Parts we have no honest short words for: the rule itself.
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
    ("FREQ=DAILY;BYHOUR=9,17", "FREQ=DAILY;BYHOUR=9,17"),
    ("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"),
    # Not a rule at all: shown as given rather than raising in a page.
    ("every monday", "every monday"),
])
def test_describe_rule(rule, words):
    assert describe_rule(rule) == words


# ---------------------------------------------------------------- next_occurrence

def test_weekly_monday_in_berlin_stays_at_nine_local_across_spring_forward():
    # Mon 16 Mar 2026 09:00 CET; clocks change on Sun 29 Mar.
    anchor = datetime(2026, 3, 16, 9, 0, tzinfo=ZoneInfo(BERLIN))
    found = occurrences("FREQ=WEEKLY;BYDAY=MO", anchor, BERLIN, 4)
    assert [r.at for r in found] == [
        utc(2026, 3, 16, 8, 0),   # CET
        utc(2026, 3, 23, 8, 0),   # CET
        utc(2026, 3, 30, 7, 0),   # CEST: an hour earlier in UTC, still 09:00 in Berlin
        utc(2026, 4, 6, 7, 0),    # CEST
    ]
    assert {r.local.time() for r in found} == {time(9, 0)}
    assert {r.kind for r in found} == {"exact"}


def test_weekly_monday_in_berlin_stays_at_nine_local_across_fall_back():
    anchor = datetime(2026, 10, 19, 9, 0, tzinfo=ZoneInfo(BERLIN))   # CEST
    found = occurrences("FREQ=WEEKLY;BYDAY=MO", anchor, BERLIN, 2)
    assert [r.at for r in found] == [utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0)]
    assert [r.local.time() for r in found] == [time(9, 0), time(9, 0)]


def test_daily_0230_in_new_york_is_shifted_once_on_spring_forward_day():
    anchor = datetime(2026, 3, 6, 2, 30, tzinfo=ZoneInfo(NY))        # 07:30 UTC (EST)
    found = occurrences("FREQ=DAILY", anchor, NY, 5)
    assert [(r.at, r.local.time(), r.kind) for r in found] == [
        (utc(2026, 3, 6, 7, 30), time(2, 30), "exact"),
        (utc(2026, 3, 7, 7, 30), time(2, 30), "exact"),
        (utc(2026, 3, 8, 7, 30), time(3, 30), "shifted_forward"),   # 02:30 does not exist that night
        (utc(2026, 3, 9, 6, 30), time(2, 30), "exact"),             # EDT from here on
        (utc(2026, 3, 10, 6, 30), time(2, 30), "exact"),
    ]
    assert found[2].notice.startswith("2:30 AM does not exist on Sun 8 Mar 2026")


def test_daily_0130_in_new_york_posts_once_on_fall_back_day():
    anchor = datetime(2026, 10, 31, 1, 30, tzinfo=ZoneInfo(NY))      # 05:30 UTC (EDT)
    found = occurrences("FREQ=DAILY", anchor, NY, 3)
    assert [(r.at, r.kind) for r in found] == [
        (utc(2026, 10, 31, 5, 30), "exact"),
        (utc(2026, 11, 1, 5, 30), "first_of_two"),   # the first 01:30; the second one is not another post
        (utc(2026, 11, 2, 6, 30), "exact"),          # EST
    ]


def test_an_anchor_in_the_second_pass_of_a_repeated_hour_keeps_its_own_instant():
    # 06:30 UTC on 1 Nov is the second 01:30 in New York (EST).
    anchor = utc(2026, 11, 1, 6, 30)
    found = occurrences("FREQ=DAILY", anchor, NY, 2)
    assert [r.at for r in found] == [utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 30)]


def test_several_times_a_night_across_dst_stay_in_order_and_never_double_post():
    # Six posts a night (01:15, 01:45, 02:15, 02:45, 03:15, 03:45). On the spring-forward night 02:15 and
    # 02:45 shift onto the real 03:15 and 03:45, which post once each; on the fall-back night the repeated
    # 01:15 and 01:45 post only the first time.
    rule = "FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=15,45"
    spring = [r for r in occurrences(rule, utc(2026, 3, 7, 6, 15), NY, 12) if r.local.day == 8]
    assert [(r.at, r.kind) for r in spring] == [
        (utc(2026, 3, 8, 6, 15), "exact"), (utc(2026, 3, 8, 6, 45), "exact"),
        (utc(2026, 3, 8, 7, 15), "shifted_forward"), (utc(2026, 3, 8, 7, 45), "shifted_forward"),
    ]
    autumn = [r for r in occurrences(rule, utc(2026, 10, 31, 5, 15), NY, 12) if r.local.day == 1]
    assert [(r.at, r.kind) for r in autumn] == [
        (utc(2026, 11, 1, 5, 15), "first_of_two"), (utc(2026, 11, 1, 5, 45), "first_of_two"),
        (utc(2026, 11, 1, 7, 15), "exact"), (utc(2026, 11, 1, 7, 45), "exact"),
        (utc(2026, 11, 1, 8, 15), "exact"), (utc(2026, 11, 1, 8, 45), "exact"),
    ]


@pytest.mark.parametrize(("rule", "tz", "anchor", "expected"), [
    # Yearly from a leap day: dateutil skips years without 29 Feb, so only leap days follow.
    ("FREQ=YEARLY", BERLIN, datetime(2028, 2, 29, 9, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2028, 2, 29, 8), utc(2032, 2, 29, 8), utc(2036, 2, 29, 8)]),
    # The same, said explicitly.
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", BERLIN, datetime(2028, 2, 29, 9, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2028, 2, 29, 8), utc(2032, 2, 29, 8), utc(2036, 2, 29, 8)]),
    # Monthly on the 31st skips the short months (and follows CET/CEST).
    ("FREQ=MONTHLY;BYMONTHDAY=31", BERLIN, datetime(2026, 1, 31, 9, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2026, 1, 31, 8), utc(2026, 3, 31, 7), utc(2026, 5, 31, 7), utc(2026, 7, 31, 7), utc(2026, 8, 31, 7),
      utc(2026, 10, 31, 8), utc(2026, 12, 31, 8)]),
    # The last day of every month, leap February included.
    ("FREQ=MONTHLY;BYMONTHDAY=-1", "UTC", utc(2028, 1, 31, 12),
     [utc(2028, 1, 31, 12), utc(2028, 2, 29, 12), utc(2028, 3, 31, 12)]),
    # COUNT=3 ends the series after three posts.
    ("FREQ=DAILY;COUNT=3", "UTC", utc(2026, 3, 2, 9), [utc(2026, 3, 2, 9), utc(2026, 3, 3, 9), utc(2026, 3, 4, 9)]),
    # UNTIL as a date includes that whole local day.
    ("FREQ=DAILY;UNTIL=20260304", BERLIN, datetime(2026, 3, 2, 23, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2026, 3, 2, 22), utc(2026, 3, 3, 22), utc(2026, 3, 4, 22)]),
    # UNTIL in UTC is an exact instant: 08:00 UTC on 4 Mar is included ...
    ("FREQ=DAILY;UNTIL=20260304T080000Z", BERLIN, datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2026, 3, 2, 8), utc(2026, 3, 3, 8), utc(2026, 3, 4, 8)]),
    # ... and a second earlier it is not.
    ("FREQ=DAILY;UNTIL=20260304T075959Z", BERLIN, datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(BERLIN)),
     [utc(2026, 3, 2, 8), utc(2026, 3, 3, 8)]),
    # An anchor off the rule (a Wednesday for a Monday rule) is still the first post, and counts in COUNT.
    ("FREQ=WEEKLY;BYDAY=MO;COUNT=2", "UTC", utc(2026, 3, 4, 10), [utc(2026, 3, 4, 10), utc(2026, 3, 9, 10)]),
    # Without COUNT the Mondays simply follow.
    ("FREQ=WEEKLY;BYDAY=MO", "UTC", utc(2026, 3, 4, 10),
     [utc(2026, 3, 4, 10), utc(2026, 3, 9, 10), utc(2026, 3, 16, 10)]),
])
def test_occurrences(rule, tz, anchor, expected):
    found = [r.at for r in occurrences(rule, anchor, tz, len(expected) + 1)]
    ends = "COUNT" in rule or "UNTIL" in rule
    # A rule that ends yields exactly the expected posts; an endless one goes on after them.
    assert (found if ends else found[:len(expected)]) == expected


@pytest.mark.parametrize(("rule", "anchor", "last"), [
    ("FREQ=DAILY;COUNT=3", utc(2026, 3, 2, 9), utc(2026, 3, 4, 9)),
    ("FREQ=DAILY;UNTIL=20260304T080000Z", utc(2026, 3, 2, 8), utc(2026, 3, 4, 8)),
    ("FREQ=WEEKLY;BYDAY=MO;COUNT=1", utc(2026, 3, 4, 10), utc(2026, 3, 4, 10)),   # COUNT=1: the anchor alone
])
def test_next_occurrence_is_none_when_the_rule_has_ended(rule, anchor, last):
    assert next_occurrence(rule, anchor, "UTC", after=last) is None
    assert next_occurrence(rule, anchor, "UTC", after=last - timedelta(seconds=1)).at == last


@pytest.mark.parametrize(("after", "expected"), [
    (utc(2020, 1, 1), utc(2026, 3, 2, 8)),              # long before the anchor: the anchor itself
    (utc(2026, 3, 2, 7, 59, 59), utc(2026, 3, 2, 8)),   # just before the anchor: the anchor
    (utc(2026, 3, 2, 8), utc(2026, 3, 3, 8)),           # at the anchor: strictly after, so the next day
    (utc(2026, 3, 2, 8, 0, 1), utc(2026, 3, 3, 8)),
    (utc(2026, 3, 29, 7, 30), utc(2026, 3, 30, 7)),     # across spring forward: 09:00 CEST
])
def test_next_occurrence_is_strictly_after(after, expected):
    anchor = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(BERLIN))
    assert next_occurrence("FREQ=DAILY", anchor, BERLIN, after=after).at == expected


def test_next_occurrence_years_into_a_series_works_out_only_the_days_near_the_date(monkeypatch):
    """Ten years into a daily series, only the few days around `after` are resolved to instants, not every day
    since the anchor (that is what would make it slow; how fast it is, is not asserted on a loaded machine)."""
    import core.rules.timing as scheduling
    real, resolved = scheduling.resolve_local_time, []

    def counting(day, wall, tz_name):
        resolved.append(day)
        return real(day, wall, tz_name)

    monkeypatch.setattr(scheduling, "resolve_local_time", counting)
    # Anchored at 10:00 CET in January; in June that wall time is 10:00 CEST, 08:00 UTC.
    res = next_occurrence("FREQ=DAILY", utc(2020, 1, 1, 9), BERLIN, after=utc(2030, 6, 1, 12))
    assert res.at == utc(2030, 6, 2, 8) and res.local.time() == time(10, 0)
    assert len(resolved) <= 5 and all(day.year in (2020, 2030) for day in resolved), resolved


# ---------------------------------------------------------------- catch_up

DAILY_ANCHOR = datetime(2026, 2, 1, 9, 0, tzinfo=ZoneInfo(BERLIN))   # daily 09:00 CET = 08:00 UTC


@pytest.mark.parametrize(("last", "now", "grace", "due", "skipped", "upcoming"), [
    # Three weeks down (last post 9 Feb), back 30 minutes after today's 09:00: today's post is due,
    # the 20 in between are skipped.
    (utc(2026, 2, 9, 8), utc(2026, 3, 2, 8, 30), timedelta(hours=1), utc(2026, 3, 2, 8), 20, utc(2026, 3, 3, 8)),
    # Same downtime but back 90 minutes late: nothing is due, all 21 are skipped.
    (utc(2026, 2, 9, 8), utc(2026, 3, 2, 9, 30), timedelta(hours=1), None, 21, utc(2026, 3, 3, 8)),
    # A wider grace makes that one due again.
    (utc(2026, 2, 9, 8), utc(2026, 3, 2, 9, 30), timedelta(hours=2), utc(2026, 3, 2, 8), 20, utc(2026, 3, 3, 8)),
    # Exactly at the edge of the grace window it is still due.
    (utc(2026, 2, 9, 8), utc(2026, 3, 2, 9, 0), timedelta(hours=1), utc(2026, 3, 2, 8), 20, utc(2026, 3, 3, 8)),
    # Up to date: today's post already went out; nothing due, nothing skipped.
    (utc(2026, 3, 2, 8), utc(2026, 3, 2, 8, 30), timedelta(hours=1), None, 0, utc(2026, 3, 3, 8)),
    # The runner wakes exactly on time.
    (utc(2026, 3, 1, 8), utc(2026, 3, 2, 8), timedelta(hours=1), utc(2026, 3, 2, 8), 0, utc(2026, 3, 3, 8)),
    # Never posted yet: counted from the anchor (1 Feb, inclusive).
    (None, utc(2026, 2, 3, 8, 10), timedelta(hours=1), utc(2026, 2, 3, 8), 2, utc(2026, 2, 4, 8)),
    # Before the anchor: nothing yet, the anchor is upcoming.
    (None, utc(2026, 1, 20), timedelta(hours=1), None, 0, utc(2026, 2, 1, 8)),
    # A last occurrence in the future (clock skew): nothing due, the next one after it is upcoming.
    (utc(2026, 3, 3, 8), utc(2026, 3, 2, 8, 30), timedelta(hours=1), None, 0, utc(2026, 3, 4, 8)),
])
def test_catch_up(last, now, grace, due, skipped, upcoming):
    step = catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=last, now=now, grace=grace)
    assert (step.due.at if step.due else None) == due
    assert len(step.skipped) == skipped
    assert step.upcoming.at == upcoming
    assert list(step.skipped) == sorted(step.skipped)
    assert all(s.tzinfo is UTC for s in step.skipped)
    if due is not None:
        assert due not in step.skipped


def test_catch_up_reports_the_exact_skipped_moments():
    step = catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=utc(2026, 2, 9, 8), now=utc(2026, 3, 2, 8, 30))
    assert step.skipped == tuple(utc(2026, 2, 10, 8) + timedelta(days=i) for i in range(20))


def test_catch_up_caps_the_skipped_report_at_the_most_recent():
    step = catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=utc(2026, 2, 9, 8),
                    now=utc(2026, 3, 2, 9, 30), max_skipped_reported=3)
    assert step.skipped == (utc(2026, 2, 28, 8), utc(2026, 3, 1, 8), utc(2026, 3, 2, 8))


def test_catch_up_across_spring_forward_uses_local_wall_time():
    # Down from Fri 27 Mar; back Mon 30 Mar at 07:10 UTC, 10 minutes after 09:00 CEST.
    step = catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=utc(2026, 3, 27, 8), now=utc(2026, 3, 30, 7, 10))
    assert step.due.at == utc(2026, 3, 30, 7) and step.due.local.time() == time(9, 0)
    assert step.skipped == (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7))


def test_catch_up_never_bursts():
    # Whatever the downtime, at most one occurrence is handed out, and none is lost silently.
    for hours_down in range(0, 24 * 10, 7):
        now = utc(2026, 2, 5, 8) + timedelta(hours=hours_down)
        step = catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=utc(2026, 2, 5, 8), now=now)
        missed = sum(1 for d in range(1, 12) if utc(2026, 2, 5 + d, 8) <= now)
        assert len(step.skipped) + (1 if step.due else 0) == missed
        assert step.upcoming.at > now


def test_catch_up_with_two_posts_inside_the_grace_window_still_sends_one():
    # 09:00 and 09:30 daily; back at 09:45: only 09:30 goes out, 09:00 is skipped.
    step = catch_up("FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30", utc(2026, 3, 2, 9), "UTC",
                    last_occurrence=utc(2026, 3, 2, 9), now=utc(2026, 3, 3, 9, 45))
    assert step.due.at == utc(2026, 3, 3, 9, 30)
    assert step.skipped == (utc(2026, 3, 2, 9, 30), utc(2026, 3, 3, 9, 0))


def test_catch_up_when_the_series_has_ended():
    step = catch_up("FREQ=DAILY;COUNT=2", utc(2026, 3, 2, 9), "UTC", last_occurrence=utc(2026, 3, 3, 9),
                    now=utc(2026, 3, 10))
    assert step.due is None and step.skipped == () and step.upcoming is None


@pytest.mark.parametrize("kwargs", [{"grace": timedelta(minutes=-1)}, {"max_skipped_reported": -1}])
def test_catch_up_refuses_negative_settings(kwargs):
    with pytest.raises(ValidationError):
        catch_up("FREQ=DAILY", DAILY_ANCHOR, BERLIN, last_occurrence=None, now=utc(2026, 3, 2), **kwargs)

"""core.rules.timing: wall times across DST, the past check, the queue, caps, gaps and warnings.

Recurrence lives in test_recurrence.py. DST facts used below (tz database, 2026):
America/New_York springs forward Sun 8 Mar at 02:00 EST -> 03:00 EDT (07:00 UTC) and falls
back Sun 1 Nov at 02:00 EDT -> 01:00 EST (06:00 UTC); Europe/Berlin springs forward Sun 29 Mar
at 02:00 CET -> 03:00 CEST (01:00 UTC) and falls back Sun 25 Oct at 03:00 CEST -> 02:00 CET.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.domain.errors import NaiveDatetimeError, PastTimeError, Problem, UnknownTimezoneError, ValidationError
from core.rules.timing import (
    DEFAULT_MIN_GAP,
    DEFAULT_PREFERRED_TIME,
    DEFAULT_QUEUE_SLOTS,
    ScheduledItem,
    check_account_slot,
    check_daily_cap,
    check_min_gap,
    check_not_past,
    catch_up,
    default_post_time,
    next_free_slot,
    next_occurrence,
    preferred_time_on,
    resolve_local_time,
    scheduling_warnings,
    validate_queue_slots,
)

UTC = timezone.utc
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- resolve_local_time

@pytest.mark.parametrize(("day", "wall", "tz", "at", "local_wall", "kind"), [
    # New York, an ordinary winter day: EST is UTC-5.
    (date(2026, 2, 10), time(9, 0), NY, utc(2026, 2, 10, 14, 0), time(9, 0), "exact"),
    # Spring forward: 02:30 never happens, moved forward by the one-hour gap.
    (date(2026, 3, 8), time(2, 30), NY, utc(2026, 3, 8, 7, 30), time(3, 30), "shifted_forward"),
    # The first missing minute, 02:00, becomes 03:00 EDT.
    (date(2026, 3, 8), time(2, 0), NY, utc(2026, 3, 8, 7, 0), time(3, 0), "shifted_forward"),
    # The last minute before the gap is still EST.
    (date(2026, 3, 8), time(1, 59), NY, utc(2026, 3, 8, 6, 59), time(1, 59), "exact"),
    # The first minute after the gap is EDT, exact.
    (date(2026, 3, 8), time(3, 0), NY, utc(2026, 3, 8, 7, 0), time(3, 0), "exact"),
    # Fall back: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST); we take the first.
    (date(2026, 11, 1), time(1, 30), NY, utc(2026, 11, 1, 5, 30), time(1, 30), "first_of_two"),
    # 01:00 is the first repeated minute.
    (date(2026, 11, 1), time(1, 0), NY, utc(2026, 11, 1, 5, 0), time(1, 0), "first_of_two"),
    # 02:00 happens once, in EST.
    (date(2026, 11, 1), time(2, 0), NY, utc(2026, 11, 1, 7, 0), time(2, 0), "exact"),
    # 00:59 happens once, in EDT.
    (date(2026, 11, 1), time(0, 59), NY, utc(2026, 11, 1, 4, 59), time(0, 59), "exact"),
    # Berlin in winter: CET is UTC+1.
    (date(2026, 2, 10), time(9, 0), BERLIN, utc(2026, 2, 10, 8, 0), time(9, 0), "exact"),
    # Berlin in summer: CEST is UTC+2.
    (date(2026, 7, 14), time(9, 0), BERLIN, utc(2026, 7, 14, 7, 0), time(9, 0), "exact"),
    # Berlin springs forward: 02:30 does not exist, becomes 03:30 CEST.
    (date(2026, 3, 29), time(2, 30), BERLIN, utc(2026, 3, 29, 1, 30), time(3, 30), "shifted_forward"),
    # Berlin falls back: 02:30 happens twice, first in CEST.
    (date(2026, 10, 25), time(2, 30), BERLIN, utc(2026, 10, 25, 0, 30), time(2, 30), "first_of_two"),
    # Berlin, 03:00 on fall-back day happens once (CET).
    (date(2026, 10, 25), time(3, 0), BERLIN, utc(2026, 10, 25, 2, 0), time(3, 0), "exact"),
    # Lord Howe moves its clocks by 30 minutes: 02:15 -> 02:45 (no hour is hard-coded).
    (date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe", utc(2026, 10, 3, 15, 45), time(2, 45), "shifted_forward"),
    # ... and falls back 30 minutes: 01:45 happens twice, first at UTC+11.
    (date(2026, 4, 5), time(1, 45), "Australia/Lord_Howe", utc(2026, 4, 4, 14, 45), time(1, 45), "first_of_two"),
    # A leap day resolves like any other day.
    (date(2028, 2, 29), time(9, 0), BERLIN, utc(2028, 2, 29, 8, 0), time(9, 0), "exact"),
    # UTC never shifts.
    (date(2026, 3, 8), time(2, 30), "UTC", utc(2026, 3, 8, 2, 30), time(2, 30), "exact"),
])
def test_resolve_local_time(day, wall, tz, at, local_wall, kind):
    res = resolve_local_time(day, wall, tz)
    assert res.at == at and res.at.tzinfo is UTC
    # Compare through UTC: Python never calls an ambiguous wall time equal to another zone's time (PEP 495).
    assert res.local.astimezone(UTC) == at and res.local.time() == local_wall
    assert res.local.tzinfo == ZoneInfo(tz)
    assert res.kind == kind
    assert (res.notice is None) == (kind == "exact")


@pytest.mark.parametrize(("day", "wall", "tz", "notice"), [
    # The two messages the brief promises, word for word.
    (date(2026, 3, 8), time(2, 30), NY,
     "2:30 AM does not exist on Sun 8 Mar 2026 in America/New_York (clocks jump from 2:00 to 3:00). "
     "Outpost will post at 3:30 AM EDT instead."),
    (date(2026, 11, 1), time(1, 30), NY,
     "1:30 AM happens twice on Sun 1 Nov 2026 in America/New_York (clocks go back at 2:00). "
     "Outpost will post at the first 1:30 AM (EDT, UTC-4)."),
    # Berlin's fall back happens at 03:00 local, and the first 02:30 is CEST.
    (date(2026, 3, 29), time(2, 30), BERLIN,
     "2:30 AM does not exist on Sun 29 Mar 2026 in Europe/Berlin (clocks jump from 2:00 to 3:00). "
     "Outpost will post at 3:30 AM CEST instead."),
    (date(2026, 10, 25), time(2, 30), BERLIN,
     "2:30 AM happens twice on Sun 25 Oct 2026 in Europe/Berlin (clocks go back at 3:00). "
     "Outpost will post at the first 2:30 AM (CEST, UTC+2)."),
    # A half-hour change is described as it is.
    (date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe",
     "2:15 AM does not exist on Sun 4 Oct 2026 in Australia/Lord_Howe (clocks jump from 2:00 to 2:30). "
     "Outpost will post at 2:45 AM +11 instead."),
])
def test_resolve_local_time_notices(day, wall, tz, notice):
    assert resolve_local_time(day, wall, tz).notice == notice


def test_a_skipped_day_moves_to_the_next_day_and_says_so():
    # Samoa skipped Fri 30 Dec 2011 entirely (UTC-10 -> UTC+14).
    res = resolve_local_time(date(2011, 12, 30), time(9, 0), "Pacific/Apia")
    assert res.kind == "shifted_forward"
    assert res.local.date() == date(2011, 12, 31) and res.local.time() == time(9, 0)
    assert res.at == utc(2011, 12, 30, 19, 0)
    assert "on Sat 31 Dec 2011 instead" in res.notice


@pytest.mark.parametrize(("day", "wall", "error"), [
    (datetime(2026, 2, 10, 9, tzinfo=UTC), time(9), ValidationError),    # a datetime is not a day
    ("2026-02-10", time(9), ValidationError),                             # nor is text
    (date(2026, 2, 10), "09:00", ValidationError),                        # text is not a time
    (date(2026, 2, 10), time(9, tzinfo=UTC), ValidationError),            # the zone is given separately
])
def test_resolve_local_time_refuses_wrong_types(day, wall, error):
    with pytest.raises(error):
        resolve_local_time(day, wall, BERLIN)


@pytest.mark.parametrize(("kwargs", "at", "kind"), [
    # No time given: the default preferred time, 09:00 local.
    ({}, utc(2026, 2, 10, 8, 0), "exact"),
    # The workspace prefers 18:15.
    ({"preferred": time(18, 15)}, utc(2026, 2, 10, 17, 15), "exact"),
])
def test_preferred_time_on(kwargs, at, kind):
    res = preferred_time_on(date(2026, 2, 10), BERLIN, **kwargs)
    assert (res.at, res.kind) == (at, kind)
    assert DEFAULT_PREFERRED_TIME == time(9, 0)


def test_preferred_time_on_a_spring_forward_day_is_shifted():
    res = preferred_time_on(date(2026, 3, 8), NY, preferred=time(2, 30))
    assert (res.at, res.kind) == (utc(2026, 3, 8, 7, 30), "shifted_forward")


# ---------------------------------------------------------------- default_post_time (the composer's first date and time)

# Fri 4 Dec 2026; Berlin is CET (UTC+1), New York EST (UTC-5). The default queue: weekdays 09:00, 12:30, 17:00,
# weekends 10:00.
@pytest.mark.parametrize("now, kwargs, local_wall", [
    # the tester's case: at 08:11 today's 09:00 is still ahead, not tomorrow's
    (utc(2026, 12, 4, 7, 11), {}, datetime(2026, 12, 4, 9, 0)),
    # exactly 15 minutes ahead is enough
    (utc(2026, 12, 4, 7, 45), {}, datetime(2026, 12, 4, 9, 0)),
    # 14 minutes is not: the next queue time today
    (utc(2026, 12, 4, 7, 46), {}, datetime(2026, 12, 4, 12, 30)),
    # after the last queue time: tomorrow's preferred time, not Saturday's 10:00 queue time
    (utc(2026, 12, 4, 16, 0), {}, datetime(2026, 12, 5, 9, 0)),
    # 23:50: nothing is left today
    (utc(2026, 12, 4, 22, 50), {}, datetime(2026, 12, 5, 9, 0)),
    # just after local midnight (still Friday in UTC): Saturday's 09:00, the same day
    (utc(2026, 12, 4, 23, 30), {}, datetime(2026, 12, 5, 9, 0)),
    # a later preferred time comes before the earlier queue times
    (utc(2026, 12, 4, 7, 11), {"preferred": time(17, 0)}, datetime(2026, 12, 4, 17, 0)),
    # no queue times: straight to tomorrow
    (utc(2026, 12, 4, 9, 0), {"slots": {}}, datetime(2026, 12, 5, 9, 0)),
    # a preferred time within the lead of midnight: the day after, not in 5 minutes
    (utc(2026, 12, 4, 22, 50), {"preferred": time(23, 55), "slots": {}}, datetime(2026, 12, 5, 23, 55)),
    # a longer lead
    (utc(2026, 12, 4, 7, 11), {"lead": timedelta(hours=1)}, datetime(2026, 12, 4, 12, 30)),
], ids=["08:11", "15-min", "14-min", "after-last-slot", "evening", "after-midnight", "preferred-later",
        "no-slots", "preferred-near-midnight", "longer-lead"])
def test_default_post_time_berlin(now, kwargs, local_wall):
    kwargs = {"preferred": DEFAULT_PREFERRED_TIME, "slots": DEFAULT_QUEUE_SLOTS} | kwargs
    res = default_post_time(now, BERLIN, kwargs.pop("preferred"), kwargs.pop("slots"), **kwargs)
    assert res.local.replace(tzinfo=None) == local_wall and res.local.tzinfo.key == BERLIN
    assert res.at - now >= timedelta(minutes=15)


def test_default_post_time_is_in_the_workspaces_zone_and_across_dst():
    # 08:11 in New York is 13:11 UTC: New York's 09:00 today, 14:00 UTC
    assert default_post_time(utc(2026, 12, 4, 13, 11), NY).at == utc(2026, 12, 4, 14, 0)
    # a 02:30 preferred time on the spring-forward night does not exist: 03:30 EDT
    res = default_post_time(utc(2026, 3, 8, 4, 0), NY, time(2, 30), {})      # Sat 7 Mar 23:00 EST
    assert (res.local.replace(tzinfo=None), res.kind) == (datetime(2026, 3, 8, 3, 30), "shifted_forward")


# ---------------------------------------------------------------- check_not_past

def test_check_not_past_message():
    with pytest.raises(PastTimeError) as exc:
        check_not_past(utc(2026, 2, 10, 9, 0), utc(2026, 11, 20, 23, 40))
    assert str(exc.value) == ("The scheduled time, Tue 10 Feb 2026 09:00 UTC, has already passed. "
                              "Pick a time after Fri 20 Nov 2026 23:40 UTC.")
    assert exc.value.problems[0].code == "past_time"


def test_check_not_past_speaks_in_the_zone_of_the_time_given():
    when = datetime(2026, 2, 10, 9, 0, tzinfo=ZoneInfo(BERLIN))
    with pytest.raises(PastTimeError, match=r"^The reminder time, Tue 10 Feb 2026 09:00 CET, has already passed\. "
                                            r"Pick a time after Tue 10 Feb 2026 09:30 CET\.$"):
        check_not_past(when, utc(2026, 2, 10, 8, 30), what="reminder time")


@pytest.mark.parametrize(("when", "now", "refused"), [
    (utc(2026, 2, 10, 9, 0), utc(2026, 2, 10, 8, 59), False),   # a minute ahead is fine
    (utc(2026, 2, 10, 9, 0), utc(2026, 2, 10, 9, 0), True),     # "now" is not in the future
    (utc(2026, 2, 10, 9, 0), utc(2026, 2, 10, 9, 0, 1), True),  # a second late is late
    # Same instant written in two zones: still not in the future.
    (datetime(2026, 2, 10, 10, 0, tzinfo=ZoneInfo(BERLIN)), utc(2026, 2, 10, 9, 0), True),
])
def test_check_not_past_boundaries(when, now, refused):
    if refused:
        with pytest.raises(PastTimeError):
            check_not_past(when, now)
    else:
        assert check_not_past(when, now) is None


# ---------------------------------------------------------------- queue slots

def test_default_queue_slots():
    slots = validate_queue_slots(DEFAULT_QUEUE_SLOTS)
    for weekday in range(5):
        assert slots[weekday] == (time(9, 0), time(12, 30), time(17, 0))
    assert slots[5] == slots[6] == (time(10, 0),)


def test_validate_queue_slots_sorts_and_dedupes():
    assert validate_queue_slots({3: [time(17), time(9), time(17)], 0: (time(8),)}) == {
        0: (time(8),), 3: (time(9), time(17))}


@pytest.mark.parametrize("slots", [
    {7: [time(9)]},                    # there is no eighth weekday
    {-1: [time(9)]},                   # nor a negative one
    {"mon": [time(9)]},                # weekdays are numbers
    {True: [time(9)]},                 # a bool is not a weekday, even though it is an int
    {0: ["09:00"]},                    # text is not a time
    {0: [datetime(2026, 1, 1, 9)]},    # a datetime is not a time of day
    {0: [time(9, tzinfo=UTC)]},        # queue times are local wall times
    {0: "09:00"},                      # a string is not a list of times
    [time(9)],                         # not a mapping at all
])
def test_validate_queue_slots_refuses(slots):
    with pytest.raises(ValidationError):
        validate_queue_slots(slots)


def test_validate_queue_slots_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as exc:
        validate_queue_slots({9: [time(9)], 0: ["noon"], 1: [time(9)]})
    assert len(exc.value.problems) == 2


# Mon 9 Feb 2026 in Berlin (CET, UTC+1) with the default slots: 08:00, 11:30, 16:00 UTC.
@pytest.mark.parametrize(("kwargs", "at", "kind"), [
    # Before the day's first slot: 09:00 CET.
    ({"after": utc(2026, 2, 9, 7, 0)}, utc(2026, 2, 9, 8, 0), "exact"),
    # A slot exactly at `after` is not after it.
    ({"after": utc(2026, 2, 9, 8, 0)}, utc(2026, 2, 9, 11, 30), "exact"),
    # Mid-morning: the 12:30 slot.
    ({"after": utc(2026, 2, 9, 8, 30)}, utc(2026, 2, 9, 11, 30), "exact"),
    # 12:30 is taken, so 17:00.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 30)]}, utc(2026, 2, 9, 16, 0), "exact"),
    # A post 5 minutes after the 12:30 slot takes it (default gap 10 minutes).
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 35)]}, utc(2026, 2, 9, 16, 0), "exact"),
    # A post 5 minutes before the slot takes it too.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 25)]}, utc(2026, 2, 9, 16, 0), "exact"),
    # Exactly the gap away leaves the slot free.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 40)]}, utc(2026, 2, 9, 11, 30), "exact"),
    # A 30-minute gap makes a post 20 minutes away block the slot.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 50)], "min_gap": timedelta(minutes=30)},
     utc(2026, 2, 9, 16, 0), "exact"),
    # With no gap only a post exactly at the slot takes it.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 11, 31)], "min_gap": timedelta(0)},
     utc(2026, 2, 9, 11, 30), "exact"),
    # Daily cap 2 already reached on Monday: Tuesday 09:00 CET.
    ({"after": utc(2026, 2, 9, 8, 30), "taken": [utc(2026, 2, 9, 7, 0), utc(2026, 2, 9, 10, 0)], "daily_cap": 2},
     utc(2026, 2, 10, 8, 0), "exact"),
    # Cap 1: a post at Mon 23:30 CET (22:30 UTC) fills Monday, not Tuesday.
    ({"after": utc(2026, 2, 9, 16, 30), "taken": [utc(2026, 2, 9, 22, 30)], "daily_cap": 1},
     utc(2026, 2, 10, 8, 0), "exact"),
    # Cap 1: a post at Tue 00:30 CET (still Monday 23:30 in UTC) fills Tuesday -> Wednesday.
    ({"after": utc(2026, 2, 9, 16, 30), "taken": [utc(2026, 2, 9, 23, 30)], "daily_cap": 1},
     utc(2026, 2, 11, 8, 0), "exact"),
    # Friday after the last slot: Saturday 10:00 CET.
    ({"after": utc(2026, 2, 13, 16, 30)}, utc(2026, 2, 14, 9, 0), "exact"),
    # Sunday after its only slot: Monday 09:00 CET.
    ({"after": utc(2026, 2, 15, 9, 30)}, utc(2026, 2, 16, 8, 0), "exact"),
    # Saturday 28 Mar is CET, Sunday 29 Mar is CEST: 10:00 local is 08:00 UTC, an hour earlier in UTC.
    ({"after": utc(2026, 3, 28, 9, 30)}, utc(2026, 3, 29, 8, 0), "exact"),
    # Back to CET on Mon 26 Oct: 09:00 local is 08:00 UTC again.
    ({"after": utc(2026, 10, 25, 9, 30)}, utc(2026, 10, 26, 8, 0), "exact"),
])
def test_next_free_slot(kwargs, at, kind):
    kwargs.setdefault("taken", [])
    res = next_free_slot(DEFAULT_QUEUE_SLOTS, BERLIN, **kwargs)
    assert (res.at, res.kind) == (at, kind)
    assert res.local.tzinfo == ZoneInfo(BERLIN)


@pytest.mark.parametrize(("slots", "after", "at", "kind"), [
    # Wednesday is the only queue day: from Monday, skip to Wednesday 09:00 EST.
    ({2: [time(9)]}, utc(2026, 2, 9, 12, 0), utc(2026, 2, 11, 14, 0), "exact"),
    # A Sunday 02:30 slot on the spring-forward night posts at 03:30 EDT.
    ({6: [time(2, 30)]}, utc(2026, 3, 7, 12, 0), utc(2026, 3, 8, 7, 30), "shifted_forward"),
    # That night 03:15 EDT (07:15 UTC) comes before the shifted 02:30 (07:30 UTC): earliest instant wins.
    ({6: [time(2, 30), time(3, 15)]}, utc(2026, 3, 7, 12, 0), utc(2026, 3, 8, 7, 15), "exact"),
    # A Sunday 01:30 slot on the fall-back night posts at the first 01:30 (EDT).
    ({6: [time(1, 30)]}, utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 5, 30), "first_of_two"),
])
def test_next_free_slot_new_york(slots, after, at, kind):
    res = next_free_slot(slots, NY, after=after, taken=[])
    assert (res.at, res.kind) == (at, kind)


@pytest.mark.parametrize(("slots", "kwargs", "code"), [
    # No slots at all.
    ({}, {}, "no_queue_slots"),
    # Weekdays listed but with no times.
    ({0: [], 1: ()}, {}, "no_queue_slots"),
    # Monday only, and Monday is more than 3 days away.
    ({0: [time(9)]}, {"horizon_days": 3}, "no_free_slot"),
    # Every slot taken for the whole horizon.
    ({d: [time(9)] for d in range(7)}, {"horizon_days": 2, "taken": [utc(2026, 2, 11, 8), utc(2026, 2, 12, 8)]},
     "no_free_slot"),
])
def test_next_free_slot_none(slots, kwargs, code):
    kwargs.setdefault("taken", [])
    # Tue 10 Feb 2026 12:00 UTC: today's 09:00 has gone.
    with pytest.raises(ValidationError) as exc:
        next_free_slot(slots, BERLIN, after=utc(2026, 2, 10, 12, 0), **kwargs)
    assert exc.value.problems[0].code == code


def test_next_free_slot_message_when_full():
    with pytest.raises(ValidationError, match=r"^No free queue slot in the next 90 days for this account; "
                                              r"add more slots in Settings\.$"):
        # One post with a gap of a year blocks every Monday slot in the next 90 days.
        next_free_slot({0: [time(9)]}, BERLIN, after=utc(2026, 2, 10), taken=[utc(2026, 2, 16, 8)],
                       min_gap=timedelta(days=365))


# ---------------------------------------------------------------- caps and gaps

IG = "@creator on Instagram"
X = "@creator on X"
# Tue 10 Feb 2026 09:00 CET.
CANDIDATE = utc(2026, 2, 10, 8, 0)


@pytest.mark.parametrize(("tz", "cap", "existing", "message"), [
    # Three posts that Tuesday and a limit of 3: refused, with the day in the account's zone.
    (BERLIN, 3, [utc(2026, 2, 10, 6), utc(2026, 2, 10, 10), utc(2026, 2, 10, 15)],
     "@creator on Instagram already has 3 posts on Tue 10 Feb 2026, its daily limit is 3. "
     "Pick another day or raise the limit in account settings."),
    # Two posts, limit 3: fine.
    (BERLIN, 3, [utc(2026, 2, 10, 6), utc(2026, 2, 10, 10)], None),
    # Mon 23:30 CET (22:30 UTC) is Monday: fine.
    (BERLIN, 1, [utc(2026, 2, 9, 22, 30)], None),
    # Tue 00:30 CET (Mon 23:30 UTC) is Tuesday locally: refused, "1 post".
    (BERLIN, 1, [utc(2026, 2, 9, 23, 30)],
     "@creator on Instagram already has 1 post on Tue 10 Feb 2026, its daily limit is 1. "
     "Pick another day or raise the limit in account settings."),
    # Wed 00:30 CET is Tuesday in UTC but Wednesday locally: fine.
    (BERLIN, 1, [utc(2026, 2, 10, 23, 30)], None),
    # In New York the candidate is Tue 03:00 EST; Mon 22:00 EST (Tue 03:00 UTC) is Monday there: fine.
    (NY, 1, [utc(2026, 2, 10, 3, 0)], None),
    # Tue 23:00 EST is Wed 04:00 UTC but Tuesday locally: refused.
    (NY, 1, [utc(2026, 2, 11, 4, 0)],
     "@creator on Instagram already has 1 post on Tue 10 Feb 2026, its daily limit is 1. "
     "Pick another day or raise the limit in account settings."),
    # Nothing scheduled.
    (BERLIN, 1, [], None),
])
def test_check_daily_cap(tz, cap, existing, message):
    problem = check_daily_cap(cap=cap, tz_name=tz, candidate=CANDIDATE, existing=existing, account_label=IG)
    if message is None:
        assert problem is None
    else:
        assert problem == Problem("daily_cap", message, field="schedule")


@pytest.mark.parametrize(("min_gap", "existing", "message"), [
    # Four minutes after another post.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 7, 56)],
     "This post is only 4 minutes after another post on @creator on X; keep at least 10 minutes between posts."),
    # Four minutes before another post.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 8, 4)],
     "This post is only 4 minutes before another post on @creator on X; keep at least 10 minutes between posts."),
    # At the very same moment.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 8, 0)],
     "This post is at the same time as another post on @creator on X; keep at least 10 minutes between posts."),
    # Thirty seconds.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 7, 59, 30)],
     "This post is less than a minute after another post on @creator on X; keep at least 10 minutes between posts."),
    # The nearest post is the one named (7 minutes), not the first in the list.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 7, 0), utc(2026, 2, 10, 8, 7), utc(2026, 2, 10, 9, 0)],
     "This post is only 7 minutes before another post on @creator on X; keep at least 10 minutes between posts."),
    # Exactly the gap is enough.
    (DEFAULT_MIN_GAP, [utc(2026, 2, 10, 7, 50)], None),
    # A gap of 0 allows anything.
    (timedelta(0), [utc(2026, 2, 10, 8, 0)], None),
    # A 90-minute gap speaks in hours and minutes.
    (timedelta(minutes=90), [utc(2026, 2, 10, 7, 0)],
     "This post is only 1 hour after another post on @creator on X; keep at least 1 hour 30 minutes between posts."),
    # Nothing else scheduled.
    (DEFAULT_MIN_GAP, [], None),
])
def test_check_min_gap(min_gap, existing, message):
    problem = check_min_gap(min_gap=min_gap, candidate=CANDIDATE, existing=existing, account_label=X)
    if message is None:
        assert problem is None
    else:
        assert problem == Problem("min_gap", message, field="schedule")


def test_caps_and_gaps_refuse_nonsense_limits():
    with pytest.raises(ValidationError):
        check_daily_cap(cap=0, tz_name=BERLIN, candidate=CANDIDATE, existing=[], account_label=IG)
    with pytest.raises(ValidationError):
        check_min_gap(min_gap=timedelta(minutes=-1), candidate=CANDIDATE, existing=[], account_label=IG)


# ---------------------------------------------------------------- warnings

CAPTION = "Spring sale starts now!"


def item(at: datetime, caption: str = "Something else", account: str = "acc_ig", post_id: str | None = None):
    return ScheduledItem(account_id=account, at=at, caption=caption, post_id=post_id)


@pytest.mark.parametrize(("existing", "expected"), [
    # Another post 25 minutes earlier on the same account.
    ([item(utc(2026, 2, 10, 7, 35))],
     [("same_hour", "@creator on Instagram already has a post 25 minutes before this one "
                    "(Tue 10 Feb 2026 08:35 CET); posts this close compete for attention.")]),
    # 59 minutes later still counts.
    ([item(utc(2026, 2, 10, 8, 59))],
     [("same_hour", "@creator on Instagram already has a post 59 minutes after this one "
                    "(Tue 10 Feb 2026 09:59 CET); posts this close compete for attention.")]),
    # Exactly an hour apart does not.
    ([item(utc(2026, 2, 10, 9, 0)), item(utc(2026, 2, 10, 7, 0))], []),
    # The same caption (other case, other spacing) two days later.
    ([item(utc(2026, 2, 12, 8, 0), caption="  spring SALE   starts now! ")],
     [("duplicate_caption", "The same caption also goes to @creator on Instagram on Thu 12 Feb 2026 09:00 CET; "
                            "platforms may hide or refuse repeated posts.")]),
    # Exactly three days before still counts.
    ([item(utc(2026, 2, 7, 8, 0), caption=CAPTION)],
     [("duplicate_caption", "The same caption also goes to @creator on Instagram on Sat 7 Feb 2026 09:00 CET; "
                            "platforms may hide or refuse repeated posts.")]),
    # Three days and a minute later does not.
    ([item(utc(2026, 2, 13, 8, 1), caption=CAPTION)], []),
    # Close in time and the same caption: both warnings, time first.
    ([item(utc(2026, 2, 10, 8, 30), caption=CAPTION)], ["same_hour", "duplicate_caption"]),
    # Another account's posts are none of this account's business.
    ([item(utc(2026, 2, 10, 8, 0), caption=CAPTION, account="acc_x")], []),
    # The post being edited does not warn about itself.
    ([item(utc(2026, 2, 10, 8, 0), caption=CAPTION, post_id="post_1")], []),
    # An item without a post id is still checked when something else is excluded.
    ([item(utc(2026, 2, 10, 8, 10))], ["same_hour"]),
])
def test_scheduling_warnings(existing, expected):
    problems = scheduling_warnings(account_id="acc_ig", account_label=IG, candidate_at=CANDIDATE, caption=CAPTION,
                                   existing=existing, tz_name=BERLIN, exclude_post_id="post_1")
    assert all(p.severity == "warning" for p in problems)
    if expected and isinstance(expected[0], tuple):
        assert [(p.code, p.message) for p in problems] == expected
    else:
        assert [p.code for p in problems] == expected


def test_empty_captions_are_not_duplicates():
    problems = scheduling_warnings(account_id="acc_ig", account_label=IG, candidate_at=CANDIDATE, caption="  ",
                                   existing=[item(utc(2026, 2, 11, 8), caption="")], tz_name=BERLIN)
    assert problems == []


@pytest.mark.parametrize(("existing", "daily_cap", "codes"), [
    # Nothing else on the account: no problems.
    ([], 3, []),
    # Another account posting at the same moment is ignored.
    ([item(CANDIDATE, account="acc_x", caption=CAPTION)], 1, []),
    # The post being edited is ignored (it is moving, not doubling).
    ([item(CANDIDATE, caption=CAPTION, post_id="post_1")], 1, []),
    # 4 minutes after another post: the gap error, and no redundant "same hour" warning.
    ([item(utc(2026, 2, 10, 7, 56))], 3, ["min_gap"]),
    # 30 minutes away: allowed, with a warning.
    ([item(utc(2026, 2, 10, 7, 30))], 3, ["same_hour"]),
    # The day is full and the gap is too short: both errors, errors first.
    ([item(utc(2026, 2, 10, 7, 56)), item(utc(2026, 2, 10, 15, 0))], 2, ["daily_cap", "min_gap"]),
    # Full day, and the same caption tomorrow: error then warning.
    ([item(utc(2026, 2, 10, 15, 0)), item(utc(2026, 2, 11, 8, 0), caption=CAPTION)], 1,
     ["daily_cap", "duplicate_caption"]),
])
def test_check_account_slot(existing, daily_cap, codes):
    problems = check_account_slot(account_id="acc_ig", account_label=IG, candidate_at=CANDIDATE, tz_name=BERLIN,
                                  existing=existing, daily_cap=daily_cap, exclude_post_id="post_1", caption=CAPTION)
    assert [p.code for p in problems] == codes
    for p in problems:
        assert p.severity == ("warning" if p.code in ("same_hour", "duplicate_caption") else "error")


# ---------------------------------------------------------------- naive datetimes and unknown zones

NAIVE = datetime(2026, 2, 10, 9, 0)
AWARE = utc(2026, 2, 10, 9, 0)
RULE = "FREQ=DAILY"


@pytest.mark.parametrize("call", [
    lambda: check_not_past(NAIVE, AWARE),
    lambda: check_not_past(AWARE, NAIVE),
    lambda: next_free_slot(DEFAULT_QUEUE_SLOTS, BERLIN, after=NAIVE, taken=[]),
    lambda: next_free_slot(DEFAULT_QUEUE_SLOTS, BERLIN, after=AWARE, taken=[NAIVE]),
    lambda: next_occurrence(RULE, NAIVE, BERLIN, after=AWARE),
    lambda: next_occurrence(RULE, AWARE, BERLIN, after=NAIVE),
    lambda: catch_up(RULE, NAIVE, BERLIN, last_occurrence=None, now=AWARE),
    lambda: catch_up(RULE, AWARE, BERLIN, last_occurrence=NAIVE, now=AWARE),
    lambda: catch_up(RULE, AWARE, BERLIN, last_occurrence=None, now=NAIVE),
    lambda: ScheduledItem(account_id="a", at=NAIVE),
    lambda: check_daily_cap(cap=1, tz_name=BERLIN, candidate=NAIVE, existing=[], account_label=IG),
    lambda: check_daily_cap(cap=1, tz_name=BERLIN, candidate=AWARE, existing=[NAIVE], account_label=IG),
    lambda: check_min_gap(min_gap=DEFAULT_MIN_GAP, candidate=NAIVE, existing=[], account_label=IG),
    lambda: check_min_gap(min_gap=DEFAULT_MIN_GAP, candidate=AWARE, existing=[NAIVE], account_label=IG),
    lambda: scheduling_warnings(account_id="a", account_label=IG, candidate_at=NAIVE, caption="", existing=[],
                                tz_name=BERLIN),
    lambda: check_account_slot(account_id="a", account_label=IG, candidate_at=NAIVE, tz_name=BERLIN, existing=[],
                               daily_cap=1),
])
def test_naive_datetimes_are_refused(call):
    with pytest.raises(NaiveDatetimeError):
        call()


@pytest.mark.parametrize("call", [
    lambda tz: resolve_local_time(date(2026, 2, 10), time(9), tz),
    lambda tz: preferred_time_on(date(2026, 2, 10), tz),
    lambda tz: next_free_slot(DEFAULT_QUEUE_SLOTS, tz, after=AWARE, taken=[]),
    lambda tz: next_occurrence(RULE, AWARE, tz, after=AWARE),
    lambda tz: catch_up(RULE, AWARE, tz, last_occurrence=None, now=AWARE),
    lambda tz: check_daily_cap(cap=1, tz_name=tz, candidate=AWARE, existing=[], account_label=IG),
    lambda tz: scheduling_warnings(account_id="a", account_label=IG, candidate_at=AWARE, caption="", existing=[],
                                   tz_name=tz),
    lambda tz: check_account_slot(account_id="a", account_label=IG, candidate_at=AWARE, tz_name=tz, existing=[],
                                  daily_cap=1),
])
@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "CEST+2"])
def test_unknown_timezones_are_refused(call, tz):
    with pytest.raises(UnknownTimezoneError):
        call(tz)

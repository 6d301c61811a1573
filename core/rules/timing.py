"""The scheduling rules, as pure functions: wall times across daylight saving, the
posting queue, recurring posts, and each account's daily caps, gaps and warnings.

Every datetime going in must carry a timezone (`core.domain.timeutil.require_aware`);
every instant coming out is aware UTC. Wall-clock times are read in an IANA zone
through `zoneinfo` and PEP 495 `fold`, so daylight saving follows the tz database
rather than dates written down here.

Recurring posts use RFC 5545 RRULE text (https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10),
expanded by dateutil.rrule (https://dateutil.readthedocs.io/en/stable/rrule.html) in
local wall time, so "every Monday 09:00 Europe/Berlin" stays 09:00 in Berlin all year.
"""
from __future__ import annotations

import heapq
import itertools
import re
import warnings
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType

from dateutil.rrule import rrulebase, rrulestr

from core.domain.errors import PastTimeError, Problem, ValidationError
from core.domain.timeutil import UTC, require_aware, to_utc, zone

__all__ = [
    "DEFAULT_PREFERRED_TIME", "DEFAULT_MIN_GAP", "DEFAULT_RECURRENCE_GRACE", "DUPLICATE_CAPTION_WINDOW",
    "LocalTimeResolution", "resolve_local_time", "preferred_time_on", "DEFAULT_LEAD", "default_post_time",
    "check_not_past",
    "QueueSlots", "DEFAULT_QUEUE_SLOTS", "validate_queue_slots", "next_free_slot",
    "validate_rule", "describe_rule", "next_occurrence", "occurrences_after", "RecurrenceStep", "catch_up",
    "ScheduledItem", "check_daily_cap", "check_min_gap", "scheduling_warnings", "check_account_slot",
]

DEFAULT_PREFERRED_TIME = time(9, 0)
DEFAULT_MIN_GAP = timedelta(minutes=10)
# The composer's default time is at least this far ahead: time to finish writing, and no "has already passed".
DEFAULT_LEAD = timedelta(minutes=15)
# A recurring post missed by less than this (the runner was down briefly) still goes out.
DEFAULT_RECURRENCE_GRACE = timedelta(hours=1)
DUPLICATE_CAPTION_WINDOW = timedelta(days=3)
# Two posts on one account closer than this compete for the same audience.
_SAME_HOUR = timedelta(minutes=60)
# Python refuses UTC offsets of a day or more, so a wall time and its instant are always
# less than a day apart; the recurrence expansion leans on that bound.
_DAY = timedelta(days=1)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------- words for people
# Written out by hand rather than with strftime so messages never depend on the locale.

def _fmt_day(d: date) -> str:
    """'Sun 8 Mar 2026'."""
    return f"{_WEEKDAYS[d.weekday()][:3]} {d.day} {_MONTHS[d.month - 1]} {d.year}"


def _fmt_moment(local: datetime) -> str:
    """'Tue 10 Feb 2026 09:00 CET', in the datetime's own zone."""
    return f"{_fmt_day(local)} {local:%H:%M} {local.tzname()}"


def _fmt_clock12(t: time | datetime) -> str:
    """'2:30 AM' (seconds only when there are some)."""
    hour = t.hour % 12 or 12
    secs = f":{t.second:02d}" if t.second else ""
    return f"{hour}:{t.minute:02d}{secs} {'AM' if t.hour < 12 else 'PM'}"


def _fmt_clock24(t: datetime) -> str:
    """'2:00', as people say when clocks change."""
    return f"{t.hour}:{t.minute:02d}"


def _fmt_offset(offset: timedelta) -> str:
    """'UTC-4', 'UTC+5:30'."""
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, minutes = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _duration(span: timedelta) -> str:
    """'4 minutes', '1 hour 30 minutes', 'less than a minute' (rounded down to the minute)."""
    minutes = int(abs(span).total_seconds()) // 60
    if minutes == 0:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    parts = ([_plural(hours, "hour")] if hours else []) + ([_plural(minutes, "minute")] if minutes else [])
    return " ".join(parts)


def _invalid(code: str, message: str, field: str | None = None) -> ValidationError:
    return ValidationError(Problem(code, message, field=field))


# ---------------------------------------------------------------- wall time -> instant

@dataclass(frozen=True)
class LocalTimeResolution:
    """Where a wall-clock time in a zone lands, and what we tell the user if DST moved it."""

    at: datetime          # the instant, aware UTC
    local: datetime       # the same instant as wall time in the zone (aware, ZoneInfo tz)
    kind: str             # "exact" | "shifted_forward" (spring-forward gap) | "first_of_two" (fall-back overlap)
    notice: str | None = None   # plain words for the user when kind != "exact"


def resolve_local_time(day: date, wall: time, tz_name: str) -> LocalTimeResolution:
    """The instant `wall` on `day` means in `tz_name`.

    A wall time inside a spring-forward gap does not exist; it moves forward by the size
    of the gap (02:30 -> 03:30), which is what PEP 495 fold=0 gives. A wall time inside a
    fall-back overlap happens twice; we take the first (fold=0). Both are found by
    round-tripping through UTC, never by knowing when a zone changes its clocks.
    """
    tz = zone(tz_name)
    if not isinstance(day, date) or isinstance(day, datetime):
        raise _invalid("not_a_day", f"The day must be a calendar date, not {type(day).__name__}.", "day")
    if not isinstance(wall, time):
        raise _invalid("not_a_time", f"The time of day must be a time such as 09:00, not {type(wall).__name__}.", "time")
    if wall.tzinfo is not None:
        raise _invalid("time_has_zone",
                       f"The time of day {wall:%H:%M} carries its own timezone; give the wall-clock time "
                       f"and the zone ({tz.key}) separately.", "time")
    naive = datetime.combine(day, wall.replace(fold=0))
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    at = first.astimezone(UTC)
    local = at.astimezone(tz)
    if local.replace(tzinfo=None) != naive:
        # fold=0 read the gap with the offset from before the change, which lands later by the gap.
        change = _offset_change(tz, second.astimezone(UTC), at)
        return LocalTimeResolution(at, local, "shifted_forward", _gap_notice(naive, local, change, tz))
    if first.utcoffset() != second.utcoffset():
        change = _offset_change(tz, at, second.astimezone(UTC))
        return LocalTimeResolution(at, local, "first_of_two", _overlap_notice(naive, local, change, tz))
    return LocalTimeResolution(at, local, "exact", None)


def _offset_change(tz: tzinfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] at which the zone's UTC offset changes, to the second.

    `before` and `after` straddle exactly one change and are at most a day apart, so a
    binary search takes about 17 steps.
    """
    target = after.astimezone(tz).utcoffset()
    lo, hi = int(before.timestamp()), -int(-after.timestamp() // 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _wall_either_side(change: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """What the clock read just before `change` (as if it kept going) and just after it."""
    offset_before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
    offset_after = change.astimezone(tz).utcoffset()
    naive = change.replace(tzinfo=None)
    return naive + offset_before, naive + offset_after


def _gap_notice(naive: datetime, local: datetime, change: datetime, tz: tzinfo) -> str:
    from_wall, to_wall = _wall_either_side(change, tz)
    if from_wall.date() == to_wall.date():
        jump = f"clocks jump from {_fmt_clock24(from_wall)} to {_fmt_clock24(to_wall)}"
    else:  # a whole day skipped, as Samoa did in 2011
        jump = (f"clocks jump from {_fmt_clock24(from_wall)} on {_fmt_day(from_wall)} "
                f"to {_fmt_clock24(to_wall)} on {_fmt_day(to_wall)}")
    on_day = "" if local.date() == naive.date() else f" on {_fmt_day(local)}"
    return (f"{_fmt_clock12(naive)} does not exist on {_fmt_day(naive)} in {tz.key} ({jump}). "
            f"Outpost will post at {_fmt_clock12(local)} {local.tzname()}{on_day} instead.")


def _overlap_notice(naive: datetime, local: datetime, change: datetime, tz: tzinfo) -> str:
    from_wall, _ = _wall_either_side(change, tz)
    return (f"{_fmt_clock12(naive)} happens twice on {_fmt_day(naive)} in {tz.key} "
            f"(clocks go back at {_fmt_clock24(from_wall)}). Outpost will post at the first "
            f"{_fmt_clock12(naive)} ({local.tzname()}, {_fmt_offset(local.utcoffset())}).")


def preferred_time_on(day: date, tz_name: str, preferred: time = DEFAULT_PREFERRED_TIME) -> LocalTimeResolution:
    """When a post has a day but no time: the workspace's preferred time on that day."""
    return resolve_local_time(day, preferred, tz_name)


def default_post_time(now: datetime, tz_name: str, preferred: time = DEFAULT_PREFERRED_TIME,
                      slots: QueueSlots | None = None, *, lead: timedelta = DEFAULT_LEAD) -> LocalTimeResolution:
    """The composer's default date and time in `tz_name`: the next sensible moment at least `lead` after `now`.

    Today's preferred time if it is still that far ahead (at 08:11, 09:00 today); else the next of today's queue
    times (`slots`, the workspace's) that is; else the preferred time tomorrow. Wall times go through
    `resolve_local_time`, so a preferred time inside a spring-forward gap lands after it.
    """
    tz = zone(tz_name)
    earliest = to_utc(now, "current time") + lead
    today = require_aware(now, "current time").astimezone(tz).date()
    walls = [preferred] + sorted((slots or {}).get(today.weekday(), ()))
    for wall in walls:
        res = resolve_local_time(today, wall.replace(tzinfo=None), tz_name)
        if res.at >= earliest:
            return res
    day = today + _DAY
    while True:     # the preferred time tomorrow (the day after, should tomorrow's already be within `lead`)
        res = resolve_local_time(day, preferred.replace(tzinfo=None), tz_name)
        if res.at >= earliest:
            return res
        day += _DAY


def check_not_past(when: datetime, now: datetime, what: str = "scheduled time") -> None:
    """Refuse a `when` that is not after `now`; the message shows both in `when`'s zone."""
    when = require_aware(when, what)
    now = require_aware(now, "current time")
    # Compared in UTC: Python never calls an ambiguous wall time equal to another zone's (PEP 495).
    if to_utc(when) <= to_utc(now):
        raise PastTimeError(Problem(
            "past_time",
            f"The {what}, {_fmt_moment(when)}, has already passed. "
            f"Pick a time after {_fmt_moment(now.astimezone(when.tzinfo))}.",
            field=what))


# ---------------------------------------------------------------- the queue

QueueSlots = Mapping[int, Sequence[time]]   # weekday (0 = Monday) -> local wall times for that weekday

_WEEKDAY_SLOTS = (time(9, 0), time(12, 30), time(17, 0))
_WEEKEND_SLOTS = (time(10, 0),)
DEFAULT_QUEUE_SLOTS: QueueSlots = MappingProxyType(
    {day: (_WEEKDAY_SLOTS if day < 5 else _WEEKEND_SLOTS) for day in range(7)})


def validate_queue_slots(slots: QueueSlots) -> dict[int, tuple[time, ...]]:
    """The slots with each weekday's times sorted and deduplicated; every mistake reported at once."""
    if not isinstance(slots, Mapping):
        raise _invalid("queue_slots", "Queue times must be given per weekday, 0 (Monday) to 6 (Sunday).", "queue_slots")
    problems: list[Problem] = []
    clean: dict[int, tuple[time, ...]] = {}
    for day, times in slots.items():
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            problems.append(Problem("queue_weekday", f"{day!r} is not a weekday; use 0 (Monday) to 6 (Sunday).",
                                    field="queue_slots"))
            continue
        if isinstance(times, (str, bytes)) or not isinstance(times, Iterable):
            problems.append(Problem("queue_time", f"{_WEEKDAYS[day]}: give a list of times such as 09:00, not {times!r}.",
                                    field="queue_slots"))
            continue
        good: set[time] = set()
        for t in times:
            if not isinstance(t, time):
                problems.append(Problem("queue_time", f"{_WEEKDAYS[day]}: {t!r} is not a time of day such as 09:00.",
                                        field="queue_slots"))
            elif t.tzinfo is not None:
                problems.append(Problem("queue_time", f"{_WEEKDAYS[day]}: {t:%H:%M} carries its own timezone; queue "
                                        "times are wall-clock times in the account's timezone.", field="queue_slots"))
            else:
                good.add(t.replace(fold=0))
        clean[day] = tuple(sorted(good))
    if problems:
        raise ValidationError(problems)
    return dict(sorted(clean.items()))


def _occupied(taken: Sequence[datetime], at: datetime, min_gap: timedelta) -> bool:
    """Is a post (sorted `taken`) exactly at `at`, or less than `min_gap` from it?"""
    i = bisect_left(taken, at)
    neighbours = taken[max(i - 1, 0):i + 1]
    return any(t == at or abs(t - at) < min_gap for t in neighbours)


def next_free_slot(slots: QueueSlots, tz_name: str, *, after: datetime, taken: Iterable[datetime],
                   min_gap: timedelta = DEFAULT_MIN_GAP, daily_cap: int | None = None,
                   horizon_days: int = 90) -> LocalTimeResolution:
    """"Add to queue": the earliest free slot strictly after `after` and within `horizon_days` of it.

    A slot is taken when one of the account's posts (`taken`) is at it or less than
    `min_gap` from it; a day is full when it already has `daily_cap` posts, counted in
    the account's local day. Slot wall times go through `resolve_local_time`, so a
    02:30 slot on a spring-forward night posts at 03:30.
    """
    tz = zone(tz_name)
    after = to_utc(after, "time to queue after")
    busy = sorted(to_utc(t, "scheduled time") for t in taken)
    clean = validate_queue_slots(slots)
    if min_gap < timedelta(0):
        raise _invalid("min_gap", "The gap between posts cannot be negative.", "min_gap")
    if daily_cap is not None and daily_cap < 1:
        raise _invalid("daily_cap", "A daily limit must be at least 1 post.", "daily_cap")
    if horizon_days < 1:
        raise _invalid("horizon", "Look at least one day ahead for a free slot.", "horizon_days")
    if not any(clean.values()):
        raise _invalid("no_queue_slots", "This account has no queue times; add some in Settings.", "queue_slots")
    per_day = Counter(t.astimezone(tz).date() for t in busy)
    limit = after + timedelta(days=horizon_days)
    day, last_day = after.astimezone(tz).date(), limit.astimezone(tz).date()
    while day <= last_day:
        # Sorted by instant, not wall time: inside a DST gap a later wall time can come first.
        candidates = sorted((resolve_local_time(day, wall, tz_name) for wall in clean.get(day.weekday(), ())),
                            key=lambda r: r.at)
        for res in candidates:
            if not after < res.at <= limit:
                continue
            if daily_cap is not None and per_day[res.local.date()] >= daily_cap:
                continue
            if _occupied(busy, res.at, min_gap):
                continue
            return res
        day += timedelta(days=1)
    raise _invalid("no_free_slot", f"No free queue slot in the next {horizon_days} days for this account; "
                   "add more slots in Settings.", "queue_slots")


# ---------------------------------------------------------------- recurrence

_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_TOO_FREQUENT = {"HOURLY": "hour", "MINUTELY": "minute", "SECONDLY": "second"}
_INT_RANGES = {  # RFC 5545 section 3.3.10 value ranges; 0 is never allowed
    "INTERVAL": (1, None), "COUNT": (1, None), "BYSECOND": (0, 60), "BYMINUTE": (0, 59), "BYHOUR": (0, 23),
    "BYMONTHDAY": (-31, 31), "BYYEARDAY": (-366, 366), "BYWEEKNO": (-53, 53), "BYMONTH": (1, 12),
    "BYSETPOS": (-366, 366),
}
_PARTS = set(_INT_RANGES) | {"FREQ", "UNTIL", "BYDAY", "WKST"}
_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_MAX_PER_DAY = 24
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second last"}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)   # February as in a leap year


def validate_rule(rule: str) -> str:
    """The rule as normalised "FREQ=...;..." text, or a ValidationError in plain words.

    Refused: text that is not one RRULE, DTSTART (the post's first date and time is the
    start), repeating more often than daily, COUNT with UNTIL, and months that never
    have the day asked for (dateutil would search to the year 9999 for them).
    """
    if not isinstance(rule, str):
        raise _invalid("invalid_rule", "A repeat rule must be text such as FREQ=WEEKLY;BYDAY=MO.", "recurrence")
    return ";".join(f"{k}={v}" for k, v in _parse_rule(rule.strip()))


@lru_cache(maxsize=512)
def _parse_rule(text: str) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs, FREQ first, checked; see validate_rule."""
    if "DTSTART" in text.upper():
        raise _invalid("rule_dtstart", "Leave DTSTART out of the repeat rule: the post's first date and time "
                       "is where the series starts.", "recurrence")
    if not text:
        raise _invalid("invalid_rule", "The repeat rule is empty; write one such as FREQ=WEEKLY;BYDAY=MO.", "recurrence")
    if "\n" in text or "\r" in text:
        raise _invalid("invalid_rule", "Give one repeat rule on one line, such as FREQ=WEEKLY;BYDAY=MO.", "recurrence")
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:"):]
    if ":" in text:
        raise _invalid("invalid_rule", f"'{text}' is not a repeat rule; write one such as FREQ=WEEKLY;BYDAY=MO.",
                       "recurrence")
    parts: dict[str, str] = {}
    for chunk in filter(None, (c.strip() for c in text.split(";"))):
        name, eq, value = chunk.partition("=")
        name, value = name.strip().upper(), value.strip().upper().replace(" ", "")
        if not eq or not name or not value:
            raise _invalid("invalid_rule", f"'{chunk}' in the repeat rule should look like NAME=VALUE.", "recurrence")
        if name not in _PARTS:
            raise _invalid("invalid_rule", f"The repeat rule has '{name}', which Outpost does not understand.",
                           "recurrence")
        if name in parts:
            raise _invalid("invalid_rule", f"The repeat rule gives {name} twice.", "recurrence")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise _invalid("invalid_rule", "The repeat rule needs a FREQ, such as FREQ=WEEKLY.", "recurrence")
    if freq in _TOO_FREQUENT:
        raise _invalid("rule_too_frequent", f"Posting every {_TOO_FREQUENT[freq]} is too frequent for social media; "
                       "repeat DAILY, WEEKLY, MONTHLY or YEARLY.", "recurrence")
    if freq not in _FREQS:
        raise _invalid("invalid_rule", f"FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not '{freq}'.", "recurrence")
    for name, (lo, hi) in _INT_RANGES.items():
        if name in parts:
            _check_ints(name, parts[name], lo, hi)
    if "BYDAY" in parts and not all(_BYDAY.match(d) for d in parts["BYDAY"].split(",")):
        raise _invalid("invalid_rule", f"BYDAY={parts['BYDAY']} should list days such as MO,WE or 1MO.", "recurrence")
    if "WKST" in parts and parts["WKST"] not in _DAY_CODES:
        raise _invalid("invalid_rule", f"WKST={parts['WKST']} should be a day such as MO.", "recurrence")
    if "UNTIL" in parts:
        _until_value(parts["UNTIL"])
    if "COUNT" in parts and "UNTIL" in parts:
        raise _invalid("rule_count_until", "A repeat rule can stop after a number of posts (COUNT) or on a date "
                       "(UNTIL), not both.", "recurrence")
    per_day = 1
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        per_day *= len(set(parts[name].split(","))) if name in parts else 1
    if per_day > _MAX_PER_DAY:
        raise _invalid("rule_too_frequent", f"This rule would post {per_day} times a day; one repeat rule may post "
                       f"at most {_MAX_PER_DAY} times a day.", "recurrence")
    _check_possible(parts)
    _check_setpos(parts)
    ordered = (("FREQ", freq),) + tuple((k, v) for k, v in parts.items() if k != "FREQ")
    # Whatever else dateutil objects to (and warns about) is refused too, in its words.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            rrulestr(_rule_text(ordered, without_until=True), dtstart=datetime(2000, 1, 1, 9))
        except (ValueError, TypeError, Warning) as exc:
            raise _invalid("invalid_rule", f"This repeat rule cannot be used: {exc}.", "recurrence") from None
    return ordered


def _check_ints(name: str, value: str, lo: int, hi: int | None) -> None:
    for item in value.split(","):
        try:
            n = int(item)
        except ValueError:
            n = None
        if n is None or (n == 0 and lo != 0) or n < lo or (hi is not None and n > hi):
            allowed = f"a whole number of at least {lo}" if hi is None else f"whole numbers from {lo} to {hi}"
            raise _invalid("invalid_rule", f"{name}={value} in the repeat rule: use {allowed}.", "recurrence")


def _check_possible(parts: Mapping[str, str]) -> None:
    """Refuse a month/day pair no calendar has, such as 30 February."""
    if "BYMONTHDAY" not in parts:
        return
    months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else range(1, 13)
    days = [abs(int(d)) for d in parts["BYMONTHDAY"].split(",")]
    if not any(d <= _MONTH_DAYS[m - 1] for m in months for d in days):
        raise _invalid("rule_never", f"This repeat rule never happens: none of its months has day "
                       f"{', '.join(map(str, sorted(set(days))))}.", "recurrence")


def _check_setpos(parts: Mapping[str, str]) -> None:
    """Refuse a BYSETPOS past the most dates its period can hold (the 9th Monday-the-30th of April and June):
    dateutil would search to the year 9999 for it, and the series would never repeat. The most is counted from
    the rule's parts alone (an upper bound: a rule refused here can never happen)."""
    if "BYSETPOS" not in parts:
        return
    freq = parts["FREQ"]

    def values(name: str) -> list[str]:
        return sorted(set(parts[name].split(","))) if name in parts else []
    months, monthdays, yeardays, weeknos = (values(n) for n in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"))
    days = [_BYDAY.match(d) for d in values("BYDAY")]
    plain = {d.group(2) for d in days if not d.group(1)}
    ordinal = len([d for d in days if d.group(1)])
    n_months = len(months) or 12
    if freq == "DAILY":
        most = 1
    elif freq == "WEEKLY":
        most = min(7, len({d.group(2) for d in days}) or 7)
    elif freq == "MONTHLY":
        most = 31
        if monthdays:
            most = min(most, len(monthdays))
        if days:
            most = min(most, 5 * len(plain) + ordinal)
    else:
        most = sum(_MONTH_DAYS[int(m) - 1] for m in months) if months else 366
        if monthdays:
            most = min(most, len(monthdays) * n_months)
        if days and not weeknos:
            most = min(most, (5 * len(plain) + ordinal) * n_months if months else 53 * len(plain) + ordinal)
        if weeknos:
            most = min(most, 7 * len(weeknos))
    if yeardays:
        most = min(most, len(yeardays))
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        most *= len(values(name)) or 1
    positions = [int(v) for v in values("BYSETPOS")]
    if all(abs(v) > most for v in positions):
        unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}[freq]
        raise _invalid("rule_never", f"This repeat never happens: BYSETPOS={parts['BYSETPOS']} picks a date by its "
                       f"place in each {unit}, but the rest of the rule gives at most {most} "
                       f"date{'s' if most != 1 else ''} a {unit}.", "recurrence")


def _until_value(value: str) -> date | datetime:
    """UNTIL as a date, a floating wall time (naive) or a UTC instant (aware)."""
    m = _UNTIL.match(value)
    try:
        if m and m.group(4) is None:
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m:
            dt = datetime(*(int(m[i]) for i in range(1, 7)))
            return dt.replace(tzinfo=UTC) if m[7] else dt
    except ValueError:
        pass
    raise _invalid("invalid_rule", f"UNTIL={value} should be a date such as 20261231 or a UTC time such as "
                   "20261231T170000Z.", "recurrence")


def _rule_text(parts: Iterable[tuple[str, str]], *, without_until: bool = False) -> str:
    return ";".join(f"{k}={v}" for k, v in parts if not (without_until and k == "UNTIL"))


def describe_rule(rule: str) -> str:
    """Short plain words ("every 2 weeks on Tue, Thu"); the rule text when words would mislead."""
    try:
        parts = dict(_parse_rule(rule.strip()))
    except (ValidationError, AttributeError):
        return str(rule)
    text = _rule_text(parts.items())
    freq = parts.pop("FREQ")
    parts.pop("WKST", None)   # only shifts which weeks count; not worth words
    interval = int(parts.pop("INTERVAL", "1"))
    count, until = parts.pop("COUNT", None), parts.pop("UNTIL", None)
    unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}[freq]
    phrase = f"every {unit}" if interval == 1 else f"every {interval} {unit}s"
    byday = parts.pop("BYDAY", None)
    monthdays = parts.pop("BYMONTHDAY", None)
    months = parts.pop("BYMONTH", None)
    if parts or (byday and monthdays):   # BYSETPOS, BYHOUR, Friday the 13th...: the rule, not half of it
        return text
    if byday:
        days = byday.split(",")
        if any(_BYDAY.match(d).group(1) for d in days):
            if freq not in ("MONTHLY", "YEARLY") or any(int(_BYDAY.match(d).group(1) or 0) not in _ORDINALS
                                                        for d in days):
                return text
            phrase += " on the " + " and the ".join(_nth_weekday(d) for d in days)
        else:
            if freq == "DAILY" and interval == 1:
                phrase = "every week"
            elif freq == "DAILY":
                return text
            names = [_WEEKDAYS[_DAY_CODES.index(d)] for d in days]
            phrase += f" on {names[0]}" if len(names) == 1 else " on " + ", ".join(n[:3] for n in names)
    if monthdays:
        numbers = [int(d) for d in monthdays.split(",")]
        if freq == "YEARLY" and months and len(numbers) == 1 and "," not in months and numbers[0] > 0:
            phrase += f" on {numbers[0]} {_MONTHS[int(months) - 1]}"
            months = None
        elif numbers == [-1]:
            phrase += " on the last day"
        elif all(n > 0 for n in numbers):
            phrase += (" on day " if len(numbers) == 1 else " on days ") + ", ".join(map(str, numbers))
        else:
            return text
    if months:
        phrase += " in " + ", ".join(_MONTHS[int(m) - 1] for m in months.split(","))
    if count:
        phrase += ", " + ("once" if count == "1" else f"{count} times")
    if until:
        phrase += f", until {_fmt_day(_until_value(until))}"
    return phrase


def _nth_weekday(code: str) -> str:
    m = _BYDAY.match(code)
    n, day = int(m.group(1) or 0), _WEEKDAYS[_DAY_CODES.index(m.group(2))]
    return f"{_ORDINALS[n]} {day}" if n else day


@dataclass(frozen=True)
class _Series:
    """A rule made ready to expand: dateutil's rrule over naive local wall times starting
    at `start_wall`, the anchor itself, and the UNTIL instant when UNTIL was given in UTC
    (checked after resolving, because wall times only approximate it)."""

    rrule: rrulebase                 # what rrulestr gives (dateutil's base of rrule and rruleset)
    start_wall: datetime
    first: LocalTimeResolution
    until_at: datetime | None


def _expand(rule: str, anchor: datetime, tz_name: str) -> _Series:
    tz = zone(tz_name)
    anchor_at = to_utc(anchor, "series start")
    parts = dict(_parse_rule(validate_rule(rule)))
    anchor_local = anchor_at.astimezone(tz)
    first = LocalTimeResolution(anchor_at, anchor_local, "exact", None)
    # dateutil drops microseconds from DTSTART; a fold=1 anchor keeps its own instant via `first`.
    start_wall = anchor_local.replace(tzinfo=None, microsecond=0, fold=0)
    rr = rrulestr(_rule_text(parts.items(), without_until=True), dtstart=start_wall)
    until_at = None
    if "UNTIL" in parts:
        until = _until_value(parts["UNTIL"])
        if isinstance(until, datetime) and until.tzinfo is not None:
            # Over-reach by a day in wall time, then cut exactly on the instant.
            until_at = until
            until_wall = until.astimezone(tz).replace(tzinfo=None) + _DAY
        elif isinstance(until, datetime):
            until_wall = until
        else:   # a date: the whole of that local day
            until_wall = datetime.combine(until, time(23, 59, 59))
        rr = rr.replace(until=until_wall)
    if "COUNT" in parts and next(iter(rr), None) != start_wall:
        # RFC 5545: the start always counts as the first occurrence; dateutil only counts it
        # when it matches the rule, so an off-rule anchor takes one from dateutil's count.
        rr = rr.replace(count=int(parts["COUNT"]) - 1)
    return _Series(rr, start_wall, first, until_at)


def _occurrences(rule: str, anchor: datetime, tz_name: str, *, after: datetime | None) -> Iterator[LocalTimeResolution]:
    """Occurrences in time order, strictly after `after` (from the anchor when None), lazily.

    Wall times map to instants almost in order; DST gaps and overlaps can swap neighbours
    by up to the size of the change. Since an instant and its wall time are less than a
    day apart, an occurrence is yielded only once dateutil has moved a day past it.
    """
    series = _expand(rule, anchor, tz_name)
    first, until_at = series.first, series.until_at
    if after is None:
        walls = iter(series.rrule)
    else:
        after = to_utc(after, "time to look after")
        walls = series.rrule.xafter(max(series.start_wall, after.replace(tzinfo=None) - _DAY), inc=True)
    heap: list[tuple[datetime, int, LocalTimeResolution]] = []
    order = itertools.count()
    if after is None or first.at > after:
        heap.append((first.at, next(order), first))
    last_yielded = None
    for wall in walls:
        settled = (wall - _DAY).replace(tzinfo=UTC)
        while heap and heap[0][0] <= settled:
            at, _, res = heapq.heappop(heap)
            if at != last_yielded:   # two wall times DST folded onto one instant post once
                last_yielded = at
                yield res
        res = resolve_local_time(wall.date(), wall.time(), tz_name)
        if res.at < first.at or (after is not None and res.at <= after) or (until_at and res.at > until_at):
            continue
        heapq.heappush(heap, (res.at, next(order), res))
    while heap:
        at, _, res = heapq.heappop(heap)
        if at != last_yielded:
            last_yielded = at
            yield res


def next_occurrence(rule: str, anchor: datetime, tz_name: str, *, after: datetime) -> LocalTimeResolution | None:
    """The first occurrence strictly after `after` (the anchor counts), or None when the rule has ended."""
    return next(_occurrences(rule, anchor, tz_name, after=require_aware(after, "time to look after")), None)


def occurrences_after(rule: str, anchor: datetime, tz_name: str, *,
                      after: datetime) -> Iterator[LocalTimeResolution]:
    """Every occurrence strictly after `after`, in time order, lazily (stop reading when you have enough)."""
    return _occurrences(rule, anchor, tz_name, after=require_aware(after, "time to look after"))


@dataclass(frozen=True)
class RecurrenceStep:
    """What a recurring series should do now; see catch_up."""

    due: LocalTimeResolution | None        # the occurrence to publish now-ish (within grace of now), if any
    skipped: tuple[datetime, ...]          # missed occurrences, oldest first (UTC): logged, never published
    upcoming: LocalTimeResolution | None   # the next occurrence after `now` (what to schedule next)


def catch_up(rule: str, anchor: datetime, tz_name: str, *, last_occurrence: datetime | None, now: datetime,
             grace: timedelta = DEFAULT_RECURRENCE_GRACE, max_skipped_reported: int = 1000) -> RecurrenceStep:
    """After downtime, never a burst: of the occurrences after `last_occurrence` (from the
    anchor when None) up to `now`, only the most recent may be due, and only within
    `grace` of now; every other one is skipped. `skipped` keeps the most recent
    `max_skipped_reported`. `upcoming` is the first occurrence after both `now` and
    `last_occurrence`.
    """
    now = to_utc(now, "current time")
    last = None if last_occurrence is None else to_utc(last_occurrence, "last occurrence")
    if grace < timedelta(0):
        raise _invalid("grace", "The grace period cannot be negative.", "grace")
    if max_skipped_reported < 0:
        raise _invalid("max_skipped_reported", "max_skipped_reported cannot be negative.", "max_skipped_reported")
    skipped: deque[datetime] = deque(maxlen=max_skipped_reported)
    latest: LocalTimeResolution | None = None
    upcoming: LocalTimeResolution | None = None
    for occurrence in _occurrences(rule, anchor, tz_name, after=last):
        if occurrence.at > now:
            upcoming = occurrence
            break
        if latest is not None:
            skipped.append(latest.at)
        latest = occurrence
    due = None
    if latest is not None:
        if now - latest.at <= grace:
            due = latest
        else:
            skipped.append(latest.at)
    return RecurrenceStep(due=due, skipped=tuple(skipped), upcoming=upcoming)


# ---------------------------------------------------------------- caps, gaps and warnings

@dataclass(frozen=True)
class ScheduledItem:
    """A post already on an account's calendar, as the checks below need it."""

    account_id: str
    at: datetime
    caption: str = ""
    post_id: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "at", to_utc(self.at, "scheduled time"))


def check_daily_cap(*, cap: int, tz_name: str, candidate: datetime, existing: Iterable[datetime],
                    account_label: str) -> Problem | None:
    """An error when the candidate's local day (in `tz_name`) already has `cap` posts."""
    tz = zone(tz_name)
    day = to_utc(candidate, "scheduled time").astimezone(tz).date()
    others = [to_utc(t, "scheduled time") for t in existing]
    if cap < 1:
        raise _invalid("daily_cap", "A daily limit must be at least 1 post.", "daily_cap")
    count = sum(1 for t in others if t.astimezone(tz).date() == day)
    if count < cap:
        return None
    return Problem("daily_cap", f"{account_label} already has {_plural(count, 'post')} on {_fmt_day(day)}, "
                   f"its daily limit is {cap}. Pick another day or raise the limit in account settings.",
                   field="schedule")


def check_min_gap(*, min_gap: timedelta, candidate: datetime, existing: Iterable[datetime],
                  account_label: str) -> Problem | None:
    """An error when another post on the account is less than `min_gap` away (either side)."""
    candidate = to_utc(candidate, "scheduled time")
    others = [to_utc(t, "scheduled time") for t in existing]
    if min_gap < timedelta(0):
        raise _invalid("min_gap", "The gap between posts cannot be negative.", "min_gap")
    nearest = min(others, key=lambda t: abs(t - candidate), default=None)
    if nearest is None or abs(nearest - candidate) >= min_gap:
        return None
    return Problem("min_gap", f"This post is {_relation(candidate - nearest, 'another post')} on {account_label}; "
                   f"keep at least {_duration(min_gap)} between posts.", field="schedule")


def _relation(offset: timedelta, other: str) -> str:
    """'only 4 minutes after another post' for offset = this - other."""
    if offset == timedelta(0):
        return f"at the same time as {other}"
    span = _duration(offset)
    side = "after" if offset > timedelta(0) else "before"
    return f"{span} {side} {other}" if span.startswith("less") else f"only {span} {side} {other}"


def _caption_key(caption: str) -> str:
    """Captions that differ only in case or spacing count as the same."""
    return " ".join((caption or "").split()).casefold()


def _same_account(existing: Iterable[ScheduledItem], account_id: str,
                  exclude_post_id: str | None) -> list[ScheduledItem]:
    return [item for item in existing
            if item.account_id == account_id and (exclude_post_id is None or item.post_id != exclude_post_id)]


def scheduling_warnings(*, account_id: str, account_label: str, candidate_at: datetime, caption: str,
                        existing: Iterable[ScheduledItem], tz_name: str,
                        exclude_post_id: str | None = None) -> list[Problem]:
    """Warnings (they do not block): another post on the account within the hour, and the
    same caption on the account within three days either side."""
    tz = zone(tz_name)
    candidate = to_utc(candidate_at, "scheduled time")
    mine = _same_account(existing, account_id, exclude_post_id)
    problems: list[Problem] = []
    close = [item for item in mine if abs(item.at - candidate) < _SAME_HOUR]
    if close:
        other = min(close, key=lambda item: abs(item.at - candidate))
        offset = other.at - candidate
        where = ("at the same time as this one" if offset == timedelta(0)
                 else f"{_duration(offset)} {'after' if offset > timedelta(0) else 'before'} this one")
        problems.append(Problem("same_hour", f"{account_label} already has a post {where} "
                                f"({_fmt_moment(other.at.astimezone(tz))}); posts this close compete for attention.",
                                field="schedule", severity="warning"))
    key = _caption_key(caption)
    twins = [item for item in mine
             if key and _caption_key(item.caption) == key and abs(item.at - candidate) <= DUPLICATE_CAPTION_WINDOW]
    if twins:
        other = min(twins, key=lambda item: abs(item.at - candidate))
        problems.append(Problem("duplicate_caption", f"The same caption also goes to {account_label} on "
                                f"{_fmt_moment(other.at.astimezone(tz))}; platforms may hide or refuse repeated posts.",
                                field="caption", severity="warning"))
    return problems


def check_account_slot(*, account_id: str, account_label: str, candidate_at: datetime, tz_name: str,
                       existing: Iterable[ScheduledItem], daily_cap: int, min_gap: timedelta = DEFAULT_MIN_GAP,
                       exclude_post_id: str | None = None, caption: str = "") -> list[Problem]:
    """Every problem with posting on one account at `candidate_at`: errors first, then warnings.

    The "same hour" warning is left out when the gap error already says the same thing.
    """
    mine = _same_account(existing, account_id, exclude_post_id)
    times = [item.at for item in mine]
    errors = [p for p in (
        check_daily_cap(cap=daily_cap, tz_name=tz_name, candidate=candidate_at, existing=times,
                        account_label=account_label),
        check_min_gap(min_gap=min_gap, candidate=candidate_at, existing=times, account_label=account_label),
    ) if p is not None]
    notes = scheduling_warnings(account_id=account_id, account_label=account_label, candidate_at=candidate_at,
                                caption=caption, existing=mine, tz_name=tz_name)
    if any(p.code == "min_gap" for p in errors):
        notes = [p for p in notes if p.code != "same_hour"]
    return errors + notes

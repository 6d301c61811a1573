"""The composer's repeat rule builder: a few plain choices <-> RFC 5545 RRULE text, and the next occurrences.

    RepeatChoices(pattern="weekly", every=2, days=("TU", "TH"), ends="after", count=6)
        -> build_rule(...) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=6"
        -> describe(...) == "every 2 weeks on Tue, Thu, 6 times"

Patterns: every day (every N days), weekdays (Monday to Friday, every N weeks), weekly on chosen days (every N
weeks), monthly on day N (every N months). A series ends never, after N posts (the first post counts), or on a
date (the whole of that day in the workspace's zone). The rule is checked by core.rules.timing.validate_rule, which
the Scheduler uses too, and expanded by core.rules.timing (DST-correct, anchored to the first post's wall time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.domain.errors import Problem, ValidationError
from core.domain.timeutil import zone
from core.rules.timing import LocalTimeResolution, describe_rule, next_occurrence, validate_rule

__all__ = ["PATTERNS", "ENDS", "DAY_CODES", "DAY_NAMES", "RepeatChoices", "build_rule", "describe", "choices_from_rule",
           "upcoming", "off_rule_start"]

PATTERNS = {"daily": "Every day", "weekdays": "Every weekday (Mon–Fri)", "weekly": "Weekly on chosen days",
            "monthly": "Monthly on a day of the month"}
ENDS = {"never": "Never", "after": "After a number of posts", "on": "On a date"}
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = dict(zip(DAY_CODES, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
_WEEKDAYS = DAY_CODES[:5]
_MAX_EVERY = 99
_MAX_COUNT = 500


@dataclass(frozen=True)
class RepeatChoices:
    """What the person picked. `every` is the N in "every N days/weeks/months"; `days` the weekdays for "weekly"
    (codes MO..SU); `month_day` the day for "monthly"; `count` the number of posts for ends="after" (the first
    included); `until` the last day for ends="on"."""

    pattern: str = "weekly"
    every: int = 1
    days: tuple[str, ...] = field(default_factory=tuple)
    month_day: int = 1
    ends: str = "never"
    count: int = 10
    until: date | None = None


def _problem(message: str, field_name: str) -> Problem:
    return Problem("repeat", message, field=field_name)


def build_rule(choices: RepeatChoices, *, first_day: date | None = None) -> str:
    """The RRULE text for `choices`; every problem said at once in words (ValidationError). `first_day` (the first
    post's day in the workspace's zone) lets an end date before it be refused."""
    c = choices
    problems: list[Problem] = []
    if c.pattern not in PATTERNS:
        problems.append(_problem(f"Choose how often it repeats: {', '.join(PATTERNS.values()).lower()}.", "pattern"))
    if not isinstance(c.every, int) or not 1 <= c.every <= _MAX_EVERY:
        problems.append(_problem(f"'Every' must be a whole number from 1 to {_MAX_EVERY}.", "every"))
    days = tuple(dict.fromkeys(d.upper() for d in c.days))
    if c.pattern == "weekly":
        if not days:
            problems.append(_problem("Choose at least one day of the week for a weekly post.", "days"))
        elif any(d not in DAY_CODES for d in days):
            problems.append(_problem("Days of the week are Monday to Sunday.", "days"))
    if c.pattern == "monthly" and (not isinstance(c.month_day, int) or not 1 <= c.month_day <= 31):
        problems.append(_problem("The day of the month must be from 1 to 31.", "month_day"))
    if c.ends not in ENDS:
        problems.append(_problem("Choose when the series ends: never, after a number of posts, or on a date.", "ends"))
    elif c.ends == "after" and (not isinstance(c.count, int) or not 1 <= c.count <= _MAX_COUNT):
        problems.append(_problem(f"The number of posts must be from 1 to {_MAX_COUNT}.", "count"))
    elif c.ends == "on":
        if c.until is None:
            problems.append(_problem("Choose the date the series ends on.", "until"))
        elif first_day is not None and c.until < first_day:
            problems.append(_problem(f"The series cannot end ({c.until:%d %b %Y}) before its first post "
                                     f"({first_day:%d %b %Y}).", "until"))
    if problems:
        raise ValidationError(problems)
    parts = {"daily": ["FREQ=DAILY"], "weekdays": ["FREQ=WEEKLY"], "weekly": ["FREQ=WEEKLY"],
             "monthly": ["FREQ=MONTHLY"]}[c.pattern]
    if c.every > 1:
        parts.append(f"INTERVAL={c.every}")
    if c.pattern == "weekdays":
        parts.append("BYDAY=" + ",".join(_WEEKDAYS))
    elif c.pattern == "weekly":
        parts.append("BYDAY=" + ",".join(d for d in DAY_CODES if d in days))
    elif c.pattern == "monthly":
        parts.append(f"BYMONTHDAY={c.month_day}")
    if c.ends == "after":
        parts.append(f"COUNT={c.count}")
    elif c.ends == "on":
        parts.append(f"UNTIL={c.until:%Y%m%d}")
    return validate_rule(";".join(parts))


def describe(rule: str) -> str:
    """The rule in plain words ("every weekday", "every 2 weeks on Tue, Thu, 6 times")."""
    choices = choices_from_rule(rule)
    if choices is None:
        return describe_rule(rule)
    if choices.pattern == "weekdays":
        parts = dict(p.split("=", 1) for p in validate_rule(rule).split(";"))
        end = ";".join(f"{k}={v}" for k, v in parts.items() if k in ("COUNT", "UNTIL"))
        tail = describe_rule("FREQ=DAILY" + (f";{end}" if end else ""))[len("every day"):]
        return ("every weekday" if choices.every == 1 else f"every {choices.every} weeks on weekdays") + tail
    words = describe_rule(rule)
    if choices.pattern == "monthly" and choices.month_day > 28:
        words += f" (a month without day {choices.month_day} is skipped)"
    return words


def choices_from_rule(rule: str | None) -> RepeatChoices | None:
    """The builder's choices that make `rule` (to reopen a saved post in the builder); None when the rule is one
    the builder cannot make (it is then kept as it is)."""
    if not rule:
        return None
    try:
        parts = dict(p.split("=", 1) for p in validate_rule(rule).split(";"))
    except ValidationError:
        return None
    freq = parts.pop("FREQ")
    every = int(parts.pop("INTERVAL", "1"))
    ends, count, until = "never", 10, None
    if "COUNT" in parts:
        ends, count = "after", int(parts.pop("COUNT"))
    elif "UNTIL" in parts:
        value = parts.pop("UNTIL")
        if len(value) != 8:
            return None
        ends, until = "on", date(int(value[:4]), int(value[4:6]), int(value[6:]))
    byday = parts.pop("BYDAY", None)
    monthday = parts.pop("BYMONTHDAY", None)
    if parts:
        return None
    if freq == "DAILY" and byday is None and monthday is None:
        choices = RepeatChoices(pattern="daily", every=every)
    elif freq == "WEEKLY" and monthday is None and byday is not None and all(d in DAY_CODES for d in byday.split(",")):
        days = tuple(d for d in DAY_CODES if d in byday.split(","))
        pattern = "weekdays" if days == _WEEKDAYS else "weekly"
        choices = RepeatChoices(pattern=pattern, every=every, days=days if pattern == "weekly" else ())
    elif freq == "MONTHLY" and byday is None and monthday is not None and monthday.isdigit():
        choices = RepeatChoices(pattern="monthly", every=every, month_day=int(monthday))
    else:
        return None
    return RepeatChoices(**{**choices.__dict__, "ends": ends, "count": count, "until": until})


def upcoming(rule: str, first: datetime, tz_name: str, n: int = 5) -> list[LocalTimeResolution]:
    """The series' first `n` posts from `first` (the first post itself counts), in `tz_name` (each `.local`)."""
    out: list[LocalTimeResolution] = []
    after = first - timedelta(microseconds=1)
    while len(out) < n:
        nxt = next_occurrence(rule, first, tz_name, after=after)
        if nxt is None:
            break
        out.append(nxt)
        after = nxt.at
    return out


def off_rule_start(rule: str, first: datetime, tz_name: str) -> bool:
    """Whether the first post's day is not one the rule picks (a weekly rule on Mondays starting on a Tuesday): the
    first post still goes out then, as RFC 5545 counts the start, and the composer says so."""
    choices = choices_from_rule(rule)
    local = first.astimezone(zone(tz_name))
    if choices is None:
        return False
    if choices.pattern == "weekdays":
        return local.weekday() >= 5
    if choices.pattern == "weekly":
        return DAY_CODES[local.weekday()] not in choices.days
    if choices.pattern == "monthly":
        return local.day != choices.month_day
    return False

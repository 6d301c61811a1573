"""Time helpers shared by every module: aware datetimes only, IANA zones only."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain.errors import NaiveDatetimeError, Problem, UnknownTimezoneError

UTC = timezone.utc


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Return `value` unchanged if it carries a timezone; refuse it otherwise."""
    if not isinstance(value, datetime):
        raise NaiveDatetimeError(Problem("not_a_datetime", f"The {what} must be a date and time, not {type(value).__name__}.", field=what))
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(Problem(
            "naive_datetime",
            f"The {what} {value:%Y-%m-%d %H:%M} has no timezone, so it could mean different moments in different places. "
            "Give it a timezone (for example tzinfo=ZoneInfo('Europe/Berlin') or timezone.utc).",
            field=what))
    return value


def to_utc(value: datetime, what: str = "time") -> datetime:
    """The same instant in UTC; refuses naive datetimes."""
    return require_aware(value, what).astimezone(UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or a clear error."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownTimezoneError(Problem("unknown_timezone", "A timezone is required, for example Europe/Berlin or America/New_York.", field="timezone"))
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise UnknownTimezoneError(Problem(
            "unknown_timezone",
            f"'{name}' is not a timezone Outpost knows. Use an IANA name such as Europe/Berlin or America/New_York.",
            field="timezone")) from None


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_db(value: datetime | None) -> datetime | None:
    """Database drivers may hand back naive UTC (SQLite); make it aware again."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

"""Every error Outpost raises on purpose, rooted at one base.

Messages are written for the person who will read them: a marketer in the
dashboard or a developer at a prompt. They say what was attempted and why it
is not allowed, never a token or other secret.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class OutpostError(Exception):
    """Root of every error Outpost raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with some input, in plain words.

    `code` is stable for programs (``caption_too_long``); `message` is for people;
    `field` names the input that is wrong; `platform` is set when the problem
    only applies to one platform.
    """

    code: str
    message: str
    field: str | None = None
    platform: str | None = None
    # Warnings do not block scheduling; errors do.
    severity: str = "error"

    def __str__(self) -> str:
        return self.message


class ValidationError(OutpostError, ValueError):
    """Input was refused; `problems` lists every reason at once."""

    def __init__(self, problems: list[Problem] | Problem | str, *, code: str = "invalid"):
        if isinstance(problems, str):
            problems = [Problem(code=code, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("; ".join(p.message for p in self.problems) or "invalid input")


class NaiveDatetimeError(ValidationError):
    """A datetime without a timezone was given where an exact instant is needed."""


class UnknownPlatformError(ValidationError):
    """A platform name that Outpost does not know."""


class PastTimeError(ValidationError):
    """A time that has already passed was given for something that must happen later."""


class UnknownTimezoneError(ValidationError):
    """A timezone name that is not in the IANA database."""


class IllegalTransitionError(OutpostError):
    """A post or delivery was asked to move to a state it cannot reach from where it is."""

    def __init__(self, *, entity: str, entity_id: str | None, action: str, current: str,
                 allowed_from: tuple[str, ...] = (), reason: str | None = None):
        self.entity = entity
        self.entity_id = entity_id
        self.action = action
        self.current = current
        self.allowed_from = allowed_from
        label = f"{entity} {entity_id}" if entity_id else f"this {entity}"
        if reason is None:
            if allowed_from:
                reason = "only a " + entity + " that is " + _or_list(allowed_from) + " can be"
                reason += f" {_past(action)}"
            else:
                reason = "that is not allowed"
        super().__init__(f"Cannot {action.replace('_', ' ')} {label}: it is {current.replace('_', ' ')}, and {reason}.")


class NotFoundError(OutpostError, KeyError):
    """Something looked up by id does not exist (or is not visible to the caller)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "not found"


class PermissionDenied(OutpostError):
    """The actor's role does not allow this, or it belongs to another workspace; the message says which."""

    def __init__(self, message: str, *, action: str | None = None, workspace_id: str | None = None,
                 role: str | None = None, code: str = "not_allowed"):
        self.action = action
        self.workspace_id = workspace_id
        self.role = role
        self.code = code
        super().__init__(message)


class DuplicateError(OutpostError):
    """Something with that id or name already exists."""


class ConflictError(OutpostError):
    """The record changed underneath us (another process moved it first)."""


class ConfigurationError(OutpostError):
    """Settings are missing or inconsistent; the message says which and how to fix it."""


class SchemaOutOfDateError(ConfigurationError):
    """The database schema is behind the code and could not be upgraded automatically."""


def _or_list(items: tuple[str, ...]) -> str:
    words = [i.replace("_", " ") for i in items]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


_PAST = {
    "submit": "submitted for approval", "approve": "approved", "reject": "rejected",
    "revise": "sent back to draft", "cancel": "cancelled", "reschedule": "rescheduled",
    "start_publishing": "published", "mark_published": "marked published",
    "mark_failed": "marked failed", "retry_later": "retried later", "needs_review": "sent to review",
    "release": "released", "defer": "held back", "requeue": "queued again", "claim": "claimed", "edit": "edited",
    "schedule": "scheduled", "unschedule": "unscheduled",
}


def _past(action: str) -> str:
    return _PAST.get(action, action.replace("_", " ") + "d")


# ---------------------------------------------------------------- platform calls
# The runner acts on four classes of publishing failure; every adapter maps the
# platform's own error bodies onto them (see core/platforms/base.py).

class PlatformError(OutpostError):
    """A platform call did not succeed. `message` is in plain words; `code` is the platform's own."""

    kind = "error"

    def __init__(self, message: str, *, platform: str | None = None, code: str | None = None,
                 http_status: int | None = None, account_id: str | None = None):
        self.platform = platform
        self.code = code
        self.http_status = http_status
        self.account_id = account_id
        super().__init__(message)


class RetryLater(PlatformError):
    """Transient: rate limited, 5xx, timeout before sending, media not ready. Try again at `retry_at` (if known)."""

    kind = "retry"

    def __init__(self, message: str, *, retry_at=None, rate_limited: bool = False, **kw):
        self.retry_at = retry_at  # aware UTC datetime from Retry-After / x-rate-limit-reset / the platform's rules
        # The platform limits this account (a 429, a posting quota): its other posts would meet the same refusal
        # until retry_at, so the runner holds the whole account. False for 5xx, media still processing, etc.
        self.rate_limited = rate_limited
        super().__init__(message, **kw)


class TokenExpired(PlatformError):
    """The access token is expired or invalid: refresh it once and try again."""

    kind = "refresh"


class ReconnectNeeded(PlatformError):
    """The account must be connected again by a person (refresh failed, access revoked, scope missing)."""

    kind = "reconnect"


class Rejected(PlatformError):
    """Refused for good (duplicate, invalid content, policy): retrying the same request cannot succeed."""

    kind = "rejected"


class OutcomeUnknown(PlatformError):
    """The request may have taken effect (the response was lost): reconcile before doing anything else."""

    kind = "unknown"

"""How the runner decides what happens to a delivery after an attempt: pure rules, no I/O.

The runner (`jobs.runner`) calls the platform; this module says what that outcome means:

============================  ==============================================================
outcome                        decision
============================  ==============================================================
published                      ``published`` with the platform's id and URL
RetryLater (5xx, 429, ...)     ``retry`` after 1, 5, 15 minutes (jittered), or at the platform's
                               own reset time when that is later; ``failed`` when attempts are used up
RetryLater, rate limited,      ``retry`` at the platform's reset (a limit is not a failure: it waits
  with a reset time            on when the attempts are used up, up to twice as many; YouTube's quota)
TokenExpired                   the runner refreshes the token once and tries again; if the platform
                               still says expired, ``reconnect``
ReconnectNeeded                ``reconnect``: the account is marked, people are told, the delivery
                               waits (not counted as an attempt)
Rejected                       ``failed`` with the platform's reason in plain words
OutcomeUnknown (lost answer)   ``check_later``: look for the post on the platform after a short
                               wait (listings lag); never re-post blindly
found on the platform          ``published`` (reconciled)
not found, listing reliable    publish again
not found, listing unreliable  ``needs_review`` with the evidence
============================  ==============================================================
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired

DEFAULT_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15))
# A delivery found this long after it should have gone out is not published blindly: a person decides.
DEFAULT_MAX_LATENESS = timedelta(hours=1)
# After a lost answer, how long to give the platform's listing before asking it whether the post exists.
RECONCILE_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures: `delays` between attempts, ± `jitter`, at most `max_attempts` in all."""

    delays: tuple[timedelta, ...] = DEFAULT_DELAYS
    jitter: float = 0.2
    max_attempts: int = len(DEFAULT_DELAYS) + 1

    def __post_init__(self):
        if not self.delays:
            raise ValueError("A retry policy needs at least one delay.")
        if not 0 <= self.jitter < 1:
            raise ValueError("Jitter is a fraction between 0 and 1.")
        if self.max_attempts < 1:
            raise ValueError("At least one attempt is needed.")

    def delay(self, attempts_made: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the `attempts_made`-th attempt failed (the last delay repeats)."""
        base = self.delays[min(max(attempts_made, 1), len(self.delays)) - 1]
        if not self.jitter:
            return base
        factor = 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return base * factor

    def next_attempt(self, attempts_made: int, now: datetime, *, retry_at: datetime | None = None,
                     rng: random.Random | None = None) -> datetime | None:
        """When to try again, or None when the attempts are used up. The platform's reset time wins if later."""
        if attempts_made >= self.max_attempts:
            return None
        at = now + self.delay(attempts_made, rng)
        if retry_at is not None and retry_at > at:
            at = retry_at
        return at


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery after an outcome."""

    kind: str                      # published | retry | failed | needs_review | reconnect | check_later | refresh
    at: datetime | None = None     # retry / check_later: when
    reason: str = ""               # in words a marketer understands
    code: str | None = None
    details: dict = field(default_factory=dict)


def decide(error: PlatformError, *, attempts_made: int, now: datetime, policy: RetryPolicy,
           refreshed: bool = False, rng: random.Random | None = None,
           reconcile_after: timedelta = RECONCILE_AFTER) -> Decision:
    """The decision for a failed attempt (`attempts_made` counts the one that just failed)."""
    code = error.code
    if isinstance(error, TokenExpired):
        if not refreshed:
            return Decision("refresh", reason=str(error), code=code)
        return Decision("reconnect", reason=f"{_platform(error)} still refuses the token after a refresh: {error}",
                        code=code or "token_expired")
    if isinstance(error, ReconnectNeeded):
        return Decision("reconnect", reason=str(error), code=code)
    if isinstance(error, Rejected):
        return Decision("failed", reason=str(error), code=code)
    if isinstance(error, OutcomeUnknown):
        # Checking never posts, so it gets more room than retries; but not forever (a platform that keeps
        # answering "maybe" must not keep a post spinning): then a person decides, with the evidence.
        if attempts_made >= 2 * policy.max_attempts:
            return Decision("needs_review", code=code or "unconfirmed",
                            reason=f"After {attempts_made} attempts Outpost still cannot tell whether "
                                   f"{_platform(error)} published this ({error}). Look at the account: mark it "
                                   "published if it is there, or try again.")
        return Decision("check_later", at=now + reconcile_after, reason=str(error), code=code or "lost_response")
    if isinstance(error, RetryLater):
        if error.rate_limited and error.retry_at is not None and error.retry_at > now \
                and attempts_made < 2 * policy.max_attempts:
            # A limit, not a failure: the platform refused before doing anything and said when it will take the
            # post again (a daily quota's reset, a rate window's end). It waits for that even when the attempts
            # are used up, paced by the platform's reset, never a tight loop; but not forever (as above).
            at = max(error.retry_at, now + policy.delay(attempts_made, rng))
            return Decision("retry", at=at, reason=str(error), code=code, details={"limited_until": error.retry_at})
        at = policy.next_attempt(attempts_made, now, retry_at=error.retry_at, rng=rng)
        if at is None:
            return Decision("failed", reason=f"Gave up after {attempts_made} attempts: {error}", code=code)
        return Decision("retry", at=at, reason=str(error), code=code)
    return Decision("failed", reason=str(error) or type(error).__name__, code=code)


def _platform(error: PlatformError) -> str:
    from core.domain.catalog import Platform
    try:
        return Platform.parse(error.platform).label if error.platform else "The platform"
    except Exception:  # an unknown slug in an error message is not worth failing over
        return "The platform"


def lateness(now: datetime, meant_for: datetime) -> timedelta:
    return max(timedelta(0), now - meant_for)


def too_late(now: datetime, meant_for: datetime, max_lateness: timedelta = DEFAULT_MAX_LATENESS) -> bool:
    """Whether a delivery meant for `meant_for` is so late that a person should decide (after downtime)."""
    return lateness(now, meant_for) > max_lateness

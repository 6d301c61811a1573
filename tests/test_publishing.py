"""The retry policy and the outcome -> decision table (core.rules.outcomes), without I/O."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.rules.outcomes import RECONCILE_AFTER, RetryPolicy, decide, too_late

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
M = timedelta(minutes=1)


@pytest.mark.parametrize("attempts,base", [(1, 1 * M), (2, 5 * M), (3, 15 * M)])
def test_backoff_is_1_5_15_minutes_jittered(attempts, base):
    policy = RetryPolicy()
    rng = random.Random(7)
    waits = [policy.next_attempt(attempts, NOW, rng=rng) - NOW for _ in range(200)]
    assert all(base * 0.8 <= w <= base * 1.2 for w in waits)
    assert len({w for w in waits}) > 100                      # really jittered, not one fixed value


def test_attempts_are_bounded_and_configurable():
    assert RetryPolicy().next_attempt(4, NOW) is None          # 1 try + 3 retries by default
    policy = RetryPolicy(delays=(timedelta(seconds=10),), jitter=0, max_attempts=6)
    assert [policy.next_attempt(n, NOW) - NOW for n in range(1, 6)] == [timedelta(seconds=10)] * 5
    assert policy.next_attempt(6, NOW) is None


def test_the_platforms_reset_time_wins_when_later():
    reset = NOW + timedelta(minutes=40)
    assert RetryPolicy(jitter=0).next_attempt(1, NOW, retry_at=reset) == reset
    soon = NOW + timedelta(seconds=5)
    assert RetryPolicy(jitter=0).next_attempt(1, NOW, retry_at=soon) == NOW + M


@pytest.mark.parametrize("bad", [dict(delays=()), dict(jitter=1.5), dict(max_attempts=0)])
def test_a_nonsense_policy_is_refused(bad):
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


POLICY = RetryPolicy(jitter=0)
# (error, attempts made, refreshed, expected decision kind, expected time)
TABLE = [
    (RetryLater("X is busy (503)", code="503"), 1, False, "retry", NOW + M),
    (RetryLater("X is busy (503)", code="503"), 3, False, "retry", NOW + 15 * M),
    (RetryLater("X is busy (503)", code="503"), 4, False, "failed", None),
    (RetryLater("Rate limited", code="429", retry_at=NOW + timedelta(hours=2)), 1, False, "retry",
     NOW + timedelta(hours=2)),
    (TokenExpired("Token expired", code="401"), 1, False, "refresh", None),
    (TokenExpired("Token expired", code="401"), 1, True, "reconnect", None),
    (ReconnectNeeded("Access revoked", code="190"), 1, False, "reconnect", None),
    (Rejected("Duplicate content", code="187"), 1, False, "failed", None),
    (OutcomeUnknown("The answer was lost", code="lost_response"), 1, False, "check_later", NOW + RECONCILE_AFTER),
    (OutcomeUnknown("The answer was lost", code="lost_response"), 7, False, "check_later", NOW + RECONCILE_AFTER),
    (OutcomeUnknown("The answer was lost", code="lost_response"), 8, False, "needs_review", None),   # not forever
    (PlatformError("Something odd"), 1, False, "failed", None),
]


@pytest.mark.parametrize("error,attempts,refreshed,kind,at", TABLE, ids=[f"{type(t[0]).__name__}-{t[1]}-{t[2]}" for t in TABLE])
def test_outcome_to_decision(error, attempts, refreshed, kind, at):
    decision = decide(error, attempts_made=attempts, now=NOW, policy=POLICY, refreshed=refreshed)
    assert decision.kind == kind and decision.at == at
    assert decision.reason                                     # always something to show a person
    if kind == "failed" and isinstance(error, RetryLater):
        assert "Gave up after 4 attempts" in decision.reason and "X is busy" in decision.reason


def test_lateness_window():
    assert not too_late(NOW, NOW - timedelta(minutes=59))
    assert too_late(NOW, NOW - timedelta(minutes=61))
    assert not too_late(NOW, NOW + timedelta(minutes=5))      # early is never late


# ---------------------------------------------------------------- which refusals hold the whole account
def _classify(platform: str, status: int, body: dict, headers: dict | None = None):
    import httpx
    from core.platforms.registry import build_adapter
    from core.infra.settings import Settings
    adapter = build_adapter(platform, Settings(sandbox=True))
    request = httpx.Request("POST", "https://example.invalid/publish")
    return adapter.classify(httpx.Response(status, json=body, headers=headers or {}, request=request))


@pytest.mark.parametrize("platform, status, body, headers, limited", [
    ("x", 429, {"title": "Too Many Requests", "detail": "Too Many Requests"}, {"x-rate-limit-reset": "1900000000"}, True),
    ("x", 503, {"title": "Service Unavailable"}, {}, False),
    ("linkedin", 429, {"status": 429, "message": "Resource level throttle limit"}, {}, True),
    ("facebook", 400, {"error": {"code": 32, "message": "Page request limit reached"}}, {}, True),
    ("facebook", 500, {"error": {"code": 1, "message": "An unknown error occurred"}}, {}, False),
    ("instagram", 400, {"error": {"code": 9, "error_subcode": 2207042, "message": "quota"}}, {}, True),
    ("instagram", 400, {"error": {"code": 9007, "error_subcode": 2207027, "message": "not ready"}}, {}, False),
    ("mastodon", 429, {"error": "Too many requests"}, {"X-RateLimit-Reset": "2030-01-01T00:00:00Z"}, True),
    ("mastodon", 503, {"error": "Service Unavailable"}, {"Retry-After": "120"}, False),
    ("tiktok", 429, {"error": {"code": "rate_limit_exceeded", "message": ""}}, {}, True),
    ("tiktok", 500, {"error": {"code": "internal_error", "message": ""}}, {}, False),
])
def test_only_rate_limits_hold_the_account(platform, status, body, headers, limited):
    from core.domain.errors import RetryLater
    error = _classify(platform, status, body, headers)
    assert isinstance(error, RetryLater) and error.rate_limited is limited

"""Injected faults: latency, 5xx, 429, timeouts, expired tokens, lost responses and late effects.

A rule matches requests by platform ("*" for all), a path substring (the path includes
the host, e.g. "/api.x.com/2/tweets") and a method. Each matching rule fires with its
probability (its own seeded RNG, so a run is repeatable) until its count is used up.
Latency rules add up; of the rules that end a request differently (error_5xx,
rate_limit, timeout, lost_response, applied_then_5xx, slow_apply) the first that fires
wins. `expire_token` expires the token the request carries, then lets the request run, so
the platform answers with its own expired-token error.

- error_5xx: the platform's own 5xx body (`status`, default 503); nothing happens.
- lost_response: the request takes full effect, then the connection is closed after a
  status line and headers that promise a body (at least one byte, even for an empty answer),
  so the client gets a transport error on that very request instead of the answer.
- timeout: with effect "applied" (default) the request takes effect and the answer is held
  back for `timeout_s`; with effect "dropped" nothing happens and, after the wait, the
  platform's 5xx comes back (to whoever is still listening).
- applied_then_5xx: the request takes full effect, then a gateway in front of the platform
  answers `status` 502 (default) or 504 with its own HTML page (nginx/ALB style, text/html),
  not the platform's JSON: the client cannot tell it from a 5xx that did nothing.
- slow_apply: the request is held `hold_s` seconds (default: the config's `slow_apply_s`,
  40 s, longer than the clients' 30 s timeout) and only then takes effect, whether or not the
  client is still waiting; a client that hung up does not cancel it.

A third kind of late effect is a setting, not a rule: `listing_lag_s` in the config
(see config.py) hides new posts from the platforms' listings and searches for a while.
"""
from __future__ import annotations

import itertools
import math
import random
import threading
from dataclasses import dataclass, field

KINDS = ("latency", "error_5xx", "rate_limit", "timeout", "expire_token", "lost_response", "applied_then_5xx",
         "slow_apply")
TERMINAL = ("error_5xx", "rate_limit", "timeout", "lost_response", "applied_then_5xx", "slow_apply")
GATEWAY_STATUSES = (502, 504)         # what a proxy answers when the platform behind it failed or was slow
MAX_HOLD_S = 3600.0


@dataclass
class FaultRule:
    kind: str
    platform: str = "*"
    path: str | None = None
    method: str | None = None
    probability: float = 1.0
    count: int | None = None          # None: unlimited
    latency_ms: float = 0.0
    seed: int | None = None
    status: int = 503                 # error_5xx (any 5xx); applied_then_5xx (502 or 504, default 502)
    timeout_s: float | None = None    # timeout; None: the configured fault_timeout_s
    effect: str = "applied"           # timeout: "applied" | "dropped"
    hold_s: float | None = None       # slow_apply; None: the configured slow_apply_s
    id: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def matches(self, platform: str, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.platform not in ("*", None, platform):
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or self.path in path

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in ("id", "kind", "platform", "path", "method", "probability", "count",
                                               "latency_ms", "seed", "status", "timeout_s", "effect", "hold_s",
                                               "fired")}


@dataclass
class Decision:
    latency_ms: float = 0.0
    action: FaultRule | None = None   # the terminal rule that fired, if any
    expire_token: bool = False

    @property
    def kinds(self) -> list[str]:
        out = []
        if self.latency_ms:
            out.append("latency")
        if self.expire_token:
            out.append("expire_token")
        if self.action:
            out.append(self.action.kind)
        return out


def _integer(value, name: str) -> int:
    """A whole number from JSON (2, 2.0 or "2"); anything else is a bad rule, refused when it is added."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be an integer")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be an integer")
    return int(number)


def _seconds(value, name: str) -> float:
    """A hold in seconds: a number from 0 to an hour (a longer one would only outlive the test that set it)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds") from None
    if not 0.0 <= seconds <= MAX_HOLD_S:       # also refuses NaN
        raise ValueError(f"{name} must be between 0 and {MAX_HOLD_S:g} seconds")
    return seconds


class Faults:
    """The rule list plus the global latency; safe to change from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.rules: list[FaultRule] = []

    def add(self, spec: dict) -> FaultRule:
        """Add a rule from its JSON form; raises ValueError on a bad rule."""
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        allowed = {"platform", "path", "method", "probability", "count", "latency_ms", "seed", "status",
                   "timeout_s", "effect", "hold_s"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        if kind == "applied_then_5xx" and spec.get("status") is None:
            spec["status"] = GATEWAY_STATUSES[0]
        rule = FaultRule(kind=kind, **{k: v for k, v in spec.items() if v is not None or k == "path"})
        if not 0.0 <= float(rule.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if rule.effect not in ("applied", "dropped"):
            raise ValueError("effect must be 'applied' or 'dropped'")
        rule.status = _integer(rule.status, "status")
        if rule.count is not None and _integer(rule.count, "count") < 0:
            raise ValueError("count must be 0 or more")
        rule.count = None if rule.count is None else _integer(rule.count, "count")
        if kind == "error_5xx" and not 500 <= rule.status <= 599:
            raise ValueError("status must be a 5xx code")
        if kind == "applied_then_5xx" and rule.status not in GATEWAY_STATUSES:
            raise ValueError("status must be 502 or 504 (what a gateway answers)")
        for name in ("timeout_s", "hold_s"):
            value = getattr(rule, name)
            if value is not None:
                setattr(rule, name, _seconds(value, name))
        rule.probability = float(rule.probability)
        rule.platform = rule.platform or "*"
        with self._lock:
            rule.id = next(self._ids)
            rule.rng = random.Random(rule.seed if rule.seed is not None else rule.id)
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [r.as_json() for r in self.rules]

    def decide(self, platform: str, method: str, path: str, base_latency_ms: float = 0.0) -> Decision:
        decision = Decision(latency_ms=float(base_latency_ms or 0.0))
        if not self.rules:
            return decision
        with self._lock:
            for rule in self.rules:
                if not rule.matches(platform, method, path):
                    continue
                if rule.kind in TERMINAL and decision.action is not None:
                    continue
                if rule.probability < 1.0 and rule.rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                rule.fired += 1
                if rule.kind == "latency":
                    decision.latency_ms += float(rule.latency_ms)
                elif rule.kind == "expire_token":
                    decision.expire_token = True
                else:
                    decision.action = rule
                    decision.latency_ms += float(rule.latency_ms or 0.0)
        return decision

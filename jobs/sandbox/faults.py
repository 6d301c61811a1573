"""Injected faults: latency, 5xx, 429, timeouts, expired tokens and lost responses.

A rule matches requests by platform ("*" for all), a path substring (the path includes
the host, e.g. "/api.x.com/2/tweets") and a method. Each matching rule fires with its
probability (its own seeded RNG, so a run is repeatable) until its count is used up.
Latency rules add up; of the rules that end a request differently (error_5xx,
rate_limit, timeout, lost_response) the first that fires wins. `expire_token` expires
the token the request carries, then lets the request run, so the platform answers with
its own expired-token error.

- lost_response: the request takes full effect, then the connection is closed after a
  status line and headers that promise a body (at least one byte, even for an empty answer),
  so the client gets a transport error on that very request instead of the answer.
- timeout: with effect "applied" (default) the request takes effect and the answer is held
  back for `timeout_s`; with effect "dropped" nothing happens and, after the wait, the
  platform's 5xx comes back (to whoever is still listening).
"""
from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field

KINDS = ("latency", "error_5xx", "rate_limit", "timeout", "expire_token", "lost_response")
TERMINAL = ("error_5xx", "rate_limit", "timeout", "lost_response")


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
    status: int = 503                 # error_5xx
    timeout_s: float | None = None    # timeout; None: the configured fault_timeout_s
    effect: str = "applied"           # timeout: "applied" | "dropped"
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
                                               "latency_ms", "seed", "status", "timeout_s", "effect", "fired")}


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
                   "timeout_s", "effect"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        rule = FaultRule(kind=kind, **{k: v for k, v in spec.items() if v is not None or k == "path"})
        if not 0.0 <= float(rule.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if rule.effect not in ("applied", "dropped"):
            raise ValueError("effect must be 'applied' or 'dropped'")
        if kind == "error_5xx" and not 500 <= int(rule.status) <= 599:
            raise ValueError("status must be a 5xx code")
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

"""The records that only the store and the runner deal in: runner heartbeats and metric snapshots.

Frozen values, like the domain's; they sit below every aggregate module of `core.store` (and are
re-exported by `core.store`, `core.store.claims` and `core.store.metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class Heartbeat:
    """A runner saying it is alive (runner_heartbeats)."""

    runner_id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSnapshot:
    """One published delivery's metrics at one moment (normalised keys, the platform's own in `raw`)."""

    delivery_id: str
    post_id: str
    account_id: str
    workspace_id: str | None
    platform: str
    external_id: str
    taken_at: datetime
    metrics: Mapping[str, int]
    raw: Mapping[str, Any] = field(default_factory=dict)
    is_demo: bool = False        # written by the sandbox's demo history (sandbox.demo), removed with it


@dataclass(frozen=True)
class AccountSnapshot:
    account_id: str
    workspace_id: str | None
    platform: str
    taken_at: datetime
    followers: int | None
    raw: Mapping[str, Any] = field(default_factory=dict)
    is_demo: bool = False        # written by the sandbox's demo history (sandbox.demo), removed with it

"""Metric snapshots (per published delivery and per account) and what insights are pulled for:
the protocol and its in-memory part."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol, Sequence

from core.domain import Delivery
from core.domain.lifecycle import DeliveryState
from core.store.base import MemoryState
from core.store.records import AccountSnapshot, MetricSnapshot
from core.domain.timeutil import to_utc


class MetricStore(Protocol):
    """Snapshots of metrics over time, and the published deliveries they are taken for."""

    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]: ...
    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None: ...
    def list_metric_snapshots(self, *, delivery_id: str | None = None, workspace_id: str | None = None,
                              limit: int = 1000) -> list[MetricSnapshot]: ...
    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]: ...


class MetricMemory(MemoryState):
    """`MetricStore` in memory."""

    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]:
        since = to_utc(since, "since")
        with self._lock:
            hits = [d for d in self._deliveries.values() if d.state == DeliveryState.PUBLISHED and d.external_id
                    and d.published_at is not None and d.published_at >= since]
            return sorted(hits, key=lambda d: (d.account_id, d.published_at))[:limit]

    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None:
        with self._lock:
            self._snapshots.extend(snapshots)
            self._account_snapshots.extend(account_snapshots)

    def list_metric_snapshots(self, *, delivery_id: str | None = None, workspace_id: str | None = None,
                              limit: int = 1000) -> list[MetricSnapshot]:
        with self._lock:
            hits = [s for s in reversed(self._snapshots) if (delivery_id is None or s.delivery_id == delivery_id)
                    and (workspace_id is None or s.workspace_id == workspace_id)]
            return sorted(hits, key=lambda s: s.taken_at, reverse=True)[:limit]

    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]:
        with self._lock:
            hits = [s for s in reversed(self._account_snapshots) if s.account_id == account_id]
            return sorted(hits, key=lambda s: s.taken_at, reverse=True)[:limit]

"""Metric snapshots (per published delivery and per account), what insights are pulled for, and the pauses a
platform's limit answer puts on the pulls: the protocol and its in-memory part."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Collection, Protocol, Sequence

from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, Delivery
from core.domain.lifecycle import DeliveryState
from core.store.base import MemoryState
from core.store.records import AccountSnapshot, MetricSnapshot
from core.domain.errors import ValidationError
from core.domain.timeutil import to_utc

PAUSE_KINDS = ("account", "platform")


@dataclass(frozen=True)
class MetricPause:
    """Metric pulls held back until `until` after a platform said "too many calls" or "quota used up" (table
    metric_pauses): for one account (scope "account:<id>") or every account of a platform ("platform:<slug>")."""

    scope: str
    until: datetime
    reason: str
    set_at: datetime

    @property
    def kind(self) -> str:
        """"account" or "platform"."""
        return self.scope.partition(":")[0]

    @property
    def name(self) -> str:
        """The account id or the platform slug."""
        return self.scope.partition(":")[2]


def check_pause_scope(scope: str) -> str:
    """`scope` if it is "account:<id>" or "platform:<slug>" (ValidationError otherwise)."""
    kind, sep, name = str(scope or "").partition(":")
    if not sep or kind not in PAUSE_KINDS or not name.strip() or len(scope) > 200:
        raise ValidationError(f"A metrics pause is for 'account:<id>' or 'platform:<name>', not {scope!r}.")
    return scope


class MetricStore(Protocol):
    """Snapshots of metrics over time, and the published deliveries they are taken for."""

    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]: ...
    def deliveries_due_for_metrics(self, now: datetime, *, young_for: timedelta, young_every: timedelta,
                                   old_every: timedelta, max_age: timedelta, limit: int = 2000,
                                   skip_accounts: Collection[str] = (), skip_platforms: Collection[str] = (),
                                   skip_deliveries: Collection[str] = ()) -> list[Delivery]:
        """Published deliveries (with an external id, of a post that is not demo data, published within `max_age`
        of `now`) whose last metric snapshot is at or before `now - young_every` while the delivery is younger
        than `young_for`, at or before `now - old_every` after that, or that have none. The longest waiting
        first (never pulled, then the oldest last snapshot, then the earliest published), at most `limit`.
        (Demo history belongs to demo posts only, so a real delivery's snapshots are all real.) The `skip_*`
        ones (told to wait by their platform) are left out, so they never take the places of the others."""
        ...
    def accounts_due_for_followers(self, now: datetime, *, every: timedelta, limit: int = 2000) -> list[str]:
        """Ids of accounts the runner acts for (connected, expiring, expired) whose last follower snapshot (demo
        history aside) is at or before `now - every`, or that have none; the longest waiting first."""
        ...
    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None: ...
    def list_metric_snapshots(self, *, delivery_id: str | None = None, workspace_id: str | None = None,
                              limit: int = 1000) -> list[MetricSnapshot]: ...
    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]: ...
    def pause_metrics(self, scope: str, until: datetime, reason: str, *, now: datetime | None = None) -> MetricPause:
        """Hold back metric pulls for `scope` ("account:<id>" / "platform:<slug>") until `until`, for `reason` (in
        words). A later pause wins; an earlier one does not shorten it. Returns the pause as it now stands. Pauses
        that ended at or before `now` (the store's clock if not given) are deleted on the way."""
        ...
    def metric_pauses(self, now: datetime, *, scopes: Collection[str] | None = None) -> list[MetricPause]:
        """The pauses still running at `now` (ended ones are ignored), of `scopes` if given, by scope. The runner
        reads them before every pull (so a restarted runner keeps away from a limit); pages may show them."""
        ...
    def lift_metric_pause(self, scope: str) -> bool:
        """End the pause of `scope` now (a person lifted it); False when there was none."""
        ...
    def drop_expired_metric_pauses(self, now: datetime) -> int:
        """Delete the pauses that ended at or before `now`; how many."""
        ...


class MetricMemory(MemoryState):
    """`MetricStore` in memory."""

    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]:
        since = to_utc(since, "since")
        with self._lock:
            hits = [d for d in self._deliveries.values() if d.state == DeliveryState.PUBLISHED and d.external_id
                    and d.published_at is not None and d.published_at >= since]
            return sorted(hits, key=lambda d: (d.account_id, d.published_at))[:limit]

    def deliveries_due_for_metrics(self, now: datetime, *, young_for: timedelta, young_every: timedelta,
                                   old_every: timedelta, max_age: timedelta, limit: int = 2000,
                                   skip_accounts: Collection[str] = (), skip_platforms: Collection[str] = (),
                                   skip_deliveries: Collection[str] = ()) -> list[Delivery]:
        now = to_utc(now, "now")
        skip_accounts, skip_platforms, skip_deliveries = set(skip_accounts), set(skip_platforms), set(skip_deliveries)
        with self._lock:
            last: dict[str, datetime] = {}
            for s in self._snapshots:
                if s.delivery_id not in last or s.taken_at > last[s.delivery_id]:
                    last[s.delivery_id] = s.taken_at
            hits = []
            for d in self._deliveries.values():
                post = self._posts.get(d.post_id)
                if (d.state != DeliveryState.PUBLISHED or not d.external_id or d.published_at is None
                        or d.published_at < now - max_age or post is None or getattr(post, "is_demo", False)
                        or d.account_id in skip_accounts or d.platform.value in skip_platforms
                        or d.id in skip_deliveries):
                    continue
                every = young_every if d.published_at > now - young_for else old_every
                seen = last.get(d.id)
                if seen is None or seen <= now - every:
                    hits.append((seen is not None, seen or now, d.published_at, d.id, d))
            return [h[-1] for h in sorted(hits, key=lambda h: h[:4])][:limit]

    def accounts_due_for_followers(self, now: datetime, *, every: timedelta, limit: int = 2000) -> list[str]:
        now = to_utc(now, "now")
        with self._lock:
            last: dict[str, datetime] = {}
            for s in self._account_snapshots:
                if not getattr(s, "is_demo", False) and (s.account_id not in last or s.taken_at > last[s.account_id]):
                    last[s.account_id] = s.taken_at
            hits = [(a.id in last, last.get(a.id) or now, a.id) for a in self._accounts.values()
                    if a.status in PUBLISHABLE_ACCOUNT_STATUSES and (a.id not in last or last[a.id] <= now - every)]
            return [h[-1] for h in sorted(hits)][:limit]

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

    # ------------------------------------------------------------ pauses
    def _pause_table(self) -> dict[str, MetricPause]:
        with self._lock:
            table = getattr(self, "_metric_pauses", None)
            if table is None:
                table = self._metric_pauses = {}
            return table

    def pause_metrics(self, scope: str, until: datetime, reason: str, *, now: datetime | None = None) -> MetricPause:
        scope, until = check_pause_scope(scope), to_utc(until, "until")
        now = to_utc(now, "now") if now is not None else self._clock()
        with self._lock:
            table = self._pause_table()
            for key in [k for k, p in table.items() if p.until <= now]:
                del table[key]
            current = table.get(scope)
            if current is None or current.until < until:
                table[scope] = current = MetricPause(scope=scope, until=until, reason=str(reason), set_at=now)
            return current

    def metric_pauses(self, now: datetime, *, scopes: Collection[str] | None = None) -> list[MetricPause]:
        now = to_utc(now, "now")
        wanted = None if scopes is None else set(scopes)
        with self._lock:
            return sorted((p for p in self._pause_table().values()
                           if p.until > now and (wanted is None or p.scope in wanted)), key=lambda p: p.scope)

    def lift_metric_pause(self, scope: str) -> bool:
        with self._lock:
            return self._pause_table().pop(scope, None) is not None

    def drop_expired_metric_pauses(self, now: datetime) -> int:
        now = to_utc(now, "now")
        with self._lock:
            table = self._pause_table()
            ended = [k for k, p in table.items() if p.until <= now]
            for key in ended:
                del table[key]
            return len(ended)

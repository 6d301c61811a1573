"""The runner's claims: leases on deliveries, progress and outcomes, account holds, pacing counts, heartbeats.

The protocol and its in-memory part; the SQL side, with the notes on claiming, is `core.db.sql_runner`.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Iterable, Mapping, Protocol, Sequence

from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, ActivityEvent, Delivery
from core.domain.lifecycle import DeliveryState, PostState, may_be_live
from core.store.base import MemoryState
from core.store.records import Heartbeat
from core.domain.timeutil import to_utc


class ClaimStore(Protocol):
    """What the runner needs to share due deliveries with other runners (core.db.sql_runner has the notes)."""

    def claim_due(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                  room: Mapping[str, int] | None = None) -> list[Delivery]: ...
    def next_due_at(self, now: datetime | None = None, *, skip_platforms: Iterable[str] = ()) -> datetime | None: ...
    def claim_expired(self, now: datetime, *, runner_id: str, lease_until: datetime,
                      limit: int = 50, exclude_ids: Iterable[str] = ()) -> list[Delivery]: ...
    def renew_leases(self, runner_id: str, lease_until: datetime, ids: Iterable[str] | None = None) -> int: ...
    def save_progress(self, delivery_id: str, runner_id: str, key: str, value: str) -> bool: ...
    def finish_delivery(self, delivery: Delivery, *, runner_id: str,
                        events: Sequence[ActivityEvent] = ()) -> Delivery | None: ...
    def release_claims(self, runner_id: str) -> int: ...
    def hold_account(self, account_id: str, until: datetime, reason: str) -> None: ...
    def account_holds(self, now: datetime) -> dict[str, tuple[datetime, str]]: ...
    def release_account_hold(self, account_id: str) -> bool: ...
    def published_count(self, account_id: str, since: datetime) -> int: ...
    def published_counts(self, account_id: str, sinces: Sequence[datetime]) -> list[int]: ...
    def save_heartbeat(self, beat: Heartbeat) -> None: ...
    def list_heartbeats(self) -> list[Heartbeat]: ...
    def delete_heartbeat(self, runner_id: str) -> None: ...


# published_count looks at published deliveries due up to this long before `since` (as core.db.sql_runner).
PACING_LOOKBACK = timedelta(days=2)


class ClaimMemory(MemoryState):
    """`ClaimStore` in memory: the same contract as core.db.sql_runner, under the store's one lock
    (it claims the deliveries of `PostDeliveryMemory`, which shares the state)."""

    def _due(self, now: datetime) -> list[Delivery]:
        held = {a for a, (until, _) in self.account_holds(now).items()}
        busy = {d.account_id for d in self._deliveries.values() if d.state == DeliveryState.PUBLISHING}
        due = [d for d in self._deliveries.values()
               if d.state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT) and d.next_attempt_at is not None
               and d.next_attempt_at <= now and self._posts[d.post_id].state == PostState.APPROVED
               and d.account_id not in held and d.account_id not in busy
               and self._accounts[d.account_id].status in PUBLISHABLE_ACCOUNT_STATUSES]
        due.sort(key=lambda d: (d.next_attempt_at, d.id))
        return due

    def _claimed_events(self, claimed, runner_id: str, action: str, reason: str | None = None) -> None:
        at = self._clock()
        for d in claimed:
            self._events.append(ActivityEvent(action=action, subject_type="delivery", subject_id=d.id, at=at,
                                              actor=f"runner:{runner_id}",
                                              workspace_id=self._posts[d.post_id].workspace_id,
                                              to_state=DeliveryState.PUBLISHING.value, reason=reason,
                                              details={"post_id": d.post_id, "attempt": d.attempts,
                                                       "platform": d.platform.value}))

    def claim_due(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                  room: Mapping[str, int] | None = None) -> list[Delivery]:
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        left = {str(getattr(p, "value", p)): int(n) for p, n in (room or {}).items()}
        with self._lock:
            seen: set[str] = set()
            claimed = []
            for d in self._due(now):
                if d.account_id in seen or left.get(d.platform.value, limit) <= 0:
                    continue
                if d.platform.value in left:
                    left[d.platform.value] -= 1
                seen.add(d.account_id)
                new = replace(d.start_publishing(runner_id=runner_id, lease_until=lease_until, marker=d.marker or d.id),
                              version=d.version + 1, updated_at=self._clock())
                self._put_delivery(new)
                claimed.append(new)
                if len(claimed) >= limit:
                    break
            self._claimed_events(claimed, runner_id, "delivery.publishing")
            return claimed

    def next_due_at(self, now: datetime | None = None, *, skip_platforms: Iterable[str] = ()) -> datetime | None:
        now = to_utc(now, "now") if now is not None else self._clock()
        skip = {str(getattr(p, "value", p)) for p in skip_platforms}
        with self._lock:
            held = set(self.account_holds(now))
            busy = {d.account_id for d in self._deliveries.values() if d.state == DeliveryState.PUBLISHING}
            times = [d.next_attempt_at for d in self._deliveries.values()
                     if d.state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT) and d.next_attempt_at is not None
                     and self._posts[d.post_id].state == PostState.APPROVED and d.account_id not in held
                     and d.account_id not in busy and d.platform.value not in skip
                     and self._accounts[d.account_id].status in PUBLISHABLE_ACCOUNT_STATUSES]
            return min(times) if times else None

    def claim_expired(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                      exclude_ids: Iterable[str] = ()) -> list[Delivery]:
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        exclude = set(exclude_ids)
        with self._lock:
            expired = sorted((d for d in self._deliveries.values() if d.state == DeliveryState.PUBLISHING
                              and d.lease_expires_at is not None and d.lease_expires_at < now
                              and d.id not in exclude),
                             key=lambda d: d.lease_expires_at)[:limit]
            taken = []
            for d in expired:
                # A takeover is an attempt too: a delivery whose attempts keep crashing their runner ends.
                new = replace(d, claimed_by=runner_id, lease_expires_at=lease_until, version=d.version + 1,
                              attempts=d.attempts + 1, updated_at=self._clock())
                self._put_delivery(new)
                taken.append(new)
            self._claimed_events(taken, runner_id, "delivery.lease_expired",
                                 "The runner publishing this stopped before it finished; checking with the "
                                 "platform before anything else.")
            return taken

    def _held_by(self, delivery_id: str, runner_id: str) -> Delivery | None:
        d = self._deliveries.get(delivery_id)
        if d is None or d.claimed_by != runner_id or d.state != DeliveryState.PUBLISHING:
            return None
        return d

    def renew_leases(self, runner_id: str, lease_until: datetime, ids: Iterable[str] | None = None) -> int:
        lease_until = to_utc(lease_until, "lease")
        with self._lock:
            wanted = None if ids is None else set(ids)
            n = 0
            for d in list(self._deliveries.values()):
                if d.claimed_by == runner_id and d.state == DeliveryState.PUBLISHING and (wanted is None or d.id in wanted):
                    self._put_delivery(replace(d, lease_expires_at=lease_until))
                    n += 1
            return n

    def save_progress(self, delivery_id: str, runner_id: str, key: str, value: str) -> bool:
        with self._lock:
            d = self._held_by(delivery_id, runner_id)
            if d is None:
                return False
            self._put_delivery(replace(d, progress={**d.progress, key: value}, version=d.version + 1))
            return True

    def finish_delivery(self, delivery: Delivery, *, runner_id: str,
                        events: Sequence[ActivityEvent] = ()) -> Delivery | None:
        with self._lock:
            current = self._held_by(delivery.id, runner_id)
            if current is None:
                return None
            final = replace(delivery, version=current.version + 1, updated_at=self._clock(),
                            progress={**current.progress, **dict(delivery.progress or {})})
            self._put_delivery(final)
            self._events.extend(events)
            return final

    def release_claims(self, runner_id: str) -> int:
        with self._lock:
            mine = [d for d in self._deliveries.values() if d.claimed_by == runner_id
                    and d.state == DeliveryState.PUBLISHING and not may_be_live(d.progress)]
            for d in mine:
                self.finish_delivery(d.release(), runner_id=runner_id, events=[ActivityEvent(
                    action="delivery.released", subject_type="delivery", subject_id=d.id, at=self._clock(),
                    actor=f"runner:{runner_id}", from_state=DeliveryState.PUBLISHING.value,
                    to_state=DeliveryState.QUEUED.value, reason="The runner stopped before calling the platform.",
                    details={"post_id": d.post_id})])
            return len(mine)

    def hold_account(self, account_id: str, until: datetime, reason: str) -> None:
        until = to_utc(until, "until")
        with self._lock:
            current = self._holds.get(account_id)
            if current is None or current[0] < until:
                self._holds[account_id] = (until, reason)

    def account_holds(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        now = to_utc(now, "now")
        with self._lock:
            return {a: h for a, h in self._holds.items() if h[0] > now}

    def release_account_hold(self, account_id: str) -> bool:
        """A person lifted the hold: the runner may post for the account at once. False when there was none."""
        with self._lock:
            return self._holds.pop(account_id, None) is not None

    def published_count(self, account_id: str, since: datetime) -> int:
        """Published at or after `since` (due at most PACING_LOOKBACK before it), plus the one in flight."""
        since = to_utc(since, "since")
        with self._lock:
            return sum(1 for d in self._deliveries.values() if d.account_id == account_id and (
                d.state == DeliveryState.PUBLISHING or
                (d.state == DeliveryState.PUBLISHED and d.published_at is not None and d.published_at >= since
                 and d.due_at >= since - PACING_LOOKBACK)))

    def published_counts(self, account_id: str, sinces: Sequence[datetime]) -> list[int]:
        """published_count for several starts at once (the publisher's burst window and local day)."""
        return [self.published_count(account_id, since) for since in sinces]

    def save_heartbeat(self, beat: Heartbeat) -> None:
        with self._lock:
            self._heartbeats[beat.runner_id] = beat

    def list_heartbeats(self) -> list[Heartbeat]:
        with self._lock:
            return sorted(self._heartbeats.values(), key=lambda b: b.beat_at, reverse=True)

    def delete_heartbeat(self, runner_id: str) -> None:
        with self._lock:
            self._heartbeats.pop(runner_id, None)

"""The storage interface every store implements, and the in-memory store.

`InMemoryPostStore` is a real implementation of the same interface as the SQL
store (`core.db.sql_store.SqlPostStore`), not a mock: the same contract test
suite runs against both. It is meant for scripts, tests and demos; it keeps
nothing after the process ends.

Contract (both stores):
- Every write that changes a post, its deliveries and the activity log is atomic.
- ``update_post`` / ``update_delivery`` take the version the caller read and raise
  ConflictError when someone else changed the record first (optimistic locking).
- A post's derived status is recomputed on every write that touches it.
- Returned objects are frozen; change them with their transition methods.
- A delivery belongs to one post for good: its id is never reused by, or moved to, another post.
- A workspace holds one account per platform account: saving a second account with the same
  (workspace, platform, external_id) is a DuplicateError; ``find_account`` finds the one.
- A connect attempt (`OAuthState`) is consumed once: of any number of concurrent
  ``consume_oauth_state`` calls exactly one gets it.
- Activity events come back newest first; events of the same instant in reverse order of writing.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol, Sequence

from core.domain import (PUBLISHABLE_ACCOUNT_STATUSES, Account, ActivityEvent, Batch, Delivery, Membership,
                         Notification, OAuthState, Post, User, Workspace, post_status)
from core.errors import ConflictError, DuplicateError, NotFoundError
from core.lifecycle import DeliveryState, PostState, PostStatus
from core.platforms.catalog import Platform
from core.scheduling import ScheduledItem
from core.timeutil import to_utc, utcnow

# Deliveries that still occupy a slot on the account's calendar (for caps, gaps and warnings).
_INACTIVE_DELIVERY = {DeliveryState.CANCELLED, DeliveryState.FAILED}
_INACTIVE_POST = {PostState.CANCELLED, PostState.REJECTED}


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


@dataclass(frozen=True)
class AccountSnapshot:
    account_id: str
    workspace_id: str | None
    platform: str
    taken_at: datetime
    followers: int | None
    raw: Mapping[str, Any] = field(default_factory=dict)


class PostStore(Protocol):
    """What the Scheduler, the dashboard and the runner need from storage."""

    # workspaces and people
    def add_workspace(self, workspace: Workspace) -> Workspace: ...
    def update_workspace(self, workspace: Workspace) -> Workspace: ...
    def get_workspace(self, workspace_id: str) -> Workspace: ...
    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]: ...
    def add_user(self, user: User) -> User: ...
    def update_user(self, user: User) -> User: ...
    def get_user(self, user_id: str) -> User: ...
    def get_user_by_email(self, email: str) -> User | None: ...
    def set_membership(self, membership: Membership) -> Membership: ...
    def get_membership(self, user_id: str, workspace_id: str) -> Membership | None: ...
    def remove_membership(self, user_id: str, workspace_id: str) -> bool: ...
    def list_memberships(self, *, user_id: str | None = None, workspace_id: str | None = None) -> list[Membership]: ...

    # accounts
    def save_account(self, account: Account) -> Account: ...
    def get_account(self, account_id: str) -> Account: ...
    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]: ...
    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None: ...

    # "Connect account" attempts (single use)
    def add_oauth_state(self, state: OAuthState) -> None: ...
    def consume_oauth_state(self, state_hash: str, now: datetime) -> OAuthState | None: ...
    def purge_oauth_states(self, before: datetime) -> int: ...

    # posts and deliveries
    def add_post(self, post: Post, deliveries: Sequence[Delivery] = (), *,
                 events: Sequence[ActivityEvent] = ()) -> Post: ...
    def update_post(self, post: Post, *, expected_version: int, deliveries: Sequence[Delivery] = (),
                    events: Sequence[ActivityEvent] = ()) -> Post: ...
    def get_post(self, post_id: str) -> Post: ...
    def get_post_status(self, post_id: str) -> PostStatus: ...
    def list_posts(self, *, workspace_id: str | None = None, statuses: Iterable[PostStatus] | None = None,
                   start: datetime | None = None, end: datetime | None = None, account_id: str | None = None,
                   batch_id: str | None = None, limit: int = 500, offset: int = 0) -> list[Post]: ...
    def get_deliveries(self, post_id: str) -> list[Delivery]: ...
    def deliveries_for(self, post_ids: Iterable[str]) -> dict[str, list[Delivery]]: ...
    def get_delivery(self, delivery_id: str) -> Delivery: ...
    def update_delivery(self, delivery: Delivery, *, expected_version: int,
                        events: Sequence[ActivityEvent] = ()) -> Delivery: ...
    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]: ...
    def account_schedule(self, account_id: str, start: datetime, end: datetime, *,
                         exclude_post_id: str | None = None) -> list[ScheduledItem]: ...

    # the runner (core.db.sql_runner has the notes on claiming)
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
    def published_count(self, account_id: str, since: datetime) -> int: ...
    def published_counts(self, account_id: str, sinces: Sequence[datetime]) -> list[int]: ...
    def save_heartbeat(self, beat: Heartbeat) -> None: ...
    def list_heartbeats(self) -> list[Heartbeat]: ...
    def delete_heartbeat(self, runner_id: str) -> None: ...
    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]: ...
    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None: ...
    def list_metric_snapshots(self, *, delivery_id: str | None = None, workspace_id: str | None = None,
                              limit: int = 1000) -> list[MetricSnapshot]: ...
    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]: ...

    # activity, notifications, batches
    def record_event(self, event: ActivityEvent) -> None: ...
    def list_events(self, *, workspace_id: str | None = None, subject_id: str | None = None,
                    limit: int = 100) -> list[ActivityEvent]: ...
    def add_notification(self, notification: Notification) -> Notification: ...
    def list_notifications(self, *, workspace_id: str, user_id: str | None = None,
                           unread_only: bool = False, limit: int = 100) -> list[Notification]: ...
    def mark_notification_read(self, notification_id: str, at: datetime) -> None: ...
    def save_batch(self, batch: Batch) -> Batch: ...
    def get_batch(self, batch_id: str) -> Batch: ...
    def list_batches(self, *, workspace_id: str) -> list[Batch]: ...


def same_platform_account(account: Account, other_id: str) -> str:
    """The DuplicateError message for a second row of one platform account in a workspace."""
    return (f"{account.platform.label} account {account.external_id} is already connected in workspace "
            f"{account.workspace_id} (as {other_id}); update that account instead.")


def post_matches(post: Post, status: PostStatus, *, workspace_id, statuses, start, end, account_id, batch_id) -> bool:
    """The list_posts filter, in Python (the SQL store does the same in SQL)."""
    if workspace_id is not None and post.workspace_id != workspace_id:
        return False
    if statuses is not None and status not in statuses:
        return False
    due = post.due_at
    if start is not None and (due is None or due < start):
        return False
    if end is not None and (due is None or due >= end):
        return False
    if account_id is not None and all(a.id != account_id for a in post.accounts):
        return False
    if batch_id is not None and post.batch_id != batch_id:
        return False
    return True


# published_count looks at published deliveries due up to this long before `since` (as core.db.sql_runner).
PACING_LOOKBACK = timedelta(days=2)


class RunnerMemory:
    """The runner's methods of InMemoryPostStore: the same contract as core.db.sql_runner, under one lock."""

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
                    and d.state == DeliveryState.PUBLISHING and not d.progress.get("sent")]
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


class InMemoryPostStore(RunnerMemory):
    """A complete store that lives in memory (see the module docstring)."""

    def __init__(self, *, clock=utcnow):
        self._clock = clock
        self._lock = threading.RLock()
        self._workspaces: dict[str, Workspace] = {}
        self._users: dict[str, User] = {}
        self._memberships: dict[tuple[str, str], Membership] = {}
        self._accounts: dict[str, Account] = {}
        self._posts: dict[str, Post] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._post_deliveries: dict[str, list[str]] = {}
        self._events: list[ActivityEvent] = []
        self._notifications: dict[str, Notification] = {}
        self._batches: dict[str, Batch] = {}
        self._oauth_states: dict[str, OAuthState] = {}
        self._holds: dict[str, tuple[datetime, str]] = {}
        self._heartbeats: dict[str, Heartbeat] = {}
        self._snapshots: list[MetricSnapshot] = []
        self._account_snapshots: list[AccountSnapshot] = []

    # ------------------------------------------------------------ workspaces & people
    def add_workspace(self, workspace: Workspace) -> Workspace:
        with self._lock:
            if workspace.id in self._workspaces:
                raise DuplicateError(f"A workspace with id {workspace.id} already exists.")
            workspace = replace(workspace, created_at=workspace.created_at or self._clock())
            self._workspaces[workspace.id] = workspace
            return workspace

    def update_workspace(self, workspace: Workspace) -> Workspace:
        with self._lock:
            self.get_workspace(workspace.id)
            self._workspaces[workspace.id] = workspace
            return workspace

    def get_workspace(self, workspace_id: str) -> Workspace:
        try:
            return self._workspaces[workspace_id]
        except KeyError:
            raise NotFoundError(f"No workspace with id {workspace_id}.") from None

    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]:
        with self._lock:
            if user_id is None:
                items = list(self._workspaces.values())
            else:
                ids = {m.workspace_id for m in self._memberships.values() if m.user_id == user_id}
                items = [w for w in self._workspaces.values() if w.id in ids]
            return sorted(items, key=lambda w: w.name.lower())

    def add_user(self, user: User) -> User:
        with self._lock:
            if user.id in self._users or self.get_user_by_email(user.email):
                raise DuplicateError(f"A user with the email {user.email} already exists.")
            user = replace(user, created_at=user.created_at or self._clock())
            self._users[user.id] = user
            return user

    def update_user(self, user: User) -> User:
        with self._lock:
            self.get_user(user.id)
            holder = self.get_user_by_email(user.email)
            if holder is not None and holder.id != user.id:
                raise DuplicateError(f"A user with the email {user.email} already exists.")
            self._users[user.id] = user
            return user

    def get_user(self, user_id: str) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFoundError(f"No user with id {user_id}.") from None

    def get_user_by_email(self, email: str) -> User | None:
        email = (email or "").strip().lower()
        return next((u for u in self._users.values() if u.email == email), None)

    def set_membership(self, membership: Membership) -> Membership:
        with self._lock:
            self.get_user(membership.user_id)
            self.get_workspace(membership.workspace_id)
            self._memberships[(membership.user_id, membership.workspace_id)] = membership
            return membership

    def get_membership(self, user_id: str, workspace_id: str) -> Membership | None:
        return self._memberships.get((user_id, workspace_id))

    def remove_membership(self, user_id: str, workspace_id: str) -> bool:
        """Take the user out of the workspace; False if they were not a member."""
        with self._lock:
            return self._memberships.pop((user_id, workspace_id), None) is not None

    def list_memberships(self, *, user_id: str | None = None, workspace_id: str | None = None) -> list[Membership]:
        return [m for m in self._memberships.values()
                if (user_id is None or m.user_id == user_id) and (workspace_id is None or m.workspace_id == workspace_id)]

    # ------------------------------------------------------------ accounts
    def save_account(self, account: Account) -> Account:
        with self._lock:
            if account.workspace_id is not None:
                self.get_workspace(account.workspace_id)
            if account.external_id is not None and account.workspace_id is not None:
                other = self.find_account(account.workspace_id, account.platform, account.external_id)
                if other is not None and other.id != account.id:
                    raise DuplicateError(same_platform_account(account, other.id))
            if account.connected_at is None:
                account = replace(account, connected_at=self._clock())
            self._accounts[account.id] = account
            return account

    def get_account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise NotFoundError(f"No connected account with id {account_id}.") from None

    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]:
        with self._lock:
            return sorted((a for a in self._accounts.values() if workspace_id is None or a.workspace_id == workspace_id),
                          key=lambda a: (a.platform.value, a.handle.lower()))

    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None:
        if external_id is None:
            return None
        platform = Platform.parse(platform)
        with self._lock:
            return next((a for a in self._accounts.values() if a.workspace_id == workspace_id
                         and a.platform == platform and a.external_id == external_id), None)

    # ------------------------------------------------------------ connect attempts
    def add_oauth_state(self, state: OAuthState) -> None:
        with self._lock:
            if state.state_hash in self._oauth_states:
                raise DuplicateError("That connect attempt already exists.")
            self.get_user(state.user_id)
            self.get_workspace(state.workspace_id)
            self._oauth_states[state.state_hash] = replace(state, created_at=state.created_at or self._clock())

    def consume_oauth_state(self, state_hash: str, now: datetime) -> OAuthState | None:
        """The attempt, marked used, if it exists and was never used before; None otherwise (replays get None)."""
        now = to_utc(now, "now")
        with self._lock:
            found = self._oauth_states.get(state_hash)
            if found is None or found.used_at is not None:
                return None
            used = replace(found, used_at=now)
            self._oauth_states[state_hash] = used
            return used

    def purge_oauth_states(self, before: datetime) -> int:
        """Delete the attempts that expired, or were used, before `before`; returns how many."""
        before = to_utc(before, "before")
        with self._lock:
            old = [h for h, s in self._oauth_states.items()
                   if s.expires_at < before or (s.used_at is not None and s.used_at < before)]
            for h in old:
                del self._oauth_states[h]
            return len(old)

    # ------------------------------------------------------------ posts & deliveries
    def _hydrate(self, post: Post) -> Post:
        accounts = tuple(self._accounts.get(a.id, a) for a in post.accounts)
        return replace(post, account=None, accounts=accounts)

    def _check_post(self, post: Post, deliveries: Sequence[Delivery]) -> None:
        if not post.id:
            raise ValueError("A post needs an id before it is stored.")
        for acc in post.accounts:
            if acc.id not in self._accounts:
                raise NotFoundError(f"Account {acc.label} is not connected in this store; save it first.")
        if post.workspace_id is not None:
            self.get_workspace(post.workspace_id)
        for d in deliveries:
            if d.post_id != post.id:
                raise ValueError(f"Delivery {d.id} belongs to post {d.post_id}, not {post.id}.")
        for d in deliveries:
            if d.account_id not in self._accounts:
                raise NotFoundError(f"Delivery {d.id} goes to account {d.account_id}, which is not connected in "
                                    "this store; save the account first.")

    def add_post(self, post: Post, deliveries: Sequence[Delivery] = (), *,
                 events: Sequence[ActivityEvent] = ()) -> Post:
        with self._lock:
            if post.id in self._posts:
                raise DuplicateError(f"A post with id {post.id} already exists.")
            self._check_post(post, deliveries)
            taken = sorted(d.id for d in deliveries if d.id in self._deliveries)
            if taken:
                raise DuplicateError(f"A delivery with id {taken[0]} already exists.")
            now = self._clock()
            post = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
            self._posts[post.id] = post
            self._post_deliveries[post.id] = []
            for d in deliveries:
                self._put_delivery(replace(d, version=1, updated_at=now))
            self._events.extend(events)
            return self._hydrate(post)

    def _put_delivery(self, d: Delivery) -> None:
        old = self._deliveries.get(d.id)
        if old is not None and old.post_id != d.post_id:  # the callers check first; this is the last guard
            raise DuplicateError(f"Delivery {d.id} already belongs to post {old.post_id}.")
        ids = self._post_deliveries.setdefault(d.post_id, [])
        if d.id not in ids:
            ids.append(d.id)
        self._deliveries[d.id] = d

    def update_post(self, post: Post, *, expected_version: int, deliveries: Sequence[Delivery] = (),
                    events: Sequence[ActivityEvent] = ()) -> Post:
        with self._lock:
            current = self._posts.get(post.id)
            if current is None:
                raise NotFoundError(f"No post with id {post.id}.")
            if current.version != expected_version:
                raise ConflictError(f"Post {post.id} was changed by someone else; reload it and try again.")
            self._check_post(post, deliveries)
            for d in deliveries:
                old = self._deliveries.get(d.id)
                if old is not None and old.post_id != post.id:
                    raise DuplicateError(f"Delivery {d.id} already belongs to post {old.post_id}; "
                                         "a delivery never moves to another post.")
                if old is not None and old.version != d.version:
                    raise ConflictError(f"Delivery {d.id} was changed by someone else; reload it and try again.")
            now = self._clock()
            post = replace(post, updated_at=now, version=current.version + 1)
            self._posts[post.id] = post
            for d in deliveries:
                self._put_delivery(replace(d, version=d.version + 1, updated_at=now))
            self._events.extend(events)
            return self._hydrate(post)

    def get_post(self, post_id: str) -> Post:
        with self._lock:
            post = self._posts.get(post_id)
            if post is None:
                raise NotFoundError(f"No post with id {post_id}.")
            return self._hydrate(post)

    def get_post_status(self, post_id: str) -> PostStatus:
        with self._lock:
            return post_status(self.get_post(post_id), self.get_deliveries(post_id))

    def list_posts(self, *, workspace_id=None, statuses=None, start=None, end=None, account_id=None,
                   batch_id=None, limit: int = 500, offset: int = 0) -> list[Post]:
        statuses = None if statuses is None else {PostStatus(s) for s in statuses}
        start = to_utc(start, "start") if start is not None else None
        end = to_utc(end, "end") if end is not None else None
        with self._lock:
            hits = []
            for post in self._posts.values():
                status = post_status(post, self.get_deliveries(post.id))
                if post_matches(post, status, workspace_id=workspace_id, statuses=statuses, start=start, end=end,
                                account_id=account_id, batch_id=batch_id):
                    hits.append(post)
            far = datetime.max.replace(tzinfo=utcnow().tzinfo)
            hits.sort(key=lambda p: (p.due_at or far, p.id))
            return [self._hydrate(p) for p in hits[offset:offset + limit]]

    def get_deliveries(self, post_id: str) -> list[Delivery]:
        with self._lock:
            return [self._deliveries[i] for i in self._post_deliveries.get(post_id, [])]

    def deliveries_for(self, post_ids: Iterable[str]) -> dict[str, list[Delivery]]:
        """The deliveries of many posts at once (a page of posts), by post id."""
        with self._lock:
            return {pid: self.get_deliveries(pid) for pid in post_ids}

    def get_delivery(self, delivery_id: str) -> Delivery:
        try:
            return self._deliveries[delivery_id]
        except KeyError:
            raise NotFoundError(f"No delivery with id {delivery_id}.") from None

    def update_delivery(self, delivery: Delivery, *, expected_version: int,
                        events: Sequence[ActivityEvent] = ()) -> Delivery:
        with self._lock:
            current = self.get_delivery(delivery.id)
            if current.post_id != delivery.post_id:
                raise ValueError(f"Delivery {delivery.id} belongs to post {current.post_id}, not {delivery.post_id}; "
                                 "a delivery never moves to another post.")
            if current.version != expected_version:
                raise ConflictError(f"Delivery {delivery.id} was changed by someone else; reload it and try again.")
            delivery = replace(delivery, version=current.version + 1, updated_at=self._clock())
            self._put_delivery(delivery)
            self._events.extend(events)
            return delivery

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        now = to_utc(now, "now")
        with self._lock:
            due = [d for d in self._deliveries.values()
                   if d.state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT)
                   and d.next_attempt_at is not None and d.next_attempt_at <= now
                   and self._posts[d.post_id].state == PostState.APPROVED]
            due.sort(key=lambda d: (d.next_attempt_at, d.id))
            return due[:limit]

    def account_schedule(self, account_id: str, start: datetime, end: datetime, *,
                         exclude_post_id: str | None = None) -> list[ScheduledItem]:
        start, end = to_utc(start, "start"), to_utc(end, "end")
        with self._lock:
            items = []
            for d in self._deliveries.values():
                if d.account_id != account_id or d.post_id == exclude_post_id or d.state in _INACTIVE_DELIVERY:
                    continue
                when = d.published_at or d.due_at
                post = self._posts[d.post_id]
                if post.state in _INACTIVE_POST or not (start <= when < end):
                    continue
                items.append(ScheduledItem(account_id=account_id, at=when, caption=post.caption, post_id=post.id))
            return sorted(items, key=lambda i: i.at)

    # ------------------------------------------------------------ activity, notifications, batches
    def record_event(self, event: ActivityEvent) -> None:
        with self._lock:
            self._events.append(event)

    def list_events(self, *, workspace_id=None, subject_id=None, limit: int = 100) -> list[ActivityEvent]:
        with self._lock:
            hits = [e for e in self._events if (workspace_id is None or e.workspace_id == workspace_id)
                    and (subject_id is None or e.subject_id == subject_id)]
            # Newest first; events written in the same instant come back in reverse order of writing.
            return sorted(reversed(hits), key=lambda e: e.at, reverse=True)[:limit]

    def add_notification(self, notification: Notification) -> Notification:
        with self._lock:
            notification = replace(notification, created_at=notification.created_at or self._clock())
            self._notifications[notification.id] = notification
            return notification

    def list_notifications(self, *, workspace_id: str, user_id=None, unread_only=False, limit=100) -> list[Notification]:
        with self._lock:
            hits = [n for n in self._notifications.values() if n.workspace_id == workspace_id
                    and (user_id is None or n.user_id in (None, user_id)) and (not unread_only or n.read_at is None)]
            return sorted(hits, key=lambda n: n.created_at, reverse=True)[:limit]

    def mark_notification_read(self, notification_id: str, at: datetime) -> None:
        with self._lock:
            n = self._notifications.get(notification_id)
            if n is None:
                raise NotFoundError(f"No notification with id {notification_id}.")
            self._notifications[notification_id] = replace(n, read_at=to_utc(at))

    def save_batch(self, batch: Batch) -> Batch:
        with self._lock:
            self.get_workspace(batch.workspace_id)
            batch = replace(batch, created_at=batch.created_at or self._clock())
            self._batches[batch.id] = batch
            return batch

    def get_batch(self, batch_id: str) -> Batch:
        try:
            return self._batches[batch_id]
        except KeyError:
            raise NotFoundError(f"No batch with id {batch_id}.") from None

    def list_batches(self, *, workspace_id: str) -> list[Batch]:
        with self._lock:
            return sorted((b for b in self._batches.values() if b.workspace_id == workspace_id),
                          key=lambda b: b.week_start, reverse=True)

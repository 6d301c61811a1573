"""The activity log, in-app notifications and generated batches: the protocol and its in-memory part."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Protocol

from core.domain import ActivityEvent, Batch, Notification
from core.domain.errors import NotFoundError
from core.store.base import MemoryState
from core.domain.timeutil import to_utc


class ActivityStore(Protocol):
    """Who did what when (newest first), notifications for people, and batches of generated posts."""

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


class ActivityMemory(MemoryState):
    """`ActivityStore` in memory."""

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

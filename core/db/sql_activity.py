"""`core.store.ActivityStore` in SQL: the activity log, notifications and batches."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from core.db.rows import (batch_from_row, batch_values, event_from_row, notification_from_row,
                          notification_values)
from core.db.schema import activity_events, batches, notifications, workspaces
from core.db.sql_base import SqlBase, exists
from core.domain import ActivityEvent, Batch, Notification
from core.domain.errors import NotFoundError
from core.domain.timeutil import to_utc


class SqlActivityStore(SqlBase):
    """Activity events, notifications and batches on a SQLAlchemy engine."""

    def record_event(self, event: ActivityEvent) -> None:
        with self._write() as conn:
            self._insert_events(conn, [event])

    def list_events(self, *, workspace_id: str | None = None, subject_id: str | None = None,
                    limit: int = 100) -> list[ActivityEvent]:
        query = sa.select(activity_events).order_by(activity_events.c.at.desc(), activity_events.c.seq.desc())
        if workspace_id is not None:
            query = query.where(activity_events.c.workspace_id == workspace_id)
        if subject_id is not None:
            query = query.where(activity_events.c.subject_id == subject_id)
        with self._read() as conn:
            return [event_from_row(r) for r in conn.execute(query.limit(limit))]

    def add_notification(self, notification: Notification) -> Notification:
        with self._write() as conn:
            notification = replace(notification, created_at=notification.created_at or self._clock())
            values = notification_values(notification)
            if conn.execute(notifications.update().where(notifications.c.id == notification.id)
                            .values(values)).rowcount == 0:
                conn.execute(notifications.insert().values(values))
            return notification

    def list_notifications(self, *, workspace_id: str, user_id: str | None = None,
                           unread_only: bool = False, limit: int = 100) -> list[Notification]:
        query = sa.select(notifications).where(notifications.c.workspace_id == workspace_id)
        if user_id is not None:
            query = query.where(sa.or_(notifications.c.user_id.is_(None), notifications.c.user_id == user_id))
        if unread_only:
            query = query.where(notifications.c.read_at.is_(None))
        query = query.order_by(notifications.c.created_at.desc(), notifications.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [notification_from_row(r) for r in conn.execute(query)]

    def mark_notification_read(self, notification_id: str, at: datetime) -> None:
        at = to_utc(at)
        with self._write() as conn:
            if conn.execute(notifications.update().where(notifications.c.id == notification_id)
                            .values(read_at=at)).rowcount == 0:
                raise NotFoundError(f"No notification with id {notification_id}.")

    def save_batch(self, batch: Batch) -> Batch:
        with self._write() as conn:
            if not exists(conn, workspaces, batch.workspace_id):
                raise NotFoundError(f"No workspace with id {batch.workspace_id}.")
            batch = replace(batch, created_at=batch.created_at or self._clock())
            values = batch_values(batch)
            if conn.execute(batches.update().where(batches.c.id == batch.id).values(values)).rowcount == 0:
                conn.execute(batches.insert().values(values))
            return batch

    def get_batch(self, batch_id: str) -> Batch:
        with self._read() as conn:
            row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"No batch with id {batch_id}.")
        return batch_from_row(row)

    def list_batches(self, *, workspace_id: str) -> list[Batch]:
        query = (sa.select(batches).where(batches.c.workspace_id == workspace_id)
                 .order_by(batches.c.week_start.desc(), batches.c.id))
        with self._read() as conn:
            return [batch_from_row(r) for r in conn.execute(query)]

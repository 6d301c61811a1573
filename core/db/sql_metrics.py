"""`core.store.MetricStore` in SQL: metric snapshots over time, the published deliveries insights are pulled for, and
the pauses a platform's limit answer puts on the pulls (table metric_pauses)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Collection, Sequence

import sqlalchemy as sa

from core.db.rows import aware
from core.db.rows import (account_snapshot_from_row, account_snapshot_values, delivery_from_row,
                          metric_snapshot_from_row, metric_snapshot_values)
from core.db.schema import account_metric_snapshots, accounts, deliveries, metric_pauses, post_metric_snapshots, posts
from core.db.sql_base import SqlBase
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, Delivery
from core.domain.lifecycle import DeliveryState
from core.store.metrics import MetricPause, check_pause_scope
from core.store.records import AccountSnapshot, MetricSnapshot
from core.domain.timeutil import to_utc

_d = deliveries


class SqlMetricStore(SqlBase):
    """Metric snapshots on a SQLAlchemy engine."""

    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]:
        """Published deliveries with an external id, published at or after `since` (what insights are pulled for)."""
        query = (sa.select(_d).where(_d.c.state == DeliveryState.PUBLISHED.value, _d.c.external_id.is_not(None),
                                     _d.c.published_at >= to_utc(since, "since"))
                 .order_by(_d.c.account_id, _d.c.published_at).limit(limit))
        with self._read() as conn:
            return [delivery_from_row(r) for r in conn.execute(query)]

    def deliveries_due_for_metrics(self, now: datetime, *, young_for: timedelta, young_every: timedelta,
                                   old_every: timedelta, max_age: timedelta, limit: int = 2000,
                                   skip_accounts: Collection[str] = (), skip_platforms: Collection[str] = (),
                                   skip_deliveries: Collection[str] = ()) -> list[Delivery]:
        """What `core.store.MetricStore` says: decided from the history itself, each delivery's last snapshot read
        through ix_post_metric_snapshots_delivery_id_taken_at (one index probe per recent delivery)."""
        now = to_utc(now, "now")
        snaps = post_metric_snapshots
        # max(taken_at) of one delivery is one probe at the end of its index range (no is_demo test: demo history
        # comes only with demo posts, left out below, and a test would make SQLite read every snapshot's row).
        last = (sa.select(sa.func.max(snaps.c.taken_at)).where(snaps.c.delivery_id == _d.c.id).scalar_subquery())
        young = _d.c.published_at > now - young_for
        due = sa.or_(last.is_(None), sa.and_(young, last <= now - young_every),
                     sa.and_(sa.not_(young), last <= now - old_every))
        query = (sa.select(_d).join(posts, posts.c.id == _d.c.post_id)
                 .where(_d.c.state == DeliveryState.PUBLISHED.value, _d.c.external_id.is_not(None),
                        _d.c.published_at >= now - max_age, posts.c.is_demo == sa.false(), due,
                        *([_d.c.account_id.not_in(list(skip_accounts))] if skip_accounts else []),
                        *([_d.c.platform.not_in(list(skip_platforms))] if skip_platforms else []),
                        *([_d.c.id.not_in(list(skip_deliveries))] if skip_deliveries else []))
                 .order_by(sa.case((last.is_(None), 0), else_=1), last, _d.c.published_at, _d.c.id)
                 .limit(limit))
        with self._read() as conn:
            return [delivery_from_row(r) for r in conn.execute(query)]

    def accounts_due_for_followers(self, now: datetime, *, every: timedelta, limit: int = 2000) -> list[str]:
        now = to_utc(now, "now")
        snaps = account_metric_snapshots
        last = (sa.select(sa.func.max(snaps.c.taken_at))
                .where(snaps.c.account_id == accounts.c.id, snaps.c.is_demo == sa.false())
                .scalar_subquery())
        query = (sa.select(accounts.c.id)
                 .where(accounts.c.status.in_([s.value for s in PUBLISHABLE_ACCOUNT_STATUSES]),
                        sa.or_(last.is_(None), last <= now - every))
                 .order_by(sa.case((last.is_(None), 0), else_=1), last, accounts.c.id).limit(limit))
        with self._read() as conn:
            return [r.id for r in conn.execute(query)]

    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None:
        with self._write() as conn:
            if snapshots:
                conn.execute(post_metric_snapshots.insert(), [metric_snapshot_values(s) for s in snapshots])
            if account_snapshots:
                conn.execute(account_metric_snapshots.insert(), [account_snapshot_values(s) for s in account_snapshots])

    def list_metric_snapshots(self, *, delivery_id: str | None = None, workspace_id: str | None = None,
                              limit: int = 1000) -> list[MetricSnapshot]:
        query = sa.select(post_metric_snapshots).order_by(post_metric_snapshots.c.taken_at.desc(),
                                                          post_metric_snapshots.c.seq.desc())
        if delivery_id is not None:
            query = query.where(post_metric_snapshots.c.delivery_id == delivery_id)
        if workspace_id is not None:
            query = query.where(post_metric_snapshots.c.workspace_id == workspace_id)
        with self._read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [metric_snapshot_from_row(r) for r in rows]

    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]:
        query = (sa.select(account_metric_snapshots).where(account_metric_snapshots.c.account_id == account_id)
                 .order_by(account_metric_snapshots.c.taken_at.desc(), account_metric_snapshots.c.seq.desc())
                 .limit(limit))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [account_snapshot_from_row(r) for r in rows]

    # ------------------------------------------------------------ pauses
    def pause_metrics(self, scope: str, until: datetime, reason: str, *, now: datetime | None = None) -> MetricPause:
        scope, until = check_pause_scope(scope), to_utc(until, "until")
        now = to_utc(now, "now") if now is not None else self._clock()
        values = {"until": until, "reason": str(reason), "set_at": now}
        for attempt in range(2):
            try:
                with self._write() as conn:
                    conn.execute(metric_pauses.delete().where(metric_pauses.c.until <= now,
                                                              metric_pauses.c.scope != scope))
                    row = conn.execute(sa.select(metric_pauses).where(metric_pauses.c.scope == scope)).first()
                    if row is None:
                        conn.execute(metric_pauses.insert().values(scope=scope, **values))
                    elif aware(row.until) < until:
                        conn.execute(metric_pauses.update().where(metric_pauses.c.scope == scope).values(values))
                    else:
                        return _pause(row)
                    return MetricPause(scope=scope, **values)
            except sa.exc.IntegrityError:      # another runner paused the same scope between our read and insert
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def metric_pauses(self, now: datetime, *, scopes: Collection[str] | None = None) -> list[MetricPause]:
        query = (sa.select(metric_pauses).where(metric_pauses.c.until > to_utc(now, "now"))
                 .order_by(metric_pauses.c.scope))
        if scopes is not None:
            if not scopes:
                return []
            query = query.where(metric_pauses.c.scope.in_(list(scopes)))
        with self._read() as conn:
            return [_pause(r) for r in conn.execute(query)]

    def lift_metric_pause(self, scope: str) -> bool:
        with self._write() as conn:
            return conn.execute(metric_pauses.delete().where(metric_pauses.c.scope == scope)).rowcount > 0

    def drop_expired_metric_pauses(self, now: datetime) -> int:
        with self._write() as conn:
            return conn.execute(metric_pauses.delete().where(metric_pauses.c.until <= to_utc(now, "now"))).rowcount


def _pause(row) -> MetricPause:
    return MetricPause(scope=row.scope, until=aware(row.until), reason=row.reason, set_at=aware(row.set_at))

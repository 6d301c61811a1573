"""`core.store.PostDeliveryStore` in SQL: posts, their target accounts and their deliveries.

- ``posts.status`` is the derived PostStatus, rewritten in the same transaction as every change to
  the post or one of its deliveries.
- Lists load a page of posts, then all their targets in one query: no N+1.
- Every writer locks the post row before its deliveries (PostgreSQL), so two writers never deadlock.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.rows import account_from_row, delivery_from_row, delivery_values, post_from_row, post_values
from core.db.schema import accounts, deliveries, post_accounts, posts, waiting_states, workspaces
from core.db.sql_base import SqlBase, existing_ids, exists
from core.domain import Account, ActivityEvent, Delivery, Post, post_status
from core.domain.errors import ConflictError, DuplicateError, NotFoundError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus, derive_post_status
from core.rules.timing import ScheduledItem
from core.domain.timeutil import to_utc

# The deliveries table under a name that the `deliveries=` parameters of the store methods do not shadow.
_deliveries_t = deliveries
_INACTIVE_DELIVERY = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value)
_INACTIVE_POST = (PostState.CANCELLED.value, PostState.REJECTED.value)


def _waiting_states():
    return waiting_states(_deliveries_t.c.state)


class SqlPostDeliveryStore(SqlBase):
    """Posts and deliveries on a SQLAlchemy engine (targets are the accounts of `SqlAccountStore`'s table)."""

    def _targets(self, conn: Connection, post_ids: Sequence[str]) -> dict[str, list[Account]]:
        """Every target account of `post_ids`, in target order, in one query."""
        out: dict[str, list[Account]] = {pid: [] for pid in post_ids}
        if not post_ids:
            return out
        query = (sa.select(post_accounts.c.post_id, accounts)
                 .join(accounts, accounts.c.id == post_accounts.c.account_id)
                 .where(post_accounts.c.post_id.in_(list(post_ids)))
                 .order_by(post_accounts.c.post_id, post_accounts.c.position))
        loaded: dict[str, Account] = {}
        for row in conn.execute(query):
            account = loaded.get(row.id)
            if account is None:
                account = loaded[row.id] = account_from_row(row, self._cipher)
            out[row.post_id].append(account)
        return out

    def _check_post(self, conn: Connection, post: Post, new_deliveries: Sequence[Delivery]) -> tuple[Account, ...]:
        """The same checks as the memory store; returns the stored target accounts, in order."""
        if not post.id:
            raise ValueError("A post needs an id before it is stored.")
        ids = [a.id for a in post.accounts]
        stored: dict[str, Account] = {}
        if ids:
            stored = {r.id: account_from_row(r, self._cipher) for r in conn.execute(sa.select(accounts).where(accounts.c.id.in_(ids)))}
        for acc in post.accounts:
            if acc.id not in stored:
                raise NotFoundError(f"Account {acc.label} is not connected in this store; save it first.")
        if post.workspace_id is not None and not exists(conn, workspaces, post.workspace_id):
            raise NotFoundError(f"No workspace with id {post.workspace_id}.")
        for d in new_deliveries:
            if d.post_id != post.id:
                raise ValueError(f"Delivery {d.id} belongs to post {d.post_id}, not {post.id}.")
        missing = {d.account_id for d in new_deliveries} - set(stored)
        if missing:
            found = set(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(missing))).scalars())
            for d in new_deliveries:
                if d.account_id not in found and d.account_id in missing:
                    raise NotFoundError(f"Delivery {d.id} goes to account {d.account_id}, which is not connected in "
                                        "this store; save the account first.")
        return tuple(stored[i] for i in ids)

    def add_post(self, post: Post, deliveries: Sequence[Delivery] = (), *,
                 events: Sequence[ActivityEvent] = ()) -> Post:
        duplicate = DuplicateError(f"A post with id {post.id} already exists.")
        with self._insert_race(duplicate, posts, post.id), self._write() as conn:
            if exists(conn, posts, post.id):
                raise duplicate
            targets = self._check_post(conn, post, deliveries)
            taken = existing_ids(conn, _deliveries_t, [d.id for d in deliveries])
            if taken:
                raise DuplicateError(f"A delivery with id {sorted(taken)[0]} already exists.")
            now = self._clock()
            post = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
            stored = _dedupe([replace(d, version=1, updated_at=now) for d in deliveries])
            conn.execute(posts.insert().values(post_values(post, post_status(post, stored))))
            self._write_targets(conn, post)
            if stored:
                conn.execute(_deliveries_t.insert(), [delivery_values(d, position=i) for i, d in enumerate(stored)])
            self._insert_events(conn, events)
            return replace(post, account=None, accounts=targets)

    def update_post(self, post: Post, *, expected_version: int, deliveries: Sequence[Delivery] = (),
                    events: Sequence[ActivityEvent] = ()) -> Post:
        with self._write() as conn:
            # Lock the post row first (PostgreSQL); every writer takes post before deliveries.
            current = conn.execute(sa.select(posts.c.version).where(posts.c.id == post.id).with_for_update()).first()
            if current is None:
                raise NotFoundError(f"No post with id {post.id}.")
            if current.version != expected_version:
                raise ConflictError(f"Post {post.id} was changed by someone else; reload it and try again.")
            targets = self._check_post(conn, post, deliveries)
            changed = _dedupe(list(deliveries))
            old = {}
            if changed:
                old = {r.id: r for r in conn.execute(
                    sa.select(_deliveries_t.c.id, _deliveries_t.c.version, _deliveries_t.c.post_id)
                    .where(_deliveries_t.c.id.in_([d.id for d in changed])).with_for_update())}
            for d in changed:
                if d.id in old and old[d.id].post_id != post.id:
                    raise DuplicateError(f"Delivery {d.id} already belongs to post {old[d.id].post_id}; "
                                         "a delivery never moves to another post.")
                if d.id in old and old[d.id].version != d.version:
                    raise ConflictError(f"Delivery {d.id} was changed by someone else; reload it and try again.")
            now = self._clock()
            post = replace(post, updated_at=now, version=current.version + 1)
            position = conn.execute(sa.select(sa.func.max(_deliveries_t.c.position))
                                    .where(_deliveries_t.c.post_id == post.id)).scalar()
            position = -1 if position is None else position
            for d in changed:
                d = replace(d, version=d.version + 1, updated_at=now)
                if d.id in old:
                    conn.execute(_deliveries_t.update().where(_deliveries_t.c.id == d.id)
                                 .values(delivery_values(d)))
                else:
                    position += 1
                    conn.execute(_deliveries_t.insert().values(delivery_values(d, position=position)))
            states = conn.execute(sa.select(_deliveries_t.c.state).where(_deliveries_t.c.post_id == post.id)).scalars()
            status = derive_post_status(post.state, [DeliveryState(s) for s in states])
            values = post_values(post, status)
            del values["id"]
            conn.execute(posts.update().where(posts.c.id == post.id).values(values))
            conn.execute(post_accounts.delete().where(post_accounts.c.post_id == post.id))
            self._write_targets(conn, post)
            self._insert_events(conn, events)
            return replace(post, account=None, accounts=targets)

    def _write_targets(self, conn: Connection, post: Post) -> None:
        if post.accounts:
            conn.execute(post_accounts.insert(), [{"post_id": post.id, "account_id": a.id, "position": i}
                                                  for i, a in enumerate(post.accounts)])

    def get_post(self, post_id: str) -> Post:
        with self._read() as conn:
            row = conn.execute(sa.select(posts).where(posts.c.id == post_id)).first()
            if row is None:
                raise NotFoundError(f"No post with id {post_id}.")
            return post_from_row(row, self._targets(conn, [post_id])[post_id])

    def get_post_status(self, post_id: str) -> PostStatus:
        with self._read() as conn:
            status = conn.execute(sa.select(posts.c.status).where(posts.c.id == post_id)).scalar()
        if status is None:
            raise NotFoundError(f"No post with id {post_id}.")
        return PostStatus(status)

    def list_posts(self, *, workspace_id: str | None = None, statuses: Iterable[PostStatus] | None = None,
                   start: datetime | None = None, end: datetime | None = None, account_id: str | None = None,
                   batch_id: str | None = None, limit: int = 500, offset: int = 0,
                   newest_first: bool = False) -> list[Post]:
        query = sa.select(posts)
        if workspace_id is not None:
            query = query.where(posts.c.workspace_id == workspace_id)
        if statuses is not None:
            query = query.where(posts.c.status.in_(sorted({PostStatus(s).value for s in statuses})))
        if start is not None:
            query = query.where(posts.c.due_at >= to_utc(start, "start"))
        if end is not None:
            query = query.where(posts.c.due_at < to_utc(end, "end"))
        if account_id is not None:
            query = query.where(sa.exists().where(post_accounts.c.post_id == posts.c.id,
                                                  post_accounts.c.account_id == account_id))
        if batch_id is not None:
            query = query.where(posts.c.batch_id == batch_id)
        order = (posts.c.due_at.desc().nulls_last(), posts.c.id.desc()) if newest_first \
            else (posts.c.due_at.asc().nulls_last(), posts.c.id)
        query = query.order_by(*order).limit(limit).offset(offset)
        with self._read() as conn:
            rows = conn.execute(query).all()
            targets = self._targets(conn, [r.id for r in rows])
        return [post_from_row(r, targets[r.id]) for r in rows]

    def get_deliveries(self, post_id: str) -> list[Delivery]:
        with self._read() as conn:
            rows = conn.execute(sa.select(_deliveries_t).where(_deliveries_t.c.post_id == post_id)
                                .order_by(_deliveries_t.c.position, _deliveries_t.c.id))
            return [delivery_from_row(r) for r in rows]

    def deliveries_for(self, post_ids: Iterable[str]) -> dict[str, list[Delivery]]:
        """The deliveries of many posts in one query, by post id."""
        ids = list(dict.fromkeys(post_ids))
        found: dict[str, list[Delivery]] = {pid: [] for pid in ids}
        if not ids:
            return found
        with self._read() as conn:
            rows = conn.execute(sa.select(_deliveries_t).where(_deliveries_t.c.post_id.in_(ids))
                                .order_by(_deliveries_t.c.post_id, _deliveries_t.c.position, _deliveries_t.c.id))
            for row in rows:
                found[row.post_id].append(delivery_from_row(row))
        return found

    def get_delivery(self, delivery_id: str) -> Delivery:
        with self._read() as conn:
            row = conn.execute(sa.select(_deliveries_t).where(_deliveries_t.c.id == delivery_id)).first()
        if row is None:
            raise NotFoundError(f"No delivery with id {delivery_id}.")
        return delivery_from_row(row)

    def update_delivery(self, delivery: Delivery, *, expected_version: int,
                        events: Sequence[ActivityEvent] = ()) -> Delivery:
        with self._write() as conn:
            owner = conn.execute(sa.select(_deliveries_t.c.post_id).where(_deliveries_t.c.id == delivery.id)).scalar()
            if owner is None:
                raise NotFoundError(f"No delivery with id {delivery.id}.")
            if owner != delivery.post_id:
                raise ValueError(f"Delivery {delivery.id} belongs to post {owner}, not {delivery.post_id}; "
                                 "a delivery never moves to another post.")
            # Post row first, then the delivery: the same lock order as update_post.
            conn.execute(sa.select(posts.c.id).where(posts.c.id == owner).with_for_update())
            version = conn.execute(sa.select(_deliveries_t.c.version).where(_deliveries_t.c.id == delivery.id)
                                   .with_for_update()).scalar()
            if version is None:
                raise NotFoundError(f"No delivery with id {delivery.id}.")
            if version != expected_version:
                raise ConflictError(f"Delivery {delivery.id} was changed by someone else; reload it and try again.")
            delivery = replace(delivery, version=version + 1, updated_at=self._clock())
            conn.execute(_deliveries_t.update().where(_deliveries_t.c.id == delivery.id)
                         .values(delivery_values(delivery)))
            _refresh_status(conn, owner)
            self._insert_events(conn, events)
            return delivery

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        now = to_utc(now, "now")
        query = (sa.select(_deliveries_t)
                 .join(posts, posts.c.id == _deliveries_t.c.post_id)
                 .where(_waiting_states(), _deliveries_t.c.next_attempt_at <= now,
                        posts.c.state == PostState.APPROVED.value)
                 .order_by(_deliveries_t.c.next_attempt_at, _deliveries_t.c.id)
                 .limit(limit))
        with self._read() as conn:
            return [delivery_from_row(r) for r in conn.execute(query)]

    def account_schedule(self, account_id: str, start: datetime, end: datetime, *,
                         exclude_post_id: str | None = None) -> list[ScheduledItem]:
        start, end = to_utc(start, "start"), to_utc(end, "end")
        when = sa.func.coalesce(_deliveries_t.c.published_at, _deliveries_t.c.due_at)
        query = (sa.select(_deliveries_t.c.published_at, _deliveries_t.c.due_at, posts.c.id, posts.c.caption)
                 .join(posts, posts.c.id == _deliveries_t.c.post_id)
                 .where(_deliveries_t.c.account_id == account_id,
                        _deliveries_t.c.state.not_in(_INACTIVE_DELIVERY),
                        posts.c.state.not_in(_INACTIVE_POST),
                        # Published deliveries count at their real time; the due_at bounds keep the
                        # index (account_id, due_at) useful for the common case.
                        sa.or_(sa.and_(_deliveries_t.c.published_at.is_(None),
                                       _deliveries_t.c.due_at >= start, _deliveries_t.c.due_at < end),
                               sa.and_(_deliveries_t.c.published_at.is_not(None),
                                       _deliveries_t.c.published_at >= start, _deliveries_t.c.published_at < end)))
                 .order_by(when, posts.c.id))
        if exclude_post_id is not None:
            query = query.where(_deliveries_t.c.post_id != exclude_post_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        items = [ScheduledItem(account_id=account_id, at=r.published_at or r.due_at, caption=r.caption, post_id=r.id)
                 for r in rows]
        return sorted(items, key=lambda i: i.at)


def _dedupe(items: list[Delivery]) -> list[Delivery]:
    """The last version of each delivery id, at the position of its first appearance (as the memory store)."""
    by_id: dict[str, Delivery] = {}
    for d in items:
        by_id[d.id] = d
    return list(by_id.values())


def _refresh_status(conn: Connection, post_id: str) -> None:
    state = conn.execute(sa.select(posts.c.state).where(posts.c.id == post_id)).scalar()
    if state is None:
        return
    states = conn.execute(sa.select(_deliveries_t.c.state).where(_deliveries_t.c.post_id == post_id)).scalars()
    status = derive_post_status(PostState(state), [DeliveryState(s) for s in states])
    conn.execute(posts.update().where(posts.c.id == post_id).values(status=status.value))

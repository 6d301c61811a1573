"""`core.store.demo.DemoStore` in SQL: the sandbox's demo history written in one transaction, asked about, and
removed exactly (rows marked ``is_demo``, migration 0007, and the activity events about those posts)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.rows import (account_snapshot_values, delivery_values, event_values, metric_snapshot_values,
                          post_values)
from core.db.schema import (account_metric_snapshots, accounts, activity_events, deliveries, post_accounts,
                            post_metric_snapshots, posts, workspaces)
from core.db.sql_base import SqlBase, existing_ids
from core.domain import ActivityEvent, Delivery, Post, post_status
from core.domain.errors import DuplicateError, NotFoundError
from core.domain.timeutil import from_db
from core.store.demo import DEMO_REMOVED, DemoRemoval, check_demo_history
from core.store.records import AccountSnapshot, MetricSnapshot

# The posts table under a name that add_demo_history's `posts=` parameter does not shadow.
_posts = posts
_CHUNK = 500       # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


def _has_demo(conn: Connection, workspace_id: str) -> bool:
    # Demo history always holds the accounts' daily follower counts (check_demo_history), and those are few per
    # workspace and indexed by it: asked on every visit to Analytics, this reads neither the posts nor the
    # (possibly millions of) post snapshots. The demo's are the oldest, so they come first in the index.
    t = account_metric_snapshots
    query = (sa.select(sa.literal(1)).select_from(t).where(t.c.workspace_id == workspace_id, t.c.is_demo.is_(sa.true()))
             .order_by(t.c.workspace_id, t.c.taken_at).limit(1))
    return conn.execute(query).first() is not None


class SqlDemoStore(SqlBase):
    """The demo history of a workspace on a SQLAlchemy engine."""

    def has_demo_data(self, workspace_id: str) -> bool:
        with self._read() as conn:
            return _has_demo(conn, workspace_id)

    def demo_removed_at(self, workspace_id: str) -> datetime | None:
        query = (sa.select(sa.func.max(activity_events.c.at))
                 # By subject (the workspace itself): the (subject_id, at) index holds only the few events about the
                 # workspace, where its (workspace_id, at) one would walk all of the workspace's history.
                 .where(activity_events.c.subject_id == workspace_id, activity_events.c.action == DEMO_REMOVED))
        with self._read() as conn:
            at = conn.execute(query).scalar()
        return None if at is None else from_db(at)

    def add_demo_history(self, workspace_id: str, *, posts: Sequence[tuple[Post, Sequence[Delivery]]],
                         snapshots: Sequence[MetricSnapshot] = (), account_snapshots: Sequence[AccountSnapshot] = (),
                         events: Sequence[ActivityEvent] = ()) -> bool:
        check_demo_history(workspace_id, posts, snapshots, account_snapshots, events)
        items = posts
        with self._write() as conn:
            # The workspace row first (locked on PostgreSQL): two first visits at once write the demo once.
            if conn.execute(sa.select(workspaces.c.id).where(workspaces.c.id == workspace_id)
                            .with_for_update()).first() is None:
                raise NotFoundError(f"No workspace with id {workspace_id}.")
            if _has_demo(conn, workspace_id):
                return False
            self._check_new(conn, workspace_id, items)
            now = self._clock()
            post_rows, target_rows, delivery_rows = [], [], []
            for post, dels in items:
                post = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
                dels = [replace(d, version=1, updated_at=now) for d in dels]
                post_rows.append(post_values(post, post_status(post, dels)))
                target_rows += [{"post_id": post.id, "account_id": a.id, "position": i}
                                for i, a in enumerate(post.accounts)]
                delivery_rows += [delivery_values(d, position=i) for i, d in enumerate(dels)]
            for table, rows in ((_posts, post_rows), (post_accounts, target_rows), (deliveries, delivery_rows),
                                (activity_events, [event_values(e) for e in events]),
                                (post_metric_snapshots, [metric_snapshot_values(s) for s in snapshots]),
                                (account_metric_snapshots, [account_snapshot_values(s) for s in account_snapshots])):
                if rows:
                    conn.execute(table.insert(), rows)
            return True

    def _check_new(self, conn: Connection, workspace_id: str, items: Sequence[tuple[Post, Sequence[Delivery]]]) -> None:
        post_ids = [p.id for p, _ in items]
        delivery_ids = [d.id for _, dels in items for d in dels]
        for ids, table, what in ((post_ids, _posts, "post"), (delivery_ids, deliveries, "delivery")):
            for chunk in _chunks(ids):
                taken = existing_ids(conn, table, chunk)
                if taken:
                    raise DuplicateError(f"A {what} with id {sorted(taken)[0]} already exists.")
        wanted = {a.id for p, _ in items for a in p.accounts} | {d.account_id for _, dels in items for d in dels}
        found = set(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(sorted(wanted)),
                                                                accounts.c.workspace_id == workspace_id)).scalars())
        missing = sorted(wanted - found)
        if missing:
            raise NotFoundError(f"Account {missing[0]} is not connected in this workspace; save it first.")

    def remove_demo_data(self, workspace_id: str, *, demo_accounts: Sequence[str] = ()) -> DemoRemoval:
        with self._write() as conn:
            post_ids = list(conn.execute(sa.select(_posts.c.id).where(
                _posts.c.workspace_id == workspace_id, _posts.c.is_demo.is_(sa.true()))).scalars())
            delivery_ids: list[str] = []
            for chunk in _chunks(post_ids):
                delivery_ids += conn.execute(sa.select(deliveries.c.id).where(deliveries.c.post_id.in_(chunk))).scalars()
            removed_events = 0
            for chunk in _chunks(post_ids + delivery_ids):
                removed_events += conn.execute(activity_events.delete().where(
                    activity_events.c.workspace_id == workspace_id, activity_events.c.subject_id.in_(chunk))).rowcount
            removed_deliveries = 0
            for chunk in _chunks(post_ids):
                # Deliveries and targets go with their posts (ON DELETE CASCADE); deleted here too, so that the
                # count is exact and a database without foreign keys enforced loses no less.
                removed_deliveries += conn.execute(deliveries.delete().where(deliveries.c.post_id.in_(chunk))).rowcount
                conn.execute(post_accounts.delete().where(post_accounts.c.post_id.in_(chunk)))
                conn.execute(_posts.delete().where(_posts.c.id.in_(chunk), _posts.c.is_demo.is_(sa.true())))
            # Post snapshots by their deliveries (the (delivery_id, taken_at) index): a demo snapshot is always of a
            # demo delivery (check_demo_history), and the workspace may have millions of real ones to walk past.
            snapshots = 0
            t = post_metric_snapshots
            for chunk in _chunks(delivery_ids):
                snapshots += conn.execute(t.delete().where(t.c.delivery_id.in_(chunk), t.c.is_demo.is_(sa.true()),
                                                           t.c.workspace_id == workspace_id)).rowcount
            t = account_metric_snapshots
            followers = conn.execute(t.delete().where(t.c.workspace_id == workspace_id,
                                                      t.c.is_demo.is_(sa.true()))).rowcount
            # The demo's own accounts that no post uses now: their follower counts (the runner's real pulls too)
            # go with the demo, as the account is disconnected with it.
            for chunk in _chunks(sorted(set(demo_accounts))):
                mine = sa.select(accounts.c.id).where(accounts.c.id.in_(chunk), accounts.c.workspace_id == workspace_id)
                used = sa.union(sa.select(post_accounts.c.account_id).where(post_accounts.c.account_id.in_(chunk)),
                                sa.select(deliveries.c.account_id).where(deliveries.c.account_id.in_(chunk)))
                unused = sorted(set(conn.execute(mine).scalars()) - set(conn.execute(used).scalars()))
                if unused:
                    followers += conn.execute(t.delete().where(t.c.account_id.in_(unused))).rowcount
            return DemoRemoval(posts=len(post_ids), deliveries=removed_deliveries, snapshots=snapshots,
                               account_snapshots=followers, events=removed_events)


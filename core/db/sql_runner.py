"""The runner's side of the SQL store: claiming with leases, progress, outcomes, holds, heartbeats, insights.

Mixed into `core.db.sql_store.SqlPostStore`; the same contract as `core.store.RunnerMemory`
(tests/test_store_contract.py and tests/test_claiming.py run against both).

Claiming (see ../shared/DESIGN.md, "Claiming"):
- **SQLite**: one ``UPDATE deliveries ... WHERE id IN (<due, one per account>) RETURNING`` inside a
  ``BEGIN IMMEDIATE`` transaction: SQLite has one writer at a time, so what the subquery saw is what
  the update changes.
- **PostgreSQL**: each idle account's next due delivery (no earlier one waiting, so a backlog on one
  account never crowds out the others) is locked with ``FOR UPDATE OF deliveries, posts SKIP LOCKED``
  (another runner's rows, and posts being edited or finished, are skipped, not waited for), then their
  accounts with ``FOR NO KEY UPDATE SKIP LOCKED`` (two runners never claim for one account at once), then
  a fresh statement re-checks that none of those accounts has a delivery in flight, and one UPDATE ...
  RETURNING moves the chosen rows. ``claim_expired`` locks and skips the same way.
- Either way the partial unique index ``uq_deliveries_account_id_in_flight`` is the last word: one
  delivery in flight per account, whatever happens above.
- The post's derived status becomes ``publishing`` and a ``delivery.publishing`` event is written in
  the same transaction.

A runner writes to a delivery it claimed only while it still holds it (``claimed_by`` is its id and
the state is ``publishing``): after its lease expired and another runner took the delivery over, its
late writes are refused (``save_progress`` / ``finish_delivery`` return False / None) instead of
overwriting what the other runner decided. ``release_claims`` checks "never sent" under the lock of its
own write, so a worker's ``save_progress("sent")`` and a shutdown's release never both succeed.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.engine import is_postgres
from core.db.schema import (WAITING_STATES, account_holds, account_metric_snapshots, accounts, activity_events,
                            deliveries, post_metric_snapshots, posts, runner_heartbeats, waiting_states)
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, ActivityEvent, Delivery
from core.lifecycle import DeliveryState, PostState, PostStatus
from core.store import PACING_LOOKBACK, AccountSnapshot, Heartbeat, MetricSnapshot
from core.timeutil import to_utc

_d = deliveries
_PROGRESS_KEY = __import__("re").compile(r"[A-Za-z0-9_:.\-]{1,100}")
PUBLISHING = DeliveryState.PUBLISHING.value


class SqlRunnerQueries:
    """Runner methods of SqlPostStore (needs self._engine, self._write(), self._read(), self._clock)."""

    # ------------------------------------------------------------ claiming
    def _waiting_for_runner(self, now: datetime):
        """Waiting deliveries of approved posts whose account the runner may use now (joined posts, accounts)."""
        held = sa.select(sa.literal(1)).select_from(account_holds).where(
            account_holds.c.account_id == _d.c.account_id, account_holds.c.until > now)
        return sa.and_(waiting_states(_d.c.state), posts.c.state == PostState.APPROVED.value,
                       accounts.c.status.in_(sorted(s.value for s in PUBLISHABLE_ACCOUNT_STATUSES)), ~sa.exists(held))

    def _due_filter(self, now: datetime):
        return sa.and_(self._waiting_for_runner(now), _d.c.next_attempt_at <= now)

    def _in_flight_elsewhere(self):
        other = _d.alias("in_flight")
        return sa.exists(sa.select(sa.literal(1)).select_from(other).where(
            other.c.account_id == _d.c.account_id, other.c.state == PUBLISHING))

    def _next_in_line(self):
        """No earlier waiting delivery of an approved post for the same account: the row is the account's next."""
        earlier, earlier_post = _d.alias("earlier"), posts.alias("earlier_post")
        return ~sa.exists(sa.select(sa.literal(1)).select_from(
            earlier.join(earlier_post, earlier_post.c.id == earlier.c.post_id)).where(
            earlier.c.account_id == _d.c.account_id,
            waiting_states(earlier.c.state, "earlier_states"),
            earlier_post.c.state == PostState.APPROVED.value,
            sa.or_(earlier.c.next_attempt_at < _d.c.next_attempt_at,
                   sa.and_(earlier.c.next_attempt_at == _d.c.next_attempt_at, earlier.c.id < _d.c.id))))

    def claim_due(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                  room: Mapping[str, int] | None = None) -> list[Delivery]:
        """Claim up to `limit` due deliveries, at most one per account and none for an account already in flight;
        at most `room[platform]` of a platform named in `room` (what the runner can run of it right now)."""
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        joined = _d.join(posts, posts.c.id == _d.c.post_id).join(accounts, accounts.c.id == _d.c.account_id)
        room = {str(getattr(p, "value", p)): max(0, int(n)) for p, n in (room or {}).items()}
        due = self._due_filter(now)
        if full := sorted(p for p, n in room.items() if n == 0):
            due = sa.and_(due, _d.c.platform.not_in(full))
        room = {p: n for p, n in room.items() if 0 < n < limit}           # the ones that still limit a claim
        with self._write() as conn:
            if is_postgres(conn):
                # One row per account (its next in line), so LIMIT counts accounts, not one account's backlog;
                # SKIP LOCKED moves on to the next accounts when another runner holds the first ones.
                candidates = conn.execute(
                    sa.select(_d.c.id, _d.c.account_id, _d.c.platform).select_from(joined)
                    .where(due, ~self._in_flight_elsewhere(), self._next_in_line())
                    .order_by(_d.c.next_attempt_at, _d.c.id).limit(limit)
                    .with_for_update(of=[_d, posts], skip_locked=True)).all()
                first = _next_per_account(candidates, limit, room)
                if not first:
                    return []
                locked = set(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(list(first)))
                                          .with_for_update(skip_locked=True, key_share=True)).scalars())
                busy = set(conn.execute(sa.select(_d.c.account_id).where(
                    _d.c.account_id.in_(list(locked)), _d.c.state == PUBLISHING)).scalars()) if locked else set()
                ids = [first[a] for a in first if a in locked and a not in busy][:limit]
            else:
                # Look at the earliest due rows first (cheap with a big backlog); only when that window
                # holds too few claimable accounts, at every due row.
                window = max(limit * 20, 500)
                ids, saw_all = self._sqlite_candidates(conn, joined, due, limit, window, room)
                if len(ids) < limit and not saw_all:
                    ids, _ = self._sqlite_candidates(conn, joined, due, limit, None, room)
            if not ids:
                return []
            rows = conn.execute(
                _d.update().where(_d.c.id.in_(ids), _d.c.state.in_(list(WAITING_STATES)))
                .values(state=PUBLISHING, claimed_by=runner_id, lease_expires_at=lease_until,
                        attempts=_d.c.attempts + 1, marker=sa.func.coalesce(_d.c.marker, _d.c.id),
                        version=_d.c.version + 1, updated_at=self._clock())
                .returning(*_d.c)).all()
            claimed = [_row_delivery(r) for r in rows]
            self._after_claim(conn, claimed, runner_id, "delivery.publishing")
            claimed.sort(key=lambda d: (d.next_attempt_at or d.due_at, d.id))
            return claimed

    def _sqlite_candidates(self, conn: Connection, joined, due, limit: int, window: int | None,
                           room: Mapping[str, int]) -> tuple[list[str], bool]:
        """The first due delivery of each claimable account, earliest first, at most room[platform] of a platform
        (SQLite: under the write lock); and whether every due row was looked at (the window was not full).

        The due rows come in the index's order (no sort, stops at the window); picking each account's next
        in line and counting platforms is done here, on at most `window` rows: cheaper than window functions
        in SQL, and a window that held every due row needs no second, unbounded look.
        """
        query = (sa.select(_d.c.id, _d.c.account_id, _d.c.platform, _d.c.next_attempt_at).select_from(joined)
                 .where(due, ~self._in_flight_elsewhere())
                 .order_by(_d.c.next_attempt_at))
        if window is not None:
            query = query.limit(window)
        rows = sorted(conn.execute(query).all(), key=lambda r: (_aware(r.next_attempt_at), r.id))
        return list(_next_per_account(rows, limit, room).values()), window is None or len(rows) < window

    def _after_claim(self, conn: Connection, claimed: Sequence[Delivery], runner_id: str, action: str,
                     reason: str | None = None) -> None:
        if not claimed:
            return
        post_ids = sorted({d.post_id for d in claimed})
        conn.execute(posts.update().where(posts.c.id.in_(post_ids), posts.c.state == PostState.APPROVED.value)
                     .values(status=PostStatus.PUBLISHING.value))
        spaces = dict(conn.execute(sa.select(posts.c.id, posts.c.workspace_id).where(posts.c.id.in_(post_ids))).all())
        at = self._clock()
        conn.execute(activity_events.insert(), [
            _event_row(ActivityEvent(action=action, subject_type="delivery", subject_id=d.id, at=at,
                                     actor=f"runner:{runner_id}", workspace_id=spaces.get(d.post_id),
                                     to_state=PUBLISHING, reason=reason,
                                     details={"post_id": d.post_id, "attempt": d.attempts,
                                              "platform": d.platform.value}))
            for d in claimed])

    def next_due_at(self, now: datetime | None = None, *, skip_platforms: Iterable[str] = ()) -> datetime | None:
        """When the next delivery this runner could claim becomes due (the publish loop sleeps until then).

        Deliveries of accounts that are busy (one in flight), held, or waiting to be reconnected are
        skipped: they become claimable by a worker finishing (which wakes the loop) or a person acting,
        not by time, and counting them would keep the loop polling.
        """
        now = to_utc(now, "now") if now is not None else self._clock()
        joined = _d.join(posts, posts.c.id == _d.c.post_id).join(accounts, accounts.c.id == _d.c.account_id)
        query = (sa.select(_d.c.next_attempt_at).select_from(joined)
                 .where(self._waiting_for_runner(now), ~self._in_flight_elsewhere())
                 .order_by(_d.c.next_attempt_at).limit(1))
        if skip := sorted({str(getattr(p, "value", p)) for p in skip_platforms}):
            query = query.where(_d.c.platform.not_in(skip))        # the runner has no room for them now
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return _aware(value)

    def claim_expired(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                      exclude_ids: Iterable[str] = ()) -> list[Delivery]:
        """Take over deliveries whose runner's lease ran out (it died or hung): they must be reconciled.
        `exclude_ids`: the caller's own attempts still running (a late lease is renewed, never taken over)."""
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        exclude = sorted(set(exclude_ids))
        with self._write() as conn:
            query = (sa.select(_d.c.id).select_from(_d.join(posts, posts.c.id == _d.c.post_id))
                     .where(_d.c.state == PUBLISHING, _d.c.lease_expires_at < now,
                            *([_d.c.id.not_in(exclude)] if exclude else []))
                     .order_by(_d.c.lease_expires_at, _d.c.id).limit(limit))
            if is_postgres(conn):
                # The post too, skipped when locked: finish_delivery locks the post, then the delivery, so
                # waiting for the post here while holding its delivery would deadlock with a late finish.
                query = query.with_for_update(of=[_d, posts], skip_locked=True)
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            rows = conn.execute(
                _d.update().where(_d.c.id.in_(ids), _d.c.state == PUBLISHING, _d.c.lease_expires_at < now)
                # A takeover is an attempt too: a delivery whose attempts keep crashing their runner ends.
                .values(claimed_by=runner_id, lease_expires_at=lease_until, version=_d.c.version + 1,
                        attempts=_d.c.attempts + 1, updated_at=self._clock())
                .returning(*_d.c)).all()
            order = {delivery_id: i for i, delivery_id in enumerate(ids)}
            taken = sorted((_row_delivery(r) for r in rows), key=lambda d: order[d.id])   # oldest lease first
            self._after_claim(conn, taken, runner_id, "delivery.lease_expired",
                              reason="The runner publishing this stopped before it finished; checking with the "
                                     "platform before anything else.")
            return taken

    def renew_leases(self, runner_id: str, lease_until: datetime, ids: Iterable[str] | None = None) -> int:
        """Extend this runner's leases (all of them, or `ids`); returns how many it still holds."""
        query = _d.update().where(_d.c.claimed_by == runner_id, _d.c.state == PUBLISHING)
        if ids is not None:
            ids = list(ids)
            if not ids:
                return 0
            query = query.where(_d.c.id.in_(ids))
        with self._write() as conn:
            return conn.execute(query.values(lease_expires_at=to_utc(lease_until, "lease"))).rowcount

    def save_progress(self, delivery_id: str, runner_id: str, key: str, value: str) -> bool:
        """Record a step of an attempt; False when this runner no longer holds the delivery (stop work).

        One conditional UPDATE that merges the key into the JSON in the database (no read first).
        """
        if not _PROGRESS_KEY.fullmatch(key):
            raise ValueError(f"Progress keys are short names (letters, digits, _ : . -), not {key!r}.")
        with self._write() as conn:
            if is_postgres(conn):
                from sqlalchemy.dialects.postgresql import JSONB
                merged = sa.cast(sa.func.coalesce(sa.cast(_d.c.progress, JSONB), sa.cast("{}", JSONB))
                                 .op("||")(sa.func.jsonb_build_object(key, str(value))), sa.JSON)
            else:
                merged = sa.func.json_set(sa.func.coalesce(_d.c.progress, "{}"), f'$."{key}"', str(value))
            result = conn.execute(_d.update().where(_d.c.id == delivery_id, _d.c.claimed_by == runner_id,
                                                    _d.c.state == PUBLISHING)
                                  .values(progress=merged, version=_d.c.version + 1))
            return result.rowcount == 1

    def finish_delivery(self, delivery: Delivery, *, runner_id: str,
                        events: Sequence[ActivityEvent] = ()) -> Delivery | None:
        """Write the outcome of an attempt if this runner still holds the delivery; None when it does not."""
        return self._finish_held(delivery.id, delivery.post_id, runner_id, lambda _held: (delivery, events))

    def _finish_held(self, delivery_id: str, post_id: str, runner_id: str, outcome, *,
                     unless_sent: bool = False) -> Delivery | None:
        """One transaction: lock the post, then the delivery if `runner_id` holds it (and, with `unless_sent`,
        the platform was never called for it), and write ``outcome(held) -> (delivery, events)``."""
        from core.db.sql_store import _delivery_values, _refresh_status
        with self._write() as conn:
            conn.execute(sa.select(posts.c.id).where(posts.c.id == post_id).with_for_update())
            row = conn.execute(sa.select(_d).where(
                _d.c.id == delivery_id, _d.c.claimed_by == runner_id, _d.c.state == PUBLISHING)
                .with_for_update()).first()
            if row is None:
                return None
            held = _row_delivery(row)
            if unless_sent and held.progress.get("sent"):
                return None
            delivery, events = outcome(held)
            final = replace(delivery, version=row.version + 1, updated_at=self._clock(),
                            progress={**(row.progress or {}), **dict(delivery.progress or {})})
            values = _delivery_values(final)
            values.pop("position", None)
            conn.execute(_d.update().where(_d.c.id == delivery_id).values(values))
            _refresh_status(conn, post_id)
            if events:
                conn.execute(activity_events.insert(), [_event_row(e) for e in events])
            return final

    def release_claims(self, runner_id: str) -> int:
        """Give back what this runner claimed and never sent (shutdown): queued again, attempt returned."""
        def release(d: Delivery):
            return d.release(), [ActivityEvent(
                action="delivery.released", subject_type="delivery", subject_id=d.id, at=self._clock(),
                actor=f"runner:{runner_id}", from_state=PUBLISHING, to_state=DeliveryState.QUEUED.value,
                reason="The runner stopped before calling the platform.", details={"post_id": d.post_id})]

        released = 0
        with self._read() as conn:
            rows = conn.execute(sa.select(_d.c.id, _d.c.post_id).where(
                _d.c.claimed_by == runner_id, _d.c.state == PUBLISHING).order_by(_d.c.id)).all()
        for row in rows:
            # "Never sent" is decided under the lock of the write itself (a worker may be marking it sent).
            if self._finish_held(row.id, row.post_id, runner_id, release, unless_sent=True) is not None:
                released += 1
        return released

    # ------------------------------------------------------------ pacing
    def hold_account(self, account_id: str, until: datetime, reason: str) -> None:
        """Leave the account alone until `until` (a later hold wins; an earlier one does not shorten it)."""
        until = to_utc(until, "until")
        with self._write() as conn:
            current = conn.execute(sa.select(account_holds.c.until).where(
                account_holds.c.account_id == account_id)).scalar()
            values = {"until": until, "reason": reason, "set_at": self._clock()}
            if current is None:
                conn.execute(account_holds.insert().values(account_id=account_id, **values))
            elif _aware(current) < until:
                conn.execute(account_holds.update().where(account_holds.c.account_id == account_id).values(values))

    def account_holds(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        with self._read() as conn:
            rows = conn.execute(sa.select(account_holds).where(account_holds.c.until > to_utc(now, "now"))).all()
        return {r.account_id: (_aware(r.until), r.reason) for r in rows}

    def published_count(self, account_id: str, since: datetime) -> int:
        """Deliveries of the account published at or after `since` (and due at most _PACING_LOOKBACK before
        it), plus the one in flight however late it is (the publisher subtracts that one again)."""
        return self.published_counts(account_id, [since])[0]

    def published_counts(self, account_id: str, sinces: Sequence[datetime]) -> list[int]:
        """published_count for several starts, in one query over the account's recent rows."""
        sinces = [to_utc(s, "since") for s in sinces]
        if not sinces:
            return []
        published = _d.c.state == DeliveryState.PUBLISHED.value
        columns = [sa.func.coalesce(sa.func.sum(sa.case(
            (_d.c.state == PUBLISHING, 1),
            (sa.and_(published, _d.c.published_at >= since, _d.c.due_at >= since - _PACING_LOOKBACK), 1),
            else_=0)), 0) for since in sinces]
        query = sa.select(*columns).where(
            _d.c.account_id == account_id,
            sa.or_(_d.c.state == PUBLISHING, _d.c.due_at >= min(sinces) - _PACING_LOOKBACK))
        with self._read() as conn:
            row = conn.execute(query).one()
        return [int(v or 0) for v in row]

    # ------------------------------------------------------------ heartbeats
    def save_heartbeat(self, beat: Heartbeat) -> None:
        values = {"host": beat.host, "pid": beat.pid, "started_at": beat.started_at, "beat_at": beat.beat_at,
                  "info": dict(beat.info or {})}
        with self._write() as conn:
            # One statement: two runners under one name (the default is the host name) beating for the first
            # time at once must not collide on the primary key.
            if is_postgres(conn):
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            conn.execute(insert(runner_heartbeats).values(runner_id=beat.runner_id, **values)
                         .on_conflict_do_update(index_elements=[runner_heartbeats.c.runner_id], set_=values))

    def list_heartbeats(self) -> list[Heartbeat]:
        with self._read() as conn:
            rows = conn.execute(sa.select(runner_heartbeats).order_by(runner_heartbeats.c.beat_at.desc())).all()
        return [Heartbeat(runner_id=r.runner_id, host=r.host, pid=r.pid, started_at=_aware(r.started_at),
                          beat_at=_aware(r.beat_at), info=dict(r.info or {})) for r in rows]

    def delete_heartbeat(self, runner_id: str) -> None:
        with self._write() as conn:
            conn.execute(runner_heartbeats.delete().where(runner_heartbeats.c.runner_id == runner_id))

    # ------------------------------------------------------------ insights
    def published_deliveries(self, since: datetime, *, limit: int = 10000) -> list[Delivery]:
        """Published deliveries with an external id, published at or after `since` (what insights are pulled for)."""
        query = (sa.select(_d).where(_d.c.state == DeliveryState.PUBLISHED.value, _d.c.external_id.is_not(None),
                                     _d.c.published_at >= to_utc(since, "since"))
                 .order_by(_d.c.account_id, _d.c.published_at).limit(limit))
        with self._read() as conn:
            return [_row_delivery(r) for r in conn.execute(query)]

    def add_metric_snapshots(self, snapshots: Sequence[MetricSnapshot] = (),
                             account_snapshots: Sequence[AccountSnapshot] = ()) -> None:
        with self._write() as conn:
            if snapshots:
                conn.execute(post_metric_snapshots.insert(), [
                    {"delivery_id": s.delivery_id, "post_id": s.post_id, "account_id": s.account_id,
                     "workspace_id": s.workspace_id, "platform": str(s.platform), "external_id": s.external_id,
                     "taken_at": s.taken_at, "metrics": dict(s.metrics), "raw": dict(s.raw or {})} for s in snapshots])
            if account_snapshots:
                conn.execute(account_metric_snapshots.insert(), [
                    {"account_id": s.account_id, "workspace_id": s.workspace_id, "platform": str(s.platform),
                     "taken_at": s.taken_at, "followers": s.followers, "raw": dict(s.raw or {})}
                    for s in account_snapshots])

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
        return [MetricSnapshot(delivery_id=r.delivery_id, post_id=r.post_id, account_id=r.account_id,
                               workspace_id=r.workspace_id, platform=r.platform, external_id=r.external_id,
                               taken_at=_aware(r.taken_at), metrics=dict(r.metrics or {}), raw=dict(r.raw or {}))
                for r in rows]

    def list_account_snapshots(self, *, account_id: str, limit: int = 1000) -> list[AccountSnapshot]:
        query = (sa.select(account_metric_snapshots).where(account_metric_snapshots.c.account_id == account_id)
                 .order_by(account_metric_snapshots.c.taken_at.desc(), account_metric_snapshots.c.seq.desc())
                 .limit(limit))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [AccountSnapshot(account_id=r.account_id, workspace_id=r.workspace_id, platform=r.platform,
                                taken_at=_aware(r.taken_at), followers=r.followers, raw=dict(r.raw or {}))
                for r in rows]


# published_count looks at published deliveries due up to this long before `since` (a retry can publish late);
# one value for both stores.
_PACING_LOOKBACK = PACING_LOOKBACK


def _aware(value: Any) -> datetime | None:
    from core.timeutil import from_db
    return from_db(value) if value is not None else None


def _row_delivery(row) -> Delivery:
    from core.db.sql_store import _delivery
    return _delivery(row)


def _event_row(e: ActivityEvent) -> Mapping[str, Any]:
    from core.db.sql_store import _event_values
    return _event_values(e)


def _next_per_account(rows, limit: int, room: Mapping[str, int]) -> dict[str, str]:
    """account id -> delivery id: each account's first row (rows come earliest first), at most room[platform]
    of a platform and `limit` in all. An account's first row decides for it: a later one is never taken."""
    first: dict[str, str] = {}
    seen: set[str] = set()
    taken: dict[str, int] = {}
    for row in rows:
        if row.account_id in seen:
            continue
        seen.add(row.account_id)
        if taken.get(row.platform, 0) >= room.get(row.platform, limit):
            continue
        taken[row.platform] = taken.get(row.platform, 0) + 1
        first[row.account_id] = row.id
        if len(first) >= limit:
            break
    return first

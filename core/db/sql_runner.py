"""`core.store.ClaimStore` in SQL: claiming with leases, progress, outcomes, holds, pacing counts, heartbeats.

Part of `core.db.sql_store.SqlPostStore`; the same contract as `core.store.claims.ClaimMemory`
(tests/test_claiming.py runs against both).

Claiming (see ../shared/DESIGN.md, "Claiming"), at a cost that does not grow with the backlog:
- Both databases look at a **window**: the earliest few due rows (a small multiple of the limit) read in
  claim order, (next_attempt_at, id), from the due index alone, and pick each claimable account's first
  (post approved, account usable and not held, none of its deliveries in flight, its platform not full).
  Only when that window was full and held too few claimable accounts (the earliest due rows belong to busy
  or held accounts) do they look **per account** instead: each usable account's next in line, one probe
  of ix_deliveries_account_id_next_attempt_at_waiting each, whatever its backlog.
- **SQLite**: inside a ``BEGIN IMMEDIATE`` transaction (one writer at a time), the window's rows come
  with whether each is claimable, the choice is made in Python (an account's first claimable row in a
  prefix of the due order is its next in line), and one ``UPDATE deliveries ... WHERE id IN (...) AND
  state IN (waiting) RETURNING`` moves them.
- **PostgreSQL**: each idle account's next due delivery (no earlier one waiting, so a backlog on one
  account never crowds out the others) in the window is locked with ``FOR UPDATE OF deliveries, posts SKIP
  LOCKED`` (another runner's rows, and posts being edited or finished, are skipped, not waited for), then
  their accounts with ``FOR NO KEY UPDATE SKIP LOCKED`` (two runners never claim for one account at once),
  then a fresh statement re-checks that none of those accounts has a delivery in flight, and one UPDATE ...
  RETURNING moves the chosen rows. ``claim_expired`` locks and skips the same way.
- Either way the partial unique index ``uq_deliveries_account_id_in_flight`` is the last word: one
  delivery in flight per account, whatever happens above.
- The post's derived status becomes ``publishing`` and a ``delivery.publishing`` event is written in
  the same transaction.
- The hot statements are built once (``_stmt``) and run with parameters; "in flight" is written as the
  literal ``state = 'publishing'`` so SQLite can use the partial indexes that say exactly that.

A runner writes to a delivery it claimed only while it still holds it (``claimed_by`` is its id and
the state is ``publishing``): after its lease expired and another runner took the delivery over, its
late writes are refused (``save_progress`` / ``finish_delivery`` return False / None) instead of
overwriting what the other runner decided. ``release_claims`` checks "never sent" under the lock of its
own write, so a worker's ``save_progress("sent")`` and a shutdown's release never both succeed.
"""
from __future__ import annotations

import weakref
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.engine import is_postgres, json_dumps
from core.db.rows import aware as _aware
from core.db.rows import delivery_from_row as _row_delivery
from core.db.rows import delivery_values as _delivery_values
from core.db.rows import event_values as _event_row
from core.db.schema import (UtcDateTime, account_holds, accounts, activity_events, deliveries, posts,
                            runner_heartbeats, waiting_states)
from core.db.sql_base import SqlBase
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, ActivityEvent, Delivery
from core.domain.lifecycle import DeliveryState, PostState, PostStatus, derive_post_status, may_be_live
from core.store.claims import PACING_LOOKBACK
from core.store.records import Heartbeat
from core.domain.timeutil import to_utc

_d = deliveries
_PROGRESS_KEY = __import__("re").compile(r"[A-Za-z0-9_:.\-]{1,100}")
PUBLISHING = DeliveryState.PUBLISHING.value


def _in_flight(column):
    """`column = 'publishing'` with the value written into the SQL: SQLite uses a partial index (one delivery in
    flight per account, leases in flight) only when the query says its WHERE literally, never for a parameter."""
    return column == sa.literal_column(f"'{PUBLISHING}'")


class SqlRunnerQueries(SqlBase):
    """`ClaimStore` on a SQLAlchemy engine (the runner's part of SqlPostStore)."""

    # ------------------------------------------------------------ claiming
    def claim_due(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                  room: Mapping[str, int] | None = None) -> list[Delivery]:
        """Claim up to `limit` due deliveries, at most one per account and none for an account already in flight;
        at most `room[platform]` of a platform named in `room` (what the runner can run of it right now).

        What it costs does not grow with the backlog: it reads the earliest `_window(limit)` due rows from
        the due index (in claim order, stopping there) and picks each claimable account's first; only when
        that window was full and held too few claimable accounts (the earliest due rows belong to busy or
        held accounts) does it look per account instead (each account's next in line: one index probe per
        account, whatever the backlog).
        """
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        room = {str(getattr(p, "value", p)): max(0, int(n)) for p, n in (room or {}).items()}
        params = {"now": now, "full": sorted(p for p, n in room.items() if n == 0), "window": _window(limit),
                  "limit": limit}
        room = {p: n for p, n in room.items() if 0 < n < limit}           # the ones that still limit a claim
        with self._write() as conn:
            heads = self._heads(conn, params, room)
            if is_postgres(conn):
                first = self._lock_postgres(conn, heads, params, room)
            else:
                first = _next_per_account(heads, limit, room)
            if not first:
                return []
            rows = conn.execute(_stmt("claim_update_checked" if is_postgres(conn) else "claim_update"), {
                "ids": [delivery_id for delivery_id, _ in first.values()], "runner_id": runner_id,
                "lease": lease_until, "at": self._clock()}).all()
            claimed = [_row_delivery(r) for r in rows]
            spaces = {d.post_id: workspace for d, (_, workspace) in
                      ((d, first[d.account_id]) for d in claimed if d.account_id in first)}
            self._after_claim(conn, claimed, runner_id, "delivery.publishing", spaces=spaces)
            claimed.sort(key=lambda d: (d.next_attempt_at or d.due_at, d.id))
            return claimed

    def _heads(self, conn: Connection, params: Mapping[str, Any], room: Mapping[str, int]) -> list:
        """The first due delivery of each claimable account (post approved, account usable, not held, not busy,
        platform not full), earliest first: rows of (id, account_id, platform, workspace_id).

        The window is a prefix of the due index in claim order, so an account's first claimable row in it is
        its next in line (an earlier waiting row of it would be in the window too). Each row comes with whether
        it is claimable (a flag, not a filter: a full window is told apart from a short backlog without a second
        look, and PostgreSQL plans the checks as sub-plans, not as a join order search over eight tables).
        Only a full window with too few claimable accounts for `limit` asks each account instead.
        """
        rows = conn.execute(_stmt("window"), params).all()
        seen: set[str] = set()
        heads = []
        for row in rows:
            if row.ok and row.account_id not in seen:
                seen.add(row.account_id)
                heads.append(row)
        if len(rows) >= params["window"] and len(_next_per_account(heads, params["limit"], room)) < params["limit"]:
            heads = conn.execute(_stmt("heads"), params).all()
        return heads

    def _lock_postgres(self, conn: Connection, heads: Sequence, params: Mapping[str, Any],
                       room: Mapping[str, int]) -> dict[str, tuple[str, str | None]]:
        """PostgreSQL, where other runners claim at the same time: lock the heads with ``FOR UPDATE OF
        deliveries, posts SKIP LOCKED``, earliest first up to the limit (another runner's rows, and posts being
        edited or finished, are skipped, not waited for, so a second runner moves on past the first one's
        choice; a head another runner took meanwhile is no longer waiting and is left out); then their accounts
        with ``FOR NO KEY UPDATE SKIP LOCKED`` (two runners never claim for one account at once); the UPDATE
        that follows, a fresh statement, re-checks that none of those accounts has a delivery in flight."""
        if not heads:
            return {}
        limit = params["limit"] if not room else len(heads)        # with platform caps, look at every head
        # A few times the limit: enough to move past another runner's choice, few enough to look up one by one.
        ids = [h.id for h in heads][:max(limit, 4 * params["limit"])]
        rows = conn.execute(_stmt("lock_heads"), {"ids": ids, "order": ids, "limit": limit}).all()
        first = _next_per_account(rows, params["limit"], room)
        if not first:
            return {}
        locked = set(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(list(first)))
                                  .with_for_update(skip_locked=True, key_share=True)).scalars())
        return {a: first[a] for a in first if a in locked}

    def _after_claim(self, conn: Connection, claimed: Sequence[Delivery], runner_id: str, action: str,
                     reason: str | None = None, *, spaces: Mapping[str, str | None] | None = None) -> None:
        """The claimed posts' status becomes ``publishing`` (where it is not already) and one event per delivery.
        `spaces`: post id -> workspace id, when the caller read them already."""
        if not claimed:
            return
        post_ids = sorted({d.post_id for d in claimed})
        conn.execute(_stmt("posts_publishing"), {"ids": post_ids})
        if spaces is None or any(p not in spaces for p in post_ids):
            spaces = dict(conn.execute(sa.select(posts.c.id, posts.c.workspace_id)
                                       .where(posts.c.id.in_(post_ids))).all())
        at = self._clock()
        conn.execute(_stmt("insert_events"), [
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

        Like a claim, it reads a bounded window of the earliest waiting rows, and only when that window was
        full of skipped rows asks each account for its next in line.
        """
        now = to_utc(now, "now") if now is not None else self._clock()
        skip = sorted({str(getattr(p, "value", p)) for p in skip_platforms})   # the runner has no room for them now
        params = {"now": now, "full": skip, "window": _window(0)}
        with self._read() as conn:
            if is_postgres(conn):
                # Each row with a claimable flag (PostgreSQL plans the checks as sub-plans, not a join search).
                rows = conn.execute(_stmt("next_window_flagged"), params).all()
                value = next((r.next_attempt_at for r in rows if r.ok), None)
                full = len(rows) >= params["window"]
            else:
                value = conn.execute(_stmt("next_window"), params).scalar()
                full = value is None and conn.execute(_stmt("waiting_window_size"), params).scalar() >= params["window"]
            if value is None and full:
                value = conn.execute(_stmt("next_heads"), params).scalar()
        return _aware(value)

    def claim_expired(self, now: datetime, *, runner_id: str, lease_until: datetime, limit: int = 50,
                      exclude_ids: Iterable[str] = ()) -> list[Delivery]:
        """Take over deliveries whose runner's lease ran out (it died or hung): they must be reconciled.
        `exclude_ids`: the caller's own attempts still running (a late lease is renewed, never taken over)."""
        now, lease_until = to_utc(now, "now"), to_utc(lease_until, "lease")
        exclude = sorted(set(exclude_ids))
        with self._write() as conn:
            query = (sa.select(_d.c.id).select_from(_d.join(posts, posts.c.id == _d.c.post_id))
                     .where(_in_flight(_d.c.state), _d.c.lease_expires_at < now,
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
                _d.update().where(_d.c.id.in_(ids), _in_flight(_d.c.state), _d.c.lease_expires_at < now)
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
        query = _d.update().where(_d.c.claimed_by == runner_id, _in_flight(_d.c.state))
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
        params = {"p_value": str(value), "p_id": delivery_id, "p_runner": runner_id}
        if is_postgres(self._engine):
            # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
            with self._engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return conn.execute(_stmt("save_progress_postgresql"), {**params, "p_key": key}).rowcount == 1
        with self._write() as conn:
            return _execute(conn, "save_progress_sqlite", {**params, "p_key": f'$."{key}"'}).rowcount == 1

    def finish_delivery(self, delivery: Delivery, *, runner_id: str,
                        events: Sequence[ActivityEvent] = ()) -> Delivery | None:
        """Write the outcome of an attempt if this runner still holds the delivery; None when it does not.

        One fenced UPDATE ... RETURNING (the outcome, progress merged into what the database has, version + 1;
        returning too the post's state and status and the other deliveries' states) instead of reading first;
        then the post's derived status, rewritten only when it changes, and the events. On PostgreSQL the post
        row is locked first, as every writer does.
        """
        values = _delivery_values(delivery)
        for column in ("id", "version", "progress", "position"):
            values.pop(column, None)
        values = {f"p_{k}": v for k, v in values.items()}
        patch = dict(delivery.progress or {})
        params = {**values, "p_updated_at": self._clock(), "p_id": delivery.id, "p_runner": runner_id,
                  "p_patch": json_dumps(patch)}
        # Built before the write lock is taken.
        event_rows = [{f"e_{k}": v for k, v in _event_row(e).items()} for e in events]
        params["p_post"] = delivery.post_id
        with self._write() as conn:
            dialect = conn.dialect.name
            row = _first(conn, f"finish_{dialect}_{'patch' if patch else 'keep'}", params)
            if row is None:
                return None
            final = _row_delivery(row)
            # The post's derived status from what the UPDATE returned with the row (the post's state and status,
            # the other deliveries' states): rewritten only when it changes.
            states = [final.state] + [DeliveryState(x) for x in (row.sibling_states or "").split(",") if x]
            status = derive_post_status(PostState(row.post_state), states).value
            if status != row.post_status:
                if dialect == "postgresql" and event_rows:
                    # One round trip: the status update rides along with the first event's insert.
                    conn.execute(_stmt("post_status_and_event"),
                                 {**event_rows.pop(0), "p_post": delivery.post_id, "p_status": status})
                else:
                    _execute(conn, "post_status", {"p_post": delivery.post_id, "p_status": status})
            for event in event_rows:
                _execute(conn, "insert_event", event)
            return final

    def _refresh_post_status(self, conn: Connection, post_id: str) -> None:
        """The post's derived status from its state and its deliveries' (one read), written when it changed."""
        rows = conn.execute(_stmt("post_states"), {"p_post": post_id}).all()
        if not rows:
            return
        status = derive_post_status(PostState(rows[0].post_state), [DeliveryState(r.state) for r in rows if r.state])
        if status.value != rows[0].status:
            conn.execute(_stmt("post_status"), {"p_post": post_id, "p_status": status.value})

    def _finish_held(self, delivery_id: str, post_id: str, runner_id: str, outcome, *,
                     unless_sent: bool = False) -> Delivery | None:
        """One transaction: lock the post, then the delivery if `runner_id` holds it (and, with `unless_sent`,
        the platform was never called for it), and write ``outcome(held) -> (delivery, events)``."""
        with self._write() as conn:
            conn.execute(sa.select(posts.c.id).where(posts.c.id == post_id).with_for_update())
            row = conn.execute(sa.select(_d).where(
                _d.c.id == delivery_id, _d.c.claimed_by == runner_id, _in_flight(_d.c.state))
                .with_for_update()).first()
            if row is None:
                return None
            held = _row_delivery(row)
            if unless_sent and may_be_live(held.progress):   # made, or in doubt: the lease takeover settles it
                return None
            delivery, events = outcome(held)
            final = replace(delivery, version=row.version + 1, updated_at=self._clock(),
                            progress={**(row.progress or {}), **dict(delivery.progress or {})})
            values = _delivery_values(final)
            values.pop("position", None)
            conn.execute(_d.update().where(_d.c.id == delivery_id).values(values))
            self._refresh_post_status(conn, post_id)
            if events:
                conn.execute(_stmt("insert_events"), [_event_row(e) for e in events])
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
                _d.c.claimed_by == runner_id, _in_flight(_d.c.state)).order_by(_d.c.id)).all()
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

    def release_account_hold(self, account_id: str) -> bool:
        """A person lifted the hold: the runner may post for the account at once. False when there was none."""
        with self._write() as conn:
            return conn.execute(account_holds.delete().where(account_holds.c.account_id == account_id)).rowcount > 0

    def published_count(self, account_id: str, since: datetime) -> int:
        """Deliveries of the account published at or after `since` (and due at most _PACING_LOOKBACK before
        it), plus the one in flight however late it is (the publisher subtracts that one again)."""
        return self.published_counts(account_id, [since])[0]

    def published_counts(self, account_id: str, sinces: Sequence[datetime]) -> list[int]:
        """published_count for several starts, in one query over the account's recent rows."""
        sinces = [to_utc(s, "since") for s in sinces]
        if not sinces:
            return []
        params = {"p_account": account_id, "p_from": min(sinces) - _PACING_LOOKBACK}
        for i, since in enumerate(sinces):
            params[f"p_since_{i}"] = since
            params[f"p_due_{i}"] = since - _PACING_LOOKBACK
        if self._engine.dialect.name == "sqlite":
            # One statement is its own snapshot: straight on a pooled driver connection, no transaction.
            raw = self._engine.raw_connection()
            try:
                row = _direct(self._engine.dialect, f"published_counts_{len(sinces)}").execute(
                    raw.driver_connection, params).fetchone()
            finally:
                raw.close()
        else:
            with self._read() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")       # one statement: no BEGIN, no ROLLBACK
                row = conn.execute(_stmt(f"published_counts_{len(sinces)}"), params).one()
        in_flight = int(row[0] or 0)
        return [in_flight + int(v or 0) for v in row[1:]]

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



# published_count looks at published deliveries due up to this long before `since` (a retry can publish late);
# one value for both stores.
_PACING_LOOKBACK = PACING_LOOKBACK


def _next_per_account(rows, limit: int, room: Mapping[str, int]) -> dict[str, tuple[str, str | None]]:
    """account id -> (delivery id, workspace id): each account's first row (rows come earliest first), at most
    room[platform] of a platform and `limit` in all. An account's first row decides for it: a later one is
    never taken."""
    first: dict[str, tuple[str, str | None]] = {}
    seen: set[str] = set()
    taken: dict[str, int] = {}
    for row in rows:
        if row.account_id in seen:
            continue
        seen.add(row.account_id)
        if taken.get(row.platform, 0) >= room.get(row.platform, limit):
            continue
        taken[row.platform] = taken.get(row.platform, 0) + 1
        first[row.account_id] = (row.id, row.workspace_id)
        if len(first) >= limit:
            break
    return first


# ---------------------------------------------------------------- prebuilt statements
# The runner's hot statements are built once and executed with parameters: building a statement and computing
# its cache key cost more runner CPU than running it on SQLite. Parameters are named p_* (or after what they
# hold) so that none collides with a column name in an UPDATE's SET clause.

def _window(limit: int) -> int:
    """How many of the earliest waiting rows a claim (or next_due_at) looks at before it asks per account: a few
    times what it wants (the rows of busy accounts and each account's later rows are passed over)."""
    return max(4 * limit, 32)


APPROVED = PostState.APPROVED.value
USABLE = sorted(s.value for s in PUBLISHABLE_ACCOUNT_STATUSES)


def _stmt(name: str):
    """The prebuilt statement `name` (built on first use; statements are dialect-free, compiled per engine)."""
    stmt = _STATEMENTS.get(name)
    if stmt is None:
        stmt = _STATEMENTS[name] = _build(name)
    return stmt


def _now():
    return sa.bindparam("now", type_=UtcDateTime())


def _full():
    return sa.bindparam("full", expanding=True, type_=sa.String())


def _not_held(account_id, now):
    return ~sa.exists(sa.select(sa.literal(1)).select_from(account_holds).where(
        account_holds.c.account_id == account_id, account_holds.c.until > now))


def _not_busy(account_id):
    other = _d.alias("in_flight")
    return ~sa.exists(sa.select(sa.literal(1)).select_from(other).where(
        other.c.account_id == account_id, _in_flight(other.c.state)))


def _earliest(*, due: bool):
    """The earliest waiting rows, in claim order, from the due index alone; at most :window of them."""
    w = _d.alias("due")
    query = sa.select(w.c.id, w.c.next_attempt_at).where(waiting_states(w.c.state, "window_states"))
    if due:
        query = query.where(w.c.next_attempt_at <= _now())
    return (query.order_by(w.c.next_attempt_at, w.c.id)
            .limit(sa.bindparam("window", type_=sa.Integer())).subquery("w"))


def _window_joined(w):
    return (w.join(_d, _d.c.id == w.c.id).join(posts, posts.c.id == _d.c.post_id)
            .join(accounts, accounts.c.id == _d.c.account_id))


def _claimable(now):
    """Account and post may be claimed for now (the row's own waiting state and time are checked apart)."""
    return sa.and_(posts.c.state == APPROVED, accounts.c.status.in_(USABLE), _not_held(_d.c.account_id, now),
                   _not_busy(_d.c.account_id), _d.c.platform.not_in(_full()))


def _head(account_id, column):
    """`column` of the account's next in line: its first waiting delivery of an approved post, in claim order."""
    h, hp = _d.alias("head"), posts.alias("head_post")
    return (sa.select(column(h)).select_from(h.join(hp, hp.c.id == h.c.post_id))
            .where(h.c.account_id == account_id, waiting_states(h.c.state, "head_states"), hp.c.state == APPROVED)
            .order_by(h.c.next_attempt_at, h.c.id).limit(1).scalar_subquery())


def _usable_accounts(now):
    return sa.and_(accounts.c.status.in_(USABLE), _not_held(accounts.c.id, now), _not_busy(accounts.c.id))


def _heads(now):
    """Each claimable account's next in line, if due, earliest first: one index probe per account."""
    h = (sa.select(accounts.c.id.label("account_id"), _head(accounts.c.id, lambda t: t.c.id).label("head_id"))
         .where(_usable_accounts(now)).subquery("heads"))
    return (sa.select(_d.c.id, _d.c.account_id, _d.c.platform, posts.c.workspace_id)
            .select_from(h.join(_d, _d.c.id == h.c.head_id).join(posts, posts.c.id == _d.c.post_id))
            .where(waiting_states(_d.c.state), _d.c.next_attempt_at <= now, posts.c.state == APPROVED,
                   _d.c.platform.not_in(_full()))
            .order_by(_d.c.next_attempt_at, _d.c.id))


def _build(name: str):
    now = _now()
    if name == "window":
        w = _earliest(due=True)
        stmt = (sa.select(_d.c.id, _d.c.account_id, _d.c.platform, posts.c.workspace_id,
                          sa.case((_claimable(now), 1), else_=0).label("ok"))
                .select_from(_window_joined(w)).order_by(w.c.next_attempt_at, w.c.id))
    elif name == "heads":
        stmt = _heads(now)
    elif name == "lock_heads":
        # Ordered by the position in the list (already in claim order), not by (next_attempt_at, id): that order
        # tempted the planner to walk the due index from its start, past every busy account's backlog.
        from sqlalchemy.dialects.postgresql import ARRAY
        stmt = (sa.select(_d.c.id, _d.c.account_id, _d.c.platform, posts.c.workspace_id)
                .select_from(_d.join(posts, posts.c.id == _d.c.post_id))
                .where(_d.c.id.in_(sa.bindparam("ids", expanding=True)), waiting_states(_d.c.state),
                       posts.c.state == APPROVED)
                .order_by(sa.func.array_position(sa.bindparam("order", type_=ARRAY(sa.String())), _d.c.id))
                .limit(sa.bindparam("limit", type_=sa.Integer()))
                .with_for_update(of=[_d, posts], skip_locked=True))
    elif name == "next_window":
        w = _earliest(due=False)
        stmt = (sa.select(w.c.next_attempt_at).select_from(_window_joined(w)).where(_claimable(now))
                .order_by(w.c.next_attempt_at, w.c.id).limit(1))
    elif name == "next_window_flagged":
        w = _earliest(due=False)
        stmt = (sa.select(w.c.next_attempt_at, sa.case((_claimable(now), 1), else_=0).label("ok"))
                .select_from(_window_joined(w)).order_by(w.c.next_attempt_at, w.c.id))
    elif name == "waiting_window_size":
        stmt = sa.select(sa.func.count()).select_from(_earliest(due=False))
    elif name == "next_heads":
        head = _head(accounts.c.id, lambda t: t.c.next_attempt_at)
        stmt = sa.select(sa.type_coerce(sa.func.min(head), UtcDateTime())).where(
            _usable_accounts(now), accounts.c.platform.not_in(_full()))
    elif name in ("claim_update", "claim_update_checked"):
        # Still waiting; on PostgreSQL ("checked") also a fresh look, after the account locks, that its account has
        # none in flight (SQLite's window saw that under the write lock already).
        stmt = _d.update().where(_d.c.id.in_(sa.bindparam("ids", expanding=True)), waiting_states(_d.c.state))
        if name == "claim_update_checked":
            stmt = stmt.where(_not_busy(_d.c.account_id))
        stmt = (stmt
                .values(state=PUBLISHING, claimed_by=sa.bindparam("runner_id"),
                        lease_expires_at=sa.bindparam("lease", type_=UtcDateTime()),
                        attempts=_d.c.attempts + 1, marker=sa.func.coalesce(_d.c.marker, _d.c.id),
                        version=_d.c.version + 1, updated_at=sa.bindparam("at", type_=UtcDateTime()))
                .returning(*_d.c))
    elif name == "posts_publishing":
        publishing = PostStatus.PUBLISHING.value
        stmt = (posts.update().where(posts.c.id.in_(sa.bindparam("ids", expanding=True)), posts.c.state == APPROVED,
                                     posts.c.status != publishing).values(status=publishing))
    elif name.startswith("save_progress_"):
        key, value = sa.bindparam("p_key", type_=sa.String()), sa.bindparam("p_value", type_=sa.String())
        if name.endswith("postgresql"):
            from sqlalchemy.dialects.postgresql import JSONB
            merged = sa.cast(sa.func.coalesce(sa.cast(_d.c.progress, JSONB), sa.cast("{}", JSONB))
                             .op("||")(sa.func.jsonb_build_object(key, value)), sa.JSON)
        else:
            merged = sa.func.json_set(sa.func.coalesce(_d.c.progress, "{}"), key, value)
        stmt = (_d.update().where(_d.c.id == sa.bindparam("p_id"), _d.c.claimed_by == sa.bindparam("p_runner"),
                                  _in_flight(_d.c.state))
                .values(progress=merged, version=_d.c.version + 1))
    elif name.startswith("finish_"):
        # finish_<dialect>_<patch|keep>: every column of the outcome but id and position; progress merged.
        skip = {"id", "version", "progress", "position"}
        values = {c.name: sa.bindparam(f"p_{c.name}", type_=c.type) for c in _d.c if c.name not in skip}
        values["version"] = _d.c.version + 1
        if name.endswith("_patch"):
            patch = sa.bindparam("p_patch", type_=sa.String())
            if "_postgresql_" in name:
                from sqlalchemy.dialects.postgresql import JSONB
                values["progress"] = sa.cast(sa.func.coalesce(sa.cast(_d.c.progress, JSONB), sa.cast("{}", JSONB))
                                             .op("||")(sa.cast(patch, JSONB)), sa.JSON)
            else:
                # Progress values are strings: json_patch replaces each key given, keeps the others.
                values["progress"] = sa.func.json_patch(sa.func.coalesce(_d.c.progress, "{}"), patch)
        # Written out: SQLite's RETURNING is rendered without table names, which would leave a correlated
        # subquery's columns ambiguous.
        states = "string_agg(sibling.state, ',')" if "_postgresql_" in name else "group_concat(sibling.state)"
        stmt = _d.update().where(_d.c.id == sa.bindparam("p_id"), _d.c.claimed_by == sa.bindparam("p_runner"),
                                 _in_flight(_d.c.state))
        if "_postgresql_" in name:
            # The post row first, as every writer locks them (post, then delivery), in the same statement.
            locked = (sa.select(posts.c.id).where(posts.c.id == sa.bindparam("p_post")).with_for_update()
                      .subquery("locked_post"))
            stmt = stmt.where(_d.c.post_id == locked.c.id)
        stmt = (stmt.values(values)
                .returning(*_d.c, *(sa.literal_column(f"({sql})", sa.String()).label(label) for label, sql in (
                    ("post_state", "SELECT posts.state FROM posts WHERE posts.id = deliveries.post_id"),
                    ("post_status", "SELECT posts.status FROM posts WHERE posts.id = deliveries.post_id"),
                    ("sibling_states", f"SELECT {states} FROM deliveries AS sibling "
                                       "WHERE sibling.post_id = deliveries.post_id AND sibling.id != deliveries.id")))))
    elif name == "post_status":
        stmt = posts.update().where(posts.c.id == sa.bindparam("p_post")).values(status=sa.bindparam("p_status"))
    elif name == "post_status_and_event":
        status = (posts.update().where(posts.c.id == sa.bindparam("p_post")).values(status=sa.bindparam("p_status"))
                  .cte("post_status"))
        stmt = _stmt("insert_event").add_cte(status)
    elif name == "insert_events":
        stmt = activity_events.insert()
    elif name == "insert_event":
        # One event, every column but the database's `seq`.
        # (Parameters named e_<column>: a column's own name would also be taken as a value for a CTE's UPDATE.)
        stmt = activity_events.insert().values({c.name: sa.bindparam(f"e_{c.name}", type_=c.type)
                                                for c in activity_events.c if c.name != "seq"})
    elif name.startswith("published_counts_"):
        stmt = _published_counts_stmt(int(name.rsplit("_", 1)[1]))
    elif name == "lock_post":
        stmt = sa.select(posts.c.id).where(posts.c.id == sa.bindparam("p_post")).with_for_update()
    elif name == "post_states":
        stmt = (sa.select(posts.c.state.label("post_state"), posts.c.status, _d.c.state)
                .select_from(posts.outerjoin(_d, _d.c.post_id == posts.c.id))
                .where(posts.c.id == sa.bindparam("p_post")))
    else:
        raise KeyError(name)
    return stmt


_STATEMENTS: dict[str, Any] = {}


def _published_counts_stmt(n: int):
    """published_count for `n` starts: the account's delivery in flight (its own index), and per start its
    publishes since then (due at most the lookback before it), over the account's recent rows."""
    account = sa.bindparam("p_account")
    in_flight = (sa.select(sa.func.count()).select_from(_d)
                 .where(_d.c.account_id == account, _in_flight(_d.c.state)).scalar_subquery())
    published = _d.c.state == DeliveryState.PUBLISHED.value
    columns = [sa.func.coalesce(sa.func.sum(sa.case(
        (sa.and_(_d.c.published_at >= sa.bindparam(f"p_since_{i}", type_=UtcDateTime()),
                 _d.c.due_at >= sa.bindparam(f"p_due_{i}", type_=UtcDateTime())), 1), else_=0)), 0)
        for i in range(n)]
    return sa.select(in_flight, *columns).where(
        _d.c.account_id == account, published, _d.c.due_at >= sa.bindparam("p_from", type_=UtcDateTime()))


# ---------------------------------------------------------------- SQLite: straight to the driver
# The runner's per-delivery statements on SQLite (save_progress, finish_delivery, published_counts) run on the
# driver's cursor: SQLAlchemy compiles each once per dialect and its types process the parameters and the rows,
# as conn.execute would; what is skipped is the per-execution machinery (execution context, events, result
# objects), which cost the runner several times the CPU SQLite itself spent on these statements.

class _Direct:
    """A prebuilt statement compiled for one SQLite dialect, run on a DBAPI connection."""

    def __init__(self, stmt, dialect, result_types: Sequence[tuple[str, Any]] = ()):
        compiled = stmt.compile(dialect=dialect)
        if not compiled.positional or compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("only statements with plain positional parameters run straight on the driver")
        self.sql = compiled.string
        self.params = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            self.params.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), bind.required,
                                None if bind.required else bind.effective_value))
        self.results = [(name, type_.dialect_impl(dialect).result_processor(dialect, None))
                        for name, type_ in result_types]

    def execute(self, dbapi_connection, params: Mapping[str, Any]):
        args = []
        for name, process, required, default in self.params:
            value = params[name] if required else params.get(name, default)
            args.append(process(value) if process is not None else value)
        return dbapi_connection.execute(self.sql, args)

    def row(self, raw) -> SimpleNamespace:
        return SimpleNamespace(**{name: process(value) if process is not None else value
                                  for (name, process), value in zip(self.results, raw)})


_DIRECT: "weakref.WeakKeyDictionary[Any, dict[str, _Direct]]" = weakref.WeakKeyDictionary()


def _direct(dialect, name: str) -> _Direct:
    by_name = _DIRECT.get(dialect)
    if by_name is None:
        by_name = _DIRECT.setdefault(dialect, {})
    direct = by_name.get(name)
    if direct is None:
        returning = [(c.name, c.type) for c in _d.c] + [(n, sa.String()) for n in
                                                        ("post_state", "post_status", "sibling_states")]
        direct = by_name[name] = _Direct(_stmt(name), dialect, returning if name.startswith("finish_") else ())
    return direct


def _execute(conn: Connection, name: str, params: Mapping[str, Any]):
    """Run the prebuilt statement `name`: on SQLite straight on the driver (a DBAPI cursor comes back, with
    rowcount), elsewhere through SQLAlchemy."""
    if conn.dialect.name == "sqlite":
        return _direct(conn.dialect, name).execute(conn.connection.driver_connection, params)
    return conn.execute(_stmt(name), params)


def _first(conn: Connection, name: str, params: Mapping[str, Any]):
    """The first row `name` returns (attribute access by column name), or None."""
    if conn.dialect.name == "sqlite":
        direct = _direct(conn.dialect, name)
        raw = direct.execute(conn.connection.driver_connection, params).fetchone()
        return None if raw is None else direct.row(raw)
    return conn.execute(_stmt(name), params).first()

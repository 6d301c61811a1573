"""What every SQL module of the store shares: the engine, the cipher and the clock, a read and a write
transaction, the insert-race check, and writing activity events inside another write.

Notes on how the SQL store keeps the contract of `core.store` (tests/store_contract/ runs against it):

- One transaction per call. Writes take the write lock up front on SQLite (``BEGIN IMMEDIATE``) and
  lock the post row first on PostgreSQL, always in the order post -> deliveries, so two writers never
  deadlock.
- Tokens are encrypted on the way in (the account id bound in) and decrypted on the way out
  (`core.db.rows`); the database never sees them in plaintext.
- Activity events carry a database-assigned ``seq`` in write order; the log is listed by (at, seq),
  newest first.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.db.engine import write_transaction
from core.db.rows import event_values
from core.db.schema import activity_events, users
from core.domain import ActivityEvent
from core.domain.errors import DuplicateError
from core.infra.secrets import TokenCipher
from core.domain.timeutil import utcnow


class SqlBase:
    """The part of every SQL aggregate store that is not about one aggregate."""

    def __init__(self, engine: Engine, cipher: TokenCipher, *, clock=utcnow):
        self._engine = engine
        self._cipher = cipher
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    def _read(self):
        return self._engine.connect()

    def _write(self):
        return write_transaction(self._engine)

    @contextmanager
    def _insert_race(self, duplicate: DuplicateError, table: sa.Table, id_: str | None,
                     email: str | None = None, column: str = "id") -> Iterator[None]:
        """Another process inserting the same row between our check and our insert: still a DuplicateError."""
        try:
            yield
        except sa.exc.IntegrityError:
            with self._read() as conn:
                taken = exists(conn, table, id_, column) or (
                    email is not None and conn.execute(sa.select(users.c.id).where(users.c.email == email)).first())
            if taken:
                raise duplicate from None
            raise

    def _insert_events(self, conn: Connection, events: Sequence[ActivityEvent]) -> None:
        # One statement per event, in the order given: the database numbers them (seq) in that order.
        for e in events:
            conn.execute(activity_events.insert().values(event_values(e)))


def exists(conn: Connection, table: sa.Table, id_: str | None, column: str = "id") -> bool:
    """Whether `table` has a row whose `column` is `id_`."""
    if id_ is None:
        return False
    return conn.execute(sa.select(sa.literal(1)).select_from(table).where(table.c[column] == id_)).first() is not None


def existing_ids(conn: Connection, table: sa.Table, ids: Sequence[str]) -> set[str]:
    """Which of `ids` `table` has."""
    if not ids:
        return set()
    return set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(list(ids)))).scalars())

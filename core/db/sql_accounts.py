"""`core.store.AccountStore` in SQL: connected accounts (tokens encrypted) and connect attempts.

A connect attempt is consumed by one conditional UPDATE (``... WHERE used_at IS NULL``): of concurrent
consumers exactly one gets the row. Its PKCE verifier is encrypted like a token, bound to
``oauth:<state_hash>``.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.rows import account_from_row, account_values, oauth_state_from_row, oauth_state_values
from core.db.schema import accounts, oauth_states, users, workspaces
from core.db.sql_base import SqlBase, exists
from core.domain import Account, OAuthState
from core.domain.errors import DuplicateError, NotFoundError
from core.domain.catalog import Platform
from core.store.accounts import conditional_changes, same_platform_account, still_matches
from core.domain.timeutil import to_utc


class SqlAccountStore(SqlBase):
    """Connected accounts and connect attempts on a SQLAlchemy engine, secrets encrypted with the cipher."""

    def save_account(self, account: Account) -> Account:
        try:
            with self._write() as conn:
                if account.workspace_id is not None and not exists(conn, workspaces, account.workspace_id):
                    raise NotFoundError(f"No workspace with id {account.workspace_id}.")
                other = self._same_platform_account(conn, account)
                if other is not None:
                    raise DuplicateError(same_platform_account(account, other))
                if account.connected_at is None:
                    account = replace(account, connected_at=self._clock())
                values = account_values(account, self._cipher)
                if conn.execute(accounts.update().where(accounts.c.id == account.id).values(values)).rowcount == 0:
                    conn.execute(accounts.insert().values(values))
                return account
        except sa.exc.IntegrityError:
            # Another writer saved the same platform account between our check and our write.
            with self._read() as conn:
                other = self._same_platform_account(conn, account)
            if other is not None:
                raise DuplicateError(same_platform_account(account, other)) from None
            raise

    @staticmethod
    def _same_platform_account(conn: Connection, account: Account) -> str | None:
        """The id of another account of the workspace for the same platform account, if there is one."""
        if account.external_id is None or account.workspace_id is None:
            return None
        return conn.execute(sa.select(accounts.c.id).where(
            accounts.c.workspace_id == account.workspace_id, accounts.c.platform == account.platform.value,
            accounts.c.external_id == account.external_id, accounts.c.id != account.id)).scalar()

    def update_account_if(self, account_id: str, expected: Mapping[str, Any],
                          changes: Mapping[str, Any]) -> Account | None:
        """`core.store.AccountMemory.update_account_if` in SQL: tokens are encrypted with a fresh nonce each time,
        so the row is compared as loaded (decrypted) rather than in the WHERE clause. It is read and written in
        one write transaction holding the row: ``FOR UPDATE`` on PostgreSQL (a concurrent disconnect waits, or
        is waited for and then seen), the write lock on SQLite (``BEGIN IMMEDIATE``)."""
        expected, changes = conditional_changes(expected, changes)
        with self._write() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"No connected account with id {account_id}.")
            stored = account_from_row(row, self._cipher)
            if not still_matches(stored, expected):
                return None
            updated = replace(stored, **changes)
            conn.execute(accounts.update().where(accounts.c.id == account_id)
                         .values(account_values(updated, self._cipher)))
            return updated

    def get_account(self, account_id: str) -> Account:
        with self._read() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        if row is None:
            raise NotFoundError(f"No connected account with id {account_id}.")
        return account_from_row(row, self._cipher)

    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]:
        query = sa.select(accounts).order_by(accounts.c.platform, sa.func.lower(accounts.c.handle), accounts.c.id)
        if workspace_id is not None:
            query = query.where(accounts.c.workspace_id == workspace_id)
        with self._read() as conn:
            return [account_from_row(r, self._cipher) for r in conn.execute(query)]

    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None:
        if external_id is None:
            return None
        query = sa.select(accounts).where(accounts.c.workspace_id == workspace_id,
                                          accounts.c.platform == Platform.parse(platform).value,
                                          accounts.c.external_id == external_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else account_from_row(row, self._cipher)

    # ------------------------------------------------------------ connect attempts
    def add_oauth_state(self, state: OAuthState) -> None:
        duplicate = DuplicateError("That connect attempt already exists.")
        with self._insert_race(duplicate, oauth_states, state.state_hash, column="state_hash"), \
                self._write() as conn:
            if exists(conn, oauth_states, state.state_hash, "state_hash"):
                raise duplicate
            if not exists(conn, users, state.user_id):
                raise NotFoundError(f"No user with id {state.user_id}.")
            if not exists(conn, workspaces, state.workspace_id):
                raise NotFoundError(f"No workspace with id {state.workspace_id}.")
            state = replace(state, created_at=state.created_at or self._clock())
            conn.execute(oauth_states.insert().values(oauth_state_values(state, self._cipher)))

    def consume_oauth_state(self, state_hash: str, now: datetime) -> OAuthState | None:
        """The attempt, marked used, if it exists and was never used before; None otherwise (replays get None).

        One conditional UPDATE: on PostgreSQL a concurrent consumer waits for the row lock, then finds
        ``used_at`` set and updates nothing; on SQLite writers take the write lock one at a time.
        """
        now = to_utc(now, "now")
        unused = oauth_states.update().where(oauth_states.c.state_hash == state_hash,
                                             oauth_states.c.used_at.is_(None)).values(used_at=now)
        with self._write() as conn:
            if conn.dialect.update_returning:
                row = conn.execute(unused.returning(*oauth_states.c)).first()
            elif conn.execute(unused).rowcount == 1:  # SQLite before 3.35: no RETURNING
                row = conn.execute(sa.select(oauth_states).where(oauth_states.c.state_hash == state_hash)).first()
            else:
                row = None
            # Decrypted inside the transaction: if the verifier cannot be read, the attempt stays unused.
            return None if row is None else oauth_state_from_row(row, self._cipher)

    def get_oauth_state(self, state_hash: str) -> OAuthState | None:
        """The attempt as it is now (used or not), without using it; None if there is none."""
        with self._read() as conn:
            row = conn.execute(sa.select(oauth_states).where(oauth_states.c.state_hash == state_hash)).first()
        return None if row is None else oauth_state_from_row(row, self._cipher)

    def purge_oauth_states(self, before: datetime) -> int:
        """Delete the attempts that expired, or were used, before `before`; returns how many."""
        before = to_utc(before, "before")
        with self._write() as conn:
            return conn.execute(oauth_states.delete().where(
                sa.or_(oauth_states.c.expires_at < before, oauth_states.c.used_at < before))).rowcount

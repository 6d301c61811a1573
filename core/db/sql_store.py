"""The SQL store: `core.store.PostStore` on SQLite or PostgreSQL.

Same contract as `core.store.InMemoryPostStore` (the contract suite in
tests/test_store_contract.py runs against both). Notes on how it keeps it:

- One transaction per call. Writes take the write lock up front on SQLite
  (``BEGIN IMMEDIATE``) and lock the post row first on PostgreSQL, always in the
  order post -> deliveries, so two writers never deadlock.
- ``posts.status`` is the derived PostStatus, rewritten in the same transaction
  as every change to the post or one of its deliveries.
- Tokens are encrypted on the way in (the account id bound in) and decrypted on
  the way out; the database never sees them in plaintext.
- Lists load a page of posts, then all their targets in one query: no N+1.
- A connect attempt is consumed by one conditional UPDATE (``... WHERE used_at IS NULL``):
  of concurrent consumers exactly one gets the row. Its PKCE verifier is encrypted like a
  token, bound to ``oauth:<state_hash>``.
- Activity events carry a database-assigned ``seq`` in write order; the log is listed by
  (at, seq), newest first.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.db.engine import write_transaction
from core.db.sql_runner import SqlRunnerQueries
from core.db.schema import (waiting_states, accounts, activity_events, batches, deliveries, memberships, notifications,
                            oauth_states, post_accounts, posts, users, workspaces)
from core.db.tokens import oauth_binding
from core.domain import (Account, ActivityEvent, Batch, Delivery, Membership, Notification, OAuthState, Post,
                         PostVariant, Schedule, User, Workspace, post_status)
from core.errors import ConflictError, DuplicateError, NotFoundError
from core.lifecycle import DeliveryState, PostState, PostStatus, derive_post_status
from core.platforms.catalog import Platform
from core.scheduling import ScheduledItem
from core.secrets import TokenCipher, TokenDecryptError
from core.store import same_platform_account
from core.timeutil import to_utc, utcnow

# The deliveries table under a name that the `deliveries=` parameters of the store methods do not shadow.
_deliveries_t = deliveries
_INACTIVE_DELIVERY = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value)
_INACTIVE_POST = (PostState.CANCELLED.value, PostState.REJECTED.value)
# The encrypted columns of an account row.
_SECRET_COLUMNS = ("oauth_token_enc", "refresh_token_enc", "secrets_enc")


def _waiting_states():
    return waiting_states(_deliveries_t.c.state)


class SqlPostStore(SqlRunnerQueries):
    """`PostStore` on a SQLAlchemy engine, tokens encrypted with `cipher`."""

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

    # ------------------------------------------------------------ workspaces & people
    def add_workspace(self, workspace: Workspace) -> Workspace:
        duplicate = DuplicateError(f"A workspace with id {workspace.id} already exists.")
        with self._insert_race(duplicate, workspaces, workspace.id):
            with self._write() as conn:
                if _exists(conn, workspaces, workspace.id):
                    raise duplicate
                workspace = replace(workspace, created_at=workspace.created_at or self._clock())
                conn.execute(workspaces.insert().values(_workspace_values(workspace)))
                return workspace

    @contextmanager
    def _insert_race(self, duplicate: DuplicateError, table: sa.Table, id_: str | None,
                     email: str | None = None, column: str = "id") -> Iterator[None]:
        """Another process inserting the same row between our check and our insert: still a DuplicateError."""
        try:
            yield
        except sa.exc.IntegrityError:
            with self._read() as conn:
                taken = _exists(conn, table, id_, column) or (
                    email is not None and conn.execute(sa.select(users.c.id).where(users.c.email == email)).first())
            if taken:
                raise duplicate from None
            raise

    def update_workspace(self, workspace: Workspace) -> Workspace:
        with self._write() as conn:
            result = conn.execute(workspaces.update().where(workspaces.c.id == workspace.id)
                                  .values(_workspace_values(workspace)))
            if result.rowcount == 0:
                raise NotFoundError(f"No workspace with id {workspace.id}.")
            return workspace

    def get_workspace(self, workspace_id: str) -> Workspace:
        with self._read() as conn:
            return self._get_workspace(conn, workspace_id)

    def _get_workspace(self, conn: Connection, workspace_id: str) -> Workspace:
        row = conn.execute(sa.select(workspaces).where(workspaces.c.id == workspace_id)).first()
        if row is None:
            raise NotFoundError(f"No workspace with id {workspace_id}.")
        return _workspace(row)

    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]:
        query = sa.select(workspaces)
        if user_id is not None:
            query = query.join(memberships, memberships.c.workspace_id == workspaces.c.id).where(
                memberships.c.user_id == user_id)
        query = query.order_by(sa.func.lower(workspaces.c.name), workspaces.c.id)
        with self._read() as conn:
            return [_workspace(r) for r in conn.execute(query)]

    def add_user(self, user: User) -> User:
        duplicate = DuplicateError(f"A user with the email {user.email} already exists.")
        with self._insert_race(duplicate, users, user.id, email=user.email):
            with self._write() as conn:
                clash = conn.execute(sa.select(users.c.id).where(
                    sa.or_(users.c.id == user.id, users.c.email == user.email))).first()
                if clash is not None:
                    raise duplicate
                user = replace(user, created_at=user.created_at or self._clock())
                conn.execute(users.insert().values(_user_values(user)))
                return user

    def update_user(self, user: User) -> User:
        duplicate = DuplicateError(f"A user with the email {user.email} already exists.")
        # The email check below races with another writer on PostgreSQL; the unique index decides.
        with self._insert_race(duplicate, users, None, email=user.email), self._write() as conn:
            if not _exists(conn, users, user.id):
                raise NotFoundError(f"No user with id {user.id}.")
            if conn.execute(sa.select(users.c.id).where(users.c.email == user.email, users.c.id != user.id)).first():
                raise duplicate
            conn.execute(users.update().where(users.c.id == user.id).values(_user_values(user)))
            return user

    def get_user(self, user_id: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFoundError(f"No user with id {user_id}.")
        return _user(row)

    def get_user_by_email(self, email: str) -> User | None:
        email = (email or "").strip().lower()
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.email == email)).first()
        return None if row is None else _user(row)

    def set_membership(self, membership: Membership) -> Membership:
        with self._write() as conn:
            if not _exists(conn, users, membership.user_id):
                raise NotFoundError(f"No user with id {membership.user_id}.")
            if not _exists(conn, workspaces, membership.workspace_id):
                raise NotFoundError(f"No workspace with id {membership.workspace_id}.")
            key = sa.and_(memberships.c.user_id == membership.user_id,
                          memberships.c.workspace_id == membership.workspace_id)
            if conn.execute(memberships.update().where(key).values(role=membership.role.value)).rowcount == 0:
                conn.execute(memberships.insert().values(user_id=membership.user_id,
                                                         workspace_id=membership.workspace_id,
                                                         role=membership.role.value))
            return membership

    def get_membership(self, user_id: str, workspace_id: str) -> Membership | None:
        with self._read() as conn:
            row = conn.execute(sa.select(memberships).where(memberships.c.user_id == user_id,
                                                            memberships.c.workspace_id == workspace_id)).first()
        return None if row is None else Membership(user_id=row.user_id, workspace_id=row.workspace_id, role=row.role)

    def remove_membership(self, user_id: str, workspace_id: str) -> bool:
        """Take the user out of the workspace; False if they were not a member."""
        with self._write() as conn:
            return conn.execute(memberships.delete().where(memberships.c.user_id == user_id,
                                                           memberships.c.workspace_id == workspace_id)).rowcount > 0

    def list_memberships(self, *, user_id: str | None = None, workspace_id: str | None = None) -> list[Membership]:
        query = sa.select(memberships).order_by(memberships.c.workspace_id, memberships.c.user_id)
        if user_id is not None:
            query = query.where(memberships.c.user_id == user_id)
        if workspace_id is not None:
            query = query.where(memberships.c.workspace_id == workspace_id)
        with self._read() as conn:
            return [Membership(user_id=r.user_id, workspace_id=r.workspace_id, role=r.role)
                    for r in conn.execute(query)]

    # ------------------------------------------------------------ accounts
    def save_account(self, account: Account) -> Account:
        try:
            with self._write() as conn:
                if account.workspace_id is not None and not _exists(conn, workspaces, account.workspace_id):
                    raise NotFoundError(f"No workspace with id {account.workspace_id}.")
                other = self._same_platform_account(conn, account)
                if other is not None:
                    raise DuplicateError(same_platform_account(account, other))
                if account.connected_at is None:
                    account = replace(account, connected_at=self._clock())
                values = self._account_values(account)
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

    def get_account(self, account_id: str) -> Account:
        with self._read() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        if row is None:
            raise NotFoundError(f"No connected account with id {account_id}.")
        return self._account(row)

    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]:
        query = sa.select(accounts).order_by(accounts.c.platform, sa.func.lower(accounts.c.handle), accounts.c.id)
        if workspace_id is not None:
            query = query.where(accounts.c.workspace_id == workspace_id)
        with self._read() as conn:
            return [self._account(r) for r in conn.execute(query)]

    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None:
        if external_id is None:
            return None
        query = sa.select(accounts).where(accounts.c.workspace_id == workspace_id,
                                          accounts.c.platform == Platform.parse(platform).value,
                                          accounts.c.external_id == external_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._account(row)

    # ------------------------------------------------------------ connect attempts
    def add_oauth_state(self, state: OAuthState) -> None:
        duplicate = DuplicateError("That connect attempt already exists.")
        with self._insert_race(duplicate, oauth_states, state.state_hash, column="state_hash"), \
                self._write() as conn:
            if _exists(conn, oauth_states, state.state_hash, "state_hash"):
                raise duplicate
            if not _exists(conn, users, state.user_id):
                raise NotFoundError(f"No user with id {state.user_id}.")
            if not _exists(conn, workspaces, state.workspace_id):
                raise NotFoundError(f"No workspace with id {state.workspace_id}.")
            state = replace(state, created_at=state.created_at or self._clock())
            verifier = state.code_verifier
            conn.execute(oauth_states.insert().values(
                state_hash=state.state_hash, user_id=state.user_id, workspace_id=state.workspace_id,
                platform=state.platform.value,
                code_verifier_enc=None if verifier is None else self._cipher.encrypt(
                    verifier, account_id=oauth_binding(state.state_hash)),
                expires_at=state.expires_at, created_at=state.created_at, used_at=state.used_at,
                account_id=state.account_id))

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
            return None if row is None else self._oauth_state(row)

    def purge_oauth_states(self, before: datetime) -> int:
        """Delete the attempts that expired, or were used, before `before`; returns how many."""
        before = to_utc(before, "before")
        with self._write() as conn:
            return conn.execute(oauth_states.delete().where(
                sa.or_(oauth_states.c.expires_at < before, oauth_states.c.used_at < before))).rowcount

    def _oauth_state(self, row) -> OAuthState:
        verifier = None
        if row.code_verifier_enc is not None:
            try:
                verifier = self._cipher.decrypt(row.code_verifier_enc, account_id=oauth_binding(row.state_hash))
            except TokenDecryptError:
                raise TokenDecryptError("The security code of this connect attempt could not be decrypted (its key "
                                        "is no longer in the keyring, or the row was altered). Start the connection "
                                        "again from Accounts.") from None
        return OAuthState(state_hash=row.state_hash, user_id=row.user_id, workspace_id=row.workspace_id,
                          platform=row.platform, expires_at=row.expires_at, code_verifier=verifier,
                          created_at=row.created_at, used_at=row.used_at, account_id=row.account_id)

    def _account_values(self, a: Account) -> dict[str, Any]:
        enc = self._cipher.encrypt
        values = {
            "id": a.id, "workspace_id": a.workspace_id, "platform": a.platform.value, "handle": a.handle,
            "display_name": a.display_name or "",
            "oauth_token_enc": None if a.oauth_token is None else enc(a.oauth_token, account_id=a.id),
            "refresh_token_enc": None if a.refresh_token is None else enc(a.refresh_token, account_id=a.id),
            "secrets_enc": enc(json.dumps(dict(a.secrets), sort_keys=True), account_id=a.id) if a.secrets else None,
            "token_expires_at": a.token_expires_at, "refresh_expires_at": a.refresh_expires_at,
            "scopes": list(a.scopes), "external_id": a.external_id, "daily_cap": a.daily_cap,
            "min_gap_minutes": a.min_gap_minutes, "status": a.status.value, "connected_at": a.connected_at,
            "meta": dict(a.meta or {}),
        }
        if a.secrets_unreadable is not None:
            # Loaded without its tokens (they could not be decrypted): leave the stored ones as they are, so that
            # restoring the key brings them back. Reconnecting clears the flag and writes new ones.
            for column in _SECRET_COLUMNS:
                del values[column]
        return values

    def _account(self, row) -> Account:
        """The account of `row`; one whose tokens cannot be decrypted loads without them, marked
        `secrets_unreadable`, so that one damaged row or lost key never stops the others from loading."""
        try:
            oauth_token, refresh_token, secrets = self._account_secrets(row)
        except (TokenDecryptError, ValueError) as exc:
            # TokenDecryptError says which key or check failed and never holds the token; a ValueError here is
            # decrypted secrets that are not the JSON object we wrote (never quoted: it could be a secret).
            why = (str(exc) if isinstance(exc, TokenDecryptError)
                   else f"The stored secrets of account {row.id} are not in the expected format.")
            oauth_token, refresh_token, secrets, unreadable = None, None, {}, why
        else:
            unreadable = None
        return Account(
            platform=row.platform, handle=row.handle, display_name=row.display_name,
            oauth_token=oauth_token, refresh_token=refresh_token, secrets=secrets,
            token_expires_at=row.token_expires_at, refresh_expires_at=row.refresh_expires_at,
            scopes=tuple(row.scopes or ()), external_id=row.external_id, id=row.id, workspace_id=row.workspace_id,
            daily_cap=row.daily_cap, min_gap_minutes=row.min_gap_minutes, status=row.status,
            connected_at=row.connected_at, meta=dict(row.meta or {}), secrets_unreadable=unreadable)

    def _account_secrets(self, row) -> tuple[str | None, str | None, dict[str, str]]:
        dec = self._cipher.decrypt
        oauth_token = None if row.oauth_token_enc is None else dec(row.oauth_token_enc, account_id=row.id)
        refresh_token = None if row.refresh_token_enc is None else dec(row.refresh_token_enc, account_id=row.id)
        secrets = {} if row.secrets_enc is None else json.loads(dec(row.secrets_enc, account_id=row.id))
        if not isinstance(secrets, dict):
            raise ValueError("not a JSON object")
        return oauth_token, refresh_token, secrets

    # ------------------------------------------------------------ posts & deliveries
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
                account = loaded[row.id] = self._account(row)
            out[row.post_id].append(account)
        return out

    def _check_post(self, conn: Connection, post: Post, new_deliveries: Sequence[Delivery]) -> tuple[Account, ...]:
        """The same checks as the memory store; returns the stored target accounts, in order."""
        if not post.id:
            raise ValueError("A post needs an id before it is stored.")
        ids = [a.id for a in post.accounts]
        stored: dict[str, Account] = {}
        if ids:
            stored = {r.id: self._account(r) for r in conn.execute(sa.select(accounts).where(accounts.c.id.in_(ids)))}
        for acc in post.accounts:
            if acc.id not in stored:
                raise NotFoundError(f"Account {acc.label} is not connected in this store; save it first.")
        if post.workspace_id is not None and not _exists(conn, workspaces, post.workspace_id):
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
            if _exists(conn, posts, post.id):
                raise duplicate
            targets = self._check_post(conn, post, deliveries)
            taken = _existing_ids(conn, _deliveries_t, [d.id for d in deliveries])
            if taken:
                raise DuplicateError(f"A delivery with id {sorted(taken)[0]} already exists.")
            now = self._clock()
            post = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
            stored = _dedupe([replace(d, version=1, updated_at=now) for d in deliveries])
            conn.execute(posts.insert().values(_post_values(post, post_status(post, stored))))
            self._write_targets(conn, post)
            if stored:
                conn.execute(_deliveries_t.insert(), [_delivery_values(d, position=i) for i, d in enumerate(stored)])
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
                                 .values(_delivery_values(d)))
                else:
                    position += 1
                    conn.execute(_deliveries_t.insert().values(_delivery_values(d, position=position)))
            states = conn.execute(sa.select(_deliveries_t.c.state).where(_deliveries_t.c.post_id == post.id)).scalars()
            status = derive_post_status(post.state, [DeliveryState(s) for s in states])
            values = _post_values(post, status)
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
            return _post(row, self._targets(conn, [post_id])[post_id])

    def get_post_status(self, post_id: str) -> PostStatus:
        with self._read() as conn:
            status = conn.execute(sa.select(posts.c.status).where(posts.c.id == post_id)).scalar()
        if status is None:
            raise NotFoundError(f"No post with id {post_id}.")
        return PostStatus(status)

    def list_posts(self, *, workspace_id: str | None = None, statuses: Iterable[PostStatus] | None = None,
                   start: datetime | None = None, end: datetime | None = None, account_id: str | None = None,
                   batch_id: str | None = None, limit: int = 500, offset: int = 0) -> list[Post]:
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
        query = query.order_by(posts.c.due_at.asc().nulls_last(), posts.c.id).limit(limit).offset(offset)
        with self._read() as conn:
            rows = conn.execute(query).all()
            targets = self._targets(conn, [r.id for r in rows])
        return [_post(r, targets[r.id]) for r in rows]

    def get_deliveries(self, post_id: str) -> list[Delivery]:
        with self._read() as conn:
            rows = conn.execute(sa.select(_deliveries_t).where(_deliveries_t.c.post_id == post_id)
                                .order_by(_deliveries_t.c.position, _deliveries_t.c.id))
            return [_delivery(r) for r in rows]

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
                found[row.post_id].append(_delivery(row))
        return found

    def get_delivery(self, delivery_id: str) -> Delivery:
        with self._read() as conn:
            row = conn.execute(sa.select(_deliveries_t).where(_deliveries_t.c.id == delivery_id)).first()
        if row is None:
            raise NotFoundError(f"No delivery with id {delivery_id}.")
        return _delivery(row)

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
                         .values(_delivery_values(delivery)))
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
            return [_delivery(r) for r in conn.execute(query)]

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

    # ------------------------------------------------------------ activity, notifications, batches
    def _insert_events(self, conn: Connection, events: Sequence[ActivityEvent]) -> None:
        # One statement per event, in the order given: the database numbers them (seq) in that order.
        for e in events:
            conn.execute(activity_events.insert().values(_event_values(e)))

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
            return [_event(r) for r in conn.execute(query.limit(limit))]

    def add_notification(self, notification: Notification) -> Notification:
        with self._write() as conn:
            notification = replace(notification, created_at=notification.created_at or self._clock())
            values = _notification_values(notification)
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
            return [_notification(r) for r in conn.execute(query)]

    def mark_notification_read(self, notification_id: str, at: datetime) -> None:
        at = to_utc(at)
        with self._write() as conn:
            if conn.execute(notifications.update().where(notifications.c.id == notification_id)
                            .values(read_at=at)).rowcount == 0:
                raise NotFoundError(f"No notification with id {notification_id}.")

    def save_batch(self, batch: Batch) -> Batch:
        with self._write() as conn:
            if not _exists(conn, workspaces, batch.workspace_id):
                raise NotFoundError(f"No workspace with id {batch.workspace_id}.")
            batch = replace(batch, created_at=batch.created_at or self._clock())
            values = _batch_values(batch)
            if conn.execute(batches.update().where(batches.c.id == batch.id).values(values)).rowcount == 0:
                conn.execute(batches.insert().values(values))
            return batch

    def get_batch(self, batch_id: str) -> Batch:
        with self._read() as conn:
            row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"No batch with id {batch_id}.")
        return _batch(row)

    def list_batches(self, *, workspace_id: str) -> list[Batch]:
        query = (sa.select(batches).where(batches.c.workspace_id == workspace_id)
                 .order_by(batches.c.week_start.desc(), batches.c.id))
        with self._read() as conn:
            return [_batch(r) for r in conn.execute(query)]


# ---------------------------------------------------------------- row <-> domain

def _exists(conn: Connection, table: sa.Table, id_: str | None, column: str = "id") -> bool:
    if id_ is None:
        return False
    return conn.execute(sa.select(sa.literal(1)).select_from(table).where(table.c[column] == id_)).first() is not None


def _existing_ids(conn: Connection, table: sa.Table, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    return set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(list(ids)))).scalars())


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


def _workspace_values(w: Workspace) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "timezone_name": w.timezone_name,
            "preferred_time": w.preferred_time.isoformat(),
            "queue_slots": {str(day): [t.isoformat() for t in times] for day, times in w.queue_slots.items()},
            "requires_approval": bool(w.requires_approval), "created_at": w.created_at}


def _workspace(row) -> Workspace:
    slots = {int(day): tuple(time.fromisoformat(t) for t in times) for day, times in (row.queue_slots or {}).items()}
    return Workspace(name=row.name, timezone_name=row.timezone_name,
                     preferred_time=time.fromisoformat(row.preferred_time), queue_slots=slots,
                     requires_approval=bool(row.requires_approval), id=row.id, created_at=row.created_at)


def _user_values(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "display_name": u.display_name or "", "password_hash": u.password_hash,
            "created_at": u.created_at}


def _user(row) -> User:
    return User(email=row.email, display_name=row.display_name, password_hash=row.password_hash, id=row.id,
                created_at=row.created_at)


def _variant_values(v: PostVariant) -> dict[str, Any]:
    return {"caption": v.caption, "hashtags": None if v.hashtags is None else list(v.hashtags),
            "media_urls": None if v.media_urls is None else list(v.media_urls), "title": v.title, "link": v.link}


def _variant(data: Mapping[str, Any]) -> PostVariant:
    hashtags, media = data.get("hashtags"), data.get("media_urls")
    return PostVariant(caption=data.get("caption"), hashtags=None if hashtags is None else tuple(hashtags),
                       media_urls=None if media is None else tuple(media), title=data.get("title"),
                       link=data.get("link"))


def _post_values(p: Post, status: PostStatus) -> dict[str, Any]:
    s = p.schedule
    return {
        "id": p.id, "workspace_id": p.workspace_id, "caption": p.caption, "hashtags": list(p.hashtags),
        "call_to_action": p.call_to_action or "", "link": p.link or "", "media_urls": list(p.media_urls),
        "variants": {Platform.parse(k).value: _variant_values(v) for k, v in p.variants.items()},
        "due_at": s.scheduled_at if s else None, "timezone_name": s.timezone_name if s else None,
        "schedule_notice": s.notice if s else None, "recurrence": p.recurrence, "series_id": p.series_id,
        "is_ai_generated": bool(p.is_ai_generated), "batch_id": p.batch_id, "state": p.state.value,
        "status": PostStatus(status).value, "created_by": p.created_by, "rejection_reason": p.rejection_reason,
        "created_at": p.created_at, "updated_at": p.updated_at, "version": p.version,
    }


def _post(row, targets: Sequence[Account]) -> Post:
    schedule = None
    if row.due_at is not None:
        schedule = Schedule(scheduled_at=row.due_at, timezone_name=row.timezone_name or "UTC",
                            notice=row.schedule_notice)
    return Post(
        caption=row.caption, accounts=tuple(targets), hashtags=tuple(row.hashtags or ()),
        call_to_action=row.call_to_action, link=row.link, media_urls=tuple(row.media_urls or ()),
        variants={k: _variant(v) for k, v in (row.variants or {}).items()}, schedule=schedule,
        recurrence=row.recurrence, is_ai_generated=bool(row.is_ai_generated), batch_id=row.batch_id,
        workspace_id=row.workspace_id, id=row.id, state=row.state, created_by=row.created_by,
        rejection_reason=row.rejection_reason, created_at=row.created_at, updated_at=row.updated_at,
        version=row.version, series_id=row.series_id)


_DELIVERY_FIELDS = ("id", "post_id", "account_id", "due_at", "attempts", "next_attempt_at", "external_id", "progress",
                    "external_url", "last_error", "last_error_code", "claimed_by", "lease_expires_at", "marker",
                    "published_at", "updated_at", "version")


def _delivery_values(d: Delivery, *, position: int | None = None) -> dict[str, Any]:
    values = {name: getattr(d, name) for name in _DELIVERY_FIELDS}
    values.update(platform=d.platform.value, state=d.state.value)
    if position is not None:
        values["position"] = position
    return values


def _delivery(row) -> Delivery:
    return Delivery(platform=row.platform, state=row.state, **{name: getattr(row, name) for name in _DELIVERY_FIELDS})


def _event_values(e: ActivityEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "action": e.action, "subject_type": e.subject_type, "subject_id": e.subject_id,
            "actor": e.actor, "workspace_id": e.workspace_id, "from_state": _text(e.from_state),
            "to_state": _text(e.to_state), "reason": e.reason, "details": dict(e.details or {})}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _event(row) -> ActivityEvent:
    return ActivityEvent(action=row.action, subject_type=row.subject_type, subject_id=row.subject_id, at=row.at,
                         actor=row.actor, workspace_id=row.workspace_id, from_state=row.from_state,
                         to_state=row.to_state, reason=row.reason, details=dict(row.details or {}), id=row.id)


def _notification_values(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "workspace_id": n.workspace_id, "kind": n.kind, "title": n.title, "body": n.body or "",
            "created_at": n.created_at, "user_id": n.user_id, "subject_id": n.subject_id, "read_at": n.read_at,
            "sent_at": n.sent_at}


def _notification(row) -> Notification:
    return Notification(workspace_id=row.workspace_id, kind=row.kind, title=row.title, body=row.body,
                        created_at=row.created_at, user_id=row.user_id, subject_id=row.subject_id,
                        read_at=row.read_at, sent_at=row.sent_at, id=row.id)


def _batch_values(b: Batch) -> dict[str, Any]:
    return {"id": b.id, "workspace_id": b.workspace_id, "week_start": b.week_start, "state": b.state.value,
            "prompt": b.prompt or "", "created_at": b.created_at, "decided_at": b.decided_at,
            "decided_by": b.decided_by}


def _batch(row) -> Batch:
    return Batch(workspace_id=row.workspace_id, week_start=row.week_start, id=row.id, state=row.state,
                 prompt=row.prompt, created_at=row.created_at, decided_at=row.decided_at, decided_by=row.decided_by)


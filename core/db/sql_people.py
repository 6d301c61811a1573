"""`core.store.PeopleStore` in SQL: workspaces, users, memberships, invitations, dashboard sessions and failed
sign-ins."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.rows import (aware, failures_from_row, invitation_from_row, invitation_values, membership_from_row,
                          session_from_row, session_values, user_from_row, user_values, workspace_from_row,
                          workspace_values)
from core.db.schema import composer_drafts, invitations, memberships, sessions, sign_in_failures, users, workspaces
from core.db.sql_base import SqlBase, exists
from core.domain import Membership, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError
from core.store.people import Invitation, KeptDraft, Session, SignInFailures


class SqlPeopleStore(SqlBase):
    """Workspaces, users and memberships on a SQLAlchemy engine."""

    def add_workspace(self, workspace: Workspace) -> Workspace:
        duplicate = DuplicateError(f"A workspace with id {workspace.id} already exists.")
        with self._insert_race(duplicate, workspaces, workspace.id):
            with self._write() as conn:
                if exists(conn, workspaces, workspace.id):
                    raise duplicate
                workspace = replace(workspace, created_at=workspace.created_at or self._clock())
                conn.execute(workspaces.insert().values(workspace_values(workspace)))
                return workspace

    def update_workspace(self, workspace: Workspace) -> Workspace:
        with self._write() as conn:
            result = conn.execute(workspaces.update().where(workspaces.c.id == workspace.id)
                                  .values(workspace_values(workspace)))
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
        return workspace_from_row(row)

    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]:
        query = sa.select(workspaces)
        if user_id is not None:
            query = query.join(memberships, memberships.c.workspace_id == workspaces.c.id).where(
                memberships.c.user_id == user_id)
        query = query.order_by(sa.func.lower(workspaces.c.name), workspaces.c.id)
        with self._read() as conn:
            return [workspace_from_row(r) for r in conn.execute(query)]

    def add_user(self, user: User) -> User:
        duplicate = DuplicateError(f"A user with the email {user.email} already exists.")
        with self._insert_race(duplicate, users, user.id, email=user.email):
            with self._write() as conn:
                clash = conn.execute(sa.select(users.c.id).where(
                    sa.or_(users.c.id == user.id, users.c.email == user.email))).first()
                if clash is not None:
                    raise duplicate
                user = replace(user, created_at=user.created_at or self._clock())
                conn.execute(users.insert().values(user_values(user)))
                return user

    def update_user(self, user: User) -> User:
        duplicate = DuplicateError(f"A user with the email {user.email} already exists.")
        # The email check below races with another writer on PostgreSQL; the unique index decides.
        with self._insert_race(duplicate, users, None, email=user.email), self._write() as conn:
            if not exists(conn, users, user.id):
                raise NotFoundError(f"No user with id {user.id}.")
            if conn.execute(sa.select(users.c.id).where(users.c.email == user.email, users.c.id != user.id)).first():
                raise duplicate
            conn.execute(users.update().where(users.c.id == user.id).values(user_values(user)))
            return user

    def get_user(self, user_id: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFoundError(f"No user with id {user_id}.")
        return user_from_row(row)

    def get_user_by_email(self, email: str) -> User | None:
        email = (email or "").strip().lower()
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.email == email)).first()
        return None if row is None else user_from_row(row)

    def set_membership(self, membership: Membership) -> Membership:
        with self._write() as conn:
            if not exists(conn, users, membership.user_id):
                raise NotFoundError(f"No user with id {membership.user_id}.")
            if not exists(conn, workspaces, membership.workspace_id):
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
        return None if row is None else membership_from_row(row)

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
            return [membership_from_row(r) for r in conn.execute(query)]

    def add_invitation(self, invitation: Invitation) -> Invitation:
        duplicate = DuplicateError("That invitation already exists.")
        with self._insert_race(duplicate, invitations, invitation.id), self._write() as conn:
            if not exists(conn, workspaces, invitation.workspace_id):
                raise NotFoundError(f"No workspace with id {invitation.workspace_id}.")
            if conn.execute(sa.select(invitations.c.id).where(sa.or_(
                    invitations.c.id == invitation.id, invitations.c.token_hash == invitation.token_hash))).first():
                raise duplicate
            conn.execute(invitations.insert().values(invitation_values(invitation)))
            return invitation

    def get_invitation(self, token_hash: str) -> Invitation | None:
        with self._read() as conn:
            row = conn.execute(sa.select(invitations).where(invitations.c.token_hash == token_hash)).first()
        return None if row is None else invitation_from_row(row)

    def list_invitations(self, workspace_id: str) -> list[Invitation]:
        """A workspace's invitations (used, withdrawn and expired ones too), newest first."""
        with self._read() as conn:
            rows = conn.execute(sa.select(invitations).where(invitations.c.workspace_id == workspace_id)
                                .order_by(invitations.c.created_at.desc(), invitations.c.id.desc())).all()
        return [invitation_from_row(r) for r in rows]

    def _settle_invitation(self, invitation_id: str, values: dict) -> bool:
        """One conditional UPDATE: only a pending invitation changes, so of concurrent calls exactly one wins."""
        with self._write() as conn:
            return conn.execute(invitations.update().where(
                invitations.c.id == invitation_id, invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None)).values(values)).rowcount > 0

    def revoke_invitation(self, invitation_id: str, revoked_at: datetime) -> bool:
        """Withdraw an invitation; False if there was none or it was already used or withdrawn."""
        return self._settle_invitation(invitation_id, {"revoked_at": revoked_at})

    def accept_invitation(self, invitation_id: str, user_id: str, accepted_at: datetime) -> bool:
        """Mark an invitation used by `user_id`; of concurrent calls exactly one gets True."""
        return self._settle_invitation(invitation_id, {"accepted_at": accepted_at, "accepted_by": user_id})

    def purge_invitations(self, before: datetime) -> int:
        """Forget invitations settled before `before`: used or withdrawn then, or expired by then (their email
        goes with them; their link then reads as unknown). Ones still usable stay. How many went."""
        with self._write() as conn:
            return conn.execute(invitations.delete().where(sa.or_(
                invitations.c.expires_at < before, invitations.c.accepted_at < before,
                invitations.c.revoked_at < before))).rowcount

    def keep_draft(self, draft: KeptDraft) -> KeptDraft:
        """Keep (or replace) what `draft.user_id` is writing in `draft.workspace_id`'s composer."""
        with self._write() as conn:
            if not exists(conn, workspaces, draft.workspace_id):
                raise NotFoundError(f"No workspace with id {draft.workspace_id}.")
            if not exists(conn, users, draft.user_id):
                raise NotFoundError(f"No user with id {draft.user_id}.")
            key = (composer_drafts.c.user_id == draft.user_id, composer_drafts.c.workspace_id == draft.workspace_id)
            conn.execute(composer_drafts.delete().where(*key))
            conn.execute(composer_drafts.insert().values(user_id=draft.user_id, workspace_id=draft.workspace_id,
                                                         fields=dict(draft.fields), kept_at=draft.kept_at))
            return draft

    def get_kept_draft(self, user_id: str, workspace_id: str) -> KeptDraft | None:
        with self._read() as conn:
            row = conn.execute(sa.select(composer_drafts).where(
                composer_drafts.c.user_id == user_id, composer_drafts.c.workspace_id == workspace_id)).first()
        return None if row is None else KeptDraft(user_id=row.user_id, workspace_id=row.workspace_id,
                                                  fields=dict(row.fields or {}), kept_at=aware(row.kept_at))

    def forget_kept_draft(self, user_id: str, workspace_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(composer_drafts.delete().where(
                composer_drafts.c.user_id == user_id, composer_drafts.c.workspace_id == workspace_id)).rowcount > 0

    def add_session(self, session: Session) -> Session:
        duplicate = DuplicateError("That session already exists.")
        with self._insert_race(duplicate, sessions, session.id_hash, column="id_hash"), self._write() as conn:
            if not exists(conn, users, session.user_id):
                raise NotFoundError(f"No user with id {session.user_id}.")
            if exists(conn, sessions, session.id_hash, "id_hash"):
                raise duplicate
            conn.execute(sessions.insert().values(session_values(session)))
            return session

    def get_session(self, id_hash: str) -> Session | None:
        with self._read() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.id_hash == id_hash)).first()
        return None if row is None else session_from_row(row)

    def list_user_sessions(self, user_id: str) -> list[Session]:
        """A person's sessions (ended ones too, until purged), newest first."""
        with self._read() as conn:
            rows = conn.execute(sa.select(sessions).where(sessions.c.user_id == user_id)
                                .order_by(sessions.c.created_at.desc())).all()
        return [session_from_row(r) for r in rows]

    def touch_session(self, id_hash: str, seen_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(sessions.update().where(sessions.c.id_hash == id_hash, sessions.c.last_seen_at < seen_at)
                         .values(last_seen_at=seen_at))

    def revoke_session(self, id_hash: str, revoked_at: datetime) -> bool:
        """End one session; False if there was none or it had already ended."""
        with self._write() as conn:
            return conn.execute(sessions.update().where(sessions.c.id_hash == id_hash, sessions.c.revoked_at.is_(None))
                                .values(revoked_at=revoked_at)).rowcount > 0

    def revoke_user_sessions(self, user_id: str, revoked_at: datetime, *, keep: str | None = None) -> int:
        """End every open session of a user but the one hashed `keep`; how many were ended."""
        query = sessions.update().where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        if keep is not None:
            query = query.where(sessions.c.id_hash != keep)
        with self._write() as conn:
            return conn.execute(query.values(revoked_at=revoked_at)).rowcount

    def purge_sessions(self, before: datetime) -> int:
        """Forget sessions that ended (revoked or expired) before `before`, and failed sign-ins last seen before
        it; how many sessions went."""
        with self._write() as conn:
            gone = conn.execute(sessions.delete().where(sa.or_(sessions.c.revoked_at < before,
                                                               sessions.c.expires_at < before))).rowcount
            conn.execute(sign_in_failures.delete().where(
                sign_in_failures.c.last_failed_at < before,
                sa.or_(sign_in_failures.c.paused_until.is_(None), sign_in_failures.c.paused_until < before)))
            return gone

    def get_sign_in_failures(self, email: str) -> SignInFailures | None:
        with self._read() as conn:
            row = conn.execute(sa.select(sign_in_failures).where(
                sign_in_failures.c.email == (email or "").strip().lower())).first()
        return None if row is None else failures_from_row(row)

    def save_sign_in_failures(self, record: SignInFailures) -> SignInFailures:
        record = replace(record, email=record.email.strip().lower())
        values = {"failures": record.failures, "first_failed_at": record.first_failed_at,
                  "last_failed_at": record.last_failed_at, "paused_until": record.paused_until}
        with self._write() as conn:
            if conn.execute(sign_in_failures.update().where(sign_in_failures.c.email == record.email)
                            .values(values)).rowcount == 0:
                conn.execute(sign_in_failures.insert().values(email=record.email, **values))
        return record

    def clear_sign_in_failures(self, email: str) -> None:
        with self._write() as conn:
            conn.execute(sign_in_failures.delete().where(sign_in_failures.c.email == (email or "").strip().lower()))

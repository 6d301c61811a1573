"""Workspaces, users, memberships, invitations, dashboard sessions and failed sign-ins: the protocol and its
in-memory part."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Protocol

from core.domain import Membership, Role, User, Workspace, new_id
from core.domain.errors import DuplicateError, NotFoundError
from core.store.base import MemoryState


@dataclass(frozen=True)
class Session:
    """A signed-in browser: only the SHA-256 of the random id its cookie holds is kept."""
    id_hash: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime              # the absolute end; the idle end is last_seen_at + the idle limit
    revoked_at: datetime | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class SignInFailures:
    """Failed sign-ins for one (lower-cased) email since the last success or quiet spell."""
    email: str
    failures: int
    first_failed_at: datetime
    last_failed_at: datetime
    paused_until: datetime | None = None


@dataclass(frozen=True)
class Invitation:
    """An owner asked `email` to join a workspace as `role`. The link holds a random token; only its SHA-256 is
    kept. It works once (`accepted_at`), until `expires_at`, unless withdrawn (`revoked_at`)."""
    token_hash: str
    workspace_id: str
    email: str
    role: Role
    invited_by: str                   # the owner's user id
    created_at: datetime
    expires_at: datetime
    id: str = field(default_factory=lambda: new_id("inv"))
    accepted_at: datetime | None = None
    accepted_by: str | None = None    # the user who joined with it
    revoked_at: datetime | None = None

    def __post_init__(self):
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "email", (self.email or "").strip().lower())

    @property
    def pending(self) -> bool:
        """Neither used nor withdrawn (it may still have expired: that depends on the time)."""
        return self.accepted_at is None and self.revoked_at is None


@dataclass(frozen=True)
class KeptDraft:
    """What a person was writing in a workspace's composer, kept as they write (a reload, a closed tab or a lost
    connection loses nothing), until it is saved as a post or discarded. `fields`: the composer's fields by name
    (text, or a list of ids), as core.services.composer_drafts accepts them."""
    user_id: str
    workspace_id: str
    fields: Mapping[str, Any]
    kept_at: datetime


class PeopleStore(Protocol):
    """Who works where: workspaces, users and their memberships (one role per user and workspace)."""

    def add_workspace(self, workspace: Workspace) -> Workspace: ...
    def update_workspace(self, workspace: Workspace) -> Workspace: ...
    def get_workspace(self, workspace_id: str) -> Workspace: ...
    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]: ...
    def add_user(self, user: User) -> User: ...
    def update_user(self, user: User) -> User: ...
    def get_user(self, user_id: str) -> User: ...
    def get_user_by_email(self, email: str) -> User | None: ...
    def set_membership(self, membership: Membership) -> Membership: ...
    def get_membership(self, user_id: str, workspace_id: str) -> Membership | None: ...
    def remove_membership(self, user_id: str, workspace_id: str) -> bool: ...
    def list_memberships(self, *, user_id: str | None = None, workspace_id: str | None = None) -> list[Membership]: ...
    def add_invitation(self, invitation: Invitation) -> Invitation: ...
    def get_invitation(self, token_hash: str) -> Invitation | None: ...
    def list_invitations(self, workspace_id: str) -> list[Invitation]: ...
    def revoke_invitation(self, invitation_id: str, revoked_at: datetime) -> bool: ...
    def accept_invitation(self, invitation_id: str, user_id: str, accepted_at: datetime) -> bool: ...
    def purge_invitations(self, before: datetime) -> int: ...
    def keep_draft(self, draft: KeptDraft) -> KeptDraft: ...
    def get_kept_draft(self, user_id: str, workspace_id: str) -> KeptDraft | None: ...
    def forget_kept_draft(self, user_id: str, workspace_id: str) -> bool: ...
    def add_session(self, session: Session) -> Session: ...
    def get_session(self, id_hash: str) -> Session | None: ...
    def list_user_sessions(self, user_id: str) -> list[Session]: ...
    def touch_session(self, id_hash: str, seen_at: datetime) -> None: ...
    def revoke_session(self, id_hash: str, revoked_at: datetime) -> bool: ...
    def revoke_user_sessions(self, user_id: str, revoked_at: datetime, *, keep: str | None = None) -> int: ...
    def purge_sessions(self, before: datetime) -> int: ...
    def get_sign_in_failures(self, email: str) -> SignInFailures | None: ...
    def save_sign_in_failures(self, record: SignInFailures) -> SignInFailures: ...
    def clear_sign_in_failures(self, email: str) -> None: ...


class PeopleMemory(MemoryState):
    """`PeopleStore` in memory."""

    def add_workspace(self, workspace: Workspace) -> Workspace:
        with self._lock:
            if workspace.id in self._workspaces:
                raise DuplicateError(f"A workspace with id {workspace.id} already exists.")
            workspace = replace(workspace, created_at=workspace.created_at or self._clock())
            self._workspaces[workspace.id] = workspace
            return workspace

    def update_workspace(self, workspace: Workspace) -> Workspace:
        with self._lock:
            self.get_workspace(workspace.id)
            self._workspaces[workspace.id] = workspace
            return workspace

    def get_workspace(self, workspace_id: str) -> Workspace:
        try:
            return self._workspaces[workspace_id]
        except KeyError:
            raise NotFoundError(f"No workspace with id {workspace_id}.") from None

    def list_workspaces(self, *, user_id: str | None = None) -> list[Workspace]:
        with self._lock:
            if user_id is None:
                items = list(self._workspaces.values())
            else:
                ids = {m.workspace_id for m in self._memberships.values() if m.user_id == user_id}
                items = [w for w in self._workspaces.values() if w.id in ids]
            return sorted(items, key=lambda w: w.name.lower())

    def add_user(self, user: User) -> User:
        with self._lock:
            if user.id in self._users or self.get_user_by_email(user.email):
                raise DuplicateError(f"A user with the email {user.email} already exists.")
            user = replace(user, created_at=user.created_at or self._clock())
            self._users[user.id] = user
            return user

    def update_user(self, user: User) -> User:
        with self._lock:
            self.get_user(user.id)
            holder = self.get_user_by_email(user.email)
            if holder is not None and holder.id != user.id:
                raise DuplicateError(f"A user with the email {user.email} already exists.")
            self._users[user.id] = user
            return user

    def get_user(self, user_id: str) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFoundError(f"No user with id {user_id}.") from None

    def get_user_by_email(self, email: str) -> User | None:
        email = (email or "").strip().lower()
        return next((u for u in self._users.values() if u.email == email), None)

    def set_membership(self, membership: Membership) -> Membership:
        with self._lock:
            self.get_user(membership.user_id)
            self.get_workspace(membership.workspace_id)
            self._memberships[(membership.user_id, membership.workspace_id)] = membership
            return membership

    def get_membership(self, user_id: str, workspace_id: str) -> Membership | None:
        return self._memberships.get((user_id, workspace_id))

    def remove_membership(self, user_id: str, workspace_id: str) -> bool:
        """Take the user out of the workspace; False if they were not a member."""
        with self._lock:
            return self._memberships.pop((user_id, workspace_id), None) is not None

    def list_memberships(self, *, user_id: str | None = None, workspace_id: str | None = None) -> list[Membership]:
        return [m for m in self._memberships.values()
                if (user_id is None or m.user_id == user_id) and (workspace_id is None or m.workspace_id == workspace_id)]

    # Invitations, sessions and failed sign-ins (kept here rather than in MemoryState: only this aggregate touches
    # them).

    @property
    def _sessions(self) -> dict[str, Session]:
        return self.__dict__.setdefault("_sessions_by_hash", {})

    @property
    def _failures(self) -> dict[str, SignInFailures]:
        return self.__dict__.setdefault("_sign_in_failures", {})

    @property
    def _invitations(self) -> dict[str, Invitation]:
        return self.__dict__.setdefault("_invitations_by_id", {})

    def add_invitation(self, invitation: Invitation) -> Invitation:
        with self._lock:
            self.get_workspace(invitation.workspace_id)
            if invitation.id in self._invitations or any(i.token_hash == invitation.token_hash
                                                         for i in self._invitations.values()):
                raise DuplicateError("That invitation already exists.")
            self._invitations[invitation.id] = invitation
            return invitation

    def get_invitation(self, token_hash: str) -> Invitation | None:
        with self._lock:
            return next((i for i in self._invitations.values() if i.token_hash == token_hash), None)

    def list_invitations(self, workspace_id: str) -> list[Invitation]:
        """A workspace's invitations (used, withdrawn and expired ones too), newest first."""
        with self._lock:
            return sorted((i for i in self._invitations.values() if i.workspace_id == workspace_id),
                          key=lambda i: (i.created_at, i.id), reverse=True)

    def revoke_invitation(self, invitation_id: str, revoked_at: datetime) -> bool:
        """Withdraw an invitation; False if there was none or it was already used or withdrawn."""
        with self._lock:
            invitation = self._invitations.get(invitation_id)
            if invitation is None or not invitation.pending:
                return False
            self._invitations[invitation_id] = replace(invitation, revoked_at=revoked_at)
            return True

    def accept_invitation(self, invitation_id: str, user_id: str, accepted_at: datetime) -> bool:
        """Mark an invitation used by `user_id`; of any number of concurrent calls exactly one gets True, and
        none does once it was used or withdrawn."""
        with self._lock:
            invitation = self._invitations.get(invitation_id)
            if invitation is None or not invitation.pending:
                return False
            self._invitations[invitation_id] = replace(invitation, accepted_at=accepted_at, accepted_by=user_id)
            return True

    def purge_invitations(self, before: datetime) -> int:
        """Forget invitations settled before `before`: used or withdrawn then, or expired by then (their email
        goes with them; their link then reads as unknown). Ones still usable stay. How many went."""
        with self._lock:
            gone = [k for k, i in self._invitations.items()
                    if i.expires_at < before or (i.accepted_at is not None and i.accepted_at < before)
                    or (i.revoked_at is not None and i.revoked_at < before)]
            for k in gone:
                del self._invitations[k]
            return len(gone)

    @property
    def _kept_drafts(self) -> dict[tuple[str, str], KeptDraft]:
        return self.__dict__.setdefault("_kept_drafts_by_key", {})

    def keep_draft(self, draft: KeptDraft) -> KeptDraft:
        """Keep (or replace) what `draft.user_id` is writing in `draft.workspace_id`'s composer."""
        with self._lock:
            self.get_workspace(draft.workspace_id)
            self.get_user(draft.user_id)
            self._kept_drafts[(draft.user_id, draft.workspace_id)] = draft
            return draft

    def get_kept_draft(self, user_id: str, workspace_id: str) -> KeptDraft | None:
        with self._lock:
            return self._kept_drafts.get((user_id, workspace_id))

    def forget_kept_draft(self, user_id: str, workspace_id: str) -> bool:
        with self._lock:
            return self._kept_drafts.pop((user_id, workspace_id), None) is not None

    def add_session(self, session: Session) -> Session:
        with self._lock:
            self.get_user(session.user_id)
            if session.id_hash in self._sessions:
                raise DuplicateError("That session already exists.")
            self._sessions[session.id_hash] = session
            return session

    def get_session(self, id_hash: str) -> Session | None:
        return self._sessions.get(id_hash)

    def list_user_sessions(self, user_id: str) -> list[Session]:
        """A person's sessions (ended ones too, until purged), newest first."""
        with self._lock:
            return sorted((s for s in self._sessions.values() if s.user_id == user_id),
                          key=lambda s: s.created_at, reverse=True)

    def touch_session(self, id_hash: str, seen_at: datetime) -> None:
        with self._lock:
            session = self._sessions.get(id_hash)
            if session is not None and session.last_seen_at < seen_at:
                self._sessions[id_hash] = replace(session, last_seen_at=seen_at)

    def revoke_session(self, id_hash: str, revoked_at: datetime) -> bool:
        """End one session; False if there was none or it had already ended."""
        with self._lock:
            session = self._sessions.get(id_hash)
            if session is None or session.revoked_at is not None:
                return False
            self._sessions[id_hash] = replace(session, revoked_at=revoked_at)
            return True

    def revoke_user_sessions(self, user_id: str, revoked_at: datetime, *, keep: str | None = None) -> int:
        """End every open session of a user but the one hashed `keep`; how many were ended."""
        with self._lock:
            open_ = [s for s in self._sessions.values()
                     if s.user_id == user_id and s.revoked_at is None and s.id_hash != keep]
            for s in open_:
                self._sessions[s.id_hash] = replace(s, revoked_at=revoked_at)
            return len(open_)

    def purge_sessions(self, before: datetime) -> int:
        """Forget sessions that ended (revoked or expired) before `before`, and failed sign-ins last seen before
        it; how many sessions went."""
        with self._lock:
            gone = [h for h, s in self._sessions.items()
                    if (s.revoked_at is not None and s.revoked_at < before) or s.expires_at < before]
            for h in gone:
                del self._sessions[h]
            for email in [e for e, f in self._failures.items() if f.last_failed_at < before
                          and (f.paused_until is None or f.paused_until < before)]:
                del self._failures[email]
            return len(gone)

    def get_sign_in_failures(self, email: str) -> SignInFailures | None:
        return self._failures.get((email or "").strip().lower())

    def save_sign_in_failures(self, record: SignInFailures) -> SignInFailures:
        with self._lock:
            record = replace(record, email=record.email.strip().lower())
            self._failures[record.email] = record
            return record

    def clear_sign_in_failures(self, email: str) -> None:
        with self._lock:
            self._failures.pop((email or "").strip().lower(), None)

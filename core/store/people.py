"""Workspaces, users and memberships: the protocol and its in-memory part.

(Sessions will join this aggregate.)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from core.domain import Membership, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError
from core.store.base import MemoryState


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

"""Who is in a workspace, and with which role: list, add, change, remove.

Every member may see who else is in the workspace (a refusal says "ask an owner": people need to know who
that is). Adding, changing and removing are for owners (`Action.MANAGE_MEMBERS`, `core.rules.permissions`), checked
before anything is read or written. People who have an Outpost account can be added by its email; everyone
else is invited (`core.services.invitations`: a link that creates their account). A workspace always keeps at least one owner: the last one can be neither demoted nor removed.
Each change records an activity event (``member.added``, ``member.role_changed``, ``member.removed``) naming
who acted and, in `details`, whose membership changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from core.domain import ActivityEvent, Membership, Role, User
from core.domain.errors import DuplicateError, NotFoundError, Problem, ValidationError
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.domain.timeutil import utcnow

__all__ = ["list_members", "add_member", "change_role", "remove_member"]

LAST_OWNER = "A workspace needs at least one owner."
_ORDER = {role: i for i, role in enumerate(Role)}


@dataclass(frozen=True)
class Member:
    """One person in a workspace, as the members list shows them."""

    user_id: str
    email: str
    display_name: str
    role: Role

    @property
    def name(self) -> str:
        return self.display_name or self.email


def list_members(store: PostStore, actor: Actor, workspace_id: str) -> list[Member]:
    """Everyone in the workspace, owners first, then by name."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    members = [_member(store.get_user(m.user_id), m.role)
               for m in store.list_memberships(workspace_id=workspace_id)]
    return sorted(members, key=lambda m: (_ORDER[m.role], m.name.lower(), m.email))


def add_member(store: PostStore, actor: Actor, workspace_id: str, email: str, role: Role | str, *,
               clock: Callable[[], datetime] = utcnow) -> Member:
    """Add the person who signed up with `email` to the workspace with `role`."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    role = _role(role)
    address = (email or "").strip()
    if not address:
        raise ValidationError(Problem("email_missing", "Enter the email address the person signed up with.",
                                      field="email"))
    user = store.get_user_by_email(address)
    if user is None:
        raise ValidationError(Problem("no_such_user", f"No one has signed up to Outpost with {address}. "
                                      "Ask them to create an account first.", field="email"))
    current = store.get_membership(user.id, workspace_id)
    if current is not None:
        raise DuplicateError(f"{_name(user)} is already in this workspace (as {_a(current.role)}); "
                             "change their role instead.")
    store.set_membership(Membership(user_id=user.id, workspace_id=workspace_id, role=role))
    _record(store, actor, clock, "member.added", workspace_id, user, to_role=role)
    return _member(user, role)


def change_role(store: PostStore, actor: Actor, workspace_id: str, user_id: str, role: Role | str, *,
                clock: Callable[[], datetime] = utcnow) -> Member:
    """Give a member another role; the last owner keeps theirs. Changing to the same role changes nothing."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    role = _role(role)
    user, current = _membership(store, workspace_id, user_id)
    if current.role == role:
        return _member(user, role)
    if current.role == Role.OWNER:
        _keep_an_owner(store, workspace_id, user_id)
    store.set_membership(Membership(user_id=user_id, workspace_id=workspace_id, role=role))
    if current.role == Role.OWNER:
        _still_an_owner(store, workspace_id, current)
    _record(store, actor, clock, "member.role_changed", workspace_id, user, from_role=current.role, to_role=role)
    return _member(user, role)


def remove_member(store: PostStore, actor: Actor, workspace_id: str, user_id: str, *,
                  clock: Callable[[], datetime] = utcnow) -> None:
    """Take a member out of the workspace (their account and what they wrote stay); not the last owner."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    user, current = _membership(store, workspace_id, user_id)
    if current.role == Role.OWNER:
        _keep_an_owner(store, workspace_id, user_id)
    if not store.remove_membership(user_id, workspace_id):   # removed meanwhile by someone else
        raise NotFoundError(f"{_name(user)} is not in this workspace.")
    if current.role == Role.OWNER:
        _still_an_owner(store, workspace_id, current)
    _record(store, actor, clock, "member.removed", workspace_id, user, from_role=current.role)


# ---------------------------------------------------------------- helpers
def _role(role: Role | str) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        raise ValidationError(Problem("unknown_role", f"'{role}' is not a role: choose "
                                      + ", ".join(r.value for r in Role) + ".", field="role")) from None


def _membership(store: PostStore, workspace_id: str, user_id: str) -> tuple[User, Membership]:
    current = store.get_membership(user_id, workspace_id)
    if current is None:
        raise NotFoundError("That person is not in this workspace.")
    return store.get_user(user_id), current


def _keep_an_owner(store: PostStore, workspace_id: str, leaving: str) -> None:
    others = [m for m in store.list_memberships(workspace_id=workspace_id)
              if m.role == Role.OWNER and m.user_id != leaving]
    if not others:
        raise _last_owner()


def _last_owner() -> ValidationError:
    return ValidationError(Problem("last_owner", f"{LAST_OWNER} Make someone else an owner first."))


def _still_an_owner(store: PostStore, workspace_id: str, before: Membership) -> None:
    """Two owners demoting (or removing) each other at once both pass `_keep_an_owner`; whichever then finds no
    owner left puts its own change back and is refused, so the workspace is never left without one."""
    if not any(m.role == Role.OWNER for m in store.list_memberships(workspace_id=workspace_id)):
        store.set_membership(before)
        raise _last_owner()


def _record(store: PostStore, actor: Actor, clock, action: str, workspace_id: str, user: User, *,
            from_role: Role | None = None, to_role: Role | None = None) -> None:
    store.record_event(ActivityEvent(action=action, subject_type="membership", subject_id=user.id, at=clock(),
                                     actor=actor.label, workspace_id=workspace_id,
                                     from_state=from_role.value if from_role else None,
                                     to_state=to_role.value if to_role else None,
                                     details={"email": user.email}))


def _member(user: User, role: Role) -> Member:
    return Member(user_id=user.id, email=user.email, display_name=user.display_name, role=role)


def _name(user: User) -> str:
    return user.display_name or user.email


def _a(role: Role) -> str:
    return ("an " if role.value[0] in "aeiou" else "a ") + role.value

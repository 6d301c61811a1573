"""Who may do what: the actor, the one table of roles × actions, and the one check.

Every service that touches a workspace's data is told who acts (an `Actor`) and calls `check` before it
reads or writes anything. Pages may hide what a role cannot do, but the rule is here, once::

    actor = Actor.for_user(user.id, store.list_memberships(user_id=user.id))
    Scheduler(store, actor=actor).approve("post-1")   # PermissionDenied for a viewer or an outsider

The table is derived from `Role`'s own properties (``can_edit``, ``can_approve``, ``can_connect_accounts``,
``can_manage_workspace``), so changing what a role may do is one edit there.

Scripts, the runner and the README's examples act as a named system actor (`Actor.system("script")`), which
may do everything in every workspace. Data with no workspace (posts and accounts a script made without one)
belongs to no team: only system actors may see or change it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Callable, Iterable, Mapping

from core.domain import Membership, Role
from core.domain.errors import PermissionDenied


class Action(StrEnum):
    VIEW = "view"                          # read posts, their status and the calendar
    EDIT_POSTS = "edit_posts"              # write, schedule, queue, reschedule, edit, send back to draft
    SUBMIT = "submit"                      # ask for approval
    APPROVE = "approve"                    # approve or reject
    CANCEL = "cancel"                      # stop a post from going out
    SETTLE = "settle"                      # decide a delivery the runner could not (it is live / again / drop)
    CONNECT_ACCOUNTS = "connect_accounts"  # connect, add or edit social accounts
    MANAGE_MEMBERS = "manage_members"      # invite people and change their roles, workspace settings
    MANAGE_HASHTAGS = "manage_hashtags"    # create, rename or delete the workspace's saved hashtag groups
    REMOVE_DEMO = "remove_demo"            # remove the sandbox's demo history (it disconnects the demo's accounts)


# One row per action: who may, in words for the refusal, derived from Role's properties.
_RULES: dict[Action, tuple[Callable[[Role], bool], str]] = {
    Action.VIEW: (lambda r: True, "see this workspace's posts"),
    Action.EDIT_POSTS: (lambda r: r.can_edit, "write or change posts"),
    Action.SUBMIT: (lambda r: r.can_edit, "submit posts for approval"),
    Action.APPROVE: (lambda r: r.can_approve, "approve or reject posts"),
    # Stopping a post is the safe direction: whoever may write it or approve it may stop it.
    Action.CANCEL: (lambda r: r.can_edit or r.can_approve, "cancel posts"),
    Action.SETTLE: (lambda r: r.can_edit, "decide what happens to a post the runner could not confirm"),
    Action.CONNECT_ACCOUNTS: (lambda r: r.can_connect_accounts, "connect or change accounts"),
    Action.MANAGE_MEMBERS: (lambda r: r.can_manage_workspace, "manage members"),
    Action.MANAGE_HASHTAGS: (lambda r: r.can_edit, "create, rename or delete hashtag groups"),
    # Removing the demo deletes a workspace's history and disconnects accounts: the workspace's owner decides.
    Action.REMOVE_DEMO: (lambda r: r.can_manage_workspace, "remove the demo data"),
}
_PLURAL = {Role.OWNER: "Owners", Role.EDITOR: "Editors", Role.APPROVER: "Approvers", Role.VIEWER: "Viewers"}


def allows(role: Role | str, action: Action) -> bool:
    """Whether `role` may do `action` in its own workspace (the table above)."""
    return _RULES[Action(action)][0](Role(role))


def roles_allowed(action: Action) -> tuple[Role, ...]:
    """The roles that may do `action`, in Role's order."""
    return tuple(r for r in Role if allows(r, action))


def _ask(action: Action) -> str:
    names = [r.value for r in roles_allowed(action)]
    if not names:
        return "nobody can"
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return ("an " if words[0] in "aeiou" else "a ") + words


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in person with their role in each of their workspaces, or a named system actor.

    `label` is what the activity log records ("user:<id>", "system:<name>").
    """

    label: str
    user_id: str | None = None
    memberships: tuple[Membership, ...] = ()
    is_system: bool = False

    @classmethod
    def system(cls, name: str) -> "Actor":
        """A script, job or the runner: allowed everything, everywhere. Name it after what it is."""
        name = (name or "").strip()
        if not name:
            raise ValueError("A system actor needs a name (e.g. Actor.system('import-script')).")
        return cls(label=f"system:{name}", is_system=True)

    @classmethod
    def for_user(cls, user_id: str, memberships: Iterable[Membership] | Mapping[str, Role | str] = ()) -> "Actor":
        """A person, with their memberships (or a ``{workspace_id: role}`` mapping)."""
        if isinstance(memberships, Mapping):
            memberships = [Membership(user_id=user_id, workspace_id=ws, role=Role(r)) for ws, r in memberships.items()]
        own = tuple(m for m in memberships if m.user_id == user_id)
        return cls(label=f"user:{user_id}", user_id=user_id, memberships=own)

    @classmethod
    def of(cls, store, user_id: str) -> "Actor":
        """A person as the store knows them now (their memberships are read once)."""
        return cls.for_user(user_id, store.list_memberships(user_id=user_id))

    def role_in(self, workspace_id: str | None) -> Role | None:
        """The actor's role in a workspace, or None when it is not a member (system actors have none)."""
        for m in self.memberships:
            if m.workspace_id == workspace_id:
                return m.role
        return None

    @property
    def workspace_ids(self) -> frozenset[str]:
        return frozenset(m.workspace_id for m in self.memberships)

    def can(self, action: Action, workspace_id: str | None) -> bool:
        try:
            check(self, action, workspace_id)
        except PermissionDenied:
            return False
        return True

    def sees(self, workspace_id: str | None) -> bool:
        """Whether something in `workspace_id` is visible to this actor (reads filter with this)."""
        return self.can(Action.VIEW, workspace_id)


# What scripts and the README's Python API act as when they name no one.
SCRIPT = Actor.system("script")


def check(actor: Actor, action: Action, workspace_id: str | None, *, subject: str = "post") -> None:
    """Refuse, in plain words, what `actor` may not do to a `subject` of `workspace_id`; return None otherwise.

    `subject` names what is refused ("post", "account"); ``"workspace"`` is for operations on a workspace as a
    whole (its post list, its members), refused to outsiders as "You are not a member of this workspace."
    """
    if not isinstance(actor, Actor):
        raise TypeError("Pass an Actor: Actor.for_user(...) for a person, Actor.system('name') for a script.")
    action = Action(action)
    if actor.is_system:
        return
    if workspace_id is None:
        raise PermissionDenied("Choose a workspace; only scripts can work across workspaces." if subject == "workspace"
                               else f"This {subject} belongs to no workspace; only scripts can use it.",
                               action=action, workspace_id=None, code="no_workspace")
    role = actor.role_in(workspace_id)
    if role is None:
        # A whole workspace (its lists, its members) is not "another workspace's": the person is not in it.
        raise PermissionDenied("You are not a member of this workspace." if subject == "workspace"
                               else f"This {subject} belongs to another workspace.", action=action,
                               workspace_id=workspace_id, code="other_workspace")
    if not allows(role, action):
        raise PermissionDenied(f"{_PLURAL[role]} cannot {_RULES[action][1]}; ask {_ask(action)}.", action=action,
                               workspace_id=workspace_id, role=role, code="role")

"""Invitations: how a second person gets into a workspace.

An owner (`Action.MANAGE_MEMBERS`) invites an email with a role. Outpost makes a random token and keeps only its
SHA-256 (as it does for sessions); the owner gets the link once, `invite_link(dashboard_url, token)`, and sends it
themselves (Outpost sends no email). Inviting the same email again withdraws the earlier link. Owners see the
pending invitations and may withdraw (revoke) one.

Whoever opens the link (`look_up`) is told, in words, what it is: "join Acme as an approver", or that it expired,
was withdrawn, was used, or is not a link Outpost made. Only the link's holder learns whether the invited email
already has an Outpost account (the owner's side looks the same either way). `join` then either creates the account
(the email is the invited one, fixed: name and password are the person's) or, for an email that has one, checks
its password through `auth.sign_in` (the same brake on guessing as the sign-in form); then the person becomes a
member with the invited role and the invitation is used, once. A person already signed in with the invited email
joins with `join_signed_in`. Each step is an activity event: ``member.invited``, ``member.invitation_revoked``,
``member.joined``.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from core.domain import ActivityEvent, Membership, Role, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError, OutpostError, Problem, ValidationError
from core.domain.timeutil import zone
from core.rules.permissions import Action, Actor, check
from core.services import auth
from core.services.members import _a, _name, _role
from core.store import PostStore
from core.store.people import Invitation

__all__ = ["invite_member", "pending_invitations", "revoke_invitation", "look_up", "join", "join_signed_in",
           "invite_link", "INVITE_PARAM", "INVITATION_TTL", "Invited", "PendingInvitation", "InvitationLook",
           "LinkState", "InvitationRefused"]

INVITATION_TTL = timedelta(days=7)
INVITE_PARAM = "invite"          # the dashboard's query parameter: /?invite=<token>


def invite_link(dashboard_url: str, token: str) -> str:
    """The address to send: the dashboard's home page with the token."""
    return f"{dashboard_url.rstrip('/')}/?{INVITE_PARAM}={quote(token, safe='')}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(b"invite:" + token.encode("utf-8")).hexdigest()


class InvitationRefused(OutpostError):
    """The link cannot be used (expired, withdrawn, used, unknown, or for someone already in), in words."""


@dataclass(frozen=True)
class Invited:
    """What the owner gets back: the link's token (shown once) and the invitation."""
    token: str
    invitation: Invitation


@dataclass(frozen=True)
class PendingInvitation:
    """One row of the owner's list of invitations not used yet."""
    id: str
    email: str
    role: Role
    invited_by: str          # the inviter's name
    created_at: datetime
    expires_at: datetime


class LinkState(StrEnum):
    OPEN = "open"                      # can be used
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED = "used"
    UNKNOWN = "unknown"                # not a link Outpost made (or its workspace is gone)
    ALREADY_MEMBER = "already_member"  # the invited email is in the workspace already


@dataclass(frozen=True)
class InvitationLook:
    """What the join page shows to whoever holds the link."""
    state: LinkState
    message: str                       # in words, for every state
    email: str = ""
    role: Role | None = None
    workspace_id: str = ""
    workspace_name: str = ""
    inviter: str = ""
    has_account: bool = False          # told only to the link's holder

    @property
    def open(self) -> bool:
        return self.state == LinkState.OPEN

    def not_for(self, signed_in_email: str) -> str | None:
        """Why someone signed in with another email cannot use this link (None when it is theirs)."""
        if signed_in_email == self.email:
            return None
        return (f"This invitation is for {self.email}, and you are signed in as {signed_in_email}. "
                "Sign out, then open the link again.")


# ---------------------------------------------------------------- the owner's side

def invite_member(store: PostStore, actor: Actor, workspace_id: str, email: str, role: Role | str, *,
                  now: datetime) -> Invited:
    """Invite `email` to the workspace as `role`; the link's token comes back once. An earlier pending link for the
    same email stops working. Someone already in the workspace is not invited (change their role instead)."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    role = _role(role)
    address = (email or "").strip()
    if not address:
        raise ValidationError(Problem("email_missing", "Enter the email address to send the invitation to.",
                                      field="email"))
    address = User(email=address).email          # the one email rule (refuses what is not an address), lower-cased
    store.get_workspace(workspace_id)
    user = store.get_user_by_email(address)
    if user is not None and (current := store.get_membership(user.id, workspace_id)) is not None:
        # Owners see the members list anyway: this tells them nothing about who else uses Outpost.
        raise DuplicateError(f"{_name(user)} is already in this workspace (as {_a(current.role)}); "
                             "change their role instead.")
    for earlier in store.list_invitations(workspace_id):
        if earlier.email == address and earlier.pending:
            store.revoke_invitation(earlier.id, now)
    token = secrets.token_urlsafe(32)
    invitation = store.add_invitation(Invitation(
        token_hash=_token_hash(token), workspace_id=workspace_id, email=address, role=role,
        invited_by=actor.user_id or "", created_at=now, expires_at=now + INVITATION_TTL))
    _record(store, actor.label, now, "member.invited", invitation, to_role=role)
    return Invited(token=token, invitation=invitation)


def pending_invitations(store: PostStore, actor: Actor, workspace_id: str, *, now: datetime) -> list[PendingInvitation]:
    """The workspace's invitations that can still be used, newest first (owners only: they hold people's emails)."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    rows, inviters = [], {}
    for i in store.list_invitations(workspace_id):
        if i.pending and now < i.expires_at and _inviter_still_owns(store, i):
            if i.invited_by not in inviters:            # one read per inviter, not per row
                inviters[i.invited_by] = _inviter(store, i)
            rows.append(PendingInvitation(id=i.id, email=i.email, role=i.role, invited_by=inviters[i.invited_by],
                                          created_at=i.created_at, expires_at=i.expires_at))
    return rows


def revoke_invitation(store: PostStore, actor: Actor, workspace_id: str, invitation_id: str, *,
                      now: datetime) -> None:
    """Withdraw a pending invitation: its link then says it was withdrawn."""
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")
    invitation = next((i for i in store.list_invitations(workspace_id) if i.id == invitation_id), None)
    if invitation is None:
        raise NotFoundError("This workspace has no such invitation.")
    if not store.revoke_invitation(invitation.id, now):     # used or withdrawn, perhaps just now by someone else
        now_stored = store.get_invitation(invitation.token_hash) or invitation
        raise InvitationRefused(f"The invitation for {invitation.email} was already "
                                f"{'used' if now_stored.accepted_at is not None else 'withdrawn'}.")
    _record(store, actor.label, now, "member.invitation_revoked", invitation, from_role=invitation.role)


# ---------------------------------------------------------------- the invited person's side

def look_up(store: PostStore, token: str | None, *, now: datetime, user_id: str | None = None) -> InvitationLook:
    """What the link is, for whoever opened it (`user_id`: the person signed in in that browser, if any)."""
    return _look(store, token, now, user_id).look


@dataclass(frozen=True)
class _Read:
    """`look_up`'s answer with the invitation and workspace it read (None for a link Outpost did not make), so
    joining does not read them again."""
    look: InvitationLook
    invitation: Invitation | None = None
    workspace: Workspace | None = None


def _look(store: PostStore, token: str | None, now: datetime, user_id: str | None = None) -> _Read:
    invitation = store.get_invitation(_token_hash(token)) if isinstance(token, str) and token else None
    workspace = _workspace(store, invitation)
    if invitation is None or workspace is None:
        return _Read(InvitationLook(LinkState.UNKNOWN, "This invitation link is not one Outpost made. Check that "
                                    "you copied all of it, or ask the person who invited you for a new one."))
    return _Read(_state(store, invitation, workspace, now, user_id), invitation, workspace)


def _state(store: PostStore, invitation: Invitation, workspace: Workspace, now: datetime,
           user_id: str | None) -> InvitationLook:
    inviter = _inviter(store, invitation)
    base = dict(email=invitation.email, role=invitation.role, workspace_id=workspace.id, workspace_name=workspace.name,
                inviter=inviter)
    if user_id is not None and store.get_membership(user_id, workspace.id) is not None:
        return InvitationLook(LinkState.ALREADY_MEMBER, f"You are already a member of {workspace.name}.", **base)
    if invitation.accepted_at is not None:
        return InvitationLook(LinkState.USED, f"This invitation to {workspace.name} has already been used. If it "
                              "was you, sign in.", **base)
    if invitation.revoked_at is not None:
        return InvitationLook(LinkState.REVOKED, f"This invitation to {workspace.name} was withdrawn. Ask {inviter} "
                              "or another owner of the workspace to invite you again.", **base)
    if now >= invitation.expires_at:
        return InvitationLook(LinkState.EXPIRED, f"This invitation to {workspace.name} expired on "
                              f"{_day(invitation.expires_at, workspace)}. Ask {inviter} or another owner of the "
                              "workspace to invite you again.", **base)
    if not _inviter_still_owns(store, invitation):
        # An owner removed or made editor since: what they sent no longer speaks for the workspace.
        return InvitationLook(LinkState.REVOKED, f"The person who invited you no longer manages {workspace.name}, so "
                              "this invitation was withdrawn. Ask an owner of the workspace for a new link.", **base)
    user = store.get_user_by_email(invitation.email)
    if user is not None and store.get_membership(user.id, workspace.id) is not None:
        return InvitationLook(LinkState.ALREADY_MEMBER, f"{invitation.email} is already a member of "
                              f"{workspace.name}: sign in to open it.", has_account=True, **base)
    return InvitationLook(LinkState.OPEN, f"{inviter} invited you to join {workspace.name} as {_a(invitation.role)}.",
                          has_account=user is not None, **base)


def join(store: PostStore, token: str | None, *, password: str, display_name: str = "",
         now: datetime) -> tuple[User, Workspace]:
    """Use the link: a new person gets an account with the invited email (`display_name`, `password`); a person who
    has one signs in with its password. Either way they become a member with the invited role."""
    opened = _open(store, token, now)
    look = opened.look
    if look.has_account:
        user = auth.sign_in(store, look.email, password, now=now)          # SignInRefused, braked, in words
    else:
        problems: list[Problem] = []
        name = " ".join((display_name or "").split())
        if not name:
            problems.append(Problem("name_required", "Enter your name: your team sees it beside your posts.",
                                    field="display_name"))
        try:
            auth.check_password_strength(password)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ValidationError(problems)
        # The link is taken before the account is made: an owner withdrawing it meanwhile leaves no account without
        # a workspace behind (the person is told it was withdrawn, and nothing was stored for them).
        newcomer = User(email=look.email, display_name=name, password_hash=auth.hash_password(password))
        return _become_member(store, token, opened, newcomer, now, create=True)
    return _become_member(store, token, opened, user, now)


def join_signed_in(store: PostStore, token: str | None, user_id: str, *, now: datetime) -> tuple[User, Workspace]:
    """A person signed in with the invited email joins without typing their password again."""
    opened = _open(store, token, now)
    user = store.get_user(user_id)
    if (wrong := opened.look.not_for(user.email)) is not None:
        raise InvitationRefused(wrong)
    return _become_member(store, token, opened, user, now)


# ---------------------------------------------------------------- helpers

def _open(store: PostStore, token: str | None, now: datetime) -> _Read:
    """The link's look with the invitation and workspace it read; InvitationRefused, in words, unless it is open."""
    opened = _look(store, token, now)
    if not opened.look.open:
        raise InvitationRefused(opened.look.message)
    return opened


def _become_member(store: PostStore, token: str, opened: _Read, user: User, now: datetime, *,
                   create: bool = False) -> tuple[User, Workspace]:
    # The invitation as `_open` read it: its used and withdrawn marks may be stale, which accept_invitation settles.
    invitation = opened.invitation
    if not create and store.get_membership(user.id, invitation.workspace_id) is not None:
        raise InvitationRefused(f"{user.email} is already a member of this workspace: sign in to open it.")
    if not _inviter_still_owns(store, invitation):
        raise InvitationRefused(look_up(store, token, now=now).message)
    if not store.accept_invitation(invitation.id, user.id, now):          # once, whoever comes first
        taken = store.get_invitation(invitation.token_hash) or invitation
        if taken.revoked_at is not None:
            raise InvitationRefused("This invitation was withdrawn just now: ask an owner of the workspace for a new "
                                    "link. Nothing was stored for you.")
        raise InvitationRefused("This invitation has just been used. If it was you, sign in.")
    if create:
        try:
            user = store.add_user(user)
        except DuplicateError:     # an account with this email appeared meanwhile: it signs in to join
            raise InvitationRefused(f"An Outpost account with {user.email} was made just now: sign in with it, "
                                    "then ask an owner for a new link.") from None
    store.set_membership(Membership(user_id=user.id, workspace_id=invitation.workspace_id, role=invitation.role))
    _record(store, f"user:{user.id}", now, "member.joined", invitation, to_role=invitation.role, user=user)
    return user, opened.workspace


def _inviter_still_owns(store: PostStore, invitation: Invitation) -> bool:
    """Whether who sent the invitation still owns its workspace (an invitation made by a script has no inviter)."""
    if not invitation.invited_by:
        return True
    membership = store.get_membership(invitation.invited_by, invitation.workspace_id)
    return membership is not None and membership.role == Role.OWNER


def _workspace(store: PostStore, invitation: Invitation | None) -> Workspace | None:
    if invitation is None:
        return None
    try:
        return store.get_workspace(invitation.workspace_id)
    except NotFoundError:
        return None


def _inviter(store: PostStore, invitation: Invitation) -> str:
    try:
        return _name(store.get_user(invitation.invited_by))
    except NotFoundError:
        return "an owner"


def _day(at: datetime, workspace: Workspace) -> str:
    return at.astimezone(zone(workspace.timezone_name)).strftime("%d %b %Y at %H:%M").lstrip("0")


def _record(store: PostStore, actor_label: str, now: datetime, action: str, invitation: Invitation, *,
            from_role: Role | None = None, to_role: Role | None = None, user: User | None = None) -> None:
    # Joining is about the member (as member.added is); inviting and withdrawing are about the invitation.
    store.record_event(ActivityEvent(action=action, subject_type="membership" if user else "invitation",
                                     subject_id=user.id if user else invitation.id, at=now, actor=actor_label,
                                     workspace_id=invitation.workspace_id,
                                     from_state=from_role.value if from_role else None,
                                     to_state=to_role.value if to_role else None,
                                     details={"email": invitation.email, "invitation_id": invitation.id}))

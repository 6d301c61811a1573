"""Inviting teammates (core.services.invitations): an owner invites an email with a role and gets a link once; the
link's holder joins (a new person creates their account, someone with an account signs in); expired, withdrawn,
used and unknown links say so in words; only owners invite, list and withdraw. Run on every store (memory, SQLite,
PostgreSQL with OUTPOST_TEST_POSTGRES_URL) on the controllable clock."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import Membership, Role, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError, PermissionDenied, ValidationError
from core.rules.permissions import Actor
from core.services import auth
from core.services.invitations import (InvitationRefused, LinkState, invite_link, invite_member, join,
                                       join_signed_in, look_up, pending_invitations, revoke_invitation)
from core.services.members import add_member

PASSWORD = "correct horse battery"


class Team:
    """Acme: Olive owns it, Eddie edits; Vera has an Outpost account (another workspace) but is not in Acme."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self.ws = store.add_workspace(Workspace(name="Acme", timezone_name="Europe/Berlin", id="ws_acme")).id
        self.other = store.add_workspace(Workspace(name="Elsewhere", id="ws_else")).id
        self.olive = store.add_user(User(email="olive@acme.test", display_name="Olive", id="user_olive"))
        self.eddie = store.add_user(User(email="eddie@acme.test", display_name="Eddie", id="user_eddie"))
        self.vera = store.add_user(User(email="vera@else.test", display_name="Vera", id="user_vera",
                                        password_hash=auth.hash_password(PASSWORD)))
        store.set_membership(Membership(user_id=self.olive.id, workspace_id=self.ws, role=Role.OWNER))
        store.set_membership(Membership(user_id=self.eddie.id, workspace_id=self.ws, role=Role.EDITOR))
        store.set_membership(Membership(user_id=self.vera.id, workspace_id=self.other, role=Role.OWNER))

    @property
    def owner(self) -> Actor:
        return Actor.of(self.store, self.olive.id)

    def invite(self, email="ana@example.test", role=Role.APPROVER):
        return invite_member(self.store, self.owner, self.ws, email, role, now=self.clock.now)

    def roles(self) -> dict[str, Role]:
        return {m.user_id: m.role for m in self.store.list_memberships(workspace_id=self.ws)}

    def events(self) -> list[tuple[str, str | None]]:
        return [(e.action, e.details.get("email")) for e in reversed(self.store.list_events(workspace_id=self.ws))
                if e.action.startswith("member.")]


@pytest.fixture
def team(store, clock) -> Team:
    return Team(store, clock)


# ---------------------------------------------------------------- inviting, and the link's holder joining

def test_a_new_person_joins_with_the_link_and_can_sign_in(team):
    sent = team.invite(" Ana@Example.TEST ", "approver")
    assert invite_link("http://127.0.0.1:8501/", sent.token) == f"http://127.0.0.1:8501/?invite={sent.token}"
    assert team.store.get_invitation(sent.token) is None                    # only the token's hash is kept
    [row] = pending_invitations(team.store, team.owner, team.ws, now=team.clock.now)
    assert (row.email, row.role, row.invited_by, row.expires_at) == (
        "ana@example.test", Role.APPROVER, "Olive", team.clock.now + timedelta(days=7))

    look = look_up(team.store, sent.token, now=team.clock.advance(days=2))
    assert (look.state, look.message) == (LinkState.OPEN, "Olive invited you to join Acme as an approver.")
    assert (look.email, look.workspace_name, look.has_account) == ("ana@example.test", "Acme", False)

    user, ws = join(team.store, sent.token, display_name=" Ana  Bell ", password=PASSWORD, now=team.clock.now)
    assert (user.email, user.display_name, ws.id) == ("ana@example.test", "Ana Bell", team.ws)
    assert team.roles()[user.id] == Role.APPROVER
    assert auth.sign_in(team.store, "ana@example.test", PASSWORD, now=team.clock.now) == user
    assert pending_invitations(team.store, team.owner, team.ws, now=team.clock.now) == []
    assert team.events() == [("member.invited", "ana@example.test"), ("member.joined", "ana@example.test")]
    invited, joined = reversed(team.store.list_events(workspace_id=team.ws))
    assert (invited.subject_type, invited.actor, joined.subject_type, joined.subject_id, joined.actor) == (
        "invitation", f"user:{team.olive.id}", "membership", user.id, f"user:{user.id}")


def test_someone_with_an_account_signs_in_to_join(team):
    sent = team.invite("vera@else.test", Role.EDITOR)
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert look.open and look.has_account                                    # the link's holder is told, to sign in
    with pytest.raises(auth.SignInRefused, match="^That email and password do not match an account.$"):
        join(team.store, sent.token, password="not her password", now=team.clock.now)
    assert team.vera.id not in team.roles() and look_up(team.store, sent.token, now=team.clock.now).open
    user, _ = join(team.store, sent.token, password=PASSWORD, display_name="ignored", now=team.clock.now)
    assert user == team.vera and team.roles()[team.vera.id] == Role.EDITOR
    assert team.store.list_memberships(user_id=team.vera.id)[0].workspace_id in (team.ws, team.other)
    assert len(team.store.list_memberships(user_id=team.vera.id)) == 2      # her own workspace stays


def test_a_person_signed_in_with_the_invited_email_joins_without_a_password(team):
    sent = team.invite("vera@else.test", Role.VIEWER)
    with pytest.raises(InvitationRefused, match="^This invitation is for vera@else.test, and you are signed in as "
                                                "eddie@acme.test. Sign out, then open the link again.$"):
        join_signed_in(team.store, sent.token, team.eddie.id, now=team.clock.now)
    user, ws = join_signed_in(team.store, sent.token, team.vera.id, now=team.clock.now)
    assert (user, ws.name, team.roles()[team.vera.id]) == (team.vera, "Acme", Role.VIEWER)
    # opening the link again, signed in: she is told she is in, not asked to sign in
    look = look_up(team.store, sent.token, now=team.clock.now, user_id=team.vera.id)
    assert (look.state, look.message) == (LinkState.ALREADY_MEMBER, "You are already a member of Acme.")


def test_a_new_persons_form_is_told_every_problem_at_once_and_nothing_is_stored(team):
    sent = team.invite()
    with pytest.raises(ValidationError) as refused:
        join(team.store, sent.token, display_name="  ", password="short", now=team.clock.now)
    assert [p.message for p in refused.value.problems] == [
        "Enter your name: your team sees it beside your posts.", "Use a password of at least 10 characters."]
    assert team.store.get_user_by_email("ana@example.test") is None
    assert look_up(team.store, sent.token, now=team.clock.now).open


def test_the_owners_side_looks_the_same_whether_or_not_the_email_has_an_account(team):
    """An owner learns nothing about who uses Outpost: both invitations are made and listed alike."""
    for email in ("vera@else.test", "nobody@else.test"):
        team.invite(email, Role.VIEWER)
    rows = pending_invitations(team.store, team.owner, team.ws, now=team.clock.now)
    assert sorted((r.email, r.role, r.invited_by) for r in rows) == [
        ("nobody@else.test", Role.VIEWER, "Olive"), ("vera@else.test", Role.VIEWER, "Olive")]


# ---------------------------------------------------------------- links that cannot be used, said in words

def test_an_expired_link_says_when_it_expired(team):
    sent = team.invite()
    team.clock.advance(days=7)
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert look.state == LinkState.EXPIRED
    assert look.message == ("This invitation to Acme expired on 11 Mar 2030 at 09:00. Ask Olive or another owner "
                            "of the workspace to invite you again.")                # Berlin time, the workspace's
    with pytest.raises(InvitationRefused, match="^This invitation to Acme expired"):
        join(team.store, sent.token, display_name="Ana", password=PASSWORD, now=team.clock.now)
    assert team.store.get_user_by_email("ana@example.test") is None
    assert pending_invitations(team.store, team.owner, team.ws, now=team.clock.now) == []


def test_a_withdrawn_link_says_so(team):
    sent = team.invite()
    [row] = pending_invitations(team.store, team.owner, team.ws, now=team.clock.now)
    revoke_invitation(team.store, team.owner, team.ws, row.id, now=team.clock.now)
    assert pending_invitations(team.store, team.owner, team.ws, now=team.clock.now) == []
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert (look.state, look.message) == (LinkState.REVOKED, "This invitation to Acme was withdrawn. Ask Olive or "
                                          "another owner of the workspace to invite you again.")
    with pytest.raises(InvitationRefused, match="was withdrawn"):
        join(team.store, sent.token, display_name="Ana", password=PASSWORD, now=team.clock.now)
    with pytest.raises(InvitationRefused, match="^The invitation for ana@example.test was already withdrawn.$"):
        revoke_invitation(team.store, team.owner, team.ws, row.id, now=team.clock.now)
    assert team.events() == [("member.invited", "ana@example.test"),
                             ("member.invitation_revoked", "ana@example.test")]


def test_a_link_works_once(team):
    sent = team.invite()
    join(team.store, sent.token, display_name="Ana", password=PASSWORD, now=team.clock.now)
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert (look.state, look.message) == (LinkState.USED, "This invitation to Acme has already been used. If it was "
                                          "you, sign in.")
    with pytest.raises(InvitationRefused, match="already been used"):
        join(team.store, sent.token, display_name="Someone", password="another long password", now=team.clock.now)
    with pytest.raises(InvitationRefused, match="already been used"):
        join_signed_in(team.store, sent.token, team.vera.id, now=team.clock.now)
    assert [e for e, _ in team.events()].count("member.joined") == 1
    [used] = team.store.list_invitations(team.ws)
    with pytest.raises(InvitationRefused, match="^The invitation for ana@example.test was already used.$"):
        revoke_invitation(team.store, team.owner, team.ws, used.id, now=team.clock.now)


def test_inviting_the_same_email_again_withdraws_the_earlier_link(team):
    first = team.invite(role=Role.VIEWER)
    second = team.invite(role=Role.EDITOR)
    assert look_up(team.store, first.token, now=team.clock.now).state == LinkState.REVOKED
    assert look_up(team.store, second.token, now=team.clock.now).role == Role.EDITOR
    assert [r.role for r in pending_invitations(team.store, team.owner, team.ws, now=team.clock.now)] == [Role.EDITOR]


@pytest.mark.parametrize("token", ["not-a-token", "", None])
def test_a_link_outpost_did_not_make(team, token):
    look = look_up(team.store, token, now=team.clock.now)
    assert (look.state, look.email, look.workspace_name) == (LinkState.UNKNOWN, "", "")
    assert look.message.startswith("This invitation link is not one Outpost made.")
    with pytest.raises(InvitationRefused, match="not one Outpost made"):
        join(team.store, token, display_name="Ana", password=PASSWORD, now=team.clock.now)


def test_someone_already_in_the_workspace(team):
    with pytest.raises(DuplicateError, match=r"^Eddie is already in this workspace \(as an editor\); change their "
                                             "role instead.$"):
        team.invite("eddie@acme.test")
    sent = team.invite("vera@else.test")                   # invited, then added directly before she opens the link
    add_member(team.store, team.owner, team.ws, "vera@else.test", Role.VIEWER)
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert (look.state, look.message) == (LinkState.ALREADY_MEMBER,
                                          "vera@else.test is already a member of Acme: sign in to open it.")
    with pytest.raises(InvitationRefused, match="already a member"):
        join(team.store, sent.token, password=PASSWORD, now=team.clock.now)
    assert team.roles()[team.vera.id] == Role.VIEWER


@pytest.mark.parametrize("email, words", [
    ("  ", "^Enter the email address to send the invitation to.$"),
    ("ana at example", "^'ana at example' does not look like an email address.$"),
])
def test_an_invitation_needs_an_email_address(team, email, words):
    with pytest.raises(ValidationError, match=words):
        team.invite(email)
    assert team.store.list_invitations(team.ws) == []


# ---------------------------------------------------------------- only owners invite, list and withdraw

@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER, "outsider"])
def test_only_an_owner_of_the_workspace_invites_lists_and_withdraws(team, role):
    sent = team.invite()
    [row] = pending_invitations(team.store, team.owner, team.ws, now=team.clock.now)
    actor = Actor.for_user("user_x", {team.other: Role.OWNER} if role == "outsider" else {team.ws: role})
    words = "^You are not a member of this workspace.$" if role == "outsider" else \
        f"^{role.value.capitalize()}s cannot manage members; ask an owner.$"
    for attempt in (lambda: invite_member(team.store, actor, team.ws, "bo@example.test", Role.OWNER,
                                          now=team.clock.now),
                    lambda: pending_invitations(team.store, actor, team.ws, now=team.clock.now),
                    lambda: revoke_invitation(team.store, actor, team.ws, row.id, now=team.clock.now)):
        with pytest.raises(PermissionDenied, match=words):
            attempt()
    assert [i.email for i in team.store.list_invitations(team.ws)] == ["ana@example.test"]
    assert look_up(team.store, sent.token, now=team.clock.now).open
    assert team.events() == [("member.invited", "ana@example.test")]


def test_an_owner_withdraws_only_their_own_workspaces_invitations(team):
    theirs = invite_member(team.store, Actor.of(team.store, team.vera.id), team.other, "bo@example.test", Role.VIEWER,
                           now=team.clock.now)
    [row] = pending_invitations(team.store, Actor.of(team.store, team.vera.id), team.other, now=team.clock.now)
    with pytest.raises(NotFoundError, match="^This workspace has no such invitation.$"):
        revoke_invitation(team.store, team.owner, team.ws, row.id, now=team.clock.now)
    assert look_up(team.store, theirs.token, now=team.clock.now).open


# ---------------------------------------------------------------- the inviter's authority, and nothing half-stored

@pytest.mark.parametrize("then", ["removed", "made editor"])
def test_an_owner_removed_or_demoted_no_longer_lets_anyone_in_with_the_links_they_sent(team, then):
    """A second owner invites another address of theirs as owner and is then removed (or made editor): their link
    must not make them owner again. It reads as withdrawn, joining is refused, and it leaves the pending list."""
    from core.services.members import change_role, remove_member
    sam = team.store.add_user(User(email="sam@acme.test", display_name="Sam", id="user_sam"))
    team.store.set_membership(Membership(user_id=sam.id, workspace_id=team.ws, role=Role.OWNER))
    sent = invite_member(team.store, Actor.of(team.store, sam.id), team.ws, "sam.private@example.test", Role.OWNER,
                         now=team.clock.now)
    if then == "removed":
        remove_member(team.store, team.owner, team.ws, sam.id, clock=lambda: team.clock.now)
    else:
        change_role(team.store, team.owner, team.ws, sam.id, Role.EDITOR, clock=lambda: team.clock.now)
    look = look_up(team.store, sent.token, now=team.clock.now)
    assert look.state == LinkState.REVOKED and "no longer manages Acme" in look.message
    with pytest.raises(InvitationRefused, match="no longer manages Acme"):
        join(team.store, sent.token, display_name="Sam", password=PASSWORD, now=team.clock.now)
    assert team.store.get_user_by_email("sam.private@example.test") is None
    assert Role.OWNER not in {r for uid, r in team.roles().items() if uid != team.olive.id}
    assert pending_invitations(team.store, team.owner, team.ws, now=team.clock.now) == []


def test_a_link_withdrawn_while_a_new_person_joins_leaves_no_account_without_a_workspace(team, monkeypatch):
    """The owner withdraws the link in the moment between the join page's check and the join: the newcomer is told
    it was withdrawn, and no account is left behind that could sign in to no workspace."""
    import core.services.invitations as invitations
    sent = team.invite("ana@example.test")
    real_open = invitations._open

    def open_then_withdraw(store, token, now):
        look = real_open(store, token, now)
        revoke_invitation(team.store, team.owner, team.ws, sent.invitation.id, now=now)
        return look

    monkeypatch.setattr(invitations, "_open", open_then_withdraw)
    with pytest.raises(InvitationRefused, match="withdrawn just now"):
        join(team.store, sent.token, display_name="Ana", password=PASSWORD, now=team.clock.now)
    assert team.store.get_user_by_email("ana@example.test") is None

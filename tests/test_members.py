"""Managing a workspace's members (core.services.members): owners add people by email, change roles and remove people;
the last owner stays; every change is in the activity log; every refusal says why in plain words and changes
nothing. Run on the in-memory store, SQLite and (with OUTPOST_TEST_POSTGRES_URL) PostgreSQL.

Who may call each operation, in every role and workspace, is tests/test_permissions.py's matrix.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from core.db.sql_store import SqlPostStore
from core.db.testing import clear_tables, postgres_schema, sqlite_engine
from core.domain import Membership, Role, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError, PermissionDenied, ValidationError
from core.domain.timeutil import utcnow
from core.services.invitations import invite_member
from core.services.members import add_member, change_role, list_members, remove_member
from core.rules.permissions import Actor
from core.infra.secrets import TokenCipher
from core.store import InMemoryPostStore
from tests.page_harness import dashboard_store, page_opener

NOW = datetime(2030, 3, 4, 8, 0, tzinfo=timezone.utc)
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def postgres_engine():
    if not POSTGRES_URL:
        pytest.skip("set OUTPOST_TEST_POSTGRES_URL to run the PostgreSQL cases")
    with postgres_schema(POSTGRES_URL, prefix="outpost_members") as engine:
        yield engine


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryPostStore(clock=lambda: NOW)
    elif request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "outpost.sqlite")
        yield SqlPostStore(engine, TokenCipher.generate(), clock=lambda: NOW)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        clear_tables(engine)
        yield SqlPostStore(engine, TokenCipher.generate(), clock=lambda: NOW)


class Team:
    """A workspace with an owner (Olive) and an editor (Eddie), and Vera, who signed up but is in no workspace."""

    def __init__(self, store):
        self.store = store
        self.ws = store.add_workspace(Workspace(name="Acme", id="ws_acme")).id
        self.olive = store.add_user(User(email="olive@acme.test", display_name="Olive", id="user_olive"))
        self.eddie = store.add_user(User(email="eddie@acme.test", display_name="Eddie", id="user_eddie"))
        self.vera = store.add_user(User(email="vera@acme.test", display_name="Vera", id="user_vera"))
        store.set_membership(Membership(user_id=self.olive.id, workspace_id=self.ws, role=Role.OWNER))
        store.set_membership(Membership(user_id=self.eddie.id, workspace_id=self.ws, role=Role.EDITOR))

    def actor(self, user: User) -> Actor:
        return Actor.of(self.store, user.id)

    @property
    def owner(self) -> Actor:
        return self.actor(self.olive)

    def roles(self) -> dict[str, Role]:
        return {m.user_id: m.role for m in self.store.list_memberships(workspace_id=self.ws)}

    def events(self) -> list:
        return [e for e in self.store.list_events(workspace_id=self.ws) if e.action.startswith("member.")]


@pytest.fixture
def team(store) -> Team:
    return Team(store)


def clock():
    return NOW


# ---------------------------------------------------------------- what owners do
def test_every_member_sees_the_team_owners_first(team):
    for who in (team.olive, team.eddie):
        members = list_members(team.store, team.actor(who), team.ws)
        assert [(m.name, m.email, m.role) for m in members] == [("Olive", "olive@acme.test", Role.OWNER),
                                                               ("Eddie", "eddie@acme.test", Role.EDITOR)]


def test_an_owner_adds_someone_by_email_and_it_is_recorded(team):
    added = add_member(team.store, team.owner, team.ws, "  Vera@Acme.test ", "approver", clock=clock)
    assert (added.user_id, added.role) == (team.vera.id, Role.APPROVER)
    assert team.roles()[team.vera.id] == Role.APPROVER
    # Vera now acts in the workspace with that role.
    assert Actor.of(team.store, team.vera.id).role_in(team.ws) == Role.APPROVER
    [event] = team.events()
    assert (event.action, event.actor, event.subject_id, event.to_state, event.details["email"]) == (
        "member.added", f"user:{team.olive.id}", team.vera.id, "approver", "vera@acme.test")


def test_an_owner_changes_a_role_and_it_is_recorded(team):
    changed = change_role(team.store, team.owner, team.ws, team.eddie.id, Role.VIEWER, clock=clock)
    assert changed.role == Role.VIEWER and team.roles()[team.eddie.id] == Role.VIEWER
    [event] = team.events()
    assert (event.action, event.from_state, event.to_state) == ("member.role_changed", "editor", "viewer")
    # The same role again changes nothing and records nothing.
    change_role(team.store, team.owner, team.ws, team.eddie.id, "viewer", clock=clock)
    assert len(team.events()) == 1


def test_an_owner_removes_someone_and_it_is_recorded(team):
    remove_member(team.store, team.owner, team.ws, team.eddie.id, clock=clock)
    assert team.eddie.id not in team.roles()
    assert team.store.get_user(team.eddie.id).email == "eddie@acme.test"      # their Outpost account stays
    with pytest.raises(PermissionDenied, match="You are not a member of this workspace"):
        list_members(team.store, team.actor(team.eddie), team.ws)            # and they are out
    [event] = team.events()
    assert (event.action, event.from_state, event.subject_id) == ("member.removed", "editor", team.eddie.id)


def test_with_a_second_owner_the_first_may_step_down_or_leave(team):
    change_role(team.store, team.owner, team.ws, team.eddie.id, Role.OWNER, clock=clock)
    change_role(team.store, team.owner, team.ws, team.olive.id, Role.EDITOR, clock=clock)     # stepping down
    remove_member(team.store, team.actor(team.eddie), team.ws, team.olive.id, clock=clock)
    assert team.roles() == {team.eddie.id: Role.OWNER}


# ---------------------------------------------------------------- refusals: plain words, nothing changed
@pytest.mark.parametrize("attempt, error, words", [
    # the last owner can neither be demoted nor removed, not even by themselves
    (lambda t: change_role(t.store, t.owner, t.ws, t.olive.id, Role.EDITOR), ValidationError,
     "^A workspace needs at least one owner. Make someone else an owner first.$"),
    (lambda t: remove_member(t.store, t.owner, t.ws, t.olive.id), ValidationError,
     "^A workspace needs at least one owner"),
    # adding: someone who never signed up, someone already in, no email, a role that does not exist
    (lambda t: add_member(t.store, t.owner, t.ws, "nobody@acme.test", Role.EDITOR), ValidationError,
     "^No one has signed up to Outpost with nobody@acme.test. Ask them to create an account first.$"),
    (lambda t: add_member(t.store, t.owner, t.ws, "eddie@acme.test", Role.VIEWER), DuplicateError,
     r"^Eddie is already in this workspace \(as an editor\); change their role instead.$"),
    (lambda t: add_member(t.store, t.owner, t.ws, " ", Role.VIEWER), ValidationError,
     "^Enter the email address the person signed up with.$"),
    (lambda t: add_member(t.store, t.owner, t.ws, "vera@acme.test", "boss"), ValidationError,
     "^'boss' is not a role: choose owner, editor, approver, viewer.$"),
    # changing or removing someone who is not in the workspace
    (lambda t: change_role(t.store, t.owner, t.ws, t.vera.id, Role.EDITOR), NotFoundError,
     "^That person is not in this workspace.$"),
    (lambda t: remove_member(t.store, t.owner, t.ws, t.vera.id), NotFoundError,
     "^That person is not in this workspace.$"),
    # an editor manages nobody (the matrix covers every role; this is the wording)
    (lambda t: add_member(t.store, t.actor(t.eddie), t.ws, "vera@acme.test", Role.OWNER), PermissionDenied,
     "^Editors cannot manage members; ask an owner.$"),
    (lambda t: change_role(t.store, t.actor(t.eddie), t.ws, t.eddie.id, Role.OWNER), PermissionDenied,
     "^Editors cannot manage members; ask an owner.$"),
    # an owner of another workspace is an outsider here
    (lambda t: remove_member(t.store, Actor.for_user(t.olive.id, {"ws_other": Role.OWNER}), t.ws, t.eddie.id),
     PermissionDenied, "^You are not a member of this workspace.$"),
])
def test_refusals_say_why_and_change_nothing(team, attempt, error, words):
    before = team.roles()
    with pytest.raises(error, match=words):
        attempt(team)
    assert team.roles() == before and team.events() == []


def test_a_refused_add_does_not_tell_a_non_owner_who_has_signed_up(team):
    """The role is checked before the email is looked up: an editor learns nothing about who uses Outpost."""
    for email in ("vera@acme.test", "nobody@acme.test"):
        with pytest.raises(PermissionDenied, match="^Editors cannot manage members"):
            add_member(team.store, team.actor(team.eddie), team.ws, email, Role.VIEWER)


# ---------------------------------------------------------------- the Members page
@pytest.fixture
def page(tmp_path, monkeypatch):
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=None) as db:
        t = Team(db)
        yield t, page_opener(db, t.ws, "../pages/members.py")


def test_the_page_lets_an_owner_change_roles_and_remove(page):
    t, open_as = page
    add_member(t.store, t.actor(t.olive), t.ws, "vera@acme.test", Role.APPROVER)
    at = open_as(t.olive)
    assert list(at.dataframe[0].value["Email"]) == ["olive@acme.test", "eddie@acme.test", "vera@acme.test"]
    at.selectbox(key=f"member_role_{t.eddie.id}").set_value(Role.VIEWER).run()     # Save is offered once changed
    at.button(key=f"member_save_{t.eddie.id}").click().run()
    assert [s.value for s in at.success] == ["Eddie is now viewer."] and t.roles()[t.eddie.id] == Role.VIEWER

    at.button(key=f"member_remove_{t.vera.id}").click().run()
    assert t.vera.id not in t.roles()
    assert [e.actor for e in t.events()] == [f"user:{t.olive.id}"] * 3


def test_an_owner_invites_someone_and_gets_the_link_to_send(page):
    from core.services.invitations import LinkState, look_up
    t, open_as = page
    at = open_as(t.olive)
    assert [c.value for c in at.caption if "No invitations" in c.value] == ["No invitations are waiting to be used."]
    at.text_input(key="member_email").input("ana@example.com")
    at.selectbox(key="member_role").set_value(Role.APPROVER)
    at.button(key="member_invite").click().run()
    assert not at.exception and not at.error
    [link] = [c.value for c in at.code]
    assert link.startswith("http://127.0.0.1:8501/?invite=")
    look = look_up(t.store, link.split("invite=")[1], now=utcnow())
    assert (look.state, look.email, look.role, look.workspace_name) == (LinkState.OPEN, "ana@example.com",
                                                                        Role.APPROVER, "Acme")
    assert any("Send this link to ana@example.com" in m.value for m in at.markdown)
    # the pending list, with a Revoke button
    assert any("**ana@example.com**" in m.value and "Approver" in m.value for m in at.markdown)
    [revoke] = [b for b in at.button if b.key and b.key.startswith("invite_revoke_")]
    revoke.click().run()
    assert [s.value for s in at.success] == [
        "The invitation for ana@example.com is withdrawn: its link no longer works."]
    assert look_up(t.store, link.split("invite=")[1], now=utcnow()).state == LinkState.REVOKED
    assert not at.code and not [b for b in at.button if b.key and b.key.startswith("invite_revoke_")]


@pytest.mark.parametrize("email, words", [
    ("", "Enter the email address to send the invitation to."),
    ("eddie@acme.test", "Eddie is already in this workspace (as an editor); change their role instead."),
])
def test_an_invitation_the_page_cannot_make_is_explained(page, email, words):
    t, open_as = page
    at = open_as(t.olive)
    at.text_input(key="member_email").input(email)
    at.button(key="member_invite").click().run()
    assert [e.value for e in at.error] == [words] and not at.code
    assert t.store.list_invitations(t.ws) == []


def test_the_page_says_why_the_last_owner_stays(page):
    t, open_as = page
    at = open_as(t.olive)
    at.button(key=f"member_remove_{t.olive.id}").click().run()
    assert [e.value for e in at.error] == ["A workspace needs at least one owner. Make someone else an owner first."]
    assert t.roles()[t.olive.id] == Role.OWNER


def test_an_editor_sees_the_team_but_not_the_controls(page):
    t, open_as = page
    invite_member(t.store, t.actor(t.olive), t.ws, "ana@example.com", Role.VIEWER, now=utcnow())
    at = open_as(t.eddie)
    assert not at.exception
    assert list(at.dataframe[0].value["Name"]) == ["Olive", "Eddie"]
    assert not [b for b in at.button if b.key and b.key.startswith(("member_", "invite_"))]
    assert "Pending invitations" not in [h.value for h in at.subheader]          # nor who was invited
    assert not [m for m in at.markdown if "ana@example.com" in m.value]


@pytest.mark.parametrize("second", ["demote", "remove"])
def test_two_owners_stepping_each_other_down_at_once_leave_one(team, second):
    """Olive and Eddie are owners; each demotes (or removes) the other at the same moment. Both pass the
    "another owner is left" check before either writes; the one who then finds no owner puts theirs back."""
    change_role(team.store, team.owner, team.ws, team.eddie.id, Role.OWNER, clock=clock)

    class EddieActsMeanwhile:
        """The store as Olive's request sees it: Eddie's request writes just before hers does."""

        def __init__(self, store):
            self._store = store

        def __getattr__(self, name):
            return getattr(self._store, name)

        def set_membership(self, membership):
            if membership.user_id == team.eddie.id and membership.role != Role.OWNER:
                if second == "demote":
                    self._store.set_membership(Membership(user_id=team.olive.id, workspace_id=team.ws,
                                                          role=Role.VIEWER))
                else:
                    self._store.remove_membership(team.olive.id, team.ws)
            return self._store.set_membership(membership)

    with pytest.raises(ValidationError, match="^A workspace needs at least one owner"):
        change_role(EddieActsMeanwhile(team.store), team.owner, team.ws, team.eddie.id, Role.VIEWER, clock=clock)
    assert team.roles()[team.eddie.id] == Role.OWNER                      # Olive's change was put back
    assert [e.action for e in team.events()] == ["member.role_changed"]   # only the earlier promotion is recorded

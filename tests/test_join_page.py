"""The page an invitation link opens (app.py, `/?invite=<token>`), in AppTest: a new person creates their account
and is handed to the session route like any sign-in; someone with an account signs in to join; someone signed in
joins in one click; links that cannot be used say why and offer no form."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.domain import Membership, Role, User, Workspace
from core.domain.timeutil import utcnow
from core.rules.permissions import Actor
from core.services import auth
from core.services.invitations import invite_member, revoke_invitation

PASSWORD = "correct horse battery"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The dashboard's store with Olive, owner of Brand, and Vera, who has an account in another workspace;
    open(token, signed_in=None) runs app.py at /?invite=<token>, as `signed_in` (a user) when given."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from pages import shared
    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):            # as app.py tells the server at start (see tests/test_sessions.py)
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", init)
    monkeypatch.setenv("OUTPOST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    shared.settings.clear()
    shared.store.clear()
    db = shared.store()
    olive, ws = auth.create_owner(db, email="olive@example.com", password=PASSWORD, display_name="Olive",
                                  workspace_name="Brand")
    vera = db.add_user(User(email="vera@example.com", display_name="Vera", password_hash=auth.hash_password(PASSWORD)))
    own = db.add_workspace(Workspace(name="Vera's own"))
    db.set_membership(Membership(user_id=vera.id, workspace_id=own.id, role=Role.OWNER))

    class Site:
        store, owner, workspace = db, olive, ws

        def invite(self, email="ana@example.com", role=Role.APPROVER):
            return invite_member(db, Actor.of(db, olive.id), ws.id, email, role, now=utcnow())

        def open(self, token, signed_in=None):
            monkeypatch.setattr(auth, "session_user", lambda *a, **k: signed_in)   # AppTest sends no cookies
            at = AppTest.from_file("../app.py", default_timeout=30)
            at.query_params["invite"] = token
            return at.run()

    yield Site()
    shared.store.clear()
    shared.settings.clear()


def handed_over(db, at) -> tuple[User, str]:
    """Who the page handed to the session route, and where the browser goes next."""
    [snippet] = [h.proto.body for h in at.get("html") if "/auth/session" in h.proto.body]
    handoff = re.search(r'name="handoff" value="([^"]+)"', snippet).group(1)
    next_path = re.search(r'name="next" value="([^"]+)"', snippet).group(1)
    raw = auth.adopt_handoff(db, handoff, now=utcnow())
    return db.get_user(db.get_session(auth.session_hash(raw)).user_id), next_path   # (session_user is stubbed)


def test_a_new_person_creates_their_account_and_is_signed_in(site):
    at = site.open(site.invite().token)
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Join Brand as approver"]
    assert at.text_input(key="join_email").value == "ana@example.com" and at.text_input(key="join_email").disabled
    at.text_input(key="join_password").input("short")
    at.button[0].click().run()                              # nothing typed but a short password: told everything
    assert at.error[0].value.splitlines()[2:] == ["- Enter your name: your team sees it beside your posts.",
                                                  "- Use a password of at least 10 characters."]
    assert site.store.get_user_by_email("ana@example.com") is None

    at.text_input(key="join_name").input("Ana")
    at.text_input(key="join_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Create account and join").click().run()
    assert not at.exception and not at.error
    user, next_path = handed_over(site.store, at)
    assert (user.email, user.display_name) == ("ana@example.com", "Ana")
    assert next_path == f"/?joined={site.workspace.id}"
    assert site.store.get_membership(user.id, site.workspace.id).role == Role.APPROVER


def test_someone_with_an_account_signs_in_to_join(site):
    at = site.open(site.invite("vera@example.com", Role.EDITOR).token)
    assert [s.value for s in at.subheader] == ["Join Brand as editor"]
    assert any("You already have an Outpost account" in c.value for c in at.caption)
    with pytest.raises(KeyError):
        at.text_input(key="join_name")                      # no name to give: she has an account
    at.text_input(key="join_password").input("not her password")
    next(b for b in at.button if b.label == "Sign in and join").click().run()
    assert [e.value for e in at.error] == ["That email and password do not match an account."]
    at.text_input(key="join_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Sign in and join").click().run()
    user, next_path = handed_over(site.store, at)
    assert user.email == "vera@example.com" and next_path == f"/?joined={site.workspace.id}"
    assert site.store.get_membership(user.id, site.workspace.id).role == Role.EDITOR


def test_someone_signed_in_with_the_invited_email_joins_in_one_click(site):
    vera = site.store.get_user_by_email("vera@example.com")
    at = site.open(site.invite("vera@example.com", Role.VIEWER).token, signed_in=vera)
    at.button(key="join_signed_in").click().run()
    assert not at.exception
    assert "You joined Brand as viewer." in [s.value for s in at.success]
    assert at.sidebar.selectbox(key="workspace_picker").value == site.workspace.id     # the workspace just joined
    assert site.store.get_membership(vera.id, site.workspace.id).role == Role.VIEWER


def test_someone_signed_in_as_another_person_is_told_to_sign_out_first(site):
    vera = site.store.get_user_by_email("vera@example.com")
    at = site.open(site.invite("ana@example.com").token, signed_in=vera)
    assert [w.value for w in at.warning] == ["This invitation is for ana@example.com, and you are signed in as "
                                             "vera@example.com. Sign out, then open the link again."]
    assert not at.button and any("/auth/sign-out" in h.proto.body for h in at.get("html"))
    assert site.store.get_membership(vera.id, site.workspace.id) is None


def test_a_member_opening_a_link_to_their_own_workspace_is_told_they_are_in(site):
    at = site.open(site.invite("ana@example.com").token, signed_in=site.owner)
    assert [i.value for i in at.info] == ["You are already a member of Brand."] and not at.button


@pytest.mark.parametrize("spoil, shown, words", [
    # withdrawn by the owner
    (lambda s, sent: revoke_invitation(s.store, Actor.of(s.store, s.owner.id), s.workspace.id, sent.invitation.id,
                                       now=utcnow()), "error", "This invitation to Brand was withdrawn."),
    # used already
    (lambda s, sent: s.store.accept_invitation(sent.invitation.id, s.owner.id, utcnow()), "info",
     "This invitation to Brand has already been used. If it was you, sign in."),
    # made eight days ago
    (lambda s, sent: None, "error", "This invitation to Brand expired on"),
    # not a link Outpost made
    (lambda s, sent: None, "error", "This invitation link is not one Outpost made."),
])
def test_a_link_that_cannot_be_used_says_why_and_offers_no_form(site, spoil, shown, words):
    if words.startswith("This invitation to Brand expired"):
        sent = invite_member(site.store, Actor.of(site.store, site.owner.id), site.workspace.id, "ana@example.com",
                             Role.VIEWER, now=utcnow() - timedelta(days=8))
    else:
        sent = site.invite()
    spoil(site, sent)
    at = site.open("made-up-token" if "not one" in words else sent.token)
    assert not at.exception
    [message] = getattr(at, shown)
    assert message.value.startswith(words)
    assert not at.text_input and not at.button
    assert site.store.get_user_by_email("ana@example.com") is None

"""The Posts page acts as the signed-in person: what it shows follows the role, and what it writes is checked
in core (core.rules.permissions) and recorded in their name."""
from __future__ import annotations

import pytest

from core.services.auth import create_owner
from core.domain import Membership, Role, User


@pytest.fixture
def page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from pages import shared
    monkeypatch.setenv("OUTPOST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OUTPOST_SANDBOX", "true")
    monkeypatch.setenv("OUTPOST_SANDBOX_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    shared.settings.clear()
    shared.store.clear()
    db = shared.store()
    owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand")

    def open_as(user):
        at = AppTest.from_file("../pages/posts.py", default_timeout=30)
        at.session_state["ctx"] = shared.Context(user=user, workspace=ws, membership=db.get_membership(user.id, ws.id))
        return at.run()

    yield db, owner, ws, open_as
    shared.store.clear()
    shared.settings.clear()


def test_an_owner_adds_a_sandbox_account_in_their_name(page):
    db, owner, ws, open_as = page
    at = open_as(owner)
    at.text_input(key="new_acc_handle").input("@practice")
    at.button(key="new_acc_add").click().run()
    assert not at.exception and not at.error
    [account] = db.list_accounts(workspace_id=ws.id)
    assert account.handle == "@practice"
    [event] = [e for e in db.list_events(workspace_id=ws.id) if e.action == "account.added"]
    assert event.actor == f"user:{owner.id}" and event.subject_id == account.id


@pytest.mark.parametrize("role, composer, add_account", [
    (Role.EDITOR, True, False),     # writes posts, cannot add accounts
    (Role.APPROVER, False, False),  # approves, does not write
    (Role.VIEWER, False, False),    # only looks
])
def test_what_each_role_is_offered(page, role, composer, add_account):
    db, owner, ws, open_as = page
    person = db.add_user(User(email=f"{role}@example.com"))
    db.set_membership(Membership(user_id=person.id, workspace_id=ws.id, role=role))
    at = open_as(person)
    assert not at.exception
    keys = {b.key for b in at.button}
    assert ("new_acc_add" in keys) == add_account
    assert (len(at.expander) > 0) == composer


def test_an_editor_settles_a_post_the_runner_could_not_confirm(page):
    from datetime import timedelta

    from core.domain import Account, Delivery, Post, Schedule
    from core.domain.lifecycle import DeliveryState, PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as = page
    now = utcnow()
    acct = db.save_account(Account(platform="linkedin", handle="@brand", workspace_id=ws.id))
    db.add_post(Post(caption="Hello", accounts=(acct,), schedule=Schedule(scheduled_at=now - timedelta(minutes=5)),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=acct.id, platform="linkedin", due_at=now - timedelta(minutes=5),
                          id="d1")])
    [claimed] = db.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=2))
    db.save_progress("d1", "r", "sent", now.isoformat())
    db.finish_delivery(claimed.needs_review(evidence="The answer was lost."), runner_id="r")
    editor = db.add_user(User(email="ed@example.com"))
    db.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    viewer = db.add_user(User(email="vi@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    assert "live_d1" not in {b.key for b in open_as(viewer).button}          # a viewer only sees it

    at = open_as(editor)
    at.button(key="live_d1").click().run()
    assert not at.exception and not at.error
    assert db.get_delivery("d1").state == DeliveryState.PUBLISHED
    [event] = [e for e in db.list_events(subject_id="d1") if e.action == "delivery.confirmed_published"]
    assert event.actor == f"user:{editor.id}"


def test_the_page_shows_only_the_current_workspaces_accounts_and_posts(page):
    """A person in two workspaces sees, on each, only that workspace's accounts (in the composer) and posts."""
    from core.domain import Account, Post, Workspace
    from core.rules.permissions import Actor
    from core.services.scheduler import Scheduler
    db, owner, ws, open_as = page
    other = db.add_workspace(Workspace(name="Side project"))
    db.set_membership(Membership(user_id=owner.id, workspace_id=other.id, role=Role.OWNER))
    mine = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    theirs = db.save_account(Account(platform="x", handle="@side", workspace_id=other.id))
    script = Scheduler(db, actor=Actor.system("test"))
    script.save_draft("p_brand", Post(account=mine, caption="For the brand", workspace_id=ws.id))
    script.save_draft("p_side", Post(account=theirs, caption="For the side project", workspace_id=other.id))
    at = open_as(owner)
    assert not at.exception
    assert at.multiselect(key="compose_accounts").options == [mine.label]
    assert list(at.dataframe[0].value["caption"]) == ["For the brand"]

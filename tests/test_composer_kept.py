"""What is typed in the composer is kept as it is written: a reload (a new session) restores it, with a note and a
way to discard it; saving the post forgets it; it is the writer's own, per workspace."""
from __future__ import annotations

from core.domain import Role
from core.rules.permissions import Actor
from core.services import composer_drafts
from tests.test_compose_extras import _member, template, world  # noqa: F401


def _infos(at) -> list[str]:
    return [i.value for i in at.info]


def test_a_reload_restores_what_was_typed_and_discard_forgets_it(world):
    db, owner, ws, open_as, accounts = world
    at = open_as(owner)
    at.multiselect(key="compose_accounts").set_value([accounts[2].id]).run()
    at.text_area(key="compose_caption").input("Our spring menu is here: three new cakes").run()
    at.text_area(key="compose_first_comment").input("Which one first?").run()
    assert not at.exception
    # The tab is reloaded: a new session starts from what was kept.
    again = open_as(owner)
    assert again.text_area(key="compose_caption").value == "Our spring menu is here: three new cakes"
    assert again.text_area(key="compose_first_comment").value == "Which one first?"
    assert again.multiselect(key="compose_accounts").value == [accounts[2].id]
    assert any(i.startswith("Restored what you were writing (kept ") for i in _infos(again))
    again.button(key="compose_discard").click().run()
    assert again.text_area(key="compose_caption").value == ""
    assert not any(i.startswith("Restored") for i in _infos(again))
    assert composer_drafts.kept(db, Actor.of(db, owner.id), ws.id) is None
    assert open_as(owner).text_area(key="compose_caption").value == ""


def test_saving_the_post_forgets_what_was_kept(world):
    db, owner, ws, open_as, accounts = world
    at = open_as(owner)
    at.multiselect(key="compose_accounts").set_value([accounts[2].id]).run()
    at.text_area(key="compose_caption").input("Saved as a draft, not kept twice").run()
    assert composer_drafts.kept(db, Actor.of(db, owner.id), ws.id) is not None
    at.radio(key="compose_mode").set_value("Save as draft").run()
    at.button(key="compose_submit").click().run()
    assert not at.exception and [s.value for s in at.success]
    assert composer_drafts.kept(db, Actor.of(db, owner.id), ws.id) is None
    assert open_as(owner).text_area(key="compose_caption").value == ""


def test_it_is_the_writers_own(world):
    db, owner, ws, open_as, accounts = world
    at = open_as(owner)
    at.text_area(key="compose_caption").input("The owner's half-written post").run()
    editor = _member(db, ws, Role.EDITOR)
    theirs = open_as(editor)
    assert theirs.text_area(key="compose_caption").value == ""
    assert not any(i.startswith("Restored") for i in _infos(theirs))


def test_switching_workspace_keeps_each_ones_post_apart(world):
    """Typed for workspace A, then the picker goes to B: B's composer is empty (A's text is kept with A, not carried
    over), and back on A it is restored."""
    from core.domain import Membership, Workspace
    from pages import shared
    db, owner, ws, open_as, accounts = world
    other = db.add_workspace(Workspace(name="Second brand", id="ws_second"))
    db.set_membership(Membership(user_id=owner.id, workspace_id=other.id, role=Role.OWNER))
    at = open_as(owner)
    at.text_area(key="compose_caption").input("For the first brand only").run()

    def go(workspace):
        at.session_state["ctx"] = shared.Context(user=owner, workspace=db.get_workspace(workspace.id),
                                                 membership=db.get_membership(owner.id, workspace.id))
        at.run()
    go(other)
    assert not at.exception and at.text_area(key="compose_caption").value == ""
    assert composer_drafts.kept(db, Actor.of(db, owner.id), other.id) is None
    go(ws)
    assert at.text_area(key="compose_caption").value == "For the first brand only"


def _two_pages_app():
    """The composer, or (session_state["elsewhere"]) another page that draws none of its fields."""
    import streamlit as st

    from core.services.views import workspace_accounts
    from pages.compose import composer
    from pages.shared import store

    if st.session_state.get("elsewhere"):
        st.write("The calendar")
        return
    ctx = st.session_state["ctx"]
    composer(ctx, workspace_accounts(store(), ctx.workspace.id, actor=ctx.actor))


def test_back_from_another_page_the_typed_post_is_there_and_still_kept(world):
    """Streamlit forgets a field's value once a run does not draw it (another page, the composer closed): back on
    Posts the kept text is put back, and it is never forgotten for looking empty (it was: the tester's trip to the
    Calendar erased it)."""
    from streamlit.testing.v1 import AppTest

    from pages import shared
    db, owner, ws, _, accounts = world
    at = AppTest.from_function(_two_pages_app, default_timeout=30)
    at.session_state["ctx"] = shared.Context(user=owner, workspace=db.get_workspace(ws.id),
                                             membership=db.get_membership(owner.id, ws.id))
    at.run()
    at.multiselect(key="compose_accounts").set_value([accounts[0].id]).run()
    at.text_area(key="compose_caption").input("Half a post about croissants").run()
    at.session_state["elsewhere"] = True
    at.run()
    at.session_state["elsewhere"] = False
    at.run()
    assert not at.exception
    assert at.text_area(key="compose_caption").value == "Half a post about croissants"
    assert at.multiselect(key="compose_accounts").value == [accounts[0].id]
    found = composer_drafts.kept(db, Actor.of(db, owner.id), ws.id)
    assert found is not None and found.fields["compose_caption"] == "Half a post about croissants"

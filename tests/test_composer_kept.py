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

"""What a person does with a post from its dialog (pages/post_dialog.py) besides editing it: a draft is scheduled at
the time chosen there, or sent for approval where the workspace wants one; cancelling asks first; a copy says where
it is; an X text over 280 is made a thread with the box its preview card names."""
from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest

from core.domain import Account, Membership, Post, Role, Schedule, User
from core.domain.catalog import Platform
from core.domain.lifecycle import PostState
from core.domain.timeutil import utcnow, zone
from core.rules.permissions import Actor
from core.rules.validation import text_count
from core.services.scheduler import Scheduler
from tests.page_harness import BERLIN, owner_world

LONG = " ".join(f"Sentence {i} about our spring collection, which lands in every shop this week." for i in range(8))


def _dialog_app():
    import streamlit as st

    from pages import post_dialog
    if st.session_state.get("post_to_open"):
        post_dialog.show(st.session_state.pop("post_to_open"))
    elif st.session_state.get(post_dialog.OPEN):
        post_dialog.show(st.session_state[post_dialog.OPEN])
    if flash := st.session_state.pop(post_dialog.FLASH, None):
        st.success(flash[1])


@pytest.fixture
def world(tmp_path, monkeypatch):
    """An owner's workspace with X and LinkedIn; draft(post_id, **fields) saves a draft for both (tomorrow 9:00,
    Berlin); open_as(user, post_id) opens its dialog."""
    from streamlit.testing.v1 import AppTest

    from pages import shared
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        li = db.save_account(Account(platform="linkedin", handle="brand-studio", workspace_id=ws.id))
        tomorrow = utcnow().astimezone(zone(BERLIN)).date() + timedelta(days=1)

        def draft(post_id: str, **fields):
            post = Post(**{"accounts": (x, li), "caption": "Spring is here.", "workspace_id": ws.id,
                           "schedule": Schedule.at_local(tomorrow, time(9), BERLIN), **fields})
            Scheduler(db, actor=Actor.of(db, owner.id)).save_draft(post_id, post)

        def open_as(user, post_id: str):
            at = AppTest.from_function(_dialog_app, default_timeout=30)
            at.session_state["ctx"] = shared.Context(user=user, workspace=db.get_workspace(ws.id),
                                                     membership=db.get_membership(user.id, ws.id))
            at.session_state["post_to_open"] = post_id
            return at.run()

        yield db, owner, ws, draft, open_as, tomorrow


def _keys(at) -> set[str]:
    return {b.key for b in at.button}


def _blocks(node, kind: str):
    """Every block of `kind` ("popover", ...) under `node`, depth first (a dialog is not under `at.main`)."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == kind:
            yield child
        yield from _blocks(child, kind)


def test_a_draft_is_scheduled_at_the_time_chosen_with_what_is_typed(world):
    db, owner, ws, draft, open_as, tomorrow = world
    draft("p1")
    at = open_as(owner, "p1")
    assert not at.exception
    assert "pd_schedule_p1" in _keys(at) and "pd_submit_p1" not in _keys(at)   # no approval needed here
    assert at.button(key="pd_move_p1").label == "Save the time only"
    at.date_input(key="pd_date_p1").set_value(tomorrow + timedelta(days=1))
    at.time_input(key="pd_time_p1").set_value(time(10, 30))
    at.text_area(key="pd_caption_p1").input("Spring is here, and so are we.")
    at.button(key="pd_schedule_p1").click().run()
    assert not at.exception, at.exception
    post = db.get_post("p1")
    assert post.state == PostState.APPROVED                                  # it goes out by itself now
    assert post.caption == "Spring is here, and so are we."                 # what was typed went with it
    when = Schedule.at_local(tomorrow + timedelta(days=1), time(10, 30), BERLIN)
    assert post.due_at == when.scheduled_at
    assert [s.value for s in at.success] == [f"Scheduled: it goes out {when.describe()}."]


def test_a_draft_is_sent_for_approval_where_the_workspace_wants_one(world):
    db, owner, ws, draft, open_as, tomorrow = world
    db.update_workspace(replace(db.get_workspace(ws.id), requires_approval=True))
    draft("p1")
    at = open_as(owner, "p1")
    assert "pd_submit_p1" in _keys(at) and "pd_schedule_p1" not in _keys(at)
    at.button(key="pd_submit_p1").click().run()
    assert not at.exception, at.exception
    assert db.get_post("p1").state == PostState.PENDING_APPROVAL
    when = Schedule.at_local(tomorrow, time(9), BERLIN).describe()
    assert [s.value for s in at.success] == [f"Sent for approval: once approved it goes out {when}."]


def test_an_editor_schedules_a_draft_where_no_approval_is_needed_and_sends_it_where_it_is(world):
    """As in the composer: in a workspace without approval, whoever writes posts schedules them; with approval on,
    the same editor's draft goes to the approvers (core.services.scheduler.Scheduler.schedule_draft decides)."""
    from dataclasses import replace
    db, owner, ws, draft, open_as, _ = world
    editor = db.add_user(User(email="editor@example.com"))
    db.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    draft("p1")
    at = open_as(editor, "p1")
    assert "pd_schedule_p1" in _keys(at) and "pd_submit_p1" not in _keys(at)
    at.button(key="pd_schedule_p1").click().run()
    assert not at.exception and not at.error
    assert db.get_post("p1").state == PostState.APPROVED

    db.update_workspace(replace(db.get_workspace(ws.id), requires_approval=True))
    draft("p2")
    at = open_as(editor, "p2")
    assert "pd_submit_p2" in _keys(at) and "pd_schedule_p2" not in _keys(at)
    at.time_input(key="pd_time_p2").set_value(time(15, 0))      # p1 is planned at 9:00 on the same accounts
    at.button(key="pd_submit_p2").click().run()
    assert not at.error, [e.value for e in at.error]
    assert db.get_post("p2").state == PostState.PENDING_APPROVAL


def test_scheduling_a_draft_at_a_past_time_is_refused_and_nothing_changes(world):
    db, owner, ws, draft, open_as, tomorrow = world
    draft("p1")
    at = open_as(owner, "p1")
    at.date_input(key="pd_date_p1").set_value(tomorrow - timedelta(days=3))
    at.button(key="pd_schedule_p1").click().run()
    assert not at.exception
    assert any("has already passed" in e.value for e in at.error)
    assert db.get_post("p1").state == PostState.DRAFT


def test_cancel_asks_first_and_cancels_on_yes(world):
    db, owner, ws, draft, open_as, _ = world
    draft("p1")
    at = open_as(owner, "p1")
    [asking] = [p for p in _blocks(at._tree, "popover") if p.proto.popover.label == "Cancel post"]
    assert [m.value for m in asking.markdown] == ["**Cancel this post? It will not go out.**"]
    assert [b.key for b in asking.button] == ["pd_cancel_p1"]              # the only way to cancel: inside it
    assert db.get_post("p1").state == PostState.DRAFT
    at.button(key="pd_cancel_p1").click().run()
    assert db.get_post("p1").state == PostState.CANCELLED
    assert [s.value for s in at.success] == ["Cancelled: nothing more of it will be published."]


def test_a_copy_says_where_it_is_not_its_id(world):
    db, owner, ws, draft, open_as, tomorrow = world
    draft("p1")
    at = open_as(owner, "p1")
    at.button(key="pd_duplicate_p1").click().run()
    [said] = [s.value for s in at.success]
    when = Schedule.at_local(tomorrow, time(9), BERLIN).describe()
    assert said == (f"Copied as a new draft for the same time, {when}: find it on the Calendar that day, or in Posts "
                    "under Upcoming with the status Draft. Nothing goes out until it is scheduled.")
    assert "post_" not in said


def test_an_x_text_over_280_is_made_a_thread_with_the_box_its_card_names(world):
    db, owner, ws, draft, open_as, _ = world
    draft("p1")
    at = open_as(owner, "p1")
    at.text_area(key="pd_caption_p1").input(LONG).run()                     # too long for one X post
    assert not at.exception
    cards = "\n".join(str(e.proto.body) for e in at.get("html"))
    assert 'Tick "Post as a thread on X"' in cards
    box = at.checkbox(key="pd_thread_on_p1")                                # the box the card asks to tick
    assert box.label == "Post as a thread on X" and box.value is False
    box.check().run()
    assert not at.exception, at.exception
    thread = db.get_post("p1").render(Platform.X)
    parts = (thread.text, *thread.thread)
    assert len(parts) >= 2 and all(not text_count(Platform.X, p).over for p in parts)
    assert db.get_post("p1").caption == LONG                                 # saved with what was typed
    assert db.get_post("p1").render(Platform.LINKEDIN).text == LONG          # LinkedIn gets the caption
    assert any(s.value.startswith(f"Split into {len(parts)} posts for X and saved") for s in at.success)
    assert at.text_area(key="pd_p1_thread_x_0").value == parts[0]          # its posts, to edit
    assert at.checkbox(key="pd_thread_on_p1").value is True
    # Unticked while the caption is still too long for one X post: refused in words, the thread kept.
    at.checkbox(key="pd_thread_on_p1").uncheck().run()
    assert not at.exception
    assert any("280" in e.value for e in at.error)
    assert db.get_post("p1").render(Platform.X).thread and at.checkbox(key="pd_thread_on_p1").value is True
    # A short caption again: unticked, X gets it as one post.
    at.text_area(key="pd_caption_p1").input("Spring is here.").run()
    at.checkbox(key="pd_thread_on_p1").uncheck().run()
    assert not at.exception, at.exception
    post = db.get_post("p1")
    assert post.render(Platform.X).thread == () and Platform.X not in post.variants
    assert post.render(Platform.X).text == "Spring is here."
    assert "pd_p1_thread_x_0" not in {t.key for t in at.text_area}


def test_a_short_x_text_offers_no_thread_box(world):
    db, owner, ws, draft, open_as, _ = world
    draft("p1")
    at = open_as(owner, "p1")
    assert "pd_thread_on_p1" not in {c.key for c in at.checkbox}


def test_counts_are_said_in_words_not_with_an_s_in_brackets(world):
    db, owner, ws, draft, open_as, _ = world
    draft("p1", media_urls=("https://cdn.example/spring.jpg",))
    at = open_as(owner, "p1")
    at.button(key="pd_schedule_p1").click().run()
    assert db.get_post("p1").state == PostState.APPROVED
    at = open_as(owner, "p1")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("1 photo or video on this post.") for c in captions)
    assert any(c.endswith("· 0 attempts") for c in captions)
    assert not [c for c in captions if "(s)" in c]

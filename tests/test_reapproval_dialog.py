"""The post dialog, where posts need approval: an editor's change to an approved post says it waits for approval again
(core sends it back: tests/test_approvals.py), and a save that changes nothing, or a new time, keeps it scheduled."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.domain import Account, Membership, Post, Role, Schedule, User
from core.domain.lifecycle import PostStatus
from core.rules.permissions import Actor
from core.services.scheduler import Scheduler
from tests.page_harness import BERLIN, owner_world

NOW = datetime.now(timezone.utc)


def _dialog_app():
    import streamlit as st

    from pages import post_dialog
    post_dialog.show(st.session_state["post_to_open"])
    if flash := st.session_state.pop(post_dialog.FLASH, None):
        st.success(flash[1])


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A workspace that needs approval, its editor, and an X post the owner approved for next week."""
    from streamlit.testing.v1 import AppTest

    from pages import shared
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        ws = db.update_workspace(replace(ws, requires_approval=True))
        editor = db.add_user(User(email="editor@example.com", display_name="Eddie"))
        db.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        when = Schedule.at_local(date.today() + timedelta(days=7), time(10), BERLIN)
        post = Post(accounts=(x,), caption="Spring is here.", hashtags=("#spring",), workspace_id=ws.id,
                    schedule=when)
        by_editor = Scheduler(db, actor=Actor.of(db, editor.id))
        assert by_editor.schedule_post("p1", post).status == PostStatus.PENDING_APPROVAL
        Scheduler(db, actor=Actor.of(db, owner.id)).approve("p1")

        def open_as(user):
            at = AppTest.from_function(_dialog_app, default_timeout=30)
            at.session_state["ctx"] = shared.Context(user=user, workspace=db.get_workspace(ws.id),
                                                     membership=db.get_membership(user.id, ws.id))
            at.session_state["post_to_open"] = "p1"
            return at.run()

        yield db, editor, open_as


def test_a_changed_caption_of_an_approved_post_is_saved_and_said_to_wait_for_approval(world):
    db, editor, open_as = world
    at = open_as(editor)
    assert not at.exception
    at.text_area(key="pd_caption_p1").input("Spring is here: 50% off today only.")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [
        "Changes saved: it waits for approval again, and goes out only once it is approved."]
    assert db.get_post_status("p1") == PostStatus.PENDING_APPROVAL


def test_saving_an_approved_post_unchanged_keeps_it_scheduled(world):
    db, editor, open_as = world
    at = open_as(editor)
    at.button(key="pd_save_p1").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["Changes saved."]
    assert db.get_post_status("p1") == PostStatus.SCHEDULED

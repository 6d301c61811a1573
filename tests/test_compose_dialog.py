"""Editing a post in the post dialog (pages/post_dialog.py): its per-platform variants and first comment reopen as
they were saved, changes are saved, and unticking a platform's variant falls back to the post's own text."""
from __future__ import annotations

import pytest

from core.domain import Account, Post, PostVariant
from core.domain.catalog import Platform
from core.rules.permissions import Actor
from core.services.scheduler import Scheduler
from tests.page_harness import owner_world


def _dialog_app():
    import streamlit as st

    from pages import post_dialog
    post_dialog.show(st.session_state["post_to_open"])


@pytest.fixture
def opened(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from pages import shared
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        li = db.save_account(Account(platform="linkedin", handle="brand-studio", workspace_id=ws.id))
        post = Post(accounts=(x, li), caption="Spring is here.", hashtags=("#spring",), workspace_id=ws.id,
                    first_comment="More at brand.example", recurrence="FREQ=WEEKLY;BYDAY=MO",
                    variants={Platform.LINKEDIN: PostVariant(caption="Spring is here, team.", hashtags=("#hiring",)),
                              Platform.X: PostVariant(thread=("One 1/2", "Two 2/2"))})
        Scheduler(db, actor=Actor.of(db, owner.id)).save_draft("p1", post)
        at = AppTest.from_function(_dialog_app, default_timeout=30)
        at.session_state["ctx"] = shared.Context(user=owner, workspace=db.get_workspace(ws.id),
                                                 membership=db.get_membership(owner.id, ws.id))
        at.session_state["post_to_open"] = "p1"
        yield db, at.run()


def test_variants_and_the_first_comment_reopen_and_save_and_unticking_falls_back(opened):
    db, at = opened
    assert not at.exception
    assert at.checkbox(key="pd_p1_v_linkedin").value is True
    assert at.text_area(key="pd_p1_v_linkedin_caption").value == "Spring is here, team."
    assert at.text_input(key="pd_p1_v_linkedin_hashtags").value == "#hiring"
    assert not [c for c in at.checkbox if c.key == "pd_p1_v_x"]          # X has a thread, not its own text
    assert any(c.value.startswith("Goes out on X as a thread of 2 posts") for c in at.caption)
    assert at.text_area(key="pd_p1_thread_x_0").value == "One 1/2"        # the thread's posts, to edit here
    assert at.text_area(key="pd_comment_p1").value == "More at brand.example"
    assert "Repeats every week on Monday from its first post." in [c.value for c in at.caption]

    at.text_area(key="pd_p1_v_linkedin_caption").input("Spring is here, network.")
    at.text_area(key="pd_comment_p1").input("Shop: brand.example/spring")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception
    post = db.get_post("p1")
    assert post.render("linkedin").caption == "Spring is here, network."
    assert post.render("linkedin").hashtags == ("#hiring",) and post.first_comment == "Shop: brand.example/spring"
    assert post.render("x").thread == ("Two 2/2",)                        # the thread is kept

    at.session_state["open_post"] = "p1"
    at.run()
    at.checkbox(key="pd_p1_v_linkedin").uncheck().run()
    at.button(key="pd_save_p1").click().run()
    post = db.get_post("p1")
    assert post.render("linkedin").caption == "Spring is here." and Platform.LINKEDIN not in post.variants
    assert post.render("x").text == "One 1/2"


def test_a_demo_post_opens_read_only_with_what_can_be_done_said(tmp_path, monkeypatch):
    """Sandbox demo history can be read and duplicated, never edited or cancelled: the dialog says so and offers
    nothing core would refuse."""
    from dataclasses import replace

    from streamlit.testing.v1 import AppTest

    from pages import shared
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        Scheduler(db, actor=Actor.of(db, owner.id)).save_draft("d1", Post(accounts=(x,), caption="Demo hello.",
                                                                          workspace_id=ws.id))
        draft = db.get_post("d1")
        db.update_post(replace(draft, is_demo=True), expected_version=draft.version)
        at = AppTest.from_function(_dialog_app, default_timeout=30)
        at.session_state["ctx"] = shared.Context(user=owner, workspace=db.get_workspace(ws.id),
                                                 membership=db.get_membership(owner.id, ws.id))
        at.session_state["post_to_open"] = "d1"
        at.run()
        assert not at.exception
        assert any("Demo data from the sandbox" in i.value for i in at.info)
        assert not [t for t in at.text_area if t.key == "pd_caption_d1"]        # no editor
        keys = {b.key for b in at.button}
        assert "pd_cancel_d1" not in keys and "pd_move_d1" not in keys and "pd_duplicate_d1" in keys


def test_a_thread_is_edited_in_the_dialog_and_emptying_it_sends_the_caption(opened):
    """On X the thread is what goes out, whatever the caption says: the dialog edits its posts, and emptying every
    post sends X the caption instead (no silent old thread after a caption change)."""
    db, at = opened
    at.text_area(key="pd_p1_thread_x_1").input("Two, reworded 2/2")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception
    assert db.get_post("p1").render("x").thread == ("Two, reworded 2/2",)

    at.session_state["open_post"] = "p1"
    at.run()
    at.text_area(key="pd_caption_p1").input("Summer is here.")
    at.text_area(key="pd_p1_thread_x_0").input("")
    at.text_area(key="pd_p1_thread_x_1").input("")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception
    rendered = db.get_post("p1").render("x")
    assert rendered.thread == () and rendered.caption == "Summer is here."


def test_customise_starts_from_the_caption_as_typed_not_as_saved(opened):
    db, at = opened
    at.text_area(key="pd_caption_p1").input("Autumn is here.").run()
    at.checkbox(key="pd_p1_v_linkedin").uncheck().run()
    at.checkbox(key="pd_p1_v_linkedin").check().run()
    assert at.text_area(key="pd_p1_v_linkedin_caption").value == "Autumn is here."


def test_a_published_demo_post_offers_no_link_to_open(tmp_path, monkeypatch):
    from dataclasses import replace

    from streamlit.testing.v1 import AppTest

    from core.domain.lifecycle import DeliveryState
    from pages import shared
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        from datetime import UTC, datetime

        from core.domain import Schedule
        Scheduler(db, actor=Actor.of(db, owner.id)).schedule_post("d2", Post(
            accounts=(x,), caption="Demo hello.", workspace_id=ws.id,
            schedule=Schedule(scheduled_at=datetime(2031, 1, 6, 9, tzinfo=UTC), timezone_name="UTC")))
        draft = db.get_post("d2")
        [d] = db.get_deliveries("d2")
        db.update_post(replace(draft, is_demo=True), expected_version=draft.version,
                       deliveries=[replace(d, state=DeliveryState.PUBLISHED, external_url="https://x.com/brand/status/1")])
        at = AppTest.from_function(_dialog_app, default_timeout=30)
        at.session_state["ctx"] = shared.Context(user=owner, workspace=db.get_workspace(ws.id),
                                                 membership=db.get_membership(owner.id, ws.id))
        at.session_state["post_to_open"] = "d2"
        at.run()
        assert not at.exception
        assert not at.get("link_button")

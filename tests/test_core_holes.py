"""Holes in the promise closed in core, on every store: an edit changes content only (never the state, the time, the
workspace, the demo mark or the author); a person settles only what waits for them (never a delivery the runner is
still sending or checking); disconnecting an account leaves what may already be live for a person, and finishes
even while a runner claims; and a post id is checked before anything is written."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import Account, Membership, Post, Role, Schedule, User, Workspace
from core.domain.errors import PermissionDenied, ValidationError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.rules.permissions import Actor
from core.services.scheduler import Scheduler


class W:
    pass


@pytest.fixture
def w(store, clock):
    """A workspace where a second person approves, its editor and owner, an X and a LinkedIn account, another
    workspace; a scheduler acting as the editor (the dashboard's: past times refused)."""
    w = W()
    w.store, w.clock = store, clock
    w.ws = store.add_workspace(Workspace(name="Acme", requires_approval=True, approval_by_other=True, id="ws_acme"))
    w.other = store.add_workspace(Workspace(name="Not mine", id="ws_other"))
    for role in (Role.OWNER, Role.EDITOR):
        store.add_user(User(email=f"{role.value}@acme.test", id=f"u_{role.value}"))
        store.set_membership(Membership(user_id=f"u_{role.value}", workspace_id=w.ws.id, role=role))
    w.x = store.save_account(Account(platform="x", handle="@acme", oauth_token="t", workspace_id=w.ws.id, id="a_x",
                                     daily_cap=1000, min_gap_minutes=0))
    w.li = store.save_account(Account(platform="linkedin", handle="Acme", oauth_token="t", workspace_id=w.ws.id,
                                      id="a_li", daily_cap=1000, min_gap_minutes=0))
    w.editor = Scheduler(store, clock=clock, actor=Actor.of(store, "u_editor"), refuse_past=True)
    w.owner = Scheduler(store, clock=clock, actor=Actor.of(store, "u_owner"), refuse_past=True)
    return w


def write(w, pid, *, hours=24, accounts=None):
    """A post the editor wrote: it waits for another person's approval."""
    post = Post(caption=f"Caption of {pid}", accounts=accounts or (w.x,), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock() + timedelta(hours=hours), timezone_name="Europe/Berlin"))
    assert w.editor.schedule_post(pid, post).status == PostStatus.PENDING_APPROVAL
    return pid


# ---------------------------------------------------------------- 1. an edit changes content only

@pytest.mark.parametrize("field, value, said", [
    # approving one's own post, which the workspace gives to a second person
    ("state", PostState.APPROVED, "approve"),
    # a time in the past, which reschedule refuses from the dashboard
    ("schedule", "past", "reschedule"),
    # moving the post into a workspace the editor is not in
    ("workspace_id", "ws_other", "workspace id"),
    # marking a real post as demo data, which removing the demo then deletes
    ("is_demo", True, "is demo"),
    # claiming another author, which lets the editor approve it as a "second person"
    ("created_by", "u_owner", "created by"),
    # another id, version or series: the post's identity
    ("id", "hijacked", "id"),
    ("version", 99, "version"),
    ("series_id", "s1", "series id"),
    ("rejection_reason", "", "reject"),
])
def test_an_edit_refuses_what_is_not_content_and_changes_nothing(w, field, value, said):
    write(w, "p1")
    before = w.store.get_post("p1")
    if value == "past":
        value = Schedule(scheduled_at=w.clock() - timedelta(hours=3), timezone_name="UTC")
    with pytest.raises(ValidationError, match=said) as refused:
        w.editor.edit("p1", **{field: value})
    assert refused.value.problems[0].code == "not_editable"
    assert "Editing a post changes only its content" in str(refused.value)
    after = w.store.get_post("p1")
    assert (after.state, after.schedule, after.workspace_id, after.is_demo, after.created_by, after.version) == (
        before.state, before.schedule, before.workspace_id, before.is_demo, before.created_by, before.version)
    assert w.store.get_post_status("p1") == PostStatus.PENDING_APPROVAL
    assert [e.action for e in w.store.list_events(subject_id="p1")].count("post.edited") == 0


def test_a_refused_field_is_refused_even_alongside_content(w):
    write(w, "p1")
    with pytest.raises(ValidationError, match="approve"):
        w.editor.edit("p1", caption="New words", state=PostState.APPROVED)
    assert w.store.get_post("p1").caption == "Caption of p1"


def test_self_approval_through_an_edit_is_refused_and_the_post_is_not_due(w):
    write(w, "p1", hours=1)
    with pytest.raises(PermissionDenied):
        w.editor.approve("p1")
    with pytest.raises(ValidationError):
        w.editor.edit("p1", state=PostState.APPROVED)
    assert Scheduler(w.store).due(now=w.clock() + timedelta(hours=2)) == []


def test_content_edits_still_work_and_the_time_moves_by_reschedule(w):
    write(w, "p1")
    w.editor.edit("p1", caption="New words", hashtags=("#spring",), call_to_action="Read it", link="https://a.test/1",
                  first_comment="More below", title="Spring")
    post = w.store.get_post("p1")
    assert (post.caption, post.hashtags, post.call_to_action, post.link, post.first_comment, post.title) == (
        "New words", ("#spring",), "Read it", "https://a.test/1", "More below", "Spring")
    later = w.clock() + timedelta(days=2)
    assert w.editor.reschedule("p1", later).scheduled_at == later


def test_new_accounts_replace_the_old_ones_including_the_first(w):
    write(w, "p1", accounts=(w.x,))
    w.editor.edit("p1", accounts=(w.li,))
    assert [a.id for a in w.store.get_post("p1").accounts] == ["a_li"]
    states = {d.account_id: d.state for d in w.store.get_deliveries("p1")}
    assert states == {"a_x": DeliveryState.CANCELLED, "a_li": DeliveryState.QUEUED}

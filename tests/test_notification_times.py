"""Notifications about a post's time say it in the workspace's zone, as every page does (a Berlin team reads
"09:00 (Europe/Berlin)", not "08:00 UTC"), and a post sent back for approval by a change says so in its own words.
The other kinds' words are in test_services.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.domain import Account, Membership, Post, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.rules.permissions import Actor
from core.services import approvals, notifications, reminders
from core.services.scheduler import Scheduler

BERLIN = "Europe/Berlin"
# 08:00 UTC on Monday 4 March 2030 is 09:00 in Berlin; 23:30 UTC on Sunday 31 March is already 01:30 on Monday 1 April
# there, after the clocks went forward (CEST, two hours ahead).
MONDAY = datetime(2030, 3, 4, 8, 0, tzinfo=timezone.utc)
LATE = datetime(2030, 3, 31, 23, 30, tzinfo=timezone.utc)


def _post(at: datetime, tz_name: str = "UTC") -> Post:
    li = Account(platform=Platform.LINKEDIN, handle="Acme Inc", workspace_id="ws_acme", id="a_li")
    return Post(caption="Spring sale starts today", accounts=(li,), workspace_id="ws_acme", id="p1",
                schedule=Schedule(scheduled_at=at, timezone_name=tz_name))


@pytest.mark.parametrize("build,body", [
    # a post due soon that nobody approved: its time in the workspace's zone, whatever zone it was scheduled in
    (lambda: notifications.approval_reminder(_post(MONDAY), BERLIN),
     "\u201cSpring sale starts today\u201d is due Mon 4 Mar 09:00 (Europe/Berlin) and will not go out until someone "
     "approves it."),
    # the day and the offset are the zone's too (after the clocks went forward, past midnight there)
    (lambda: notifications.approval_reminder(_post(LATE), BERLIN),
     "\u201cSpring sale starts today\u201d is due Mon 1 Apr 01:30 (Europe/Berlin) and will not go out until someone "
     "approves it."),
    # no zone given: the one it was scheduled in (a dashboard post is scheduled in the workspace's)
    (lambda: notifications.approval_reminder(_post(MONDAY, BERLIN)),
     "\u201cSpring sale starts today\u201d is due Mon 4 Mar 09:00 (Europe/Berlin) and will not go out until someone "
     "approves it."),
    # changed after it was approved: its own words, not a plain reminder's
    (lambda: notifications.approval_needed_again(_post(MONDAY), BERLIN),
     "\u201cSpring sale starts today\u201d was changed after it was approved and waits for approval again: it is due "
     "Mon 4 Mar 09:00 (Europe/Berlin) and will not go out until someone approves it."),
    # nobody approved it by its time
    (lambda: notifications.post_expired(_post(LATE), BERLIN, author_id="u_1"),
     "\u201cSpring sale starts today\u201d was due Mon 1 Apr 01:30 (Europe/Berlin) and nobody approved it, so it was "
     "not published. Give it a new time on the Approvals page."),
])
def test_a_posts_time_is_said_in_the_workspace_zone(build, body):
    note = build()
    assert note.body == body and "UTC" not in note.body
    assert note.subject_id == "p1" and note.workspace_id == "ws_acme"


def test_a_changed_post_is_told_to_the_approvers_in_its_own_words(store, clock):
    """An editor changes an approved post in a Berlin workspace: everyone who approves is told that it changed
    (not that "a post is waiting"), at its Berlin time, and the reminders do not tell them a second time."""
    ws = store.add_workspace(Workspace(name="Acme", timezone_name=BERLIN, requires_approval=True, id="ws_acme"))
    editor = store.add_user(User(email="editor@acme.test", id="u_editor"))
    store.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", workspace_id=ws.id, id="a_li"))
    due = clock() + timedelta(hours=5)                               # 13:00 UTC: 14:00 in Berlin
    Scheduler(store, clock=clock, actor=Actor.of(store, editor.id)).schedule_post("p1", Post(
        caption="Spring sale starts today", accounts=(li,), workspace_id=ws.id,
        schedule=Schedule(scheduled_at=due, timezone_name=BERLIN)))
    approvals.approve(store, ws.id, "p1", clock=clock)
    Scheduler(store, clock=clock, actor=Actor.of(store, editor.id)).edit("p1", caption="Spring sale: 20% off")
    [note] = store.list_notifications(workspace_id=ws.id)
    assert note.title == "A changed post is waiting for approval" and note.user_id is None
    assert note.body == ("\u201cSpring sale: 20% off\u201d was changed after it was approved and waits for approval "
                         "again: it is due Mon 4 Mar 14:00 (Europe/Berlin) and will not go out until someone "
                         "approves it.")
    assert note.kind == notifications.APPROVAL_NEEDED and note.created_at == clock()
    assert reminders.approval_reminders(store, clock=clock) == 0      # told once

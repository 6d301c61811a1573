"""Approvals: the queue by batch, approving a batch in one go, rejecting back to the author, a second person where
the workspace wants one, posts nobody approved by their time expiring (never claimed), and a new time putting
them back; on every store. The page's own tests are in test_approvals_page.py."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.domain import Account, Batch, Membership, Post, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.domain.errors import IllegalTransitionError, PermissionDenied, ValidationError
from core.domain.lifecycle import PostStatus
from core.rules.permissions import Actor
from core.rules.previews import preview
from core.services import approvals, housekeeping, notifications
from core.services.scheduler import Scheduler

BERLIN = "Europe/Berlin"


class W:
    pass


@pytest.fixture
def w(store, clock):
    """A Berlin workspace that needs approval, its people (owner, approver, editor, viewer), and another one."""
    w = W()
    w.store, w.clock = store, clock
    w.ws = store.add_workspace(Workspace(name="Acme", timezone_name=BERLIN, requires_approval=True, id="ws_acme"))
    w.other = store.add_workspace(Workspace(name="Other", requires_approval=True, id="ws_other"))
    w.people = {}
    for role in Role:
        user = store.add_user(User(email=f"{role.value}@acme.test", id=f"u_{role.value}"))
        store.set_membership(Membership(user_id=user.id, workspace_id=w.ws.id, role=role))
        w.people[role] = Actor.of(store, user.id)
    w.li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", workspace_id=w.ws.id, id="a_li",
                                    daily_cap=60, min_gap_minutes=0))
    w.x = store.save_account(Account(platform=Platform.X, handle="@acme", workspace_id=w.ws.id, id="a_x",
                                   daily_cap=60, min_gap_minutes=0))
    w.x_other = store.save_account(Account(platform=Platform.X, handle="@other", workspace_id=w.other.id, id="a_xo"))
    w.batch = store.save_batch(Batch(workspace_id=w.ws.id, week_start=date(2030, 3, 11), prompt="Spring", id="b1"))
    return w


def write(w, pid, hours, *, by=Role.EDITOR, batch=None, accounts=None, ws=None):
    """A post written by a person (an editor unless said), `hours` after now; it waits for approval."""
    ws = ws or w.ws
    actor = w.people[by] if ws is w.ws else Actor.system("test")
    post = Post(caption=f"Caption of {pid}", accounts=accounts or (w.li, w.x), workspace_id=ws.id, batch_id=batch,
                hashtags=("#spring",), schedule=Schedule(scheduled_at=w.clock() + timedelta(hours=hours),
                                                         timezone_name=ws.timezone_name))
    result = Scheduler(w.store, clock=w.clock, actor=actor).schedule_post(pid, post)
    assert result.status == PostStatus.PENDING_APPROVAL
    return pid


def status(w, pid):
    return w.store.get_post_status(pid)


# ---------------------------------------------------------------- the queue

def test_the_queue_groups_by_batch_with_previews_in_the_workspace_zone(w, monkeypatch):
    write(w, "p1", 30, batch="b1")
    write(w, "p2", 26, batch="b1")
    write(w, "p3", 5)
    write(w, "elsewhere", 5, ws=w.other, accounts=(w.x_other,))
    # The queue renders nothing itself: the page previews each account of a post (core.rules.previews).
    rendered = []
    real_render = Post.render
    monkeypatch.setattr(Post, "render", lambda post, platform: rendered.append(post.id) or real_render(post, platform))
    queue = approvals.approval_queue(w.store, w.ws.id, actor=w.people[Role.APPROVER], clock=w.clock)
    assert rendered == []
    monkeypatch.undo()
    assert queue.pending_count == 3 and not queue.expired
    loose, batch = sorted(queue.groups, key=lambda g: g.batch_id is not None)
    assert batch.title == "Week of 11 Mar 2030: Spring" and batch.post_ids == ("p2", "p1")   # earliest first
    assert loose.title == "Single posts" and loose.post_ids == ("p3",)
    p2 = batch.posts[0]
    # T0 is 08:00 UTC on Mon 4 Mar 2030: 26 hours later is Tue 5 Mar 10:00 UTC = 11:00 in Berlin
    assert p2.when == "Tue 5 Mar 11:00"
    assert p2.author_id == "u_editor" and p2.author == "editor@acme.test" and not p2.own
    # Each account's preview, as the page shows it: the caption with its hashtags, on LinkedIn and on X.
    views = [preview(p2.post, account) for account in p2.post.accounts]
    assert {(v.platform.label, v.name) for v in views} == {("LinkedIn", "Acme Inc"), ("X", "acme")}
    assert all("Caption of p2" in v.text and "#spring" in v.text for v in views)
    assert batch.confirmation() == ("Approve 2 posts? They go out from Tue 5 Mar 11:00 to Tue 5 Mar 15:00 "
                                    "(Europe/Berlin).")


def test_a_member_of_another_workspace_never_sees_the_queue(w):
    write(w, "p1", 5)
    outsider = Actor.for_user("u_out", {w.other.id: Role.OWNER})
    with pytest.raises(PermissionDenied, match="not a member"):
        approvals.approval_queue(w.store, w.ws.id, actor=outsider, clock=w.clock)


def test_a_viewer_sees_the_queue_but_may_approve_nothing(w):
    write(w, "p1", 5)
    queue = approvals.approval_queue(w.store, w.ws.id, actor=w.people[Role.VIEWER], clock=w.clock)
    [item] = queue.groups[0].posts
    assert not item.may_approve and item.why_not == "Only owners and approvers approve posts."


# ---------------------------------------------------------------- approving

def test_approving_a_batch_approves_every_post_shown_and_nothing_else(w):
    for n in range(5):
        write(w, f"b{n}", 24 + n, batch="b1")
    write(w, "loose", 24)
    shown = approvals.approval_queue(w.store, w.ws.id, actor=w.people[Role.APPROVER], clock=w.clock)
    group = next(g for g in shown.groups if g.batch_id == "b1")
    write(w, "late-comer", 30, batch="b1")          # added after the confirmation was shown
    result = approvals.approve_batch(w.store, w.ws.id, "b1", post_ids=group.post_ids, actor=w.people[Role.APPROVER],
                                     clock=w.clock)
    assert result.approved == group.post_ids and not result.refused
    assert {status(w, p) for p in group.post_ids} == {PostStatus.SCHEDULED}
    assert status(w, "late-comer") == PostStatus.PENDING_APPROVAL and status(w, "loose") == PostStatus.PENDING_APPROVAL
    events = [e for e in w.store.list_events(subject_id="b0") if e.action == "post.approved"]
    assert [e.actor for e in events] == ["user:u_approver"]


def test_a_batch_of_50_is_one_write_per_post(w, kind):
    for n in range(50):
        write(w, f"b{n:02}", 24 + n, batch="b1", accounts=(w.li,))
    writes = []
    real = w.store.update_post

    def counted(post, **kw):
        writes.append(post.id)
        return real(post, **kw)

    w.store.update_post = counted
    result = approvals.approve_batch(w.store, w.ws.id, "b1", actor=w.people[Role.APPROVER], clock=w.clock)
    assert len(result.approved) == 50 and sorted(writes) == sorted(result.approved)   # one transaction each
    assert {status(w, p) for p in result.approved} == {PostStatus.SCHEDULED}


def test_posts_in_no_batch_are_approved_as_their_own_group(w):
    write(w, "loose", 24)
    write(w, "in-batch", 24, batch="b1")
    result = approvals.approve_batch(w.store, w.ws.id, None, actor=w.people[Role.OWNER], clock=w.clock)
    assert result.approved == ("loose",) and status(w, "in-batch") == PostStatus.PENDING_APPROVAL


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_viewers_and_editors_are_refused_in_core(w, role):
    write(w, "p1", 24, batch="b1", by=Role.OWNER)
    with pytest.raises(PermissionDenied, match="cannot approve or reject posts"):
        approvals.approve_batch(w.store, w.ws.id, "b1", actor=w.people[role], clock=w.clock)
    with pytest.raises(PermissionDenied, match="cannot approve or reject posts"):
        approvals.approve(w.store, w.ws.id, "p1", actor=w.people[role], clock=w.clock)
    with pytest.raises(PermissionDenied, match="cannot approve or reject posts"):
        approvals.reject(w.store, w.ws.id, "p1", "No.", actor=w.people[role], clock=w.clock)
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL


def test_another_workspaces_post_is_not_approved_through_ones_own(w):
    write(w, "theirs", 24, ws=w.other, accounts=(w.x_other,))
    with pytest.raises(Exception, match="no such post|another workspace"):
        approvals.approve(w.store, w.ws.id, "theirs", actor=w.people[Role.OWNER], clock=w.clock)
    assert status(w, "theirs") == PostStatus.PENDING_APPROVAL


def test_where_a_second_person_must_approve_nobody_approves_their_own_post(w):
    from dataclasses import replace
    w.store.update_workspace(replace(w.store.get_workspace(w.ws.id), approval_by_other=True))
    write(w, "mine", 24, by=Role.OWNER, batch="b1")
    write(w, "theirs", 25, by=Role.EDITOR, batch="b1")
    owner = w.people[Role.OWNER]
    with pytest.raises(PermissionDenied, match="^Someone other than the author must approve this post.$"):
        approvals.approve(w.store, w.ws.id, "mine", actor=owner, clock=w.clock)
    # the post dialog's way (Scheduler.approve) obeys the same rule
    with pytest.raises(PermissionDenied, match="Someone other than the author"):
        Scheduler(w.store, clock=w.clock, actor=owner).approve("mine")
    queue = approvals.approval_queue(w.store, w.ws.id, actor=owner, clock=w.clock)
    assert "1 other in this group stays waiting" in queue.groups[0].confirmation()
    result = approvals.approve_batch(w.store, w.ws.id, "b1", actor=owner, clock=w.clock)
    assert result.approved == ("theirs",)
    assert result.refused == (("mine", "Someone other than the author must approve this post."),)
    assert status(w, "mine") == PostStatus.PENDING_APPROVAL
    approvals.approve(w.store, w.ws.id, "mine", actor=w.people[Role.APPROVER], clock=w.clock)
    assert status(w, "mine") == PostStatus.SCHEDULED


def test_without_the_setting_an_owner_approves_their_own_post(w):
    write(w, "mine", 24, by=Role.OWNER)
    approvals.approve(w.store, w.ws.id, "mine", actor=w.people[Role.OWNER], clock=w.clock)
    assert status(w, "mine") == PostStatus.SCHEDULED


def test_the_author_of_a_post_stored_without_one_is_read_from_its_activity(w):
    from core.services.scheduler import post_author
    write(w, "p1", 24)
    post = w.store.get_post("p1")
    assert post.created_by == "u_editor" and post_author(w.store, post) == "u_editor"
    from dataclasses import replace
    assert post_author(w.store, replace(post, created_by=None)) == "u_editor"


# ---------------------------------------------------------------- rejecting

def test_rejecting_sends_the_post_back_to_its_author_with_the_reason(w):
    write(w, "p1", 24)
    approvals.reject(w.store, w.ws.id, "p1", "The price in the caption is wrong.", actor=w.people[Role.APPROVER],
                     clock=w.clock)
    post = w.store.get_post("p1")
    assert status(w, "p1") == PostStatus.REJECTED and post.rejection_reason == "The price in the caption is wrong."
    [note] = w.store.list_notifications(workspace_id=w.ws.id)
    assert note.kind == notifications.POST_REJECTED and note.user_id == "u_editor" and note.subject_id == "p1"
    assert "The price in the caption is wrong." in note.body
    # the author edits it like a draft and submits it again
    author = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR])
    author.edit("p1", caption="Fixed price")
    assert author.submit("p1").status == PostStatus.PENDING_APPROVAL
    assert w.store.get_post("p1").rejection_reason is None
    assert not w.store.claim_due(w.clock() + timedelta(days=2), runner_id="r", lease_until=w.clock() + timedelta(days=3))


def test_a_rejection_needs_a_reason(w):
    write(w, "p1", 24)
    with pytest.raises(ValidationError, match="Say why"):
        approvals.reject(w.store, w.ws.id, "p1", "   ", actor=w.people[Role.APPROVER], clock=w.clock)
    with pytest.raises(ValidationError, match="Say why"):       # the post dialog's way too
        Scheduler(w.store, clock=w.clock, actor=w.people[Role.APPROVER]).reject("p1", "")
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL and not w.store.list_notifications(workspace_id=w.ws.id)


def test_the_post_dialogs_way_of_rejecting_tells_the_author_too(w):
    write(w, "p1", 24)
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).reject("p1", "Not this week.")
    [note] = w.store.list_notifications(workspace_id=w.ws.id)
    assert note.kind == notifications.POST_REJECTED and note.user_id == "u_editor"


# ---------------------------------------------------------------- expiring

def test_an_unapproved_post_is_never_claimed_and_expires_at_its_time(w):
    write(w, "p1", 1)
    write(w, "later", 48)
    w.clock.now += timedelta(hours=2)
    now = w.clock()
    assert w.store.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=5)) == []
    assert approvals.expire_overdue(w.store, clock=w.clock) == 1
    assert status(w, "p1") == PostStatus.EXPIRED and status(w, "later") == PostStatus.PENDING_APPROVAL
    [event] = [e for e in w.store.list_events(subject_id="p1") if e.action == "post.expired"]
    assert event.from_state == "pending_approval" and event.to_state == "expired"
    [note] = w.store.list_notifications(workspace_id=w.ws.id)
    # due 09:00 UTC = 10:00 in Berlin, said in the workspace's zone
    assert note.kind == notifications.POST_EXPIRED and note.user_id == "u_editor"
    assert "Mon 4 Mar 10:00 (Europe/Berlin)" in note.body
    assert w.store.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=5)) == []
    assert approvals.expire_overdue(w.store, clock=w.clock) == 0        # once
    # nobody approves it any more; the queue offers a new time
    with pytest.raises(IllegalTransitionError):
        Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).approve("p1")
    queue = approvals.approval_queue(w.store, w.ws.id, actor=w.people[Role.OWNER], clock=w.clock)
    assert [e.post_id for e in queue.expired] == ["p1"] and queue.pending_count == 1


def test_the_runners_housekeeping_expires_them(w):
    write(w, "p1", 1)
    w.clock.now += timedelta(hours=2)
    housekeeping.housekeeping(w.store, clock=w.clock, actor="runner:r1")
    assert status(w, "p1") == PostStatus.EXPIRED
    assert [e.actor for e in w.store.list_events(subject_id="p1") if e.action == "post.expired"] == ["runner:r1"]


def test_a_person_cannot_approve_a_post_whose_time_has_passed(w):
    write(w, "p1", 1, batch="b1")
    w.clock.now += timedelta(hours=2)
    with pytest.raises(ValidationError, match="time has passed"):
        approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.OWNER], clock=w.clock)
    result = approvals.approve_batch(w.store, w.ws.id, "b1", actor=w.people[Role.OWNER], clock=w.clock)
    assert result.approved == () and "time has passed" in result.refused[0][1]
    with pytest.raises(ValidationError, match="time has passed"):      # the post dialog's way too
        Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).approve("p1")
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL


def test_a_new_time_puts_an_expired_post_back_in_the_queue(w):
    write(w, "p1", 1)
    w.clock.now += timedelta(hours=2)
    approvals.expire_overdue(w.store, clock=w.clock)
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR], refuse_past=True)
    with pytest.raises(ValidationError):
        editor.reschedule("p1", Schedule.at_local(date(2030, 3, 1), time(9), BERLIN))   # still in the past
    assert status(w, "p1") == PostStatus.EXPIRED
    result = editor.reschedule("p1", Schedule.at_local(date(2030, 3, 6), time(9), BERLIN))
    assert result.status == PostStatus.PENDING_APPROVAL
    assert {d.due_at for d in w.store.get_deliveries("p1")} == {datetime(2030, 3, 6, 8, tzinfo=timezone.utc)}
    approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.APPROVER], clock=w.clock)
    w.clock.now = datetime(2030, 3, 6, 8, 0, 1, tzinfo=timezone.utc)
    claimed = w.store.claim_due(w.clock(), runner_id="r", lease_until=w.clock() + timedelta(minutes=5))
    assert {d.post_id for d in claimed} == {"p1"}


def test_an_expired_post_can_be_cancelled(w):
    write(w, "p1", 1)
    w.clock.now += timedelta(hours=2)
    approvals.expire_overdue(w.store, clock=w.clock)
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).cancel("p1")
    assert status(w, "p1") == PostStatus.CANCELLED


# ---------------------------------------------------------------- changing an approved post

def approved(w, pid, hours=24, **kwargs):
    """A post an editor wrote and an approver approved: it is scheduled."""
    write(w, pid, hours, **kwargs)
    approvals.approve(w.store, w.ws.id, pid, actor=w.people[Role.APPROVER], clock=w.clock)
    assert status(w, pid) == PostStatus.SCHEDULED
    return pid


def claimable(w, at):
    return {d.post_id for d in w.store.claim_due(at, runner_id="r", lease_until=at + timedelta(minutes=5))}


def test_an_editors_change_to_an_approved_post_waits_for_approval_again(w):
    """Text nobody approved never goes out: the edit sends it back to the approvers, who are told, and it is not due
    until one of them approves the new words."""
    approved(w, "p1")
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR], refuse_past=True)
    result = editor.edit("p1", caption="Prices from 9 EUR (not approved)")
    assert result.status == PostStatus.PENDING_APPROVAL and status(w, "p1") == PostStatus.PENDING_APPROVAL
    assert result.notices == ("Changes saved: it waits for approval again, and goes out only once it is approved.",)
    [edited] = [e for e in w.store.list_events(subject_id="p1") if e.action == "post.edited"]
    assert (edited.from_state, edited.to_state, edited.actor) == ("scheduled", "pending_approval", "user:u_editor")
    assert edited.reason == "Its content changed after it was approved, so it waits for approval again."
    [note] = w.store.list_notifications(workspace_id=w.ws.id)
    assert note.kind == notifications.APPROVAL_NEEDED and note.subject_id == "p1" and note.user_id is None
    assert "Prices from 9 EUR" in note.body and "until someone approves it" in note.body
    # its deliveries wait: nothing is claimed at its time, and the approvers find it in their queue
    due = w.store.get_post("p1").due_at
    assert {d.state.value for d in w.store.get_deliveries("p1")} == {"queued"}
    queue = approvals.approval_queue(w.store, w.ws.id, actor=w.people[Role.APPROVER], clock=w.clock)
    assert [p.post.id for g in queue.groups for p in g.posts] == ["p1"]
    w.clock.now = due - timedelta(minutes=1)
    assert claimable(w, due + timedelta(seconds=1)) == set()
    approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.APPROVER], clock=w.clock)
    assert claimable(w, due + timedelta(seconds=1)) == {"p1"}
    assert w.store.get_post("p1").caption == "Prices from 9 EUR (not approved)"


@pytest.mark.parametrize("change", ["hashtags", "media_urls", "link", "call_to_action", "first_comment", "title",
                                    "variants", "new account"])
def test_every_change_to_what_goes_out_needs_the_approval_again(w, change):
    approved(w, "p1", accounts=(w.li,))
    from core.domain import PostVariant
    value = {"hashtags": ("#other",), "media_urls": ("https://cdn.example.com/a.jpg",),
             "link": "https://acme.example/offer", "call_to_action": "Buy now", "first_comment": "Link below",
             "title": "A title", "variants": {Platform.LINKEDIN: PostVariant(caption="Only on LinkedIn")},
             "new account": (w.li, w.x)}[change]
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR])
    editor.edit("p1", **{"accounts" if change == "new account" else change: value})
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL


def test_a_new_time_a_save_without_changes_or_a_removed_account_keeps_the_approval(w):
    approved(w, "p1")
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR], refuse_past=True)
    post = w.store.get_post("p1")
    assert editor.reschedule("p1", post.due_at + timedelta(hours=3)).status == PostStatus.SCHEDULED
    # the dialog's "Save changes" with nothing changed sends every field as it is
    result = editor.edit("p1", caption=post.caption, hashtags=post.hashtags, link=post.link, media_urls=post.media_urls,
                         variants=post.variants, accounts=post.accounts)
    assert result.status == PostStatus.SCHEDULED and result.notices == ()
    assert editor.edit("p1", accounts=(w.li,)).status == PostStatus.SCHEDULED      # less goes out
    assert status(w, "p1") == PostStatus.SCHEDULED and not w.store.list_notifications(workspace_id=w.ws.id)


def test_an_approver_who_edits_approves_with_the_edit_unless_a_second_person_must(w):
    """Like Buffer: someone who may approve it themselves keeps it approved, and the history says they did."""
    approved(w, "p1")
    owner = Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER], refuse_past=True)
    result = owner.edit("p1", caption="Fixed by the owner")
    assert result.status == PostStatus.SCHEDULED and result.notices == ()
    [edited] = [e for e in w.store.list_events(subject_id="p1") if e.action == "post.edited"]
    assert (edited.from_state, edited.to_state) == ("scheduled", "scheduled")
    assert edited.reason == "Approved by owner@acme.test with the edit."
    assert not w.store.list_notifications(workspace_id=w.ws.id)
    # where a second person approves, nobody's own change is approved by themselves
    from dataclasses import replace
    w.store.update_workspace(replace(w.store.get_workspace(w.ws.id), approval_by_other=True))
    assert owner.edit("p1", caption="Fixed again").status == PostStatus.PENDING_APPROVAL
    assert status(w, "p1") == PostStatus.PENDING_APPROVAL
    # ... nor approves it themselves afterwards, though someone else wrote the post first
    said = "You changed this post after it was approved, so someone else must approve it."
    with pytest.raises(PermissionDenied, match=said):
        approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.OWNER], clock=w.clock)
    result = approvals.approve_batch(w.store, w.ws.id, None, actor=w.people[Role.OWNER], clock=w.clock)
    assert result.approved == () and result.refused == (("p1", said),)
    approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.APPROVER], clock=w.clock)
    assert status(w, "p1") == PostStatus.SCHEDULED


def test_the_queue_does_not_offer_approve_to_whoever_changed_an_approved_post_where_a_second_person_must(w):
    """The queue says why on the post (and the page hides its button) rather than offering Approve and then refusing
    the click; only the last change counts: once someone else approves it, the next one to change it is the one who
    may not."""
    from dataclasses import replace
    w.store.update_workspace(replace(w.store.get_workspace(w.ws.id), approval_by_other=True))
    approved(w, "p1", batch="b1")
    approved(w, "p2", hours=30, batch="b1")
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).edit("p1", caption="The owner's new words")
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR]).edit("p2", caption="The editor's new words")

    def seen_by(role):
        queue = approvals.approval_queue(w.store, w.ws.id, actor=w.people[role], clock=w.clock)
        [group] = queue.groups
        return group, {i.post_id: (i.may_approve, i.why_not) for i in group.posts}

    group, items = seen_by(Role.OWNER)
    assert items == {"p1": (False, "You changed this post after it was approved: someone else must approve it."),
                     "p2": (True, "")}
    assert [i.post_id for i in group.approvable] == ["p2"]
    assert group.confirmation().endswith("1 other in this group stays waiting (see why on each post).")
    assert seen_by(Role.APPROVER)[1] == {"p1": (True, ""), "p2": (True, "")}
    # the approver approves the owner's change and an editor changes it again: the owner's change was approved, so
    # now the owner may approve it (and does: the queue offered nothing core refuses)
    approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.APPROVER], clock=w.clock)
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR]).edit("p1", caption="The editor's words")
    assert seen_by(Role.OWNER)[1]["p1"] == (True, "")
    approvals.approve(w.store, w.ws.id, "p1", actor=w.people[Role.OWNER], clock=w.clock)
    assert status(w, "p1") == PostStatus.SCHEDULED
    # and changes it after that: it waits for the approver
    Scheduler(w.store, clock=w.clock, actor=w.people[Role.OWNER]).edit("p1", caption="The owner's last words")
    assert seen_by(Role.OWNER)[1]["p1"] == (False, approvals.CHANGED_IT)
    assert seen_by(Role.APPROVER)[1]["p1"] == (True, "")
    # without a second person, whoever may approve approves what they changed (and their own edit keeps it approved)
    w.store.update_workspace(replace(w.store.get_workspace(w.ws.id), approval_by_other=False))
    assert seen_by(Role.OWNER)[1]["p1"] == (True, "")


def test_without_approvals_an_edit_keeps_the_post_scheduled(w):
    from dataclasses import replace
    w.store.update_workspace(replace(w.store.get_workspace(w.ws.id), requires_approval=False))
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR])
    post = Post(caption="Hello", accounts=(w.li,), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock() + timedelta(hours=5), timezone_name=BERLIN))
    assert editor.schedule_post("p1", post).status == PostStatus.SCHEDULED
    assert editor.edit("p1", caption="Hello again").status == PostStatus.SCHEDULED

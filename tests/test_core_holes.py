"""Holes in the promise closed in core, on every store: an edit changes content only (never the state, the time, the
workspace, the demo mark or the author); a person settles only what waits for them (never a delivery the runner is
still sending or checking); disconnecting an account leaves what may already be live for a person, and finishes
even while a runner claims; and a post id is checked before anything is written."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.domain import Account, AccountStatus, Membership, Post, Role, Schedule, User, Workspace
from core.domain.errors import PermissionDenied, ValidationError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus, SettleRefused
from core.rules.permissions import Actor
from core.services import accounts
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


# ---------------------------------------------------------------- 2. a person settles only what waits for them

def planned(w, pid, *, minutes=10, account=None):
    """An approved post (a script's) to one account, `minutes` from now; returns its delivery's id."""
    post = Post(caption=f"Caption of {pid}", accounts=(account or w.x,), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock() + timedelta(minutes=minutes), timezone_name="UTC"))
    Scheduler(w.store, clock=w.clock).schedule_post(pid, post, submit_for_approval=False)
    [d] = w.store.get_deliveries(pid)
    return d.id


def claim(w, delivery_id, *, progress=()):
    """The runner claims the delivery (its time has come) and records `progress` (key, value) pairs."""
    w.clock.advance(minutes=15)
    claimed = {d.id: d for d in w.store.claim_due(w.clock(), runner_id="r1", lease_until=w.clock() + timedelta(minutes=5))}
    for key, value in progress:
        assert w.store.save_progress(delivery_id, "r1", key, value)
    return claimed[delivery_id]


def in_doubt(w, pid, *, account=None, progress=None):
    """Sent, no answer: the runner waits for the platform's settle window, then looks (retry_wait, "sent" set); or
    waiting with other `progress` (a thread's first post made)."""
    did = planned(w, pid, account=account)
    progress = progress or [("sent", w.clock().isoformat())]
    d = claim(w, did, progress=progress)
    w.store.finish_delivery(replace(d.retry_later(at=w.clock() + timedelta(hours=2), error="No answer yet."),
                                    progress=dict(progress)), runner_id="r1")
    return did


def in_review(w, pid, *, progress, account=None):
    did = planned(w, pid, account=account)
    d = claim(w, did, progress=progress)
    w.store.finish_delivery(replace(d.needs_review(evidence="Outpost could not tell."), progress=dict(progress)),
                            runner_id="r1")
    return did


SETTLES = {"give_up": lambda s, did: s.give_up(did), "try_again": lambda s, did: s.try_again(did),
           "confirm_published": lambda s, did: s.confirm_published(did, url="https://x.com/acme/status/1")}


@pytest.mark.parametrize("action", sorted(SETTLES))
def test_nothing_is_settled_by_hand_while_a_send_is_in_doubt(w, action):
    did = in_doubt(w, "p1")
    before = w.store.get_delivery(did)
    assert before.state == DeliveryState.RETRY_WAIT and before.progress.get("sent")
    with pytest.raises(SettleRefused, match="Outpost is still publishing this") as refused:
        SETTLES[action](w.owner, did)
    assert "dlv_" not in str(refused.value)          # words for a person, not the delivery's id
    after = w.store.get_delivery(did)
    assert (after.state, after.version, after.progress) == (before.state, before.version, before.progress)


def test_giving_up_then_trying_again_cannot_post_an_in_doubt_delivery_twice(w):
    """The attack: give up a delivery in doubt (it went to failed), then try again (which clears the doubt, so the
    runner sent it again without looking): now both are refused and the runner still looks first."""
    did = in_doubt(w, "p1")
    for act in (w.owner.give_up, w.owner.try_again):
        with pytest.raises(SettleRefused):
            act(did)
    d = w.store.get_delivery(did)
    assert d.state == DeliveryState.RETRY_WAIT and d.progress.get("sent")
    assert w.store.get_post_status("p1") == PostStatus.PUBLISHING


@pytest.mark.parametrize("action", sorted(SETTLES))
def test_nothing_is_settled_by_hand_while_the_runner_is_sending(w, action):
    did = planned(w, "p1")
    claim(w, did)
    with pytest.raises(SettleRefused, match="Outpost is still publishing this"):
        SETTLES[action](w.owner, did)
    assert w.store.get_delivery(did).state == DeliveryState.PUBLISHING


@pytest.mark.parametrize("action, said", [
    ("give_up", "cancel the post"),               # the way to stop what has not gone out
    ("try_again", "already waiting to go out"),
    ("confirm_published", "has not gone out yet"),
])
def test_a_delivery_waiting_for_its_time_is_not_settled(w, action, said):
    did = planned(w, "p1")
    with pytest.raises(SettleRefused, match=said):
        SETTLES[action](w.owner, did)
    assert w.store.get_delivery(did).state == DeliveryState.QUEUED


def test_a_live_post_in_review_is_never_marked_not_published(w):
    """The thread's first post is live (its replies were not posted): "do not publish it" would be untrue."""
    did = in_review(w, "p1", progress=[("tweet:0", "1850001")])
    with pytest.raises(ValidationError, match="cannot be marked as not published. Mark it published"):
        w.owner.give_up(did)
    assert w.store.get_delivery(did).state == DeliveryState.NEEDS_REVIEW
    assert w.owner.confirm_published(did).state == DeliveryState.PUBLISHED


def test_a_send_in_doubt_in_review_is_the_person_s_to_settle(w):
    """Needs review with a send in doubt: the person looked, so each of the three answers is theirs."""
    did = in_review(w, "p1", progress=[("sent", "2030-03-04T08:15:00+00:00")])
    assert w.owner.give_up(did).state == DeliveryState.FAILED
    again = w.owner.try_again(did)
    assert again.state == DeliveryState.QUEUED and again.attempts == 0 and not again.progress.get("sent")
    did2 = in_review(w, "p2", progress=[("sent", "2030-03-04T08:15:00+00:00")], account=w.li)
    assert w.owner.confirm_published(did2, url="https://www.linkedin.com/feed/update/1").state == DeliveryState.PUBLISHED
    with pytest.raises(SettleRefused, match="already published: trying again would post it twice"):
        w.owner.try_again(did2)


# ---------------------------------------------------------------- 3. disconnecting leaves what may be live to a person

def test_disconnecting_cancels_only_what_cannot_be_live_and_hands_the_rest_to_a_person(w):
    doubt = in_doubt(w, "doubt")                                           # X: sent, the answer lost
    live = in_doubt(w, "thread", account=w.li, progress=[("post:id", "urn:li:share:7")])   # made, comment left
    later = planned(w, "later", minutes=600)                               # X: not sent yet
    owner = Actor.of(w.store, "u_owner")
    preview = accounts.disconnect_impact(w.store, owner, "a_x")
    assert [p.id for p, _ in preview.planned] == ["later"] and [p.id for p, _ in preview.review] == ["doubt"]
    assert "may already be on @acme on X" in preview.message and "not cancelled" in preview.message

    done = accounts.disconnect_account(w.store, owner, "a_x", clock=w.clock)
    assert [p.id for p, _ in done.planned] == ["later"] and [p.id for p, _ in done.review] == ["doubt"]
    assert done.message.startswith("1 planned post to @acme on X will not go out there")
    assert "1 post may already be on @acme on X" in done.message and "Needs attention" in done.message
    d = w.store.get_delivery(doubt)
    assert d.state == DeliveryState.NEEDS_REVIEW and d.progress.get("sent")      # the doubt is kept for the person
    assert "disconnected while Outpost was checking whether this went out" in d.last_error
    assert w.store.get_post_status("doubt") == PostStatus.NEEDS_REVIEW
    assert w.store.get_delivery(later).state == DeliveryState.CANCELLED
    assert w.store.get_delivery(live).state == DeliveryState.RETRY_WAIT          # another account: untouched

    w.owner.give_up(doubt)      # the person looked: not there, and not wanted now
    assert w.store.get_delivery(doubt).state == DeliveryState.FAILED


def test_a_live_post_whose_account_is_disconnected_is_never_called_not_going_out(w):
    live = in_doubt(w, "thread", progress=[("tweet:0", "1850001")])
    done = accounts.disconnect_account(w.store, Actor.of(w.store, "u_owner"), "a_x", clock=w.clock)
    assert done.planned == () and [p.id for p, _ in done.review] == ["thread"]
    assert "will not go out" not in done.message
    d = w.store.get_delivery(live)
    assert d.state == DeliveryState.NEEDS_REVIEW and "the post is on X" in d.last_error
    with pytest.raises(ValidationError, match="cannot be marked as not published"):
        w.owner.give_up(live)
    assert w.owner.confirm_published(live).state == DeliveryState.PUBLISHED


# ---------------------------------------------------------------- 4. disconnecting finishes while a runner claims

class ClaimingMeanwhile:
    """The store as disconnect_account sees it while runners work: between its reading a delivery and its writing it,
    a runner claims some (a claim statement that began before the account was revoked) and hands others back."""

    def __init__(self, inner, *, claim: set, hand_back: set):
        self._inner, self._claim, self._hand_back = inner, claim, hand_back

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def update_delivery(self, delivery, *, expected_version, events=()):
        current = self._inner.get_delivery(delivery.id)
        if delivery.id in self._claim:
            self._claim.discard(delivery.id)
            self._inner.update_delivery(current.start_publishing(runner_id="r9", lease_until=current.due_at
                                                                 + timedelta(minutes=5)),
                                        expected_version=current.version)
        elif delivery.id in self._hand_back:   # claimed and handed back untouched (the runner saw it revoked)
            self._hand_back.discard(delivery.id)
            self._inner.update_delivery(current.reschedule(due_at=current.due_at), expected_version=current.version)
        return self._inner.update_delivery(delivery, expected_version=expected_version, events=events)


def test_disconnect_is_all_done_even_while_a_runner_claims(w):
    ids = [planned(w, f"p{i}", minutes=30 + i) for i in range(6)]
    racing = ClaimingMeanwhile(w.store, claim={ids[1]}, hand_back={ids[3]})
    done = accounts.disconnect_account(racing, Actor.of(w.store, "u_owner"), "a_x", clock=w.clock)
    acct = w.store.get_account("a_x")
    assert acct.status == AccountStatus.REVOKED and acct.oauth_token is None
    states = {did: w.store.get_delivery(did).state for did in ids}
    assert states == {**{did: DeliveryState.CANCELLED for did in ids}, ids[1]: DeliveryState.PUBLISHING}
    assert [d.id for _, d in done.sending] == [ids[1]] and len(done.planned) == 5
    assert "1 post was being sent to @acme on X at that moment" in done.message
    # and from now on no runner takes anything for it
    w.clock.advance(hours=2)
    assert w.store.claim_due(w.clock(), runner_id="r2", lease_until=w.clock() + timedelta(minutes=5)) == []


def test_disconnect_picks_up_what_a_runner_hands_back_while_it_runs(w):
    """A delivery being sent when the disconnect starts, handed back to the queue (not sent) before it ends."""
    ids = [planned(w, f"p{i}", minutes=10 + i) for i in range(3)]
    first = claim(w, ids[0])                                  # r1 holds it as the disconnect starts

    class HandsBack(ClaimingMeanwhile):
        def update_delivery(self, delivery, *, expected_version, events=()):
            held = self._inner.get_delivery(ids[0])
            if held.state == DeliveryState.PUBLISHING:       # r1 read the account: revoked, so it sends nothing
                self._inner.finish_delivery(held.release(), runner_id="r1")
            return self._inner.update_delivery(delivery, expected_version=expected_version, events=events)

    done = accounts.disconnect_account(HandsBack(w.store, claim=set(), hand_back=set()), Actor.of(w.store, "u_owner"),
                                       "a_x", clock=w.clock)
    assert first.state == DeliveryState.PUBLISHING
    assert {w.store.get_delivery(did).state for did in ids} == {DeliveryState.CANCELLED}
    assert done.sending == () and len(done.planned) == 3


# ---------------------------------------------------------------- 5. a post id is checked before anything is written

@pytest.mark.parametrize("post_id, said", [
    ("h8\x00id", "only visible characters"),       # SQLite kept it; PostgreSQL refuses a NUL
    ("h8\udc00id", "only visible characters"),     # half an emoji: no driver can encode it
    ("i" * 1_000_000, "at most 64 characters; this one has 1,000,000"),   # PostgreSQL: StringDataRightTruncation
    ("i" * 65, "at most 64 characters"),
    ("two\nlines", "only visible characters"),
    (" padded", "no space at either end"),
    ("", "needs an id"),
    (None, "needs an id"),
], ids=["nul", "surrogate", "1MB", "65", "line-break", "padded", "empty", "none"])
@pytest.mark.parametrize("way", ["schedule_post", "save_draft", "add_to_queue"])
def test_a_post_id_a_store_cannot_keep_is_refused_before_anything_is_written(w, post_id, said, way):
    """Scheduled, kept as a draft or put in the queue: every way of creating a post checks its id first."""
    post = Post(caption="Hello", accounts=(w.x,), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock() + timedelta(days=1), timezone_name="UTC"))
    with pytest.raises(ValidationError, match=said) as refused:
        getattr(Scheduler(w.store, clock=w.clock), way)(post_id, post)
    assert refused.value.problems[0].code == "post_id" and "\x00" not in str(refused.value)
    assert w.store.list_posts(workspace_id=w.ws.id) == []


def test_an_id_of_64_visible_characters_is_kept_as_it_is(w):
    post_id = "Spring-launch #1 / 2030 · é" + "x" * 37
    assert len(post_id) == 64
    post = Post(caption="Hello", accounts=(w.x,), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock() + timedelta(days=1), timezone_name="UTC"))
    Scheduler(w.store, clock=w.clock).schedule_post(post_id, post)
    assert w.store.get_post(post_id).caption == "Hello"


# ---------------------------------------------------------------- a draft goes out by the composer's rule

def test_a_draft_is_scheduled_by_whoever_writes_posts_only_where_no_approval_is_needed(w):
    """Scheduler.schedule_draft: in a workspace without approval the editor's draft is scheduled (as the composer
    schedules their posts); with approval on it goes to the approvers; no time, a past time, or a viewer: refused
    in words, and the draft stays a draft."""
    from core.domain.errors import PastTimeError
    free = w.store.update_workspace(replace(w.ws, requires_approval=False, approval_by_other=False))
    soon = Schedule(scheduled_at=w.clock() + timedelta(hours=5), timezone_name="Europe/Berlin")
    draft = Post(caption="A draft", accounts=(w.x,), workspace_id=free.id, schedule=soon)
    w.editor.save_draft("d1", draft)
    assert w.editor.schedule_draft("d1").status == PostStatus.SCHEDULED

    w.editor.save_draft("d2", replace(draft, schedule=None))
    with pytest.raises(ValidationError, match="Give the post a date and time first"):
        w.editor.schedule_draft("d2")
    w.editor.save_draft("d3", replace(draft, schedule=Schedule(scheduled_at=w.clock() + timedelta(hours=1),
                                                               timezone_name="Europe/Berlin")))
    w.clock.advance(hours=2)                                       # the draft's time has passed meanwhile
    with pytest.raises(PastTimeError, match="has already passed"):
        w.editor.schedule_draft("d3")
    w.store.add_user(User(email="viewer@acme.test", id="u_viewer"))
    w.store.set_membership(Membership(user_id="u_viewer", workspace_id=free.id, role=Role.VIEWER))
    with pytest.raises(PermissionDenied):
        Scheduler(w.store, clock=w.clock, actor=Actor.of(w.store, "u_viewer")).schedule_draft("d1")
    assert [w.store.get_post(p).state for p in ("d2", "d3")] == [PostState.DRAFT, PostState.DRAFT]

    w.store.update_workspace(replace(free, requires_approval=True))
    w.editor.save_draft("d4", replace(draft, schedule=Schedule(scheduled_at=w.clock() + timedelta(hours=7),
                                                               timezone_name="Europe/Berlin")))
    assert w.editor.schedule_draft("d4").status == PostStatus.PENDING_APPROVAL

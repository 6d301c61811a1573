"""A post already live on the platform while what follows it (its first comment) is still to come: it is never shown as
Scheduled, never cancelled, edited or rescheduled as if nothing had gone out, and a comment refused for good is told
even when the runner that saw the refusal lost the delivery before recording it; a thread's reply refused for good is
saved as refused, so the runner that takes it over never sends it again. The real publisher and adapters
over HTTP to the emulator, a controlled clock; no sleeps."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import PostVariant, post_status
from core.domain.catalog import Platform
from core.domain.errors import IllegalTransitionError
from core.domain.lifecycle import DeliveryState, PostStatus, started_status
from core.domain.timeutil import utcnow
from core.rules.permissions import Actor
from core.services.connect import mark_reconnect_needed
from core.services.scheduler import Scheduler
from tests.test_in_doubt import LEASE, Clock, claim, publisher, run_due
from tests.test_threads_and_comments import comments, emu, image, template, world  # noqa: F401


def status_of(world, post_id):
    post = world.store.get_post(post_id)
    return post_status(post, world.store.deliveries_for([post_id])[post_id])


def refused_everything(sched, post_id, clock):
    for attempt in (lambda: sched.cancel(post_id), lambda: sched.edit(post_id, caption="Changed"),
                    lambda: sched.reschedule(post_id, clock() + timedelta(days=1)), lambda: sched.revise(post_id)):
        with pytest.raises(IllegalTransitionError) as refused:
            attempt()
        assert "publishing has already started" in str(refused.value)


def live_with_comment_in_doubt(world, clock):
    ig = world.connect("instagram")
    post = world.post(ig, at=clock(), media=image(world), first_comment="Which one is your favourite?")
    world.emu.add_fault(kind="lost_response", platform="instagram", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("post:id")   # live on Instagram
    return ig, post, pub, first


def test_a_live_post_waiting_for_a_reconnect_stays_publishing_and_cannot_be_cancelled(world):
    clock = Clock(utcnow())
    ig, post, pub, first = live_with_comment_in_doubt(world, clock)
    clock.now = first.next_attempt_at
    claimed = claim(world, clock)
    # The account is marked for reconnect between the claim and the run (another of its posts met a revoked token).
    mark_reconnect_needed(world.store, world.store.get_account(ig.id), "token revoked")
    [waiting] = [pub.run(d) for d in claimed]
    assert waiting.state == DeliveryState.RETRY_WAIT and waiting.last_error_code == "reconnect_needed"
    assert waiting.attempts == first.attempts                     # waiting is not an attempt
    assert status_of(world, post.id) == PostStatus.PUBLISHING     # not "Scheduled": it is live on Instagram
    sched = Scheduler(world.store, clock=clock, actor=Actor.system("test"))
    refused_everything(sched, post.id, clock)
    assert status_of(world, post.id) == PostStatus.PUBLISHING and len(world.emu.posts("instagram")) == 1


def test_a_send_in_doubt_waited_out_is_publishing_not_scheduled(world):
    """A send whose answer was a 502 may still land: while Outpost waits to look again, its post is Publishing, and
    cannot be cancelled, edited or rescheduled (it may be on Facebook)."""
    fb = world.connect("facebook")
    clock = Clock(utcnow())
    post = world.post(fb, at=clock())
    world.emu.add_fault(kind="error_5xx", platform="facebook", path="/feed", method="POST", status=502, count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    clock.now = first.next_attempt_at
    [look] = run_due(world, clock, pub)                  # not there after the settle window: one more look later
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "in_doubt" and look.attempts == 1
    assert status_of(world, post.id) == PostStatus.PUBLISHING
    refused_everything(Scheduler(world.store, clock=clock, actor=Actor.system("test")), post.id, clock)
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and len(world.emu.posts("facebook")) == 1


def test_a_live_delivery_is_kept_at_shutdown_and_a_takeover_finishes_it(world):
    """A shutdown gives back only what was never sent: a live post's delivery (its comment still to go) stays
    claimed, shows Publishing, cannot be cancelled or changed, and the next runner's takeover finishes it."""
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    post = world.post(ig, at=clock(), media=image(world), first_comment="Tag a friend")
    world.emu.add_fault(kind="rate_limit", platform="instagram", path="/comments", method="POST", count=1)
    [first] = run_due(world, clock, publisher(world, clock))
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("post:id") and not first.progress.get("sent")
    clock.now = first.next_attempt_at
    [held] = claim(world, clock)
    assert world.store.release_claims("runner-b") == 0                  # live: not handed back to the queue
    [kept] = world.store.deliveries_for([post.id])[post.id]
    assert kept.state == DeliveryState.PUBLISHING
    assert status_of(world, post.id) == PostStatus.PUBLISHING
    refused_everything(Scheduler(world.store, clock=clock, actor=Actor.system("test")), post.id, clock)
    # The next runner takes it over when the lease ends: the comment goes out under the one post.
    clock.now += LEASE + timedelta(seconds=1)
    [taken] = world.store.claim_expired(clock(), runner_id="runner-c", lease_until=clock() + LEASE)
    done = publisher(world, clock, runner_id="runner-c").run(taken)
    assert done.state == DeliveryState.PUBLISHED and len(world.emu.posts("instagram")) == 1
    assert [c.text for c in comments(world, "instagram")] == ["Tag a friend"]


def test_a_live_delivery_queued_before_this_rule_still_cannot_be_cancelled(world):
    """Rows handed back to the queue by an older runner: the scheduler still refuses to cancel or change a post
    whose queued delivery says it went out (core.domain.lifecycle.started_status)."""
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    post = world.post(ig, at=clock(), media=image(world), first_comment="Tag a friend")
    world.emu.add_fault(kind="rate_limit", platform="instagram", path="/comments", method="POST", count=1)
    [first] = run_due(world, clock, publisher(world, clock))
    clock.now = first.next_attempt_at
    [held] = claim(world, clock)
    world.store.finish_delivery(held.release(), runner_id="runner-b")   # what release_claims did before
    deliveries = world.store.deliveries_for([post.id])[post.id]
    assert deliveries[0].state == DeliveryState.QUEUED
    assert started_status(status_of(world, post.id), deliveries) == PostStatus.PUBLISHING
    refused_everything(Scheduler(world.store, clock=clock, actor=Actor.system("test")), post.id, clock)


class _TakenOverWhileFinishing:
    """The store as runner A sees it: its lease runs out just as it records the outcome, and runner B takes the
    delivery over first (a real fenced takeover: A's write is refused)."""

    def __init__(self, world, clock):
        self._store, self._world, self._clock = world.store, world, clock

    def __getattr__(self, name):
        return getattr(self._store, name)

    def finish_delivery(self, delivery, *, runner_id, events=()):
        self._clock.now += LEASE + timedelta(seconds=1)
        now = self._clock()
        [taken] = self._store.claim_expired(now, runner_id="runner-b", lease_until=now + LEASE)
        assert taken.id == delivery.id
        return self._store.finish_delivery(delivery, runner_id=runner_id, events=events)


def test_a_comment_refused_for_good_is_told_after_a_takeover(world):
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    post = world.post(ig, at=clock(), media=image(world), first_comment="Details below")
    st = world.emu.core.state
    with st.lock:                     # connected before Outpost asked for comments: Instagram refuses them
        for token in st.tokens.values():
            if token.platform == "instagram":
                token.scopes = type(token.scopes)(s for s in token.scopes if "comments" not in s)
    runner_a = publisher(world, clock, runner_id="runner-a")
    runner_a.store = _TakenOverWhileFinishing(world, clock)
    [claimed] = claim(world, clock, runner_id="runner-a")
    assert runner_a.run(claimed) is None                          # A lost it after saving "comment:failed"
    [held] = world.store.deliveries_for([post.id])[post.id]
    assert held.claimed_by == "runner-b" and held.progress.get("comment:failed")
    done = publisher(world, clock, runner_id="runner-b").run(held)
    assert done.state == DeliveryState.PUBLISHED and done.external_url and len(world.emu.posts("instagram")) == 1
    assert comments(world, "instagram") == []
    assert done.progress.get("followup_error", "").startswith("The first comment on your Instagram post was not "
                                                              "posted:")
    [note] = [n for n in world.store.list_notifications(workspace_id=world.workspace.id)
              if n.kind == "followup_failed"]
    assert note.subject_id == post.id and done.external_url in note.body


def _delete_the_parent_first(world, adapter):
    """Mastodon: the person deletes the thread's first post just before its reply goes out; Mastodon refuses the
    reply for good (404, the post it answers is gone)."""
    real_reply = adapter.post_reply

    def reply(creds, request, parent_id, text, index):
        st = world.emu.core.state
        with st.lock:
            st.find_post("mastodon", parent_id).deleted = True
        return real_reply(creds, request, parent_id, text, index)
    adapter.post_reply = reply


@pytest.mark.parametrize("platform, thread, refusal", [
    # X threads itself (tweet:i checkpoints): it refuses the second post, the same words as the first
    ("x", ("Same words", "Same words"), "Your X thread was not posted in full: X refused post 2 of 2"),
    # Mastodon threads through the base class (reply:i checkpoints): the first post was deleted in between
    ("mastodon", ("Uno 1/2", "Dos 2/2"), "Your Mastodon thread was not posted in full: Mastodon refused post 2 of 2"),
])
def test_a_thread_reply_refused_for_good_is_saved_as_refused_and_never_sent_again_after_a_takeover(
        world, platform, thread, refusal):
    """Runner A sees the platform refuse a reply for good, then loses the delivery as it records that. The refusal
    is saved with the delivery at once ("thread:failed"), so runner B, taking it over, sends nothing to the
    platform: it records the post published with its link, and tells what did not go out."""
    account = world.connect(platform)
    clock = Clock(utcnow())
    post = world.post(account, at=clock(), variants={Platform(platform): PostVariant(thread=thread)})
    runner_a = publisher(world, clock, runner_id="runner-a")
    if platform == "mastodon":
        _delete_the_parent_first(world, runner_a.adapter_for("mastodon"))
    runner_a.store = _TakenOverWhileFinishing(world, clock)
    [claimed] = claim(world, clock, runner_id="runner-a")
    assert runner_a.run(claimed) is None                          # A lost it after the refusal
    [held] = world.store.deliveries_for([post.id])[post.id]
    assert held.claimed_by == "runner-b" and held.progress.get("thread:failed", "").startswith(
        refusal.split(": ", 1)[1])
    sent_by_b = []
    client = httpx.Client(timeout=world.settings.platform_timeout_s, trust_env=False,
                          event_hooks={"request": [lambda r: sent_by_b.append(r.method) if r.method != "GET" else None]})
    done = publisher(world, clock, runner_id="runner-b", client=client).run(held)
    assert done.state == DeliveryState.PUBLISHED and done.external_url
    assert sent_by_b == []                                        # nothing sent again: not the reply, not the post
    assert done.progress.get("followup_error", "").startswith(refusal)
    [note] = [n for n in world.store.list_notifications(workspace_id=world.workspace.id)
              if n.kind == "followup_failed"]
    assert note.subject_id == post.id and done.external_url in note.body
    assert f" on {account.handle} on {account.platform.label}: " in note.body    # which account, not only where

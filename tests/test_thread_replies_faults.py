"""A thread's replies, never posted twice, on the two platforms where a reviewer proved or suspected a double post.

Bluesky: a PDS that refuses client-chosen record keys (emulator `bsky_client_rkeys=False`). Before, a retry after a
reply in doubt made the thread's first post again (publish() always made it), and every reply was sent under a
key of ours, so such a PDS refused them all. Threads: a reply published behind an error answer while the parent's
replies list it late. Before, once the settle window and the adapter's listing lag had passed, it was sent again.

Real adapters over HTTP against the emulator, the publisher on a controllable clock (the emulator's own clock is
moved separately, for its listing lag); the assertions are on what the platform has and what a person sees.
"""
from __future__ import annotations

import pytest

from core.domain import PostVariant
from core.domain.catalog import Platform
from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow

pytest.importorskip("sandbox")

from tests.test_in_doubt import Clock, publisher, run_due  # noqa: E402
from tests.test_threads_and_comments import emu, template, world  # noqa: E402,F401  (fixtures)

THREAD = ("Eins 1/3", "Zwei 2/3", "Drei 3/3")


@pytest.fixture
def keyless(world):
    """A Bluesky PDS that chooses every post's record key itself."""
    world.emu.configure(bsky_client_rkeys=False)
    yield world
    world.emu.configure(bsky_client_rkeys=True)


def thread_post(world, platform: str, texts=THREAD):
    account = world.connect(platform)
    clock = Clock(utcnow())
    world.post(account, at=clock(), variants={Platform.parse(platform): PostVariant(thread=texts)})
    return clock, publisher(world, clock)


def fault_on_nth(adapter, world, n: int, **fault):
    """Add `fault` just before the adapter's n-th createRecord (so it hits that call and no other)."""
    real, texts = adapter._create, []

    def create(url, creds, body):
        texts.append(body["record"]["text"])
        if len(texts) == n:
            world.emu.add_fault(platform="bluesky", path="createRecord", method="POST", count=1, **fault)
        return real(url, creds, body)
    adapter._create = create
    return texts


def by_text(world, platform: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for post in world.emu.posts(platform):
        out.setdefault(post["text"], []).append(post)
    return out


def assert_one_chain(world, platform: str, texts, first_id: str) -> None:
    made = by_text(world, platform)
    assert {t: len(made.get(t, [])) for t in texts} == {t: 1 for t in texts}     # each post exactly once
    assert len(world.emu.posts(platform)) == len(texts)
    parent = first_id
    for text in texts[1:]:
        assert made[text][0]["extra"]["in_reply_to"] == parent
        parent = made[text][0]["external_id"]


# ---------------------------------------------------------------- Bluesky, a PDS that picks its own keys

def test_a_bluesky_thread_goes_out_on_a_pds_that_refuses_our_record_keys(keyless):
    world = keyless
    clock, pub = thread_post(world, "bluesky")
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED, done.last_error
    assert done.progress["rkey"] == "" and done.progress["reply_rkey:1"] == done.progress["reply_rkey:2"] == ""
    assert_one_chain(world, "bluesky", THREAD, done.external_id)


def test_a_lost_bluesky_reply_without_our_key_is_waited_for_and_found_never_made_twice(keyless):
    """The second post of the thread is made behind a gateway 502 and the repo lists it late: the retries go on
    from the saved first post (never made again), wait while it may still show, find it, and finish the thread."""
    world = keyless
    world.emu.configure(listing_lag_s={"bluesky": 100})
    clock, pub = thread_post(world, "bluesky")
    sent = fault_on_nth(pub.adapter_for("bluesky"), world, 3, kind="applied_then_5xx")   # main (refused), main, reply
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("post:id")
    assert first.progress.get("reply_sent:1") and not first.progress.get("reply:1")
    clock.now = first.next_attempt_at                 # settled, but the repo does not list it yet
    [look] = run_due(world, clock, pub)
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "reply_in_doubt"
    assert "does not show it yet" in look.last_error
    world.emu.advance(101)
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED, done.last_error
    assert sent == ["Eins 1/3", "Eins 1/3", "Zwei 2/3", "Drei 3/3"]    # the refused try, then each post once
    assert_one_chain(world, "bluesky", THREAD, done.external_id)


def test_a_bluesky_reply_that_was_not_made_is_sent_once_after_the_wait(keyless):
    """A 503 that did nothing, on a PDS without our keys: after the settle window and the lag the repo still does
    not have it, so it is sent once more; the first post is not made again."""
    world = keyless
    clock, pub = thread_post(world, "bluesky")
    sent = fault_on_nth(pub.adapter_for("bluesky"), world, 3, kind="error_5xx", status=503)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT
    for _ in range(6):
        clock.now = first.next_attempt_at
        [first] = run_due(world, clock, pub)
        if first.state != DeliveryState.RETRY_WAIT:
            break
    assert first.state == DeliveryState.PUBLISHED, first.last_error
    assert sent == ["Eins 1/3", "Eins 1/3", "Zwei 2/3", "Zwei 2/3", "Drei 3/3"]
    assert_one_chain(world, "bluesky", THREAD, first.external_id)


def test_a_rate_limited_bluesky_reply_is_retried_without_making_the_first_post_again(keyless):
    world = keyless
    clock, pub = thread_post(world, "bluesky")
    fault_on_nth(pub.adapter_for("bluesky"), world, 3, kind="rate_limit")
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and not first.progress.get("reply_sent:1")   # surely not made
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED, done.last_error
    assert_one_chain(world, "bluesky", THREAD, done.external_id)


# ---------------------------------------------------------------- Threads, a reply published behind an error

def reply_fault(pub, world, **fault):
    adapter = pub.adapter_for("threads")
    real, calls = adapter.post_reply, []

    def post_reply(*args):
        calls.append(args)
        if len(calls) == 1:                          # the first reply's first publish only
            world.emu.add_fault(platform="threads", path="threads_publish", method="POST", count=1, **fault)
        return real(*args)
    adapter.post_reply = post_reply


def containers(world) -> int:
    st = world.emu.core.state
    with st.lock:
        return sum(1 for n in st.meta.nodes.values() if n.type == "th_container")


def test_a_threads_reply_published_behind_an_error_is_never_sent_again_however_late_the_listing(world):
    """threads_publish answers a gateway 502 after publishing the reply, and the parent's replies do not list
    it for an hour: Outpost waits, then tells a person to check the thread; it never publishes the reply a second
    time (before: once the settle window and the adapter's 5-minute lag had passed, it sent the reply again)."""
    world.emu.configure(listing_lag_s={"threads": 3600}, thr_text_delay_s=0.0)
    texts = ("Un 1/2", "Deux 2/2")
    clock, pub = thread_post(world, "threads", texts)
    reply_fault(pub, world, kind="applied_then_5xx")
    [d] = run_due(world, clock, pub)
    assert d.state == DeliveryState.RETRY_WAIT and d.progress.get("reply_container:1")
    codes = []
    for _ in range(12):                              # the Outpost clock runs on; the emulator's listing never shows it
        clock.now = d.next_attempt_at
        [d] = run_due(world, clock, pub)
        codes.append(d.last_error_code)
        if d.state != DeliveryState.RETRY_WAIT:
            break
    assert sorted(p["text"] for p in world.emu.posts("threads")) == ["Deux 2/2", "Un 1/2"]   # once each
    assert "reply_published_not_listed" in codes
    # The first post is live, so the delivery is published; the thread is handed to a person to check.
    assert d.state == DeliveryState.PUBLISHED and not d.progress.get("reply:1")
    told = d.progress["followup_error"]
    assert "may not have been posted in full" in told and "Look at the post" in told   # in doubt, not refused
    assert containers(world) == 2


def test_a_threads_reply_whose_publish_did_nothing_publishes_the_same_container(world):
    """threads_publish answers a 503 and publishes nothing: once the wait is over the saved container (still
    FINISHED) is published; no second container, one reply."""
    world.emu.configure(thr_text_delay_s=0.0)
    texts = ("Un 1/2", "Deux 2/2")
    clock, pub = thread_post(world, "threads", texts)
    reply_fault(pub, world, kind="error_5xx", status=503)
    [d] = run_due(world, clock, pub)
    assert d.state == DeliveryState.RETRY_WAIT
    for _ in range(6):
        clock.now = d.next_attempt_at
        [d] = run_due(world, clock, pub)
        if d.state != DeliveryState.RETRY_WAIT:
            break
    assert d.state == DeliveryState.PUBLISHED, d.last_error
    assert containers(world) == 2                     # the post's and the reply's: the reply's was published
    assert_one_chain(world, "threads", texts, d.external_id)

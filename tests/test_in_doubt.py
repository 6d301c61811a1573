"""Never twice, for real: a send whose answer is missing or ambiguous stays in doubt until proven otherwise.

Each case is a fault the emulator can now produce the way real platforms do (a request applied after the
client gave up, a gateway 502 after the post was made, a listing that shows new posts late), driven through
the real adapters over HTTP and the publisher with a controllable clock. Each of these posted twice before
the in-doubt rules (core.services.publisher, "in doubt"): the assertions are on what the platform received.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import httpx
import pytest

from core.domain.lifecycle import DeliveryState
from core.platforms.registry import build_adapter
from core.services.publisher import Pacing, Publisher
from core.rules.outcomes import RetryPolicy
from core.domain.timeutil import utcnow
from tests.runner_helpers import make_world, wait_for

sandbox = pytest.importorskip("sandbox")

LEASE = timedelta(seconds=10)


class Clock:
    """The runner's clock, moved by the test (the emulator keeps real time unless told otherwise)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=9) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    # Duplicate refusals off: a second post must show up as a second post, not be hidden by the platform.
    before = emu.configure(x_reject_duplicates=False, fb_reject_duplicates=False)
    w = make_world(emu, tmp_path, platform_timeout_s=1.0)     # the client gives up after 1 s (real: 30 s)
    yield w
    emu.clear_faults()
    emu.configure(x_reject_duplicates=True, fb_reject_duplicates=True, listing_lag_s={})
    w.client.close()
    w.store.engine.dispose()
    assert before is not None


def publisher(world, clock: Clock, runner_id: str = "runner-b", client: httpx.Client | None = None) -> Publisher:
    client = client or httpx.Client(timeout=world.settings.platform_timeout_s, trust_env=False)
    adapters: dict = {}

    def adapter_for(platform):
        key = getattr(platform, "value", platform)
        if key not in adapters:
            adapters[key] = build_adapter(key, world.settings, client=client, clock=clock)
        return adapters[key]
    return Publisher(world.store, adapter_for, runner_id=runner_id, clock=clock, pacing=Pacing(burst_limit=100),
                     policy=RetryPolicy(delays=(timedelta(seconds=1),), jitter=0, max_attempts=3))


def claim(world, clock: Clock, runner_id: str = "runner-b"):
    return world.store.claim_due(clock(), runner_id=runner_id, lease_until=clock() + LEASE, limit=10)


def run_due(world, clock: Clock, pub: Publisher):
    return [pub.run(d) for d in claim(world, clock)]


def posts(world, platform: str) -> list[dict]:
    return world.emu.posts(platform)


class _DiesMidCall(httpx.HTTPTransport):
    """A runner that dies in the middle of its call to publish: the request goes out, the answer never comes
    back to it (until `gone` is set, after the test), whatever the time it takes."""

    def __init__(self, gone: threading.Event):
        super().__init__()
        self.gone = gone

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/2/tweets"):
            answer.close()
            self.gone.wait(120)
            raise httpx.ReadError("the runner died mid-call", request=request)
        return answer


def test_a_request_that_lands_after_the_runner_died_is_not_posted_again(world):
    """Runner A sends, X holds the request, A is killed; B takes over after the lease and finds nothing yet.
    Before: B posted again, then the held request landed: two posts."""
    x = world.connect("x")
    clock = Clock(utcnow())
    post = world.post(x, at=clock())
    world.emu.add_fault(kind="slow_apply", platform="x", path="/2/tweets", method="POST", hold_s=3, count=1)
    # Whenever the held request lands, X lists it only 10 minutes later (emulator clock): B's first look finds
    # nothing however long this machine takes to get there.
    world.emu.configure(listing_lag_s={"x": 600})
    [d] = claim(world, clock, "runner-a")
    # Runner A marks it sent and calls X; it dies mid-call (nobody records the answer).
    gone = threading.Event()
    a = publisher(world, clock, "runner-a", client=httpx.Client(transport=_DiesMidCall(gone), timeout=60,
                                                                  trust_env=False))
    killed = threading.Thread(target=lambda: a.run(d), daemon=True)
    killed.start()
    try:
        wait_for(lambda: world.store.get_delivery(d.id).progress.get("sent"))
        clock.advance(seconds=LEASE.total_seconds() + 1)              # A's lease runs out
        [taken] = world.store.claim_expired(clock(), runner_id="runner-b", lease_until=clock() + LEASE)
        assert taken.attempts == 2                                    # the takeover counts
        b = publisher(world, clock)
        waiting = b.run(taken)
        assert waiting.state == DeliveryState.RETRY_WAIT and waiting.last_error_code == "in_doubt"
        [landed] = wait_for(lambda: posts(world, "x"), timeout=30)    # the held request lands...
        assert world.emu.duplicates()["attempted_extra"] == 0         # ...and nothing was sent again
        world.emu.advance(601)                                        # X lists it now
        clock.now = waiting.next_attempt_at
        [done] = run_due(world, clock, b)
        assert done.state == DeliveryState.PUBLISHED and done.progress.get("reconciled") == "1"
        assert [p["external_id"] for p in posts(world, "x")] == [done.external_id] == [landed["external_id"]]
        assert world.emu.duplicates()["published_extra"] == 0
    finally:
        gone.set()
        killed.join(timeout=30)
    assert world.store.get_deliveries(post.id)[0].state == DeliveryState.PUBLISHED


def test_a_platform_slower_than_the_client_timeout_posts_once(world):
    """One runner, default settle window: the client times out (1 s here, 30 s for real), the platform applies
    the request later (4 s here, 75 s in the report). Before: checked 30 s after, found nothing, posted again."""
    x = world.connect("x")
    clock = Clock(utcnow())
    world.post(x, at=clock())
    world.emu.add_fault(kind="slow_apply", platform="x", path="/2/tweets", method="POST", hold_s=4, count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.last_error_code == "lost_response"
    sent = datetime.fromisoformat(first.progress["sent"])
    assert first.next_attempt_at >= sent + pub.settle(pub.adapter_for("x"))        # not before the settle window
    clock.advance(seconds=31)                                         # when the old rule looked (and re-posted)
    assert claim(world, clock) == []
    wait_for(lambda: posts(world, "x"), timeout=15)
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.progress.get("reconciled") == "1"
    assert len(posts(world, "x")) == 1


def test_a_gateway_502_after_the_post_was_made_is_checked_not_reposted(world):
    """Facebook made the post, the gateway answered 502. Before: "temporary problem", retried: two posts."""
    fb = world.connect("facebook")
    clock = Clock(utcnow())
    world.post(fb, at=clock())
    world.emu.add_fault(kind="applied_then_5xx", platform="facebook", path="/feed", method="POST", status=502,
                        count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("sent")
    assert "may still have gone through" in first.last_error
    assert len(posts(world, "facebook")) == 1
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.progress.get("reconciled") == "1"
    assert [p["external_id"] for p in posts(world, "facebook")] == [done.external_id]


def test_a_502_that_was_not_applied_is_posted_after_two_empty_looks(world):
    fb = world.connect("facebook")
    clock = Clock(utcnow())
    world.post(fb, at=clock())
    world.emu.add_fault(kind="error_5xx", platform="facebook", path="/feed", method="POST", status=502, count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and posts(world, "facebook") == []
    clock.now = first.next_attempt_at
    [look] = run_due(world, clock, pub)                               # not there after the settle window ...
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "in_doubt" and look.attempts == 1
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)                               # ... nor a listing lag later: post it
    assert done.state == DeliveryState.PUBLISHED and done.attempts == 2
    assert len(posts(world, "facebook")) == 1


def test_a_listing_that_lags_is_read_again_before_posting(world):
    """The answer is lost and X's timeline shows new posts only 20 s later. Before: one empty look, then a
    second post."""
    x = world.connect("x")
    world.emu.configure(listing_lag_s={"x": 20})
    clock = Clock(utcnow())
    world.post(x, at=clock())
    world.emu.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and len(posts(world, "x")) == 1
    clock.now = first.next_attempt_at
    [look] = run_due(world, clock, pub)                               # the timeline does not show it yet
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "in_doubt"
    world.emu.advance(25)                                             # the platform's lag passes ...
    clock.now = look.next_attempt_at                                  # ... and so does ours
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.progress.get("reconciled") == "1"
    assert len(posts(world, "x")) == 1


def test_a_duplicate_refusal_after_a_doubt_is_looked_up_not_failed(world):
    """X's duplicate refusal is the second net: after an attempt in doubt it means "ours, landed late"."""
    world.emu.configure(x_reject_duplicates=True, listing_lag_s={"x": 3600})   # the listing never shows it
    x = world.connect("x")
    clock = Clock(utcnow())
    world.post(x, at=clock())
    world.emu.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    for _ in range(2):                                                # settle, then a listing lag: still absent
        clock.now = first.next_attempt_at
        [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.last_error_code == "duplicate_after_doubt"
    assert "already posted" in first.last_error and len(posts(world, "x")) == 1


def test_a_post_over_the_platforms_limit_fails_before_any_call(world):
    """A 70,000-character caption put in through the store (a script, an import) is refused by the runner in
    the composer's words, and Facebook is never called."""
    fb = world.connect("facebook")
    clock = Clock(utcnow())
    world.post(fb, at=clock(), text="A" * 70_000)
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.FAILED and done.last_error_code
    assert "63,206" in done.last_error or "63206" in done.last_error
    assert posts(world, "facebook") == []
    assert [r for r in world.emu.core.state.requests if r["platform"] == "facebook" and "/feed" in r["path"]] == []


def test_a_media_link_that_answers_404_names_the_media_host_not_the_platform(world):
    x = world.connect("x")
    clock = Clock(utcnow())
    link = f"{world.emu.url}/_media/no-such-file.jpg"
    world.post(x, at=clock(), media=(link,))
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.FAILED and done.last_error_code == "media_http_error"
    assert "The media host 127.0.0.1 answered 404" in done.last_error and "X refused" not in done.last_error
    assert posts(world, "x") == []


# ---------------------------------------------------------------- deliveries that crash every attempt
def test_an_unexpected_error_costs_an_attempt_and_ends_in_review(world):
    """A bug or a damaged row: each attempt is counted with its reason, retried by the policy, then a person
    decides. Before: the delivery stayed "publishing" and was taken over forever, with no reason given."""
    x = world.connect("x")
    clock = Clock(utcnow())
    post = world.post(x, at=clock())
    pub = publisher(world, clock)

    def broken(platform):
        raise RuntimeError("adapter exploded access_token=abc123secret")
    pub.adapter_for = broken
    states = []
    for _ in range(3):
        [d] = run_due(world, clock, pub)
        states.append(d.state)
        if d.next_attempt_at:
            clock.now = d.next_attempt_at
    assert states == [DeliveryState.RETRY_WAIT, DeliveryState.RETRY_WAIT, DeliveryState.NEEDS_REVIEW]
    d = world.store.get_deliveries(post.id)[0]
    assert d.attempts == 3 and d.last_error_code == "unexpected_error"
    assert "RuntimeError: adapter exploded" in d.last_error and "abc123secret" not in d.last_error
    assert "Nothing was sent to the platform" in d.last_error
    notes = world.store.list_notifications(workspace_id=world.workspace.id)
    assert any(n.kind == "delivery_needs_review" for n in notes)
    assert posts(world, "x") == []


def test_a_delivery_whose_runner_dies_every_time_is_not_taken_over_forever(world):
    """Each takeover after a crash counts as an attempt; past the limit a person decides, with the evidence."""
    x = world.connect("x")
    clock = Clock(utcnow())
    post = world.post(x, at=clock())
    pub = publisher(world, clock)
    [d] = claim(world, clock, "runner-0")
    world.store.save_progress(d.id, "runner-0", "sent", clock().isoformat())      # it died mid-call
    for i in range(1, 20):
        clock.advance(seconds=LEASE.total_seconds() + 1)
        taken = world.store.claim_expired(clock(), runner_id=f"runner-{i}", lease_until=clock() + LEASE)
        if not taken:
            break
        if taken[0].attempts > pub.crash_limit:
            final = Publisher.run(publisher(world, clock, f"runner-{i}"), taken[0])
            break
        # this runner dies too, before deciding anything
    assert final.state == DeliveryState.NEEDS_REVIEW and final.last_error_code == "crash_loop"
    assert "may have reached the platform" in final.last_error
    assert world.store.get_deliveries(post.id)[0].state == DeliveryState.NEEDS_REVIEW
    assert posts(world, "x") == []

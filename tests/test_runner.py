"""The runner against the emulator on loopback: on time, once, through faults and expired tokens."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain.lifecycle import DeliveryState, PostStatus
from core.domain.timeutil import utcnow
from jobs.runner import Runner, RunnerConfig
from tests.runner_helpers import make_world, wait_for

sandbox = pytest.importorskip("sandbox")


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=5) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    # In doubt (a lost answer, a 5xx) nothing is sent again for a settle window, then the listing is read twice a
    # listing lag apart: both short here (the emulator holds no request longer than the client's 2 s timeout).
    w = make_world(emu, tmp_path, platform_timeout_s=2.0, settle_s=2.5, listing_lag_s=0.3)
    yield w
    w.client.close()
    w.store.engine.dispose()


def test_a_due_post_goes_out_once_at_its_time_not_at_the_next_look(world):
    """The publish loop sleeps until the next delivery is due, not until its next look: with a look every two
    minutes, a post due in a second goes out while the test waits one minute at most, and never early.
    (How late posts go out under load is measured by bench.publish, not asserted here.)"""
    x = world.connect("x")
    due = utcnow() + timedelta(seconds=1)
    post = world.post(x, at=due)
    r = Runner(world.store, world.settings, RunnerConfig(name="test-runner", concurrency=4, poll_s=120))
    r.start()
    try:
        d = wait_for(lambda: next((d for d in world.store.get_deliveries(post.id)
                                   if d.state == DeliveryState.PUBLISHED), None), timeout=60)
    finally:
        r.shutdown()
    assert d.external_id and d.external_url
    posted = world.emu.posts("x")
    assert [p["external_id"] for p in posted] == [d.external_id]
    from datetime import datetime
    assert datetime.fromisoformat(posted[0]["received_at"]) >= due                # not before its time
    assert world.store.get_post_status(post.id) == PostStatus.PUBLISHED
    actions = [e.action for e in reversed(world.store.list_events(subject_id=d.id))]
    assert actions == ["delivery.publishing", "delivery.published"]


def _settled(world, post_id, states=(DeliveryState.PUBLISHED, DeliveryState.FAILED, DeliveryState.NEEDS_REVIEW)):
    def check():
        ds = world.store.get_deliveries(post_id)
        return ds if ds and all(d.state in states for d in ds) else None
    return wait_for(check, timeout=40)


def _actions(world, delivery_id):
    return [e.action for e in reversed(world.store.list_events(subject_id=delivery_id))]


def _runner(world, clock=utcnow, **changes):
    from core.rules.outcomes import RetryPolicy
    config = RunnerConfig(name="test-runner", concurrency=4, poll_s=0.2,
                          policy=RetryPolicy(delays=(timedelta(seconds=0.3),), jitter=0, max_attempts=3),
                          reconcile_after=timedelta(seconds=0.3))
    from dataclasses import replace
    r = Runner(world.store, world.settings, replace(config, **changes), clock=clock)
    r.start()
    return r


@pytest.fixture
def quick_runner(world):
    r = _runner(world)
    yield r
    r.shutdown()


def test_a_lost_response_is_reconciled_not_reposted(world, quick_runner):
    x = world.connect("x")
    world.emu.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
    post = world.post(x)
    [d] = _settled(world, post.id)
    assert d.state == DeliveryState.PUBLISHED and d.progress.get("reconciled") == "1"
    assert len(world.emu.posts("x")) == 1 and world.emu.duplicates()["published_extra"] == 0
    assert d.external_id == world.emu.posts("x")[0]["external_id"]
    assert _actions(world, d.id) == ["delivery.publishing", "delivery.retry_wait", "delivery.publishing",
                                     "delivery.published"]


def test_a_token_that_expires_mid_run_is_refreshed_without_anyone(world, quick_runner):
    x = world.connect("x")
    before = world.store.get_account(x.id).oauth_token
    world.emu.add_fault(kind="expire_token", platform="x", path="/2/tweets", method="POST", count=1)
    post = world.post(x)
    [d] = _settled(world, post.id)
    assert d.state == DeliveryState.PUBLISHED and d.attempts == 1
    after = world.store.get_account(x.id)
    assert after.oauth_token != before and after.status.value == "connected"
    assert "account.token_refreshed" in [e.action for e in world.store.list_events(subject_id=x.id)]
    assert len(world.emu.posts("x")) == 1


def test_a_server_error_is_checked_then_retried(world, quick_runner):
    # A 5xx may come after the post was made: wait out the settle window, read the listing twice, then post again.
    fb = world.connect("facebook")
    world.emu.add_fault(kind="error_5xx", platform="facebook", method="POST", count=1)
    post = world.post(fb)
    [d] = _settled(world, post.id)
    assert d.state == DeliveryState.PUBLISHED and d.attempts == 2
    assert _actions(world, d.id) == ["delivery.publishing", "delivery.retry_wait", "delivery.publishing",
                                     "delivery.in_doubt", "delivery.publishing", "delivery.published"]
    assert len(world.emu.posts("facebook")) == 1


def test_retries_give_up_with_the_reason(world, quick_runner):
    fb = world.connect("facebook")
    world.emu.add_fault(kind="error_5xx", platform="facebook", method="POST")
    post = world.post(fb)
    [d] = _settled(world, post.id)
    world.emu.clear_faults()
    assert d.state == DeliveryState.FAILED and d.attempts == 3
    assert d.last_error.startswith("Gave up after 3 attempts")
    assert len(world.emu.posts("facebook")) == 0
    assert world.store.get_post_status(post.id) == PostStatus.FAILED
    # The notification is written just after the delivery's outcome (not in its transaction): wait for it.
    note = wait_for(lambda: next((n for n in world.store.list_notifications(workspace_id=world.workspace.id)
                                  if n.kind == "delivery_failed"), None))
    assert "Gave up" in note.body


def test_a_rejected_post_fails_with_the_platforms_reason(world, quick_runner):
    x = world.connect("x")
    first = world.post(x, text="Exactly the same words twice")
    _settled(world, first.id)
    second = world.post(x, text="Exactly the same words twice")
    [d] = _settled(world, second.id)
    assert d.state == DeliveryState.FAILED and d.attempts == 1
    assert "duplicate" in d.last_error.lower()
    assert len(world.emu.posts("x")) == 1


def test_a_long_overdue_post_waits_for_a_person(world, quick_runner):
    li = world.connect("linkedin")
    post = world.post(li, at=utcnow() - timedelta(hours=3))
    [d] = _settled(world, post.id)
    assert d.state == DeliveryState.NEEDS_REVIEW and d.last_error_code == "too_late"
    assert "publish it now or cancel it" in d.last_error
    assert world.emu.posts("linkedin") == []


def test_the_burst_limit_spaces_out_a_backlog(world):
    r = _runner(world, pacing=__import__("core.services.publisher", fromlist=["Pacing"]).Pacing(burst_limit=2))
    try:
        x = world.connect("x")
        posts = [world.post(x, at=utcnow() - timedelta(minutes=5)) for _ in range(3)]
        wait_for(lambda: len(world.emu.posts("x")) == 2)
        third = wait_for(lambda: next((d for p in posts for d in world.store.get_deliveries(p.id)
                                       if d.last_error_code == "burst_limit"), None))
        assert third.state == DeliveryState.QUEUED and third.attempts == 0
        assert third.next_attempt_at > utcnow() + timedelta(minutes=4)
        assert "Spacing posts out" in third.last_error
        assert len(world.emu.posts("x")) == 2
    finally:
        r.shutdown()


def test_a_slow_platform_at_its_cap_does_not_hold_up_the_others(world):
    """X may take one publish at a time and is stuck on the first; LinkedIn posts due at the same moment go out
    meanwhile instead of queueing behind X, and every X post still goes out once, one after the other."""
    import threading
    xs = [world.connect("x") for _ in range(3)]
    linkedin = [world.connect("linkedin") for _ in range(3)]
    r = _runner(world, concurrency=4, platform_concurrency={"x": 1})
    real_run, x_open, lock, stuck = r.publisher.run, [0, 0], threading.Lock(), threading.Event()

    def run(d):
        if d.platform.value != "x":
            return real_run(d)
        with lock:
            x_open[0] += 1                                # X attempts running now, and the most at once
            x_open[1] = max(x_open)
        try:
            stuck.wait(60)                                # X answers nothing until LinkedIn is done
            return real_run(d)
        finally:
            with lock:
                x_open[0] -= 1

    r.publisher.run = run
    try:
        due = utcnow()
        x_posts = [world.post(a, at=due) for a in xs]
        li_posts = [world.post(a, at=due) for a in linkedin]
        for p in li_posts:
            assert [d.state for d in _settled(world, p.id)] == [DeliveryState.PUBLISHED]
        assert world.emu.posts("x") == []                 # LinkedIn did not wait for the X line to clear
        stuck.set()
        for p in x_posts:
            assert [d.state for d in _settled(world, p.id)] == [DeliveryState.PUBLISHED]
    finally:
        stuck.set()
        r.shutdown()
    posted = world.emu.posts("x")
    assert len(posted) == 3 and len({p["external_id"] for p in posted}) == 3
    assert x_open[1] == 1                                 # one at a time


def test_a_rate_limit_holds_the_whole_account_until_the_platforms_reset(world, quick_runner):
    x, other = world.connect("x"), world.connect("x")
    world.emu.add_fault(kind="rate_limit", platform="x", path="/2/tweets", method="POST", count=1)
    first = world.post(x, at=utcnow() - timedelta(seconds=2))
    d = _settled(world, first.id, states=(DeliveryState.RETRY_WAIT,))[0]
    second, elsewhere = world.post(x, at=utcnow()), world.post(other, at=utcnow())
    _settled(world, elsewhere.id)                          # another account is not held
    quick_runner.wait_passes(3)                            # two whole claiming passes since `second` was due
    waiting = world.store.get_deliveries(second.id)[0]
    assert waiting.state == DeliveryState.QUEUED and waiting.attempts == 0     # never sent into the same refusal
    until, reason = world.store.account_holds(utcnow())[x.id]
    assert until == d.next_attempt_at and until > utcnow() + timedelta(minutes=10)   # X's own reset time
    assert "X asked to wait" in reason
    by_account = [p["account"] for p in world.emu.posts("x")]
    assert by_account.count(x.external_id) == 0 and by_account.count(other.external_id) == 1
    # The Accounts page says so, in the workspace's time.
    from core.services.views import account_rows
    rows = {r["Account"]: r["Posting"] for r in account_rows(world.store, world.workspace.id, tz_name="UTC",
                                                             now=utcnow())}
    assert rows[x.handle] == f"Paused until {until:%a %H:%M}: {reason}" and rows[other.handle] == "Ready"


def test_an_attempt_that_stopped_unexpectedly_is_reconciled_while_the_runner_stays_busy(world):
    """A bug in one attempt leaves its delivery claimed; its lease must run out (and be swept) even though the
    runner keeps renewing the leases of the work it still has in hand."""
    import threading
    x, li = world.connect("x"), world.connect("linkedin")
    lease, ahead = timedelta(minutes=1), [timedelta(0)]
    # The runner's clock: real time plus what the test adds, so leases run out when the test says, not when a
    # loaded machine happens to get there.
    r = _runner(world, lease=lease, heartbeat_s=0.2, concurrency=4, clock=lambda: utcnow() + ahead[0])
    real_run, crashed, release = r.publisher.run, [], threading.Event()

    def run(d):
        if d.account_id == x.id and not crashed:
            crashed.append(d.id)
            raise RuntimeError("a bug in the middle of an attempt")
        if d.account_id == li.id:
            release.wait(60)                              # LinkedIn's attempt stays in hand until the test is done
        return real_run(d)

    r.publisher.run = run
    try:
        slow, broken = world.post(li, at=utcnow()), world.post(x, at=utcnow())
        wait_for(lambda: crashed)
        assert world.store.get_deliveries(slow.id)[0].state == DeliveryState.PUBLISHING
        ahead[0] = 2 * lease                              # both leases are over by the runner's clock...
        wait_for(lambda: world.store.get_deliveries(slow.id)[0].lease_expires_at > r.clock())   # ...one renewed
        assert r.sweep() == 1                             # taken over, not renewed forever
        release.set()
        d = _settled(world, broken.id)[0]
        assert d.state == DeliveryState.PUBLISHED and "delivery.lease_expired" in _actions(world, d.id)
        assert [p["account"] for p in world.emu.posts("x")] == [x.external_id]     # once
        _settled(world, slow.id)
    finally:
        r.shutdown()


def test_a_publish_tried_again_after_a_token_refresh_sees_what_its_first_try_saved(world):
    """Adapters save steps (a container id, a record key) before the call that may post; when that call says
    "token expired" and the runner refreshes and tries again, the retry must see those steps, or it makes a
    second container and can post twice."""
    from core.domain.errors import TokenExpired
    from core.platforms.registry import build_adapter
    x = world.connect("x")
    adapter = build_adapter("x", world.settings, world.client)
    real_publish, seen = adapter.publish, []

    def publish(creds, request):
        seen.append(dict(request.progress))
        if "container" not in request.progress:
            request.save("container", "c-1")
            raise TokenExpired("X did not accept the access token (expired or revoked).", platform="x")
        return real_publish(creds, request)

    adapter.publish = publish
    r = Runner(world.store, world.settings, RunnerConfig(name="test-runner", concurrency=2, poll_s=0.2),
               adapter_for=lambda platform: adapter)
    r.start()
    try:
        [d] = _settled(world, world.post(x).id)
    finally:
        r.shutdown()
    assert seen == [{}, {"container": "c-1"}]
    assert d.state == DeliveryState.PUBLISHED and d.attempts == 1 and len(world.emu.posts("x")) == 1


def test_housekeeping_forgets_heartbeats_of_runners_long_gone(world, quick_runner):
    from core.store import Heartbeat
    old = utcnow() - timedelta(days=2)
    world.store.save_heartbeat(Heartbeat(runner_id="killed:123:abc", host="h", pid=123, started_at=old, beat_at=old))
    world.store.save_heartbeat(Heartbeat(runner_id="recent:7:def", host="h", pid=7, started_at=utcnow(),
                                         beat_at=utcnow() - timedelta(minutes=5)))
    quick_runner.housekeeping()
    left = {b.runner_id for b in world.store.list_heartbeats()}
    assert "killed:123:abc" not in left and "recent:7:def" in left and quick_runner.claim_id in left


def test_platform_concurrency_on_the_command_line():
    from jobs.runner import parse_platform_concurrency
    assert parse_platform_concurrency("youtube=2, Twitter=8") == {"youtube": 2, "x": 8}
    assert parse_platform_concurrency("") == {}
    for bad in ("youtube", "youtube=0", "myspace=3", "x=lots"):
        with pytest.raises(SystemExit, match="platform-concurrency"):
            parse_platform_concurrency(bad)


def test_an_account_that_needs_reconnecting_is_marked_and_its_posts_wait(world, quick_runner):
    from dataclasses import replace
    x = world.connect("x")
    stored = world.store.get_account(x.id)
    world.store.save_account(replace(stored, refresh_token="not-a-real-refresh-token",
                                     token_expires_at=utcnow() - timedelta(minutes=1)))
    world.emu.add_fault(kind="expire_token", platform="x", path="/2/tweets", method="POST", count=1)
    post = world.post(x)
    d = wait_for(lambda: next((d for d in world.store.get_deliveries(post.id)
                               if d.last_error_code == "reconnect_needed"), None))
    assert d.state == DeliveryState.QUEUED and "reconnect" in d.last_error
    assert world.store.get_account(x.id).status.value == "reconnect_needed"
    notes = world.store.list_notifications(workspace_id=world.workspace.id)
    assert any(n.kind == "reconnect_needed" and n.subject_id == x.id for n in notes)
    assert world.emu.posts("x") == []


def test_insights_are_pulled_for_published_posts(world, quick_runner):
    fb = world.connect("facebook")
    post = world.post(fb)
    [d] = _settled(world, post.id)
    world.emu.advance(6 * 3600)
    assert quick_runner.pull_insights() == 1
    [snap] = world.store.list_metric_snapshots(delivery_id=d.id)
    assert snap.external_id == d.external_id and snap.workspace_id == world.workspace.id
    assert set(snap.metrics) <= {"views", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views"}
    [followers] = world.store.list_account_snapshots(account_id=fb.id)
    assert followers.followers is not None


def test_a_failing_job_does_not_starve_the_others(world):
    import threading
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("the generator is broken")

    r = Runner(world.store, world.settings, RunnerConfig(name="test-runner", concurrency=2, poll_s=0.2, heartbeat_s=0.2,
                                                         insights_s=0.2), generate_batches=broken)
    thread = threading.Thread(target=r.run_forever, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(calls) >= 3, timeout=20)
        first = next(b for b in world.store.list_heartbeats() if b.runner_id == r.claim_id).beat_at
        wait_for(lambda: next(b for b in world.store.list_heartbeats() if b.runner_id == r.claim_id).beat_at > first)
        x = world.connect("x")
        post = world.post(x)
        [d] = _settled(world, post.id)
        assert d.state == DeliveryState.PUBLISHED                 # publishing goes on beside the broken job
        assert r.stats["job_errors"] >= 3
    finally:
        r.stop()
        thread.join(timeout=40)
    assert not thread.is_alive()


def test_a_recurring_post_continues_after_it_is_published(world, quick_runner):
    x = world.connect("x")
    post = world.post(x, recurrence="FREQ=DAILY", tz="Europe/Berlin", at=utcnow().replace(microsecond=0))
    _settled(world, post.id)
    following = wait_for(lambda: [p for p in world.store.list_posts(workspace_id=world.workspace.id)
                                  if p.series_id == post.id and p.id != post.id])
    assert len(following) == 1
    assert following[0].due_at == post.due_at + timedelta(days=1)
    [d] = world.store.get_deliveries(following[0].id)
    assert d.state == DeliveryState.QUEUED


def test_a_lost_answer_after_a_retry_is_still_checked_before_posting_again(world, quick_runner):
    # 503 on the first try, the answer lost on the second: the third attempt must look for the post
    # (the "sent" mark of the second attempt must survive), not post it again.
    world.emu.configure(x_reject_duplicates=False)          # a second post would show, not be refused
    try:
        x = world.connect("x")
        world.emu.add_fault(kind="error_5xx", platform="x", path="/2/tweets", method="POST", count=1)
        post = world.post(x)
        wait_for(lambda: world.store.get_deliveries(post.id)[0].attempts >= 1
                 and world.store.get_deliveries(post.id)[0].state == DeliveryState.RETRY_WAIT)
        world.emu.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
        [d] = _settled(world, post.id)
        assert d.state == DeliveryState.PUBLISHED and d.progress.get("reconciled") == "1"
        assert len(world.emu.posts("x")) == 1 and world.emu.duplicates()["published_extra"] == 0
    finally:
        world.emu.configure(x_reject_duplicates=True)

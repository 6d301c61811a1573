"""YouTube's daily quota while publishing (issue 12): a video that meets the project's spent quota is not a failure.
It waits until the quota resets at midnight Pacific with the reason in words, the account's other videos wait with
it instead of each meeting the same refusal, and after the reset it goes out exactly once. The real adapter over
HTTP to the emulator (which counts the quota per Pacific day), the publisher on the emulator's clock; no sleeps.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.domain.errors import RetryLater
from core.domain.lifecycle import DeliveryState
from core.platforms.registry import build_adapter
from core.rules.outcomes import RetryPolicy, decide
from core.services.publisher import Pacing, Publisher
from tests.runner_helpers import make_world

sandbox = pytest.importorskip("sandbox")

UTC = timezone.utc
LEASE = timedelta(minutes=5)
POLICY = RetryPolicy(jitter=0)


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=31) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    emu.configure(yt_quota_model="buckets", yt_daily_inserts=1)       # one upload a Pacific day for the project
    w = make_world(emu, tmp_path)
    yield w
    w.client.close()
    w.store.engine.dispose()
    emu.config.update(sandbox.SandboxConfig().as_dict())


def runner(world, emu):
    """The publisher on the emulator's clock, and a `run_due` that claims what is due and runs it."""
    def clock() -> datetime:
        return datetime.fromtimestamp(emu.now(), UTC)
    adapters: dict = {}

    def adapter_for(platform):
        key = getattr(platform, "value", platform)
        if key not in adapters:
            adapters[key] = build_adapter(key, world.settings, client=world.client, clock=clock, sleep=emu.advance)
        return adapters[key]
    pub = Publisher(world.store, adapter_for, runner_id="runner-q", clock=clock, pacing=Pacing(burst_limit=100),
                    policy=POLICY)

    def run_due():
        """Everything due now, as the runner's ticks take it (one delivery per account at a time)."""
        out = []
        for _ in range(10):
            claimed = world.store.claim_due(clock(), runner_id="runner-q", lease_until=clock() + LEASE, limit=10)
            if not claimed:
                break
            out += [pub.run(d) for d in claimed]
        return out
    return clock, run_due


def test_a_video_over_the_quota_waits_for_midnight_pacific_then_goes_out_once(world, emu):
    clock, run_due = runner(world, emu)
    channel = world.connect("youtube")
    video = f"{emu.url}/_media/sample.mp4?seconds=2"
    first = world.post(channel, at=clock(), text="Morning light over the harbour", media=(video,))
    second = world.post(channel, at=clock(), text="Evening light over the harbour", media=(video,),
                        tz="Europe/Berlin")
    done = {d.post_id: d for d in run_due()}
    assert done[first.id].state == DeliveryState.PUBLISHED
    waiting = done[second.id]

    # Not failed: it waits for the reset, with the reason in words, and the account's other posts wait too.
    reset = build_adapter("youtube", world.settings, clock=clock).next_quota_reset()
    assert waiting.state == DeliveryState.RETRY_WAIT and waiting.next_attempt_at == reset
    assert "daily API quota" in waiting.last_error and "midnight Pacific" in waiting.last_error
    assert "<a" not in waiting.last_error
    # The retry time in the post's own zone (Berlin), not in UTC.
    local = reset.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Outpost tries again at {local:%d %b %H:%M %Z}." in waiting.last_error and "UTC" not in waiting.last_error
    until, why = world.store.account_holds(clock())[channel.id]
    assert until == reset and "quota" in why

    # No tight loop: nothing is claimed, nothing is sent, until the reset.
    uploads = len(emu.posts("youtube"))
    emu.advance((reset - clock()).total_seconds() - 60)
    assert run_due() == []
    assert len(emu.posts("youtube")) == uploads == 1

    # Past the reset it goes out, once.
    emu.advance(61)
    [done] = run_due()
    assert (done.post_id, done.state) == (second.id, DeliveryState.PUBLISHED)
    titles = [p["text"] for p in emu.posts("youtube")]
    assert len(titles) == 2 and titles[1].startswith("Evening light")          # the waiting one, once
    assert run_due() == []


# ---------------------------------------------------------------- the rule (core.rules.outcomes)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RESET = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_a_limit_with_a_reset_is_not_given_up_when_the_attempts_are_used_up():
    quota = RetryLater("YouTube's daily API quota is used up.", code="quotaExceeded", retry_at=RESET,
                       rate_limited=True)
    for attempts in (1, POLICY.max_attempts, 2 * POLICY.max_attempts - 1):
        decision = decide(quota, attempts_made=attempts, now=NOW, policy=POLICY)
        assert (decision.kind, decision.at) == ("retry", RESET)
        assert decision.reason == str(quota)
    # Not forever: a platform that keeps saying "limited" ends with a person deciding, in words.
    last = decide(quota, attempts_made=2 * POLICY.max_attempts, now=NOW, policy=POLICY)
    assert last.kind == "failed" and "Gave up after 8 attempts" in last.reason and "quota" in last.reason
    # A limit whose reset is sooner than the backoff still waits the backoff (never a tight loop).
    soon = RetryLater("Too many calls.", code="429", retry_at=NOW + timedelta(seconds=5), rate_limited=True)
    assert decide(soon, attempts_made=3, now=NOW, policy=POLICY).at == NOW + timedelta(minutes=15)
    # A server error is still given up when the attempts are used up.
    busy = RetryLater("YouTube had a temporary problem (503).", code="backendError", retry_at=RESET)
    assert decide(busy, attempts_made=POLICY.max_attempts, now=NOW, policy=POLICY).kind == "failed"

"""The runner against the emulator on loopback: on time, once, through faults and expired tokens."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.lifecycle import DeliveryState, PostStatus
from core.timeutil import utcnow
from jobs.runner import Runner, RunnerConfig
from tests.runner_helpers import make_world, wait_for

sandbox = pytest.importorskip("jobs.sandbox")


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=5) as emulator:
        yield emulator


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    w = make_world(emu, tmp_path)
    yield w
    w.client.close()
    w.store.engine.dispose()


@pytest.fixture
def runner(world):
    r = Runner(world.store, world.settings, RunnerConfig(name="test-runner", concurrency=4, poll_s=0.5))
    r.start()
    yield r
    r.shutdown()


def test_a_due_post_goes_out_once_within_a_second(world, runner):
    x = world.connect("x")
    due = utcnow() + timedelta(seconds=1)
    post = world.post(x, at=due)
    d = wait_for(lambda: next((d for d in world.store.get_deliveries(post.id) if d.state == DeliveryState.PUBLISHED),
                              None))
    assert d.external_id and d.external_url
    posted = world.emu.posts("x")
    assert [p["external_id"] for p in posted] == [d.external_id]
    from datetime import datetime
    received = datetime.fromisoformat(posted[0]["received_at"])
    assert timedelta(0) <= received - due < timedelta(seconds=1.5)
    assert world.store.get_post_status(post.id) == PostStatus.PUBLISHED
    actions = [e.action for e in reversed(world.store.list_events(subject_id=d.id))]
    assert actions == ["delivery.publishing", "delivery.published"]

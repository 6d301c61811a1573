"""A runner started with the wrong secret key cannot read the accounts' stored access: it marks them "reconnect
needed" and their posts wait. Once the right key is back, the runner's token job finds the access readable and
lifts that hold (and only that one: an account whose access the platform revoked still waits for a person), and
the waiting posts go out, once. Driven against the emulator through the real adapters and the SQLite store."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.db.sql_store import SqlPostStore
from core.domain import AccountStatus
from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow
from core.infra.secrets import TokenCipher
from core.services.connect import UNREADABLE_REASON, mark_reconnect_needed
from core.services.tokens import READABLE_AGAIN
from jobs.runner import Runner, RunnerConfig

sandbox = pytest.importorskip("sandbox")

from tests.test_in_doubt import Clock, emu, publisher, run_due, world  # noqa: E402,F401


def token_job(w, clock: Clock) -> None:
    """The runner's token job, as a runner on `w`'s store (and so with its key) runs it."""
    pub = publisher(w, clock)
    Runner(w.store, w.settings, RunnerConfig(name="tokens-test", concurrency=1), adapter_for=pub.adapter_for,
           clock=clock).refresh_tokens()


def test_the_right_key_back_lifts_the_hold_the_wrong_key_put_and_the_post_goes_out(world):
    x, masto = world.connect("x"), world.connect("mastodon")
    clock = Clock(utcnow())
    world.post(x, at=clock(), text="Spring sale starts today")
    # Mastodon revoked Outpost's access for real: a hold the right key must not lift.
    mark_reconnect_needed(world.store, masto, "Mastodon says the access was revoked; connect the account again.")

    wrong = replace(world, store=SqlPostStore(world.store.engine, TokenCipher.generate()))   # the wrong key
    [waiting] = run_due(wrong, clock, publisher(wrong, clock))
    assert waiting.state != DeliveryState.PUBLISHED and world.emu.posts("x") == []
    token_job(wrong, clock)                        # the wrong key still cannot read it: nothing is lifted
    held = world.store.get_account(x.id)
    assert held.status == AccountStatus.RECONNECT_NEEDED and held.meta["reconnect_reason"] == UNREADABLE_REASON

    token_job(world, clock)                        # the right key is back
    back = world.store.get_account(x.id)
    assert back.status == AccountStatus.CONNECTED and "reconnect_reason" not in back.meta
    [event] = [e for e in world.store.list_events(subject_id=x.id) if e.action == "account.readable_again"]
    assert event.reason == READABLE_AGAIN and event.to_state == "connected"
    assert world.store.get_account(masto.id).status == AccountStatus.RECONNECT_NEEDED     # a real revoke stays
    # The "Reconnect X" the wrong key made people read asks for nothing now; Mastodon's still does.
    unread = {n.subject_id for n in world.store.list_notifications(workspace_id=x.workspace_id, unread_only=True)
              if n.kind == "reconnect_needed"}
    assert unread == {masto.id}

    clock.now = waiting.next_attempt_at
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.PUBLISHED
    assert [p["text"] for p in world.emu.posts("x")] == ["Spring sale starts today"]

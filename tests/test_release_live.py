"""A runner that stops gives back only what it never sent. A delivery whose post is already on the platform (its
first comment or thread reply still to go) stays with the runner for the lease takeover: handed back to the queue
it would show its live post as "Scheduled" until the next run."""
from __future__ import annotations

from datetime import timedelta

from core.domain.lifecycle import DeliveryState, PostStatus
from tests.test_claiming import LEASE, NOW, add_post, seed


def test_a_live_delivery_is_not_given_back_at_shutdown(store, clock):
    a, b = seed(store, 2)
    unsent = add_post(store, "pa", a, NOW - timedelta(minutes=1))[0]
    live = add_post(store, "pb", b, NOW - timedelta(minutes=1))[0]
    store.claim_due(NOW, runner_id="r1", lease_until=LEASE, limit=2)
    assert store.save_progress(live.id, "r1", "post:id", "17890001")      # made; its first comment still to go
    assert store.release_claims("r1") == 1
    assert store.get_delivery(unsent.id).state == DeliveryState.QUEUED
    kept = store.get_delivery(live.id)
    assert (kept.state, kept.claimed_by) == (DeliveryState.PUBLISHING, "r1")
    assert store.get_post_status("pb") == PostStatus.PUBLISHING

"""What the store contract's parts share: the stores' clock and start time, and a small world to work in
(two workspaces, an owner, three accounts) with helpers to add posts. The fixtures are in conftest.py
(the stores: tests/conftest.py; the world: tests/store_contract/conftest.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from core.domain import Account, ActivityEvent, Delivery, Post, Schedule, User, Workspace
from core.domain.lifecycle import PostState

UTC = timezone.utc
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")
SKIP_POSTGRES = "set OUTPOST_TEST_POSTGRES_URL to run the PostgreSQL store tests"
# A Monday, with microseconds so that a store truncating them would be caught.
T0 = datetime(2030, 3, 4, 8, 0, 0, 123456, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def memory_falls_short(request, kind: str, reason: str) -> None:
    """Mark the running test as a known gap of InMemoryPostStore (it must fail there, and only there)."""
    if kind == "memory":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"InMemoryPostStore: {reason}"))


# ---------------------------------------------------------------- a small world to work in

@dataclass
class World:
    store: object
    ws: Workspace
    other_ws: Workspace
    owner: User
    ig: Account
    li: Account
    x_other: Account  # in the other workspace


def make_post(world: World, id: str, *, at: datetime | None = T0 + timedelta(days=1), accounts=None,
              state: PostState = PostState.APPROVED, **overrides) -> Post:
    accounts = (world.ig, world.li) if accounts is None else accounts
    schedule = Schedule(scheduled_at=at, timezone_name="Europe/Berlin") if at is not None else None
    fields = dict(caption=f"Caption of {id}", accounts=tuple(accounts), schedule=schedule,
                  workspace_id=accounts[0].workspace_id if accounts else world.ws.id, id=id, state=state)
    fields.update(overrides)
    return Post(**fields)


def deliveries_for(post: Post, **overrides) -> list[Delivery]:
    return [Delivery(post_id=post.id, account_id=a.id, platform=a.platform, due_at=post.due_at,
                     id=f"dlv_{post.id}_{a.id}", **overrides) for a in post.accounts]


def add(world: World, id: str, *, deliveries=True, **kwargs) -> Post:
    post = make_post(world, id, **kwargs)
    return world.store.add_post(post, deliveries_for(post) if deliveries and post.due_at else [])


def event(subject_id: str, at: datetime, action: str = "edited", workspace_id: str | None = "ws_acme", **kw):
    return ActivityEvent(action=action, subject_type="post", subject_id=subject_id, at=at,
                         workspace_id=workspace_id, **kw)

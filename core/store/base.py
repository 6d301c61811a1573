"""The state of one in-memory store: every record, one lock and one clock.

Each aggregate's in-memory part (`core.store.people.PeopleMemory`, ...) is a mixin over this state;
`core.store.memory.InMemoryPostStore` puts them together, so a write that spans aggregates (a claim
writes a delivery and an event) happens under the one lock, and every part stamps times from one clock.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Callable

from core.domain import (Account, ActivityEvent, Batch, Delivery, Membership, Notification, OAuthState, Post, User,
                         Workspace)
from core.store.records import AccountSnapshot, Heartbeat, MetricSnapshot
from core.domain.timeutil import utcnow


class MemoryState:
    """The records of an in-memory store, by aggregate, under one re-entrant lock."""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow):
        self._clock = clock
        self._lock = threading.RLock()
        # people
        self._workspaces: dict[str, Workspace] = {}
        self._users: dict[str, User] = {}
        self._memberships: dict[tuple[str, str], Membership] = {}
        # accounts and connect attempts
        self._accounts: dict[str, Account] = {}
        self._oauth_states: dict[str, OAuthState] = {}
        # posts and deliveries
        self._posts: dict[str, Post] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._post_deliveries: dict[str, list[str]] = {}
        # activity, notifications, batches
        self._events: list[ActivityEvent] = []
        self._notifications: dict[str, Notification] = {}
        self._batches: dict[str, Batch] = {}
        # the runner's claims: holds and heartbeats (leases live on the deliveries)
        self._holds: dict[str, tuple[datetime, str]] = {}
        self._heartbeats: dict[str, Heartbeat] = {}
        # metrics
        self._snapshots: list[MetricSnapshot] = []
        self._account_snapshots: list[AccountSnapshot] = []

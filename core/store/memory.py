"""`InMemoryPostStore`: every aggregate's in-memory part over one shared state (one lock, one clock)."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from core.store.accounts import AccountMemory
from core.store.activity import ActivityMemory
from core.store.claims import ClaimMemory
from core.store.demo import DemoMemory
from core.store.hashtags import HashtagGroupMemory
from core.store.metrics import MetricMemory
from core.store.people import PeopleMemory
from core.store.posts import PostDeliveryMemory
from core.domain.timeutil import utcnow


class InMemoryPostStore(PeopleMemory, AccountMemory, PostDeliveryMemory, ClaimMemory, MetricMemory, ActivityMemory,
                        DemoMemory, HashtagGroupMemory):
    """A complete store that lives in memory (see `core.store`)."""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow):
        super().__init__(clock=clock)

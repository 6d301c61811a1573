"""The storage interface, one protocol per aggregate, and the in-memory store.

    people      PeopleStore        workspaces, users, memberships
    accounts    AccountStore       connected accounts (tokens, secrets) and connect attempts
    posts       PostDeliveryStore  posts and their deliveries
    claims      ClaimStore         the runner's claims, leases, holds, pacing counts, heartbeats
    metrics     MetricStore        metric snapshots and what insights are pulled for
    activity    ActivityStore      the activity log, notifications, batches
    demo        DemoStore          the sandbox's demo history: written at once, removed exactly
    hashtags    HashtagGroupStore  a workspace's saved hashtag groups
    records     Heartbeat, MetricSnapshot, AccountSnapshot (the runner's records)

`PostStore` is all of them together (what the SQL store, `core.db.sql_store.SqlPostStore`, and
`InMemoryPostStore` implement); code that needs one aggregate can ask for just its protocol.
`InMemoryPostStore` is a real implementation, not a mock: the same contract test suite
(tests/store_contract/) runs against it and the SQL store. It is meant for scripts, tests and
demos; it keeps nothing after the process ends.

Contract (both stores):
- Every write that changes a post, its deliveries and the activity log is atomic.
- ``update_post`` / ``update_delivery`` take the version the caller read and raise
  ConflictError when someone else changed the record first (optimistic locking).
- A post's derived status is recomputed on every write that touches it.
- Returned objects are frozen; change them with their transition methods.
- A delivery belongs to one post for good: its id is never reused by, or moved to, another post.
- A workspace holds one account per platform account: saving a second account with the same
  (workspace, platform, external_id) is a DuplicateError; ``find_account`` finds the one.
- A connect attempt (`OAuthState`) is consumed once: of any number of concurrent
  ``consume_oauth_state`` calls exactly one gets it.
- Activity events come back newest first; events of the same instant in reverse order of writing.
"""
from __future__ import annotations

from typing import Protocol

from core.store.accounts import AccountMemory, AccountStore, same_platform_account
from core.store.activity import ActivityMemory, ActivityStore
from core.store.claims import PACING_LOOKBACK, ClaimMemory, ClaimStore
from core.store.demo import DemoMemory, DemoRemoval, DemoStore
from core.store.hashtags import HashtagGroup, HashtagGroupMemory, HashtagGroupStore
from core.store.memory import InMemoryPostStore
from core.store.metrics import MetricMemory, MetricStore
from core.store.people import PeopleMemory, PeopleStore
from core.store.posts import PostDeliveryMemory, PostDeliveryStore, post_matches
from core.store.records import AccountSnapshot, Heartbeat, MetricSnapshot


class PostStore(PeopleStore, AccountStore, PostDeliveryStore, ClaimStore, MetricStore, ActivityStore, DemoStore,
                HashtagGroupStore, Protocol):
    """What the Scheduler, the dashboard and the runner need from storage: every aggregate's protocol."""


__all__ = [
    "PostStore", "InMemoryPostStore",
    "PeopleStore", "AccountStore", "PostDeliveryStore", "ClaimStore", "MetricStore", "ActivityStore", "DemoStore",
    "PeopleMemory", "AccountMemory", "PostDeliveryMemory", "ClaimMemory", "MetricMemory", "ActivityMemory",
    "DemoMemory", "DemoRemoval", "HashtagGroupStore", "HashtagGroupMemory", "HashtagGroup",
    "Heartbeat", "MetricSnapshot", "AccountSnapshot", "PACING_LOOKBACK", "same_platform_account", "post_matches",
]

"""Demo history (sandbox mode): writing it in one go, asking whether a workspace has it, removing exactly it.

The sandbox's demo (`sandbox.demo`) writes 90 days of published posts, their deliveries, metric snapshots,
follower snapshots and approval events, every post and snapshot marked ``is_demo``. These calls are the only
way those rows are written and removed:

- ``add_demo_history`` writes them in one transaction, after checking (inside it) that the workspace has no demo
  history yet: two first visits at once seed once. Every post and snapshot must be marked demo and belong to the
  workspace; events must be about those posts or their deliveries.
- ``remove_demo_data`` deletes the workspace's demo posts (their targets and deliveries with them), demo
  snapshots, and the activity events about those posts and deliveries; never a row that is not demo, except
  the follower counts of `demo_accounts` (accounts the demo connected, ``meta["demo"]``) that no post uses once
  the demo posts are gone: the runner pulled those only because the demo connected the account, and the
  account is disconnected with the demo. A demo account a real post uses keeps its real follower counts.
- ``has_demo_data``: whether the workspace has demo history (read from its demo follower counts, which every
  demo history has and which are few, so asking costs the same whatever the size of the post history).
- ``demo_removed_at`` is when someone last removed the demo (the ``workspace.demo_removed`` event about the
  workspace), so it is not seeded again by itself.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, Sequence

from core.domain import ActivityEvent, Delivery, Post
from core.domain.errors import DuplicateError, NotFoundError
from core.store.base import MemoryState
from core.store.records import AccountSnapshot, MetricSnapshot

DEMO_REMOVED = "workspace.demo_removed"


@dataclass(frozen=True)
class DemoRemoval:
    """How many rows of each kind removing a workspace's demo deleted."""

    posts: int = 0
    deliveries: int = 0
    snapshots: int = 0
    account_snapshots: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return self.posts + self.deliveries + self.snapshots + self.account_snapshots + self.events


class DemoStore(Protocol):
    """The sandbox's demo history of a workspace: written at once, asked about, removed exactly."""

    def has_demo_data(self, workspace_id: str) -> bool: ...
    def demo_removed_at(self, workspace_id: str) -> datetime | None: ...
    def add_demo_history(self, workspace_id: str, *, posts: Sequence[tuple[Post, Sequence[Delivery]]],
                         snapshots: Sequence[MetricSnapshot] = (), account_snapshots: Sequence[AccountSnapshot] = (),
                         events: Sequence[ActivityEvent] = ()) -> bool: ...
    def remove_demo_data(self, workspace_id: str, *, demo_accounts: Sequence[str] = ()) -> DemoRemoval: ...


def check_demo_history(workspace_id: str, posts: Sequence[tuple[Post, Sequence[Delivery]]],
                       snapshots: Sequence[MetricSnapshot], account_snapshots: Sequence[AccountSnapshot],
                       events: Sequence[ActivityEvent]) -> None:
    """Refuse (ValueError) anything `add_demo_history` must not write: a row not marked demo, of another
    workspace, a delivery of another post, an event about something that is not part of this history, or a
    history without the accounts' follower counts (`has_demo_data` asks those: they are few and indexed)."""
    if not account_snapshots:
        raise ValueError("Demo history holds each account's follower counts; none were given.")
    subjects = set()
    for post, deliveries in posts:
        if not post.is_demo:
            raise ValueError(f"Post {post.id} is not marked as demo; only demo history is written here.")
        if post.workspace_id != workspace_id:
            raise ValueError(f"Post {post.id} belongs to workspace {post.workspace_id}, not {workspace_id}.")
        subjects.add(post.id)
        for d in deliveries:
            if d.post_id != post.id:
                raise ValueError(f"Delivery {d.id} belongs to post {d.post_id}, not {post.id}.")
            subjects.add(d.id)
    for s in snapshots:
        if s.delivery_id not in subjects or s.post_id not in subjects:
            raise ValueError(f"A metric snapshot is of delivery {s.delivery_id}, which is not part of this demo history.")
    for s in (*snapshots, *account_snapshots):
        if not s.is_demo:
            raise ValueError("A metric snapshot is not marked as demo; only demo history is written here.")
        if s.workspace_id != workspace_id:
            raise ValueError(f"A metric snapshot belongs to workspace {s.workspace_id}, not {workspace_id}.")
    for e in events:
        if e.workspace_id != workspace_id or e.subject_id not in subjects:
            raise ValueError(f"Event {e.action} is not about a post or delivery of this demo history.")


class DemoMemory(MemoryState):
    """`DemoStore` in memory."""

    def has_demo_data(self, workspace_id: str) -> bool:
        with self._lock:
            return any(s.is_demo and s.workspace_id == workspace_id for s in self._account_snapshots)

    def demo_removed_at(self, workspace_id: str) -> datetime | None:
        with self._lock:
            times = [e.at for e in self._events if e.action == DEMO_REMOVED and e.subject_id == workspace_id]
            return max(times, default=None)

    def add_demo_history(self, workspace_id: str, *, posts: Sequence[tuple[Post, Sequence[Delivery]]],
                         snapshots: Sequence[MetricSnapshot] = (), account_snapshots: Sequence[AccountSnapshot] = (),
                         events: Sequence[ActivityEvent] = ()) -> bool:
        check_demo_history(workspace_id, posts, snapshots, account_snapshots, events)
        with self._lock:
            self.get_workspace(workspace_id)
            if self.has_demo_data(workspace_id):
                return False
            for post, deliveries in posts:
                if post.id in self._posts:
                    raise DuplicateError(f"A post with id {post.id} already exists.")
                for account_id in {a.id for a in post.accounts} | {d.account_id for d in deliveries}:
                    stored = self._accounts.get(account_id)
                    if stored is None or stored.workspace_id != workspace_id:
                        raise NotFoundError(f"Account {account_id} is not connected in this workspace; save it first.")
                for d in deliveries:
                    if d.id in self._deliveries:
                        raise DuplicateError(f"A delivery with id {d.id} already exists.")
            now = self._clock()
            for post, deliveries in posts:
                stored = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
                self._posts[post.id] = stored
                self._post_deliveries[post.id] = [d.id for d in deliveries]
                for d in deliveries:
                    self._deliveries[d.id] = replace(d, version=1, updated_at=now)
            self._snapshots.extend(snapshots)
            self._account_snapshots.extend(account_snapshots)
            self._events.extend(events)
            return True

    def remove_demo_data(self, workspace_id: str, *, demo_accounts: Sequence[str] = ()) -> DemoRemoval:
        with self._lock:
            post_ids = {p.id for p in self._posts.values() if p.is_demo and p.workspace_id == workspace_id}
            delivery_ids = {d for pid in post_ids for d in self._post_deliveries.get(pid, [])}
            for pid in post_ids:
                del self._posts[pid]
                self._post_deliveries.pop(pid, None)
            for did in delivery_ids:
                self._deliveries.pop(did, None)
            before = len(self._snapshots), len(self._account_snapshots), len(self._events)
            self._snapshots = [s for s in self._snapshots if not (s.is_demo and s.workspace_id == workspace_id)]
            used = ({a.id for p in self._posts.values() for a in p.accounts}
                    | {d.account_id for d in self._deliveries.values()})
            unused = {a for a in demo_accounts
                      if a not in used and (acct := self._accounts.get(a)) is not None
                      and acct.workspace_id == workspace_id}
            self._account_snapshots = [s for s in self._account_snapshots
                                       if not ((s.is_demo and s.workspace_id == workspace_id)
                                               or s.account_id in unused)]
            subjects = post_ids | delivery_ids
            self._events = [e for e in self._events
                            if not (e.workspace_id == workspace_id and e.subject_id in subjects)]
            return DemoRemoval(posts=len(post_ids), deliveries=len(delivery_ids),
                               snapshots=before[0] - len(self._snapshots),
                               account_snapshots=before[1] - len(self._account_snapshots),
                               events=before[2] - len(self._events))


__all__ = ["DemoStore", "DemoMemory", "DemoRemoval", "DEMO_REMOVED", "check_demo_history"]

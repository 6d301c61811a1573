"""Posts and their deliveries: the protocol and its in-memory part."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Iterable, Protocol, Sequence

from core.domain import ActivityEvent, Delivery, Post, post_status
from core.domain.errors import ConflictError, DuplicateError, NotFoundError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.rules.timing import ScheduledItem
from core.store.base import MemoryState
from core.domain.timeutil import to_utc, utcnow

# Deliveries that still occupy a slot on the account's calendar (for caps, gaps and warnings).
_INACTIVE_DELIVERY = {DeliveryState.CANCELLED, DeliveryState.FAILED}
_INACTIVE_POST = {PostState.CANCELLED, PostState.REJECTED}


class PostDeliveryStore(Protocol):
    """Posts and their deliveries (one per post and target account), written together with their events."""

    def add_post(self, post: Post, deliveries: Sequence[Delivery] = (), *,
                 events: Sequence[ActivityEvent] = ()) -> Post: ...
    def update_post(self, post: Post, *, expected_version: int, deliveries: Sequence[Delivery] = (),
                    events: Sequence[ActivityEvent] = ()) -> Post: ...
    def get_post(self, post_id: str) -> Post: ...
    def get_post_status(self, post_id: str) -> PostStatus: ...
    def list_posts(self, *, workspace_id: str | None = None, statuses: Iterable[PostStatus] | None = None,
                   start: datetime | None = None, end: datetime | None = None, account_id: str | None = None,
                   batch_id: str | None = None, limit: int = 500, offset: int = 0,
                   newest_first: bool = False) -> list[Post]: ...
    def get_deliveries(self, post_id: str) -> list[Delivery]: ...
    def deliveries_for(self, post_ids: Iterable[str]) -> dict[str, list[Delivery]]: ...
    def get_delivery(self, delivery_id: str) -> Delivery: ...
    def update_delivery(self, delivery: Delivery, *, expected_version: int,
                        events: Sequence[ActivityEvent] = ()) -> Delivery: ...
    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]: ...
    def account_schedule(self, account_id: str, start: datetime, end: datetime, *,
                         exclude_post_id: str | None = None) -> list[ScheduledItem]: ...


def post_matches(post: Post, status: PostStatus, *, workspace_id, statuses, start, end, account_id, batch_id) -> bool:
    """The list_posts filter, in Python (the SQL store does the same in SQL)."""
    if workspace_id is not None and post.workspace_id != workspace_id:
        return False
    if statuses is not None and status not in statuses:
        return False
    due = post.due_at
    if start is not None and (due is None or due < start):
        return False
    if end is not None and (due is None or due >= end):
        return False
    if account_id is not None and all(a.id != account_id for a in post.accounts):
        return False
    if batch_id is not None and post.batch_id != batch_id:
        return False
    return True


class PostDeliveryMemory(MemoryState):
    """`PostDeliveryStore` in memory (targets must be accounts of the shared state)."""

    def _hydrate(self, post: Post) -> Post:
        accounts = tuple(self._accounts.get(a.id, a) for a in post.accounts)
        return replace(post, account=None, accounts=accounts)

    def _check_post(self, post: Post, deliveries: Sequence[Delivery]) -> None:
        if not post.id:
            raise ValueError("A post needs an id before it is stored.")
        for acc in post.accounts:
            if acc.id not in self._accounts:
                raise NotFoundError(f"Account {acc.label} is not connected in this store; save it first.")
        if post.workspace_id is not None:
            self.get_workspace(post.workspace_id)
        for d in deliveries:
            if d.post_id != post.id:
                raise ValueError(f"Delivery {d.id} belongs to post {d.post_id}, not {post.id}.")
        for d in deliveries:
            if d.account_id not in self._accounts:
                raise NotFoundError(f"Delivery {d.id} goes to account {d.account_id}, which is not connected in "
                                    "this store; save the account first.")

    def add_post(self, post: Post, deliveries: Sequence[Delivery] = (), *,
                 events: Sequence[ActivityEvent] = ()) -> Post:
        with self._lock:
            if post.id in self._posts:
                raise DuplicateError(f"A post with id {post.id} already exists.")
            self._check_post(post, deliveries)
            taken = sorted(d.id for d in deliveries if d.id in self._deliveries)
            if taken:
                raise DuplicateError(f"A delivery with id {taken[0]} already exists.")
            now = self._clock()
            post = replace(post, created_at=post.created_at or now, updated_at=now, version=1)
            self._posts[post.id] = post
            self._post_deliveries[post.id] = []
            for d in deliveries:
                self._put_delivery(replace(d, version=1, updated_at=now))
            self._events.extend(events)
            return self._hydrate(post)

    def _put_delivery(self, d: Delivery) -> None:
        old = self._deliveries.get(d.id)
        if old is not None and old.post_id != d.post_id:  # the callers check first; this is the last guard
            raise DuplicateError(f"Delivery {d.id} already belongs to post {old.post_id}.")
        ids = self._post_deliveries.setdefault(d.post_id, [])
        if d.id not in ids:
            ids.append(d.id)
        self._deliveries[d.id] = d

    def update_post(self, post: Post, *, expected_version: int, deliveries: Sequence[Delivery] = (),
                    events: Sequence[ActivityEvent] = ()) -> Post:
        with self._lock:
            current = self._posts.get(post.id)
            if current is None:
                raise NotFoundError(f"No post with id {post.id}.")
            if current.version != expected_version:
                raise ConflictError(f"Post {post.id} was changed by someone else; reload it and try again.")
            self._check_post(post, deliveries)
            for d in deliveries:
                old = self._deliveries.get(d.id)
                if old is not None and old.post_id != post.id:
                    raise DuplicateError(f"Delivery {d.id} already belongs to post {old.post_id}; "
                                         "a delivery never moves to another post.")
                if old is not None and old.version != d.version:
                    raise ConflictError(f"Delivery {d.id} was changed by someone else; reload it and try again.")
            now = self._clock()
            post = replace(post, updated_at=now, version=current.version + 1)
            self._posts[post.id] = post
            for d in deliveries:
                self._put_delivery(replace(d, version=d.version + 1, updated_at=now))
            self._events.extend(events)
            return self._hydrate(post)

    def get_post(self, post_id: str) -> Post:
        with self._lock:
            post = self._posts.get(post_id)
            if post is None:
                raise NotFoundError(f"No post with id {post_id}.")
            return self._hydrate(post)

    def get_post_status(self, post_id: str) -> PostStatus:
        with self._lock:
            return post_status(self.get_post(post_id), self.get_deliveries(post_id))

    def list_posts(self, *, workspace_id=None, statuses=None, start=None, end=None, account_id=None,
                   batch_id=None, limit: int = 500, offset: int = 0, newest_first: bool = False) -> list[Post]:
        statuses = None if statuses is None else {PostStatus(s) for s in statuses}
        start = to_utc(start, "start") if start is not None else None
        end = to_utc(end, "end") if end is not None else None
        with self._lock:
            hits = []
            for post in self._posts.values():
                status = post_status(post, self.get_deliveries(post.id))
                if post_matches(post, status, workspace_id=workspace_id, statuses=statuses, start=start, end=end,
                                account_id=account_id, batch_id=batch_id):
                    hits.append(post)
            far = datetime.max.replace(tzinfo=utcnow().tzinfo)
            hits.sort(key=lambda p: (p.due_at or far, p.id))
            if newest_first:   # latest due first (the Posts page's past), posts without a time still last
                hits = sorted((p for p in hits if p.due_at), key=lambda p: (p.due_at, p.id), reverse=True) \
                    + [p for p in hits if not p.due_at]
            return [self._hydrate(p) for p in hits[offset:offset + limit]]

    def get_deliveries(self, post_id: str) -> list[Delivery]:
        with self._lock:
            return [self._deliveries[i] for i in self._post_deliveries.get(post_id, [])]

    def deliveries_for(self, post_ids: Iterable[str]) -> dict[str, list[Delivery]]:
        """The deliveries of many posts at once (a page of posts), by post id."""
        with self._lock:
            return {pid: self.get_deliveries(pid) for pid in post_ids}

    def get_delivery(self, delivery_id: str) -> Delivery:
        try:
            return self._deliveries[delivery_id]
        except KeyError:
            raise NotFoundError(f"No delivery with id {delivery_id}.") from None

    def update_delivery(self, delivery: Delivery, *, expected_version: int,
                        events: Sequence[ActivityEvent] = ()) -> Delivery:
        with self._lock:
            current = self.get_delivery(delivery.id)
            if current.post_id != delivery.post_id:
                raise ValueError(f"Delivery {delivery.id} belongs to post {current.post_id}, not {delivery.post_id}; "
                                 "a delivery never moves to another post.")
            if current.version != expected_version:
                raise ConflictError(f"Delivery {delivery.id} was changed by someone else; reload it and try again.")
            delivery = replace(delivery, version=current.version + 1, updated_at=self._clock())
            self._put_delivery(delivery)
            self._events.extend(events)
            return delivery

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        now = to_utc(now, "now")
        with self._lock:
            due = [d for d in self._deliveries.values()
                   if d.state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT)
                   and d.next_attempt_at is not None and d.next_attempt_at <= now
                   and self._posts[d.post_id].state == PostState.APPROVED]
            due.sort(key=lambda d: (d.next_attempt_at, d.id))
            return due[:limit]

    def account_schedule(self, account_id: str, start: datetime, end: datetime, *,
                         exclude_post_id: str | None = None) -> list[ScheduledItem]:
        start, end = to_utc(start, "start"), to_utc(end, "end")
        with self._lock:
            items = []
            for d in self._deliveries.values():
                if d.account_id != account_id or d.post_id == exclude_post_id or d.state in _INACTIVE_DELIVERY:
                    continue
                when = d.published_at or d.due_at
                post = self._posts[d.post_id]
                if post.state in _INACTIVE_POST or not (start <= when < end):
                    continue
                items.append(ScheduledItem(account_id=account_id, at=when, caption=post.caption, post_id=post.id))
            return sorted(items, key=lambda i: i.at)

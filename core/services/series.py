"""Recurring posts: when an occurrence settles, its series gets its next one (core.services.recurring.continue_series,
which is idempotent, so the publish hook and housekeeping may both try)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from core.domain import Post
from core.services.recurring import SETTLED, continue_series
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.series")
# Housekeeping continues the series of occurrences settled in the last RECENT. Most were due then too; one that
# waited while the runner was stopped settles when it is back (too late to publish: a person reviews it), days
# after it was due, and nothing else continues its series then (the publish hook runs on a publish only): posts due
# up to LOOK_BACK ago are looked at, and the older ones continued only when a delivery of theirs changed recently
# (an older series that stopped on purpose, its next post cancelled, stays stopped).
RECENT = timedelta(days=2)
LOOK_BACK = timedelta(days=8)
PAGE = 500                             # settled posts read at a time


def after_publish(store: PostStore, post: Post, *, clock: Callable[[], datetime] = utcnow,
                  actor: str = "system") -> Post | None:
    """After one of a post's deliveries settled: its series' next occurrence, if it has one and it was added."""
    if not post.recurrence:
        return None
    nxt = continue_series(store, post, clock=clock, actor=actor)
    if nxt is not None:
        log.info("series %s: next occurrence %s at %s", nxt.series_id, nxt.id, nxt.due_at)
    return nxt


def continue_settled_series(store: PostStore, *, clock: Callable[[], datetime] = utcnow, actor: str = "system",
                            look_back: timedelta = LOOK_BACK) -> int:
    """Continue every series whose occurrence settled recently (while a runner was stopping, say, or too late
    after it was stopped for days); returns how many were tried. One series failing never stops the others."""
    now, tried = clock(), 0
    for post in _settled(store, start=now - look_back, end=now):
        if post.recurrence and (post.due_at >= now - RECENT or _changed_since(store, post, now - RECENT)):
            tried += 1
            try:
                continue_series(store, post, clock=clock, actor=actor)
            except Exception:
                log.exception("continuing the series of post %s failed; going on with the others", post.id)
    return tried


def _changed_since(store: PostStore, post: Post, since: datetime) -> bool:
    return any(d.updated_at is not None and d.updated_at >= since for d in store.get_deliveries(post.id))


def _settled(store: PostStore, *, start: datetime, end: datetime):
    """Every settled post due in [start, end), a page at a time (one read would stop at the store's limit)."""
    offset = 0
    while True:
        page = store.list_posts(statuses=list(SETTLED), start=start, end=end, limit=PAGE, offset=offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE

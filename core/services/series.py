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
LOOK_BACK = timedelta(days=2)          # housekeeping looks at occurrences settled this recently


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
    """Continue every series whose recent occurrence settled (while a runner was stopping, say); returns how many
    were tried. One series failing never stops the others."""
    now, tried = clock(), 0
    for post in store.list_posts(statuses=list(SETTLED), start=now - look_back, end=now):
        if post.recurrence:
            tried += 1
            try:
                continue_series(store, post, clock=clock, actor=actor)
            except Exception:
                log.exception("continuing the series of post %s failed; going on with the others", post.id)
    return tried

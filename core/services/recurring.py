"""Recurring posts: after an occurrence is done, the next one is created from the rule.

DST-correct (the rule is anchored to local wall time, core.rules.timing), one occurrence at a time,
and never a catch-up burst after downtime: missed occurrences are logged as skipped, only the most
recent one within the grace period is still published (core.rules.timing.catch_up).

The next occurrence's id is derived from the series and its time, so two runners (or a retry after
a crash) that both continue a series create it once: the second gets DuplicateError and moves on.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Callable

from core.rules import timing as scheduling
from core.domain import ActivityEvent, Delivery, Post, Schedule
from core.domain.errors import DuplicateError, NotFoundError, ValidationError
from core.domain.lifecycle import PostState, PostStatus
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.recurring")

SETTLED = (PostStatus.PUBLISHED, PostStatus.PARTIALLY_PUBLISHED, PostStatus.FAILED, PostStatus.NEEDS_REVIEW)


def occurrence_id(series_id: str, at: datetime) -> str:
    return f"{series_id}~{at:%Y%m%dT%H%MZ}"


def continue_series(store: PostStore, post: Post, *, clock: Callable[[], datetime] = utcnow,
                    actor: str = "system") -> Post | None:
    """Create the series' next occurrence after `post` once `post` is settled; None when there is nothing to do."""
    if not post.recurrence or post.schedule is None or post.state != PostState.APPROVED:
        return None
    if store.get_post_status(post.id) not in SETTLED:
        return None
    series_id = post.series_id or post.id
    try:
        first = store.get_post(series_id)
        anchor, tz = first.schedule.scheduled_at, first.schedule.timezone_name
    except (NotFoundError, AttributeError):
        anchor, tz = post.schedule.scheduled_at, post.schedule.timezone_name
    now = clock()
    try:
        step = scheduling.catch_up(post.recurrence, anchor, tz, last_occurrence=post.schedule.scheduled_at, now=now)
    except ValidationError as exc:
        log.warning("series %s: the rule no longer works (%s); not continuing it", series_id, exc)
        return None
    nxt = step.due or step.upcoming
    if nxt is None:
        return None                                          # the rule has ended
    new = replace(post, id=occurrence_id(series_id, nxt.at), series_id=series_id,
                  schedule=Schedule(scheduled_at=nxt.at, timezone_name=tz, notice=nxt.notice),
                  state=PostState.APPROVED, created_at=None, updated_at=None, version=0)
    deliveries = [Delivery(post_id=new.id, account_id=a.id, platform=a.platform, due_at=nxt.at) for a in post.accounts]
    details = {"series_id": series_id, "after": post.id}
    if step.skipped:
        details["skipped"] = [t.isoformat() for t in step.skipped[-20:]]
        details["skipped_count"] = len(step.skipped)
    event = ActivityEvent(action="post.recurred", subject_type="post", subject_id=new.id, at=now, actor=actor,
                          workspace_id=post.workspace_id, to_state=PostStatus.SCHEDULED.value,
                          reason=(f"Skipped {len(step.skipped)} occurrence(s) missed while Outpost was not running."
                                  if step.skipped else None), details=details)
    try:
        return store.add_post(new, deliveries, events=[event])
    except DuplicateError:
        return None                                          # another runner continued it first

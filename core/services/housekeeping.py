"""Housekeeping: each chore on its own, so one failing never stops the others."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from core.services.approvals import expire_overdue
from core.services.series import continue_settled_series
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.housekeeping")
OAUTH_STATE_KEEP = timedelta(days=1)     # connect attempts older than this are long expired
HEARTBEAT_KEEP = timedelta(days=1)
SESSION_KEEP = timedelta(days=7)          # an ended session (or a failed sign-in) is kept this long, then forgotten       # a heartbeat this old belongs to a runner long gone


def housekeeping(store: PostStore, *, clock: Callable[[], datetime] = utcnow, actor: str = "system",
                 keep_runner_id: str | None = None) -> None:
    """Old connect attempts, heartbeats of runners long gone (never `keep_runner_id`'s), posts nobody approved by
    their time (expired), series left behind."""
    now = clock()
    try:
        purged = store.purge_oauth_states(now - OAUTH_STATE_KEEP)
        if purged:
            log.info("removed %d old connect attempts", purged)
    except Exception:
        log.exception("removing old connect attempts failed; trying again next time")
    try:
        gone = store.purge_sessions(now - SESSION_KEEP)
        if gone:
            log.info("forgot %d dashboard sessions that ended over a week ago", gone)
    except Exception:
        log.exception("forgetting ended sessions failed; trying again next time")
    try:
        forget_old_heartbeats(store, now=now, keep_runner_id=keep_runner_id)
    except Exception:
        log.exception("forgetting old heartbeats failed; trying again next time")
    # Posts nobody approved by their time are never published: mark them expired and tell their authors.
    try:
        expired = expire_overdue(store, clock=clock, actor=actor if ":" in actor else f"system:{actor}")
        if expired:
            log.info("%d post(s) expired without approval", expired)
    except Exception:
        log.exception("expiring unapproved posts failed; trying again next time")
    # A series whose last occurrence settled while a runner was stopping: continue it (idempotent).
    try:
        continue_settled_series(store, clock=clock, actor=actor)
    except Exception:
        log.exception("continuing settled series failed; trying again next time")


def forget_old_heartbeats(store: PostStore, *, now: datetime, keep_runner_id: str | None = None) -> int:
    """Heartbeats of runners that were killed (no goodbye) would pile up, one per restart; returns how many went."""
    gone = 0
    for beat in store.list_heartbeats():
        if beat.runner_id != keep_runner_id and beat.beat_at < now - HEARTBEAT_KEEP:
            store.delete_heartbeat(beat.runner_id)
            gone += 1
    return gone

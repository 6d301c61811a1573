"""Housekeeping: each chore on its own, so one failing never stops the others."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from core.domain.lifecycle import PostStatus
from core.media.library import MediaLibrary
from core.media.renditions import remove_renditions, unused_renditions
from core.services.approvals import expire_overdue
from core.services.series import continue_settled_series
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.housekeeping")
OAUTH_STATE_KEEP = timedelta(days=1)     # connect attempts older than this are long expired
HEARTBEAT_KEEP = timedelta(days=1)
SESSION_KEEP = timedelta(days=7)          # an ended session (or a failed sign-in) is kept this long, then forgotten
INVITATION_KEEP = timedelta(days=30)       # a used, withdrawn or expired invitation (and its email) is kept this long
# A JPEG made for a platform (core.media.renditions) is kept this long after its post was due once the post is
# published or cancelled, and this long after it was last made or used when no post names it (deleted posts, a
# composer draft never saved).
RENDITION_KEEP = timedelta(days=7)
# Posts in these states never send anything again (a cancelled post stays cancelled; an expired one may be renewed).
_DONE = (PostStatus.PUBLISHED, PostStatus.CANCELLED)
_STILL_SENDING = tuple(s for s in PostStatus if s not in _DONE)
_SCAN = 200_000        # posts read at most; with more, renditions are left alone rather than guessed about


def housekeeping(store: PostStore, *, clock: Callable[[], datetime] = utcnow, actor: str = "system",
                 keep_runner_id: str | None = None, library: MediaLibrary | None = None) -> None:
    """Old connect attempts, ended sessions, invitations settled a month ago, heartbeats of runners long gone
    (never `keep_runner_id`'s), posts nobody approved by their time (expired), series left behind, and (given the
    media `library`) renditions no post needs. Each job on its own: one failing is logged and tried next time."""
    now = clock()
    _job("removing old connect attempts", "removed %d old connect attempts",
         lambda: store.purge_oauth_states(now - OAUTH_STATE_KEEP))
    _job("forgetting ended sessions", "forgot %d dashboard sessions that ended over a week ago",
         lambda: store.purge_sessions(now - SESSION_KEEP))
    _job("forgetting old invitations", "forgot %d invitations used, withdrawn or expired over 30 days ago",
         lambda: store.purge_invitations(now - INVITATION_KEEP))
    _job("forgetting old heartbeats", None, lambda: forget_old_heartbeats(store, now=now, keep_runner_id=keep_runner_id))
    # Posts nobody approved by their time are never published: mark them expired and tell their authors.
    _job("expiring unapproved posts", "%d post(s) expired without approval",
         lambda: expire_overdue(store, clock=clock, actor=actor if ":" in actor else f"system:{actor}"))
    # A series whose last occurrence settled while a runner was stopping: continue it (idempotent).
    _job("continuing settled series", None, lambda: continue_settled_series(store, clock=clock, actor=actor))
    # After the series: an occurrence it just made names the same renditions as the one before.
    if library is not None:
        _job("deleting unused converted media", "deleted %d converted media file(s) no post needs any more",
             lambda: len(forget_unused_renditions(store, library, now=now) or ()))


def _job(what: str, done: str | None, run: Callable[[], object]) -> None:
    """Run one housekeeping job; log how many things it did (`done`, with %d) or, should it fail, that it will be
    tried again next time (the other jobs still run)."""
    try:
        count = run()
    except Exception:
        log.exception("%s failed; trying again next time", what)
        return
    if done and count:
        log.info(done, count)


def forget_unused_renditions(store: PostStore, library: MediaLibrary, *, now: datetime) -> list[str] | None:
    """Delete the renditions (JPEGs made for a platform, core.media.renditions) that no post needs any more:
    none that a post which may still be sent names (draft, waiting for approval, scheduled, expired, publishing,
    failed or needing review: a person may try again), none of a post published or cancelled that was due in
    the last RENDITION_KEEP, none made or used in the last RENDITION_KEEP. Returns their names (None when there
    were too many posts to be sure, and nothing was deleted). The posts are read only when some rendition is old
    enough to go (about 7 s per 20,000 posts on SQLite)."""
    unused_since = now - RENDITION_KEEP
    candidates = unused_renditions(library, unused_since=unused_since)
    if not candidates:
        return []
    pending = store.list_posts(statuses=_STILL_SENDING, limit=_SCAN)
    recent = store.list_posts(statuses=_DONE, start=now - RENDITION_KEEP, limit=_SCAN)
    if len(pending) >= _SCAN or len(recent) >= _SCAN:
        log.warning("more than %d posts: converted media left alone", _SCAN)
        return None
    needed = set()
    for post in (*pending, *recent):
        for urls in (post.media_urls, *(v.media_urls or () for v in post.variants.values())):
            needed.update(name for name in map(library.name_of, urls) if name)
    return remove_renditions(library, [name for name in candidates if name not in needed], unused_since=unused_since)


def forget_old_heartbeats(store: PostStore, *, now: datetime, keep_runner_id: str | None = None) -> int:
    """Heartbeats of runners that were killed (no goodbye) would pile up, one per restart; returns how many went."""
    gone = 0
    for beat in store.list_heartbeats():
        if beat.runner_id != keep_runner_id and beat.beat_at < now - HEARTBEAT_KEEP:
            store.delete_heartbeat(beat.runner_id)
            gone += 1
    return gone

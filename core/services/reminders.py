"""Approval reminders: a post due within a day that nobody approved does not go out, so its approvers are told
(once per post)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from core.services import notifications
from core.domain.lifecycle import PostStatus
from core.services.notifications import InAppNotifier, Notifier
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.reminders")
REMIND_AHEAD = timedelta(days=1)


def approval_reminders(store: PostStore, *, clock: Callable[[], datetime] = utcnow,
                       notifier: Notifier | None = None, ahead: timedelta = REMIND_AHEAD) -> int:
    """Remind each workspace of its posts waiting for approval that are due within `ahead`; returns how many
    reminders went out. One workspace's or one post's failure never stops the others."""
    notifier = notifier or InAppNotifier(store)
    now, sent = clock(), 0
    for ws in store.list_workspaces():
        try:
            waiting = store.list_posts(workspace_id=ws.id, statuses=[PostStatus.PENDING_APPROVAL],
                                       start=now, end=now + ahead)
            if not waiting:
                continue
            told = {n.subject_id for n in store.list_notifications(workspace_id=ws.id, limit=1000)
                    if n.kind == notifications.APPROVAL_NEEDED}
        except Exception:
            log.exception("approval reminders for workspace %s failed unexpectedly; going on with the others", ws.id)
            continue
        for post in waiting:
            if post.id in told:
                continue
            try:
                notifier.notify(notifications.approval_reminder(post, ws.timezone_name))
                sent += 1
            except Exception:
                log.exception("approval reminder for post %s failed unexpectedly; going on with the others", post.id)
    return sent

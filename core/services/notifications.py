"""What people are told, built in one place, and the one interface that delivers it.

Each kind of notification has one function here that builds it from the thing it is about: who is told
(`workspace_id`, and `user_id`, None meaning everyone in the workspace who should know), what they read
(`title`, `body`, in plain words) and what it links to (`subject_id`: the post or account the dashboard opens).
A `Notifier` delivers what was built. `InAppNotifier` writes it to the store, where the dashboard shows it;
email will be a second implementation of the same protocol. Callers build, then deliver:

    notifier.notify(notifications.reconnect_needed(account, reason, at=now))

People read them through `core.services.views.notification_rows` and mark them read with `mark_read`, which is told who
acts: only a member of the workspace, and only a notification addressed to them or to everyone there.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable, Protocol

from core.domain import Account, Delivery, Notification, Post
from core.domain.errors import NotFoundError, PermissionDenied
from core.domain.lifecycle import DeliveryState
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.domain.timeutil import utcnow, zone

# Kinds, as stored (a stored kind never changes: the dashboard and "told once" checks read them).
APPROVAL_NEEDED = "approval_needed"
RECONNECT_NEEDED = "reconnect_needed"
DELIVERY_FAILED = "delivery_failed"
DELIVERY_NEEDS_REVIEW = "delivery_needs_review"
POST_REJECTED = "post_rejected"
POST_EXPIRED = "post_expired"


class Notifier(Protocol):
    """Delivers a notification to the people it names; returns it as delivered."""

    def notify(self, notification: Notification) -> Notification: ...


class _NotificationSink(Protocol):
    def add_notification(self, notification: Notification) -> Notification: ...


class InAppNotifier:
    """Notifications in the dashboard: written to the store, read by the pages."""

    def __init__(self, store: _NotificationSink):
        self.store = store

    def notify(self, notification: Notification) -> Notification:
        return self.store.add_notification(notification)


class _NotificationStore(_NotificationSink, Protocol):
    def list_notifications(self, *, workspace_id: str, user_id: str | None = None, unread_only: bool = False,
                           limit: int = 100) -> list[Notification]: ...

    def mark_notification_read(self, notification_id: str, at: datetime) -> None: ...


# How many of a workspace's notifications mark_read looks through to find one (the store reads them by workspace).
_LOOK_THROUGH = 100_000


def mark_read(store: _NotificationStore, workspace_id: str, notification_id: str, *, actor: Actor = SCRIPT,
              clock: Callable[[], datetime] = utcnow) -> Notification:
    """Mark one of the workspace's notifications read, for the person it is addressed to; returns it as read.

    A member of the workspace (any role) may mark what is addressed to them or to everyone there (a notification
    for everyone is then read for everyone, as the store keeps one read time); someone else's notification is
    refused with PermissionDenied, an outsider before anything is read. Marking a read notification again
    changes nothing. NotFoundError when the workspace has no such notification.
    """
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    note = _find(store, workspace_id, notification_id)
    if not actor.is_system and note.user_id not in (None, actor.user_id):
        raise PermissionDenied("This notification is for someone else in the workspace.", action=Action.VIEW,
                               workspace_id=workspace_id, code="other_person")
    if note.read_at is not None:
        return note
    at = clock()
    store.mark_notification_read(note.id, at)
    return replace(note, read_at=at)


def _find(store: _NotificationStore, workspace_id: str, notification_id: str) -> Notification:
    # Unread first: what a person marks is almost always among them, and they are few.
    for unread_only in (True, False):
        for note in store.list_notifications(workspace_id=workspace_id, unread_only=unread_only,
                                             limit=_LOOK_THROUGH):
            if note.id == notification_id:
                return note
    raise NotFoundError(f"This workspace has no notification {notification_id}.")


def summary(post: Post) -> str:
    """A post as people recognise it in a notification: its title, or the start of its caption."""
    text = post.title or " ".join(post.caption.split())
    if len(text) > 60:
        text = text[:59] + "\u2026"
    return "\u201c" + text + "\u201d"


# ---------------------------------------------------------------- one function per kind
def publish_failed(post: Post, delivery: Delivery) -> Notification:
    """A delivery failed for good (rejected, or out of attempts): the reason is the delivery's last error."""
    return _delivery_note(post, delivery, "A post could not be published")


def needs_review(post: Post, delivery: Delivery) -> Notification:
    """Outpost cannot tell whether a delivery went out (or it came too late): a person decides."""
    return _delivery_note(post, delivery, "A post needs your review")


def delivery_outcome(post: Post, delivery: Delivery) -> Notification:
    """The notification for a delivery that has just settled, by its state."""
    if delivery.state == DeliveryState.FAILED:
        return publish_failed(post, delivery)
    if delivery.state == DeliveryState.NEEDS_REVIEW:
        return needs_review(post, delivery)
    return _delivery_note(post, delivery, "Publishing update")


def reconnect_needed(account: Account, reason: str, *, at: datetime | None = None) -> Notification:
    """An account the platform no longer accepts: its posts wait until someone connects it again.
    `reason` is already in plain words and free of tokens (core.services.connect.mark_reconnect_needed sees to both)."""
    return Notification(
        workspace_id=account.workspace_id or "", kind=RECONNECT_NEEDED, title=f"Reconnect {account.label}",
        body=f"{reason} Posts for {account.label} wait until you connect it again from Accounts.",
        created_at=at, subject_id=account.id)


def approval_reminder(post: Post, tz_name: str | None = None, *, at: datetime | None = None) -> Notification:
    """A post due soon that nobody has approved yet (it does not go out without an approval); its time in the
    workspace's zone `tz_name` (the zone it was scheduled in when not given)."""
    return Notification(
        workspace_id=post.workspace_id or "", kind=APPROVAL_NEEDED, title="A post is waiting for approval",
        body=f"{summary(post)} is due {_due(post, tz_name)} and will not go out until someone approves it.",
        created_at=at, subject_id=post.id)


def approval_needed_again(post: Post, tz_name: str, *, at: datetime | None = None) -> Notification:
    """Someone changed an approved post's content, so it went back to its approvers (what they approved is not what
    would go out). Stored as an approval reminder, so the reminders do not tell them about it a second time."""
    return Notification(
        workspace_id=post.workspace_id or "", kind=APPROVAL_NEEDED, title="A changed post is waiting for approval",
        body=f"{summary(post)} was changed after it was approved and waits for approval again: it is due "
             f"{_due(post, tz_name)} and will not go out until someone approves it.",
        created_at=at, subject_id=post.id)


def post_rejected(post: Post, reason: str, *, author_id: str | None, at: datetime | None = None) -> Notification:
    """An approver sent a post back to its author with a reason (everyone in the workspace when the author is
    unknown)."""
    return Notification(
        workspace_id=post.workspace_id or "", kind=POST_REJECTED, title="A post was sent back to you",
        body=f"{summary(post)} was not approved: {reason} Edit it and submit it again from Posts.",
        created_at=at, user_id=author_id, subject_id=post.id)


def post_expired(post: Post, tz_name: str, *, author_id: str | None, at: datetime | None = None) -> Notification:
    """Nobody approved a post by its time, so it was not published; the time is said in the workspace's zone."""
    return Notification(
        workspace_id=post.workspace_id or "", kind=POST_EXPIRED, title="A post expired without approval",
        body=f"{summary(post)} was due {_due(post, tz_name)} and nobody approved it, so it was not published. "
             "Give it a new time on the Approvals page.", created_at=at, user_id=author_id, subject_id=post.id)


def _due(post: Post, tz_name: str | None) -> str:
    """A post's time as its workspace's people read it: "Mon 4 Mar 09:00 (Europe/Berlin)", in the zone `tz_name`
    (the workspace's; the zone the post was scheduled in when not given), as the pages show times."""
    if post.schedule is None:
        return "at its time"
    tz_name = tz_name or post.schedule.timezone_name
    local = post.schedule.scheduled_at.astimezone(zone(tz_name))
    return f"{local:%a} {local.day} {local:%b %H:%M} ({tz_name})"


def _delivery_note(post: Post, delivery: Delivery, title: str) -> Notification:
    # Which account, not only which platform (a workspace may have two there), as the Activity page says it;
    # the platform alone when the account is no longer among the post's targets.
    account = next((a for a in post.accounts if a.id == delivery.account_id), None)
    where = f"for {account.label}" if account else f"on {delivery.platform.label}"
    return Notification(
        workspace_id=post.workspace_id or "", kind=f"delivery_{delivery.state.value}", title=title,
        body=f"{summary(post)} {where}: {delivery.last_error}", subject_id=post.id)

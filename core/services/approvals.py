"""Approvals: the queue of posts waiting for a yes, grouped by batch, and what approvers do with it.

    queue = approval_queue(store, ws.id, actor=actor)            # every member may look
    approve_batch(store, ws.id, group.batch_id, post_ids=group.post_ids, actor=actor)   # owners and approvers
    reject(store, ws.id, post_id, "Wrong price in the caption.", actor=actor)          # back to its author

Who may: looking is for every member; approving and rejecting for owners and approvers
(`core.rules.permissions`, Action.APPROVE), and where the workspace asks for a second person
(``Workspace.approval_by_other``) nobody approves their own post, nor one they changed after it was approved (it
went back for approval): that rule is `Scheduler.approve`'s, so the post dialog and scripts obey it too, and the
queue says it on the post instead of offering Approve. A post whose time has passed is not approved by a person:
it expires.

A rejected post goes back to its author with the reason (state ``rejected``: a draft that carries the reason,
which the author edits and submits again) and the author is notified. A post nobody approved by its time is
never claimed by the runner (claims take approved posts only); `expire_overdue`, run by the runner's
housekeeping, marks it ``expired`` with an event and tells its author, and a new time
(`Scheduler.reschedule`) puts it back in the queue.

Approving a batch is one store transaction per post (the Scheduler's), and the queue is read with one list of
posts, their deliveries and the batches: no query per post, except for the author of a post stored before
posts recorded one (read from its activity), and where a second person approves, the history of each post the
person looking could otherwise approve (did they change it after it was approved?).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

from core.domain import ActivityEvent, Post, Workspace, post_status
from core.domain.errors import NotFoundError, OutpostError, ValidationError
from core.domain.lifecycle import PostStatus
from core.domain.timeutil import utcnow, zone
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.services import notifications
from core.services.notifications import InAppNotifier, Notifier
from core.services.scheduler import Scheduler, ScheduleResult, changed_after_approval, post_author
from core.store import PostStore

__all__ = ["approval_queue", "approve", "approve_batch", "reject"]

log = logging.getLogger("outpost.approvals")
_QUEUE_LIMIT = 5000
NOT_IN_A_BATCH = "Single posts"    # the heading of the posts written one by one (not generated as a week's batch)
CHANGED_IT = "You changed this post after it was approved: someone else must approve it."


@dataclass(frozen=True)
class Waiting:
    """One post in the queue (pending approval, or expired), with its time in the workspace's zone. How it looks
    on each account is the page's to show, from `post` (core.rules.previews)."""

    post: Post
    status: PostStatus
    when: str
    author_id: str | None
    own: bool            # the person looking wrote it
    may_approve: bool    # the person looking may approve it (role, second person, time not passed)
    why_not: str = ""    # when they may not, in words
    author: str = ""     # the author's name as people know it ("" when a script wrote it)

    @property
    def post_id(self) -> str:
        return self.post.id


@dataclass(frozen=True)
class BatchGroup:
    """The pending posts of one batch (or of none), earliest first."""

    batch_id: str | None
    title: str
    posts: tuple[Waiting, ...]
    tz_name: str

    @property
    def post_ids(self) -> tuple[str, ...]:
        return tuple(w.post_id for w in self.posts)

    @property
    def approvable(self) -> tuple[Waiting, ...]:
        return tuple(w for w in self.posts if w.may_approve)

    def confirmation(self) -> str:
        """What approving the whole batch does, in words: how many posts go out, and from when to when."""
        ready = [w.post for w in self.approvable if w.post.due_at is not None]
        if not ready:
            return "None of these posts can be approved by you."
        first, last = min(p.due_at for p in ready), max(p.due_at for p in ready)
        n = len(ready)
        words = f"Approve {n} post{'s' if n != 1 else ''}? "
        if n == 1 or first == last:
            words += f"{'It goes' if n == 1 else 'They go'} out {_local(first, self.tz_name)}"
        else:
            words += f"They go out from {_local(first, self.tz_name)} to {_local(last, self.tz_name)}"
        words += f" ({self.tz_name})."
        skipped = len(self.posts) - len(self.approvable)
        if skipped:
            words += f" {skipped} other{'s' if skipped != 1 else ''} in this group stay{'s' if skipped == 1 else ''} " \
                     "waiting (see why on each post)."
        return words


@dataclass(frozen=True)
class ApprovalQueue:
    workspace: Workspace
    groups: tuple[BatchGroup, ...]
    expired: tuple[Waiting, ...]

    @property
    def pending_count(self) -> int:
        return sum(len(g.posts) for g in self.groups)


@dataclass(frozen=True)
class BatchApproval:
    """What approving a batch did: the posts approved, and those left waiting with the reason."""

    approved: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


def _local(at: datetime, tz_name: str) -> str:
    local = at.astimezone(zone(tz_name))
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def approval_queue(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT,
                   clock: Callable[[], datetime] = utcnow) -> ApprovalQueue:
    """The workspace's posts waiting for approval, grouped by batch (batches first, then "not in a batch"),
    and the expired ones that need a new time; what the person looking may do with each."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    workspace = store.get_workspace(workspace_id)
    tz = workspace.timezone_name
    now = clock()
    posts = store.list_posts(workspace_id=workspace_id, statuses=[PostStatus.PENDING_APPROVAL, PostStatus.EXPIRED],
                             limit=_QUEUE_LIMIT)
    by_post = store.deliveries_for([p.id for p in posts])
    statuses = {p.id: post_status(p, by_post.get(p.id, [])) for p in posts}
    batches = {b.id: b for b in store.list_batches(workspace_id=workspace_id)}
    can_approve = actor.can(Action.APPROVE, workspace_id)
    # Where a second person approves, whoever sent an approved post back by changing it does not approve it either
    # (one read of its history per post, only for a person who could otherwise approve it).
    second_person = workspace.approval_by_other and not actor.is_system
    names: dict[str, str] = {}   # one read per author, not per post

    def name(user_id: str | None) -> str:
        if user_id is None:
            return ""
        if user_id not in names:
            try:
                user = store.get_user(user_id)
                names[user_id] = user.display_name or user.email
            except (KeyError, NotFoundError):
                names[user_id] = ""
        return names[user_id]

    groups: dict[str | None, list[Waiting]] = {}
    expired: list[Waiting] = []
    for post in posts:
        author = post_author(store, post)
        own = actor.user_id is not None and author == actor.user_id
        status = statuses[post.id]
        why = ""
        if not can_approve:
            why = "Only owners and approvers approve posts."
        elif own and workspace.approval_by_other:
            why = "You wrote this post: someone else must approve it."
        elif post.due_at is not None and post.due_at <= now:
            why = "Its time has passed: give it a new time first."
        elif second_person and status == PostStatus.PENDING_APPROVAL \
                and actor.label in changed_after_approval(store, post):   # Scheduler.approve would refuse them
            why = CHANGED_IT
        item = Waiting(post=post, status=status, when=_local(post.due_at, tz) if post.due_at else "no time yet",
                       author_id=author, own=own, may_approve=not why, why_not=why,
                       author=name(author))
        if status == PostStatus.EXPIRED:
            expired.append(item)
        else:
            groups.setdefault(post.batch_id, []).append(item)

    def title(batch_id: str | None) -> str:
        if batch_id is None:
            return NOT_IN_A_BATCH
        batch = batches.get(batch_id)
        if batch is None:
            return f"Batch {batch_id}"
        return f"Week of {batch.week_start.day} {batch.week_start:%b %Y}" + (f": {batch.prompt}" if batch.prompt else "")

    order = sorted(groups, key=lambda b: (b is None, min((w.post.due_at for w in groups[b] if w.post.due_at),
                                                         default=now), str(b)))
    return ApprovalQueue(workspace=workspace, expired=tuple(expired),
                         groups=tuple(BatchGroup(batch_id=b, title=title(b), posts=tuple(groups[b]), tz_name=tz)
                                      for b in order))


def _in_workspace(store: PostStore, workspace_id: str, post_id: str) -> Post:
    post = store.get_post(post_id)
    if post.workspace_id != workspace_id:
        raise NotFoundError("This workspace has no such post.")
    return post


def approve(store: PostStore, workspace_id: str, post_id: str, *, actor: Actor = SCRIPT,
            clock: Callable[[], datetime] = utcnow) -> ScheduleResult:
    """Approve one post (owners and approvers; not its author where a second person must approve)."""
    check(actor, Action.APPROVE, workspace_id, subject="workspace")
    _in_workspace(store, workspace_id, post_id)
    return Scheduler(store, clock=clock, actor=actor).approve(post_id)


def approve_batch(store: PostStore, workspace_id: str, batch_id: str | None, *, post_ids: Sequence[str] | None = None,
                  actor: Actor = SCRIPT, clock: Callable[[], datetime] = utcnow) -> BatchApproval:
    """Approve the batch's pending posts (``batch_id=None``: those in no batch), one transaction per post.

    `post_ids` limits it to the posts the person was shown (a post added since is not approved unseen). A post
    the person may not approve (their own where a second person must, its time passed, changed meanwhile) stays
    waiting and is named in ``refused`` with the reason; the others are approved.
    """
    check(actor, Action.APPROVE, workspace_id, subject="workspace")
    posts = store.list_posts(workspace_id=workspace_id, statuses=[PostStatus.PENDING_APPROVAL], batch_id=batch_id,
                             limit=_QUEUE_LIMIT)
    posts = [p for p in posts if p.batch_id == batch_id]
    if post_ids is not None:
        wanted = set(post_ids)
        posts = [p for p in posts if p.id in wanted]
    scheduler = Scheduler(store, clock=clock, actor=actor)
    approved, refused = [], []
    for post in posts:
        try:
            scheduler.approve(post.id)
        except OutpostError as exc:
            problems = exc.problems if isinstance(exc, ValidationError) else []
            refused.append((post.id, " ".join(p.message for p in problems) if problems else str(exc)))
        else:
            approved.append(post.id)
    return BatchApproval(approved=tuple(approved), refused=tuple(refused))


def reject(store: PostStore, workspace_id: str, post_id: str, reason: str, *, actor: Actor = SCRIPT,
           clock: Callable[[], datetime] = utcnow) -> ScheduleResult:
    """Send a post back to its author with a reason (required): it becomes a rejected draft and they are told
    (`Scheduler.reject` does both, so the post dialog's way does too)."""
    check(actor, Action.APPROVE, workspace_id, subject="workspace")
    _in_workspace(store, workspace_id, post_id)
    return Scheduler(store, clock=clock, actor=actor).reject(post_id, reason)


def expire_overdue(store: PostStore, *, clock: Callable[[], datetime] = utcnow, actor: str = "system:housekeeping",
                   notifier: Notifier | None = None, limit: int = 1000) -> int:
    """Mark posts still waiting for approval at their time as expired (never published), with an event, and tell
    each author; returns how many expired. One post's failure never stops the others (the runner's housekeeping)."""
    notifier = notifier or InAppNotifier(store)
    now = clock()
    zones: dict[str | None, str] = {}
    done = 0
    for post in store.list_posts(statuses=[PostStatus.PENDING_APPROVAL], end=now, limit=limit):
        try:
            status = store.get_post_status(post.id)
            changed = post.expire(status)
            event = ActivityEvent(action="post.expired", subject_type="post", subject_id=post.id, at=now, actor=actor,
                                  workspace_id=post.workspace_id, from_state=status.value,
                                  to_state=PostStatus.EXPIRED.value, reason="Nobody approved it by its time.")
            store.update_post(changed, expected_version=post.version, events=[event])
            done += 1
            if post.workspace_id is None:
                continue
            if post.workspace_id not in zones:
                zones[post.workspace_id] = store.get_workspace(post.workspace_id).timezone_name
            notifier.notify(notifications.post_expired(post, zones[post.workspace_id],
                                                       author_id=post_author(store, post), at=now))
        except Exception:
            log.exception("expiring post %s failed; trying again next time", post.id)
    return done

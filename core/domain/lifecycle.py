"""The post and delivery lifecycles, as explicit tables.

A **post** carries an editorial state that people change (draft, waiting for
approval, rejected, approved, cancelled). Once approved, what happens next is
told by its **deliveries**, one per (post, account): a post can succeed on
LinkedIn and fail on Instagram. The post's overall status is *derived* from both
and never stored on its own authority::

    post:      draft -> pending_approval -> scheduled -> publishing -> published | partially_published | failed
                             \\-> rejected             \\-> cancelled              \\-> needs_review
                             \\-> expired (not approved by its time) -> pending_approval (a new time)
               scheduled -> pending_approval (its content changed where posts need approval: approved again first)
    delivery:  queued -> publishing -> published
                             |-> retry_wait -> publishing ...   (transient: 5xx, timeout, 429, not ready)
                             |-> failed                         (rejected for good, or retries exhausted)
                             \\-> needs_review                   (outcome unknown and not reconciled)

Every legal move is one row of a table below; anything else raises
IllegalTransitionError saying what was attempted and why it is not allowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Mapping

from core.domain.errors import IllegalTransitionError, Problem, ValidationError


class PostState(StrEnum):
    """What people decided about a post (stored)."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    APPROVED = "approved"
    CANCELLED = "cancelled"
    EXPIRED = "expired"      # needed approval and nobody approved it by its time: it was not published


class PostStatus(StrEnum):
    """What a person sees: the editorial state combined with the deliveries (derived)."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PUBLISHING = "publishing"
    NEEDS_REVIEW = "needs_review"
    PUBLISHED = "published"
    PARTIALLY_PUBLISHED = "partially_published"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class DeliveryState(StrEnum):
    QUEUED = "queued"
    PUBLISHING = "publishing"
    RETRY_WAIT = "retry_wait"
    PUBLISHED = "published"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_DELIVERY_STATES


TERMINAL_DELIVERY_STATES = frozenset({DeliveryState.PUBLISHED, DeliveryState.FAILED, DeliveryState.CANCELLED})
# States in which a delivery still waits for the runner.
WAITING_DELIVERY_STATES = frozenset({DeliveryState.QUEUED, DeliveryState.RETRY_WAIT})


@dataclass(frozen=True)
class Move:
    """One legal transition: from any of `sources`, `action` leads to `target`."""

    sources: frozenset
    target: object
    reason: str  # why other sources are refused, finishing "only a post that is ... can be ..."


def _m(sources: Iterable, target, reason: str = "") -> Move:
    return Move(frozenset(sources), target, reason)


S = PostStatus
# Editorial actions, checked against the *derived* status, so that a post whose
# deliveries have started can no longer be edited, rejected or cancelled.
POST_MOVES: dict[str, Move] = {
    "submit": _m({S.DRAFT, S.REJECTED}, PostState.PENDING_APPROVAL),
    "approve": _m({S.DRAFT, S.PENDING_APPROVAL}, PostState.APPROVED),
    "reject": _m({S.PENDING_APPROVAL}, PostState.REJECTED),
    "revise": _m({S.PENDING_APPROVAL, S.REJECTED, S.SCHEDULED}, PostState.DRAFT),
    "cancel": _m({S.DRAFT, S.PENDING_APPROVAL, S.REJECTED, S.SCHEDULED, S.EXPIRED}, PostState.CANCELLED),
    # Nobody approved it by its time (the runner's housekeeping); a new time puts it back in the queue.
    "expire": _m({S.PENDING_APPROVAL}, PostState.EXPIRED),
    "renew": _m({S.EXPIRED}, PostState.PENDING_APPROVAL),
    # Where posts need approval, an approved post whose content changed (core.services.scheduler.Scheduler.edit)
    # waits for an approver again: what goes out is always what someone approved.
    "back_to_approval": _m({S.SCHEDULED}, PostState.PENDING_APPROVAL),
    # Content and time changes keep the editorial state but are only allowed before publishing starts.
    "edit": _m({S.DRAFT, S.PENDING_APPROVAL, S.REJECTED, S.SCHEDULED}, None),
    "reschedule": _m({S.DRAFT, S.PENDING_APPROVAL, S.REJECTED, S.SCHEDULED}, None),
}

D = DeliveryState
DELIVERY_MOVES: dict[str, Move] = {
    # The runner claims a waiting delivery just before calling the platform.
    "start_publishing": _m({D.QUEUED, D.RETRY_WAIT}, D.PUBLISHING),
    "mark_published": _m({D.PUBLISHING, D.NEEDS_REVIEW}, D.PUBLISHED),
    "retry_later": _m({D.PUBLISHING}, D.RETRY_WAIT),
    "mark_failed": _m({D.PUBLISHING, D.RETRY_WAIT, D.NEEDS_REVIEW}, D.FAILED),
    "needs_review": _m({D.PUBLISHING}, D.NEEDS_REVIEW),
    # Claimed, but the runner holds it back (daily cap, burst limit) without calling the platform. Only for a
    # delivery nothing of which may be on the platform yet (`may_be_live`): one that may waits in retry_wait, so
    # that its post is never shown as scheduled, nor edited or cancelled (the runner's `retry_later`).
    "defer": _m({D.PUBLISHING}, D.QUEUED),
    # Hand a claimed delivery back untouched (shutdown before the platform call was made).
    "release": _m({D.PUBLISHING}, D.QUEUED),
    # A person asks for another try after a failure or a review.
    "requeue": _m({D.FAILED, D.NEEDS_REVIEW}, D.QUEUED),
    "cancel": _m({D.QUEUED, D.RETRY_WAIT}, D.CANCELLED),
    "reschedule": _m({D.QUEUED, D.RETRY_WAIT}, D.QUEUED),
}


# Progress keys (core.platforms.base) that say the post itself exists on the platform: only what follows it (a
# thread's replies, the first comment) may be left.
LIVE_PROGRESS_KEYS = ("post:id", "tweet:0")


def is_live(progress: Mapping[str, str]) -> bool:
    """An earlier attempt of the delivery already made the post (only its thread or first comment may be left)."""
    return any(progress.get(k) for k in LIVE_PROGRESS_KEYS)


def may_be_live(progress: Mapping[str, str]) -> bool:
    """Something of the delivery is, or may be, on the platform: the post was made, or a send's answer is in doubt
    ("sent"). Such a delivery has started publishing, whatever its state: it never goes back to the queue, and its
    post can no longer be edited, rescheduled or cancelled (`started_status`)."""
    return bool(progress.get("sent")) or is_live(progress)


# What a person may settle, and from where: only what waits for them. A delivery the runner still has (queued,
# publishing, retry_wait) may be on the platform or about to be (a send in doubt is checked by the runner after the
# platform's settle window); a person marking it failed and then trying again would post it twice, and marking it
# published would stop the runner's own check. `give_up` is also refused for a delivery whose post Outpost made
# (`is_live`): it is on the platform, so "not published" would be untrue (marking it published stops there).
# In needs_review a send may be in doubt ("sent"): that is what the person was asked to look at, so their word
# settles it.
PERSON_SETTLES: dict[str, Move] = {
    "confirm_published": _m({D.NEEDS_REVIEW}, D.PUBLISHED),
    "give_up": _m({D.NEEDS_REVIEW}, D.FAILED),
    "try_again": _m({D.FAILED, D.NEEDS_REVIEW}, D.QUEUED),
}


class SettleRefused(IllegalTransitionError):
    """A person asked to settle a delivery that is not theirs to settle now; the message says why, in words."""

    def __init__(self, message: str, *, action: str, current: DeliveryState, delivery_id: str | None):
        super().__init__(entity="delivery", entity_id=delivery_id, action=action, current=current.value,
                         allowed_from=tuple(sorted(s.value for s in PERSON_SETTLES[action].sources)))
        self.args = (message,)


_RUNNER_HAS_IT = ("Outpost is still publishing this (it may already be on the platform, or be about to be), so it "
                  "cannot be settled by hand now. If Outpost cannot tell whether it went out, it will ask you to "
                  "review it.")


def check_person_settle(action: str, current: DeliveryState, progress: Mapping[str, str],
                        delivery_id: str | None = None) -> None:
    """Raise SettleRefused, in words, unless a person may `action` ("confirm_published", "give_up", "try_again")
    a delivery in state `current` with `progress` (see PERSON_SETTLES); ValidationError for giving up a live post."""
    move = PERSON_SETTLES[action]
    if current in move.sources:
        if action == "give_up" and is_live(progress):   # a rule, not a race: said as a problem, not as "stale"
            raise ValidationError(Problem(
                "post_is_live", "Outpost already made this post on the platform (only its thread replies or first "
                "comment are missing), so it cannot be marked as not published. Mark it published to leave it as it "
                "is, or try again to finish it."))
        return
    if current == D.PUBLISHED:
        message = {"confirm_published": "This is already marked published.",
                   "give_up": "This is already published, so it cannot be marked as not published.",
                   "try_again": "This is already published: trying again would post it twice."}[action]
    elif current == D.CANCELLED:
        message = "This was cancelled and will not be published; duplicate the post to publish it again."
    elif current == D.FAILED:
        message = {"confirm_published": "This was marked as not published. If it should go out, try again.",
                   "give_up": "This already failed; it will not be published."}[action]
    elif current == D.QUEUED and not may_be_live(progress):
        message = {"confirm_published": "This has not gone out yet: Outpost publishes it at its time.",
                   "give_up": "This has not gone out yet: to stop it, cancel the post or remove this account from it.",
                   "try_again": "This is already waiting to go out."}[action]
    else:   # the runner has it: queued for its time or a retry, being sent, or waiting to check a send in doubt
        message = _RUNNER_HAS_IT
    raise SettleRefused(message, action=action, current=current, delivery_id=delivery_id)


# Its account is disconnected while a delivery waits that may already be live (a send in doubt, a post made with
# its thread or comment left): no runner will publish or check for that account again, and cancelling would say it
# "will not go out" when it may be out. A person looks instead (needs review). Kept apart from DELIVERY_MOVES (the
# runner's own table): only `core.services.accounts.disconnect_account` does this.
TO_REVIEW = _m({D.QUEUED, D.RETRY_WAIT}, D.NEEDS_REVIEW)


def check_to_review(current: DeliveryState, progress: Mapping[str, str], delivery_id: str | None = None) -> None:
    """Raise IllegalTransitionError unless a waiting delivery that may be live (`may_be_live`) is handed to review."""
    if current not in TO_REVIEW.sources or not may_be_live(progress):
        raise IllegalTransitionError(entity="delivery", entity_id=delivery_id, action="needs_review",
                                     current=current.value,
                                     reason="only a waiting delivery that may already be live is handed to a person")


def started_status(status: PostStatus, deliveries: Iterable) -> PostStatus:
    """`status` (derived from the states), corrected for a queued delivery whose progress says it went out (one
    handed back to the queue before this rule, or released at a shutdown): publishing, not scheduled."""
    if status == S.SCHEDULED and any(d.state == D.QUEUED and may_be_live(d.progress) for d in deliveries):
        return S.PUBLISHING
    return status


def check_post_move(action: str, current: PostStatus, post_id: str | None = None) -> Move:
    """The move for `action` from `current`, or IllegalTransitionError."""
    move = POST_MOVES.get(action)
    if move is None:
        raise IllegalTransitionError(entity="post", entity_id=post_id, action=action, current=str(current),
                                     reason="Outpost has no such action for posts")
    if current not in move.sources:
        raise IllegalTransitionError(entity="post", entity_id=post_id, action=action, current=str(current),
                                     allowed_from=tuple(sorted(s.value for s in move.sources)),
                                     reason=_post_reason(action, current))
    return move


def check_delivery_move(action: str, current: DeliveryState, delivery_id: str | None = None) -> Move:
    move = DELIVERY_MOVES.get(action)
    if move is None:
        raise IllegalTransitionError(entity="delivery", entity_id=delivery_id, action=action, current=str(current),
                                     reason="Outpost has no such action for deliveries")
    if current not in move.sources:
        raise IllegalTransitionError(entity="delivery", entity_id=delivery_id, action=action, current=str(current),
                                     allowed_from=tuple(sorted(s.value for s in move.sources)))
    return move


def _post_reason(action: str, current: PostStatus) -> str | None:
    if current in (S.PUBLISHING, S.PUBLISHED, S.PARTIALLY_PUBLISHED, S.FAILED, S.NEEDS_REVIEW):
        return "publishing has already started, so it can no longer be changed"
    if current == S.CANCELLED:
        return "a cancelled post stays cancelled; duplicate it to use it again"
    return None


def derive_post_status(state: PostState, deliveries: Iterable[DeliveryState]) -> PostStatus:
    """A post's overall status from its editorial state and its deliveries' states.

    Partially published is a real state: some accounts have it, others failed.
    """
    states = list(deliveries)
    if state == PostState.DRAFT:
        return S.DRAFT
    if state == PostState.PENDING_APPROVAL:
        return S.PENDING_APPROVAL
    if state == PostState.REJECTED:
        return S.REJECTED
    if state == PostState.EXPIRED:
        return S.EXPIRED
    if state == PostState.CANCELLED:
        # Cancelling stops what had not started; if something already went out it stays visible.
        if any(d == D.PUBLISHED for d in states):
            return S.PARTIALLY_PUBLISHED
        return S.CANCELLED
    # Approved.
    live = [d for d in states if d != D.CANCELLED]
    if not live:
        return S.CANCELLED if states else S.SCHEDULED
    if all(d == D.QUEUED for d in live):
        return S.SCHEDULED
    if any(d in (D.PUBLISHING, D.RETRY_WAIT) for d in live) or (
            any(d == D.QUEUED for d in live) and any(d != D.QUEUED for d in live)):
        return S.PUBLISHING
    if any(d == D.NEEDS_REVIEW for d in live):
        return S.NEEDS_REVIEW
    published = sum(1 for d in live if d == D.PUBLISHED)
    if published == len(live):
        return S.PUBLISHED
    if published:
        return S.PARTIALLY_PUBLISHED
    return S.FAILED

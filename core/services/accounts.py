"""Adding, editing and disconnecting accounts, and lifting a hold, checked against who acts.

Connecting through a platform (a consent page, an app password) goes through `core.services.connect`; this is the
other way an account is written from a page. Each function checks the actor (`Action.CONNECT_ACCOUNTS` in the
account's workspace, `core.rules.permissions`) before anything is written, then saves and records an activity event.

Disconnecting forgets the account's tokens and marks it revoked (its row stays, so its published posts keep their
history), first: from then on no runner claims or sends for it (the claim query and the publisher take connected
accounts only). Then its part of every planned post is cancelled: a waiting delivery to it never goes out, even if
the account is connected again later; the same post still goes out to its other accounts. What may already be on the
platform is never cancelled as "will not go out": a waiting delivery whose send is in doubt, or whose post is made
with its thread or first comment left (`core.domain.lifecycle.may_be_live`), goes to needs review for a person to
look, since no runner can check it any more. A delivery a runner is sending at that moment is left to finish (or to
wait for the account to be connected again). A runner claiming while this runs does not leave it half done: a
delivery that changed underneath is read again and decided again. `disconnect_impact` says all of that before
anything changes, from the same selection `disconnect_account` acts on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Callable

from core.domain import Account, AccountStatus, ActivityEvent, Delivery, Post
from core.domain.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from core.domain.lifecycle import WAITING_DELIVERY_STATES, DeliveryState, PostStatus, is_live, may_be_live
from core.services.connect import RECONNECT_REASON_KEY, account_health, handle_taken
from core.platforms.base import checkpoint_time
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.domain.timeutil import utcnow, zone

# The operations (each told who acts); DisconnectImpact and AccountHealth are what they return.
__all__ = ["add_account", "edit_account", "disconnect_impact", "disconnect_account", "lift_hold", "account_health_list"]

# What edit_account may change; tokens and status change only by connecting (core.services.connect).
EDITABLE = frozenset({"display_name", "handle", "daily_cap", "min_gap_minutes"})


def add_account(store: PostStore, actor: Actor, account: Account, *,
                clock: Callable[[], datetime] = utcnow) -> Account:
    """Add a new account to its workspace (``account.workspace_id``) and record it."""
    check(actor, Action.CONNECT_ACCOUNTS, account.workspace_id, subject="account")
    try:
        store.get_account(account.id)
    except NotFoundError:
        pass
    else:
        # Never an overwrite (of another workspace's account, or of a connected one's tokens) by a chosen id.
        raise DuplicateError(f"An account with id {account.id} already exists.")
    if account.handle and handle_taken(store, account.workspace_id, account.platform, account.handle):
        raise DuplicateError(f"{account.handle} on {account.platform.label} is already in this workspace; nothing "
                             f"was added.")
    now = clock()
    saved = store.save_account(account)
    store.record_event(ActivityEvent(action="account.added", subject_type="account", subject_id=saved.id, at=now,
                                     actor=actor.label, workspace_id=saved.workspace_id,
                                     to_state=saved.status.value,
                                     details={"platform": saved.platform.value, "handle": saved.handle}))
    return saved


def edit_account(store: PostStore, actor: Actor, account_id: str, *, clock: Callable[[], datetime] = utcnow,
                 **changes) -> Account:
    """Change an account's name, handle, daily cap or gap, and record which fields changed."""
    current = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, current.workspace_id, subject="account")
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise ValidationError(f"These account fields cannot be changed here: {', '.join(unknown)}. "
                              "Connect the account again to change its access.", code="not_editable")
    saved = store.save_account(replace(current, **changes))
    store.record_event(ActivityEvent(action="account.edited", subject_type="account", subject_id=saved.id,
                                     at=clock(), actor=actor.label, workspace_id=saved.workspace_id,
                                     details={"fields": sorted(changes)}))
    return saved


# Posts that may still have a delivery waiting for the runner.
_OPEN = (PostStatus.PENDING_APPROVAL, PostStatus.SCHEDULED, PostStatus.PUBLISHING)
# How often one delivery is read and decided again when a runner changed it underneath, and how many times the
# whole selection is gone through (a delivery a runner claimed and handed back meanwhile is found by the next).
_TRIES = 5
_PASSES = 3


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class DisconnectImpact:
    account: Account
    # (post, its waiting delivery to this account), soonest first: what will not go out (cancelled).
    planned: tuple[tuple[Post, Delivery], ...]
    # Waiting deliveries that may already be on the platform (`may_be_live`): handed to a person, never cancelled.
    review: tuple[tuple[Post, Delivery], ...] = ()
    # Being sent by a runner at that moment: left to finish, or to wait for the account to be connected again.
    sending: tuple[tuple[Post, Delivery], ...] = ()

    @property
    def message(self) -> str:
        n, label = len(self.planned), self.account.label
        if n == 0 and not self.review and not self.sending:
            return f"No planned posts go to {label}; nothing else changes."
        parts = []
        if n:
            parts.append(f"{_plural(n, 'planned post', 'planned posts')} to {label} will not go out there: that part "
                         f"of {'it' if n == 1 else 'each'} is cancelled, and connecting the account again does not "
                         f"bring {'it' if n == 1 else 'them'} back. Other accounts on the same posts still get them.")
        if self.review:
            r = len(self.review)
            parts.append(f"{_plural(r, 'post', 'posts')} may already be on {label} (Outpost sent "
                         f"{'it' if r == 1 else 'them'} and has not confirmed it yet, or only a thread or first "
                         f"comment is missing), so {'it is' if r == 1 else 'they are'} not cancelled: "
                         f"{'it goes' if r == 1 else 'they go'} to Needs attention, for you to check "
                         f"{self.account.platform.label} and mark {'it' if r == 1 else 'each'} published or not.")
        if self.sending:
            k = len(self.sending)
            parts.append(f"{_plural(k, 'post was', 'posts were')} being sent to {label} at that moment: "
                         f"{'it' if k == 1 else 'each'} either goes out or waits until the account is connected "
                         "again.")
        return " ".join(parts)


# (post, delivery) pairs of one account still with the runner.
_Open = list[tuple[Post, Delivery]]


def _open_deliveries(store: PostStore, account: Account) -> _Open:
    """(post, delivery) for the account's deliveries still with the runner (waiting or being sent), soonest first."""
    posts = store.list_posts(workspace_id=account.workspace_id, account_id=account.id, statuses=_OPEN, limit=10_000)
    by_post = store.deliveries_for(p.id for p in posts)
    found = [(p, d) for p in posts for d in by_post[p.id]
             if d.account_id == account.id and (d.state in WAITING_DELIVERY_STATES or d.state == DeliveryState.PUBLISHING)]
    found.sort(key=lambda pd: (pd[1].due_at, pd[1].id))
    return found


def _by_outcome(found: _Open) -> tuple[_Open, _Open, _Open]:
    """Split the account's open deliveries by what disconnecting does to each, as `disconnect_impact` shows them:
    (will not go out, a person looks because it may be live, being sent now)."""
    planned = [(p, d) for p, d in found if d.state in WAITING_DELIVERY_STATES and not may_be_live(d.progress)]
    review = [(p, d) for p, d in found if d.state in WAITING_DELIVERY_STATES and may_be_live(d.progress)]
    sending = [(p, d) for p, d in found if d.state == DeliveryState.PUBLISHING]
    return planned, review, sending


def disconnect_impact(store: PostStore, actor: Actor, account_id: str) -> DisconnectImpact:
    """What disconnecting the account would do to planned posts (nothing is changed)."""
    account = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, account.workspace_id, subject="account")
    planned, review, sending = _by_outcome(_open_deliveries(store, account))
    return DisconnectImpact(account=account, planned=tuple(planned), review=tuple(review), sending=tuple(sending))


def _review_evidence(store: PostStore, account: Account, d: Delivery) -> str:
    """Why a person looks at `d` (its account disconnected while it may be live), the send's time in the workspace's
    zone."""
    where = account.platform.label
    if is_live(d.progress):
        return (f"{account.label} was disconnected while this was being finished: the post is on {where}, but its "
                "thread or first comment may not be. Mark it published to leave it as it is, or connect the account "
                "again and try again to finish it.")
    sent = ""
    at = checkpoint_time(d.progress.get("sent"))
    if at is not None:
        try:
            tz = zone(store.get_workspace(account.workspace_id).timezone_name) if account.workspace_id else zone("UTC")
            sent = f" at {at.astimezone(tz):%H:%M %Z on %a %d %b}"
        except NotFoundError:
            pass
    return (f"{account.label} was disconnected while Outpost was checking whether this went out (it was sent{sent} "
            f"and {where}'s answer was lost). Look on {where} (a new post can take a few minutes to show), then mark "
            "it published, or do not publish it.")


def _settle_one(store: PostStore, actor: Actor, account: Account, post: Post, d: Delivery, now: datetime):
    """Cancel `d`, or hand it to review when it may be live; read it again and decide again when a runner changed
    it underneath. Returns ("planned" | "review" | "sending" | None, the delivery as it was decided on)."""
    for _ in range(_TRIES):
        if d.state == DeliveryState.PUBLISHING:
            return "sending", d
        if d.state not in WAITING_DELIVERY_STATES:
            return None, d            # a runner finished it meanwhile (published, failed, in review)
        if may_be_live(d.progress):
            kind, after, action, reason = ("review", d.hand_to_review(evidence=_review_evidence(store, account, d),
                                                                      code="disconnected"),
                                           "delivery.needs_review", f"{account.label} was disconnected; it may "
                                                                    "already be live, so a person looks.")
        else:
            kind, after, action, reason = ("planned", d.cancel(), "delivery.cancelled",
                                           f"{account.label} was disconnected.")
        event = ActivityEvent(action=action, subject_type="delivery", subject_id=d.id, at=now, actor=actor.label,
                              workspace_id=post.workspace_id, from_state=d.state.value, to_state=after.state.value,
                              reason=reason, details={"post_id": post.id})
        try:
            store.update_delivery(after, expected_version=d.version, events=[event])
            return kind, d
        except ConflictError:        # a runner claimed, deferred or finished it: look again
            d = store.get_delivery(d.id)
    return ("sending" if d.state == DeliveryState.PUBLISHING else None), d


def disconnect_account(store: PostStore, actor: Actor, account_id: str, *,
                       clock: Callable[[], datetime] = utcnow) -> DisconnectImpact:
    """Forget the account's tokens and mark it revoked, then cancel its waiting deliveries (those that may be live go
    to review); returns what was cancelled, handed to review, and left being sent. Safe to run again."""
    current = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, current.workspace_id, subject="account")
    now = clock()
    # First: no runner claims or sends for it from here on, so what is cancelled below stays cancelled.
    reason = f"Disconnected on {now:%d %b %Y}; connect it again to post from it."
    saved = store.save_account(replace(current, status=AccountStatus.REVOKED, oauth_token=None, refresh_token=None,
                                       secrets={}, meta={**dict(current.meta or {}), RECONNECT_REASON_KEY: reason}))
    done: dict[str, dict[str, tuple[Post, Delivery]]] = {"planned": {}, "review": {}, "sending": {}}
    for _ in range(_PASSES):          # a delivery a runner claimed and handed back meanwhile is found again
        changed = False
        for post, delivery in _open_deliveries(store, saved):
            kind, seen = _settle_one(store, actor, saved, post, delivery, now)
            if kind in ("planned", "review"):
                changed = True
                done["sending"].pop(seen.id, None)
            if kind is not None:
                done[kind][seen.id] = (post, seen)
        if not changed:
            break
    store.record_event(ActivityEvent(action="account.disconnected", subject_type="account", subject_id=saved.id,
                                     at=now, actor=actor.label, workspace_id=saved.workspace_id,
                                     from_state=current.status.value, to_state=saved.status.value,
                                     details={"cancelled_deliveries": len(done["planned"]),
                                              "deliveries_to_review": len(done["review"]),
                                              "deliveries_being_sent": len(done["sending"])}))

    def soonest(kind):
        return tuple(sorted(done[kind].values(), key=lambda pd: (pd[1].due_at, pd[1].id)))
    return DisconnectImpact(account=saved, planned=soonest("planned"), review=soonest("review"),
                            sending=soonest("sending"))


def lift_hold(store: PostStore, actor: Actor, account_id: str, *, clock: Callable[[], datetime] = utcnow) -> bool:
    """Let the runner post for the account again now (a pause after a platform's limit); False when none was on."""
    account = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, account.workspace_id, subject="account")
    now = clock()
    held = store.account_holds(now).get(account.id)
    if held is None:
        return False
    store.release_account_hold(account.id)
    store.record_event(ActivityEvent(action="account.hold_lifted", subject_type="account", subject_id=account.id,
                                     at=now, actor=actor.label, workspace_id=account.workspace_id, reason=held[1]))
    return True


@dataclass(frozen=True)
class AccountHealth:
    """What the Accounts page says about one account (times in the workspace's zone)."""

    account: Account
    health: str                      # connected, expiring in N days, reconnect needed: why
    days_left: int | None            # days until the token must be renewed, when known
    last_error: str                  # the latest error a delivery to it got, if any
    used_today: int                  # posts published today (the workspace's day)
    daily_cap: int
    held_until: datetime | None      # the runner pauses it until then (local), and why
    hold_reason: str

    @property
    def quota(self) -> str:
        return f"{self.used_today} of {self.daily_cap}"


def account_health_list(store: PostStore, actor: Actor, workspace_id: str, *, now: datetime) -> list[AccountHealth]:
    """Each of the workspace's accounts with its health, last error, today's posts against its cap, and any hold."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    tz = zone(store.get_workspace(workspace_id).timezone_name)
    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    holds = store.account_holds(now)
    out = []
    for acc in store.list_accounts(workspace_id=workspace_id):
        h = account_health(acc, now)
        posts = store.list_posts(workspace_id=workspace_id, account_id=acc.id, limit=50, statuses=(
            PostStatus.FAILED, PostStatus.NEEDS_REVIEW, PostStatus.PARTIALLY_PUBLISHED, PostStatus.PUBLISHING))
        errors = [d for ds in store.deliveries_for(p.id for p in posts).values() for d in ds
                  if d.account_id == acc.id and d.last_error]
        errors.sort(key=lambda d: (d.updated_at or d.due_at, d.id))
        until, why = holds.get(acc.id, (None, ""))
        out.append(AccountHealth(account=acc, health=h.message, days_left=h.days_left,
                                 last_error=errors[-1].last_error if errors else "",
                                 used_today=store.published_count(acc.id, midnight), daily_cap=acc.effective_daily_cap,
                                 held_until=until.astimezone(tz) if until else None, hold_reason=why))
    return out

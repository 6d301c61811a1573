"""Adding, editing and disconnecting accounts, and lifting a hold, checked against who acts.

Connecting through a platform (a consent page, an app password) goes through `core.services.connect`; this is the
other way an account is written from a page. Each function checks the actor (`Action.CONNECT_ACCOUNTS` in the
account's workspace, `core.rules.permissions`) before anything is written, then saves and records an activity event.

Disconnecting forgets the account's tokens and marks it revoked (its row stays, so its published posts keep their
history). Its part of every planned post is cancelled: a waiting delivery to it never goes out, even if the account
is connected again later; the same post still goes out to its other accounts. `disconnect_impact` says exactly that
before anything changes, from the same selection `disconnect_account` acts on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Callable

from core.domain import Account, AccountStatus, ActivityEvent, Delivery, Post
from core.domain.errors import DuplicateError, NotFoundError, ValidationError
from core.domain.lifecycle import WAITING_DELIVERY_STATES, PostStatus
from core.services.connect import RECONNECT_REASON_KEY, account_health
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


@dataclass(frozen=True)
class DisconnectImpact:
    account: Account
    # (post, its waiting delivery to this account), soonest first: what will not go out.
    planned: tuple[tuple[Post, Delivery], ...]

    @property
    def message(self) -> str:
        n = len(self.planned)
        if n == 0:
            return f"No planned posts go to {self.account.label}; nothing else changes."
        posts = "1 planned post" if n == 1 else f"{n} planned posts"
        return (f"{posts} to {self.account.label} will not go out there: that part of "
                f"{'it' if n == 1 else 'each'} is cancelled, and connecting the account again does not bring "
                f"{'it' if n == 1 else 'them'} back. Other accounts on the same posts still get them.")


def _waiting(store: PostStore, account: Account) -> list[tuple[Post, Delivery]]:
    posts = store.list_posts(workspace_id=account.workspace_id, account_id=account.id, statuses=_OPEN, limit=10_000)
    by_post = store.deliveries_for(p.id for p in posts)
    found = [(p, d) for p in posts for d in by_post[p.id]
             if d.account_id == account.id and d.state in WAITING_DELIVERY_STATES]
    found.sort(key=lambda pd: (pd[1].due_at, pd[1].id))
    return found


def disconnect_impact(store: PostStore, actor: Actor, account_id: str) -> DisconnectImpact:
    """What disconnecting the account would do to planned posts (nothing is changed)."""
    account = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, account.workspace_id, subject="account")
    return DisconnectImpact(account=account, planned=tuple(_waiting(store, account)))


def disconnect_account(store: PostStore, actor: Actor, account_id: str, *,
                       clock: Callable[[], datetime] = utcnow) -> DisconnectImpact:
    """Forget the account's tokens, mark it revoked and cancel its waiting deliveries; returns what was cancelled."""
    current = store.get_account(account_id)
    check(actor, Action.CONNECT_ACCOUNTS, current.workspace_id, subject="account")
    now = clock()
    cancelled = []
    for post, delivery in _waiting(store, current):
        event = ActivityEvent(action="delivery.cancelled", subject_type="delivery", subject_id=delivery.id, at=now,
                              actor=actor.label, workspace_id=post.workspace_id, from_state=delivery.state.value,
                              to_state="cancelled", reason=f"{current.label} was disconnected.",
                              details={"post_id": post.id})
        store.update_delivery(delivery.cancel(), expected_version=delivery.version, events=[event])
        cancelled.append((post, delivery))
    reason = f"Disconnected on {now:%d %b %Y}; connect it again to post from it."
    saved = store.save_account(replace(current, status=AccountStatus.REVOKED, oauth_token=None, refresh_token=None,
                                       secrets={}, meta={**dict(current.meta or {}), RECONNECT_REASON_KEY: reason}))
    store.record_event(ActivityEvent(action="account.disconnected", subject_type="account", subject_id=saved.id,
                                     at=now, actor=actor.label, workspace_id=saved.workspace_id,
                                     from_state=current.status.value, to_state=saved.status.value,
                                     details={"cancelled_deliveries": len(cancelled)}))
    return DisconnectImpact(account=saved, planned=tuple(cancelled))


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

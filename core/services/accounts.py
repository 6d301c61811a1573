"""Adding and editing accounts by hand (a sandbox practice account, caps and gaps), checked against who acts.

Connecting through a platform (a consent page, an app password) goes through `core.services.connect`; this is the
other way an account is written from a page. Each function checks the actor (`Action.CONNECT_ACCOUNTS` in the
account's workspace, `core.rules.permissions`) before anything is written, then saves and records an activity event.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable

from core.domain import Account, ActivityEvent
from core.domain.errors import DuplicateError, NotFoundError, ValidationError
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.domain.timeutil import utcnow

__all__ = ["add_account", "edit_account"]

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

"""Refreshing access tokens before they expire, so a publish never waits for a refresh.

Each platform's adapter says when its tokens are due (`refresh_due`). An account the platform refuses, or whose
stored tokens cannot be read, is marked "reconnect needed" (core.services.connect.mark_reconnect_needed: its people are
told once); a passing problem is logged and tried again next time.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from core.services.connect import StoredAccessUnreadable, credentials, mark_reconnect_needed, refresh_account
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, Account
from core.domain.errors import OutpostError, ReconnectNeeded
from core.services.notifications import Notifier
from core.platforms.base import PlatformAdapter
from core.store import PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.tokens")


def refresh_tokens(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], *,
                   clock: Callable[[], datetime] = utcnow, actor: str = "system", notifier: Notifier | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> int:
    """Refresh every account's token that is due; returns how many were refreshed.

    One account's failure never stops the others. `should_stop` is asked before each account: a refresh that
    starts is always saved (a refreshed token the platform rotated must not be lost)."""
    now, done = clock(), 0
    for account in store.list_accounts():
        if should_stop():
            break
        try:
            done += refresh_one(store, adapter_for, account, now=now, clock=clock, actor=actor, notifier=notifier)
        except Exception:
            log.exception("token refresh for account %s failed unexpectedly; going on with the others", account.id)
    return done


def refresh_one(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], account: Account, *,
                now: datetime, clock: Callable[[], datetime] = utcnow, actor: str = "system",
                notifier: Notifier | None = None) -> int:
    """Refresh one account's token if its platform says it is due: 1 if refreshed, else 0. Raises only on a bug."""
    try:
        adapter = adapter_for(account.platform)
        if not adapter.refresh_due(credentials(account), now):
            return 0
        refresh_account(store, adapter, account, clock=clock, actor=actor)
        return 1
    except ReconnectNeeded as exc:                 # refused, or its stored tokens cannot be read
        if account.status in PUBLISHABLE_ACCOUNT_STATUSES:
            log.warning("account %s needs reconnecting: %s", account.id,
                        account.secrets_unreadable if isinstance(exc, StoredAccessUnreadable) else exc)
        mark_reconnect_needed(store, account, str(exc), actor=actor, clock=clock, notifier=notifier)
    except OutpostError as exc:                    # PlatformError included: a passing problem
        log.warning("token refresh for account %s failed, will try again: %s", account.id, exc)
    return 0

"""Refreshing access tokens before they expire, so a publish never waits for a refresh.

Each platform's adapter says when its tokens are due (`refresh_due`). An account the platform refuses, or whose
stored tokens cannot be read, is marked "reconnect needed" (core.services.connect.mark_reconnect_needed: its people are
told once); a passing problem is logged and tried again next time. An account marked only because its stored tokens
could not be read (a wrong or missing key) is put back once they can be read again (`lift_unreadable_hold`).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from core.services.account_writes import write_if_unchanged
from core.services.connect import (RECONNECT_REASON_KEY, UNREADABLE_REASON, StoredAccessUnreadable, credentials,
                                   mark_reconnect_needed, reconnect_notices, refresh_account,
                                   settle_reconnect_notices)
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, Account, AccountStatus, ActivityEvent
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
            account = lift_unreadable_hold(store, account, clock=clock, actor=actor) or account
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


READABLE_AGAIN = ("Outpost can read this account's stored access again (the right secret key is back), so it no "
                  "longer needs reconnecting; its waiting posts go out.")


def _held_for_unreadable(account: Account) -> bool:
    return (account.status == AccountStatus.RECONNECT_NEEDED
            and (account.meta or {}).get(RECONNECT_REASON_KEY) == UNREADABLE_REASON)


def lift_unreadable_hold(store: PostStore, account: Account, *, clock: Callable[[], datetime] = utcnow,
                         actor: str = "system") -> Account | None:
    """Put back an account marked "reconnect needed" only because its stored tokens could not be read, now that
    they can (the right key is back): the account as stored, or None when there was nothing to lift. Never an
    account marked for anything else (access revoked or expired at the platform): only a person reconnects that.
    Should the platform refuse the tokens after all, the next refresh or publish marks it again, with that reason."""
    if not _held_for_unreadable(account) or account.secrets_unreadable is not None or not account.oauth_token:
        return None

    def decide(current: Account) -> dict | None:   # as stored now: a person may have reconnected it meanwhile
        if not _held_for_unreadable(current) or current.secrets_unreadable is not None or not current.oauth_token:
            return None
        return {"status": AccountStatus.CONNECTED,
                "meta": {k: v for k, v in dict(current.meta or {}).items() if k != RECONNECT_REASON_KEY}}

    before = reconnect_notices(store, account)     # the "Reconnect ..." the hold sent (settled once it is lifted)
    # Written only if it is still as just read: a person's Disconnect (or reconnect) made meanwhile is never undone.
    # One try: changed since, the next token run looks again.
    current, lifted = write_if_unchanged(store, account.id, decide, compare=("status", "oauth_token", "meta"), tries=1)
    if lifted is None:
        return None
    store.record_event(ActivityEvent(action="account.readable_again", subject_type="account", subject_id=current.id,
                                     at=clock(), actor=actor, workspace_id=current.workspace_id,
                                     from_state=current.status.value, to_state=lifted.status.value,
                                     reason=READABLE_AGAIN))
    settle_reconnect_notices(store, lifted, before, clock())
    log.info("account %s: its stored access can be read again; no reconnect needed", current.id)
    return lifted

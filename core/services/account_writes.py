"""How a background job writes an account back without undoing what a person did meanwhile.

A job reads the account, decides what to change, and writes it only if the fields it decided on are still as read
(`PostStore.update_account_if`, one check-and-write in every store). A person's Disconnect or reconnect that lands
between the read and the write makes the write find nothing to change; the job then reads again and decides again,
a few times. Used by marking "reconnect needed" and saving a refreshed token (`core.services.connect`) and by
lifting an "unreadable" hold (`core.services.tokens`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

from core.domain import Account
from core.store import PostStore

# How often a write that found the account changed since it was read looks again.
CONDITIONAL_TRIES = 3


class Written(NamedTuple):
    """What `write_if_unchanged` did: the account as it was last read (what was decided on, or read again after the
    last refused write), and the account as written, or None when nothing was."""
    read: Account
    stored: Account | None


_NOT_GIVEN = object()


def write_if_unchanged(store: PostStore, account_id: str, decide: Callable[[Account], Mapping[str, Any] | None], *,
                       compare: tuple[str, ...], tries: int = CONDITIONAL_TRIES,
                       acted_with: object = _NOT_GIVEN) -> Written:
    """Read the account, ask `decide` for the changes to make to it (None: nothing to write; it may raise), and
    write them only if the `compare` fields are still as read. On a refused write, read and decide again, up to
    `tries` times, but stop (nothing written) if the access token changed: a person reconnected the account (or
    something refreshed it) and what was decided was about the old access.

    `acted_with`: the access token the job used when it talked to the platform (None included: an account without
    one). The token as first read here must still be it: a person's reconnect that landed while the platform
    answered, before this first read, is noticed too (their new access stands)."""
    seen = acted_with
    for _ in range(tries):
        current = store.get_account(account_id)
        changes = decide(current)
        if changes is None:
            return Written(current, None)
        if seen is not _NOT_GIVEN and current.oauth_token != seen:
            return Written(current, None)
        seen = current.oauth_token
        stored = store.update_account_if(account_id, {name: getattr(current, name) for name in compare}, changes)
        if stored is not None:
            return Written(current, stored)
    return Written(store.get_account(account_id), None)

"""Connected accounts (tokens and secrets) and "Connect account" attempts: the protocol and its in-memory part."""
from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any, Mapping, Protocol

from core.domain import Account, AccountStatus, OAuthState
from core.domain.errors import DuplicateError, NotFoundError
from core.domain.catalog import Platform
from core.store.base import MemoryState
from core.domain.timeutil import to_utc


class AccountStore(Protocol):
    """Connected accounts, one per platform account and workspace, and single-use connect attempts."""

    def save_account(self, account: Account) -> Account: ...
    def get_account(self, account_id: str) -> Account: ...
    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]: ...
    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None: ...
    def update_account_if(self, account_id: str, expected: Mapping[str, Any],
                          changes: Mapping[str, Any]) -> Account | None: ...

    # "Connect account" attempts (single use)
    def add_oauth_state(self, state: OAuthState) -> None: ...
    def consume_oauth_state(self, state_hash: str, now: datetime) -> OAuthState | None: ...
    def get_oauth_state(self, state_hash: str) -> OAuthState | None: ...
    def purge_oauth_states(self, before: datetime) -> int: ...


def same_platform_account(account: Account, other_id: str) -> str:
    """The DuplicateError message for a second row of one platform account in a workspace."""
    return (f"{account.platform.label} account {account.external_id} is already connected in workspace "
            f"{account.workspace_id} (as {other_id}); update that account instead.")


_ACCOUNT_FIELDS = frozenset(f.name for f in fields(Account))
# What a conditional update may not change: which account the row is (and so the one-per-platform-account check).
_IDENTITY_FIELDS = frozenset({"id", "workspace_id", "platform", "external_id"})
SECRET_FIELDS = frozenset({"oauth_token", "refresh_token", "secrets"})


def conditional_changes(expected: Mapping[str, Any], changes: Mapping[str, Any]) -> tuple[dict, dict]:
    """`update_account_if`'s arguments checked (a programming error raises ValueError) and normalised."""
    unknown = (set(expected) | set(changes)) - _ACCOUNT_FIELDS
    if unknown:
        raise ValueError(f"Accounts have no field {', '.join(sorted(unknown))}.")
    fixed = set(changes) & _IDENTITY_FIELDS
    if fixed:
        raise ValueError(f"update_account_if cannot change {', '.join(sorted(fixed))}; use save_account.")
    expected, changes = dict(expected), dict(changes)
    for given in (expected, changes):
        if "status" in given:
            given["status"] = AccountStatus(given["status"])
    if set(changes) & SECRET_FIELDS and "secrets_unreadable" not in changes:
        changes["secrets_unreadable"] = None     # new tokens are written, as when reconnecting
    return expected, changes


def still_matches(stored: Account, expected: Mapping[str, Any]) -> bool:
    """Whether the stored account (tokens as loaded) still has every expected value."""
    return all(getattr(stored, name) == value for name, value in expected.items())


class AccountMemory(MemoryState):
    """`AccountStore` in memory (saving an account checks its workspace: `PeopleMemory` shares the state)."""

    def save_account(self, account: Account) -> Account:
        with self._lock:
            if account.workspace_id is not None:
                self.get_workspace(account.workspace_id)
            if account.external_id is not None and account.workspace_id is not None:
                other = self.find_account(account.workspace_id, account.platform, account.external_id)
                if other is not None and other.id != account.id:
                    raise DuplicateError(same_platform_account(account, other.id))
            if account.connected_at is None:
                account = replace(account, connected_at=self._clock())
            self._accounts[account.id] = account
            return account

    def update_account_if(self, account_id: str, expected: Mapping[str, Any],
                          changes: Mapping[str, Any]) -> Account | None:
        """Apply `changes` to the stored account only if it still has every `expected` value (compared as
        loaded: tokens in plain text); the account as stored then, or None when it no longer matches (nothing
        written). Fields not in `changes` stay as stored, whatever the caller read earlier. NotFoundError
        when there is no such account. One check-and-write: a disconnect or a reconnect made after the caller
        read the account is never undone by it."""
        expected, changes = conditional_changes(expected, changes)
        with self._lock:
            stored = self.get_account(account_id)
            if not still_matches(stored, expected):
                return None
            updated = replace(stored, **changes)
            self._accounts[account_id] = updated
            return updated

    def get_account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise NotFoundError(f"No connected account with id {account_id}.") from None

    def list_accounts(self, *, workspace_id: str | None = None) -> list[Account]:
        with self._lock:
            return sorted((a for a in self._accounts.values() if workspace_id is None or a.workspace_id == workspace_id),
                          key=lambda a: (a.platform.value, a.handle.lower()))

    def find_account(self, workspace_id: str, platform: str, external_id: str) -> Account | None:
        if external_id is None:
            return None
        platform = Platform.parse(platform)
        with self._lock:
            return next((a for a in self._accounts.values() if a.workspace_id == workspace_id
                         and a.platform == platform and a.external_id == external_id), None)

    # ------------------------------------------------------------ connect attempts
    def add_oauth_state(self, state: OAuthState) -> None:
        with self._lock:
            if state.state_hash in self._oauth_states:
                raise DuplicateError("That connect attempt already exists.")
            self.get_user(state.user_id)
            self.get_workspace(state.workspace_id)
            self._oauth_states[state.state_hash] = replace(state, created_at=state.created_at or self._clock())

    def consume_oauth_state(self, state_hash: str, now: datetime) -> OAuthState | None:
        """The attempt, marked used, if it exists and was never used before; None otherwise (replays get None)."""
        now = to_utc(now, "now")
        with self._lock:
            found = self._oauth_states.get(state_hash)
            if found is None or found.used_at is not None:
                return None
            used = replace(found, used_at=now)
            self._oauth_states[state_hash] = used
            return used

    def get_oauth_state(self, state_hash: str) -> OAuthState | None:
        """The attempt as it is now (used or not), without using it; None if there is none."""
        with self._lock:
            return self._oauth_states.get(state_hash)

    def purge_oauth_states(self, before: datetime) -> int:
        """Delete the attempts that expired, or were used, before `before`; returns how many."""
        before = to_utc(before, "before")
        with self._lock:
            old = [h for h, s in self._oauth_states.items()
                   if s.expires_at < before or (s.used_at is not None and s.used_at < before)]
            for h in old:
                del self._oauth_states[h]
            return len(old)

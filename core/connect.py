"""Connecting social accounts (OAuth 2 authorization code), refreshing their tokens, and their health.

The flow: ``start`` records a single-use, expiring state bound to the person and
the workspace (with a PKCE verifier where the platform takes one) and returns the
platform's consent URL; the platform sends the person back to the dashboard's
``/connect`` page with ``code`` and ``state``; ``finish`` checks the state
(unknown, replayed, expired, or someone else's are refused), exchanges the code,
checks the granted scopes, reads the profile and creates or updates the account.
Reconnecting keeps the stored refresh token when the platform sends no new one.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from core.domain import Account, AccountStatus, ActivityEvent, OAuthState
from core.errors import Problem, ReconnectNeeded, ValidationError
from core.platforms.base import Credentials, PlatformAdapter, Profile, TokenSet, pkce_pair
from core.platforms.catalog import Platform
from core.store import PostStore
from core.timeutil import utcnow

STATE_TTL = timedelta(minutes=10)
EXPIRING_SOON = timedelta(days=7)
# Refresh access tokens this long before they expire.
REFRESH_AHEAD = timedelta(minutes=30)


class ConnectError(ValidationError):
    """A connect attempt was refused; the message says why in plain words."""


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


class ConnectService:
    def __init__(self, store: PostStore, adapter_for: Callable[[Platform], PlatformAdapter], *,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.adapter_for = adapter_for
        self.clock = clock

    def start(self, *, user_id: str, workspace_id: str, platform: Platform | str,
              account_id: str | None = None) -> str:
        """The consent URL to send the person to."""
        platform = Platform.parse(platform)
        membership = self.store.get_membership(user_id, workspace_id)
        if membership is None or not membership.role.can_connect_accounts:
            raise ConnectError(Problem("not_allowed", "Only a workspace owner can connect accounts.", field="platform"))
        adapter = self.adapter_for(platform)
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair() if adapter.oauth.pkce else (None, None)
        self.store.add_oauth_state(OAuthState(state_hash=_hash(state), user_id=user_id, workspace_id=workspace_id,
                                              platform=platform, expires_at=self.clock() + STATE_TTL,
                                              code_verifier=verifier, account_id=account_id))
        return adapter.authorization_url(state=state, code_challenge=challenge)

    def finish(self, *, user_id: str, state: str | None, code: str | None = None, error: str | None = None,
               error_description: str | None = None) -> Account:
        """Complete a connect attempt from the callback's query parameters."""
        now = self.clock()
        if not state:
            raise ConnectError(Problem("state_missing", "This link is missing its security check. Start again from Accounts."))
        attempt = self.store.consume_oauth_state(_hash(state), now)
        if attempt is None:
            raise ConnectError(Problem("state_unknown", "This connect link is not valid or was already used. "
                                       "Start again from Accounts."))
        if attempt.expires_at < now:
            raise ConnectError(Problem("state_expired", "This connect link expired (they last 10 minutes). "
                                       "Start again from Accounts."))
        if attempt.user_id != user_id:
            raise ConnectError(Problem("state_other_user", "This connect link was started by someone else. "
                                       "Start again from Accounts."))
        platform = attempt.platform
        if error:
            reason = "you declined access" if error == "access_denied" else (error_description or error)
            raise ConnectError(Problem("consent_refused", f"{platform.label} was not connected: {reason}."))
        if not code:
            raise ConnectError(Problem("code_missing", f"{platform.label} did not send an authorization code."))
        adapter = self.adapter_for(platform)
        try:
            token = adapter.exchange_code(code, code_verifier=attempt.code_verifier)
        except ReconnectNeeded as exc:
            raise ConnectError(Problem("exchange_failed", f"{platform.label} did not accept the connection: {exc}")) from None
        missing = adapter.missing_scopes(token)
        if missing:
            raise ConnectError(Problem("scopes_missing", f"{platform.label} was connected without the permissions "
                                       f"Outpost needs ({', '.join(missing)}). Connect again and allow them all."))
        profile = adapter.fetch_profile(token)
        return save_connected_account(self.store, user_id=user_id, workspace_id=attempt.workspace_id,
                                      platform=platform, token=token, profile=profile, now=now)


def save_connected_account(store: PostStore, *, user_id: str, workspace_id: str, platform: Platform, token: TokenSet,
                           profile: Profile, now: datetime, meta: dict | None = None,
                           details: dict | None = None) -> Account:
    """Create the account, or update the workspace's existing one for the same platform account (reconnecting),
    and record it. The one rule for every way of connecting (a consent page, an app password): a refresh token
    the platform did not send again is kept, secret profile extras go to the encrypted secrets."""
    existing = store.find_account(workspace_id, platform.value, profile.external_id)
    refresh_token = token.refresh_token or (existing.refresh_token if existing else None)
    fields = dict(oauth_token=token.access_token, refresh_token=refresh_token, token_expires_at=token.expires_at,
                  refresh_expires_at=token.refresh_expires_at or (existing.refresh_expires_at if existing else None),
                  scopes=token.scopes, status=AccountStatus.CONNECTED, display_name=profile.display_name or profile.handle,
                  handle=profile.handle, meta={**(existing.meta if existing else {}), **_public_meta(profile.meta),
                                               **(meta or {}), "token_issued_at": (token.issued_at or now).isoformat()},
                  secrets={**(existing.secrets if existing else {}), **secret_meta(profile.meta)})
    if existing is not None:
        account = replace(existing, **fields)
        action = "account.reconnected"
    else:
        account = Account(platform=platform, external_id=profile.external_id, workspace_id=workspace_id,
                          connected_at=now, **fields)
        action = "account.connected"
    account = store.save_account(account)
    store.record_event(ActivityEvent(action=action, subject_type="account", subject_id=account.id, at=now,
                                     actor=f"user:{user_id}", workspace_id=workspace_id,
                                     to_state=AccountStatus.CONNECTED.value,
                                     details={"platform": platform.value, "handle": account.handle, **(details or {})}))
    return account


def _is_secret(key: str) -> bool:
    return "token" in key.lower() or "secret" in key.lower()


def _public_meta(meta) -> dict:
    """Profile extras worth keeping, minus anything secret (tokens travel in their own encrypted fields)."""
    return {k: v for k, v in dict(meta or {}).items() if not _is_secret(k)}


def secret_meta(meta) -> dict[str, str]:
    """The secret profile extras (a Facebook Page's own token), kept in the account's encrypted secrets."""
    return {k: str(v) for k, v in dict(meta or {}).items() if _is_secret(k) and v}


def credentials(account: Account) -> Credentials:
    issued = account.meta.get("token_issued_at") if account.meta else None
    return Credentials(access_token=account.oauth_token or "", external_id=account.external_id,
                       refresh_token=account.refresh_token, expires_at=account.token_expires_at,
                       refresh_expires_at=account.refresh_expires_at,
                       issued_at=datetime.fromisoformat(issued) if isinstance(issued, str) else None,
                       account_id=account.id, meta={"username": account.handle.lstrip("@"), **dict(account.meta or {})},
                       secrets=dict(account.secrets or {}))


def refresh_account(store: PostStore, adapter: PlatformAdapter, account: Account, *,
                    clock: Callable[[], datetime] = utcnow, actor: str = "system") -> Account:
    """Refresh the account's token once. On failure the account is marked as needing reconnection and re-raised."""
    now = clock()
    try:
        token: TokenSet = adapter.refresh(credentials(account))
    except ReconnectNeeded as exc:
        failed = store.save_account(replace(account, status=AccountStatus.RECONNECT_NEEDED))
        store.record_event(ActivityEvent(action="account.refresh_failed", subject_type="account", subject_id=account.id,
                                         at=now, actor=actor, workspace_id=account.workspace_id,
                                         from_state=account.status.value, to_state=failed.status.value, reason=str(exc)))
        raise
    refreshed = replace(account, oauth_token=token.access_token,
                        refresh_token=token.refresh_token or account.refresh_token,
                        token_expires_at=token.expires_at or account.token_expires_at,
                        refresh_expires_at=token.refresh_expires_at or account.refresh_expires_at,
                        status=AccountStatus.CONNECTED,
                        meta={**(account.meta or {}), "token_issued_at": (token.issued_at or now).isoformat()})
    saved = store.save_account(refreshed)
    store.record_event(ActivityEvent(action="account.token_refreshed", subject_type="account", subject_id=account.id,
                                     at=now, actor=actor, workspace_id=account.workspace_id,
                                     details={"expires_at": saved.token_expires_at.isoformat()
                                              if saved.token_expires_at else None}))
    return saved


@dataclass(frozen=True)
class Health:
    status: AccountStatus
    message: str
    days_left: int | None = None


def account_health(account: Account, now: datetime) -> Health:
    """What the Accounts page says about a connection."""
    if account.status in (AccountStatus.REVOKED, AccountStatus.RECONNECT_NEEDED):
        return Health(account.status, "Reconnect needed: Outpost can no longer post for this account.")
    if not account.oauth_token:
        # A practice account added by hand (sandbox): it has never been through the platform's consent page.
        return Health(AccountStatus.RECONNECT_NEEDED,
                      f"Not connected (practice account): use Connect {account.platform.label} to publish.")
    # An access token that can be refreshed is fine; what matters is the last date we can still refresh.
    horizon = account.refresh_expires_at if account.refresh_token else account.token_expires_at
    if horizon is None:
        return Health(AccountStatus.CONNECTED, "Connected.")
    left = horizon - now
    if left <= timedelta(0):
        if account.refresh_token and account.refresh_expires_at is None:
            return Health(AccountStatus.CONNECTED, "Connected.")
        return Health(AccountStatus.EXPIRED, "Expired: connect the account again.", 0)
    days = left.days
    if left <= EXPIRING_SOON:
        return Health(AccountStatus.EXPIRING, f"Expiring in {days} day{'s' if days != 1 else ''}: reconnect soon.", days)
    return Health(AccountStatus.CONNECTED, f"Connected ({days} days before it must be reconnected).", days)


def needs_refresh(account: Account, now: datetime, ahead: timedelta = REFRESH_AHEAD) -> bool:
    """Whether to refresh proactively now (the runner's token job asks this)."""
    if account.status != AccountStatus.CONNECTED and account.status != AccountStatus.EXPIRING:
        return False
    return account.token_expires_at is not None and account.token_expires_at - now <= ahead

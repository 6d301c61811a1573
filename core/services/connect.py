"""Connecting social accounts (OAuth 2 authorization code), refreshing their tokens, and their health.

The flow: ``start`` records a single-use, expiring state bound to the person and
the workspace (with a PKCE verifier where the platform takes one) and returns the
platform's consent URL; the platform sends the person back to the dashboard's
``/connect`` page with ``code`` and ``state``; ``finish`` checks the state
(unknown, replayed, expired, or someone else's are refused), checks again that the
person may still connect accounts in that workspace (``core.rules.permissions``), exchanges
the code, checks the granted scopes, reads the profile and creates or updates the account.
The state is stored hashed together with the person's id, so someone else finishing with
it finds nothing and cannot use up the owner's attempt.
Reconnecting keeps the stored refresh token when the platform sends no new one.

An account whose stored tokens cannot be read (a lost or rotated key, a damaged row) loads without
them (``Account.secrets_unreadable``); ``credentials`` refuses it with ``StoredAccessUnreadable``, a
``ReconnectNeeded``. ``mark_reconnect_needed`` is the one way an account is put into "reconnect needed":
status, a reason, an activity event and one notification.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable, Iterable, NamedTuple
from urllib.parse import parse_qs, urlsplit

from core.services import notifications
from core.services.account_writes import write_if_unchanged
from core.domain import (PUBLISHABLE_ACCOUNT_STATUSES, Account, AccountStatus, ActivityEvent, Notification, OAuthState,
                         clean_text)
from core.domain.errors import NotFoundError, PermissionDenied, Problem, ReconnectNeeded, ValidationError
from core.services.notifications import InAppNotifier, Notifier
from core.rules.permissions import Action, Actor, check
from core.platforms.base import Credentials, PlatformAdapter, Profile, TokenSet, pkce_pair
from core.domain.catalog import Platform
from core.infra.secrets import redact
from core.store import PostStore
from core.domain.timeutil import utcnow

STATE_TTL = timedelta(minutes=10)
EXPIRING_SOON = timedelta(days=7)
# Refresh access tokens this long before they expire.
REFRESH_AHEAD = timedelta(minutes=30)
# What people are told about an account whose stored tokens cannot be decrypted.
UNREADABLE_REASON = "Outpost can no longer read this account's stored access: reconnect it."
# Where mark_reconnect_needed keeps its reason (in the account's meta, which is never secret).
RECONNECT_REASON_KEY = "reconnect_reason"


class ConnectError(ValidationError):
    """A connect attempt was refused; the message says why in plain words."""


class StoredAccessUnreadable(ReconnectNeeded):
    """The account's stored tokens cannot be decrypted (a lost or rotated key, a damaged row): no platform was
    called, and only reconnecting the account (or restoring the key) helps."""


def _hash(state: str, user_id: str) -> str:
    """The stored key of a connect attempt: bound to the person, so only they can find (and use up) it."""
    return hashlib.sha256(f"{user_id}\n{state}".encode("utf-8")).hexdigest()


def acting_person(store: PostStore, actor: Actor | None, user_id: str | None) -> Actor:
    """Who connects an account: a person (the platform asks them to allow access, and the attempt is bound to
    them). Given only `user_id`, their roles are read from the store now."""
    if actor is None:
        if not user_id:
            raise TypeError("Say who connects the account: actor=Actor.for_user(...) (or user_id=...).")
        return Actor.of(store, user_id)
    if not isinstance(actor, Actor):
        raise TypeError("actor takes an Actor: Actor.for_user(user_id, memberships) for a person.")
    if actor.is_system or not actor.user_id:
        raise PermissionDenied(f"Connecting an account needs a signed-in person, who allows access on the "
                               f"platform; {actor.label} cannot.", action=Action.CONNECT_ACCOUNTS,
                               code="person_needed")
    if user_id is not None and user_id != actor.user_id:
        raise ValueError("actor and user_id name different people.")
    return actor


class ConnectService:
    def __init__(self, store: PostStore, adapter_for: Callable[[Platform], PlatformAdapter], *,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.adapter_for = adapter_for
        self.clock = clock
        self.reconnected = False       # what the last `finish` did: updated an account the workspace had

    def start(self, *, workspace_id: str, platform: Platform | str, actor: Actor | None = None,
              user_id: str | None = None, account_id: str | None = None) -> str:
        """The consent URL to send the person to; only a role that may connect accounts gets one.

        `account_id`: reconnecting that account of the workspace (Accounts -> Reconnect): the connection then
        updates it, and signing in as another platform account is refused (`save_connection`)."""
        platform = Platform.parse(platform)
        actor = acting_person(self.store, actor, user_id)
        check(actor, Action.CONNECT_ACCOUNTS, workspace_id, subject="workspace")
        if account_id is not None:
            _reconnect_target(self.store, account_id, workspace_id=workspace_id, platform=platform)
        adapter = self.adapter_for(platform)
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair() if adapter.oauth.pkce else (None, None)
        self.store.add_oauth_state(OAuthState(state_hash=_hash(state, actor.user_id), user_id=actor.user_id,
                                              workspace_id=workspace_id, platform=platform,
                                              expires_at=self.clock() + STATE_TTL, code_verifier=verifier,
                                              account_id=account_id))
        return adapter.authorization_url(state=state, code_challenge=challenge)

    def finish(self, *, state: str | None, code: str | None = None, error: str | None = None,
               error_description: str | None = None, actor: Actor | None = None,
               user_id: str | None = None) -> Account:
        """Complete a connect attempt from the callback's query parameters.

        `actor` is the person as they are now (the role is checked again here: it may have changed since
        `start`); given only `user_id`, their roles are read from the store now.
        """
        now = self.clock()
        actor = acting_person(self.store, actor, user_id)
        user_id = actor.user_id
        if not state:
            raise ConnectError(Problem("state_missing", "This link is missing its security check. Start again from Accounts."))
        attempt = self.store.consume_oauth_state(_hash(state, user_id), now)
        if attempt is None:  # someone else's state is not found either (and stays unused for its owner)
            raise ConnectError(Problem("state_unknown", "This connect link is not valid or was already used "
                                       "(or it was started by someone else). Start again from Accounts."))
        if attempt.expires_at < now:
            raise ConnectError(Problem("state_expired", "This connect link expired (they last 10 minutes). "
                                       "Start again from Accounts."))
        if attempt.user_id != user_id:
            raise ConnectError(Problem("state_other_user", "This connect link was started by someone else. "
                                       "Start again from Accounts."))
        # The role may have changed since the link was made: an owner demoted meanwhile connects nothing.
        check(actor, Action.CONNECT_ACCOUNTS, attempt.workspace_id, subject="workspace")
        platform = attempt.platform
        if error:
            raise ConnectError(Problem("consent_refused", _refusal(platform, error, error_description)))
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
        account, self.reconnected = save_connection(self.store, user_id=user_id, workspace_id=attempt.workspace_id,
                                                    platform=platform, token=token, profile=profile, now=now,
                                                    account_id=attempt.account_id)
        return account


# The error codes platforms send back when the person pressed "Deny" / "Cancel" on the consent page (OAuth 2's
# access_denied; LinkedIn's own two).
DECLINED = frozenset({"access_denied", "user_cancelled_authorize", "user_cancelled_login", "consent_required"})


def _refusal(platform: Platform, error: str, description: str | None) -> str:
    """Why nothing was connected, in Outpost's words (a platform's own wording is quoted once, never repeated)."""
    again = f"Use Connect {platform.label} on Accounts to try again."
    if error in DECLINED:
        return f"{platform.label} was not connected: you chose not to allow access. {again}"
    said = " ".join(str(description or error).split()).rstrip(". ")
    return f"{platform.label} did not connect the account (it said: “{said}”). {again}"


@dataclass(frozen=True)
class AttemptNow:
    """Where a connect attempt stands now, as the page that started it asks on every run."""

    open: bool                         # its consent link still works
    platform: Platform | None = None
    used: bool = False                 # finished (or declined) in some tab: the link would say "already used"
    expired: bool = False
    account: Account | None = None     # what it connected, once used (None when access was declined)


def attempt_now(store: PostStore, consent_url: str, *, actor: Actor,
                clock: Callable[[], datetime] = utcnow) -> AttemptNow:
    """Whether the consent link `start` returned is still open, without using it. Only the person who started
    it finds it (the stored key is bound to them): for anyone else it is simply not open."""
    actor = acting_person(store, actor, None)
    state = (parse_qs(urlsplit(consent_url or "").query).get("state") or [""])[0]
    found = store.get_oauth_state(_hash(state, actor.user_id)) if state else None
    if found is None:
        return AttemptNow(open=False)
    check(actor, Action.VIEW, found.workspace_id, subject="workspace")
    if found.used_at is None:
        if found.expires_at < clock():
            return AttemptNow(open=False, platform=found.platform, expired=True)
        return AttemptNow(open=True, platform=found.platform)
    return AttemptNow(open=False, platform=found.platform, used=True, account=_connected_by(store, found))


def _connected_by(store: PostStore, attempt: OAuthState) -> Account | None:
    """The account a used attempt connected: the person's connection on that platform recorded when it was used."""
    for event in store.list_events(workspace_id=attempt.workspace_id, limit=200):
        if event.at < attempt.used_at:
            break   # newest first: nothing older can be this attempt's
        if event.action in ("account.connected", "account.reconnected") \
                and event.actor == f"user:{attempt.user_id}" \
                and (event.details or {}).get("platform") == attempt.platform.value:
            try:
                return store.get_account(event.subject_id)
            except NotFoundError:
                return None
    return None


def at_handle(handle: str) -> str:
    """A handle as people write it: "@acme" (a name with spaces, such as a LinkedIn page's, stays as it is)."""
    handle = (handle or "").strip()
    return handle if handle.startswith("@") or " " in handle else f"@{handle}"


def same_handle(a: str, b: str) -> bool:
    """Whether two handles name the same account on one platform ("@Acme" and "acme" do)."""
    return (a or "").strip().lstrip("@").casefold() == (b or "").strip().lstrip("@").casefold()


def handle_taken(store: PostStore, workspace_id: str, platform: Platform | str, handle: str, *,
                 but: str | None = None, accounts: Iterable[Account] | None = None) -> Account | None:
    """The workspace's account with this handle on this platform (other than `but`), if there is one: a handle is
    in a workspace once per platform, however the account was added. `accounts`: the workspace's accounts, when
    the caller has just listed them (else they are listed here)."""
    platform = Platform.parse(platform)
    if accounts is None:
        accounts = store.list_accounts(workspace_id=workspace_id)
    return next((a for a in accounts if a.platform == platform and a.id != but and same_handle(a.handle, handle)),
                None)


def _reconnect_target(store: PostStore, account_id: str, *, workspace_id: str, platform: Platform) -> Account:
    """The account a reconnect is for, if it is still this workspace's account on this platform."""
    try:
        target = store.get_account(account_id)
    except NotFoundError:
        target = None
    if target is None or target.workspace_id != workspace_id or target.platform != platform:
        raise ConnectError(Problem("reconnect_gone", f"The {platform.label} account you were reconnecting is no "
                                   "longer in this workspace, so nothing was changed. Start again from Accounts."))
    return target


def _account_to_update(store: PostStore, *, workspace_id: str, platform: Platform, profile: Profile, handle: str,
                       account_id: str | None) -> Account | None:
    """Which stored account a connection updates (None: a new one), or ConnectError when it must not be stored.

    Reconnecting account A (`account_id`) updates A, adopting the platform's id when A has none yet (a practice
    account); signing in as another platform account than A's is refused. Otherwise: the workspace's account with
    the same platform id, else its account with the same handle and no platform id yet; the same handle with
    another platform id is refused (one handle per platform in a workspace)."""
    found = store.find_account(workspace_id, platform.value, profile.external_id)
    if account_id is not None:
        target = _reconnect_target(store, account_id, workspace_id=workspace_id, platform=platform)
        other_id = target.external_id is not None and target.external_id != profile.external_id
        if other_id or (found is not None and found.id != target.id):
            raise ConnectError(Problem("other_account", f"You signed in as {at_handle(handle)} on {platform.label}; "
                                       f"sign in as {at_handle(target.handle)} to reconnect it. Nothing was changed."))
        return target
    if found is not None:
        return found
    same = handle_taken(store, workspace_id, platform, handle)
    if same is None:
        return None
    if same.external_id is None:
        return same
    raise ConnectError(Problem("handle_taken", f"{at_handle(same.handle)} on {platform.label} is already in this "
                               "workspace as another account. Reconnect that one from Accounts, or disconnect it "
                               "first. Nothing was changed."))


def save_connection(store: PostStore, *, user_id: str, workspace_id: str, platform: Platform, token: TokenSet,
                    profile: Profile, now: datetime, meta: dict | None = None,
                    details: dict | None = None, account_id: str | None = None) -> "Connection":
    """Create the account, or update the workspace's existing one for the same platform account (reconnecting),
    and record it. The one rule for every way of connecting (a consent page, an app password): a refresh token
    the platform did not send again is kept, secret profile extras go to the encrypted secrets. Which account is
    updated, and what is refused, is `_account_to_update`'s: `account_id` is the account being reconnected."""
    handle, display_name = profile_names(profile)
    existing = _account_to_update(store, workspace_id=workspace_id, platform=platform, profile=profile,
                                  handle=handle, account_id=account_id)
    refresh_token = token.refresh_token or (existing.refresh_token if existing else None)
    fields = dict(oauth_token=token.access_token, refresh_token=refresh_token, token_expires_at=token.expires_at,
                  refresh_expires_at=token.refresh_expires_at or (existing.refresh_expires_at if existing else None),
                  scopes=token.scopes, status=AccountStatus.CONNECTED, display_name=display_name,
                  handle=handle, meta={**_without_reason(existing.meta if existing else {}),
                                               **_public_meta(profile.meta), **(meta or {}),
                                               "token_issued_at": (token.issued_at or now).isoformat()},
                  secrets={**(existing.secrets if existing else {}), **secret_meta(profile.meta)},
                  secrets_unreadable=None)   # new tokens replace any the store could not read
    if existing is not None:
        account = replace(existing, external_id=profile.external_id, connected_at=existing.connected_at or now,
                          **fields)
        action = "account.reconnected"
    else:
        account = Account(platform=platform, external_id=profile.external_id, workspace_id=workspace_id,
                          connected_at=now, **fields)
        action = "account.connected"
    before = reconnect_notices(store, existing) if existing is not None else []
    account = store.save_account(account)
    store.record_event(ActivityEvent(action=action, subject_type="account", subject_id=account.id, at=now,
                                     actor=f"user:{user_id}", workspace_id=workspace_id,
                                     to_state=AccountStatus.CONNECTED.value,
                                     details={"platform": platform.value, "handle": account.handle, **(details or {})}))
    if existing is not None:
        settle_reconnect_notices(store, account, before, now)
    # A reconnect: an account the workspace had connected before (a practice account added by hand, never
    # connected, is connected for the first time).
    return Connection(account, reconnected=existing is not None and existing.connected_at is not None)


class Connection(NamedTuple):
    """What `save_connection` did: the account as stored, and whether it was connected before (a reconnect)."""
    account: Account
    reconnected: bool


def save_connected_account(store: PostStore, **kwargs) -> Account:
    """`save_connection`'s account (for callers that do not say whether it was a reconnect)."""
    return save_connection(store, **kwargs).account


def settle_reconnect_notices(store: PostStore, account: Account, before: list[Notification], at: datetime) -> None:
    """Mark read the "Reconnect ..." notices that `account` (just written with new access) answers. While the
    account is still as written, all of its unread ones (also one a runner sent, refused the old access, between
    `before` was listed and the write); once someone marked it again (refused the new access too), only `before`:
    the new notice asks again and stays unread."""
    now_stored = store.get_account(account.id)
    still = (now_stored.status in PUBLISHABLE_ACCOUNT_STATUSES and now_stored.oauth_token == account.oauth_token)
    for note in reconnect_notices(store, account) if still else before:
        store.mark_notification_read(note.id, at)


def reconnect_notices(store: PostStore, account: Account) -> list[Notification]:
    """The workspace's unread "Reconnect <account>" notifications."""
    return [n for n in store.list_notifications(workspace_id=account.workspace_id or "", unread_only=True,
                                                limit=100_000)
            if n.kind == notifications.RECONNECT_NEEDED and n.subject_id == account.id]


def profile_names(profile: Profile) -> tuple[str, str]:
    """The handle and display name to keep for a connected account, cleaned of characters Outpost refuses (a
    control character, a lone surrogate, NUL): the platform chose them, so connecting must not fail on them."""
    handle = (clean_text(profile.handle) or "").strip() or str(profile.external_id)
    return handle, clean_text(profile.display_name) or handle


def _is_secret(key: str) -> bool:
    return "token" in key.lower() or "secret" in key.lower()


def _public_meta(meta) -> dict:
    """Profile extras worth keeping, minus anything secret (tokens travel in their own encrypted fields)."""
    return {k: v for k, v in dict(meta or {}).items() if not _is_secret(k)}


def secret_meta(meta) -> dict[str, str]:
    """The secret profile extras (a Facebook Page's own token), kept in the account's encrypted secrets."""
    return {k: str(v) for k, v in dict(meta or {}).items() if _is_secret(k) and v}


def _without_reason(meta) -> dict:
    return {k: v for k, v in dict(meta or {}).items() if k != RECONNECT_REASON_KEY}


def credentials(account: Account) -> Credentials:
    """What an adapter needs to act for `account`; StoredAccessUnreadable when its stored tokens could not be read."""
    if account.secrets_unreadable is not None:
        raise StoredAccessUnreadable(UNREADABLE_REASON, platform=account.platform.value, code="secrets_unreadable",
                                     account_id=account.id)
    issued = account.meta.get("token_issued_at") if account.meta else None
    return Credentials(access_token=account.oauth_token or "", external_id=account.external_id,
                       refresh_token=account.refresh_token, expires_at=account.token_expires_at,
                       refresh_expires_at=account.refresh_expires_at,
                       issued_at=datetime.fromisoformat(issued) if isinstance(issued, str) else None,
                       account_id=account.id, meta={"username": account.handle.lstrip("@"),
                                                    **_without_reason(account.meta)},
                       secrets=dict(account.secrets or {}))


def mark_reconnect_needed(store: PostStore, account: Account, reason: str, *, actor: str = "system",
                          clock: Callable[[], datetime] = utcnow, notifier: Notifier | None = None) -> Account:
    """Put the account into "reconnect needed" with `reason` in plain words, record it, and tell its workspace.

    Once: an account that already waits for a person (reconnect needed, or revoked, as the store has it now) is
    returned unchanged, with no new event or notification, however often this is called for it. The reason is
    kept in the account's meta (the Accounts page shows it) and is redacted of the account's tokens and anything
    token-like. Returns the account as stored.
    """
    def decide(current: Account) -> dict | None:
        nonlocal reason           # redacted as decided, for the event and the notification
        if current.status not in PUBLISHABLE_ACCOUNT_STATUSES:
            return None           # already waits for a person
        known = [t for a in (account, current)
                 for t in (a.oauth_token, a.refresh_token, *dict(a.secrets or {}).values()) if t]
        reason = redact(" ".join(str(reason or "").split()), known) or "The platform no longer accepts Outpost's access."
        if reason[-1] not in ".!?":
            reason += "."
        return {"status": AccountStatus.RECONNECT_NEEDED,
                "meta": {**dict(current.meta or {}), RECONNECT_REASON_KEY: reason}}

    # Written only if the account is still as just read and still has the access the refusal was about: a
    # Disconnect made meanwhile is never undone, and one reconnected (or refreshed) meanwhile, even while the
    # platform answered, is left alone.
    current, marked = write_if_unchanged(store, account.id, decide, compare=("status", "oauth_token", "meta"),
                                         acted_with=account.oauth_token)
    if marked is None:
        return current
    now = clock()
    store.record_event(ActivityEvent(action="account.reconnect_needed", subject_type="account", subject_id=current.id,
                                     at=now, actor=actor, workspace_id=current.workspace_id,
                                     from_state=current.status.value, to_state=marked.status.value, reason=reason))
    (notifier or InAppNotifier(store)).notify(notifications.reconnect_needed(current, reason, at=now))
    return marked


def refresh_account(store: PostStore, adapter: PlatformAdapter, account: Account, *,
                    clock: Callable[[], datetime] = utcnow, actor: str = "system") -> Account:
    """Refresh the account's token once and save it. A failure is raised as it is: on ReconnectNeeded (including
    StoredAccessUnreadable) the caller marks the account with `mark_reconnect_needed`, which tells people once.
    Saved with a conditional write: disconnected meanwhile raises ReconnectNeeded (nothing kept); reconnected by a
    person meanwhile returns their account as stored (their access stands)."""
    now = clock()
    token: TokenSet = adapter.refresh(credentials(account))
    refreshed = replace(account, oauth_token=token.access_token,
                        refresh_token=token.refresh_token or account.refresh_token,
                        token_expires_at=token.expires_at or account.token_expires_at,
                        refresh_expires_at=token.refresh_expires_at or account.refresh_expires_at,
                        status=AccountStatus.CONNECTED,
                        meta={**_without_reason(account.meta), "token_issued_at": (token.issued_at or now).isoformat()})
    # A person may have disconnected (or reconnected) the account while the platform answered: never bring it back
    # with new tokens. The write is conditional on the account being as read just before it.
    changes = {name: getattr(refreshed, name) for name in ("oauth_token", "refresh_token", "token_expires_at",
                                                           "refresh_expires_at", "status", "meta")}

    def decide(latest: Account) -> dict:
        if latest.status == AccountStatus.REVOKED or (account.oauth_token and not latest.oauth_token):
            raise ReconnectNeeded(f"{account.label} was disconnected while its access was being renewed; the new "
                                  f"access was not kept. Connect it again to post from it.")
        return changes

    latest, saved = write_if_unchanged(store, account.id, decide, compare=("status", "oauth_token"),
                                       acted_with=account.oauth_token)
    if saved is None:
        return latest            # a person reconnected it meanwhile: their access stands
    store.record_event(ActivityEvent(action="account.token_refreshed", subject_type="account", subject_id=account.id,
                                     at=now, actor=actor, workspace_id=account.workspace_id,
                                     details={"expires_at": saved.token_expires_at.isoformat()
                                              if saved.token_expires_at else None}))
    return saved


@dataclass(frozen=True)
class Health:
    """An account's connection as people are told it (`account_health`)."""
    status: AccountStatus
    message: str
    days_left: int | None = None
    practice: bool = False        # never connected through the platform: a practice account added by hand

    @property
    def can_post(self) -> bool:
        """Whether the runner can publish for the account now; if not, its posts wait for a person (`message`)."""
        return self.status not in (AccountStatus.RECONNECT_NEEDED, AccountStatus.REVOKED, AccountStatus.EXPIRED)

    @property
    def short(self) -> str:
        """The health in a few words, for a table column: "Connected", "Expiring in 5 days", "Not connected"..."""
        if self.status == AccountStatus.EXPIRING:
            return f"Expiring in {self.days_left} day{'s' if self.days_left != 1 else ''}"
        if self.status == AccountStatus.EXPIRED:
            return "Expired"
        if self.status == AccountStatus.REVOKED:
            return "Disconnected"
        if self.status == AccountStatus.RECONNECT_NEEDED:
            return "Not connected" if self.practice else "Reconnect needed"
        return "Connected"


def account_health(account: Account, now: datetime) -> Health:
    """What the Accounts page says about a connection."""
    if account.secrets_unreadable is not None:
        return Health(AccountStatus.RECONNECT_NEEDED, UNREADABLE_REASON)
    if account.status in (AccountStatus.REVOKED, AccountStatus.RECONNECT_NEEDED):
        why = (account.meta or {}).get(RECONNECT_REASON_KEY)
        return Health(account.status, f"Reconnect needed: {why}" if why else
                      "Reconnect needed: Outpost can no longer post for this account.")
    if not account.oauth_token:
        # A practice account added by hand (sandbox): it has never been through the platform's consent page.
        return Health(AccountStatus.RECONNECT_NEEDED,
                      f"Not connected (practice account): use Connect {account.platform.label} to publish.",
                      practice=True)
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

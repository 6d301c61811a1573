"""Connecting accounts that sign in with an app password instead of a consent page (Bluesky).

The person gives their handle and an app password they created on the platform; the adapter's
`login` turns them into a session (an access token and a refresh token), `fetch_profile` says
who the account is, and the account is created or updated exactly as an OAuth connect does it
(`core.services.connect.save_connection`, shared with the consent-page flow): same fields, same
activity events, the tokens in the account's encrypted token fields. The password itself is never stored, logged or put in an
error: once the session exists, the refresh token is all Outpost keeps.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from core.services.connect import ConnectError, acting_person, save_connection
from core.domain import Account
from core.domain.errors import PlatformError, Problem, ReconnectNeeded, RetryLater
from core.rules.permissions import Action, Actor, check
from core.platforms.base import PlatformAdapter
from core.domain.catalog import Platform
from core.platforms.registry import adapter_class, supported_platforms
from core.store import PostStore
from core.domain.timeutil import utcnow

APP_PASSWORD = "app_password"

# Where each platform lets people make an app password, in the words of its own settings.
HINTS = {
    Platform.BLUESKY: ("Bluesky connects with an app password, not your main password. In Bluesky open Settings > "
                       "Privacy and security > App passwords, press Add App Password, name it \"Outpost\" and paste "
                       "the password it shows (it looks like xxxx-xxxx-xxxx-xxxx). You can revoke it there at any "
                       "time, and Outpost never stores it: only the session it opens."),
}
# The same in sandbox mode, where the emulator stands in for the platform.
SANDBOX_HINTS = {
    Platform.BLUESKY: "Sandbox mode: any handle (such as yourname.bsky.social) works with the app password "
                      "`sandbox-app-password`.",
}
# What each refusal is called for programs (Problem.code), by the platform's error name.
_CODES = {"AuthenticationRequired": "wrong_password", "AuthFactorTokenRequired": "main_password",
          "main_password": "main_password", "AccountTakedown": "account_suspended",
          "AccountDeactivated": "account_deactivated"}


def password_platforms() -> tuple[Platform, ...]:
    """The supported platforms that connect with an app password (the rest use a consent page)."""
    return tuple(p for p in supported_platforms() if _with_password(p))


def _with_password(platform: Platform) -> bool:
    try:
        return getattr(adapter_class(platform), "connect_with", "oauth") == APP_PASSWORD
    except Exception:  # noqa: BLE001 - a broken adapter says so when its own Connect button is pressed
        return False


class PasswordConnectService:
    def __init__(self, store: PostStore, adapter_for: Callable[[Platform], PlatformAdapter], *,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.adapter_for = adapter_for
        self.clock = clock
        self.reconnected = False       # what the last `connect` did: updated an account the workspace had

    def connect(self, *, workspace_id: str, platform: Platform | str, identifier: str, password: str,
                actor: Actor | None = None, user_id: str | None = None) -> Account:
        """Open a session with the handle and app password, then create or update the account.

        Only a role that may connect accounts (`core.rules.permissions`) gets past the first line; the role is
        checked again, as the store has it then, once the platform has answered and before anything is saved.
        """
        platform = Platform.parse(platform)
        actor = acting_person(self.store, actor, user_id)
        user_id = actor.user_id
        check(actor, Action.CONNECT_ACCOUNTS, workspace_id, subject="workspace")
        adapter = self.adapter_for(platform)
        if getattr(adapter, "connect_with", "oauth") != APP_PASSWORD:
            raise ConnectError(Problem("not_password_platform", f"{platform.label} connects through its own consent "
                                       "page: use its Connect button.", field="platform"))
        problems = []
        if not (identifier or "").strip():
            problems.append(Problem("handle_missing", f"Enter the account's {platform.label} handle, such as "
                                    "name.bsky.social.", field="handle"))
        if not (password or "").strip():
            problems.append(Problem("password_missing", "Enter an app password.", field="password"))
        if problems:
            raise ConnectError(problems)
        try:
            token = adapter.login(identifier, password.strip())
            profile = adapter.fetch_profile(token)
        except ReconnectNeeded as exc:
            raise ConnectError(Problem(_CODES.get(exc.code or "", "login_refused"), str(exc), field="password")) from None
        except RetryLater as exc:
            code = "unreachable" if exc.code in ("unreachable", "transport") else "rate_limited"
            words = (f"{platform.label} could not be reached. Try again in a few minutes." if code == "unreachable" else
                     f"{exc} Try again in a few minutes.")
            raise ConnectError(Problem(code, words)) from None
        except PlatformError as exc:
            raise ConnectError(Problem("login_failed", f"{platform.label} was not connected: {exc}")) from None
        # The login took a while: a person demoted (or removed) meanwhile connects nothing.
        check(Actor.of(self.store, user_id), Action.CONNECT_ACCOUNTS, workspace_id, subject="workspace")
        account, self.reconnected = save_connection(
            self.store, user_id=user_id, workspace_id=workspace_id, platform=platform, token=token, profile=profile,
            now=self.clock(), meta={"connected_with": APP_PASSWORD}, details={"method": APP_PASSWORD})
        return account

"""Sign-in for the dashboard: bcrypt password hashes, owners and members, sessions, and the brake on guessing.

The first person to open a fresh Outpost creates the owner account and the
first workspace; everyone after that signs in.

Sessions: the browser holds a random id in an HttpOnly cookie (set by the dashboard's server route); the store
keeps only its SHA-256, with when it was created, last seen, when it ends and when it was revoked. A session ends
after `SessionPolicy.idle` unused or `SessionPolicy.absolute` in any case, or when its person signs out. Signing
in never reuses an id (rotation): the page gets a one-time *handoff* id, good for two minutes, that the route
trades for the cookie's fresh id (`adopt_handoff`); a handoff is stored under a different hash, so it never
works as a cookie itself.

Guessing: failed sign-ins are counted per email (whether or not an account has it). From the
`SLOW_AFTER`-th failure one more try is allowed every `SLOW_WAIT`; from the `PAUSE_AFTER`-th the email is paused
for `PAUSE`. A success, or `FORGET_AFTER` without failures, starts the count again.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import bcrypt

from core.domain import Membership, Role, User, Workspace
from core.domain.errors import NotFoundError, OutpostError, Problem, ValidationError
from core.infra.settings import Settings
from core.store import PostStore
from core.store.people import Session, SignInFailures

MIN_PASSWORD_LENGTH = 10
# bcrypt only looks at the first 72 bytes; longer passwords are refused rather than silently cut.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str) -> str:
    check_password_strength(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash or not password:
        return False
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(data, password_hash.encode("ascii"))
    except ValueError:
        return False


def check_password_strength(password: str) -> None:
    problems = []
    if len(password or "") < MIN_PASSWORD_LENGTH:
        problems.append(Problem("password_short", f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.",
                                field="password"))
    if len((password or "").encode("utf-8")) > MAX_PASSWORD_BYTES:
        problems.append(Problem("password_long", "That password is too long (at most 72 bytes).", field="password"))
    if problems:
        raise ValidationError(problems)


def has_users(store: PostStore) -> bool:
    return bool(store.list_memberships()) or bool(store.list_workspaces())


def create_owner(store: PostStore, *, email: str, password: str, display_name: str = "",
                 workspace_name: str = "My brand", timezone_name: str = "UTC") -> tuple[User, Workspace]:
    """Create a user who owns a new workspace. Every problem with the form is told at once; nothing is stored
    unless all of it is right."""
    problems: list[Problem] = []

    def gather(make):
        try:
            return make()
        except ValidationError as exc:
            problems.extend(exc.problems)
            return None

    email = email or ""
    gather(lambda: check_password_strength(password))
    gather(lambda: User(email=email, display_name=display_name or email.split("@")[0], password_hash="unset"))
    workspace = gather(lambda: Workspace(name=workspace_name, timezone_name=timezone_name))
    if email and store.get_user_by_email(email):
        problems.append(Problem("email_taken", "There is already an account with that email; sign in instead.",
                                field="email"))
    if problems:
        raise ValidationError(problems)
    user = User(email=email, display_name=display_name or email.split("@")[0], password_hash=hash_password(password))
    user = store.add_user(user)
    workspace = store.add_workspace(workspace)
    store.set_membership(Membership(user_id=user.id, workspace_id=workspace.id, role=Role.OWNER))
    return user, workspace


def authenticate(store: PostStore, email: str, password: str) -> User | None:
    """The user with that email and password, or None (the same answer whichever part was wrong)."""
    user = store.get_user_by_email(email or "")
    if user is None:
        # Spend the same time as a real check so the answer does not reveal which emails exist.
        verify_password(password or "x", _DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


# ---------------------------------------------------------------- sessions

COOKIE_NAME = "outpost_session"
HANDOFF_TTL = timedelta(minutes=2)
TOUCH_EVERY = timedelta(minutes=1)        # last_seen_at is written at most this often


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts: `idle` after it was last used, `absolute` after it began."""
    idle: timedelta = timedelta(days=14)
    absolute: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionPolicy":
        return cls(idle=timedelta(seconds=settings.session_idle_s), absolute=timedelta(seconds=settings.session_max_s))


def session_hash(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode("utf-8")).hexdigest()


def _handoff_hash(raw_id: str) -> str:
    return hashlib.sha256(b"handoff:" + raw_id.encode("utf-8")).hexdigest()


def start_session(store: PostStore, user_id: str, *, now: datetime, policy: SessionPolicy = SessionPolicy(),
                  user_agent: str | None = None) -> str:
    """A new session for the user; the random id for the cookie (only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    store.add_session(Session(id_hash=session_hash(raw), user_id=user_id, created_at=now, last_seen_at=now,
                              expires_at=now + policy.absolute, user_agent=user_agent))
    return raw


def session_user(store: PostStore, raw_id: str | None, *, now: datetime,
                 policy: SessionPolicy = SessionPolicy()) -> User | None:
    """The person a cookie's session belongs to, or None when it is unknown, revoked or expired."""
    if not isinstance(raw_id, str) or not raw_id:
        return None
    session = store.get_session(session_hash(raw_id))
    if session is None or session.revoked_at is not None or now >= session.expires_at \
            or now >= session.last_seen_at + policy.idle:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        store.touch_session(session.id_hash, now)
    try:
        return store.get_user(session.user_id)
    except NotFoundError:
        return None


def end_session(store: PostStore, raw_id: str | None, *, now: datetime) -> bool:
    """Sign out: the session stops working in every tab that uses it. False if there was none open."""
    return isinstance(raw_id, str) and bool(raw_id) and store.revoke_session(session_hash(raw_id), now)


def start_handoff(store: PostStore, user_id: str, *, now: datetime) -> str:
    """A one-time id, good for `HANDOFF_TTL`, that the page hands to the sign-in route to get the cookie."""
    raw = secrets.token_urlsafe(32)
    store.add_session(Session(id_hash=_handoff_hash(raw), user_id=user_id, created_at=now, last_seen_at=now,
                              expires_at=now + HANDOFF_TTL, user_agent="handoff"))
    return raw


def adopt_handoff(store: PostStore, handoff: str | None, *, now: datetime, policy: SessionPolicy = SessionPolicy(),
                  user_agent: str | None = None, previous: str | None = None) -> str | None:
    """Trade a handoff id for a fresh session id (once; None when it is unknown, used or expired). The browser's
    previous session, if any, ends: signing in always starts a new one."""
    if not isinstance(handoff, str) or not handoff:
        return None
    id_hash = _handoff_hash(handoff)
    ticket = store.get_session(id_hash)
    if ticket is None or ticket.revoked_at is not None or now >= ticket.expires_at:
        return None
    if not store.revoke_session(id_hash, now):      # someone else traded it first
        return None
    end_session(store, previous, now=now)
    return start_session(store, ticket.user_id, now=now, policy=policy, user_agent=user_agent)


# ---------------------------------------------------------------- a person's own account


def own_account(store: PostStore, user_id: str) -> User:
    """The signed-in person as stored now (their page shows and changes only their own)."""
    return store.get_user(user_id)


def open_sessions(store: PostStore, user_id: str, raw_id: str | None, *, now: datetime,
                  policy: SessionPolicy = SessionPolicy()) -> list[dict]:
    """Where this person is signed in (browsers with a live session), newest use first; `current` marks this one."""
    mine = session_hash(raw_id) if isinstance(raw_id, str) and raw_id else None
    rows = []
    for s in store.list_user_sessions(user_id):
        if s.revoked_at is not None or now >= s.expires_at or now >= s.last_seen_at + policy.idle \
                or s.user_agent == "handoff":
            continue
        rows.append({"current": s.id_hash == mine, "browser": s.user_agent or "Unknown browser",
                     "signed_in": s.created_at, "last_seen": s.last_seen_at})
    return sorted(rows, key=lambda r: r["last_seen"], reverse=True)


def sign_out_elsewhere(store: PostStore, user_id: str, raw_id: str | None, *, now: datetime) -> int:
    """End every session of this person except the browser's own (`raw_id`), sign-ins in progress included; how
    many other browsers were signed in."""
    others = sum(1 for r in open_sessions(store, user_id, raw_id, now=now) if not r["current"])
    keep = session_hash(raw_id) if isinstance(raw_id, str) and raw_id else None
    store.revoke_user_sessions(user_id, now, keep=keep)
    return others


def change_password(store: PostStore, user_id: str, *, current: str, new: str, raw_id: str | None,
                    now: datetime) -> int:
    """Change a person's password after checking the current one; every other browser is signed out (someone who
    knew the old password must not stay in). Returns how many other sessions ended."""
    user = store.get_user(user_id)
    if not verify_password(current or "", user.password_hash):
        raise ValidationError(Problem("wrong_password", "Your current password is not right.", field="current"))
    if (new or "") == (current or ""):
        raise ValidationError(Problem("same_password", "The new password is the same as the current one.",
                                      field="new"))
    check_password_strength(new or "")
    from dataclasses import replace
    store.update_user(replace(user, password_hash=hash_password(new)))
    return sign_out_elsewhere(store, user_id, raw_id, now=now)


def rename(store: PostStore, user_id: str, display_name: str) -> User:
    """Change the name others see beside this person's posts and approvals."""
    name = " ".join((display_name or "").split())
    if not name:
        raise ValidationError(Problem("name_required", "Your name cannot be empty.", field="display_name"))
    if len(name) > 200:
        raise ValidationError(Problem("name_too_long", "Your name can be at most 200 characters.",
                                      field="display_name"))
    from dataclasses import replace
    return store.update_user(replace(store.get_user(user_id), display_name=name))


# ---------------------------------------------------------------- the brake on guessing

SLOW_AFTER = 3
SLOW_WAIT = timedelta(seconds=30)
PAUSE_AFTER = 6
PAUSE = timedelta(minutes=5)
FORGET_AFTER = timedelta(hours=1)


class SignInRefused(OutpostError):
    """The email and password did not match, or this email is paused after too many tries (`wait` says how long)."""

    def __init__(self, message: str, *, wait: timedelta | None = None):
        super().__init__(message)
        self.wait = wait


def _in_words(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return f"{seconds} seconds" if seconds != 1 else "1 second"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes" if minutes != 1 else "1 minute"


def too_many_attempts(wait: timedelta) -> str:
    return f"Too many attempts: try again in {_in_words(wait)}."


def sign_in(store: PostStore, email: str, password: str, *, now: datetime) -> User:
    """The user with that email and password; SignInRefused, in words, when they do not match or the email is
    paused. A paused email is refused without looking at the password."""
    email = (email or "").strip().lower()
    record = store.get_sign_in_failures(email)
    if record is not None and record.paused_until is not None and now < record.paused_until:
        raise SignInRefused(too_many_attempts(record.paused_until - now), wait=record.paused_until - now)
    user = authenticate(store, email, password)
    if user is not None:
        if record is not None:
            store.clear_sign_in_failures(email)
        return user
    if record is None or now - record.last_failed_at >= FORGET_AFTER:
        record = SignInFailures(email=email, failures=1, first_failed_at=now, last_failed_at=now)
    else:
        record = SignInFailures(email=email, failures=record.failures + 1, first_failed_at=record.first_failed_at,
                                last_failed_at=now)
    wait = PAUSE if record.failures >= PAUSE_AFTER else SLOW_WAIT if record.failures >= SLOW_AFTER else None
    store.save_sign_in_failures(SignInFailures(email=email, failures=record.failures,
                                               first_failed_at=record.first_failed_at, last_failed_at=now,
                                               paused_until=now + wait if wait else None))
    message = "That email and password do not match an account."
    raise SignInRefused(f"{message} {too_many_attempts(wait)}" if wait else message, wait=wait)


# A fixed cost-12 bcrypt hash of a password nobody has: checking against it costs what a real check costs. Kept as a
# literal, so importing this module (every dashboard, runner and test process) does not spend 0.25 s making one.
_DUMMY_HASH = "$2b$12$sxNm9wkZx3QNrR6ldTmh/OAvCp00CMFXnWnnJgKbwCZDY7ipyUn1S"

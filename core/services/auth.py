"""Sign-in for the dashboard: bcrypt password hashes, owners and members.

The first person to open a fresh Outpost creates the owner account and the
first workspace; everyone after that signs in.
"""
from __future__ import annotations

import bcrypt

from core.domain import Membership, Role, User, Workspace
from core.domain.errors import Problem, ValidationError
from core.store import PostStore

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
    """Create a user who owns a new workspace."""
    if store.get_user_by_email(email):
        raise ValidationError(Problem("email_taken", "There is already an account with that email; sign in instead.",
                                      field="email"))
    user = User(email=email, display_name=display_name or email.split("@")[0], password_hash=hash_password(password))
    workspace = Workspace(name=workspace_name, timezone_name=timezone_name)
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


_DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=12)).decode("ascii")

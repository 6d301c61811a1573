"""The store contract for workspaces, users and memberships (core.store.PeopleStore), on every store."""
from __future__ import annotations

from dataclasses import replace
from datetime import time

import pytest

from core.domain import Membership, Role, User, Workspace
from core.domain.errors import DuplicateError, NotFoundError


# ---------------------------------------------------------------- workspaces and people

def test_workspace_round_trip(store, clock):
    slots = {0: (time(9, 0), time(17, 30)), 4: (time(12, 15),)}
    ws = store.add_workspace(Workspace(name="Studio", timezone_name="America/New_York", preferred_time=time(10, 30),
                                       queue_slots=slots, requires_approval=True, id="ws_1"))
    assert ws.created_at == clock.now
    got = store.get_workspace("ws_1")
    assert got == ws
    assert got.queue_slots == {0: (time(9, 0), time(17, 30)), 4: (time(12, 15),)}
    renamed = store.update_workspace(replace(got, name="Studio 2", requires_approval=False))
    assert store.get_workspace("ws_1") == renamed
    with pytest.raises(DuplicateError, match="already exists"):
        store.add_workspace(Workspace(name="Again", id="ws_1"))
    with pytest.raises(NotFoundError, match="No workspace with id ws_nope"):
        store.get_workspace("ws_nope")
    with pytest.raises(NotFoundError):
        store.update_workspace(Workspace(name="Ghost", id="ws_ghost"))


def test_list_workspaces_by_name_and_by_member(store):
    for ws_id, name in (("ws_b", "beta"), ("ws_a", "Alpha"), ("ws_g", "Gamma")):
        store.add_workspace(Workspace(name=name, id=ws_id))
    user = store.add_user(User(email="u@x.test", id="user_u"))
    store.set_membership(Membership(user_id=user.id, workspace_id="ws_g", role=Role.EDITOR))
    store.set_membership(Membership(user_id=user.id, workspace_id="ws_b", role=Role.VIEWER))
    assert [w.name for w in store.list_workspaces()] == ["Alpha", "beta", "Gamma"]
    assert [w.id for w in store.list_workspaces(user_id=user.id)] == ["ws_b", "ws_g"]
    assert store.list_workspaces(user_id="user_nobody") == []


def test_users_and_duplicate_email(store, clock):
    user = store.add_user(User(email="  Ana@Example.TEST ", display_name="Ana", password_hash="h$1", id="user_ana"))
    assert user.email == "ana@example.test" and user.created_at == clock.now
    assert store.get_user("user_ana") == user
    assert store.get_user_by_email("ANA@example.test ") == user
    assert store.get_user_by_email("nobody@example.test") is None
    with pytest.raises(DuplicateError, match="ana@example.test already exists"):
        store.add_user(User(email="ana@EXAMPLE.test", id="user_other"))
    with pytest.raises(DuplicateError):
        store.add_user(User(email="new@example.test", id="user_ana"))  # same id
    updated = store.update_user(replace(user, display_name="Ana B.", password_hash="h$2"))
    assert store.get_user("user_ana") == updated
    with pytest.raises(NotFoundError, match="No user with id user_ghost"):
        store.get_user("user_ghost")
    with pytest.raises(NotFoundError):
        store.update_user(User(email="ghost@example.test", id="user_ghost"))


def test_update_user_to_an_email_in_use_is_refused(store):
    store.add_user(User(email="a@example.test", id="user_a"))
    b = store.add_user(User(email="b@example.test", id="user_b"))
    with pytest.raises(DuplicateError, match="a@example.test"):
        store.update_user(replace(b, email="a@example.test"))
    assert store.get_user("user_b").email == "b@example.test"


def test_memberships(store):
    store.add_workspace(Workspace(name="W1", id="ws_1"))
    store.add_workspace(Workspace(name="W2", id="ws_2"))
    store.add_user(User(email="a@x.test", id="user_a"))
    store.add_user(User(email="b@x.test", id="user_b"))
    store.set_membership(Membership(user_id="user_a", workspace_id="ws_1", role=Role.OWNER))
    store.set_membership(Membership(user_id="user_b", workspace_id="ws_1", role="viewer"))
    store.set_membership(Membership(user_id="user_a", workspace_id="ws_2", role=Role.EDITOR))
    # Setting it again changes the role; there is still one membership per (user, workspace).
    store.set_membership(Membership(user_id="user_b", workspace_id="ws_1", role=Role.APPROVER))
    assert store.get_membership("user_b", "ws_1") == Membership("user_b", "ws_1", Role.APPROVER)
    assert store.get_membership("user_b", "ws_2") is None
    key = lambda m: (m.user_id, m.workspace_id)  # noqa: E731
    assert sorted(store.list_memberships(user_id="user_a"), key=key) == [
        Membership("user_a", "ws_1", Role.OWNER), Membership("user_a", "ws_2", Role.EDITOR)]
    assert sorted(store.list_memberships(workspace_id="ws_1"), key=key) == [
        Membership("user_a", "ws_1", Role.OWNER), Membership("user_b", "ws_1", Role.APPROVER)]
    assert store.list_memberships(user_id="user_b", workspace_id="ws_2") == []
    assert len(store.list_memberships()) == 3
    with pytest.raises(NotFoundError, match="No user"):
        store.set_membership(Membership("user_ghost", "ws_1", Role.VIEWER))
    with pytest.raises(NotFoundError, match="No workspace"):
        store.set_membership(Membership("user_a", "ws_ghost", Role.VIEWER))


def test_remove_membership(store):
    store.add_workspace(Workspace(name="W1", id="ws_1"))
    store.add_workspace(Workspace(name="W2", id="ws_2"))
    store.add_user(User(email="a@x.test", id="user_a"))
    store.add_user(User(email="b@x.test", id="user_b"))
    store.set_membership(Membership("user_a", "ws_1", Role.OWNER))
    store.set_membership(Membership("user_b", "ws_1", Role.EDITOR))
    store.set_membership(Membership("user_b", "ws_2", Role.VIEWER))
    assert store.remove_membership("user_b", "ws_1") is True
    # Only that one membership goes: the user, the workspace and their other memberships stay.
    assert store.get_membership("user_b", "ws_1") is None
    assert store.get_membership("user_b", "ws_2") == Membership("user_b", "ws_2", Role.VIEWER)
    assert store.get_membership("user_a", "ws_1") == Membership("user_a", "ws_1", Role.OWNER)
    assert [w.id for w in store.list_workspaces(user_id="user_b")] == ["ws_2"]
    assert store.get_user("user_b").email == "b@x.test"
    # Removing it again, or someone who never was a member, changes nothing and says so.
    assert store.remove_membership("user_b", "ws_1") is False
    assert store.remove_membership("user_ghost", "ws_1") is False
    assert store.remove_membership("user_a", "ws_ghost") is False
    assert len(store.list_memberships()) == 2
    # A removed member can be added back.
    store.set_membership(Membership("user_b", "ws_1", Role.APPROVER))
    assert store.get_membership("user_b", "ws_1") == Membership("user_b", "ws_1", Role.APPROVER)


# ---------------------------------------------------------------- dashboard sessions and failed sign-ins

def _session(clock, id_hash="a" * 64, user_id="user_s", **overrides):
    from datetime import timedelta
    from core.store.people import Session
    values = dict(id_hash=id_hash, user_id=user_id, created_at=clock.now, last_seen_at=clock.now,
                  expires_at=clock.now + timedelta(days=30), user_agent="Mozilla/5.0")
    return Session(**{**values, **overrides})


def test_session_round_trip_touch_and_revoke(store, clock):
    from datetime import timedelta
    store.add_user(User(email="s@x.test", id="user_s"))
    session = store.add_session(_session(clock))
    assert store.get_session("a" * 64) == session
    assert store.get_session("b" * 64) is None
    with pytest.raises(DuplicateError):
        store.add_session(_session(clock))
    with pytest.raises(NotFoundError):
        store.add_session(_session(clock, id_hash="c" * 64, user_id="user_ghost"))

    later = clock.now + timedelta(minutes=5)
    store.touch_session("a" * 64, later)
    store.touch_session("a" * 64, clock.now)            # an older touch never moves last seen back
    assert store.get_session("a" * 64).last_seen_at == later

    assert store.revoke_session("a" * 64, later) is True
    assert store.revoke_session("a" * 64, later + timedelta(minutes=1)) is False   # already ended: first time kept
    assert store.get_session("a" * 64).revoked_at == later
    assert store.revoke_session("d" * 64, later) is False


def test_revoking_a_users_sessions_leaves_other_users_signed_in(store, clock):
    store.add_user(User(email="s@x.test", id="user_s"))
    store.add_user(User(email="t@x.test", id="user_t"))
    store.add_session(_session(clock, id_hash="1" * 64))
    store.add_session(_session(clock, id_hash="2" * 64))
    store.add_session(_session(clock, id_hash="3" * 64, user_id="user_t"))
    assert store.revoke_user_sessions("user_s", clock.now) == 2
    assert store.get_session("1" * 64).revoked_at == clock.now
    assert store.get_session("3" * 64).revoked_at is None


def test_revoking_a_users_other_sessions_keeps_the_current_one(store, clock):
    store.add_user(User(email="s@x.test", id="user_s"))
    for h in "123":
        store.add_session(_session(clock, id_hash=h * 64))
    assert store.revoke_user_sessions("user_s", clock.now, keep="2" * 64) == 2
    assert [s.revoked_at is None for s in (store.get_session(h * 64) for h in "123")] == [False, True, False]
    assert {s.id_hash for s in store.list_user_sessions("user_s")} == {h * 64 for h in "123"}
    assert store.list_user_sessions("nobody") == []


def test_sign_in_failures_per_email(store, clock):
    from datetime import timedelta
    from core.store.people import SignInFailures
    assert store.get_sign_in_failures("a@x.test") is None
    store.save_sign_in_failures(SignInFailures(email="A@X.test", failures=1, first_failed_at=clock.now,
                                               last_failed_at=clock.now))
    got = store.get_sign_in_failures("a@x.test")
    assert (got.email, got.failures, got.paused_until) == ("a@x.test", 1, None)
    paused = clock.now + timedelta(minutes=5)
    store.save_sign_in_failures(SignInFailures(email="a@x.test", failures=6, first_failed_at=clock.now,
                                               last_failed_at=clock.now, paused_until=paused))
    assert store.get_sign_in_failures("A@x.test").paused_until == paused
    assert store.get_sign_in_failures("b@x.test") is None
    store.clear_sign_in_failures("a@x.test")
    assert store.get_sign_in_failures("a@x.test") is None


def test_purging_forgets_only_sessions_and_failures_that_ended_before_the_cut(store, clock):
    from datetime import timedelta
    from core.store.people import SignInFailures
    store.add_user(User(email="s@x.test", id="user_s"))
    day = timedelta(days=1)
    store.add_session(_session(clock, id_hash="1" * 64))                                    # open: kept
    store.add_session(_session(clock, id_hash="2" * 64, revoked_at=clock.now - 10 * day))  # signed out long ago
    store.add_session(_session(clock, id_hash="3" * 64, revoked_at=clock.now - day))       # signed out yesterday
    store.add_session(_session(clock, id_hash="4" * 64, created_at=clock.now - 40 * day,
                               last_seen_at=clock.now - 20 * day, expires_at=clock.now - 10 * day))   # expired
    store.save_sign_in_failures(SignInFailures(email="old@x.test", failures=2, first_failed_at=clock.now - 9 * day,
                                               last_failed_at=clock.now - 9 * day))
    store.save_sign_in_failures(SignInFailures(email="new@x.test", failures=2, first_failed_at=clock.now,
                                               last_failed_at=clock.now))
    assert store.purge_sessions(clock.now - 7 * day) == 2
    assert [h for h in ("1", "2", "3", "4") if store.get_session(h * 64)] == ["1", "3"]
    assert store.get_sign_in_failures("old@x.test") is None
    assert store.get_sign_in_failures("new@x.test").failures == 2

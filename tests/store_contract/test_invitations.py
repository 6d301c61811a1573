"""The store contract for invitations (core.store.PeopleStore), on every store: kept by the hash of their token,
listed per workspace newest first, withdrawn or used once, whichever comes first."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from core.domain import Role, User
from core.domain.errors import DuplicateError, NotFoundError
from core.store.people import Invitation


def invitation(world, clock, **overrides) -> Invitation:
    values = dict(token_hash="h" * 64, workspace_id=world.ws.id, email=" Ana@Example.TEST ", role=Role.APPROVER,
                  invited_by=world.owner.id, created_at=clock.now, expires_at=clock.now + timedelta(days=7),
                  id="inv_1")
    values.update(overrides)
    return Invitation(**values)


def test_an_invitation_round_trips_by_its_token_hash(world, clock):
    stored = world.store.add_invitation(invitation(world, clock))
    assert stored.email == "ana@example.test" and stored.role == Role.APPROVER and stored.pending
    got = world.store.get_invitation("h" * 64)
    assert got == stored                     # every field, times to the microsecond
    assert world.store.get_invitation("x" * 64) is None
    with pytest.raises(DuplicateError):
        world.store.add_invitation(invitation(world, clock, id="inv_2"))           # the same token
    with pytest.raises(DuplicateError):
        world.store.add_invitation(invitation(world, clock, token_hash="g" * 64))  # the same id
    with pytest.raises(NotFoundError):
        world.store.add_invitation(invitation(world, clock, id="inv_3", token_hash="f" * 64, workspace_id="ws_gone"))


def test_a_workspaces_invitations_newest_first_and_only_its_own(world, clock):
    store = world.store
    store.add_invitation(invitation(world, clock, id="inv_old", token_hash="a" * 64))
    clock.advance(minutes=1)
    store.add_invitation(invitation(world, clock, id="inv_new", token_hash="b" * 64, email="bo@example.test"))
    store.add_invitation(invitation(world, clock, id="inv_other", token_hash="c" * 64, workspace_id=world.other_ws.id))
    assert [i.id for i in store.list_invitations(world.ws.id)] == ["inv_new", "inv_old"]
    assert [i.id for i in store.list_invitations(world.other_ws.id)] == ["inv_other"]
    assert store.list_invitations("ws_nobody") == []


def test_withdrawn_once_and_then_never_used(world, clock):
    store = world.store
    store.add_invitation(invitation(world, clock))
    later = clock.advance(hours=1)
    assert store.revoke_invitation("inv_1", later) is True
    assert store.revoke_invitation("inv_1", later) is False                      # already withdrawn
    assert store.revoke_invitation("inv_nope", later) is False
    joiner = store.add_user(User(email="ana@example.test", id="user_ana"))
    assert store.accept_invitation("inv_1", joiner.id, later) is False           # a withdrawn link is not used
    got = store.get_invitation("h" * 64)
    assert (got.revoked_at, got.accepted_at, got.pending) == (later, None, False)


def test_used_once_by_whoever_comes_first(world, clock):
    store = world.store
    sent = store.add_invitation(invitation(world, clock))
    ana = store.add_user(User(email="ana@example.test", id="user_ana"))
    at = clock.advance(minutes=5)
    assert store.accept_invitation("inv_1", ana.id, at) is True
    assert store.accept_invitation("inv_1", "user_someone_else", at) is False    # a second use
    assert store.revoke_invitation("inv_1", at) is False                         # nor withdrawn afterwards
    assert store.get_invitation("h" * 64) == replace(sent, accepted_at=at, accepted_by=ana.id)



def test_concurrent_uses_and_withdrawals_of_one_invitation_exactly_one_wins(world, clock):
    """Two tabs joining with the same link while the owner withdraws it: one of them, and only one, gets it."""
    store = world.store
    store.add_user(User(email="ana@example.test", id="user_ana"))
    for round_ in range(3):
        store.add_invitation(invitation(world, clock, id=f"inv_{round_}", token_hash=f"{round_}" * 64))
        barrier = threading.Barrier(8)
        results: list = []
        errors: list[BaseException] = []

        def settle(i: int) -> None:
            barrier.wait(timeout=30)
            try:
                if i % 4 == 3:
                    results.append(("revoke", store.revoke_invitation(f"inv_{round_}", clock.now)))
                else:
                    results.append(("accept", store.accept_invitation(f"inv_{round_}", "user_ana", clock.now)))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=settle, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and len(results) == 8
        [(how, _)] = [r for r in results if r[1]]
        stored = store.get_invitation(f"{round_}" * 64)
        assert (stored.accepted_at is not None, stored.revoked_at is not None) == (how == "accept", how == "revoke")


def test_settled_invitations_are_forgotten_a_while_later_and_usable_ones_never(world, clock):
    """Housekeeping forgets invitations used, withdrawn or expired before a moment (their emails with them);
    one that can still be used stays whatever its age."""
    store = world.store
    start = clock.now
    store.add_invitation(invitation(world, clock, id="inv_used", token_hash="a" * 64))
    store.add_invitation(invitation(world, clock, id="inv_withdrawn", token_hash="b" * 64, email="bo@example.test"))
    store.add_invitation(invitation(world, clock, id="inv_expired", token_hash="c" * 64, email="cy@example.test",
                                    expires_at=start + timedelta(days=1)))
    store.add_invitation(invitation(world, clock, id="inv_open", token_hash="d" * 64, email="di@example.test",
                                    expires_at=start + timedelta(days=90)))
    joiner = store.add_user(User(email="ana@example.test", id="user_ana"))
    assert store.accept_invitation("inv_used", joiner.id, start + timedelta(hours=1))
    assert store.revoke_invitation("inv_withdrawn", start + timedelta(days=3))
    # Nothing settled before the start; at day 2 the used and the expired one are; at day 40 the withdrawn too.
    assert store.purge_invitations(start) == 0
    assert store.purge_invitations(start + timedelta(days=2)) == 2
    assert sorted(i.id for i in store.list_invitations(world.ws.id)) == ["inv_open", "inv_withdrawn"]
    assert store.get_invitation("a" * 64) is None and store.get_invitation("c" * 64) is None
    assert store.purge_invitations(start + timedelta(days=40)) == 1
    assert [i.id for i in store.list_invitations(world.ws.id)] == ["inv_open"]
    assert store.get_invitation("d" * 64).pending

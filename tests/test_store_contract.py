"""The PostStore contract, run against every store: in memory, SQLite and PostgreSQL.

PostgreSQL runs when OUTPOST_TEST_POSTGRES_URL is set (each test module gets its own schema,
each test empty tables). Should the memory store ever fall short of the contract, mark the
test with `memory_falls_short` (xfail, strict) and the reason, so the gap stays visible.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.db.sql_store import SqlPostStore
from core.db.testing import clear_tables, postgres_schema, sqlite_engine
from core.domain import (Account, AccountStatus, ActivityEvent, Batch, BatchState, Delivery, Membership, Notification,
                         OAuthState, Post, PostVariant, Role, Schedule, User, Workspace)
from core.errors import ConflictError, DuplicateError, NaiveDatetimeError, NotFoundError
from core.lifecycle import DeliveryState, PostState, PostStatus
from core.platforms.catalog import Platform
from core.scheduling import ScheduledItem
from core.secrets import TokenCipher
from core.store import InMemoryPostStore

UTC = timezone.utc
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")
SKIP_POSTGRES = "set OUTPOST_TEST_POSTGRES_URL to run the PostgreSQL store tests"
# A Monday, with microseconds so that a store truncating them would be caught.
T0 = datetime(2030, 3, 4, 8, 0, 0, 123456, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(scope="module")
def postgres_engine():
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    with postgres_schema(POSTGRES_URL) as engine:
        yield engine


@pytest.fixture(params=[
    "memory",
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]),
])
def kind(request) -> str:
    return request.param


@pytest.fixture
def store(kind, clock, tmp_path, request):
    if kind == "memory":
        yield InMemoryPostStore(clock=clock)
    elif kind == "sqlite":
        engine = sqlite_engine(tmp_path / "outpost.sqlite")
        yield SqlPostStore(engine, TokenCipher.generate(), clock=clock)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        clear_tables(engine)
        yield SqlPostStore(engine, TokenCipher.generate(), clock=clock)


def memory_falls_short(request, kind: str, reason: str) -> None:
    """Mark the running test as a known gap of InMemoryPostStore (it must fail there, and only there)."""
    if kind == "memory":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"InMemoryPostStore: {reason}"))


# ---------------------------------------------------------------- a small world to work in

@dataclass
class World:
    store: object
    ws: Workspace
    other_ws: Workspace
    owner: User
    ig: Account
    li: Account
    x_other: Account  # in the other workspace


@pytest.fixture
def world(store) -> World:
    ws = store.add_workspace(Workspace(name="Acme", timezone_name="Europe/Berlin", id="ws_acme"))
    other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    owner = store.add_user(User(email="owner@acme.test", display_name="Olive", id="user_owner"))
    store.set_membership(Membership(user_id=owner.id, workspace_id=ws.id, role=Role.OWNER))
    ig = store.save_account(Account(platform=Platform.INSTAGRAM, handle="@acme", oauth_token="ig-token",
                                    refresh_token="ig-refresh", workspace_id=ws.id, id="acct_ig"))
    li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", oauth_token="li-token",
                                    workspace_id=ws.id, id="acct_li"))
    x = store.save_account(Account(platform=Platform.X, handle="@other", oauth_token="x-token",
                                   workspace_id=other.id, id="acct_x"))
    return World(store, ws, other, owner, ig, li, x)


def make_post(world: World, id: str, *, at: datetime | None = T0 + timedelta(days=1), accounts=None,
              state: PostState = PostState.APPROVED, **overrides) -> Post:
    accounts = (world.ig, world.li) if accounts is None else accounts
    schedule = Schedule(scheduled_at=at, timezone_name="Europe/Berlin") if at is not None else None
    fields = dict(caption=f"Caption of {id}", accounts=tuple(accounts), schedule=schedule,
                  workspace_id=accounts[0].workspace_id if accounts else world.ws.id, id=id, state=state)
    fields.update(overrides)
    return Post(**fields)


def deliveries_for(post: Post, **overrides) -> list[Delivery]:
    return [Delivery(post_id=post.id, account_id=a.id, platform=a.platform, due_at=post.due_at,
                     id=f"dlv_{post.id}_{a.id}", **overrides) for a in post.accounts]


def add(world: World, id: str, *, deliveries=True, **kwargs) -> Post:
    post = make_post(world, id, **kwargs)
    return world.store.add_post(post, deliveries_for(post) if deliveries and post.due_at else [])


def event(subject_id: str, at: datetime, action: str = "edited", workspace_id: str | None = "ws_acme", **kw):
    return ActivityEvent(action=action, subject_type="post", subject_id=subject_id, at=at,
                         workspace_id=workspace_id, **kw)


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


# ---------------------------------------------------------------- accounts

def test_account_round_trip(store, clock):
    store.add_workspace(Workspace(name="W", id="ws_1"))
    account = Account(
        platform="tiktok", handle="@dancer", display_name="Dancer", oauth_token="act.secret-token",
        refresh_token="rft.secret-refresh",
        token_expires_at=datetime(2030, 3, 5, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        refresh_expires_at=T0 + timedelta(days=365), scopes=("user.info.basic", "video.publish"),
        external_id="tt-123", id="acct_tt", workspace_id="ws_1", daily_cap=3, min_gap_minutes=45,
        status=AccountStatus.EXPIRING, meta={"privacy_options": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"],
                                             "creator": {"nickname": "D", "max_video_s": 600}})
    saved = store.save_account(account)
    assert saved.connected_at == clock.now
    got = store.get_account("acct_tt")
    assert got == saved
    assert (got.oauth_token, got.refresh_token) == ("act.secret-token", "rft.secret-refresh")
    assert got.token_expires_at == datetime(2030, 3, 5, 8, 0, tzinfo=UTC)
    assert got.platform is Platform.TIKTOK and got.status is AccountStatus.EXPIRING
    # Saving again replaces it (token refresh); connected_at is kept when given.
    refreshed = store.save_account(replace(got, oauth_token="act.new", refresh_token=None, token_expires_at=None,
                                           status=AccountStatus.CONNECTED))
    assert store.get_account("acct_tt") == refreshed
    assert refreshed.connected_at == saved.connected_at and store.get_account("acct_tt").refresh_token is None
    with pytest.raises(NotFoundError, match="No connected account with id acct_ghost"):
        store.get_account("acct_ghost")
    with pytest.raises(NotFoundError, match="No workspace"):
        store.save_account(Account(platform="x", handle="@h", workspace_id="ws_ghost"))


def test_list_accounts_sorted_by_platform_then_handle(store):
    store.add_workspace(Workspace(name="W", id="ws_1"))
    for pid, platform, handle, ws in (("a1", "x", "@zed", "ws_1"), ("a2", "instagram", "@b", "ws_1"),
                                      ("a3", "x", "@Amy", "ws_1"), ("a4", "linkedin", "Co", None)):
        store.save_account(Account(platform=platform, handle=handle, id=pid, workspace_id=ws))
    assert [a.id for a in store.list_accounts()] == ["a2", "a4", "a3", "a1"]
    assert [a.id for a in store.list_accounts(workspace_id="ws_1")] == ["a2", "a3", "a1"]
    assert store.list_accounts(workspace_id="ws_nope") == []


def test_find_account_by_platform_account(world):
    store = world.store
    ig = store.save_account(replace(world.ig, external_id="17841400000000001"))
    # The same id on another platform, and the same Instagram account in another workspace: other rows.
    li = store.save_account(Account(platform="linkedin", handle="Acme B", external_id="17841400000000001",
                                    workspace_id=world.ws.id, id="acct_li_b"))
    elsewhere = store.save_account(Account(platform="instagram", handle="@acme", external_id="17841400000000001",
                                           workspace_id=world.other_ws.id, id="acct_ig_other"))
    found = store.find_account(world.ws.id, "instagram", "17841400000000001")
    assert found == ig and found.oauth_token == "ig-token" and found.refresh_token == "ig-refresh"
    assert store.find_account(world.ws.id, Platform.INSTAGRAM, "17841400000000001") == ig
    assert store.find_account(world.ws.id, "linkedin", "17841400000000001") == li
    assert store.find_account(world.other_ws.id, "instagram", "17841400000000001") == elsewhere
    assert store.find_account(world.ws.id, "instagram", "17841400000000002") is None
    assert store.find_account(world.ws.id, "x", "17841400000000001") is None
    assert store.find_account("ws_ghost", "instagram", "17841400000000001") is None
    assert store.find_account(world.ws.id, "linkedin", None) is None  # world.li has no external id


def test_a_platform_account_is_stored_once_per_workspace(world):
    store = world.store
    ig = store.save_account(replace(world.ig, external_id="ig-1"))
    with pytest.raises(DuplicateError, match="Instagram account ig-1 is already connected in workspace ws_acme"):
        store.save_account(Account(platform="instagram", handle="@acme2", external_id="ig-1",
                                   workspace_id=world.ws.id, id="acct_ig_2"))
    with pytest.raises(DuplicateError, match="already connected"):
        store.save_account(replace(world.li, platform="instagram", external_id="ig-1"))  # an update, same clash
    assert [a.id for a in store.list_accounts(workspace_id=world.ws.id)] == ["acct_ig", "acct_li"]
    assert store.get_account("acct_li") == world.li
    # Saving the same row again (a reconnect) is what find_account is for.
    again = store.save_account(replace(ig, oauth_token="ig-token-2"))
    assert store.find_account(world.ws.id, "instagram", "ig-1") == again
    # No external id, or no workspace: not constrained.
    for n in range(2):
        store.save_account(Account(platform="instagram", handle=f"@n{n}", workspace_id=world.ws.id, id=f"acct_n{n}"))
        store.save_account(Account(platform="instagram", handle=f"@f{n}", external_id="ig-1", id=f"acct_free{n}"))
    assert len(store.list_accounts()) == 7


# ---------------------------------------------------------------- connect attempts

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def connect_attempt(world: World, state_hash: str = "a" * 64, **overrides) -> OAuthState:
    fields = dict(state_hash=state_hash, user_id=world.owner.id, workspace_id=world.ws.id, platform="tiktok",
                  expires_at=T0 + timedelta(minutes=10), code_verifier=VERIFIER)
    fields.update(overrides)
    return OAuthState(**fields)


def test_connect_attempt_round_trip(world, clock):
    store = world.store
    state = connect_attempt(world, account_id=world.ig.id,
                            expires_at=(T0 + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-7))))
    assert store.add_oauth_state(state) is None
    start = clock.now
    clock.advance(minutes=2)
    used = store.consume_oauth_state(state.state_hash, clock.now.astimezone(timezone(timedelta(hours=1))))
    assert used == replace(state, created_at=start, used_at=clock.now)
    assert used.code_verifier == VERIFIER and used.platform is Platform.TIKTOK and used.account_id == "acct_ig"
    assert used.expires_at == T0 + timedelta(minutes=10) and used.used_at.utcoffset() == timedelta(0)
    # Without a verifier (platforms without PKCE); a given created_at is kept.
    plain = connect_attempt(world, "b" * 64, platform="linkedin", code_verifier=None,
                            created_at=T0 - timedelta(minutes=1))
    store.add_oauth_state(plain)
    assert store.consume_oauth_state(plain.state_hash, clock.now) == replace(plain, used_at=clock.now)
    # Expiry is the caller's to judge (it says "expired", not "unknown"): an expired attempt is still returned.
    late = connect_attempt(world, "c" * 64)
    store.add_oauth_state(late)
    assert store.consume_oauth_state(late.state_hash, T0 + timedelta(hours=1)).used_at == T0 + timedelta(hours=1)


def test_connect_attempt_refusals(world, clock):
    store = world.store
    store.add_oauth_state(connect_attempt(world))
    with pytest.raises(DuplicateError):
        store.add_oauth_state(connect_attempt(world, user_id="user_owner", platform="x"))
    with pytest.raises(NotFoundError, match="No workspace with id ws_ghost"):
        store.add_oauth_state(connect_attempt(world, "d" * 64, workspace_id="ws_ghost"))
    with pytest.raises(NotFoundError, match="No user with id user_ghost"):
        store.add_oauth_state(connect_attempt(world, "e" * 64, user_id="user_ghost"))
    with pytest.raises(NaiveDatetimeError):
        store.consume_oauth_state("a" * 64, datetime(2030, 3, 4, 8, 5))
    # Nothing above used it up.
    assert store.consume_oauth_state("d" * 64, clock.now) is None
    assert store.consume_oauth_state("a" * 64, clock.now).code_verifier == VERIFIER


def test_a_connect_attempt_is_consumed_once(world, clock):
    store = world.store
    store.add_oauth_state(connect_attempt(world))
    first = store.consume_oauth_state("a" * 64, clock.now)
    assert first is not None and first.used_at == clock.now
    clock.advance(seconds=5)
    assert store.consume_oauth_state("a" * 64, clock.now) is None  # the replay
    assert store.consume_oauth_state("a" * 64, clock.now) is None
    assert store.consume_oauth_state("f" * 64, clock.now) is None  # never issued
    with pytest.raises(DuplicateError):  # and a used attempt cannot be issued again
        store.add_oauth_state(connect_attempt(world))


def test_concurrent_consumers_of_one_attempt_exactly_one_wins(world, clock):
    store = world.store
    for round_ in range(3):
        state_hash = f"{round_}" * 64
        store.add_oauth_state(connect_attempt(world, state_hash))
        barrier = threading.Barrier(8)
        results: list = []
        errors: list[BaseException] = []

        def consume() -> None:
            barrier.wait(timeout=30)
            try:
                results.append(store.consume_oauth_state(state_hash, clock.now))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=consume) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and len(results) == 8
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0].state_hash == state_hash and winners[0].code_verifier == VERIFIER


def test_purge_connect_attempts(world, clock):
    store = world.store
    now = T0 + timedelta(hours=1)
    soon, gone = now + timedelta(minutes=5), now - timedelta(minutes=1)
    for name, expires in (("expired", gone), ("used", soon), ("fresh", soon), ("used_later", soon),
                          ("expires_now", now)):
        store.add_oauth_state(connect_attempt(world, name.ljust(64, "_"), expires_at=expires))
    assert store.consume_oauth_state("used".ljust(64, "_"), now - timedelta(minutes=2)) is not None
    assert store.consume_oauth_state("used_later".ljust(64, "_"), now + timedelta(minutes=1)) is not None

    assert store.purge_oauth_states(now) == 2
    assert store.purge_oauth_states(now.astimezone(timezone(timedelta(hours=5)))) == 0
    # The purged ones are gone (they can be issued again); the others are kept as they were.
    for name in ("expired", "used"):
        store.add_oauth_state(connect_attempt(world, name.ljust(64, "_")))
    for name in ("fresh", "used_later", "expires_now"):
        with pytest.raises(DuplicateError):
            store.add_oauth_state(connect_attempt(world, name.ljust(64, "_")))
    assert store.consume_oauth_state("used_later".ljust(64, "_"), now) is None
    assert store.consume_oauth_state("fresh".ljust(64, "_"), now).code_verifier == VERIFIER
    assert store.purge_oauth_states(soon + timedelta(minutes=1)) == 5
    with pytest.raises(NaiveDatetimeError):
        store.purge_oauth_states(datetime(2030, 3, 4))


# ---------------------------------------------------------------- posts and deliveries

def test_post_round_trip_of_every_field(world, clock):
    store = world.store
    batch = store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 11), id="batch_1"))
    post = Post(
        caption="Spring launch 🌱", accounts=(world.li, world.ig),  # target order is kept: LinkedIn first
        hashtags=("#Launch", "spring"), call_to_action="Shop now", link="https://acme.test/spring",
        media_urls=("https://cdn.acme.test/a.jpg", "https://cdn.acme.test/b.mp4"),
        variants={Platform.INSTAGRAM: PostVariant(caption="IG caption", hashtags=(),
                                                  media_urls=("https://cdn.acme.test/ig.jpg",)),
                  "linkedin": PostVariant(title="Launch", link="https://acme.test/li")},
        schedule=Schedule.at_local(date(2030, 3, 31), time(2, 30), "Europe/Berlin"),  # in the DST gap: a notice
        recurrence="FREQ=WEEKLY;BYDAY=MO", is_ai_generated=True, batch_id=batch.id, workspace_id=world.ws.id,
        id="post_full", state=PostState.APPROVED, created_by=world.owner.id, rejection_reason="old reason",
        series_id="series_1")
    assert post.schedule.notice  # the DST gap moved the wall time and said so
    li_dlv, ig_dlv = deliveries_for(post)
    # One delivery with every field filled in (as after a failed attempt), so each one is checked.
    ig_dlv = replace(ig_dlv, state=DeliveryState.RETRY_WAIT, attempts=2, next_attempt_at=T0 + timedelta(minutes=15),
                     external_id="ig-media-1", external_url="https://instagram.test/p/1", last_error="503 upstream",
                     last_error_code="server_error", claimed_by="runner-a", lease_expires_at=T0 + timedelta(minutes=5),
                     marker="outpost-7f3a", published_at=T0 - timedelta(seconds=1))
    dlv = [li_dlv, ig_dlv]
    saved = store.add_post(post, dlv)
    assert saved.version == 1 and saved.created_at == clock.now and saved.updated_at == clock.now
    got = store.get_post("post_full")
    assert got == saved
    # Field by field, so a failure says which one.
    for name in ("caption", "hashtags", "call_to_action", "link", "media_urls", "variants", "schedule", "recurrence",
                 "is_ai_generated", "batch_id", "workspace_id", "id", "state", "created_by", "rejection_reason",
                 "series_id", "created_at", "updated_at", "version"):
        assert getattr(got, name) == getattr(replace(post, created_at=clock.now, updated_at=clock.now, version=1),
                                             name), name
    assert got.schedule.timezone_name == "Europe/Berlin" and got.schedule.notice == post.schedule.notice
    assert got.variants[Platform.INSTAGRAM].hashtags == () and got.variants[Platform.LINKEDIN].hashtags is None
    # Targets come back as the stored accounts, in target order, tokens and all.
    assert [a.id for a in got.accounts] == ["acct_li", "acct_ig"] and got.account == world.li
    assert got.accounts[1].oauth_token == "ig-token" and got.accounts[1].refresh_token == "ig-refresh"
    # Deliveries in the order given, version 1, stamped.
    stored = store.get_deliveries("post_full")
    assert [d.id for d in stored] == [d.id for d in dlv]
    assert stored == [replace(d, version=1, updated_at=clock.now) for d in dlv]
    assert store.get_delivery(ig_dlv.id) == stored[1]
    assert store.get_post_status("post_full") == PostStatus.PUBLISHING


def test_post_created_at_is_kept_and_unscheduled_posts_round_trip(world, clock):
    created = T0 - timedelta(days=3)
    saved = world.store.add_post(make_post(world, "post_draft", at=None, state=PostState.DRAFT, created_at=created))
    got = world.store.get_post("post_draft")
    assert got == saved and got.created_at == created and got.schedule is None
    assert world.store.get_deliveries("post_draft") == []
    assert world.store.get_post_status("post_draft") == PostStatus.DRAFT


def test_add_post_refusals_leave_nothing_behind(world):
    store = world.store
    add(world, "post_1")
    with pytest.raises(DuplicateError, match="post_1 already exists"):
        store.add_post(make_post(world, "post_1", caption="other"))
    assert store.get_post("post_1").caption == "Caption of post_1"
    stranger = Account(platform="youtube", handle="@unsaved", id="acct_unsaved")
    with pytest.raises(NotFoundError, match="not connected in this store"):
        store.add_post(make_post(world, "post_2", accounts=(world.ig, stranger)))
    with pytest.raises(NotFoundError, match="No workspace"):
        store.add_post(make_post(world, "post_3", workspace_id="ws_ghost"))
    with pytest.raises(ValueError, match="belongs to post"):
        post = make_post(world, "post_4")
        store.add_post(post, [replace(deliveries_for(post)[0], post_id="post_1")])
    with pytest.raises(ValueError, match="needs an id"):
        store.add_post(make_post(world, None))
    for missing in ("post_2", "post_3", "post_4"):
        with pytest.raises(NotFoundError):
            store.get_post(missing)
    assert [p.id for p in store.list_posts()] == ["post_1"]
    assert store.get_deliveries("post_4") == []


def test_delivery_for_an_unknown_account_is_refused(world):
    post = make_post(world, "post_1", accounts=(world.ig,))
    orphan = Delivery(post_id=post.id, account_id="acct_ghost", platform="x", due_at=post.due_at)
    with pytest.raises(NotFoundError, match="acct_ghost"):
        world.store.add_post(post, [orphan])
    with pytest.raises(NotFoundError):
        world.store.get_post("post_1")


def test_delivery_id_in_use_by_another_post_is_refused(world):
    first = add(world, "post_1")
    taken = world.store.get_deliveries(first.id)[0]
    post = make_post(world, "post_2", accounts=(world.ig,))
    with pytest.raises(DuplicateError, match=taken.id):
        world.store.add_post(post, [replace(deliveries_for(post)[0], id=taken.id)])
    assert world.store.get_deliveries("post_1")[0] == taken


def test_a_delivery_never_moves_to_another_post(world):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    post_2 = add(world, "post_2", accounts=(world.ig,))
    [d1] = store.get_deliveries("post_1")
    with pytest.raises(DuplicateError, match="already belongs to post post_1"):
        store.update_post(post_2, expected_version=1, deliveries=[replace(d1, post_id="post_2")])
    with pytest.raises(ValueError, match="belongs to post post_1"):
        store.update_delivery(replace(d1, post_id="post_2"), expected_version=d1.version)
    assert store.get_deliveries("post_1") == [d1] and len(store.get_deliveries("post_2")) == 1


def test_update_post_bumps_version_and_writes_deliveries_and_events(world, clock):
    store = world.store
    post = add(world, "post_1", accounts=(world.ig,))
    [d_ig] = store.get_deliveries("post_1")
    when = clock.advance(minutes=5)
    # account=None: otherwise the old first target stays first (Post merges `account` into `accounts`).
    edited = replace(post, caption="New words", account=None, accounts=(world.li, world.ig), hashtags=("#new",))
    d_li = Delivery(post_id="post_1", account_id=world.li.id, platform=world.li.platform, due_at=post.due_at,
                    id="dlv_li")
    moved = d_ig.reschedule(due_at=post.due_at + timedelta(hours=1))
    saved = store.update_post(edited, expected_version=1, deliveries=[moved, d_li],
                              events=[event("post_1", when, "edited", from_state="scheduled", to_state="scheduled")])
    assert saved.version == 2 and saved.updated_at == when and saved.created_at == post.created_at
    got = store.get_post("post_1")
    assert got == saved and got.caption == "New words" and [a.id for a in got.accounts] == ["acct_li", "acct_ig"]
    stored = store.get_deliveries("post_1")
    assert [(d.id, d.version) for d in stored] == [(d_ig.id, 2), ("dlv_li", 1)]
    assert stored[0].due_at == post.due_at + timedelta(hours=1) and stored[0].updated_at == when
    [logged] = store.list_events(subject_id="post_1")
    assert (logged.action, logged.from_state, logged.to_state, logged.at) == ("edited", "scheduled", "scheduled", when)
    with pytest.raises(NotFoundError, match="No post with id post_ghost"):
        store.update_post(make_post(world, "post_ghost"), expected_version=1)


def test_update_post_with_a_stale_version_changes_nothing(world, clock):
    store = world.store
    post = add(world, "post_1")
    before_deliveries = store.get_deliveries("post_1")
    store.update_post(replace(post, caption="First writer"), expected_version=1)
    clock.advance(minutes=1)
    late = replace(post, caption="Second writer", account=None, accounts=(world.ig,))
    with pytest.raises(ConflictError, match="post_1 was changed by someone else"):
        store.update_post(late, expected_version=1,
                          deliveries=[before_deliveries[0].cancel()],
                          events=[event("post_1", clock.now, "edited")])
    got = store.get_post("post_1")
    assert got.caption == "First writer" and got.version == 2 and len(got.accounts) == 2
    assert store.get_deliveries("post_1") == before_deliveries
    assert store.list_events(subject_id="post_1") == []


def test_update_post_with_a_stale_delivery_changes_nothing(world, clock):
    store = world.store
    post = add(world, "post_1")
    d0, d1 = store.get_deliveries("post_1")
    store.update_delivery(d0.start_publishing(runner_id="r1", lease_until=T0 + timedelta(days=1, minutes=5)),
                          expected_version=1)
    # An editor who read d0 at version 1 tries to cancel everything.
    with pytest.raises(ConflictError, match=f"Delivery {d0.id} was changed"):
        store.update_post(post.cancel(PostStatus.SCHEDULED), expected_version=1, deliveries=[d0.cancel(), d1.cancel()],
                          events=[event("post_1", clock.now, "cancelled")])
    assert store.get_post("post_1").version == 1 and store.get_post("post_1").state == PostState.APPROVED
    assert [d.state for d in store.get_deliveries("post_1")] == [DeliveryState.PUBLISHING, DeliveryState.QUEUED]
    assert store.list_events(subject_id="post_1") == []


def test_update_delivery_versions_and_events(world, clock):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    [d] = store.get_deliveries("post_1")
    assert d.version == 1
    when = clock.advance(seconds=30)
    claimed = d.start_publishing(runner_id="runner-a", lease_until=when + timedelta(minutes=5), marker="m-1")
    saved = store.update_delivery(claimed, expected_version=1,
                                  events=[event(d.id, when, "publishing", from_state="queued", to_state="publishing",
                                                actor="runner:runner-a", details={"attempt": 1})])
    assert saved.version == 2 and saved.updated_at == when
    assert store.get_delivery(d.id) == saved
    assert (saved.claimed_by, saved.marker, saved.attempts) == ("runner-a", "m-1", 1)
    with pytest.raises(ConflictError, match="was changed by someone else"):
        store.update_delivery(d.start_publishing(runner_id="runner-b", lease_until=when), expected_version=1)
    assert store.get_delivery(d.id).claimed_by == "runner-a"
    with pytest.raises(NotFoundError, match="No delivery with id dlv_ghost"):
        store.update_delivery(replace(d, id="dlv_ghost"), expected_version=1)
    with pytest.raises(NotFoundError):
        store.get_delivery("dlv_ghost")
    [logged] = store.list_events(subject_id=d.id)
    assert logged.actor == "runner:runner-a" and logged.details == {"attempt": 1}


def test_derived_status_follows_the_deliveries(world, clock):
    store = world.store
    add(world, "post_1")
    ig, li = store.get_deliveries("post_1")
    lease = T0 + timedelta(days=1, minutes=5)

    def status():
        s = store.get_post_status("post_1")
        # The status filter agrees with the status (the SQL stores keep it in a column).
        assert [p.id for p in store.list_posts(statuses=[s])] == ["post_1"]
        return s

    assert status() == PostStatus.SCHEDULED
    ig = store.update_delivery(ig.start_publishing(runner_id="r", lease_until=lease), expected_version=ig.version)
    assert status() == PostStatus.PUBLISHING
    ig = store.update_delivery(ig.mark_published(external_id="ig-1", external_url="https://ig/p/1", at=clock.now),
                               expected_version=ig.version)
    assert status() == PostStatus.PUBLISHING  # LinkedIn has not gone out yet
    li = store.update_delivery(li.start_publishing(runner_id="r", lease_until=lease), expected_version=li.version)
    li = store.update_delivery(li.retry_later(at=clock.now + timedelta(minutes=1), error="503"),
                               expected_version=li.version)
    assert status() == PostStatus.PUBLISHING
    li = store.update_delivery(li.mark_failed(error="gave up", code="server_error"), expected_version=li.version)
    assert status() == PostStatus.PARTIALLY_PUBLISHED
    assert store.list_posts(statuses=[PostStatus.SCHEDULED, PostStatus.PUBLISHING]) == []


def test_status_after_editorial_changes(world):
    store = world.store
    post = add(world, "post_1", state=PostState.PENDING_APPROVAL)
    assert store.get_post_status("post_1") == PostStatus.PENDING_APPROVAL
    post = store.update_post(post.approve(PostStatus.PENDING_APPROVAL), expected_version=post.version)
    assert store.get_post_status("post_1") == PostStatus.SCHEDULED
    dlv = [d.cancel() for d in store.get_deliveries("post_1")]
    store.update_post(post.cancel(PostStatus.SCHEDULED), expected_version=post.version, deliveries=dlv)
    assert store.get_post_status("post_1") == PostStatus.CANCELLED
    assert [p.id for p in store.list_posts(statuses=["cancelled"])] == ["post_1"]
    with pytest.raises(NotFoundError):
        store.get_post_status("post_ghost")


def test_list_posts_filters_window_and_order(world):
    store = world.store
    march, april = datetime(2030, 3, 1, tzinfo=UTC), datetime(2030, 4, 1, tzinfo=UTC)
    store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 4), id="batch_1"))
    add(world, "p_mid", at=datetime(2030, 3, 15, 12, tzinfo=UTC), accounts=(world.ig,), batch_id="batch_1")
    add(world, "p_start", at=march, accounts=(world.li,))                              # first instant: in
    add(world, "p_end", at=april, accounts=(world.ig,))                                # the end is exclusive
    add(world, "p_late", at=datetime(2030, 3, 31, 23, 59, tzinfo=UTC), batch_id="batch_1")
    add(world, "p_draft", at=datetime(2030, 3, 20, tzinfo=UTC), state=PostState.DRAFT)
    add(world, "p_unscheduled", at=None, state=PostState.DRAFT)
    add(world, "p_other_ws", at=datetime(2030, 3, 10, tzinfo=UTC), accounts=(world.x_other,))

    ids = lambda posts: [p.id for p in posts]  # noqa: E731
    # Ordered by due time, unscheduled last.
    assert ids(store.list_posts()) == ["p_start", "p_other_ws", "p_mid", "p_draft", "p_late", "p_end",
                                       "p_unscheduled"]
    assert ids(store.list_posts(workspace_id=world.ws.id, start=march, end=april)) == [
        "p_start", "p_mid", "p_draft", "p_late"]
    berlin_april = datetime(2030, 4, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # the same instant as April 1st UTC
    assert ids(store.list_posts(workspace_id=world.ws.id, start=march, end=berlin_april)) == [
        "p_start", "p_mid", "p_draft", "p_late"]
    assert ids(store.list_posts(workspace_id=world.other_ws.id)) == ["p_other_ws"]
    assert ids(store.list_posts(statuses=[PostStatus.DRAFT])) == ["p_draft", "p_unscheduled"]
    assert ids(store.list_posts(statuses={"scheduled"}, account_id=world.li.id)) == ["p_start", "p_late"]
    assert ids(store.list_posts(statuses=[])) == []
    assert ids(store.list_posts(batch_id="batch_1")) == ["p_mid", "p_late"]
    assert ids(store.list_posts(start=datetime(2030, 3, 20, tzinfo=UTC))) == ["p_draft", "p_late", "p_end"]
    assert ids(store.list_posts(limit=2)) == ["p_start", "p_other_ws"]
    assert ids(store.list_posts(limit=2, offset=5)) == ["p_end", "p_unscheduled"]
    assert ids(store.list_posts(offset=10)) == []
    # Every listed post carries its accounts.
    assert [[a.id for a in p.accounts] for p in store.list_posts(batch_id="batch_1")] == [
        ["acct_ig"], ["acct_ig", "acct_li"]]
    with pytest.raises(NaiveDatetimeError):
        store.list_posts(start=datetime(2030, 3, 1))


def test_posts_carry_the_current_account(world):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    store.save_account(replace(world.ig, handle="@acme_new", oauth_token="ig-token-2"))
    [listed] = store.list_posts()
    assert listed.account.handle == "@acme_new" and listed.account.oauth_token == "ig-token-2"
    assert store.get_post("post_1").account == listed.account


def test_deliveries_of_a_page_of_posts_at_once(world):
    store = world.store
    add(world, "post_1")                                # two accounts
    add(world, "post_2", accounts=(world.ig,))
    add(world, "post_3", at=None)                       # a draft without a time has none
    found = store.deliveries_for(["post_1", "post_2", "post_3"])
    assert {pid: [d.id for d in ds] for pid, ds in found.items()} == {
        pid: [d.id for d in store.get_deliveries(pid)] for pid in ("post_1", "post_2", "post_3")}
    assert [len(found[p]) for p in ("post_1", "post_2", "post_3")] == [2, 1, 0]
    assert store.deliveries_for([]) == {}


def test_due_deliveries(world, clock):
    store = world.store
    now = T0 + timedelta(days=2)
    add(world, "p_due", at=now - timedelta(minutes=10), accounts=(world.ig, world.li))
    add(world, "p_exactly_now", at=now, accounts=(world.ig,))
    add(world, "p_future", at=now + timedelta(seconds=1), accounts=(world.ig,))
    add(world, "p_pending", at=now - timedelta(hours=1), state=PostState.PENDING_APPROVAL, accounts=(world.ig,))
    add(world, "p_draft", at=now - timedelta(hours=1), state=PostState.DRAFT, accounts=(world.ig,))
    # A retry waiting since long ago, due again a minute ago: ordered by next attempt, not by due time.
    retry_post = make_post(world, "p_retry", at=now - timedelta(days=1), accounts=(world.li,))
    store.add_post(retry_post, [Delivery(post_id="p_retry", account_id=world.li.id, platform="linkedin",
                                         due_at=retry_post.due_at, id="dlv_retry", state=DeliveryState.RETRY_WAIT,
                                         attempts=1, next_attempt_at=now - timedelta(minutes=1))])
    # A retry not due yet, a delivery already publishing and one already published: not due.
    later = make_post(world, "p_busy", at=now - timedelta(hours=2), accounts=(world.ig, world.li))
    store.add_post(later, [
        Delivery(post_id="p_busy", account_id=world.ig.id, platform="instagram", due_at=later.due_at, id="dlv_wait",
                 state=DeliveryState.RETRY_WAIT, attempts=1, next_attempt_at=now + timedelta(minutes=5)),
        Delivery(post_id="p_busy", account_id=world.li.id, platform="linkedin", due_at=later.due_at, id="dlv_busy",
                 state=DeliveryState.PUBLISHING, attempts=1, claimed_by="r", lease_expires_at=now)])

    due = store.due_deliveries(now)
    assert [d.id for d in due] == ["dlv_p_due_acct_ig", "dlv_p_due_acct_li", "dlv_retry", "dlv_p_exactly_now_acct_ig"]
    assert [d.next_attempt_at for d in due] == sorted(d.next_attempt_at for d in due)
    assert [d.id for d in store.due_deliveries(now, limit=2)] == ["dlv_p_due_acct_ig", "dlv_p_due_acct_li"]
    assert store.due_deliveries(now - timedelta(days=3)) == []
    berlin_now = now.astimezone(timezone(timedelta(hours=1)))
    assert [d.id for d in store.due_deliveries(berlin_now)] == [d.id for d in due]
    with pytest.raises(NaiveDatetimeError):
        store.due_deliveries(now.replace(tzinfo=None))


def test_account_schedule(world, clock):
    store = world.store
    day = datetime(2030, 3, 10, tzinfo=UTC)
    add(world, "p_9", at=day + timedelta(hours=9), accounts=(world.ig, world.li))
    add(world, "p_7", at=day + timedelta(hours=7), accounts=(world.ig,))
    add(world, "p_other_account", at=day + timedelta(hours=8), accounts=(world.li,))
    add(world, "p_next_day", at=day + timedelta(days=1), accounts=(world.ig,))      # end is exclusive
    add(world, "p_before", at=day - timedelta(seconds=1), accounts=(world.ig,))
    add(world, "p_draft", at=day + timedelta(hours=11), state=PostState.DRAFT, accounts=(world.ig,))
    cancelled = add(world, "p_cancelled", at=day + timedelta(hours=10), accounts=(world.ig,))
    store.update_post(cancelled.cancel(PostStatus.SCHEDULED), expected_version=1,
                      deliveries=[d.cancel() for d in store.get_deliveries("p_cancelled")])
    rejected = add(world, "p_rejected", at=day + timedelta(hours=12), state=PostState.PENDING_APPROVAL,
                   accounts=(world.ig,))
    store.update_post(rejected.reject(PostStatus.PENDING_APPROVAL, "no"), expected_version=1)
    # A failed delivery frees its slot; a published one counts at the time it went out.
    failed = add(world, "p_failed", at=day + timedelta(hours=13), accounts=(world.ig,))
    [f] = store.get_deliveries(failed.id)
    f = store.update_delivery(f.start_publishing(runner_id="r", lease_until=day + timedelta(hours=14)),
                              expected_version=1)
    store.update_delivery(f.mark_failed(error="rejected"), expected_version=2)
    published = add(world, "p_published", at=day - timedelta(days=1), accounts=(world.ig,))
    [p] = store.get_deliveries(published.id)
    p = store.update_delivery(p.start_publishing(runner_id="r", lease_until=day), expected_version=1)
    store.update_delivery(p.mark_published(external_id="1", external_url=None, at=day + timedelta(hours=15)),
                          expected_version=2)

    items = store.account_schedule(world.ig.id, day, day + timedelta(days=1))
    assert [(i.post_id, i.at) for i in items] == [
        ("p_7", day + timedelta(hours=7)), ("p_9", day + timedelta(hours=9)), ("p_draft", day + timedelta(hours=11)),
        ("p_published", day + timedelta(hours=15))]
    assert items[0] == ScheduledItem(account_id=world.ig.id, at=day + timedelta(hours=7), caption="Caption of p_7",
                                     post_id="p_7")
    assert [i.post_id for i in store.account_schedule(world.ig.id, day, day + timedelta(days=1),
                                                      exclude_post_id="p_9")] == ["p_7", "p_draft", "p_published"]
    assert [i.post_id for i in store.account_schedule(world.li.id, day, day + timedelta(days=1))] == [
        "p_other_account", "p_9"]
    assert store.account_schedule("acct_nobody", day, day + timedelta(days=1)) == []


# ---------------------------------------------------------------- activity, notifications, batches

def test_events_are_listed_newest_first(world):
    store = world.store
    store.record_event(event("post_1", T0, "created"))
    store.record_event(event("post_1", T0 + timedelta(minutes=2), "approved", actor="user:user_owner",
                             reason="looks good", details={"note": "ok", "at": T0 + timedelta(minutes=2)}))
    store.record_event(event("post_2", T0 + timedelta(minutes=1), "created"))
    store.record_event(event("post_3", T0 + timedelta(minutes=3), "created", workspace_id="ws_other"))
    assert [(e.subject_id, e.action) for e in store.list_events()] == [
        ("post_3", "created"), ("post_1", "approved"), ("post_2", "created"), ("post_1", "created")]
    assert [e.action for e in store.list_events(subject_id="post_1")] == ["approved", "created"]
    assert [e.subject_id for e in store.list_events(workspace_id="ws_acme")] == ["post_1", "post_2", "post_1"]
    assert [e.subject_id for e in store.list_events(workspace_id="ws_acme", subject_id="post_2")] == ["post_2"]
    assert len(store.list_events(limit=2)) == 2
    approved = store.list_events(subject_id="post_1")[0]
    assert (approved.actor, approved.reason) == ("user:user_owner", "looks good")
    assert approved.at == T0 + timedelta(minutes=2)
    assert approved.details["note"] == "ok"


def test_events_of_one_instant_come_back_in_reverse_order_of_writing(world, clock):
    store = world.store
    at = T0
    # Ids against the order of writing: a store that broke ties by id would fail.
    store.record_event(event("post_1", at, "created", id="evt_z"))
    post = make_post(world, "post_1")
    post = store.add_post(post, deliveries_for(post), events=[event("post_1", at, "scheduled", id="evt_m"),
                                                              event("post_1", at, "notified", id="evt_a")])
    store.record_event(event("post_1", at - timedelta(microseconds=1), "drafted", id="evt_0"))  # earlier, written later
    store.record_event(event("post_1", at, "approved", id="evt_b"))
    expected = ["approved", "notified", "scheduled", "created", "drafted"]
    assert [e.action for e in store.list_events(subject_id="post_1")] == expected
    assert [e.action for e in store.list_events(workspace_id="ws_acme")] == expected
    assert [e.id for e in store.list_events(limit=2)] == ["evt_b", "evt_a"]
    # Many in one write keep their order too.
    many = [event("post_1", at + timedelta(minutes=1), f"step_{n:02}", id=f"evt_step_{99 - n:02}") for n in range(25)]
    store.update_post(post, expected_version=1, events=many)
    assert [e.action for e in store.list_events(subject_id="post_1", limit=25)] == [
        f"step_{n:02}" for n in reversed(range(25))]


def test_events_are_written_with_the_post(world, clock):
    post = make_post(world, "post_1")
    world.store.add_post(post, deliveries_for(post),
                         events=[event("post_1", clock.now, "created", to_state="scheduled")])
    [logged] = world.store.list_events(subject_id="post_1")
    assert logged.to_state == "scheduled" and logged.workspace_id == "ws_acme"


def test_notifications(world, clock):
    store = world.store
    everyone = store.add_notification(Notification(workspace_id=world.ws.id, kind="publish_failed",
                                                   title="A post failed", body="LinkedIn said no", id="n_all",
                                                   subject_id="post_1"))
    assert everyone.created_at == clock.now
    clock.advance(minutes=1)
    store.add_notification(Notification(workspace_id=world.ws.id, kind="approval_needed", title="Please approve",
                                        user_id=world.owner.id, id="n_owner"))
    clock.advance(minutes=1)
    store.add_notification(Notification(workspace_id=world.ws.id, kind="approval_needed", title="For someone else",
                                        user_id="user_else", id="n_else"))
    store.add_notification(Notification(workspace_id=world.other_ws.id, kind="x", title="Elsewhere", id="n_other"))

    ids = lambda ns: [n.id for n in ns]  # noqa: E731
    assert ids(store.list_notifications(workspace_id=world.ws.id)) == ["n_else", "n_owner", "n_all"]
    assert ids(store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id)) == ["n_owner", "n_all"]
    assert ids(store.list_notifications(workspace_id=world.ws.id, limit=1)) == ["n_else"]
    assert store.list_notifications(workspace_id=world.ws.id)[-1] == everyone
    store.mark_notification_read("n_all", clock.now.astimezone(timezone(timedelta(hours=-5))))
    assert ids(store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id, unread_only=True)) == [
        "n_owner"]
    read = store.list_notifications(workspace_id=world.ws.id, user_id=world.owner.id)[-1]
    assert read.read_at == clock.now and read.read_at.utcoffset() == timedelta(0)
    with pytest.raises(NotFoundError, match="No notification with id n_ghost"):
        store.mark_notification_read("n_ghost", clock.now)


def test_batches(world, clock):
    store = world.store
    first = store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 4), prompt="spring", id="b1"))
    assert first.created_at == clock.now and first.state == BatchState.PENDING_APPROVAL
    store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 11), id="b2"))
    store.save_batch(Batch(workspace_id=world.other_ws.id, week_start=date(2030, 3, 18), id="b3"))
    assert store.get_batch("b1") == first
    decided = store.save_batch(replace(first, state=BatchState.APPROVED, decided_at=clock.now,
                                       decided_by=world.owner.id))
    assert store.get_batch("b1") == decided
    assert [b.id for b in store.list_batches(workspace_id=world.ws.id)] == ["b2", "b1"]
    with pytest.raises(NotFoundError, match="No batch with id b_ghost"):
        store.get_batch("b_ghost")
    with pytest.raises(NotFoundError, match="No workspace"):
        store.save_batch(Batch(workspace_id="ws_ghost", week_start=date(2030, 3, 4)))

"""Who may do what: every public Scheduler operation and account service × every role × own/other workspace.

Each row says which roles may do the operation in their own workspace; in another workspace every role is
refused. A refusal is a PermissionDenied (or, for a list, the other workspace's posts are not in it) and
leaves the store exactly as it was. A public Scheduler method or account service without a row fails
`test_every_public_operation_has_a_row`: a new operation must say who may call it.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

import core.accounts
from core.accounts import add_account, edit_account
from core.domain import Account, Delivery, Post, Role, Schedule, Workspace
from core.errors import PermissionDenied
from core.lifecycle import DeliveryState, PostState
from core.permissions import SCRIPT, Action, Actor, allows, check, roles_allowed
from core.scheduler import Scheduler
from core.store import InMemoryPostStore

NOW = datetime(2030, 3, 4, 8, 0, tzinfo=timezone.utc)  # a Monday
OWNER, EDITOR, APPROVER, VIEWER = Role.OWNER, Role.EDITOR, Role.APPROVER, Role.VIEWER
EVERYONE = frozenset(Role)
WRITERS = frozenset({OWNER, EDITOR})
APPROVERS = frozenset({OWNER, APPROVER})


@dataclass
class Target:
    """What one row acts on, made in one workspace by a script."""

    ws: str
    account: Account
    post_id: str | None = None
    delivery_id: str | None = None
    fresh: Post | None = None      # a post not stored yet (for the creating operations)


@dataclass
class World:
    store: InMemoryPostStore
    own: str
    other: str
    accounts: dict[str, Account]

    def scheduler(self, actor: Actor = SCRIPT) -> Scheduler:
        return Scheduler(self.store, clock=lambda: NOW, actor=actor)


@pytest.fixture
def world() -> World:
    store = InMemoryPostStore(clock=lambda: NOW)
    own = store.add_workspace(Workspace(name="Our brand")).id
    other = store.add_workspace(Workspace(name="Someone else's brand")).id
    accounts = {ws: store.save_account(Account(platform="linkedin", handle=f"@{ws}", workspace_id=ws))
                for ws in (own, other)}
    return World(store, own, other, accounts)


def at(hours: float) -> Schedule:
    return Schedule(scheduled_at=NOW + timedelta(hours=hours), timezone_name="UTC")


# ---------------------------------------------------------------- what each row starts from (made by a script)
def _post(w: World, ws: str, caption: str = "Hello") -> Post:
    return Post(accounts=[w.accounts[ws]], caption=caption, workspace_id=ws, schedule=at(24))


def fresh(w: World, ws: str) -> Target:
    return Target(ws, w.accounts[ws], fresh=_post(w, ws, "A new one"))


def scheduled(w: World, ws: str) -> Target:
    w.scheduler().schedule_post(f"sched-{ws}", _post(w, ws))
    return Target(ws, w.accounts[ws], post_id=f"sched-{ws}")


def draft(w: World, ws: str) -> Target:
    w.scheduler().save_draft(f"draft-{ws}", _post(w, ws))
    return Target(ws, w.accounts[ws], post_id=f"draft-{ws}")


def pending(w: World, ws: str) -> Target:
    w.scheduler().schedule_post(f"pending-{ws}", _post(w, ws), submit_for_approval=True)
    return Target(ws, w.accounts[ws], post_id=f"pending-{ws}")


def due_now(w: World, ws: str) -> Target:
    result = w.scheduler().schedule_post(f"due-{ws}", replace(_post(w, ws), schedule=at(-0.1)))
    return Target(ws, w.accounts[ws], post_id=f"due-{ws}", delivery_id=result.deliveries[0].id)


def in_review(w: World, ws: str) -> Target:
    """A delivery the runner could not confirm (the answer was lost): a person decides."""
    acct = w.accounts[ws]
    post = Post(caption="Hello", accounts=(acct,), schedule=Schedule(scheduled_at=NOW), workspace_id=ws,
                state=PostState.APPROVED, id=f"review-{ws}")
    w.store.add_post(post, [Delivery(post_id=post.id, account_id=acct.id, platform="linkedin", due_at=NOW,
                                     id=f"d-{ws}")])
    [claimed] = [d for d in w.store.claim_due(NOW, runner_id="r", lease_until=NOW + timedelta(minutes=2))
                 if d.id == f"d-{ws}"]
    w.store.save_progress(claimed.id, "r", "sent", NOW.isoformat())
    w.store.finish_delivery(claimed.needs_review(evidence="The answer was lost."), runner_id="r")
    assert w.store.get_delivery(claimed.id).state == DeliveryState.NEEDS_REVIEW
    return Target(ws, acct, post_id=post.id, delivery_id=claimed.id)


def account_only(w: World, ws: str) -> Target:
    return Target(ws, w.accounts[ws])


@dataclass(frozen=True)
class Row:
    allowed: frozenset[Role]                    # who may, in their own workspace
    setup: Callable[[World, str], Target]
    call: Callable[[Scheduler | World, Actor, Target], Any]
    # For reads that filter: whether the result shows the target (a hidden target is a refusal).
    shows: Callable[[Any, Target], bool] | None = None


def _s(fn):
    """A Scheduler operation: run it on a Scheduler acting as `actor`."""
    return lambda w, actor, t: fn(w.scheduler(actor), t)


# ---------------------------------------------------------------- the table
SCHEDULER_TABLE: dict[str, Row] = {
    # creating and changing posts: owners and editors
    "schedule_post": Row(WRITERS, fresh, _s(lambda s, t: s.schedule_post(f"new-{t.ws}", t.fresh))),
    "save_draft": Row(WRITERS, fresh, _s(lambda s, t: s.save_draft(f"new-{t.ws}", t.fresh))),
    "add_to_queue": Row(WRITERS, fresh, _s(lambda s, t: s.add_to_queue(f"new-{t.ws}", t.fresh))),
    "reschedule": Row(WRITERS, scheduled, _s(lambda s, t: s.reschedule(t.post_id, NOW + timedelta(days=2)))),
    "edit": Row(WRITERS, scheduled, _s(lambda s, t: s.edit(t.post_id, caption="Changed"))),
    "submit": Row(WRITERS, draft, _s(lambda s, t: s.submit(t.post_id))),
    "revise": Row(WRITERS, pending, _s(lambda s, t: s.revise(t.post_id))),
    # approving: owners and approvers
    "approve": Row(APPROVERS, pending, _s(lambda s, t: s.approve(t.post_id))),
    "reject": Row(APPROVERS, pending, _s(lambda s, t: s.reject(t.post_id, "off-brand"))),
    # stopping a post: whoever may write or approve it
    "cancel": Row(frozenset({OWNER, EDITOR, APPROVER}), scheduled, _s(lambda s, t: s.cancel(t.post_id, "typo"))),
    # settling what the runner could not: owners and editors (the Posts page's "Needs your attention")
    "confirm_published": Row(WRITERS, in_review, _s(lambda s, t: s.confirm_published(t.delivery_id))),
    "give_up": Row(WRITERS, in_review, _s(lambda s, t: s.give_up(t.delivery_id))),
    "try_again": Row(WRITERS, in_review, _s(lambda s, t: s.try_again(t.delivery_id))),
    # reading: every member; another workspace is refused or left out
    "get": Row(EVERYONE, scheduled, _s(lambda s, t: s.get(t.post_id))),
    "status": Row(EVERYONE, scheduled, _s(lambda s, t: s.status(t.post_id))),
    "list_posts": Row(EVERYONE, scheduled, _s(lambda s, t: s.list_posts()),
                      shows=lambda r, t: t.post_id in {p.id for p in r}),
    "list_posts(workspace_id)": Row(EVERYONE, scheduled, _s(lambda s, t: s.list_posts(workspace_id=t.ws)),
                                    shows=lambda r, t: t.post_id in {p.id for p in r}),
    "upcoming": Row(EVERYONE, scheduled, _s(lambda s, t: s.upcoming()),
                    shows=lambda r, t: t.post_id in {p.id for p in r}),
    "upcoming(workspace_id)": Row(EVERYONE, scheduled, _s(lambda s, t: s.upcoming(workspace_id=t.ws)),
                                  shows=lambda r, t: t.post_id in {p.id for p in r}),
    "due": Row(EVERYONE, due_now, _s(lambda s, t: s.due()), shows=lambda r, t: t.delivery_id in {d.id for d in r}),
}

ACCOUNT_TABLE: dict[str, Row] = {
    "add_account": Row(frozenset({OWNER}), account_only, lambda w, actor, t: add_account(
        w.store, actor, Account(platform="x", handle="@practice", workspace_id=t.ws), clock=lambda: NOW)),
    "edit_account": Row(frozenset({OWNER}), account_only, lambda w, actor, t: edit_account(
        w.store, actor, t.account.id, daily_cap=1, clock=lambda: NOW)),
}
TABLE = {**SCHEDULER_TABLE, **ACCOUNT_TABLE}


def snapshot(store: InMemoryPostStore):
    """Everything an operation could write, through the store's public reads."""
    posts = {p.id: p for p in store.list_posts()}
    workspaces = {p.workspace_id for p in posts.values() if p.workspace_id}
    return (posts, store.deliveries_for(list(posts)), store.list_events(), store.list_accounts(),
            [n for ws in workspaces for n in store.list_notifications(workspace_id=ws)])


def attempt(row: Row, w: World, actor: Actor, target: Target) -> bool:
    """True if the operation went through (and showed the target, for a filtering read)."""
    try:
        result = row.call(w, actor, target)
    except PermissionDenied:
        return False
    return row.shows(result, target) if row.shows else True


# ---------------------------------------------------------------- the matrix
@pytest.mark.parametrize("where", ["own", "other"])
@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("operation", list(TABLE))
def test_matrix(world, operation, role, where):
    row = TABLE[operation]
    target = row.setup(world, world.own if where == "own" else world.other)
    actor = Actor.for_user("user_1", {world.own: role})      # a member of their own workspace only
    before = snapshot(world.store)
    went_through = attempt(row, world, actor, target)
    expected = where == "own" and role in row.allowed
    assert went_through == expected, f"{operation} by a {role} in {where} workspace"
    if not went_through:
        assert snapshot(world.store) == before, f"{operation} by a {role} wrote something while refused"


def test_every_public_operation_has_a_row():
    public = {name for name, _ in inspect.getmembers(Scheduler, inspect.isfunction) if not name.startswith("_")}
    rows = {name.split("(")[0] for name in SCHEDULER_TABLE}
    assert public == rows, f"Scheduler operations without a row: {public - rows}; rows for nothing: {rows - public}"
    assert set(core.accounts.__all__) == set(ACCOUNT_TABLE)


@pytest.mark.parametrize("operation", list(TABLE))
def test_a_system_actor_may_do_everything_everywhere(world, operation):
    row = TABLE[operation]
    for ws in (world.own, world.other):
        assert attempt(row, world, Actor.system("test-script"), row.setup(world, ws))


# ---------------------------------------------------------------- the words and the rules around the table
@pytest.mark.parametrize("role, action, message", [
    (VIEWER, Action.APPROVE, "Viewers cannot approve or reject posts; ask an owner or approver."),
    (APPROVER, Action.EDIT_POSTS, "Approvers cannot write or change posts; ask an owner or editor."),
    (EDITOR, Action.CONNECT_ACCOUNTS, "Editors cannot connect or change accounts; ask an owner."),
    (VIEWER, Action.CANCEL, "Viewers cannot cancel posts; ask an owner, editor or approver."),
])
def test_refusals_say_who_to_ask(role, action, message):
    with pytest.raises(PermissionDenied) as refused:
        check(Actor.for_user("u", {"ws_1": role}), action, "ws_1")
    assert str(refused.value) == message and refused.value.code == "role"


def test_another_workspace_is_named_as_such(world):
    target = scheduled(world, world.other)
    with pytest.raises(PermissionDenied, match="^This post belongs to another workspace.$"):
        world.scheduler(Actor.for_user("u", {world.own: OWNER})).approve(target.post_id)


def test_the_table_is_the_roles_own_properties():
    for role in Role:
        assert allows(role, Action.EDIT_POSTS) == role.can_edit
        assert allows(role, Action.APPROVE) == role.can_approve
        assert allows(role, Action.CONNECT_ACCOUNTS) == role.can_connect_accounts
        assert allows(role, Action.MANAGE_MEMBERS) == role.can_manage_workspace
    assert roles_allowed(Action.VIEW) == tuple(Role)


def test_posts_without_a_workspace_are_for_scripts_only(world):
    script = world.scheduler()
    script.schedule_post("loose", Post(account=Account(platform="x", handle="@loose"), caption="Hi", schedule=at(3)))
    person = world.scheduler(Actor.for_user("u", {world.own: OWNER}))
    with pytest.raises(PermissionDenied, match="belongs to no workspace"):
        person.get("loose")
    assert "loose" not in {p.id for p in person.list_posts()}
    assert script.get("loose").id == "loose"


def test_a_person_cannot_schedule_through_another_workspaces_account(world):
    person = world.scheduler(Actor.for_user("u", {world.own: OWNER}))
    post = Post(accounts=[world.accounts[world.other]], caption="Hi", workspace_id=world.own, schedule=at(3))
    before = snapshot(world.store)
    with pytest.raises(PermissionDenied, match="This account belongs to another workspace"):
        person.schedule_post("p", post)
    scheduled(world, world.own)
    with pytest.raises(PermissionDenied, match="This account belongs to another workspace"):
        person.edit(f"sched-{world.own}", accounts=[world.accounts[world.other]])
    assert world.store.get_post(f"sched-{world.own}").accounts[0].id == world.accounts[world.own].id
    assert before[3] == world.store.list_accounts()


def test_an_editor_cannot_add_an_account_by_scheduling_to_it(world):
    editor = world.scheduler(Actor.for_user("u", {world.own: EDITOR}))
    post = Post(account=Account(platform="x", handle="@new", workspace_id=world.own), caption="Hi",
                workspace_id=world.own, schedule=at(3))
    with pytest.raises(PermissionDenied, match="Editors cannot connect or change accounts"):
        editor.schedule_post("p", post)
    assert len(world.store.list_accounts()) == 2


def test_events_name_the_person(world):
    target = pending(world, world.own)
    world.scheduler(Actor.for_user("user_7", {world.own: APPROVER})).approve(target.post_id)
    [event] = [e for e in world.store.list_events(subject_id=target.post_id) if e.action == "post.approved"]
    assert event.actor == "user:user_7"
    add_account(world.store, Actor.for_user("user_8", {world.own: OWNER}),
                Account(platform="x", handle="@practice", workspace_id=world.own), clock=lambda: NOW)
    [added] = [e for e in world.store.list_events(workspace_id=world.own) if e.action == "account.added"]
    assert added.actor == "user:user_8" and added.details["handle"] == "@practice"


def test_the_scheduler_takes_an_actor_not_a_string():
    with pytest.raises(TypeError, match="Actor.for_user"):
        Scheduler(InMemoryPostStore(), actor="user:someone")

"""Who may do what: every public service operation × every role × own/other workspace.

The services: Scheduler, core.services.accounts, core.services.views (what the pages read), connecting accounts
(ConnectService, PasswordConnectService), core.services.members, core.services.notifications (marking one read) and
core.services.analytics (the Analytics page's figures, exports and SQL box), core.services.best_time (best times to
post) and core.services.demo (the sandbox's demo data). Each row says which roles may do the
operation in their own workspace; in another workspace every role is refused. A refusal is a PermissionDenied (or,
for a list, the other workspace's posts are not in it) and leaves the store exactly as it was. A public operation
without a row fails `test_every_public_operation_has_a_row`: a new operation must say who may call it. The pages and
app.py pass the signed-in person to every service they call (`test_pages_say_who_acts`).
"""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

import core.services.accounts
import core.services.analytics
import core.services.approvals
import core.services.composer_drafts
import core.services.best_time
import core.services.demo
import core.services.invitations
import core.services.members
import core.services.notifications
import core.services.status
import core.services.views
import core.services.workspaces
from core.services.accounts import add_account, edit_account
from core.services.connect import ConnectService
from core.services.connect_password import APP_PASSWORD, PasswordConnectService
from core.domain import Account, AccountStatus, Delivery, Membership, Notification, Post, Role, Schedule, User, Workspace
from core.domain.errors import NotFoundError, PermissionDenied
from core.domain.lifecycle import DeliveryState, PostState
from core.rules.permissions import SCRIPT, Action, Actor, allows, check, roles_allowed
from core.platforms.base import Profile, TokenSet
from core.domain.catalog import Platform
from core.services.scheduler import Scheduler
from core.store import InMemoryPostStore
from core.store.people import KeptDraft

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
    extra: dict[str, str] = field(default_factory=dict)


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


def blocked(w: World, ws: str) -> Target:
    """A scheduled post whose account needs reconnecting (it cannot post)."""
    target = scheduled(w, ws)
    w.store.save_account(replace(w.store.get_account(target.account.id), status=AccountStatus.RECONNECT_NEEDED))
    return target


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


def held(w: World, ws: str) -> Target:
    """An account the runner holds back for an hour (a platform's limit)."""
    w.store.hold_account(w.accounts[ws].id, NOW + timedelta(hours=1), "The platform's limit.")
    return Target(ws, w.accounts[ws])


def noted(w: World, ws: str) -> Target:
    """A notification for everyone in the workspace."""
    note = w.store.add_notification(Notification(workspace_id=ws, kind="approval_needed", title="Hello",
                                                 created_at=NOW))
    return Target(ws, w.accounts[ws], extra={"notification_id": note.id})


# The person every row acts as ("user_1"), as the store knows them: an owner of the workspace the row acts on,
# so the connect services' second look at the store (when a connection completes) agrees with the first.
PERSON = "user_1"


def _person_owns(w: World, ws: str) -> None:
    try:
        w.store.get_user(PERSON)
    except KeyError:
        w.store.add_user(User(email="person@example.com", id=PERSON))
    w.store.set_membership(Membership(user_id=PERSON, workspace_id=ws, role=OWNER))


class FakePlatform:
    """Just enough of a platform adapter for the connect services: it always allows access."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self.connect_with = APP_PASSWORD if platform == Platform.BLUESKY else "oauth"
        self.oauth = type("OAuth", (), {"pkce": False})()

    def authorization_url(self, *, state: str, code_challenge: str | None = None) -> str:
        return f"https://consent.example/?state={state}"

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        return TokenSet(access_token="access", refresh_token="refresh")

    def login(self, identifier: str, password: str) -> TokenSet:
        return TokenSet(access_token="access", refresh_token="refresh")

    def missing_scopes(self, token: TokenSet) -> list[str]:
        return []

    def fetch_profile(self, token: TokenSet) -> Profile:
        return Profile(external_id="ext-1", handle="@connected")


def connect_service(w: World) -> ConnectService:
    return ConnectService(w.store, FakePlatform, clock=lambda: NOW)


def connectable(w: World, ws: str) -> Target:
    _person_owns(w, ws)
    return Target(ws, w.accounts[ws])


def started(w: World, ws: str) -> Target:
    """A connection the person started while an owner there: their role now decides whether it completes."""
    _person_owns(w, ws)
    url = connect_service(w).start(actor=Actor.for_user(PERSON, {ws: OWNER}), workspace_id=ws, platform="linkedin")
    return Target(ws, w.accounts[ws], extra={"state": parse_qs(urlsplit(url).query)["state"][0]})


def team(w: World, ws: str) -> Target:
    """A member (an editor) and someone who signed up but is not in the workspace."""
    member = w.store.add_user(User(email=f"member-{ws}@example.com", id=f"member-{ws}"))
    w.store.add_user(User(email=f"newcomer-{ws}@example.com", id=f"newcomer-{ws}"))
    w.store.set_membership(Membership(user_id=member.id, workspace_id=ws, role=EDITOR))
    return Target(ws, w.accounts[ws], extra={"member": member.id, "newcomer": f"newcomer-{ws}@example.com"})


@dataclass(frozen=True)
class Row:
    allowed: frozenset[Role]                    # who may, in their own workspace
    setup: Callable[[World, str], Target]
    call: Callable[[Scheduler | World, Actor, Target], Any]
    # For reads that filter: whether the result shows the target (a hidden target is a refusal).
    shows: Callable[[Any, Target], bool] | None = None
    # Only a person can do it (connecting an account: the platform asks a person); system actors are refused.
    people_only: bool = False


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
    "schedule_draft": Row(WRITERS, draft, _s(lambda s, t: s.schedule_draft(t.post_id))),
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
    # disconnecting and lifting a hold change the account: owners, as connecting does
    "disconnect_impact": Row(frozenset({OWNER}), scheduled, lambda w, actor, t: core.services.accounts.disconnect_impact(
        w.store, actor, t.account.id)),
    "disconnect_account": Row(frozenset({OWNER}), scheduled, lambda w, actor, t: core.services.accounts.disconnect_account(
        w.store, actor, t.account.id, clock=lambda: NOW)),
    "lift_hold": Row(frozenset({OWNER}), held, lambda w, actor, t: core.services.accounts.lift_hold(
        w.store, actor, t.account.id, clock=lambda: NOW)),
    # every member sees each account's health
    "account_health_list": Row(EVERYONE, account_only, lambda w, actor, t: core.services.accounts.account_health_list(
        w.store, actor, t.ws, now=NOW), shows=lambda r, t: t.account.id in {h.account.id for h in r}),
}
# A workspace's settings: every member reads them and sees what a new timezone would do; owners change them.
WORKSPACE_TABLE: dict[str, Row] = {
    "settings_of": Row(EVERYONE, account_only, lambda w, actor, t: core.services.workspaces.settings_of(
        w.store, actor, t.ws)),
    "timezone_change_impact": Row(EVERYONE, scheduled, lambda w, actor, t: core.services.workspaces.
                                  timezone_change_impact(w.store, actor, t.ws, "Asia/Tokyo", now=NOW)),
    "update_settings": Row(frozenset({OWNER}), account_only, lambda w, actor, t: core.services.workspaces.
                           update_settings(w.store, actor, t.ws, {"timezone_name": "Asia/Tokyo"}, clock=lambda: NOW)),
}

def _v(name: str, **kwargs):
    """A core.services.views query on the target's workspace, as the pages call it."""
    return lambda w, actor, t: getattr(core.services.views, name)(w.store, t.ws, actor=actor, **kwargs)


VIEW_TABLE: dict[str, Row] = {
    # every member reads their workspace; another workspace is refused before anything is read
    "workspace_accounts": Row(EVERYONE, account_only, _v("workspace_accounts"),
                              shows=lambda r, t: t.account.id in {a.id for a in r}),
    "post_rows": Row(EVERYONE, scheduled, _v("post_rows", tz_name="UTC"),
                     shows=lambda r, t: t.post_id in {row["id"] for row in r}),
    "post_list": Row(EVERYONE, scheduled, _v("post_list", tz_name="UTC", section="upcoming", now=NOW),
                     shows=lambda r, t: t.post_id in {row["id"] for row in r.rows}),
    "has_posts": Row(EVERYONE, scheduled, _v("has_posts"), shows=lambda r, t: r is True),
    "data_version": Row(EVERYONE, scheduled, _v("data_version"), shows=lambda r, t: r != "-"),
    "blocked_rows": Row(EVERYONE, blocked, _v("blocked_rows", tz_name="UTC", now=NOW),
                        shows=lambda r, t: t.account.id in {row["account_id"] for row in r}),
    "attention_rows": Row(EVERYONE, in_review, _v("attention_rows", tz_name="UTC"),
                          shows=lambda r, t: t.delivery_id in {row["delivery_id"] for row in r}),
    "account_rows": Row(EVERYONE, account_only, _v("account_rows", tz_name="UTC", now=NOW),
                        shows=lambda r, t: t.account.handle in {row["Account"] for row in r}),
    "activity_rows": Row(EVERYONE, scheduled, _v("activity_rows", tz_name="UTC"),
                         shows=lambda r, t: any(t.post_id in row["subject"] for row in r)),
    "notification_rows": Row(EVERYONE, noted, _v("notification_rows", tz_name="UTC"),
                             shows=lambda r, t: t.extra["notification_id"] in {row["id"] for row in r}),
}
# Not workspace data: where the dashboard learns who acts (the person's own record and memberships).
NOT_A_WORKSPACE_READ = {"signed_in", "PostList", "UPCOMING", "PAST"}     # a person's own reads; a result; names

CONNECT_TABLE: dict[str, Row] = {
    # connecting accounts: owners, at the start and again when the connection completes
    "ConnectService.start": Row(frozenset({OWNER}), connectable, lambda w, actor, t: connect_service(w).start(
        actor=actor, workspace_id=t.ws, platform="linkedin"), people_only=True),
    "ConnectService.finish": Row(frozenset({OWNER}), started, lambda w, actor, t: connect_service(w).finish(
        actor=actor, state=t.extra["state"], code="ok"), people_only=True),
    "PasswordConnectService.connect": Row(frozenset({OWNER}), connectable, lambda w, actor, t: PasswordConnectService(
        w.store, FakePlatform, clock=lambda: NOW).connect(actor=actor, workspace_id=t.ws, platform="bluesky",
                                                          identifier="brand.bsky.social", password="app-password"),
        people_only=True),
}

MEMBER_TABLE: dict[str, Row] = {
    # every member sees who is in the team (refusals say "ask an owner"); owners change it
    "list_members": Row(EVERYONE, team, lambda w, actor, t: core.services.members.list_members(w.store, actor, t.ws),
                        shows=lambda r, t: t.extra["member"] in {m.user_id for m in r}),
    "add_member": Row(frozenset({OWNER}), team, lambda w, actor, t: core.services.members.add_member(
        w.store, actor, t.ws, t.extra["newcomer"], Role.VIEWER, clock=lambda: NOW)),
    "change_role": Row(frozenset({OWNER}), team, lambda w, actor, t: core.services.members.change_role(
        w.store, actor, t.ws, t.extra["member"], Role.APPROVER, clock=lambda: NOW)),
    "remove_member": Row(frozenset({OWNER}), team, lambda w, actor, t: core.services.members.remove_member(
        w.store, actor, t.ws, t.extra["member"], clock=lambda: NOW)),
}
def invited(w: World, ws: str) -> Target:
    """A pending invitation to the workspace, made by its owner."""
    inviter = w.store.add_user(User(email=f"inviter-{ws}@example.com", id=f"inviter-{ws}"))
    w.store.set_membership(Membership(user_id=inviter.id, workspace_id=ws, role=Role.OWNER))
    owner = Actor.for_user(inviter.id, {ws: Role.OWNER})
    made = core.services.invitations.invite_member(w.store, owner, ws, f"invitee-{ws}@example.com", Role.EDITOR,
                                                   now=NOW)
    return Target(ws, w.accounts[ws], extra={"invitation_id": made.invitation.id, "email": f"invitee-{ws}@example.com"})


INVITATION_TABLE: dict[str, Row] = {
    # owners invite, see the pending invitations (they hold people's emails) and withdraw them
    "invite_member": Row(frozenset({OWNER}), team, lambda w, actor, t: core.services.invitations.invite_member(
        w.store, actor, t.ws, f"someone-{t.ws}@example.com", Role.VIEWER, now=NOW)),
    "pending_invitations": Row(frozenset({OWNER}), invited, lambda w, actor, t:
                               core.services.invitations.pending_invitations(w.store, actor, t.ws, now=NOW),
                               shows=lambda r, t: t.extra["invitation_id"] in {i.id for i in r}),
    "revoke_invitation": Row(frozenset({OWNER}), invited, lambda w, actor, t:
                             core.services.invitations.revoke_invitation(w.store, actor, t.ws,
                                                                         t.extra["invitation_id"], now=NOW)),
}
NOTIFICATION_TABLE: dict[str, Row] = {
    # every member marks what is addressed to them or to everyone (a notification for someone else: below)
    "mark_read": Row(EVERYONE, noted, lambda w, actor, t: core.services.notifications.mark_read(
        w.store, t.ws, t.extra["notification_id"], actor=actor, clock=lambda: NOW)),
}
APPROVAL_TABLE: dict[str, Row] = {
    # every member sees the queue; owners and approvers approve (one or a batch) and reject
    "approval_queue": Row(EVERYONE, pending, lambda w, actor, t: core.services.approvals.approval_queue(
        w.store, t.ws, actor=actor, clock=lambda: NOW), shows=lambda r, t: t.post_id in r.groups[0].post_ids),
    "approve(approvals)": Row(APPROVERS, pending, lambda w, actor, t: core.services.approvals.approve(
        w.store, t.ws, t.post_id, actor=actor, clock=lambda: NOW)),
    "approve_batch": Row(APPROVERS, pending, lambda w, actor, t: core.services.approvals.approve_batch(
        w.store, t.ws, None, actor=actor, clock=lambda: NOW)),
    "reject(approvals)": Row(APPROVERS, pending, lambda w, actor, t: core.services.approvals.reject(
        w.store, t.ws, t.post_id, "Off-brand.", actor=actor, clock=lambda: NOW)),
}
# The Activity page's reads (core.services.status): every member; another workspace is refused.
STATUS_TABLE: dict[str, Row] = {
    "automation_status": Row(EVERYONE, due_now, lambda w, actor, t: core.services.status.automation_status(
        w.store, t.ws, now=NOW, actor=actor), shows=lambda r, t: r.due_now == 1),
    "activity_log": Row(EVERYONE, scheduled, lambda w, actor, t: core.services.status.activity_log(
        w.store, t.ws, actor=actor), shows=lambda r, t: t.post_id in r.post_ids),
    "unread_count": Row(EVERYONE, noted, lambda w, actor, t: core.services.status.unread_count(
        w.store, t.ws, actor=actor), shows=lambda r, t: r == 1),
}

def analysed(w: World, ws: str) -> Target:
    """A published post of `ws` with its figures, in an analytics engine of its own (DuckDB in memory)."""
    from core.analytics.engine import AnalyticsEngine
    engine = AnalyticsEngine.in_memory()
    con = engine.cursor()
    acct = w.accounts[ws]
    con.execute("INSERT INTO workspaces VALUES (1, ?, 'Brand', 'UTC')", [ws])
    con.execute("INSERT INTO accounts (akey, account_id, wkey, workspace_id, platform, handle) VALUES "
                "(1, ?, 1, ?, 'linkedin', ?)", [acct.id, ws, acct.handle])
    con.execute("INSERT INTO posts (post_id, wkey, workspace_id, caption, is_demo) VALUES (?, 1, ?, 'Hello', false)",
                [f"post-{ws}", ws])
    con.execute("INSERT INTO deliveries (dkey, delivery_id, post_id, akey, wkey, account_id, workspace_id, platform, "
                "state, due_at, published_at, attempts) VALUES (1, ?, ?, 1, 1, ?, ?, 'linkedin', 'published', ?, ?, 1)",
                [f"d-{ws}", f"post-{ws}", acct.id, ws, NOW - timedelta(hours=5), NOW - timedelta(hours=5)])
    con.execute("INSERT INTO post_snapshots (seq, dkey, akey, wkey, taken_at, reach, likes) "
                "VALUES (1, 1, 1, 1, ?, 100, 7)", [NOW - timedelta(hours=4)])
    con.close()
    return Target(ws, acct, post_id=f"post-{ws}", delivery_id=f"d-{ws}", extra={"engine": engine})


def _a(name: str, *args, **kwargs):
    """A core.services.analytics operation over the target's workspace: the last day, as the page asks."""
    def call(w: World, actor: Actor, t: Target):
        from core.analytics.queries import Filters
        f = Filters(t.ws, NOW - timedelta(days=1), NOW)
        fn = getattr(core.services.analytics, name)
        if name in ("run_query", "export_csv"):
            return fn(t.extra["engine"], actor, *args, f, **kwargs)
        return fn(t.extra["engine"], actor, t.ws, *args, **kwargs)
    return call


# The Analytics page's reads: every member (a viewer too); another workspace is refused before anything is read.
ANALYTICS_TABLE: dict[str, Row] = {
    "run_query": Row(EVERYONE, analysed, _a("run_query", "post_table"),
                     shows=lambda r, t: t.delivery_id in set(r["delivery_id"])),
    "export_csv": Row(EVERYONE, analysed, _a("export_csv", "post_table"),
                      shows=lambda r, t: t.delivery_id.encode() in r),
    "export_parquet": Row(EVERYONE, analysed, _a("export_parquet"), shows=lambda r, t: r[:4] == b"PAR1"),
    "run_sql": Row(EVERYONE, analysed, _a("run_sql", "SELECT count(*) AS n FROM posts"),
                   shows=lambda r, t: list(r.df["n"]) == [1]),
}


def _b(name: str):
    """A core.services.best_time operation over the target's workspace and its analytics engine."""
    def call(w: World, actor: Actor, t: Target):
        fn = getattr(core.services.best_time, name)
        if name == "suggest_times":
            return fn(t.extra["engine"], w.store, actor, t.ws, [t.account.id], now=NOW)
        return fn(t.extra["engine"], w.store, actor, t.ws, now=NOW)
    return call


# Best times to post (Analytics, Compose's suggested time, Settings' queue slots): every member reads them.
BEST_TIME_TABLE: dict[str, Row] = {
    "best_times": Row(EVERYONE, analysed, _b("best_times"), shows=lambda r, t: r.tz_name == "UTC"),
    "suggest_times": Row(EVERYONE, analysed, _b("suggest_times"), shows=lambda r, t: r.recommendation is not None),
    "suggest_queue_slots": Row(EVERYONE, analysed, _b("suggest_queue_slots"),
                               shows=lambda r, t: r.recommendation is not None),
}


def with_demo(w: World, ws: str) -> Target:
    """The sandbox's demo history in `ws`: one published demo post, its snapshot and a demo follower count."""
    from core.store.records import AccountSnapshot, MetricSnapshot
    acct = w.accounts[ws]
    post = Post(caption="Demo", accounts=(acct,), schedule=Schedule(scheduled_at=NOW - timedelta(days=3)),
                workspace_id=ws, state=PostState.APPROVED, is_demo=True, id=f"demo-{ws}")
    delivery = Delivery(post_id=post.id, account_id=acct.id, platform="linkedin", due_at=NOW - timedelta(days=3),
                        state=DeliveryState.PUBLISHED, published_at=NOW - timedelta(days=3), attempts=1,
                        id=f"demo-d-{ws}")
    w.store.add_demo_history(ws, posts=[(post, [delivery])], snapshots=[MetricSnapshot(
        delivery_id=delivery.id, post_id=post.id, account_id=acct.id, workspace_id=ws, platform="linkedin",
        external_id="e", taken_at=NOW - timedelta(days=2), metrics={"likes": 3}, is_demo=True)],
        account_snapshots=[AccountSnapshot(account_id=acct.id, workspace_id=ws, platform="linkedin",
                                           taken_at=NOW - timedelta(days=2), followers=10, is_demo=True)])
    return Target(ws, acct, post_id=post.id, delivery_id=delivery.id)


# The sandbox's demo data: every member sees whether it is there; only the owner removes it (it deletes history
# and disconnects the demo's accounts: Action.REMOVE_DEMO).
DEMO_TABLE: dict[str, Row] = {
    "demo_status": Row(EVERYONE, with_demo, lambda w, actor, t: core.services.demo.demo_status(
        w.store, actor=actor, workspace_id=t.ws), shows=lambda r, t: r == "present"),
    "remove_demo": Row(frozenset({OWNER}), with_demo, lambda w, actor, t: core.services.demo.remove_demo(
        w.store, actor=actor, workspace_id=t.ws, clock=lambda: NOW), shows=lambda r, t: r > 0),
}
def drafting(w: World, ws: str) -> Target:
    """The person's own kept composer draft in the workspace (kept as they wrote)."""
    _person_owns(w, ws)
    w.store.keep_draft(KeptDraft(user_id=PERSON, workspace_id=ws, fields={"compose_caption": f"Half a post in {ws}"},
                                 kept_at=NOW))
    return Target(ws, w.accounts[ws])


COMPOSER_DRAFT_TABLE: dict[str, Row] = {
    # whoever writes posts keeps what they type in the composer (only their own, only a person)
    "keep": Row(WRITERS, drafting, lambda w, actor, t: core.services.composer_drafts.keep(
        w.store, actor, t.ws, {"compose_caption": "More of the post"}, now=NOW), people_only=True),
    "kept": Row(WRITERS, drafting, lambda w, actor, t: core.services.composer_drafts.kept(w.store, actor, t.ws),
                shows=lambda r, t: r is not None and r.fields["compose_caption"] == f"Half a post in {t.ws}",
                people_only=True),
    "forget": Row(WRITERS, drafting, lambda w, actor, t: core.services.composer_drafts.forget(w.store, actor, t.ws),
                  people_only=True),
}
TABLE = {**SCHEDULER_TABLE, **COMPOSER_DRAFT_TABLE, **STATUS_TABLE, **ACCOUNT_TABLE, **VIEW_TABLE, **CONNECT_TABLE, **MEMBER_TABLE, **INVITATION_TABLE,
         **NOTIFICATION_TABLE,
         **WORKSPACE_TABLE, **APPROVAL_TABLE, **ANALYTICS_TABLE, **BEST_TIME_TABLE, **DEMO_TABLE}


def snapshot(store: InMemoryPostStore):
    """Everything an operation could write, through the store's public reads."""
    posts = {p.id: p for p in store.list_posts()}
    workspaces = {w.id for w in store.list_workspaces()}
    return (posts, store.deliveries_for(list(posts)), store.list_events(), store.list_accounts(),
            [n for ws in workspaces for n in store.list_notifications(workspace_id=ws)], store.list_memberships(),
            store.list_workspaces(), store.account_holds(NOW))


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
    actor = Actor.for_user(PERSON, {world.own: role})      # a member of their own workspace only
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
    assert set(core.services.accounts.__all__) == set(ACCOUNT_TABLE)
    assert set(core.services.views.__all__) - NOT_A_WORKSPACE_READ == set(VIEW_TABLE)
    assert set(core.services.members.__all__) == set(MEMBER_TABLE)
    # the link's holder (look_up, join, join_signed_in) is not a member yet: the token is their permission
    assert {n for n in core.services.invitations.__all__ if n[0].islower()} - {"look_up", "join", "join_signed_in", "invite_link"} \
        == set(INVITATION_TABLE)
    assert set(core.services.approvals.__all__) == {name.split("(")[0] for name in APPROVAL_TABLE}
    assert set(core.services.workspaces.__all__) == set(WORKSPACE_TABLE)
    assert set(core.services.status.__all__) == set(STATUS_TABLE)
    assert set(core.services.composer_drafts.__all__) - {"MAX_BYTES"} == set(COMPOSER_DRAFT_TABLE)
    assert set(core.services.analytics.__all__) == set(ANALYTICS_TABLE)
    assert set(core.services.demo.__all__) - {"DemoStatus", "DEMO_META_KEY"} == set(DEMO_TABLE)
    # best_time: every function told who acts is an operation (`_history` is the engine read they share, after
    # their check; `with_slots_added` only merges slots)
    told = {name for name in core.services.best_time.__all__
            if inspect.isfunction(fn := getattr(core.services.best_time, name))
            and "actor" in inspect.signature(fn).parameters}
    assert told == set(BEST_TIME_TABLE)
    connecting = {f"{cls.__name__}.{name}" for cls in (ConnectService, PasswordConnectService)
                  for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}
    assert connecting == set(CONNECT_TABLE)
    # core.services.notifications: the builders take no actor; every function told who acts is an operation
    told = {name for name, fn in inspect.getmembers(core.services.notifications, inspect.isfunction)
            if fn.__module__ == core.services.notifications.__name__ and "actor" in inspect.signature(fn).parameters}
    assert told == set(NOTIFICATION_TABLE)


@pytest.mark.parametrize("operation", list(TABLE))
def test_a_system_actor_may_do_everything_everywhere(world, operation):
    row = TABLE[operation]
    for ws in (world.own, world.other):
        target = row.setup(world, ws)
        if row.people_only:
            with pytest.raises(PermissionDenied, match="needs a signed-in person") as refused:
                row.call(world, Actor.system("test-script"), target)
            assert refused.value.code == "person_needed"
        else:
            assert attempt(row, world, Actor.system("test-script"), target)


# ---------------------------------------------------------------- the words and the rules around the table
@pytest.mark.parametrize("role, action, message", [
    (VIEWER, Action.APPROVE, "Viewers cannot approve or reject posts; ask an owner or approver."),
    (APPROVER, Action.EDIT_POSTS, "Approvers cannot write or change posts; ask an owner or editor."),
    (EDITOR, Action.CONNECT_ACCOUNTS, "Editors cannot connect or change accounts; ask an owner."),
    (EDITOR, Action.REMOVE_DEMO, "Editors cannot remove the demo data; ask an owner."),
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
        assert allows(role, Action.REMOVE_DEMO) == role.can_manage_workspace
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


def test_signed_in_reads_only_the_persons_own_workspaces(world):
    world.store.add_user(User(email="casey@example.com", id="casey"))
    world.store.set_membership(Membership(user_id="casey", workspace_id=world.own, role=APPROVER))
    me = core.services.views.signed_in(world.store, "casey")
    assert me.user.email == "casey@example.com"
    assert [w.id for w in me.workspaces] == [world.own] and me.actor.role_in(world.own) == APPROVER
    assert me.membership(world.own).role == APPROVER and me.membership(world.other) is None


def test_a_list_of_another_workspace_is_refused_in_plain_words(world):
    with pytest.raises(PermissionDenied, match="^You are not a member of this workspace.$"):
        core.services.views.post_rows(world.store, world.other, tz_name="UTC", actor=Actor.for_user("u", {world.own: OWNER}))


def test_a_person_reads_only_the_notifications_meant_for_them(world):
    for user_id in (None, "casey", "drew"):
        world.store.add_notification(Notification(workspace_id=world.own, kind="k", title=f"for {user_id}",
                                                  user_id=user_id, created_at=NOW))
    casey = Actor.for_user("casey", {world.own: VIEWER})
    titles = {r["title"] for r in core.services.views.notification_rows(world.store, world.own, tz_name="UTC", actor=casey)}
    assert titles == {"for None", "for casey"}


def test_a_person_marks_read_only_what_is_addressed_to_them(world):
    notes = {user_id: world.store.add_notification(Notification(
        workspace_id=world.own, kind="k", title=f"for {user_id}", user_id=user_id, created_at=NOW))
        for user_id in (None, "casey", "drew")}
    casey = Actor.for_user("casey", {world.own: VIEWER})
    later = NOW + timedelta(minutes=5)
    assert core.services.notifications.mark_read(world.store, world.own, notes["casey"].id, actor=casey,
                                        clock=lambda: later).read_at == later
    core.services.notifications.mark_read(world.store, world.own, notes[None].id, actor=casey, clock=lambda: later)
    with pytest.raises(PermissionDenied, match="^This notification is for someone else in the workspace.$"):
        core.services.notifications.mark_read(world.store, world.own, notes["drew"].id, actor=casey, clock=lambda: later)
    read = {n.title: n.read_at for n in world.store.list_notifications(workspace_id=world.own)}
    assert read == {"for None": later, "for casey": later, "for drew": None}
    # again: nothing changes (the first time it was read stays)
    assert core.services.notifications.mark_read(world.store, world.own, notes["casey"].id, actor=casey,
                                        clock=lambda: later + timedelta(hours=1)).read_at == later


def test_marking_read_needs_the_notifications_own_workspace(world):
    theirs = noted(world, world.other).extra["notification_id"]
    owner = Actor.for_user("casey", {world.own: OWNER})
    # named under the person's own workspace, another workspace's notification is not there to mark
    with pytest.raises(NotFoundError, match="This workspace has no notification"):
        core.services.notifications.mark_read(world.store, world.own, theirs, actor=owner)
    with pytest.raises(PermissionDenied, match="^You are not a member of this workspace.$"):
        core.services.notifications.mark_read(world.store, world.other, theirs, actor=owner)
    assert [n.read_at for n in world.store.list_notifications(workspace_id=world.other)] == [None]


# ---------------------------------------------------------------- the pages pass who acts
ROOT = Path(__file__).resolve().parent.parent
# What the pages call that acts on a workspace: each call must be told who acts (ctx.actor).
SERVICES = {"approval_queue", "approve_batch",
            *core.services.views.__all__, *core.services.accounts.__all__, *core.services.members.__all__, *INVITATION_TABLE, *NOTIFICATION_TABLE,
            *core.services.workspaces.__all__, *core.services.status.__all__, *core.services.analytics.__all__,
            "Scheduler",
            "start", "finish", "connect"} - NOT_A_WORKSPACE_READ


def _calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in SERVICES:
                yield name, node


@pytest.mark.parametrize("path", sorted([*ROOT.joinpath("pages").glob("*.py"), ROOT / "app.py"]),
                         ids=lambda p: p.name)
def test_pages_say_who_acts(path):
    """A page that forgot to pass the person would act as a script (the services' default): never allowed."""
    for name, call in _calls(path):
        args = [ast.unparse(a) for a in call.args] + [ast.unparse(k.value) for k in call.keywords]
        assert any(a.endswith(".actor") for a in args), (
            f"{path.name}:{call.lineno}: {name}(...) must be told who acts (ctx.actor)")


def test_pages_write_nothing_to_the_store_directly():
    """Pages read through core.services.views and change things through core services (grep: no `db.` or `store.`)."""
    for path in [*ROOT.joinpath("pages").glob("*.py"), ROOT / "app.py"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert "db." not in line and "store." not in line, f"{path.name}:{number}: {line.strip()}"

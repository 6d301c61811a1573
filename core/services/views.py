"""The queries that feed the dashboard's pages, in one place (pages hold no SQL and no rules).

Every query reads one workspace and is told who acts, as `Scheduler` is: a person reads only a workspace they
are a member of (anyone else is refused with PermissionDenied, "You are not a member of this workspace.", before
anything is read), and sees only the notifications meant for them. The default actor is the system actor
`core.rules.permissions.SCRIPT`, for scripts and tests; the pages always pass ``Context.actor``
(tests/test_permissions.py checks every call in pages/ and app.py).

`signed_in` is where the dashboard learns who acts: the signed-in person, their workspaces and their roles.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from core.services.connect import account_health
from core.domain import Account, Membership, Post, User, Workspace, post_status
from core.domain.catalog import Platform
from core.domain.errors import NotFoundError
from core.domain.lifecycle import WAITING_DELIVERY_STATES, DeliveryState, PostStatus
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.store import PostStore
from core.domain.timeutil import zone

__all__ = ["signed_in", "workspace_accounts", "post_rows", "has_posts", "data_version", "PostList", "post_list",
           "UPCOMING", "PAST",
           "attention_rows", "blocked_rows", "account_rows", "activity_rows", "notification_rows"]


def _may_read(actor: Actor, workspace_id: str) -> None:
    check(actor, Action.VIEW, workspace_id, subject="workspace")


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person, the workspaces they belong to (by name), and who they act as in each."""

    user: User
    workspaces: tuple[Workspace, ...]
    actor: Actor

    def membership(self, workspace_id: str) -> Membership | None:
        return next((m for m in self.actor.memberships if m.workspace_id == workspace_id), None)


def signed_in(store: PostStore, user_id: str) -> SignedIn:
    """Who is signed in, as the store knows them now: their own user record and workspaces, nothing else."""
    user = store.get_user(user_id)
    actor = Actor.of(store, user.id)
    return SignedIn(user=user, workspaces=tuple(w for w in store.list_workspaces(user_id=user.id)
                                                if w.id in actor.workspace_ids), actor=actor)


def workspace_accounts(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT) -> list[Account]:
    """The workspace's accounts (what the composer offers to post to)."""
    _may_read(actor, workspace_id)
    return store.list_accounts(workspace_id=workspace_id)


def post_rows(store: PostStore, workspace_id: str, *, tz_name: str, start: datetime | None = None,
              end: datetime | None = None, limit: int = 500, actor: Actor = SCRIPT) -> list[dict]:
    """One row per post for tables, by due time: when (local), where, what, its status with the latest error,
    tags (Demo, AI) and the link to the published post."""
    _may_read(actor, workspace_id)
    posts = store.list_posts(workspace_id=workspace_id, start=start, end=end, limit=limit)
    return _rows(store, posts, zone(tz_name))


def _rows(store: PostStore, posts: list[Post], tz) -> list[dict]:
    by_post = store.deliveries_for(p.id for p in posts)
    rows = []
    for post in posts:
        deliveries = by_post[post.id]
        status = post_status(post, deliveries)
        errors = [d.last_error for d in deliveries if d.last_error]
        rows.append({
            "id": post.id,
            "when": post.due_at.astimezone(tz).strftime("%a %d %b %Y %H:%M") if post.due_at else "No time yet",
            "accounts": ", ".join(a.label for a in post.accounts),
            "caption": _preview(post),
            "status": status.label,
            "problem": errors[-1] if errors else "",
            # sandbox demo history is marked wherever it is listed: it can be read, not acted on
            "tags": " · ".join(t for t, on in (("Demo", post.is_demo), ("AI", post.is_ai_generated)) if on),
            # where it went out (the first account's link when several published it); demo history was never on a
            # platform, so it has none
            "link": "" if post.is_demo else next((d.external_url for d in deliveries if d.external_url), ""),
        })
    return rows


def data_version(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT) -> str:
    """A marker that changes whenever the workspace's posts do, for caching what the pages draw from them: the
    newest activity event of the workspace (every write of a post or delivery records one in the same
    transaction, the runner's included). One indexed row; the pages still keep an answer only briefly, for
    writes whose event is dated in the past (sandbox demo history)."""
    _may_read(actor, workspace_id)
    newest = store.list_events(workspace_id=workspace_id, limit=1)
    return f"{newest[0].id}@{newest[0].at.isoformat()}" if newest else "-"


def has_posts(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT) -> bool:
    """Whether the workspace has any post at all (the Posts page opens its composer at first when not)."""
    _may_read(actor, workspace_id)
    return bool(store.list_posts(workspace_id=workspace_id, limit=1))


UPCOMING, PAST = "upcoming", "past"
_DRAFTS_READ = 1000


@dataclass(frozen=True)
class PostList:
    """A page of the Posts list: its rows and whether there are more after them ("Show more")."""

    rows: list[dict]
    more: bool


def post_list(store: PostStore, workspace_id: str, *, tz_name: str, section: str, now: datetime,
              limit: int = 50, statuses: Iterable[PostStatus | str] = (), account_ids: Iterable[str] = (),
              platforms: Iterable[str] = (), actor: Actor = SCRIPT) -> PostList:
    """The first `limit` posts of a section of the Posts list, filtered (an empty filter: all).

    UPCOMING: due from `now` on, the next one first; then, once every dated post is listed, drafts with no time
    yet. PAST: due before `now`, the latest first. `platforms` and `account_ids` both narrow to accounts (a post
    is listed when one of its accounts is chosen); statuses are the derived ones (PostStatus values).
    Reads `limit` + 1 posts per account asked (at most one query per chosen account, and one page of
    deliveries): the cost does not grow with the workspace's history."""
    _may_read(actor, workspace_id)
    if section not in (UPCOMING, PAST):
        raise ValueError(f"section must be {UPCOMING!r} or {PAST!r}, not {section!r}")
    wanted = {PostStatus(s) for s in statuses} or None
    targets: list[str | None] = [None]
    account_ids, platforms = set(account_ids), set(platforms)
    if account_ids or platforms:
        chosen = [a.id for a in store.list_accounts(workspace_id=workspace_id)
                  if (not account_ids or a.id in account_ids) and (not platforms or a.platform.value in platforms)]
        if not chosen:
            return PostList(rows=[], more=False)
        targets = chosen
    window = {"start": now} if section == UPCOMING else {"end": now, "newest_first": True}
    found: dict[str, Post] = {}
    for account_id in targets:   # each account's first limit+1: their union holds the first limit+1 of all
        for post in store.list_posts(workspace_id=workspace_id, statuses=wanted, account_id=account_id,
                                     limit=limit + 1, **window):
            found.setdefault(post.id, post)
    posts = sorted(found.values(), key=lambda p: (p.due_at, p.id), reverse=section == PAST)
    if section == UPCOMING and len(posts) <= limit and (wanted is None or PostStatus.DRAFT in wanted):
        # every dated one is listed: the drafts that have no time yet come last (the store lists them after the
        # dated drafts; a workspace keeps few drafts, so the first _DRAFTS_READ drafts are read for them)
        for account_id in targets:
            for post in store.list_posts(workspace_id=workspace_id, statuses=[PostStatus.DRAFT],
                                         account_id=account_id, limit=_DRAFTS_READ):
                if post.due_at is None and post.id not in found:
                    found[post.id] = post
                    posts.append(post)
    more = len(posts) > limit
    return PostList(rows=_rows(store, posts[:limit], zone(tz_name)), more=more)


def _preview(post: Post, width: int = 80) -> str:
    text = " ".join(post.caption.split())
    return text if len(text) <= width else text[: width - 1] + "…"


_ATTENTION = (PostStatus.NEEDS_REVIEW, PostStatus.FAILED, PostStatus.PARTIALLY_PUBLISHED, PostStatus.PUBLISHING)


def attention_rows(store: PostStore, workspace_id: str, *, tz_name: str, limit: int = 200,
                   actor: Actor = SCRIPT) -> list[dict]:
    """Deliveries a person has to settle (needs review, failed), newest problems first, with what to tell them."""
    _may_read(actor, workspace_id)
    tz = zone(tz_name)
    # One status at a time: each is a range of the (workspace, status, due_at) index. Asked for all four at once,
    # SQLite walks every post of the workspace by time to find the few (90 ms at 100,000 posts, every Posts page).
    posts = [p for status in _ATTENTION
             for p in store.list_posts(workspace_id=workspace_id, limit=limit, statuses=[status])
             if not p.is_demo]          # sandbox demo history: nothing to settle (the Scheduler refuses it anyway)
    posts = sorted(posts, key=lambda p: (p.due_at is None, p.due_at or datetime.min.replace(tzinfo=tz), p.id))[:limit]
    by_post = store.deliveries_for(p.id for p in posts)
    rows = []
    for post in posts:
        labels = {a.id: a.label for a in post.accounts}
        for d in by_post[post.id]:
            if d.state not in (DeliveryState.NEEDS_REVIEW, DeliveryState.FAILED):
                continue
            rows.append({"delivery_id": d.id, "post_id": post.id, "state": d.state.value,
                         "account": labels.get(d.account_id, d.platform.label),
                         "caption": _preview(post, 60),
                         "when": d.due_at.astimezone(tz).strftime("%a %d %b %H:%M"),
                         "reason": d.last_error or "", "updated_at": d.updated_at})
    rows.sort(key=lambda r: r["updated_at"] or datetime.min.replace(tzinfo=tz), reverse=True)
    return rows


_WAITING_POSTS = (PostStatus.SCHEDULED, PostStatus.PUBLISHING)
BLOCKED_SCAN = 1000     # planned posts read per account that cannot post


def blocked_rows(store: PostStore, workspace_id: str, *, tz_name: str, now: datetime,
                 actor: Actor = SCRIPT) -> list[dict]:
    """Accounts that cannot post (not connected, reconnect needed, disconnected, expired) while planned posts wait
    for them: one row each, with why (the account's health in words), how many wait, how many of those are
    already due, and the next one's time (local). One query for the accounts; posts and deliveries are read only
    for an account that cannot post."""
    _may_read(actor, workspace_id)
    tz = zone(tz_name)
    rows = []
    for account in store.list_accounts(workspace_id=workspace_id):
        health = account_health(account, now)
        if health.can_post:
            continue
        posts = [p for p in store.list_posts(workspace_id=workspace_id, account_id=account.id,
                                             statuses=_WAITING_POSTS, limit=BLOCKED_SCAN) if not p.is_demo]
        by_post = store.deliveries_for(p.id for p in posts) if posts else {}
        waiting = sorted(((d.next_attempt_at or d.due_at, post) for post in posts for d in by_post[post.id]
                          if d.account_id == account.id and d.state in WAITING_DELIVERY_STATES),
                         key=lambda pair: (pair[0], pair[1].id))
        if not waiting:
            continue
        first_at, first = waiting[0]
        rows.append({"account_id": account.id, "account": account.label, "status": health.short,
                     "reason": health.message, "waiting": len(waiting),
                     "overdue": sum(1 for at, _ in waiting if at <= now),
                     "next": first_at.astimezone(tz).strftime("%a %d %b %H:%M"), "caption": _preview(first, 60)})
    return rows


def account_rows(store: PostStore, workspace_id: str, *, tz_name: str, now: datetime,
                 actor: Actor = SCRIPT) -> list[dict]:
    """The Accounts table: each connection's health, and whether the runner is holding its posts back."""
    _may_read(actor, workspace_id)
    holds = store.account_holds(now)
    tz = zone(tz_name)
    rows = []
    for acc in store.list_accounts(workspace_id=workspace_id):
        held = holds.get(acc.id)
        health = account_health(acc, now)
        posting = "Ready" if health.can_post else "Not posting: reconnect it first"
        if held is not None and health.can_post:
            until, reason = held
            posting = f"Paused until {until.astimezone(tz):%a %H:%M}: {reason}"
        rows.append({"Account": acc.handle, "Platform": acc.platform.label,
                     "Health": health.message, "Posting": posting,
                     "Daily limit": acc.effective_daily_cap,
                     "Connected": acc.connected_at.strftime("%d %b %Y") if acc.connected_at else ""})
    return rows


def activity_rows(store: PostStore, workspace_id: str, *, tz_name: str, limit: int = 200,
                  actor: Actor = SCRIPT) -> list[dict]:
    """The workspace's activity log, newest first: when (local), who (a person's name, or what acted), what."""
    _may_read(actor, workspace_id)
    tz = zone(tz_name)
    names: dict[str, str] = {}
    events = store.list_events(workspace_id=workspace_id, limit=limit)
    about = subjects(store, workspace_id, events, names)
    rows = []
    for e in events:
        change = f"{e.from_state} → {e.to_state}" if e.from_state and e.to_state else (e.to_state or "")
        rows.append({"id": e.id, "when": e.at.astimezone(tz).strftime("%a %d %b %Y %H:%M"),
                     "who": _who(store, e.actor, names), "what": e.action.replace(".", " ").replace("_", " "),
                     "subject": f"{e.subject_type} {e.subject_id}", "about": about(e), "demo": is_demo_event(e),
                     "post_id": event_post_id(e), "change": change,
                     "reason": e.reason or ""})
    return rows


SUBJECT_POSTS = 2000   # the newest posts read (once) to name the posts a page of the log is about
# Up to this many posts named, each is read by its id instead (a few ms each): a workspace with a long history
# planned ahead kept 2,000 posts to read (0.3-0.4 s at 20,000 posts) that were not even the ones the log named.
DIRECT_READS = 40


def event_post_id(e) -> str:
    """The post an event is about: its own subject, or the post of a delivery's event."""
    return e.subject_id if e.subject_type == "post" else str((e.details or {}).get("post_id") or "")


def is_demo_event(e) -> bool:
    """Sandbox demo history (sandbox.demo marks every event it writes)."""
    return bool((e.details or {}).get("demo"))


def subjects(store: PostStore, workspace_id: str, events: Iterable, names: dict[str, str], *,
             also: Iterable[str] = ()):
    """What each of `events` is about, in words, as a function of the event: a post's caption start (and for a
    delivery, the account it went to first: "@brand on Instagram · “Sale…”"), an account's handle and platform, a
    person's name; demo history starts "Demo · ". Read once for the whole page, not per row: the workspace's
    accounts in one query, the posts named by their ids (up to DIRECT_READS of them; more: its newest posts in
    one query), the deliveries of posts with two
    accounts on one platform in one, each person once (`names`, shared with `_who`). `also`: more post ids
    whose captions are wanted (read in the same query); ``about.captions`` has every caption found, by post id."""
    events = list(events)
    accounts: dict[str, str] = {}
    if any(e.subject_type == "account" for e in events):
        accounts = {a.id: a.label for a in store.list_accounts(workspace_id=workspace_id)}
    wanted = ({event_post_id(e) for e in events} | set(also)) - {""}
    captions: dict[str, str] = {}
    targets: dict[str, tuple[Account, ...]] = {}
    if 0 < len(wanted) <= DIRECT_READS:
        found = []
        for pid in sorted(wanted):
            try:
                found.append(store.get_post(pid))
            except NotFoundError:      # deleted since
                pass
    elif wanted:
        found = store.list_posts(workspace_id=workspace_id, newest_first=True, limit=SUBJECT_POSTS)
    else:
        found = []
    for post in found:
        if post.id in wanted and post.workspace_id == workspace_id:
            captions[post.id] = f"“{_preview(post, 50)}”" if post.caption.strip() else "a post with no caption"
            targets[post.id] = post.accounts
    sent_to = _delivery_accounts(store, [e for e in events if e.subject_type == "delivery"], targets)

    def about(e) -> str:
        details = e.details or {}
        kind = e.subject_type
        if kind in ("post", "delivery"):
            text = captions.get(event_post_id(e), "an older post")
            if kind == "delivery":     # which account, not only which platform: a workspace may have two there
                account = sent_to.get(e.subject_id)
                platform = details.get("platform")
                # the account first: a narrow column still shows it (the caption is the part cut short)
                text = f"{account.label} · {text}" if account else (
                    f"{text} on {_platform_label(platform)}" if platform else text)
        elif kind == "account":
            handle = details.get("handle")
            text = accounts.get(e.subject_id) or (
                f"{handle} on {_platform_label(details.get('platform'))}" if handle else "a removed account")
        elif kind == "membership":
            text = _who(store, f"user:{e.subject_id}", names)
        elif kind == "workspace":
            text = "this workspace"
        else:
            text = kind.replace("_", " ")
        return f"Demo · {text}" if is_demo_event(e) else text
    about.captions = captions
    return about


def _delivery_accounts(store: PostStore, events: list, targets: dict[str, tuple[Account, ...]]) -> dict[str, Account]:
    """The account each delivery event went to, by delivery id. Most posts have one account per platform: the
    event's platform names it. The deliveries of a post with two accounts on one platform are read (one query
    for them all)."""
    found: dict[str, Account] = {}
    ambiguous: set[str] = set()
    for e in events:
        pid, platform = event_post_id(e), (e.details or {}).get("platform")
        same = [a for a in targets.get(pid, ()) if a.platform.value == platform]
        if len(same) == 1:
            found[e.subject_id] = same[0]
        elif len(same) > 1:
            ambiguous.add(pid)
    if ambiguous:
        by_id = {a.id: a for pid in ambiguous for a in targets[pid]}
        for deliveries in store.deliveries_for(ambiguous).values():
            for d in deliveries:
                if d.account_id in by_id:
                    found[d.id] = by_id[d.account_id]
    return found


def _platform_label(value) -> str:
    try:
        return Platform(value).label
    except ValueError:
        return str(value or "a platform")


def _who(store: PostStore, label: str, names: dict[str, str]) -> str:
    """"user:<id>" as the person's name (or email); the runner and scripts by what they are."""
    kind, _, ident = (label or "").partition(":")
    if kind == "user" and ident:
        if ident not in names:
            try:
                user = store.get_user(ident)
            except NotFoundError:   # a person no longer in Outpost
                names[ident] = "a former member"
            else:
                names[ident] = user.display_name or user.email
        return names[ident]
    if kind == "runner":
        return "Outpost (runner)"
    if kind == "system":
        return f"Outpost ({ident})" if ident else "Outpost"
    return label or "Outpost"


def notification_rows(store: PostStore, workspace_id: str, *, tz_name: str, unread_only: bool = False,
                      limit: int = 100, actor: Actor = SCRIPT) -> list[dict]:
    """The notifications for the person in this workspace (addressed to them or to everyone), newest first."""
    _may_read(actor, workspace_id)
    tz = zone(tz_name)
    found = store.list_notifications(workspace_id=workspace_id, user_id=None if actor.is_system else actor.user_id,
                                     unread_only=unread_only, limit=limit)
    return [{"id": n.id, "when": n.created_at.astimezone(tz).strftime("%a %d %b %H:%M") if n.created_at else "",
             "kind": n.kind, "title": n.title, "body": n.body, "subject_id": n.subject_id,
             "unread": n.read_at is None} for n in found]

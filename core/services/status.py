"""What the Activity page reads: is the automation working, what happened (the log, filtered), what is unread.

    status = automation_status(store, workspace_id, now=utcnow(), actor=ctx.actor)
    status.runner.state      # "running", "stale" or "missing"
    status.due_now, status.later_today, status.next_due_at, status.lateness_p50, status.lateness_max

From the runner heartbeats (every runner beats every few seconds; a beat older than `STALE_AFTER` means it
stopped or hangs) and a few store reads (no query per post): the waiting deliveries due today, the next one
after that, and the deliveries published in the last hour with how late each went out (published_at - due_at).
Only the workspace's own posts are counted; the heartbeats are shared by every workspace and say only whether
the runner lives.

`activity_log` is the workspace's activity log with filters (who, what, which post, a date range read in the
workspace's timezone); `unread_count` is how many notifications the person has not read. Every function is told
who acts, as `core.services.views`: any member reads, an outsider is refused before anything is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Mapping

from core.domain.lifecycle import DeliveryState, PostStatus
from core.domain.timeutil import to_utc, zone
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.services.views import _who, event_post_id, is_demo_event, subjects
from core.store import PostStore

__all__ = ["automation_status", "activity_log", "unread_count"]

# A runner beats every 5 s by default; `python -m jobs.runner --health` calls one older than 30 s stale too.
STALE_AFTER = timedelta(seconds=30)
# The last hour's posts: published in it; they may have been due a while before (retries, a runner that was down).
LATENESS_WINDOW = timedelta(hours=1)
DUE_LOOKBACK = timedelta(days=1)
# "Last publish" looks this far back when nothing went out in the last day.
LAST_PUBLISH_LOOKBACK = timedelta(days=30)
_SCAN = 10_000          # posts read by one query at most
_WAITING = (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT)


@dataclass(frozen=True)
class RunnerState:
    """What the heartbeats say: "running" (a beat within STALE_AFTER), "stale" (beats stopped), "missing"."""

    state: str
    last_beat_at: datetime | None = None
    since_last_beat: timedelta | None = None
    runners_running: int = 0
    runners_stale: int = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        if self.state == "missing":
            return "No runner has reported yet: posts will not go out until one runs (./outpost start starts one)."
        ago = describe_age(self.since_last_beat)
        if self.state == "stale":
            return f"The runner last reported {ago} ago: it has stopped or hangs, so posts are not going out."
        extra = f" ({self.runners_running} runners)" if self.runners_running > 1 else ""
        return f"Running{extra}: last heartbeat {ago} ago."


@dataclass(frozen=True)
class AutomationStatus:
    runner: RunnerState
    last_published_at: datetime | None    # the workspace's most recent publish (any account)
    due_now: int                          # waiting deliveries whose time has come
    later_today: int                      # waiting deliveries due later today (the workspace's day)
    next_due_at: datetime | None          # the next waiting delivery after now
    published_last_hour: int
    lateness_p50: timedelta | None        # median of published_at - due_at over the last hour's publishes
    lateness_max: timedelta | None


def automation_status(store: PostStore, workspace_id: str, *, now: datetime, actor: Actor = SCRIPT,
                      stale_after: timedelta = STALE_AFTER) -> AutomationStatus:
    """The automation as a workspace member sees it at `now` (see the module's docstring)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    now = to_utc(now, "now")
    ws = store.get_workspace(workspace_id)
    tz = zone(ws.timezone_name)
    local = now.astimezone(tz)
    end_of_day = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)

    # Waiting deliveries of posts due by the end of today (retries of earlier posts included).
    waiting_posts = store.list_posts(workspace_id=workspace_id, statuses=[PostStatus.SCHEDULED, PostStatus.PUBLISHING],
                                     end=end_of_day, limit=_SCAN)
    waiting = [d for ds in store.deliveries_for(p.id for p in waiting_posts).values() for d in ds
               if d.state in _WAITING and d.next_attempt_at is not None]
    due_now = sum(1 for d in waiting if d.next_attempt_at <= now)
    later_today = sum(1 for d in waiting if now < d.next_attempt_at < end_of_day)
    upcoming = [d.next_attempt_at for d in waiting if d.next_attempt_at > now]
    if not upcoming or min(upcoming) >= end_of_day:
        after = store.list_posts(workspace_id=workspace_id, statuses=[PostStatus.SCHEDULED], start=end_of_day,
                                 limit=1)
        upcoming += [p.due_at for p in after if p.due_at is not None]
    next_due = min(upcoming) if upcoming else None

    # Publishes of the last hour (and the latest one), from posts due in the last day.
    recent = _published(store, workspace_id, start=now - DUE_LOOKBACK, end=now + timedelta(seconds=1))
    if not recent:
        recent = _published(store, workspace_id, start=now - LAST_PUBLISH_LOOKBACK, end=now - DUE_LOOKBACK)
    hour = [(at, due) for at, due in recent if now - LATENESS_WINDOW <= at <= now]
    late = sorted(max(at - due, timedelta(0)) for at, due in hour)
    return AutomationStatus(
        runner=_runner_state(store, now=now, stale_after=stale_after),
        last_published_at=max((at for at, _ in recent if at <= now), default=None),
        due_now=due_now, later_today=later_today, next_due_at=next_due,
        published_last_hour=len(hour), lateness_p50=_median(late), lateness_max=late[-1] if late else None)


def _runner_state(store: PostStore, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> RunnerState:
    """Running if any runner beat within `stale_after` of `now`; stale if all beats are older; missing if none."""
    beats = store.list_heartbeats()
    if not beats:
        return RunnerState("missing")
    last = max(b.beat_at for b in beats)
    fresh = sum(1 for b in beats if now - b.beat_at <= stale_after)
    return RunnerState("running" if fresh else "stale", last_beat_at=last, since_last_beat=max(now - last, timedelta(0)),
                       runners_running=fresh, runners_stale=len(beats) - fresh)


def _published(store: PostStore, workspace_id: str, *, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """(published_at, due_at) of every published delivery of the workspace's posts due in [start, end). Sandbox demo
    history is left out: the runner did not publish it, so it says nothing about the automation."""
    posts = [p for p in store.list_posts(workspace_id=workspace_id, start=start, end=end, limit=_SCAN,
                                         statuses=[PostStatus.PUBLISHED, PostStatus.PARTIALLY_PUBLISHED,
                                                   PostStatus.PUBLISHING, PostStatus.NEEDS_REVIEW, PostStatus.FAILED])
             if not p.is_demo]
    return [(d.published_at, d.due_at) for ds in store.deliveries_for(p.id for p in posts).values() for d in ds
            if d.state == DeliveryState.PUBLISHED and d.published_at is not None]


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def describe_age(delta: timedelta | None) -> str:
    """A duration as people say it: "4 s", "3 min", "2 h 5 min", "3 days"."""
    if delta is None:
        return "—"
    s = int(delta.total_seconds())
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    days = s // 86400
    return f"{days} day" + ("s" if days != 1 else "")


# ---------------------------------------------------------------- the activity log
LOG_SCAN = 5_000    # the newest events the filters look through


@dataclass(frozen=True)
class ActivityLog:
    """Rows that pass the filters (newest first), and what the filters can offer (from every event looked at)."""

    rows: tuple[dict, ...]
    people: tuple[str, ...]
    actions: tuple[str, ...]
    post_ids: tuple[str, ...]
    scanned: int
    post_captions: Mapping[str, str] = field(default_factory=dict)   # what the posts filter shows for each id


def activity_log(store: PostStore, workspace_id: str, *, who: str | None = None, action: str | None = None,
                 post_id: str | None = None, since: date | None = None, until: date | None = None,
                 limit: int = 500, demo: bool = True, actor: Actor = SCRIPT) -> ActivityLog:
    """The workspace's events, newest first, in its timezone: `who` a name as shown, `action` as shown ("post
    approved"), `post_id` the post's own events and its deliveries', `since`/`until` local days (both included),
    `demo` False to leave the sandbox's demo history out. Each row says what it is about in words ("about": the
    post's caption start, the account's handle and platform, the person's name; "Demo · " before demo history),
    the names read once for the page (`core.services.views.subjects`)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    tz = zone(store.get_workspace(workspace_id).timezone_name)
    start = datetime.combine(since, time(0), tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz) if until else None
    names: dict[str, str] = {}
    events = store.list_events(workspace_id=workspace_id, limit=LOG_SCAN)
    people, actions, posts, rows, shown = set(), set(), [], [], []
    for e in events:
        name, what = _who(store, e.actor, names), _what(e.action)
        pid = event_post_id(e)
        people.add(name)
        actions.add(what)
        if pid and pid not in posts:
            posts.append(pid)
        if (who and name != who) or (action and what != action) or (post_id and pid != post_id) \
                or (start and e.at < start) or (end and e.at >= end) or (not demo and is_demo_event(e)):
            continue
        if len(shown) < limit:
            shown.append((e, name, what, pid))
    # the captions of every post the filters offer come from the same one read of posts as the rows' words
    about = subjects(store, workspace_id, [e for e, *_ in shown], names, also=posts)
    for e, name, what, pid in shown:
        change = f"{e.from_state} → {e.to_state}" if e.from_state and e.to_state else (e.to_state or "")
        rows.append({"id": e.id, "at": e.at, "when": e.at.astimezone(tz).strftime("%a %d %b %Y %H:%M:%S"),
                     "who": name, "what": what, "post_id": pid, "subject": f"{e.subject_type} {e.subject_id}",
                     "about": about(e),
                     "demo": is_demo_event(e), "change": change.replace("_", " "), "reason": e.reason or ""})
    return ActivityLog(rows=tuple(rows), people=tuple(sorted(people)), actions=tuple(sorted(actions)),
                       post_ids=tuple(posts), scanned=len(events), post_captions=dict(about.captions))


def _what(action: str) -> str:
    return action.replace(".", " ").replace("_", " ")


def unread_count(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT) -> int:
    """How many of the workspace's notifications for this person (or for everyone there) are unread."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    return len(store.list_notifications(workspace_id=workspace_id, unread_only=True, limit=1000,
                                        user_id=None if actor.is_system else actor.user_id))

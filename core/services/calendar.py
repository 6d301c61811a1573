"""The calendar: posts with their deliveries in the visible dates, as calendar events, and moving a post by drag.

FullCalendar runs with the workspace's named `timeZone` and no timezone plugin, so it ignores offsets in the
strings it is given and hands back times without one (or with a "Z" that is really a wall time). Everything that
crosses to it is therefore a *wall time in the workspace's zone*, "YYYY-MM-DDTHH:MM:SS": `to_events` writes them,
`parse_wall` and `range_from_view` read them. The mapping is pure (no Streamlit) so it is tested on its own.

Who acts: every read checks VIEW on the workspace; a move goes through `Scheduler.reschedule` (EDIT_POSTS, the
lifecycle, caps, gaps and past times refused as the composer refuses them), so a viewer's drop is refused in core
whatever the page shows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable

from core.domain import Post, Schedule, Workspace, new_id, post_status
from core.domain.errors import NotFoundError, Problem, ValidationError
from core.domain.lifecycle import POST_MOVES, DeliveryState, PostState, PostStatus
from core.domain.timeutil import utcnow, zone
from core.rules import timing as scheduling
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.rules.timing import check_not_past
from core.services.scheduler import Scheduler, ScheduleResult
from core.analytics.schema import METRICS
from core.store import PostStore

__all__ = ["LEGEND", "VIEWS", "DAY_LIMIT", "WEEK_DAY_LIMIT", "DEMO", "summarise_over",
           "CalendarEntry", "Moved", "calendar_entries", "category", "to_events",
           "summary_day", "visible_range", "range_from_view", "parse_wall", "move_post", "undo_move",
           "post_detail", "duplicate_post", "batch_names", "PlannedRepeat", "planned_repeats", "repeat_events",
           "repeat_of", "REPEAT"]


@dataclass(frozen=True)
class Style:
    label: str
    colour: str
    text: str = "#ffffff"


# What a colour means, in the order the legend shows it (the six first).
LEGEND: dict[str, Style] = {
    "pending_approval": Style("Pending approval", "#EAB308", "#1f2937"),
    "approved": Style("Approved", "#16A34A"),
    "scheduled": Style("Scheduled", "#2563EB"),
    "published": Style("Published", "#7C3AED"),
    "failed": Style("Failed", "#DC2626"),
    "needs_review": Style("Needs review", "#EA580C"),
    "publishing": Style("Publishing", "#0891B2"),
    "partially_published": Style("Partly published", "#A21CAF"),
    "draft": Style("Draft", "#94A3B8", "#1f2937"),
    "rejected": Style("Rejected", "#78716C"),
    "expired": Style("Expired: not approved in time", "#FDE68A", "#78350F"),
    "cancelled": Style("Cancelled", "#D1D5DB", "#374151"),
}

# The calendar's views: our name -> FullCalendar's view.
VIEWS = {"Month": "dayGridMonth", "Week": "timeGridWeek", "Day": "timeGridDay", "List": "listWeek"}

# A month cell lists up to this many posts one by one; a busier day shows one line per status instead
# ("62 scheduled"), which opens the day when clicked. FullCalendar builds a DOM element for every event
# it is given, hidden or not: 2,000 posts in a month took seconds to draw, 31 summaries take milliseconds.
DAY_LIMIT = 4
# The week view summarises a day the same way above this many posts (its columns fit a dozen at distinct times;
# a bench month of 2,000 posts is ~450 a week, which took FullCalendar seconds to lay out one by one).
WEEK_DAY_LIMIT = 12

# Sandbox demo history on the calendar: muted (grey with the status colour as its edge), "Demo · " before its
# caption, never draggable (the Scheduler refuses acting on it anyway).
DEMO = Style("Demo (sample history)", "#E5E7EB", "#4B5563")
_SUMMARY = "day:"   # the id prefix of a day's summary event: "day:2030-03-05:scheduled"
# A recurring post's coming dates that are not posts yet (the series makes the next one after the previous one
# goes out): light with a dashed edge in the current post's colour, "↻ " before the caption, never draggable.
REPEAT = Style("Planned repeat", "#F8FAFC", "#334155")
_REPEAT = "repeat:"   # "repeat:<the series' current post id>:<UTC instant>"
# The series whose coming dates are drawn: their current post is still to go out (or waits for approval).
_CURRENT = (PostStatus.SCHEDULED, PostStatus.PENDING_APPROVAL, PostStatus.PUBLISHING)

_MOVABLE = POST_MOVES["reschedule"].sources
_WALL = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class CalendarEntry:
    """One post on the calendar with its derived status (its deliveries are the dialog's to read)."""

    post: Post
    status: PostStatus
    category: str


def _shown_as(post: Post, status: PostStatus, workspace, account_ids, platforms, categories) -> str | None:
    """The post's calendar category, or None when the filters (accounts, platforms, categories) leave it out."""
    if account_ids and not any(a.id in account_ids for a in post.accounts):
        return None
    if platforms and not any(a.platform.value in platforms for a in post.accounts):
        return None
    cat = category(post, status, workspace)
    return None if categories and cat not in categories else cat


def category(post: Post, status: PostStatus, workspace: Workspace | None) -> str:
    """The legend entry of a post: approved (green) is a scheduled post in a workspace where posts need approval."""
    if status == PostStatus.SCHEDULED and post.state == PostState.APPROVED and workspace is not None \
            and workspace.requires_approval:
        return "approved"
    return status.value


def visible_range(view: str, anchor: date, tz_name: str) -> tuple[datetime, datetime]:
    """The UTC range a view shows around `anchor`: a month is the six Monday-first weeks FullCalendar draws."""
    if view == "Month":
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        end = start + timedelta(days=42)
    elif view == "Day":
        start, end = anchor, anchor + timedelta(days=1)
    else:
        start = anchor - timedelta(days=anchor.weekday())
        end = start + timedelta(days=7)
    return _local_midnight(start, tz_name), _local_midnight(end, tz_name)


def range_from_view(view: dict | None, tz_name: str) -> tuple[datetime, datetime] | None:
    """The range in a callback's ``view`` (activeStart/activeEnd, wall times in the zone), as UTC."""
    try:
        start, _ = parse_wall(view["activeStart"])
        end, _ = parse_wall(view["activeEnd"])
    except (KeyError, TypeError, ValueError):
        return None
    return _local_midnight(start, tz_name), _local_midnight(end, tz_name)


def _local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(tz_name)).astimezone(timezone.utc)


def parse_wall(text: str) -> tuple[date, time | None]:
    """A FullCalendar date or date-time as a wall date and time (offset or "Z" ignored: they are wall times)."""
    text = (text or "").strip()
    if len(text) == 10:
        return date.fromisoformat(text), None
    wall = datetime.fromisoformat(text[:19])
    return wall.date(), wall.time()


def calendar_entries(store: PostStore, workspace_id: str, *, start: datetime, end: datetime,
                     actor: Actor = SCRIPT, account_ids: Iterable[str] = (), platforms: Iterable[str] = (),
                     categories: Iterable[str] = (), batch_id: str | None = None,
                     limit: int = 5000) -> list[CalendarEntry]:
    """The workspace's posts due in [start, end) with their status, filtered (empty filter: all), by time.

    Read one status at a time: the store keeps each post's derived status, so a post comes back with it and no
    delivery is read (each status is a range of the (workspace, status, due_at) index; for 2,000 posts in a month
    this is 0.15 s of CPU instead of 0.4 s with every delivery read to derive the status again)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    workspace = store.get_workspace(workspace_id)
    account_ids, platforms, categories = set(account_ids), set(platforms), set(categories)
    statuses = list(PostStatus)
    if categories:
        wanted = {PostStatus.SCHEDULED.value if c == "approved" else c for c in categories}
        statuses = [st for st in statuses if st.value in wanted]
    one_account = next(iter(account_ids)) if len(account_ids) == 1 else None
    found: dict[str, tuple[Post, PostStatus]] = {}
    for status in statuses:
        for post in store.list_posts(workspace_id=workspace_id, start=start, end=end, batch_id=batch_id,
                                     limit=limit, account_id=one_account, statuses=[status]):
            found.setdefault(post.id, (post, status))   # changed between two reads: shown once
    ordered = sorted(found.values(), key=lambda ps: (ps[0].due_at is None, ps[0].due_at or start, ps[0].id))
    out = []
    for post, status in ordered[:limit]:
        if (cat := _shown_as(post, status, workspace, account_ids, platforms, categories)) is not None:
            out.append(CalendarEntry(post=post, status=status, category=cat))
    return out


def batch_names(store: PostStore, workspace_id: str, *, actor: Actor = SCRIPT) -> dict[str, str]:
    """The workspace's batches for the filter: id -> "week of 04 Mar 2030", newest first."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    batches = sorted(store.list_batches(workspace_id=workspace_id), key=lambda b: b.week_start, reverse=True)
    return {b.id: f"Week of {b.week_start:%d %b %Y}" + (f": {b.prompt[:30]}" if b.prompt else "") for b in batches}


def to_events(entries: Iterable[CalendarEntry], tz_name: str, *, can_edit: bool = False,
              summarise_over: int | None = None) -> list[dict]:
    """FullCalendar events: wall-time starts in the zone, the legend's colours, draggable when the post may move.

    With `summarise_over` (the month view passes DAY_LIMIT), a day with more posts than that gets one all-day
    event per status instead of one per post: "62 scheduled" in that status's colour, not draggable,
    its count in ``extendedProps["count"]``; `summary_day` reads the day back from a click on it."""
    tz = zone(tz_name)
    order = {key: i for i, key in enumerate(LEGEND)}
    dated = [(e, e.post.due_at.astimezone(tz)) for e in entries if e.post.due_at is not None]
    busy: set[date] = set()
    if summarise_over is not None:
        per_day: dict[date, int] = {}
        for _, local in dated:
            per_day[local.date()] = per_day.get(local.date(), 0) + 1
        busy = {day for day, n in per_day.items() if n > summarise_over}
    events = []
    counts: dict[tuple[date, str], int] = {}
    for e, local in dated:
        if local.date() in busy:
            counts[(local.date(), e.category)] = counts.get((local.date(), e.category), 0) + 1
            continue
        style = LEGEND.get(e.category, LEGEND["scheduled"])
        where = ", ".join(sorted({a.platform.label for a in e.post.accounts}))
        text = " ".join(e.post.caption.split()) or "(no caption)"
        demo = e.post.is_demo
        events.append({
            "id": e.post.id,
            # the words first: month cells are narrow
            "title": f"{'Demo · ' if demo else ''}{text[:40]}{'…' if len(text) > 40 else ''} ({where})",
            "start": local.strftime(_WALL),
            "backgroundColor": DEMO.colour if demo else style.colour, "borderColor": style.colour,
            "textColor": DEMO.text if demo else style.text,
            "editable": bool(can_edit and e.status in _MOVABLE and not demo),
            **({"classNames": ["outpost-demo"]} if demo else {}),
            "extendedProps": {"status": style.label, "category": e.category, "order": order.get(e.category, 99),
                              "demo": demo},
        })
    for (day, cat), n in sorted(counts.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        style = LEGEND.get(cat, LEGEND["scheduled"])
        events.append({
            "id": f"{_SUMMARY}{day.isoformat()}:{cat}",
            "title": f"{n} {style.label.lower()}",   # "65 scheduled": month cells are narrow
            "start": day.isoformat(), "allDay": True,
            "backgroundColor": style.colour, "borderColor": style.colour, "textColor": style.text,
            "editable": False, "classNames": ["outpost-day-summary"],
            "extendedProps": {"status": style.label, "category": cat, "order": order.get(cat, 99), "count": n,
                              "summary": True},
        })
    return events


@dataclass(frozen=True)
class PlannedRepeat:
    """A coming date of a recurring series, after its current post: not a post yet."""

    post: Post           # the series' current post (what the repeat will copy)
    at: datetime         # UTC
    category: str        # the current post's legend entry (its colour edges the repeat)


def planned_repeats(store: PostStore, workspace_id: str, *, start: datetime, end: datetime,
                    actor: Actor = SCRIPT, account_ids: Iterable[str] = (), platforms: Iterable[str] = (),
                    categories: Iterable[str] = (), batch_id: str | None = None,
                    entries: Iterable[CalendarEntry] | None = None, now: datetime | None = None,
                    limit: int = 1000) -> list[PlannedRepeat]:
    """The coming occurrences in [start, end) of every series whose current post is still to go out.

    Recurring posts are made one at a time (core.services.recurring: the next after the previous one settles), so
    the calendar would otherwise show only the next date. Expanded from the RRULE anchored at the series' first
    post (as `continue_series` does: DST-correct, UNTIL and COUNT counted from the first), strictly after the
    current post, lazily and only up to `end`. Filters as `calendar_entries`, applied to the current post.

    A series' current post is still to go out: it is among the visible range's posts (pass `entries`, the
    calendar's own read, to read them only once), between now and the range's start (read only when the range lies
    ahead: the current month reads nothing more), or overdue, before both (a runner stopped for days leaves it
    behind: a range of the status index that holds only what the runner has not done). An overdue series continues
    from now (core.rules.timing.catch_up: the dates it missed are skipped, never published), so its dates before
    `now` less the catch-up grace are not drawn."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    workspace = store.get_workspace(workspace_id)
    account_ids, platforms, categories = set(account_ids), set(platforms), set(categories)
    now = now or utcnow()
    since = now - timedelta(days=1)   # a post overdue by less, still waiting for a busy runner, is a recent one
    found: list[tuple[Post, PostStatus]] = []
    windows: list[tuple[datetime | None, datetime]] = [(None, min(since, start))]   # overdue, however long
    if entries is None:
        windows.append((min(since, start), end))
    else:
        found += [(e.post, e.status) for e in entries if e.status in _CURRENT]
        if since < start:
            windows.append((since, start))
    for lo, hi in windows:
        for status in _CURRENT:
            found += [(p, status) for p in store.list_posts(workspace_id=workspace_id, start=lo, end=hi, limit=limit,
                                                            statuses=[status], batch_id=batch_id)]
    current: dict[str, tuple[Post, PostStatus]] = {}
    for post, status in found:
        if not post.recurrence or post.due_at is None or post.is_demo:
            continue
        series = post.series_id or post.id
        if series not in current or post.due_at > current[series][0].due_at:
            current[series] = (post, status)
    out: list[PlannedRepeat] = []
    for series, (post, status) in current.items():
        if (cat := _shown_as(post, status, workspace, account_ids, platforms, categories)) is None:
            continue
        anchor, tz_name = post.schedule.scheduled_at, post.schedule.timezone_name
        if series != post.id:
            try:
                first = store.get_post(series)
            except NotFoundError:
                pass
            else:
                if first.schedule is not None:
                    anchor, tz_name = first.schedule.scheduled_at, first.schedule.timezone_name
        after = max(post.due_at, start - timedelta(microseconds=1), now - scheduling.DEFAULT_RECURRENCE_GRACE)
        try:
            for occurrence in scheduling.occurrences_after(post.recurrence, anchor, tz_name, after=after):
                if occurrence.at >= end:
                    break
                out.append(PlannedRepeat(post=post, at=occurrence.at, category=cat))
        except ValidationError:   # a rule that no longer reads: the series does not continue either
            continue
    return sorted(out, key=lambda r: (r.at, r.post.id))


def repeat_events(repeats: Iterable[PlannedRepeat], tz_name: str) -> list[dict]:
    """FullCalendar events for planned repeats: "↻ caption (where)", light with a dashed edge, never draggable."""
    tz = zone(tz_name)
    events = []
    for r in repeats:
        style = LEGEND.get(r.category, LEGEND["scheduled"])
        where = ", ".join(sorted({a.platform.label for a in r.post.accounts}))
        text = " ".join(r.post.caption.split()) or "(no caption)"
        events.append({
            "id": f"{_REPEAT}{r.post.id}:{r.at:%Y%m%dT%H%M%SZ}",
            "title": f"↻ {text[:40]}{'…' if len(text) > 40 else ''} ({where})",
            "start": r.at.astimezone(tz).strftime(_WALL),
            "backgroundColor": REPEAT.colour, "borderColor": style.colour, "textColor": REPEAT.text,
            "editable": False, "startEditable": False, "classNames": ["outpost-repeat"],
            "extendedProps": {"status": REPEAT.label, "category": "repeat", "order": len(LEGEND) + 1,
                              "repeat": True, "post_id": r.post.id},
        })
    return events


def repeat_of(event_id: str | None) -> str | None:
    """The series' current post a clicked planned repeat stands for, None for any other event."""
    text = str(event_id or "")
    if not text.startswith(_REPEAT):
        return None
    return text[len(_REPEAT):].rpartition(":")[0] or None


def summarise_over(view: str) -> int | None:
    """Above how many posts a day of `view` is summarised per status (None: every post drawn)."""
    return {"Month": DAY_LIMIT, "Week": WEEK_DAY_LIMIT}.get(view)


def summary_day(event_id: str | None) -> date | None:
    """The day a clicked summary event stands for ("day:2030-03-05:scheduled"), None for a post's own event."""
    text = str(event_id or "")
    if not text.startswith(_SUMMARY):
        return None
    try:
        return date.fromisoformat(text[len(_SUMMARY):len(_SUMMARY) + 10])
    except ValueError:
        return None


# ---------------------------------------------------------------- moving a post

@dataclass(frozen=True)
class Moved:
    """A post moved by drag: where it was (for undo) and what the scheduler said."""

    post_id: str
    previous: Schedule
    result: ScheduleResult


def _workspace_post(store: PostStore, workspace_id: str, post_id: str) -> Post:
    post = store.get_post(post_id)
    if post.workspace_id != workspace_id:   # a member of two workspaces moves only what this calendar shows
        raise NotFoundError("That post is not in this workspace.")
    return post


def move_post(store: PostStore, workspace_id: str, post_id: str, new_start: str, *, actor: Actor = SCRIPT,
              clock: Callable[[], datetime] = utcnow) -> Moved | None:
    """Reschedule a dropped post to `new_start` (a wall time in the workspace's zone; a bare date keeps the
    post's time of day). None when it did not move. Refused (ValidationError, PermissionDenied,
    IllegalTransitionError) by the composer's rules: past times, caps, gaps, who may edit, what has started."""
    post = _workspace_post(store, workspace_id, post_id)
    workspace = store.get_workspace(workspace_id)
    day, wall = parse_wall(new_start)
    if post.schedule is None:
        raise ValidationError(Problem("no_schedule", "This post has no time yet; give it one in its dialog.",
                                      field="schedule"))
    if wall is None:
        wall = post.schedule.local.astimezone(zone(workspace.timezone_name)).time()
    schedule = Schedule.at_local(day, wall, workspace.timezone_name)
    if schedule.scheduled_at == post.due_at:
        return None
    check_not_past(schedule.local, clock())   # said in the workspace's zone, before the scheduler says it in UTC
    result = Scheduler(store, actor=actor, clock=clock, refuse_past=True).reschedule(post_id, schedule)
    return Moved(post_id=post_id, previous=post.schedule, result=result)


def undo_move(store: PostStore, moved: Moved, *, actor: Actor = SCRIPT,
              clock: Callable[[], datetime] = utcnow) -> ScheduleResult:
    """Put a dragged post back where it was (refused like any move, e.g. when that time has passed since)."""
    check_not_past(moved.previous.local, clock())
    return Scheduler(store, actor=actor, clock=clock, refuse_past=True).reschedule(moved.post_id, moved.previous)


# ---------------------------------------------------------------- the post dialog

@dataclass(frozen=True)
class PostDetail:
    post: Post
    status: PostStatus
    deliveries: tuple[dict, ...]   # per target account: where, state, when, attempts, problem, link
    history: tuple[dict, ...]      # activity on the post and its deliveries, oldest first, local times


def post_detail(store: PostStore, workspace_id: str, post_id: str, *, tz_name: str,
                actor: Actor = SCRIPT) -> PostDetail:
    """A post with each target account's delivery and the history of both, for the dialog."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    post = _workspace_post(store, workspace_id, post_id)
    deliveries = store.get_deliveries(post_id)
    tz = zone(tz_name)
    labels = {a.id: a.label for a in post.accounts}
    rows = []
    for d in deliveries:
        rows.append({"delivery_id": d.id, "account": labels.get(d.account_id, d.platform.label),
                     "state": d.state.value, "status": d.state.value.replace("_", " ").capitalize(),
                     "when": _local(d.published_at or d.due_at, tz), "attempts": d.attempts,
                     "problem": d.last_error or "", "url": d.external_url or "",
                     "retryable": d.state in (DeliveryState.FAILED, DeliveryState.NEEDS_REVIEW),
                     "figures": _latest_figures(store, d, tz) if d.state == DeliveryState.PUBLISHED else ""})
    # Each list is newest first (same instant: last written first); reversed, the stable sort keeps write order.
    events = list(reversed(store.list_events(subject_id=post_id, limit=200)))
    for d in deliveries:
        events += reversed(store.list_events(subject_id=d.id, limit=50))
    events.sort(key=lambda e: e.at)
    names = _people(store, events)
    account_of = {d.id: labels.get(d.account_id, d.platform.label) for d in deliveries}
    history = tuple({"when": _local(e.at, tz), "what": _said(e.action),
                     "who": _who(e.actor, names), "reason": e.reason or "",
                     "account": account_of.get(e.subject_id, "")}
                    for e in events)
    return PostDetail(post=post, status=post_status(post, deliveries), deliveries=tuple(rows), history=history)


# A published post's figures as the platform last reported them, in the dialog's words (its own metric names are
# normalised to these; a metric the platform does not report is left out, never shown as 0).
_FIGURE_WORDS = {"views": ("view", "views"), "reach": ("reached", "reached"), "likes": ("like", "likes"),
                 "comments": ("comment", "comments"), "shares": ("share", "shares"), "saves": ("save", "saves"),
                 "clicks": ("click", "clicks"), "video_views": ("video view", "video views")}


def _latest_figures(store: PostStore, delivery, tz) -> str:
    """'1,234 views · 900 reached · 87 likes · 12 comments (Thu 04 Dec 14:05)', or why there are none yet."""
    latest = store.list_metric_snapshots(delivery_id=delivery.id, limit=1)
    if not latest:
        return "No figures yet: Outpost reads them within the hour after publishing."
    snap = latest[0]
    parts = [f"{int(snap.metrics[m]):,} {_FIGURE_WORDS[m][int(snap.metrics[m]) != 1]}" for m in METRICS
             if m in _FIGURE_WORDS and snap.metrics.get(m) is not None]
    if not parts:
        return f"{delivery.platform.label} reports no figures for this post yet ({_local(snap.taken_at, tz)})."
    return " · ".join(parts) + f" (as of {_local(snap.taken_at, tz)})"


# What happened to a post or one of its deliveries, as the dialog's history says it.
_SAID = {
    "post.created": "Saved as a draft", "post.submitted": "Sent for approval", "post.scheduled": "Scheduled",
    "post.rescheduled": "Moved to another time", "post.edited": "Edited", "post.approved": "Approved",
    "post.rejected": "Rejected", "post.returned_to_draft": "Back to draft", "post.cancelled": "Cancelled",
    "post.expired": "Expired: not approved in time", "post.recurred": "Planned from its series",
    "delivery.publishing": "Publishing", "delivery.published": "Published", "delivery.retry_wait": "Will try again",
    "delivery.failed": "Failed", "delivery.needs_review": "Needs a person to check it",
    "delivery.in_doubt": "Sent; checking that it went out", "delivery.waiting": "Waiting",
    "delivery.deferred": "Held back", "delivery.lease_expired": "Interrupted; checking what happened",
    "delivery.released": "Back in the queue", "delivery.cancelled": "Cancelled",
    "delivery.confirmed_published": "Confirmed as published", "delivery.given_up": "Given up",
    "delivery.requeued": "Sent to try again",
}


def _said(action: str) -> str:
    return _SAID.get(action) or action.rpartition(".")[2].replace("_", " ").capitalize()


def _people(store: PostStore, events: Iterable) -> dict[str, str]:
    """The names of the people who acted, read once each (not once per row)."""
    names: dict[str, str] = {}
    for e in events:
        kind, _, ident = (e.actor or "").partition(":")
        if kind == "user" and ident and ident not in names:
            try:
                user = store.get_user(ident)
            except NotFoundError:   # someone no longer in Outpost
                names[ident] = "a former member"
            else:
                names[ident] = user.display_name or user.email
    return names


def _who(label: str | None, names: dict[str, str]) -> str:
    kind, _, ident = (label or "").partition(":")
    if kind == "user":
        return names.get(ident, "a former member")
    return "Outpost"   # the runner, the scheduler's own jobs, scripts


def _local(at: datetime | None, tz) -> str:
    return at.astimezone(tz).strftime("%a %d %b %Y %H:%M") if at else "—"


def duplicate_post(store: PostStore, workspace_id: str, post_id: str, *, actor: Actor = SCRIPT,
                   clock: Callable[[], datetime] = utcnow) -> ScheduleResult:
    """A copy of the post as a new draft at the same time (nothing goes out until it is scheduled)."""
    post = _workspace_post(store, workspace_id, post_id)
    Scheduler(store, actor=actor).get(post_id)   # VIEW on the original
    copy = replace(post, id=None, state=PostState.DRAFT, version=0, created_at=None, updated_at=None,
                   rejection_reason=None, recurrence=None, series_id=None, batch_id=None,
                   created_by=actor.user_id if not actor.is_system else post.created_by)
    return Scheduler(store, actor=actor, clock=clock).save_draft(new_id("post"), copy)

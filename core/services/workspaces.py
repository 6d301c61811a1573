"""A workspace's settings (name, timezone, preferred time, queue slots, approval), changed by its owner.

`update_settings` checks who acts (`Action.MANAGE_MEMBERS`: owners manage the workspace, `core.rules.permissions`),
validates every change at once through the `Workspace` type (an IANA zone, times of day, queue slots per weekday),
saves and records an activity event naming the fields that changed.

`timezone_change_impact` says, before anything is saved, what a new timezone does to posts already planned. A
post's time is stored as an instant (UTC, `core.domain.Schedule`), so it keeps its instant: it goes out at the same
moment as before, which in the new zone reads as another wall time. Recurring series keep the zone they were
created in (`Schedule.timezone_name`, `core.services.recurring`). What changes is how times are shown, and new
times chosen from now on (preferred time, queue slots) are read in the new zone.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Callable, Mapping

from core.domain import ActivityEvent, Workspace
from core.domain.errors import Problem, ValidationError
from core.domain.lifecycle import PostStatus
from core.domain.timeutil import utcnow, zone
from core.rules.permissions import Action, Actor, check
from core.store import PostStore

# The operations (each told who acts); TimezoneImpact is what the impact check returns.
__all__ = ["settings_of", "timezone_change_impact", "update_settings"]

EDITABLE = frozenset({"name", "timezone_name", "preferred_time", "queue_slots", "requires_approval",
                      "approval_by_other"})
# Posts still to go out: what a timezone change could surprise someone about.
PLANNED = (PostStatus.PENDING_APPROVAL, PostStatus.SCHEDULED)


@dataclass(frozen=True)
class PlannedMove:
    """One planned post: its wall time in the old zone and the same instant's wall time in the new one."""

    post_id: str
    at: datetime          # the instant (UTC), unchanged
    old_local: datetime
    new_local: datetime


@dataclass(frozen=True)
class TimezoneImpact:
    old_zone: str
    new_zone: str
    moves: tuple[PlannedMove, ...]

    @property
    def message(self) -> str:
        """In plain words, what happens to planned posts."""
        n = len(self.moves)
        if self.old_zone == self.new_zone:
            return "The timezone is unchanged."
        if n == 0:
            return (f"No posts are planned, so nothing moves. From now on times are shown and chosen in "
                    f"{self.new_zone}.")
        first = self.moves[0]
        posts = ("1 planned post keeps the moment it was planned for, so its clock time reads" if n == 1 else
                 f"{n} planned posts keep the moments they were planned for, so their clock times read")
        return (f"{posts} differently in {self.new_zone}: "
                f"for example {first.old_local:%a %d %b %H:%M} in {self.old_zone} becomes "
                f"{first.new_local:%a %d %b %H:%M} in {self.new_zone}. Reschedule them if they should go out at the "
                f"same clock time in the new zone. New posts, the preferred time and queue slots use {self.new_zone}.")


def settings_of(store: PostStore, actor: Actor, workspace_id: str) -> Workspace:
    """The workspace as stored now (any member may read its settings)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    return store.get_workspace(workspace_id)


def _owner(actor: Actor, workspace_id: str) -> None:
    check(actor, Action.MANAGE_MEMBERS, workspace_id, subject="workspace")


def timezone_change_impact(store: PostStore, actor: Actor, workspace_id: str, new_zone: str, *,
                           now: datetime | None = None, limit: int = 5000) -> TimezoneImpact:
    """What changing the workspace's timezone to `new_zone` does to its planned posts (nothing is saved)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    new_tz = zone(new_zone)
    ws = store.get_workspace(workspace_id)
    old_tz = zone(ws.timezone_name)
    now = now or utcnow()
    posts = store.list_posts(workspace_id=workspace_id, statuses=PLANNED, start=now, limit=limit)
    moves = sorted((PlannedMove(post_id=p.id, at=p.due_at, old_local=p.due_at.astimezone(old_tz),
                                new_local=p.due_at.astimezone(new_tz)) for p in posts if p.due_at is not None),
                   key=lambda m: (m.at, m.post_id))
    return TimezoneImpact(old_zone=ws.timezone_name, new_zone=new_zone.strip(), moves=tuple(moves))


def _as_time(value, field: str, label: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(Problem("bad_time", f"{label}: '{value}' is not a time of day such as 09:00.",
                                      field=field)) from None


def update_settings(store: PostStore, actor: Actor, workspace_id: str, changes: Mapping[str, object], *,
                    clock: Callable[[], datetime] = utcnow) -> Workspace:
    """Change the workspace's settings (owners only); every problem is reported at once, nothing half-saved."""
    _owner(actor, workspace_id)
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise ValidationError(f"These settings cannot be changed here: {', '.join(unknown)}.", code="not_editable")
    current = store.get_workspace(workspace_id)
    values = dict(changes)
    problems: list[Problem] = []
    if "timezone_name" in values:
        values["timezone_name"] = str(values["timezone_name"] or "").strip()
        try:
            zone(values["timezone_name"])
        except ValidationError as exc:
            problems += exc.problems
    if "name" in values:
        values["name"] = str(values["name"] or "").strip()
    if "preferred_time" in values:
        try:
            values["preferred_time"] = _as_time(values["preferred_time"], "preferred_time", "Preferred posting time")
        except ValidationError as exc:
            problems += exc.problems
    if "queue_slots" in values:
        slots = values["queue_slots"]
        try:
            if not isinstance(slots, Mapping):
                raise ValidationError(Problem("queue_slots", "Queue times must be given per weekday.",
                                              field="queue_slots"))
            values["queue_slots"] = {day: tuple(_as_time(t, "queue_slots", "Queue time") for t in times)
                                     for day, times in slots.items()}
        except ValidationError as exc:
            problems += exc.problems
    for flag in ("requires_approval", "approval_by_other"):
        if flag in values:
            values[flag] = bool(values[flag])
    if not problems:
        try:
            updated = replace(current, **values)
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    changed = sorted(k for k in values if getattr(current, k) != getattr(updated, k))
    if not changed:
        return current
    saved = store.update_workspace(updated)
    details = {"fields": changed}
    if "timezone_name" in changed:
        details["timezone"] = {"from": current.timezone_name, "to": saved.timezone_name}
    store.record_event(ActivityEvent(action="workspace.settings_changed", subject_type="workspace",
                                     subject_id=workspace_id, at=clock(), actor=actor.label,
                                     workspace_id=workspace_id, details=details))
    return saved

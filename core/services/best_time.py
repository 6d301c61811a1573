"""Best time to post, for the Analytics page, the composer and Settings (issue 12).

    times = best_times(engine, store, ctx.actor, ws.id)                   # per platform, per account, the workspace
    times.by_account[acc.id].summary                                        # 'Tue 18:00 (based on 34 posts, fair confidence)'
    s = suggest_times(engine, store, ctx.actor, ws.id, ["acc_1", "acc_2"]) # the composer: next free moments
    q = suggest_queue_slots(engine, store, ctx.actor, ws.id)               # Settings: slots worth adding

Every call checks `Action.VIEW` on the workspace first (any member reads, a viewer too; someone outside it is told
"You are not a member of this workspace." before anything is read). The history is the analytics engine's
`post_table` (core.analytics.queries) over the last `HISTORY` (16 weeks, as Sprout's Optimal Send Times), ending
`SETTLE` (2 days, core.analytics.definitions' one settling time, which the Top/Bottom ranking uses too) before
now: a post younger than that is still gathering engagements and would look worse than
it is. The model and its fallbacks are core.analytics.best_time's.

Suggested moments go through core.rules.timing's `next_free_slot` for the chosen accounts together: the next
occurrence of a recommended weekday and hour in the workspace's zone (daylight saving resolved there) that is
free on every chosen account (their gaps and daily limits), at least `LEAD` from now.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from core.analytics.best_time import TOP, Recommendation, Slot, default_recommendation, recommend
from core.analytics.definitions import SETTLE, SETTLE_WORDS
from core.analytics.queries import Filters, post_table
from core.domain.errors import Problem, ValidationError
from core.domain.timeutil import to_utc, utcnow
from core.rules.permissions import Action, Actor, check
from core.rules.timing import LocalTimeResolution, next_free_slot
from core.store import PostStore

__all__ = ["HISTORY", "SETTLE", "LEAD", "BestTimes", "TimeSuggestion", "QueueSuggestion", "best_times", "suggest_times", "suggest_queue_slots", "with_slots_added"]

HISTORY = timedelta(weeks=16)
LEAD = timedelta(minutes=30)        # a suggested moment leaves at least this long to finish the post
_HORIZON_DAYS = 28
_CACHE_SIZE = 128
# Per engine (gone with it): answers by (engine.version, what was asked). The history window ends on a whole hour,
# so an answer stays good for that hour unless a refresh brings new figures (a new version).
_caches: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple, Any]]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _cached(engine, key: tuple, compute: Callable[[], Any]) -> Any:
    key = (getattr(engine, "version", 0),) + key
    with _cache_lock:
        cache = _caches.setdefault(engine, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = compute()
    with _cache_lock:
        cache[key] = value
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return value


@dataclass(frozen=True)
class BestTimes:
    """A workspace's recommendations: for the whole workspace, per platform and per account."""

    workspace: Recommendation
    by_platform: dict[str, Recommendation]
    by_account: dict[str, Recommendation]
    posts: int                       # published posts with figures in the history window
    start: datetime
    end: datetime
    tz_name: str
    young: int = 0                   # published posts with figures after the window: under SETTLE old, not counted


@dataclass(frozen=True)
class TimeSuggestion:
    """For the composer: the recommendation for the chosen accounts and the next free moment at each of its slots."""

    recommendation: Recommendation
    moments: tuple[tuple[Slot, LocalTimeResolution], ...]

    @property
    def headline(self) -> str:
        """'Best time for these accounts: Tue 18:00 (based on 34 posts, fair confidence)'."""
        who = "this account" if len(self.recommendation.account_ids) == 1 else "these accounts"
        return f"Best time for {who}: {self.recommendation.summary}"


@dataclass(frozen=True)
class QueueSuggestion:
    """For Settings: the workspace's best slots and which of them are not queue slots yet."""

    recommendation: Recommendation
    new: tuple[Slot, ...]            # best first, not in the queue yet
    already: tuple[Slot, ...]        # recommended and already queue slots


def _may_read(actor: Actor, workspace_id: str) -> None:
    check(actor, Action.VIEW, workspace_id, subject="workspace")


def _history(engine, workspace_id: str, tz_name: str, *, now: datetime) -> tuple[pd.DataFrame, datetime, datetime]:
    """The workspace's published posts with their latest figures over [end - HISTORY, end), where `end` is
    now - SETTLE rounded down to the hour. Reads the workspace's data without asking who wants it: only for the
    operations below, after their own permission check."""
    end = (to_utc(now, "current time") - SETTLE).replace(minute=0, second=0, microsecond=0)
    start = end - HISTORY

    def read() -> pd.DataFrame:
        con = engine.cursor()
        try:
            return post_table(con, Filters(workspace_id, start, end, tz_name))
        finally:
            con.close()
    return _cached(engine, ("history", workspace_id, tz_name, end), read), start, end


def _young(engine, workspace_id: str, tz_name: str, end: datetime) -> pd.DataFrame:
    """The published posts with figures from `end` (the history's end) on: too young to count yet."""
    def read() -> pd.DataFrame:
        con = engine.cursor()
        try:
            df = post_table(con, Filters(workspace_id, end, end + SETTLE + timedelta(hours=1), tz_name))
        finally:
            con.close()
        return df[pd.to_numeric(df["engagements"], errors="coerce").notna()] if len(df) else df
    return _cached(engine, ("young", workspace_id, tz_name, end), read)


def _said_young(rec: Recommendation, young: pd.DataFrame) -> Recommendation:
    """A default recommendation that says how many of its scope's posts are only too young to count yet."""
    if rec.basis != "default" or young.empty:
        return rec
    scope = young
    if rec.account_ids:
        scope = young[young["account_id"].isin(rec.account_ids)]
    elif rec.platforms and len(rec.platforms) == 1:
        scope = young[young["platform"].isin(rec.platforms)]
    if scope.empty:
        return rec
    return default_recommendation(rec.platforms, rec.tz_name, own_posts=rec.own_posts, account_ids=rec.account_ids,
                                  young=len(scope), settle_words=SETTLE_WORDS)


def _recommend(engine, df: pd.DataFrame, end: datetime, workspace_id: str, tz_name: str, *,
               account_ids: Sequence[str] = (), platforms: Sequence[str] = (), top: int = TOP) -> Recommendation:
    key = ("rec", workspace_id, tz_name, end, tuple(account_ids), tuple(platforms), top)
    return _cached(engine, key, lambda: recommend(df, tz_name, account_ids=account_ids, platforms=platforms,
                                                  top=top))


def _platforms(accounts, df: pd.DataFrame) -> list[str]:
    """The workspace's platforms: its accounts' first, then any other in its history."""
    return list(dict.fromkeys([a.platform.value for a in accounts] + sorted(set(df["platform"].dropna()))))


def _whole(engine, df: pd.DataFrame, end: datetime, workspace_id: str, tz: str, platforms: Sequence[str],
           top: int) -> Recommendation:
    """The whole workspace's recommendation; without enough history, the default of its first platform."""
    whole = _recommend(engine, df, end, workspace_id, tz, top=top)
    if whole.basis == "default" and platforms:
        # Too little history for the whole workspace is too little for any of its platforms: the default of its
        # first platform, with all of them named.
        whole = default_recommendation(platforms, tz, own_posts=whole.own_posts)
    return whole


def best_times(engine, store: PostStore, actor: Actor, workspace_id: str, *, now: datetime | None = None,
               top: int = TOP) -> BestTimes:
    """The workspace's best times: the whole workspace, each platform it has accounts on, and each account."""
    _may_read(actor, workspace_id)
    ws = store.get_workspace(workspace_id)
    accounts = store.list_accounts(workspace_id=workspace_id)
    df, start, end = _history(engine, workspace_id, ws.timezone_name, now=now or utcnow())
    tz = ws.timezone_name

    def rec(**scope) -> Recommendation:
        return _recommend(engine, df, end, workspace_id, tz, top=top, **scope)
    platforms = _platforms(accounts, df)
    young = _young(engine, workspace_id, tz, end)
    whole = _said_young(_whole(engine, df, end, workspace_id, tz, platforms, top), young)
    by_platform = {p: _said_young(rec(platforms=[p]), young) for p in platforms}
    by_account = {a.id: _said_young(rec(account_ids=[a.id], platforms=[a.platform.value]), young) for a in accounts}
    usable = int(pd.to_numeric(df["engagements"], errors="coerce").notna().sum()) if len(df) else 0
    return BestTimes(workspace=whole, by_platform=by_platform, by_account=by_account, posts=usable, start=start,
                     end=end, tz_name=tz, young=len(young))


def suggest_times(engine, store: PostStore, actor: Actor, workspace_id: str, account_ids: Sequence[str], *,
                  now: datetime | None = None, exclude_post_id: str | None = None) -> TimeSuggestion:
    """The best time for the chosen accounts together, and the next moment at each recommended slot that is free on
    every one of them (slots with no free moment in the next four weeks are left out)."""
    _may_read(actor, workspace_id)
    now = to_utc(now or utcnow(), "current time")
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        raise ValidationError(Problem("no_accounts", "Choose at least one account to get a suggested time.",
                                      field="accounts"))
    known = {a.id: a for a in store.list_accounts(workspace_id=workspace_id)}
    strangers = [i for i in ids if i not in known]
    if strangers:
        raise ValidationError(Problem("unknown_account", "Some chosen accounts are not in this workspace; choose "
                                      "them again.", field="accounts"))
    chosen = [known[i] for i in ids]
    ws = store.get_workspace(workspace_id)
    df, _, end = _history(engine, workspace_id, ws.timezone_name, now=now)
    rec = _recommend(engine, df, end, workspace_id, ws.timezone_name, account_ids=ids,
                     platforms=list(dict.fromkeys(a.platform.value for a in chosen)))
    after = now + LEAD
    taken = [item.at for a in chosen
             for item in store.account_schedule(a.id, after - timedelta(days=1),
                                                after + timedelta(days=_HORIZON_DAYS + 1),
                                                exclude_post_id=exclude_post_id)]
    moments = []
    for slot in rec.slots:
        try:
            res = next_free_slot({slot.weekday: [time(slot.hour, 0)]}, ws.timezone_name, after=after, taken=taken,
                                 min_gap=min(a.min_gap for a in chosen),
                                 daily_cap=min(a.effective_daily_cap for a in chosen), horizon_days=_HORIZON_DAYS)
        except ValidationError:
            continue
        moments.append((slot, res))
    return TimeSuggestion(recommendation=rec, moments=tuple(moments))


def suggest_queue_slots(engine, store: PostStore, actor: Actor, workspace_id: str, *, now: datetime | None = None,
                        count: int = 5) -> QueueSuggestion:
    """The workspace's `count` best slots, split into those not yet in its queue and those already there."""
    _may_read(actor, workspace_id)
    if count < 1:
        raise ValidationError(Problem("count", "Ask for at least one suggested slot.", field="count"))
    ws = store.get_workspace(workspace_id)
    df, _, end = _history(engine, workspace_id, ws.timezone_name, now=now or utcnow())
    rec = _whole(engine, df, end, workspace_id, ws.timezone_name,
                 _platforms(store.list_accounts(workspace_id=workspace_id), df), count)
    queued = {(day, t.hour, t.minute) for day, ts in ws.queue_slots.items() for t in ts}
    new = tuple(s for s in rec.slots if (s.weekday, s.hour, 0) not in queued)
    already = tuple(s for s in rec.slots if (s.weekday, s.hour, 0) in queued)
    return QueueSuggestion(recommendation=rec, new=new, already=already)


def with_slots_added(queue_slots: Mapping[int, Iterable[time]], slots: Iterable[Slot]) -> dict[int, list[str]]:
    """The queue slots with `slots` added, as Settings saves them ({weekday: ['09:00', ...]})."""
    out: dict[int, set[time]] = {day: set(ts) for day, ts in queue_slots.items()}
    for s in slots:
        out.setdefault(s.weekday, set()).add(time(s.hour, 0))
    return {day: [f"{t:%H:%M}" for t in sorted(ts)] for day, ts in sorted(out.items())}

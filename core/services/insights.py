"""Platform insights: each published post's metrics and each account's followers, as snapshots over time.

**What is pulled when** is decided from the history itself (the last snapshot per delivery and per account), by a
`MetricSchedule`: a delivery is pulled every `young_every` (hourly) while it is younger than `young_for` (48 h),
then every `old_every` (daily) until `max_age` (30 days), and never again after that; an account's followers
every `followers_every` (6 h). Posts that are demo data are never pulled. The runner calls `pull_insights` on a
short tick; whatever is due then is pulled, whatever is not waits for its time.

**Within each platform's limits**: one account at a time, its due posts in batches of as many ids as one metrics
call takes (core.platforms.metric_names: YouTube 50 a call, X 100, Graph one media per call...), each batch stored
as soon as it is read. When a platform says "too many calls" or "quota used up", that account (or, for a limit
of the whole app or API project, the whole platform) is left alone until the platform's reset (`Pauses`, kept in
the store, table metric_pauses, so a restarted runner keeps them) and the others go on; what was not pulled stays
due and is pulled on a later tick.
Any other failure skips that account for this pull only, never stopping the others.

**Missing stays missing**: a snapshot holds only what the platform reported (see metric_names).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable, Iterable

from core.services.connect import credentials
from core.domain import Account, Delivery
from core.domain.errors import OutpostError, PlatformError, RetryLater
from core.infra.settings import Settings
from core.platforms import metric_names
from core.platforms.base import PlatformAdapter, PublishRequest
from core.store import AccountSnapshot, MetricSnapshot, PostStore
from core.store.metrics import MetricPause
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.insights")
INSIGHTS_DAYS = 30                      # pull metrics for posts published this recently (the default max_age)

# How long to leave an account alone when the platform says it is limited but not until when (Graph's limits
# are counted over a rolling hour).
DEFAULT_PAUSE = timedelta(hours=1)


@dataclass(frozen=True)
class MetricSchedule:
    """How often metrics are pulled (Settings: OUTPOST_METRICS_*; the runner's flags win over them)."""

    young_for: timedelta = timedelta(hours=48)      # a post is "young" this long after it was published ...
    young_every: timedelta = timedelta(hours=1)     # ... and pulled this often while young,
    old_every: timedelta = timedelta(days=1)        # this often after that,
    max_age: timedelta = timedelta(days=INSIGHTS_DAYS)   # and never once it is older than this.
    followers_every: timedelta = timedelta(hours=6)  # each account's followers
    # A pull this much before its time counts as on time, so a snapshot taken a little late by one tick does not
    # push the next pull a whole tick later (the runner ticks every few minutes).
    slack: timedelta = timedelta(minutes=2)
    # Deliveries (and accounts) looked at per pull, the longest waiting first; the rest stay due for the next tick.
    # (Reading which are due: about 0.5 s for 15,000 recent deliveries with 850,000 snapshots on SQLite, most of it
    # building the deliveries read.)
    limit: int = 2000

    def __post_init__(self):
        for name in ("young_every", "old_every", "followers_every", "max_age"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be more than zero")
        if self.slack < timedelta(0) or self.slack >= min(self.young_every, self.old_every, self.followers_every):
            raise ValueError("slack must be at least zero and shorter than every interval")

    @classmethod
    def from_settings(cls, settings: Settings) -> "MetricSchedule":
        """The schedule `settings` describe (ValueError when an interval is not more than zero)."""
        every = [timedelta(seconds=s) for s in (settings.metrics_young_every_s, settings.metrics_old_every_s,
                                                settings.followers_every_s)]
        return cls(young_for=timedelta(hours=settings.metrics_young_hours), young_every=every[0], old_every=every[1],
                   max_age=timedelta(days=settings.metrics_max_age_days), followers_every=every[2],
                   slack=min(cls.slack, min(every) / 10) if min(every) > timedelta(0) else timedelta(0))


class Pauses:
    """Accounts and platforms a platform told to stop, until when, and posts that wait for their next time.

    Account and platform pauses are kept in the store as well (`MetricStore.pause_metrics`, table metric_pauses),
    and read back before every pull (`sync`): a restarted runner, another runner, or `jobs.runner --once` from cron
    keeps away from a limit it did not see itself, and a pause a person lifted ends here too. Holds of single
    posts (no answer yet) are this process's only: forgetting them costs one call."""

    def __init__(self):
        self._lock = threading.Lock()
        self._until: dict[str, datetime] = {}
        self._stored: set[str] = set()        # the keys the store knows of (as of the last sync or write)
        self._synced = False

    def hold(self, key: str, until: datetime) -> None:
        with self._lock:
            self._until[key] = max(until, self._until.get(key, until))

    def until(self, key: str, now: datetime) -> datetime | None:
        """When `key` may be called again, if that is still ahead of `now`."""
        with self._lock:
            until = self._until.get(key)
            if until is not None and until <= now:
                del self._until[key]
                return None
            return until

    def active(self, kind: str, now: datetime) -> set[str]:
        """The names held of one kind ("account", "platform", "delivery") that still wait at `now`."""
        with self._lock:
            return {key.partition(":")[2] for key, until in self._until.items()
                    if key.startswith(kind + ":") and until > now}

    def sync(self, store: PostStore, now: datetime) -> None:
        """Take the store's running pauses in (ended ones are deleted there); a pause this object had from the store
        that the store no longer has was lifted, so it ends here too. A store that cannot be read leaves things
        as they were (the pull goes on with what this process knows)."""
        try:
            if not self._synced or self._stored:     # a write only when an ended pause may be there to delete
                store.drop_expired_metric_pauses(now)
            stored = {p.scope: p.until for p in store.metric_pauses(now)}
        except Exception:
            log.exception("insights: could not read the metric pauses; going on with this runner's own")
            return
        with self._lock:
            for key in self._stored - stored.keys():
                self._until.pop(key, None)
            for key, until in stored.items():
                self._until[key] = max(until, self._until.get(key, until))
            self._stored = set(stored)
            self._synced = True

    def persist(self, store: PostStore, key: str, until: datetime, reason: str, now: datetime) -> None:
        """Hold `key` ("account:<id>" / "platform:<slug>") until `until`, here and in the store."""
        self.hold(key, until)
        try:
            store.pause_metrics(key, until, reason, now=now)
        except Exception:            # this process still keeps away; the next sync tries the store again
            log.exception("insights: could not store the pause of %s until %s", key, until.isoformat())
            return
        with self._lock:
            self._stored.add(key)


def pauses_for_accounts(store: PostStore, accounts: Iterable[Account], now: datetime) -> dict[str, MetricPause]:
    """For pages: the metric pause holding each of `accounts` back at `now` (its own or its platform's, whichever
    ends later), by account id; accounts that are not paused are left out. One read of the store."""
    accounts = list(accounts)
    scopes = {f"account:{a.id}" for a in accounts} | {f"platform:{a.platform.value}" for a in accounts}
    running = {p.scope: p for p in store.metric_pauses(now, scopes=sorted(scopes))}
    out = {}
    for a in accounts:
        found = [p for p in (running.get(f"account:{a.id}"), running.get(f"platform:{a.platform.value}")) if p]
        if found:
            out[a.id] = max(found, key=lambda p: p.until)
    return out


@dataclass
class PullResult:
    """What one pull did (the runner logs it; tests read it)."""

    snapshots: int = 0                  # post metric snapshots stored
    followers: int = 0                  # follower snapshots stored
    calls: int = 0                      # post metrics calls made (one per batch of ids)
    paused: dict[str, datetime] = field(default_factory=dict)   # "account:<id>" / "platform:<slug>" -> until
    skipped: set[str] = field(default_factory=set)               # accounts that failed this time
    unanswered: int = 0                 # posts asked for that the platform gave nothing for (asked again later)


def _scope_key(platform: str, account_id: str, exc: PlatformError) -> str:
    app_wide = metric_names.limits_whole_app(platform, exc.code)
    return f"platform:{platform}" if app_wide else f"account:{account_id}"


def _is_limit(exc: PlatformError) -> bool:
    return isinstance(exc, RetryLater) and (exc.rate_limited or metric_names.is_limit_code(exc.code))


def pull_insights(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], *,
                  clock: Callable[[], datetime] = utcnow, schedule: MetricSchedule | None = None,
                  pauses: Pauses | None = None, days: int | None = None, report: PullResult | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> int:
    """Pull what is due now: post metrics per `schedule`, then followers; returns how many post snapshots were
    stored (`report`, if given, is filled in with the rest). `days` (older callers) sets the schedule's max_age.
    An account that failed this time is left alone until the next pull, followers included."""
    schedule = schedule or MetricSchedule()
    if days is not None:
        schedule = replace(schedule, max_age=timedelta(days=days))
    pauses = pauses if pauses is not None else Pauses()
    now = clock()
    result = report if report is not None else PullResult()
    pauses.sync(store, now)
    # What waits for a platform's reset is left out in the query, so it never takes the places of the others.
    due = store.deliveries_due_for_metrics(
        now, young_for=schedule.young_for, young_every=schedule.young_every - schedule.slack,
        old_every=schedule.old_every - schedule.slack, max_age=schedule.max_age, limit=schedule.limit,
        skip_accounts=pauses.active("account", now), skip_platforms=pauses.active("platform", now),
        skip_deliveries=pauses.active("delivery", now))
    by_account: dict[str, list[Delivery]] = {}
    for d in due:
        by_account.setdefault(d.account_id, []).append(d)
    for account_id, items in by_account.items():
        if should_stop():
            return result.snapshots
        _guarded(account_id, result,
                 lambda: _pull_posts(store, adapter_for, account_id, items, now, schedule, pauses, result))
    for account_id in store.accounts_due_for_followers(now, every=schedule.followers_every - schedule.slack,
                                                       limit=schedule.limit):
        if should_stop():
            break
        if account_id not in result.skipped:
            _guarded(account_id, result, lambda: _pull_followers(store, adapter_for, account_id, now, pauses, result))
    return result.snapshots


def _guarded(account_id: str, result: PullResult, work: Callable[[], None]) -> None:
    try:
        work()
    except (PlatformError, OutpostError) as exc:
        result.skipped.add(account_id)
        log.warning("insights for account %s skipped this time: %s", account_id, exc)
    except Exception:
        result.skipped.add(account_id)
        log.exception("insights for account %s failed unexpectedly; going on with the others", account_id)


def _paused(account: Account, now: datetime, pauses: Pauses) -> bool:
    for key in (f"platform:{account.platform.value}", f"account:{account.id}"):
        until = pauses.until(key, now)
        if until is not None:
            log.info("insights for account %s wait until %s (%s was told to slow down)", account.id,
                     until.isoformat(), key)
            return True
    return False


def _limited(store: PostStore, account: Account, exc: PlatformError, now: datetime, pauses: Pauses,
             result: PullResult) -> None:
    """The platform said "too many calls": leave the account (or platform) alone until its reset."""
    key = _scope_key(account.platform.value, account.id, exc)
    retry_at = getattr(exc, "retry_at", None)
    until = retry_at if retry_at is not None and retry_at > now else now + DEFAULT_PAUSE
    pauses.persist(store, key, until, _pause_reason(account, key, exc), now)
    result.paused[key] = until
    log.warning("insights: %s is limited until %s (%s); the others go on", key, until.isoformat(), exc)


def _pause_reason(account: Account, key: str, exc: PlatformError) -> str:
    """Why metric pulls wait, in words (the Accounts and Activity pages may show it)."""
    who = f"every {account.platform.label} account" if key.startswith("platform:") else account.label
    return f"Metrics for {who} wait for the platform's limit to reset: {exc}"


def _pull_posts(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], account_id: str,
                items: list[Delivery], now: datetime, schedule: MetricSchedule, pauses: Pauses,
                result: PullResult) -> None:
    account = store.get_account(account_id)
    if _paused(account, now, pauses):
        return
    # A post the platform answered nothing for (no data yet, deleted, a story past its 24 h) has no snapshot, so
    # the history alone would call it due on every tick: it waits for its next time here instead.
    items = [d for d in items if pauses.until(f"delivery:{d.id}", now) is None]
    adapter = adapter_for(account.platform)
    creds = credentials(account)
    items = resolve_pending(store, adapter, account, items)
    ready = [d for d in items if d.external_id and not d.progress.get("pending_id")]
    batch = metric_names.batch_size(account.platform.value)
    for start in range(0, len(ready), batch):
        chunk = ready[start:start + batch]
        try:
            metrics = adapter.post_metrics(creds, [d.external_id for d in chunk])
        except PlatformError as exc:
            if _is_limit(exc):
                _limited(store, account, exc, now, pauses, result)
                return
            raise
        result.calls += 1
        snaps = [MetricSnapshot(delivery_id=d.id, post_id=d.post_id, account_id=account.id,
                                workspace_id=account.workspace_id, platform=account.platform.value,
                                external_id=d.external_id, taken_at=now, metrics=dict(m.values),
                                raw=dict(m.raw)) for d in chunk if (m := metrics.get(d.external_id))]
        if snaps:
            store.add_metric_snapshots(snaps)
            result.snapshots += len(snaps)
        for d in chunk:
            if d.external_id not in metrics:
                young = d.published_at is not None and d.published_at > now - schedule.young_for
                pauses.hold(f"delivery:{d.id}", now + (schedule.young_every if young else schedule.old_every)
                            - schedule.slack)
                result.unanswered += 1


def _pull_followers(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], account_id: str,
                    now: datetime, pauses: Pauses, result: PullResult) -> None:
    account = store.get_account(account_id)
    if _paused(account, now, pauses):
        return
    adapter = adapter_for(account.platform)
    try:
        followers = adapter.account_metrics(credentials(account))
    except PlatformError as exc:
        if _is_limit(exc):
            _limited(store, account, exc, now, pauses, result)
            return
        raise
    store.add_metric_snapshots((), [AccountSnapshot(
        account_id=account.id, workspace_id=account.workspace_id, platform=account.platform.value,
        taken_at=now, followers=followers.followers, raw=dict(followers.raw))])
    result.followers += 1


def resolve_pending(store: PostStore, adapter: PlatformAdapter, account: Account,
                    items: list[Delivery]) -> list[Delivery]:
    """Posts the platform accepted before giving them a public id (TikTok): ask again for the id, one delivery's
    failure never stopping the others; returns the deliveries as they are now."""
    out = []
    for d in items:
        if d.progress.get("pending_id"):
            try:
                post = store.get_post(d.post_id)
                req = PublishRequest(content=post.render(d.platform), marker=d.marker or d.id,
                                     progress={"publish_id": d.external_id or "", **d.progress})
                found = adapter.find_published(credentials(account), req, since=d.due_at - timedelta(minutes=5))
                if found is not None and not found.extra.get("pending_id"):
                    d = store.update_delivery(
                        replace(d, external_id=found.external_id, external_url=found.url,
                                progress={**d.progress, "pending_id": ""}), expected_version=d.version)
            except (PlatformError, OutpostError) as exc:
                log.info("delivery %s: public id not there yet (%s)", d.id, exc)
            except Exception:
                log.exception("delivery %s (account %s): asking for its public id failed unexpectedly",
                              d.id, account.id)
        out.append(d)
    return out

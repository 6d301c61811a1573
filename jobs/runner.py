"""The runner: publishes due posts on time, exactly once, and keeps accounts and insights fresh.

    python -m jobs.runner              run until SIGTERM / Ctrl-C
    python -m jobs.runner --once       one pass of everything (for cron), then exit
    python -m jobs.runner --sandbox    use the platform emulator (started here if it is not running)
    python -m jobs.runner --health     exit 1 unless this runner's heartbeat is fresh (for monitors)

How it is built:
- **Publishing** is its own loop (a thread): it sleeps until the next delivery is due (never more
  than `poll_s`, so a post approved a moment ago is seen within it), claims due deliveries with a
  lease (core.db.sql_runner), and hands them to a pool of worker threads, serially per account
  (the claim guarantees it) and within per-platform caps. Each worker runs one attempt
  (core.services.publisher.Publisher).
- **Everything else** is driven by the `schedule` package: a heartbeat that also renews the leases
  of work in flight (every few seconds), sweeping expired leases into reconciliation, refreshing
  tokens, pulling the metrics that are due (every few minutes it looks; each post hourly while young, then
  daily, each account's followers every 6 h: core.services.insights), approval reminders, housekeeping, and
  the batch-generation hook.
  Those jobs are core services (core.services: a page, a script or a test calls them without a runner);
  the runner only schedules and guards them.
  Every job is wrapped: a failure is logged and counted, never re-raised (a job that raises inside
  `schedule` is not rescheduled and starves the rest). Slow jobs run on their own thread so the
  heartbeat never waits for them, and a job still running is not started twice.
- **Settings** come from `core.infra.settings.Settings` (the environment, read once); each command-line flag
  wins over its setting.
- **SIGTERM**: stop claiming, let in-flight attempts finish for up to `shutdown_timeout_s`, give back
  claimed work that never reached the platform, exit 0. Anything still mid-call keeps its lease and
  is reconciled by whichever runner sweeps it.
"""
from __future__ import annotations

import argparse
import logging
import os
import queue
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from collections import deque
from typing import Callable, Mapping

import httpx
import schedule

from core.domain import Delivery
from core.domain.errors import ConfigurationError, OutpostError
from core.media.library import MediaLibrary
from core.services.notifications import InAppNotifier, Notifier
from core.platforms.base import PlatformAdapter
from core.services.publisher import Pacing, Publisher
from core.rules.outcomes import RetryPolicy
from core.services import generation, housekeeping, insights, reminders, series, tokens
from core.infra.settings import Settings, parse_retry_delays
from core.infra.settings import parse_platform_concurrency as _platform_concurrency
from core.store import Heartbeat, PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.runner")


# What the runner does when nothing is configured: Settings' own defaults, the one source of them (RunnerConfig()
# equals RunnerConfig.from_settings(Settings()); the intervals below that have no setting are the runner's own).
_DEFAULTS = Settings()


def _retry_policy(settings: Settings) -> RetryPolicy:
    """The retry policy `settings` describe (ValueError when it cannot be one)."""
    return RetryPolicy(delays=tuple(timedelta(seconds=d) for d in settings.retry_delays_s),
                       max_attempts=settings.max_attempts)


def _pacing(settings: Settings) -> Pacing:
    return Pacing(burst_limit=settings.burst_limit, burst_window=timedelta(seconds=settings.burst_window_s))


@dataclass(frozen=True)
class RunnerConfig:
    # the heartbeat's name (what --health checks)
    name: str = field(default_factory=lambda: _DEFAULTS.runner_name or socket.gethostname())
    concurrency: int = _DEFAULTS.runner_concurrency   # publishes in flight at once (worker threads)
    lease: timedelta = timedelta(seconds=_DEFAULTS.runner_lease_s)
    heartbeat_s: float = 5.0
    sweep_s: float = 15.0
    poll_s: float = 1.0                   # the longest the publish loop sleeps without looking
    shutdown_timeout_s: float = 30.0
    token_job_s: float = 600.0
    insights_s: float = 3600.0            # the batch-generation hook's interval (see schedule_jobs)
    metrics_tick_s: float = _DEFAULTS.metrics_tick_s   # how often the runner looks at which metrics are due
    reminders_s: float = 3600.0
    housekeeping_s: float = 3600.0
    # When each post's metrics and each account's followers are pulled (core.services.insights).
    metrics: insights.MetricSchedule = insights.MetricSchedule.from_settings(_DEFAULTS)
    stale_after_s: float = 30.0           # --health: a heartbeat older than this is stale
    policy: RetryPolicy = _retry_policy(_DEFAULTS)
    pacing: Pacing = _pacing(_DEFAULTS)
    max_lateness: timedelta = timedelta(seconds=_DEFAULTS.max_lateness_s)
    # after a lost answer, wait this long before asking the platform
    reconcile_after: timedelta = timedelta(seconds=_DEFAULTS.reconcile_after_s)
    # Most publishes in flight per platform ({"youtube": 2}); a platform not named here uses its adapter's
    # max_concurrency (YouTube 4: uploads move whole videos), else the runner's concurrency.
    platform_concurrency: Mapping[str, int] = field(default_factory=lambda: dict(_DEFAULTS.platform_concurrency))

    @classmethod
    def from_settings(cls, settings: Settings) -> "RunnerConfig":
        """The runner's configuration as `settings` have it (ValueError when the retry settings make no policy)."""
        return cls(name=settings.runner_name or socket.gethostname(), concurrency=settings.runner_concurrency,
                   lease=timedelta(seconds=settings.runner_lease_s),
                   platform_concurrency=dict(settings.platform_concurrency), policy=_retry_policy(settings),
                   max_lateness=timedelta(seconds=settings.max_lateness_s),
                   reconcile_after=timedelta(seconds=max(0.0, settings.reconcile_after_s)), pacing=_pacing(settings),
                   metrics=insights.MetricSchedule.from_settings(settings), metrics_tick_s=settings.metrics_tick_s)


class Runner:
    def __init__(self, store: PostStore, settings: Settings, config: RunnerConfig | None = None, *,
                 adapter_for: Callable[[object], PlatformAdapter] | None = None,
                 clock: Callable[[], datetime] = utcnow, generate_batches: Callable[[], None] | None = None,
                 notifier: Notifier | None = None):
        self.store = store
        self.notifier = notifier or InAppNotifier(store)
        self.settings = settings
        # Without a config of its own, the runner does what its settings say.
        self.config = config = config if config is not None else RunnerConfig.from_settings(settings)
        self.clock = clock
        # Unique per process: what claims carry. Two processes never share it, even with one name.
        self.claim_id = f"{config.name}:{os.getpid()}:{secrets.token_hex(3)}"
        self.started_at = clock()
        self._client: httpx.Client | None = None
        self._adapters: dict[str, PlatformAdapter] = {}
        self._adapter_lock = threading.RLock()
        self.adapter_for = adapter_for or self._adapter
        library = None
        try:
            library = MediaLibrary(settings.media_dir, settings.public_media_url)
        except Exception:  # no media directory yet is fine: nothing was uploaded
            library = None
        self.metric_pauses = insights.Pauses()     # who said "too many calls" to the metrics pulls (kept in the store)
        self.publisher = Publisher(store, self.adapter_for, runner_id=self.claim_id, clock=clock,
                                   policy=config.policy, pacing=config.pacing, max_lateness=config.max_lateness,
                                   media_library=library, on_published=self._after_publish,
                                   reconcile_after=config.reconcile_after, notifier=self.notifier)
        self.generate_batches = generate_batches
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._in_flight: dict[str, Delivery] = {}
        self._in_flight_lock = threading.Lock()
        # Per platform: its cap, deliveries claimed and not finished (load), attempts running, and claimed
        # deliveries waiting for one of its slots. All under _in_flight_lock.
        self._caps: dict[str, int] = {}
        self._caps_known = False
        self._load: dict[str, int] = {}
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[Delivery]] = {}
        self._workers: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        self._scheduler = schedule.Scheduler()
        self._busy_jobs: set[str] = set()
        self._jobs_queue: queue.Queue = queue.Queue()
        self._jobs_thread: threading.Thread | None = None
        self._renew_stop = threading.Event()
        self.stats = {"claimed": 0, "published": 0, "failed": 0, "needs_review": 0, "retry_wait": 0, "queued": 0,
                      "swept": 0, "job_errors": 0}
        self._stats_lock = threading.Lock()
        # How many times this runner has asked the database for due work (claim_due). Tests wait for more passes
        # (wait_passes) instead of sleeping before they assert that something was, or was not, claimed.
        self.passes = 0
        self._passes_changed = threading.Condition()

    # ------------------------------------------------------------ adapters
    def _adapter(self, platform) -> PlatformAdapter:
        from core.platforms.registry import build_adapter
        key = str(getattr(platform, "value", platform))
        with self._adapter_lock:
            if key not in self._adapters:
                if self._client is None:
                    n = max(self.config.concurrency * 2, 20)
                    self._client = httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False,
                                                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
                self._adapters[key] = build_adapter(platform, self.settings, self._client)
            return self._adapters[key]

    def cap(self, platform) -> int:
        """The most publishes this runner makes to `platform` at once."""
        key = str(getattr(platform, "value", platform))
        cap = self._caps.get(key)
        if cap is None:
            cap = self.config.platform_concurrency.get(key)
            if cap is None:
                try:
                    cap = self.adapter_for(platform).max_concurrency
                except Exception:
                    cap = None
            cap = self._caps[key] = max(1, min(cap or self.config.concurrency, self.config.concurrency))
        return cap

    # ------------------------------------------------------------ publishing
    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def _work(self) -> None:
        """A worker: run claimed deliveries; one whose platform is at its cap waits in that platform's line
        (the worker moves on), and whoever finishes a publish to that platform runs it next."""
        while True:
            d = self._queue.get()
            if d is None:
                return
            key = d.platform.value
            with self._in_flight_lock:
                if self.stopping.is_set():
                    # Shutting down: do not start new work; release_claims gives this one back untouched.
                    self._done(d)
                    continue
                if self._running.get(key, 0) >= self._caps[key]:
                    self._waiting.setdefault(key, deque()).append(d)
                    continue
                self._running[key] = self._running.get(key, 0) + 1
            while d is not None:
                d = self._attempt(d)

    def _attempt(self, d: Delivery) -> Delivery | None:
        """Run one attempt while holding a slot of its platform; returns the next delivery waiting for that
        slot (the slot passes to it), or None after giving the slot back."""
        key = d.platform.value
        try:
            result = self.publisher.run(d)
            if result is not None:
                self._count(result.state.value)
        except Exception:
            # A bug or a database outage: the delivery keeps its lease and is reconciled after it expires.
            log.exception("delivery %s: the attempt stopped unexpectedly", d.id)
            self._count("job_errors")
        with self._in_flight_lock:
            self._done(d)
            line = self._waiting.get(key)
            if self.stopping.is_set():
                while line:                    # never started: release_claims gives them back untouched
                    self._done(line.popleft())
            nxt = line.popleft() if line else None
            if nxt is None:
                self._running[key] -= 1
        self._wake.set()
        return nxt

    def _done(self, d: Delivery) -> None:
        """Forget a delivery this runner held (caller holds _in_flight_lock)."""
        if self._in_flight.pop(d.id, None) is not None:
            self._load[d.platform.value] -= 1

    def _submit(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            self.cap(d.platform)                          # known before any worker looks
        fresh = []
        with self._in_flight_lock:
            for d in deliveries:
                if d.id in self._in_flight:
                    continue                              # already running here: never run one delivery twice
                self._in_flight[d.id] = d
                self._load[d.platform.value] = self._load.get(d.platform.value, 0) + 1
                fresh.append(d)
        for d in fresh:
            self._queue.put(d)

    def room(self) -> dict[str, int]:
        """Per platform with a cap below the runner's concurrency: how many more it may take right now."""
        if not self._caps_known:                 # every platform's cap, once (a claim may bring any of them)
            from core.platforms.registry import supported_platforms
            for platform in supported_platforms():
                self.cap(platform)
            self._caps_known = True
        with self._in_flight_lock:
            return {k: max(0, cap - self._load.get(k, 0)) for k, cap in self._caps.items()
                    if cap < self.config.concurrency or self._load.get(k, 0) >= cap}

    def full_platforms(self) -> list[str]:
        """Platforms with as many deliveries claimed as their cap: claiming more for them would only queue."""
        return sorted(k for k, n in self.room().items() if n <= 0)

    def free_slots(self) -> int:
        with self._in_flight_lock:
            return self.config.concurrency - len(self._in_flight)

    def claim_and_dispatch(self) -> int:
        """Claim what is due (as much as there are free workers) and hand it out; returns how many."""
        free = self.free_slots()
        if free <= 0 or self.stopping.is_set():
            return 0
        now = self.clock()
        claimed = self.store.claim_due(now, runner_id=self.claim_id, lease_until=now + self.config.lease, limit=free,
                                       room=self.room())
        if claimed:
            self._count("claimed", len(claimed))
            self._submit(claimed)
        with self._passes_changed:
            self.passes += 1
            self._passes_changed.notify_all()
        return len(claimed)

    def wait_passes(self, n: int = 2, timeout: float = 60.0) -> int:
        """Block until `n` more claiming passes have run (a test hook); returns the pass count.

        The pass running at the call may have read the database before the caller's last change: with n >= 2
        at least one whole pass started after it. Raises TimeoutError if the passes do not come."""
        with self._passes_changed:
            target = self.passes + n
            if not self._passes_changed.wait_for(lambda: self.passes >= target, timeout):
                raise TimeoutError(f"the runner made {self.passes} claiming passes, not {target}, in {timeout}s")
            return self.passes

    def _publish_loop(self) -> None:
        cfg = self.config
        batch = max(1, cfg.concurrency // 4)
        while not self.stopping.is_set():
            self._wake.clear()
            free = self.free_slots()
            if 0 < free < batch:
                # Busy: let a few more workers finish so one claim serves several (each claim takes the
                # database's write lock), but never wait long enough to make a due post late. Each finishing
                # worker wakes the loop: keep waiting until `batch` are free or the 50 ms are over.
                until = time.monotonic() + 0.05
                while (left := until - time.monotonic()) > 0 and self.free_slots() < batch \
                        and not self.stopping.is_set():
                    self._wake.wait(left)
                    self._wake.clear()
            if free <= 0:
                self._wake.wait(cfg.poll_s)        # every worker busy: woken when one finishes
                continue
            try:
                claimed = self.claim_and_dispatch()
                if claimed and self.free_slots() > 0:
                    continue                       # there may be more due right now
                if self.free_slots() <= 0:
                    continue                       # full again: no need to know when the next is due
                nxt = self.store.next_due_at(self.clock(), skip_platforms=self.full_platforms())
            except Exception:
                log.exception("claiming failed; trying again shortly")
                self._count("job_errors")
                self.stopping.wait(min(cfg.poll_s, 1.0))
                continue
            now = self.clock()
            if self.free_slots() <= 0:
                wait = cfg.poll_s                  # woken when a worker finishes
            elif nxt is None:
                wait = cfg.poll_s
            else:
                ahead = (nxt - now).total_seconds()
                # next_due_at skips accounts that are busy or held, so "due now" after a claim means a race
                # with another runner: look again shortly, not in a spin.
                wait = min(cfg.poll_s, ahead) if ahead > 0 else min(cfg.poll_s, 0.2)
            if wait > 0:
                self._wake.wait(wait)

    # ------------------------------------------------------------ the schedule-driven jobs
    def heartbeat(self) -> None:
        now = self.clock()
        with self._in_flight_lock:
            in_flight = len(self._in_flight)
        with self._stats_lock:
            info = {"claim_id": self.claim_id, "in_flight": in_flight, **self.stats}
        # One row per process (its claim id, which starts with its name): two runners that share a name
        # never overwrite or delete each other's heartbeat.
        self.store.save_heartbeat(Heartbeat(runner_id=self.claim_id, host=socket.gethostname(), pid=os.getpid(),
                                            started_at=self.started_at, beat_at=now,
                                            info={"name": self.config.name, **info}))

    def _renew_loop(self) -> None:
        """Renew this runner's leases every third of a lease (and through the shutdown wait), on its own
        thread so that nothing else the runner does can delay it past the lease."""
        every = max(0.2, min(self.config.heartbeat_s, self.config.lease.total_seconds() / 3))
        while not self._renew_stop.wait(every):
            with self._in_flight_lock:
                held = list(self._in_flight)
            if not held:
                continue
            try:
                # Only what is in hand: an attempt that stopped unexpectedly left its delivery claimed, and that
                # lease must run out so a sweep reconciles it (renewing every claim would keep it forever).
                self.store.renew_leases(self.claim_id, self.clock() + self.config.lease, ids=held)
            except Exception:
                log.exception("renewing leases failed; trying again in %.1fs", every)

    def sweep(self) -> int:
        """Take over deliveries whose lease expired (their runner died or hung) and reconcile them."""
        if self.stopping.is_set():
            return 0
        free = self.free_slots()
        if free <= 0:
            return 0
        now = self.clock()
        with self._in_flight_lock:
            mine = list(self._in_flight)
        taken = self.store.claim_expired(now, runner_id=self.claim_id, lease_until=now + self.config.lease,
                                         limit=free, exclude_ids=mine)
        if taken:
            log.warning("took over %d deliveries whose runner stopped mid-way; reconciling them", len(taken))
            self._count("swept", len(taken))
            self._submit(taken)
        return len(taken)

    # The jobs below are core services (core.services); the runner gives them its store, clock and adapters,
    # acts as "runner:<claim id>", and stops them between items when it is stopping.
    @property
    def actor(self) -> str:
        return f"runner:{self.claim_id}"

    def refresh_tokens(self) -> int:
        """Refresh tokens that expire soon (core.services.tokens); returns how many were refreshed."""
        return tokens.refresh_tokens(self.store, self.adapter_for, clock=self.clock, actor=self.actor,
                                     notifier=self.notifier, should_stop=self.stopping.is_set)

    def pull_insights(self) -> int:
        """The metrics and followers that are due (core.services.insights); an account or platform that said "too
        many calls" is left alone until its reset, remembered in the store (table metric_pauses), so a restart or
        `--once` from cron remembers it too."""
        return insights.pull_insights(self.store, self.adapter_for, clock=self.clock, schedule=self.config.metrics,
                                      pauses=self.metric_pauses, should_stop=self.stopping.is_set)

    def approval_reminders(self) -> int:
        """Tell approvers about posts waiting for them that are due within a day (core.services.reminders)."""
        return reminders.approval_reminders(self.store, clock=self.clock, notifier=self.notifier)

    def housekeeping(self) -> None:
        """Old connect attempts, old heartbeats (never this runner's), series left behind, renditions no post needs
        (core.services.housekeeping)."""
        housekeeping.housekeeping(self.store, clock=self.clock, actor=self.actor, keep_runner_id=self.claim_id,
                                  library=self.publisher.media_library)

    def _after_publish(self, post, delivery) -> None:
        if series.after_publish(self.store, post, clock=self.clock, actor=self.actor) is not None:
            self._wake.set()                   # the next occurrence may be due soon: look again now

    def _generate(self) -> None:
        generation.generate_batches(self.generate_batches)

    # ------------------------------------------------------------ job plumbing
    def _guarded(self, name: str, fn: Callable[[], object], *, background: bool = False) -> Callable[[], None]:
        """A job that logs and counts its failures instead of raising (schedule would stop rescheduling it)."""

        def run() -> None:
            started = time.monotonic()
            try:
                result = fn()
                if result:
                    log.debug("%s: %s (%.2fs)", name, result, time.monotonic() - started)
            except Exception:
                log.exception("job %s failed; it runs again at its next time", name)
                self._count("job_errors")
            finally:
                self._busy_jobs.discard(name)

        def start() -> None:
            if name in self._busy_jobs:
                return                                        # still running from last time
            self._busy_jobs.add(name)
            if background:
                self._jobs_queue.put(run)
            else:
                run()

        return start

    def _jobs_worker(self) -> None:
        while True:
            job = self._jobs_queue.get()
            if job is None:
                return
            job()

    def schedule_jobs(self) -> schedule.Scheduler:
        c, s = self.config, self._scheduler
        s.clear()
        s.every(c.heartbeat_s).seconds.do(self._guarded("heartbeat", self.heartbeat))
        s.every(c.sweep_s).seconds.do(self._guarded("sweep", self.sweep))
        s.every(c.token_job_s).seconds.do(self._guarded("tokens", self.refresh_tokens, background=True))
        s.every(c.metrics_tick_s).seconds.do(self._guarded("insights", self.pull_insights, background=True))
        s.every(c.reminders_s).seconds.do(self._guarded("reminders", self.approval_reminders, background=True))
        s.every(c.housekeeping_s).seconds.do(self._guarded("housekeeping", self.housekeeping, background=True))
        s.every(c.insights_s).seconds.do(self._guarded("generate", self._generate, background=True))
        return s

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Start the workers, the publish loop and the jobs thread (non-blocking; see run_forever)."""
        log.info("runner %s starting: %d workers, lease %ss", self.claim_id, self.config.concurrency,
                 int(self.config.lease.total_seconds()))
        self._start_workers()
        self._jobs_thread = threading.Thread(target=self._jobs_worker, name="jobs", daemon=True)
        self._jobs_thread.start()
        self.schedule_jobs()
        self._guarded("heartbeat", self.heartbeat)()
        self._guarded("sweep", self.sweep)()
        self._loop = threading.Thread(target=self._publish_loop, name="publish-loop", daemon=True)
        self._loop.start()
        self._guarded("tokens", self.refresh_tokens, background=True)()
        self._guarded("housekeeping", self.housekeeping, background=True)()

    def _start_workers(self) -> None:
        """The publishing workers and the lease renewer (both run_forever and run_once need them)."""
        for i in range(self.config.concurrency):
            t = threading.Thread(target=self._work, name=f"publish-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        threading.Thread(target=self._renew_loop, name="leases", daemon=True).start()

    def run_pending(self) -> None:
        self._scheduler.run_pending()

    def run_forever(self) -> None:
        self.start()
        while not self.stopping.is_set():
            self.run_pending()
            self.stopping.wait(min(1.0, max(0.05, self._scheduler.idle_seconds or 1.0)))
        self.shutdown()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def shutdown(self) -> None:
        """Stop claiming, wait for in-flight attempts (bounded), give back unsent claims, say goodbye."""
        self.stop()
        if self._loop is not None:
            self._loop.join(timeout=5)
        deadline = time.monotonic() + self.config.shutdown_timeout_s
        while time.monotonic() < deadline:
            with self._in_flight_lock:
                if not self._in_flight:
                    break
            time.sleep(0.05)
        for _ in self._workers:
            self._queue.put(None)
        self._jobs_queue.put(None)
        if self._jobs_thread is not None:
            # A job mid-way (a token refresh) finishes and saves what it got; jobs check `stopping` between items.
            self._jobs_thread.join(timeout=max(1.0, deadline - time.monotonic()))
        self._renew_stop.set()
        try:
            released = self.store.release_claims(self.claim_id)
            with self._in_flight_lock:
                left = len(self._in_flight)
            log.info("runner %s stopped: %d claims given back, %d still mid-call (their leases expire and are "
                     "reconciled)", self.claim_id, released, left)
            self.store.delete_heartbeat(self.claim_id)
        except Exception:
            log.exception("could not give back claims on the way out (their leases will expire)")
        if self._client is not None:
            self._client.close()

    def run_once(self, *, timeout_s: float = 300.0) -> dict:
        """One pass of everything, for cron: sweep, publish what is due now, then the other jobs."""
        self._start_workers()
        self._guarded("heartbeat", self.heartbeat)()
        self._guarded("sweep", self.sweep)()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            claimed = self.claim_and_dispatch()
            with self._in_flight_lock:
                busy = len(self._in_flight)
            if not claimed and not busy:
                break
            self._wake.wait(0.1)
            self._wake.clear()
        for name, fn in (("tokens", self.refresh_tokens), ("insights", self.pull_insights),
                         ("reminders", self.approval_reminders), ("housekeeping", self.housekeeping),
                         ("generate", self._generate)):
            self._guarded(name, fn)()
        self.shutdown()
        return dict(self.stats)


# ---------------------------------------------------------------- the command line
def _parser() -> argparse.ArgumentParser:
    """The flags; each one left out takes its setting (core.infra.settings: OUTPOST_RUNNER_NAME and the others)."""
    p = argparse.ArgumentParser(prog="python -m jobs.runner", description="Outpost's runner: publishes due posts.")
    p.add_argument("--once", action="store_true", help="one pass of everything, then exit (for cron)")
    p.add_argument("--sandbox", action="store_true",
                   help="publish to the local platform emulator, starting it if it is not running")
    p.add_argument("--health", action="store_true", help="exit 1 unless this runner's heartbeat is fresh")
    p.add_argument("--name", default=None,
                   help="this runner's name in heartbeats (default: OUTPOST_RUNNER_NAME, else the host name)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="publishes in flight at once (default: OUTPOST_RUNNER_CONCURRENCY, else 32)")
    p.add_argument("--platform-concurrency", default=None,
                   help="most publishes in flight per platform, e.g. youtube=2,tiktok=4 (default: "
                        "OUTPOST_PLATFORM_CONCURRENCY, else YouTube 4, others up to --concurrency)")
    p.add_argument("--lease-s", type=float, default=None, help="claim lease (default: OUTPOST_RUNNER_LEASE_S, else 120)")
    p.add_argument("--burst-limit", type=int, default=None,
                   help="most posts per account within --burst-window-s (default: OUTPOST_BURST_LIMIT, else 3)")
    p.add_argument("--burst-window-s", type=float, default=None,
                   help="(default: OUTPOST_BURST_WINDOW_S, else 600)")
    p.add_argument("--no-daily-cap", action="store_true", help="do not hold posts back at an account's daily limit")
    p.add_argument("--max-attempts", type=int, default=None, help="(default: OUTPOST_MAX_ATTEMPTS, else 4)")
    p.add_argument("--retry-delays-s", default=None,
                   help="waits between attempts, in seconds (default: OUTPOST_RETRY_DELAYS_S, else 60,300,900)")
    p.add_argument("--max-lateness-s", type=float, default=None,
                   help="a delivery found later than this goes to review instead of out (default: "
                        "OUTPOST_MAX_LATENESS_S, else 3600)")
    p.add_argument("--reconcile-after-s", type=float, default=None,
                   help="after a lost answer, wait this long before asking the platform whether the post exists "
                        "(default: OUTPOST_RECONCILE_AFTER_S, else 30: platforms list a new post within seconds)")
    p.add_argument("--metrics-young-hours", type=float, default=None,
                   help="a post counts as young this long after it was published (default: "
                        "OUTPOST_METRICS_YOUNG_HOURS, else 48)")
    p.add_argument("--metrics-young-every-s", type=float, default=None,
                   help="pull a young post's metrics this often (default: OUTPOST_METRICS_YOUNG_EVERY_S, else 3600)")
    p.add_argument("--metrics-old-every-s", type=float, default=None,
                   help="then this often (default: OUTPOST_METRICS_OLD_EVERY_S, else 86400)")
    p.add_argument("--metrics-max-age-days", type=float, default=None,
                   help="stop pulling a post's metrics this long after it was published (default: "
                        "OUTPOST_METRICS_MAX_AGE_DAYS, else 30)")
    p.add_argument("--followers-every-s", type=float, default=None,
                   help="pull each account's followers this often (default: OUTPOST_FOLLOWERS_EVERY_S, else 21600)")
    p.add_argument("--metrics-tick-s", type=float, default=None,
                   help="look at which metrics are due this often (default: OUTPOST_METRICS_TICK_S, else 300)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING... (default: OUTPOST_LOG_LEVEL or INFO)")
    p.add_argument("--json-logs", action="store_true", default=None, help="one JSON object per log line")
    return p


def config_from_args(args: argparse.Namespace, settings: Settings | None = None) -> RunnerConfig:
    """The runner's configuration: each flag given on the command line, else its setting (`settings`, read from
    the environment when not given). A bad value is a SystemExit that names the flag or the variable."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigurationError as exc:
            raise SystemExit(str(exc)) from None

    try:
        delays = None if args.retry_delays_s is None else parse_retry_delays(args.retry_delays_s, "--retry-delays-s")
    except ConfigurationError as exc:
        raise SystemExit(str(exc)) from None
    platform_concurrency = (None if args.platform_concurrency is None
                            else parse_platform_concurrency(args.platform_concurrency))
    # A flag given wins over its setting; the configuration is then built from the settings alone.
    flags = {"runner_name": args.name or None, "runner_concurrency": args.concurrency, "runner_lease_s": args.lease_s,
             "platform_concurrency": platform_concurrency, "burst_limit": args.burst_limit,
             "burst_window_s": args.burst_window_s, "max_attempts": args.max_attempts, "retry_delays_s": delays,
             "max_lateness_s": args.max_lateness_s, "reconcile_after_s": args.reconcile_after_s,
             "metrics_young_hours": args.metrics_young_hours, "metrics_young_every_s": args.metrics_young_every_s,
             "metrics_old_every_s": args.metrics_old_every_s, "metrics_max_age_days": args.metrics_max_age_days,
             "followers_every_s": args.followers_every_s, "metrics_tick_s": args.metrics_tick_s}
    settings = replace(settings, **{name: value for name, value in flags.items() if value is not None})
    if settings.runner_concurrency < 1 or settings.burst_limit < 1:
        raise SystemExit("--concurrency and --burst-limit must be at least 1.")
    metric_flags = ("metrics_young_hours", "metrics_young_every_s", "metrics_old_every_s", "metrics_max_age_days",
                    "followers_every_s", "metrics_tick_s")
    if any(getattr(settings, name) <= 0 for name in metric_flags if name != "metrics_young_hours") \
            or settings.metrics_young_hours < 0:
        raise SystemExit("--metrics-*-every-s, --metrics-max-age-days, --followers-every-s and --metrics-tick-s must "
                         "be more than 0, and --metrics-young-hours not negative.")
    try:
        config = RunnerConfig.from_settings(settings)
    except ValueError as exc:
        raise SystemExit(f"--retry-delays-s / --max-attempts: {exc}") from None
    if args.no_daily_cap:
        config = replace(config, pacing=replace(config.pacing, enforce_daily_cap=False))
    return config


def parse_platform_concurrency(text: str) -> dict[str, int]:
    """"youtube=2, x=8" -> {"youtube": 2, "x": 8}, or SystemExit naming what is wrong."""
    try:
        return _platform_concurrency(text, "--platform-concurrency")
    except ConfigurationError as exc:
        raise SystemExit(str(exc)) from None


def ensure_emulator(settings: Settings):
    """The emulator at settings.sandbox_url, started in this process if nothing answers there."""
    from urllib.parse import urlsplit
    try:
        if httpx.get(settings.sandbox_url.rstrip("/") + "/_control/health", timeout=2, trust_env=False).is_success:
            return None
    except httpx.HTTPError:
        pass
    from sandbox import Emulator
    parts = urlsplit(settings.sandbox_url)
    emu = Emulator.start(port=parts.port or 8765, host=parts.hostname or "127.0.0.1")
    log.info("started the platform emulator at %s", emu.url)
    return emu


def health(store: PostStore, name: str, stale_after_s: float, now: datetime) -> tuple[bool, str]:
    # Newest first: the freshest process running under this name.
    beat = next((b for b in store.list_heartbeats() if b.runner_id == name or b.runner_id.startswith(f"{name}:")),
                None)
    if beat is None:
        return False, f"no heartbeat from runner {name!r}: it is not running (or runs under another --name)"
    age = (now - beat.beat_at).total_seconds()
    if age > stale_after_s:
        return False, f"runner {name!r} last beat {age:.0f}s ago (pid {beat.pid} on {beat.host}): stale"
    return True, (f"runner {name!r} is alive: beat {age:.1f}s ago, {beat.info.get('in_flight', 0)} in flight, "
                  f"{beat.info.get('published', 0)} published since {beat.started_at:%Y-%m-%d %H:%M} UTC")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        print(f"outpost runner: {exc}", file=sys.stderr)
        return 2
    if args.sandbox:
        settings = replace(settings, sandbox=True)
    from core.infra.logs import configure_logging
    configure_logging(args.log_level or settings.log_level,
                      json_lines=settings.log_json if args.json_logs is None else args.json_logs)
    config = config_from_args(args, settings)
    from core.services.runtime import open_store
    try:
        # Workers hold a connection only for a query at a time; a pool a little smaller than the worker
        # count is plenty and keeps several runners within PostgreSQL's default 100 connections.
        store = open_store(settings, pool_size=max(5, min(config.concurrency, 16)), max_overflow=8, pool_timeout=60)
    except OutpostError as exc:
        print(f"outpost runner: {exc}", file=sys.stderr)
        return 2
    if args.health:
        ok, message = health(store, config.name, config.stale_after_s, utcnow())
        print(message)
        return 0 if ok else 1
    emulator = ensure_emulator(settings) if args.sandbox else None
    runner = Runner(store, settings, config)
    if args.once:
        stats = runner.run_once()
        log.info("one pass done: %s", stats)
        if emulator is not None:
            emulator.stop()
        return 0

    def on_signal(signum, _frame):
        log.info("received %s: finishing in-flight posts, then stopping", signal.Signals(signum).name)
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.run_forever()
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

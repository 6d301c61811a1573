"""What both benchmarks share: the emulator and runner processes, a fresh database, accounts, bulk posts, the tally.

Processes, not threads: the emulator (`python -m sandbox`) and every runner (`python -m jobs.runner`) run
as their own processes so none of them shares a GIL with another or with the bench. They meet through the
database (DATABASE_URL), the key file in one shared data directory (OUTPOST_DATA_DIR) and the emulator's URL
(OUTPOST_SANDBOX_URL).

The tally reads the truth from two sides: the `deliveries` table (what Outpost believes) and the emulator's
/_control/posts (what the platforms received). Posts are matched by text, which is unique per delivery.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
UTC = timezone.utc

WAITING_STATES = ("queued", "publishing", "retry_wait")
DEFAULT_PLATFORMS = ("x", "facebook", "linkedin")
SUPPORTED_PLATFORMS = ("x", "facebook", "linkedin", "instagram", "threads", "mastodon", "bluesky")
# The emulator's own caps, lifted so the platforms' quotas do not shape a benchmark (each is a SandboxConfig field).
LIFTED_QUOTAS = {"x_tweet_limit": 10**9, "x_app_daily_tweets": 10**9, "li_member_daily_posts": 10**9,
                 "ig_publish_quota": 10**9, "tt_daily_posts": 10**9}
# Where each platform's publishing call goes (a substring of the emulator path, and the method).
PUBLISH_CALLS = {"x": ("/api.x.com/2/tweets", "POST"), "facebook": ("/feed", "POST"),
                 "linkedin": ("/rest/posts", "POST"), "instagram": ("/media_publish", "POST")}
# Bench posts are due within the run; background posts this far ahead, so they never become due.
BACKGROUND_AHEAD = timedelta(days=60)


def _die_with_parent() -> None:
    """In a child: get SIGTERM when the bench dies, however it dies (Linux), so no emulator or runner is left over."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_on_sigterm() -> None:
    """SIGTERM to the bench unwinds it like Ctrl-C, so its `finally` stops the emulator and the runners."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def say(message: str) -> None:
    """Progress on stderr (stdout's last line is the JSON result)."""
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)


def parse_platforms(text: str) -> tuple[str, ...]:
    names = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    bad = [p for p in names if p not in SUPPORTED_PLATFORMS]
    if not names or bad:
        raise SystemExit(f"--platforms: choose from {', '.join(SUPPORTED_PLATFORMS)} (got {text!r})")
    return names


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the two nearest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------- process figures
def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS in kB from /proc/<pid>/status ({} once the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (/proc/<pid>/stat), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class ProcessWatch:
    """Samples peak RSS (VmHWM) and CPU time of some processes on a thread, keeping the last figure per pid."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.peak_kb: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.labels: dict[int, str] = {}
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-watch", daemon=True)
        self._thread.start()

    def add(self, pid: int, label: str) -> None:
        with self._lock:
            self._pids.add(pid)
            self.labels[pid] = label
        self.sample(pid)

    def sample(self, pid: int) -> None:
        hwm = proc_status(pid).get("VmHWM")
        cpu = proc_cpu_s(pid)
        with self._lock:
            if hwm:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), hwm)
            if cpu is not None:
                self.cpu_s[pid] = cpu

    def forget(self, pid: int) -> None:
        """Last sample (call before the process is reaped), then stop watching it."""
        self.sample(pid)
        with self._lock:
            self._pids.discard(pid)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                pids = list(self._pids)
            for pid in pids:
                self.sample(pid)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def peak_mb(self, prefix: str) -> float | None:
        values = [kb for pid, kb in self.peak_kb.items() if self.labels.get(pid, "").startswith(prefix)]
        return round(max(values) / 1024.0, 1) if values else None

    def cpu_now(self, prefix: str) -> float:
        """CPU seconds of the watched processes labelled `prefix...`, sampled now (for a difference)."""
        with self._lock:
            pids = [pid for pid in self._pids if self.labels.get(pid, "").startswith(prefix)]
        for pid in pids:
            self.sample(pid)
        with self._lock:
            return sum(s for pid, s in self.cpu_s.items() if self.labels.get(pid, "").startswith(prefix))

    def total_cpu(self, prefix: str) -> float | None:
        values = [s for pid, s in self.cpu_s.items() if self.labels.get(pid, "").startswith(prefix)]
        return round(sum(values), 1) if values else None


# ---------------------------------------------------------------- the emulator
class EmulatorProcess:
    """`python -m sandbox --port 0` in its own process; its log goes to a file."""

    def __init__(self, workdir: Path, *, seed: int = 1, watch: ProcessWatch | None = None):
        self.log_path = workdir / "emulator.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([PYTHON, "-m", "sandbox", "--port", "0", "--seed", str(seed)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     preexec_fn=_die_with_parent)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].startswith("http"):
            self.stop()
            raise RuntimeError(f"the emulator did not start (see {self.log_path})")
        # Nothing else is printed on stdout, but keep the pipe drained in case that ever changes.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.url = line[0].strip()
        self.http = httpx.Client(base_url=self.url, timeout=120, trust_env=False)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/_control/health").is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator at {self.url} does not answer (see {self.log_path})")
            time.sleep(0.05)
        if watch is not None:
            watch.add(self.proc.pid, "emulator")

    def _call(self, method: str, path: str, body=None):
        response = self.http.request(method, "/_control" + path, json=body)
        if not response.is_success:
            raise RuntimeError(f"emulator {method} /_control{path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def configure(self, **changes) -> dict:
        return self._call("PATCH", "/config", changes)

    def set_latency(self, ms: float) -> None:
        self._call("POST", "/faults", {"latency_ms": float(ms)})

    def add_fault(self, **rule) -> dict:
        return self._call("POST", "/faults", rule)

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def posts(self) -> list[dict]:
        data = self._call("GET", "/posts")
        return data.get("posts", data) if isinstance(data, dict) else data

    def duplicates(self) -> dict:
        return self._call("GET", "/duplicates")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "http", None) is not None:
            self.http.close()
        self._log.close()


# ---------------------------------------------------------------- the database
class BenchDatabase:
    """A fresh SQLite file in the work directory, or a fresh schema on the given PostgreSQL server.

    For PostgreSQL the runners get the schema through the URL (`?options=-csearch_path=...`), which psycopg
    hands to the server, so every process sees the same tables; the schema is dropped at the end.
    """

    def __init__(self, workdir: Path, database_url: str | None = None, *, keep: bool = False):
        from core.db import make_engine, normalize_url, upgrade
        self.schema: str | None = None
        self.keep = keep
        self._admin = None
        if not database_url:
            self.url = f"sqlite:///{workdir / 'outpost.sqlite'}"
        else:
            url = sa.make_url(normalize_url(database_url))
            if url.get_backend_name() == "postgresql":
                self.schema = f"outpost_bench_{uuid.uuid4().hex[:10]}"
                self._admin = make_engine(url.render_as_string(hide_password=False))
                with self._admin.begin() as conn:
                    conn.exec_driver_sql(f'CREATE SCHEMA "{self.schema}"')
                url = url.update_query_dict({"options": f"-csearch_path={self.schema}"})
                say(f"PostgreSQL schema {self.schema}")
            self.url = url.render_as_string(hide_password=False)
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        if database_url and self.schema is None:
            from core.db.testing import clear_tables
            say("clearing every table of the given database")
            clear_tables(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            if not self.keep:
                with self._admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            self._admin.dispose()


# ---------------------------------------------------------------- the world
@dataclass
class World:
    """Everything a benchmark sets up before the runners start."""

    workdir: Path
    emulator: EmulatorProcess
    db: BenchDatabase
    settings: object
    store: object
    workspace_id: str
    accounts: list
    watch: ProcessWatch
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def runner_env(self, log_level: str = "INFO") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_") and k != "DATABASE_URL"}
        env.update(DATABASE_URL=self.db.url, OUTPOST_DATA_DIR=str(self.workdir), OUTPOST_SANDBOX="true",
                   OUTPOST_SANDBOX_URL=self.emulator.url, OUTPOST_LOG_LEVEL=log_level, PYTHONUNBUFFERED="1")
        return env


def make_workdir(keep: bool) -> Path:
    path = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    say(f"work directory {path}{' (kept)' if keep else ''}")
    return path


def build_world(*, workdir: Path, database_url: str | None, platforms: Sequence[str], accounts: int, seed: int,
                platform_dedupe: bool, keep: bool) -> World:
    """Emulator, database, owner and workspace, and `accounts` connected accounts (round robin over platforms)."""
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    from core.infra.settings import Settings
    from sandbox.seed import connect_accounts

    watch = ProcessWatch()
    emulator = EmulatorProcess(workdir, seed=seed, watch=watch)
    db = None
    try:
        say(f"emulator at {emulator.url} (pid {emulator.proc.pid})")
        # The platforms' own quotas are lifted; duplicate refusal is off unless asked for, so that a double
        # publish shows up as a second post (a duplicate) instead of being hidden by the platform refusing it.
        emulator.configure(**LIFTED_QUOTAS, x_reject_duplicates=platform_dedupe,
                           fb_reject_duplicates=platform_dedupe, li_reject_duplicates=platform_dedupe)
        db = BenchDatabase(workdir, database_url, keep=keep)
        settings = Settings(data_dir=workdir, database_url=db.url, sandbox=True, sandbox_url=emulator.url)
        store = open_store(settings)
        tag = uuid.uuid4().hex[:6]
        user, workspace = create_owner(store, email=f"bench-{tag}@example.com",
                                       password="bench password, long enough", workspace_name="Bench")
        by_platform: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i in range(accounts):
            platform = platforms[i % len(platforms)]
            by_platform[platform].append((i, f"b{tag}_{i:05d}"))
        started = time.monotonic()
        slots: list = [None] * accounts
        with httpx.Client(timeout=60, trust_env=False) as client:
            for platform, numbered in by_platform.items():
                # Caps lifted on the accounts too, so Outpost's own scheduling limits do not interfere.
                got = connect_accounts(store, settings, user_id=user.id, workspace_id=workspace.id,
                                       platform=platform, handles=[h for _, h in numbered], client=client,
                                       daily_cap=100000, min_gap_minutes=0)
                for (i, _), account in zip(numbered, got):
                    slots[i] = account       # platforms interleaved again, in the order they were asked for
        connected = [a for a in slots if a is not None]
        if len({a.id for a in connected}) != accounts:
            raise RuntimeError(f"asked for {accounts} accounts, got {len({a.id for a in connected})} distinct ones")
        mix = ", ".join(f"{p}: {len(h)}" for p, h in by_platform.items())
        say(f"connected {len(connected)} accounts ({mix}) through the OAuth flow in {time.monotonic() - started:.1f}s")
    except BaseException:
        # Nothing outlives a failed setup: the emulator is our child and the schema ours.
        emulator.stop()
        watch.stop()
        if db is not None:
            db.close()
        raise
    return World(workdir=workdir, emulator=emulator, db=db, settings=settings, store=store,
                 workspace_id=workspace.id, accounts=connected, watch=watch, tag=tag)


# ---------------------------------------------------------------- posts
def media_for(platform: str, emulator_url: str) -> tuple[str, ...]:
    """Instagram needs an image (the emulator serves a JPEG); the others post text."""
    return (f"{emulator_url}/_media/sample.jpg?w=1080&h=1080",) if platform == "instagram" else ()


def insert_posts(engine, workspace_id: str, items: Iterable[tuple[object, str, datetime, tuple[str, ...]]],
                 *, chunk: int = 5000, analyze: bool = True) -> int:
    """Approved posts, one delivery each, in bulk: the same rows `store.add_post` writes, many per statement.

    `items` yields (account, caption, due_at, media_urls). The rows are built by the SQL store's own row
    functions, so they are exactly what the store would have written (status "scheduled", queued delivery).
    Each chunk is one transaction; runners see a chunk at once.
    """
    from core.db.engine import write_transaction
    from core.db.schema import deliveries, post_accounts, posts
    from core.db.rows import delivery_values as _delivery_values, post_values as _post_values
    from core.domain import Delivery, Post, Schedule, new_id
    from core.domain.lifecycle import PostState, PostStatus

    now = datetime.now(UTC)
    total = 0
    batch: list[tuple[dict, dict, dict]] = []

    def flush() -> None:
        if not batch:
            return
        with write_transaction(engine) as conn:
            conn.execute(posts.insert(), [b[0] for b in batch])
            conn.execute(post_accounts.insert(), [b[1] for b in batch])
            conn.execute(deliveries.insert(), [b[2] for b in batch])
        batch.clear()

    for account, caption, due, media in items:
        post = Post(caption=caption, accounts=(account,), id=new_id("post"), media_urls=media,
                    schedule=Schedule(scheduled_at=due, timezone_name="UTC"), workspace_id=workspace_id,
                    state=PostState.APPROVED, created_at=now, updated_at=now, version=1)
        delivery = Delivery(post_id=post.id, account_id=account.id, platform=account.platform, due_at=due,
                            version=1, updated_at=now)
        batch.append((_post_values(post, PostStatus.SCHEDULED),
                      {"post_id": post.id, "account_id": account.id, "position": 0},
                      _delivery_values(delivery, position=0)))
        total += 1
        if len(batch) >= chunk:
            flush()
    flush()
    if analyze and engine.dialect.name == "postgresql":
        # A database that grew to this size over weeks has planner statistics; one filled in seconds has none
        # until autovacuum gets to it (never, on a server with autovacuum off), and the runner's queries are
        # then planned for an empty table: next_due_at took 1.3 s a call over 100,000 unanalysed rows.
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE accounts, posts, post_accounts, deliveries")
    return total


def schedule_uniform(world: "World", n: int, spread: float, *, lead_s: float | None = None,
                     analyze: bool = True) -> datetime:
    """N deliveries, round robin over the world's accounts, due uniformly over `spread` seconds from a
    moment `lead_s` ahead (default: time enough to write them); returns the first due time."""
    lead = lead_s if lead_s is not None else 1.5 + n / 4000
    t0 = datetime.now(UTC) + timedelta(seconds=lead)
    step = spread / (n - 1) if n > 1 else 0.0
    accounts = world.accounts

    def items():
        for i in range(n):
            account = accounts[i % len(accounts)]
            platform = account.platform.value
            yield (account, bench_caption(world.tag, i, platform), t0 + timedelta(seconds=i * step),
                   media_for(platform, world.emulator.url))

    insert_posts(world.db.engine, world.workspace_id, items(), analyze=analyze)
    return t0


def bench_caption(tag: str, i: int, platform: str) -> str:
    # Plain words only: nothing LinkedIn's little text escapes, nothing a platform rewrites; unique per delivery.
    return f"Outpost bench {tag} delivery {i:06d} on {platform}: scheduled text that must appear exactly once"


def insert_background(world: World, count: int, *, analyze: bool = True) -> float:
    """`count` approved posts due two months from now (never due during the run); returns seconds taken."""
    if count <= 0:
        return 0.0
    started = time.monotonic()
    base = datetime.now(UTC) + BACKGROUND_AHEAD
    accounts = world.accounts

    def items():
        for i in range(count):
            account = accounts[i % len(accounts)]
            yield (account, f"Outpost background {world.tag} post {i:07d}, scheduled for later",
                   base + timedelta(seconds=37 * i), media_for(account.platform.value, world.emulator.url))

    insert_posts(world.db.engine, world.workspace_id, items(), analyze=analyze)
    took = time.monotonic() - started
    say(f"{count} background posts scheduled in {took:.1f}s (due from {base:%Y-%m-%d})")
    return took


# ---------------------------------------------------------------- the floor: the same calls without Outpost
def floor_caption(tag: str, i: int, platform: str) -> str:
    # Never a bench delivery's text, so the tally never mistakes a floor call for a duplicate publish.
    return f"Outpost floor {tag} call {i:06d} on {platform}: the same kind of text from a bare client"


def measure_floor(world: World, calls: int, concurrency: int) -> dict:
    """`calls` publishes from a bare client: what the platforms (the emulator, at its latency) allow at
    `concurrency` calls in flight, with nothing of Outpost around them.

    The same adapters, the same kind of HTTP client (as the runner makes it) and the same request bodies as
    the runners' (a post of the same length rendered per platform, the same media), round robin over the same
    accounts, from a pool of `concurrency` threads in this process: no database, no runner, no pacing, no
    claims. Returns {"floor_calls", "floor_ok", "floor_per_s", "floor_cpu_ms_per_call"} (CPU: this process's,
    which does nothing else meanwhile).
    """
    from concurrent.futures import ThreadPoolExecutor
    from core.services.connect import credentials
    from core.domain import Post, Schedule, new_id
    from core.domain.lifecycle import PostState
    from core.platforms.base import MediaItem, PublishRequest, media_kind
    from core.platforms.registry import build_adapter

    if calls <= 0:
        return {}
    n = max(concurrency * 2, 20)               # jobs.runner.Runner._adapter's client
    client = httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False,
                          limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
    adapters = {p: build_adapter(p, world.settings, client) for p in {a.platform for a in world.accounts}}
    creds = {a.id: credentials(a) for a in world.accounts}
    due = datetime.now(UTC)
    errors: Counter = Counter()

    def call(i: int) -> bool:
        account = world.accounts[i % len(world.accounts)]
        platform = account.platform.value
        post = Post(caption=floor_caption(world.tag, i, platform), accounts=(account,), id=new_id("post"),
                    media_urls=media_for(platform, world.emulator.url), workspace_id=world.workspace_id,
                    schedule=Schedule(scheduled_at=due, timezone_name="UTC"), state=PostState.APPROVED)
        content = post.render(account.platform)
        request = PublishRequest(content=content, marker=new_id("dlv"),
                                 media=tuple(MediaItem(url=u, kind=media_kind(u), data=None)
                                             for u in content.media_urls),
                                 options=dict(account.meta.get("publish_options") or {}))
        try:
            adapters[account.platform].publish(creds[account.id], request)
            return True
        except Exception as exc:                                 # counted, never fatal: a floor, not a test
            errors[type(exc).__name__] += 1
            return False

    cpu0, started = os.times(), time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="floor") as pool:
            ok = sum(pool.map(call, range(calls)))
    finally:
        client.close()
    took, cpu1 = time.monotonic() - started, os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    out = {"floor_calls": calls, "floor_ok": ok, "floor_per_s": round(ok / took, 1) if took > 0 else None,
           "floor_cpu_ms_per_call": round(cpu * 1000 / calls, 2)}
    if errors:
        out["floor_errors"] = dict(errors)
    return out


# ---------------------------------------------------------------- runners
def runner_args(*, concurrency: int, lease_s: float | None = None, retry_delays_s: str | None = None,
                max_attempts: int | None = None, log_level: str = "INFO") -> list[str]:
    """The runner's command line with its per-account pacing lifted.

    The default pacing (3 posts per account per 10 minutes, the accounts' daily caps) exists to protect real
    audiences; a benchmark puts many posts per account within minutes, so `--burst-limit` is raised far above
    anything a run reaches and `--no-daily-cap` is given. Everything else is the runner's own behaviour.
    """
    args = ["--concurrency", str(concurrency), "--burst-limit", "1000000", "--burst-window-s", "600",
            "--no-daily-cap", "--log-level", log_level]
    if lease_s is not None:
        args += ["--lease-s", str(lease_s)]
    if retry_delays_s is not None:
        args += ["--retry-delays-s", retry_delays_s]
    if max_attempts is not None:
        args += ["--max-attempts", str(max_attempts)]
    return args


class RunnerPool:
    """R runner processes (`python -m jobs.runner`), each logging to its own file; killable and restartable."""

    def __init__(self, world: World, count: int, args: Sequence[str], *, log_level: str = "INFO"):
        self.world = world
        self.args = list(args)
        self.env = world.runner_env(log_level)
        self.procs: dict[int, subprocess.Popen] = {}
        self.logs: dict[int, object] = {}
        self.generation: dict[int, int] = defaultdict(int)
        self.started = 0
        try:
            for i in range(count):
                self.start(i)
        except BaseException:
            self.stop(timeout_s=10)
            raise

    def name(self, i: int) -> str:
        return f"bench-runner-{i}"

    def start(self, i: int) -> subprocess.Popen:
        self.generation[i] += 1
        path = self.world.workdir / f"runner-{i}.log"
        log = self.logs.get(i) or open(path, "a")
        self.logs[i] = log
        log.write(f"==== start {self.generation[i]} at {datetime.now():%H:%M:%S.%f}\n")
        log.flush()
        proc = subprocess.Popen([PYTHON, "-m", "jobs.runner", "--name", self.name(i), *self.args], cwd=ROOT,
                                env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.procs[i] = proc
        self.started += 1
        self.world.watch.add(proc.pid, f"runner-{i}")
        return proc

    def alive(self) -> list[int]:
        return [i for i, p in self.procs.items() if p.poll() is None]

    def wait_ready(self, timeout_s: float = 60.0, names: Iterable[str] | None = None,
                   since: datetime | None = None) -> None:
        """Until every runner (or `names`) has written a heartbeat at or after `since`."""
        from core.db.schema import runner_heartbeats
        wanted = set(names or (self.name(i) for i in self.procs))
        since = since or datetime.now(UTC) - timedelta(seconds=timeout_s + 5)
        deadline = time.monotonic() + timeout_s
        while True:
            with self.world.db.engine.connect() as conn:
                ids = conn.execute(sa.select(runner_heartbeats.c.runner_id)
                                   .where(runner_heartbeats.c.beat_at >= since)).scalars()
                # A heartbeat row is keyed by the runner's name, or by its claim id "<name>:<pid>:<hex>".
                beating = {i.split(":", 1)[0] for i in ids}
            if wanted <= beating:
                return
            dead = [i for i, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"runner {dead[0]} exited with {self.procs[dead[0]].returncode} "
                                   f"(see {self.world.workdir / f'runner-{dead[0]}.log'})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"runners {sorted(wanted - beating)} did not start within {timeout_s:.0f}s")
            time.sleep(0.1)

    def kill(self, i: int) -> None:
        """SIGKILL: no shutdown, no claims given back, leases left to expire."""
        proc = self.procs[i]
        self.world.watch.forget(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        self.logs[i].write(f"==== SIGKILL at {datetime.now():%H:%M:%S.%f}\n")
        self.logs[i].flush()

    def stop(self, timeout_s: float = 45.0) -> None:
        """SIGTERM to all (the runner's own graceful stop), SIGKILL for any still there after `timeout_s`."""
        live = {i: p for i, p in self.procs.items() if p.poll() is None}
        for p in live.values():
            self.world.watch.sample(p.pid)
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for i, p in live.items():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"runner {i} did not stop within {timeout_s:.0f}s of SIGTERM; killing it")
                p.kill()
                p.wait(10)
            self.world.watch.forget(p.pid)
        for log in self.logs.values():
            log.close()


# ---------------------------------------------------------------- waiting and the tally
def state_counts(engine, due_before: datetime) -> Counter:
    from core.db.schema import deliveries as d
    with engine.connect() as conn:
        rows = conn.execute(sa.select(d.c.state, sa.func.count()).where(d.c.due_at <= due_before)
                            .group_by(d.c.state)).all()
    return Counter({state: n for state, n in rows})


def wait_settled(engine, due_before: datetime, deadline: float, *, every_s: float = 0.5, report_s: float = 15.0,
                 stop=None) -> Counter:
    """Until no delivery due before `due_before` is waiting or in flight, or the monotonic `deadline` passes."""
    last_report = time.monotonic()
    while True:
        counts = state_counts(engine, due_before)
        open_ = sum(counts[s] for s in WAITING_STATES)
        if open_ == 0 or time.monotonic() > deadline or (stop is not None and stop()):
            return counts
        if time.monotonic() - last_report > report_s:
            say("states: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            last_report = time.monotonic()
        time.sleep(every_s)


@dataclass
class Tally:
    deliveries: int
    states: Counter
    published: int
    failed: int
    needs_review: int
    duplicates: int
    lost: int
    lost_detail: dict
    failed_but_posted: int
    lags_s: list
    first_due: datetime | None
    last_receipt: datetime | None
    codes: dict
    emulator_dupes: dict
    receipts: dict          # delivery id -> first receipt on the emulator (published deliveries)
    due: dict               # delivery id -> due time


def tally(world: World, due_before: datetime) -> Tally:
    """What happened to every delivery due before `due_before`, from the database and the emulator.

    - duplicates: the emulator's `published_extra` (same text twice on one account), or, if larger, the
      extra copies of any bench text among all the emulator's posts (any account, any platform).
    - lost: deliveries still waiting or in flight; deliveries the database calls published that the
      emulator never received; failed or needs_review deliveries without a reason or evidence.
    - failed_but_posted: failed in the database although the emulator has the post (wrong, though not lost).
    """
    from core.db.schema import deliveries as d, posts as p
    with world.db.engine.connect() as conn:
        rows = conn.execute(sa.select(d.c.id, d.c.state, d.c.due_at, d.c.last_error, d.c.last_error_code,
                                      d.c.platform, d.c.attempts, p.c.caption)
                            .select_from(d.join(p, p.c.id == d.c.post_id))
                            .where(d.c.due_at <= due_before)).all()
    received: dict[str, list[datetime]] = defaultdict(list)
    for post in world.emulator.posts():
        text = " ".join((post.get("text") or "").split())
        received[text].append(datetime.fromisoformat(post["received_at"]))
    dupes = world.emulator.duplicates()
    ours = {" ".join(r.caption.split()) for r in rows}
    text_extra = sum(len(v) - 1 for t, v in received.items() if t in ours and len(v) > 1)
    states = Counter(r.state for r in rows)
    lost_detail = {"not_settled": 0, "published_not_received": 0, "no_reason": 0}
    failed_but_posted = 0
    lags, receipts = [], []
    receipt_of: dict[str, datetime] = {}
    codes: dict[str, Counter] = {"failed": Counter(), "needs_review": Counter()}
    for r in rows:
        text = " ".join(r.caption.split())
        got = received.get(text)
        due = r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=UTC)
        if r.state in WAITING_STATES:
            lost_detail["not_settled"] += 1
        elif r.state == "published":
            if not got:
                lost_detail["published_not_received"] += 1
            else:
                first = min(got)
                lags.append((first - due).total_seconds())
                receipts.append(first)
                receipt_of[r.id] = first
        elif r.state in ("failed", "needs_review"):
            codes[r.state][r.last_error_code or "?"] += 1
            if not (r.last_error or "").strip():
                lost_detail["no_reason"] += 1
            if r.state == "failed" and got:
                failed_but_posted += 1
    return Tally(deliveries=len(rows), states=states, published=states["published"], failed=states["failed"],
                 needs_review=states["needs_review"],
                 duplicates=max(int(dupes.get("published_extra", 0)), text_extra),
                 lost=sum(lost_detail.values()), lost_detail=lost_detail, failed_but_posted=failed_but_posted,
                 lags_s=lags, first_due=min((r.due_at for r in rows), default=None),
                 last_receipt=max(receipts, default=None), codes={k: dict(v) for k, v in codes.items() if v},
                 emulator_dupes={"published_extra": dupes.get("published_extra", 0),
                                 "attempted_extra": dupes.get("attempted_extra", 0)},
                 receipts=receipt_of,
                 due={r.id: (r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=UTC)) for r in rows})


def phases(world: World, result: Tally) -> dict:
    """Where a published delivery's lag goes, from the activity log and the emulator (p50 / p99 seconds).

    - claim: due time -> the runner's (last) claim (`delivery.publishing` event)
    - call: claim -> the emulator received the publishing request (includes pre-call reads and writes,
      every platform request made before it, and the injected latency of the publishing request itself)
    - finish: receipt -> `delivery.published` written (the rest of the call, follow-up requests, the write)
    """
    from core.db.schema import activity_events as e
    claims: dict[str, datetime] = {}
    finished: dict[str, datetime] = {}
    ids = set(result.receipts)
    with world.db.engine.connect() as conn:
        rows = conn.execute(sa.select(e.c.subject_id, e.c.action, e.c.at)
                            .where(e.c.action.in_(["delivery.publishing", "delivery.published"]))).all()
    for subject, action, at in rows:
        if subject not in ids:
            continue
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if action == "delivery.publishing":
            claims[subject] = max(claims.get(subject, at), at)
        else:
            finished[subject] = at
    parts: dict[str, list[float]] = {"claim": [], "call": [], "finish": []}
    for d in ids:
        if d in claims and d in finished:
            parts["claim"].append((claims[d] - result.due[d]).total_seconds())
            parts["call"].append((result.receipts[d] - claims[d]).total_seconds())
            parts["finish"].append((finished[d] - result.receipts[d]).total_seconds())
    return {k: [rounded(percentile(v, 50)), rounded(percentile(v, 99))] for k, v in parts.items() if v}


def cleanup(workdir: Path, keep: bool) -> None:
    if keep:
        say(f"kept {workdir} (runner-*.log, emulator.log, the database)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)

"""Real `python -m jobs.runner` processes sharing one database and the emulator: once, in order, through kills.

Each runner is its own process (subprocess) with DATABASE_URL / OUTPOST_DATA_DIR / OUTPOST_SANDBOX_URL
pointing at the test's database and at the emulator running in this process. What they did is read back
from the activity log (one "delivery.publishing" per attempt, claims and outcomes alternating per account)
and from the emulator (one post per delivery, no duplicates).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from core.db.testing import clear_tables, postgres_schema
from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow
from tests.runner_helpers import make_world, wait_for

sandbox = pytest.importorskip("sandbox")

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")
SKIP_POSTGRES = "set OUTPOST_TEST_POSTGRES_URL to run the PostgreSQL runner-process tests"
VOLUME = ("--burst-limit", "1000", "--no-daily-cap")       # pacing lifted: the tests publish in bulk


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=13) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway schema; the URL pins it with search_path so child processes use it too."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    with postgres_schema(POSTGRES_URL) as engine:
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        sep = "&" if "?" in POSTGRES_URL else "?"
        yield POSTGRES_URL + sep + "options=" + quote(f"-csearch_path={schema}"), engine


def beat_of(world, name: str):
    """The newest heartbeat of the runner started with --name `name` (keyed by name or by its claim id)."""
    return next((b for b in world.store.list_heartbeats() if b.runner_id == name
                 or b.runner_id.startswith(f"{name}:") or b.info.get("name") == name), None)


class RunnerProcess:
    def __init__(self, name: str, proc: subprocess.Popen, log: Path):
        self.name, self.proc, self.log_path = name, proc, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)        # this process only, by its id

    def assert_clean(self) -> None:
        """No crash, no failed job, no claiming error (an IntegrityError from the in-flight index would show)."""
        text = self.log(10 ** 6)
        bad = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
        assert not bad, f"runner {self.name} logged errors:\n{text[-4000:]}"

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner {self.name} did not exit within {timeout}s; its log:\n{self.log()}")


class Runners:
    """Starts runner processes for a world and makes sure none outlives the test."""

    def __init__(self, world, tmp_path: Path):
        self.world, self.tmp_path, self.started = world, tmp_path, []

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "OUTPOST_SECRET_KEYS", "OUTPOST_KEY_FILE", "OUTPOST_RUNNER_NAME")}
        env.update(DATABASE_URL=self.world.settings.database_url, OUTPOST_DATA_DIR=str(self.world.settings.data_dir),
                   OUTPOST_SANDBOX="true", OUTPOST_SANDBOX_URL=self.world.emu.url, OUTPOST_LOG_LEVEL="INFO",
                   PYTHONUNBUFFERED="1")
        return env

    def start(self, name: str, *args: str) -> RunnerProcess:
        log = self.tmp_path / f"{name}-{len(self.started)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "jobs.runner", "--name", name, *args], cwd=ROOT,
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        runner = RunnerProcess(name, proc, log)
        self.started.append(runner)
        return runner

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jobs.runner", *args], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def wait_alive(self, *runners: RunnerProcess, timeout: float = 20) -> None:
        def beating():
            for r in runners:
                if r.proc.poll() is not None:
                    raise AssertionError(f"runner {r.name} exited with {r.proc.returncode}:\n{r.log()}")
            return all(beat_of(self.world, r.name) is not None for r in runners)

        wait_for(beating, timeout=timeout)

    def stop_all(self) -> None:
        for r in self.started:
            r.signal(signal.SIGTERM)
        for r in self.started:
            try:
                r.proc.wait(15)
            except subprocess.TimeoutExpired:
                r.signal(signal.SIGKILL)
                r.proc.wait(5)


def _world(emu, tmp_path, database_url: str | None = None):
    emu.reset(clock=True)
    emu.clear_faults()
    w = make_world(emu, tmp_path, **({"database_url": database_url} if database_url else {}))
    return w


@pytest.fixture
def sqlite_world(emu, tmp_path):
    w = _world(emu, tmp_path)
    yield w
    w.client.close()
    w.store.engine.dispose()


@pytest.fixture
def postgres_world(emu, tmp_path, postgres_url):
    url, engine = postgres_url
    clear_tables(engine)
    w = _world(emu, tmp_path, url)
    yield w
    w.client.close()
    w.store.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)])])
def world(request):
    return request.getfixturevalue(f"{request.param}_world")


@pytest.fixture
def runners(world, tmp_path):
    r = Runners(world, tmp_path)
    yield r
    r.stop_all()


# ---------------------------------------------------------------- checks

def deliveries_of(world, posts) -> list:
    return [d for p in posts for d in world.store.get_deliveries(p.id)]


def check_published_once(world, posts, *, runners: list[RunnerProcess] = ()) -> dict:
    """Every delivery published exactly once (DB, activity log, emulator); claims per runner."""
    logs = "\n".join(f"--- {r.name}\n{r.log()}" for r in runners)
    ds = deliveries_of(world, posts)
    assert all(d.state == DeliveryState.PUBLISHED for d in ds), (Counter(d.state.value for d in ds), logs)
    events = world.store.list_events(workspace_id=world.workspace.id, limit=100000)
    by_delivery = defaultdict(list)
    for e in events:
        by_delivery[e.subject_id].append(e)
    claims_by = Counter()
    for d in ds:
        mine = by_delivery[d.id]
        kinds = Counter(e.action for e in mine)
        assert kinds["delivery.publishing"] == d.attempts == 1, (d.id, kinds, d.attempts)
        assert kinds["delivery.published"] == 1, (d.id, kinds)
        claim = next(e for e in mine if e.action == "delivery.publishing")
        done = next(e for e in mine if e.action == "delivery.published")
        assert claim.actor == done.actor, (d.id, claim.actor, done.actor)     # published by the claimer
        claims_by[claim.actor] += 1
    # per account, claims and outcomes alternate: never two in flight for one account
    account_of = {d.id: d.account_id for d in ds}
    timeline = defaultdict(list)
    for e in events:
        if e.subject_id in account_of and e.action in ("delivery.publishing", "delivery.published"):
            timeline[account_of[e.subject_id]].append((e.at, 0 if e.action == "delivery.publishing" else 1, e.subject_id))
    for account_id, items in timeline.items():
        items.sort()
        kinds = [k for _, k, _ in items]
        assert kinds == [0, 1] * (len(kinds) // 2), f"account {account_id}: overlapping attempts {items}"
    posted = world.emu.posts()
    assert len(posted) == len(ds), (len(posted), len(ds))
    assert sorted(p["external_id"] for p in posted) == sorted(d.external_id for d in ds)
    dup = world.emu.duplicates()
    assert dup["published_extra"] == 0 and dup["attempted_extra"] == 0, dup
    return dict(claims_by)


# ---------------------------------------------------------------- several runners, one database

def _publish_in_bulk(world, runners, n_runners: int, *, accounts: int = 12, per_account: int = 5):
    accts = [world.connect("x") for _ in range(accounts)]
    # Each publish takes a little while and no runner can take every account at once (4 workers for 12
    # accounts), so every runner gets a share and the claims really race.
    world.emu.add_fault(kind="latency", latency_ms=60, path="/2/tweets", method="POST")
    procs = [runners.start(f"runner-{i}", "--concurrency", "4", *VOLUME) for i in range(n_runners)]
    runners.wait_alive(*procs)
    # Due 2 s from now: every runner (polling each second) sees it coming and wakes exactly then.
    due = utcnow() + timedelta(seconds=2)
    posts = [world.post(accts[i % accounts], at=due + timedelta(milliseconds=i)) for i in range(accounts * per_account)]

    def all_done():
        for r in procs:
            assert r.proc.poll() is None, f"runner {r.name} died:\n{r.log()}"
        return all(d.state == DeliveryState.PUBLISHED for d in deliveries_of(world, posts))

    wait_for(all_done, timeout=120, interval=0.2)      # a bound against a hang (it timed out at 45 s under load)
    claims = check_published_once(world, posts, runners=procs)
    for r in procs:
        r.signal(signal.SIGTERM)
    for r in procs:
        assert r.wait(20) == 0, r.log()
        r.assert_clean()
    assert len(claims) == n_runners, f"not every runner did some of the work: {claims}"
    return claims


def test_two_runners_on_sqlite_publish_everything_once(sqlite_world, tmp_path):
    runners = Runners(sqlite_world, tmp_path)
    try:
        _publish_in_bulk(sqlite_world, runners, 2)
    finally:
        runners.stop_all()


@pytest.mark.postgres
def test_three_runners_on_postgres_publish_everything_once(postgres_world, tmp_path):
    runners = Runners(postgres_world, tmp_path)
    try:
        _publish_in_bulk(postgres_world, runners, 3)
    finally:
        runners.stop_all()


# ---------------------------------------------------------------- a runner killed mid-publish

def test_a_runner_killed_mid_publish_is_reconciled_not_reposted(world, runners):
    account = world.connect("x")
    # The platform takes 2 s to answer the post: the kill lands while the call is in flight.
    rule = world.emu.add_fault(kind="latency", latency_ms=2000, path="/2/tweets", method="POST", count=1)
    a = runners.start("runner-a", "--lease-s", "3", *VOLUME)
    runners.wait_alive(a)
    post = world.post(account, at=utcnow())
    [d] = world.store.get_deliveries(post.id)

    def mid_call():
        current = world.store.get_delivery(d.id)
        fired = next(r["fired"] for r in world.emu.faults.list() if r["id"] == rule["id"])
        return current if current.progress.get("sent") and fired else None

    claimed = wait_for(mid_call, timeout=15, interval=0.02)
    a.signal(signal.SIGKILL)
    assert a.wait(10) == -signal.SIGKILL
    assert world.store.get_delivery(d.id).state == DeliveryState.PUBLISHING          # left mid-call
    # The platform finishes the post the dead runner asked for; its answer is lost.
    posted = wait_for(lambda: world.emu.posts("x"), timeout=10)
    assert len(posted) == 1
    # Start the next runner once the dead one's lease is over: its start-up sweep takes the delivery over.
    wait_for(lambda: utcnow() > claimed.lease_expires_at, timeout=10)
    b = runners.start("runner-b", "--lease-s", "5", *VOLUME)
    done = wait_for(lambda: (x := world.store.get_delivery(d.id)).state != DeliveryState.PUBLISHING and x,
                    timeout=20, interval=0.1)
    assert done.state == DeliveryState.PUBLISHED, (done, b.log())
    assert done.external_id == posted[0]["external_id"]
    assert done.progress.get("reconciled") == "1"
    assert done.attempts == 2              # the takeover counts (so a delivery that kills every runner ends)
    assert len(world.emu.posts("x")) == 1
    dup = world.emu.duplicates()
    assert dup["published_extra"] == 0 and dup["attempted_extra"] == 0, dup
    actions = [e.action for e in reversed(world.store.list_events(subject_id=d.id))]
    assert actions == ["delivery.publishing", "delivery.lease_expired", "delivery.published"]
    took_over = world.store.list_events(subject_id=d.id)[1]
    assert took_over.actor.startswith("runner:runner-b:")
    b.signal(signal.SIGTERM)
    assert b.wait(20) == 0, b.log()
    b.assert_clean()


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_lets_calls_in_flight_finish_and_exits_cleanly(world, runners):
    accts = [world.connect("x") for _ in range(6)]
    world.emu.add_fault(kind="latency", latency_ms=1500, path="/2/tweets", method="POST")
    r = runners.start("runner-t", "--concurrency", "4", *VOLUME)
    runners.wait_alive(r)
    posts = [world.post(a, at=utcnow()) for a in accts for _ in range(2)]

    def claimed():
        ds = deliveries_of(world, posts)
        busy = [d for d in ds if d.state == DeliveryState.PUBLISHING]
        return busy if len(busy) == 4 and all(d.progress.get("sent") for d in busy) else None

    in_flight = wait_for(claimed, timeout=15, interval=0.02)
    r.signal(signal.SIGTERM)
    assert r.wait(25) == 0, r.log()
    r.assert_clean()
    after = {d.id: d for d in deliveries_of(world, posts)}
    # what was mid-call finished during the shutdown; nothing is left claimed by the stopped runner
    assert all(after[d.id].state == DeliveryState.PUBLISHED for d in in_flight), r.log()
    assert [d for d in after.values() if d.state == DeliveryState.PUBLISHING] == []
    assert all(d.claimed_by is None for d in after.values())
    # it claimed nothing after the signal: the rest still wait, untouched, for the next runner
    rest = [d for d in after.values() if d.id not in {x.id for x in in_flight}]
    assert all(d.state == DeliveryState.QUEUED and d.attempts == 0 for d in rest), rest
    assert len(world.emu.posts("x")) == 4
    assert world.emu.duplicates()["published_extra"] == 0
    assert beat_of(world, "runner-t") is None                                         # said goodbye


def test_sigterm_gives_back_claims_that_never_reached_the_platform(world, runners):
    """Work claimed in a stopping runner's name that its workers never started goes back to the queue."""
    accts = [world.connect("x") for _ in range(3)]
    r = runners.start("runner-g", "--concurrency", "4", *VOLUME)
    runners.wait_alive(r)
    # Due in an hour (so the runner leaves them alone), claimed now in its name as if it had claimed them
    # just before the signal and no worker had picked them up yet.
    at = utcnow() + timedelta(hours=1)
    posts = [world.post(a, at=at) for a in accts]
    claim_id = beat_of(world, "runner-g").info["claim_id"]
    claimed = world.store.claim_due(at, runner_id=claim_id, lease_until=at + timedelta(minutes=2))
    assert len(claimed) == 3
    r.signal(signal.SIGTERM)
    assert r.wait(25) == 0, r.log()
    r.assert_clean()
    assert "3 claims given back" in r.log(), r.log()
    after = deliveries_of(world, posts)
    assert all(d.state == DeliveryState.QUEUED and d.claimed_by is None and d.attempts == 0 for d in after), after
    assert world.emu.posts("x") == []
    for d in after:
        assert [e.action for e in reversed(world.store.list_events(subject_id=d.id))] == [
            "delivery.publishing", "delivery.released"]


# ---------------------------------------------------------------- --health and --once

def test_health_is_zero_while_running_and_one_after_stopping(sqlite_world, tmp_path):
    runners = Runners(sqlite_world, tmp_path)
    try:
        _health(runners)
    finally:
        runners.stop_all()


def _health(runners):
    r = runners.start("runner-h")
    runners.wait_alive(r)
    with ThreadPoolExecutor(2) as pool:            # both checks at once: each is a process start
        alive, other = pool.map(lambda name: runners.run("--health", "--name", name), ["runner-h", "runner-nobody"])
    assert alive.returncode == 0, alive.stdout + alive.stderr
    assert "runner-h" in alive.stdout and "alive" in alive.stdout
    assert other.returncode == 1 and "no heartbeat" in other.stdout
    r.signal(signal.SIGTERM)
    assert r.wait(20) == 0, r.log()
    r.assert_clean()
    gone = runners.run("--health", "--name", "runner-h")
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert "no heartbeat" in gone.stdout


def test_a_database_that_cannot_be_reached_is_said_plainly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_")}
    env.update(DATABASE_URL="postgresql://outpost@127.0.0.1:9/outpost", OUTPOST_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "jobs.runner", "--once"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot open its database at postgresql+psycopg://outpost@127.0.0.1:9/outpost" in done.stderr
    assert "Traceback" not in done.stderr


def test_once_publishes_what_is_due_and_exits(world, runners):
    accts = [world.connect("x") for _ in range(3)]
    due = [world.post(a, at=utcnow() - timedelta(seconds=5)) for a in accts for _ in range(2)]
    later = world.post(accts[0], at=utcnow() + timedelta(hours=1))
    done = runners.run("--once", "--name", "runner-once", *VOLUME, timeout=120)     # it exits (the bound: a hang)
    assert done.returncode == 0, done.stdout + done.stderr
    check_published_once(world, due)
    [waiting] = world.store.get_deliveries(later.id)
    assert waiting.state == DeliveryState.QUEUED and waiting.attempts == 0
    assert beat_of(world, "runner-once") is None
    with world.store.engine.connect() as conn:     # nothing left claimed by the one-shot runner
        from core.db.schema import deliveries
        left = conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                            .where(deliveries.c.state == "publishing")).scalar()
    assert left == 0

"""How fast the dashboard answers with a full database: the calendar, the Posts page and approving a batch.

    python -m bench.dashboard [--calendar-posts 2000] [--total-posts 100000] [--batch 50] [--rounds 5]

One JSON line on stdout:
- `calendar_2000_posts_ms`: median over the rounds, in Chromium (Playwright, /usr/bin/chromium), from navigation
  to /calendar until the month view accounts for every post of the month (drawn as its own event, counted in a
  busy day's "62 scheduled", or in a day's "+N more"; checked to add up to exactly the month's posts),
  with `--calendar-posts` posts in this month;
- `posts_page_100k_ms`: median, from navigation to /posts until the page's list (its table and its count) has
  rendered, with `--total-posts` posts in the database (the rest spread over the following two years);
- `approve_batch_50_ms`: median, `core.services.approvals.approve_batch` on the SQL store approving a batch of
  `--batch` pending posts in that same database (a fresh batch each round);
- `approve_batch_50_page_ms`: median, the same on the Approvals page, from the click on "Yes, approve 50" in
  its confirmation until the page says they are approved;
- `floor_ms`: median time, in the same browser, from navigation until the sign-in page has rendered (Streamlit's
  own start-up, no query of ours), and `load_1m` at the start and end: to compare figures across machines.
Targets: 2,000 / 1,500 / 1,000 ms. The dashboard runs as the browser tests start it (`streamlit run app.py`,
headless, a free port, the data directory in a temporary folder, SQLite); sign-in is through the form.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import PYTHON, ROOT, UTC, _die_with_parent, cleanup, emit, insert_posts, make_workdir, say, \
    stop_on_sigterm

CHROMIUM = "/usr/bin/chromium"
EMAIL = "bench@example.com"
APPROVER = "approver@example.com"       # owns only the workspace that needs approval (no workspace to pick)
PASSWORD = "bench password, long enough"
PLATFORMS = ("x", "facebook", "linkedin", "threads")

# Every post of the month is on the page: drawn as its own event, or counted in its day's summary of a status
# ("62 scheduled", a busy day). An event past a day's limit stays in the DOM, hidden, and is counted in
# the day's "+N more" link: each harness counts what it stands for, shown or behind "+N more".
_CALENDAR_COUNT = """() => {
  let posts = 0;
  for (const h of document.querySelectorAll('.fc-daygrid-event-harness')) {
    const summary = h.querySelector('.outpost-day-summary');
    const m = summary ? summary.textContent.match(/^\\s*(\\d+)/) : null;
    posts += m ? Number(m[1]) : 1;
  }
  return posts;
}"""
_CALENDAR_DONE = f"(n) => ({_CALENDAR_COUNT})() >= n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--calendar-posts", type=int, default=2000, help="posts in the month the calendar shows")
    p.add_argument("--total-posts", type=int, default=100000, help="posts in the database in all")
    p.add_argument("--batch", type=int, default=50, help="posts per approved batch")
    p.add_argument("--rounds", type=int, default=5, help="measurements per figure (the median is reported)")
    p.add_argument("--accounts", type=int, default=20, help="connected accounts the posts go to")
    p.add_argument("--keep", action="store_true", help="keep the work directory (database, dashboard log)")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


# ---------------------------------------------------------------- the data
def seed(workdir: Path, *, calendar_posts: int, total_posts: int, accounts: int):
    """The owner, a workspace with `accounts` accounts, `calendar_posts` this month and the rest later; and a
    second workspace that needs approval (for the batches), owned by another person. Returns (settings, store,
    that person, the workspace, the approvals workspace, its account)."""
    from core.domain import Account, Membership, Role, User, Workspace
    from core.domain.catalog import Platform
    from core.infra.settings import Settings
    from core.services.auth import create_owner, hash_password
    from core.services.runtime import open_store

    settings = Settings(data_dir=workdir)
    store = open_store(settings)
    user, ws = create_owner(store, email=EMAIL, password=PASSWORD, workspace_name="Bench", timezone_name="UTC")
    accs = [store.save_account(Account(platform=Platform(PLATFORMS[i % len(PLATFORMS)]), handle=f"@bench{i:03d}",
                                       display_name=f"Bench {i}", workspace_id=ws.id, daily_cap=100000,
                                       min_gap_minutes=0)) for i in range(accounts)]
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    days = ((first + timedelta(days=32)).replace(day=1) - first).days
    later = (first + timedelta(days=63)).replace(day=1)      # the month after next: never on this month's grid
    started = time.monotonic()

    def items():
        for i in range(calendar_posts):
            day = first + timedelta(days=i % days)
            at = datetime(day.year, day.month, day.day, 6, tzinfo=UTC) + timedelta(minutes=7 * (i // days))
            yield accs[i % len(accs)], f"Bench calendar post {i:05d}: a month planned in one go", at, ()
        base = datetime(later.year, later.month, later.day, tzinfo=UTC)
        for i in range(max(0, total_posts - calendar_posts)):
            yield accs[i % len(accs)], f"Bench later post {i:06d}, planned well ahead", base + timedelta(minutes=10 * i), ()

    insert_posts(store.engine, ws.id, items())
    say(f"{max(total_posts, calendar_posts)} posts written in {time.monotonic() - started:.1f}s "
        f"({calendar_posts} in {first:%B %Y})")
    review = store.add_workspace(Workspace(name="Bench approvals", timezone_name="UTC", requires_approval=True))
    approver = store.add_user(User(email=APPROVER, display_name="Approver", password_hash=hash_password(PASSWORD)))
    store.set_membership(Membership(user_id=approver.id, workspace_id=review.id, role=Role.OWNER))
    li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Bench approvals", workspace_id=review.id,
                                    daily_cap=100000, min_gap_minutes=0))
    return settings, store, approver, ws, review, li


def write_batch(store, user_id: str, ws, account, n: int, round_no: int) -> str:
    """`n` posts waiting for approval in a new batch, due from tomorrow on (the Scheduler writes them, as a person's)."""
    from core.domain import Batch, Post, Schedule
    from core.rules.permissions import Actor
    from core.services.scheduler import Scheduler

    batch = store.save_batch(Batch(workspace_id=ws.id, week_start=date.today() + timedelta(days=7 * (round_no + 1)),
                                   prompt=f"round {round_no}"))
    scheduler = Scheduler(store, actor=Actor.of(store, user_id))
    start = datetime.now(UTC) + timedelta(days=1 + round_no)
    for i in range(n):
        post = Post(caption=f"Batch {round_no} post {i}", accounts=(account,), workspace_id=ws.id, batch_id=batch.id,
                    schedule=Schedule(scheduled_at=start + timedelta(minutes=15 * i), timezone_name="UTC"))
        scheduler.schedule_post(f"post_bench_{round_no}_{i}", post)
    return batch.id


def approve_rounds(store, user_id: str, ws, account, *, n: int, rounds: int) -> list[float]:
    from core.rules.permissions import Actor
    from core.services import approvals

    took = []
    for r in range(rounds):
        batch_id = write_batch(store, user_id, ws, account, n, r)
        actor = Actor.of(store, user_id)
        t0 = time.perf_counter()
        result = approvals.approve_batch(store, ws.id, batch_id, actor=actor)
        took.append(time.perf_counter() - t0)
        if len(result.approved) != n:
            raise RuntimeError(f"approved {len(result.approved)} of {n}: {result.refused[:3]}")
    return took


# ---------------------------------------------------------------- the dashboard
class Dashboard:
    """`streamlit run app.py` headless on a free port, as tests/conftest.py's `dashboard` fixture starts it."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_") and k != "DATABASE_URL"}
        env.update(OUTPOST_DATA_DIR=str(workdir), OUTPOST_DASHBOARD_URL=self.url)
        self._log = open(workdir / "streamlit.log", "w")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats",
             "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/_stcore/health", timeout=2, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the dashboard did not start (see {workdir / 'streamlit.log'})")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync"])


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sign_in(page, url: str, email: str) -> None:
    page.goto(url)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Tab")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {email}").wait_for()


def measure_browser(url: str, *, calendar_posts: int, rounds: int, batch: int, new_batch) -> dict:
    """The floor, the calendar and the Posts page (as the bench's owner), then approving a batch on the Approvals
    page (as the approver; `new_batch(i)` writes the i-th batch of `batch` posts waiting for approval)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            # The floor: Streamlit's own page with no query of ours (the sign-in form, no session), in a tab
            # whose cache is as warm as the measured pages' are.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)

            def signed_out_page():
                page.goto(url)
                page.get_by_role("heading", name="Sign in").wait_for()

            timed(signed_out_page)   # warm-up: the browser's and the server's first page
            floor = [timed(signed_out_page) for _ in range(rounds)]
            say(f"floor (sign-in page): {median_ms(floor)} ms")
            context.close()

            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(120_000)
            sign_in(page, url, EMAIL)

            def calendar():
                page.goto(url + "/calendar")
                page.get_by_role("heading", name="Calendar").wait_for()
                frame = page.locator("[data-testid='stCustomComponentV1']").element_handle().content_frame()
                frame.wait_for_function(_CALENDAR_DONE, arg=calendar_posts, polling=20)   # not "raf": an iframe below the fold gets no frames
                return frame

            def counted() -> int:
                """How many posts the month shows: exactly the month's, or the figure would time something else."""
                return page.locator("[data-testid='stCustomComponentV1']").element_handle().content_frame() \
                    .evaluate(_CALENDAR_COUNT)

            def posts():
                page.goto(url + "/")   # Posts is the default page: "/posts" is "page not found" (then Posts)
                page.locator("[data-testid='stDataFrame']").wait_for()
                page.get_by_text("This list updates itself").wait_for()

            timed(calendar)
            if counted() != calendar_posts:
                raise RuntimeError(f"the month shows {counted()} posts, not {calendar_posts}")
            cal = [timed(calendar) for _ in range(rounds)]
            say(f"calendar: {median_ms(cal)} ms (runs {[round(t * 1000) for t in cal]})")
            timed(posts)
            lst = [timed(posts) for _ in range(rounds)]
            say(f"posts page: {median_ms(lst)} ms (runs {[round(t * 1000) for t in lst]})")
            context.close()

            # Approvals: from the click on "Yes, approve 50" in the confirmation until the page says it is done.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(120_000)
            sign_in(page, url, APPROVER)
            page_approve = []
            for r in range(rounds):
                new_batch(r)
                page.goto(url + "/approvals")
                page.get_by_role("button", name="Approve 1 post" if batch == 1 else f"Approve all {batch}").click()
                yes = page.get_by_role("button", name=f"Yes, approve {batch}")
                yes.wait_for()
                t0 = time.perf_counter()
                yes.click()
                page.get_by_text(f"Approved {batch} post").wait_for()
                page_approve.append(time.perf_counter() - t0)
            say(f"approvals page, batch of {batch}: {median_ms(page_approve)} ms "
                f"(runs {[round(t * 1000) for t in page_approve]})")
            context.close()
        finally:
            browser.close()
    return {"calendar": cal, "posts": lst, "floor": floor, "approve_page": page_approve}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stop_on_sigterm()
    if min(args.calendar_posts, args.total_posts, args.batch, args.rounds, args.accounts) < 1:
        raise SystemExit("every size must be at least 1")
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    load_start = os.getloadavg()[0]
    workdir = make_workdir(args.keep)
    dashboard = None
    try:
        settings, store, user, ws, review, li = seed(workdir, calendar_posts=args.calendar_posts,
                                                     total_posts=args.total_posts, accounts=args.accounts)
        approve = approve_rounds(store, user.id, review, li, n=args.batch, rounds=args.rounds)
        say(f"approve a batch of {args.batch}: {median_ms(approve)} ms (runs {[round(t * 1000) for t in approve]})")
        store.engine.dispose()
        dashboard = Dashboard(workdir)
        say(f"dashboard at {dashboard.url} (pid {dashboard.proc.pid})")
        seen = measure_browser(dashboard.url, calendar_posts=args.calendar_posts, rounds=args.rounds,
                               batch=args.batch,
                               new_batch=lambda r: write_batch(store, user.id, review, li, args.batch, args.rounds + r))
        emit({
            "calendar_2000_posts_ms": median_ms(seen["calendar"]),
            "posts_page_100k_ms": median_ms(seen["posts"]),
            "approve_batch_50_ms": median_ms(approve),
            "approve_batch_50_page_ms": median_ms(seen["approve_page"]),
            "floor_ms": median_ms(seen["floor"]),
            "load_1m_start": round(load_start, 2),
            "load_1m_end": round(os.getloadavg()[0], 2),
            "calendar_posts": args.calendar_posts,
            "total_posts": max(args.total_posts, args.calendar_posts),
            "batch": args.batch,
            "rounds": args.rounds,
            "calendar_runs_ms": [round(t * 1000, 1) for t in seen["calendar"]],
            "posts_runs_ms": [round(t * 1000, 1) for t in seen["posts"]],
            "approve_runs_ms": [round(t * 1000, 1) for t in approve],
            "approve_page_runs_ms": [round(t * 1000, 1) for t in seen["approve_page"]],
            "database": "sqlite",
        })
        return 0
    finally:
        if dashboard is not None:
            dashboard.stop()
        cleanup(workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())

"""The Activity page: automation status (running or stale, queue depth, next due, the last hour's lateness) computed
exactly on a controllable clock on every store; the activity log's filters; settling a failed or unconfirmed
delivery (refused to viewers in core); a member of one workspace never sees another's events or notifications;
and the page itself (AppTest), empty and with data.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from core.domain import Account, Membership, Notification, Post, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.domain.errors import PermissionDenied
from core.domain.lifecycle import DeliveryState
from core.rules.permissions import Actor
from core.services import status
from core.services.notifications import mark_read
from core.services.scheduler import Scheduler
from core.services.views import attention_rows, notification_rows
from core.store import Heartbeat

BERLIN = "Europe/Berlin"
UTC = timezone.utc


class W:
    pass


@pytest.fixture
def w(store, clock):
    return make_world(store, clock)


def make_world(store, clock) -> W:
    w = W()
    w.store, w.clock = store, clock
    w.ws = store.add_workspace(Workspace(name="Acme", timezone_name=BERLIN, id="ws_acme"))
    w.other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    w.people = {}
    for role in Role:
        user = store.add_user(User(email=f"{role.value}@acme.test", id=f"u_{role.value}",
                                   display_name=f"{role.value.title()} Person"))
        store.set_membership(Membership(user_id=user.id, workspace_id=w.ws.id, role=role))
        w.people[role] = Actor.of(store, user.id)
    outsider = store.add_user(User(email="owner@other.test", id="u_out"))
    store.set_membership(Membership(user_id=outsider.id, workspace_id=w.other.id, role=Role.OWNER))
    w.outsider = Actor.of(store, outsider.id)
    w.owner = w.people[Role.OWNER]
    w.x = store.save_account(Account(platform=Platform.X, handle="@acme", oauth_token="t", workspace_id=w.ws.id,
                                     id="a_x"))
    w.li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", oauth_token="t",
                                      workspace_id=w.ws.id, id="a_li"))
    w.x_other = store.save_account(Account(platform=Platform.X, handle="@other", oauth_token="t",
                                           workspace_id=w.other.id, id="a_other"))
    return w


def plan(w, pid: str, at: datetime, account=None, actor=None):
    account = account or w.x
    post = Post(caption=f"Caption of {pid}", accounts=(account,), workspace_id=account.workspace_id,
                schedule=Schedule(scheduled_at=at, timezone_name=BERLIN))
    return Scheduler(w.store, clock=w.clock, actor=actor or Actor.system("test")).schedule_post(pid, post)


def run_at(w, at: datetime, outcome: str = "published", runner: str = "r1") -> list:
    """A runner at `at`: claims what is due and settles each (published, failed or needs review)."""
    w.clock.now = at
    done = []
    for d in w.store.claim_due(at, runner_id=runner, lease_until=at + timedelta(minutes=2)):
        if outcome == "published":
            final = d.mark_published(external_id=f"x{d.id}", external_url=f"https://x.example/{d.id}", at=at)
        elif outcome == "failed":
            final = d.mark_failed(error="The platform refused the image: too large.", code="bad_media")
        else:
            w.store.save_progress(d.id, runner, "sent", at.isoformat())
            final = d.needs_review(evidence="The answer was lost.")
        done.append(w.store.finish_delivery(final, runner_id=runner))
    return done


def beat(w, runner_id: str = "main:1:abc", at: datetime | None = None) -> None:
    at = at or w.clock()
    w.store.save_heartbeat(Heartbeat(runner_id=runner_id, host="box", pid=1, started_at=at - timedelta(hours=1),
                                     beat_at=at, info={}))


# ---------------------------------------------------------------- the runner: running, stale, missing

def test_no_runner_is_said_plainly(w):
    s = status.automation_status(w.store, w.ws.id, now=w.clock(), actor=w.owner)
    assert s.runner.state == "missing" and not s.runner.running
    assert "No runner has reported yet" in s.runner.describe()


def test_running_until_the_beat_is_older_than_stale_after(w):
    beat(w)
    start = w.clock()
    at_limit = status.automation_status(w.store, w.ws.id, now=start + status.STALE_AFTER, actor=w.owner)
    assert at_limit.runner.state == "running" and at_limit.runner.since_last_beat == status.STALE_AFTER
    assert at_limit.runner.describe() == "Running: last heartbeat 30 s ago."
    later = start + status.STALE_AFTER + timedelta(seconds=1)
    stale = status.automation_status(w.store, w.ws.id, now=later, actor=w.owner)
    assert stale.runner.state == "stale" and stale.runner.since_last_beat == timedelta(seconds=31)
    assert stale.runner.describe().startswith("The runner last reported 31 s ago")
    # a second runner that still beats keeps the automation running; the stale one is counted
    beat(w, "spare:2:def", at=later)
    both = status.automation_status(w.store, w.ws.id, now=later, actor=w.owner)
    assert (both.runner.state, both.runner.runners_running, both.runner.runners_stale) == ("running", 1, 1)
    assert both.runner.since_last_beat == timedelta(0)


def test_stale_after_is_a_parameter(w):
    beat(w)
    s = status.automation_status(w.store, w.ws.id, now=w.clock() + timedelta(seconds=11), actor=w.owner,
                                 stale_after=timedelta(seconds=10))
    assert s.runner.state == "stale"


# ---------------------------------------------------------------- the queue, next due, lateness

def test_queue_depth_next_due_and_the_last_hours_lateness(w):
    t0 = w.clock()                                   # 2030-03-04 09:00 in Berlin
    w.clock.now = t0 - timedelta(hours=3)
    plan(w, "old", t0 - timedelta(hours=2))          # published 2 h ago, 100 s late: outside the last hour
    for pid, minutes in (("a", 50), ("b", 40), ("c", 30)):
        plan(w, pid, t0 - timedelta(minutes=minutes))
    plan(w, "due1", t0 - timedelta(minutes=1))       # due now, not yet claimed
    plan(w, "due2", t0, account=w.li)                # due exactly now
    plan(w, "tonight", t0 + timedelta(hours=14))     # 23:00 Berlin: later today
    plan(w, "tomorrow", t0 + timedelta(hours=16))    # 01:00 Berlin tomorrow
    plan(w, "theirs", t0 - timedelta(minutes=5), account=w.x_other)   # another workspace: never counted
    run_at(w, t0 - timedelta(hours=2) + timedelta(seconds=100))
    run_at(w, t0 - timedelta(minutes=50) + timedelta(seconds=2))
    run_at(w, t0 - timedelta(minutes=40) + timedelta(seconds=10))
    run_at(w, t0 - timedelta(minutes=30) + timedelta(seconds=4))
    s = status.automation_status(w.store, w.ws.id, now=t0, actor=w.people[Role.VIEWER])
    assert (s.due_now, s.later_today) == (2, 1)
    assert s.next_due_at == t0 + timedelta(hours=14)
    assert s.published_last_hour == 3
    assert (s.lateness_p50, s.lateness_max) == (timedelta(seconds=4), timedelta(seconds=10))
    assert s.last_published_at == t0 - timedelta(minutes=30) + timedelta(seconds=4)
    # an even count takes the middle two's mean; an hour later only what went out since counts
    run_at(w, t0 + timedelta(seconds=7))             # due1 (1 min + 7 s late) and due2 (7 s late)
    s = status.automation_status(w.store, w.ws.id, now=t0 + timedelta(minutes=10), actor=w.owner)
    assert s.published_last_hour == 5 and s.due_now == 0
    assert s.lateness_p50 == timedelta(seconds=7) and s.lateness_max == timedelta(seconds=67)
    s = status.automation_status(w.store, w.ws.id, now=t0 + timedelta(minutes=45), actor=w.owner)
    assert s.published_last_hour == 2
    assert s.lateness_p50 == timedelta(seconds=37) and s.lateness_max == timedelta(seconds=67)


def test_next_due_beyond_today_and_nothing_planned(w):
    s = status.automation_status(w.store, w.ws.id, now=w.clock(), actor=w.owner)
    assert (s.due_now, s.later_today, s.next_due_at, s.last_published_at, s.lateness_p50) == (0, 0, None, None, None)
    plan(w, "next-week", w.clock() + timedelta(days=7))
    s = status.automation_status(w.store, w.ws.id, now=w.clock(), actor=w.owner)
    assert (s.due_now, s.later_today, s.next_due_at) == (0, 0, w.clock() + timedelta(days=7))


def test_a_retry_waiting_counts_by_its_next_attempt(w):
    t0 = w.clock()
    plan(w, "p", t0)
    [d] = w.store.claim_due(t0, runner_id="r", lease_until=t0 + timedelta(minutes=2))
    retry_at = t0 + timedelta(minutes=5)
    w.store.finish_delivery(d.retry_later(error="Server busy.", at=retry_at), runner_id="r")
    assert w.store.get_delivery(d.id).state == DeliveryState.RETRY_WAIT
    s = status.automation_status(w.store, w.ws.id, now=t0 + timedelta(minutes=1), actor=w.owner)
    assert (s.due_now, s.later_today, s.next_due_at) == (0, 1, retry_at)


def test_an_outsider_is_refused_before_anything_is_read(w):
    for fn in (lambda: status.automation_status(w.store, w.ws.id, now=w.clock(), actor=w.outsider),
               lambda: status.activity_log(w.store, w.ws.id, actor=w.outsider),
               lambda: status.unread_count(w.store, w.ws.id, actor=w.outsider)):
        with pytest.raises(PermissionDenied, match="You are not a member of this workspace"):
            fn()


# ---------------------------------------------------------------- the log and its filters

def test_the_log_filters_by_who_what_post_and_local_days(w):
    t0 = w.clock()
    editor = w.people[Role.EDITOR]
    plan(w, "mine", t0 + timedelta(days=2), actor=editor)
    w.clock.now = t0 + timedelta(hours=15, minutes=30)       # 00:30 on Tuesday in Berlin, still Monday in UTC
    Scheduler(w.store, clock=w.clock, actor=w.owner).cancel("mine", "Not this week.")
    plan(w, "theirs", t0 + timedelta(days=2), account=w.x_other)
    log = status.activity_log(w.store, w.ws.id, actor=w.people[Role.VIEWER])
    assert [r["what"] for r in log.rows] == ["post cancelled", "post scheduled"]
    assert {"Editor Person", "Owner Person"} <= set(log.people) and log.post_ids == ("mine",)
    assert log.rows[0]["when"] == "Tue 05 Mar 2030 00:30:00" and log.rows[0]["reason"] == "Not this week."
    assert [r["what"] for r in status.activity_log(w.store, w.ws.id, who="Editor Person").rows] == ["post scheduled"]
    assert [r["who"] for r in status.activity_log(w.store, w.ws.id, action="post cancelled").rows] == ["Owner Person"]
    assert len(status.activity_log(w.store, w.ws.id, post_id="mine").rows) == 2
    assert status.activity_log(w.store, w.ws.id, post_id="theirs").rows == ()
    # local days: the cancel happened on Tuesday in Berlin
    assert [r["what"] for r in status.activity_log(w.store, w.ws.id, since=date(2030, 3, 5)).rows] == \
        ["post cancelled"]
    assert [r["what"] for r in status.activity_log(w.store, w.ws.id, until=date(2030, 3, 4)).rows] == \
        ["post scheduled"]


def test_delivery_events_belong_to_their_post(w):
    plan(w, "p", w.clock())
    run_at(w, w.clock() + timedelta(seconds=3))
    rows = status.activity_log(w.store, w.ws.id, post_id="p").rows
    assert any(r["subject"].startswith("delivery") for r in rows) and all(r["post_id"] == "p" for r in rows)


def test_a_member_of_a_never_sees_bs_events_or_notifications(w):
    plan(w, "theirs", w.clock() + timedelta(hours=2), account=w.x_other)
    w.store.add_notification(Notification(workspace_id=w.other.id, kind="delivery_failed", title="Theirs failed"))
    mine = w.store.add_notification(Notification(workspace_id=w.ws.id, kind="delivery_failed", title="Ours failed"))
    owner = w.owner
    assert status.activity_log(w.store, w.ws.id, actor=owner).rows == ()
    assert [n["title"] for n in notification_rows(w.store, w.ws.id, tz_name=BERLIN, actor=owner)] == ["Ours failed"]
    assert status.unread_count(w.store, w.ws.id, actor=owner) == 1
    with pytest.raises(PermissionDenied):
        status.activity_log(w.store, w.other.id, actor=owner)
    with pytest.raises(PermissionDenied):
        notification_rows(w.store, w.other.id, tz_name=BERLIN, actor=owner)
    mark_read(w.store, w.ws.id, mine.id, actor=w.people[Role.VIEWER], clock=w.clock)
    assert status.unread_count(w.store, w.ws.id, actor=owner) == 0
    assert status.unread_count(w.store, w.other.id, actor=w.outsider) == 1


def test_unread_counts_only_what_is_for_the_person(w):
    w.store.add_notification(Notification(workspace_id=w.ws.id, kind="x", title="For the editor",
                                          user_id="u_editor"))
    w.store.add_notification(Notification(workspace_id=w.ws.id, kind="x", title="For everyone"))
    assert status.unread_count(w.store, w.ws.id, actor=w.people[Role.EDITOR]) == 2
    assert status.unread_count(w.store, w.ws.id, actor=w.people[Role.VIEWER]) == 1


# ---------------------------------------------------------------- settling what needs attention

@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER])
def test_settling_is_refused_to_who_may_not_and_changes_nothing(w, role):
    plan(w, "f", w.clock())
    [failed] = run_at(w, w.clock() + timedelta(seconds=1), outcome="failed")
    plan(w, "r", w.clock() + timedelta(seconds=1))
    [review] = run_at(w, w.clock() + timedelta(seconds=2), outcome="review")
    who = Scheduler(w.store, clock=w.clock, actor=w.people[role])
    for act in (lambda: who.try_again(failed.id), lambda: who.try_again(review.id),
                lambda: who.confirm_published(review.id, url="https://x.example/1"), lambda: who.give_up(review.id)):
        with pytest.raises(PermissionDenied, match="cannot decide what happens"):
            act()
    assert w.store.get_delivery(failed.id).state == DeliveryState.FAILED
    assert w.store.get_delivery(review.id).state == DeliveryState.NEEDS_REVIEW
    rows = attention_rows(w.store, w.ws.id, tz_name=BERLIN, actor=w.people[role])
    assert {r["delivery_id"] for r in rows} == {failed.id, review.id}


def test_an_editor_settles_and_the_queue_shows_it(w):
    plan(w, "f", w.clock())
    [failed] = run_at(w, w.clock() + timedelta(seconds=1), outcome="failed")
    plan(w, "r", w.clock() + timedelta(seconds=1))
    [review] = run_at(w, w.clock() + timedelta(seconds=2), outcome="review")
    editor = Scheduler(w.store, clock=w.clock, actor=w.people[Role.EDITOR])
    editor.try_again(failed.id)
    editor.confirm_published(review.id, url="https://x.example/found")
    assert w.store.get_delivery(review.id).external_url == "https://x.example/found"
    assert attention_rows(w.store, w.ws.id, tz_name=BERLIN, actor=w.owner) == []
    s = status.automation_status(w.store, w.ws.id, now=w.clock(), actor=w.owner)
    assert s.due_now == 1
    whats = [r["what"] for r in status.activity_log(w.store, w.ws.id).rows[:2]]
    assert whats == ["delivery confirmed published", "delivery requeued"]


# ---------------------------------------------------------------- the page (AppTest)

def _page(store, actor_role: Role = Role.OWNER):
    from streamlit.testing.v1 import AppTest
    from pages.shared import Context
    at = AppTest.from_file("../pages/activity.py", default_timeout=30)
    ws = store.get_workspace("ws_acme")
    user = store.get_user(f"u_{actor_role.value}")
    at.session_state["ctx"] = Context(user=user, workspace=ws,
                                      membership=Membership(user_id=user.id, workspace_id=ws.id, role=actor_role),
                                      person=Actor.of(store, user.id))
    return at


@pytest.fixture
def page_store(monkeypatch, clock):
    """One in-memory world the page reads through pages.shared.store()."""
    from core.store import InMemoryPostStore
    import pages.shared
    store = InMemoryPostStore(clock=clock)
    monkeypatch.setattr(pages.shared, "store", lambda: store)
    return store


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "error", "subheader", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_the_page_says_what_to_do_when_empty(page_store, clock, monkeypatch):
    w = _world_on(page_store, clock, monkeypatch)
    at = _page(w.store).run()
    assert not at.exception
    text = _texts(at)
    assert "No runner has reported yet" in text
    assert "Nothing failed and nothing waits for a decision" in text
    assert "No notifications." in text
    assert "Nothing has happened in this workspace yet" in text
    assert [m.label for m in at.metric][:3] == ["Due now", "Later today", "Next due"]


def _world_on(store, clock, monkeypatch):
    import core.domain.timeutil   # the page's clock (utcnow, read when the page runs) is the test's
    monkeypatch.setattr(core.domain.timeutil, "utcnow", clock)
    return make_world(store, clock)


def test_the_page_with_data_and_the_settling_buttons(page_store, clock, monkeypatch):
    w = _world_on(page_store, clock, monkeypatch)
    plan(w, "f", clock())
    [failed] = run_at(w, clock() + timedelta(seconds=1), outcome="failed")
    w.store.add_notification(Notification(workspace_id=w.ws.id, kind="delivery_failed", title="A post could not "
                                           "be published", body="On X: too large."))
    w.store.add_notification(Notification(workspace_id=w.other.id, kind="x", title="Not for Acme"))
    beat(w)
    at = _page(w.store).run()
    assert not at.exception
    text = _texts(at)
    assert "Running: last heartbeat" in text
    assert "Needs attention (1)" in text and "The platform refused the image: too large." in text
    assert "Notifications (1 unread)" in text and "A post could not be published" in text
    assert "Not for Acme" not in text
    assert "delivery publishing" in at.dataframe[0].value["what"].tolist()
    assert "@acme on X · “Caption of f”" in at.dataframe[0].value["about"].tolist()   # named, not "delivery dlv_…"
    # a viewer sees the problem but no buttons, and is told whom to ask
    viewer = _page(w.store, Role.VIEWER).run()
    assert not viewer.exception
    assert f"again_{failed.id}" not in [b.key for b in viewer.button]
    assert "Only owners and editors can decide" in _texts(viewer)
    # the owner tries again and marks everything read
    at.button(key=f"again_{failed.id}").click().run()
    assert not at.exception
    assert w.store.get_delivery(failed.id).state == DeliveryState.QUEUED
    assert "Queued to publish again now." in _texts(at)
    at.button(key="mark_all_read").click().run()
    assert status.unread_count(w.store, w.ws.id) == 0
    assert status.unread_count(w.store, w.other.id) == 1       # the other workspace's stays unread
    assert "Notifications (1 unread)" not in _texts(at)
    # the log's filter by what
    at.selectbox(key="log_what").select("delivery requeued").run()
    assert at.dataframe[0].value["what"].tolist() == ["delivery requeued"]


def test_the_page_says_when_the_runner_stopped(page_store, clock, monkeypatch):
    w = _world_on(page_store, clock, monkeypatch)
    beat(w)
    clock.advance(minutes=3)
    at = _page(w.store, Role.VIEWER).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The runner last reported 3 min ago: it has stopped or hangs, so posts "
                                           "are not going out."]


def test_the_page_settles_an_unconfirmed_post_with_its_link(page_store, clock, monkeypatch):
    w = _world_on(page_store, clock, monkeypatch)
    plan(w, "r", clock())
    [review] = run_at(w, clock() + timedelta(seconds=1), outcome="review")
    at = _page(w.store, Role.EDITOR).run()
    assert not at.exception
    assert "Outpost could not tell whether this went out" in _texts(at)
    at.text_input(key=f"link_{review.id}").input("https://x.example/status/found")
    at.button(key=f"live_{review.id}").click().run()
    assert not at.exception
    got = w.store.get_delivery(review.id)
    assert got.state == DeliveryState.PUBLISHED and got.external_url == "https://x.example/status/found"
    assert "Marked as published." in _texts(at) and "Needs attention (1)" not in _texts(at)


def test_the_page_says_a_refusal_in_words(page_store, clock, monkeypatch):
    """Someone else settled it first: the late click is told so in words, and changes nothing."""
    w = _world_on(page_store, clock, monkeypatch)
    plan(w, "r", clock())
    [review] = run_at(w, clock() + timedelta(seconds=1), outcome="review")
    at = _page(w.store).run()
    beat(w)
    Scheduler(w.store, clock=clock, actor=w.people[Role.EDITOR]).confirm_published(review.id)
    at.button(key=f"again_{review.id}").click().run()
    assert not at.exception
    assert [e.value for e in at.warning] == ["Someone settled that one already, so nothing changed; the list shows "
                                             "where things stand now."]
    assert w.store.get_delivery(review.id).state == DeliveryState.PUBLISHED
    assert "Needs attention (1)" not in _texts(at)


# ---------------------------------------------------------------- in the browser

@pytest.fixture
def failed_in_dashboard(dashboard, sandbox_emulator):
    """An owner in Berlin whose post failed a minute ago, a runner that beats, and a notification, in the
    dashboard's own database."""
    from core.domain.timeutil import utcnow
    from core.infra.settings import Settings
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    db = open_store(Settings(data_dir=dashboard.data_dir, sandbox=True, sandbox_url=sandbox_emulator.url))
    owner, ws = create_owner(db, email="act@example.com", password="correct horse battery", display_name="Ana",
                             workspace_name="Bakery", timezone_name=BERLIN)
    acct = db.save_account(Account(platform="x", handle="@bakery", workspace_id=ws.id))
    now = utcnow()
    Scheduler(db).schedule_post("p_bread", Post(caption="Fresh bread at noon", accounts=(acct,), workspace_id=ws.id,
                                                schedule=Schedule(scheduled_at=now, timezone_name=BERLIN)))
    [d] = db.claim_due(now, runner_id="r-test", lease_until=now + timedelta(minutes=2))
    db.finish_delivery(d.mark_failed(error="X refused the image: it is larger than 5 MB.", code="bad_media"),
                       runner_id="r-test")
    db.add_notification(Notification(workspace_id=ws.id, kind="delivery_failed", title="A post could not be published",
                                     body="“Fresh bread at noon” on X: X refused the image."))
    # A runner that keeps beating while the test runs (however slow the machine, it never looks stale).
    import threading
    stop = threading.Event()

    def beating():
        while True:
            db.save_heartbeat(Heartbeat(runner_id="main:1:t", host="box", pid=1, started_at=now, beat_at=utcnow(),
                                        info={}))
            if stop.wait(2):
                return

    beater = threading.Thread(target=beating, daemon=True)
    beater.start()
    yield db, d.id
    stop.set()
    beater.join()


@pytest.mark.browser
def test_activity_in_the_browser(dashboard, failed_in_dashboard, page):
    import os
    db, delivery_id = failed_in_dashboard
    page.goto(dashboard)
    page.get_by_label("Email", exact=True).fill("act@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Activity").click()
    page.get_by_role("heading", name="Activity log").wait_for()
    page.get_by_text("Running: last heartbeat").wait_for()
    page.get_by_text("Needs attention (1)").wait_for()
    page.get_by_text("X refused the image: it is larger than 5 MB.").first.wait_for()
    page.get_by_text("Notifications (1 unread)").wait_for()
    if os.environ.get("OUTPOST_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["OUTPOST_SCREENSHOTS"], "activity.png"), full_page=True)
    page.get_by_role("button", name="Try again").click()
    page.get_by_text("Queued to publish again now.").wait_for()
    assert db.get_delivery(delivery_id).state == DeliveryState.QUEUED
    page.get_by_role("button", name="Mark all as read").click()
    page.get_by_role("heading", name="Notifications", exact=True).wait_for()
    assert db.list_notifications(workspace_id=db.get_post("p_bread").workspace_id, unread_only=True) == []


# ---------------------------------------------------------------- what each event is about, in words

def _event(w, action, subject_type, subject_id, **kw):
    from core.domain import ActivityEvent
    w.store.record_event(ActivityEvent(action=action, subject_type=subject_type, subject_id=subject_id,
                                       at=w.clock(), workspace_id=w.ws.id, **kw))


def test_the_log_names_accounts_posts_and_people_not_ids(w):
    plan(w, "p", w.clock())
    run_at(w, w.clock() + timedelta(seconds=3))
    _event(w, "account.connected", "account", w.li.id, actor="user:u_owner")
    _event(w, "account.disconnected", "account", "acct_gone", details={"handle": "@old", "platform": "x"})
    _event(w, "member.added", "membership", "u_editor", actor="user:u_owner")
    _event(w, "workspace.settings_changed", "workspace", w.ws.id)
    about = {(r["what"], r["about"]) for r in status.activity_log(w.store, w.ws.id).rows}
    assert ("post scheduled", "“Caption of p”") in about
    assert ("delivery publishing", "@acme on X · “Caption of p”") in about
    assert ("account connected", "Acme Inc on LinkedIn") in about
    assert ("account disconnected", "@old on X") in about   # removed since: named from the event
    assert ("member added", "Editor Person") in about
    assert ("workspace settings changed", "this workspace") in about
    assert not any("acct_" in a or "u_" in a or "ws_" in a for _, a in about)


def test_demo_history_is_tagged_and_can_be_left_out(w):
    plan(w, "p", w.clock() + timedelta(hours=1))
    _event(w, "post.published", "post", "demo_1", details={"demo": True})
    log = status.activity_log(w.store, w.ws.id)
    assert [(r["about"], r["demo"]) for r in log.rows][:1] == [("Demo · an older post", True)]
    assert [r["post_id"] for r in status.activity_log(w.store, w.ws.id, demo=False).rows] == ["p"]


def test_the_names_are_read_once_for_the_page_not_per_row(w, monkeypatch):
    for i in range(6):
        plan(w, f"p{i}", w.clock() + timedelta(hours=i + 1), actor=w.people[Role.EDITOR])
        _event(w, "account.edited", "account", w.x.id, actor="user:u_owner")
    calls: dict[str, int] = {}
    for name in ("list_posts", "get_post", "list_accounts", "get_account", "get_user"):
        real = getattr(w.store, name)

        def counted(*a, _real=real, _name=name, **kw):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*a, **kw)
        monkeypatch.setattr(w.store, name, counted)
    log = status.activity_log(w.store, w.ws.id)
    rows = log.rows
    assert len(rows) == 12 and {r["about"] for r in rows} == {f"“Caption of p{i}”" for i in range(6)} | {"@acme on X"}
    # a few posts named: each read once by its id (not the workspace's newest 2,000), and the posts filter's
    # captions come from the same reads
    assert calls.get("get_post") == 6 and not calls.get("list_posts") and calls.get("list_accounts") == 1
    assert not calls.get("get_account") and calls.get("get_user", 0) <= 2
    assert log.post_captions == {f"p{i}": f"“Caption of p{i}”" for i in range(6)}


def test_many_posts_named_in_the_log_are_read_in_one_query(w, monkeypatch):
    from core.services import views
    monkeypatch.setattr(views, "DIRECT_READS", 3)
    for i in range(5):
        plan(w, f"p{i}", w.clock() + timedelta(hours=i + 1))
    calls: dict[str, int] = {}
    for name in ("list_posts", "get_post"):
        real = getattr(w.store, name)

        def counted(*a, _real=real, _name=name, **kw):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*a, **kw)
        monkeypatch.setattr(w.store, name, counted)
    log = status.activity_log(w.store, w.ws.id)
    assert {r["about"] for r in log.rows} == {f"“Caption of p{i}”" for i in range(5)}
    assert calls == {"list_posts": 1}


def test_the_log_names_its_posts_in_a_workspace_planned_far_ahead(w, monkeypatch):
    # The newest posts (by time) are months ahead; the log's own posts were not among the newest read and were
    # called "an older post". Read by their ids, they are named.
    from core.services import views
    monkeypatch.setattr(views, "SUBJECT_POSTS", 10)
    plan(w, "today", w.clock() + timedelta(hours=1))
    for i in range(30):
        plan(w, f"later{i}", w.clock() + timedelta(days=30 + i), actor=Actor.system("bulk"))
    log = status.activity_log(w.store, w.ws.id, who="Outpost (test)")
    assert [r["about"] for r in log.rows] == ["“Caption of today”"]


def test_demo_history_says_nothing_about_the_automation(w):
    """The sandbox demo's published posts were never published by the runner: no 'last publish', no lateness."""
    from dataclasses import replace as _replace
    t0 = w.clock()
    w.clock.now = t0 - timedelta(hours=1)
    plan(w, "demo", t0 - timedelta(minutes=30))
    run_at(w, t0 - timedelta(minutes=30) + timedelta(seconds=3))
    s = status.automation_status(w.store, w.ws.id, now=t0, actor=w.owner)
    assert s.last_published_at is not None and s.published_last_hour == 1
    post = w.store.get_post("demo")
    w.store.update_post(_replace(post, is_demo=True), expected_version=post.version)
    s = status.automation_status(w.store, w.ws.id, now=t0, actor=w.owner)
    assert (s.last_published_at, s.published_last_hour, s.lateness_max) == (None, 0, None)


def test_two_accounts_on_one_platform_are_told_apart_in_the_log_and_the_attention_list(w):
    """A workspace with two X accounts: every delivery row says which one (its handle), not only the platform,
    in the log and in what needs a person."""
    help_desk = w.store.save_account(Account(platform=Platform.X, handle="@acme_help", oauth_token="t",
                                             workspace_id=w.ws.id, id="a_x2"))
    post = Post(caption="Caption of both", accounts=(w.x, help_desk), workspace_id=w.ws.id,
                schedule=Schedule(scheduled_at=w.clock(), timezone_name=BERLIN))
    Scheduler(w.store, clock=w.clock, actor=Actor.system("test")).schedule_post("both", post)
    plan(w, "one", w.clock(), account=w.li)                     # a post to one account only
    for _ in range(3):                                          # one delivery per account per claim
        run_at(w, w.clock() + timedelta(seconds=3), outcome="failed")
    about = {r["about"] for r in status.activity_log(w.store, w.ws.id).rows if r["subject"].startswith("delivery")}
    assert about == {"@acme on X · “Caption of both”", "@acme_help on X · “Caption of both”",
                     "Acme Inc on LinkedIn · “Caption of one”"}
    listed = {r["account"] for r in attention_rows(w.store, w.ws.id, tz_name=BERLIN)}
    assert listed == {"@acme on X", "@acme_help on X", "Acme Inc on LinkedIn"}


# ---------------------------------------------------------------- posts that wait for an account that cannot post
def _practice(w, handle="@casey"):
    """A practice account added before they were connected: no token, so it cannot post."""
    return w.store.save_account(Account(platform=Platform.X, handle=handle, workspace_id=w.ws.id, id="a_practice"))


def test_posts_waiting_for_an_account_that_cannot_post_need_attention(w):
    from core.services.views import blocked_rows
    practice = _practice(w)
    plan(w, "soon", w.clock() - timedelta(minutes=5), account=practice)
    plan(w, "later", w.clock() + timedelta(days=1), account=practice)
    plan(w, "fine", w.clock() + timedelta(hours=1))                      # @acme can post: not listed
    [row] = blocked_rows(w.store, w.ws.id, tz_name=BERLIN, now=w.clock(), actor=w.people[Role.VIEWER])
    assert row["account"] == "@casey on X" and row["waiting"] == 2 and row["overdue"] == 1
    assert row["reason"].startswith("Not connected") and row["caption"] == "Caption of soon"
    # reconnect-needed and disconnected accounts too; one that can post again is no longer listed
    w.store.save_account(replace(practice, oauth_token="t"))
    assert blocked_rows(w.store, w.ws.id, tz_name=BERLIN, now=w.clock()) == []
    from core.services.connect import mark_reconnect_needed
    mark_reconnect_needed(w.store, w.store.get_account(practice.id), "X refused the token.", clock=w.clock)
    [row] = blocked_rows(w.store, w.ws.id, tz_name=BERLIN, now=w.clock())
    assert row["reason"] == "Reconnect needed: X refused the token." and row["waiting"] == 2


def test_an_outsider_cannot_read_which_accounts_wait(w):
    from core.services.views import blocked_rows
    with pytest.raises(PermissionDenied):
        blocked_rows(w.store, w.ws.id, tz_name=BERLIN, now=w.clock(), actor=w.outsider)


def test_the_page_shows_posts_waiting_for_an_account_and_points_to_accounts(page_store, clock, monkeypatch):
    w = _world_on(page_store, clock, monkeypatch)
    practice = _practice(w)
    plan(w, "soon", clock() - timedelta(minutes=5), account=practice)
    beat(w)
    at = _page(w.store, Role.VIEWER).run()
    assert not at.exception
    text = _texts(at)
    assert "Nothing failed and nothing waits" not in text and "Needs attention (1)" in text
    assert "**Waiting for an account** · @casey on X · 1 planned post, 1 already due" in text
    assert "Not connected (practice account)" in text
    assert [b.label for b in at.button if b.key == "to_accounts_a_practice"] == ["Reconnect it on Accounts →"]


def test_the_log_fits_the_page(page_store, clock, monkeypatch):
    import json
    w = _world_on(page_store, clock, monkeypatch)
    plan(w, "f", clock())
    at = _page(w.store).run()
    widths = {c: cfg.get("width") for c, cfg in json.loads(at.dataframe[0].proto.columns).items() if c != "_index"}
    assert set(widths) == {"when", "who", "what", "about", "reason", "change"}
    assert all(isinstance(v, int) for v in widths.values()) and sum(widths.values()) <= 780

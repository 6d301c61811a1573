"""The calendar in Chromium: find a planned post in the month view, drag it to another day, see it moved and saved."""
from __future__ import annotations

import os
from datetime import datetime, time, timedelta

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("OUTPOST_SCREENSHOTS")
BERLIN = "Europe/Berlin"


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.fixture
def planned(dashboard, sandbox_emulator):
    """An owner in Berlin with one LinkedIn post tomorrow at 10:00, in the dashboard's own database."""
    from core.domain import Account, Post, Schedule
    from core.domain.timeutil import utcnow, zone
    from core.infra.settings import Settings
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    from core.services.scheduler import Scheduler
    db = open_store(Settings(data_dir=dashboard.data_dir, sandbox=True, sandbox_url=sandbox_emulator.url))
    owner, ws = create_owner(db, email="cal@example.com", password="correct horse battery", display_name="Cal",
                             workspace_name="Bakery", timezone_name=BERLIN)
    acct = db.save_account(Account(platform="linkedin", handle="Bakery Inc", workspace_id=ws.id))
    day = (utcnow().astimezone(zone(BERLIN)) + timedelta(days=1)).date()
    Scheduler(db).schedule_post("p_spring", Post(caption="Spring launch", accounts=(acct,), workspace_id=ws.id,
                                                 schedule=Schedule.at_local(day, time(10, 0), BERLIN)))
    return db, day


def test_drag_a_post_to_another_day(dashboard, planned, page):
    from core.domain.timeutil import zone
    db, day = planned
    target = day + timedelta(days=1)
    page.goto(dashboard)
    page.get_by_label("Email", exact=True).fill("cal@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("heading", name="Calendar").wait_for()

    frame = page.frame_locator("[data-testid='stCustomComponentV1']")
    post = frame.locator(f"td[data-date='{day.isoformat()}'] .fc-event", has_text="Spring launch")
    post.wait_for()
    shot(page, "calendar-month")
    cell = frame.locator(f"td[data-date='{target.isoformat()}']")
    start, end = post.bounding_box(), cell.bounding_box()
    page.mouse.move(start["x"] + 20, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    page.mouse.up()

    page.get_by_text("Moved to").wait_for()   # saved, with an undo offered
    page.get_by_role("button", name="Undo").wait_for()
    frame.locator(f"td[data-date='{target.isoformat()}'] .fc-event", has_text="Spring launch").wait_for()
    shot(page, "calendar-moved")
    saved = db.get_post("p_spring").due_at.astimezone(zone(BERLIN))
    assert saved.replace(tzinfo=None) == datetime.combine(target, time(10, 0))   # a new day, the same time


CALENDAR = "[data-testid='stCustomComponentV1']"
PURPLE = "rgb(124, 58, 237)"   # published (core.services.calendar.LEGEND)
# Counts every calendar iframe added to the page from now on, and marks the one there is: a remount (a second
# calendar, however briefly) shows as a count above 0 or a calendar without the mark.
WATCH = """() => { window.__mounted = 0; document.querySelector("%s").dataset.outpostFirst = "yes";
  new MutationObserver(changes => changes.forEach(c => c.addedNodes.forEach(n => {
    if (n.nodeType === 1 && (n.matches("%s") || n.querySelector("%s"))) window.__mounted++; })))
  .observe(document.body, {childList: true, subtree: true}); }""" % (CALENDAR, CALENDAR, CALENDAR)


@pytest.fixture
def next_month(dashboard, sandbox_emulator):
    """An owner in Berlin with two LinkedIn posts in a week of next month, in the dashboard's own database."""
    from core.domain import Account, Post, Schedule
    from core.domain.timeutil import utcnow, zone
    from core.infra.settings import Settings
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    from core.services.scheduler import Scheduler
    db = open_store(Settings(data_dir=dashboard.data_dir, sandbox=True, sandbox_url=sandbox_emulator.url))
    owner, ws = create_owner(db, email="weeks@example.com", password="correct horse battery", display_name="Wes",
                             workspace_name="Bakery weeks", timezone_name=BERLIN)
    acct = db.save_account(Account(platform="linkedin", handle="Bakery Weeks", workspace_id=ws.id))
    today = utcnow().astimezone(zone(BERLIN)).date()
    tenth = (today.replace(day=1) + timedelta(days=32)).replace(day=10)
    monday = tenth - timedelta(days=tenth.weekday())
    for pid, day, caption in (("p_croissant", monday + timedelta(days=1), "Croissant morning"),
                              ("p_bread", monday + timedelta(days=3), "Bread of the week")):
        Scheduler(db).schedule_post(pid, Post(caption=caption, accounts=(acct,), workspace_id=ws.id,
                                              schedule=Schedule.at_local(day, time(10, 0), BERLIN)))
    weeks_ahead = (monday - (today - timedelta(days=today.weekday()))).days // 7
    return db, weeks_ahead


def _runner_publishes(db, post_id):
    """What the runner writes when the post goes out (everything due before it in the database goes out too)."""
    from core.domain.timeutil import utcnow
    due = db.get_post(post_id).due_at
    while db.get_deliveries(post_id)[0].state.value != "published":
        claimed = db.claim_due(due, runner_id="test", lease_until=due + timedelta(minutes=5))
        assert claimed, "nothing to publish"
        for d in claimed:
            db.finish_delivery(d.mark_published(external_id=d.id, external_url="https://x.test/1", at=utcnow()),
                               runner_id="test")


def test_a_week_ahead_stays_one_calendar_while_the_runner_publishes_and_the_dialog_acts(dashboard, next_month, page):
    """The view and its dates stay, and it is the same calendar: a publish only recolours its post; a click, the
    dialog's action and its message above the calendar mount no second one."""
    from playwright.sync_api import expect
    db, weeks_ahead = next_month
    page.goto(dashboard)
    page.get_by_label("Email", exact=True).fill("weeks@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("heading", name="Calendar").wait_for()
    # Another view or other dates are a new calendar (FullCalendar reads them when it starts): the old one stays
    # in the page, hidden, until the page is drawn again
    showing = page.frame_locator(f"{CALENDAR}:visible").locator(".fc-toolbar-title")
    showing.wait_for()
    page.get_by_text("Week", exact=True).click()
    expect(page.frame_locator(f"{CALENDAR}:visible").locator(".fc-timeGridWeek-view")).to_have_count(1)
    for _ in range(weeks_ahead):
        shown = showing.inner_text()
        page.get_by_role("button", name="Later ▶").click()
        expect(showing).not_to_have_text(shown, timeout=20_000)
    expect(page.locator(CALENDAR)).to_have_count(1)
    frame = page.frame_locator(CALENDAR)
    title = frame.locator(".fc-toolbar-title")
    croissant = frame.locator(".fc-event", has_text="Croissant morning")
    bread = frame.locator(".fc-event", has_text="Bread of the week")
    croissant.wait_for()
    week = title.inner_text()
    page.evaluate(WATCH)

    _runner_publishes(db, "p_croissant")
    expect(croissant).to_have_css("background-color", PURPLE, timeout=40_000)   # the page reads it again by itself
    shot(page, "calendar-week-published")
    assert title.inner_text() == week and frame.locator(".fc-timeGridWeek-view").count() == 1

    bread.click()                                                  # the dialog opens ...
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Caption").fill("Bread of the week: rye")
    dialog.get_by_role("button", name="Save changes").click()      # ... acts, and says so above the calendar
    page.get_by_text("Changes saved.").wait_for()
    expect(dialog).to_have_count(0)
    expect(bread).to_contain_text("rye")                           # redrawn in the same calendar
    bread.click()                                                  # the same post again: it opens again
    expect(page.get_by_role("dialog").get_by_label("Caption")).to_have_value("Bread of the week: rye")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    assert title.inner_text() == week
    assert page.locator(CALENDAR).count() == 1
    assert page.evaluate("window.__mounted") == 0, "a second calendar was mounted"
    assert page.locator(CALENDAR).get_attribute("data-outpost-first") == "yes"

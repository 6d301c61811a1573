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

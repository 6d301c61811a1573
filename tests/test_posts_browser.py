"""The Posts page in Chromium: its table fits the page at the window sizes marketers use, without scrolling sideways
(the link to the published post was out of sight at 1280 px)."""
from __future__ import annotations

import os
from datetime import time, timedelta

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("OUTPOST_SCREENSHOTS")
BERLIN = "Europe/Berlin"
CAPTIONS = ["Behind the scenes at 4 am: how our bakers shape three hundred croissants before sunrise, every day",
            "Spring launch: our new sourdough is here, come and taste it at the shop this weekend #bread #bakery",
            "Weekend special"]


@pytest.fixture(scope="module")
def busy(dashboard, sandbox_emulator):
    """An owner in Berlin whose list has every column: long captions, two accounts on a post, an AI-written post,
    a published post with its link and a failed one with its problem."""
    from core.domain import Account, Post, Schedule
    from core.domain.timeutil import utcnow, zone
    from core.infra.settings import Settings
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    from core.services.scheduler import Scheduler
    db = open_store(Settings(data_dir=dashboard.data_dir, sandbox=True, sandbox_url=sandbox_emulator.url))
    owner, ws = create_owner(db, email="table@example.com", password="correct horse battery", display_name="Tab",
                             workspace_name="Bakery table", timezone_name=BERLIN)
    li = db.save_account(Account(platform="linkedin", handle="Bakery Table Inc", workspace_id=ws.id))
    x = db.save_account(Account(platform="x", handle="@bakerytable", workspace_id=ws.id))
    day = utcnow().astimezone(zone(BERLIN)).date() + timedelta(days=1)
    for n, caption in enumerate(CAPTIONS * 3):
        Scheduler(db).schedule_post(f"t{n}", Post(caption=caption, accounts=(li, x) if n == 1 else (li,),
                                                  workspace_id=ws.id, is_ai_generated=n == 2,
                                                  schedule=Schedule.at_local(day + timedelta(days=n), time(9), BERLIN)))
    Scheduler(db).schedule_post("t_x", Post(caption="Christmas stollen pre-orders are open now", accounts=(x,),
                                            workspace_id=ws.id, schedule=Schedule.at_local(day, time(8), BERLIN)))
    outcomes = {"t_x": lambda d: d.mark_failed(error="X refused the post: the account's access has expired."),
                "t0": lambda d: d.mark_published(external_id="1", external_url="https://x.com/b/status/1", at=utcnow())}
    due = db.get_post("t0").due_at
    for d in db.claim_due(due, runner_id="test", lease_until=due + timedelta(minutes=5)):   # what the runner writes
        if d.post_id in outcomes:
            db.finish_delivery(outcomes[d.post_id](d), runner_id="test")
    return db


def _signed_in(browser, dashboard: str, width: int):
    """A Berlin browser of `width` px, signed in as the busy workspace's owner: (context, page)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=BERLIN)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(dashboard)
    page.get_by_label("Email", exact=True).fill("table@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    return context, page


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_posts_table_fits_the_page(dashboard, busy, browser, width):
    from playwright.sync_api import expect
    context, page = _signed_in(browser, dashboard, width)
    try:
        page.get_by_role("heading", name="Planned and published").wait_for()
        table = page.locator("[data-testid='stDataFrame']")
        table.wait_for()
        scroller = table.locator(".dvn-scroller")
        scroller.wait_for()
        sizes = scroller.evaluate("s => [s.scrollWidth, s.clientWidth]")
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            table.screenshot(path=os.path.join(SHOTS, f"posts-table-{width}.png"))
        assert sizes[0] <= sizes[1] + 1, f"the table scrolls sideways at {width} px: {sizes[0]} px in {sizes[1]} px"
        headers = table.locator("[role=columnheader]")                 # the grid's accessible copy of its header
        expect(headers.filter(has_text="Post")).to_have_count(1)
        assert [h.strip() for h in headers.evaluate_all("hs => hs.map(h => h.textContent)") if h.strip()] == [
            "When", "Status", "Tag", "Accounts", "Caption", "Problem", "Post"]
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_composer_open_above_the_table_at_marketers_widths(dashboard, busy, browser, width):
    """A new user's findings, in the browser: "Close the composer" is a button (bordered, with an icon), the first
    comment's counter shows the chosen platforms' comment limit, and the table still fits with the composer open."""
    from playwright.sync_api import expect
    # What the other width's run typed is kept for the owner (and would open the composer by itself): start clean.
    owner = busy.get_user_by_email("table@example.com")
    for ws in busy.list_workspaces(user_id=owner.id):
        busy.forget_kept_draft(owner.id, ws.id)
    context, page = _signed_in(browser, dashboard, width)
    try:
        page.get_by_role("button", name="New post").click()
        close = page.get_by_role("button", name="Close the composer")
        close.wait_for()
        border = close.evaluate("b => getComputedStyle(b).borderTopWidth + ' ' + getComputedStyle(b).borderTopStyle")
        assert border.endswith("solid") and not border.startswith("0px"), f"no border: {border}"
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            page.screenshot(path=os.path.join(SHOTS, f"posts-composer-top-{width}.png"))
        page.locator("[data-testid='stMultiSelect']").filter(has_text="Post to").locator("input").click()
        page.get_by_role("option", name="Bakery Table Inc on LinkedIn").click()
        page.keyboard.press("Escape")
        comment = page.get_by_label("First comment")
        comment.fill("Order yours at the shop")
        comment.press("Control+Enter")
        counter = page.get_by_text("First comment: 23 / 1,250 characters (LinkedIn's limit for a comment).")
        expect(counter).to_be_visible()
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"posts-composer-comment-{width}.png"))
            page.get_by_test_id("stRadio").filter(has_text="When").scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(SHOTS, f"posts-composer-when-{width}.png"))
        table = page.locator("[data-testid='stDataFrame']")
        table.scroll_into_view_if_needed()
        scroller = table.locator(".dvn-scroller")
        scroller.wait_for()
        sizes = scroller.evaluate("s => [s.scrollWidth, s.clientWidth]")
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"posts-composer-{width}.png"))
            table.screenshot(path=os.path.join(SHOTS, f"posts-composer-table-{width}.png"))
        assert sizes[0] <= sizes[1] + 1, f"the table scrolls sideways at {width} px: {sizes[0]} px in {sizes[1]} px"
    finally:
        context.close()

"""In Chromium: what is typed in the composer survives a reload (a new Streamlit session), with a note saying so and
a way to discard it. Before, a reload lost everything typed."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("OUTPOST_SCREENSHOTS")
CAPTION = "Our spring menu is here: three new cakes, one of them vegan"


@pytest.fixture(scope="module")
def writer(dashboard, sandbox_emulator):
    from core.infra.settings import Settings
    from core.services.auth import create_owner
    from core.services.runtime import open_store
    db = open_store(Settings(data_dir=dashboard.data_dir, sandbox=True, sandbox_url=sandbox_emulator.url))
    from core.domain import Account
    _, ws = create_owner(db, email="kept@example.com", password="correct horse battery", display_name="Kit",
                         workspace_name="Kept bakery", timezone_name="Europe/Berlin")
    db.save_account(Account(platform="linkedin", handle="kept-bakery", workspace_id=ws.id))
    return db


def test_a_reload_keeps_what_was_typed(dashboard, writer, browser):
    from playwright.sync_api import expect
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(dashboard)
    page.get_by_label("Email", exact=True).fill("kept@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    caption = page.get_by_label("Caption", exact=True)
    caption.fill(CAPTION)
    caption.press("Tab")                                  # Streamlit sends a text field's value when it loses focus
    page.get_by_text("Counters and previews update", exact=False).wait_for()
    # Kept once the run that received it ends: wait for the store to have it, not for a time.
    from core.rules.permissions import Actor
    from core.services import composer_drafts
    user = writer.get_user_by_email("kept@example.com")
    [ws] = writer.list_workspaces(user_id=user.id)
    for _ in range(300):
        found = composer_drafts.kept(writer, Actor.of(writer, user.id), ws.id)
        if found is not None and found.fields.get("compose_caption") == CAPTION:
            break
        page.wait_for_timeout(100)                          # polls the store (the event), at most 30 s
    else:
        raise AssertionError("what was typed was not kept")
    # To the calendar and back (Streamlit forgets the fields of a page not drawn): the post is there again.
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("heading", name="Calendar").wait_for()
    page.get_by_role("link", name="Posts").click()
    expect(page.get_by_label("Caption", exact=True)).to_have_value(CAPTION)
    page.reload()
    page.get_by_text("Restored what you were writing", exact=False).wait_for()
    expect(page.get_by_label("Caption", exact=True)).to_have_value(CAPTION)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, "composer-restored.png"))
    page.get_by_role("button", name="Discard it").click()
    page.get_by_text("Restored what you were writing", exact=False).wait_for(state="detached")
    expect(page.get_by_label("Caption", exact=True)).to_have_value("")
    page.reload()
    page.get_by_text("Counters and previews update", exact=False).wait_for()     # the composer is drawn
    expect(page.get_by_label("Caption", exact=True)).to_have_value("")
    assert page.get_by_text("Restored what you were writing", exact=False).count() == 0

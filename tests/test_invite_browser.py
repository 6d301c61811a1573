"""Inviting a teammate, in Chromium against a real dashboard: the owner invites an email as approver and copies the
link; a second browser opens it, creates the account, is signed in and sees the workspace; the owner sees them
on Members."""
from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("OUTPOST_SCREENSHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def fill(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def berlin(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def test_an_owner_invites_an_approver_who_joins_from_another_browser(dashboard, browser):
    owner_context, owner = berlin(browser)
    owner.goto(dashboard)
    owner.get_by_text("Create the owner account").wait_for()
    fill(owner, "Your name", "Olive")
    fill(owner, "Email", "olive@example.com")
    fill(owner, "Password (at least 10 characters)", "correct horse battery")
    fill(owner, "Workspace name", "Acme")
    owner.get_by_role("button", name="Create account").click()
    owner.get_by_text("Signed in as olive@example.com").wait_for()

    owner.goto(dashboard + "/members")
    owner.get_by_role("heading", name="Invite someone").wait_for()
    fill(owner, "Email", "ana@example.com")
    owner.get_by_label("Role").first.click()
    owner.get_by_role("option", name=re.compile("^Approver")).click()
    owner.get_by_role("button", name="Create invitation link").click()
    owner.get_by_text("Send this link to ana@example.com").wait_for()
    link = owner.locator('[data-testid="stCode"] code').inner_text().strip()
    assert link.startswith(dashboard + "/?invite=")
    owner.get_by_text("ana@example.com").nth(1).wait_for()          # and in the pending list, with Revoke
    assert owner.get_by_role("button", name="Revoke").count() == 1
    shot(owner, "invite-01-owner-link")

    ana_context, ana = berlin(browser)                                 # another browser: nobody signed in
    ana.goto(link)
    ana.get_by_role("heading", name="Join Acme as approver").wait_for()
    from playwright.sync_api import expect
    expect(ana.get_by_label("Email", exact=True)).to_have_value("ana@example.com")   # waits for the drawn value
    assert ana.get_by_label("Email", exact=True).is_disabled()
    shot(ana, "invite-02-join-page")
    fill(ana, "Your name", "Ana")
    fill(ana, "Password (at least 10 characters)", "another long password")
    ana.get_by_role("button", name="Create account and join").click()
    ana.get_by_text("You joined Acme as approver. Welcome!").wait_for()
    ana.get_by_text("Signed in as ana@example.com").wait_for()
    assert "invite=" not in ana.url and "joined=" not in ana.url
    ana.get_by_role("heading", name="Posts").wait_for()
    shot(ana, "invite-03-joined")
    ana.get_by_role("link", name="Approvals").click()
    ana.get_by_text("Nothing is waiting for approval.").wait_for()     # an approver's page, in Acme
    shot(ana, "invite-04-approvals")
    ana.reload()                                                       # signed in for good, not just this tab
    ana.get_by_text("Signed in as ana@example.com").wait_for()

    ana.goto(link)                                                     # the link worked once, for her
    ana.get_by_text("You are already a member of Acme.").wait_for()
    shot(ana, "invite-06-link-used")

    owner.reload()
    owner.get_by_role("heading", name="Members").wait_for()
    owner.get_by_text("No invitations are waiting to be used.").wait_for()
    owner.get_by_text("Ana", exact=True).wait_for()                        # a member now
    # Ana's row, the last one, with her role (waited for: the rows' role boxes are drawn after the names)
    owner.wait_for_function("() => { const b = [...document.querySelectorAll('[data-testid=stSelectbox] input')];"
                            " return b.length > 0 && b[b.length - 1].value === 'Approver: approves or rejects posts'; }",
                            timeout=20_000)
    assert owner.get_by_role("button", name="Revoke").count() == 0
    shot(owner, "invite-05-owner-members")
    owner_context.close()
    ana_context.close()

"""Issue 12's "done when", in Chromium: a newcomer in sandbox mode signs up, opens Analytics and reads 90 days of
demo history (the overview's cards with their change, the best-time heatmap with its recommendation, the
publishing reliability panel), then removes the demo data in one click and sees the page say so.

Against a real `streamlit run app.py` with the platform emulator (tests/conftest.py's `dashboard` fixture: free
ports, its own data directory). The screenshots go to /tmp/outpost-analytics-*.png (or $OUTPOST_SCREENSHOTS)."""
from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("OUTPOST_SCREENSHOTS", "/tmp")
EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"outpost-analytics-{name}.png"))


def fill(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def open_analytics_as_a_newcomer(page, dashboard: str) -> None:
    """Sign up as the first person (Berlin workspace), then open Analytics until it says its data is demo data."""
    page.goto(dashboard)
    page.get_by_text("Create the owner account").wait_for()
    fill(page, "Your name", "Sam")
    fill(page, "Email", EMAIL)
    fill(page, "Password (at least 10 characters)", PASSWORD)
    fill(page, "Workspace name", "Sam's Bakery")
    fill(page, "Workspace timezone", "Europe/Berlin")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Posts").wait_for()
    page.get_by_role("link", name="Analytics").click()
    page.get_by_text("Demo data.", exact=False).first.wait_for()


def test_a_newcomer_reads_the_demo_history_on_analytics(dashboard, page):
    page.set_default_timeout(45_000)
    # First visit: the demo history is seeded and the page says it is demo data.
    open_analytics_as_a_newcomer(page, dashboard)
    page.get_by_text("planted on Tuesdays and Thursdays, 18:00–19:00 (Europe/Berlin)", exact=False).wait_for()
    # The overview: seven cards with figures from the last 30 days of demo history.
    page.get_by_test_id("stMetric").nth(6).wait_for()
    overview = _cards(page)
    for label in ("Followers", "Reach", "Views", "Engagements", "Engagement rate", "Posts published",
                  "Publishing success rate"):
        assert label in overview, overview
    assert int(overview["Posts published"].replace(",", "")) >= 20, overview
    assert re.fullmatch(r"\d+\.\d%", overview["Engagement rate"]), overview
    assert overview["Engagements"] != "not available" and overview["Followers"] != "not available", overview
    shot(page, "01-overview")
    # The best-time heatmap, and the recommendation with its confidence: the planted Tuesday or Thursday evening.
    heading = page.get_by_role("heading", name="Best time to post")
    heading.scroll_into_view_if_needed()
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for()
    advice = page.get_by_text(re.compile(r"Best time to post: (Tue|Thu) 1[89]:00 \(based on \d+ posts.*confidence\)"))
    advice.wait_for()
    advice.scroll_into_view_if_needed()
    shot(page, "02-best-time")
    # The publishing reliability panel: on-time rate, delays, retries.
    page.get_by_role("heading", name="Publishing reliability").scroll_into_view_if_needed()
    page.get_by_text("Median delay", exact=True).wait_for()
    reliability = _cards(page)
    assert re.fullmatch(r"\d+\.\d%", reliability["On time"]), reliability
    assert re.fullmatch(r"\d+ (s|min)", reliability["Median delay"]), reliability
    shot(page, "03-reliability")

    # One click removes the demo: the page says so, and there is nothing left to show.
    page.get_by_role("button", name="Remove demo data").click()
    page.get_by_text(re.compile(r"Demo data removed")).wait_for()
    page.get_by_text("No published posts in this period yet.", exact=False).first.wait_for()
    assert page.get_by_role("button", name="Remove demo data").count() == 0
    shot(page, "04-removed")


def _cards(page) -> dict[str, str]:
    """The metric cards on the page: {label: value}."""
    text = lambda card, part: card.get_by_test_id(part).inner_text().strip()  # noqa: E731
    return {text(c, "stMetricLabel"): text(c, "stMetricValue") for c in page.get_by_test_id("stMetric").all()}

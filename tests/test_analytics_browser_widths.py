"""The Analytics page at the widths a marketer's laptop has (1440 and 1280 px), in Chromium: the ranked posts'
table fits without scrolling sideways, so its ranking column and its Link are on screen (a tester found the Link
cut off at 1440 px and the "Eng. rate" column off-screen at 1280 px). Screenshots go to
/tmp/outpost-analytics-width-*.png (or $OUTPOST_SCREENSHOTS)."""
from __future__ import annotations

import os

import pytest

from tests.test_analytics_browser import SHOTS, open_analytics_as_a_newcomer

pytestmark = pytest.mark.browser


def test_the_ranked_posts_fit_at_1440_and_1280_px(dashboard, page):
    page.set_default_timeout(45_000)
    page.set_viewport_size({"width": 1440, "height": 1000})
    open_analytics_as_a_newcomer(page, dashboard)
    for name in ("Overview", "Trends", "Follower growth"):     # to look at: captions, colours, axes
        page.get_by_role("heading", name=name).scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        page.screenshot(path=os.path.join(SHOTS, f"outpost-analytics-width-1440-{name.split()[0].lower()}.png"))
    for width in (1440, 1280):
        page.set_viewport_size({"width": width, "height": 1000})
        heading = page.get_by_role("heading", name="Top and bottom posts")
        heading.scroll_into_view_if_needed()
        page.get_by_text("Top 5", exact=False).first.wait_for()
        # The first two tables under the heading: the Top 5 and the Bottom 5.
        below = heading.bounding_box()["y"]
        tables = [t for t in page.get_by_test_id("stDataFrame").all()
                  if t.is_visible() and t.bounding_box()["y"] > below][:2]
        assert len(tables) == 2
        for name, table in zip(("Top 5", "Bottom 5"), tables):
            # Waits until the table, laid out again for this width, has no sideways scroll (fails if it never does).
            scroller = table.locator(".dvn-scroller").first.element_handle()
            try:
                page.wait_for_function("e => e.clientWidth > 0 && e.scrollWidth <= e.clientWidth + 1", arg=scroller,
                                       timeout=15_000)
            except Exception:
                wide, shown = scroller.evaluate("e => [e.scrollWidth, e.clientWidth]")
                raise AssertionError(f"{name} at {width} px: {wide} px of columns in {shown} px") from None
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"outpost-analytics-width-{width}.png"), full_page=False)
        page.screenshot(path=os.path.join(SHOTS, f"outpost-analytics-width-{width}-full.png"), full_page=True)

    # After "Remove demo data": the best-time note is the generic default, and it names every platform of the
    # workspace (not "for Instagram" alone); the follower section says why it is empty.
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.get_by_role("button", name="Remove demo data").click()
    page.get_by_text("Demo data removed", exact=False).wait_for()
    page.get_by_text("No follower counts in this period yet", exact=False).wait_for()
    page.screenshot(path=os.path.join(SHOTS, "outpost-analytics-width-removed-followers.png"))
    note = page.get_by_text("the first of your platforms (Instagram, LinkedIn and X", exact=False)
    note.wait_for()
    note.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SHOTS, "outpost-analytics-width-removed-best-time.png"))

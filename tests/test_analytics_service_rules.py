"""The Analytics page's rules that live in core.services.analytics: what is ranked, what a change is compared with,
how a change reads, what the follower chart says, and the CSV a spreadsheet user gets."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from core.analytics import exports
from core.analytics.definitions import SETTLE
from core.analytics.queries import Filters
from core.services import analytics
from core.services import best_time as best_time_service

UTC = timezone.utc
NOW = datetime(2026, 12, 4, 13, 45, 30, tzinfo=UTC)


def posts(*rows) -> pd.DataFrame:
    """post_table rows: (caption, hours since publication, engagement rate or None)."""
    return pd.DataFrame({"caption": [r[0] for r in rows],
                         "published_at": pd.to_datetime([NOW - timedelta(hours=r[1]) for r in rows], utc=True),
                         "engagement_rate": [r[2] for r in rows]})


def test_the_ranking_and_the_best_time_model_share_one_settling_time():
    assert best_time_service.SETTLE is SETTLE == timedelta(days=2)


def test_a_post_minutes_old_is_not_ranked_and_the_page_says_why():
    # The tester's case: a post published 15 minutes ago (0 engagements) sat at the top of the Bottom 5.
    r = analytics.rank_posts(posts(("fresh", 0.25, 0.0), ("old good", 24 * 30, 0.08), ("old weak", 24 * 60, 0.01)),
                             "engagement_rate", NOW)
    assert r.order == (1, 2) and r.young == 1 and r.unreported == 0
    assert r.left_out() == ["1 post published less than 2 days ago is not ranked yet: its figures are still "
                            "growing."]


@pytest.mark.parametrize("hours, ranked", [
    (47.9, False),      # just under two days: still growing
    (48.1, True),       # just over: settled
])
def test_the_settling_edge(hours, ranked):
    r = analytics.rank_posts(posts(("p", hours, 0.05)), "engagement_rate", NOW)
    assert (r.order == (0,)) is ranked and r.young == (0 if ranked else 1)


def test_posts_without_the_figure_and_young_ones_are_counted_apart():
    r = analytics.rank_posts(posts(("a", 1, None), ("b", 2, 0.1), ("c", 100, None), ("d", 200, 0.02),
                                   ("e", 300, None)), "engagement_rate", NOW)
    assert (r.order, r.young, r.unreported) == ((3,), 2, 2)
    assert r.left_out() == [
        "2 posts published less than 2 days ago are not ranked yet: their figures are still growing.",
        "2 posts left out: their platform did not report engagement rate."]


@pytest.mark.parametrize("n, one_list", [
    (0, True), (2, True),       # the tester's two posts: not the same two in Top and in Bottom
    (9, True),                  # Top 5 and Bottom 5 would share a post
    (10, False), (30, False),   # Top 5 and Bottom 5 apart
])
def test_top_and_bottom_never_repeat_a_post(n, one_list):
    r = analytics.rank_posts(posts(*[(f"p{i}", 100 + i, i / 100) for i in range(n)]), "engagement_rate", NOW)
    assert r.one_list is one_list
    if not one_list:
        assert not set(r.top) & set(r.bottom)
        assert r.top[0] == n - 1 and r.bottom[0] == 0        # best first; worst first


def test_an_empty_period_ranks_nothing():
    r = analytics.rank_posts(pd.DataFrame(columns=["published_at", "engagement_rate"]), "engagement_rate", NOW)
    assert r.order == () and r.left_out() == []


# ---------------------------------------------------------------- what a change is compared with

def berlin(first: date, last: date) -> Filters:
    return analytics.filters_for("w1", "Europe/Berlin", analytics.Period(first, last))


@pytest.mark.parametrize("first, last, words", [
    # over: whole days against whole days; one day is "the day before", not "the 1 days before"
    (date(2026, 12, 1), date(2026, 12, 1), "the day before"),
    (date(2026, 11, 20), date(2026, 11, 26), "the 7 days before"),
    # today (14:45 in Berlin): today so far against yesterday to the same minute
    (date(2026, 12, 4), date(2026, 12, 4), "the same stretch just before, as the period is not over: 04 Dec 00:00 "
                                           "– 14:45 (so far) against 03 Dec 00:00 – 14:45"),
    # the last 7 days, today included
    (date(2026, 11, 28), date(2026, 12, 4), "the same stretch just before, as the period is not over: 28 Nov 00:00 "
                                            "– 04 Dec 14:45 (so far) against 21 Nov 00:00 – 27 Nov 14:45"),
])
def test_the_comparison_in_words(first, last, words):
    assert analytics.comparison_words(berlin(first, last), NOW) == words


def test_only_a_running_period_is_compared_to_date_and_to_the_minute():
    assert analytics.overview_now(berlin(date(2026, 11, 20), date(2026, 11, 26)), NOW) == {}
    assert analytics.overview_now(berlin(date(2026, 12, 4), date(2026, 12, 4)), NOW) == {
        "now": datetime(2026, 12, 4, 13, 45, tzinfo=UTC)}


def test_in_a_running_periods_first_minute_today_is_not_compared_with_a_whole_day():
    """Opened at 00:00:40, a 'today' period is compared with yesterday's first minute, not all of yesterday."""
    today = berlin(date(2026, 12, 4), date(2026, 12, 4))
    cut = analytics.overview_now(today, datetime(2026, 12, 3, 23, 0, 40, tzinfo=UTC))["now"]
    before = today.previous(cut)
    assert (before.start, before.end) == (datetime(2026, 12, 2, 23, 0, tzinfo=UTC), datetime(2026, 12, 2, 23, 1, tzinfo=UTC))


@pytest.mark.parametrize("kpi, pct, pts, shown", [
    ("engagement_rate", float("nan"), 2.0, "+2.0 pts"),      # 96.3% -> 98.3% reads as points, not "+2.1%"
    ("success_rate", float("nan"), -0.04, "0.0 pts"),       # rounds to nothing: no sign
    ("success_rate", float("nan"), float("nan"), None),     # not available
    ("reach", 4.2773740021446445, float("nan"), "+4.3%"),
    ("followers", -0.01, float("nan"), "0.0%"),
    ("views", float("nan"), float("nan"), None),
])
def test_a_change_reads_in_points_for_rates_and_in_percent_otherwise(kpi, pct, pts, shown):
    assert analytics.change_words(kpi, pct, pts) == shown


# ---------------------------------------------------------------- the follower chart's words

def test_a_lone_follower_count_is_said_in_words():
    frame = pd.DataFrame({"day": [date(2026, 12, 3), date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 4)],
                          "account_id": ["a", "b", "b", "c"], "who": ["acme · Instagram", "acme · X", "acme · X",
                                                                       "acme · LinkedIn"],
                          "followers": [3199.0, 10.0, 12.0, 80.0], "change": [None, None, 2.0, 5.0]})
    notes = analytics.follower_notes(frame)
    assert notes[0].startswith("Follower counts start when an account was connected")
    assert "acme · Instagram: first count on 03 Dec 2026 (3,199 followers); the line starts there." in notes
    assert "acme · LinkedIn: one count in this period, on 04 Dec 2026 (80 followers)." in notes
    assert not [n for n in notes if n.startswith("acme · X")]          # two counts: a line, nothing to add
    assert analytics.follower_notes(frame.iloc[0:0]) == notes[:1]


# ---------------------------------------------------------------- the CSV a spreadsheet user gets

def read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False)


def test_the_csv_has_times_in_utc_and_local_and_rounded_changes():
    frame = pd.DataFrame({"handle": ["@brand", "=cmd"], "published_at": pd.to_datetime(
        ["2026-12-04 09:30:00", None], utc=True), "change_pct": [4.2773740021446445, float("nan")],
        "change_pts": [float("nan"), 1.96]})
    out = read(exports.csv_bytes(exports.for_spreadsheet(frame, "Europe/Berlin")))
    assert list(out.columns) == ["handle", "published_at (UTC)", "published_at (Europe/Berlin)", "change_pct",
                                 "change_pts"]
    assert list(out.iloc[0]) == ["'@brand", "2026-12-04 09:30:00+00:00", "2026-12-04 10:30:00", "4.3", ""]
    assert out.iloc[1]["handle"] == "'=cmd"                     # formula cells still neutralised
    assert list(out.iloc[1])[1:] == ["", "", "", "2.0"]            # no time: empty cells, not "NaT"


def test_a_workspace_in_utc_gets_one_time_column():
    frame = pd.DataFrame({"published_at": pd.to_datetime(["2026-12-04 09:30:00"], utc=True)})
    out = read(exports.csv_bytes(exports.for_spreadsheet(frame, "UTC")))
    assert list(out.columns) == ["published_at (UTC)"]

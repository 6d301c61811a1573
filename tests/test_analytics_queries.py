"""The named analytics queries on small data inserted straight into the engine's DuckDB, with exact numbers."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from core.analytics.definitions import DEFINITIONS, SERIES_NOTES, series_notes
from core.analytics.engine import AnalyticsEngine
from core.analytics import queries
from core.analytics.queries import QUERIES, Filters, fold_latest
from core.domain.errors import ValidationError

UTC = timezone.utc
COLUMNS = {
    "overview": ["kpi", "label", "value", "previous", "change_pct", "change_pts", "definition", "basis"],
    "daily_trends": ["day", "platform", "account_id", "handle", "posts", "reach", "views", "engagements",
                     "engagement_rate"],
    "follower_growth": ["day", "account_id", "handle", "platform", "followers", "change"],
    "post_curve": ["taken_at", "hours_since_publish", "views", "reach", "likes", "comments", "shares", "saves",
                   "clicks", "video_views", "engagements"],
    "post_table": ["delivery_id", "post_id", "published_at", "platform", "account_id", "handle", "caption", "link",
                   "thumbnail", "content_type", "is_ai_generated", "is_demo", "hashtags", "views", "reach", "likes",
                   "comments", "shares", "saves", "clicks", "video_views", "engagements", "engagement_rate",
                   "rate_basis"],
    "best_time_grid": ["weekday", "hour", "posts", "avg_engagement_rate", "avg_engagements"],
    "hashtags": ["hashtag", "posts", "avg_engagements", "avg_engagement_rate", "total_reach"],
    "content_types": ["content_type", "posts", "avg_engagements", "avg_engagement_rate", "avg_reach"],
    "ai_vs_human": ["origin", "posts", "avg_engagements", "avg_engagement_rate"],
    "workflow": ["generated", "approved", "rejected", "published", "approval_rate", "median_hours_to_approve"],
    "reliability": ["due", "published", "failed", "needs_review", "on_time_rate", "lateness_p50_s",
                    "lateness_p95_s", "retries"],
    "reliability_by_platform": ["platform", "due", "published", "failed", "on_time_rate", "lateness_p50_s",
                                "lateness_p95_s", "retries"],
    "failures": ["platform", "reason", "failures"],
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Data:
    """Rows straight into the analytics tables, keys assigned as the feed would."""

    def __init__(self, con):
        self.con = con
        self.keys: dict[str, int] = {}
        self.seq = 0

    def _key(self, kind: str, ident: str) -> int:
        return self.keys.setdefault(f"{kind}:{ident}", len(self.keys) + 1)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def workspace(self, wid: str, tz: str = "UTC") -> None:
        self.con.execute("INSERT INTO workspaces VALUES (?, ?, ?, ?)", [self._key("w", wid), wid, wid, tz])

    def account(self, aid: str, wid: str, platform: str) -> None:
        self.con.execute("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, 'connected')",
                         [self._key("a", aid), aid, self._key("w", wid), wid, platform, "@" + aid, aid])

    def post(self, pid: str, wid: str, *, hashtags=(), content_type="text", ai=False, demo=False,
             created_at: datetime | None = None, caption: str | None = None) -> None:
        self.con.execute(
            "INSERT INTO posts (post_id, wkey, workspace_id, caption, hashtags, media_url, content_type, "
            "is_ai_generated, is_demo, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [pid, self._key("w", wid), wid, caption if caption is not None else f"caption of {pid}", list(hashtags),
             f"https://media.example/{pid}.jpg", content_type, ai, demo, created_at or t("2026-01-01 00:00")])

    def delivery(self, did: str, pid: str, aid: str, wid: str, platform: str, *, state="published",
                 due_at: datetime, published_at: datetime | None = None, attempts=1, code=None,
                 demo=False) -> None:
        if state == "published" and published_at is None:
            published_at = due_at
        self.con.execute(
            "INSERT INTO deliveries (dkey, delivery_id, post_id, akey, wkey, account_id, workspace_id, platform, "
            "state, due_at, published_at, attempts, last_error_code, external_url, is_demo) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self._key("d", did), did, pid, self._key("a", aid), self._key("w", wid), aid, wid, platform, state,
             due_at, published_at, attempts, code, f"https://{platform}.example/{did}", demo])

    def snap(self, did: str, aid: str, wid: str, taken_at: datetime, **metrics) -> None:
        cols = ", ".join(metrics)
        self.con.execute(
            f"INSERT INTO post_snapshots (seq, dkey, akey, wkey, taken_at{', ' + cols if cols else ''}) "
            f"VALUES (?, ?, ?, ?, ?{', ?' * len(metrics)})",
            [self._next(), self._key("d", did), self._key("a", aid), self._key("w", wid), taken_at,
             *metrics.values()])

    def followers(self, aid: str, wid: str, taken_at: datetime, n: int | None, demo=False) -> None:
        self.con.execute("INSERT INTO account_snapshots VALUES (?, ?, ?, ?, ?, ?)",
                         [self._next(), self._key("a", aid), self._key("w", wid), taken_at, n, demo])

    def decision(self, pid: str, wid: str, at: datetime, action: str) -> None:
        self.con.execute('INSERT INTO decisions (seq, post_id, wkey, "at", action, actor) VALUES (?, ?, ?, ?, ?, ?)',
                         [self._next(), pid, self._key("w", wid), at, action, "user:u1"])

    def published(self, did: str, aid: str, wid: str, platform: str, at: datetime, **latest) -> None:
        """A post published at `at` on one account, with one snapshot an hour later carrying `latest`."""
        self.post("p_" + did, wid)
        self.delivery(did, "p_" + did, aid, wid, platform, due_at=at)
        self.snap(did, aid, wid, at + timedelta(hours=1), **latest)


@pytest.fixture
def engine():
    eng = AnalyticsEngine.in_memory()
    yield eng
    eng.close()


@pytest.fixture
def con(engine):
    cursor = engine.cursor()
    yield cursor
    cursor.close()


@pytest.fixture
def data(con):
    d = Data(con)
    d.workspace("w1", "Europe/Berlin")
    d.workspace("w2")
    for aid, wid, platform in (("ig", "w1", "instagram"), ("li", "w1", "linkedin"), ("x", "w1", "x"),
                               ("other", "w2", "instagram")):
        d.account(aid, wid, platform)
    return d


@pytest.fixture(params=["folded", "raw"])
def mode(request, monkeypatch):
    """Latest figures from the folded table, or read from the snapshots each time (a read-only database)."""
    monkeypatch.setattr(queries, "USE_FOLDED", request.param == "folded")
    return request.param


MARCH = Filters("w1", t("2026-03-01 00:00"), t("2026-04-01 00:00"))


def by(df: pd.DataFrame, key: str) -> dict:
    return {row[key]: row for row in df.to_dict("records")}


def nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------- figures: latest snapshot, engagements, rate
def test_post_table_uses_latest_snapshot_and_rate_falls_back_to_views(con, data, mode):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), likes=1, views=100, reach=50, clicks=9)
    data.snap("d1", "ig", "w1", t("2026-03-11 09:00"), likes=4, comments=2, shares=1, reach=40, views=200)
    data.published("d2", "li", "w1", "linkedin", t("2026-03-11 09:00"), reach=0, views=100, likes=5)
    data.published("d3", "x", "w1", "x", t("2026-03-12 09:00"), likes=3)           # no reach, no views
    data.published("d4", "ig", "w1", "instagram", t("2026-03-13 09:00"), reach=100)  # no engagement part
    data.post("p_d5", "w1")
    data.delivery("d5", "p_d5", "x", "w1", "x", due_at=t("2026-03-14 09:00"))       # published, never measured
    # Two snapshots at the same instant: the later sequence number is the latest.
    data.published("d6", "li", "w1", "linkedin", t("2026-03-15 09:00"), likes=1, reach=10)
    data.snap("d6", "li", "w1", t("2026-03-15 10:00"), likes=2, reach=10)

    rows = by(QUERIES["post_table"](con, MARCH), "delivery_id")
    assert list(rows) == ["d6", "d5", "d4", "d3", "d2", "d1"]              # newest first
    d1 = rows["d1"]
    assert (d1["engagements"], d1["reach"], d1["views"]) == (7, 40, 200)
    assert d1["engagement_rate"] == pytest.approx(7 / 40) and d1["rate_basis"] == "reach"
    assert nan(d1["clicks"]) and nan(d1["saves"])         # the latest snapshot has no clicks: not the older 9
    assert rows["d2"]["engagement_rate"] == pytest.approx(0.05) and rows["d2"]["rate_basis"] == "views"
    assert rows["d3"]["engagements"] == 3 and nan(rows["d3"]["engagement_rate"]) and rows["d3"]["rate_basis"] is None
    assert nan(rows["d4"]["engagements"]) and nan(rows["d4"]["engagement_rate"]) and rows["d4"]["rate_basis"] is None
    assert all(nan(rows["d5"][m]) for m in ("views", "reach", "likes", "engagements", "engagement_rate"))
    assert rows["d6"]["engagements"] == 2 and rows["d6"]["engagement_rate"] == pytest.approx(0.2)
    assert d1["link"] == "https://instagram.example/d1" and d1["handle"] == "@ig"
    assert d1["published_at"] == pd.Timestamp("2026-03-10 09:00", tz="UTC")


def test_post_curve_is_every_snapshot_in_order_with_hours_since_publication(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), likes=1, views=10)
    data.snap("d1", "ig", "w1", t("2026-03-10 12:00"), likes=2, comments=1, views=30)
    data.snap("d1", "ig", "w1", t("2026-03-12 09:00"), views=90)
    curve = QUERIES["post_curve"](con, MARCH, delivery_id="d1")
    assert curve["hours_since_publish"].tolist() == [1.0, 3.0, 48.0]
    assert curve["views"].tolist() == [10, 30, 90]
    assert curve["engagements"].tolist()[:2] == [1, 3] and nan(curve["engagements"].iloc[2])
    # Another workspace's filters never read this post.
    assert QUERIES["post_curve"](con, Filters("w2", MARCH.start, MARCH.end), delivery_id="d1").empty


# ---------------------------------------------------------------- the folded latest figures stay right
def test_snapshots_arriving_after_a_query_are_folded_in(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10, reach=5, likes=1)
    views = lambda: QUERIES["post_table"](con, MARCH)["views"].tolist()
    assert views() == [10] and fold_latest(con) == "fresh"
    data.snap("d1", "ig", "w1", t("2026-03-10 12:00"), views=20, reach=8, likes=2)
    assert fold_latest(con) == "folded" and views() == [20]
    # A snapshot that arrives later (higher seq) but was taken earlier does not replace the latest one.
    data.snap("d1", "ig", "w1", t("2026-03-10 11:00"), views=15)
    assert views() == [20]
    # The same instant twice: the higher seq is the latest.
    data.snap("d1", "ig", "w1", t("2026-03-10 12:00"), views=21)
    assert views() == [21] and fold_latest(con) == "fresh"


def test_rows_below_the_mark_or_a_shrunk_history_rebuild_the_folded_figures(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10)
    data.published("d2", "ig", "w1", "instagram", t("2026-03-11 09:00"), views=30)
    assert QUERIES["post_table"](con, MARCH)["views"].tolist() == [30, 10]
    # A late commit (PostgreSQL): a row whose seq is below the highest folded one.
    con.execute("INSERT INTO post_snapshots (seq, dkey, akey, wkey, taken_at, views) VALUES (0, ?, ?, ?, ?, 99)",
                [data.keys["d:d1"], data.keys["a:ig"], data.keys["w:w1"], t("2026-03-12 09:00")])
    assert fold_latest(con) == "rebuilt"
    assert QUERIES["post_table"](con, MARCH)["views"].tolist() == [30, 99]
    # The feed rebuilt after a deletion: fewer snapshots than folded.
    con.execute("DELETE FROM post_snapshots WHERE seq = 0")
    assert fold_latest(con) == "rebuilt"
    assert QUERIES["post_table"](con, MARCH)["views"].tolist() == [30, 10]


def test_keys_given_anew_by_a_rebuild_of_the_feed_rebuild_the_folded_figures(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10)
    data.published("d2", "ig", "w1", "instagram", t("2026-03-11 09:00"), views=30)
    assert by(QUERIES["post_table"](con, MARCH), "delivery_id")["d2"]["views"] == 30
    # The feed emptied everything and read it again: same rows, same counts, but d1 and d2 swapped keys.
    k1, k2 = data.keys["d:d1"], data.keys["d:d2"]
    con.execute("UPDATE deliveries SET dkey = CASE dkey WHEN ? THEN ? ELSE ? END", [k1, k2, k1])
    con.execute("UPDATE post_snapshots SET dkey = CASE dkey WHEN ? THEN ? ELSE ? END", [k1, k2, k1])
    assert fold_latest(con) == "rebuilt"
    rows = by(QUERIES["post_table"](con, MARCH), "delivery_id")
    assert (rows["d1"]["views"], rows["d2"]["views"]) == (10, 30)


# ---------------------------------------------------------------- overview and the previous period
def test_posts_changed_in_place_or_added_later_show_in_the_queries(con, data):
    """What a query keeps of each post by delivery key (post_attrs) follows the posts: a post the feed changed
    (it calls post_attrs_stale), a delivery added after a query, a post that arrived after its delivery."""
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10, likes=1)
    types = lambda: QUERIES["content_types"](con, MARCH).set_index("content_type")["posts"].to_dict()
    assert types() == {"text": 1}
    con.execute("UPDATE posts SET content_type = 'video', hashtags = ['#Launch'] WHERE post_id = 'p_d1'")
    queries.post_attrs_stale(con)
    assert types() == {"video": 1}
    assert QUERIES["hashtags"](con, MARCH)["hashtag"].tolist() == ["#launch"]
    assert QUERIES["post_table"](con, MARCH)["hashtags"].tolist() == ["#Launch"]
    # A delivery whose post is not there yet counts as 'unknown'; the post arriving later gives its type.
    data.delivery("d2", "p_d2", "x", "w1", "x", due_at=t("2026-03-11 09:00"))
    assert types() == {"video": 1, "unknown": 1}
    data.post("p_d2", "w1", content_type="image", ai=True)
    assert types() == {"video": 1, "image": 1}
    assert QUERIES["ai_vs_human"](con, MARCH).set_index("origin")["posts"].to_dict() == {
        "AI-generated": 1, "Hand-written": 1}


def test_posts_the_feed_rewrote_update_what_the_queries_keep_of_them(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10, likes=1)
    data.published("d2", "li", "w1", "linkedin", t("2026-03-11 09:00"), views=10, likes=1)
    assert QUERIES["content_types"](con, MARCH)["posts"].tolist() == [2]
    # What the feed does for the posts of one refresh: write them, then update their rows by delivery key.
    con.execute("UPDATE posts SET content_type = 'carousel', is_ai_generated = true WHERE post_id = 'p_d2'")
    con.execute("CREATE TEMP TABLE changed AS SELECT * FROM posts WHERE post_id = 'p_d2'")
    queries.post_attrs_update(con, "changed")
    assert fold_latest(con) == "fresh"                     # nothing to rebuild: the rows are right already
    assert QUERIES["content_types"](con, MARCH).set_index("content_type")["posts"].to_dict() == {
        "carousel": 1, "text": 1}
    assert QUERIES["ai_vs_human"](con, MARCH)["posts"].tolist() == [1, 1]


def test_overview_values_previous_period_and_change(con, data, mode):
    # February (the previous period: same length, just before March 1 would be Jan 29 .. Mar 1 for 31 days).
    data.published("f1", "ig", "w1", "instagram", t("2026-02-10 09:00"), reach=100, views=300, likes=10)
    # March: two posts.
    data.published("m1", "ig", "w1", "instagram", t("2026-03-10 09:00"), reach=200, views=400, likes=20, saves=10)
    data.published("m2", "x", "w1", "x", t("2026-03-11 09:00"), views=100, likes=5)            # rate by views
    # Reliability: March due 4 -> 2 published (m1, m2), 1 failed, 1 needs review; February: f1 only.
    data.post("pf", "w1")
    data.delivery("bad1", "pf", "li", "w1", "linkedin", state="failed", due_at=t("2026-03-12 09:00"))
    data.delivery("bad2", "pf", "x", "w1", "x", state="needs_review", due_at=t("2026-03-12 09:00"))
    data.delivery("wait", "pf", "ig", "w1", "instagram", state="queued", due_at=t("2026-03-31 23:00"))
    # Followers: ig 1000 -> 1100, li 500 -> 450 at the period's end; li's later count is after the end.
    data.followers("ig", "w1", t("2026-02-27 00:00"), 1000)
    data.followers("li", "w1", t("2026-02-28 00:00"), 500)
    data.followers("ig", "w1", t("2026-03-31 00:00"), 1100)
    data.followers("li", "w1", t("2026-03-20 00:00"), 450)
    data.followers("li", "w1", t("2026-04-02 00:00"), 9999)

    kpi = by(QUERIES["overview"](con, MARCH), "kpi")
    assert list(kpi) == ["followers", "reach", "views", "engagements", "engagement_rate", "posts_published",
                         "success_rate"]
    assert (kpi["followers"]["value"], kpi["followers"]["previous"]) == (1550, 1500)
    assert kpi["followers"]["change_pct"] == pytest.approx(50 / 1500 * 100)
    assert (kpi["reach"]["value"], kpi["reach"]["previous"], kpi["reach"]["change_pct"]) == (200, 100, 100.0)
    assert kpi["reach"]["basis"] == "1 of 2 posts report it"
    assert (kpi["views"]["value"], kpi["views"]["previous"]) == (500, 300)
    assert (kpi["engagements"]["value"], kpi["engagements"]["previous"]) == (35, 10)
    # Pooled: (30 + 5) / (200 reach + 100 views); previous 10 / 100.
    assert kpi["engagement_rate"]["value"] == pytest.approx(35 / 300)
    assert kpi["engagement_rate"]["previous"] == pytest.approx(0.1)
    assert kpi["engagement_rate"]["basis"] == "reach (1 posts), views (1 posts)"
    assert (kpi["posts_published"]["value"], kpi["posts_published"]["previous"]) == (2, 1)
    assert kpi["success_rate"]["value"] == pytest.approx(0.5) and kpi["success_rate"]["previous"] == 1.0
    # Rates change in percentage points (100% -> 50% is -50 pts), never as a % of themselves.
    assert kpi["success_rate"]["change_pts"] == pytest.approx(-50.0) and nan(kpi["success_rate"]["change_pct"])
    assert kpi["engagement_rate"]["change_pts"] == pytest.approx((35 / 300 - 0.1) * 100)
    assert nan(kpi["engagement_rate"]["change_pct"]) and nan(kpi["reach"]["change_pts"])
    assert kpi["engagement_rate"]["definition"] == DEFINITIONS["engagement_rate"].formula


def test_previous_period_is_same_length_just_before():
    f = Filters("w1", t("2026-03-10 00:00"), t("2026-03-17 00:00"), "Europe/Berlin", ("x",), ("a",), False)
    prev = f.previous()
    assert (prev.start, prev.end) == (t("2026-03-03 00:00"), t("2026-03-10 00:00"))
    assert (prev.tz_name, prev.platforms, prev.account_ids, prev.include_demo) == ("Europe/Berlin", ("x",), ("a",),
                                                                                   False)


@pytest.mark.parametrize("start, end, now, prev", [
    # today so far (10:30) against yesterday to the same time, not the whole of yesterday
    ("2026-03-10 00:00", "2026-03-11 00:00", "2026-03-10 10:30", ("2026-03-09 00:00", "2026-03-09 10:30")),
    # the last 7 days, today included: 6 days and 10.5 hours against the same from 7 days earlier
    ("2026-03-04 00:00", "2026-03-11 00:00", "2026-03-10 10:30", ("2026-02-25 00:00", "2026-03-03 10:30")),
    # a period that is over: the whole period before, whatever now is
    ("2026-03-04 00:00", "2026-03-11 00:00", "2026-03-12 10:30", ("2026-02-25 00:00", "2026-03-04 00:00")),
])
def test_a_running_period_is_compared_to_date(start, end, now, prev):
    f = Filters("w1", t(start), t(end))
    p = f.previous(t(now))
    assert (p.start, p.end) == (t(prev[0]), t(prev[1]))
    assert f.ends_after(t(now)) == (t(now) < t(end))


def test_whole_local_days_are_compared_with_whole_local_days_across_a_dst_change():
    # Berlin left summer time on 25 Oct 2026: 5 Nov - 4 Dec is compared with 6 Oct 00:00 - 5 Nov 00:00 local, not
    # from 6 Oct 01:00 (the UTC length would say so); to date, with the same local time of day.
    from core.services.analytics import Period, filters_for
    f = filters_for("w1", "Europe/Berlin", Period(datetime(2026, 11, 5).date(), datetime(2026, 12, 4).date()))
    berlin = ZoneInfo("Europe/Berlin")
    p = f.previous()
    assert (p.start.astimezone(berlin), p.end.astimezone(berlin)) == (
        datetime(2026, 10, 6, tzinfo=berlin), datetime(2026, 11, 5, tzinfo=berlin))
    p = f.previous(datetime(2026, 12, 4, 13, 46, tzinfo=UTC))          # 14:46 in Berlin
    assert (p.start.astimezone(berlin), p.end.astimezone(berlin)) == (
        datetime(2026, 10, 6, tzinfo=berlin), datetime(2026, 11, 4, 14, 46, tzinfo=berlin))


def test_overview_of_today_so_far_compares_with_yesterday_to_the_same_time(con, data):
    data.published("y1", "ig", "w1", "instagram", t("2026-03-09 08:00"), reach=100, likes=10)
    data.published("y2", "ig", "w1", "instagram", t("2026-03-09 20:00"), reach=900, likes=90)    # after 10:30
    data.published("n1", "ig", "w1", "instagram", t("2026-03-10 09:00"), reach=3, likes=0)
    data.followers("ig", "w1", t("2026-03-09 06:00"), 100)
    data.followers("ig", "w1", t("2026-03-09 22:00"), 200)
    data.followers("ig", "w1", t("2026-03-10 08:00"), 210)
    today = Filters("w1", t("2026-03-10 00:00"), t("2026-03-11 00:00"))
    whole = by(QUERIES["overview"](con, today), "kpi")
    assert whole["reach"]["previous"] == 1000 and whole["reach"]["change_pct"] == pytest.approx(-99.7)
    so_far = by(QUERIES["overview"](con, today, now=t("2026-03-10 10:30")), "kpi")
    assert (so_far["reach"]["value"], so_far["reach"]["previous"]) == (3, 100)
    assert so_far["reach"]["change_pct"] == pytest.approx(-97.0)
    assert (so_far["posts_published"]["value"], so_far["posts_published"]["previous"]) == (1, 1)
    assert so_far["posts_published"]["change_pct"] == 0
    assert (so_far["followers"]["value"], so_far["followers"]["previous"]) == (210, 100)
    # 0 engagements of 3 reached against 10 of 100: -10 points
    assert so_far["engagement_rate"]["change_pts"] == pytest.approx(-10.0)


def test_change_is_not_available_when_previous_is_zero_or_missing(con, data):
    data.published("m1", "ig", "w1", "instagram", t("2026-03-10 09:00"), reach=200, likes=20)
    kpi = by(QUERIES["overview"](con, MARCH), "kpi")
    assert kpi["posts_published"]["previous"] == 0 and nan(kpi["posts_published"]["change_pct"])
    assert nan(kpi["reach"]["previous"]) and nan(kpi["reach"]["change_pct"])
    assert nan(kpi["followers"]["value"])                      # no follower count at all: not available, not 0
    assert nan(kpi["views"]["value"])                          # nobody reported views


# ---------------------------------------------------------------- local time across DST changes
@pytest.mark.parametrize("published, day, weekday, hour", [
    ("2026-03-28 23:30", date(2026, 3, 29), 6, 0),    # Saturday in UTC, Sunday 00:30 in Berlin (CET)
    ("2026-03-29 00:30", date(2026, 3, 29), 6, 1),    # 01:30 CET, half an hour before the clocks go forward
    ("2026-03-29 01:30", date(2026, 3, 29), 6, 3),    # 03:30 CEST: 02:xx does not exist that night
    ("2026-10-25 00:30", date(2026, 10, 25), 6, 2),   # 02:30 CEST, the first time
    ("2026-10-25 01:30", date(2026, 10, 25), 6, 2),   # 02:30 CET, the second time
    ("2026-10-26 06:00", date(2026, 10, 26), 0, 7),   # Monday 07:00 CET (08:00 a day earlier in CEST)
])
def test_day_weekday_and_hour_are_local_across_dst(con, data, published, day, weekday, hour):
    data.published("d", "ig", "w1", "instagram", t(published), reach=10, likes=1)
    f = Filters("w1", t("2026-03-01 00:00"), t("2026-11-01 00:00"), "Europe/Berlin")
    grid = QUERIES["best_time_grid"](con, f)
    assert grid[["weekday", "hour", "posts"]].values.tolist() == [[weekday, hour, 1]]
    assert QUERIES["daily_trends"](con, f)["day"].tolist() == [day]


def test_both_0230s_of_the_october_night_fall_in_one_cell(con, data):
    data.published("a", "ig", "w1", "instagram", t("2026-10-25 00:30"), reach=10, likes=1)
    data.published("b", "ig", "w1", "instagram", t("2026-10-25 01:30"), reach=10, likes=3)
    grid = QUERIES["best_time_grid"](con, Filters("w1", t("2026-10-01 00:00"), t("2026-11-01 00:00"),
                                                  "Europe/Berlin"))
    assert grid.to_dict("records") == [{"weekday": 6, "hour": 2, "posts": 2, "avg_engagement_rate": 0.2,
                                        "avg_engagements": 2.0}]
    in_utc = QUERIES["best_time_grid"](con, Filters("w1", t("2026-10-01 00:00"), t("2026-11-01 00:00")))
    assert in_utc[["hour", "posts"]].values.tolist() == [[0, 1], [1, 1]]


# ---------------------------------------------------------------- trends and followers
def test_daily_trends_group_by_day_platform_and_account(con, data):
    data.published("a", "ig", "w1", "instagram", t("2026-03-10 08:00"), reach=100, likes=10)
    data.published("b", "ig", "w1", "instagram", t("2026-03-10 20:00"), views=300, likes=3)
    data.published("c", "x", "w1", "x", t("2026-03-10 09:00"), likes=4)
    df = QUERIES["daily_trends"](con, MARCH)
    rows = df.to_dict("records")
    assert [(r["day"], r["account_id"], r["posts"]) for r in rows] == [(date(2026, 3, 10), "ig", 2),
                                                                       (date(2026, 3, 10), "x", 1)]
    ig, x = rows
    assert (ig["reach"], ig["views"], ig["engagements"]) == (100, 300, 13)
    assert ig["engagement_rate"] == pytest.approx(13 / 400)
    assert nan(x["reach"]) and nan(x["views"]) and x["engagements"] == 4 and nan(x["engagement_rate"])


def test_follower_growth_last_count_per_local_day_and_change(con, data):
    berlin = Filters("w1", t("2026-03-01 00:00"), t("2026-04-01 00:00"), "Europe/Berlin")
    data.followers("ig", "w1", t("2026-02-20 12:00"), 900)          # before the period: the base for the change
    data.followers("ig", "w1", t("2026-03-02 08:00"), 950)
    data.followers("ig", "w1", t("2026-03-02 22:30"), 960)          # 23:30 in Berlin: still March 2
    data.followers("ig", "w1", t("2026-03-02 23:30"), 970)          # 00:30 on March 3 in Berlin
    data.followers("ig", "w1", t("2026-03-05 08:00"), None)         # not reported: no point, not 0
    data.followers("li", "w1", t("2026-03-04 08:00"), 100)          # first count ever: change not available
    data.followers("other", "w2", t("2026-03-04 08:00"), 5)
    rows = QUERIES["follower_growth"](con, berlin).to_dict("records")
    got = [(r["day"], r["account_id"], r["followers"], None if nan(r["change"]) else r["change"]) for r in rows]
    assert got == [(date(2026, 3, 2), "ig", 960, 60), (date(2026, 3, 3), "ig", 970, 10),
                   (date(2026, 3, 4), "li", 100, None)]
    # Narrowed to a platform or to accounts: only theirs, their changes the same.
    narrowed = lambda **only: [(r["account_id"], r["followers"]) for r in QUERIES["follower_growth"](
        con, Filters("w1", berlin.start, berlin.end, "Europe/Berlin", **only)).to_dict("records")]
    assert narrowed(platforms=("linkedin",)) == [("li", 100)]
    assert narrowed(account_ids=("ig", "other")) == [("ig", 960), ("ig", 970)]


# ---------------------------------------------------------------- hashtags, content types, AI
def test_hashtags_content_types_and_ai_vs_human(con, data):
    data.post("p1", "w1", hashtags=["#Launch", "#sale"], content_type="image", ai=True)
    data.post("p2", "w1", hashtags=["launch"], content_type="video")
    data.post("p3", "w1", hashtags=[], content_type="image")
    for did, pid, aid, platform, metrics in (
            ("d1", "p1", "ig", "instagram", dict(reach=100, likes=10)),
            ("d1x", "p1", "x", "x", dict(views=1000, likes=20)),
            ("d2", "p2", "ig", "instagram", dict(reach=50, likes=25)),
            ("d3", "p3", "li", "linkedin", dict(reach=10))):
        data.delivery(did, pid, aid, "w1", platform, due_at=t("2026-03-10 09:00"))
        data.snap(did, aid, "w1", t("2026-03-10 10:00"), **metrics)
    tags = by(QUERIES["hashtags"](con, MARCH), "hashtag")
    assert list(tags) == ["#launch", "#sale"]
    assert tags["#launch"]["posts"] == 3 and tags["#launch"]["avg_engagements"] == pytest.approx(55 / 3)
    assert tags["#launch"]["avg_engagement_rate"] == pytest.approx((0.1 + 0.02 + 0.5) / 3)
    assert tags["#launch"]["total_reach"] == 150 and tags["#sale"]["total_reach"] == 100
    types = by(QUERIES["content_types"](con, MARCH), "content_type")
    assert types["image"]["posts"] == 3 and types["image"]["avg_engagements"] == 15     # d3 reports none
    assert types["image"]["avg_reach"] == 55 and types["video"]["avg_engagement_rate"] == 0.5
    origin = by(QUERIES["ai_vs_human"](con, MARCH), "origin")
    assert (origin["AI-generated"]["posts"], origin["Hand-written"]["posts"]) == (2, 2)
    assert origin["AI-generated"]["avg_engagement_rate"] == pytest.approx(0.06)
    assert origin["Hand-written"]["avg_engagements"] == 25


# ---------------------------------------------------------------- workflow
def test_workflow_counts_last_decision_and_time_to_approve(con, data):
    data.post("a1", "w1", ai=True, created_at=t("2026-03-01 08:00"))
    data.post("a2", "w1", ai=True, created_at=t("2026-03-02 08:00"))
    data.post("h1", "w1", created_at=t("2026-03-03 08:00"))
    data.post("old", "w1", ai=True, created_at=t("2026-02-01 08:00"))
    data.decision("a1", "w1", t("2026-03-01 10:00"), "approved")           # 2 h
    data.decision("a2", "w1", t("2026-03-02 09:00"), "approved")
    data.decision("a2", "w1", t("2026-03-02 12:00"), "rejected")           # its last word: rejected
    data.decision("h1", "w1", t("2026-03-03 14:00"), "approved")           # 6 h
    data.decision("old", "w1", t("2026-03-05 08:00"), "approved")          # 32 days = 768 h
    data.delivery("da1", "a1", "ig", "w1", "instagram", due_at=t("2026-03-04 09:00"))
    data.delivery("da1x", "a1", "x", "w1", "x", due_at=t("2026-03-04 09:00"))
    row = QUERIES["workflow"](con, MARCH).iloc[0].to_dict()
    assert row == {"generated": 2, "approved": 3, "rejected": 1, "published": 1, "approval_rate": 0.75,
                   "median_hours_to_approve": 6.0}


# ---------------------------------------------------------------- reliability
def test_reliability_on_time_lateness_retries_and_failures(con, data):
    data.post("p", "w1")
    due = t("2026-03-10 09:00")
    for i, (late_s, attempts) in enumerate(((0, 1), (30, 1), (60, 2), (120, 1), (600, 3))):
        data.delivery(f"ok{i}", "p", "ig" if i < 3 else "x", "w1", "instagram" if i < 3 else "x", due_at=due,
                      published_at=due + timedelta(seconds=late_s), attempts=attempts)
    data.delivery("f1", "p", "x", "w1", "x", state="failed", due_at=due, attempts=4, code="rate_limited")
    data.delivery("f2", "p", "x", "w1", "x", state="failed", due_at=due, attempts=1, code=None)
    data.delivery("nr", "p", "li", "w1", "linkedin", state="needs_review", due_at=due, attempts=1)
    data.delivery("q", "p", "li", "w1", "linkedin", state="queued", due_at=due, attempts=0)
    data.delivery("c", "p", "li", "w1", "linkedin", state="cancelled", due_at=due, attempts=0)
    data.delivery("later", "p", "li", "w1", "linkedin", state="failed", due_at=t("2026-04-02 09:00"))
    row = QUERIES["reliability"](con, MARCH).iloc[0].to_dict()
    # lateness 0, 30, 60, 120, 600: p50 = 60, p95 = 120 + 0.8 * 480 = 504 (linear between ranks)
    assert row == {"due": 9, "published": 5, "failed": 2, "needs_review": 1, "on_time_rate": 3 / 8,
                   "lateness_p50_s": 60.0, "lateness_p95_s": pytest.approx(504.0), "retries": 1 + 2 + 3}
    per = by(QUERIES["reliability_by_platform"](con, MARCH), "platform")
    assert (per["instagram"]["due"], per["instagram"]["on_time_rate"], per["instagram"]["retries"]) == (3, 1.0, 1)
    assert (per["x"]["due"], per["x"]["failed"], per["x"]["on_time_rate"], per["x"]["lateness_p50_s"]) \
        == (4, 2, 0.0, 360.0)
    assert per["linkedin"]["due"] == 2 and nan(per["linkedin"]["lateness_p50_s"])
    assert QUERIES["failures"](con, MARCH).values.tolist() == [["x", "rate_limited", 1], ["x", "unknown", 1]]


# ---------------------------------------------------------------- filters, workspaces, empty and sparse data
def test_filters_by_platform_account_and_demo(con, data):
    data.published("a", "ig", "w1", "instagram", t("2026-03-10 09:00"), reach=10)
    data.published("b", "li", "w1", "linkedin", t("2026-03-10 09:00"), reach=20)
    data.post("pd", "w1", demo=True)
    data.delivery("demo", "pd", "x", "w1", "x", due_at=t("2026-03-10 09:00"), demo=True)
    ids = lambda f: sorted(QUERIES["post_table"](con, f)["delivery_id"])
    assert ids(MARCH) == ["a", "b", "demo"]
    assert ids(Filters("w1", MARCH.start, MARCH.end, platforms=("linkedin",))) == ["b"]
    assert ids(Filters("w1", MARCH.start, MARCH.end, account_ids=("ig", "x"))) == ["a", "demo"]
    assert ids(Filters("w1", MARCH.start, MARCH.end, include_demo=False)) == ["a", "b"]
    reach = by(QUERIES["overview"](con, Filters("w1", MARCH.start, MARCH.end, platforms=("instagram",))), "kpi")
    assert reach["reach"]["value"] == 10 and reach["posts_published"]["value"] == 1


def test_another_workspace_never_leaks_in(con, data):
    data.published("mine", "ig", "w1", "instagram", t("2026-03-10 09:00"), reach=10, likes=1)
    data.published("theirs", "other", "w2", "instagram", t("2026-03-10 09:00"), reach=1000, likes=500)
    data.followers("other", "w2", t("2026-03-10 09:00"), 10**6)
    data.decision("p_theirs", "w2", t("2026-03-10 09:00"), "approved")
    # Asking w1 for w2's account by id still finds nothing of w2's.
    for f in (MARCH, Filters("w1", MARCH.start, MARCH.end, account_ids=("other",))):
        for name, query in QUERIES.items():
            df = query(con, f, delivery_id="theirs")
            text = df.to_csv()
            assert "theirs" not in text and "other" not in text and "1000" not in text, name
    kpi = by(QUERIES["overview"](con, MARCH), "kpi")
    assert kpi["reach"]["value"] == 10 and nan(kpi["followers"]["value"])
    assert QUERIES["workflow"](con, MARCH).iloc[0]["approved"] == 0


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_empty_data_gives_the_columns_and_no_rows_or_not_available(con, data, name):
    df = QUERIES[name](con, MARCH, delivery_id="nothing")
    assert list(df.columns) == COLUMNS[name]
    if name == "overview":
        assert df["kpi"].tolist() == ["followers", "reach", "views", "engagements", "engagement_rate",
                                      "posts_published", "success_rate"]
        counts = df.set_index("kpi")
        assert counts.loc["posts_published", "value"] == 0
        assert counts.drop(index="posts_published")["value"].isna().all()
    elif name in ("workflow", "reliability"):
        row = df.iloc[0]
        rates = [c for c in COLUMNS[name] if c.endswith(("_rate", "_s", "_to_approve"))]
        counts = [c for c in COLUMNS[name] if c not in rates]
        assert len(df) == 1 and row[rates].isna().all() and (row[counts] == 0).all()
    else:
        assert df.empty
    # An unknown workspace is empty too, not an error.
    assert list(QUERIES[name](con, Filters("nobody", MARCH.start, MARCH.end)).columns) == COLUMNS[name]


def test_sparse_metrics_stay_not_available(con, data):
    data.published("only_views", "x", "w1", "x", t("2026-03-10 09:00"), views=500)
    kpi = by(QUERIES["overview"](con, MARCH), "kpi")
    assert kpi["views"]["value"] == 500 and kpi["views"]["basis"] == "1 of 1 posts report it"
    assert nan(kpi["reach"]["value"]) and nan(kpi["engagements"]["value"]) and nan(kpi["engagement_rate"]["value"])
    grid = QUERIES["best_time_grid"](con, MARCH).iloc[0]
    assert grid["posts"] == 1 and nan(grid["avg_engagements"]) and nan(grid["avg_engagement_rate"])


def test_registry_lists_every_contract_query():
    assert sorted(QUERIES) == sorted(COLUMNS)


# ---------------------------------------------------------------- bad input and definitions
@pytest.mark.parametrize("kwargs, words", [
    (dict(start=datetime(2026, 3, 1), end=t("2026-04-01 00:00")), "no timezone"),           # naive start
    (dict(start=t("2026-04-01 00:00"), end=t("2026-03-01 00:00")), "must end after it starts"),
    (dict(start=t("2026-03-01 00:00"), end=t("2026-03-01 00:00")), "must end after it starts"),
    (dict(start=t("2026-03-01 00:00"), end=t("2026-04-01 00:00"), tz_name="Mars/Olympus"), "not a timezone"),
    (dict(start=t("2026-03-01 00:00"), end=t("2026-04-01 00:00"), workspace_id=""), "Choose a workspace"),
])
def test_bad_filters_are_refused_in_words(kwargs, words):
    kwargs.setdefault("workspace_id", "w1")
    with pytest.raises(ValidationError, match=words):
        Filters(**kwargs)


def test_filters_are_normalised_to_utc():
    berlin = timezone(timedelta(hours=1))
    f = Filters("w1", datetime(2026, 3, 1, 1, 0, tzinfo=berlin), datetime(2026, 3, 2, tzinfo=berlin),
                platforms=["x"])
    assert f.start == t("2026-03-01 00:00") and f.start.tzinfo == UTC and f.platforms == ("x",)


def test_every_overview_kpi_and_figure_has_a_definition_with_a_unit():
    for name in ("followers", "reach", "views", "engagements", "engagement_rate", "posts_published",
                 "success_rate", "on_time_rate", "lateness", "retries", "avg_engagement_rate", "rate_basis",
                 "change_pct", "change_pts", "workflow_published", "settling"):
        d = DEFINITIONS[name]
        assert d.label and d.formula and d.unit in ("count", "ratio", "percent", "points", "seconds", "hours",
                                                    "text")


def test_the_two_published_counts_say_which_they_count():
    # The overview counts each account's copy, Workflow each post once: both definitions say so.
    assert "each account's copy counted once" in DEFINITIONS["posts_published"].formula
    assert DEFINITIONS["workflow_published"].label == "Posts published (on any account)"
    assert "each counted once however many accounts" in DEFINITIONS["workflow_published"].formula


def test_series_notes_say_from_when_views_changed_meaning():
    dates = {(n.platform, n.series): n.since for n in SERIES_NOTES}
    assert dates[("instagram", "views")] == date(2025, 4, 21)
    assert dates[("facebook", "views")] == date(2025, 11, 15)
    assert [n.platform for n in series_notes(("instagram",), date(2025, 1, 1), date(2025, 12, 31))] == ["instagram"]
    assert series_notes(("facebook",), date(2026, 1, 1), date(2026, 3, 1)) == []


def test_queries_work_beside_an_unread_result_and_leave_the_connection_as_it_was(con, data):
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10)
    pending = con.execute("SELECT * FROM range(5)")
    pending.fetchone()                                       # a result the caller has not finished reading
    assert QUERIES["post_table"](con, MARCH)["views"].tolist() == [10]
    assert pending.fetchall() == [(1,), (2,), (3,), (4,)]    # still there, untouched
    assert con.sql("SELECT 1").fetchall() == [(1,)]


def test_an_engine_told_of_its_writes_answers_without_checking_and_follows_each_write(engine, con, data,
                                                                                      monkeypatch):
    """A writer that says so (`tables_written`, what a refresh does itself) spares every query the freshness
    check; each announced write shows in the next answers, a workspace that appeared included."""
    data.published("d1", "ig", "w1", "instagram", t("2026-03-10 09:00"), views=10, reach=5, likes=1)
    assert engine.tables_written() == "rebuilt"

    def refuse(*_a, **_k):
        raise AssertionError("the query checked the folded figures although the engine was told of every write")
    monkeypatch.setattr(queries, "fold_latest", refuse)
    monkeypatch.setattr(queries, "_quick_fresh", refuse)
    views = lambda f=MARCH: QUERIES["post_table"](con, f)["views"].tolist()
    assert views() == [10]
    late = Filters("w3", MARCH.start, MARCH.end)
    assert views(late) == []                             # not there yet (and its key not kept as missing)
    data.snap("d1", "ig", "w1", t("2026-03-10 12:00"), views=20, reach=8, likes=2)
    data.workspace("w3")
    data.account("acc3", "w3", "x")
    data.published("d3", "acc3", "w3", "x", t("2026-03-12 09:00"), views=7)
    monkeypatch.undo()
    assert engine.tables_written() == "folded"
    monkeypatch.setattr(queries, "fold_latest", refuse)
    monkeypatch.setattr(queries, "_quick_fresh", refuse)
    assert views() == [20] and views(late) == [7]
    assert QUERIES["overview"](con, late).set_index("kpi").loc["posts_published", "value"] == 1


# ---------------------------------------------------------------- follower days folded at refresh
def test_follower_growth_from_the_folded_days_equals_reading_every_count(engine, con, monkeypatch):
    """The follower growth read from the days folded at refresh is the same, row for row, as reading every count
    of the history: periods starting and ending at local midnight or at any other minute (days the period only
    partly covers), across the October DST change, with demo counts left out or kept, counts missing, counts that
    arrive late (a smaller time after a larger one), new counts folded in later, and after the workspace's zone
    changed (its days are local to the new zone)."""
    import random
    from core.services.analytics import Period, filters_for
    rng = random.Random(7)
    d = Data(con)
    d.workspace("w1", "Europe/Berlin")
    d.workspace("w2", "America/New_York")
    accounts = [("ig", "w1", "instagram"), ("li", "w1", "linkedin"), ("x", "w1", "x"), ("ny", "w2", "x")]
    for aid, wid, platform in accounts:
        d.account(aid, wid, platform)
    base = t("2026-10-15 00:00")

    def counts(n: int, days: int) -> None:
        for _ in range(n):
            aid, wid, _p = rng.choice(accounts)
            at = base + timedelta(minutes=rng.randrange(days * 24 * 60))
            d.followers(aid, wid, at, None if rng.random() < 0.05 else rng.randrange(1000, 1100),
                        demo=rng.random() < 0.15)

    used: list[bool] = []
    real = queries._follower_days_sql
    monkeypatch.setattr(queries, "_follower_days_sql",
                        lambda c, f, p: used.append(real(c, f, p) is not None) or real(c, f, p))

    def compare(tz: str, rounds: int) -> None:
        for _ in range(rounds):
            if rng.random() < 0.4:
                first = date(2026, 10, 15) + timedelta(days=rng.randrange(20))
                f = filters_for("w1", tz, Period(first, first + timedelta(days=rng.randrange(8))),
                                include_demo=rng.random() < 0.5)
            else:
                start = base + timedelta(minutes=rng.randrange(25 * 24 * 60))
                f = Filters("w1", start, start + timedelta(minutes=rng.randrange(1, 10 * 24 * 60)), tz,
                            platforms=rng.choice([(), ("instagram", "x")]), include_demo=rng.random() < 0.5)
            folded = QUERIES["follower_growth"](con, f)
            monkeypatch.setattr(queries, "USE_FOLDED", False)
            every = QUERIES["follower_growth"](con, f)
            monkeypatch.setattr(queries, "USE_FOLDED", True)
            pd.testing.assert_frame_equal(folded, every)
            assert used.pop(0) is True          # the folded days answered, not the fallback
            used.clear()

    counts(400, 25)
    compare("Europe/Berlin", 30)                # not told of the writes: the query folds first
    assert engine.tables_written() == "fresh"   # the queries folded them already
    compare("Europe/Berlin", 30)
    counts(150, 30)                             # later counts, and late ones among the days already folded
    assert engine.tables_written() == "folded"
    compare("Europe/Berlin", 30)
    con.execute("UPDATE workspaces SET timezone_name = 'Asia/Tokyo' WHERE workspace_id = 'w1'")
    engine.tables_written()
    compare("Asia/Tokyo", 30)
    # Asked in another zone than the workspace's: every count is read, the answer the same.
    f = Filters("w1", base, base + timedelta(days=9), "UTC")
    assert QUERIES["follower_growth"](con, f).equals(QUERIES["follower_growth"](con, f)) and used == [False, False]
    # A workspace whose zone DuckDB does not know (an older Outpost's name): nothing folded for it, no error.
    d.workspace("w3", "Mars/Olympus_Mons")
    d.account("m", "w3", "x")
    d.followers("m", "w3", base, 10)
    assert engine.tables_written() == "folded"
    assert con.execute("SELECT count(*) FROM follower_days WHERE wkey = 3").fetchone()[0] == 0

"""The Analytics page (AppTest): figures written through the dashboard's own store, read by its analytics engine.

Two posts of the workspace "Brand" (Europe/Berlin) go out in the last 30 days and one 40 days ago (the previous
period), each with its platform's latest figures; the page's cards, filters, tables and permissions are checked
with exact numbers. Dates are relative to now (the page's "last N days" are), far from any period's edge.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.page_harness import BERLIN, dashboard_store, page_opener

PAGE = "../pages/analytics.py"


@pytest.fixture
def fresh_engine():
    """The dashboard process's analytics engine and cached answers forgotten before and after."""
    from core.services import analytics
    from pages import shared
    shared.forget_analytics_engine()
    analytics.forget_answers()
    yield
    shared.forget_analytics_engine()
    analytics.forget_answers()


def _published(db, ws_id, account, post_id, at, metrics, *, caption, late_s=20, hashtags=()):
    """A post the runner published `late_s` after its time, with one metric snapshot an hour later."""
    from core.domain import Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.store.records import MetricSnapshot
    db.add_post(Post(caption=caption, accounts=(account,), schedule=Schedule(scheduled_at=at), workspace_id=ws_id,
                     state=PostState.APPROVED, id=post_id, hashtags=tuple(hashtags)),
                [Delivery(post_id=post_id, account_id=account.id, platform=account.platform, due_at=at,
                          id=f"d_{post_id}")])
    [claimed] = db.claim_due(at + timedelta(seconds=late_s), runner_id="r", lease_until=at + timedelta(minutes=5))
    db.finish_delivery(claimed.mark_published(external_id=f"ext_{post_id}", at=at + timedelta(seconds=late_s),
                                              external_url=f"https://{account.platform}.example/{post_id}"),
                       runner_id="r")
    db.add_metric_snapshots([MetricSnapshot(
        delivery_id=f"d_{post_id}", post_id=post_id, account_id=account.id, workspace_id=ws_id,
        platform=account.platform, external_id=f"ext_{post_id}", taken_at=at + timedelta(hours=1), metrics=metrics)])


def _followers(db, ws_id, account, at, count):
    from core.store.records import AccountSnapshot
    db.add_metric_snapshots((), [AccountSnapshot(account_id=account.id, workspace_id=ws_id, platform=account.platform,
                                                 taken_at=at, followers=count)])


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    """Brand's owner and its history (not in sandbox mode, so no demo data is offered):
    X, 2 days 1 hour ago (settled):   views 1000, reach 800, likes 40, comments 8, shares 2 (saves not reported): 50 engagements
    LinkedIn, 10 days ago: views 500, reach 400, likes 10, comments 5, shares 5: 20 engagements
    X, 40 days ago (the previous 30 days): views 300, reach 200, likes 10: 10 engagements
    Followers: X 1000 35 days ago and 1200 yesterday, LinkedIn 300 yesterday."""
    from core.domain import Account
    from core.domain.timeutil import utcnow
    from core.services import analytics
    from core.services.auth import create_owner
    from pages import shared
    with pytest.MonkeyPatch.context() as monkeypatch, \
            dashboard_store(tmp_path_factory.mktemp("brand"), monkeypatch, sandbox_url=None) as db:
        monkeypatch.setenv("OUTPOST_SANDBOX", "false")
        shared.settings.clear()
        shared.forget_analytics_engine()
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand",
                                 timezone_name=BERLIN)
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        li = db.save_account(Account(platform="linkedin", handle="brand-li", workspace_id=ws.id))
        now = utcnow()
        _published(db, ws.id, x, "p_recent", now - timedelta(days=2, hours=1), {"views": 1000, "reach": 800, "likes": 40,
                   "comments": 8, "shares": 2}, caption="Spring is here #spring", hashtags=("spring",))
        _published(db, ws.id, li, "p_li", now - timedelta(days=10), {"views": 500, "reach": 400, "likes": 10,
                   "comments": 5, "shares": 5}, caption="Hiring now #jobs", hashtags=("jobs",), late_s=200)
        _published(db, ws.id, x, "p_old", now - timedelta(days=40), {"views": 300, "reach": 200, "likes": 10},
                   caption="Winter sale")
        _followers(db, ws.id, x, now - timedelta(days=35), 1000)
        _followers(db, ws.id, x, now - timedelta(days=1), 1200)
        _followers(db, ws.id, li, now - timedelta(days=1), 300)
        yield db, owner, ws, {"x": x, "linkedin": li}
        shared.forget_analytics_engine()
        analytics.forget_answers()


def _open(db, user, ws_id, **state):
    return page_opener(db, ws_id, PAGE, timeout=60)(user, **state)


def cards(at) -> dict[str, tuple[str, str | None]]:
    """The metric cards as {label: (value, change)}; no change shown is None."""
    return {m.label: (m.value, m.delta or None) for m in at.metric}


def post_tables(at):
    """The posts' tables in page order: top 5, bottom 5 (or the one ranked list), every post of the period."""
    return [d.value for d in at.dataframe if "caption" in d.value.columns]


def test_the_overview_shows_the_periods_figures_against_the_previous_period(brand):
    db, owner, ws, _ = brand
    at = _open(db, owner, ws.id)
    assert not at.exception, at.exception
    shown = cards(at)
    assert shown["Posts published"] == ("2", "+100.0%")
    assert shown["Engagements"] == ("70", "+600.0%")
    assert shown["Reach"] == ("1,200", "+500.0%")
    assert shown["Views"] == ("1,500", "+400.0%")
    # a rate's change in percentage points: 70 / 1200 = 5.8% against 10 / 200 = 5.0% (not "+16.7%")
    assert shown["Engagement rate"] == ("5.8%", "+0.8 pts")
    assert shown["Followers"] == ("1,500", "+50.0%")                # 1200 + 300 against 1000 (LinkedIn had none)
    assert shown["Publishing success rate"][0] == "100.0%"
    # each card says what the figure is
    [rate] = [m for m in at.metric if m.label == "Engagement rate"]
    assert "reach" in rate.help and "views" in rate.help
    # reliability: both due in the period went out, one 20 s and one 200 s after its time
    assert shown["On time"][0] == "50.0%"
    assert shown["Failed / need review"][0] == "0 / 0"
    [by_platform] = [d.value for d in at.dataframe if "lateness_p50_s" in d.value.columns]
    assert list(by_platform.columns) == ["platform", "due", "published", "failed", "on_time_rate", "lateness_p50_s",
                                         "lateness_p95_s", "retries"]       # no internal column (platform_slug)


def test_filters_change_the_numbers(brand):
    db, owner, ws, acc = brand
    at = _open(db, owner, ws.id)
    at.selectbox(key="an_period").set_value("Last 7 days").run()
    shown = cards(at)
    assert shown["Posts published"] == ("1", "0.0%")                # 1 against the LinkedIn post 10 days ago
    assert shown["Engagements"] == ("50", "+150.0%")
    at.selectbox(key="an_period").set_value("Last 30 days").run()
    at.multiselect(key="an_platforms").set_value(["linkedin"]).run()
    shown = cards(at)
    assert shown["Posts published"][0] == "1" and shown["Engagements"][0] == "20"
    assert shown["Reach"][0] == "400"
    # only LinkedIn's account is offered once LinkedIn is chosen
    assert at.multiselect(key="an_accounts").options == ["brand-li on LinkedIn"]


def test_the_posts_table_ranks_the_periods_posts(brand):
    db, owner, ws, _ = brand
    at = _open(db, owner, ws.id)
    # Two posts: one ranked list, not the same two posts as a Top 5 and again as a Bottom 5.
    ranked, every = post_tables(at)
    said = " ".join(m.value for m in at.markdown)
    assert "**All 2 ranked posts** by engagement rate, best first" in said and "**Bottom 5**" not in said
    assert list(ranked["caption"]) == ["Spring is here #spring", "Hiring now #jobs"]     # 6.25 % then 5 %
    assert list(ranked["engagements"]) == [50, 20]
    assert list(ranked["engagement_rate"]) == [6.25, 5.0]               # shown in percent
    # the ranking figure comes right after the thumbnail (it must never be off-screen)
    assert list(ranked.columns)[:3] == ["thumbnail", "engagement_rate", "engagements"]
    assert list(ranked["link"]) == ["https://x.example/p_recent", "https://linkedin.example/p_li"]
    assert list(ranked["who"]) == ["@brand · X", "brand-li · LinkedIn"]
    assert every["saves"].isna().all()                                # not reported: not available, not 0
    at.segmented_control(key="an_rank_by").set_value("reach").run()
    ranked, _ = post_tables(at)
    assert list(ranked["reach"]) == [800, 400] and list(ranked.columns)[:3] == ["thumbnail", "reach",
                                                                                "engagement_rate"]


def test_a_viewer_reads_the_same_figures(brand):
    from core.domain import Membership, Role, User
    db, owner, ws, _ = brand
    viewer = db.add_user(User(email="viewer@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    at = _open(db, viewer, ws.id)
    assert not at.exception
    assert cards(at)["Engagements"] == ("70", "+600.0%")


def test_nobody_outside_the_workspace_reads_its_figures(brand):
    from core.domain import Account
    from core.domain.timeutil import utcnow
    from core.services.auth import create_owner
    db, owner, ws, _ = brand
    stranger, theirs = create_owner(db, email="stranger@example.com", password="a long password",
                                    workspace_name="Theirs", timezone_name=BERLIN)
    acct = db.save_account(Account(platform="x", handle="@theirs", workspace_id=theirs.id))
    _published(db, theirs.id, acct, "p_theirs", utcnow() - timedelta(days=3), {"reach": 100, "likes": 999},
               caption="Their post")
    from pages import shared
    shared.analytics_engine(refresh=True)       # the page would read it within ANALYTICS_REFRESH_S
    # in their own workspace they see their own figures only (the engine holds both workspaces)
    at = _open(db, stranger, theirs.id)
    shown = cards(at)
    assert shown["Posts published"][0] == "1" and shown["Engagements"][0] == "999"
    assert list(post_tables(at)[0]["caption"]) == ["Their post"]
    # handed Brand's workspace (they have no role in it), core refuses before anything is read
    at = _open(db, stranger, ws.id)
    assert [e.value for e in at.error] == ["You are not a member of this workspace."]
    assert not at.metric and not at.dataframe


def test_an_empty_workspace_says_so_in_plain_words(tmp_path, monkeypatch, fresh_engine):
    from core.services.auth import create_owner
    monkeypatch.setenv("OUTPOST_SANDBOX", "false")
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=None) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="New",
                                 timezone_name=BERLIN)
        at = _open(db, owner, ws.id)
        assert not at.exception, at.exception
        assert any(i.value.startswith("No published posts in this period yet.") for i in at.info)
        shown = cards(at)
        assert shown["Posts published"][0] == "0"
        assert shown["Reach"] == ("—", "not available")
        assert shown["Followers"] == ("—", "not available")
        assert "Nothing was due to go out in this period." in [c.value for c in at.caption]


def test_the_sql_box_answers_a_select_and_refuses_a_write(brand):
    db, owner, ws, _ = brand
    at = _open(db, owner, ws.id)
    at.text_area(key="an_sql").set_value("SELECT platform, count(*) AS posts FROM deliveries GROUP BY platform "
                                         "ORDER BY platform")
    at.button(key="an_sql_run").click().run()
    [answer] = [d.value for d in at.dataframe if "posts" in d.value.columns and "platform" in d.value.columns]
    assert answer.to_dict("list") == {"platform": ["linkedin", "x"], "posts": [1, 2]}
    assert any(c.value.startswith("2 rows in ") for c in at.caption)
    at.text_area(key="an_sql").set_value("SELECT count(*) AS n FROM posts")
    at.button(key="an_sql_run").click().run()
    assert any(c.value.startswith("1 row in ") for c in at.caption)
    at.text_area(key="an_sql").set_value("DELETE FROM posts")
    at.button(key="an_sql_run").click().run()
    assert [e.value for e in at.error] == ["Refused: DELETE changes data or tables. This box runs one read-only "
                                           "query: SELECT ..., WITH ... SELECT ... or FROM ...."]


def test_exports_carry_the_periods_rows_with_formula_cells_neutralised(brand):
    """What the page's CSV buttons download (the same service call), read back."""
    import io

    import pandas as pd

    from core.domain.timeutil import utcnow
    from core.rules.permissions import Actor
    from core.services import analytics
    from pages import shared
    db, owner, ws, _ = brand
    f = analytics.filters_for(ws.id, BERLIN, analytics.last_days(30, utcnow().date()))
    data = analytics.export_csv(shared.analytics_engine(), Actor.of(db, owner.id), "post_table", f)
    table = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert sorted(table["caption"]) == ["Hiring now #jobs", "Spring is here #spring"]
    assert sorted(table["engagements"]) == [20, 50]
    history = analytics.export_parquet(shared.analytics_engine(), Actor.of(db, owner.id), ws.id)
    assert history[:4] == b"PAR1"


def test_sandbox_demo_is_seeded_once_and_removed_in_one_click(tmp_path, monkeypatch, fresh_engine, sandbox_emulator):
    """A first visit in sandbox mode writes the demo history (banner, figures); Remove demo data deletes it and
    leaves the workspace's own post and figures; a viewer sees the banner without the button."""
    from core.domain import Account, Membership, Role, User
    from core.domain.timeutil import utcnow
    from core.services.auth import create_owner
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=sandbox_emulator.url) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Demo",
                                 timezone_name=BERLIN)
        at = _open(db, owner, ws.id)
        assert not at.exception, at.exception
        assert any("Demo data." in m.value for m in at.markdown)
        assert int(cards(at)["Posts published"][0]) >= 20
        every = post_tables(at)[2]
        assert len(every) >= 20 and every["link"].isna().all()      # demo history: never on a platform, no link
        viewer = db.add_user(User(email="viewer@example.com"))
        db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
        seen = _open(db, viewer, ws.id)
        assert any("Demo data." in m.value for m in seen.markdown)
        assert [b for b in seen.button if b.key == "an_remove_demo"] == []
        # a real post of the workspace's own, published yesterday, on an account of its own
        mine = db.save_account(Account(platform="mastodon", handle="@mine", workspace_id=ws.id))
        _published(db, ws.id, mine, "p_mine", utcnow() - timedelta(days=1), {"views": 70, "likes": 7},
                   caption="Our own post")
        at.button(key="an_remove_demo").click().run()
        assert [s.value for s in at.success][:1] == ["Demo data removed: its posts, figures and demo accounts are "
                                                     "gone; your own posts and figures are untouched."]
        assert not any("Demo data." in m.value for m in at.markdown)
        shown = cards(at)
        assert shown["Posts published"][0] == "1" and shown["Engagements"][0] == "7"
        # it does not come back by itself
        again = _open(db, owner, ws.id)
        assert cards(again)["Posts published"][0] == "1"


@pytest.mark.parametrize("first, last, start_utc, end_utc", [
    # a summer week in Berlin: local midnights are 22:00 UTC
    ("2026-07-06", "2026-07-12", "2026-07-05 22:00", "2026-07-12 22:00"),
    # the day clocks go forward (29 March 2026) has 23 hours: the period starts at 23:00 UTC, ends at 22:00 UTC
    ("2026-03-29", "2026-03-29", "2026-03-28 23:00", "2026-03-29 22:00"),
    # across the change back (25 October 2026): 8 local days, 193 hours
    ("2026-10-20", "2026-10-27", "2026-10-19 22:00", "2026-10-27 23:00"),
])
def test_a_period_is_local_days_in_the_workspaces_zone(first, last, start_utc, end_utc):
    from datetime import date, datetime, timezone

    from core.services.analytics import Period, filters_for
    f = filters_for("ws_1", BERLIN, Period(date.fromisoformat(first), date.fromisoformat(last)),
                    platforms=["x", "linkedin"])
    utc = lambda text: datetime.fromisoformat(text).replace(tzinfo=timezone.utc)  # noqa: E731
    assert (f.start, f.end, f.tz_name, f.platforms) == (utc(start_utc), utc(end_utc), BERLIN, ("linkedin", "x"))


def test_a_period_that_ends_before_it_starts_is_refused_in_words():
    from datetime import date

    from core.domain.errors import ValidationError
    from core.services.analytics import Period, filters_for, last_days
    with pytest.raises(ValidationError, match="The period ends before it starts"):
        filters_for("ws_1", BERLIN, Period(date(2026, 5, 2), date(2026, 5, 1)))
    assert last_days(7, date(2026, 5, 7)) == Period(date(2026, 5, 1), date(2026, 5, 7))
    assert last_days(7, date(2026, 5, 7)).describe() == "01 May – 07 May 2026"


def test_a_refresh_that_fails_keeps_the_figures_read_before_and_says_so(brand, monkeypatch):
    from pages import shared
    db, owner, ws, _ = brand
    assert cards(_open(db, owner, ws.id))["Engagements"][0] == "70"
    engine = shared.analytics_engine()

    def locked(*args, **kwargs):
        raise RuntimeError("database is locked")
    monkeypatch.setattr(engine, "refresh", locked)
    monkeypatch.setattr(shared, "ANALYTICS_REFRESH_S", 0.0)
    at = _open(db, owner, ws.id)
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "The figures could not be brought up to date just now, so they may miss the latest posts; Outpost tries "
        "again on the next visit. (RuntimeError: database is locked)"]
    assert cards(at)["Engagements"][0] == "70"
    monkeypatch.undo()
    shared.analytics_engine(refresh=True)                 # it works again: the warning is gone
    assert len(_open(db, owner, ws.id).warning) == 0


def test_the_page_reads_new_figures_once_the_engine_refreshes(brand, monkeypatch):
    """Answers are cached per engine version: a post published meanwhile shows after the next refresh (at most
    ANALYTICS_REFRESH_S after the last one), not before, and then with its figures."""
    from core.domain import Account
    from core.domain.timeutil import utcnow
    from core.services.auth import create_owner
    from pages import shared
    db, _, _, _ = brand
    owner, fresh = create_owner(db, email="fresh@example.com", password="a long password", workspace_name="Fresh",
                                timezone_name=BERLIN)
    acct = db.save_account(Account(platform="x", handle="@fresh", workspace_id=fresh.id))
    monkeypatch.setattr(shared, "ANALYTICS_REFRESH_S", 3600.0)
    shared.analytics_engine(refresh=True)
    assert cards(_open(db, owner, fresh.id))["Posts published"][0] == "0"
    _published(db, fresh.id, acct, "p_fresh", utcnow() - timedelta(days=1), {"views": 90, "likes": 9},
               caption="Fresh post")
    assert cards(_open(db, owner, fresh.id))["Posts published"][0] == "0"     # not refreshed yet
    monkeypatch.setattr(shared, "ANALYTICS_REFRESH_S", 0.0)
    shown = cards(_open(db, owner, fresh.id))
    assert shown["Posts published"][0] == "1" and shown["Engagements"][0] == "9" and shown["Views"][0] == "90"


def test_one_published_post_reads_as_whole_days_and_counts_from_zero(tmp_path, monkeypatch, fresh_engine):
    # Seen by a tester with one post: the time axes read "23:59:59.999 / 23:59:59.9995" (one day stretched to
    # milliseconds), the engagements axis ran from -1 to 1, the heatmap's scale from -0.4, and "1 posts".
    from core.domain import Account
    from core.domain.timeutil import utcnow
    from core.services.auth import create_owner
    monkeypatch.setenv("OUTPOST_SANDBOX", "false")
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=None) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="New",
                                 timezone_name=BERLIN)
        x = db.save_account(Account(platform="x", handle="@new", workspace_id=ws.id))
        now = utcnow()
        _published(db, ws.id, x, "p_one", now - timedelta(days=1), {"views": 24, "reach": 15, "likes": 0,
                   "comments": 0, "shares": 0}, caption="Fresh croissants")
        _followers(db, ws.id, x, now - timedelta(hours=2), 120)
        at = _open(db, owner, ws.id)
        assert not at.exception, at.exception
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        trends, followers, heatmap, curve = charts[:4]
        for fig in (trends, followers):             # whole days: the period's 30 (not only the day with data)
            xaxis = fig["layout"]["xaxis"]
            assert xaxis["type"] == "date" and xaxis["tickformat"] == "%d %b"
            first, last = (datetime.fromisoformat(str(v)) for v in xaxis["range"])
            assert last - first == timedelta(days=30)
        yaxis = trends["layout"]["yaxis"]                # 0 engagements: from 0 up, in whole numbers
        assert yaxis["rangemode"] == "tozero" and -0.1 < yaxis["range"][0] <= 0 and yaxis["dtick"] == 1
        assert yaxis["tick0"] == 0 and yaxis["tickformat"] == "d"
        assert followers["layout"]["yaxis"]["range"][0] == 0            # one count, not 3,199.5 to 3,200.5
        assert followers["layout"]["yaxis"]["tickformat"] == ",d"
        assert heatmap["data"][0]["type"] == "heatmap" and heatmap["data"][0]["zmin"] == 0
        assert curve["layout"]["yaxis"]["rangemode"] == "tozero"
        said = " ".join(m.value for m in at.markdown) + " ".join(e.label for e in at.expander)
        # the follower chart's one dot is said in words, beside it and under the chart
        [dot] = followers["data"]
        assert dot["mode"] == "markers+text" and dot["text"] == [
            f"first count, {(now - timedelta(hours=2)).astimezone(ZoneInfo(BERLIN)):%d %b}"]
        notes = " ".join(c.value for c in at.caption)
        assert "Follower counts start when an account was connected" in notes
        assert f"@new · X: first count on {(now - timedelta(hours=2)).astimezone(ZoneInfo(BERLIN)):%d %b %Y} (120 " \
               "followers)" in notes
        at.selectbox(key="an_period").set_value("Last 7 days").run()
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        for fig in charts[:2]:                      # a week: one tick a day
            xaxis = fig["layout"]["xaxis"]
            assert xaxis["dtick"] == 24 * 3600 * 1000
            first, last = (datetime.fromisoformat(str(v)) for v in xaxis["range"])
            assert last - first == timedelta(days=7)
        assert "1 posts" not in said
        assert "**Hand-written**: 1 post," in said
        assert "The one published post in this period" in said


def test_fresh_posts_are_not_ranked_and_top_and_bottom_do_not_repeat(tmp_path, monkeypatch, fresh_engine):
    # Seen by a tester: a post 15 minutes old (5 views, 0 engagements) topped the Bottom 5 above 90 days of posts.
    from core.domain import Account
    from core.domain.timeutil import utcnow
    from core.services.auth import create_owner
    monkeypatch.setenv("OUTPOST_SANDBOX", "false")
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=None) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Ten",
                                 timezone_name=BERLIN)
        x = db.save_account(Account(platform="x", handle="@ten", workspace_id=ws.id))
        ig = db.save_account(Account(platform="instagram", handle="ten.ig", workspace_id=ws.id))
        now = utcnow()
        for i in range(11):         # 11 settled posts, engagement rate 1% .. 11%
            _published(db, ws.id, x if i % 2 else ig, f"p{i}", now - timedelta(days=3 + i),
                       {"views": 200, "reach": 100, "likes": i + 1}, caption=f"Post {i}")
        _published(db, ws.id, x, "fresh", now - timedelta(minutes=15), {"views": 5, "reach": 5, "likes": 0},
                   caption="Just out", late_s=1)
        _followers(db, ws.id, x, now - timedelta(days=5), 100)
        _followers(db, ws.id, x, now - timedelta(days=1), 110)
        _followers(db, ws.id, ig, now - timedelta(days=1), 50)
        at = _open(db, owner, ws.id)
        assert not at.exception, at.exception
        top, bottom, every = post_tables(at)
        assert list(top["caption"]) == ["Post 10", "Post 9", "Post 8", "Post 7", "Post 6"]
        assert list(bottom["caption"]) == ["Post 0", "Post 1", "Post 2", "Post 3", "Post 4"]   # not "Just out"
        assert "Just out" in list(every["caption"])                     # still listed with every post
        notes = [c.value for c in at.caption]
        assert ("1 post published less than 2 days ago is not ranked yet: its figures are still growing."
                in notes)
        # The overview: the period is still running, so it is compared to date, in words.
        [compared] = [n for n in notes if n.startswith("Each figure is compared with")]
        assert "the same stretch just before, as the period is not over" in compared and "(so far)" in compared
        # Workflow counts posts, the card each account's copy: both say which.
        said = " ".join(m.value for m in at.markdown)
        assert "Posts published (on any account): **12**" in said
        [card] = [m for m in at.metric if m.label == "Posts published"]
        assert "each account's copy counted once" in card.help
        # One colour per platform in every chart: X is the same in Trends and in Follower growth.
        trends, followers = [json.loads(c.proto.spec) for c in at.get("plotly_chart")][:2]
        colour = {t["name"]: t["line"]["color"] for t in trends["data"]}
        assert colour == {"X": "#0f1419", "Instagram": "#d62976"}
        lines = {t["name"]: (t["line"]["color"], t["marker"]["symbol"]) for t in followers["data"]}
        assert lines == {"@ten · X": ("#0f1419", "triangle-up"), "ten.ig · Instagram": ("#d62976", "circle")}
        # Custom dates, today only: today so far against yesterday to the same time, and never "1 days".
        at.selectbox(key="an_period").set_value("Custom dates").run()
        today = now.astimezone(ZoneInfo(BERLIN)).date()
        at.date_input(key="an_dates").set_value((today, today)).run()
        [compared] = [c.value for c in at.caption if c.value.startswith("Each figure is compared with")]
        assert "1 days" not in compared and f"{today:%d %b} 00:00 –" in compared
        assert f"against {today - timedelta(days=1):%d %b} 00:00 –" in compared
        yesterday = today - timedelta(days=1)
        at.date_input(key="an_dates").set_value((yesterday, yesterday)).run()
        [compared] = [c.value for c in at.caption if c.value.startswith("Each figure is compared with")]
        assert compared.startswith("Each figure is compared with the day before.")

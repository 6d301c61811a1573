"""The analytics feed: what the SQL store holds arrives in the engine's DuckDB exactly, a refresh reads only what is
new, changes and deletions are followed; on SQLite and (with OUTPOST_TEST_POSTGRES_URL) PostgreSQL."""
from __future__ import annotations

import threading
from types import SimpleNamespace
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.analytics.engine import AnalyticsEngine
from core.analytics.feed import FeedError
from core.db.schema import deliveries as deliveries_t
from core.db.schema import post_metric_snapshots, posts as posts_t
from core.db.sql_store import SqlPostStore
from core.db.testing import clear_tables, sqlite_engine
from core.domain import Account, ActivityEvent, Delivery, Post, Schedule, Workspace
from core.domain.catalog import Platform
from core.domain.lifecycle import DeliveryState, PostState
from core.infra.secrets import TokenCipher
from core.store.records import AccountSnapshot, MetricSnapshot
from tests.store_contract.world import POSTGRES_URL, SKIP_POSTGRES, T0, Clock

UTC = timezone.utc
DUE = T0 + timedelta(days=1)
PUBLISHED = DUE + timedelta(seconds=42)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)])])
def sql(request, tmp_path):
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "outpost.sqlite")
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        clear_tables(engine)
        yield engine


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def store(sql, clock):
    return SqlPostStore(sql, TokenCipher.generate(), clock=clock)


@pytest.fixture
def engine(sql):
    with AnalyticsEngine(engine=sql) as analytics:
        yield analytics


class Acme:
    """Two workspaces; Acme has Instagram and LinkedIn, Other has X."""

    def __init__(self, store):
        self.store = store
        self.ws = store.add_workspace(Workspace(name="Acme", timezone_name="Europe/Berlin", id="ws_acme"))
        self.other = store.add_workspace(Workspace(name="Other", timezone_name="UTC", id="ws_other"))
        self.ig = store.save_account(Account(platform=Platform.INSTAGRAM, handle="@acme", display_name="Acme IG",
                                             oauth_token="t", workspace_id=self.ws.id, id="acct_ig"))
        self.li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", oauth_token="t",
                                             workspace_id=self.ws.id, id="acct_li"))
        self.x = store.save_account(Account(platform=Platform.X, handle="@other", oauth_token="t",
                                            workspace_id=self.other.id, id="acct_x"))

    def post(self, id: str, accounts, **fields) -> tuple[Post, list[Delivery]]:
        post = Post(accounts=tuple(accounts), schedule=Schedule(scheduled_at=DUE, timezone_name="Europe/Berlin"),
                    workspace_id=accounts[0].workspace_id, id=id, state=PostState.APPROVED, **fields)
        dels = [Delivery(post_id=id, account_id=a.id, platform=a.platform, due_at=DUE, id=f"d_{id}_{a.platform}")
                for a in accounts]
        self.store.add_post(post, dels)
        return post, [self.store.get_delivery(d.id) for d in dels]

    def publish(self, delivery: Delivery, at: datetime = PUBLISHED, **fields) -> Delivery:
        done = replace(delivery, state=DeliveryState.PUBLISHED, published_at=at, attempts=1,
                       external_id=f"ext_{delivery.id}", external_url=f"https://example.test/{delivery.id}",
                       next_attempt_at=None, **fields)
        return self.store.update_delivery(done, expected_version=delivery.version)

    def snapshot(self, delivery: Delivery, at: datetime, **metrics) -> MetricSnapshot:
        acct = {a.id: a for a in (self.ig, self.li, self.x)}[delivery.account_id]
        return MetricSnapshot(delivery_id=delivery.id, post_id=delivery.post_id, account_id=delivery.account_id,
                              workspace_id=acct.workspace_id, platform=str(acct.platform),
                              external_id=f"ext_{delivery.id}", taken_at=at, metrics=metrics)

    def followers(self, account: Account, at: datetime, count: int | None) -> AccountSnapshot:
        return AccountSnapshot(account_id=account.id, workspace_id=account.workspace_id,
                               platform=str(account.platform), taken_at=at, followers=count)


def rows(engine: AnalyticsEngine, sql: str, params=None) -> list[tuple]:
    with engine.cursor() as con:
        return con.execute(sql, params or []).fetchall()


def counts(**changed) -> dict[str, int]:
    base = dict.fromkeys(("workspaces", "accounts", "posts", "deliveries", "post_snapshots", "account_snapshots",
                          "decisions"), 0)
    base.update(changed)
    return base


def at(delta: timedelta) -> datetime:
    return T0 + delta


def H(n: float) -> timedelta:
    return timedelta(hours=n)


# ---------------------------------------------------------------- a first refresh copies exactly


def test_first_refresh_copies_every_table_exactly(store, engine, sql):
    w = Acme(store)
    _, (d_ig, d_li) = w.post("p_carousel", [w.ig, w.li], caption="Launch day #Summer, see https://acme.test/#top",
                             hashtags=("#Sale", "summer"), link="https://acme.test/launch",
                             media_urls=("https://cdn.test/a.jpg", "https://cdn.test/b.png"), is_ai_generated=True)
    _, (d_video,) = w.post("p_video", [w.ig], caption="Watch", media_urls=("https://cdn.test/clip.MP4?v=2",))
    _, (d_text,) = w.post("p_text", [w.x], caption="Just words")
    _, (d_image,) = w.post("p_image", [w.li], caption="One picture", media_urls=("https://cdn.test/one.webp",))
    d_ig = w.publish(d_ig)
    store.add_metric_snapshots(
        [w.snapshot(d_ig, PUBLISHED + H(1), views=100, likes=5),
         w.snapshot(d_ig, PUBLISHED + H(2), views=150, reach=120, likes=9, comments=2, shares=1, saves=0,
                    clicks=3, video_views=7)],
        [w.followers(w.ig, T0, 1000), w.followers(w.li, T0, None)])
    store.record_event(ActivityEvent(action="post.submitted", subject_type="post", subject_id="p_carousel",
                                     at=T0 + H(1), actor="user:u1", workspace_id="ws_acme"))
    store.record_event(ActivityEvent(action="post.approved", subject_type="post", subject_id="p_carousel",
                                     at=T0 + H(2), actor="user:u2", workspace_id="ws_acme"))
    store.record_event(ActivityEvent(action="post.rejected", subject_type="post", subject_id="p_video",
                                     at=T0 + H(3), actor="user:u2", workspace_id="ws_acme", reason="Off brand"))

    result = engine.refresh()

    assert result.rows == counts(workspaces=2, accounts=3, posts=4, deliveries=5, post_snapshots=2,
                                 account_snapshots=2, decisions=2)
    assert result.version == engine.version == 1 and result.changed and not result.rebuilt
    assert rows(engine, "SELECT wkey, workspace_id, name, timezone_name FROM workspaces ORDER BY wkey") == [
        (1, "ws_acme", "Acme", "Europe/Berlin"), (2, "ws_other", "Other", "UTC")]
    assert rows(engine, "SELECT akey, account_id, wkey, workspace_id, platform, handle, display_name, status "
                        "FROM accounts ORDER BY akey") == [
        (1, "acct_ig", 1, "ws_acme", "instagram", "@acme", "Acme IG", "connected"),
        (2, "acct_li", 1, "ws_acme", "linkedin", "Acme Inc", None, "connected"),
        (3, "acct_x", 2, "ws_other", "x", "@other", None, "connected")]
    assert rows(engine, "SELECT post_id, wkey, caption, hashtags, link, media_url, media_count, content_type, "
                        "is_ai_generated, is_demo, state, status FROM posts ORDER BY post_id") == [
        ("p_carousel", 1, "Launch day #Summer, see https://acme.test/#top", ["sale", "summer"],
         "https://acme.test/launch", "https://cdn.test/a.jpg", 2, "carousel", True, False, "approved", "publishing"),
        ("p_image", 1, "One picture", [], None, "https://cdn.test/one.webp", 1, "image", False, False, "approved",
         "scheduled"),
        ("p_text", 2, "Just words", [], None, None, 0, "text", False, False, "approved", "scheduled"),
        ("p_video", 1, "Watch", [], None, "https://cdn.test/clip.MP4?v=2", 1, "video", False, False, "approved",
         "scheduled")]
    assert rows(engine, "SELECT dkey, delivery_id, post_id, akey, wkey, platform, state, due_at, published_at, "
                        "attempts, external_url, is_demo FROM deliveries ORDER BY dkey") == [
        (1, "d_p_carousel_instagram", "p_carousel", 1, 1, "instagram", "published", DUE, PUBLISHED, 1,
         "https://example.test/d_p_carousel_instagram", False),
        (2, "d_p_carousel_linkedin", "p_carousel", 2, 1, "linkedin", "queued", DUE, None, 0, None, False),
        (3, "d_p_image_linkedin", "p_image", 2, 1, "linkedin", "queued", DUE, None, 0, None, False),
        (4, "d_p_text_x", "p_text", 3, 2, "x", "queued", DUE, None, 0, None, False),
        (5, "d_p_video_instagram", "p_video", 1, 1, "instagram", "queued", DUE, None, 0, None, False)]
    assert rows(engine, "SELECT dkey, akey, wkey, taken_at, views, reach, likes, comments, shares, saves, "
                        "clicks, video_views, is_demo FROM post_snapshots ORDER BY seq") == [
        (1, 1, 1, PUBLISHED + H(1), 100, None, 5, None, None, None, None, None, False),
        (1, 1, 1, PUBLISHED + H(2), 150, 120, 9, 2, 1, 0, 3, 7, False)]
    assert rows(engine, "SELECT akey, wkey, taken_at, followers, is_demo FROM account_snapshots "
                        "ORDER BY seq") == [(1, 1, T0, 1000, False), (2, 1, T0, None, False)]
    with sql.connect() as conn:
        seqs = conn.execute(sa.select(post_metric_snapshots.c.seq).order_by(post_metric_snapshots.c.seq)).scalars()
        assert rows(engine, "SELECT seq FROM post_snapshots ORDER BY seq") == [(q,) for q in seqs]
    assert rows(engine, 'SELECT post_id, wkey, "at", action, actor FROM decisions ORDER BY seq') == [
        ("p_carousel", 1, T0 + H(2), "approved", "user:u2"), ("p_video", 1, T0 + H(3), "rejected", "user:u2")]
    # Times are UTC instants.
    assert rows(engine, "SELECT typeof(taken_at) FROM post_snapshots LIMIT 1") == [("TIMESTAMP WITH TIME ZONE",)]


def test_a_metric_the_platform_did_not_report_is_null_never_zero(store, engine):
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    d = w.publish(d)
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(1), views=10),
                                w.snapshot(d, PUBLISHED + H(2), likes=0, comments="n/a", reach=12.0)])
    engine.refresh()
    assert rows(engine, "SELECT views, reach, likes, comments, shares, saves, clicks, video_views "
                        "FROM post_snapshots ORDER BY seq") == [
        (10, None, None, None, None, None, None, None),
        (None, 12, 0, None, None, None, None, None)]


def test_an_empty_database_gives_empty_tables(engine):
    result = engine.refresh()
    assert result.rows == counts() and not result.changed and result.version == 0 == engine.version
    for table in ("workspaces", "accounts", "posts", "deliveries", "post_snapshots", "account_snapshots",
                  "decisions"):
        assert rows(engine, f"SELECT count(*) FROM {table}") == [(0,)]
    assert engine.refresh().rows == counts()


def test_in_memory_engine_has_the_schema_and_no_source():
    with AnalyticsEngine.in_memory() as engine:
        assert not engine.has_source
        assert engine.refresh().rows == {} and engine.version == 0
        assert rows(engine, "SELECT count(*) FROM post_snapshots") == [(0,)]


# ---------------------------------------------------------------- later refreshes read only what is new


def test_a_second_refresh_reads_only_the_new_rows(store, engine, clock, sql):
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    d = w.publish(d)
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(h), views=10 * h) for h in (1, 2)],
                               [w.followers(w.ig, T0, 500)])
    assert engine.refresh().rows == counts(workspaces=2, accounts=3, posts=1, deliveries=1, post_snapshots=2,
                                           account_snapshots=1)

    unchanged = engine.refresh()
    assert unchanged.rows == counts() and unchanged.version == 1 == engine.version

    clock.advance(hours=3)
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(h), views=10 * h) for h in (3, 4, 5)],
                               [w.followers(w.ig, T0 + H(24), 510)])
    store.record_event(ActivityEvent(action="post.edited", subject_type="post", subject_id="p1", at=clock.now,
                                     workspace_id="ws_acme"))
    result = engine.refresh()
    assert result.rows == counts(post_snapshots=3, account_snapshots=1) and result.version == 2
    assert rows(engine, "SELECT views FROM post_snapshots ORDER BY seq") == [(10,), (20,), (30,), (40,), (50,)]
    assert rows(engine, "SELECT followers FROM account_snapshots ORDER BY seq") == [(500,), (510,)]
    with sql.connect() as conn:
        tops = [conn.execute(sa.text(f"SELECT max(seq) FROM {t}")).scalar()
                for t in ("account_metric_snapshots", "activity_events", "post_metric_snapshots")]
    assert rows(engine, "SELECT source, last_seq FROM feed_marks WHERE last_seq IS NOT NULL ORDER BY source") == [
        ("account_snapshots", tops[0]), ("activity_events", tops[1]), ("post_snapshots", tops[2])]


def test_a_delivery_that_changes_state_is_updated_in_place(store, engine, clock, sql):
    w = Acme(store)
    _, (d_ig, d_li) = w.post("p1", [w.ig, w.li])
    engine.refresh()
    keys = rows(engine, "SELECT delivery_id, dkey FROM deliveries ORDER BY dkey")

    clock.advance(minutes=30)
    failed = replace(d_li, state=DeliveryState.FAILED, attempts=3, last_error_code="rate_limited",
                     last_error="Too many requests", next_attempt_at=None)
    store.update_delivery(failed, expected_version=d_li.version)
    result = engine.refresh()

    # The delivery changed; its post's derived status changed with it (without its updated_at).
    assert result.rows == counts(deliveries=1, posts=1) and result.version == 2
    assert rows(engine, "SELECT delivery_id, dkey FROM deliveries ORDER BY dkey") == keys
    assert rows(engine, "SELECT delivery_id, state, attempts, last_error_code, last_error, updated_at "
                        "FROM deliveries ORDER BY dkey") == [
        ("d_p1_instagram", "queued", 0, None, None, T0),
        ("d_p1_linkedin", "failed", 3, "rate_limited", "Too many requests", T0 + timedelta(minutes=30))]
    with sql.connect() as conn:
        status = conn.execute(sa.select(posts_t.c.status)).scalar_one()
    assert status != "scheduled" and rows(engine, "SELECT status FROM posts") == [(status,)]

    # Read again within the overlap, nothing changed: nothing counted.
    assert engine.refresh().rows == counts()


def test_a_new_workspace_account_and_post_get_the_next_keys(store, engine, clock):
    w = Acme(store)
    w.post("p1", [w.ig])
    engine.refresh()
    clock.advance(hours=1)
    ws = store.add_workspace(Workspace(name="Third", id="ws_third"))
    yt = store.save_account(Account(platform=Platform.YOUTUBE, handle="Third TV", oauth_token="t",
                                    workspace_id=ws.id, id="acct_yt"))
    w.post("p2", [yt])
    assert engine.refresh().rows == counts(workspaces=1, accounts=1, posts=1, deliveries=1)
    assert rows(engine, "SELECT wkey, workspace_id FROM workspaces ORDER BY wkey")[-1] == (3, "ws_third")
    assert rows(engine, "SELECT akey, account_id, wkey FROM accounts ORDER BY akey")[-1] == (4, "acct_yt", 3)
    assert rows(engine, "SELECT dkey, delivery_id, akey, wkey FROM deliveries ORDER BY dkey") == [
        (1, "d_p1_instagram", 1, 1), (2, "d_p2_youtube", 4, 3)]


def test_history_of_a_delivery_the_database_no_longer_has_stays_readable(store, engine, sql):
    w = Acme(store)
    gone = Delivery(post_id="p_gone", account_id=w.ig.id, platform=w.ig.platform, due_at=DUE, id="d_gone")
    store.add_metric_snapshots([w.snapshot(gone, PUBLISHED, views=3)])
    assert engine.refresh().rows["post_snapshots"] == 1
    assert rows(engine, "SELECT dkey, delivery_id, post_id, akey, wkey, state FROM deliveries") == [
        (1, "d_gone", "p_gone", 1, 1, None)]
    assert rows(engine, "SELECT dkey, akey, wkey, views FROM post_snapshots") == [(1, 1, 1, 3)]


# ---------------------------------------------------------------- demo data and deletions


def _mark_demo(sql, post_id: str) -> None:
    with sql.begin() as conn:
        conn.execute(posts_t.update().where(posts_t.c.id == post_id).values(is_demo=True))
        conn.execute(post_metric_snapshots.update().where(post_metric_snapshots.c.post_id == post_id)
                     .values(is_demo=True))


def test_demo_rows_are_marked_and_their_removal_rebuilds_the_engine(store, engine, sql, clock):
    w = Acme(store)
    _, (real,) = w.post("p_real", [w.ig])
    _, (demo,) = w.post("p_demo", [w.ig])
    real, demo = w.publish(real), w.publish(demo)
    store.add_metric_snapshots([w.snapshot(real, PUBLISHED + H(1), views=7),
                                w.snapshot(demo, PUBLISHED + H(1), views=900),
                                w.snapshot(demo, PUBLISHED + H(2), views=950)])
    _mark_demo(sql, "p_demo")
    engine.refresh()
    assert rows(engine, "SELECT post_id, is_demo FROM posts ORDER BY post_id") == [
        ("p_demo", True), ("p_real", False)]
    assert rows(engine, "SELECT delivery_id, is_demo FROM deliveries ORDER BY delivery_id") == [
        ("d_p_demo_instagram", True), ("d_p_real_instagram", False)]
    assert rows(engine, "SELECT views, is_demo FROM post_snapshots ORDER BY seq") == [
        (7, False), (900, True), (950, True)]

    # "Remove the demo": its snapshots, deliveries and posts are deleted in the SQL database.
    with sql.begin() as conn:
        conn.execute(post_metric_snapshots.delete().where(post_metric_snapshots.c.is_demo.is_(sa.true())))
        conn.execute(deliveries_t.delete().where(deliveries_t.c.post_id == "p_demo"))
        conn.execute(posts_t.delete().where(posts_t.c.id == "p_demo"))
    result = engine.refresh()
    assert result.rebuilt and result.reason == "1 of the posts were deleted" and result.version == 2
    assert result.rows == counts(workspaces=2, accounts=3, posts=1, deliveries=1, post_snapshots=1)
    assert rows(engine, "SELECT post_id FROM posts") == [("p_real",)]
    assert rows(engine, "SELECT delivery_id FROM deliveries") == [("d_p_real_instagram",)]
    assert rows(engine, "SELECT views, is_demo FROM post_snapshots") == [(7, False)]
    # And it goes on incrementally from there.
    store.add_metric_snapshots([w.snapshot(real, PUBLISHED + H(3), views=8)])
    again = engine.refresh()
    assert not again.rebuilt and again.rows == counts(post_snapshots=1)


def test_latest_snapshots_deleted_are_noticed(store, engine, sql):
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(h), views=h) for h in (1, 2, 3)])
    engine.refresh()
    with sql.begin() as conn:
        top = conn.execute(sa.select(sa.func.max(post_metric_snapshots.c.seq))).scalar()
        conn.execute(post_metric_snapshots.delete().where(post_metric_snapshots.c.seq == top))
    result = engine.refresh()
    assert result.rebuilt and result.reason == "the latest post metric snapshots were deleted"
    assert rows(engine, "SELECT views FROM post_snapshots ORDER BY seq") == [(1,), (2,)]


def test_a_full_refresh_reads_everything_again(store, engine):
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(1), views=4)])
    engine.refresh()
    before = rows(engine, "SELECT * FROM post_snapshots")
    result = engine.refresh(full=True)
    assert result.rebuilt and result.reason == "a full refresh was asked for" and result.version == 2
    assert result.rows == counts(workspaces=2, accounts=3, posts=1, deliveries=1, post_snapshots=1)
    assert rows(engine, "SELECT * FROM post_snapshots") == before


# ---------------------------------------------------------------- PostgreSQL: a late commit below the mark


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)
def test_postgres_rows_committed_late_with_a_lower_seq_are_read(request, clock):
    sql = request.getfixturevalue("postgres_engine")
    clear_tables(sql)
    store = SqlPostStore(sql, TokenCipher.generate(), clock=clock)
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    snap = w.snapshot(d, PUBLISHED + H(1), views=1)
    base = dict(delivery_id=d.id, post_id="p1", account_id="acct_ig", workspace_id="ws_acme", platform="instagram",
                external_id="e", raw={})
    with sql.begin() as conn:
        conn.execute(post_metric_snapshots.insert(), [{**base, "seq": 1000, "taken_at": snap.taken_at,
                                                       "metrics": {"views": 1}}])
    with AnalyticsEngine(engine=sql) as engine:
        assert engine.refresh().rows["post_snapshots"] == 1
        # A transaction that took seq 990 before 1000 was read commits only now.
        with sql.begin() as conn:
            conn.execute(post_metric_snapshots.insert(), [{**base, "seq": 990, "taken_at": snap.taken_at,
                                                           "metrics": {"views": 2}}])
        assert engine.refresh().rows == counts(post_snapshots=1)
        assert rows(engine, "SELECT seq, views FROM post_snapshots ORDER BY seq") == [(990, 2), (1000, 1)]
        assert engine.refresh().rows == counts()


# ---------------------------------------------------------------- readers and errors


def test_a_refresh_that_fails_half_way_changes_nothing(store, engine, monkeypatch):
    from core.analytics.feed import Feed
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(1), views=1)])
    engine.refresh()
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(2), views=2)])
    w.post("p2", [w.li])

    def broken(self, cur):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(Feed, "_decisions", broken)
        with pytest.raises(RuntimeError, match="the disk is full"):
            engine.refresh()
    assert engine.version == 1
    assert rows(engine, "SELECT count(*) FROM posts") == [(1,)]
    assert rows(engine, "SELECT views FROM post_snapshots") == [(1,)]
    result = engine.refresh()
    assert result.rows == counts(posts=1, deliveries=1, post_snapshots=1) and result.version == 2
    assert rows(engine, "SELECT views FROM post_snapshots ORDER BY seq") == [(1,), (2,)]


def test_unreadable_json_in_sqlite_is_not_available_not_an_error(store, engine, sql):
    if sql.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type refuses malformed JSON on write")
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig], media_urls=("https://cdn.test/a.jpg",))
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(1), views=1)])
    with sql.begin() as conn:
        conn.execute(sa.text("UPDATE post_metric_snapshots SET metrics = '{\"views\": 5,'"))
        conn.execute(sa.text("UPDATE posts SET media_urls = '[\"https://cdn.test/a.jpg\"', hashtags = '#x'"))
    engine.refresh()
    assert rows(engine, "SELECT views, likes FROM post_snapshots") == [(None, None)]
    assert rows(engine, "SELECT hashtags, media_url, content_type FROM posts") == [([], None, "text")]


def test_readers_in_other_threads_see_a_refresh_whole(store, engine):
    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(h), views=h) for h in range(1, 51)])
    seen: list[int] = []
    started = threading.Event()

    def reader():
        with engine.cursor() as con:
            started.set()
            for _ in range(20):
                seen.append(con.execute("SELECT count(*) FROM post_snapshots").fetchone()[0])

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    engine.refresh()
    thread.join(10)
    assert set(seen) <= {0, 50} and len(seen) == 20
    assert rows(engine, "SELECT count(*) FROM post_snapshots") == [(50,)]


def test_a_database_analytics_cannot_read_is_refused_in_words(tmp_path):
    with pytest.raises(FeedError, match="from its file"):
        AnalyticsEngine("sqlite://")
    with AnalyticsEngine(f"sqlite:///{tmp_path}/missing.sqlite") as engine:
        with pytest.raises(FeedError, match="found no database at .*missing.sqlite: start Outpost once"):
            engine.refresh()
        assert engine.version == 0
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(FeedError, match="SQLite or PostgreSQL, not mysql"):
        AnalyticsEngine(engine=SimpleNamespace(url=sa.make_url("mysql://u@127.0.0.1/x")))


def test_a_closed_engine_says_so():
    engine = AnalyticsEngine.in_memory()
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.cursor()
    engine.close()


def test_queries_after_a_refresh_read_figures_folded_in_its_transaction(store, engine, clock, sql, monkeypatch):
    """A refresh folds each post's latest figures in its own transaction, so the queries after it answer without
    checking or folding anything themselves (one statement each): new snapshots, a demo removal that rebuilt
    everything with new keys, all show at once."""
    from core.analytics import queries
    from core.analytics.queries import QUERIES, Filters

    w = Acme(store)
    _, (d,) = w.post("p1", [w.ig])
    d = w.publish(d)
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(1), views=10, reach=5, likes=1)])
    engine.refresh()

    def refuse(*_a, **_k):
        raise AssertionError("a query checked or folded the figures after a refresh")
    monkeypatch.setattr(queries, "fold_latest", refuse)
    monkeypatch.setattr(queries, "_quick_fresh", refuse)
    period = Filters("ws_acme", T0, T0 + timedelta(days=30), "Europe/Berlin")

    def views() -> list:
        with engine.cursor() as con:
            answer = QUERIES["post_table"](con, period)["views"].tolist()
        # read from the folded figures the refresh left, not from the snapshots
        assert sorted(answer) == sorted(v for (v,) in rows(engine, "SELECT views FROM post_figures"))
        return answer
    assert views() == [10]
    clock.advance(hours=3)
    store.add_metric_snapshots([w.snapshot(d, PUBLISHED + H(2), views=25, reach=9, likes=2)])
    engine.refresh()
    assert views() == [25]
    # A second post that is then deleted: the refresh rebuilds everything (keys given anew), figures follow.
    _, (gone,) = w.post("p_gone", [w.ig])
    gone = w.publish(gone, at=PUBLISHED + H(1))
    store.add_metric_snapshots([w.snapshot(gone, PUBLISHED + H(2), views=99)])
    engine.refresh()
    assert views() == [99, 25]
    with sql.begin() as conn:
        conn.execute(post_metric_snapshots.delete().where(post_metric_snapshots.c.post_id == "p_gone"))
        conn.execute(deliveries_t.delete().where(deliveries_t.c.post_id == "p_gone"))
        conn.execute(posts_t.delete().where(posts_t.c.id == "p_gone"))
    assert engine.refresh().rebuilt
    assert views() == [25]


def test_follower_days_are_folded_at_refresh_and_follow_a_change_of_the_workspaces_zone(store, engine, clock,
                                                                                        monkeypatch):
    """Each account's last follower count per local day is folded in the refresh's transaction (the query then
    checks nothing); when the workspace's zone changes, the next refresh folds its days again in the new zone, so
    a count at 23:30 UTC moves from the next Berlin day to the same day in New York."""
    from dataclasses import replace as replaced
    from core.analytics import queries
    from core.analytics.queries import QUERIES, Filters

    w = Acme(store)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    store.add_metric_snapshots([], [w.followers(w.ig, day - H(30), 900), w.followers(w.ig, day + H(8), 950),
                                    w.followers(w.ig, day + H(23.5), 970)])
    engine.refresh()

    def refuse(*_a, **_k):
        raise AssertionError("a query checked or folded after a refresh")
    monkeypatch.setattr(queries, "fold_latest", refuse)
    monkeypatch.setattr(queries, "_quick_fresh", refuse)

    def growth(tz: str) -> list:
        with engine.cursor() as con:
            df = QUERIES["follower_growth"](con, Filters("ws_acme", day - H(12), day + H(48), tz))
        return [(str(r["day"]), r["followers"], r["change"]) for r in df.to_dict("records")]
    assert growth("Europe/Berlin") == [("2026-03-02", 950, 50.0), ("2026-03-03", 970, 20.0)]
    assert rows(engine, "SELECT DISTINCT tz FROM follower_zones JOIN workspaces USING (wkey) "
                        "WHERE workspace_id = 'ws_acme'") == [("Europe/Berlin",)]

    clock.advance(hours=1)
    store.update_workspace(replaced(store.get_workspace("ws_acme"), timezone_name="America/New_York"))
    engine.refresh()
    assert rows(engine, "SELECT DISTINCT tz FROM follower_zones JOIN workspaces USING (wkey) "
                        "WHERE workspace_id = 'ws_acme'") == [("America/New_York",)]
    assert growth("America/New_York") == [("2026-03-02", 970, 70.0)]      # 03:00 and 18:30 on March 2 there

"""Demo data in sandbox mode (issue 12): 90 days of history with a planted best time, written once, removed in one
click without touching a real row, refused to a viewer, never seeded again by itself after removal."""
from __future__ import annotations

import collections
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.domain import Account, ActivityEvent, Delivery, Membership, Post, Role, Schedule, User, Workspace
from core.domain.errors import PermissionDenied
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.infra.settings import Settings
from core.rules.permissions import Actor
from core.services.demo import demo_status, remove_demo
from core.store import AccountSnapshot, MetricSnapshot
from sandbox.demo import DEMO_META_KEY, PLANTED, auto_seed_demo, pull_times, seed_demo
from tests.store_contract.world import T0

BERLIN = "Europe/Berlin"
UTC = timezone.utc
# No emulator behind it: accounts are made by hand, follower counts come from the growth model.
OFFLINE = Settings(sandbox=True, sandbox_url="http://127.0.0.1:9")


class W:
    pass


def world(store, tz: str = BERLIN) -> W:
    w = W()
    w.store = store
    w.ws = store.add_workspace(Workspace(name="Brand", timezone_name=tz, id="ws_brand"))
    w.owner = store.add_user(User(email="owner@brand.test", id="u_owner"))
    w.viewer = store.add_user(User(email="viewer@brand.test", id="u_viewer"))
    store.set_membership(Membership(user_id=w.owner.id, workspace_id=w.ws.id, role=Role.OWNER))
    store.set_membership(Membership(user_id=w.viewer.id, workspace_id=w.ws.id, role=Role.VIEWER))
    w.accounts = [store.save_account(Account(platform=p, handle="brand", workspace_id=w.ws.id, id=f"a_{p}",
                                             external_id=f"ext-{p}")) for p in ("instagram", "linkedin", "x")]
    w.as_owner, w.as_viewer = Actor.of(store, w.owner.id), Actor.of(store, w.viewer.id)
    return w


def seed(w, now=T0, days=90):
    return seed_demo(w.store, OFFLINE, actor=w.as_owner, workspace_id=w.ws.id, user_id=w.owner.id, now=now, days=days)


# Tests about writing and removing the history use three weeks of it (44 posts, 2,351 snapshots): quicker to read
# back on every store, and the same code as 90 days.
SHORT = 21


def everything(w) -> dict:
    s = w.store
    posts = s.list_posts(workspace_id=w.ws.id, limit=10_000)
    deliveries = [d for ds in s.deliveries_for(p.id for p in posts).values() for d in ds]
    return {"posts": posts, "deliveries": deliveries,
            "snapshots": s.list_metric_snapshots(workspace_id=w.ws.id, limit=1_000_000),
            "followers": [x for a in w.accounts for x in s.list_account_snapshots(account_id=a.id, limit=10_000)],
            "events": s.list_events(workspace_id=w.ws.id, limit=100_000)}


def test_seeding_writes_90_days_of_demo_history():
    from core.store import InMemoryPostStore
    w = world(InMemoryPostStore())
    store = w.store
    summary = seed(w)
    assert summary.seeded and summary.connected == 0
    assert (summary.posts, summary.deliveries, summary.snapshots, summary.account_snapshots, summary.events) == \
        (174, 174, 11948, 270, 475)
    assert summary.planted == "Tuesdays and Thursdays, 18:00–19:00 (Europe/Berlin)"
    rows = everything(w)
    assert len(rows["posts"]) == 174 and len(rows["deliveries"]) == 174 and len(rows["snapshots"]) == 11948
    assert len(rows["followers"]) == 270 and len(rows["events"]) == 475
    assert all(p.is_demo for p in rows["posts"]) and all(s.is_demo for s in rows["snapshots"])
    assert all(s.is_demo for s in rows["followers"])
    # 90 days back from now, nothing after it; published with small lateness, a few retries and failures.
    published = [d for d in rows["deliveries"] if d.state == DeliveryState.PUBLISHED]
    failed = [d for d in rows["deliveries"] if d.state == DeliveryState.FAILED]
    assert (len(published), len(failed)) == (169, 5)
    assert {d.last_error_code for d in failed} <= {"2207009", "DUPLICATE_POST", "duplicate"}
    assert min(d.published_at for d in published) >= T0 - timedelta(days=90)
    assert max(d.published_at for d in published) < T0
    assert sum(d.attempts - 1 for d in published) == 13
    assert all(timedelta(0) < d.published_at - d.due_at < timedelta(minutes=7) for d in published)
    statuses = collections.Counter(store.get_post_status(p.id) for p in rows["posts"])
    assert statuses == {PostStatus.PUBLISHED: 169, PostStatus.FAILED: 5}
    assert sum(p.is_ai_generated for p in rows["posts"]) == 59
    actions = collections.Counter(e.action for e in rows["events"])
    assert (actions["post.approved"], actions["post.rejected"]) == (80, 17)
    # Content types and hashtags vary; media on the emulator's media server.
    media = [u for p in rows["posts"] for u in p.media_urls]
    assert all(u.startswith("http://127.0.0.1:9/_media/sample.") for u in media)
    assert any(".mp4" in u for u in media) and any(len(p.media_urls) >= 3 for p in rows["posts"])
    assert any(not p.media_urls for p in rows["posts"]) and all(p.hashtags for p in rows["posts"])
    # Snapshots on the runner's schedule: hourly for 48 h, then daily to 30 days, none after now.
    by_delivery = collections.defaultdict(list)
    for snap in rows["snapshots"]:
        by_delivery[snap.delivery_id].append(snap.taken_at)
    assert set(by_delivery) == {d.id for d in published}
    for d in published:
        assert sorted(by_delivery[d.id]) == pull_times(d.published_at, T0)
    old = next(d for d in published if T0 - d.published_at > timedelta(days=31))
    assert len(by_delivery[old.id]) == 48 + 28
    # Followers: one count a day per account, growing.
    for a in w.accounts:
        counts = [s.followers for s in sorted(store.list_account_snapshots(account_id=a.id), key=lambda s: s.taken_at)]
        assert len(counts) == 90 and counts[-1] > counts[0]


def history(w) -> dict:
    """The workspace's demo history without its generated ids, in a stable order (to compare stores)."""
    rows = everything(w)
    by_id = {p.id: p for p in rows["posts"]}
    deliveries = {d.post_id: d for d in rows["deliveries"]}
    posts = sorted(((p.due_at, p.accounts[0].id, p.caption, p.hashtags, p.media_urls, p.is_ai_generated, p.is_demo,
                     p.state.value, w.store.get_post_status(p.id).value, p.rejection_reason,
                     (d.state.value, d.attempts, d.published_at, d.external_id, d.external_url, d.last_error_code)
                     if (d := deliveries.get(p.id)) else None) for p in rows["posts"]), key=repr)
    snapshots = sorted(((by_id[x.post_id].due_at, x.account_id, x.taken_at, dict(x.metrics), dict(x.raw), x.is_demo)
                        for x in rows["snapshots"]), key=repr)
    followers = sorted(((x.account_id, x.taken_at, x.followers, x.is_demo) for x in rows["followers"]), key=repr)
    return {"posts": posts, "snapshots": snapshots, "followers": followers,
            "events": sorted(((e.action, e.at, e.actor, e.reason) for e in rows["events"]), key=repr)}


def test_every_store_keeps_the_same_history(store):
    """SQLite and PostgreSQL give back exactly what the memory store holds: every field, every demo mark."""
    from core.store import InMemoryPostStore
    reference = world(InMemoryPostStore())
    seed(reference, days=SHORT)
    w = world(store)
    seed(w, days=SHORT)
    got, want = history(w), history(reference)
    assert (len(got["posts"]), len(got["snapshots"]), len(got["followers"]), len(got["events"])) == (44, 2351, 63, 123)
    assert got == want


def test_each_platform_has_the_metrics_its_api_reports():
    """The keys a real snapshot of that platform has (core.platforms.metric_names): X counts no reach, LinkedIn
    members no saves, Bluesky no views, YouTube (videos only) no shares; video views only on videos."""
    from core.store import InMemoryPostStore
    w = world(InMemoryPostStore())
    for p in ("bluesky", "youtube"):
        w.store.save_account(Account(platform=p, handle="brand.example", workspace_id=w.ws.id, external_id=f"ext-{p}"))
    seed(w, days=SHORT)
    keys = collections.defaultdict(set)
    for snap in w.store.list_metric_snapshots(workspace_id=w.ws.id, limit=100_000):
        keys[snap.platform] |= set(snap.metrics)
    assert keys["instagram"] == {"views", "reach", "likes", "comments", "shares", "saves"}
    assert keys["linkedin"] == {"views", "reach", "likes", "comments", "shares"}
    assert keys["x"] == {"views", "likes", "comments", "shares", "saves", "clicks", "video_views"}
    assert keys["bluesky"] == {"likes", "comments", "shares"}
    assert keys["youtube"] == {"views", "video_views", "likes", "comments"}
    x_text = [snap for snap in w.store.list_metric_snapshots(workspace_id=w.ws.id, limit=100_000)
              if snap.platform == "x" and not any(".mp4" in u for u in w.store.get_post(snap.post_id).media_urls)]
    assert x_text and all("video_views" not in snap.metrics for snap in x_text)
    shown = x_text[0]
    public = shown.raw["public_metrics"]
    assert shown.metrics["shares"] == public["retweet_count"] + public["quote_count"]
    assert shown.metrics["views"] == shown.raw["non_public_metrics"]["impression_count"]


def best_cells(store, ws_id: str, tz: str):
    """(cells by average engagement rate, cells by average engagements relative to the account's median post),
    best first, among weekday-hour cells (local time) with at least three posts; a post's figures are its latest
    snapshot. Relative to the account, so that a big account posting more often at some hour does not make it."""
    import statistics
    latest = {}
    for snap in sorted(store.list_metric_snapshots(workspace_id=ws_id, limit=1_000_000), key=lambda s: s.taken_at):
        latest[snap.delivery_id] = snap
    posts = []
    for delivery_id, snap in latest.items():
        delivery = store.get_delivery(delivery_id)
        engagements = sum(snap.metrics.get(k, 0) for k in ("likes", "comments", "shares", "saves"))
        posts.append((delivery, engagements, snap.metrics.get("reach") or snap.metrics["views"]))
    typical = {a: statistics.median(e for d, e, _ in posts if d.account_id == a) for a in {d.account_id for d, _, _ in posts}}
    cells = collections.defaultdict(list)
    for delivery, engagements, basis in posts:
        local = delivery.published_at.astimezone(ZoneInfo(tz))
        if basis:           # a post minutes old may have reached nobody yet: no rate
            cells[(local.weekday(), local.hour)].append((engagements / basis,
                                                         engagements / max(typical[delivery.account_id], 1)))
    cells = {k: v for k, v in cells.items() if len(v) >= 3}
    by_rate = sorted(cells, key=lambda k: -sum(r for r, _ in cells[k]) / len(cells[k]))
    by_lift = sorted(cells, key=lambda k: -sum(e for _, e in cells[k]) / len(cells[k]))
    return by_rate, by_lift


@pytest.mark.parametrize("tz, now", [(BERLIN, T0), (BERLIN, T0 + timedelta(days=45, hours=7)),   # across DST
                                     ("America/New_York", T0 + timedelta(days=200))])
def test_the_planted_slot_is_the_best_in_the_data_in_the_workspaces_zone(tz, now):
    from core.store import InMemoryPostStore
    w = world(InMemoryPostStore(), tz)
    seed(w, now=now)
    by_rate, by_lift = best_cells(w.store, w.ws.id, tz)
    assert set(by_rate[:2]) == PLANTED == {(1, 18), (3, 18)}
    assert set(by_lift[:2]) == PLANTED


def test_the_store_writes_only_demo_rows_of_the_workspace_and_only_once(store):
    from dataclasses import replace
    w = world(store)
    other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    stranger = store.save_account(Account(platform="x", handle="other", workspace_id=other.id, id="a_other"))
    ig = w.accounts[0]
    post = Post(caption="Demo", accounts=(ig,), workspace_id=w.ws.id, id="post_d1", state=PostState.APPROVED,
                schedule=Schedule(scheduled_at=T0 - timedelta(days=1)), is_demo=True)
    follow = AccountSnapshot(account_id=ig.id, workspace_id=w.ws.id, platform="instagram", taken_at=T0, followers=10,
                             is_demo=True)
    write = lambda posts, followers=(follow,), **kw: store.add_demo_history(  # noqa: E731
        w.ws.id, posts=posts, account_snapshots=followers, **kw)
    with pytest.raises(ValueError, match="Post post_d1 is not marked as demo"):
        write([(replace(post, is_demo=False), [])])
    with pytest.raises(ValueError, match="follower counts; none were given"):
        write([(post, [])], followers=())
    with pytest.raises(ValueError, match="A metric snapshot is not marked as demo"):
        write([(post, [])], followers=(replace(follow, is_demo=False),))
    with pytest.raises(ValueError, match="delivery dlv_real, which is not part of this demo history"):
        write([(post, [])], snapshots=[MetricSnapshot(delivery_id="dlv_real", post_id="post_d1", account_id=ig.id,
                                                      workspace_id=w.ws.id, platform="instagram", external_id="1",
                                                      taken_at=T0, metrics={"likes": 1}, is_demo=True)])
    with pytest.raises(ValueError, match="not about a post or delivery of this demo history"):
        write([(post, [])], events=[ActivityEvent(action="post.approved", subject_type="post", subject_id="post_real",
                                                  at=T0, workspace_id=w.ws.id)])
    with pytest.raises(Exception, match="a_other is not connected in this workspace"):
        write([(replace(post, accounts=(stranger,)), [])])
    assert not store.has_demo_data(w.ws.id) and store.list_posts(workspace_id=w.ws.id) == []
    assert write([(post, [])]) is True
    assert write([(replace(post, id="post_d2"), [])]) is False          # already there: nothing written
    assert [p.id for p in store.list_posts(workspace_id=w.ws.id)] == ["post_d1"]
    assert store.get_post("post_d1").is_demo and not store.has_demo_data(other.id)


def test_seeding_twice_does_nothing(store):
    w = world(store)
    seed(w, days=SHORT)
    before = {k: len(v) for k, v in everything(w).items()}
    assert before == {"posts": 44, "deliveries": 44, "snapshots": 2351, "followers": 63, "events": 123}
    again = seed(w, now=T0 + timedelta(days=3))
    assert not again.seeded and again.posts == 0
    assert {k: len(v) for k, v in everything(w).items()} == before


def real_rows(w):
    """A real published post with its delivery, snapshot, follower count and event, in the same workspace."""
    ig = w.accounts[0]
    at = T0 - timedelta(days=2)
    post = Post(caption="Our real launch", accounts=(ig,), workspace_id=w.ws.id, id="post_real", state=PostState.APPROVED,
                schedule=Schedule(scheduled_at=at, timezone_name=BERLIN))
    delivery = Delivery(post_id=post.id, account_id=ig.id, platform=ig.platform, due_at=at, id="dlv_real",
                        state=DeliveryState.PUBLISHED, attempts=1, external_id="1790000000000001",
                        published_at=at + timedelta(seconds=3))
    w.store.add_post(post, [delivery], events=[ActivityEvent(action="post.scheduled", subject_type="post",
                                                             subject_id=post.id, at=at - timedelta(days=1),
                                                             actor=f"user:{w.owner.id}", workspace_id=w.ws.id)])
    w.store.add_metric_snapshots(
        [MetricSnapshot(delivery_id=delivery.id, post_id=post.id, account_id=ig.id, workspace_id=w.ws.id,
                        platform="instagram", external_id="1790000000000001", taken_at=T0 - timedelta(hours=1),
                        metrics={"views": 900, "reach": 700, "likes": 41})],
        [AccountSnapshot(account_id=ig.id, workspace_id=w.ws.id, platform="instagram", taken_at=T0 - timedelta(hours=1),
                         followers=5120)])


def test_removal_deletes_every_demo_row_and_no_real_one(store, clock):
    w = world(store)
    real_rows(w)
    summary = seed(w, days=SHORT)
    assert summary.seeded       # real snapshots do not stop the demo; only demo history does
    removed = remove_demo(store, actor=w.as_owner, workspace_id=w.ws.id, clock=clock)
    assert removed == summary.posts + summary.deliveries + summary.snapshots + summary.account_snapshots + summary.events
    rows = everything(w)
    assert [p.id for p in rows["posts"]] == ["post_real"] and [d.id for d in rows["deliveries"]] == ["dlv_real"]
    assert [(s.delivery_id, s.metrics["likes"], s.is_demo) for s in rows["snapshots"]] == [("dlv_real", 41, False)]
    assert [(s.followers, s.is_demo) for s in rows["followers"]] == [(5120, False)]
    assert [e.action for e in rows["events"]] == ["workspace.demo_removed", "post.scheduled"]
    assert rows["events"][0].actor == f"user:{w.owner.id}" and rows["events"][0].details["posts"] == 44
    assert store.get_post_status("post_real") == PostStatus.PUBLISHED
    assert all(a.status == "connected" for a in store.list_accounts(workspace_id=w.ws.id))   # not demo accounts
    assert remove_demo(store, actor=w.as_owner, workspace_id=w.ws.id) == 0


def test_removal_takes_the_follower_counts_of_the_demos_own_accounts_and_keeps_real_ones(store, clock):
    """Accounts the demo connected (meta["demo"]) get real follower pulls from the runner while the demo is there;
    removing the demo disconnects them and takes those counts too. A demo account a real post uses, and an account
    of the workspace's own, keep their real counts."""
    from dataclasses import replace as _replace
    w = world(store)
    ig, li, x = w.accounts
    for a in (li, x):                              # as if connected for the demo
        store.save_account(_replace(store.get_account(a.id), meta={DEMO_META_KEY: True}))
    seed(w, days=SHORT)
    pulled = lambda a, n: AccountSnapshot(account_id=a.id, workspace_id=w.ws.id, platform=str(a.platform),  # noqa: E731
                                          taken_at=T0 + timedelta(hours=n), followers=1000 + n)
    store.add_metric_snapshots([], [pulled(ig, 1), pulled(li, 1), pulled(li, 2), pulled(x, 1)])
    # a real post on the X demo account: it stays connected and keeps its counts
    store.add_post(Post(caption="Real one", accounts=(x,), workspace_id=w.ws.id, id="post_x",
                        schedule=Schedule(scheduled_at=T0 + timedelta(days=2)), state=PostState.APPROVED),
                   [Delivery(post_id="post_x", account_id=x.id, platform=x.platform, due_at=T0 + timedelta(days=2))])
    remove_demo(store, actor=w.as_owner, workspace_id=w.ws.id, clock=clock)
    left = {a.id: sorted((s.followers, s.is_demo) for s in store.list_account_snapshots(account_id=a.id))
            for a in w.accounts}
    assert left == {ig.id: [(1001, False)], li.id: [], x.id: [(1001, False)]}
    statuses = {a.id: a.status for a in store.list_accounts(workspace_id=w.ws.id)}
    assert (statuses[ig.id], statuses[li.id], statuses[x.id]) == ("connected", "revoked", "connected")
    removal = [e for e in store.list_events(workspace_id=w.ws.id) if e.action == "workspace.demo_removed"][0]
    assert removal.details["account_snapshots"] == 63 + 2     # the demo's 63 and the LinkedIn account's 2 pulls


def test_the_insights_pull_never_asks_the_platform_about_demo_posts(store):
    """The runner's metric schedule (core.store.metrics) skips demo posts, and demo follower counts do not stand in
    for a real pull: the demo accounts' followers are still asked for, and a real post is due as usual."""
    w = world(store)
    seed(w, days=SHORT)
    real_rows(w)
    due = lambda now: [d.id for d in store.deliveries_due_for_metrics(  # noqa: E731
        now, young_for=timedelta(hours=48), young_every=timedelta(hours=1), old_every=timedelta(days=1),
        max_age=timedelta(days=30))]
    # The real post (two days old, measured an hour before T0) is next due a day after that; no demo post ever is.
    assert due(T0 + timedelta(hours=2)) == [] and due(T0 + timedelta(days=1)) == ["dlv_real"]
    assert sorted(store.accounts_due_for_followers(T0 + timedelta(hours=2), every=timedelta(hours=6))) == \
        ["a_linkedin", "a_x"]                     # Instagram's real count was taken an hour before T0


def test_a_viewer_cannot_remove_or_seed_the_demo(store):
    w = world(store)
    seed(w, days=SHORT)
    with pytest.raises(PermissionDenied, match="Viewers cannot remove the demo data; ask an owner."):
        remove_demo(store, actor=w.as_viewer, workspace_id=w.ws.id)
    editor = store.add_user(User(email="editor@brand.test", id="u_editor"))
    store.set_membership(Membership(user_id=editor.id, workspace_id=w.ws.id, role=Role.EDITOR))
    with pytest.raises(PermissionDenied, match="Editors cannot remove the demo data; ask an owner."):
        remove_demo(store, actor=Actor.of(store, editor.id), workspace_id=w.ws.id)
    with pytest.raises(PermissionDenied, match="You are not a member of this workspace."):
        remove_demo(store, actor=Actor.for_user("u_stranger"), workspace_id=w.ws.id)
    assert demo_status(store, actor=w.as_viewer, workspace_id=w.ws.id) == "present"
    with pytest.raises(PermissionDenied, match="You are not a member of this workspace."):
        demo_status(store, actor=Actor.for_user("u_stranger"), workspace_id=w.ws.id)
    assert len(everything(w)["posts"]) == 44
    with pytest.raises(PermissionDenied, match="Viewers cannot write or change posts"):
        seed_demo(store, OFFLINE, actor=w.as_viewer, workspace_id="ws_brand", user_id=w.viewer.id, now=T0)


def test_status_goes_none_present_removed_and_removal_is_not_undone_by_itself(store):
    w = world(store)
    auto = lambda now: auto_seed_demo(store, OFFLINE, actor=w.as_owner, workspace_id=w.ws.id,  # noqa: E731
                                      user_id=w.owner.id, now=now, days=SHORT)
    assert demo_status(store, actor=w.as_owner, workspace_id=w.ws.id) == "none"
    assert auto_seed_demo(store, OFFLINE, actor=w.as_viewer, workspace_id=w.ws.id, user_id=w.viewer.id,
                          now=T0) is None                       # a viewer's first visit does not seed
    assert auto(T0).posts == 44
    assert demo_status(store, actor=w.as_owner, workspace_id=w.ws.id) == "present"
    assert auto(T0) is None
    remove_demo(store, actor=w.as_owner, workspace_id=w.ws.id)
    assert demo_status(store, actor=w.as_viewer, workspace_id=w.ws.id) == "removed"
    assert auto(T0 + timedelta(days=1)) is None
    assert everything(w)["posts"] == [] and demo_status(store, actor=w.as_owner, workspace_id=w.ws.id) == "removed"
    # Asked for explicitly, it comes back.
    assert seed(w, now=T0 + timedelta(days=1), days=SHORT).seeded
    assert demo_status(store, actor=w.as_owner, workspace_id=w.ws.id) == "present"


def test_no_auto_seed_where_metric_history_exists_or_outside_sandbox(store):
    w = world(store)
    real_rows(w)
    assert auto_seed_demo(store, OFFLINE, actor=w.as_owner, workspace_id=w.ws.id, user_id=w.owner.id, now=T0) is None
    live = Settings(sandbox=False)
    with pytest.raises(ValueError, match="only for sandbox mode"):
        seed_demo(store, live, actor=w.as_owner, workspace_id=w.ws.id, user_id=w.owner.id, now=T0)


def test_demo_accounts_are_connected_through_the_emulator_and_disconnected_with_the_demo(sandbox_emulator, tmp_path):
    """A workspace without accounts: three are connected through the emulator's consent flow, their follower
    series ends at what the emulator says now, and removing the demo disconnects them, except one that a real
    post now uses."""
    from core.db import make_engine, upgrade
    from core.db.sql_store import SqlPostStore
    from core.infra.secrets import TokenCipher
    from core.platforms.registry import build_adapter
    from core.services.connect import credentials
    import httpx
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=sandbox_emulator.url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, TokenCipher.generate())
    ws = store.add_workspace(Workspace(name="New", timezone_name=BERLIN))
    owner = store.add_user(User(email="new@brand.test"))
    store.set_membership(Membership(user_id=owner.id, workspace_id=ws.id, role=Role.OWNER))
    actor = Actor.of(store, owner.id)
    now = datetime.now(UTC)
    summary = seed_demo(store, settings, actor=actor, workspace_id=ws.id, user_id=owner.id, now=now, days=SHORT)
    assert summary.connected == 3
    accounts = store.list_accounts(workspace_id=ws.id)
    assert sorted((a.platform.value, a.handle.lstrip("@"), a.meta[DEMO_META_KEY]) for a in accounts) == \
        [("instagram", "demo_brand", True), ("linkedin", "Demo Brand", True), ("x", "demo_brand", True)]
    with httpx.Client(trust_env=False) as client:
        for a in accounts:
            told = build_adapter(a.platform, settings, client).account_metrics(credentials(a)).followers
            last = max(store.list_account_snapshots(account_id=a.id), key=lambda s: s.taken_at)
            assert abs(last.followers - told) <= max(3, told * 0.01)
    x = next(a for a in accounts if a.platform.value == "x")
    store.add_post(Post(caption="Real one", accounts=(x,), workspace_id=ws.id, id="post_mine",
                        schedule=Schedule(scheduled_at=now + timedelta(days=2)), state=PostState.APPROVED),
                   [Delivery(post_id="post_mine", account_id=x.id, platform=x.platform, due_at=now + timedelta(days=2))])
    remove_demo(store, actor=actor, workspace_id=ws.id)
    after = {a.platform.value: a for a in store.list_accounts(workspace_id=ws.id)}
    assert (after["instagram"].status, after["linkedin"].status, after["x"].status) == ("revoked", "revoked", "connected")
    assert after["instagram"].oauth_token is None and DEMO_META_KEY not in after["x"].meta
    events = [e for e in store.list_events(workspace_id=ws.id) if e.action == "account.disconnected"]
    assert len(events) == 2 and all(e.actor == f"user:{owner.id}" for e in events)
    engine.dispose()


def test_posts_page_and_calendar_show_the_published_demo_posts(tmp_path, monkeypatch):
    from core.services import calendar as cal
    from tests.page_harness import owner_world, page_opener
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        db.save_account(Account(platform="x", handle="brand", workspace_id=ws.id))
        now = datetime.now(UTC)
        summary = seed_demo(db, OFFLINE, actor=Actor.of(db, owner.id), workspace_id=ws.id, user_id=owner.id, now=now,
                            days=7)
        assert summary.posts >= 3
        posts = page_opener(db, ws.id, "../pages/posts.py")(owner)
        assert not posts.exception
        posts.segmented_control(key="posts_section").set_value("Past").run()     # published: in the past
        assert not posts.exception
        shown = posts.dataframe[0].value
        assert len(shown) == summary.posts
        assert not set(shown["link"].dropna()) - {""}      # demo history was never on a platform: no link to open
        calendar = page_opener(db, ws.id, "../pages/calendar.py")(owner)
        assert not calendar.exception
        local = now.astimezone(ZoneInfo(ws.timezone_name)).date()
        entries = []
        for anchor in {local, local - timedelta(days=7)}:       # this month and, early in a month, the last one
            start, end = cal.visible_range("Month", anchor, ws.timezone_name)
            entries += cal.calendar_entries(db, ws.id, start=start, end=end, actor=Actor.of(db, owner.id))
        assert len({e.post.id for e in entries}) == summary.posts and all(e.post.is_demo for e in entries)
        assert {e.status for e in entries} <= {PostStatus.PUBLISHED, PostStatus.FAILED}
        assert cal.to_events(entries, ws.timezone_name)


def test_the_analytics_engine_reads_the_demo_and_recommends_the_planted_slot(tmp_path):
    """End to end on SQLite: the DuckDB feed reads the demo, the best-time model recommends a planted slot
    (Thursday 18:00 Berlin, high confidence), the reliability panel sees the retries and failures; removing the
    demo empties it all again."""
    from core.analytics.best_time import recommend
    from core.analytics.engine import AnalyticsEngine
    from core.analytics.queries import QUERIES, Filters
    from core.db import make_engine, upgrade
    from core.db.sql_store import SqlPostStore
    from core.infra.secrets import TokenCipher
    url = f"sqlite:///{tmp_path / 'outpost.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    w = world(SqlPostStore(engine, TokenCipher.generate()))
    seed(w)
    analytics = AnalyticsEngine(url)
    try:
        analytics.refresh()
        f = Filters(workspace_id=w.ws.id, start=T0 - timedelta(days=90), end=T0, tz_name=BERLIN)
        posts = QUERIES["post_table"](analytics.cursor(), f)
        assert len(posts) == 169 and posts["is_demo"].all()
        settled = posts[posts["published_at"] < T0 - timedelta(days=2)]
        best = recommend(settled, BERLIN)
        assert ((best.slots[0].weekday, best.slots[0].hour), best.label) == ((3, 18), "high")   # Thursday 18:00
        reliability = QUERIES["reliability"](analytics.cursor(), f).iloc[0]
        assert (reliability["published"], reliability["failed"], reliability["retries"]) == (169, 5, 13)
        remove_demo(w.store, actor=w.as_owner, workspace_id=w.ws.id)
        assert analytics.refresh().rebuilt
        assert QUERIES["post_table"](analytics.cursor(), f).empty
    finally:
        analytics.close()
        engine.dispose()

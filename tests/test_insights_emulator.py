"""Metric pulls against the emulator over real HTTP, on its clock: YouTube's daily quota (a project's: every
YouTube account waits until midnight Pacific) and Graph's per-user call limit (one Instagram account waits for the
time Meta gives) stop only what they limit, the rest goes on, and what was skipped is pulled next time; a metric
the platform leaves out (X's private counts of a post past their window) is stored missing, not 0; and each
platform's normalisation table (core.platforms.metric_names) maps the emulator's real answer to what Outpost
stores, key by key."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.domain import Account, Delivery, Post, RenderedContent, Schedule
from core.domain.lifecycle import PostState
from core.platforms import metric_names
from core.platforms.base import MediaItem, PublishRequest
from core.platforms.registry import build_adapter
from core.services import insights, tokens
from core.services.connect import credentials
from core.services.insights import MetricSchedule, Pauses, PullResult
from tests.runner_helpers import make_world

sandbox = pytest.importorskip("sandbox")
from sandbox import meta as graph                                     # noqa: E402  (the emulator's Graph core)
from sandbox.state import Post as EmulatorPost, iso                   # noqa: E402

SCHEDULE = MetricSchedule()


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=11) as emulator:
        yield emulator


class World:
    """A SQLite store with connected sandbox accounts, adapters on the emulator's clock, and a pull that records."""

    def __init__(self, emu, tmp_path):
        self.emu = emu
        self.w = make_world(emu, tmp_path)
        self.store = self.w.store
        self.pauses = Pauses()
        self.adapters = {}

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.emu.now(), timezone.utc)

    def adapter(self, platform):
        key = str(getattr(platform, "value", platform))
        if key not in self.adapters:
            # On the emulator's clock; waiting (a container processing) moves it instead of taking real time.
            self.adapters[key] = build_adapter(key, self.w.settings, self.w.client, clock=self.clock,
                                               sleep=self.emu.advance)
        return self.adapters[key]

    def pull(self) -> PullResult:
        """The runner's tick: tokens that expire soon are refreshed (its token job), then what is due is pulled."""
        tokens.refresh_tokens(self.store, self.adapter, clock=self.clock)
        report = PullResult()
        insights.pull_insights(self.store, self.adapter, clock=self.clock, schedule=SCHEDULE, pauses=self.pauses,
                               report=report)
        return report

    def delivered(self, acct: Account, external_id: str) -> Delivery:
        """The store's record of a post the platform has under `external_id` (published now)."""
        now = self.clock()
        pid = f"post_{external_id[-12:]}_{acct.id[-6:]}"
        post = Post(caption=f"Post {external_id}", accounts=(acct,), workspace_id=self.w.workspace.id, id=pid,
                    schedule=Schedule(scheduled_at=now), state=PostState.APPROVED)
        self.store.add_post(post, [Delivery(post_id=pid, account_id=acct.id, platform=acct.platform, due_at=now)])
        [d] = self.store.get_deliveries(pid)
        d = self.store.update_delivery(d.start_publishing(runner_id="r", lease_until=now + timedelta(minutes=5)),
                                       expected_version=d.version)
        return self.store.update_delivery(d.mark_published(external_id=external_id, external_url=None, at=now),
                                          expected_version=d.version)

    def publish_text(self, acct: Account, text: str, media: tuple[MediaItem, ...] = ()) -> Delivery:
        content = RenderedContent(platform=acct.platform, text=text, caption=text, hashtags=(), media_urls=(),
                                  link="", title=None)
        result = self.adapter(acct.platform).publish(credentials(acct), PublishRequest(content, media=media))
        return self.delivered(acct, result.external_id)

    def calls(self, api: str) -> int:
        """Requests under a host and path ("www.googleapis.com", "api.x.com/2/tweets"): token refreshes aside."""
        return sum(1 for r in self.emu.state.requests if r["path"] == f"/{api}" or r["path"].startswith(f"/{api}/"))


@pytest.fixture
def world(emu, tmp_path):
    emu.reset(clock=True)
    w = World(emu, tmp_path)
    yield w
    w.w.client.close()
    w.store.engine.dispose()
    emu.config.update(sandbox.SandboxConfig().as_dict())      # a test's tightened setting ends with it


def seed_videos(emu, channel: str, n: int) -> list[str]:
    """Videos the channel uploaded earlier (as the emulator records an upload), so a pull has many to read."""
    now = emu.now()
    ids = [f"seedvid{i:04d}" for i in range(n)]
    for i, vid in enumerate(ids):
        emu.state.add_post(EmulatorPost(platform="youtube", account=channel, external_id=vid, text=f"Video {i}",
                                        media=[], received_at=iso(now), request_id="seed", published_at=now - 600,
                                        extra={"invalid": False, "privacyStatus": "public", "video": True}))
    return ids


def test_youtube_quota_used_up_waits_until_midnight_pacific_and_the_others_go_on(world):
    # Start at 10:00 Pacific, whatever the wall clock says: "an hour later" below must still be before midnight
    # Pacific (run between 07:00 and 08:00 UTC, the hour crossed the reset and the test failed).
    pacific = world.clock().astimezone(ZoneInfo("America/Los_Angeles"))
    ten = pacific.replace(hour=10, minute=0, second=0, microsecond=0)
    world.emu.advance(((ten if ten > pacific else ten + timedelta(days=1)) - pacific).total_seconds())
    yt, x = world.w.connect("youtube"), world.w.connect("x")
    videos = [world.delivered(yt, vid) for vid in seed_videos(world.emu, yt.external_id, 60)]
    tweets = [world.publish_text(x, f"Tweet number {n} about spring") for n in range(3)]
    # The project has used 9,999 of today's 10,000 units (Pacific day): one videos.list call is left.
    day = world.clock().astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat()
    world.emu.state.yt.units[("outpost-sandbox-youtube", day)] = 9999

    first = world.pull()
    midnight = datetime.combine(world.clock().astimezone(ZoneInfo("America/Los_Angeles")).date() + timedelta(days=1),
                                datetime.min.time(), tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(timezone.utc)
    assert first.paused == {"platform:youtube": midnight}
    pulled = {s.delivery_id for s in world.store.list_metric_snapshots(limit=1000)}
    # 50 videos read; the second call (10 ids) was refused with 403 quotaExceeded; the tweets all read.
    assert len(pulled & {d.id for d in videos}) == 50 and {d.id for d in tweets} <= pulled
    assert first.snapshots == 53 and first.calls == 2                        # 1 YouTube call + 1 X call
    assert world.store.list_account_snapshots(account_id=yt.id) == []         # followers wait for the reset too
    assert len(world.store.list_account_snapshots(account_id=x.id)) == 1
    skipped = {d.id for d in videos} - pulled
    assert len(skipped) == 10

    # An hour later: YouTube is not asked at all before midnight Pacific (it would only refuse again and cost a
    # unit); X's tweets are due again and are read.
    youtube_calls = world.calls("www.googleapis.com")
    world.emu.advance(3600)
    later = world.pull()
    assert world.calls("www.googleapis.com") == youtube_calls and later.snapshots == 3

    # After midnight Pacific a new day's quota: the ten that were skipped are still due and are read first.
    world.emu.advance((midnight - world.clock()).total_seconds() + 60)
    after = world.pull()
    assert "platform:youtube" not in after.paused
    for d in videos:
        if d.id in skipped:
            [snap] = world.store.list_metric_snapshots(delivery_id=d.id)
            assert snap.taken_at > midnight and snap.metrics["views"] >= 0
    assert len(world.store.list_account_snapshots(account_id=yt.id)) == 1


def test_graph_user_call_limit_pauses_that_instagram_account_only(world):
    ig, other, x = world.w.connect("instagram"), world.w.connect("instagram"), world.w.connect("x")
    image = MediaItem(f"{world.emu.url}/_media/sample.jpg?w=1080&h=1350")
    posts = [world.publish_text(ig, f"Fresh loaves, batch {n}", (image,)) for n in range(3)]
    theirs = world.publish_text(other, "Croissants at eight", (image,))
    tweet = world.publish_text(x, "Open until six today")
    world.emu.advance(2 * 3600)                                               # metrics grow
    graph.limit_calls(world.emu.state, per_user=2, window_s=3600)            # 2 Graph calls per user per hour

    started = world.clock()
    first = world.pull()
    # The first account's third media insights call got Meta's (#17) User request limit reached (HTTP 400, with
    # X-Business-Use-Case-Usage saying when access comes back: 60 minutes); the other account and X go on.
    # (The emulator's clock runs with real time: the pull itself takes some milliseconds.)
    [(key, until)] = first.paused.items()
    assert key == f"account:{ig.id}"
    assert timedelta(minutes=60) <= until - started < timedelta(minutes=60, seconds=5)
    pulled = {s.delivery_id for s in world.store.list_metric_snapshots(limit=100)}
    assert pulled == {posts[0].id, posts[1].id, theirs.id, tweet.id}
    assert world.store.list_account_snapshots(account_id=ig.id) == []
    assert len(world.store.list_account_snapshots(account_id=other.id)) == 1
    refused = [r for r in world.emu.state.requests if r["platform"] == "instagram" and r["status"] == 400]
    assert len(refused) == 1

    # 30 minutes later: not asked (still limited); 61 minutes after the refusal: the skipped media is read.
    world.emu.advance(1800)
    calls = world.calls("graph.instagram.com")
    world.pull()
    assert world.calls("graph.instagram.com") == calls
    world.emu.advance(31 * 60)
    again = world.pull()
    [snap] = world.store.list_metric_snapshots(delivery_id=posts[2].id)
    assert snap.metrics.keys() == {"views", "reach", "likes", "comments", "shares", "saves"}
    # The skipped one went first (never pulled); the first two, due again by now, had one call of the budget left:
    # the one pulled longest ago got it, the other waits for the next hour's budget again.
    assert len(world.store.list_metric_snapshots(delivery_id=posts[0].id)) == 2
    assert len(world.store.list_metric_snapshots(delivery_id=posts[1].id)) == 1
    assert list(again.paused) == [f"account:{ig.id}"]


def test_a_metric_x_no_longer_gives_is_stored_missing_not_zero(world):
    x = world.w.connect("x")
    tweet = world.publish_text(x, "Last call for the spring sale")
    world.emu.advance(3 * 3600)
    # X gives a post's private counts (link clicks, the owner's impressions) only while it is young: here that
    # window is made shorter than the post's age, so X answers the private fields with an error beside the post.
    world.emu.configure(x_non_public_days=0.01)
    world.pull()
    [snap] = world.store.list_metric_snapshots(delivery_id=tweet.id)
    assert "clicks" not in snap.metrics                                       # not available, not 0
    assert snap.metrics["views"] == snap.raw["public_metrics"]["impression_count"] > 0
    assert "non_public_metrics" not in snap.raw


# ---------------------------------------------------------------- the normalisation table, platform by platform
# What Outpost must store for a post, from the emulator's own model of it (sandbox.insights: the counts behind every
# platform's answer) and the platform's documented names: each row is the platform's metric table read aloud.
def _reactions(m):
    from sandbox.facebook import _reactions as by_type          # Facebook answers likes as reactions by type
    return sum(by_type(m).values())


EXPECTED = {
    # views, reach, saved, likes, comments, shares
    "instagram": lambda m: {"views": m["views"], "reach": m["reach"], "saves": m["saves"], "likes": m["likes"],
                            "comments": m["comments"], "shares": m["shares"]},
    # post_media_view, post_total_media_view_unique, post_reactions_by_type_total (summed), post_clicks
    "facebook": lambda m: {"views": m["views"], "reach": m["reach"], "likes": _reactions(m), "clicks": m["clicks"]},
    # views, likes, replies; reposts + quotes + shares
    "threads": lambda m: {"views": m["views"], "likes": m["likes"], "comments": m["comments"],
                          "shares": m["shares"] + m["quotes"] + m["saves"] // 2},
    # the owner's impression_count, like, reply, retweet + quote, bookmark, url_link_clicks
    "x": lambda m: {"views": m["impressions"], "likes": m["likes"], "comments": m["comments"],
                    "shares": m["shares"] + m["quotes"], "saves": m["bookmarks"], "clicks": m["clicks"]},
    # view_count (also video_views), like_count, comment_count, share_count
    "tiktok": lambda m: {"views": m["views"], "video_views": m["views"], "likes": m["likes"],
                         "comments": m["comments"], "shares": m["shares"]},
    # viewCount (also video_views), likeCount, commentCount: no reach, no shares
    "youtube": lambda m: {"views": m["views"], "video_views": m["views"], "likes": m["likes"],
                          "comments": m["comments"]},
    # a member's post: IMPRESSION, MEMBERS_REACHED, REACTION, COMMENT, RESHARE
    "linkedin": lambda m: {"views": m["impressions"], "reach": m["reach"], "likes": m["likes"],
                           "comments": m["comments"], "shares": m["shares"]},
    # likeCount, replyCount, repostCount + quoteCount: Bluesky counts no views
    "bluesky": lambda m: {"likes": m["likes"], "comments": m["comments"], "shares": m["shares"] + m["quotes"]},
    # favourites_count, replies_count, reblogs_count + quotes_count: no views either
    "mastodon": lambda m: {"likes": m["likes"], "comments": m["comments"], "shares": m["shares"] + m["quotes"]},
}


def test_each_platform_table_maps_the_real_answer(world):
    """One post on each platform, read 20 days on through the runner's pull: stored exactly as the table says."""
    from sandbox import insights as model
    delivered = {}
    for platform in EXPECTED:
        acct = world.w.connect(platform)
        if platform == "youtube":
            [vid] = seed_videos(world.emu, acct.external_id, 1)
            delivered[platform] = (acct, world.delivered(acct, vid))
        elif platform in ("instagram", "tiktok"):           # a picture (TikTok: a photo post of two)
            pictures = (MediaItem(f"{world.emu.url}/_media/sample.jpg?w=1080&h=1350"),) * (1 + (platform == "tiktok"))
            delivered[platform] = (acct, world.publish_text(acct, f"Spring menu on {platform}", pictures))
        else:
            delivered[platform] = (acct, world.publish_text(acct, f"Spring menu on {platform}"))
    # 20 days on, every counter is at its final value (the emulator's growth curve has flattened), so the model
    # read below and the platform's answer agree to the unit; X still gives its private counts (30 days).
    world.emu.advance(20 * 86400)
    report = world.pull()
    assert report.snapshots == len(EXPECTED) and report.followers == len(EXPECTED) and not report.skipped
    wrong = {}
    for platform, (acct, d) in delivered.items():
        [snap] = world.store.list_metric_snapshots(delivery_id=d.id)
        post = world.emu.state.find_post(platform, d.external_id)
        expected = EXPECTED[platform](model.post_metrics(world.emu.state, post))
        # The same table read again over the raw answer the snapshot keeps gives the same figures.
        table = metric_names.table(platform, "member" if platform == "linkedin" else "post")
        again = table.normalise(metric_names.flatten(snap.raw) if platform == "x" else snap.raw)
        if snap.metrics != expected or again != expected:
            wrong[platform] = (snap.metrics, again, expected)
        [followers] = world.store.list_account_snapshots(account_id=acct.id)
        assert followers.followers and followers.followers > 0, platform
    assert wrong == {}


def test_meaning_changes_are_dated():
    from datetime import date
    assert metric_names.meaning("instagram", "views", date(2025, 4, 20)).startswith("the times it was on screen")
    assert metric_names.meaning("instagram", "views", date(2025, 4, 21)).startswith("every time the post was shown")
    assert metric_names.meaning("facebook", "reach", date(2026, 1, 1)).endswith("(`post_total_media_view_unique`)")
    assert metric_names.meaning("x", "views", date(2025, 1, 1)) is None                  # never changed
    assert [c.on for c in metric_names.changes_between("facebook", "views", date(2025, 1, 1), date(2025, 12, 31))] \
        == [date(2025, 11, 15)]
    # Nothing maps to a name Outpost does not have, and nothing maps a deprecated name.
    asked = {n for t in metric_names.TABLES.values() for n in t.names}
    assert not asked & {"impressions", "plays", "video_views", "post_impressions", "post_impressions_unique"}


def test_x_rate_limit_window_pauses_that_account_until_its_reset(world):
    x, masto = world.w.connect("x"), world.w.connect("mastodon")
    tweet = world.publish_text(x, "Doors open at nine")
    toot = world.publish_text(masto, "Doors open at nine, fediverse")
    # One post lookup per user per window, and a window of two hours (X's is 15 minutes, 900 lookups).
    world.emu.configure(x_read_limit=1, x_window_s=7200)
    first = world.pull()
    assert first.snapshots == 2 and first.paused == {}
    window_ends = max(w[0] for (user, key), w in world.emu.state.x.windows.items() if key == "tweets_read") + 7200

    world.emu.advance(3600)                                 # both due again; X answers 429 for this user
    second = world.pull()
    reset = datetime.fromtimestamp(int(window_ends), timezone.utc)      # from x-rate-limit-reset, whole seconds
    assert second.paused == {f"account:{x.id}": reset}
    assert len(world.store.list_metric_snapshots(delivery_id=toot.id)) == 2       # Mastodon went on
    assert len(world.store.list_metric_snapshots(delivery_id=tweet.id)) == 1

    calls = world.calls("api.x.com/2/tweets")
    world.emu.advance(1800)                                 # still inside the window: X is not asked
    world.pull()
    assert world.calls("api.x.com/2/tweets") == calls
    world.emu.advance(1860)                                 # past the reset: the tweet is read again
    world.pull()
    assert len(world.store.list_metric_snapshots(delivery_id=tweet.id)) == 2


@pytest.mark.parametrize("platform", ["facebook", "linkedin"])
def test_a_deleted_post_is_not_read_as_zeros_and_the_account_goes_on(world, platform):
    fb = world.w.connect(platform)
    kept = world.publish_text(fb, "Lunch specials this week")
    gone = world.publish_text(fb, "Typo in this one")
    world.emu.advance(3 * 3600)
    # Deleted on the platform itself: Graph answers its insights with (#100) Unsupported get request, LinkedIn
    # the member's post analytics with 404 RESOURCE_NOT_FOUND.
    world.emu.state.find_post(platform, gone.external_id).deleted = True
    report = world.pull()
    assert report.skipped == set() and report.unanswered == 1
    assert world.store.list_metric_snapshots(delivery_id=gone.id) == []          # no row of zeros
    [snap] = world.store.list_metric_snapshots(delivery_id=kept.id)
    assert snap.metrics["views"] > 0
    assert len(world.store.list_account_snapshots(account_id=fb.id)) == 1        # its followers too

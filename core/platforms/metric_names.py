"""Which platform metric becomes which of Outpost's metric names: one table per platform, read by every adapter.

Outpost stores a post's metrics under a few normalised keys (`METRIC_KEYS`: views, reach, likes, comments,
shares, saves, clicks, video_views) and keeps the platform's own names beside them in `raw`. Each key comes
from one or more of the platform's names:

- "sum": the key is the sum of those the platform reported (Threads' shares = reposts + quotes + shares);
- "first": the first one reported wins (X's views: the owner's impression count, else the public one).

A key none of whose names the platform reported is left out: **missing, never 0**. A platform that hides a
count (YouTube likes on a video whose owner hid them), an old instance without a newer counter, a post too old
for private metrics: all stay "not available", so an average is not dragged down by zeros that were never said.
Breakdown objects (Facebook's reactions by type) are summed.

Where a platform changed what a series means, `CHANGES` says from when it means what, so `views` stays
comparable over time and the analytics can say where a series changes meaning (`meaning(...)`).
Sources: ../shared/platform-api-facts.md (§1.7 Instagram, §2.5 Facebook, §3 LinkedIn, §4.6 X, §5 TikTok,
§6.6 YouTube, §7.4 Threads, §8.4 Bluesky, §9 Mastodon).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from core.platforms.base import METRIC_KEYS


@dataclass(frozen=True)
class MetricTable:
    """One platform's (or one of its object kinds') names for each normalised key, and how many ids one metrics
    call takes (`batch`: 1 where the platform's insights edge takes a single object)."""

    platform: str
    batch: int
    keys: Mapping[str, tuple[str, ...]]
    combine: Mapping[str, str] = field(default_factory=dict)        # key -> "sum" (default) or "first"
    kind: str = "post"
    followers: tuple[str, ...] = ()                                 # the account's follower count, first reported

    def __post_init__(self):
        unknown = set(self.keys) - set(METRIC_KEYS)
        if unknown:
            raise ValueError(f"{self.platform}: not Outpost metric names: {sorted(unknown)}")

    @property
    def names(self) -> tuple[str, ...]:
        """Every platform name this table reads, in order, once (what to ask the platform for)."""
        return tuple(dict.fromkeys(n for names in self.keys.values() for n in names))

    def normalise(self, raw: Mapping[str, Any]) -> dict[str, int]:
        """The platform's values by its own names -> Outpost's keys; a key with no reported name is left out."""
        out: dict[str, int] = {}
        for key, names in self.keys.items():
            present = [count(raw[n]) for n in names if n in raw and raw[n] is not None]
            present = [v for v in present if v is not None]
            if not present:
                continue
            out[key] = present[0] if self.combine.get(key) == "first" else sum(present)
        return out

    def follower_count(self, raw: Mapping[str, Any]) -> int | None:
        for name in self.followers:
            value = count(raw.get(name))
            if value is not None:
                return value
        return None


def count(value: Any) -> int | None:
    """A reported count as an integer: "12" (YouTube's strings) -> 12, breakdowns ({"like": 3, "love": 1}) summed;
    None when nothing usable was reported."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        parts = [count(v) for v in value.values()]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts else None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"public_metrics": {"like_count": 3}} -> {"public_metrics.like_count": 3} (X's nested answers)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and k.endswith("_metrics"):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


TABLES: dict[tuple[str, str], MetricTable] = {(t.platform, t.kind): t for t in (
    # GET /{ig-media-id}/insights?metric=... (one media per call). `impressions`, `plays` and `video_views` are gone
    # (v22.0; every version from 2025-04-21): `views` counts every time the media was shown or played.
    MetricTable("instagram", batch=1, keys={
        "views": ("views",), "reach": ("reach",), "saves": ("saved",), "likes": ("likes",), "comments": ("comments",),
        "shares": ("shares",)}, followers=("followers_count",)),
    # GET /{page-post-id}/insights (one post per call). Impression metrics became media-view ones on 2025-11-15.
    MetricTable("facebook", batch=1, keys={
        "views": ("post_media_view",), "reach": ("post_total_media_view_unique",),
        "likes": ("post_reactions_by_type_total",), "clicks": ("post_clicks",)}, followers=("followers_count",)),
    # GET /{video-id}/video_insights: a video has no insights edge; reels answer only fb_reels_total_plays.
    MetricTable("facebook", batch=1, kind="video", keys={
        "views": ("total_video_views", "fb_reels_total_plays"),
        "video_views": ("total_video_views", "fb_reels_total_plays"),
        "likes": ("total_video_reactions_by_type_total",)},
        combine={"views": "first", "video_views": "first"}, followers=("followers_count",)),
    # GET /{threads-media-id}/insights (one per call). Every way Threads counts passing a post on is a share.
    MetricTable("threads", batch=1, keys={
        "views": ("views",), "likes": ("likes",), "comments": ("replies",),
        "shares": ("reposts", "quotes", "shares")}, followers=("followers_count",)),
    # GET /2/tweets?ids= (100 a call). non_public_metrics exist only for the owner's posts up to 30 days old.
    MetricTable("x", batch=100, keys={
        "views": ("non_public_metrics.impression_count", "public_metrics.impression_count"),
        "likes": ("public_metrics.like_count",), "comments": ("public_metrics.reply_count",),
        "shares": ("public_metrics.retweet_count", "public_metrics.quote_count"),
        "saves": ("public_metrics.bookmark_count",), "clicks": ("non_public_metrics.url_link_clicks",),
        "video_views": ("media.view_count",)},
        combine={"views": "first"}, followers=("followers_count",)),
    # POST /v2/video/query/ (20 ids a call).
    MetricTable("tiktok", batch=20, keys={
        "views": ("view_count",), "video_views": ("view_count",), "likes": ("like_count",),
        "comments": ("comment_count",), "shares": ("share_count",)}, followers=("follower_count",)),
    # videos.list?part=statistics&id= (50 ids a call, 1 quota unit). Counts arrive as strings; a hidden one is absent.
    MetricTable("youtube", batch=50, keys={
        "views": ("viewCount",), "video_views": ("viewCount",), "likes": ("likeCount",),
        "comments": ("commentCount",)}, followers=("subscriberCount",)),
    # organizationalEntityShareStatistics (20 posts a call).
    MetricTable("linkedin", batch=20, keys={
        "views": ("impressionCount",), "reach": ("uniqueImpressionsCount",), "clicks": ("clickCount",),
        "likes": ("likeCount",), "comments": ("commentCount",), "shares": ("shareCount",)},
        followers=("firstDegreeSize",)),
    # memberCreatorPostAnalytics, one queryType per call for one post.
    MetricTable("linkedin", batch=1, kind="member", keys={
        "views": ("IMPRESSION",), "reach": ("MEMBERS_REACHED",), "likes": ("REACTION",), "comments": ("COMMENT",),
        "shares": ("RESHARE",)}, followers=("memberFollowersCount",)),
    # app.bsky.feed.getPosts (25 uris a call). No views: Bluesky counts none.
    MetricTable("bluesky", batch=25, keys={
        "likes": ("likeCount",), "comments": ("replyCount",), "shares": ("repostCount", "quoteCount")},
        followers=("followersCount",)),
    # GET /api/v1/statuses?id[]= (20 a call; 4.3+). quotes_count exists from Mastodon 4.5 only.
    MetricTable("mastodon", batch=20, keys={
        "likes": ("favourites_count",), "comments": ("replies_count",), "shares": ("reblogs_count", "quotes_count")},
        followers=("followers_count",)),
)}


def table(platform: str, kind: str = "post") -> MetricTable:
    return TABLES[(str(platform), kind)]


def batch_size(platform: str) -> int:
    """How many of the platform's ids one metrics call takes (the service batches by it)."""
    return table(platform).batch


# A limit of the whole app or API project, not of one account: every account of the platform waits for its reset.
# YouTube's daily quota is the project's; Graph's code 4 is the app's ("Application request limit reached").
_APP_WIDE_LIMITS = {"youtube": {"quotaExceeded", "dailyLimitExceeded"}, "instagram": {"4"}, "facebook": {"4"},
                    "threads": {"4"}}
# Platform answers that mean "this account (or app) made too many calls" even where the adapter does not flag
# them rate_limited (YouTube's quota and rate-limit reasons).
_LIMIT_CODES = {"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded"}


def limits_whole_app(platform: str, code: object) -> bool:
    """Whether a limit answer with this error code holds back every account of the platform, not just one."""
    return str(code or "").split("/")[0] in _APP_WIDE_LIMITS.get(str(platform), ())


def is_limit_code(code: object) -> bool:
    """Whether the error code says "too many calls" even where the adapter did not flag it rate limited."""
    return str(code or "") in _LIMIT_CODES


@dataclass(frozen=True)
class SeriesChange:
    """From `on`, the platform's figure behind `key` means `after`; before, it meant `before`."""

    platform: str
    key: str
    on: date
    before: str
    after: str
    source: str


CHANGES: tuple[SeriesChange, ...] = (
    SeriesChange("instagram", "views", date(2025, 4, 21),
                 before="the times it was on screen (`impressions`; reels: `plays`)",
                 after="every time the post was shown or played, replays included (`views`)",
                 source="Instagram media insights: impressions, plays and video_views deprecated in v22.0 and for "
                        "every version on 2025-04-21"),
    SeriesChange("facebook", "views", date(2025, 11, 15),
                 before="the times it was on screen (`post_impressions`)",
                 after="the times its media was viewed (`post_media_view`)",
                 source="Meta, Page Insights API updates (2025-08-15): impression metrics replaced by views ones "
                        "on 2025-11-15"),
    SeriesChange("facebook", "reach", date(2025, 11, 15),
                 before="the people it was shown to (`post_impressions_unique`)",
                 after="the people who viewed its media (`post_total_media_view_unique`)",
                 source="Facebook deprecated-metrics page: post_impressions_unique -> post_total_media_view_unique"),
)


def meaning(platform: str, key: str, on: date) -> str | None:
    """What `key` meant for `platform` on day `on`, where the platform changed it (else None: it never changed)."""
    changes = sorted((c for c in CHANGES if c.platform == str(platform) and c.key == key), key=lambda c: c.on)
    if not changes:
        return None
    current = changes[0].before
    for c in changes:
        if on >= c.on:
            current = c.after
    return current


def changes_between(platform: str, key: str, start: date, end: date) -> list[SeriesChange]:
    """The changes of meaning within [start, end]: where a chart should mark that the series changes meaning."""
    return [c for c in CHANGES if c.platform == str(platform) and c.key == key and start <= c.on <= end]

"""Deterministic metrics that grow after publication.

A post's final numbers come from the seed, the platform and the post id (its "quality"),
the account's audience, and when it was published: a weekday and hour-of-day table
(UTC) gives real signal for best-time analytics. The numbers approach their final
values along a saturating curve, 1 - exp(-age / 18 h), so about 98% is reached by 72 h.
Every counter is final * progress, floored, so it never goes down as the clock moves.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timezone

# Monday .. Sunday
WEEKDAY_FACTOR = (1.00, 1.08, 1.14, 1.10, 1.02, 0.82, 0.76)
# 00h .. 23h UTC: a morning peak and a larger evening one.
HOUR_FACTOR = (0.40, 0.30, 0.25, 0.22, 0.25, 0.35, 0.55, 0.80, 1.00, 1.12, 1.10, 1.05,
               1.10, 1.05, 0.95, 0.90, 0.95, 1.05, 1.22, 1.35, 1.30, 1.05, 0.80, 0.55)
GROWTH_TAU_H = 18.0


def _rng(*key: object) -> random.Random:
    return random.Random(":".join(map(str, key)))


def timing_factor(published_at: float) -> float:
    moment = datetime.fromtimestamp(published_at, timezone.utc)
    return WEEKDAY_FACTOR[moment.weekday()] * HOUR_FACTOR[moment.hour]


def progress(age_s: float) -> float:
    if age_s <= 0:
        return 0.0
    return 1.0 - math.exp(-(age_s / 3600.0) / GROWTH_TAU_H)


def followers(seed: int, platform: str, account_id: str, created_at: float, now: float, posts: int = 0) -> int:
    """An account's follower count: a stable base, slow growth, and a little for each post."""
    r = _rng(seed, "followers", platform, account_id)
    base = math.exp(r.uniform(math.log(300), math.log(25000)))
    daily = base * r.uniform(0.0005, 0.003)
    days = max(0.0, (now - created_at) / 86400.0)
    return int(base + daily * days + 4 * posts)


def following(seed: int, platform: str, account_id: str) -> int:
    return int(_rng(seed, "following", platform, account_id).uniform(80, 900))


def final_metrics(seed: int, platform: str, post_id: str, published_at: float, audience: int,
                  video: bool = False, *, timing: float | None = None, appeal: float = 1.0) -> dict[str, float]:
    """A post's final numbers. `timing` replaces the UTC weekday/hour factor on reach (the demo history plants
    its pattern in the workspace's own zone); `appeal` multiplies what people do with the post (likes, and the
    comments, shares and saves that follow them), so it moves the engagement rate, not only the reach."""
    r = _rng(seed, "post", platform, post_id)
    quality = r.lognormvariate(0.0, 0.45)
    timing = timing_factor(published_at) if timing is None else timing
    reach = max(audience, 50) * r.uniform(0.15, 0.45) * quality * timing
    views = reach * r.uniform(1.25, 1.9)
    likes = reach * r.uniform(0.025, 0.09) * appeal
    comments = likes * r.uniform(0.03, 0.12)
    shares = likes * r.uniform(0.04, 0.20)
    saves = likes * r.uniform(0.05, 0.25)
    clicks = reach * r.uniform(0.005, 0.03)
    return {
        "views": views, "impressions": views, "reach": reach, "likes": likes, "comments": comments,
        "shares": shares, "saves": saves, "clicks": clicks, "profile_visits": reach * r.uniform(0.004, 0.02),
        "follows": reach * r.uniform(0.0005, 0.004), "bookmarks": saves * 0.6, "quotes": shares * 0.3,
        "video_views": views * r.uniform(0.6, 0.9) if video else 0.0,
        "watch_time_s": views * r.uniform(4.0, 25.0) if video else 0.0,
    }


def metrics_at(seed: int, platform: str, post_id: str, published_at: float, now: float, audience: int,
               video: bool = False) -> dict[str, int]:
    """The post's counters at `now` (all zero before publication)."""
    p = progress(now - published_at)
    return {k: int(v * p) for k, v in final_metrics(seed, platform, post_id, published_at, audience, video).items()}


def post_metrics(st, post, now: float | None = None) -> dict[str, int]:
    """Metrics of a recorded Post from the emulator state (audience = the account's followers)."""
    now = st.now() if now is None else now
    account = st.account(post.platform, post.account) or st.account(post.extra.get("account_platform", ""),
                                                                     post.account)
    created = account.created_at if account else post.published_at
    audience = followers(st.seed, post.platform, post.account, created, post.published_at)
    return metrics_at(st.seed, post.platform, post.external_id, post.published_at, now, audience,
                      video=bool(post.extra.get("video")))


def account_followers(st, platform: str, account_id: str, now: float | None = None) -> int:
    now = st.now() if now is None else now
    account = st.account(platform, account_id)
    created = account.created_at if account else now
    return followers(st.seed, platform, account_id, created, now, len(st.live_posts(platform, account_id)))

"""The platform declarations match ../shared/platform-api-facts.md."""
from __future__ import annotations

import pytest

from core.domain.errors import UnknownPlatformError
from core.domain.catalog import PRIMARY_PLATFORMS, Platform
from core.rules.limits import GIF, JPEG, LIMITS, MB, MOV, MP4, PNG, WEBM, WEBP, PlatformLimits, limits_for

IG, FB, LI, X, TT, YT = (Platform.INSTAGRAM, Platform.FACEBOOK, Platform.LINKEDIN, Platform.X, Platform.TIKTOK,
                         Platform.YOUTUBE)


@pytest.mark.parametrize("platform", list(Platform))
def test_every_platform_has_a_declaration(platform):
    limits = LIMITS[platform]
    assert isinstance(limits, PlatformLimits)
    assert limits.platform is platform
    assert limits.text_max > 0 and limits.media_max > 0
    assert limits.daily_cap >= 1


@pytest.mark.parametrize("value, expected", [
    (Platform.X, X),          # the enum itself
    ("instagram", IG),        # a slug
    ("Twitter", X),           # an old name
    ("LinkedIn", LI),         # a label
])
def test_limits_for_parses_the_platform(value, expected):
    assert limits_for(value) is LIMITS[expected]


def test_limits_for_an_unknown_platform_is_a_clear_error():
    with pytest.raises(UnknownPlatformError, match="not a platform Outpost supports"):
        limits_for("myspace")


@pytest.mark.parametrize("platform, field, expected", [
    # Instagram, §1.4
    (IG, "text_max", 2200),                      # caption 2200 chars
    (IG, "hashtags_max", 5),                     # Dec 2025 reduction (was 30)
    (IG, "mentions_max", 20),                    # 20 @-mentions
    (IG, "media_max", 10),                       # carousel up to 10
    (IG, "image_types", frozenset({JPEG})),      # JPEG only
    (IG, "image_max_bytes", 8 * MB),             # 8 MB
    (IG, "video_types", frozenset({MP4, MOV})),  # reels: MOV/MP4
    (IG, "video_min_s", 3),                      # reels: 3 s ...
    (IG, "video_max_s", 15 * 60),                # ... to 15 min
    (IG, "video_max_bytes", 300 * MB),           # 300 MB vs 1 GB: the stricter
    (IG, "requires_media", True),                # no text-only posts
    # Facebook Page, §2.3
    (FB, "text_max", 63_206),                    # postiz maxLength
    (FB, "images_max", 10),                      # up to 10 photos
    (FB, "videos_max", 1),                       # or 1 video
    (FB, "image_types", frozenset({JPEG, PNG})),  # "saved as JPG, PNG"
    (FB, "image_max_bytes", 4 * MB),             # "smaller than 4 MB"
    # LinkedIn, §3.4
    (LI, "text_max", 3000),                      # commentary 3000
    (LI, "images_max", 20),                      # multiImage up to 20
    (LI, "videos_max", 1),                       # one video
    (LI, "image_types", frozenset({JPEG, GIF, PNG})),  # JPG, GIF, PNG
    (LI, "video_types", frozenset({MP4})),       # MP4
    (LI, "video_min_s", 3),                      # 3 s ...
    (LI, "video_max_s", 30 * 60),                # ... to 30 min
    (LI, "video_max_bytes", 500 * MB),           # 500 MB
    # X, §4.3
    (X, "text_max", 280),                        # 280 weighted
    (X, "text_counting", "x_weighted"),          # twitter-text v3
    (X, "images_max", 4),                        # 4 photos
    (X, "videos_max", 1),                        # or 1 video
    (X, "image_types", frozenset({JPEG, PNG, GIF, WEBP})),  # JPG, PNG, GIF, WEBP
    (X, "image_max_bytes", 5 * MB),              # 5 MB
    (X, "video_types", frozenset({MP4, MOV})),   # MP4/MOV
    (X, "video_min_s", 0.5),                     # 0.5 s ...
    (X, "video_max_s", 20 * 60),                 # ... to 20 min (default accounts)
    # TikTok, §5.2 and §5.3
    (TT, "text_max", 2200),                      # video title 2200 UTF-16 runes
    (TT, "text_counting", "utf16"),              # runes
    (TT, "title_max", 90),                       # photo title 90
    (TT, "images_max", 35),                      # up to 35 photos
    (TT, "videos_max", 1),                       # or 1 video
    (TT, "allows_mixed_media", False),           # never both
    (TT, "image_types", frozenset({JPEG, WEBP})),  # PNG not supported
    (TT, "video_types", frozenset({MP4, MOV, WEBM})),  # MP4, MOV, WebM
    (TT, "video_min_s", 3),                      # 3 s ...
    (TT, "video_max_s", 10 * 60),                # ... to 10 min
    (TT, "requires_media", True),                # no text-only posts
    # YouTube, §6.3
    (YT, "text_max", 5000),                      # description 5000 ...
    (YT, "text_counting", "bytes"),              # ... bytes (the stricter reading)
    (YT, "title_max", 100),                      # title 100
    (YT, "title_forbidden_chars", "<>"),         # no < or > in titles
    (YT, "media_max", 1),                        # exactly one video
    (YT, "images_max", 0),                       # no images
    (YT, "requires_video", True),                # a video is required
])
def test_declared_values_match_the_facts_sheet(platform, field, expected):
    assert getattr(LIMITS[platform], field) == expected


@pytest.mark.parametrize("platform, width, height, allowed", [
    (IG, 1080, 1350, True),    # 4:5 portrait, the tallest feed image
    (IG, 1910, 1000, True),    # 1.91:1 landscape, the widest
    (IG, 1080, 1920, False),   # 9:16 is a story shape, not a feed image
    (IG, 2000, 1000, False),   # 2:1 is too wide
])
def test_instagram_image_aspect_range(platform, width, height, allowed):
    aspect = LIMITS[platform].image_aspect
    assert aspect.label == "4:5 to 1.91:1"
    assert aspect.allows(width, height) is allowed


@pytest.mark.parametrize("platform, width, height, allowed", [
    (X, 1000, 3000, True),     # 1:3, the tallest
    (X, 1000, 3100, False),    # taller than 1:3
    (LI, 1000, 2400, True),    # 1:2.4, the tallest
    (LI, 2500, 1000, False),   # wider than 2.4:1
    (IG, 1080, 1920, True),    # 9:16 reel
])
def test_video_aspect_ranges(platform, width, height, allowed):
    assert LIMITS[platform].video_aspect.allows(width, height) is allowed


@pytest.mark.parametrize("platform, cap", [
    (IG, 3),    # Instagram
    (FB, 5),    # Facebook Page
    (LI, 2),    # LinkedIn
    (X, 10),    # X
    (TT, 4),    # TikTok
    (YT, 1),    # YouTube
    (Platform.THREADS, 10),
    (Platform.BLUESKY, 10),
    (Platform.MASTODON, 10),
])
def test_daily_caps(platform, cap):
    assert LIMITS[platform].daily_cap == cap


@pytest.mark.parametrize("platform, field, expected", [
    (Platform.THREADS, "text_max", 500),         # §7.2: 500 ...
    (Platform.THREADS, "text_counting", "chars_emoji_bytes"),  # ... with emoji counted as UTF-8 bytes
    (Platform.BLUESKY, "text_max", 300),         # §8.3: 300 graphemes ...
    (Platform.BLUESKY, "text_counting", "graphemes"),
    (Platform.BLUESKY, "text_max_bytes", 3000),  # ... and 3000 bytes
    (Platform.BLUESKY, "images_max", 4),         # 4 images or 1 video
    (Platform.MASTODON, "text_max", 500),        # §9.2 instance default
    (Platform.MASTODON, "media_max", 4),         # max_media_attachments default
])
def test_secondary_platforms(platform, field, expected):
    assert getattr(LIMITS[platform], field) == expected


def test_primary_platforms_are_all_declared():
    assert set(PRIMARY_PLATFORMS) <= set(LIMITS)


def test_x_declares_the_characters_twitter_text_calls_invalid():
    # twitter-text v3: U+FFFE, U+FEFF and U+FFFF make a tweet invalid; no other platform declares any.
    assert set(LIMITS[X].text_forbidden_chars) == {"\ufffe", "\ufeff", "\uffff"}
    assert all(not LIMITS[p].text_forbidden_chars for p in LIMITS if p is not X)

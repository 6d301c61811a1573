"""Each platform's content limits, declared once as data.

The validator (`core.rules.validation`), the media checks (`core.media`), the composer's
live counters and the tests all read these declarations; nothing else hard-codes a
platform limit. Values come from ../shared/platform-api-facts.md (cited per field
where a platform's docs disagree).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.domain.catalog import Platform


@dataclass(frozen=True)
class AspectRange:
    """Allowed width/height ratios, inclusive (4:5 is 0.8, 1.91:1 is 1.91)."""

    min: float
    max: float
    label: str = ""  # how people say it: "4:5 to 1.91:1"

    def allows(self, width: int, height: int) -> bool:
        if width <= 0 or height <= 0:
            return False
        ratio = width / height
        # A pixel of rounding either side is not a reason to refuse an image.
        return self.min - 0.01 <= ratio <= self.max + 0.01


@dataclass(frozen=True)
class PlatformLimits:
    """What one post on `platform` may contain. Filled in by `LIMITS` below."""

    platform: Platform
    # Text, in the platform's own unit (see text_counting).
    text_max: int
    # "chars" (Unicode code points after NFC), "x_weighted" (twitter-text v3: URLs 23, CJK/emoji 2),
    # "graphemes" (Bluesky: extended grapheme clusters, UAX #29), "utf16" (TikTok "runes"), "bytes" (UTF-8 bytes),
    # "chars_emoji_bytes" (Threads: code points, but each emoji counts its UTF-8 bytes).
    text_counting: str = "chars"
    text_max_bytes: int | None = None     # a second cap in UTF-8 bytes (Bluesky: 3000)
    text_forbidden_chars: str = ""        # characters that make the platform refuse the text (X: twitter-text's)
    title_max: int | None = None          # YouTube video title, TikTok photo title
    title_forbidden_chars: str = ""       # characters a title may not contain (YouTube: "<>")
    hashtags_max: int | None = None
    mentions_max: int | None = None
    # Media
    media_max: int = 0                    # most items in one post (photos + videos)
    images_max: int = 0                   # most images in one post
    videos_max: int = 0                   # most videos in one post
    allows_mixed_media: bool = False      # photos and a video in one post
    requires_media: bool = False          # a text-only post is refused
    requires_video: bool = False          # YouTube
    image_types: frozenset[str] = frozenset()   # MIME types
    video_types: frozenset[str] = frozenset()
    image_max_bytes: int | None = None
    video_max_bytes: int | None = None
    image_aspect: AspectRange | None = None
    video_aspect: AspectRange | None = None
    video_min_s: float | None = None
    video_max_s: float | None = None
    # Threads and first comments (issue 11)
    supports_thread: bool = False         # a long text can go out as a chain of replies (the adapter reply-chains)
    thread_max: int | None = None         # most posts in one thread (Outpost's bound, None: no bound of its own)
    supports_first_comment: bool = False  # Outpost can post a first comment under the post
    comment_max: int | None = None        # characters in that comment (counted like the text, `text_counting`)
    # Scheduling
    daily_cap: int = 10                   # default posts per account per local day (configurable per account)
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------- the declarations

# Decimal units: docs say "8 MB" without saying which MB, and 8,000,000 is the stricter
# reading (Bluesky's one confirmed figure, 1,000,000 bytes, is decimal too).
MB = 1_000_000
GB = 1_000 * MB

JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
MP4, MOV, WEBM = "video/mp4", "video/quicktime", "video/webm"

# An empty `image_types` / `video_types` means "any file of that kind"; the platform's
# docs (as collected in the facts sheet) name no list. A kind the platform refuses
# outright has `images_max` / `videos_max` of 0 instead.
LIMITS: dict[Platform, PlatformLimits] = {
    # Facts §1.4 (caption, hashtags, images, carousel, reels); daily cap is Outpost's default.
    Platform.INSTAGRAM: PlatformLimits(
        platform=Platform.INSTAGRAM,
        # A first comment: POST /{ig-media-id}/comments (facts §1). 2,200 characters, as the caption: Instagram's
        # comment limit as commonly documented (the facts sheet has no comment figure; unverified against the API).
        supports_first_comment=True, comment_max=2200,
        text_max=2200,
        # Was 30 for years; Instagram announced 5 on Dec 19 2025 (rolling out). Whether the API
        # refuses a 6th is unverified, so we take the stricter value.
        hashtags_max=5,
        mentions_max=20,
        media_max=10, images_max=10, videos_max=10,  # carousel of up to 10 (the app's 20 is unverified for the API)
        allows_mixed_media=True,                     # carousel items may be images or videos
        requires_media=True,
        image_types=frozenset({JPEG}),               # JPEG only, per builds citing the publishing doc
        video_types=frozenset({MP4, MOV}),
        image_max_bytes=8 * MB,
        video_max_bytes=300 * MB,                    # docs disagree (300 MB vs 1 GB): the stricter
        image_aspect=AspectRange(0.8, 1.91, "4:5 to 1.91:1"),
        # The sheet gives only "9:16 recommended" for reels and 4:5..1.91:1 for feed items;
        # this range admits 9:16 (0.5625) through landscape feed video.
        video_aspect=AspectRange(0.5, 1.91, "9:16 to 1.91:1"),
        video_min_s=3, video_max_s=15 * 60,
        daily_cap=3,
    ),
    # Facts §2.3 (text per postiz, photos per the 1366046 error text).
    Platform.FACEBOOK: PlatformLimits(
        platform=Platform.FACEBOOK,
        # A first comment: POST /{post-id}/comments (facts §2.2). 8,000 characters: the commonly cited figure for a
        # Facebook comment (the facts sheet has none; unverified). The composer's counter shows the smallest chosen.
        supports_first_comment=True, comment_max=8000,
        text_max=63_206,
        media_max=10, images_max=10, videos_max=1,   # photos via attached_media, or one video
        image_types=frozenset({JPEG, PNG}),
        image_max_bytes=4 * MB,
        daily_cap=5,
    ),
    # Facts §3.4 (all third-party figures; the official text limit is unverified).
    Platform.LINKEDIN: PlatformLimits(
        platform=Platform.LINKEDIN,
        # A first comment: POST /v2/socialActions/{urn}/comments (facts §3.3). 1,250 characters: the commonly cited
        # LinkedIn comment limit (the facts sheet has none; unverified), stricter than the post's 3,000.
        supports_first_comment=True, comment_max=1250,
        text_max=3000,
        media_max=20, images_max=20, videos_max=1,   # multiImage up to 20 (unverified), or one video
        image_types=frozenset({JPEG, GIF, PNG}),
        video_types=frozenset({MP4}),
        image_max_bytes=5 * MB,                      # "about 5 MB" (third-party)
        video_max_bytes=500 * MB,
        video_aspect=AspectRange(1 / 2.4, 2.4, "1:2.4 to 2.4:1"),
        video_min_s=3, video_max_s=30 * 60,
        daily_cap=2,
        notes=("Reserved characters in commentary must be escaped or LinkedIn silently truncates (§3.4).",),
    ),
    # Facts §4.3 (twitter-text v3 config; media best-practices doc).
    Platform.X: PlatformLimits(
        platform=Platform.X,
        # A thread: each next post replies to the one before (reply.in_reply_to_tweet_id, facts §4.2).
        supports_thread=True, thread_max=25,
        text_max=280,
        text_counting="x_weighted",                  # Premium's longer posts are unverified: the default
        # twitter-text's INVALID_CHARACTERS: a text holding one is not a valid tweet, whatever its length.
        text_forbidden_chars="\ufffe\ufeff\uffff",
        media_max=4, images_max=4, videos_max=1,
        image_types=frozenset({JPEG, PNG, GIF, WEBP}),
        video_types=frozenset({MP4, MOV}),
        image_max_bytes=5 * MB,                      # an animated GIF may be 15 MB; 5 MB is the stricter
        video_max_bytes=8 * GB,                      # default accounts (Premium: 16 GB)
        video_aspect=AspectRange(1 / 3, 3.0, "1:3 to 3:1"),
        video_min_s=0.5, video_max_s=20 * 60,        # default accounts (Premium: 125 min)
        daily_cap=10,
        notes=("An animated GIF must be the only media item; a URL does not say whether a GIF is animated.",),
    ),
    # Facts §5.2 (title "≤2200 UTF-16 runes", photo title ≤90, photo description ≤4000) and §5.3.
    Platform.TIKTOK: PlatformLimits(
        platform=Platform.TIKTOK,
        # A video's caption is its 2200-rune title; a photo post's description may be 4000,
        # but the same caption can go to either, so the stricter 2200 applies to both.
        text_max=2200,
        text_counting="utf16",
        title_max=90,                                # photo posts only (third-party figure)
        media_max=35, images_max=35, videos_max=1,
        allows_mixed_media=False,
        requires_media=True,
        image_types=frozenset({JPEG, WEBP}),         # PNG is not supported for photo posts
        video_types=frozenset({MP4, MOV, WEBM}),
        image_max_bytes=20 * MB,
        video_max_bytes=4 * GB,
        video_min_s=3, video_max_s=10 * 60,          # further capped by creator_info.max_video_post_duration_sec
        daily_cap=4,
    ),
    # Facts §6.3 (videos.insert reference).
    Platform.YOUTUBE: PlatformLimits(
        platform=Platform.YOUTUBE,
        text_max=5000,
        text_counting="bytes",                       # bytes per the Data API, chars per the Ads docs: the stricter
        title_max=100,
        title_forbidden_chars="<>",
        media_max=1, images_max=0, videos_max=1,
        requires_media=True, requires_video=True,
        video_max_bytes=256 * GB,
        video_max_s=15 * 60,                         # unverified channels (third-party); verified ones may go longer
        daily_cap=1,
    ),
    # Facts §7.2 ("≤500 chars; emojis counted as UTF-8 bytes").
    Platform.THREADS: PlatformLimits(
        platform=Platform.THREADS,
        # A thread: each next post replies to the one before (reply_to_id on its container, facts §7).
        supports_thread=True, thread_max=25,
        text_max=500,
        text_counting="chars_emoji_bytes",
        media_max=20, images_max=20, videos_max=20,  # carousel of 20 is unverified
        allows_mixed_media=True,                     # carousel children may be IMAGE or VIDEO containers
        daily_cap=10,
    ),
    # Facts §8.3 (lexicon limits: 300 graphemes and 3000 bytes).
    Platform.BLUESKY: PlatformLimits(
        platform=Platform.BLUESKY,
        # A thread: each next post replies to the one before (reply.root / reply.parent, facts §8).
        supports_thread=True, thread_max=25,
        text_max=300,
        text_counting="graphemes",
        text_max_bytes=3000,
        media_max=4, images_max=4, videos_max=1,
        image_max_bytes=1 * MB,                      # third-party guidance; the confirmed 1,000,000 is for avatars
        daily_cap=10,
    ),
    # Facts §9.2 (instance defaults from /api/v2/instance; a given instance may allow more).
    Platform.MASTODON: PlatformLimits(
        platform=Platform.MASTODON,
        # A thread: each next status replies to the one before (in_reply_to_id, facts §9).
        supports_thread=True, thread_max=25,
        text_max=500,                                # instances reserve 23 per URL; counting the URL as written is stricter
        media_max=4, images_max=4,
        videos_max=1,                                # Mastodon's status validator: one video, never with images
        daily_cap=10,
    ),
}


def limits_for(platform: Platform | str) -> PlatformLimits:
    """The declared limits for a platform slug, label or enum member."""
    return LIMITS[Platform.parse(platform)]

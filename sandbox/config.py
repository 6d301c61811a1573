"""Every limit, lifetime and delay the emulator enforces, in one mutable settings object.

Values follow ../shared/platform-api-facts.md; where the platforms' own docs disagree
(Instagram quota 100 or 50, hashtags 30 or 5, TikTok access token 2 h or 24 h, the two
YouTube quota models) the default is the newer figure and the other is one setting away.
The settings can be changed while the emulator runs (`PATCH /_control/config`), so a test
can tighten a limit without restarting it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from core.domain.catalog import Platform

PLATFORMS = tuple(platform.value for platform in Platform)     # the slugs Outpost declares, in its order
DAY = 86400.0


def _sandbox_clients() -> dict[str, dict[str, str]]:
    return {p: {"client_id": f"outpost-sandbox-{p}", "client_secret": f"sandbox-secret-{p}"} for p in PLATFORMS}


def _listing_lags(value) -> dict:
    """`listing_lag_s` as given to PATCH /_control/config: {platform or "*": seconds}, or one number for all."""
    if value is None:
        return {}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"*": value}
    if not isinstance(value, dict):
        raise ValueError('listing_lag_s must be {"<platform>" or "*": seconds} or a number of seconds')
    out = {}
    for platform, seconds in value.items():
        if platform != "*" and platform not in PLATFORMS:
            raise ValueError(f"listing_lag_s: {platform!r} is not one of *, {', '.join(PLATFORMS)}")
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise ValueError(f"listing_lag_s[{platform!r}] must be a number of seconds") from None
        if not 0.0 <= seconds <= 30 * DAY:
            raise ValueError(f"listing_lag_s[{platform!r}] must be between 0 and {30 * DAY:g} seconds")
        out[platform] = seconds
    return out


# Settings that are off when None, else a whole number at least this much.
_OPTIONAL_COUNTS = {"graph_user_calls": 1, "yt_channel_daily_uploads": 0}


def _optional_count(name: str, value, least: int) -> int | None:
    """`value` as given to PATCH /_control/config or --config: None (or "off", "") turns the setting off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none", "null")):
        return None
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        number = int(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number or null (off), not {value!r}") from None
    if number < least:
        raise ValueError(f"{name} must be at least {least}, or null (off)")
    return number


@dataclass
class SandboxConfig:
    """The emulator's knobs. Times in seconds unless the name says otherwise."""

    clients: dict = field(default_factory=_sandbox_clients)   # platform -> {client_id, client_secret}
    code_ttl_s: float = 600.0                # authorization codes: single use, 10 minutes
    # None: any http(s) redirect_uri is accepted at authorize (it must still match at the token exchange).
    redirect_uri_prefixes: list | None = None

    # Instagram (Instagram Login) and the shared Meta Graph
    ig_short_token_s: float = 3600.0
    ig_long_token_s: float = 60 * DAY
    ig_refresh_min_age_s: float = DAY        # ig_refresh_token only for tokens at least 24 h old
    ig_publish_quota: int = 100              # per 24 h rolling; the content_publishing_limit doc says 50
    ig_hashtag_max: int = 30                 # 5 since the Dec 2025 announcement (API enforcement unverified)
    ig_caption_max: int = 2200
    ig_carousel_max: int = 10
    ig_image_delay_s: float = 0.2            # container IN_PROGRESS -> FINISHED
    ig_video_delay_s: float = 1.5
    ig_container_ttl_s: float = DAY          # then EXPIRED
    ig_jpeg_only: bool = True                # feed images must be JPEG (third-party sources)
    # Facebook Pages
    fb_short_token_s: float = 3600.0
    fb_long_token_s: float = 5183944.0       # the expires_in Meta returns for a long-lived user token
    fb_reject_duplicates: bool = True        # (#506) Duplicate status message
    fb_message_max: int = 63206              # a post's message, a photo's caption, a video's description (postiz)
    # Graph's per-user call limit on graph.instagram.com and graph.facebook.com: None (the default) is off; a
    # number is at most that many calls per user (code 17) or Page (code 32) per rolling `graph_user_window_s`,
    # answered as Meta does (HTTP 400, usage headers saying when access comes back). The real budgets are large;
    # set a small one to see Outpost's metric pulls pause one account until the reset.
    graph_user_calls: int | None = None
    graph_user_window_s: float = 3600.0

    # LinkedIn
    li_access_s: float = 60 * DAY
    li_refresh_s: float = 365 * DAY          # fixed from the first grant; refreshing does not extend it
    li_issue_refresh_tokens: bool = True     # only approved (MDP) apps get them on the real platform
    li_member_daily_posts: int = 150         # undisclosed on the real platform; 429 until midnight UTC
    li_video_delay_s: float = 1.0            # video PROCESSING -> AVAILABLE after finalizeUpload
    li_reject_duplicates: bool = True        # 422 DUPLICATE_POST (unverified)
    li_commentary_max: int = 3000
    li_multi_image_max: int = 20             # content.multiImage takes 2 to 20 images

    # X
    x_access_s: float = 7200.0
    x_tweet_limit: int = 100                 # POST /2/tweets per user per window
    x_window_s: float = 900.0
    x_app_daily_tweets: int = 10000          # per app per 24 h
    x_read_limit: int = 900                  # tweet lookups and timelines per user per window
    x_users_me_limit: int = 75
    x_media_limit: int = 500
    x_max_weighted: int = 280
    x_max_images: int = 4                    # or 1 GIF, or 1 video
    x_reject_duplicates: bool = True
    x_media_delay_s: float = 1.5             # video/GIF processing: pending -> in_progress -> succeeded
    x_non_public_days: float = 30.0          # non_public_metrics only for posts this young

    # TikTok
    tt_access_s: float = 7200.0              # 86400 in the older doc
    tt_refresh_s: float = 180 * DAY          # 365 days in the older doc
    tt_init_per_min: int = 6                 # per token per init endpoint
    tt_status_per_min: int = 30
    tt_process_delay_s: float = 1.5          # PROCESSING_* -> PUBLISH_COMPLETE
    tt_post_id_delay_s: float = 3.0          # then publicaly_available_post_id appears (moderation)
    tt_unaudited: bool = False               # True: only SELF_ONLY posts are allowed
    tt_privacy_options: list = field(default_factory=lambda: [
        "PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"])
    tt_max_duration_s: int = 600
    tt_video_title_max: int = 2200           # UTF-16 units, as TikTok counts
    tt_photo_title_max: int = 90
    tt_photo_description_max: int = 4000
    tt_photo_images_max: int = 35
    tt_daily_posts: int = 15                 # spam_risk_too_many_posts (size unverified)
    tt_verified_url_prefixes: list | None = None   # None: every PULL_FROM_URL domain counts as verified

    # YouTube / Google
    yt_access_s: float = 3599.0
    yt_quota_model: str = "units"            # "units": insert costs 1600 of 10,000; "buckets": own bucket of 100
    yt_daily_units: int = 10000
    yt_insert_cost: int = 1600
    yt_daily_inserts: int = 100              # the "buckets" model
    yt_channel_daily_uploads: int | None = None   # uploadLimitExceeded (per channel); None: no cap
    yt_testing_mode: bool = False            # consent screen in "Testing": refresh tokens die after 7 days
    yt_unverified_project: bool = False      # uploads locked to private until the project is audited
    yt_processing_delay_s: float = 2.0
    yt_title_max: int = 100                  # characters, and no < or >
    yt_description_max_bytes: int = 5000     # UTF-8 bytes, per the Data API
    yt_tags_max_chars: int = 500             # all tags joined by commas

    # Threads (graph.threads.net)
    thr_short_token_s: float = 3600.0
    thr_long_token_s: float = 60 * DAY
    thr_refresh_min_age_s: float = DAY       # th_refresh_token only for tokens at least 24 h old
    thr_publish_quota: int = 250             # API posts per profile per rolling 24 h, enforced on threads_publish
    thr_text_max: int = 500                  # code points, each emoji counting its UTF-8 bytes
    thr_carousel_max: int = 20               # unverified (the app allows 20)
    thr_text_delay_s: float = 0.1            # container IN_PROGRESS -> FINISHED
    thr_image_delay_s: float = 0.2
    thr_video_delay_s: float = 1.5
    thr_container_ttl_s: float = DAY         # then EXPIRED
    thr_video_max_s: float = 300.0           # 5 minutes (unverified): longer videos end in INVALID_DURATION

    # Mastodon (one instance: mastodon.social)
    masto_max_chars: int = 500               # configuration.statuses.max_characters
    masto_max_media: int = 4
    masto_url_chars: int = 23                # characters_reserved_per_url
    masto_rate_limit: int = 300              # calls per account per window
    masto_rate_window_s: float = 300.0
    masto_media_limit: int = 30              # media uploads per account per window
    masto_media_window_s: float = 1800.0
    masto_video_delay_s: float = 1.5         # 202/206 until a video is processed
    masto_idempotency_ttl_s: float = 3600.0  # an Idempotency-Key answers with the same status for an hour

    # Bluesky (bsky.social entryway and one PDS)
    bsky_app_password: str = "sandbox-app-password"     # logs in any handle (app passwords skip 2FA)
    bsky_main_password: str = "sandbox-main-password"   # a main password: the account asks for its emailed code
    bsky_access_s: float = 7200.0            # accessJwt (unverified; the reference PDS says 2 h)
    bsky_refresh_s: float = 90 * DAY         # refreshJwt, rotated on each refreshSession
    bsky_max_graphemes: int = 300
    bsky_max_bytes: int = 3000
    bsky_max_images: int = 4                 # app.bsky.embed.images
    bsky_image_max_bytes: int = 1_000_000    # app.bsky.embed.images#image maxSize
    bsky_blob_max_bytes: int = 50_000_000    # uploadBlob
    bsky_points_hour: int = 5000             # write points per DID (create 3, delete 1)
    bsky_points_day: int = 35000
    bsky_sessions_5min: int = 30             # createSession per handle
    bsky_sessions_day: int = 300
    bsky_client_rkeys: bool = True           # False: a PDS that refuses client-chosen post record keys

    # Emulator behaviour
    latency_ms: float = 0.0                  # added to every platform request
    fault_timeout_s: float = 30.0            # how long a `timeout` fault holds the response
    slow_apply_s: float = 40.0               # how long a `slow_apply` fault holds a request before it takes effect
    # Seconds before a new post shows in the platform's listings and searches (the timelines and feeds an adapter
    # reconciles with), per platform, "*" for the rest: {"x": 20, "*": 5}. Lookups by id are never late.
    listing_lag_s: dict = field(default_factory=dict)
    media_fetch_timeout_s: float = 5.0

    def update(self, changes: dict) -> dict:
        """Apply known settings from `changes`; unknown names raise KeyError."""
        known = {f.name: f for f in fields(self)}
        unknown = [k for k in changes if k not in known]
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        for name, value in changes.items():
            current = getattr(self, name)
            if name == "listing_lag_s":
                value = _listing_lags(value)
            elif name in _OPTIONAL_COUNTS:
                value = _optional_count(name, value, _OPTIONAL_COUNTS[name])
            elif isinstance(current, bool) and not isinstance(value, bool):
                value = str(value).lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int) and not isinstance(current, bool) and value is not None:
                value = int(value)
            elif isinstance(current, float) and value is not None:
                value = float(value)
            setattr(self, name, value)
        return {k: getattr(self, k) for k in changes}

    def listing_lag(self, platform: str) -> float:
        """How long a new post of `platform` stays out of its listings."""
        lags = self.listing_lag_s or {}
        return float(lags.get(platform, lags.get("*", 0.0)) or 0.0)

    def as_dict(self) -> dict:
        return asdict(self)

    def client(self, platform: str) -> dict[str, str]:
        return self.clients.get(platform) or {}

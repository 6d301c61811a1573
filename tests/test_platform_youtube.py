"""YouTube adapter against the shared fake transport (tests.platform_harness) answering with the real bodies
from the facts sheet (§6)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet
from core.domain.catalog import Platform
from core.platforms.youtube import QUANTUM, YouTubeAdapter
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)           # 04:00 in Los Angeles (PST, UTC-8)
CREDS = Credentials(access_token="ya29.token", external_id="UC1")
SESSION = "https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status&upload_id=xa1"
VIDEO_JSON = {"kind": "youtube#video", "id": "dQw4w9WgXcQ", "snippet": {"title": "Morning light"},
              "status": {"uploadStatus": "uploaded", "privacyStatus": "public"}}


def gerr(status, reason, message="Nope.", **headers):
    return httpx.Response(status, headers=headers, json={"error": {
        "code": status, "message": message, "errors": [{"message": message, "domain": "youtube.x", "reason": reason}]}})


def not_routed(request: httpx.Request) -> httpx.Response:
    return gerr(404, "notFound", f"no route {request.method} {request.url.path}")


def make(routes, **options):
    fake = FakePlatform(routes, not_routed=not_routed)
    adapter = YouTubeAdapter(fake.client(),
                             PlatformConfig(client_id="gid", client_secret="gsecret", redirect_uri="https://app/cb",
                                            options=options),
                             clock=lambda: NOW, sleep=lambda s: None)
    return adapter, fake


def req(*media, text="Morning light\nA walk at dawn #sun #morning walk", title=None, hashtags=("#sun", "#morning walk"),
        options=None, progress=None):
    saved: dict[str, str] = {}
    content = RenderedContent(platform=Platform.YOUTUBE, text=text, caption=text, hashtags=hashtags, media_urls=(),
                              link="", title=title)
    return PublishRequest(content=content, media=tuple(media), options=options or {}, progress=progress or {},
                          checkpoint=saved.__setitem__), saved


def video(size=3 * QUANTUM + 1000, **kw):
    return MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4",
                     data=(bytes(range(251)) * (size // 251 + 1))[:size], **kw)


UPLOAD_PATH = "/upload/youtube/v3/videos"


def session_start(request):
    return httpx.Response(200, headers={"Location": SESSION})


def upload_server(total, *, accept_short=0):
    """A resumable session: 308 with Range until all bytes arrive, then 201 with the video.

    `accept_short` makes the first chunk keep that many fewer bytes than were sent (the client must re-send them).
    """
    state = {"have": 0, "short": accept_short}

    def handle(request):
        rng = request.headers["content-range"]
        if rng.startswith("bytes */"):
            pass
        else:
            first, last = (int(x) for x in rng.split()[1].split("/")[0].split("-"))
            assert first == state["have"], f"client sent from {first}, server has {state['have']}"
            state["have"] = last + 1 - state["short"]
            state["short"] = 0
        if state["have"] >= total:
            return httpx.Response(201, json=VIDEO_JSON)
        headers = {"Range": f"bytes=0-{state['have'] - 1}"} if state["have"] else {}
        return httpx.Response(308, headers=headers)
    return handle, state


# ---------------------------------------------------------------- OAuth

def test_authorization_url_asks_for_offline_access_and_consent():
    adapter, _ = make({})
    parts = urlsplit(adapter.authorization_url(state="st-1"))
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    assert q["access_type"] == "offline" and q["prompt"] == "consent" and q["client_id"] == "gid"
    assert q["scope"].split(" ") == ["https://www.googleapis.com/auth/youtube.upload",
                                     "https://www.googleapis.com/auth/youtube.readonly",
                                     "https://www.googleapis.com/auth/yt-analytics.readonly"]
    assert q["response_type"] == "code" and q["state"] == "st-1" and q["redirect_uri"] == "https://app/cb"


GOOGLE_TOKEN = {"access_token": "ya29.new", "expires_in": 3599, "refresh_token": "1//0new",
                "scope": "https://www.googleapis.com/auth/youtube.upload "
                         "https://www.googleapis.com/auth/youtube.readonly",
                "token_type": "Bearer"}


def test_exchange_code_parses_google_token():
    adapter, fake = make({("POST", "/token"): httpx.Response(200, json=GOOGLE_TOKEN)})
    token = adapter.exchange_code("4/0code")
    form = {k: v[0] for k, v in parse_qs(fake.calls[0].content.decode()).items()}
    assert str(fake.calls[0].url) == "https://oauth2.googleapis.com/token"
    assert form == {"grant_type": "authorization_code", "code": "4/0code", "redirect_uri": "https://app/cb",
                    "client_id": "gid", "client_secret": "gsecret"}
    assert token.refresh_token == "1//0new" and token.expires_at == NOW + timedelta(seconds=3599)
    assert adapter.missing_scopes(token) == ("https://www.googleapis.com/auth/yt-analytics.readonly",)


def test_refresh_keeps_the_old_refresh_token_when_google_sends_none():
    body = {k: v for k, v in GOOGLE_TOKEN.items() if k != "refresh_token"}
    adapter, fake = make({("POST", "/token"): httpx.Response(200, json=body)})
    token = adapter.refresh(Credentials(access_token="old", refresh_token="1//0keep"))
    assert token.access_token == "ya29.new" and token.refresh_token == "1//0keep"
    assert parse_qs(fake.calls[0].content.decode())["grant_type"] == ["refresh_token"]


def test_refresh_invalid_grant_needs_reconnect():
    adapter, fake = make({("POST", "/token"): httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."})})
    with pytest.raises(ReconnectNeeded) as exc:
        adapter.refresh(Credentials(access_token="old", refresh_token="1//0dead"))
    assert exc.value.code == "invalid_grant" and "expired or revoked" in str(exc.value)
    assert len(fake.calls) == 1


# ---------------------------------------------------------------- error classification

# Midnight Pacific after 2026-11-20 04:00 PST is 2026-11-21 08:00 UTC.
MIDNIGHT_PT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
ERRORS = [
    # (HTTP, reason, headers, class, retry_at)
    (403, "quotaExceeded", {}, RetryLater, MIDNIGHT_PT),                 # the project's daily quota
    (403, "dailyLimitExceeded", {}, RetryLater, MIDNIGHT_PT),            # the same, in the older usageLimits domain
    (400, "uploadLimitExceeded", {}, RetryLater, NOW + timedelta(hours=24)),   # the channel's daily uploads
    (403, "rateLimitExceeded", {}, RetryLater, NOW + timedelta(seconds=60)),
    (429, "userRateLimitExceeded", {"Retry-After": "30"}, RetryLater, NOW + timedelta(seconds=30)),
    (403, "forbidden", {}, Rejected, None),
    (403, "authenticatedUserAccountSuspended", {}, Rejected, None),
    (400, "invalidTitle", {}, Rejected, None),
    (401, "authError", {}, TokenExpired, None),                          # refresh, then retry once
    (403, "insufficientPermissions", {}, ReconnectNeeded, None),         # a scope was not granted
    (500, "backendError", {}, RetryLater, None),
    (503, "backendError", {"Retry-After": "120"}, RetryLater, NOW + timedelta(seconds=120)),
]


@pytest.mark.parametrize("http,reason,headers,cls,retry_at", ERRORS)
def test_error_bodies_map_to_classes(http, reason, headers, cls, retry_at):
    adapter, fake = make({("POST", UPLOAD_PATH): gerr(http, reason, "YouTube says no.", **headers)})
    request, saved = req(video())
    with pytest.raises(cls) as exc:
        adapter.publish(CREDS, request)
    assert exc.value.code == reason and exc.value.platform == "youtube" and exc.value.http_status == http
    assert "YouTube says no." in str(exc.value)
    if cls is RetryLater:
        assert exc.value.retry_at == retry_at
    assert len(fake.calls) == 1 and saved == {}


@pytest.mark.parametrize("reason", ["quotaExceeded", "dailyLimitExceeded"])
def test_the_daily_quota_is_a_limit_in_words(reason):
    """Not a failure: a rate limit (the runner holds the account until the reset), in words, without Google's HTML."""
    quota_message = ('The request cannot be completed because you have exceeded your '
                     '<a href="/youtube/v3/getting-started#quota">quota</a>.')
    adapter, _ = make({("POST", UPLOAD_PATH): gerr(403, reason, quota_message)})
    with pytest.raises(RetryLater) as exc:
        adapter.publish(CREDS, req(video())[0])
    assert exc.value.rate_limited and exc.value.retry_at == MIDNIGHT_PT
    words = str(exc.value)
    # The reset is the retry time; the publisher words it in the post's own zone (not in UTC here).
    assert "daily API quota" in words and "midnight Pacific time" in words and "UTC" not in words
    assert "<a" not in words and "exceeded your quota." in words


@pytest.mark.parametrize("now,expected", [
    (datetime(2026, 7, 1, 6, 59, tzinfo=UTC), datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),    # PDT: midnight is 07:00 UTC
    (datetime(2026, 7, 1, 7, 0, tzinfo=UTC), datetime(2026, 7, 2, 7, 0, tzinfo=UTC)),     # just past midnight
    (datetime(2026, 3, 8, 9, 0, tzinfo=UTC), datetime(2026, 3, 9, 7, 0, tzinfo=UTC)),     # DST starts that day
    (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), datetime(2026, 11, 2, 8, 0, tzinfo=UTC)),  # DST ends that day
])
def test_quota_resets_at_midnight_pacific(now, expected):
    adapter, _ = make({})
    adapter.clock = lambda: now
    assert adapter.next_quota_reset() == expected


def test_transport_errors_are_retry_later():
    # Opening a session creates nothing, and every PUT can be asked "how far did you get?",
    # so no YouTube call needs reconciliation after a lost answer.
    adapter, fake = make({("POST", UPLOAD_PATH): httpx.ReadTimeout("lost"),
                          ("GET", "/youtube/v3/channels"): httpx.ReadTimeout("lost")})
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, req(video())[0])
    with pytest.raises(RetryLater):
        adapter.account_metrics(CREDS)
    adapter, fake = make({("POST", UPLOAD_PATH): session_start, ("PUT", UPLOAD_PATH): httpx.ReadTimeout("lost")})
    request, saved = req(video())
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, request)
    assert saved["upload_session"] == SESSION     # the retry resumes this session


# ---------------------------------------------------------------- publishing

def test_resumable_upload_in_chunks():
    media = video()
    handler, _ = upload_server(len(media.data))
    adapter, fake = make({("POST", UPLOAD_PATH): session_start, ("PUT", UPLOAD_PATH): handler}, chunk_size=QUANTUM)
    request, saved = req(media)
    result = adapter.publish(CREDS, request)
    start = fake.calls[0]
    assert start.url.params["uploadType"] == "resumable" and start.url.params["part"] == "snippet,status"
    assert start.headers["authorization"] == "Bearer ya29.token"
    assert start.headers["x-upload-content-length"] == str(len(media.data))
    assert start.headers["x-upload-content-type"] == "video/mp4"
    assert start.headers["content-type"] == "application/json; charset=UTF-8"
    body = json.loads(start.content)
    assert body["snippet"] == {"title": "Morning light", "description": request.content.text,
                               "tags": ["sun", "morning walk"], "categoryId": "22"}
    assert body["status"] == {"privacyStatus": "public", "selfDeclaredMadeForKids": False}
    puts = fake.of("PUT")
    total = len(media.data)
    assert [p.headers["content-range"] for p in puts] == [
        f"bytes 0-{QUANTUM - 1}/{total}", f"bytes {QUANTUM}-{2 * QUANTUM - 1}/{total}",
        f"bytes {2 * QUANTUM}-{3 * QUANTUM - 1}/{total}", f"bytes {3 * QUANTUM}-{total - 1}/{total}"]
    assert all(p.headers["authorization"] == "Bearer ya29.token" for p in puts)
    assert b"".join(p.content for p in puts) == media.data
    assert saved == {"upload_session": SESSION, "upload_size": str(total)}
    assert result.external_id == "dQw4w9WgXcQ" and result.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def test_308_range_shorter_than_sent_resends_from_there():
    media = video(size=2 * QUANTUM)
    handler, _ = upload_server(len(media.data), accept_short=100)
    adapter, fake = make({("POST", UPLOAD_PATH): session_start, ("PUT", UPLOAD_PATH): handler}, chunk_size=QUANTUM)
    adapter.publish(CREDS, req(media)[0])
    total = 2 * QUANTUM
    assert [p.headers["content-range"] for p in fake.of("PUT")] == [
        f"bytes 0-{QUANTUM - 1}/{total}", f"bytes {QUANTUM - 100}-{total - 101}/{total}",
        f"bytes {total - 100}-{total - 1}/{total}"]


@pytest.mark.parametrize("chunk_option,expected", [
    (None, 32 * QUANTUM),               # default 8 MiB
    (QUANTUM + 5, QUANTUM),             # rounded down to a multiple of 256 KiB
    (1000, QUANTUM),                    # never below 256 KiB
])
def test_chunk_size_is_a_multiple_of_256_kib(chunk_option, expected):
    media = video(size=expected + 10)
    handler, _ = upload_server(len(media.data))
    adapter, fake = make({("POST", UPLOAD_PATH): session_start, ("PUT", UPLOAD_PATH): handler},
                         **({"chunk_size": chunk_option} if chunk_option else {}))
    adapter.publish(CREDS, req(media)[0])
    assert int(fake.of("PUT")[0].headers["content-length"]) == expected


def test_retry_resumes_the_saved_session():
    media = video(size=3 * QUANTUM)
    handler, state = upload_server(len(media.data))
    state["have"] = QUANTUM                                     # an earlier attempt got one chunk through
    adapter, fake = make({("PUT", UPLOAD_PATH): handler}, chunk_size=QUANTUM)
    result = adapter.publish(CREDS, req(media, progress={"upload_session": SESSION})[0])
    puts = fake.of("PUT")
    assert fake.of("POST") == []                                # no new session
    assert puts[0].headers["content-range"] == f"bytes */{3 * QUANTUM}" and puts[0].content == b""
    assert puts[1].headers["content-range"] == f"bytes {QUANTUM}-{2 * QUANTUM - 1}/{3 * QUANTUM}"
    assert len(puts) == 3 and result.external_id == "dQw4w9WgXcQ"


def test_retry_after_the_upload_finished_returns_the_video():
    adapter, fake = make({("PUT", UPLOAD_PATH): httpx.Response(200, json=VIDEO_JSON)})
    result = adapter.publish(CREDS, req(video(), progress={"upload_session": SESSION})[0])
    assert len(fake.calls) == 1 and result.external_id == "dQw4w9WgXcQ"


def test_expired_session_starts_a_new_one():
    media = video(size=QUANTUM)
    handler, _ = upload_server(len(media.data))
    calls = {"n": 0}

    def put(request):
        calls["n"] += 1
        return gerr(404, "notFound", "Upload session not found.") if calls["n"] == 1 else handler(request)
    adapter, fake = make({("POST", UPLOAD_PATH): session_start, ("PUT", UPLOAD_PATH): put})
    request, saved = req(media, progress={"upload_session": SESSION + "old"})
    assert adapter.publish(CREDS, request).external_id == "dQw4w9WgXcQ"
    assert len(fake.of("POST")) == 1 and saved["upload_session"] == SESSION


def test_server_error_mid_upload_is_retry_later_and_keeps_the_session():
    adapter, fake = make({("POST", UPLOAD_PATH): session_start,
                          ("PUT", UPLOAD_PATH): [httpx.Response(308, headers={"Range": f"bytes=0-{QUANTUM - 1}"}),
                                                 gerr(503, "backendError", "Backend Error")]}, chunk_size=QUANTUM)
    request, saved = req(video())
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, request)
    assert saved["upload_session"] == SESSION and len(fake.of("PUT")) == 2


def test_video_bytes_fetched_from_url_when_not_given():
    data = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"v" * 976     # an MP4 header, then bytes
    adapter, fake = make({("GET", "/v.mp4"): httpx.Response(200, content=data, headers={"content-type": "video/mp4"}),
                          ("POST", UPLOAD_PATH): session_start,
                          ("PUT", UPLOAD_PATH): httpx.Response(201, json=VIDEO_JSON)})
    adapter.resolve_host = lambda host, port: ["93.184.215.14"]        # a public address (no DNS in tests)
    media = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4")
    adapter.publish(CREDS, req(media)[0])
    assert "authorization" not in fake.calls[0].headers          # the Google token never goes to a media host
    assert fake.calls[1].headers["x-upload-content-length"] == str(len(data))
    assert fake.of("PUT")[0].content == data


def test_missing_video_file_is_rejected_in_plain_words():
    # The media host refused, not YouTube: the words say which host and what it answered.
    adapter, fake = make({("GET", "/gone.mp4"): httpx.Response(404, text="Not Found")})
    adapter.resolve_host = lambda host, port: ["93.184.215.14"]
    with pytest.raises(Rejected) as exc:
        adapter.publish(CREDS, req(MediaItem(url="https://media.example.com/gone.mp4", kind="video"))[0])
    assert exc.value.code == "media_http_error" and exc.value.http_status == 404 and len(fake.calls) == 1
    assert "The media host media.example.com answered 404" in str(exc.value) and "YouTube refused" not in str(exc.value)


def test_a_media_link_to_a_private_address_is_never_fetched():
    # A link that resolves to the machine's own network (cloud metadata, internal services) is refused unread.
    adapter, fake = make({("GET", "/latest/meta-data"): httpx.Response(200, content=b"secret")})
    adapter.resolve_host = lambda host, port: ["169.254.169.254"]
    with pytest.raises(Rejected):
        adapter.publish(CREDS, req(MediaItem(url="https://metadata.example.com/latest/meta-data", kind="video"))[0])
    assert fake.calls == []


@pytest.mark.parametrize("media", [
    (),                                                                    # text alone
    (MediaItem(url="https://m/a.jpg"),),                                   # a photo
    (video(), video()),                                                    # two videos
], ids=["none", "photo", "two-videos"])
def test_anything_but_one_video_is_rejected_without_a_call(media):
    adapter, fake = make({})
    with pytest.raises(Rejected) as exc:
        adapter.publish(CREDS, req(*media)[0])
    assert exc.value.code == "needs_one_video" and fake.calls == []


@pytest.mark.parametrize("kwargs,field,expected", [
    ({"title": "My <b>video</b>"}, "title", "My bvideo/b"),                  # < and > are not allowed
    ({"text": "x" * 150}, "title", "x" * 100),                               # 100 characters at most
    ({"text": "First line\nsecond"}, "title", "First line"),                 # the caption's first line
    ({"text": "é" * 3000}, "description", "é" * 2500),                       # 5000 UTF-8 bytes, whole characters
    ({"hashtags": ("#a", "#b c")}, "tags", ["a", "b c"]),
    ({"hashtags": tuple(f"#{'t' * 99}{i}" for i in range(6))}, "tags", [f"{'t' * 99}{i}" for i in range(4)]),  # 500
])
def test_metadata_follows_youtube_field_rules(kwargs, field, expected):
    adapter, _ = make({})
    assert adapter.metadata(req(video(), **kwargs)[0])["snippet"][field] == expected


@pytest.mark.parametrize("options,config,expected", [
    ({}, {}, "public"),                                            # default
    ({"privacy_status": "unlisted"}, {}, "unlisted"),
    ({"privacy_status": "public"}, {"unaudited": True}, "private"),  # unaudited projects are locked to private
])
def test_privacy_status(options, config, expected):
    adapter, fake = make({("POST", UPLOAD_PATH): session_start,
                          ("PUT", UPLOAD_PATH): httpx.Response(201, json=VIDEO_JSON)}, **config)
    result = adapter.publish(CREDS, req(video(), options=options)[0])
    assert json.loads(fake.calls[0].content)["status"]["privacyStatus"] == expected
    assert ("note" in result.extra) == bool(config)


def test_invalid_privacy_is_rejected():
    adapter, fake = make({})
    with pytest.raises(Rejected):
        adapter.publish(CREDS, req(video(), options={"privacy_status": "friends"})[0])
    assert fake.calls == []


# ---------------------------------------------------------------- reconciliation

CHANNEL = {"kind": "youtube#channel", "id": "UC1", "snippet": {"title": "The Maker", "customUrl": "@maker"},
           "statistics": {"viewCount": "1000", "subscriberCount": "321", "hiddenSubscriberCount": False,
                          "videoCount": "12"},
           "contentDetails": {"relatedPlaylists": {"uploads": "UU1"}}}


def item(title, published, vid="vid9"):
    return {"id": "pi1", "snippet": {"title": title, "publishedAt": published,
                                     "resourceId": {"kind": "youtube#video", "videoId": vid}}}


@pytest.mark.parametrize("items,expected", [
    ([item("Morning light", "2026-11-20T12:00:05Z")], "vid9"),          # same title, after since
    ([item("Morning  light", "2026-11-20T12:00:05Z")], "vid9"),         # whitespace differences ignored
    ([item("Evening", "2026-11-20T12:00:05Z")], None),                  # another video
    ([item("Morning light", "2026-11-19T12:00:00Z")], None),            # an older upload with the same title
    ([], None),
])
def test_find_published_searches_the_uploads_playlist(items, expected):
    adapter, fake = make({("GET", "/youtube/v3/channels"): httpx.Response(200, json={"items": [CHANNEL]}),
                          ("GET", "/youtube/v3/playlistItems"): httpx.Response(200, json={"items": items})})
    found = adapter.find_published(CREDS, req(video())[0], since=NOW)
    assert (found.external_id if found else None) == expected
    assert fake.calls[0].url.params["part"] == "contentDetails"
    assert fake.calls[1].url.params["playlistId"] == "UU1"
    assert not any(c.url.path.endswith("/search") for c in fake.calls)    # search.list costs 100 units


def test_find_published_allows_for_whole_second_timestamps():
    # publishedAt has no fractions: a video made 0.4 s after `since` shows as the same second.
    adapter, _ = make({("GET", "/youtube/v3/channels"): httpx.Response(200, json={"items": [CHANNEL]}),
                       ("GET", "/youtube/v3/playlistItems"): httpx.Response(200, json={
                           "items": [item("Morning light", "2026-11-20T12:00:00Z")]})})
    found = adapter.find_published(CREDS, req(video())[0], since=NOW + timedelta(milliseconds=600))
    assert found is not None and found.external_id == "vid9"


def test_find_published_asks_the_saved_session_first():
    adapter, fake = make({("PUT", UPLOAD_PATH): httpx.Response(201, json=VIDEO_JSON)})
    request, _ = req(video(), progress={"upload_session": SESSION, "upload_size": "5000"})
    assert adapter.find_published(CREDS, request, since=NOW).external_id == "dQw4w9WgXcQ"
    assert fake.calls[0].headers["content-range"] == "bytes */5000" and len(fake.calls) == 1


# ---------------------------------------------------------------- metrics and profile

def test_post_metrics_batches_fifty_ids_and_converts_strings():
    def answer(request):
        ids = request.url.params["id"].split(",")
        return httpx.Response(200, json={"items": [{"id": i, "statistics": {
            "viewCount": "1200", "likeCount": "40", "favoriteCount": "0", "commentCount": "3"}} for i in ids]})
    adapter, fake = make({("GET", "/youtube/v3/videos"): answer})
    metrics = adapter.post_metrics(CREDS, [f"v{i}" for i in range(60)])
    assert [len(c.url.params["id"].split(",")) for c in fake.calls] == [50, 10]
    assert fake.calls[0].url.params["part"] == "statistics"
    assert metrics["v7"].values == {"views": 1200, "video_views": 1200, "likes": 40, "comments": 3}
    assert metrics["v7"].raw["viewCount"] == "1200"


def test_account_metrics_reads_subscriber_count():
    adapter, fake = make({("GET", "/youtube/v3/channels"): httpx.Response(200, json={"items": [CHANNEL]})})
    assert adapter.account_metrics(CREDS).followers == 321
    assert fake.calls[0].url.params["mine"] == "true"


def test_fetch_profile_reads_the_channel():
    adapter, fake = make({("GET", "/youtube/v3/channels"): httpx.Response(200, json={"items": [CHANNEL]})})
    profile = adapter.fetch_profile(TokenSet(access_token="ya29.x"))
    assert (profile.external_id, profile.handle, profile.display_name) == ("UC1", "@maker", "The Maker")
    assert fake.calls[0].url.params["part"] == "snippet,statistics"


def test_account_without_a_channel_is_rejected_in_plain_words():
    adapter, _ = make({("GET", "/youtube/v3/channels"): httpx.Response(200, json={"kind": "x", "items": []})})
    with pytest.raises(Rejected) as exc:
        adapter.fetch_profile(TokenSet(access_token="ya29.x"))
    assert "no YouTube channel" in str(exc.value)

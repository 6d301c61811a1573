"""TikTok adapter against the shared fake transport (tests.platform_harness) answering with the real bodies
from the facts sheet (§5)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet
from core.domain.catalog import Platform
from core.platforms.tiktok import TikTokAdapter
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
API = "https://open.tiktokapis.com/v2"
OK = {"code": "ok", "message": "", "log_id": "20261120120000ABC"}
CREATOR = {"creator_avatar_url": "https://p16.tiktokcdn.com/a.jpg", "creator_username": "maker",
           "creator_nickname": "The Maker", "privacy_level_options": ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS",
                                                                       "SELF_ONLY", "PUBLIC_TO_EVERYONE"],
           "comment_disabled": False, "duet_disabled": True, "stitch_disabled": False,
           "max_video_post_duration_sec": 600}
CREDS = Credentials(access_token="act.token", external_id="open-1", meta={})


def ok(data=None, status=200, **headers):
    return httpx.Response(status, json={"data": data or {}, "error": OK}, headers=headers)


def err(code, message="", status=400, **headers):
    return httpx.Response(status, json={"data": {}, "error": {"code": code, "message": message, "log_id": "L1"}},
                          headers=headers)


def status(state, ids=(), reason=""):
    return ok({"status": state, "fail_reason": reason, "publicaly_available_post_id": list(ids),
               "uploaded_bytes": 0, "downloaded_bytes": 0})


def not_routed(request: httpx.Request) -> httpx.Response:
    return err("invalid_params", f"no route {request.method} {request.url.path}", 404)


def fake_tiktok(routes) -> FakePlatform:
    """Calls are named by their path under /v2."""
    return FakePlatform(routes, not_routed=not_routed, label=lambda r: r.url.path.removeprefix("/v2"))


def make(routes, **options):
    fake = fake_tiktok(routes)
    sleeps: list[float] = []
    adapter = TikTokAdapter(fake.client(),
                            PlatformConfig(client_id="ck", client_secret="cs", redirect_uri="https://app/cb",
                                           options=options),
                            clock=lambda: NOW, sleep=sleeps.append)
    return adapter, fake, sleeps


def content(text="Morning light #sun", title=None, caption=None):
    return RenderedContent(platform=Platform.TIKTOK, text=text, caption=caption if caption is not None else text,
                           hashtags=("#sun",), media_urls=(), link="", title=title)


def req(*media, text="Morning light #sun", title=None, options=None, progress=None):
    saved: dict[str, str] = {}
    request = PublishRequest(content=content(text, title), media=tuple(media), options=options or {},
                             progress=progress or {}, checkpoint=saved.__setitem__)
    return request, saved


VIDEO = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4")
PHOTOS = [MediaItem(url=f"https://media.example.com/{i}.jpg") for i in range(3)]
P = "/post/publish"


# ---------------------------------------------------------------- OAuth

def test_authorization_url_uses_client_key_and_comma_scopes():
    adapter, _, _ = make({})
    url = adapter.authorization_url(state="st-1", code_challenge="ignored")
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://www.tiktok.com/v2/auth/authorize/"
    assert q == {"client_key": "ck", "redirect_uri": "https://app/cb", "response_type": "code", "state": "st-1",
                 "scope": "user.info.basic,user.info.stats,video.publish,video.upload,video.list"}


TOKEN = {"open_id": "open-1", "scope": "user.info.basic,video.publish", "access_token": "act.new",
         "expires_in": 7200, "refresh_token": "rft.new", "refresh_expires_in": 15552000, "token_type": "Bearer"}


def test_exchange_code_posts_form_and_keeps_open_id():
    adapter, fake, _ = make({("POST", "/v2/oauth/token/"): httpx.Response(200, json=TOKEN)})
    token = adapter.exchange_code("code-1")
    form = {k: v[0] for k, v in parse_qs(fake.calls[0].content.decode()).items()}
    assert form == {"grant_type": "authorization_code", "code": "code-1", "redirect_uri": "https://app/cb",
                    "client_key": "ck", "client_secret": "cs"}
    assert fake.calls[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.extra["open_id"] == "open-1"
    # Lifetimes come from the response (2 h / 180 d here), not from constants.
    assert token.expires_at == NOW + timedelta(hours=2)
    assert token.refresh_expires_at == NOW + timedelta(days=180)
    assert token.scopes == ("user.info.basic", "video.publish")
    assert adapter.missing_scopes(token) == ("user.info.stats", "video.upload", "video.list")


def test_refresh_rotates_the_refresh_token():
    adapter, fake, _ = make({("POST", "/v2/oauth/token/"): httpx.Response(200, json=TOKEN)})
    token = adapter.refresh(Credentials(access_token="act.old", refresh_token="rft.old"))
    form = parse_qs(fake.calls[0].content.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["rft.old"]
    assert token.refresh_token == "rft.new" and token.access_token == "act.new"


@pytest.mark.parametrize("status_code", [200, 400])   # TikTok's OAuth errors are not always 4xx
def test_refresh_invalid_grant_needs_reconnect(status_code):
    body = {"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": "L"}
    adapter, fake, _ = make({("POST", "/v2/oauth/token/"): httpx.Response(status_code, json=body)})
    with pytest.raises(ReconnectNeeded) as exc:
        adapter.refresh(Credentials(access_token="a", refresh_token="rft.dead"))
    assert exc.value.code == "invalid_grant" and "expired" in str(exc.value)
    assert len(fake.calls) == 1


# ---------------------------------------------------------------- error classification

DAY = NOW + timedelta(hours=24)
ERRORS = [
    # (error.code, HTTP, headers, class, retry_at)
    ("access_token_invalid", 401, {}, TokenExpired, None),          # refresh, then retry once
    ("scope_not_authorized", 401, {}, ReconnectNeeded, None),       # the person must grant the scope
    ("scope_permission_missed", 401, {}, ReconnectNeeded, None),
    ("rate_limit_exceeded", 429, {}, RetryLater, NOW + timedelta(seconds=60)),      # no header: about a minute
    ("rate_limit_exceeded", 429, {"Retry-After": "17"}, RetryLater, NOW + timedelta(seconds=17)),
    ("spam_risk_too_many_posts", 403, {}, RetryLater, DAY),          # daily creator cap
    ("spam_risk_too_many_pending_share", 403, {}, RetryLater, DAY),  # 5 pending shares per 24 h
    ("spam_risk_user_banned_from_posting", 403, {}, Rejected, None),
    ("privacy_level_option_mismatch", 400, {}, Rejected, None),
    ("url_ownership_unverified", 403, {}, Rejected, None),
    ("unaudited_client_can_only_post_to_private_accounts", 403, {}, Rejected, None),
    ("invalid_params", 400, {}, Rejected, None),
    ("invalid_file_upload", 400, {}, Rejected, None),
    ("internal_error", 500, {}, RetryLater, NOW + timedelta(seconds=60)),
    ("privacy_level_option_mismatch", 200, {}, Rejected, None),     # an error inside a 200 is still an error
    ("something_new", 503, {}, RetryLater, None),                   # unknown code: by HTTP status
    ("something_new", 200, {}, Rejected, None),
]


@pytest.mark.parametrize("code,http,headers,cls,retry_at", ERRORS)
def test_error_bodies_map_to_classes(code, http, headers, cls, retry_at):
    adapter, fake, _ = make({("POST", f"/v2{P}/creator_info/query/"): err(code, "TikTok says no.", http, **headers)})
    request, saved = req(VIDEO)
    with pytest.raises(cls) as exc:
        adapter.publish(CREDS, request)
    assert exc.value.code == code and exc.value.platform == "tiktok" and exc.value.http_status == http
    assert "TikTok says no." in str(exc.value)
    if cls is RetryLater:
        assert exc.value.retry_at == retry_at
    assert len(fake.calls) == 1 and saved == {}      # never retried inside the adapter, nothing initialised


def test_transport_error_on_init_is_outcome_unknown_and_on_get_retry_later():
    adapter, _, _ = make({("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
                          ("POST", f"/v2{P}/video/init/"): httpx.ReadTimeout("lost"),
                          ("GET", "/v2/user/info/"): httpx.ReadTimeout("lost")})
    request, saved = req(VIDEO)
    with pytest.raises(OutcomeUnknown):
        adapter.publish(CREDS, request)
    assert "publish_id" not in saved
    with pytest.raises(RetryLater):
        adapter.account_metrics(CREDS)


def test_transport_error_on_status_fetch_is_retry_later():
    # status/fetch is a read sent as POST: a lost answer changes nothing.
    adapter, _, _ = make({("POST", f"/v2{P}/status/fetch/"): httpx.ReadTimeout("lost")})
    request, _ = req(VIDEO, progress={"publish_id": "v_pub_1"})
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, request)


# ---------------------------------------------------------------- publishing

def test_video_pull_from_url_polls_until_complete():
    adapter, fake, sleeps = make({
        ("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
        ("POST", f"/v2{P}/video/init/"): ok({"publish_id": "v_pub_1"}),
        ("POST", f"/v2{P}/status/fetch/"): [status("PROCESSING_DOWNLOAD"), status("PROCESSING_DOWNLOAD"),
                                            status("PUBLISH_COMPLETE", ["7311"])]})
    request, saved = req(VIDEO, options={"privacy_level": "SELF_ONLY"})
    result = adapter.publish(CREDS, request)
    assert fake.paths() == [f"{P}/creator_info/query/", f"{P}/video/init/"] + [f"{P}/status/fetch/"] * 3
    assert len(sleeps) == 2
    assert fake.calls[1].headers["authorization"] == "Bearer act.token"
    assert fake.calls[1].headers["content-type"] == "application/json; charset=UTF-8"
    body = fake.json(1)
    assert body["source_info"] == {"source": "PULL_FROM_URL", "video_url": "https://media.example.com/v.mp4"}
    info = body["post_info"]
    assert info["title"] == "Morning light #sun" and info["privacy_level"] == "SELF_ONLY"
    assert info["disable_duet"] is True            # the creator turned duets off in the app
    assert info["disable_comment"] is False
    assert fake.json(2) == {"publish_id": "v_pub_1"}
    assert saved == {"username": "maker", "publish_id": "v_pub_1"}
    assert result.external_id == "7311" and result.url == "https://www.tiktok.com/@maker/video/7311"


@pytest.mark.parametrize("wanted,offered,expected", [
    ("SELF_ONLY", ["PUBLIC_TO_EVERYONE", "SELF_ONLY"], "SELF_ONLY"),               # offered: honoured
    ("PUBLIC_TO_EVERYONE", ["FOLLOWER_OF_CREATOR", "SELF_ONLY"], "FOLLOWER_OF_CREATOR"),  # not offered: most public
    (None, ["SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS"], "MUTUAL_FOLLOW_FRIENDS"),        # no choice: most public
    (None, ["SELF_ONLY"], "SELF_ONLY"),                                            # unaudited apps
])
def test_privacy_level_always_one_creator_info_offered(wanted, offered, expected):
    adapter, fake, _ = make({
        ("POST", f"/v2{P}/creator_info/query/"): ok({**CREATOR, "privacy_level_options": offered}),
        ("POST", f"/v2{P}/video/init/"): ok({"publish_id": "v_pub_1"}),
        ("POST", f"/v2{P}/status/fetch/"): status("PUBLISH_COMPLETE", ["1"])})
    adapter.publish(CREDS, req(VIDEO, options={"privacy_level": wanted} if wanted else {})[0])
    assert fake.json(1)["post_info"]["privacy_level"] == expected


def test_no_privacy_options_is_rejected_before_init():
    adapter, fake, _ = make({("POST", f"/v2{P}/creator_info/query/"): ok({**CREATOR, "privacy_level_options": []})})
    with pytest.raises(Rejected):
        adapter.publish(CREDS, req(VIDEO)[0])
    assert len(fake.calls) == 1


@pytest.mark.parametrize("size,chunk_option,expected", [
    (1_000_000, None, (1_000_000, 1_000_000, 1)),         # under 5 MB: one chunk
    (10_000_000, None, (10_000_000, 10_000_000, 1)),      # fits one chunk
    (50_000_123, None, (50_000_123, 10_000_000, 5)),      # TikTok's example: the last chunk takes the 123
    (29_999_999, None, (29_999_999, 10_000_000, 2)),      # floor: the last chunk is 9,999,999 + 10,000,000
    (20_000_000, 1_000, (20_000_000, 5 * 1024 * 1024, 3)),  # too-small option raised to 5 MiB
    (4_000_000_000, 200_000_000, (4_000_000_000, 64_000_000, 62)),  # too-big option capped at 64 MB
])
def test_chunking_rules(size, chunk_option, expected):
    adapter, _, _ = make({}, **({"chunk_size": chunk_option} if chunk_option else {}))
    assert adapter.chunking(size) == expected
    _, chunk, count = expected
    assert 0 < size - chunk * (count - 1) <= 128_000_000 or count == 1


def test_video_file_upload_sends_chunks_with_content_range():
    data = bytes(range(256)) * 100_000                    # 25,600,000 bytes -> 2 chunks of 10 MB + remainder
    upload_url = "https://open-upload.tiktokapis.com/upload/?upload_id=u1&upload_token=t1"
    adapter, fake, _ = make({
        ("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
        ("POST", f"/v2{P}/video/init/"): ok({"publish_id": "v_pub_2", "upload_url": upload_url}),
        ("PUT", "/upload/"): httpx.Response(201),
        ("POST", f"/v2{P}/status/fetch/"): [status("PROCESSING_UPLOAD"), status("PUBLISH_COMPLETE", ["9"])]})
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/quicktime", data=data)
    request, saved = req(video)
    adapter.publish(CREDS, request)
    assert fake.json(1)["source_info"] == {"source": "FILE_UPLOAD", "video_size": 25_600_000,
                                           "chunk_size": 10_000_000, "total_chunk_count": 2}
    puts = [c for c in fake.calls if c.method == "PUT"]
    assert [p.headers["content-range"] for p in puts] == ["bytes 0-9999999/25600000",
                                                          "bytes 10000000-25599999/25600000"]
    assert [int(p.headers["content-length"]) for p in puts] == [10_000_000, 15_600_000]
    assert all(p.headers["content-type"] == "video/quicktime" for p in puts)
    assert b"".join(p.content for p in puts) == data
    assert "authorization" not in puts[0].headers       # the upload_url carries its own upload token
    assert saved["publish_id"] == "v_pub_2"


def test_lost_answer_to_last_chunk_is_outcome_unknown_but_earlier_chunks_retry():
    data = b"x" * 12_000_000
    upload_url = "https://open-upload.tiktokapis.com/upload/?upload_id=u1"
    routes = {("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
              ("POST", f"/v2{P}/video/init/"): ok({"publish_id": "v_pub_3", "upload_url": upload_url}),
              ("PUT", "/upload/"): httpx.ReadTimeout("lost")}
    video = MediaItem(url="https://m/v.mp4", kind="video", data=data)
    adapter, _, _ = make(routes, chunk_size=6_000_000)   # 2 chunks: the first one's loss is harmless
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, req(video)[0])
    adapter, _, _ = make(routes)                          # 1 chunk: it is the last one
    with pytest.raises(OutcomeUnknown):
        adapter.publish(CREDS, req(video)[0])


def test_photo_post_via_content_init():
    adapter, fake, _ = make({
        ("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
        ("POST", f"/v2{P}/content/init/"): ok({"publish_id": "p_pub_1"}),
        ("POST", f"/v2{P}/status/fetch/"): status("PUBLISH_COMPLETE", ["555"])})
    caption = "A very long first line " * 6 + "\nsecond line"
    request, _ = req(*PHOTOS, text=caption + " #sun")
    result = adapter.publish(CREDS, request)
    body = fake.json(1)
    assert body["media_type"] == "PHOTO" and body["post_mode"] == "DIRECT_POST"
    assert body["source_info"] == {"source": "PULL_FROM_URL", "photo_cover_index": 0,
                                   "photo_images": [p.url for p in PHOTOS]}
    assert body["post_info"]["title"] == caption.splitlines()[0][:90].strip()
    assert len(body["post_info"]["title"]) <= 90
    assert body["post_info"]["description"] == caption + " #sun"
    assert body["post_info"]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert result.url == "https://www.tiktok.com/@maker/photo/555"


def test_photo_title_prefers_content_title():
    adapter, fake, _ = make({
        ("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR),
        ("POST", f"/v2{P}/content/init/"): ok({"publish_id": "p_pub_1"}),
        ("POST", f"/v2{P}/status/fetch/"): status("PUBLISH_COMPLETE", ["555"])})
    adapter.publish(CREDS, req(*PHOTOS, title="Sunrise set")[0])
    assert fake.json(1)["post_info"]["title"] == "Sunrise set"


@pytest.mark.parametrize("media,code", [
    ((), "no_media"),                                                    # TikTok has no text posts
    ((VIDEO, PHOTOS[0]), "mixed_media"),                                 # photos and video cannot mix
    ((VIDEO, VIDEO), "mixed_media"),                                     # one video per post
    (tuple(MediaItem(url=f"https://m/{i}.jpg") for i in range(36)), "too_many_photos"),
])
def test_media_rules_rejected_without_any_call(media, code):
    adapter, fake, _ = make({})
    with pytest.raises(Rejected) as exc:
        adapter.publish(CREDS, req(*media)[0])
    assert exc.value.code == code and fake.calls == []


@pytest.mark.parametrize("reason", ["file_format_check_failed", "video_pull_failed", "duration_check_failed"])
def test_failed_status_is_rejected_in_plain_words(reason):
    adapter, fake, _ = make({("POST", f"/v2{P}/status/fetch/"): [status("PROCESSING_DOWNLOAD"),
                                                                 status("FAILED", reason=reason)]})
    with pytest.raises(Rejected) as exc:
        adapter.publish(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1"})[0])
    assert exc.value.code == reason and "_" not in str(exc.value)
    assert len(fake.calls) == 2


def test_public_id_lagging_returns_pending_result():
    adapter, fake, sleeps = make({("POST", f"/v2{P}/status/fetch/"): status("PUBLISH_COMPLETE")})
    result = adapter.publish(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1"})[0])
    assert result.external_id == "v_pub_1" and result.url is None and result.extra["pending_id"] is True
    assert len(fake.calls) == 1 + TikTokAdapter.ID_POLLS       # a short wait for the id, not forever


def test_still_processing_after_the_bound_is_in_doubt_not_retried():
    # TikTok has the post and will publish it or say why not: never "failed" for being slow, never sent again.
    adapter, fake, sleeps = make({("POST", f"/v2{P}/status/fetch/"): status("PROCESSING_UPLOAD")})
    with pytest.raises(OutcomeUnknown) as exc:
        adapter.publish(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1"})[0])
    assert len(fake.calls) == TikTokAdapter.STATUS_POLLS and len(sleeps) == TikTokAdapter.STATUS_POLLS - 1
    assert exc.value.code == "processing"


def test_retry_with_saved_publish_id_polls_instead_of_posting_again():
    adapter, fake, _ = make({("POST", f"/v2{P}/status/fetch/"): status("PUBLISH_COMPLETE", ["42"])})
    result = adapter.publish(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1", "username": "maker"})[0])
    assert fake.paths() == [f"{P}/status/fetch/"]
    assert result.external_id == "42" and result.url == "https://www.tiktok.com/@maker/video/42"


# ---------------------------------------------------------------- reconciliation

def listing(*videos):
    return ok({"videos": list(videos), "cursor": 0, "has_more": False})


MINE = {"id": "7001", "title": "Morning  light #sun", "video_description": "Morning light #sun",
        "create_time": int(NOW.timestamp()) + 30, "share_url": "https://www.tiktok.com/@maker/video/7001"}


@pytest.mark.parametrize("videos,expected", [
    ([MINE], "7001"),                                                          # same text, after since
    ([{**MINE, "title": "", "video_description": "Morning light #sun"}], "7001"),  # text in the description
    ([{**MINE, "title": "Other", "video_description": "Other"}], None),        # different text
    ([{**MINE, "create_time": int(NOW.timestamp()) - 3600}], None),           # before since: an older post
    ([], None),
])
def test_find_published_matches_text_and_time(videos, expected):
    adapter, fake, _ = make({("POST", "/v2/video/list/"): listing(*videos)})
    found = adapter.find_published(CREDS, req(VIDEO)[0], since=NOW)
    assert (found.external_id if found else None) == expected
    assert fake.json(0) == {"max_count": 20}
    assert "id" in fake.calls[0].url.params["fields"].split(",")


@pytest.mark.parametrize("answer,expected", [
    (status("PUBLISH_COMPLETE", ["8"]), "8"),           # live: its public id
    (status("PROCESSING_DOWNLOAD"), RetryLater),        # accepted, still processing (it may yet fail): ask later
    (status("FAILED", reason="video_pull_failed"), None),  # failed: nothing was posted
])
def test_find_published_with_saved_publish_id_asks_status(answer, expected):
    adapter, fake, _ = make({("POST", f"/v2{P}/status/fetch/"): answer})
    if expected is RetryLater:
        with pytest.raises(RetryLater):
            adapter.find_published(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1"})[0], since=NOW)
    else:
        found = adapter.find_published(CREDS, req(VIDEO, progress={"publish_id": "v_pub_1"})[0], since=NOW)
        assert (found.external_id if found else None) == expected
    assert len(fake.calls) == 1


# ---------------------------------------------------------------- metrics and profile

def test_post_metrics_batches_twenty_ids():
    def answer(request):
        ids = json.loads(request.content)["filters"]["video_ids"]
        return ok({"videos": [{"id": i, "view_count": 100, "like_count": 7, "comment_count": 2, "share_count": 1}
                              for i in ids]})
    adapter, fake, _ = make({("POST", "/v2/video/query/"): answer})
    metrics = adapter.post_metrics(CREDS, [str(i) for i in range(25)])
    assert [len(fake.json(i)["filters"]["video_ids"]) for i in range(2)] == [20, 5]
    assert "view_count" in fake.calls[0].url.params["fields"]
    assert metrics["3"].values == {"views": 100, "video_views": 100, "likes": 7, "comments": 2, "shares": 1}
    assert metrics["3"].raw["like_count"] == 7


USER = {"user": {"open_id": "open-1", "union_id": "u-1", "avatar_url": "https://p16/a.jpg",
                 "display_name": "The Maker", "follower_count": 1234, "following_count": 5, "likes_count": 99,
                 "video_count": 12}}


def test_account_metrics_reads_follower_count():
    adapter, fake, _ = make({("GET", "/v2/user/info/"): ok(USER)})
    assert adapter.account_metrics(CREDS).followers == 1234
    assert "follower_count" in fake.calls[0].url.params["fields"]
    assert "username" not in fake.calls[0].url.params["fields"]   # needs user.info.profile, which we do not ask for


def test_fetch_profile_uses_open_id_and_creator_username():
    adapter, _, _ = make({("GET", "/v2/user/info/"): ok(USER),
                          ("POST", f"/v2{P}/creator_info/query/"): ok(CREATOR)})
    profile = adapter.fetch_profile(TokenSet(access_token="act.x", extra={"open_id": "open-1"}))
    assert (profile.external_id, profile.handle, profile.display_name) == ("open-1", "maker", "The Maker")
    assert profile.meta["follower_count"] == 1234


def test_sandbox_host_override_rewrites_every_call():
    adapter, fake, _ = make({})
    adapter.config = PlatformConfig(client_id="ck", host_overrides={
        "https://open.tiktokapis.com": "http://127.0.0.1:9/open.tiktokapis.com"})
    adapter.client = fake.client()
    fake.routes[("GET", "/open.tiktokapis.com/v2/user/info/")] = [ok(USER)]
    assert adapter.account_metrics(CREDS).followers == 1234
    assert str(fake.calls[0].url).startswith("http://127.0.0.1:9/open.tiktokapis.com/v2/user/info/")

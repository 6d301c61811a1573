"""LinkedIn adapter against recorded shapes from the facts sheet §3 (tests.platform_harness, no network)."""
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
from core.platforms.linkedin import LinkedInAdapter, escape_little_text, unescape_little_text
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
PERSON = Credentials(access_token="AQV-member", external_id="urn:li:person:abc123",
                     meta={"author": "urn:li:person:abc123"})
ORG = Credentials(access_token="AQV-org", external_id="urn:li:organization:777",
                  meta={"author": "urn:li:organization:777"})
UPLOAD = "https://www.linkedin.com/dms-uploads/sp/upload-1"


def not_routed(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"message": "not routed", "status": 404})


def make(routes: dict, **config) -> tuple[LinkedInAdapter, FakePlatform, list[float]]:
    fake, sleeps = FakePlatform(routes, not_routed=not_routed), []
    client = fake.client()
    cfg = PlatformConfig(client_id="li-client", client_secret="li-secret", redirect_uri="https://outpost.test/cb",
                         **config)
    return LinkedInAdapter(client, cfg, clock=lambda: NOW, sleep=sleeps.append), fake, sleeps


def content(text: str = "Hello LinkedIn") -> RenderedContent:
    return RenderedContent(platform=Platform.LINKEDIN, text=text, caption=text, hashtags=(), media_urls=(), link="",
                           title="Launch video")


def err(status: int, body: dict | None = None, **headers) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers) if body is not None else httpx.Response(status)


CREATED = httpx.Response(201, headers={"x-restli-id": "urn:li:share:7001"})
IMAGE_INIT = httpx.Response(200, json={"value": {"uploadUrlExpiresAt": 1, "uploadUrl": UPLOAD,
                                                 "image": "urn:li:image:C1"}})


# ---------------------------------------------------------------- little text
@pytest.mark.parametrize("raw, escaped", [
    ("plain words, nothing reserved.", "plain words, nothing reserved."),
    ("#launch day", r"\#launch day"),                          # a hashtag would otherwise cut the post here
    ("mail me @ home", r"mail me \@ home"),
    ("(soon) [beta] {v2} <new>", r"\(soon\) \[beta\] \{v2\} \<new\>"),
    ("a|b ~c~ *bold* _it_", r"a\|b \~c\~ \*bold\* \_it\_"),
    ("back\\slash", "back\\\\slash"),                          # the escape character itself is escaped first
    ("émoji 🚀 and ünïcode", "émoji 🚀 and ünïcode"),
])
def test_little_text_escaping(raw, escaped):
    assert escape_little_text(raw) == escaped
    assert unescape_little_text(escaped) == raw


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("response, cls, code", [
    # 401 65600: the token is invalid or expired -> refresh once
    (err(401, {"message": "Invalid access token", "serviceErrorCode": 65600, "status": 401}), TokenExpired, "65600"),
    # 401 65601 / REVOKED_ACCESS_TOKEN: the member took access away; only a person can fix it
    (err(401, {"message": "The token used in the request has been revoked by the user", "serviceErrorCode": 65601,
               "code": "REVOKED_ACCESS_TOKEN", "status": 401}), ReconnectNeeded, "REVOKED_ACCESS_TOKEN"),
    # 401 expired, no service code
    (err(401, {"message": "The token used in the request has expired", "status": 401}), TokenExpired, "401"),
    (err(401, {"message": "Empty oauth2_access_token", "serviceErrorCode": 401, "status": 401}), TokenExpired, "401"),
    # 403 missing scope or Page role: permanent
    (err(403, {"message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260701",
               "code": "ACCESS_DENIED", "status": 403}), Rejected, "ACCESS_DENIED"),
    (err(422, {"message": "Content is a duplicate of urn:li:share:6999", "status": 422}), Rejected, "422"),
    # duplicate with the inputErrors detail: its code wins
    (err(422, {"errorDetailType": "com.linkedin.common.error.BadRequest",
               "message": "Content is a duplicate of urn:li:share:6999", "status": 422,
               "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected", "input": {},
                                                 "code": "DUPLICATE_POST"}]}}), Rejected, "DUPLICATE_POST"),
    (err(400, {"message": "/commentary: field is too long", "status": 400}), Rejected, "400"),
    # a sunset LinkedIn-Version
    (err(426, {"message": "Requested version 20250501 is not active", "code": "NONEXISTENT_VERSION",
               "status": 426}), Rejected, "NONEXISTENT_VERSION"),
    # a 5xx on the posting call may come after the post was made: in doubt, not "retry"
    (err(500, {"message": "Internal Server Error", "status": 500}), OutcomeUnknown, "500"),
    (err(503), OutcomeUnknown, "503"),
])
def test_errors_are_classified_and_not_retried(response, cls, code):
    adapter, fake, _ = make({("POST", "/rest/posts"): response})
    with pytest.raises(cls) as info:
        adapter.publish(PERSON, PublishRequest(content()))
    assert info.value.code == code
    assert info.value.platform == "linkedin" and info.value.http_status == response.status_code
    assert len(fake.calls) == 1                      # the adapter itself never retries


def test_rate_limit_waits_for_midnight_utc():
    adapter, fake, _ = make({("POST", "/rest/posts"): err(429, {"message": "Resource level throttle limit",
                                                                 "status": 429})})
    with pytest.raises(RetryLater) as info:
        adapter.publish(PERSON, PublishRequest(content()))
    assert info.value.retry_at == datetime(2026, 11, 21, tzinfo=UTC)   # no Retry-After: the daily reset
    assert "midnight UTC" in str(info.value) and len(fake.calls) == 1


def test_transport_errors():
    adapter, _, _ = make({("POST", "/rest/posts"): httpx.ReadTimeout("lost")})
    with pytest.raises(OutcomeUnknown):                  # the post may exist: reconcile, never blindly re-post
        adapter.publish(PERSON, PublishRequest(content()))
    adapter, _, _ = make({("POST", "/rest/posts"): httpx.ConnectError("refused")})
    with pytest.raises(RetryLater):                      # never reached LinkedIn
        adapter.publish(PERSON, PublishRequest(content()))
    adapter, _, _ = make({("GET", "/rest/memberFollowersCount"): httpx.ReadTimeout("lost")})
    with pytest.raises(RetryLater):
        adapter.account_metrics(PERSON)


def test_created_without_restli_id_is_outcome_unknown():
    adapter, _, _ = make({("POST", "/rest/posts"): httpx.Response(201)})
    with pytest.raises(OutcomeUnknown):
        adapter.publish(PERSON, PublishRequest(content()))


# ---------------------------------------------------------------- OAuth
@pytest.mark.parametrize("options, scopes", [
    ({}, "openid profile w_member_social r_member_postAnalytics"),
    ({"organization": "777"}, "openid profile w_member_social r_member_postAnalytics w_organization_social "
                              "r_organization_social rw_organization_admin"),
])
def test_authorization_url(options, scopes):
    adapter, _, _ = make({}, options=options)
    url = urlsplit(adapter.authorization_url(state="st-1", code_challenge="ignored"))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("www.linkedin.com", "/oauth/v2/authorization")
    assert query["scope"] == [scopes] and query["state"] == ["st-1"] and query["response_type"] == ["code"]
    assert query["client_id"] == ["li-client"] and query["redirect_uri"] == ["https://outpost.test/cb"]
    assert "code_challenge" not in query                 # LinkedIn's web flow takes no PKCE


def token_body(refresh_in: int = 31536000) -> dict:
    return {"access_token": "AQV-new", "expires_in": 5184000, "refresh_token": "AQX-r",
            "refresh_token_expires_in": refresh_in, "scope": "openid,profile,w_member_social"}


def test_exchange_code_posts_form_and_parses_lifetimes():
    adapter, fake, _ = make({("POST", "/oauth/v2/accessToken"): httpx.Response(200, json=token_body())})
    token = adapter.exchange_code("code-1")
    form = parse_qs(fake.calls[0].content.decode())
    assert form == {"grant_type": ["authorization_code"], "code": ["code-1"], "client_id": ["li-client"],
                    "client_secret": ["li-secret"], "redirect_uri": ["https://outpost.test/cb"]}
    assert token.expires_at == NOW + timedelta(days=60)
    assert token.refresh_expires_at == NOW + timedelta(days=365)
    assert token.scopes == ("openid", "profile", "w_member_social")


@pytest.mark.parametrize("refresh_in, expected", [
    (31536000, NOW + timedelta(days=306)),   # response repeats 365 d: keep the first grant's deadline
    (86400 * 300, NOW + timedelta(days=300)),  # response gives what is left: that is the deadline
])
def test_refresh_never_extends_the_refresh_token(refresh_in, expected):
    adapter, fake, _ = make({("POST", "/oauth/v2/accessToken"): httpx.Response(200, json=token_body(refresh_in))})
    creds = Credentials("AQV-old", refresh_token="AQX-r", meta={"refresh_expires_at": NOW + timedelta(days=306)})
    token = adapter.refresh(creds)
    assert parse_qs(fake.calls[0].content.decode())["grant_type"] == ["refresh_token"]
    assert token.access_token == "AQV-new" and token.refresh_expires_at == expected


def test_refresh_after_the_year_is_up_needs_reconnect_without_calling():
    adapter, fake, _ = make({})
    creds = Credentials("AQV-old", refresh_token="AQX-r", meta={"refresh_expires_at": "2026-11-01T00:00:00+00:00"})
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(creds)
    assert fake.calls == []


def test_refused_refresh_needs_reconnect():
    adapter, _, _ = make({("POST", "/oauth/v2/accessToken"): err(400, {
        "error": "invalid_request",
        "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked"})})
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(Credentials("AQV-old", refresh_token="AQX-r"))


@pytest.mark.parametrize("options, external_id", [
    ({}, "urn:li:person:abc123"),
    ({"organization": "777"}, "urn:li:organization:777"),
])
def test_fetch_profile(options, external_id):
    adapter, fake, _ = make({("GET", "/v2/userinfo"): httpx.Response(200, json={
        "sub": "abc123", "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace"})}, options=options)
    profile = adapter.fetch_profile(TokenSet("AQV"))
    assert profile.external_id == external_id and profile.meta["person"] == "urn:li:person:abc123"
    assert profile.display_name == "Ada Lovelace"
    assert fake.calls[0].headers["authorization"] == "Bearer AQV"


# ---------------------------------------------------------------- publishing
def test_publish_text_shape_and_headers():
    adapter, fake, _ = make({("POST", "/rest/posts"): CREATED})
    result = adapter.publish(PERSON, PublishRequest(content("Big news (really) #launch")))
    call = fake.calls[0]
    assert str(call.url) == "https://api.linkedin.com/rest/posts"
    assert call.headers["linkedin-version"] == "202607" and call.headers["x-restli-protocol-version"] == "2.0.0"
    assert call.headers["authorization"] == "Bearer AQV-member"
    assert json.loads(call.content) == {
        "author": "urn:li:person:abc123", "commentary": r"Big news \(really\) \#launch", "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False}
    assert result.external_id == "urn:li:share:7001"
    assert result.url == "https://www.linkedin.com/feed/update/urn:li:share:7001/"


def test_configured_version_and_org_author():
    adapter, fake, _ = make({("POST", "/rest/posts"): CREATED}, api_version="202606")
    adapter.publish(ORG, PublishRequest(content()))
    assert fake.calls[0].headers["linkedin-version"] == "202606"
    assert json.loads(fake.calls[0].content)["author"] == "urn:li:organization:777"


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64     # what the media host sends: sniffed as a PNG


def test_publish_single_image_fetching_bytes_from_url():
    adapter, fake, _ = make({("POST", "/rest/images"): IMAGE_INIT, ("PUT", "/dms-uploads/sp/upload-1"):
                             httpx.Response(201), ("GET", "/m/cat.png"): httpx.Response(200, content=PNG_BYTES, headers={"content-type": "image/png"}),
                             ("POST", "/rest/posts"): CREATED})
    adapter.resolve_host = lambda host, port: ["93.184.215.14"]        # a public address (no DNS in tests)
    saved = {}
    adapter.publish(PERSON, PublishRequest(content(), media=(MediaItem("https://cdn.test/m/cat.png", alt_text="A cat"),),
                                           checkpoint=saved.__setitem__))
    assert fake.paths() == ["GET /m/cat.png", "POST /rest/images", "PUT /dms-uploads/sp/upload-1", "POST /rest/posts"]
    init, put, post = fake.calls[1:]
    assert init.url.params["action"] == "initializeUpload"
    assert json.loads(init.content) == {"initializeUploadRequest": {"owner": "urn:li:person:abc123"}}
    assert put.content == PNG_BYTES and put.headers["authorization"] == "Bearer AQV-member"
    assert json.loads(post.content)["content"] == {"media": {"id": "urn:li:image:C1", "altText": "A cat"}}
    assert saved == {"image:0": "urn:li:image:C1"}


def test_publish_multi_image_and_resume():
    inits = [httpx.Response(200, json={"value": {"uploadUrl": UPLOAD, "image": f"urn:li:image:C{i}"}})
             for i in (2, 3)]
    adapter, fake, _ = make({("POST", "/rest/images"): inits, ("PUT", "/dms-uploads/sp/upload-1"): httpx.Response(201),
                             ("POST", "/rest/posts"): CREATED})
    media = tuple(MediaItem(f"https://cdn.test/{i}.jpg", data=b"JPG") for i in range(3))
    # image 0 was uploaded by an earlier attempt: only 1 and 2 are uploaded now
    adapter.publish(ORG, PublishRequest(content(), media=media, progress={"image:0": "urn:li:image:C1"}))
    assert fake.paths().count("POST /rest/images") == 2 and fake.paths().count("PUT /dms-uploads/sp/upload-1") == 2
    assert json.loads(fake.calls[-1].content)["content"] == {
        "multiImage": {"images": [{"id": "urn:li:image:C1"}, {"id": "urn:li:image:C2"}, {"id": "urn:li:image:C3"}]}}


@pytest.mark.parametrize("media, code", [
    (tuple(MediaItem(f"https://cdn.test/{i}.jpg", data=b"x") for i in range(21)), "too_many_images"),
    ((MediaItem("https://cdn.test/v.mp4", kind="video", data=b"v"), MediaItem("https://cdn.test/1.jpg", data=b"x")),
     "media_mix"),
])
def test_media_refused_before_any_call(media, code):
    adapter, fake, _ = make({})
    with pytest.raises(Rejected) as info:
        adapter.publish(PERSON, PublishRequest(content(), media=media))
    assert info.value.code == code and fake.calls == []


def video_routes(statuses: list[str]) -> dict:
    parts = [{"uploadUrl": f"https://www.linkedin.com/dms-uploads/v/part{i}", "firstByte": i * 4,
              "lastByte": min(i * 4 + 3, 9)} for i in range(3)]
    routes = {("POST", "/rest/videos"): lambda r: httpx.Response(200, json={"value": {
        "video": "urn:li:video:V1", "uploadToken": "tok", "uploadInstructions": parts}})
        if r.url.params["action"] == "initializeUpload" else httpx.Response(200),
        ("GET", "/rest/videos/urn:li:video:V1"): [httpx.Response(200, json={"status": s}) for s in statuses],
        ("POST", "/rest/posts"): CREATED}
    for i in range(3):
        routes[("PUT", f"/dms-uploads/v/part{i}")] = httpx.Response(200, headers={"etag": f"etag-{i}"})
    return routes


def test_publish_video_uploads_ranges_and_finalizes_with_etags_in_order():
    adapter, fake, sleeps = make(video_routes(["PROCESSING", "AVAILABLE"]))
    video = MediaItem("https://cdn.test/v.mp4", kind="video", data=b"0123456789")
    adapter.publish(PERSON, PublishRequest(content(), media=(video,)))
    assert fake.paths() == ["POST /rest/videos", "PUT /dms-uploads/v/part0", "PUT /dms-uploads/v/part1",
                            "PUT /dms-uploads/v/part2", "POST /rest/videos", "GET /rest/videos/urn:li:video:V1",
                            "GET /rest/videos/urn:li:video:V1", "POST /rest/posts"]
    assert json.loads(fake.calls[0].content)["initializeUploadRequest"]["fileSizeBytes"] == 10
    assert [c.content for c in fake.calls[1:4]] == [b"0123", b"4567", b"89"]
    assert json.loads(fake.calls[4].content) == {"finalizeUploadRequest": {
        "video": "urn:li:video:V1", "uploadToken": "tok", "uploadedPartIds": ["etag-0", "etag-1", "etag-2"]}}
    assert fake.calls[5].url.raw_path == b"/rest/videos/urn%3Ali%3Avideo%3AV1"
    assert json.loads(fake.calls[-1].content)["content"] == {"media": {"id": "urn:li:video:V1",
                                                                      "title": "Launch video"}}
    assert sleeps == [3.0]


def test_video_still_processing_is_retry_later_and_resumes_without_reupload():
    adapter, fake, sleeps = make(video_routes(["PROCESSING"]))
    saved = {}
    video = MediaItem("https://cdn.test/v.mp4", kind="video", data=b"0123456789")
    with pytest.raises(RetryLater):
        adapter.publish(PERSON, PublishRequest(content(), media=(video,), checkpoint=saved.__setitem__))
    assert saved == {"video": "urn:li:video:V1"} and len(sleeps) == LinkedInAdapter.VIDEO_POLLS - 1
    adapter, fake, _ = make(video_routes(["AVAILABLE"]))
    adapter.publish(PERSON, PublishRequest(content(), media=(video,), progress=saved))
    assert fake.paths() == ["GET /rest/videos/urn:li:video:V1", "POST /rest/posts"]


def test_video_processing_failed_is_rejected():
    adapter, _, _ = make(video_routes(["PROCESSING_FAILED"]))
    with pytest.raises(Rejected):
        adapter.publish(PERSON, PublishRequest(content(), media=(MediaItem("v", kind="video", data=b"0123456789"),)))


# ---------------------------------------------------------------- reconciliation
def test_member_listing_is_not_available():
    adapter, fake, _ = make({})
    assert adapter.find_published(PERSON, PublishRequest(content()), since=NOW) is None
    assert fake.calls == [] and LinkedInAdapter.reliable_listing is False


def org_posts(commentary: str, created: datetime) -> httpx.Response:
    return httpx.Response(200, json={"elements": [
        {"id": "urn:li:share:1", "commentary": "older post", "createdAt": 0},
        {"id": "urn:li:share:7001", "author": "urn:li:organization:777", "commentary": commentary,
         "createdAt": int(created.timestamp() * 1000), "publishedAt": int(created.timestamp() * 1000)}]})


@pytest.mark.parametrize("commentary, created, found", [
    (r"Big news \(really\)  \#launch", NOW + timedelta(seconds=5), True),   # escaped, extra space: same text
    ("Big news (really) #launch", NOW + timedelta(seconds=5), True),
    ("Other news", NOW + timedelta(seconds=5), False),
    (r"Big news \(really\) \#launch", NOW - timedelta(hours=1), False),   # same text, but before the attempt
])
def test_org_find_published(commentary, created, found):
    adapter, fake, _ = make({("GET", "/rest/posts"): org_posts(commentary, created)})
    result = adapter.find_published(ORG, PublishRequest(content("Big news (really) #launch")), since=NOW)
    assert (result is not None) == found
    if found:
        assert result.external_id == "urn:li:share:7001"
    assert fake.calls[0].url.params["author"] == "urn:li:organization:777"
    assert fake.calls[0].headers["linkedin-version"] == "202607"


# ---------------------------------------------------------------- metrics
def test_member_post_metrics_one_query_type_per_call():
    counts = {"IMPRESSION": 120, "MEMBERS_REACHED": 80, "REACTION": 9, "COMMENT": 2, "RESHARE": 1}
    adapter, fake, _ = make({("GET", "/rest/memberCreatorPostAnalytics"): lambda r: httpx.Response(200, json={
        "elements": [{"count": counts[r.url.params["queryType"]]}]})})
    out = adapter.post_metrics(PERSON, ["urn:li:share:7001", "urn:li:ugcPost:9"])
    assert len(fake.calls) == 10
    assert fake.calls[0].url.raw_path.decode().endswith(
        "entity=(share:urn%3Ali%3Ashare%3A7001)&queryType=IMPRESSION&aggregation=TOTAL")
    assert "entity=(ugc:urn%3Ali%3AugcPost%3A9)" in fake.calls[5].url.raw_path.decode()
    assert out["urn:li:share:7001"].values == {"views": 120, "reach": 80, "likes": 9, "comments": 2, "shares": 1}
    assert out["urn:li:share:7001"].raw["IMPRESSION"] == 120


def test_org_post_metrics_are_batched_and_missing_means_zero():
    adapter, fake, _ = make({("GET", "/rest/organizationalEntityShareStatistics"): httpx.Response(200, json={
        "elements": [{"share": "urn:li:share:1", "organizationalEntity": "urn:li:organization:777",
                      "totalShareStatistics": {"impressionCount": 500, "uniqueImpressionsCount": 300, "clickCount": 12,
                                               "likeCount": 30, "commentCount": 4, "shareCount": 2,
                                               "engagement": 0.09}}]})})
    out = adapter.post_metrics(ORG, ["urn:li:share:1", "urn:li:share:2", "urn:li:ugcPost:3"])
    assert len(fake.calls) == 1
    query = fake.calls[0].url.raw_path.decode()
    assert "shares=List(urn%3Ali%3Ashare%3A1,urn%3Ali%3Ashare%3A2)" in query
    assert "ugcPosts=List(urn%3Ali%3AugcPost%3A3)" in query
    assert out["urn:li:share:1"].values == {"views": 500, "reach": 300, "clicks": 12, "likes": 30, "comments": 4,
                                            "shares": 2}
    assert set(out["urn:li:share:2"].values.values()) == {0}


@pytest.mark.parametrize("creds, path, body, followers", [
    (PERSON, "/rest/memberFollowersCount", {"elements": [{"memberFollowersCount": 1234}]}, 1234),
    (ORG, "/rest/networkSizes/urn:li:organization:777", {"firstDegreeSize": 5678}, 5678),
])
def test_account_metrics(creds, path, body, followers):
    adapter, fake, _ = make({("GET", path): httpx.Response(200, json=body)})
    assert adapter.account_metrics(creds).followers == followers
    assert fake.calls[0].headers["x-restli-protocol-version"] == "2.0.0"


def test_a_media_link_to_a_private_address_is_refused_before_any_connection():
    # The runner's network (loopback, private ranges) is never reached through a post's media link.
    adapter, fake, _ = make({("GET", "/admin.png"): httpx.Response(200, content=PNG_BYTES)})
    adapter.resolve_host = lambda host, port: ["10.0.0.7"]
    with pytest.raises(Rejected) as info:
        adapter.publish(PERSON, PublishRequest(content(), media=(MediaItem("https://intranet.test/admin.png"),)))
    assert fake.calls == [] and info.value.platform == "linkedin"


# ---------------------------------------------------------------- the first comment (issue 11)
def test_first_comment_under_the_post_as_its_author():
    comment_urn = "urn:li:comment:(urn:li:share:7001,9001)"
    path = "/rest/socialActions/urn%3Ali%3Ashare%3A7001/comments"
    adapter, fake, _ = make({("POST", "/rest/posts"): CREATED,
                             ("POST", "/rest/socialActions/urn:li:share:7001/comments"): httpx.Response(
                                 201, json={"id": "9001"}, headers={"x-restli-id": comment_urn})})
    saved: dict = {}
    request = PublishRequest(content("Hiring"), options={"first_comment": "Apply (link) here"},
                             checkpoint=saved.__setitem__)
    result = adapter.publish_post(ORG, request)
    call = fake.calls[-1]
    assert call.url.raw_path.decode() == path and call.headers["linkedin-version"] == "202607"
    assert json.loads(call.content) == {"actor": "urn:li:organization:777", "object": "urn:li:share:7001",
                                        "message": {"text": "Apply (link) here"}}     # plain text, not little text
    assert result.extra["first_comment_id"] == comment_urn and saved["comment:id"] == comment_urn


def test_a_lost_comment_linkedin_cannot_list_is_reported_not_sent_again():
    adapter, fake, _ = make({("GET", "/rest/socialActions/urn:li:share:7001/comments"): err(
        403, {"message": "Not enough permissions", "serviceErrorCode": 100, "code": "ACCESS_DENIED", "status": 403})})
    saved: dict = {}
    progress = {"post:id": "urn:li:share:7001", "comment:sent": NOW.isoformat()}
    result = adapter.publish_post(PERSON, PublishRequest(content("Hiring"), options={"first_comment": "Apply"},
                                                         progress=progress, checkpoint=saved.__setitem__))
    assert "cannot tell whether it went out" in result.extra["first_comment_error"]
    assert fake.made("POST", "/rest/socialActions/urn:li:share:7001/comments") == []
    assert saved["comment:failed"]
    # A doubt, not a refusal; the listing's 403 is LinkedIn's rule for every app, not the account's permission.
    assert result.extra["first_comment_unknown"] == "1" and saved["comment:unknown"] == "1"
    assert result.extra["first_comment_error"].startswith("LinkedIn did not answer whether the first comment was posted")
    assert "permission" not in result.extra["first_comment_error"].lower()

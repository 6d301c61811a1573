"""X adapter against recorded shapes from the facts sheet §4 (tests.platform_harness, no network)."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet, pkce_pair
from core.domain.catalog import Platform
from core.platforms.x import SNOWFLAKE_EPOCH_MS, XAdapter, created_at
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
CREDS = Credentials(access_token="x-access", external_id="2244994945", meta={"username": "outpost"})


def snowflake(when: datetime) -> str:
    return str((int(when.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22)


def not_routed(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"title": "Not Found Error", "status": 404, "type": "about:blank",
                                     "detail": "not routed"})


def make(routes: dict) -> tuple[XAdapter, FakePlatform, list[float]]:
    fake, sleeps = FakePlatform(routes, not_routed=not_routed), []
    config = PlatformConfig(client_id="x-client", client_secret="x-secret", redirect_uri="https://outpost.test/cb")
    return XAdapter(fake.client(), config, clock=lambda: NOW,
                    sleep=sleeps.append), fake, sleeps


def content(text: str = "Hello X") -> RenderedContent:
    return RenderedContent(platform=Platform.X, text=text, caption=text, hashtags=(), media_urls=(), link="", title=None)


def problem(status: int, detail: str, title: str = "Forbidden", type_: str = "about:blank", **headers) -> httpx.Response:
    return httpx.Response(status, json={"title": title, "detail": detail, "type": type_, "status": status},
                          headers=headers)


def tweet(post_id: str, text: str = "Hello X") -> httpx.Response:
    return httpx.Response(201, json={"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}})


RESET = int((NOW + timedelta(minutes=12)).timestamp())
DAY_RESET = int((NOW + timedelta(hours=7)).timestamp())


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("response, cls, code, retry_at", [
    # duplicate text: permanent, and said in plain words
    (problem(403, "You are not allowed to create a Tweet with duplicate content."), Rejected, "duplicate", None),
    # the posting user's video limit: permanent
    (problem(403, "This user is not allowed to post a video longer than 20 minutes."), Rejected, "403", None),
    (problem(401, "Unauthorized", "Unauthorized"), TokenExpired, "401", None),
    # 15-minute window used up: wait for x-rate-limit-reset (X sends no Retry-After)
    (problem(429, "Too Many Requests", "Too Many Requests", **{"x-rate-limit-limit": "100",
             "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET)}), RetryLater, "429",
     datetime.fromtimestamp(RESET, UTC)),
    # the 24-hour user cap is the one used up: its reset wins
    (problem(429, "Too Many Requests", "Too Many Requests", **{"x-rate-limit-remaining": "57",
             "x-rate-limit-reset": str(RESET), "x-user-limit-24hour-remaining": "0",
             "x-user-limit-24hour-reset": str(DAY_RESET)}), RetryLater, "429", datetime.fromtimestamp(DAY_RESET, UTC)),
    # legacy body
    (httpx.Response(429, json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
                    headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET)}), RetryLater, "88",
     datetime.fromtimestamp(RESET, UTC)),
    (problem(429, "Usage cap exceeded: Monthly product cap", "UsageCapExceeded",
             "https://api.twitter.com/2/problems/usage-capped"), RetryLater, "usage-capped", None),
    # a 5xx on the posting call may come after the post was made (a gateway's 502/504): in doubt, not "retry"
    (httpx.Response(500), OutcomeUnknown, "500", None),
    (problem(503, "Service Unavailable", "Service Unavailable"), OutcomeUnknown, "503", None),
    (httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>"), OutcomeUnknown, "502", None),
    (httpx.Response(400, json={"errors": [{"parameters": {"text": [""]}, "message": "text is required"}],
                               "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                               "type": "https://api.twitter.com/2/problems/invalid-request"}),
     Rejected, "invalid-request", None),
])
def test_errors_are_classified_and_not_retried(response, cls, code, retry_at):
    adapter, fake, _ = make({("POST", "/2/tweets"): response})
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, PublishRequest(content()))
    assert info.value.code == code and info.value.platform == "x"
    assert info.value.http_status == response.status_code
    if cls is RetryLater:
        assert info.value.retry_at == retry_at
    assert len(fake.calls) == 1


def test_duplicate_message_is_plain():
    adapter, _, _ = make({("POST", "/2/tweets"): problem(403, "You are not allowed to create a Tweet with duplicate "
                                                               "content.")})
    with pytest.raises(Rejected, match="X refuses duplicate posts: this exact text was already posted"):
        adapter.publish(CREDS, PublishRequest(content()))


def test_transport_errors():
    adapter, _, _ = make({("POST", "/2/tweets"): httpx.ReadTimeout("lost")})
    with pytest.raises(OutcomeUnknown):
        adapter.publish(CREDS, PublishRequest(content()))
    adapter, _, _ = make({("POST", "/2/tweets"): httpx.ConnectError("refused")})
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, PublishRequest(content()))
    adapter, _, _ = make({("GET", "/2/tweets"): httpx.ReadTimeout("lost")})
    with pytest.raises(RetryLater):
        adapter.post_metrics(CREDS, ["1"])


# ---------------------------------------------------------------- OAuth
def test_authorization_url_requires_pkce_s256():
    adapter, _, _ = make({})
    verifier, challenge = pkce_pair()
    url = urlsplit(adapter.authorization_url(state="st-1", code_challenge=challenge))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("x.com", "/i/oauth2/authorize")
    assert query["scope"] == ["tweet.read tweet.write users.read media.write offline.access"]
    assert query["code_challenge"] == [challenge] and query["code_challenge_method"] == ["S256"]
    assert query["state"] == ["st-1"] and query["client_id"] == ["x-client"] and query["response_type"] == ["code"]
    with pytest.raises(ValueError):
        adapter.authorization_url(state="st-1")
    with pytest.raises(ValueError):
        adapter.exchange_code("code-1")


TOKEN = {"token_type": "bearer", "expires_in": 7200, "access_token": "x-access-2", "refresh_token": "x-refresh-2",
         "scope": "tweet.read tweet.write users.read media.write offline.access"}


def test_exchange_code_uses_basic_auth_and_verifier():
    adapter, fake, _ = make({("POST", "/2/oauth2/token"): httpx.Response(200, json=TOKEN)})
    token = adapter.exchange_code("code-1", code_verifier="verifier-1")
    call = fake.calls[0]
    assert str(call.url) == "https://api.x.com/2/oauth2/token"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(b"x-client:x-secret").decode()
    form = parse_qs(call.content.decode())
    assert form == {"grant_type": ["authorization_code"], "code": ["code-1"], "redirect_uri": ["https://outpost.test/cb"],
                    "client_id": ["x-client"], "code_verifier": ["verifier-1"]}   # no secret in the form
    assert token.expires_at == NOW + timedelta(hours=2) and token.refresh_token == "x-refresh-2"
    assert "offline.access" in token.scopes and adapter.missing_scopes(token) == ()


def test_refresh_rotates_the_refresh_token():
    adapter, fake, _ = make({("POST", "/2/oauth2/token"): httpx.Response(200, json=TOKEN)})
    token = adapter.refresh(Credentials("x-access", refresh_token="x-refresh-1"))
    assert parse_qs(fake.calls[0].content.decode())["refresh_token"] == ["x-refresh-1"]
    assert token.refresh_token == "x-refresh-2"


def test_refused_refresh_needs_reconnect():
    adapter, _, _ = make({("POST", "/2/oauth2/token"): httpx.Response(400, json={
        "error": "invalid_request", "error_description": "Value passed for the token was invalid."})})
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(Credentials("x-access", refresh_token="x-refresh-1"))


def test_fetch_profile():
    adapter, fake, _ = make({("GET", "/2/users/me"): httpx.Response(200, json={"data": {
        "id": "2244994945", "name": "Outpost", "username": "outpost", "public_metrics": {"followers_count": 10}}})})
    profile = adapter.fetch_profile(TokenSet("x-access"))
    assert (profile.external_id, profile.handle, profile.meta["username"]) == ("2244994945", "@outpost", "outpost")
    assert fake.calls[0].headers["authorization"] == "Bearer x-access"


# ---------------------------------------------------------------- publishing
@pytest.mark.parametrize("meta, url", [
    ({"username": "outpost"}, "https://x.com/outpost/status/1880028106020515840"),
    ({}, "https://x.com/i/status/1880028106020515840"),   # no username known: X's own /i/ form, no extra call
])
def test_publish_text(meta, url):
    adapter, fake, _ = make({("POST", "/2/tweets"): tweet("1880028106020515840")})
    result = adapter.publish(Credentials("x-access", external_id="1", meta=meta), PublishRequest(content()))
    assert json.loads(fake.calls[0].content) == {"text": "Hello X"}
    assert fake.calls[0].headers["authorization"] == "Bearer x-access"
    assert (result.external_id, result.url) == ("1880028106020515840", url)


def media_routes(finalize_info: dict | None, statuses: list[dict] = ()) -> dict:
    final = {"id": "1880028106020515840", "media_key": "3_188", "size": 10, "expires_after_secs": 86400}
    return {("POST", "/2/media/upload/initialize"): httpx.Response(200, json={"data": {
                "id": "1880028106020515840", "media_key": "3_188", "expires_after_secs": 86400}}),
            ("POST", "/2/media/upload/1880028106020515840/append"): httpx.Response(204),
            ("POST", "/2/media/upload/1880028106020515840/finalize"): httpx.Response(200, json={"data": {
                **final, **({"processing_info": finalize_info} if finalize_info else {})}}),
            ("GET", "/2/media/upload"): [httpx.Response(200, json={"data": {**final, "processing_info": s}})
                                         for s in statuses] or httpx.Response(200, json={"data": final}),
            ("POST", "/2/tweets"): tweet("1880028106020515999")}


def test_publish_image():
    adapter, fake, sleeps = make(media_routes(None))
    image = MediaItem("https://cdn.test/cat.png", data=b"PNGDATA")
    saved = {}
    adapter.publish(CREDS, PublishRequest(content(), media=(image,), checkpoint=saved.__setitem__))
    assert fake.paths() == ["POST /2/media/upload/initialize", "POST /2/media/upload/1880028106020515840/append",
                            "POST /2/media/upload/1880028106020515840/finalize", "POST /2/tweets"]
    assert json.loads(fake.calls[0].content) == {"media_type": "image/png", "total_bytes": 7,
                                                 "media_category": "tweet_image"}
    append = fake.calls[1]
    assert append.headers["content-type"].startswith("multipart/form-data")
    assert b'name="segment_index"\r\n\r\n0' in append.content and b"PNGDATA" in append.content
    assert json.loads(fake.calls[-1].content) == {"text": "Hello X", "media": {"media_ids": ["1880028106020515840"]}}
    assert saved["media:0"] == "1880028106020515840" and sleeps == []


def test_publish_video_in_segments_waits_for_processing():
    adapter, fake, sleeps = make(media_routes({"state": "pending", "check_after_secs": 1},
                                              [{"state": "in_progress", "check_after_secs": 5, "progress_percent": 40},
                                               {"state": "succeeded", "progress_percent": 100}]))
    video = MediaItem("https://cdn.test/clip.mp4", kind="video", data=b"v" * 11_000_000)
    adapter.publish(CREDS, PublishRequest(content(), media=(video,)))
    assert json.loads(fake.calls[0].content)["media_category"] == "tweet_video"
    appends = [c for c in fake.calls if c.url.path.endswith("/append")]
    assert [a.content.split(b'name="segment_index"\r\n\r\n')[1][:1] for a in appends] == [b"0", b"1", b"2"]
    status = [c for c in fake.calls if c.method == "GET"]
    assert len(status) == 2 and status[0].url.params["command"] == "STATUS"
    assert status[0].url.params["media_id"] == "1880028106020515840"
    assert sleeps == [1.0, 5.0]


def test_media_processing_failed_is_rejected():
    adapter, fake, _ = make(media_routes({"state": "pending", "check_after_secs": 1}, [
        {"state": "failed", "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video codec"}}]))
    with pytest.raises(Rejected, match="Unsupported video codec"):
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("v.mp4", kind="video", data=b"v"),)))
    assert "POST /2/tweets" not in fake.paths()


def test_media_still_processing_is_retry_later_and_resumes_polling_only():
    adapter, fake, sleeps = make(media_routes({"state": "pending", "check_after_secs": 2},
                                              [{"state": "in_progress", "check_after_secs": 2}]))
    saved = {}
    video = MediaItem("v.mp4", kind="video", data=b"v")
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, PublishRequest(content(), media=(video,), checkpoint=saved.__setitem__))
    assert len(sleeps) == XAdapter.MEDIA_POLLS and saved == {"media_pending:0": "1880028106020515840"}
    adapter, fake, _ = make(media_routes(None, [{"state": "succeeded"}]))
    adapter.publish(CREDS, PublishRequest(content(), media=(video,), progress=saved))
    assert fake.paths() == ["GET /2/media/upload", "POST /2/tweets"]


def test_thread_is_a_reply_chain_and_resumes_where_it_stopped():
    ids = iter(["101", "102", "103"])
    adapter, fake, _ = make({("POST", "/2/tweets"): lambda r: tweet(next(ids))})
    saved = {}
    request = PublishRequest(content("1/3"), options={"thread": ["2/3", "3/3"]}, checkpoint=saved.__setitem__)
    result = adapter.publish(CREDS, request)
    bodies = [json.loads(c.content) for c in fake.calls]
    assert bodies == [{"text": "1/3"}, {"text": "2/3", "reply": {"in_reply_to_tweet_id": "101"}},
                      {"text": "3/3", "reply": {"in_reply_to_tweet_id": "102"}}]
    assert result.external_id == "101" and result.extra["thread_ids"] == ["101", "102", "103"]
    assert {k: v for k, v in saved.items() if k.startswith("tweet:")} == {
        "tweet:0": "101", "tweet:1": "102", "tweet:2": "103"}
    # each reply was checkpointed before it was sent
    assert saved["tweet_sent:1"] == saved["tweet_sent:2"] == NOW.isoformat()

    # a 429 on the second post (certainly not made): a retry posts only the rest of the chain
    adapter, fake, _ = make({("POST", "/2/tweets"): [problem(429, "Too Many Requests", "Too Many Requests"),
                                                     tweet("202"), tweet("203")]})
    saved = {"tweet:0": "101"}
    request = PublishRequest(content("1/3"), options={"thread": ["2/3", "3/3"]}, progress=dict(saved),
                             checkpoint=saved.__setitem__)
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, request)
    assert saved["tweet_sent:1"] == ""
    result = adapter.publish(CREDS, PublishRequest(content("1/3"), options={"thread": ["2/3", "3/3"]},
                                                   progress=dict(saved)))
    assert [json.loads(c.content) for c in fake.calls[1:]] == [
        {"text": "2/3", "reply": {"in_reply_to_tweet_id": "101"}},
        {"text": "3/3", "reply": {"in_reply_to_tweet_id": "202"}}]
    assert result.extra["thread_ids"] == ["101", "202", "203"]


def replies(*items: tuple[str, str, str]) -> httpx.Response:
    """The account's timeline with replies: (id, text, the post it replies to)."""
    return httpx.Response(200, json={"data": [
        {"id": i, "text": t, "created_at": "2026-11-20T15:30:01.000Z",
         "referenced_tweets": [{"type": "replied_to", "id": parent}]} for i, t, parent in items],
        "meta": {"result_count": len(items)}})


def test_a_reply_whose_answer_was_lost_is_looked_up_not_posted_again():
    """Post 2's answer is a 503 (X may have made it): the next try finds it among the replies to post 1."""
    adapter, fake, _ = make({("POST", "/2/tweets"): [problem(503, "Service Unavailable"), tweet("203")],
                             ("GET", "/2/users/2244994945/tweets"): replies(("555", "2/3", "999"),
                                                                            ("202", "2/3", "101"))})
    saved = {"tweet:0": "101"}
    options = {"thread": ["2/3", "3/3"]}
    with pytest.raises(OutcomeUnknown):
        adapter.publish(CREDS, PublishRequest(content("1/3"), options=options, progress=dict(saved),
                                              checkpoint=saved.__setitem__))
    assert saved["tweet_sent:1"] == NOW.isoformat() and "tweet:1" not in saved
    result = adapter.publish(CREDS, PublishRequest(content("1/3"), options=options, progress=dict(saved),
                                                   checkpoint=saved.__setitem__))
    # the same text replying to another post (555) is not ours; 202 replies to 101: ours
    assert result.extra["thread_ids"] == ["101", "202", "203"]
    posted = [json.loads(c.content) for c in fake.made("POST", "/2/tweets")]
    assert posted == [{"text": "2/3", "reply": {"in_reply_to_tweet_id": "101"}},
                      {"text": "3/3", "reply": {"in_reply_to_tweet_id": "202"}}]


def test_a_lost_reply_not_listed_waits_for_the_settle_window_and_the_lag_then_is_sent_again():
    now = [NOW]
    fake = FakePlatform({("POST", "/2/tweets"): tweet("302"),
                         ("GET", "/2/users/2244994945/tweets"): replies()}, not_routed=not_routed)
    adapter = XAdapter(fake.client(), PlatformConfig(client_id="x", redirect_uri="https://outpost.test/cb"),
                       clock=lambda: now[0])
    saved = {"tweet:0": "101", "tweet_sent:1": NOW.isoformat()}
    options = {"thread": ["2/2"]}
    now[0] = NOW + adapter.settle_window          # the request may still land: not sent again
    with pytest.raises(OutcomeUnknown, match="post 2 of the thread"):
        adapter.publish(CREDS, PublishRequest(content("1/2"), options=options, progress=dict(saved)))
    assert fake.made("POST", "/2/tweets") == []
    now[0] = NOW + adapter.settle_window + adapter.listing_lag     # proven absent: sent again, once
    result = adapter.publish(CREDS, PublishRequest(content("1/2"), options=options, progress=dict(saved)))
    assert result.extra["thread_ids"] == ["101", "302"] and len(fake.made("POST", "/2/tweets")) == 1


def test_a_refused_reply_says_which_post_of_the_thread():
    adapter, _, _ = make({("POST", "/2/tweets"): problem(403, "You are not allowed to create a Tweet with "
                                                              "duplicate content.")})
    with pytest.raises(Rejected, match="post 2 of 2 of the thread"):
        adapter.publish(CREDS, PublishRequest(content("1/2"), options={"thread": ["2/2"]},
                                              progress={"tweet:0": "101"}))


# ---------------------------------------------------------------- reconciliation
def timeline(text: str, created: datetime) -> httpx.Response:
    return httpx.Response(200, json={"data": [
        {"id": "900", "text": "something else", "created_at": "2026-11-20T15:31:00.000Z"},
        {"id": "901", "text": text, "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z")}],
        "meta": {"result_count": 2, "newest_id": "901"}})


@pytest.mark.parametrize("listed, created, found", [
    ("Tips &amp; tricks: https://t.co/abc123", NOW + timedelta(seconds=3), True),   # X escapes & and wraps links
    ("Tips &amp; tricks: https://t.co/abc123 https://t.co/media9", NOW + timedelta(seconds=3), True),  # + media link
    ("Tips & tricks, part 2", NOW + timedelta(seconds=3), False),
    ("Tips &amp; tricks: https://t.co/abc123", NOW - timedelta(minutes=5), False),  # before this attempt
])
def test_find_published(listed, created, found):
    adapter, fake, _ = make({("GET", "/2/users/2244994945/tweets"): timeline(listed, created)})
    result = adapter.find_published(CREDS, PublishRequest(content("Tips & tricks: https://example.com/tips")),
                                    since=NOW)
    assert (result is not None) == found
    if found:
        assert (result.external_id, result.url) == ("901", "https://x.com/outpost/status/901")
    assert fake.calls[0].url.params["start_time"] == "2026-11-20T15:30:00Z"


def test_find_published_uses_saved_id_without_calling():
    adapter, fake, _ = make({})
    result = adapter.find_published(CREDS, PublishRequest(content(), progress={"tweet:0": "777"}), since=NOW)
    assert result.external_id == "777" and fake.calls == []


# ---------------------------------------------------------------- metrics
def test_created_at_reads_the_snowflake():
    assert created_at(snowflake(NOW)) == NOW and created_at("not-an-id") is None


def test_post_metrics_batches_and_asks_private_metrics_only_for_young_posts():
    young = [snowflake(NOW - timedelta(days=2, seconds=i)) for i in range(150)]
    old = snowflake(NOW - timedelta(days=45))

    def answer(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["ids"].split(",")
        private = "non_public_metrics" in request.url.params["tweet.fields"]
        return httpx.Response(200, json={"data": [{
            "id": i, "attachments": {"media_keys": ["7_1"]} if i == young[0] else {},
            "public_metrics": {"retweet_count": 2, "reply_count": 3, "like_count": 40, "quote_count": 1,
                               "bookmark_count": 5, "impression_count": 900},
            **({"non_public_metrics": {"impression_count": 1000, "url_link_clicks": 7, "user_profile_clicks": 2,
                                       "engagements": 60}} if private else {})} for i in ids],
            "includes": {"media": [{"media_key": "7_1", "type": "video", "public_metrics": {"view_count": 333}}]}})

    adapter, fake, _ = make({("GET", "/2/tweets"): answer})
    out = adapter.post_metrics(CREDS, young + [old])
    fields = [c.url.params["tweet.fields"] for c in fake.calls]
    assert fields == ["public_metrics,non_public_metrics,attachments"] * 2 + ["public_metrics,attachments"]
    assert [len(c.url.params["ids"].split(",")) for c in fake.calls] == [100, 50, 1]
    assert out[young[0]].values == {"views": 1000, "likes": 40, "comments": 3, "shares": 3, "saves": 5, "clicks": 7,
                                    "video_views": 333}
    assert out[old].values["views"] == 900 and "clicks" not in out[old].values     # X does not say: not available
    assert out[old].raw == {"public_metrics": {"retweet_count": 2, "reply_count": 3, "like_count": 40,
                                               "quote_count": 1, "bookmark_count": 5, "impression_count": 900}}


def test_account_metrics():
    adapter, fake, _ = make({("GET", "/2/users/me"): httpx.Response(200, json={"data": {
        "id": "2244994945", "username": "outpost", "public_metrics": {"followers_count": 4321, "following_count": 7,
                                                                      "tweet_count": 99, "listed_count": 1}}})})
    assert adapter.account_metrics(CREDS).followers == 4321
    assert fake.calls[0].url.params["user.fields"] == "public_metrics"


def test_a_media_link_to_a_private_address_is_refused_before_any_connection():
    # The runner's network (cloud metadata, internal services) is never reached through a post's media link.
    adapter, fake, _ = make({("GET", "/latest/meta-data/"): httpx.Response(200, content=b"secret")})
    adapter.resolve_host = lambda host, port: ["169.254.169.254"]
    with pytest.raises(Rejected) as info:
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("https://cdn.evil.test/latest/meta-data/"),)))
    assert fake.calls == [] and info.value.platform == "x"

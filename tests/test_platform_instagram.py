"""The Instagram adapter against recorded Graph answers (facts §1), through tests.platform_harness."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet
from core.domain.catalog import Platform
from core.platforms.instagram import InstagramAdapter
from core.platforms.meta import usage_percent, usage_retry_at
from tests.platform_harness import FakePlatform, method_path_pair

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
V = "/v25.0"
USER = "17841400000000001"
CREDS = Credentials(access_token="IGAAlong", external_id=USER, issued_at=NOW - timedelta(days=2),
                    expires_at=NOW + timedelta(days=58))
JPG, JPG2, MP4 = "https://cdn.example/a.jpg", "https://cdn.example/b.jpg", "https://cdn.example/c.mp4"


def graph_error(code, message, subcode=None, status=400, headers=None, **extra):
    body = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123", **extra}
    if subcode:
        body["error_subcode"] = subcode
    return httpx.Response(status, json={"error": body}, headers=headers)


def graph_not_routed(request: httpx.Request) -> httpx.Response:
    """The Graph API's answer to a path it does not serve."""
    return graph_error(100, f"Unsupported {request.method} request to {request.url.path}")


def fake_graph(routes=None) -> FakePlatform:
    return FakePlatform(routes, not_routed=graph_not_routed, label=method_path_pair)


def make(routes=None, **config):
    graph = fake_graph(routes)
    sleeps: list[float] = []
    adapter = InstagramAdapter(graph.client(),
                               PlatformConfig(client_id="ig-app", client_secret="ig-secret",
                                              redirect_uri="https://outpost.example/oauth/instagram", **config),
                               clock=lambda: NOW, sleep=sleeps.append)
    return adapter, graph, sleeps


def req(text="Hello from Outpost #spring", media=(), **options):
    saved: dict[str, str] = {}
    progress = options.pop("progress", {})
    content = RenderedContent(platform=Platform.INSTAGRAM, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    request = PublishRequest(content=content, media=tuple(media), options=options, progress=progress,
                             checkpoint=saved.__setitem__)
    return request, saved


FINISHED = {"status_code": "FINISHED", "id": "c1"}
QUOTA_OK = {"data": [{"quota_usage": 3, "config": {"quota_total": 100, "quota_duration": 86400}}]}


def publish_routes(container="c1", **extra):
    return {("POST", f"{V}/{USER}/media"): {"id": container},
            ("GET", f"{V}/{container}"): FINISHED,
            ("GET", f"{V}/{USER}/content_publishing_limit"): QUOTA_OK,
            ("POST", f"{V}/{USER}/media_publish"): {"id": "m1"},
            ("GET", f"{V}/m1"): {"permalink": "https://www.instagram.com/p/AbC/", "id": "m1"}, **extra}


# ---------------------------------------------------------------- errors
BUC = {"x-business-use-case-usage": json.dumps(
    {USER: [{"type": "instagram", "call_count": 100, "total_cputime": 12, "total_time": 30,
             "estimated_time_to_regain_access": 7}]})}

ERROR_CASES = [
    # (response, class, code, retry_at)
    (graph_error(190, "Error validating access token: Session has expired on Thursday, 30-Apr-26."),
     TokenExpired, "190", None),                                               # expired: refresh
    (graph_error(190, "Error validating access token: Session has expired.", 463), TokenExpired, "190/463", None),
    (graph_error(190, "The access token is invalid since the user logged out.", 467), TokenExpired, "190/467", None),
    (graph_error(190, "The user has not authorized application.", 458), ReconnectNeeded, "190/458", None),
    (graph_error(190, "The session has been invalidated because the user changed their password.", 460),
     ReconnectNeeded, "190/460", None),                                        # refresh cannot help
    (graph_error(102, "Session key invalid or no longer valid"), TokenExpired, "102", None),
    (graph_error(10, "(#10) Application does not have permission for this action"), ReconnectNeeded, "10", None),
    (graph_error(200, "(#200) Permissions error"), ReconnectNeeded, "200", None),
    (graph_error(4, "(#4) Application request limit reached", headers=BUC), RetryLater, "4",
     NOW + timedelta(minutes=7)),                                              # BUC says 7 minutes
    (graph_error(17, "(#17) User request limit reached"), RetryLater, "17", None),
    (graph_error(80002, "There have been too many calls to this Instagram account.", headers=BUC), RetryLater,
     "80002", NOW + timedelta(minutes=7)),
    (graph_error(2, "An unexpected error has occurred. Please retry your request later.", status=500,
                 is_transient=True), RetryLater, "2", None),
    (graph_error(9, "Application request limit reached", 2207042,
                 error_user_msg="You have reached the maximum number of posts that is allowed."),
     RetryLater, "9/2207042", None),                                           # publish quota
    (graph_error(9007, "The media is not ready for publishing.", 2207027), RetryLater, "9007/2207027", None),
    (graph_error(9004, "Only photo or video can be accepted as media type.", 2207052,
                 error_user_title="Media download has failed."), RetryLater, "9004/2207052", None),
    (graph_error(36003, "The aspect ratio is not supported.", 2207009), Rejected, "36003/2207009", None),
    (graph_error(-2, "The post was flagged as spam.", 2207001), Rejected, "-2/2207001", None),
    (graph_error(100, "Invalid parameter"), Rejected, "100", None),
    (httpx.Response(502, text="<html>Bad Gateway</html>"), RetryLater, "502", None),   # no envelope: the status
]


@pytest.mark.parametrize("response, cls, code, retry_at", ERROR_CASES)
def test_error_bodies_are_classified(response, cls, code, retry_at):
    adapter, graph, _ = make({("GET", f"{V}/{USER}"): response})
    with pytest.raises(cls) as info:
        adapter.account_metrics(CREDS)
    assert type(info.value) is cls
    assert info.value.code == code and info.value.platform == "instagram"
    assert info.value.http_status == response.status_code
    assert getattr(info.value, "retry_at", None) == retry_at
    assert len(graph.calls) == 1                          # the adapter never retries on its own


def test_the_platform_message_is_kept_in_plain_words():
    adapter, _, _ = make({("GET", f"{V}/{USER}"): graph_error(
        9, "Application request limit reached", 2207042,
        error_user_msg="You have reached the maximum number of posts that is allowed.")})
    with pytest.raises(RetryLater, match="Instagram says: You have reached the maximum number of posts"):
        adapter.account_metrics(CREDS)


@pytest.mark.parametrize("headers, retry_minutes, percent", [
    ({}, None, None),                                                         # no headers
    ({"x-app-usage": '{"call_count":91,"total_cputime":10,"total_time":12}'}, None, 91),   # percentages only
    (BUC, 7, 100),                                                            # BUC: minutes to regain access
    ({"x-business-use-case-usage": json.dumps({"1": [{"call_count": 40, "estimated_time_to_regain_access": 0}],
                                               "2": [{"call_count": 20, "estimated_time_to_regain_access": 3}]})},
     3, 40),                                                                  # the longest wait wins
    ({"x-business-use-case-usage": "not json"}, None, None),                  # garbage is ignored
])
def test_usage_headers(headers, retry_minutes, percent):
    h = httpx.Headers(headers)
    assert usage_retry_at(h, NOW) == (NOW + timedelta(minutes=retry_minutes) if retry_minutes else None)
    assert usage_percent(h) == percent


@pytest.mark.parametrize("method, exc, cls", [
    ("publish", httpx.ReadTimeout("lost"), OutcomeUnknown),        # media_publish may have happened
    ("publish", httpx.ConnectError("refused"), RetryLater),        # never reached Instagram
    ("metrics", httpx.ReadTimeout("lost"), RetryLater),            # a GET changes nothing
])
def test_transport_errors(method, exc, cls):
    routes = publish_routes()
    if method == "publish":
        routes[("POST", f"{V}/{USER}/media_publish")] = exc
    else:
        routes[("GET", f"{V}/{USER}")] = exc
    adapter, graph, _ = make(routes)
    request, saved = req(media=[MediaItem(JPG)])
    with pytest.raises(cls):
        adapter.publish(CREDS, request) if method == "publish" else adapter.account_metrics(CREDS)
    if method == "publish":
        assert saved["ig_container"] == "c1"                      # the retry resumes from this container


# ---------------------------------------------------------------- OAuth
def test_authorization_url():
    adapter, _, _ = make()
    url = urlsplit(adapter.authorization_url(state="st-1", code_challenge="ignored"))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "www.instagram.com", "/oauth/authorize")
    assert params == {"client_id": "ig-app", "redirect_uri": "https://outpost.example/oauth/instagram",
                      "response_type": "code", "state": "st-1",
                      "scope": "instagram_business_basic,instagram_business_content_publish,"
                               "instagram_business_manage_insights,"
                               "instagram_business_manage_comments"}            # comma-separated, no PKCE


@pytest.mark.parametrize("short", [
    {"data": [{"access_token": "IGshort", "user_id": 17841400000000001,
               "permissions": "instagram_business_basic,instagram_business_content_publish"}]},  # Business Login
    {"access_token": "IGshort", "user_id": 17841400000000001,
     "permissions": ["instagram_business_basic", "instagram_business_content_publish"]},         # flat
])
def test_exchange_code_gets_a_long_lived_token(short):
    adapter, graph, _ = make({("POST", "/oauth/access_token"): short,
                              ("GET", "/access_token"): {"access_token": "IGAAlong", "token_type": "bearer",
                                                         "expires_in": 5183944}})
    token = adapter.exchange_code("AQDcode#_")
    form = {k: v[0] for k, v in parse_qs(graph.calls[0].content.decode()).items()}
    assert str(graph.calls[0].url).startswith("https://api.instagram.com/oauth/access_token")
    assert form == {"grant_type": "authorization_code", "code": "AQDcode", "client_id": "ig-app",
                    "client_secret": "ig-secret", "redirect_uri": "https://outpost.example/oauth/instagram"}
    assert str(graph.calls[1].url).startswith("https://graph.instagram.com/access_token?")
    assert graph.query("GET", "/access_token") == {"grant_type": "ig_exchange_token", "client_secret": "ig-secret",
                                                   "access_token": "IGshort"}
    assert token.access_token == "IGAAlong" and token.refresh_token is None
    assert token.expires_at == NOW + timedelta(seconds=5183944) and token.issued_at == NOW
    assert token.scopes == ("instagram_business_basic", "instagram_business_content_publish")
    assert token.extra["user_id"] == "17841400000000001"
    assert adapter.missing_scopes(token) == ("instagram_business_manage_insights", "instagram_business_manage_comments")


def test_a_refused_code_means_reconnect():
    adapter, graph, _ = make({("POST", "/oauth/access_token"): httpx.Response(
        400, json={"error_type": "OAuthException", "code": 400, "error_message": "Invalid authorization code"})})
    with pytest.raises(ReconnectNeeded, match="Invalid authorization code"):
        adapter.exchange_code("bad")
    assert len(graph.calls) == 1


@pytest.mark.parametrize("age, expires_in, can", [
    (timedelta(hours=25), timedelta(days=30), True),       # old enough, still valid
    (timedelta(hours=23), timedelta(days=59), False),      # younger than 24 h
    (timedelta(days=61), timedelta(days=-1), False),       # expired: cannot be refreshed
    (None, timedelta(days=10), True),                      # age unknown: let Instagram decide
])
def test_can_refresh(age, expires_in, can):
    adapter, _, _ = make()
    creds = Credentials(access_token="t", issued_at=NOW - age if age else None, expires_at=NOW + expires_in)
    assert adapter.can_refresh(creds) is can


def test_refresh_uses_ig_refresh_token():
    adapter, graph, _ = make({("GET", "/refresh_access_token"): {"access_token": "IGAAnew", "token_type": "bearer",
                                                                 "expires_in": 5184000}})
    token = adapter.refresh(CREDS)
    assert graph.query("GET", "/refresh_access_token") == {"grant_type": "ig_refresh_token", "access_token": "IGAAlong"}
    assert token.access_token == "IGAAnew" and token.expires_at == NOW + timedelta(seconds=5184000)


@pytest.mark.parametrize("creds, code", [
    (Credentials(access_token="t", issued_at=NOW - timedelta(hours=2), expires_at=NOW + timedelta(days=59)),
     "token_too_young"),
    (Credentials(access_token="t", issued_at=NOW - timedelta(days=61), expires_at=NOW - timedelta(days=1)), "expired"),
])
def test_refresh_that_cannot_work_makes_no_call(creds, code):
    adapter, graph, _ = make()
    with pytest.raises(ReconnectNeeded) as info:
        adapter.refresh(creds)
    assert info.value.code == code and graph.calls == []


def test_fetch_profile_uses_the_professional_account_id():
    adapter, graph, _ = make({("GET", f"{V}/me"): {"id": "app-scoped-9", "user_id": USER, "username": "outpost.shop",
                                                   "name": "Outpost Shop", "account_type": "BUSINESS"}})
    profile = adapter.fetch_profile(TokenSet(access_token="IGAAlong"))
    assert (profile.external_id, profile.handle, profile.display_name) == (USER, "outpost.shop", "Outpost Shop")
    assert profile.meta["account_type"] == "BUSINESS"
    assert graph.calls[0].headers["authorization"] == "Bearer IGAAlong"
    assert graph.calls[0].url.host == "graph.instagram.com"


# ---------------------------------------------------------------- publishing
def test_publish_one_image():
    adapter, graph, _ = make(publish_routes())
    request, saved = req(media=[MediaItem(JPG, alt_text="A red bike")])
    result = adapter.publish(CREDS, request)
    assert graph.paths() == [("POST", f"{V}/{USER}/media"), ("GET", f"{V}/c1"),
                             ("GET", f"{V}/{USER}/content_publishing_limit"),
                             ("POST", f"{V}/{USER}/media_publish"), ("GET", f"{V}/m1")]
    assert graph.body("POST", f"{V}/{USER}/media") == {"image_url": JPG, "alt_text": "A red bike",
                                                       "caption": "Hello from Outpost #spring"}
    assert graph.body("POST", f"{V}/{USER}/media_publish") == {"creation_id": "c1"}
    assert graph.query("GET", f"{V}/c1") == {"fields": "status_code,status"}
    assert all(r.headers["authorization"] == "Bearer IGAAlong" for r in graph.calls)
    assert (result.external_id, result.url) == ("m1", "https://www.instagram.com/p/AbC/")
    assert saved == {"ig_container": "c1", "ig_media": "m1"}


def test_publish_a_carousel():
    routes = publish_routes(container="parent")
    routes[("POST", f"{V}/{USER}/media")] = [{"id": "k1"}, {"id": "k2"}, {"id": "k3"}, {"id": "parent"}]
    for child in ("k1", "k2", "k3"):
        routes[("GET", f"{V}/{child}")] = FINISHED
    adapter, graph, _ = make(routes)
    request, saved = req(media=[MediaItem(JPG), MediaItem(JPG2), MediaItem(MP4, kind="video")])
    assert adapter.publish(CREDS, request).external_id == "m1"
    bodies = [graph.body("POST", f"{V}/{USER}/media", n) for n in range(4)]
    assert bodies[:3] == [{"image_url": JPG, "is_carousel_item": True}, {"image_url": JPG2, "is_carousel_item": True},
                          {"video_url": MP4, "is_carousel_item": True, "media_type": "VIDEO"}]   # no captions
    assert bodies[3] == {"media_type": "CAROUSEL", "children": "k1,k2,k3", "caption": "Hello from Outpost #spring"}
    assert saved["ig_children"] == "k1,k2,k3" and saved["ig_container"] == "parent"
    assert graph.count("POST", f"{V}/{USER}/media_publish") == 1


def test_publish_a_reel_polls_until_finished():
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = [{"status_code": "IN_PROGRESS"}, {"status_code": "IN_PROGRESS"}, FINISHED]
    adapter, graph, sleeps = make(routes)
    request, _ = req(media=[MediaItem(MP4, kind="video")])
    adapter.publish(CREDS, request)
    assert graph.body("POST", f"{V}/{USER}/media") == {"video_url": MP4, "media_type": "REELS",
                                                       "caption": "Hello from Outpost #spring"}
    assert graph.count("GET", f"{V}/c1") == 3 and len(sleeps) == 2           # two waits, then FINISHED


@pytest.mark.parametrize("media, body", [
    ([MediaItem(JPG)], {"image_url": JPG, "media_type": "STORIES"}),                    # photo story, no caption
    ([MediaItem(MP4, kind="video")], {"video_url": MP4, "media_type": "STORIES"}),      # video story
])
def test_publish_a_story(media, body):
    adapter, graph, _ = make(publish_routes())
    request, _ = req(media=media, ig_media_type="STORIES")
    adapter.publish(CREDS, request)
    assert graph.body("POST", f"{V}/{USER}/media") == body


def test_media_urls_without_media_items_are_guessed_by_extension():
    adapter, graph, _ = make(publish_routes())
    request = PublishRequest(content=RenderedContent(platform=Platform.INSTAGRAM, text="Hi", caption="Hi", hashtags=(),
                                                     media_urls=(MP4 + "?sig=1",), link="", title=None))
    adapter.publish(CREDS, request)
    assert graph.body("POST", f"{V}/{USER}/media")["media_type"] == "REELS"


def test_polling_is_bounded():
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = {"status_code": "IN_PROGRESS"}
    adapter, graph, sleeps = make(routes)
    request, saved = req(media=[MediaItem(MP4, kind="video")])
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, request)
    assert info.value.code == "IN_PROGRESS" and info.value.retry_at == NOW + timedelta(minutes=1)
    assert graph.count("GET", f"{V}/c1") == adapter.POLL_ATTEMPTS and len(sleeps) == adapter.POLL_ATTEMPTS - 1
    assert graph.count("POST", f"{V}/{USER}/media_publish") == 0
    assert saved == {"ig_container": "c1"}


@pytest.mark.parametrize("progress, status, posts_container, publishes, outcome", [
    ({"ig_container": "c1"}, "FINISHED", 0, 1, "m1"),                 # reuse a valid container
    ({"ig_container": "c1"}, "IN_PROGRESS", 0, 1, "m1"),              # still processing: wait on the same one
    ({"ig_container": "c1"}, "EXPIRED", 1, 1, "m1"),                  # older than 24 h: make a new one
    ({"ig_container": "c1"}, "ERROR", 1, 1, "m1"),                    # broken: make a new one
    ({"ig_container": "c1"}, "PUBLISHED", 0, 0, OutcomeUnknown),      # published, answer lost: reconcile
    ({"ig_container": "c1", "ig_media": "m1"}, None, 0, 0, "m1"),     # published and recorded: just answer
])
def test_a_retry_resumes_from_saved_progress(progress, status, posts_container, publishes, outcome):
    routes = publish_routes()
    if status:
        routes[("GET", f"{V}/c1")] = [{"status_code": status}, FINISHED]
    routes[("POST", f"{V}/{USER}/media")] = {"id": "c1"}
    adapter, graph, _ = make(routes)
    request, _ = req(media=[MediaItem(JPG)], progress=progress)
    if outcome is OutcomeUnknown:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(CREDS, request)
    else:
        assert adapter.publish(CREDS, request).external_id == outcome
    assert graph.count("POST", f"{V}/{USER}/media") == posts_container
    assert graph.count("POST", f"{V}/{USER}/media_publish") == publishes


def test_a_full_quota_waits_for_the_oldest_post_to_leave_the_window():
    routes = publish_routes()
    routes[("GET", f"{V}/{USER}/content_publishing_limit")] = {
        "data": [{"quota_usage": 100, "config": {"quota_total": 100, "quota_duration": 86400}}]}
    routes[("GET", f"{V}/{USER}/media")] = {"data": [{"id": "9", "timestamp": "2026-05-01T09:00:00+0000"},
                                                     {"id": "8", "timestamp": "2026-04-30T15:30:00+0000"},
                                                     {"id": "7", "timestamp": "2026-04-29T08:00:00+0000"}]}
    adapter, graph, _ = make(routes)
    request, _ = req(media=[MediaItem(JPG)])
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, request)
    assert info.value.code == "quota"
    assert info.value.retry_at == datetime(2026, 5, 1, 15, 30, tzinfo=timezone.utc)   # 8's 24 h are up
    assert graph.count("POST", f"{V}/{USER}/media_publish") == 0


@pytest.mark.parametrize("answer, cls, code", [
    (graph_error(9007, "The media is not ready for publishing.", 2207027), RetryLater, "9007/2207027"),
    (graph_error(9, "Application request limit reached", 2207042), RetryLater, "9/2207042"),
    (graph_error(36003, "The aspect ratio is not supported.", 2207009), Rejected, "36003/2207009"),
])
def test_media_publish_errors_are_not_retried_inside_the_adapter(answer, cls, code):
    routes = publish_routes()
    routes[("POST", f"{V}/{USER}/media_publish")] = answer
    adapter, graph, _ = make(routes)
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, req(media=[MediaItem(JPG)])[0])
    assert info.value.code == code and graph.count("POST", f"{V}/{USER}/media_publish") == 1


@pytest.mark.parametrize("status, cls, code", [
    ("Error: 2207026 unsupported video format", Rejected, "2207026"),    # permanent
    ("Error: 2207052 media fetch failed", RetryLater, "2207052"),         # Meta could not download: try again
    ("", Rejected, "ERROR"),                                             # no detail
])
def test_a_container_in_error(status, cls, code):
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = {"status_code": "ERROR", "status": status}
    adapter, graph, _ = make(routes)
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, req(media=[MediaItem(MP4, kind="video")])[0])
    assert info.value.code == code and graph.count("GET", f"{V}/c1") == 1


@pytest.mark.parametrize("media, options, words", [
    ([], {}, "no text-only posts"),                                                  # Instagram needs media
    ([MediaItem(JPG)] * 11, {}, "2 to 10 items"),                                    # carousel too big
    ([MediaItem(JPG), MediaItem(JPG2)], {"ig_media_type": "STORIES"}, "one item"),   # a story is one item
    ([MediaItem(JPG)], {"ig_media_type": "REELS"}, "needs a video"),                 # a reel of an image
    ([MediaItem(JPG)], {"ig_media_type": "IGTV"}, "not an Instagram post type"),     # unknown type
])
def test_impossible_posts_are_rejected_without_a_call(media, options, words):
    adapter, graph, _ = make()
    with pytest.raises(Rejected, match=words):
        adapter.publish(CREDS, req(media=media, **options)[0])
    assert graph.calls == []


# ---------------------------------------------------------------- reconciliation
SINCE = NOW - timedelta(minutes=10)
LISTING = {"data": [
    {"id": "m3", "caption": "Something else", "timestamp": "2026-05-01T11:58:00+0000"},
    {"id": "m2", "caption": "Hello  from Outpost\n#spring", "timestamp": "2026-05-01T11:55:00+0000",
     "permalink": "https://www.instagram.com/p/M2/"},
    {"id": "m1", "caption": "Hello from Outpost #spring", "timestamp": "2026-05-01T09:00:00+0000"},
]}


@pytest.mark.parametrize("text, since, found", [
    ("Hello from Outpost #spring", SINCE, "m2"),          # same text after whitespace normalisation, in time
    ("Hello from Outpost #spring", NOW, None),            # the match is older than `since`
    ("A post never made", SINCE, None),                   # no match
])
def test_find_published_matches_caption_and_time(text, since, found):
    adapter, graph, _ = make({("GET", f"{V}/{USER}/media"): LISTING})
    result = adapter.find_published(CREDS, req(text=text, media=[MediaItem(JPG)])[0], since=since)
    assert (result.external_id if result else None) == found
    assert graph.query("GET", f"{V}/{USER}/media")["fields"] == "id,timestamp,permalink,caption"


def test_find_published_trusts_an_unpublished_container():
    adapter, graph, _ = make({("GET", f"{V}/c1"): FINISHED, ("GET", f"{V}/{USER}/media"): LISTING})
    request, _ = req(media=[MediaItem(JPG)], progress={"ig_container": "c1"})
    assert adapter.find_published(CREDS, request, since=SINCE) is None
    assert graph.paths() == [("GET", f"{V}/c1")]          # no listing needed


def test_find_published_story_needs_a_published_container():
    adapter, graph, _ = make({("GET", f"{V}/c1"): {"status_code": "PUBLISHED"},
                              ("GET", f"{V}/{USER}/stories"): {"data": [
                                  {"id": "s9", "timestamp": "2026-05-01T11:59:00+0000"}]}})
    request, _ = req(media=[MediaItem(JPG)], ig_media_type="STORIES", progress={"ig_container": "c1"})
    assert adapter.find_published(CREDS, request, since=SINCE).external_id == "s9"
    no_container, _ = req(media=[MediaItem(JPG)], ig_media_type="STORIES")
    assert adapter.find_published(CREDS, no_container, since=SINCE) is None


# ---------------------------------------------------------------- metrics
def insights(**values):
    return {"data": [{"name": k, "period": "lifetime", "values": [{"value": v}], "title": k,
                      "id": f"m/insights/{k}/lifetime"} for k, v in values.items()]}


def test_post_metrics_normalises_names_and_skips_media_without_data():
    adapter, graph, _ = make({
        ("GET", f"{V}/m1/insights"): insights(views=120, reach=80, saved=4, likes=11, comments=2, shares=1,
                                             total_interactions=18),
        ("GET", f"{V}/m2/insights"): {"data": []},                                   # no data yet, not zero
        ("GET", f"{V}/m3/insights"): graph_error(10, "(#10) Not enough viewers for the media to show insights"),
    })
    out = adapter.post_metrics(CREDS, ["m1", "m2", "m3"])
    assert list(out) == ["m1"]
    assert out["m1"].values == {"views": 120, "reach": 80, "saves": 4, "likes": 11, "comments": 2, "shares": 1}
    assert out["m1"].raw["total_interactions"] == 18
    assert graph.query("GET", f"{V}/m1/insights")["metric"] == \
        "views,reach,saved,likes,comments,shares,total_interactions"


def test_story_metrics_fall_back_to_the_story_set():
    adapter, graph, _ = make({("GET", f"{V}/s1/insights"): [
        graph_error(100, "(#100) The Media Insights API does not support the saved metric for this media "
                         "product type."),
        insights(views=30, reach=25, shares=0, total_interactions=2)]})
    out = adapter.post_metrics(CREDS, ["s1"])
    assert out["s1"].values == {"views": 30, "reach": 25, "shares": 0}
    assert graph.query("GET", f"{V}/s1/insights", 1)["metric"] == "views,reach,shares,total_interactions"


def test_account_metrics_reads_followers_count():
    adapter, graph, _ = make({("GET", f"{V}/{USER}"): {"followers_count": 1520, "follows_count": 80,
                                                       "media_count": 44, "id": USER}})
    metrics = adapter.account_metrics(CREDS)
    assert metrics.followers == 1520 and metrics.raw["media_count"] == 44
    assert graph.query("GET", f"{V}/{USER}") == {"fields": "followers_count,follows_count,media_count"}


def test_api_version_and_host_override_come_from_config():
    adapter, graph, _ = make({("GET", f"/emu/graph.instagram.com/v26.0/{USER}"): {"followers_count": 1}},
                             api_version="v26.0",
                             host_overrides={"https://graph.instagram.com":
                                             "http://127.0.0.1:9/emu/graph.instagram.com"})
    assert adapter.account_metrics(CREDS).followers == 1
    assert str(graph.calls[0].url).startswith("http://127.0.0.1:9/emu/graph.instagram.com/v26.0/")


# ---------------------------------------------------------------- the first comment (issue 11)
def comments_page(*items):
    return {"data": [{"id": i, "text": t, "timestamp": "2026-05-01T12:00:05+0000", "from": {"id": who}}
                     for i, t, who in items]}


def test_publish_post_then_its_first_comment_checkpointed_around_the_send():
    adapter, graph, _ = make({**publish_routes(), ("POST", f"{V}/m1/comments"): {"id": "cm1"}})
    request, saved = req(media=[MediaItem(JPG)], first_comment="Link in bio")
    result = adapter.publish_post(CREDS, request)
    assert graph.body("POST", f"{V}/m1/comments") == {"message": "Link in bio"}
    assert result.external_id == "m1" and result.extra["first_comment_id"] == "cm1"
    assert saved["post:id"] == "m1" and saved["comment:sent"] == NOW.isoformat() and saved["comment:id"] == "cm1"
    # Tried again (the answer to the delivery was lost after): neither the post nor the comment is made again.
    again, _ = req(media=[MediaItem(JPG)], first_comment="Link in bio", progress=dict(saved))
    adapter, graph, _ = make({})
    assert adapter.publish_post(CREDS, again).extra["first_comment_id"] == "cm1" and graph.calls == []


def test_a_lost_comment_answer_is_looked_up_among_the_comments_by_this_account():
    adapter, graph, _ = make({("POST", f"{V}/m1/comments"): httpx.ReadError("lost"),
                              ("GET", f"{V}/m1/comments"): comments_page(("x9", "Link in bio", "someone_else"),
                                                                         ("cm7", "Link  in bio", USER))})
    progress = {"post:id": "m1", "post:url": "https://www.instagram.com/p/AbC/"}
    request, saved = req(first_comment="Link in bio", progress=progress)
    with pytest.raises(OutcomeUnknown):
        adapter.publish_post(CREDS, request)
    assert saved["comment:sent"] == NOW.isoformat() and "comment:id" not in saved
    again, saved = req(first_comment="Link in bio", progress={**progress, "comment:sent": NOW.isoformat()})
    assert adapter.publish_post(CREDS, again).extra["first_comment_id"] == "cm7"       # ours, not someone else's
    assert len(graph.made("POST", f"{V}/m1/comments")) == 1 and saved["comment:id"] == "cm7"


def test_a_lost_comment_not_listed_is_sent_again_only_after_the_settle_window_and_the_lag():
    clock = [NOW]
    graph = fake_graph({("GET", f"{V}/m1/comments"): {"data": []}, ("POST", f"{V}/m1/comments"): {"id": "cm2"}})
    adapter = InstagramAdapter(graph.client(), PlatformConfig(client_id="ig-app", redirect_uri="https://o.example/cb"),
                               clock=lambda: clock[0])
    progress = {"post:id": "m1", "comment:sent": NOW.isoformat()}
    clock[0] = NOW + adapter.settle_window
    with pytest.raises(OutcomeUnknown, match="does not show the comment yet"):
        adapter.publish_post(CREDS, req(first_comment="Hi", progress=progress)[0])
    assert graph.made("POST", f"{V}/m1/comments") == []
    clock[0] = NOW + adapter.settle_window + adapter.listing_lag
    assert adapter.publish_post(CREDS, req(first_comment="Hi", progress=progress)[0]).extra["first_comment_id"] == "cm2"


def test_a_comment_instagram_refuses_does_not_fail_the_post():
    adapter, _, _ = make({**publish_routes(), ("POST", f"{V}/m1/comments"): graph_error(
        10, "(#10) Application does not have permission for this action")})
    request, saved = req(media=[MediaItem(JPG)], first_comment="Hi")
    result = adapter.publish_post(CREDS, request)
    assert result.external_id == "m1" and "Reconnect the account" in result.extra["first_comment_error"]
    assert saved["comment:failed"] and saved["comment:sent"]

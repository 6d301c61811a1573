"""The Threads adapter against recorded Graph answers (facts §7, §1.6), through tests.platform_harness."""
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
from core.platforms.registry import adapter_class
from core.platforms.threads import ThreadsAdapter
from tests.platform_harness import FakePlatform, method_path_pair

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
V = "/v1.0"
USER = "25012345678901234"
CREDS = Credentials(access_token="THAAlong", external_id=USER, issued_at=NOW - timedelta(days=2),
                    expires_at=NOW + timedelta(days=58))
JPG, JPG2, MP4 = "https://cdn.example/a.jpg", "https://cdn.example/b.jpg", "https://cdn.example/c.mp4"


def graph_error(code, message, subcode=None, status=400, headers=None, type_="OAuthException", **extra):
    body = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEf123", **extra}
    if subcode:
        body["error_subcode"] = subcode
    return httpx.Response(status, json={"error": body}, headers=headers)


def graph_not_routed(request: httpx.Request) -> httpx.Response:
    """The Graph API's answer to a path it does not serve."""
    return graph_error(100, f"Unsupported {request.method} request to {request.url.path}", 33,
                       type_="GraphMethodException")


def fake_graph(routes=None) -> FakePlatform:
    return FakePlatform(routes, not_routed=graph_not_routed, label=method_path_pair)


def make(routes=None, **config):
    graph = fake_graph(routes)
    sleeps: list[float] = []
    adapter = ThreadsAdapter(graph.client(),
                             PlatformConfig(client_id="th-app", client_secret="th-secret",
                                            redirect_uri="https://outpost.example/oauth/threads", **config),
                             clock=lambda: NOW, sleep=sleeps.append)
    return adapter, graph, sleeps


def req(text="Fresh loaves at 8 #bakery", media=(), **options):
    saved: dict[str, str] = {}
    progress = options.pop("progress", {})
    content = RenderedContent(platform=Platform.THREADS, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    request = PublishRequest(content=content, media=tuple(media), options=options, progress=progress,
                             checkpoint=saved.__setitem__)
    return request, saved


FINISHED = {"status": "FINISHED", "id": "c1"}
QUOTA_OK = {"data": [{"quota_usage": 4, "config": {"quota_total": 250, "quota_duration": 86400}}]}
CREATE, PUBLISH = ("POST", f"{V}/{USER}/threads"), ("POST", f"{V}/{USER}/threads_publish")
QUOTA, LISTING = ("GET", f"{V}/{USER}/threads_publishing_limit"), ("GET", f"{V}/{USER}/threads")


def publish_routes(container="c1", **extra):
    return {CREATE: {"id": container}, ("GET", f"{V}/{container}"): FINISHED, QUOTA: QUOTA_OK,
            PUBLISH: {"id": "t1"},
            ("GET", f"{V}/t1"): {"permalink": "https://www.threads.net/@bakery/post/AbC", "id": "t1"}, **extra}


# ---------------------------------------------------------------- errors
BUC = {"x-business-use-case-usage": json.dumps(
    {USER: [{"type": "threads", "call_count": 100, "total_cputime": 12, "total_time": 30,
             "estimated_time_to_regain_access": 9}]})}

ERROR_CASES = [
    # (response, class, code, retry_at)
    (graph_error(190, "Error validating access token: Session has expired on Thursday, 30-Apr-26.", 463),
     TokenExpired, "190/463", None),                                              # expired: refresh
    (graph_error(190, "Invalid OAuth access token - Cannot parse access token"), TokenExpired, "190", None),
    (graph_error(190, "Error validating access token: The session has been invalidated because the user changed "
                      "their password.", 460), ReconnectNeeded, "190/460", None),  # a refresh cannot help
    (graph_error(10, "(#10) Application does not have permission for this action: threads_manage_insights is "
                     "required"), ReconnectNeeded, "10", None),                  # scope not granted
    (graph_error(4, "(#4) Application request limit reached", headers=BUC, is_transient=True), RetryLater, "4",
     NOW + timedelta(minutes=9)),                                                 # BUC says 9 minutes
    (graph_error(17, "(#17) User request limit reached"), RetryLater, "17", None),
    (graph_error(613, "Calls to this api have exceeded the rate limit."), RetryLater, "613", None),
    (graph_error(2, "An unexpected error has occurred. Please retry your request later.", status=500,
                 is_transient=True), RetryLater, "2", None),
    (graph_error(9, "The maximum number of posts that were allowed to be published has been reached.", 2207042),
     RetryLater, "9/2207042", None),                                              # the 250-a-day quota
    (graph_error(9007, "The media is not ready for publishing.", 2207027), RetryLater, "9007/2207027", None),
    (graph_error(24, "The requested resource does not exist", 4279009, type_="THApiException",
                 error_user_title="Media Not Found"), RetryLater, "24/4279009",
     NOW + timedelta(minutes=1)),                                                 # a fresh container not found yet
    (graph_error(9004, "Only photo or video can be accepted as media type.", 2207052,
                 error_user_msg="The media could not be fetched from this URI: https://cdn.example/a.jpg."),
     RetryLater, "9004/2207052", None),                                           # Meta could not download it
    (graph_error(100, "Param text must be at most 500 characters long.", type_="THApiException"),
     Rejected, "100", None),                                                      # too long: change the post
    (graph_error(100, "(#100) A carousel needs 2 to 20 children, not 1.", 2207028), Rejected, "100/2207028", None),
    (graph_error(1, "An unknown error occurred", is_transient=True), RetryLater, "1", None),   # 1: try again...
    (graph_error(1, "Error validating client secret."), Rejected, "1", None),   # ...unless the app's secret is wrong
    (httpx.Response(502, text="<html>Bad Gateway</html>"), RetryLater, "502", None),   # no envelope: the status
]


@pytest.mark.parametrize("response, cls, code, retry_at", ERROR_CASES)
def test_error_bodies_are_classified(response, cls, code, retry_at):
    adapter, graph, _ = make({("GET", f"{V}/{USER}/threads_insights"): response})
    with pytest.raises(cls) as info:
        adapter.account_metrics(CREDS)
    assert type(info.value) is cls
    assert info.value.code == code and info.value.platform == "threads"
    assert info.value.http_status == response.status_code
    assert getattr(info.value, "retry_at", None) == retry_at
    assert len(graph.calls) == 1                          # the adapter never retries on its own


def test_the_platform_message_is_kept_in_plain_words():
    adapter, _, _ = make({CREATE: graph_error(100, "Param text must be at most 500 characters long.",
                                              type_="THApiException")})
    with pytest.raises(Rejected, match="Threads says: Param text must be at most 500 characters long."):
        adapter.publish(CREDS, req(text="x" * 501)[0])


@pytest.mark.parametrize("method, exc, cls", [
    ("publish", httpx.ReadTimeout("lost"), OutcomeUnknown),        # threads_publish may have happened
    ("publish", httpx.ConnectError("refused"), RetryLater),        # never reached Threads
    ("metrics", httpx.ReadTimeout("lost"), RetryLater),            # a GET changes nothing
])
def test_transport_errors(method, exc, cls):
    routes = publish_routes()
    if method == "publish":
        routes[PUBLISH] = exc
    else:
        routes[("GET", f"{V}/{USER}/threads_insights")] = exc
    adapter, graph, _ = make(routes)
    request, saved = req()
    with pytest.raises(cls):
        adapter.publish(CREDS, request) if method == "publish" else adapter.account_metrics(CREDS)
    if method == "publish":
        assert saved == {"th_container": "c1"}                     # the retry resumes from this container
        assert graph.count(*PUBLISH) == 1


# ---------------------------------------------------------------- OAuth
def test_authorization_url():
    adapter, _, _ = make()
    url = urlsplit(adapter.authorization_url(state="st-1", code_challenge="ignored"))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "www.threads.net", "/oauth/authorize")
    assert params == {"client_id": "th-app", "redirect_uri": "https://outpost.example/oauth/threads",
                      "response_type": "code", "state": "st-1",
                      "scope": "threads_basic,threads_content_publish,threads_manage_insights,"
                               "threads_read_replies"}                  # comma-separated, no PKCE


def test_exchange_code_gets_a_long_lived_token():
    adapter, graph, _ = make({("POST", "/oauth/access_token"): {"access_token": "THshort",
                                                                "user_id": 25012345678901234},
                              ("GET", "/access_token"): {"access_token": "THAAlong", "token_type": "bearer",
                                                         "expires_in": 5183944}})
    token = adapter.exchange_code("AQDcode#_")
    assert str(graph.calls[0].url) == "https://graph.threads.net/oauth/access_token"
    assert graph.form("POST", "/oauth/access_token") == {
        "grant_type": "authorization_code", "code": "AQDcode", "client_id": "th-app", "client_secret": "th-secret",
        "redirect_uri": "https://outpost.example/oauth/threads"}
    assert str(graph.calls[1].url).startswith("https://graph.threads.net/access_token?")
    assert graph.query("GET", "/access_token") == {"grant_type": "th_exchange_token", "client_secret": "th-secret",
                                                   "access_token": "THshort"}
    assert token.access_token == "THAAlong" and token.refresh_token is None
    assert token.expires_at == NOW + timedelta(seconds=5183944) and token.issued_at == NOW
    assert token.extra["user_id"] == USER                       # a string, not a float-mangled number
    assert adapter.missing_scopes(token) == ()                  # Threads does not say what was granted


@pytest.mark.parametrize("answer, calls", [
    (graph_error(100, "This authorization code has been used.", 36009), 1),          # the code, refused
    (graph_error(1, "Error validating client secret."), 1),                           # the app's secret is wrong
])
def test_a_refused_code_means_reconnect(answer, calls):
    adapter, graph, _ = make({("POST", "/oauth/access_token"): answer})
    with pytest.raises(ReconnectNeeded, match="Threads refused the authorization"):
        adapter.exchange_code("bad")
    assert len(graph.calls) == calls


def test_a_refused_long_lived_exchange_means_reconnect():
    adapter, graph, _ = make({("POST", "/oauth/access_token"): {"access_token": "THshort", "user_id": 1},
                              ("GET", "/access_token"): graph_error(1, "Error validating client secret.")})
    with pytest.raises(ReconnectNeeded, match="Error validating client secret"):
        adapter.exchange_code("code")
    assert len(graph.calls) == 2


@pytest.mark.parametrize("age, expires_in, can", [
    (timedelta(hours=25), timedelta(days=30), True),       # old enough, still valid
    (timedelta(hours=23), timedelta(days=59), False),      # younger than 24 h
    (timedelta(days=61), timedelta(days=-1), False),       # expired: cannot be refreshed
    (None, timedelta(days=10), True),                      # age unknown: let Threads decide
])
def test_can_refresh(age, expires_in, can):
    adapter, _, _ = make()
    creds = Credentials(access_token="t", issued_at=NOW - age if age else None, expires_at=NOW + expires_in)
    assert adapter.can_refresh(creds) is can


@pytest.mark.parametrize("expires_in, due", [
    (timedelta(days=30), False),                           # plenty of time left
    (timedelta(days=6), True),                             # inside the 7-day window: renew now
])
def test_the_runner_renews_a_week_ahead(expires_in, due):
    adapter, _, _ = make()
    creds = Credentials(access_token="t", issued_at=NOW - timedelta(days=54), expires_at=NOW + expires_in)
    assert adapter.refresh_due(creds, NOW) is due


def test_refresh_uses_th_refresh_token():
    adapter, graph, _ = make({("GET", "/refresh_access_token"): {"access_token": "THAAnew", "token_type": "bearer",
                                                                 "expires_in": 5184000}})
    token = adapter.refresh(CREDS)
    assert str(graph.calls[0].url).startswith("https://graph.threads.net/refresh_access_token?")
    assert graph.query("GET", "/refresh_access_token") == {"grant_type": "th_refresh_token",
                                                           "access_token": "THAAlong"}
    assert token.access_token == "THAAnew" and token.expires_at == NOW + timedelta(seconds=5184000)


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


def test_a_refused_refresh_means_reconnect():
    adapter, graph, _ = make({("GET", "/refresh_access_token"): graph_error(
        190, "Error validating access token: Session has expired.", 463)})
    with pytest.raises(ReconnectNeeded) as info:
        adapter.refresh(CREDS)
    assert info.value.code == "190/463" and len(graph.calls) == 1


def test_fetch_profile():
    adapter, graph, _ = make({("GET", f"{V}/me"): {"id": USER, "username": "outpost.bakery", "name": "Outpost Bakery",
                                                   "threads_profile_picture_url": "https://cdn.example/me.jpg"}})
    profile = adapter.fetch_profile(TokenSet(access_token="THAAlong", extra={"user_id": USER}))
    assert (profile.external_id, profile.handle, profile.display_name) == (USER, "outpost.bakery", "Outpost Bakery")
    assert graph.calls[0].headers["authorization"] == "Bearer THAAlong"
    assert graph.calls[0].url.host == "graph.threads.net"
    assert graph.query("GET", f"{V}/me")["fields"] == "id,username,name,threads_profile_picture_url"


@pytest.mark.parametrize("version, path", [
    (None, "/v1.0/me"),                                    # the default
    ("v1.1", "/v1.1/me"),                                  # settings' api_versions["threads"]
])
def test_the_api_version_is_configurable(version, path):
    adapter, graph, _ = make({("GET", path): {"id": USER, "username": "u"}}, api_version=version)
    adapter.fetch_profile(TokenSet(access_token="t"))
    assert graph.paths() == [("GET", path)]


def test_the_registry_knows_threads():
    assert adapter_class("threads") is ThreadsAdapter


# ---------------------------------------------------------------- publishing
@pytest.mark.parametrize("text", [
    "Fresh loaves at 8 #bakery",                                             # plain
    "Bread & butter? 100% yes; see https://ex.ample/a?b=1&c=2 #1",           # & ? % ; = in a form body
    "Line one\nLine two\n\n\"quoted\" <b>not html</b> café 🍞🥐",            # newlines, quotes, accents, emoji
])
def test_publish_text_sends_the_text_exactly(text):
    adapter, graph, _ = make(publish_routes())
    request, saved = req(text=text)
    result = adapter.publish(CREDS, request)
    assert graph.paths() == [CREATE, ("GET", f"{V}/c1"), QUOTA, PUBLISH, ("GET", f"{V}/t1")]
    assert graph.form(*CREATE) == {"media_type": "TEXT", "text": text}
    assert graph.calls[0].url.query == b""                   # nothing of the post in the URL
    assert graph.form(*PUBLISH) == {"creation_id": "c1"}
    assert graph.query("GET", f"{V}/c1") == {"fields": "status,error_message"}
    assert all(r.headers["authorization"] == "Bearer THAAlong" for r in graph.calls)
    assert (result.external_id, result.url) == ("t1", "https://www.threads.net/@bakery/post/AbC")
    assert saved == {"th_container": "c1", "th_media": "t1"}


def test_publish_one_image_with_alt_text():
    adapter, graph, _ = make(publish_routes())
    adapter.publish(CREDS, req(media=[MediaItem(JPG, alt_text="A sourdough loaf")])[0])
    assert graph.form(*CREATE) == {"media_type": "IMAGE", "image_url": JPG, "alt_text": "A sourdough loaf",
                                   "text": "Fresh loaves at 8 #bakery"}


def test_an_image_without_text_is_fine():
    adapter, graph, _ = make(publish_routes())
    adapter.publish(CREDS, req(text="", media=[MediaItem(JPG)])[0])
    assert graph.form(*CREATE) == {"media_type": "IMAGE", "image_url": JPG}


def test_publish_a_video_polls_until_finished():
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = [{"status": "IN_PROGRESS"}, {"status": "IN_PROGRESS"}, FINISHED]
    adapter, graph, sleeps = make(routes)
    adapter.publish(CREDS, req(media=[MediaItem(MP4, kind="video")])[0])
    assert graph.form(*CREATE) == {"media_type": "VIDEO", "video_url": MP4, "text": "Fresh loaves at 8 #bakery"}
    assert graph.count("GET", f"{V}/c1") == 3 and sleeps == [3.0, 3.0]        # two waits, then FINISHED
    assert graph.count(*PUBLISH) == 1


def test_publish_a_carousel():
    routes = publish_routes(container="parent")
    routes[CREATE] = [{"id": "k1"}, {"id": "k2"}, {"id": "k3"}, {"id": "parent"}]
    for child in ("k1", "k2", "k3"):
        routes[("GET", f"{V}/{child}")] = FINISHED
    adapter, graph, _ = make(routes)
    request, saved = req(media=[MediaItem(JPG), MediaItem(JPG2), MediaItem(MP4, kind="video")])
    assert adapter.publish(CREDS, request).external_id == "t1"
    bodies = [graph.form(*CREATE, n) for n in range(4)]
    assert bodies[:3] == [{"media_type": "IMAGE", "image_url": JPG, "is_carousel_item": "true"},
                          {"media_type": "IMAGE", "image_url": JPG2, "is_carousel_item": "true"},
                          {"media_type": "VIDEO", "video_url": MP4, "is_carousel_item": "true"}]   # no text
    assert bodies[3] == {"media_type": "CAROUSEL", "children": "k1,k2,k3", "text": "Fresh loaves at 8 #bakery"}
    assert saved["th_children"] == "k1,k2,k3" and saved["th_container"] == "parent"
    assert graph.count(*PUBLISH) == 1


def test_media_urls_without_media_items_are_guessed_by_extension():
    adapter, graph, _ = make(publish_routes())
    request = PublishRequest(content=RenderedContent(platform=Platform.THREADS, text="Hi", caption="Hi", hashtags=(),
                                                     media_urls=(MP4 + "?sig=1",), link="", title=None))
    adapter.publish(CREDS, request)
    assert graph.form(*CREATE)["media_type"] == "VIDEO"


def test_polling_is_bounded():
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = {"status": "IN_PROGRESS"}
    adapter, graph, sleeps = make(routes)
    request, saved = req(media=[MediaItem(MP4, kind="video")])
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, request)
    assert info.value.code == "IN_PROGRESS" and info.value.retry_at == NOW + timedelta(minutes=1)
    assert graph.count("GET", f"{V}/c1") == adapter.POLL_ATTEMPTS and len(sleeps) == adapter.POLL_ATTEMPTS - 1
    assert graph.count(*PUBLISH) == 0
    assert saved == {"th_container": "c1"}


@pytest.mark.parametrize("progress, status, creates, publishes, outcome", [
    ({"th_container": "c1"}, "FINISHED", 0, 1, "t1"),                 # reuse a valid container
    ({"th_container": "c1"}, "IN_PROGRESS", 0, 1, "t1"),              # still processing: wait on the same one
    ({"th_container": "c1"}, "EXPIRED", 1, 1, "t1"),                  # older than 24 h: make a new one
    ({"th_container": "c1"}, "ERROR", 1, 1, "t1"),                    # broken: make a new one
    ({"th_container": "c1"}, "PUBLISHED", 0, 0, OutcomeUnknown),      # published, answer lost: reconcile
    ({"th_container": "c1", "th_media": "t1"}, None, 0, 0, "t1"),     # published and recorded: just answer
])
def test_a_retry_resumes_from_saved_progress(progress, status, creates, publishes, outcome):
    routes = publish_routes()
    if status:
        routes[("GET", f"{V}/c1")] = [{"status": status}, FINISHED]
    adapter, graph, _ = make(routes)
    request, _ = req(progress=progress)
    if outcome is OutcomeUnknown:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(CREDS, request)
    else:
        assert adapter.publish(CREDS, request).external_id == outcome
    assert graph.count(*CREATE) == creates
    assert graph.count(*PUBLISH) == publishes


def test_a_container_threads_forgot_is_made_again():
    routes = publish_routes()
    routes[("GET", f"{V}/gone")] = graph_error(100, "Unsupported get request. Object with ID 'gone' does not exist",
                                              33, type_="GraphMethodException")
    adapter, graph, _ = make(routes)
    request, saved = req(progress={"th_container": "gone"})
    assert adapter.publish(CREDS, request).external_id == "t1"
    assert graph.count(*CREATE) == 1 and saved["th_container"] == "c1"


def test_a_full_quota_waits_for_the_oldest_post_to_leave_the_window():
    routes = publish_routes()
    routes[QUOTA] = {"data": [{"quota_usage": 250, "config": {"quota_total": 250, "quota_duration": 86400}}]}
    routes[LISTING] = {"data": [{"id": "9", "timestamp": "2026-05-01T09:00:00+0000"},
                                {"id": "8", "timestamp": "2026-04-30T15:30:00+0000"},
                                {"id": "7", "timestamp": "2026-04-29T08:00:00+0000"}]}
    adapter, graph, _ = make(routes)
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, req()[0])
    assert info.value.code == "quota" and "250 API posts per 24 hours" in str(info.value)
    assert info.value.retry_at == datetime(2026, 5, 1, 15, 30, tzinfo=timezone.utc)   # 8's 24 h are up
    assert graph.count(*PUBLISH) == 0


@pytest.mark.parametrize("answer, cls, code", [
    (graph_error(9007, "The media is not ready for publishing.", 2207027), RetryLater, "9007/2207027"),
    (graph_error(24, "The requested resource does not exist", 4279009), RetryLater, "24/4279009"),
    (graph_error(9, "The maximum number of posts that were allowed to be published has been reached.", 2207042),
     RetryLater, "9/2207042"),
    (graph_error(100, "(#100) The container failed and cannot be published"), Rejected, "100"),
])
def test_threads_publish_errors_are_not_retried_inside_the_adapter(answer, cls, code):
    routes = publish_routes()
    routes[PUBLISH] = answer
    adapter, graph, _ = make(routes)
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, req()[0])
    assert info.value.code == code
    assert graph.count(*PUBLISH) == 1
    assert graph.count("GET", f"{V}/c1") == 2               # the wait, then "did it go out anyway?"


@pytest.mark.parametrize("answer", [
    graph_error(10, "(#10) Application does not have permission for this action", status=500),
    graph_error(2, "An unexpected error has occurred. Please retry your request later.", status=500,
                is_transient=True),
])
def test_an_error_from_threads_publish_for_a_post_that_went_out_is_reconciled(answer):
    routes = publish_routes()
    routes[PUBLISH] = answer
    routes[("GET", f"{V}/c1")] = [FINISHED, {"status": "PUBLISHED"}]
    adapter, graph, _ = make(routes)
    with pytest.raises(OutcomeUnknown, match="published the post"):
        adapter.publish(CREDS, req()[0])
    assert graph.count(*PUBLISH) == 1                       # never a second publish


def publish_like_the_runner(adapter, request):
    """What core.services.publisher does with TokenExpired: refresh the token, then call publish once more (same request)."""
    try:
        return adapter.publish(CREDS, request)
    except TokenExpired:
        return adapter.publish(CREDS, request)


def test_an_expired_token_answer_for_a_post_that_went_out_is_reconciled_not_published_twice():
    routes = publish_routes()
    # Meta says the token expired, yet the container went out: a refresh-and-retry would make a second thread.
    routes[PUBLISH] = [graph_error(190, "Error validating access token: Session has expired.", 463), {"id": "t2"}]
    routes[("GET", f"{V}/c1")] = [FINISHED, {"status": "PUBLISHED"}, FINISHED]
    adapter, graph, _ = make(routes)
    with pytest.raises(OutcomeUnknown, match="published the post") as info:
        publish_like_the_runner(adapter, req()[0])
    assert info.value.code == "PUBLISHED"
    assert graph.count(*PUBLISH) == 1 and graph.count(*CREATE) == 1          # one thread, not two


def test_an_expired_token_that_published_nothing_still_asks_for_a_refresh():
    routes = publish_routes()
    routes[PUBLISH] = graph_error(190, "Error validating access token: Session has expired.", 463)
    adapter, graph, _ = make(routes)                                          # the container stays FINISHED
    with pytest.raises(TokenExpired):
        adapter.publish(CREDS, req()[0])
    assert graph.count(*PUBLISH) == 1


@pytest.mark.parametrize("error_message, cls, words", [
    ("INVALID_DURATION", Rejected, "too long or too short"),                  # permanent, in plain words
    ("INVALID_ASPEC_RATIO", Rejected, "aspect ratio"),                        # (Meta's spelling)
    ("FAILED_DOWNLOADING_VIDEO", RetryLater, "could not download the video"),  # the file host may be back later
    (None, RetryLater, "UNKNOWN"),                                            # no detail: worth another go
])
def test_a_container_in_error(error_message, cls, words):
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = {"status": "ERROR", **({"error_message": error_message} if error_message else {})}
    adapter, graph, _ = make(routes)
    with pytest.raises(cls, match=words) as info:
        adapter.publish(CREDS, req(media=[MediaItem(MP4, kind="video")])[0])
    assert info.value.code == (error_message or "UNKNOWN")
    assert graph.count("GET", f"{V}/c1") == 1 and graph.count(*PUBLISH) == 0


def test_too_long_text_is_refused_once_and_never_published():
    adapter, graph, _ = make({CREATE: graph_error(100, "Param text must be at most 500 characters long.",
                                                  type_="THApiException")})
    with pytest.raises(Rejected) as info:
        adapter.publish(CREDS, req(text="🍞" * 126)[0])                  # 126 emoji count as 504
    assert info.value.code == "100" and info.value.http_status == 400
    assert graph.paths() == [CREATE]


@pytest.mark.parametrize("text, media, words", [
    ("", [], "needs text, an image or a video"),                               # nothing to post
    ("  ", [], "needs text, an image or a video"),
    ("Too many", [MediaItem(JPG)] * 21, "2 to 20 items"),                      # carousel too big
])
def test_impossible_posts_are_rejected_without_a_call(text, media, words):
    adapter, graph, _ = make()
    with pytest.raises(Rejected, match=words):
        adapter.publish(CREDS, req(text=text, media=media)[0])
    assert graph.calls == []


def test_a_carousel_of_twenty_is_allowed():
    routes = publish_routes(container="parent")
    routes[CREATE] = [{"id": f"k{i}"} for i in range(20)] + [{"id": "parent"}]
    for i in range(20):
        routes[("GET", f"{V}/k{i}")] = FINISHED
    adapter, graph, _ = make(routes)
    adapter.publish(CREDS, req(media=[MediaItem(JPG)] * 20)[0])
    assert graph.count(*CREATE) == 21 and graph.count(*PUBLISH) == 1


# ---------------------------------------------------------------- reconciliation
SINCE = NOW - timedelta(minutes=10)
THREADS_LIST = {"data": [
    {"id": "t3", "text": "Something else", "timestamp": "2026-05-01T11:58:00+0000", "media_type": "TEXT_POST"},
    {"id": "t2", "text": "Fresh  loaves at 8\n#bakery", "timestamp": "2026-05-01T11:55:00+0000",
     "permalink": "https://www.threads.net/@bakery/post/T2", "media_type": "TEXT_POST"},
    {"id": "t0", "timestamp": "2026-05-01T11:54:00+0000", "media_type": "IMAGE"},
    {"id": "t1", "text": "Fresh loaves at 8 #bakery", "timestamp": "2026-05-01T09:00:00+0000",
     "media_type": "TEXT_POST"},
]}


@pytest.mark.parametrize("text, since, found", [
    ("Fresh loaves at 8 #bakery", SINCE, "t2"),           # same text after whitespace normalisation, in time
    ("Fresh loaves at 8 #bakery", NOW, None),             # the match is older than `since`
    ("A post never made", SINCE, None),                   # no match
])
def test_find_published_matches_text_and_time(text, since, found):
    adapter, graph, _ = make({LISTING: THREADS_LIST})
    result = adapter.find_published(CREDS, req(text=text)[0], since=since)
    assert (result.external_id if result else None) == found
    query = graph.query(*LISTING)
    assert query["fields"] == "id,text,timestamp,permalink,media_type"
    assert query["since"] == str(int(since.timestamp()))


def test_find_published_trusts_an_unpublished_container():
    adapter, graph, _ = make({("GET", f"{V}/c1"): FINISHED, LISTING: THREADS_LIST})
    request, _ = req(progress={"th_container": "c1"})
    assert adapter.find_published(CREDS, request, since=SINCE) is None
    assert graph.paths() == [("GET", f"{V}/c1")]          # no listing needed


def test_find_published_of_an_image_without_text_needs_a_published_container():
    adapter, graph, _ = make({("GET", f"{V}/c1"): {"status": "PUBLISHED"}, LISTING: THREADS_LIST})
    proven, _ = req(text="", media=[MediaItem(JPG)], progress={"th_container": "c1"})
    assert adapter.find_published(CREDS, proven, since=SINCE).external_id == "t0"
    unproven, _ = req(text="", media=[MediaItem(JPG)])
    assert adapter.find_published(CREDS, unproven, since=SINCE) is None


def listed(n, **extra):
    return {"id": f"o{n}", "text": f"Another post {n}", "timestamp": "2026-05-01T11:59:00+0000",
            "media_type": "TEXT_POST", **extra}


def test_find_published_reads_past_the_first_page():
    # 120 newer posts since the attempt: the thread is on the second page of the listing.
    first = {"data": [listed(n) for n in range(100)],
             "paging": {"cursors": {"before": "0", "after": "100"}, "next": "https://graph.threads.net/next"}}
    second = {"data": [listed(n) for n in range(100, 120)] + [THREADS_LIST["data"][1]],
              "paging": {"cursors": {"before": "100", "after": "121"}}}
    adapter, graph, _ = make({("GET", f"{V}/c1"): {"status": "PUBLISHED"}, LISTING: [first, second]})
    request, _ = req(progress={"th_container": "c1"})
    assert adapter.find_published(CREDS, request, since=SINCE).external_id == "t2"
    assert graph.count(*LISTING) == 2 and graph.query(*LISTING, n=1)["after"] == "100"
    assert graph.query(*LISTING)["limit"] == "100"


@pytest.mark.parametrize("text, media, listing, why", [
    # the text was edited in the app after publishing: no thread has the words Outpost sent
    ("Fresh loaves at 8 #bakery", [], {"data": [listed(1), {**THREADS_LIST["data"][1], "text": "Fresh loaves at 9"}]},
     "was it edited"),
    # two image posts without text since the attempt: either could be ours
    ("", [MediaItem(JPG)], {"data": [{"id": "i1", "timestamp": "2026-05-01T11:58:00+0000", "media_type": "IMAGE"},
                                     {"id": "i2", "timestamp": "2026-05-01T11:57:00+0000", "media_type": "IMAGE"}]},
     "2 posts without text could be it"),
])
def test_a_published_container_is_never_reported_as_not_there(text, media, listing, why):
    routes = publish_routes()
    routes[("GET", f"{V}/c1")] = {"status": "PUBLISHED"}
    routes[LISTING] = listing
    adapter, graph, _ = make(routes)
    request, _ = req(text=text, media=media, progress={"th_container": "c1"})
    # Before: None ("not there"), so the runner published again, publish() said OutcomeUnknown, and round it went.
    with pytest.raises(RetryLater, match=why) as info:
        adapter.find_published(CREDS, request, since=SINCE)
    assert info.value.code == "published_not_found" and not info.value.rate_limited
    assert "will not be posted again" in str(info.value) and info.value.retry_at == NOW + timedelta(minutes=5)
    with pytest.raises(OutcomeUnknown):                       # and publish() itself never sends it again
        adapter.publish(CREDS, request)
    assert graph.count(*PUBLISH) == 0 and graph.count(*CREATE) == 0


def test_find_published_with_the_id_saved_asks_nothing_but_the_link():
    adapter, graph, _ = make(publish_routes())
    request, _ = req(progress={"th_container": "c1", "th_media": "t1"})
    assert adapter.find_published(CREDS, request, since=SINCE).external_id == "t1"
    assert graph.paths() == [("GET", f"{V}/t1")]


# ---------------------------------------------------------------- metrics
def insights(**values):
    return {"data": [{"name": k, "period": "lifetime", "values": [{"value": v}], "title": k,
                      "id": f"t/insights/{k}/lifetime"} for k, v in values.items()]}


def test_post_metrics_normalises_names_and_skips_threads_without_data():
    adapter, graph, _ = make({
        ("GET", f"{V}/t1/insights"): insights(views=120, likes=11, replies=2, reposts=3, quotes=1, shares=4),
        ("GET", f"{V}/t2/insights"): {"data": []},                                   # no data yet, not zero
        ("GET", f"{V}/t3/insights"): graph_error(100, "Unsupported get request. Object with ID 't3' does not "
                                                      "exist", 33),                  # deleted
    })
    out = adapter.post_metrics(CREDS, ["t1", "t2", "t3"])
    assert list(out) == ["t1"]
    assert out["t1"].values == {"views": 120, "likes": 11, "comments": 2, "shares": 8}
    assert out["t1"].raw == {"views": 120, "likes": 11, "replies": 2, "reposts": 3, "quotes": 1, "shares": 4}
    assert graph.query("GET", f"{V}/t1/insights")["metric"] == "views,likes,replies,reposts,quotes,shares"
    assert len(graph.calls) == 3                                                     # one call per thread


def test_post_metrics_stop_on_a_token_problem():
    adapter, graph, _ = make({("GET", f"{V}/t1/insights"): graph_error(190, "Session has expired", 463)})
    with pytest.raises(TokenExpired):
        adapter.post_metrics(CREDS, ["t1", "t2"])
    assert len(graph.calls) == 1


def test_account_metrics_reads_followers_count():
    adapter, graph, _ = make({("GET", f"{V}/{USER}/threads_insights"): {"data": [
        {"name": "followers_count", "period": "day", "title": "followers_count", "total_value": {"value": 1234},
         "id": f"{USER}/insights/followers_count/day"}]}})
    metrics = adapter.account_metrics(CREDS)
    assert metrics.followers == 1234 and metrics.raw == {"followers_count": 1234}
    assert graph.query("GET", f"{V}/{USER}/threads_insights") == {"metric": "followers_count"}


# ---------------------------------------------------------------- a thread's replies
REPLIES = ("GET", f"{V}/t1/replies")
ME = Credentials(access_token="THAAlong", external_id=USER, meta={"username": "bakery"})


def reply(id_, text, username, at=NOW):
    return {"id": id_, "text": text, "username": username, "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S+0000")}


def test_find_reply_takes_only_this_profiles_reply():
    """Another person replying the same words under the post is not this thread's reply."""
    other, ours = reply("r9", "Part two", "someone_else"), reply("r2", "Part two", "Bakery")
    adapter, _, _ = make({REPLIES: [{"data": [other]}, {"data": [other, ours]}]})
    assert adapter.find_reply(ME, "t1", "Part two", since=NOW - timedelta(minutes=5)) is None
    assert adapter.find_reply(ME, "t1", "Part two", since=NOW - timedelta(minutes=5)) == "r2"


def test_a_reply_whose_saved_container_was_published_is_looked_up_never_sent_again():
    routes = {("GET", f"{V}/rc1"): {"status": "PUBLISHED", "id": "rc1"}, REPLIES: [{"data": []},
                                                                                 {"data": [reply("r2", "Part two",
                                                                                                 "bakery")]}]}
    adapter, graph, _ = make(routes)
    request, _ = req(progress={"reply_container:1": "rc1"})
    with pytest.raises(OutcomeUnknown, match="will not be sent again") as info:
        adapter.post_reply(ME, request, "t1", "Part two", 1)      # published, not listed yet
    assert info.value.code == "reply_published_not_listed"
    assert adapter.post_reply(ME, request, "t1", "Part two", 1) == "r2"
    assert graph.count(*CREATE) == 0 and graph.count(*PUBLISH) == 0


def test_a_reply_whose_saved_container_was_never_published_publishes_that_container():
    routes = {("GET", f"{V}/rc1"): {"status": "FINISHED", "id": "rc1"}, PUBLISH: {"id": "r2"}}
    adapter, graph, _ = make(routes)
    request, saved = req(progress={"reply_container:1": "rc1"})
    assert adapter.post_reply(ME, request, "t1", "Part two", 1) == "r2"
    assert graph.count(*CREATE) == 0 and graph.count(*PUBLISH) == 1 and saved == {}
    assert graph.form(*PUBLISH)["creation_id"] == "rc1"

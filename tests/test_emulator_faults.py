"""Injected faults: each kind, each platform's own error shapes, and the rule filters."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest_emulator import bearer, emu, http, li_headers, sandbox  # noqa: F401


def x_post(http, emu, token, text, **kw):
    return http.post(emu.base_url("api.x.com") + "/2/tweets", json={"text": text}, headers=bearer(token), **kw)


@pytest.fixture
def x_token(sandbox):
    return sandbox.accounts("x", handle="faulty")[0]["access_token"]


def test_lost_response_posts_but_the_client_gets_a_transport_error(sandbox, http, x_token):
    sandbox.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        x_post(http, sandbox, x_token, "did it post?")
    [post] = sandbox.posts("x")
    assert post["text"] == "did it post?"
    retried = x_post(http, sandbox, x_token, "did it post?")            # a blind retry is caught...
    assert retried.status_code == 403
    assert sandbox.duplicates()["duplicates"][0]["attempts"] == 2      # ...and counted
    recent = http.get(sandbox.base_url("api.x.com") + f"/2/users/{post['account']}/tweets",
                      params={"max_results": 5}, headers=bearer(x_token)).json()
    assert recent["data"][0]["id"] == post["external_id"]               # reconciliation finds it


def test_lost_response_on_instagram_publish_is_recoverable_from_the_media_list(sandbox, http):
    creds = sandbox.accounts("instagram")[0]
    base = sandbox.base_url("graph.instagram.com") + "/v25.0"
    token, user = creds["access_token"], creds["ig_user_id"]
    cid = http.post(f"{base}/{user}/media", params={"image_url": f"{sandbox.url}/_media/sample.jpg",
                                                    "caption": "lost", "access_token": token}).json()["id"]
    sandbox.advance(1)
    sandbox.add_fault(kind="lost_response", path="media_publish", count=1)
    with pytest.raises(httpx.TransportError):
        http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token})
    status = http.get(f"{base}/{cid}", params={"fields": "status_code", "access_token": token}).json()
    assert status["status_code"] == "PUBLISHED"
    listing = http.get(f"{base}/{user}/media", params={"fields": "id,caption", "access_token": token}).json()
    assert listing["data"][0]["caption"] == "lost"


LOST = (httpx.RemoteProtocolError, httpx.ReadError)


def test_lost_response_with_an_empty_body_youtube_session_start(sandbox, http):
    """200 + Location and no body: the session exists, but the client never learns its URL."""
    token = sandbox.accounts("youtube", handle="lost_yt")[0]["access_token"]
    sandbox.add_fault(kind="lost_response", platform="youtube", path="/upload/youtube/v3/videos", method="POST",
                      count=1)
    start = {"url": sandbox.base_url("www.googleapis.com") + "/upload/youtube/v3/videos",
             "params": {"uploadType": "resumable", "part": "snippet,status"},
             "headers": {**bearer(token), "X-Upload-Content-Length": "1000", "X-Upload-Content-Type": "video/mp4"},
             "json": {"snippet": {"title": "lost session"}, "status": {"privacyStatus": "private"}}}
    with pytest.raises(LOST):
        http.post(**start)
    assert len(sandbox.state.yt.sessions) == 1                          # it took effect
    again = http.post(**start)                                          # the same connection pool still works
    assert again.status_code == 200 and again.headers["location"] and again.content == b""
    assert len(sandbox.state.yt.sessions) == 2
    [lost] = [r for r in sandbox.state.requests if "lost_response" in r["faults"]]
    assert lost["status"] == 200


def test_lost_response_with_an_empty_body_tiktok_chunk_puts(sandbox, http):
    """206 for a middle chunk and 201 for the last one, both empty: each is lost on its own request."""
    token = sandbox.accounts("tiktok", handle="lost_tt")[0]["access_token"]
    base = sandbox.base_url("open.tiktokapis.com")
    video = http.get(f"{sandbox.url}/_media/sample.mp4").content
    chunk = 5 * 2**20
    blob = video + b"\0" * (2 * chunk - len(video))
    init = http.post(f"{base}/v2/post/publish/video/init/", headers=bearer(token), json={
        "post_info": {"title": "lost chunks", "privacy_level": "SELF_ONLY"},
        "source_info": {"source": "FILE_UPLOAD", "video_size": len(blob), "chunk_size": chunk,
                        "total_chunk_count": 2}}).json()["data"]
    item = sandbox.state.tt.publishes[init["publish_id"]]
    sandbox.add_fault(kind="lost_response", platform="tiktok", method="PUT", count=2)
    for first, status in ((0, 206), (chunk, 201)):
        with pytest.raises(LOST):
            http.put(init["upload_url"], content=blob[first:first + chunk], headers={
                "Content-Type": "video/mp4", "Content-Range": f"bytes {first}-{first + chunk - 1}/{len(blob)}"})
        assert item["received"] == first + chunk                        # the chunk was stored
    assert [r["status"] for r in sandbox.state.requests if "lost_response" in r["faults"]] == [206, 201]
    fetched = http.post(f"{base}/v2/post/publish/status/fetch/", json={"publish_id": init["publish_id"]},
                        headers=bearer(token)).json()["data"]
    assert fetched["uploaded_bytes"] == len(blob)


def test_lost_response_with_an_empty_body_linkedin_create_post(sandbox, http):
    """201, an empty body and the URN in x-restli-id: the post exists, the client never sees the URN."""
    creds = sandbox.accounts("linkedin", handle="lost_li")[0]
    sandbox.add_fault(kind="lost_response", platform="linkedin", path="/rest/posts", method="POST", count=1)
    body = {"author": creds["person_urn"], "commentary": "lost post", "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []}, "lifecycleState": "PUBLISHED"}
    with pytest.raises(LOST):
        http.post(sandbox.base_url("api.linkedin.com") + "/rest/posts", json=body,
                  headers=li_headers(sandbox, creds["access_token"]))
    [post] = sandbox.posts("linkedin")
    assert post["text"] == "lost post"
    after = http.get(sandbox.base_url("api.linkedin.com") + "/v2/userinfo", headers=bearer(creds["access_token"]))
    assert after.status_code == 200                                     # the next request is unaffected


@pytest.mark.parametrize("effect, posted", [("applied", True), ("dropped", False)])
def test_timeout_makes_a_short_timeout_client_give_up(sandbox, x_token, effect, posted):
    # A stall far longer than the client waits (it ends early once the client hangs up, so the test stays quick).
    sandbox.add_fault(kind="timeout", platform="x", timeout_s=60, effect=effect, count=1)
    with httpx.Client(timeout=0.3) as short:
        with pytest.raises(httpx.ReadTimeout):                # the client gave up: nothing came back in time
            x_post(short, sandbox, x_token, "slow one")
    # The emulator logs a request when it is done with it: from then on the post is there or it never will be.
    deadline = time.monotonic() + 30
    while not any("timeout" in r["faults"] for r in list(sandbox.state.requests)):
        assert time.monotonic() < deadline, "the emulator never finished the stalled request"
        time.sleep(0.02)
    assert bool(sandbox.posts("x")) is posted


def test_latency_global_and_per_rule(sandbox, http, x_token):
    sandbox.configure(latency_ms=120)
    started = time.perf_counter()
    assert x_post(http, sandbox, x_token, "late").status_code == 201
    assert time.perf_counter() - started >= 0.12
    sandbox.configure(latency_ms=0)
    sandbox.add_fault(kind="latency", platform="tiktok", latency_ms=300)
    assert x_post(http, sandbox, x_token, "quick").status_code == 201   # the rule is for TikTok only
    assert http.get(sandbox.url + "/_control/health").status_code == 200


@pytest.mark.parametrize("platform, call, status, check", [
    ("x", ("POST", "api.x.com", "/2/tweets"), 503,
     lambda b, h: b["status"] == 503 and b["title"] == "Service Unavailable"),
    ("instagram", ("GET", "graph.instagram.com", "/v25.0/me"), 503,
     lambda b, h: b["error"]["code"] == 2 and b["error"]["is_transient"] is True),
    ("linkedin", ("GET", "api.linkedin.com", "/v2/userinfo"), 503, lambda b, h: b["status"] == 503),
    ("tiktok", ("POST", "open.tiktokapis.com", "/v2/post/publish/creator_info/query/"), 503,
     lambda b, h: b["error"]["code"] == "internal_error"),
    ("youtube", ("GET", "www.googleapis.com", "/youtube/v3/channels?part=id&mine=true"), 503,
     lambda b, h: b["error"]["errors"][0]["reason"] == "backendError"),
])
def test_error_5xx_uses_the_platforms_body(sandbox, http, platform, call, status, check):
    token = sandbox.accounts(platform)[0]["access_token"]
    sandbox.add_fault(kind="error_5xx", platform=platform, status=status, count=1)
    method, host, path = call
    kwargs = {"headers": bearer(token)}
    if method == "POST":
        kwargs["json"] = {"text": "x"}
    first = http.request(method, sandbox.base_url(host) + path, **kwargs)
    assert first.status_code == status and check(first.json(), first.headers), first.text
    second = http.request(method, sandbox.base_url(host) + path, **kwargs)   # count=1: only once
    assert second.status_code < 500


@pytest.mark.parametrize("platform, call, status, check", [
    ("x", ("GET", "api.x.com", "/2/users/me"), 429,
     lambda b, h: b["title"] == "Too Many Requests" and h["x-rate-limit-remaining"] == "0"
     and "retry-after" not in h),
    ("instagram", ("GET", "graph.instagram.com", "/v25.0/me"), 400, lambda b, h: b["error"]["code"] == 4),
    ("linkedin", ("GET", "api.linkedin.com", "/v2/userinfo"), 429,
     lambda b, h: b["status"] == 429 and "retry-after" not in h),
    ("tiktok", ("POST", "open.tiktokapis.com", "/v2/post/publish/creator_info/query/"), 429,
     lambda b, h: b["error"]["code"] == "rate_limit_exceeded"),
    ("youtube", ("GET", "www.googleapis.com", "/youtube/v3/channels?part=id&mine=true"), 429,
     lambda b, h: b["error"]["errors"][0]["reason"] == "rateLimitExceeded"),
])
def test_rate_limit_uses_the_platforms_shape(sandbox, http, platform, call, status, check):
    token = sandbox.accounts(platform)[0]["access_token"]
    sandbox.add_fault(kind="rate_limit", platform=platform, count=1)
    method, host, path = call
    answer = http.request(method, sandbox.base_url(host) + path, headers=bearer(token))
    assert answer.status_code == status and check(answer.json(), answer.headers), answer.text


def test_expire_token_expires_the_token_used(sandbox, http):
    creds = sandbox.accounts("linkedin")[0]
    headers = li_headers(sandbox, creds["access_token"])
    sandbox.add_fault(kind="expire_token", platform="linkedin", path="/rest/", count=1)
    first = http.get(sandbox.base_url("api.linkedin.com") + "/rest/memberFollowersCount", params={"q": "me"},
                     headers=headers)
    assert first.status_code == 401 and first.json()["code"] == "EXPIRED_ACCESS_TOKEN"
    again = http.get(sandbox.base_url("api.linkedin.com") + "/v2/userinfo", headers=headers)
    assert again.status_code == 401                                    # it stays expired: refresh it
    refreshed = http.post(sandbox.base_url("www.linkedin.com") + "/oauth/v2/accessToken", data={
        "grant_type": "refresh_token", "refresh_token": creds["refresh_token"], "client_id": "outpost-sandbox-linkedin",
        "client_secret": "sandbox-secret-linkedin"})
    assert refreshed.status_code == 200


def test_probability_is_repeatable_with_a_seed(sandbox, http, x_token):
    def pattern() -> list[int]:
        sandbox.clear_faults()
        sandbox.add_fault(kind="error_5xx", platform="x", path="/2/users/me", probability=0.5, seed=42)
        return [http.get(sandbox.base_url("api.x.com") + "/2/users/me", headers=bearer(x_token)).status_code
                for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second and 503 in first and 200 in first


def test_faults_over_http_and_filters(sandbox, http, x_token):
    url = sandbox.url + "/_control/faults"
    added = http.post(url, json={"kind": "error_5xx", "platform": "x", "path": "/2/tweets", "method": "GET",
                                 "count": 2})
    assert added.status_code == 201 and added.json()["added"][0]["count"] == 2
    assert x_post(http, sandbox, x_token, "POST is not matched").status_code == 201
    assert http.post(url, json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert http.post(url, json={"kind": "meteor"}).status_code == 400
    listed = http.get(url).json()
    assert len(listed["rules"]) == 1 and listed["latency_ms"] == 5
    assert http.delete(url).json() == {"rules": [], "latency_ms": 0.0}

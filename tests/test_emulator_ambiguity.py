"""Ambiguous outcomes, as unkind as the real platforms: a gateway 5xx after the post was made, a request that
takes effect after the client gave up, listings that show a new post only later; and each platform's text and
media limits with its own error bodies.

Everything goes over real HTTP, as an adapter would call it. One table (TARGETS) says, per platform, how a post
is made, which listing the adapter's `find_published` reads, and how a post is looked up by id.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from urllib.parse import quote

import httpx
import pytest

from tests.conftest_emulator import bearer, emu, http, li_headers, sandbox  # noqa: F401

GRAPH_FB, GRAPH_IG, GRAPH_TH = "graph.facebook.com", "graph.instagram.com", "graph.threads.net"
PDS = "morel.us-east.host.bsky.network"
BSKY_POST = "app.bsky.feed.post"


def li_body(author: str, commentary: str, **extra) -> dict:
    return {"author": author, "commentary": commentary, "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []}, "lifecycleState": "PUBLISHED", **extra}


def bsky_record(did: str, text: str, **record) -> dict:
    return {"repo": did, "collection": BSKY_POST,
            "record": {"$type": BSKY_POST, "text": text, "createdAt": "2026-11-20T15:30:00.000Z", **record}}


def tt_photo(emu, title: str = "photo", description: str = "", images: list | None = None) -> dict:
    return {"media_type": "PHOTO", "post_mode": "DIRECT_POST",
            "post_info": {"title": title, "description": description, "privacy_level": "SELF_ONLY"},
            "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0,
                            "photo_images": images or [f"{emu.url}/_media/sample.jpg"]}}


def tt_video(title: str) -> dict:
    return {"post_info": {"title": title, "privacy_level": "SELF_ONLY"},
            "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}}


def yt_start(http, emu, creds, title: str, description: str = "", client=None):
    return (client or http).post(
        emu.base_url("www.googleapis.com") + "/upload/youtube/v3/videos",
        params={"uploadType": "resumable", "part": "snippet,status"},
        headers={**bearer(creds["access_token"]), "X-Upload-Content-Type": "video/mp4"},
        json={"snippet": {"title": title, "description": description}, "status": {"privacyStatus": "public"}})


# ------------------------------------------------------------------ the platforms
Publish = Callable[[httpx.Client, object, dict, str, httpx.Client], httpx.Response]


@dataclass
class Target:
    """One platform: its publishing call (`fault_path`, `method`), how to make a post with text, the listings the
    adapter's find_published reads (each returns the ids it shows) and a lookup by id."""

    name: str
    fault_path: str
    method: str
    publish: Publish                     # (http, emu, creds, text, final) -> the publishing call's answer
    listings: dict[str, Callable]       # label -> (http, emu, creds) -> ids shown
    lookup: Callable                     # (http, emu, creds, external_id) -> found?
    settle: Callable = field(default=lambda http, emu: None)   # after publishing, until the post exists


def _x_publish(http, emu, creds, text, final):
    return final.post(emu.base_url("api.x.com") + "/2/tweets", json={"text": text},
                      headers=bearer(creds["access_token"]))


def _x_timeline(http, emu, creds):
    body = http.get(emu.base_url("api.x.com") + f"/2/users/{creds['user_id']}/tweets",
                    params={"max_results": 20, "tweet.fields": "created_at,text"},
                    headers=bearer(creds["access_token"])).json()
    return [t["id"] for t in body.get("data") or []]


def _x_lookup(http, emu, creds, post_id):
    return "data" in http.get(emu.base_url("api.x.com") + f"/2/tweets/{post_id}",
                              headers=bearer(creds["access_token"])).json()


def _fb(emu, path):
    return emu.base_url(GRAPH_FB) + "/v25.0/" + path


def _fb_publish(http, emu, creds, text, final):
    return final.post(_fb(emu, f"{creds['page_id']}/feed"), params={"fields": "id,permalink_url"},
                      data={"message": text, "access_token": creds["page_access_token"]})


def _fb_listing(edge):
    def listing(http, emu, creds):
        body = http.get(_fb(emu, f"{creds['page_id']}/{edge}"), params={
            "fields": "id,message,created_time,permalink_url", "limit": 25,
            "access_token": creds["page_access_token"]}).json()
        return [p["id"] for p in body["data"]]
    return listing


def _fb_lookup(http, emu, creds, post_id):
    return http.get(_fb(emu, post_id), params={"fields": "id,permalink_url",
                                               "access_token": creds["page_access_token"]}).status_code == 200


def _li_publish(http, emu, creds, text, final):
    return final.post(emu.base_url("api.linkedin.com") + "/rest/posts", json=li_body(creds["organization_urn"], text),
                      headers=li_headers(emu, creds["access_token"]))


def _li_listing(http, emu, creds):
    body = http.get(emu.base_url("api.linkedin.com") + "/rest/posts", params={
        "q": "author", "author": creds["organization_urn"], "count": 20, "sortBy": "LAST_MODIFIED"},
        headers=li_headers(emu, creds["access_token"])).json()
    return [p["id"] for p in body["elements"]]


def _li_lookup(http, emu, creds, urn):
    return http.get(emu.base_url("api.linkedin.com") + "/rest/posts/" + quote(urn, safe=""),
                    headers=li_headers(emu, creds["access_token"])).status_code == 200


def _container_publish(host, version, user_key, edge, publish_edge, params):
    """Create the container (never faulted: the rules match the publish edge), let it finish, then publish."""
    def publish(http, emu, creds, text, final):
        base, token, user = f"{emu.base_url(host)}/{version}", creds["access_token"], creds[user_key]
        made = http.post(f"{base}/{user}/{edge}", data={**params(emu, text), "access_token": token})
        assert made.status_code == 200, made.text
        emu.advance(1)                                   # IN_PROGRESS -> FINISHED
        return final.post(f"{base}/{user}/{publish_edge}", data={"creation_id": made.json()["id"],
                                                                 "access_token": token})
    return publish


def _graph_listing(host, version, user_key, edge, fields):
    def listing(http, emu, creds):
        body = http.get(f"{emu.base_url(host)}/{version}/{creds[user_key]}/{edge}",
                        params={"fields": fields, "access_token": creds["access_token"]}).json()
        return [m["id"] for m in body["data"]]
    return listing


def _graph_lookup(host, version):
    def lookup(http, emu, creds, media_id):
        return http.get(f"{emu.base_url(host)}/{version}/{media_id}",
                        params={"fields": "id", "access_token": creds["access_token"]}).status_code == 200
    return lookup


def _masto_publish(http, emu, creds, text, final):
    return final.post(emu.base_url("mastodon.social") + "/api/v1/statuses", json={"status": text},
                      headers=bearer(creds["access_token"]))


def _masto_listing(http, emu, creds):
    base, auth = emu.base_url("mastodon.social"), bearer(creds["access_token"])
    me = http.get(f"{base}/api/v1/accounts/verify_credentials", headers=auth).json()
    return [s["id"] for s in http.get(f"{base}/api/v1/accounts/{me['id']}/statuses", params={"limit": 40},
                                      headers=auth).json()]


def _masto_lookup(http, emu, creds, status_id):
    return http.get(emu.base_url("mastodon.social") + f"/api/v1/statuses/{status_id}",
                    headers=bearer(creds["access_token"])).status_code == 200


def _xrpc(emu, nsid):
    return f"{emu.base_url(PDS)}/xrpc/{nsid}"


def _bsky_publish(http, emu, creds, text, final):
    return final.post(_xrpc(emu, "com.atproto.repo.createRecord"), json=bsky_record(creds["did"], text),
                      headers=bearer(creds["access_token"]))


def _bsky_records(http, emu, creds):
    body = http.get(_xrpc(emu, "com.atproto.repo.listRecords"), headers=bearer(creds["access_token"]),
                    params={"repo": creds["did"], "collection": BSKY_POST, "limit": 50}).json()
    return [r["uri"] for r in body["records"]]


def _bsky_feed(http, emu, creds):
    body = http.get(_xrpc(emu, "app.bsky.feed.getAuthorFeed"), headers=bearer(creds["access_token"]),
                    params={"actor": creds["did"]}).json()
    return [item["post"]["uri"] for item in body["feed"]]


def _bsky_lookup(http, emu, creds, uri):
    return bool(http.get(_xrpc(emu, "app.bsky.feed.getPosts"), params={"uris": uri},
                         headers=bearer(creds["access_token"])).json()["posts"])


def _tt_publish(http, emu, creds, text, final):
    return final.post(emu.base_url("open.tiktokapis.com") + "/v2/post/publish/content/init/",
                      json=tt_photo(emu, description=text), headers=bearer(creds["access_token"]))


def _tt_settle(http, emu):
    """The photos are pulled in the background; the post then becomes public tt_process_delay_s later."""
    _wait_for(lambda: emu.posts("tiktok"), 10)
    emu.advance(emu.config.tt_process_delay_s)


def _tt_listing(http, emu, creds):
    body = http.post(emu.base_url("open.tiktokapis.com") + "/v2/video/list/", params={"fields": "id,title"},
                     json={"max_count": 20}, headers=bearer(creds["access_token"])).json()
    return [v["id"] for v in body["data"]["videos"]]


def _tt_lookup(http, emu, creds, video_id):
    body = http.post(emu.base_url("open.tiktokapis.com") + "/v2/video/query/", params={"fields": "id"},
                     json={"filters": {"video_ids": [video_id]}}, headers=bearer(creds["access_token"])).json()
    return bool(body["data"]["videos"])


def _yt_publish(http, emu, creds, text, final):
    session = yt_start(http, emu, creds, title=text[:100])
    assert session.status_code == 200, session.text
    video = http.get(f"{emu.url}/_media/sample.mp4").content
    return final.put(session.headers["location"], content=video, headers={"Content-Type": "video/mp4"})


def _yt_listing(http, emu, creds):
    playlist = "UU" + creds["channel_id"][2:]
    body = http.get(emu.base_url("www.googleapis.com") + "/youtube/v3/playlistItems", headers=bearer(
        creds["access_token"]), params={"part": "snippet", "playlistId": playlist, "maxResults": 50}).json()
    return [item["snippet"]["resourceId"]["videoId"] for item in body["items"]]


def _yt_lookup(http, emu, creds, video_id):
    return bool(http.get(emu.base_url("www.googleapis.com") + "/youtube/v3/videos", params={"part": "id", "id": video_id},
                         headers=bearer(creds["access_token"])).json()["items"])


TARGETS = {t.name: t for t in (
    Target("x", "/api.x.com/2/tweets", "POST", _x_publish, {"user timeline": _x_timeline}, _x_lookup),
    Target("facebook", "/feed", "POST", _fb_publish,
           {"posts": _fb_listing("posts"), "feed": _fb_listing("feed"),
            "published_posts": _fb_listing("published_posts")}, _fb_lookup),
    Target("linkedin", "/rest/posts", "POST", _li_publish, {"posts by author": _li_listing}, _li_lookup),
    Target("threads", "/threads_publish", "POST",
           _container_publish(GRAPH_TH, "v1.0", "threads_user_id", "threads", "threads_publish",
                              lambda emu, text: {"media_type": "TEXT", "text": text}),
           {"threads": _graph_listing(GRAPH_TH, "v1.0", "threads_user_id", "threads", "id,text,timestamp")},
           _graph_lookup(GRAPH_TH, "v1.0")),
    Target("instagram", "/media_publish", "POST",
           _container_publish(GRAPH_IG, "v25.0", "ig_user_id", "media", "media_publish",
                              lambda emu, text: {"image_url": f"{emu.url}/_media/sample.jpg", "caption": text}),
           {"media": _graph_listing(GRAPH_IG, "v25.0", "ig_user_id", "media", "id,caption,timestamp")},
           _graph_lookup(GRAPH_IG, "v25.0")),
    Target("mastodon", "/api/v1/statuses", "POST", _masto_publish, {"account statuses": _masto_listing},
           _masto_lookup),
    Target("bluesky", "createRecord", "POST", _bsky_publish,
           {"listRecords": _bsky_records, "getAuthorFeed": _bsky_feed}, _bsky_lookup),
    Target("tiktok", "/content/init/", "POST", _tt_publish, {"video list": _tt_listing}, _tt_lookup,
           settle=_tt_settle),
    Target("youtube", "/upload/youtube/v3/videos", "PUT", _yt_publish, {"uploads playlist": _yt_listing},
           _yt_lookup),
)}
CHAOS = ("x", "facebook", "linkedin", "threads")      # the chaos bench's platforms, and a container platform


def creds_for(emu, name: str) -> dict:
    return emu.accounts(name, handle=f"amb_{name}")[0]


def _wait_for(check: Callable, bound_s: float, every_s: float = 0.02):
    """Poll `check` until it returns something truthy or `bound_s` passes; return its last value."""
    deadline = time.monotonic() + bound_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def requests_with(emu, kind: str) -> list[dict]:
    return [r for r in list(emu.state.requests) if kind in r["faults"]]


# ------------------------------------------------------------------ applied_then_5xx
@pytest.mark.parametrize("status, title", [(502, "502 Bad Gateway"), (504, "504 Gateway Time-out")])
@pytest.mark.parametrize("name", CHAOS)
def test_applied_then_5xx_posts_once_and_answers_a_gateway_page(sandbox, http, name, status, title):
    target = TARGETS[name]
    creds = creds_for(sandbox, name)
    sandbox.add_fault(kind="applied_then_5xx", platform=name, path=target.fault_path, method=target.method,
                      status=status, count=1)
    answer = target.publish(http, sandbox, creds, f"gateway {status} on {name}", http)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "text/html"
    assert f"<title>{title}</title>" in answer.text and "nginx" in answer.text
    with pytest.raises(json.JSONDecodeError):
        answer.json()                                       # not the platform's JSON: nothing to tell it apart
    assert not any(h.startswith("x-rate-limit") or h == "x-restli-id" for h in answer.headers)
    [post] = sandbox.posts(name)                            # it took effect, exactly once
    assert post["text"] == f"gateway {status} on {name}"
    [logged] = requests_with(sandbox, "applied_then_5xx")
    assert logged["status"] == status and 200 <= logged["applied_status"] < 300


def test_applied_then_5xx_defaults_to_502(sandbox, http):
    rule = sandbox.add_fault(kind="applied_then_5xx", platform="x")
    assert rule["status"] == 502


# ------------------------------------------------------------------ slow_apply
@pytest.mark.parametrize("name", CHAOS)
def test_slow_apply_takes_effect_after_the_client_gave_up(sandbox, http, name):
    target = TARGETS[name]
    creds = creds_for(sandbox, name)
    hold = 1.5
    sandbox.add_fault(kind="slow_apply", platform=name, path=target.fault_path, method=target.method, hold_s=hold,
                      count=1)
    started, sent_at = time.monotonic(), time.time()
    with httpx.Client(timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):              # the client hung up after 0.3 s...
            target.publish(http, sandbox, creds, f"slow on {name}", impatient)
    posts = _wait_for(lambda: sandbox.posts(name), bound_s=hold + 30)
    assert time.monotonic() - started >= hold               # ...and it happened after hold_s all the same
    assert [p["text"] for p in posts] == [f"slow on {name}"]
    # Not before: the post was made hold_s after the request was sent (its wall-clock stamp), long after the
    # client left. (A stamp, not a look at the posts right after the timeout, which a slow machine could miss.)
    assert datetime.fromisoformat(posts[0]["received_at"]).timestamp() >= sent_at + hold
    [logged] = _wait_for(lambda: requests_with(sandbox, "slow_apply"), bound_s=5)
    assert 200 <= logged["status"] < 300 and logged["ms"] >= hold * 1000


def test_slow_apply_defaults_to_the_config_and_answers_whoever_waits(sandbox, http):
    sandbox.configure(slow_apply_s=0.5)
    creds = creds_for(sandbox, "x")
    rule = sandbox.add_fault(kind="slow_apply", platform="x", path="/2/tweets", method="POST", count=1)
    assert rule["hold_s"] is None
    started = time.monotonic()
    answer = _x_publish(http, sandbox, creds, "worth the wait", http)
    assert answer.status_code == 201 and time.monotonic() - started >= 0.5
    assert answer.json()["data"]["text"] == "worth the wait"


def test_the_default_slow_apply_outlasts_the_clients_timeout(sandbox):
    assert sandbox.config.slow_apply_s == 40.0 > 30.0


# ------------------------------------------------------------------ listing_lag
@pytest.mark.parametrize("name", list(TARGETS))
def test_listing_lag_hides_a_new_post_from_listings_not_from_lookups(sandbox, http, name):
    target = TARGETS[name]
    creds = creds_for(sandbox, name)
    sandbox.configure(tt_status_per_min=1000, listing_lag_s={name: 20})
    answer = target.publish(http, sandbox, creds, f"lagging on {name}", http)
    assert answer.status_code < 300, answer.text
    target.settle(http, sandbox)
    [post] = sandbox.posts(name)
    assert target.lookup(http, sandbox, creds, post["external_id"])           # by id: at once
    for label, listing in target.listings.items():
        assert post["external_id"] not in listing(http, sandbox, creds), label
    assert requests_with(sandbox, "listing_lag")                             # the hiding is in the control log
    sandbox.advance(19)
    assert all(post["external_id"] not in listing(http, sandbox, creds) for listing in target.listings.values())
    sandbox.advance(1)
    for label, listing in target.listings.items():
        assert post["external_id"] in listing(http, sandbox, creds), label


def test_listing_lag_per_platform_with_a_default(sandbox, http):
    x, fb = creds_for(sandbox, "x"), creds_for(sandbox, "facebook")
    sandbox.configure(listing_lag_s={"*": 30, "x": 0})
    assert _x_publish(http, sandbox, x, "no lag on x", http).status_code == 201
    made = _fb_publish(http, sandbox, fb, "lag everywhere else", http)
    assert made.status_code == 200 and made.json()["permalink_url"]    # read-after-write is never late
    assert len(_x_timeline(http, sandbox, x)) == 1
    assert _fb_listing("posts")(http, sandbox, fb) == []
    assert {r["platform"] for r in requests_with(sandbox, "listing_lag")} == {"facebook"}


@pytest.mark.parametrize("value, ok, stored", [
    ({"x": 20, "*": 5}, True, {"x": 20.0, "*": 5.0}),
    (12, True, {"*": 12.0}),                # one number: every platform
    ({}, True, {}),
    ({"myspace": 5}, False, None),          # not a platform
    ({"x": -1}, False, None),
    ({"x": "soon"}, False, None),
    ("20", False, None),
])
def test_listing_lag_is_set_and_checked_through_the_control_api(sandbox, http, value, ok, stored):
    answer = http.patch(sandbox.url + "/_control/config", json={"listing_lag_s": value})
    assert answer.is_success is ok, answer.text
    if ok:
        assert answer.json()["listing_lag_s"] == stored


# ------------------------------------------------------------------ rule validation
@pytest.mark.parametrize("spec", [
    {"kind": "applied_then_5xx", "status": 503},       # a gateway answers 502 or 504
    {"kind": "applied_then_5xx", "status": 200},
    {"kind": "applied_then_5xx", "status": "bad"},
    {"kind": "slow_apply", "hold_s": -1},
    {"kind": "slow_apply", "hold_s": "soon"},
    {"kind": "slow_apply", "hold_s": 7200},             # longer than an hour
    {"kind": "slow_apply", "hold_s": True},
    {"kind": "slow_apply", "count": -2},
    {"kind": "slow_apply", "lag_s": 3},                 # unknown field
])
def test_bad_rules_are_refused(sandbox, http, spec):
    url = sandbox.url + "/_control/faults"
    answer = http.post(url, json={"platform": "x", **spec})
    assert answer.status_code == 400 and answer.json()["error"]
    assert http.get(url).json()["rules"] == []


def test_good_rules_come_back_with_their_fields(sandbox, http):
    url = sandbox.url + "/_control/faults"
    added = http.post(url, json=[{"kind": "applied_then_5xx", "platform": "facebook", "path": "/feed", "status": 504,
                                  "probability": 0.5, "seed": 3},
                                 {"kind": "slow_apply", "platform": "linkedin", "hold_s": "2.5", "count": 1}])
    assert added.status_code == 201
    first, second = added.json()["added"]
    assert (first["kind"], first["status"], first["probability"]) == ("applied_then_5xx", 504, 0.5)
    assert (second["kind"], second["hold_s"], second["count"]) == ("slow_apply", 2.5, 1)


# ------------------------------------------------------------------ text and media limits
def test_facebook_message_limit_is_63206_with_the_graph_body(sandbox, http):
    creds = creds_for(sandbox, "facebook")
    at_limit = _fb_publish(http, sandbox, creds, "a" * 63206, http)
    assert at_limit.status_code == 200, at_limit.text
    over = _fb_publish(http, sandbox, creds, "b" * 63207, http)
    assert over.status_code == 400
    error = over.json()["error"]
    assert error["type"] == "OAuthException" and error["code"] == 100 and error["fbtrace_id"]
    assert "63206" in error["message"] and error["message"].startswith("(#100)")
    assert len(sandbox.posts("facebook")) == 1


@pytest.mark.parametrize("edge, params", [
    ("photos", lambda emu, text: {"url": f"{emu.url}/_media/sample.jpg", "caption": text}),
    ("videos", lambda emu, text: {"file_url": f"{emu.url}/_media/sample.mp4", "description": text}),
])
def test_facebook_photo_captions_and_video_descriptions_have_the_same_limit(sandbox, http, edge, params):
    creds = creds_for(sandbox, "facebook")
    sandbox.configure(fb_message_max=50)                  # a config value, not a constant
    over = http.post(_fb(sandbox, f"{creds['page_id']}/{edge}"),
                     data={**params(sandbox, "c" * 51), "access_token": creds["page_access_token"]})
    assert over.status_code == 400 and over.json()["error"]["code"] == 100, over.text
    ok = http.post(_fb(sandbox, f"{creds['page_id']}/{edge}"),
                   data={**params(sandbox, "c" * 50), "access_token": creds["page_access_token"]})
    assert ok.status_code == 200, ok.text


def _ig_caption(http, emu, creds, text):
    return http.post(emu.base_url(GRAPH_IG) + f"/v25.0/{creds['ig_user_id']}/media", data={
        "image_url": f"{emu.url}/_media/sample.jpg", "caption": text, "access_token": creds["access_token"]})


def _th_text(http, emu, creds, text):
    return http.post(emu.base_url(GRAPH_TH) + f"/v1.0/{creds['threads_user_id']}/threads", data={
        "media_type": "TEXT", "text": text, "access_token": creds["access_token"]})


def _tt_title(http, emu, creds, text):
    return http.post(emu.base_url("open.tiktokapis.com") + "/v2/post/publish/video/init/", json=tt_video(text),
                     headers=bearer(creds["access_token"]))


def _tt_photo_title(http, emu, creds, text):
    return http.post(emu.base_url("open.tiktokapis.com") + "/v2/post/publish/content/init/",
                     json=tt_photo(emu, title=text), headers=bearer(creds["access_token"]))


def _tt_photo_description(http, emu, creds, text):
    return http.post(emu.base_url("open.tiktokapis.com") + "/v2/post/publish/content/init/",
                     json=tt_photo(emu, description=text), headers=bearer(creds["access_token"]))


def _graph_refusal(code, subcode=None):
    def check(answer):
        error = answer.json()["error"]
        return answer.status_code == 400 and error["code"] == code and error.get("error_subcode") == subcode \
            and error["fbtrace_id"]
    return check


TEXT_LIMITS = [
    # platform, field, limit, send(http, emu, creds, text), is the platform's refusal
    ("instagram", "caption", 2200, _ig_caption, _graph_refusal(100, 2207010)),
    ("facebook", "message", 63206, lambda h, e, c, t: _fb_publish(h, e, c, t, h), _graph_refusal(100)),
    ("linkedin", "commentary", 3000, lambda h, e, c, t: _li_publish(h, e, c, t, h),
     lambda a: a.status_code == 422 and a.json()["status"] == 422 and "/commentary" in a.json()["message"]),
    ("x", "text (weighted)", 280, lambda h, e, c, t: _x_publish(h, e, c, t, h),
     lambda a: a.status_code == 400 and a.json()["title"] == "Invalid Request" and "too long" in a.text),
    ("tiktok", "video title", 2200, _tt_title,
     lambda a: a.status_code == 400 and a.json()["error"]["code"] == "invalid_params"),
    ("tiktok", "photo title", 90, _tt_photo_title,
     lambda a: a.status_code == 400 and a.json()["error"]["code"] == "invalid_params"),
    ("tiktok", "photo description", 4000, _tt_photo_description,
     lambda a: a.status_code == 400 and a.json()["error"]["code"] == "invalid_params"),
    ("youtube", "title", 100, lambda h, e, c, t: yt_start(h, e, c, title=t),
     lambda a: a.status_code == 400 and a.json()["error"]["errors"][0]["reason"] == "invalidTitle"),
    ("youtube", "description (bytes)", 5000, lambda h, e, c, t: yt_start(h, e, c, title="t", description=t),
     lambda a: a.status_code == 400 and a.json()["error"]["errors"][0]["reason"] == "invalidDescription"),
    ("threads", "text", 500, _th_text,
     lambda a: a.status_code == 400 and a.json()["error"]["type"] == "THApiException"
     and a.json()["error"]["code"] == 100),
    ("mastodon", "status", 500, lambda h, e, c, t: _masto_publish(h, e, c, t, h),
     lambda a: a.status_code == 422 and "character limit of 500" in a.json()["error"]),
    ("bluesky", "text (graphemes)", 300, lambda h, e, c, t: _bsky_publish(h, e, c, t, h),
     lambda a: a.status_code == 400 and a.json()["error"] == "InvalidRequest" and "300 graphemes" in a.text),
]


@pytest.mark.parametrize("name, what, limit, send, refused", TEXT_LIMITS,
                         ids=[f"{c[0]}-{c[1]}" for c in TEXT_LIMITS])
def test_text_limits_are_enforced_on_the_publishing_call(sandbox, http, name, what, limit, send, refused):
    creds = creds_for(sandbox, name)
    at_limit = send(http, sandbox, creds, "a" * limit)
    assert at_limit.status_code < 300, at_limit.text
    over = send(http, sandbox, creds, "b" * (limit + 1))
    assert refused(over), over.text


def _x_images(http, emu, creds, count):
    base, auth = emu.base_url("api.x.com"), bearer(creds["access_token"])
    jpeg = http.get(f"{emu.url}/_media/sample.jpg").content
    ids = [http.post(f"{base}/2/media/upload", headers=auth, data={"media_category": "tweet_image"},
                     files={"media": ("p.jpg", jpeg, "image/jpeg")}).json()["data"]["id"] for _ in range(count)]
    return http.post(f"{base}/2/tweets", headers=auth, json={"text": f"{count} images",
                                                             "media": {"media_ids": ids}})


def _ig_carousel(http, emu, creds, count):
    return http.post(emu.base_url(GRAPH_IG) + f"/v25.0/{creds['ig_user_id']}/media", data={
        "media_type": "CAROUSEL", "children": ",".join(str(17_889_000_000_000_000 + i) for i in range(count)),
        "caption": "c", "access_token": creds["access_token"]})


def _th_carousel(http, emu, creds, count):
    return http.post(emu.base_url(GRAPH_TH) + f"/v1.0/{creds['threads_user_id']}/threads", data={
        "media_type": "CAROUSEL", "children": ",".join(str(17_889_000_000_000_000 + i) for i in range(count)),
        "text": "c", "access_token": creds["access_token"]})


def _li_multi(http, emu, creds, count):
    images = [{"id": f"urn:li:image:C4E10AQ{i:08d}", "altText": ""} for i in range(count)]
    return http.post(emu.base_url("api.linkedin.com") + "/rest/posts", headers=li_headers(emu, creds["access_token"]),
                     json=li_body(creds["organization_urn"], "many", content={"multiImage": {"images": images}}))


def _bsky_images(http, emu, creds, count):
    images = [{"alt": "", "image": {"$type": "blob", "ref": {"$link": f"bafkrei{i}"}}} for i in range(count)]
    return http.post(_xrpc(emu, "com.atproto.repo.createRecord"), headers=bearer(creds["access_token"]),
                     json=bsky_record(creds["did"], "images", embed={"$type": "app.bsky.embed.images",
                                                                      "images": images}))


MEDIA_LIMITS = [
    # platform, over the limit, send(http, emu, creds, count), is the platform's refusal
    ("x", 5, _x_images, lambda a: a.status_code == 400 and "up to 4 images" in a.text),
    ("instagram", 11, _ig_carousel, _graph_refusal(100, 2207028)),
    ("threads", 21, _th_carousel, _graph_refusal(100, 2207028)),
    ("linkedin", 21, _li_multi, lambda a: a.status_code == 422 and "2 to 20 images" in a.json()["message"]),
    ("tiktok", 36, lambda h, e, c, n: h.post(e.base_url("open.tiktokapis.com") + "/v2/post/publish/content/init/",
                                             json=tt_photo(e, images=[f"{e.url}/_media/sample.jpg"] * n),
                                             headers=bearer(c["access_token"])),
     lambda a: a.status_code == 400 and "1 to 35" in a.json()["error"]["message"]),
    ("mastodon", 5, lambda h, e, c, n: h.post(e.base_url("mastodon.social") + "/api/v1/statuses",
                                              json={"status": "m", "media_ids": [str(i) for i in range(n)]},
                                              headers=bearer(c["access_token"])),
     lambda a: a.status_code == 422 and a.json()["error"] == "Cannot attach more than 4 files"),
    ("bluesky", 5, _bsky_images, lambda a: a.status_code == 400 and "more than 4 elements" in a.json()["message"]),
]


@pytest.mark.parametrize("name, over, send, refused", MEDIA_LIMITS, ids=[c[0] for c in MEDIA_LIMITS])
def test_media_count_limits(sandbox, http, name, over, send, refused):
    answer = send(http, sandbox, creds_for(sandbox, name), over)
    assert refused(answer), answer.text
    assert sandbox.posts(name) == []


def test_x_accepts_its_four_images(sandbox, http):
    assert _x_images(http, sandbox, creds_for(sandbox, "x"), 4).status_code == 201


def test_media_limits_come_from_the_config(sandbox, http):
    sandbox.configure(li_multi_image_max=3, x_max_images=2)
    assert _li_multi(http, sandbox, creds_for(sandbox, "linkedin"), 4).status_code == 422
    answer = _x_images(http, sandbox, creds_for(sandbox, "x"), 3)
    assert answer.status_code == 400 and "up to 2 images" in answer.text

"""The emulator's Threads API (graph.threads.net), spoken to with plain httpx as a client would."""
from __future__ import annotations

import httpx
import pytest

from tests.conftest_emulator import (REDIRECT, background_done, bearer, client_id, emu, http,  # noqa: F401
                                     sandbox, secret)
from tests.sandbox_helpers import press_on_consent_page, query_of

DAY = 86400
SCOPES = "threads_basic,threads_content_publish,threads_manage_insights,threads_read_replies"


@pytest.fixture
def th(sandbox):
    creds = sandbox.accounts("threads", handle="th_publisher")[0]
    return sandbox, sandbox.base_url("graph.threads.net") + "/v1.0", creds["threads_user_id"], creds["access_token"]


def create(http, base, user, token, **params):
    return http.post(f"{base}/{user}/threads", data=params, headers=bearer(token))


def status(http, base, container, token):
    return http.get(f"{base}/{container}", params={"fields": "status,error_message"}, headers=bearer(token)).json()


def publish(http, base, user, token, container):
    return http.post(f"{base}/{user}/threads_publish", data={"creation_id": container}, headers=bearer(token))


def ready(emu, http, base, container, token, want="FINISHED"):
    """Wait for a background fetch (videos) to end, then move the emulator clock along its processing delay."""
    background_done(emu)
    for _ in range(200):
        emu.advance(1)
        body = status(http, base, container, token)
        if body["status"] != "IN_PROGRESS":
            break
    assert body["status"] == want, body
    return body


def error(response):
    return response.json()["error"]


# ---------------------------------------------------------------- OAuth
def authorize_url(emu, **extra):
    params = {"client_id": client_id("threads"), "redirect_uri": REDIRECT, "scope": SCOPES, "state": "st-1", **extra}
    return str(httpx.URL(emu.base_url("www.threads.net") + "/oauth/authorize", params=params))


def code_exchange(http, emu, auth_code, **overrides):
    form = {"client_id": client_id("threads"), "client_secret": secret("threads"),
            "grant_type": "authorization_code", "redirect_uri": REDIRECT, "code": auth_code, **overrides}
    return http.post(emu.base_url("graph.threads.net") + "/oauth/access_token", data=form)


def long_lived(http, emu, short, client_secret=None):
    return http.get(emu.base_url("graph.threads.net") + "/access_token", params={
        "grant_type": "th_exchange_token", "client_secret": client_secret or secret("threads"),
        "access_token": short})


def refresh(http, emu, token):
    return http.get(emu.base_url("graph.threads.net") + "/refresh_access_token",
                    params={"grant_type": "th_refresh_token", "access_token": token})


def test_consent_code_exchange_and_long_lived_token(sandbox, http):
    query = query_of(press_on_consent_page(authorize_url(sandbox), handle="bakery"))   # no response_type needed
    assert query["state"] == "st-1"
    short = code_exchange(http, sandbox, query["code"])
    assert short.status_code == 200, short.text
    body = short.json()
    assert set(body) == {"access_token", "user_id"} and isinstance(body["user_id"], int)
    again = code_exchange(http, sandbox, query["code"])                                 # codes work once
    assert again.status_code == 400 and error(again)["message"] == "This authorization code has been used."
    long = long_lived(http, sandbox, body["access_token"])
    assert long.status_code == 200 and long.json()["expires_in"] == 60 * DAY
    assert long.json()["token_type"] == "bearer"
    assert long_lived(http, sandbox, long.json()["access_token"]).status_code == 400    # long-lived: no second time
    me = http.get(sandbox.base_url("graph.threads.net") + "/v1.0/me", params={"fields": "id,username"},
                  headers=bearer(long.json()["access_token"])).json()
    assert me == {"username": "bakery", "id": str(body["user_id"])}
    [account] = [a for a in http.get(sandbox.url + "/_control/accounts", params={"platform": "threads"}).json()[
        "accounts"]]
    assert account["handle"] == "bakery"


@pytest.mark.parametrize("overrides, message, code", [
    ({"client_secret": "wrong"}, "Error validating client secret.", 1),
    ({"client_id": "someone-else"}, "Error validating application. Invalid application ID.", 101),
    ({"redirect_uri": "https://elsewhere.example/cb"}, "Error validating verification code.", 100),
    ({"code": "made-up"}, "Invalid verification code format.", 100),
])
def test_a_bad_code_exchange_is_refused_in_the_graph_envelope(sandbox, http, overrides, message, code):
    query = query_of(press_on_consent_page(authorize_url(sandbox), handle="bakery"))
    answer = code_exchange(http, sandbox, query["code"], **overrides)
    assert answer.status_code == 400
    assert error(answer)["code"] == code and error(answer)["message"].startswith(message)
    assert error(answer)["fbtrace_id"]


def test_refresh_rules(sandbox, http):
    query = query_of(press_on_consent_page(authorize_url(sandbox), handle="refresher"))
    short = code_exchange(http, sandbox, query["code"]).json()["access_token"]
    assert refresh(http, sandbox, short).status_code == 400                      # short-lived: exchange it first
    long = long_lived(http, sandbox, short).json()["access_token"]
    young = refresh(http, sandbox, long)
    assert young.status_code == 400 and "24 hours" in error(young)["message"]   # not yet a day old
    sandbox.advance(25 * 3600)
    fresh = refresh(http, sandbox, long)
    assert fresh.status_code == 200 and fresh.json()["expires_in"] == 60 * DAY
    sandbox.advance(61 * DAY)                                                   # both have now expired
    late = refresh(http, sandbox, fresh.json()["access_token"])
    assert late.status_code == 400 and (error(late)["code"], error(late)["error_subcode"]) == (190, 463)


def test_an_expired_token_is_190_463(th, http):
    emu, base, user, token = th
    emu.advance(61 * DAY)
    answer = http.get(f"{base}/me", headers=bearer(token))
    assert answer.status_code == 400
    assert (error(answer)["code"], error(answer)["error_subcode"]) == (190, 463)


# ---------------------------------------------------------------- containers
def test_text_container_is_not_ready_at_first_then_publishes_once(th, http):
    emu, base, user, token = th
    cid = create(http, base, user, token, media_type="TEXT", text="Hello & welcome #bakery 🍞").json()["id"]
    assert status(http, base, cid, token)["status"] == "IN_PROGRESS"
    early = publish(http, base, user, token, cid)
    assert early.status_code == 400
    assert (error(early)["code"], error(early)["error_subcode"]) == (9007, 2207027)
    emu.advance(1)
    assert status(http, base, cid, token) == {"status": "FINISHED", "id": cid}
    done = publish(http, base, user, token, cid)
    assert done.status_code == 200, done.text
    media_id = done.json()["id"]
    assert status(http, base, cid, token)["status"] == "PUBLISHED"
    twice = publish(http, base, user, token, cid)
    assert twice.status_code == 400 and error(twice)["code"] == 9007           # never published twice
    info = http.get(f"{base}/{media_id}", params={"fields": "permalink,text,media_type,timestamp,username"},
                    headers=bearer(token)).json()
    assert info["permalink"].startswith("https://www.threads.net/@th_publisher/post/")
    assert (info["text"], info["media_type"]) == ("Hello & welcome #bakery 🍞", "TEXT_POST")
    no_status = http.get(f"{base}/{media_id}", params={"fields": "status"}, headers=bearer(token))
    assert no_status.status_code == 400 and "nonexisting field (status)" in error(no_status)["message"]
    [post] = emu.posts("threads")
    assert (post["external_id"], post["text"], post["kind"]) == (media_id, "Hello & welcome #bakery 🍞", "text")


def test_unknown_container_is_media_not_found(th, http):
    emu, base, user, token = th
    answer = publish(http, base, user, token, "17889000000000999")
    assert answer.status_code == 400
    assert (error(answer)["code"], error(answer)["error_subcode"]) == (24, 4279009)


def test_container_expires_after_24_hours(th, http):
    emu, base, user, token = th
    cid = create(http, base, user, token, media_type="TEXT", text="later").json()["id"]
    emu.advance(DAY + 1)
    assert status(http, base, cid, token)["status"] == "EXPIRED"
    late = publish(http, base, user, token, cid)
    assert late.status_code == 400 and error(late)["error_subcode"] == 2207020
    assert emu.posts("threads") == []


@pytest.mark.parametrize("text, ok", [
    ("a" * 500, True),                    # exactly the limit
    ("a" * 501, False),
    ("🍞" * 125, True),                   # 125 emoji x 4 bytes = 500
    ("🍞" * 126, False),                  # 504: emoji count their UTF-8 bytes
    ("é" * 500, True),                    # accented letters count once
])
def test_text_limit_is_500_with_emoji_counted_as_bytes(th, http, text, ok):
    emu, base, user, token = th
    answer = create(http, base, user, token, media_type="TEXT", text=text)
    if ok:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 400
        assert error(answer)["message"] == "Param text must be at most 500 characters long."
        assert (error(answer)["code"], error(answer)["type"]) == (100, "THApiException")


def test_the_text_limit_is_configurable(th, http):
    emu, base, user, token = th
    emu.configure(thr_text_max=10)
    assert create(http, base, user, token, media_type="TEXT", text="a" * 11).status_code == 400


@pytest.mark.parametrize("params, words", [
    ({"text": "no type"}, "media_type must be one of"),
    ({"media_type": "TEXT"}, "text is required"),
    ({"media_type": "IMAGE", "text": "where is it"}, "image_url is required"),
    ({"media_type": "CAROUSEL", "is_carousel_item": "true"}, "carousel item must be an IMAGE or a VIDEO"),
])
def test_bad_containers_are_refused(th, http, params, words):
    emu, base, user, token = th
    answer = create(http, base, user, token, **params)
    assert answer.status_code == 400 and words in error(answer)["message"]


def test_image_fetch_failure(th, http):
    emu, base, user, token = th
    answer = create(http, base, user, token, media_type="IMAGE", image_url=f"{emu.url}/_media/missing.jpg")
    assert answer.status_code == 400 and error(answer)["error_subcode"] == 2207052
    assert "could not be fetched from this URI" in error(answer)["error_user_msg"]


def test_video_states(th, http):
    emu, base, user, token = th
    good = create(http, base, user, token, media_type="VIDEO", video_url=f"{emu.url}/_media/sample.mp4?seconds=4",
                  text="video").json()["id"]
    broken = create(http, base, user, token, media_type="VIDEO", video_url=f"{emu.url}/_media/sample.jpg").json()["id"]
    ready(emu, http, base, good, token)
    assert ready(emu, http, base, broken, token, want="ERROR")["error_message"] == "FAILED_DOWNLOADING_VIDEO"
    emu.configure(thr_video_max_s=3)
    long = create(http, base, user, token, media_type="VIDEO",
                  video_url=f"{emu.url}/_media/sample.mp4?seconds=5").json()["id"]
    assert ready(emu, http, base, long, token, want="ERROR")["error_message"] == "INVALID_DURATION"
    assert publish(http, base, user, token, good).status_code == 200
    assert emu.posts("threads")[0]["kind"] == "video"


def test_carousel_needs_2_to_20_items_of_this_user(th, http, sandbox):
    emu, base, user, token = th
    jpg = f"{emu.url}/_media/sample.jpg"
    items = [create(http, base, user, token, media_type="IMAGE", image_url=jpg, is_carousel_item="true").json()["id"]
             for _ in range(3)]
    one = create(http, base, user, token, media_type="CAROUSEL", children=items[0], text="one")
    assert one.status_code == 400 and error(one)["error_subcode"] == 2207028
    other = sandbox.accounts("threads", handle="someone_else")[0]
    foreign = create(http, base, other["threads_user_id"], other["access_token"], media_type="CAROUSEL",
                     children=",".join(items[:2]))
    assert foreign.status_code == 400 and error(foreign)["error_subcode"] == 2207028
    alone = publish(http, base, user, token, items[0])
    assert alone.status_code == 400                                          # an item is not a post
    parent = create(http, base, user, token, media_type="CAROUSEL", children=",".join(items), text="three")
    assert parent.status_code == 200, parent.text
    emu.advance(1)
    assert status(http, base, parent.json()["id"], token)["status"] == "FINISHED"
    media_id = publish(http, base, user, token, parent.json()["id"]).json()["id"]
    info = http.get(f"{base}/{media_id}", params={"fields": "media_type,children"}, headers=bearer(token)).json()
    assert info["media_type"] == "CAROUSEL_ALBUM" and len(info["children"]["data"]) == 3


def test_publishing_quota_is_a_rolling_24_hours(th, http):
    emu, base, user, token = th
    emu.configure(thr_publish_quota=2)
    for n in range(2):
        cid = create(http, base, user, token, media_type="TEXT", text=f"post {n}").json()["id"]
        emu.advance(1)
        assert publish(http, base, user, token, cid).status_code == 200
    emu.advance(12 * 3600)
    cid = create(http, base, user, token, media_type="TEXT", text="post 2").json()["id"]
    emu.advance(1)
    refused = publish(http, base, user, token, cid)
    assert refused.status_code == 400 and (error(refused)["code"], error(refused)["error_subcode"]) == (9, 2207042)
    limit = http.get(f"{base}/{user}/threads_publishing_limit", params={"fields": "quota_usage,config"},
                     headers=bearer(token)).json()
    assert limit == {"data": [{"quota_usage": 2, "config": {"quota_total": 2, "quota_duration": 86400}}]}
    emu.advance(12 * 3600)                                 # the first two leave the window; the container is 12 h old
    assert publish(http, base, user, token, cid).status_code == 200


def test_listing_is_newest_first_with_since_and_paging(th, http):
    emu, base, user, token = th
    ids = []
    for n in range(3):
        cid = create(http, base, user, token, media_type="TEXT", text=f"post {n}").json()["id"]
        emu.advance(60)
        ids.append(publish(http, base, user, token, cid).json()["id"])
    listing = http.get(f"{base}/{user}/threads", params={"fields": "id,text,timestamp", "limit": 2},
                       headers=bearer(token)).json()
    assert [t["id"] for t in listing["data"]] == [ids[2], ids[1]] and "next" in listing["paging"]
    assert listing["data"][0]["text"] == "post 2"
    since = int(emu.now()) - 30                            # published 60 s apart: only the newest is this recent
    recent = http.get(f"{base}/{user}/threads", params={"fields": "id", "since": since},
                      headers=bearer(token)).json()
    assert [t["id"] for t in recent["data"]] == [ids[2]]


def test_insights_grow_with_the_clock(th, http):
    emu, base, user, token = th
    cid = create(http, base, user, token, media_type="TEXT", text="measure me").json()["id"]
    emu.advance(1)
    media_id = publish(http, base, user, token, cid).json()["id"]
    metrics = "views,likes,replies,reposts,quotes,shares"

    def read():
        data = http.get(f"{base}/{media_id}/insights", params={"metric": metrics}, headers=bearer(token)).json()
        return {d["name"]: d["values"][0]["value"] for d in data["data"]}

    first = read()
    assert list(first) == metrics.split(",")
    emu.advance(12 * 3600)
    later = read()
    emu.advance(3 * DAY)
    last = read()
    assert all(first[k] <= later[k] <= last[k] for k in first) and last["views"] > first["views"]
    bad = http.get(f"{base}/{media_id}/insights", params={"metric": "impressions"}, headers=bearer(token))
    assert bad.status_code == 400 and "metric[0] must be one of" in error(bad)["message"]
    followers = http.get(f"{base}/{user}/threads_insights", params={"metric": "followers_count,views"},
                         headers=bearer(token)).json()["data"]
    assert followers[0]["total_value"]["value"] > 0 and followers[1]["values"]
    early = http.get(f"{base}/{user}/threads_insights", params={"metric": "views", "since": 1700000000},
                     headers=bearer(token))
    assert early.status_code == 400 and "1712991600" in error(early)["message"]


def test_insights_need_their_scope(sandbox, http):
    creds = sandbox.accounts("threads", handle="no_insights", scopes=["threads_basic", "threads_content_publish"])[0]
    base = sandbox.base_url("graph.threads.net") + "/v1.0"
    answer = http.get(f"{base}/{creds['threads_user_id']}/threads_insights", params={"metric": "followers_count"},
                      headers=bearer(creds["access_token"]))
    assert answer.status_code == 400 and error(answer)["code"] == 10


# ---------------------------------------------------------------- faults and inspection
@pytest.mark.parametrize("kind, status_code, code", [
    ("rate_limit", 400, 4),                                # Graph throttling: code 4 in a 400
    ("error_5xx", 503, 2),                                 # transient code 2
])
def test_injected_faults_use_the_graph_envelope(th, http, kind, status_code, code):
    emu, base, user, token = th
    emu.add_fault(kind=kind, platform="threads", count=1, **({"status": 503} if kind == "error_5xx" else {}))
    answer = http.get(f"{base}/me", headers=bearer(token))
    assert answer.status_code == status_code and error(answer)["code"] == code
    assert http.get(f"{base}/me", headers=bearer(token)).status_code == 200     # count=1: only once


def test_expire_token_fault(th, http):
    emu, base, user, token = th
    emu.add_fault(kind="expire_token", platform="threads", count=1)
    answer = http.get(f"{base}/me", headers=bearer(token))
    assert (error(answer)["code"], error(answer)["error_subcode"]) == (190, 463)


def test_a_lost_publish_answer_still_posts_and_the_duplicate_counter_sees_a_blind_retry(th, http):
    emu, base, user, token = th
    cid = create(http, base, user, token, media_type="TEXT", text="did it post?").json()["id"]
    emu.advance(1)
    emu.add_fault(kind="lost_response", platform="threads", path="threads_publish", method="POST", count=1)
    with pytest.raises(httpx.TransportError):
        publish(http, base, user, token, cid)
    assert status(http, base, cid, token)["status"] == "PUBLISHED"
    listing = http.get(f"{base}/{user}/threads", params={"fields": "id,text"}, headers=bearer(token)).json()
    assert listing["data"][0]["text"] == "did it post?"
    assert emu.duplicates()["duplicates"] == []
    blind = create(http, base, user, token, media_type="TEXT", text="did it post?").json()["id"]   # a naive client
    emu.advance(1)
    assert publish(http, base, user, token, blind).status_code == 200
    [dup] = emu.duplicates()["duplicates"]
    assert (dup["platform"], dup["count"]) == ("threads", 2)


def test_a_reply_published_behind_a_gateway_error_is_listed_under_its_parent_only_after_the_lag(th, http):
    """What an adapter meets after an error answer from threads_publish: the reply's container says PUBLISHED at
    once, the parent's replies show it (with its author) only once the listing lag has passed."""
    emu, base, user, token = th
    emu.configure(listing_lag_s={"threads": 600})
    parent = create(http, base, user, token, media_type="TEXT", text="Part one").json()["id"]
    emu.advance(1)
    parent_id = publish(http, base, user, token, parent).json()["id"]
    rc = create(http, base, user, token, media_type="TEXT", text="Part two", reply_to_id=parent_id).json()["id"]
    emu.advance(1)
    emu.add_fault(kind="applied_then_5xx", platform="threads", path="threads_publish", method="POST", count=1)
    assert publish(http, base, user, token, rc).status_code == 502
    assert status(http, base, rc, token)["status"] == "PUBLISHED"

    def replies():
        return http.get(f"{base}/{parent_id}/replies", params={"fields": "id,text,username"},
                        headers=bearer(token)).json()["data"]
    assert replies() == []
    emu.advance(601)
    [shown] = replies()
    assert (shown["text"], shown["username"]) == ("Part two", "th_publisher")
    assert sorted(p["text"] for p in emu.posts("threads")) == ["Part one", "Part two"]


def test_control_accounts_and_config_know_threads(sandbox, http):
    made = http.post(sandbox.url + "/_control/accounts", json={"platform": "threads", "handle": "ctl"})
    assert made.status_code == 201 and made.json()["accounts"][0]["threads_user_id"]
    patched = http.patch(sandbox.url + "/_control/config", json={"thr_publish_quota": 5})
    assert patched.json()["thr_publish_quota"] == 5

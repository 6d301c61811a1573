"""X on the emulator: posts, duplicates, rate-limit headers, chunked media, metrics."""
from __future__ import annotations

import pytest

from tests.conftest_emulator import bearer, emu, http, sandbox  # noqa: F401

DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank",
             "title": "Forbidden", "status": 403}


@pytest.fixture
def x(sandbox):
    creds = sandbox.accounts("x", handle="x_poster")[0]
    return sandbox, sandbox.base_url("api.x.com"), creds, bearer(creds["access_token"])


def tweet(http, base, headers, **body):
    return http.post(f"{base}/2/tweets", json=body, headers=headers)


def test_create_post_shape_and_rate_limit_headers(x, http):
    emu, base, creds, auth = x
    answer = tweet(http, base, auth, text="Hello from the sandbox")
    assert answer.status_code == 201
    data = answer.json()["data"]
    assert set(data) == {"id", "text", "edit_history_tweet_ids"}
    assert data["edit_history_tweet_ids"] == [data["id"]] and data["text"] == "Hello from the sandbox"
    assert answer.headers["x-rate-limit-limit"] == "100" and answer.headers["x-rate-limit-remaining"] == "99"
    assert int(answer.headers["x-rate-limit-reset"]) > emu.now()
    assert "retry-after" not in answer.headers
    reply = tweet(http, base, auth, text="and a reply", reply={"in_reply_to_tweet_id": data["id"]})
    assert reply.status_code == 201
    assert [p["kind"] for p in emu.posts("x")] == ["post", "reply"]
    ghost = tweet(http, base, auth, text="to nobody", reply={"in_reply_to_tweet_id": "1"})
    assert ghost.status_code == 403


def test_duplicate_text_is_the_403_problem(x, http):
    emu, base, creds, auth = x
    assert tweet(http, base, auth, text="same words").status_code == 201
    dup = tweet(http, base, auth, text="same words")
    assert dup.status_code == 403 and dup.json() == DUPLICATE
    assert "x-rate-limit-remaining" in dup.headers
    other = emu.accounts("x", handle="x_other")[0]
    assert tweet(http, base, bearer(other["access_token"]), text="same words").status_code == 201   # per user
    [group] = emu.duplicates()["duplicates"]
    assert (group["count"], group["attempts"]) == (1, 2)


def test_window_exhaustion_is_429_and_resets_with_the_clock(x, http):
    emu, base, creds, auth = x
    emu.configure(x_tweet_limit=3)
    answers = [tweet(http, base, auth, text=f"n{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.json() == {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                              "status": 429}
    assert "retry-after" not in limited.headers
    emu.advance(int(limited.headers["x-rate-limit-reset"]) - emu.now() + 1)
    assert tweet(http, base, auth, text="after the reset").status_code == 201
    assert len(emu.posts("x")) == 4


@pytest.mark.parametrize("text, ok", [
    ("a" * 280, True),                         # 280 latin characters
    ("a" * 281, False),
    ("漢" * 140, True),                         # CJK weighs 2
    ("漢" * 141, False),
    ("https://example.com/" + "a" * 300 + " " + "b" * 256, True),   # any URL counts 23
])
def test_weighted_length(x, http, text, ok):
    emu, base, creds, auth = x
    assert (tweet(http, base, auth, text=text).status_code == 201) is ok


def upload(http, base, auth, blob, media_type, category, chunk=1 << 20):
    init = http.post(f"{base}/2/media/upload/initialize", headers=auth,
                     json={"media_type": media_type, "total_bytes": len(blob), "media_category": category})
    assert init.status_code == 200, init.text
    media_id = init.json()["data"]["id"]
    for index, start in enumerate(range(0, len(blob), chunk)):
        answer = http.post(f"{base}/2/media/upload/{media_id}/append", headers=auth,
                           data={"segment_index": str(index)}, files={"media": ("blob", blob[start:start + chunk])})
        assert answer.status_code == 200, answer.text
    return media_id, http.post(f"{base}/2/media/upload/{media_id}/finalize", headers=auth)


def test_video_upload_processing_states_then_post(x, http):
    emu, base, creds, auth = x
    blob = http.get(f"{emu.url}/_media/sample.mp4", params={"seconds": 10}).content
    media_id, final = upload(http, base, auth, blob, "video/mp4", "tweet_video", chunk=150_000)
    assert final.status_code == 200
    assert final.json()["data"]["processing_info"] == {"state": "pending", "check_after_secs": 1}
    early = tweet(http, base, auth, text="with video", media={"media_ids": [media_id]})
    assert early.status_code == 400                                       # not processed yet
    states = []
    for step in (0.0, 0.6, 1.0):
        emu.advance(step)
        info = http.get(f"{base}/2/media/upload", params={"command": "STATUS", "media_id": media_id},
                        headers=auth).json()["data"]["processing_info"]
        states.append(info["state"])
    assert states == ["pending", "in_progress", "succeeded"]
    assert tweet(http, base, auth, text="with video", media={"media_ids": [media_id]}).status_code == 201


def test_image_upload_needs_no_processing_and_totals_must_add_up(x, http):
    emu, base, creds, auth = x
    blob = http.get(f"{emu.url}/_media/sample.jpg").content
    media_id, final = upload(http, base, auth, blob, "image/jpeg", "tweet_image")
    assert "processing_info" not in final.json()["data"]
    assert tweet(http, base, auth, text="pic", media={"media_ids": [media_id]}).status_code == 201
    init = http.post(f"{base}/2/media/upload/initialize", headers=auth,
                     json={"media_type": "image/jpeg", "total_bytes": len(blob) + 10, "media_category": "tweet_image"})
    short_id = init.json()["data"]["id"]
    http.post(f"{base}/2/media/upload/{short_id}/append", headers=auth, data={"segment_index": "0"},
              files={"media": ("b", blob)})
    bad = http.post(f"{base}/2/media/upload/{short_id}/finalize", headers=auth)
    assert bad.status_code == 400


def test_metrics_public_and_non_public_for_30_days(x, http):
    emu, base, creds, auth = x
    tweet_id = tweet(http, base, auth, text="measure this").json()["data"]["id"]
    emu.advance(2 * 86400)

    def fresh_token():   # access tokens live 2 hours; reconnect the same user
        return bearer(emu.accounts("x", handle="x_poster")[0]["access_token"])

    fields = {"ids": tweet_id, "tweet.fields": "public_metrics,non_public_metrics,created_at"}
    young = http.get(f"{base}/2/tweets", params=fields, headers=fresh_token()).json()
    data = young["data"][0]
    assert data["public_metrics"]["impression_count"] > 0 and "non_public_metrics" in data
    assert "errors" not in young
    emu.advance(31 * 86400)
    token = fresh_token()
    old = http.get(f"{base}/2/tweets", params=fields, headers=token).json()
    assert "non_public_metrics" not in old["data"][0]
    assert old["errors"][0]["parameter"] == "non_public_metrics"
    missing = http.get(f"{base}/2/tweets", params={"ids": "42"}, headers=token).json()
    assert missing["errors"][0]["title"] == "Not Found Error" and "data" not in missing


def test_users_me_and_recent_posts_for_reconciliation(x, http):
    emu, base, creds, auth = x
    ids = [tweet(http, base, auth, text=f"post {i}").json()["data"]["id"] for i in range(3)]
    me = http.get(f"{base}/2/users/me", params={"user.fields": "public_metrics"}, headers=auth).json()["data"]
    assert me["id"] == creds["user_id"] and me["username"] == "x_poster"
    assert me["public_metrics"]["tweet_count"] == 3 and me["public_metrics"]["followers_count"] > 0
    recent = http.get(f"{base}/2/users/{me['id']}/tweets", params={"max_results": 5, "tweet.fields": "created_at"},
                      headers=auth).json()
    assert [t["id"] for t in recent["data"]] == list(reversed(ids))
    assert recent["meta"]["result_count"] == 3 and recent["meta"]["newest_id"] == ids[-1]


def video_tweet(http, emu, base, auth, text):
    blob = http.get(f"{emu.url}/_media/sample.mp4", params={"seconds": 8}).content
    media_id, final = upload(http, base, auth, blob, "video/mp4", "tweet_video", chunk=200_000)
    assert final.status_code == 200
    emu.advance(2)                                                        # processing done
    answer = tweet(http, base, auth, text=text, media={"media_ids": [media_id]})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["id"], final.json()["data"]["media_key"]


def test_video_views_come_in_includes_media_and_grow_with_the_clock(x, http):
    emu, base, creds, auth = x
    video_id, media_key = video_tweet(http, emu, base, auth, "watch this")
    image = http.get(f"{emu.url}/_media/sample.jpg").content
    image_id, _ = upload(http, base, auth, image, "image/jpeg", "tweet_image")
    photo_id = tweet(http, base, auth, text="look", media={"media_ids": [image_id]}).json()["data"]["id"]
    text_id = tweet(http, base, auth, text="just words").json()["data"]["id"]
    params = {"ids": f"{video_id},{photo_id},{text_id}", "tweet.fields": "public_metrics,non_public_metrics",
              "expansions": "attachments.media_keys", "media.fields": "public_metrics,non_public_metrics"}

    def lookup(token_auth):
        answer = http.get(f"{base}/2/tweets", params=params, headers=token_auth)
        assert answer.status_code == 200, answer.text
        return answer.json()

    emu.advance(3600)
    early = lookup(auth)
    tweets = {t["id"]: t for t in early["data"]}
    assert tweets[video_id]["attachments"]["media_keys"] == [media_key]   # no tweet.fields=attachments needed
    assert len(tweets[photo_id]["attachments"]["media_keys"]) == 1 and "attachments" not in tweets[text_id]
    media = {m["media_key"]: m for m in early["includes"]["media"]}
    assert media[media_key]["type"] == "video" and media[tweets[photo_id]["attachments"]["media_keys"][0]]["type"] \
        == "photo"
    views = media[media_key]["public_metrics"]["view_count"]
    assert views > 0 and media[media_key]["non_public_metrics"]["playback_0_count"] == views
    assert media[media_key]["non_public_metrics"]["playback_100_count"] <= views
    assert "errors" not in early
    emu.advance(2 * 86400)
    later = lookup(bearer(emu.accounts("x", handle="x_poster")[0]["access_token"]))   # the 2-hour token expired
    later_views = {m["media_key"]: m for m in later["includes"]["media"]}[media_key]["public_metrics"]["view_count"]
    assert later_views > views
    plain = http.get(f"{base}/2/tweets", params={"ids": video_id}, headers=bearer(
        emu.accounts("x", handle="x_poster")[0]["access_token"])).json()
    assert "includes" not in plain and "attachments" not in plain["data"][0]   # nothing unasked


def test_others_cannot_see_private_media_metrics(x, http):
    emu, base, creds, auth = x
    video_id, media_key = video_tweet(http, emu, base, auth, "mine")
    other = bearer(emu.accounts("x", handle="x_stranger")[0]["access_token"])
    body = http.get(f"{base}/2/tweets/{video_id}", params={
        "expansions": "attachments.media_keys", "media.fields": "public_metrics,non_public_metrics"},
        headers=other).json()
    [item] = body["includes"]["media"]
    assert "view_count" in item["public_metrics"] and "non_public_metrics" not in item
    assert [(e["resource_type"], e["parameter"]) for e in body["errors"]] == [("media", "non_public_metrics")]


def test_user_timeline_start_time_max_results_newest_first(x, http):
    emu, base, creds, auth = x
    old = [tweet(http, base, auth, text=f"old {i}").json()["data"]["id"] for i in range(3)]
    emu.advance(3600)
    since = emu.state.clock.dt().strftime("%Y-%m-%dT%H:%M:%SZ")
    new = [tweet(http, base, auth, text=f"new {i}").json()["data"]["id"] for i in range(12)]
    url = f"{base}/2/users/{creds['user_id']}/tweets"
    default = http.get(url, params={"start_time": since}, headers=auth).json()
    assert [t["id"] for t in default["data"]] == list(reversed(new))[:10]      # default max_results is 10
    assert default["meta"]["result_count"] == 10 and "next_token" in default["meta"]
    rest = http.get(url, params={"start_time": since, "pagination_token": default["meta"]["next_token"]},
                    headers=auth).json()
    assert [t["id"] for t in rest["data"]] == list(reversed(new))[10:] and rest["meta"]["result_count"] == 2
    everything = http.get(url, params={"max_results": 100, "tweet.fields": "created_at"}, headers=auth).json()
    assert [t["id"] for t in everything["data"]] == list(reversed(old + new))
    assert everything["meta"]["result_count"] == 15
    later = emu.state.clock.dt(emu.now() + 60).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    none = http.get(url, params={"start_time": later}, headers=auth).json()
    assert none["meta"] == {"result_count": 0} and "data" not in none
    for bad in ({"max_results": 4}, {"max_results": 101}, {"start_time": "yesterday"}):
        answer = http.get(url, params=bad, headers=auth)
        assert answer.status_code == 400, bad
        assert answer.json()["title"] == "Invalid Request"


def test_user_timeline_expands_media(x, http):
    emu, base, creds, auth = x
    video_id, media_key = video_tweet(http, emu, base, auth, "timeline video")
    emu.advance(600)
    body = http.get(f"{base}/2/users/{creds['user_id']}/tweets", params={
        "expansions": "attachments.media_keys", "media.fields": "public_metrics"}, headers=auth).json()
    assert body["data"][0]["attachments"]["media_keys"] == [media_key]
    assert body["includes"]["media"][0]["public_metrics"]["view_count"] > 0

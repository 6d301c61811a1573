"""Mastodon on the emulator: OAuth, Idempotency-Key, the 500-character limit, media processing, rate limits."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox import insights
from tests.conftest_emulator import REDIRECT, bearer, client_id, emu, http, pkce_pair, sandbox, secret  # noqa: F401

HOST = "mastodon.social"


@pytest.fixture
def masto(sandbox):
    creds = sandbox.accounts("mastodon", prefix="masto")[0]
    return sandbox, sandbox.base_url(HOST), creds, bearer(creds["access_token"])


def toot(http, base, auth, key: str | None = None, **body):
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    return http.post(f"{base}/api/v1/statuses", json=body, headers=headers)


def authorize(http, emu, scope: str, **extra):
    url = emu.base_url(HOST) + "/oauth/authorize"
    params = {"client_id": client_id("mastodon"), "redirect_uri": REDIRECT, "response_type": "code", "scope": scope,
              "state": "st-1", **extra}
    page = http.get(url, params=params)
    if page.status_code == 302:
        return {k: v[0] for k, v in parse_qs(urlsplit(page.headers["location"]).query).items()}
    assert page.status_code == 200 and "Allow" in page.text
    answer = http.post(url, data={**params, "handle": "masto_person", "decision": "allow"})
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def exchange(http, emu, code: str, verifier: str | None = None, **extra):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client_id("mastodon"), "client_secret": secret("mastodon"), **extra}
    if verifier:
        form["code_verifier"] = verifier
    return http.post(emu.base_url(HOST) + "/oauth/token", data=form)


# ---------------------------------------------------------------- OAuth
def test_pkce_code_exchange_gives_a_token_that_never_expires(sandbox, http):
    verifier, challenge = pkce_pair()
    back = authorize(http, sandbox, "read write:statuses write:media", code_challenge=challenge,
                     code_challenge_method="S256")
    assert back["state"] == "st-1"
    token = exchange(http, sandbox, back["code"], verifier)
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write:statuses write:media"
    assert "expires_in" not in body and "refresh_token" not in body
    sandbox.advance(400 * 86400)                       # a year later the token still works
    me = http.get(sandbox.base_url(HOST) + "/api/v1/accounts/verify_credentials", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["username"] == "masto_person"


def test_a_wrong_verifier_burns_the_code(sandbox, http):
    verifier, challenge = pkce_pair()
    back = authorize(http, sandbox, "read", code_challenge=challenge, code_challenge_method="S256")
    wrong = exchange(http, sandbox, back["code"], "w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(http, sandbox, back["code"], verifier).status_code == 400     # single use


def test_a_bad_client_secret_is_invalid_client(sandbox, http):
    back = authorize(http, sandbox, "read")
    refused = exchange(http, sandbox, back["code"], client_secret="nope")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_an_unknown_scope_is_refused_at_authorize(sandbox, http):
    back = authorize(http, sandbox, "read write:everything")
    assert back["error"] == "invalid_scope" and back["state"] == "st-1"


def test_a_revoked_token_gets_doorkeepers_words(masto, http):
    emu, base, creds, auth = masto
    revoked = http.post(f"{base}/oauth/revoke", data={"token": creds["access_token"], "client_id": client_id("mastodon"),
                                                      "client_secret": secret("mastodon")})
    assert revoked.status_code == 200
    answer = toot(http, base, auth, status="hello")
    assert answer.status_code == 401 and answer.json() == {"error": "The access token was revoked"}
    garbage = toot(http, base, bearer("not-a-token"), status="hello")
    assert garbage.json() == {"error": "The access token is invalid"}


def test_a_read_only_token_cannot_post(sandbox, http):
    creds = sandbox.accounts("mastodon", prefix="reader", scopes=["read"])[0]
    answer = toot(http, sandbox.base_url(HOST), bearer(creds["access_token"]), status="hello")
    assert answer.status_code == 403 and answer.json() == {"error": "This action is outside the authorized scopes"}


# ---------------------------------------------------------------- statuses
def test_status_shape_and_rate_limit_headers(masto, http):
    emu, base, creds, auth = masto
    answer = toot(http, base, auth, status="Hello from the sandbox https://example.com/path", visibility="unlisted",
                  spoiler_text="cw", sensitive=True, language="de")
    assert answer.status_code == 200
    body = answer.json()
    assert {"id", "created_at", "uri", "url", "content", "visibility", "favourites_count", "reblogs_count",
            "replies_count", "account", "media_attachments"} <= set(body)
    assert (body["visibility"], body["spoiler_text"], body["sensitive"], body["language"]) == ("unlisted", "cw", True,
                                                                                               "de")
    assert body["url"] == f"https://mastodon.social/@{creds['handle']}/{body['id']}"
    assert body["content"].startswith("<p>Hello from the sandbox <a href=\"https://example.com/path\"")
    assert answer.headers["x-ratelimit-limit"] == "300"
    reset = datetime.fromisoformat(answer.headers["x-ratelimit-reset"].replace("Z", "+00:00"))
    assert reset.timestamp() > emu.now()
    [post] = emu.posts("mastodon")
    assert post["text"] == "Hello from the sandbox https://example.com/path" and post["external_id"] == body["id"]


def test_the_same_idempotency_key_answers_with_the_same_status(masto, http):
    emu, base, creds, auth = masto
    first = toot(http, base, auth, "delivery-1", status="Only once")
    again = toot(http, base, auth, "delivery-1", status="Only once")
    edited = toot(http, base, auth, "delivery-1", status="Only once, edited")     # Mastodon keys on the key only
    assert first.json()["id"] == again.json()["id"] == edited.json()["id"]
    assert len(emu.posts("mastodon")) == 1 and emu.duplicates()["published_extra"] == 0
    other = emu.accounts("mastodon", prefix="masto_other")[0]
    assert toot(http, base, bearer(other["access_token"]), "delivery-1", status="Only once").json()["id"] != \
        first.json()["id"]                                                         # keys are per account
    emu.advance(3601)                                                              # the key lives one hour
    late = toot(http, base, auth, "delivery-1", status="Only once")
    assert late.json()["id"] != first.json()["id"]
    assert emu.duplicates()["published_extra"] == 1


@pytest.mark.parametrize("text, ok", [
    ("a" * 500, True),
    ("a" * 501, False),
    ("https://example.com/" + "p" * 300 + " " + "a" * 476, True),     # a URL counts 23, however long
    ("@ann@a-very-long-instance-name.example " + "a" * 495, True),   # a remote mention counts its @username
    ("", False),                                                     # nothing to post
])
def test_character_limit(masto, http, text, ok):
    emu, base, creds, auth = masto
    answer = toot(http, base, auth, status=text)
    assert (answer.status_code == 200) is ok
    if not ok and text:
        assert answer.status_code == 422
        assert answer.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}


def test_rate_limit_is_429_until_the_window_resets(masto, http):
    emu, base, creds, auth = masto
    emu.configure(masto_rate_limit=3)
    answers = [toot(http, base, auth, status=f"n{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[-1].json() == {"error": "Too many requests"}
    emu.advance(301)
    assert toot(http, base, auth, status="after the reset").status_code == 200


def test_listing_is_newest_first_with_pagination(masto, http):
    emu, base, creds, auth = masto
    ids = [toot(http, base, auth, status=f"post {i}").json()["id"] for i in range(5)]
    me = http.get(f"{base}/api/v1/accounts/verify_credentials", headers=auth).json()
    page = http.get(f"{base}/api/v1/accounts/{me['id']}/statuses", params={"limit": 2}, headers=auth)
    assert [s["id"] for s in page.json()] == ids[::-1][:2]
    assert 'rel="next"' in page.headers["link"]
    older = http.get(f"{base}/api/v1/accounts/{me['id']}/statuses", params={"limit": 40, "max_id": ids[3]},
                     headers=auth)
    assert [s["id"] for s in older.json()] == ids[2::-1]
    assert me["statuses_count"] == 5


def test_batch_lookup_and_metrics_that_grow(masto, http):
    emu, base, creds, auth = masto
    ids = [toot(http, base, auth, status=f"measured {i}").json()["id"] for i in range(3)]
    batch = http.get(f"{base}/api/v1/statuses", params=[("id[]", i) for i in ids + ["1"]], headers=auth)
    assert sorted(s["id"] for s in batch.json()) == sorted(ids)           # unknown ids are left out
    assert all(s["favourites_count"] == 0 for s in batch.json())
    emu.advance(3 * 86400)
    later = http.get(f"{base}/api/v1/statuses/{ids[0]}", headers=auth).json()
    expected = insights.post_metrics(emu.state, emu.state.find_post("mastodon", ids[0]))
    assert (later["favourites_count"], later["reblogs_count"], later["replies_count"]) == (
        expected["likes"], expected["shares"], expected["comments"])
    assert http.get(f"{base}/api/v1/statuses/1", headers=auth).json() == {"error": "Record not found"}


# ---------------------------------------------------------------- media
def test_images_are_ready_at_once_videos_process(masto, http):
    emu, base, creds, auth = masto
    image = http.get(emu.url + "/_media/sample.png?w=400&h=300").content
    uploaded = http.post(f"{base}/api/v2/media", headers=auth, files={"file": ("a.png", image, "image/png")},
                         data={"description": "A gradient"})
    assert uploaded.status_code == 200 and uploaded.json()["url"] and uploaded.json()["description"] == "A gradient"
    assert uploaded.json()["meta"]["original"]["width"] == 400

    clip = http.get(emu.url + "/_media/sample.mp4?seconds=2").content
    video = http.post(f"{base}/api/v2/media", headers=auth, files={"file": ("c.mp4", clip, "video/mp4")})
    assert video.status_code == 202 and video.json()["url"] is None
    vid = video.json()["id"]
    early = toot(http, base, auth, status="too early", media_ids=[vid])
    assert early.status_code == 422
    assert early.json() == {"error": "Cannot attach files that have not finished processing. Try again in a moment!"}
    assert http.get(f"{base}/api/v1/media/{vid}", headers=auth).status_code == 206
    emu.advance(2)
    done = http.get(f"{base}/api/v1/media/{vid}", headers=auth)
    assert done.status_code == 200 and done.json()["url"]
    mixed = toot(http, base, auth, status="both", media_ids=[uploaded.json()["id"], vid])
    assert mixed.json() == {"error": "Cannot attach a video to a post that already contains images"}
    posted = toot(http, base, auth, status="a clip", media_ids=[vid])
    assert posted.status_code == 200 and posted.json()["media_attachments"][0]["type"] == "video"


def test_not_media_is_refused_and_uploads_have_their_own_limit(masto, http):
    emu, base, creds, auth = masto
    bad = http.post(f"{base}/api/v2/media", headers=auth, files={"file": ("a.txt", b"hello", "text/plain")})
    assert bad.status_code == 422
    assert bad.json() == {"error": "Validation failed: File content type is invalid, File is invalid"}
    emu.configure(masto_media_limit=1)
    image = http.get(emu.url + "/_media/sample.png?w=64&h=64").content
    assert http.post(f"{base}/api/v2/media", headers=auth, files={"file": ("a.png", image, "image/png")}).status_code == 429


# ---------------------------------------------------------------- faults
def test_injected_faults_speak_mastodon(masto, http):
    emu, base, creds, auth = masto
    emu.add_fault(kind="rate_limit", platform="mastodon", path="/api/v1/statuses", count=1)
    limited = toot(http, base, auth, status="x")
    assert limited.status_code == 429 and limited.json() == {"error": "Too many requests"}
    assert limited.headers["x-ratelimit-reset"].endswith("Z")
    emu.add_fault(kind="error_5xx", platform="mastodon", path="/api/v1/statuses", count=1, status=500)
    broken = toot(http, base, auth, status="x")
    assert broken.status_code == 500 and "error" in broken.json()
    assert emu.posts("mastodon") == []

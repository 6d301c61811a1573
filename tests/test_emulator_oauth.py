"""The emulator's OAuth: consent pages, code exchange, lifetimes, refresh and rotation, per platform."""
from __future__ import annotations

import pytest

from tests.conftest_emulator import (REDIRECT, bearer, client_id, consent, emu, http, pkce_pair,  # noqa: F401
                                     sandbox, secret)

IG_SCOPES = ["instagram_business_basic", "instagram_business_content_publish"]
DAY = 86400


def ig_code_exchange(http, emu, code, redirect_uri=REDIRECT):
    return http.post(emu.base_url("api.instagram.com") + "/oauth/access_token",
                     data={"client_id": client_id("instagram"), "client_secret": secret("instagram"),
                           "grant_type": "authorization_code", "redirect_uri": redirect_uri, "code": code})


def test_consent_page_names_the_platform_and_the_handle(sandbox, http):
    page = http.get(sandbox.base_url("www.instagram.com") + "/oauth/authorize",
                    params={"client_id": client_id("instagram"), "redirect_uri": REDIRECT, "response_type": "code",
                            "scope": ",".join(IG_SCOPES), "state": "abc"})
    assert page.status_code == 200
    assert "Sandbox Instagram — Allow Outpost to publish as @sandbox_creator?" in page.text
    assert 'name="handle" value="sandbox_creator"' in page.text
    assert 'method="post"' in page.text


@pytest.mark.parametrize("params, why", [
    ({"client_id": "someone-else"}, "unknown client id"),
    ({"redirect_uri": "not-a-url"}, "redirect must be absolute"),
    ({"response_type": "token"}, "only the code flow"),
])
def test_consent_page_refuses_bad_requests(sandbox, http, params, why):
    base = {"client_id": client_id("instagram"), "redirect_uri": REDIRECT, "response_type": "code", "scope": "x"}
    page = http.get(sandbox.base_url("www.instagram.com") + "/oauth/authorize", params={**base, **params})
    assert page.status_code == 400, why


@pytest.mark.parametrize("platform, error", [
    ("instagram", "access_denied"),
    ("x", "access_denied"),
    ("youtube", "access_denied"),
    ("linkedin", "user_cancelled_authorize"),   # LinkedIn's own word for a refused consent
])
def test_deny_redirects_with_an_error_and_the_state(sandbox, http, platform, error):
    extra = {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"} if platform == "x" else {}
    answer = consent(http, sandbox, platform, ["a"], decision="deny", state="keep-me", **extra)
    assert answer["error"] == error
    assert answer["state"] == "keep-me"
    assert "code" not in answer


def test_instagram_full_token_life(sandbox, http):
    answer = consent(http, sandbox, "instagram", IG_SCOPES, handle="ig_creator")
    assert answer["state"] == "st-1"
    short = ig_code_exchange(http, sandbox, answer["code"])
    assert short.status_code == 200, short.text
    body = short.json()
    assert body["permissions"] == IG_SCOPES and isinstance(body["user_id"], int)

    again = ig_code_exchange(http, sandbox, answer["code"])            # codes are single use
    assert again.status_code == 400 and again.json()["error_type"] == "OAuthException"

    graph = sandbox.base_url("graph.instagram.com")
    long = http.get(graph + "/access_token", params={"grant_type": "ig_exchange_token",
                                                     "client_secret": secret("instagram"),
                                                     "access_token": body["access_token"]})
    assert long.status_code == 200, long.text
    assert long.json()["token_type"] == "bearer" and long.json()["expires_in"] == 60 * DAY
    token = long.json()["access_token"]
    me = http.get(graph + "/v25.0/me", params={"fields": "user_id,username", "access_token": token}).json()
    assert me == {"user_id": str(body["user_id"]), "username": "ig_creator", "id": str(body["user_id"])}

    early = http.get(graph + "/refresh_access_token", params={"grant_type": "ig_refresh_token", "access_token": token})
    assert early.status_code == 400 and "fbtrace_id" in early.json()["error"]   # younger than 24 h

    sandbox.advance(DAY + 60)
    refreshed = http.get(graph + "/refresh_access_token", params={"grant_type": "ig_refresh_token",
                                                                  "access_token": token})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["expires_in"] == 60 * DAY

    sandbox.advance(2 * 3600)                                          # the short-lived token is long dead
    dead = http.get(graph + "/v25.0/me", params={"access_token": body["access_token"]})
    assert dead.status_code == 400
    assert dead.json()["error"]["code"] == 190 and dead.json()["error"]["error_subcode"] == 463


def test_code_expires_after_ten_minutes_and_redirect_must_match(sandbox, http):
    answer = consent(http, sandbox, "instagram", IG_SCOPES)
    wrong = ig_code_exchange(http, sandbox, answer["code"], redirect_uri="https://elsewhere.example/cb")
    assert wrong.status_code == 400 and "redirect_uri" in wrong.json()["error_message"]
    sandbox.advance(601)
    late = ig_code_exchange(http, sandbox, answer["code"])
    assert late.status_code == 400 and "expired" in late.json()["error_message"]


def test_facebook_login_page_tokens_and_linked_instagram(sandbox, http):
    scopes = ["pages_show_list", "pages_manage_posts", "pages_read_engagement", "instagram_basic",
              "instagram_content_publish"]
    answer = consent(http, sandbox, "facebook", scopes, handle="fb_brand")
    graph = sandbox.base_url("graph.facebook.com") + "/v25.0"
    short = http.get(graph + "/oauth/access_token", params={"client_id": client_id("facebook"), "redirect_uri": REDIRECT,
                                                            "client_secret": secret("facebook"),
                                                            "code": answer["code"]})
    assert short.status_code == 200, short.text
    long = http.get(graph + "/oauth/access_token", params={"grant_type": "fb_exchange_token",
                                                           "client_id": client_id("facebook"),
                                                           "client_secret": secret("facebook"),
                                                           "fb_exchange_token": short.json()["access_token"]})
    assert long.json()["expires_in"] == 5183944
    user_token = long.json()["access_token"]
    perms = http.get(graph + "/me/permissions", params={"access_token": user_token}).json()["data"]
    assert {p["permission"] for p in perms if p["status"] == "granted"} == set(scopes)
    pages = http.get(graph + "/me/accounts", params={"fields": "id,name,access_token,instagram_business_account",
                                                     "access_token": user_token}).json()["data"]
    assert len(pages) == 1 and pages[0]["access_token"] and pages[0]["instagram_business_account"]["id"]
    ig = http.get(graph + "/" + pages[0]["instagram_business_account"]["id"],
                  params={"fields": "username", "access_token": user_token}).json()
    assert ig["username"] == "fb_brand"

    sandbox.advance(61 * DAY)                  # a Page token from a long-lived user token does not expire
    page = http.get(graph + "/me", params={"fields": "name", "access_token": pages[0]["access_token"]})
    assert page.status_code == 200 and page.json()["id"] == pages[0]["id"]


def test_linkedin_refresh_keeps_the_refresh_token_deadline(sandbox, http):
    answer = consent(http, sandbox, "linkedin", ["openid", "profile", "w_member_social"])
    token_url = sandbox.base_url("www.linkedin.com") + "/oauth/v2/accessToken"
    first = http.post(token_url, data={"grant_type": "authorization_code", "code": answer["code"],
                                       "redirect_uri": REDIRECT, "client_id": client_id("linkedin"),
                                       "client_secret": secret("linkedin")})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["expires_in"] == 60 * DAY and body["refresh_token_expires_in"] == 365 * DAY
    assert body["scope"] == "openid,profile,w_member_social"

    sandbox.advance(59 * DAY)
    second = http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                        "client_id": client_id("linkedin"), "client_secret": secret("linkedin")})
    assert second.status_code == 200, second.text
    assert second.json()["expires_in"] == 60 * DAY
    assert 306 * DAY - 5 <= second.json()["refresh_token_expires_in"] <= 306 * DAY   # no sliding TTL

    info = http.post(sandbox.base_url("www.linkedin.com") + "/oauth/v2/introspectToken",
                     data={"client_id": client_id("linkedin"), "client_secret": secret("linkedin"),
                           "token": second.json()["access_token"]}).json()
    assert info["active"] is True and info["status"] == "active" and info["auth_type"] == "3L"
    sub = http.get(sandbox.base_url("api.linkedin.com") + "/v2/userinfo",
                   headers=bearer(second.json()["access_token"])).json()["sub"]
    assert sub and sandbox.state.accounts[("linkedin", f"urn:li:person:{sub}")]


def x_token(http, emu, data, auth=True):
    kwargs = {"auth": (client_id("x"), secret("x"))} if auth else {}
    return http.post(emu.base_url("api.x.com") + "/2/oauth2/token", data=data, **kwargs)


def test_x_requires_pkce_and_rotates_refresh_tokens(sandbox, http):
    verifier, challenge = pkce_pair()
    scopes = ["tweet.read", "tweet.write", "users.read", "offline.access"]
    answer = consent(http, sandbox, "x", scopes, code_challenge=challenge, code_challenge_method="S256")
    bad = x_token(http, sandbox, {"code": answer["code"], "grant_type": "authorization_code",
                                  "redirect_uri": REDIRECT, "code_verifier": "w" * 50})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"

    answer = consent(http, sandbox, "x", scopes, code_challenge=challenge, code_challenge_method="S256")
    good = x_token(http, sandbox, {"code": answer["code"], "grant_type": "authorization_code",
                                   "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["expires_in"] == 7200 and body["scope"] == " ".join(scopes) and body["refresh_token"]

    rotated = x_token(http, sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                      "client_id": client_id("x")}, auth=False)
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != body["refresh_token"]
    old = x_token(http, sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert old.status_code == 400 and old.json()["error"] == "invalid_request"

    no_secret = x_token(http, sandbox, {"grant_type": "refresh_token", "refresh_token": "x"}, auth=False)
    assert no_secret.status_code == 401


def test_x_page_refuses_a_missing_code_challenge(sandbox, http):
    page = http.get(sandbox.base_url("x.com") + "/i/oauth2/authorize",
                    params={"client_id": client_id("x"), "redirect_uri": REDIRECT, "response_type": "code",
                            "scope": "tweet.read", "state": "s"})
    assert page.status_code == 400


def test_x_without_offline_access_gets_no_refresh_token(sandbox, http):
    verifier, challenge = pkce_pair()
    answer = consent(http, sandbox, "x", ["tweet.read"], code_challenge=challenge, code_challenge_method="S256")
    body = x_token(http, sandbox, {"code": answer["code"], "grant_type": "authorization_code",
                                   "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    assert "refresh_token" not in body


def test_tiktok_client_key_and_rotation(sandbox, http):
    answer = consent(http, sandbox, "tiktok", ["user.info.basic", "video.publish"])
    assert answer["scopes"] == "user.info.basic,video.publish"
    url = sandbox.base_url("open.tiktokapis.com") + "/v2/oauth/token/"
    first = http.post(url, data={"client_key": client_id("tiktok"), "client_secret": secret("tiktok"),
                                 "code": answer["code"], "grant_type": "authorization_code",
                                 "redirect_uri": REDIRECT})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["expires_in"] == 7200 and body["refresh_expires_in"] == 180 * DAY
    assert body["scope"] == "user.info.basic,video.publish" and body["open_id"]
    second = http.post(url, data={"client_key": client_id("tiktok"), "client_secret": secret("tiktok"),
                                  "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != body["refresh_token"]
    stale = http.post(url, data={"client_key": client_id("tiktok"), "client_secret": secret("tiktok"),
                                 "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def google_token(http, emu, data):
    return http.post(emu.base_url("oauth2.googleapis.com") + "/token",
                     data={"client_id": client_id("youtube"), "client_secret": secret("youtube"), **data})


def test_google_offline_access_refresh_and_revocation(sandbox, http):
    scope = ["https://www.googleapis.com/auth/youtube.upload"]
    online = consent(http, sandbox, "youtube", scope, handle="online_only")
    assert online["scope"] == scope[0]
    body = google_token(http, sandbox, {"code": online["code"], "grant_type": "authorization_code",
                                        "redirect_uri": REDIRECT}).json()
    assert "refresh_token" not in body and body["expires_in"] == 3599

    offline = consent(http, sandbox, "youtube", scope, access_type="offline", prompt="consent")
    body = google_token(http, sandbox, {"code": offline["code"], "grant_type": "authorization_code",
                                        "redirect_uri": REDIRECT}).json()
    assert body["refresh_token"]
    fresh = google_token(http, sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert fresh.status_code == 200 and "refresh_token" not in fresh.json()

    revoked = http.post(sandbox.base_url("oauth2.googleapis.com") + "/revoke", data={"token": body["access_token"]})
    assert revoked.status_code == 200
    after = google_token(http, sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert after.status_code == 400
    assert after.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


@pytest.mark.parametrize("platform, request_args, status, check", [
    # Graph: code 190, subcode 463 for an expired session, inside the error envelope with fbtrace_id
    ("instagram", ("GET", "graph.instagram.com", "/v25.0/me", "query"), 400,
     lambda b: b["error"]["code"] == 190 and b["error"]["error_subcode"] == 463 and b["error"]["fbtrace_id"]),
    ("linkedin", ("GET", "api.linkedin.com", "/v2/userinfo", "bearer"), 401,
     lambda b: b["status"] == 401 and b["code"] == "EXPIRED_ACCESS_TOKEN"),
    ("x", ("GET", "api.x.com", "/2/users/me", "bearer"), 401,
     lambda b: b == {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
    ("tiktok", ("GET", "open.tiktokapis.com", "/v2/user/info/?fields=open_id", "bearer"), 401,
     lambda b: b["error"]["code"] == "access_token_invalid" and b["data"] == {}),
    ("youtube", ("GET", "www.googleapis.com", "/youtube/v3/channels?part=id&mine=true", "bearer"), 401,
     lambda b: b["error"]["errors"][0]["reason"] == "authError"),
])
def test_expired_tokens_get_each_platforms_own_error(sandbox, http, platform, request_args, status, check):
    token = sandbox.accounts(platform)[0]["access_token"]
    sandbox.advance(366 * DAY)
    method, host, path, style = request_args
    kwargs = {"params": {"access_token": token}} if style == "query" else {"headers": bearer(token)}
    response = http.request(method, sandbox.base_url(host) + path, **kwargs)
    assert response.status_code == status, response.text
    assert check(response.json()), response.text

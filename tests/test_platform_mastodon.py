"""Mastodon adapter against recorded shapes from the facts sheet §9 (tests.platform_harness, no network)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet, pkce_pair
from core.domain.catalog import Platform
from core.platforms.mastodon import MastodonAdapter, plain
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
CREDS = Credentials(access_token="masto-access", external_id="109876543210")
RESET = "2026-11-20T15:35:00.000000Z"


def not_routed(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error": "Record not found"})


def make(routes: dict, **options) -> tuple[MastodonAdapter, FakePlatform, list[float]]:
    fake, sleeps = FakePlatform(routes, not_routed=not_routed), []
    config = PlatformConfig(client_id="masto-client", client_secret="masto-secret",
                            redirect_uri="https://outpost.test/", options=options)
    return MastodonAdapter(fake.client(), config, clock=lambda: NOW,
                           sleep=sleeps.append), fake, sleeps


def content(text: str = "Hello fediverse") -> RenderedContent:
    return RenderedContent(platform=Platform.MASTODON, text=text, caption=text, hashtags=(), media_urls=(), link="",
                           title=None)


def status(status_id: str = "113500000000000001", text: str = "<p>Hello fediverse</p>", **extra) -> dict:
    return {"id": status_id, "created_at": "2026-11-20T15:30:01.000Z", "content": text,
            "url": f"https://mastodon.social/@outpost/{status_id}",
            "uri": f"https://mastodon.social/users/outpost/statuses/{status_id}",
            "favourites_count": 0, "reblogs_count": 0, "replies_count": 0, **extra}


def error(status_code: int, message: str, **headers) -> httpx.Response:
    return httpx.Response(status_code, json={"error": message}, headers=headers)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("response, cls, code", [
    # validation: permanent, in Mastodon's own words
    (error(422, "Validation failed: Text character limit of 500 exceeded"), Rejected, "422"),
    (error(422, "Cannot attach a video to a post that already contains images"), Rejected, "422"),
    # an attachment still processing: try again shortly
    (error(422, "Cannot attach files that have not finished processing. Try again in a moment!"), RetryLater,
     "media_not_ready"),
    # Doorkeeper's words: revoked or unknown tokens need a person; an expired one a refresh
    (error(401, "The access token is invalid"), ReconnectNeeded, "token_revoked"),
    (error(401, "The access token was revoked"), ReconnectNeeded, "token_revoked"),
    (error(401, "The access token expired"), TokenExpired, "token_expired"),
    (error(403, "This action is outside the authorized scopes"), ReconnectNeeded, "scope"),
    (error(403, "Your login is currently disabled"), Rejected, "403"),
    (error(429, "Too many requests", **{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                                        "X-RateLimit-Reset": RESET}), RetryLater, "429"),
    # any 5xx on the POST may come after the status was made (a crash after the insert, a gateway that gave
    # up): reconcile before anything else
    (error(500, "An unexpected error occurred"), OutcomeUnknown, "500"),
    (error(503, "There was a temporary problem serving your request, please try again"), OutcomeUnknown, "503"),
    (httpx.Response(502, text="<html>502 Bad Gateway</html>"), OutcomeUnknown, "502"),
    (httpx.Response(504, text="<html>504 Gateway Time-out</html>"), OutcomeUnknown, "504"),
])
def test_status_errors_are_classified_and_not_retried(response, cls, code):
    adapter, fake, _ = make({("POST", "/api/v1/statuses"): response})
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, PublishRequest(content(), marker="delivery-1"))
    assert info.value.code == code and info.value.platform == "mastodon"
    assert info.value.http_status == response.status_code
    assert len(fake.calls) == 1


class Instance:
    """A tiny stateful instance: POST /api/v1/statuses makes the status, then may answer 5xx; the listing shows it."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.statuses: list[dict] = []
        self.keys: dict[str, dict] = {}

    def post(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        if key in self.keys:
            return httpx.Response(200, json=self.keys[key])
        body = json.loads(request.content)
        made = status(str(113500000000000001 + len(self.statuses)), f"<p>{body['status']}</p>")
        self.statuses.insert(0, made)
        if key:
            self.keys[key] = made
        answer = self.answers.pop(0) if self.answers else None
        return answer or httpx.Response(200, json=made)

    def routes(self) -> dict:
        return {("POST", "/api/v1/statuses"): self.post,
                ("GET", "/api/v1/accounts/109876543210/statuses"): lambda r: httpx.Response(200, json=self.statuses)}


@pytest.mark.parametrize("answer", [error(500, "An unexpected error occurred"),
                                    error(503, "There was a temporary problem serving your request")])
def test_a_5xx_after_the_status_was_made_is_reconciled_into_one_post(answer):
    instance = Instance([answer])
    adapter, fake, _ = make(instance.routes())
    request = PublishRequest(content("Doors open at nine"), marker="delivery-5")
    with pytest.raises(OutcomeUnknown):            # before: RetryLater, and the retry came after the key's hour
        adapter.publish(CREDS, request)
    found = adapter.find_published(CREDS, request, since=NOW - timedelta(minutes=5))
    assert found is not None and found.external_id == instance.statuses[0]["id"]
    assert len(instance.statuses) == 1                                          # one post, found, not re-posted


def test_a_5xx_on_reads_and_uploads_is_still_a_plain_retry():
    adapter, _, _ = make({("POST", "/api/v2/media"): error(503, "Service Unavailable"),
                          ("GET", "/api/v1/statuses"): error(500, "An unexpected error occurred")})
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("a.png", data=b"PNG"),)))
    assert not isinstance(info.value, OutcomeUnknown) and info.value.code == "503"
    with pytest.raises(RetryLater):
        adapter.post_metrics(CREDS, ["1"])


def test_rejections_carry_mastodons_words():
    adapter, _, _ = make({("POST", "/api/v1/statuses"): error(422, "Validation failed: Text character limit of 500 "
                                                                     "exceeded")})
    with pytest.raises(Rejected, match="Mastodon refused the post: Validation failed: Text character limit of 500"):
        adapter.publish(CREDS, PublishRequest(content("x" * 600)))


def test_rate_limit_waits_until_the_iso_reset():
    adapter, _, _ = make({("POST", "/api/v1/statuses"): error(429, "Too many requests", **{
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": RESET})})
    with pytest.raises(RetryLater) as info:
        adapter.publish(CREDS, PublishRequest(content()))
    assert info.value.retry_at == datetime(2026, 11, 20, 15, 35, tzinfo=UTC)


def test_transport_errors():
    adapter, _, _ = make({("POST", "/api/v1/statuses"): httpx.ReadTimeout("lost")})
    with pytest.raises(OutcomeUnknown):
        adapter.publish(CREDS, PublishRequest(content(), marker="d"))
    adapter, _, _ = make({("POST", "/api/v1/statuses"): httpx.ConnectError("refused")})
    with pytest.raises(RetryLater):
        adapter.publish(CREDS, PublishRequest(content(), marker="d"))
    adapter, _, _ = make({("GET", "/api/v1/statuses"): httpx.ReadTimeout("lost")})
    with pytest.raises(RetryLater):
        adapter.post_metrics(CREDS, ["1"])


# ---------------------------------------------------------------- OAuth
@pytest.mark.parametrize("instance, host", [
    (None, "mastodon.social"),                   # the default instance
    ("fosstodon.org", "fosstodon.org"),          # a bare host is accepted
    ("https://hachyderm.io/", "hachyderm.io"),
])
def test_authorization_url_is_on_the_configured_instance_with_pkce(instance, host):
    adapter, _, _ = make({}, **({"instance": instance} if instance else {}))
    _, challenge = pkce_pair()
    url = urlsplit(adapter.authorization_url(state="st-1", code_challenge=challenge))
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc, url.path) == ("https", host, "/oauth/authorize")
    assert query["scope"] == ["read write:statuses write:media"] and query["response_type"] == ["code"]
    assert query["code_challenge"] == [challenge] and query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == ["masto-client"] and query["redirect_uri"] == ["https://outpost.test/"]


def test_exchange_code_sends_the_secret_and_verifier_and_the_token_never_expires():
    adapter, fake, _ = make({("POST", "/oauth/token"): httpx.Response(200, json={
        "access_token": "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0", "token_type": "Bearer",
        "scope": "read write:statuses write:media", "created_at": 1573979017})}, instance="fosstodon.org")
    token = adapter.exchange_code("code-1", code_verifier="verifier-1")
    call = fake.calls[0]
    assert str(call.url) == "https://fosstodon.org/oauth/token"
    assert parse_qs(call.content.decode()) == {
        "grant_type": ["authorization_code"], "code": ["code-1"], "redirect_uri": ["https://outpost.test/"],
        "client_id": ["masto-client"], "code_verifier": ["verifier-1"], "client_secret": ["masto-secret"]}
    assert token.expires_at is None and token.refresh_token is None and adapter.missing_scopes(token) == ()
    assert not adapter.refresh_due(Credentials(token.access_token, expires_at=token.expires_at), NOW)


@pytest.mark.parametrize("granted, missing", [
    ("read write:statuses write:media", ()),
    ("read write", ()),                                    # "write" covers write:statuses and write:media
    ("read write:statuses", ("write:media",)),             # no media: images would fail later
    ("write", ("read",)),
])
def test_missing_scopes_understand_parent_scopes(granted, missing):
    adapter, _, _ = make({})
    assert adapter.missing_scopes(TokenSet("t", scopes=tuple(granted.split()))) == missing


def test_a_refused_code_needs_a_reconnect():
    adapter, _, _ = make({("POST", "/oauth/token"): httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, "
                                                       "revoked, does not match the redirection URI used in the "
                                                       "authorization request, or was issued to another client."})})
    with pytest.raises(ReconnectNeeded, match="authorization grant is invalid"):
        adapter.exchange_code("code-1", code_verifier="v")


def test_refresh_without_a_refresh_token_explains_and_calls_nothing():
    adapter, fake, _ = make({})
    with pytest.raises(ReconnectNeeded, match="does not expire .* Connect the account again"):
        adapter.refresh(CREDS)
    assert fake.calls == [] and not adapter.can_refresh(CREDS)


def test_fetch_profile_names_the_account_on_its_instance():
    adapter, fake, _ = make({("GET", "/api/v1/accounts/verify_credentials"): httpx.Response(200, json={
        "id": "109876543210", "username": "outpost", "acct": "outpost", "display_name": "Outpost",
        "url": "https://fosstodon.org/@outpost", "followers_count": 12})}, instance="fosstodon.org")
    profile = adapter.fetch_profile(TokenSet("masto-access"))
    assert (profile.external_id, profile.handle, profile.display_name) == ("109876543210", "@outpost@fosstodon.org",
                                                                           "Outpost")
    assert fake.calls[0].headers["authorization"] == "Bearer masto-access"


# ---------------------------------------------------------------- publishing
def test_publish_sends_a_deterministic_idempotency_key():
    adapter, fake, _ = make({("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    saved: dict = {}
    result = adapter.publish(CREDS, PublishRequest(content(), marker="delivery-1", checkpoint=saved.__setitem__))
    adapter.publish(CREDS, PublishRequest(content(), marker="delivery-1"))       # a retry of the same delivery
    adapter.publish(CREDS, PublishRequest(content(), marker="delivery-2"))       # another delivery
    keys = [c.headers["idempotency-key"] for c in fake.calls]
    assert keys[0] == keys[1] != keys[2] and keys[0].startswith("outpost-")
    assert json.loads(fake.calls[0].content) == {"status": "Hello fediverse"}
    assert (result.external_id, result.url) == ("113500000000000001", "https://mastodon.social/@outpost/113500000000000001")
    assert saved["status"] == "113500000000000001"


def test_no_marker_no_key():
    adapter, fake, _ = make({("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    adapter.publish(CREDS, PublishRequest(content()))
    assert "idempotency-key" not in fake.calls[0].headers


def test_visibility_spoiler_sensitive_and_language_are_passed():
    adapter, fake, _ = make({("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    adapter.publish(CREDS, PublishRequest(content(), options={"visibility": "unlisted", "spoiler_text": "Spoilers",
                                                              "sensitive": True, "language": "de"}))
    assert json.loads(fake.calls[0].content) == {"status": "Hello fediverse", "visibility": "unlisted",
                                                 "spoiler_text": "Spoilers", "language": "de", "sensitive": True}
    adapter, fake, _ = make({})
    with pytest.raises(Rejected, match="visibility must be one of public, unlisted, private, direct"):
        adapter.publish(CREDS, PublishRequest(content(), options={"visibility": "followers"}))
    assert fake.calls == []


def attachment(media_id: str, url: str | None, kind: str = "image") -> dict:
    return {"id": media_id, "type": kind, "url": url, "preview_url": "https://files/p.jpg", "description": None}


def test_images_are_uploaded_with_their_alt_text():
    adapter, fake, sleeps = make({
        ("POST", "/api/v2/media"): [httpx.Response(200, json=attachment("1", "https://files/1.png")),
                                    httpx.Response(200, json=attachment("2", "https://files/2.png"))],
        ("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    images = (MediaItem("https://cdn.test/a.png", data=b"PNG-A", alt_text="A cat on a mat"),
              MediaItem("https://cdn.test/b.png", data=b"PNG-B"))
    adapter.publish(CREDS, PublishRequest(content(), media=images))
    assert fake.paths() == ["POST /api/v2/media", "POST /api/v2/media", "POST /api/v1/statuses"]
    first = fake.calls[0].content
    assert b'name="description"\r\n\r\nA cat on a mat' in first and b'name="file"' in first and b"PNG-A" in first
    assert b'name="description"' not in fake.calls[1].content
    assert b"image/png" in first
    assert json.loads(fake.calls[-1].content)["media_ids"] == ["1", "2"] and sleeps == []


def test_a_video_is_waited_for_while_it_processes():
    adapter, fake, sleeps = make({
        ("POST", "/api/v2/media"): httpx.Response(202, json=attachment("7", None, "video")),
        ("GET", "/api/v1/media/7"): [httpx.Response(206, json=attachment("7", None, "video")),
                                     httpx.Response(206, json=attachment("7", None, "video")),
                                     httpx.Response(200, json=attachment("7", "https://files/7.mp4", "video"))],
        ("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    saved: dict = {}
    adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("clip.mp4", kind="video", data=b"v"),),
                                          checkpoint=saved.__setitem__))
    assert fake.paths().count("GET /api/v1/media/7") == 3 and sleeps == [1.0, 2.0]
    assert saved["media_pending:0"] == "7" and saved["media:0"] == "7"
    assert json.loads(fake.calls[-1].content)["media_ids"] == ["7"]


def test_a_retry_resumes_waiting_for_the_same_video():
    adapter, fake, _ = make({
        ("GET", "/api/v1/media/7"): httpx.Response(200, json=attachment("7", "https://files/7.mp4", "video")),
        ("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("clip.mp4", kind="video", data=b"v"),),
                                          progress={"media_pending:0": "7"}))
    assert fake.paths() == ["GET /api/v1/media/7", "POST /api/v1/statuses"]      # no second upload


def test_a_video_that_never_finishes_is_retried_later():
    adapter, fake, _ = make({("POST", "/api/v2/media"): httpx.Response(202, json=attachment("7", None, "video")),
                             ("GET", "/api/v1/media/7"): httpx.Response(206, json=attachment("7", None, "video"))})
    with pytest.raises(RetryLater, match="still processing"):
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("clip.mp4", kind="video", data=b"v"),)))
    assert "POST /api/v1/statuses" not in fake.paths()


def test_a_media_link_is_downloaded_the_safe_way():
    adapter, fake, _ = make({("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    with pytest.raises(Rejected, match="cloud metadata") as info:                 # before: fetched, whatever it was
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("http://169.254.169.254/latest/a.png"),)))
    assert info.value.code == "media_private_address" and fake.calls == []
    adapter, fake, _ = make({("GET", "/a.png"): httpx.Response(503),
                             ("POST", "/api/v1/statuses"): httpx.Response(200, json=status())})
    adapter.resolve_host = lambda host, port: ["93.184.215.14"]
    with pytest.raises(RetryLater) as info:                                       # the file host may come back
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("https://cdn.example/a.png"),)))
    assert info.value.code == "media_http_error" and fake.paths() == ["GET /a.png"]


def test_a_refused_file_is_rejected_in_mastodons_words():
    adapter, fake, _ = make({("POST", "/api/v2/media"): error(422, "Validation failed: File content type is invalid, "
                                                                   "File is invalid")})
    with pytest.raises(Rejected, match="File content type is invalid"):
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("a.png", data=b"nope"),)))
    assert len(fake.calls) == 1


# ---------------------------------------------------------------- reconciliation
LINK_HTML = ('<p>Launch day <a href="https://example.com/a/very/long/path" rel="nofollow noopener noreferrer" '
             'translate="no"><span class="invisible">https://</span><span class="ellipsis">example.com/a/very/'
             '</span><span class="invisible">long/path</span></a> with <span class="h-card"><a href="https://other.'
             'social/@ann" class="u-url mention">@<span>ann</span></a></span></p><p>Second &amp; last<br />line</p>')


def test_plain_reads_statuses_as_they_were_written():
    assert plain(LINK_HTML) == "Launch day https://example.com/a/very/long/path with @ann Second & last line"


@pytest.mark.parametrize("created, found", [
    ("2026-11-20T15:30:01.000Z", True),        # after the attempt started
    ("2026-11-20T15:20:00.000Z", False),       # the same words posted before: not this delivery's
])
def test_find_published_matches_the_text_after_since(created, found):
    listing = [status("2", "<p>Something else</p>"), status("1", LINK_HTML, created_at=created)]
    adapter, fake, _ = make({("GET", "/api/v1/accounts/109876543210/statuses"): httpx.Response(200, json=listing)})
    text = "Launch day https://example.com/a/very/long/path with @ann@other.social\n\nSecond & last\nline"
    result = adapter.find_published(CREDS, PublishRequest(content(text)), since=NOW - timedelta(minutes=1))
    assert (result is not None) is found
    if found:
        assert result.external_id == "1"
    assert fake.calls[0].url.params["limit"] == "40"


LISTING = ("GET", "/api/v1/accounts/109876543210/statuses")


def pictured(status_id: str, *ids_and_alts, text: str = "", created_at: str = "2026-11-20T15:30:01.000Z") -> dict:
    return status(status_id, text, created_at=created_at,
                  media_attachments=[{"id": i, "type": "image", "description": alt} for i, alt in ids_and_alts])


def test_a_media_only_post_is_found_by_its_own_attachments_not_by_a_look_alike():
    # Someone else's media-only post went out after the attempt; ours (attachment m1) never did.
    adapter, _, _ = make({LISTING: httpx.Response(200, json=[pictured("2", ("x9", None))])})
    request = PublishRequest(content(""), media=(MediaItem("a.png", data=b"PNG"),), marker="d",
                             progress={"media:0": "m1"})
    assert adapter.find_published(CREDS, request, since=NOW - timedelta(minutes=90)) is None   # not marked published
    both = [pictured("2", ("x9", None)), pictured("1", ("m1", None))]
    adapter, _, _ = make({LISTING: httpx.Response(200, json=both)})
    assert adapter.find_published(CREDS, request, since=NOW - timedelta(minutes=90)).external_id == "1"


@pytest.mark.parametrize("listing", [
    [pictured("3", ("x1", None), text="<p>Hello fediverse</p>")],                             # one picture, not two
    [pictured("3", ("x1", "A dog"), ("x2", None), text="<p>Hello fediverse</p>")],            # other alt text
])
def test_the_same_words_with_other_media_are_not_this_post(listing):
    adapter, _, _ = make({LISTING: httpx.Response(200, json=listing)})
    media = (MediaItem("a.png", data=b"A", alt_text="A cat"), MediaItem("b.png", data=b"B"))
    assert adapter.find_published(CREDS, PublishRequest(content(), media=media), since=NOW - timedelta(minutes=5)) \
        is None


@pytest.mark.parametrize("since, marker, outcome", [
    (NOW - timedelta(minutes=10), "d", None),              # the key still lives: re-posting returns the first status
    (NOW - timedelta(minutes=90), "d", Rejected),          # it may have expired: a person looks
    (NOW - timedelta(minutes=10), "", Rejected),           # no key was sent
])
def test_a_media_only_post_without_saved_attachments_never_matches_a_look_alike(since, marker, outcome):
    adapter, _, _ = make({LISTING: httpx.Response(200, json=[pictured("2", ("x9", None))])})
    request = PublishRequest(content(""), media=(MediaItem("a.png", data=b"PNG"),), marker=marker)
    if outcome is None:
        assert adapter.find_published(CREDS, request, since=since) is None
    else:
        with pytest.raises(Rejected, match="cannot tell") as info:
            adapter.find_published(CREDS, request, since=since)
        assert info.value.code == "ambiguous"
    # nothing like it in the listing: not there, whatever the time
    adapter, _, _ = make({LISTING: httpx.Response(200, json=[status("5", "<p>Words</p>")])})
    assert adapter.find_published(CREDS, request, since=since) is None


def test_find_published_uses_the_saved_status_without_a_call():
    adapter, fake, _ = make({})
    result = adapter.find_published(CREDS, PublishRequest(content(), progress={"status": "9"}), since=NOW)
    assert result.external_id == "9" and fake.calls == []


# ---------------------------------------------------------------- metrics
def test_post_metrics_are_batched_twenty_at_a_time():
    def answer(request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("id[]")
        return httpx.Response(200, json=[status(i, favourites_count=3, reblogs_count=2, replies_count=1,
                                                quotes_count=1) for i in ids])

    adapter, fake, _ = make({("GET", "/api/v1/statuses"): answer})
    ids = [str(n) for n in range(1, 26)]
    metrics = adapter.post_metrics(CREDS, ids)
    assert [len(c.url.params.get_list("id[]")) for c in fake.calls] == [20, 5]
    assert set(metrics) == set(ids)
    assert metrics["1"].values == {"likes": 3, "comments": 1, "shares": 3}
    assert metrics["1"].raw["favourites_count"] == 3


def test_post_metrics_fall_back_to_one_by_one_on_older_instances():
    adapter, fake, _ = make({
        ("GET", "/api/v1/statuses"): error(404, "Record not found"),
        ("GET", "/api/v1/statuses/1"): httpx.Response(200, json=status("1", favourites_count=4)),
        ("GET", "/api/v1/statuses/2"): error(404, "Record not found")})            # deleted since
    metrics = adapter.post_metrics(CREDS, ["1", "2"])
    assert list(metrics) == ["1"] and metrics["1"].values["likes"] == 4
    assert fake.paths() == ["GET /api/v1/statuses", "GET /api/v1/statuses/1", "GET /api/v1/statuses/2"]


def test_account_metrics():
    adapter, _, _ = make({("GET", "/api/v1/accounts/verify_credentials"): httpx.Response(200, json={
        "id": "1", "username": "outpost", "followers_count": 321, "following_count": 5, "statuses_count": 9})})
    assert adapter.account_metrics(CREDS).followers == 321

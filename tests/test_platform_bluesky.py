"""Bluesky adapter against recorded shapes from the facts sheet §8 (tests.platform_harness, no network)."""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import ConfigurationError, OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet
from core.platforms.bluesky import BlueskyAdapter, card_from_html, delivery_rkey, facets, tid
from core.domain.catalog import Platform
from core.domain.timeutil import UTC
from tests.platform_harness import FakePlatform, routes_under

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
PDS = "https://morel.us-east.host.bsky.network"
SANDBOX_HOST = "morel.us-east.host.bsky.network"
CREDS = Credentials(access_token="access-jwt", external_id=DID, refresh_token="refresh-jwt",
                    meta={"username": "outpost.bsky.social", "did": DID, "pds": PDS})
TID_SHAPE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def jwt(exp: datetime, scope: str = "com.atproto.appPass") -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part({'scope': scope, 'sub': DID, 'exp': int(exp.timestamp())})}.sig"


def session(did_doc: bool = True) -> dict:
    body = {"did": DID, "handle": "outpost.bsky.social", "accessJwt": jwt(NOW + timedelta(hours=2)),
            "refreshJwt": jwt(NOW + timedelta(days=90), "com.atproto.refresh"), "active": True}
    if did_doc:
        body["didDoc"] = {"id": DID, "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                                  "serviceEndpoint": PDS}]}
    return body


def xrpc(status: int, name: str, message: str, **headers) -> httpx.Response:
    return httpx.Response(status, json={"error": name, "message": message}, headers=headers)


def fake_pds(routes: dict) -> FakePlatform:
    """Bluesky's hosts: an unknown method is XRPC's 501; calls are named without the /xrpc/ prefix."""
    return FakePlatform(routes_under("/xrpc/", routes),
                        not_routed=lambda request: xrpc(501, "MethodNotImplemented", "Method Not Implemented"),
                        label=lambda r: f"{r.method} {r.url.path.removeprefix('/xrpc/')}")


def make(routes: dict, **options) -> tuple[BlueskyAdapter, FakePlatform]:
    fake = fake_pds(routes)
    config = PlatformConfig(client_id="", options=options)
    return BlueskyAdapter(fake.client(), config, clock=lambda: NOW), fake


def content(text: str = "Hello Bluesky") -> RenderedContent:
    return RenderedContent(platform=Platform.BLUESKY, text=text, caption=text, hashtags=(), media_urls=(), link="",
                           title=None)


def created(rkey: str = "3lbvvyxqmn22c") -> httpx.Response:
    return httpx.Response(200, json={"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": "bafyreiabc",
                                     "commit": {"cid": "bafyreicommit", "rev": rkey}, "validationStatus": "valid"})


NOT_FOUND = xrpc(400, "RecordNotFound", f"Could not locate record: at://{DID}/app.bsky.feed.post/x")
RESET = int((NOW + timedelta(minutes=40)).timestamp())


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("response, cls, code, calls", [
    # the access JWT expired (Bluesky says so with a 400): refresh, then try again
    (xrpc(400, "ExpiredToken", "Token has expired"), TokenExpired, "ExpiredToken", 1),
    (xrpc(400, "InvalidToken", "Token has been revoked"), ReconnectNeeded, "InvalidToken", 1),
    (xrpc(401, "AuthMissing", "Authentication Required"), ReconnectNeeded, "AuthMissing", 1),
    (xrpc(401, "AccountTakedown", "Account has been taken down"), ReconnectNeeded, "AccountTakedown", 1),
    # write points used up: wait for ratelimit-reset (unix seconds)
    (xrpc(429, "RateLimitExceeded", "Rate Limit Exceeded", **{"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                                                               "ratelimit-reset": str(RESET)}), RetryLater,
     "RateLimitExceeded", 1),
    # validation: for good, in Bluesky's words
    (xrpc(400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 "
                                 "graphemes"), Rejected, "InvalidRequest", 1),
    (xrpc(400, "BlobTooLarge", "This file is too large. It is 1.20MB but the maximum size is 1.00MB."), Rejected,
     "BlobTooLarge", 1),
    # a 5xx may hide a taken key (atproto#3718) or a post made before a gateway's 502: the adapter asks getRecord,
    # then it is in doubt (the runner looks again before sending under the same key)
    (xrpc(500, "InternalServerError", "Internal Server Error"), OutcomeUnknown, "InternalServerError", 2),
    (xrpc(502, "UpstreamFailure", "Upstream Failure"), OutcomeUnknown, "UpstreamFailure", 2),
])
def test_errors_are_classified_and_not_retried(response, cls, code, calls):
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): response,
                          ("GET", "com.atproto.repo.getRecord"): NOT_FOUND})
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, PublishRequest(content(), marker="d1"))
    assert info.value.code == code and info.value.platform == "bluesky"
    assert info.value.http_status == response.status_code
    if cls is RetryLater and response.status_code == 429:
        assert info.value.retry_at == datetime.fromtimestamp(RESET, UTC)
    assert len(fake.calls) == calls


def test_rejections_carry_blueskys_words():
    adapter, _ = make({("POST", "com.atproto.repo.createRecord"): xrpc(
        400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes")})
    with pytest.raises(Rejected, match="Bluesky refused the post: .*longer than 300 graphemes"):
        adapter.publish(CREDS, PublishRequest(content("a" * 301)))


# ---------------------------------------------------------------- sessions
@pytest.mark.parametrize("response, cls, words", [
    (xrpc(401, "AuthenticationRequired", "Invalid identifier or password"), ReconnectNeeded,
     "did not accept that handle and app password"),
    (xrpc(401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address"), ReconnectNeeded,
     "main password. Use an app password instead"),
    (xrpc(401, "AccountTakedown", "Account has been taken down"), ReconnectNeeded, "suspended"),
    (xrpc(429, "RateLimitExceeded", "Rate Limit Exceeded", **{"ratelimit-reset": str(RESET)}), RetryLater,
     "Too many sign-ins"),
])
def test_login_refusals_are_explained(response, cls, words):
    adapter, fake = make({("POST", "com.atproto.server.createSession"): response})
    with pytest.raises(cls, match=words):
        adapter.login("outpost.bsky.social", "abcd-efgh-ijkl-mnop")
    assert len(fake.calls) == 1


@pytest.mark.parametrize("typed, sent", [
    ("outpost.bsky.social", "outpost.bsky.social"),
    ("@outpost.bsky.social ", "outpost.bsky.social"),
    ("outpost", "outpost.bsky.social"),          # just the name: the bsky.social handle
    ("outpost.example.com", "outpost.example.com"),
    (DID, DID),
])
def test_login_sends_the_identifier_and_reads_the_session(typed, sent):
    adapter, fake = make({("POST", "com.atproto.server.createSession"): httpx.Response(200, json=session())})
    token = adapter.login(typed, "abcd-efgh-ijkl-mnop")
    assert str(fake.calls[0].url) == "https://bsky.social/xrpc/com.atproto.server.createSession"
    assert json.loads(fake.calls[0].content) == {"identifier": sent, "password": "abcd-efgh-ijkl-mnop"}
    assert token.expires_at == NOW + timedelta(hours=2) and token.refresh_expires_at == NOW + timedelta(days=90)
    assert token.extra == {"did": DID, "handle": "outpost.bsky.social", "pds": PDS}
    assert "abcd" not in repr(token)


def test_a_main_password_session_is_refused():
    full = {**session(), "accessJwt": jwt(NOW + timedelta(hours=2), "com.atproto.access")}
    adapter, fake = make({("POST", "com.atproto.server.createSession"): httpx.Response(200, json=full)})
    with pytest.raises(ReconnectNeeded, match="main Bluesky password. Outpost only takes an app password") as info:
        adapter.login("outpost.bsky.social", "my-real-password")
    assert info.value.code == "main_password" and len(fake.calls) == 1


def test_a_session_without_a_did_document_stays_on_the_configured_service():
    adapter, _ = make({("POST", "com.atproto.server.createSession"): httpx.Response(200, json=session(False))},
                      service="https://pds.example.org/")
    assert adapter.login("outpost.example.org", "pw").extra["pds"] == "https://pds.example.org"


def test_no_consent_page():
    adapter, _ = make({})
    with pytest.raises(ConfigurationError, match="app password"):
        adapter.authorization_url(state="s")


def test_refresh_rotates_the_refresh_token_on_the_pds():
    fresh = {**session(), "refreshJwt": jwt(NOW + timedelta(days=90), "com.atproto.refresh") + "2"}
    adapter, fake = make({("POST", "com.atproto.server.refreshSession"): httpx.Response(200, json=fresh)})
    token = adapter.refresh(CREDS)
    call = fake.calls[0]
    assert str(call.url) == f"{PDS}/xrpc/com.atproto.server.refreshSession"
    assert call.headers["authorization"] == "Bearer refresh-jwt"
    assert token.refresh_token == fresh["refreshJwt"] and token.access_token == fresh["accessJwt"]


@pytest.mark.parametrize("response", [
    xrpc(400, "ExpiredToken", "Token has expired"),          # the refresh JWT itself is too old
    xrpc(400, "InvalidToken", "Token has been revoked"),     # already rotated, or the app password deleted
])
def test_a_refused_refresh_needs_a_reconnect(response):
    adapter, fake = make({("POST", "com.atproto.server.refreshSession"): response})
    with pytest.raises(ReconnectNeeded, match="Connect the account again with an app password"):
        adapter.refresh(CREDS)
    assert len(fake.calls) == 1


def test_a_lost_refresh_answer_is_retried_later_not_a_reconnect():
    adapter, _ = make({("POST", "com.atproto.server.refreshSession"): httpx.ReadTimeout("lost")})
    with pytest.raises(RetryLater):
        adapter.refresh(CREDS)


@pytest.mark.parametrize("creds, ok", [
    (CREDS, True),
    (Credentials("a", refresh_token="r", refresh_expires_at=NOW - timedelta(seconds=1)), False),
    (Credentials("a"), False),
])
def test_can_refresh(creds, ok):
    assert make({})[0].can_refresh(creds) is ok


# ---------------------------------------------------------------- facets (UTF-8 byte offsets)
def sliced(text: str, facet: dict) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"]:index["byteEnd"]].decode("utf-8")


@pytest.mark.parametrize("text, expected", [
    # plain ASCII: bytes and characters agree
    ("Read https://example.com/a now", [("link", "https://example.com/a")]),
    # an emoji (4 bytes) and accents (2 bytes) before the link: character offsets would be wrong
    ("✨ Café déjà vu 🎉 https://example.com/ü?x=1.", [("link", "https://example.com/ü?x=1")]),
    # CJK is 3 bytes a character
    ("日本語のテキスト #タグ と @ann.bsky.social", [("tag", "#タグ"), ("mention", "@ann.bsky.social")]),
    # trailing punctuation and brackets stay out of the link; a bare number is not a tag
    ("(see https://a.example/b) #1 #ok!", [("link", "https://a.example/b"), ("tag", "#ok")]),
    # an unknown handle stays plain text; an email address is not a mention
    ("hi @nobody.example.com and me@example.com", []),
])
def test_facets_use_byte_offsets(text, expected):
    found = facets(text, lambda handle: "did:plc:ann" if handle == "ann.bsky.social" else None)
    kinds = [(f["features"][0]["$type"].rsplit("#", 1)[1], sliced(text, f)) for f in found]
    assert kinds == expected


def test_facet_features_carry_uri_did_and_tag():
    text = "🎉 https://example.com #launch @ann.bsky.social"
    link, tag, mention = facets(text, lambda handle: "did:plc:ann")
    assert link["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}]
    assert tag["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "launch"}]
    assert mention["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:ann"}]
    assert link["index"] == {"byteStart": 5, "byteEnd": 24}          # the emoji is 4 bytes, then a space


def test_record_keys_are_tids_fixed_per_delivery():
    first = delivery_rkey("delivery-1", NOW)
    assert TID_SHAPE.match(first) and first == delivery_rkey("delivery-1", NOW)
    assert first != delivery_rkey("delivery-2", NOW)
    assert tid(1, 0) < tid(2, 0) < tid(10**15, 0)                    # sortable by time
    assert len(tid(2**53 - 1, 1023)) == 13 and TID_SHAPE.match(tid(2**53 - 1, 1023))


def test_link_cards_read_the_pages_own_words():
    page = ('<html><head><title>Fallback</title><meta property="og:title" content="Spring &amp; sale">'
            '<meta name="description" content="Everything half price"></head></html>')
    assert card_from_html("https://shop.example/sale", page)["external"] == {
        "uri": "https://shop.example/sale", "title": "Spring & sale", "description": "Everything half price"}
    assert card_from_html("https://shop.example/x", "")["external"]["title"] == "https://shop.example/x"


# ---------------------------------------------------------------- publishing
def test_publish_creates_the_record_under_the_deliverys_key():
    saved: dict = {}
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): created(),
                          ("GET", "com.atproto.identity.resolveHandle"): httpx.Response(200, json={"did": "did:plc:ann"})},
                         link_cards=False)
    result = adapter.publish(CREDS, PublishRequest(content("🎉 Launch https://shop.example/sale with @ann.bsky.social"),
                                                   marker="delivery-1", checkpoint=saved.__setitem__,
                                                   options={"langs": ["en", "de"]}))
    call = fake.calls[-1]
    assert str(call.url) == f"{PDS}/xrpc/com.atproto.repo.createRecord"
    body = json.loads(call.content)
    assert (body["repo"], body["collection"], body["rkey"]) == (DID, "app.bsky.feed.post", saved["rkey"])
    assert TID_SHAPE.match(body["rkey"])
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post" and record["langs"] == ["en", "de"]
    assert record["createdAt"] == "2026-11-20T15:30:00.000Z" and "embed" not in record
    assert [sliced(record["text"], f) for f in record["facets"]] == ["https://shop.example/sale", "@ann.bsky.social"]
    assert result.external_id == f"at://{DID}/app.bsky.feed.post/3lbvvyxqmn22c"
    assert result.url == f"https://bsky.app/profile/outpost.bsky.social/post/{saved['rkey']}"


PUBLIC_IP = "93.184.215.14"


def with_dns(adapter, answers=None):
    """The card fetcher's name lookups, answered without DNS: every host is PUBLIC_IP unless `answers` says."""
    adapter.resolve_host = lambda host, port: (answers or {}).get(host, [PUBLIC_IP])
    return adapter


def posted_embed(fake):
    return json.loads(fake.calls[-1].content)["record"].get("embed")


def test_a_lone_link_gets_a_card_and_a_dead_page_does_not_stop_the_post():
    adapter, fake = make({("GET", "/sale"): httpx.Response(200, headers={"content-type": "text/html"},
                                                           text='<meta property="og:title" content="Sale">'),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("Now on https://shop.example/sale"), marker="d"))
    assert posted_embed(fake) == {
        "$type": "app.bsky.embed.external",
        "external": {"uri": "https://shop.example/sale", "title": "Sale", "description": ""}}
    page = fake.calls[0]                     # to the address that was checked, under the site's own name
    assert page.url.host == PUBLIC_IP and page.headers["host"] == "shop.example"
    assert page.extensions["sni_hostname"] == "shop.example"
    adapter, fake = make({("GET", "/sale"): httpx.ConnectError("no route"),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("Now on https://shop.example/sale"), marker="d"))
    assert posted_embed(fake) is None


@pytest.mark.parametrize("link, dns", [
    ("http://169.254.169.254/latest/meta-data/", None),              # the cloud metadata service
    ("http://10.0.0.7/admin", None),                                 # a private network address
    ("http://[::1]:8080/", None),                                    # this machine
    ("http://localhost:8501/", None),
    ("https://intranet.shop.example/wiki", {"intranet.shop.example": ["192.168.1.20"]}),   # a name for one
])
def test_a_card_is_never_fetched_from_a_private_address(link, dns):
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter, dns).publish(CREDS, PublishRequest(content(f"Read {link}"), marker="d"))
    assert fake.paths() == ["POST com.atproto.repo.createRecord"]     # the page was never asked for
    assert posted_embed(fake) is None                                 # and the post went out, without a card


def test_card_redirects_are_checked_again_and_bounded():
    hop = lambda where: httpx.Response(302, headers={"location": where})    # noqa: E731
    adapter, fake = make({("GET", "/go"): hop("http://169.254.169.254/latest/meta-data/iam"),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("See https://shop.example/go"), marker="d"))
    assert fake.paths() == ["GET /go", "POST com.atproto.repo.createRecord"] and posted_embed(fake) is None
    adapter, fake = make({("GET", "/a"): hop("/b"), ("GET", "/b"): hop("https://cdn.example/c"),
                          ("GET", "/c"): hop("/d"), ("GET", "/d"): hop("/e"),
                          ("GET", "/e"): httpx.Response(200, headers={"content-type": "text/html"},
                                                        text="<title>Too far</title>"),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("See https://shop.example/a"), marker="d"))
    assert fake.paths()[:-1] == ["GET /a", "GET /b", "GET /c", "GET /d"] and posted_embed(fake) is None
    adapter, fake = make({("GET", "/a"): hop("https://cdn.example/b"),
                          ("GET", "/b"): httpx.Response(200, headers={"content-type": "text/html"},
                                                        text="<title>Moved</title>"),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("See https://shop.example/a"), marker="d"))
    assert fake.calls[1].headers["host"] == "cdn.example" and posted_embed(fake)["external"]["title"] == "Moved"


def test_a_huge_page_is_read_only_up_to_the_cap():
    pulled = []

    def endless():
        yield b'<html><head><meta property="og:title" content="Big sale"></head><body>'
        for _ in range(10_000):                                       # 640 MB if read to the end
            pulled.append(1)
            yield b"x" * 65536

    adapter, fake = make({("GET", "/big"): lambda r: httpx.Response(200, headers={"content-type": "text/html"},
                                                                    content=endless()),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    with_dns(adapter).publish(CREDS, PublishRequest(content("See https://shop.example/big"), marker="d"))
    assert posted_embed(fake)["external"]["title"] == "Big sale"
    assert len(pulled) * 65536 <= 512 * 1024 + 65536


@pytest.mark.parametrize("text", [
    "Now on http://[::1/sale",                                        # httpx.InvalidURL (a broken IPv6 literal)
    "Now on https://shop\u00adsale.example/",                         # httpx.InvalidURL (a soft hyphen in the name)
    "Now on https://xn--/sale",                                       # idna's ValueError (a broken A-label)
])
def test_a_link_that_cannot_be_fetched_is_no_card_not_a_failed_post(text):
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): created()})
    result = with_dns(adapter).publish(CREDS, PublishRequest(content(text), marker="d"))
    assert result.external_id.endswith("/3lbvvyxqmn22c") and posted_embed(fake) is None


def test_in_sandbox_mode_the_emulator_serves_cards():
    emulator = "http://127.0.0.1:8765"
    fake = fake_pds({("GET", "/page"): httpx.Response(200, headers={"content-type": "text/html; charset=utf-8"},
                                                      text="<title>Sandbox page</title>"),
                     ("POST", f"/{SANDBOX_HOST}/xrpc/com.atproto.repo.createRecord"): created()})
    config = PlatformConfig(client_id="", host_overrides={f"https://{SANDBOX_HOST}": f"{emulator}/{SANDBOX_HOST}"})
    adapter = BlueskyAdapter(fake.client(), config, clock=lambda: NOW)
    adapter.publish(CREDS, PublishRequest(content(f"See {emulator}/page"), marker="d"))
    assert posted_embed(fake)["external"]["title"] == "Sandbox page"


def png(width: int, height: int) -> bytes:
    import io
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


def blob(cid: str, size: int) -> httpx.Response:
    return httpx.Response(200, json={"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png",
                                              "size": size}})


def test_images_are_uploaded_as_blobs_with_alt_text_and_aspect_ratio():
    first, second = png(1200, 800), png(600, 600)
    adapter, fake = make({("POST", "com.atproto.repo.uploadBlob"): [blob("bafkreione", len(first)),
                                                                    blob("bafkreitwo", len(second))],
                          ("POST", "com.atproto.repo.createRecord"): created()})
    saved: dict = {}
    adapter.publish(CREDS, PublishRequest(content("Two photos https://shop.example"), marker="d",
                                          checkpoint=saved.__setitem__,
                                          media=(MediaItem("https://cdn/a.png", data=first, alt_text="A shop front"),
                                                 MediaItem("https://cdn/b.png", data=second))))
    assert fake.paths() == ["POST com.atproto.repo.uploadBlob", "POST com.atproto.repo.uploadBlob",
                            "POST com.atproto.repo.createRecord"]              # images: no link card fetched
    upload = fake.calls[0]
    assert upload.headers["content-type"] == "image/png" and upload.content == first
    embed = json.loads(fake.calls[-1].content)["record"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [(i["image"]["ref"]["$link"], i["alt"], i["aspectRatio"]) for i in embed["images"]] == [
        ("bafkreione", "A shop front", {"width": 1200, "height": 800}),
        ("bafkreitwo", "", {"width": 600, "height": 600})]
    assert json.loads(saved["blob:0"])["image"]["ref"]["$link"] == "bafkreione"


def test_an_image_link_is_downloaded_the_safe_way():
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): created()})
    with pytest.raises(Rejected, match="private network address") as info:       # before: fetched, whatever it was
        adapter.publish(CREDS, PublishRequest(content("A picture"), media=(MediaItem("http://10.0.0.9/a.png"),)))
    assert info.value.code == "media_private_address" and fake.calls == []
    image = png(40, 30)
    adapter, fake = make({("GET", "/a.png"): httpx.Response(200, headers={"content-type": "image/png"}, content=image),
                          ("POST", "com.atproto.repo.uploadBlob"): blob("bafkreione", len(image)),
                          ("POST", "com.atproto.repo.createRecord"): created()})
    picture = (MediaItem("https://cdn.example/a.png"),)
    with_dns(adapter).publish(CREDS, PublishRequest(content("A picture"), media=picture))
    assert fake.calls[0].url.host == PUBLIC_IP and fake.calls[1].content == image


def test_video_is_refused_before_any_call():
    adapter, fake = make({})
    with pytest.raises(Rejected, match="cannot post videos to Bluesky yet"):
        adapter.publish(CREDS, PublishRequest(content(), media=(MediaItem("clip.mp4", kind="video", data=b"v"),)))
    assert fake.calls == []


@pytest.mark.parametrize("record_answer, paths", [
    # the lost attempt did create it: found by its key, nothing is posted again
    (httpx.Response(200, json={"uri": f"at://{DID}/app.bsky.feed.post/3lbvvyxqmn22c", "cid": "bafyreiabc",
                               "value": {"text": "Hello Bluesky"}}), ["GET com.atproto.repo.getRecord"]),
    # it did not: create it, under the same key
    (NOT_FOUND, ["GET com.atproto.repo.getRecord", "POST com.atproto.repo.createRecord"]),
])
def test_a_retry_looks_for_its_own_key_first(record_answer, paths):
    adapter, fake = make({("GET", "com.atproto.repo.getRecord"): record_answer,
                          ("POST", "com.atproto.repo.createRecord"): created()})
    result = adapter.publish(CREDS, PublishRequest(content(), marker="d", progress={"rkey": "3lbvvyxqmn22c"}))
    assert fake.paths() == paths and result.external_id.endswith("/3lbvvyxqmn22c")
    assert fake.calls[0].url.params["rkey"] == "3lbvvyxqmn22c"
    if len(paths) == 2:
        assert json.loads(fake.calls[1].content)["rkey"] == "3lbvvyxqmn22c"


def test_a_taken_key_answered_with_500_is_our_own_post():
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): xrpc(500, "InternalServerError",
                                                                          "Internal Server Error"),
                          ("GET", "com.atproto.repo.getRecord"): httpx.Response(200, json={
                              "uri": f"at://{DID}/app.bsky.feed.post/k", "cid": "c", "value": {}})})
    result = adapter.publish(CREDS, PublishRequest(content(), marker="d"))
    assert result.external_id == f"at://{DID}/app.bsky.feed.post/k"
    assert fake.paths() == ["POST com.atproto.repo.createRecord", "GET com.atproto.repo.getRecord"]


def test_a_pds_that_refuses_our_key_chooses_its_own_and_we_reconcile_by_listing():
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): [
        xrpc(400, "InvalidRequest", "Custom rkeys for posts are not currently supported"), created("3lpdschosen2")]})
    saved: dict = {}
    result = adapter.publish(CREDS, PublishRequest(content(), marker="d", checkpoint=saved.__setitem__))
    first, second = (json.loads(c.content) for c in fake.calls)
    assert "rkey" in first and "rkey" not in second
    assert result.url.endswith("/post/3lpdschosen2") and saved["rkey"] == ""
    adapter, fake = make({("POST", "com.atproto.repo.createRecord"): created("3lpdschosen3")})
    adapter.publish(CREDS, PublishRequest(content(), marker="d", progress={"rkey": ""}))    # a later delivery retry
    assert fake.paths() == ["POST com.atproto.repo.createRecord"] and "rkey" not in json.loads(fake.calls[0].content)


class Repo:
    """A PDS that picks its own keys: createRecord stores the post, then may answer 5xx; listRecords shows it."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.records: list[dict] = []

    def create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "rkey" in body:
            return xrpc(400, "InvalidRequest", "Custom rkeys for posts are not currently supported")
        rkey = f"3lpds{len(self.records):08d}"
        self.records.insert(0, {"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": "c", "value": body["record"]})
        return (self.answers.pop(0) if self.answers else None) or created(rkey)

    def routes(self) -> dict:
        return {("POST", "com.atproto.repo.createRecord"): self.create,
                ("GET", "com.atproto.repo.listRecords"): lambda r: httpx.Response(200, json={"records": self.records})}


@pytest.mark.parametrize("progress", [{"rkey": ""}, {}])      # a later attempt, or the first one meeting the refusal
@pytest.mark.parametrize("answer", [xrpc(500, "InternalServerError", "Internal Server Error"),
                                    xrpc(502, "UpstreamFailure", "Upstream Failure")])
def test_a_5xx_without_our_own_key_is_reconciled_into_one_post(progress, answer):
    repo = Repo([answer])
    adapter, fake = make(repo.routes())
    request = PublishRequest(content("Doors open at nine"), marker="d", progress=progress)
    with pytest.raises(OutcomeUnknown) as info:                # before: RetryLater, and the retry posted again
        adapter.publish(CREDS, request)
    assert info.value.http_status == answer.status_code
    found = adapter.find_published(CREDS, PublishRequest(content("Doors open at nine"), progress={"rkey": ""}),
                                   since=NOW - timedelta(minutes=5))
    assert found is not None and found.external_id == repo.records[0]["uri"]
    assert len(repo.records) == 1                              # one post, found, not made again


def image_record(rkey: str, cid: str, alt: str = "", text: str = "", made: str = "2026-11-20T15:30:01.000Z") -> dict:
    return {"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": "c",
            "value": {"text": text, "createdAt": made, "embed": {"$type": "app.bsky.embed.images", "images": [
                {"image": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": 9}, "alt": alt}]}}}


def listing_of(*records) -> dict:
    return {("GET", "com.atproto.repo.listRecords"): httpx.Response(200, json={"records": list(records)})}


OUR_BLOB = json.dumps({"image": {"$type": "blob", "ref": {"$link": "bafkreiours"}, "mimeType": "image/png",
                                 "size": 9}, "alt": "A shop front"})


def test_a_media_only_post_is_not_taken_for_another_media_only_post():
    picture = (MediaItem("https://cdn/a.png", data=b"PNG", alt_text="A shop front"),)
    request = PublishRequest(content(""), media=picture, progress={"rkey": "", "blob:0": OUR_BLOB})
    since = NOW - timedelta(minutes=5)
    # Someone else's picture, alt text and all, went out after the attempt; ours (blob bafkreiours) did not.
    adapter, _ = make(listing_of(image_record("3l9", "bafkreiother", "A shop front")))
    assert adapter.find_published(CREDS, request, since=since) is None       # before: marked published, unsent
    adapter, _ = make(listing_of(image_record("3l9", "bafkreiother", "A shop front"),
                                 image_record("3l8", "bafkreiours", "A shop front")))
    assert adapter.find_published(CREDS, request, since=since).external_id.endswith("/3l8")
    # Without the blob saved, a look-alike cannot be told apart: a person decides.
    adapter, _ = make(listing_of(image_record("3l9", "bafkreiother", "A shop front")))
    with pytest.raises(Rejected, match="cannot tell") as info:
        adapter.find_published(CREDS, PublishRequest(content(""), media=picture, progress={"rkey": ""}), since=since)
    assert info.value.code == "ambiguous"


@pytest.mark.parametrize("record", [
    image_record("3l9", "bafkreiours", "A dog", text="Hello Bluesky"),                  # other alt text
    {"uri": f"at://{DID}/app.bsky.feed.post/3l9", "cid": "c",                           # no picture at all
     "value": {"text": "Hello Bluesky", "createdAt": "2026-11-20T15:30:01.000Z"}},
])
def test_the_same_words_with_other_pictures_are_not_this_post(record):
    adapter, _ = make(listing_of(record))
    picture = (MediaItem("https://cdn/a.png", data=b"PNG", alt_text="A shop front"),)
    assert adapter.find_published(CREDS, PublishRequest(content(), media=picture), since=NOW - timedelta(minutes=5)) \
        is None


@pytest.mark.parametrize("made, found", [("2026-11-20T15:30:01", True), ("2026-11-20T15:00:00.000", False),
                                         ("not a time", False)])
def test_a_created_at_without_a_zone_is_read_as_utc(made, found):
    listing = {"records": [{"uri": f"at://{DID}/app.bsky.feed.post/3l1", "cid": "c1",
                            "value": {"text": "Hello Bluesky", "createdAt": made}}]}
    adapter, _ = make({("GET", "com.atproto.repo.listRecords"): httpx.Response(200, json=listing)})
    # before: TypeError (naive vs aware), which crashed the reconciliation
    result = adapter.find_published(CREDS, PublishRequest(content()), since=NOW - timedelta(minutes=1))
    assert (result is not None) is found


# ---------------------------------------------------------------- reconciliation
def test_find_published_by_key_is_exact():
    adapter, fake = make({("GET", "com.atproto.repo.getRecord"): NOT_FOUND})
    assert adapter.find_published(CREDS, PublishRequest(content(), progress={"rkey": "3lbvvyxqmn22c"}),
                                  since=NOW) is None
    assert fake.paths() == ["GET com.atproto.repo.getRecord"]


@pytest.mark.parametrize("made, found", [("2026-11-20T15:30:01.000Z", True), ("2026-11-20T15:00:00.000Z", False)])
def test_find_published_without_a_key_lists_recent_posts(made, found):
    listing = {"records": [{"uri": f"at://{DID}/app.bsky.feed.post/3l2", "cid": "c2",
                            "value": {"text": "Something else", "createdAt": made}},
                           {"uri": f"at://{DID}/app.bsky.feed.post/3l1", "cid": "c1",
                            "value": {"text": "Hello   Bluesky", "createdAt": made}}]}
    adapter, fake = make({("GET", "com.atproto.repo.listRecords"): httpx.Response(200, json=listing)})
    result = adapter.find_published(CREDS, PublishRequest(content()), since=NOW - timedelta(minutes=1))
    assert (result is not None) is found
    if found:
        assert result.external_id.endswith("/3l1") and result.url.endswith("/post/3l1")
    assert fake.calls[0].url.params["collection"] == "app.bsky.feed.post"


# ---------------------------------------------------------------- metrics
def test_post_metrics_are_batched_twenty_five_at_a_time():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"posts": [{"uri": u, "cid": "c", "likeCount": 5, "repostCount": 2,
                                                    "replyCount": 1, "quoteCount": 1}
                                                   for u in request.url.params.get_list("uris")]})

    adapter, fake = make({("GET", "app.bsky.feed.getPosts"): answer})
    uris = [f"at://{DID}/app.bsky.feed.post/{n}" for n in range(30)]
    metrics = adapter.post_metrics(CREDS, uris)
    assert [len(c.url.params.get_list("uris")) for c in fake.calls] == [25, 5]
    assert set(metrics) == set(uris)
    assert metrics[uris[0]].values == {"likes": 5, "comments": 1, "shares": 3}
    assert metrics[uris[0]].raw == {"likeCount": 5, "repostCount": 2, "replyCount": 1, "quoteCount": 1}


def test_account_metrics_and_profile():
    profile = {"did": DID, "handle": "outpost.bsky.social", "displayName": "Outpost", "followersCount": 77,
               "followsCount": 3, "postsCount": 12}
    adapter, fake = make({("GET", "app.bsky.actor.getProfile"): httpx.Response(200, json=profile)})
    assert adapter.account_metrics(CREDS).followers == 77
    assert fake.calls[0].url.params["actor"] == DID
    found = adapter.fetch_profile(TokenSet("access", extra={"did": DID, "handle": "outpost.bsky.social", "pds": PDS}))
    assert (found.external_id, found.handle, found.display_name) == (DID, "@outpost.bsky.social", "Outpost")
    assert found.meta == {"username": "outpost.bsky.social", "did": DID, "pds": PDS}


# ---------------------------------------------------------------- threads on a PDS that chooses its own keys
def keyless_pds(made: list, listed: list, reply_answers: list):
    """A PDS that refuses client-chosen keys; each reply's createRecord takes the next of `reply_answers`
    (an error response, or None: made); `listed` is what listRecords shows."""
    def create(request):
        body = json.loads(request.content)
        if "rkey" in body:
            return xrpc(400, "InvalidRequest", "Custom rkeys for posts are not currently supported")
        record = body["record"]
        if "reply" in record and reply_answers:
            answer = reply_answers.pop(0)
            if answer is not None:
                if answer.status_code == 502:        # applied, then the gateway lost the answer
                    made.append(record["text"])
                    listed.append(record)
                return answer
        made.append(record["text"])
        listed.append(record)
        return created(f"3lpds{len(made):08d}")

    def records(request):
        return httpx.Response(200, json={"records": [
            {"uri": f"at://{DID}/app.bsky.feed.post/3lpds{i + 1:08d}", "cid": f"bafyrei{i}", "value": value}
            for i, value in reversed(list(enumerate(listed)))]})
    return {("POST", "com.atproto.repo.createRecord"): create, ("GET", "com.atproto.repo.listRecords"): records,
            ("GET", "com.atproto.repo.getRecord"): NOT_FOUND}


def run_thread(adapter, progress: dict, texts=("second part",)):
    request = PublishRequest(content("Main post"), marker="d", progress=dict(progress),
                             checkpoint=progress.__setitem__, options={"thread": list(texts)})
    return adapter.publish_post(CREDS, request)


@pytest.mark.parametrize("lost", [xrpc(429, "RateLimitExceeded", "Rate Limit Exceeded"),
                                  xrpc(502, "UpstreamFailure", "Upstream Failure")])
def test_a_retry_of_a_thread_never_makes_its_first_post_again(lost):
    """The reviewer's case: a PDS without our keys, the reply limited or lost; the retry (same saved progress)
    goes on from the saved first post. Before: the first post was made a second time."""
    made, listed = [], []
    clock = [NOW]
    adapter, fake = make(keyless_pds(made, listed, [lost]))
    adapter.clock = lambda: clock[0]
    progress: dict = {}
    with pytest.raises((RetryLater, OutcomeUnknown)):
        run_thread(adapter, progress)
    assert progress["rkey"] == "" and progress["post:id"] and progress["reply_rkey:1"] == ""
    clock[0] = NOW + timedelta(minutes=3)      # past the settle window and the listing lag
    result = run_thread(adapter, progress)
    assert made == ["Main post", "second part"]                  # each once
    assert result.external_id == progress["post:id"] and result.extra["thread_ids"][1] == progress["reply:1"]


def test_a_lost_reply_without_our_key_is_in_doubt_until_the_wait_is_over_then_sent_once():
    made, listed = [], []
    clock = [NOW]
    adapter, fake = make(keyless_pds(made, listed, [xrpc(503, "NotEnoughResources", "Service Unavailable")]))
    adapter.clock = lambda: clock[0]
    progress: dict = {}
    with pytest.raises(OutcomeUnknown):
        run_thread(adapter, progress)
    assert progress["reply_sent:1"] and not progress.get("reply:1")
    clock[0] = NOW + timedelta(minutes=1)      # it may still land, or not be listed yet: nothing is sent
    with pytest.raises(OutcomeUnknown, match="does not show it yet") as info:
        run_thread(adapter, progress)
    assert info.value.code == "reply_in_doubt" and made == ["Main post"]
    clock[0] = NOW + timedelta(minutes=3)
    run_thread(adapter, progress)
    assert made == ["Main post", "second part"]
    reply = json.loads(fake.of("POST")[-1].content)
    assert "rkey" not in reply and reply["record"]["reply"]["root"]["uri"] == progress["post:id"]

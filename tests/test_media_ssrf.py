"""A post's media link never reaches the runner's own network, on any platform.

Adapters that upload bytes (X, LinkedIn, YouTube, Mastodon, Bluesky) download the link through the one
safe fetch (core.media.fetch, via PlatformAdapter.download_media): a link on a loopback, private or cloud
metadata address, written out or behind a public-looking name, is refused before any connection, and the
delivery fails with that reason. Adapters whose platform pulls the file itself (Facebook, Instagram,
Threads, TikTok) hand the link to the platform and never fetch it. Each adapter runs on the shared fake
transport (tests.platform_harness), which would serve the file to anyone who asked, so a missing guard shows up
as a request to the media host.
"""
from __future__ import annotations

import ast
import io
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pytest
from PIL import Image

import core.platforms
from core import Account, InMemoryPostStore, Platform, Post, Schedule, Scheduler
from core.domain import RenderedContent
from core.domain.errors import PlatformError
from core.domain.lifecycle import DeliveryState, PostStatus
from core.platforms.base import Credentials, MediaItem, PlatformAdapter, PlatformConfig, PublishRequest
from core.platforms.bluesky import BlueskyAdapter
from core.platforms.facebook import FacebookAdapter
from core.platforms.instagram import InstagramAdapter
from core.platforms.linkedin import LinkedInAdapter
from core.platforms.mastodon import MastodonAdapter
from core.platforms.threads import ThreadsAdapter
from core.platforms.tiktok import TikTokAdapter
from core.platforms.x import XAdapter
from core.platforms.youtube import YouTubeAdapter
from core.services.publisher import Publisher
from tests.platform_harness import FakePlatform

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
NAME = "cdn.example.com"      # a public-looking name; the test's resolver says where it points


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def mp4() -> bytes:
    def box(kind: bytes, payload: bytes = b"") -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov") + box(b"mdat", b"\x00" * 64)


def media_host_or_500(request: httpx.Request) -> httpx.Response:
    """What no route answers: the media host serves the file to anyone who asks; the platform answers a 500."""
    if request.url.path.startswith("/m/") or request.url.path.startswith("/latest/"):
        body, kind = (mp4(), "video/mp4") if request.url.path.endswith(".mp4") else (png(), "image/png")
        return httpx.Response(200, headers={"content-type": kind}, content=body)
    return httpx.Response(500, json={"error": {"message": "not scripted"}})


def recorder(routes: dict | None = None) -> FakePlatform:
    """Answers every request (the media host included: it would serve the file) and remembers each one."""
    return FakePlatform(routes, not_routed=media_host_or_500)


def hosts(fake: FakePlatform) -> set[str]:
    return {r.url.host for r in fake.calls} | {r.headers.get("host", "").split(":")[0] for r in fake.calls}


def bodies(fake: FakePlatform) -> str:
    return " ".join(unquote_plus(str(r.url) + " " + r.content.decode("utf-8", "replace")) for r in fake.calls)


def adapter(cls: type[PlatformAdapter], fake: FakePlatform, resolves_to: str | None = None, **options):
    made = cls(fake.client(),
               PlatformConfig(client_id="id", client_secret="secret", redirect_uri="https://outpost.test/cb",
                              options=options), clock=lambda: T0, sleep=lambda s: None)
    looked_up: list[str] = []

    def resolve_host(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return [resolves_to] if resolves_to else []
    made.resolve_host = resolve_host
    return made, looked_up


# ---------------------------------------------------------------- adapters that download the link themselves
DID = "did:plc:ssrf"
DOWNLOADERS = {
    # platform: (adapter, the account's external id and meta, file name: YouTube takes only videos)
    Platform.X: (XAdapter, "2244994945", {"username": "outpost"}, "a.png"),
    Platform.LINKEDIN: (LinkedInAdapter, "urn:li:person:abc", {"author": "urn:li:person:abc"}, "a.png"),
    Platform.YOUTUBE: (YouTubeAdapter, "UC1", {}, "a.mp4"),
    Platform.MASTODON: (MastodonAdapter, "109876543210", {}, "a.png"),
    Platform.BLUESKY: (BlueskyAdapter, DID, {"username": "outpost.bsky.social", "did": DID,
                                             "pds": "https://pds.example.com"}, "a.png"),
}

BAD_LINKS = [
    # (link, where a public-looking name resolves, the reason the post fails with)
    ("http://127.0.0.1/m/{file}", None, "this server's own address"),                     # loopback
    ("http://[::1]/m/{file}", None, "this server's own address"),                         # IPv6 loopback
    ("http://10.0.0.7/m/{file}", None, "a private network address"),                      # the office network
    ("http://169.254.169.254/latest/meta-data/{file}", None, "a cloud metadata address"),  # cloud credentials
    ("https://" + NAME + "/m/{file}", "127.0.0.1", "this server's own address"),          # DNS pointing home
    ("https://" + NAME + "/m/{file}", "::1", "this server's own address"),                # ... over IPv6
    ("https://" + NAME + "/m/{file}", "10.1.2.3", "a private network address"),           # ... to the LAN
    ("https://" + NAME + "/m/{file}", "169.254.169.254", "a cloud metadata address"),     # ... to the metadata
]


def publish_due_post(platform: Platform, made: PlatformAdapter, link: str):
    """Schedule a post with `link` for one account, let the publisher run it, return (delivery, post status)."""
    cls, external_id, meta, _ = DOWNLOADERS[platform]
    now = [T0 - timedelta(hours=1)]
    store = InMemoryPostStore()
    account = Account(platform=platform, handle="@outpost", oauth_token="token", external_id=external_id, meta=meta)
    post = Post(account=account, caption="Spring sale starts today", title="Spring sale", media_urls=[link],
                schedule=Schedule(scheduled_at=T0))
    Scheduler(store, clock=lambda: now[0]).schedule_post("post-1", post)
    now[0] = T0
    [claimed] = store.claim_due(T0, runner_id="runner", lease_until=T0 + timedelta(minutes=2))
    done = Publisher(store, lambda p: made, runner_id="runner", clock=lambda: now[0]).run(claimed)
    return done, Scheduler(store, clock=lambda: now[0]).status("post-1").status


@pytest.mark.parametrize("link, resolves_to, reason", BAD_LINKS)
@pytest.mark.parametrize("platform", list(DOWNLOADERS), ids=str)
def test_a_media_link_on_the_runners_network_fails_the_post_before_any_connection(platform, link, resolves_to,
                                                                                   reason):
    cls, _, _, file = DOWNLOADERS[platform]
    link = link.format(file=file)
    fake = recorder()
    made, looked_up = adapter(cls, fake, resolves_to, instance="https://mastodon.example.com")
    delivery, status = publish_due_post(platform, made, link)
    assert delivery.state == DeliveryState.FAILED and status == PostStatus.FAILED   # for good: no retry
    assert delivery.last_error_code == "media_private_address"
    assert reason in delivery.last_error and platform.label in delivery.last_error
    media_host = httpx.URL(link).host
    assert hosts(fake).isdisjoint({media_host, resolves_to, NAME})   # nothing was sent to the media host
    assert looked_up == ([NAME] if resolves_to else [])                    # an address written out: not even DNS


# ---------------------------------------------------------------- adapters whose platform pulls the link
PULLERS = {
    # platform: (adapter, credentials, routes that get the link as far as the platform's API)
    Platform.FACEBOOK: (FacebookAdapter, Credentials("user-token", external_id="1234",
                                                     secrets={"page_access_token": "page-token"}), {}),
    Platform.INSTAGRAM: (InstagramAdapter, Credentials("ig-token", external_id="17841400000000000"), {}),
    Platform.THREADS: (ThreadsAdapter, Credentials("th-token", external_id="1789"), {}),
    Platform.TIKTOK: (TikTokAdapter, Credentials("act.token", external_id="open-1"), {
        ("POST", "/v2/post/publish/creator_info/query/"): httpx.Response(200, json={
            "data": {"creator_username": "outpost", "privacy_level_options": ["PUBLIC_TO_EVERYONE"]},
            "error": {"code": "ok", "message": ""}})}),
}
METADATA_LINK = "http://169.254.169.254/latest/meta-data/{file}"


@pytest.mark.parametrize("file, kind", [("a.jpg", "image"), ("a.mp4", "video")])
@pytest.mark.parametrize("platform", list(PULLERS), ids=str)
def test_platforms_that_pull_media_get_the_link_and_outpost_never_fetches_it(platform, file, kind):
    cls, creds, routes = PULLERS[platform]
    link = METADATA_LINK.format(file=file)
    fake = recorder(routes)
    made, looked_up = adapter(cls, fake)
    content = RenderedContent(platform=platform, text="Spring sale", caption="Spring sale", hashtags=(),
                              media_urls=(link,), link="", title="Spring sale")
    with pytest.raises(PlatformError):          # the fake platform answers 500 once it has the link
        made.publish(creds, PublishRequest(content, media=(MediaItem(link, kind=kind),)))
    assert "169.254.169.254" not in hosts(fake) and looked_up == []
    assert link in bodies(fake)            # handed to the platform, whose servers fetch it


def test_every_platform_is_in_one_of_the_tables():
    assert set(DOWNLOADERS) | set(PULLERS) == set(Platform)
    assert not set(DOWNLOADERS) & set(PULLERS)


def test_adapters_reach_the_network_only_through_the_base():
    # The base's request() is the platform chokepoint and download_media the safe fetch; an adapter that
    # called its httpx client (or httpx) directly could fetch a user's link around the guard.
    root = Path(core.platforms.__file__).parent
    for platform in Platform:
        cls = (DOWNLOADERS.get(platform) or PULLERS[platform])[0]
        path = root / (cls.__module__.rsplit(".", 1)[-1] + ".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "client":
                pytest.fail(f"{path.name}:{node.lineno} calls self.client.{node.attr} around the chokepoint")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "httpx" \
                    and node.attr in ("get", "post", "put", "stream", "request", "Client", "AsyncClient"):
                pytest.fail(f"{path.name}:{node.lineno} uses httpx.{node.attr} directly")

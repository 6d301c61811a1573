"""The Instagram adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.instagram import InstagramAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
REDIRECT = "http://localhost:8501/oauth/callback"


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(port=0, seed=7) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def adapter(emu):
    client = httpx.Client(timeout=10)
    config = sandbox_config(InstagramAdapter, emu.url, REDIRECT)
    # The emulator's clock is the adapter's clock, and waiting moves it: polling costs no real time.
    yield InstagramAdapter(client, config, clock=lambda: datetime.fromtimestamp(emu.now(), timezone.utc),
                           sleep=emu.advance)
    client.close()


def consent(emu, adapter, handle: str) -> dict[str, str]:
    """Open the authorize URL, press Allow on the sandbox consent form, read the redirect's query."""
    location = press_on_consent_page(adapter.authorization_url(state=f"state-{handle}"), handle=handle)
    assert location.startswith(REDIRECT)
    return query_of(location)


@pytest.fixture(scope="module")
def account(emu, adapter):
    query = consent(emu, adapter, "outpost_bakery")
    assert query["state"] == "state-outpost_bakery"
    token = adapter.exchange_code(query["code"])
    profile = adapter.fetch_profile(token)
    creds = Credentials(access_token=token.access_token, external_id=profile.external_id,
                        issued_at=token.issued_at, expires_at=token.expires_at)
    return token, profile, creds


def media(emu, name: str) -> str:
    return f"{emu.url}/_media/{name}"


def post(text: str, items, **options) -> tuple[PublishRequest, dict]:
    saved: dict[str, str] = {}
    content = RenderedContent(platform=Platform.INSTAGRAM, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    return PublishRequest(content=content, media=tuple(items), options=options, checkpoint=saved.__setitem__), saved


def test_connect(account, adapter):
    token, profile, _ = account
    assert token.access_token and token.refresh_token is None
    assert token.expires_at - token.issued_at == timedelta(days=60)          # the long-lived token
    assert adapter.missing_scopes(token) == ()
    assert profile.handle == "outpost_bakery" and profile.external_id == token.extra["user_id"]


def test_publish_every_kind_then_read_metrics(emu, adapter, account):
    _, profile, creds = account
    jpg = media(emu, "sample.jpg?w=1080&h=1350")
    cases = [
        post("Morning loaves #bread", [MediaItem(jpg, alt_text="Loaves")]),                      # image
        post("Three ways to eat a croissant",                                                    # carousel
             [MediaItem(jpg), MediaItem(media(emu, "sample.jpg?w=1080&h=1080")),
              MediaItem(media(emu, "sample.mp4?seconds=5"), kind="video")]),
        post("Shaping the dough", [MediaItem(media(emu, "sample.mp4?seconds=8&w=720&h=1280"), kind="video")]),  # reel
        post("", [MediaItem(media(emu, "sample.jpg?w=1080&h=1920"))], ig_media_type="STORIES"),   # story
    ]
    results = [adapter.publish(creds, request) for request, _ in cases]
    ids = [r.external_id for r in results]
    assert len(set(ids)) == 4 and all(r.url and r.url.startswith("https://www.instagram.com/") for r in results)
    published = emu.posts("instagram", profile.external_id)
    assert [p["external_id"] for p in published][-4:] == ids
    assert all(saved["ig_media"] == r.external_id for (_, saved), r in zip(cases, results))

    emu.advance(6 * 3600)                                                    # let the insights grow
    metrics = adapter.post_metrics(creds, ids)
    assert set(metrics) == set(ids)
    assert metrics[ids[0]].values.keys() == {"views", "reach", "saves", "likes", "comments", "shares"}
    assert metrics[ids[3]].values.keys() == {"views", "reach", "shares"}    # a story has the smaller set
    assert adapter.account_metrics(creds).followers >= 0


def test_a_lost_publish_answer_is_reconciled_not_reposted(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    request, saved = post("Lost answer, one post", [MediaItem(media(emu, "sample.jpg?w=1080&h=1350"))])
    before = len(emu.posts("instagram", profile.external_id))
    emu.add_fault(kind="lost_response", platform="instagram", path="/media_publish", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, request)
    finally:
        emu.clear_faults()
    retry = PublishRequest(content=request.content, media=request.media, progress=dict(saved),
                           checkpoint=saved.__setitem__)
    with pytest.raises(OutcomeUnknown):                                      # the container says PUBLISHED
        adapter.publish(creds, retry)
    found = adapter.find_published(creds, retry, since=since)
    published = emu.posts("instagram", profile.external_id)
    assert len(published) == before + 1 and found.external_id == published[-1]["external_id"]


def test_a_text_only_post_is_refused_before_any_call(adapter, account):
    with pytest.raises(Exception, match="no text-only posts"):
        adapter.publish(account[2], post("Just words", [])[0])


def test_refresh_waits_for_the_24_hour_rule(emu, adapter):
    query = consent(emu, adapter, "outpost_refresh")
    token = adapter.exchange_code(query["code"])
    creds = Credentials(access_token=token.access_token, issued_at=token.issued_at, expires_at=token.expires_at)
    assert not adapter.can_refresh(creds)
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(creds)
    emu.advance(25 * 3600)
    assert adapter.can_refresh(creds)
    before = adapter.clock()
    fresh = adapter.refresh(creds)
    after = adapter.clock()
    assert fresh.access_token != token.access_token
    assert before <= fresh.expires_at - timedelta(days=60) <= after          # 60 days from when it was refreshed
    assert adapter.fetch_profile(fresh).handle == "outpost_refresh"


def test_a_lost_story_answer_is_reconciled(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    request, saved = post("", [MediaItem(media(emu, "sample.jpg?w=1080&h=1920"))], ig_media_type="STORIES")
    emu.add_fault(kind="lost_response", platform="instagram", path="/media_publish", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, request)
    finally:
        emu.clear_faults()
    retry = PublishRequest(content=request.content, media=request.media, options=request.options,
                           progress=dict(saved))
    found = adapter.find_published(creds, retry, since=since)
    assert found.external_id == emu.posts("instagram", profile.external_id)[-1]["external_id"]

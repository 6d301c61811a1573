"""The Facebook Page adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, Rejected
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.facebook import FacebookAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
REDIRECT = "http://localhost:8501/oauth/callback"


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(port=0, seed=8) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def adapter(emu):
    client = httpx.Client(timeout=10)
    config = sandbox_config(FacebookAdapter, emu.url, REDIRECT)
    yield FacebookAdapter(client, config, clock=lambda: datetime.fromtimestamp(emu.now(), timezone.utc),
                          sleep=emu.advance)
    client.close()


@pytest.fixture(scope="module")
def account(emu, adapter):
    """Connect through the consent page: authorize URL -> Allow -> redirect with code and state -> tokens."""
    query = query_of(press_on_consent_page(adapter.authorization_url(state="fb-state-1"), handle="outpost_bakery"))
    assert query["state"] == "fb-state-1"
    token = adapter.exchange_code(query["code"])
    profile = adapter.fetch_profile(token)
    creds = Credentials(access_token=token.access_token, external_id=profile.external_id,
                        expires_at=token.expires_at, issued_at=token.issued_at, meta=dict(profile.meta))
    return token, profile, creds


def post(text: str, items=(), link: str = "") -> PublishRequest:
    content = RenderedContent(platform=Platform.FACEBOOK, text=text, caption=text, hashtags=(), media_urls=(),
                              link=link, title=None)
    return PublishRequest(content=content, media=tuple(items))


def test_connect(account, adapter):
    token, profile, _ = account
    assert token.expires_at - token.issued_at > timedelta(days=59)          # the long-lived user token
    assert adapter.missing_scopes(token) == ()
    assert profile.meta["page_access_token"] and profile.meta["page_access_token"] != token.access_token
    assert profile.meta["pages"] == [{"id": profile.external_id, "name": profile.display_name}]


def test_publish_every_kind_then_read_metrics(emu, adapter, account):
    _, profile, creds = account
    jpg = f"{emu.url}/_media/sample.jpg?w=1080&h=1080"
    requests = [
        post("Open until 6 today"),                                                            # text
        post("Our new menu", link="https://bakery.example/menu"),                              # link
        post("Rye, fresh from the oven", [MediaItem(jpg)]),                                   # one photo
        post("The whole counter", [MediaItem(jpg), MediaItem(f"{emu.url}/_media/sample.png")]),  # several photos
        post("How we fold croissants", [MediaItem(f"{emu.url}/_media/sample.mp4?seconds=6", kind="video")]),  # video
    ]
    results = [adapter.publish(creds, r) for r in requests]
    ids = [r.external_id for r in results]
    assert all(r.url and r.url.startswith("https://www.facebook.com/") for r in results)
    assert [p["external_id"] for p in emu.posts("facebook", profile.external_id)] == ids
    assert "_" not in ids[4] and all("_" in i for i in ids[:4])                # a video answers with its own id

    emu.advance(6 * 3600)
    metrics = adapter.post_metrics(creds, ids)
    assert set(metrics) == set(ids)
    assert {"views", "reach", "likes", "clicks"} <= metrics[ids[0]].values.keys()
    assert {"video_views", "views", "likes"} <= metrics[ids[4]].values.keys()
    assert adapter.account_metrics(creds).followers >= 0


def test_a_duplicate_is_rejected_for_good(adapter, account):
    creds = account[2]
    adapter.publish(creds, post("Closed on Monday"))
    with pytest.raises(Rejected) as info:
        adapter.publish(creds, post("Closed on Monday"))
    assert info.value.code == "506"


def test_a_lost_answer_is_reconciled(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    emu.add_fault(kind="lost_response", platform="facebook", path="/feed", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, post("Sourdough class on Saturday"))
    finally:
        emu.clear_faults()
    found = adapter.find_published(creds, post("Sourdough class on Saturday"), since=since)
    assert found is not None and found.external_id == emu.posts("facebook", profile.external_id)[-1]["external_id"]
    assert adapter.find_published(creds, post("Never posted"), since=since) is None


def test_refresh_re_exchanges_the_user_token(emu, adapter, account):
    token, profile, creds = account
    emu.advance(24 * 3600)
    fresh = adapter.refresh(creds)
    assert fresh.access_token != token.access_token and fresh.expires_at > token.expires_at
    assert adapter.fetch_profile(fresh).external_id == profile.external_id


def test_a_lost_video_answer_is_reconciled(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    video = post("Proofing, sped up", [MediaItem(f"{emu.url}/_media/sample.mp4?seconds=4", kind="video")])
    emu.add_fault(kind="lost_response", platform="facebook", path="/videos", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, video)
    finally:
        emu.clear_faults()
    found = adapter.find_published(creds, video, since=since)
    assert found.external_id == emu.posts("facebook", profile.external_id)[-1]["external_id"]

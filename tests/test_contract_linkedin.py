"""The LinkedIn adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import ReconnectNeeded, Rejected, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.linkedin import LinkedInAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
REDIRECT = "https://outpost.example/oauth/callback"
DAY = 86400


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=11) as emulator:
        yield emulator


@pytest.fixture
def li(emu):
    """A reset emulator and a factory of adapters pointed at it (sleeping moves the emulator clock)."""
    emu.reset(clock=True)
    clients = []

    def make(**options) -> LinkedInAdapter:
        client = httpx.Client(timeout=10, trust_env=False)
        clients.append(client)
        config = sandbox_config(LinkedInAdapter, emu.url, REDIRECT, options=options)
        return LinkedInAdapter(client, config, clock=emu.state.clock.dt, sleep=emu.advance)

    yield emu, make
    for client in clients:
        client.close()
    emu.clear_faults()


def connect(adapter: LinkedInAdapter, handle: str):
    """The whole consent flow over HTTP: open the authorize URL, press Allow, exchange the code."""
    back = query_of(press_on_consent_page(adapter.authorization_url(state="state-42"), handle=handle))
    assert back["state"] == "state-42"
    token = adapter.exchange_code(back["code"])
    profile = adapter.fetch_profile(token)
    creds = Credentials(token.access_token, external_id=profile.external_id, refresh_token=token.refresh_token,
                        expires_at=token.expires_at,
                        meta={**profile.meta, "refresh_expires_at": token.refresh_expires_at})
    return token, profile, creds


def text(value: str) -> RenderedContent:
    return RenderedContent(platform=Platform.LINKEDIN, text=value, caption=value, hashtags=(), media_urls=(), link="",
                           title="Sandbox video")


def stored(emu, urn: str) -> dict:
    return next(p for p in emu.posts("linkedin") if p["external_id"] == urn)


def test_member_connect_publish_measure_refresh(li):
    emu, make = li
    adapter = make()
    token, profile, creds = connect(adapter, "li_member")
    assert profile.external_id.startswith("urn:li:person:") and token.refresh_expires_at is not None
    assert adapter.missing_scopes(token) == ()

    # Text with every kind of reserved character arrives whole (unescaped it would be cut at the first one).
    words = "Launch (beta) #1 @team [docs] {v2} <new> a|b *x* _y_ ~z~ back\\slash"
    result = adapter.publish(creds, PublishRequest(text(words)))
    assert result.url == f"https://www.linkedin.com/feed/update/{result.external_id}/"
    assert stored(emu, result.external_id)["text"] == words

    image = MediaItem(f"{emu.url}/_media/sample.jpg?w=1200&h=1200", mime="image/jpeg")
    single = adapter.publish(creds, PublishRequest(text("one image"), media=(image,)))
    multi = adapter.publish(creds, PublishRequest(text("three images"), media=(image,) * 3))
    video = MediaItem(f"{emu.url}/_media/sample.mp4?seconds=4&w=640&h=360", kind="video", mime="video/mp4")
    clip = adapter.publish(creds, PublishRequest(text("a video"), media=(video,)))
    assert len(stored(emu, single.external_id)["media"]) == 1
    assert len(stored(emu, multi.external_id)["media"]) == 3
    assert ":video:" in stored(emu, clip.external_id)["media"][0]

    with pytest.raises(Rejected) as info:               # the same text again
        adapter.publish(creds, PublishRequest(text(words)))
    assert info.value.code == "DUPLICATE_POST"
    assert adapter.find_published(creds, PublishRequest(text(words)), since=emu.state.clock.dt()) is None

    emu.advance(3 * DAY)
    metrics = adapter.post_metrics(creds, [result.external_id, clip.external_id])
    assert set(metrics) == {result.external_id, clip.external_id}
    assert metrics[result.external_id].values["views"] > 0
    assert adapter.account_metrics(creds).followers is not None

    # Day 59: a new access token, but the refresh token still dies a year after the FIRST grant.
    emu.advance(56 * DAY)
    first_deadline = token.refresh_expires_at
    fresh = adapter.refresh(creds)
    assert fresh.access_token != token.access_token and fresh.refresh_expires_at is not None
    # The same deadline, give or take the time the calls took (an extended one would be 59 days later).
    assert abs(fresh.refresh_expires_at - first_deadline) < timedelta(hours=1)
    assert adapter.account_metrics(Credentials(fresh.access_token, external_id=creds.external_id)).followers is not None

    emu.advance(2 * DAY)                                # past day 60: the old access token has expired
    with pytest.raises(TokenExpired):
        adapter.account_metrics(creds)


def test_organization_posts_are_listed_and_measured(li):
    emu, make = li
    org = emu.accounts("linkedin", handle="li_brand")[0]["organization_urn"]
    adapter = make(organization=org)
    token, profile, creds = connect(adapter, "li_brand")
    assert "w_organization_social" in adapter.authorization_url(state="s")
    assert profile.external_id == org

    image = MediaItem(f"{emu.url}/_media/sample.png?w=800&h=800", mime="image/png")
    result = adapter.publish(creds, PublishRequest(text("Company news (Q4) #brand"), media=(image, image)))
    assert stored(emu, result.external_id)["account"] == org
    since = emu.state.clock.dt() - timedelta(minutes=1)
    found = adapter.find_published(creds, PublishRequest(text("Company news (Q4) #brand")), since=since)
    assert found is not None and found.external_id == result.external_id
    assert adapter.find_published(creds, PublishRequest(text("never posted")), since=since) is None

    quiet = adapter.publish(creds, PublishRequest(text("nobody saw this yet")))
    emu.advance(2 * DAY)
    metrics = adapter.post_metrics(creds, [result.external_id, quiet.external_id])
    assert metrics[result.external_id].values["views"] >= 0 and set(metrics) == {result.external_id,
                                                                                   quiet.external_id}
    assert adapter.account_metrics(creds).followers is not None


def test_revoked_access_needs_reconnect(li):
    emu, make = li
    adapter = make()
    token, _, creds = connect(adapter, "li_revoker")
    with httpx.Client(trust_env=False) as http:
        http.post(f"{emu.url}/www.linkedin.com/oauth/v2/revoke", data={
            "client_id": "outpost-sandbox-linkedin", "client_secret": "sandbox-secret-linkedin",
            "token": token.access_token})
    with pytest.raises(ReconnectNeeded) as info:
        adapter.publish(creds, PublishRequest(text("after revocation")))
    assert info.value.code == "REVOKED_ACCESS_TOKEN"

"""The X adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest, pkce_pair
from core.domain.catalog import Platform
from core.platforms.x import XAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
REDIRECT = "https://outpost.example/oauth/callback"
DAY = 86400


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=12) as emulator:
        yield emulator


@pytest.fixture
def x(emu):
    """A reset emulator and an adapter pointed at it (sleeping moves the emulator clock)."""
    emu.reset(clock=True)
    saved = sandbox.SandboxConfig().as_dict()
    client = httpx.Client(timeout=10, trust_env=False)
    config = sandbox_config(XAdapter, emu.url, REDIRECT)
    yield emu, XAdapter(client, config, clock=emu.state.clock.dt, sleep=emu.advance)
    client.close()
    emu.clear_faults()
    emu.config.update(saved)


def connect(adapter: XAdapter, handle: str):
    """The whole consent flow over HTTP with PKCE: authorize URL, press Allow, exchange code + verifier."""
    verifier, challenge = pkce_pair()
    url = adapter.authorization_url(state="state-7", code_challenge=challenge)
    back = query_of(press_on_consent_page(url, handle=handle))
    assert back["state"] == "state-7"
    token = adapter.exchange_code(back["code"], code_verifier=verifier)
    profile = adapter.fetch_profile(token)
    return token, profile, Credentials(token.access_token, external_id=profile.external_id,
                                       refresh_token=token.refresh_token, meta=dict(profile.meta))


def text(value: str) -> RenderedContent:
    return RenderedContent(platform=Platform.X, text=value, caption=value, hashtags=(), media_urls=(), link="",
                           title=None)


def test_connect_publish_reconcile_measure_refresh(x):
    emu, adapter = x
    token, profile, creds = connect(adapter, "x_creator")
    assert profile.handle == "@x_creator" and token.refresh_token and adapter.missing_scopes(token) == ()

    started = emu.state.clock.dt() - timedelta(seconds=1)
    first = adapter.publish(creds, PublishRequest(text("Hello from the sandbox & friends")))
    assert first.url == f"https://x.com/x_creator/status/{first.external_id}"

    image = MediaItem(f"{emu.url}/_media/sample.png?w=1200&h=675", mime="image/png")
    pictures = adapter.publish(creds, PublishRequest(text("two pictures"), media=(image, image)))
    video = MediaItem(f"{emu.url}/_media/sample.mp4?seconds=3&w=640&h=360", kind="video", mime="video/mp4")
    clip = adapter.publish(creds, PublishRequest(text("a clip"), media=(video,)))
    thread = adapter.publish(creds, PublishRequest(text("thread 1/3"), options={"thread": ["thread 2/3", "3/3"]}))
    posts = {p["external_id"]: p for p in emu.posts("x")}
    assert len(posts[pictures.external_id]["media"]) == 2 and len(posts[clip.external_id]["media"]) == 1
    chain = thread.extra["thread_ids"]
    assert [posts[i]["extra"]["in_reply_to"] for i in chain] == [None, chain[0], chain[1]]

    with pytest.raises(Rejected, match="duplicate"):
        adapter.publish(creds, PublishRequest(text("two pictures")))

    found = adapter.find_published(creds, PublishRequest(text("Hello from the sandbox & friends")), since=started)
    assert found is not None and found.external_id == first.external_id
    assert adapter.find_published(creds, PublishRequest(text("never posted")), since=started) is None

    emu.advance(DAY)
    with pytest.raises(TokenExpired):                  # the 2-hour token is long gone
        adapter.account_metrics(creds)
    fresh = adapter.refresh(creds)
    assert fresh.refresh_token != creds.refresh_token  # rotated
    with pytest.raises(ReconnectNeeded):               # the old refresh token died with its use
        adapter.refresh(creds)
    creds = Credentials(fresh.access_token, external_id=creds.external_id, refresh_token=fresh.refresh_token,
                        meta=creds.meta)
    assert adapter.account_metrics(creds).followers is not None

    young = adapter.post_metrics(creds, [first.external_id, clip.external_id])
    assert set(young) == {first.external_id, clip.external_id}
    assert "non_public_metrics" in young[first.external_id].raw and young[first.external_id].values["views"] >= 0

    emu.advance(31 * DAY)                              # private metrics are only asked for while they exist
    creds = Credentials(adapter.refresh(creds).access_token, external_id=creds.external_id)
    old = adapter.post_metrics(creds, [first.external_id])
    assert "non_public_metrics" not in old[first.external_id].raw


def test_rate_limit_waits_for_the_window_reset(x):
    emu, adapter = x
    _, _, creds = connect(adapter, "x_busy")
    emu.configure(x_tweet_limit=1)
    adapter.publish(creds, PublishRequest(text("first")))
    with pytest.raises(RetryLater) as info:
        adapter.publish(creds, PublishRequest(text("second")))
    now = emu.state.clock.dt()
    assert info.value.http_status == 429
    assert now < info.value.retry_at <= now + timedelta(seconds=901)

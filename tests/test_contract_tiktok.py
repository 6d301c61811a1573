"""The TikTok adapter, unchanged, against the local emulator over real HTTP (sandbox).

Connect through the consent page, read the profile, post a video by URL and by chunked
upload, a photo post, read metrics and followers, reconcile, refresh (rotating) the token.
The adapter's `sleep` moves the emulator clock, so processing delays cost no real time.
"""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.tiktok import TikTokAdapter
from tests.conftest_emulator import background_done
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

jobs_sandbox = pytest.importorskip("sandbox")
REDIRECT = "https://outpost.example/oauth/callback"


@pytest.fixture(scope="module")
def emu():
    with jobs_sandbox.Emulator.start(seed=21) as emulator:
        yield emulator


@pytest.fixture
def adapter(emu):
    emu.reset(clock=True)

    def sleep(seconds: float) -> None:
        emu.advance(seconds)
        background_done(emu)      # media pulls run in the emulator's background, in real time: let them end

    config = sandbox_config(TikTokAdapter, emu.url, REDIRECT)
    with httpx.Client(timeout=10) as client:
        yield TikTokAdapter(client, config, clock=emu.state.clock.dt, sleep=sleep)


def connect(adapter: TikTokAdapter, handle: str = "tt_creator"):
    """The consent flow a person goes through, over HTTP: authorize page, Allow, redirect, code exchange."""
    query = query_of(press_on_consent_page(adapter.authorization_url(state="state-123"), handle=handle))
    assert query["state"] == "state-123"
    token = adapter.exchange_code(query["code"])
    creds = Credentials(access_token=token.access_token, refresh_token=token.refresh_token,
                        external_id=token.extra["open_id"], expires_at=token.expires_at)
    return token, creds


def request(text, *media, **options):
    saved: dict[str, str] = {}
    content = RenderedContent(platform=Platform.TIKTOK, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    return PublishRequest(content=content, media=tuple(media), options=options, checkpoint=saved.__setitem__), saved


def test_connect_and_profile(adapter):
    token, creds = connect(adapter)
    assert token.extra["open_id"] and token.refresh_token and token.expires_at > adapter.clock()
    assert token.refresh_expires_at - token.expires_at > timedelta(days=30)     # lifetimes from the response
    assert adapter.missing_scopes(token) == ()
    profile = adapter.fetch_profile(token)
    assert profile.external_id == token.extra["open_id"] and profile.handle == "tt_creator"
    assert adapter.account_metrics(creds).followers >= 0


def test_video_by_url_photos_metrics_and_reconciliation(adapter, emu):
    since = adapter.clock()
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=8", kind="video", mime="video/mp4")
    req, saved = request("Sunrise over the bay #sandbox", video)
    result = adapter.publish(creds, req)
    assert saved["publish_id"] and result.url and "/video/" in result.url and result.url.endswith(result.external_id)

    photos = [MediaItem(url=f"{emu.url}/_media/sample.jpg"), MediaItem(url=f"{emu.url}/_media/sample.webp")]
    req, saved = request("Three frames from the morning walk", *photos)
    photo = adapter.publish(creds, req)
    assert "/photo/" in (photo.url or "")

    posts = {p["external_id"]: p for p in emu.posts("tiktok")}
    assert set(posts) >= {result.external_id, photo.external_id}

    emu.advance(3600)
    metrics = adapter.post_metrics(creds, [result.external_id, photo.external_id])
    assert set(metrics) == {result.external_id, photo.external_id}
    assert set(metrics[result.external_id].values) == {"views", "video_views", "likes", "comments", "shares"}

    found = adapter.find_published(creds, request("Sunrise over the bay #sandbox", video)[0], since=since)
    assert found is not None and found.external_id == result.external_id
    assert adapter.find_published(creds, request("Never posted", video)[0], since=since) is None


def test_video_by_chunked_upload(adapter, emu):
    token, creds = connect(adapter)
    sample = adapter.client.get(f"{emu.url}/_media/sample.mp4", params={"seconds": 8}).content
    data = sample + bytes(21_500_000 - len(sample))      # 21.5 MB: a 10 MB chunk, then 11.5 MB (the remainder)
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=data)
    req, saved = request("Uploaded in chunks", video, privacy_level="PUBLIC_TO_EVERYONE")
    result = adapter.publish(creds, req)
    assert result.external_id in {p["external_id"] for p in emu.posts("tiktok")}
    # A retry with the saved publish_id polls and does not post again.
    again = adapter.publish(creds, PublishRequest(content=req.content, media=req.media, progress=saved))
    assert again.external_id == result.external_id
    assert len(emu.posts("tiktok")) == 1


def test_self_only_post_has_no_public_id_yet(adapter, emu):
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=8", kind="video", mime="video/mp4")
    result = adapter.publish(creds, request("Private clip", video, privacy_level="SELF_ONLY")[0])
    assert result.extra["pending_id"] is True and result.url is None


def test_unaudited_app_and_expired_token(adapter, emu):
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=8", kind="video", mime="video/mp4")
    emu.configure(tt_unaudited=True)
    try:
        with pytest.raises(Rejected) as exc:
            adapter.publish(creds, request("Public please", video, privacy_level="PUBLIC_TO_EVERYONE")[0])
        assert exc.value.code == "unaudited_client_can_only_post_to_private_accounts"
    finally:
        emu.configure(tt_unaudited=False)
    emu.advance(3 * 3600)                                   # past the 2 h access token
    with pytest.raises(TokenExpired):
        adapter.account_metrics(creds)


def test_refresh_rotates(adapter, emu):
    token, creds = connect(adapter)
    emu.advance(3 * 3600)
    fresh = adapter.refresh(creds)
    assert fresh.refresh_token != token.refresh_token and fresh.access_token != token.access_token
    assert adapter.account_metrics(Credentials(access_token=fresh.access_token)).followers >= 0
    with pytest.raises(ReconnectNeeded):                    # the old refresh token died with the rotation
        adapter.refresh(creds)


def test_init_rate_limit_is_retry_later(adapter, emu):
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=8", kind="video", mime="video/mp4")
    adapter.sleep = lambda s: None                          # stay inside one minute
    adapter.STATUS_POLLS = 1
    with pytest.raises(RetryLater) as exc:
        for i in range(7):                                  # 6 init calls a minute per token
            try:
                adapter.publish(creds, request(f"Burst {i}", video)[0])
            except (RetryLater, OutcomeUnknown) as err:      # still processing: in doubt, not retried
                if err.code != "rate_limit_exceeded":
                    continue
                raise
    assert exc.value.code == "rate_limit_exceeded" and exc.value.retry_at is not None


def test_lost_init_answer_is_reconciled_from_the_video_list(adapter, emu):
    since = adapter.clock()
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=8", kind="video", mime="video/mp4")
    req, saved = request("Did this post?", video)
    emu.add_fault(kind="lost_response", platform="tiktok", path="/video/init/", count=1)
    with pytest.raises(OutcomeUnknown):
        adapter.publish(creds, req)
    assert "publish_id" not in saved
    assert TikTokAdapter.reliable_listing is False        # moderation delays the listing; "not found" proves little
    for _ in range(20):                                    # wait for the emulator's pull, then its processing delay
        adapter.sleep(5)
        found = adapter.find_published(creds, req, since=since)
        if found:
            break
    assert found is not None and [p["external_id"] for p in emu.posts("tiktok")] == [found.external_id]

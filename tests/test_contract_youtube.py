"""The YouTube adapter, unchanged, against the local emulator over real HTTP (sandbox).

Connect through Google's consent page, read the channel, upload a video with the resumable
protocol (whole, chunked, interrupted and resumed), read metrics and subscribers, reconcile
through the uploads playlist, refresh the token, and see the quota error.
"""
from __future__ import annotations

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.youtube import QUANTUM, YouTubeAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

jobs_sandbox = pytest.importorskip("sandbox")
REDIRECT = "https://outpost.example/oauth/callback"


@pytest.fixture(scope="module")
def emu():
    with jobs_sandbox.Emulator.start(seed=22) as emulator:
        yield emulator


def make(emu, client, timeout_s: float = 10.0, **options) -> YouTubeAdapter:
    config = sandbox_config(YouTubeAdapter, emu.url, REDIRECT, options=options, timeout_s=timeout_s)
    return YouTubeAdapter(client, config, clock=emu.state.clock.dt, sleep=emu.advance)


@pytest.fixture
def client(emu):
    emu.reset(clock=True)
    saved = jobs_sandbox.SandboxConfig().as_dict()
    with httpx.Client(timeout=10) as http:
        yield http
    emu.clear_faults()
    emu.config.update(saved)


@pytest.fixture
def adapter(emu, client):
    return make(emu, client)


@pytest.fixture
def sample(emu, client) -> bytes:
    return client.get(f"{emu.url}/_media/sample.mp4", params={"seconds": 20}).content


def connect(adapter: YouTubeAdapter, handle: str = "yt_creator"):
    query = query_of(press_on_consent_page(adapter.authorization_url(state="state-456"), handle=handle))
    assert query["state"] == "state-456"
    token = adapter.exchange_code(query["code"])
    return token, Credentials(access_token=token.access_token, refresh_token=token.refresh_token)


def request(text, *media, title=None, **options):
    saved: dict[str, str] = {}
    content = RenderedContent(platform=Platform.YOUTUBE, text=text, caption=text, hashtags=("#sandbox", "#test"),
                              media_urls=(), link="", title=title)
    return PublishRequest(content=content, media=tuple(media), options=options, checkpoint=saved.__setitem__), saved


def test_connect_profile_and_refresh(adapter, emu):
    token, creds = connect(adapter)
    assert token.refresh_token, "access_type=offline + prompt=consent must yield a refresh token"
    assert adapter.missing_scopes(token) == ()
    profile = adapter.fetch_profile(token)
    assert profile.external_id.startswith("UC") and profile.handle == "@yt_creator"
    emu.advance(2 * 3600)                                  # past the 1 h access token
    with pytest.raises(TokenExpired):
        adapter.account_metrics(creds)
    fresh = adapter.refresh(creds)
    assert fresh.access_token != token.access_token and fresh.refresh_token == token.refresh_token   # kept
    assert adapter.account_metrics(Credentials(access_token=fresh.access_token)).followers >= 0


def test_upload_metrics_and_reconciliation(adapter, emu, sample):
    since = adapter.clock()
    token, creds = connect(adapter)
    video = MediaItem(url=f"{emu.url}/_media/sample.mp4?seconds=20", kind="video", mime="video/mp4")   # fetched
    req, saved = request("Morning light\nA walk at dawn.", video)
    result = adapter.publish(creds, req)
    assert result.url == f"https://www.youtube.com/watch?v={result.external_id}"
    assert saved["upload_session"] and saved["upload_size"] == str(len(sample))
    post = {p["external_id"]: p for p in emu.posts("youtube")}[result.external_id]
    assert post["text"] == "Morning light"

    emu.advance(1800)                                      # views grow; the 1 h token still works
    metrics = adapter.post_metrics(creds, [result.external_id])
    assert set(metrics[result.external_id].values) == {"views", "video_views", "likes", "comments"}
    assert all(isinstance(v, int) for v in metrics[result.external_id].values.values())
    assert adapter.account_metrics(creds).followers >= 0

    # A lost answer: the saved session says the upload finished, and so does the uploads playlist.
    assert adapter.find_published(creds, PublishRequest(content=req.content, media=req.media, progress=saved),
                                  since=since).external_id == result.external_id
    assert adapter.find_published(creds, req, since=since).external_id == result.external_id
    assert adapter.find_published(creds, request("Never uploaded", video)[0], since=since) is None


class LoseSecondPut(httpx.HTTPTransport):
    """Delivers every request, but loses the answer to the second PUT (a dropped connection mid-upload)."""

    def __init__(self):
        super().__init__()
        self.ranges: list[str] = []

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.method == "PUT":
            self.ranges.append(request.headers["content-range"])
            if len(self.ranges) == 2:
                response.close()
                raise httpx.ReadError("connection reset")
        return response


def test_chunked_upload_interrupted_and_resumed(emu, sample):
    transport = LoseSecondPut()
    with httpx.Client(timeout=10, transport=transport) as lossy:
        adapter = make(emu, lossy, chunk_size=QUANTUM)
        token, creds = connect(adapter)
        data = sample + bytes(max(0, 4 * QUANTUM + 1234 - len(sample)))     # 5 chunks of 256 KiB
        video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=data)
        req, saved = request("Resumed upload", video)
        with pytest.raises(RetryLater):                        # the second chunk's answer is lost
            adapter.publish(creds, req)
        assert emu.posts("youtube") == []
        result = adapter.publish(creds, PublishRequest(content=req.content, media=req.media, progress=saved))
    assert [p["external_id"] for p in emu.posts("youtube")] == [result.external_id]
    # The retry asked where the session stood, then went on from the third chunk: nothing sent twice.
    total = len(data)
    assert transport.ranges[2:4] == [f"bytes */{total}", f"bytes {2 * QUANTUM}-{3 * QUANTUM - 1}/{total}"]


def test_server_error_on_first_chunk_then_resume(adapter, emu, sample):
    token, creds = connect(adapter)
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=sample)
    req, saved = request("Resumed after a 503", video)
    emu.add_fault(kind="error_5xx", platform="youtube", method="PUT", status=503, count=1)
    with pytest.raises(RetryLater) as exc:
        adapter.publish(creds, req)
    assert exc.value.code == "backendError" and emu.posts("youtube") == []
    result = adapter.publish(creds, PublishRequest(content=req.content, media=req.media, progress=saved))
    assert [p["external_id"] for p in emu.posts("youtube")] == [result.external_id]


def test_unaudited_project_uploads_private(emu, client, sample):
    emu.configure(yt_unverified_project=True)
    adapter = make(emu, client, unaudited=True)
    token, creds = connect(adapter)
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=sample)
    result = adapter.publish(creds, request("Private by force", video)[0])
    assert result.extra["privacy_status"] == "private" and "audit" in result.extra["note"]


def test_quota_exceeded_waits_for_midnight_pacific(adapter, emu, sample):
    token, creds = connect(adapter)
    emu.configure(yt_daily_units=1000)                      # less than one 1600-unit insert
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=sample)
    with pytest.raises(RetryLater) as exc:
        adapter.publish(creds, request("Over quota", video)[0])
    assert exc.value.code == "quotaExceeded" and exc.value.retry_at == adapter.next_quota_reset()


def test_only_one_video_and_revoked_refresh(adapter, emu):
    token, creds = connect(adapter)
    with pytest.raises(Rejected):
        adapter.publish(creds, request("A photo", MediaItem(url=f"{emu.url}/_media/sample.jpg"))[0])
    adapter.client.post(emu.base_url("oauth2.googleapis.com") + "/revoke", data={"token": token.access_token})
    with pytest.raises(ReconnectNeeded) as exc:
        adapter.refresh(creds)
    assert exc.value.code == "invalid_grant"


def test_lost_session_answer_is_safe_to_retry(emu, client, sample):
    # Opening a session creates no video, so the adapter treats a lost answer as "retry", not "reconcile".
    adapter = make(emu, client, timeout_s=0.3)
    token, creds = connect(adapter)
    video = MediaItem(url="https://media.example.com/v.mp4", kind="video", mime="video/mp4", data=sample)
    req, saved = request("Lost session answer", video)
    # The session is opened, but its answer is held back past the client's timeout.
    emu.add_fault(kind="timeout", platform="youtube", method="POST", path="/upload/youtube/v3/videos", count=1,
                  timeout_s=2.0)
    with pytest.raises(RetryLater):
        adapter.publish(creds, req)
    assert saved == {} and emu.posts("youtube") == []
    result = adapter.publish(creds, req)
    assert [p["external_id"] for p in emu.posts("youtube")] == [result.external_id]

"""YouTube on the emulator: resumable upload, quota models, Data API lists, Analytics reports."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest_emulator import bearer, emu, http, sandbox  # noqa: F401

CHUNK = 256 * 1024


@pytest.fixture
def yt(sandbox):
    creds = sandbox.accounts("youtube", handle="yt_channel")[0]
    return sandbox, sandbox.base_url("www.googleapis.com"), creds, bearer(creds["access_token"])


def start(http, base, auth, size, title="Sandbox video"):
    return http.post(f"{base}/upload/youtube/v3/videos", params={"uploadType": "resumable", "part": "snippet,status"},
                     headers={**auth, "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
                     json={"snippet": {"title": title, "description": "desc", "tags": ["a"], "categoryId": "22"},
                           "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False}})


def test_resumable_upload_308_then_video_json(yt, http):
    emu, base, creds, auth = yt
    video = http.get(f"{emu.url}/_media/sample.mp4", params={"seconds": 20}).content
    assert len(video) > CHUNK
    session = start(http, base, auth, len(video))
    assert session.status_code == 200 and session.content == b""
    location = session.headers["location"]
    assert location.startswith(f"{emu.url}/www.googleapis.com/upload/youtube/v3/videos?") and "upload_id=" in location

    first = http.put(location, content=video[:CHUNK], headers={"Content-Range": f"bytes 0-{CHUNK - 1}/{len(video)}"})
    assert first.status_code == 308 and first.headers["range"] == f"bytes=0-{CHUNK - 1}"
    query = http.put(location, content=b"", headers={"Content-Range": f"bytes */{len(video)}"})
    assert query.status_code == 308 and query.headers["range"] == f"bytes=0-{CHUNK - 1}"
    last = http.put(location, content=video[CHUNK:],
                    headers={"Content-Range": f"bytes {CHUNK}-{len(video) - 1}/{len(video)}"})
    assert last.status_code == 200, last.text
    resource = last.json()
    assert resource["kind"] == "youtube#video" and len(resource["id"]) == 11
    assert resource["snippet"]["title"] == "Sandbox video" and resource["status"]["uploadStatus"] == "uploaded"
    again = http.put(location, content=b"", headers={"Content-Range": f"bytes */{len(video)}"})
    assert again.status_code == 200 and again.json()["id"] == resource["id"]      # a lost final answer is recoverable
    assert [p["external_id"] for p in emu.posts("youtube")] == [resource["id"]]


def test_metadata_is_validated(yt, http):
    emu, base, creds, auth = yt
    bad = start(http, base, auth, 10, title="<b>" + "x" * 120)
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["reason"] == "invalidTitle"


@pytest.mark.parametrize("model, settings, allowed", [
    ("units", {"yt_daily_units": 3300}, 2),          # 1600 units per insert out of the daily units
    ("buckets", {"yt_daily_inserts": 3}, 3),          # its own bucket of N inserts per day
])
def test_quota_models(yt, http, model, settings, allowed):
    emu, base, creds, auth = yt
    emu.configure(yt_quota_model=model, **settings)
    codes = [start(http, base, auth, 100).status_code for _ in range(allowed + 1)]
    assert codes == [200] * allowed + [403]
    body = start(http, base, auth, 100).json()["error"]
    assert body["code"] == 403 and body["errors"][0]["reason"] == "quotaExceeded"
    assert body["errors"][0]["domain"] == "youtube.quota"


def test_quota_resets_at_midnight_pacific(yt, http):
    emu, base, creds, auth = yt
    emu.configure(yt_daily_units=1600)
    assert start(http, base, auth, 100).status_code == 200
    assert start(http, base, auth, 100).status_code == 403
    from sandbox.youtube import PACIFIC
    now = emu.state.clock.dt().astimezone(PACIFIC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    emu.advance(midnight.timestamp() - emu.now())
    fresh = bearer(emu.accounts("youtube", handle="yt_channel")[0]["access_token"])
    assert start(http, base, fresh, 100).status_code == 200


def test_statistics_channels_and_analytics(yt, http):
    emu, base, creds, auth = yt
    video = http.get(f"{emu.url}/_media/sample.mp4").content
    location = start(http, base, auth, len(video)).headers["location"]
    video_id = http.put(location, content=video, headers={"Content-Type": "video/mp4"}).json()["id"]
    emu.advance(3 * 86400)
    fresh = bearer(emu.accounts("youtube", handle="yt_channel")[0]["access_token"])
    stats = http.get(f"{base}/youtube/v3/videos", params={"part": "statistics,status", "id": video_id},
                     headers=fresh).json()["items"][0]
    assert int(stats["statistics"]["viewCount"]) > 0 and isinstance(stats["statistics"]["likeCount"], str)
    assert stats["status"]["uploadStatus"] == "processed"
    channel = http.get(f"{base}/youtube/v3/channels", params={"part": "statistics,contentDetails", "mine": "true"},
                       headers=fresh).json()["items"][0]
    assert channel["id"] == creds["channel_id"] and channel["statistics"]["videoCount"] == "1"
    uploads = http.get(f"{base}/youtube/v3/playlistItems", headers=fresh, params={
        "part": "contentDetails", "playlistId": channel["contentDetails"]["relatedPlaylists"]["uploads"]}).json()
    assert uploads["items"][0]["contentDetails"]["videoId"] == video_id

    today = emu.state.clock.dt().date()
    report = http.get(emu.base_url("youtubeanalytics.googleapis.com") + "/v2/reports", headers=fresh, params={
        "ids": "channel==MINE", "startDate": (today - timedelta(days=4)).isoformat(), "endDate": today.isoformat(),
        "metrics": "views,estimatedMinutesWatched,likes,subscribersGained", "dimensions": "day", "sort": "day",
        "filters": f"video=={video_id}"}).json()
    assert [h["name"] for h in report["columnHeaders"]] == ["day", "views", "estimatedMinutesWatched", "likes",
                                                            "subscribersGained"]
    assert report["columnHeaders"][0]["columnType"] == "DIMENSION" and len(report["rows"]) == 5
    assert sum(row[1] for row in report["rows"]) == int(stats["statistics"]["viewCount"])
    unknown = http.get(emu.base_url("youtubeanalytics.googleapis.com") + "/v2/reports", headers=fresh, params={
        "ids": "channel==MINE", "startDate": today.isoformat(), "endDate": today.isoformat(), "metrics": "karma"})
    assert unknown.status_code == 400


def test_missing_scope_and_bad_token(yt, http):
    emu, base, creds, auth = yt
    read_only = emu.accounts("youtube", handle="reader",
                             scopes=["https://www.googleapis.com/auth/youtube.readonly"])[0]
    refused = start(http, base, bearer(read_only["access_token"]), 10)
    assert refused.status_code == 403 and refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    nobody = http.get(f"{base}/youtube/v3/channels", params={"part": "id", "mine": "true"}, headers=bearer("ya29.no"))
    assert nobody.status_code == 401 and "www-authenticate" in nobody.headers

"""TikTok on the emulator: the envelope, creator info, chunked upload, the status machine, limits."""
from __future__ import annotations

import pytest

from tests.conftest_emulator import background_done, bearer, emu, http, sandbox  # noqa: F401

MB = 1024 * 1024


@pytest.fixture
def tt(sandbox):
    creds = sandbox.accounts("tiktok", handle="tt_creator")[0]
    return sandbox, sandbox.base_url("open.tiktokapis.com"), creds, bearer(creds["access_token"])


def post_info(privacy="PUBLIC_TO_EVERYONE", title="sandbox video #fyp"):
    return {"title": title, "privacy_level": privacy, "disable_duet": False, "disable_comment": False,
            "disable_stitch": False, "video_cover_timestamp_ms": 1000}


def status(http, base, auth, publish_id):
    answer = http.post(f"{base}/v2/post/publish/status/fetch/", json={"publish_id": publish_id}, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_creator_info_in_the_envelope(tt, http):
    emu, base, creds, auth = tt
    body = http.post(f"{base}/v2/post/publish/creator_info/query/", headers=auth).json()
    assert body["error"]["code"] == "ok" and body["error"]["message"] == "" and body["error"]["log_id"]
    assert "SELF_ONLY" in body["data"]["privacy_level_options"]
    assert body["data"]["max_video_post_duration_sec"] == 600


def test_file_upload_status_machine_and_post_id_later(tt, http):
    emu, base, creds, auth = tt
    video = http.get(f"{emu.url}/_media/sample.mp4").content
    init = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(), "source_info": {"source": "FILE_UPLOAD", "video_size": len(video),
                                                  "chunk_size": len(video), "total_chunk_count": 1}})
    assert init.status_code == 200, init.text
    data = init.json()["data"]
    assert data["publish_id"].startswith("v_pub_file~") and "/open-upload.tiktokapis.com/" in data["upload_url"]
    assert status(http, base, auth, data["publish_id"])["status"] == "PROCESSING_UPLOAD"
    wrong = http.put(data["upload_url"], content=video, headers={
        "Content-Type": "video/mp4", "Content-Range": f"bytes 0-{len(video) - 2}/{len(video)}"})
    assert wrong.status_code == 400
    put = http.put(data["upload_url"], content=video, headers={
        "Content-Type": "video/mp4", "Content-Range": f"bytes 0-{len(video) - 1}/{len(video)}"})
    assert put.status_code == 201
    first = status(http, base, auth, data["publish_id"])
    assert first["status"] == "PROCESSING_UPLOAD" and first["uploaded_bytes"] == len(video)
    emu.advance(2)
    done = status(http, base, auth, data["publish_id"])
    assert done["status"] == "PUBLISH_COMPLETE" and done["publicaly_available_post_id"] == []   # moderation
    emu.advance(5)
    later = status(http, base, auth, data["publish_id"])
    assert later["publicaly_available_post_id"] and later["publicaly_available_post_id"][0] > 0
    [post] = emu.posts("tiktok")
    assert post["external_id"] == str(later["publicaly_available_post_id"][0])
    assert post["account"] == creds["open_id"]


@pytest.mark.parametrize("size, chunk, count, ok", [
    (3 * MB, 3 * MB, 1, True),           # under 5 MB: one chunk of the whole file
    (3 * MB, 1 * MB, 3, False),          # ... and no smaller chunks
    (20 * MB, 10 * MB, 2, True),
    (21 * MB, 10 * MB, 2, True),         # the last chunk takes the remainder
    (20 * MB, 10 * MB, 3, False),        # total_chunk_count must be floor(size / chunk)
    (200 * MB, 100 * MB, 2, False),      # chunks are at most 64 MB
    (100 * MB, 64 * MB, 1, False),       # over 64 MB must be chunked
])
def test_chunk_rules(tt, http, size, chunk, count, ok):
    emu, base, creds, auth = tt
    answer = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(), "source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk,
                                                  "total_chunk_count": count}})
    assert (answer.status_code == 200) is ok, answer.text
    if not ok:
        assert answer.json()["error"]["code"] == "invalid_params"


def test_multi_chunk_upload_sequence(tt, http):
    emu, base, creds, auth = tt
    sample = http.get(f"{emu.url}/_media/sample.mp4").content
    video = sample + bytes(11 * MB - len(sample))
    data = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(), "source_info": {"source": "FILE_UPLOAD", "video_size": len(video),
                                                  "chunk_size": 5 * MB, "total_chunk_count": 2}}).json()["data"]
    ranges = [(0, 5 * MB - 1), (5 * MB, len(video) - 1)]
    codes = [http.put(data["upload_url"], content=video[a:b + 1], headers={
        "Content-Type": "video/mp4", "Content-Range": f"bytes {a}-{b}/{len(video)}"}).status_code for a, b in ranges]
    assert codes == [206, 201]


def test_privacy_level_must_be_offered(tt, http):
    emu, base, creds, auth = tt
    answer = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(privacy="FRIENDS"), "source_info": {"source": "PULL_FROM_URL",
                                                                   "video_url": "https://cdn.example/v.mp4"}})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "privacy_level_option_mismatch"
    emu.configure(tt_unaudited=True)
    public = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(), "source_info": {"source": "PULL_FROM_URL", "video_url": "https://cdn.example/v.mp4"}})
    assert public.json()["error"]["code"] == "unaudited_client_can_only_post_to_private_accounts"


def test_six_inits_per_minute_per_token(tt, http):
    emu, base, creds, auth = tt
    body = {"post_info": post_info(), "source_info": {"source": "PULL_FROM_URL",
                                                      "video_url": "https://cdn.example/v.mp4"}}
    codes = [http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json=body).status_code for _ in range(7)]
    assert codes == [200] * 6 + [429]
    limited = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json=body).json()
    assert limited["error"]["code"] == "rate_limit_exceeded"
    emu.advance(61)
    assert http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json=body).status_code == 200


def after_pull(emu, http, base, auth, publish_id):
    """The status once the URL pull (run in the emulator's background) has ended."""
    background_done(emu)
    return status(http, base, auth, publish_id)


def test_pull_from_url_failures(tt, http):
    emu, base, creds, auth = tt
    emu.configure(tt_status_per_min=1000)
    video = http.post(f"{base}/v2/post/publish/video/init/", headers=auth, json={
        "post_info": post_info(), "source_info": {"source": "PULL_FROM_URL",
                                                  "video_url": f"{emu.url}/_media/gone.mp4"}}).json()["data"]
    photo = http.post(f"{base}/v2/post/publish/content/init/", headers=auth, json={
        "media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {"title": "p", "privacy_level": "SELF_ONLY"},
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0,
                        "photo_images": [f"{emu.url}/_media/sample.mp4"]}}).json()["data"]
    png = http.post(f"{base}/v2/post/publish/content/init/", headers=auth, json={
        "media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {"title": "p", "privacy_level": "SELF_ONLY"},
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0,
                        "photo_images": [f"{emu.url}/_media/sample.png"]}}).json()["data"]
    expected = {video["publish_id"]: "video_pull_failed", photo["publish_id"]: "photo_pull_failed",
                png["publish_id"]: "file_format_check_failed"}
    for publish_id, reason in expected.items():
        body = after_pull(emu, http, base, auth, publish_id)
        assert (body["status"], body["fail_reason"]) == ("FAILED", reason)
    assert emu.posts("tiktok") == []


def test_photo_post_video_list_query_and_user_info(tt, http):
    emu, base, creds, auth = tt
    photo = http.post(f"{base}/v2/post/publish/content/init/", headers=auth, json={
        "media_type": "PHOTO", "post_mode": "DIRECT_POST",
        "post_info": {"title": "two photos", "description": "desc", "privacy_level": "PUBLIC_TO_EVERYONE"},
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 1,
                        "photo_images": [f"{emu.url}/_media/sample.jpg", f"{emu.url}/_media/sample.webp"]}})
    assert photo.status_code == 200, photo.text
    publish_id = photo.json()["data"]["publish_id"]
    background_done(emu)                      # the photos are pulled in the background
    assert emu.posts("tiktok")
    emu.advance(30 * 3600)
    fresh = bearer(emu.accounts("tiktok", handle="tt_creator")[0]["access_token"])   # tokens live 2 hours
    assert status(http, base, fresh, publish_id)["status"] == "PUBLISH_COMPLETE"
    listed = http.post(f"{base}/v2/video/list/", params={"fields": "id,title,view_count,like_count"}, headers=fresh,
                       json={"max_count": 20}).json()["data"]
    [video] = listed["videos"]
    assert video["view_count"] > 0 and listed["has_more"] is False
    queried = http.post(f"{base}/v2/video/query/", params={"fields": "id,like_count,share_count"}, headers=fresh,
                        json={"filters": {"video_ids": [video["id"]]}}).json()["data"]["videos"]
    assert queried[0]["id"] == video["id"]
    user = http.get(f"{base}/v2/user/info/", params={"fields": "open_id,display_name,follower_count,video_count"},
                    headers=fresh).json()["data"]["user"]
    assert user["open_id"] == creds["open_id"] and user["follower_count"] > 0 and user["video_count"] == 1

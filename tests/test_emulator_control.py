"""The control API, inspection, sample media, the CLI, the state file, and load."""
from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image

from sandbox import Emulator
from sandbox.media import probe
from tests.conftest_emulator import bearer, emu, http, sandbox  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def test_health_and_clock(sandbox, http):
    health = http.get(sandbox.url + "/_control/health").json()
    assert health["status"] == "ok" and health["offset_seconds"] == 0
    before = time.time()
    moved = http.post(sandbox.url + "/_control/clock", json={"advance_seconds": 3600}).json()
    after = time.time()
    assert moved["offset_seconds"] == 3600 and before + 3600 <= moved["now_unix"] <= after + 3600
    target = "2030-01-06T09:00:00+00:00"
    assert http.post(sandbox.url + "/_control/clock", json={"set": target}).json()["now"].startswith("2030-01-06T09:00")
    assert http.post(sandbox.url + "/_control/clock", json={"advance_seconds": "soon"}).status_code == 400


def test_posts_inspection_duplicates_and_reset(sandbox, http):
    a, b = sandbox.accounts("x", count=2, prefix="insp")
    sent = http.post(sandbox.base_url("api.x.com") + "/2/tweets", json={"text": "twice"},
                     headers=bearer(a["access_token"]))
    http.post(sandbox.base_url("api.x.com") + "/2/tweets", json={"text": "twice"}, headers=bearer(b["access_token"]))
    listed = http.get(sandbox.url + "/_control/posts", params={"platform": "x", "account": a["user_id"]}).json()
    assert listed["count"] == 1
    post = listed["posts"][0]
    assert post["request_id"] == sent.headers["x-sandbox-request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", post["received_at"])
    assert set(post) >= {"platform", "account", "external_id", "text", "media", "received_at", "request_id"}
    assert http.get(sandbox.url + "/_control/duplicates").json()["duplicates"] == []    # different accounts

    sandbox.configure(x_reject_duplicates=False)        # a platform that lets duplicates through
    http.post(sandbox.base_url("api.x.com") + "/2/tweets", json={"text": "twice"}, headers=bearer(a["access_token"]))
    report = http.get(sandbox.url + "/_control/duplicates").json()
    assert report["published_extra"] == 1
    assert report["duplicates"][0] | {"external_ids": None, "request_ids": None} == {
        "platform": "x", "account": a["user_id"], "text": "twice", "count": 2, "attempts": 2, "rejected": 0,
        "external_ids": None, "request_ids": None}

    assert http.post(sandbox.url + "/_control/reset").json()["status"] == "reset"
    assert http.get(sandbox.url + "/_control/posts").json()["count"] == 0


def test_config_and_accounts_over_http(sandbox, http):
    assert http.patch(sandbox.url + "/_control/config", json={"ig_publish_quota": 50}).json()["ig_publish_quota"] == 50
    assert http.patch(sandbox.url + "/_control/config", json={"nonsense": 1}).status_code == 400
    made = http.post(sandbox.url + "/_control/accounts", json={"platform": "tiktok", "count": 500, "prefix": "bench"})
    assert made.status_code == 201 and made.json()["count"] == 500
    assert len({a["access_token"] for a in made.json()["accounts"]}) == 500
    again = http.post(sandbox.url + "/_control/accounts", json={"platform": "tiktok", "handle": "bench_0001"}).json()
    assert again["accounts"][0]["open_id"] == made.json()["accounts"][0]["open_id"]   # same handle, same account
    listed = http.get(sandbox.url + "/_control/accounts", params={"platform": "tiktok"}).json()
    assert listed["count"] == 500


def test_request_log_never_holds_tokens(sandbox, http):
    token = sandbox.accounts("instagram")[0]["access_token"]
    http.get(sandbox.base_url("graph.instagram.com") + "/v25.0/me", params={"access_token": token})
    log = http.get(sandbox.url + "/_control/requests", params={"platform": "instagram"}).json()
    assert log["count"] == 1 and log["requests"][0]["path"] == "/graph.instagram.com/v25.0/me"
    assert token not in str(log)


@pytest.mark.parametrize("path, fmt, size", [
    ("/_media/sample.jpg?w=1080&h=1350", "JPEG", (1080, 1350)),
    ("/_media/sample.png?w=640&h=640", "PNG", (640, 640)),
    ("/_media/sample.webp", "WEBP", (1080, 1350)),
])
def test_sample_images_are_real(sandbox, http, path, fmt, size):
    answer = http.get(sandbox.url + path)
    image = Image.open(io.BytesIO(answer.content))
    assert (image.format, image.size) == (fmt, size)


def test_sample_mp4_has_the_boxes_and_duration(sandbox, http):
    blob = http.get(sandbox.url + "/_media/sample.mp4", params={"seconds": 12, "w": 720, "h": 1280}).content
    assert blob[4:8] == b"ftyp" and b"moov" in blob[:1000] and b"mdat" in blob[:1000]
    info = probe(blob)
    assert (info.kind, info.duration_s, info.width, info.height) == ("video", 12.0, 720, 1280)


def test_cli_prints_its_url_and_serves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", "0", "--seed", "3"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        # The URL is printed once the socket listens: a client may connect at once (no retrying), and is
        # answered as soon as the server is up.
        health = httpx.get(url + "/_control/health", timeout=60)
        assert health.json()["seed"] == 3
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert "GET /_control/health" not in stderr          # control calls are not platform traffic
    assert proc.returncode == 0


def test_state_file_survives_a_restart(tmp_path):
    path = str(tmp_path / "sandbox.pickle")
    with Emulator.start(state_file=path) as first:
        token = first.accounts("x")[0]["access_token"]
        assert httpx.post(first.base_url("api.x.com") + "/2/tweets", json={"text": "keep me"},
                          headers=bearer(token)).status_code == 201
    assert os.path.exists(path)
    with Emulator.start(state_file=path) as second:
        assert [p["text"] for p in second.posts("x")] == ["keep me"]
        assert httpx.get(second.base_url("api.x.com") + "/2/users/me", headers=bearer(token)).status_code == 200


async def _raw_posts(host: str, port: int, requests: list[tuple[str, bytes]]) -> list[int]:
    """POST /api.x.com/2/tweets on one keep-alive connection; a minimal client so the test measures the server."""
    reader, writer = await asyncio.open_connection(host, port)
    codes = []
    for token, body in requests:
        writer.write(b"POST /api.x.com/2/tweets HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (host.encode(), token.encode(), len(body), body))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        codes.append(int(head.split(b" ")[1]))
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        await reader.readexactly(length)
    writer.close()
    return codes


def test_concurrent_publishing_with_latency(sandbox):
    """400 posts from 200 accounts over 100 connections with 200 ms injected latency, served side by side: each
    one is published once, and requests overlap (served one at a time, none would)."""
    sandbox.configure(latency_ms=200)
    accounts = sandbox.accounts("x", count=200, prefix="load")
    batches = [[(accounts[(c * 4 + i) % 200]["access_token"], b'{"text":"load %d %d"}' % (c, i)) for i in range(4)]
               for c in range(100)]

    async def run() -> list[int]:
        results = await asyncio.gather(*(_raw_posts(sandbox.host, sandbox.port, batch) for batch in batches))
        return [code for codes in results for code in codes]

    # In a thread of its own: other test modules may have an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        codes = pool.submit(asyncio.run, run()).result()
    assert codes == [201] * 400
    assert len(sandbox.posts("x")) == 400 and sandbox.duplicates()["duplicates"] == []
    # Overlap, from the emulator's own request log (when each was answered, and how long it was held): served one
    # at a time, each request would start after the previous one ended. How fast it serves is bench/'s business.
    log = [r for r in sandbox.state.requests if r["path"] == "/api.x.com/2/tweets"]
    spans = sorted((end - r["ms"] / 1000, end) for r in log
                   for end in [datetime.fromisoformat(r["at"]).timestamp()])
    assert len(spans) == 400 and all(r["ms"] >= 200 for r in log)
    # Another request began while one was still held, by more than half the injected latency.
    assert any(start < max(end for _, end in spans[:i]) - 0.1 for i, (start, _) in enumerate(spans) if i)

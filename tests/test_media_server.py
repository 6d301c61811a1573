"""Uploaded media: stored by content hash, served read-only, checked from disk before scheduling."""
from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from core.media.checks import MediaChecker
from core.media.library import MediaLibrary
from core import Account, Platform, Post
from jobs.media_server import make_app


def jpeg(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 60, 90)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def library(tmp_path):
    return MediaLibrary(tmp_path / "media", "https://media.example.com/media")


def test_served_read_only_by_name(library):
    stored = library.save(jpeg(1080, 1350), filename="launch.jpg", content_type="image/jpeg")
    client = TestClient(make_app(library))
    response = client.get(f"/media/{stored.name}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == stored.path.read_bytes()
    # No listing, no traversal, no other files.
    for path in ("/media/", "/media/..%2Fsecret.key", "/media/launch.jpg", "/media/" + "0" * 64 + ".jpg"):
        assert client.get(path).status_code == 404, path


def test_uploads_are_checked_from_disk_against_each_platform(library):
    wide = library.save(jpeg(1600, 700), filename="wide.jpg", content_type="image/jpeg")
    square = library.save(jpeg(1080, 1080), filename="square.jpg", content_type="image/jpeg")
    # The checker never fetches our own URLs (a transport that fails proves it).
    offline = httpx.Client(transport=httpx.MockTransport(lambda r: (_ for _ in ()).throw(AssertionError(r.url))))
    checker = MediaChecker(library=library, client=offline)
    ig = Account(platform=Platform.INSTAGRAM, handle="@a")
    problems = checker(Post(account=ig, caption="x", media_urls=[square.public_url, wide.public_url]))
    assert [p.code for p in problems] == ["media_aspect_ratio"] and "image 2" in problems[0].message
    missing = checker(Post(account=ig, caption="x", media_urls=["https://media.example.com/media/" + "a" * 64 + ".jpg"]))
    assert [p.code for p in missing] == ["media_missing"]

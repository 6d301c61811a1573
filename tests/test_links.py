"""core.platforms.links.viewable_link: a published post's link in sandbox mode opens the emulator's page."""
from __future__ import annotations

import pytest

from core.infra.settings import Settings
from core.platforms.links import viewable_link

SANDBOX = Settings(sandbox=True, sandbox_url="http://127.0.0.1:8765/")


@pytest.mark.parametrize("url, path", [
    ("https://x.com/sandbox_creator/status/2128", "x.com/sandbox_creator/status/2128"),
    ("https://www.instagram.com/p/ABC123/", "www.instagram.com/p/ABC123/"),
    ("https://www.instagram.com/reel/XYZ/", "www.instagram.com/reel/XYZ/"),
    ("https://www.facebook.com/1234/posts/5678", "www.facebook.com/1234/posts/5678"),
    ("https://www.linkedin.com/feed/update/urn:li:share:7/", "www.linkedin.com/feed/update/urn:li:share:7/"),
    ("https://www.tiktok.com/@maker/video/7300", "www.tiktok.com/@maker/video/7300"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.threads.net/@maker/post/C1x", "www.threads.net/@maker/post/C1x"),
    ("https://bsky.app/profile/maker.bsky.social/post/3kabc", "bsky.app/profile/maker.bsky.social/post/3kabc"),
    ("https://mastodon.social/@maker/1122", "mastodon.social/@maker/1122"),
])
def test_sandbox_mode_maps_each_platform_url_to_the_emulator_page(url, path):
    assert viewable_link(url, SANDBOX) == f"http://127.0.0.1:8765/web/{path}"


def test_configured_mastodon_instance_is_mapped_too():
    settings = Settings(sandbox=True, sandbox_url="http://emu:9000",
                        platform_options={"mastodon": {"instance": "https://fosstodon.org"}})
    assert viewable_link("https://fosstodon.org/@me/1", settings) == "http://emu:9000/web/fosstodon.org/@me/1"


def test_real_mode_and_other_links_are_unchanged():
    real = Settings(sandbox=False)
    assert viewable_link("https://x.com/me/status/1", real) == "https://x.com/me/status/1"
    assert viewable_link("https://example.com/blog", SANDBOX) == "https://example.com/blog"
    assert viewable_link("", SANDBOX) == "" and viewable_link(None, SANDBOX) is None
    assert viewable_link("at://did:plc:x/app.bsky.feed.post/1", SANDBOX) == "at://did:plc:x/app.bsky.feed.post/1"

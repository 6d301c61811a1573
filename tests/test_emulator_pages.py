"""The emulator's page for a published post: what opening a post's link shows in sandbox mode."""
from __future__ import annotations

from core.infra.settings import Settings
from core.platforms.links import viewable_link
from tests.conftest_emulator import bearer, emu, http, sandbox  # noqa: F401


def _tweet(sandbox, http, token: str, text: str, reply_to: str | None = None) -> str:
    body = {"text": text, **({"reply": {"in_reply_to_tweet_id": reply_to}} if reply_to else {})}
    sent = http.post(sandbox.base_url("api.x.com") + "/2/tweets", json=body, headers=bearer(token))
    assert sent.status_code == 201, sent.text
    return sent.json()["data"]["id"]


def test_the_post_link_opens_the_emulator_page_with_text_author_metrics_and_replies(sandbox, http):
    (acct,) = sandbox.accounts("x", count=1, prefix="pagex")
    tweet = _tweet(sandbox, http, acct["access_token"], "Launch day <b>is</b> here")
    _tweet(sandbox, http, acct["access_token"], "More in the thread", reply_to=tweet)
    post = next(p for p in http.get(sandbox.url + "/_control/posts", params={"platform": "x"}).json()["posts"]
                if p["external_id"] == tweet)
    assert post["url"].startswith("https://x.com/")
    link = viewable_link(post["url"], Settings(sandbox=True, sandbox_url=sandbox.url))
    page = http.get(link)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Launch day &lt;b&gt;is&lt;/b&gt; here" in page.text           # the text, escaped
    assert "pagex" in page.text                                           # the author's handle
    assert "Metrics" in page.text and "Replies and comments (1)" in page.text and "More in the thread" in page.text
    # The shape a publish recorded without the handle (x.com/i/status/ID) finds the same post.
    again = http.get(viewable_link(f"https://x.com/i/status/{tweet}", Settings(sandbox=True, sandbox_url=sandbox.url)))
    assert again.status_code == 200 and "Launch day" in again.text


def test_a_post_the_emulator_does_not_hold_says_so(sandbox, http):
    page = http.get(sandbox.url + "/web/x.com/someone/status/123")
    assert page.status_code == 404 and "Post not found" in page.text


def test_mastodon_status_page(sandbox, http):
    (acct,) = sandbox.accounts("mastodon", count=1, prefix="pagem")
    sent = http.post(sandbox.base_url("mastodon.social") + "/api/v1/statuses", json={"status": "Toot toot"},
                     headers=bearer(acct["access_token"]))
    assert sent.status_code == 200, sent.text
    page = http.get(viewable_link(sent.json()["url"], Settings(sandbox=True, sandbox_url=sandbox.url)))
    assert page.status_code == 200 and "Toot toot" in page.text


def test_each_platforms_recorded_url_shape_finds_its_post():
    from sandbox.state import Post, State
    from sandbox.web import find_post_by_url, post_page_html
    st = State()
    shapes = {
        "instagram": ("17890001", "https://www.instagram.com/p/AbC123/"),
        "facebook": ("111_222", "https://www.facebook.com/111/posts/222"),
        "linkedin": ("urn:li:share:7000", "https://www.linkedin.com/feed/update/urn:li:share:7000/"),
        "tiktok": ("7300", "https://www.tiktok.com/@maker/video/7300"),
        "youtube": ("dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        "threads": ("1789", "https://www.threads.net/@maker/post/C1x"),
        "bluesky": ("at://did:plc:abc/app.bsky.feed.post/3kabc", "https://bsky.app/profile/maker.bsky.social/post/3kabc"),
    }
    for platform, (external_id, url) in shapes.items():
        st.add_post(Post(platform=platform, account="a", external_id=external_id, text=f"on {platform}", media=[],
                         received_at="", request_id="r", published_at=st.now(), url=url))
    for platform, (external_id, url) in shapes.items():
        assert find_post_by_url(st, url).platform == platform
    # Bluesky addressed by the DID (no handle known): the record key finds it
    assert find_post_by_url(st, "https://bsky.app/profile/did:plc:abc/post/3kabc").platform == "bluesky"
    assert find_post_by_url(st, "https://www.youtube.com/watch?v=other") is None
    status, body = post_page_html(st, "https://www.linkedin.com/feed/update/urn:li:share:7000")
    assert status == 200 and "on linkedin" in body

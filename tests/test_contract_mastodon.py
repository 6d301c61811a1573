"""The Mastodon adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater
from core.platforms.base import Credentials, MediaItem, PublishRequest, pkce_pair
from core.domain.catalog import Platform
from core.platforms.mastodon import MastodonAdapter
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
from sandbox import insights  # noqa: E402
REDIRECT = "https://outpost.example/"
DAY = 86400


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=21) as emulator:
        yield emulator


@pytest.fixture
def adapter(emu):
    """A reset emulator and an adapter pointed at it (sleeping moves the emulator clock)."""
    emu.reset(clock=True)
    saved = sandbox.SandboxConfig().as_dict()
    client = httpx.Client(timeout=10, trust_env=False)
    yield MastodonAdapter(client, sandbox_config(MastodonAdapter, emu.url, REDIRECT), clock=emu.state.clock.dt,
                          sleep=emu.advance)
    client.close()
    emu.clear_faults()
    emu.config.update(saved)


def connect(adapter: MastodonAdapter, handle: str):
    """The consent page over HTTP with PKCE, the code exchange, verify_credentials."""
    verifier, challenge = pkce_pair()
    back = query_of(press_on_consent_page(adapter.authorization_url(state="st-9", code_challenge=challenge),
                                          handle=handle))
    assert back["state"] == "st-9"
    token = adapter.exchange_code(back["code"], code_verifier=verifier)
    profile = adapter.fetch_profile(token)
    return token, profile, Credentials(token.access_token, external_id=profile.external_id, meta=dict(profile.meta))


def post(text: str, media=(), marker: str = "", saved: dict | None = None, **options) -> PublishRequest:
    content = RenderedContent(platform=Platform.MASTODON, text=text, caption=text, hashtags=(), media_urls=(), link="",
                              title=None)
    return PublishRequest(content=content, media=tuple(media), marker=marker, options=options,
                          progress=dict(saved or {}), checkpoint=saved.__setitem__ if saved is not None else None)


def test_connect_publish_and_measure(emu, adapter):
    token, profile, creds = connect(adapter, "masto_brand")
    assert profile.handle == "@masto_brand@mastodon.social" and adapter.missing_scopes(token) == ()
    assert token.expires_at is None and not adapter.can_refresh(creds)

    text = adapter.publish(creds, post("Hello fediverse & friends https://example.com/launch", marker="d1",
                                       visibility="unlisted", spoiler_text="launch news"))
    assert text.url == f"https://mastodon.social/@masto_brand/{text.external_id}"

    image = MediaItem(f"{emu.url}/_media/sample.jpg?w=1200&h=800", mime="image/jpeg", alt_text="Our new shop front")
    pictures = adapter.publish(creds, post("two pictures", (image, image), marker="d2"))
    clip = MediaItem(f"{emu.url}/_media/sample.mp4?seconds=3&w=640&h=360", kind="video", mime="video/mp4")
    started = emu.now()
    video = adapter.publish(creds, post("a clip", (clip,), marker="d3"))
    assert emu.now() > started                               # the adapter waited while the video processed

    posts = {p["external_id"]: p for p in emu.posts("mastodon")}
    assert posts[text.external_id]["extra"]["visibility"] == "unlisted"
    assert posts[text.external_id]["extra"]["spoiler_text"] == "launch news"
    assert len(posts[pictures.external_id]["media"]) == 2 and posts[video.external_id]["extra"]["video"]
    described = [emu.state.masto.media[m]["description"] for m in posts[pictures.external_id]["media"]]
    assert described == ["Our new shop front", "Our new shop front"]

    ids = [text.external_id, pictures.external_id, video.external_id]
    assert all(m.values["likes"] == 0 for m in adapter.post_metrics(creds, ids).values())
    emu.advance(3 * DAY)
    grown = adapter.post_metrics(creds, ids)
    assert set(grown) == set(ids)
    for status_id in ids:                                  # Outpost shows exactly the instance's numbers
        shown = insights.post_metrics(emu.state, emu.state.find_post("mastodon", status_id))
        assert grown[status_id].values == {"likes": shown["likes"], "comments": shown["comments"],
                                           "shares": shown["shares"] + shown["quotes"]}
    assert adapter.account_metrics(creds).followers > 0


def test_a_lost_answer_does_not_post_twice(emu, adapter):
    _, profile, creds = connect(adapter, "masto_lost")
    since = adapter.clock() - timedelta(seconds=1)
    saved: dict = {}
    emu.add_fault(kind="lost_response", platform="mastodon", path="/api/v1/statuses", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, post("Sale starts at noon", marker="delivery-42", saved=saved))
    finally:
        emu.clear_faults()
    assert len(emu.posts("mastodon")) == 1                  # it did go out

    # The runner asks first: the listing finds it...
    found = adapter.find_published(creds, post("Sale starts at noon", marker="delivery-42", saved=saved), since=since)
    assert found is not None and found.external_id == emu.posts("mastodon")[0]["external_id"]
    # ...and even a blind retry of the same delivery gets the same status back (Idempotency-Key).
    again = adapter.publish(creds, post("Sale starts at noon", marker="delivery-42", saved=saved))
    assert again.external_id == found.external_id
    assert len(emu.posts("mastodon")) == 1 and emu.duplicates()["published_extra"] == 0
    assert adapter.find_published(creds, post("Never posted"), since=since) is None


def test_a_media_only_post_that_did_not_go_out_is_not_taken_for_another(emu, adapter):
    _, _, creds = connect(adapter, "masto_pictures")
    since = adapter.clock() - timedelta(seconds=1)
    image = MediaItem(f"{emu.url}/_media/sample.jpg?w=800&h=600")
    saved: dict = {}
    emu.add_fault(kind="error_5xx", platform="mastodon", path="/api/v1/statuses", method="POST", count=1, status=503)
    try:
        with pytest.raises(OutcomeUnknown):                 # a 5xx on the post: it may have gone out
            adapter.publish(creds, post("", (image,), marker="delivery-pic", saved=saved))
    finally:
        emu.clear_faults()
    assert emu.posts("mastodon") == []                       # (this one did not)
    other = adapter.publish(creds, post("", (image,), marker="another-delivery"))     # another media-only status
    # Before: the other status matched ("no text, made after since") and this one was marked published unsent.
    assert adapter.find_published(creds, post("", (image,), marker="delivery-pic", saved=saved), since=since) is None
    mine = adapter.publish(creds, post("", (image,), marker="delivery-pic", saved=saved))
    assert mine.external_id != other.external_id and len(emu.posts("mastodon")) == 2
    uploaded = {k: v for k, v in saved.items() if k.startswith("media")}        # as if the answer had been lost
    again = adapter.find_published(creds, post("", (image,), marker="delivery-pic", saved=uploaded), since=since)
    assert again.external_id == mine.external_id            # found by its own attachment, exactly
    assert emu.duplicates()["published_extra"] == 0


def test_too_long_is_rejected_in_mastodons_words(emu, adapter):
    _, _, creds = connect(adapter, "masto_wordy")
    with pytest.raises(Rejected, match="Text character limit of 500 exceeded"):
        adapter.publish(creds, post("a" * 501, marker="d"))
    assert emu.posts("mastodon") == []


def test_rate_limit_waits_for_the_window_reset(emu, adapter):
    _, _, creds = connect(adapter, "masto_busy")
    emu.configure(masto_rate_limit=2)                       # verify_credentials used one
    adapter.publish(creds, post("first", marker="a"))
    with pytest.raises(RetryLater) as info:
        adapter.publish(creds, post("second", marker="b"))
    now = emu.state.clock.dt()
    assert info.value.http_status == 429 and now < info.value.retry_at <= now + timedelta(seconds=301)


def test_a_revoked_token_means_reconnect(emu, adapter):
    token, _, creds = connect(adapter, "masto_gone")
    httpx.post(emu.base_url("mastodon.social") + "/oauth/revoke",
               data={"token": token.access_token, "client_id": "outpost-sandbox-mastodon",
                     "client_secret": "sandbox-secret-mastodon"})
    with pytest.raises(ReconnectNeeded, match="Connect the account again"):
        adapter.publish(creds, post("after revoking", marker="r"))
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(creds)


def test_the_runner_reconciles_a_lost_answer_without_a_second_post(emu, tmp_path):
    """The whole path: the runner publishes, the answer is lost, it checks, finds the status, marks it published."""
    from core.domain.lifecycle import DeliveryState
    from core.rules.outcomes import RetryPolicy
    from jobs.runner import Runner, RunnerConfig
    from tests.runner_helpers import make_world, wait_for
    emu.reset(clock=True)
    world = make_world(emu, tmp_path, platform_timeout_s=1.0, settle_s=1.5)    # the key is trusted after the settle
    runner = None
    try:
        account = world.connect("mastodon")
        emu.add_fault(kind="lost_response", platform="mastodon", path="/api/v1/statuses", method="POST", count=1)
        post = world.post(account, text="Lost answers are checked, not reposted")
        runner = Runner(world.store, world.settings, RunnerConfig(
            name="masto-runner", concurrency=2, poll_s=0.2, reconcile_after=timedelta(seconds=0.3),
            policy=RetryPolicy(delays=(timedelta(seconds=0.3),), jitter=0, max_attempts=3)))
        runner.start()
        [d] = wait_for(lambda: [d for d in world.store.get_deliveries(post.id) if d.state == DeliveryState.PUBLISHED])
        assert d.progress.get("reconciled") == "1" and d.external_url.startswith("https://mastodon.social/@")
        assert [p["external_id"] for p in emu.posts("mastodon")] == [d.external_id]
        assert emu.duplicates()["published_extra"] == 0
    finally:
        if runner is not None:
            runner.shutdown()
        world.client.close()
        world.store.engine.dispose()

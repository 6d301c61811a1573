"""The Bluesky adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.platforms.bluesky import BlueskyAdapter
from core.domain.catalog import Platform
from tests.sandbox_helpers import sandbox_config

sandbox = pytest.importorskip("sandbox")
from sandbox import insights  # noqa: E402
DAY = 86400


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=22) as emulator:
        yield emulator


@pytest.fixture
def adapter(emu):
    emu.reset(clock=True)
    saved = sandbox.SandboxConfig().as_dict()
    client = httpx.Client(timeout=10, trust_env=False)
    yield BlueskyAdapter(client, sandbox_config(BlueskyAdapter, emu.url, "https://outpost.example/"),
                         clock=emu.state.clock.dt, sleep=emu.advance)
    client.close()
    emu.clear_faults()
    emu.config.update(saved)


def connect(adapter: BlueskyAdapter, handle: str):
    """What connecting does: a session from the handle and the sandbox app password, then the profile."""
    token = adapter.login(handle, "sandbox-app-password")
    profile = adapter.fetch_profile(token)
    return token, profile, creds_of(token, profile)


def creds_of(token, profile) -> Credentials:
    return Credentials(token.access_token, external_id=profile.external_id, refresh_token=token.refresh_token,
                       expires_at=token.expires_at, refresh_expires_at=token.refresh_expires_at,
                       meta=dict(profile.meta))


def post(text: str, media=(), marker: str = "", saved: dict | None = None) -> PublishRequest:
    content = RenderedContent(platform=Platform.BLUESKY, text=text, caption=text, hashtags=(), media_urls=(), link="",
                              title=None)
    return PublishRequest(content=content, media=tuple(media), marker=marker, progress=dict(saved or {}),
                          checkpoint=saved.__setitem__ if saved is not None else None)


def sliced(text: str, facet: dict) -> str:
    return text.encode()[facet["index"]["byteStart"]:facet["index"]["byteEnd"]].decode()


def test_connect_publish_measure_and_refresh(emu, adapter):
    before = emu.state.clock.dt()
    token, profile, creds = connect(adapter, "casey")
    after = emu.state.clock.dt()
    assert profile.handle == "@casey.bsky.social" and profile.external_id.startswith("did:plc:")
    assert creds.meta["pds"] == "https://morel.us-east.host.bsky.network"          # followed from the didDoc
    # Read from the JWT: two hours from when it was minted (its exp is in whole seconds).
    assert before - timedelta(seconds=1) <= token.expires_at - timedelta(hours=2) <= after

    link = f"{emu.url}/_control/health"                 # a page the sandbox can reach (no internet here)
    text = f"🎉 Café launch! {link} #launch with @casey.bsky.social"
    first = adapter.publish(creds, post(text, marker="d1"))
    assert first.url.startswith("https://bsky.app/profile/casey.bsky.social/post/")
    recorded = emu.posts("bluesky")[-1]
    assert recorded["external_id"] == first.external_id and recorded["text"] == text
    assert [sliced(text, f) for f in recorded["extra"]["facets"]] == [link, "#launch", "@casey.bsky.social"]
    assert recorded["extra"]["embed"]["external"]["uri"] == link                   # a lone link gets a card

    image = MediaItem(f"{emu.url}/_media/sample.jpg?w=800&h=600", alt_text="Our shop front")
    pictures = adapter.publish(creds, post("two pictures", (image, image), marker="d2"))
    embed = emu.posts("bluesky")[-1]["extra"]["embed"]
    assert [(i["alt"], i["aspectRatio"]) for i in embed["images"]] == [("Our shop front", {"width": 800,
                                                                                            "height": 600})] * 2

    ids = [first.external_id, pictures.external_id]
    assert all(m.values["likes"] == 0 for m in adapter.post_metrics(creds, ids).values())
    emu.advance(3 * DAY)
    with pytest.raises(TokenExpired):                    # the 2-hour access token is long gone
        adapter.post_metrics(creds, ids)
    fresh = adapter.refresh(creds)
    assert fresh.refresh_token != creds.refresh_token    # rotated
    with pytest.raises(ReconnectNeeded):                 # the old refresh token died with its use
        adapter.refresh(creds)
    creds = creds_of(fresh, profile)
    grown = adapter.post_metrics(creds, ids)
    assert set(grown) == set(ids)
    for uri in ids:                                        # Outpost shows exactly Bluesky's numbers
        shown = insights.post_metrics(emu.state, emu.state.find_post("bluesky", uri))
        assert grown[uri].values == {"likes": shown["likes"], "comments": shown["comments"],
                                     "shares": shown["shares"] + shown["quotes"]}
    assert adapter.account_metrics(creds).followers > 0


@pytest.mark.parametrize("link", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3:8080/admin"])
def test_a_link_to_an_internal_address_goes_out_without_a_card(emu, adapter, link):
    _, _, creds = connect(adapter, "cards.bsky.social")
    adapter.publish(creds, post(f"Our new page {link}", marker="card"))
    [recorded] = emu.posts("bluesky")                       # posted once, and nothing inside was fetched
    assert recorded["text"] == f"Our new page {link}" and not recorded["extra"].get("embed")


def test_a_lost_answer_does_not_post_twice(emu, adapter):
    _, profile, creds = connect(adapter, "lost.bsky.social")
    since = adapter.clock() - timedelta(seconds=1)
    saved: dict = {}
    emu.add_fault(kind="lost_response", platform="bluesky", path="createRecord", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, post("Doors open at nine", marker="delivery-7", saved=saved))
    finally:
        emu.clear_faults()
    assert len(emu.posts("bluesky")) == 1 and saved["rkey"]                 # it went out, under the saved key

    found = adapter.find_published(creds, post("Doors open at nine", saved=saved), since=since)
    assert found is not None and found.external_id == emu.posts("bluesky")[0]["external_id"]
    again = adapter.publish(creds, post("Doors open at nine", marker="delivery-7", saved=saved))
    assert again.external_id == found.external_id
    assert len(emu.posts("bluesky")) == 1 and emu.duplicates()["published_extra"] == 0
    assert adapter.find_published(creds, post("Never posted", saved={"rkey": "3lbvvyxqmn22c"}), since=since) is None


def test_too_long_is_rejected_in_blueskys_words(emu, adapter):
    _, _, creds = connect(adapter, "wordy.bsky.social")
    with pytest.raises(Rejected, match="longer than 300 graphemes"):
        adapter.publish(creds, post("a" * 301, marker="d"))
    assert emu.posts("bluesky") == []


def test_write_points_used_up_wait_for_the_reset(emu, adapter):
    _, _, creds = connect(adapter, "busy.bsky.social")
    emu.configure(bsky_points_hour=3)
    adapter.publish(creds, post("first", marker="a"))
    with pytest.raises(RetryLater) as info:
        adapter.publish(creds, post("second", marker="b"))
    now = emu.state.clock.dt()
    assert info.value.http_status == 429 and now < info.value.retry_at <= now + timedelta(seconds=3601)


@pytest.mark.parametrize("password, words", [
    ("wrong", "did not accept that handle and app password"),
    ("sandbox-main-password", "Use an app password instead"),
])
def test_refused_logins(adapter, password, words):
    with pytest.raises(ReconnectNeeded, match=words):
        adapter.login("casey.bsky.social", password)


def test_the_runner_reconciles_a_lost_answer_and_renews_an_expired_session(emu, tmp_path):
    """The whole path with the runner: a lost answer is found by its record key (one post), and a session
    that expires mid-run is renewed with refreshSession and the rotated refresh token is kept."""
    from core.domain.lifecycle import DeliveryState
    from core.rules.outcomes import RetryPolicy
    from jobs.runner import Runner, RunnerConfig
    from tests.runner_helpers import make_world, wait_for
    emu.reset(clock=True)
    world = make_world(emu, tmp_path)
    runner = None
    try:
        account = world.connect("bluesky", "runner_brand")
        assert account.handle == "@runner-brand.bsky.social"
        emu.add_fault(kind="lost_response", platform="bluesky", path="createRecord", method="POST", count=1)
        lost = world.post(account, text="Lost answers are checked, not reposted")
        runner = Runner(world.store, world.settings, RunnerConfig(
            name="bsky-runner", concurrency=2, poll_s=0.2, reconcile_after=timedelta(seconds=0.3),
            policy=RetryPolicy(delays=(timedelta(seconds=0.3),), jitter=0, max_attempts=3)))
        runner.start()
        [d] = wait_for(lambda: [d for d in world.store.get_deliveries(lost.id) if d.state == DeliveryState.PUBLISHED])
        assert d.progress.get("reconciled") == "1"
        assert [p["external_id"] for p in emu.posts("bluesky")] == [d.external_id]

        before = world.store.get_account(account.id)
        emu.add_fault(kind="expire_token", platform="bluesky", path="createRecord", method="POST", count=1)
        later = world.post(account, text="Posted after the session was renewed")
        [d2] = wait_for(lambda: [d for d in world.store.get_deliveries(later.id)
                                 if d.state == DeliveryState.PUBLISHED])
        after = world.store.get_account(account.id)
        assert after.oauth_token != before.oauth_token and after.refresh_token != before.refresh_token
        assert "account.token_refreshed" in [e.action for e in world.store.list_events(subject_id=account.id)]
        assert len(emu.posts("bluesky")) == 2 and emu.duplicates()["published_extra"] == 0
    finally:
        if runner is not None:
            runner.shutdown()
        world.client.close()
        world.store.engine.dispose()

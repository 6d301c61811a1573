"""The Threads adapter, unchanged, against the local emulator over real HTTP (sandbox)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.services.auth import create_owner
from core.services.connect import ConnectService
from core.db import make_engine, upgrade
from core.db.sql_store import SqlPostStore
from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PublishRequest
from core.domain.catalog import Platform
from core.platforms.registry import build_adapter
from core.platforms.threads import ThreadsAdapter
from core.infra.secrets import load_keyring
from core.infra.settings import Settings
from tests.sandbox_helpers import press_on_consent_page, query_of, sandbox_config

sandbox = pytest.importorskip("sandbox")
REDIRECT = "http://localhost:8501/oauth/callback"


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(port=0, seed=11) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def adapter(emu):
    client = httpx.Client(timeout=10)
    config = sandbox_config(ThreadsAdapter, emu.url, REDIRECT)
    # The emulator's clock is the adapter's clock, and waiting moves it: polling costs no real time.
    yield ThreadsAdapter(client, config, clock=lambda: datetime.fromtimestamp(emu.now(), timezone.utc),
                         sleep=emu.advance)
    client.close()


def consent(adapter, handle: str) -> dict[str, str]:
    """Open the authorize URL, press Allow on the sandbox consent form, read the redirect's query."""
    location = press_on_consent_page(adapter.authorization_url(state=f"state-{handle}"), handle=handle)
    assert location.startswith(REDIRECT)
    return query_of(location)


def connect(adapter, handle: str):
    query = consent(adapter, handle)
    assert query["state"] == f"state-{handle}"
    token = adapter.exchange_code(query["code"])
    profile = adapter.fetch_profile(token)
    creds = Credentials(access_token=token.access_token, external_id=profile.external_id,
                        issued_at=token.issued_at, expires_at=token.expires_at)
    return token, profile, creds


@pytest.fixture(scope="module")
def account(emu, adapter):
    return connect(adapter, "outpost_bakery")


def media(emu, name: str) -> str:
    return f"{emu.url}/_media/{name}"


def post(text: str, items=(), **options) -> tuple[PublishRequest, dict]:
    saved: dict[str, str] = {}
    content = RenderedContent(platform=Platform.THREADS, text=text, caption=text, hashtags=(), media_urls=(),
                              link="", title=None)
    return PublishRequest(content=content, media=tuple(items), options=options, checkpoint=saved.__setitem__), saved


def test_connect(account, adapter):
    token, profile, _ = account
    assert token.access_token and token.refresh_token is None
    assert token.expires_at - token.issued_at == timedelta(days=60)          # the long-lived token
    assert profile.handle == "outpost_bakery" and profile.external_id == token.extra["user_id"]


def test_publish_text_image_carousel_and_video_then_read_metrics(emu, adapter, account):
    _, profile, creds = account
    jpg = media(emu, "sample.jpg?w=1080&h=1350")
    cases = [
        post("Ovens on at 6 & doors open at 8 🍞 #bakery\nSee you!"),                           # text
        post("Today's loaf", [MediaItem(jpg, alt_text="A sourdough loaf")]),                     # image
        post("Three ways to eat a croissant",                                                    # carousel
             [MediaItem(jpg), MediaItem(media(emu, "sample.png")),
              MediaItem(media(emu, "sample.mp4?seconds=5"), kind="video")]),
        post("Shaping the dough", [MediaItem(media(emu, "sample.mp4?seconds=8&w=720&h=1280"), kind="video")]),
    ]
    results = [adapter.publish(creds, request) for request, _ in cases]
    ids = [r.external_id for r in results]
    assert len(set(ids)) == 4
    assert all(r.url and r.url.startswith("https://www.threads.net/@outpost_bakery/post/") for r in results)
    published = emu.posts("threads", profile.external_id)
    assert [p["external_id"] for p in published] == ids
    assert [p["kind"] for p in published] == ["text", "image", "carousel", "video"]
    assert published[0]["text"] == "Ovens on at 6 & doors open at 8 🍞 #bakery\nSee you!"   # arrived exactly
    assert len(published[2]["media"]) == 3
    assert all(saved["th_media"] == r.external_id for (_, saved), r in zip(cases, results))
    assert emu.duplicates()["duplicates"] == []

    emu.advance(6 * 3600)                                                    # let the insights grow
    first = adapter.post_metrics(creds, ids)
    assert set(first) == set(ids)
    assert all(m.values.keys() == {"views", "likes", "comments", "shares"} for m in first.values())
    assert set(first[ids[0]].raw) == {"views", "likes", "replies", "reposts", "quotes", "shares"}
    emu.advance(2 * 86400)
    later = adapter.post_metrics(creds, ids)
    assert all(later[i].values["views"] >= first[i].values["views"] for i in ids)
    assert sum(later[i].values["views"] for i in ids) > sum(first[i].values["views"] for i in ids)
    followers = adapter.account_metrics(creds).followers
    assert followers is not None and followers > 0


def test_too_long_text_is_rejected_and_nothing_is_posted(emu, adapter, account):
    _, profile, creds = account
    before = len(emu.posts("threads", profile.external_id))
    with pytest.raises(Rejected, match="at most 500 characters"):
        adapter.publish(creds, post("🍞" * 126)[0])                          # 504 in Threads' count
    assert len(emu.posts("threads", profile.external_id)) == before


def test_a_lost_publish_answer_is_reconciled_not_reposted(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    request, saved = post("Lost answer, one post", [MediaItem(media(emu, "sample.jpg"))])
    before = len(emu.posts("threads", profile.external_id))
    emu.add_fault(kind="lost_response", platform="threads", path="/threads_publish", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, request)
    finally:
        emu.clear_faults()
    retry = PublishRequest(content=request.content, media=request.media, progress=dict(saved),
                           checkpoint=saved.__setitem__)
    with pytest.raises(OutcomeUnknown):                                      # the container says PUBLISHED
        adapter.publish(creds, retry)
    found = adapter.find_published(creds, retry, since=since)
    published = emu.posts("threads", profile.external_id)
    assert len(published) == before + 1 and found.external_id == published[-1]["external_id"]
    assert found.url == published[-1]["url"]
    assert emu.duplicates()["duplicates"] == []                             # posted exactly once


def lose_a_publish_answer(emu, adapter, creds, text):
    """threads_publish goes through but its answer is lost; returns the retry's request (progress saved)."""
    request, saved = post(text)
    emu.add_fault(kind="lost_response", platform="threads", path="/threads_publish", method="POST", count=1)
    try:
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, request)
    finally:
        emu.clear_faults()
    return PublishRequest(content=request.content, progress=dict(saved), checkpoint=saved.__setitem__)


def test_a_lost_answer_is_found_behind_many_newer_threads(emu, adapter, account, monkeypatch):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    retry = lose_a_publish_answer(emu, adapter, creds, "Found behind thirty newer threads")
    for n in range(30):                                     # more than the 25 one page used to hold
        adapter.publish(creds, post(f"Newer thread {n}")[0])
    monkeypatch.setattr(adapter, "LISTING_PAGE", 10)        # and read page by page over real HTTP
    found = adapter.find_published(creds, retry, since=since)
    ours = [p for p in emu.posts("threads", profile.external_id) if p["text"] == "Found behind thirty newer threads"]
    assert len(ours) == 1 and found.external_id == ours[0]["external_id"]
    assert emu.duplicates()["duplicates"] == []


def test_a_published_thread_that_cannot_be_identified_goes_to_a_person_not_out_again(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    retry = lose_a_publish_answer(emu, adapter, creds, "Edited after it went out")
    before = len(emu.posts("threads", profile.external_id))
    [node] = [n for n in emu.state.meta.nodes.values() if n.type == "th_media"
              and n.data["text"] == "Edited after it went out"]
    node.data["text"] = "Edited after it went out (typo fixed)"          # the person edited it in the app
    for _ in range(3):                                      # what the runner would do, again and again
        with pytest.raises(RetryLater) as info:
            adapter.find_published(creds, retry, since=since)
        assert info.value.code == "published_not_found" and "will not be posted again" in str(info.value)
        with pytest.raises(OutcomeUnknown):
            adapter.publish(creds, retry)
    assert len(emu.posts("threads", profile.external_id)) == before        # still the one thread
    assert emu.duplicates()["duplicates"] == []


def test_a_lost_container_answer_leaves_nothing_to_find(emu, adapter, account):
    _, profile, creds = account
    since = adapter.clock() - timedelta(seconds=1)
    request, saved = post("The container answer was lost")
    emu.add_fault(kind="lost_response", platform="threads", path=f"/{profile.external_id}/threads", method="POST",
                  count=1)
    try:
        with pytest.raises(RetryLater):         # a container is invisible until published: safe to try again
            adapter.publish(creds, request)
    finally:
        emu.clear_faults()
    assert saved == {} and adapter.find_published(creds, request, since=since) is None   # nothing to find
    result = adapter.publish(creds, PublishRequest(content=request.content, checkpoint=saved.__setitem__))
    assert emu.posts("threads", profile.external_id)[-1]["external_id"] == result.external_id


def test_an_expired_token_says_refresh(emu, adapter, account):
    _, _, creds = account
    emu.add_fault(kind="expire_token", platform="threads", count=1)
    with pytest.raises(TokenExpired) as info:
        adapter.account_metrics(creds)
    assert info.value.code == "190/463"


def test_refresh_waits_for_the_24_hour_rule(emu, adapter):
    token, _, creds = connect(adapter, "outpost_refresh")
    assert not adapter.can_refresh(creds)
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(creds)
    emu.advance(25 * 3600)
    assert adapter.can_refresh(creds)
    before = adapter.clock()
    fresh = adapter.refresh(creds)
    after = adapter.clock()
    assert fresh.access_token != token.access_token
    assert before <= fresh.expires_at - timedelta(days=60) <= after          # 60 days from when it was refreshed
    assert adapter.fetch_profile(fresh).handle == "outpost_refresh"
    renewed = Credentials(access_token=fresh.access_token, external_id=creds.external_id,
                          issued_at=fresh.issued_at, expires_at=fresh.expires_at)
    assert adapter.publish(renewed, post("Posted with the renewed token")[0]).external_id


def test_the_dashboard_connect_flow_stores_a_threads_account(emu, tmp_path):
    """ConnectService with the registry's adapter and the SQL store, as the Accounts page runs it."""
    settings = Settings(data_dir=tmp_path, sandbox=True, sandbox_url=emu.url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlPostStore(engine, load_keyring(env_value=None, key_file=settings.key_file))
    owner, ws = create_owner(store, email="owner@example.com", password="a long password", workspace_name="Brand")
    with httpx.Client(timeout=15, trust_env=False) as client:
        service = ConnectService(store, lambda p: build_adapter(p, settings, client, clock=emu.state.clock.dt),
                                 clock=emu.state.clock.dt)
        url = service.start(user_id=owner.id, workspace_id=ws.id, platform="threads")
        assert url.startswith(f"{emu.url}/www.threads.net/oauth/authorize?")
        back = query_of(press_on_consent_page(url, handle="dashboard_bakery"))
        account = service.finish(user_id=owner.id, state=back["state"], code=back["code"])
    engine.dispose()
    assert account.platform is Platform.THREADS and account.handle == "dashboard_bakery"
    assert account.token_expires_at - emu.state.clock.dt() > timedelta(days=59)
    [emulated] = [a for a in emu.state.accounts.values() if a.platform == "threads" and a.handle == "dashboard_bakery"]
    assert account.external_id == emulated.id

"""Housekeeping deletes the JPEGs made for Instagram (core.media.renditions) that no post needs any more, on a real
media library in a temp dir and every store: never one a post that may still be sent names, never the uploads
themselves; a duplicate of an old post gets its deleted rendition made again."""
from __future__ import annotations

import io
import os
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from core.domain import Account, Post, Schedule, Workspace
from core.domain.catalog import Platform
from core.media.checks import MediaChecker
from core.media.library import MediaLibrary
from core.media.renditions import convert_for_platforms, jpeg_rendition
from core.rules.permissions import Actor
from core.services import housekeeping as hk
from core.services.scheduler import Scheduler

BASE = "https://media.example.com/m"


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (shade, 30, 30, 128)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def world(store, clock, tmp_path):
    library = MediaLibrary(tmp_path / "media", BASE)
    store.add_workspace(Workspace(name="Acme", id="ws"))
    ig = store.save_account(Account(platform=Platform.INSTAGRAM, handle="@brand", oauth_token="t", workspace_id="ws",
                                    id="a_ig"))
    scheduler = Scheduler(store, clock=clock, actor=Actor.system("test"), media_checker=MediaChecker(library=library))
    return store, clock, library, ig, scheduler


def _age(library: MediaLibrary, name: str, when) -> None:
    os.utime(library.path_for(name), (when.timestamp(), when.timestamp()))


def _plan(world, pid: str, shade: int, due):
    """A post for Instagram with a PNG upload, due at `due`; returns (upload name, rendition name)."""
    store, clock, library, ig, scheduler = world
    upload = library.save(png(shade), filename=f"{pid}.png", content_type="image/png")
    post = Post(caption=pid, accounts=(ig,), workspace_id="ws", media_urls=(upload.public_url,),
                schedule=Schedule(scheduled_at=due, timezone_name="UTC"))
    scheduler.schedule_post(pid, post)
    [url] = store.get_post(pid).render(Platform.INSTAGRAM).media_urls
    return upload.name, library.name_of(url)


def _settle(world, at, outcome: str) -> None:
    store, clock, *_ = world
    clock.now = at
    for d in store.claim_due(at, runner_id="r", lease_until=at + timedelta(minutes=2)):
        done = (d.mark_published(external_id="ig1", external_url="https://ig.example/1", at=at)
                if outcome == "published" else d.mark_failed(error="Instagram refused it.", code="bad"))
        store.finish_delivery(done, runner_id="r")


def test_only_renditions_no_post_needs_are_deleted_and_uploads_stay(world):
    store, clock, library, ig, scheduler = world
    t0 = clock()
    clock.now = t0 - timedelta(days=40)
    old_published = _plan(world, "old_published", 10, t0 - timedelta(days=30))
    failed = _plan(world, "failed", 20, t0 - timedelta(days=29))
    cancelled = _plan(world, "cancelled", 30, t0 - timedelta(days=20))
    scheduler.cancel("cancelled", "Not this month.")
    planned = _plan(world, "planned", 40, t0 + timedelta(days=60))       # saved 40 days before it goes out
    recent = _plan(world, "recent_published", 50, t0 - timedelta(days=2))
    _settle(world, t0 - timedelta(days=30), "published")                  # old_published
    _settle(world, t0 - timedelta(days=29), "failed")
    _settle(world, t0 - timedelta(days=2), "published")
    replaced = _plan(world, "edited", 60, t0 + timedelta(days=3))        # its photo is replaced by another
    other = library.save(png(65), filename="other.png", content_type="image/png")
    scheduler.edit("edited", media_urls=(other.public_url,))
    edited = (other.name, library.name_of(store.get_post("edited").render(Platform.INSTAGRAM).media_urls[0]))
    stray_old = jpeg_rendition(library, library.save(png(70), filename="draft.png", content_type="image/png").name)
    stray_new = jpeg_rendition(library, library.save(png(80), filename="draft2.png", content_type="image/png").name)
    # (the strays: composer drafts never saved)
    for _, made in (old_published, failed, cancelled, planned, recent, replaced, edited):
        _age(library, made, t0 - timedelta(days=40))
    _age(library, stray_old, t0 - timedelta(days=8))
    _age(library, stray_new, t0 - timedelta(days=1))
    clock.now = t0

    hk.housekeeping(store, clock=clock, library=library)

    gone = {name for name in (old_published[1], failed[1], cancelled[1], planned[1], recent[1], replaced[1],
                              edited[1], stray_old, stray_new) if not library.path_for(name).exists()}
    assert gone == {old_published[1], cancelled[1], replaced[1], stray_old}
    for upload, _ in (old_published, failed, cancelled, planned, recent, replaced, edited):
        assert library.path_for(upload).exists()                          # what people uploaded is never deleted
    # a duplicate of the old published post gets its JPEG made again (same bytes, same name)
    again = convert_for_platforms(store.get_post("old_published"), library)
    assert again.render(Platform.INSTAGRAM).media_urls == (library.public_url(old_published[1]),)
    assert library.path_for(old_published[1]).exists()


def test_a_rendition_used_again_is_kept_and_without_a_library_nothing_is_deleted(world):
    """The composer converts an upload before the post is saved: a rendition made or used in the last
    RENDITION_KEEP is kept though no post names it yet. (File times are real: this test reads the real clock.)"""
    store, clock, library, *_ = world
    now = datetime.now(timezone.utc)
    upload = library.save(png(90), filename="a.png", content_type="image/png")
    made = jpeg_rendition(library, upload.name)
    _age(library, made, now - timedelta(days=30))
    clock.now = now
    hk.housekeeping(store, clock=clock)                                    # no library given: not its chore
    assert library.path_for(made).exists()
    assert jpeg_rendition(library, upload.name) == made                    # used again: counts as new
    assert hk.forget_unused_renditions(store, library, now=now + timedelta(minutes=1)) == []
    _age(library, made, now - timedelta(days=30))
    assert hk.forget_unused_renditions(store, library, now=now) == [made]


def test_the_posts_are_not_read_while_no_rendition_is_old_enough(world, monkeypatch):
    """Housekeeping runs every hour: with nothing old enough to delete, it reads no post at all."""
    store, clock, library, *_ = world
    now = datetime.now(timezone.utc)
    made = jpeg_rendition(library, library.save(png(100), filename="a.png", content_type="image/png").name)
    reads = []
    real = store.list_posts
    monkeypatch.setattr(store, "list_posts", lambda **kw: reads.append(kw) or real(**kw))
    assert hk.forget_unused_renditions(store, library, now=now) == [] and reads == []
    _age(library, made, now - timedelta(days=8))
    assert hk.forget_unused_renditions(store, library, now=now) == [made] and reads


def test_the_runner_s_hourly_housekeeping_deletes_them_from_its_media_directory(store, tmp_path):
    """The runner hands its media library to housekeeping: a JPEG nobody needs, unused for 8 days, is deleted by the
    runner's own chore (without the library the chore would skip it and the files would pile up for ever)."""
    from core.infra.settings import Settings
    from jobs.runner import Runner, RunnerConfig

    settings = Settings(data_dir=tmp_path / "data", sandbox=True)
    library = MediaLibrary(settings.media_dir, settings.public_media_url)
    upload = library.save(png(110), filename="a.png", content_type="image/png")
    made = jpeg_rendition(library, upload.name)
    _age(library, made, datetime.now(timezone.utc) - timedelta(days=8))
    runner = Runner(store, settings, RunnerConfig(name="housekeeping-test"))
    runner.housekeeping()
    assert not library.path_for(made).exists()
    assert library.path_for(upload.name).exists()

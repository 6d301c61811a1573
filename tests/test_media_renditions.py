"""Uploads a platform does not take in their type (a PNG for Instagram) get a JPEG made for that platform only."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from core import InMemoryPostStore
from core.domain import Account, Post, PostVariant, Schedule
from core.domain.catalog import Platform
from core.domain.errors import ValidationError
from core.media.checks import MediaChecker
from core.media.library import MediaLibrary
from core.media.renditions import convert_for_platforms, jpeg_rendition, rendition_source
from core.rules.validation import validate_post
from core.services.scheduler import Scheduler
from tests.store_contract.world import T0

BASE = "https://media.example.com/m"
IG = Account(platform=Platform.INSTAGRAM, handle="@brand.studio")
X = Account(platform=Platform.X, handle="@brand")


def png(size=(60, 40), alpha=True) -> bytes:
    img = Image.new("RGBA" if alpha else "RGB", size, (200, 30, 30, 0) if alpha else (200, 30, 30))
    if alpha:
        for x in range(size[0] // 2):
            for y in range(size[1]):
                img.putpixel((x, y), (10, 120, 200, 255))   # left half opaque blue, right half see-through
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def library(tmp_path):
    return MediaLibrary(tmp_path / "media", BASE)


def test_a_transparent_png_becomes_a_white_backed_jpeg_of_the_same_size_made_once(library):
    stored = library.save(png(), filename="Launch.png", content_type="image/png")
    made = jpeg_rendition(library, stored.name)
    assert made.endswith(".jpg") and made != stored.name
    with Image.open(library.path_for(made)) as img:
        assert img.format == "JPEG" and img.size == (60, 40)
        r, g, b = img.getpixel((50, 20))          # the see-through half is white, not black
        assert min(r, g, b) > 240
        r, g, b = img.getpixel((5, 20))
        assert b > 150 and r < 60
    assert rendition_source(library, made) == stored.name
    assert jpeg_rendition(library, stored.name) == made          # remembered, not made again
    assert len([p for p in library.root.iterdir() if not p.name.startswith(".")]) == 2


def test_exif_orientation_is_applied(library):
    img = Image.new("RGB", (60, 40), (0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6                                   # rotate 90°: shown 40 wide, 60 high
    out = io.BytesIO()
    img.save(out, "WEBP", exif=exif.tobytes())
    stored = library.save(out.getvalue(), filename="side.webp", content_type="image/webp")
    with Image.open(library.path_for(jpeg_rendition(library, stored.name))) as converted:
        assert converted.size == (40, 60)


def test_instagram_gets_the_jpeg_and_x_keeps_the_png(library):
    stored = library.save(png(), filename="Launch.png", content_type="image/png")
    post = Post(accounts=(IG, X), caption="Launch", media_urls=(stored.public_url,))
    assert any(p.code == "media_type" for p in validate_post(post))
    converted = convert_for_platforms(post, library)
    [ig_url] = converted.render(Platform.INSTAGRAM).media_urls
    assert ig_url.endswith(".jpg") and ig_url.startswith(BASE)
    assert converted.render(Platform.X).media_urls == (stored.public_url,)
    assert validate_post(converted) == [] or all(p.severity != "error" for p in validate_post(converted))
    assert MediaChecker(library=library)(converted) == []
    assert convert_for_platforms(converted, library) == converted          # once is enough


def test_a_customised_caption_is_kept_and_a_stale_rendition_is_made_again(library):
    first = library.save(png(), filename="a.png", content_type="image/png")
    second = library.save(png((30, 30)), filename="b.png", content_type="image/png")
    post = Post(accounts=(IG, X), caption="Launch", media_urls=(first.public_url,),
                variants={Platform.INSTAGRAM: PostVariant(caption="Launch on IG")})
    converted = convert_for_platforms(post, library)
    assert converted.variants[Platform.INSTAGRAM].caption == "Launch on IG"
    changed = convert_for_platforms(converted.__class__(**{**converted.__dict__, "media_urls": (second.public_url,)}),
                                    library)
    [ig_url] = changed.render(Platform.INSTAGRAM).media_urls
    assert rendition_source(library, library.name_of(ig_url)) == second.name


def test_a_png_link_is_not_converted_and_is_refused(library):
    post = Post(accounts=(IG,), caption="Launch", media_urls=("https://cdn.example.com/photo.png",))
    assert convert_for_platforms(post, library) == post
    [problem] = [p for p in validate_post(post) if p.code == "media_type"]
    assert "photo.png" in problem.message and "upload" in problem.message.lower()


def test_the_scheduler_saves_the_converted_post_so_the_runner_sends_a_jpeg_to_instagram(library):
    store = InMemoryPostStore(clock=lambda: T0)
    scheduler = Scheduler(store, clock=lambda: T0, media_checker=MediaChecker(library=library))
    stored = library.save(png(), filename="Launch.png", content_type="image/png")
    post = Post(accounts=(IG, X), caption="Launch", media_urls=(stored.public_url,),
                schedule=Schedule(scheduled_at=T0 + timedelta(days=1), timezone_name="UTC"))
    scheduler.schedule_post("post-1", post)
    saved = store.get_post("post-1")
    assert saved.render(Platform.INSTAGRAM).media_urls[0].endswith(".jpg")
    assert saved.render(Platform.X).media_urls == (stored.public_url,)


def test_without_a_library_the_png_upload_is_still_refused(library):
    stored = library.save(png(), filename="Launch.png", content_type="image/png")
    post = Post(accounts=(IG,), caption="Launch", media_urls=(stored.public_url,),
                schedule=Schedule(scheduled_at=T0 + timedelta(days=1), timezone_name="UTC"))
    with pytest.raises(ValidationError):
        Scheduler(InMemoryPostStore(clock=lambda: T0), clock=lambda: T0).schedule_post("post-1", post)


def test_a_link_whose_bytes_are_a_png_says_to_upload_it_and_an_upload_says_nothing_of_the_kind(library):
    """A link without a telling extension is refused after its bytes are read (here: read before, by the cache)."""
    from core.media.probe import MediaInfo
    checker = MediaChecker(library=library)
    info = MediaInfo(kind="image", mime="image/png", width=60, height=40, duration_s=None, size=900, frames=1)
    checker._cache["https://cdn.example.com/render?id=7"] = info
    [problem] = checker(Post(accounts=(IG,), caption="Launch", media_urls=("https://cdn.example.com/render?id=7",)))
    assert problem.message == ("Instagram accepts JPEG images only; image 1 is a PNG. Upload the file instead of "
                               "linking to it, and Outpost will convert it to JPEG for Instagram.")
    assert checker(Post(accounts=(X,), caption="Launch", media_urls=("https://cdn.example.com/render?id=7",))) == []


def gif(frames: int) -> bytes:
    images = [Image.new("RGB", (40, 40), (i * 80, 30, 200 - i * 60)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=frames > 1, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


ANIMATED_WARNING = ("Instagram takes no animated GIFs: it would post the first frame only. "
                    "Upload a video (MP4) to post the animation.")


def test_an_animated_gif_converted_for_instagram_is_a_warning_before_saving_and_x_keeps_it(library):
    """Instagram takes JPEG only: the JPEG made of an animated GIF is its first frame. The person is told (a
    warning: the post still goes, with that frame), and the result of scheduling carries it too."""
    stored = library.save(gif(3), filename="Dance.gif", content_type="image/gif")
    post = Post(accounts=(IG, X), caption="Launch", media_urls=(stored.public_url,),
                schedule=Schedule(scheduled_at=T0 + timedelta(days=1), timezone_name="UTC"))
    converted = convert_for_platforms(post, library)
    [problem] = MediaChecker(library=library)(converted)
    assert (problem.message, problem.severity, problem.platform) == (ANIMATED_WARNING, "warning", "instagram")
    store = InMemoryPostStore(clock=lambda: T0)
    result = Scheduler(store, clock=lambda: T0, media_checker=MediaChecker(library=library)).schedule_post("p", post)
    assert [w.message for w in result.warnings] == [ANIMATED_WARNING]
    assert store.get_post("p").render(Platform.X).media_urls == (stored.public_url,)   # X posts the animation


def test_a_still_gif_converted_for_instagram_says_nothing(library):
    stored = library.save(gif(1), filename="Still.gif", content_type="image/gif")
    converted = convert_for_platforms(Post(accounts=(IG,), caption="Launch", media_urls=(stored.public_url,)), library)
    assert converted.render(Platform.INSTAGRAM).media_urls[0].endswith(".jpg")
    assert MediaChecker(library=library)(converted) == []


def test_among_several_images_the_animated_one_is_named(library):
    still = library.save(png(), filename="a.png", content_type="image/png")
    moving = library.save(gif(2), filename="b.gif", content_type="image/gif")
    post = Post(accounts=(IG,), caption="Launch", media_urls=(still.public_url, moving.public_url))
    [problem] = MediaChecker(library=library)(convert_for_platforms(post, library))
    assert problem.message.startswith("Instagram takes no animated GIFs: it would post the first frame of image 2 "
                                      "only.")


def test_an_animated_gif_link_for_instagram_is_refused_and_told_to_upload_a_video(library):
    """A link cannot be converted: refused as before, but the advice is a video, not a JPEG of its first frame."""
    from core.media.probe import MediaInfo
    checker = MediaChecker(library=library)
    info = MediaInfo(kind="image", mime="image/gif", width=40, height=40, duration_s=None, size=900, frames=12)
    checker._cache["https://cdn.example.com/dance.gif"] = info
    [problem] = checker(Post(accounts=(IG,), caption="Launch", media_urls=("https://cdn.example.com/dance.gif",)))
    assert problem.severity == "error" and problem.message == (
        "Instagram accepts JPEG images only; image 1 is a GIF. Upload a video (MP4) to post the animation, or upload "
        "the file to post its first frame as a JPEG.")

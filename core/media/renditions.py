"""JPEG renditions of uploaded images, for the platforms that do not take their format (Instagram: JPEG only).

A PNG, GIF, WEBP... uploaded into the media library is converted for a platform that refuses its type (and
takes JPEG): transparency flattened onto white, EXIF orientation applied, same pixel size, quality 90, stored
content-addressed like any other library file. Only that platform's media is changed (through the post's
per-platform variant `media_urls`); every other platform keeps the original file. A link that is not one of
our uploads is never converted: validation refuses it and says to upload the file instead.

`convert_for_platforms` is called by the composer before it validates and by the scheduler (through
`MediaChecker.prepare`) before it saves, so nothing reaches the runner unconverted.

`unused_renditions` lists the renditions not made or used for a while and `remove_renditions` deletes those no
post needs any more (which posts still need one is decided by `core.services.housekeeping`); a rendition made or
used again recently is kept, since a post being written may hold it before it is saved.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import replace
from datetime import datetime
from typing import Iterable

from core.domain import Post, PostVariant
from core.media.formats import bare_type
from core.media.library import MediaLibrary
from core.rules.limits import JPEG, limits_for

__all__ = ["convert_for_platforms", "jpeg_rendition", "remove_renditions", "rendition_source", "unused_renditions"]

JPEG_QUALITY = 90
_DIR = ".renditions"   # source name -> rendition name, and back; a dot folder, never a library name
_lock = threading.Lock()


def _link(library: MediaLibrary, key: str) -> str | None:
    try:
        return (library.root / _DIR / key).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _remember(library: MediaLibrary, key: str, value: str) -> None:
    folder = library.root / _DIR
    folder.mkdir(exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.part"
    tmp.write_text(value)
    os.replace(tmp, folder / key)


def rendition_source(library: MediaLibrary, name: str) -> str | None:
    """The library file a rendition was made from, or None when `name` is not a rendition."""
    return _link(library, name + ".source")


def jpeg_rendition(library: MediaLibrary, name: str) -> str | None:
    """The library name of `name`'s JPEG rendition, made once and kept; None when Pillow cannot read it."""
    known = _link(library, name + ".jpeg")
    if known is not None:
        try:
            os.utime(library.path_for(known))    # used again now: housekeeping keeps it (remove_renditions)
            return known
        except FileNotFoundError:                 # removed as unused since: made again below
            pass
    from PIL import Image, ImageOps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(library.path_for(name)) as img:
                img.seek(0)                       # an animation: its first frame
                icc = img.info.get("icc_profile")
                frame = ImageOps.exif_transpose(img)
                if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
                    rgba = frame.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, (255, 255, 255))
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    flat = frame.convert("RGB")
                out = io.BytesIO()
                flat.save(out, "JPEG", quality=JPEG_QUALITY, **({"icc_profile": icc} if icc else {}))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
    stored = library.save(out.getvalue(), filename=os.path.splitext(name)[0] + ".jpg", content_type=JPEG)
    with _lock:
        _remember(library, name + ".jpeg", stored.name)
        _remember(library, stored.name + ".source", name)
    return stored.name


def convert_for_platforms(post: Post, library: MediaLibrary | None) -> Post:
    """`post` with a JPEG rendition of each uploaded image a target platform does not take, for that platform only.

    A platform's variant that holds renditions made earlier is made again from the post's media, so a post whose
    media changed never sends stale files. Links outside the library are left as they are (validation refuses them
    in words that say to upload the file).
    """
    if library is None:
        return post
    variants = dict(post.variants)
    for platform in post.platforms:
        variant = variants.get(platform)
        if variant is not None and variant.media_urls is not None and any(
                (n := library.name_of(u)) is not None and rendition_source(library, n) for u in variant.media_urls):
            variant = replace(variant, media_urls=None)   # made by this function: made again below
        media = variant.media_urls if variant is not None and variant.media_urls is not None else post.media_urls
        accepted = {bare_type(t) for t in limits_for(platform).image_types}
        converted = list(media)
        if accepted and JPEG in accepted:
            for i, url in enumerate(media):
                name = library.name_of(url)
                mime = library.mime_of(name) if name else None
                if mime and mime.startswith("image/") and mime not in accepted:
                    made = jpeg_rendition(library, name)
                    if made is not None:
                        converted[i] = library.public_url(made)
        if tuple(converted) != tuple(media):
            variant = replace(variant or PostVariant(), media_urls=tuple(converted))
        if variant is None or variant == PostVariant():
            variants.pop(platform, None)
        else:
            variants[platform] = variant
    return post if variants == dict(post.variants) else replace(post, variants=variants)


def unused_renditions(library: MediaLibrary, *, unused_since: datetime) -> list[str]:
    """The renditions last made or used before `unused_since` (library names): the ones that may be deleted, once
    no post needs them (`core.services.housekeeping` decides). Uploads are never among them."""
    cutoff = unused_since.timestamp()
    found = []
    for note in sorted((library.root / _DIR).glob("*.source")):
        name = note.name[: -len(".source")]
        if library.mime_of(name) is None:
            continue
        try:
            if library.path_for(name).stat().st_mtime < cutoff:
                found.append(name)
        except FileNotFoundError:     # deleted before
            continue
    return found


def remove_renditions(library: MediaLibrary, names: Iterable[str], *, unused_since: datetime) -> list[str]:
    """Delete those of `names` that are renditions still unused since `unused_since` (one made or used again
    meanwhile stays); returns the names deleted. The notes of where each came from stay (a few bytes): a post
    that still names a deleted rendition (a duplicate of an old post) is recognised and gets it made again from its
    upload (`convert_for_platforms`)."""
    cutoff = unused_since.timestamp()
    removed = []
    for name in names:
        if rendition_source(library, name) is None:
            continue
        path = library.path_for(name)
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(name)
    return removed

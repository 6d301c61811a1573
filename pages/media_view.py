"""What a post's media look like on a page: what a preview card loads for each link, a photo's size (for the feed's
crop) and its type in words. One helper for the post dialog and the approval queue (each had its own copy)."""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

from core.domain.errors import OutpostError
from core.media.formats import VIDEO_SUFFIXES, type_name
from core.media.probe import inspect_media
from pages.shared import media_library


@functools.lru_cache(maxsize=1024)
def _photo_size(name: str) -> tuple[int | None, int | None]:
    """(width, height) of a photo in the media library, read once per process: its name is its content's hash, so
    the answer never changes. Raises when it is missing or unreadable (not cached: tried again)."""
    with media_library().open(name) as handle:
        info = inspect_media(handle.read(), None, name=name)
    return info.width, info.height


def post_urls(post) -> list[str]:
    """Every media link the post sends to any of its platforms (a photo converted for Instagram included)."""
    return list(dict.fromkeys(u for platform in post.platforms for u in post.render(platform).media_urls))


def looks(urls) -> tuple[dict[str, str], dict[str, tuple[int | None, int | None]], dict[str, str]]:
    """For each media link: what the preview loads ("video" for a video tile; photos load from their link, uploads
    from the media library's public address), a photo's size where Outpost has the file, and its type in words
    ("PNG photo, 1080 × 1350"; "video" for a video link, "" for a photo link; "missing" when the upload is gone).
    Only photos are read (a video is told by its name, never read whole to draw a tile)."""
    library = media_library()
    sources: dict[str, str] = {}
    sizes: dict[str, tuple[int | None, int | None]] = {}
    kinds: dict[str, str] = {}
    for url in dict.fromkeys(urls):
        name = library.name_of(url)
        if name is None:
            video = urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)
            kinds[url] = "video" if video else ""
            if video:
                sources[url] = "video"
            continue
        mime = library.mime_of(name) or ""
        if not mime.startswith("image/"):
            try:
                there = library.path_for(name).is_file()
            except (OutpostError, OSError):
                there = False
            kinds[url] = f"{type_name(mime)} video" if there else "missing"
            sources[url] = "video"      # a tile, never a broken picture, even when the file is gone
            continue
        try:
            width, height = _photo_size(name)
        except (OutpostError, OSError, ValueError):
            kinds[url] = "missing"      # gone from the library: the card shows the platform's usual frame
            continue
        kinds[url] = f"{type_name(mime)} photo" + (f", {width} × {height}" if width and height else "")
        sizes[url] = (width, height)
    return sources, sizes, kinds

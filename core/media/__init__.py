"""User-given media: fetched safely, inspected, checked against a platform's limits, stored.

One module per job; import from the one you need:

* `core.media.fetch`: `fetch_media` downloads a photo or video from a link a user pasted, and
  `fetch_public` is the one safe GET of anyone else's link (SSRF guard: public addresses only,
  pinned to the address checked, redirects re-checked, size and time capped).
* `core.media.probe`: `inspect_media` says what a file really is from its bytes (kind, type,
  dimensions, duration, frames): Pillow for images, the MP4/MOV boxes read directly.
* `core.media.checks`: `check_media` compares a `MediaInfo` with a platform's limits declaration;
  `MediaChecker` checks every media link of a post before it is scheduled.
* `core.media.library`: `MediaLibrary` keeps uploads on disk under content-addressed names, each
  with the public URL that Instagram and TikTok pull from.
* `core.media.formats`: how types and sizes are named in messages (shared by the four above).

Imports point one way: formats <- probe <- fetch; library -> probe; checks -> fetch, probe, library.
The fetcher never imports the library or the checks. The names below are re-exported so that
``from core.media import ...`` keeps working.
"""
from core.media.checks import MediaChecker, check_media
from core.media.fetch import FetchedMedia, MediaFetchError, default_resolver, fetch_media, fetch_public
from core.media.library import MediaLibrary, StoredMedia
from core.media.probe import MediaInfo, UnsupportedMediaError, inspect_media

__all__ = [
    "FetchedMedia", "MediaChecker", "MediaFetchError", "MediaInfo", "MediaLibrary", "StoredMedia",
    "UnsupportedMediaError", "check_media", "default_resolver", "fetch_media", "fetch_public", "inspect_media",
]

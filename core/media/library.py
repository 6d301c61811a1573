"""The media library: uploaded photos and videos kept on disk under content-addressed names, each with a public URL.

Instagram and TikTok pull media by URL, so every stored file gets one; platforms that take uploads
read the bytes back through `MediaLibrary.open`.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.domain.errors import NotFoundError, Problem, ValidationError
from core.media.formats import describe
from core.media.probe import MediaInfo, UnsupportedMediaError, inspect_media

__all__ = ["MediaLibrary", "StoredMedia"]

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
               "image/bmp": ".bmp", "image/tiff": ".tiff", "image/avif": ".avif", "image/heic": ".heic",
               "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv"}
_NAME_RE = re.compile(r"[0-9a-f]{64}\.(?:" + "|".join(e[1:] for e in _EXTENSIONS.values()) + r")")


@dataclass(frozen=True)
class StoredMedia:
    """A file kept by `MediaLibrary`: `name` is its stable id (sha256 + extension)."""

    name: str
    path: Path
    public_url: str
    sha256: str
    info: MediaInfo
    original_filename: str
    deduplicated: bool  # True when the same bytes were already stored


class MediaLibrary:
    """Uploaded photos and videos, kept under `root` and published at `public_base_url`.

    Instagram and TikTok do not take uploaded bytes for photos (and Instagram not for videos
    either): the API call carries a URL and Meta's or TikTok's servers download the file from it
    (TikTok only from a domain verified in its developer portal). So `public_base_url` must be an
    address those servers can reach over the internet: a web server or bucket serving `root`,
    not localhost or a LAN address. Platforms that take an upload (X, LinkedIn, YouTube) read the
    file through `open()` instead.

    Files are named by the sha256 of their bytes plus an extension from their real type, so an
    upload of the same file twice is stored once and a name can never point to other content.
    """

    def __init__(self, root: Path, public_base_url: str):
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")
        self.root.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, *, filename: str, content_type: str | None) -> StoredMedia:
        """Inspect and store `data`; refuses anything that is not a readable photo or video."""
        info = inspect_media(data, content_type, name=filename)
        ext = _EXTENSIONS.get(info.mime)
        if ext is None:
            raise UnsupportedMediaError(f"'{filename}' is {describe(info.mime)}, which Outpost does not store.",
                                        code="media_unreadable")
        digest = hashlib.sha256(data).hexdigest()
        name = digest + ext
        path = self.root / name
        existed = path.exists()
        if not existed:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o644)  # served to the platforms' fetchers by whatever serves root
                os.replace(tmp, path)  # readers see the whole file or none of it
            except BaseException:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                raise
        return StoredMedia(name=name, path=path, public_url=self.public_url(name), sha256=digest, info=info,
                           original_filename=filename, deduplicated=existed)

    def path_for(self, name: str) -> Path:
        """The file for a name `save` gave out; refuses any other name (no '..', no slashes)."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValidationError(Problem("media_bad_name", f"'{name}' is not the name of a file in Outpost's media "
                                                            "library.", field="media"))
        path = self.root / name
        if path.resolve().parent != self.root.resolve():  # belt and braces: symlinked names stay inside
            raise ValidationError(Problem("media_bad_name", f"'{name}' is outside the media library.", field="media"))
        return path

    def public_url(self, name: str) -> str:
        """Where the platforms download `name` from."""
        self.path_for(name)
        return f"{self.public_base_url}/{name}"

    def name_of(self, url: str) -> str | None:
        """The library name behind one of our public URLs, or None for any other URL."""
        prefix = self.public_base_url + "/"
        if not url.startswith(prefix):
            return None
        name = url[len(prefix):].split("?", 1)[0]
        return name if _NAME_RE.fullmatch(name) else None

    def mime_of(self, name: str) -> str | None:
        """The real type of a library file, from the extension `save` gave it; None for any other name."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            return None
        ext = "." + name.rsplit(".", 1)[1]
        return next((mime for mime, e in _EXTENSIONS.items() if e == ext), None)

    def open(self, name: str) -> BinaryIO:
        """The stored bytes of `name`, for platforms that take uploads; NotFoundError when missing."""
        path = self.path_for(name)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"The media file {name} is not in the library (it may have been deleted).") from None

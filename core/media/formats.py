"""What media types are called: a Content-Type normalised, a type named in words, a size in megabytes, the file
endings that name a video.

Shared by the fetcher, the inspector, the checks and the library, so a JPEG is "a JPEG" and 8 MB is
"8 MB" in every message Outpost shows.
"""
from __future__ import annotations

__all__ = ["MB", "VIDEO_SUFFIXES", "bare_type", "describe", "megabytes", "type_name"]

# Decimal megabytes, as the platforms (and core/rules/limits.py) state their limits.
MB = 1_000_000

# A media link ending in one of these (lower-cased, query left out) is a video; any other is a photo.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm")

_TYPE_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
               "image/bmp": "BMP", "image/tiff": "TIFF", "image/heic": "HEIC", "image/avif": "AVIF",
               "video/mp4": "MP4", "video/quicktime": "MOV", "video/webm": "WebM", "video/x-matroska": "MKV",
               "video/x-msvideo": "AVI", "application/pdf": "PDF", "audio/mp4": "M4A"}
_AN = ("MP4", "MKV", "AVI", "M4A", "HEIC")  # names read letter by letter that start with a vowel sound


def type_name(mime: str) -> str:
    """A type's everyday name: "JPEG", "MOV"; an unknown type by its subtype in capitals."""
    return _TYPE_NAMES.get(mime, mime.split("/")[-1].upper())


def describe(mime: str) -> str:
    """A type with its article, for sentences: "a JPEG", "an MP4", "a ZIP file"."""
    name = type_name(mime)
    article = "an" if name in _AN else "a"
    noun = " file" if mime not in _TYPE_NAMES else ""
    return f"{article} {name}{noun}"


def bare_type(header: str | None) -> str:
    """A Content-Type without parameters, lower-cased, common misspellings corrected ("image/jpg" -> "image/jpeg")."""
    mime = (header or "").split(";")[0].strip().lower()
    return {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/mov": "video/quicktime"}.get(mime, mime)


def megabytes(n: int) -> str:
    """A byte count in decimal megabytes, as the platforms state their limits: "8 MB", "1.5 MB", "0.25 MB"."""
    value = n / MB
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} MB"


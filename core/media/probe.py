"""What a media file really is, read from its bytes (never its name): kind, MIME type, dimensions, duration, frames.

`sniff` names a type from the first bytes; `inspect_media` reads the whole file: images through Pillow
(EXIF rotation applied, decompression bombs refused), MP4/MOV by reading the ISO BMFF boxes directly
(ISO/IEC 14496-12: ``ftyp``, ``moov/mvhd``, ``trak/tkhd``), WebM and Matroska by signature.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Iterable, Literal

from core.domain.errors import Problem, ValidationError
from core.media.formats import bare_type, describe

__all__ = ["MARKUP", "MediaInfo", "SIGNED_TYPES", "SNIFF_BYTES", "UnsupportedMediaError", "inspect_media", "sniff"]

SNIFF_BYTES = 512  # enough of a file's head to tell its type
MARKUP = "text/html"  # what the sniffer reports for HTML/XML/SVG/JSON


class UnsupportedMediaError(ValidationError):
    """The bytes are not a photo or video Outpost can read."""

    def __init__(self, problems: str | Problem | list[Problem], *, code: str = "media_unreadable"):
        super().__init__(Problem(code=code, message=problems, field="media") if isinstance(problems, str) else problems)

    @property
    def code(self) -> str:
        return self.problems[0].code if self.problems else "invalid"


@dataclass(frozen=True)
class MediaInfo:
    """What a media file really is, read from its bytes."""

    kind: Literal["image", "video"]
    mime: str
    width: int | None
    height: int | None
    duration_s: float | None
    size: int
    frames: int | None  # GIF/WEBP/APNG frames, or video samples (frames) for MP4/MOV

    @property
    def ratio(self) -> float | None:
        """Width divided by height, or None when the dimensions are unknown."""
        if self.width and self.height:
            return self.width / self.height
        return None


_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_QT_FIRST_BOXES = frozenset({b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})
# Types whose bytes we can recognise; a body declared as one of these that does not match is refused.
SIGNED_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff",
                          "video/mp4", "video/quicktime", "video/webm", "video/x-matroska"})


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes announce, `MARKUP` for HTML/XML/JSON, None when unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "image/heic"
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand in _AUDIO_BRANDS:
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head[4:8] in _QT_FIRST_BOXES:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text[:1] in (b"<", b"{", b"["):
        return MARKUP
    return None


_FORMAT_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff", "AVIF": "image/avif",
                "HEIF": "image/heic"}


def inspect_media(data: bytes, content_type: str | None = None, name: str = "") -> MediaInfo:
    """What `data` really is, read from its bytes; refuses anything that is not a readable photo or video.

    The bytes decide the type; `content_type` only names WebM vs Matroska and `name` is used in messages.
    """
    who = f"'{name}'" if name else "This file"
    if not data:
        raise UnsupportedMediaError(f"{who} is empty.", code="media_empty")
    sniffed = sniff(data[:SNIFF_BYTES])
    if sniffed in ("video/mp4", "video/quicktime"):
        return _inspect_bmff(data, sniffed, who)
    if sniffed == "audio/mp4":
        raise UnsupportedMediaError(f"{who} is a sound file; Outpost posts photos and videos.",
                                    code="media_no_video_track")
    if sniffed in ("video/webm", "video/x-matroska"):
        mime = "video/webm" if bare_type(content_type) == "video/webm" else sniffed
        return MediaInfo(kind="video", mime=mime, width=None, height=None, duration_s=None, size=len(data), frames=None)
    if sniffed == MARKUP:
        raise UnsupportedMediaError(f"{who} is a web page or text file, not a photo or video.",
                                    code="media_unreadable")
    return _inspect_image(data, sniffed, who)


def _inspect_image(data: bytes, sniffed: str | None, who: str) -> MediaInfo:
    from PIL import Image, UnidentifiedImageError

    Image.init()
    formats = [f for f in _FORMAT_MIME if f in Image.OPEN]  # never EPS/PSD/...: only what platforms take
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as img:
                fmt = img.format or ""
                width, height = img.size
                frames = 1 if fmt == "MPO" else int(getattr(img, "n_frames", 1) or 1)
                # Phones store portrait photos landscape plus an EXIF rotation; people see the rotated picture.
                if img.getexif().get(0x0112) in (5, 6, 7, 8):
                    width, height = height, width
            with Image.open(io.BytesIO(data), formats=formats) as img:
                img.verify()
    except Image.DecompressionBombError:
        raise UnsupportedMediaError(f"{who} has too many pixels for Outpost to handle safely; "
                                    "resize it below 100 megapixels.", code="media_too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError):
        if sniffed in ("image/heic", "image/avif"):
            label = "HEIC" if sniffed == "image/heic" else "AVIF"
            raise UnsupportedMediaError(f"{who} is a {label} photo, which Outpost cannot read; "
                                        "export it as JPEG and upload that.", code="media_unreadable") from None
        if sniffed in ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"):
            raise UnsupportedMediaError(f"{who} looks like {describe(sniffed)} but is damaged or incomplete; "
                                        "export it again and upload the new file.", code="media_damaged") from None
        raise UnsupportedMediaError(f"{who} is not a photo or video Outpost can read "
                                    "(JPEG, PNG, GIF, WEBP, MP4, MOV or WebM).", code="media_unreadable") from None
    return MediaInfo(kind="image", mime=_FORMAT_MIME.get(fmt, f"image/{fmt.lower()}"), width=width, height=height,
                     duration_s=None, size=len(data), frames=frames)


def _boxes(data: bytes, start: int, end: int, who: str) -> Iterable[tuple[bytes, int, int]]:
    """(type, payload start, payload end) for each ISO BMFF box between start and end."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:  # box runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            if kind == b"mdat":  # a cut-off media payload is common in partial uploads; stop reading
                return
            raise UnsupportedMediaError(f"{who} is a damaged video file (a box runs past the end of the file).",
                                        code="media_damaged")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes, who: str) -> tuple[int, int] | None:
    for k, s, e in _boxes(data, start, end, who):
        if k == kind:
            return s, e
    return None


def _inspect_bmff(data: bytes, mime: str, who: str) -> MediaInfo:
    """MP4/MOV: duration from moov/mvhd, size and rotation from the video track's tkhd."""
    moov = _child(data, 0, len(data), b"moov", who)
    if moov is None:
        raise UnsupportedMediaError(f"{who} is an incomplete video file (it has no 'moov' index). "
                                    "Export the video again.", code="media_damaged")
    duration_s = None
    mvhd = _child(data, *moov, b"mvhd", who)
    try:
        if mvhd is not None and mvhd[1] - mvhd[0] >= 32:
            version = data[mvhd[0]]
            if version == 1:
                timescale, duration = struct.unpack_from(">IQ", data, mvhd[0] + 20)
                unknown = duration == 0xFFFFFFFFFFFFFFFF
            else:
                timescale, duration = struct.unpack_from(">II", data, mvhd[0] + 12)
                unknown = duration == 0xFFFFFFFF
            if duration == 0:  # fragmented MP4: the total is in mvex/mehd, in the same timescale
                mvex = _child(data, *moov, b"mvex", who)
                mehd = _child(data, *mvex, b"mehd", who) if mvex else None
                if mehd is not None:
                    fmt = ">Q" if data[mehd[0]] == 1 else ">I"
                    duration = struct.unpack_from(fmt, data, mehd[0] + 4)[0]
            if timescale and duration and not unknown:
                duration_s = duration / timescale
        width = height = frames = None
        fallback: tuple[int, int] | None = None
        for kind, start, end in _boxes(data, *moov, who):
            if kind != b"trak":
                continue
            dims = _tkhd_dims(data, _child(data, start, end, b"tkhd", who))
            handler, samples = _track_handler(data, start, end, who)
            if handler == b"vide":
                if dims:
                    width, height = dims
                frames = samples
                break
            if dims and fallback is None:
                fallback = dims  # some muxers leave hdlr odd; a track with a size is still the picture
        else:
            if fallback is None:
                raise UnsupportedMediaError(f"{who} has no video track (sound only?); Outpost posts photos and videos.",
                                            code="media_no_video_track")
            width, height = fallback
    except (struct.error, IndexError):
        raise UnsupportedMediaError(f"{who} is a damaged video file.", code="media_damaged") from None
    return MediaInfo(kind="video", mime=mime, width=width, height=height, duration_s=duration_s, size=len(data),
                     frames=frames)


def _tkhd_dims(data: bytes, tkhd: tuple[int, int] | None) -> tuple[int, int] | None:
    if tkhd is None:
        return None
    start, end = tkhd
    # version/flags 4, then times and ids (20 bytes in v0, 32 in v1), reserved 8, layer/group/volume/reserved 8
    matrix_at = start + 4 + (32 if end > start and data[start] == 1 else 20) + 16
    if end < matrix_at + 44:  # matrix 36 + width 4 + height 4
        return None
    a, b, _u, c, d = struct.unpack_from(">iiiii", data, matrix_at)
    width, height = struct.unpack_from(">II", data, matrix_at + 36)
    width, height = width >> 16, height >> 16  # 16.16 fixed point
    if not width or not height:
        return None
    if a == 0 and d == 0 and abs(b) == 0x10000 and abs(c) == 0x10000:  # rotated 90 or 270 degrees
        width, height = height, width
    return width, height


def _track_handler(data: bytes, start: int, end: int, who: str) -> tuple[bytes | None, int | None]:
    """(handler type, sample count) of a trak: 'vide' for video, 'soun' for sound."""
    mdia = _child(data, start, end, b"mdia", who)
    if mdia is None:
        return None, None
    hdlr = _child(data, *mdia, b"hdlr", who)
    handler = data[hdlr[0] + 8:hdlr[0] + 12] if hdlr and hdlr[1] - hdlr[0] >= 12 else None
    samples = None
    minf = _child(data, *mdia, b"minf", who)
    stbl = _child(data, *minf, b"stbl", who) if minf else None
    stsz = _child(data, *stbl, b"stsz", who) if stbl else None
    if stsz is not None and stsz[1] - stsz[0] >= 12:
        samples = struct.unpack_from(">I", data, stsz[0] + 8)[0] or None
    return handler, samples


"""Sample media (`/_media/sample.jpg|png|webp|mp4`), media probing, and fetching media by URL.

Platforms that pull media by URL (Instagram, Facebook, TikTok PULL_FROM_URL) really GET it
when the URL points at a loopback address (the emulator itself or a local test server)
and check that it is the right kind; other URLs are accepted unfetched, since the
sandbox has no internet.
"""
from __future__ import annotations

import ipaddress
import io
import struct
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_SIDE = 4096


@dataclass(frozen=True)
class MediaInfo:
    kind: str | None          # "image" | "video" | None (not media)
    fmt: str = ""             # jpeg, png, gif, webp, mp4, mov, webm
    width: int = 0
    height: int = 0
    duration_s: float = 0.0
    size: int = 0
    fetched: bool = True      # False: a remote URL accepted without fetching


@dataclass(frozen=True)
class Fetched:
    ok: bool
    info: MediaInfo | None = None
    reason: str = ""


# ------------------------------------------------------------------ generation
@lru_cache(maxsize=64)
def sample_image(fmt: str, width: int, height: int) -> bytes:
    from PIL import Image, ImageDraw
    small = Image.linear_gradient("L").resize((width, height))
    base = Image.merge("RGB", (small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                               Image.new("L", (width, height), 150)))
    draw = ImageDraw.Draw(base)
    draw.rectangle([width // 10, height // 10, width - width // 10, height - height // 10], outline=(255, 255, 255),
                   width=max(2, width // 200))
    draw.text((width // 8, height // 8), f"Outpost sandbox {width}x{height}", fill=(255, 255, 255))
    out = io.BytesIO()
    save_fmt = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}[fmt]
    base.save(out, save_fmt, **({"quality": 85} if save_fmt in ("JPEG", "WEBP") else {}))
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(version_flags: int, payload: bytes) -> bytes:
    return struct.pack(">I", version_flags) + payload


_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


@lru_cache(maxsize=16)
def sample_mp4(seconds: float, width: int, height: int) -> bytes:
    """A small MP4 with ftyp, moov (mvhd/tkhd/mdhd carrying duration and size) and mdat boxes."""
    timescale = 1000
    duration = int(seconds * timescale)
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = _box(b"mvhd", _full(0, struct.pack(">IIII", 0, 0, timescale, duration) + struct.pack(">IH", 0x00010000, 0x0100)
                              + b"\0" * 10 + _MATRIX + b"\0" * 24 + struct.pack(">I", 2)))
    tkhd = _box(b"tkhd", _full(3, struct.pack(">IIIII", 0, 0, 1, 0, duration) + b"\0" * 8
                              + struct.pack(">hhhH", 0, 0, 0, 0) + _MATRIX
                              + struct.pack(">II", width << 16, height << 16)))
    mdhd = _box(b"mdhd", _full(0, struct.pack(">IIII", 0, 0, timescale, duration) + struct.pack(">HH", 0x55C4, 0)))
    hdlr = _box(b"hdlr", _full(0, b"\0" * 4 + b"vide" + b"\0" * 12 + b"VideoHandler\0"))
    vmhd = _box(b"vmhd", _full(1, b"\0" * 8))
    dinf = _box(b"dinf", _box(b"dref", _full(0, struct.pack(">I", 1) + _box(b"url ", _full(1, b"")))))
    stbl = _box(b"stbl", b"".join(_box(k, _full(0, struct.pack(">I", 0))) for k in (b"stsd", b"stts", b"stsc", b"stco"))
                + _box(b"stsz", _full(0, struct.pack(">II", 0, 0))))
    minf = _box(b"minf", vmhd + dinf + stbl)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))
    moov = _box(b"moov", mvhd + trak)
    filler = bytes((i * 37) & 0xFF for i in range(min(int(seconds * 40_000), 2_000_000)))
    return ftyp + moov + _box(b"mdat", filler)


# --------------------------------------------------------------------- probing
def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _probe_iso(data: bytes) -> MediaInfo:
    brand = data[8:12]
    fmt = "mov" if brand == b"qt  " else "mp4"
    duration = 0.0
    width = height = 0
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for sub, s2, e2 in _boxes(data, start, end):
            if sub == b"mvhd" and e2 - s2 >= 20:
                version = data[s2]
                if version == 1:
                    timescale, dur = struct.unpack(">IQ", data[s2 + 20:s2 + 32])
                else:
                    timescale, dur = struct.unpack(">II", data[s2 + 12:s2 + 20])
                duration = dur / timescale if timescale else 0.0
            elif sub == b"trak":
                for leaf, s3, e3 in _boxes(data, s2, e2):
                    if leaf == b"tkhd" and e3 - s3 >= 84 and not width:
                        width, height = (v >> 16 for v in struct.unpack(">II", data[e3 - 8:e3]))
    return MediaInfo(kind="video", fmt=fmt, width=width, height=height, duration_s=duration, size=len(data))


def probe(data: bytes) -> MediaInfo:
    """What `data` is: an image (with its size), a video (with duration), or not media."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return _probe_iso(data)
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return MediaInfo(kind="video", fmt="webm", size=len(data))
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n" or data[:4] == b"GIF8" or \
            (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        try:
            from PIL import Image
            with Image.open(io.BytesIO(data)) as img:
                return MediaInfo(kind="image", fmt=(img.format or "").lower(), width=img.width,
                                 height=img.height, size=len(data))
        except Exception:  # noqa: BLE001 - a broken image is simply not media
            return MediaInfo(kind=None, size=len(data))
    return MediaInfo(kind=None, size=len(data))


_EXT = {".jpg": ("image", "jpeg"), ".jpeg": ("image", "jpeg"), ".png": ("image", "png"), ".webp": ("image", "webp"),
        ".gif": ("image", "gif"), ".mp4": ("video", "mp4"), ".mov": ("video", "mov"), ".webm": ("video", "webm")}


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def fetch(client: httpx.AsyncClient, url: str | None, want: str) -> Fetched:
    """Fetch `url` if it is local and check it is a `want` ("image"/"video"); remote URLs pass unfetched."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return Fetched(False, reason="invalid_url")
    if not is_loopback(url):
        path = urlsplit(url).path.lower()
        kind, fmt = next((v for ext, v in _EXT.items() if path.endswith(ext)), (want, ""))
        return Fetched(True, MediaInfo(kind=kind, fmt=fmt, fetched=False))
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return Fetched(False, reason="unreachable")
    if response.status_code != 200:
        return Fetched(False, reason=f"http_{response.status_code}")
    info = probe(response.content)
    if info.kind != want:
        return Fetched(False, info, reason="wrong_kind")
    return Fetched(True, info)


# ---------------------------------------------------------------------- routes
def _dims(request: Request, default: tuple[int, int]) -> tuple[int, int]:
    try:
        w = int(request.query_params.get("w", default[0]))
        h = int(request.query_params.get("h", default[1]))
    except ValueError:
        w, h = default
    return max(16, min(w, MAX_SIDE)), max(16, min(h, MAX_SIDE))


def _image_route(fmt: str, mime: str):
    async def endpoint(request: Request) -> Response:
        w, h = _dims(request, (1080, 1350))
        return Response(sample_image(fmt, w, h), media_type=mime, headers={"cache-control": "public, max-age=86400"})
    return endpoint


async def _mp4(request: Request) -> Response:
    w, h = _dims(request, (1080, 1920))
    try:
        seconds = max(0.5, min(float(request.query_params.get("seconds", 5)), 1800.0))
    except ValueError:
        seconds = 5.0
    return Response(sample_mp4(round(seconds, 2), w, h), media_type="video/mp4")


def routes() -> list[Route]:
    return [
        Route("/sample.jpg", _image_route("jpeg", "image/jpeg")),
        Route("/sample.png", _image_route("png", "image/png")),
        Route("/sample.webp", _image_route("webp", "image/webp")),
        Route("/sample.mp4", _mp4),
    ]

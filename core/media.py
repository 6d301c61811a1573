"""User-given media: fetched safely, inspected, checked against a platform's limits, stored.

Four jobs, one module:

* `fetch_media` downloads a photo or video from a link a user pasted. The link is hostile until
  proven otherwise (SSRF): only http(s), every resolved address must be public, the connection
  goes to the address that was checked (no DNS rebinding between check and connect), every
  redirect hop is checked again, and size, time and content type are capped.
* `inspect_media` says what a file really is (from its bytes, not its name): kind, MIME type,
  dimensions, duration, frame count. Images through Pillow; MP4/MOV by reading the ISO BMFF
  boxes directly (ISO/IEC 14496-12: ``ftyp``, ``moov/mvhd``, ``trak/tkhd``); WebM by signature.
* `check_media` compares a `MediaInfo` with a platform's `PlatformLimits` and lists every
  problem at once, in words a marketer understands.
* `MediaLibrary` keeps uploaded files on disk under content-addressed names and gives each a
  public URL, because Instagram and TikTok pull media by URL.

Exception messages never contain a URL's query string (pre-signed links carry signatures
there); links are shown as scheme://host/path only.
"""
from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import socket
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Literal, TypeVar

import httpx

from core.errors import NotFoundError, Problem, ValidationError
from core.platforms.limits import AspectRange, PlatformLimits

__all__ = [
    "FetchedMedia", "MediaFetchError", "MediaInfo", "MediaLibrary", "StoredMedia", "UnsupportedMediaError",
    "check_media", "fetch_media", "inspect_media",
]

# Decimal megabytes, as the platforms (and core/platforms/limits.py) state their limits.
MB = 1_000_000
USER_AGENT = "Outpost-media-fetcher/1.0"


class MediaFetchError(ValidationError):
    """A media link could not (or must not) be fetched; the message says why in plain words."""

    def __init__(self, problems: str | Problem | list[Problem], *, code: str = "media_fetch_failed",
                 http_status: int | None = None):
        super().__init__(Problem(code=code, message=problems, field="media") if isinstance(problems, str) else problems)
        self.http_status = http_status          # what the media host answered, when it answered

    @property
    def code(self) -> str:
        return self.problems[0].code if self.problems else "invalid"

    @property
    def transient(self) -> bool:
        """Whether trying again later may help (the host was slow, unreachable, or had a problem of its own)."""
        if self.code in ("media_timeout", "media_unreachable", "media_host_not_found"):
            return True
        return self.code == "media_http_error" and (self.http_status is None or self.http_status >= 500
                                                    or self.http_status in (408, 425, 429))


class UnsupportedMediaError(ValidationError):
    """The bytes are not a photo or video Outpost can read."""

    def __init__(self, problems: str | Problem | list[Problem], *, code: str = "media_unreadable"):
        super().__init__(Problem(code=code, message=problems, field="media") if isinstance(problems, str) else problems)

    @property
    def code(self) -> str:
        return self.problems[0].code if self.problems else "invalid"


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchedMedia:
    """The body of a media link. `final_url` is where the last redirect led (host name, not IP)."""

    url: str = field(repr=False)
    final_url: str = field(repr=False)
    content_type: str
    data: bytes = field(repr=False)
    size: int

    def __repr__(self) -> str:  # never the query string: it may carry a signature
        return f"FetchedMedia(final_url={_shown(httpx.URL(self.final_url))!r}, content_type={self.content_type!r}, size={self.size})"


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


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------

Resolver = Callable[[str, int], list[str]]
T = TypeVar("T")

# Names refused before any lookup: the machine itself and the cloud metadata services.
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                             "instance-data.ec2.internal"})
# AWS/GCP/Azure/OCI (IPv4), AWS (IPv6), Alibaba Cloud.
_METADATA_IPS = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary",
                            "application/x-download", "application/download", "application/force-download"})
_SLASHED_SCHEMES = frozenset({"file", "ftp", "ftps", "sftp", "gopher", "smb", "ws", "wss", "ldap", "dict", "tftp",
                              "ssh", "telnet"})
_SNIFF_BYTES = 512
_MARKUP = "text/html"  # what the sniffer reports for HTML/XML/SVG/JSON


def fetch_media(
    url: str,
    *,
    client: httpx.Client | None = None,
    max_bytes: int = 300 * MB,
    timeout_s: float = 20.0,
    allowed_types: tuple[str, ...] = ("image/", "video/"),
    allow_hosts: Iterable[str] = (),
    max_redirects: int = 5,
    resolver: Resolver | None = None,
) -> FetchedMedia:
    """Download a photo or video from a user-given link, refusing anything but public web servers.

    `allow_hosts` ("host" or "host:port") skips the public-address check for those hosts only;
    sandbox mode uses it to reach the local platform emulator. `allowed_types` entries ending in
    "/" are prefixes ("image/"), others exact types. A passed `client` should have
    ``trust_env=False``: a proxy would make the address pinning meaningless.
    """
    def read(response: httpx.Response, at: httpx.URL, deadline: float) -> tuple[str, str, bytes]:
        content_type, data = _read(response, at, deadline=deadline, timeout_s=timeout_s, max_bytes=max_bytes,
                                   allowed_types=allowed_types)
        return str(at), content_type, data

    accept = ", ".join(t + "*" if t.endswith("/") else t for t in allowed_types) + ", */*;q=0.1"
    final_url, content_type, data = fetch_public(url, read, client=client, timeout_s=timeout_s,
                                                 allow_hosts=allow_hosts, max_redirects=max_redirects,
                                                 resolver=resolver, accept=accept)
    return FetchedMedia(url=url, final_url=final_url, content_type=content_type, data=data, size=len(data))


def fetch_public(url: str, read: Callable[[httpx.Response, httpx.URL, float], T], *,
                 client: httpx.Client | None = None, timeout_s: float = 20.0, allow_hosts: Iterable[str] = (),
                 max_redirects: int = 5, resolver: Resolver | None = None, accept: str = "*/*") -> T:
    """GET a user-given link from public web servers only; `read(response, url, deadline)` makes the result.

    The one place for the rules every fetch of someone else's link follows (media, link-card pages): http(s)
    only; private, loopback, link-local and cloud-metadata addresses refused unless in `allow_hosts`; the
    connection pinned to the address that was checked (no DNS rebinding); every redirect (at most
    `max_redirects`) checked again; `timeout_s` for everything. `read` gets each final (non-redirect) answer
    while it streams, with the deadline, and enforces its own size cap. Problems raise MediaFetchError.
    """
    resolve = resolver or default_resolver
    allowed_hosts = _parse_allow_hosts(allow_hosts)
    deadline = time.monotonic() + timeout_s
    own_client = client is None
    if client is None:
        client = httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout_s)
    try:
        current = _parse_url(url)
        for _hop in range(max_redirects + 1):
            addresses = _vet(current, allowed_hosts, resolve)
            outcome = _get(client, current, addresses, deadline=deadline, timeout_s=timeout_s, read=read,
                           accept=accept)
            if isinstance(outcome, _Redirect):
                current = outcome.url
                continue
            return outcome
        raise MediaFetchError(
            f"That link redirected more than {max_redirects} times (last stop: {_shown(current)}); "
            "Outpost gave up. Use the direct link to the file.", code="media_too_many_redirects")
    finally:
        if own_client:
            client.close()


@dataclass(frozen=True)
class _Redirect:
    url: httpx.URL


def _parse_url(raw: str | httpx.URL) -> httpx.URL:
    try:
        url = raw if isinstance(raw, httpx.URL) else httpx.URL(str(raw).strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise MediaFetchError("That doesn't look like a web address. Paste a link that starts with https://.",
                              code="media_bad_url") from None
    scheme = url.scheme.lower()
    if not scheme:
        raise MediaFetchError("That link does not start with https:// (or http://). Paste the full link.",
                              code="media_bad_url")
    if scheme not in ("http", "https"):
        slashes = scheme in _SLASHED_SCHEMES or str(raw).strip().lower().startswith(f"{scheme}://")
        shown = f"{scheme}://" if slashes else f"{scheme}:"
        raise MediaFetchError(
            f"Outpost only fetches media from http:// or https:// links; this one starts with {shown}.",
            code="media_bad_scheme")
    if not url.raw_host:
        raise MediaFetchError("That link has no website name in it. Paste the full link, starting with https://.",
                              code="media_bad_url")
    if url.userinfo:
        raise MediaFetchError(
            "That link has a user name or password in it; Outpost does not send those. Use a public link to the file.",
            code="media_bad_url")
    return url


def _host_key(url: httpx.URL) -> tuple[str, int]:
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    return host, url.port or (443 if url.scheme == "https" else 80)


def _parse_allow_hosts(entries: Iterable[str]) -> set[tuple[str, int | None]]:
    allowed: set[tuple[str, int | None]] = set()
    for entry in entries:
        entry = entry.strip().lower()
        port: int | None = None
        if entry.startswith("["):  # [::1]:8080
            host, _, rest = entry[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif entry.count(":") == 1:
            host, port_s = entry.split(":")
            port = int(port_s)
        else:
            host = entry
        allowed.add((host.rstrip("."), port))
    return allowed


def _is_allowed(url: httpx.URL, allowed: set[tuple[str, int | None]]) -> bool:
    host, port = _host_key(url)
    return (host, port) in allowed or (host, None) in allowed


def default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _vet(url: httpx.URL, allowed: set[tuple[str, int | None]], resolve: Resolver) -> list[str]:
    """The addresses to connect to for `url`, after refusing anything that is not public."""
    host, port = _host_key(url)
    trusted = _is_allowed(url, allowed)
    literal = _ip_or_none(host)
    if not trusted and literal is None:
        if host == "localhost" or host.endswith(".localhost"):
            raise MediaFetchError(
                f"That link points to this server itself ({host}); Outpost only fetches media from public websites.",
                code="media_private_address")
        if host in _METADATA_NAMES or host.endswith(".internal"):
            raise MediaFetchError(
                f"That link points to {host}, a cloud metadata or internal address; "
                "Outpost only fetches media from public websites.", code="media_private_address")
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = [a.split("%")[0] if "%" in a else a for a in resolve(host, port)]
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise MediaFetchError(
                f"Outpost could not find the website {url.host}. Check the link for typos.",
                code="media_host_not_found")
    if trusted:
        return addresses
    for address in addresses:
        ip = _ip_or_none(address)
        reason = "an address Outpost cannot read" if ip is None else _why_not_public(ip)
        if reason:
            where = "That link points to" if literal is not None else f"That link's website {url.host} points to"
            raise MediaFetchError(f"{where} {reason} ({address}); Outpost only fetches media from public websites.",
                                  code="media_private_address")
    return addresses


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _why_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why `ip` must not be fetched from, or None when it is an ordinary public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 is judged as the IPv4 address it reaches.
        if ip.ipv4_mapped is not None:
            return _why_not_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return _why_not_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and _why_not_public(ip.sixtofour):
            return _why_not_public(ip.sixtofour)
    if ip in _METADATA_IPS:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "this server's own address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.version == 4 and ip in _CGNAT:
        return "a carrier-grade NAT (shared) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private network address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _get(client: httpx.Client, url: httpx.URL, addresses: list[str], *, deadline: float, timeout_s: float,
         read: Callable[[httpx.Response, httpx.URL, float], T], accept: str) -> "_Redirect | T":
    """One hop: where a redirect leads, or what `read` makes of the answer."""
    host, port = _host_key(url)
    named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    host_header = named if url.port is None else f"{named}:{port}"
    # Connection: close, because a pooled connection is keyed by IP, not by the name its certificate was checked for.
    headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "close",
               "Accept": accept}
    # Pin: connect to the address that was checked; TLS still verifies the certificate for `host`.
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    last_error: Exception | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        pinned = url.copy_with(host=address, fragment=None)
        try:
            with client.stream("GET", pinned, headers=headers, extensions=extensions, follow_redirects=False,
                               timeout=httpx.Timeout(remaining)) as response:
                target = _redirect_target(response, url)
                return _Redirect(target) if target is not None else read(response, url, deadline)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last_error = exc  # try the next address of the same host
        except httpx.TimeoutException:
            raise _too_slow(url, timeout_s) from None
        except httpx.HTTPError as exc:
            raise MediaFetchError(
                f"The download from {_shown(url)} broke off ({type(exc).__name__}). Try again, or use another link.",
                code="media_unreachable") from None
    if last_error is None or deadline - time.monotonic() <= 0:
        raise _too_slow(url, timeout_s)
    raise MediaFetchError(f"Outpost could not connect to {url.host}. Check that the link opens in a browser.",
                          code="media_unreachable") from None


def _redirect_target(response: httpx.Response, url: httpx.URL) -> httpx.URL | None:
    """Where a redirect answer leads (checked like the first link later), or None for any other answer."""
    if response.status_code not in _REDIRECT_CODES:
        return None
    location = response.headers.get("location")
    if not location:
        raise MediaFetchError(f"{_shown(url)} answered with a redirect that leads nowhere.", code="media_http_error")
    # Relative locations resolve against the name the user gave, never against the pinned IP.
    try:
        target = url.join(location)
    except (httpx.InvalidURL, ValueError):
        raise MediaFetchError(f"{_shown(url)} redirected to an address that is not a valid link.",
                              code="media_http_error") from None
    return _parse_url(target)


def _read(response: httpx.Response, url: httpx.URL, *, deadline: float, timeout_s: float, max_bytes: int,
          allowed_types: tuple[str, ...]) -> tuple[str, bytes]:
    status = response.status_code
    if not 200 <= status < 300:
        phrase = response.reason_phrase or "error"
        raise MediaFetchError(f"The media host {url.host} answered {status} ({phrase}) for {_shown(url)}. "
                              "Check that the link opens in a browser without logging in.", code="media_http_error",
                              http_status=status)
    declared = _bare_type(response.headers.get("content-type"))
    if declared == "text/html":
        raise _web_page(url)
    if declared not in _GENERIC_TYPES and not _type_allowed(declared, allowed_types):
        raise MediaFetchError(f"{_shown(url)} is {declared}, not {_kinds(allowed_types)}.", code="media_wrong_type")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_big(url, max_bytes)
    body = bytearray()
    content_type: str | None = None
    for chunk in response.iter_bytes():
        if len(body) + len(chunk) > max_bytes:
            raise _too_big(url, max_bytes)
        body += chunk
        if content_type is None and len(body) >= _SNIFF_BYTES:
            content_type = _judge(declared, bytes(body[:_SNIFF_BYTES]), url, allowed_types)
        if time.monotonic() > deadline:
            raise _too_slow(url, timeout_s)
    if not body:
        raise MediaFetchError(f"{_shown(url)} is an empty file.", code="media_empty")
    if content_type is None:
        content_type = _judge(declared, bytes(body[:_SNIFF_BYTES]), url, allowed_types)
    return content_type, bytes(body)


def _judge(declared: str, head: bytes, url: httpx.URL, allowed_types: tuple[str, ...]) -> str:
    """The content type to trust, from the declared type and the first bytes; refuses a mismatch."""
    sniffed = _sniff(head)
    if sniffed == _MARKUP:
        raise _web_page(url)
    if sniffed is not None:
        if not _type_allowed(sniffed, allowed_types):
            raise MediaFetchError(f"{_shown(url)} is {_describe(sniffed)}, not {_kinds(allowed_types)}.",
                                  code="media_wrong_type")
        return sniffed  # the bytes win over a mislabelled header (a PNG sent as image/jpeg)
    if declared in _GENERIC_TYPES:
        raise MediaFetchError(f"Outpost could not tell what kind of file {_shown(url)} is; "
                              "it does not look like a photo or video.", code="media_wrong_type")
    if declared in _SIGNED_TYPES:
        raise MediaFetchError(f"{_shown(url)} says it is {_describe(declared)}, but the file is not one.",
                              code="media_not_what_it_says")
    return declared  # a type we have no signature for, which the caller allowed


def _type_allowed(mime: str, allowed_types: tuple[str, ...]) -> bool:
    for allowed in allowed_types:
        allowed = allowed.lower().rstrip("*")
        if mime == allowed or (allowed.endswith("/") and mime.startswith(allowed)):
            return True
    return False


def _bare_type(header: str | None) -> str:
    mime = (header or "").split(";")[0].strip().lower()
    return {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/mov": "video/quicktime"}.get(mime, mime)


def _kinds(allowed_types: tuple[str, ...]) -> str:
    words = {"image/": "a photo", "video/": "a video"}
    names = [words.get(t, t) for t in allowed_types]
    return " or ".join(names) if names else "an accepted file type"


def _shown(url: httpx.URL) -> str:
    """scheme://host[:port]/path, without user info, query or fragment (they may carry secrets)."""
    port = f":{url.port}" if url.port else ""
    path = url.path if len(url.path) <= 80 else url.path[:77] + "..."
    return f"{url.scheme}://{url.host}{port}{path}"


def _too_big(url: httpx.URL, max_bytes: int) -> MediaFetchError:
    return MediaFetchError(f"{_shown(url)} is larger than {_mb(max_bytes)}, the most Outpost will download.",
                           code="media_too_large")


def _too_slow(url: httpx.URL, timeout_s: float) -> MediaFetchError:
    return MediaFetchError(f"Downloading {_shown(url)} took longer than {timeout_s:g} seconds, so Outpost stopped. "
                           "Try again later, or upload the file instead.", code="media_timeout")


def _web_page(url: httpx.URL) -> MediaFetchError:
    return MediaFetchError(
        f"{_shown(url)} is a web page, not a photo or video. Use the direct link to the file "
        "(right-click the picture and choose 'Copy image address').", code="media_not_what_it_says")


def _mb(n: int) -> str:
    value = n / MB
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} MB"


# --------------------------------------------------------------------------------------------
# Sniffing and inspection
# --------------------------------------------------------------------------------------------

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_QT_FIRST_BOXES = frozenset({b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})
# Types whose bytes we can recognise; a body declared as one of these that does not match is refused.
_SIGNED_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff",
                           "video/mp4", "video/quicktime", "video/webm", "video/x-matroska"})


def _sniff(head: bytes) -> str | None:
    """The MIME type the first bytes announce, `_MARKUP` for HTML/XML/JSON, None when unknown."""
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
        return _MARKUP
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
    sniffed = _sniff(data[:_SNIFF_BYTES])
    if sniffed in ("video/mp4", "video/quicktime"):
        return _inspect_bmff(data, sniffed, who)
    if sniffed == "audio/mp4":
        raise UnsupportedMediaError(f"{who} is a sound file; Outpost posts photos and videos.",
                                    code="media_no_video_track")
    if sniffed in ("video/webm", "video/x-matroska"):
        mime = "video/webm" if _bare_type(content_type) == "video/webm" else sniffed
        return MediaInfo(kind="video", mime=mime, width=None, height=None, duration_s=None, size=len(data), frames=None)
    if sniffed == _MARKUP:
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
            raise UnsupportedMediaError(f"{who} looks like {_describe(sniffed)} but is damaged or incomplete; "
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


# --------------------------------------------------------------------------------------------
# Checking against a platform
# --------------------------------------------------------------------------------------------

_TYPE_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
               "image/bmp": "BMP", "image/tiff": "TIFF", "image/heic": "HEIC", "image/avif": "AVIF",
               "video/mp4": "MP4", "video/quicktime": "MOV", "video/webm": "WebM", "video/x-matroska": "MKV",
               "video/x-msvideo": "AVI", "application/pdf": "PDF", "audio/mp4": "M4A"}
_AN = ("MP4", "MKV", "AVI", "M4A", "HEIC")  # names read letter by letter that start with a vowel sound
_COMMON_RATIOS = ((1, 1), (4, 5), (5, 4), (4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16), (2, 1), (1, 2),
                  (21, 9), (9, 21), (3, 1), (1, 3))


def _type_name(mime: str) -> str:
    return _TYPE_NAMES.get(mime, mime.split("/")[-1].upper())


def _describe(mime: str) -> str:
    name = _type_name(mime)
    article = "an" if name in _AN else "a"
    noun = " file" if mime not in _TYPE_NAMES else ""
    return f"{article} {name}{noun}"


def check_media(info: MediaInfo, limits: PlatformLimits, *, label: str = "image 1") -> list[Problem]:
    """Every reason `limits.platform` would refuse this item, each naming it by `label`; [] when it fits."""
    platform = limits.platform.label
    problems: list[Problem] = []

    def add(code: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(code=code, message=message, field="media", platform=limits.platform.value,
                                severity=severity))

    is_video = info.kind == "video"
    takes_images = limits.images_max > 0 or bool(limits.image_types)
    takes_videos = limits.videos_max > 0 or bool(limits.video_types)
    if is_video and not takes_videos:
        only = "images only" if takes_images else "no media"
        add("video_not_allowed", f"{platform} accepts {only}; {label} is a video.")
        return problems
    if not is_video and not takes_images:
        only = "videos only" if takes_videos else "no media"
        add("image_not_allowed", f"{platform} accepts {only}; {label} is a photo.")
        return problems

    noun = "videos" if is_video else "images"
    types = limits.video_types if is_video else limits.image_types
    normalized = {_bare_type(t) for t in types}
    if normalized and _bare_type(info.mime) not in normalized:
        names = sorted(_type_name(t) for t in normalized)
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        add("media_type_not_allowed", f"{platform} accepts {listed} {noun} only; {label} is {_describe(info.mime)}.")

    max_bytes = limits.video_max_bytes if is_video else limits.image_max_bytes
    if max_bytes is not None and info.size > max_bytes:
        size = _mb(info.size)
        if size == _mb(max_bytes):  # 8.01 MB must not read as "8 MB; ... up to 8 MB"
            size = f"{info.size / MB:.2f} MB" if f"{info.size / MB:.2f}" != f"{max_bytes / MB:.2f}" else f"{info.size:,} bytes"
        add("media_too_large", f"{label} is {size}; {platform} accepts {noun} up to {_mb(max_bytes)}.")

    aspect = limits.video_aspect if is_video else limits.image_aspect
    if aspect is not None:
        if info.width and info.height:
            if not aspect.allows(info.width, info.height):
                add("media_aspect_ratio", f"{label} is {_ratio_words(info.width, info.height)}; "
                                          f"{platform} allows {_range_words(aspect)} for {noun}.")
        else:
            add("media_dimensions_unknown", f"Outpost could not read the size of {label}, so it could not check it "
                                            f"against {platform}'s {_range_words(aspect)} limit.", "warning")

    if is_video and (limits.video_min_s is not None or limits.video_max_s is not None):
        if info.duration_s is None:
            add("media_duration_unknown", f"Outpost could not read how long {label} is; {platform} needs "
                                          f"{_length_range(limits)}.", "warning")
        elif limits.video_min_s is not None and info.duration_s < limits.video_min_s:
            add("video_too_short", f"{label} is {_duration(info.duration_s)} long; {platform} needs at least "
                                   f"{_duration(limits.video_min_s)}.")
        elif limits.video_max_s is not None and info.duration_s > limits.video_max_s:
            add("video_too_long", f"{label} is {_duration(info.duration_s)} long; {platform} allows at most "
                                  f"{_duration(limits.video_max_s)}.")
    return problems


def _ratio_words(width: int, height: int) -> str:
    """'16:9 (1.78:1)' for common shapes, '1234×567 pixels (2.18:1)' otherwise."""
    ratio = width / height
    d = gcd(width, height)
    w, h = width // d, height // d
    if w > 21 or h > 21:
        near = [(a, b) for a, b in _COMMON_RATIOS if abs(ratio - a / b) / (a / b) < 0.005]
        if near:
            w, h = near[0]
        else:
            return f"{width}×{height} pixels ({_ratio_num(ratio)}:1)"
    return f"{w}:{h}" if h == 1 else f"{w}:{h} ({_ratio_num(ratio)}:1)"


def _ratio_num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _range_words(aspect: AspectRange) -> str:
    return aspect.label or f"{_ratio_num(aspect.min)}:1 to {_ratio_num(aspect.max)}:1"


def _duration(seconds: float) -> str:
    if seconds < 60:
        text = f"{seconds:.1f}".rstrip("0").rstrip(".")
        return f"{text} second" + ("" if text == "1" else "s")
    minutes, rest = divmod(round(seconds), 60)
    if rest == 0:
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"{minutes} min {rest} s"


def _length_range(limits: PlatformLimits) -> str:
    if limits.video_min_s is not None and limits.video_max_s is not None:
        return f"{_duration(limits.video_min_s)} to {_duration(limits.video_max_s)}"
    if limits.video_min_s is not None:
        return f"at least {_duration(limits.video_min_s)}"
    return f"at most {_duration(limits.video_max_s or 0)}"


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
               "image/bmp": ".bmp", "image/tiff": ".tiff", "image/avif": ".avif", "image/heic": ".heic",
               "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv"}
_NAME_RE = re.compile(r"[0-9a-f]{64}\.(?:" + "|".join(e[1:] for e in _EXTENSIONS.values()) + r")")


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
            raise UnsupportedMediaError(f"'{filename}' is {_describe(info.mime)}, which Outpost does not store.",
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

    def open(self, name: str) -> BinaryIO:
        """The stored bytes of `name`, for platforms that take uploads; NotFoundError when missing."""
        path = self.path_for(name)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"The media file {name} is not in the library (it may have been deleted).") from None


class MediaChecker:
    """Checks every media link of a post against every target platform, before it can be scheduled.

    Each link is fetched once (safely, see fetch_media) and inspected; each item is then checked
    against each platform's declared limits, naming the item that fails ("image 2 is 16:9...").
    Passed to ``Scheduler(media_checker=...)`` by the dashboard; scripts may leave it out.
    """

    def __init__(self, *, allow_hosts: Iterable[str] = (), client: httpx.Client | None = None,
                 max_bytes: int = 300 * MB, timeout_s: float = 20.0, library: "MediaLibrary | None" = None):
        self.allow_hosts = tuple(allow_hosts)
        # Our own uploads are read from disk, not fetched back over the network.
        self.library = library
        self.client = client
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._cache: dict[str, MediaInfo | ValidationError] = {}

    def info(self, url: str) -> MediaInfo:
        cached = self._cache.get(url)
        if cached is None:
            try:
                cached = self._inspect(url)
            except ValidationError as exc:
                cached = exc
            self._cache[url] = cached
        if isinstance(cached, ValidationError):
            raise cached
        return cached

    def _inspect(self, url: str) -> MediaInfo:
        local = self.library.name_of(url) if self.library is not None else None
        if local is not None:
            try:
                with self.library.open(local) as handle:
                    return inspect_media(handle.read(), None, name=local)
            except NotFoundError as exc:
                raise MediaFetchError(Problem("media_missing", str(exc), field="media")) from None
        fetched = fetch_media(url, client=self.client, max_bytes=self.max_bytes, timeout_s=self.timeout_s,
                              allow_hosts=self.allow_hosts)
        return inspect_media(fetched.data, fetched.content_type, name=url)

    def __call__(self, post) -> list[Problem]:
        from core.platforms.limits import limits_for
        problems: list[Problem] = []
        for platform in post.platforms:
            media = post.render(platform).media_urls
            images = videos = 0
            for url in media:
                try:
                    info = self.info(url)
                except ValidationError as exc:
                    for p in exc.problems:
                        if all(p.message != q.message for q in problems):
                            problems.append(p)
                    continue
                if info.kind == "video":
                    videos += 1
                    label = f"video {videos}"
                else:
                    images += 1
                    label = f"image {images}"
                problems += check_media(info, limits_for(platform), label=label)
        return problems

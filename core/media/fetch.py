"""Fetching a link someone else gave, safely: the one GET of user-given URLs (SSRF guard).

`fetch_public` holds the rules every fetch of someone else's link follows (media and link-card pages):
only http(s); every resolved address must be public (private, loopback, link-local, CGNAT and cloud
metadata addresses are refused before any connection); the connection goes to the address that was
checked (no DNS rebinding between check and connect); every redirect hop is checked again; one deadline
for everything. `fetch_media` adds the size cap and the content-type rules for photos and videos.

Exception messages never contain a URL's query string (pre-signed links carry signatures there);
links are shown as scheme://host/path only.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

import httpx

from core.domain.errors import Problem, ValidationError
from core.media.formats import MB, bare_type, describe, megabytes
from core.media.probe import MARKUP, SIGNED_TYPES, SNIFF_BYTES, sniff

__all__ = ["FetchedMedia", "MediaFetchError", "Resolver", "USER_AGENT", "default_resolver", "fetch_media",
           "fetch_public"]

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
    """The addresses DNS gives for `host`, each once, in the resolver's order."""
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
    declared = bare_type(response.headers.get("content-type"))
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
        if content_type is None and len(body) >= SNIFF_BYTES:
            content_type = _judge(declared, bytes(body[:SNIFF_BYTES]), url, allowed_types)
        if time.monotonic() > deadline:
            raise _too_slow(url, timeout_s)
    if not body:
        raise MediaFetchError(f"{_shown(url)} is an empty file.", code="media_empty")
    if content_type is None:
        content_type = _judge(declared, bytes(body[:SNIFF_BYTES]), url, allowed_types)
    return content_type, bytes(body)


def _judge(declared: str, head: bytes, url: httpx.URL, allowed_types: tuple[str, ...]) -> str:
    """The content type to trust, from the declared type and the first bytes; refuses a mismatch."""
    sniffed = sniff(head)
    if sniffed == MARKUP:
        raise _web_page(url)
    if sniffed is not None:
        if not _type_allowed(sniffed, allowed_types):
            raise MediaFetchError(f"{_shown(url)} is {describe(sniffed)}, not {_kinds(allowed_types)}.",
                                  code="media_wrong_type")
        return sniffed  # the bytes win over a mislabelled header (a PNG sent as image/jpeg)
    if declared in _GENERIC_TYPES:
        raise MediaFetchError(f"Outpost could not tell what kind of file {_shown(url)} is; "
                              "it does not look like a photo or video.", code="media_wrong_type")
    if declared in SIGNED_TYPES:
        raise MediaFetchError(f"{_shown(url)} says it is {describe(declared)}, but the file is not one.",
                              code="media_not_what_it_says")
    return declared  # a type we have no signature for, which the caller allowed


def _type_allowed(mime: str, allowed_types: tuple[str, ...]) -> bool:
    for allowed in allowed_types:
        allowed = allowed.lower().rstrip("*")
        if mime == allowed or (allowed.endswith("/") and mime.startswith(allowed)):
            return True
    return False


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
    return MediaFetchError(f"{_shown(url)} is larger than {megabytes(max_bytes)}, the most Outpost will download.",
                           code="media_too_large")


def _too_slow(url: httpx.URL, timeout_s: float) -> MediaFetchError:
    return MediaFetchError(f"Downloading {_shown(url)} took longer than {timeout_s:g} seconds, so Outpost stopped. "
                           "Try again later, or upload the file instead.", code="media_timeout")


def _web_page(url: httpx.URL) -> MediaFetchError:
    return MediaFetchError(
        f"{_shown(url)} is a web page, not a photo or video. Use the direct link to the file "
        "(right-click the picture and choose 'Copy image address').", code="media_not_what_it_says")


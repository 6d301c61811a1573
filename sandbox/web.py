"""HTTP plumbing the platform modules share: the per-request `Call`, `Reply`, route tables.

A platform handler is `async def handler(call: Call) -> Response`. It raises
`Reply(response)` to answer early (almost always with the platform's own error body).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:  # pragma: no cover
    from sandbox.server import Core
    from sandbox.state import State

Handler = Callable[["Call"], Awaitable[Response]]
T = TypeVar("T")


class Reply(Exception):
    """Answer the current request at once with `response`."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def empty_response(status: int, headers: dict | None = None) -> Response:
    return Response(b"", status_code=status, headers=headers)


@dataclass
class Call:
    """One request to a platform host, parsed once."""

    request: Request
    core: "Core"
    platform: str
    host: str
    request_id: str
    body: bytes
    params: dict            # query string, then form fields, then top-level JSON keys (later wins)
    json: Any               # the parsed JSON body, or None
    files: dict             # multipart files: name -> (filename, content_type, bytes)
    token: str | None       # Bearer/OAuth header, else an access_token parameter
    faults: list = field(default_factory=list)   # fault kinds the handler applied itself (listing_lag)

    @property
    def st(self) -> "State":
        return self.core.state

    @property
    def cfg(self):
        return self.core.state.config

    @property
    def method(self) -> str:
        return self.request.method

    def now(self) -> float:
        return self.core.state.clock.now()

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.request.headers.get(name, default)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    @property
    def query(self):
        return self.request.query_params

    @property
    def origin(self) -> str:
        """Scheme and host the client used to reach us; absolute URLs we hand out start with it."""
        host = self.request.headers.get("host")
        if not host:
            server = self.request.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.request.url.scheme}://{host}"

    def url(self, host: str, path: str) -> str:
        """The emulator URL standing for https://{host}{path}."""
        return f"{self.origin}/{host}{path}"

    def path_param(self, name: str) -> str:
        return self.request.path_params[name]

    def listed(self, platform: str, items: Iterable[T], made: Callable[[T], float] | None = None) -> list[T]:
        """The `items` a listing or search shows now: those made at least the platform's listing lag ago.

        Real listings are eventually consistent (a post is created, the timeline shows it later), so a
        reconciliation that finds nothing right after a lost answer has not proved the post absent. Lookups
        by id never go through here. `made` gives an item's emulator-clock creation time (default: a Post's
        published_at); hiding anything marks the request with the `listing_lag` fault in the control log.
        """
        items = list(items)
        lag = self.cfg.listing_lag(platform)
        if lag <= 0:
            return items
        made = made or (lambda item: item.published_at)
        cutoff = self.now() - lag
        shown = [item for item in items if made(item) <= cutoff]
        if len(shown) < len(items) and "listing_lag" not in self.faults:
            self.faults.append("listing_lag")
        return shown


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return None


async def build_call(request: Request, core: "Core", platform: str, host: str, request_id: str) -> Call:
    body = await request.body()
    params: dict = dict(request.query_params)
    ctype = (request.headers.get("content-type") or "").lower()
    parsed = None
    files: dict = {}
    if body:
        if "multipart/form-data" in ctype:
            fields, files = parse_multipart(body, request.headers.get("content-type") or "")
            params.update(fields)
        elif "application/x-www-form-urlencoded" in ctype:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif "json" in ctype or (not ctype and body[:1] in (b"{", b"[")):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                params.update(parsed)
    token = bearer(request.headers.get("authorization"))
    if token is None and isinstance(params.get("access_token"), str):
        token = params["access_token"]
    return Call(request=request, core=core, platform=platform, host=host, request_id=request_id, body=body,
                params=params, json=parsed, files=files, token=token)


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_NAME = re.compile(r'\bname="([^"]*)"')
_FILENAME = re.compile(r'\bfilename="([^"]*)"')


def parse_multipart(body: bytes, content_type: str) -> tuple[dict, dict]:
    """Fields and files of a multipart/form-data body, kept in memory (no temporary files)."""
    match = _BOUNDARY.search(content_type)
    if not match:
        return {}, {}
    delimiter = b"--" + match.group(1).encode()
    fields: dict = {}
    files: dict = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _NAME.search(disposition)
        if not name:
            continue
        filename = _FILENAME.search(disposition)
        if filename is not None:
            files[name.group(1)] = (filename.group(1), headers.get("content-type", ""), data)
        else:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files


class RouteTable:
    """The routes one platform module serves: (host, path, methods, handler)."""

    def __init__(self, platform: str):
        self.platform = platform
        self.entries: list[tuple[str, str, tuple[str, ...], Handler]] = []

    def route(self, host: str, path: str, methods: tuple[str, ...] = ("GET",)):
        def register(fn: Handler) -> Handler:
            self.entries.append((host, path, tuple(methods), fn))
            return fn
        return register

    def get(self, host: str, path: str):
        return self.route(host, path, ("GET",))

    def post(self, host: str, path: str):
        return self.route(host, path, ("POST",))

    def put(self, host: str, path: str):
        return self.route(host, path, ("PUT",))


# ------------------------------------------------------------------ post pages
# `/web/<host>/<path>` is the emulator's own page for the post a platform-shaped URL names
# (https://x.com/handle/status/123 -> /web/x.com/handle/status/123): what a person sees when they open
# a published post's link in sandbox mode (core.platforms.links.viewable_link).

WEB_PLATFORMS = {"x.com": "x", "twitter.com": "x", "instagram.com": "instagram", "facebook.com": "facebook",
                 "linkedin.com": "linkedin", "tiktok.com": "tiktok", "youtube.com": "youtube", "youtu.be": "youtube",
                 "threads.net": "threads", "threads.com": "threads", "bsky.app": "bluesky"}


def _bare_host(host: str) -> str:
    host = host.lower().strip(".")
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def _same_url(a: str, b: str) -> bool:
    from urllib.parse import urlsplit
    pa, pb = urlsplit(a), urlsplit(b)
    return (_bare_host(pa.hostname or "") == _bare_host(pb.hostname or "")
            and pa.path.rstrip("/") == pb.path.rstrip("/") and pa.query == pb.query)


def find_post_by_url(st: "State", url: str):
    """The post (not deleted) a platform URL names: its recorded URL, else an id in the URL's path or query
    (x.com/i/status/ID, a Facebook permalink's post half, a Bluesky rkey)."""
    from urllib.parse import parse_qsl as _qsl, urlsplit
    parts = urlsplit(url)
    platform = WEB_PLATFORMS.get(_bare_host(parts.hostname or ""), "mastodon")
    tokens = {seg for seg in parts.path.split("/") if seg} | {v for _, v in _qsl(parts.query)}
    with st.lock:
        posts = [p for p in st.posts if p.platform == platform and not p.deleted]
    for post in posts:
        if post.url and _same_url(post.url, url):
            return post
    for post in reversed(posts):
        ids = {post.external_id, post.external_id.rsplit("/", 1)[-1], post.external_id.split("_")[-1],
               str(post.extra.get("rkey") or "")}
        if tokens & (ids - {""}):
            return post
    return None


def _esc(value: Any) -> str:
    import html
    return html.escape(str(value), quote=True)


def post_page_html(st: "State", url: str) -> tuple[int, str]:
    from sandbox.insights import post_metrics
    from sandbox.state import iso as _iso
    post = find_post_by_url(st, url)
    head = ('<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>'
            'body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}}'
            '.note{{background:#fff6d6;border:1px solid #e8d48a;padding:.5rem .75rem;border-radius:6px;font-size:.9rem}}'
            '.text{{white-space:pre-wrap;font-size:1.1rem;margin:1rem 0}}.muted{{color:#666;font-size:.9rem}}'
            'li{{margin:.4rem 0}}img{{max-width:100%}}</style></head><body>'
            '<p class="note">Sandbox emulator: this is the post as the emulator holds it, not the live platform.</p>')
    if post is None:
        return 404, (head.format(title="Post not found") + f"<h1>Post not found</h1><p>The emulator holds no post "
                     f"at <code>{_esc(url)}</code> (it may have been deleted, or the emulator was reset).</p>"
                     "</body></html>")
    account = st.account(post.platform, post.account)
    author = f"{account.name} (@{account.handle})" if account else post.account
    out = [head.format(title=_esc(f"{author} on {post.platform}")),
           f"<h1>{_esc(author)}</h1>",
           f'<p class="muted">{_esc(post.platform)} {_esc(post.kind)} · published {_esc(_iso(post.published_at, False))}'
           f' · id <code>{_esc(post.external_id)}</code></p>',
           f'<div class="text">{_esc(post.text)}</div>']
    media = [m for m in post.media if m]
    if media:
        out.append("<h2>Media</h2><ul>")
        for item in media:
            item = str(item)
            link = f'<a href="{_esc(item)}">{_esc(item)}</a>' if item.startswith(("http://", "https://")) else _esc(item)
            out.append(f"<li>{link}</li>")
        out.append("</ul>")
    metrics = post_metrics(st, post)
    out.append("<h2>Metrics</h2><ul>" + "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in metrics.items())
               + "</ul>")
    with st.lock:
        replies = [p for p in st.posts if p.platform == post.platform and not p.deleted
                   and str(p.extra.get("in_reply_to") or "") == post.external_id]
    comments = st.comments_on(post.platform, post.external_id)
    out.append(f"<h2>Replies and comments ({len(replies) + len(comments)})</h2>")
    if replies or comments:
        out.append("<ul>")
        for reply in replies:
            who = st.account(reply.platform, reply.account)
            out.append(f"<li><b>{_esc('@' + who.handle if who else reply.account)}</b> "
                       f'<span class="muted">{_esc(_iso(reply.published_at, False))}</span><br>{_esc(reply.text)}</li>')
        for comment in comments:
            who = st.account(comment.platform, comment.author)
            out.append(f"<li><b>{_esc('@' + who.handle if who else comment.author)}</b> "
                       f'<span class="muted">{_esc(_iso(comment.created_at, False))}</span><br>{_esc(comment.text)}</li>')
        out.append("</ul>")
    else:
        out.append('<p class="muted">None yet.</p>')
    out.append("</body></html>")
    return 200, "".join(out)


def post_page(core: "Core"):
    """The Starlette endpoint for `/web/{host}/{path}`."""
    from starlette.responses import HTMLResponse

    async def page(request: Request) -> Response:
        host = request.path_params["host"]
        url = f"https://{host}/{request.path_params.get('rest', '')}"
        if request.url.query:
            url += "?" + request.url.query
        status, body = post_page_html(core.state, url)
        return HTMLResponse(body, status_code=status)
    return page

"""The Meta Graph API core shared by Instagram and Facebook Pages.

Graph is nodes and edges: `/{version}/{node-id}` and `/{version}/{node-id}/{edge}`, with
`me` standing for the token's own node, parameters in the query string, a form or JSON,
and every error wrapped as {"error": {message, type, code, error_subcode, fbtrace_id}}
(https://developers.facebook.com/docs/graph-api/guides/error-handling). Instagram and
Facebook register their node types' edges here with `@edge(...)`; both graph hosts share
one node space, so the Instagram API with Facebook Login works on graph.facebook.com.
"""
from __future__ import annotations

import json
import math
import re
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from starlette.responses import Response

from sandbox import oauth
from sandbox.state import Comment, Token
from sandbox.web import Call, Reply, json_response

VERSION = re.compile(r"^v\d+\.\d+$")
HOST_PLATFORM = {"graph.instagram.com": "instagram", "graph.facebook.com": "facebook"}
TYPE_LABEL = {"ig_user": "IGUser", "ig_container": "IGContainer", "ig_media": "IGMedia", "fb_user": "User",
              "fb_page": "Page", "fb_post": "PagePost", "fb_photo": "Photo", "fb_video": "Video"}

EdgeHandler = Callable[[Call, Token, "Node"], Awaitable[Response]]
EDGES: dict[tuple[str, str, str | None], EdgeHandler] = {}
SPECIAL: dict[tuple[str, str], Callable[[Call], Awaitable[Response]]] = {}


@dataclass
class Node:
    id: str
    type: str
    owner: str                      # the principal (IG user, page, FB user) that may see it
    created_at: float
    data: dict = field(default_factory=dict)


def edge(node_type: str, method: str, name: str | None = None):
    def register(fn: EdgeHandler) -> EdgeHandler:
        EDGES[(node_type, method, name)] = fn
        return fn
    return register


def special(host: str, path: str):
    """A non-node path such as `oauth/access_token` or `refresh_access_token` (version optional)."""
    def register(fn):
        SPECIAL[(host, path)] = fn
        return fn
    return register


def add_node(call_or_st, node: Node) -> Node:
    st = getattr(call_or_st, "st", call_or_st)
    with st.lock:
        st.meta.nodes[node.id] = node
    return node


def new_id(st, kind: str) -> str:
    """Graph-looking numeric ids, deterministic per run: 17/18 digits."""
    n = st.next(f"meta:{kind}")
    base = {"container": 17_889_000_000_000_000, "media": 17_912_000_000_000_000, "post": 122_100_000_000_000,
            "photo": 122_300_000_000_000, "video": 122_500_000_000_000}[kind]
    return str(base + st.seed * 1_000_000_000 + n)


# ------------------------------------------------------------------- errors
def graph_error(status: int, message: str, code: int, subcode: int | None = None, type_: str = "OAuthException",
                user_title: str | None = None, user_msg: str | None = None, transient: bool | None = None,
                headers: dict | None = None) -> Response:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if transient is not None:
        err["is_transient"] = transient
    if user_title:
        err["error_user_title"] = user_title
    if user_msg:
        err["error_user_msg"] = user_msg
    trace = secrets.token_urlsafe(8)[:11]
    err["fbtrace_id"] = trace
    all_headers = {"x-fb-trace-id": trace, "x-fb-request-id": secrets.token_hex(12)}
    all_headers.update(headers or {})
    return json_response({"error": err}, status, all_headers)


def fail(status: int, message: str, code: int, subcode: int | None = None, **kw) -> Reply:
    return Reply(graph_error(status, message, code, subcode, **kw))


def unsupported(call: Call, object_id: str) -> Reply:
    return fail(400, f"Unsupported {call.method.lower()} request. Object with ID '{object_id}' does not exist, cannot "
                     "be loaded due to missing permissions, or does not support this operation. Please read the Graph "
                     "API documentation at https://developers.facebook.com/docs/graph-api", 100, 33,
                type_="GraphMethodException")


def nonexisting_field(name: str, node: Node) -> Reply:
    return fail(400, f"(#100) Tried accessing nonexisting field ({name}) on node type ({TYPE_LABEL[node.type]})", 100)


def missing_permission(scope: str) -> Reply:
    return fail(400, f"(#10) Application does not have permission for this action: {scope} is required", 10)


def invalid_metric(index: int, valid: list[str]) -> Reply:
    return fail(400, f"(#100) metric[{index}] must be one of the following values: {', '.join(valid)}", 100)


def server_error(status: int = 500) -> Response:
    return graph_error(status, "An unexpected error has occurred. Please retry your request later.", 2,
                       transient=True)


def rate_limited() -> Response:
    # Graph throttling is code 4/17/32 in an HTTP 400-range answer, with a usage header at 100%.
    return graph_error(400, "(#4) Application request limit reached", 4, transient=True,
                       headers={"x-app-usage": '{"call_count":100,"total_cputime":12,"total_time":18}'})


# ------------------------------------------------------------------ per-user call limits
def limit_calls(st, per_user: int | None, window_s: float = 3600.0) -> None:
    """Switch Graph's per-user call limit on (at most `per_user` calls per user or Page per rolling `window_s`, on
    both graph hosts) or off (None, the default; a reset turns it off too). Meta counts calls per app-user pair and
    per Page (https://developers.facebook.com/docs/graph-api/overview/rate-limiting/); the real budgets are large
    (4800 x impressions a day) and a test needs them small."""
    with st.lock:
        st.meta.call_limit = (per_user, float(window_s)) if per_user is not None else None
        st.meta.calls = defaultdict(deque)


def throttled(token: Token, regain_min: int, calls: int) -> Reply:
    """Meta's answer to a user or Page over its call budget: code 17 (user) or 32 (Page), is_transient, HTTP 400
    (not 429), and the usage header at 100% with when access comes back (minutes)."""
    page = token.kind == "page"
    usage = {token.account_id: [{"type": "pages" if page else token.platform, "call_count": 100,
                                 "total_cputime": 25, "total_time": 30, "estimated_time_to_regain_access": regain_min}]}
    headers = {"x-business-use-case-usage": json.dumps(usage),
               "x-app-usage": json.dumps({"call_count": 100, "total_cputime": 25, "total_time": 30})}
    if page:
        return fail(400, "(#32) Page request limit reached", 32, transient=True, headers=headers)
    return fail(400, "(#17) User request limit reached", 17, 2446079, transient=True, headers=headers,
                user_title="Too many calls", user_msg=f"You have made too many calls ({calls}). Try again later.")


def count_call(call: Call, token: Token) -> None:
    """Count one call against the token's user (or Page); raise Meta's throttling error when the budget is spent.
    A refused call is not counted."""
    limit = getattr(call.st.meta, "call_limit", None)
    if not limit and call.cfg.graph_user_calls is not None:     # the setting (--config, PATCH /_control/config)
        limit = (call.cfg.graph_user_calls, call.cfg.graph_user_window_s)
    if not limit:
        return
    per_user, window_s = limit
    now = call.now()
    with call.st.lock:
        if getattr(call.st.meta, "calls", None) is None:
            call.st.meta.calls = defaultdict(deque)
        stamps = call.st.meta.calls[(token.platform, token.account_id)]
        while stamps and stamps[0] <= now - window_s:
            stamps.popleft()
        if len(stamps) >= per_user:
            raise throttled(token, max(1, math.ceil((stamps[0] + window_s - now) / 60)), len(stamps))
        stamps.append(now)


def _pdt(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%A, %d-%b-%y %H:%M:%S UTC")


def authenticate(call: Call) -> Token:
    """The call's token for this graph host, or the Graph error the real API gives."""
    platform = HOST_PLATFORM[call.host]
    kinds = ("access", "page") if platform == "facebook" else ("access",)
    token, status = oauth.lookup(call.st, call.token, platform, kinds)
    www = {"www-authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'}
    if status == "missing":
        raise fail(400, "An active access token must be used to query information about the current user.", 2500)
    if status == "invalid":
        raise fail(400, "Invalid OAuth access token - Cannot parse access token", 190, headers=www)
    if status == "expired":
        raise fail(400, f"Error validating access token: Session has expired on {_pdt(token.expires_at)}. The current "
                        f"time is {_pdt(call.now())}.", 190, 463, headers=www)
    if status == "revoked":
        raise fail(400, "Error validating access token: The session has been invalidated because the user changed "
                        "their password or Facebook has changed the session for security reasons.", 190, 460,
                   headers=www)
    return token


def principals(call: Call, token: Token) -> set[str]:
    """The node owners this token may act for: the user, their pages, the pages' Instagram accounts."""
    st = call.st
    if token.platform == "instagram":
        return {token.account_id}
    if token.kind == "page":
        page = st.meta.nodes.get(token.account_id)
        return {token.account_id} | ({page.data["ig_user_id"]} if page and page.data.get("ig_user_id") else set())
    out = {token.account_id}
    for page_id in st.meta.by_user.get(token.account_id, ()):
        out.add(page_id)
        page = st.meta.nodes.get(page_id)
        if page and page.data.get("ig_user_id"):
            out.add(page.data["ig_user_id"])
    return out


def require_scope(token: Token, *alternatives: str) -> None:
    if not any(s in token.scopes for s in alternatives):
        raise missing_permission(alternatives[0])


# ------------------------------------------------------------------- fields
def split_fields(value: str) -> list[str]:
    """Top-level field names of `a,b{c,d},picture.type(large)`."""
    names, depth, current = [], 0, ""
    for ch in value:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += ch
    names.append(current)
    return [re.split(r"[.{(]", n.strip(), maxsplit=1)[0] for n in names if n.strip()]


def select(call: Call, node: Node, available: dict[str, Callable[[], Any]], default: tuple[str, ...] = ()) -> dict:
    """`{id, requested fields...}`; an unknown field is the Graph error, as on the real API."""
    requested = split_fields(call.param("fields") or "") or list(default)
    out: dict[str, Any] = {}
    for name in requested:
        if name == "id":
            continue
        getter = available.get(name)
        if getter is None:
            raise nonexisting_field(name, node)
        value = getter()
        if value is not None:
            out[name] = value
    out["id"] = node.id
    return out


# ---------------------------------------------------------------- containers (Instagram and Threads)
def quota_used(call: Call, user_id: str, window_s: float = 86400.0) -> int:
    """How many posts `user_id` published in the rolling window (the publishing quota's count)."""
    cutoff = call.now() - window_s
    with call.st.lock:
        stamps = call.st.meta.publishes[user_id]
        stamps[:] = [t for t in stamps if t > cutoff]
        return len(stamps)


def container_status(nodes: dict, node: Node, now: float, *, ttl_s: float, carousel_error: Any,
                     expired_children_expire: bool = False) -> str:
    """A media container's status: PUBLISHED, ERROR, EXPIRED (after ttl_s), IN_PROGRESS until its media is
    ready, else FINISHED; a carousel is as ready as its children (an ERROR child marks it `carousel_error`)."""
    d = node.data
    if d.get("published_id"):
        return "PUBLISHED"
    if d.get("error"):
        return "ERROR"
    if now - node.created_at >= ttl_s:
        return "EXPIRED"
    if d["media_type"] == "CAROUSEL":
        states = [container_status(nodes, nodes[c], now, ttl_s=ttl_s, carousel_error=carousel_error,
                                   expired_children_expire=expired_children_expire) for c in d["children"]]
        if "ERROR" in states:
            d["error"] = carousel_error
            return "ERROR"
        if expired_children_expire and "EXPIRED" in states:
            return "EXPIRED"
        return "IN_PROGRESS" if "IN_PROGRESS" in states else "FINISHED"
    ready = d.get("ready_at")
    return "FINISHED" if ready is not None and now >= ready else "IN_PROGRESS"


def graph_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def flag(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def paged(items: list[dict], call: Call, default_limit: int = 25) -> dict:
    """A Graph page of `items` with cursors (`after` is the index, base-10, as a string)."""
    try:
        limit = max(1, min(int(call.param("limit") or default_limit), 100))
        start = int(call.param("after") or 0)
    except ValueError:
        limit, start = default_limit, 0
    chunk = items[start:start + limit]
    out: dict[str, Any] = {"data": chunk}
    if items:
        out["paging"] = {"cursors": {"before": str(start), "after": str(start + len(chunk))}}
        if start + limit < len(items):
            out["paging"]["next"] = str(call.request.url.include_query_params(after=str(start + len(chunk))))
    return out


# ------------------------------------------------------------------ dispatch
async def dispatch(call: Call) -> Response:
    segments = [s for s in call.path_param("path").split("/") if s]
    if segments and VERSION.match(segments[0]):
        segments = segments[1:]
    handler = SPECIAL.get((call.host, "/".join(segments)))
    if handler is not None:
        return await handler(call)
    if not segments or len(segments) > 2:
        raise unsupported(call, "/".join(segments))
    token = authenticate(call)
    count_call(call, token)
    node_id = segments[0]
    if node_id == "me":
        node_id = token.account_id
    node = call.st.meta.nodes.get(node_id)
    platform = HOST_PLATFORM[call.host]
    if node is None or node.owner not in principals(call, token) or \
            (platform == "instagram" and not node.type.startswith("ig_")):
        raise unsupported(call, segments[0])
    edge_name = segments[1] if len(segments) > 1 else None
    handler = EDGES.get((node.type, call.method, edge_name))
    if handler is None:
        if edge_name and any(k[0] == node.type and k[2] == edge_name for k in EDGES):
            raise unsupported(call, segments[0])
        if edge_name:
            raise nonexisting_field(edge_name, node)
        raise unsupported(call, segments[0])
    return await handler(call, token, node)


# ------------------------------------------------------------------ comments (Instagram media, Page posts)
def create_comment(call: Call, token: Token, node: Node, *, platform: str, max_chars: int) -> Response:
    """`POST /{object-id}/comments {message}`: the comment is made under the object, `{"id"}` comes back.
    Nothing refuses the same text twice: a client that sends a comment again gets a second comment."""
    message = str(call.param("message") or "")
    if not message.strip():
        raise fail(400, "(#100) The parameter message is required", 100)
    if len(message) > max_chars:
        raise fail(400, f"(#100) Length of param message must be less than or equal to {max_chars}", 100)
    st = call.st
    n = st.next(f"meta:comment:{platform}")
    comment_id = (str(17_858_000_000_000_000 + st.seed * 1_000_000_000 + n) if platform == "instagram"
                  else f"{node.id.split('_')[-1]}_{100_000_000_000 + n}")
    st.add_comment(Comment(platform=platform, object_id=node.id, id=comment_id, text=message,
                           author=token.account_id, created_at=call.now(), request_id=call.request_id))
    return json_response({"id": comment_id})


def list_comments(call: Call, node: Node, *, platform: str, fields: dict[str, Callable[[Comment], Any]]) -> Response:
    """`GET /{object-id}/comments`: the comments under the object, newest first, paged; new ones show only after
    the platform's listing lag (like every listing here)."""
    comments = sorted(call.listed(platform, call.st.comments_on(platform, node.id), made=lambda c: c.created_at),
                      key=lambda c: c.created_at, reverse=True)
    requested = split_fields(call.param("fields") or "") or ["id", *list(fields)[:1]]
    for name in requested:
        if name != "id" and name not in fields:
            raise fail(400, f"(#100) Tried accessing nonexisting field ({name}) on node type (Comment)", 100)
    page = paged(comments, call)
    page["data"] = [{"id": c.id, **{n: fields[n](c) for n in requested if n != "id"}} for c in page["data"]]
    return json_response(page)

"""Threads (Meta's Threads API on graph.threads.net, version v1.0).

OAuth: www.threads.net/oauth/authorize -> graph.threads.net/oauth/access_token (1 h, with user_id)
-> /access_token?grant_type=th_exchange_token (60 d) -> /refresh_access_token?grant_type=th_refresh_token
(only when >= 24 h old and not expired). Publishing is the container model: POST /{user}/threads ->
poll ?fields=status,error_message -> POST /{user}/threads_publish?creation_id=. Containers go
IN_PROGRESS -> FINISHED -> PUBLISHED, or ERROR (with an error_message), or EXPIRED 24 h after creation.
250 API posts per profile per rolling 24 h, enforced on threads_publish. Errors are Meta's Graph envelope.
https://developers.facebook.com/docs/threads/posts ; .../insights ; .../troubleshooting
"""
from __future__ import annotations

import time
import unicodedata
from datetime import datetime, timezone

from starlette.responses import Response

from sandbox import insights, media, meta, oauth
from sandbox.meta import Node, fail
from sandbox.state import Account, Post, State, Token, iso, stable_str
from sandbox.web import Call, RouteTable, json_response

routes = RouteTable("threads")
GRAPH = "graph.threads.net"
# postiz sends no response_type and its production Threads connections work: do not insist on one.
SPEC = oauth.OAuthSpec("threads", "Threads", require_response_type=False)
MEDIA_METRICS = ["views", "likes", "replies", "reposts", "quotes", "shares"]
USER_METRICS = ["views", "likes", "replies", "reposts", "quotes", "clicks", "followers_count"]
EARLIEST_INSIGHTS = 1712991600          # since/until before this are refused (facts §7.4)
LISTED_TYPE = {"TEXT": "TEXT_POST", "IMAGE": "IMAGE", "VIDEO": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}

# Threads speaks the shared Graph dialect: its host and node names join the shared core.
meta.HOST_PLATFORM[GRAPH] = "threads"
meta.TYPE_LABEL.update({"th_user": "ThreadsUser", "th_container": "ThreadsMediaContainer", "th_media": "ThreadsMedia"})


def server_error(status: int = 500) -> Response:
    """Threads' 5xx is the Graph envelope's transient code 2 (the /_control faults use it)."""
    return meta.server_error(status)


def rate_limited() -> Response:
    """Graph throttling: code 4 in an HTTP 400 with the usage header at 100%."""
    return meta.rate_limited()


def text_length(text: str) -> int:
    """Threads' count: code points, except that each emoji counts its UTF-8 bytes (facts §7.2)."""
    def emoji(cp: int) -> bool:
        return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2300 <= cp <= 0x23FF
                or 0x2B00 <= cp <= 0x2BFF or 0xFE00 <= cp <= 0xFE0F or cp in (0x200D, 0x20E3)
                or 0xE0020 <= cp <= 0xE007F)
    return sum(len(ch.encode("utf-8")) if emoji(ord(ch)) else 1 for ch in unicodedata.normalize("NFC", text))


# ------------------------------------------------------------------ accounts
def _create_user(st: State, account: Account) -> None:
    meta.add_node(st, Node(id=account.id, type="th_user", owner=account.id, created_at=account.created_at,
                           data={"username": account.handle, "name": account.name}))


oauth.ACCOUNT_HOOKS["threads"] = _create_user


@routes.route("www.threads.net", "/oauth/authorize", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


_CODE_ERRORS = {
    "invalid": ("Invalid verification code format.", 36007),
    "used": ("This authorization code has been used.", 36009),
    "expired": ("This authorization code has expired.", 36007),
    "client_mismatch": ("Invalid verification code format.", 36007),
    "redirect_mismatch": ("Error validating verification code. Please make sure your redirect_uri is identical to "
                          "the one you used in the OAuth dialog request", 36008),
}


@meta.special(GRAPH, "oauth/access_token")
async def access_token(call: Call) -> Response:
    st, p = call.st, call.params
    if not oauth.client_ok(st, "threads", p.get("client_id"), check_secret=False):
        raise fail(400, "Error validating application. Invalid application ID.", 101)
    if not oauth.client_ok(st, "threads", p.get("client_id"), p.get("client_secret")):
        raise fail(400, "Error validating client secret.", 1)
    if p.get("grant_type") != "authorization_code":
        raise fail(400, "Unsupported grant_type: expected authorization_code", 100)
    try:
        code = oauth.redeem_code(st, "threads", p.get("code"), p.get("client_id"), p.get("redirect_uri"))
    except oauth.CodeError as exc:
        message, subcode = _CODE_ERRORS.get(exc.reason, _CODE_ERRORS["invalid"])
        raise fail(400, message, 100, subcode)
    token = oauth.mint(st, "threads", code.account_id, code.client_id, code.scopes, call.cfg.thr_short_token_s,
                       long_lived=False)
    # The short-lived answer carries the user id and no lifetime or scopes.
    return json_response({"access_token": token.value, "user_id": int(code.account_id)})


def _query_token(call: Call) -> Token:
    token, status = oauth.lookup(call.st, call.param("access_token") or call.token, "threads")
    if status != "ok":
        meta.authenticate(call)  # raises the right Graph error
    return token


def _long_lived(call: Call, token: Token) -> Response:
    ttl = call.cfg.thr_long_token_s
    new = oauth.mint(call.st, "threads", token.account_id, token.client_id, token.scopes, ttl,
                     grant_id=token.grant_id, long_lived=True)
    return json_response({"access_token": new.value, "token_type": "bearer", "expires_in": int(ttl)})


@meta.special(GRAPH, "access_token")
async def exchange_token(call: Call) -> Response:
    if call.param("grant_type") != "th_exchange_token":
        raise fail(400, "Unsupported grant_type: expected th_exchange_token", 100)
    token = _query_token(call)
    client = call.cfg.client("threads")
    if call.param("client_secret") != client.get("client_secret") or token.client_id != client.get("client_id"):
        raise fail(400, "Error validating client secret.", 1)
    if token.extra.get("long_lived"):
        raise fail(400, "(#100) Only a short-lived access token can be exchanged for a long-lived one", 100)
    return _long_lived(call, token)


@meta.special(GRAPH, "refresh_access_token")
async def refresh_token(call: Call) -> Response:
    if call.param("grant_type") != "th_refresh_token":
        raise fail(400, "Unsupported grant_type: expected th_refresh_token", 100)
    token = _query_token(call)
    if not token.extra.get("long_lived"):
        raise fail(400, "(#100) Only a long-lived access token can be refreshed", 100)
    if call.now() - token.issued_at < call.cfg.thr_refresh_min_age_s:
        raise fail(400, "(#100) The access token can be refreshed only when it is at least 24 hours old", 100)
    return _long_lived(call, token)


routes.route(GRAPH, "/{path:path}", ("GET", "POST", "DELETE"))(meta.dispatch)


# ----------------------------------------------------------------- the user
@meta.edge("th_user", "GET")
async def get_user(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_basic")
    return json_response(meta.select(call, user, {
        "username": lambda: user.data["username"], "name": lambda: user.data["name"],
        "threads_profile_picture_url": lambda: f"{call.origin}/_media/sample.jpg?w=150&h=150",
        "threads_biography": lambda: "Sandbox account", "is_verified": lambda: False,
    }))


@meta.edge("th_user", "GET", "threads_publishing_limit")
async def publishing_limit(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_basic")
    requested = meta.split_fields(call.param("fields") or "quota_usage")
    item: dict = {}
    for name in requested:
        if name == "quota_usage":
            item["quota_usage"] = meta.quota_used(call, user.id)
        elif name == "config":
            item["config"] = {"quota_total": call.cfg.thr_publish_quota, "quota_duration": 86400}
        else:
            raise fail(400, f"(#100) Tried accessing nonexisting field ({name})", 100, type_="THApiException")
    return json_response({"data": [item]})


# ---------------------------------------------------------------- containers
def _status(st: State, node: Node, now: float) -> str:
    return meta.container_status(st.meta.nodes, node, now, ttl_s=st.config.thr_container_ttl_s,
                                 carousel_error="UNKNOWN", expired_children_expire=True)


@meta.edge("th_container", "GET")
async def get_container(call: Call, token: Token, node: Node) -> Response:
    status = _status(call.st, node, call.now())
    return json_response(meta.select(call, node, {
        "status": lambda: status, "error_message": lambda: node.data["error"] if status == "ERROR" else None,
    }, default=("status",)))


def _invalid(message: str) -> meta.Reply:
    return fail(400, message, 100, type_="THApiException")


def _fetch_failed(url: str) -> meta.Reply:
    return fail(400, "Only photo or video can be accepted as media type.", 9004, 2207052,
                user_title="Media download has failed.",
                user_msg=f"The media could not be fetched from this URI: {url}. Please check the URI and try again.")


@meta.edge("th_user", "POST", "threads")
async def create_container(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_content_publish")
    cfg, p = call.cfg, call.params
    media_type = str(p.get("media_type") or "").upper()
    is_item = meta.flag(p.get("is_carousel_item"))
    text = str(p.get("text") or "")
    if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
        raise _invalid("(#100) Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}")
    if is_item and media_type not in ("IMAGE", "VIDEO"):
        raise _invalid("(#100) A carousel item must be an IMAGE or a VIDEO")
    if not is_item and text_length(text) > cfg.thr_text_max:
        raise fail(400, f"Param text must be at most {cfg.thr_text_max} characters long.", 100,
                   type_="THApiException", user_title="Text too long",
                   user_msg=f"Posts can be at most {cfg.thr_text_max} characters; each emoji counts as several.")
    children: list[str] = []
    if media_type == "TEXT" and not text.strip():
        raise _invalid("(#100) Param text is required for TEXT posts")
    if media_type == "CAROUSEL":
        children = _carousel_children(call, user)
    reply_to = str(p.get("reply_to_id") or "") or None
    if reply_to:
        parent = call.st.meta.nodes.get(reply_to)
        if parent is None or parent.type != "th_media":
            raise _invalid(f"(#100) Param reply_to_id must be a valid Threads media id, not {reply_to}")
    url = None
    if media_type in ("IMAGE", "VIDEO"):
        url_param = "video_url" if media_type == "VIDEO" else "image_url"
        url = p.get(url_param)
        if not url:
            raise _invalid(f"(#100) The parameter {url_param} is required")
    now = call.now()
    node = Node(id=meta.new_id(call.st, "container"), type="th_container", owner=user.id, created_at=now,
                data={"media_type": media_type, "is_carousel_item": is_item, "text": "" if is_item else text,
                      "url": url, "children": children, "alt_text": p.get("alt_text"), "ready_at": None,
                      "error": None, "published_id": None, "reply_to": reply_to})
    if media_type == "VIDEO":
        meta.add_node(call, node)
        call.core.spawn(_fetch_video(call, node))
        return json_response({"id": node.id})
    if media_type == "IMAGE":
        fetched = await media.fetch(call.core.http, url, "image")
        if not fetched.ok:
            raise _fetch_failed(url)
    if media_type != "CAROUSEL":
        node.data["ready_at"] = now + (cfg.thr_image_delay_s if media_type == "IMAGE" else cfg.thr_text_delay_s)
    meta.add_node(call, node)
    return json_response({"id": node.id})


def _carousel_children(call: Call, user: Node) -> list[str]:
    raw = call.param("children") or []
    children = [str(c).strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if str(c).strip()]
    top = call.cfg.thr_carousel_max
    if not 2 <= len(children) <= top:
        raise fail(400, f"(#100) A carousel needs 2 to {top} children, not {len(children)}.", 100, 2207028,
                   type_="THApiException", user_title="Carousel validation failed")
    for child_id in children:
        child = call.st.meta.nodes.get(child_id)
        if child is None or child.type != "th_container" or child.owner != user.id or \
                not child.data["is_carousel_item"]:
            raise fail(400, f"(#100) The carousel child {child_id} is not a carousel item container of this user",
                       100, 2207028, type_="THApiException", user_title="Carousel validation failed")
    return children


async def _fetch_video(call: Call, node: Node) -> None:
    fetched = await media.fetch(call.core.http, node.data["url"], "video")
    st = call.st
    with st.lock:
        if not fetched.ok:
            node.data["error"] = "FAILED_DOWNLOADING_VIDEO"
            return
        info = fetched.info
        if info.fetched and info.duration_s and info.duration_s > st.config.thr_video_max_s:
            node.data["error"] = "INVALID_DURATION"
            return
        node.data["ready_at"] = node.created_at + st.config.thr_video_delay_s


# ------------------------------------------------------------------ publish
@meta.edge("th_user", "POST", "threads_publish")
async def publish(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_content_publish")
    st, cfg = call.st, call.cfg
    creation_id = str(call.param("creation_id") or "")
    now = call.now()
    with st.lock:
        node = st.meta.nodes.get(creation_id)
        if node is None or node.type != "th_container" or node.owner != user.id:
            raise fail(400, "The requested resource does not exist", 24, 4279009, type_="THApiException",
                       user_title="Media Not Found", user_msg=f"The media with id {creation_id} cannot be found.")
        if node.data.get("published_id"):
            raise fail(400, "Media ID is not available", 9007, 2207006, user_title="Media not found",
                       user_msg="The media with the given id could not be found or has already been published.")
        if node.data["is_carousel_item"]:
            raise _invalid("(#100) A carousel item container cannot be published on its own")
        status = _status(st, node, now)
        if status == "IN_PROGRESS":
            raise fail(400, "The media is not ready for publishing.", 9007, 2207027,
                       user_title="Media ID is not available",
                       user_msg="The media is not ready for publishing, please wait for a moment")
        if status == "EXPIRED":
            raise fail(400, "The media container has expired. Please create a new container.", 9007, 2207020,
                       user_title="Media expired")
        if status == "ERROR":
            raise _invalid(f"(#100) The container failed and cannot be published ({node.data['error']})")
        if meta.quota_used(call, user.id) >= cfg.thr_publish_quota:
            raise fail(400, "The maximum number of posts that were allowed to be published has been reached.", 9,
                       2207042, user_title="Maximum number of posts reached",
                       user_msg=f"Profiles can publish {cfg.thr_publish_quota} posts per 24 hours through the API.")
        media_id = meta.new_id(st, "media")
        node.data["published_id"] = media_id
        st.meta.publishes[user.id].append(now)
        d = node.data
        children = [st.meta.nodes[c] for c in d["children"]]
        urls = [c.data["url"] for c in children] if children else ([d["url"]] if d["url"] else [])
        video = d["media_type"] == "VIDEO" or any(c.data["media_type"] == "VIDEO" for c in children)
        shortcode = stable_str("th-shortcode", st.seed, media_id, length=11)
        permalink = f"https://www.threads.net/@{user.data['username']}/post/{shortcode}"
        meta.add_node(st, Node(id=media_id, type="th_media", owner=user.id, created_at=now, data={
            "media_type": LISTED_TYPE[d["media_type"]], "text": d["text"], "shortcode": shortcode,
            "permalink": permalink, "urls": urls, "container": node.id, "video": video,
            "alt_text": d.get("alt_text"), "children": [c.data["media_type"] for c in children],
            "reply_to": d.get("reply_to")}))
    st.add_post(Post(platform="threads", account=user.id, external_id=media_id, text=d["text"], media=urls,
                     received_at=iso(time.time()), request_id=call.request_id, published_at=now,
                     kind=d["media_type"].lower(), url=permalink,
                     extra={"container_id": node.id, "video": video, "in_reply_to": d.get("reply_to")}))
    return json_response({"id": media_id})


# -------------------------------------------------------------------- media
def _media_fields(call: Call, node: Node) -> dict:
    d = node.data
    user = call.st.meta.nodes.get(node.owner)
    return meta.select(call, node, {
        "media_product_type": lambda: "THREADS", "media_type": lambda: d["media_type"],
        "media_url": lambda: d["urls"][0] if d["urls"] and d["media_type"] != "CAROUSEL_ALBUM" else None,
        "permalink": lambda: d["permalink"], "owner": lambda: {"id": node.owner},
        "username": lambda: user.data["username"], "text": lambda: d["text"] or None,
        "timestamp": lambda: meta.graph_time(node.created_at), "shortcode": lambda: d["shortcode"],
        "thumbnail_url": lambda: d["urls"][0] if d["media_type"] == "VIDEO" else None,
        "is_quote_post": lambda: False, "alt_text": lambda: d.get("alt_text"),
        "children": lambda: {"data": [{"id": f"{node.id}{i}"} for i in range(len(d["urls"]))]}
        if d["media_type"] == "CAROUSEL_ALBUM" else None,
    })


@meta.edge("th_media", "GET")
async def get_media(call: Call, token: Token, node: Node) -> Response:
    meta.require_scope(token, "threads_basic")
    return json_response(_media_fields(call, node))


def _time_param(call: Call, name: str) -> float | None:
    """since/until as Threads takes them: a Unix timestamp or an ISO date."""
    value = call.param(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"(#100) Param {name} must be a Unix timestamp or a date") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


@meta.edge("th_media", "GET", "replies")
async def list_replies(call: Call, token: Token, node: Node) -> Response:
    """The direct replies to a post, newest first (threads_read_replies); new ones show after the listing lag."""
    meta.require_scope(token, "threads_read_replies", "threads_manage_replies")
    st = call.st
    with st.lock:
        replies = [n for n in st.meta.nodes.values() if n.type == "th_media" and n.data.get("reply_to") == node.id]
    replies = sorted(call.listed("threads", replies, made=lambda n: n.created_at), key=lambda n: n.created_at,
                     reverse=True)
    page = meta.paged(replies, call)
    page["data"] = [{**_media_fields(call, n), "replied_to": {"id": node.id}, "is_reply": True}
                    for n in page["data"]]
    return json_response(page)


@meta.edge("th_user", "GET", "threads")
async def list_threads(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_basic")
    st = call.st
    since, until = _time_param(call, "since"), _time_param(call, "until")
    posts = sorted(call.listed("threads", st.live_posts("threads", user.id)), key=lambda p: p.published_at,
                   reverse=True)
    nodes = [st.meta.nodes[p.external_id] for p in posts if p.external_id in st.meta.nodes]
    nodes = [n for n in nodes if (since is None or n.created_at >= since) and (until is None or n.created_at <= until)
             and not n.data.get("reply_to")]          # replies are listed under /replies, not here
    page = meta.paged(nodes, call)
    page["data"] = [_media_fields(call, n) for n in page["data"]]
    return json_response(page)


def _values(m: dict) -> dict[str, int]:
    """The counters Threads reports, from the shared insights model (each never decreases)."""
    return {"views": m["views"], "likes": m["likes"], "replies": m["comments"], "reposts": m["shares"],
            "quotes": m["quotes"], "shares": m["saves"] // 2, "clicks": m["clicks"]}


def _metric_names(call: Call, valid: list[str]) -> list[str]:
    raw = call.param("metric")
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw or []) if n.strip()]
    if not names:
        raise _invalid("(#100) The parameter metric is required")
    for i, name in enumerate(names):
        if name not in valid:
            raise meta.invalid_metric(i, valid)
    return names


@meta.edge("th_media", "GET", "insights")
async def media_insights(call: Call, token: Token, node: Node) -> Response:
    meta.require_scope(token, "threads_manage_insights")
    names = _metric_names(call, MEDIA_METRICS)
    post = call.st.find_post("threads", node.id)
    if post is None:
        return json_response({"data": []})
    values = _values(insights.post_metrics(call.st, post))
    return json_response({"data": [{
        "name": name, "period": "lifetime", "values": [{"value": values[name]}], "title": name.capitalize(),
        "description": f"The number of {name} of your post.", "id": f"{node.id}/insights/{name}/lifetime"}
        for name in names]})


@meta.edge("th_user", "GET", "threads_insights")
async def user_insights(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "threads_manage_insights")
    st = call.st
    names = _metric_names(call, USER_METRICS)
    now = call.now()
    since, until = _time_param(call, "since"), _time_param(call, "until")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value < EARLIEST_INSIGHTS:
            raise _invalid(f"(#100) Param {name} must be on or after {EARLIEST_INSIGHTS} (April 13, 2024)")
    until = min(until or now, now)
    since = since if since is not None else until - 2 * 86400
    posts = st.live_posts("threads", user.id)

    def totals(at: float) -> dict[str, int]:
        out: dict[str, int] = {}
        for post in posts:
            for k, v in _values(insights.post_metrics(st, post, now=min(at, now))).items():
                out[k] = out.get(k, 0) + v
        return out

    data = []
    for name in names:
        item = {"name": name, "period": "day", "title": name.replace("_", " ").capitalize(),
                "description": f"The number of {name.replace('_', ' ')} of your profile.",
                "id": f"{user.id}/insights/{name}/day"}
        if name == "followers_count":          # a total now; since/until do not apply
            item["total_value"] = {"value": insights.account_followers(st, "threads", user.id)}
        elif name == "views":                  # the one time series, a value per day
            days, start = [], since
            while start < until:
                end = min(start + 86400, until)
                days.append({"value": max(0, totals(end).get("views", 0) - totals(start).get("views", 0)),
                             "end_time": meta.graph_time(end)})
                start = end
            item["values"] = days
        else:
            item["total_value"] = {"value": max(0, totals(until).get(name, 0) - totals(since).get(name, 0))}
        data.append(item)
    return json_response({"data": data})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    """Tokens for /_control/accounts: a long-lived Threads token."""
    client = st.config.client("threads")
    scopes = scopes or ["threads_basic", "threads_content_publish", "threads_manage_insights",
                        "threads_read_replies", "threads_manage_replies"]
    token = oauth.mint(st, "threads", account.id, client["client_id"], scopes, st.config.thr_long_token_s,
                       long_lived=True)
    return {"threads_user_id": account.id, "access_token": token.value, "expires_in": int(st.config.thr_long_token_s)}

"""Instagram (Instagram API with Instagram Login; the same edges answer on graph.facebook.com).

OAuth: www.instagram.com/oauth/authorize -> api.instagram.com/oauth/access_token (1 h)
-> graph.instagram.com/access_token?grant_type=ig_exchange_token (60 d)
-> /refresh_access_token?grant_type=ig_refresh_token (only when >= 24 h old).
Publishing is the container model: POST /{ig-user}/media -> poll ?fields=status_code ->
POST /{ig-user}/media_publish?creation_id=. Containers go IN_PROGRESS -> FINISHED ->
PUBLISHED, or ERROR, or EXPIRED 24 h after creation.
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/content-publishing
"""
from __future__ import annotations

import re
import time

from starlette.responses import Response

from sandbox import insights, media, meta, oauth
from sandbox.meta import Node, fail
from sandbox.state import Account, Post, State, Token, iso, stable_str
from sandbox.web import Call, RouteTable, json_response

routes = RouteTable("instagram")
SPEC = oauth.OAuthSpec("instagram", "Instagram")
server_error, rate_limited = meta.server_error, meta.rate_limited     # the Graph API's own 5xx and 429 answers
HASHTAG = re.compile(r"(?<![\w&])#(\w+)", re.UNICODE)
FEED_RATIO = (0.8, 1.91)      # 4:5 .. 1.91:1

FEED_METRICS = ["views", "reach", "likes", "comments", "shares", "saved", "total_interactions", "follows",
                "profile_visits", "profile_activity"]
REELS_METRICS = ["views", "reach", "likes", "comments", "shares", "saved", "total_interactions",
                 "ig_reels_avg_watch_time", "ig_reels_video_view_total_time"]
STORY_METRICS = ["views", "reach", "replies", "shares", "total_interactions", "follows", "profile_visits",
                 "navigation"]
ACCOUNT_METRICS = ["reach", "follower_count", "views", "likes", "comments", "shares", "saves", "replies",
                   "accounts_engaged", "total_interactions", "profile_views", "website_clicks"]


# ------------------------------------------------------------------ accounts
def _create_ig_user(st: State, account: Account) -> None:
    meta.add_node(st, Node(id=account.id, type="ig_user", owner=account.id, created_at=account.created_at,
                           data={"username": account.handle, "name": account.name}))


oauth.ACCOUNT_HOOKS["instagram"] = _create_ig_user


def oauth_error(message: str, status: int = 400) -> Response:
    """api.instagram.com keeps the old Instagram error shape."""
    return json_response({"error_type": "OAuthException", "code": status, "error_message": message}, status)


@routes.route("www.instagram.com", "/oauth/authorize", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


_CODE_ERRORS = {
    "invalid": "Invalid authorization code", "used": "This authorization code has been used",
    "expired": "This authorization code has expired", "client_mismatch": "Invalid authorization code",
    "redirect_mismatch": "Error validating verification code. Please make sure your redirect_uri is identical to "
                         "the one you used in the OAuth dialog request",
}


@routes.post("api.instagram.com", "/oauth/access_token")
async def access_token(call: Call) -> Response:
    p = call.params
    if not oauth.client_ok(call.st, "instagram", p.get("client_id"), check_secret=False):
        return oauth_error("Invalid platform app")
    if not oauth.client_ok(call.st, "instagram", p.get("client_id"), p.get("client_secret")):
        return oauth_error("Error validating client secret.")
    if p.get("grant_type") != "authorization_code":
        return oauth_error("Unsupported grant_type")
    try:
        code = oauth.redeem_code(call.st, "instagram", p.get("code"), p.get("client_id"), p.get("redirect_uri"))
    except oauth.CodeError as exc:
        return oauth_error(_CODE_ERRORS.get(exc.reason, "Invalid authorization code"))
    token = oauth.mint(call.st, "instagram", code.account_id, code.client_id, code.scopes, call.cfg.ig_short_token_s,
                       long_lived=False)
    return json_response({"access_token": token.value, "user_id": int(code.account_id),
                          "permissions": list(code.scopes)})


def _graph_token(call: Call) -> Token:
    token, status = oauth.lookup(call.st, call.param("access_token") or call.token, "instagram")
    if status != "ok":
        meta.authenticate(call)  # raises the right Graph error
    return token


@meta.special("graph.instagram.com", "access_token")
async def exchange_token(call: Call) -> Response:
    if call.param("grant_type") != "ig_exchange_token":
        raise fail(400, "Unsupported grant_type: expected ig_exchange_token", 100)
    token = _graph_token(call)
    client = call.cfg.client("instagram")
    if call.param("client_secret") != client.get("client_secret") or token.client_id != client.get("client_id"):
        raise fail(400, "Error validating client secret.", 1)
    if token.extra.get("long_lived"):
        raise fail(400, "(#100) Only a short-lived access token can be exchanged for a long-lived one", 100)
    ttl = call.cfg.ig_long_token_s
    new = oauth.mint(call.st, "instagram", token.account_id, token.client_id, token.scopes, ttl,
                     grant_id=token.grant_id, long_lived=True)
    return json_response({"access_token": new.value, "token_type": "bearer", "expires_in": int(ttl)})


@meta.special("graph.instagram.com", "refresh_access_token")
async def refresh_token(call: Call) -> Response:
    if call.param("grant_type") != "ig_refresh_token":
        raise fail(400, "Unsupported grant_type: expected ig_refresh_token", 100)
    token = _graph_token(call)
    if not token.extra.get("long_lived"):
        raise fail(400, "(#100) Only a long-lived access token can be refreshed", 100)
    if call.now() - token.issued_at < call.cfg.ig_refresh_min_age_s:
        raise fail(400, "(#100) The access token can be refreshed only when it is at least 24 hours old", 100)
    ttl = call.cfg.ig_long_token_s
    new = oauth.mint(call.st, "instagram", token.account_id, token.client_id, token.scopes, ttl,
                     grant_id=token.grant_id, long_lived=True)
    return json_response({"access_token": new.value, "token_type": "bearer", "expires_in": int(ttl)})


routes.route("graph.instagram.com", "/{path:path}", ("GET", "POST", "DELETE"))(meta.dispatch)


# ----------------------------------------------------------------- the user
def _user_fields(call: Call, user: Node) -> dict:
    st = call.st
    return meta.select(call, user, {
        "user_id": lambda: user.id, "username": lambda: user.data["username"], "name": lambda: user.data["name"],
        "profile_picture_url": lambda: f"{call.origin}/_media/sample.jpg?w=150&h=150",
        "followers_count": lambda: insights.account_followers(st, "instagram", user.id),
        "follows_count": lambda: insights.following(st.seed, "instagram", user.id),
        "media_count": lambda: len(st.live_posts("instagram", user.id)),
        "account_type": lambda: "BUSINESS", "biography": lambda: "Sandbox account", "website": lambda: None,
        "ig_id": lambda: int(user.id),
    })


@meta.edge("ig_user", "GET")
async def get_user(call: Call, token: Token, user: Node) -> Response:
    return json_response(_user_fields(call, user))


@meta.edge("ig_user", "GET", "content_publishing_limit")
async def publishing_limit(call: Call, token: Token, user: Node) -> Response:
    used = meta.quota_used(call, user.id)
    item: dict = {}
    requested = meta.split_fields(call.param("fields") or "quota_usage")
    if "quota_usage" in requested:
        item["quota_usage"] = used
    if "config" in requested:
        item["config"] = {"quota_total": call.cfg.ig_publish_quota, "quota_duration": 86400}
    return json_response({"data": [item]})


# ---------------------------------------------------------------- containers
def _status_code(st: State, node: Node, now: float) -> str:
    return meta.container_status(st.meta.nodes, node, now, ttl_s=st.config.ig_container_ttl_s, carousel_error=2207028)


_STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}


@meta.edge("ig_container", "GET")
async def get_container(call: Call, token: Token, node: Node) -> Response:
    code = _status_code(call.st, node, call.now())
    text = _STATUS_TEXT.get(code) or f"Error: Media upload has failed with error code {node.data.get('error')}"
    return json_response(meta.select(call, node, {
        "status_code": lambda: code, "status": lambda: text, "media_type": lambda: node.data["media_type"],
        "is_carousel_item": lambda: node.data["is_carousel_item"],
    }, default=("status_code",)))


def _check_caption(call: Call, caption: str) -> None:
    cfg = call.cfg
    if len(caption) > cfg.ig_caption_max:
        raise fail(400, "The caption is too long.", 100, 2207010, user_title="Caption too long",
                   user_msg=f"Captions can be at most {cfg.ig_caption_max} characters.")
    tags = HASHTAG.findall(caption)
    if len(tags) > cfg.ig_hashtag_max:
        raise fail(400, f"(#100) The caption contains {len(tags)} hashtags; at most {cfg.ig_hashtag_max} are allowed.",
                   100, user_title="Too many hashtags",
                   user_msg=f"Use at most {cfg.ig_hashtag_max} hashtags in a caption.")


def _fetch_failed(url: str) -> meta.Reply:
    return fail(400, "Only photo or video can be accepted as media type.", 9004, 2207052,
                user_title="Media download has failed.",
                user_msg=f"The media could not be fetched from this uri: {url}. Please check the uri and try again.")


@meta.edge("ig_user", "POST", "media")
async def create_container(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "instagram_business_content_publish", "instagram_content_publish")
    p = call.params
    media_type = str(p.get("media_type") or "").upper()
    is_item = meta.flag(p.get("is_carousel_item"))
    caption = str(p.get("caption") or "")
    if p.get("upload_type") == "resumable":
        raise fail(400, "(#100) Resumable uploads to rupload.facebook.com are not supported by the sandbox", 100)
    if media_type == "CAROUSEL":
        return await _create_carousel(call, user, caption)
    if media_type not in ("", "IMAGE", "REELS", "STORIES", "VIDEO"):
        raise fail(400, "(#100) Param media_type must be one of {CAROUSEL, REELS, STORIES, VIDEO}", 100)
    if media_type == "VIDEO" and not is_item:
        raise fail(400, "(#100) The VIDEO media type is no longer supported for feed videos; use media_type=REELS",
                   100, 2207023)
    if is_item and p.get("collaborators"):
        raise fail(400, "(#100) param collaborators is not allowed for carousel items", 100)
    video = media_type in ("REELS", "VIDEO") or (media_type == "STORIES" and p.get("video_url"))
    url_param = "video_url" if video else "image_url"
    url = p.get(url_param)
    if not url:
        raise fail(400, f"(#100) The parameter {url_param} is required", 100)
    if not is_item and media_type != "STORIES":
        _check_caption(call, caption)

    now = call.now()
    node = Node(id=meta.new_id(call.st, "container"), type="ig_container", owner=user.id, created_at=now,
                data={"media_type": media_type or "IMAGE", "is_carousel_item": is_item,
                      "caption": "" if is_item or media_type == "STORIES" else caption, "url": url,
                      "video": bool(video), "children": [], "ready_at": None, "error": None, "published_id": None,
                      "share_to_feed": meta.flag(p.get("share_to_feed"), True)})
    if video:
        meta.add_node(call, node)
        call.core.spawn(_fetch_video(call, node))
        return json_response({"id": node.id})

    fetched = await media.fetch(call.core.http, url, "image")
    if not fetched.ok:
        raise _fetch_failed(url)
    info = fetched.info
    if info.fetched:
        if call.cfg.ig_jpeg_only and info.fmt != "jpeg":
            raise fail(400, "The image format is not supported. Only JPEG images can be published.", 9004, 2207005,
                       user_title="Unsupported image format")
        ratio = info.width / info.height if info.height else 0
        if media_type != "STORIES" and not FEED_RATIO[0] - 0.01 <= ratio <= FEED_RATIO[1] + 0.01:
            raise fail(400, "The aspect ratio is not supported.", 36003, 2207009, user_title="Unsupported aspect ratio",
                       user_msg="The submitted image's aspect ratio must be between 4:5 and 1.91:1.")
    node.data["ready_at"] = now + call.cfg.ig_image_delay_s
    meta.add_node(call, node)
    return json_response({"id": node.id})


async def _fetch_video(call: Call, node: Node) -> None:
    fetched = await media.fetch(call.core.http, node.data["url"], "video")
    st = call.st
    with st.lock:
        if not fetched.ok:
            node.data["error"] = 2207052
            return
        info = fetched.info
        if info.fetched and node.data["media_type"] == "REELS" and info.duration_s and \
                not 3.0 <= info.duration_s <= 900.0:
            node.data["error"] = 2207026
            return
        node.data["ready_at"] = node.created_at + st.config.ig_video_delay_s


async def _create_carousel(call: Call, user: Node, caption: str) -> Response:
    raw = call.param("children") or []
    children = [c.strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if str(c).strip()]
    if not 2 <= len(children) <= call.cfg.ig_carousel_max:
        raise fail(400, f"(#100) The carousel has too little or too many attachments: it needs 2 to "
                        f"{call.cfg.ig_carousel_max} children.", 100, 2207028,
                   user_title="Carousel validation failed")
    for child_id in children:
        child = call.st.meta.nodes.get(str(child_id))
        if child is None or child.type != "ig_container" or child.owner != user.id or \
                not child.data["is_carousel_item"]:
            raise fail(400, f"(#100) The carousel child {child_id} is not a carousel item container of this user",
                       100, 2207028, user_title="Carousel validation failed")
    _check_caption(call, caption)
    node = Node(id=meta.new_id(call.st, "container"), type="ig_container", owner=user.id, created_at=call.now(),
                data={"media_type": "CAROUSEL", "is_carousel_item": False, "caption": caption, "url": None,
                      "video": False, "children": [str(c) for c in children], "ready_at": None, "error": None,
                      "published_id": None})
    meta.add_node(call, node)
    return json_response({"id": node.id})


# ------------------------------------------------------------------ publish
@meta.edge("ig_user", "POST", "media_publish")
async def publish(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "instagram_business_content_publish", "instagram_content_publish")
    st = call.st
    creation_id = str(call.param("creation_id") or "")
    now = call.now()
    with st.lock:
        node = st.meta.nodes.get(creation_id)
        if node is None or node.type != "ig_container" or node.owner != user.id or node.data.get("published_id"):
            raise fail(400, "Media ID is not available", 9007, 2207006, user_title="Media not found",
                       user_msg="The media with the given id could not be found or has already been published.")
        if node.data["is_carousel_item"]:
            raise fail(400, "(#100) A carousel item container cannot be published on its own", 100)
        status = _status_code(st, node, now)
        if status == "IN_PROGRESS":
            raise fail(400, "The media is not ready for publishing.", 9007, 2207027,
                       user_title="Media ID is not available",
                       user_msg="The media is not ready for publishing, please wait for a moment")
        if status == "EXPIRED":
            raise fail(400, "The media container has expired. Please create a new container.", 9007, 2207020,
                       user_title="Media expired")
        if status == "ERROR":
            raise fail(400, "The media could not be published because its container failed.", 9007,
                       int(node.data["error"]), user_title="Media upload failed")
        if meta.quota_used(call, user.id) >= call.cfg.ig_publish_quota:
            raise fail(400, "The maximum number of posts that were allowed to be published has been reached.", 9,
                       2207042, user_title="Maximum number of posts reached",
                       user_msg=f"Accounts can publish {call.cfg.ig_publish_quota} posts per 24 hours.")
        media_id = meta.new_id(st, "media")
        node.data["published_id"] = media_id
        st.meta.publishes[user.id].append(now)
        d = node.data
        product = {"REELS": "REELS", "STORIES": "STORY"}.get(d["media_type"], "FEED")
        kind = {"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO"}.get(d["media_type"], "VIDEO" if d["video"] else "IMAGE")
        shortcode = stable_str("shortcode", st.seed, media_id, length=11)
        path = "reel" if product == "REELS" else ("stories/" + user.data["username"] if product == "STORY" else "p")
        permalink = f"https://www.instagram.com/{path}/{shortcode}/"
        urls = [st.meta.nodes[c].data["url"] for c in d["children"]] if d["children"] else [d["url"]]
        meta.add_node(st, Node(id=media_id, type="ig_media", owner=user.id, created_at=now, data={
            "media_type": kind, "product": product, "caption": d["caption"], "shortcode": shortcode,
            "permalink": permalink, "urls": urls, "container": node.id, "video": d["video"]}))
    st.add_post(Post(platform="instagram", account=user.id, external_id=media_id, text=d["caption"], media=urls,
                     received_at=iso(time.time()), request_id=call.request_id, published_at=now,
                     kind=product.lower() if product != "FEED" else kind.lower(), url=permalink,
                     extra={"container_id": node.id, "video": d["video"]}))
    return json_response({"id": media_id})


# -------------------------------------------------------------------- media
def _media_fields(call: Call, node: Node) -> dict:
    st = call.st
    d = node.data
    post = st.find_post("instagram", node.id)
    counters = insights.post_metrics(st, post) if post else {}
    user = st.meta.nodes.get(node.owner)
    return meta.select(call, node, {
        "caption": lambda: d["caption"], "media_type": lambda: d["media_type"],
        "media_product_type": lambda: d["product"], "media_url": lambda: d["urls"][0],
        "permalink": lambda: d["permalink"], "shortcode": lambda: d["shortcode"],
        "timestamp": lambda: meta.graph_time(node.created_at), "username": lambda: user.data["username"],
        "like_count": lambda: counters.get("likes", 0), "comments_count": lambda: counters.get("comments", 0),
        "thumbnail_url": lambda: d["urls"][0] if d["video"] else None, "is_comment_enabled": lambda: True,
        "owner": lambda: {"id": node.owner},
        "children": lambda: {"data": [{"id": f"{node.id}{i}"} for i in range(len(d["urls"]))]}
        if d["media_type"] == "CAROUSEL_ALBUM" else None,
    })


@meta.edge("ig_media", "GET")
async def get_media(call: Call, token: Token, node: Node) -> Response:
    return json_response(_media_fields(call, node))


IG_COMMENT_MAX = 2200


@meta.edge("ig_media", "POST", "comments")
async def create_comment(call: Call, token: Token, node: Node) -> Response:
    """A comment under the account's own media (needs instagram_business_manage_comments); not on a story."""
    meta.require_scope(token, "instagram_business_manage_comments", "instagram_manage_comments")
    if node.data.get("product") == "STORY":
        raise fail(400, "(#100) Comments are not available on stories", 100)
    return meta.create_comment(call, token, node, platform="instagram", max_chars=IG_COMMENT_MAX)


@meta.edge("ig_media", "GET", "comments")
async def list_comments(call: Call, token: Token, node: Node) -> Response:
    st = call.st

    def username(c) -> str:
        user = st.meta.nodes.get(c.author)
        return user.data.get("username", "") if user else ""
    return meta.list_comments(call, node, platform="instagram", fields={
        "text": lambda c: c.text, "timestamp": lambda c: meta.graph_time(c.created_at), "username": username,
        "from": lambda c: {"id": c.author, "username": username(c)}, "like_count": lambda c: 0})


def _listing(call: Call, user: Node, stories: bool) -> Response:
    st = call.st
    posts = sorted(call.listed("instagram", st.live_posts("instagram", user.id)), key=lambda p: p.published_at,
                   reverse=True)
    nodes = [st.meta.nodes[p.external_id] for p in posts if p.external_id in st.meta.nodes]
    if stories:   # a story is listed for 24 hours, under /stories only
        nodes = [n for n in nodes if n.data["product"] == "STORY" and call.now() - n.created_at < 86400]
    else:
        nodes = [n for n in nodes if n.data["product"] != "STORY"]
    page = meta.paged(nodes, call)
    page["data"] = [_media_fields(call, n) for n in page["data"]]
    return json_response(page)


@meta.edge("ig_user", "GET", "media")
async def list_media(call: Call, token: Token, user: Node) -> Response:
    return _listing(call, user, stories=False)


@meta.edge("ig_user", "GET", "stories")
async def list_stories(call: Call, token: Token, user: Node) -> Response:
    return _listing(call, user, stories=True)


def _metric_value(name: str, m: dict) -> int:
    interactions = m["likes"] + m["comments"] + m["shares"] + m["saves"]
    return {
        "views": m["views"], "reach": m["reach"], "likes": m["likes"], "comments": m["comments"],
        "shares": m["shares"], "saved": m["saves"], "saves": m["saves"], "total_interactions": interactions,
        "follows": m["follows"], "profile_visits": m["profile_visits"], "profile_views": m["profile_visits"],
        "profile_activity": m["profile_visits"] + m["clicks"], "replies": m["comments"],
        "navigation": m["views"] // 3, "accounts_engaged": int(interactions * 0.8), "website_clicks": m["clicks"],
        "ig_reels_avg_watch_time": int(m["watch_time_s"] * 1000 / m["views"]) if m["views"] else 0,
        "ig_reels_video_view_total_time": m["watch_time_s"] * 1000,
    }[name]


def _metric_names(call: Call) -> list[str]:
    raw = call.param("metric")
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw or []) if n.strip()]
    if not names:
        raise fail(400, "(#100) The parameter metric is required", 100)
    return names


@meta.edge("ig_media", "GET", "insights")
async def media_insights(call: Call, token: Token, node: Node) -> Response:
    meta.require_scope(token, "instagram_business_manage_insights", "instagram_manage_insights")
    valid = {"REELS": REELS_METRICS, "STORY": STORY_METRICS}.get(node.data["product"], FEED_METRICS)
    names = _metric_names(call)
    for i, name in enumerate(names):
        if name not in valid:
            raise meta.invalid_metric(i, valid)
    post = call.st.find_post("instagram", node.id)
    if post is None or (node.data["product"] == "STORY" and call.now() - post.published_at > 86400):
        return json_response({"data": []})  # story insights vanish after 24 h
    m = insights.post_metrics(call.st, post)
    return json_response({"data": [{
        "name": name, "period": "lifetime", "values": [{"value": _metric_value(name, m)}],
        "title": name.replace("_", " ").capitalize(), "description": f"Lifetime {name.replace('_', ' ')}",
        "id": f"{node.id}/insights/{name}/lifetime"} for name in names]})


@meta.edge("ig_user", "GET", "insights")
async def user_insights(call: Call, token: Token, user: Node) -> Response:
    meta.require_scope(token, "instagram_business_manage_insights", "instagram_manage_insights")
    st = call.st
    names = _metric_names(call)
    for i, name in enumerate(names):
        if name not in ACCOUNT_METRICS:
            raise meta.invalid_metric(i, ACCOUNT_METRICS)
    now = call.now()
    until = float(call.param("until") or now)
    since = float(call.param("since") or until - 2 * 86400)
    posts = st.live_posts("instagram", user.id)

    def totals(at: float) -> dict:
        out = {k: 0 for k in ("views", "reach", "likes", "comments", "shares", "saves", "follows", "profile_visits",
                              "clicks", "watch_time_s")}
        for post in posts:
            for k, v in insights.post_metrics(st, post, now=min(at, now)).items():
                if k in out:
                    out[k] += v
        return out

    def value(name: str, start: float, end: float) -> int:
        if name == "follower_count":
            return max(0, insights.account_followers(st, "instagram", user.id, min(end, now))
                       - insights.account_followers(st, "instagram", user.id, min(start, now)))
        a, b = totals(start), totals(end)
        return max(0, _metric_value(name, {k: b[k] - a[k] for k in b}))

    data = []
    for name in names:
        item = {"name": name, "period": "day", "title": name.replace("_", " ").capitalize(),
                "description": f"Daily {name.replace('_', ' ')}", "id": f"{user.id}/insights/{name}/day"}
        if call.param("metric_type") == "total_value":
            item["total_value"] = {"value": value(name, since, until)}
        else:
            days = []
            start = since
            while start < until:
                end = min(start + 86400, until)
                days.append({"value": value(name, start, end), "end_time": meta.graph_time(end)})
                start = end
            item["values"] = days
        data.append(item)
    return json_response({"data": data})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    """Tokens for /_control/accounts: a long-lived Instagram Login token."""
    client = st.config.client("instagram")
    scopes = scopes or ["instagram_business_basic", "instagram_business_content_publish",
                        "instagram_business_manage_insights", "instagram_business_manage_comments"]
    token = oauth.mint(st, "instagram", account.id, client["client_id"], scopes, st.config.ig_long_token_s,
                       long_lived=True)
    return {"ig_user_id": account.id, "access_token": token.value, "expires_in": int(st.config.ig_long_token_s)}

"""Facebook Pages (Graph API) and Facebook Login.

OAuth: www.facebook.com/{ver}/dialog/oauth -> graph.facebook.com/{ver}/oauth/access_token
(short-lived user token) -> grant_type=fb_exchange_token (60 days) -> /me/accounts gives each
Page's token (no expiry when it comes from a long-lived user token). Each consenting user
gets one Page, linked to an Instagram professional account with the same handle, so the
Instagram API with Facebook Login works here too.
https://developers.facebook.com/docs/pages-api/posts
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from starlette.responses import Response

from sandbox import insights, media, meta, oauth
from sandbox.meta import Node, fail
from sandbox.state import Account, Post, State, Token, iso, stable_int
from sandbox.web import Call, RouteTable, json_response

routes = RouteTable("facebook")
SPEC = oauth.OAuthSpec("facebook", "Facebook", require_response_type=False)
server_error, rate_limited = meta.server_error, meta.rate_limited     # the Graph API's own 5xx and 429 answers

PAGE_METRICS = ["page_total_media_view_unique", "page_media_view", "page_post_engagements", "page_daily_follows",
                "page_daily_follows_unique", "page_daily_unfollows_unique", "page_follows", "page_views_total",
                "page_video_views", "page_total_actions"]
POST_METRICS = ["post_total_media_view_unique", "post_media_view", "post_reactions_by_type_total",
                "post_reactions_like_total", "post_clicks", "post_clicks_by_type", "post_activity_by_action_type"]
VIDEO_METRICS = ["total_video_impressions", "total_video_views", "total_video_reactions_by_type_total",
                 "fb_reels_total_plays", "post_video_likes_by_reaction_type", "post_video_social_actions",
                 "total_video_avg_time_watched", "total_video_complete_views"]


# ------------------------------------------------------------------ accounts
def _create_user(st: State, account: Account) -> None:
    """A Facebook user with one Page, linked to an Instagram professional account of the same handle."""
    page_id = str(stable_int(st.seed, "page", account.handle, digits=15))
    ig = oauth.ensure_account(st, "instagram", account.handle)
    ig.extra["page_id"] = page_id
    page = Account(platform="facebook", id=page_id, handle=f"{account.handle}.page", name=f"{account.name} Page",
                   created_at=account.created_at, extra={"kind": "page", "owner": account.id})
    st.accounts[("facebook", page_id)] = page
    account.extra.update(kind="user", pages=[page_id])
    meta.add_node(st, Node(id=account.id, type="fb_user", owner=account.id, created_at=account.created_at,
                           data={"name": account.name}))
    meta.add_node(st, Node(id=page_id, type="fb_page", owner=page_id, created_at=account.created_at,
                           data={"name": page.name, "ig_user_id": ig.id, "username": page.handle,
                                 "category": "Digital creator"}))
    st.meta.by_user[account.id] = [page_id]


oauth.ACCOUNT_HOOKS["facebook"] = _create_user


@routes.route("www.facebook.com", "/{version}/dialog/oauth", ("GET", "POST"))
@routes.route("www.facebook.com", "/dialog/oauth", ("GET", "POST"))
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


@meta.special("graph.facebook.com", "oauth/access_token")
async def access_token(call: Call) -> Response:
    st, p = call.st, call.params
    if not oauth.client_ok(st, "facebook", p.get("client_id"), check_secret=False):
        raise fail(400, "Error validating application. Invalid application ID.", 101)
    if not oauth.client_ok(st, "facebook", p.get("client_id"), p.get("client_secret")):
        raise fail(400, "Error validating client secret.", 1)
    if p.get("grant_type") == "fb_exchange_token":
        token, status = oauth.lookup(st, p.get("fb_exchange_token"), "facebook")
        if status != "ok":
            call.token = p.get("fb_exchange_token")
            meta.authenticate(call)
        ttl = call.cfg.fb_long_token_s
        new = oauth.mint(st, "facebook", token.account_id, token.client_id, token.scopes, ttl,
                         grant_id=token.grant_id, long_lived=True)
        return json_response({"access_token": new.value, "token_type": "bearer", "expires_in": int(ttl)})
    try:
        code = oauth.redeem_code(st, "facebook", p.get("code"), p.get("client_id"), p.get("redirect_uri"))
    except oauth.CodeError as exc:
        message, subcode = _CODE_ERRORS[exc.reason] if exc.reason in _CODE_ERRORS else _CODE_ERRORS["invalid"]
        raise fail(400, message, 100, subcode)
    ttl = call.cfg.fb_short_token_s
    token = oauth.mint(st, "facebook", code.account_id, code.client_id, code.scopes, ttl, long_lived=False)
    return json_response({"access_token": token.value, "token_type": "bearer", "expires_in": int(ttl)})


routes.route("graph.facebook.com", "/{path:path}", ("GET", "POST", "DELETE"))(meta.dispatch)


# ----------------------------------------------------------------- user edges
@meta.edge("fb_user", "GET")
async def get_user(call: Call, token: Token, node: Node) -> Response:
    return json_response(meta.select(call, node, {
        "name": lambda: node.data["name"], "email": lambda: None,
        "picture": lambda: {"data": {"url": f"{call.origin}/_media/sample.jpg?w=100&h=100"}},
    }, default=("name",)))


def page_token(call: Call, user_token: Token, page_id: str) -> Token:
    """The Page token for this grant: no expiry when the user token is long-lived."""
    st = call.st
    key = (user_token.grant_id, page_id)
    existing = st.tokens.get(st.meta.page_tokens.get(key, ""))
    if existing and existing.status(call.now()) == "ok":
        return existing
    ttl = None if user_token.extra.get("long_lived") else max(0.0, (user_token.expires_at or 0) - call.now())
    token = oauth.mint(st, "facebook", page_id, user_token.client_id, user_token.scopes, ttl, kind="page",
                       grant_id=user_token.grant_id)
    with st.lock:
        st.meta.page_tokens[key] = token.value
    return token


@meta.edge("fb_user", "GET", "accounts")
async def accounts(call: Call, token: Token, node: Node) -> Response:
    st = call.st
    pages = [st.meta.nodes[pid] for pid in st.meta.by_user.get(node.id, ())]
    data = [_page_fields(call, page, token, default=("access_token", "category", "name", "tasks")) for page in pages]
    return json_response(meta.paged(data, call, default_limit=25))


@meta.edge("fb_user", "GET", "permissions")
async def permissions(call: Call, token: Token, node: Node) -> Response:
    return json_response({"data": [{"permission": s, "status": "granted"} for s in token.scopes]})


# ----------------------------------------------------------------- page edges
def _page_fields(call: Call, page: Node, token: Token, default=("name",)) -> dict:
    st = call.st
    return meta.select(call, page, {
        "name": lambda: page.data["name"], "category": lambda: page.data["category"],
        "username": lambda: page.data["username"], "link": lambda: f"https://www.facebook.com/{page.id}",
        "access_token": lambda: page_token(call, token, page.id).value if token.kind == "access" else None,
        "tasks": lambda: ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
        "followers_count": lambda: insights.account_followers(st, "facebook", page.id),
        "fan_count": lambda: insights.account_followers(st, "facebook", page.id),
        "instagram_business_account": lambda: {"id": page.data["ig_user_id"]} if page.data.get("ig_user_id") else None,
        "picture": lambda: {"data": {"url": f"{call.origin}/_media/sample.jpg?w=200&h=200"}},
    }, default=default)


@meta.edge("fb_page", "GET")
async def get_page(call: Call, token: Token, page: Node) -> Response:
    return json_response(_page_fields(call, page, token))


def _require_page_token(token: Token, page: Node) -> None:
    if token.kind != "page" or token.account_id != page.id or "pages_manage_posts" not in token.scopes:
        raise fail(403, "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an "
                        "admin with sufficient administrative permission", 200)


def _record(call: Call, page: Node, post_id: str, text: str, urls: list, kind: str, video: bool = False,
            **extra) -> Post:
    now = call.now()
    url = f"https://www.facebook.com/{page.id}/posts/{post_id.split('_')[-1]}"
    meta.add_node(call, Node(id=post_id, type="fb_post", owner=page.id, created_at=now,
                             data={"message": text, "permalink_url": url, "kind": kind}))
    return call.st.add_post(Post(platform="facebook", account=page.id, external_id=post_id, text=text, media=urls,
                                 received_at=iso(time.time()), request_id=call.request_id, published_at=now, kind=kind,
                                 url=url, extra={"video": video, **extra}))


def _check_length(call: Call, name: str, text: str) -> None:
    """A Page post's text is at most fb_message_max (63,206) characters; longer is Graph's parameter error."""
    top = call.cfg.fb_message_max
    if len(text) > top:
        raise fail(400, f"(#100) Length of param {name} must be less than or equal to {top}", 100)


def _attached(call: Call) -> list[str]:
    raw = call.param("attached_media")
    items: list = []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise fail(400, "(#100) param attached_media must be an array of objects", 100) from None
    if isinstance(raw, list):
        items = raw
    for key, value in call.params.items():  # attached_media[0]={"media_fbid":"..."} form style
        if key.startswith("attached_media[") and isinstance(value, str):
            try:
                items.append(json.loads(value))
            except ValueError:
                raise fail(400, "(#100) param attached_media must be an array of objects", 100) from None
    return [str(i.get("media_fbid")) for i in items if isinstance(i, dict)]


@meta.edge("fb_page", "POST", "feed")
async def create_post(call: Call, token: Token, page: Node) -> Response:
    _require_page_token(token, page)
    st = call.st
    message = str(call.param("message") or "")
    _check_length(call, "message", message)
    link = call.param("link")
    photo_ids = _attached(call)
    photos = []
    for photo_id in photo_ids:
        photo = st.meta.nodes.get(photo_id)
        if photo is None or photo.type != "fb_photo" or photo.owner != page.id:
            raise fail(400, f"(#100) param attached_media[{len(photos)}] has an invalid media_fbid", 100)
        photos.append(photo)
    if not message and not link and not photos:
        raise fail(400, "(#100) Missing message or attachment", 100)
    if call.cfg.fb_reject_duplicates and message and not photos:
        for post in st.live_posts("facebook", page.id):
            if post.text == message and post.extra.get("link") == link:
                st.reject_duplicate("facebook", page.id, message, call.request_id)
                raise fail(400, "(#506) Duplicate status message", 506, user_title="Duplicate post",
                           user_msg="This status update is identical to the last one you posted.")
    post_id = f"{page.id}_{meta.new_id(st, 'post')}"
    published = meta.flag(call.param("published"), True)
    kind = "photos" if photos else ("link" if link else "status")
    urls = [p.data["url"] for p in photos] + ([link] if link else [])
    _record(call, page, post_id, message, urls, kind, link=link, published=published,
            scheduled_publish_time=call.param("scheduled_publish_time"))
    if call.param("fields"):           # read-after-write: the new post's fields come back with its id
        return json_response(_post_fields(call, st.meta.nodes[post_id]))
    return json_response({"id": post_id})


async def _source(call: Call, url_param: str, want: str) -> tuple[str, media.MediaInfo | None, bool]:
    """(url, info, ok) for a media URL parameter or a multipart `source` upload."""
    if "source" in call.files:
        info = media.probe(call.files["source"][2])
        return f"upload:{call.files['source'][0]}", info, info.kind == want
    url = call.param(url_param)
    fetched = await media.fetch(call.core.http, url, want)
    return url or "", fetched.info, fetched.ok


@meta.edge("fb_page", "POST", "photos")
async def create_photo(call: Call, token: Token, page: Node) -> Response:
    _require_page_token(token, page)
    caption_param = "caption" if call.param("caption") else "message"
    _check_length(call, caption_param, str(call.param(caption_param) or ""))
    url, info, ok = await _source(call, "url", "image")
    if not ok:
        raise fail(400, "(#324) Missing or invalid image file", 324)
    st = call.st
    photo_id = meta.new_id(st, "photo")
    caption = str(call.param("caption") or call.param("message") or "")
    published = meta.flag(call.param("published"), True)
    meta.add_node(call, Node(id=photo_id, type="fb_photo", owner=page.id, created_at=call.now(),
                             data={"url": url, "caption": caption, "published": published}))
    if not published:
        return json_response({"id": photo_id})
    post_id = f"{page.id}_{meta.new_id(st, 'post')}"
    _record(call, page, post_id, caption, [url], "photo", photo_id=photo_id)
    return json_response({"id": photo_id, "post_id": post_id})


@meta.edge("fb_page", "POST", "videos")
async def create_video(call: Call, token: Token, page: Node) -> Response:
    _require_page_token(token, page)
    _check_length(call, "description", str(call.param("description") or ""))
    url, info, ok = await _source(call, "file_url", "video")
    if not ok:
        raise fail(400, "There was a problem uploading your video file. Please try again with another file.", 6000,
                   user_title="Video upload failed")
    st = call.st
    video_id = meta.new_id(st, "video")
    description = str(call.param("description") or "")
    now = call.now()
    url_out = f"https://www.facebook.com/{page.id}/videos/{video_id}/"
    meta.add_node(call, Node(id=video_id, type="fb_video", owner=page.id, created_at=now, data={
        "url": url, "description": description, "title": call.param("title") or "", "permalink_url": url_out,
        "ready_at": now + call.cfg.ig_video_delay_s, "length": info.duration_s if info else 0.0}))
    st.add_post(Post(platform="facebook", account=page.id, external_id=video_id, text=description, media=[url],
                     received_at=iso(time.time()), request_id=call.request_id, published_at=now, kind="video",
                     url=url_out, extra={"video": True, "title": call.param("title") or ""}))
    return json_response({"id": video_id})


FB_COMMENT_MAX = 8000


@meta.edge("fb_post", "POST", "comments")
@meta.edge("fb_video", "POST", "comments")
async def create_comment(call: Call, token: Token, node: Node) -> Response:
    """A comment as the Page under its own post or video: a Page token with pages_manage_engagement."""
    if token.kind != "page" or token.account_id != node.owner or "pages_manage_engagement" not in token.scopes:
        raise fail(403, "(#200) Permissions error: commenting as the Page requires a Page access token with "
                        "pages_manage_engagement", 200)
    return meta.create_comment(call, token, node, platform="facebook", max_chars=FB_COMMENT_MAX)


@meta.edge("fb_post", "GET", "comments")
@meta.edge("fb_video", "GET", "comments")
async def list_comments(call: Call, token: Token, node: Node) -> Response:
    st = call.st

    def author(c) -> dict:
        who = st.meta.nodes.get(c.author)
        return {"id": c.author, "name": (who.data.get("name", "") if who else "")}
    return meta.list_comments(call, node, platform="facebook", fields={
        "message": lambda c: c.text, "created_time": lambda c: meta.graph_time(c.created_at), "from": author})


@meta.edge("fb_page", "GET", "feed")
@meta.edge("fb_page", "GET", "posts")
@meta.edge("fb_page", "GET", "published_posts")
async def list_posts(call: Call, token: Token, page: Node) -> Response:
    st = call.st
    posts = sorted(call.listed("facebook", st.live_posts("facebook", page.id)), key=lambda p: p.published_at,
                   reverse=True)
    nodes = [st.meta.nodes[p.external_id] for p in posts if st.meta.nodes[p.external_id].type == "fb_post"]
    out = meta.paged(nodes, call)
    out["data"] = [_post_fields(call, n) for n in out["data"]]
    return json_response(out)


def _post_fields(call: Call, node: Node) -> dict:
    return meta.select(call, node, {
        "message": lambda: node.data["message"] or None, "created_time": lambda: meta.graph_time(node.created_at),
        "permalink_url": lambda: node.data["permalink_url"], "is_published": lambda: True,
        "status_type": lambda: {"photo": "added_photos", "photos": "added_photos", "link": "shared_story"}
        .get(node.data["kind"], "mobile_status_update"),
    }, default=("created_time", "message"))


@meta.edge("fb_page", "GET", "videos")
async def list_videos(call: Call, token: Token, page: Node) -> Response:
    st = call.st
    posts = sorted(call.listed("facebook", st.live_posts("facebook", page.id)), key=lambda p: p.published_at,
                   reverse=True)
    nodes = [st.meta.nodes[p.external_id] for p in posts if st.meta.nodes[p.external_id].type == "fb_video"]
    out = meta.paged(nodes, call)
    out["data"] = [meta.select(call, n, {"description": lambda n=n: n.data["description"],
                                         "title": lambda n=n: n.data["title"],
                                         "created_time": lambda n=n: meta.graph_time(n.created_at),
                                         "permalink_url": lambda n=n: n.data["permalink_url"]},
                               default=("created_time", "description")) for n in out["data"]]
    return json_response(out)


@meta.edge("fb_post", "GET")
async def get_post(call: Call, token: Token, node: Node) -> Response:
    return json_response(_post_fields(call, node))


@meta.edge("fb_post", "DELETE")
async def delete_post(call: Call, token: Token, node: Node) -> Response:
    post = call.st.find_post("facebook", node.id)
    if post:
        post.deleted = True
    return json_response({"success": True})


@meta.edge("fb_photo", "GET")
async def get_photo(call: Call, token: Token, node: Node) -> Response:
    return json_response(meta.select(call, node, {
        "name": lambda: node.data["caption"] or None, "images": lambda: [{"source": node.data["url"]}],
        "created_time": lambda: meta.graph_time(node.created_at)}))


@meta.edge("fb_video", "GET")
async def get_video(call: Call, token: Token, node: Node) -> Response:
    ready = call.now() >= node.data["ready_at"]
    return json_response(meta.select(call, node, {
        "status": lambda: {"video_status": "ready" if ready else "processing",
                           "processing_progress": 100 if ready else 50},
        "description": lambda: node.data["description"], "title": lambda: node.data["title"],
        "permalink_url": lambda: node.data["permalink_url"], "length": lambda: node.data["length"],
        "created_time": lambda: meta.graph_time(node.created_at)}))


# ------------------------------------------------------------------ insights
def _names(call: Call, valid: list[str]) -> list[str]:
    raw = call.param("metric")
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw or []) if n.strip()]
    if not names or any(n not in valid for n in names):
        raise fail(400, "(#100) The value must be a valid insights metric", 100)
    return names


def _reactions(m: dict) -> dict:
    likes = m["likes"]
    return {"like": int(likes * 0.78), "love": int(likes * 0.14), "wow": int(likes * 0.03),
            "haha": int(likes * 0.03), "sorry": int(likes * 0.01), "anger": int(likes * 0.01)}


def _post_value(name: str, m: dict):
    clicks = m["clicks"]
    return {
        "post_total_media_view_unique": m["reach"], "post_media_view": m["views"],
        "post_reactions_by_type_total": _reactions(m), "post_reactions_like_total": int(m["likes"] * 0.78),
        "post_clicks": clicks, "post_clicks_by_type": {"link clicks": int(clicks * 0.6), "other clicks":
                                                       int(clicks * 0.3), "photo view": int(clicks * 0.1)},
        "post_activity_by_action_type": {"share": m["shares"], "like": m["likes"], "comment": m["comments"]},
        "total_video_impressions": m["views"], "total_video_views": m["video_views"],
        "total_video_reactions_by_type_total": _reactions(m), "fb_reels_total_plays": m["video_views"],
        "post_video_likes_by_reaction_type": _reactions(m),
        "post_video_social_actions": {"share": m["shares"], "comment": m["comments"]},
        "total_video_avg_time_watched": int(m["watch_time_s"] * 1000 / m["video_views"]) if m["video_views"] else 0,
        "total_video_complete_views": int(m["video_views"] * 0.3),
    }[name]


def _lifetime(call: Call, node: Node, names: list[str]) -> Response:
    post = call.st.find_post("facebook", node.id)
    if post is None:                      # deleted: Graph no longer knows the object (never a row of zeros)
        raise meta.unsupported(call, node.id)
    m = insights.post_metrics(call.st, post)
    data = [{"name": n, "period": "lifetime", "values": [{"value": _post_value(n, m)}],
             "title": n.replace("_", " ").title(), "description": f"Lifetime: {n.replace('_', ' ')}",
             "id": f"{node.id}/insights/{n}/lifetime"} for n in names]
    return json_response({"data": data})


@meta.edge("fb_post", "GET", "insights")
async def post_insights(call: Call, token: Token, node: Node) -> Response:
    return _lifetime(call, node, _names(call, POST_METRICS))


@meta.edge("fb_video", "GET", "video_insights")
async def video_insights(call: Call, token: Token, node: Node) -> Response:
    return _lifetime(call, node, _names(call, VIDEO_METRICS))


def _ts(value, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc).timestamp()


@meta.edge("fb_page", "GET", "insights")
async def page_insights(call: Call, token: Token, page: Node) -> Response:
    st = call.st
    names = _names(call, PAGE_METRICS)
    now = call.now()
    until = _ts(call.param("until"), now)
    since = _ts(call.param("since"), until - 2 * 86400)
    period = call.param("period") or "day"
    posts = st.live_posts("facebook", page.id)

    def totals(at: float) -> dict:
        out = {"views": 0, "reach": 0, "likes": 0, "comments": 0, "shares": 0, "clicks": 0, "video_views": 0}
        for post in posts:
            m = insights.post_metrics(st, post, now=min(at, now))
            for k in out:
                out[k] += m[k]
        return out

    def value(name: str, start: float, end: float):
        if name in ("page_follows",):
            return insights.account_followers(st, "facebook", page.id, min(end, now))
        if name.startswith("page_daily_"):
            gain = insights.account_followers(st, "facebook", page.id, min(end, now)) - \
                insights.account_followers(st, "facebook", page.id, min(start, now))
            return max(0, gain) if "unfollows" not in name else max(0, gain // 20)
        a, b = totals(start), totals(end)
        d = {k: b[k] - a[k] for k in b}
        return {"page_total_media_view_unique": d["reach"], "page_media_view": {"paid": 0, "organic": d["views"],
                                                                                "total": d["views"]},
                "page_post_engagements": d["likes"] + d["comments"] + d["shares"] + d["clicks"],
                "page_views_total": d["clicks"] + d["reach"] // 50, "page_video_views": d["video_views"],
                "page_total_actions": d["clicks"]}[name]

    data = []
    for name in names:
        if period == "day":
            values, start = [], since
            while start < until:
                end = min(start + 86400, until)
                values.append({"value": value(name, start, end), "end_time": meta.graph_time(end)})
                start = end
        else:
            values = [{"value": value(name, since, until), "end_time": meta.graph_time(until)}]
        data.append({"name": name, "period": period, "values": values, "title": name.replace("_", " ").title(),
                     "description": f"{period}: {name.replace('_', ' ')}", "id": f"{page.id}/insights/{name}/{period}"})
    return json_response({"data": data})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    """Tokens for /_control/accounts: a long-lived user token and its Page token."""
    client = st.config.client("facebook")
    scopes = scopes or ["pages_show_list", "pages_manage_posts", "pages_read_engagement", "pages_manage_engagement",
                        "read_insights",
                        "publish_video", "business_management", "instagram_basic", "instagram_content_publish",
                        "instagram_manage_insights"]
    user = oauth.mint(st, "facebook", account.id, client["client_id"], scopes, st.config.fb_long_token_s,
                      long_lived=True)
    page_id = account.extra["pages"][0]
    page = oauth.mint(st, "facebook", page_id, client["client_id"], scopes, None, kind="page", grant_id=user.grant_id)
    with st.lock:
        st.meta.page_tokens[(user.grant_id, page_id)] = page.value
    return {"user_id": account.id, "access_token": user.value, "expires_in": int(st.config.fb_long_token_s),
            "page_id": page_id, "page_access_token": page.value,
            "ig_user_id": st.meta.nodes[page_id].data["ig_user_id"]}

"""TikTok Content Posting API v2 (open.tiktokapis.com) and Login Kit OAuth.

Every answer is {"data": {...}, "error": {"code": "ok", "message": "", "log_id": ...}}.
A publish goes PROCESSING_UPLOAD (FILE_UPLOAD, chunks PUT to upload_url with Content-Range)
or PROCESSING_DOWNLOAD (PULL_FROM_URL) -> PUBLISH_COMPLETE (publicaly_available_post_id a
little later, after "moderation") | SEND_TO_USER_INBOX (drafts) | FAILED with fail_reason.
Each token may call each init endpoint 6 times a minute.
https://developers.tiktok.com/doc/content-posting-api-reference-direct-post
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timezone

from starlette.responses import Response

from sandbox import insights, media, oauth
from sandbox.state import Account, Post, State, Token, iso, stable_str
from sandbox.web import Call, Reply, RouteTable, empty_response, json_response

routes = RouteTable("tiktok")
SPEC = oauth.OAuthSpec("tiktok", "TikTok", client_param="client_key")
API, UPLOAD = "open.tiktokapis.com", "open-upload.tiktokapis.com"
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_FINAL_CHUNK = 5 * MB, 64 * MB, 128 * MB
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
INIT_KEYS = ("video_init", "inbox_init", "content_init")


def log_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def envelope(data: dict | None = None, code: str = "ok", message: str = "", status: int = 200) -> Response:
    return json_response({"data": data if data is not None else {},
                          "error": {"code": code, "message": message, "log_id": log_id()}}, status)


def fail(status: int, code: str, message: str) -> Reply:
    return Reply(envelope({}, code, message, status))


def server_error(status: int = 500) -> Response:
    return envelope({}, "internal_error", "Something went wrong. Please try again later.", status)


def rate_limited() -> Response:
    return envelope({}, "rate_limit_exceeded", "The API rate limit was exceeded. Please try again later.", 429)


def not_found(call: Call) -> Response:
    return envelope({}, "invalid_params", "The requested path does not exist.", 404)


# -------------------------------------------------------------------- oauth
def _create_user(st: State, account: Account) -> None:
    account.extra["open_id"] = "-000" + stable_str("tt-open", st.seed, account.handle, length=40)
    account.extra["union_id"] = stable_str("tt-union", st.seed, account.handle, length=40)
    st.accounts[("tiktok", account.extra["open_id"])] = account


oauth.ACCOUNT_HOOKS["tiktok"] = _create_user


@routes.route("www.tiktok.com", "/v2/auth/authorize/", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


def _oauth_error(error_code: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error_code, "error_description": description, "log_id": log_id()}, status)


def _tokens(call: Call, account: Account, client_id: str, scopes, grant_id: str | None = None) -> dict:
    cfg = call.cfg
    access = oauth.mint(call.st, "tiktok", account.id, client_id, scopes, cfg.tt_access_s, grant_id=grant_id)
    refresh = oauth.mint(call.st, "tiktok", account.id, client_id, scopes, cfg.tt_refresh_s, kind="refresh",
                         grant_id=access.grant_id)
    return {"access_token": access.value, "expires_in": int(cfg.tt_access_s), "open_id": account.extra["open_id"],
            "refresh_expires_in": int(cfg.tt_refresh_s), "refresh_token": refresh.value,
            "scope": ",".join(scopes), "token_type": "Bearer"}


@routes.post(API, "/v2/oauth/token/")
async def token(call: Call) -> Response:
    st, p = call.st, call.params
    if not oauth.client_ok(st, "tiktok", p.get("client_key"), p.get("client_secret")):
        return _oauth_error("invalid_client", "Client key or secret is incorrect.", 401)
    grant = p.get("grant_type")
    if grant == "authorization_code":
        try:
            code = oauth.redeem_code(st, "tiktok", p.get("code"), p.get("client_key"), p.get("redirect_uri"),
                                     p.get("code_verifier"))
        except oauth.CodeError as exc:
            description = {"expired": "Authorization code is expired.", "used": "Authorization code has been used.",
                           "redirect_mismatch": "Redirect URI mismatch."}.get(exc.reason, "Authorization code is "
                                                                                          "invalid.")
            return _oauth_error("invalid_grant", description)
        return json_response(_tokens(call, st.account("tiktok", code.account_id), code.client_id, code.scopes))
    if grant == "refresh_token":
        refresh, status = oauth.lookup(st, p.get("refresh_token"), "tiktok", ("refresh",))
        if status != "ok" or refresh.client_id != p.get("client_key"):
            return _oauth_error("invalid_grant", "Refresh token is invalid or expired.")
        with st.lock:
            refresh.revoked = True   # rotated: the old refresh token stops working
        return json_response(_tokens(call, st.account("tiktok", refresh.account_id), refresh.client_id,
                                     refresh.scopes, grant_id=refresh.grant_id))
    return _oauth_error("invalid_request", "grant_type is not supported.")


@routes.post(API, "/v2/oauth/revoke/")
async def revoke(call: Call) -> Response:
    p = call.params
    if not oauth.client_ok(call.st, "tiktok", p.get("client_key"), p.get("client_secret")):
        return _oauth_error("invalid_client", "Client key or secret is incorrect.", 401)
    tok = call.st.tokens.get(p.get("token") or "")
    if tok is not None and tok.platform == "tiktok":
        oauth.revoke_grant(call.st, tok.grant_id)
    return json_response({})


# ------------------------------------------------------------- auth, limits
def _auth(call: Call, *scopes: str) -> tuple[Token, Account]:
    tok, status = oauth.lookup(call.st, call.token, "tiktok")
    if status != "ok":
        raise fail(401, "access_token_invalid", "The access token is invalid or not found in the request.")
    if scopes and not any(s in tok.scopes for s in scopes):
        raise fail(401, "scope_not_authorized", "The user did not authorize the scope required for completing this "
                                                "request.")
    return tok, call.st.account("tiktok", tok.account_id)


def _throttle(call: Call, tok: Token, key: str, per_minute: int) -> None:
    now = call.now()
    with call.st.lock:
        calls = call.st.tt.calls[(tok.value, key)]
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= per_minute:
            raise Reply(rate_limited())
        calls.append(now)


def _json_body(call: Call) -> dict:
    if not isinstance(call.json, dict):
        raise fail(400, "invalid_params", "The request body must be a JSON object.")
    return call.json


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ----------------------------------------------------------------- creator
@routes.post(API, "/v2/post/publish/creator_info/query/")
async def creator_info(call: Call) -> Response:
    tok, account = _auth(call, "video.publish", "video.upload")
    return envelope({"creator_avatar_url": f"{call.origin}/_media/sample.jpg?w=100&h=100",
                     "creator_username": account.handle, "creator_nickname": account.name,
                     "privacy_level_options": list(call.cfg.tt_privacy_options), "comment_disabled": False,
                     "duet_disabled": False, "stitch_disabled": False,
                     "max_video_post_duration_sec": call.cfg.tt_max_duration_s})


def _check_post_info(call: Call, info: dict, photo: bool) -> None:
    cfg = call.cfg
    title = str(info.get("title") or "")
    top = cfg.tt_photo_title_max if photo else cfg.tt_video_title_max
    if _utf16_len(title) > top:
        raise fail(400, "invalid_params", f"post_info.title is longer than {top} characters.")
    if photo and _utf16_len(str(info.get("description") or "")) > cfg.tt_photo_description_max:
        raise fail(400, "invalid_params",
                   f"post_info.description is longer than {cfg.tt_photo_description_max} characters.")
    privacy = info.get("privacy_level")
    if privacy not in cfg.tt_privacy_options:
        raise fail(400, "privacy_level_option_mismatch", "privacy_level is not one of the privacy_level_options "
                                                         "returned by creator_info.")
    if cfg.tt_unaudited and privacy != "SELF_ONLY":
        raise fail(403, "unaudited_client_can_only_post_to_private_accounts",
                   "Unaudited clients can only post with privacy_level SELF_ONLY.")


def _check_daily_cap(call: Call, account: Account) -> None:
    day = call.st.clock.dt().date().isoformat()
    if call.st.tt.daily[(account.id, day)] >= call.cfg.tt_daily_posts:
        raise fail(403, "spam_risk_too_many_posts", "The user has reached the daily post cap.")


def _new_publish(call: Call, account: Account, **fields) -> dict:
    st = call.st
    kind = fields.get("kind", "video")
    prefix = "p_pub_url" if kind == "photo" else ("v_pub_url" if fields["source"] == "PULL_FROM_URL" else "v_pub_file")
    publish_id = f"{prefix}~v2-1.{7_300_000_000_000_000_000 + st.seed * 1_000_000_000 + st.next('tt-publish')}"
    item = {"id": publish_id, "account": account.id, "created_at": call.now(), "received": 0, "fail_reason": "",
            "committed_at": None, "video_id": None, "downloaded": 0, "request_id": call.request_id, **fields}
    with st.lock:
        st.tt.publishes[publish_id] = item
        st.tt.daily[(account.id, st.clock.dt().date().isoformat())] += 1
    return item


async def _video_init(call: Call, key: str, scope: str, inbox: bool) -> Response:
    tok, account = _auth(call, scope)
    _throttle(call, tok, key, call.cfg.tt_init_per_min)
    body = _json_body(call)
    post_info = body.get("post_info") or {}
    if not inbox:
        _check_post_info(call, post_info, photo=False)
    _check_daily_cap(call, account)
    source = body.get("source_info") or {}
    kind = source.get("source")
    if kind == "FILE_UPLOAD":
        size, chunk, count = source.get("video_size"), source.get("chunk_size"), source.get("total_chunk_count")
        if not all(isinstance(v, int) and v > 0 for v in (size, chunk, count)):
            raise fail(400, "invalid_params", "video_size, chunk_size and total_chunk_count must be positive "
                                              "integers.")
        if size < MIN_CHUNK:
            if chunk != size or count != 1:
                raise fail(400, "invalid_params", "A video under 5 MB must be uploaded as one chunk of video_size "
                                                  "bytes.")
        else:
            if not MIN_CHUNK <= chunk <= MAX_CHUNK:
                raise fail(400, "invalid_params", "chunk_size must be between 5 MB and 64 MB.")
            if count != size // chunk or not 1 <= count <= 1000:
                raise fail(400, "invalid_params", "total_chunk_count must equal floor(video_size / chunk_size) and "
                                                  "be between 1 and 1000.")
            if size - chunk * (count - 1) > MAX_FINAL_CHUNK or (size > MAX_CHUNK and count < 2):
                raise fail(400, "invalid_params", "Videos over 64 MB must be chunked; the final chunk may be at "
                                                  "most 128 MB.")
        item = _new_publish(call, account, kind="video", source=kind, inbox=inbox, post_info=post_info,
                            video_size=size, chunk_size=chunk, total_chunks=count, next_chunk=0, head=b"")
        upload_id = secrets.token_urlsafe(10)
        with call.st.lock:
            call.st.tt.uploads[upload_id] = item["id"]
        url = call.url(UPLOAD, f"/video/?upload_id={upload_id}&upload_token={secrets.token_urlsafe(12)}")
        return envelope({"publish_id": item["id"], "upload_url": url})
    if kind == "PULL_FROM_URL":
        url = source.get("video_url")
        _check_verified(call, url)
        item = _new_publish(call, account, kind="video", source=kind, inbox=inbox, post_info=post_info, urls=[url])
        call.core.spawn(_pull(call, item, "video"))
        return envelope({"publish_id": item["id"]})
    raise fail(400, "invalid_params", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")


def _check_verified(call: Call, url) -> None:
    prefixes = call.cfg.tt_verified_url_prefixes
    if not url or not str(url).startswith(("http://", "https://")):
        raise fail(400, "invalid_params", "The media URL is missing or invalid.")
    if prefixes is not None and not media.is_loopback(url) and not any(str(url).startswith(p) for p in prefixes):
        raise fail(403, "url_ownership_unverified", "The domain or URL prefix of the media URL is not verified for "
                                                    "this app.")


@routes.post(API, "/v2/post/publish/video/init/")
async def video_init(call: Call) -> Response:
    return await _video_init(call, "video_init", "video.publish", inbox=False)


@routes.post(API, "/v2/post/publish/inbox/video/init/")
async def inbox_video_init(call: Call) -> Response:
    return await _video_init(call, "inbox_init", "video.upload", inbox=True)


@routes.post(API, "/v2/post/publish/content/init/")
async def content_init(call: Call) -> Response:
    body = _json_body(call)
    mode = body.get("post_mode") or "DIRECT_POST"
    tok, account = _auth(call, "video.publish" if mode == "DIRECT_POST" else "video.upload")
    _throttle(call, tok, "content_init", call.cfg.tt_init_per_min)
    if body.get("media_type") != "PHOTO":
        raise fail(400, "invalid_params", "media_type must be PHOTO.")
    if mode not in ("DIRECT_POST", "MEDIA_UPLOAD"):
        raise fail(400, "invalid_params", "post_mode must be DIRECT_POST or MEDIA_UPLOAD.")
    post_info = body.get("post_info") or {}
    if mode == "DIRECT_POST":
        _check_post_info(call, post_info, photo=True)
    source = body.get("source_info") or {}
    images = source.get("photo_images") or []
    if source.get("source") != "PULL_FROM_URL":
        raise fail(400, "invalid_params", "Photo posts support only source PULL_FROM_URL.")
    if not 1 <= len(images) <= call.cfg.tt_photo_images_max:
        raise fail(400, "invalid_params", f"photo_images must have 1 to {call.cfg.tt_photo_images_max} URLs.")
    cover = source.get("photo_cover_index", 0)
    if not isinstance(cover, int) or not 0 <= cover < len(images):
        raise fail(400, "invalid_params", "photo_cover_index is out of range.")
    for url in images:
        _check_verified(call, url)
    _check_daily_cap(call, account)
    item = _new_publish(call, account, kind="photo", source="PULL_FROM_URL", inbox=mode == "MEDIA_UPLOAD",
                        post_info=post_info, urls=list(images))
    call.core.spawn(_pull(call, item, "image"))
    return envelope({"publish_id": item["id"]})


async def _pull(call: Call, item: dict, want: str) -> None:
    """PULL_FROM_URL: fetch each URL (local ones for real); commit or fail the publish."""
    infos = []
    for url in item["urls"]:
        fetched = await media.fetch(call.core.http, url, want)
        if not fetched.ok:
            with call.st.lock:
                item["fail_reason"] = "photo_pull_failed" if want == "image" else "video_pull_failed"
            return
        infos.append(fetched.info)
    reason = ""
    if want == "image" and any(i.fetched and i.fmt not in ("jpeg", "webp") for i in infos):
        reason = "file_format_check_failed"      # photo posts take JPEG or WEBP only
    elif want == "video" and infos[0].fetched:
        reason = _video_problem(call, infos[0])
    with call.st.lock:
        item["downloaded"] = sum(i.size for i in infos)
        if reason:
            item["fail_reason"] = reason
            return
    _commit(call, item, video=want == "video")


def _video_problem(call: Call, info: media.MediaInfo) -> str:
    if info.kind != "video":
        return "file_format_check_failed"
    if info.duration_s and (info.duration_s < 3 or info.duration_s > call.cfg.tt_max_duration_s):
        return "duration_check_failed"
    if info.width and (min(info.width, info.height) < 360 or max(info.width, info.height) > 4096):
        return "picture_size_check_failed"
    return ""


def _commit(call: Call, item: dict, video: bool) -> None:
    """The point of no return: the post will exist (PUBLISH_COMPLETE or the inbox draft)."""
    st = call.st
    now = call.now()
    with st.lock:
        if st.tt.publishes.get(item["id"]) is not item:
            return    # the state was reset while this publish was still pulling its media
        item["committed_at"] = now
        item["video_id"] = str(7_300_000_000_000_000_000 + st.seed * 1_000_000_000 + st.next("tt-video"))
    if item["inbox"]:
        return
    info = item["post_info"]
    text = str(info.get("title") or "") if video else str(info.get("description") or info.get("title") or "")
    account = st.account("tiktok", item["account"])
    st.add_post(Post(platform="tiktok", account=account.extra["open_id"], external_id=item["video_id"], text=text,
                     media=list(item.get("urls") or []), received_at=iso(time.time()),
                     request_id=item["request_id"], published_at=now + call.cfg.tt_process_delay_s,
                     kind="video" if video else "photo",
                     url=f"https://www.tiktok.com/@{account.handle}/{'video' if video else 'photo'}/{item['video_id']}",
                     extra={"publish_id": item["id"], "privacy_level": info.get("privacy_level"), "video": video,
                            "title": info.get("title") or ""}))


_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@routes.put(UPLOAD, "/video/")
async def upload_chunk(call: Call) -> Response:
    st = call.st
    publish_id = st.tt.uploads.get(call.query.get("upload_id") or "")
    item = st.tt.publishes.get(publish_id or "")
    if item is None:
        return envelope({}, "invalid_params", "The upload_url is invalid or has expired.", 404)
    ctype = (call.header("content-type") or "").split(";")[0].strip().lower()
    if ctype not in VIDEO_TYPES:
        return envelope({}, "invalid_params", "Content-Type must be video/mp4, video/quicktime or video/webm.", 400)
    match = _RANGE.fullmatch((call.header("content-range") or "").strip())
    if not match:
        return envelope({}, "invalid_params", "Content-Range must be 'bytes {first}-{last}/{total}'.", 400)
    first, last, total = (int(g) for g in match.groups())
    index = item["next_chunk"]
    final = index == item["total_chunks"] - 1
    expected_len = item["video_size"] - first if final else item["chunk_size"]
    if total != item["video_size"] or first != item["received"] or last - first + 1 != len(call.body) or \
            len(call.body) != expected_len or index >= item["total_chunks"]:
        return envelope({}, "invalid_params", f"Chunk {index} must be bytes {item['received']}-"
                                              f"{item['received'] + expected_len - 1}/{item['video_size']}.", 400)
    with st.lock:
        if index == 0:
            item["head"] = bytes(call.body[:65536])
        item["received"] += len(call.body)
        item["next_chunk"] += 1
    if not final:
        return empty_response(206)
    reason = _video_problem(call, media.probe(item["head"]))
    if reason:
        with st.lock:
            item["fail_reason"] = reason
    else:
        _commit(call, item, video=True)
    return empty_response(201)


# ------------------------------------------------------------------- status
def _status(call: Call, item: dict) -> dict:
    now = call.now()
    data = {"fail_reason": item["fail_reason"], "publicaly_available_post_id": [],
            "uploaded_bytes": item["received"], "downloaded_bytes": item["downloaded"]}
    if item["fail_reason"]:
        data["status"] = "FAILED"
    elif item["committed_at"] is None:
        data["status"] = "PROCESSING_UPLOAD" if item["source"] == "FILE_UPLOAD" else "PROCESSING_DOWNLOAD"
    elif now < item["committed_at"] + call.cfg.tt_process_delay_s:
        data["status"] = "PROCESSING_UPLOAD" if item["source"] == "FILE_UPLOAD" else "PROCESSING_DOWNLOAD"
    elif item["inbox"]:
        data["status"] = "SEND_TO_USER_INBOX"
    else:
        data["status"] = "PUBLISH_COMPLETE"
        public = item["post_info"].get("privacy_level") != "SELF_ONLY"
        if public and now >= item["committed_at"] + call.cfg.tt_process_delay_s + call.cfg.tt_post_id_delay_s:
            data["publicaly_available_post_id"] = [int(item["video_id"])]
    return data


@routes.post(API, "/v2/post/publish/status/fetch/")
async def status_fetch(call: Call) -> Response:
    tok, account = _auth(call, "video.publish", "video.upload")
    _throttle(call, tok, "status_fetch", call.cfg.tt_status_per_min)
    item = call.st.tt.publishes.get(str(_json_body(call).get("publish_id") or ""))
    if item is None or item["account"] != account.id:
        raise fail(400, "invalid_params", "publish_id is invalid.")
    return envelope(_status(call, item))


# --------------------------------------------------------------- analytics
def _video_json(call: Call, post: Post, fields: list[str]) -> dict:
    m = insights.post_metrics(call.st, post)
    values = {"id": post.external_id, "title": post.extra.get("title", post.text), "video_description": post.text,
              "create_time": int(post.published_at), "cover_image_url": f"{call.origin}/_media/sample.jpg?w=540&h=960",
              "share_url": post.url, "embed_link": post.url.replace("/video/", "/embed/v2/"), "duration": 5,
              "height": 1920, "width": 1080, "view_count": m["views"], "like_count": m["likes"],
              "comment_count": m["comments"], "share_count": m["shares"]}
    return {f: values[f] for f in fields if f in values}


def _query_fields(call: Call) -> list[str]:
    fields = [f.strip() for f in (call.query.get("fields") or "").split(",") if f.strip()]
    if not fields:
        raise fail(400, "invalid_params", "The fields parameter is required.")
    return fields


def _visible(call: Call, account: Account) -> list[Post]:
    now = call.now()
    return [p for p in call.st.live_posts("tiktok", account.extra["open_id"]) if p.published_at <= now]


@routes.post(API, "/v2/video/query/")
async def video_query(call: Call) -> Response:
    tok, account = _auth(call, "video.list")
    fields = _query_fields(call)
    ids = ((_json_body(call).get("filters") or {}).get("video_ids")) or []
    if not 1 <= len(ids) <= 20:
        raise fail(400, "invalid_params", "filters.video_ids must have 1 to 20 ids.")
    by_id = {p.external_id: p for p in _visible(call, account)}
    videos = [_video_json(call, by_id[str(i)], fields) for i in ids if str(i) in by_id]
    return envelope({"videos": videos, "cursor": 0, "has_more": False})


@routes.post(API, "/v2/video/list/")
async def video_list(call: Call) -> Response:
    tok, account = _auth(call, "video.list")
    fields = _query_fields(call)
    body = call.json if isinstance(call.json, dict) else {}
    max_count = body.get("max_count", 10)
    if not isinstance(max_count, int) or not 1 <= max_count <= 20:
        raise fail(400, "invalid_params", "max_count must be between 1 and 20.")
    posts = sorted(call.listed("tiktok", _visible(call, account)), key=lambda p: p.published_at, reverse=True)
    cursor = body.get("cursor")
    if cursor:
        posts = [p for p in posts if int(p.published_at * 1000) < int(cursor)]
    chunk = posts[:max_count]
    return envelope({"videos": [_video_json(call, p, fields) for p in chunk],
                     "cursor": int(chunk[-1].published_at * 1000) if chunk else 0,
                     "has_more": len(posts) > max_count})


STATS_FIELDS = {"follower_count", "following_count", "likes_count", "video_count"}


@routes.get(API, "/v2/user/info/")
async def user_info(call: Call) -> Response:
    tok, account = _auth(call, "user.info.basic")
    fields = _query_fields(call)
    if STATS_FIELDS & set(fields) and "user.info.stats" not in tok.scopes:
        raise fail(401, "scope_not_authorized", "The user did not authorize the scope required for completing this "
                                                "request.")
    st = call.st
    posts = _visible(call, account)
    values = {"open_id": account.extra["open_id"], "union_id": account.extra["union_id"],
              "avatar_url": f"{call.origin}/_media/sample.jpg?w=100&h=100", "display_name": account.name,
              "username": account.handle, "bio_description": "Sandbox account", "is_verified": False,
              "profile_deep_link": f"https://www.tiktok.com/@{account.handle}",
              "follower_count": insights.account_followers(st, "tiktok", account.extra["open_id"]),
              "following_count": insights.following(st.seed, "tiktok", account.id),
              "likes_count": sum(insights.post_metrics(st, p)["likes"] for p in posts), "video_count": len(posts)}
    return envelope({"user": {f: values[f] for f in fields if f in values}})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    client = st.config.client("tiktok")
    scopes = scopes or ["user.info.basic", "user.info.profile", "user.info.stats", "video.publish", "video.upload",
                        "video.list"]
    access = oauth.mint(st, "tiktok", account.id, client["client_id"], scopes, st.config.tt_access_s)
    refresh = oauth.mint(st, "tiktok", account.id, client["client_id"], scopes, st.config.tt_refresh_s,
                         kind="refresh", grant_id=access.grant_id)
    return {"open_id": account.extra["open_id"], "access_token": access.value, "expires_in": int(st.config.tt_access_s),
            "refresh_token": refresh.value, "refresh_expires_in": int(st.config.tt_refresh_s)}

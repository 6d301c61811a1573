"""YouTube Data API v3 (resumable videos.insert, videos/channels/playlistItems.list), YouTube
Analytics v2 reports, and Google OAuth 2.

Resumable upload: POST /upload/youtube/v3/videos?uploadType=resumable starts a session
(200, session URL in `Location`); PUT chunks with Content-Range get 308 + `Range: bytes=0-N`
until the last one, which gets 200 and the video resource; `Content-Range: bytes */N` asks
where the upload stands. Quota is counted in units per project (client id) per Pacific day,
in either of the two documented models (see SandboxConfig.yt_quota_model).
https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from starlette.responses import Response

from sandbox import insights, media, oauth
from sandbox.state import Account, Post, State, Token, iso, stable_str
from sandbox.web import Call, Reply, RouteTable, empty_response, json_response

routes = RouteTable("youtube")
SPEC = oauth.OAuthSpec("youtube", "Google", scope_sep=" ")
API, TOKEN_HOST, ANALYTICS = "www.googleapis.com", "oauth2.googleapis.com", "youtubeanalytics.googleapis.com"
PACIFIC = ZoneInfo("America/Los_Angeles")
SCOPE = "https://www.googleapis.com/auth/"
UPLOAD_SCOPES = (SCOPE + "youtube.upload", SCOPE + "youtube", SCOPE + "youtube.force-ssl")
READ_SCOPES = UPLOAD_SCOPES + (SCOPE + "youtube.readonly",)
ANALYTICS_SCOPES = (SCOPE + "yt-analytics.readonly", SCOPE + "yt-analytics-monetary.readonly")
METRICS = {"views": "INTEGER", "estimatedMinutesWatched": "INTEGER", "averageViewDuration": "INTEGER",
           "averageViewPercentage": "FLOAT", "likes": "INTEGER", "dislikes": "INTEGER", "comments": "INTEGER",
           "shares": "INTEGER", "subscribersGained": "INTEGER", "subscribersLost": "INTEGER"}
QUOTA_MESSAGE = ('The request cannot be completed because you have exceeded your '
                 '<a href="/youtube/v3/getting-started#quota">quota</a>.')


def google_error(status: int, message: str, reason: str, domain: str = "global", status_text: str | None = None,
                 error_message: str | None = None, **extra) -> Response:
    """Google's error body: {"error": {code, message, errors: [{message, domain, reason}], status?}}."""
    err = {"message": error_message or message, "domain": domain, "reason": reason, **extra}
    body: dict = {"code": status, "message": message, "errors": [err]}
    if status_text:
        body["status"] = status_text
    return json_response({"error": body}, status)


def fail(status: int, message: str, reason: str, **kw) -> Reply:
    return Reply(google_error(status, message, reason, **kw))


def server_error(status: int = 503) -> Response:
    return google_error(status, "Backend Error", "backendError")


def rate_limited() -> Response:
    return google_error(429, "The request cannot be completed because you have exceeded the rate limit.",
                        "rateLimitExceeded", domain="youtube.quota", status_text="RESOURCE_EXHAUSTED")


def not_found(call: Call) -> Response:
    return google_error(404, "Not Found", "notFound")


def _unauthorized() -> Reply:
    response = google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                 "login cookie or other valid authentication credential. See "
                                 "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                            "authError", status_text="UNAUTHENTICATED", error_message="Invalid Credentials",
                            location="Authorization", locationType="header")
    response.headers["www-authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    return Reply(response)


# -------------------------------------------------------------------- oauth
def _create_channel(st: State, account: Account) -> None:
    account.extra["channel_id"] = "UC" + stable_str("yt-channel", st.seed, account.handle, length=22)
    st.accounts[("youtube", account.extra["channel_id"])] = account


oauth.ACCOUNT_HOOKS["youtube"] = _create_channel


@routes.route("accounts.google.com", "/o/oauth2/v2/auth", ("GET", "POST"))
@routes.route("accounts.google.com", "/o/oauth2/auth", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


def _oauth_error(error_code: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error_code, "error_description": description}, status)


@routes.post(TOKEN_HOST, "/token")
async def token(call: Call) -> Response:
    st, cfg, p = call.st, call.cfg, call.params
    client_id, secret = p.get("client_id"), p.get("client_secret")
    basic = oauth.basic_auth(call)
    if basic:
        client_id, secret = basic
    if not oauth.client_ok(st, "youtube", client_id, check_secret=False):
        return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
    if not oauth.client_ok(st, "youtube", client_id, secret):
        return _oauth_error("invalid_client", "Unauthorized", 401)
    grant = p.get("grant_type")
    if grant == "authorization_code":
        try:
            code = oauth.redeem_code(st, "youtube", p.get("code"), client_id, p.get("redirect_uri"),
                                     p.get("code_verifier"))
        except oauth.CodeError as exc:
            if exc.reason == "redirect_mismatch":
                return _oauth_error("redirect_uri_mismatch", "Bad Request")
            return _oauth_error("invalid_grant", "Bad Request" if exc.reason != "pkce" else "Invalid code verifier.")
        access = oauth.mint(st, "youtube", code.account_id, client_id, code.scopes, cfg.yt_access_s)
        body = {"access_token": access.value, "expires_in": int(cfg.yt_access_s), "scope": " ".join(code.scopes),
                "token_type": "Bearer"}
        # A refresh token comes only with access_type=offline, and again later only with prompt=consent.
        first = (client_id, code.account_id) not in st.yt.refresh_issued
        if code.extra.get("access_type") == "offline" and (first or "consent" in code.extra.get("prompt", "")):
            ttl = 7 * 86400 if cfg.yt_testing_mode else None
            refresh = oauth.mint(st, "youtube", code.account_id, client_id, code.scopes, ttl, kind="refresh",
                                 grant_id=access.grant_id)
            with st.lock:
                st.yt.refresh_issued.add((client_id, code.account_id))
            body["refresh_token"] = refresh.value
            body["refresh_token_expires_in"] = int(ttl) if ttl else None
            if ttl is None:
                del body["refresh_token_expires_in"]
        return json_response(body)
    if grant == "refresh_token":
        refresh, status = oauth.lookup(st, p.get("refresh_token"), "youtube", ("refresh",))
        if status != "ok" or refresh.client_id != client_id:
            return _oauth_error("invalid_grant", "Token has been expired or revoked.")
        access = oauth.mint(st, "youtube", refresh.account_id, client_id, refresh.scopes, cfg.yt_access_s,
                            grant_id=refresh.grant_id)
        return json_response({"access_token": access.value, "expires_in": int(cfg.yt_access_s),
                              "scope": " ".join(refresh.scopes), "token_type": "Bearer"})
    return _oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(grant))


@routes.post(TOKEN_HOST, "/revoke")
async def revoke(call: Call) -> Response:
    tok = call.st.tokens.get(call.param("token") or "")
    if tok is None or tok.platform != "youtube" or tok.status(call.now()) != "ok":
        return _oauth_error("invalid_token", "Token expired or revoked")
    oauth.revoke_grant(call.st, tok.grant_id)   # Google revokes the whole grant, refresh token included
    return json_response({})


# ------------------------------------------------------------- auth, quota
def _auth(call: Call, scopes: tuple[str, ...]) -> tuple[Token, Account]:
    tok, status = oauth.lookup(call.st, call.token, "youtube")
    if status != "ok":
        raise _unauthorized()
    if not any(s in tok.scopes for s in scopes):
        raise fail(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                   status_text="PERMISSION_DENIED")
    return tok, call.st.account("youtube", tok.account_id)


def pacific_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, PACIFIC).date()


def _charge(call: Call, tok: Token, units: int, insert: bool = False) -> None:
    """Charge the project's daily quota (resets at midnight Pacific); 403 quotaExceeded when it is spent."""
    st, cfg = call.st, call.cfg
    key = (tok.client_id, pacific_day(call.now()).isoformat())
    with st.lock:
        if insert and cfg.yt_quota_model == "buckets":
            if st.yt.inserts[key] >= cfg.yt_daily_inserts:
                raise fail(403, QUOTA_MESSAGE, "quotaExceeded", domain="youtube.quota")
            st.yt.inserts[key] += 1
            return
        cost = cfg.yt_insert_cost if insert else units
        if st.yt.units[key] + cost > cfg.yt_daily_units:
            st.yt.units[key] = min(cfg.yt_daily_units, st.yt.units[key] + 1)   # a refused call still costs a unit
            raise fail(403, QUOTA_MESSAGE, "quotaExceeded", domain="youtube.quota")
        st.yt.units[key] += cost


# ------------------------------------------------------------------ upload
@routes.post(API, "/upload/youtube/v3/videos")
async def start_upload(call: Call) -> Response:
    tok, account = _auth(call, UPLOAD_SCOPES)
    if call.query.get("uploadType") != "resumable":
        return google_error(400, "Only uploadType=resumable is supported by the sandbox.", "badRequest")
    parts = {p.strip() for p in (call.query.get("part") or "").split(",") if p.strip()}
    if not parts:
        return google_error(400, "Required parameter: part", "required", location="part", locationType="parameter")
    body = call.json if isinstance(call.json, dict) else {}
    snippet, status = body.get("snippet") or {}, body.get("status") or {}
    title, description = str(snippet.get("title") or ""), str(snippet.get("description") or "")
    cfg = call.cfg
    if not title or len(title) > cfg.yt_title_max or "<" in title or ">" in title:
        return google_error(400, "The request metadata specifies an invalid or empty video title.", "invalidTitle",
                            domain="youtube.video")
    if len(description.encode()) > cfg.yt_description_max_bytes or "<" in description or ">" in description:
        return google_error(400, "The request metadata specifies an invalid video description.", "invalidDescription",
                            domain="youtube.video")
    if len(",".join(snippet.get("tags") or [])) > cfg.yt_tags_max_chars:
        return google_error(400, "The request metadata specifies invalid video keywords.", "invalidTags",
                            domain="youtube.video")
    privacy = status.get("privacyStatus", "public")
    if privacy not in ("private", "unlisted", "public"):
        return google_error(400, "Invalid privacy status.", "invalidVideoMetadata", domain="youtube.video")
    cap = call.cfg.yt_channel_daily_uploads
    day_key = (account.extra["channel_id"], pacific_day(call.now()).isoformat())
    if cap is not None and call.st.yt.channel_uploads[day_key] >= cap:
        return google_error(400, "The user has exceeded the number of videos they may upload.",
                            "uploadLimitExceeded", domain="youtube.video")
    _charge(call, tok, 0, insert=True)
    total = call.header("x-upload-content-length")
    session_id = "ADPycd" + secrets.token_urlsafe(24)
    with call.st.lock:
        call.st.yt.sessions[session_id] = {
            "id": session_id, "account": account.id, "channel": account.extra["channel_id"],
            "total": int(total) if total and total.isdigit() else None, "received": 0, "head": b"",
            "snippet": snippet, "status": status, "video_id": None, "created_at": call.now(),
            "request_id": call.request_id, "parts": sorted(parts), "client_id": tok.client_id,
            "notify": call.query.get("notifySubscribers", "true")}
    location = call.url(API, f"/upload/youtube/v3/videos?uploadType=resumable&part={','.join(sorted(parts))}"
                             f"&upload_id={session_id}")
    return empty_response(200, {"location": location, "x-guploader-uploadid": session_id})


_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


@routes.put(API, "/upload/youtube/v3/videos")
async def upload_chunk(call: Call) -> Response:
    st = call.st
    session = st.yt.sessions.get(call.query.get("upload_id") or "")
    if session is None:
        return google_error(404, "The upload session could not be found or has expired.", "notFound")
    if session["video_id"]:
        return json_response(_video_resource(call, st.find_post("youtube", session["video_id"]), session["parts"]))
    header = (call.header("content-range") or "").strip()
    if not header:
        first, last, total = 0, len(call.body) - 1, len(call.body)
    else:
        match = _RANGE.fullmatch(header)
        if not match:
            return google_error(400, "Failed to parse Content-Range header.", "badContent")
        total = None if match.group(3) == "*" else int(match.group(3))
        if match.group(1) is None:           # bytes */N: "where are we?"
            return _progress(call, session, total)
        first, last = int(match.group(1)), int(match.group(2))
        if last - first + 1 != len(call.body):
            return google_error(400, "Content-Range does not match the request body length.", "badContent")
    if session["total"] is not None and total is not None and total != session["total"]:
        return google_error(400, "The Content-Range total does not match X-Upload-Content-Length.", "badContent")
    if first > session["received"]:
        return google_error(400, f"Chunk starts at byte {first} but only {session['received']} bytes were received.",
                            "badContent")
    fresh = call.body[session["received"] - first:]     # bytes already received are ignored, as Google does
    with st.lock:
        if session["received"] < 65536:
            session["head"] = (session["head"] + bytes(fresh))[:65536]
        session["received"] += len(fresh)
        if total is not None:
            session["total"] = total
    return _progress(call, session, total)


def _progress(call: Call, session: dict, total: int | None) -> Response:
    total = session["total"] if total is None else total
    if total is not None and session["received"] >= total and total > 0:
        if not session["video_id"]:
            _complete(call, session)
        return json_response(_video_resource(call, call.st.find_post("youtube", session["video_id"]),
                                             session["parts"]))
    headers = {"x-guploader-uploadid": session["id"]}
    if session["received"]:
        headers["range"] = f"bytes=0-{session['received'] - 1}"
    return Response(b"", 308, headers)


def _complete(call: Call, session: dict) -> None:
    st = call.st
    video_id = stable_str("yt-video", st.seed, st.next("yt-video"), length=11)
    privacy = session["status"].get("privacyStatus", "public")
    if call.cfg.yt_unverified_project:
        privacy = "private"    # unaudited API projects can only upload private videos
    info = media.probe(session["head"])
    now = call.now()
    with st.lock:
        session["video_id"] = video_id
        st.yt.channel_uploads[(session["channel"], pacific_day(now).isoformat())] += 1
    snippet = session["snippet"]
    st.add_post(Post(platform="youtube", account=session["channel"], external_id=video_id,
                     text=str(snippet.get("title") or ""), media=[f"upload:{session['received']} bytes"],
                     received_at=iso(time.time()), request_id=call.request_id, published_at=now, kind="video",
                     url=f"https://www.youtube.com/watch?v={video_id}",
                     extra={"video": True, "description": snippet.get("description") or "",
                            "tags": snippet.get("tags") or [], "categoryId": str(snippet.get("categoryId") or "22"),
                            "privacyStatus": privacy, "invalid": info.kind != "video",
                            "duration": info.duration_s, "madeForKids": bool(session["status"].get(
                                "selfDeclaredMadeForKids", False)), "session": session["id"]}))


def _video_resource(call: Call, post: Post, parts) -> dict:
    st = call.st
    account = st.account("youtube", post.account)
    processed = call.now() >= post.published_at + call.cfg.yt_processing_delay_s
    upload_status = "uploaded" if not processed else ("failed" if post.extra["invalid"] else "processed")
    item: dict = {"kind": "youtube#video", "etag": stable_str("etag", post.external_id, length=27),
                  "id": post.external_id}
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": iso(post.published_at, micro=False).replace("+00:00", "Z"),
            "channelId": post.account, "title": post.text, "description": post.extra["description"],
            "thumbnails": {"default": {"url": f"https://i.ytimg.com/vi/{post.external_id}/default.jpg", "width": 120,
                                       "height": 90}},
            "channelTitle": account.name if account else "", "tags": post.extra["tags"],
            "categoryId": post.extra["categoryId"], "liveBroadcastContent": "none",
            "localized": {"title": post.text, "description": post.extra["description"]}}
    if "status" in parts:
        item["status"] = {"uploadStatus": upload_status, "privacyStatus": post.extra["privacyStatus"],
                          "license": "youtube", "embeddable": True, "publicStatsViewable": True,
                          "selfDeclaredMadeForKids": post.extra["madeForKids"]}
        if upload_status == "failed":
            item["status"]["failureReason"] = "invalidFile"
    if "statistics" in parts:
        m = insights.post_metrics(st, post)
        item["statistics"] = {"viewCount": str(m["views"]), "likeCount": str(m["likes"]), "favoriteCount": "0",
                              "commentCount": str(m["comments"])}
    if "contentDetails" in parts:
        seconds = int(post.extra.get("duration") or 0)
        item["contentDetails"] = {"duration": f"PT{seconds // 60}M{seconds % 60}S", "dimension": "2d",
                                  "definition": "hd", "caption": "false", "licensedContent": False}
    return item


# -------------------------------------------------------------------- lists
def _parts(call: Call) -> list[str]:
    parts = [p.strip() for p in (call.query.get("part") or "").split(",") if p.strip()]
    if not parts:
        raise fail(400, "Required parameter: part", "required", location="part", locationType="parameter")
    return parts


def _list(kind: str, items: list[dict]) -> dict:
    return {"kind": f"youtube#{kind}ListResponse", "etag": stable_str("etag", kind, len(items), length=27),
            "items": items, "pageInfo": {"totalResults": len(items), "resultsPerPage": max(5, len(items))}}


@routes.get(API, "/youtube/v3/videos")
async def list_videos(call: Call) -> Response:
    tok, account = _auth(call, READ_SCOPES)
    parts = _parts(call)
    _charge(call, tok, 1)
    ids = [i.strip() for i in (call.query.get("id") or "").split(",") if i.strip()]
    if not ids:
        return google_error(400, "No filter selected. Expected one of: myRating, chart, id", "missingRequiredParameter",
                            domain="youtube.parameter")
    items = []
    for video_id in ids[:50]:
        post = call.st.find_post("youtube", video_id)
        if post and (post.extra["privacyStatus"] != "private" or post.account == account.extra["channel_id"]):
            items.append(_video_resource(call, post, parts))
    return json_response(_list("video", items))


@routes.get(API, "/youtube/v3/channels")
async def list_channels(call: Call) -> Response:
    tok, account = _auth(call, READ_SCOPES)
    parts = _parts(call)
    _charge(call, tok, 1)
    if call.query.get("mine") != "true" and not call.query.get("id"):
        return google_error(400, "No filter selected. Expected one of: forHandle, forUsername, id, managedByMe, mine",
                            "missingRequiredParameter", domain="youtube.parameter")
    st = call.st
    channel = account.extra["channel_id"]
    if call.query.get("id") and channel not in call.query["id"].split(","):
        return json_response(_list("channel", []))
    posts = st.live_posts("youtube", channel)
    item: dict = {"kind": "youtube#channel", "etag": stable_str("etag", channel, length=27), "id": channel}
    if "snippet" in parts:
        item["snippet"] = {"title": account.name, "description": "Sandbox channel", "customUrl": "@" + account.handle,
                           "publishedAt": iso(account.created_at, micro=False).replace("+00:00", "Z")}
    if "statistics" in parts:
        views = sum(insights.post_metrics(st, p)["views"] for p in posts)
        item["statistics"] = {"viewCount": str(views),
                              "subscriberCount": str(insights.account_followers(st, "youtube", channel)),
                              "hiddenSubscriberCount": False, "videoCount": str(len(posts))}
    if "contentDetails" in parts:
        item["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": "UU" + channel[2:]}}
    return json_response(_list("channel", [item]))


@routes.get(API, "/youtube/v3/playlistItems")
async def list_playlist_items(call: Call) -> Response:
    """The uploads playlist (UU...), newest first: how an adapter finds a video whose final answer was lost."""
    tok, account = _auth(call, READ_SCOPES)
    parts = _parts(call)
    _charge(call, tok, 1)
    playlist = call.query.get("playlistId") or ""
    channel = "UC" + playlist[2:]
    if not playlist.startswith("UU") or channel != account.extra["channel_id"]:
        return google_error(404, "The playlist identified with the request's playlistId parameter cannot be found.",
                            "playlistNotFound", domain="youtube.playlistItem")
    posts = sorted(call.listed("youtube", call.st.live_posts("youtube", channel)), key=lambda p: p.published_at,
                   reverse=True)
    limit = max(0, min(int(call.query.get("maxResults") or 5), 50))
    items = []
    for post in posts[:limit]:
        item: dict = {"kind": "youtube#playlistItem", "etag": stable_str("etag", "pl", post.external_id, length=27),
                      "id": stable_str("pli", post.external_id, length=40)}
        if "snippet" in parts:
            item["snippet"] = {"publishedAt": iso(post.published_at, micro=False).replace("+00:00", "Z"),
                               "channelId": channel, "title": post.text, "description": post.extra["description"],
                               "playlistId": playlist, "resourceId": {"kind": "youtube#video",
                                                                      "videoId": post.external_id}}
        if "contentDetails" in parts:
            item["contentDetails"] = {"videoId": post.external_id, "videoPublishedAt": iso(
                post.published_at, micro=False).replace("+00:00", "Z")}
        items.append(item)
    return json_response(_list("playlistItem", items))


# ---------------------------------------------------------------- analytics
def _metric_row(m: dict, metric: str, subscribers: int) -> float:
    views = m["views"]
    avg = (m["watch_time_s"] / views) if views else 0.0
    return {"views": views, "estimatedMinutesWatched": int(m["watch_time_s"] / 60), "averageViewDuration": int(avg),
            "averageViewPercentage": round(min(100.0, avg / 0.6), 2), "likes": m["likes"],
            "dislikes": m["likes"] // 40, "comments": m["comments"], "shares": m["shares"],
            "subscribersGained": subscribers, "subscribersLost": subscribers // 15}[metric]


@routes.get(ANALYTICS, "/v2/reports")
async def reports(call: Call) -> Response:
    tok, account = _auth(call, ANALYTICS_SCOPES)
    q = call.query
    st = call.st
    channel = account.extra["channel_id"]
    if q.get("ids") not in ("channel==MINE", f"channel=={channel}"):
        return google_error(403, "Forbidden", "forbidden")
    metrics = [m.strip() for m in (q.get("metrics") or "").split(",") if m.strip()]
    for name in metrics or [""]:
        if name not in METRICS:
            return google_error(400, f"Unknown identifier ({name}) given in field parameters.metrics.", "badRequest")
    try:
        start = date.fromisoformat(q.get("startDate") or "")
        end = date.fromisoformat(q.get("endDate") or "")
    except ValueError:
        return google_error(400, "startDate and endDate are required (YYYY-MM-DD).", "badRequest")
    dims = [d.strip() for d in (q.get("dimensions") or "").split(",") if d.strip()]
    if any(d not in ("day", "video") for d in dims):
        return google_error(400, f"Unknown identifier ({dims[0]}) given in field parameters.dimensions.", "badRequest")
    posts = st.live_posts("youtube", channel)
    match = re.fullmatch(r"video==([\w,-]+)", q.get("filters") or "")
    if q.get("filters") and not match:
        return google_error(400, "The query is not supported.", "badRequest")
    if match:
        wanted = set(match.group(1).split(","))
        posts = [p for p in posts if p.external_id in wanted]
    now = call.now()

    def window(posts_, day_from: date, day_to: date) -> list:
        t0 = datetime(day_from.year, day_from.month, day_from.day, tzinfo=timezone.utc).timestamp()
        t1 = datetime(day_to.year, day_to.month, day_to.day, tzinfo=timezone.utc).timestamp() + 86400
        totals = {k: 0 for k in ("views", "watch_time_s", "likes", "comments", "shares")}
        for post in posts_:
            b = insights.post_metrics(st, post, now=min(t1, now))
            a = insights.post_metrics(st, post, now=min(t0, now))
            for k in totals:
                totals[k] += b[k] - a[k]
        gained = max(0, insights.account_followers(st, "youtube", channel, min(t1, now))
                     - insights.account_followers(st, "youtube", channel, min(t0, now)))
        return [_metric_row(totals, m, gained) for m in metrics]

    rows = []
    if dims == ["day"]:
        day = start
        while day <= end:
            rows.append([day.isoformat()] + window(posts, day, day))
            day += timedelta(days=1)
    elif dims == ["video"]:
        rows = [[p.external_id] + window([p], start, end) for p in posts]
    else:
        rows = [window(posts, start, end)]
    headers = [{"name": d, "columnType": "DIMENSION", "dataType": "STRING"} for d in dims]
    headers += [{"name": m, "columnType": "METRIC", "dataType": METRICS[m]} for m in metrics]
    return json_response({"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers, "rows": rows})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    client = st.config.client("youtube")
    scopes = scopes or [SCOPE + "youtube.upload", SCOPE + "youtube.readonly", SCOPE + "yt-analytics.readonly"]
    access = oauth.mint(st, "youtube", account.id, client["client_id"], scopes, st.config.yt_access_s)
    refresh = oauth.mint(st, "youtube", account.id, client["client_id"], scopes,
                         7 * 86400 if st.config.yt_testing_mode else None, kind="refresh", grant_id=access.grant_id)
    return {"channel_id": account.extra["channel_id"], "access_token": access.value,
            "expires_in": int(st.config.yt_access_s), "refresh_token": refresh.value}

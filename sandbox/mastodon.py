"""Mastodon (one instance, mastodon.social): OAuth with optional PKCE, statuses, media, rate-limit headers.

What the real server does and this one reproduces:
- OAuth through Doorkeeper: /oauth/authorize (consent), /oauth/token, /oauth/revoke; PKCE S256 when the
  client sends a challenge (Mastodon 4.3+); tokens never expire. A scope the app was not registered
  with is refused at authorize with error=invalid_scope.
- `POST /api/v1/statuses` honours `Idempotency-Key`: the same key from the same account within an hour
  answers with the status it already made (PostStatusService keeps `idempotency:status:<account>:<key>`
  in Redis for 3600 s), and nothing is posted twice.
- `POST /api/v2/media` answers 200 for an image and 202 (url null) for a video still processing;
  `GET /api/v1/media/:id` answers 206 until it is done. Attaching an unprocessed file is a 422.
- 500 characters per status, each URL counting 23 and a remote mention only its username.
- Every authenticated answer carries X-RateLimit-Limit/-Remaining/-Reset (ISO 8601): 300 calls per
  5 minutes per account, and 30 media uploads per 30 minutes; past that, 429.
https://docs.joinmastodon.org/methods/statuses/ , https://docs.joinmastodon.org/api/rate-limits/
"""
from __future__ import annotations

import html
import re
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

from starlette.responses import Response

from sandbox import insights, media, oauth
from sandbox.state import Account, Post, State, Token, iso
from sandbox.web import Call, Reply, RouteTable, json_response

routes = RouteTable("mastodon")
HOST = "mastodon.social"
SPEC = oauth.OAuthSpec("mastodon", "Mastodon", scope_sep=" ")
# Scopes an application registered on the sandbox instance may ask for.
APP_SCOPES = {"read", "write", "follow", "push", "profile", "read:accounts", "read:statuses", "write:statuses",
              "write:media", "write:favourites"}
VISIBILITIES = ("public", "unlisted", "private", "direct")
IMAGE_MAX = 16 * 1024 * 1024
VIDEO_MAX = 99 * 1024 * 1024
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w/])@(\w+)@[\w.-]+\.\w+")


def error(message: str, status: int, headers: dict | None = None) -> Response:
    """Mastodon's error body: {"error": "..."} (Doorkeeper adds error_description on the OAuth endpoints)."""
    return json_response({"error": message}, status, headers)


def server_error(status: int = 503) -> Response:
    if status == 503:
        return error("There was a temporary problem serving your request, please try again", 503)
    return error("An unexpected error occurred", status)


def _reset_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rate_limited(call: Call | None = None) -> Response:
    now = call.now() if call else time.time()
    return error("Too many requests", 429, {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                                            "X-RateLimit-Reset": _reset_iso(now + 300)})


def not_found(call: Call) -> Response:
    return error("Record not found", 404)


def _ns(st: State):
    return st.masto


# -------------------------------------------------------------------- oauth
def _create_account(st: State, account: Account) -> None:
    account.extra["username"] = account.handle
    account.extra["acct"] = account.handle


oauth.ACCOUNT_HOOKS["mastodon"] = _create_account


@routes.route(HOST, "/oauth/authorize", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    scopes = oauth.scopes_of(call.param("scope") or "read", " ")
    unknown = [s for s in scopes if s not in APP_SCOPES]
    if unknown and oauth.client_ok(call.st, "mastodon", call.param("client_id"), check_secret=False) \
            and call.param("redirect_uri"):
        return oauth._redirect(call.param("redirect_uri"), {
            "error": "invalid_scope", "state": call.param("state"),
            "error_description": "The requested scope is invalid, unknown, or malformed."})
    return await oauth.consent(call, SPEC)


def _doorkeeper(error_code: str, description: str, status: int) -> Response:
    return json_response({"error": error_code, "error_description": description}, status)


def _client(call: Call) -> tuple[str | None, Response | None]:
    """Client credentials in the body (client_secret_post) or as HTTP Basic."""
    basic = oauth.basic_auth(call)
    client_id, secret = basic if basic else (call.param("client_id"), call.param("client_secret"))
    if not oauth.client_ok(call.st, "mastodon", client_id, secret):
        return None, _doorkeeper("invalid_client", "Client authentication failed due to unknown client, no client "
                                                   "authentication included, or unsupported authentication method.", 401)
    return client_id, None


@routes.post(HOST, "/oauth/token")
async def token(call: Call) -> Response:
    client_id, bad = _client(call)
    if bad:
        return bad
    if call.param("grant_type") != "authorization_code":
        return _doorkeeper("unsupported_grant_type", "The authorization grant type is not supported by the "
                                                     "authorization server.", 400)
    try:
        code = oauth.redeem_code(call.st, "mastodon", call.param("code"), client_id, call.param("redirect_uri"),
                                 call.param("code_verifier"))
    except oauth.CodeError:
        return _doorkeeper("invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not "
                                            "match the redirection URI used in the authorization request, or was "
                                            "issued to another client.", 400)
    access = oauth.mint(call.st, "mastodon", code.account_id, client_id, code.scopes, None)
    return json_response({"access_token": access.value, "token_type": "Bearer", "scope": " ".join(code.scopes),
                          "created_at": int(access.issued_at)})


@routes.post(HOST, "/oauth/revoke")
async def revoke(call: Call) -> Response:
    client_id, bad = _client(call)
    if bad:
        return bad
    tok = call.st.tokens.get(call.param("token") or "")
    if tok is not None and tok.platform == "mastodon" and tok.client_id == client_id:
        with call.st.lock:
            tok.revoked = True
    return json_response({})


@routes.get(HOST, "/.well-known/oauth-authorization-server")
async def metadata(call: Call) -> Response:
    base = f"https://{HOST}"
    return json_response({"issuer": base + "/", "authorization_endpoint": base + "/oauth/authorize",
                          "token_endpoint": base + "/oauth/token", "revocation_endpoint": base + "/oauth/revoke",
                          "scopes_supported": sorted(APP_SCOPES), "response_types_supported": ["code"],
                          "grant_types_supported": ["authorization_code", "client_credentials"],
                          "code_challenge_methods_supported": ["S256"],
                          "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})


# ---------------------------------------------------------- auth and limits
def _auth(call: Call, scope: str) -> Token:
    tok, status = oauth.lookup(call.st, call.token, "mastodon")
    if status != "ok":
        # Doorkeeper's own words for each case.
        words = {"expired": "The access token expired", "revoked": "The access token was revoked"}
        raise Reply(error(words.get(status, "The access token is invalid"), 401))
    if scope not in tok.scopes and scope.split(":")[0] not in tok.scopes:
        raise Reply(error("This action is outside the authorized scopes", 403))
    return tok


def _consume(call: Call, tok: Token, bucket: str, limit: int, window_s: float) -> dict:
    """Count one call in the account's window for `bucket`; 429 when it is used up. Returns the headers."""
    st, now = call.st, call.now()
    with st.lock:
        window = _ns(st).windows.get((tok.account_id, bucket))
        if window is None or now >= window[0] + window_s:
            window = _ns(st).windows[(tok.account_id, bucket)] = [now, 0]
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": _reset_iso(window[0] + window_s)}
        if window[1] >= limit:
            raise Reply(error("Too many requests", 429, {**headers, "X-RateLimit-Remaining": "0"}))
        window[1] += 1
        headers["X-RateLimit-Remaining"] = str(limit - window[1])
    return headers


def _answer(call: Call, scope: str, fn, *, media_upload: bool = False) -> Response:
    """Authenticate, count the call, run fn(tok) and put the rate-limit headers on whatever it answers."""
    tok = _auth(call, scope)
    cfg = call.cfg
    headers = _consume(call, tok, "all", cfg.masto_rate_limit, cfg.masto_rate_window_s)
    if media_upload:
        headers = _consume(call, tok, "media", cfg.masto_media_limit, cfg.masto_media_window_s)
    try:
        response = fn(tok)
    except Reply as reply:
        response = reply.response
    for name, value in headers.items():
        response.headers[name] = value
    return response


# -------------------------------------------------------------------- JSON
def _account_json(call: Call, account: Account, with_counts: bool = True) -> dict:
    st = call.st
    data = {"id": account.id, "username": account.handle, "acct": account.handle, "display_name": account.name,
            "locked": False, "bot": False, "created_at": _time(account.created_at),
            "note": "<p>Sandbox account</p>", "url": f"https://{HOST}/@{account.handle}",
            "avatar": f"{call.origin}/_media/sample.png?w=400&h=400", "emojis": [], "fields": []}
    if with_counts:
        data.update(followers_count=insights.account_followers(st, "mastodon", account.id),
                    following_count=insights.following(st.seed, "mastodon", account.id),
                    statuses_count=len(st.live_posts("mastodon", account.id)))
    return data


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(ts * 1000) % 1000:03d}Z"


def _content(text: str) -> str:
    """The HTML Mastodon makes of a status: paragraphs, <br />, and links split into visible parts."""
    def link(match: re.Match) -> str:
        url = match.group(0)
        scheme, _, rest = url.partition("://")
        shown, hidden = rest[:30], rest[30:]
        return (f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" translate="no">'
                f'<span class="invisible">{scheme}://</span><span class="{"ellipsis" if hidden else ""}">'
                f'{html.escape(shown)}</span><span class="invisible">{html.escape(hidden)}</span></a>')

    paragraphs = []
    for block in re.split(r"\n{2,}", text.strip()):
        parts, last = [], 0
        for match in _URL.finditer(block):
            parts.append(html.escape(block[last:match.start()]))
            parts.append(link(match))
            last = match.end()
        parts.append(html.escape(block[last:]))
        paragraphs.append("<p>" + "".join(parts).replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


def _media_json(call: Call, item: dict) -> dict:
    ready = _ready(call, item)
    kind, info = item["type"], item["info"]
    original = {"width": info.width, "height": info.height, "size": f"{info.width}x{info.height}",
                "aspect": round(info.width / info.height, 6) if info.height else None}
    if kind == "video":
        original.update(duration=round(info.duration_s, 2), frame_rate="30/1")
    return {"id": item["id"], "type": kind, "url": item["url"] if ready else None,
            "preview_url": f"{call.origin}/_media/sample.jpg?w=400&h=300", "remote_url": None,
            "preview_remote_url": None, "text_url": None, "meta": {"original": original},
            "description": item["description"], "blurhash": "UFBWY:8_0Jxv%MoeI9t6IUt6xuRj00xu-;WB"}


def _status_json(call: Call, post: Post) -> dict:
    st = call.st
    account = st.account("mastodon", post.account)
    m = insights.post_metrics(st, post)
    items = [_ns(st).media[i] for i in post.media if i in _ns(st).media]
    parent = st.find_post("mastodon", post.extra["in_reply_to"]) if post.extra.get("in_reply_to") else None
    return {"id": post.external_id, "created_at": _time(post.published_at),
            "in_reply_to_id": post.extra.get("in_reply_to"),
            "in_reply_to_account_id": parent.account if parent else None, "sensitive": post.extra.get("sensitive", False),
            "spoiler_text": post.extra.get("spoiler_text", ""), "visibility": post.extra.get("visibility", "public"),
            "language": post.extra.get("language"), "uri": post.extra["uri"], "url": post.url,
            "replies_count": m["comments"], "reblogs_count": m["shares"], "favourites_count": m["likes"],
            "quotes_count": m["quotes"], "edited_at": None, "favourited": False, "reblogged": False,
            "muted": False, "bookmarked": False, "pinned": False, "content": _content(post.text), "reblog": None,
            "application": {"name": "Outpost", "website": None},
            "account": _account_json(call, account) if account else None,
            "media_attachments": [_media_json(call, i) for i in items], "mentions": [], "tags": [], "emojis": [],
            "card": None, "poll": None}


# ------------------------------------------------------------------ statuses
def _snowflake(st: State, now: float) -> str:
    """Mastodon ids: milliseconds in the high bits, a sequence in the low 16."""
    return str((int(now * 1000) << 16) | (st.next("masto-id") % 65536))


def _length(text: str, url_chars: int) -> int:
    """Characters as Mastodon counts them: each URL is `url_chars`, a remote mention only its @username."""
    text = _URL.sub("x" * url_chars, text)
    return len(_MENTION.sub(lambda m: "@" + m.group(1), text))


def _status_params(call: Call) -> dict:
    """JSON, form or query parameters, with media_ids[] kept as a list."""
    if isinstance(call.json, dict):
        return dict(call.json)
    params = dict(call.params)
    lists = parse_qs(call.body.decode("utf-8", "replace")) if call.body and not call.files else {}
    ids = lists.get("media_ids[]") or call.query.getlist("media_ids[]")
    if ids:
        params["media_ids"] = ids
    return params


@routes.post(HOST, "/api/v1/statuses")
async def create_status(call: Call) -> Response:
    def run(tok: Token) -> Response:
        st, cfg, now = call.st, call.cfg, call.now()
        key = call.header("idempotency-key")
        if key:
            with st.lock:
                seen = _ns(st).idempotency.get((tok.account_id, key))
            if seen and now < seen[1]:
                post = st.find_post("mastodon", seen[0])
                if post is not None:
                    return json_response(_status_json(call, post))
        params = _status_params(call)
        text = str(params.get("status") or "")
        ids = [str(i) for i in (params.get("media_ids") or [])]
        if not text.strip() and not ids:
            raise Reply(error("Validation failed: Text can't be blank", 422))
        if _length(text, cfg.masto_url_chars) > cfg.masto_max_chars:
            raise Reply(error(f"Validation failed: Text character limit of {cfg.masto_max_chars} exceeded", 422))
        visibility = params.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            raise Reply(error("Validation failed: Visibility is not included in the list", 422))
        if len(ids) > cfg.masto_max_media:
            raise Reply(error(f"Cannot attach more than {cfg.masto_max_media} files", 422))
        items = []
        for media_id in ids:
            item = _ns(st).media.get(media_id)
            if item is None or item["owner"] != tok.account_id or item["status_id"]:
                raise Reply(error(f"Media with ID(s) {media_id} not found", 422))
            items.append(item)
        if len(items) > 1 and any(i["type"] == "video" for i in items):
            raise Reply(error("Cannot attach a video to a post that already contains images", 422))
        if any(not _ready(call, i) for i in items):
            raise Reply(error("Cannot attach files that have not finished processing. Try again in a moment!", 422))
        reply_to = str(params.get("in_reply_to_id") or "") or None
        if reply_to and st.find_post("mastodon", reply_to) is None:
            raise Reply(error("Record not found", 404))
        account = st.account("mastodon", tok.account_id)
        status_id = _snowflake(st, now)
        post = Post(platform="mastodon", account=tok.account_id, external_id=status_id, text=text,
                    media=[i["id"] for i in items], received_at=iso(time.time()), request_id=call.request_id,
                    published_at=now, url=f"https://{HOST}/@{account.handle}/{status_id}",
                    extra={"uri": f"https://{HOST}/users/{account.handle}/statuses/{status_id}",
                           "visibility": visibility, "sensitive": bool(params.get("sensitive") in (True, "true", "1")),
                           "spoiler_text": str(params.get("spoiler_text") or ""),
                           "language": params.get("language") or "en", "idempotency_key": key,
                           "in_reply_to": reply_to,
                           "video": any(i["type"] == "video" for i in items)})
        with st.lock:
            for item in items:
                item["status_id"] = status_id
            if key:
                _ns(st).idempotency[(tok.account_id, key)] = (status_id, now + cfg.masto_idempotency_ttl_s)
        st.add_post(post)
        return json_response(_status_json(call, post))

    return _answer(call, "write:statuses", run)


def _find(call: Call, status_id: str) -> Post:
    post = call.st.find_post("mastodon", status_id)
    if post is None:
        raise Reply(error("Record not found", 404))
    return post


@routes.get(HOST, "/api/v1/statuses/{status_id}")
async def get_status(call: Call) -> Response:
    return _answer(call, "read:statuses", lambda tok: json_response(_status_json(call, _find(call, call.path_param(
        "status_id")))))


@routes.route(HOST, "/api/v1/statuses/{status_id}", ("DELETE",))
async def delete_status(call: Call) -> Response:
    def run(tok: Token) -> Response:
        post = _find(call, call.path_param("status_id"))
        if post.account != tok.account_id:
            raise Reply(error("Record not found", 404))
        body = {**_status_json(call, post), "text": post.text}
        post.deleted = True
        return json_response(body)

    return _answer(call, "write:statuses", run)


@routes.get(HOST, "/api/v1/statuses")
async def get_statuses(call: Call) -> Response:
    """GET /api/v1/statuses?id[]=...: the statuses that exist, in no particular order (Mastodon 4.3+)."""
    def run(tok: Token) -> Response:
        ids = call.query.getlist("id[]") or call.query.getlist("id")
        posts = [call.st.find_post("mastodon", i) for i in dict.fromkeys(ids)]
        return json_response([_status_json(call, p) for p in posts if p is not None])

    return _answer(call, "read:statuses", run)


@routes.get(HOST, "/api/v1/accounts/verify_credentials")
async def verify_credentials(call: Call) -> Response:
    def run(tok: Token) -> Response:
        account = call.st.account("mastodon", tok.account_id)
        return json_response({**_account_json(call, account),
                              "source": {"privacy": "public", "sensitive": False, "language": "en", "note": ""}})

    return _answer(call, "read:accounts", run)


def _int(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    return int(raw) if raw and raw.isdigit() else None


@routes.get(HOST, "/api/v1/accounts/{account_id}/statuses")
async def account_statuses(call: Call) -> Response:
    """Newest first; limit (default 20, at most 40), max_id / since_id / min_id, exclude_replies, only_media."""
    def run(tok: Token) -> Response:
        account_id = call.path_param("account_id")
        if call.st.account("mastodon", account_id) is None:
            raise Reply(error("Record not found", 404))
        limit = max(1, min(_int(call, "limit") or 20, 40))
        max_id, since_id, min_id = _int(call, "max_id"), _int(call, "since_id"), _int(call, "min_id")
        posts = sorted(call.listed("mastodon", call.st.live_posts("mastodon", account_id)),
                       key=lambda p: int(p.external_id), reverse=True)
        posts = [p for p in posts if (max_id is None or int(p.external_id) < max_id)
                 and (since_id is None or int(p.external_id) > since_id)
                 and (min_id is None or int(p.external_id) > min_id)
                 and (call.query.get("only_media") != "true" or p.media)
                 and (call.query.get("exclude_replies") != "true" or not p.extra.get("in_reply_to"))]
        chunk = posts[-limit:] if min_id is not None else posts[:limit]
        headers = {}
        if chunk:
            base = f"https://{HOST}/api/v1/accounts/{account_id}/statuses?limit={limit}"
            headers["Link"] = (f'<{base}&max_id={chunk[-1].external_id}>; rel="next", '
                               f'<{base}&min_id={chunk[0].external_id}>; rel="prev"')
        return json_response([_status_json(call, p) for p in chunk], headers=headers)

    return _answer(call, "read:statuses", run)


@routes.get(HOST, "/api/v2/instance")
async def instance(call: Call) -> Response:
    cfg = call.cfg
    return json_response({"domain": HOST, "title": "Mastodon (Outpost sandbox)", "version": "4.4.0",
                          "configuration": {
                              "statuses": {"max_characters": cfg.masto_max_chars,
                                           "max_media_attachments": cfg.masto_max_media,
                                           "characters_reserved_per_url": cfg.masto_url_chars},
                              "media_attachments": {"image_size_limit": IMAGE_MAX, "video_size_limit": VIDEO_MAX,
                                                    "supported_mime_types": ["image/jpeg", "image/png", "image/gif",
                                                                             "image/webp", "video/mp4",
                                                                             "video/quicktime", "video/webm"]}}})


# -------------------------------------------------------------------- media
def _ready(call: Call, item: dict) -> bool:
    return item["type"] == "image" or call.now() >= item["created_at"] + call.cfg.masto_video_delay_s


@routes.post(HOST, "/api/v2/media")
async def upload_media(call: Call) -> Response:
    def run(tok: Token) -> Response:
        if "file" not in call.files:
            raise Reply(error("Validation failed: File can't be blank", 422))
        filename, ctype, blob = call.files["file"]
        info = media.probe(blob)
        if info.kind is None:
            raise Reply(error("Validation failed: File content type is invalid, File is invalid", 422))
        limit = IMAGE_MAX if info.kind == "image" else VIDEO_MAX
        if len(blob) > limit:
            raise Reply(error(f"Validation failed: File file size must be less than {limit // 2**20} MB", 422))
        st = call.st
        media_id = _snowflake(st, call.now())
        ext = {"jpeg": "jpg"}.get(info.fmt, info.fmt)
        item = {"id": media_id, "owner": tok.account_id, "type": info.kind, "info": info,
                "description": call.param("description"), "created_at": call.now(), "status_id": None,
                "url": f"https://files.{HOST}/media_attachments/files/{media_id}/original/upload.{ext}"}
        with st.lock:
            _ns(st).media[media_id] = item
        return json_response(_media_json(call, item), 200 if _ready(call, item) else 202)

    return _answer(call, "write:media", run, media_upload=True)


@routes.get(HOST, "/api/v1/media/{media_id}")
async def get_media(call: Call) -> Response:
    def run(tok: Token) -> Response:
        item = _ns(call.st).media.get(call.path_param("media_id"))
        if item is None or item["owner"] != tok.account_id:
            raise Reply(error("Record not found", 404))
        return json_response(_media_json(call, item), 200 if _ready(call, item) else 206)

    return _answer(call, "write:media", run)


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    client = st.config.client("mastodon")
    scopes = scopes or ["read", "write:statuses", "write:media"]
    access = oauth.mint(st, "mastodon", account.id, client["client_id"], scopes, None)
    return {"username": account.handle, "access_token": access.value, "scope": " ".join(scopes)}

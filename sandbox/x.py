"""X (API v2): OAuth 2 with PKCE, posts, chunked media upload, metrics, rate-limit headers.

Every authenticated answer carries x-rate-limit-limit/-remaining/-reset (unix seconds) for
its endpoint's 15-minute per-user window; an exhausted window is a 429 with no
Retry-After. A duplicate text from the same user is the 403 problem body.
https://docs.x.com/x-api/posts/create-post
"""
from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

from starlette.responses import Response
from twitter_text import parse_tweet

from sandbox import insights, media, oauth
from sandbox.state import Account, Post, State, Token, iso
from sandbox.web import Call, Reply, RouteTable, json_response

routes = RouteTable("x")
SPEC = oauth.OAuthSpec("x", "X", scope_sep=" ", pkce_required=True)
API = "api.x.com"
TWITTER_EPOCH_MS = 1288834974657
MEDIA_TYPES = {"image/jpeg": "tweet_image", "image/png": "tweet_image", "image/webp": "tweet_image",
               "image/gif": "tweet_gif", "video/mp4": "tweet_video", "video/quicktime": "tweet_video"}
MEDIA_KEY_PREFIX = {"tweet_image": "3", "tweet_gif": "16", "tweet_video": "7", "amplify_video": "13",
                    "dm_image": "3", "dm_gif": "16", "dm_video": "7", "subtitles": "3"}
MEDIA_KIND = {"tweet_image": "photo", "dm_image": "photo", "subtitles": "photo", "tweet_gif": "animated_gif",
              "dm_gif": "animated_gif", "tweet_video": "video", "amplify_video": "video", "dm_video": "video"}
# Share of a video's views that reached 0/25/50/75/100% of it (media non_public/organic metrics).
PLAYBACK = (("playback_0_count", 1.0), ("playback_25_count", 0.62), ("playback_50_count", 0.41),
            ("playback_75_count", 0.27), ("playback_100_count", 0.16))
MAX_BYTES = {"tweet_image": 5 * 2**20, "dm_image": 5 * 2**20, "tweet_gif": 15 * 2**20, "dm_gif": 15 * 2**20,
             "tweet_video": 8 * 2**30, "amplify_video": 8 * 2**30, "dm_video": 512 * 2**20, "subtitles": 2**20}


def problem(status: int, title: str, detail: str, type_: str = "about:blank", headers: dict | None = None) -> Response:
    return json_response({"title": title, "detail": detail, "type": type_, "status": status}, status, headers)


def invalid_request(message: str, parameters: dict | None = None) -> Reply:
    return Reply(json_response({"errors": [{"parameters": parameters or {}, "message": message}],
                                "title": "Invalid Request", "detail": "One or more parameters to your request was "
                                                                      "invalid.",
                                "type": "https://api.twitter.com/2/problems/invalid-request"}, 400))


def server_error(status: int = 503) -> Response:
    title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Server Error")
    return problem(status, title, title)


def too_many(headers: dict) -> Response:
    """429 with the v2 problem body; X sends no Retry-After, only the x-rate-limit-* headers."""
    return problem(429, "Too Many Requests", "Too Many Requests", headers=headers)


def rate_limited(call: Call | None = None) -> Response:
    """An injected 429: the window resets x_window_s from now (15 minutes, as X's; benches shorten it)."""
    window = call.cfg.x_window_s if call is not None else 900.0
    reset = int((call.now() if call else time.time()) + window)
    return too_many({"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})


def not_found(call: Call) -> Response:
    return json_response({"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}, 404)


# -------------------------------------------------------------------- oauth
def _create_user(st: State, account: Account) -> None:
    account.extra["username"] = account.handle


oauth.ACCOUNT_HOOKS["x"] = _create_user


@routes.route("x.com", "/i/oauth2/authorize", ("GET", "POST"))
@routes.route("twitter.com", "/i/oauth2/authorize", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


def _oauth_error(error_code: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error_code, "error_description": description}, status)


def _client(call: Call) -> tuple[str | None, Response | None]:
    """Confidential clients send Basic auth; public clients send client_id in the body."""
    basic = oauth.basic_auth(call)
    if basic is not None:
        if not oauth.client_ok(call.st, "x", basic[0], basic[1]):
            return None, _oauth_error("unauthorized_client", "Missing valid authorization header", 401)
        return basic[0], None
    client_id = call.param("client_id")
    if not oauth.client_ok(call.st, "x", client_id, check_secret=False):
        return None, _oauth_error("unauthorized_client", "Missing valid authorization header", 401)
    return client_id, None


def _tokens(call: Call, account_id: str, client_id: str, scopes, grant_id: str | None = None) -> dict:
    access = oauth.mint(call.st, "x", account_id, client_id, scopes, call.cfg.x_access_s, grant_id=grant_id)
    body = {"token_type": "bearer", "expires_in": int(call.cfg.x_access_s), "access_token": access.value,
            "scope": " ".join(scopes)}
    if "offline.access" in scopes:
        refresh = oauth.mint(call.st, "x", account_id, client_id, scopes, None, kind="refresh",
                             grant_id=access.grant_id)
        body["refresh_token"] = refresh.value
    return body


@routes.post(API, "/2/oauth2/token")
async def token(call: Call) -> Response:
    client_id, bad = _client(call)
    if bad:
        return bad
    grant = call.param("grant_type")
    st = call.st
    if grant == "authorization_code":
        try:
            code = oauth.redeem_code(st, "x", call.param("code"), client_id, call.param("redirect_uri"),
                                     call.param("code_verifier"))
        except oauth.CodeError:
            return _oauth_error("invalid_request", "Value passed for the authorization code was invalid.")
        return json_response(_tokens(call, code.account_id, client_id, code.scopes))
    if grant == "refresh_token":
        refresh, status = oauth.lookup(st, call.param("refresh_token"), "x", ("refresh",))
        if status != "ok" or refresh.client_id != client_id:
            return _oauth_error("invalid_request", "Value passed for the token was invalid.")
        with st.lock:
            refresh.revoked = True   # rotation: the old refresh token dies with this use
        return json_response(_tokens(call, refresh.account_id, client_id, refresh.scopes, grant_id=refresh.grant_id))
    return _oauth_error("invalid_request", "Missing required parameter [grant_type].")


@routes.post(API, "/2/oauth2/revoke")
async def revoke(call: Call) -> Response:
    client_id, bad = _client(call)
    if bad:
        return bad
    tok = call.st.tokens.get(call.param("token") or "")
    if tok is not None and tok.platform == "x":
        with call.st.lock:
            tok.revoked = True
    return json_response({"revoked": True})


# ---------------------------------------------------------- auth and limits
def _auth(call: Call, scope: str | None = None) -> Token:
    tok, status = oauth.lookup(call.st, call.token, "x")
    if status != "ok":
        raise Reply(problem(401, "Unauthorized", "Unauthorized"))
    if scope and scope not in tok.scopes:
        raise Reply(problem(403, "Forbidden", f"Your token lacks the {scope} scope required by this endpoint."))
    return tok


def _limit_for(cfg, key: str) -> int:
    return {"tweets_create": cfg.x_tweet_limit, "tweets_delete": 50, "tweets_read": cfg.x_read_limit,
            "users_me": cfg.x_users_me_limit, "media": cfg.x_media_limit}[key]


def _consume(call: Call, tok: Token, key: str) -> dict:
    """Count one call against the user's window; 429 when it is exhausted. Returns the headers."""
    st, cfg = call.st, call.cfg
    now = call.now()
    limit = _limit_for(cfg, key)
    with st.lock:
        window = st.x.windows.get((tok.account_id, key))
        if window is None or now >= window[0] + cfg.x_window_s:
            window = st.x.windows[(tok.account_id, key)] = [now, 0]
        reset = int(window[0] + cfg.x_window_s)
        if window[1] >= limit:
            raise Reply(too_many({"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0",
                                  "x-rate-limit-reset": str(reset)}))
        window[1] += 1
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(limit - window[1]),
                   "x-rate-limit-reset": str(reset)}
        if key == "tweets_create":
            day = st.x.app_daily.get(tok.client_id)
            if day is None or now >= day[0] + 86400:
                day = st.x.app_daily[tok.client_id] = [now, 0]
            day_reset = str(int(day[0] + 86400))
            if day[1] >= cfg.x_app_daily_tweets:
                window[1] -= 1
                raise Reply(too_many({**headers, "x-app-limit-24hour-limit": str(cfg.x_app_daily_tweets),
                                      "x-app-limit-24hour-remaining": "0", "x-app-limit-24hour-reset": day_reset}))
            day[1] += 1
            headers.update({"x-app-limit-24hour-limit": str(cfg.x_app_daily_tweets),
                            "x-app-limit-24hour-remaining": str(cfg.x_app_daily_tweets - day[1]),
                            "x-app-limit-24hour-reset": day_reset})
    return headers


def _answer(call: Call, tok: Token, key: str, fn) -> Response:
    """Run fn() under the rate limit and put the x-rate-limit headers on whatever it answers."""
    headers = _consume(call, tok, key)
    try:
        response = fn()
    except Reply as reply:
        response = reply.response
    for name, value in headers.items():
        response.headers[name] = value
    return response


# -------------------------------------------------------------------- posts
def _snowflake(st: State, now: float) -> str:
    ms = int(now * 1000) - TWITTER_EPOCH_MS
    with st.lock:
        if ms <= st.x.last_ms:
            st.x.seq += 1
        else:
            st.x.last_ms, st.x.seq = ms, 0
        return str((max(ms, st.x.last_ms) << 22) | ((st.seed % 1024) << 12) | (st.x.seq % 4096))


def _check_media(call: Call, tok: Token, ids: list) -> list[dict]:
    items = []
    for media_id in ids:
        item = call.st.x.media.get(str(media_id))
        if item is None or item["owner"] != tok.account_id or _media_state(call, item) not in (None, "succeeded"):
            raise invalid_request("Your media IDs are invalid.", {"media.media_ids": [str(m) for m in ids]})
        items.append(item)
    kinds = [i["category"] for i in items]
    top = call.cfg.x_max_images
    if len(items) > top or (len(items) > 1 and any(k != "tweet_image" for k in kinds)):
        raise invalid_request(f"A post can have up to {top} images, or 1 GIF, or 1 video.",
                              {"media.media_ids": [str(m) for m in ids]})
    return items


@routes.post(API, "/2/tweets")
async def create_tweet(call: Call) -> Response:
    tok = _auth(call, "tweet.write")

    def run() -> Response:
        st, cfg = call.st, call.cfg
        body = call.json if isinstance(call.json, dict) else None
        if body is None:
            raise invalid_request("The request body must be JSON.")
        text = body.get("text") or ""
        media_ids = ((body.get("media") or {}).get("media_ids")) or []
        if not text and not media_ids:
            raise invalid_request("You must provide text or media.", {"text": [text]})
        if text and parse_tweet(text).weightedLength > cfg.x_max_weighted:
            raise invalid_request("Your Tweet text is too long. For more information on how X treats tweet text, see "
                                  "https://docs.x.com/resources/fundamentals/counting-characters", {"text": [text]})
        items = _check_media(call, tok, media_ids)
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to and st.find_post("x", str(reply_to)) is None:
            raise Reply(problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible "
                                                  "to you."))
        if body.get("quote_tweet_id"):
            raise Reply(problem(403, "Forbidden", "Quoting a post is available on the Enterprise plan only."))
        if cfg.x_reject_duplicates and text and any(p.text == text for p in st.live_posts("x", tok.account_id)):
            st.reject_duplicate("x", tok.account_id, text, call.request_id)
            raise Reply(problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."))
        now = call.now()
        tweet_id = _snowflake(st, now)
        account = st.account("x", tok.account_id)
        st.add_post(Post(platform="x", account=tok.account_id, external_id=tweet_id, text=text,
                         media=[i["id"] for i in items], received_at=iso(time.time()), request_id=call.request_id,
                         published_at=now, kind="reply" if reply_to else "post",
                         url=f"https://x.com/{account.handle if account else 'i'}/status/{tweet_id}",
                         extra={"in_reply_to": str(reply_to) if reply_to else None,
                                "video": any(i["category"] != "tweet_image" for i in items)}))
        return json_response({"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}, 201)

    return _answer(call, tok, "tweets_create", run)


@routes.route(API, "/2/tweets/{tweet_id}", ("DELETE",))
async def delete_tweet(call: Call) -> Response:
    tok = _auth(call, "tweet.write")

    def run() -> Response:
        post = call.st.find_post("x", call.path_param("tweet_id"))
        if post is None or post.account != tok.account_id:
            raise Reply(problem(403, "Forbidden", "You are not allowed to delete this Tweet."))
        post.deleted = True
        return json_response({"data": {"deleted": True}})

    return _answer(call, tok, "tweets_delete", run)


def _fields(call: Call, name: str) -> set[str]:
    return {f.strip() for f in (call.query.get(name) or "").split(",") if f.strip()}


def _tweet_json(call: Call, tok: Token, post: Post, fields: set[str]) -> tuple[dict, list[dict]]:
    st = call.st
    data = {"id": post.external_id, "text": post.text, "edit_history_tweet_ids": [post.external_id]}
    errors = []
    m = insights.post_metrics(st, post) if fields & {"public_metrics", "non_public_metrics", "organic_metrics"} else {}
    if "created_at" in fields:
        data["created_at"] = iso(post.published_at, micro=False).replace("+00:00", ".000Z")
    if "author_id" in fields:
        data["author_id"] = post.account
    if "referenced_tweets" in fields and post.extra.get("in_reply_to"):
        data["referenced_tweets"] = [{"type": "replied_to", "id": post.extra["in_reply_to"]}]
    if "conversation_id" in fields:
        data["conversation_id"] = post.extra.get("in_reply_to") or post.external_id
    if ("attachments" in fields or "attachments.media_keys" in _fields(call, "expansions")) and post.media:
        data["attachments"] = {"media_keys": [st.x.media[i]["media_key"] for i in post.media if i in st.x.media]}
    if "public_metrics" in fields:
        data["public_metrics"] = {"retweet_count": m["shares"], "reply_count": m["comments"], "like_count": m["likes"],
                                  "quote_count": m["quotes"], "bookmark_count": m["bookmarks"],
                                  "impression_count": m["impressions"]}
    private = fields & {"non_public_metrics", "organic_metrics"}
    if private:
        if _private_allowed(call, tok, post):
            if "non_public_metrics" in fields:
                data["non_public_metrics"] = {"impression_count": m["impressions"], "url_link_clicks": m["clicks"],
                                              "user_profile_clicks": m["profile_visits"],
                                              "engagements": m["likes"] + m["comments"] + m["shares"] + m["clicks"]}
            if "organic_metrics" in fields:
                data["organic_metrics"] = {"impression_count": m["impressions"], "like_count": m["likes"],
                                           "reply_count": m["comments"], "retweet_count": m["shares"],
                                           "url_link_clicks": m["clicks"], "user_profile_clicks": m["profile_visits"]}
        else:
            for field in sorted(private):
                errors.append({"value": post.external_id, "detail": f"Sorry, you are not authorized to access "
                               f"'{field}' on the Tweet with ids: {post.external_id}.", "title": "Field Authorization "
                               "Error", "resource_type": "tweet", "parameter": field, "resource_id": post.external_id,
                               "section": "data", "type": "https://api.twitter.com/2/problems/not-authorized-for-field"})
    return data, errors


def _lookup(call: Call, tok: Token, ids: list[str]) -> dict:
    fields = _fields(call, "tweet.fields")
    data, errors, posts = [], [], []
    for tweet_id in ids:
        post = call.st.find_post("x", tweet_id)
        if post is None:
            errors.append({"value": tweet_id, "detail": f"Could not find tweet with ids: [{tweet_id}].",
                           "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                           "resource_id": tweet_id, "type": "https://api.twitter.com/2/problems/resource-not-found"})
            continue
        item, errs = _tweet_json(call, tok, post, fields)
        data.append(item)
        posts.append(post)
        errors.extend(errs)
    body: dict = {}
    if data:
        body["data"] = data
    _add_includes(call, tok, posts, body, errors)
    if errors:
        body["errors"] = errors
    return body


def _private_allowed(call: Call, tok: Token, post: Post) -> bool:
    """non_public/organic metrics: the user's own posts, and only while they are young enough."""
    return post.account == tok.account_id and call.now() - post.published_at <= call.cfg.x_non_public_days * 86400


def _media_json(call: Call, tok: Token, post: Post, item: dict, fields: set[str], m: dict) -> tuple[dict, list]:
    """One `includes.media[]` object; the metrics are the post's video views, growing with the clock."""
    kind = MEDIA_KIND.get(item["category"], "photo")
    data: dict = {"media_key": item["media_key"], "type": kind}
    errors: list[dict] = []
    if fields & {"width", "height", "duration_ms"}:
        info = media.probe(item["head"])
        if "width" in fields and info.width:
            data["width"] = info.width
        if "height" in fields and info.height:
            data["height"] = info.height
        if "duration_ms" in fields and kind == "video":
            data["duration_ms"] = int(info.duration_s * 1000)
    if "url" in fields and kind == "photo":
        data["url"] = f"https://pbs.twimg.com/media/{item['id']}.jpg"
    if "preview_image_url" in fields and kind != "photo":
        data["preview_image_url"] = f"https://pbs.twimg.com/ext_tw_video_thumb/{item['id']}/pu/img/preview.jpg"
    if kind != "video":
        return data, errors
    views = m.get("video_views", 0)
    if "public_metrics" in fields:
        data["public_metrics"] = {"view_count": views}
    private = fields & {"non_public_metrics", "organic_metrics"}
    if private and _private_allowed(call, tok, post):
        playback = {name: int(views * share) for name, share in PLAYBACK}
        if "non_public_metrics" in fields:
            data["non_public_metrics"] = dict(playback)
        if "organic_metrics" in fields:
            data["organic_metrics"] = {**playback, "view_count": views}
    else:
        for field in sorted(private):
            errors.append({"value": item["media_key"], "detail": f"Sorry, you are not authorized to access "
                           f"'{field}' on the Media with media_keys: {item['media_key']}.",
                           "title": "Field Authorization Error", "resource_type": "media", "parameter": field,
                           "resource_id": item["media_key"], "section": "includes",
                           "type": "https://api.twitter.com/2/problems/not-authorized-for-field"})
    return data, errors


def _add_includes(call: Call, tok: Token, posts: list[Post], body: dict, errors: list) -> None:
    """`expansions=attachments.media_keys`: the posts' media objects in `includes.media`."""
    if "attachments.media_keys" not in _fields(call, "expansions"):
        return
    fields = _fields(call, "media.fields")
    out, seen = [], set()
    for post in posts:
        items = [call.st.x.media[i] for i in post.media if i in call.st.x.media]
        if not items:
            continue
        needs_metrics = any(MEDIA_KIND.get(i["category"]) == "video" for i in items) and \
            fields & {"public_metrics", "non_public_metrics", "organic_metrics"}
        m = insights.post_metrics(call.st, post) if needs_metrics else {}
        for item in items:
            if item["media_key"] in seen:
                continue
            seen.add(item["media_key"])
            data, errs = _media_json(call, tok, post, item, fields, m)
            out.append(data)
            errors.extend(errs)
    if out:
        body.setdefault("includes", {})["media"] = out


@routes.get(API, "/2/tweets")
async def lookup_tweets(call: Call) -> Response:
    tok = _auth(call, "tweet.read")

    def run() -> Response:
        ids = [i.strip() for i in (call.query.get("ids") or "").split(",") if i.strip()]
        if not 1 <= len(ids) <= 100:
            raise invalid_request("The `ids` query parameter must have 1 to 100 ids.", {"ids": ids})
        return json_response(_lookup(call, tok, ids))

    return _answer(call, tok, "tweets_read", run)


@routes.get(API, "/2/tweets/{tweet_id}")
async def lookup_tweet(call: Call) -> Response:
    tok = _auth(call, "tweet.read")

    def run() -> Response:
        body = _lookup(call, tok, [call.path_param("tweet_id")])
        if "data" in body:
            body["data"] = body["data"][0]
        return json_response(body)

    return _answer(call, tok, "tweets_read", run)


def _user_json(call: Call, account: Account, fields: set[str]) -> dict:
    st = call.st
    data = {"id": account.id, "name": account.name, "username": account.handle}
    if "public_metrics" in fields:
        posts = st.live_posts("x", account.id)
        likes = sum(insights.post_metrics(st, p)["likes"] for p in posts[-50:])
        data["public_metrics"] = {"followers_count": insights.account_followers(st, "x", account.id),
                                  "following_count": insights.following(st.seed, "x", account.id),
                                  "tweet_count": len(posts), "listed_count": len(posts) // 10, "like_count": likes,
                                  "media_count": sum(1 for p in posts if p.media)}
    if "created_at" in fields:
        data["created_at"] = iso(account.created_at, micro=False).replace("+00:00", ".000Z")
    if "description" in fields:
        data["description"] = "Sandbox account"
    if "profile_image_url" in fields:
        data["profile_image_url"] = f"{call.origin}/_media/sample.jpg?w=48&h=48"
    if "verified" in fields:
        data["verified"] = False
    return data


@routes.get(API, "/2/users/me")
async def users_me(call: Call) -> Response:
    tok = _auth(call, "users.read")
    return _answer(call, tok, "users_me", lambda: json_response(
        {"data": _user_json(call, call.st.account("x", tok.account_id), _fields(call, "user.fields"))}))


def _timestamp(call: Call, name: str) -> float | None:
    """An ISO 8601 / RFC 3339 query parameter (`2026-11-20T10:00:00Z`) as unix seconds; 400 when malformed."""
    raw = call.query.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid_request(f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 timestamp, e.g. "
                              "YYYY-MM-DDTHH:mm:ssZ.", {name: [raw]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _id_param(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    if not raw:
        return None
    if not raw.isdigit():
        raise invalid_request(f"The `{name}` query parameter value [{raw}] is not valid.", {name: [raw]})
    return int(raw)


@routes.get(API, "/2/users/{user_id}/tweets")
async def user_tweets(call: Call) -> Response:
    """The user's timeline, newest first: max_results 5..100 (default 10), start_time (inclusive, to the
    second), end_time (exclusive), since_id/until_id, exclude=replies, pagination_token, expansions."""
    tok = _auth(call, "tweet.read")

    def run() -> Response:
        user_id = call.path_param("user_id")
        if call.st.account("x", user_id) is None:
            raise Reply(json_response({"errors": [{"value": user_id, "detail": f"Could not find user with id: "
                                                   f"[{user_id}].", "title": "Not Found Error", "resource_type": "user",
                                                   "parameter": "id", "resource_id": user_id,
                                                   "type": "https://api.twitter.com/2/problems/resource-not-found"}]}))
        raw_max = call.query.get("max_results") or "10"
        max_results = int(raw_max) if raw_max.isdigit() else 0
        if not 5 <= max_results <= 100:
            raise invalid_request(f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100",
                                  {"max_results": [raw_max]})
        start_time, end_time = _timestamp(call, "start_time"), _timestamp(call, "end_time")
        if start_time is not None and end_time is not None and start_time >= end_time:
            raise invalid_request("The `start_time` query parameter value must be before the `end_time` query "
                                  "parameter value.", {"start_time": [call.query["start_time"]]})
        since_id, until_id = _id_param(call, "since_id"), _id_param(call, "until_id")
        excluded = _fields(call, "exclude")
        posts = []
        for post in call.listed("x", call.st.live_posts("x", user_id)):
            number = int(post.external_id)
            if start_time is not None and post.published_at < int(start_time):
                continue
            if end_time is not None and post.published_at >= end_time:
                continue
            if (since_id is not None and number <= since_id) or (until_id is not None and number >= until_id):
                continue
            if "replies" in excluded and post.kind == "reply":
                continue
            posts.append(post)
        posts.sort(key=lambda p: int(p.external_id), reverse=True)
        raw_token = call.query.get("pagination_token") or "0"
        start = int(raw_token) if raw_token.isdigit() else 0
        chunk = posts[start:start + max_results]
        fields = _fields(call, "tweet.fields")
        meta: dict = {"result_count": len(chunk)}
        if chunk:
            meta.update(newest_id=chunk[0].external_id, oldest_id=chunk[-1].external_id)
        if start + max_results < len(posts):
            meta["next_token"] = str(start + max_results)
        if start:
            meta["previous_token"] = str(max(0, start - max_results))
        body: dict = {}
        errors: list = []
        if chunk:
            body["data"] = [_tweet_json(call, tok, p, fields - {"non_public_metrics", "organic_metrics"})[0]
                            for p in chunk]
            _add_includes(call, tok, chunk, body, errors)
        if errors:
            body["errors"] = errors
        body["meta"] = meta
        return json_response(body)

    return _answer(call, tok, "tweets_read", run)


# -------------------------------------------------------------------- media
def _media_state(call: Call, item: dict) -> str | None:
    """None for media that needs no processing (images); else pending/in_progress/succeeded/failed."""
    if item.get("finalized_at") is None:
        return "unfinalized"
    if item["category"] in ("tweet_image", "dm_image", "subtitles"):
        return None
    elapsed = call.now() - item["finalized_at"]
    delay = call.cfg.x_media_delay_s
    if elapsed < delay * 0.25:
        return "pending"
    if elapsed < delay:
        return "in_progress"
    return "failed" if item.get("invalid") else "succeeded"


def _processing_info(call: Call, item: dict) -> dict | None:
    state = _media_state(call, item)
    if state is None:
        return None
    info: dict = {"state": state}
    elapsed = call.now() - item["finalized_at"]
    if state in ("pending", "in_progress"):
        info["check_after_secs"] = 1
        if state == "in_progress":
            info["progress_percent"] = min(99, int(100 * elapsed / call.cfg.x_media_delay_s))
    elif state == "succeeded":
        info["progress_percent"] = 100
    else:
        info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Invalid or Unsupported media, Reason: "
                                                                       "UnsupportedMedia."}
    return info


def _new_media(call: Call, tok: Token, media_type: str, total: int, category: str) -> dict:
    st = call.st
    media_id = str(1_880_000_000_000_000_000 + st.seed * 1_000_000_000 + st.next("x-media"))
    item = {"id": media_id, "media_key": f"{MEDIA_KEY_PREFIX.get(category, '3')}_{media_id}", "owner": tok.account_id,
            "media_type": media_type, "total_bytes": total, "category": category, "segments": {}, "head": b"",
            "finalized_at": None, "invalid": False, "created_at": call.now()}
    with st.lock:
        st.x.media[media_id] = item
    return item


@routes.post(API, "/2/media/upload/initialize")
async def media_initialize(call: Call) -> Response:
    tok = _auth(call, "media.write")

    def run() -> Response:
        body = call.json if isinstance(call.json, dict) else call.params
        media_type = body.get("media_type")
        category = body.get("media_category") or MEDIA_TYPES.get(media_type or "", "tweet_image")
        try:
            total = int(body.get("total_bytes") or 0)
        except (TypeError, ValueError):
            total = 0
        if media_type not in MEDIA_TYPES:
            raise invalid_request(f"media_type {media_type!r} is not supported.", {"media_type": [str(media_type)]})
        if category not in MAX_BYTES:
            raise invalid_request(f"media_category {category!r} is not supported.", {"media_category": [category]})
        if not 0 < total <= MAX_BYTES[category]:
            raise invalid_request(f"total_bytes must be between 1 and {MAX_BYTES[category]} for {category}.",
                                  {"total_bytes": [str(total)]})
        item = _new_media(call, tok, media_type, total, category)
        return json_response({"data": {"id": item["id"], "media_key": item["media_key"],
                                       "expires_after_secs": 86400}})

    return _answer(call, tok, "media", run)


@routes.post(API, "/2/media/upload/{media_id}/append")
async def media_append(call: Call) -> Response:
    tok = _auth(call, "media.write")

    def run() -> Response:
        item = call.st.x.media.get(call.path_param("media_id"))
        if item is None or item["owner"] != tok.account_id or item["finalized_at"] is not None:
            raise invalid_request("The media_id is invalid or already finalized.", {"id": [call.path_param("media_id")]})
        try:
            index = int(call.param("segment_index"))
        except (TypeError, ValueError):
            raise invalid_request("segment_index is required and must be an integer.") from None
        if "media" in call.files:
            chunk = call.files["media"][2]
        elif call.param("media_data"):
            chunk = base64.b64decode(call.param("media_data"))
        else:
            raise invalid_request("Missing media field.", {"media": []})
        if len(chunk) > 8 * 2**20:
            raise invalid_request("A segment must be at most 8 MB.", {"media": []})
        with call.st.lock:
            item["segments"][index] = len(chunk)
            if index == 0:
                item["head"] = bytes(chunk[:65536])
        return json_response({"data": {"expires_at": int(item["created_at"] + 86400)}})

    return _answer(call, tok, "media", run)


def _finalize(call: Call, item: dict) -> dict:
    size = sum(item["segments"].values())
    if size != item["total_bytes"]:
        raise invalid_request("Segments do not add up to provided total file size.",
                              {"total_bytes": [str(item["total_bytes"])]})
    if sorted(item["segments"]) != list(range(len(item["segments"]))):
        raise invalid_request("Segments must be numbered from 0 without gaps.")
    info = media.probe(item["head"])
    want = "image" if item["category"] in ("tweet_image", "tweet_gif", "dm_image", "dm_gif") else "video"
    with call.st.lock:
        item["finalized_at"] = call.now()
        item["invalid"] = info.kind != want
    if item["invalid"] and item["category"] == "tweet_image":
        raise invalid_request("media type unrecognized.", {"media": []})
    data = {"id": item["id"], "media_key": item["media_key"], "size": size, "expires_after_secs": 86400}
    processing = _processing_info(call, item)
    if processing:
        data["processing_info"] = processing
    else:
        data["image"] = {"image_type": item["media_type"], "w": info.width, "h": info.height}
    return data


@routes.post(API, "/2/media/upload/{media_id}/finalize")
async def media_finalize(call: Call) -> Response:
    tok = _auth(call, "media.write")

    def run() -> Response:
        item = call.st.x.media.get(call.path_param("media_id"))
        if item is None or item["owner"] != tok.account_id or item["finalized_at"] is not None:
            raise invalid_request("The media_id is invalid or already finalized.", {"id": [call.path_param("media_id")]})
        return json_response({"data": _finalize(call, item)})

    return _answer(call, tok, "media", run)


@routes.route(API, "/2/media/upload", ("GET", "POST"))
async def media_upload(call: Call) -> Response:
    tok = _auth(call, "media.write")

    def run() -> Response:
        command = (call.param("command") or "").upper()
        if call.method == "GET":
            if command != "STATUS":
                raise invalid_request("command must be STATUS.", {"command": [command]})
            item = call.st.x.media.get(str(call.param("media_id") or ""))
            if item is None or item["owner"] != tok.account_id:
                raise invalid_request("The media_id is invalid.", {"media_id": [str(call.param("media_id"))]})
            data = {"id": item["id"], "media_key": item["media_key"]}
            processing = _processing_info(call, item)
            if processing:
                data["processing_info"] = processing
            return json_response({"data": data})
        if command:
            # The v1.1-style INIT/APPEND/FINALIZE commands on this path are gone; the dedicated paths replaced them.
            raise invalid_request("Missing media field in JSON.", {"media": []})
        if "media" not in call.files:
            raise invalid_request("Missing media field.", {"media": []})
        filename, ctype, blob = call.files["media"]
        info = media.probe(blob)
        if info.kind != "image":
            raise invalid_request("Only images can be uploaded in one request; use the chunked upload for video.")
        category = call.param("media_category") or "tweet_image"
        item = _new_media(call, tok, f"image/{info.fmt}", len(blob), category)
        item["segments"][0] = len(blob)
        item["head"] = bytes(blob[:65536])
        return json_response({"data": _finalize(call, item)})

    return _answer(call, tok, "media", run)


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    client = st.config.client("x")
    scopes = scopes or ["tweet.read", "tweet.write", "users.read", "media.write", "offline.access"]
    access = oauth.mint(st, "x", account.id, client["client_id"], scopes, st.config.x_access_s)
    refresh = oauth.mint(st, "x", account.id, client["client_id"], scopes, None, kind="refresh",
                         grant_id=access.grant_id)
    return {"user_id": account.id, "username": account.handle, "access_token": access.value,
            "expires_in": int(st.config.x_access_s), "refresh_token": refresh.value}

"""Bluesky (AT Protocol): app-password sessions, records, blobs, feeds and profiles, XRPC errors.

Served on the entryway (bsky.social) and on one PDS (the host every sandbox DID document names), so a
client that follows the session's didDoc is exercised too. Sandbox accounts: any valid handle
(`name.bsky.social`) logs in with the app password `sandbox-app-password` (config `bsky_app_password`)
and is created on first use; the main password `sandbox-main-password` answers like an account with
email sign-in codes on (401 AuthFactorTokenRequired), anything else is a wrong password.

What the real PDS does and this one reproduces:
- accessJwt (2 h) and refreshJwt (90 days) are JWTs with `exp`; refreshSession rotates the refresh JWT
  (the old one is revoked). An expired token is HTTP 400 {"error":"ExpiredToken"}.
- createRecord validates app.bsky.feed.post: 300 graphemes and 3000 bytes of text, createdAt, at most
  3 langs, facets (byte offsets inside the text), up to 4 images with alt text, each blob at most
  1,000,000 bytes; a client-chosen rkey must be a TID, and one already taken is the PDS's 500
  InternalServerError (atproto#3718). With `bsky_client_rkeys` false it is a PDS that refuses any
  client-chosen post key (400 InvalidRequest "Custom rkeys for posts are not currently supported").
- Writes cost points (create 3, delete 1) against 5000/hour and 35,000/day per DID, with
  ratelimit-limit/-remaining/-reset/-policy headers; createSession is limited per handle.
https://docs.bsky.app/docs/api/com-atproto-repo-create-record , https://docs.bsky.app/docs/advanced-guides/rate-limits
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from datetime import datetime, timezone

from starlette.responses import Response

from core.rules.validation import count_text
from sandbox import insights, media, oauth
from sandbox.state import Account, Post, State, Token, iso, stable_str
from sandbox.web import Call, Reply, RouteTable, json_response

routes = RouteTable("bluesky")
ENTRYWAY = "bsky.social"
PDS = "morel.us-east.host.bsky.network"
HOSTS = (ENTRYWAY, PDS)
POST = "app.bsky.feed.post"
_HANDLE = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_RKEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def xrpc_error(name: str, message: str, status: int = 400, headers: dict | None = None) -> Response:
    return json_response({"error": name, "message": message}, status, headers)


def server_error(status: int = 500) -> Response:
    words = {502: ("UpstreamFailure", "Upstream Failure"), 503: ("NotEnoughResources", "Service Unavailable")}
    name, message = words.get(status, ("InternalServerError", "Internal Server Error"))
    return xrpc_error(name, message, status)


def rate_limited(call: Call | None = None) -> Response:
    now = call.now() if call else time.time()
    return xrpc_error("RateLimitExceeded", "Rate Limit Exceeded", 429,
                      {"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(int(now + 300)),
                       "ratelimit-policy": "3000;w=300"})


def not_found(call: Call) -> Response:
    return xrpc_error("MethodNotImplemented", "Method Not Implemented", 501)


def _ns(st: State):
    return st.bsky


def _route(nsid: str, http: str = "GET"):
    """Register a handler for /xrpc/<nsid> on the entryway and on the PDS."""
    def register(fn):
        for host in HOSTS:
            routes.route(host, f"/xrpc/{nsid}", (http,))(fn)
        return fn
    return register


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def _cid(prefix: str, payload: bytes) -> str:
    """A CID-shaped string: bafyrei (records) or bafkrei (raw blobs) + base32 of the SHA-256."""
    return prefix + _b32(hashlib.sha256(payload).digest())


def _time(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------ accounts
def _create_account(st: State, account: Account) -> None:
    handle = account.handle.lower()
    if "." not in handle:                      # /_control/accounts names like "sandbox_0001"
        handle = handle.replace("_", "-") + ".bsky.social"
    did = "did:plc:" + stable_str(st.seed, "bluesky", handle, length=24, alphabet=_B32)
    account.extra.update(did=did, bsky_handle=handle)
    account.name = handle.split(".")[0].replace("-", " ").replace("_", " ").title()
    _ns(st).by_handle[handle] = account.id
    _ns(st).by_did[did] = account.id


oauth.ACCOUNT_HOOKS["bluesky"] = _create_account


def _account(st: State, actor: str | None) -> Account | None:
    """The account for a DID or handle."""
    actor = (actor or "").lower().lstrip("@")
    account_id = _ns(st).by_did.get(actor) or _ns(st).by_handle.get(actor)
    return st.account("bluesky", account_id) if account_id else None


def _did(account: Account) -> str:
    return account.extra["did"]


def _handle(account: Account) -> str:
    return account.extra["bsky_handle"]


def _did_doc(account: Account) -> dict:
    return {"@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": _did(account), "alsoKnownAs": [f"at://{_handle(account)}"],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": f"https://{PDS}"}]}


# -------------------------------------------------------------------- tokens
def _jwt(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{part({'typ': 'at+jwt' if claims['scope'] != 'com.atproto.refresh' else 'refresh+jwt', 'alg': 'HS256'})}" \
           f".{part(claims)}.{secrets.token_urlsafe(32)}"


def _mint(st: State, account: Account, kind: str, grant_id: str | None = None) -> Token:
    now, cfg = st.now(), st.config
    ttl = cfg.bsky_access_s if kind == "access" else cfg.bsky_refresh_s
    claims = {"scope": "com.atproto.appPass" if kind == "access" else "com.atproto.refresh", "sub": _did(account),
              "aud": f"did:web:{PDS}", "iat": int(now), "exp": int(now + ttl)}
    if kind == "refresh":
        claims["jti"] = secrets.token_urlsafe(24)
    token = Token(value=_jwt(claims), platform="bluesky", kind=kind, account_id=account.id, client_id="app-password",
                  scopes=("com.atproto.appPass",), issued_at=now, expires_at=now + ttl,
                  grant_id=grant_id or secrets.token_hex(8))
    with st.lock:
        st.tokens[token.value] = token
    return token


def _session(call: Call, account: Account, grant_id: str | None = None) -> dict:
    access = _mint(call.st, account, "access", grant_id)
    refresh = _mint(call.st, account, "refresh", access.grant_id)
    return {"did": _did(account), "handle": _handle(account), "email": f"{_handle(account)}@example.com",
            "emailConfirmed": True, "emailAuthFactor": False, "accessJwt": access.value, "refreshJwt": refresh.value,
            "didDoc": _did_doc(account), "active": True}


def _auth(call: Call, kind: str = "access") -> Token:
    if not call.token:
        raise Reply(xrpc_error("AuthMissing", "Authentication Required", 401))
    tok = call.st.tokens.get(call.token)
    if tok is None or tok.platform != "bluesky":
        raise Reply(xrpc_error("InvalidToken", "Token could not be verified"))
    if tok.kind != kind:
        raise Reply(xrpc_error("InvalidToken", "Bad token scope"))
    status = tok.status(call.now())
    if status == "revoked":
        raise Reply(xrpc_error("InvalidToken", "Token has been revoked"))
    if status == "expired":
        raise Reply(xrpc_error("ExpiredToken", "Token has expired"))
    return tok


def _me(call: Call, tok: Token) -> Account:
    return call.st.account("bluesky", tok.account_id)


def _count(call: Call, key: tuple, limit: int, window_s: float, cost: int = 1) -> dict:
    """Spend `cost` points in a fixed window; 429 RateLimitExceeded when it would go over. Returns headers."""
    st, now = call.st, call.now()
    with st.lock:
        window = _ns(st).points.get(key)
        if window is None or now >= window[0] + window_s:
            window = _ns(st).points[key] = [now, 0]
        headers = {"ratelimit-limit": str(limit), "ratelimit-reset": str(int(window[0] + window_s)),
                   "ratelimit-policy": f"{limit};w={int(window_s)}"}
        if window[1] + cost > limit:
            raise Reply(xrpc_error("RateLimitExceeded", "Rate Limit Exceeded", 429,
                                   {**headers, "ratelimit-remaining": "0"}))
        window[1] += cost
        headers["ratelimit-remaining"] = str(limit - window[1])
    return headers


def _writes(call: Call, did: str, cost: int) -> dict:
    """Write points per DID: the hourly window's headers, unless the daily one is the tighter."""
    cfg = call.cfg
    hour = _count(call, ("hour", did), cfg.bsky_points_hour, 3600, cost)
    day = _count(call, ("day", did), cfg.bsky_points_day, 86400, cost)
    return day if int(day["ratelimit-remaining"]) < int(hour["ratelimit-remaining"]) else hour


# ------------------------------------------------------------------ sessions
@_route("com.atproto.server.createSession", "POST")
async def create_session(call: Call) -> Response:
    identifier = str(call.param("identifier") or "").strip().lower().lstrip("@")
    password = str(call.param("password") or "")
    if not identifier or not password:
        return xrpc_error("InvalidRequest", "Input must have the properties \"identifier\" and \"password\"")
    cfg = call.cfg
    headers = _count(call, ("session5", identifier), cfg.bsky_sessions_5min, 300)
    _count(call, ("sessionday", identifier), cfg.bsky_sessions_day, 86400)
    account = _account(call.st, identifier)
    if account is None and "@" in identifier:      # an email address
        account = _account(call.st, identifier.split("@")[0])
    if account is None and _HANDLE.match(identifier):
        account = oauth.ensure_account(call.st, "bluesky", identifier)
    if account is None or password not in (cfg.bsky_app_password, cfg.bsky_main_password):
        return xrpc_error("AuthenticationRequired", "Invalid identifier or password", 401, headers)
    if password == cfg.bsky_main_password:
        return xrpc_error("AuthFactorTokenRequired", "A sign in code has been sent to your email address", 401,
                          headers)
    return json_response(_session(call, account), headers=headers)


@_route("com.atproto.server.refreshSession", "POST")
async def refresh_session(call: Call) -> Response:
    tok = _auth(call, "refresh")
    with call.st.lock:
        tok.revoked = True                        # rotation: the old refresh JWT dies with this use
    return json_response(_session(call, _me(call, tok), grant_id=tok.grant_id))


@_route("com.atproto.server.getSession")
async def get_session(call: Call) -> Response:
    account = _me(call, _auth(call))
    return json_response({"did": _did(account), "handle": _handle(account), "didDoc": _did_doc(account),
                          "active": True})


@_route("com.atproto.server.deleteSession", "POST")
async def delete_session(call: Call) -> Response:
    tok = _auth(call, "refresh")
    oauth.revoke_grant(call.st, tok.grant_id)
    return Response(b"", status_code=200)


@_route("com.atproto.identity.resolveHandle")
async def resolve_handle(call: Call) -> Response:
    account = _account(call.st, call.param("handle"))
    if account is None:
        return xrpc_error("InvalidRequest", "Unable to resolve handle")
    return json_response({"did": _did(account)})


# -------------------------------------------------------------------- blobs
@_route("com.atproto.repo.uploadBlob", "POST")
async def upload_blob(call: Call) -> Response:
    tok = _auth(call)
    data = call.body
    if len(data) > call.cfg.bsky_blob_max_bytes:
        return xrpc_error("PayloadTooLarge", "request entity too large", 413)
    ctype = (call.header("content-type") or "application/octet-stream").split(";")[0].strip()
    info = media.probe(data)
    mime = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "mp4": "video/mp4",
            "mov": "video/quicktime", "webm": "video/webm"}.get(info.fmt, ctype)
    cid = _cid("bafkrei", data)
    with call.st.lock:
        _ns(call.st).blobs[cid] = {"owner": tok.account_id, "mime": mime, "size": len(data), "info": info}
    return json_response({"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}})


# ------------------------------------------------------------------ records
def _invalid(message: str) -> Reply:
    return Reply(xrpc_error("InvalidRequest", f"Invalid {POST} record: {message}"))


def _check_post(call: Call, tok: Token, record: dict) -> list[str]:
    """Validate an app.bsky.feed.post as the lexicon (and the emulator's facet check) does; its blob cids."""
    cfg = call.cfg
    text = record.get("text")
    if not isinstance(text, str):
        raise _invalid('Record must have the property "text"')
    if len(text.encode("utf-8")) > cfg.bsky_max_bytes:
        raise _invalid(f"Record/text must not be longer than {cfg.bsky_max_bytes} characters")
    if count_text(text, "graphemes") > cfg.bsky_max_graphemes:
        raise _invalid(f"Record/text must not be longer than {cfg.bsky_max_graphemes} graphemes")
    created = record.get("createdAt")
    if not isinstance(created, str):
        raise _invalid('Record must have the property "createdAt"')
    try:
        datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)") from None
    if len(record.get("langs") or []) > 3:
        raise _invalid("Record/langs must not have more than 3 elements")
    reply = record.get("reply")
    if reply is not None:
        for part in ("root", "parent"):
            ref = (reply or {}).get(part) if isinstance(reply, dict) else None
            if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str) or not isinstance(ref.get("cid"), str):
                raise _invalid(f'Record/reply/{part} must have the properties "uri" and "cid"')
            if call.st.find_post("bluesky", ref["uri"]) is None:
                raise _invalid(f"Record/reply/{part} is not a post that exists: {ref['uri']}")
    size = len(text.encode("utf-8"))
    for i, facet in enumerate(record.get("facets") or []):
        index = (facet or {}).get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not isinstance(start, int) or not isinstance(end, int):
            raise _invalid(f'Record/facets/{i}/index must have the properties "byteStart" and "byteEnd"')
        if not 0 <= start < end <= size:
            raise _invalid(f"Record/facets/{i}/index {start}..{end} is outside the text ({size} bytes); "
                           "facet offsets are UTF-8 byte offsets")
        for feature in facet.get("features") or []:
            kind = feature.get("$type")
            if kind == "app.bsky.richtext.facet#link" and not str(feature.get("uri", "")).startswith(("http", "at:")):
                raise _invalid(f"Record/facets/{i}/features/0/uri must be a uri")
            if kind == "app.bsky.richtext.facet#mention" and not str(feature.get("did", "")).startswith("did:"):
                raise _invalid(f"Record/facets/{i}/features/0/did must be a did")
            if kind == "app.bsky.richtext.facet#tag" and len(str(feature.get("tag", "")).encode()) > 640:
                raise _invalid(f"Record/facets/{i}/features/0/tag must not be longer than 640 characters")
    embed = record.get("embed") or {}
    cids: list[str] = []
    if embed.get("$type") == "app.bsky.embed.images":
        images = embed.get("images") or []
        if len(images) > cfg.bsky_max_images:
            raise _invalid(f"Record/embed/images must not have more than {cfg.bsky_max_images} elements")
        for i, image in enumerate(images):
            if "alt" not in image:
                raise _invalid(f'Record/embed/images/{i} must have the property "alt"')
            cid = ((image.get("image") or {}).get("ref") or {}).get("$link")
            blob = _ns(call.st).blobs.get(cid or "")
            if blob is None or blob["owner"] != tok.account_id:
                raise Reply(xrpc_error("InvalidRequest", f"Could not find blob: {cid}"))
            if not blob["mime"].startswith("image/"):
                raise Reply(xrpc_error("InvalidMimeType", f"Wrong type of file. It is {blob['mime']} but it must "
                                                          "match image/*."))
            if blob["size"] > cfg.bsky_image_max_bytes:
                raise Reply(xrpc_error("BlobTooLarge", f"This file is too large. It is {blob['size'] / 1e6:.2f}MB but "
                                                       f"the maximum size is {cfg.bsky_image_max_bytes / 1e6:.2f}MB."))
            cids.append(cid)
    elif embed.get("$type") == "app.bsky.embed.external":
        external = embed.get("external") or {}
        for name in ("uri", "title", "description"):
            if not isinstance(external.get(name), str):
                raise _invalid(f'Record/embed/external must have the property "{name}"')
    return cids


@_route("com.atproto.repo.createRecord", "POST")
async def create_record(call: Call) -> Response:
    tok = _auth(call)
    st, now = call.st, call.now()
    account = _me(call, tok)
    body = call.json if isinstance(call.json, dict) else {}
    repo = _account(st, body.get("repo"))
    if repo is None:
        return xrpc_error("InvalidRequest", f"Could not find repo: {body.get('repo')}")
    if repo.id != account.id:
        return xrpc_error("AuthRequired", "Authentication Required", 401)
    collection = str(body.get("collection") or "")
    record = body.get("record")
    if not isinstance(record, dict) or not re.match(r"^[a-zA-Z][\w-]*(\.[\w-]+){2,}$", collection):
        return xrpc_error("InvalidRequest", 'Input must have the properties "repo", "collection" and "record"')
    record = {"$type": collection, **record}
    if record["$type"] != collection:
        return xrpc_error("InvalidRequest", f"Invalid $type: expected {collection}, got {record['$type']}")
    headers = _writes(call, _did(account), 3)
    try:
        rkey = body.get("rkey")
        if rkey is not None and collection == POST and not call.cfg.bsky_client_rkeys:
            # Some PDS implementations choose every post's key themselves (config bsky_client_rkeys: false).
            raise Reply(xrpc_error("InvalidRequest", "Custom rkeys for posts are not currently supported"))
        if rkey is not None and not (_TID.match(str(rkey)) if collection == POST else _RKEY.match(str(rkey))):
            raise Reply(xrpc_error("InvalidRequest", f"Invalid record key: {rkey}"))
        cids = _check_post(call, tok, record) if collection == POST else []
        rkey = str(rkey or _next_tid(st, now))
        key = (_did(account), collection, rkey)
        uri = f"at://{_did(account)}/{collection}/{rkey}"
        with st.lock:
            taken = key in _ns(st).records
            if not taken:
                cid = _cid("bafyrei", json.dumps(record, sort_keys=True).encode())
                _ns(st).records[key] = {"uri": uri, "cid": cid, "value": record, "created": now}
        if taken:
            # The reference PDS has no answer for a taken key but its 500 (atproto#3718).
            st.reject_duplicate("bluesky", account.id, str(record.get("text") or ""), call.request_id)
            raise Reply(server_error(500))
        if collection == POST:
            st.add_post(Post(platform="bluesky", account=account.id, external_id=uri, text=record["text"], media=cids,
                             received_at=iso(time.time()), request_id=call.request_id, published_at=now,
                             url=f"https://bsky.app/profile/{_handle(account)}/post/{rkey}",
                             extra={"rkey": rkey, "cid": cid, "facets": record.get("facets") or [],
                                    "langs": record.get("langs") or [], "embed": record.get("embed"),
                                    "in_reply_to": ((record.get("reply") or {}).get("parent") or {}).get("uri")}))
        response = json_response({"uri": uri, "cid": cid, "commit": {"cid": _cid("bafyrei", uri.encode()),
                                                                    "rev": _next_tid(st, now)},
                                  "validationStatus": "valid"})
    except Reply as reply:
        response = reply.response
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _next_tid(st: State, now: float) -> str:
    n = ((int(now * 1_000_000) + st.next("bsky-tid")) << 10) | (st.seed % 1024)
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[(n >> (5 * i)) & 31] for i in reversed(range(13)))


@_route("com.atproto.repo.deleteRecord", "POST")
async def delete_record(call: Call) -> Response:
    tok = _auth(call)
    account = _me(call, tok)
    body = call.json if isinstance(call.json, dict) else {}
    headers = _writes(call, _did(account), 1)
    key = (_did(account), str(body.get("collection")), str(body.get("rkey")))
    with call.st.lock:
        record = _ns(call.st).records.pop(key, None)
    if record is not None:
        post = call.st.find_post("bluesky", record["uri"])
        if post is not None:
            post.deleted = True
    return json_response({"commit": {"cid": _cid("bafyrei", repr(key).encode()), "rev": _next_tid(call.st, call.now())}},
                         headers=headers)


@_route("com.atproto.repo.getRecord")
async def get_record(call: Call) -> Response:
    _auth(call)
    repo = _account(call.st, call.param("repo"))
    collection, rkey = call.param("collection"), call.param("rkey")
    uri = f"at://{call.param('repo')}/{collection}/{rkey}"
    record = _ns(call.st).records.get((_did(repo), collection, rkey)) if repo else None
    if record is None:
        return xrpc_error("RecordNotFound", f"Could not locate record: {uri}")
    return json_response({"uri": record["uri"], "cid": record["cid"], "value": record["value"]})


def _limit(call: Call, default: int = 50) -> int:
    raw = call.param("limit")
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = -1
    if not 1 <= value <= 100:
        raise Reply(xrpc_error("InvalidRequest", "Error: limit must be <= 100" if value > 100 else
                               "Error: limit must be >= 1"))
    return value


@_route("com.atproto.repo.listRecords")
async def list_records(call: Call) -> Response:
    _auth(call)
    repo = _account(call.st, call.param("repo"))
    if repo is None:
        return xrpc_error("InvalidRequest", f"Could not find repo: {call.param('repo')}")
    limit, collection = _limit(call), call.param("collection")
    records = [(k[2], r) for k, r in _ns(call.st).records.items() if k[0] == _did(repo) and k[1] == collection]
    items = sorted(call.listed("bluesky", records, made=lambda kr: kr[1]["created"]),
                   key=lambda kr: kr[0], reverse=call.param("reverse") not in ("true", True))
    cursor = call.param("cursor")
    if cursor:
        reverse = call.param("reverse") in ("true", True)
        items = [kr for kr in items if (kr[0] > cursor if reverse else kr[0] < cursor)]
    chunk = items[:limit]
    body: dict = {"records": [{"uri": r["uri"], "cid": r["cid"], "value": r["value"]} for _, r in chunk]}
    if len(items) > limit:
        body["cursor"] = chunk[-1][0]
    return json_response(body)


# -------------------------------------------------------------------- views
def _profile_basic(account: Account) -> dict:
    return {"did": _did(account), "handle": _handle(account), "displayName": account.name, "labels": [],
            "createdAt": _time(account.created_at)}


def _post_view(call: Call, post: Post) -> dict:
    st = call.st
    account = st.account("bluesky", post.account)
    record = _ns(st).records.get((_did(account), POST, post.extra["rkey"]))
    m = insights.post_metrics(st, post)
    view = {"uri": post.external_id, "cid": post.extra["cid"], "author": _profile_basic(account),
            "record": record["value"] if record else {"$type": POST, "text": post.text},
            "replyCount": m["comments"], "repostCount": m["shares"], "likeCount": m["likes"],
            "quoteCount": m["quotes"], "bookmarkCount": m["bookmarks"], "indexedAt": _time(post.published_at),
            "labels": []}
    embed = post.extra.get("embed") or {}
    if embed.get("$type") == "app.bsky.embed.images":
        view["embed"] = {"$type": "app.bsky.embed.images#view", "images": [
            {"thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{_did(account)}/{i['image']['ref']['$link']}@jpeg",
             "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{_did(account)}/{i['image']['ref']['$link']}@jpeg",
             "alt": i.get("alt", ""), **({"aspectRatio": i["aspectRatio"]} if i.get("aspectRatio") else {})}
            for i in embed.get("images") or []]}
    elif embed.get("$type") == "app.bsky.embed.external":
        view["embed"] = {"$type": "app.bsky.embed.external#view", "external": embed["external"]}
    return view


@_route("app.bsky.feed.getPosts")
async def get_posts(call: Call) -> Response:
    _auth(call)
    uris = call.query.getlist("uris")
    if len(uris) > 25:
        return xrpc_error("InvalidRequest", "Error: uris must not have more than 25 elements")
    posts = [call.st.find_post("bluesky", u) for u in uris]
    return json_response({"posts": [_post_view(call, p) for p in posts if p is not None]})


@_route("app.bsky.feed.getAuthorFeed")
async def get_author_feed(call: Call) -> Response:
    _auth(call)
    account = _account(call.st, call.param("actor"))
    if account is None:
        return xrpc_error("InvalidRequest", "Profile not found")
    limit = _limit(call)
    posts = sorted(call.listed("bluesky", call.st.live_posts("bluesky", account.id)), key=lambda p: p.extra["rkey"],
                   reverse=True)
    cursor = call.param("cursor")
    if cursor:
        posts = [p for p in posts if p.extra["rkey"] < cursor]
    chunk = posts[:limit]
    body: dict = {"feed": [{"post": _post_view(call, p)} for p in chunk]}
    if len(posts) > limit:
        body["cursor"] = chunk[-1].extra["rkey"]
    return json_response(body)


@_route("app.bsky.actor.getProfile")
async def get_profile(call: Call) -> Response:
    _auth(call)
    account = _account(call.st, call.param("actor"))
    if account is None:
        return xrpc_error("InvalidRequest", "Profile not found")
    st = call.st
    return json_response({**_profile_basic(account), "description": "Sandbox account",
                          "followersCount": insights.account_followers(st, "bluesky", account.id),
                          "followsCount": insights.following(st.seed, "bluesky", account.id),
                          "postsCount": len(st.live_posts("bluesky", account.id)),
                          "indexedAt": _time(account.created_at)})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    access = _mint(st, account, "access")
    refresh = _mint(st, account, "refresh", access.grant_id)
    return {"did": _did(account), "handle": _handle(account), "access_token": access.value,
            "refresh_token": refresh.value, "pds": f"https://{PDS}"}

"""LinkedIn: OAuth 2, the versioned /rest API (Posts, Images, Videos, analytics) and /v2/userinfo.

Every /rest call needs `LinkedIn-Version: YYYYMM` (missing: 400 VERSION_MISSING; older than
the 12-month support window or not yet released: 426 NONEXISTENT_VERSION) and
`X-Restli-Protocol-Version: 2.0.0`. A post is created with 201, an empty body and its URN in
`x-restli-id`. Commentary is "little text": an unescaped reserved character silently
truncates the stored post there while the API still says 201.
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from starlette.responses import Response

from sandbox import insights, media, oauth
from sandbox.state import Comment, Account, Post, State, Token, iso, stable_int, stable_str
from sandbox.web import Call, Reply, RouteTable, empty_response, json_response

routes = RouteTable("linkedin")
# LinkedIn really answers a cancelled consent with error=user_cancelled_authorize.
SPEC = oauth.OAuthSpec("linkedin", "LinkedIn", scope_sep=" ", deny_error="user_cancelled_authorize")
WWW, API = "www.linkedin.com", "api.linkedin.com"
PART_SIZE = 4 * 1024 * 1024
RESERVED = set("\\|{}@[]()<>#*_~")
MENTION = re.compile(r"@\[([^\]]*)\]\((urn:li:(?:person|organization):[^)]+)\)")
HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\#\|([^}]+)\}")
QUERY_TYPES = ("IMPRESSION", "MEMBERS_REACHED", "REACTION", "COMMENT", "RESHARE")


def error(status: int, message: str, code: str | None = None, service_code: int | None = None,
          **extra) -> Response:
    body: dict = {"status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    if code:
        body["code"] = code
    body["message"] = message
    body.update(extra)
    return json_response(body, status, {"x-li-uuid": secrets.token_urlsafe(16)})


def server_error(status: int = 500) -> Response:
    return error(status, "Internal Server Error" if status == 500 else "Service Unavailable")


def rate_limited() -> Response:
    return error(429, "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
                 "TOO_MANY_REQUESTS")


def not_found(call: Call) -> Response:
    return error(404, "No virtual resource found", "RESOURCE_NOT_FOUND")


# ------------------------------------------------------------------ accounts
def _create_member(st: State, account: Account) -> None:
    """A member (person id like 'aB3dE5fG7h') who administers one organization."""
    person = stable_str("li-person", st.seed, account.handle, length=10)
    org_id = str(stable_int(st.seed, "li-org", account.handle, digits=8))
    # The account is keyed by its numeric id; the person id is what URNs and /v2/userinfo use.
    account.extra.update(person=person, urn=f"urn:li:person:{person}", orgs=[f"urn:li:organization:{org_id}"])
    org = Account(platform="linkedin", id=f"urn:li:organization:{org_id}", handle=f"{account.handle}-org",
                  name=f"{account.name} Inc.", created_at=account.created_at, extra={"kind": "organization",
                                                                                       "admin": account.id})
    st.accounts[("linkedin", org.id)] = org
    st.accounts[("linkedin", account.extra["urn"])] = account
    st.li.orgs[org.id] = org


oauth.ACCOUNT_HOOKS["linkedin"] = _create_member


def _member(st: State, token: Token) -> Account:
    return st.accounts[("linkedin", token.account_id)]


# -------------------------------------------------------------------- oauth
@routes.route(WWW, "/oauth/v2/authorization", ("GET", "POST"))
async def authorize(call: Call) -> Response:
    return await oauth.consent(call, SPEC)


def oauth_error(error_code: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error_code, "error_description": description}, status)


def _client(call: Call) -> Response | None:
    p = call.params
    if not oauth.client_ok(call.st, "linkedin", p.get("client_id"), p.get("client_secret")):
        return oauth_error("invalid_client", "Client authentication failed", 401)
    return None


def _token_body(call: Call, access: Token, refresh: Token | None) -> dict:
    body = {"access_token": access.value, "expires_in": round(access.expires_at - call.now()),
            "scope": ",".join(access.scopes)}
    if refresh is not None:
        body["refresh_token"] = refresh.value
        body["refresh_token_expires_in"] = round(refresh.expires_at - call.now())
    if "openid" in access.scopes:
        body["id_token"] = "eyJhbGciOiJub25lIn0." + stable_str("idt", access.value, length=40) + "."
        body["token_type"] = "Bearer"
    return body


@routes.post(WWW, "/oauth/v2/accessToken")
async def access_token(call: Call) -> Response:
    bad = _client(call)
    if bad:
        return bad
    st, p, cfg = call.st, call.params, call.cfg
    grant = p.get("grant_type")
    if grant == "authorization_code":
        try:
            code = oauth.redeem_code(st, "linkedin", p.get("code"), p.get("client_id"), p.get("redirect_uri"))
        except oauth.CodeError:
            return oauth_error("invalid_request", "Unable to retrieve access token: appid/redirect uri/code verifier "
                                                  "does not match authorization code. Or authorization code expired. "
                                                  "Or external member binding exists")
        access = oauth.mint(st, "linkedin", code.account_id, code.client_id, code.scopes, cfg.li_access_s)
        refresh = None
        if cfg.li_issue_refresh_tokens:
            refresh = oauth.mint(st, "linkedin", code.account_id, code.client_id, code.scopes, cfg.li_refresh_s,
                                 kind="refresh", grant_id=access.grant_id)
        return json_response(_token_body(call, access, refresh))
    if grant == "refresh_token":
        token, status = oauth.lookup(st, p.get("refresh_token"), "linkedin", ("refresh",))
        if status != "ok" or token.client_id != p.get("client_id"):
            return oauth_error("invalid_request", "The provided refresh token is invalid or has expired")
        # A new 60-day access token; the refresh token keeps its original expiry (no sliding TTL).
        access = oauth.mint(st, "linkedin", token.account_id, token.client_id, token.scopes, cfg.li_access_s,
                            grant_id=token.grant_id)
        return json_response(_token_body(call, access, token))
    return oauth_error("unsupported_grant_type", "The grant type is not supported")


@routes.post(WWW, "/oauth/v2/introspectToken")
async def introspect(call: Call) -> Response:
    bad = _client(call)
    if bad:
        return bad
    token = call.st.tokens.get(call.param("token") or "")
    if token is None or token.platform != "linkedin":
        return json_response({"active": False})
    status = {"ok": "active", "expired": "expired", "revoked": "revoked"}[token.status(call.now())]
    return json_response({"active": status == "active", "client_id": token.client_id,
                          "authorized_at": int(token.issued_at), "created_at": int(token.issued_at),
                          "status": status, "expires_at": int(token.expires_at or 0), "scope": ",".join(token.scopes),
                          "auth_type": "3L"})


@routes.post(WWW, "/oauth/v2/revoke")
async def revoke(call: Call) -> Response:
    bad = _client(call)
    if bad:
        return bad
    token = call.st.tokens.get(call.param("token") or "")
    if token is not None and token.platform == "linkedin":
        oauth.revoke_grant(call.st, token.grant_id)
    return empty_response(200)


# ---------------------------------------------------------------- API checks
def _auth(call: Call) -> Token:
    token, status = oauth.lookup(call.st, call.token, "linkedin")
    if status == "missing":
        raise Reply(error(401, "Empty oauth2_access_token", service_code=401))
    if status == "invalid":
        raise Reply(error(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600))
    if status == "revoked":
        raise Reply(error(401, "The token used in the request has been revoked by the user", "REVOKED_ACCESS_TOKEN",
                          65601))
    if status == "expired":
        raise Reply(error(401, "The token used in the request has expired", "EXPIRED_ACCESS_TOKEN", 65602))
    return token


def _version_active(value: str, now: datetime) -> bool:
    match = re.fullmatch(r"(\d{4})(\d{2})(?:\.\d{2})?", value)
    if not match:
        return False
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return False
    age = (now.year * 12 + now.month) - (year * 12 + month)
    # Each monthly version lives at least 12 months; it is switched off mid-month a year on.
    return 0 <= age < 12 or (age == 12 and now.day < 15)


def rest(call: Call, scopes: tuple[str, ...] = ()) -> Token:
    """The checks every /rest call goes through: version header, Rest.li protocol header, token, scope."""
    version = (call.header("linkedin-version") or "").strip()
    if not version:
        raise Reply(error(400, "A version must be present. Please specify a version by adding the LinkedIn-Version "
                               "header.", "VERSION_MISSING"))
    if not _version_active(version, call.st.clock.dt()):
        label = version.split(".")[0]
        raise Reply(error(426, f"Requested version {label}01 is not active" if len(label) == 6
                          else f"Requested version {version} is not active", "NONEXISTENT_VERSION"))
    if (call.header("x-restli-protocol-version") or "").strip() != "2.0.0":
        raise Reply(error(400, "The X-Restli-Protocol-Version header must be 2.0.0 on versioned APIs",
                          "ILLEGAL_ARGUMENT"))
    token = _auth(call)
    if scopes and not any(s in token.scopes for s in scopes):
        raise Reply(error(403, f"Not enough permissions to access: {call.request.url.path.split('/')[-1]}."
                               f"{call.method} (requires {scopes[0]})", "ACCESS_DENIED", 100))
    return token


def _can_act_as(st: State, token: Token, urn: str, person_scope: str, org_scope: str) -> bool:
    member = _member(st, token)
    if urn == member.extra["urn"]:
        return person_scope in token.scopes
    return urn in member.extra["orgs"] and org_scope in token.scopes


# ------------------------------------------------------------------ profile
@routes.get(API, "/v2/userinfo")
async def userinfo(call: Call) -> Response:
    token = _auth(call)
    if "openid" not in token.scopes and "profile" not in token.scopes:
        return error(403, "Not enough permissions to access: userinfo.GET.NO_VERSION", "ACCESS_DENIED", 100)
    member = _member(call.st, token)
    first, _, last = member.name.partition(" ")
    return json_response({"sub": member.extra["person"], "email_verified": True, "name": member.name,
                          "locale": {"country": "US", "language": "en"}, "given_name": first,
                          "family_name": last or first, "email": f"{member.handle}@sandbox.invalid",
                          "picture": f"{call.origin}/_media/sample.jpg?w=100&h=100"})


@routes.get(API, "/v2/me")
async def me(call: Call) -> Response:
    token = _auth(call)
    member = _member(call.st, token)
    first, _, last = member.name.partition(" ")
    return json_response({"id": member.extra["person"], "localizedFirstName": first,
                          "localizedLastName": last or first, "vanityName": member.handle})


@routes.get(API, "/rest/organizationAcls")
async def organization_acls(call: Call) -> Response:
    token = rest(call)
    member = _member(call.st, token)
    elements = [{"roleAssignee": member.extra["urn"], "role": "ADMINISTRATOR", "state": "APPROVED",
                 "organization": org} for org in member.extra["orgs"]]
    return json_response({"paging": {"count": 10, "start": 0, "total": len(elements)}, "elements": elements})


@routes.get(API, "/rest/organizations/{org_id}")
async def organization(call: Call) -> Response:
    rest(call)
    org = call.st.li.orgs.get(f"urn:li:organization:{call.path_param('org_id')}")
    if org is None:
        return not_found(call)
    return json_response({"id": int(org.id.rsplit(":", 1)[1]), "localizedName": org.name, "vanityName": org.handle})


# ------------------------------------------------------------------- uploads
def _asset_id(st: State, kind: str) -> str:
    prefix = {"image": "D4E10AQ", "video": "D5610AQ"}[kind]
    return f"urn:li:{kind}:{prefix}{stable_str('li-asset', st.seed, kind, st.next('li-asset'), length=12)}"


@routes.post(API, "/rest/images")
async def images(call: Call) -> Response:
    token = rest(call, ("w_member_social", "w_organization_social"))
    if call.query.get("action") != "initializeUpload":
        return error(400, "Unsupported action", "ILLEGAL_ARGUMENT")
    owner = ((call.json or {}).get("initializeUploadRequest") or {}).get("owner")
    if not owner or not _can_act_as(call.st, token, owner, "w_member_social", "w_organization_social"):
        return error(403, "Not enough permissions to upload on behalf of this owner", "ACCESS_DENIED", 100)
    urn = _asset_id(call.st, "image")
    upload_id = secrets.token_urlsafe(12)
    expires = call.now() + 86400
    with call.st.lock:
        call.st.li.assets[urn] = {"kind": "image", "owner": owner, "status": "WAITING_UPLOAD", "size": 0,
                                  "created_at": call.now()}
        call.st.li.uploads[upload_id] = (urn, 0)
    url = call.url(WWW, f"/dms-uploads/sp/{upload_id}/uploaded-image/0?ca=vector_feedshare&cn=uploads&app=sandbox")
    return json_response({"value": {"uploadUrlExpiresAt": int(expires * 1000), "uploadUrl": url, "image": urn}})


@routes.post(API, "/rest/videos")
async def videos(call: Call) -> Response:
    token = rest(call, ("w_member_social", "w_organization_social"))
    action = call.query.get("action")
    st = call.st
    body = call.json or {}
    if action == "initializeUpload":
        req = body.get("initializeUploadRequest") or {}
        owner, size = req.get("owner"), req.get("fileSizeBytes")
        if not owner or not _can_act_as(st, token, owner, "w_member_social", "w_organization_social"):
            return error(403, "Not enough permissions to upload on behalf of this owner", "ACCESS_DENIED", 100)
        if not isinstance(size, int) or size <= 0:
            return error(400, "ERROR :: /initializeUploadRequest/fileSizeBytes :: field is required but not found and "
                              "has no default value", "FIELD_VALUE_MISSING")
        urn = _asset_id(st, "video")
        parts = []
        for index, first in enumerate(range(0, size, PART_SIZE)):
            upload_id = secrets.token_urlsafe(12)
            last = min(first + PART_SIZE, size) - 1
            parts.append({"upload_id": upload_id, "first": first, "last": last, "etag": None, "head": b""})
            with st.lock:
                st.li.uploads[upload_id] = (urn, index)
        with st.lock:
            st.li.assets[urn] = {"kind": "video", "owner": owner, "status": "WAITING_UPLOAD", "size": size,
                                 "parts": parts, "created_at": call.now(), "upload_token": ""}
        instructions = [{"uploadUrl": call.url(WWW, f"/dms-uploads/sp/{p['upload_id']}/uploaded-video/{i}"
                                                    "?ca=vector_feedshare&cn=uploads&app=sandbox"),
                         "firstByte": p["first"], "lastByte": p["last"]} for i, p in enumerate(parts)]
        return json_response({"value": {"uploadUrlsExpireAt": int((call.now() + 86400) * 1000), "video": urn,
                                        "uploadInstructions": instructions, "uploadToken": "",
                                        "captionsUploadUrl": "", "thumbnailUploadUrl": ""}})
    if action == "finalizeUpload":
        req = body.get("finalizeUploadRequest") or {}
        asset = st.li.assets.get(req.get("video") or "")
        if asset is None or asset["kind"] != "video":
            return error(404, "Video not found", "RESOURCE_NOT_FOUND")
        etags = [p["etag"] for p in asset["parts"]]
        if None in etags:
            return error(400, "Not all parts of the video were uploaded", "ILLEGAL_ARGUMENT")
        if list(req.get("uploadedPartIds") or []) != etags:
            return error(400, "uploadedPartIds do not match the uploaded parts (they must be the ETags, in order)",
                         "ILLEGAL_ARGUMENT")
        info = media.probe(asset["parts"][0]["head"])
        with st.lock:
            asset["status"] = "PROCESSING"
            asset["ready_at"] = call.now() + call.cfg.li_video_delay_s
            asset["failed"] = info.kind != "video"
            asset["duration"] = info.duration_s
        return empty_response(200)
    return error(400, "Unsupported action", "ILLEGAL_ARGUMENT")


@routes.put(WWW, "/dms-uploads/sp/{upload_id}/{kind}/{index}")
async def upload(call: Call) -> Response:
    _auth(call)
    st = call.st
    entry = st.li.uploads.get(call.path_param("upload_id"))
    if entry is None:
        return error(404, "Upload not found", "RESOURCE_NOT_FOUND")
    urn, index = entry
    asset = st.li.assets[urn]
    if asset["kind"] == "image":
        info = media.probe(call.body)
        with st.lock:
            asset.update(size=len(call.body), status="AVAILABLE" if info.kind == "image" else "PROCESSING_FAILED",
                         width=info.width, height=info.height)
        return empty_response(201)
    part = asset["parts"][index]
    expected = part["last"] - part["first"] + 1
    if len(call.body) != expected:
        return error(400, f"Part {index} must be exactly {expected} bytes (bytes {part['first']}-{part['last']})",
                     "ILLEGAL_ARGUMENT")
    etag = "/ambry-video/signedId/" + secrets.token_urlsafe(24)
    with st.lock:
        part["etag"] = etag
        if index == 0:
            part["head"] = bytes(call.body[:65536])
    return empty_response(200, {"etag": etag})


def _asset_status(call: Call, asset: dict) -> str:
    if asset["status"] == "PROCESSING" and call.now() >= asset.get("ready_at", 0):
        asset["status"] = "PROCESSING_FAILED" if asset.get("failed") else "AVAILABLE"
    return asset["status"]


@routes.get(API, "/rest/images/{urn}")
@routes.get(API, "/rest/videos/{urn}")
async def get_asset(call: Call) -> Response:
    rest(call)
    urn = call.path_param("urn")
    asset = call.st.li.assets.get(urn)
    if asset is None or urn.split(":")[2] != asset["kind"]:
        return error(404, f"{urn} does not exist", "RESOURCE_NOT_FOUND")
    body = {"owner": asset["owner"], "id": urn, "status": _asset_status(call, asset)}
    if asset["status"] == "AVAILABLE":
        body["downloadUrl"] = f"{call.origin}/_media/sample.{'jpg' if asset['kind'] == 'image' else 'mp4'}"
        body["downloadUrlExpiresAt"] = int((call.now() + 3600) * 1000)
    if asset["kind"] == "video":
        body["duration"] = int(asset.get("duration", 0) * 1000)
    return json_response(body)


# --------------------------------------------------------------------- posts
def little_text(commentary: str) -> tuple[str, bool]:
    """(what LinkedIn stores, whether it was truncated): the text up to the first unescaped reserved character.

    Backslash escapes a reserved character; `@[Name](urn:li:...)` mentions and
    `{hashtag|\\#|tag}` templates are the two constructs that may contain them.
    """
    out, i = [], 0
    while i < len(commentary):
        ch = commentary[i]
        if ch == "\\" and i + 1 < len(commentary) and commentary[i + 1] in RESERVED:
            out.append(commentary[i + 1])
            i += 2
            continue
        if ch == "@" and (m := MENTION.match(commentary, i)):
            out.append(m.group(1))
            i = m.end()
            continue
        if ch == "{" and (m := HASHTAG_TEMPLATE.match(commentary, i)):
            out.append("#" + m.group(1))
            i = m.end()
            continue
        if ch in RESERVED:
            return "".join(out), True
        out.append(ch)
        i += 1
    return "".join(out), False


def _field_missing(path: str) -> Reply:
    return Reply(error(422, f"ERROR :: {path} :: field is required but not found and has no default value\n",
                       "UNPROCESSABLE_ENTITY"))


def _media_ids(content: dict) -> list[str]:
    if "media" in content:
        return [content["media"].get("id", "")]
    if "multiImage" in content:
        return [img.get("id", "") for img in content["multiImage"].get("images", [])]
    return []


@routes.post(API, "/rest/posts")
async def create_post(call: Call) -> Response:
    token = rest(call, ("w_member_social", "w_organization_social"))
    st, cfg = call.st, call.cfg
    body = call.json if isinstance(call.json, dict) else {}
    for key in ("author", "visibility", "distribution", "lifecycleState"):
        if key not in body:
            raise _field_missing(f"/{key}")
    author = body["author"]
    if not _can_act_as(st, token, author, "w_member_social", "w_organization_social"):
        return error(403, "Not enough permissions to access: partnerApiPostsExternal.CREATE.NO_VERSION",
                     "ACCESS_DENIED", 100)
    raw = str(body.get("commentary") or "")
    if len(raw) > cfg.li_commentary_max:
        return error(422, f"ERROR :: /commentary :: length {len(raw)} exceeds the maximum of {cfg.li_commentary_max}\n",
                     "UNPROCESSABLE_ENTITY")
    content = body.get("content") or {}
    ids = _media_ids(content)
    if "multiImage" in content and not 2 <= len(ids) <= cfg.li_multi_image_max:
        return error(422, f"ERROR :: /content/multiImage/images :: a multi-image post needs 2 to "
                          f"{cfg.li_multi_image_max} images\n", "UNPROCESSABLE_ENTITY")
    for urn in ids:
        asset = st.li.assets.get(urn)
        if asset is None or asset["owner"] != author:
            return error(422, f"ERROR :: /content :: {urn} does not exist or is not owned by {author}\n",
                         "UNPROCESSABLE_ENTITY")
        if _asset_status(call, asset) != "AVAILABLE":
            return error(422, f"ERROR :: /content :: {urn} is not AVAILABLE (status {asset['status']})\n",
                         "UNPROCESSABLE_ENTITY")
    member = _member(st, token)
    day = st.clock.dt().date().isoformat()
    with st.lock:
        if st.li.daily[(member.id, day)] >= cfg.li_member_daily_posts:
            return error(429, "Resource level throttle MEMBER DAY limit for calls to this resource is reached.",
                         "TOO_MANY_REQUESTS")
        st.li.daily[(member.id, day)] += 1
    text, truncated = little_text(raw)
    if cfg.li_reject_duplicates and text and body.get("lifecycleState") == "PUBLISHED":
        for post in st.live_posts("linkedin", author):
            if post.text == text and post.extra.get("media_ids") == ids:
                st.reject_duplicate("linkedin", author, text, call.request_id)
                return json_response({"errorDetailType": "com.linkedin.common.error.BadRequest",
                                      "message": f"Content is a duplicate of {post.external_id}",
                                      "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected",
                                                                        "input": {}, "code": "DUPLICATE_POST"}]},
                                      "status": 422}, 422)
    urn = f"urn:li:share:{7_300_000_000_000_000_000 + st.seed * 1_000_000_000 + st.next('li-share')}"
    st.add_post(Post(platform="linkedin", account=author, external_id=urn, text=text, media=ids,
                     received_at=iso(time.time()), request_id=call.request_id, published_at=call.now(),
                     kind="post", url=f"https://www.linkedin.com/feed/update/{urn}/",
                     extra={"raw_commentary": raw, "truncated": truncated, "media_ids": ids,
                            "visibility": body.get("visibility"), "lifecycleState": body.get("lifecycleState"),
                            "video": any(":video:" in i for i in ids), "account_platform": "linkedin"}))
    return empty_response(201, {"x-restli-id": urn, "x-linkedin-id": urn})


def _post_json(post: Post) -> dict:
    return {"id": post.external_id, "author": post.account, "commentary": post.text,
            "visibility": post.extra.get("visibility"), "lifecycleState": post.extra.get("lifecycleState"),
            "createdAt": int(post.published_at * 1000), "publishedAt": int(post.published_at * 1000),
            "lastModifiedAt": int(post.published_at * 1000),
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []}}


@routes.get(API, "/rest/posts/{urn}")
async def get_post(call: Call) -> Response:
    rest(call)
    post = call.st.find_post("linkedin", call.path_param("urn"))
    if post is None:
        return error(404, f"Post {call.path_param('urn')} does not exist", "RESOURCE_NOT_FOUND")
    return json_response(_post_json(post))


@routes.route(API, "/rest/posts/{urn}", ("DELETE",))
async def delete_post(call: Call) -> Response:
    token = rest(call, ("w_member_social", "w_organization_social"))
    post = call.st.find_post("linkedin", call.path_param("urn"))
    if post is None or not _can_act_as(call.st, token, post.account, "w_member_social", "w_organization_social"):
        return error(404, f"Post {call.path_param('urn')} does not exist", "RESOURCE_NOT_FOUND")
    post.deleted = True
    return empty_response(204)


@routes.get(API, "/rest/posts")
async def find_posts(call: Call) -> Response:
    """Find Posts by Author (q=author&author=urn), newest first: what an adapter reconciles with.

    A member's posts need r_member_social (restricted: LinkedIn grants it to approved partners only), and
    only for the member's own URN; an organization's need r_organization_social and a role on the Page.
    The write scopes do not grant reading.
    """
    token = rest(call)
    if call.query.get("q") != "author":
        return error(400, "Unsupported finder: only q=author is available", "ILLEGAL_ARGUMENT")
    author = _restli(call, "author")
    if not _can_act_as(call.st, token, author, "r_member_social", "r_organization_social"):
        return error(403, "Not enough permissions to access: partnerApiPostsExternal.FINDER-author.NO_VERSION",
                     "ACCESS_DENIED", 100)
    posts = sorted(call.listed("linkedin", call.st.live_posts("linkedin", author)), key=lambda p: p.published_at,
                   reverse=True)
    start, count = int(call.query.get("start", 0)), min(int(call.query.get("count", 10)), 100)
    chunk = posts[start:start + count]
    return json_response({"paging": {"start": start, "count": count, "total": len(posts)},
                          "elements": [_post_json(p) for p in chunk]})


# ----------------------------------------------------------------- comments
LI_COMMENT_MAX = 1250


def _comment_json(c) -> dict:
    urn = f"urn:li:comment:({c.object_id},{c.id})"
    return {"id": c.id, "$URN": urn, "actor": c.author, "object": c.object_id, "message": {"text": c.text},
            "created": {"actor": c.author, "time": int(c.created_at * 1000)},
            "lastModified": {"actor": c.author, "time": int(c.created_at * 1000)}}


@routes.post(API, "/rest/socialActions/{urn}/comments")
async def create_comment(call: Call) -> Response:
    """A comment under a post, as the member or an organization it administers (the write scopes)."""
    token = rest(call, ("w_member_social", "w_organization_social"))
    st = call.st
    target = call.path_param("urn")
    post = st.find_post("linkedin", target)
    if post is None:
        return error(404, f"Post {target} does not exist", "RESOURCE_NOT_FOUND")
    body = call.json if isinstance(call.json, dict) else {}
    actor = str(body.get("actor") or "")
    if not actor:
        raise _field_missing("/actor")
    if not _can_act_as(st, token, actor, "w_member_social", "w_organization_social"):
        return error(403, "Not enough permissions to access: socialActions.comments.CREATE.NO_VERSION",
                     "ACCESS_DENIED", 100)
    text = str(((body.get("message") or {}).get("text")) or "")
    if not text.strip():
        raise _field_missing("/message/text")
    if len(text) > LI_COMMENT_MAX:
        return error(422, f"ERROR :: /message/text :: length {len(text)} exceeds the maximum of {LI_COMMENT_MAX}\n",
                     "UNPROCESSABLE_ENTITY")
    comment = st.add_comment(Comment(platform="linkedin", object_id=target, id=str(7_400_000_000_000_000_000
                                                                                  + st.next("li-comment")),
                                     text=text, author=actor, created_at=call.now(), request_id=call.request_id))
    data = _comment_json(comment)
    return json_response(data, 201, {"x-restli-id": data["$URN"]})


@routes.get(API, "/rest/socialActions/{urn}/comments")
async def list_comments(call: Call) -> Response:
    """The comments under a post, newest first (start, count). Reading needs r_member_social for a member's
    post or r_organization_social for a Page's, as the posts finder; new comments show after the listing lag."""
    token = rest(call)
    st = call.st
    target = call.path_param("urn")
    post = st.find_post("linkedin", target)
    if post is None:
        return error(404, f"Post {target} does not exist", "RESOURCE_NOT_FOUND")
    if not _can_act_as(st, token, post.account, "r_member_social", "r_organization_social"):
        return error(403, "Not enough permissions to access: socialActions.comments.GET_ALL.NO_VERSION",
                     "ACCESS_DENIED", 100)
    comments = sorted(call.listed("linkedin", st.comments_on("linkedin", target), made=lambda c: c.created_at),
                      key=lambda c: c.created_at, reverse=True)
    start, count = int(call.query.get("start", 0)), min(int(call.query.get("count", 10)), 100)
    return json_response({"paging": {"start": start, "count": count, "total": len(comments)},
                          "elements": [_comment_json(c) for c in comments[start:start + count]]})


# ----------------------------------------------------------------- analytics
def _restli(call: Call, name: str) -> str:
    """A query value with Rest.li's own URN encoding undone (clients send urn%3Ali%3A..., sometimes encoded twice)."""
    return unquote(call.query.get(name) or "")


def _day_range(start: datetime) -> dict:
    end = start + timedelta(days=1)
    return {"start": {"year": start.year, "month": start.month, "day": start.day},
            "end": {"year": end.year, "month": end.month, "day": end.day}}


def _query_value(query_type: str, m: dict) -> int:
    return {"IMPRESSION": m["impressions"], "MEMBERS_REACHED": m["reach"], "REACTION": m["likes"],
            "COMMENT": m["comments"], "RESHARE": m["shares"]}[query_type]


@routes.get(API, "/rest/memberCreatorPostAnalytics")
async def member_post_analytics(call: Call) -> Response:
    token = rest(call, ("r_member_postAnalytics",))
    st = call.st
    q, query_type = call.query.get("q"), call.query.get("queryType", "")
    aggregation = call.query.get("aggregation", "TOTAL")
    if query_type not in QUERY_TYPES:
        return error(400, f"Invalid queryType: {query_type}", "ILLEGAL_ARGUMENT")
    if query_type == "MEMBERS_REACHED" and aggregation == "DAILY":
        return error(400, "MEMBERS_REACHED does not support DAILY aggregation", "ILLEGAL_ARGUMENT")
    member = _member(st, token)
    if q == "entity":
        match = re.fullmatch(r"\((share|ugc):(urn:li:(?:share|ugcPost):\d+)\)", _restli(call, "entity"))
        if not match:
            return error(400, "entity must look like (share:urn:li:share:123) or (ugc:urn:li:ugcPost:123)",
                         "ILLEGAL_ARGUMENT")
        post = st.find_post("linkedin", match.group(2))
        if post is None or post.account != member.extra["urn"]:
            return error(404, f"{match.group(2)} does not exist or is not yours", "RESOURCE_NOT_FOUND")
        posts, target = [post], {match.group(1): match.group(2)}
    elif q == "me":
        posts, target = st.live_posts("linkedin", member.extra["urn"]), None
    else:
        return error(400, "q must be entity or me", "ILLEGAL_ARGUMENT")
    now = call.now()

    def total(at: float) -> int:
        return sum(_query_value(query_type, insights.post_metrics(st, p, now=min(at, now))) for p in posts)

    def element(count: int, extra: dict) -> dict:
        el = {"count": count, "metricType": {"com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1": query_type}}
        if target:
            el["targetEntity"] = target
        el.update(extra)
        return el

    if aggregation == "DAILY":
        today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        elements = []
        for back in range(6, -1, -1):
            day = today - timedelta(days=back)
            start = day.timestamp()
            elements.append(element(total(start + 86400) - total(start), {"dateRange": _day_range(day)}))
    else:
        elements = [element(total(now), {})]
    return json_response({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})


@routes.get(API, "/rest/organizationalEntityShareStatistics")
async def share_statistics(call: Call) -> Response:
    token = rest(call, ("rw_organization_admin", "r_organization_social"))
    st = call.st
    org = _restli(call, "organizationalEntity")
    if org not in _member(st, token).extra["orgs"]:
        return error(403, "Not enough permissions to access: organizationalEntityShareStatistics.GET "
                          "(ADMINISTRATOR role required)", "ACCESS_DENIED", 100)
    wanted = re.findall(r"urn:li:(?:share|ugcPost):\d+", _restli(call, "shares") + _restli(call, "ugcPosts"))
    posts = st.live_posts("linkedin", org)
    now = call.now()

    def stats(selected: list[Post], at_start: float | None, at_end: float) -> dict:
        totals = {"impressionCount": 0, "uniqueImpressionsCount": 0, "clickCount": 0, "likeCount": 0,
                  "commentCount": 0, "shareCount": 0}
        for post in selected:
            b = insights.post_metrics(st, post, now=min(at_end, now))
            a = insights.post_metrics(st, post, now=min(at_start, now)) if at_start is not None else \
                {k: 0 for k in b}
            d = {k: b[k] - a[k] for k in b}
            for key, metric in (("impressionCount", "impressions"), ("uniqueImpressionsCount", "reach"),
                                ("clickCount", "clicks"), ("likeCount", "likes"), ("commentCount", "comments"),
                                ("shareCount", "shares")):
                totals[key] += d[metric]
        engaged = totals["clickCount"] + totals["likeCount"] + totals["commentCount"] + totals["shareCount"]
        totals["engagement"] = round(engaged / totals["impressionCount"], 6) if totals["impressionCount"] else 0.0
        return totals

    granularity = call.query.get("timeIntervals.timeGranularityType")
    elements = []
    if wanted:
        for urn in wanted:
            post = next((p for p in posts if p.external_id == urn), None)
            if post is None:
                continue
            s = stats([post], None, now)
            if s["impressionCount"] or s["likeCount"]:   # shares with no activity are omitted
                key = "share" if ":share:" in urn else "ugcPost"
                elements.append({"organizationalEntity": org, key: urn, "totalShareStatistics": s})
    elif granularity == "DAY":
        start_ms = int(call.query.get("timeIntervals.timeRange.start", int((now - 7 * 86400) * 1000)))
        end_ms = int(call.query.get("timeIntervals.timeRange.end", int(now * 1000)))
        t = start_ms / 1000
        while t < end_ms / 1000:
            elements.append({"organizationalEntity": org, "timeRange": {"start": int(t * 1000),
                                                                         "end": int((t + 86400) * 1000)},
                             "totalShareStatistics": stats(posts, t, t + 86400)})
            t += 86400
    else:
        elements.append({"organizationalEntity": org, "totalShareStatistics": stats(posts, None, now)})
    return json_response({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})


@routes.get(API, "/rest/networkSizes/{urn}")
async def network_size(call: Call) -> Response:
    rest(call)
    urn = call.path_param("urn")
    if urn not in call.st.li.orgs:
        return error(404, f"{urn} does not exist", "RESOURCE_NOT_FOUND")
    return json_response({"firstDegreeSize": insights.account_followers(call.st, "linkedin", urn)})


@routes.get(API, "/rest/memberFollowersCount")
async def member_followers(call: Call) -> Response:
    token = rest(call)
    if call.query.get("q") != "me":
        return error(400, "q must be me", "ILLEGAL_ARGUMENT")
    member = _member(call.st, token)
    count = insights.account_followers(call.st, "linkedin", member.extra["urn"])
    return json_response({"paging": {"start": 0, "count": 10, "links": []},
                          "elements": [{"memberFollowersCount": count}]})


def control_credentials(st: State, account: Account, scopes=None) -> dict:
    client = st.config.client("linkedin")
    scopes = scopes or ["openid", "profile", "email", "w_member_social", "w_organization_social",
                        "r_organization_social", "rw_organization_admin", "r_member_postAnalytics"]
    access = oauth.mint(st, "linkedin", account.id, client["client_id"], scopes, st.config.li_access_s)
    refresh = oauth.mint(st, "linkedin", account.id, client["client_id"], scopes, st.config.li_refresh_s,
                         kind="refresh", grant_id=access.grant_id)
    return {"person_id": account.extra["person"], "person_urn": account.extra["urn"],
            "organization_urn": account.extra["orgs"][0], "access_token": access.value,
            "expires_in": int(st.config.li_access_s), "refresh_token": refresh.value,
            "refresh_token_expires_in": int(st.config.li_refresh_s)}

"""The consent pages and the token machinery every platform shares.

Each platform declares an `OAuthSpec` (what its authorize endpoint calls the client id,
how it separates scopes, whether PKCE is required) and answers its own token endpoint;
codes, tokens, expiry and revocation live here once. Codes are single use and expire
after `code_ttl_s`; the redirect_uri must match between authorize and token exchange.
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode, urlsplit

from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandbox.state import Account, AuthCode, State, Token
from sandbox.web import Call


@dataclass(frozen=True)
class OAuthSpec:
    """How one platform's consent page behaves; each platform module declares its own `SPEC`."""
    platform: str
    title: str                          # "Instagram"
    client_param: str = "client_id"     # TikTok: client_key
    scope_sep: str = ","
    pkce_required: bool = False         # X
    require_response_type: bool = True
    deny_error: str = "access_denied"
    default_handle: str = "sandbox_creator"


# Platform modules register what connecting an account creates (pages, organizations, nodes).
ACCOUNT_HOOKS: dict[str, Callable[[State, Account], None]] = {}

_TOKEN_PREFIX = {
    ("instagram", "access"): "IGAA", ("facebook", "access"): "EAAG", ("facebook", "page"): "EAAP",
    ("linkedin", "access"): "AQV", ("linkedin", "refresh"): "AQX", ("tiktok", "access"): "act.",
    ("tiktok", "refresh"): "rft.", ("youtube", "access"): "ya29.", ("youtube", "refresh"): "1//0",
}
_HANDLE_OK = re.compile(r"[^A-Za-z0-9._-]")


def scopes_of(value, sep: str) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v)
    parts = re.split(r"[,\s]+", value or "") if sep == "," else (value or "").split()
    return tuple(p for p in parts if p)


def clean_handle(value: str | None, default: str) -> str:
    """What the emulator keeps of a typed handle (letters, digits, dot, dash, underscore; at most 30), or `default`
    when nothing is left. Outpost's practice accounts take their handle by the same rule (sandbox.seed)."""
    handle = _HANDLE_OK.sub("", (value or "").strip().lstrip("@"))[:30]
    return handle or default


# ---------------------------------------------------------------------- accounts
def ensure_account(st: State, platform: str, handle: str) -> Account:
    """The account for `handle` on `platform`, created (with its pages/orgs) on first consent."""
    from sandbox.state import stable_int
    with st.lock:
        existing = st.handles.get((platform, handle))
        if existing:
            return st.accounts[(platform, existing)]
        account_id = str(stable_int(st.seed, platform, handle, digits=17))
        account = Account(platform=platform, id=account_id, handle=handle,
                          name=handle.replace("_", " ").title(), created_at=st.now())
        st.accounts[(platform, account_id)] = account
        st.handles[(platform, handle)] = account_id
        hook = ACCOUNT_HOOKS.get(platform)
        if hook:
            hook(st, account)
        return account


# ------------------------------------------------------------------------ tokens
def mint(st: State, platform: str, account_id: str, client_id: str, scopes, ttl: float | None,
         kind: str = "access", grant_id: str | None = None, **extra) -> Token:
    now = st.now()
    value = _TOKEN_PREFIX.get((platform, kind), "") + secrets.token_urlsafe(32)
    token = Token(value=value, platform=platform, kind=kind, account_id=account_id, client_id=client_id,
                  scopes=tuple(scopes), issued_at=now, expires_at=None if ttl is None else now + ttl,
                  grant_id=grant_id or secrets.token_hex(8), extra=dict(extra))
    with st.lock:
        st.tokens[value] = token
    return token


def lookup(st: State, value: str | None, platform: str | tuple, kinds=("access",)) -> tuple[Token | None, str]:
    """(token, status): status is "missing", "invalid", "expired", "revoked" or "ok"."""
    if not value:
        return None, "missing"
    token = st.tokens.get(value)
    platforms = (platform,) if isinstance(platform, str) else platform
    if token is None or token.platform not in platforms or token.kind not in kinds:
        return None, "invalid"
    return token, token.status(st.now())


def revoke_grant(st: State, grant_id: str) -> int:
    with st.lock:
        hit = [t for t in st.tokens.values() if t.grant_id == grant_id and not t.revoked]
        for token in hit:
            token.revoked = True
    return len(hit)


def expire_token(st: State, value: str | None) -> bool:
    """Make `value` expired as of now (the expire_token fault)."""
    token = st.tokens.get(value or "")
    if token is None:
        return False
    with st.lock:
        token.expires_at = min(token.expires_at or float("inf"), st.now() - 1)
    return True


def client_ok(st: State, platform: str, client_id: str | None, secret: str | None = None,
              check_secret: bool = True) -> bool:
    client = st.config.client(platform)
    if not client or client_id != client.get("client_id"):
        return False
    return not check_secret or secret == client.get("client_secret")


def basic_auth(call: Call) -> tuple[str, str] | None:
    header = call.header("authorization") or ""
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip()).decode()
    except ValueError:
        return None
    user, _, password = raw.partition(":")
    return user, password


# ------------------------------------------------------------------------- codes
class CodeError(Exception):
    """Why a code exchange failed: invalid, used, expired, redirect_mismatch, client_mismatch, pkce."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def issue_code(st: State, platform: str, client_id: str, redirect_uri: str, scopes, account_id: str,
               **extra) -> AuthCode:
    now = st.now()
    code = AuthCode(value=secrets.token_urlsafe(24), platform=platform, client_id=client_id,
                    redirect_uri=redirect_uri, scopes=tuple(scopes), account_id=account_id, issued_at=now,
                    expires_at=now + st.config.code_ttl_s, extra=dict(extra))
    with st.lock:
        st.codes[code.value] = code
    return code


def redeem_code(st: State, platform: str, value: str | None, client_id: str | None, redirect_uri: str | None,
                verifier: str | None = None) -> AuthCode:
    """The code's grant, marking it used; raises CodeError. A code works once."""
    with st.lock:
        code = st.codes.get(value or "")
        if code is None or code.platform != platform:
            raise CodeError("invalid")
        if code.used:
            raise CodeError("used")
        if st.now() >= code.expires_at:
            raise CodeError("expired")
        if client_id != code.client_id:
            raise CodeError("client_mismatch")
        if (redirect_uri or "") != code.redirect_uri:
            raise CodeError("redirect_mismatch")
        challenge = code.extra.get("code_challenge")
        if challenge:
            method = code.extra.get("code_challenge_method") or "plain"
            if not verifier or pkce_transform(verifier, method) != challenge:
                code.used = True  # a failed PKCE check burns the code
                raise CodeError("pkce")
        code.used = True
        return code


def pkce_transform(verifier: str, method: str) -> str:
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return verifier


# ------------------------------------------------------------------ consent page
def _redirect_ok(st: State, uri: str | None) -> bool:
    if not uri:
        return False
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    prefixes = st.config.redirect_uri_prefixes
    return not prefixes or any(uri.startswith(p) for p in prefixes)


def _error_page(spec: OAuthSpec, status: int, message: str) -> Response:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>Sandbox {html.escape(spec.title)}</title>"
            f"</head><body><h1>Sandbox {html.escape(spec.title)}: something went wrong</h1>"
            f"<p id='error'>{html.escape(message)}</p></body></html>")
    return HTMLResponse(body, status_code=status)


def _page(spec: OAuthSpec, call: Call, params: dict, handle: str, scopes: tuple[str, ...]) -> Response:
    hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(str(v))}'>"
                     for k, v in params.items() if k not in ("decision", "handle"))
    scope_items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>(default access)</li>"
    title = f"Sandbox {spec.title} — Allow Outpost to publish as @{handle}?"
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sandbox {html.escape(spec.title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}
.box{{border:1px solid #ddd;border-radius:12px;padding:1.5rem}} button{{font-size:1rem;padding:.5rem 1.25rem;
margin-right:.5rem;border-radius:8px;border:1px solid #888;cursor:pointer}} button[value=allow]{{background:#1a73e8;
color:#fff;border-color:#1a73e8}} small{{color:#666}}</style></head>
<body><form class="box" method="post" action="{html.escape(call.request.url.path)}">
<h1>{html.escape(title)}</h1>
<p><small>This is the Outpost sandbox, not the real {html.escape(spec.title)}. App
<code>{html.escape(str(params.get(spec.client_param, "")))}</code> asks for:</small></p>
<ul>{scope_items}</ul>
<label>Account handle <input name="handle" value="{html.escape(handle)}"></label>
{hidden}
<p><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></p>
</form></body></html>"""
    return HTMLResponse(body)


def _redirect(uri: str, params: dict, fragment: str = "") -> Response:
    sep = "&" if urlsplit(uri).query else "?"
    target = uri + sep + urlencode({k: v for k, v in params.items() if v is not None}) + fragment
    response = RedirectResponse(target, status_code=302)
    return response


async def consent(call: Call, spec: OAuthSpec) -> Response:
    """GET renders the consent page; POST (the form) redirects with a code or an error."""
    st = call.st
    params = {k: v for k, v in call.params.items() if isinstance(v, str)}
    client_id = params.get(spec.client_param)
    redirect_uri = params.get("redirect_uri")
    if not client_ok(st, spec.platform, client_id, check_secret=False):
        return _error_page(spec, 400, f"Invalid {spec.client_param}: this app is not registered with the sandbox.")
    if not _redirect_ok(st, redirect_uri):
        return _error_page(spec, 400, "Invalid redirect_uri: it must be an absolute http(s) URL registered for the app.")
    if spec.require_response_type and params.get("response_type") != "code":
        return _error_page(spec, 400, "response_type must be 'code'.")
    if spec.pkce_required:
        method = params.get("code_challenge_method", "plain")
        if not params.get("code_challenge") or method.upper() not in ("S256", "PLAIN"):
            return _error_page(spec, 400, "code_challenge (and code_challenge_method S256 or plain) is required.")
    scopes = scopes_of(params.get("scope", ""), spec.scope_sep)
    handle = clean_handle(params.get("handle"), spec.default_handle)
    if call.method == "GET":
        return _page(spec, call, params, handle, scopes)

    state_param = params.get("state")
    if params.get("decision") != "allow":
        error = {"error": spec.deny_error, "error_description": "The user denied the request.", "state": state_param}
        if spec.platform in ("instagram", "facebook"):
            error = {"error": "access_denied", "error_reason": "user_denied",
                     "error_description": "Permissions error", "state": state_param}
        return _redirect(redirect_uri, error)

    account = ensure_account(st, spec.platform, handle)
    extra = {}
    if params.get("code_challenge"):
        extra["code_challenge"] = params["code_challenge"]
        extra["code_challenge_method"] = params.get("code_challenge_method", "plain")
    for key in ("access_type", "prompt"):
        if key in params:
            extra[key] = params[key]
    code = issue_code(st, spec.platform, client_id, redirect_uri, scopes, account.id, **extra)
    query = {"code": code.value}
    if spec.platform == "tiktok":
        query["scopes"] = ",".join(scopes)
    if spec.platform == "youtube":
        query["scope"] = " ".join(scopes)
    query["state"] = state_param
    # Instagram appends "#_" to its redirect; a client must not treat it as part of the code.
    return _redirect(redirect_uri, query, fragment="#_" if spec.platform == "instagram" else "")

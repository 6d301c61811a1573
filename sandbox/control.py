"""The control and inspection API under /_control (JSON), and the same operations in-process.

GET  /_control/health                  status and the emulator clock
GET  /_control/clock                   {"now", "offset_seconds"}
POST /_control/clock                   {"advance_seconds": N} or {"set": ISO time} or {"reset": true}
GET  /_control/faults                  the rules and the global latency
POST /_control/faults                  a rule, a list of rules, or {"latency_ms": L} (global latency)
DELETE /_control/faults                clear the rules and the global latency
GET  /_control/posts?platform=&account=   what was published, in order
GET  /_control/duplicates              per (platform, account, text): published count > 1 or attempts > 1
GET  /_control/requests?platform=&path=&method=&status=&limit=   recent requests (no tokens)
GET  /_control/accounts?platform=      connected accounts
POST /_control/accounts                {"platform", "handle"} or {"platform", "count", "prefix"}: accounts + tokens
GET|PATCH /_control/config             the SandboxConfig; PATCH applies the given keys
POST /_control/reset                   clear state and faults (keeps config; {"clock": true} resets the clock too)
POST /_control/save                    write the state file now (when one is configured)

Fault rules (POST /_control/faults; faults.py says what each does): {"kind", "platform" ("*"), "path" (a
substring of /host/path), "method", "probability" (1.0), "count" (unlimited), "seed"} plus, per kind:
  latency           latency_ms
  error_5xx         status (5xx, default 503): the platform's own 5xx, nothing applied
  rate_limit        -: the platform's own 429 (Graph: code 4 in a 400)
  timeout           timeout_s (default fault_timeout_s), effect "applied" | "dropped"
  expire_token      -: the request's token expires, then the request runs
  lost_response     -: applied, then the connection drops before the body
  applied_then_5xx  status 502 (default) | 504: applied, then a gateway's HTML error page
  slow_apply        hold_s (0..3600, default slow_apply_s = 40): held, then applied even if the client left
A bad rule (unknown kind or field, status or hold_s out of range) is a 400 and is not added. Every
request's `faults` in /_control/requests lists the kinds that touched it; an applied_then_5xx entry also has
`applied_status`, the platform's own answer the gateway replaced.

Listing lag is a setting (PATCH /_control/config), not a rule: {"listing_lag_s": {"x": 20, "*": 5}} (or one
number for every platform; {} for none) keeps each new post out of the platform's listings and searches for
that many seconds of the emulator clock (POST /_control/clock advances it). Lagged: X GET /2/users/:id/tweets;
Facebook GET /{page}/feed|posts|published_posts|videos; Instagram GET /{user}/media|stories; Threads GET
/{user}/threads; LinkedIn GET /rest/posts?q=author; Mastodon GET /api/v1/accounts/:id/statuses; Bluesky
com.atproto.repo.listRecords and app.bsky.feed.getAuthorFeed; TikTok POST /v2/video/list/; YouTube GET
/youtube/v3/playlistItems. Lookups by id (and Facebook's read-after-write `fields=` on the created post) are
never late. A listing that hid something has `listing_lag` among its request's faults.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import oauth
from sandbox.config import PLATFORMS
from sandbox.platforms import MODULES
from sandbox.state import iso
from sandbox.web import json_response

if TYPE_CHECKING:  # pragma: no cover
    from sandbox.server import Core


# ------------------------------------------------------------- operations
def posts(core: "Core", platform: str | None = None, account: str | None = None) -> list[dict]:
    with core.state.lock:
        items = [p for p in core.state.posts if (not platform or p.platform == platform)
                 and (not account or p.account == account)]
        return [p.as_json() for p in items]


def duplicates(core: "Core") -> dict:
    """Same text published (or attempted and refused as a duplicate) more than once on one account."""
    st = core.state
    groups: dict = defaultdict(lambda: {"count": 0, "rejected": 0, "external_ids": [], "request_ids": []})
    with st.lock:
        for post in st.posts:
            if not post.text:
                continue
            group = groups[(post.platform, post.account, post.text)]
            group["count"] += 1
            group["external_ids"].append(post.external_id)
            group["request_ids"].append(post.request_id)
        for attempt in st.rejected_duplicates:
            group = groups[(attempt["platform"], attempt["account"], attempt["text"])]
            group["rejected"] += 1
            group["request_ids"].append(attempt["request_id"])
    items = []
    for (platform, account, text), g in groups.items():
        attempts = g["count"] + g["rejected"]
        if g["count"] > 1 or attempts > 1:
            items.append({"platform": platform, "account": account, "text": text, "count": g["count"],
                          "attempts": attempts, "rejected": g["rejected"], "external_ids": g["external_ids"],
                          "request_ids": g["request_ids"]})
    return {"duplicates": items, "published_extra": sum(max(0, i["count"] - 1) for i in items),
            "attempted_extra": sum(i["attempts"] - 1 for i in items)}


def mint_accounts(core: "Core", platform: str, handles: list[str], scopes: list[str] | None = None) -> list[dict]:
    """Accounts (created if needed) with fresh tokens, as an adapter would hold after connecting."""
    module = MODULES[platform]
    out = []
    for handle in handles:
        account = oauth.ensure_account(core.state, platform, oauth.clean_handle(handle, "sandbox_creator"))
        out.append({"platform": platform, "account_id": account.id, "handle": account.handle,
                    **module.control_credentials(core.state, account, scopes)})
    return out


def reset(core: "Core", clock: bool = False) -> None:
    core.faults.clear()
    core.state.reset()
    if clock:
        core.state.clock.offset = 0.0


def clock_info(core: "Core") -> dict:
    clock = core.state.clock
    return {"now": iso(clock.now()), "now_unix": clock.now(), "offset_seconds": clock.offset}


# ----------------------------------------------------------------- routes
async def _body(request: Request):
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def routes(core: "Core") -> list[Route]:
    st = core.state

    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "uptime_s": round(time.time() - core.started_at, 3),
                              "posts": len(st.posts), "seed": st.seed, **clock_info(core)})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body, dict):
                return _bad("expected a JSON object")
            if body.get("reset"):
                st.clock.offset = 0.0
            if "set" in body:
                from datetime import datetime
                try:
                    target = datetime.fromisoformat(str(body["set"])).timestamp()
                except ValueError:
                    return _bad("set must be an ISO 8601 time with a timezone")
                st.clock.offset = target - time.time()
            if "advance_seconds" in body:
                try:
                    st.clock.advance(float(body["advance_seconds"]))
                except (TypeError, ValueError):
                    return _bad("advance_seconds must be a number")
        return json_response(clock_info(core))

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            core.faults.clear()
            st.config.latency_ms = 0.0
            return json_response({"rules": [], "latency_ms": 0.0})
        if request.method == "POST":
            body = await _body(request)
            specs = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
            if specs is None:
                return _bad("expected a rule, a list of rules, or {\"latency_ms\": L}")
            added = []
            for spec in specs:
                if "kind" not in spec and "latency_ms" in spec:
                    st.config.latency_ms = float(spec["latency_ms"])
                    continue
                try:
                    added.append(core.faults.add(spec).as_json())
                except (ValueError, TypeError) as exc:
                    return _bad(str(exc))
            return json_response({"added": added, "rules": core.faults.list(), "latency_ms": st.config.latency_ms},
                                 201 if added else 200)
        return json_response({"rules": core.faults.list(), "latency_ms": st.config.latency_ms})

    async def list_posts(request: Request) -> Response:
        q = request.query_params
        items = posts(core, q.get("platform"), q.get("account"))
        return json_response({"count": len(items), "posts": items})

    async def list_duplicates(request: Request) -> Response:
        return json_response(duplicates(core))

    async def list_requests(request: Request) -> Response:
        q = request.query_params
        with st.lock:
            items = list(st.requests)
        items = [r for r in items if (not q.get("platform") or r["platform"] == q["platform"])
                 and (not q.get("path") or q["path"] in r["path"])
                 and (not q.get("method") or r["method"] == q["method"].upper())
                 and (not q.get("status") or str(r["status"]) == q["status"])]
        limit = int(q.get("limit") or 1000)
        return json_response({"count": len(items), "requests": items[-limit:]})

    async def accounts(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body, dict) or body.get("platform") not in PLATFORMS:
                return _bad(f"platform must be one of {', '.join(PLATFORMS)}")
            if "count" in body:
                count = int(body["count"])
                if not 1 <= count <= 5000:
                    return _bad("count must be 1..5000")
                prefix = str(body.get("prefix") or "sandbox")
                handles = [f"{prefix}_{i:04d}" for i in range(1, count + 1)]
            else:
                handles = [str(body.get("handle") or "sandbox_creator")]
            items = mint_accounts(core, body["platform"], handles, body.get("scopes"))
            return json_response({"count": len(items), "accounts": items}, 201)
        platform = request.query_params.get("platform")
        with st.lock:
            seen, items = set(), []
            for account in st.accounts.values():
                if id(account) in seen or (platform and account.platform != platform):
                    continue
                seen.add(id(account))
                items.append({"platform": account.platform, "id": account.id, "handle": account.handle,
                              "name": account.name, "created_at": iso(account.created_at),
                              "extra": {k: v for k, v in account.extra.items() if isinstance(v, (str, int, list))}})
        return json_response({"count": len(items), "accounts": items})

    async def config(request: Request) -> Response:
        if request.method in ("PATCH", "POST"):
            body = await _body(request)
            if not isinstance(body, dict):
                return _bad("expected a JSON object of settings")
            try:
                st.config.update(body)
            except KeyError as exc:
                return _bad(f"unknown settings: {exc.args[0]}")
            except (TypeError, ValueError) as exc:
                return _bad(str(exc))
        return json_response(st.config.as_dict())

    async def do_reset(request: Request) -> Response:
        body = await _body(request) or {}
        reset(core, clock=bool(isinstance(body, dict) and body.get("clock")))
        return json_response({"status": "reset", **clock_info(core)})

    async def save(request: Request) -> Response:
        path = getattr(core, "state_file", None)
        if not path:
            return _bad("no state file configured (start with --state-file PATH)", 409)
        st.save(path)
        return json_response({"saved": path})

    return [Route("/health", health), Route("/clock", clock, methods=["GET", "POST"]),
            Route("/faults", faults, methods=["GET", "POST", "DELETE"]), Route("/posts", list_posts),
            Route("/duplicates", list_duplicates), Route("/requests", list_requests),
            Route("/accounts", accounts, methods=["GET", "POST"]),
            Route("/config", config, methods=["GET", "PATCH", "POST"]),
            Route("/reset", do_reset, methods=["POST"]), Route("/save", save, methods=["POST"])]

"""The Starlette app: every real host mounted under its own name, one chokepoint per request.

`http://127.0.0.1:PORT/graph.instagram.com/v25.0/me` is `https://graph.instagram.com/v25.0/me`.
Each platform request goes through `endpoint()`: request id, injected latency and faults,
the platform handler, logging (never tokens or query strings) and the control log.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import defaultdict
from typing import Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from sandbox import control, media, oauth
from sandbox.config import SandboxConfig
from sandbox.faults import Faults, FaultRule
from sandbox.platforms import MODULES as PLATFORM_MODULES
from sandbox.state import State, iso
from sandbox.web import Call, Handler, Reply, build_call, json_response, post_page

log = logging.getLogger("outpost.sandbox")


class Core:
    """What every request shares: the state, the fault rules, an HTTP client for media fetches."""

    def __init__(self, config: SandboxConfig | None = None, seed: int = 1):
        self.state = State(config or SandboxConfig(), seed)
        self.faults = Faults()
        self.http: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task] = set()
        self._ids = itertools.count(1)
        self.started_at = time.time()
        self.state_file: str | None = None      # where /_control/save and shutdown write the state

    def request_id(self) -> str:
        return f"req_{next(self._ids):08d}"

    def spawn(self, coro) -> asyncio.Task:
        """Run `coro` in the background (media pulls, late effects), keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


# ------------------------------------------------------------------ faults
def platform_error(platform: str, kind: str, status: int, call: Call) -> Response:
    """The platform's own 5xx or 429 answer, for injected faults and handler crashes."""
    module = PLATFORM_MODULES[platform]
    if kind == "5xx":
        return module.server_error(status)
    return module.rate_limited(call) if platform == "x" else module.rate_limited()


GATEWAY_TITLES = {502: "Bad Gateway", 504: "Gateway Time-out"}


def gateway_error(status: int) -> Response:
    """The page nginx (or a load balancer) in front of a platform sends when the backend failed or was slow.

    HTML, not the platform's JSON, and nothing of the platform's headers: the proxy answers for it. Nothing in
    it says whether the backend had already done the work, which is exactly what `applied_then_5xx` needs.
    """
    title = f"{status} {GATEWAY_TITLES[status]}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    return Response(body.encode(), status, headers={"content-type": "text/html", "server": "nginx"})


class LostResponse:
    """Sends the status line and headers promising a body, then drops the connection before it.

    The request already took effect; the client sees a transport error on THIS request (httpx
    raises RemoteProtocolError: "peer closed connection without sending complete message
    body"), exactly the "did it post or not?" case adapters must reconcile. An empty answer
    (201 + x-restli-id, 200 + Location, TikTok's 206/201) would be complete as soon as its
    headers arrive, so the head always declares at least one body byte; statuses that can
    carry no body at all (1xx, 204, 304) go out as 200 for the same reason.
    """

    def __init__(self, response: Response):
        self.response = response

    def head(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        status = self.response.status_code
        if status < 200 or status in (204, 304):
            status = 200
        declared = max(len(self.response.body or b""), 1)
        headers = [(k, v) for k, v in self.response.raw_headers
                   if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(declared).encode()))
        return status, headers

    async def __call__(self, scope, receive, send) -> None:
        status, headers = self.head()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        # Returning now, with the promised body unsent, makes uvicorn close the connection.


class QuietLostResponses(logging.Filter):
    """Hide uvicorn's complaint about the responses we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


async def _hold(request: Request, seconds: float) -> None:
    """Wait `seconds`, or less if the client hangs up first."""
    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(disconnected())
    _, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _respond(handler: Handler, call: Call, platform: str) -> Response:
    """The handler's answer; a crash is the platform's 500 (and logged)."""
    try:
        return await handler(call)
    except Reply as reply:
        return reply.response
    except Exception:  # noqa: BLE001 - a bug here must look like the platform's 500, and be logged
        log.exception("handler crashed: %s %s", call.method, call.request.url.path)
        return platform_error(platform, "5xx", 500, call)


async def _apply_late(core: Core, seconds: float, work: Callable[[], Awaitable[Response]]) -> Response:
    """Wait `seconds`, then run `work()`, in a task of its own so that a client hanging up cannot cancel it.

    The request still takes effect after the client's timeout, as a platform's slow backend does; whoever is
    still listening gets the answer.
    """
    async def later() -> Response:
        await asyncio.sleep(seconds)
        return await work()

    return await asyncio.shield(core.spawn(later()))


def endpoint(core: Core, platform: str, host: str, handler: Handler):
    async def run(request: Request) -> Response | LostResponse:
        started = time.perf_counter()
        rid = core.request_id()
        call = await build_call(request, core, platform, host, rid)
        cfg = core.state.config
        decision = core.faults.decide(platform, request.method, request.url.path, cfg.latency_ms)
        if decision.latency_ms > 0:
            await asyncio.sleep(decision.latency_ms / 1000.0)
        action: FaultRule | None = decision.action
        if decision.expire_token:
            oauth.expire_token(core.state, call.token)
        response: Response | None = None
        if action is not None and action.kind == "error_5xx":
            response = platform_error(platform, "5xx", int(action.status), call)
        elif action is not None and action.kind == "rate_limit":
            response = platform_error(platform, "429", 429, call)
        elif action is not None and action.kind == "timeout" and action.effect == "dropped":
            await _hold(request, action.timeout_s or cfg.fault_timeout_s)
            response = platform_error(platform, "5xx", 503, call)
        if response is None and action is not None and action.kind == "slow_apply":
            hold = action.hold_s if action.hold_s is not None else cfg.slow_apply_s
            response = await _apply_late(core, hold, lambda: _respond(handler, call, platform))
        elif response is None:
            response = await _respond(handler, call, platform)
        if action is not None and action.kind == "timeout" and action.effect == "applied":
            await _hold(request, action.timeout_s or cfg.fault_timeout_s)
        entry: dict = {}
        if action is not None and action.kind == "applied_then_5xx":
            entry["applied_status"] = response.status_code     # what the platform did, behind the gateway
            response = gateway_error(int(action.status))
        response.headers["x-sandbox-request-id"] = rid
        elapsed_ms = (time.perf_counter() - started) * 1000
        kinds = decision.kinds + [k for k in call.faults if k not in decision.kinds]
        core.state.requests.append({"id": rid, "at": iso(time.time()), "platform": platform, "method": request.method,
                                    "path": request.url.path, "status": response.status_code, "faults": kinds,
                                    "ms": round(elapsed_ms, 1), **entry})
        log.info("%s %s -> %s %.1fms %s%s", request.method, request.url.path, response.status_code, elapsed_ms, rid,
                 f" faults={','.join(kinds)}" if kinds else "")
        if action is not None and action.kind == "lost_response":
            return LostResponse(response)
        return response
    return run


def _fallback(core: Core, platform: str, host: str):
    module = PLATFORM_MODULES[platform]

    async def handler(call: Call) -> Response:
        finder = getattr(module, "not_found", None)
        if finder is not None:
            return finder(call)
        return json_response({"error": {"message": f"Unknown path on {host}", "code": 404}}, 404)
    return endpoint(core, platform, host, handler)


ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def build_app(core: Core) -> Starlette:
    by_host: dict[str, list[Route]] = defaultdict(list)
    platform_of: dict[str, str] = {}
    for name, module in PLATFORM_MODULES.items():
        for host, path, methods, handler in module.routes.entries:
            by_host[host].append(Route(path, endpoint(core, name, host, handler), methods=list(methods)))
            platform_of.setdefault(host, name)
    routes: list = [Route("/", _index(sorted(by_host))),
                    Mount("/_control", routes=control.routes(core)),
                    Mount("/_media", routes=media.routes()),
                    Route("/web/{host}/{rest:path}", post_page(core), methods=["GET"])]
    for host, host_routes in sorted(by_host.items()):
        host_routes.append(Route("/{rest:path}", _fallback(core, platform_of[host], host), methods=ALL_METHODS))
        routes.append(Mount("/" + host, routes=host_routes))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        core.http = httpx.AsyncClient(timeout=core.state.config.media_fetch_timeout_s, follow_redirects=True,
                                      trust_env=False)
        try:
            yield
        finally:
            for task in list(core.tasks):
                task.cancel()
            await core.http.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.core = core
    return app


def _index(hosts: list[str]):
    async def index(request: Request) -> Response:
        return json_response({"service": "outpost-sandbox", "hosts": hosts,
                              "usage": "prefix a real URL's host: /graph.instagram.com/v25.0/me",
                              "control": ["/_control/health", "/_control/clock", "/_control/faults", "/_control/posts",
                                          "/_control/duplicates", "/_control/accounts", "/_control/config",
                                          "/_control/requests", "/_control/reset"],
                              "post pages": "/web/<host>/<path> of a published post's URL: /web/x.com/handle/status/1",
                              "media": ["/_media/sample.jpg?w=1080&h=1350", "/_media/sample.png",
                                        "/_media/sample.webp", "/_media/sample.mp4?seconds=5"]})
    return index

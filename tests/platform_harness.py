"""One fake transport for every platform adapter test, so a platform's test file is its table of real bodies.

The model is apprise's shared test harness: the adapters run unchanged on an `httpx.Client` whose transport is
a `FakePlatform`, which answers each request from a table of scripted routes and records every request, and the
tests then read what was sent through a few helpers.

Routes map `(METHOD, path)` to an answer or a list of answers served in order (the last one repeats). An answer is
  - an `httpx.Response`,
  - a dict, sent as a 200 JSON body,
  - an exception, raised as the transport would (`httpx.ConnectError(...)`, `httpx.ReadTimeout(...)`),
  - a callable taking the `httpx.Request` and returning any of the above (a stateful server, a checker).
A request no route answers gets the platform's own "not found" body from `not_routed(request)`.

Usage, in a test file:

    fake = FakePlatform({("POST", "/2/tweets"): httpx.Response(201, json={...})}, not_routed=x_not_found)
    adapter = XAdapter(fake.client(), config)
    ...
    assert fake.paths() == ["POST /2/tweets"]
    fake.assert_called("POST", "/2/tweets", times=1)
"""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import parse_qs

import httpx

Answer = Any    # httpx.Response | dict | BaseException | Callable[[httpx.Request], "Answer"]


def method_and_path(request: httpx.Request) -> str:
    """How most tests name a call: "POST /2/tweets"."""
    return f"{request.method} {request.url.path}"


def method_path_pair(request: httpx.Request) -> tuple[str, str]:
    """How the Graph API tests name a call: ("POST", "/v25.0/17841400000000001/media")."""
    return request.method, request.url.path


class FakePlatform:
    """An httpx.MockTransport handler that answers from scripted routes and records every request it was sent."""

    def __init__(self, routes: dict[tuple[str, str], Answer] | None = None, *,
                 not_routed: Callable[[httpx.Request], httpx.Response],
                 label: Callable[[httpx.Request], object] = method_and_path):
        # Every route becomes a queue; the last answer repeats, so one answer serves every call.
        self.routes: dict[tuple[str, str], list] = {
            key: list(value) if isinstance(value, list) else [value] for key, value in (routes or {}).items()}
        self.calls: list[httpx.Request] = []
        self.not_routed = not_routed
        self.label = label

    # ------------------------------------------------------------ the transport
    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        queue = self.routes.get((request.method, request.url.path))
        answer = None
        if queue:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer) and not isinstance(answer, (httpx.Response, BaseException)):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        if answer is None:
            return self.not_routed(request)
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    def client(self) -> httpx.Client:
        """An httpx.Client whose every request comes here."""
        return httpx.Client(transport=httpx.MockTransport(self))

    # ------------------------------------------------------------ what was sent
    def paths(self) -> list:
        """Every call so far, in order, as this platform's tests name them (`label`)."""
        return [self.label(request) for request in self.calls]

    def made(self, method: str, path: str) -> list[httpx.Request]:
        """The requests sent to one route, in order."""
        return [r for r in self.calls if (r.method, r.url.path) == (method, path)]

    def of(self, method: str) -> list[httpx.Request]:
        """The requests sent with one method, in order."""
        return [r for r in self.calls if r.method == method]

    def count(self, method: str, path: str) -> int:
        return len(self.made(method, path))

    def body(self, method: str, path: str, n: int = 0) -> dict:
        """The JSON body of the n-th request to a route ({} when it had none)."""
        found = self.made(method, path)[n]
        return json.loads(found.content) if found.content else {}

    def json(self, index: int) -> Any:
        """The JSON body of the index-th request of all."""
        return json.loads(self.calls[index].content)

    def form(self, method: str, path: str, n: int = 0) -> dict[str, str]:
        """The form fields of the n-th request to a route (blank values kept)."""
        found = self.made(method, path)[n]
        return {k: v[0] for k, v in parse_qs(found.content.decode(), keep_blank_values=True).items()}

    def query(self, method: str, path: str, n: int = 0) -> dict[str, str]:
        """The query parameters of the n-th request to a route."""
        found = self.made(method, path)[n]
        return {k: v[0] for k, v in parse_qs(found.url.query.decode()).items()}

    # ------------------------------------------------------------ assertions
    def assert_called(self, method: str, path: str, times: int | None = None) -> None:
        made = self.count(method, path)
        if times is None:
            assert made, f"{method} {path} was never called; calls: {self.paths()}"
        else:
            assert made == times, f"{method} {path} was called {made} times, not {times}; calls: {self.paths()}"

    def assert_not_called(self, method: str, path: str) -> None:
        self.assert_called(method, path, times=0)

    def assert_no_calls(self) -> None:
        assert not self.calls, f"expected no request, got {self.paths()}"


def routes_under(prefix: str, routes: dict[tuple[str, str], Answer]) -> dict[tuple[str, str], Answer]:
    """The same routes with `prefix` put before every path that does not start with "/" ("xrpc" tables)."""
    return {(method, path if path.startswith("/") else f"{prefix}{path}"): answer
            for (method, path), answer in routes.items()}


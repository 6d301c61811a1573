"""The shared fake transport (tests.platform_harness) answers and records the way every adapter test relies on."""
from __future__ import annotations

import httpx
import pytest

from tests.platform_harness import FakePlatform, method_path_pair, routes_under


def not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error": f"no route {request.method} {request.url.path}"})


def test_answers_are_served_in_order_and_the_last_one_repeats():
    fake = FakePlatform({("GET", "/s"): [httpx.Response(202), {"state": "done"}]}, not_routed=not_found)
    with fake.client() as client:
        answers = [client.get("https://api.example/s") for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 200, 200]
    assert answers[2].json() == {"state": "done"}                  # a dict is a 200 JSON body
    assert fake.paths() == ["GET /s"] * 3 and fake.count("GET", "/s") == 3


def test_exceptions_are_raised_and_callables_see_the_request():
    seen = []

    def echo(request):
        seen.append(request.headers["x-marker"])
        return httpx.ConnectError("refused") if len(seen) > 1 else httpx.Response(201)

    fake = FakePlatform({("POST", "/p"): echo, ("GET", "/t"): httpx.ReadTimeout("slow")}, not_routed=not_found)
    with fake.client() as client:
        assert client.post("https://api.example/p", headers={"x-marker": "1"}).status_code == 201
        with pytest.raises(httpx.ConnectError):
            client.post("https://api.example/p", headers={"x-marker": "2"})
        with pytest.raises(httpx.ReadTimeout):
            client.get("https://api.example/t")
    assert seen == ["1", "2"] and len(fake.calls) == 3


def test_an_unrouted_call_gets_the_platforms_own_not_found_and_is_recorded():
    fake = FakePlatform({}, not_routed=not_found, label=method_path_pair)
    with fake.client() as client:
        answer = client.delete("https://api.example/gone")
    assert answer.status_code == 404 and answer.json() == {"error": "no route DELETE /gone"}
    assert fake.paths() == [("DELETE", "/gone")]


def test_what_was_sent_can_be_read_back():
    fake = FakePlatform({}, not_routed=not_found)
    with fake.client() as client:
        client.post("https://api.example/j?a=1&b=two", json={"text": "hi"})
        client.post("https://api.example/f", data={"caption": "", "n": "2"})
        client.put("https://api.example/j")
    assert fake.body("POST", "/j") == {"text": "hi"} and fake.json(0) == {"text": "hi"}
    assert fake.query("POST", "/j") == {"a": "1", "b": "two"}
    assert fake.form("POST", "/f") == {"caption": "", "n": "2"}
    assert [r.url.path for r in fake.of("PUT")] == ["/j"] and fake.body("PUT", "/j") == {}
    fake.assert_called("POST", "/j", times=1)
    fake.assert_not_called("GET", "/j")
    with pytest.raises(AssertionError, match="was called 1 times, not 2"):
        fake.assert_called("POST", "/f", times=2)
    with pytest.raises(AssertionError, match="expected no request"):
        fake.assert_no_calls()


def test_routes_under_prefixes_only_relative_paths():
    assert routes_under("/xrpc/", {("GET", "a.b.c"): 1, ("GET", "/page"): 2}) == {
        ("GET", "/xrpc/a.b.c"): 1, ("GET", "/page"): 2}

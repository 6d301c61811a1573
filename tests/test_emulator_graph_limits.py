"""The emulator's Graph per-user call limit (sandbox.meta.limit_calls): off by default, counted per user and per
Page over a rolling window, answered the way Meta answers (HTTP 400, code 17 for a user, 32 for a Page, transient,
usage headers saying when access comes back), and read by the adapters' error classification as "rate limited
until then"."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.domain.errors import RetryLater
from core.platforms.meta import classify_graph

sandbox = pytest.importorskip("sandbox")
from sandbox import meta as graph                                     # noqa: E402


@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=13) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10, trust_env=False) as c:
        yield c


@pytest.fixture
def emulator(emu):
    emu.reset(clock=True)
    yield emu
    graph.limit_calls(emu.state, None)


@pytest.fixture
def get(emulator, client):
    """GET a Graph path on one of the two hosts, as an app would, with a token."""
    def call(host: str, path: str, token: str, **params) -> httpx.Response:
        return client.get(f"{emulator.url}/{host}/v25.0/{path}", params={"access_token": token, **params})
    return call


def test_off_by_default(emulator, get):
    [ig] = emulator.accounts("instagram")
    assert all(get("graph.instagram.com", "me", ig["access_token"], fields="followers_count").status_code
               == 200 for _ in range(10))


def test_a_user_over_its_budget_gets_code_17_until_the_window_moves_on(emulator, get):
    [ig, other] = emulator.accounts("instagram", count=2)
    graph.limit_calls(emulator.state, per_user=3, window_s=3600)
    answers = [get("graph.instagram.com", "me", ig["access_token"], fields="followers_count")
               for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 400]
    error = answers[3].json()["error"]
    assert (error["code"], error["error_subcode"], error["is_transient"], error["type"]) == \
        (17, 2446079, True, "OAuthException")
    assert error["message"] == "(#17) User request limit reached" and error["fbtrace_id"]
    usage = json.loads(answers[3].headers["x-business-use-case-usage"])
    assert usage[ig["account_id"]][0]["estimated_time_to_regain_access"] == 60
    # Another user is counted apart.
    assert get("graph.instagram.com", "me", other["access_token"], fields="id").status_code == 200
    # The adapters read it as "rate limited, back in 60 minutes".
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    classified = classify_graph(answers[3], label="Instagram", fallback=lambda r: AssertionError(r.text), now=now)
    assert isinstance(classified, RetryLater) and classified.rate_limited and classified.code == "17/2446079"
    assert classified.retry_at == now + timedelta(minutes=60)
    # Within the hour it stays refused; once the calls leave the rolling hour, calls go through again.
    emulator.advance(3000)
    assert get("graph.instagram.com", "me", ig["access_token"], fields="id").status_code == 400
    emulator.advance(600)
    assert get("graph.instagram.com", "me", ig["access_token"], fields="id").status_code == 200


def test_a_page_over_its_budget_gets_code_32_and_a_reset_turns_the_limit_off(emulator, get):
    [fb] = emulator.accounts("facebook")
    graph.limit_calls(emulator.state, per_user=1, window_s=600)
    page = fb["page_id"]
    assert get("graph.facebook.com", page, fb["page_access_token"], fields="followers_count").is_success
    refused = get("graph.facebook.com", page, fb["page_access_token"], fields="followers_count")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 32
    assert refused.json()["error"]["message"] == "(#32) Page request limit reached"
    usage = json.loads(refused.headers["x-business-use-case-usage"])
    assert usage[page][0]["type"] == "pages" and usage[page][0]["estimated_time_to_regain_access"] == 10
    emulator.reset(clock=True)
    [fb] = emulator.accounts("facebook")
    assert all(get("graph.facebook.com", fb["page_id"], fb["page_access_token"], fields="name").is_success
               for _ in range(5))


def test_the_setting_turns_the_limit_on_for_a_person_trying_it(emulator, get, client):
    """`graph_user_calls` (PATCH /_control/config, or `python -m sandbox --config FILE.json`): the same limit without
    Python; null turns it off again, and a value that is not a count is refused in words."""
    config = f"{emulator.url}/_control/config"
    try:
        [ig] = emulator.accounts("instagram")
        answer = client.patch(config, json={"graph_user_calls": 2, "graph_user_window_s": 600})
        assert answer.status_code == 200 and answer.json()["graph_user_calls"] == 2
        codes = [get("graph.instagram.com", "me", ig["access_token"], fields="id").status_code for _ in range(3)]
        assert codes == [200, 200, 400]
        refused = get("graph.instagram.com", "me", ig["access_token"], fields="id")
        assert refused.json()["error"]["code"] == 17
        usage = json.loads(refused.headers["x-business-use-case-usage"])
        assert usage[ig["account_id"]][0]["estimated_time_to_regain_access"] == 10
        emulator.advance(601)                                      # the rolling window moves on
        assert get("graph.instagram.com", "me", ig["access_token"], fields="id").status_code == 200
        for bad in (0, "lots", 2.5, True):
            answer = client.patch(config, json={"graph_user_calls": bad})
            assert answer.status_code == 400 and "graph_user_calls must be" in answer.text
        assert client.get(config).json()["graph_user_calls"] == 2   # a refused value changes nothing
        assert client.patch(config, json={"graph_user_calls": None}).json()["graph_user_calls"] is None
        assert all(get("graph.instagram.com", "me", ig["access_token"], fields="id").status_code == 200
                   for _ in range(5))
    finally:
        emulator.configure(graph_user_calls=None, graph_user_window_s=3600.0)

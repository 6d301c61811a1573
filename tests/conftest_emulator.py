"""Fixtures and helpers for the emulator tests: one emulator per module, a clean slate per test.

Import what a module needs: `from tests.conftest_emulator import emu, sandbox, http, consent  # noqa: F401`.
Tests talk to the emulator with plain httpx, as an adapter would.
"""
from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox import Emulator, SandboxConfig

REDIRECT = "https://outpost.example/oauth/callback"
CLIENT_PARAM = {"tiktok": "client_key"}
AUTHORIZE = {
    "instagram": ("www.instagram.com", "/oauth/authorize"),
    "facebook": ("www.facebook.com", "/v25.0/dialog/oauth"),
    "linkedin": ("www.linkedin.com", "/oauth/v2/authorization"),
    "x": ("x.com", "/i/oauth2/authorize"),
    "tiktok": ("www.tiktok.com", "/v2/auth/authorize/"),
    "youtube": ("accounts.google.com", "/o/oauth2/v2/auth"),
}
SEPARATOR = {"instagram": ",", "facebook": ",", "tiktok": ",", "linkedin": " ", "x": " ", "youtube": " "}


@pytest.fixture(scope="module")
def emu():
    with Emulator.start(seed=7) as emulator:
        yield emulator


@pytest.fixture
def sandbox(emu):
    """The module's emulator, reset (state, faults, clock) and with its settings restored after the test."""
    emu.reset(clock=True)
    saved = SandboxConfig().as_dict()
    yield emu
    emu.clear_faults()
    emu.config.update(saved)


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


def background_done(emu, timeout: float = 60.0) -> None:
    """Wait until the emulator's background work (media pulls, late effects) has finished: then what a status
    says depends only on the emulator clock. A signal to wait on, not a guess at how long a pull takes."""
    deadline = time.monotonic() + timeout
    while emu.core.tasks:
        assert time.monotonic() < deadline, f"the emulator's background work did not finish in {timeout}s"
        time.sleep(0.01)


def client_id(platform: str) -> str:
    return f"outpost-sandbox-{platform}"


def secret(platform: str) -> str:
    return f"sandbox-secret-{platform}"


def pkce_pair(verifier: str = "v" * 50) -> tuple[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def consent(http: httpx.Client, emu: Emulator, platform: str, scopes: list[str], *, handle: str = "sandbox_creator",
            decision: str = "allow", state: str = "st-1", redirect_uri: str = REDIRECT, **extra) -> dict:
    """Open the consent page, press Allow (or Deny), and return the redirect's query parameters."""
    host, path = AUTHORIZE[platform]
    params = {CLIENT_PARAM.get(platform, "client_id"): client_id(platform), "redirect_uri": redirect_uri,
              "response_type": "code", "scope": SEPARATOR[platform].join(scopes), "state": state, **extra}
    url = emu.base_url(host) + path
    page = http.get(url, params=params)
    assert page.status_code == 200, page.text
    assert "Allow" in page.text and "Deny" in page.text
    answer = http.post(url, data={**params, "handle": handle, "decision": decision})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect_uri)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def li_headers(emu: Emulator, token: str) -> dict:
    """The headers every LinkedIn /rest call needs, with this month's version by the emulator clock."""
    month = emu.state.clock.dt().strftime("%Y%m")
    return {**bearer(token), "LinkedIn-Version": month, "X-Restli-Protocol-Version": "2.0.0"}

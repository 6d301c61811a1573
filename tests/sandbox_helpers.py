"""What tests need to act like a person and an app against the emulator (sandbox)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from core.platforms.base import PlatformConfig, host_overrides_for_sandbox


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def press_on_consent_page(url: str, *, handle: str, decision: str = "allow") -> str:
    """A person's browser on the consent page: load it, press Allow (or Deny); returns the redirect's URL."""
    with httpx.Client(timeout=10, trust_env=False) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "Allow" in page.text
        answer = browser.post(url.split("?")[0], data={**query_of(url), "handle": handle, "decision": decision})
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


def sandbox_config(adapter_class, emu_url: str, redirect_uri: str, **kwargs) -> PlatformConfig:
    """The adapter's config for the emulator: sandbox client credentials, every real host rewritten."""
    slug = adapter_class.platform.value
    return PlatformConfig(client_id=f"outpost-sandbox-{slug}", client_secret=f"sandbox-secret-{slug}",
                          redirect_uri=redirect_uri,
                          host_overrides=host_overrides_for_sandbox(emu_url, adapter_class.HOSTS), **kwargs)

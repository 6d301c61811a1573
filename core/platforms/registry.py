"""The explicit registry of adapters, and building one from settings.

A slug stored in the database never changes; adding a platform means adding a
line here, not naming tricks.
"""
from __future__ import annotations

import importlib

import httpx

from core.errors import ConfigurationError
from core.platforms.base import PlatformAdapter, PlatformConfig, host_overrides_for_sandbox
from core.platforms.catalog import Platform
from core.settings import Settings

# slug -> "module:Class"; imported on first use so one broken adapter cannot stop the others.
_ADAPTERS = {
    Platform.INSTAGRAM: "core.platforms.instagram",
    Platform.FACEBOOK: "core.platforms.facebook",
    Platform.LINKEDIN: "core.platforms.linkedin",
    Platform.X: "core.platforms.x",
    Platform.TIKTOK: "core.platforms.tiktok",
    Platform.YOUTUBE: "core.platforms.youtube",
    Platform.MASTODON: "core.platforms.mastodon",
    Platform.BLUESKY: "core.platforms.bluesky",
    Platform.THREADS: "core.platforms.threads",
}


def supported_platforms() -> tuple[Platform, ...]:
    return tuple(_ADAPTERS)


def adapter_class(platform: Platform | str) -> type[PlatformAdapter]:
    platform = Platform.parse(platform)
    module_name = _ADAPTERS.get(platform)
    if module_name is None:
        raise ConfigurationError(f"Outpost cannot publish to {platform.label} yet.")
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, PlatformAdapter) and value is not PlatformAdapter \
                and getattr(value, "platform", None) == platform:
            return value
    raise ConfigurationError(f"{module_name} defines no adapter for {platform.label}.")


def platform_config(platform: Platform | str, settings: Settings) -> PlatformConfig:
    platform = Platform.parse(platform)
    cls = adapter_class(platform)
    client_id, secret = settings.oauth_client(platform.value)
    overrides = host_overrides_for_sandbox(settings.sandbox_url, getattr(cls, "HOSTS", ())) if settings.sandbox else {}
    return PlatformConfig(client_id=client_id, client_secret=secret, redirect_uri=settings.oauth_redirect_uri,
                          host_overrides=overrides, api_version=settings.api_versions.get(platform.value),
                          options=dict(settings.platform_options.get(platform.value, {})),
                          timeout_s=settings.platform_timeout_s, settle_s=settings.settle_s,
                          listing_lag_s=settings.listing_lag_s)


def build_adapter(platform: Platform | str, settings: Settings, client: httpx.Client | None = None,
                  **kwargs) -> PlatformAdapter:
    """An adapter for `platform`, configured from `settings`, on `client` (a fresh one if None)."""
    platform = Platform.parse(platform)
    cls = adapter_class(platform)
    client = client or httpx.Client(timeout=settings.platform_timeout_s, follow_redirects=False, trust_env=False)
    return cls(client, platform_config(platform, settings), **kwargs)

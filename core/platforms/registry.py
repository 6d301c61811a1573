"""The explicit registry of adapters, and building one from settings.

A slug stored in the database never changes; adding a platform means adding its adapter class to
`ADAPTERS`, not naming tricks (see `core.domain.catalog` for the whole list of steps).
"""
from __future__ import annotations

import httpx

from core.domain.errors import ConfigurationError
from core.platforms.base import PlatformAdapter, PlatformConfig, host_overrides_for_sandbox
from core.platforms.bluesky import BlueskyAdapter
from core.domain.catalog import Platform
from core.platforms.facebook import FacebookAdapter
from core.platforms.instagram import InstagramAdapter
from core.platforms.linkedin import LinkedInAdapter
from core.platforms.mastodon import MastodonAdapter
from core.platforms.threads import ThreadsAdapter
from core.platforms.tiktok import TikTokAdapter
from core.platforms.x import XAdapter
from core.platforms.youtube import YouTubeAdapter
from core.infra.settings import Settings

# slug -> adapter class, in the order the dashboard offers them.
ADAPTERS: dict[Platform, type[PlatformAdapter]] = {cls.platform: cls for cls in (
    InstagramAdapter, FacebookAdapter, LinkedInAdapter, XAdapter, TikTokAdapter, YouTubeAdapter,
    MastodonAdapter, BlueskyAdapter, ThreadsAdapter,
)}


def supported_platforms() -> tuple[Platform, ...]:
    """The platforms Outpost can publish to, in the order the dashboard offers them."""
    return tuple(ADAPTERS)


def adapter_class(platform: Platform | str) -> type[PlatformAdapter]:
    """The adapter class for a slug or label, or a clear error."""
    platform = Platform.parse(platform)
    cls = ADAPTERS.get(platform)
    if cls is None:
        raise ConfigurationError(f"Outpost cannot publish to {platform.label} yet.")
    return cls


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

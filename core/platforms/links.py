"""Where a published post's link should open.

A delivery keeps the platform-shaped URL (https://x.com/handle/status/123): that is right for real accounts.
In sandbox mode nobody can see that URL (it is a stranger's account or a 404), so the dashboard opens the
emulator's own page for the post instead: `<sandbox url>/web/<host>/<path>` (served by sandbox/server.py).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# The hosts a published post's link can be on (the Mastodon instance is added from the settings).
PUBLIC_HOSTS = frozenset({
    "x.com", "twitter.com", "instagram.com", "facebook.com", "linkedin.com", "tiktok.com",
    "youtube.com", "youtu.be", "threads.net", "threads.com", "bsky.app", "mastodon.social",
})


def _bare(host: str) -> str:
    host = host.lower().strip(".")
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def _mastodon_host(settings: Any) -> str | None:
    options = (getattr(settings, "platform_options", None) or {}).get("mastodon") or {}
    instance = str(options.get("instance") or "").strip()
    if not instance:
        return None
    return _bare(urlsplit(instance if "://" in instance else "https://" + instance).hostname or "") or None


def viewable_link(url: str | None, settings: Any) -> str | None:
    """The link a person can open for a published post: in sandbox mode the emulator's page for a platform
    URL, otherwise (or for a link that is not a platform post's) the URL unchanged."""
    if not url or not getattr(settings, "sandbox", False):
        return url
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url
    host = _bare(parts.hostname)
    if host not in PUBLIC_HOSTS and host != _mastodon_host(settings):
        return url
    base = str(getattr(settings, "sandbox_url", "") or "").rstrip("/")
    if not base:
        return url
    out = f"{base}/web/{parts.hostname.lower()}{parts.path or '/'}"
    return out + (f"?{parts.query}" if parts.query else "")

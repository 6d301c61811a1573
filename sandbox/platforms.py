"""The emulator's platforms: slug -> the module that emulates it, one entry per platform Outpost declares.

Each module holds its hosts' `routes` (a RouteTable), `control_credentials` (tokens for /_control/accounts),
`server_error` and `rate_limited` (its own 5xx and 429 bodies) and, optionally, `not_found`.
The slugs come from `core.domain.catalog.Platform`; `tests/test_platforms_declared.py` checks they match.
"""
from __future__ import annotations

from types import ModuleType

from sandbox import bluesky, facebook, instagram, linkedin, mastodon, threads, tiktok, x, youtube

MODULES: dict[str, ModuleType] = {
    "instagram": instagram, "facebook": facebook, "linkedin": linkedin, "x": x, "tiktok": tiktok,
    "youtube": youtube, "threads": threads, "mastodon": mastodon, "bluesky": bluesky,
}

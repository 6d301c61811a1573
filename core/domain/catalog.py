"""The platforms Outpost knows, by slug: the one list every other one is derived from.

A slug, once stored, never changes. Adding a platform: its member here (slug and label), its adapter file in
`core/platforms/` listed in `registry.ADAPTERS`, its rows in `core.rules.limits.LIMITS`, its emulator module listed in
`sandbox/platforms.py`, and its test file `tests/test_platform_<slug>.py`; `tests/test_platforms_declared.py`
fails until all of them exist.
"""
from __future__ import annotations

from enum import StrEnum

from core.domain.errors import Problem, UnknownPlatformError


class Platform(StrEnum):
    """A platform's slug (its value, stored in the database) and the label people read."""
    INSTAGRAM = "instagram", "Instagram"
    FACEBOOK = "facebook", "Facebook Page"
    LINKEDIN = "linkedin", "LinkedIn"
    X = "x", "X"
    TIKTOK = "tiktok", "TikTok"
    YOUTUBE = "youtube", "YouTube"
    THREADS = "threads", "Threads"
    BLUESKY = "bluesky", "Bluesky"
    MASTODON = "mastodon", "Mastodon"

    def __new__(cls, slug: str, label: str):
        member = str.__new__(cls, slug)
        member._value_ = slug
        member._label = label
        return member

    @property
    def label(self) -> str:
        return self._label

    @classmethod
    def parse(cls, value: "str | Platform") -> "Platform":
        """The platform for a slug or label ("x", "Twitter", "LinkedIn"), or a clear error."""
        if isinstance(value, Platform):
            return value
        key = str(value or "").strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(p.label for p in cls)
            raise UnknownPlatformError(Problem(
                "unknown_platform", f"'{value}' is not a platform Outpost supports. Choose one of: {known}.",
                field="platform")) from None


_ALIASES = {"twitter": "x", "x (twitter)": "x", "facebook page": "facebook", "fb": "facebook", "ig": "instagram",
            "yt": "youtube", "bsky": "bluesky"}

# The six platforms the product ships adapters for first; the others have room in the enum.
PRIMARY_PLATFORMS: tuple[Platform, ...] = (
    Platform.INSTAGRAM, Platform.FACEBOOK, Platform.LINKEDIN, Platform.X, Platform.TIKTOK, Platform.YOUTUBE)

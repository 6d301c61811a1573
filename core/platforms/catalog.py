"""The platforms Outpost knows, by slug. A slug, once stored, never changes."""
from __future__ import annotations

from enum import StrEnum

from core.errors import Problem, UnknownPlatformError


class Platform(StrEnum):
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    LINKEDIN = "linkedin"
    X = "x"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    THREADS = "threads"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"

    @property
    def label(self) -> str:
        return _LABELS[self]

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


_LABELS = {
    Platform.INSTAGRAM: "Instagram", Platform.FACEBOOK: "Facebook Page", Platform.LINKEDIN: "LinkedIn",
    Platform.X: "X", Platform.TIKTOK: "TikTok", Platform.YOUTUBE: "YouTube", Platform.THREADS: "Threads",
    Platform.BLUESKY: "Bluesky", Platform.MASTODON: "Mastodon",
}
_ALIASES = {"twitter": "x", "x (twitter)": "x", "facebook page": "facebook", "fb": "facebook", "ig": "instagram",
            "yt": "youtube", "bsky": "bluesky"}

# The six platforms the product ships adapters for first; the others have room in the enum.
PRIMARY_PLATFORMS: tuple[Platform, ...] = (
    Platform.INSTAGRAM, Platform.FACEBOOK, Platform.LINKEDIN, Platform.X, Platform.TIKTOK, Platform.YOUTUBE)

"""Settings, read once at the edge (app.py, the runner, the CLIs) and passed down.

Nothing below this module reads the environment. Every setting has an embedded
default so a fresh clone starts with SQLite, sandbox platforms and offline AI.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from core.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"'{value}' is not a yes/no value; use true or false.")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    # Sandbox mode: platforms are served by the local emulator (python -m sandbox).
    sandbox: bool = True
    sandbox_url: str = "http://127.0.0.1:8765"
    public_media_url: str = ""
    secret_keys: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    auto_migrate: bool = True
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_model: str = "gemini-2.5-flash"
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "outpost@localhost"
    log_level: str = "INFO"
    log_json: bool = False
    dashboard_url: str = "http://127.0.0.1:8501"
    # Platform app credentials: {"x": ("client id", "client secret")}. In sandbox mode the emulator's are used.
    oauth_clients: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    # Graph / API versions by platform slug, e.g. {"linkedin": "202607"}.
    api_versions: Mapping[str, str] = field(default_factory=dict)
    # Adapter options by platform slug, e.g. {"youtube": {"unaudited": True}} (OUTPOST_YOUTUBE_OPTIONS='{"unaudited": true}').
    platform_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    # Platform calls: the client's timeout, and (None: each adapter's own) how long after a send a platform may
    # still apply it and how long its listings lag (core.publisher, "in doubt"). The timeout must be shorter
    # than the settle window.
    platform_timeout_s: float = 30.0
    settle_s: float | None = None
    listing_lag_s: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{Path(self.data_dir) / 'outpost.sqlite'}")
        if self.key_file is None:
            object.__setattr__(self, "key_file", Path(self.data_dir) / "secret.key")
        if not self.public_media_url:
            # Where `python -m jobs.media_server` (started by ./outpost start) serves the media library.
            object.__setattr__(self, "public_media_url", "http://127.0.0.1:8767/media")

    def oauth_client(self, platform: str) -> tuple[str, str]:
        """(client id, client secret) for a platform, or a clear error saying which variables to set."""
        slug = str(platform)
        if slug in self.oauth_clients:
            return self.oauth_clients[slug]
        if self.sandbox:
            return (f"outpost-sandbox-{slug}", f"sandbox-secret-{slug}")
        upper = slug.upper()
        raise ConfigurationError(f"No app credentials for {slug}: set OUTPOST_{upper}_CLIENT_ID and "
                                 f"OUTPOST_{upper}_CLIENT_SECRET (from the platform's developer console).")

    @property
    def oauth_redirect_uri(self) -> str:
        # The dashboard's root: Streamlit shows a "page not found" dialog for unknown paths on a fresh
        # session, and a person coming back from a consent page always has a fresh session.
        return self.dashboard_url.rstrip("/") + "/"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("OUTPOST_DATA_DIR") or PROJECT_ROOT / "data")
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            sandbox=_bool(env.get("OUTPOST_SANDBOX"), True),
            sandbox_url=env.get("OUTPOST_SANDBOX_URL", "http://127.0.0.1:8765"),
            public_media_url=env.get("OUTPOST_PUBLIC_MEDIA_URL", ""),
            secret_keys=env.get("OUTPOST_SECRET_KEYS") or None,
            key_file=Path(env["OUTPOST_KEY_FILE"]) if env.get("OUTPOST_KEY_FILE") else None,
            auto_migrate=_bool(env.get("OUTPOST_AUTO_MIGRATE"), True),
            gemini_api_key=env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None,
            gemini_model=env.get("OUTPOST_GEMINI_MODEL", "gemini-2.5-flash"),
            smtp_url=env.get("OUTPOST_SMTP_URL") or None,
            mail_from=env.get("OUTPOST_MAIL_FROM", "outpost@localhost"),
            log_level=env.get("OUTPOST_LOG_LEVEL", "INFO").upper(),
            log_json=_bool(env.get("OUTPOST_LOG_JSON"), False),
            dashboard_url=env.get("OUTPOST_DASHBOARD_URL", "http://127.0.0.1:8501"),
            oauth_clients={slug: (env[f"OUTPOST_{slug.upper()}_CLIENT_ID"], env.get(f"OUTPOST_{slug.upper()}_CLIENT_SECRET", ""))
                           for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_CLIENT_ID")},
            api_versions={slug: env[f"OUTPOST_{slug.upper()}_API_VERSION"]
                          for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_API_VERSION")},
            platform_options={slug: _json_object(env[f"OUTPOST_{slug.upper()}_OPTIONS"], f"OUTPOST_{slug.upper()}_OPTIONS")
                              for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_OPTIONS")},
            platform_timeout_s=_seconds(env, "OUTPOST_PLATFORM_TIMEOUT_S") or 30.0,
            settle_s=_seconds(env, "OUTPOST_SETTLE_S"),
            listing_lag_s=_seconds(env, "OUTPOST_LISTING_LAG_S"),
        )


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not '{text}'.") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative.")
    return value


def _json_object(text: str, name: str) -> dict:
    import json
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object, such as {{\"unaudited\": true}}.")
    return value


_SLUGS = ("instagram", "facebook", "linkedin", "x", "tiktok", "youtube", "threads", "bluesky", "mastodon")

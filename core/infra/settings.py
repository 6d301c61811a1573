"""Settings, read once at the edge (app.py, the runner, the CLIs) and passed down.

Nothing below this module reads the environment. Every setting has an embedded
default so a fresh clone starts with SQLite, sandbox platforms and offline AI.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

from core.domain.errors import ConfigurationError, OutpostError
from core.domain.catalog import Platform
from core.infra.secrets import register_secret

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
    # Dashboard sessions end after this long unused, and after this long in any case (core.services.auth).
    session_idle_s: float = 14 * 86400.0
    session_max_s: float = 30 * 86400.0
    # Platform app credentials: {"x": ("client id", "client secret")}. In sandbox mode the emulator's are used.
    oauth_clients: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    # Graph / API versions by platform slug, e.g. {"linkedin": "202607"}.
    api_versions: Mapping[str, str] = field(default_factory=dict)
    # Adapter options by platform slug, e.g. {"youtube": {"unaudited": True}} (OUTPOST_YOUTUBE_OPTIONS='{"unaudited": true}').
    platform_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    # Platform calls: the client's timeout, and (None: each adapter's own) how long after a send a platform may
    # still apply it and how long its listings lag (core.services.publisher, "in doubt"). The timeout must be shorter
    # than the settle window.
    platform_timeout_s: float = 30.0
    settle_s: float | None = None
    listing_lag_s: float | None = None
    # The runner (jobs.runner; each has a command-line flag that wins over it). runner_name "" is the host name.
    runner_name: str = ""
    runner_concurrency: int = 32                  # publishes in flight at once
    # Most publishes in flight per platform ({"youtube": 2}); a platform not named uses its adapter's own cap.
    platform_concurrency: Mapping[str, int] = field(default_factory=dict)
    runner_lease_s: float = 120.0
    burst_limit: int = 3                          # at most this many posts per account ...
    burst_window_s: float = 600.0                 # ... within this many seconds
    max_attempts: int = 4
    retry_delays_s: tuple[float, ...] = (60.0, 300.0, 900.0)
    max_lateness_s: float = 3600.0                # a delivery found later than this goes to review instead of out
    reconcile_after_s: float = 30.0               # after a lost answer, wait this long before asking the platform
    # Metric history (core.services.insights.MetricSchedule): a post is pulled every metrics_young_every_s while
    # younger than metrics_young_hours, then every metrics_old_every_s until metrics_max_age_days; each account's
    # followers every followers_every_s. The runner looks at what is due every metrics_tick_s.
    metrics_young_hours: float = 48.0
    metrics_young_every_s: float = 3600.0
    metrics_old_every_s: float = 86400.0
    metrics_max_age_days: float = 30.0
    followers_every_s: float = 21600.0
    metrics_tick_s: float = 300.0

    def __post_init__(self):
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{Path(self.data_dir) / 'outpost.sqlite'}")
        if self.key_file is None:
            object.__setattr__(self, "key_file", Path(self.data_dir) / "secret.key")
        if not self.public_media_url:
            # Where `python -m jobs.media_server` (started by ./outpost start) serves the media library.
            object.__setattr__(self, "public_media_url", "http://127.0.0.1:8767/media")
        register_secret(*self._secrets())

    def _secrets(self) -> list[str | None]:
        """Every secret these settings hold, for the log redaction (`core.infra.secrets.register_secret`)."""
        keys = [entry.partition(":")[2].strip() for entry in re.split(r"[,\n]", self.secret_keys or "")]
        passwords = [p for url in (self.database_url, self.smtp_url) for p in _url_password(url)]
        return [self.secret_keys, self.gemini_api_key, *keys, *passwords,
                *(secret for _client_id, secret in self.oauth_clients.values())]

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
            session_idle_s=_duration(env.get("OUTPOST_SESSION_IDLE_DAYS"), "OUTPOST_SESSION_IDLE_DAYS", 14.0,
                                     positive=True) * 86400.0,
            session_max_s=_duration(env.get("OUTPOST_SESSION_MAX_DAYS"), "OUTPOST_SESSION_MAX_DAYS", 30.0,
                                    positive=True) * 86400.0,
            oauth_clients={slug: (env[f"OUTPOST_{slug.upper()}_CLIENT_ID"], env.get(f"OUTPOST_{slug.upper()}_CLIENT_SECRET", ""))
                           for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_CLIENT_ID")},
            api_versions={slug: env[f"OUTPOST_{slug.upper()}_API_VERSION"]
                          for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_API_VERSION")},
            platform_options={slug: _json_object(env[f"OUTPOST_{slug.upper()}_OPTIONS"], f"OUTPOST_{slug.upper()}_OPTIONS")
                              for slug in _SLUGS if env.get(f"OUTPOST_{slug.upper()}_OPTIONS")},
            platform_timeout_s=_seconds(env, "OUTPOST_PLATFORM_TIMEOUT_S") or 30.0,
            settle_s=_seconds(env, "OUTPOST_SETTLE_S"),
            listing_lag_s=_seconds(env, "OUTPOST_LISTING_LAG_S"),
            runner_name=(env.get("OUTPOST_RUNNER_NAME") or "").strip(),
            runner_concurrency=_count(env.get("OUTPOST_RUNNER_CONCURRENCY"), "OUTPOST_RUNNER_CONCURRENCY", 32),
            platform_concurrency=parse_platform_concurrency(env.get("OUTPOST_PLATFORM_CONCURRENCY") or "",
                                                            "OUTPOST_PLATFORM_CONCURRENCY"),
            runner_lease_s=_duration(env.get("OUTPOST_RUNNER_LEASE_S"), "OUTPOST_RUNNER_LEASE_S", 120.0, positive=True),
            burst_limit=_count(env.get("OUTPOST_BURST_LIMIT"), "OUTPOST_BURST_LIMIT", 3),
            burst_window_s=_duration(env.get("OUTPOST_BURST_WINDOW_S"), "OUTPOST_BURST_WINDOW_S", 600.0),
            max_attempts=_count(env.get("OUTPOST_MAX_ATTEMPTS"), "OUTPOST_MAX_ATTEMPTS", 4),
            retry_delays_s=parse_retry_delays(env.get("OUTPOST_RETRY_DELAYS_S") or "60,300,900",
                                              "OUTPOST_RETRY_DELAYS_S"),
            max_lateness_s=_duration(env.get("OUTPOST_MAX_LATENESS_S"), "OUTPOST_MAX_LATENESS_S", 3600.0),
            reconcile_after_s=_duration(env.get("OUTPOST_RECONCILE_AFTER_S"), "OUTPOST_RECONCILE_AFTER_S", 30.0),
            metrics_young_hours=_duration(env.get("OUTPOST_METRICS_YOUNG_HOURS"), "OUTPOST_METRICS_YOUNG_HOURS", 48.0),
            metrics_young_every_s=_duration(env.get("OUTPOST_METRICS_YOUNG_EVERY_S"), "OUTPOST_METRICS_YOUNG_EVERY_S",
                                            3600.0, positive=True),
            metrics_old_every_s=_duration(env.get("OUTPOST_METRICS_OLD_EVERY_S"), "OUTPOST_METRICS_OLD_EVERY_S",
                                          86400.0, positive=True),
            metrics_max_age_days=_duration(env.get("OUTPOST_METRICS_MAX_AGE_DAYS"), "OUTPOST_METRICS_MAX_AGE_DAYS",
                                           30.0, positive=True),
            followers_every_s=_duration(env.get("OUTPOST_FOLLOWERS_EVERY_S"), "OUTPOST_FOLLOWERS_EVERY_S", 21600.0,
                                        positive=True),
            metrics_tick_s=_duration(env.get("OUTPOST_METRICS_TICK_S"), "OUTPOST_METRICS_TICK_S", 300.0, positive=True),
        )


def _url_password(url: str | None) -> tuple[str, ...]:
    """The password in a database or SMTP URL, as written and percent-decoded."""
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        return ()
    return (password, unquote(password)) if password else ()


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


def _count(text: str | None, name: str, default: int) -> int:
    """A whole number of at least 1 (workers, posts, attempts), or its default when unset."""
    text = (text or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not '{text}'.") from None
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, not {value}.")
    return value


def _duration(text: str | None, name: str, default: float, *, positive: bool = False) -> float:
    """A number of seconds (never negative; `positive`: more than zero), or its default when unset."""
    value = _seconds({name: text or ""}, name)
    if value is None:
        return default
    if positive and value == 0:
        raise ConfigurationError(f"{name} must be more than 0 seconds.")
    return value


def parse_platform_concurrency(text: str, name: str = "OUTPOST_PLATFORM_CONCURRENCY") -> dict[str, int]:
    """"youtube=2, Twitter=8" -> {"youtube": 2, "x": 8}, or a ConfigurationError naming `name` and the bad part."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in str(text or "").split(","))):
        slug, sep, value = part.partition("=")
        try:
            platform = Platform.parse(slug.strip()).value
            n = int(value)
        except (OutpostError, ValueError):
            raise ConfigurationError(f"{name}: {part!r} is not PLATFORM=NUMBER (e.g. youtube=2).") from None
        if not sep or n < 1:
            raise ConfigurationError(f"{name}: {part!r} needs a number of at least 1 (e.g. youtube=2).")
        out[platform] = n
    return out


def parse_retry_delays(text: str, name: str = "OUTPOST_RETRY_DELAYS_S") -> tuple[float, ...]:
    """"60,300,900" -> (60.0, 300.0, 900.0): the waits between attempts, at least one, none negative."""
    out = []
    for part in filter(None, (p.strip() for p in str(text or "").split(","))):
        try:
            value = float(part)
        except ValueError:
            raise ConfigurationError(f"{name}: {part!r} is not a number of seconds (e.g. 60,300,900).") from None
        if value < 0:
            raise ConfigurationError(f"{name}: {part!r} must not be negative.")
        out.append(value)
    if not out:
        raise ConfigurationError(f"{name} needs at least one wait in seconds (e.g. 60,300,900).")
    return tuple(out)


def _json_object(text: str, name: str) -> dict:
    import json
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object, such as {{\"unaudited\": true}}.")
    return value


_SLUGS = tuple(platform.value for platform in Platform)

"""Logging for every Outpost process: one handler, tokens always redacted, optional JSON lines.

Redacted: every secret the process has loaded (each token the cipher decrypts or encrypts, the keys, the
secrets in Settings: `core.infra.secrets.register_secret`), bearer tokens and named secret fields (access_token,
client_secret, Bluesky's accessJwt / refreshJwt...), in plain and JSON lines alike.
"""
from __future__ import annotations

import json
import logging
import sys

from core.infra.secrets import RedactingFilter

_FILTER = RedactingFilter()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        for key in ("delivery_id", "post_id", "account_id", "platform", "runner_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_lines: bool = False, stream=None) -> RedactingFilter:
    """Install the one root handler (idempotent). Returns the filter (`add_secret` masks more values; every
    secret the process loads is already registered through `core.infra.secrets.register_secret`)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_outpost", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._outpost = True  # type: ignore[attr-defined]
    handler.addFilter(_FILTER)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every URL at INFO, query strings included; keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces every plugin at INFO on each start (and on each --health check).
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return _FILTER


def redaction_filter() -> RedactingFilter:
    return _FILTER

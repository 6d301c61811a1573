"""Opening Outpost's storage from settings: one place for the dashboard, the runner and the CLIs."""
from __future__ import annotations

import logging

from core.infra.settings import Settings

log = logging.getLogger("outpost")


def open_store(settings: Settings, *, auto_upgrade: bool | None = None, **engine_kwargs):
    """The SQL store for `settings`, with the schema brought up to date (or a clear refusal).

    `engine_kwargs` go to the engine (the runner sizes its connection pool to its worker threads).
    """
    from core.db import ensure_schema, make_engine
    from core.db.sql_store import SqlPostStore
    from core.infra.secrets import load_keyring

    import sqlalchemy as sa
    from core.domain.errors import ConfigurationError

    engine = make_engine(settings.database_url, **engine_kwargs)
    try:
        ensure_schema(engine, auto_upgrade=settings.auto_migrate if auto_upgrade is None else auto_upgrade)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(getattr(exc, "orig", exc)).strip() else ""
        raise ConfigurationError(f"Outpost cannot open its database at {where}: {reason or type(exc).__name__}. "
                                 "Check DATABASE_URL and that the database server is running.") from None
    cipher = load_keyring(env_value=settings.secret_keys, key_file=settings.key_file)
    return SqlPostStore(engine, cipher)

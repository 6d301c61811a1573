"""Schema migrations (Alembic, configured here; no alembic.ini needed).

``upgrade(engine)`` brings a database to the newest revision, ``check_schema``
refuses to run against an old one, and ``ensure_schema`` is what the dashboard
and the runner call when they start. From a shell: ``python -m core.db upgrade``.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from core.db.engine import is_postgres, write_transaction
from core.domain.errors import SchemaOutOfDateError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "python -m core.db upgrade"
# Serialises concurrent upgrades on PostgreSQL (a dashboard and a runner starting together).
_PG_UPGRADE_LOCK = 0x0A7B0571


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config pointing at Outpost's migrations, bound to `connection` or `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration the code knows."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"The migrations have {len(heads)} heads ({', '.join(heads)}); merge them.")
    return heads[0]


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    heads = MigrationContext.configure(bind).get_current_heads()
    return heads[0] if heads else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: newest) in one transaction."""
    with write_transaction(engine) as conn:
        if is_postgres(conn):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_UPGRADE_LOCK)))
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with write_transaction(engine) as conn:
        command.downgrade(alembic_config(conn), revision)


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDateError unless the database is at the newest revision."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is None:
        raise SchemaOutOfDateError(
            f"The database at {_where(engine)} has no Outpost tables yet. Create them with: {UPGRADE_COMMAND}")
    if current not in known:
        raise SchemaOutOfDateError(
            f"The database at {_where(engine)} is at revision {current}, which this version of Outpost does not "
            "know: it was migrated by a newer Outpost. Upgrade the code, not the database.")
    raise SchemaOutOfDateError(
        f"The database at {_where(engine)} is at revision {current}, but this version of Outpost needs {head}. "
        f"Bring it up to date with: {UPGRADE_COMMAND}")


def ensure_schema(engine: Engine, auto_upgrade: bool = True) -> None:
    """Upgrade the schema to the newest revision, or (auto_upgrade=False) only check it is there."""
    if auto_upgrade:
        upgrade(engine)
    else:
        check_schema(engine)


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)

"""Alembic environment for Outpost (run through core.db.migrate, which passes a connection)."""
from __future__ import annotations

from alembic import context

from core.db.schema import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Used directly by the alembic CLI: build an engine from the configured URL.
    from core.db.engine import make_engine, write_transaction
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with write_transaction(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Outpost's migrations run online only: use python -m core.db upgrade.")
run_migrations_online()

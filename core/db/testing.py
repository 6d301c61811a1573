"""Databases for tests, demos and benchmarks: a fresh SQLite file, or a throwaway PostgreSQL schema."""
from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.db.engine import make_engine, write_transaction
from core.db.migrate import upgrade
from core.db.schema import metadata


def sqlite_engine(path: Path, *, migrate: bool = True) -> Engine:
    """An engine on a SQLite file at `path`, migrated to head unless migrate=False.

    A new file is a copy of one migrated to head once per process (the same bytes as migrating it: the
    migrations themselves are tested in tests/test_migrations.py); an existing file is upgraded in place.
    """
    path = Path(path)
    if migrate and not path.exists():
        copy_migrated_sqlite(path)
        return make_engine(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    if migrate:
        upgrade(engine)
    return engine


_MIGRATED: dict[str, Path] = {}


def copy_migrated_sqlite(path: Path) -> None:
    """Write at `path` (which must not exist) an empty SQLite database migrated to head."""
    template = _MIGRATED.get("head")
    if template is None or not template.exists():
        folder = tempfile.mkdtemp(prefix="outpost-migrated-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "head.sqlite"
        engine = make_engine(f"sqlite:///{template}")
        try:
            upgrade(engine)
            with engine.connect() as conn:     # everything in the file itself, none left in a write-ahead log
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        _MIGRATED["head"] = template
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


@contextmanager
def postgres_schema(url: str, *, migrate: bool = True, prefix: str = "outpost_test") -> Iterator[Engine]:
    """An engine whose search_path is a new, uniquely named schema; the schema is dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        # Test data need not survive a crash: skipping the commit flush makes tests several times faster.
        engine = make_engine(url, connect_args={"options": f"-c search_path={name} -c synchronous_commit=off"})
        try:
            if migrate:
                upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        admin.dispose()


def clear_tables(engine: Engine) -> None:
    """Delete every row (the schema and its revision stay).

    DELETE rather than TRUNCATE: on the handful of rows a test leaves, it is many times faster.
    """
    with write_transaction(engine) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(sa.delete(table))

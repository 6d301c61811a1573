"""The SQL system of record: engines, schema, migrations and the SQL store.

    engine = make_engine("sqlite:///data/outpost.sqlite")   # or postgresql://...
    ensure_schema(engine)                                      # upgrade to head (or check only)
    store = SqlPostStore(engine, cipher)                       # core.store.PostStore

From a shell: ``python -m core.db upgrade | current | check | rotate-keys``.
"""
from core.db.engine import make_engine, normalize_url, write_transaction
from core.db.migrate import check_schema, current_revision, ensure_schema, head_revision, upgrade
from core.db.tokens import rotate_keys, token_key_usage

__all__ = ["make_engine", "normalize_url", "write_transaction", "upgrade", "check_schema", "ensure_schema",
           "current_revision", "head_revision", "rotate_keys", "token_key_usage", "SqlPostStore"]


def __getattr__(name: str):
    # The store pulls in the whole domain; load it only when asked for.
    if name == "SqlPostStore":
        from core.db.sql_store import SqlPostStore
        return SqlPostStore
    raise AttributeError(name)

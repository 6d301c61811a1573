"""``python -m core.db``: migrate the database and rotate the token key.

    python -m core.db upgrade [--url URL]       bring the schema to the newest revision
    python -m core.db current [--url URL]       show the revision the database is at
    python -m core.db check [--url URL]         exit 1 unless the schema is up to date
    python -m core.db rotate-keys [--url URL] [--key-file PATH]
                                                add a new current key and re-encrypt every token

The URL defaults to DATABASE_URL (else the SQLite file in the data directory).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.db.engine import make_engine
from core.db.migrate import check_schema, current_revision, head_revision, upgrade
from core.db.tokens import rotate_keys, token_key_usage
from core.domain.errors import OutpostError
from core.infra.secrets import load_keyring, save_keyring
from core.infra.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.db", description="Outpost database tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("upgrade", "bring the schema to the newest revision"),
                        ("current", "show the schema revision of the database"),
                        ("check", "exit with status 1 unless the schema is up to date"),
                        ("rotate-keys", "add a new current token key and re-encrypt every stored token")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--url", help="database URL (default: DATABASE_URL or the SQLite file in the data dir)")
        if name == "rotate-keys":
            cmd.add_argument("--key-file", type=Path, help="key file (default: OUTPOST_KEY_FILE or data/secret.key)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    engine = make_engine(args.url or settings.database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        if args.command == "upgrade":
            before = current_revision(engine)
            upgrade(engine)
            after = current_revision(engine)
            print(f"{where}: {before or 'empty'} -> {after}" if before != after else f"{where}: already at {after}")
        elif args.command == "current":
            current, head = current_revision(engine), head_revision()
            state = "up to date" if current == head else f"behind (newest is {head}; run python -m core.db upgrade)"
            print(f"{where}: {current or 'no schema'} - {state}")
        elif args.command == "check":
            check_schema(engine)
            print(f"{where}: schema up to date ({head_revision()})")
        elif args.command == "rotate-keys":
            check_schema(engine)
            _rotate(engine, settings, args.key_file)
    except OutpostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _rotate(engine, settings: Settings, key_file: Path | None) -> None:
    if settings.secret_keys:
        # Keys from the environment cannot be written back: the operator puts the new key first.
        cipher = load_keyring(env_value=settings.secret_keys, key_file=Path(key_file or settings.key_file))
        print(f"Keys come from OUTPOST_SECRET_KEYS; re-encrypting with its first key '{cipher.current_key_id}'.")
    else:
        key_file = Path(key_file or settings.key_file)
        cipher = load_keyring(env_value=None, key_file=key_file).with_new_key()
        # The new keyring (new key first, old keys kept) is saved before any token uses the new key.
        save_keyring(cipher, key_file)
        print(f"Added key '{cipher.current_key_id}' to {key_file}.")
    changed = rotate_keys(engine, cipher)
    usage = ", ".join(f"{k}: {n}" for k, n in sorted(token_key_usage(engine).items())) or "no tokens stored"
    print(f"Re-encrypted {changed} token(s). Tokens per key now: {usage}.")
    print("Restart the dashboard and the runner so they load the new key.")


if __name__ == "__main__":
    sys.exit(main())

"""Migrations: empty to head on SQLite and PostgreSQL, the schema check, migrations == metadata, data kept."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.db import check_schema, current_revision, ensure_schema, head_revision, upgrade
from core.db.migrate import downgrade
from core.db.schema import UtcDateTime, metadata
from core.db.sql_store import SqlPostStore
from core.db.testing import postgres_schema, sqlite_engine
from core.domain import ActivityEvent, OAuthState
from core.domain.errors import DuplicateError, SchemaOutOfDateError
from core.infra.secrets import TokenCipher

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("OUTPOST_TEST_POSTGRES_URL")
SKIP_POSTGRES = "set OUTPOST_TEST_POSTGRES_URL to run the PostgreSQL store tests"


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]),
])
def empty_engine(request, tmp_path):
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        eng = sqlite_engine(tmp_path / "outpost.sqlite", migrate=False)
        yield eng
        eng.dispose()
    else:
        with postgres_schema(POSTGRES_URL, migrate=False) as eng:
            yield eng


def tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def differences(engine, target=metadata) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), target)


def test_upgrade_from_empty_to_head(empty_engine):
    assert current_revision(empty_engine) is None and tables(empty_engine) == set()
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert tables(empty_engine) == set(metadata.tables) | {"alembic_version"}
    upgrade(empty_engine)  # a second run changes nothing
    assert current_revision(empty_engine) == head_revision()


def test_migrated_schema_matches_the_metadata(empty_engine):
    upgrade(empty_engine)
    assert differences(empty_engine) == []


def test_the_comparison_would_notice_a_missing_migration(empty_engine):
    upgrade(empty_engine)
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["posts"].append_column(sa.Column("mood", sa.String(20)))
    sa.Index("ix_posts_mood", changed.tables["posts"].c.mood)
    diffs = differences(empty_engine, changed)
    assert {d[0] for d in diffs} == {"add_column", "add_index"}


def test_check_schema_on_an_empty_database_names_the_command(empty_engine):
    with pytest.raises(SchemaOutOfDateError, match=r"python -m core\.db upgrade"):
        check_schema(empty_engine)
    with pytest.raises(SchemaOutOfDateError, match=r"python -m core\.db upgrade"):
        ensure_schema(empty_engine, auto_upgrade=False)
    ensure_schema(empty_engine)  # auto_upgrade: brings it up to date
    check_schema(empty_engine)
    ensure_schema(empty_engine, auto_upgrade=False)


def test_check_schema_refuses_a_database_from_a_newer_outpost(empty_engine):
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(SchemaOutOfDateError, match="newer Outpost"):
        check_schema(empty_engine)


def test_downgrade_to_base_and_back(empty_engine):
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert tables(empty_engine) == {"alembic_version"} and current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert differences(empty_engine) == []


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)
def test_two_processes_starting_together_both_upgrade_cleanly():
    with postgres_schema(POSTGRES_URL, migrate=False) as eng:
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)

        def start() -> None:
            barrier.wait()
            try:
                ensure_schema(eng)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == [] and current_revision(eng) == head_revision()


def test_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli' / 'outpost.sqlite'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OUTPOST_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core.db", *args, "--url", url], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    check = run("check")
    assert check.returncode == 1 and "python -m core.db upgrade" in check.stderr
    up = run("upgrade")
    assert up.returncode == 0, up.stderr
    assert f"empty -> {head_revision()}" in up.stdout
    current = run("current")
    assert current.returncode == 0 and head_revision() in current.stdout and "up to date" in current.stdout


# ---------------------------------------------------------------- 0001 -> 0002 with data in the database

T0 = datetime(2030, 3, 4, 8, 0, 0, 123456, tzinfo=timezone.utc)
OLD = "0001_initial"


def insert(conn, table: str, **values) -> None:
    """A row as revision 0001 stored it (plain SQL tables: the current metadata may have moved on)."""
    def typed(name, value):
        if isinstance(value, datetime):
            return sa.column(name, UtcDateTime())
        if isinstance(value, (dict, list)):
            return sa.column(name, sa.JSON())
        return sa.column(name)
    conn.execute(sa.table(table, *(typed(k, v) for k, v in values.items())).insert().values(**values))


def old_account(id: str, external_id: str | None, cipher: TokenCipher, platform: str = "instagram") -> dict:
    return dict(id=id, workspace_id="ws_1", platform=platform, handle=f"@{id}", display_name="",
                oauth_token_enc=cipher.encrypt(f"token-of-{id}", account_id=id), refresh_token_enc=None,
                scopes=["basic"], external_id=external_id, status="connected", connected_at=T0, meta={})


def fill_revision_0001(engine, cipher: TokenCipher) -> None:
    with engine.begin() as conn:
        insert(conn, "workspaces", id="ws_1", name="Acme", timezone_name="Europe/Berlin", preferred_time="09:00:00",
               queue_slots={"0": ["09:00:00"]}, requires_approval=False, created_at=T0)
        insert(conn, "users", id="user_1", email="owner@acme.test", display_name="Olive", created_at=T0)
        insert(conn, "memberships", user_id="user_1", workspace_id="ws_1", role="owner")
        insert(conn, "accounts", **old_account("acct_ig", "ig-1", cipher))
        insert(conn, "accounts", **old_account("acct_li", None, cipher, "linkedin"))
        due = T0 + timedelta(days=1)
        insert(conn, "posts", id="post_1", workspace_id="ws_1", caption="Hello", hashtags=["#hi"], call_to_action="",
               link="", media_urls=[], variants={}, due_at=due, timezone_name="Europe/Berlin",
               is_ai_generated=False, state="approved", status="scheduled", created_at=T0, updated_at=T0, version=1)
        insert(conn, "post_accounts", post_id="post_1", account_id="acct_ig", position=0)
        insert(conn, "deliveries", id="dlv_1", post_id="post_1", account_id="acct_ig", platform="instagram",
               position=0, due_at=due, state="queued", attempts=0, next_attempt_at=due, version=1, updated_at=T0)
        # Written in this order; two ties at T0 whose ids sort against the order of writing.
        for id_, at, action in (("evt_c", T0, "created"), ("evt_a", T0, "scheduled"),
                                ("evt_b", T0 - timedelta(minutes=1), "drafted"),
                                ("evt_d", T0 + timedelta(minutes=1), "approved")):
            insert(conn, "activity_events", id=id_, at=at, action=action, subject_type="post", subject_id="post_1",
                   actor="system", workspace_id="ws_1", details={"n": id_})


def test_upgrading_0001_with_data_keeps_it(empty_engine):
    cipher = TokenCipher.generate()
    upgrade(empty_engine, OLD)
    fill_revision_0001(empty_engine, cipher)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision() and differences(empty_engine) == []

    store = SqlPostStore(empty_engine, cipher, clock=lambda: T0)
    assert store.get_workspace("ws_1").name == "Acme" and store.get_user_by_email("owner@acme.test").id == "user_1"
    assert store.get_account("acct_ig").oauth_token == "token-of-acct_ig"
    assert store.find_account("ws_1", "instagram", "ig-1").id == "acct_ig"
    post = store.get_post("post_1")
    assert (post.caption, post.hashtags, [a.id for a in post.accounts]) == ("Hello", ("#hi",), ["acct_ig"])
    assert (post.title, post.first_comment) == ("", "")     # columns added later read as "none" on old rows
    assert [(d.id, d.state.value) for d in store.get_deliveries("post_1")] == [("dlv_1", "queued")]
    assert [d.id for d in store.due_deliveries(T0 + timedelta(days=2))] == ["dlv_1"]
    # Old events keep their place: SQLite knew the order they were written in (rowid); PostgreSQL keeps the
    # order they were listed in before (at, then id).
    ties = ["scheduled", "created"] if empty_engine.dialect.name == "sqlite" else ["created", "scheduled"]
    assert [e.action for e in store.list_events()] == ["approved", *ties, "drafted"]
    assert store.list_events(subject_id="post_1")[0].details == {"n": "evt_d"}
    # New events are numbered after them: the newest of an instant comes first, whatever its id.
    store.record_event(ActivityEvent(action="commented", subject_type="post", subject_id="post_1", at=T0,
                                     workspace_id="ws_1", id="evt_0"))
    assert [e.action for e in store.list_events()] == ["approved", "commented", *ties, "drafted"]
    # And the new table works.
    store.add_oauth_state(OAuthState(state_hash="h" * 64, user_id="user_1", workspace_id="ws_1", platform="x",
                                     expires_at=T0 + timedelta(minutes=10), code_verifier="v"))
    assert store.consume_oauth_state("h" * 64, T0).code_verifier == "v"


def test_downgrading_0002_keeps_the_activity_log(empty_engine):
    cipher = TokenCipher.generate()
    upgrade(empty_engine, OLD)
    fill_revision_0001(empty_engine, cipher)
    upgrade(empty_engine)
    store = SqlPostStore(empty_engine, cipher, clock=lambda: T0)
    store.record_event(ActivityEvent(action="commented", subject_type="post", subject_id="post_1", at=T0, id="evt_0"))
    before = [e.id for e in store.list_events()]
    downgrade(empty_engine, OLD)
    assert current_revision(empty_engine) == OLD and "oauth_states" not in tables(empty_engine)
    with empty_engine.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT id FROM activity_events")).scalars()) == sorted(before)
    upgrade(empty_engine)
    after = [e.id for e in store.list_events()]
    assert sorted(after) == sorted(before)
    if empty_engine.dialect.name == "sqlite":  # the write order survives the round trip
        assert after == before


def test_upgrade_refuses_duplicate_platform_accounts_and_changes_nothing(empty_engine):
    cipher = TokenCipher.generate()
    upgrade(empty_engine, OLD)
    fill_revision_0001(empty_engine, cipher)
    with empty_engine.begin() as conn:
        insert(conn, "accounts", **old_account("acct_ig_again", "ig-1", cipher))
    with pytest.raises(DuplicateError, match=r"instagram account ig-1 in workspace ws_1 \(2 rows\)"):
        upgrade(empty_engine)
    assert current_revision(empty_engine) == OLD and "oauth_states" not in tables(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM accounts WHERE id = 'acct_ig_again'"))
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()

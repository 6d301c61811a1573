"""What only the SQL store has to prove: file settings, tokens at rest, key rotation, atomicity, indexes."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.db import make_engine, normalize_url, rotate_keys, token_key_usage
from core.db.__main__ import main as db_cli
from core.db.schema import accounts, activity_events, deliveries, oauth_states, post_accounts, posts
from core.db.sql_store import SqlPostStore
from core.db.testing import clear_tables, sqlite_engine
from core.domain import Account, ActivityEvent, Delivery, OAuthState, Post, Schedule, User, Workspace
from core.domain.errors import ConflictError, DuplicateError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.infra.secrets import TokenCipher, TokenDecryptError, load_keyring
from tests.store_contract.world import POSTGRES_URL, SKIP_POSTGRES

UTC = timezone.utc
T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
ACCESS = "EAAGm0PX4ZCpsBA-very-secret-access-token"
REFRESH = "rt_9f8e7d6c5b4a-very-secret-refresh-token"
VERIFIER = "pkce-verifier-very-secret-Zk3x9Qm2Lr7Tv5Wn8Yp4"
PAGE_TOKEN = "EAAPpage-very-secret-page-token"


# The SQL stores only (postgres_engine: tests/conftest.py).
@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]),
])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = sqlite_engine(tmp_path / "outpost.sqlite")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("postgres_engine")
        clear_tables(eng)
        yield eng


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher.generate("k1")


@pytest.fixture
def store(engine, cipher) -> SqlPostStore:
    return SqlPostStore(engine, cipher, clock=lambda: T0)


def seed(store: SqlPostStore, n_accounts: int = 2) -> list[Account]:
    store.add_workspace(Workspace(name="Acme", id="ws_1"))
    return [store.save_account(Account(platform="instagram" if i % 2 == 0 else "linkedin", handle=f"@acct{i}",
                                       oauth_token=f"{ACCESS}-{i}", refresh_token=f"{REFRESH}-{i}",
                                       workspace_id="ws_1", id=f"acct_{i}"))
            for i in range(n_accounts)]


def attempt(state_hash: str, verifier: str | None = VERIFIER) -> OAuthState:
    """A connect attempt in ws_1 by user_1 (call `person` first)."""
    return OAuthState(state_hash=state_hash, user_id="user_1", workspace_id="ws_1", platform="x",
                      expires_at=T0 + timedelta(minutes=10), code_verifier=verifier)


def person(store: SqlPostStore) -> User:
    return store.add_user(User(email="owner@acme.test", id="user_1"))


def approved_post(post_id: str, targets: list[Account], at: datetime = T0 + timedelta(hours=1)) -> tuple[Post, list]:
    post = Post(caption=f"Hello from {post_id}", accounts=tuple(targets), id=post_id, workspace_id="ws_1",
                schedule=Schedule(scheduled_at=at), state=PostState.APPROVED)
    dlv = [Delivery(post_id=post_id, account_id=a.id, platform=a.platform, due_at=at, id=f"dlv_{post_id}_{a.id}")
           for a in targets]
    return post, dlv


def count(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def capture_selects(engine) -> list[tuple[str, object]]:
    """Every SELECT the engine runs from now on, with its parameters."""
    seen: list[tuple[str, object]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))
    return seen


# ---------------------------------------------------------------- SQLite file settings

def test_sqlite_connection_settings(tmp_path):
    eng = sqlite_engine(tmp_path / "nested" / "dir" / "outpost.sqlite")  # the parent directory is created
    try:
        with eng.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 5000
            assert pragma("synchronous") == 1  # NORMAL
    finally:
        eng.dispose()


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db:5432/outpost", "postgresql+psycopg://u:p@db:5432/outpost"),        # Heroku-style
    ("postgresql://u@db/outpost?sslmode=require", "postgresql+psycopg://u@db/outpost?sslmode=require"),
    ("postgresql+psycopg://u@db/outpost", "postgresql+psycopg://u@db/outpost"),            # already explicit
    ("sqlite:///data/outpost.sqlite", "sqlite:///data/outpost.sqlite"),
])
def test_database_urls_are_normalised_to_psycopg(given, expected):
    assert normalize_url(given) == expected


def test_make_engine_uses_psycopg_for_postgres_urls():
    eng = make_engine("postgres://u@127.0.0.1:1/none")  # no connection is made
    assert eng.dialect.name == "postgresql" and eng.dialect.driver == "psycopg"
    assert eng.pool._pre_ping
    eng.dispose()


def test_sqlite_foreign_keys_are_enforced(tmp_path):
    eng = sqlite_engine(tmp_path / "outpost.sqlite")
    try:
        with pytest.raises(sa.exc.IntegrityError):
            with eng.begin() as conn:
                conn.execute(post_accounts.insert().values(post_id="nope", account_id="nope", position=0))
    finally:
        eng.dispose()


# ---------------------------------------------------------------- tokens at rest

def test_database_file_never_holds_a_token_in_plaintext(tmp_path, cipher):
    path = tmp_path / "outpost.sqlite"
    eng = sqlite_engine(path)
    store = SqlPostStore(eng, cipher, clock=lambda: T0)
    targets = seed(store)
    store.add_post(*approved_post("post_1", targets))
    person(store)
    store.add_oauth_state(attempt("f" * 64))
    store.save_account(Account(platform="facebook", handle="Bakery", oauth_token=f"{ACCESS}-fb", workspace_id="ws_1",
                               id="acct_fb", secrets={"page_access_token": PAGE_TOKEN}))
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    raw = path.read_bytes() + (tmp_path / "outpost.sqlite-wal").read_bytes()
    assert b"@acct0" in raw and b"Hello from post_1" in raw   # we are reading the right bytes
    assert b"v1:k1:" in raw                                     # the tokens are there, encrypted
    for secret in (ACCESS, REFRESH, VERIFIER, PAGE_TOKEN, "very-secret"):
        assert secret.encode() not in raw
    assert store.get_account("acct_0").oauth_token == f"{ACCESS}-0"
    assert store.get_account("acct_fb").secrets == {"page_access_token": PAGE_TOKEN}   # decrypted round trip
    assert PAGE_TOKEN not in repr(store.get_account("acct_fb"))
    eng.dispose()


def test_token_copied_to_another_account_does_not_decrypt(engine, store):
    seed(store)
    with engine.begin() as conn:
        blob = conn.execute(sa.select(accounts.c.oauth_token_enc).where(accounts.c.id == "acct_0")).scalar()
        conn.execute(accounts.update().where(accounts.c.id == "acct_1").values(oauth_token_enc=blob))
    # It loads without its tokens, marked unreadable (credentials() refuses it), and says why without the token.
    copied = store.get_account("acct_1")
    assert copied.oauth_token is None and copied.refresh_token is None
    assert "acct_1" in copied.secrets_unreadable
    assert ACCESS not in copied.secrets_unreadable and blob not in copied.secrets_unreadable
    assert store.get_account("acct_0").oauth_token == f"{ACCESS}-0"


def test_connect_attempt_verifier_is_encrypted_and_bound_to_its_attempt(engine, store):
    seed(store)
    person(store)
    store.add_oauth_state(attempt("a" * 64))
    store.add_oauth_state(attempt("b" * 64, verifier="another-verifier"))
    store.add_oauth_state(attempt("c" * 64, verifier=None))
    with engine.begin() as conn:
        blob = conn.execute(sa.select(oauth_states.c.code_verifier_enc)
                            .where(oauth_states.c.state_hash == "a" * 64)).scalar()
        assert blob.startswith("v1:k1:") and VERIFIER not in blob
        assert conn.execute(sa.select(oauth_states.c.code_verifier_enc)
                            .where(oauth_states.c.state_hash == "c" * 64)).scalar() is None
        # Copied onto another attempt, it does not decrypt.
        conn.execute(oauth_states.update().where(oauth_states.c.state_hash == "b" * 64)
                     .values(code_verifier_enc=blob))
    with pytest.raises(TokenDecryptError, match="connect attempt could not be decrypted") as err:
        store.consume_oauth_state("b" * 64, T0)
    assert VERIFIER not in str(err.value) and blob not in str(err.value)
    with engine.connect() as conn:  # the failed consume changed nothing
        assert conn.execute(sa.select(oauth_states.c.used_at)
                            .where(oauth_states.c.state_hash == "b" * 64)).scalar() is None
    assert store.consume_oauth_state("a" * 64, T0).code_verifier == VERIFIER
    assert store.consume_oauth_state("c" * 64, T0).code_verifier is None


def test_rotate_keys_re_encrypts_everything(engine, store, cipher):
    seed(store, n_accounts=3)
    store.save_account(Account(platform="x", handle="@no_tokens", workspace_id="ws_1", id="acct_empty"))
    rotated = cipher.with_new_key("k2")
    assert rotate_keys(engine, rotated) == 6      # 3 accounts x (access + refresh)
    assert token_key_usage(engine) == {"k2": 6}
    assert rotate_keys(engine, rotated) == 0      # nothing left on the old key
    # The new keyring reads everything, even once the old key is dropped...
    only_new = rotated.without_keys("k1")
    assert SqlPostStore(engine, only_new).get_account("acct_2").refresh_token == f"{REFRESH}-2"
    assert SqlPostStore(engine, only_new).get_account("acct_empty").oauth_token is None
    # ...and a process still holding only the old key can no longer read the tokens (it says which key is missing).
    stale = SqlPostStore(engine, cipher).get_account("acct_0")
    assert stale.oauth_token is None and "key 'k2'" in stale.secrets_unreadable


def test_rotate_keys_re_encrypts_connect_attempt_verifiers(engine, store, cipher):
    seed(store, n_accounts=1)
    person(store)
    store.add_oauth_state(attempt("a" * 64))
    store.add_oauth_state(attempt("b" * 64, verifier=None))
    assert token_key_usage(engine) == {"k1": 3}
    rotated = cipher.with_new_key("k2")
    assert rotate_keys(engine, rotated) == 3      # access + refresh + one verifier
    assert token_key_usage(engine) == {"k2": 3}
    only_new = SqlPostStore(engine, rotated.without_keys("k1"))
    assert only_new.consume_oauth_state("a" * 64, T0).code_verifier == VERIFIER
    assert only_new.consume_oauth_state("b" * 64, T0).code_verifier is None


def test_rotate_keys_stops_at_an_unreadable_verifier(engine, store, cipher):
    seed(store, n_accounts=1)
    person(store)
    SqlPostStore(engine, TokenCipher.generate("lost")).add_oauth_state(attempt("a" * 64))
    with pytest.raises(TokenDecryptError, match="connect attempt aaaaaaaaaaaa"):
        rotate_keys(engine, cipher.with_new_key("k2"))
    assert token_key_usage(engine) == {"k1": 2, "lost": 1}


def test_rotate_keys_is_all_or_nothing(engine, store, cipher):
    seed(store, n_accounts=3)
    with engine.begin() as conn:  # one token that no key can read
        conn.execute(accounts.update().where(accounts.c.id == "acct_2")
                     .values(refresh_token_enc=TokenCipher.generate("lost").encrypt("x", account_id="acct_2")))
    with pytest.raises(TokenDecryptError, match="acct_2"):
        rotate_keys(engine, cipher.with_new_key("k2"))
    assert token_key_usage(engine) == {"k1": 5, "lost": 1}


def test_rotate_keys_command_with_a_key_file(tmp_path, monkeypatch, capsys):
    key_file = tmp_path / "secret.key"
    url = f"sqlite:///{tmp_path / 'outpost.sqlite'}"
    monkeypatch.delenv("OUTPOST_SECRET_KEYS", raising=False)
    monkeypatch.setenv("OUTPOST_KEY_FILE", str(key_file))
    assert db_cli(["upgrade", "--url", url]) == 0
    before = load_keyring(env_value=None, key_file=key_file)
    eng = sqlite_engine(tmp_path / "outpost.sqlite", migrate=False)
    seed(SqlPostStore(eng, before))
    assert db_cli(["rotate-keys", "--url", url]) == 0
    after = load_keyring(env_value=None, key_file=key_file)
    assert after.key_ids[1:] == before.key_ids and after.current_key_id != before.current_key_id
    assert token_key_usage(eng) == {after.current_key_id: 4}
    assert SqlPostStore(eng, after).get_account("acct_1").oauth_token == f"{ACCESS}-1"
    out = capsys.readouterr().out
    assert "Re-encrypted 4 token(s)" in out and "Restart the dashboard and the runner" in out
    assert ACCESS not in out
    eng.dispose()


# ---------------------------------------------------------------- atomicity

def test_failure_in_the_middle_of_add_post_leaves_nothing(engine, store):
    targets = seed(store)
    post, dlv = approved_post("post_1", targets)
    # The events are written last; one that cannot be stored fails the whole call.
    bad = ActivityEvent(action="created", subject_type="post", subject_id="post_1", at=T0, details={"x": object()})
    with pytest.raises(Exception):
        store.add_post(post, dlv, events=[bad])
    assert (count(engine, posts), count(engine, deliveries), count(engine, post_accounts),
            count(engine, activity_events)) == (0, 0, 0, 0)
    # And the store is still usable afterwards.
    store.add_post(post, dlv)
    assert store.get_post_status("post_1") == PostStatus.SCHEDULED


def test_failure_in_the_middle_of_update_post_changes_nothing(engine, store):
    targets = seed(store)
    saved = store.add_post(*approved_post("post_1", targets))
    before = store.get_deliveries("post_1")

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _fail_on_targets(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO POST_ACCOUNTS"):
            raise RuntimeError("disk on fire")

    try:
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.update_post(Post(caption="changed", accounts=(targets[1],), id="post_1", workspace_id="ws_1",
                                   schedule=saved.schedule, state=PostState.APPROVED),
                              expected_version=1, deliveries=[d.cancel() for d in before])
    finally:
        sa.event.remove(engine, "before_cursor_execute", _fail_on_targets)
    after = store.get_post("post_1")
    assert after == saved and store.get_deliveries("post_1") == before
    assert store.get_post_status("post_1") == PostStatus.SCHEDULED


def test_concurrent_delivery_updates_keep_the_status_right(engine, store):
    """Runners finishing different deliveries of one post at once: no deadlock, no lost status."""
    targets = seed(store, n_accounts=6)
    store.add_post(*approved_post("post_1", targets))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def finish(d: Delivery) -> None:
        try:
            barrier.wait()
            d = store.update_delivery(d.start_publishing(runner_id="r", lease_until=T0 + timedelta(hours=2)),
                                      expected_version=d.version)
            store.update_delivery(d.mark_published(external_id=d.id, external_url=None, at=T0),
                                  expected_version=d.version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(d,)) for d in store.get_deliveries("post_1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert {d.state for d in store.get_deliveries("post_1")} == {DeliveryState.PUBLISHED}
    assert store.get_post_status("post_1") == PostStatus.PUBLISHED


def test_two_writers_racing_on_one_delivery_one_wins(engine, store):
    targets = seed(store, n_accounts=1)
    store.add_post(*approved_post("post_1", targets))
    [d] = store.get_deliveries("post_1")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def claim(runner: str) -> None:
        barrier.wait()
        try:
            store.update_delivery(d.start_publishing(runner_id=runner, lease_until=T0 + timedelta(hours=2)),
                                  expected_version=d.version)
            results.append(runner)
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=claim, args=(r,)) for r in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results)[0] == "conflict" and store.get_delivery(d.id).claimed_by in results


def test_two_writers_adding_the_same_post_one_gets_duplicate_error(engine, store):
    targets = seed(store)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def add_it() -> None:
        barrier.wait()
        try:
            store.add_post(*approved_post("post_1", targets))
            results.append("added")
        except DuplicateError:
            results.append("duplicate")

    threads = [threading.Thread(target=add_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["added", "duplicate", "duplicate", "duplicate"]
    assert count(engine, deliveries) == 2


def test_two_writers_saving_one_platform_account_one_gets_duplicate_error(engine, store):
    store.add_workspace(Workspace(name="Acme", id="ws_1"))
    results: list[str] = []
    barrier = threading.Barrier(4)

    def save(n: int) -> None:
        barrier.wait()
        try:
            store.save_account(Account(platform="instagram", handle=f"@acme{n}", external_id="ig-1",
                                       workspace_id="ws_1", id=f"acct_{n}"))
            results.append("saved")
        except DuplicateError:
            results.append("duplicate")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["duplicate", "duplicate", "duplicate", "saved"]
    assert count(engine, accounts) == 1


def test_event_ids_stay_unique_and_seq_follows_the_writes(engine, store):
    store.record_event(ActivityEvent(action="a", subject_type="post", subject_id="p", at=T0, id="evt_b"))
    store.record_event(ActivityEvent(action="b", subject_type="post", subject_id="p", at=T0, id="evt_a"))
    with pytest.raises(sa.exc.IntegrityError):
        store.record_event(ActivityEvent(action="c", subject_type="post", subject_id="p", at=T0, id="evt_a"))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(activity_events.c.id, activity_events.c.seq)
                            .order_by(activity_events.c.seq)).all()
    assert [r.id for r in rows] == ["evt_b", "evt_a"] and rows[0].seq < rows[1].seq


# ---------------------------------------------------------------- set-based queries and indexes

def test_listing_a_page_of_posts_takes_two_queries(engine, store):
    targets = seed(store, n_accounts=4)
    for i in range(60):
        store.add_post(*approved_post(f"post_{i:03d}", targets[i % 3:i % 3 + 2], at=T0 + timedelta(minutes=i)))
    seen = capture_selects(engine)
    page = store.list_posts(workspace_id="ws_1", limit=50)
    assert len(page) == 50 and all(len(p.accounts) == 2 for p in page)
    assert len(seen) == 2, [s for s, _ in seen]


def _sqlite_plan(engine, statement: str, parameters) -> str:
    with engine.connect() as conn:
        return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


@pytest.mark.parametrize("analyze", [
    False,  # a fresh database: no statistics, the planner goes by the schema alone
    True,   # after ANALYZE on a history-heavy table: most deliveries published, a few waiting
])
def test_due_and_calendar_queries_use_indexes_on_sqlite(tmp_path, cipher, analyze):
    eng = sqlite_engine(tmp_path / "outpost.sqlite")
    store = SqlPostStore(eng, cipher, clock=lambda: T0)
    targets = seed(store)
    for i in range(150 if analyze else 5):
        post, dlv = approved_post(f"post_{i}", targets, at=T0 - timedelta(hours=i))
        if i >= 10:
            dlv = [replace(d, state=DeliveryState.PUBLISHED, next_attempt_at=None, published_at=post.due_at)
                   for d in dlv]
        store.add_post(post, dlv)
    if analyze:
        with eng.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    seen = capture_selects(eng)
    store.due_deliveries(T0 + timedelta(hours=5))
    store.list_posts(workspace_id="ws_1", start=datetime(2030, 3, 1, tzinfo=UTC), end=datetime(2030, 4, 1, tzinfo=UTC))
    store.account_schedule("acct_0", T0, T0 + timedelta(days=1))
    due, month, schedule = (_sqlite_plan(eng, s, p) for s, p in (seen[0], seen[1], seen[-1]))
    assert "USING INDEX ix_deliveries_due" in due and "SCAN deliveries" not in due, due
    assert "USING INDEX ix_posts_workspace_id_due_at" in month and "SCAN posts" not in month, month
    if not analyze:  # with statistics and only two accounts, reading all their rows is rightly judged cheaper
        assert "USING INDEX ix_deliveries_account_id_due_at" in schedule and "SCAN deliveries" not in schedule, schedule
    eng.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)
def test_due_query_can_use_the_partial_index_on_postgres(postgres_engine, cipher):
    clear_tables(postgres_engine)
    store = SqlPostStore(postgres_engine, cipher, clock=lambda: T0)
    seed(store)
    seen = capture_selects(postgres_engine)
    store.due_deliveries(T0)
    statement, parameters = seen[0]
    with postgres_engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_deliveries_due" in plan, plan

"""Connect attempts (oauth_states), one account row per platform account, activity in write order.

- ``oauth_states``: single-use "Connect account" attempts; the PKCE verifier is stored encrypted.
- ``accounts``: unique (workspace_id, platform, external_id) where external_id is set, so reconnecting
  finds the row to update. Refused, naming the rows, if a database already holds such duplicates.
- ``activity_events``: a ``seq`` column in write order becomes the primary key (``id`` stays unique),
  so events of the same instant are listed newest first by it. Existing rows are numbered in the order
  they were written where the database knows it (SQLite's rowid), else by (at, id): the order in
  which they were listed before.

Revision ID: 0002_connect_attempts
Revises: 0001_initial
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.domain.errors import DuplicateError

revision = "0002_connect_attempts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

ID = sa.String(64)
HAS_EXTERNAL_ID = "external_id IS NOT NULL"
_EVENT_COLUMNS = "id, at, action, subject_type, subject_id, actor, workspace_id, from_state, to_state, reason, details"


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _event_columns() -> list[sa.Column]:
    """The activity_events columns of 0001, apart from its primary key."""
    return [
        sa.Column("id", ID, nullable=False),
        _ts("at", nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("workspace_id", ID),
        sa.Column("from_state", sa.String(32)),
        sa.Column("to_state", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("details", sa.JSON, nullable=False),
    ]


def _event_indexes() -> None:
    op.create_index("ix_activity_events_subject_id_at", "activity_events", ["subject_id", "at"])
    op.create_index("ix_activity_events_workspace_id_at", "activity_events", ["workspace_id", "at"])


def _refuse_duplicate_accounts() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT workspace_id, platform, external_id, COUNT(*) AS n FROM accounts "
        "WHERE external_id IS NOT NULL AND workspace_id IS NOT NULL "
        "GROUP BY workspace_id, platform, external_id HAVING COUNT(*) > 1 "
        "ORDER BY workspace_id, platform, external_id")).all()
    if rows:
        listed = "; ".join(f"{r.platform} account {r.external_id} in workspace {r.workspace_id} ({r.n} rows)"
                           for r in rows[:10])
        raise DuplicateError(
            "The same platform account is connected more than once in a workspace: " + listed + ". "
            "Remove the extra rows from the accounts table (keep the newest), then run the upgrade again. "
            "Nothing was changed.")


def upgrade() -> None:
    _refuse_duplicate_accounts()
    op.create_index("uq_accounts_workspace_id_platform_external_id", "accounts",
                    ["workspace_id", "platform", "external_id"], unique=True,
                    sqlite_where=sa.text(HAS_EXTERNAL_ID), postgresql_where=sa.text(HAS_EXTERNAL_ID))

    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.String(128), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("code_verifier_enc", sa.Text),
        _ts("expires_at", nullable=False),
        _ts("created_at", nullable=False),
        _ts("used_at"),
        sa.Column("account_id", ID),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oauth_states"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_oauth_states_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_oauth_states_workspace_id_workspaces",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])

    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: copy into a new table whose INTEGER primary key is
        # the rowid, numbering the rows by the old table's rowid (the order they were inserted in).
        op.create_table(
            "_activity_events_0002",
            sa.Column("seq", sa.Integer, nullable=False),
            *_event_columns(),
            sa.PrimaryKeyConstraint("seq", name="pk_activity_events"),
            sa.UniqueConstraint("id", name="uq_activity_events_id"),
        )
        op.execute(f"INSERT INTO _activity_events_0002 (seq, {_EVENT_COLUMNS}) "
                   f"SELECT rowid, {_EVENT_COLUMNS} FROM activity_events ORDER BY rowid")
        op.drop_table("activity_events")
        op.rename_table("_activity_events_0002", "activity_events")
        _event_indexes()
    else:
        op.add_column("activity_events", sa.Column("seq", sa.BigInteger))
        op.execute("CREATE SEQUENCE activity_events_seq_seq OWNED BY activity_events.seq")
        op.execute("UPDATE activity_events AS e SET seq = o.n FROM "
                   "(SELECT id, row_number() OVER (ORDER BY at, id) AS n FROM activity_events) AS o "
                   "WHERE e.id = o.id")
        op.execute("SELECT setval('activity_events_seq_seq', "
                   "COALESCE((SELECT MAX(seq) FROM activity_events), 0) + 1, false)")
        op.execute("ALTER TABLE activity_events ALTER COLUMN seq SET DEFAULT nextval('activity_events_seq_seq'), "
                   "ALTER COLUMN seq SET NOT NULL")
        op.drop_constraint("pk_activity_events", "activity_events", type_="primary")
        op.create_primary_key("pk_activity_events", "activity_events", ["seq"])
        op.create_unique_constraint("uq_activity_events_id", "activity_events", ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_table(
            "_activity_events_0001",
            *_event_columns(),
            sa.PrimaryKeyConstraint("id", name="pk_activity_events"),
        )
        # In write order, so the new rowids keep it.
        op.execute(f"INSERT INTO _activity_events_0001 ({_EVENT_COLUMNS}) "
                   f"SELECT {_EVENT_COLUMNS} FROM activity_events ORDER BY seq")
        op.drop_table("activity_events")
        op.rename_table("_activity_events_0001", "activity_events")
        _event_indexes()
    else:
        op.drop_constraint("uq_activity_events_id", "activity_events", type_="unique")
        op.drop_constraint("pk_activity_events", "activity_events", type_="primary")
        op.drop_column("activity_events", "seq")  # and the sequence it owns
        op.create_primary_key("pk_activity_events", "activity_events", ["id"])

    op.drop_index("ix_oauth_states_expires_at", table_name="oauth_states")
    op.drop_table("oauth_states")
    op.drop_index("uq_accounts_workspace_id_platform_external_id", table_name="accounts")

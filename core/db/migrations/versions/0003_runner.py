"""What the runner needs: publish progress, one delivery in flight per account, account holds, insights.

- ``deliveries.progress``: what an interrupted attempt got done (JSON), so a retry resumes.
- ``ix_deliveries_due`` is keyed on ``next_attempt_at`` alone (still only waiting rows), so claiming the
  earliest due deliveries walks the index in order and stops at its limit instead of sorting them all.
- ``ix_deliveries_lease_expires_at_in_flight`` replaces (state, lease_expires_at): the sweep reads only
  rows in flight, and no index on ``state`` alone tempts the planner away from the due index.
- ``uq_deliveries_account_id_in_flight``: at most one ``publishing`` delivery per account. Refused,
  naming the accounts, if a database already holds two in flight for one account.
- ``account_holds``: an account the runner leaves alone until a time (rate-limit reset, quota day).
- ``post_metric_snapshots`` / ``account_metric_snapshots``: insights pulled over time.

Revision ID: 0003_runner
Revises: 0002_connect_attempts
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.domain.errors import DuplicateError

revision = "0003_runner"
down_revision = "0002_connect_attempts"
branch_labels = None
depends_on = None

ID = sa.String(64)
IN_FLIGHT = "state = 'publishing'"
WAITING = "state IN ('queued', 'retry_wait')"
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT account_id, COUNT(*) AS n FROM deliveries WHERE state = 'publishing' "
        "GROUP BY account_id HAVING COUNT(*) > 1")).all()
    if rows:
        names = ", ".join(f"{r.account_id} ({r.n})" for r in rows)
        raise DuplicateError(f"Some accounts have more than one delivery in flight: {names}. Stop every runner, "
                             "let them finish or requeue those deliveries, then upgrade again.")
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("progress", sa.JSON))
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.drop_index("ix_deliveries_state_lease_expires_at", table_name="deliveries")
    op.create_index("ix_deliveries_lease_expires_at_in_flight", "deliveries", ["lease_expires_at"],
                    sqlite_where=sa.text(IN_FLIGHT), postgresql_where=sa.text(IN_FLIGHT))
    op.create_index("uq_deliveries_account_id_in_flight", "deliveries", ["account_id"], unique=True,
                    sqlite_where=sa.text(IN_FLIGHT), postgresql_where=sa.text(IN_FLIGHT))
    op.create_table(
        "account_holds",
        sa.Column("account_id", ID, nullable=False),
        _ts("until", nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _ts("set_at", nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_account_holds_account_id_accounts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_holds"),
    )
    op.create_table(
        "post_metric_snapshots",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("workspace_id", ID),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        _ts("taken_at", nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_post_metric_snapshots"),
    )
    op.create_index("ix_post_metric_snapshots_delivery_id_taken_at", "post_metric_snapshots",
                    ["delivery_id", "taken_at"])
    op.create_index("ix_post_metric_snapshots_workspace_id_taken_at", "post_metric_snapshots",
                    ["workspace_id", "taken_at"])
    op.create_table(
        "account_metric_snapshots",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("workspace_id", ID),
        sa.Column("platform", sa.String(32), nullable=False),
        _ts("taken_at", nullable=False),
        sa.Column("followers", sa.BigInteger),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_account_metric_snapshots"),
    )
    op.create_index("ix_account_metric_snapshots_account_id_taken_at", "account_metric_snapshots",
                    ["account_id", "taken_at"])


def downgrade() -> None:
    op.drop_table("account_metric_snapshots")
    op.drop_table("post_metric_snapshots")
    op.drop_table("account_holds")
    op.drop_index("uq_deliveries_account_id_in_flight", table_name="deliveries")
    op.drop_index("ix_deliveries_lease_expires_at_in_flight", table_name="deliveries")
    op.create_index("ix_deliveries_state_lease_expires_at", "deliveries", ["state", "lease_expires_at"])
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("progress")

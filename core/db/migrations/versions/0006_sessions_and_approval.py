"""Dashboard sessions that survive reloads, sign-in throttling, and approval by a second person.

- ``sessions``: one row per signed-in browser, keyed by the SHA-256 of the random id its HttpOnly cookie holds
  (the id itself is never stored), with when it was created, last seen, when it expires and when it was revoked.
- ``sign_in_failures``: failed sign-ins per (lower-cased) email, so repeated guesses are slowed, then paused.
- ``workspaces.approval_by_other``: with approval required, nobody approves their own post.

Revision ID: 0006_sessions_and_approval
Revises: 0005_claim_indexes
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UtcDateTime = sa.DateTime(timezone=True)   # as core.db.schema.UtcDateTime stores it

revision = "0006_sessions_and_approval"
down_revision = "0005_claim_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite's batch mode would copy the table, which others reference).
    op.add_column("workspaces", sa.Column("approval_by_other", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("user_agent", sa.String(300)),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failed_at", UtcDateTime, nullable=False),
        sa.Column("last_failed_at", UtcDateTime, nullable=False),
        sa.Column("paused_until", UtcDateTime),
        sa.PrimaryKeyConstraint("email", name="pk_sign_in_failures"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_column("workspaces", "approval_by_other")

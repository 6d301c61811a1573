"""The whole initial schema: workspaces, people, accounts, posts, deliveries, activity, runners.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-20
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone_name", sa.String(64), nullable=False),
        sa.Column("preferred_time", sa.String(16), nullable=False),
        sa.Column("queue_slots", sa.JSON, nullable=False),
        sa.Column("requires_approval", sa.Boolean, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
    )
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "workspace_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_memberships_workspace_id_workspaces",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_memberships_workspace_id", "memberships", ["workspace_id"])

    op.create_table(
        "accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("oauth_token_enc", sa.Text),
        sa.Column("refresh_token_enc", sa.Text),
        _ts("token_expires_at"),
        _ts("refresh_expires_at"),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("daily_cap", sa.Integer),
        sa.Column("min_gap_minutes", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        _ts("connected_at"),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_accounts_workspace_id_workspaces"),
    )
    op.create_index("ix_accounts_workspace_id", "accounts", ["workspace_id"])
    op.create_index("ix_accounts_token_expires_at", "accounts", ["token_expires_at"])

    op.create_table(
        "batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        _ts("created_at"),
        _ts("decided_at"),
        sa.Column("decided_by", ID),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_batches_workspace_id_workspaces",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_batches_workspace_id_week_start", "batches", ["workspace_id", "week_start"])

    op.create_table(
        "posts",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID),
        sa.Column("caption", sa.Text, nullable=False),
        sa.Column("hashtags", sa.JSON, nullable=False),
        sa.Column("call_to_action", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("media_urls", sa.JSON, nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        _ts("due_at"),
        sa.Column("timezone_name", sa.String(64)),
        sa.Column("schedule_notice", sa.Text),
        sa.Column("recurrence", sa.Text),
        sa.Column("series_id", ID),
        sa.Column("is_ai_generated", sa.Boolean, nullable=False),
        sa.Column("batch_id", ID),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_by", ID),
        sa.Column("rejection_reason", sa.Text),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_posts_workspace_id_workspaces"),
    )
    op.create_index("ix_posts_workspace_id_due_at", "posts", ["workspace_id", "due_at"])
    op.create_index("ix_posts_workspace_id_status", "posts", ["workspace_id", "status"])
    op.create_index("ix_posts_batch_id", "posts", ["batch_id"])
    op.create_index("ix_posts_series_id", "posts", ["series_id"])

    op.create_table(
        "post_accounts",
        sa.Column("post_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("post_id", "account_id", name="pk_post_accounts"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_post_accounts_post_id_posts", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_post_accounts_account_id_accounts"),
    )
    op.create_index("ix_post_accounts_account_id", "post_accounts", ["account_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        _ts("due_at", nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("next_attempt_at"),
        sa.Column("external_id", sa.String(255)),
        sa.Column("external_url", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("claimed_by", sa.String(200)),
        _ts("lease_expires_at"),
        sa.Column("marker", sa.String(200)),
        _ts("published_at"),
        _ts("updated_at"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_deliveries_post_id_posts", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_deliveries_account_id_accounts"),
    )
    op.create_index("ix_deliveries_post_id_position", "deliveries", ["post_id", "position"])
    waiting = sa.text("state IN ('queued', 'retry_wait')")
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"],
                    sqlite_where=waiting, postgresql_where=waiting)
    op.create_index("ix_deliveries_account_id_due_at", "deliveries", ["account_id", "due_at"])
    op.create_index("ix_deliveries_state_lease_expires_at", "deliveries", ["state", "lease_expires_at"])

    op.create_table(
        "activity_events",
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
        sa.PrimaryKeyConstraint("id", name="pk_activity_events"),
    )
    op.create_index("ix_activity_events_subject_id_at", "activity_events", ["subject_id", "at"])
    op.create_index("ix_activity_events_workspace_id_at", "activity_events", ["workspace_id", "at"])

    op.create_table(
        "notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("user_id", ID),
        sa.Column("subject_id", ID),
        _ts("read_at"),
        _ts("sent_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_workspace_id_created_at", "notifications", ["workspace_id", "created_at"])

    op.create_table(
        "runner_heartbeats",
        sa.Column("runner_id", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        _ts("started_at", nullable=False),
        _ts("beat_at", nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("runner_id", name="pk_runner_heartbeats"),
    )


def downgrade() -> None:
    for table in ("runner_heartbeats", "notifications", "activity_events", "deliveries", "post_accounts", "posts",
                  "batches", "accounts", "memberships", "users", "workspaces"):
        op.drop_table(table)

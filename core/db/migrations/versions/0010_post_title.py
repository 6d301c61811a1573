"""A post's own title (a YouTube video title, a TikTok photo title).

- ``posts.title``: the title every target uses unless its variant gives its own (a variant's title was already
  kept, inside ``posts.variants``); empty for none. Before this a post's own title was dropped on saving.

Revision ID: 0010_post_title
Revises: 0009_comments_tags_pauses
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_post_title"
down_revision = "0009_comments_tags_pauses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite's batch mode would copy the table, which others reference).
    op.add_column("posts", sa.Column("title", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("posts", "title")

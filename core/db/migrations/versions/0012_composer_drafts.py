"""Kept composer drafts: what a person was writing in a workspace's composer, kept as they write.

- ``composer_drafts``: one row per (user, workspace) with the composer's fields (JSON) and when they were kept.
  A reload, a closed tab or a lost connection used to lose everything typed; the composer now restores it. The row
  goes when the post is saved or the person discards it (and with the user or the workspace).

Revision ID: 0012_composer_drafts
Revises: 0011_invitations
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UtcDateTime = sa.DateTime(timezone=True)   # as core.db.schema.UtcDateTime stores it

revision = "0012_composer_drafts"
down_revision = "0011_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "composer_drafts",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("kept_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_composer_drafts_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_composer_drafts_workspace_id_workspaces",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "workspace_id", name="pk_composer_drafts"),
    )


def downgrade() -> None:
    op.drop_table("composer_drafts")

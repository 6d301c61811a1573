"""Invitations: an owner invites someone by email to join a workspace with a role.

- ``invitations``: the link's token is random; only its SHA-256 is kept (``token_hash``, unique), like dashboard
  sessions. An invitation works once (``accepted_at``, ``accepted_by``), for seven days (``expires_at``), unless the
  owner withdraws it (``revoked_at``). Before this, a second person could not get an Outpost account at all: the
  sign-in page offers sign-up only before the first person exists.

Revision ID: 0011_invitations
Revises: 0010_post_title
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UtcDateTime = sa.DateTime(timezone=True)   # as core.db.schema.UtcDateTime stores it

revision = "0011_invitations"
down_revision = "0010_post_title"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("accepted_at", UtcDateTime),
        sa.Column("accepted_by", sa.String(64)),
        sa.Column("revoked_at", UtcDateTime),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_invitations_workspace_id_workspaces",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_workspace_id", "invitations", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_invitations_workspace_id", table_name="invitations")
    op.drop_table("invitations")

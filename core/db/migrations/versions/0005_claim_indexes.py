"""Claiming whose cost does not grow with the backlog of due deliveries.

- ``ix_deliveries_due`` is keyed on ``(next_attempt_at, id)`` (still only waiting rows): the claim's own order,
  ties included, so the earliest due deliveries are read from the index alone, in order, up to a LIMIT.
- ``ix_deliveries_account_id_next_attempt_at_waiting``: each account's waiting deliveries in that order, so an
  account's next in line is one index probe however long its backlog (claims that must look past busy
  accounts, ``next_due_at``, and PostgreSQL's "no earlier waiting delivery" check).

Revision ID: 0005_claim_indexes
Revises: 0004_account_secrets
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_claim_indexes"
down_revision = "0004_account_secrets"
branch_labels = None
depends_on = None

WAITING = "state IN ('queued', 'retry_wait')"


def upgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at", "id"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.create_index("ix_deliveries_account_id_next_attempt_at_waiting", "deliveries",
                    ["account_id", "next_attempt_at", "id"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index("ix_deliveries_account_id_next_attempt_at_waiting", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))

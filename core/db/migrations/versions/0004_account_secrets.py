"""Account secrets beyond the OAuth pair, encrypted like the tokens.

- ``accounts.secrets_enc``: a core.infra.secrets blob (bound to the account id) holding a JSON object of the
  other secrets a platform hands out at connect time, such as a Facebook Page's own access token. Until
  now the Page token was dropped and looked up again before every publish (one more round trip per post).

Revision ID: 0004_account_secrets
Revises: 0003_runner
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_account_secrets"
down_revision = "0003_runner"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite >= 3.35 drops columns natively): a batch copy of `accounts` on
# SQLite would have to drop a table that other tables' foreign keys point at.
def upgrade() -> None:
    op.add_column("accounts", sa.Column("secrets_enc", sa.Text))


def downgrade() -> None:
    op.drop_column("accounts", "secrets_enc")

"""The matching rules each sync run reconciled with (`sync_runs.rules`), so a run after the rules changed (money
tolerance, method accounts) reconciles every item instead of only the invoices it touched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: runs logged before this revision have no record of their rules (the next run reconciles everything).
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("rules", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("rules")

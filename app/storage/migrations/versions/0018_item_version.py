"""Team mode, no lost updates: `items.version`, raised whenever an item's data or status changes (a sync, a push's
re-reconcile, a decision). A decision names the version the person saw; a different one is refused. `sync_lock.progress`: where the running sync
is, for the others to see.

Revision ID: 0018_item_version
Revises: 0017_people
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_item_version"
down_revision = "0017_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("sync_lock") as batch:
        batch.add_column(sa.Column("progress", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_lock") as batch:
        batch.drop_column("progress")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("version")

"""The money view: `items.difference_minor` (ledger minus source of the first differing amount, minor units, set by
reconciling) with an index for sorting by it, an index on (fields, id) for sorting by the differing fields, and
`sync_runs.open_value` (what was still open per currency when a run ended, JSON) for the dashboard's line chart.

Items written before this revision have no difference until they are reconciled again: the item shape is part of
the rules digest (`reconciling.ITEM_SHAPE`), so the first sync after it reconciles every key. Runs before it have no
open value (the dashboard leaves them out of the value line).

Revision ID: 0012_item_difference
Revises: 0011_signoff
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_item_difference"
down_revision = "0011_signoff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("difference_minor", sa.BigInteger(), nullable=True))
    op.create_index("ix_items_difference_minor_id", "items", ["difference_minor", "id"], unique=False)
    op.create_index("ix_items_fields_id", "items", ["fields", "id"], unique=False)
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("open_value", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("open_value")
    op.drop_index("ix_items_fields_id", table_name="items")
    op.drop_index("ix_items_difference_minor_id", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("difference_minor")

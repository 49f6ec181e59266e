"""Item flags (product.md section 7): `items.flags` (comma list, "" for none), `items.twin` (the remote id of the
record a `possible_duplicate` repeats) and `items.reason` (one sentence for people), with an index on `flags`; and
an index on records by (system, kind, doc_date, total_minor), through which invoices that may repeat each other under
other numbers are found for the invoice keys a sync touched.

Items written before this revision get the empty defaults until the next reconcile, which the changed matching rules
(the duplicate window is one of them) make a full one.

Revision ID: 0009_item_flags
Revises: 0005
Create Date: 2026-12-05 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_item_flags"
down_revision = "0008_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("flags", sa.String(length=255), nullable=False, server_default=""))
        batch.add_column(sa.Column("twin", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_items_flags", "items", ["flags"], unique=False)
    op.create_index(
        "ix_records_system_kind_doc_date_total_minor",
        "records",
        ["system", "kind", "doc_date", "total_minor"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_records_system_kind_doc_date_total_minor", table_name="records")
    op.drop_index("ix_items_flags", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("reason")
        batch.drop_column("twin")
        batch.drop_column("flags")

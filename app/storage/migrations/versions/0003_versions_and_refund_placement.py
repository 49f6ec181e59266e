"""Record versions in a column and Xero refunds placed when stored.

`records.version`: the service's version text of a record (accessplanit `DateUpdated`, Xero `UpdatedDateUTC`), so an
incremental sync compares versions by id instead of parsing every stored payload. Left empty for records stored
before this revision: such a record counts as changed once, if the overlap of an incremental run reads it again.
`records.placed_number` and an index on `credit_note_id`: a Xero refund belongs to the invoice its credit note's
Reference names; that is now worked out when either is stored (filled here for the refunds already cached), so the
reconcile and the diff panel find refunds by `number_key` alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The same statement on SQLite and PostgreSQL: a refund takes its readable credit note's reference and key.
_NOTE = (
    "FROM records cn WHERE cn.system = records.system AND cn.kind = 'credit_note' "
    "AND cn.remote_id = records.credit_note_id AND cn.invalid_reason IS NULL"
)
_PLACE = (
    f"UPDATE records SET placed_number = (SELECT trim(coalesce(cn.reference, '')) {_NOTE}), "
    f"number_key = (SELECT cn.number_key {_NOTE}) "
    "WHERE kind = 'payment' AND direction = 'refund' AND credit_note_id IS NOT NULL AND invalid_reason IS NULL "
    f"AND EXISTS (SELECT 1 {_NOTE})"
)


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("placed_number", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("version", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_records_credit_note_id"), ["credit_note_id"], unique=False)
    op.execute(_PLACE)


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_index(batch.f("ix_records_credit_note_id"))
        batch.drop_column("version")
        batch.drop_column("placed_number")

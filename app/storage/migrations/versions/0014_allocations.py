"""Combined payments and foreign-currency rates on cached records: `records.group_ref` (the combined payment a
payment is a part of: an accessplanit Transaction allocated across invoices, or a Xero BatchPaymentID) and
`records.currency_rate` (Xero's CurrencyRate of an invoice, as text, shown and never used to convert).

Records cached before this revision have neither until they are read again (a full sync fills them).

Revision ID: 0014_allocations
Revises: 0016_health_checks
Create Date: 2026-12-05 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_allocations"
down_revision = "0016_health_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("group_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("currency_rate", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_column("currency_rate")
        batch.drop_column("group_ref")

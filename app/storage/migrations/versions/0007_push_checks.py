"""Items remember why a push would break a rule of its target (lock date, unknown tax type or account, amount over
what is due, PO too long, number taken): the `blocked` text the checks before sending found, shown as the item's
`blocked` flag (product.md section 7). Empty when none.

Revision ID: 0007_push_checks
Revises: 0005
Create Date: 2026-12-05 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_push_checks"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("blocked", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("blocked")

"""Outbox claims: one sender per push row across processes (`claimed_by`, `lease_until`: a compare-and-set claim
with a lease), and `refused` (a definitive refusal that automatic retries leave alone).

Revision ID: 0010_outbox_claims
Revises: 0009_item_flags
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_outbox_claims"
down_revision = "0009_item_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pushes") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("refused", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("pushes") as batch:
        batch.drop_column("refused")
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")

"""Sign-off of a period (product.md sections 7 and 8): `signoffs` (who, when, note, with_exceptions, the control
totals per currency, the exceptions and a digest of the period's items) and `signoff_items` (each item's compared
values at sign-off, for the drift check and the three-way view).

Revision ID: 0011_signoff
Revises: 0010_outbox_claims
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_signoff"
down_revision = "0010_outbox_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("with_exceptions", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("exceptions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signoffs"),
    )
    op.create_index("ix_signoffs_period", "signoffs", ["period"], unique=False)
    op.create_table(
        "signoff_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signoff_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("agreed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signoff_id"], ["signoffs.id"], name="fk_signoff_items_signoff_id_signoffs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_signoff_items"),
    )
    op.create_index(
        "ix_signoff_items_signoff_id_kind_key", "signoff_items", ["signoff_id", "kind", "key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_signoff_items_signoff_id_kind_key", table_name="signoff_items")
    op.drop_table("signoff_items")
    op.drop_index("ix_signoffs_period", table_name="signoffs")
    op.drop_table("signoffs")

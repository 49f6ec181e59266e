"""Indexes for the item list sorted and paged in the database: (column, id) for key, contact, date and amount, so
the first page of any of these orders is a short index walk, not a sort of every item.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:55:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_items_key_id", ["key", "id"]),
    ("ix_items_contact_id", ["contact", "id"]),
    ("ix_items_doc_date_id", ["doc_date", "id"]),
    ("ix_items_amount_minor_id", ["amount_minor", "id"]),
)


def upgrade() -> None:
    for name, columns in _INDEXES:
        op.create_index(name, "items", columns, unique=False)


def downgrade() -> None:
    for name, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name="items")

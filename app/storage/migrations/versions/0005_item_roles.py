"""Items name their records by role, not vendor: `accessplanit_id` -> `source_id`, `xero_id` -> `ledger_id` (the
report JSON keeps the product contract's `accessplanit_id` / `xero_id` keys; only the cache's columns change).
`ALTER TABLE ... RENAME COLUMN` is the same statement on SQLite (3.25+) and PostgreSQL, and keeps indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_RENAMES = (("accessplanit_id", "source_id"), ("xero_id", "ledger_id"))


def upgrade() -> None:
    for old, new in _RENAMES:
        op.execute(f"ALTER TABLE items RENAME COLUMN {old} TO {new}")


def downgrade() -> None:
    for old, new in _RENAMES:
        op.execute(f"ALTER TABLE items RENAME COLUMN {new} TO {old}")

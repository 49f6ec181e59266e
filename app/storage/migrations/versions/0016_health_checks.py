"""Watching the connections: `health_checks` (one row per check of a connection: when, system, light, seconds,
message) and `sync_lock` (one row, "sync": who is syncing this cache now, with a lease), seeded free.

Revision ID: 0016_health_checks
Revises: 0012_item_difference
Create Date: 2026-12-05 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_health_checks"
down_revision = "0012_item_difference"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_health_checks"),
    )
    op.create_index("ix_health_checks_system_id", "health_checks", ["system", "id"], unique=False)
    lock = op.create_table(
        "sync_lock",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(120), nullable=True),
        sa.Column("host", sa.String(64), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_sync_lock"),
    )
    op.bulk_insert(lock, [{"name": "sync"}])


def downgrade() -> None:
    op.drop_table("sync_lock")
    op.drop_index("ix_health_checks_system_id", table_name="health_checks")
    op.drop_table("health_checks")

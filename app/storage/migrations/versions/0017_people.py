"""Team mode: `people` (login, name, role, active) and `firm_settings` (the firm's settings, JSON per name, with who
changed them), and `who` on `pushes` and `sync_runs` (decisions, audit rows and sign-offs had it already).

Revision ID: 0017_people
Revises: 0014_allocations
Create Date: 2026-12-05 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_people"
down_revision = "0014_allocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("login", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("login", name="pk_people"),
    )
    op.create_table(
        "firm_settings",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_firm_settings"),
    )
    with op.batch_alter_table("pushes") as batch:
        batch.add_column(sa.Column("who", sa.String(length=255), nullable=True))
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("who", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("who")
    with op.batch_alter_table("pushes") as batch:
        batch.drop_column("who")
    op.drop_table("firm_settings")
    op.drop_table("people")

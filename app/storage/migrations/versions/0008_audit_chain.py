"""The audit log becomes a hash chain: `prev_hash` and `hash` on each entry, and a one-row `audit_head` (count, last
id, last hash). Entries written before this revision are hashed here, in id order, so the chain covers them too.
Decisions gain the columns of a manual match (`source_id`, `ledger_id`, `link_key`).

The hash is computed as `app.storage.audit.entry_hash` computes it; it is copied here so this revision stays what it
was when later code changes.

Revision ID: 0008_audit_chain
Revises: 0007_push_checks
Create Date: 2026-12-05 07:20:00
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_chain"
down_revision = "0007_push_checks"
branch_labels = None
depends_on = None


def _hash(row: sa.Row[tuple[object, ...]], prev_hash: str) -> str:
    at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
    text = json.dumps(
        [
            row.id,
            at.replace(tzinfo=None).isoformat(),
            row.who,
            row.action,
            row.item_kind,
            row.item_key,
            row.before,
            row.after,
            row.note,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column("audit", sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("audit", sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    for name, size in (("source_id", 64), ("ledger_id", 64), ("link_key", 100)):
        op.add_column("decisions", sa.Column(name, sa.String(size), nullable=True))

    audit = sa.table(
        "audit",
        *(sa.column(c) for c in ("id", "who", "action", "item_kind", "item_key", "before", "after", "note")),
        sa.column("at", sa.DateTime()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    conn = op.get_bind()
    prev, count, last_id = "", 0, 0
    for row in conn.execute(sa.select(audit).order_by(audit.c.id)).all():
        digest = _hash(row, prev)
        conn.execute(sa.update(audit).where(audit.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev, count, last_id = digest, count + 1, row.id
    assert head is not None
    op.bulk_insert(head, [{"id": 1, "count": count, "last_id": last_id, "last_hash": prev}])


def downgrade() -> None:
    for name in ("link_key", "ledger_id", "source_id"):
        op.drop_column("decisions", name)
    op.drop_table("audit_head")
    op.drop_column("audit", "hash")
    op.drop_column("audit", "prev_hash")

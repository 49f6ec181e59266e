"""Repository of the audit log: who did what to which item, with the before and after values.

Append-only on purpose: there is no update or delete function here, and nothing else writes the table.
Must not: gain an update or delete; scrub or judge content (callers pass data without secrets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from app.storage import jsontext
from app.storage.db import Tx
from app.storage.models import AuditRecord
from app.storage.schema import audit


def append_audit(
    tx: Tx,
    who: str,
    action: str,
    item_kind: str,
    item_key: str,
    before: dict[str, Any],
    after: dict[str, Any],
    note: str = "",
    at: datetime | None = None,
) -> int:
    result = tx.conn.execute(
        insert(audit).values(
            at=at or datetime.now(UTC).replace(tzinfo=None),
            who=who,
            action=action,
            item_kind=str(item_kind),
            item_key=item_key,
            before=jsontext.dumps(before),
            after=jsontext.dumps(after),
            note=note,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def list_audit(tx: Tx, limit: int = 500, item_key: str | None = None) -> list[AuditRecord]:
    """Newest first."""
    q = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if item_key is not None:
        q = q.where(audit.c.item_key == item_key)
    return [
        AuditRecord(
            id=r.id,
            at=r.at,
            who=r.who,
            action=r.action,
            item_kind=r.item_kind,
            item_key=r.item_key,
            before=r.before,
            after=r.after,
            note=r.note,
        )
        for r in tx.conn.execute(q)
    ]

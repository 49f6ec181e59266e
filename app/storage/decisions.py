"""Repository of people's decisions on items (accept a side, ignore with a note). Append-only: the newest decision
per (kind, key) is the active one; a decision applies while its fingerprint still matches the item's data.

Must not: update or delete a decision, or judge whether a fingerprint still holds (the reconciling service does).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from app.domain.status import Kind
from app.storage.db import Tx
from app.storage.models import Decision
from app.storage.schema import decisions


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def add_decision(
    tx: Tx,
    kind: Kind | str,
    key: str,
    resolution: str,
    note: str,
    who: str,
    fingerprint: str,
    at: datetime | None = None,
) -> int:
    result = tx.conn.execute(
        insert(decisions).values(
            kind=str(kind),
            key=key,
            resolution=str(resolution),
            note=note,
            who=who,
            fingerprint=fingerprint,
            at=at or _now(),
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def active_decisions(tx: Tx) -> dict[tuple[str, str], Decision]:
    """(kind, key) -> the newest decision for it."""
    newest = select(func.max(decisions.c.id)).group_by(decisions.c.kind, decisions.c.key).scalar_subquery()
    q = select(decisions).where(decisions.c.id.in_(newest))
    out: dict[tuple[str, str], Decision] = {}
    for r in tx.conn.execute(q):
        out[(r.kind, r.key)] = Decision(
            id=r.id,
            kind=Kind(r.kind),
            key=r.key,
            resolution=r.resolution,
            note=r.note,
            who=r.who,
            fingerprint=r.fingerprint,
            at=r.at,
        )
    return out


def decisions_for(tx: Tx, kind: Kind | str, key: str) -> list[Decision]:
    """Every decision taken on one item, oldest first."""
    q = select(decisions).where(decisions.c.kind == str(kind), decisions.c.key == key).order_by(decisions.c.id)
    return [
        Decision(
            id=r.id,
            kind=Kind(r.kind),
            key=r.key,
            resolution=r.resolution,
            note=r.note,
            who=r.who,
            fingerprint=r.fingerprint,
            at=r.at,
        )
        for r in tx.conn.execute(q)
    ]

"""Repository of people's decisions on items (accept a side, ignore with a note, reopen; match and unmatch two
one-sided records). Append-only: the newest decision per (kind, key) is the active one, counted apart for the two
families: resolutions (accept, ignore, reopen) and matches (match, unmatch), so resolving a manually matched item does
not undo its match. A resolution applies while its fingerprint still matches the item's data; a match while both of
its records are still one-sided.

Must not: update or delete a decision, or judge whether a fingerprint still holds (the reconciling service does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from app.domain.status import Kind
from app.storage.db import Tx
from app.storage.models import Decision
from app.storage.schema import decisions

MATCH, UNMATCH, REOPEN = "match", "unmatch", "reopen"
MATCH_FAMILY = (MATCH, UNMATCH)


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
    *,
    source_id: str | None = None,
    ledger_id: str | None = None,
    link_key: str | None = None,
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
            source_id=source_id,
            ledger_id=ledger_id,
            link_key=link_key,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _decision(r: Any) -> Decision:
    return Decision(
        id=r.id,
        kind=Kind(r.kind),
        key=r.key,
        resolution=r.resolution,
        note=r.note,
        who=r.who,
        fingerprint=r.fingerprint,
        at=r.at,
        source_id=r.source_id,
        ledger_id=r.ledger_id,
        link_key=r.link_key,
    )


def _newest(tx: Tx, matches: bool) -> Iterable[Decision]:
    family = decisions.c.resolution.in_(MATCH_FAMILY)
    where = family if matches else ~family
    newest = select(func.max(decisions.c.id)).where(where).group_by(decisions.c.kind, decisions.c.key).scalar_subquery()
    return (_decision(r) for r in tx.conn.execute(select(decisions).where(decisions.c.id.in_(newest))))


def active_decisions(tx: Tx) -> dict[tuple[str, str], Decision]:
    """(kind, key) -> the newest resolution (accept, ignore or reopen) for it."""
    return {(d.kind.value, d.key): d for d in _newest(tx, matches=False)}


def active_matches(tx: Tx) -> dict[tuple[str, str], Decision]:
    """(kind, key of the paired item) -> the manual match in force (its newest match or unmatch is a match)."""
    return {(d.kind.value, d.key): d for d in _newest(tx, matches=True) if d.resolution == MATCH}


def decisions_for(tx: Tx, kind: Kind | str, key: str) -> list[Decision]:
    """Every decision taken on one item, oldest first."""
    q = select(decisions).where(decisions.c.kind == str(kind), decisions.c.key == key).order_by(decisions.c.id)
    return [_decision(r) for r in tx.conn.execute(q)]

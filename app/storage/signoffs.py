"""Repository of period sign-offs: one row per sign-off (append-only; the newest per period is the one in force) and
each item's agreed values at that moment (JSON text, written once).

Must not: update or delete a sign-off, judge drift or compute values (the sign-off service does), or hold secrets.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update

from app.storage.db import Tx
from app.storage.schema import items, signoff_items, signoffs


@dataclass(frozen=True, slots=True)
class SignoffRecord:
    id: int
    period: str
    at: datetime
    who: str
    note: str
    with_exceptions: bool
    hash: str
    totals: dict[str, Any]  # system -> currency -> {"invoices", "total", "paid", "due"} (strings)
    exceptions: list[dict[str, Any]]  # [{"kind", "key", "status"}]


@dataclass(frozen=True, slots=True)
class AgreedItem:
    kind: str
    key: str
    status: str
    agreed: dict[str, Any]  # role -> field -> value as displayed


def add_signoff(
    tx: Tx,
    period: str,
    who: str,
    note: str,
    with_exceptions: bool,
    digest: str,
    totals: Mapping[str, Any],
    exceptions: list[dict[str, Any]],
    items: Collection[AgreedItem],
    at: datetime | None = None,
) -> SignoffRecord:
    when = (at or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    values = {
        "period": period,
        "at": when,
        "who": who,
        "note": note,
        "with_exceptions": with_exceptions,
        "hash": digest,
        "totals": json.dumps(totals, sort_keys=True),
        "exceptions": json.dumps(exceptions),
    }
    pk = tx.conn.execute(insert(signoffs).values(**values)).inserted_primary_key
    assert pk is not None
    sid = int(pk[0])
    rows = [
        {
            "signoff_id": sid,
            "kind": i.kind,
            "key": i.key,
            "status": i.status,
            "agreed": json.dumps(i.agreed, sort_keys=True),
        }
        for i in items
    ]
    if rows:
        tx.conn.execute(insert(signoff_items), rows)
    return SignoffRecord(sid, period, when, who, note, with_exceptions, digest, dict(totals), list(exceptions))


def _record(r: Any) -> SignoffRecord:
    return SignoffRecord(
        id=r.id,
        period=r.period,
        at=r.at,
        who=r.who,
        note=r.note,
        with_exceptions=bool(r.with_exceptions),
        hash=r.hash,
        totals=json.loads(r.totals),
        exceptions=json.loads(r.exceptions),
    )


def current_signoffs(tx: Tx) -> dict[str, SignoffRecord]:
    """period -> the sign-off in force (the newest of that period). Few rows: one per signed month."""
    newest = select(func.max(signoffs.c.id)).group_by(signoffs.c.period).scalar_subquery()
    return {r.period: _record(r) for r in tx.conn.execute(select(signoffs).where(signoffs.c.id.in_(newest)))}


def current_signoff(tx: Tx, period: str) -> SignoffRecord | None:
    q = select(signoffs).where(signoffs.c.period == period).order_by(signoffs.c.id.desc()).limit(1)
    r = tx.conn.execute(q).first()
    return None if r is None else _record(r)


def agreed_items(tx: Tx, signoff_id: int, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], AgreedItem]:
    """(kind, key) -> what the item held at sign-off `signoff_id`, for those of `keys` it covered."""
    wanted = sorted(keys)
    out: dict[tuple[str, str], AgreedItem] = {}
    for start in range(0, len(wanted), 400):
        q = select(signoff_items).where(
            signoff_items.c.signoff_id == signoff_id,
            tuple_(signoff_items.c.kind, signoff_items.c.key).in_(wanted[start : start + 400]),
        )
        for r in tx.conn.execute(q):
            out[(r.kind, r.key)] = AgreedItem(r.kind, r.key, r.status, json.loads(r.agreed))
    return out


def clear_flag(tx: Tx, period: str, flag: str) -> None:
    """Take `flag` off the items of `period` that carry it (a new sign-off agrees to what they hold now)."""
    q = select(items.c.id, items.c.flags).where(items.c.period == period, items.c.flags.like(f"%{flag}%"))
    for item_id, flags in tx.conn.execute(q).all():
        kept = ",".join(f for f in flags.split(",") if f and f != flag)
        tx.conn.execute(update(items).where(items.c.id == item_id).values(flags=kept))

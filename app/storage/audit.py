"""Repository of the audit log: who did what to which item, with the before and after values.

Append-only on purpose: there is no update or delete function here, and nothing else writes the table. Each entry is
chained to the one before it: `hash` = sha256 of a canonical text of (id, at, who, action, item_kind, item_key,
before, after, note, prev_hash), and `prev_hash` is the previous entry's `hash`. The one-row `audit_head` table keeps
the number of entries and the last one's id and hash, updated in the same transaction as the append (so deleting the
last entries shows too). `verify` walks the chain and names the first entry that does not hold.

This makes the log tamper-EVIDENT, not tamper-proof: a person who can write the database file can recompute every
hash and the head consistently. It catches an edit, deletion or insertion made with an ordinary database tool.
Appends serialise on the database's write lock (SQLite's BEGIN IMMEDIATE) or on the head row (SELECT ... FOR UPDATE
on PostgreSQL), so two processes never fork the chain.
Must not: gain an update or delete of entries; scrub or judge content (callers pass data without secrets).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy import update as _update

from app.storage import jsontext
from app.storage.db import Tx
from app.storage.models import AuditRecord
from app.storage.schema import audit, audit_head

HEAD_ID = 1
_HEAD = select(audit_head.c.count.label("n"), audit_head.c.last_id, audit_head.c.last_hash).where(
    audit_head.c.id == HEAD_ID
)  # `count` is labelled: a result row's `.count` is the tuple method


def entry_hash(
    entry_id: int,
    at: datetime,
    who: str,
    action: str,
    item_kind: str,
    item_key: str,
    before: str,
    after: str,
    note: str,
    prev_hash: str,
) -> str:
    """The chain hash of one entry (also used by the migration that hashes entries written before the chain)."""
    text = json.dumps(
        [
            entry_id,
            at.replace(tzinfo=None).isoformat(),
            who,
            action,
            item_kind,
            item_key,
            before,
            after,
            note,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _head(tx: Tx) -> tuple[int, int, str]:
    """(count, last id, last hash), locking the head row where the database can; a missing head is an empty log."""
    row = tx.conn.execute(_HEAD.with_for_update()).first()
    if row is None:
        tx.conn.execute(insert(audit_head).values(id=HEAD_ID, count=0, last_id=0, last_hash=""))
        return 0, 0, ""
    return int(row.n), int(row.last_id), str(row.last_hash)


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
    count, last_id, last_hash = _head(tx)
    entry_id = last_id + 1
    when = (at or datetime.now(UTC)).replace(tzinfo=None)
    before_text, after_text = jsontext.dumps(before), jsontext.dumps(after)
    digest = entry_hash(entry_id, when, who, action, str(item_kind), item_key, before_text, after_text, note, last_hash)
    values = {
        "at": when,
        "who": who,
        "action": action,
        "item_kind": str(item_kind),
        "item_key": item_key,
        "before": before_text,
        "after": after_text,
        "note": note,
    }
    tx.conn.execute(insert(audit).values(id=entry_id, prev_hash=last_hash, hash=digest, **values))
    tx.conn.execute(
        _update(audit_head)
        .where(audit_head.c.id == HEAD_ID)
        .values(count=count + 1, last_id=entry_id, last_hash=digest)
    )
    return entry_id


def last_audit_id(tx: Tx) -> int:
    """The newest entry's id (0 for an empty log)."""
    return int(tx.conn.execute(select(func.max(audit.c.id))).scalar() or 0)


def list_audit(tx: Tx, limit: int = 500, item_key: str | None = None, after_id: int = 0) -> list[AuditRecord]:
    """Newest first (only entries with an id above `after_id`)."""
    q = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if item_key is not None:
        q = q.where(audit.c.item_key == item_key)
    if after_id:
        q = q.where(audit.c.id > after_id)
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


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What `verify` found. `first_broken_id` names the first entry that does not hold (None when intact);
    `broken_at`, `broken_action` and `broken_item` describe it when it still exists."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    message: str = ""
    broken_at: datetime | None = None
    broken_action: str = ""
    broken_item: str = ""


def _entry_text(r: Any) -> str:
    return f"entry {r.id} ({r.at:%Y-%m-%d %H:%M:%S}, {r.action} on {r.item_key})"


def verify(tx: Tx) -> AuditCheck:
    """Walk the chain in id order; the first entry whose hash or link does not hold is named."""
    prev_hash, prev_id, checked = "", 0, 0
    q = select(audit).order_by(audit.c.id).execution_options(yield_per=2000)
    for r in tx.conn.execute(q):
        why = ""
        if r.prev_hash != prev_hash:
            if r.id != prev_id + 1:
                gone = f"entry {prev_id + 1}" if r.id == prev_id + 2 else f"entries {prev_id + 1}-{r.id - 1}"
                why = f"does not follow the entry before it: {gone} was deleted"
            else:
                why = "does not follow the entry before it: it was inserted, or the one before it was replaced"
        elif r.hash != entry_hash(
            r.id, r.at, r.who, r.action, r.item_kind, r.item_key, r.before, r.after, r.note, r.prev_hash
        ):
            why = "its content was changed after it was written"
        if why:
            return AuditCheck(False, checked, r.id, f"{_entry_text(r)}: {why}", r.at, r.action, r.item_key)
        prev_hash, prev_id = r.hash, r.id
        checked += 1
    head = tx.conn.execute(_HEAD).first()
    count, last_id, last_hash = (0, 0, "") if head is None else (head.n, head.last_id, head.last_hash)
    if (count, last_id, last_hash) == (checked, prev_id, prev_hash):
        return AuditCheck(True, checked, message=f"The audit log is intact ({checked} entries).")
    if last_id > prev_id:
        gone = f"entry {last_id}" if last_id == prev_id + 1 else f"entries {prev_id + 1}-{last_id}"
        return AuditCheck(False, checked, prev_id + 1, f"entry {prev_id + 1}: {gone} (the last) was deleted")
    extra = tx.conn.execute(select(audit).where(audit.c.id > last_id).order_by(audit.c.id)).first()
    if extra is not None:
        return AuditCheck(
            False,
            checked,
            extra.id,
            f"{_entry_text(extra)}: was added outside Recondesk (the log's head ends at entry {last_id})",
            extra.at,
            extra.action,
            extra.item_key,
        )
    return AuditCheck(False, checked, last_id or None, "the log's head does not match its last entry")

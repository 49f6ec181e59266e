"""Resolve an item by a person's decision: accept accessplanit, accept Xero, or ignore with a note.

A decision is appended (never edited) with a fingerprint of what was decided on, the item becomes `resolved`, and
the audit log gets a row with the item before and after. The reconciling service keeps an item `resolved` while its
data still has that fingerprint; a sync that finds the two sides agree makes it `matched`, one that finds a different
disagreement makes it `differs` again (docs/reconciliation.md section 5).
Must not: change either remote system (that is a push), or update/delete audit rows or decisions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.domain.errors import RecondeskError
from app.domain.status import ItemStatus, Resolution
from app.storage import audit as audit_repo
from app.storage import decisions as decisions_repo
from app.storage import items as items_repo
from app.storage.db import Database
from app.storage.models import ItemRecord

RESOLVABLE = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})
"""Statuses a person can decide on. `invalid` is not one: the record must be fixed in its system and synced
(the reconciling service would bring it back as invalid at the next sync anyway)."""

RESOLUTION_LABELS: dict[Resolution, str] = {
    Resolution.ACCEPT_SOURCE: "Accept accessplanit",
    Resolution.ACCEPT_LEDGER: "Accept Xero",
    Resolution.IGNORE: "Ignore (with a note)",
}


class ResolveError(RecondeskError):
    """A decision that cannot be recorded as asked (no note for ignore, nothing to resolve)."""


def item_fingerprint(item: ItemRecord) -> str:
    """What a decision was taken on. The reconciling service's own fingerprint of the item's data when it stored
    one (so both sides of the comparison are computed the same way); else a digest of what the item showed."""
    if item.fingerprint:
        return item.fingerprint
    basis = {
        "kind": str(item.kind),
        "key": item.key,
        "fields": list(item.fields),
        "source_id": item.source_id,
        "ledger_id": item.ledger_id,
        "amount_minor": item.amount_minor,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode("utf-8")).hexdigest()


def item_snapshot(item: ItemRecord) -> dict[str, Any]:
    """The part of an item the audit log keeps as `before`/`after`."""
    return {"status": str(item.status), "fields": list(item.fields), "note": item.note}


def resolve_item(db: Database, who: str, item_id: int, resolution: Resolution, note: str) -> ItemRecord:
    """Record `resolution` on item `item_id` and return the item as it is now. Raises `ResolveError` for people."""
    note = (note or "").strip()
    if resolution is Resolution.IGNORE and not note:
        raise ResolveError("Ignoring a difference needs a note.", "Say why it can be ignored, for the audit log.")
    with db.transaction() as tx:
        found = items_repo.item_rows(tx, [item_id])
        if not found:
            raise ResolveError("That item no longer exists.", "Sync again and pick it from the list.")
        item = found[0]
        if item.status is ItemStatus.INVALID:
            raise ResolveError(
                "A record that could not be read cannot be resolved here.",
                "Fix it in its system and sync; the reason is shown with the item.",
            )
        if item.status not in RESOLVABLE:
            raise ResolveError(f"The item {item.key} is {item.status}; there is nothing to resolve.")
        fingerprint = item_fingerprint(item)
        decisions_repo.add_decision(tx, item.kind, item.key, str(resolution), note, who, fingerprint)
        label = RESOLUTION_LABELS[resolution]
        items_repo.set_item_status(tx, item.id, ItemStatus.RESOLVED, f"{label}: {note}" if note else label)
        now = items_repo.item_rows(tx, [item.id])[0]
        audit_repo.append_audit(
            tx,
            who,
            f"resolve:{resolution}",
            str(item.kind),
            item.key,
            item_snapshot(item),
            {**item_snapshot(now), "resolution": str(resolution), "fingerprint": fingerprint},
            note,
        )
    return now

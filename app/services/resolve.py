"""Resolve an item by a person's decision: accept accessplanit, accept Xero, or ignore with a note; undo that
(`reopen`); pair two one-sided items by hand (`match`) and undo it (`unmatch`, or `reopen` on the pair).

A decision is appended (never edited) with a fingerprint of what was decided on, the item becomes `resolved`, and
the audit log gets a row with the item before and after. The reconciling service keeps an item `resolved` while its
data still has that fingerprint; a sync that finds the two sides agree makes it `matched`, one that finds a different
disagreement makes it `differs` again (docs/reconciliation.md section 5).
Must not: change either remote system (that is a push), or update/delete audit rows or decisions.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from app.domain.errors import RecondeskError
from app.domain.keys import payment_key
from app.domain.status import ItemStatus, Kind, Resolution
from app.services import plans, reconciling
from app.services.api import ItemRow
from app.services.item_queries import to_row
from app.settings import Settings
from app.storage import audit as audit_repo
from app.storage import decisions as decisions_repo
from app.storage import items as items_repo
from app.storage import synclog
from app.storage.db import Database, Tx
from app.storage.models import Decision, ItemRecord

RESOLVABLE = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})
"""Statuses a person can decide on. `invalid` is not one: the record must be fixed in its system and synced
(the reconciling service would bring it back as invalid at the next sync anyway)."""

ONE_SIDED = frozenset({ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})

RESOLUTION_LABELS: dict[Resolution, str] = {
    Resolution.ACCEPT_SOURCE: "Accept accessplanit",
    Resolution.ACCEPT_LEDGER: "Accept Xero",
    Resolution.IGNORE: "Ignore (with a note)",
}


class ResolveError(RecondeskError):
    """A decision that cannot be recorded as asked (no note for ignore, nothing to resolve)."""


class StaleItem(ResolveError):
    """The item changed since the person saw it (another person's decision or push, or a sync): the decision is
    refused, saying who did what and when, so nobody's update is lost (team mode, optimistic locking)."""


_DONE = {
    "resolve:" + Resolution.ACCEPT_SOURCE.value: "accepted accessplanit",
    "resolve:" + Resolution.ACCEPT_LEDGER.value: "accepted Xero",
    "resolve:" + Resolution.IGNORE.value: "ignored the difference",
    "reopen": "reopened it",
    "match": "matched it by hand",
    "unmatch": "unmatched it",
    "override": "allowed a flagged push",
    "revert": "reverted a pushed field",
    "setting": "changed a setting",
    "signoff": "signed off the month",
    "disconnect": "disconnected a connection",
    "person_add": "added a person",
    "person_role": "changed a person's role",
    "person_join": "joined the team",
}


def _ago(at: datetime, now: datetime) -> str:
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        n = seconds // 60
        return f"{n} minute{'s' if n != 1 else ''} ago"
    if seconds < 86400:
        n = seconds // 3600
        return f"{n} hour{'s' if n != 1 else ''} ago"
    return f"on {at:%Y-%m-%d %H:%M} UTC"


def describe_change(action: str) -> str:
    """An audit entry's action in words, in the past tense (\"accepted Xero\", \"pushed the PO number to Xero\")."""
    if action in _DONE:
        return _DONE[action]
    told = plans.describe_push(action, done=True)
    return told if told != action else f"changed it ({action})"


def stale(tx: Tx, item: ItemRecord, now: datetime | None = None) -> StaleItem:
    """The refusal of a decision on `item` taken on an older version: the newest change that explains it, in words
    ("Dana accepted Xero 2 minutes ago"), from the audit log of the item, or else the last sync."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    entries = audit_repo.list_audit(tx, 1, item_key=item.key)
    if not entries and item.invoice_key != item.key:
        entries = audit_repo.list_audit(tx, 1, item_key=item.invoice_key)
    run = synclog.last_run(tx, finished_only=True)
    hint = "It is shown as it is now: look again before deciding."
    if entries and (run is None or run.finished_at is None or entries[0].at >= run.finished_at):
        e = entries[0]
        said = f"{e.who} {describe_change(e.action)} {_ago(e.at, now)}"
    elif run is not None and run.finished_at is not None:
        said = f"a sync changed it {_ago(run.finished_at, now)}"
    else:
        said = "it was changed by someone else"
    return StaleItem(f"{item.key} changed since it was shown: {said}.", hint)


def take(tx: Tx, item: ItemRecord, expected: int | None, invoice_keys: list[str] | None = None) -> None:
    """Lock the items of the invoices a decision on `item` changes (id order), then, when the person's view had
    version `expected`, raise the version if it is still that (compare-and-set) or refuse with `stale`. None: the
    caller saw no version (the command line), and only the lock is taken."""
    items_repo.lock_items(tx, invoice_keys or [item.invoice_key])
    if expected is not None and not items_repo.take_version(tx, item.id, expected):
        now = items_repo.item_rows(tx, [item.id])
        if not now:
            raise ResolveError("That item no longer exists.", "Sync again and pick it from the list.")
        raise stale(tx, now[0])


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


def resolve_item(
    db: Database, who: str, item_id: int, resolution: Resolution, note: str, expected: int | None = None
) -> ItemRecord:
    """Record `resolution` on item `item_id` and return the item as it is now. Raises `ResolveError` for people
    (`StaleItem` when the item's version is no longer `expected`)."""
    note = (note or "").strip()
    if resolution is Resolution.IGNORE and not note:
        raise ResolveError("Ignoring a difference needs a note.", "Say why it can be ignored, for the audit log.")
    with db.transaction() as tx:
        found = items_repo.item_rows(tx, [item_id])
        if not found:
            raise ResolveError("That item no longer exists.", "Sync again and pick it from the list.")
        take(tx, found[0], expected)
        item = items_repo.item_rows(tx, [item_id])[0]
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


def _one(tx: Tx, item_id: int) -> ItemRecord:
    found = items_repo.item_rows(tx, [item_id])
    if not found:
        raise ResolveError(f"There is no item {item_id}.", "Sync again and pick it from the list.")
    return found[0]


def _match_of(tx: Tx, item: ItemRecord) -> Decision | None:
    return decisions_repo.active_matches(tx).get((item.kind.value, item.key))


def is_matched_by_hand(db: Database, item: ItemRecord) -> bool:
    with db.transaction(readonly=True) as tx:
        return _match_of(tx, item) is not None


def linked_keys(db: Database, item: ItemRecord) -> list[str]:
    """The invoice keys a decision on `item` re-reconciles: its own, and the other record's under a manual match."""
    with db.transaction(readonly=True) as tx:
        match = _match_of(tx, item)
    return sorted({item.invoice_key, *(reconciling.match_keys(match) if match is not None else ())})


def _take_linked(tx: Tx, item_id: int, expected: int | None, other: tuple[int, int | None] | None = None) -> None:
    """`take` for a decision that re-reconciles the item's invoice and, under a manual match, the other record's;
    for a match, the other item (and its version) too."""
    first = _one(tx, item_id)
    keys = {first.invoice_key}
    match = _match_of(tx, first)
    if match is not None:
        keys.update(reconciling.match_keys(match))
    second = _one(tx, other[0]) if other is not None else None
    if second is not None:
        keys.add(second.invoice_key)
    take(tx, first, expected, sorted(keys))
    if second is not None and other is not None:
        take(tx, second, other[1], sorted(keys))


def reopen_item(
    db: Database, settings: Settings, who: str, item_id: int, note: str, expected: int | None = None
) -> ItemRecord:
    """Undo the resolve (accept or ignore) of a resolved item, or else the manual match that made it; the item shows
    its computed status again. Returns the item as it is now (for an undone match: its source side)."""
    note = (note or "").strip()
    if not note:
        raise ResolveError("Reopening needs a note.", "Say why the decision is undone, for the audit log.")
    with db.transaction() as tx:
        _take_linked(tx, item_id, expected)
        item = _one(tx, item_id)
        if item.status is ItemStatus.RESOLVED:
            decisions_repo.add_decision(tx, item.kind, item.key, decisions_repo.REOPEN, note, who, "")
            reconciling.reconcile_in(tx, settings, [item.invoice_key])
            now = items_repo.item_by_key(tx, item.kind, item.key)
            after = item_snapshot(now) if now is not None else {"status": "gone"}
            audit_repo.append_audit(tx, who, "reopen", str(item.kind), item.key, item_snapshot(item), after, note)
            return now if now is not None else item
        match = _match_of(tx, item)
        if match is None:
            raise ResolveError(f"The item {item.key} is {item.status}: it was neither resolved nor matched by hand.")
        return _unmatch(tx, settings, who, item, match, note, "reopen")


def unmatch_item(
    db: Database, settings: Settings, who: str, item_id: int, note: str, expected: int | None = None
) -> ItemRecord:
    """Undo a manual match: both records show as one-sided again. Returns the source side's item."""
    with db.transaction() as tx:
        _take_linked(tx, item_id, expected)
        item = _one(tx, item_id)
        match = _match_of(tx, item)
        if match is None:
            raise ResolveError(f"The item {item.key} was not matched by hand; there is nothing to unmatch.")
        return _unmatch(tx, settings, who, item, match, (note or "").strip(), "unmatch")


def _unmatch(
    tx: Tx, settings: Settings, who: str, item: ItemRecord, match: Decision, note: str, action: str
) -> ItemRecord:
    decisions_repo.add_decision(
        tx, item.kind, item.key, decisions_repo.UNMATCH, note, who, "", source_id=match.source_id,
        ledger_id=match.ledger_id, link_key=match.link_key,
    )  # fmt: skip
    own, other = reconciling.match_keys(match)
    reconciling.reconcile_in(tx, settings, [own, other])
    source_key = own if item.kind is Kind.INVOICE else payment_key(own, match.source_id, None)
    now = items_repo.item_by_key(tx, item.kind, source_key)
    after = {
        **(item_snapshot(now) if now is not None else {"status": "gone"}),
        "source_id": match.source_id,
        "ledger_id": match.ledger_id,
    }
    audit_repo.append_audit(tx, who, action, str(item.kind), item.key, item_snapshot(item), after, note)
    return now if now is not None else item


def match_items(
    db: Database,
    settings: Settings,
    who: str,
    item_id: int,
    other_id: int,
    note: str,
    expected: int | None = None,
    other_expected: int | None = None,
) -> ItemRecord:
    """Pair two one-sided items of the same kind and currency (one only in the source, one only in the ledger) by
    hand. The pair is reconciled as one item on every later sync while both records stay one-sided."""
    note = (note or "").strip()
    if not note:
        raise ResolveError(
            "A match by hand needs a note.", "Say why these two records are the same, for the audit log."
        )
    if item_id == other_id:
        raise ResolveError("An item cannot be matched with itself.")
    with db.transaction() as tx:
        _take_linked(tx, item_id, expected, (other_id, other_expected))
        a, b = _one(tx, item_id), _one(tx, other_id)
        for it in (a, b):
            if it.status not in ONE_SIDED:
                hint = "Reopen it first." if it.status is ItemStatus.RESOLVED else ""
                raise ResolveError(f"The item {it.key} is {it.status}; only one-sided items can be matched.", hint)
        if a.kind is not b.kind:
            raise ResolveError(f"{a.key} is an item of kind {a.kind}, {b.key} of kind {b.kind}; match the same kind.")
        if a.status is b.status:
            raise ResolveError(f"Both items are {a.status}: match a record of one system with one of the other.")
        src, led = (a, b) if a.status is ItemStatus.ONLY_IN_SOURCE else (b, a)
        if src.currency != led.currency:
            raise ResolveError(f"{src.key} is in {src.currency} and {led.key} in {led.currency}; they cannot match.")
        assert src.source_id is not None and led.ledger_id is not None
        key = src.key if src.kind is Kind.INVOICE else payment_key(src.invoice_key, src.source_id, led.ledger_id)
        decisions_repo.add_decision(
            tx, src.kind, key, decisions_repo.MATCH, note, who, "", source_id=src.source_id,
            ledger_id=led.ledger_id, link_key=led.invoice_key,
        )  # fmt: skip
        reconciling.reconcile_in(tx, settings, [src.invoice_key, led.invoice_key])
        now = items_repo.item_by_key(tx, src.kind, key)
        if now is None:
            raise ResolveError(f"{src.key} and {led.key} could not be paired.", "Sync again and retry.")
        before = {"source": {**item_snapshot(src), "key": src.key}, "ledger": {**item_snapshot(led), "key": led.key}}
        after = {**item_snapshot(now), "source_id": src.source_id, "ledger_id": led.ledger_id}
        audit_repo.append_audit(tx, who, "match", str(src.kind), key, before, after, note)
        return now


def match_candidates(db: Database, item_id: int, limit: int = 500) -> list[ItemRow]:
    """One-sided items of the other system, same kind and currency, that `item_id` could be matched with (nearest
    amount first; an empty list for an item that is not one-sided)."""
    with db.transaction(readonly=True) as tx:
        found = items_repo.item_rows(tx, [item_id])
        if not found or found[0].status not in ONE_SIDED:
            return []
        item = found[0]
        other = ItemStatus.ONLY_IN_LEDGER if item.status is ItemStatus.ONLY_IN_SOURCE else ItemStatus.ONLY_IN_SOURCE
        rows = items_repo.one_sided_items(tx, item.kind, other, item.currency, limit)
    mine = item.amount_minor or 0
    rows.sort(key=lambda r: (abs((r.amount_minor or 0) - mine), r.key))
    return [to_row(r) for r in rows]

"""Use case: sign a period off, and tell later what moved since (drift).

A sign-off stores who, when, the note, whether open items were signed off as exceptions (listed), the per-currency
control totals of the report, a digest of the period's items (each item's kind, key, status and compared values) and
each item's agreed values (`agreed_values`: both sides' compared fields as the diff panel shows them). It is refused
while items of the period are open, unless signed off with the exceptions listed; it is appended to the audit log.

Drift: the reconciling service calls `flag_drift` for the items it just redid (touched keys only); an item of a
signed-off period whose values are no longer the agreed ones (or that is new in the period) gets the flag `reopened`.
The flag is derived, so it stays while the values differ from the agreed ones and goes when they agree again.
Must not: talk to the network, import Qt, or compare fields itself (`reconcile.diff` does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Role, system_for
from app.reconcile.diff import compare_invoice, compare_payment
from app.reconcile.engine import ItemResult
from app.reconcile.rules import Rules
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database, Tx
from app.storage.models import ItemData, ItemRecord

REOPENED = "reopened"
OPEN = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER, ItemStatus.INVALID})
SOURCE, LEDGER = "source", "ledger"  # the sides of stored agreed values (roles, not vendors)


class SignoffRefused(Exception):
    """A rule refused the sign-off (open items without `with_exceptions`); the message is for people."""


def agreed_values(
    source: Invoice | Payment | None,
    ledger: Invoice | Payment | None,
    rules: Rules,
    refunds: Decimal = Decimal(0),
    invalid_reason: str | None = None,
) -> dict[str, dict[str, str]]:
    """Both sides' compared fields as displayed ({"source": {field: value}, "ledger": {...}}); for a record that
    could not be read, {"invalid": {"reason": ...}}. The same function at sign-off and at every later reconcile."""
    if invalid_reason is not None:
        return {"invalid": {"reason": invalid_reason}}
    first = source or ledger
    if isinstance(first, Invoice):
        a = source if isinstance(source, Invoice) else None
        b = ledger if isinstance(ledger, Invoice) else None
        comps = compare_invoice(a, b, rules, ledger_refunds=refunds)
    elif isinstance(first, Payment):
        pa = source if isinstance(source, Payment) else None
        pb = ledger if isinstance(ledger, Payment) else None
        comps = compare_payment(pa, pb, rules)
    else:
        return {}
    return {
        SOURCE: {c.field: c.source_value for c in comps if source is not None},
        LEDGER: {c.field: c.ledger_value for c in comps if ledger is not None},
    }


def _result_values(result: ItemResult, data: ItemData, rules: Rules) -> dict[str, dict[str, str]]:
    if result.invalid is not None:
        return agreed_values(None, None, rules, invalid_reason=data.reason or result.invalid.reason)
    return agreed_values(result.source, result.ledger, rules, result.ledger_refunds)


def flag_drift(
    tx: Tx,
    signed: Mapping[str, signoff_repo.SignoffRecord],
    results: Sequence[ItemResult],
    datas: Sequence[ItemData],
    rules: Rules,
) -> list[ItemData]:
    """`datas` (one per result, same order) with `reopened` added to the items of signed-off periods whose values
    moved since the sign-off, or that were not there when it was signed."""
    if not signed:
        return list(datas)
    by_signoff: dict[int, list[int]] = {}
    for i, d in enumerate(datas):
        if d.period is not None and d.period in signed:
            by_signoff.setdefault(signed[d.period].id, []).append(i)
    out = list(datas)
    for sid, positions in by_signoff.items():
        agreed = signoff_repo.agreed_items(tx, sid, {(datas[i].kind.value, datas[i].key) for i in positions})
        for i in positions:
            d = datas[i]
            was = agreed.get((d.kind.value, d.key))
            if was is None or was.agreed != _result_values(results[i], d, rules):
                out[i] = replace(d, flags=(*d.flags, REOPENED))
    return out


@dataclass(frozen=True, slots=True)
class PeriodItem:
    item: ItemRecord
    values: dict[str, dict[str, str]]


def current_values(tx: Tx, rows: Sequence[ItemRecord], rules: Rules) -> dict[int, dict[str, dict[str, str]]]:
    """item id -> its compared values now, from the cache (what `agreed_values` gives), for `rows`."""
    keys = {r.invoice_key for r in rows}
    found = records_repo.load_on_keys(tx, keys)
    by_rid: dict[int, Invoice | Payment] = {}
    every: list[Invoice | Payment] = [rec for recs in found.invoices.values() for rec in recs]
    every.extend(rec for recs in found.payments.values() for rec in recs)
    for rec in every:
        rid = found.ids.get((rec.system.value, rec.kind.value, rec.id))
        if rid is not None:
            by_rid[rid] = rec

    def record(rid: int | None) -> Invoice | Payment | None:
        if rid is None:
            return None
        if rid not in by_rid:  # a record on another key (one side of a match by hand): few
            found_rec = records_repo.get_record(tx, rid).record
            if found_rec is None:
                return None
            by_rid[rid] = found_rec
        return by_rid[rid]

    refunds = records_repo.ledger_refunds_on_keys(tx, keys)
    out: dict[int, dict[str, dict[str, str]]] = {}
    for r in rows:
        if r.status is ItemStatus.INVALID:
            out[r.id] = agreed_values(None, None, rules, invalid_reason=r.reason)
            continue
        src, led = record(r.source_record_id), record(r.ledger_record_id)
        out[r.id] = agreed_values(src, led, rules, refunds.get(r.invoice_key, Decimal(0)))
    return out


def period_rows(tx: Tx, period: str) -> list[ItemRecord]:
    """The items of `period` (records without a readable date are not in any period's items), by kind and key."""
    rows = items_repo.item_rows(tx, items_repo.query_item_ids(tx, period))
    return sorted((r for r in rows if r.period == period), key=lambda r: (r.kind.value, r.key))


def items_digest(entries: Sequence[tuple[str, str, str, dict[str, Any]]]) -> str:
    """sha256 of the canonical JSON of every (kind, key, status, values), sorted: equal items, equal digest."""
    text = json.dumps(sorted(entries, key=lambda e: (e[0], e[1])), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Signed:
    """What a sign-off recorded (the command line prints it with `--json`)."""

    record: signoff_repo.SignoffRecord
    items: int  # how many items it covers


def sign_off(
    db: Database,
    rules: Rules,
    period: str,
    who: str,
    note: str,
    with_exceptions: bool,
    totals_of: Any,
) -> Signed:
    """Sign `period` off (one transaction, audited). `totals_of(tx, rows)` gives the control totals per system and
    currency (the report's). Raises `SignoffRefused` while items are open unless `with_exceptions`, and
    `ValueError` for an empty note or a period without items."""
    if not note.strip():
        raise ValueError("a sign-off needs a note")
    with db.transaction() as tx:
        rows = period_rows(tx, period)
        if not rows:
            raise ValueError(f"there are no items in {period} to sign off (sync first, or pick another month)")
        open_rows = [r for r in rows if r.status in OPEN]
        if open_rows and not with_exceptions:
            raise SignoffRefused(
                f"{len(open_rows)} item(s) of {period} are still open; resolve them, or sign off with the exceptions "
                "listed (--with-exceptions)"
            )
        values = current_values(tx, rows, rules)
        digest = items_digest([(r.kind.value, r.key, r.status.value, values[r.id]) for r in rows])
        exceptions = [{"kind": r.kind.value, "key": r.key, "status": r.status.value} for r in open_rows]
        totals = totals_of(tx, rows)
        before = signoff_repo.current_signoff(tx, period)
        record = signoff_repo.add_signoff(
            tx,
            period,
            who,
            note.strip(),
            with_exceptions,
            digest,
            totals,
            exceptions,
            [signoff_repo.AgreedItem(r.kind.value, r.key, r.status.value, values[r.id]) for r in rows],
        )
        audit_repo.append_audit(
            tx,
            who,
            "signoff",
            "period",
            period,
            {} if before is None else {"hash": before.hash, "at": before.at.isoformat(), "by": before.who},
            {
                "hash": digest,
                "with_exceptions": with_exceptions,
                "totals": totals,
                "exceptions": exceptions,
                "items": len(rows),
            },
            note.strip(),
            at=record.at,
        )
        # The items re-signed are agreed again: drop the `reopened` flags of the period (kept data otherwise).
        signoff_repo.clear_flag(tx, period, REOPENED)
    return Signed(record, len(rows))


SIDE_NAMES = {SOURCE: system_for(Role.SOURCE).value, LEDGER: system_for(Role.LEDGER).value}


@dataclass(frozen=True, slots=True)
class FieldDrift:
    """One field of a reopened item: both sides at sign-off and now, and which side(s) moved."""

    field: str
    agreed_source: str
    agreed_ledger: str
    source_now: str
    ledger_now: str

    @property
    def moved(self) -> tuple[str, ...]:
        out = []
        if self.agreed_source != self.source_now:
            out.append(SOURCE)
        if self.agreed_ledger != self.ledger_now:
            out.append(LEDGER)
        return tuple(out)


def field_drift(
    agreed: Mapping[str, Mapping[str, str]] | None, now: Mapping[str, Mapping[str, str]]
) -> list[FieldDrift]:
    """The fields whose value on either side is not the agreed one (a new item: every field, agreed blank)."""
    was = agreed or {}
    names: list[str] = []
    for side in (SOURCE, LEDGER, "invalid"):
        for name in (*was.get(side, {}), *now.get(side, {})):
            if name not in names:
                names.append(name)
    out = []
    for name in names:
        if "invalid" in was or "invalid" in now:
            a = was.get("invalid", {}).get(name, "")
            b = now.get("invalid", {}).get(name, "")
            if a != b:
                out.append(FieldDrift(name, a, a, b, b))
            continue
        d = FieldDrift(
            name,
            was.get(SOURCE, {}).get(name, ""),
            was.get(LEDGER, {}).get(name, ""),
            now.get(SOURCE, {}).get(name, ""),
            now.get(LEDGER, {}).get(name, ""),
        )
        if d.moved:
            out.append(d)
    return out


def drift_since(tx: Tx, period: str, rows: Sequence[ItemRecord], rules: Rules) -> dict[int, dict[str, Any]]:
    """item id -> report `since` of each reopened item in `rows`: the agreed values of the fields that moved, per
    system, with `now` (the current ones) and `moved` (which systems moved)."""
    record = signoff_repo.current_signoff(tx, period)
    reopened = [r for r in rows if REOPENED in r.flags and r.period == period]
    if record is None or not reopened:
        return {}
    agreed = signoff_repo.agreed_items(tx, record.id, {(r.kind.value, r.key) for r in reopened})
    now = current_values(tx, reopened, rules)
    out: dict[int, dict[str, Any]] = {}
    for r in reopened:
        was = agreed.get((r.kind.value, r.key))
        fields = field_drift(was.agreed if was else None, now[r.id])
        moved = sorted({SIDE_NAMES.get(s, s) for f in fields for s in f.moved})
        out[r.id] = {
            "status": was.status if was else None,
            SIDE_NAMES[SOURCE]: {f.field: f.agreed_source for f in fields},
            SIDE_NAMES[LEDGER]: {f.field: f.agreed_ledger for f in fields},
            "now": {
                SIDE_NAMES[SOURCE]: {f.field: f.source_now for f in fields},
                SIDE_NAMES[LEDGER]: {f.field: f.ledger_now for f in fields},
            },
            "moved": moved,
        }
    return out

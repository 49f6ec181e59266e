"""Use case: reconcile the cache. Loads both systems' records, gives Xero refunds their invoice through the credit
note they are paid from, runs the pure engine, applies people's decisions on top, and stores the items.

A decision holds while its fingerprint equals the item's: a hash of the item's status and of what was decided on
(the differing fields' values on both sides; for a one-sided item, the record's own key values; for an invalid one,
its reason). When the data changes, the fingerprint changes, the decision lapses and the item shows its new status.
Must not: talk to the network, import Qt, or compare fields itself (the engine does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from app.domain.keys import invoice_key as normalize
from app.domain.money import MoneyError, fmt, to_minor
from app.domain.records import CreditNote, Invoice, Payment
from app.domain.status import Direction, ItemStatus, System
from app.reconcile.engine import ItemResult, reconcile
from app.reconcile.rules import Rules
from app.settings import Settings
from app.storage import decisions as decision_repo
from app.storage import items as item_repo
from app.storage import records as record_repo
from app.storage.db import Database, Tx
from app.storage.models import Decision, ItemData

RESOLVABLE = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})


def rules_from(settings: Settings) -> Rules:
    return Rules(money_tolerance=settings.money_tolerance, method_accounts=dict(settings.method_accounts))


def fingerprint(result: ItemResult) -> str:
    """What a decision on this item was made on, as a short stable hash (see the module docstring)."""
    parts: list[object] = [result.kind.value, result.key, result.status.value]
    if result.invalid is not None:
        parts.append(result.invalid.reason)
    elif result.status is ItemStatus.MATCHED:
        pass  # nothing to decide on; and formatting every field of every matched item is most of a run's cost
    elif result.source is not None and result.ledger is not None:
        parts.extend([c.field, c.source_value, c.ledger_value] for c in result.comparisons if not c.equal)
    else:
        rec = result.source or result.ledger
        if isinstance(rec, Invoice):
            parts.extend(
                [
                    rec.number,
                    rec.currency,
                    fmt(rec.total, rec.currency),
                    rec.state.value,
                    fmt(rec.paid, rec.currency),
                    str(rec.issue_date),
                    str(rec.due_date),
                    rec.po_number,
                ]
            )
        elif isinstance(rec, Payment):
            parts.extend(
                [
                    rec.invoice_number,
                    rec.currency,
                    fmt(rec.amount, rec.currency),
                    str(rec.date),
                    rec.reference,
                    rec.method,
                    rec.direction.value,
                ]
            )
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def refunds_with_invoices(payments: Iterable[Payment], credit_notes: Iterable[CreditNote]) -> list[Payment]:
    """Xero refunds name the credit note they are paid from; its `Reference` is the invoice's number. A refund whose
    credit note carries no reference belongs to no invoice (invoice `?`, only in the ledger)."""
    by_id = {cn.id: cn for cn in credit_notes}
    out: list[Payment] = []
    for p in payments:
        if p.direction is Direction.REFUND and p.credit_note_id and p.credit_note_id in by_id:
            p = replace(p, invoice_number=by_id[p.credit_note_id].reference.strip() or None)
        out.append(p)
    return out


def _minor(amount: Decimal, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except MoneyError:
        return None


def to_item_data(
    result: ItemResult,
    record_ids: Mapping[tuple[str, str, str], int],
    contacts: Mapping[str, str],
    decision: Decision | None = None,
) -> ItemData:
    """The stored form of one engine result, with a person's decision applied when it still holds."""
    src, led, bad = result.source, result.ledger, result.invalid
    first = src or led
    fp = fingerprint(result)
    status, note = result.status, ""
    if decision is not None and decision.fingerprint == fp and result.status in RESOLVABLE:
        status, note = ItemStatus.RESOLVED, decision.note
    number, contact, day, currency, amount, reference = "", "", None, "", None, ""
    if isinstance(first, Invoice):
        number, contact, day, currency = first.number, first.contact, first.issue_date, first.currency
        amount, reference = _minor(first.total, currency), first.po_number
    elif isinstance(first, Payment):
        number = (src.invoice_number if isinstance(src, Payment) else None) or first.invoice_number or ""
        contact = contacts.get(result.invoice_key, "")
        day, currency, reference = first.date, first.currency, first.reference
        amount = _minor(first.amount, currency)
    elif bad is not None:
        number = bad.number or ""
        contact = contacts.get(result.invoice_key, "")

    def rid(rec: Invoice | Payment | None) -> int | None:
        return None if rec is None else record_ids.get((rec.system.value, rec.kind.value, rec.id))

    ap_id = src.id if src is not None else None
    xero_id = led.id if led is not None else None
    invalid_id = None
    if bad is not None:
        invalid_id = record_ids.get((bad.system.value, bad.kind.value, bad.id))
        if bad.system is System.ACCESSPLANIT:
            ap_id = bad.id
        else:
            xero_id = bad.id
    return ItemData(
        kind=result.kind,
        key=result.key,
        status=status,
        fields=result.fields,
        invoice_key=result.invoice_key,
        invoice=number,
        period=result.period,
        contact=contact,
        date=day,
        currency=currency,
        amount_minor=amount,
        reference=reference,
        accessplanit_id=ap_id,
        xero_id=xero_id,
        source_record_id=rid(src),
        ledger_record_id=rid(led),
        invalid_record_id=invalid_id,
        note=note,
        fingerprint=fp,
    )


def _contacts(*invoice_lists: Sequence[Invoice]) -> dict[str, str]:
    out: dict[str, str] = {}
    for invoices in invoice_lists:
        for inv in invoices:
            out.setdefault(normalize(inv.number), inv.contact)
    return out


def _run(tx: Tx, settings: Settings, number_key: str | None) -> list[ItemData]:
    ap, xero = System.ACCESSPLANIT, System.XERO
    credit_notes = record_repo.load_credit_notes(tx, xero)
    if number_key is None:
        ledger_payments = record_repo.load_payments(tx, xero)
    else:
        cn_ids = [cn.id for cn in credit_notes if normalize(cn.reference) == number_key]
        ledger_payments = record_repo.load_payments(tx, xero, number_key=number_key, credit_note_ids=cn_ids)
    src_inv = record_repo.load_invoices(tx, ap, number_key=number_key)
    led_inv = record_repo.load_invoices(tx, xero, number_key=number_key)
    results = reconcile(
        source_invoices=src_inv,
        ledger_invoices=led_inv,
        source_payments=record_repo.load_payments(tx, ap, number_key=number_key),
        ledger_payments=refunds_with_invoices(ledger_payments, credit_notes),
        invalid=record_repo.load_invalid(tx, number_key=number_key),
        rules=rules_from(settings),
    )
    ids = record_repo.record_ids(tx, number_key=number_key)
    contacts = _contacts(src_inv, led_inv)
    active = decision_repo.active_decisions(tx)
    return [to_item_data(r, ids, contacts, active.get((r.kind.value, r.key))) for r in results]


def reconcile_all(db: Database, settings: Settings) -> dict[str, int]:
    """Reconcile the whole cache and replace the items; returns the item count per status."""
    with db.transaction() as tx:
        data = _run(tx, settings, None)
        item_repo.replace_items(tx, data)
        return item_repo.count_by_status(tx)


def reconcile_invoice(db: Database, settings: Settings, invoice_key: str) -> list[ItemData]:
    """Re-reconcile one invoice and its payments (after a push) and store those items only."""
    key = normalize(invoice_key)
    with db.transaction() as tx:
        if key:
            data = _run(tx, settings, key)
            # Records without a readable number (key "") only take part in a full reconcile.
            data = [d for d in data if d.invoice_key == key]
        else:
            data = []
        item_repo.upsert_items_for_invoice(tx, key, data)
        return data

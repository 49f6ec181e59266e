"""Records and items for the services tests, stored through the real repositories into a real SQLite cache.

Items are written as the reconciling service would write them (`ItemData`), so report, resolve and the workspace's
queries can be tested without a sync.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from app.domain.keys import invoice_key, payment_key
from app.domain.money import to_minor
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage.db import Database
from app.storage.models import ItemData

D = Decimal


def invoice(
    system: System,
    rid: str,
    number: str,
    *,
    total: str = "120.00",
    tax: str = "20.00",
    paid: str = "0.00",
    po: str = "PO-1",
    issue: date = date(2026, 10, 3),
    currency: str = "GBP",
    contact: str = "Acme Training Ltd",
) -> Invoice:
    t, x, p = D(total), D(tax), D(paid)
    return Invoice(
        system=system,
        id=rid,
        number=number,
        contact=contact,
        issue_date=issue,
        due_date=date(2026, 11, 2),
        po_number=po,
        currency=currency,
        net=t - x,
        tax=x,
        total=t,
        paid=p,
        due=t - p,
        state=InvoiceState.OPEN if p == 0 else InvoiceState.PART_PAID,
        lines=(Line("Course fee", t - x, x),),
    )


def payment(
    system: System,
    rid: str,
    number: str,
    *,
    amount: str = "50.00",
    day: date = date(2026, 10, 14),
    reference: str = "REF-1",
    method: str = "BACS",
) -> Payment:
    return Payment(
        system=system,
        id=rid,
        invoice_number=number,
        invoice_id="inv-" + number,
        date=day,
        amount=D(amount),
        reference=reference,
        method=method,
        direction=Direction.PAYMENT,
        currency="GBP",
    )


def store(db: Database, system: System, recs: list[Any], raws: list[dict[str, Any]] | None = None) -> list[int]:
    """Store records as a sync page would; returns their cache ids."""
    with db.transaction() as tx:
        records_repo.upsert_page(tx, system, "test", recs, raws or [{"ID": r.id} for r in recs], {})
        ids = records_repo.record_ids(tx)
    kinds = {Invoice: "invoice", Payment: "payment"}
    return [ids[(system.value, kinds.get(type(r), str(getattr(r, "kind", ""))), r.id)] for r in recs]


def invoice_item(
    inv_a: Invoice | None,
    inv_b: Invoice | None,
    status: ItemStatus,
    fields: tuple[str, ...] = (),
    *,
    a_id: int | None = None,
    b_id: int | None = None,
    fingerprint: str = "",
) -> ItemData:
    first = inv_a or inv_b
    assert first is not None
    return ItemData(
        kind=Kind.INVOICE,
        key=invoice_key(first.number),
        status=status,
        fields=fields,
        invoice_key=invoice_key(first.number),
        invoice=first.number,
        period=first.issue_date.strftime("%Y-%m") if first.issue_date else None,
        contact=first.contact,
        date=first.issue_date,
        currency=first.currency,
        amount_minor=to_minor(first.total, first.currency),
        source_id=inv_a.id if inv_a else None,
        ledger_id=inv_b.id if inv_b else None,
        source_record_id=a_id,
        ledger_record_id=b_id,
        fingerprint=fingerprint,
    )


def payment_item(
    p_a: Payment | None,
    p_b: Payment | None,
    status: ItemStatus,
    fields: tuple[str, ...] = (),
    *,
    a_id: int | None = None,
    b_id: int | None = None,
) -> ItemData:
    first = p_a or p_b
    assert first is not None
    number = first.invoice_number or "?"
    return ItemData(
        kind=Kind.PAYMENT,
        key=payment_key(number, p_a.id if p_a else None, p_b.id if p_b else None),
        status=status,
        fields=fields,
        invoice_key=invoice_key(number),
        invoice=number,
        period=first.date.strftime("%Y-%m"),
        contact="",
        date=first.date,
        currency=first.currency,
        amount_minor=to_minor(first.amount, first.currency),
        reference=first.reference,
        source_id=p_a.id if p_a else None,
        ledger_id=p_b.id if p_b else None,
        source_record_id=a_id,
        ledger_record_id=b_id,
    )


def invalid_item(bad: InvalidRecord, record_id: int, period: str = "2026-10") -> ItemData:
    return ItemData(
        kind=bad.kind,
        key=f"invalid:{bad.system}:{bad.kind}:{bad.id}",
        status=ItemStatus.INVALID,
        invoice_key=invoice_key(bad.number),
        invoice=bad.number or "",
        period=period,
        source_id=bad.id if bad.system is System.ACCESSPLANIT else None,
        ledger_id=bad.id if bad.system is System.XERO else None,
        invalid_record_id=record_id,
        note=bad.reason,
    )


def month_fixture(db: Database) -> dict[str, int]:
    """A small month: one matched invoice, one that differs on the PO number, one only in accessplanit, one
    only in Xero, a payment only in accessplanit, a matched payment pair, an unreadable payment, and one
    invoice in the next month. Returns item ids by name."""
    ap1, xe1 = invoice(System.ACCESSPLANIT, "101", "INV-1"), invoice(System.XERO, "x-1", "INV-1")
    ap2 = invoice(System.ACCESSPLANIT, "102", "INV-2", total="240.50", tax="40.08", paid="50.00")
    xe2 = invoice(System.XERO, "x-2", "inv-2", total="240.50", tax="40.08", paid="50.00", po="PO-OTHER")
    ap3 = invoice(System.ACCESSPLANIT, "103", "INV-3", total="99.99", tax="0.00")
    xe4 = invoice(System.XERO, "x-4", "INV-4", total="10.01", tax="1.67")
    ap5 = invoice(System.ACCESSPLANIT, "105", "INV-5", total="1000.00", issue=date(2026, 11, 2))
    pa = payment(System.ACCESSPLANIT, "88", "INV-2")
    pb = payment(System.XERO, "p-88", "INV-2")
    pc = payment(System.ACCESSPLANIT, "89", "INV-1", amount="12.34", reference="REF-2")
    bad = InvalidRecord(System.ACCESSPLANIT, Kind.PAYMENT, "77", "amount is not a number", number="INV-1")
    a_ids = store(db, System.ACCESSPLANIT, [ap1, ap2, ap3, ap5, pa, pc])
    b_ids = store(db, System.XERO, [xe1, xe2, xe4, pb])
    with db.transaction() as tx:
        records_repo.upsert_page(tx, System.ACCESSPLANIT, "bad", [bad], [{"ID": "77", "Amount": "twelve"}], {})
        bad_id = records_repo.record_ids(tx)[("accessplanit", "payment", "77")]
        items_repo.replace_items(
            tx,
            [
                invoice_item(ap1, xe1, ItemStatus.MATCHED, a_id=a_ids[0], b_id=b_ids[0]),
                invoice_item(
                    ap2, xe2, ItemStatus.DIFFERS, ("po_number",), a_id=a_ids[1], b_id=b_ids[1], fingerprint="fp-inv2"
                ),
                invoice_item(ap3, None, ItemStatus.ONLY_IN_SOURCE, a_id=a_ids[2]),
                invoice_item(None, xe4, ItemStatus.ONLY_IN_LEDGER, b_id=b_ids[2]),
                invoice_item(ap5, None, ItemStatus.ONLY_IN_SOURCE, a_id=a_ids[3]),
                payment_item(pa, pb, ItemStatus.MATCHED, a_id=a_ids[4], b_id=b_ids[3]),
                payment_item(pc, None, ItemStatus.ONLY_IN_SOURCE, a_id=a_ids[5]),
                invalid_item(bad, bad_id),
            ],
        )
        rows = items_repo.item_rows(tx, items_repo.query_item_ids(tx))
    by_key = {r.key: r.id for r in rows}
    return {
        "matched": by_key["INV-1"],
        "differs": by_key["INV-2"],
        "only_source": by_key["INV-3"],
        "only_ledger": by_key["INV-4"],
        "next_month": by_key["INV-5"],
        "pay_pair": by_key["INV-2:P88:Xp-88"],
        "pay_source": by_key["INV-1:P89:-"],
        "invalid": by_key["invalid:accessplanit:payment:77"],
    }

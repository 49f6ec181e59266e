"""Domain records used by the storage tests: awkward on purpose (3-decimal currency, zero-decimal currency, lines with
fine quantities, tombstones, refunds)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, Kind, System

D = Decimal


def invoice(
    rid: str = "101",
    number: str = "INV-1001",
    *,
    system: System = System.ACCESSPLANIT,
    po: str = "PO-1",
    currency: str = "GBP",
    net: str = "100.00",
    tax: str = "20.00",
    state: InvoiceState = InvoiceState.OPEN,
    issue: date = date(2026, 10, 3),
    contact: str = "Acme Training Ltd",
    deleted: bool = False,
) -> Invoice:
    total = D(net) + D(tax)
    return Invoice(
        system=system,
        id=rid,
        number=number,
        contact=contact,
        issue_date=issue,
        due_date=date(2026, 11, 2),
        po_number=po,
        currency=currency,
        net=D(net),
        tax=D(tax),
        total=total,
        paid=D("0"),
        due=total,
        state=state,
        lines=(
            Line(
                "Course fee",
                D(net) - D("10.00"),
                D(tax),
                quantity=D("1.5"),
                unit_amount=D("59.3333"),
                account_code="200",
                tax_type="OUTPUT2",
                line_id="L1",
            ),
            Line("Materials", D("10.00"), D("0"), quantity=D("1")),
        ),
        updated_at=datetime(2026, 10, 3, 9, 30, 15),
        contact_id="C-9",
        deleted=deleted,
    )


def payment(
    rid: str = "88",
    invoice_number: str | None = "INV-1001",
    *,
    system: System = System.ACCESSPLANIT,
    amount: str = "120.00",
    direction: Direction = Direction.PAYMENT,
    currency: str = "GBP",
    credit_note_id: str | None = None,
    reference: str = "REF-1",
) -> Payment:
    return Payment(
        system=system,
        id=rid,
        invoice_number=invoice_number,
        invoice_id="101",
        date=date(2026, 10, 14),
        amount=D(amount),
        reference=reference,
        method="BACS",
        direction=direction,
        currency=currency,
        updated_at=datetime(2026, 10, 14, 12, 0, 0),
        credit_note_id=credit_note_id,
    )


def credit_note(rid: str = "cn-1", reference: str = "INV-1001") -> CreditNote:
    return CreditNote(
        system=System.XERO,
        id=rid,
        number="CN-0001",
        reference=reference,
        contact="Acme Training Ltd",
        date=date(2026, 10, 20),
        currency="GBP",
        total=D("30.00"),
        remaining=D("0.00"),
        status="PAID",
        updated_at=datetime(2026, 10, 20, 8, 0, 0),
    )


def invalid(rid: str = "77") -> InvalidRecord:
    return InvalidRecord(
        system=System.ACCESSPLANIT, kind=Kind.PAYMENT, id=rid, reason="amount is not a number", number="INV-1001"
    )


def raw_of(rec: Any) -> dict[str, Any]:
    """A wire-like payload with a Decimal that must survive digit for digit."""
    return {"ID": getattr(rec, "id", "?"), "Amount": D("120.10"), "Rate": D("0.200"), "Lines": [{"Qty": 1}]}

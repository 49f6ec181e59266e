"""Builders of domain records for the reconcile tests: a sensible default for every field, overridden by
keyword.

Must not: compute anything the engine computes (these are inputs, never expected answers).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from app.domain.records import Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, System

D = Decimal


def _invoice(system: System, number: str, id: str, kw: dict[str, Any]) -> Invoice:
    values: dict[str, Any] = {
        "contact": "Acme Training Ltd",
        "issue_date": date(2026, 10, 1),
        "due_date": date(2026, 10, 31),
        "po_number": "PO-1",
        "currency": "GBP",
        "net": D("100.00"),
        "tax": D("20.00"),
        "total": D("120.00"),
        "paid": D("0.00"),
        "due": D("120.00"),
        "state": InvoiceState.OPEN,
        "lines": (Line("Excel course", D("100.00"), D("20.00")),),
    }
    values.update(kw)
    return Invoice(system=system, id=id, number=number, **values)


def ap_inv(number: str = "INV-1", id: str = "1", **kw: Any) -> Invoice:
    """An accessplanit invoice."""
    return _invoice(System.ACCESSPLANIT, number, id, kw)


def xe_inv(number: str = "INV-1", id: str = "x1", **kw: Any) -> Invoice:
    """A Xero invoice (state as the connector would map it)."""
    return _invoice(System.XERO, number, id, kw)


def _payment(system: System, id: str, invoice: str | None, kw: dict[str, Any]) -> Payment:
    values: dict[str, Any] = {
        "invoice_id": None,
        "date": date(2026, 10, 14),
        "amount": D("120.00"),
        "reference": "REF-1",
        "direction": Direction.PAYMENT,
        "currency": "GBP",
    }
    values.update(kw)
    values.setdefault("method", "BACS" if system is System.ACCESSPLANIT else "090")
    return Payment(system=system, id=id, invoice_number=invoice, **values)


def ap_pay(id: str = "88", invoice: str | None = "INV-1", **kw: Any) -> Payment:
    """An accessplanit transaction (method is a label)."""
    return _payment(System.ACCESSPLANIT, id, invoice, kw)


def xe_pay(id: str = "p1", invoice: str | None = "INV-1", **kw: Any) -> Payment:
    """A Xero payment (method is an account code)."""
    return _payment(System.XERO, id, invoice, kw)

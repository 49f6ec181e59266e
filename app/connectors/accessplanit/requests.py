"""The accessplanit writes as values: (method, path, body) built from the same inputs the client's write methods
take, so a preview shows exactly what `AccessplanitClient` sends (the client sends these, nothing else).

Paths are relative to the API root (`{site}/api/v2`). Must not: do I/O, or import another system's package.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote as urlquote

from app.connectors.accessplanit import mapping
from app.domain.status import Direction

WriteRequest = tuple[str, str, dict[str, Any]]
"""(method, path under the API root, JSON body with `Decimal` money)."""


def update_invoice(invoice_id: str, *, po_number: str | None = None, due_date: date | None = None) -> WriteRequest:
    """PUT Invoice/{id} with only the changed fields (PONumber, DateDue)."""
    body: dict[str, Any] = {}
    if po_number is not None:
        body["PONumber"] = po_number
    if due_date is not None:
        body["DateDue"] = f"{due_date.isoformat()}T00:00:00"
    return "PUT", f"Invoice/{urlquote(invoice_id, safe='')}", body


def create_transaction(
    *, invoice_id: str, direction: Direction, amount: Decimal, day: date, method_label: str, reference: str
) -> WriteRequest:
    """POST Transaction: a payment or refund on the invoice."""
    body = mapping.transaction_body(
        invoice_id=invoice_id,
        direction=direction,
        amount=amount,
        day=day,
        method_label=method_label,
        reference=reference,
    )
    return "POST", "Transaction", body

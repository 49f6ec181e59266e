"""The Xero writes as values: (method, path, body) built from the same inputs the client's write methods take, so a
preview shows exactly what `XeroClient` sends (the client sends these, nothing else).

Paths are relative to the API root (`.../api.xro/2.0`); every write also carries `summarizeErrors=false` and the
outbox's `Idempotency-Key` (added by the client). Must not: do I/O, or import another system's package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote as urlquote

from app.connectors.xero import mapping
from app.domain.records import Invoice, Line

WriteRequest = tuple[str, str, dict[str, Any]]
"""(method, path under the API root, JSON body with `Decimal` money)."""

NEW_CREDIT_NOTE = "<the id of the credit note created just before>"
"""Stands for the credit note's id in a described refund payment (it exists only once the first call is answered)."""


def create_invoice(
    invoice: Invoice, lines: Sequence[Line], *, account_code: str, tax_type: str | None, contact_id: str = ""
) -> WriteRequest:
    """PUT Invoices: an AUTHORISED ACCREC invoice; the contact by its ContactID when one was matched, else by name
    (Xero then creates a new contact)."""
    body = mapping.invoice_body(invoice, lines, account_code=account_code, tax_type=tax_type)
    if contact_id:
        body["Contact"] = {"ContactID": contact_id}
    return "PUT", "Invoices", {"Invoices": [body]}


def update_invoice(invoice_id: str, *, po_number: str | None = None, due_date: date | None = None) -> WriteRequest:
    """POST Invoices/{id} with only the changed fields (Reference holds the PO number)."""
    change: dict[str, Any] = {"InvoiceID": invoice_id}
    if po_number is not None:
        change["Reference"] = po_number
    if due_date is not None:
        change["DueDate"] = mapping.wire_date(due_date)
    return "POST", f"Invoices/{urlquote(invoice_id, safe='')}", {"Invoices": [change]}


def create_payment(
    *, invoice_id: str, amount: Decimal, day: date, account_code: str, reference: str, credit_note_id: str = ""
) -> WriteRequest:
    """PUT Payments: a payment on the invoice, or (with `credit_note_id`) a refund paid out of that credit note."""
    payment: dict[str, Any] = {
        "Account": {"Code": account_code},
        "Date": mapping.wire_date(day),
        "Amount": amount,
        "Reference": reference,
    }
    if credit_note_id:
        payment["CreditNote"] = {"CreditNoteID": credit_note_id}
    else:
        payment["Invoice"] = {"InvoiceID": invoice_id}
    return "PUT", "Payments", {"Payments": [payment]}


def refund_credit_note(
    *, invoice_number: str, contact: str, amount: Decimal, day: date, currency: str, account_code: str
) -> WriteRequest:
    """PUT CreditNotes: the ACCRECCREDIT credit note a refund is paid out of (the first of a refund's two calls)."""
    body = mapping.refund_credit_note_body(
        invoice_number=invoice_number,
        contact=contact,
        amount=amount,
        day=day,
        currency=currency,
        account_code=account_code,
    )
    return "PUT", "CreditNotes", {"CreditNotes": [body]}

"""Normalized records, one shape for both systems. Immutable; money is Decimal, dates are calendar dates.

A connector maps a wire payload to one of these (or to an `InvalidRecord` saying why it could not);
storage persists them; reconcile compares them. Must not: hold I/O handles, Qt objects or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app.domain.status import Direction, InvoiceState, Kind, System


@dataclass(frozen=True, slots=True)
class Line:
    """One invoice line. `net` excludes tax; `tax` is the line's tax; both in the invoice currency."""

    description: str
    net: Decimal
    tax: Decimal
    quantity: Decimal = Decimal(1)
    unit_amount: Decimal | None = None
    account_code: str | None = None
    tax_type: str | None = None
    line_id: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice as seen by one system (`system`), with canonical field names of product.md section 2."""

    system: System
    id: str  # the system's own id (accessplanit ID, Xero InvoiceID)
    number: str  # match key before normalization (accessplanit Reference, Xero InvoiceNumber)
    contact: str
    issue_date: date | None
    due_date: date | None
    po_number: str
    currency: str
    net: Decimal
    tax: Decimal
    total: Decimal
    paid: Decimal
    due: Decimal
    state: InvoiceState
    lines: tuple[Line, ...] = ()
    updated_at: datetime | None = None  # the system's last-modified instant (UTC, naive)
    contact_id: str | None = None
    deleted: bool = False  # Xero DELETED: kept as a tombstone, not reconciled
    rate: Decimal | None = None  # Xero CurrencyRate as Xero gives it: shown, never used to convert

    kind: Kind = field(default=Kind.INVOICE, init=False)


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment or refund on an invoice, as seen by one system."""

    system: System
    id: str
    invoice_number: str | None  # number of the invoice it settles (refunds in Xero: resolved via credit note)
    invoice_id: str | None  # the system's id of that invoice
    date: date
    amount: Decimal  # always positive; `direction` says which way the money went
    reference: str
    method: str  # accessplanit TransactionMethodLabel; Xero Account.Code (mapped by reconcile rules)
    direction: Direction
    currency: str
    updated_at: datetime | None = None
    deleted: bool = False  # Xero Status DELETED: kept, not reconciled
    credit_note_id: str | None = None  # Xero refunds are paid out of a credit note
    # The combined payment this one is a part of: the accessplanit Transaction allocated across several invoices
    # (`TransactionInvoices`), or the Xero `BatchPaymentID`. None for a payment on one invoice only.
    group: str | None = None

    kind: Kind = field(default=Kind.PAYMENT, init=False)


@dataclass(frozen=True, slots=True)
class CreditNote:
    """A ledger credit: a Xero credit note, or (by `kind`) an overpayment or a prepayment.

    A credit note's `reference` carries the number of the invoice it refunds (our convention). An overpayment or a
    prepayment has no number: `number` holds its `Reference` (the payer's text) and `reference` the number of the
    first invoice it is allocated to ("" while it is allocated to none)."""

    system: System
    id: str
    number: str
    reference: str
    contact: str
    date: date | None
    currency: str
    total: Decimal
    remaining: Decimal
    status: str
    updated_at: datetime | None = None
    kind: Kind = Kind.CREDIT_NOTE  # or Kind.OVERPAYMENT / Kind.PREPAYMENT


CREDIT_GROUP = {Kind.CREDIT_NOTE: "credit_note:", Kind.OVERPAYMENT: "overpayment:", Kind.PREPAYMENT: "prepayment:"}
"""`Payment.group` of a ledger payment that is an allocation of a credit to an invoice: the prefix, then the credit's
id (`overpayment:<OverpaymentID>`)."""


def allocated_from(payment: Payment) -> tuple[Kind, str] | None:
    """The credit (its kind and id) that a ledger payment is an allocation of, or None for a payment of money.
    An allocation carries no bank account, so its `method` is never compared (docs/reconciliation.md section 9)."""
    group = payment.group
    if not group:
        return None
    for kind, prefix in CREDIT_GROUP.items():
        if group.startswith(prefix):
            return kind, group[len(prefix) :]
    return None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A record that could not be read. Kept with its raw payload and the reason, never dropped."""

    system: System
    kind: Kind
    id: str  # the system's id if it could be read, else a stable digest of the payload
    reason: str
    number: str | None = None  # the invoice number, when that much could be read
    date: date | None = None  # the record's own date (issue or payment date), when that much could be read


Record = Invoice | Payment

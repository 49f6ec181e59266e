"""Xero wire records -> domain records, and domain values -> Xero write bodies. The one place for Xero's conventions.

- Dates: `DateString`/`DueDateString`/`UpdatedDateUTCString` when present, else `/Date(ms±hhmm)/` read as a UTC
  instant with the offset ignored; a date-only field is the UTC calendar date (never shifted by the local zone).
- Invoices: only `Type == ACCREC` is reconciled (others map to None: the raw is kept as reference data).
  net = `SubTotal`, tax = `TotalTax`, total = `Total`, paid = `AmountPaid + AmountCredited`, due = `AmountDue`;
  `DELETED` is a tombstone (`deleted=True`, state void). `AUTHORISED`/`PAID` get a state derived from those
  amounts here (paid when due is 0 and total > 0, part_paid when paid > 0, else open); reconcile re-derives it
  with refunds (reconciliation.md section 4), which a single record cannot know.
- Lines: net = `LineAmount` (Exclusive/NoTax) or `LineAmount − TaxAmount` (Inclusive); tax = `TaxAmount`.
- Payments: `ACCRECPAYMENT` -> payment, `ARCREDITPAYMENT` -> refund (paid out of a credit note; its invoice is the
  credit note's `Reference`); other types map to None. `method` is `Account.Code`.
- Credits: ACCRECCREDIT credit notes, RECEIVE-OVERPAYMENT and RECEIVE-PREPAYMENT map to `CreditNote` (by `kind`);
  each of their `Allocations` to an invoice is a ledger payment on that invoice (`map_allocations`; section 9 of
  docs/reconciliation.md): id the `AllocationID`, date the credit's `Date` (when the money or credit arose),
  reference the credit's `Reference` (a credit note's number), no method (an allocation has no bank account).
Must not: do I/O. An unreadable record becomes an `InvalidRecord` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar

from app.connectors.wire import Unreadable, money, payload_digest, short
from app.connectors.wire import scalar_text as _text
from app.domain.records import CREDIT_GROUP, CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, Kind, System

_MS_DATE = re.compile(r"^/Date\((-?[0-9]{1,15})([+-][0-9]{4})?\)/$")  # ASCII digits; 15 reach past year 9999
_EPOCH = datetime(1970, 1, 1)
DIRECTIONS: Mapping[str, Direction] = {"ACCRECPAYMENT": Direction.PAYMENT, "ARCREDITPAYMENT": Direction.REFUND}


# --------------------------------------------------------------------------------------------------- values
def parse_instant(value: Any, name: str = "date") -> datetime | None:
    """`/Date(1539993600000+0000)/` or ISO text -> naive UTC datetime; None when absent."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise Unreadable(f"bad date {name}: {short(value)}")
    text = value.strip()
    match = _MS_DATE.match(text)
    try:
        if match:
            # The offset is Xero's display hint, not a shift: the milliseconds are already UTC.
            return _EPOCH + timedelta(milliseconds=int(match.group(1)))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:  # not a date, or one past year 9999 (`/Date(99999999999999999)/`)
        raise Unreadable(f"bad date {name}: {short(value)}") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _readable_date(raw: Mapping[str, Any]) -> date | None:
    """An unreadable record's own `Date` when that much can be read (its item then belongs to that month)."""
    try:
        return pick_date(raw, "Date")
    except Unreadable:
        return None


def pick_date(raw: Mapping[str, Any], name: str) -> date | None:
    """A date-only field: `<name>String` when present, else `<name>` as a UTC date."""
    text = raw.get(f"{name}String")
    if isinstance(text, str) and text.strip():
        try:
            return datetime.fromisoformat(text.strip()[:19]).date()
        except ValueError:
            pass  # fall back to the /Date()/ value
    moment = parse_instant(raw.get(name), name)
    return moment.date() if moment is not None else None


def pick_instant(raw: Mapping[str, Any], name: str) -> datetime | None:
    text = raw.get(f"{name}String")
    if isinstance(text, str) and text.strip():
        try:
            return parse_instant(text, name)
        except Unreadable:
            pass
    return parse_instant(raw.get(name), name)


def _obj(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, Mapping) else {}


def record_id(raw: Mapping[str, Any], *names: str) -> str:
    """The first of `names` that holds a usable id (text or a number), else a stable digest of the payload."""
    if not isinstance(raw, Mapping):
        return payload_digest({"record": raw})
    for name in names:
        value = raw.get(name)
        if value and isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if text.isprintable() and len(text) <= 200:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    continue
                return text
    return payload_digest(raw)


_Mapped = TypeVar("_Mapped")


def never_raises(
    kind: Kind, id_name: str, prefix: str = ""
) -> Callable[[Callable[..., _Mapped]], Callable[..., _Mapped | InvalidRecord]]:
    """One record's mapping never stops a page: whatever it meets that the rules did not foresee (a value of the
    wrong type, a date out of range) makes that record `invalid` with the reason, and the page goes on."""

    def wrap(fn: Callable[..., _Mapped]) -> Callable[..., _Mapped | InvalidRecord]:
        @wraps(fn)
        def mapped(raw: Any, *args: Any, **kwargs: Any) -> _Mapped | InvalidRecord:
            if not isinstance(raw, Mapping):
                return InvalidRecord(System.XERO, kind, record_id(raw), f"{prefix}not a record: {short(raw)}")
            try:
                return fn(raw, *args, **kwargs)
            except Unreadable as exc:  # read before the record's own reasons are collected (its number, say)
                return InvalidRecord(System.XERO, kind, record_id(raw, id_name), f"{prefix}{exc}")
            except Exception as exc:
                reason = f"{prefix}unreadable record ({type(exc).__name__}: {short(str(exc), 120)})"
                return InvalidRecord(System.XERO, kind, record_id(raw, id_name), reason)

        return mapped

    return wrap


def derive_state(status: str, paid: Decimal, due: Decimal, total: Decimal) -> InvoiceState:
    if status in ("DRAFT", "SUBMITTED"):
        return InvoiceState.DRAFT
    if status in ("VOIDED", "DELETED"):
        return InvoiceState.VOID
    if status in ("AUTHORISED", "PAID"):
        if due == 0 and total > 0:
            return InvoiceState.PAID
        return InvoiceState.PART_PAID if paid > 0 else InvoiceState.OPEN
    raise Unreadable(f"unknown status {status!r}")


# --------------------------------------------------------------------------------------------------- reading
def map_line(raw: Mapping[str, Any], amount_types: str) -> Line:
    amount = money(raw, "LineAmount", required=False)
    tax = money(raw, "TaxAmount", required=False)
    net = amount - tax if amount_types.lower() == "inclusive" else amount
    return Line(
        description=_text(raw, "Description").strip(),
        net=net,
        tax=tax,
        quantity=money(raw, "Quantity", required=False) if raw.get("Quantity") is not None else Decimal(1),
        unit_amount=money(raw, "UnitAmount") if raw.get("UnitAmount") not in (None, "") else None,
        account_code=_text(raw, "AccountCode") or None,
        tax_type=_text(raw, "TaxType") or None,
        line_id=_text(raw, "LineItemID") or None,
    )


def _line(raw: Any, amount_types: str) -> Line:
    if not isinstance(raw, Mapping):
        raise Unreadable(f"bad line item: {short(raw)}")
    try:
        return map_line(raw, amount_types)
    except Unreadable as exc:
        raise Unreadable(f"line item: {exc}") from exc


@never_raises(Kind.INVOICE, "InvoiceID")
def map_invoice(raw: Mapping[str, Any]) -> Invoice | InvalidRecord | None:
    """An ACCREC invoice; None for other types (bills are not reconciled)."""
    if _text(raw, "Type").upper() not in ("ACCREC", ""):
        return None
    rid = record_id(raw, "InvoiceID")
    number = _text(raw, "InvoiceNumber").strip()
    try:
        if not number:
            raise Unreadable("missing invoice number (InvoiceNumber)")
        status = _text(raw, "Status").strip().upper()
        total = money(raw, "Total")
        paid = money(raw, "AmountPaid", required=False) + money(raw, "AmountCredited", required=False)
        due = money(raw, "AmountDue")
        state = derive_state(status, paid, due, total)
        amount_types = _text(raw, "LineAmountTypes") or "Exclusive"
        items = raw.get("LineItems") or []
        if not isinstance(items, list):
            raise Unreadable("bad LineItems")
        contact = _obj(raw, "Contact")
        return Invoice(
            system=System.XERO,
            id=rid,
            number=number,
            contact=_text(contact, "Name").strip(),
            issue_date=pick_date(raw, "Date"),
            due_date=pick_date(raw, "DueDate"),
            po_number=_text(raw, "Reference"),
            currency=_text(raw, "CurrencyCode").strip().upper(),
            net=money(raw, "SubTotal"),
            tax=money(raw, "TotalTax"),
            total=total,
            paid=paid,
            due=due,
            state=state,
            lines=tuple(_line(i, amount_types) for i in items),
            updated_at=pick_instant(raw, "UpdatedDateUTC"),
            contact_id=_text(contact, "ContactID") or None,
            deleted=status == "DELETED",
            rate=currency_rate(raw),
        )
    except Unreadable as exc:
        return InvalidRecord(System.XERO, Kind.INVOICE, rid, str(exc), number=number or None, date=_readable_date(raw))


def currency_rate(raw: Mapping[str, Any]) -> Decimal | None:
    """Xero's `CurrencyRate` of a record, for display only; None when absent, unreadable or 1 (base currency)."""
    try:
        rate = money(raw, "CurrencyRate", required=False)
    except Unreadable:
        return None
    return rate if rate > 0 and rate != 1 else None


def credit_note_of(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The credit note a refund is paid out of: `CreditNote`, or `Invoice` carrying a credit-note type."""
    note = _obj(raw, "CreditNote")
    return note if note else _obj(raw, "Invoice")


@never_raises(Kind.PAYMENT, "PaymentID")
def map_payment(raw: Mapping[str, Any], credit_note_refs: Mapping[str, str]) -> Payment | InvalidRecord | None:
    """A payment or refund on an ACCREC invoice; None for payment types that are not reconciled.

    `credit_note_refs` maps CreditNoteID -> the credit note's `Reference` (the refunded invoice's number).
    """
    kind = _text(raw, "PaymentType").strip().upper() or "ACCRECPAYMENT"
    direction = DIRECTIONS.get(kind)
    if direction is None:
        return None
    rid = record_id(raw, "PaymentID")
    invoice = _obj(raw, "Invoice")
    number: str | None
    credit_note_id: str | None = None
    if direction is Direction.REFUND:
        note = credit_note_of(raw)
        credit_note_id = _text(note, "CreditNoteID") or _text(note, "InvoiceID") or None
        number = (credit_note_refs.get(credit_note_id or "") or _text(note, "Reference")).strip() or None
        invoice_id = None
    else:
        number = _text(invoice, "InvoiceNumber").strip() or None
        invoice_id = _text(invoice, "InvoiceID") or None
    try:
        if direction is Direction.PAYMENT and not number:
            raise Unreadable("missing invoice number (Invoice.InvoiceNumber)")
        amount = money(raw, "Amount")
        if amount <= 0:
            raise Unreadable(f"bad amount Amount: {amount} (must be more than 0)")
        day = pick_date(raw, "Date")
        if day is None:
            raise Unreadable("missing date Date")
        return Payment(
            system=System.XERO,
            id=rid,
            invoice_number=number,
            invoice_id=invoice_id,
            date=day,
            amount=amount,
            reference=_text(raw, "Reference"),
            method=_text(_obj(raw, "Account"), "Code"),
            direction=direction,
            currency=(_text(raw, "CurrencyCode") or _text(invoice, "CurrencyCode")).strip().upper(),
            updated_at=pick_instant(raw, "UpdatedDateUTC"),
            deleted=_text(raw, "Status").upper() == "DELETED",
            credit_note_id=credit_note_id,
            group=_text(raw, "BatchPaymentID").strip() or None,  # one of a batch payment's payments
        )
    except Unreadable as exc:
        return InvalidRecord(System.XERO, Kind.PAYMENT, rid, str(exc), number=number, date=_readable_date(raw))


CREDIT_TYPES: Mapping[Kind, tuple[str, str, frozenset[str]]] = {
    # kind -> (id field, label in reasons, the customer-side types that are reconciled)
    Kind.CREDIT_NOTE: ("CreditNoteID", "credit note", frozenset({"ACCRECCREDIT", ""})),
    Kind.OVERPAYMENT: ("OverpaymentID", "overpayment", frozenset({"RECEIVE-OVERPAYMENT", "AROVERPAYMENT"})),
    Kind.PREPAYMENT: ("PrepaymentID", "prepayment", frozenset({"RECEIVE-PREPAYMENT", "ARPREPAYMENT"})),
}


def map_credit(raw: Any, kind: Kind) -> list[CreditNote | Payment | InvalidRecord] | None:
    """A credit note, overpayment or prepayment and its allocations: [credit, allocation payments...]; None for the
    supplier side (not reconciled). Never raises: what cannot be read is an `InvalidRecord`."""
    if kind is Kind.CREDIT_NOTE:
        head = map_credit_note(raw)
    else:
        head = map_overpayment(raw) if kind is Kind.OVERPAYMENT else map_prepayment(raw)
    if head is None:
        return None
    if not isinstance(head, CreditNote):
        return [head]
    return [head, *map_allocations(raw, head)]


def _map_money_credit(raw: Mapping[str, Any], kind: Kind) -> CreditNote | InvalidRecord | None:
    id_name, label, types = CREDIT_TYPES[kind]
    if _text(raw, "Type").strip().upper() not in types:
        return None
    rid = record_id(raw, id_name)
    allocations = raw.get("Allocations") or []
    first = next(
        (
            _text(_obj(a, "Invoice"), "InvoiceNumber").strip()
            for a in (allocations if isinstance(allocations, list) else [])
            if isinstance(a, Mapping) and not a.get("IsDeleted") and _obj(a, "Invoice")
        ),
        "",
    )
    try:
        return CreditNote(
            system=System.XERO,
            id=rid,
            number=_text(raw, "Reference").strip(),
            reference=first,
            contact=_text(_obj(raw, "Contact"), "Name").strip(),
            date=pick_date(raw, "Date"),
            currency=_text(raw, "CurrencyCode").strip().upper(),
            total=money(raw, "Total"),
            remaining=money(raw, "RemainingCredit", required=False),
            status=_text(raw, "Status").upper(),
            updated_at=pick_instant(raw, "UpdatedDateUTC"),
            kind=kind,
        )
    except Unreadable as exc:
        return InvalidRecord(System.XERO, Kind.INVOICE, rid, f"{label}: {exc}", date=_readable_date(raw))


@never_raises(Kind.INVOICE, "OverpaymentID", "overpayment: ")
def map_overpayment(raw: Mapping[str, Any]) -> CreditNote | InvalidRecord | None:
    """A customer's overpayment (RECEIVE-OVERPAYMENT); None for supplier ones."""
    return _map_money_credit(raw, Kind.OVERPAYMENT)


@never_raises(Kind.INVOICE, "PrepaymentID", "prepayment: ")
def map_prepayment(raw: Mapping[str, Any]) -> CreditNote | InvalidRecord | None:
    """A customer's prepayment (RECEIVE-PREPAYMENT); None for supplier ones."""
    return _map_money_credit(raw, Kind.PREPAYMENT)


def map_allocations(raw: Mapping[str, Any], credit: CreditNote) -> list[Payment | InvalidRecord]:
    """Each allocation of `credit` to an invoice as a ledger payment on that invoice (group `<kind>:<credit id>`).
    A deleted allocation, or any of a voided or deleted credit, is a tombstone; one without an invoice number or a
    positive amount is an invalid payment of its own."""
    rows = raw.get("Allocations")
    if not isinstance(rows, list):
        return []
    label = CREDIT_TYPES[credit.kind][1]
    gone = credit.status in ("VOIDED", "DELETED")
    out: list[Payment | InvalidRecord] = []
    for index, row in enumerate(rows):
        fallback = f"{credit.id}-{index + 1}"
        if not isinstance(row, Mapping):
            out.append(InvalidRecord(System.XERO, Kind.PAYMENT, fallback, f"{label} allocation: not a record"))
            continue
        rid = record_id(row, "AllocationID") if row.get("AllocationID") else fallback
        invoice = _obj(row, "Invoice")
        number = _text(invoice, "InvoiceNumber").strip() or None
        try:
            if not number:
                raise Unreadable("missing invoice number (Invoice.InvoiceNumber)")
            amount = money(row, "Amount")
            if amount <= 0:
                raise Unreadable(f"bad amount Amount: {amount} (must be more than 0)")
            day = credit.date or pick_date(row, "Date")
            if day is None:
                raise Unreadable("missing date Date")
            out.append(
                Payment(
                    system=System.XERO,
                    id=rid,
                    invoice_number=number,
                    invoice_id=_text(invoice, "InvoiceID") or None,
                    date=day,
                    amount=amount,
                    reference=credit.number,
                    method="",
                    direction=Direction.PAYMENT,
                    currency=credit.currency or _text(invoice, "CurrencyCode").strip().upper(),
                    updated_at=credit.updated_at,
                    deleted=gone or row.get("IsDeleted") is True,
                    group=CREDIT_GROUP[credit.kind] + credit.id,
                )
            )
        except Unreadable as exc:
            reason = f"{label} allocation: {exc}"
            out.append(InvalidRecord(System.XERO, Kind.PAYMENT, rid, reason, number=number, date=credit.date))
        except Exception as exc:  # a value of a type the rules did not foresee: this allocation only
            reason = f"{label} allocation: unreadable ({type(exc).__name__}: {short(str(exc), 120)})"
            out.append(InvalidRecord(System.XERO, Kind.PAYMENT, rid, reason, number=number, date=credit.date))
    return out


@never_raises(Kind.INVOICE, "CreditNoteID", "credit note: ")
def map_credit_note(raw: Mapping[str, Any]) -> CreditNote | InvalidRecord | None:
    """An ACCRECCREDIT credit note; None for supplier credit notes."""
    if _text(raw, "Type").upper() not in ("ACCRECCREDIT", ""):
        return None
    rid = record_id(raw, "CreditNoteID")
    try:
        return CreditNote(
            system=System.XERO,
            id=rid,
            number=_text(raw, "CreditNoteNumber"),
            reference=_text(raw, "Reference").strip(),
            contact=_text(_obj(raw, "Contact"), "Name").strip(),
            date=pick_date(raw, "Date"),
            currency=_text(raw, "CurrencyCode").strip().upper(),
            total=money(raw, "Total"),
            remaining=money(raw, "RemainingCredit", required=False),
            status=_text(raw, "Status").upper(),
            updated_at=pick_instant(raw, "UpdatedDateUTC"),
        )
    except Unreadable as exc:
        return InvalidRecord(System.XERO, Kind.INVOICE, rid, f"credit note: {exc}")


# --------------------------------------------------------------------------------------------------- writing
def wire_date(day: date) -> str:
    """Requests carry plain `YYYY-MM-DD` (a datetime with an offset can land a day early)."""
    return day.isoformat()


def invoice_body(invoice: Invoice, lines: Sequence[Line], *, account_code: str, tax_type: str | None) -> dict[str, Any]:
    """An AUTHORISED ACCREC invoice with the source's line amounts. Each line sets `TaxAmount` so Xero's per-line
    tax equals the source's and the totals agree; with no lines, one line carries the invoice's net and tax."""
    source_lines = list(lines) or [Line(description=invoice.number, net=invoice.net, tax=invoice.tax)]
    items: list[dict[str, Any]] = []
    for line in source_lines:
        item: dict[str, Any] = {
            "Description": line.description or invoice.number,
            "Quantity": Decimal(1),
            "UnitAmount": line.net,
            "LineAmount": line.net,
            "AccountCode": line.account_code or account_code,
            "TaxAmount": line.tax,
        }
        if line.tax_type or tax_type:
            item["TaxType"] = line.tax_type or tax_type
        items.append(item)
    body: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": invoice.contact},
        "InvoiceNumber": invoice.number,
        "Reference": invoice.po_number,
        "CurrencyCode": invoice.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": items,
    }
    if invoice.issue_date is not None:
        body["Date"] = wire_date(invoice.issue_date)
    if invoice.due_date is not None:
        body["DueDate"] = wire_date(invoice.due_date)
    return body


def refund_credit_note_body(
    *, invoice_number: str, contact: str, amount: Decimal, day: date, currency: str, account_code: str
) -> dict[str, Any]:
    """The ACCRECCREDIT credit note a refund is paid out of; `Reference` = the refunded invoice's number."""
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"Name": contact},
        "Date": wire_date(day),
        "Reference": invoice_number,
        "CurrencyCode": currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": f"Refund on {invoice_number}",
                "Quantity": Decimal(1),
                "UnitAmount": amount,
                "LineAmount": amount,
                "AccountCode": account_code,
                "TaxAmount": Decimal(0),
            }
        ],
    }


def element_errors(element: Mapping[str, Any]) -> tuple[str, ...]:
    """The validation messages of one element of a `summarizeErrors=false` answer."""
    return tuple(str(v.get("Message")) for v in element.get("ValidationErrors") or [] if isinstance(v, Mapping))

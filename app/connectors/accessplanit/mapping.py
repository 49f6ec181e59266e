"""accessplanit wire records -> domain records. The ONE place for the conventions of accessplanit-api.md section 9.

- `Invoice.Amount` is net, `Tax` the tax, total = Amount + Tax; `AmountPaid`/`Outstanding` as given.
- `Status`: Outstanding -> open, Part Paid -> part_paid, Paid -> paid, Cancelled/Credited -> void; else invalid.
- Dates are ISO 8601 without offset in platform-local (UK) time: the calendar date is the date part, unshifted.
- `InvoiceItem`: description `DynamicLabel` (else `Reference`), `Amount` is gross, net = Amount − Tax; a null
  amount or tax on a line is 0 (the fields are documented as nullable).
- `Transaction`: `TransactionType` Payment/Refund, `Amount` > 0, `TransactionDate`, `Reference`,
  `TransactionMethodLabel`; the invoice number comes from the invoice (Transactions carry only `InvoiceID`).
- A Transaction allocated across several invoices (`TransactionInvoices`: `InvoiceID` and `Amount` per invoice; our
  reading of the `TransactionInvoice` module) is one payment per allocation, id `<ID>-<InvoiceID>`, `group` the
  Transaction's ID; the allocations must add up to `Amount`.
Must not: do I/O. A record that cannot be read becomes an `InvalidRecord` with the reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar

from app.connectors.wire import Unreadable, money, payload_digest, short
from app.connectors.wire import scalar_text as _text
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, Kind, System

STATES: Mapping[str, InvoiceState] = {
    "outstanding": InvoiceState.OPEN,
    "part paid": InvoiceState.PART_PAID,
    "paid": InvoiceState.PAID,
    "cancelled": InvoiceState.VOID,
    "credited": InvoiceState.VOID,
}
DIRECTIONS: Mapping[str, Direction] = {"payment": Direction.PAYMENT, "refund": Direction.REFUND}

# The Invoice fields the mapping reads: the `$select` of the invoices stream (keeps responses small).
INVOICE_FIELDS = (
    "ID",
    "Reference",
    "TargetLabel",
    "CompanyName",
    "DateCreated",
    "DateDue",
    "DateUpdated",
    "PONumber",
    "CurrencyCode",
    "Amount",
    "Tax",
    "AmountPaid",
    "Outstanding",
    "Status",
)
ITEM_FIELDS = ("ID", "InvoiceID", "DynamicLabel", "Reference", "Amount", "Tax")
TRANSACTION_FIELDS = (
    "ID",
    "InvoiceID",
    "TransactionType",
    "Amount",
    "TransactionDate",
    "Reference",
    "TransactionMethodLabel",
    "CurrencyCode",
    "DateUpdated",
    "TransactionInvoices",
)


def record_id(raw: Mapping[str, Any]) -> str:
    """The record's ID, or a stable digest of the payload when it has none (or one that is not text or a number)."""
    rid = raw.get("ID") if isinstance(raw, Mapping) else None
    if isinstance(rid, str | int) and not isinstance(rid, bool) and rid != "":
        text = str(rid)
        if text.isprintable() and len(text) <= 200 and _storable(text):
            return text
    return payload_digest(raw if isinstance(raw, Mapping) else {"record": raw})


def _storable(text: str) -> bool:
    """Text the cache can store (UTF-8): not a lone surrogate such as `\\ud800`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_Mapped = TypeVar("_Mapped")


def never_raises(kind: Kind) -> Callable[[Callable[..., _Mapped]], Callable[..., _Mapped | InvalidRecord]]:
    """One record's mapping never stops a page: whatever it meets that the rules did not foresee (a value of the
    wrong type, a date out of range) makes that record `invalid` with the reason, and the page goes on."""

    def wrap(fn: Callable[..., _Mapped]) -> Callable[..., _Mapped | InvalidRecord]:
        @wraps(fn)
        def mapped(raw: Any, *args: Any, **kwargs: Any) -> _Mapped | InvalidRecord:
            if not isinstance(raw, Mapping):
                return InvalidRecord(System.ACCESSPLANIT, kind, record_id(raw), f"not a record: {short(raw)}")
            try:
                return fn(raw, *args, **kwargs)
            except Unreadable as exc:  # read before the record's own reasons are collected (its number, say)
                return InvalidRecord(System.ACCESSPLANIT, kind, record_id(raw), str(exc))
            except Exception as exc:
                reason = f"unreadable record ({type(exc).__name__}: {short(str(exc), 120)})"
                return InvalidRecord(System.ACCESSPLANIT, kind, record_id(raw), reason)

        return mapped

    return wrap


def parse_datetime(value: Any, name: str) -> datetime | None:
    """ISO 8601 as sent (platform-local, usually without offset); None when absent. An offset, if any, is dropped
    so the calendar date is the one the platform shows."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unreadable(f"bad date {name}: {short(value)}")
    if len(value) > 40:
        raise Unreadable(f"bad date {name}: {short(value)}")
    try:
        parsed = datetime.fromisoformat(value)  # as sent, nearly always (a sync reads ~600,000 of them)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise Unreadable(f"bad date {name}: {short(value)}") from exc
    return parsed if parsed.tzinfo is None else parsed.replace(tzinfo=None)


def parse_date(value: Any, name: str) -> date | None:
    parsed = parse_datetime(value, name)
    return parsed.date() if parsed is not None else None


def _readable_date(raw: Mapping[str, Any], name: str) -> date | None:
    """An unreadable record's own date when that much can be read (its item then belongs to that month)."""
    try:
        return parse_date(raw.get(name), name)
    except Unreadable:
        return None


def map_line(raw: Mapping[str, Any]) -> Line:
    if not isinstance(raw, Mapping):
        raise Unreadable(f"bad invoice item: {short(raw)}")
    gross = money(raw, "Amount", required=False)
    tax = money(raw, "Tax", required=False)
    description = (_text(raw, "DynamicLabel") or _text(raw, "Reference")).strip()
    return Line(
        description=description,
        net=gross - tax,
        tax=tax,
        quantity=Decimal(1),
        unit_amount=gross - tax,
        line_id=_text(raw, "ID") or None,
    )


@never_raises(Kind.INVOICE)
def map_invoice(raw: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()) -> Invoice | InvalidRecord:
    """An Invoice with its InvoiceItems (sorted by ID), or an `InvalidRecord` saying which field is unreadable."""
    rid = record_id(raw)
    number = _text(raw, "Reference").strip()
    try:
        if not number:
            raise Unreadable("missing invoice number (Reference)")
        status = _text(raw, "Status").strip()
        state = STATES.get(status.lower())
        if state is None:
            raise Unreadable(f"unknown status {status!r}")
        net = money(raw, "Amount")
        tax = money(raw, "Tax")
        issue = parse_date(raw.get("DateCreated"), "DateCreated")
        if issue is None:
            raise Unreadable("missing date DateCreated")
        lines = tuple(map_line(item) for item in sorted(items, key=lambda i: id_order(i.get("ID"))))
        return Invoice(
            system=System.ACCESSPLANIT,
            id=rid,
            number=number,
            contact=(_text(raw, "TargetLabel") or _text(raw, "CompanyName")).strip(),
            issue_date=issue,
            due_date=parse_date(raw.get("DateDue"), "DateDue"),
            po_number=_text(raw, "PONumber"),
            currency=_text(raw, "CurrencyCode").strip().upper(),
            net=net,
            tax=tax,
            total=net + tax,
            paid=money(raw, "AmountPaid"),
            due=money(raw, "Outstanding"),
            state=state,
            lines=lines,
            updated_at=parse_datetime(raw.get("DateUpdated"), "DateUpdated"),
        )
    except Unreadable as exc:
        day = _readable_date(raw, "DateCreated")
        return InvalidRecord(System.ACCESSPLANIT, Kind.INVOICE, rid, str(exc), number=number or None, date=day)


@never_raises(Kind.PAYMENT)
def map_payment(
    raw: Mapping[str, Any], invoice_numbers: Mapping[str, str], *, check_invoice: bool = True
) -> Payment | InvalidRecord:
    """A Transaction. `invoice_numbers` maps accessplanit invoice ID -> invoice number (Reference).
    `check_invoice=False`: the invoice is named by allocation lines (`map_payments`), not by `InvoiceID`."""
    rid = record_id(raw)
    invoice_id = _text(raw, "InvoiceID").strip()
    number = invoice_numbers.get(invoice_id)
    if number is not None and not (isinstance(number, str) and _storable(number)):
        # looked up from an invoice whose number cannot be read: that invoice says why
        raise Unreadable(f"the invoice of this payment ({invoice_id}) has an unreadable number")
    try:
        if not invoice_id and check_invoice:
            raise Unreadable("missing InvoiceID")
        if number is None and check_invoice:
            raise Unreadable(f"payment on an invoice id that is not known ({invoice_id})")
        kind = _text(raw, "TransactionType").strip()
        direction = DIRECTIONS.get(kind.lower())
        if direction is None:
            raise Unreadable(f"unknown transaction type {kind!r}")
        amount = money(raw, "Amount")
        if amount <= 0:
            raise Unreadable(f"bad amount Amount: {amount} (must be more than 0)")
        day = parse_date(raw.get("TransactionDate"), "TransactionDate")
        if day is None:
            raise Unreadable("missing date TransactionDate")
        return Payment(
            system=System.ACCESSPLANIT,
            id=rid,
            invoice_number=number,
            invoice_id=invoice_id,
            date=day,
            amount=amount,
            reference=_text(raw, "Reference"),
            method=_text(raw, "TransactionMethodLabel"),
            direction=direction,
            currency=_text(raw, "CurrencyCode").strip().upper(),
            updated_at=parse_datetime(raw.get("DateUpdated"), "DateUpdated"),
        )
    except Unreadable as exc:
        day = _readable_date(raw, "TransactionDate")
        return InvalidRecord(System.ACCESSPLANIT, Kind.PAYMENT, rid, str(exc), number=number, date=day)


def allocation_invoice_ids(raw: Mapping[str, Any]) -> list[str]:
    """The invoice ids a Transaction's allocation lines name (empty for a transaction on one invoice)."""
    lines = raw.get("TransactionInvoices")
    if not isinstance(lines, list):
        return []
    return [str(a["InvoiceID"]).strip() for a in lines if isinstance(a, dict) and a.get("InvoiceID") not in (None, "")]


def cached_id(raw: Mapping[str, Any], rid: str) -> str:
    """The id the cache keeps a row's version under: its ID, or (allocated across invoices) its first part's."""
    invoices = allocation_invoice_ids(raw)
    return f"{rid}-{invoices[0]}" if invoices else rid


def map_payments(raw: Mapping[str, Any], invoice_numbers: Mapping[str, str]) -> list[Payment | InvalidRecord]:
    """A Transaction as payments: one, or one per allocation line when it is allocated across invoices."""
    lines = raw.get("TransactionInvoices") if isinstance(raw, Mapping) else None
    if lines in (None, []):
        return [map_payment(raw, invoice_numbers)]
    rid = record_id(raw)
    whole = map_payment(raw, invoice_numbers, check_invoice=False)
    if isinstance(whole, InvalidRecord):
        return [whole]
    try:
        if not isinstance(lines, list) or not all(isinstance(a, dict) for a in lines):
            raise Unreadable("TransactionInvoices is not a list of allocations")
        parts: list[Payment | InvalidRecord] = []
        total = Decimal(0)
        for line in lines:
            invoice_id = _text(line, "InvoiceID").strip()
            amount = money(line, "Amount")
            if not invoice_id or amount <= 0:
                raise Unreadable(f"an allocation needs an InvoiceID and an Amount above 0 ({invoice_id!r}, {amount})")
            total += amount
            number = invoice_numbers.get(invoice_id)
            part_id = f"{rid}-{invoice_id}"
            if number is None:
                reason = f"payment on an invoice id that is not known ({invoice_id})"
                parts.append(InvalidRecord(System.ACCESSPLANIT, Kind.PAYMENT, part_id, reason, date=whole.date))
                continue
            parts.append(
                replace(whole, id=part_id, invoice_number=number, invoice_id=invoice_id, amount=amount, group=rid)
            )
        if total != whole.amount:
            raise Unreadable(f"the allocations add up to {total}, not the Amount {whole.amount}")
        return parts
    except Unreadable as exc:
        return [InvalidRecord(System.ACCESSPLANIT, Kind.PAYMENT, rid, str(exc), date=whole.date)]
    except Exception as exc:  # one record never stops a page (see `never_raises`)
        reason = f"unreadable record ({type(exc).__name__}: {short(str(exc), 120)})"
        return [InvalidRecord(System.ACCESSPLANIT, Kind.PAYMENT, rid, reason, date=whole.date)]


def id_order(value: Any) -> tuple[int, int, str]:
    """Numeric ids in numeric order, others after them as text: the order the service sorts and compares IDs in
    (accessplanit-api.md section 6: IDs are numeric strings and compare numerically)."""
    text = "" if value is None else str(value)
    # ASCII digits only: "²" is a digit to `str.isdigit` but not to `int`.
    return (0, int(text), "") if text.isascii() and text.isdigit() else (1, 0, text)


def transaction_body(
    *,
    invoice_id: str,
    direction: Direction,
    amount: Decimal,
    day: date,
    method_label: str,
    reference: str,
    method_id: str | None = None,
) -> dict[str, Any]:
    """The POST Transaction body (section 5.3 naming)."""
    body: dict[str, Any] = {
        "InvoiceID": invoice_id,
        "TransactionType": "Refund" if direction is Direction.REFUND else "Payment",
        "Amount": amount,
        "TransactionDate": f"{day.isoformat()}T00:00:00",
        "TransactionMethodLabel": method_label,
        "Reference": reference,
    }
    if method_id:
        body["TransactionMethodID"] = method_id
    return body

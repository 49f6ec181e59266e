"""The oracle: the report items docs/reconciliation.md gives for two systems' wire records.

`expected_items(accessplanit, xero)` applies the written rules (canonical fields per side, tolerance 0.01, state
mapping, payment tiers and ordering, the refund adjustment of section 4, method mapping, keys of section 5) to
records in the fixture shapes, generated or loaded from files. tests/test_cli_flow.py holds the app's results to
it at 100% agreement, so it is a second, independent implementation of the rules: it must not import anything from
`app` outside this module (not `app.reconcile`, not the rest of the sandbox: an oracle that shares the engine's code
shares its bugs), must not use float for money, and must stay linear in the size of the month (a million invoices).
It never looks at which scenario a record was built from.

Possible duplicates (docs/reconciliation.md, product.md section 7) are labelled on the items they flag only:
`"flags": ["possible_duplicate"]` and `"twin"` (the repeated record's id); other items carry neither key.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

# The rule settings the oracle applies (docs/reconciliation.md; the app's defaults). The generator builds its
# month with the same method mapping, so a payment is filed in the account the rules expect unless a scenario says
# otherwise.
MONEY_TOLERANCE = Decimal("0.01")
METHOD_ACCOUNTS: dict[str, str] = {
    "BACS": "090",
    "Card": "091",
    "Cheque": "092",
    "Cash": "093",
    "Stripe": "094",
    "PayPal": "095",
}
BASE_CURRENCY = "GBP"
DUPLICATE_WINDOW_DAYS = 3  # section 7: same amount this many days apart or fewer is a possible duplicate
POSSIBLE_DUPLICATE = "possible_duplicate"

_ZERO = Decimal("0.00")


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic records: its full passes over the
    growing heap would otherwise make the build superlinear (measured: twice as slow at 100,000 invoices)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = date(1970, 1, 1)


class _Unreadable(ValueError):
    """A field the rules need could not be read; the record becomes an `invalid` item."""


def invoice_key(number: str | None) -> str:
    """Trimmed, inner whitespace removed, upper case. `str.split()` splits on exactly what `\\s` matches."""
    return "".join((number or "").split()).upper()


def _payment_key(key: str, ap_id: str | None, xero_id: str | None) -> str:
    """`key` is the invoice key, already normalized."""
    return f"{key or '?'}:{'P' + ap_id if ap_id else '-'}:{'X' + xero_id if xero_id else '-'}"


def _money(value: object, what: str) -> Decimal:
    """Exact money from a wire value: Decimal or int (JSON numbers read with parse_float=Decimal) or a numeric
    string. Floats, booleans, None and junk such as "12,50" are unreadable."""
    if type(value) is Decimal and value.is_finite():  # the common case, first: this runs millions of times
        return value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise _Unreadable(f"{what} is not an amount: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise _Unreadable(f"{what} is not an amount: {value!r}") from None
    else:
        raise _Unreadable(f"{what} is not an amount: {value!r}")
    if not result.is_finite():
        raise _Unreadable(f"{what} is not a finite amount: {value!r}")
    return result


def _date_text(value: object, what: str, optional: bool) -> str | None:
    """The text of a date field; None when it is missing and may be; unreadable when it must be there or is not text."""
    if value is None or value == "":
        if optional:
            return None
        raise _Unreadable(f"{what} is missing")
    if not isinstance(value, str):
        raise _Unreadable(f"{what} is not a date: {value!r}")
    return value


class _Dates:
    """Cached date parsing: the month has ~31 distinct dates, the records have millions of copies of them."""

    def __init__(self) -> None:
        self._iso: dict[str, date] = {}
        self._ms: dict[str, date] = {}

    def iso(self, value: object, what: str, *, optional: bool = False) -> date | None:
        """Date part of an accessplanit ISO datetime (`2026-10-14T00:00:00`, no offset)."""
        value = _date_text(value, what, optional)
        if value is None:
            return None
        cached = self._iso.get(value)
        if cached is None:
            try:
                cached = datetime.fromisoformat(value).date()
            except ValueError:
                raise _Unreadable(f"{what} is not a date: {value!r}") from None
            self._iso[value] = cached
        return cached

    def ms(self, value: object, what: str, *, optional: bool = False) -> date | None:
        """UTC date of a Xero `/Date(ms+zzzz)/`; the offset is ignored (Xero's date-only fields are UTC midnight)."""
        value = _date_text(value, what, optional)
        if value is None:
            return None
        cached = self._ms.get(value)
        if cached is None:
            match = _MSDATE.match(value)
            if match is None:
                raise _Unreadable(f"{what} is not a date: {value!r}")
            cached = _EPOCH + timedelta(milliseconds=int(match.group(1)))
            self._ms[value] = cached
        return cached


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _contact(value: object) -> str:
    return " ".join(_text(value).split()).casefold()


def _natural(record_id: str) -> tuple[int, int, str]:
    """Ids order naturally: numeric ids as numbers (first), others as strings."""
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


Line = tuple[str, Decimal, Decimal]  # (description, net, tax)


class _Canon(NamedTuple):
    """One invoice in canonical fields (product.md section 2), as one side sees it."""

    id: str
    number: str
    contact: str  # trimmed, inner whitespace collapsed, case-folded
    issue_date: date | None
    due_date: date | None
    po_number: str
    currency: str
    net: Decimal
    tax: Decimal
    total: Decimal
    paid: Decimal
    due: Decimal
    state: str
    lines: list[Line]


class _Pay(NamedTuple):
    """One payment or refund in canonical fields. `method`: accessplanit label or Xero account code."""

    id: str
    invoice: str
    date: date
    amount: Decimal
    reference: str
    method: str
    direction: str
    allocation: bool = False  # a Xero credit's allocation to the invoice: no bank account, method not compared


_AP_STATES = {"Cancelled": "void", "Credited": "void", "Paid": "paid", "Part Paid": "part_paid", "Outstanding": "open"}


def _lines_equal(a: list[Line], b: list[Line], tol: Decimal) -> bool:
    if a == b:  # exact equality implies equality under the rule; most lines take this path
        return True
    if len(a) != len(b):
        return False
    for (da, na, ta), (db, nb, tb) in zip(sorted(a, key=_line_order), sorted(b, key=_line_order), strict=True):
        if da.strip().casefold() != db.strip().casefold() or abs(na - nb) > tol or abs(ta - tb) > tol:
            return False
    return True


def _line_order(line: Line) -> tuple[str, Decimal]:
    return (line[0].casefold(), line[1])


def _diff_invoice(s: _Canon, x: _Canon, tol: Decimal) -> list[str]:
    """Names of the differing canonical fields, in the order of reconciliation.md section 2."""
    if s[2:] == x[2:]:  # everything but the ids and raw numbers exactly equal: nothing can differ
        return []
    out = []
    if s.contact != x.contact:
        out.append("contact")
    if s.issue_date != x.issue_date:
        out.append("issue_date")
    if s.due_date != x.due_date:
        out.append("due_date")
    if s.po_number != x.po_number:
        out.append("po_number")
    if s.currency != x.currency:
        out.append("currency")
    for name, a, b in (
        ("net", s.net, x.net),
        ("tax", s.tax, x.tax),
        ("total", s.total, x.total),
        ("paid", s.paid, x.paid),
        ("due", s.due, x.due),
    ):
        if abs(a - b) > tol:
            out.append(name)
    if s.state != x.state:
        out.append("state")
    if not _lines_equal(s.lines, x.lines, tol):
        out.append("lines")
    return out


def _keep_lowest_id(
    table: dict[str, _Canon], key: str, canon: _Canon, invalid: list[dict[str, Any]], system: str
) -> None:
    """Two invoices on one side with one key: the lowest id takes part, the other becomes an invalid item.
    Decided pairwise as records arrive, so no sort of a million records is needed."""
    old = table.get(key)
    if old is None:
        table[key] = canon
        return
    loser = canon
    if _natural(canon.id) < _natural(old.id):
        table[key], loser = canon, old
    invalid.append(_invalid(system, "invoice", loser.id, "duplicate invoice number"))


def _invalid(system: str, kind: str, record_id: str, reason: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": kind, "key": f"invalid:{system}:{kind}:{record_id}"}
    if kind == "payment":
        item.update({"invoice": extra.get("invoice"), "date": extra.get("date"), "amount": None})
    item.update(
        {
            "status": "invalid",
            "fields": [],
            "accessplanit_id": record_id if system == "accessplanit" else None,
            "xero_id": record_id if system == "xero" else None,
            "push": None,
            "reason": reason,
        }
    )
    return item


def _decimals(currency: str) -> int:
    return {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}.get(currency.upper(), 2)


def _fmt(amount: Decimal, currency: str) -> str:
    places = _decimals(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


def expected_items(
    accessplanit: Mapping[str, Iterable[Mapping[str, Any]]],
    xero: Mapping[str, Mapping[str, Any]],
    *,
    tolerance: Decimal = MONEY_TOLERANCE,
    method_accounts: Mapping[str, str] = METHOD_ACCOUNTS,
    duplicate_window_days: int = DUPLICATE_WINDOW_DAYS,
) -> list[dict[str, Any]]:
    """The report items (product.md section 5) the rules of docs/reconciliation.md give for these wire records.

    Works on any records in the fixture shapes (generated or loaded with `json.loads(..., parse_float=Decimal)`).
    Order: invoice items by first appearance (accessplanit first), each followed by its payment items; invalid
    items last. The order carries no meaning; compare by `key`.
    """
    with no_gc():
        return _expected_items(accessplanit, xero, tolerance, method_accounts, duplicate_window_days)


def _expected_items(
    accessplanit: Mapping[str, Iterable[Mapping[str, Any]]],
    xero: Mapping[str, Mapping[str, Any]],
    tol: Decimal,
    method_accounts: Mapping[str, str],
    window: int,
) -> list[dict[str, Any]]:
    dates = _Dates()
    iso, ms = dates.iso, dates.ms
    invalid: list[dict[str, Any]] = []
    key_of = invoice_key
    money = _money

    # ---- accessplanit invoice lines: net = Amount - Tax (Amount is gross) ----
    lines_by_invoice: dict[str, list[Line]] = {}
    item_errors: dict[str, str] = {}
    dec = Decimal
    for item in accessplanit.get("InvoiceItem", ()):
        g = item.get
        inv_id = str(g("InvoiceID"))
        amount, tax, label = g("Amount"), g("Tax"), g("DynamicLabel")
        # the common case inline (exact finite Decimals, a text label); `money` decides everything else
        if not (type(amount) is dec and type(tax) is dec and amount.is_finite() and tax.is_finite()):
            try:
                amount = money(amount, "InvoiceItem.Amount")
                tax = money(tax, "InvoiceItem.Tax")
            except _Unreadable as exc:
                item_errors.setdefault(inv_id, str(exc))
                continue
        line = (label if type(label) is str else "", amount - tax, tax)
        found = lines_by_invoice.get(inv_id)
        if found is None:
            lines_by_invoice[inv_id] = [line]
        else:
            found.append(line)

    # ---- accessplanit invoices (the lowest id wins a duplicate number) ----
    source: dict[str, _Canon] = {}  # by invoice key
    source_by_id: dict[str, str] = {}  # accessplanit ID -> invoice key
    for rec in accessplanit.get("Invoice", ()):
        g = rec.get
        rid = str(g("ID"))
        number = _text(g("Reference"))
        key = key_of(number)
        if key:
            source_by_id[rid] = key  # its transactions are on a known invoice, even if the invoice is unreadable
        try:
            if not key:
                raise _Unreadable("the invoice number (Reference) is missing")
            if rid in item_errors:
                raise _Unreadable(item_errors[rid])
            net = money(g("Amount"), "Amount")
            tax = money(g("Tax"), "Tax")
            status = g("Status")
            state = _AP_STATES.get(status) if isinstance(status, str) else None
            if state is None:
                raise _Unreadable(f"unknown Status {g('Status')!r}")
            canon = _Canon(
                rid,
                number,
                _contact(g("TargetLabel") or g("CompanyName")),
                iso(g("DateCreated"), "DateCreated"),
                iso(g("DateDue"), "DateDue", optional=True),
                _text(g("PONumber")).strip(),
                _text(g("CurrencyCode")).strip().upper(),
                net,
                tax,
                net + tax,
                money(g("AmountPaid"), "AmountPaid"),
                money(g("Outstanding"), "Outstanding"),
                state,
                lines_by_invoice.get(rid, []),
            )
        except _Unreadable as exc:
            invalid.append(_invalid("accessplanit", "invoice", rid, str(exc)))
            continue
        _keep_lowest_id(source, key, canon, invalid, "accessplanit")

    # ---- Xero refunds belong to the invoice named by their credit note's Reference (section 1) ----
    credit_note_reference: dict[str, str] = {}
    credit_note_items: list[dict[str, Any]] = []
    for cn in xero.get("CreditNotes", {}).get("CreditNotes", ()):
        credit_note_reference[str(cn.get("CreditNoteID"))] = _text(cn.get("Reference"))
        note_item = _credit_note_item(cn, tol)
        if note_item is not None:
            credit_note_items.append(note_item)

    ledger_pays: list[_Pay] = []
    for collection, id_name, types in _CREDITS:
        for credit in xero.get(collection, {}).get(collection, ()):
            if _text(credit.get("Type")).strip().upper() not in types:
                continue
            if collection != "CreditNotes":
                note_item = _credit_note_item(credit, tol, id_name, _CREDIT_KIND[collection])
                if note_item is not None:
                    credit_note_items.append(note_item)
            ledger_pays.extend(_allocations(credit, id_name, ms, invalid))
    refunds_by_key: dict[str, Decimal] = {}
    for pay in xero.get("Payments", {}).get("Payments", ()):
        g = pay.get
        kind = g("PaymentType")
        if kind not in ("ACCRECPAYMENT", "ARCREDITPAYMENT") or g("Status") == "DELETED":
            continue  # other payment types are stored and ignored; DELETED ones are tombstones
        pid = str(g("PaymentID"))
        target = g("Invoice") or {}
        try:
            day = ms(g("Date"), "Date")
            amount = money(g("Amount"), "Amount")
        except _Unreadable as exc:
            invalid.append(_invalid("xero", "payment", pid, str(exc), invoice=target.get("InvoiceNumber")))
            continue
        assert day is not None
        if kind == "ARCREDITPAYMENT":
            cn_id = str(target.get("InvoiceID") or (g("CreditNote") or {}).get("CreditNoteID"))
            key = key_of(credit_note_reference.get(cn_id, ""))
            direction = "refund"
            if key:
                refunds_by_key[key] = refunds_by_key.get(key, _ZERO) + amount
        else:
            key = key_of(target.get("InvoiceNumber"))
            direction = "payment"
        code = _text((g("Account") or {}).get("Code"))
        ledger_pays.append(_Pay(pid, key, day, amount, _text(g("Reference")), code, direction))

    # ---- Xero invoices: ACCREC only, DELETED are tombstones; lowest id wins a duplicate number ----
    ledger: dict[str, _Canon] = {}
    x_invoices = [r for r in xero.get("Invoices", {}).get("Invoices", ()) if r.get("Type") == "ACCREC"]
    for rec in x_invoices:
        g = rec.get
        rid = str(g("InvoiceID"))
        status = g("Status")
        if status == "DELETED":
            continue
        try:
            number = _text(g("InvoiceNumber"))
            key = key_of(number)
            if not key:
                raise _Unreadable("the invoice number (InvoiceNumber) is missing")
            lines: list[Line] = []
            inclusive = g("LineAmountTypes") == "Inclusive"
            for li in g("LineItems") or ():
                lg = li.get
                amount, tax, label = lg("LineAmount"), lg("TaxAmount", 0), lg("Description")
                if not (type(amount) is dec and type(tax) is dec and amount.is_finite() and tax.is_finite()):
                    amount = money(amount, "LineAmount")
                    tax = money(tax, "TaxAmount")
                lines.append((label if type(label) is str else "", amount - tax if inclusive else amount, tax))
            refunds = refunds_by_key.get(key, _ZERO)
            total = money(g("Total"), "Total")
            paid = money(g("AmountPaid", 0), "AmountPaid") + money(g("AmountCredited", 0), "AmountCredited") - refunds
            due = money(g("AmountDue"), "AmountDue") + refunds
            if status in ("DRAFT", "SUBMITTED"):
                state = "draft"
            elif status == "VOIDED":
                state = "void"
            elif status in ("AUTHORISED", "PAID"):
                state = "paid" if abs(due) <= tol and total > 0 else "part_paid" if paid > 0 else "open"
            else:
                raise _Unreadable(f"unknown Status {status!r}")
            canon = _Canon(
                rid,
                number,
                _contact((g("Contact") or {}).get("Name")),
                ms(g("Date"), "Date"),
                ms(g("DueDate"), "DueDate", optional=True),
                _text(g("Reference")).strip(),
                _text(g("CurrencyCode")).strip().upper(),
                money(g("SubTotal"), "SubTotal"),
                money(g("TotalTax"), "TotalTax"),
                total,
                paid,
                due,
                state,
                lines,
            )
        except _Unreadable as exc:
            invalid.append(_invalid("xero", "invoice", rid, str(exc)))
            continue
        _keep_lowest_id(ledger, key, canon, invalid, "xero")

    # ---- accessplanit transactions (one allocated across invoices: one payment per allocation) ----
    source_pays: list[_Pay] = []
    for rec in accessplanit.get("Transaction", ()):
        g = rec.get
        rid = str(g("ID"))
        key_or_none = source_by_id.get(str(g("InvoiceID")))
        allocations = g("TransactionInvoices")
        if allocations:
            source_pays.extend(_allocated(rec, source_by_id, iso, invalid))
            continue
        try:
            if key_or_none is None:
                raise _Unreadable(f"payment on an unknown invoice id {g('InvoiceID')!r}")
            kind = g("TransactionType")
            if kind != "Payment" and kind != "Refund":
                raise _Unreadable(f"unknown TransactionType {kind!r}")
            day = iso(g("TransactionDate"), "TransactionDate")
            amount = money(g("Amount"), "Amount")
        except _Unreadable as exc:
            when = g("TransactionDate")
            invalid.append(
                _invalid(
                    "accessplanit",
                    "payment",
                    rid,
                    str(exc),
                    invoice=key_or_none,
                    date=when[:10] if isinstance(when, str) else None,
                )
            )
            continue
        assert day is not None
        source_pays.append(
            _Pay(
                rid,
                key_or_none,
                day,
                amount,
                _text(g("Reference")),
                _text(g("TransactionMethodLabel")),
                "refund" if kind == "Refund" else "payment",
            )
        )

    # ---- payments: grouped by (invoice key, direction), paired in tiers ----
    groups: dict[tuple[str, str], tuple[list[_Pay], list[_Pay]]] = {}
    for side, pays in ((0, source_pays), (1, ledger_pays)):
        for p in pays:
            group = groups.get((p.invoice, p.direction))
            if group is None:
                group = groups[(p.invoice, p.direction)] = ([], [])
            group[side].append(p)
    payment_items: dict[str, list[dict[str, Any]]] = {}
    for (key, _direction), (s_list, x_list) in groups.items():
        inv = source.get(key) or ledger.get(key)
        currency = inv.currency if inv is not None else BASE_CURRENCY
        found_items = payment_items.get(key)
        if found_items is None:
            found_items = payment_items[key] = []
        found_items.extend(_match_payments(key, s_list, x_list, tol, method_accounts, currency, window))

    # ---- invoices repeated under another number: same system, contact, issue date, currency and total ----
    invoice_twins = {
        **_repeated_invoices(source, ledger, "accessplanit"),
        **_repeated_invoices(ledger, source, "xero"),
    }

    # ---- invoice items, each followed by its payments ----
    items: list[dict[str, Any]] = []
    for key, s in source.items():
        x = ledger.get(key)
        if x is not None:
            fields = _diff_invoice(s, x, tol)
            items.append(
                {
                    "kind": "invoice",
                    "key": key,
                    "status": "differs" if fields else "matched",
                    "fields": fields,
                    "accessplanit_id": s.id,
                    "xero_id": x.id,
                    "push": None,
                }
            )
        else:
            items.append(
                _flagged(
                    {
                        "kind": "invoice",
                        "key": key,
                        "status": "only_in_source",
                        "fields": [],
                        "accessplanit_id": s.id,
                        "xero_id": None,
                        "push": None,
                    },
                    invoice_twins.get(("accessplanit", s.id)),
                )
            )
        more = payment_items.pop(key, None)
        if more:
            items.extend(more)
    for key, x in ledger.items():
        if key in source:
            continue
        items.append(
            _flagged(
                {
                    "kind": "invoice",
                    "key": key,
                    "status": "only_in_ledger",
                    "fields": [],
                    "accessplanit_id": None,
                    "xero_id": x.id,
                    "push": None,
                },
                invoice_twins.get(("xero", x.id)),
            )
        )
        more = payment_items.pop(key, None)
        if more:
            items.extend(more)
    for more in payment_items.values():  # payments on an invoice neither side could read (or "?")
        items.extend(more)
    items.extend(credit_note_items)
    items.extend(invalid)
    return items


# Xero's credits whose allocations are payments on invoices: (collection, id field, customer-side types).
_CREDITS = (
    ("CreditNotes", "CreditNoteID", frozenset({"ACCRECCREDIT", ""})),
    ("Overpayments", "OverpaymentID", frozenset({"RECEIVE-OVERPAYMENT", "AROVERPAYMENT"})),
    ("Prepayments", "PrepaymentID", frozenset({"RECEIVE-PREPAYMENT", "ARPREPAYMENT"})),
)
_CREDIT_KIND = {"CreditNotes": "credit_note", "Overpayments": "overpayment", "Prepayments": "prepayment"}


def _allocations(
    credit: Mapping[str, Any], id_name: str, ms: Callable[..., date | None], invalid: list[dict[str, Any]]
) -> list[_Pay]:
    """A credit's allocations to invoices as Xero payments (reconciliation.md section 9): id the AllocationID, on
    the allocated invoice, dated the credit's Date, referenced by its number (credit note) or Reference, no method.
    Deleted allocations and those of a voided or deleted credit are none; an unreadable one is an invalid payment."""
    rows = credit.get("Allocations")
    status = _text(credit.get("Status")).strip().upper()
    if not isinstance(rows, list) or status in ("VOIDED", "DELETED"):
        return []
    cid = str(credit.get(id_name))
    reference = _text(credit.get("CreditNoteNumber") if id_name == "CreditNoteID" else credit.get("Reference"))
    out: list[_Pay] = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or row.get("IsDeleted") is True:
            continue
        rid = str(row.get("AllocationID") or f"{cid}-{index + 1}")
        number = _text((row.get("Invoice") or {}).get("InvoiceNumber"))
        try:
            if not invoice_key(number):
                raise _Unreadable("missing invoice number (Invoice.InvoiceNumber)")
            amount = _money(row.get("Amount"), "Amount")
            if amount <= 0:
                raise _Unreadable("bad amount Amount")
            day = ms(credit.get("Date"), "Date", optional=True) or ms(row.get("Date"), "Date")
        except _Unreadable as exc:
            invalid.append(_invalid("xero", "payment", rid, str(exc), invoice=invoice_key(number) or None))
            continue
        assert day is not None
        out.append(_Pay(rid, invoice_key(number), day, amount, reference.strip(), "", "payment", True))
    return out


def _credit_note_item(
    cn: Mapping[str, Any], tol: Decimal, id_name: str = "CreditNoteID", kind: str = "credit_note"
) -> dict[str, Any] | None:
    """A Xero ACCRECCREDIT credit note (or customer overpayment or prepayment, by `kind`), AUTHORISED or PAID, as an
    item of its own (reconciliation.md section 9): `matched` when nothing remains (RemainingCredit within the
    tolerance of 0), else `only_in_ledger`. Other types and statuses, and credits whose amounts cannot be read,
    are no items. Key: the normalized number (an overpayment's or prepayment's Reference), then `:X` and its id."""
    if kind == "credit_note" and _text(cn.get("Type")).upper() not in ("ACCRECCREDIT", ""):
        return None
    if _text(cn.get("Status")).strip().upper() not in ("AUTHORISED", "PAID"):
        return None
    try:
        _money(cn.get("Total"), "Total")
        remaining = _money(cn.get("RemainingCredit", 0), "RemainingCredit")
    except _Unreadable:
        return None
    cid = str(cn.get(id_name))
    number = cn.get("CreditNoteNumber") if kind == "credit_note" else cn.get("Reference")
    return {
        "kind": kind,
        "key": f"{invoice_key(_text(number)) or '?'}:X{cid}",
        "status": "only_in_ledger" if abs(remaining) > tol else "matched",
        "fields": [],
        "accessplanit_id": None,
        "xero_id": cid,
        "push": None,
    }


def _allocated(
    rec: Mapping[str, Any],
    source_by_id: Mapping[str, str],
    iso: Callable[..., date | None],
    invalid: list[dict[str, Any]],
) -> list[_Pay]:
    """A Transaction allocated across invoices (`TransactionInvoices`): one payment per allocation, id
    `<ID>-<InvoiceID>`, on that invoice, for the allocated amount; the rest of the fields are the Transaction's.
    Allocations that do not add up to `Amount` make the whole Transaction unreadable; an allocation to an
    invoice nobody knows is an unreadable payment of its own."""
    g = rec.get
    rid = str(g("ID"))
    when = g("TransactionDate")
    day_text = when[:10] if isinstance(when, str) else None
    out: list[_Pay] = []
    try:
        kind = g("TransactionType")
        if kind != "Payment" and kind != "Refund":
            raise _Unreadable(f"unknown TransactionType {kind!r}")
        day = iso(when, "TransactionDate")
        amount = _money(g("Amount"), "Amount")
        lines = g("TransactionInvoices")
        if not isinstance(lines, list) or not all(isinstance(a, Mapping) for a in lines):
            raise _Unreadable("TransactionInvoices is not a list of allocations")
        parts = [(str(a.get("InvoiceID") or "").strip(), _money(a.get("Amount"), "Amount")) for a in lines]
        if any(not inv_id or part <= 0 for inv_id, part in parts):
            raise _Unreadable("an allocation needs an InvoiceID and an Amount above 0")
        if sum((part for _, part in parts), _ZERO) != amount:
            raise _Unreadable("the allocations do not add up to the Amount")
    except _Unreadable as exc:
        invalid.append(_invalid("accessplanit", "payment", rid, str(exc), invoice=None, date=day_text))
        return out
    assert day is not None
    direction = "refund" if kind == "Refund" else "payment"
    for inv_id, part in parts:
        key = source_by_id.get(inv_id)
        if key is None:
            reason = f"payment on an unknown invoice id {inv_id!r}"
            invalid.append(_invalid("accessplanit", "payment", f"{rid}-{inv_id}", reason, invoice=None, date=day_text))
            continue
        reference, method = _text(g("Reference")), _text(g("TransactionMethodLabel"))
        out.append(_Pay(f"{rid}-{inv_id}", key, day, part, reference, method, direction))
    return out


def _payment_order(p: _Pay) -> tuple[date, Decimal, tuple[int, int, str]]:
    return (p.date, p.amount, _natural(p.id))


def _reference(p: _Pay) -> str:
    return p.reference.strip().casefold()


def _match_payments(
    key: str,
    s_list: list[_Pay],
    x_list: list[_Pay],
    tol: Decimal,
    method_accounts: Mapping[str, str],
    currency: str,
    window: int = DUPLICATE_WINDOW_DAYS,
) -> list[dict[str, Any]]:
    """Pair one group's payments in the four tiers of reconciliation.md section 3 and diff the pairs.

    Groups hold a handful of payments, so the nested loops stay linear in the size of the month.
    """
    if len(s_list) == 1 and len(x_list) == 1:  # the common case: decide the pairing without the tier loops
        s, x = s_list[0], x_list[0]
        same_ref = _reference(s) == _reference(x)
        # tiers 1-3 need the same amount and the same date or reference; tier 4 the same date and reference
        if (abs(s.amount - x.amount) <= tol and (s.date == x.date or same_ref)) or (s.date == x.date and same_ref):
            return [_paired_item(key, s, x, tol, method_accounts, currency)]
    s_sorted = sorted(s_list, key=_payment_order)
    x_sorted = sorted(x_list, key=_payment_order)
    x_free = [True] * len(x_sorted)
    pair_of: dict[int, int] = {}

    def same_amount(s: _Pay, x: _Pay) -> bool:
        return abs(s.amount - x.amount) <= tol

    tiers: tuple[Callable[[_Pay, _Pay], bool], ...] = (
        lambda s, x: same_amount(s, x) and s.date == x.date and _reference(s) == _reference(x),
        lambda s, x: same_amount(s, x) and _reference(s) == _reference(x),
        lambda s, x: same_amount(s, x) and s.date == x.date,
        lambda s, x: s.date == x.date and _reference(s) == _reference(x),
    )
    if x_sorted:
        for fits in tiers:
            for i, s in enumerate(s_sorted):
                if i in pair_of:
                    continue
                for j, x in enumerate(x_sorted):
                    if x_free[j] and fits(s, x):
                        pair_of[i] = j
                        x_free[j] = False
                        break
    paired_x = {j for j, free in enumerate(x_free) if not free}
    s_twins = _repeated_payments(s_sorted, set(pair_of), tol, window)
    x_twins = _repeated_payments(x_sorted, paired_x, tol, window)
    out: list[dict[str, Any]] = []
    for i, s in enumerate(s_sorted):
        partner = pair_of.get(i)
        if partner is None:
            out.append(_flagged(_payment_item(key, s, None, "only_in_source", [], currency), s_twins.get(i)))
            continue
        out.append(_paired_item(key, s, x_sorted[partner], tol, method_accounts, currency))
    for j, x in enumerate(x_sorted):
        if x_free[j]:
            out.append(_flagged(_payment_item(key, None, x, "only_in_ledger", [], currency), x_twins.get(j)))
    return out


def _flagged(item: dict[str, Any], twin: str | None) -> dict[str, Any]:
    if twin is not None:
        item["flags"] = [POSSIBLE_DUPLICATE]
        item["twin"] = twin
    return item


def _repeated_payments(pays: list[_Pay], paired: set[int], tol: Decimal, window: int) -> dict[int, str]:
    """Index of each unpaired payment of one side that repeats another of that side's group -> that one's id.

    Two payments repeat each other with the same amount and either the same non-empty reference or dates at most
    `window` days apart. The unpaired one is the duplicate; its twin is a paired payment if one repeats it, else the
    earliest unpaired one before it (`pays` is in date, amount, id order)."""
    out: dict[int, str] = {}
    if len(pays) < 2 or len(paired) == len(pays):
        return out
    for i, p in enumerate(pays):
        if i in paired:
            continue
        earlier = [j for j in range(i) if j not in paired]
        for j in [*sorted(paired, key=lambda n: (pays[n].date, _natural(pays[n].id))), *earlier]:
            q = pays[j]
            if abs(p.amount - q.amount) > tol:
                continue
            ref = _reference(p)
            if (ref and ref == _reference(q)) or abs((p.date - q.date).days) <= window:
                out[i] = q.id
                break
    return out


def _repeated_invoices(side: dict[str, _Canon], other: dict[str, _Canon], system: str) -> dict[tuple[str, str], str]:
    """(system, id) of each invoice of `side` that the other side lacks and that repeats another invoice of `side`
    under another number (same contact, issue date, currency and total; void ones repeat nothing) -> that one's id.
    Its twin is one the other side has too (matched), if any, else the lowest id before it."""
    buckets: dict[tuple[str, date, str, Decimal], list[_Canon]] = {}
    for canon in side.values():
        if canon.state == "void" or not canon.contact or canon.issue_date is None:
            continue
        sig = (canon.contact, canon.issue_date, canon.currency, canon.total)
        buckets.setdefault(sig, []).append(canon)
    out: dict[tuple[str, str], str] = {}
    for members in buckets.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda c: (0 if invoice_key(c.number) in other else 1, _natural(c.id)))
        for pos, canon in enumerate(members):
            if pos > 0 and invoice_key(canon.number) not in other:
                out[(system, canon.id)] = members[0].id
    return out


def _paired_item(
    key: str, s: _Pay, x: _Pay, tol: Decimal, method_accounts: Mapping[str, str], currency: str
) -> dict[str, Any]:
    """The item of a pair: its differing fields in the order date, amount, reference, method."""
    fields = []
    if s.date != x.date:
        fields.append("date")
    if abs(s.amount - x.amount) > tol:
        fields.append("amount")
    if _reference(s) != _reference(x):
        fields.append("reference")
    mapped = method_accounts.get(s.method)
    if not x.allocation and (mapped is None or mapped != x.method):
        fields.append("method")
    return _payment_item(key, s, x, "differs" if fields else "matched", fields, currency)


def _payment_item(
    key: str, s: _Pay | None, x: _Pay | None, status: str, fields: list[str], currency: str
) -> dict[str, Any]:
    """A payment report item; `date`/`amount` are the accessplanit side's when it has one."""
    main = s if s is not None else x
    assert main is not None
    return {
        "kind": "payment",
        "key": _payment_key(key, s.id if s else None, x.id if x else None),
        "invoice": key or "?",
        "date": main.date.isoformat(),
        "amount": _fmt(main.amount, currency),
        "direction": main.direction,
        "status": status,
        "fields": fields,
        "accessplanit_id": s.id if s else None,
        "xero_id": x.id if x else None,
        "push": None,
    }

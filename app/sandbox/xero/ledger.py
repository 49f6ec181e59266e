"""The Xero emulator's books: records in wire format and the business rules of writing them.

Responsibility: hold one tenant's Organisation, Accounts, TaxRates, Contacts, Invoices, Payments and CreditNotes
(as the dicts Xero sends), answer list queries over them, and apply creates and updates the way Xero does: totals
from lines with per-line tax rounding, unique ACCREC numbers, allowed status moves, payments and credit-note
allocations that move AmountDue/Status, lock dates, and a fresh UpdatedDateUTC on every write. A rule broken
raises `Invalid` with Xero's messages. It must not know about HTTP, tokens or rate limits, and it imports nothing
from the rest of `app`. Not thread-safe on its own: callers hold `Ledger.lock`.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .reference import default_accounts, default_organisation, default_tax_rates, stable_id
from .store import Record, Store, number_key
from .where import compile_order, compile_where
from .wire import (
    CENT,
    FOUR_DP,
    SIX_DP,
    date_string,
    date_to_wire,
    money,
    ms_to_wire,
    parse_input_date,
    to_decimal,
    utc_string,
    wire_date,
    wire_ms,
)

MSG_NOT_UNIQUE = "Invoice # must be unique."
MSG_ALLOCATED = "This document cannot be edited as it has a payment or credit note allocated to it."
MSG_BAD_STATUS = "Invoice not of valid status for modification"
MSG_CONTACT = (
    "The Contact must contain at least 1 of the following elements to identify the contact: "
    "Name, ContactID, ContactNumber"
)
MSG_TOTAL = "The invoice total does not equal the sum of the lines"

# Top-level fields `where`/`order` may name; others give 400 as on the real API (from the spec's schemas).
INVOICE_FIELDS = frozenset(
    "Type Contact LineItems Date DueDate LineAmountTypes InvoiceNumber Reference BrandingThemeID Url CurrencyCode "
    "CurrencyRate Status SentToContact ExpectedPaymentDate PlannedPaymentDate SubTotal TotalTax Total TotalDiscount "
    "InvoiceID RepeatingInvoiceID HasAttachments IsDiscounted Payments Prepayments Overpayments AmountDue "
    "AmountPaid FullyPaidOnDate AmountCredited UpdatedDateUTC CreditNotes Attachments HasErrors".split()
)
PAYMENT_FIELDS = frozenset(
    "Invoice CreditNote Prepayment Overpayment InvoiceNumber CreditNoteNumber BatchPayment Account Code Date "
    "CurrencyRate Amount BankAmount Reference IsReconciled Status PaymentType UpdatedDateUTC PaymentID "
    "BatchPaymentID BankAccountNumber Particulars Details HasAccount HasValidationErrors".split()
)
CREDIT_NOTE_FIELDS = frozenset(
    "Type Contact Date DueDate Status LineAmountTypes LineItems SubTotal TotalTax Total UpdatedDateUTC CurrencyCode "
    "FullyPaidOnDate CreditNoteID CreditNoteNumber Reference SentToContact CurrencyRate RemainingCredit "
    "Allocations AppliedAmount Payments BrandingThemeID HasAttachments".split()
)

_MONEY_FIELDS = (
    "SubTotal TotalTax Total TotalDiscount AmountDue AmountPaid AmountCredited RemainingCredit Amount BankAmount "
    "AppliedAmount".split()
)
_LINE_MONEY = ("TaxAmount", "LineAmount", "DiscountAmount")
# Fields that may still change on an invoice with a payment or credit note allocated [docs: due date and
# reference edits on part-paid invoices are documented; anything else is refused, keeping it strict].
_EDITABLE_WHEN_ALLOCATED = frozenset(
    {"Reference", "DueDate", "SentToContact", "ExpectedPaymentDate", "PlannedPaymentDate", "Url"}
)
_STATUS_MOVES = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": {"PAID"},
    "VOIDED": {"VOIDED"},
    "DELETED": {"DELETED"},
}


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Invalid(Exception):
    """A validation failure: Xero's messages for one element."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class NotFound(Exception):
    """The record named in the path does not exist (the HTTP layer answers 404)."""


@dataclass(frozen=True)
class ListQuery:
    """The list parameters of GET /Invoices and friends, already parsed from the query string."""

    page: int | None = None
    page_size: int = 100
    since_ms: int | None = None
    where: str | None = None
    order: str | None = None
    ids: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    contact_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    search: str | None = None
    include_archived: bool = False


# The query fields that decide a filtered list (everything but the page), for the query cache.
_CACHE_FIELDS = (
    "since_ms",
    "where",
    "order",
    "ids",
    "numbers",
    "contact_ids",
    "statuses",
    "search",
    "include_archived",
)


@dataclass(frozen=True)
class Page:
    records: list[Record]
    page: int | None
    page_size: int
    item_count: int


def _envelope_records(fixtures: Mapping[str, Any] | None, name: str, keys: Iterable[str]) -> list[Record] | None:
    if not fixtures or name not in fixtures:
        return None
    value = fixtures[name]
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Mapping):
        for key in keys:
            if isinstance(value.get(key), list):
                return list(value[key])
    return []


def _dec(value: Any) -> Decimal:
    return to_decimal(value) or Decimal(0)


class Ledger:
    """One tenant's books. Every public method expects the caller to hold `lock`."""

    def __init__(
        self,
        fixtures: Mapping[str, Any] | None,
        tenant_id: str,
        tenant_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.adviser = False  # the connecting user is an adviser (see `lock_date`)
        self._last_ms = 0
        orgs = _envelope_records(fixtures, "Organisation", ("Organisations", "Organisation"))
        self.organisation: Record = orgs[0] if orgs else default_organisation(tenant_id, tenant_name)
        accounts = _envelope_records(fixtures, "Accounts", ("Accounts",))
        self.accounts: list[Record] = accounts if accounts is not None else default_accounts()
        rates = _envelope_records(fixtures, "TaxRates", ("TaxRates",))
        self.tax_rates: list[Record] = rates if rates is not None else default_tax_rates()
        self.contacts = Store("ContactID")
        self.invoices = Store("InvoiceID", "InvoiceNumber")
        self.payments = Store("PaymentID")
        self.credit_notes = Store("CreditNoteID", "CreditNoteNumber")
        self.contacts.load(_envelope_records(fixtures, "Contacts", ("Contacts",)) or [])
        self.invoices.load(_envelope_records(fixtures, "Invoices", ("Invoices",)) or [])
        self.payments.load(_envelope_records(fixtures, "Payments", ("Payments",)) or [])
        self.credit_notes.load(_envelope_records(fixtures, "CreditNotes", ("CreditNotes",)) or [])
        # Read-only collections (docs/sandboxes.md): batch payments, overpayments and prepayments as loaded.
        self.batch_payments = Store("BatchPaymentID")
        self.overpayments = Store("OverpaymentID")
        self.prepayments = Store("PrepaymentID")
        self.batch_payments.load(_envelope_records(fixtures, "BatchPayments", ("BatchPayments",)) or [])
        self.overpayments.load(_envelope_records(fixtures, "Overpayments", ("Overpayments",)) or [])
        self.prepayments.load(_envelope_records(fixtures, "Prepayments", ("Prepayments",)) or [])
        self._contact_by_name: dict[str, Record] = {}
        self._query_cache: dict[tuple[Any, ...], tuple[int, list[Record]]] = {}
        for contact in self.contacts.all():
            key = number_key(contact.get("Name"))
            if key:
                self._contact_by_name.setdefault(key, contact)
        self._next_number = {"INV-": self._max_suffix(self.invoices, "INV-") + 1}
        self._next_number["CN-"] = self._max_suffix(self.credit_notes, "CN-") + 1

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """The records keyed as `--fixtures` files, each value a Xero envelope; a deep copy, safe to serialise.
        Derived `*String` twins are refreshed from the fields they mirror, so an update never leaves a stale twin."""
        out = copy.deepcopy(
            {
                "Organisation": {"Organisations": [self.organisation]},
                "Accounts": {"Accounts": self.accounts},
                "TaxRates": {"TaxRates": self.tax_rates},
                "Contacts": {"Contacts": self.contacts.all()},
                "Invoices": {"Invoices": self.invoices.all()},
                "Payments": {"Payments": self.payments.all()},
                "CreditNotes": {"CreditNotes": self.credit_notes.all()},
                "BatchPayments": {"BatchPayments": self.batch_payments.all()},
                "Overpayments": {"Overpayments": self.overpayments.all()},
                "Prepayments": {"Prepayments": self.prepayments.all()},
            }
        )
        for name in ("Invoices", "CreditNotes"):
            for record in out[name][name]:
                for field, label in (("Date", "DateString"), ("DueDate", "DueDateString")):
                    text = date_string(record.get(field))
                    if label in record and text is not None:
                        record[label] = text
                    elif label in record and field not in record:
                        del record[label]
        return out

    # ------------------------------------------------------------------ helpers

    def now_ms(self) -> int:
        """Strictly increasing write times, so UpdatedDateUTC orders writes even within one millisecond."""
        self._last_ms = max(int(self.clock() * 1000), self._last_ms + 1)
        return self._last_ms

    def _stamp(self, record: Record, ms: int) -> None:
        record["UpdatedDateUTC"] = ms_to_wire(ms)

    @staticmethod
    def _max_suffix(store: Store, prefix: str) -> int:
        field = store.number_field or ""
        best = 0
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$", re.IGNORECASE)
        for record in store.all():
            value = record.get(field)
            match = pattern.match(value.strip()) if isinstance(value, str) else None
            if match:
                best = max(best, int(match.group(1)))
        return best

    def _auto_number(self, store: Store, prefix: str) -> str:
        while True:
            number = f"{prefix}{self._next_number[prefix]:04d}"
            self._next_number[prefix] += 1
            if not store.by_number(number):
                return number

    def base_currency(self) -> str:
        value = self.organisation.get("BaseCurrency")
        return value if isinstance(value, str) and value else "GBP"

    def lock_date(self) -> tuple[dt.date, str] | None:
        """The later of PeriodLockDate and EndOfYearLockDate: nothing may be dated on or before it. An adviser's
        connection (`adviser`, set per request from the setting `role=adviser`) is held only by the end of year
        lock: Xero's period lock stops "all users except advisers" [docs: Xero's lock date settings]."""
        best: tuple[dt.date, str] | None = None
        locks = (("EndOfYearLockDate", "end of year lock date"), ("PeriodLockDate", "period lock date"))
        for field, label in locks[:1] if self.adviser else locks:
            day = wire_date(self.organisation.get(field)) or parse_input_date(self.organisation.get(field))
            if day is not None and (best is None or day > best[0]):
                best = (day, label)
        return best

    def _check_lock(self, day: dt.date | None, errors: list[str]) -> None:
        lock = self.lock_date()
        if day is not None and lock is not None and day <= lock[0]:
            # Xero's own words (a 400 quoted in xeroizer#92), though the lock holds ON its date too [docs].
            shown = f"{lock[0].day:02d}-{_MONTHS[lock[0].month - 1]}-{lock[0].year}"
            errors.append(f"The document date cannot be before the {lock[1]}, currently set at {shown}")

    def account(self, ref: Any, code: Any = None) -> Record | None:
        account_id = ref.get("AccountID") if isinstance(ref, Mapping) else None
        account_code = ref.get("Code") if isinstance(ref, Mapping) else None
        account_code = account_code if account_code is not None else code
        for acc in self.accounts:
            if isinstance(account_id, str) and str(acc.get("AccountID", "")).lower() == account_id.lower():
                return acc
            if account_id is None and isinstance(account_code, str) and acc.get("Code") == account_code.strip():
                return acc
        return None

    def tax_rate(self, tax_type: str) -> Record | None:
        for rate in self.tax_rates:
            if rate.get("TaxType") == tax_type and rate.get("Status", "ACTIVE") == "ACTIVE":
                return rate
        return None

    @staticmethod
    def rate_percent(rate: Record) -> Decimal:
        for field in ("EffectiveRate", "DisplayTaxRate"):
            value = to_decimal(rate.get(field))
            if value is not None:
                return value
        components = rate.get("TaxComponents")
        if isinstance(components, list):
            return sum((_dec(c.get("Rate")) for c in components if isinstance(c, Mapping)), Decimal(0))
        return Decimal(0)

    def find_invoice(self, key: str) -> Record | None:
        """By InvoiceID, else by InvoiceNumber (GET /Invoices/{InvoiceID or InvoiceNumber})."""
        found = self.invoices.get(key)
        if found is not None:
            return found
        matches = self.invoices.by_number(key)
        accrec = [m for m in matches if m.get("Type") == "ACCREC"]
        candidates = accrec or matches
        return candidates[0] if candidates else None

    def find_credit_note(self, key: str) -> Record | None:
        found = self.credit_notes.get(key)
        if found is not None:
            return found
        matches = self.credit_notes.by_number(key)
        return matches[0] if matches else None

    # ------------------------------------------------------------------ listing

    def list_records(self, store: Store, query: ListQuery, fields: frozenset[str] | None) -> Page:
        """Filter, order and page one collection. Default order: UpdatedDateUTC ascending [ours]."""
        predicate = compile_where(query.where, fields) if query.where else None  # QueryError -> 400
        sorter = compile_order(query.order, fields) if query.order else None
        filters: list[Callable[[Record], bool]] = []
        if query.contact_ids:
            wanted = {c.lower() for c in query.contact_ids}
            filters.append(lambda r: str((r.get("Contact") or {}).get("ContactID", "")).lower() in wanted)
        if query.statuses:
            statuses = {s.upper() for s in query.statuses}
            status_field = "ContactStatus" if store is self.contacts else "Status"
            filters.append(lambda r: str(r.get(status_field, "")).upper() in statuses)
        if query.since_ms is not None:
            floor = query.since_ms - query.since_ms % 1000
            # To the second: a record updated within the If-Modified-Since second counts as modified since.
            filters.append(lambda r: (wire_ms(r.get("UpdatedDateUTC")) or -1) >= floor)
        if store is self.contacts and not query.include_archived:
            filters.append(lambda r: r.get("ContactStatus", "ACTIVE") != "ARCHIVED")
        if query.search:
            needle = query.search.casefold()
            text_fields = ("InvoiceNumber", "Reference", "CreditNoteNumber", "Name", "EmailAddress")
            filters.append(lambda r: any(isinstance(r.get(f), str) and needle in r[f].casefold() for f in text_fields))
        if predicate is not None:
            filters.append(predicate)

        if (
            not (query.ids or query.numbers)
            and sorter is None
            and len(filters) == (1 if query.since_ms is not None else 0)
            and (store is not self.contacts or query.include_archived)
        ):
            # Fast path: default order, no filter but If-Modified-Since: the page is a slice of the index.
            since = None if query.since_ms is None else query.since_ms - query.since_ms % 1000
            total = store.count_since(since)
            if query.page is None:
                return Page(list(store.ordered(since)), None, total, total)
            offset = (query.page - 1) * query.page_size
            return Page(store.ordered_slice(since, offset, query.page_size), query.page, query.page_size, total)
        cache_key = (id(store), *(repr(getattr(query, name)) for name in _CACHE_FIELDS))
        cached = self._query_cache.get(cache_key)
        if cached is not None and cached[0] == store.version:
            rows = cached[1]  # paging through one filtered list: filter and sort once, not once per page
        else:
            rows = self._filtered(store, query, filters, sorter)
            self._query_cache[cache_key] = (store.version, rows)
            while len(self._query_cache) > 16:
                self._query_cache.pop(next(iter(self._query_cache)))
        if query.page is None:
            return Page(rows, None, len(rows), len(rows))
        offset = (query.page - 1) * query.page_size
        return Page(rows[offset : offset + query.page_size], query.page, query.page_size, len(rows))

    @staticmethod
    def _filtered(
        store: Store,
        query: ListQuery,
        filters: list[Callable[[Record], bool]],
        sorter: Callable[[list[Any]], list[Any]] | None,
    ) -> list[Record]:
        if query.ids or query.numbers:
            candidates: list[Record] = []
            seen: set[int] = set()
            for rid in query.ids:
                rec = store.get(rid)
                if rec is not None and id(rec) not in seen:
                    seen.add(id(rec))
                    candidates.append(rec)
            for number in query.numbers:
                for rec in store.by_number(number):
                    if id(rec) not in seen:
                        seen.add(id(rec))
                        candidates.append(rec)
            rows = [r for r in candidates if all(f(r) for f in filters)]
            rows.sort(key=lambda r: wire_ms(r.get("UpdatedDateUTC")) or -1)
        else:
            rows = [r for r in store.ordered() if all(f(r) for f in filters)]
        if sorter is not None:
            rows = sorter(rows)
        return rows

    def list_reference(self, records: list[Record], where: str | None, order: str | None) -> list[Record]:
        rows: list[Any] = records
        if where:
            predicate = compile_where(where)
            rows = [r for r in rows if predicate(r)]
        if order:
            rows = compile_order(order)(rows)
        return rows

    # ------------------------------------------------------------------ presentation

    @staticmethod
    def present(record: Record, unitdp: int = 2, summary: bool = False) -> Record:
        """A copy of a stored record as Xero sends it: money at 2 dp (UnitAmount at `unitdp`), Quantity at 4 dp,
        CurrencyRate at 6 dp, `DateString`/`DueDateString`/`UpdatedDateUTCString` added. Values that are not
        numbers (a malformed fixture) are served as they are."""
        out: Record = {}
        for key, value in record.items():
            if key in _MONEY_FIELDS:
                out[key] = _q(value, CENT)
            elif key == "CurrencyRate":
                out[key] = _q(value, SIX_DP)
            elif key == "LineItems":
                if summary:
                    continue
                out[key] = [_present_line(line, unitdp) for line in value] if isinstance(value, list) else value
            elif key in ("Payments", "CreditNotes", "Allocations", "Prepayments", "Overpayments"):
                out[key] = (
                    [Ledger.present(v, unitdp) if isinstance(v, dict) else v for v in value]
                    if isinstance(value, list)
                    else value
                )
            elif key in ("Invoice", "CreditNote") and isinstance(value, dict):
                out[key] = Ledger.present(value, unitdp)
            else:
                out[key] = value
        # The *String twins are derived from the current value on every read, as Xero does: a stored twin from a
        # fixture must never outlive an update of the field it mirrors. Only an unreadable value keeps its twin.
        for field, label in (("Date", "DateString"), ("DueDate", "DueDateString")):
            text = date_string(record.get(field))
            if text is not None:
                out[label] = text
        updated = wire_ms(record.get("UpdatedDateUTC"))
        if updated is not None and "InvoiceID" in record:
            out["UpdatedDateUTCString"] = utc_string(updated)
        return out

    # ------------------------------------------------------------------ contacts

    def resolve_contact(self, ref: Any, errors: list[str], *, customer: bool) -> Record | None:
        """The contact an invoice names: by ContactID, ContactNumber or Name; a new Name creates a contact, as
        Xero does."""
        if not isinstance(ref, Mapping):
            errors.append(MSG_CONTACT)
            return None
        contact_id, number, name = ref.get("ContactID"), ref.get("ContactNumber"), ref.get("Name")
        if isinstance(contact_id, str) and contact_id.strip():
            found = self.contacts.get(contact_id.strip())
            if found is None:
                errors.append(f"The contact with ContactID '{contact_id}' could not be found.")
            return found
        if isinstance(number, str) and number.strip():
            for rec in self.contacts.all():
                if rec.get("ContactNumber") == number.strip():
                    return rec
            if not (isinstance(name, str) and name.strip()):
                errors.append(f"The contact with ContactNumber '{number}' could not be found.")
                return None
        if isinstance(name, str) and name.strip():
            found = self._contact_by_name.get(number_key(name) or "")
            if found is not None:
                return found
            return self.create_contact({"Name": name.strip(), "IsCustomer": customer}, defer_errors=errors)
        errors.append(MSG_CONTACT)
        return None

    def create_contact(self, element: Mapping[str, Any], defer_errors: list[str] | None = None) -> Record:
        errors: list[str] = []
        name = element.get("Name")
        if not isinstance(name, str) or not name.strip():
            errors.append("The contact name must be specified.")
        elif number_key(name) in self._contact_by_name:
            errors.append(
                f"The contact name {name.strip()} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."
            )
        if errors:
            if defer_errors is not None:
                defer_errors.extend(errors)
                return {}
            raise Invalid(*errors)
        ms = self.now_ms()
        record: Record = {
            "ContactID": str(uuid.uuid4()),
            "ContactStatus": "ACTIVE",
            "Name": str(name).strip(),
        }
        for field in ("ContactNumber", "AccountNumber", "FirstName", "LastName", "EmailAddress", "TaxNumber"):
            if isinstance(element.get(field), str):
                record[field] = element[field]
        record.update(
            {
                "Addresses": list(element.get("Addresses") or []),
                "Phones": list(element.get("Phones") or []),
                "UpdatedDateUTC": ms_to_wire(ms),
                "ContactGroups": [],
                "IsSupplier": bool(element.get("IsSupplier", False)),
                "IsCustomer": bool(element.get("IsCustomer", False)),
                "ContactPersons": [],
                "HasAttachments": False,
                "HasValidationErrors": False,
            }
        )
        if isinstance(element.get("DefaultCurrency"), str):
            record["DefaultCurrency"] = element["DefaultCurrency"]
        self.contacts.add(record)
        self._contact_by_name[number_key(record["Name"]) or ""] = record
        return record

    # ------------------------------------------------------------------ lines and totals

    def build_lines(
        self,
        given: Any,
        existing: list[Record],
        amount_types: str,
        unitdp: int,
        approved: bool,
        errors: list[str],
    ) -> list[Record]:
        """New line list for a document: lines with a LineItemID update that line, lines without one are added,
        existing lines left out are gone [docs]. Tax per line, rounded to 2 dp [docs rounding guide]."""
        if not isinstance(given, list):
            errors.append("LineItems must be a list.")
            return existing
        by_id = {str(line.get("LineItemID", "")).lower(): line for line in existing if isinstance(line, Mapping)}
        unit_places = FOUR_DP if unitdp == 4 else CENT
        lines: list[Record] = []
        for index, raw in enumerate(given, start=1):
            if not isinstance(raw, Mapping):
                errors.append(f"Line item {index} is not an object.")
                continue
            line_id = raw.get("LineItemID")
            base: Record = {}
            if isinstance(line_id, str) and line_id:
                if line_id.lower() not in by_id:
                    errors.append(f"The LineItemID '{line_id}' does not belong to this document.")
                    continue
                base = dict(by_id[line_id.lower()])
            merged = {**base, **raw}
            description = merged.get("Description")
            if not (isinstance(description, str) and description.strip()) and not merged.get("ItemCode"):
                errors.append("Description is required for each line item.")
            quantity = to_decimal(merged.get("Quantity", Decimal(1)))
            if quantity is None:
                errors.append(f"Line item {index}: Quantity must be a number.")
                continue
            quantity = quantity.quantize(FOUR_DP)
            discount_rate = to_decimal(merged.get("DiscountRate")) if merged.get("DiscountRate") is not None else None
            factor = (Decimal(100) - discount_rate) / Decimal(100) if discount_rate is not None else Decimal(1)
            unit_given = "UnitAmount" in raw or ("UnitAmount" in base and "LineAmount" not in raw)
            unit = to_decimal(merged.get("UnitAmount")) if unit_given else None
            line_amount_given = to_decimal(raw.get("LineAmount")) if "LineAmount" in raw else None
            if unit_given and unit is None:
                errors.append(f"Line item {index}: UnitAmount must be a number.")
                continue
            if unit is not None:
                unit = money(unit, unit_places)
                line_amount = money(quantity * unit * factor)
                if line_amount_given is not None and money(line_amount_given) != line_amount:
                    errors.append(
                        f"Line item {index}: LineAmount {line_amount_given} does not equal Quantity x UnitAmount "
                        f"less discount ({line_amount})."
                    )
            elif line_amount_given is not None:
                line_amount = money(line_amount_given)
                unit = money(line_amount / quantity / factor, unit_places) if quantity and factor else Decimal(0)
            else:
                unit, line_amount = Decimal(0).quantize(unit_places), Decimal("0.00")
            account = None
            code = merged.get("AccountCode")
            if code is not None or merged.get("AccountID") is not None:
                account = self.account({"AccountID": merged.get("AccountID"), "Code": code})
                if account is None or account.get("Status", "ACTIVE") != "ACTIVE":
                    errors.append(f"Account code '{code}' is not a valid code for this document.")
            elif approved:
                errors.append(f"Line item {index}: an AccountCode must be specified on an approved document.")
            tax_type = merged.get("TaxType")
            if amount_types == "NoTax":
                tax_type = "NONE"
            elif not tax_type:
                tax_type = (account or {}).get("TaxType") or "NONE"
            rate = self.tax_rate(str(tax_type))
            if rate is None:
                errors.append(
                    f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."
                )
                percent = Decimal(0)
            else:
                percent = self.rate_percent(rate)
            given_tax = to_decimal(raw.get("TaxAmount")) if "TaxAmount" in raw else None
            if amount_types == "NoTax":
                tax = Decimal("0.00")
            elif given_tax is not None:
                tax = money(given_tax)  # a TaxAmount the client sets wins [docs: "auto, overridable"]
            elif amount_types == "Inclusive":
                tax = money(line_amount * percent / (Decimal(100) + percent))
            else:
                tax = money(line_amount * percent / Decimal(100))
            line: Record = {
                "LineItemID": base.get("LineItemID") or str(uuid.uuid4()),
                "Description": description if isinstance(description, str) else "",
                "Quantity": quantity,
                "UnitAmount": unit,
            }
            if merged.get("ItemCode"):
                line["ItemCode"] = merged["ItemCode"]
            if account is not None:
                line["AccountCode"] = account.get("Code")
                line["AccountID"] = account.get("AccountID")
            line["TaxType"] = tax_type
            line["TaxAmount"] = tax
            line["LineAmount"] = line_amount
            if discount_rate is not None:
                line["DiscountRate"] = discount_rate.quantize(CENT)
            line["Tracking"] = list(merged.get("Tracking") or [])
            lines.append(line)
        return lines

    @staticmethod
    def totals(lines: list[Record], amount_types: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """(SubTotal, TotalTax, Total, TotalDiscount); Total = SubTotal + TotalTax [docs]."""
        tax = sum((_dec(line.get("TaxAmount")) for line in lines), Decimal("0.00"))
        gross = sum((_dec(line.get("LineAmount")) for line in lines), Decimal("0.00"))
        subtotal = gross - tax if amount_types == "Inclusive" else gross
        discount = sum(
            (
                money(_dec(line.get("Quantity")) * _dec(line.get("UnitAmount"))) - _dec(line.get("LineAmount"))
                for line in lines
                if line.get("DiscountRate") is not None
            ),
            Decimal("0.00"),
        )
        return money(subtotal), money(tax), money(subtotal + tax), money(discount)

    # ------------------------------------------------------------------ invoices

    def _parse_header(self, element: Mapping[str, Any], errors: list[str], field: str) -> dt.date | None:
        if field not in element or element.get(field) in (None, ""):
            return None
        day = parse_input_date(element.get(field))
        if day is None:
            errors.append(f"{field} '{element.get(field)}' is not a valid date.")
        return day

    def create_invoice(self, element: Mapping[str, Any], unitdp: int = 2) -> Record:
        errors: list[str] = []
        inv_type = element.get("Type")
        if inv_type not in ("ACCREC", "ACCPAY"):
            errors.append("A valid Type must be specified: ACCREC or ACCPAY.")
        status = str(element.get("Status") or "DRAFT").upper()
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"An invoice cannot be created with Status {status}: use DRAFT, SUBMITTED or AUTHORISED.")
        approved = status == "AUTHORISED"
        amount_types = element.get("LineAmountTypes") or "Exclusive"
        if amount_types not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax.")
            amount_types = "Exclusive"
        existing_id = element.get("InvoiceID")
        if isinstance(existing_id, str) and self.invoices.get(existing_id) is not None:
            errors.append("An invoice with this InvoiceID already exists: use POST to update it.")
        number = element.get("InvoiceNumber")
        number = number.strip() if isinstance(number, str) else None
        if inv_type == "ACCREC" and number and any(r.get("Type") == "ACCREC" for r in self.invoices.by_number(number)):
            errors.append(MSG_NOT_UNIQUE)
        day = self._parse_header(element, errors, "Date")
        if day is None and "Date" not in element:
            day = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()  # Xero dates a new invoice today
        due = self._parse_header(element, errors, "DueDate")
        if approved and due is None:
            errors.append("Due Date is required for an approved invoice.")
        self._check_lock(day, errors)
        currency = element.get("CurrencyCode") or self.base_currency()
        if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
            errors.append(f"CurrencyCode '{currency}' is not a valid currency.")
        rate = to_decimal(element.get("CurrencyRate")) if element.get("CurrencyRate") is not None else Decimal(1)
        if rate is None or rate <= 0:
            errors.append("CurrencyRate must be a positive number.")
        lines = self.build_lines(element.get("LineItems", []), [], amount_types, unitdp, approved, errors)
        if approved and not lines:
            errors.append("An approved invoice must have at least one line item.")
        subtotal, tax, total, discount = self.totals(lines, amount_types)
        if element.get("Total") is not None and to_decimal(element.get("Total")) != total:
            errors.append(MSG_TOTAL)
        contact = self.resolve_contact(element.get("Contact"), errors, customer=inv_type == "ACCREC")
        if errors:
            raise Invalid(*errors)
        assert contact is not None
        if inv_type == "ACCREC" and not number:
            number = self._auto_number(self.invoices, "INV-")
        ms = self.now_ms()
        record: Record = {
            "Type": inv_type,
            "InvoiceID": existing_id if isinstance(existing_id, str) and existing_id else str(uuid.uuid4()),
            "InvoiceNumber": number or "",
            "Reference": element.get("Reference") if isinstance(element.get("Reference"), str) else "",
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "AmountDue": Decimal(0) if status == "DELETED" else total,
            "AmountPaid": Decimal("0.00"),
            "AmountCredited": Decimal("0.00"),
            "CurrencyRate": (rate or Decimal(1)).quantize(SIX_DP),
            "IsDiscounted": discount > 0,
            "HasAttachments": False,
            "HasErrors": False,
            "Contact": {"ContactID": contact["ContactID"], "Name": contact.get("Name")},
            "Date": date_to_wire(day) if day else None,
            "DueDate": date_to_wire(due) if due else None,
            "Status": status,
            "LineAmountTypes": amount_types,
            "LineItems": lines,
            "SubTotal": subtotal,
            "TotalTax": tax,
            "Total": total,
            "UpdatedDateUTC": ms_to_wire(ms),
            "CurrencyCode": currency,
            "SentToContact": bool(element.get("SentToContact", False)),
        }
        if discount:
            record["TotalDiscount"] = discount
        for field in ("Url", "BrandingThemeID"):
            if isinstance(element.get(field), str):
                record[field] = element[field]
        record = {k: v for k, v in record.items() if v is not None}
        self.invoices.add(record)
        if inv_type == "ACCREC" and contact.get("IsCustomer") is not True:
            contact["IsCustomer"] = True  # Xero flips this without moving UpdatedDateUTC [docs]
        return record

    @staticmethod
    def _allocated(record: Record) -> bool:
        live_payments = [p for p in record.get("Payments") or [] if isinstance(p, Mapping)]
        return bool(live_payments) or _dec(record.get("AmountCredited")) > 0 or bool(record.get("CreditNotes"))

    def update_invoice(self, record: Record, element: Mapping[str, Any], unitdp: int = 2) -> Record:
        errors: list[str] = []
        current = str(record.get("Status", "")).upper()
        if current in ("VOIDED", "DELETED"):
            raise Invalid(MSG_BAD_STATUS)
        amount_types = element.get("LineAmountTypes") or record.get("LineAmountTypes") or "Exclusive"
        changes = self._invoice_changes(record, element)
        if self._allocated(record) and changes - _EDITABLE_WHEN_ALLOCATED:
            raise Invalid(MSG_ALLOCATED)
        new_status = str(element.get("Status") or current).upper()
        if new_status not in _STATUS_MOVES.get(current, {current}):
            raise Invalid(MSG_BAD_STATUS)
        if new_status == "VOIDED" and self._allocated(record):
            raise Invalid(MSG_ALLOCATED)
        old_day = wire_date(record.get("Date"))
        self._check_lock(old_day, errors)
        day = self._parse_header(element, errors, "Date") if "Date" in element else old_day
        if "Date" in element:
            self._check_lock(day, errors)
        due = (
            self._parse_header(element, errors, "DueDate") if "DueDate" in element else wire_date(record.get("DueDate"))
        )
        approved = new_status in ("AUTHORISED", "SUBMITTED")
        if new_status == "AUTHORISED" and due is None:
            errors.append("Due Date is required for an approved invoice.")
        number = element.get("InvoiceNumber")
        if isinstance(number, str) and number.strip() and record.get("Type") == "ACCREC":
            clash = [r for r in self.invoices.by_number(number) if r is not record and r.get("Type") == "ACCREC"]
            if clash:
                errors.append(MSG_NOT_UNIQUE)
        stored = record.get("LineItems")
        lines: list[Record] = stored if isinstance(stored, list) else []
        if "LineItems" in element:
            lines = self.build_lines(element["LineItems"], lines, amount_types, unitdp, approved, errors)
        elif "LineAmountTypes" in element and element["LineAmountTypes"] != record.get("LineAmountTypes"):
            # Changing how amounts are read recomputes the tax of every kept line.
            lines = self.build_lines(
                [{"LineItemID": line.get("LineItemID")} for line in lines],
                lines,
                amount_types,
                unitdp,
                approved,
                errors,
            )
        elif approved:
            for line in lines:
                if not line.get("AccountCode"):
                    errors.append("Each line item must have an AccountCode before the invoice is approved.")
                    break
        if new_status == "AUTHORISED" and not lines:
            errors.append("An approved invoice must have at least one line item.")
        contact = None
        if "Contact" in element:
            contact = self.resolve_contact(element["Contact"], errors, customer=record.get("Type") == "ACCREC")
        subtotal, tax, total, discount = self.totals(lines, amount_types)
        if element.get("Total") is not None and to_decimal(element.get("Total")) != total:
            errors.append(MSG_TOTAL)
        if errors:
            raise Invalid(*errors)
        if contact:
            record["Contact"] = {"ContactID": contact["ContactID"], "Name": contact.get("Name")}
        if isinstance(number, str) and number.strip():
            record["InvoiceNumber"] = number.strip()
        for field in ("Reference", "Url", "SentToContact", "CurrencyCode"):
            if field in element:
                record[field] = element[field]
        if day is not None:
            record["Date"] = date_to_wire(day)
        if due is not None:
            record["DueDate"] = date_to_wire(due)
        elif "DueDate" in element:
            record.pop("DueDate", None)
        record["LineAmountTypes"] = amount_types
        record["LineItems"] = lines
        record["SubTotal"], record["TotalTax"], record["Total"] = subtotal, tax, total
        if discount:
            record["TotalDiscount"] = discount
        record["Status"] = new_status
        if new_status in ("VOIDED", "DELETED"):
            record["AmountDue"] = Decimal("0.00")
        else:
            record["AmountDue"] = total - _dec(record.get("AmountPaid")) - _dec(record.get("AmountCredited"))
        self._stamp(record, self.now_ms())
        self.invoices.touch(record)
        return record

    def _invoice_changes(self, record: Record, element: Mapping[str, Any]) -> set[str]:
        """Names of fields whose value the element really changes (re-sending a value is not a change)."""
        changed: set[str] = set()
        for key, value in element.items():
            if key in ("InvoiceID", "HasErrors", "UpdatedDateUTC", "ValidationErrors", "Warnings"):
                continue
            if key in ("Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate"):
                if parse_input_date(value) != wire_date(record.get(key)):
                    changed.add(key)
            elif key == "Contact":
                ref = value if isinstance(value, Mapping) else {}
                current = record.get("Contact") or {}
                same_id = str(ref.get("ContactID", "")).lower() == str(current.get("ContactID", "")).lower()
                same_name = ref.get("Name") == current.get("Name")
                if not (same_id or ("ContactID" not in ref and same_name)):
                    changed.add(key)
            elif key == "Status":
                if str(value).upper() != str(record.get("Status", "")).upper():
                    changed.add(key)
            elif key in ("LineItems",):
                changed.add(key)
            elif key in _MONEY_FIELDS or key == "CurrencyRate":
                if to_decimal(value) != to_decimal(record.get(key)):
                    changed.add(key)
            elif value != record.get(key):
                changed.add(key)
        return changed

    # ------------------------------------------------------------------ payments

    def _payable(self, account: Record | None) -> bool:
        return account is not None and (account.get("Type") == "BANK" or account.get("EnablePaymentsToAccount") is True)

    def create_payment(self, element: Mapping[str, Any]) -> Record:
        errors: list[str] = []
        inv_ref: Mapping[str, Any] = element["Invoice"] if isinstance(element.get("Invoice"), Mapping) else {}
        cn_ref: Mapping[str, Any] = element["CreditNote"] if isinstance(element.get("CreditNote"), Mapping) else {}
        target: Record | None = None
        is_credit = False
        inv_id = inv_ref.get("InvoiceID")
        inv_number = inv_ref.get("InvoiceNumber") or element.get("InvoiceNumber")
        cn_id = cn_ref.get("CreditNoteID")
        cn_number = cn_ref.get("CreditNoteNumber") or element.get("CreditNoteNumber")
        if isinstance(inv_id, str) and inv_id:
            target = self.invoices.get(inv_id)
            if target is None:
                # A credit note's id in Invoice.InvoiceID makes a refund, as on the real API [docs].
                target = self.credit_notes.get(inv_id)
                is_credit = target is not None
        elif isinstance(inv_number, str) and inv_number:
            matches = self.invoices.by_number(inv_number)
            target = matches[0] if matches else None
        elif isinstance(cn_id, str) and cn_id:
            target, is_credit = self.credit_notes.get(cn_id), True
        elif isinstance(cn_number, str) and cn_number:
            matches = self.credit_notes.by_number(cn_number)
            target, is_credit = (matches[0] if matches else None), True
        else:
            errors.append("A payment must name an Invoice (InvoiceID or InvoiceNumber) or a CreditNote.")
        if target is None and not errors:
            errors.append(
                "Credit note could not be found." if is_credit or cn_id or cn_number else "Invoice could not be found."
            )
        account = self.account(element.get("Account"), element.get("Code"))
        if account is None:
            errors.append("Account could not be found: give Account.AccountID or Account.Code.")
        elif not self._payable(account):
            errors.append(
                f"Account '{account.get('Code')}' cannot take payments: use a bank account or an account with "
                "EnablePaymentsToAccount."
            )
        day = parse_input_date(element.get("Date"))
        if day is None:
            errors.append("Date is required and must be a date (YYYY-MM-DD).")
        self._check_lock(day, errors)
        amount = to_decimal(element.get("Amount"))
        if amount is None or amount <= 0:
            errors.append("Amount must be a number greater than zero.")
        if target is not None:
            if str(target.get("Status")).upper() != "AUTHORISED":
                errors.append("Payments can only be made against AUTHORISED documents.")
            outstanding = _dec(target.get("RemainingCredit" if is_credit else "AmountDue"))
            if amount is not None and amount > 0 and money(amount) > outstanding:
                errors.append(
                    f"The payment amount ({money(amount)}) exceeds the amount outstanding on this document "
                    f"({money(outstanding)})."
                )
        rate = to_decimal(element.get("CurrencyRate")) if element.get("CurrencyRate") is not None else Decimal(1)
        if rate is None or rate <= 0:
            errors.append("CurrencyRate must be a positive number.")
        if errors:
            raise Invalid(*errors)
        assert target is not None and account is not None and amount is not None and day is not None
        amount = money(amount)
        ms = self.now_ms()
        target_type = str(target.get("Type"))
        if is_credit:
            payment_type = "ARCREDITPAYMENT" if target_type == "ACCRECCREDIT" else "APCREDITPAYMENT"
            document = {
                "Type": target_type,
                "InvoiceID": target.get("CreditNoteID"),
                "InvoiceNumber": target.get("CreditNoteNumber", ""),
            }
        else:
            payment_type = "ACCRECPAYMENT" if target_type == "ACCREC" else "ACCPAYPAYMENT"
            document = {
                "Type": target_type,
                "InvoiceID": target.get("InvoiceID"),
                "InvoiceNumber": target.get("InvoiceNumber", ""),
            }
        document.update(
            {
                "Contact": dict(target.get("Contact") or {}),
                "CurrencyCode": target.get("CurrencyCode", self.base_currency()),
                "Payments": [],
                "CreditNotes": [],
                "Prepayments": [],
                "Overpayments": [],
                "HasErrors": False,
                "IsDiscounted": False,
                "HasAttachments": False,
                "LineItems": [],
            }
        )
        reference = element.get("Reference") if isinstance(element.get("Reference"), str) else ""
        payment: Record = {
            "PaymentID": str(uuid.uuid4()),
            "Date": date_to_wire(day),
            "BankAmount": amount,
            "Amount": amount,
            "Reference": reference,
            "CurrencyRate": (rate or Decimal(1)).quantize(SIX_DP),
            "PaymentType": payment_type,
            "Status": "AUTHORISED",
            "UpdatedDateUTC": ms_to_wire(ms),
            "HasAccount": True,
            "IsReconciled": bool(element.get("IsReconciled", False)),
            "Account": {"AccountID": account.get("AccountID"), "Code": account.get("Code")},
            "Invoice": document,
            "HasValidationErrors": False,
        }
        if is_credit:
            payment["CreditNote"] = {
                "CreditNoteID": target.get("CreditNoteID"),
                "CreditNoteNumber": target.get("CreditNoteNumber", ""),
            }
        self.payments.add(payment)
        summary = {
            "PaymentID": payment["PaymentID"],
            "Date": payment["Date"],
            "Amount": amount,
            "Reference": reference,
            "CurrencyRate": payment["CurrencyRate"],
            "HasAccount": False,
            "HasValidationErrors": False,
        }
        target.setdefault("Payments", []).append(summary)
        if is_credit:
            target["RemainingCredit"] = money(_dec(target.get("RemainingCredit")) - amount)
            if target["RemainingCredit"] == 0:
                target["Status"] = "PAID"
                target["FullyPaidOnDate"] = payment["Date"]
            self._stamp(target, ms)
            self.credit_notes.touch(target)
        else:
            target["AmountPaid"] = money(_dec(target.get("AmountPaid")) + amount)
            target["AmountDue"] = money(_dec(target.get("AmountDue")) - amount)
            if target["AmountDue"] == 0:
                target["Status"] = "PAID"
                target["FullyPaidOnDate"] = payment["Date"]
            self._stamp(target, ms)
            self.invoices.touch(target)
        return payment

    def delete_payment(self, payment: Record, element: Mapping[str, Any]) -> Record:
        status = element.get("Status")
        if not isinstance(status, str) or status.upper() != "DELETED":
            raise Invalid('A payment can only be deleted: send {"Status": "DELETED"}.')
        if str(payment.get("Status")).upper() == "DELETED":
            raise Invalid("This payment has already been deleted.")
        if payment.get("IsReconciled") is True:
            raise Invalid("A reconciled payment cannot be deleted: unreconcile it first.")
        errors: list[str] = []
        self._check_lock(wire_date(payment.get("Date")), errors)
        if errors:
            raise Invalid(*errors)
        ms = self.now_ms()
        payment["Status"] = "DELETED"
        self._stamp(payment, ms)
        self.payments.touch(payment)
        document = payment.get("Invoice") or {}
        doc_id = str(document.get("InvoiceID", ""))
        amount = _dec(payment.get("Amount"))
        target = self.invoices.get(doc_id)
        is_credit = target is None
        if target is None:
            target = self.credit_notes.get(doc_id)
        if target is None:
            return payment
        target["Payments"] = [
            p
            for p in target.get("Payments") or []
            if not (isinstance(p, Mapping) and str(p.get("PaymentID", "")).lower() == str(payment["PaymentID"]).lower())
        ]
        if is_credit:
            target["RemainingCredit"] = money(_dec(target.get("RemainingCredit")) + amount)
        else:
            target["AmountPaid"] = money(_dec(target.get("AmountPaid")) - amount)
            target["AmountDue"] = money(_dec(target.get("AmountDue")) + amount)
        if str(target.get("Status")).upper() == "PAID":
            target["Status"] = "AUTHORISED"  # back from PAID when a payment goes [docs]
            target.pop("FullyPaidOnDate", None)
        self._stamp(target, ms)
        (self.credit_notes if is_credit else self.invoices).touch(target)
        return payment

    # ------------------------------------------------------------------ credit notes

    def create_credit_note(self, element: Mapping[str, Any], unitdp: int = 2) -> Record:
        errors: list[str] = []
        cn_type = element.get("Type")
        if cn_type not in ("ACCRECCREDIT", "ACCPAYCREDIT"):
            errors.append("A valid Type must be specified: ACCRECCREDIT or ACCPAYCREDIT.")
        status = str(element.get("Status") or "DRAFT").upper()
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"A credit note cannot be created with Status {status}.")
        amount_types = element.get("LineAmountTypes") or "Exclusive"
        if amount_types not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax.")
            amount_types = "Exclusive"
        number = element.get("CreditNoteNumber")
        number = number.strip() if isinstance(number, str) else None
        if (
            cn_type == "ACCRECCREDIT"
            and number
            and any(r.get("Type") == "ACCRECCREDIT" for r in self.credit_notes.by_number(number))
        ):
            errors.append("Credit Note # must be unique.")
        day = self._parse_header(element, errors, "Date")
        if day is None and "Date" not in element:
            day = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()
        self._check_lock(day, errors)
        currency = element.get("CurrencyCode") or self.base_currency()
        lines = self.build_lines(element.get("LineItems", []), [], amount_types, unitdp, status == "AUTHORISED", errors)
        if status == "AUTHORISED" and not lines:
            errors.append("An approved credit note must have at least one line item.")
        subtotal, tax, total, _discount = self.totals(lines, amount_types)
        contact = self.resolve_contact(element.get("Contact"), errors, customer=cn_type == "ACCRECCREDIT")
        if errors:
            raise Invalid(*errors)
        assert contact is not None
        if cn_type == "ACCRECCREDIT" and not number:
            number = self._auto_number(self.credit_notes, "CN-")
        record: Record = {
            "Type": cn_type,
            "CreditNoteID": str(uuid.uuid4()),
            "CreditNoteNumber": number or "",
            "Reference": element.get("Reference") if isinstance(element.get("Reference"), str) else "",
            "Contact": {"ContactID": contact["ContactID"], "Name": contact.get("Name")},
            "Date": date_to_wire(day) if day else None,
            "Status": status,
            "LineAmountTypes": amount_types,
            "LineItems": lines,
            "SubTotal": subtotal,
            "TotalTax": tax,
            "Total": total,
            "UpdatedDateUTC": ms_to_wire(self.now_ms()),
            "CurrencyCode": currency,
            "CurrencyRate": Decimal(1).quantize(SIX_DP),
            "RemainingCredit": total,
            "Allocations": [],
            "Payments": [],
            "HasAttachments": False,
            "HasErrors": False,
            "SentToContact": False,
        }
        record = {k: v for k, v in record.items() if v is not None}
        self.credit_notes.add(record)
        return record

    def allocate_credit(self, credit_note: Record, element: Mapping[str, Any]) -> Record:
        errors: list[str] = []
        if str(credit_note.get("Status")).upper() != "AUTHORISED":
            raise Invalid("Only an AUTHORISED credit note with remaining credit can be allocated.")
        inv_ref: Mapping[str, Any] = element["Invoice"] if isinstance(element.get("Invoice"), Mapping) else {}
        invoice = None
        if isinstance(inv_ref.get("InvoiceID"), str):
            invoice = self.invoices.get(inv_ref["InvoiceID"])
        elif isinstance(inv_ref.get("InvoiceNumber"), str):
            invoice = self.find_invoice(inv_ref["InvoiceNumber"])
        if invoice is None:
            raise Invalid("Invoice could not be found.")
        expected = "ACCREC" if credit_note.get("Type") == "ACCRECCREDIT" else "ACCPAY"
        if invoice.get("Type") != expected:
            errors.append(f"A {credit_note.get('Type')} credit note can only be allocated to an {expected} invoice.")
        if str(invoice.get("Status")).upper() != "AUTHORISED":
            errors.append("Credit can only be allocated to an AUTHORISED invoice.")
        if invoice.get("CurrencyCode") != credit_note.get("CurrencyCode"):
            errors.append("The credit note and the invoice must be in the same currency.")
        cn_contact = str((credit_note.get("Contact") or {}).get("ContactID", "")).lower()
        if cn_contact != str((invoice.get("Contact") or {}).get("ContactID", "")).lower():
            errors.append("The credit note and the invoice must belong to the same contact.")
        amount = to_decimal(element.get("Amount"))
        if amount is None or amount <= 0:
            errors.append("Amount must be a number greater than zero.")
        else:
            amount = money(amount)
            if amount > _dec(credit_note.get("RemainingCredit")):
                errors.append("The allocation amount exceeds the remaining credit on the credit note.")
            if amount > _dec(invoice.get("AmountDue")):
                errors.append("The allocation amount exceeds the amount due on the invoice.")
        day = parse_input_date(element.get("Date"))
        if day is None:
            errors.append("Date is required and must be a date (YYYY-MM-DD).")
        self._check_lock(day, errors)
        if errors:
            raise Invalid(*errors)
        assert amount is not None and day is not None
        ms = self.now_ms()
        allocation_id = str(uuid.uuid4())
        invoice_ref = {"InvoiceID": invoice.get("InvoiceID"), "InvoiceNumber": invoice.get("InvoiceNumber", "")}
        allocation: Record = {
            "AllocationID": allocation_id,
            "Amount": amount,
            "Date": date_to_wire(day),
            "Invoice": invoice_ref,
            "IsDeleted": False,
        }
        credit_note.setdefault("Allocations", []).append(allocation)
        credit_note["RemainingCredit"] = money(_dec(credit_note.get("RemainingCredit")) - amount)
        if credit_note["RemainingCredit"] == 0:
            credit_note["Status"] = "PAID"
            credit_note["FullyPaidOnDate"] = allocation["Date"]
        self._stamp(credit_note, ms)
        self.credit_notes.touch(credit_note)
        invoice.setdefault("CreditNotes", []).append(
            {
                "CreditNoteID": credit_note.get("CreditNoteID"),
                "CreditNoteNumber": credit_note.get("CreditNoteNumber", ""),
                "ID": credit_note.get("CreditNoteID"),
                "AppliedAmount": amount,
                "Date": allocation["Date"],
                "Total": credit_note.get("Total"),
                "HasErrors": False,
            }
        )
        invoice["AmountCredited"] = money(_dec(invoice.get("AmountCredited")) + amount)
        invoice["AmountDue"] = money(_dec(invoice.get("AmountDue")) - amount)
        if invoice["AmountDue"] == 0:
            invoice["Status"] = "PAID"
            invoice["FullyPaidOnDate"] = allocation["Date"]
        self._stamp(invoice, ms)
        self.invoices.touch(invoice)
        return {
            **allocation,
            "CreditNote": {
                "CreditNoteID": credit_note.get("CreditNoteID"),
                "CreditNoteNumber": credit_note.get("CreditNoteNumber", ""),
            },
        }


def _q(value: Any, places: Decimal) -> Any:
    """Money as Xero writes it (fixed places); a number too large for that (a fixture's `1E+30`) as it is."""
    try:
        if isinstance(value, Decimal) and value.is_finite():
            return value.quantize(places)
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value).quantize(places)
    except InvalidOperation:
        pass
    return value


def _present_line(line: Any, unitdp: int) -> Any:
    if not isinstance(line, dict):
        return line
    out = dict(line)
    for key in _LINE_MONEY:
        if key in out:
            out[key] = _q(out[key], CENT)
    if "Quantity" in out:
        out["Quantity"] = _q(out["Quantity"], FOUR_DP)
    if "UnitAmount" in out:
        value = out["UnitAmount"]
        if unitdp == 4:
            out["UnitAmount"] = _q(value, FOUR_DP)
        elif isinstance(value, Decimal) and value.is_finite():
            out["UnitAmount"] = money(value)  # without unitdp=4 Xero rounds unit prices to 2 dp [docs]
        else:
            out["UnitAmount"] = _q(value, CENT)
    return out


__all__ = [
    "CREDIT_NOTE_FIELDS",
    "INVOICE_FIELDS",
    "MSG_ALLOCATED",
    "MSG_BAD_STATUS",
    "MSG_NOT_UNIQUE",
    "PAYMENT_FIELDS",
    "Invalid",
    "Ledger",
    "ListQuery",
    "NotFound",
    "Page",
    "stable_id",
]

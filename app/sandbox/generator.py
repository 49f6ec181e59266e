"""The deterministic month generator: both systems' wire records for one month, and the expected reconciliation.

`generate(seed, invoices, month)` makes accessplanit records (Invoice, InvoiceItem, Transaction,
TransactionMethod; `accessplanit-api.md` sections 5 and 9) and Xero response envelopes (Invoices, Payments,
CreditNotes, Contacts, TaxRates, Accounts, Organisation; shapes of `xero_accounting.yaml`) that contain every kind
of difference the product meets, at sensible rates and at least once each from 50 invoices up. It then computes
`expected`, the report items (product.md section 5) the app must produce, by applying the written rules of
`docs/reconciliation.md` to the wire records it made (`expected_items`), not by copying the scenario it intended.

It is the test oracle: an independent second implementation of the rules. So it must not import anything from
the rest of `app` (import-linter forbids it; an oracle that shares the engine's code shares its bugs), must not use
float for money, and must not do per-record deep copies or quadratic work (it has to scale to a million invoices).
Records may share immutable values (Decimals, date strings) and small nested dicts; consumers must copy a record
before changing it.
"""

from __future__ import annotations

import calendar
import gc
import hashlib
import json
import random
import re
import uuid
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

# --- the rule settings the oracle applies (docs/reconciliation.md; the app's defaults) -----------------------
MONEY_TOLERANCE = Decimal("0.01")
METHOD_ACCOUNTS: dict[str, str] = {
    "BACS": "090",
    "Card": "091",
    "Cheque": "092",
    "Cash": "093",
    "Stripe": "094",
    "PayPal": "095",
}
VAT_RATE = Decimal("0.20")  # Xero OUTPUT2, "20% (VAT on Income)"
BASE_CURRENCY = "GBP"

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_QTY1 = Decimal("1.0000")

# --- scenarios ---------------------------------------------------------------------------------------------------
# (name, weight in percent of invoices). Every scenario is placed at least once when `invoices` >= the number of
# scenarios; the remaining invoices are drawn by weight. Weights are what a month-end at a training provider
# looks like: most invoices agree, a few percent are not yet in Xero, a percent or two differ in some field.
SCENARIOS: tuple[tuple[str, float], ...] = (
    ("matched_open", 20.0),  # in both, unpaid
    ("matched_paid", 27.0),  # in both, paid in full, payment in both
    ("matched_part_paid", 8.0),  # in both, one partial payment in both
    ("matched_two_payments", 5.0),  # paid in two instalments in both
    ("matched_contact_spelling", 2.0),  # contact differs only in case/whitespace, or only CompanyName is set
    ("matched_number_case", 0.5),  # accessplanit Reference "inv-1042 " against Xero "INV-1042"
    ("foreign_currency", 2.0),  # EUR/USD invoice, paid in both
    ("rounding_one_cent", 3.0),  # per-line (Xero) vs document (accessplanit) tax rounding; unpaid; matched
    ("only_in_source", 5.0),  # not yet in Xero
    ("only_in_source_deleted_in_ledger", 0.2),  # a DELETED tombstone in Xero with the same number
    ("only_in_ledger", 0.5),  # raised by hand in Xero
    ("po_changed_source", 2.0),
    ("po_changed_ledger", 2.0),
    ("due_changed_source", 1.5),
    ("due_changed_ledger", 1.5),
    ("amounts_differ", 1.0),  # a line price edited in Xero
    ("payment_only_in_source", 2.0),  # taken in accessplanit, not yet in Xero
    ("payment_only_in_ledger", 1.5),  # recorded in Xero, not in accessplanit
    ("refund", 1.0),  # paid in both, part refunded in both (Xero: credit note + ARCREDITPAYMENT)
    ("void_both", 1.0),
    ("void_source_only", 0.5),
    ("void_ledger_only", 0.5),
    ("duplicate_payment", 0.5),  # the same payment twice in accessplanit, once in Xero
    ("payment_reference_differs", 1.0),
    ("payment_method_differs", 1.0),
    ("invalid_source_payment", 0.1),  # accessplanit Transaction with "Amount": "12,50"
    ("invalid_ledger_invoice", 0.1),  # Xero invoice whose Date is "not a date", not in accessplanit
)
SCENARIO_NAMES: tuple[str, ...] = tuple(name for name, _ in SCENARIOS)

_COURSES = (
    "First Aid at Work",
    "Emergency First Aid at Work",
    "Fire Marshal Training",
    "Manual Handling",
    "IOSH Managing Safely",
    "NEBOSH General Certificate",
    "Excel Intermediate",
    "Excel Advanced",
    "Project Management Foundation",
    "PRINCE2 Practitioner",
    "Leadership Essentials",
    "Mental Health First Aid",
    "Food Hygiene Level 2",
    "Safeguarding Level 3",
    "Time Management",
    "Presentation Skills",
)
# Unit prices whose pence are a multiple of 5, so 20% VAT is exact and per-line and document rounding agree.
_PRICES = tuple(
    Decimal(p)
    for p in (
        "95.00",
        "125.00",
        "149.50",
        "195.00",
        "225.00",
        "249.95",
        "295.00",
        "349.00",
        "395.00",
        "450.00",
        "495.00",
        "595.00",
        "795.00",
        "995.00",
        "1250.00",
        "1495.00",
    )
)
# Prices with pence = 3 (mod 5): 20% VAT ends in .6 of a penny. Two such lines round up one penny more per line
# than the document total does, which is exactly the 0.01 that must still be `matched`.
_ODD_PRICES = tuple(Decimal(p) for p in ("10.03", "19.98", "48.73", "74.33", "120.08", "212.43", "99.98"))
_REFUND_NETS = tuple(Decimal(p) for p in ("25.00", "50.00", "75.00", "100.00"))
_METHODS = ("BACS", "Card", "Cheque", "Cash", "Stripe", "PayPal")
_METHOD_CUM = tuple(accumulate((35, 30, 5, 2, 20, 8)))  # BACS and card most, cash rarely
_FOREIGN = (("EUR", Decimal("1.152300")), ("USD", Decimal("1.271800")))
_WORDS_A = (
    "North",
    "South",
    "East",
    "West",
    "Bright",
    "Clear",
    "Oak",
    "Cedar",
    "River",
    "Harbour",
    "Summit",
    "Granite",
    "Silver",
    "Amber",
    "Meadow",
    "Castle",
    "Beacon",
    "Copper",
    "Willow",
    "Falcon",
)
_WORDS_B = ("field", "gate", "bridge", "stone", "wood", "point", "view", "brook", "ridge", "haven")
_WORDS_C = (
    "Training",
    "Logistics",
    "Health Trust",
    "Engineering",
    "Academy",
    "Retail",
    "Care Homes",
    "Consulting",
    "Housing",
    "Foods",
)
_SUFFIXES = ("Ltd", "Limited", "LLP", "plc", "Group")

_ACCOUNTS = (  # (code, name, type, bank account type)
    ("090", "Business Bank Account", "BANK", "BANK"),
    ("091", "Card Receipts Clearing", "BANK", "BANK"),
    ("092", "Cheques Awaiting Deposit", "BANK", "BANK"),
    ("093", "Petty Cash", "BANK", "BANK"),
    ("094", "Stripe", "BANK", "BANK"),
    ("095", "PayPal", "BANK", "PAYPAL"),
    ("200", "Sales", "REVENUE", None),
    ("610", "Accounts Receivable", "CURRENT", None),
    ("820", "VAT", "CURRLIAB", None),
)


@dataclass
class Dataset:
    """One generated month: the wire records of both systems and the items the app must produce.

    `scenarios` maps each invoice's normalized number to the scenario it was built from (for tests and people;
    the expected statuses never depend on it). `month` is `YYYY-MM`.
    """

    accessplanit: dict[str, list[dict[str, Any]]]
    xero: dict[str, dict[str, Any]]
    expected: list[dict[str, Any]]
    scenarios: dict[str, str] = field(default_factory=dict)
    month: str = ""
    seed: int = 0


# ==================================================================================================================
# Generation
# ==================================================================================================================


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic records: its full passes over the
    growing heap would otherwise make the build superlinear (measured: twice as slow at 100,000 invoices)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _q(amount: Decimal) -> Decimal:
    """Round to pence, half up (what both systems do)."""
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


class _Guids:
    """Deterministic uuid5 values from the seed. Computes the same value as `uuid.uuid5(namespace, name)` with a
    pre-hashed namespace, because building UUID objects costs three times as much and this runs millions of times.
    """

    _VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}

    def __init__(self, seed: int) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"https://recondesk.invalid/sandbox/{seed}")
        self._prefix = hashlib.sha1(self._namespace.bytes, usedforsecurity=False)

    def __call__(self, name: str) -> str:
        h = self._prefix.copy()
        h.update(name.encode())
        x = h.hexdigest()
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{self._VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"

    def reference(self, name: str) -> str:
        """The slow, obviously correct form; tests check that `__call__` agrees with it."""
        return str(uuid.uuid5(self._namespace, name))


@dataclass(slots=True)
class _PayPlan:
    """One payment as each side should record it. By default the same in both systems."""

    amount: Decimal
    day: int
    reference: str
    method: str  # accessplanit TransactionMethodLabel
    in_source: bool = True
    in_ledger: bool = True
    ledger_reference: str = ""
    ledger_code: str = ""  # Xero bank account code
    copies: int = 1  # how many times accessplanit logged it


class _Plan:
    """What one invoice slot should look like on each side, before any wire record is written."""

    __slots__ = (
        "bad_ledger_date",
        "bad_source_payment",
        "contact",
        "contact_index",
        "contact_label",
        "currency",
        "due_day",
        "in_ledger",
        "in_source",
        "issue_day",
        "ledger_deleted",
        "ledger_due_day",
        "ledger_later",
        "ledger_line_bump",
        "ledger_number",
        "ledger_po",
        "ledger_void",
        "lines",
        "number",
        "payments",
        "po",
        "rate",
        "refund",
        "scenario",
        "slot",
        "source_company",
        "source_number",
        "source_void",
    )

    def __init__(self, slot: int, scenario: str) -> None:
        self.slot = slot
        self.scenario = scenario
        self.in_source = True
        self.in_ledger = True
        self.ledger_deleted = False
        self.source_void = False
        self.ledger_void = False
        self.ledger_later = False  # which side was edited last (drives DateUpdated / UpdatedDateUTC)
        self.bad_source_payment = False
        self.bad_ledger_date = False
        self.ledger_line_bump: Decimal | None = None
        self.currency = BASE_CURRENCY
        self.rate: Decimal | None = None
        self.payments: list[_PayPlan] = []
        self.refund: tuple[Decimal, Decimal, int, str] | None = None  # (net, gross, day, reference)
        self.number = ""
        self.source_number = ""
        self.ledger_number = ""
        self.contact = ""
        self.contact_index = 0
        self.contact_label: str | None = None
        self.source_company = ""
        self.po = ""
        self.ledger_po = ""
        self.issue_day = 1
        self.due_day = 1
        self.ledger_due_day = 1
        self.lines: list[tuple[str, Decimal, int]] = []  # (description, unit price, quantity)


class _Month:
    """Builds one month. Keeps per-day strings and dates in small caches so a million records share them."""

    def __init__(self, seed: int, invoices: int, month: str) -> None:
        if invoices < 0:
            raise ValueError("invoices must be >= 0")
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise ValueError(f"month must be YYYY-MM, not {month!r}") from exc
        self.seed = seed
        self.n = invoices
        self.month = month
        self.paid_instalments = 1.0
        self.first = first
        self.days = calendar.monthrange(first.year, first.month)[1]
        self.rng = random.Random(seed)
        self.guid = _Guids(seed)
        epoch_day = (first - date(1970, 1, 1)).days
        # index 0 unused; day d of the month at index d
        self.iso_midnight = [""] + [f"{month}-{d:02d}T00:00:00" for d in range(1, self.days + 1)]
        self.ms_day = [0] + [(epoch_day + d - 1) * 86_400_000 for d in range(1, self.days + 1)]
        self.ms_date = [""] + [f"/Date({self.ms_day[d]}+0000)/" for d in range(1, self.days + 1)]
        self.iso_date = [""] + [f"{month}-{d:02d}" for d in range(1, self.days + 1)]

        self.ap: dict[str, list[dict[str, Any]]] = {
            "Invoice": [],
            "InvoiceItem": [],
            "Transaction": [],
            "TransactionMethod": [{"ID": str(i + 1), "Label": label} for i, label in enumerate(_METHODS)],
        }
        self.method_id = {label: str(i + 1) for i, label in enumerate(_METHODS)}
        self.xi: list[dict[str, Any]] = []  # Xero invoices
        self.xp: list[dict[str, Any]] = []  # Xero payments
        self.xc: list[dict[str, Any]] = []  # Xero credit notes
        self.accounts = {
            code: {
                "AccountID": self.guid(f"account:{code}"),
                "Code": code,
                "Name": name,
                "Type": kind,
                "Status": "ACTIVE",
                **({"BankAccountType": bank, "EnablePaymentsToAccount": True} if bank else {}),
                **({"TaxType": "OUTPUT2"} if code == "200" else {}),
                "CurrencyCode": BASE_CURRENCY,
            }
            for code, name, kind, bank in _ACCOUNTS
        }
        self.account_refs = {code: {"AccountID": a["AccountID"], "Code": code} for code, a in self.accounts.items()}
        self.item_id = 70_000
        self.transaction_id = 88_000
        self.credit_note_no = 0
        self.contacts = self._contacts(max(8, invoices // 6))
        self.contact_refs: dict[str, dict[str, str]] = {}
        self.scenarios: dict[str, str] = {}

    # --- reference data -----------------------------------------------------------------------------------------
    def _contacts(self, count: int) -> list[str]:
        """Unique company names (Xero requires unique contact names)."""
        names: list[str] = []
        combos = len(_WORDS_A) * len(_WORDS_B) * len(_WORDS_C)
        for i in range(count):
            a, rest = divmod(i % combos, len(_WORDS_B) * len(_WORDS_C))
            b, c = divmod(rest, len(_WORDS_C))
            name = f"{_WORDS_A[a]}{_WORDS_B[b]} {_WORDS_C[c]} {_SUFFIXES[i % len(_SUFFIXES)]}"
            if i >= combos:
                name = f"{name} ({i // combos + 1})"
            names.append(name)
        return names

    def contact_ref(self, name: str) -> dict[str, str]:
        ref = self.contact_refs.get(name)
        if ref is None:
            ref = {"ContactID": self.guid(f"contact:{name}"), "Name": name}
            self.contact_refs[name] = ref
        return ref

    # --- scenario placement -------------------------------------------------------------------------------------
    def scenario_list(self) -> list[str]:
        """One scenario per slot: each at least once (when there is room), the rest by weight, then shuffled."""
        rng = self.rng
        names = list(SCENARIO_NAMES[: self.n])
        rest = self.n - len(names)
        if rest > 0:
            cum = list(accumulate(w for _, w in SCENARIOS))
            total = cum[-1]
            rnd = rng.random
            names.extend(SCENARIO_NAMES[bisect(cum, rnd() * total)] for _ in range(rest))
        rng.shuffle(names)
        return names

    # --- plans ----------------------------------------------------------------------------------------------------
    def plan(self, slot: int, scenario: str) -> _Plan:
        # random() and index arithmetic instead of choice/randint: same determinism, a third of the cost
        rnd = self.rng.random
        p = _Plan(slot, scenario)
        p.number = f"INV-{1001 + slot}"
        p.source_number = p.ledger_number = p.number
        p.contact_index = int(rnd() * len(self.contacts))
        p.contact = self.contacts[p.contact_index]
        p.contact_label = p.contact
        p.source_company = p.contact
        p.po = f"PO-{10000 + int(rnd() * 90000)}" if rnd() < 0.6 else ""
        p.ledger_po = p.po
        p.issue_day = 1 + int(rnd() * 14)
        p.due_day = p.ledger_due_day = p.issue_day + 14
        if scenario == "rounding_one_cent":
            p.lines = [(_pick(_COURSES, rnd), _pick(_ODD_PRICES, rnd), 1) for _ in range(2)]
        else:
            p.lines = [
                (_pick(_COURSES, rnd) + (" (online)" if k else ""), _pick(_PRICES, rnd), 1 + int(rnd() * 4))
                for k in range(_pick((1, 1, 1, 2, 2, 3), rnd))
            ]
        total = self.total(p)
        getattr(self, f"_plan_{scenario}")(p, total)
        return p

    def total(self, p: _Plan) -> Decimal:
        """Gross of the accessplanit invoice (document-level VAT)."""
        net = sum((price * qty for _, price, qty in p.lines), _ZERO)
        return net + _q(net * VAT_RATE)

    def pay(self, p: _Plan, amount: Decimal, earliest: int | None = None, **kw: Any) -> _PayPlan:
        """Add a payment to the plan, in both systems unless told otherwise."""
        rng = self.rng
        label = _METHODS[bisect(_METHOD_CUM, rng.random() * _METHOD_CUM[-1])]
        first = earliest or p.issue_day
        day = first + int(rng.random() * (self.days - first + 1))
        ref = _payment_reference(label, p.slot, len(p.payments), rng)
        pay = _PayPlan(amount, day, ref, label, ledger_reference=ref, ledger_code=METHOD_ACCOUNTS[label])
        for name, value in kw.items():
            setattr(pay, name, value)
        p.payments.append(pay)
        return pay

    def _plan_matched_open(self, p: _Plan, total: Decimal) -> None:
        """A matched invoice nobody has paid yet: the plan's defaults (same fields, no payments) already are one."""

    def _plan_matched_paid(self, p: _Plan, total: Decimal) -> None:
        mean = self.paid_instalments
        if mean == 1.0:  # no extra draw, same amounts: the default month stays exactly as it was
            self.pay(p, total)
            return
        n = int(mean) + (1 if self.rng.random() < mean - int(mean) else 0)
        minor = int(total * 100)  # matched_paid invoices are in GBP
        # Days drawn independently over the rest of the month, then sorted: chaining each instalment after the one
        # before would pile the last ones up at the month's end (and stamp thousands of payments in one hour).
        span = self.days - p.issue_day + 1
        days = sorted(p.issue_day + int(self.rng.random() * span) for _ in range(n))
        for i, day in enumerate(days):
            part = Decimal(minor // n + (minor % n if i == n - 1 else 0)) / 100
            self.pay(p, part.quantize(_ZERO), day=day)

    def _plan_matched_part_paid(self, p: _Plan, total: Decimal) -> None:
        self.pay(p, _part(total, self.rng))

    def _plan_matched_two_payments(self, p: _Plan, total: Decimal) -> None:
        first = _part(total, self.rng)
        day = self.pay(p, first).day
        self.pay(p, total - first, earliest=day)

    def _plan_matched_contact_spelling(self, p: _Plan, total: Decimal) -> None:
        if self.rng.random() < 0.5:
            p.contact_label = "  " + p.contact.upper().replace(" ", "  ") + " "
        else:
            p.contact_label = None  # TargetLabel missing: the rules fall back to CompanyName
        self.pay(p, total)

    def _plan_matched_number_case(self, p: _Plan, total: Decimal) -> None:
        p.source_number = p.number.lower() + " "
        self.pay(p, total)

    def _plan_foreign_currency(self, p: _Plan, total: Decimal) -> None:
        p.currency, p.rate = self.rng.choice(_FOREIGN)
        self.pay(p, total)

    def _plan_rounding_one_cent(self, p: _Plan, total: Decimal) -> None:
        pass  # unpaid on purpose: a payment of either total would make the payments differ

    def _plan_only_in_source(self, p: _Plan, total: Decimal) -> None:
        p.in_ledger = False

    def _plan_only_in_source_deleted_in_ledger(self, p: _Plan, total: Decimal) -> None:
        p.ledger_deleted = True

    def _plan_only_in_ledger(self, p: _Plan, total: Decimal) -> None:
        p.in_source = False
        if self.rng.random() < 0.5:
            self.pay(p, total)

    def _plan_po_changed_source(self, p: _Plan, total: Decimal) -> None:
        p.ledger_po = p.po
        p.po = f"PO-{self.rng.randrange(100000, 999999)}"
        if self.rng.random() < 0.5:
            self.pay(p, total)

    def _plan_po_changed_ledger(self, p: _Plan, total: Decimal) -> None:
        # edited in Xero: a new PO number, or (sometimes) the PO cleared
        cleared = bool(p.po) and self.rng.random() < 0.25
        p.ledger_po = "" if cleared else f"PO-{self.rng.randrange(100000, 999999)}"
        p.ledger_later = True

    def _plan_due_changed_source(self, p: _Plan, total: Decimal) -> None:
        p.ledger_due_day = p.due_day
        p.due_day = p.due_day + 7 if p.due_day + 7 <= self.days else p.due_day - 7

    def _plan_due_changed_ledger(self, p: _Plan, total: Decimal) -> None:
        p.ledger_due_day = p.due_day + 7 if p.due_day + 7 <= self.days else p.due_day - 7
        p.ledger_later = True

    def _plan_amounts_differ(self, p: _Plan, total: Decimal) -> None:
        p.ledger_line_bump = Decimal(self.rng.choice(("25.00", "50.00", "-20.00")))
        p.ledger_later = True

    def _plan_payment_only_in_source(self, p: _Plan, total: Decimal) -> None:
        self.pay(p, total, in_ledger=False)

    def _plan_payment_only_in_ledger(self, p: _Plan, total: Decimal) -> None:
        self.pay(p, total, in_source=False)
        p.ledger_later = True

    def _plan_refund(self, p: _Plan, total: Decimal) -> None:
        pay = self.pay(p, total)
        net = self.rng.choice(_REFUND_NETS)
        gross = net + _q(net * VAT_RATE)
        if gross >= total:  # a refund smaller than the invoice keeps the example a part refund
            net = Decimal("10.00")
            gross = Decimal("12.00")
        p.refund = (net, gross, self.rng.randint(pay.day, self.days), f"RF-{p.slot:06d}")

    def _plan_void_both(self, p: _Plan, total: Decimal) -> None:
        p.source_void = p.ledger_void = True

    def _plan_void_source_only(self, p: _Plan, total: Decimal) -> None:
        p.source_void = True

    def _plan_void_ledger_only(self, p: _Plan, total: Decimal) -> None:
        p.ledger_void = True
        p.ledger_later = True

    def _plan_duplicate_payment(self, p: _Plan, total: Decimal) -> None:
        # a quarter of the total, logged twice: still below the total, so accessplanit accepts both
        quarter = (total / 4).quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(_CENT)
        self.pay(p, quarter if quarter > 0 else _CENT, copies=2)

    def _plan_payment_reference_differs(self, p: _Plan, total: Decimal) -> None:
        self.pay(p, total, ledger_reference=f"Remittance {self.rng.randrange(100000, 999999)}")

    def _plan_payment_method_differs(self, p: _Plan, total: Decimal) -> None:
        pay = self.pay(p, total)
        pay.ledger_code = "090" if pay.method != "BACS" else "091"

    def _plan_invalid_source_payment(self, p: _Plan, total: Decimal) -> None:
        p.bad_source_payment = True

    def _plan_invalid_ledger_invoice(self, p: _Plan, total: Decimal) -> None:
        p.in_source = False
        p.bad_ledger_date = True

    # --- wire records -------------------------------------------------------------------------------------------
    def emit(self, p: _Plan) -> None:
        self.scenarios[_invoice_key(p.number)] = p.scenario
        if p.in_source:
            self.emit_source(p)
        if p.in_ledger:
            self.emit_ledger(p)

    def updated(self, p: _Plan, later: bool) -> tuple[int, int]:
        """(day, seconds into the day) of the last change on one side. The side edited last (`later`) is later,
        so an incremental sync and a person can both tell which side changed."""
        last = max((pay.day for pay in p.payments), default=p.issue_day)
        if p.refund is not None:
            last = max(last, p.refund[2])
        day = min(self.days, max(last, p.issue_day + 1))
        seconds = 8 * 3600 + (p.slot * 37) % 36000  # 08:00 to 17:59
        if later:
            if day < self.days:
                day += 1
            else:
                seconds += 4 * 3600  # the month's last day: later the same evening
        return day, seconds

    def emit_source(self, p: _Plan) -> None:
        ap = self.ap
        inv_id = str(5001 + p.slot)
        items = ap["InvoiceItem"]
        net_total = _ZERO
        for desc, price, qty in p.lines:
            net = price * qty
            tax = _q(net * VAT_RATE)
            net_total += net
            self.item_id += 1
            items.append(
                {"ID": str(self.item_id), "InvoiceID": inv_id, "DynamicLabel": desc, "Amount": net + tax, "Tax": tax}
            )
        tax_total = _q(net_total * VAT_RATE)
        gross = net_total + tax_total
        paid = _ZERO
        transactions = ap["Transaction"]
        for pay in p.payments:
            if not pay.in_source:
                continue
            for _ in range(pay.copies):
                self.transaction_id += 1
                transactions.append(
                    self.transaction(inv_id, "Payment", pay.amount, pay.day, pay.reference, pay.method, p)
                )
                paid += pay.amount
        if p.refund is not None:
            _net, refund_gross, day, ref = p.refund
            self.transaction_id += 1
            label = p.payments[0].method
            transactions.append(self.transaction(inv_id, "Refund", refund_gross, day, ref, label, p))
            paid -= refund_gross
        if p.bad_source_payment:
            self.transaction_id += 1
            bad = self.transaction(inv_id, "Payment", Decimal("12.50"), p.issue_day, f"CASH-{p.slot}", "Cash", p)
            bad["Amount"] = "12,50"  # a European decimal comma: unreadable as an amount
            transactions.append(bad)
            paid += Decimal("12.50")
        if p.source_void:
            status, paid, outstanding = "Cancelled", _ZERO, _ZERO
        else:
            outstanding = gross - paid
            status = "Paid" if outstanding == 0 and gross > 0 else "Part Paid" if paid > 0 else "Outstanding"
        up_day, up_sec = self.updated(p, not p.ledger_later)
        ap["Invoice"].append(
            {
                "ID": inv_id,
                "Reference": p.source_number,
                "Amount": net_total,
                "Tax": tax_total,
                "TaxRate": Decimal("20.00"),
                "AmountPaid": paid,
                "Outstanding": outstanding,
                "Status": status,
                "CurrencyCode": p.currency,
                "DateCreated": f"{self.iso_date[p.issue_day]}T{9 + p.slot % 8:02d}:{p.slot % 60:02d}:00",
                "DateDue": self.iso_midnight[p.due_day],
                "DateUpdated": f"{self.iso_date[up_day]}T{timedelta(seconds=up_sec)!s:0>8}",
                "TargetIDType": "Company",
                "TargetID": str(301 + p.contact_index),
                "TargetLabel": p.contact_label,
                "CompanyName": p.source_company,
                "PONumber": p.po or None,
            }
        )

    def transaction(
        self, inv_id: str, kind: str, amount: Decimal, day: int, ref: str, label: str, p: _Plan
    ) -> dict[str, Any]:
        stamp = f"{self.iso_date[day]}T{10 + p.slot % 7:02d}:{self.transaction_id % 60:02d}:00"
        return {
            "ID": str(self.transaction_id),
            "InvoiceID": inv_id,
            "TransactionType": kind,
            "Amount": amount,
            "TransactionMethodID": self.method_id[label],
            "TransactionMethodLabel": label,
            "TransactionDate": self.iso_midnight[day],
            "Reference": ref,
            "CurrencyCode": p.currency,
            "DateCreated": stamp,
            "DateUpdated": stamp,
        }

    def line_item(self, name: str, desc: str, price: Decimal, qty: int) -> dict[str, Any]:
        amount = price * qty
        return {
            "LineItemID": self.guid(name),
            "Description": desc,
            "Quantity": _QTY1 * qty,
            "UnitAmount": price,
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
            "TaxAmount": _q(amount * VAT_RATE),  # Xero: VAT per line, rounded, then summed
            "LineAmount": amount,
        }

    def emit_ledger(self, p: _Plan) -> None:
        slot = p.slot
        inv_guid = self.guid(f"invoice:{slot}")
        lines = []
        for k, (desc, price, qty) in enumerate(p.lines):
            if k == 0 and p.ledger_line_bump is not None:
                price = price + p.ledger_line_bump
            lines.append(self.line_item(f"line:{slot}:{k}", desc, price, qty))
        sub = sum((li["LineAmount"] for li in lines), _ZERO)
        tax = sum((li["TaxAmount"] for li in lines), _ZERO)
        total = sub + tax
        number = p.ledger_number
        contact = self.contact_ref(p.contact)
        inv_ref = {"Type": "ACCREC", "InvoiceID": inv_guid, "InvoiceNumber": number, "CurrencyCode": p.currency}
        summaries = []
        paid = _ZERO
        last_day = 0
        for i, pay in enumerate(p.payments):
            if not pay.in_ledger:
                continue
            amount, day, led_ref = pay.amount, pay.day, pay.ledger_reference
            pid = self.guid(f"payment:{slot}:{i}")
            self.xp.append(self.payment(pid, "ACCRECPAYMENT", amount, day, led_ref, pay.ledger_code, inv_ref, p))
            summaries.append(
                {
                    "PaymentID": pid,
                    "Date": self.ms_date[day],
                    "Amount": amount,
                    "Reference": led_ref,
                    "CurrencyRate": p.rate or Decimal("1.000000"),
                    "HasAccount": False,
                    "HasValidationErrors": False,
                }
            )
            paid += amount
            last_day = max(last_day, day)
        if p.refund is not None:
            self.emit_refund(p, contact, number)
        if p.ledger_void:
            status, paid, due = "VOIDED", _ZERO, _ZERO  # Xero shows a voided invoice with nothing due
        elif p.ledger_deleted:
            status, due = "DELETED", _ZERO
        else:
            due = total - paid
            status = "PAID" if due == 0 and paid > 0 else "AUTHORISED"
        up_day, up_sec = self.updated(p, p.ledger_later)
        invoice: dict[str, Any] = {
            "Type": "ACCREC",
            "InvoiceID": inv_guid,
            "InvoiceNumber": number,
            "Reference": p.ledger_po,
            "Contact": contact,
            "Date": "not a date" if p.bad_ledger_date else self.ms_date[p.issue_day],
            "DateString": "not a date" if p.bad_ledger_date else self.iso_midnight[p.issue_day],
            "DueDate": self.ms_date[p.ledger_due_day],
            "DueDateString": self.iso_midnight[p.ledger_due_day],
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": lines,
            "SubTotal": sub,
            "TotalTax": tax,
            "Total": total,
            "AmountDue": due,
            "AmountPaid": paid,
            "AmountCredited": _ZERO,
            "CurrencyCode": p.currency,
            "CurrencyRate": p.rate or Decimal("1.000000"),
            "IsDiscounted": False,
            "HasAttachments": False,
            "HasErrors": False,
            "Payments": summaries,
            "CreditNotes": [],
            "UpdatedDateUTC": f"/Date({self.ms_day[up_day] + up_sec * 1000}+0000)/",
        }
        if status == "PAID":
            invoice["FullyPaidOnDate"] = self.ms_date[last_day]
        self.xi.append(invoice)

    def payment(
        self, pid: str, kind: str, amount: Decimal, day: int, ref: str, code: str, target: dict[str, Any], p: _Plan
    ) -> dict[str, Any]:
        rate = p.rate or Decimal("1.000000")
        return {
            "PaymentID": pid,
            "Date": self.ms_date[day],
            "BankAmount": amount if p.rate is None else _q(amount / rate),
            "Amount": amount,
            "Reference": ref,
            "CurrencyRate": rate,
            "PaymentType": kind,
            "Status": "AUTHORISED",
            "UpdatedDateUTC": self.spread(day, 11, pid),
            "HasAccount": True,
            "IsReconciled": False,
            "Account": self.account_refs[code],
            "Invoice": target,
        }

    def emit_refund(self, p: _Plan, contact: dict[str, str], number: str) -> None:
        """A refund in Xero: a credit note referencing the invoice, paid out by an ARCREDITPAYMENT."""
        assert p.refund is not None
        net, gross, day, ref = p.refund
        self.credit_note_no += 1
        cn_id = self.guid(f"creditnote:{p.slot}")
        cn_number = f"CN-{self.credit_note_no:04d}"
        pid = self.guid(f"refund:{p.slot}")
        code = METHOD_ACCOUNTS[p.payments[0].method]
        target = {"Type": "ACCRECCREDIT", "InvoiceID": cn_id, "InvoiceNumber": cn_number, "CurrencyCode": p.currency}
        refund = self.payment(pid, "ARCREDITPAYMENT", gross, day, ref, code, target, p)
        refund["CreditNote"] = {"CreditNoteID": cn_id, "CreditNoteNumber": cn_number}
        self.xp.append(refund)
        line = self.line_item(f"creditnote-line:{p.slot}", f"Refund: {p.lines[0][0]}", net, 1)
        self.xc.append(
            {
                "Type": "ACCRECCREDIT",
                "CreditNoteID": cn_id,
                "CreditNoteNumber": cn_number,
                "Reference": number,  # our convention: the credit note names the invoice it refunds
                "Contact": contact,
                "Date": self.ms_date[day],
                "DateString": self.iso_midnight[day],
                "Status": "PAID",
                "LineAmountTypes": "Exclusive",
                "LineItems": [line],
                "SubTotal": net,
                "TotalTax": line["TaxAmount"],
                "Total": gross,
                "RemainingCredit": _ZERO,
                "CurrencyCode": p.currency,
                "CurrencyRate": p.rate or Decimal("1.000000"),
                "FullyPaidOnDate": self.ms_date[day],
                "Allocations": [],
                "Payments": [
                    {
                        "PaymentID": pid,
                        "Date": self.ms_date[day],
                        "Amount": gross,
                        "Reference": ref,
                        "CurrencyRate": p.rate or Decimal("1.000000"),
                        "HasAccount": False,
                        "HasValidationErrors": False,
                    }
                ],
                "HasAttachments": False,
                "UpdatedDateUTC": self.spread(day, 12, pid),
            }
        )

    # --- envelopes ------------------------------------------------------------------------------------------------
    def envelope(self, name: str, items: list[dict[str, Any]], paged: bool = True) -> dict[str, Any]:
        last = self.ms_day[self.days] + 86_399_000
        env: dict[str, Any] = {
            "Id": self.guid(f"response:{name}"),
            "Status": "OK",
            "ProviderName": "Recondesk sandbox",
            "DateTimeUTC": f"/Date({last})/",
        }
        if paged:
            env["pagination"] = {"page": 1, "pageSize": max(1, len(items)), "pageCount": 1, "itemCount": len(items)}
        env[name] = items
        return env

    def spread(self, day: int, hour: int, guid: str) -> str:
        """An `UpdatedDateUTC` in `hour` of `day`, at a second taken from the record's GUID: real records of one day
        are not all stamped the same second (which would make every incremental sync re-read them all), and no draw
        from the shared random stream is needed (which would move every record generated after it)."""
        second = int(guid.replace("-", "")[:8], 16) % 3600
        return f"/Date({self.ms_day[day] + 3_600_000 * hour + second * 1000}+0000)/"

    def contact_updated(self, contact_id: str) -> str:
        """A contact's `UpdatedDateUTC`: a second of the month taken from its GUID, so it is deterministic without
        drawing from the shared random stream (which would move every record generated after it). Real contacts
        carry one, and without it `If-Modified-Since` cannot leave unchanged contacts out."""
        second = int(contact_id[:8], 16) % (self.days * 86_400)
        return f"/Date({self.ms_day[1] + second * 1000}+0000)/"

    def xero(self) -> dict[str, dict[str, Any]]:
        contacts = [
            {
                "ContactID": ref["ContactID"],
                "ContactStatus": "ACTIVE",
                "Name": name,
                "EmailAddress": "accounts@" + re.sub(r"[^a-z]", "", name.lower())[:20] + ".example",
                "IsCustomer": True,
                "IsSupplier": False,
                "HasValidationErrors": False,
                "UpdatedDateUTC": self.contact_updated(ref["ContactID"]),
            }
            for name, ref in self.contact_refs.items()
        ]
        organisation = {
            "OrganisationID": self.guid("organisation"),
            "Name": "Recondesk Sandbox Training Ltd",
            "LegalName": "Recondesk Sandbox Training Ltd",
            "PaysTax": True,
            "Version": "UK",
            "OrganisationType": "COMPANY",
            "BaseCurrency": BASE_CURRENCY,
            "CountryCode": "GB",
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "SalesTaxBasis": "ACCRUALS",
            "SalesTaxPeriod": "QUARTERLY1",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "Timezone": "GMTSTANDARDTIME",
            "OrganisationEntityType": "COMPANY",
            "ShortCode": "!" + self.guid("shortcode")[:5],
            "Edition": "BUSINESS",
            "Class": "STANDARD",
        }
        tax_rates = [
            {
                "Name": "20% (VAT on Income)",
                "TaxType": "OUTPUT2",
                "ReportTaxType": "OUTPUT",
                "Status": "ACTIVE",
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": False,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": True,
                "DisplayTaxRate": Decimal("20.0000"),
                "EffectiveRate": Decimal("20.0000"),
                "TaxComponents": [
                    {"Name": "VAT", "Rate": Decimal("20.0000"), "IsCompound": False, "IsNonRecoverable": False}
                ],
            },
            {
                "Name": "No VAT",
                "TaxType": "NONE",
                "ReportTaxType": "NONE",
                "Status": "ACTIVE",
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": True,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": True,
                "DisplayTaxRate": Decimal("0.0000"),
                "EffectiveRate": Decimal("0.0000"),
                "TaxComponents": [
                    {"Name": "None", "Rate": Decimal("0.0000"), "IsCompound": False, "IsNonRecoverable": False}
                ],
            },
        ]
        return {
            "Invoices": self.envelope("Invoices", self.xi),
            "Payments": self.envelope("Payments", self.xp),
            "CreditNotes": self.envelope("CreditNotes", self.xc),
            "Contacts": self.envelope("Contacts", contacts),
            "TaxRates": self.envelope("TaxRates", tax_rates, paged=False),
            "Accounts": self.envelope("Accounts", list(self.accounts.values()), paged=False),
            "Organisation": self.envelope("Organisations", [organisation], paged=False),
        }


def _pick(seq: tuple[Any, ...], rnd: Callable[[], float]) -> Any:
    return seq[int(rnd() * len(seq))]


def _part(total: Decimal, rng: random.Random) -> Decimal:
    """A part payment: a round share of the total, strictly between 0 and the total."""
    share = rng.choice((Decimal("0.25"), Decimal("0.4"), Decimal("0.5"), Decimal("0.6")))
    amount = (total * share).quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(_CENT)  # whole pounds, 2 dp
    if amount <= 0 or amount >= total:
        amount = _q(total / 2)
    return amount


def _payment_reference(label: str, slot: int, index: int, rng: random.Random) -> str:
    """A reference that looks like the method's own (Stripe charge id, cheque number, bank remittance)."""
    if label == "Stripe":
        return f"ch_3P{slot:07d}{index}{rng.randrange(16**6):06x}"
    if label == "PayPal":
        return f"PAYID-{slot:07d}{index}{rng.randrange(36**3):04d}"
    if label == "Cheque":
        return f"CHQ {rng.randrange(100000, 999999)}"
    if label == "Card":
        return f"CARD-{slot:07d}-{index}"
    if label == "Cash":
        return f"CASH-{slot:07d}-{index}"
    return f"BACS {slot:07d}-{index}"


def generate(seed: int = 1, invoices: int = 200, month: str = "2026-10", *, paid_instalments: float = 1.0) -> Dataset:
    """Make one month of both systems' records and the items the app must produce. Same arguments, same output.

    `paid_instalments`: the mean number of payments an invoice paid in full (`matched_paid`) is paid in, in both
    systems (1 by default; about 3.9 gives 150,000 payments a system for 100,000 invoices, the month issue 4's
    throughput figure asks for)."""
    if not 1.0 <= paid_instalments <= 50.0:
        raise ValueError("paid_instalments must be between 1 and 50")
    with _no_gc():
        m = _Month(seed, invoices, month)
        m.paid_instalments = paid_instalments
        for slot, scenario in enumerate(m.scenario_list()):
            m.emit(m.plan(slot, scenario))
        xero = m.xero()
        return Dataset(
            accessplanit=m.ap,
            xero=xero,
            expected=expected_items(m.ap, xero),
            scenarios=m.scenarios,
            month=month,
            seed=seed,
        )


# ==================================================================================================================
# The oracle: docs/reconciliation.md applied to wire records
# ==================================================================================================================

_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = date(1970, 1, 1)


class _Unreadable(ValueError):
    """A field the rules need could not be read; the record becomes an `invalid` item."""


def _invoice_key(number: str | None) -> str:
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


class _Dates:
    """Cached date parsing: the month has ~31 distinct dates, the records have millions of copies of them."""

    def __init__(self) -> None:
        self._iso: dict[str, date] = {}
        self._ms: dict[str, date] = {}

    def iso(self, value: object, what: str, *, optional: bool = False) -> date | None:
        """Date part of an accessplanit ISO datetime (`2026-10-14T00:00:00`, no offset)."""
        if value is None or value == "":
            if optional:
                return None
            raise _Unreadable(f"{what} is missing")
        if not isinstance(value, str):
            raise _Unreadable(f"{what} is not a date: {value!r}")
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
        if value is None or value == "":
            if optional:
                return None
            raise _Unreadable(f"{what} is missing")
        if not isinstance(value, str):
            raise _Unreadable(f"{what} is not a date: {value!r}")
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


_AP_STATES = {"Cancelled": "void", "Credited": "void", "Paid": "paid", "Part Paid": "part_paid", "Outstanding": "open"}
_INVOICE_FIELDS = (
    "contact",
    "issue_date",
    "due_date",
    "po_number",
    "currency",
    "net",
    "tax",
    "total",
    "paid",
    "due",
    "state",
    "lines",
)


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
) -> list[dict[str, Any]]:
    """The report items (product.md section 5) the rules of docs/reconciliation.md give for these wire records.

    Works on any records in the fixture shapes (generated or loaded with `json.loads(..., parse_float=Decimal)`).
    Order: invoice items by first appearance (accessplanit first), each followed by its payment items; invalid
    items last. The order carries no meaning; compare by `key`.
    """
    with _no_gc():
        return _expected_items(accessplanit, xero, tolerance, method_accounts)


def _expected_items(
    accessplanit: Mapping[str, Iterable[Mapping[str, Any]]],
    xero: Mapping[str, Mapping[str, Any]],
    tol: Decimal,
    method_accounts: Mapping[str, str],
) -> list[dict[str, Any]]:
    dates = _Dates()
    iso, ms = dates.iso, dates.ms
    invalid: list[dict[str, Any]] = []
    key_of = _invoice_key
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
            state = _AP_STATES.get(g("Status"))  # type: ignore[arg-type]
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
    for cn in xero.get("CreditNotes", {}).get("CreditNotes", ()):
        credit_note_reference[str(cn.get("CreditNoteID"))] = _text(cn.get("Reference"))

    ledger_pays: list[_Pay] = []
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

    # ---- accessplanit transactions ----
    source_pays: list[_Pay] = []
    for rec in accessplanit.get("Transaction", ()):
        g = rec.get
        rid = str(g("ID"))
        key_or_none = source_by_id.get(str(g("InvoiceID")))
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
        found_items.extend(_match_payments(key, s_list, x_list, tol, method_accounts, currency))

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
                {
                    "kind": "invoice",
                    "key": key,
                    "status": "only_in_source",
                    "fields": [],
                    "accessplanit_id": s.id,
                    "xero_id": None,
                    "push": None,
                }
            )
        more = payment_items.pop(key, None)
        if more:
            items.extend(more)
    for key, x in ledger.items():
        if key in source:
            continue
        items.append(
            {
                "kind": "invoice",
                "key": key,
                "status": "only_in_ledger",
                "fields": [],
                "accessplanit_id": None,
                "xero_id": x.id,
                "push": None,
            }
        )
        more = payment_items.pop(key, None)
        if more:
            items.extend(more)
    for more in payment_items.values():  # payments on an invoice neither side could read (or "?")
        items.extend(more)
    items.extend(invalid)
    return items


def _payment_order(p: _Pay) -> tuple[date, Decimal, tuple[int, int, str]]:
    return (p.date, p.amount, _natural(p.id))


def _reference(p: _Pay) -> str:
    return p.reference.strip().casefold()


def _match_payments(
    key: str, s_list: list[_Pay], x_list: list[_Pay], tol: Decimal, method_accounts: Mapping[str, str], currency: str
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
    out: list[dict[str, Any]] = []
    for i, s in enumerate(s_sorted):
        partner = pair_of.get(i)
        if partner is None:
            out.append(_payment_item(key, s, None, "only_in_source", [], currency))
            continue
        out.append(_paired_item(key, s, x_sorted[partner], tol, method_accounts, currency))
    for j, x in enumerate(x_sorted):
        if x_free[j]:
            out.append(_payment_item(key, None, x, "only_in_ledger", [], currency))
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
    if mapped is None or mapped != x.method:
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


# ==================================================================================================================
# Files
# ==================================================================================================================

_CHUNK = 20_000
_OPEN, _CLOSE = '"\\u0000', '\\u0000"'  # how json writes the NUL marks around a Decimal's string


def _default(value: object) -> object:
    """JSON has no Decimal: write it as a NUL-marked string, whose quotes `_dumps` then removes, so 12.50 is
    written as the number 12.50 exactly (a float would lose the trailing zero, or worse). Our records never hold
    a NUL character, so the marks cannot meet real text."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        return f"\0{value}\0"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    text = json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    return text.replace(_OPEN, "").replace(_CLOSE, "")  # two C-speed passes; a regex with groups is 5x slower


def _write_json(path: Path, head: Mapping[str, Any], list_key: str, items: list[dict[str, Any]]) -> None:
    """Write `{**head, list_key: items}` in chunks, so a million records never become one giant string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        prefix = _dumps({k: v for k, v in head.items() if k != list_key})
        out.write(prefix[:-1] + ("," if len(prefix) > 2 else "") + json.dumps(list_key) + ":[")
        for start in range(0, len(items), _CHUNK):
            if start:
                out.write(",")
            out.write(_dumps(items[start : start + _CHUNK])[1:-1])
        out.write("]}\n")


def write_fixtures(ds: Dataset, directory: str | Path) -> None:
    """Write the product.md section 4 layout: `accessplanit/<Module>.json` as `{"results": [...]}` and
    `xero/<Collection>.json` as Xero's response envelopes. Money is written as exact JSON numbers."""
    root = Path(directory)
    for module, records in ds.accessplanit.items():
        _write_json(root / "accessplanit" / f"{module}.json", {}, "results", records)
    for name, env in ds.xero.items():
        list_key = next(k for k, v in env.items() if isinstance(v, list))
        _write_json(root / "xero" / f"{name}.json", env, list_key, env[list_key])


def write_expected(ds: Dataset, path: str | Path) -> None:
    """Write `{"items": [...]}` (the report JSON's items shape), plus `period` and `seed` for people."""
    _write_json(Path(path), {"period": ds.month, "seed": ds.seed}, "items", ds.expected)


def read_fixtures(directory: str | Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Read a fixtures directory back (Decimal kept exact); a missing file is an empty collection."""
    root = Path(directory)
    ap: dict[str, list[dict[str, Any]]] = {}
    for module in ("Invoice", "InvoiceItem", "Transaction", "TransactionMethod"):
        path = root / "accessplanit" / f"{module}.json"
        ap[module] = json.loads(path.read_text("utf-8"), parse_float=Decimal)["results"] if path.exists() else []
    xero: dict[str, dict[str, Any]] = {}
    for name in ("Invoices", "Payments", "CreditNotes", "Contacts", "TaxRates", "Accounts", "Organisation"):
        path = root / "xero" / f"{name}.json"
        list_key = "Organisations" if name == "Organisation" else name
        xero[name] = json.loads(path.read_text("utf-8"), parse_float=Decimal) if path.exists() else {list_key: []}
    return ap, xero


def main(argv: list[str] | None = None) -> int:
    """`python -m app.sandbox.generator [--seed N] [--invoices N] [--month YYYY-MM] [--fixtures DIR]
    [--expected FILE] [--check DIR]`: write a month as fixtures (for `recondesk sandbox --fixtures DIR`) and its
    expected items, and print one JSON line of figures (counts per status, seconds, peak memory).
    `--check DIR` instead computes the expected items of an existing fixtures directory (to `--expected`)."""
    import argparse
    import resource
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m app.sandbox.generator", description=main.__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--paid-instalments", type=float, default=1.0, help="mean payments of an invoice paid in full")
    parser.add_argument("--fixtures", type=Path, help="write the fixture files here")
    parser.add_argument("--expected", type=Path, help="write the expected items here")
    parser.add_argument("--check", type=Path, help="read this fixtures directory instead of generating")
    args = parser.parse_args(argv)

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    if args.check is not None:
        ap, xero = read_fixtures(args.check)
        ds = Dataset(ap, xero, expected_items(ap, xero), month=args.month, seed=args.seed)
        figures["read_and_reconcile_s"] = round(time.perf_counter() - started, 2)
    else:
        ds = generate(seed=args.seed, invoices=args.invoices, month=args.month, paid_instalments=args.paid_instalments)
        figures["generate_s"] = round(time.perf_counter() - started, 2)
    if args.fixtures is not None and args.check is None:
        started = time.perf_counter()
        write_fixtures(ds, args.fixtures)
        figures["write_fixtures_s"] = round(time.perf_counter() - started, 2)
    if args.expected is not None:
        write_expected(ds, args.expected)
    counts: dict[str, int] = {}
    for item in ds.expected:
        name = f"{item['kind']}:{item['status']}"
        counts[name] = counts.get(name, 0) + 1
    if args.check is None:
        figures["invoices"] = len(ds.scenarios)
    else:
        figures["accessplanit_invoices"] = len(ds.accessplanit["Invoice"])
    figures.update(
        items=len(ds.expected),
        statuses=dict(sorted(counts.items())),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The scenarios: which cases a generated month contains, how many of each, and what each invoice should look
like on each side (a `Plan`), before any wire record is written.

All randomness of the month is drawn here, from one `random.Random(seed)`, in slot order: the wire writers
(`accessplanit`, `xero`) turn plans into records without drawing, so the same seed always gives the same month.
Moving, adding or removing a draw changes every record after it (tests/sandbox/test_generator_pinned.py notices).
This module knows no wire format and no reconciliation rule beyond the method mapping it files payments under.
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from typing import TypeVar

from app.sandbox.generator.oracle import BASE_CURRENCY, METHOD_ACCOUNTS

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
    # One payment for up to three invoices of one customer: one accessplanit Transaction allocated across them
    # (`TransactionInvoices`), a Xero batch payment (one Payment per invoice sharing a BatchPaymentID).
    ("combined_payment", 1.5),
    # A goodwill credit note raised in Xero for the customer, not yet allocated: a ledger-only credit (its own item).
    ("ledger_credit", 0.3),
    # Paid through a Xero overpayment: the customer sent more than the invoice; the overpayment is allocated to the
    # invoice and the rest stays unallocated (an item of its own). accessplanit records the invoice's payment.
    ("overpayment", 0.3),
    # Paid before the invoice: a Xero prepayment received on or before the issue day, allocated to the invoice.
    ("prepayment", 0.3),
    # Part credited: a Xero credit note allocated to the invoice; accessplanit logs the credit on the booking.
    ("credit_allocation", 0.3),
    # Cancelled after a part payment: a Xero credit note allocated to what was due, the rest refunded out of it.
    ("credit_refund", 0.2),
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
METHODS = ("BACS", "Card", "Cheque", "Cash", "Stripe", "PayPal")  # accessplanit TransactionMethod labels, IDs 1-6
CREDIT_METHOD = "Credit Note"  # accessplanit TransactionMethod 7: a credit logged on a booking (never drawn)
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

VAT_RATE = Decimal("0.20")  # Xero OUTPUT2, "20% (VAT on Income)"

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_T = TypeVar("_T")


def q(amount: Decimal) -> Decimal:
    """Round to pence, half up (what both systems do)."""
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Calendar:
    """The generated month: `YYYY-MM`, its first day and its number of days."""

    month: str
    first: date
    days: int

    @classmethod
    def of(cls, month: str) -> Calendar:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise ValueError(f"month must be YYYY-MM, not {month!r}") from exc
        return cls(month, first, calendar.monthrange(first.year, first.month)[1])


@dataclass(slots=True)
class PayPlan:
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
    batch: str = ""  # the combined payment it is a part of ("" for a payment on this invoice only)
    # Xero has it as an allocation of a credit to the invoice, not as a Payment: "overpayment" (`extra` left over),
    # "prepayment" (allocated on the issue day), "credit_note" (a credit note; accessplanit: the `CREDIT_METHOD`).
    credit: str = ""
    extra: Decimal = Decimal("0.00")


class Plan:
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
        "ledger_credit",
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
        self.payments: list[PayPlan] = []
        self.refund: tuple[Decimal, Decimal, int, str] | None = None  # (net, gross, day, reference)
        self.ledger_credit: tuple[Decimal, int] | None = None  # an unallocated Xero credit note: (net, day)
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


def last_change(p: Plan, later: bool, days: int) -> tuple[int, int]:
    """(day, seconds into the day) of the last change on one side. The side edited last (`later`) is later,
    so an incremental sync and a person can both tell which side changed."""
    last = max((pay.day for pay in p.payments), default=p.issue_day)
    if p.refund is not None:
        last = max(last, p.refund[2])
    day = min(days, max(last, p.issue_day + 1))
    seconds = 8 * 3600 + (p.slot * 37) % 36000  # 08:00 to 17:59
    if later:
        if day < days:
            day += 1
        else:
            seconds += 4 * 3600  # the month's last day: later the same evening
    return day, seconds


class Planner:
    """Places the scenarios over a month's invoice slots and plans each slot."""

    def __init__(self, seed: int, invoices: int, cal: Calendar, paid_instalments: float = 1.0) -> None:
        self.n = invoices
        self.days = cal.days
        self.paid_instalments = paid_instalments
        self.rng = random.Random(seed)
        self.contacts = _contacts(max(8, invoices // 6))
        # The combined payment being filled: (batch name, contact index, template payment, invoices in it so far).
        self.batch: tuple[str, int, PayPlan, int] | None = None

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
    def plan(self, slot: int, scenario: str) -> Plan:
        # random() and index arithmetic instead of choice/randint: same determinism, a third of the cost
        rnd = self.rng.random
        p = Plan(slot, scenario)
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
        build: Callable[[Plan, Decimal], None] = getattr(self, f"_plan_{scenario}")
        build(p, total)
        return p

    def total(self, p: Plan) -> Decimal:
        """Gross of the accessplanit invoice (document-level VAT)."""
        net = sum((price * qty for _, price, qty in p.lines), _ZERO)
        return net + q(net * VAT_RATE)

    def pay(
        self,
        p: Plan,
        amount: Decimal,
        earliest: int | None = None,
        *,
        day: int | None = None,
        in_source: bool = True,
        in_ledger: bool = True,
        ledger_reference: str | None = None,
        copies: int = 1,
    ) -> PayPlan:
        """Add a payment to the plan, in both systems unless told otherwise. The method, day and reference are
        always drawn (a given `day` or `ledger_reference` replaces the draw's), so options never move later draws."""
        rng = self.rng
        label = METHODS[bisect(_METHOD_CUM, rng.random() * _METHOD_CUM[-1])]
        first = earliest or p.issue_day
        drawn_day = first + int(rng.random() * (self.days - first + 1))
        ref = _payment_reference(label, p.slot, len(p.payments), rng)
        pay = PayPlan(
            amount,
            drawn_day if day is None else day,
            ref,
            label,
            in_source=in_source,
            in_ledger=in_ledger,
            ledger_reference=ref if ledger_reference is None else ledger_reference,
            ledger_code=METHOD_ACCOUNTS[label],
            copies=copies,
        )
        p.payments.append(pay)
        return pay

    def _plan_matched_open(self, p: Plan, total: Decimal) -> None:
        """A matched invoice nobody has paid yet: the plan's defaults (same fields, no payments) already are one."""

    def _plan_matched_paid(self, p: Plan, total: Decimal) -> None:
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

    def _plan_matched_part_paid(self, p: Plan, total: Decimal) -> None:
        self.pay(p, _part(total, self.rng))

    def _plan_matched_two_payments(self, p: Plan, total: Decimal) -> None:
        first = _part(total, self.rng)
        day = self.pay(p, first).day
        self.pay(p, total - first, earliest=day)

    def _plan_matched_contact_spelling(self, p: Plan, total: Decimal) -> None:
        if self.rng.random() < 0.5:
            p.contact_label = "  " + p.contact.upper().replace(" ", "  ") + " "
        else:
            p.contact_label = None  # TargetLabel missing: the rules fall back to CompanyName
        self.pay(p, total)

    def _plan_matched_number_case(self, p: Plan, total: Decimal) -> None:
        p.source_number = p.number.lower() + " "
        self.pay(p, total)

    def _plan_foreign_currency(self, p: Plan, total: Decimal) -> None:
        p.currency, p.rate = self.rng.choice(_FOREIGN)
        self.pay(p, total)

    def _plan_rounding_one_cent(self, p: Plan, total: Decimal) -> None:
        pass  # unpaid on purpose: a payment of either total would make the payments differ

    def _plan_only_in_source(self, p: Plan, total: Decimal) -> None:
        p.in_ledger = False

    def _plan_only_in_source_deleted_in_ledger(self, p: Plan, total: Decimal) -> None:
        p.ledger_deleted = True

    def _plan_only_in_ledger(self, p: Plan, total: Decimal) -> None:
        p.in_source = False
        if self.rng.random() < 0.5:
            self.pay(p, total)

    def _plan_po_changed_source(self, p: Plan, total: Decimal) -> None:
        p.ledger_po = p.po
        p.po = f"PO-{self.rng.randrange(100000, 999999)}"
        if self.rng.random() < 0.5:
            self.pay(p, total)

    def _plan_po_changed_ledger(self, p: Plan, total: Decimal) -> None:
        # edited in Xero: a new PO number, or (sometimes) the PO cleared
        cleared = bool(p.po) and self.rng.random() < 0.25
        p.ledger_po = "" if cleared else f"PO-{self.rng.randrange(100000, 999999)}"
        p.ledger_later = True

    def _plan_due_changed_source(self, p: Plan, total: Decimal) -> None:
        p.ledger_due_day = p.due_day
        p.due_day = p.due_day + 7 if p.due_day + 7 <= self.days else p.due_day - 7

    def _plan_due_changed_ledger(self, p: Plan, total: Decimal) -> None:
        p.ledger_due_day = p.due_day + 7 if p.due_day + 7 <= self.days else p.due_day - 7
        p.ledger_later = True

    def _plan_amounts_differ(self, p: Plan, total: Decimal) -> None:
        p.ledger_line_bump = Decimal(self.rng.choice(("25.00", "50.00", "-20.00")))
        p.ledger_later = True

    def _plan_payment_only_in_source(self, p: Plan, total: Decimal) -> None:
        self.pay(p, total, in_ledger=False)

    def _plan_payment_only_in_ledger(self, p: Plan, total: Decimal) -> None:
        self.pay(p, total, in_source=False)
        p.ledger_later = True

    def _plan_refund(self, p: Plan, total: Decimal) -> None:
        pay = self.pay(p, total)
        net = self.rng.choice(_REFUND_NETS)
        gross = net + q(net * VAT_RATE)
        if gross >= total:  # a refund smaller than the invoice keeps the example a part refund
            net = Decimal("10.00")
            gross = Decimal("12.00")
        p.refund = (net, gross, self.rng.randint(pay.day, self.days), f"RF-{p.slot:06d}")

    def _plan_void_both(self, p: Plan, total: Decimal) -> None:
        p.source_void = p.ledger_void = True

    def _plan_void_source_only(self, p: Plan, total: Decimal) -> None:
        p.source_void = True

    def _plan_void_ledger_only(self, p: Plan, total: Decimal) -> None:
        p.ledger_void = True
        p.ledger_later = True

    def _plan_duplicate_payment(self, p: Plan, total: Decimal) -> None:
        # a quarter of the total, logged twice: still below the total, so accessplanit accepts both
        quarter = (total / 4).quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(_CENT)
        self.pay(p, quarter if quarter > 0 else _CENT, copies=2)

    def _plan_payment_reference_differs(self, p: Plan, total: Decimal) -> None:
        self.pay(p, total, ledger_reference=f"Remittance {self.rng.randrange(100000, 999999)}")

    def _plan_payment_method_differs(self, p: Plan, total: Decimal) -> None:
        pay = self.pay(p, total)
        pay.ledger_code = "090" if pay.method != "BACS" else "091"

    def _plan_combined_payment(self, p: Plan, total: Decimal) -> None:
        """Paid in full by a combined payment: the first such invoice opens one, the next two join it (same
        customer, day, method and reference). The payment's draws are made either way, so later draws never move."""
        pay = self.pay(p, total)
        batch = self.batch
        if batch is None or batch[3] >= 3:
            self.batch = (f"B{p.slot}", p.contact_index, pay, 1)
            pay.batch = f"B{p.slot}"
            return
        name, contact_index, first, count = batch
        self.batch = (name, contact_index, first, count + 1)
        p.contact_index = contact_index
        p.contact = p.contact_label = p.source_company = self.contacts[contact_index]
        pay.batch = name
        pay.day, pay.method, pay.ledger_code = first.day, first.method, first.ledger_code
        pay.reference = pay.ledger_reference = first.reference

    def _plan_ledger_credit(self, p: Plan, total: Decimal) -> None:
        self.pay(p, total)
        p.ledger_credit = (
            self.rng.choice(_REFUND_NETS),
            p.issue_day + int(self.rng.random() * (self.days - p.issue_day + 1)),
        )

    def _plan_overpayment(self, p: Plan, total: Decimal) -> None:
        pay = self.pay(p, total)
        pay.credit, pay.extra = "overpayment", self.rng.choice(_REFUND_NETS)

    def _plan_prepayment(self, p: Plan, total: Decimal) -> None:
        pay = self.pay(p, total, day=1 + int(self.rng.random() * p.issue_day))  # on or before the issue day
        pay.credit = "prepayment"

    def _credit_note(self, p: Plan, amount: Decimal, earliest: int | None = None) -> PayPlan:
        """A credit note allocated to the invoice: logged in accessplanit as a credit with the note's number."""
        pay = self.pay(p, amount, earliest)
        pay.credit, pay.method = "credit_note", CREDIT_METHOD
        pay.reference = pay.ledger_reference = f"CRN-{p.slot:06d}"
        return pay

    def _plan_credit_allocation(self, p: Plan, total: Decimal) -> None:
        self._credit_note(p, _part(total, self.rng))

    def _plan_credit_refund(self, p: Plan, total: Decimal) -> None:
        first = _part(total, self.rng)
        paid = self.pay(p, first)
        credit = self._credit_note(p, total - first, earliest=paid.day)
        gross = self.rng.choice(_REFUND_NETS)
        if gross >= total:
            gross = Decimal("12.00")
        p.refund = (gross, gross, credit.day, f"RF-{p.slot:06d}")  # paid out of the same credit note

    def _plan_invalid_source_payment(self, p: Plan, total: Decimal) -> None:
        p.bad_source_payment = True

    def _plan_invalid_ledger_invoice(self, p: Plan, total: Decimal) -> None:
        p.in_source = False
        p.bad_ledger_date = True


def _contacts(count: int) -> list[str]:
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


def _pick(seq: Sequence[_T], rnd: Callable[[], float]) -> _T:
    return seq[int(rnd() * len(seq))]


def _part(total: Decimal, rng: random.Random) -> Decimal:
    """A part payment: a round share of the total, strictly between 0 and the total."""
    share = rng.choice((Decimal("0.25"), Decimal("0.4"), Decimal("0.5"), Decimal("0.6")))
    amount = (total * share).quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(_CENT)  # whole pounds, 2 dp
    if amount <= 0 or amount >= total:
        amount = q(total / 2)
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

"""The one declarative table of reconciliation rules (docs/reconciliation.md): compared fields in canonical
order, how each kind of field is normalized and compared, what may be pushed where, the state mappings, the
tolerance and the payment-method-to-account mapping.

Every executor (this package's Python engine, the planned SQL executor, the sandbox generator by its own
reading of the doc) must give the same answers as this table.
Must not: do I/O, know about storage, connectors or the GUI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

from app.domain.keys import invoice_key
from app.domain.records import Invoice, Payment
from app.domain.status import InvoiceState, Role

FieldKind = Literal["text", "text_ci", "reference", "date", "money", "code", "state", "lines", "method"]
"""How a field is compared; see `docs/reconciliation.md` section 2 and 3 for the meaning of each."""

DEFAULT_TOLERANCE = Decimal("0.01")
DEFAULT_DUPLICATE_WINDOW_DAYS = 3

POSSIBLE_DUPLICATE = "possible_duplicate"
"""The flag (product.md section 7) of a record that repeats another of its system (`payments_repeat`,
`invoices_repeat`)."""

DEFAULT_METHOD_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {"BACS": "090", "Card": "091", "Cheque": "092", "Cash": "093", "Stripe": "094", "PayPal": "095"}
)
"""The source's payment method label -> the ledger's bank account code: the doc's defaults (a setting)."""


@dataclass(frozen=True)
class Rules:
    """The tunable part of the rules. The services build it from `app.settings.Settings`."""

    money_tolerance: Decimal = DEFAULT_TOLERANCE
    """Largest absolute difference (record's currency) between two amounts that still count as equal."""
    method_accounts: Mapping[str, str] = field(default_factory=lambda: DEFAULT_METHOD_ACCOUNTS)
    duplicate_window_days: int = DEFAULT_DUPLICATE_WINDOW_DAYS
    """Two payments of one invoice and system, same amount, this many days apart or fewer: a possible duplicate."""
    money_tolerance_percent: Decimal = Decimal(0)
    """Two amounts are also equal when they differ by at most this percent of the larger one (0: off)."""
    payment_date_window_days: int = 0
    """Payment matching tiers that compare dates accept dates at most this many days apart (0: the same day)."""
    contact_ignore_suffixes: bool = False
    """Contacts compare without company suffixes ("Ltd", "Limited", "LLP", "plc") and punctuation."""

    def __hash__(self) -> int:
        # A mapping is not hashable; its items are. Rules (and the items that carry them) can then be dict keys.
        return hash(
            (
                self.money_tolerance,
                frozenset(self.method_accounts.items()),
                self.duplicate_window_days,
                self.money_tolerance_percent,
                self.payment_date_window_days,
                self.contact_ignore_suffixes,
            )
        )

    def amounts_equal(self, a: Decimal, b: Decimal) -> bool:
        """Two amounts of one currency compare equal under the absolute and the percent tolerance."""
        return money_equal(a, b, self.money_tolerance, self.money_tolerance_percent)

    def dates_close(self, a: date | None, b: date | None) -> bool:
        """Two payment dates count as the same date for the matching tiers (within `payment_date_window_days`)."""
        if a == b:
            return True
        if not self.payment_date_window_days or a is None or b is None:
            return False
        return abs((a - b).days) <= self.payment_date_window_days

    def contact(self, value: str | None) -> str:
        """A contact as compared: `norm_ci`, and without company suffixes when `contact_ignore_suffixes`."""
        return norm_contact(value) if self.contact_ignore_suffixes else norm_ci(value)

    def account_for(self, method_label: str) -> str | None:
        """The ledger account code a source method label maps to, or None when unmapped.

        The label must be exactly a key of `method_accounts`: the source's labels come from its own list of
        methods, so a near miss is a mapping to fix in the settings, not something to guess.
        """
        return self.method_accounts.get(method_label)


R = TypeVar("R", Invoice, Payment)


@dataclass(frozen=True, slots=True)
class FieldRule(Generic[R]):
    """One compared field: canonical name (product.md section 2), label for people, comparison kind, how to
    read it from a record, and which roles it may be pushed to (from the other side)."""

    name: str
    label: str
    kind: FieldKind
    getter: Callable[[R], object]
    pushable_to: tuple[Role, ...] = ()


_BOTH = (Role.SOURCE, Role.LEDGER)

# Canonical order: the order of the doc's table, used for diffs, `fields` lists and reports.
INVOICE_FIELDS: tuple[FieldRule[Invoice], ...] = (
    FieldRule("contact", "Contact", "text_ci", attrgetter("contact")),
    FieldRule("issue_date", "Issue date", "date", attrgetter("issue_date")),
    # The source accepts writes of the due date and PO number only (accessplanit's PUT); the ledger takes both.
    FieldRule("due_date", "Due date", "date", attrgetter("due_date"), _BOTH),
    FieldRule("po_number", "PO number", "text", attrgetter("po_number"), _BOTH),
    FieldRule("currency", "Currency", "code", attrgetter("currency")),
    FieldRule("net", "Net", "money", attrgetter("net")),
    FieldRule("tax", "Tax", "money", attrgetter("tax")),
    FieldRule("total", "Total", "money", attrgetter("total")),
    FieldRule("paid", "Paid", "money", attrgetter("paid")),
    FieldRule("due", "Due", "money", attrgetter("due")),
    FieldRule("state", "State", "state", attrgetter("state")),
    FieldRule("lines", "Lines", "lines", attrgetter("lines")),
)

PAYMENT_FIELDS: tuple[FieldRule[Payment], ...] = (
    FieldRule("date", "Date", "date", attrgetter("date")),
    FieldRule("amount", "Amount", "money", attrgetter("amount")),
    FieldRule("reference", "Reference", "reference", attrgetter("reference")),
    FieldRule("method", "Method", "method", attrgetter("method")),
)

INVOICE_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in INVOICE_FIELDS)
PAYMENT_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in PAYMENT_FIELDS)

# --- states (doc section 2; each connector maps its own status words to these) -----------------------------

DERIVED_STATES = frozenset({InvoiceState.OPEN, InvoiceState.PART_PAID, InvoiceState.PAID})
"""The states `derive_state` can give: a ledger invoice in one of these was approved (Xero AUTHORISED or PAID)."""


def derive_state(
    paid: Decimal,
    due: Decimal,
    total: Decimal,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> InvoiceState:
    """State of an approved ledger invoice from its canonical amounts (after the refund adjustment)."""
    if abs(due) <= tolerance and total > 0:
        return InvoiceState.PAID
    if paid > 0:
        return InvoiceState.PART_PAID
    return InvoiceState.OPEN


# --- normalizers (one per comparison kind; matching uses the same ones) ---------------------------------

_SPACE = re.compile(r"\s+")


def norm_text(value: str | None) -> str:
    """`text`: trimmed, case kept; missing is `""` (PO numbers are case-sensitive references)."""
    return (value or "").strip()


def norm_ci(value: str | None) -> str:
    """`text_ci`: trimmed, inner whitespace collapsed to one space, case-folded."""
    return _SPACE.sub(" ", (value or "").strip()).casefold()


def norm_code(value: str | None) -> str:
    """`code`: trimmed, upper case (currency codes)."""
    return (value or "").strip().upper()


def norm_ref(value: str | None) -> str:
    """Payment references for matching tiers: trimmed and case-folded (doc section 3)."""
    return (value or "").strip().casefold()


def norm_desc(value: str | None) -> str:
    """Line descriptions when compared: trimmed and case-folded (doc section 2, `lines`)."""
    return (value or "").strip().casefold()


def line_order_desc(value: str | None) -> str:
    """Line descriptions when sorted: case-folded, not trimmed (the doc's sort key, word for word)."""
    return (value or "").casefold()


def natural_id(record_id: str) -> tuple[int, int, str]:
    """Sort key for ids: numeric ids as numbers (before others), other ids as strings (doc section 3)."""
    text = record_id.strip()
    if text.isascii() and text.isdigit():
        return (0, int(text), text)
    return (1, 0, record_id)


def money_equal(a: Decimal, b: Decimal, tolerance: Decimal, percent: Decimal = Decimal(0)) -> bool:
    """Two amounts are equal when their absolute difference is at most the tolerance (inclusive), or at most
    `percent` per cent of the larger of the two in absolute value: |a-b| <= max(tolerance, percent*max(|a|,|b|)/100)."""
    diff = abs(a - b)
    if diff <= tolerance:
        return True
    return bool(percent) and diff * 100 <= percent * max(abs(a), abs(b))


_SUFFIXES = frozenset({"ltd", "limited", "llp", "plc"})
_PUNCT = re.compile(r"[^\w\s]")


def norm_contact(value: str | None) -> str:
    """A contact without punctuation and without trailing company suffixes ("Acme Ltd." and "ACME limited" are both
    "acme"); a name that is only a suffix keeps it."""
    words = _PUNCT.sub(" ", norm_ci(value)).split()
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    return " ".join(words)


# --- possible duplicates (doc section 7): a record that repeats another of its own system ----------------------


def payments_repeat(a: Payment, b: Payment, rules: Rules) -> bool:
    """Whether two payments of one system repeat each other: on the same invoice, in the same direction, the same
    amount, and either the same (non-empty) reference or dates at most `duplicate_window_days` apart.

    Which of the two is flagged is the engine's choice (the one left one-sided; see `engine.flag_duplicates`)."""
    if a.system is not b.system or a.id == b.id or a.direction is not b.direction:
        return False
    if invoice_key(a.invoice_number) != invoice_key(b.invoice_number):
        return False
    if not rules.amounts_equal(a.amount, b.amount):
        return False
    ref = norm_ref(a.reference)
    if ref and ref == norm_ref(b.reference):
        return True
    return abs((a.date - b.date).days) <= rules.duplicate_window_days


def invoices_repeat(a: Invoice, b: Invoice, rules: Rules) -> bool:
    """Whether two invoices of one system repeat each other under different numbers: the same contact (as compared),
    currency, issue date and total (exactly: the cache finds candidates by it). A void invoice repeats nothing (void
    and re-issue is the normal correction)."""
    if a.system is not b.system or a.id == b.id or InvoiceState.VOID in (a.state, b.state):
        return False
    if a.issue_date is None or a.issue_date != b.issue_date or not norm_ci(a.contact):
        return False
    if norm_ci(a.contact) != norm_ci(b.contact) or norm_code(a.currency) != norm_code(b.currency):
        return False
    return a.total == b.total

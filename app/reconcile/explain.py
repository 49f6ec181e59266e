"""Sentences for people about a comparison or an item.

"PO number: accessplanit has 'PO-1', Xero has 'PO-2'." (the systems' labels are passed in: the generic layers
know roles, not vendors)

For the diff panel's tooltips, the report's notes and the command line.
Must not: decide anything (the status and the fields come from `engine`/`diff`), do I/O, or say anything the
comparison does not show.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import NamedTuple

from app.domain.money import fmt
from app.domain.records import Invoice, Payment, allocated_from
from app.domain.status import ItemStatus, Kind
from app.reconcile.diff import FieldComparison, canonical_ledger_invoice
from app.reconcile.engine import ItemResult
from app.reconcile.rules import INVOICE_FIELDS, PAYMENT_FIELDS, norm_code, norm_ref


class Sides(NamedTuple):
    """How people call the two sides: the connected systems' labels (e.g. `Sides("accessplanit", "Xero")`)."""

    source: str
    ledger: str


def _has(system: str, value: str) -> str:
    return f"{system} has '{value}'" if value else f"{system} has none"


def explain_comparison(c: FieldComparison, sides: Sides) -> str:
    """One field: what each side has, and whether that counts as the same."""
    if c.equal:
        if c.source_value == c.ledger_value:
            if not c.source_value:
                return f"{c.label}: neither has one."
            return f"{c.label}: both have '{c.source_value}'."
        # Equal by the rules although written differently (case, spacing, one-cent tolerance, line order).
        both = f"{_has(sides.source, c.source_value)}, {_has(sides.ledger, c.ledger_value)}"
        return f"{c.label}: {both}; the same by the rules."
    return f"{c.label}: {_has(sides.source, c.source_value)}, {_has(sides.ledger, c.ledger_value)}."


def _what(item: ItemResult) -> str:
    if item.kind is Kind.INVOICE:
        return f"Invoice {item.invoice_key or '(no number)'}"
    return f"Payment {item.key}"


def explain_item(item: ItemResult, sides: Sides) -> list[str]:
    """A headline for the item, then one sentence per differing field (canonical order)."""
    what = _what(item)
    if item.status is ItemStatus.INVALID and item.invalid is not None:
        rec = item.invalid
        number = f" (invoice {rec.number})" if rec.number else ""
        record = f"{rec.system.label} {rec.kind.value} {rec.id}{number}"
        return [f"{record} could not be reconciled: {rec.reason}."]
    if item.status is ItemStatus.ONLY_IN_SOURCE:
        return [f"{what} is in {sides.source} but not in {sides.ledger}."]
    if item.status is ItemStatus.ONLY_IN_LEDGER:
        return [f"{what} is in {sides.ledger} but not in {sides.source}."]
    if item.status is ItemStatus.RESOLVED:  # never set by the engine; the services may pass such items here
        return [f"{what} was resolved by a person."]
    if item.status is ItemStatus.MATCHED:
        return [f"{what} agrees in {sides.source} and {sides.ledger}."]
    differing = [c for c in item.comparisons if not c.equal]
    head = _differs(what, [c.label for c in differing])
    return [head, *(explain_comparison(c, sides) for c in differing)]


def _differs(what: str, labels: list[str]) -> str:
    noun = "field" if len(labels) == 1 else "fields"
    return f"{what} differs in {len(labels)} {noun}: {', '.join(labels)}."


_LABELS: dict[str, str] = {f.name: f.label for f in INVOICE_FIELDS} | {f.name: f.label for f in PAYMENT_FIELDS}


def duplicate_note(item: ItemResult) -> str:
    """Why a `possible_duplicate` is one: "a possible duplicate of accessplanit payment 88059 (same amount and
    reference)"; "" when the item has no twin."""
    twin, rec = item.twin, item.source if item.source is not None else item.ledger
    if twin is None or rec is None:
        return ""
    if isinstance(rec, Payment) and isinstance(twin, Payment):
        ref = norm_ref(rec.reference)
        why = "same amount and reference" if ref and ref == norm_ref(twin.reference) else "same amount, dates close"
        what = f"{twin.system.label} {twin.direction.value} {twin.id}"
    else:
        why = "same contact, date and total"
        what = f"{twin.system.label} invoice {getattr(twin, 'number', '') or twin.id}"
    return f"a possible duplicate of {what} ({why})"


def item_reason(item: ItemResult, sides: Sides, *, by: str = "", note: str = "") -> str:
    """One sentence for people: why the item has its status (the rule and key that paired it, the fields that differ
    and by how much, or why it could not be read), and its duplicate flag if any (the report's `reason`).

    `by`/`note`: who matched it by hand and why (the services know; the engine only says `manual`). Cheap: only the
    differing fields are looked at, and only money and dates are worked out."""
    if item.invalid is not None or item.source is None or item.ledger is None:
        head = explain_item(item, sides)[0]
    else:
        head = _paired(item, by, note)
        if item.status is ItemStatus.DIFFERS:
            head = f"{head[:-1]}; {_how_they_differ(item, sides)}."
        elif item.status is ItemStatus.MATCHED:
            head = f"{head[:-1]}; agrees in {sides.source} and {sides.ledger}."
    credit = _allocation(item, sides)
    if credit:
        head = f"{head[:-1]}; {credit}."
    note_text = duplicate_note(item)
    if not note_text:
        return head
    return f"{head[:-1]} and is {note_text}: it is not pushed unless a person overrides it with a note."


def _allocation(item: ItemResult, sides: Sides) -> str:
    """ "the Xero side is an allocation of overpayment 5f1e... to this invoice (no account: method not compared)"
    when the ledger's payment is an allocation of a credit (docs/reconciliation.md section 9), else ""."""
    led = item.ledger
    credit = allocated_from(led) if isinstance(led, Payment) else None
    if credit is None:
        return ""
    kind, credit_id = credit
    return (
        f"the {sides.ledger} side is an allocation of {kind.value.replace('_', ' ')} {credit_id} to this invoice "
        "(it has no bank account, so the method is not compared)"
    )


# What a payment tier compared (docs/reconciliation.md section 3); what it let differ is in the item's fields.
_TIER_WORDS: dict[int, str] = {
    1: "by amount, date and reference",
    2: "by amount and reference",
    3: "by amount and date",
    4: "by date and reference",
}


def _paired(item: ItemResult, by: str, note: str) -> str:
    """How the pair was made: by a person, by invoice number, or by a payment tier."""
    if item.manual:
        who = f" by {by}" if by else ""
        return f"Matched by hand{who}: {note}." if note else f"Matched by hand{who}."
    if item.kind is Kind.INVOICE:
        return f"Paired by invoice number {item.invoice_key}."
    words = _TIER_WORDS.get(item.tier or 0)
    on = item.invoice_key or "?"
    if words is None:
        return f"Payment paired on {on}."
    return f"Payment paired on {on} {words} (tier {item.tier})."


def _how_they_differ(item: ItemResult, sides: Sides) -> str:
    """ "total differs by 12.50 GBP (higher in Xero); due date 3 days later in Xero" for the differing fields."""
    src, led = item.source, item.ledger
    assert src is not None and led is not None
    if isinstance(led, Invoice) and item.rules is not None and {"paid", "due", "state"} & set(item.fields):
        led = canonical_ledger_invoice(led, item.rules, item.ledger_refunds)  # paid/due as compared (refunds)
    same_currency = norm_code(src.currency) == norm_code(led.currency)
    parts: list[str] = []
    for name in item.fields:
        label = _lower(_LABELS.get(name, name))
        a, b = getattr(src, name, None), getattr(led, name, None)
        if isinstance(a, Decimal) and isinstance(b, Decimal) and same_currency:
            diff = b - a
            more = "higher" if diff > 0 else "lower"
            parts.append(f"{label} differs by {fmt(abs(diff), src.currency)} {src.currency} ({more} in {sides.ledger})")
        elif name.endswith("date"):
            parts.append(_date_words(label, a, b, sides))
        elif name in _SHOW_VALUES:
            parts.append(f"{label} differs: {_short(a)} vs {_short(b)}")
        else:
            parts.append(f"{label} differs")
    return "; ".join(parts)


def _lower(label: str) -> str:
    """ "Total" -> "total" inside a sentence; "PO number" stays."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


_SHOW_VALUES = frozenset({"currency", "po_number", "reference", "contact", "state"})
"""Short fields whose two values say more than their label (never the lines: they can be long)."""


def _short(value: object) -> str:
    text = getattr(value, "value", value)  # an InvoiceState
    shown = str(text or "").strip()
    if not shown:
        return "none"
    return f"'{shown[:40]}…'" if len(shown) > 40 else f"'{shown}'"


def _date_words(lower: str, a: object, b: object, sides: Sides) -> str:
    if isinstance(a, date) and isinstance(b, date):
        days = (b - a).days
        unit = "day" if abs(days) == 1 else "days"
        return f"{lower} {abs(days)} {unit} {'later' if days > 0 else 'earlier'} in {sides.ledger}"
    if isinstance(b, date):
        return f"{lower} only in {sides.ledger}"
    return f"{lower} only in {sides.source}"

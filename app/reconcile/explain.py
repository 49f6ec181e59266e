"""Sentences for people about a comparison or an item.

"PO number: accessplanit has 'PO-1', Xero has 'PO-2'." (the systems' labels are passed in: the generic layers
know roles, not vendors)

For the diff panel's tooltips, the report's notes and the command line.
Must not: decide anything (the status and the fields come from `engine`/`diff`), do I/O, or say anything the
comparison does not show.
"""

from __future__ import annotations

from typing import NamedTuple

from app.domain.records import Payment
from app.domain.status import ItemStatus, Kind
from app.reconcile.diff import FieldComparison
from app.reconcile.engine import ItemResult
from app.reconcile.rules import INVOICE_FIELDS, PAYMENT_FIELDS, norm_ref


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


def item_reason(item: ItemResult, sides: Sides) -> str:
    """One sentence for people: why the item has its status, and its duplicate flag if any (the report's `reason`)."""
    if item.status is ItemStatus.DIFFERS and item.invalid is None:
        # The labels of `fields` are the headline's: no need to format every compared value (most of a run's cost).
        head = _differs(_what(item), [_LABELS.get(f, f) for f in item.fields])
    else:
        head = explain_item(item, sides)[0]
    note = duplicate_note(item)
    if not note:
        return head
    return f"{head[:-1]} and is {note}: it is not pushed unless a person overrides it with a note."

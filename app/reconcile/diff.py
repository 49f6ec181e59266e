"""Field-by-field comparison of two records of one item: the "explain one record" executor of the rule table.

The diff panel shows its output; the engine derives an item's status and `fields` from it; tests use it as the
oracle. Values come back as display strings (money with the currency's decimals, dates ISO, `""` when absent).
Must not: do I/O, decide matching (see `match`) or item status (see `engine`), or know about people's
decisions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from app.domain.money import fmt
from app.domain.records import Invoice, Line, Payment, allocated_from
from app.domain.status import InvoiceState, Role
from app.reconcile.rules import (
    DERIVED_STATES,
    INVOICE_FIELDS,
    PAYMENT_FIELDS,
    FieldKind,
    FieldRule,
    Rules,
    derive_state,
    line_order_desc,
    money_equal,
    norm_code,
    norm_desc,
    norm_ref,
    norm_text,
)


class FieldComparison(NamedTuple):
    """One compared field of an item. A NamedTuple, not a dataclass: the engine can make millions of them."""

    field: str  # canonical name
    label: str  # for people: "PO number"
    source_value: str  # accessplanit's value as displayed ("" when absent)
    ledger_value: str  # Xero's value as displayed
    equal: bool


def canonical_ledger_invoice(invoice: Invoice, rules: Rules, refunds: Decimal = Decimal(0)) -> Invoice:
    """A ledger invoice with the doc's section 4 applied: `paid - R`, `due + R`, and the approved state re-derived
    from those canonical amounts. Source invoices come back unchanged.

    The connector maps the ledger's state from the raw amounts (it cannot know the refunds); the canonical rule
    is here. A ledger invoice whose state is one of open/part_paid/paid was approved in the ledger, so
    re-deriving it is exactly the doc's rule and is idempotent when there are no refunds."""
    if invoice.system.role is not Role.LEDGER:
        return invoice
    paid = invoice.paid - refunds if refunds else invoice.paid
    due = invoice.due + refunds if refunds else invoice.due
    state = invoice.state
    if state in DERIVED_STATES:
        state = derive_state(paid, due, invoice.total, rules.money_tolerance)
    if paid == invoice.paid and due == invoice.due and state is invoice.state:
        return invoice  # the common case: no copy
    return dataclasses.replace(invoice, paid=paid, due=due, state=state)


def compare_invoice(
    a: Invoice | None, b: Invoice | None, rules: Rules, *, ledger_refunds: Decimal = Decimal(0)
) -> tuple[FieldComparison, ...]:
    """Compare the source's invoice `a` with the ledger's `b`, field by field in canonical order.

    `ledger_refunds` is R of section 4 for this invoice. Either side may be None (a one-sided item, for the
    panel): its values are `""` and every field is then unequal.
    """
    # Canonical by role, not by position, so the comparison is symmetric (a ledger invoice passed as `a` in
    # a test or a swapped run is read the same way); the refunds belong to the ledger side only.
    if a is not None:
        a = canonical_ledger_invoice(a, rules)
    if b is not None:
        b = canonical_ledger_invoice(b, rules, ledger_refunds)
    return _compare(INVOICE_FIELDS, a, b, rules)


def compare_payment(a: Payment | None, b: Payment | None, rules: Rules) -> tuple[FieldComparison, ...]:
    """Compare the source's payment `a` with the ledger's `b` (date, amount, reference, method)."""
    return _compare(PAYMENT_FIELDS, a, b, rules)


def invoice_differences(
    a: Invoice, b: Invoice, rules: Rules, *, ledger_refunds: Decimal = Decimal(0)
) -> tuple[str, ...]:
    """The names of the fields `compare_invoice` finds unequal, without building display strings (the engine's
    fast path: formatting is most of the cost of a comparison)."""
    a = canonical_ledger_invoice(a, rules)
    return _differences(INVOICE_FIELDS, a, canonical_ledger_invoice(b, rules, ledger_refunds), rules)


def payment_differences(a: Payment, b: Payment, rules: Rules) -> tuple[str, ...]:
    """The names of the fields `compare_payment` finds unequal."""
    return _differences(PAYMENT_FIELDS, a, b, rules)


R = TypeVar("R", Invoice, Payment)


def _compare(
    table: Sequence[FieldRule[R]],
    a: R | None,
    b: R | None,
    rules: Rules,
) -> tuple[FieldComparison, ...]:
    out: list[FieldComparison] = []
    for rule in table:
        va = rule.getter(a) if a is not None else None
        vb = rule.getter(b) if b is not None else None
        sa = _display(rule, va, a, rules) if a is not None else ""
        sb = _display(rule, vb, b, rules) if b is not None else ""
        equal = a is not None and b is not None and _EQUAL[rule.kind](va, vb, a, b, rules)
        if not equal and a is not None and b is not None and sa == sb and rule.kind == "money":
            # Quantized display hid a real difference (amounts finer than the currency): show them exactly.
            sa, sb = str(va), str(vb)
        out.append(FieldComparison(rule.name, rule.label, sa, sb, equal))
    return tuple(out)


def _differences(table: Sequence[FieldRule[R]], a: R, b: R, rules: Rules) -> tuple[str, ...]:
    # The same `_EQUAL` functions as `_compare`, so the two cannot disagree. Identical values are equal under
    # every kind but `method` (a label is never equal to a code by spelling), which saves most of the calls.
    out: list[str] = []
    for rule in table:
        va, vb = rule.getter(a), rule.getter(b)
        if va == vb and rule.kind != "method":
            continue
        if not _EQUAL[rule.kind](va, vb, a, b, rules):
            out.append(rule.name)
    return tuple(out)


# One equality function per field kind: (source value, ledger value, source record, ledger record, rules).
_Equal = Callable[[Any, Any, Any, Any, Rules], bool]


def _eq_money(va: Decimal, vb: Decimal, _a: object, _b: object, rules: Rules) -> bool:
    return rules.amounts_equal(va, vb)


def _eq_plain(va: object, vb: object, _a: object, _b: object, _rules: Rules) -> bool:
    return va == vb  # dates (both missing is equal) and states


def _eq_text(va: str | None, vb: str | None, _a: object, _b: object, _rules: Rules) -> bool:
    return va == vb or norm_text(va) == norm_text(vb)


def _eq_text_ci(va: str | None, vb: str | None, _a: object, _b: object, rules: Rules) -> bool:
    return va == vb or rules.contact(va) == rules.contact(vb)  # `text_ci` is the contact's kind


def _eq_reference(va: str | None, vb: str | None, _a: object, _b: object, _rules: Rules) -> bool:
    return va == vb or norm_ref(va) == norm_ref(vb)


def _eq_code(va: str | None, vb: str | None, _a: object, _b: object, _rules: Rules) -> bool:
    return norm_code(va) == norm_code(vb)


def _eq_lines(va: tuple[Line, ...], vb: tuple[Line, ...], _a: object, _b: object, rules: Rules) -> bool:
    return lines_equal(va, vb, rules.money_tolerance, rules.money_tolerance_percent)


def _eq_method(_va: str, _vb: str, a: Payment, b: Payment, rules: Rules) -> bool:
    if allocated_from(b) is not None:  # an allocation of a ledger credit has no bank account: nothing to compare
        return True
    code_a = account_code(a, rules)
    return code_a is not None and code_a == account_code(b, rules)  # an unmapped label differs from any code


_EQUAL: Mapping[FieldKind, _Equal] = {
    "money": _eq_money,
    "date": _eq_plain,
    "state": _eq_plain,
    "text": _eq_text,
    "text_ci": _eq_text_ci,
    "reference": _eq_reference,
    "code": _eq_code,
    "lines": _eq_lines,
    "method": _eq_method,
}


def _display(rule: FieldRule[R], value: object, record: R, rules: Rules) -> str:
    kind = rule.kind
    if kind == "money":
        assert isinstance(value, Decimal)
        return fmt(value, record.currency)
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else ""
    if kind == "state":
        return value.value if isinstance(value, InvoiceState) else ""
    if kind == "lines":
        assert isinstance(value, tuple)
        return lines_text(value, record.currency)
    if kind == "method":
        assert isinstance(record, Payment)
        if record.system.role is Role.SOURCE:
            code = rules.account_for(record.method)
            if code is None:
                return f"{record.method} (no account)"
            return f"{record.method} (account {code})"
        credit = allocated_from(record)
        if credit is not None:
            return f"(allocated from a {credit[0].value.replace('_', ' ')}: no account)"
        return record.method
    return _str(value)


def _str(value: object) -> str:
    return "" if value is None else str(value)


def account_code(payment: Payment, rules: Rules) -> str | None:
    """The ledger account code of a payment: the source's method label through `method_accounts`, the ledger's
    account code as it is. None when a source label is not mapped."""
    if payment.system.role is Role.SOURCE:
        return rules.account_for(payment.method)
    return payment.method


def sorted_lines(lines: Sequence[Line]) -> list[Line]:
    """Lines in the doc's comparison order: description case-folded, then net."""
    return sorted(lines, key=lambda line: (line_order_desc(line.description), line.net))


def lines_equal(a: Sequence[Line], b: Sequence[Line], tolerance: Decimal, percent: Decimal = Decimal(0)) -> bool:
    """Same count and, pairwise after sorting, same description (trimmed, case-folded) and net and tax within
    the tolerance (absolute, or `percent` of the larger amount)."""
    if len(a) != len(b):
        return False
    if all(_same_in_order(la, lb) for la, lb in zip(a, b, strict=True)):
        # Same sort keys and amounts in the given order: a stable sort moves both sides alike, so the sorted
        # pairs are these pairs, and they are equal. Most invoices take this path and skip the two sorts.
        return True
    for la, lb in zip(sorted_lines(a), sorted_lines(b), strict=True):
        if norm_desc(la.description) != norm_desc(lb.description):
            return False
        if not (money_equal(la.net, lb.net, tolerance, percent) and money_equal(la.tax, lb.tax, tolerance, percent)):
            return False
    return True


def _same_in_order(la: Line, lb: Line) -> bool:
    same_key = line_order_desc(la.description) == line_order_desc(lb.description)
    return same_key and la.net == lb.net and la.tax == lb.tax


def lines_text(lines: Sequence[Line], currency: str) -> str:
    """Lines as one display string, in comparison order: `Course A 100.00 (tax 20.00); Course B ...`."""
    if not lines:
        return "no lines"
    return "; ".join(
        f"{line.description.strip()} {fmt(line.net, currency)} (tax {fmt(line.tax, currency)})"
        for line in sorted_lines(lines)
    )

"""Possible duplicates (product.md section 7, docs/reconciliation.md section 7): the rule alone, then as the engine
applies it (which record of a pair is flagged, and its twin)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.status import Direction, InvoiceState, ItemStatus, Kind
from app.reconcile.engine import ItemResult, reconcile
from app.reconcile.explain import Sides, explain_item, item_reason
from app.reconcile.rules import POSSIBLE_DUPLICATE, Rules, invoices_repeat, payments_repeat

RULES = Rules()
DAY = date(2026, 10, 14)


# --- the rule alone ---------------------------------------------------------------------------------------------


def test_same_amount_and_reference_repeats_whatever_the_dates() -> None:
    a = ap_pay("1", reference="ch_3P1", date=DAY)
    b = ap_pay("2", reference=" CH_3p1 ", date=DAY + timedelta(days=20))
    assert payments_repeat(a, b, RULES) and payments_repeat(b, a, RULES)


@pytest.mark.parametrize(("days", "repeats"), [(0, True), (3, True), (-3, True), (4, False), (-4, False)])
def test_same_amount_within_the_window_repeats(days: int, repeats: bool) -> None:
    a = ap_pay("1", reference="BACS 1", date=DAY)
    b = ap_pay("2", reference="BACS 2", date=DAY + timedelta(days=days))
    assert payments_repeat(a, b, RULES) is repeats


def test_the_window_is_a_setting() -> None:
    a = ap_pay("1", reference="A", date=DAY)
    b = ap_pay("2", reference="B", date=DAY + timedelta(days=5))
    assert not payments_repeat(a, b, RULES)
    assert payments_repeat(a, b, Rules(duplicate_window_days=5))
    assert payments_repeat(a, ap_pay("3", reference="C", date=DAY), Rules(duplicate_window_days=0))


@pytest.mark.parametrize(
    "other",
    [
        ap_pay("2", invoice="INV-2"),  # another invoice
        ap_pay("2", amount=D("120.02")),  # another amount (beyond the tolerance)
        ap_pay("2", direction=Direction.REFUND),  # a refund of the same amount
        xe_pay("2"),  # the other system: that is matching, not a duplicate
        ap_pay("1"),  # the record itself
    ],
)
def test_what_does_not_repeat_a_payment(other: object) -> None:
    assert not payments_repeat(ap_pay("1"), other, RULES)  # type: ignore[arg-type]


def test_empty_references_are_not_the_same_reference() -> None:
    a = ap_pay("1", reference="", date=DAY)
    b = ap_pay("2", reference="", date=DAY + timedelta(days=10))
    assert not payments_repeat(a, b, RULES)


def test_an_amount_within_the_tolerance_is_the_same_amount() -> None:
    assert payments_repeat(ap_pay("1"), ap_pay("2", amount=D("120.01")), RULES)


def test_invoices_repeat_by_contact_date_and_total_under_another_number() -> None:
    a = ap_inv("INV-1", "1", contact="Acme Training Ltd")
    assert invoices_repeat(a, ap_inv("INV-2", "2", contact="  ACME training  ltd"), RULES)
    assert not invoices_repeat(a, ap_inv("INV-2", "2", contact="Other Ltd"), RULES)
    assert not invoices_repeat(a, ap_inv("INV-2", "2", issue_date=date(2026, 10, 2)), RULES)
    assert not invoices_repeat(a, ap_inv("INV-2", "2", total=D("120.01")), RULES)
    assert not invoices_repeat(a, ap_inv("INV-2", "2", currency="EUR"), RULES)
    assert not invoices_repeat(a, ap_inv("INV-2", "2", state=InvoiceState.VOID), RULES)  # void and re-issue
    assert not invoices_repeat(a, xe_inv("INV-2", "x2"), RULES)  # the other system


# --- the engine: which of a pair is flagged -------------------------------------------------------------------


def _run(**kw: object) -> dict[str, ItemResult]:
    args: dict[str, object] = {
        "source_invoices": [],
        "ledger_invoices": [],
        "source_payments": [],
        "ledger_payments": [],
        "invalid": [],
        "rules": RULES,
    }
    args.update(kw)
    return {r.key: r for r in reconcile(**args)}  # type: ignore[arg-type]


def _flagged(items: dict[str, ItemResult]) -> dict[str, str]:
    return {k: r.twin.id for k, r in items.items() if r.flags == (POSSIBLE_DUPLICATE,) and r.twin is not None}


def test_the_one_sided_repeat_of_a_matched_payment_is_flagged_with_the_matched_one_as_twin() -> None:
    # The demo month's INV-1112: a Stripe payment logged twice in accessplanit, once in Xero.
    items = _run(
        source_invoices=[ap_inv()],
        ledger_invoices=[xe_inv()],
        source_payments=[ap_pay("88059", reference="ch_3P1"), ap_pay("88060", reference="ch_3P1")],
        ledger_payments=[xe_pay("p1", reference="ch_3P1")],
    )
    assert items["INV-1:P88059:Xp1"].status is ItemStatus.MATCHED and not items["INV-1:P88059:Xp1"].flags
    assert items["INV-1:P88060:-"].status is ItemStatus.ONLY_IN_SOURCE
    assert _flagged(items) == {"INV-1:P88060:-": "88059"}
    reason = item_reason(items["INV-1:P88060:-"], Sides("accessplanit", "Xero"))
    assert "possible duplicate of accessplanit payment 88059 (same amount and reference)" in reason


def test_of_two_one_sided_repeats_the_later_is_flagged() -> None:
    items = _run(
        source_invoices=[ap_inv()],
        source_payments=[ap_pay("7", reference="A", date=DAY + timedelta(days=2)), ap_pay("9", reference="B")],
    )
    assert _flagged(items) == {"INV-1:P7:-": "9"}  # 9 is dated two days earlier


def test_ledger_side_repeats_are_flagged_too() -> None:
    items = _run(
        source_invoices=[ap_inv()],
        ledger_invoices=[xe_inv()],
        ledger_payments=[xe_pay("p1"), xe_pay("p2")],
        source_payments=[ap_pay("1")],
    )
    [(key, twin)] = _flagged(items).items()
    assert key.endswith(":-:Xp2") and twin == "p1"


def test_outside_the_window_or_on_another_invoice_nothing_is_flagged() -> None:
    items = _run(
        source_invoices=[ap_inv(), ap_inv("INV-2", "2", contact="Other Ltd")],
        ledger_invoices=[xe_inv()],
        source_payments=[
            ap_pay("1", reference="A"),
            ap_pay("2", reference="B", date=DAY + timedelta(days=4)),
            ap_pay("3", invoice="INV-2", reference="A"),
        ],
        ledger_payments=[xe_pay("p1", reference="A")],
    )
    assert _flagged(items) == {}


def test_matched_instalments_of_the_same_amount_are_not_flagged() -> None:
    items = _run(
        source_invoices=[ap_inv()],
        ledger_invoices=[xe_inv()],
        source_payments=[ap_pay("1", amount=D("60.00")), ap_pay("2", amount=D("60.00"))],
        ledger_payments=[xe_pay("p1", amount=D("60.00")), xe_pay("p2", amount=D("60.00"))],
    )
    assert all(r.status is ItemStatus.MATCHED for r in items.values() if r.kind is Kind.PAYMENT)
    assert _flagged(items) == {}


def test_an_invoice_repeated_under_another_number_is_flagged_against_the_matched_one() -> None:
    items = _run(
        source_invoices=[ap_inv("INV-1", "1"), ap_inv("INV-2", "2"), ap_inv("INV-3", "3", contact="Other Ltd")],
        ledger_invoices=[xe_inv("INV-1", "x1")],
    )
    assert items["INV-2"].status is ItemStatus.ONLY_IN_SOURCE
    assert _flagged(items) == {"INV-2": "1"}
    assert "same contact, date and total" in item_reason(items["INV-2"], Sides("accessplanit", "Xero"))


def test_two_one_sided_invoices_alike_flag_the_higher_id() -> None:
    items = _run(source_invoices=[ap_inv("INV-9", "9"), ap_inv("INV-10", "10")])
    assert _flagged(items) == {"INV-10": "9"}


def test_the_reason_of_a_differing_item_names_the_headlines_fields_and_by_how_much() -> None:
    items = _run(source_invoices=[ap_inv(po_number="PO-1")], ledger_invoices=[xe_inv(po_number="PO-2", due=D("1"))])
    sides = Sides("accessplanit", "Xero")
    item = items["INV-1"]
    assert explain_item(item, sides)[0] == "Invoice INV-1 differs in 2 fields: PO number, Due."
    assert item_reason(item, sides) == (
        "Paired by invoice number INV-1; PO number differs: 'PO-1' vs 'PO-2'; "
        "due differs by 119.00 GBP (lower in Xero)."
    )

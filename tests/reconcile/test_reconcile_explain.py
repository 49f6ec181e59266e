"""Sentences for people: what each side has, and a headline per item."""

from __future__ import annotations

from datetime import date

import pytest
from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.records import InvalidRecord
from app.domain.status import Kind, System
from app.reconcile.diff import FieldComparison
from app.reconcile.engine import reconcile
from app.reconcile.explain import Sides, explain_comparison, explain_item, item_reason
from app.reconcile.rules import Rules

SIDES = Sides(source=System.ACCESSPLANIT.label, ledger=System.XERO.label)


@pytest.mark.parametrize(
    ("comparison", "sentence"),
    [
        (FieldComparison("po_number", "PO number", "PO-1", "PO-2", False),
         "PO number: accessplanit has 'PO-1', Xero has 'PO-2'."),
        (FieldComparison("due_date", "Due date", "", "2026-10-31", False),
         "Due date: accessplanit has none, Xero has '2026-10-31'."),
        (FieldComparison("net", "Net", "100.00", "100.00", True), "Net: both have '100.00'."),
        (FieldComparison("po_number", "PO number", "", "", True), "PO number: neither has one."),
        (FieldComparison("net", "Net", "100.00", "100.01", True),
         "Net: accessplanit has '100.00', Xero has '100.01'; the same by the rules."),
    ],
)  # fmt: skip
def test_explain_comparison(comparison: FieldComparison, sentence: str) -> None:
    assert explain_comparison(comparison, SIDES) == sentence


def test_explain_items() -> None:
    items = reconcile(
        source_invoices=[
            ap_inv("INV-1", po_number="PO-1", due_date=date(2026, 10, 1)),
            ap_inv("INV-2"),
            ap_inv("INV-3"),
            ap_inv("inv-2", "4"),
        ],
        ledger_invoices=[xe_inv("INV-1", po_number="PO-2"), xe_inv("INV-3")],
        source_payments=[ap_pay("88", "INV-1", amount=D("5"))],
        ledger_payments=[],
        invalid=[InvalidRecord(System.XERO, Kind.PAYMENT, "p9", "Amount is not a number")],
        rules=Rules(),
    )
    text = {i.key: explain_item(i, SIDES) for i in items}
    assert text["INV-1"] == [
        "Invoice INV-1 differs in 2 fields: Due date, PO number.",
        "Due date: accessplanit has '2026-10-01', Xero has '2026-10-31'.",
        "PO number: accessplanit has 'PO-1', Xero has 'PO-2'.",
    ]
    assert text["INV-2"] == ["Invoice INV-2 is in accessplanit but not in Xero."]
    assert text["INV-3"] == ["Invoice INV-3 agrees in accessplanit and Xero."]
    assert text["INV-1:P88:-"] == ["Payment INV-1:P88:- is in accessplanit but not in Xero."]
    assert text["invalid:xero:payment:p9"] == ["Xero payment p9 could not be reconciled: Amount is not a number."]
    assert text["invalid:accessplanit:invoice:4"] == [
        "accessplanit invoice 4 (invoice inv-2) could not be reconciled: duplicate invoice number."
    ]


def test_item_reasons_say_the_rule_and_key_or_what_differs_by_how_much() -> None:
    items = reconcile(
        source_invoices=[
            ap_inv("INV-1"),
            ap_inv("INV-2", "2", total=D("132.50"), due_date=date(2026, 10, 28), po_number="PO-9"),
            ap_inv("INV-3", "3", currency="EUR"),
        ],
        ledger_invoices=[xe_inv("INV-1"), xe_inv("INV-2", "x2"), xe_inv("INV-3", "x3")],
        source_payments=[
            ap_pay("88", "INV-1"),
            ap_pay("89", "INV-2", reference="A"),
            ap_pay("90", "INV-3", date=date(2026, 10, 12)),
        ],
        ledger_payments=[xe_pay("p1", "INV-1"), xe_pay("p2", "INV-2", reference="B"), xe_pay("p3", "INV-3")],
        invalid=[],
        rules=Rules(),
    )
    reason = {i.key: item_reason(i, SIDES) for i in items}
    assert reason["INV-1"] == "Paired by invoice number INV-1; agrees in accessplanit and Xero."
    assert reason["INV-2"] == (
        "Paired by invoice number INV-2; due date 3 days later in Xero; PO number differs: 'PO-9' vs 'PO-1'; "
        "total differs by 12.50 GBP (lower in Xero)."
    )
    # Amounts in two currencies are never subtracted: the currency is the difference.
    assert reason["INV-3"] == "Paired by invoice number INV-3; currency differs: 'EUR' vs 'GBP'."
    assert reason["INV-1:P88:Xp1"] == (
        "Payment paired on INV-1 by amount, date and reference (tier 1); agrees in accessplanit and Xero."
    )
    assert reason["INV-2:P89:Xp2"] == (
        "Payment paired on INV-2 by amount and date (tier 3); reference differs: 'A' vs 'B'."
    )
    assert (
        reason["INV-3:P90:Xp3"]
        == "Payment paired on INV-3 by amount and reference (tier 2); date 2 days later in Xero."
    )


def test_a_match_by_hand_names_who_and_why() -> None:
    items = reconcile(
        source_invoices=[ap_inv("INV-1O01")],
        ledger_invoices=[xe_inv("INV-1001", total=D("120.00"), due=D("120.00"))],
        source_payments=[],
        ledger_payments=[],
        invalid=[],
        rules=Rules(),
        manual_pairs=[(Kind.INVOICE, "1", "x1")],
    )
    [paired] = items
    assert paired.manual
    assert item_reason(paired, SIDES, by="Dana", note="typo in accessplanit") == (
        "Matched by hand by Dana: typo in accessplanit; agrees in accessplanit and Xero."
    )


def test_the_reason_of_a_pair_with_an_allocation_names_the_credit() -> None:
    allocation = xe_pay("al-1", "INV-1", amount=D("50.00"), method="", reference="CRN-7", group="credit_note:cn-7")
    items = reconcile(
        source_invoices=[ap_inv("INV-1", "1")],
        ledger_invoices=[xe_inv("INV-1", "x1")],
        source_payments=[ap_pay("88", "INV-1", amount=D("50.00"), method="Credit Note", reference="CRN-7")],
        ledger_payments=[allocation],
        invalid=[],
        rules=Rules(),
    )
    [item] = [i for i in items if i.kind is Kind.PAYMENT]
    reason = item_reason(item, Sides("accessplanit", "Xero"))
    assert reason == (
        "Payment paired on INV-1 by amount, date and reference (tier 1); agrees in accessplanit and Xero; "
        "the Xero side is an allocation of credit note cn-7 to this invoice (it has no bank account, so the method "
        "is not compared)."
    )

"""Field comparison (docs/reconciliation.md sections 2-4): every field, tolerance edges, currency decimals,
lines, the refund adjustment, display values."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.records import Line
from app.domain.status import Direction, InvoiceState
from app.reconcile.diff import (
    canonical_ledger_invoice,
    compare_invoice,
    compare_payment,
    invoice_differences,
    payment_differences,
)
from app.reconcile.rules import INVOICE_FIELD_NAMES, PAYMENT_FIELD_NAMES, Rules

RULES = Rules()

# (case id, accessplanit overrides, Xero overrides, differing fields). Each row one rule of the doc's table.
INVOICE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("identical", {}, {}, ()),
    ("contact: trim, inner space, case", {"contact": " Acme  TRAINING ltd "}, {"contact": "acme training Ltd"}, ()),
    ("contact: other name", {"contact": "Acme"}, {"contact": "Acme Ltd"}, ("contact",)),
    ("issue_date differs", {"issue_date": date(2026, 10, 1)}, {"issue_date": date(2026, 10, 2)}, ("issue_date",)),
    ("due_date both missing", {"due_date": None}, {"due_date": None}, ()),
    ("due_date one missing", {"due_date": None}, {}, ("due_date",)),
    ("due_date differs", {}, {"due_date": date(2026, 11, 30)}, ("due_date",)),
    ("po_number trimmed", {"po_number": " PO-1 "}, {"po_number": "PO-1"}, ()),
    ("po_number case matters", {"po_number": "po-1"}, {"po_number": "PO-1"}, ("po_number",)),
    ("po_number both missing", {"po_number": ""}, {"po_number": "  "}, ()),
    ("po_number one missing", {"po_number": ""}, {"po_number": "PO-1"}, ("po_number",)),
    ("currency case", {"currency": "gbp"}, {"currency": "GBP"}, ()),
    ("currency differs", {"currency": "GBP"}, {"currency": "EUR"}, ("currency",)),
    ("net +0.01 is equal", {"net": D("100.00")}, {"net": D("100.01")}, ()),
    ("net -0.01 is equal", {"net": D("100.00")}, {"net": D("99.99")}, ()),
    ("net +0.02 differs", {"net": D("100.00")}, {"net": D("100.02")}, ("net",)),
    ("net +0.011 differs", {"net": D("100.00")}, {"net": D("100.011")}, ("net",)),
    ("tax one cent", {"tax": D("20.00")}, {"tax": D("20.01")}, ()),
    ("tax differs", {"tax": D("20.00")}, {"tax": D("19.98")}, ("tax",)),
    ("total differs", {"total": D("120.00")}, {"total": D("121.00")}, ("total",)),
    ("paid differs", {"paid": D("10.00")}, {"paid": D("0.00")}, ("paid",)),
    ("due differs", {"due": D("110.00")}, {"due": D("120.00")}, ("due",)),
    ("state differs", {"state": InvoiceState.VOID}, {}, ("state",)),
    ("draft vs draft", {"state": InvoiceState.DRAFT}, {"state": InvoiceState.DRAFT}, ()),
    (
        "lines in another order",
        {"lines": (Line("B course", D("40"), D("8")), Line("A course", D("60"), D("12")))},
        {"lines": (Line("a course ", D("60"), D("12")), Line("b COURSE", D("40"), D("8")))},
        (),
    ),
    (
        "lines: per-line tax rounding, one cent each",
        {"lines": (Line("A", D("10.00"), D("2.00")), Line("B", D("10.00"), D("2.00")))},
        {"lines": (Line("A", D("10.00"), D("2.01")), Line("B", D("9.99"), D("2.00")))},
        (),
    ),
    (
        "lines: net two cents out",
        {"lines": (Line("A", D("10.00"), D("2.00")),)},
        {"lines": (Line("A", D("10.02"), D("2.00")),)},
        ("lines",),
    ),
    (
        "lines: tax two cents out",
        {"lines": (Line("A", D("10.00"), D("2.00")),)},
        {"lines": (Line("A", D("10.00"), D("1.98")),)},
        ("lines",),
    ),
    (
        "lines: another description",
        {"lines": (Line("Excel", D("10.00"), D("2.00")),)},
        {"lines": (Line("Word", D("10.00"), D("2.00")),)},
        ("lines",),
    ),
    (
        "lines: another count",
        {"lines": (Line("A", D("10.00"), D("2.00")),)},
        {"lines": (Line("A", D("5.00"), D("1.00")), Line("A", D("5.00"), D("1.00")))},
        ("lines",),
    ),
    ("lines: none on either side", {"lines": ()}, {"lines": ()}, ()),
    (
        "several fields, in canonical order",
        {"po_number": "A", "due_date": date(2026, 1, 1), "contact": "X"},
        {"po_number": "B", "due_date": date(2026, 1, 2), "contact": "Y"},
        ("contact", "due_date", "po_number"),
    ),
]


@pytest.mark.parametrize(("src", "led", "expected"), [c[1:] for c in INVOICE_CASES], ids=[c[0] for c in INVOICE_CASES])
def test_invoice_field_rules(src: dict[str, Any], led: dict[str, Any], expected: tuple[str, ...]) -> None:
    comps = compare_invoice(ap_inv(**src), xe_inv(**led), RULES)
    assert tuple(c.field for c in comps) == INVOICE_FIELD_NAMES
    assert tuple(c.field for c in comps if not c.equal) == expected
    # The engine's fast path agrees with the explaining executor.
    assert invoice_differences(ap_inv(**src), xe_inv(**led), RULES) == expected


def test_tolerance_is_a_setting() -> None:
    exact = Rules(money_tolerance=D("0"))
    assert invoice_differences(ap_inv(net=D("100.00")), xe_inv(net=D("100.01")), exact) == ("net",)
    loose = Rules(money_tolerance=D("0.05"))
    assert invoice_differences(ap_inv(net=D("100.00")), xe_inv(net=D("100.05")), loose) == ()
    assert invoice_differences(ap_inv(net=D("100.00")), xe_inv(net=D("100.06")), loose) == ("net",)


@pytest.mark.parametrize(
    ("currency", "a", "b", "equal", "shown"),
    [
        ("GBP", "120", "120.00", True, ("120.00", "120.00")),
        ("JPY", "1000", "1001", False, ("1000", "1001")),  # tolerance is absolute: one yen differs
        ("JPY", "1000", "1000.4", False, ("1000", "1000.4")),  # quantizing would hide it: shown exactly
        ("BHD", "1.234", "1.239", True, ("1.234", "1.239")),  # three decimals, within 0.01
        ("BHD", "1.234", "1.245", False, ("1.234", "1.245")),
        ("KWD", "5", "5.000", True, ("5.000", "5.000")),
    ],
)
def test_currency_decimals(currency: str, a: str, b: str, equal: bool, shown: tuple[str, str]) -> None:
    comps = {
        c.field: c
        for c in compare_invoice(ap_inv(currency=currency, net=D(a)), xe_inv(currency=currency, net=D(b)), RULES)
    }
    assert comps["net"].equal is equal
    assert (comps["net"].source_value, comps["net"].ledger_value) == shown


def test_display_values() -> None:
    a = ap_inv(po_number="PO-7", lines=(Line("b", D("1"), D("0.2")), Line("A", D("2"), D("0.4"))))
    b = xe_inv(due_date=None, state=InvoiceState.DRAFT)
    comps = {c.field: c for c in compare_invoice(a, b, RULES)}
    assert comps["due_date"].source_value == "2026-10-31"
    assert comps["due_date"].ledger_value == ""
    assert comps["po_number"].label == "PO number"
    assert (comps["po_number"].source_value, comps["po_number"].ledger_value) == ("PO-7", "PO-1")
    assert comps["total"].source_value == "120.00"
    assert (comps["state"].source_value, comps["state"].ledger_value) == ("open", "draft")
    assert comps["lines"].source_value == "A 2.00 (tax 0.40); b 1.00 (tax 0.20)"
    assert comps["lines"].ledger_value == "Excel course 100.00 (tax 20.00)"


def test_one_sided_comparison_for_the_panel() -> None:
    comps = compare_invoice(ap_inv(), None, RULES)
    assert all(not c.equal and c.ledger_value == "" for c in comps)
    assert {c.field: c.source_value for c in comps}["contact"] == "Acme Training Ltd"
    pcomps = compare_payment(None, xe_pay(), RULES)
    assert [c.source_value for c in pcomps] == ["", "", "", ""]
    assert [c.ledger_value for c in pcomps] == ["2026-10-14", "120.00", "REF-1", "090"]


# --- section 4: refunds --------------------------------------------------------------------------------------


def test_refund_adjusts_xero_paid_due_and_state() -> None:
    # accessplanit: paid 120, refunded 50 -> AmountPaid 70, Outstanding 50, Part Paid.
    src = ap_inv(paid=D("70.00"), due=D("50.00"), state=InvoiceState.PART_PAID)
    # Xero leaves the invoice PAID in full and pays the refund out of a credit note.
    led = xe_inv(paid=D("120.00"), due=D("0.00"), state=InvoiceState.PAID)
    assert invoice_differences(src, led, RULES) == ("paid", "due", "state")
    assert invoice_differences(src, led, RULES, ledger_refunds=D("50.00")) == ()
    comps = {c.field: c for c in compare_invoice(src, led, RULES, ledger_refunds=D("50.00"))}
    assert (comps["paid"].ledger_value, comps["due"].ledger_value, comps["state"].ledger_value) == (
        "70.00",
        "50.00",
        "part_paid",
    )


def test_full_refund_reopens_the_xero_state() -> None:
    led = canonical_ledger_invoice(xe_inv(paid=D("120"), due=D("0"), state=InvoiceState.PAID), RULES, D("120"))
    assert (led.paid, led.due, led.state) == (D("0"), D("120"), InvoiceState.OPEN)


def test_refund_leaves_draft_and_void_states_alone() -> None:
    led = canonical_ledger_invoice(xe_inv(paid=D("0"), due=D("0"), state=InvoiceState.VOID), RULES, D("10"))
    assert led.state is InvoiceState.VOID
    assert (led.paid, led.due) == (D("-10"), D("10"))


def test_refunds_never_touch_the_accessplanit_side() -> None:
    src = ap_inv(paid=D("120"), due=D("0"), state=InvoiceState.PAID)
    assert canonical_ledger_invoice(src, RULES, D("50")) is src


def test_xero_state_is_derived_from_the_canonical_amounts() -> None:
    # The connector said PAID, but the amounts say part paid: the rule table's derivation wins.
    led = xe_inv(paid=D("60"), due=D("60"), state=InvoiceState.PAID)
    src = ap_inv(paid=D("60"), due=D("60"), state=InvoiceState.PART_PAID)
    assert invoice_differences(src, led, RULES) == ()


# --- payments ------------------------------------------------------------------------------------------------

PAYMENT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("identical", {}, {}, ()),
    ("date", {}, {"date": date(2026, 10, 15)}, ("date",)),
    ("amount one cent", {"amount": D("120.00")}, {"amount": D("119.99")}, ()),
    ("amount two cents", {"amount": D("120.00")}, {"amount": D("119.98")}, ("amount",)),
    ("reference case and space", {"reference": " ref-1 "}, {"reference": "REF-1"}, ()),
    ("reference differs", {"reference": "REF-1"}, {"reference": "REF-2"}, ("reference",)),
    ("method BACS is 090", {"method": "BACS"}, {"method": "090"}, ()),
    ("method Card is not 090", {"method": "Card"}, {"method": "090"}, ("method",)),
    ("method Stripe is 094", {"method": "Stripe"}, {"method": "094"}, ()),
    ("method unmapped label", {"method": "Voucher"}, {"method": "090"}, ("method",)),
    ("method unmapped vs empty code", {"method": "Voucher"}, {"method": ""}, ("method",)),
    ("method label spelled like the code", {"method": "090"}, {"method": "090"}, ("method",)),
    (
        "all four",
        {"method": "Cash", "reference": "A", "amount": D("1")},
        {"date": date(2026, 1, 1)},
        ("date", "amount", "reference", "method"),
    ),
]


@pytest.mark.parametrize(("src", "led", "expected"), [c[1:] for c in PAYMENT_CASES], ids=[c[0] for c in PAYMENT_CASES])
def test_payment_field_rules(src: dict[str, Any], led: dict[str, Any], expected: tuple[str, ...]) -> None:
    comps = compare_payment(ap_pay(**src), xe_pay(**led), RULES)
    assert tuple(c.field for c in comps) == PAYMENT_FIELD_NAMES
    assert tuple(c.field for c in comps if not c.equal) == expected
    assert payment_differences(ap_pay(**src), xe_pay(**led), RULES) == expected


def test_method_mapping_follows_the_setting_and_is_displayed() -> None:
    rules = Rules(method_accounts={"Voucher": "099"})
    comps = {c.field: c for c in compare_payment(ap_pay(method="Voucher"), xe_pay(method="099"), rules)}
    assert comps["method"].equal
    assert (comps["method"].source_value, comps["method"].ledger_value) == ("Voucher (account 099)", "099")
    comps = {c.field: c for c in compare_payment(ap_pay(method="Gift"), xe_pay(method="099"), rules)}
    assert comps["method"].source_value == "Gift (no account)"


def test_refund_payments_compare_like_payments() -> None:
    a = ap_pay(direction=Direction.REFUND, amount=D("50"))
    b = xe_pay(direction=Direction.REFUND, amount=D("50.01"))
    assert payment_differences(a, b, RULES) == ()

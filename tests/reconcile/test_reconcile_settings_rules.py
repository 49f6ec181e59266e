"""The comparison settings of the rules: percent tolerance, payment date window, contact normalisation. At their
defaults each gives exactly today's answers; set, each widens only what it says."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from reconcile_builders import ap_inv, ap_pay, xe_inv, xe_pay

from app.reconcile.diff import compare_invoice, invoice_differences, lines_equal
from app.reconcile.match import match_payments
from app.reconcile.rules import Rules, money_equal, norm_contact

D = Decimal


@pytest.mark.parametrize(
    ("a", "b", "tol", "pct", "equal"),
    [
        ("100.00", "100.01", "0.01", "0", True),
        ("100.00", "100.02", "0.01", "0", False),
        ("100.00", "100.50", "0.01", "0.5", True),  # 0.5% of 100.50 is 0.5025
        ("100.00", "100.60", "0.01", "0.5", False),
        ("-100.00", "-100.50", "0.01", "0.5", True),  # of the larger absolute value
        ("0.00", "0.02", "0.01", "50", False),  # 50% of 0.02 is 0.01: too little
        ("0.00", "0.02", "0.01", "100", True),
        ("1000.00", "1005.00", "0.01", "0.5", True),  # 0.5% of 1005 = 5.025
        ("1000.00", "1005.00", "10", "0", True),  # the larger of the two tolerances decides
    ],
)
def test_money_equal_with_a_percent_tolerance(a: str, b: str, tol: str, pct: str, equal: bool) -> None:
    assert money_equal(D(a), D(b), D(tol), D(pct)) is equal
    assert money_equal(D(b), D(a), D(tol), D(pct)) is equal  # symmetric
    assert Rules(D(tol), money_tolerance_percent=D(pct)).amounts_equal(D(a), D(b)) is equal


def test_percent_tolerance_reaches_every_money_field_and_lines() -> None:
    a = ap_inv()
    b = xe_inv(net=D("100.40"), total=D("120.40"), due=D("120.40"))
    assert invoice_differences(a, b, Rules()) == ("net", "total", "due")
    assert invoice_differences(a, b, Rules(money_tolerance_percent=D("0.3"))) == ("net", "total", "due")
    assert invoice_differences(a, b, Rules(money_tolerance_percent=D("0.5"))) == ()
    lines_a, lines_b = a.lines, tuple(replace(ln, net=ln.net + D("0.40")) for ln in a.lines)
    assert not lines_equal(lines_a, lines_b, D("0.01"))
    assert lines_equal(lines_a, lines_b, D("0.01"), D("0.5"))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Training Ltd", "ACME Training Limited."),
        ("Acme Training Ltd.", "Acme Training"),
        ("Smith & Jones LLP", "Smith Jones"),
        ("Bigco plc", "BIGCO, PLC"),
        ("O'Neil  Courses   Ltd", "ONeil courses"),
    ],
)
def test_contact_normalisation_ignores_suffixes_and_punctuation(a: str, b: str) -> None:
    a_words, b_words = norm_contact(a).replace(" ", ""), norm_contact(b).replace(" ", "")
    assert a_words == b_words
    inv_a, inv_b = ap_inv(contact=a), xe_inv(contact=b)
    assert "contact" in invoice_differences(inv_a, inv_b, Rules())  # off by default: today's answers
    on = Rules(contact_ignore_suffixes=True)
    if norm_contact(a) == norm_contact(b):
        assert "contact" not in invoice_differences(inv_a, inv_b, on)
        assert next(c for c in compare_invoice(inv_a, inv_b, on) if c.field == "contact").equal


def test_contact_normalisation_keeps_real_differences_and_a_lone_suffix() -> None:
    on = Rules(contact_ignore_suffixes=True)
    assert "contact" in invoice_differences(ap_inv(contact="Acme Ltd"), xe_inv(contact="Acne Ltd"), on)
    assert norm_contact("Limited") == "limited"
    assert norm_contact("Ltd Holdings Ltd") == "ltd holdings"


def test_payment_date_window_pairs_payments_days_apart_and_keeps_the_date_difference() -> None:
    s = ap_pay(date=date(2026, 10, 14), reference="A")
    g = xe_pay(date=date(2026, 10, 16), reference="B")
    default = match_payments([s], [g], Rules())
    assert [(p.source is not None, p.ledger is not None) for p in default] == [(True, False), (False, True)]
    for window, paired in ((1, False), (2, True), (5, True)):
        pairs = match_payments([s], [g], Rules(payment_date_window_days=window))
        assert (len(pairs) == 1 and pairs[0].tier == 3) is paired


def test_payment_date_window_in_a_big_group_uses_the_literal_tiers() -> None:
    # 5 x 5 payments on one invoice: above the size where the bucketed path is used without a window.
    src = [ap_pay(id=f"s{i}", date=date(2026, 10, 1 + i), amount=D(10 + i), reference=f"S{i}") for i in range(5)]
    led = [xe_pay(id=f"g{i}", date=date(2026, 10, 2 + i), amount=D(10 + i), reference=f"G{i}") for i in range(5)]
    assert all(p.tier is None for p in match_payments(src, led, Rules()))
    pairs = match_payments(src, led, Rules(payment_date_window_days=1))
    assert sorted((p.source.id, p.ledger.id) for p in pairs if p.source and p.ledger) == [
        (f"s{i}", f"g{i}") for i in range(5)
    ]


def test_rules_with_the_new_settings_at_defaults_equal_the_old_rules() -> None:
    assert Rules() == Rules(D("0.01"), money_tolerance_percent=D(0), payment_date_window_days=0)
    assert hash(Rules()) == hash(Rules(D("0.01")))
    assert Rules(money_tolerance_percent=D(1)) != Rules()

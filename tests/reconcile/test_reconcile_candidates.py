"""Candidates for a match by hand: per-field scores, the ranking and the sentence of why the rules did not pair."""

from __future__ import annotations

from datetime import date

import pytest
from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.reconcile.candidates import band, contact_name, contact_score, number_score, rank, why_not
from app.reconcile.rules import Rules


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("INV-1001", "inv-1001", 100),
        ("INV-1O01", "INV-1001", 95),
        ("INV 1001", "INV-1001", 95),
        ("1001", "INV-1001", 90),
        ("INV-1010", "INV-1001", 75),  # two neighbouring digits swapped: one edit
        ("INV-1002", "INV-1001", 75),
        ("INV-9999", "INV-1001", 0),
    ],
)
def test_number_score(a: str, b: str, expected: int) -> None:
    assert number_score(a, b) == expected


def test_contact_names_lose_case_punctuation_and_company_suffixes() -> None:
    assert contact_name("ACME Training Limited") == contact_name("Acme Training Ltd.") == "acme training"
    assert contact_score("Smith & Co", "Smith and Co") == 100
    assert contact_score("Acme Training Ltd", "Zenith Retail Group") < 50
    assert contact_score("", "Acme") == 50


def test_rank_puts_the_typo_first_and_halves_another_currency() -> None:
    mine = ap_inv("INV-1O01", "1", total=D("120.00"))
    right = xe_inv("INV-1001", "x1", total=D("120.00"))
    neighbour = xe_inv("INV-1002", "x2", contact="Zenith Retail Group", total=D("75.00"))
    other_currency = xe_inv("INV-1001", "x3", currency="EUR")
    ranked = rank(mine, [neighbour, other_currency, right], Rules())
    assert ranked[0].record.id == "x1" and {c.record.id for c in ranked} == {"x1", "x2", "x3"}
    best = ranked[0]
    assert best.score >= 85 and band(best.score) == "good"
    assert dict(best.scores) == {"number": 95, "amount": 100, "contact": 100, "date": 100, "reference": 100}
    assert best.why_not == "number differs: INV-1O01 vs INV-1001"
    euro = next(c for c in ranked if c.record.id == "x3")
    assert euro.score <= 50 and euro.why_not.startswith("currency differs: GBP vs EUR")
    assert rank(mine, [right], limit=0) == []


def test_why_not_for_payments() -> None:
    rules = Rules()
    p = ap_pay("88", "INV-1", amount=D("120.00"), date=date(2026, 10, 14), reference="REF-1")
    assert why_not(p, xe_pay("p1", "INV-2", amount=D("120.00"), date=date(2026, 10, 14)), rules) == (
        "on another invoice: INV-1 vs INV-2"
    )
    other = xe_pay("p2", "INV-1", amount=D("120.02"), date=date(2026, 10, 17), reference="REF-9")
    assert (
        why_not(p, other, rules) == "amount differs by 0.02; date 3 days apart; reference differs: 'REF-1' vs 'REF-9'"
    )


def test_rank_scores_payments_on_their_invoices_contact() -> None:
    mine = ap_pay("88", "INV-1", amount=D("50.00"))
    near = xe_pay("p1", "INV-2", amount=D("50.00"))
    far = xe_pay("p2", "INV-3", amount=D("50.00"))
    contacts = {"INV-1": "Acme Training Ltd", "INV-2": "ACME Training Limited", "INV-3": "Zenith Retail Group"}
    ranked = rank(mine, [far, near], contacts=contacts)
    assert [c.record.id for c in ranked] == ["p1", "p2"]
    assert dict(ranked[0].scores)["contact"] == 100 > dict(ranked[1].scores)["contact"]

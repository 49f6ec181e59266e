"""Matching (docs/reconciliation.md sections 2 and 3): invoice keys, duplicate numbers, tombstones, the four
payment tiers, their order, the duplicate payment, directions, refunds on invoice `?`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.records import Payment
from app.domain.status import Direction
from app.reconcile.match import PaymentPair, match_invoices, match_payments
from app.reconcile.rules import Rules

RULES = Rules()
D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def test_invoices_pair_by_normalized_number() -> None:
    pairs = match_invoices([ap_inv(" inv-1 ", "1"), ap_inv("INV 2", "2")], [xe_inv("INV-1", "a"), xe_inv("INV3", "b")])
    got = [(p.key, p.source and p.source.id, p.ledger and p.ledger.id) for p in pairs]
    assert got == [("INV-1", "1", "a"), ("INV2", "2", None), ("INV3", None, "b")]


def test_duplicate_numbers_lowest_natural_id_takes_part() -> None:
    src = [ap_inv("INV-1", "10"), ap_inv("inv-1", "9"), ap_inv("INV-1", "100")]
    led = [xe_inv("INV-1", "b"), xe_inv("INV-1", "a10"), xe_inv("INV-1", "a2")]
    (pair,) = match_invoices(src, led)
    assert pair.source is not None and pair.source.id == "9"
    assert [i.id for i in pair.source_duplicates] == ["10", "100"]
    assert pair.ledger is not None and pair.ledger.id == "a10"  # non-numeric ids order as strings
    assert [i.id for i in pair.ledger_duplicates] == ["a2", "b"]


def test_deleted_invoices_take_no_part() -> None:
    (pair,) = match_invoices([ap_inv("INV-1")], [xe_inv("INV-1", deleted=True)])
    assert pair.ledger is None and pair.ledger_duplicates == ()
    # A tombstone is not a duplicate of the live record with the same number either.
    (pair,) = match_invoices([], [xe_inv("INV-1", "a", deleted=True), xe_inv("INV-1", "b")])
    assert pair.ledger is not None and pair.ledger.id == "b" and pair.ledger_duplicates == ()


def _ids(pairs: list[PaymentPair]) -> list[tuple[str | None, str | None, int | None]]:
    return [(p.source and p.source.id, p.ledger and p.ledger.id, p.tier) for p in pairs]


# (case, source payments, ledger payments, expected (source id, ledger id, tier) in output order)
TIER_CASES: list[tuple[str, list[Payment], list[Payment], list[tuple[str | None, str | None, int | None]]]] = [
    ("tier 1: amount, date, reference", [ap_pay("1", date=D1)], [xe_pay("a", date=D1)], [("1", "a", 1)]),
    ("tier 2: amount, reference", [ap_pay("1", date=D1)], [xe_pay("a", date=D2)], [("1", "a", 2)]),
    ("tier 3: amount, date", [ap_pay("1", reference="X")], [xe_pay("a", reference="Y")], [("1", "a", 3)]),
    ("tier 4: date, reference", [ap_pay("1", amount=D("10"))], [xe_pay("a", amount=D("12"))], [("1", "a", 4)]),
    (
        "no tier fits",
        [ap_pay("1", date=D1, amount=D("10"), reference="X")],
        [xe_pay("a", date=D2, amount=D("10.02"), reference="Y")],
        [("1", None, None), (None, "a", None)],
    ),
    (
        "amount within tolerance, reference trimmed and case-folded",
        [ap_pay("1", amount=D("10.00"), reference=" ref-9 ")],
        [xe_pay("a", amount=D("10.01"), reference="REF-9")],
        [("1", "a", 1)],
    ),
    (
        "an earlier tier wins over an earlier candidate",
        [ap_pay("1", date=D1, amount=D("100"), reference="A")],
        [xe_pay("a", date=D1, amount=D("100"), reference="B"), xe_pay("b", date=D2, amount=D("100"), reference="A")],
        [("1", "b", 2), (None, "a", None)],
    ),
    (
        "tier 1 for a later source payment beats tier 3 for an earlier one",
        [ap_pay("1", date=D1, reference="A"), ap_pay("2", date=D1, reference="B")],
        [xe_pay("a", date=D1, reference="B")],
        [("2", "a", 1), ("1", None, None)],
    ),
    (
        "the duplicate payment: two identical in accessplanit, one in Xero",
        [ap_pay("89"), ap_pay("88")],
        [xe_pay("a")],
        [("88", "a", 1), ("89", None, None)],
    ),
    (
        "the duplicate payment in Xero",
        [ap_pay("88")],
        [xe_pay("b"), xe_pay("a")],
        [("88", "a", 1), (None, "b", None)],
    ),
    (
        "source visited by (date, amount, natural id), ledger taken in the same order",
        [
            ap_pay("10", date=D2, reference="R"),
            ap_pay("9", date=D2, reference="R"),
            ap_pay("8", date=D3, reference="R"),
        ],
        [xe_pay("c", date=D1, reference="R"), xe_pay("b", date=D1, reference="R"), xe_pay("a", date=D3, reference="R")],
        [("9", "b", 2), ("10", "c", 2), ("8", "a", 1)],
    ),
]


@pytest.mark.parametrize(("src", "led", "expected"), [c[1:] for c in TIER_CASES], ids=[c[0] for c in TIER_CASES])
def test_payment_tiers(
    src: list[Payment], led: list[Payment], expected: list[tuple[str | None, str | None, int | None]]
) -> None:
    # Output order: pairs in source order, then leftover source, then leftover ledger payments.
    assert _ids(match_payments(src, led, RULES)) == expected


def test_payments_group_by_invoice_and_direction() -> None:
    src = [ap_pay("1", "INV-1"), ap_pay("2", "INV-2"), ap_pay("3", "INV-1", direction=Direction.REFUND)]
    led = [xe_pay("a", "inv-2"), xe_pay("b", "INV-1", direction=Direction.REFUND), xe_pay("c", "INV-1")]
    got = [
        (p.invoice_key, p.direction.value, p.source and p.source.id, p.ledger and p.ledger.id)
        for p in match_payments(src, led, RULES)
    ]
    assert got == [
        ("INV-1", "payment", "1", "c"),
        ("INV-1", "refund", "3", "b"),
        ("INV-2", "payment", "2", "a"),
    ]


def test_a_payment_never_pairs_with_a_refund() -> None:
    pairs = match_payments([ap_pay("1")], [xe_pay("a", direction=Direction.REFUND)], RULES)
    assert _ids(pairs) == [("1", None, None), (None, "a", None)]


def test_refunds_on_invoice_question_mark_stay_one_sided() -> None:
    # A Xero refund whose credit note names no invoice belongs to `?` and is never paired.
    src = [ap_pay("1", None, direction=Direction.REFUND)]
    led = [xe_pay("a", None, direction=Direction.REFUND), xe_pay("b", "", direction=Direction.REFUND)]
    pairs = match_payments(src, led, RULES)
    assert {p.invoice_key for p in pairs} == {""}
    assert sorted(_ids(pairs), key=str) == sorted([("1", None, None), (None, "a", None), (None, "b", None)], key=str)


def test_deleted_payments_take_no_part() -> None:
    pairs = match_payments([ap_pay("1")], [xe_pay("a", deleted=True), xe_pay("b", amount=D("5"))], RULES)
    assert _ids(pairs) == [("1", "b", 4)]


def test_large_group_takes_the_bucketed_path_with_the_same_answer() -> None:
    # 6 x 6 candidates is over the small-group limit; the tiers must still hold.
    src = [ap_pay(str(i), date=D1, amount=Decimal(i), reference=f"R{i}") for i in range(1, 7)]
    led = [
        xe_pay(f"x{i}", date=D2 if i % 2 else D1, amount=Decimal(i), reference=f"R{i}" if i < 4 else "Z")
        for i in range(1, 7)
    ]
    got = {(s, g): t for s, g, t in _ids(match_payments(src, led, RULES))}
    assert got == {
        ("1", "x1"): 2,
        ("2", "x2"): 1,
        ("3", "x3"): 2,
        ("4", "x4"): 3,
        ("5", None): None,
        ("6", "x6"): 3,
        (None, "x5"): None,
    }

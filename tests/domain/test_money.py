from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.money import D, MoneyError, decimals, fmt, from_minor, quantize, to_minor


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.34", Decimal("12.34")), (" 7 ", Decimal("7")), (5, Decimal(5)), (Decimal("0.10"), Decimal("0.10"))],
)
def test_D_reads_exact_values(value: object, expected: Decimal) -> None:
    assert D(value) == expected


@pytest.mark.parametrize("value", [1.5, True, None, "12,50", "abc", "NaN", "Infinity", [1]])
def test_D_refuses_floats_and_junk(value: object) -> None:
    with pytest.raises(MoneyError):
        D(value)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.005", "GBP", "2.01"),  # half up, not banker's rounding
        ("2.0049", "GBP", "2.00"),
        ("-2.005", "GBP", "-2.01"),
        ("1234.5", "JPY", "1235"),
        ("1.2345", "KWD", "1.235"),
        ("9.999", None, "10.00"),
    ],
)
def test_quantize_half_up_per_currency(amount: str, currency: str | None, expected: str) -> None:
    assert str(quantize(Decimal(amount), currency)) == expected


def test_minor_units_round_trip_and_refuse_sub_minor_amounts() -> None:
    assert to_minor(Decimal("12.34"), "GBP") == 1234
    assert to_minor(Decimal("-0.01"), "EUR") == -1
    assert to_minor(Decimal("1500"), "JPY") == 1500
    assert from_minor(1234, "GBP") == Decimal("12.34")
    with pytest.raises(MoneyError):
        to_minor(Decimal("0.001"), "GBP")


def test_fmt_uses_currency_decimals() -> None:
    assert fmt(Decimal("5"), "GBP") == "5.00"
    assert fmt(Decimal("5.5"), "JPY") == "6"
    assert fmt(None, "GBP") == ""
    assert decimals("gbp") == 2 and decimals("JPY") == 0


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["GBP", "JPY", "KWD", "USD"]))
def test_minor_round_trip_property(minor: int, currency: str) -> None:
    assert to_minor(from_minor(minor, currency), currency) == minor

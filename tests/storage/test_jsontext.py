"""`jsontext`: exact JSON for raw payloads. The fast writer (msgspec) and the general one must write the same text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.storage import jsontext

TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)))
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
LEAVES = st.none() | st.booleans() | st.integers() | TEXT | DECIMALS
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner), max_leaves=40)


def general(value: Any) -> str:
    parts: list[str] = []
    jsontext._write(value, parts)
    return "".join(parts)


def same_digits(a: Any, b: Any) -> bool:
    """Equal, and every Decimal with the same digits and exponent (12.10 is not 12.1)."""
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and a.as_tuple() == b.as_tuple()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_digits(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_digits, a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_fast_and_general_writers_agree_and_round_trip(value: Any) -> None:
    text = jsontext.dumps(value)
    assert text == general(value)
    back = jsontext.loads(text)
    assert back == value
    if isinstance(value, Decimal) and value.as_tuple().exponent != 0:
        # Digits and exponent survive, scientific forms included (1E+2 stays 1E+2); an integral Decimal("12") is
        # written as the integer 12, so only its value does.
        assert same_digits(back, value)


def test_amounts_keep_their_digits_and_keys_are_sorted() -> None:
    payload = {"b": [Decimal("12.10"), Decimal("-0.00")], "a": "é\x00", "c": None, "d": Decimal("1E+2")}
    text = jsontext.dumps(payload)
    assert text == '{"a":"é\\u0000","b":[12.10,-0.00],"c":null,"d":1E+2}'
    back = jsontext.loads(text)
    assert same_digits(back["b"], [Decimal("12.10"), Decimal("-0.00")]) and same_digits(back["d"], Decimal("1E+2"))
    # The general writer (keys of mixed types) writes the same text for the same values.
    assert jsontext.dumps({**payload, 1: "x"}) == '{"1":"x",' + text[1:]


def test_dates_mixed_keys_and_refusals() -> None:
    assert jsontext.dumps({"when": date(2026, 10, 31), "at": datetime(2026, 10, 31, 8, 5)}) == (
        '{"at":"2026-10-31T08:05:00","when":"2026-10-31"}'
    )
    assert jsontext.dumps({1: "x", "a": "y"}) == '{"1":"x","a":"y"}'
    for bad in ("NaN", "Infinity", "-Infinity", "sNaN"):
        with pytest.raises(ValueError, match="non-finite"):
            jsontext.dumps({"Total": Decimal(bad)})
    with pytest.raises(TypeError):
        jsontext.dumps({"x": object()})

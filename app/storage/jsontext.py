"""Exact JSON text for payloads kept in the cache: Decimal numbers are written digit for digit and read back as Decimal.

The standard `json` module turns Decimal into float (or refuses it); raw payloads are evidence for accountants, so
`12.10` must come back as `Decimal("12.10")`, never `12.1` or `12.0999...`.
Writing: msgspec's C encoder (Decimal as a JSON number with its own digits, `str(Decimal)`: `12.10`, and `1E+2` for
a value read as `1e2`, which reads back as the same Decimal), about ten times faster than the standard encoder with a
`default` hook; a full sync writes every record's payload. What it cannot write as this module promises (a
non-finite number, which JSON has no text for; keys of mixed types; a type it does not know) takes the general
writer, which writes the same text or refuses. Floats never reach here from the connectors (they read non-integers
as Decimal and refuse NaN/Infinity).
Must not: lose precision, reorder nothing but dict keys (sorted, so equal payloads give equal text).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder(decimal_format="number", order="sorted")
# What the fast writer writes for non-finite Decimals, which this module refuses (a plain substring test is the
# cheapest check: a payload is scanned twice at memory speed, ~1.5 us for 1.2 KB).
_NAN, _INFINITY = b"NaN", b"Infinity"


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot store a non-finite amount: {value}")
    # As msgspec writes it: `12.00` keeps its exponent, `1E+2` stays in scientific form (valid JSON, read back as the
    # same Decimal), and an integral Decimal("12") is the integer 12.
    return str(value)


def dumps(value: Any) -> str:
    """JSON text of `value`; Decimal as a JSON number with its exact digits, dates as ISO strings, keys sorted."""
    try:
        data = _ENCODER.encode(value)
    except (TypeError, msgspec.EncodeError, UnicodeEncodeError):  # the last: a lone surrogate such as "\ud800"
        data = None
    if data is None or _NAN in data or _INFINITY in data:
        # Rare: non-finite values (or "NaN"/"Infinity" inside a string: then this is merely slower), keys of mixed
        # types, types msgspec does not write as we do. The general writer decides.
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts)
    return data.decode()


def loads(text: str) -> Any:
    """Parse JSON text with every non-integer number as Decimal."""
    return json.loads(text, parse_float=Decimal)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: kept as its JSON escape, which reads back the same
            text = json.dumps(value)
        out.append(text)
    elif value is None or isinstance(value, bool):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))  # int() so IntEnum-like values are written as plain numbers
    elif isinstance(value, Decimal):
        out.append(_decimal_text(value))
    elif isinstance(value, float):
        # Floats should never reach the cache; if a reference-data stream carries one, keep repr's exact digits.
        out.append(repr(value))
    elif isinstance(value, (datetime, date)):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=str)):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot store {type(value).__name__} as JSON")

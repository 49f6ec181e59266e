"""Exact JSON text for payloads kept in the cache: Decimal numbers are written digit for digit and read back as Decimal.

The standard `json` module turns Decimal into float (or refuses it); raw payloads are evidence for accountants, so
`12.10` must come back as `Decimal("12.10")`, never `12.1` or `12.0999...`.
Must not: lose precision, reorder nothing but dict keys (sorted, so equal payloads give equal text).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# One pass of the C encoder: a Decimal is written as a marker string holding its digits, then the markers are
# replaced by the bare digits. The marker carries a random tag made at start-up, so no payload text can fake one.
_TAG = secrets.token_hex(8)
_MARK = re.compile(r'"\\u0000' + _TAG + r':([-0-9.]+)\\u0000"')


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot store a non-finite amount: {value}")
    # Integral decimals such as Decimal("12") stay integers in JSON; `12.00` keeps its exponent.
    text = str(value)
    return format(value, "f") if "E" in text or "e" in text else text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"\x00{_TAG}:{_decimal_text(value)}\x00"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """JSON text of `value`; Decimal as a JSON number with its exact digits, dates as ISO strings, keys sorted."""
    try:
        text = json.dumps(value, default=_default, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except TypeError:
        parts: list[str] = []  # keys of mixed types cannot be sorted by the encoder: the slow, general writer
        _write(value, parts)
        return "".join(parts)
    return _MARK.sub(lambda m: m.group(1), text)


def loads(text: str) -> Any:
    """Parse JSON text with every non-integer number as Decimal."""
    return json.loads(text, parse_float=Decimal)


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, str)):
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

"""Reading wire payloads, the same for every system: the `Unreadable` reason, exact money, text, and the stable
digest that names a record without an id. Each system's `mapping` module builds on these.

Must not: know any system's field names (those belong to that system's mapping module).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.domain.money import D, MoneyError


class Unreadable(ValueError):
    """A field the rules need could not be read; the message is the reason kept with the record."""


def money(raw: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal:
    """`raw[name]` as an exact Decimal (never via float); a missing optional amount is 0."""
    value = raw.get(name)
    if value is None:
        if required:
            raise Unreadable(f"missing amount {name}")
        return Decimal(0)
    try:
        return D(value)
    except MoneyError as exc:
        raise Unreadable(f"bad amount {name}: {value!r}") from exc


def text(raw: Mapping[str, Any] | None, name: str) -> str:
    """`raw[name]` as text; absent or null is ""."""
    value = (raw or {}).get(name)
    return "" if value is None else str(value)


def payload_digest(raw: Mapping[str, Any]) -> str:
    """A stable name for a record whose id cannot be read: `sha1:` and 16 hex digits of its canonical JSON."""
    blob = json.dumps(raw, sort_keys=True, default=str).encode()
    return "sha1:" + hashlib.sha1(blob, usedforsecurity=False).hexdigest()[:16]

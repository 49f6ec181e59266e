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

from app.domain.money import MoneyError, bounded


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
        return bounded(value)
    except MoneyError as exc:
        why = f" ({exc.why})" if exc.why else ""
        raise Unreadable(f"bad amount {name}: {short(value)}{why}") from exc


def short(value: Any, limit: int = 40) -> str:
    """`repr(value)` cut to `limit` characters, for a reason kept with a record (a field may hold 400 digits)."""
    text = str(value) if isinstance(value, Decimal | int) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def text(raw: Mapping[str, Any] | None, name: str) -> str:
    """`raw[name]` as text; absent or null is ""."""
    value = (raw or {}).get(name)
    return "" if value is None else str(value)


def scalar_text(raw: Mapping[str, Any] | None, name: str) -> str:
    """`raw[name]` as text, refused (`Unreadable`) when it is an object or a list, or text that cannot be stored
    (a lone UTF-16 surrogate such as `\\ud800`); absent or null is ""."""
    value = (raw or {}).get(name)
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        raise Unreadable(f"bad text {name}: {short(value)}")
    result = str(value)
    try:
        result.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Unreadable(f"bad text {name}: {short(value)} (not valid Unicode)") from exc
    return result


def payload_digest(raw: Mapping[str, Any]) -> str:
    """A stable name for a record whose id cannot be read: `sha1:` and 16 hex digits of its canonical JSON."""
    blob = json.dumps(raw, sort_keys=True, default=str).encode()
    return "sha1:" + hashlib.sha1(blob, usedforsecurity=False).hexdigest()[:16]

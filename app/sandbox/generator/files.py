"""Fixture files of a generated month: the product.md section 4 layout (`accessplanit/<Module>.json` as
`{"results": [...]}`, `xero/<Collection>.json` as response envelopes) and the expected items file.

Money is written as exact JSON numbers (`12.50` stays `12.50`), in chunks, so a million records never become one
giant string. `load_fixtures` reads any directory in that layout back (hand-made ones too) for the servers and
the oracle, every amount an exact `Decimal`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sandbox.common import loads
from app.sandbox.generator.month import Dataset

ACCESSPLANIT_FILES = ("Invoice", "InvoiceItem", "Transaction", "TransactionMethod")
XERO_FILES = (
    "Invoices",
    "Payments",
    "CreditNotes",
    "Contacts",
    "TaxRates",
    "Accounts",
    "Organisation",
    "BatchPayments",
    "Overpayments",
    "Prepayments",
)

_CHUNK = 20_000
_OPEN, _CLOSE = '"\\u0000', '\\u0000"'  # how json writes the NUL marks around a Decimal's string


def _default(value: object) -> object:
    """JSON has no Decimal: write it as a NUL-marked string, whose quotes `_dumps` then removes, so 12.50 is
    written as the number 12.50 exactly (a float would lose the trailing zero, or worse). Our records never hold
    a NUL character, so the marks cannot meet real text."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        return f"\0{value}\0"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    text = json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    return text.replace(_OPEN, "").replace(_CLOSE, "")  # two C-speed passes; a regex with groups is 5x slower


def _write_json(path: Path, head: Mapping[str, Any], list_key: str, items: list[dict[str, Any]]) -> None:
    """Write `{**head, list_key: items}` in chunks, so a million records never become one giant string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        prefix = _dumps({k: v for k, v in head.items() if k != list_key})
        out.write(prefix[:-1] + ("," if len(prefix) > 2 else "") + json.dumps(list_key) + ":[")
        for start in range(0, len(items), _CHUNK):
            if start:
                out.write(",")
            out.write(_dumps(items[start : start + _CHUNK])[1:-1])
        out.write("]}\n")


def write_fixtures(ds: Dataset, directory: str | Path) -> None:
    """Write the product.md section 4 layout: `accessplanit/<Module>.json` as `{"results": [...]}` and
    `xero/<Collection>.json` as Xero's response envelopes. Money is written as exact JSON numbers."""
    root = Path(directory)
    for module, records in ds.accessplanit.items():
        _write_json(root / "accessplanit" / f"{module}.json", {}, "results", records)
    for name, env in ds.xero.items():
        list_key = next(k for k, v in env.items() if isinstance(v, list))
        _write_json(root / "xero" / f"{name}.json", env, list_key, env[list_key])


def write_expected(ds: Dataset, path: str | Path) -> None:
    """Write `{"items": [...]}` (the report JSON's items shape), plus `period` and `seed` for people."""
    _write_json(Path(path), {"period": ds.month, "seed": ds.seed}, "items", ds.expected)


def _read_json(path: Path) -> Any:
    try:
        return loads(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"fixture file {path} is not valid JSON: {exc}") from None


def load_fixtures(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Read a product.md section 4 fixtures directory.

    Returns `{"accessplanit": {"Invoice": [records], ...}, "xero": {"Invoices": <envelope as in the file>}}`;
    a missing file leaves its key out (an empty collection; accessplanit's TransactionMethod gets defaults).
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"fixtures directory {root} does not exist")
    ap: dict[str, Any] = {}
    for name in ACCESSPLANIT_FILES:
        path = root / "accessplanit" / f"{name}.json"
        if path.is_file():
            ap[name] = _records(_read_json(path), str(path))
    xero: dict[str, Any] = {}
    for name in XERO_FILES:
        path = root / "xero" / f"{name}.json"
        if path.is_file():
            xero[name] = _read_json(path)
    return {"accessplanit": ap, "xero": xero}


def _records(value: Any, where: str) -> list[Any]:
    """The record list of an accessplanit collection given as `{"results": [...]}` or as a bare list."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("results"), list):
        return list(value["results"])
    raise ValueError(f'{where}: expected {{"results": [...]}}')

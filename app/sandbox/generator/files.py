"""Fixture files of a generated month: the product.md section 4 layout (`accessplanit/<Module>.json` as
`{"results": [...]}`, `xero/<Collection>.json` as response envelopes) and the expected items file.

Money is written as exact JSON numbers (`12.50` stays `12.50`), in chunks, so a million records never become one
giant string. Reading them back is `app.sandbox.runner.load_fixtures`, the reader the servers use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sandbox.generator.month import Dataset

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

"""The pack's CSV: one row per item of the period, headers in words, text neutralised against formula injection,
amounts as plain decimal strings (a leading minus on an amount is a number, not text, and stays).

Must not: read the database or change what a value says beyond the `'` that `neutralise` puts in front.
"""

from __future__ import annotations

import csv
import io

from app.services.pack.model import PackData, neutralise


def to_csv(data: PackData) -> bytes:
    columns = data.columns()
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([c.title for c in columns])
    for item in data.items:
        row = []
        for c in columns:
            value = c.get(item) or ""
            row.append(value if c.kind in ("amount", "date") else neutralise(value))
        writer.writerow(row)
    # utf-8-sig: Excel opens a BOM-less UTF-8 CSV as ANSI and garbles names such as "Zoë".
    return out.getvalue().encode("utf-8-sig")

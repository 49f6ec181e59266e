"""Dashboard figures: how long `Workspace.dashboard(period)` takes (its aggregates: per system and currency totals,
value by status, the sync-run trend) on a cache of N invoices in both systems (`--invoices`, default 100,000), each
with three ledger payments and a ledger refund on one invoice in fifty, spread over twelve months and three currencies.

The records and items are written straight into the cache's tables (no sync; the dashboard reads only those), and
the sums it returns are checked against sums this script makes itself from what it wrote.
Must not: patch app code, or measure a cache it did not build.

    .venv/bin/python benchmarks/dashboard.py [--invoices 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from _bench import emit, finish, machine, note

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CURRENCIES = ["GBP"] * 8 + ["EUR", "USD"]


def build(path: Path, n: int) -> dict[str, dict[str, int]]:
    """Write the cache; returns what the newest month's source totals must be: currency -> {"invoices", "total"}."""
    from sqlalchemy import insert, select

    from app.storage.db import Database
    from app.storage.schema import items, records

    db = Database(f"sqlite:///{path}")
    db.migrate()
    rnd = random.Random(7)
    expected: dict[str, dict[str, int]] = defaultdict(lambda: {"invoices": 0, "total": 0})
    columns = [c.name for c in records.columns if c.name != "id"]
    with db.transaction() as tx:
        rows: list[dict[str, Any]] = []
        for i in range(n):
            currency, month = rnd.choice(CURRENCIES), 1 + i % 12
            total = rnd.randrange(100, 500_000)
            paid = rnd.randrange(0, total)
            number = f"INV-{i:07d}"
            base = {c: None for c in columns} | {"number_key": number, "currency": currency, "deleted": False}
            for system, rid in (("accessplanit", str(i)), ("xero", f"x{i}")):
                rows.append(
                    base
                    | {"system": system, "kind": "invoice", "stream": "invoices", "remote_id": rid, "number": number}
                    | {"total_minor": total, "paid_minor": paid, "due_minor": total - paid, "raw": "{}"}
                    | {"doc_date": date(2026, month, 1 + i % 28)}
                )
            for k in range(3):
                rows.append(
                    base
                    | {"system": "xero", "kind": "payment", "stream": "payments", "remote_id": f"p{i}-{k}"}
                    | {"amount_minor": paid // 3, "direction": "payment", "raw": "{}"}
                )
            if i % 50 == 0:
                rows.append(
                    base
                    | {"system": "xero", "kind": "payment", "stream": "payments", "remote_id": f"r{i}"}
                    | {"amount_minor": 100, "direction": "refund", "raw": "{}"}
                )
            if month == 12:
                expected[currency]["invoices"] += 1
                expected[currency]["total"] += total
        for start in range(0, len(rows), 20_000):
            tx.conn.execute(insert(records), rows[start : start + 20_000])
        ids = {
            (s, r): i
            for i, s, r in tx.conn.execute(
                select(records.c.id, records.c.system, records.c.remote_id).where(records.c.kind == "invoice")
            )
        }
        item_rows = []
        for i in range(n):
            number = f"INV-{i:07d}"
            item_rows.append(
                {"kind": "invoice", "key": number, "status": "matched" if i % 7 else "differs", "fields": "[]"}
                | {"invoice_key": number, "invoice": number, "period": f"2026-{1 + i % 12:02d}", "contact": "c"}
                | {"currency": "GBP", "amount_minor": 1, "reference": "", "note": "", "fingerprint": ""}
                | {"search_text": "", "source_record_id": ids[("accessplanit", str(i))]}
                | {"ledger_record_id": ids[("xero", f"x{i}")]}
            )
        for start in range(0, len(item_rows), 20_000):
            tx.conn.execute(insert(items), item_rows[start : start + 20_000])
    db.dispose()
    return dict(expected)


def measure(path: Path, expected: dict[str, dict[str, int]]) -> dict[str, Any]:
    from app.composition import ConnectorFactory
    from app.credentials import MemoryCredentialStore
    from app.domain.money import to_minor
    from app.domain.status import System
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage.db import Database

    settings = Settings()
    ws = Workspace(
        Database(f"sqlite:///{path}"),
        MemoryCredentialStore(),
        settings,
        ConnectorFactory(settings, Path(tempfile.mkdtemp())),
        "bench",
    )
    out: dict[str, Any] = {}
    for name, period in (("one_month", "2026-12"), ("all_months", None)):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            dash = ws.dashboard(period)
            times.append(time.perf_counter() - t)
        out[f"{name}_s"] = round(min(times), 4)
        out[f"{name}_s_max"] = round(max(times), 4)
        if period is not None:
            got = {
                t.currency: {"invoices": t.invoices, "total": to_minor(t.total, t.currency)}
                for t in dash.totals
                if t.system is System.ACCESSPLANIT
            }
            out["totals_agree_with_the_built_data"] = got == expected
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices per system (default: %(default)s)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "dashboard", "machine": machine(), "invoices": args.invoices}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard.sqlite3"
        note(f"building a cache of {args.invoices:,} invoices per system")
        t = time.perf_counter()
        expected = build(path, args.invoices)
        result["build_s"] = round(time.perf_counter() - t, 1)
        note("measuring the dashboard")
        result.update(measure(path, expected))
        result["cache_mib"] = round(path.stat().st_size / 1024 / 1024, 1)
    finish(result)
    emit(result)


if __name__ == "__main__":
    main()

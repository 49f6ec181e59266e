"""Settings-change figures: how long a change of the amount tolerance and of a payment method's account takes to
re-reconcile a cache of N invoices (`--invoices`, default 100,000) in both systems, each with one payment a side,
against a full reconcile of the same cache in the same run (the baseline: what a changed tolerance cost before, as
the next sync redid every key).

Two caches are built per run, with a different share of invoices that can be affected (`--shares`, default 1% and
10%): in those, Xero's invoice and payment are 0.02 above accessplanit's (they differ at the default 0.01 tolerance
and match at 0.05) and the accessplanit payment's method is "Card" (the method whose account is changed). Records go
in through the storage layer (`upsert_page`, as a sync page would), then the cache is reconciled once. The figures:
the keys and items each change re-reconciled, its seconds, and the seconds of the full reconcile. After the
tolerance change every affected invoice must be matched (checked), so the figure is of a change that worked.
Must not: patch app code, or measure a cache it did not build.

    .venv/bin/python benchmarks/tolerance_change.py [--invoices 100000] [--shares 0.01,0.1] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from _bench import emit, finish, machine, note

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = 5000


def build(path: Path, n: int, share: float) -> Any:
    """Write the cache and reconcile it once (at the default settings); returns the open `Database`."""
    from app.domain.records import Invoice, Line, Payment
    from app.domain.status import Direction, InvoiceState, System
    from app.services.reconciling import reconcile_all
    from app.settings import Settings
    from app.storage import records as records_repo
    from app.storage.db import Database

    db = Database(f"sqlite:///{path}")
    db.migrate()
    every = max(1, round(1 / share))
    d = Decimal

    def records(system: System, start: int, stop: int) -> tuple[list[Any], list[Any]]:
        invoices: list[Any] = []
        payments: list[Any] = []
        for i in range(start, stop):
            number = f"INV-{i:07d}"
            odd = i % every == 0 and system is System.XERO
            net = d(100 + i % 900) + (d("0.02") if odd else 0)
            tax = d(20)
            paid = net + tax
            rid = f"{'x' if system is System.XERO else ''}{i}"
            invoices.append(
                Invoice(
                    system=system,
                    id=rid,
                    number=number,
                    contact=f"Client {i % 5000}",
                    issue_date=date(2026, 1 + i % 12, 1 + i % 28),
                    due_date=None,
                    po_number=f"PO-{i}",
                    currency="GBP",
                    net=net,
                    tax=tax,
                    total=net + tax,
                    paid=paid,
                    due=d(0),
                    state=InvoiceState.PAID,
                    lines=(Line("Course", net, tax),),
                )
            )
            method = "Card" if i % every == 0 else "BACS"
            payments.append(
                Payment(
                    system=system,
                    id=f"p{rid}",
                    invoice_number=number,
                    invoice_id=rid,
                    date=date(2026, 1 + i % 12, 1 + i % 28),
                    amount=paid,
                    reference=f"R{i}",
                    method=("091" if method == "Card" else "090") if system is System.XERO else method,
                    direction=Direction.PAYMENT,
                    currency="GBP",
                )
            )
        return invoices, payments

    for system in (System.ACCESSPLANIT, System.XERO):
        for start in range(0, n, PAGE):
            invoices, payments = records(system, start, min(n, start + PAGE))
            with db.transaction() as tx:
                records_repo.upsert_page(tx, system, "invoices", invoices, [{} for _ in invoices], {})
                records_repo.upsert_page(tx, system, "payments", payments, [{} for _ in payments], {})
    reconcile_all(db, Settings())
    return db


def measure(n: int, share: float) -> dict[str, Any]:
    from app.services.reconciling import reconcile_all
    from app.services.settings_change import apply_changes
    from app.settings import DEFAULT_METHOD_ACCOUNTS, Settings
    from app.storage import items as items_repo

    with tempfile.TemporaryDirectory(prefix="tolerance-change-") as tmp:
        note(f"building {n} invoices, {share:.0%} affected")
        started = time.perf_counter()
        db = build(Path(tmp) / "cache.sqlite3", n, share)
        build_seconds = time.perf_counter() - started
        with db.transaction() as tx:
            before = items_repo.count_by_status(tx)
        note("baseline: a full reconcile")
        started = time.perf_counter()
        reconcile_all(db, Settings())
        full_seconds = time.perf_counter() - started

        note("tolerance 0.01 -> 0.05")
        tolerance = apply_changes(db, Settings(), {"money_tolerance": "0.05"}, "benchmark")
        with db.transaction() as tx:
            after = items_repo.count_by_status(tx)
        note("method mapping Card 091 -> 099")
        mapping = {**DEFAULT_METHOD_ACCOUNTS, "Card": "099"}
        method = apply_changes(db, tolerance.settings, {"method_accounts": mapping}, "benchmark")
        db.dispose()
    differing = before.get("differs", 0)
    assert after.get("differs", 0) == 0, f"items still differ after the tolerance change: {after}"
    return {
        "invoices": n,
        "affected_share": share,
        "build_seconds": round(build_seconds, 2),
        "items": sum(before.values()),
        "statuses_before": before,
        "statuses_after_tolerance": after,
        "full_reconcile_seconds": round(full_seconds, 3),
        "tolerance_change": {
            "invoice_keys": tolerance.keys,
            "items_redone": tolerance.items,
            "status_changed": tolerance.status_changed,
            "seconds": round(tolerance.seconds, 3),
            "differing_before": differing,
            "share_of_full": round(tolerance.seconds / full_seconds, 4),
        },
        "method_mapping_change": {
            "invoice_keys": method.keys,
            "items_redone": method.items,
            "status_changed": method.status_changed,
            "seconds": round(method.seconds, 3),
            "share_of_full": round(method.seconds / full_seconds, 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--shares", default="0.01,0.1")
    parser.add_argument("-o", "--output", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "tolerance_change",
        "issue": 15,
        "machine": machine(),
        "command": "python benchmarks/tolerance_change.py " + " ".join(sys.argv[1:]),
        "runs": [measure(args.invoices, float(s)) for s in args.shares.split(",")],
    }
    runs = result["runs"]
    if len(runs) >= 2:
        a, b = runs[0]["tolerance_change"], runs[-1]["tolerance_change"]
        result["tolerance_seconds_per_1000_items"] = [
            round(r["tolerance_change"]["seconds"] / max(1, r["tolerance_change"]["items_redone"]) * 1000, 3)
            for r in runs
        ]
        result["tolerance_items_ratio"] = round(b["items_redone"] / max(1, a["items_redone"]), 2)
        result["tolerance_seconds_ratio"] = round(b["seconds"] / max(1e-9, a["seconds"]), 2)
    finish(result)
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    emit(result)


if __name__ == "__main__":
    main()

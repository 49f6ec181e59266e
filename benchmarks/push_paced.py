"""Benchmark (issue 13): pushing many records to Xero with the real rate limits on (the sandbox's 60 calls a minute
per tenant, the app's own pacing of 50 a minute with a burst of 5). `--invoices` new invoices and as many payments
on them go through `PushService.push_many` (batches of up to 50 per request, a bulk re-read of the paid invoices);
in the same run a small number (`--single`) of each goes one at a time through `PushService.push`, and is
extrapolated to the bulk size. Prints one JSON object: wall seconds and Xero calls of each way.

Each run has its own sandboxes (a child process) and SQLite file, through a real `Workspace`.
Must not: change the app's pacing or the sandboxes' limits. Runs once at the given size (default 500 + 500).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import _bench


def _plans(prefix: str, count: int) -> tuple[list[Any], list[Any]]:
    from app.domain.records import Invoice, Line
    from app.domain.status import InvoiceState, System
    from app.services import plans
    from app.settings import Settings

    settings = Settings()
    lines = (Line("Course seat", Decimal("100.00"), Decimal("20.00"), Decimal(1), Decimal("100.00")),)
    invoices = [
        Invoice(
            system=System.ACCESSPLANIT,
            id=f"{prefix}-{i}",
            number=f"{prefix}-{i:04d}",
            contact="Bench Training Ltd",
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 11, 1),
            po_number="",
            currency="GBP",
            net=Decimal("100.00"),
            tax=Decimal("20.00"),
            total=Decimal("120.00"),
            paid=Decimal(0),
            due=Decimal("120.00"),
            state=InvoiceState.OPEN,
            lines=lines,
        )
        for i in range(count)
    ]
    return [plans.plan_push_invoice(inv, settings, inv.number, System.XERO) for inv in invoices], invoices


def _payment_plans(ws: Any, invoices: list[Any]) -> list[Any]:
    from app.domain.records import Payment
    from app.domain.status import Direction, PushState, System
    from app.services import plans
    from app.storage import outbox

    with ws.db.transaction() as tx:
        remote = {p.item_key: p.result_remote_id for p in outbox.pushes_in_state(tx, [PushState.SUCCEEDED])}
    out = []
    for i, inv in enumerate(invoices):
        on_xero = replace(inv, system=System.XERO, id=str(remote[inv.number]))
        pay = Payment(
            System.ACCESSPLANIT, f"p-{inv.id}", inv.number, inv.id, date(2026, 10, 15), Decimal("50.00"),
            f"REF-{inv.number}", "BACS", Direction.PAYMENT, "GBP",
        )  # fmt: skip
        out.append(plans.plan_push_payment(pay, on_xero, ws.settings, f"pay-{i}"))
    return out


def _xero_calls(info: dict[str, Any]) -> int:
    return sum(1 for r in _bench.request_log(_bench.xero_root(info)) if "/api.xro/" in str(r.get("path")))


def _timed(info: dict[str, Any], work: Any) -> dict[str, Any]:
    _bench.reset_logs(info)
    t0 = time.perf_counter()
    outcomes = work()
    seconds = time.perf_counter() - t0
    return {
        "records": len(outcomes),
        "ok": sum(1 for o in outcomes if o.ok),
        "seconds": round(seconds, 2),
        "xero_calls": _xero_calls(info),
    }


def run(count: int, single: int) -> dict[str, Any]:
    with _bench.sandbox_child(20, faults="") as child, tempfile.TemporaryDirectory() as tmp:
        info = child.hello["info"]
        ws = _bench.bench_workspace(Path(tmp) / "push.sqlite3", info, pacing="default")
        inv_plans, invoices = _plans("BULK", count)
        _bench.note(f"bulk: {count} invoices")
        bulk_inv = _timed(info, lambda: ws.pusher.push_many(inv_plans))
        pay_plans = _payment_plans(ws, invoices)
        _bench.note(f"bulk: {count} payments")
        bulk_pay = _timed(info, lambda: ws.pusher.push_many(pay_plans))
        one_inv_plans, one_invoices = _plans("ONE", single)
        _bench.note(f"one at a time: {single} invoices")
        one_inv = _timed(info, lambda: [ws.pusher.push(p) for p in one_inv_plans])
        one_pay_plans = _payment_plans(ws, one_invoices)
        _bench.note(f"one at a time: {single} payments")
        one_pay = _timed(info, lambda: [ws.pusher.push(p) for p in one_pay_plans])
        ws.db.dispose()
    scale = count / single
    extrapolated = {
        "seconds": round((one_inv["seconds"] + one_pay["seconds"]) * scale, 1),
        "xero_calls": round((one_inv["xero_calls"] + one_pay["xero_calls"]) * scale),
    }
    return {
        "bulk": {
            "invoices": bulk_inv,
            "payments": bulk_pay,
            "seconds": round(bulk_inv["seconds"] + bulk_pay["seconds"], 2),
            "xero_calls": bulk_inv["xero_calls"] + bulk_pay["xero_calls"],
        },
        "one_at_a_time_measured": {"invoices": one_inv, "payments": one_pay},
        f"one_at_a_time_extrapolated_to_{count}_plus_{count}": extrapolated,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=500, help="invoices, and as many payments, pushed in bulk")
    parser.add_argument("--single", type=int, default=10, help="of each pushed one at a time (then extrapolated)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "push_paced",
        "issue": 13,
        "machine": _bench.machine(),
        "command": "python benchmarks/push_paced.py " + " ".join(argv or []),
        "rate_limits": "sandbox defaults (Xero 60/min per tenant); app pacing from Settings (50/min, burst 5)",
        **run(args.invoices, args.single),
    }
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

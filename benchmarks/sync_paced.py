"""Benchmark (issue 12): what a user waits for. A first and a no-change sync of a generated month with the services'
real rate limits on (the sandboxes' default limits: Xero 60 calls a minute per tenant, accessplanit 5,000 an hour
per endpoint) and the app's own pacing (`Settings`: Xero 50 a minute with a burst of 5), how much of each is spent
waiting for a pacing slot, and how long the reconcile inside each takes. Then, on a bigger cache (`--cache`, limits
lifted so that filling it does not take hours), a no-change sync and a reconcile of 100 invoice keys: the work that
must scale with what changed, not with the cache.

Each month runs in its own sandboxes (a child process) and its own SQLite file, through a real `Workspace`.
Prints one JSON object.
Must not: change the app's pacing or the sandboxes' limits for the paced runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench


def _run(ws: Any, *, full: bool, waited: list[float]) -> dict[str, Any]:
    """One sync, timed: wall seconds, seconds waiting for pacing slots, seconds reconciling, calls and records."""
    marks: dict[str, float] = {}

    def progress(event: Any) -> None:
        if event.stage == "reconciling":
            marks.setdefault("reconciling", time.perf_counter())
        elif event.stage == "done":
            marks["done"] = time.perf_counter()

    waited[0] = 0.0
    t0 = time.perf_counter()
    result = ws.sync(full=full, progress=progress)
    seconds = time.perf_counter() - t0
    reconcile = marks.get("done", t0) - marks.get("reconciling", marks.get("done", t0))
    return {
        "ok": result.ok,
        "errors": list(result.errors),
        "seconds": round(seconds, 2),
        "waiting_for_limits_seconds": round(waited[0], 2),
        "waiting_share": round(waited[0] / seconds, 3) if seconds else None,
        "reconcile_seconds": round(reconcile, 3),
        "calls": sum(s.calls for s in result.streams),
        "retries": sum(s.retries for s in result.streams),
        "records_fetched": sum(s.fetched for s in result.streams),
        "items": sum(result.counts.values()),
    }


def paced_month(invoices: int, paid_instalments: float) -> dict[str, Any]:
    waited = [0.0]
    # faults "": every limit of both sandboxes at its default, which is the real services' documented limit.
    with (
        _bench.sandbox_child(invoices, faults="", paid_instalments=paid_instalments) as child,
        tempfile.TemporaryDirectory() as tmp,
    ):
        ws = _bench.bench_workspace(Path(tmp) / "paced.sqlite3", child.hello["info"], pacing="default", waited=waited)
        _bench.note(f"paced first sync of {invoices} invoices")
        first = _run(ws, full=True, waited=waited)
        _bench.note(f"paced no-change sync of {invoices} invoices")
        again = _run(ws, full=False, waited=waited)
        ws.db.dispose()
        return {"invoices": invoices, "records": child.hello.get("counts"), "first": first, "no_change": again}


def big_cache(invoices: int, paid_instalments: float, changed_keys: int) -> dict[str, Any]:
    from app.services.reconciling import reconcile_all
    from app.storage import records

    waited = [0.0]
    with (
        _bench.sandbox_child(invoices, paid_instalments=paid_instalments) as child,
        tempfile.TemporaryDirectory() as tmp,
    ):
        ws = _bench.bench_workspace(Path(tmp) / "big.sqlite3", child.hello["info"], waited=waited)
        _bench.note(f"filling a cache of {invoices} invoices (limits lifted)")
        fill = _run(ws, full=True, waited=waited)
        _bench.note("no-change sync of the big cache")
        again = _run(ws, full=False, waited=waited)
        with ws.db.transaction(readonly=True) as tx:
            keys = [k for k in records.invoice_keys(tx) if k]
        step = max(1, len(keys) // changed_keys)
        some = keys[::step][:changed_keys]  # spread over the cache, not its first keys
        _bench.note(f"reconcile of {len(some)} invoice keys")
        t0 = time.perf_counter()
        reconcile_all(ws.db, ws.settings, some)
        keyed = time.perf_counter() - t0
        ws.db.dispose()
        return {
            "invoices": invoices,
            "fill": fill,
            "no_change": again,
            "reconcile_keys": {"keys": len(some), "seconds": round(keyed, 3)},
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, nargs="*", default=[2000, 20000], help="months synced paced")
    parser.add_argument("--cache", type=int, default=100_000, help="invoices of the big cache (0: skip it)")
    parser.add_argument("--changed", type=int, default=100, help="invoice keys the big cache's reconcile redoes")
    parser.add_argument(
        "--paid-instalments", type=float, default=3.9, help="generator: 3.9 gives 1.5 payments per invoice"
    )
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "sync_paced",
        "issue": 12,
        "machine": _bench.machine(),
        "command": "python benchmarks/sync_paced.py " + " ".join(argv or []),
        "paced": [paced_month(n, args.paid_instalments) for n in args.invoices],
    }
    if args.cache:
        result["big_cache"] = big_cache(args.cache, args.paid_instalments, args.changed)
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

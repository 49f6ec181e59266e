"""Benchmark (issue 4): HTTP calls a sync uses, counted by the sandboxes, against the minimum possible.

Starts both sandboxes with a generated month of `--invoices` invoices (limits lifted) in a child process, connects
a real `Workspace` (SQLite file) as the demo does, clears the sandboxes' request logs (`POST /__admin/reset`), runs
a full sync, and counts the requests each sandbox logged (`GET /__admin/requests`), per stream. The minimum for a
paged stream is the pages its records need: max(1, ceil(records / 1000)), records as the sandbox serves them
(invoice lines: every InvoiceItem; the sandbox accepts a closed `InvoiceID` range, so lines could in principle be
paged 1,000 at a time). Reference data (sign-in, organisation, accounts, tax rates, transaction methods) is the
constant. Then the logs are cleared again and an incremental sync with nothing changed is counted (target: one
call per stream).
Prints one JSON object.
Must not: count calls from the app's own statistics (they are shown only as a cross-check).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import _bench

PAGE = 1000
REFERENCE = {"accessplanit": ("auth", "transaction_methods"), "xero": ("auth", "organisation", "accounts", "tax_rates")}
# Streams whose records are paged, and the sandbox collection that holds those records.
PAGED = {
    "accessplanit": {
        "invoices": "accessplanit.Invoice",
        "invoice_lines": "accessplanit.InvoiceItem",
        "payments": "accessplanit.Transaction",
    },
    "xero": {
        "contacts": "xero.Contacts",
        "credit_notes": "xero.CreditNotes",
        "invoices": "xero.Invoices",
        "payments": "xero.Payments",
    },
}


def pages(records: int) -> int:
    return max(1, math.ceil(records / PAGE))


def compare(calls: dict[str, dict[str, int]], counts: dict[str, int]) -> dict[str, Any]:
    streams: dict[str, Any] = {}
    data_calls = data_min = reference = other = 0
    for system, by_stream in calls.items():
        for stream, n in by_stream.items():
            key = f"{system}.{stream}"
            if stream in REFERENCE[system]:
                reference += n
                streams[key] = {"calls": n, "kind": "reference"}
            elif stream in PAGED[system]:
                records = counts.get(PAGED[system][stream], 0)
                minimum = pages(records)
                data_calls += n
                data_min += minimum
                streams[key] = {
                    "calls": n,
                    "records": records,
                    "minimum": minimum,
                    "ratio": round(n / minimum, 3),
                }
            else:  # lookups the full run should not need, or anything unexpected
                other += n
                streams[key] = {"calls": n, "kind": "extra"}
        for stream, collection in PAGED[system].items():  # a stream that made no call at all is a finding too
            streams.setdefault(
                f"{system}.{stream}",
                {
                    "calls": 0,
                    "records": counts.get(collection, 0),
                    "minimum": pages(counts.get(collection, 0)),
                    "ratio": 0.0,
                },
            )
    lines = streams.get("accessplanit.invoice_lines", {})
    rec_calls = data_calls - int(lines.get("calls", 0))
    rec_min = data_min - int(lines.get("minimum", 0))
    return {
        "streams": dict(sorted(streams.items())),
        # The record streams alone (invoices, payments, contacts, credit notes), without invoice lines.
        "record_streams_ratio": round(rec_calls / rec_min, 3) if rec_min else None,
        "data_calls": data_calls + other,
        "data_minimum": data_min,
        "ratio": round((data_calls + other) / data_min, 3) if data_min else None,
        "reference_calls": reference,
        "total_calls": data_calls + other + reference,
    }


def client_stats(result: Any) -> dict[str, Any]:
    """The app's own per-stream statistics (cross-check only)."""
    return {
        f"{s.system.value}.{s.stream}": {
            "calls": s.calls,
            "pages": s.pages,
            "fetched": s.fetched,
            "invalid": s.invalid,
            "error": s.error or None,
        }
        for s in result.streams
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--month", default=_bench.DEFAULT_MONTH)
    parser.add_argument(
        "--paid-instalments",
        type=float,
        default=3.9,
        help="generator: mean payments of an invoice paid in full (3.9: 1.5 payments per invoice, as issue 4 asks)",
    )
    parser.add_argument(
        "--pacing",
        choices=("unlimited", "default"),
        default="unlimited",
        help="client pacing: lifted (default) or the production token buckets (slow: 50 a minute)",
    )
    args = parser.parse_args(argv)

    result: dict[str, Any] = {
        "benchmark": "sync_calls",
        "issue": 4,
        "machine": _bench.machine(),
        "command": "python benchmarks/sync_calls.py " + " ".join(argv or []),
        "pacing": args.pacing,
    }
    with (
        _bench.sandbox_child(
            args.invoices, seed=args.seed, month=args.month, paid_instalments=args.paid_instalments
        ) as child,
        tempfile.TemporaryDirectory() as tmp,
    ):
        info = child.hello["info"]
        counts = child.hello.get("counts") or {}
        result["records"] = counts
        ws = _bench.bench_workspace(Path(tmp) / "bench.sqlite3", info, pacing=args.pacing)

        _bench.reset_logs(info)
        _bench.note(f"full sync of {args.invoices} invoices")
        with _bench.timer() as t_full:
            full = ws.sync(full=True)
        calls = _bench.calls_by_stream(info)
        result["full"] = {
            "ok": full.ok,
            "errors": list(full.errors),
            "seconds": round(t_full["seconds"], 2),
            "calls_by_endpoint": calls,
            "calls_per_stream": _bench.per_stream(calls),
            **compare(calls, counts),
            "client_reported": client_stats(full),
        }

        _bench.reset_logs(info)
        _bench.note("incremental sync, nothing changed")
        with _bench.timer() as t_inc:
            inc = ws.sync(full=False)
        calls = _bench.calls_by_stream(info)
        folded = _bench.per_stream(calls)
        streams_run = [f"{s.system.value}.{s.stream}" for s in inc.streams]
        result["incremental"] = {
            "ok": inc.ok,
            "errors": list(inc.errors),
            "seconds": round(t_inc["seconds"], 2),
            "calls_by_endpoint": calls,
            "calls_per_stream": folded,
            "total_calls": sum(folded.values()),
            "streams": len(streams_run),
            # Target: one call per stream; anything above (or a stream with no call, or sign-in) is listed.
            "off_target": {k: folded.get(k, 0) for k in sorted({*folded, *streams_run}) if folded.get(k, 0) != 1},
            "client_reported": client_stats(inc),
        }
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

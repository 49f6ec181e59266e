"""Benchmark (issue 4): full-sync throughput and peak memory, against a bare `requests` loop over the same pages.

For each size (`--invoices N` and N/4): both sandboxes with a generated month (limits lifted) in one child process;
a full sync through the real `Workspace.sync` into a fresh SQLite file in a second child process (so its `ru_maxrss`
is its own; its child processes, the page writer of big streams and the reconcile helper of big runs, are reported
apart: `writer_ru_maxrss_mib` is the larger of their peaks, the name kept from before the helper), with the client's
pacing lifted too (`--pacing default` keeps the production token buckets). At N the request log of that sync is then
replayed by a bare loop of `requests.get` (fetch + Decimal JSON parse, no mapping, no database) against the same
sandbox process: the bare loop's records/s is the ceiling the sync is held to (target >= 0.5). Its time per endpoint
is reported, so a slow sandbox endpoint, which slows both loops alike, is visible. With `--tracemalloc` (default on)
each size is synced a second time under `tracemalloc` for the Python-heap peak (tracemalloc slows Python, so
throughput is taken from the untraced run; the page writer's heap is not traced, its RSS is). Prints one JSON object.
Must not: change app code, or count a run that reported errors as a good figure (errors are in the output).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench
import requests


def _child_sync(args: argparse.Namespace) -> None:
    """In the sync child: connect, sync in full once, report time, records and memory."""
    import tracemalloc

    info = json.loads(sys.stdin.readline())
    ws = _bench.bench_workspace(Path(args.db), info, pacing=args.pacing)
    _bench.reset_logs(info)  # the connection check's calls are not part of the sync
    phase: dict[str, float] = {}

    def progress(event: Any) -> None:
        # The sync fetches every stream, then reconciles: split its time (and heap peak) at that point.
        if event.stage == "reconciling" and "fetch_seconds" not in phase:
            phase["fetch_seconds"] = time.perf_counter() - t0
            if args.traced:
                phase["fetch_peak"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()

    if args.traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    result = ws.sync(full=True, progress=progress)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if args.traced else None
    if args.traced:
        tracemalloc.stop()
    fetched = sum(s.fetched for s in result.streams)
    fetch_seconds = phase.get("fetch_seconds", seconds)
    out = {
        "ok": result.ok,
        "errors": list(result.errors),
        "seconds": round(seconds, 2),
        "fetch_seconds": round(fetch_seconds, 2),
        "reconcile_seconds": round(seconds - fetch_seconds, 2),
        "records": fetched,
        "records_per_second": _bench.rate(fetched, seconds),
        "fetch_records_per_second": _bench.rate(fetched, fetch_seconds),
        "pages": sum(s.pages for s in result.streams),
        "calls": sum(s.calls for s in result.streams),
        "streams": {
            f"{s.system.value}.{s.stream}": {"fetched": s.fetched, "pages": s.pages, "calls": s.calls}
            for s in result.streams
        },
        "items": result.counts,
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # The sync's child processes (the page writer, app/storage/pagewriter.py; the reconcile helper,
        # app/services/reconciling.py) are reaped before the sync returns: the larger of their peak RSS. 0 when the
        # sync started neither.
        "writer_ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "tracemalloc_peak_mib": (
            round(max(peak, phase.get("fetch_peak", 0)) / _bench.MIB, 1) if peak is not None else None
        ),
        "tracemalloc_fetch_peak_mib": round(phase["fetch_peak"] / _bench.MIB, 1) if "fetch_peak" in phase else None,
        "tracemalloc_reconcile_peak_mib": (
            round(peak / _bench.MIB, 1) if peak is not None and "fetch_peak" in phase else None
        ),
        "db_mib": round(Path(args.db).stat().st_size / _bench.MIB, 1),
    }
    print(json.dumps(out, default=str), flush=True)


def run_sync(info: dict[str, Any], db: Path, *, pacing: str, traced: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-sync", "--db", str(db), "--pacing", pacing]
    if traced:
        cmd.append("--traced")
    proc = subprocess.run(cmd, input=json.dumps(info) + "\n", capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"the sync child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def replay(info: dict[str, Any], logs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every GET the sync made, again, by a bare loop: fetch and parse, nothing else."""
    heads = {"accessplanit": _bench.ap_headers(info), "xero": _bench.xero_headers(info)}
    roots = {"accessplanit": _bench.ap_root(info), "xero": _bench.xero_root(info)}
    by_class: dict[str, dict[str, float]] = {}
    records = 0
    t_all = time.perf_counter()
    for system, entries in logs.items():
        for entry in entries:
            if entry.get("method") != "GET" or _bench.classify(system, entry) == "auth":
                continue
            url = roots[system] + entry["path"] + (f"?{entry['query']}" if entry.get("query") else "")
            t0 = time.perf_counter()
            r = requests.get(url, headers=heads[system], timeout=600)
            r.raise_for_status()
            body = _bench.loads(r.content)
            elapsed = time.perf_counter() - t0
            rows = next((v for v in body.values() if isinstance(v, list)), []) if isinstance(body, dict) else body
            records += len(rows)
            key = f"{system}.{_bench.classify(system, entry)}"
            slot = by_class.setdefault(key, {"calls": 0, "seconds": 0.0})
            slot["calls"] += 1
            slot["seconds"] += elapsed
    seconds = time.perf_counter() - t_all
    return {
        "seconds": round(seconds, 2),
        "rows_read": records,
        "by_endpoint": {
            k: {
                "calls": int(v["calls"]),
                "seconds": round(v["seconds"], 2),
                "ms_per_call": round(v["seconds"] * 1000 / v["calls"], 1),
            }
            for k, v in sorted(by_class.items())
        },
    }


def measure(invoices: int, args: argparse.Namespace, *, baseline: bool) -> dict[str, Any]:
    _bench.note(f"sandboxes with {invoices} invoices")
    with (
        _bench.sandbox_child(
            invoices, seed=args.seed, month=args.month, paid_instalments=args.paid_instalments
        ) as child,
        tempfile.TemporaryDirectory() as tmp,
    ):
        info = child.hello["info"]
        out: dict[str, Any] = {
            "invoices": invoices,
            "sandbox_counts": child.hello.get("counts"),
            "sandbox_start_seconds": child.hello.get("start_seconds"),
        }
        _bench.note(f"full sync of {invoices} invoices (untraced)")
        out["sync"] = run_sync(info, Path(tmp) / "plain.sqlite3", pacing=args.pacing, traced=False)
        if baseline:
            logs = {
                "accessplanit": _bench.request_log(_bench.ap_root(info)),
                "xero": _bench.request_log(_bench.xero_root(info)),
            }
            _bench.note(f"bare requests loop over the same {sum(len(v) for v in logs.values())} requests")
            bare = replay(info, logs)
            records = out["sync"]["records"]
            bare["records_per_second"] = _bench.rate(records, bare["seconds"])
            out["bare_loop"] = bare
            sync = out["sync"]
            # Throughput ratios (sync records/s over bare records/s, same records): the whole sync including the
            # reconcile, and its fetch phase alone (what the bare loop does: the same requests).
            out["sync_vs_bare"] = round(bare["seconds"] / sync["seconds"], 3) if sync["seconds"] else None
            out["fetch_vs_bare"] = round(bare["seconds"] / sync["fetch_seconds"], 3) if sync["fetch_seconds"] else None
            lines = sum(v["seconds"] for k, v in bare["by_endpoint"].items() if k.endswith("invoice_lines"))
            if lines and sync["fetch_seconds"] > lines:
                # Both loops pay the same sandbox time for line lookups; without it the client's own cost shows.
                out["fetch_vs_bare_without_line_lookups"] = round(
                    (bare["seconds"] - lines) / (sync["fetch_seconds"] - lines), 3
                )
        if args.tracemalloc:
            _bench.reset_logs(info)
            _bench.note(f"full sync of {invoices} invoices (under tracemalloc)")
            traced = run_sync(info, Path(tmp) / "traced.sqlite3", pacing=args.pacing, traced=True)
            out["traced"] = {
                k: traced[k]
                for k in (
                    "ok",
                    "seconds",
                    "records",
                    "tracemalloc_peak_mib",
                    "tracemalloc_fetch_peak_mib",
                    "tracemalloc_reconcile_peak_mib",
                    "ru_maxrss_mib",
                    "writer_ru_maxrss_mib",
                )
            }
        out["sandbox_memory"] = child.memory()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--month", default=_bench.DEFAULT_MONTH)
    parser.add_argument("--pacing", choices=("unlimited", "default"), default="unlimited")
    parser.add_argument(
        "--paid-instalments",
        type=float,
        default=3.9,
        help="generator: mean payments of an invoice paid in full (3.9: 1.5 payments per invoice, as issue 4 asks)",
    )
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    parser.add_argument("--no-quarter", dest="quarter", action="store_false", help="skip the N/4 run")
    parser.add_argument("--child-sync", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_sync:
        _child_sync(args)
        return {}

    result: dict[str, Any] = {
        "benchmark": "sync_throughput",
        "issue": 4,
        "machine": _bench.machine(),
        "command": "python benchmarks/sync_throughput.py " + " ".join(argv or []),
        "pacing": args.pacing,
    }
    result["n"] = measure(args.invoices, args, baseline=True)
    if args.quarter:
        result["n_quarter"] = measure(max(1, args.invoices // 4), args, baseline=False)
        big, small = result["n"], result["n_quarter"]
        result["memory_growth"] = {
            "records_ratio": round(big["sync"]["records"] / max(1, small["sync"]["records"]), 2),
            "ru_maxrss_ratio": round(big["sync"]["ru_maxrss_mib"] / small["sync"]["ru_maxrss_mib"], 2),
            "writer_ru_maxrss_ratio": (
                round(big["sync"]["writer_ru_maxrss_mib"] / small["sync"]["writer_ru_maxrss_mib"], 2)
                if small["sync"]["writer_ru_maxrss_mib"]
                else None
            ),
            **(
                {
                    f"{key}_ratio": round(big["traced"][key] / small["traced"][key], 2)
                    for key in ("tracemalloc_peak_mib", "tracemalloc_fetch_peak_mib", "tracemalloc_reconcile_peak_mib")
                    if small["traced"].get(key)
                }
                if args.tracemalloc
                else {}
            ),
        }
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

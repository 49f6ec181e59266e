"""Benchmark (issue 14): the month-end pack of a 2,000-invoice month, each format timed (target: under 3 s each).

Starts both sandboxes with a generated month (limits lifted), syncs it into a fresh SQLite cache with a real
`Workspace` as the demo does, stops the sandboxes, then times, in this process: the baseline in the same run (the
report JSON alone: `build_report` + `to_json`, what every format starts from), building the pack's model
(`build_pack`: the report, the field values of differing invoices, decisions and the audit extract), each writer
(xlsx, pdf, csv; the pdf also with `--all-items`), and `write_pack` writing all three files. Best of `--repeat`.
Prints one JSON object.
Must not: patch app code, or time the sync (benchmarks/sync_paced.py does).

    .venv/bin/python benchmarks/pack.py [--invoices 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from _bench import DEFAULT_MONTH, NO_LIMITS, emit, finish, machine, note


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return round(min(times), 3), out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from app.composition import demo_workspace
    from app.services.pack.build import PACK_WRITERS, build_pack, write_pack
    from app.services.report import build_report, to_json
    from app.settings import Settings

    result: dict[str, Any] = {"benchmark": "pack", "machine": machine(), "invoices": args.invoices}
    with tempfile.TemporaryDirectory() as tmp:
        fast = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10_000_000)
        note(f"generating and syncing a month of {args.invoices} invoices")
        ws, boxes = demo_workspace(
            Path(tmp) / "demo", invoices=args.invoices, month=DEFAULT_MONTH, settings=fast, faults=NO_LIMITS
        )
        try:
            assert ws.sync(full=True).ok
        finally:
            boxes.stop()
        db, period = ws.db, DEFAULT_MONTH
        note("timing")
        seconds, _report = best(lambda: to_json(build_report(db, period, ws.rules)), args.repeat)
        result["baseline_report_json_seconds"] = seconds
        seconds, data = best(lambda: build_pack(db, period, ws.rules, preparer="benchmark"), args.repeat)
        result["build_pack_seconds"] = seconds
        result["items"], result["exceptions"] = len(data.items), len(data.exceptions())
        formats: dict[str, Any] = {}
        for name, writer in PACK_WRITERS.items():
            seconds, blob = best(lambda w=writer: w(data), args.repeat)  # type: ignore[misc]
            formats[name] = {"seconds": seconds, "bytes": len(blob), "with_model_seconds": seconds}
            formats[name]["with_model_seconds"] = round(seconds + result["build_pack_seconds"], 3)
        seconds, blob = best(lambda: PACK_WRITERS["pdf"](replace(data, all_items=True)), args.repeat)
        formats["pdf_all_items"] = {"seconds": seconds, "bytes": len(blob)}
        result["formats"] = formats
        out = Path(tmp) / "pack"
        out.mkdir()

        def write_all() -> list[Path]:
            for p in out.iterdir():
                p.unlink()
            return write_pack(build_pack(db, period, ws.rules, preparer="benchmark"), out)

        seconds, _paths = best(write_all, args.repeat)
        result["write_pack_seconds"] = seconds
        result["target_seconds_per_format"] = 3.0
        result["under_target"] = all(f["with_model_seconds"] < 3.0 for k, f in formats.items() if k in PACK_WRITERS)
        db.dispose()
    finish(result)
    emit(result)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m app.sandbox.generator`: write a generated month as fixtures and its expected items, or compute the
expected items of any fixtures directory (`--check`), and print one JSON line of figures.

Argument parsing and printing only; the month, the files and the rules are the other modules'.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from app.sandbox.generator.files import load_fixtures, write_expected, write_fixtures
from app.sandbox.generator.month import Dataset, generate
from app.sandbox.generator.oracle import expected_items


def main(argv: list[str] | None = None) -> int:
    """`python -m app.sandbox.generator [--seed N] [--invoices N] [--month YYYY-MM] [--fixtures DIR]
    [--expected FILE] [--check DIR]`: write a month as fixtures (for `recondesk sandbox --fixtures DIR`) and its
    expected items, and print one JSON line of figures (counts per status, seconds, peak memory).
    `--check DIR` instead computes the expected items of an existing fixtures directory (to `--expected`)."""
    parser = argparse.ArgumentParser(prog="python -m app.sandbox.generator", description=main.__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--paid-instalments", type=float, default=1.0, help="mean payments of an invoice paid in full")
    parser.add_argument("--fixtures", type=Path, help="write the fixture files here")
    parser.add_argument("--expected", type=Path, help="write the expected items here")
    parser.add_argument("--check", type=Path, help="read this fixtures directory instead of generating")
    args = parser.parse_args(argv)
    if args.invoices < 0:
        parser.error(f"--invoices: {args.invoices} is less than 0")
    month = str(args.month)
    if not (len(month) == 7 and month[4] == "-" and month[:4].isascii() and month[:4].isdigit()) or month[5:] not in {
        f"{m:02d}" for m in range(1, 13)
    }:
        parser.error(f"--month: {month!r} is not a month; use YYYY-MM, e.g. 2026-10")
    if args.check is not None and not args.check.is_dir():
        parser.error(f"--check: {str(args.check)!r} is not a fixtures folder")

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    if args.check is not None:
        data = load_fixtures(args.check)
        ap, xero = data["accessplanit"], data["xero"]
        ds = Dataset(ap, xero, expected_items(ap, xero), month=args.month, seed=args.seed)
        figures["read_and_reconcile_s"] = round(time.perf_counter() - started, 2)
    else:
        ds = generate(seed=args.seed, invoices=args.invoices, month=args.month, paid_instalments=args.paid_instalments)
        figures["generate_s"] = round(time.perf_counter() - started, 2)
    if args.fixtures is not None and args.check is None:
        started = time.perf_counter()
        write_fixtures(ds, args.fixtures)
        figures["write_fixtures_s"] = round(time.perf_counter() - started, 2)
    if args.expected is not None:
        write_expected(ds, args.expected)
    counts: dict[str, int] = {}
    for item in ds.expected:
        name = f"{item['kind']}:{item['status']}"
        counts[name] = counts.get(name, 0) + 1
    if args.check is None:
        figures["invoices"] = len(ds.scenarios)
    else:
        figures["accessplanit_invoices"] = len(ds.accessplanit.get("Invoice", []))
    figures.update(
        items=len(ds.expected),
        statuses=dict(sorted(counts.items())),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0

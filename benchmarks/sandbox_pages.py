"""Benchmark (issue 3): pages per second the sandboxes serve, against a bare baseline, plus generator time and RSS.

Starts both sandboxes with a generated month of `--invoices` invoices (rate limits lifted) in a child process and
walks, with plain `requests` (one new connection a page, as the sandboxes close every connection):
- accessplanit `Invoice?$top=1000&$skip=n` (default ID order),
- accessplanit `Invoice?$filter=ID gt '<last>'&$orderby=ID&$top=1000` with the client's `$select` (its full run),
- accessplanit `InvoiceItem` by an `InvoiceID` range in (InvoiceID, ID) order (the client's full-run line walk),
- accessplanit the DateUpdated keyset walk (`$orderby=DateUpdated,ID`, `DateUpdated ge` + `$skip`, the client's
  `$select`; its incremental runs and payments), driven by `app.connectors.accessplanit.streams.read_keyset`,
- accessplanit line lookups by id list (`InvoiceItem?$filter=InvoiceID in (100 ids)`; incremental runs),
- Xero `Invoices?page=n&pageSize=1000`, and the same with the client's `order=UpdatedDateUTC ASC`.
Every loop fetches and parses (Decimal JSON), as a client must. The baseline, in the same run, is the same loop
fetching a static file with the bytes of a real page (one accessplanit page, one Xero page) from a werkzeug server
(the sandboxes' server) in another child process. `--million` adds generator time, start time and RSS for
1,000,000 invoices (no walks). Prints one JSON object.
Must not: change the sandboxes or measure through our connectors' HTTP layer (that is `sync_calls.py`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import _bench
import requests


def _walk(fetch_page: Callable[[int], tuple[int, int]], *, max_pages: int | None = None) -> dict[str, Any]:
    """Call `fetch_page(i)` -> (records, bytes) for i = 0.. until a page has fewer than 1,000 records."""
    times: list[float] = []
    records = size = 0
    i = 0
    t_all = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        n, b = fetch_page(i)
        times.append(time.perf_counter() - t0)
        records += n
        size += b
        i += 1
        if n < 1000 or (max_pages is not None and i >= max_pages):
            break
    seconds = time.perf_counter() - t_all
    return _summary(times, seconds, records, size)


def _summary(times: list[float], seconds: float, records: int, size: int) -> dict[str, Any]:
    return {
        "pages": len(times),
        "records": records,
        "seconds": round(seconds, 3),
        "pages_per_second": _bench.rate(len(times), seconds),
        "records_per_second": _bench.rate(records, seconds),
        "mib_per_second": _bench.rate(size / _bench.MIB, seconds),
        "first_page_ms": round(times[0] * 1000, 1),
        "median_page_ms": round(statistics.median(times) * 1000, 1),
        "max_page_ms": round(max(times) * 1000, 1),
        "mean_page_bytes": round(size / len(times)),
    }


def _get(url: str, params: dict[str, str] | None, headers: dict[str, str]) -> tuple[Any, int]:
    r = requests.get(url, params=params, headers=headers, timeout=600)
    r.raise_for_status()
    return _bench.loads(r.content), len(r.content)


def accessplanit_walks(info: dict[str, Any], lookup_calls: int, served: int) -> dict[str, Any]:
    """The accessplanit walks; `served` is the number of Invoice records the sandbox holds."""
    from app.connectors.accessplanit import mapping
    from app.connectors.accessplanit.streams import id_in, read_keyset, start_cursor
    from app.connectors.pagination import SkipTopPaging
    from app.domain.progress import CancelToken

    base = info["accessplanit"]["url"] + "/api/v2"
    headers = _bench.ap_headers(info)
    out: dict[str, Any] = {}

    def skip_page(i: int) -> tuple[int, int]:
        body, size = _get(f"{base}/Invoice", {"$top": "1000", "$skip": str(i * 1000)}, headers)
        return len(body["results"]), size

    _bench.note("accessplanit: $skip walk")
    out["invoice_skip_walk"] = _walk(skip_page)

    last = {"id": ""}

    def id_gt_page(_i: int) -> tuple[int, int]:
        # The client's full-run invoice walk: ID keyset, its `$select`, `$count` on the first page only.
        params = {"$select": ",".join(mapping.INVOICE_FIELDS), "$orderby": "ID", "$top": "1000"}
        if last["id"]:
            params["$filter"] = f"ID gt '{last['id']}'"
        else:
            params["$count"] = "true"
        body, size = _get(f"{base}/Invoice", params, headers)
        rows = body["results"]
        if rows:
            last["id"] = str(rows[-1]["ID"])
        return len(rows), size

    _bench.note("accessplanit: ID gt walk")
    out["invoice_id_gt_walk"] = _walk(id_gt_page)

    # The client's full-run line walk: one ordered walk over InvoiceItem by an InvoiceID range, keyset on
    # (InvoiceID, ID) with a tie-breaking $skip (app/connectors/accessplanit/streams.py, LineWalk).
    line: dict[str, Any] = {"after": "0", "op": "gt", "skip": 0}

    def line_page(_i: int) -> tuple[int, int]:
        params = {
            "$filter": f"InvoiceID {line['op']} '{line['after']}' and InvoiceID le '2147483647'",
            "$select": ",".join(mapping.ITEM_FIELDS),
            "$orderby": "InvoiceID,ID",
            "$top": "1000",
            "$skip": str(line["skip"]),
        }
        body, size = _get(f"{base}/InvoiceItem", params, headers)
        rows = body["results"]
        tail = str(rows[-1]["InvoiceID"]) if rows else None
        if tail is not None and (tail != line["after"] or line["op"] == "gt"):
            line.update(after=tail, op="ge", skip=sum(1 for r in rows if str(r.get("InvoiceID")) == tail))
        else:
            line["skip"] = int(line["skip"]) + len(rows)
        return len(rows), size

    _bench.note("accessplanit: InvoiceItem range walk")
    out["invoice_item_range_walk"] = _walk(line_page)

    # The client's own walk, through its own keyset code; only the HTTP is a bare requests call.
    sizes: list[int] = []

    def fetch(module: str, params: Any, cancel: CancelToken) -> list[dict[str, Any]]:
        body, size = _get(f"{base}/{module}", dict(params), headers)
        sizes.append(size)
        return list(body["results"])

    _bench.note("accessplanit: the DateUpdated keyset walk (incremental runs, payments)")
    times: list[float] = []
    records = 0
    ids: list[str] = []
    cursor = start_cursor(None, full=True, overlap=timedelta(minutes=5))
    walk = read_keyset(fetch, "Invoice", mapping.INVOICE_FIELDS, cursor, SkipTopPaging(1000), CancelToken())
    t_all = t0 = time.perf_counter()
    for rows, _state, _total in walk:
        times.append(time.perf_counter() - t0)
        records += len(rows)
        ids.extend(str(r["ID"]) for r in rows)
        t0 = time.perf_counter()
    out["invoice_dateupdated_walk"] = _summary(times, time.perf_counter() - t_all, records, sum(sizes))
    if records != served:
        out["invoice_dateupdated_walk"]["warning"] = "the walk did not read every invoice once"

    # Line lookups by id list, as the client makes them for the changed invoices of an incremental run: one call
    # per 100 invoice ids, for the first `lookup_calls` chunks.
    _bench.note(f"accessplanit: {lookup_calls} InvoiceItem lookups by 100 ids")
    sizes.clear()
    times = []
    records = 0
    t_all = time.perf_counter()
    for start in range(0, min(len(ids), lookup_calls * 100), 100):
        t0 = time.perf_counter()
        params = {
            "$filter": id_in("InvoiceID", ids[start : start + 100]),
            "$select": ",".join(mapping.ITEM_FIELDS),
            "$orderby": "ID",
            "$top": "1000",
            "$skip": "0",
        }
        body, size = _get(f"{base}/InvoiceItem", params, headers)
        sizes.append(size)
        records += len(body["results"])
        times.append(time.perf_counter() - t0)
    if times:
        out["invoice_item_lookups_100_ids"] = _summary(times, time.perf_counter() - t_all, records, sum(sizes))
    return out


def xero_walks(info: dict[str, Any]) -> dict[str, Any]:
    base = info["xero"]["url"]
    headers = _bench.xero_headers(info)
    out: dict[str, Any] = {}
    for name, extra in (
        ("invoices_page_walk", {}),
        ("invoices_page_walk_client_order", {"order": "UpdatedDateUTC ASC"}),
    ):
        _bench.note(f"xero: {name}")

        def page(i: int, extra: dict[str, str] = extra) -> tuple[int, int]:
            body, size = _get(f"{base}/Invoices", {"page": str(i + 1), "pageSize": "1000", **extra}, headers)
            return len(body["Invoices"]), size

        out[name] = _walk(page)
    return out


def baseline(page_file: Path, pages: int) -> dict[str, Any]:
    """The same fetch-and-parse loop against a static copy of a real page: what the loop costs without a sandbox."""
    with _bench.static_child(page_file) as static:
        url = static.hello["url"]
        times: list[float] = []
        records = size = 0
        t_all = time.perf_counter()
        for _ in range(pages):
            t0 = time.perf_counter()
            body, n = _get(url, None, {})
            rows = body.get("results") if "results" in body else body.get("Invoices")
            records += len(rows or [])
            size += n
            times.append(time.perf_counter() - t0)
        return _summary(times, time.perf_counter() - t_all, records, size)


def first_page(url: str, params: dict[str, str], headers: dict[str, str], into: Path) -> Path:
    r = requests.get(url, params=params, headers=headers, timeout=600)
    r.raise_for_status()
    into.write_bytes(r.content)
    return into


def memory_run(invoices: int, seed: int, month: str) -> dict[str, Any]:
    """Generator time, start time and RSS of the sandboxes process at `invoices` (no walks)."""
    with _bench.sandbox_child(invoices, seed=seed, month=month) as child:
        hello = child.hello
        return {
            "invoices": invoices,
            "generate_seconds": hello.get("generate_seconds"),
            "start_seconds": hello.get("start_seconds"),
            "load_seconds": hello.get("load_seconds"),
            "rss_before_generate_mib": hello.get("rss_before_generate_mib"),
            **{f"sandbox_{k}": v for k, v in child.memory().items()},
            "counts": hello.get("counts"),
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--month", default=_bench.DEFAULT_MONTH)
    parser.add_argument("--lookup-calls", type=int, default=3, help="InvoiceItem lookups (100 ids each) to time")
    parser.add_argument("--million", action="store_true", help="also measure generator time and RSS at 1,000,000")
    parser.add_argument("--million-size", type=int, default=1_000_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    result: dict[str, Any] = {
        "benchmark": "sandbox_pages",
        "issue": 3,
        "machine": _bench.machine(),
        "command": "python benchmarks/sandbox_pages.py " + " ".join(argv or []),
    }
    _bench.note(f"starting the sandboxes with {args.invoices} invoices")
    with (
        _bench.sandbox_child(args.invoices, seed=args.seed, month=args.month) as child,
        tempfile.TemporaryDirectory() as tmp,
    ):
        info = child.hello["info"]
        result["sandbox"] = {
            "invoices": args.invoices,
            "counts": child.hello.get("counts"),
            "generate_seconds": child.hello.get("generate_seconds"),
            "start_seconds": child.hello.get("start_seconds"),
            "load_seconds": child.hello.get("load_seconds"),
            "rss_before_generate_mib": child.hello.get("rss_before_generate_mib"),
            "after_start": child.memory(),
        }
        served = int((child.hello.get("counts") or {}).get("accessplanit.Invoice", -1))
        ap = accessplanit_walks(info, args.lookup_calls, served)
        xero = xero_walks(info)
        result["sandbox"]["after_walks"] = child.memory()
        ap_page = first_page(
            info["accessplanit"]["url"] + "/api/v2/Invoice",
            {"$top": "1000"},
            _bench.ap_headers(info),
            Path(tmp) / "ap.json",
        )
        xero_page = first_page(
            info["xero"]["url"] + "/Invoices",
            {"page": "1", "pageSize": "1000"},
            _bench.xero_headers(info),
            Path(tmp) / "xero.json",
        )
        _bench.note("baselines: static pages from a bare werkzeug server")
        base_ap = baseline(ap_page, max(ap["invoice_skip_walk"]["pages"], 20))
        base_xero = baseline(xero_page, max(xero["invoices_page_walk"]["pages"], 20))

    def against(walk: dict[str, Any], base: dict[str, Any]) -> float:
        return round(walk["pages_per_second"] / base["pages_per_second"], 3) if base["pages_per_second"] else 0.0

    result["accessplanit"] = ap
    result["xero"] = xero
    result["baseline"] = {"accessplanit_page": base_ap, "xero_page": base_xero}
    # < 1 means the sandbox adds time per page; the remainder is what any client pays for HTTP + JSON anyway.
    result["ratio_to_baseline"] = {
        **{f"accessplanit.{k}": against(v, base_ap) for k, v in ap.items() if not k.startswith("invoice_item")},
        **{f"xero.{k}": against(v, base_xero) for k, v in xero.items()},
    }
    result["sandbox_ms_per_page_over_baseline"] = {
        **{
            f"accessplanit.{k}": round(v["median_page_ms"] - base_ap["median_page_ms"], 1)
            for k, v in ap.items()
            if not k.startswith("invoice_item")
        },
        **{f"xero.{k}": round(v["median_page_ms"] - base_xero["median_page_ms"], 1) for k, v in xero.items()},
    }
    if args.million:
        _bench.note(f"memory run at {args.million_size} invoices")
        result["million"] = memory_run(args.million_size, args.seed, args.month)
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

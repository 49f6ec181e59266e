"""Smoke tests for `benchmarks/`: each script runs end to end at tiny sizes and prints one JSON object whose
figures are consistent with the data it was given, so the scripts cannot rot while nobody runs them.

They start real sandboxes (child processes on 127.0.0.1) and a real SQLite file, like the benchmarks themselves.
Must not: assert speeds (a shared 2-core machine makes timings noise); only shapes, counts and invariants.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

pytestmark = pytest.mark.timeout(240)


def run(script: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, cwd=ROOT, timeout=220, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got {len(lines)}: {proc.stdout[:500]}"
    out = json.loads(lines[0])
    assert isinstance(out, dict)
    assert out["machine"]["cpus"] >= 1
    return out


def test_machine_helper_prints_one_object() -> None:
    out = run("_bench.py")
    assert out["benchmark"] == "machine"


def test_sandbox_pages_walks_every_invoice_once() -> None:
    out = run("sandbox_pages.py", "--invoices", "1200", "--lookup-calls", "2", "--million", "--million-size", "300")
    served = out["sandbox"]["counts"]["accessplanit.Invoice"]
    ap = out["accessplanit"]
    for walk in ("invoice_skip_walk", "invoice_id_gt_walk", "invoice_dateupdated_walk"):
        assert ap[walk]["records"] == served, walk
        assert ap[walk]["pages"] == math.ceil((served + 1) / 1000), walk
        assert ap[walk]["pages_per_second"] > 0
    lines = out["sandbox"]["counts"]["accessplanit.InvoiceItem"]
    assert ap["invoice_item_range_walk"]["records"] == lines
    assert ap["invoice_item_range_walk"]["pages"] == math.ceil((lines + 1) / 1000)
    assert ap["invoice_item_lookups_100_ids"]["pages"] == 2
    assert ap["invoice_item_lookups_100_ids"]["records"] > 0
    xero_served = out["sandbox"]["counts"]["xero.Invoices"]
    for walk in ("invoices_page_walk", "invoices_page_walk_client_order"):
        assert out["xero"][walk]["records"] == xero_served
    assert out["baseline"]["accessplanit_page"]["pages"] >= 20
    assert set(out["ratio_to_baseline"]) >= {"accessplanit.invoice_skip_walk", "xero.invoices_page_walk"}
    assert out["sandbox"]["after_start"]["rss_mib"] > out["sandbox"]["rss_before_generate_mib"] > 0
    assert out["million"]["invoices"] == 300 and out["million"]["sandbox_peak_rss_mib"] > 0


def test_sync_calls_counts_from_the_sandbox_logs() -> None:
    out = run("sync_calls.py", "--invoices", "300")
    full = out["full"]
    assert full["ok"], full["errors"]
    records = out["records"]
    streams = full["streams"]
    # Every paged stream was read, and never in fewer calls than its records need.
    for key in ("accessplanit.invoices", "accessplanit.payments", "xero.invoices", "xero.payments"):
        assert streams[key]["calls"] >= streams[key]["minimum"] >= 1, key
    # Lines: at least the pages they need, at most one call per 100 invoices (the id-list plan).
    line_calls = streams["accessplanit.invoice_lines"]["calls"]
    assert streams["accessplanit.invoice_lines"]["minimum"] <= line_calls
    assert line_calls <= math.ceil(records["accessplanit.Invoice"] / 100) + 1
    assert full["reference_calls"] >= 5  # two sign-ins, organisation, accounts, tax rates, transaction methods
    assert full["total_calls"] == full["data_calls"] + full["reference_calls"]
    # The app's own statistics agree with what the sandboxes logged for a stream with no helper calls.
    assert full["client_reported"]["xero.invoices"]["calls"] == streams["xero.invoices"]["calls"]
    inc = out["incremental"]
    assert inc["ok"], inc["errors"]
    assert inc["streams"] == len(full["client_reported"])
    assert inc["total_calls"] >= inc["streams"]
    assert out["code_changed_during_run"] in (True, False)


def test_sync_paced_times_paced_syncs_and_a_keyed_reconcile() -> None:
    out = run("sync_paced.py", "--invoices", "150", "--cache", "300", "--changed", "7")
    [month] = out["paced"]
    first, again = month["first"], month["no_change"]
    assert first["ok"] and again["ok"], (first["errors"], again["errors"])
    assert first["records_fetched"] >= month["records"]["accessplanit.Invoice"] + month["records"]["xero.Invoices"]
    # Paced: some time went to waiting for slots, never more than the whole sync; a no-change run reads little.
    for run_ in (first, again):
        assert 0 < run_["waiting_for_limits_seconds"] <= run_["seconds"] and 0 <= run_["reconcile_seconds"]
    assert again["calls"] < first["calls"] and again["records_fetched"] < first["records_fetched"]
    big = out["big_cache"]
    assert big["fill"]["ok"] and big["no_change"]["ok"] and big["fill"]["waiting_for_limits_seconds"] == 0
    assert big["reconcile_keys"]["keys"] == 7 and big["reconcile_keys"]["seconds"] > 0


def test_item_list_measures_the_window_on_a_cache_it_built() -> None:
    out = run("item_list.py", "--sizes", "3000")
    figures = out["sizes"]["3000"]
    assert figures["baseline_all_ids_query"]["all_ids"] == 3000  # every item built is in the cache
    # The window holds one page, not the filter: the newest month has more items than a page.
    assert figures["items_in_filter"] == figures["baseline_all_ids_query"]["newest_month_ids"] > 0
    assert figures["rows_in_memory"] == min(200, figures["items_in_filter"])
    assert set(figures["filter_or_sort_change_s"]) >= {
        "status_differs",
        "search",
        "sort_amount_desc",
        "sort_difference_desc",
    }
    assert figures["dashboard_shown_s"] > 0 and figures["dashboard_all_months_query_s"] > 0
    assert figures["item_click_median_s"] > 0 and figures["memory"]["peak_rss_mib"] > 0


def test_pack_times_every_format_of_a_synced_month() -> None:
    out = run("pack.py", "--invoices", "40", "--repeat", "1")
    assert out["benchmark"] == "pack" and out["items"] > 40 and 0 < out["exceptions"] < out["items"]
    assert set(out["formats"]) == {"xlsx", "pdf", "csv", "pdf_all_items"}
    for name in ("xlsx", "pdf", "csv"):
        f = out["formats"][name]
        assert f["bytes"] > 0 and f["with_model_seconds"] >= f["seconds"] > 0
    assert out["formats"]["pdf_all_items"]["bytes"] > out["formats"]["pdf"]["bytes"]
    assert out["baseline_report_json_seconds"] > 0 and out["write_pack_seconds"] > 0


def test_dashboard_benchmark_checks_its_totals_against_what_it_built() -> None:
    out = run("dashboard.py", "--invoices", "600")
    assert out["benchmark"] == "dashboard" and out["invoices"] == 600
    assert out["totals_agree_with_the_built_data"] is True
    assert 0 < out["one_month_s"] <= out["one_month_s_max"] and 0 < out["all_months_s"] <= out["all_months_s_max"]


def test_matching_corpus_prints_and_writes_the_corpus_figures(tmp_path: Path) -> None:
    written = tmp_path / "matching_corpus.json"
    out = run("matching_corpus.py", "--out", str(written))
    assert out["benchmark"] == "matching_corpus" and out["cases"] >= 200
    assert json.loads(written.read_text())["without_known_gaps"] == out["without_known_gaps"]
    assert out["without_known_gaps"]["precision"] == 1.0 and out["without_known_gaps"]["ranked"] > 0


def test_tolerance_change_redoes_only_the_affected_share() -> None:
    out = run("tolerance_change.py", "--invoices", "600", "--shares", "0.01,0.1")
    small, big = out["runs"]
    for r, keys in ((small, 6), (big, 60)):
        assert r["items"] == 1200 and r["statuses_after_tolerance"]["differs"] == 0
        assert r["tolerance_change"]["invoice_keys"] == keys and r["tolerance_change"]["items_redone"] == 2 * keys
        assert r["tolerance_change"]["status_changed"] == 2 * keys  # invoice and payment of each became matched
        assert r["method_mapping_change"]["invoice_keys"] == keys  # the Card payments only
    assert out["tolerance_items_ratio"] == 10.0

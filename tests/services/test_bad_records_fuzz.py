"""Fuzz both connectors' mapping through fixture files: random values (wrong types, huge and tiny numbers, broken
dates, lone surrogates, nested objects) in random fields of a small generated month, served by the real emulators
and synced into a real SQLite cache. The sync never stops, every record is in the report, and every unreadable
one is `invalid` with its reason.

Ids and the fields the emulators page and filter by (`DateUpdated`, `UpdatedDateUTC`, `Type`) are left alone: they
decide what the emulator serves, not what the mapping reads.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_records import first_sync, write_fixtures

from app.sandbox import generator
from app.storage.db import Database

MONTH = generator.generate(seed=11, invoices=8, month="2026-10")
FIXED = {"ID", "InvoiceID", "PaymentID", "CreditNoteID", "DateUpdated", "UpdatedDateUTC", "Type", "LineItemID"}

NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: len(str(d)) < 60),
    st.sampled_from(
        [
            "",
            "12,50",
            "NaN",
            "Infinity",
            "1E+30",
            "9" * 400,
            "²",
            "\ud800",
            "/Date(99999999999999999)/",
            "/Date(-1)/",
            "2026-13-45T00:00:00",
            "9999-12-31T23:59:59",
            "0001-01-01T00:00:00+14:00",
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _fields(rec: dict[str, Any]) -> list[str]:
    return sorted(k for k in rec if k not in FIXED)


@st.composite
def spoiled_month(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    ap, xero = copy.deepcopy((dict(MONTH.accessplanit), dict(MONTH.xero)))
    rows = [*ap["Invoice"], *ap["InvoiceItem"], *ap["Transaction"]]
    rows += [*xero["Invoices"]["Invoices"], *xero["Payments"]["Payments"]]
    rows += [line for inv in xero["Invoices"]["Invoices"] for line in inv.get("LineItems", [])]
    for index in draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=10)):
        rec = rows[index]
        field = draw(st.sampled_from(_fields(rec)))
        rec[field] = draw(NASTY)
    return ap, xero


def _ids(ap: dict[str, Any], xero: dict[str, Any]) -> tuple[set[str], set[str]]:
    ap_ids = {str(r["ID"]) for r in ap["Invoice"]} | {str(r["ID"]) for r in ap["Transaction"]}
    xero_ids = {str(r["InvoiceID"]) for r in xero["Invoices"]["Invoices"] if r.get("Type") == "ACCREC"}
    xero_ids |= {str(r["PaymentID"]) for r in xero["Payments"]["Payments"] if r.get("PaymentType") == "ACCRECPAYMENT"}
    return ap_ids, xero_ids


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=spoiled_month())
def test_random_bad_values_never_stop_a_sync(data: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path) -> None:
    ap, xero = data
    root = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"  # tmp_path is shared by the examples
    root.mkdir()
    cache = Database(f"sqlite:///{root / 'cache.sqlite3'}")
    cache.migrate()
    try:
        report = first_sync(write_fixtures(root / "fixtures", ap, xero), cache)  # asserts the sync was ok
    finally:
        cache.dispose()
    entries = list(report["items"]) + [dict(u, status="invalid") for u in report.get("unreadable", [])]
    seen_ap = {e.get("accessplanit_id") for e in entries}
    seen_xero = {e.get("xero_id") for e in entries}
    ap_ids, xero_ids = _ids(ap, xero)
    assert ap_ids <= seen_ap, ap_ids - seen_ap
    assert xero_ids <= seen_xero, xero_ids - seen_xero
    for entry in entries:
        if entry["status"] == "invalid":
            assert entry["reason"], entry

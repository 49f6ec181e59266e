"""Picking a month never hides a record that could not be read (invalid items have no date, so no month); the
report lists such records in a separate `unreadable` section of every period, not among its items."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.composition import demo_workspace
from app.domain.status import ItemStatus
from app.reconcile.engine import REASON_DUPLICATE, REASON_INVOICE_NOT_KNOWN, REASON_NO_NUMBER
from app.services.api import ItemFilter
from app.settings import Settings


def test_invalid_items_show_in_every_month_and_in_the_period_report(tmp_path: Path) -> None:
    settings = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10**7)
    ws, sandboxes = demo_workspace(
        tmp_path,
        invoices=60,
        month="2026-10",
        settings=settings,
        faults="xero:limit_minute=100000,xero:limit_day=1000000",
    )
    try:
        assert ws.sync().ok
    finally:
        sandboxes.stop()
    invalid_all = ws.item_ids(ItemFilter(statuses=(ItemStatus.INVALID,)))
    assert invalid_all, "the generated month has malformed records"
    undated = [r for r in ws.rows(invalid_all) if not r.date]
    assert undated, "at least one unreadable record has no date"
    for period in ("2026-10", "2026-09"):
        shown = set(ws.item_ids(ItemFilter(period=period, statuses=(ItemStatus.INVALID,))))
        assert {r.item_id for r in undated} <= shown
        assert ws.summary(period).counts.get("invalid", 0) >= len(undated)
    for period in ("2026-10", "2026-09"):
        # The report lists them apart, with their reason, in every period: never among the period's items.
        report = ws.report(period)
        unreadable = {u["key"]: u for u in report["unreadable"]}
        assert set(unreadable) == {r.key for r in undated}
        assert all(u["reason"] for u in unreadable.values())
        assert not {i["key"] for i in report["items"]} & set(unreadable)
    # A month with no activity shows only the undated invalid items, nothing else.
    assert {r.status for r in ws.rows(ws.item_ids(ItemFilter(period="2026-09")))} == {ItemStatus.INVALID}


def test_an_unreadable_record_with_a_readable_date_belongs_to_its_month(tmp_path: Path) -> None:
    settings = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10**7)
    ws, sandboxes = demo_workspace(
        tmp_path,
        invoices=60,
        month="2026-10",
        settings=settings,
        faults="xero:limit_minute=100000,xero:limit_day=1000000",
    )
    try:
        assert ws.sync().ok
    finally:
        sandboxes.stop()
    invalid = ws.rows(ws.item_ids(ItemFilter(statuses=(ItemStatus.INVALID,))))
    dated = [r for r in invalid if r.date]
    # Records whose payload could not be read (not the engine's own invalid items: no number, duplicate number,
    # payment on an unknown invoice): their date comes from the connector, when that much was readable.
    engine_reasons = (REASON_DUPLICATE, REASON_NO_NUMBER, REASON_INVOICE_NOT_KNOWN)
    assert [r for r in dated if not any(e in r.reason for e in engine_reasons)], "a bad payload with a readable date"
    for row in dated:
        month = row.date[:7]
        assert row.item_id in set(ws.item_ids(ItemFilter(period=month)))
        report = ws.report(month)
        assert row.key in {i["key"] for i in report["items"]}
        assert row.key not in {u["key"] for u in report["unreadable"]}
        other = ws.report("2026-09" if month != "2026-09" else "2026-08")
        assert row.key not in {i["key"] for i in other["items"]} | {u["key"] for u in other["unreadable"]}

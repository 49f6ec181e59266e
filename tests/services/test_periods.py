"""Picking a month never hides a record that could not be read (invalid items have no date, so no month); the
report lists such records in a separate `unreadable` section of every period, not among its items."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.composition import demo_workspace
from app.domain.status import ItemStatus
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

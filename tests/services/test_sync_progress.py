"""Progress of a real sync (both emulators over HTTP, a real SQLite file): every page reports records and pages
done and calls used, and the paged streams know their total, so the GUI can show time left (issue 4)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.composition import demo_workspace
from app.domain.progress import ProgressEvent
from app.settings import Settings


def test_progress_reports_records_pages_calls_totals_and_time_left(tmp_path: Path) -> None:
    settings = replace(Settings(), page_size=30, xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10**7)
    ws, sandboxes = demo_workspace(
        tmp_path, invoices=90, settings=settings, faults="xero:limit_minute=100000,xero:limit_day=1000000"
    )
    events: list[ProgressEvent] = []
    try:
        result = ws.sync(progress=events.append)
    finally:
        sandboxes.stop()
    assert result.ok, result.errors
    invoices = [e for e in events if e.stage in ("accessplanit: invoices", "Xero: invoices")]
    assert {e.stage for e in invoices} == {"accessplanit: invoices", "Xero: invoices"}
    for stage in ("accessplanit: invoices", "Xero: invoices"):
        seen = [e for e in invoices if e.stage == stage]
        assert len(seen) >= 3  # pages of 30
        assert all(e.total is not None and e.total >= e.done for e in seen), seen
        assert [e.done for e in seen] == sorted(e.done for e in seen) and seen[-1].done == seen[-1].total
        assert [e.pages for e in seen] == list(range(1, len(seen) + 1))
        assert all(e.calls >= e.pages for e in seen)
        assert all(e.eta_seconds is not None for e in seen)
        assert seen[-1].eta_seconds == 0

"""The Dashboard tab and the item list's Difference column, on the demo workspace (real sandboxes over HTTP, a real
SQLite file, a real Qt event loop): per-currency totals that match the report's `by_currency`, no cell that mixes
currencies, charts with their figures in words, a refresh after syncs and decisions, and sorting by difference done
by the database across pages."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from ui_helpers import TIMEOUT_MS, all_rows, settle, sync

from app.domain.money import decimals
from app.domain.status import ItemStatus, Resolution, System
from app.services.api import ItemFilter, Resolve
from app.ui import style
from app.ui.models.item_table_model import COLUMN_INDEX
from app.ui.models.record_table_model import RecordTableModel


def _show_dashboard(qtbot: Any, window: Any) -> Any:
    view = window.dashboard_view
    with qtbot.waitSignal(view.sig_dashboard_loaded, timeout=TIMEOUT_MS) as blocker:
        window.view_actions[3].trigger()  # View > Dashboard (Ctrl+4)
    assert window.tabs.currentWidget() is view
    return blocker.args[0]


def _cells(model: RecordTableModel[Any]) -> list[dict[str, str]]:
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    return [
        {titles[c]: str(model.data(model.index(r, c))) for c in range(model.columnCount())}
        for r in range(model.rowCount())
    ]


def _amount(text: str, currency: str) -> Decimal:
    """A money cell: one amount with exactly the currency's decimals, digits grouped by thousands, nothing else."""
    places = decimals(currency)
    pattern = r"[+-]?\d{1,3}(,\d{3})*" + (rf"\.\d{{{places}}}" if places else "")
    assert re.fullmatch(pattern, text), (text, currency)
    return Decimal(text.replace(",", ""))


def test_dashboard_totals_match_the_reports_by_currency_and_no_cell_mixes_currencies(qtbot, window, demo):
    ws, _ = demo
    sync(qtbot, window)
    dash = _show_dashboard(qtbot, window)
    period = window.list_view.model.item_filter.period
    assert dash.period == period and period is not None
    report = ws.report(period)
    rows = _cells(window.dashboard_view.totals_model)
    assert rows, "the demo month has invoices"
    label = {s.label: s for s in System}
    seen: dict[str, set[str]] = {}
    for row in rows:
        system, currency = label[row["System"]], row["Currency"]
        assert re.fullmatch(r"[A-Z]{3}", currency)
        theirs = report["totals"][system.value]["by_currency"][currency]
        assert _amount(row["Total"], currency) == Decimal(theirs["total"])
        assert _amount(row["Paid"], currency) == Decimal(theirs["paid"])
        if "due" in theirs:
            assert _amount(row["Due"], currency) == Decimal(theirs["due"])
        else:
            _amount(row["Due"], currency)
        seen.setdefault(system.value, set()).add(currency)
    assert seen == {s: set(t["by_currency"]) for s, t in report["totals"].items() if t["by_currency"]}
    assert len(set().union(*seen.values())) >= 2, "the demo month holds more than one currency"
    for row in _cells(window.dashboard_view.diff_model):
        for name in ("Total", "Paid", "Due"):
            _amount(row[name], row["Currency"])
    for row in _cells(window.dashboard_view.status_model):
        if row["Currency"]:
            _amount(row["Value"], row["Currency"])
        else:  # unreadable records: no currency, so no amount is shown
            assert row["Value"] == ""
        assert row["Still open"] in ("Open", "Done")
    # The charts say their figures in words (not colour alone), and agree with the list's counts.
    counts = ws.list_counts(ItemFilter(period=period)).by_status
    caption = window.dashboard_view.bar_caption.text()
    for status in (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER, ItemStatus.INVALID):
        assert f"{style.STATUS_LOOK[status].label} {counts[status.value]:,}" in caption
    words = {s.value: n for s, n in window.dashboard_view.open_counts(dash).items()}
    assert words == {s: counts[s] for s in words}
    assert window.dashboard_view.bar_view.accessibleDescription() == caption
    health = _cells(window.dashboard_view.health_model)
    assert [h["Connection"] for h in health] == ["Set up", "Set up"]
    assert any("remaining" in h["Rate-limit budget left"] for h in health)


def test_dashboard_refreshes_after_syncs_and_decisions(qtbot, window, demo):
    ws, _ = demo
    sync(qtbot, window)
    view = window.dashboard_view
    first = _show_dashboard(qtbot, window)
    assert len(first.runs) == 1 and "1 sync;" in view.line_caption.text()
    with qtbot.waitSignal(view.sig_dashboard_loaded, timeout=TIMEOUT_MS) as blocker:
        sync(qtbot, window)
    assert len(blocker.args[0].runs) == 2 and "2 syncs;" in view.line_caption.text()

    differs = next(
        r for r in ws.rows(ws.item_ids(ItemFilter(period=first.period, statuses=(ItemStatus.DIFFERS,)))) if r.currency
    )
    before = {(v.status, v.currency): v.items for v in blocker.args[0].by_status}
    result = ws.act(Resolve(differs.item_id, Resolution.IGNORE, "agreed with the customer"))
    assert result.ok, result.message
    with qtbot.waitSignal(view.sig_dashboard_loaded, timeout=TIMEOUT_MS) as again:
        window.runner.sig_operation_finished.emit(result.changes)  # as the runner does after a decision
    after = {(v.status, v.currency): v.items for v in again.args[0].by_status}
    key = (ItemStatus.DIFFERS, differs.currency)
    assert after.get(key, 0) == before[key] - 1
    assert after[(ItemStatus.RESOLVED, differs.currency)] == before.get((ItemStatus.RESOLVED, differs.currency), 0) + 1
    settle(qtbot, window)


def test_a_difference_header_click_sorts_in_the_database_across_pages(qtbot, window, monkeypatch):
    import app.ui.models.item_table_model as item_model

    sync(qtbot, window)
    monkeypatch.setattr(item_model, "PAGE", 7)
    model = window.list_view.model
    every = {r.item_id: r for r in all_rows(qtbot, window)}
    assert any(r.difference for r in every.values()), "the demo month has amounts that differ"
    section = COLUMN_INDEX["difference"]
    assert model.headerData(section, Qt.Orientation.Horizontal) == "Difference"
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        with qtbot.waitSignal(model.sig_list_loaded, timeout=TIMEOUT_MS):
            window.list_view.table.sortByColumn(section, order)
        assert model.rowCount() == 7  # the first page at once
        rows = all_rows(qtbot, window)
        assert {r.item_id for r in rows} == set(every)
        blanks = [r.difference == "" for r in rows]
        # NULLs first ascending, last descending (the database's order, as every other column).
        assert blanks == sorted(blanks, reverse=order == Qt.SortOrder.AscendingOrder)
        for currency in {r.currency for r in rows if r.difference}:
            got = [Decimal(r.difference) for r in rows if r.currency == currency and r.difference]
            assert got == sorted(got, reverse=order == Qt.SortOrder.DescendingOrder)
        texts = [str(model.data(model.index(i, section))) for i in range(model.rowCount())]
        assert [t for t in texts if t] == [style.money_text(r.difference) for r in rows if r.difference]

"""Tab order of the main window on the demo month (real sandboxes, a SQLite file, offscreen Qt): Tab goes from the
filters to the item list, leaves the list at once (it is never trapped cell to cell), visits the shown item's action
buttons (push, accept, ignore, ...), then the bulk buttons, and comes round to the filters again; Shift+Tab walks the
same round backwards. Read-only views take no part."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from ui_helpers import TIMEOUT_MS, sync

from app.domain.status import ItemStatus
from app.ui.main_window import MainWindow


def _walk(start: QWidget, steps: int, key: Qt.Key = Qt.Key.Key_Tab) -> list[QWidget]:
    start.setFocus()
    seen: list[QWidget] = []
    for _ in range(steps):
        QTest.keyClick(QApplication.focusWidget(), key)
        seen.append(QApplication.focusWidget())
    return seen


def test_tab_goes_filters_list_actions_and_round(qtbot: Any, window: MainWindow) -> None:
    w = window
    sync(qtbot, w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=TIMEOUT_MS)
    model = w.list_view.model
    row = next(
        r
        for r in (model.item_row(i) for i in model.ids())
        if r.status is ItemStatus.DIFFERS and r.fields == ("po_number",)
    )
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
        w.list_view.select_item(row.item_id)
    qtbot.waitUntil(lambda: w.runner.pending() == 0, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: all(b.isVisible() for b in w.detail_view.action_buttons.values()), timeout=TIMEOUT_MS)
    bar, detail, lv = w.list_view.filter_bar, w.detail_view, w.list_view
    actions = [b for b in detail.action_buttons.values() if b.isEnabled()]
    resolve = [
        b for b in (detail.accept_source_button, detail.accept_ledger_button, detail.ignore_button) if b.isEnabled()
    ]
    bulk = [b for b in (lv.select_all_button, lv.push_button, lv.accept_button, lv.ignore_button) if b.isEnabled()]
    assert actions and len(resolve) == 3  # a difference: its pushes, both accepts and ignore
    name = [x for x in (w.name_edit, w.name_button) if x.isVisible()]  # asked once, at the top, while unsaved
    round_ = [
        *name,
        bar.period_combo,
        bar.status_combo,
        bar.kind_combo,
        bar.search_edit,
        lv.table,
        *actions,
        *resolve,
        *bulk,
    ]

    assert w.tab_ring() == round_
    start = round_.index(bar.period_combo)
    forward = _walk(bar.period_combo, len(round_))
    assert forward == round_[start + 1 :] + round_[: start + 1]
    assert lv.table.selectedIndexes() and lv.selected_item_id() == row.item_id  # Tab moved no selection

    backward = _walk(lv.table, len(round_), Qt.Key.Key_Backtab)
    expected = list(reversed(round_))
    at = expected.index(lv.table)
    assert backward == expected[at + 1 :] + expected[: at + 1]
    assert detail.diff_table not in forward and detail.message not in forward  # read-only: not in the round

"""Reasons and candidates in the GUI (real sandboxes over HTTP, a real SQLite file, offscreen Qt): the item list's
tooltip and the detail pane say why an item has its status; the match dialog ranks the candidates with coloured
scores, the first selected, and is used by keyboard alone."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from ui_helpers import TIMEOUT_MS, all_rows, sync

from app.domain.status import ItemStatus, Kind
from app.services.api import ItemRow, MatchCandidate
from app.ui.dialogs.match_dialog import BAND_COLOURS, MatchDialog
from app.ui.main_window import MainWindow
from app.ui.models.item_table_model import COLUMN_INDEX


def _row(item_id: int, key: str, amount: str) -> ItemRow:
    return ItemRow(item_id, Kind.INVOICE, key, key, "Acme Training Ltd", "2026-10-01", "GBP", amount,
                   ItemStatus.ONLY_IN_LEDGER, (), None, None, f"x{item_id}")  # fmt: skip


def _candidates() -> list[MatchCandidate]:
    scores = (("number", 95), ("amount", 100), ("contact", 100), ("date", 100), ("reference", 50))
    return [
        MatchCandidate(_row(11, "INV-1001", "120.00"), 94, scores, "number differs: INV-1O01 vs INV-1001"),
        MatchCandidate(_row(12, "INV-1002", "75.00"), 66, scores, "number differs: INV-1O01 vs INV-1002"),
        MatchCandidate(_row(13, "INV-8000", "9.00"), 20, scores, "number differs: INV-1O01 vs INV-8000"),
    ]


def test_the_match_dialog_ranks_colours_and_works_by_keyboard(qtbot: Any) -> None:
    mine = ItemRow(1, Kind.INVOICE, "INV-1O01", "INV-1O01", "Acme Training Ltd", "2026-10-01", "GBP", "120.00",
                   ItemStatus.ONLY_IN_SOURCE, (), None, "1", None)  # fmt: skip
    dialog = MatchDialog(mine, _candidates())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.chosen() == 11 and dialog.focusWidget() is dialog.list and not dialog.ok_button.isEnabled()
    colours = [dialog.list.item(n).background().color().name() for n in range(3)]
    assert colours == [BAND_COLOURS["good"][0], BAND_COLOURS["fair"][0], BAND_COLOURS["poor"][0]]
    first = dialog.list.item(0)
    assert "number differs: INV-1O01 vs INV-1001" in first.text() and "Number: 95" in first.toolTip()
    qtbot.keyClick(dialog.list, Qt.Key.Key_Down)
    assert dialog.chosen() == 12
    qtbot.keyClick(dialog.list, Qt.Key.Key_Return)  # no note yet: Enter asks for it
    assert dialog.isVisible() and dialog.focusWidget() is dialog.note
    qtbot.keyClicks(dialog.note, "typo in accessplanit")
    qtbot.keyClick(dialog.note, Qt.Key.Key_Up)  # the note keeps the focus; the list moves
    assert dialog.chosen() == 11 and dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.note, Qt.Key.Key_Return)
    assert dialog.result() == MatchDialog.DialogCode.Accepted and dialog.chosen() == 11


def test_the_reason_is_in_the_lists_tooltip_and_the_detail_pane(qtbot: Any, window: MainWindow) -> None:
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    row = next(r for r in rows if r.status is ItemStatus.DIFFERS and r.reason and not r.flags)
    assert row.reason.startswith(("Paired by invoice number", "Payment paired on"))
    model = window.list_view.model
    index = model.index(model.row_of(row.item_id), COLUMN_INDEX["status"])
    assert row.reason in str(model.data(index, Qt.ItemDataRole.ToolTipRole))
    with qtbot.waitSignal(window.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
        assert window.list_view.select_item(row.item_id)
    title = window.detail_view.title.text()
    assert row.reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in title

"""Sign-off in the GUI: File > Sign off period… shows the month's control totals per currency and its open items,
keeps Cancel as the default button and Sign off disabled until a note is typed (and, with open items, the
exceptions ticked); signing off reaches the services and the audit log. After a change in the sandbox and a sync,
the reopened item's panel shows the three-way view (agreed at sign-off, each side now, which side moved)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt
from ui_helpers import TIMEOUT_MS, settle, sync

from app.domain.status import ItemStatus, Kind, Role
from app.sandbox.accessplanit.app import wire_datetime
from app.services.api import ItemFilter
from app.ui.dialogs.signoff_dialog import SignoffDialog
from app.ui.main_window import MainWindow


def test_sign_off_from_the_menu_then_a_changed_po_shows_three_ways(
    qtbot: Any, window: MainWindow, demo: tuple[Any, Any], monkeypatch: Any
) -> None:
    ws, boxes = demo
    w = window
    sync(qtbot, w, full=True)
    combo = w.list_view.filter_bar.period_combo
    period = ws.periods()[0]
    combo.setCurrentIndex(combo.findData(period))
    settle(qtbot, w)
    assert w.signoff_action in w.menuBar().actions()[0].menu().actions()

    seen: list[SignoffDialog] = []

    def answer(dialog: SignoffDialog) -> int:
        seen.append(dialog)
        cancel = dialog.buttons.button(dialog.buttons.StandardButton.Cancel)
        assert cancel.isDefault() and not dialog.ok_button.isDefault()
        assert dialog.totals.rowCount() == len(dialog.preview.totals) > 0
        currencies = {dialog.totals.item(r, 1).text() for r in range(dialog.totals.rowCount())}
        assert "GBP" in currencies
        assert not dialog.ok_button.isEnabled()
        dialog.edit.setPlainText("Bank statement agreed")
        assert dialog.ok_button.isEnabled() is (not dialog.preview.open_items)
        dialog.exceptions.setChecked(True)
        assert dialog.ok_button.isEnabled()
        return int(SignoffDialog.DialogCode.Accepted)

    monkeypatch.setattr(SignoffDialog, "exec", answer)
    w.signoff_action.trigger()
    qtbot.waitUntil(lambda: ws.report(period)["signoff"] is not None, timeout=TIMEOUT_MS)
    settle(qtbot, w)
    assert len(seen) == 1 and ws.report(period)["signoff"]["note"] == "Bank statement agreed"
    assert ws.audit(1)[0].action == "signoff"

    rows = ws.rows(ws.item_ids(ItemFilter(period=period, kind=Kind.INVOICE, statuses=(ItemStatus.MATCHED,))))
    target = rows[0]
    app = boxes.accessplanit_app
    # Later than every record the month holds (its generated dates may lie ahead of the sandbox's clock).
    latest = max(str(r["DateUpdated"]) for r in app.tables["Invoice"].records_in_order())
    stamp = wire_datetime(max(app._clock(), datetime.fromisoformat(latest[:19]) + timedelta(minutes=1)))
    app.tables["Invoice"].modify(target.source_id, {"PONumber": "PO-LATER", "DateUpdated": stamp})
    result = sync(qtbot, w)
    assert result.ok, result.errors
    now = ws.rows([target.item_id])[0]
    assert now.status is ItemStatus.DIFFERS and "reopened" in now.flags, (now, stamp)
    w.detail_view.set_item(target.item_id)
    qtbot.waitUntil(
        lambda: w.detail_view.detail is not None and w.detail_view.detail.row.item_id == target.item_id,
        timeout=TIMEOUT_MS,
    )
    detail = w.detail_view.detail
    assert detail is not None and "reopened" in detail.row.flags
    assert w.detail_view.drift_table.isVisibleTo(w) and w.detail_view.drift_label.isVisibleTo(w)
    model = w.detail_view.drift_model
    assert model.rowCount() == 1
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == ["Field", "At sign-off", "accessplanit now", "Xero now", "Moved"]
    cells = [model.index(0, c).data() for c in range(model.columnCount())]
    assert cells[0] == "PO number" and cells[2] == "PO-LATER" and cells[4] == "accessplanit"
    assert detail.drift[0].moved == (Role.SOURCE,)
    assert "Reopened" in w.detail_view.drift_label.text()

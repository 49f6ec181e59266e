"""The suggested action's preview by keyboard on the demo month (real sandboxes, a SQLite file, offscreen Qt): Enter on
the list opens the preview and sends nothing by itself; in the preview Escape (or Enter alone, which presses Cancel)
cancels and nothing is written: the audit log, the outbox and the item are as before. After a sent action the result's
message stays in the item panel's message line while the next items are selected."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from test_triage import Triage, _activate, _answer, _focus, confirm_preview
from ui_helpers import TIMEOUT_MS, settle, sync

from app.domain.status import ItemStatus, Kind, PushState
from app.storage import outbox
from app.ui.main_window import MainWindow


def _written(ws: Any) -> tuple[int, int]:
    """What a cancelled preview must leave alone: the audit log's entries and the outbox's pushes."""
    with ws.db.transaction(readonly=True) as tx:
        pushes = len(outbox.pushes_in_state(tx, list(PushState)))
    return len(ws.audit(10_000)), pushes


def _preview_keys(key: Qt.Key) -> Any:
    def keys(dialog: QWidget) -> None:
        assert dialog.windowTitle(), dialog  # the preview is shown: nothing was sent before it
        dialog.activateWindow()  # as a window manager does: the keys go to the dialog, not to the list behind it
        for _ in range(TIMEOUT_MS // 10):
            if QApplication.activeWindow() is dialog:
                break
            QTest.qWait(10)
        assert QApplication.focusWidget() is dialog.cancel_button  # type: ignore[attr-defined]
        QTest.keyClick(_focus(dialog), key)
        assert not dialog.isVisible()  # cancelled by the key itself

    return keys


def _cancel_by(t: Triage, item_id: int, key: Qt.Key) -> str:
    seen: list[QWidget] = []
    stop: list[bool] = []
    _answer([_preview_keys(key)], seen, stop)
    with t.qtbot.waitSignal(t.w.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        t.key(Qt.Key.Key_Return)
    stop.append(True)
    assert len(seen) == 1, seen  # Enter opened the preview, and only that
    settle(t.qtbot, t.w)
    _activate(t.qtbot, t.w)
    ok, message = blocker.args
    assert not ok and "nothing was sent" in message.lower(), message
    assert t.w.list_view.selected_item_id() == item_id  # a cancel does not move on
    return str(message)


def test_escape_in_the_preview_writes_nothing_and_messages_stay(qtbot: Any, window: MainWindow, demo: Any) -> None:
    ws, _ = demo
    w = window
    sync(qtbot, w)
    _activate(qtbot, w)
    t = Triage(qtbot, w)
    t.table.setFocus()
    row = next(
        r
        for r in t.rows()
        if r.kind is Kind.INVOICE
        and r.status is ItemStatus.ONLY_IN_SOURCE
        and not ws.preview(next(s.action for s in ws.item_detail(r.item_id).actions if s.suggested)).problems
    )
    t.key(Qt.Key.Key_J)
    t.go_to(row.item_id)
    before = _written(ws)

    _cancel_by(t, row.item_id, Qt.Key.Key_Escape)
    assert _written(ws) == before and ws.item_detail(row.item_id).row.status is ItemStatus.ONLY_IN_SOURCE
    _cancel_by(t, row.item_id, Qt.Key.Key_Return)  # Enter alone in the preview is Cancel
    assert _written(ws) == before and ws.item_detail(row.item_id).pushes == ()

    # Sent after its preview: the next item is selected and the message naming the acted item stays, also while
    # J and K move on through the list.
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, confirm_preview)
    assert ok, message
    assert _written(ws) != before
    shown = w.detail_view.message.text()
    for key in (Qt.Key.Key_J, Qt.Key.Key_J, Qt.Key.Key_K):
        selected = w.list_view.selected_item_id()
        t.key(key)
        qtbot.waitUntil(lambda s=selected: w.list_view.selected_item_id() != s, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: t._shown(w.list_view.selected_item_id() or -1), timeout=TIMEOUT_MS)
        assert w.detail_view.message.text() == shown and row.key in shown and w.detail_view.message.isVisible()

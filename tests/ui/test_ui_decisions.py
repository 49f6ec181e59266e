"""Decisions in the GUI against the real demo workspace (sandboxes over HTTP, a SQLite file, offscreen Qt): the name
asked once for the audit log, Reopen on a resolved item, Match with… and Unmatch on one-sided items, and the audit
chain's state in the audit view."""

from __future__ import annotations

import sqlite3
from typing import Any

from PySide6.QtCore import QSettings, Qt
from ui_helpers import TIMEOUT_MS, all_rows, reselect, settle, sync

from app.domain.status import ItemStatus
from app.services.api import Reopen
from app.ui.main_window import MainWindow


def _select(qtbot: Any, w: MainWindow, item_id: int) -> Any:
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS) as blocker:
        assert w.list_view.select_item(item_id)
    return blocker.args[0]


def _loaded(qtbot: Any, w: MainWindow, item_id: int, status: ItemStatus) -> None:
    qtbot.waitUntil(
        lambda: (
            w.detail_view.detail is not None
            and w.detail_view.detail.row.item_id == item_id
            and w.detail_view.detail.row.status == status
        ),
        timeout=TIMEOUT_MS,
    )


def _click(qtbot: Any, w: MainWindow, name: str) -> tuple[bool, str]:
    [button] = [b for b in w.detail_view.action_buttons.values() if b.objectName() == f"action:{name}"]
    with qtbot.waitSignal(w.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle(qtbot, w)
    return blocker.args[0], blocker.args[1]


def test_the_name_is_asked_once_and_recorded_with_decisions(qtbot, window, demo, ui_settings: QSettings):
    ws, _ = demo
    settle(qtbot, window)
    assert window.name_bar.isVisible()  # no name saved yet
    window.name_edit.setText("  Ann   Smith ")
    with qtbot.waitSignal(window.sig_name_saved, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.name_button, Qt.MouseButton.LeftButton)
    assert not window.name_bar.isVisible() and ws.user_name() == "Ann Smith"
    sync(qtbot, window)
    row = next(r for r in all_rows(qtbot, window) if r.status is ItemStatus.DIFFERS)
    _select(qtbot, window, row.item_id)
    window.detail_view.note_provider = lambda _parent, _key: "agreed by phone"
    with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.detail_view.ignore_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True
    assert [e.who for e in ws.audit(5) if e.item_key == row.key] == ["Ann Smith"]
    # A second window (the next start) does not ask again.
    again = MainWindow(ws, settings=ui_settings)
    qtbot.addWidget(again)
    again.show()
    again.start()
    settle(qtbot, again)
    assert not again.name_bar.isVisible()
    again.close()


def test_reopen_undoes_a_resolve_and_the_chain_state_is_shown(qtbot, window, demo):
    ws, _ = demo
    sync(qtbot, window)
    row = next(r for r in all_rows(qtbot, window) if r.status is ItemStatus.DIFFERS)
    _select(qtbot, window, row.item_id)
    with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.detail_view.accept_source_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True
    settle(qtbot, window)
    reselect(qtbot, window, row.item_id)  # triage moved on to the next item; back to this one
    _loaded(qtbot, window, row.item_id, ItemStatus.RESOLVED)

    asked: list[tuple[str, str]] = []
    window.detail_view.reason_provider = lambda _p, key, verb: asked.append((key, verb)) or None
    [button] = [b for b in window.detail_view.action_buttons.values() if b.objectName() == "action:reopen"]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == [(row.key, "Reopen")] and window.runner.pending() == 0  # cancelled: nothing done

    window.detail_view.reason_provider = lambda _p, _key, _verb: "accepted the wrong side"
    ok, message = _click(qtbot, window, "reopen")
    assert ok, message
    _loaded(qtbot, window, row.item_id, ItemStatus.DIFFERS)
    qtbot.waitUntil(lambda: window.list_view.model.item_row(row.item_id).status == ItemStatus.DIFFERS)
    assert not any(isinstance(a, Reopen) for a in window.detail_view.action_buttons)  # nothing left to reopen
    window.tabs.setCurrentWidget(window.audit_view)
    qtbot.waitUntil(lambda: any(e.action == "reopen" for e in window.audit_view.model.rows()), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Chain intact" in window.audit_view.chain.text(), timeout=TIMEOUT_MS)
    settle(qtbot, window)  # no read of the log still in flight

    # Someone edits an entry in the file: the audit view says where the chain breaks, and the window warns.
    path = ws.db.engine.url.database
    with sqlite3.connect(path) as raw:
        changed = raw.execute("UPDATE audit SET note = 'nothing to see' WHERE action = 'reopen'").rowcount
    assert changed == 1, path
    window.audit_view.reload()
    qtbot.waitUntil(lambda: window.runner.pending() == 0, timeout=TIMEOUT_MS)
    state = window.audit_view.chain_state
    assert state is not None and not state.ok and state.first_broken_id is not None
    assert f"entry {state.first_broken_id}" in window.audit_view.chain.text()
    assert "broken" in window.notice.text()


def test_match_with_then_unmatch(qtbot, window):
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    src = next(r for r in rows if r.status is ItemStatus.ONLY_IN_SOURCE and r.kind.value == "invoice")
    led = next(
        r for r in rows if r.status is ItemStatus.ONLY_IN_LEDGER and r.kind is src.kind and r.currency == src.currency
    )
    _select(qtbot, window, src.item_id)
    offered: list[list[int]] = []

    def pick(_parent: Any, row: Any, candidates: Any) -> tuple[int, str]:
        offered.append([c.item_id for c in candidates])
        return led.item_id, "renumbered in Xero"

    window.detail_view.match_provider = pick
    ok, message = _click(qtbot, window, "match")
    assert ok, message
    assert offered and led.item_id in offered[0] and src.item_id not in offered[0]
    qtbot.waitUntil(lambda: window.list_view.model.row_of(led.item_id) is None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: window.detail_view.detail is not None and window.detail_view.detail.row.ledger_id == led.ledger_id,
        timeout=TIMEOUT_MS,
    )
    window.detail_view.reason_provider = lambda _p, _key, _verb: "wrong pair"
    ok, message = _click(qtbot, window, "unmatch")
    assert ok, message
    _loaded(qtbot, window, src.item_id, ItemStatus.ONLY_IN_SOURCE)
    qtbot.waitUntil(lambda: any(r.ledger_id == led.ledger_id for r in all_rows(qtbot, window)), timeout=TIMEOUT_MS)

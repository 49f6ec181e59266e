"""Keyboard triage ("OK and next") on the demo month (real sandboxes over HTTP, a SQLite file, offscreen Qt): ten
items decided with keys alone on the real widgets and the real dialogs (preview, note, match); after each the next
item is selected, the focus stays in the list and the result's message stays on screen. Also: the keys are inert in
the search box, Tab goes round the window, and the Item menu and the Help list show the keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QListWidget, QPlainTextEdit, QWidget
from ui_helpers import TIMEOUT_MS, settle, sync

from app.domain.status import ItemStatus, Kind
from app.services.api import PushField, PushRecord, Resolve
from app.ui.main_window import MainWindow

DialogKeys = Callable[[QWidget], None]


def _activate(qtbot: Any, w: MainWindow) -> None:
    """Shortcuts fire only in the active window (a closed dialog may leave none active offscreen)."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=TIMEOUT_MS)


def _answer(chain: list[DialogKeys], seen: list[QWidget], stop: list[bool]) -> None:
    """Answer the modal dialogs as they show, one after the other, each with its keys; a dialog the keys leave
    open is rejected, so the test fails on its assertions instead of hanging in the dialog's event loop."""

    def poll() -> None:
        if stop or not chain:
            return
        dialog = QApplication.activeModalWidget()
        if dialog is None or any(dialog is d for d in seen):
            QTimer.singleShot(10, poll)
            return
        seen.append(dialog)
        try:
            chain.pop(0)(dialog)
        finally:
            if dialog.isVisible():
                dialog.reject()  # type: ignore[attr-defined]
            QTimer.singleShot(0, poll)

    QTimer.singleShot(0, poll)


def _type(widget: QWidget, text: str) -> None:
    QTest.keyClicks(widget, text)


def _focus(dialog: QWidget) -> QWidget:
    return dialog.focusWidget() or dialog


class Triage:
    """The window under test, driven by keys, with the list's order before each action as the oracle."""

    def __init__(self, qtbot: Any, w: MainWindow) -> None:
        self.qtbot, self.w = qtbot, w
        self.table = w.list_view.table
        self.done: list[str] = []

    def rows(self) -> list[Any]:
        model = self.w.list_view.model
        return [model.item_row(i) for i in model.ids()]

    def selected(self) -> Any:
        item_id = self.w.list_view.selected_item_id()
        return self.w.list_view.model.item_row(item_id) if item_id is not None else None

    def key(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(self.table, key, modifier)

    def go_to(self, item_id: int) -> Any:
        """Move to `item_id` with J/K (and now and then the arrows), and wait until its detail is shown."""
        model = self.w.list_view.model
        target = model.row_of(item_id)
        assert target is not None
        current = self.table.currentIndex().row()
        for n in range(abs(target - current)):
            down = target > current
            if n % 3 == 2:
                self.key(Qt.Key.Key_Down if down else Qt.Key.Key_Up)
            else:
                self.key(Qt.Key.Key_J if down else Qt.Key.Key_K)
        assert self.w.list_view.selected_item_id() == item_id
        self.qtbot.waitUntil(lambda: self._shown(item_id), timeout=TIMEOUT_MS)
        return model.item_row(item_id)

    def _shown(self, item_id: int) -> bool:
        d = self.w.detail_view.detail
        return d is not None and d.row.item_id == item_id and self.w.runner.pending() == 0

    def act(self, item_id: int, key: Qt.Key, *dialogs: DialogKeys, modifier: Any = None) -> tuple[bool, str]:
        """Press `key` on the list with `item_id` shown, answer the dialogs it opens with their keys, and check the
        OK-and-next behaviour: the next item of the list is selected, the focus is in the list, the message stays."""
        w = self.w
        before = self.rows()
        pos = next(i for i, r in enumerate(before) if r.item_id == item_id)
        acted = before[pos]
        expected_next = before[pos + 1] if pos + 1 < len(before) else before[pos - 1]
        seen: list[QWidget] = []
        stop: list[bool] = []
        _answer(list(dialogs), seen, stop)
        with self.qtbot.waitSignal(w.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
            self.key(key, modifier or Qt.KeyboardModifier.NoModifier)
        ok, message = blocker.args
        stop.append(True)
        assert len(seen) == len(dialogs), (seen, message)
        settle(self.qtbot, w)
        _activate(self.qtbot, w)
        if not ok:
            return ok, message
        self.qtbot.waitUntil(lambda: self.w.list_view.selected_item_id() == expected_next.item_id, timeout=TIMEOUT_MS)
        self.qtbot.waitUntil(lambda: self._shown(expected_next.item_id), timeout=TIMEOUT_MS)
        assert QApplication.focusWidget() is self.table
        shown = w.detail_view.message.text()
        assert acted.key in shown and message.split(":")[0] in shown, shown  # still there, naming the acted item
        self.done.append(acted.key)
        return ok, message


def confirm_preview(dialog: QWidget) -> None:
    """Read the preview and send it: tick what it asks for (Space on the box), then Ctrl+Enter."""
    for box in (dialog.clear_box, dialog.new_contact_box):  # type: ignore[attr-defined]
        if box.isVisible():
            box.setFocus()
            QTest.keyClick(box, Qt.Key.Key_Space)
            assert box.isChecked()
    QTest.keyClick(_focus(dialog), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def press_enter_in_preview(dialog: QWidget) -> None:
    """Enter alone in a preview presses Cancel: nothing is sent."""
    QTest.keyClick(_focus(dialog), Qt.Key.Key_Return)


def note(text: str) -> DialogKeys:
    def keys(dialog: QWidget) -> None:
        edit = dialog.findChild(QPlainTextEdit)
        assert edit is not None and _focus(dialog) is edit
        _type(edit, text)
        QTest.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    return keys


def match_first_candidate(text: str) -> DialogKeys:
    def keys(dialog: QWidget) -> None:
        candidates = dialog.findChild(QListWidget)
        assert candidates is not None and _focus(dialog) is candidates
        QTest.keyClick(candidates, Qt.Key.Key_Home)
        QTest.keyClick(candidates, Qt.Key.Key_Tab)
        edit = _focus(dialog)
        assert isinstance(edit, QLineEdit)
        _type(edit, text)
        QTest.keyClick(edit, Qt.Key.Key_Return)

    return keys


def _suggested(w: MainWindow, item_id: int) -> Any:
    detail = w.detail_view.detail
    assert detail is not None and detail.row.item_id == item_id
    return next((s.action for s in detail.actions if s.suggested), None)


def test_triage_ten_items_by_keyboard(qtbot: Any, window: MainWindow, demo: Any) -> None:
    ws, _ = demo
    w = window
    sync(qtbot, w)
    _activate(qtbot, w)
    t = Triage(qtbot, w)
    t.table.setFocus()
    t.key(Qt.Key.Key_J)  # nothing selected yet: J selects the first row
    qtbot.waitUntil(lambda: t.selected() is not None, timeout=TIMEOUT_MS)
    rows = t.rows()
    assert len(rows) < w.list_view.model.total + 1  # one page: the demo month fits, nothing more is loaded

    def first(test: Callable[[Any], bool], after: int = 0) -> Any:
        return next(r for r in t.rows()[after:] if test(r))

    # 1. A source-only invoice: Enter opens the suggested push's preview; Ctrl+Enter sends it.
    # (not one the checks block, such as a number Xero holds on a deleted invoice)
    row = first(
        lambda r: (
            r.kind is Kind.INVOICE
            and r.status is ItemStatus.ONLY_IN_SOURCE
            and not ws.preview(next(s.action for s in ws.item_detail(r.item_id).actions if s.suggested)).problems
        )
    )
    t.go_to(row.item_id)
    assert isinstance(_suggested(w, row.item_id), PushRecord)
    assert w.item_actions["suggested"].isEnabled() and w.item_actions["push"].isEnabled()
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, confirm_preview)
    assert ok, message
    assert ws.item_detail(row.item_id).row.status is ItemStatus.MATCHED

    # 2. A difference the source fixes: Enter and Ctrl+Enter push its field to the ledger.
    row = first(lambda r: r.status is ItemStatus.DIFFERS and r.fields == ("po_number",))
    t.go_to(row.item_id)
    assert isinstance(_suggested(w, row.item_id), PushField)
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, confirm_preview)
    assert ok, message

    # 3. A difference without a suggestion: A accepts the source (no dialog).
    row = first(lambda r: r.status is ItemStatus.DIFFERS and "po_number" not in r.fields and "due_date" not in r.fields)
    t.go_to(row.item_id)
    assert _suggested(w, row.item_id) is None
    ok, message = t.act(row.item_id, Qt.Key.Key_A)
    assert ok, message
    assert ws.item_detail(row.item_id).row.status is ItemStatus.RESOLVED

    # 4. Ignore with a note typed in the note dialog (Ctrl+Enter confirms it).
    row = first(lambda r: r.status is ItemStatus.DIFFERS and "po_number" not in r.fields and "due_date" not in r.fields)
    t.go_to(row.item_id)
    ok, message = t.act(row.item_id, Qt.Key.Key_I, note("agreed with the client by phone"))
    assert ok, message
    assert ws.item_detail(row.item_id).row.note.endswith("agreed with the client by phone")

    # 5. A possible duplicate: its suggestion is to ignore it, with a note.
    row = first(
        lambda r: "possible_duplicate" in r.flags and r.status in (ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER)
    )
    t.go_to(row.item_id)
    suggested = _suggested(w, row.item_id)
    assert isinstance(suggested, Resolve) and suggested.resolution.value == "ignore"
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, note("the same payment entered twice"))
    assert ok, message

    # 6. A source-only payment whose invoice is in the ledger: Enter records it there (it pairs up, new key).
    row = first(lambda r: r.kind is Kind.PAYMENT and r.status is ItemStatus.ONLY_IN_SOURCE and not r.flags)
    t.go_to(row.item_id)
    assert isinstance(_suggested(w, row.item_id), PushRecord)
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, confirm_preview)
    assert ok, message

    # 8. K goes back, J forward; the arrows too. Then Enter on another difference the source fixes.
    here = t.table.currentIndex().row()
    t.key(Qt.Key.Key_K)
    assert t.table.currentIndex().row() == max(here - 1, 0)
    t.key(Qt.Key.Key_J)
    assert t.table.currentIndex().row() == here
    row = first(lambda r: r.status is ItemStatus.DIFFERS and r.fields in (("po_number",), ("due_date",)))
    t.go_to(row.item_id)
    ok, message = t.act(row.item_id, Qt.Key.Key_Return, confirm_preview)
    assert ok, message

    # 9.-10. Filtered on "differs": an accepted item leaves the filter and the one now in its row is selected.
    w.list_view.filter_bar.set_status(ItemStatus.DIFFERS)
    settle(qtbot, w)
    _activate(qtbot, w)
    t.table.setFocus()
    differs = t.rows()
    assert len(differs) >= 3 and all(r.status is ItemStatus.DIFFERS for r in differs)
    t.key(Qt.Key.Key_J)
    t.go_to(differs[1].item_id)
    ok, message = t.act(differs[1].item_id, Qt.Key.Key_A, modifier=Qt.KeyboardModifier.ShiftModifier)  # the ledger
    assert ok, message
    assert w.list_view.model.row_of(differs[1].item_id) is None  # gone from the filter
    assert t.table.currentIndex().row() == 1  # the item that took its place
    last = t.rows()[-1]
    t.go_to(last.item_id)
    ok, message = t.act(last.item_id, Qt.Key.Key_I, note("written off, agreed with the finance lead"))
    assert ok, message
    assert t.selected().item_id == t.rows()[-1].item_id  # at the end: the previous one

    assert len(t.done) == 9, t.done  # (matching by keyboard: see the report, not yet covered here)


def test_keys_are_inert_while_typing_and_tab_goes_round(qtbot: Any, window: MainWindow) -> None:
    w = window
    sync(qtbot, w)
    _activate(qtbot, w)
    w.list_view.table.setFocus()
    QTest.keyClick(w.list_view.table, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.detail_view.detail is not None and w.runner.pending() == 0, timeout=TIMEOUT_MS)
    selected = w.list_view.selected_item_id()
    search = w.list_view.filter_bar.search_edit
    search.setFocus()
    QTest.keyClicks(search, "jkaim")
    assert search.text() == "jkaim" and w.list_view.selected_item_id() == selected
    assert w.runner.pending() <= 1  # only the search; no action started
    search.clear()
    settle(qtbot, w)

    # Tab from the month picker: status, kind, search, the list, the item's buttons, ..., and round again. An item a
    # person can act on is shown (a used-up credit or a matched pair has no buttons: Tab goes on to the bulk bar).
    model = w.list_view.model
    open_item = next(i for i in model.ids() if model.item_row(i).status is not ItemStatus.MATCHED)
    assert w.list_view.select_item(open_item)

    def shown() -> bool:
        detail = w.detail_view.detail
        return detail is not None and detail.row.item_id == open_item and w.runner.pending() == 0

    qtbot.waitUntil(shown, timeout=TIMEOUT_MS)
    bar = w.list_view.filter_bar
    bar.period_combo.setFocus()
    visited: list[QWidget] = []
    for _ in range(12):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
    assert visited[:4] == [bar.status_combo, bar.kind_combo, bar.search_edit, w.list_view.table]
    buttons = list(w.detail_view.action_buttons.values()) + [
        b for b in (w.detail_view.accept_source_button, w.detail_view.accept_ledger_button) if b.isEnabled()
    ]
    assert visited[4] in [*buttons, w.detail_view.ignore_button]  # Tab leaves the list for the item's buttons
    assert w.detail_view.diff_table not in visited  # read-only views are not in the Tab round


def test_item_menu_and_help_list_the_keys(qtbot: Any, window: MainWindow) -> None:
    w = window
    sync(qtbot, w)
    texts = {a.text().replace("&", ""): a for a in w.item_menu.actions() if not a.isSeparator()}
    assert {"Next item", "Previous item", "Take the suggested action…", "Ignore with a note…"} <= set(texts)
    assert texts["Next item"].shortcut().toString() == "J"
    assert texts["Ignore with a note…"].shortcut().toString() == "I"
    assert not w.item_actions["ignore"].isEnabled()  # nothing shown yet
    row = next(
        r for r in (w.list_view.model.item_row(i) for i in w.list_view.model.ids()) if r.status is ItemStatus.MATCHED
    )
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
        w.list_view.select_item(row.item_id)
    assert not w.item_actions["ignore"].isEnabled() and not w.item_actions["suggested"].isEnabled()
    row = next(
        r for r in (w.list_view.model.item_row(i) for i in w.list_view.model.ids()) if r.status is ItemStatus.DIFFERS
    )
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
        w.list_view.select_item(row.item_id)
    assert w.item_actions["ignore"].isEnabled() and w.item_actions["accept_source"].isEnabled()
    assert "(I)" in w.detail_view.ignore_button.toolTip()
    assert all("(" in b.toolTip() for b in w.detail_view.action_buttons.values())

    dialog = w.show_shortcuts()
    text = dialog.findChild(QWidget, "shortcutsText").text()  # type: ignore[union-attr]
    for needle in ("J / Down", "Ctrl+Enter", "Ignore with a note", "Shift+A", "Sync now"):
        assert needle in text, needle
    dialog.close()

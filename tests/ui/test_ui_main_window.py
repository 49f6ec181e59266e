"""The main window against the real demo workspace: sandboxes over HTTP on 127.0.0.1, a SQLite file, offscreen Qt.

Each test drives the GUI the way a user would (buttons, filters, selection) and checks the outcome both on screen
and, where it matters, in the sandbox's own state.
"""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from ui_helpers import TIMEOUT_MS, all_rows, confirm_previews, reselect, set_faults, settle, sync
from ui_helpers import button as ui_button

from app.domain.status import ItemStatus, Kind, PushState, System
from app.services.api import PushField, PushRecord
from app.ui import style
from app.ui.main_window import MainWindow
from app.ui.models.item_table_model import COLUMN_INDEX

PUSHABLE = {"po_number", "due_date"}


def _select(qtbot: Any, w: MainWindow, item_id: int) -> Any:
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS) as blocker:
        assert w.list_view.select_item(item_id)
    detail = blocker.args[0]
    assert detail.row.item_id == item_id
    return detail


def _status_cell(w: MainWindow, item_id: int) -> str:
    model = w.list_view.model
    row = model.row_of(item_id)
    assert row is not None
    return str(model.data(model.index(row, COLUMN_INDEX["status"])))


def _admin_state(server_root: str) -> dict[str, Any]:
    with urllib.request.urlopen(server_root.rstrip("/") + "/__admin/state", timeout=5) as response:
        return json.loads(response.read(), parse_float=Decimal)


def test_sync_then_push_a_differing_invoice_turns_its_row_matched(qtbot, window, demo):
    _ws, sandboxes = demo
    result = sync(qtbot, window)
    assert result.ok, result.errors
    assert window.sync_view.runs() == [result]
    assert "Differs" in window.counts_label.text()
    assert window.last_sync_label.text().startswith("Last sync ")

    rows = all_rows(qtbot, window)
    candidates = [
        r
        for r in rows
        if r.kind == Kind.INVOICE and r.status == ItemStatus.DIFFERS and r.fields and set(r.fields) <= PUSHABLE
    ]
    assert candidates, "the demo month should have invoices differing only in PO number or due date"
    row = candidates[0]
    assert _status_cell(window, row.item_id) == style.status_text(ItemStatus.DIFFERS)

    detail = _select(qtbot, window, row.item_id)
    assert window.detail_view.diff_model.differing_fields() == list(row.fields)
    previews = confirm_previews(window)
    for field in row.fields:
        button = ui_button(window.detail_view, PushField(row.item_id, field, System.XERO))
        assert button.isEnabled()
        with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert blocker.args[0] is True, blocker.args[1]
        assert previews[-1].changes[0].field == field  # the push was previewed first
        settle(qtbot, window)
        qtbot.waitUntil(
            lambda f=field: (
                window.detail_view.detail is not None and f not in window.detail_view.diff_model.differing_fields()
            ),
            timeout=TIMEOUT_MS,
        )

    qtbot.waitUntil(
        lambda: (
            window.list_view.model.item_row(row.item_id) is not None
            and window.list_view.model.item_row(row.item_id).status == ItemStatus.MATCHED
        ),
        timeout=TIMEOUT_MS,
    )
    assert _status_cell(window, row.item_id) == style.status_text(ItemStatus.MATCHED)
    assert window.list_view.model.item_row(row.item_id).push == PushState.SUCCEEDED
    assert window.list_view.selected_item_id() != row.item_id  # done: triage moved on to the next item
    reselect(qtbot, window, row.item_id)
    assert window.detail_view.push_model.rowCount() == len(row.fields)

    # The ledger really has the accessplanit value now.
    want = {d.field: d.source for d in detail.diffs}
    state = _admin_state(sandboxes.info["xero"]["identity_url"])
    invoice = next(i for i in state["Invoices"]["Invoices"] if i["InvoiceNumber"] == row.invoice)
    if "po_number" in row.fields:
        assert invoice["Reference"] == want["po_number"]


def test_ignore_with_a_note_resolves_the_item_and_logs_the_note(qtbot, window):
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    row = next(r for r in rows if r.status in (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_LEDGER))
    _select(qtbot, window, row.item_id)

    asked: list[str] = []
    window.detail_view.note_provider = lambda _parent, key: asked.append(key) or ""
    qtbot.mouseClick(window.detail_view.ignore_button, Qt.MouseButton.LeftButton)
    assert asked == [row.key]  # an empty note (the dialog cancelled) resolves nothing
    assert window.runner.pending() == 0

    note = "Agreed with the client on the phone: the remittance is right"
    window.detail_view.note_provider = lambda _parent, _key: note
    with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.detail_view.ignore_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True, blocker.args[1]
    settle(qtbot, window)
    qtbot.waitUntil(
        lambda: window.list_view.model.item_row(row.item_id).status == ItemStatus.RESOLVED, timeout=TIMEOUT_MS
    )
    reselect(qtbot, window, row.item_id)  # triage moved on to the next item; back to this one
    assert _status_cell(window, row.item_id) == style.status_text(ItemStatus.RESOLVED)
    qtbot.waitUntil(lambda: any(e.note == note for e in window.audit_view.model.rows()), timeout=TIMEOUT_MS)
    entry = next(e for e in window.audit_view.model.rows() if e.note == note)
    assert entry.item_key == row.key
    qtbot.waitUntil(
        lambda: window.detail_view.detail is not None and window.detail_view.detail.row.status == ItemStatus.RESOLVED,
        timeout=TIMEOUT_MS,
    )
    assert not window.detail_view.ignore_button.isEnabled()  # nothing left to decide
    assert "Resolved 1" in window.counts_label.text()

    # A refused action is shown, in words, under the buttons; the window carries on.
    reloads: list[int] = []
    window.list_view.model.sig_list_loaded.connect(reloads.append)
    window.list_view.model.sig_rows_reloaded.connect(reloads.append)
    with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        window.detail_view.act(PushField(row.item_id, "no_such_field", System.XERO))
    assert blocker.args[0] is False and blocker.args[1]
    settle(qtbot, window)
    assert reloads == []  # it changed nothing, so the list read nothing again
    assert blocker.args[1].split()[0] in window.detail_view.message.text()

    with qtbot.waitSignal(window.sig_retry_finished, timeout=TIMEOUT_MS) as blocker:
        window.retry_action.trigger()
    assert blocker.args[0] == []
    assert window.notice.text() == "No failed pushes to retry."


def test_cancelling_a_slow_sync_keeps_the_window_responsive(qtbot, window, demo):
    _ws, sandboxes = demo
    roots = [sandboxes.accessplanit.url, sandboxes.info["xero"]["identity_url"]]
    for root in roots:
        set_faults(root, {"latency": "0.3"})  # every request now takes 0.3 s: the sync lasts seconds

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(window.syncing))
    timer.start(10)
    handle = window.sync()
    assert handle is not None and window.syncing
    assert window.cancel_button.isVisible() and window.cancel_action.isEnabled()
    assert not window.sync_action.isEnabled()
    assert window.sync() is None  # one sync at a time
    # The GUI thread keeps turning its event loop while the worker waits on the network.
    qtbot.waitUntil(lambda: ticks.count(True) >= 10, timeout=TIMEOUT_MS)
    assert window.syncing
    qtbot.waitUntil(lambda: " records" in window.progress_label.text(), timeout=TIMEOUT_MS)
    assert window.progress_label.text().startswith("accessplanit: ")  # the source is read first
    assert window.cancel_action.shortcut().toString() == "Esc"

    with qtbot.waitSignal(window.sig_sync_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    timer.stop()
    result = blocker.args[0]
    assert result is None or result.cancelled
    assert not window.syncing and not window.progress.isVisible()
    assert "cancelled" in window.notice.text().lower()

    for root in roots:
        set_faults(root, {})
    again = sync(qtbot, window)
    assert again.ok and not again.cancelled


def test_status_kind_and_search_filters_ask_the_database(qtbot, window):
    model = window.list_view.model
    first_rows: list[object] = []

    def on_list(count: int) -> None:
        # The first page arrives whole with its count: the rows are there the moment the list is.
        if count and not first_rows:
            first_rows.append(model.item_row(model.item_id_at(0)))

    model.sig_list_loaded.connect(on_list)
    sync(qtbot, window)
    assert first_rows and first_rows[0] is not None
    everything = all_rows(qtbot, window)
    bar = window.list_view.filter_bar
    assert bar.period_combo.currentIndex() == 1  # the newest month, chosen when the first sync brought months
    differs = [r for r in everything if r.status == ItemStatus.DIFFERS]
    assert differs and len(differs) < len(everything)

    with qtbot.waitSignal(window.list_view.model.sig_list_loaded, timeout=TIMEOUT_MS) as blocker:
        bar.set_status(ItemStatus.DIFFERS)
    assert blocker.args[0] == len(differs)
    shown = all_rows(qtbot, window)
    assert {r.item_id for r in shown} == {r.item_id for r in differs}
    assert f"({len(differs)})" in bar.status_combo.currentText()

    with qtbot.waitSignal(window.list_view.model.sig_list_loaded, timeout=TIMEOUT_MS):
        bar.set_status(None)
    with qtbot.waitSignal(window.list_view.model.sig_list_loaded, timeout=TIMEOUT_MS):
        bar.kind_combo.setCurrentIndex(bar.kind_combo.findData(Kind.PAYMENT))
    payments = all_rows(qtbot, window)
    assert payments and all(r.kind == Kind.PAYMENT for r in payments)

    with qtbot.waitSignal(window.list_view.model.sig_list_loaded, timeout=TIMEOUT_MS):
        bar.kind_combo.setCurrentIndex(0)
    target = next(r for r in everything if r.kind == Kind.INVOICE)
    with qtbot.waitSignal(window.list_view.model.sig_list_loaded, timeout=TIMEOUT_MS):
        qtbot.keyClicks(bar.search_edit, target.invoice.lower())  # one query after the debounce, not one per key
    found = all_rows(qtbot, window)
    assert target.item_id in {r.item_id for r in found}
    assert len(found) < len(everything)


def test_the_panel_names_each_side_after_its_system(qtbot, window):
    """The API speaks of source and ledger; the words on screen come from the systems playing those roles."""
    settle(qtbot, window)
    d = window.detail_view
    assert [d.diff_model.headerData(i, Qt.Orientation.Horizontal) for i in range(3)] == [
        "Field",
        "accessplanit",
        "Xero",
    ]
    assert d.accept_source_button.text() == "Accept &accessplanit" and d.accept_ledger_button.text() == "Accept &Xero"
    assert "accessplanit and Xero" in d.title.text()


def test_every_model_passes_the_model_tester(qtbot, qtmodeltester, window):
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    row = next(r for r in rows if r.kind == Kind.INVOICE and r.status == ItemStatus.DIFFERS)
    _select(qtbot, window, row.item_id)
    window.tabs.setCurrentWidget(window.audit_view)
    settle(qtbot, window)
    d = window.detail_view
    for model in (
        window.list_view.model,
        d.diff_model,
        d.lines_source_model,
        d.lines_ledger_model,
        d.push_model,
        d.audit_model,
        window.audit_view.model,
        window.sync_view.model,
    ):
        qtmodeltester.check(model, force_py=True)
    assert d.diff_model.rowCount() > 0 and d.lines_source_model.rowCount() > 0


def test_export_writes_the_services_report(qtbot, window, tmp_path):
    sync(qtbot, window)
    assert window.report_available()
    target = tmp_path / "october.json"
    period = window.list_view.filter_bar.current_filter().period
    with qtbot.waitSignal(window.sig_report_exported, timeout=TIMEOUT_MS):
        window.export_report(target, "json", period)
    report = json.loads(target.read_text(encoding="utf-8"), parse_float=Decimal)
    assert report["period"] == period
    assert report["items"] and {"kind", "key", "status"} <= set(report["items"][0])


def test_window_layout_is_saved_without_any_secret(qtbot, demo, ui_settings, tmp_path):
    ws, sandboxes = demo
    first = MainWindow(ws, settings=ui_settings)
    qtbot.addWidget(first)
    first.show()
    contact = COLUMN_INDEX["contact"]
    first.list_view.table.setColumnWidth(contact, 321)
    first.close()
    ini = Path(ui_settings.fileName()).read_bytes()
    secrets = [
        sandboxes.info["accessplanit"]["password"],
        sandboxes.info["accessplanit"]["api_key"],
        sandboxes.info["xero"]["client_secret"],
    ]
    assert not any(s.encode() in ini for s in secrets)
    assert all(
        k.startswith("mainWindow/") for k in QSettings(ui_settings.fileName(), QSettings.Format.IniFormat).allKeys()
    )
    second = MainWindow(ws, settings=QSettings(ui_settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.list_view.table.columnWidth(contact) == 321
    second.close()


def test_run_gui_shows_the_window_and_returns_when_it_is_closed(qtbot, demo):
    from PySide6.QtWidgets import QApplication

    from app.ui.app import run_gui

    ws, _ = demo
    seen: list[MainWindow] = []

    def close_when_loaded() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].list_view.model.loaded and windows[0].runner.pending() == 0:
            seen.append(windows[0])
            windows[0].close()
        else:
            QTimer.singleShot(20, close_when_loaded)

    QTimer.singleShot(0, close_when_loaded)
    assert run_gui(ws, title_suffix="test") == 0
    assert seen and seen[0].windowTitle() == "Recondesk — test"
    assert not seen[0].windowIcon().isNull()


def test_a_fresh_cache_says_to_sync_and_every_action_has_a_shortcut_or_mnemonic(qtbot, window):
    settle(qtbot, window)
    assert window.list_view.model.rowCount() == 0
    assert window.list_view.empty_label.isVisible()
    assert "Sync now (Ctrl+R)" in window.list_view.empty_label.text()
    shortcuts = {a.text(): a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()}
    assert shortcuts["&Sync now"] == "Ctrl+R" and shortcuts["&Cancel"] == "Esc"
    assert shortcuts["&Full re-sync"] == "Ctrl+Shift+R" and shortcuts["&Connections…"] == "Ctrl+K"
    for menu_action in window.menuBar().actions():
        assert "&" in menu_action.text()
        for a in menu_action.menu().actions():
            assert a.isSeparator() or "&" in a.text(), a.text()


def test_pushing_a_payment_follows_it_to_its_matched_item(qtbot, window):
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    payments = [r for r in rows if r.kind == Kind.PAYMENT and r.status == ItemStatus.ONLY_IN_SOURCE]
    target = None
    for r in payments:
        detail = _select(qtbot, window, r.item_id)
        if PushRecord(r.item_id, System.XERO, expected_version=detail.row.version) in {
            a.action for a in detail.actions
        }:
            target = r
            break
    assert target is not None, "the demo month should have a payment taken in accessplanit but not in Xero"

    button = ui_button(window.detail_view, PushRecord(target.item_id, System.XERO))
    confirm_previews(window)
    with qtbot.waitSignal(window.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True, blocker.args[1]
    settle(qtbot, window)
    # The payment paired up under a new key and is done, so triage moved on; the paired item is in the list.
    model = window.list_view.model
    paired = [r for r in (model.item_row(i) for i in model.ids()) if r is not None and r.source_id == target.source_id]
    assert [r.status for r in paired] == [ItemStatus.MATCHED], paired
    now = paired[0]
    assert now.kind == Kind.PAYMENT and now.invoice == target.invoice and now.ledger_id
    assert window.list_view.selected_item_id() not in (target.item_id, now.item_id)


def test_the_list_pages_in_as_the_user_scrolls(qtbot, window, monkeypatch):
    import app.ui.models.item_table_model as item_model

    sync(qtbot, window)
    model = window.list_view.model
    table = window.list_view.table
    monkeypatch.setattr(item_model, "PAGE", 10)
    assert model.total > 30
    with qtbot.waitSignal(model.sig_list_loaded, timeout=TIMEOUT_MS):
        model.set_filter(model.item_filter)  # a new filter starts again from one page
    assert model.rowCount() == 10 and model.canFetchMore()
    while model.rowCount() < model.total:  # scroll to the end as a user would: the view asks for the next page
        before = model.rowCount()
        table.scrollToBottom()
        qtbot.waitUntil(lambda before=before: model.rowCount() > before, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert model.rowCount() == model.total and not model.canFetchMore()
    keys = [model.item_row(i).key for i in model.ids()]
    assert len(set(model.ids())) == len(keys)  # no row twice across page boundaries
    assert keys == sorted(keys)  # the default order, by key, kept across pages


@pytest.mark.parametrize("column", ["contact", "date", "amount", "status", "kind"])
def test_a_header_click_sorts_in_the_database_across_pages(qtbot, window, monkeypatch, column):
    import app.ui.models.item_table_model as item_model

    sync(qtbot, window)
    monkeypatch.setattr(item_model, "PAGE", 7)  # several pages, so a sort that only sorted one page would show
    model = window.list_view.model
    every = {r.item_id: r for r in all_rows(qtbot, window)}
    section = COLUMN_INDEX[column]
    value = {
        "contact": lambda r: r.contact,
        "date": lambda r: r.date,
        "amount": lambda r: r.amount,
        "status": lambda r: r.status.value,
        "kind": lambda r: r.kind.value,
    }[column]
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        with qtbot.waitSignal(model.sig_list_loaded, timeout=TIMEOUT_MS):
            window.list_view.table.sortByColumn(section, order)
        assert model.rowCount() == 7  # the first page at once, not every row
        rows = all_rows(qtbot, window)
        assert {r.item_id for r in rows} == set(every)
        if column == "amount":  # the database sorts minor units: amounts of one currency are in order
            for currency in {r.currency for r in rows}:
                got = [Decimal(r.amount.replace(",", "")) for r in rows if r.currency == currency and r.amount]
                assert got == sorted(got, reverse=order == Qt.SortOrder.DescendingOrder)
        else:
            got = [value(r) for r in rows]
            assert got == sorted(got, reverse=order == Qt.SortOrder.DescendingOrder)


def test_the_sync_run_log_is_read_back_from_the_cache(qtbot, window, demo, ui_settings):
    """A new window (a restart) shows the runs kept in the cache, with their streams, not only this session's."""
    from app.ui.main_window import MainWindow

    ws, _ = demo
    first = sync(qtbot, window)
    second = sync(qtbot, window)
    reopened = MainWindow(ws, settings=ui_settings)
    qtbot.addWidget(reopened)
    reopened.show()
    reopened.start()
    qtbot.waitUntil(lambda: len(reopened.sync_view.runs()) >= 2, timeout=TIMEOUT_MS)
    runs = reopened.sync_view.runs()
    assert [r.run_id for r in runs[:2]] == [second.run_id, first.run_id]
    assert runs[0].streams and sum(s.fetched for s in runs[0].streams) == sum(s.fetched for s in second.streams)
    assert reopened.sync_view.run_list.count() == len(runs)
    reopened.close()


def test_progress_text_says_what_is_counted() -> None:
    from app.domain.progress import ProgressEvent
    from app.ui.main_window import progress_text

    fetching = ProgressEvent("Xero: invoices", 1200, 3000, pages=2, eta_seconds=40)
    assert progress_text(fetching) == "Xero: invoices — 1,200 of 3,000 records, 2 pages, about 40 s left"
    lining_up = ProgressEvent(
        "reconciling", 2000, 100_000, eta_seconds=5, message="Lining up both systems", unit="invoices"
    )
    assert (
        progress_text(lining_up) == "reconciling — 2,000 of 100,000 invoices, about 5 s left (Lining up both systems)"
    )

"""Edit → Settings… on the demo workspace (real sandboxes over HTTP, a real SQLite cache, a real Qt event loop): a
wider amount tolerance re-reconciles the item that differed by 0.02 at once, without a sync, and is audited; an
invalid value keeps OK disabled and says why; Cancel changes nothing; mappings offer Xero's accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QLabel, QLineEdit
from ui_helpers import TIMEOUT_MS, all_rows, settle, sync

from app.domain.status import ItemStatus, Kind
from app.services.api import ItemFilter
from app.ui.dialogs.settings_dialog import MappingEditor, SettingsDialog
from app.ui.main_window import MainWindow


def _open(qtbot: Any, w: MainWindow) -> SettingsDialog:
    assert w.settings_action.shortcut() == QKeySequence("Ctrl+,")
    edit_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Edit")
    assert w.settings_action in edit_menu.actions()
    with qtbot.waitSignal(w.sig_settings_opened, timeout=TIMEOUT_MS) as blocker:
        w.settings_action.trigger()
    dialog = blocker.args[0]
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    return dialog


def _nudge_one_xero_payment(w: MainWindow, sandboxes: Any) -> str:
    """Make one matched payment (alone on its invoice) differ by 0.02 in Xero; returns its invoice number."""
    rows = w._ws.rows(w._ws.item_ids(ItemFilter(kind=Kind.PAYMENT)))
    per_invoice: dict[str, int] = {}
    for r in rows:
        per_invoice[r.invoice] = per_invoice.get(r.invoice, 0) + 1
    target = next(r for r in rows if r.status is ItemStatus.MATCHED and per_invoice[r.invoice] == 1 and r.ledger_id)
    ledger = sandboxes.xero_app.ledger
    with ledger.lock:
        payment = ledger.payments.get(target.ledger_id)
        payment["Amount"] = payment["BankAmount"] = Decimal(payment["Amount"]) + Decimal("0.02")
        payment["UpdatedDateUTC"] = f"/Date({int(datetime.now(UTC).timestamp() * 1000)}+0000)/"
        ledger.payments.touch(payment)
    return target.invoice


def _payment_status(w: MainWindow, invoice: str) -> tuple[ItemStatus, tuple[str, ...]]:
    (row,) = [r for r in w._ws.rows(w._ws.item_ids(ItemFilter(kind=Kind.PAYMENT))) if r.invoice == invoice]
    return row.status, tuple(row.fields)


def test_a_wider_tolerance_re_reconciles_without_a_sync_and_is_audited(
    qtbot: Any, window: MainWindow, demo: tuple[Any, Any]
) -> None:
    w, (_ws, sandboxes) = window, demo
    sync(qtbot, w)
    invoice = _nudge_one_xero_payment(w, sandboxes)
    sync(qtbot, w, full=True)
    assert _payment_status(w, invoice) == (ItemStatus.DIFFERS, ("amount",))
    syncs_before = len(w._ws.sync_runs())

    dialog = _open(qtbot, w)
    edit = dialog.editors["money_tolerance"]
    assert isinstance(edit, QLineEdit) and edit.text() == "0.01"
    error = dialog.findChild(QLabel, "money_toleranceError")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    edit.setText("-1")
    assert not ok.isEnabled() and error is not None and "at least 0" in error.text()
    edit.setText("0.05")
    assert ok.isEnabled() and not error.isVisible()
    assert dialog.changes() == {"money_tolerance": "0.05"}

    with qtbot.waitSignal(w.sig_settings_applied, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.ok, result.message
    settle(qtbot, w)

    assert _payment_status(w, invoice) == (ItemStatus.MATCHED, ())
    assert len(w._ws.sync_runs()) == syncs_before  # no sync ran
    listed = [r for r in all_rows(qtbot, w) if r.kind is Kind.PAYMENT and r.invoice == invoice]
    assert [r.status for r in listed] == [ItemStatus.MATCHED]  # the list shows it without a reload by hand
    entry = next(e for e in w._ws.audit() if e.action == "setting")
    assert entry.item_key == "money_tolerance" and "0.01" in entry.before and "0.05" in entry.after
    assert "0.01 -> 0.05" in w.notice.text()


def test_cancel_changes_nothing_and_mappings_offer_xeros_accounts(qtbot: Any, window: MainWindow) -> None:
    w = window
    sync(qtbot, w)
    before = w._ws.settings
    dialog = _open(qtbot, w)
    mapping = dialog.editors["method_accounts"]
    assert isinstance(mapping, MappingEditor)
    combo = mapping.table.cellWidget(0, 1)
    assert isinstance(combo, QComboBox) and combo.count() > 1
    assert combo.currentData() == "090" and combo.currentText().startswith("090 ")
    sales = dialog.editors["sales_account_code"]
    assert isinstance(sales, QComboBox) and sales.currentData() == "200"
    dialog.editors["money_tolerance"].setText("0.50")  # type: ignore[attr-defined]
    combo.setCurrentIndex(combo.findData("091"))
    assert dialog.changes() == {"money_tolerance": "0.50", "method_accounts": "BACS=091, " + _rest(before)}
    dialog.reject()
    settle(qtbot, w)
    assert w._ws.settings == before
    assert not [e for e in w._ws.audit() if e.action == "setting"]


def _rest(settings: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.method_accounts.items() if k != "BACS")

"""The push preview and revert in the GUI: the dialog on its own (defaults, Escape, the clear choice, a blocked push),
then the whole flow on the demo workspace (cancel sends nothing, confirm sends, Revert writes the old value back)."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from ui_helpers import TIMEOUT_MS, all_rows, confirm_previews, reselect, settle, sync
from ui_helpers import button as ui_button

from app.domain.status import ItemStatus, Kind, PushState, System
from app.services.api import FieldChange, PlannedWrite, PushField, PushRecord, Revert
from app.ui.dialogs.preview_dialog import PreviewDialog


def _plan(**kw: Any) -> PlannedWrite:
    base: dict[str, Any] = {
        "item_id": 7,
        "target": System.XERO,
        "method": "POST",
        "path": "Invoices/abc",
        "body": '{\n  "Invoices": [{"InvoiceID": "abc", "Reference": ""}]\n}',
        "changes": (FieldChange("po_number", "PO number", "PO-382420", ""),),
    }
    return PlannedWrite(**{**base, **kw})


def test_cancel_is_the_default_and_escape_cancels(qtbot: Any) -> None:
    dialog = PreviewDialog(_plan(), PushField(7, "po_number", System.XERO))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.cancel_button.isDefault() and dialog.push_button is not None and not dialog.push_button.isDefault()
    assert dialog.changes.item(0, 1).text() == "PO-382420" and dialog.changes.item(0, 2).text() == "(empty)"
    assert not dialog.request.isVisible()  # the request is collapsed until asked for
    dialog.request_toggle.click()
    assert dialog.request.isVisible() and dialog.request.toPlainText().startswith("POST Invoices/abc")
    with qtbot.waitSignal(dialog.rejected, timeout=TIMEOUT_MS):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected

    again = PreviewDialog(_plan(), PushField(7, "po_number", System.XERO))
    qtbot.addWidget(again)
    again.show()
    with qtbot.waitSignal(again.rejected, timeout=TIMEOUT_MS):
        qtbot.keyClick(again, Qt.Key.Key_Return)  # Enter presses the default button: Cancel


def test_blanking_needs_the_clear_value_box(qtbot: Any) -> None:
    plan = _plan(problems=("This would blank the PO number in Xero, which holds 'PO-382420'.",), needs="clear")
    dialog = PreviewDialog(plan, PushField(7, "po_number", System.XERO))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.clear_box.isVisible() and "blank" in dialog.problems.text()
    assert dialog.push_button is not None and not dialog.push_button.isEnabled()
    dialog.accept()  # a stray accept does nothing while the choice is missing
    assert dialog.isVisible()
    dialog.clear_box.setChecked(True)
    assert dialog.push_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT_MS):
        dialog.push_button.click()
    assert dialog.chosen() == PushField(7, "po_number", System.XERO, clear=True)


def test_a_blocked_push_shows_why_and_has_no_push_button(qtbot: Any) -> None:
    why = "Xero is locked by its period lock date (2026-10-31): an adviser can move it."
    dialog = PreviewDialog(_plan(problems=(why,), blocked=True), PushRecord(7, System.XERO))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.push_button is None and not dialog.allowed()
    assert "period lock date" in dialog.problems.text() and dialog.intro.text().startswith("Blocked")


def _xero_reference(sandboxes: Any, number: str) -> str:
    url = sandboxes.info["xero"]["identity_url"].rstrip("/") + "/__admin/state"
    with urllib.request.urlopen(url, timeout=5) as response:
        state = json.loads(response.read(), parse_float=Decimal)
    return str(next(i for i in state["Invoices"]["Invoices"] if i["InvoiceNumber"] == number).get("Reference") or "")


def test_preview_cancel_confirm_then_revert(qtbot: Any, window: Any, demo: Any) -> None:
    ws, sandboxes = demo
    sync(qtbot, window)
    rows = [r for r in all_rows(qtbot, window) if r.kind == Kind.INVOICE and r.status == ItemStatus.DIFFERS]
    row = next(r for r in rows if "po_number" in r.fields)
    view = window.detail_view
    with qtbot.waitSignal(view.sig_detail_loaded, timeout=TIMEOUT_MS):
        assert window.list_view.select_item(row.item_id)
    before = _xero_reference(sandboxes, row.invoice)
    action = PushField(row.item_id, "po_number", System.XERO)

    # Cancel in the preview: nothing is sent.
    shown: list[PlannedWrite] = []
    view.preview_provider = lambda _parent, plan, _action: shown.append(plan) or None
    with qtbot.waitSignal(view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(ui_button(view, action), Qt.MouseButton.LeftButton)
    assert blocker.args[0] is False and "nothing was sent" in blocker.args[1]
    assert shown and shown[0].changes[0].before == before and shown[0].path.startswith("Invoices/")
    assert _xero_reference(sandboxes, row.invoice) == before
    assert ws.item_detail(row.item_id).pushes == ()

    # Confirm: the push is sent, and the item offers to revert it.
    previews = confirm_previews(window)
    with qtbot.waitSignal(view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(ui_button(view, action), Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True, blocker.args[1]
    written = previews[-1].changes[0].after
    assert _xero_reference(sandboxes, row.invoice) == written != before
    settle(qtbot, window)
    reselect(qtbot, window, row.item_id)  # triage moved on to the next item; back to this one
    qtbot.waitUntil(lambda: any(isinstance(a, Revert) for a in view.action_buttons), timeout=TIMEOUT_MS)
    [revert] = [a for a in view.action_buttons if isinstance(a, Revert)]

    # Revert: asks why, writes the old value back, and is audited.
    view.revert_note_provider = lambda _parent, _label: "pushed the wrong way"
    with qtbot.waitSignal(view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.action_buttons[revert], Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True, blocker.args[1]
    assert _xero_reference(sandboxes, row.invoice) == before
    settle(qtbot, window)
    detail = ws.item_detail(view.item_id)
    assert [p.state for p in detail.pushes] == [PushState.SUCCEEDED, PushState.SUCCEEDED]
    assert any(e.action == "revert" and e.note == "pushed the wrong way" for e in detail.audit)
    assert not any(isinstance(a.action, Revert) for a in detail.actions)  # a revert is not itself reverted

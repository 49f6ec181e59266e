"""A possible duplicate in the GUI (real sandboxes over HTTP, a real SQLite file, offscreen Qt): the list marks it,
the panel shows "Possible duplicate of <twin>" with the twin's values and no push button, and "Override and push…"
pushes it only with a note, which the audit log keeps."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from ui_helpers import TIMEOUT_MS, all_rows, confirm_previews, settle, sync
from ui_helpers import button as ui_button

from app.domain.status import Kind, System
from app.services.api import PushField, PushRecord
from app.ui.main_window import MainWindow
from app.ui.models.item_table_model import COLUMN_INDEX, FLAG_MARK


def _select(qtbot: Any, w: MainWindow, item_id: int) -> Any:
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS) as blocker:
        assert w.list_view.select_item(item_id)
    return blocker.args[0]


def _xero_payments(sandboxes: Any, invoice_id: str) -> list[dict[str, Any]]:
    url = sandboxes.info["xero"]["identity_url"].rstrip("/") + "/__admin/state"
    with urllib.request.urlopen(url, timeout=5) as response:
        state = json.loads(response.read(), parse_float=Decimal)
    return [
        p
        for p in state["Payments"]["Payments"]
        if (p.get("Invoice") or {}).get("InvoiceID") == invoice_id and p.get("Status") != "DELETED"
    ]


def test_a_possible_duplicate_is_shown_beside_its_twin_and_pushed_only_with_an_override_note(
    qtbot: Any, window: MainWindow, demo: Any
) -> None:
    _ws, sandboxes = demo
    sync(qtbot, window)
    rows = all_rows(qtbot, window)
    flagged = [r for r in rows if r.flags]
    assert flagged and all(r.flags == ("possible_duplicate",) for r in flagged)
    row = next(r for r in flagged if r.kind is Kind.PAYMENT)
    model = window.list_view.model
    index = model.index(model.row_of(row.item_id), COLUMN_INDEX["status"])
    assert str(model.data(index)).startswith(FLAG_MARK)
    assert f"Possible duplicate of {row.twin}" in str(model.data(index, Qt.ItemDataRole.ToolTipRole))
    plain = next(r for r in rows if not r.flags)
    plain_index = model.index(model.row_of(plain.item_id), COLUMN_INDEX["status"])
    assert FLAG_MARK not in str(model.data(plain_index))

    detail = _select(qtbot, window, row.item_id)
    view = window.detail_view
    assert view.duplicate_label.isVisibleTo(window)
    text = view.duplicate_label.text()
    assert f"Possible duplicate of accessplanit payment {row.twin}" in text and row.amount in text
    pushes = {a: b.text() for a, b in view.action_buttons.items() if isinstance(a, (PushRecord, PushField))}
    assert set(pushes.values()) == {"Override and push…"}  # no plain push button
    push = PushRecord(row.item_id, System.XERO)
    button = ui_button(view, push)
    assert button.text() == "Override and push…" and button.objectName() == "override:push_record:xero"

    invoice = next(r for r in rows if r.kind is Kind.INVOICE and r.invoice == row.invoice)
    assert invoice.ledger_id is not None
    before = len(_xero_payments(sandboxes, invoice.ledger_id))
    asked: list[str] = []
    view.override_note_provider = lambda _parent, key: asked.append(key) or None  # the dialog cancelled
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == [row.key] and window.runner.pending() == 0
    assert len(_xero_payments(sandboxes, invoice.ledger_id)) == before

    note = "Paid twice by the customer; the refund follows next week"
    view.override_note_provider = lambda _parent, _key: note
    shown = confirm_previews(window)  # the override still shows the write before it is sent
    with qtbot.waitSignal(view.sig_action_finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is True, blocker.args[1]
    assert len(shown) == 1 and shown[0].sendable and not shown[0].problems
    settle(qtbot, window)
    assert len(_xero_payments(sandboxes, invoice.ledger_id)) == before + 1
    qtbot.waitUntil(lambda: any(e.note == note for e in window.audit_view.model.rows()), timeout=TIMEOUT_MS)
    entry = next(e for e in window.audit_view.model.rows() if e.note == note)
    assert entry.action == "override" and entry.item_key == row.key
    assert detail.row.key == row.key

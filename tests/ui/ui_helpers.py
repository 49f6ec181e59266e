"""Helpers for the GUI tests: run a sync and wait for the window to settle, load every row of the item model,
switch sandbox faults over real HTTP."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from typing import Any

from app.services.api import ItemRow
from app.ui.main_window import MainWindow
from app.ui.views.item_detail_view import ItemDetailView

TIMEOUT_MS = 30000


def settle(qtbot: Any, w: MainWindow) -> None:
    """Wait until no background task is pending and the item list has its first page for the current filter."""
    qtbot.waitUntil(lambda: w.runner.pending() == 0 and w.list_view.model.loaded, timeout=TIMEOUT_MS)


def sync(qtbot: Any, w: MainWindow, *, full: bool = False) -> Any:
    with qtbot.waitSignal(w.sig_sync_finished, timeout=TIMEOUT_MS) as blocker:
        assert w.sync(full=full) is not None
    settle(qtbot, w)
    return blocker.args[0]


def all_rows(qtbot: Any, w: MainWindow) -> list[ItemRow]:
    """Every row of the current filter, loaded page by page as scrolling to the end would (`fetchMore`)."""
    model = w.list_view.model
    while model.canFetchMore():
        with qtbot.waitSignal(model.sig_rows_loaded, timeout=TIMEOUT_MS):
            model.fetchMore()
    assert model.rowCount() == model.total
    rows = [model.item_row(i) for i in model.ids()]
    assert all(r is not None for r in rows)
    return [r for r in rows if r is not None]


def set_faults(server_url: str, settings: dict[str, str]) -> None:
    """Replace a sandbox's fault settings through its admin endpoint."""
    request = urllib.request.Request(
        server_url.rstrip("/") + "/__admin/faults",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def confirm_previews(w: MainWindow) -> list[Any]:
    """Answer every push preview as a person who reads it and presses Push (ticking "Clear the value" or "new
    contact" when the preview asks for that choice); returns the previews shown, in order."""
    from dataclasses import replace

    from app.services.api import PushField

    shown: list[Any] = []

    def confirm(_parent: Any, plan: Any, action: Any) -> Any:
        shown.append(plan)
        if plan.blocked:
            return None
        if plan.needs == "clear" and isinstance(action, PushField):
            return replace(action, clear=True)
        if plan.needs == "new_contact" and not isinstance(action, PushField):
            return replace(action, new_contact=True)
        return action

    w.detail_view.preview_provider = confirm
    return shown


def reselect(qtbot: Any, w: MainWindow, item_id: int) -> None:
    """Show `item_id` again after an action: triage moves the selection on to the next item once one is done."""
    if w.list_view.selected_item_id() != item_id or w.detail_view.item_id != item_id:
        with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
            assert w.list_view.select_item(item_id)


def button(view: ItemDetailView, action: Any) -> Any:
    """The item panel's button of `action` (built without a version), as offered for the item shown: the offered
    actions name the version of the item they were read with."""
    detail = view.detail
    assert detail is not None
    return view.action_buttons[replace(action, expected_version=detail.row.version)]

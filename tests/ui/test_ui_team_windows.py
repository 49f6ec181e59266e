"""Two windows on one database, as two people (real sandboxes, a real SQLite cache, a real Qt event loop): a decision
taken in one window appears in the other within a few seconds (its poll of what others did, at the real interval),
with a line saying who did what; a decision taken on what a window showed before someone else changed it is refused
with who did what, and that window shows the item as it is now."""

from __future__ import annotations

from typing import Any

from ui_helpers import TIMEOUT_MS, settle, sync

from app.domain.status import ItemStatus, Resolution
from app.services.api import ItemFilter, Others
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database
from app.ui.main_window import OTHERS_POLL_MS, MainWindow


def _shows(w: MainWindow, item_id: int, status: ItemStatus) -> bool:
    row = w.list_view.model.item_row(item_id)
    return row is not None and row.status is status


def _detail_status(w: MainWindow) -> ItemStatus | None:
    detail = w.detail_view.detail
    return detail.row.status if detail is not None else None


def _select(qtbot: Any, w: MainWindow, item_id: int) -> None:
    with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
        assert w.list_view.select_item(item_id)


def test_a_decision_in_one_window_appears_in_the_other_and_a_stale_one_is_refused(
    qtbot: Any, window: MainWindow, demo: tuple[Any, Any], ui_settings: Any
) -> None:
    mine, ws = window, demo[0]
    sync(qtbot, mine)
    ws.add_person("dana", "Dana Smith", "preparer")
    dana_ws = Workspace(Database(ws.db.url), ws.credentials, Settings(), ws.factory, "demo", login="dana")
    hers = MainWindow(dana_ws, settings=ui_settings)  # the real poll interval
    assert hers.others_timer.interval() == OTHERS_POLL_MS <= 3000
    qtbot.addWidget(hers)
    hers.show()
    hers.start()
    settle(qtbot, hers)
    first, second = ws.item_ids(ItemFilter(statuses=(ItemStatus.DIFFERS,)))[:2]
    for w in (mine, hers):
        _select(qtbot, w, first)

    # Dana accepts Xero in her window; mine shows it (list row and the item shown) without a reload or a sync.
    with qtbot.waitSignal(hers.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as done:
        hers.detail_view.resolve(Resolution.ACCEPT_LEDGER)
    assert done.args[0], done.args
    seen: list[Others] = []
    mine.sig_others_seen.connect(seen.append)
    qtbot.waitUntil(lambda: _shows(mine, first, ItemStatus.RESOLVED), timeout=OTHERS_POLL_MS * 3)
    key = dana_ws.rows([first])[0].key
    assert any(f"Dana Smith accepted Xero on {key}." in o.lines for o in seen)
    assert not any(o.changes.everything for o in seen)  # the rows were refreshed, not the whole list
    qtbot.waitUntil(lambda: _detail_status(mine) is ItemStatus.RESOLVED, timeout=TIMEOUT_MS)
    assert "Dana Smith accepted Xero" in mine.statusBar().currentMessage()

    # Her window stops looking; I reopen the second item in mine; her decision on what she saw is refused.
    hers.others_timer.stop()
    _select(qtbot, hers, second)
    with qtbot.waitSignal(mine.detail_view.sig_action_finished, timeout=TIMEOUT_MS):
        _select(qtbot, mine, second)
        mine.detail_view.resolve(Resolution.ACCEPT_SOURCE)
    with qtbot.waitSignal(hers.detail_view.sig_action_finished, timeout=TIMEOUT_MS) as refused:
        hers.detail_view.resolve(Resolution.IGNORE, "not worth chasing")
    ok, message = refused.args
    assert not ok and "changed since it was shown:" in message and "accepted accessplanit just now" in message
    qtbot.waitUntil(lambda: _shows(hers, second, ItemStatus.RESOLVED), timeout=TIMEOUT_MS)  # shown as it is now
    assert [d.resolution for d in _decisions(ws, second)] == [Resolution.ACCEPT_SOURCE.value]
    hers.close()


def _decisions(ws: Workspace, item_id: int) -> list[Any]:
    from app.storage import decisions

    row = ws.rows([item_id])[0]
    with ws.db.transaction(readonly=True) as tx:
        return decisions.decisions_for(tx, row.kind, row.key)

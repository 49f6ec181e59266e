"""File → Month-end pack…: the dialog writes the pack on the DB lane with progress, and Cancel leaves the folder
empty. Real services over the sandboxes, a real SQLite file and a real Qt event loop (offscreen)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ui_helpers import TIMEOUT_MS, sync

from app.ui.dialogs.pack_dialog import PackDialog


def _open(window: Any, folder: Path) -> PackDialog:
    file_menu = window.menuBar().actions()[0].menu()
    assert window.pack_action in file_menu.actions()
    dialog = window.open_pack_dialog()
    assert isinstance(dialog, PackDialog)
    folder.mkdir(exist_ok=True)
    dialog.folder_edit.setText(str(folder))
    return dialog


def test_the_pack_is_written_with_progress(qtbot, window, tmp_path):
    sync(qtbot, window)
    out = tmp_path / "out"
    dialog = _open(window, out)
    period = dialog.period_combo.currentText()
    assert period and period in window._ws.periods()
    seen: list[int] = []
    dialog.progress.valueChanged.connect(seen.append)
    with qtbot.waitSignal(dialog.sig_written, timeout=TIMEOUT_MS) as blocker:
        assert dialog.start() is not None
    paths = blocker.args[0]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert {p.suffix for p in paths} == {".xlsx", ".pdf", ".csv"} and all(p.stat().st_size > 0 for p in paths)
    assert seen[-1] == 3 and 1 in seen and dialog.status.text().startswith("Written: ")
    assert "Month-end pack saved in" in window.notice.text()


def test_cancel_leaves_nothing_in_the_folder(qtbot, window, tmp_path):
    sync(qtbot, window)
    out = tmp_path / "out"
    dialog = _open(window, out)
    # Hold the DB lane so the pack is queued behind this task: Cancel then reaches it before it writes anything.
    release = threading.Event()
    window.runner.db("hold the lane", lambda _ctx: release.wait(30))
    handle = dialog.start()
    assert handle is not None and dialog.running() and not dialog.write_button.isEnabled()
    with qtbot.waitSignal(dialog.sig_ended, timeout=TIMEOUT_MS) as blocker:
        dialog.cancel_button.click()
        assert dialog.status.text() == "Cancelling…"
        release.set()
    assert blocker.args[0] == "Cancelled: nothing was written."
    assert list(out.iterdir()) == []
    assert dialog.write_button.isEnabled() and dialog.isVisible()


def test_a_missing_folder_is_said_and_nothing_runs(qtbot, window, tmp_path):
    sync(qtbot, window)
    dialog = _open(window, tmp_path / "out")
    dialog.folder_edit.setText(str(tmp_path / "nowhere"))
    assert dialog.start() is None and not dialog.running()
    assert "does not exist" in dialog.status.text()

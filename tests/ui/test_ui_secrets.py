"""A secret typed into the Connections dialog lands in the real keyring (a Secret Service) and nowhere else: not in
the SQLite cache (nor its WAL), not in the window settings, not in a log line at DEBUG level, not in any file the
run wrote — also after a sync that used it and a window closed with its state saved (issue 2, "Done means")."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from ui_helpers import TIMEOUT_MS, settle, sync

from app.composition import build_workspace
from app.credentials import KeyringCredentialStore
from app.domain.status import System
from app.ui.dialogs.connections_dialog import ConnectionsDialog
from app.ui.main_window import MainWindow
from app.ui.tasks import TaskRunner


def test_a_secret_typed_in_the_dialog_is_in_the_keyring_and_nowhere_else(
    qtbot: Any, demo: Any, tmp_path: Path, secret_service: object
) -> None:
    _demo_ws, sandboxes = demo
    ap, xero = sandboxes.info["accessplanit"], sandboxes.info["xero"]
    log_file = tmp_path / "recondesk.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        db_file = tmp_path / "cache.sqlite3"
        store = KeyringCredentialStore()
        ws = build_workspace(f"sqlite:///{db_file}", "secrets-test", store, _demo_ws.settings)
        runner = TaskRunner()
        dialog = ConnectionsDialog(ws, runner)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: runner.pending() == 0, timeout=TIMEOUT_MS)
        dialog.show()
        dialog.ap_url.setText(ap["url"])
        dialog.ap_username.setText(ap["username"])
        qtbot.keyClicks(dialog.ap_password, ap["password"])
        with qtbot.waitSignal(dialog.sig_connection_saved, timeout=TIMEOUT_MS):
            qtbot.mouseClick(dialog._panes[System.ACCESSPLANIT].save_button, Qt.MouseButton.LeftButton)
        dialog.tabs.setCurrentIndex(1)
        dialog.xero_url.setText(xero["url"])
        dialog.xero_identity_url.setText(xero["identity_url"])
        dialog.xero_client_id.setText(xero["client_id"])
        qtbot.keyClicks(dialog.xero_client_secret, xero["client_secret"])
        with qtbot.waitSignal(dialog.sig_connection_saved, timeout=TIMEOUT_MS):
            qtbot.mouseClick(dialog._panes[System.XERO].save_button, Qt.MouseButton.LeftButton)
        dialog.close()
        runner.shutdown(5000)

        settings_file = tmp_path / "window.ini"
        window = MainWindow(ws, settings=QSettings(str(settings_file), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        window.start()
        settle(qtbot, window)
        assert sync(qtbot, window).ok
        window.close()
        handler.flush()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()

    secrets = [ap["password"], xero["client_secret"]]
    # In the keyring, under the entries the cache names.
    import keyring

    entries = {c.system: c for c in ws.connections()}
    assert entries[System.ACCESSPLANIT].has_secret and entries[System.XERO].has_secret
    stored = [keyring.get_password("recondesk", name) or "" for name in _entries(db_file)]
    assert any(secrets[0] in s for s in stored) and any(secrets[1] in s for s in stored)
    # Nowhere else.
    assert log_file.stat().st_size > 0, "the run logged nothing: the log check proves nothing"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert db_file in files and settings_file in files
    for path in files:
        data = path.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"a secret was written to {path.name}"
    for s in secrets:
        assert s not in store.describe() and s not in repr(ws.connections())


def _entries(db_file: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(db_file)
    try:
        return [
            f"secrets-test/{system}/{cid}"
            for system, cid in con.execute("SELECT system, connection_id FROM connections")
        ]
    finally:
        con.close()

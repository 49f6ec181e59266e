"""Team mode in the GUI (real sandboxes, a real SQLite cache, a real Qt event loop): Settings > Team database tests
the server in the background and keeps the password in the keyring (never as a setting), then reopens on it; a
viewer's window greys sync, retry, sign-off and every item action, a reviewer's does not."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QPushButton
from sqlalchemy import make_url
from ui_helpers import TIMEOUT_MS, settle, sync

from app.domain.status import ItemStatus
from app.services.api import ItemFilter
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database
from app.ui.dialogs.settings_dialog import TEAM_GROUP, SettingsDialog
from app.ui.main_window import MainWindow


def _open(qtbot: Any, w: MainWindow) -> SettingsDialog:
    with qtbot.waitSignal(w.sig_settings_opened, timeout=TIMEOUT_MS) as blocker:
        w.settings_action.trigger()
    dialog: SettingsDialog = blocker.args[0]
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    dialog.tabs.setCurrentIndex(titles.index(TEAM_GROUP))
    return dialog


def _type_server(dialog: SettingsDialog, host: str, port: str, database: str, user: str, password: str) -> None:
    for name, value in (("team_db_host", host), ("team_db_port", port), ("team_db_name", database)):
        edit = dialog.editors[name]
        assert isinstance(edit, QLineEdit)
        edit.setText(value)
    user_edit = dialog.editors["team_db_user"]
    assert isinstance(user_edit, QLineEdit)
    user_edit.setText(user)
    password_edit = dialog.findChild(QLineEdit, "team_password")
    assert password_edit is not None and password_edit.echoMode() is QLineEdit.EchoMode.Password
    password_edit.setText(password)


def _test(qtbot: Any, dialog: SettingsDialog) -> str:
    button = dialog.findChild(QPushButton, "team_test")
    assert button is not None
    button.click()
    assert dialog.team_result.text() == "Testing…"
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=TIMEOUT_MS)
    return dialog.team_result.text()


def test_a_server_that_does_not_answer_is_said_so_without_the_password(qtbot: Any, window: MainWindow) -> None:
    dialog = _open(qtbot, window)
    _type_server(dialog, "127.0.0.1", "1", "firm", "dana", "Never-Shown-1")
    text = _test(qtbot, dialog)
    assert text.startswith("Could not open postgresql+psycopg://dana@127.0.0.1:1/firm") and "Never-Shown-1" not in text
    dialog.reject()


@pytest.mark.postgres
def test_the_team_database_is_tested_kept_and_reopened_on(
    qtbot: Any, window: MainWindow, demo: tuple[Any, Any], pg_url: str
) -> None:
    ws = demo[0]
    u = make_url(pg_url)
    dialog = _open(qtbot, window)
    _type_server(dialog, str(u.host), str(u.port), str(u.database), str(u.username), "Kept-In-Keyring-2")
    assert _test(qtbot, dialog) == "Connected: Recondesk can open this database."
    asked: list[bool] = []
    window.reopen_provider = lambda _parent: asked.append(True) or True
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: window.reopen_requested, timeout=TIMEOUT_MS)
    settings = ws.current_settings()
    assert asked == [True] and (settings.team_db_host, settings.team_db_user) == (u.host, u.username)
    assert settings.team_url() == f"postgresql+psycopg://{u.username}@{u.host}:{u.port}/{u.database}"
    assert ws.credentials.get(settings.team_entry()) == {"password": "Kept-In-Keyring-2"}
    assert "Kept-In-Keyring-2" not in repr(settings)


def test_a_viewer_window_greys_what_the_role_forbids(
    qtbot: Any, window: MainWindow, demo: tuple[Any, Any], ui_settings: Any
) -> None:
    reviewer, ws = window, demo[0]
    sync(qtbot, reviewer)
    ws.add_person("dana", "Dana Smith", "viewer")
    dana_ws = Workspace(Database(ws.db.url), ws.credentials, Settings(), ws.factory, "demo", login="dana")
    viewer = MainWindow(dana_ws, settings=ui_settings)
    errors: list[str] = []
    viewer.runner.sig_task_failed.connect(lambda _id, name, message: errors.append(f"{name}: {message}"))
    qtbot.addWidget(viewer)
    with qtbot.waitSignal(viewer.sig_person_loaded, timeout=TIMEOUT_MS) as blocker:
        viewer.show()
        viewer.start()
    assert blocker.args[0].role == "viewer"
    qtbot.waitUntil(lambda: viewer.runner.pending() == 0, timeout=TIMEOUT_MS)
    assert errors == []
    settle(qtbot, viewer)
    assert not any(a.isEnabled() for a in (viewer.sync_action, viewer.retry_action, viewer.signoff_action))
    assert "(viewer) does not allow" in viewer.sync_action.toolTip()
    assert viewer.sync() is None
    assert reviewer.sync_action.isEnabled() and reviewer.signoff_action.isEnabled()
    differs = ws.item_ids(ItemFilter(statuses=(ItemStatus.DIFFERS,)))[0]
    for w in (viewer, reviewer):
        with qtbot.waitSignal(w.detail_view.sig_detail_loaded, timeout=TIMEOUT_MS):
            assert w.list_view.select_item(differs)
    assert not any(a.isEnabled() for a in viewer.item_actions.values())
    assert reviewer.item_actions["accept_source"].isEnabled()
    # The firm's settings are shown greyed with the reason; their own stay editable.
    dialog = _open(qtbot, viewer)
    assert not dialog.editors["money_tolerance"].isEnabled() and dialog.editors["push_lease_seconds"].isEnabled()
    assert "(viewer) lets you see the firm's matching" in dialog.editors["money_tolerance"].toolTip()
    dialog.reject()
    mine = _open(qtbot, reviewer)
    assert mine.editors["money_tolerance"].isEnabled()
    mine.reject()
    viewer.close()

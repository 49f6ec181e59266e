"""The connections dialog against the demo sandboxes (save puts the secret in the workspace's credential store,
"Test connection" really calls the emulated services), and the note dialog's refusal of an empty note."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from ui_helpers import TIMEOUT_MS

from app.domain.errors import KeyringUnavailable
from app.domain.status import System
from app.ui.dialogs.connections_dialog import KEEP_SECRET_HINT, ConnectionsDialog
from app.ui.dialogs.note_dialog import NoteDialog
from app.ui.tasks import TaskRunner


def _open(qtbot: Any, ws: Any) -> ConnectionsDialog:
    runner = TaskRunner()
    dialog = ConnectionsDialog(ws, runner)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=TIMEOUT_MS)  # saved connections loaded
    dialog.show()
    return dialog


def _test(qtbot: Any, dialog: ConnectionsDialog, system: System) -> Any:
    pane_button = dialog._panes[system].test_button
    with qtbot.waitSignal(dialog.sig_connection_tested, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(pane_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == system.value
    return blocker.args[1]


def test_accessplanit_wrong_password_fails_then_the_right_one_connects(qtbot, demo):
    ws, sandboxes = demo
    ap = sandboxes.info["accessplanit"]
    dialog = _open(qtbot, ws)
    assert dialog.ap_url.text() == ap["url"].rstrip("/")  # the saved connection was loaded, without its secret
    assert dialog.ap_password.text() == "" and dialog.ap_password.placeholderText() == KEEP_SECRET_HINT
    assert dialog.ap_password.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.ap_api_key.echoMode() == QLineEdit.EchoMode.Password

    qtbot.keyClicks(dialog.ap_password, "not-the-password")
    result = _test(qtbot, dialog, System.ACCESSPLANIT)
    assert not result.ok
    assert result.step == "credentials", result
    assert dialog.status_text(System.ACCESSPLANIT).startswith("✗ Failed at “credentials”")
    assert ws.test_connection(System.ACCESSPLANIT).ok  # testing typed details saved nothing: the old one works
    with qtbot.waitSignal(dialog.sig_connection_failed, timeout=TIMEOUT_MS):  # Save refuses what does not work
        qtbot.mouseClick(dialog._panes[System.ACCESSPLANIT].save_button, Qt.MouseButton.LeftButton)
    assert dialog.status_text(System.ACCESSPLANIT).startswith("✗ Not saved: failed at “credentials”")
    assert ws.test_connection(System.ACCESSPLANIT).ok

    dialog.ap_password.clear()
    qtbot.keyClicks(dialog.ap_password, ap["password"])
    with qtbot.waitSignal(dialog.sig_connection_saved, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog._panes[System.ACCESSPLANIT].save_button, Qt.MouseButton.LeftButton)
    assert "keyring" in dialog.status_text(System.ACCESSPLANIT)
    assert dialog.ap_password.text() == ""  # saved to the store, then cleared from the widget
    result = _test(qtbot, dialog, System.ACCESSPLANIT)
    assert result.ok, result
    assert dialog.status_text(System.ACCESSPLANIT).startswith("✓ Connected")
    info = next(c for c in ws.connections() if c.system == System.ACCESSPLANIT)
    assert info.has_secret and info.auth == "password" and info.username == ap["username"]


def test_xero_custom_connection_saves_and_tests(qtbot, demo):
    ws, sandboxes = demo
    x = sandboxes.info["xero"]
    dialog = _open(qtbot, ws)
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.sign_in_button.isEnabled() and "not available" in dialog.sign_in_button.toolTip()
    dialog.xero_url.setText(x["url"])
    dialog.xero_identity_url.setText(x["identity_url"])
    dialog.xero_client_id.setText(x["client_id"])
    qtbot.keyClicks(dialog.xero_client_secret, "wrong-secret")
    assert not _test(qtbot, dialog, System.XERO).ok
    dialog.xero_client_secret.clear()
    qtbot.keyClicks(dialog.xero_client_secret, x["client_secret"])
    result = _test(qtbot, dialog, System.XERO)
    assert result.ok, result
    assert result.tenant_id and result.tenant_name
    with qtbot.waitSignal(dialog.sig_connection_saved, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog._panes[System.XERO].save_button, Qt.MouseButton.LeftButton)
    assert dialog.xero_client_secret.text() == ""
    saved = next(c for c in ws.connections() if c.system == System.XERO)
    assert saved.tenant_id == result.tenant_id and saved.has_secret  # the organisation is kept: sync can run
    assert ws.sync().ok


def test_an_incomplete_form_is_refused_before_anything_is_saved(qtbot, demo):
    ws, _ = demo
    dialog = _open(qtbot, ws)
    dialog.ap_url.clear()
    qtbot.mouseClick(dialog._panes[System.ACCESSPLANIT].save_button, Qt.MouseButton.LeftButton)
    assert "site URL" in dialog.status_text(System.ACCESSPLANIT)
    assert dialog._runner.pending() == 0


class LockedKeyring:
    """A credential store that behaves like `KeyringCredentialStore` over a locked Secret Service: reads and
    writes raise `KeyringUnavailable` with the same message. (A real locked gnome-keyring needs a D-Bus session
    the GUI suite does not start.)"""

    def get(self, name: str) -> dict[str, str] | None:
        raise KeyringUnavailable("The system keyring is locked.", "Unlock it (log in again) and retry.")

    def set(self, name: str, secret: dict[str, str]) -> None:
        raise KeyringUnavailable("The system keyring is locked.", "Unlock it (log in again) and retry.")

    def delete(self, name: str) -> None:
        raise KeyringUnavailable("The system keyring is locked.", "Unlock it (log in again) and retry.")

    def describe(self) -> str:
        return "locked keyring"


def test_no_keyring_shows_how_to_get_one_and_offers_no_plaintext_fallback(qtbot, tmp_path, demo):
    from app.composition import build_workspace

    ap = demo[1].info["accessplanit"]
    ws = build_workspace(f"sqlite:///{tmp_path / 'cache.sqlite3'}", "uitest", LockedKeyring())
    dialog = _open(qtbot, ws)
    dialog.ap_url.setText(ap["url"])  # details that work: the check passes, then the keyring refuses the secret
    dialog.ap_username.setText(ap["username"])
    qtbot.keyClicks(dialog.ap_password, ap["password"])
    with qtbot.waitSignal(dialog.sig_connection_failed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog._panes[System.ACCESSPLANIT].save_button, Qt.MouseButton.LeftButton)
    assert "keyring is locked" in blocker.args[1]
    assert "no keyring is available" in dialog.status_text(System.ACCESSPLANIT).lower()
    buttons = [b.text().lower() for b in dialog.findChildren(type(dialog._panes[System.ACCESSPLANIT].save_button))]
    assert not any("file" in t or "plain" in t for t in buttons)


def test_the_note_dialog_needs_a_note(qtbot):
    dialog = NoteDialog("INV-1042")
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.edit, "   ")
    assert not dialog.ok_button.isEnabled()
    dialog.accept()
    assert dialog.result() != NoteDialog.DialogCode.Accepted
    qtbot.keyClicks(dialog.edit, "Client paid by cheque")
    assert dialog.ok_button.isEnabled()
    assert dialog.note() == "Client paid by cheque"


def test_sign_in_with_xero_runs_the_oauth_flow_the_composition_root_offers(qtbot, demo):
    import functools

    from app.composition import connect_xero_oauth

    ws, sandboxes = demo
    x = sandboxes.info["xero"]
    runner = TaskRunner()
    # Against the sandbox's loopback identity server the flow runs without a browser.
    dialog = ConnectionsDialog(ws, runner, xero_sign_in=functools.partial(connect_xero_oauth, ws))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=TIMEOUT_MS)
    assert dialog.sign_in_button.isEnabled()
    dialog.xero_url.setText(x["url"])
    dialog.xero_identity_url.setText(x["identity_url"])
    dialog.xero_client_id.setText(x["client_id"])
    with qtbot.waitSignal(dialog.sig_connection_tested, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    result = blocker.args[1]
    assert result.ok, result
    info = next(c for c in ws.connections() if c.system == System.XERO)
    assert info.auth == "oauth" and info.has_secret and info.tenant_name
    qtbot.waitUntil(lambda: dialog.xero_tenant.text() == info.tenant_name, timeout=TIMEOUT_MS)
    assert dialog.status_text(System.XERO).startswith("✓ Connected to")
    assert _test(qtbot, dialog, System.XERO).ok


def test_sign_in_reaching_several_organisations_lets_the_user_choose(qtbot, tmp_path):
    """The browser sign-in reaches two organisations: the dialog asks which one (on the GUI thread, while the flow
    waits on its worker), and the chosen one is saved with the connection; cancelling saves nothing."""
    import functools

    from app.composition import build_workspace, connect_xero_oauth
    from app.credentials import MemoryCredentialStore
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    sandboxes = start_sandboxes(SandboxOptions(invoices=30, month="2026-10", xero_organisations=("Second Org Ltd",)))
    try:
        x = sandboxes.info["xero"]
        ws = build_workspace(f"sqlite:///{tmp_path / 'cache.sqlite3'}", "uitest", MemoryCredentialStore())
        runner = TaskRunner()
        dialog = ConnectionsDialog(ws, runner, xero_sign_in=functools.partial(connect_xero_oauth, ws))
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: runner.pending() == 0, timeout=TIMEOUT_MS)
        dialog.xero_url.setText(x["url"])
        dialog.xero_identity_url.setText(x["identity_url"])
        dialog.xero_client_id.setText(x["client_id"])

        # First: the user cancels the question; nothing is saved.
        with qtbot.waitSignal(dialog.sig_connection_tested, timeout=TIMEOUT_MS) as blocker:
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: dialog.tenant_chooser.dialog is not None, timeout=TIMEOUT_MS)
            dialog.tenant_chooser.dialog.reject()
        assert not blocker.args[1].ok and "nothing was saved" in blocker.args[1].message
        assert not [c for c in ws.connections() if c.system == System.XERO]

        # Then: the user picks the second organisation.
        with qtbot.waitSignal(dialog.sig_connection_tested, timeout=TIMEOUT_MS) as blocker:
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: dialog.tenant_chooser.dialog is not None, timeout=TIMEOUT_MS)
            chooser = dialog.tenant_chooser.dialog
            items = chooser.comboBoxItems()
            assert len(items) == 2 and any(i.startswith("Second Org Ltd") for i in items)
            chooser.setTextValue(next(i for i in items if i.startswith("Second Org Ltd")))
            chooser.accept()
        assert blocker.args[1].ok, blocker.args[1]
        saved = next(c for c in ws.connections() if c.system == System.XERO)
        assert saved.tenant_name == "Second Org Ltd" and saved.auth == "oauth" and saved.has_secret
        dialog.close()
        runner.shutdown(5000)
    finally:
        sandboxes.stop()

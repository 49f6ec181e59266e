"""Edit → Connections…: where the accessplanit and Xero connections are entered, saved and tested.

Secrets typed here are handed straight to the services (`save_checked`), which put them in the OS keyring; the
fields are masked and emptied once saved, and nothing here writes a secret anywhere else. When the services raise
`KeyringUnavailable` its message (how to get a keyring) is shown as is: there is deliberately no "save in a file
instead" fallback. "Test connection" checks what is typed without saving it (`check_connection`); "Save" saves only
a connection that works (`save_checked`). Both run on the network lane and show the failing step and its message.
"Disconnect…" asks first (`confirm_disconnect`, replaceable in tests), then revokes what can be revoked and removes
the saved secret (`disconnect`); the cache is kept.
Must not: keep secrets after saving, put them in QSettings or logs, or call the services on the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import KeyringUnavailable
from app.domain.status import System
from app.services.api import ChangeSet, CheckResult, ConnectionInfo, DisconnectResult, Recondesk
from app.ui.tasks import TaskContext, TaskRunner

XERO_API_URL = "https://api.xero.com/api.xro/2.0"
XERO_IDENTITY_URL = ""  # empty: Xero's own sign-in (login.xero.com) and token (identity.xero.com) endpoints
KEEP_SECRET_HINT = "Saved in the keyring — leave empty to keep it"
SIGN_IN_UNAVAILABLE = (
    "Signing in with Xero in the browser is not available in the app yet. Use a custom "
    "connection (client id and secret) here, or `recondesk connect xero --client-id ID` from "
    "a terminal."
)

SIGN_IN_HELP = (
    "Sign in with Xero opens your browser (OAuth 2.0 with PKCE; only the API URL, identity URL and client id are "
    "needed). A custom connection uses the client id and secret instead."
)


class XeroSignIn(Protocol):
    """The browser sign-in the composition root may offer (e.g. `functools.partial(connect_xero_oauth, ws)`):
    it runs the OAuth flow, puts the tokens in the keyring, saves the connection and says how it went. Blocks.
    When the sign-in reaches several organisations it calls `choose_tenant` with (tenant id, name) pairs."""

    def __call__(
        self,
        *,
        api_url: str,
        identity_url: str,
        client_id: str,
        choose_tenant: Callable[[list[tuple[str, str]]], str | None] | None = None,
    ) -> CheckResult: ...


class TenantChooser(QObject):
    """Asks the user, on the GUI thread, which organisation to reconcile with, for a sign-in running on a worker.

    Called from the worker (it blocks there until the user answers); the question is a non-modal-blocking
    `QInputDialog` opened on the GUI thread through a queued signal, so the GUI never waits on the worker."""

    sig_question_asked = Signal(list)
    """Emitted (from the worker) with the (tenant id, name) pairs; handled on the GUI thread."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._answered = threading.Event()
        self._answer: str | None = None
        self.dialog: QInputDialog | None = None
        self.sig_question_asked.connect(self._ask, Qt.ConnectionType.QueuedConnection)

    def __call__(self, tenants: list[tuple[str, str]]) -> str | None:
        self._answered.clear()
        self._answer = None
        self.sig_question_asked.emit(list(tenants))
        self._answered.wait()
        return self._answer

    def cancel(self) -> None:
        """Release a waiting worker with no answer (the dialog is closing)."""
        if self.dialog is not None:
            self.dialog.reject()
        self._answered.set()

    def _ask(self, tenants: list[tuple[str, str]]) -> None:
        labels = [f"{name} ({tenant_id})" for tenant_id, name in tenants]
        dialog = QInputDialog(self._parent)
        dialog.setObjectName("tenantChooser")
        dialog.setWindowTitle("Choose the Xero organisation")
        dialog.setLabelText("This sign-in reaches several organisations. Reconcile accessplanit with:")
        dialog.setComboBoxItems(labels)
        dialog.setComboBoxEditable(False)

        def done(result: int) -> None:
            text = dialog.textValue()
            chosen = labels.index(text) if result == QDialog.DialogCode.Accepted and text in labels else -1
            self._answer = tenants[chosen][0] if chosen >= 0 else None
            self.dialog = None
            self._answered.set()

        dialog.finished.connect(done)
        self.dialog = dialog
        dialog.open()


OK_COLOUR = "#1d5e2a"
ERROR_COLOUR = "#8a1c1c"


def _secret_edit(parent: QWidget, name: str) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    # Password echo also keeps the text out of copy/cut and input-method history.
    return edit


@dataclass
class _Pane:
    """One system's tab: its form, its status line and its buttons."""

    system: System
    widget: QWidget
    status: QLabel
    save_button: QPushButton
    test_button: QPushButton
    dirty: bool = False
    has_secret: bool = False


class ConnectionsDialog(QDialog):
    """Two tabs (accessplanit, Xero); each saves and tests its own connection."""

    sig_connection_saved = Signal(str)
    """A connection was saved (secret in the keyring): (system value)."""
    sig_connection_tested = Signal(str, object)
    """"Test connection" finished: (system value, CheckResult)."""
    sig_connection_failed = Signal(str, str)
    """Saving or testing raised: (system value, message for people)."""
    sig_disconnected = Signal(str, object)
    """"Disconnect…" finished: (system value, DisconnectResult)."""

    def __init__(
        self,
        workspace: Recondesk,
        runner: TaskRunner,
        parent: QWidget | None = None,
        *,
        xero_sign_in: XeroSignIn | None = None,
    ) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._xero_sign_in = xero_sign_in
        self.tenant_chooser = TenantChooser(self)
        self.confirm_disconnect: Callable[[System], bool] = self._ask_disconnect
        self.disconnect_buttons: dict[System, QPushButton] = {}
        self.setWindowTitle("Connections")
        self.setModal(True)
        self.tabs = QTabWidget(self)
        self._panes: dict[System, _Pane] = {}
        self._build_accessplanit()
        self._build_xero()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Passwords, API keys and client secrets are stored only in your operating system's "
            "keyring, never in a file.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        self.resize(560, 420)
        self._load()

    # -- building ---------------------------------------------------------------------------------------------
    def _pane(self, system: System, form: QFormLayout, page: QWidget, extra: list[QWidget] | None = None) -> None:
        status = QLabel("", page)
        status.setObjectName(f"{system.value}Status")
        status.setWordWrap(True)
        save = QPushButton("Sa&ve", page)
        save.setObjectName(f"{system.value}Save")
        test = QPushButton("&Test connection", page)
        test.setObjectName(f"{system.value}Test")
        row = QHBoxLayout()
        for w in extra or []:
            row.addWidget(w)
        row.addStretch(1)
        disconnect = QPushButton("&Disconnect…", page)
        disconnect.setObjectName(f"{system.value}Disconnect")
        disconnect.setToolTip("Revoke the sign-in where the service allows it and remove the saved secret")
        disconnect.clicked.connect(lambda: self.disconnect_system(system))
        self.disconnect_buttons[system] = disconnect
        row.addWidget(disconnect)
        row.addWidget(test)
        row.addWidget(save)
        outer = QVBoxLayout(page)
        outer.addLayout(form)
        outer.addStretch(1)
        outer.addWidget(status)
        outer.addLayout(row)
        pane = _Pane(system, page, status, save, test)
        self._panes[system] = pane
        save.clicked.connect(lambda: self.save(system))
        test.clicked.connect(lambda: self.test(system))
        self.tabs.addTab(page, "&accessplanit" if system == System.ACCESSPLANIT else "&Xero")

    def _watch(self, system: System, *edits: QLineEdit) -> None:
        for e in edits:
            e.textEdited.connect(lambda _t, s=system: self._mark_dirty(s))

    def _build_accessplanit(self) -> None:
        page = QWidget(self)
        self.ap_url = QLineEdit(page)
        self.ap_url.setObjectName("apUrl")
        self.ap_url.setPlaceholderText("https://yourcompany.accessplanit.com/accessplan")
        self.ap_password_mode = QRadioButton("&Username and password", page)
        self.ap_key_mode = QRadioButton("API &key", page)
        self.ap_password_mode.setChecked(True)
        group = QButtonGroup(page)
        group.addButton(self.ap_password_mode)
        group.addButton(self.ap_key_mode)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.ap_password_mode)
        mode_row.addWidget(self.ap_key_mode)
        mode_row.addStretch(1)
        self.ap_username = QLineEdit(page)
        self.ap_username.setObjectName("apUsername")
        self.ap_password = _secret_edit(page, "apPassword")
        self.ap_api_key = _secret_edit(page, "apApiKey")
        form = QFormLayout()
        form.addRow("&Site URL:", self.ap_url)
        form.addRow("Sign in with:", mode_row)
        form.addRow("User&name:", self.ap_username)
        form.addRow("&Password:", self.ap_password)
        form.addRow("API ke&y:", self.ap_api_key)
        self._watch(System.ACCESSPLANIT, self.ap_url, self.ap_username, self.ap_password, self.ap_api_key)
        self.ap_password_mode.toggled.connect(self._ap_mode_changed)
        self._pane(System.ACCESSPLANIT, form, page)
        self._ap_mode_changed()

    def _build_xero(self) -> None:
        page = QWidget(self)
        self.xero_url = QLineEdit(XERO_API_URL, page)
        self.xero_url.setObjectName("xeroUrl")
        self.xero_identity_url = QLineEdit(XERO_IDENTITY_URL, page)
        self.xero_identity_url.setPlaceholderText("Xero's own (leave empty); a test server's address otherwise")
        self.xero_identity_url.setObjectName("xeroIdentityUrl")
        self.xero_client_id = QLineEdit(page)
        self.xero_client_id.setObjectName("xeroClientId")
        self.xero_client_secret = _secret_edit(page, "xeroClientSecret")
        self.xero_tenant = QLabel("", page)
        form = QFormLayout()
        form.addRow("AP&I URL:", self.xero_url)
        form.addRow("I&dentity URL:", self.xero_identity_url)
        form.addRow("&Client id:", self.xero_client_id)
        form.addRow("Client s&ecret:", self.xero_client_secret)
        form.addRow("Organisation:", self.xero_tenant)
        self._watch(System.XERO, self.xero_url, self.xero_identity_url, self.xero_client_id, self.xero_client_secret)
        self.sign_in_button = QPushButton("Sign in &with Xero…", page)
        self.sign_in_button.setObjectName("xeroSignIn")
        if self._xero_sign_in is None:
            # The composition root gave no browser sign-in: say so instead of showing a dead button.
            self.sign_in_button.setEnabled(False)
            self.sign_in_button.setToolTip(SIGN_IN_UNAVAILABLE)
            note_text = "Custom connection: client id and secret. " + SIGN_IN_UNAVAILABLE.split(". ")[0] + "."
        else:
            self.sign_in_button.setToolTip(SIGN_IN_HELP)
            self.sign_in_button.clicked.connect(self.sign_in)
            note_text = SIGN_IN_HELP
        note = QLabel(note_text, page)
        note.setWordWrap(True)
        form.addRow(note)
        self._pane(System.XERO, form, page, extra=[self.sign_in_button])

    def _ap_mode_changed(self) -> None:
        password = self.ap_password_mode.isChecked()
        self.ap_username.setEnabled(password)
        self.ap_password.setEnabled(password)
        self.ap_api_key.setEnabled(not password)
        self._mark_dirty(System.ACCESSPLANIT)

    def _mark_dirty(self, system: System) -> None:
        if system in self._panes:
            self._panes[system].dirty = True

    # -- loading the saved connections ------------------------------------------------------------------------
    def _load(self) -> None:
        def fetch(_ctx: TaskContext) -> list[ConnectionInfo]:
            return list(self._ws.connections())

        self._runner.db(
            "load connections",
            fetch,
            on_result=self._loaded,
            on_error=lambda msg, _exc: self._say(System.ACCESSPLANIT, msg, ok=False),
        )

    def _loaded(self, infos: list[ConnectionInfo]) -> None:
        for info in infos:
            if info.system == System.ACCESSPLANIT:
                self.ap_url.setText(info.url)
                self.ap_username.setText(info.username)
                (self.ap_key_mode if info.auth == "api_key" else self.ap_password_mode).setChecked(True)
            else:
                self.xero_url.setText(info.url or XERO_API_URL)
                self.xero_identity_url.setText(info.identity_url or XERO_IDENTITY_URL)
                self.xero_client_id.setText(info.client_id)
                self.xero_tenant.setText(info.tenant_name or info.tenant_id)
            self._set_has_secret(info.system, info.has_secret)
            self._panes[info.system].dirty = False
            if not self._panes[info.system].status.text():  # never hide the outcome of a save, test or sign-in
                self._say(info.system, "Saved connection loaded." if info.url else "", ok=True)

    def _set_has_secret(self, system: System, has: bool) -> None:
        self._panes[system].has_secret = has
        hint = KEEP_SECRET_HINT if has else ""
        for edit in self._secret_edits(system):
            edit.setPlaceholderText(hint)

    def _secret_edits(self, system: System) -> list[QLineEdit]:
        if system == System.ACCESSPLANIT:
            return [self.ap_password, self.ap_api_key]
        return [self.xero_client_secret]

    # -- what the form says -----------------------------------------------------------------------------------
    def info_and_secret(self, system: System) -> tuple[ConnectionInfo, str | None]:
        """The connection as typed, and the typed secret (None: keep the saved one). Raises ValueError if incomplete."""
        if system == System.ACCESSPLANIT:
            url = self.ap_url.text().strip().rstrip("/")
            if not url:
                raise ValueError("Enter the site URL of your accessplanit instance.")
            if self.ap_password_mode.isChecked():
                username = self.ap_username.text().strip()
                if not username:
                    raise ValueError("Enter the username of the accessplanit API user.")
                secret = self.ap_password.text()
                info = ConnectionInfo(System.ACCESSPLANIT, url, username=username, auth="password")
            else:
                secret = self.ap_api_key.text()
                info = ConnectionInfo(System.ACCESSPLANIT, url, auth="api_key")
        else:
            url = self.xero_url.text().strip().rstrip("/")
            client_id = self.xero_client_id.text().strip()
            if not url or not client_id:
                raise ValueError("Enter the API URL and the client id of your Xero custom connection.")
            secret = self.xero_client_secret.text()
            info = ConnectionInfo(
                System.XERO,
                url,
                auth="client_credentials",
                identity_url=self.xero_identity_url.text().strip().rstrip("/"),
                client_id=client_id,
            )
        if not secret and not self._panes[system].has_secret:
            raise ValueError("Enter the secret; it will be stored in your keyring.")
        return info, (secret or None)

    # -- save and test ----------------------------------------------------------------------------------------
    def save(self, system: System, then: Callable[[], None] | None = None) -> None:
        """Test what is typed, and save it only if it works (the secret goes to the keyring; for Xero the
        organisation found is kept). Runs on the network lane; a failure says which step failed and saves nothing."""
        try:
            info, secret = self.info_and_secret(system)
        except ValueError as exc:
            self._say(system, str(exc), ok=False)
            return
        self._busy(system, True, "Checking, then saving…")

        def work(_ctx: TaskContext) -> CheckResult:
            return self._ws.save_checked(info, secret)

        def done(result: CheckResult) -> None:
            if not result.ok:
                message = f"✗ Not saved: failed at “{result.step}”: {result.message}"
                self._busy(system, False, message, ok=False)
                self.sig_connection_failed.emit(system.value, message)
                return
            for edit in self._secret_edits(system):
                edit.clear()  # the keyring has it now; do not keep it in the widget
            self._set_has_secret(system, self._panes[system].has_secret or secret is not None)
            self._panes[system].dirty = False
            self._busy(system, False, f"✓ Saved. The secret is in your keyring. {result.message}".strip(), ok=True)
            self.sig_connection_saved.emit(system.value)
            if then is not None:
                then()

        def failed(message: str, exc: BaseException) -> None:
            if isinstance(exc, KeyringUnavailable):
                message = "Not saved: no keyring is available. " + message
            self._busy(system, False, message, ok=False)
            self.sig_connection_failed.emit(system.value, message)

        self._runner.network(
            f"save {system.value} connection", work, on_result=done, on_error=failed, changes=_connections_changed
        )

    def test(self, system: System) -> None:
        """Test what is typed (or the saved connection, when nothing was edited) without saving anything."""
        if self._panes[system].dirty:
            try:
                info, secret = self.info_and_secret(system)
            except ValueError as exc:
                self._say(system, str(exc), ok=False)
                return

            def check(_ctx: TaskContext) -> CheckResult:
                return self._ws.check_connection(info, secret)

            self._run_test(system, check)
        else:
            self._run_test(system, lambda _ctx: self._ws.test_connection(system))

    def _run_test(self, system: System, work: Callable[[TaskContext], CheckResult]) -> None:
        self._busy(system, True, "Testing the connection…")

        def done(result: CheckResult) -> None:
            if result.ok:
                self._busy(system, False, f"✓ Connected. {result.message}".strip(), ok=True)
            else:
                self._busy(system, False, f"✗ Failed at “{result.step}”: {result.message}", ok=False)
            self.sig_connection_tested.emit(system.value, result)

        def failed(message: str, _exc: BaseException) -> None:
            self._busy(system, False, f"✗ {message}", ok=False)
            self.sig_connection_failed.emit(system.value, message)

        self._runner.network(f"test {system.value} connection", work, on_result=done, on_error=failed)

    def done(self, result: int) -> None:  # Qt override: every way of closing the dialog ends here
        self.tenant_chooser.cancel()  # a sign-in waiting for an organisation gets "none" rather than hanging
        super().done(result)

    def sign_in(self) -> None:
        """Run the browser sign-in on the network lane; the services save the connection and its tokens."""
        sign_in = self._xero_sign_in
        if sign_in is None:
            self._say(System.XERO, SIGN_IN_UNAVAILABLE, ok=False)
            return
        api_url = self.xero_url.text().strip().rstrip("/")
        identity_url = self.xero_identity_url.text().strip().rstrip("/")
        client_id = self.xero_client_id.text().strip()
        if not api_url or not client_id:
            self._say(System.XERO, "Enter the API URL and the client id of your Xero app first.", ok=False)
            return
        self.sign_in_button.setEnabled(False)
        self._busy(System.XERO, True, "Waiting for the sign-in in your browser…")

        chooser = self.tenant_chooser

        def work(_ctx: TaskContext) -> CheckResult:
            return sign_in(api_url=api_url, identity_url=identity_url, client_id=client_id, choose_tenant=chooser)

        def done(result: CheckResult) -> None:
            self.sign_in_button.setEnabled(True)
            if result.ok:
                self._panes[System.XERO].dirty = False
                self._set_has_secret(System.XERO, True)
                self._busy(System.XERO, False, f"✓ {result.message}", ok=True)
                self._load()  # shows the organisation the sign-in picked
                self.sig_connection_saved.emit(System.XERO.value)
            else:
                self._busy(System.XERO, False, f"✗ Failed at “{result.step}”: {result.message}", ok=False)
            self.sig_connection_tested.emit(System.XERO.value, result)

        def failed(message: str, _exc: BaseException) -> None:
            self.sign_in_button.setEnabled(True)
            self._busy(System.XERO, False, f"✗ {message}", ok=False)
            self.sig_connection_failed.emit(System.XERO.value, message)

        self._runner.network("sign in with Xero", work, on_result=done, on_error=failed, changes=_connections_changed)

    def _ask_disconnect(self, system: System) -> bool:
        revoke = " The sign-in is revoked at Xero." if system is System.XERO else ""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            f"Disconnect {system.label}?",
            f"Remove the saved {system.label} secret from your keyring?{revoke} The cached records are kept; "
            "sign in again to sync.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        go = box.addButton("Disconnect", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is go

    def disconnect_system(self, system: System) -> None:
        """After a confirmation: revoke, remove the keyring entry, keep the cache (network lane)."""
        if not self.confirm_disconnect(system):
            return
        self._busy(system, True, "Disconnecting…")
        self.disconnect_buttons[system].setEnabled(False)

        def work(_ctx: TaskContext) -> DisconnectResult:
            return self._ws.disconnect(system)

        def done(result: DisconnectResult) -> None:
            self.disconnect_buttons[system].setEnabled(True)
            self._set_has_secret(system, False)
            self._busy(system, False, ("✓ " if result.ok else "✗ ") + result.message, ok=result.ok)
            self.sig_disconnected.emit(system.value, result)

        def failed(message: str, _exc: BaseException) -> None:
            self.disconnect_buttons[system].setEnabled(True)
            self._busy(system, False, f"✗ {message}", ok=False)
            self.sig_connection_failed.emit(system.value, message)

        self._runner.network(
            f"disconnect {system.value}", work, on_result=done, on_error=failed, changes=_connections_changed
        )

    def _busy(self, system: System, busy: bool, text: str, ok: bool = True) -> None:
        pane = self._panes[system]
        pane.save_button.setEnabled(not busy)
        pane.test_button.setEnabled(not busy)
        self._say(system, text, ok=ok)

    def _say(self, system: System, text: str, *, ok: bool) -> None:
        label = self._panes[system].status
        label.setStyleSheet(f"color: {OK_COLOUR if ok else ERROR_COLOUR};")
        label.setText(text)

    def status_text(self, system: System) -> str:
        return self._panes[system].status.text()


def _connections_changed(_result: object) -> ChangeSet:
    return ChangeSet(connections=True)

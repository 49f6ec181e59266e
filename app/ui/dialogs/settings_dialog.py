"""Edit → Settings…: every setting, generated from its declaration (`SettingsView`), one tab per group.

Mappings and codes that name Xero accounts or tax types are chosen from those the last sync fetched (code and name);
before any sync they are typed as text, with a hint to sync first. Each field is checked as it is typed and says why
beside it when it is not valid; OK stays disabled until every field is valid. OK hands back only what changed
(`changes()`); Cancel leaves everything as it was.

The "Team database" tab adds a password field and "Test connection": the dialog asks for the test with
`sig_test_team(values, password)` (the main window runs it on a background lane and hands back the outcome with
`show_team_result`); the password is handed back by `team_password()` for the keyring, never as a setting.
Must not: call the services (the main window applies the changes on a background lane), or know any setting by name.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.api import CheckResult, SettingChoice, SettingsView, SettingValue, check_setting

TEAM_GROUP = "Team database"
TEAM_NOTE = (
    "Leave the server empty to keep this computer's own cache. The password is kept in the system keyring, never "
    "in the settings; Recondesk reopens on the team database once you press OK."
)
SYNC_FIRST = "Sync once to choose from the {what} in Xero; until then type the code."
_WHAT = {"accounts": "accounts", "tax_types": "tax rates"}


def _combo(choices: tuple[SettingChoice, ...], current: str, parent: QWidget) -> QComboBox:
    """A combo of Xero's codes ("200 Sales"), the current code selected (added, marked, when Xero lacks it)."""
    combo = QComboBox(parent)
    for c in choices:
        combo.addItem(c.label, c.code)
    if current and combo.findData(current) < 0:
        combo.addItem(f"{current} (not in Xero)", current)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class MappingEditor(QWidget):
    """A mapping (name -> Xero code) as a table: names typed, codes chosen from Xero's (or typed before a sync)."""

    def __init__(self, value: SettingValue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_change: Callable[[], None] = lambda: None
        self._choices = value.choices
        self.table = QTableWidget(0, 2, self)
        self.table.setObjectName(f"{value.name}Table")
        key_title = "Tax rate (%)" if value.choices_from == "tax_types" else "accessplanit method"
        self.table.setHorizontalHeaderLabels([key_title, "Xero code"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)
        for key, code in value.mapping:
            self.add_row(key, code)
        self.add_button = QPushButton("&Add row", self)
        self.remove_button = QPushButton("&Remove row", self)
        self.add_button.clicked.connect(lambda: self.add_row("", ""))
        self.remove_button.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def add_row(self, key: str, code: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(key))
        if self._choices:
            combo = _combo(self._choices, code, self.table)
            combo.currentIndexChanged.connect(lambda _i: self.on_change())
            self.table.setCellWidget(row, 1, combo)
        else:
            self.table.setItem(row, 1, QTableWidgetItem(code))
        self.on_change()

    def _remove(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.on_change()

    def entries(self) -> list[tuple[str, str]]:
        out = []
        for row in range(self.table.rowCount()):
            key_item = self.table.item(row, 0)
            widget = self.table.cellWidget(row, 1)
            if isinstance(widget, QComboBox):
                code = str(widget.currentData() or "")
            else:
                item = self.table.item(row, 1)
                code = item.text() if item is not None else ""
            out.append(((key_item.text() if key_item is not None else "").strip(), code.strip()))
        return out

    def text(self) -> str:
        """As `format_value` writes a mapping; a half-filled row is kept so the check can say what is missing."""
        return ", ".join(f"{k}={v}" for k, v in self.entries() if k or v)


class SettingsDialog(QDialog):
    """`changes()` after `accept`: setting name -> value as text, only those that differ from the view."""

    sig_test_team = Signal(object, object)
    """The team database's settings as typed (dict name -> text) and the password typed (None: the kept one)."""

    def __init__(self, view: SettingsView, parent: QWidget | None = None, *, firm_read_only: str = "") -> None:
        """`firm_read_only`: why the person may not change the firm's settings ("" when they may); those fields are
        then shown greyed, with that reason (the services refuse the change anyway)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._firm_read_only = firm_read_only
        self.setModal(True)
        self._view = view
        self._readers: dict[str, Callable[[], str]] = {}
        self.errors: dict[str, QLabel] = {}
        self.editors: dict[str, QWidget] = {}
        self.team_password_edit: QLineEdit | None = None
        self.tabs = QTabWidget(self)
        for group in view.groups:
            members = [v for v in view.values if v.group == group]
            if members:
                self.tabs.addTab(self._page(members), group.replace("Connections", "Connections pacing"))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        note = QLabel(
            "A change to matching or mappings is recorded in the audit log and re-reconciles the items it can "
            "affect at once, without a sync.",
            self,
        )
        note.setWordWrap(True)
        if firm_read_only:
            note.setText(firm_read_only)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.resize(640, 560)
        self._check()

    # -- building -------------------------------------------------------------------------------------------
    def _page(self, members: list[SettingValue]) -> QWidget:
        inner = QWidget()
        form = QFormLayout(inner)
        for v in members:
            editor = self._editor(v, inner)
            editor.setObjectName(v.name)
            editor.setToolTip(v.help)
            if v.scope == "firm" and self._firm_read_only:
                editor.setEnabled(False)
                editor.setToolTip(f"{v.help}\n{self._firm_read_only}")
            self.editors[v.name] = editor
            error = QLabel("", inner)
            error.setObjectName(f"{v.name}Error")
            error.setStyleSheet("color: #b00020;")
            error.setWordWrap(True)
            error.setVisible(False)
            self.errors[v.name] = error
            box = QWidget(inner)
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            col.addWidget(editor)
            if v.choices_from and not v.choices:
                hint = QLabel(SYNC_FIRST.format(what=_WHAT.get(v.choices_from, "codes")), box)
                hint.setObjectName(f"{v.name}Hint")
                hint.setStyleSheet("color: palette(mid);")
                col.addWidget(hint)
            col.addWidget(error)
            label = QLabel(v.label + ":", inner)
            label.setToolTip(v.help)
            label.setBuddy(editor)
            form.addRow(label, box)
        if members[0].group == TEAM_GROUP:
            self._team_rows(form, inner)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        return scroll

    def _editor(self, v: SettingValue, parent: QWidget) -> QWidget:
        if v.kind == "bool":
            check = QCheckBox(parent)
            check.setChecked(v.value == "on")
            check.toggled.connect(lambda _on: self._check())
            self._readers[v.name] = lambda: "on" if check.isChecked() else "off"
            return check
        if v.kind == "mapping":
            mapping = MappingEditor(v, parent)
            mapping.on_change = self._check
            mapping.table.itemChanged.connect(lambda _item: self._check())
            self._readers[v.name] = mapping.text
            return mapping
        if v.choices:
            combo = _combo(v.choices, v.value, parent)
            combo.currentIndexChanged.connect(lambda _i: self._check())
            self._readers[v.name] = lambda: str(combo.currentData() or "")
            return combo
        edit = QLineEdit(v.value, parent)
        if v.minimum or v.maximum:
            edit.setPlaceholderText(f"{v.minimum or '…'} to {v.maximum or '…'}")
        edit.textChanged.connect(lambda _t: self._check())
        self._readers[v.name] = edit.text
        return edit

    def _team_rows(self, form: QFormLayout, inner: QWidget) -> None:
        """The password (to the keyring), "Test connection" and its outcome, under the team database's settings."""
        self.team_password_edit = QLineEdit(inner)
        self.team_password_edit.setObjectName("team_password")
        self.team_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.team_password_edit.setPlaceholderText("unchanged (kept in the system keyring)")
        label = QLabel("Password:", inner)
        label.setBuddy(self.team_password_edit)
        form.addRow(label, self.team_password_edit)
        self.team_test_button = QPushButton("&Test connection", inner)
        self.team_test_button.setObjectName("team_test")
        self.team_test_button.clicked.connect(self._test_team)
        self.team_result = QLabel("", inner)
        self.team_result.setObjectName("team_result")
        self.team_result.setWordWrap(True)
        form.addRow(self.team_test_button, self.team_result)
        note = QLabel(TEAM_NOTE, inner)
        note.setWordWrap(True)
        form.addRow(note)

    def team_values(self) -> dict[str, str]:
        """The team database's settings as typed."""
        return {v.name: self.value_text(v.name) for v in self._view.values if v.group == TEAM_GROUP}

    def team_password(self) -> str | None:
        """The password typed, or None (keep the one in the keyring)."""
        text = self.team_password_edit.text() if self.team_password_edit is not None else ""
        return text or None

    def team_changed(self) -> bool:
        """Whether OK changes which database Recondesk opens (or its password)."""
        return self.team_password() is not None or any(n in self.changes() for n in self.team_values())

    def _test_team(self) -> None:
        self.team_test_button.setEnabled(False)
        self.team_result.setText("Testing…")
        self.sig_test_team.emit(self.team_values(), self.team_password())

    def show_team_result(self, result: CheckResult) -> None:
        """The outcome of "Test connection" (from the background lane)."""
        self.team_test_button.setEnabled(True)
        self.team_result.setStyleSheet("" if result.ok else "color: #b00020;")
        self.team_result.setText(result.message)

    # -- reading and checking ---------------------------------------------------------------------------------
    def value_text(self, name: str) -> str:
        return self._readers[name]()

    def _check(self) -> None:
        if not hasattr(self, "ok_button"):
            return  # still building
        bad = False
        changed = self.changes()
        for v in self._view.values:
            # Only what was changed is checked: a value set outside the bounds by other means (a demo's fast pacing)
            # must not block OK for a change elsewhere.
            why = check_setting(v.name, changed[v.name]) if v.name in changed else ""
            self.errors[v.name].setText(why[:1].upper() + why[1:] + "." if why else "")
            self.errors[v.name].setVisible(bool(why))
            bad = bad or bool(why)
        self.ok_button.setEnabled(not bad)

    def changes(self) -> dict[str, str]:
        """Setting name -> new value as text, only the settings whose value was changed."""
        out: dict[str, str] = {}
        for v in self._view.values:
            text = self.value_text(v.name)
            same = v.mapping == tuple(_mapping_entries(text)) if v.kind == "mapping" else text == v.value
            if not same:
                out[v.name] = text
        return out

    def accept(self) -> None:
        if self.ok_button.isEnabled():  # Enter with an invalid field must not slip through
            super().accept()


def _mapping_entries(text: str) -> list[tuple[str, str]]:
    """The entries of a mapping's text ("A=1, B=2")."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _sep, value = part.partition("=")
        out.append((key.strip(), value.strip()))
    return out

"""Edit → Settings…: every setting, generated from its declaration (`SettingsView`), one tab per group.

Mappings and codes that name Xero accounts or tax types are chosen from those the last sync fetched (code and name);
before any sync they are typed as text, with a hint to sync first. Each field is checked as it is typed and says why
beside it when it is not valid; OK stays disabled until every field is valid. OK hands back only what changed
(`changes()`); Cancel leaves everything as it was.
Must not: call the services (the main window applies the changes on a background lane), or know any setting by name.
"""

from __future__ import annotations

from collections.abc import Callable

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

from app.services.api import SettingChoice, SettingsView, SettingValue, check_setting

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

    def __init__(self, view: SettingsView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setModal(True)
        self._view = view
        self._readers: dict[str, Callable[[], str]] = {}
        self.errors: dict[str, QLabel] = {}
        self.editors: dict[str, QWidget] = {}
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

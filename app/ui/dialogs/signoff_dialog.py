"""Sign a period off: shows the period's control totals per system and currency (never summed across currencies),
its open items and the sign-off in force, and asks for a note. With open items the sign-off needs "Sign off with
these exceptions" ticked. Cancel is the default button: signing off is deliberate.

Must not: call the services (the caller signs off with what `values()` gives back).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.api import SignoffPreview

TOTALS_COLUMNS = ("System", "Currency", "Invoices", "Total", "Paid", "Due")


class SignoffDialog(QDialog):
    def __init__(self, preview: SignoffPreview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self.setWindowTitle(f"Sign off {preview.period}")
        self.setModal(True)
        layout = QVBoxLayout(self)
        intro = f"Sign off <b>{preview.period}</b>: {preview.items} items. The control totals below are kept with it."
        if preview.current is not None:
            cur = preview.current
            intro += f"<br>Signed off already by {cur.by} on {cur.at:%Y-%m-%d %H:%M} UTC" + (
                f"; <b>reopened</b>: {len(cur.reopened_keys)} item(s) changed since." if cur.reopened_keys else "."
            )
        label = QLabel(intro, self)
        label.setWordWrap(True)
        layout.addWidget(label)

        self.totals = QTableWidget(len(preview.totals), len(TOTALS_COLUMNS), self)
        self.totals.setObjectName("signoffTotals")
        self.totals.setHorizontalHeaderLabels(list(TOTALS_COLUMNS))
        self.totals.verticalHeader().setVisible(False)
        self.totals.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, t in enumerate(preview.totals):
            cells = (t.system.label, t.currency, str(t.invoices), t.total, t.paid, t.due)
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if col >= 2:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.totals.setItem(row, col, cell)
        self.totals.resizeColumnsToContents()
        layout.addWidget(self.totals)

        n_open = len(preview.open_items)
        self.exceptions = QCheckBox(f"Sign off with these {n_open} open item(s) listed as exceptions", self)
        self.exceptions.setObjectName("withExceptions")
        if n_open:
            opened = QLabel(f"{n_open} item(s) are still open:", self)
            layout.addWidget(opened)
            self.open_list = QPlainTextEdit(self)
            self.open_list.setReadOnly(True)
            self.open_list.setPlainText("\n".join(f"{r.key}  {r.status.value}  {r.reason}" for r in preview.open_items))
            self.open_list.setMaximumHeight(120)
            layout.addWidget(self.open_list)
            layout.addWidget(self.exceptions)
        else:
            self.exceptions.hide()

        note_label = QLabel("Note (what was checked; kept in the audit log):", self)
        self.edit = QPlainTextEdit(self)
        self.edit.setObjectName("signoffNote")
        self.edit.setTabChangesFocus(True)
        note_label.setBuddy(self.edit)
        layout.addWidget(note_label)
        layout.addWidget(self.edit)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Sign off")
        self.ok_button.setAutoDefault(False)
        self.ok_button.setDefault(False)
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textChanged.connect(self._update)
        self.exceptions.toggled.connect(self._update)
        layout.addWidget(self.buttons)
        self._update()
        self.resize(620, 480)

    def _ready(self) -> bool:
        return bool(self.note()) and (not self.preview.open_items or self.exceptions.isChecked())

    def _update(self) -> None:
        self.ok_button.setEnabled(self._ready())

    def note(self) -> str:
        return self.edit.toPlainText().strip()

    def values(self) -> tuple[str, bool]:
        """(note, with_exceptions) as chosen."""
        return self.note(), bool(self.preview.open_items) and self.exceptions.isChecked()

    def accept(self) -> None:
        if self._ready():
            super().accept()

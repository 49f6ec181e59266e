"""Pick the item to match a one-sided item with by hand: the one-sided items of the other system, same kind and
currency (the services list them, nearest amount first), and the note the match needs. Kept simple: a list and a
note; the OK button stays disabled until both are given.

Must not: call the services (the caller fetches the candidates off the GUI thread and runs the match).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.api import ItemRow


def candidate_text(row: ItemRow) -> str:
    return f"{row.key}   {row.contact}   {row.date}   {row.currency} {row.amount}"


class MatchDialog(QDialog):
    """`MatchDialog.ask(parent, row, candidates)` returns (the chosen item's id, note), or None if cancelled."""

    def __init__(self, row: ItemRow, candidates: Sequence[ItemRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Match {row.key} with…")
        self.setModal(True)
        intro = QLabel(
            f"<b>{row.key}</b> ({row.currency} {row.amount}, {row.contact}) is in one system only. Pick the record "
            "of the other system that is the same; every later sync keeps them paired until you unmatch them.",
            self,
        )
        intro.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setObjectName("matchCandidates")
        for c in candidates:
            item = QListWidgetItem(candidate_text(c), self.list)
            item.setData(256, c.item_id)  # Qt.UserRole
        if not candidates:
            self.list.addItem("(no one-sided item of the other system in this currency)")
            self.list.setEnabled(False)
        self.note = QLineEdit(self)
        self.note.setObjectName("matchNote")
        self.note.setPlaceholderText("Why they are the same (kept in the audit log)")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Match")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.currentItemChanged.connect(self._update)
        self.note.textChanged.connect(self._update)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.resize(560, 380)
        self._update()

    def chosen(self) -> int | None:
        item = self.list.currentItem()
        value = item.data(256) if item is not None else None
        return int(value) if isinstance(value, int) else None

    def _update(self) -> None:
        self.ok_button.setEnabled(self.chosen() is not None and bool(self.note.text().strip()))

    def accept(self) -> None:
        if self.chosen() is not None and self.note.text().strip():
            super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, row: ItemRow, candidates: Sequence[ItemRow]) -> tuple[int, str] | None:
        dialog = cls(row, candidates, parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and (chosen := dialog.chosen()) is not None:
            return chosen, dialog.note.text().strip()
        return None

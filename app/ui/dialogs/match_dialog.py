"""Pick the item to match a one-sided item with by hand: the likely counterparts of the other system, best first
(the services rank them: `Recondesk.match_candidates`), each with its score colour-coded (green 85 and above, amber
60 and above, red below), why the rules did not pair it, and its per-field scores in the tooltip; and the note the
match needs. The first candidate is selected and the list has focus: Up/Down move (from the note too), Enter asks
for the note when it is missing and matches when it is given; the Match button stays disabled until both are given.

Must not: call the services (the caller fetches the candidates off the GUI thread and runs the match).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent
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

from app.services.api import ItemRow, MatchCandidate

# band -> (background, foreground): the score's colour, as the status colours are drawn (style.STATUS_LOOK).
BAND_COLOURS: dict[str, tuple[str, str]] = {
    "good": ("#e3f1e5", "#1d5e2a"),
    "fair": ("#fdf0d5", "#7a4b00"),
    "poor": ("#f8e1e1", "#8a1c1c"),
}
FIELD_NAMES = {"number": "Number", "amount": "Amount", "date": "Date", "contact": "Contact", "reference": "Reference"}


def candidate_text(c: MatchCandidate) -> str:
    row = c.row
    return f"{c.score:3d}   {row.key}   {row.contact}   {row.date}   {row.currency} {row.amount}\n      {c.why_not}"


def candidate_tip(c: MatchCandidate) -> str:
    per_field = "\n".join(f"{FIELD_NAMES.get(name, name)}: {value}" for name, value in c.scores)
    return f"Score {c.score} of 100 ({c.band})\n{per_field}\nNot paired by the rules: {c.why_not}"


class MatchDialog(QDialog):
    """`MatchDialog.ask(parent, row, candidates)` returns (the chosen item's id, note), or None if cancelled."""

    def __init__(self, row: ItemRow, candidates: Sequence[MatchCandidate], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Match {row.key} with…")
        self.setModal(True)
        intro = QLabel(
            f"<b>{row.key}</b> ({row.currency} {row.amount}, {row.contact}) is in one system only. Pick the record "
            "of the other system that is the same (best first; hover for the scores per field); every later sync "
            "keeps them paired until you unmatch them.",
            self,
        )
        intro.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setObjectName("matchCandidates")
        for c in candidates:
            item = QListWidgetItem(candidate_text(c), self.list)
            item.setData(Qt.ItemDataRole.UserRole, c.item_id)
            item.setToolTip(candidate_tip(c))
            background, foreground = BAND_COLOURS[c.band]
            item.setBackground(QBrush(QColor(background)))
            item.setForeground(QBrush(QColor(foreground)))
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
        self.list.installEventFilter(self)
        self.note.installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.resize(640, 420)
        if candidates:
            self.list.setCurrentRow(0)
        self.list.setFocus()
        self._update()

    def chosen(self) -> int | None:
        item = self.list.currentItem()
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return int(value) if isinstance(value, int) else None

    def _update(self) -> None:
        self.ok_button.setEnabled(self.chosen() is not None and bool(self.note.text().strip()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if watched is self.list and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if not self.note.text().strip():
                    self.note.setFocus()  # Enter on a candidate without a note: ask for the note
                else:
                    self.accept()
                return True
            if watched is self.note and key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self.list.count():
                step = -1 if key == Qt.Key.Key_Up else 1
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, self.list.currentRow() + step)))
                return True
        return super().eventFilter(watched, event)

    def accept(self) -> None:
        if self.chosen() is not None and self.note.text().strip():
            super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, row: ItemRow, candidates: Sequence[MatchCandidate]) -> tuple[int, str] | None:
        dialog = cls(row, candidates, parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and (chosen := dialog.chosen()) is not None:
            return chosen, dialog.note.text().strip()
        return None

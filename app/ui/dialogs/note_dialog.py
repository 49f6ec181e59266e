"""Asks for the note that ignoring an item (or undoing a decision: reopen, unmatch) requires. The OK button stays
disabled until a note is typed, because a decision with no reason is useless to the auditor who reads the log next
year. The note is several lines, so Enter types a new line; Ctrl+Enter confirms (once a note is typed) and Escape
cancels.

Must not: call the services (the caller resolves the item with the note it gets back).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class NoteDialog(QDialog):
    """`NoteDialog.ask(parent, key)` returns the trimmed note, or None if the user cancelled."""

    def __init__(
        self,
        item_key: str,
        parent: QWidget | None = None,
        *,
        title: str = "",
        question: str = "",
        ok_text: str = "&Ignore with this note",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title or f"Ignore {item_key}")
        self.setModal(True)
        question = question or f"Why is the difference on <b>{item_key}</b> being ignored?"
        label = QLabel(f"{question} The note is kept in the audit log (Ctrl+Enter to confirm).", self)
        label.setWordWrap(True)
        self.edit = QPlainTextEdit(self)
        self.edit.setObjectName("noteEdit")
        self.edit.setPlaceholderText("e.g. Agreed with the client: PO number corrected on the remittance")
        self.edit.setTabChangesFocus(True)
        label.setBuddy(self.edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setEnabled(False)
        self.ok_button.setToolTip("Ctrl+Enter")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textChanged.connect(lambda: self.ok_button.setEnabled(bool(self.note())))
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.edit)
        layout.addWidget(self.buttons)
        self.resize(440, 220)
        self.edit.setFocus()  # typing starts the note at once
        for child in (self, *self.findChildren(QWidget)):  # Ctrl+Enter wherever the focus is (a button takes Enter)
            child.installEventFilter(self)

    def note(self) -> str:
        return self.edit.toPlainText().strip()

    def accept(self) -> None:
        if self.note():  # Enter on a blank note must not slip through
            super().accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if (
            isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.accept()
            return True
        return super().eventFilter(watched, event)

    @classmethod
    def ask(cls, parent: QWidget | None, item_key: str, verb: str = "") -> str | None:
        """`verb` "" asks why a difference is ignored; "Reopen" or "Unmatch" asks why that decision is undone."""
        if verb:
            dialog = cls(
                item_key,
                parent,
                title=f"{verb} {item_key}",
                question=f"Why {verb.lower()} <b>{item_key}</b>?",
                ok_text=f"&{verb} with this note",
            )
        else:
            dialog = cls(item_key, parent)
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.note() if ok and dialog.note() else None

"""Shows what a push will write before it is sent: field by field before -> after, the problems the checks found,
and the exact request (collapsed). Cancel is the default button and Escape cancels; writing an empty value over a
non-empty one needs "Clear the value" ticked; a new ledger contact needs its own tick; a possible duplicate needs a
note; a blocked push shows why and has no push button. By keyboard: Enter presses the focused button (Cancel at
first), Escape cancels, and only an explicit Ctrl+Enter (or Alt+P) sends, and only when the push is allowed; so the
Enter that opened the preview from the item list, pressed twice, never sends anything.

Must not: call the services (the caller previews, and sends the action it gets back).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.api import PlannedWrite, PushField, PushRecord


class PreviewDialog(QDialog):
    """`PreviewDialog.ask(parent, plan, action)` returns the action to send (with the person's choices), or None."""

    def __init__(self, plan: PlannedWrite, action: PushRecord | PushField, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan, self.action = plan, action
        target = plan.target.label
        self.setWindowTitle(f"Preview: write to {target}")
        self.setModal(True)
        layout = QVBoxLayout(self)
        self.intro = intro = QLabel(
            f"Blocked: this cannot be written to <b>{target}</b>."
            if plan.blocked
            else f"This is what will change in <b>{target}</b>. Nothing is sent until you press Push (Ctrl+Enter).",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.changes = QTableWidget(len(plan.changes), 3, self)
        self.changes.setObjectName("previewChanges")
        self.changes.setHorizontalHeaderLabels(["Field", f"Before ({target})", "After"])
        self.changes.verticalHeader().setVisible(False)
        self.changes.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, change in enumerate(plan.changes):
            for col, text in enumerate((change.label, change.before or "(empty)", change.after or "(empty)")):
                self.changes.setItem(row, col, QTableWidgetItem(text))
        self.changes.horizontalHeader().setStretchLastSection(True)
        self.changes.resizeColumnsToContents()
        layout.addWidget(self.changes)

        self.problems = QLabel("<br>".join(f"• {_esc(p)}" for p in plan.problems), self)
        self.problems.setObjectName("previewProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #8a1c1c")
        self.problems.setVisible(bool(plan.problems))
        layout.addWidget(self.problems)

        self.clear_box = QCheckBox("&Clear the value (write it empty)", self)
        self.new_contact_box = QCheckBox(f"Create a &new contact in {target}", self)
        self.note_edit = QLineEdit(self)
        self.note_edit.setPlaceholderText("Why this push is right although it is flagged (kept in the audit log)")
        for widget, needs in ((self.clear_box, "clear"), (self.new_contact_box, "new_contact")):
            widget.setVisible(plan.needs == needs and not plan.blocked)
            layout.addWidget(widget)
            widget.toggled.connect(self._update)
        self.note_edit.setVisible(plan.needs == "override" and not plan.blocked)
        self.note_edit.textChanged.connect(self._update)
        layout.addWidget(self.note_edit)

        self.request_toggle = QToolButton(self)
        self.request_toggle.setText("Show the &request")
        self.request_toggle.setCheckable(True)
        self.request_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.request_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.request = QPlainTextEdit(f"{plan.method} {plan.path}\n\n{plan.body}", self)
        self.request.setObjectName("previewRequest")
        self.request.setReadOnly(True)
        self.request.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.request.setVisible(False)
        self.request_toggle.toggled.connect(self._show_request)
        layout.addWidget(self.request_toggle)
        layout.addWidget(self.request, 1)

        self.buttons = QDialogButtonBox(self)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.push_button: QPushButton | None = None
        if not plan.blocked:
            self.push_button = self.buttons.addButton(f"&Push to {target}", QDialogButtonBox.ButtonRole.AcceptRole)
            self.push_button.setObjectName("previewPush")
            self.push_button.setAutoDefault(False)
            self.push_button.setDefault(False)
            self.push_button.setToolTip("Send this write (Ctrl+Enter or Alt+P)")
        self.cancel_button.setDefault(True)  # a destructive confirmation defaults to Cancel
        self.cancel_button.setAutoDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update()
        self.cancel_button.setFocus()
        self.resize(620, 420)
        for child in (self, *self.findChildren(QWidget)):  # Ctrl+Enter wherever the focus is (a button takes Enter)
            child.installEventFilter(self)

    def _show_request(self, shown: bool) -> None:
        self.request.setVisible(shown)
        self.request_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def allowed(self) -> bool:
        """Whether the person's choices allow the write (never when it is blocked)."""
        if self.plan.blocked:
            return False
        needs = self.plan.needs
        if needs == "clear":
            return self.clear_box.isChecked()
        if needs == "new_contact":
            return self.new_contact_box.isChecked()
        if needs == "override":
            return bool(self.note_edit.text().strip())
        return not self.plan.problems

    def _update(self) -> None:
        if self.push_button is not None:
            self.push_button.setEnabled(self.allowed())

    def chosen(self) -> PushRecord | PushField:
        """The action with the person's choices (clear, new contact, override note)."""
        action = self.action
        note = self.note_edit.text().strip() if self.plan.needs == "override" else action.override_note
        if isinstance(action, PushField):
            return replace(action, clear=action.clear or self.clear_box.isChecked(), override_note=note)
        return replace(action, new_contact=action.new_contact or self.new_contact_box.isChecked(), override_note=note)

    def confirm(self) -> None:
        """Ctrl+Enter: send, when the person's choices allow it (else nothing happens)."""
        if self.push_button is not None and self.allowed():
            self.push_button.click()

    def accept(self) -> None:
        if self.allowed():  # Enter, or a stray accept, must not send a write that is not allowed
            super().accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if (
            isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.confirm()
            return True
        return super().eventFilter(watched, event)

    @classmethod
    def ask(
        cls, parent: QWidget | None, plan: PlannedWrite, action: PushRecord | PushField
    ) -> PushRecord | PushField | None:
        dialog = cls(plan, action, parent)
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.chosen() if ok and dialog.allowed() else None


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

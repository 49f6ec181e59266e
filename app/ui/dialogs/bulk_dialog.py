"""The bulk dialog: a preview summary of many actions (how many will be done, which are skipped and why, how many
calls and about how long), then progress with Cancel while they run in the background, then a result per record.
Cancel is the default button until the person confirms.

Must not: call the services (the item list runs the work and feeds this dialog what it gets back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.progress import ProgressEvent
from app.services.api import ActionResult, BulkPreview


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60, 1)} min"


class BulkDialog(QDialog):
    """Preview -> (confirm) -> progress -> results. `sig_confirmed` asks the owner to start the work;
    `sig_cancel_requested` asks it to stop (work done so far is kept)."""

    sig_confirmed = Signal()
    sig_cancel_requested = Signal()

    def __init__(
        self, title: str, verb: str, preview: BulkPreview, labels: Mapping[int, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("bulkDialog")
        self._labels = dict(labels)
        self.running = False
        skipped = len(preview.skipped)
        self.summary = QLabel(
            f"<b>{preview.writes}</b> to do, <b>{skipped}</b> skipped. "
            f"{preview.calls} call{'s' if preview.calls != 1 else ''} to the services, "
            f"{_duration(preview.seconds)} at the configured pace.",
            self,
        )
        self.summary.setObjectName("bulkSummary")
        self.summary.setWordWrap(True)
        self.skipped_list = QListWidget(self)
        self.skipped_list.setObjectName("bulkSkipped")
        for item_id, why in preview.skipped:
            self.skipped_list.addItem(f"{self._label(item_id)}: {why}")
        self.skipped_list.setVisible(bool(skipped))
        self.progress = QProgressBar(self)
        self.progress.setObjectName("bulkProgress")
        self.progress.setVisible(False)
        self.results = QTableWidget(0, 3, self)
        self.results.setObjectName("bulkResults")
        self.results.setHorizontalHeaderLabels(["Item", "Result", "Message"])
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.results.verticalHeader().setVisible(False)
        self.results.setVisible(False)
        self.buttons = QDialogButtonBox(self)
        self.confirm_button = QPushButton(f"{verb} {preview.writes}", self)
        self.confirm_button.setObjectName("bulkConfirm")
        self.confirm_button.setEnabled(preview.writes > 0)
        self.confirm_button.setAutoDefault(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("bulkCancel")
        self.cancel_button.setDefault(True)  # nothing is written by pressing Enter
        self.buttons.addButton(self.confirm_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.confirm_button.clicked.connect(self._confirm)
        self.cancel_button.clicked.connect(self._cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.skipped_list)
        layout.addWidget(self.progress)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.buttons)
        self.resize(640, 420)

    def _label(self, item_id: int) -> str:
        return self._labels.get(item_id, f"item {item_id}")

    def _confirm(self) -> None:
        self.running = True
        self.confirm_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.sig_confirmed.emit()

    def _cancel(self) -> None:
        if self.running:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.sig_cancel_requested.emit()
        else:
            self.reject()

    def reject(self) -> None:
        if self.running:  # Esc while running asks to cancel; the dialog stays to show what was done
            self._cancel()
            return
        super().reject()

    def set_progress(self, event: ProgressEvent) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)

    def show_results(self, item_ids: Sequence[int], results: Sequence[ActionResult]) -> None:
        self.running = False
        self.progress.setVisible(False)
        self.skipped_list.setVisible(False)
        ok = sum(1 for r in results if r.ok)
        self.summary.setText(f"<b>{ok}</b> done, <b>{len(results) - ok}</b> not done.")
        self.results.setRowCount(len(results))
        for row, (item_id, result) in enumerate(zip(item_ids, results, strict=True)):
            label = result.item.key if result.item is not None else self._label(item_id)
            for col, text in enumerate((label, "Done" if result.ok else "Not done", result.message)):
                self.results.setItem(row, col, QTableWidgetItem(text))
        self.results.setVisible(True)
        self.confirm_button.setVisible(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def show_error(self, message: str) -> None:
        self.running = False
        self.progress.setVisible(False)
        self.summary.setText(message)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")

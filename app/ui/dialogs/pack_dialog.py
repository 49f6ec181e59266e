"""File → Month-end pack…: choose a period and a folder, then the pack (Excel workbook, PDF, CSV) is written in the
background on the DB lane with a progress bar and a Cancel button.

The services write each file under a temporary name and rename all three only when done, so Cancel (or a failure)
leaves nothing half-written in the folder; this dialog only reports what happened.
Must not: write files itself, call the services on the GUI thread, or block the window while the pack is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import CancelledError
from app.domain.progress import ProgressEvent
from app.ui.tasks import TaskContext, TaskHandle, TaskRunner

WritePack = Callable[..., Sequence[Path]]


class PackDialog(QDialog):
    """Asks for the period and the folder; Write starts the task, Cancel stops it (or closes when idle)."""

    sig_written = Signal(object)
    """The pack was written: (list of paths)."""
    sig_ended = Signal(str)
    """The pack was not written: (message for people; says so when cancelled)."""

    def __init__(
        self,
        write_pack: WritePack,
        runner: TaskRunner,
        periods: Sequence[str],
        period: str | None,
        parent: QWidget | None = None,
        folder: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Month-end pack")
        self._write_pack = write_pack
        self._runner = runner
        self._handle: TaskHandle | None = None
        self.period_combo = QComboBox(self)
        self.period_combo.addItems(list(periods))
        if period and period in periods:
            self.period_combo.setCurrentText(period)
        self.folder_edit = QLineEdit(str(folder or Path.home()), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.all_items_check = QCheckBox("List the matched items in the PDF too", self)
        form = QFormLayout()
        form.addRow("Period", self.period_combo)
        form.addRow("Folder", row)
        form.addRow("", self.all_items_check)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 3)
        self.progress.setValue(0)
        self.progress.setFormat("%v of %m files")
        self.status = QLabel("The workbook, the PDF and the CSV are written into the folder.", self)
        self.status.setWordWrap(True)
        self.write_button = QPushButton("Write pack", self)
        self.write_button.setDefault(True)
        self.write_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.write_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.write_button.setEnabled(bool(periods))
        if not periods:
            self.status.setText("There is nothing to pack yet: sync first.")

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder for the month-end pack", self.folder_edit.text())
        if chosen:
            self.folder_edit.setText(chosen)

    def running(self) -> bool:
        return self._handle is not None and not self._handle.finished

    def start(self) -> TaskHandle | None:
        """Write the pack of the chosen period into the chosen folder, on the DB lane."""
        if self.running():
            return self._handle
        period = self.period_combo.currentText()
        folder = Path(self.folder_edit.text().strip()).expanduser()
        if not folder.is_dir():
            self.status.setText(f"The folder {folder} does not exist: choose one with Browse….")
            return None
        all_items = self.all_items_check.isChecked()
        write = self._write_pack

        def work(ctx: TaskContext) -> Sequence[Path]:
            return write(period, folder, all_items=all_items, progress=ctx.progress, cancel=ctx.cancel)

        self.write_button.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText(f"Writing the pack of {period}…")
        self._handle = self._runner.db(
            "month-end pack", work, on_result=self._done, on_error=self._failed, on_progress=self._on_progress
        )
        return self._handle

    def cancel(self) -> None:
        """Stop a running pack (nothing is left in the folder), or close the dialog when idle."""
        if self.running():
            assert self._handle is not None
            self._handle.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _on_progress(self, event: ProgressEvent) -> None:
        self.progress.setValue(event.done)
        self.status.setText(f"Writing {event.stage.rsplit(': ', 1)[-1]}…" if event.done < 3 else "Done.")

    def _done(self, paths: Any) -> None:
        written = list(paths)
        self.progress.setValue(3)
        self.write_button.setEnabled(True)
        self.status.setText("Written: " + ", ".join(p.name for p in written) + f" in {written[0].parent}.")
        self.sig_written.emit(written)

    def _failed(self, message: str, exc: BaseException) -> None:
        self.write_button.setEnabled(True)
        self.progress.setValue(0)
        text = "Cancelled: nothing was written." if isinstance(exc, CancelledError) else f"Not written: {message}"
        self.status.setText(text)
        self.sig_ended.emit(text)

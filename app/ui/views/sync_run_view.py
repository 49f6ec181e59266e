"""The sync-run log (loaded from the cache at start-up, then each new run): per stream what was fetched (records,
pages, calls, retries, invalid, errors), the call budget left, and the counts per status afterwards; below, the
history of the connections' health checks (newest first).

Must not: start syncs itself (the main window does) or read anything on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QSplitter, QTableView, QVBoxLayout, QWidget

from app.services.api import HealthCheck, StreamStats, SyncResult
from app.ui import style
from app.ui.models.record_table_model import RIGHT, Column, RecordTableModel

STREAM_COLUMNS: tuple[Column[StreamStats], ...] = (
    Column("System", lambda s: s.system.label),
    Column("Stream", lambda s: s.stream),
    Column("Records", lambda s: str(s.fetched), RIGHT),
    Column("Pages", lambda s: str(s.pages), RIGHT),
    Column("Calls", lambda s: str(s.calls), RIGHT),
    Column("Retries", lambda s: str(s.retries), RIGHT),
    Column("Invalid", lambda s: str(s.invalid), RIGHT, foreground=lambda s: "#8a1c1c" if s.invalid else None),
    Column("Error", lambda s: s.error, foreground=lambda s: "#8a1c1c" if s.error else None),
)

HEALTH_COLOURS = {"ok": "#2e7d32", "slow": "#c77c02", "failed": "#c62828"}
HEALTH_COLUMNS: tuple[Column[HealthCheck], ...] = (
    Column("Checked", lambda c: style.local_time(c.at, "%Y-%m-%d %H:%M:%S")),
    Column("Connection", lambda c: c.system.label),
    Column(
        "Light",
        lambda c: {"ok": "Working", "slow": "Slow", "failed": "Failing"}.get(c.level, c.level),
        foreground=lambda c: HEALTH_COLOURS.get(c.level),
    ),
    Column("Seconds", lambda c: str(c.seconds), RIGHT),
    Column("Message", lambda c: c.message, tooltip=lambda c: c.message),
)
HEALTH_ROWS = 200
"""The checks shown (newest first); older ones stay in the cache."""


def run_title(result: SyncResult) -> str:
    state = "cancelled" if result.cancelled else ("ok" if result.ok else "with errors")
    return f"Run {result.run_id} — {style.local_time(result.finished_at, '%Y-%m-%d %H:%M:%S')} — {state}"


class SyncRunView(QWidget):
    """The list of runs, newest first; the selected run's streams, errors and counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runs: list[SyncResult] = []
        self.run_list = QListWidget(self)
        self.run_list.setObjectName("runList")
        self.model: RecordTableModel[StreamStats] = RecordTableModel(STREAM_COLUMNS, self)
        self.table = QTableView(self)
        self.table.setObjectName("streamTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setColumnWidth(1, 160)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.summary = QLabel("No sync has run yet. Press Sync now (Ctrl+R).", self)
        self.summary.setObjectName("runSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.table, 1)
        right_layout.addWidget(self.summary)
        self.health_model: RecordTableModel[HealthCheck] = RecordTableModel(HEALTH_COLUMNS, self)
        self.health_table = QTableView(self)
        self.health_table.setObjectName("healthHistory")
        self.health_table.setModel(self.health_model)
        self.health_table.verticalHeader().setVisible(False)
        self.health_table.horizontalHeader().setStretchLastSection(True)
        self._checks: list[HealthCheck] = []
        right_layout.addWidget(QLabel("Connection checks", self))
        right_layout.addWidget(self.health_table, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.run_list)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([260, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.run_list.currentRowChanged.connect(self._show)

    def set_runs(self, results: list[SyncResult]) -> None:
        """Show the run log kept in the cache (newest first), e.g. at start-up."""
        self._runs = list(results)
        self.run_list.clear()
        self.run_list.addItems([run_title(r) for r in self._runs])
        if self._runs:
            self.run_list.setCurrentRow(0)
            self._show(0)

    def add_run(self, result: SyncResult) -> None:
        """Record a finished run and show it."""
        self._runs.insert(0, result)
        self.run_list.insertItem(0, run_title(result))
        self.run_list.setCurrentRow(0)
        self._show(0)

    def runs(self) -> list[SyncResult]:
        return list(self._runs)

    def _show(self, row: int) -> None:
        if not (0 <= row < len(self._runs)):
            self.model.set_rows(())
            return
        r = self._runs[row]
        self.model.set_rows(r.streams)
        seconds = (r.finished_at - r.started_at).total_seconds()
        counts = ", ".join(f"{style.STATUS_LOOK[s].label} {r.counts.get(s.value, 0)}" for s in style.STATUS_LOOK)
        parts = [f"Took {seconds:.1f} s. Items after reconciling: {counts}."]
        if r.budget:
            parts.append("Calls left: " + ", ".join(f"{k} {v}" for k, v in sorted(r.budget.items())) + ".")
        if r.errors:
            parts.append("Errors:<br>" + "<br>".join(e.replace("<", "&lt;") for e in r.errors))
        self.summary.setText("<br>".join(parts))

    def add_checks(self, checks: list[HealthCheck]) -> None:
        """Health checks to show above the earlier ones (`checks` newest first, as the history gives them)."""
        self._checks = (list(checks) + self._checks)[:HEALTH_ROWS]
        self.health_model.set_rows(self._checks)

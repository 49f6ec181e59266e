"""The audit log: every decision and push, newest first, as the services recorded it (append-only), and the state
of its hash chain (intact, or broken at entry N), checked on every reload.

Must not: edit or filter entries client-side beyond what the services return, or read on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from app.services.api import AuditEntry, AuditState, Recondesk
from app.ui import style
from app.ui.models.record_table_model import Column, RecordTableModel
from app.ui.tasks import TaskContext, TaskRunner

AUDIT_LIMIT = 500

COLUMNS: tuple[Column[AuditEntry], ...] = (
    Column("When", lambda a: style.local_time(a.at, "%Y-%m-%d %H:%M:%S")),
    Column("Who", lambda a: a.who),
    Column("Item", lambda a: a.item_key),
    Column("Action", lambda a: a.action),
    Column("Note", lambda a: a.note),
    Column("Before", lambda a: a.before, tooltip=lambda a: a.before),
    Column("After", lambda a: a.after, tooltip=lambda a: a.after),
)


class AuditLogView(QWidget):
    """The last `AUDIT_LIMIT` audit entries; `reload()` reads them on the DB lane."""

    sig_audit_loaded = Signal(int)
    """The table shows a fresh read: (number of entries)."""
    sig_chain_checked = Signal(object)
    """The chain was verified: (AuditState)."""

    def __init__(self, workspace: Recondesk, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self.model: RecordTableModel[AuditEntry] = RecordTableModel(COLUMNS, self)
        self.table = QTableView(self)
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        for i, width in enumerate((140, 90, 150, 160, 260, 200)):
            self.table.setColumnWidth(i, width)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("", self)
        self.chain = QLabel("", self)
        self.chain.setObjectName("auditChain")
        self.chain.setToolTip(
            "Each entry carries a hash of the one before it: an entry edited, deleted or inserted outside Recondesk "
            "shows here (tamper-evident; someone who can rewrite the whole file could hide it)."
        )
        self.chain_state: AuditState | None = None
        self.reload_button = QPushButton("Re&load", self)
        self.reload_button.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(QLabel(f"Decisions and pushes, newest first (last {AUDIT_LIMIT}).", self))
        top.addStretch(1)
        top.addWidget(self.chain)
        top.addWidget(self.status)
        top.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.setFocusProxy(self.table)

    def reload(self) -> None:
        def fetch(_ctx: TaskContext) -> tuple[list[AuditEntry], AuditState]:
            return list(self._ws.audit(AUDIT_LIMIT)), self._ws.verify_audit()

        self._runner.db(
            "load audit log", fetch, on_result=self._loaded, on_error=lambda msg, _exc: self.status.setText(msg)
        )

    def _loaded(self, loaded: tuple[list[AuditEntry], AuditState]) -> None:
        entries, state = loaded
        self.chain_state = state
        if state.ok:
            self.chain.setText("<span style='color:#1d5e2a'>Chain intact</span>")
        else:
            self.chain.setText(f"<span style='color:#8a1c1c'><b>Chain broken</b> at {state.message}</span>")
        self.sig_chain_checked.emit(state)
        self.model.set_rows(entries)
        self.status.setText(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        self.sig_audit_loaded.emit(len(entries))

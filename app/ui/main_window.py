"""The main window: menus and toolbar, the item list beside the diff panel, the audit log, sync-run and dashboard
tabs, and a status bar with sync progress (records, pages, time left, Cancel), the last sync time and counts per status.

It wires views together and starts the long operations (sync, retry, export) on the task runner; after any
data-changing task the runner's `sig_operation_finished` makes every view refresh itself. Errors are shown in a
notice line above the tabs rather than in modal boxes, so a failing background task never blocks the window.
Window geometry and layout go to QSettings; nothing secret ever does.
Keyboard triage: the Item menu holds J/K (move), Enter (the suggested action, previewed) and one key per kind of item
action (`TRIAGE_KEYS`), enabled per the shown item; their shortcuts work only while the focus is in the Items tab
(the list or the item panel), so typing in the search box never triggers them. Help → Keyboard shortcuts lists them.
Must not: call the services on the GUI thread, or reach storage, connectors or keyring directly.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import operator
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.domain.errors import CancelledError
from app.domain.progress import ProgressEvent
from app.domain.status import ItemStatus
from app.services.api import (
    EVERYTHING,
    SYNC_WAITING,
    ActionResult,
    AuditState,
    ChangeMark,
    ChangeSet,
    CheckResult,
    HealthCheck,
    ItemRow,
    ListCounts,
    Others,
    Person,
    Recondesk,
    SettingsView,
    SignoffPreview,
    SignoffResult,
    Summary,
    SyncResult,
)
from app.settings import Settings
from app.ui import style
from app.ui.dialogs.connections_dialog import ConnectionsDialog, XeroSignIn
from app.ui.dialogs.pack_dialog import PackDialog
from app.ui.dialogs.settings_dialog import SettingsDialog
from app.ui.dialogs.signoff_dialog import SignoffDialog
from app.ui.health import HealthLights, HealthWatch, Notifier, local_naive
from app.ui.tasks import TaskContext, TaskHandle, TaskRunner
from app.ui.views.audit_log_view import AuditLogView
from app.ui.views.dashboard_view import DashboardView
from app.ui.views.item_detail_view import TRIAGE_KEYS, ItemDetailView
from app.ui.views.item_list_view import ItemListView
from app.ui.views.sync_run_view import SyncRunView

REPORT_FORMATS = {
    "json": "JSON (*.json)",
    "csv": "CSV (*.csv)",
    "xlsx": "Excel workbook (*.xlsx)",
    "pdf": "PDF (*.pdf)",
}
SETTINGS_GROUP = "mainWindow"
OTHERS_POLL_MS = 3000
"""How often a window asks what others changed in the database (team mode; a few seconds, as the issue asks)."""
log = logging.getLogger(__name__)
QUEUE_SYNC_SECONDS = 24 * 3600.0
"""How long a sync asked for here waits for another process's sync of the cache to end (cancellable)."""


def _eta_text(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


def progress_text(event: ProgressEvent) -> str:
    """ "accessplanit: invoices — 1,200 of 3,000 records, 2 pages, about 40 s left"."""
    unit = event.unit
    done = f"{event.done:,} of {event.total:,} {unit}" if event.total is not None else f"{event.done:,} {unit}"
    parts = [done]
    if event.pages or unit == "records":  # pages are the fetch's; lining up reads none
        parts.append(f"{event.pages} page{'s' if event.pages != 1 else ''}")
    eta = _eta_text(event.eta_seconds)
    if eta:
        parts.append(eta)
    text = f"{event.stage} — " + ", ".join(parts)
    return f"{text} ({event.message})" if event.message else text


class MainWindow(QMainWindow):
    """The application window over one `Recondesk` workspace."""

    sig_sync_finished = Signal(object)
    """A sync ended (also when cancelled): (SyncResult, or None if it raised)."""
    sig_notice_shown = Signal(str)
    """A message was put in the notice line: (text)."""
    sig_report_exported = Signal(str)
    """A report file was written: (path)."""
    sig_retry_finished = Signal(object)
    """Retry of failed pushes ended: (list of ActionResult)."""
    sig_name_saved = Signal(str)
    """The person's name for the audit log was saved: (name)."""
    sig_settings_opened = Signal(object)
    """The settings dialog (`SettingsDialog`), once its values are loaded and it is shown."""
    sig_settings_applied = Signal(object)
    """The `ActionResult` of a settings change, after its items were re-reconciled."""
    sig_person_loaded = Signal(object)
    """Who this window acts as (`Person`), once read: its role greys what it may not do."""

    sig_health_shown = Signal(object)
    sig_others_seen = Signal(object)
    """A look at what others did came back (`Others`), after the views were refreshed with it."""
    """The status-bar lights show new health checks: (list of HealthCheck)."""

    def __init__(
        self,
        workspace: Recondesk,
        *,
        title_suffix: str = "",
        settings: QSettings | None = None,
        runner: TaskRunner | None = None,
        xero_sign_in: XeroSignIn | None = None,
        others_poll_ms: int = OTHERS_POLL_MS,
    ) -> None:
        super().__init__()
        self._ws = workspace
        self._xero_sign_in = xero_sign_in
        self.runner = runner or TaskRunner(self)
        self._settings = settings or QSettings()
        self._sync_handle: TaskHandle | None = None
        self._waiting_notice = ""  # the notice saying our sync waits for another process's
        self._last_summary: Summary | None = None
        self.person: Person | None = None
        self.reopen_requested = False
        self.reopen_provider: Callable[[QWidget], bool] = _ask_reopen
        """Asked after a new team database was chosen: reopen on it now? (tests answer it)"""
        self.setObjectName("mainWindow")
        self.setWindowTitle("Recondesk" + (f" — {title_suffix}" if title_suffix else ""))
        self.setWindowIcon(style.icon("recondesk"))

        self.list_view = ItemListView(workspace, self.runner, self)
        self.detail_view = ItemDetailView(workspace, self.runner, self)
        self.audit_view = AuditLogView(workspace, self.runner, self)
        self.sync_view = SyncRunView(self)
        self.dashboard_view = DashboardView(workspace, self.runner, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("itemSplitter")
        self.splitter.addWidget(self.list_view)
        self.splitter.addWidget(self.detail_view)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([900, 480])
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.splitter, "Items")
        self.tabs.addTab(self.audit_view, "Audit log")
        self.tabs.addTab(self.sync_view, "Sync runs")
        self.tabs.addTab(self.dashboard_view, "Dashboard")
        self.notice = QLabel("", self)
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build_name_bar()
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 4, 6, 0)
        layout.addWidget(self.name_bar)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._wire()
        self._build_watch()
        self._mark: ChangeMark | None = None
        self._looking = False
        self.others_timer = QTimer(self)
        self.others_timer.setInterval(others_poll_ms)
        self.others_timer.timeout.connect(self.look_at_others)
        self._set_tab_order()
        self.resize(1400, 860)
        self._restore_state()

    # -- construction -----------------------------------------------------------------------------------------
    def _action(
        self,
        text: str,
        slot: object,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
        icon: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(
                f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                if shortcut is not None
                else tip
            )
        if icon:
            action.setIcon(style.icon(icon))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.addAction(action)  # shortcuts work whichever widget has focus
        return action

    def _build_actions(self) -> None:
        self.export_action = self._action(
            "&Export report…",
            self._export_clicked,
            "Ctrl+E",
            "Save the reconciliation report as JSON, CSV, Excel or PDF",
            "export",
        )
        self.signoff_action = self._action(
            "Sign &off period…",
            self.sign_off_period,
            None,
            "Sign the chosen month off, with its control totals per currency",
        )
        self.pack_action = self._action(
            "Month-end &pack…",
            self.open_pack_dialog,
            "Ctrl+Shift+E",
            "Write the month-end pack (Excel workbook, PDF for filing, CSV) of a period into a folder",
            "export",
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Close Recondesk")
        self.connections_action = self._action(
            "&Connections…",
            self.open_connections,
            "Ctrl+K",
            "Set up and test the accessplanit and Xero connections",
            "connections",
        )
        self.find_action = self._action(
            "&Find…", self._focus_search, QKeySequence.StandardKey.Find, "Search invoices, contacts and references"
        )
        self.sync_action = self._action(
            "&Sync now", lambda: self.sync(), "Ctrl+R", "Fetch what changed in both systems and reconcile", "sync"
        )
        self.full_sync_action = self._action(
            "&Full re-sync",
            lambda: self.sync(full=True),
            "Ctrl+Shift+R",
            "Read everything again from both systems, then reconcile",
        )
        self.cancel_action = self._action(
            "&Cancel", self.cancel_sync, "Esc", "Stop the sync; everything fetched so far is kept", "cancel"
        )
        self.cancel_action.setEnabled(False)
        self.retry_action = self._action(
            "&Retry failed pushes",
            self.retry_failed,
            "Ctrl+Shift+P",
            "Send failed and uncertain pushes again (nothing is posted twice)",
            "retry",
        )
        self.settings_action = self._action(
            "S&ettings…",
            self.open_settings,
            "Ctrl+,",
            "Tolerances, payment method and tax mappings, pacing and your name",
        )
        self.about_action = self._action("&About Recondesk", self._about, None, "Version and credits")
        self.view_actions = []
        for i, name in enumerate(("&Items", "&Audit log", "Sync &runs", "&Dashboard")):
            self.view_actions.append(
                self._action(
                    name,
                    lambda _c=False, i=i: self.tabs.setCurrentIndex(i),
                    f"Ctrl+{i + 1}",
                    f"Show the {name.replace('&', '').lower()} tab",
                )
            )

    def _build_item_actions(self) -> None:
        """The Item menu's actions. Their shortcuts live on the Items tab's splitter (Enter on the list alone), so
        they fire only while the focus is there, and a text field there takes its printable keys first."""

        def add(text: str, slot: object, keys: tuple[str, ...], tip: str, on: QWidget) -> QAction:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(
                Qt.ShortcutContext.WidgetShortcut
                if on is self.list_view.table
                else Qt.ShortcutContext.WidgetWithChildrenShortcut
            )
            action.setStatusTip(tip)
            action.triggered.connect(slot)  # type: ignore[arg-type]
            on.addAction(action)
            return action

        self.next_action = add(
            "&Next item", lambda: self.list_view.step(1), ("J",), "Select the next item", self.splitter
        )
        self.previous_action = add(
            "Pre&vious item", lambda: self.list_view.step(-1), ("K",), "Select the previous item", self.splitter
        )
        self.item_actions: dict[str, QAction] = {}
        for key in TRIAGE_KEYS:
            on = self.list_view.table if key.name == "suggested" else self.splitter
            tip = (
                "Preview the action the item suggests (the preview sends nothing until Ctrl+Enter)"
                if key.name == "suggested"
                else key.text.replace("&", "").rstrip("…")
            )
            self.item_actions[key.name] = add(
                key.text, lambda _c=False, name=key.name: self._trigger(name), key.keys, tip, on
            )
        self.shortcuts_action = self._action(
            "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents, "The keys for triage"
        )
        self._update_item_actions()

    def _trigger(self, name: str) -> None:
        # Never behind an open dialog: where the dialog does not get the focus (some window managers, offscreen),
        # Qt may still route the list's Enter to it while a preview asks to confirm.
        if self.tabs.currentWidget() is self.splitter and QApplication.activeModalWidget() is None:
            self.detail_view.trigger(name)

    def _update_item_actions(self) -> None:
        for name, action in self.item_actions.items():
            action.setEnabled(self.detail_view.can(name))

    def _item_done(self, acted_id: int, now_id: int) -> None:
        """An action succeeded: select the next item once the list shows the change, with the focus in the list."""
        self.list_view.advance_from(acted_id, now_id)
        if self.tabs.currentWidget() is self.splitter:
            self.list_view.table.setFocus()

    def tab_ring(self) -> list[QWidget]:
        """The Items tab's Tab round as shown now: the name bar (while it asks), the filters, the item list, the shown
        item's action buttons (push, revert, match, ...), Accept and Ignore, the bulk buttons; hidden or disabled
        widgets are passed over. Tab past the last comes round to the first (never into the menus or toolbar)."""
        bar, detail, lv = self.list_view.filter_bar, self.detail_view, self.list_view
        ring: list[QWidget] = [
            self.name_edit,
            self.name_button,
            bar.period_combo,
            bar.status_combo,
            bar.kind_combo,
            bar.search_edit,
            lv.table,
            *detail.action_buttons.values(),
            detail.accept_source_button,
            detail.accept_ledger_button,
            detail.ignore_button,
            lv.select_all_button,
            lv.push_button,
            lv.accept_button,
            lv.ignore_button,
        ]
        return [w for w in ring if w.isVisible() and w.isEnabled()]

    def focusNextPrevChild(self, forward: bool) -> bool:
        """Tab and Shift+Tab on the Items tab walk `tab_ring` (Qt's own chain would pass through the list's focus
        proxy and the toolbar on its way round); elsewhere Qt's chain."""
        ring = self.tab_ring() if self.tabs.currentWidget() is self.splitter else []
        current = QApplication.focusWidget()
        at = next((i for i, w in enumerate(ring) if w is current), None)
        if at is None:
            return super().focusNextPrevChild(forward)
        reason = Qt.FocusReason.TabFocusReason if forward else Qt.FocusReason.BacktabFocusReason
        ring[(at + (1 if forward else -1)) % len(ring)].setFocus(reason)
        return True

    def _set_tab_order(self) -> None:
        """Tab: month, status, kind, search, the list, the item's actions (inserted per item), Accept and Ignore,
        the bulk buttons, and round again. The read-only views (diff, lines, raw, history) take the focus by click."""
        bar, detail = self.list_view.filter_bar, self.detail_view
        chain = [
            bar.period_combo,
            bar.status_combo,
            bar.kind_combo,
            bar.search_edit,
            self.list_view.table,
            detail.accept_source_button,
            detail.accept_ledger_button,
            detail.ignore_button,
            self.list_view.select_all_button,
            self.list_view.push_button,
            self.list_view.accept_button,
            self.list_view.ignore_button,
        ]
        for first, second in itertools.pairwise(chain):
            self.setTabOrder(first, second)
        detail.focus_after = self.list_view.table
        for view in detail.findChildren(QAbstractScrollArea):
            view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        detail.tabs.tabBar().setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.tabs.tabBar().setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Ctrl+1..4 switch tabs

    def show_shortcuts(self) -> QDialog:
        """Help → Keyboard shortcuts (F1): every key of the window, non-blocking."""
        rows = [("J / Down", "Next item"), ("K / Up", "Previous item")]
        rows += [(" / ".join(k.keys), k.text.replace("&", "")) for k in TRIAGE_KEYS]
        rows += [
            ("Ctrl+Enter / Alt+P", "In a preview: send the push (Enter alone presses Cancel)"),
            ("Escape", "Close a preview or dialog without doing anything"),
            ("Tab", "Month, status, kind, search, list, the item's actions, and round again"),
        ]
        others = [a for a in self.actions() if not a.shortcut().isEmpty()]
        rows += [
            (a.shortcut().toString(QKeySequence.SequenceFormat.NativeText), a.text().replace("&", "")) for a in others
        ]
        text = "".join(f"<tr><td><b>{_esc(k)}</b>&nbsp;&nbsp;</td><td>{_esc(t)}</td></tr>" for k, t in rows)
        dialog = QDialog(self)
        dialog.setObjectName("shortcutsDialog")
        dialog.setWindowTitle("Keyboard shortcuts")
        label = QLabel(
            "<p>Item keys work while the list or the item panel has the focus, never while you type in a text "
            f"field.</p><table>{text}</table>",
            dialog,
        )
        label.setObjectName("shortcutsText")
        layout = QVBoxLayout(dialog)
        layout.addWidget(label)
        close = QPushButton("Close", dialog)
        close.clicked.connect(dialog.accept)
        layout.addWidget(close)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.signoff_action)
        file_menu.addAction(self.pack_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.find_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.connections_action)
        edit_menu.addAction(self.settings_action)
        view_menu = bar.addMenu("&View")
        for a in self.view_actions:
            view_menu.addAction(a)
        sync_menu = bar.addMenu("&Sync")
        for a in (self.sync_action, self.full_sync_action, self.cancel_action):
            sync_menu.addAction(a)
        sync_menu.addSeparator()
        sync_menu.addAction(self.retry_action)
        self._build_item_actions()
        item_menu = bar.addMenu("I&tem")
        item_menu.setObjectName("itemMenu")
        item_menu.addAction(self.next_action)
        item_menu.addAction(self.previous_action)
        item_menu.addSeparator()
        for action in self.item_actions.values():
            item_menu.addAction(action)
        self.item_menu = item_menu
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setMovable(False)
        for a in (self.sync_action, self.full_sync_action, self.cancel_action):
            toolbar.addAction(a)
        toolbar.addSeparator()
        toolbar.addAction(self.retry_action)
        toolbar.addSeparator()
        toolbar.addAction(self.connections_action)
        toolbar.addAction(self.export_action)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _build_name_bar(self) -> None:
        """Asks once, without blocking, for the name the audit log records decisions under (while none is saved)."""
        self.name_bar = QWidget(self)
        self.name_bar.setObjectName("nameBar")
        row = QHBoxLayout(self.name_bar)
        row.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Your &name, for the audit log (asked once; saved in the settings):", self.name_bar)
        self.name_edit = QLineEdit(self.name_bar)
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("e.g. Ann Smith")
        label.setBuddy(self.name_edit)
        self.name_button = QPushButton("Save", self.name_bar)
        self.name_button.setObjectName("nameSave")
        self.name_button.clicked.connect(self.save_name)
        self.name_edit.returnPressed.connect(self.save_name)
        row.addWidget(label)
        row.addWidget(self.name_edit, 1)
        row.addWidget(self.name_button)
        self.name_bar.setVisible(False)

    def _chain_checked(self, state: AuditState) -> None:
        if not state.ok:
            self.show_notice(f"The audit log's chain is broken at {state.message} (see the Audit log tab).")

    def _name_loaded(self, name: str) -> None:
        self.name_bar.setVisible(not name)

    def save_name(self) -> None:
        name = " ".join(self.name_edit.text().split())
        if not name:
            return

        def saved(_none: object) -> None:
            self.name_bar.setVisible(False)
            self.statusBar().showMessage(f"Decisions are recorded as {name}.", 8000)
            self.sig_name_saved.emit(name)

        self.runner.db(
            "save name", lambda _ctx: self._ws.set_user_name(name), on_result=saved, on_error=self._name_failed
        )

    def _name_failed(self, message: str, _exc: BaseException) -> None:
        self.show_notice(f"Your name was not saved: {message}")

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.counts_label = QLabel("", self)
        self.counts_label.setObjectName("countsLabel")
        self.last_sync_label = QLabel("Not synced yet", self)
        self.last_sync_label.setObjectName("lastSyncLabel")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("syncProgress")
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(False)  # a busy bar cannot show text; the label beside it does
        self.progress.setVisible(False)
        self.progress_label = QLabel("", self)
        self.progress_label.setObjectName("syncProgressText")
        self.progress_label.setMinimumWidth(380)
        self.progress_label.setVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelSync")
        self.cancel_button.setToolTip("Stop the sync (Esc); everything fetched so far is kept")
        self.cancel_button.clicked.connect(self.cancel_sync)
        self.cancel_button.setVisible(False)
        status.addWidget(self.counts_label, 1)
        status.addPermanentWidget(self.progress_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.last_sync_label)
        self.others_label = QLabel("", self)  # someone else's sync, while it runs
        self.others_label.setObjectName("othersSyncing")
        self.others_label.setVisible(False)
        status.addPermanentWidget(self.others_label)
        self.health_lights = HealthLights(self)
        status.addPermanentWidget(self.health_lights)

    def _build_watch(self) -> None:
        """Health checks on an interval and the daily sync (app/ui/health.py); configured from the settings at
        `start`."""
        self.notifier = Notifier(lambda text: self.show_notice(text), self, replace=self._notice_over)
        self.watch = HealthWatch(
            self._ws,
            self.runner,
            is_syncing=lambda: self.syncing,
            start_sync=self.sync,
            notifier=self.notifier,
            parent=self,
        )
        self.watch.sig_health_checked.connect(self._health_checked)

    def _notice_over(self, old: str, new: str) -> None:
        """A connection announced as failing works again: say so where the announcement still shows."""
        if self.notice.isVisible() and self.notice.text() == old:
            self.show_notice(new, error=False)

    def _health_checked(self, checks: Sequence[HealthCheck]) -> None:
        if checks:
            self.health_lights.set_checks(checks)
            self.sync_view.add_checks(list(reversed(checks)))
            self.dashboard_view.stale = True
            if self.tabs.currentWidget() is self.dashboard_view:
                self.dashboard_view.reload()
        self.sig_health_shown.emit(list(checks))

    def _watch_loaded(self, loaded: tuple[Settings, Sequence[HealthCheck]]) -> None:
        settings, history = loaded
        self.sync_view.add_checks(list(history))
        latest: dict[object, HealthCheck] = {}
        for check in history:  # newest first: the first of each system is its last check
            latest.setdefault(check.system, check)
        self.health_lights.set_checks(list(latest.values()))
        self.watch.levels = {c.system: c.level for c in latest.values()}
        if latest:
            self.watch.last_check_at = local_naive(max(c.at for c in latest.values()))
        self.watch.configure(settings.health_check_minutes, settings.daily_sync_time)

    def _wire(self) -> None:
        self.list_view.sig_item_selected.connect(self.detail_view.set_item)
        self.list_view.sig_summary_loaded.connect(self._summary_loaded)
        self.list_view.model.sig_counts_loaded.connect(self._counts_loaded)
        self.list_view.model.sig_load_failed.connect(self.show_notice)
        self.detail_view.sig_item_changed.connect(self._item_changed)
        self.detail_view.sig_item_done.connect(self._item_done)
        self.detail_view.sig_actions_changed.connect(self._update_item_actions)
        self.runner.sig_operation_finished.connect(self._data_changed)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.audit_view.sig_chain_checked.connect(self._chain_checked)

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the first screen (months, counts, ids, audit). Call once after `show()`."""
        self.runner.db("load roles", lambda _ctx: self._ws.roles(), on_result=self.detail_view.set_roles)
        self.runner.db("load name", lambda _ctx: self._ws.user_name(), on_result=self._name_loaded)
        self.runner.db("load person", lambda _ctx: self._ws.me(), on_result=self._person_loaded)
        self.list_view.start()
        self.audit_view.reload()
        self.runner.db("load sync runs", lambda _ctx: list(self._ws.sync_runs()), on_result=self.sync_view.set_runs)
        self.runner.db(
            "load health",
            lambda _ctx: (self._ws.current_settings(), list(self._ws.health_history(200))),
            on_result=self._watch_loaded,
        )
        self.look_at_others()
        if self.others_timer.interval() > 0:
            self.others_timer.start()

    # -- the others (team mode: services/others.py) --------------------------------------------------------------
    def look_at_others(self) -> None:
        """Ask, in the background, what others changed since the last look; refresh just that (one look at a time,
        none while our own sync runs: it reloads everything when it ends)."""
        if self._looking or self.syncing:
            return
        self._looking = True
        mark = self._mark
        self.runner.db(
            "look at others", lambda _ctx: self._ws.others(mark), on_result=self._looked, on_error=self._look_failed
        )

    def _looked(self, others: Others) -> None:
        self._looking = False
        first = self._mark is None
        self._mark = others.mark
        self.others_label.setText(others.syncing)
        self.others_label.setVisible(bool(others.syncing))
        if not first and not self.syncing:
            changes = others.changes
            if changes.everything or changes.items or changes.counts or changes.audit or changes.connections:
                self._data_changed(changes)
            if others.lines:
                self.statusBar().showMessage(" ".join(others.lines[-2:]), 15000)
        self.sig_others_seen.emit(others)

    def _look_failed(self, message: str, _exc: BaseException) -> None:
        self._looking = False  # the next look tries again; a lost connection is said by the actions that need it
        log.info("looking at others' changes failed: %s", message)

    def _restore_state(self) -> None:
        s = self._settings
        geometry = s.value(f"{SETTINGS_GROUP}/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)  # type: ignore[arg-type]
        state = s.value(f"{SETTINGS_GROUP}/state")
        if state is not None:
            self.restoreState(state)  # type: ignore[arg-type]
        splitter = s.value(f"{SETTINGS_GROUP}/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)  # type: ignore[arg-type]
        header = s.value(f"{SETTINGS_GROUP}/itemHeader")
        if header is not None:
            self.list_view.table.horizontalHeader().restoreState(header)  # type: ignore[arg-type]

    def save_state(self) -> None:
        """Window layout only; no connection data and never a secret."""
        s = self._settings
        s.setValue(f"{SETTINGS_GROUP}/geometry", self.saveGeometry())
        s.setValue(f"{SETTINGS_GROUP}/state", self.saveState())
        s.setValue(f"{SETTINGS_GROUP}/splitter", self.splitter.saveState())
        s.setValue(f"{SETTINGS_GROUP}/itemHeader", self.list_view.table.horizontalHeader().saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.save_state()
        self.watch.timer.stop()
        self.others_timer.stop()
        # Cancel the sync and wait for the workers: a worker must not outlive the objects it reports to.
        self.runner.shutdown()
        super().closeEvent(event)

    # -- reactions --------------------------------------------------------------------------------------------
    def _data_changed(self, changes: ChangeSet) -> None:
        """Refresh what an operation changed: the list's rows or the whole list, the shown item, the audit log, the
        dashboard (now if it is shown, else when it is next shown)."""
        if changes.everything or changes.items or changes.counts or changes.periods or changes.connections:
            self.dashboard_view.stale = True
            if self.tabs.currentWidget() is self.dashboard_view:
                self.dashboard_view.set_period(self.list_view.model.item_filter.period)
        if changes.everything:
            self.list_view.refresh()
            self.detail_view.reload()
            self.audit_view.reload()
            return
        if changes.added or changes.removed or changes.counts or changes.periods:
            self.list_view.refresh()  # membership of the filter or the counts may differ: page and counts again
        elif changes.changed:
            self.list_view.reload_rows(changes.changed)
            self.list_view.apply_advance()  # rows changed in place: the next item is where it was
        else:
            self.list_view.apply_advance()
            if changes.connections:
                self.list_view.reload_summary()
        shown = self.detail_view.item_id
        if shown is not None and shown in changes.items:
            self.detail_view.reload()
        if changes.audit:
            self.audit_view.reload()

    def _item_changed(self, row: ItemRow) -> None:
        self.list_view.model.update_row(row)
        self.list_view.follow(row.item_id)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.audit_view:
            self.audit_view.reload()
        elif self.tabs.widget(index) is self.dashboard_view:  # the month the item list shows
            self.dashboard_view.set_period(self.list_view.model.item_filter.period)

    def _counts_loaded(self, counts: ListCounts) -> None:
        parts = [
            f"{style.STATUS_LOOK[s].marker} {style.STATUS_LOOK[s].label} {counts.by_status.get(s.value, 0)}"
            for s in ItemStatus
        ]
        self.counts_label.setText("   ".join(parts))

    def _summary_loaded(self, summary: Summary) -> None:
        self._last_summary = summary
        if summary.last_sync is not None:
            ok = "" if summary.last_sync_ok in (None, True) else " (with errors)"
            self.last_sync_label.setText(f"Last sync {style.local_time(summary.last_sync)}{ok}")
        if summary.connections and not any(summary.connections.values()):
            self.show_notice("No connections are set up yet: open Edit → Connections… (Ctrl+K).")

    def show_notice(self, text: str, *, error: bool = True) -> None:
        """Put a message in the notice line above the tabs (empty text hides it)."""
        colour = "#8a1c1c" if error else "#1d5e2a"
        background = "#fbe7e7" if error else "#e6f2e8"
        self.notice.setStyleSheet(f"QLabel {{ color: {colour}; background: {background}; padding: 4px; }}")
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        if text:
            self.sig_notice_shown.emit(text)

    def _focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.list_view.filter_bar.search_edit.setFocus()
        self.list_view.filter_bar.search_edit.selectAll()

    # -- sync -------------------------------------------------------------------------------------------------
    @property
    def syncing(self) -> bool:
        return self._sync_handle is not None

    def sync(self, *, full: bool = False) -> TaskHandle | None:
        """Start a sync on the network lane (one at a time). Returns its handle, or None if one is running."""
        if self._sync_handle is not None:
            return None
        if self.person is not None and not self.person.can_act:
            self.show_notice(f"Your role on this team database ({self.person.role}) does not allow a sync.")
            return None

        def work(ctx: TaskContext) -> SyncResult:
            # Another process syncing this cache: ours waits for it (said in the notice line), cancellable.
            return self._ws.sync(full=full, progress=ctx.progress, cancel=ctx.cancel, wait=QUEUE_SYNC_SECONDS)

        self.show_notice("")
        self._set_syncing(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Starting the sync…")
        self._sync_handle = self.runner.network(
            "full sync" if full else "sync",
            work,
            changes=lambda _result: EVERYTHING,
            on_result=self._sync_done,
            on_error=self._sync_failed,
            on_progress=self._sync_progress,
        )
        return self._sync_handle

    def cancel_sync(self) -> None:
        if self._sync_handle is not None:
            self._sync_handle.cancel()
            self.progress_label.setText("Cancelling… (finishing the current request)")
            self.cancel_button.setEnabled(False)

    def _set_syncing(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.progress_label.setVisible(on)
        self.cancel_button.setVisible(on)
        self.cancel_button.setEnabled(on)
        self.cancel_action.setEnabled(on)
        self.sync_action.setEnabled(not on)
        self.full_sync_action.setEnabled(not on)

    def _sync_progress(self, event: ProgressEvent) -> None:
        if self._sync_handle is None or self._sync_handle.token.cancelled:
            return
        if event.stage == SYNC_WAITING:
            self._waiting_notice = event.message
            self.show_notice(event.message, error=False)
            self.progress_label.setText("Waiting for the other sync to end…")
            return
        if self._waiting_notice and self.notice.text() == self._waiting_notice:
            self.show_notice("")  # the other sync ended: ours runs
        self._waiting_notice = ""
        if event.total:
            self.progress.setRange(0, max(event.total, 1))
            self.progress.setValue(min(event.done, event.total))
        else:
            self.progress.setRange(0, 0)  # busy indicator: the total is not known yet
        self.progress_label.setText(progress_text(event))

    def _sync_done(self, result: SyncResult) -> None:
        self._sync_handle = None
        self._set_syncing(False)
        self.sync_view.add_run(result)
        self.last_sync_label.setText(
            f"Last sync {style.local_time(result.finished_at)}" + ("" if result.ok else " (with errors)")
        )
        if result.cancelled:
            self.show_notice("Sync cancelled; everything fetched so far is kept.", error=False)
        elif not result.ok:
            first = result.errors[0] if result.errors else "see the Sync runs tab"
            self.show_notice(f"The sync finished with errors: {first}")
        self.sig_sync_finished.emit(result)

    def _sync_failed(self, message: str, exc: BaseException) -> None:
        self._sync_handle = None
        self._set_syncing(False)
        if isinstance(exc, CancelledError):
            self.show_notice("Sync cancelled; everything fetched so far is kept.", error=False)
        else:
            self.show_notice(f"The sync failed: {message}")
        self.sig_sync_finished.emit(None)

    # -- pushes, connections, report --------------------------------------------------------------------------
    def retry_failed(self) -> None:
        """Send failed and uncertain pushes again on the network lane."""
        self.retry_action.setEnabled(False)

        def work(_ctx: TaskContext) -> list[ActionResult]:
            return list(self._ws.retry_failed())

        def done(results: Sequence[ActionResult]) -> None:
            self.retry_action.setEnabled(True)
            failed = [r for r in results if not r.ok]
            if not results:
                self.show_notice("No failed pushes to retry.", error=False)
            elif failed:
                self.show_notice(f"Retried {len(results)} push(es): {len(failed)} still failing — {failed[0].message}")
            else:
                self.show_notice(f"Retried {len(results)} push(es); all went through.", error=False)
            self.sig_retry_finished.emit(list(results))

        def failed(message: str, _exc: BaseException) -> None:
            self.retry_action.setEnabled(True)
            self.show_notice(f"Retrying failed pushes did not work: {message}")
            self.sig_retry_finished.emit([])

        self.runner.network(
            "retry failed pushes",
            work,
            changes=lambda results: functools.reduce(operator.or_, (r.changes for r in results), ChangeSet()),
            on_result=done,
            on_error=failed,
        )

    def open_connections(self) -> ConnectionsDialog:
        """Open Edit → Connections… (non-blocking, so tests and the sync keep running)."""
        dialog = ConnectionsDialog(self._ws, self.runner, self, xero_sign_in=self._xero_sign_in)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def report_available(self) -> bool:
        return callable(getattr(self._ws, "report_bytes", None))

    def _export_clicked(self) -> None:
        if not self.report_available():
            self.show_notice(
                "Exporting the report is not available in this build; use "
                "`recondesk report --format xlsx -o FILE` from a terminal."
            )
            return
        period = self.list_view.filter_bar.current_filter().period
        suggested = f"recondesk-{period or 'all'}.xlsx"
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export report",
            str(Path.home() / suggested),
            ";;".join(REPORT_FORMATS.values()),
            REPORT_FORMATS["xlsx"],
        )
        if not path:
            return
        fmt = next((k for k, v in REPORT_FORMATS.items() if v == chosen), "xlsx")
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix in REPORT_FORMATS:
            fmt = suffix  # the typed extension wins over the filter
        else:
            path = f"{path}.{fmt}"
        self.export_report(Path(path), fmt, period)

    def export_report(self, path: Path, fmt: str, period: str | None) -> None:
        """Write the report for `period` in `fmt` to `path`, on the DB lane."""
        report_bytes = getattr(self._ws, "report_bytes", None)
        if not callable(report_bytes):
            self.show_notice("Exporting the report is not available in this build.")
            return

        def work(_ctx: TaskContext) -> str:
            data = report_bytes(period, fmt)
            path.write_bytes(data)
            return str(path)

        def done(written: str) -> None:
            self.show_notice(f"Report saved to {written}.", error=False)
            self.sig_report_exported.emit(written)

        self.runner.db(
            "export report",
            work,
            on_result=done,
            on_error=lambda msg, _exc: self.show_notice(f"The report was not saved: {msg}"),
        )

    def sign_off_period(self) -> None:
        """Read the chosen month's control totals and open items, ask in `SignoffDialog`, then sign it off."""
        period = self.list_view.filter_bar.current_filter().period
        if not period:
            self.show_notice("Choose a month in the period list first, then sign it off.")
            return
        self.runner.db(
            "sign-off preview",
            lambda _ctx: self._ws.signoff_preview(period),
            on_result=self._ask_signoff,
            on_error=lambda msg, _exc: self.show_notice(f"The sign-off could not be prepared: {msg}"),
        )

    def _ask_signoff(self, preview: SignoffPreview) -> None:
        dialog = SignoffDialog(preview, self)
        if dialog.exec() != SignoffDialog.DialogCode.Accepted:
            return
        note, with_exceptions = dialog.values()

        def done(result: SignoffResult) -> None:
            self.show_notice(result.message, error=not result.ok)

        self.runner.db(
            "sign off",
            lambda _ctx: self._ws.sign_off(preview.period, note, with_exceptions),
            on_result=done,
            on_error=lambda msg, _exc: self.show_notice(f"The period was not signed off: {msg}"),
            changes=lambda _r: EVERYTHING,
        )

    def open_pack_dialog(self) -> PackDialog | None:
        """Open File → Month-end pack… (non-blocking; the pack is written on the DB lane with progress and cancel)."""
        write_pack = getattr(self._ws, "write_pack", None)
        if not callable(write_pack):
            self.show_notice("The month-end pack is not available in this build.")
            return None
        period = self.list_view.filter_bar.current_filter().period
        dialog = PackDialog(write_pack, self.runner, list(self._ws.periods()), period, self)
        dialog.sig_written.connect(
            lambda paths: self.show_notice(f"Month-end pack saved in {paths[0].parent}.", error=False)
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_settings(self) -> None:
        """Open Edit → Settings… once the values and Xero's accounts and tax rates are read (on the DB lane)."""
        self.runner.db(
            "read settings",
            lambda _ctx: self._ws.settings_view(),
            on_result=self._show_settings,
            on_error=lambda msg, _exc: self.show_notice(f"The settings could not be read: {msg}"),
        )

    def _show_settings(self, view: SettingsView) -> None:
        person = self.person
        greyed = (
            f"Your role on this team database ({person.role}) lets you see the firm's matching and mapping settings, "
            "not change them; your own settings stay yours."
            if person is not None and not person.can_act
            else ""
        )
        dialog = SettingsDialog(view, self, firm_read_only=greyed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._settings_accepted(dialog))
        dialog.sig_test_team.connect(lambda values, password: self._test_team(dialog, values, password))
        dialog.open()
        self.sig_settings_opened.emit(dialog)

    def _test_team(self, dialog: SettingsDialog, values: dict[str, str], password: str | None) -> None:
        """Settings > Team database > Test connection, on the network lane (a server may take a while to answer)."""

        def shown(result: CheckResult) -> None:
            with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile
                dialog.show_team_result(result)

        self.runner.network(
            "test team database",
            lambda _ctx: self._ws.test_team_database(values, password),
            on_result=shown,
            on_error=lambda msg, _exc: shown(CheckResult(False, "reachability", msg)),
        )

    def _settings_accepted(self, dialog: SettingsDialog) -> None:
        """Apply the changes; a new team database (or its password) is kept, then Recondesk reopens on it."""
        changes, team = dialog.changes(), dialog.team_changed()
        values, password = dialog.team_values(), dialog.team_password()
        self.apply_settings(changes)
        if not team:
            return
        if password is not None:
            self.runner.db("keep team password", lambda _ctx: self._ws.save_team_password(values, password))
        if self.reopen_provider(self):
            self.runner.db("reopen", lambda _ctx: None, on_result=lambda _r: self.reopen())

    def reopen(self) -> None:
        """Close the window and open Recondesk again on the database the settings now name."""
        self.reopen_requested = True  # `run_gui` returns REOPEN once the event loop ends with the last window
        self.close()

    def _person_loaded(self, person: Person) -> None:
        """Grey what the person's role does not allow (the services refuse it anyway)."""
        self.person = person
        why = f"Your role on this team database ({person.role}) does not allow this; ask a reviewer."
        for action in (self.sync_action, self.full_sync_action, self.retry_action):
            action.setEnabled(person.can_act)
            action.setToolTip("" if person.can_act else why)
        self.detail_view.read_only = not person.can_act
        self._update_item_actions()
        self.signoff_action.setEnabled(person.can_sign_off)
        if not person.can_sign_off:
            self.signoff_action.setToolTip(why.replace("this", "signing off"))
        self.sig_person_loaded.emit(person)

    def apply_settings(self, changes: dict[str, str]) -> None:
        """Save, audit and re-reconcile what `changes` can affect, on the DB lane with progress in the status bar;
        changed items refresh through the result's ChangeSet."""
        if not changes:
            return

        def done(result: ActionResult) -> None:
            self.progress.setVisible(False)
            self.progress_label.setVisible(False)
            self.show_notice(result.message, error=not result.ok)
            self.sig_settings_applied.emit(result)
            if result.ok:  # the health-check interval and the daily sync time may have changed
                self.runner.db(
                    "reload watch settings",
                    lambda _ctx: self._ws.current_settings(),
                    on_result=lambda s: self.watch.configure(s.health_check_minutes, s.daily_sync_time),
                )

        def failed(msg: str, _exc: BaseException) -> None:
            self.progress.setVisible(False)
            self.progress_label.setVisible(False)
            self.show_notice(f"The settings were not changed: {msg}")

        def shown(event: ProgressEvent) -> None:
            if event.total:
                self.progress.setRange(0, max(event.total, 1))
                self.progress.setValue(min(event.done, event.total))
            self.progress_label.setText(progress_text(event))

        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.progress_label.setText("Applying the settings…")
        self.progress_label.setVisible(True)
        self.runner.db(
            "change settings",
            lambda ctx: self._ws.change_settings(changes, progress=ctx.progress, cancel=ctx.cancel),
            changes=lambda result: result.changes,
            on_result=done,
            on_error=failed,
            on_progress=shown,
        )

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Recondesk",
            f"<h3>Recondesk {__version__}</h3><p>Month-end reconciliation of accessplanit and "
            "Xero.</p><p>Passwords and tokens are kept only in your operating system's keyring; the cache "
            "and the audit log stay on this computer.</p>",
        )


REOPEN = 75
"""The exit code of the event loop that asks the command line to open Recondesk again (a new team database)."""


def _ask_reopen(parent: QWidget) -> bool:
    answer = QMessageBox.question(
        parent,
        "Team database",
        "Open Recondesk again on the database the settings now name?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""The item list with its filter bar: month, status (with counts), kind and a search box.

Every filter change becomes a new `ItemFilter` handed to the model, which asks the database for the first page
and the counts; a click on a column header sorts in the database. Rows are never hidden or sorted client-side.
The search box waits a moment after the last keystroke (debounce) so typing "INV-10" runs one query, not six.
Rows can be selected many at a time (shift/ctrl, Ctrl+A for the loaded rows, "Select all N of this filter" for the
whole filter, resolved by the services); "Push selected to Xero", "Accept…" and "Ignore…" preview the bulk action,
then run it in the background with progress and cancel, and show a result per record (`BulkDialog`).
Keyboard triage: `step` moves through the rows (J/K), asking for the next page at the end; after an action,
`advance_from` selects the next item of the filter once the list shows the change (the one now in the acted item's
row when it left the filter, the row after it when it stayed done, the item itself while it still needs a
decision), keeping the scroll position and never loading more than the next page.
Must not: call the services on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.status import ItemStatus, Kind, Resolution, System
from app.services.api import (
    EVERYTHING,
    ActionResult,
    BulkAction,
    BulkPreview,
    ItemFilter,
    ListCounts,
    PushRecord,
    Recondesk,
    Resolve,
    Summary,
)
from app.ui import style
from app.ui.dialogs.bulk_dialog import BulkDialog
from app.ui.dialogs.note_dialog import NoteDialog
from app.ui.models.item_table_model import COLUMNS, ItemTableModel
from app.ui.tasks import TaskContext, TaskRunner

SEARCH_DEBOUNCE_MS = 300
OPEN = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})
"""Statuses that still need a decision: after an action the selection stays on such an item (one field of several
pushed), and moves on from any other."""


class FilterBar(QWidget):
    """Month, status, kind and search. Emits a complete `ItemFilter` whenever one of them changes."""

    sig_filter_changed = Signal(object)
    """The user changed a filter: (ItemFilter)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self.period_combo = QComboBox(self)
        self.period_combo.setObjectName("periodCombo")
        self.period_combo.addItem("All months", None)
        self.period_combo.setMinimumContentsLength(10)
        self.status_combo = QComboBox(self)
        self.status_combo.setObjectName("statusCombo")
        self.status_combo.setMinimumContentsLength(22)
        self.kind_combo = QComboBox(self)
        self.kind_combo.setObjectName("kindCombo")
        self.kind_combo.addItem("Invoices and payments", None)
        self.kind_combo.addItem("Invoices", Kind.INVOICE)
        self.kind_combo.addItem("Payments", Kind.PAYMENT)
        self.kind_combo.addItem("Credit notes", Kind.CREDIT_NOTE)
        self.kind_combo.addItem("Overpayments", Kind.OVERPAYMENT)
        self.kind_combo.addItem("Prepayments", Kind.PREPAYMENT)
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("searchEdit")
        self.search_edit.setPlaceholderText("Search invoice, contact, reference")
        self.search_edit.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self._fill_statuses({})

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, widget in (
            ("&Month:", self.period_combo),
            ("S&tatus:", self.status_combo),
            ("&Kind:", self.kind_combo),
            ("Searc&h:", self.search_edit),
        ):
            label = QLabel(text, self)
            label.setBuddy(widget)
            layout.addWidget(label)
            layout.addWidget(widget, 2 if widget is self.search_edit else 0)

        self.period_combo.currentIndexChanged.connect(self._emit)
        self.status_combo.currentIndexChanged.connect(self._emit)
        self.kind_combo.currentIndexChanged.connect(self._emit)
        self.search_edit.textChanged.connect(lambda _text: self._debounce.start())
        self.search_edit.returnPressed.connect(self._flush_search)

    def current_filter(self) -> ItemFilter:
        status = self.status_combo.currentData()
        return ItemFilter(
            period=self.period_combo.currentData(),
            statuses=(ItemStatus(status),) if status else (),
            kind=self.kind_combo.currentData(),
            search=self.search_edit.text().strip(),
        )

    def set_periods(self, periods: list[str], select: str | None = None, *, emit: bool = True) -> None:
        """Fill the month picker; keeps the current month if it is still there, else `select`. With `emit` False
        the caller loads the list itself (start-up: one load, for the month chosen here)."""
        current = self.period_combo.currentData()
        self._updating = True
        try:
            self.period_combo.clear()
            self.period_combo.addItem("All months", None)
            for p in periods:
                self.period_combo.addItem(p, p)
            wanted = current if current in periods else select
            pos = self.period_combo.findData(wanted) if wanted else 0
            self.period_combo.setCurrentIndex(max(pos, 0))
        finally:
            self._updating = False
        if emit and self.period_combo.currentData() != current:
            self._emit()

    def set_status(self, status: ItemStatus | None) -> None:
        pos = self.status_combo.findData(status.value if status else None)
        self.status_combo.setCurrentIndex(max(pos, 0))

    def set_counts(self, counts: dict[str, int]) -> None:
        """Show how many items each status has in the chosen month, without changing the choice."""
        self._fill_statuses(counts)

    def _fill_statuses(self, counts: dict[str, int]) -> None:
        current = self.status_combo.currentData()
        self._updating = True
        try:
            self.status_combo.clear()
            total = sum(counts.values())
            self.status_combo.addItem(f"All statuses ({total})" if counts else "All statuses", None)
            for status in ItemStatus:
                n = counts.get(status.value, 0)
                self.status_combo.addItem(
                    f"{style.status_text(status)} ({n})" if counts else style.status_text(status), status.value
                )
            self.status_combo.setCurrentIndex(max(self.status_combo.findData(current), 0))
        finally:
            self._updating = False

    def _flush_search(self) -> None:
        if self._debounce.isActive():
            self._debounce.stop()
            self._emit()

    def _emit(self) -> None:
        if not self._updating:
            self.sig_filter_changed.emit(self.current_filter())


class ItemListView(QWidget):
    """Filter bar over the item table. Selecting a row emits `sig_item_selected`."""

    sig_item_selected = Signal(object)
    """The selected item changed: (item id, or None when nothing is selected)."""
    sig_summary_loaded = Signal(object)
    """Counts for the chosen month arrived: (Summary)."""

    def __init__(self, workspace: Recondesk, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._want_selected: int | None = None
        self._announced: int | None = None
        self._follow: int | None = None
        self._summary: Summary | None = None
        self._advance: tuple[int, int, int | None, int] | None = None  # (acted row, id now, next id, scroll)
        self._pending_row: int | None = None  # a row to select once the next page has arrived
        self.filter_bar = FilterBar(self)
        self.model = ItemTableModel(workspace, runner, self)
        self.table = QTableView(self)
        self.table.setObjectName("itemTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the list (to the item's actions) instead of cell to cell
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        # No indicator at first (the default order, by key); a click sorts in the database (the model's `sort`).
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        header.setHighlightSections(False)
        # "Differs in" is last and takes what is left, so the fixed columns never push it out of sight.
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for i, column in enumerate(COLUMNS):
            self.table.setColumnWidth(i, column.width)
        self.empty_label = QLabel("", self)
        self.empty_label.setObjectName("emptyLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setVisible(False)

        self._whole_filter: ItemFilter | None = None  # "Select all N of this filter" is on
        self._selecting = False
        self.bulk_dialog: BulkDialog | None = None
        self.selection_label = QLabel("", self)
        self.selection_label.setObjectName("selectionLabel")
        self.select_all_button = QPushButton("Select &all of this filter", self)
        self.select_all_button.setObjectName("selectAllFilter")
        self.push_button = QPushButton("&Push selected to Xero", self)
        self.push_button.setObjectName("bulkPush")
        self.accept_button = QPushButton("A&ccept…", self)
        self.accept_button.setObjectName("bulkAccept")
        accept_menu = QMenu(self.accept_button)
        self.accept_source_action = accept_menu.addAction(
            "accessplanit is right", lambda: self.bulk_accept(Resolution.ACCEPT_SOURCE)
        )
        self.accept_ledger_action = accept_menu.addAction(
            "Xero is right", lambda: self.bulk_accept(Resolution.ACCEPT_LEDGER)
        )
        self.accept_button.setMenu(accept_menu)
        self.ignore_button = QPushButton("&Ignore…", self)
        self.ignore_button.setObjectName("bulkIgnore")
        bulk_bar = QHBoxLayout()
        bulk_bar.addWidget(self.selection_label, 1)
        for button in (self.select_all_button, self.push_button, self.accept_button, self.ignore_button):
            bulk_bar.addWidget(button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label)
        layout.addLayout(bulk_bar)
        self.setFocusProxy(self.table)
        self.select_all_button.clicked.connect(self.select_all_of_filter)
        self.push_button.clicked.connect(self.bulk_push)
        self.ignore_button.clicked.connect(self.bulk_ignore)

        self.filter_bar.sig_filter_changed.connect(self._filter_changed)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.sig_list_loaded.connect(self._list_loaded)
        self.model.sig_counts_loaded.connect(self._counts_loaded)
        self.model.sig_rows_loaded.connect(self._rows_loaded)

    # -- public -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """First load: months and the summary in one task, then the list once, for the newest month."""

        def fetch(_ctx: TaskContext) -> tuple[list[str], Summary]:
            periods = list(self._ws.periods())
            # The summary of the month shown first: counting one month reads its index range, not the whole cache.
            return periods, self._ws.summary(periods[0] if periods else None)

        self._runner.db("load months", fetch, on_result=lambda got: self._started(*got))

    def _started(self, periods: list[str], summary: Summary) -> None:
        self._summary_loaded(summary)
        # The newest month is the usual month-end target, so it is chosen the first time.
        self.filter_bar.set_periods(periods, select=periods[0] if periods else None, emit=False)
        self.model.set_filter(self.filter_bar.current_filter())

    def follow(self, item_id: int) -> None:
        """Select `item_id` after the next refresh (an action can turn an item into another: a pushed payment
        pairs up under a new key)."""
        self._follow = item_id

    def refresh(self) -> None:
        """Data changed somewhere: reload the rows shown, counts and months; keep the selection if still shown."""
        self._want_selected = self._follow if self._follow is not None else self.selected_item_id()
        self._follow = None
        self.model.refresh()
        self.reload_summary()
        self.reload_periods()

    def reload_rows(self, item_ids: Collection[int]) -> None:
        """Items changed in place (their filter membership and counts did not): re-read only those rows."""
        self.model.reload_rows(item_ids)

    def reload_periods(self) -> None:
        def fetch(_ctx: TaskContext) -> list[str]:
            return list(self._ws.periods())

        self._runner.db("load months", fetch, on_result=self._periods_loaded)

    def reload_summary(self) -> None:
        period = self.filter_bar.current_filter().period

        def fetch(_ctx: TaskContext) -> Summary:
            return self._ws.summary(period)

        self._runner.db("load counts", fetch, on_result=self._summary_loaded)

    def selected_item_id(self) -> int | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return None
        return self.model.item_id_at(index.row())

    def select_item(self, item_id: int) -> bool:
        """Select the row of `item_id` if it is in the list; True if it was."""
        row = self.model.row_of(item_id)
        if row is None:
            return False
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)
        return True

    # -- keyboard triage --------------------------------------------------------------------------------------
    def step(self, step: int) -> None:
        """Select the row `step` rows away from the current one (J/K); past the last loaded row, the next page."""
        current = self.table.selectionModel().currentIndex()
        self._select_row(current.row() + step if current.isValid() else 0)

    def advance_from(self, acted_id: int, now_id: int) -> None:
        """An action on `acted_id` succeeded (the item is `now_id` now): after the list shows it (`apply_advance`,
        or the next first page), select the next item of the filter."""
        row = self.model.row_of(acted_id)
        if row is not None:
            after = self.model.item_id_at(row + 1)
            self._advance = (row, now_id, after, self.table.verticalScrollBar().value())

    def apply_advance(self) -> None:
        """Select what follows the acted item: itself while it still needs a decision; else the item that followed
        it (wherever a new order put the acted one); else what is now at its row (the previous one at the end)."""
        if self._advance is None:
            return
        row, now_id, after, scroll = self._advance
        self._advance = None
        self._want_selected = None
        self.table.executeDelayedItemsLayout()  # a reset lays rows out later: the scroll range must be right now
        self.table.verticalScrollBar().setValue(scroll)  # a reset scrolls to the top; triage stays where it was
        now = self.model.item_row(now_id)
        now_at = self.model.row_of(now_id)
        after_at = self.model.row_of(after) if after is not None else None
        if now is not None and now_at is not None and now.status in OPEN:
            self._select_row(now_at)
        elif after_at is not None:
            self._select_row(after_at)
        else:  # it was the last loaded row: the next page's first row, or the last row
            self._select_row(row + 1 if now_at is not None else row)

    def _select_row(self, row: int) -> None:
        """Select `row`, kept within the loaded rows; past the end while the filter has more, ask for the next page
        and select the row when it arrives."""
        count = self.model.rowCount()
        if row >= count and self.model.canFetchMore():
            self._pending_row = row
            self.model.fetchMore()
            return
        if count == 0:
            return
        index = self.model.index(max(0, min(row, count - 1)), 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)  # only if it is not in sight already

    def _rows_loaded(self, _count: int) -> None:
        row, self._pending_row = self._pending_row, None
        if row is not None:
            self._select_row(row)

    # -- bulk -------------------------------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        """Ids of the selected loaded rows, in list order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [i for i in (self.model.item_id_at(r) for r in rows) if i is not None]

    def select_all_of_filter(self) -> None:
        """Select every item of the current filter: the loaded rows show it; the services resolve the ids."""
        self._selecting = True
        try:
            self.table.selectAll()
        finally:
            self._selecting = False
        self._whole_filter = self.model.item_filter
        self._update_selection_label()

    def bulk_push(self) -> None:
        self._bulk("Push to Xero", "Push", lambda item_id: PushRecord(item_id, System.XERO))

    def bulk_accept(self, resolution: Resolution) -> None:
        self._bulk("Accept", "Accept", lambda item_id: Resolve(item_id, resolution))

    def bulk_ignore(self, note: str | None = None) -> None:
        if note is None:
            note = NoteDialog.ask(self, "the selected items")
        if note:
            self._bulk("Ignore", "Ignore", lambda item_id: Resolve(item_id, Resolution.IGNORE, note))

    def _bulk(self, title: str, verb: str, make: Callable[[int], BulkAction]) -> None:
        """Preview (ids and plan in one background task), then the dialog; confirming runs the actions."""
        whole, picked = self._whole_filter, self.selected_ids()
        if whole is None and not picked:
            return

        def preview(_ctx: Any) -> tuple[list[BulkAction], BulkPreview]:
            ids = list(self._ws.item_ids(whole)) if whole is not None else picked
            actions = [make(i) for i in ids]
            return actions, self._ws.plan_many(actions)

        self._runner.db(
            f"preview: {title.lower()}", preview, on_result=lambda got: self._preview_ready(title, verb, *got)
        )

    def _preview_ready(self, title: str, verb: str, actions: list[BulkAction], preview: BulkPreview) -> None:
        labels = {i: r.key for i in (a.item_id for a in actions) if (r := self.model.item_row(i)) is not None}
        dialog = BulkDialog(title, verb, preview, labels, self)
        self.bulk_dialog = dialog
        dialog.sig_confirmed.connect(lambda: self._run_bulk(dialog, actions))
        dialog.open()

    def _run_bulk(self, dialog: BulkDialog, actions: Sequence[BulkAction]) -> None:
        ids = [a.item_id for a in actions]

        def work(ctx: Any) -> Sequence[ActionResult]:
            return self._ws.act_many(actions, ctx.progress, ctx.cancel)

        handle = self._runner.network(
            "bulk action",
            work,
            on_result=lambda results: dialog.show_results(ids, results),
            on_error=lambda message, _exc: dialog.show_error(message),
            on_progress=dialog.set_progress,
            changes=lambda _results: EVERYTHING,
        )
        dialog.sig_cancel_requested.connect(handle.cancel)

    def _selection_changed(self, *_args: object) -> None:
        if not self._selecting:
            self._whole_filter = None
        self._update_selection_label()

    def _update_selection_label(self) -> None:
        n = self.model.total if self._whole_filter is not None else len(self.selected_ids())
        whole = " (all of this filter)" if self._whole_filter is not None else ""
        self.selection_label.setText(f"{n} selected{whole}" if n else "")
        self.select_all_button.setText(f"Select &all {self.model.total} of this filter")

    # -- reactions --------------------------------------------------------------------------------------------
    def _filter_changed(self, flt: ItemFilter) -> None:
        self._advance = self._pending_row = None
        self._want_selected = self.selected_item_id()
        self._whole_filter = None
        self.model.set_filter(flt)

    def _periods_loaded(self, periods: list[str]) -> None:
        # The newest month is the usual month-end target: chosen when months first appear (the first sync).
        first = self.filter_bar.period_combo.count() <= 1
        self.filter_bar.set_periods(periods, select=periods[0] if first and periods else None)

    def _summary_loaded(self, summary: Summary) -> None:
        self._summary = summary
        self.sig_summary_loaded.emit(summary)

    def _counts_loaded(self, counts: ListCounts) -> None:
        self.filter_bar.set_counts(counts.by_status)

    def _list_loaded(self, count: int) -> None:
        self._update_selection_label()
        if count == 0:
            never_synced = self._summary is not None and self._summary.last_sync is None
            self.empty_label.setText(
                "The cache is empty: press Sync now (Ctrl+R) to fetch both systems."
                if never_synced
                else "No items match this filter."
            )
        self.empty_label.setVisible(count == 0)
        wanted, self._want_selected = self._want_selected, None
        if self._advance is not None:
            self.apply_advance()
        elif wanted is not None and self.selected_item_id() != wanted:
            self.select_item(wanted)
        self._announce(self.selected_item_id())

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._announce(self.model.item_id_at(current.row()) if current.isValid() else None)

    def _announce(self, item_id: int | None) -> None:
        # A model reset clears the selection without a currentRowChanged; announcing only changes keeps the
        # detail panel from reloading the same item twice.
        if item_id != self._announced:
            self._announced = item_id
            self.sig_item_selected.emit(item_id)

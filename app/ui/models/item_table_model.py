"""The item list: a table model that pages through the database (Qt's canFetchMore/fetchMore, after Anki's
browser table model building rows on demand).

`set_filter` and `sort` ask the services for the first page of an `ItemFilter` in an order, with the counts, in
one task on the DB lane; scrolling near the end asks for the next page (keyset paging: a page starts after the
last row shown). Filtering and sorting happen in the database, never by hiding or sorting rows here.
Must not: call the services on the GUI thread, ask for every matching id, or sort rows itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

from app.domain.status import Kind
from app.services.api import ItemFilter, ItemPage, ItemRow, ListCounts, PageCursor, Recondesk
from app.ui import style
from app.ui.models.record_table_model import LEFT, RIGHT
from app.ui.tasks import TaskContext, TaskRunner

AnyIndex = QModelIndex | QPersistentModelIndex

PAGE = 200
"""Rows fetched per page: several screenfuls, so scrolling is one round trip now and then."""

ItemIdRole = Qt.ItemDataRole.UserRole + 1
"""`data(index, ItemIdRole)` is the item id of the row."""
ItemRowRole = Qt.ItemDataRole.UserRole + 2
"""`data(index, ItemRowRole)` is the `ItemRow`."""

DEFAULT_ORDER = "key"


@dataclass(frozen=True)
class ItemColumn:
    key: str
    title: str
    text: Callable[[ItemRow], str]
    align: Qt.AlignmentFlag = LEFT
    width: int = 110  # a sensible initial width in pixels, used by the view
    order: str | None = None  # the services' order for sorting by this column; None: not sortable
    tip: str = ""  # the header's tooltip


def _kind(row: ItemRow) -> str:
    labels = {Kind.CREDIT_NOTE: "Credit note", Kind.OVERPAYMENT: "Overpayment", Kind.PREPAYMENT: "Prepayment"}
    return {Kind.INVOICE: "Invoice", **labels}.get(row.kind, "Payment")


FLAG_LABEL = {"possible_duplicate": "Possible duplicate", "reopened": "Reopened", "blocked": "Blocked"}
"""Flags (product.md section 7) for people; a flagged row's status starts with FLAG_MARK, its tooltip says which."""
FLAG_MARK = "⚑"


def _status(row: ItemRow) -> str:
    text = style.status_text(row.status)
    return f"{FLAG_MARK} {text}" if row.flags else text  # the mark first: a narrow column still shows it


def flags_text(row: ItemRow) -> str:
    """ "Possible duplicate of 88059" (and any other flags), "" for none."""
    parts = []
    for flag in row.flags:
        label = FLAG_LABEL.get(flag, flag.replace("_", " ").capitalize())
        parts.append(f"{label} of {row.twin}" if flag == "possible_duplicate" and row.twin else label)
    return "; ".join(parts)


def _push(row: ItemRow) -> str:
    return style.PUSH_LABEL[row.push] if row.push is not None else ""


DIFFERENCE_TIP = "The ledger's amount minus the source's, for the amount that differs (in the item's currency)"

COLUMNS: tuple[ItemColumn, ...] = (
    ItemColumn("kind", "Kind", _kind, width=62, order="kind"),
    ItemColumn("invoice", "Invoice", lambda r: r.invoice or r.key, width=90, order="invoice"),
    ItemColumn("contact", "Contact", lambda r: r.contact, width=170, order="contact"),
    ItemColumn("date", "Date", lambda r: r.date, width=82, order="date"),
    ItemColumn("currency", "Cur.", lambda r: r.currency, width=40, order="currency"),
    ItemColumn("amount", "Amount", lambda r: style.money_text(r.amount), RIGHT, width=88, order="amount"),
    # Ledger minus source of the differing amount (the services store it at reconcile time and sort by it).
    ItemColumn(
        "difference",
        "Difference",
        lambda r: style.money_text(r.difference),
        RIGHT,
        width=88,
        order="difference",
        tip=DIFFERENCE_TIP,
    ),
    ItemColumn("status", "Status", _status, width=150, order="status"),
    ItemColumn("push", "Push", _push, width=72),
    ItemColumn("fields", "Differs in", lambda r: style.fields_text(r.fields), width=160, order="fields"),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}


class ItemTableModel(QAbstractTableModel):
    """The rows of the pages loaded so far for the current filter and order; more on `fetchMore`."""

    sig_list_loaded = Signal(int)
    """The first page of a new filter, order or refresh is in place: (items matching the filter in all)."""
    sig_counts_loaded = Signal(object)
    """Counts for the current filter arrived with its first page: (ListCounts)."""
    sig_rows_loaded = Signal(int)
    """A further page arrived and was appended: (number of rows in it)."""
    sig_rows_reloaded = Signal(int)
    """Rows changed in place were read again and repainted: (number of rows)."""
    sig_load_failed = Signal(str)
    """Loading a page failed: (message for people)."""

    def __init__(self, workspace: Recondesk, runner: TaskRunner, parent: Any = None) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._filter = ItemFilter()
        self._order = DEFAULT_ORDER
        self._rows: list[ItemRow] = []
        self._row_of: dict[int, int] = {}
        self._next: PageCursor | None = None  # where the next page starts; None: everything is loaded
        self._fetching = False
        self._total = 0
        self._generation = 0  # bumps on every new first page; late answers for an old one are dropped
        self._started = False
        self._loaded_once = False

    # -- filter, order and refresh ----------------------------------------------------------------------------
    @property
    def item_filter(self) -> ItemFilter:
        return self._filter

    @property
    def order(self) -> str:
        return self._order

    @property
    def total(self) -> int:
        """Items matching the current filter in all (loaded or not)."""
        return self._total

    @property
    def loaded(self) -> bool:
        """True once the first page arrived."""
        return self._loaded_once

    def set_filter(self, flt: ItemFilter) -> None:
        """Show the items matching `flt` (the database does the filtering)."""
        self._filter = flt
        self._started = True
        self._reload(PAGE)

    def set_order(self, order: str) -> None:
        """Sort by `order` (an `app.services.api.ORDERS` name, "-" for descending); the database sorts."""
        if order == self._order:
            return
        self._order = order
        if self._started:
            self._reload(PAGE)

    def refresh(self) -> None:
        """Data changed: read again as many rows as are loaded, keeping the old ones on screen meanwhile."""
        if self._started:
            self._reload(max(PAGE, len(self._rows)))

    def _reload(self, limit: int) -> None:
        flt, order = self._filter, self._order
        self._generation += 1
        generation = self._generation

        def fetch(_ctx: TaskContext) -> tuple[ItemPage, ListCounts]:
            return self._ws.page(flt, order, None, limit), self._ws.list_counts(flt)

        self._runner.db(
            "load item list",
            fetch,
            on_result=lambda got: self._list_arrived(generation, *got),
            on_error=lambda msg, _exc: self.sig_load_failed.emit(msg),
        )

    def _list_arrived(self, generation: int, page: ItemPage, counts: ListCounts) -> None:
        if generation != self._generation:
            return
        rows = list(page.rows)
        if [r.item_id for r in rows] == [r.item_id for r in self._rows]:
            self._rows = rows  # same rows: repaint in place so the selection and scroll position stay put
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
        else:
            self.beginResetModel()
            self._rows = rows
            self._row_of = {r.item_id: i for i, r in enumerate(rows)}
            self.endResetModel()
        self._next = page.next
        self._fetching = False
        self._total = counts.total
        self._loaded_once = True
        self.sig_counts_loaded.emit(counts)
        self.sig_list_loaded.emit(counts.total)

    # -- further pages ----------------------------------------------------------------------------------------
    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # Qt override
        return not parent.isValid() and self._next is not None

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # Qt override
        if parent.isValid() or self._next is None or self._fetching:
            return
        self._fetching = True
        flt, order, after, generation = self._filter, self._order, self._next, self._generation

        def fetch(_ctx: TaskContext) -> ItemPage:
            return self._ws.page(flt, order, after, PAGE)

        self._runner.db(
            "load item rows",
            fetch,
            on_result=lambda page: self._page_arrived(generation, page),
            on_error=lambda msg, _exc: self._page_failed(generation, msg),
        )

    def _page_arrived(self, generation: int, page: ItemPage) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._next = page.next
        # An item can reappear in a later page if it changed meanwhile (a refresh will settle it): shown once.
        new = [r for r in page.rows if r.item_id not in self._row_of]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for i, r in enumerate(new, start=first):
                self._rows.append(r)
                self._row_of[r.item_id] = i
            self.endInsertRows()
        self.sig_rows_loaded.emit(len(new))

    def _page_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._fetching = False
        self.sig_load_failed.emit(message)

    def reload_rows(self, item_ids: Collection[int]) -> None:
        """Re-read the loaded rows of these items (an operation changed them in place) on the DB lane."""
        wanted = [i for i in item_ids if i in self._row_of]
        if not wanted:
            return
        generation = self._generation

        def fetch(_ctx: TaskContext) -> list[ItemRow]:
            return list(self._ws.rows(wanted))

        self._runner.db(
            "reload item rows",
            fetch,
            on_result=lambda rows: self._rows_reloaded(generation, rows),
            on_error=lambda msg, _exc: self.sig_load_failed.emit(msg),
        )

    def _rows_reloaded(self, generation: int, rows: list[ItemRow]) -> None:
        if generation == self._generation:
            for row in rows:
                self.update_row(row)
            self.sig_rows_reloaded.emit(len(rows))

    def update_row(self, row: ItemRow) -> None:
        """Show a row the services just returned (after an action), without waiting for a refresh."""
        pos = self._row_of.get(row.item_id)
        if pos is not None:
            self._rows[pos] = row
            self.dataChanged.emit(self.index(pos, 0), self.index(pos, len(COLUMNS) - 1))

    # -- lookups ----------------------------------------------------------------------------------------------
    def item_id_at(self, row: int) -> int | None:
        return self._rows[row].item_id if 0 <= row < len(self._rows) else None

    def row_of(self, item_id: int) -> int | None:
        return self._row_of.get(item_id)

    def item_row(self, item_id: int) -> ItemRow | None:
        pos = self._row_of.get(item_id)
        return self._rows[pos] if pos is not None else None

    def ids(self) -> list[int]:
        """Ids of the rows loaded so far, in order."""
        return [r.item_id for r in self._rows]

    # -- Qt overrides -----------------------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        if role == ItemIdRole:
            return row.item_id
        if role == ItemRowRole:
            return row
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(column.align.value)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if column.key == "status":
            look = style.STATUS_LOOK[row.status]
            if role == Qt.ItemDataRole.BackgroundRole:
                return QColor(look.background)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(look.foreground)
        if column.key == "push" and row.push is not None and role == Qt.ItemDataRole.ForegroundRole:
            hex_code = style.PUSH_COLOUR.get(row.push)
            return QColor(hex_code) if hex_code else None
        if column.key == "push" and role == Qt.ItemDataRole.FontRole and row.push is not None:
            font = QFont()
            font.setBold(row.push in style.PUSH_COLOUR and row.push.value in ("failed", "uncertain"))
            return font
        return None

    def _tooltip(self, row: ItemRow) -> str:
        parts = [f"{row.key} — {style.STATUS_LOOK[row.status].label}"]
        if row.flags:
            parts.append(f"{FLAG_MARK} {flags_text(row)}: not offered for push")
        if row.reason:
            parts.append(row.reason)
        if row.fields and not row.reason:  # the reason names the differing fields already
            parts.append("Differs in: " + style.fields_text(row.fields))
        if row.note:
            parts.append("Note: " + row.note)
        return "\n".join(parts)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not (0 <= section < len(COLUMNS)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(COLUMNS[section].align.value)
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].tip:
            return COLUMNS[section].tip
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:  # Qt override
        """Sort by a column in the database; a column it cannot sort by (or -1) means the default order."""
        name = COLUMNS[column].order if 0 <= column < len(COLUMNS) else None
        if name is None:
            self.set_order(DEFAULT_ORDER)
        else:
            self.set_order(("-" if order == Qt.SortOrder.DescendingOrder else "") + name)

"""The item list: a table model that holds only item ids and builds the visible rows on demand (after Anki's
browser table model).

`set_filter` asks the services for the ids matching an `ItemFilter` (filtering happens in the database, never by
hiding rows). `data()` for a row not yet loaded returns a placeholder and asks for that row's batch of
`ItemRow`s on the DB lane; when the batch arrives the rows are cached and `dataChanged` repaints them. Rows keep
the order the services give (by key), because sorting a million ids by another column would mean loading them all.
Must not: call the services on the GUI thread, or keep anything but ids and the rows it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

from app.domain.status import Kind
from app.services.api import ItemFilter, ItemRow, Recondesk
from app.ui import style
from app.ui.models.record_table_model import LEFT, RIGHT
from app.ui.tasks import TaskContext, TaskRunner

AnyIndex = QModelIndex | QPersistentModelIndex

BATCH = 100
"""Rows fetched per call: a screenful or two, so scrolling is one round trip per page."""
CACHE_LIMIT = 5000
"""Rows kept in memory; beyond this, rows far from where the user is looking are dropped (and re-read if needed)."""

ItemIdRole = Qt.ItemDataRole.UserRole + 1
"""`data(index, ItemIdRole)` is the item id of the row (available before the row itself is loaded)."""
ItemRowRole = Qt.ItemDataRole.UserRole + 2
"""`data(index, ItemRowRole)` is the `ItemRow`, or None while it is loading."""

LOADING = "Loading…"


@dataclass(frozen=True)
class ItemColumn:
    key: str
    title: str
    text: Callable[[ItemRow], str]
    align: Qt.AlignmentFlag = LEFT
    width: int = 110  # a sensible initial width in pixels, used by the view


def _kind(row: ItemRow) -> str:
    return "Invoice" if row.kind == Kind.INVOICE else "Payment"


def _push(row: ItemRow) -> str:
    return style.PUSH_LABEL[row.push] if row.push is not None else ""


COLUMNS: tuple[ItemColumn, ...] = (
    ItemColumn("kind", "Kind", _kind, width=62),
    ItemColumn("invoice", "Invoice", lambda r: r.invoice or r.key, width=90),
    ItemColumn("contact", "Contact", lambda r: r.contact, width=170),
    ItemColumn("date", "Date", lambda r: r.date, width=82),
    ItemColumn("currency", "Cur.", lambda r: r.currency, width=40),
    ItemColumn("amount", "Amount", lambda r: style.money_text(r.amount), RIGHT, width=88),
    ItemColumn("status", "Status", lambda r: style.status_text(r.status), width=140),
    ItemColumn("push", "Push", _push, width=72),
    ItemColumn("fields", "Differs in", lambda r: style.fields_text(r.fields), width=160),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}


class ItemTableModel(QAbstractTableModel):
    """Ids of the items matching the current filter; rows loaded in batches on the DB lane."""

    sig_ids_loaded = Signal(int)
    """The id list for a new filter (or a refresh) is in place: (row count)."""
    sig_rows_loaded = Signal(int)
    """A batch of rows arrived and was painted: (number of rows in the batch)."""
    sig_load_failed = Signal(str)
    """Loading ids or rows failed: (message for people)."""

    def __init__(self, workspace: Recondesk, runner: TaskRunner, parent: Any = None) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._filter = ItemFilter()
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._rows: dict[int, ItemRow] = {}  # may hold stale rows after a refresh; they show until replaced
        self._fresh: set[int] = set()  # ids whose row was fetched since the last refresh
        self._inflight: set[int] = set()  # batch numbers being fetched for the current generation
        self._generation = 0  # bumps on every new id list; late answers for an old one are dropped
        self._loaded_once = False

    # -- filter and refresh -----------------------------------------------------------------------------------
    @property
    def item_filter(self) -> ItemFilter:
        return self._filter

    @property
    def loaded(self) -> bool:
        """True once the first id list arrived."""
        return self._loaded_once

    def set_filter(self, flt: ItemFilter) -> None:
        """Show the items matching `flt` (the database does the filtering)."""
        self._filter = flt
        self._reload_ids()

    def refresh(self) -> None:
        """Data changed: fetch the id list again and re-read visible rows, keeping the old ones on screen meanwhile."""
        self._reload_ids()

    def _reload_ids(self) -> None:
        flt = self._filter
        self._generation += 1
        generation = self._generation

        def fetch(_ctx: TaskContext) -> list[int]:
            return list(self._ws.item_ids(flt))

        self._runner.db(
            "load item ids",
            fetch,
            on_result=lambda ids: self._ids_arrived(generation, ids),
            on_error=lambda msg, _exc: self.sig_load_failed.emit(msg),
        )

    def _ids_arrived(self, generation: int, ids: list[int]) -> None:
        if generation != self._generation:
            return
        self._inflight.clear()
        self._fresh.clear()
        if ids == self._ids:
            if ids:  # same rows: repaint in place so the selection and scroll position stay put
                self.dataChanged.emit(self.index(0, 0), self.index(len(ids) - 1, len(COLUMNS) - 1))
        else:
            self.beginResetModel()
            self._ids = ids
            self._row_of = {item_id: i for i, item_id in enumerate(ids)}
            keep = set(ids)
            self._rows = {k: v for k, v in self._rows.items() if k in keep}
            self.endResetModel()
        self._loaded_once = True
        self.sig_ids_loaded.emit(len(ids))

    # -- rows on demand ---------------------------------------------------------------------------------------
    def _request_batch(self, row: int) -> None:
        batch = row // BATCH
        if batch in self._inflight:
            return
        self._inflight.add(batch)
        ids = self._ids[batch * BATCH : (batch + 1) * BATCH]
        generation = self._generation

        def fetch(_ctx: TaskContext) -> list[ItemRow]:
            return list(self._ws.rows(ids))

        self._runner.db(
            "load item rows",
            fetch,
            on_result=lambda rows: self._rows_arrived(generation, batch, ids, rows),
            on_error=lambda msg, _exc: self._rows_failed(generation, batch, msg),
        )

    def _rows_arrived(self, generation: int, batch: int, ids: list[int], rows: Sequence[ItemRow]) -> None:
        if generation != self._generation:
            return
        self._inflight.discard(batch)
        for r in rows:
            self._rows[r.item_id] = r
        # Ids the services no longer know (deleted meanwhile) count as fresh too, so we do not ask forever.
        self._fresh.update(ids)
        positions = [self._row_of[i] for i in ids if i in self._row_of]
        if positions and len(self._rows) > CACHE_LIMIT:
            self._evict(positions[0])
        if positions:
            self.dataChanged.emit(self.index(min(positions), 0), self.index(max(positions), len(COLUMNS) - 1))
        self.sig_rows_loaded.emit(len(rows))

    def _evict(self, around: int) -> None:
        """Keep the rows within half the cache limit of row `around`; the rest will be re-read on demand."""
        half = CACHE_LIMIT // 2
        keep = set(self._ids[max(0, around - half) : around + half])
        self._rows = {k: v for k, v in self._rows.items() if k in keep}
        self._fresh &= keep

    def _rows_failed(self, generation: int, batch: int, message: str) -> None:
        if generation == self._generation:
            self._inflight.discard(batch)
        self.sig_load_failed.emit(message)

    def update_row(self, row: ItemRow) -> None:
        """Show a row the services just returned (after an action), without waiting for a refresh."""
        self._rows[row.item_id] = row
        self._fresh.add(row.item_id)
        pos = self._row_of.get(row.item_id)
        if pos is not None:
            self.dataChanged.emit(self.index(pos, 0), self.index(pos, len(COLUMNS) - 1))

    # -- lookups ----------------------------------------------------------------------------------------------
    def item_id_at(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, item_id: int) -> int | None:
        return self._row_of.get(item_id)

    def item_row(self, item_id: int) -> ItemRow | None:
        return self._rows.get(item_id)

    def ids(self) -> list[int]:
        return list(self._ids)

    def all_loaded(self) -> bool:
        """True when every id has a fresh row (tests, and "select all" style actions)."""
        return all(i in self._fresh for i in self._ids)

    # -- Qt overrides -----------------------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._ids)):
            return None
        item_id = self._ids[index.row()]
        if role == ItemIdRole:
            return item_id
        if item_id not in self._fresh:
            self._request_batch(index.row())
        row = self._rows.get(item_id)
        if role == ItemRowRole:
            return row
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(column.align.value)
        if row is None:
            if role == Qt.ItemDataRole.DisplayRole:
                return LOADING if column.key == "invoice" else ""
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#808080")
            return None
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
        if row.fields:
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
        return None

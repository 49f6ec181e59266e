"""The side-by-side diff of one item: field | source | ledger, headed by the systems' names (after Picard's tag diff).

A differing field is shown three ways at once, so it is found without colour: a tinted background, bold text
and a `≠` marker before the field name. Must not: compare values itself (the services' `FieldDiff.differs`
is the one answer, computed by the same rule table as the reconciliation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from app.services.api import FieldDiff, Roles
from app.ui import style
from app.ui.models.record_table_model import LEFT, RIGHT

AnyIndex = QModelIndex | QPersistentModelIndex

COLUMNS = 3  # field, source, ledger
_MONEY_FIELDS = frozenset({"net", "tax", "total", "paid", "due", "amount"})
DiffersRole = Qt.ItemDataRole.UserRole + 1
"""`data(index, DiffersRole)` is True for a differing field."""


class DiffModel(QAbstractTableModel):
    """Rows are `FieldDiff`s of the selected item."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._diffs: list[FieldDiff] = []
        self._headers = ("Field", "Source", "Ledger")  # until `set_roles` names the systems

    def set_diffs(self, diffs: Sequence[FieldDiff]) -> None:
        self.beginResetModel()
        self._diffs = list(diffs)
        self.endResetModel()

    def set_roles(self, roles: Roles) -> None:
        self._headers = ("Field", roles.source.label, roles.ledger.label)
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, COLUMNS - 1)

    def diff_at(self, row: int) -> FieldDiff | None:
        return self._diffs[row] if 0 <= row < len(self._diffs) else None

    def differing_fields(self) -> list[str]:
        return [d.field for d in self._diffs if d.differs]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._diffs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else COLUMNS

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._diffs)):
            return None
        diff = self._diffs[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                label = diff.label or style.field_label(diff.field)
                return f"{style.DIFF_MARKER} {label}" if diff.differs else f"   {label}"
            value = diff.source if col == 1 else diff.ledger
            return style.money_text(value) if diff.field in _MONEY_FIELDS else value
        if role == DiffersRole:
            return diff.differs
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int((RIGHT if col > 0 and diff.field in _MONEY_FIELDS else LEFT).value)
        if role == Qt.ItemDataRole.BackgroundRole and diff.differs:
            return QColor(style.DIFF_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole and diff.differs:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if diff.differs:
                return f"{diff.label or diff.field}: {self._headers[1]} and {self._headers[2]} disagree"
            return f"{diff.label or diff.field}: the same on both sides"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < COLUMNS:
            if role == Qt.ItemDataRole.DisplayRole:
                return self._headers[section]
        return None

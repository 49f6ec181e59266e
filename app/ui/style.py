"""How statuses, push states, field names and amounts look on screen; where the icons are.

One place for the words and colours, so every view says "Only in Xero" the same way and a status is never shown
by colour alone (each has a text and a marker too). Must not: call the services or hold state.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from PySide6.QtGui import QColor, QIcon

from app.domain.status import ItemStatus, PushState, Role, system_for


@dataclass(frozen=True, slots=True)
class StatusLook:
    label: str  # for people
    marker: str  # a glyph that survives colour blindness and greyscale printing
    background: str  # light tint, readable under black text
    foreground: str


STATUS_LOOK: dict[ItemStatus, StatusLook] = {
    ItemStatus.MATCHED: StatusLook("Matched", "✓", "#e3f1e5", "#1d5e2a"),
    ItemStatus.DIFFERS: StatusLook("Differs", "≠", "#fdebc8", "#7a4b00"),
    ItemStatus.ONLY_IN_SOURCE: StatusLook(f"Only in {system_for(Role.SOURCE).label}", "◧", "#e0ebf8", "#1b4a80"),
    ItemStatus.ONLY_IN_LEDGER: StatusLook(f"Only in {system_for(Role.LEDGER).label}", "◨", "#ece3f6", "#4f2a7a"),
    ItemStatus.RESOLVED: StatusLook("Resolved", "◆", "#ebebeb", "#3d3d3d"),
    ItemStatus.INVALID: StatusLook("Invalid", "⚠", "#f8dcdc", "#8a1c1c"),
}

PUSH_LABEL: dict[PushState, str] = {
    PushState.PENDING: "Pending",
    PushState.SENDING: "Sending…",
    PushState.SUCCEEDED: "Pushed",
    PushState.FAILED: "Push failed",
    PushState.UNCERTAIN: "Uncertain",
}

PUSH_COLOUR: dict[PushState, str] = {
    PushState.FAILED: "#8a1c1c",
    PushState.UNCERTAIN: "#7a4b00",
    PushState.SUCCEEDED: "#1d5e2a",
}

FIELD_LABEL: dict[str, str] = {
    "number": "Invoice number",
    "contact": "Contact",
    "issue_date": "Issue date",
    "due_date": "Due date",
    "po_number": "PO number",
    "currency": "Currency",
    "net": "Net",
    "tax": "Tax",
    "total": "Total",
    "paid": "Paid",
    "due": "Due",
    "state": "State",
    "lines": "Lines",
    "invoice": "Invoice",
    "date": "Date",
    "amount": "Amount",
    "reference": "Reference",
    "method": "Method",
    "direction": "Direction",
}

DIFF_BACKGROUND = "#fdebc8"
DIFF_MARKER = "≠"


def status_text(status: ItemStatus) -> str:
    look = STATUS_LOOK[status]
    return f"{look.marker} {look.label}"


def field_label(name: str) -> str:
    return FIELD_LABEL.get(name, name.replace("_", " ").capitalize())


def fields_text(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(field_label(n) for n in names)


def money_text(amount: str) -> str:
    """`"12345.6"` -> `"12,345.60"`-style grouping, keeping exactly the decimals the services gave (no float)."""
    if not amount:
        return ""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return amount
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"


def local_time(at: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """The services keep instants as naive UTC; people read them in their own time zone."""
    if at is None:
        return ""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone().strftime(fmt)


def colour(hex_code: str) -> QColor:
    return QColor(hex_code)


def resources_dir() -> Path:
    """`resources/` of the source tree, or of a PyInstaller bundle (which copies it next to the code)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def icon(name: str) -> QIcon:
    """An SVG icon from `resources/icons/<name>.svg`; an empty icon if it is missing (never an exception)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()

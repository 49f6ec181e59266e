"""The pack's workbook (XlsxWriter): a summary sheet (period, preparer, when, control totals per system and
currency, sign-off), then "Exceptions" grouped by kind, "All items", "Decisions", "Audit extract", and the
unreadable records.

Typed cells: amounts are numbers with their currency's number format, dates are dates. Every text from a service is
written with `write_string`, so nothing becomes a formula whatever it starts with, and the workbook is made with
XlsxWriter's conversions off. Headers are words, header rows frozen, tables filtered.
Must not: read the database or write a formula from data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.money import decimals
from app.services.pack.model import DECISION_LABELS, Column, PackData, label, parse_date


class _Book:
    """A workbook with the pack's formats; `row` writes one row of typed cells."""

    def __init__(self, buf: io.BytesIO) -> None:
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(
            buf,
            {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False},
        )
        self.bold = self.wb.add_format({"bold": True})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#E6E6E6", "text_wrap": True, "valign": "top"})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.date = self.wb.add_format({"num_format": "yyyy-mm-dd", "align": "left"})
        self.stamp = self.wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss", "align": "left"})
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self._money: dict[str, Any] = {}

    def money(self, currency: str | None) -> Any:
        code = currency or ""
        if code not in self._money:
            places = decimals(code or None)
            pattern = "#,##0" + ("." + "0" * places if places else "")
            suffix = f' "{code}"' if code.isalpha() else ""
            self._money[code] = self.wb.add_format({"num_format": pattern + suffix})
        return self._money[code]

    def text(self, ws: Any, r: int, c: int, value: object, fmt: Any = None) -> None:
        if value is None or value == "":
            return
        ws.write_string(r, c, str(value), fmt)

    def amount(self, ws: Any, r: int, c: int, value: str | None, currency: str | None) -> None:
        if value:
            ws.write_number(r, c, float(Decimal(value)), self.money(currency))

    def day(self, ws: Any, r: int, c: int, value: str | None) -> None:
        day = parse_date(value)
        if day is not None:
            ws.write_datetime(r, c, datetime(day.year, day.month, day.day), self.date)
        else:
            self.text(ws, r, c, value)

    def header(self, ws: Any, r: int, titles: Sequence[str], widths: Sequence[int]) -> None:
        for c, (title, width) in enumerate(zip(titles, widths, strict=True)):
            ws.write_string(r, c, title, self.head)
            ws.set_column(c, c, width)
        ws.freeze_panes(r + 1, 0)

    def items(self, ws: Any, r: int, columns: Sequence[Column], item: dict[str, Any]) -> None:
        for c, col in enumerate(columns):
            value = col.get(item)
            if col.kind == "amount":
                self.amount(ws, r, c, value, item.get("currency"))
            elif col.kind == "date":
                self.day(ws, r, c, value)
            else:
                self.text(ws, r, c, value)


def to_xlsx(data: PackData) -> bytes:
    buf = io.BytesIO()
    book = _Book(buf)
    columns = data.columns()
    _summary(book, data)
    titles, widths = [c.title for c in columns], [c.width for c in columns]

    ws = book.wb.add_worksheet("Exceptions")
    book.header(ws, 0, ["Exception", *titles], [18, *widths])
    r = 1
    for title, rows in data.exception_groups():
        for item in rows:
            book.text(ws, r, 0, title)
            _shift_items(book, ws, r, columns, item)
            r += 1
    ws.autofilter(0, 0, max(r - 1, 1), len(columns))

    ws = book.wb.add_worksheet("All items")
    book.header(ws, 0, titles, widths)
    for r, item in enumerate(data.items, start=1):
        book.items(ws, r, columns, item)
    ws.autofilter(0, 0, max(len(data.items), 1), len(columns) - 1)

    ws = book.wb.add_worksheet("Decisions")
    book.header(ws, 0, ["When", "Who", "Kind", "Key", "Decision", "Note"], [20, 18, 9, 26, 24, 60])
    for r, d in enumerate(data.decisions, start=1):
        ws.write_datetime(r, 0, d["at"], book.stamp)
        book.text(ws, r, 1, d["who"])
        book.text(ws, r, 2, str(d["kind"]).capitalize())
        book.text(ws, r, 3, d["key"])
        book.text(ws, r, 4, label(DECISION_LABELS, d["decision"]))
        book.text(ws, r, 5, d["note"], book.wrap)
    ws.autofilter(0, 0, max(len(data.decisions), 1), 5)

    ws = book.wb.add_worksheet("Audit extract")
    book.header(
        ws,
        0,
        ["Entry", "When", "Who", "Action", "Kind", "Key", "Before", "After", "Note"],
        [8, 20, 18, 16, 9, 26, 40, 40, 40],
    )
    for r, e in enumerate(data.audit, start=1):
        ws.write_number(r, 0, e["id"])
        ws.write_datetime(r, 1, e["at"], book.stamp)
        for c, name in enumerate(("who", "action", "kind", "key", "before", "after", "note"), start=2):
            book.text(ws, r, c, e[name])
    ws.autofilter(0, 0, max(len(data.audit), 1), 8)

    ws = book.wb.add_worksheet("Unreadable records")
    book.header(ws, 0, ["Kind", "Key", "Invoice", "Date", "Reason"], [9, 34, 14, 12, 80])
    for r, item in enumerate(data.unreadable, start=1):
        book.text(ws, r, 0, str(item.get("kind") or "").capitalize())
        book.text(ws, r, 1, item.get("key"))
        book.text(ws, r, 2, item.get("invoice"))
        book.day(ws, r, 3, item.get("date"))
        book.text(ws, r, 4, item.get("reason"))
    ws.autofilter(0, 0, max(len(data.unreadable), 1), 4)
    book.wb.close()
    return buf.getvalue()


def _shift_items(book: _Book, ws: Any, r: int, columns: Sequence[Column], item: dict[str, Any]) -> None:
    """An item row one column to the right (the exception sheet's first column names the group)."""
    shifted = [Column("", lambda _i: None), *columns]
    book.items(ws, r, shifted, item)


def _summary(book: _Book, data: PackData) -> None:
    ws = book.wb.add_worksheet("Summary")
    ws.set_column(0, 0, 26)
    ws.set_column(1, 6, 18)
    ws.write_string(0, 0, f"Month-end pack: {data.period_text}", book.title)
    rows: list[tuple[str, object]] = [
        ("Period", data.period_text),
        ("Prepared by", data.preparer),
        ("Generated at", data.generated_at),
    ]
    r = 2
    for name, value in rows:
        ws.write_string(r, 0, name, book.bold)
        if isinstance(value, datetime):
            ws.write_datetime(r, 1, value.replace(tzinfo=None), book.stamp)
        else:
            book.text(ws, r, 1, value)
        r += 1
    r += 1
    ws.write_string(r, 0, "Sign-off", book.bold)
    s = data.signoff
    if not s:
        ws.write_string(r, 1, "Not signed off")
        r += 1
    else:
        for name, key in (("Signed off by", "by"), ("At", "at"), ("Note", "note"), ("Hash of the items", "hash")):
            ws.write_string(r, 1, name)
            book.text(ws, r, 2, s.get(key))
            r += 1
        ws.write_string(r, 1, "With exceptions")
        ws.write_string(r, 2, "Yes" if s.get("with_exceptions") else "No")
        r += 1
    r += 1
    ws.write_string(r, 0, "Control totals", book.bold)
    r += 1
    for c, title in enumerate(("System", "Currency", "Invoices", "Total", "Paid", "Due")):
        ws.write_string(r, c, title, book.head)
    r += 1
    for t in data.totals_rows():
        book.text(ws, r, 0, t.system)
        book.text(ws, r, 1, t.currency)
        if t.invoices is not None:
            ws.write_number(r, 2, t.invoices)
        for c, value in ((3, t.total), (4, t.paid), (5, t.due)):
            book.amount(ws, r, c, value, t.currency)
        r += 1
    r += 1
    ws.write_string(r, 0, "Items by status", book.bold)
    r += 1
    for name, n in data.counts():
        ws.write_string(r, 0, name)
        ws.write_number(r, 1, n)
        r += 1
    ws.activate()

"""The pack's PDF for filing (fpdf2): a cover with period, preparer, sign-off and control totals per system and
currency; the exceptions grouped by kind with their reasons, decisions and notes; the matched items summarised per
kind and currency (listed only when `PackData.all_items`); the unreadable records. Every page has a header and a
"Page n of m" footer; table cells wrap, so nothing is cut off; the key and date columns are as wide as their longest
value, so each stays on one line (and whole in the text layer).

Must not: read the database, truncate a value, or add amounts of different currencies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF

from app.domain.status import Role, system_for
from app.services.pack.model import FIELD_LABELS, FLAG_LABELS, PackData, label

_SOURCE, _LEDGER = system_for(Role.SOURCE).label, system_for(Role.LEDGER).label

_FONTS = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (Path("C:/Windows/Fonts/arial.ttf"), Path("C:/Windows/Fonts/arialbd.ttf")),
    (Path("/System/Library/Fonts/Supplemental/Arial.ttf"), Path("/System/Library/Fonts/Supplemental/Arial Bold.ttf")),
)
_SIZE = 8.0  # points, table text
_LINE = 3.6  # mm, a table line
_PAD = 0.9  # mm, inside a table cell
_HEAD_FILL = (230, 230, 230)
_UNREADABLE = ("kind", "key", "invoice", "reason")


class _Pdf(FPDF):
    def __init__(self, data: PackData) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.data = data
        self.set_margins(12, 16, 12)
        self.set_auto_page_break(auto=True, margin=14)
        fonts = next(((r, b) for r, b in _FONTS if r.is_file() and b.is_file()), None)
        if fonts is not None:
            self.add_font("body", "", str(fonts[0]))
            self.add_font("body", "B", str(fonts[1]))
            self.family_name = "body"
            self.clean: Callable[[str], str] = lambda text: text
        else:  # the built-in fonts are Latin-1 only: other characters become "?" rather than stopping the export
            self.family_name = "helvetica"
            self.clean = lambda text: text.encode("latin-1", "replace").decode("latin-1")
        self._widths: dict[tuple[str, str], float] = {}
        self.set_font(self.family_name, "", _SIZE)
        self._space = self.get_string_width(" ")
        self.set_title(f"Month-end pack {data.period_text}")
        self.set_creator("Recondesk")

    def header(self) -> None:
        self.set_font(self.family_name, "", 8)
        self.set_text_color(90, 90, 90)
        self.set_y(7)
        self.cell(0, 5, self.clean(f"Recondesk · Month-end pack · {self.data.period_text}"))
        self.set_x(self.l_margin)
        stamp = f"Prepared by {self.data.preparer} · generated {self.data.generated_at:%Y-%m-%d %H:%M}"
        self.cell(0, 5, self.clean(stamp), align="R")
        self.line(self.l_margin, 12.5, self.w - self.r_margin, 12.5)
        self.set_text_color(0, 0, 0)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(self.family_name, "", 8)
        self.set_text_color(90, 90, 90)
        s = self.data.signoff
        left = f"Signed off by {s.get('by')} at {s.get('at')}" if s else "Not signed off"
        self.cell(0, 5, self.clean(left))
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: float = 12) -> None:
        if self.will_page_break(30):  # a heading never ends a page: it keeps its table head and a row
            self.add_page()
        self.ln(2)
        self.set_font(self.family_name, "B", size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.set_font(self.family_name, "", _SIZE)

    def para(self, text: str) -> None:
        self.set_font(self.family_name, "", 9)
        self.multi_cell(0, 4.6, self.clean(text), new_x="LMARGIN", new_y="NEXT")

    def table_of(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        right: Sequence[int] = (),
    ) -> None:
        """A table whose cells wrap (at spaces, or inside a word longer than its column); the headings repeat on
        each page. Drawn line by line with cached word widths: fpdf2's own table measures every cell twice and is
        several times slower for a month's exceptions."""
        self.set_draw_color(150, 150, 150)
        self.set_line_width(0.15)
        self._row(headings, widths, right, head=True)
        for values in rows:
            self._row(values, widths, right, headings=headings)
        self.ln(2)

    def _row(
        self,
        values: Sequence[str],
        widths: Sequence[float],
        right: Sequence[int],
        *,
        head: bool = False,
        headings: Sequence[str] = (),
    ) -> None:
        self.set_font(self.family_name, "B" if head else "", _SIZE)
        cells = [self.wrap(self.clean(v), w - 2 * _PAD) for v, w in zip(values, widths, strict=True)]
        height = max(len(c) for c in cells) * _LINE + 2 * _PAD
        if self.will_page_break(height):
            self.add_page()
            if headings:
                self._row(headings, widths, right, head=True)
                self.set_font(self.family_name, "", _SIZE)
        x, y = self.l_margin, self.get_y()
        for n, (lines, width) in enumerate(zip(cells, widths, strict=True)):
            if head:
                self.set_fill_color(*_HEAD_FILL)
            self.rect(x, y, width, height, style="DF" if head else "D")
            for k, line in enumerate(lines):
                self.set_xy(x + _PAD, y + _PAD + k * _LINE)
                self.cell(width - 2 * _PAD, _LINE, line, align="R" if n in right else "L")
            x += width
        self.set_xy(self.l_margin, y + height)

    def wrap(self, text: str, width: float) -> list[str]:
        """`text` in lines no wider than `width` (mm) in the current font; never drops a character."""
        lines: list[str] = []
        for paragraph in text.split("\n") or [""]:
            line, line_w = "", 0.0
            for word in paragraph.split(" "):
                word_w = self._width(word)
                if line and line_w + self._space + word_w <= width:
                    line, line_w = f"{line} {word}", line_w + self._space + word_w
                    continue
                if line:
                    lines.append(line)
                while word_w > width and len(word) > 1:  # a word longer than the column: break it
                    cut = len(word) - 1
                    while cut > 1 and self._width(word[:cut]) > width:
                        cut -= 1
                    lines.append(word[:cut])
                    word = word[cut:]
                    word_w = self._width(word)
                line, line_w = word, word_w
            lines.append(line)
        return lines

    def _width(self, word: str) -> float:
        key = (self.font_style, word)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = self.get_string_width(word)
        return found

    def fit(self, values: Sequence[str], floor: float, cap: float) -> float:
        """The width (mm) that holds the longest of `values` on one line at the table size, within [floor, cap]."""
        self.set_font(self.family_name, "", _SIZE)
        longest = max((self.get_string_width(self.clean(v)) for v in values), default=0.0)
        return min(cap, max(floor, longest + 2.5))


def _grouped(amount: str | None) -> str:
    """A decimal string with thousands separators, digit for digit (no float on the way)."""
    return f"{Decimal(amount):,}" if amount else ""


def _money(amount: str | None, currency: str | None) -> str:
    return f"{_grouped(amount)} {currency or ''}".strip() if amount else ""


def to_pdf(data: PackData) -> bytes:
    pdf = _Pdf(data)
    pdf.add_page()
    _cover(pdf, data)
    _exceptions(pdf, data)
    _matched(pdf, data)
    if data.unreadable:
        pdf.heading("Unreadable records (no period could be read)")
        rows = [
            [str(i.get(k) or "").capitalize() if k == "kind" else str(i.get(k) or "") for k in _UNREADABLE]
            for i in data.unreadable
        ]
        key_w = pdf.fit(["Key", *(r[1] for r in rows)], 30, 110)
        pdf.table_of(["Kind", "Key", "Invoice", "Reason"], rows, [16, key_w, 28, pdf.epw - 44 - key_w])
    return bytes(pdf.output())


def _cover(pdf: _Pdf, data: PackData) -> None:
    pdf.set_font(pdf.family_name, "B", 20)
    pdf.cell(0, 12, pdf.clean(f"Month-end pack: {data.period_text}"), new_x="LMARGIN", new_y="NEXT")
    pdf.para(f"Prepared by {data.preparer}, generated {data.generated_at:%Y-%m-%d %H:%M %Z}".strip())
    pdf.heading("Sign-off")
    s = data.signoff
    if not s:
        pdf.para("This period is not signed off.")
    else:
        exceptions = "with the exceptions listed below" if s.get("with_exceptions") else "with no open exception"
        pdf.para(f"Signed off by {s.get('by')} at {s.get('at')}, {exceptions}.")
        if s.get("note"):
            pdf.para(f"Note: {s['note']}")
        pdf.para(f"Hash of the period's items: {s.get('hash')}")
    pdf.heading("Control totals per system and currency")
    rows = [
        [t.system, t.currency, "" if t.invoices is None else str(t.invoices), *map(_grouped, (t.total, t.paid, t.due))]
        for t in data.totals_rows()
    ]
    pdf.table_of(
        ["System", "Currency", "Invoices", "Total", "Paid", "Due"], rows, [40, 22, 22, 40, 40, 40], (2, 3, 4, 5)
    )
    counts = data.counts()
    if counts:
        pdf.heading("Items by status")
        pdf.table_of(["Status", "Items"], [[n, str(c)] for n, c in counts], [50, 22], (1,))


def _exception_rows(data: PackData, items: Sequence[dict[str, Any]]) -> list[list[str]]:
    decision = data.decision_text()
    rows = []
    for i in items:
        what = ", ".join(label(FIELD_LABELS, f) for f in i.get("fields") or ())
        if i.get("field"):
            what += f"; {i['field']}: {i.get('source_value')!r} in {_SOURCE}, {i.get('ledger_value')!r} in {_LEDGER}"
        flags = ", ".join(label(FLAG_LABELS, f) for f in i.get("flags") or ())
        if i.get("twin"):
            flags += f" (twin {i['twin']})"
        decided = "; ".join(x for x in (decision(i), f"Note: {i['note']}" if i.get("note") else "") if x)
        rows.append(
            [
                i["key"],
                i.get("date") or "",
                i.get("contact") or "",
                _money(i.get("amount"), i.get("currency")),
                _grouped(i.get("difference")),
                "; ".join(x for x in (what, flags) if x),
                i.get("reason") or "",
                decided,
            ]
        )
    return rows


def _exceptions(pdf: _Pdf, data: PackData) -> None:
    groups = data.exception_groups()
    pdf.heading(f"Exceptions ({sum(len(rows) for _, rows in groups)})", 14)
    if not groups:
        pdf.para("None: every item of the period is matched.")
        return
    headings = ["Key", "Date", "Contact", "Amount", "Difference", "What differs", "Reason", "Decision and note"]
    for title, group in groups:
        for kind in ("invoice", "payment", "credit_note", "overpayment", "prepayment"):
            items = [i for i in group if i["kind"] == kind]
            if items:
                what = kind.replace("_", " ")
                _exception_table(pdf, data, f"{title}: {what}s ({len(items)})", items, headings)


def _exception_table(pdf: _Pdf, data: PackData, title: str, items: list[dict[str, Any]], headings: list[str]) -> None:
    """One table per kind of exception and kind of item, as wide as its own longest key and date, so they stay
    whole on one line (payment keys carry a ledger id and are much longer than invoice numbers)."""
    rows = _exception_rows(data, items)
    key_w = pdf.fit(["Key", *(r[0] for r in rows)], 20, 110)
    date_w = pdf.fit(["Date", *(r[1] for r in rows)], 16, 24)
    fixed = [key_w, date_w, 36, 24, 20]
    rest = pdf.epw - sum(fixed)
    pdf.heading(title, 11)
    pdf.table_of(headings, rows, [*fixed, rest * 0.4, rest * 0.35, rest * 0.25], (3, 4))


def _matched(pdf: _Pdf, data: PackData) -> None:
    summary = data.matched_summary()
    pdf.heading("Matched items", 14)
    if not summary:
        pdf.para("No matched item in this period.")
        return
    rows = [[k, c, str(n), _grouped(t)] for k, c, n, t in summary]
    pdf.table_of(["Kind", "Currency", "Items", "Total"], rows, [30, 22, 22, 40], (2, 3))
    if not data.all_items:
        pdf.para('Matched items are listed in the workbook\'s "All items" sheet and the CSV (or with --all-items).')
        return
    rows = [
        [
            i["kind"].capitalize(),
            i["key"],
            i.get("date") or "",
            i.get("contact") or "",
            _money(i.get("amount"), i.get("currency")),
        ]
        for i in data.matched()
    ]
    key_w = pdf.fit(["Key", *(r[1] for r in rows)], 20, 110)
    date_w = pdf.fit(["Date", *(r[2] for r in rows)], 16, 24)
    pdf.table_of(
        ["Kind", "Key", "Date", "Contact", "Amount"],
        rows,
        [16, key_w, date_w, pdf.epw - 16 - key_w - date_w - 36, 36],
        (4,),
    )

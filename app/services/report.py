"""The reconciliation report: `build_report(db, period)` gives the JSON of product.md section 5, and writers turn it
into json, csv, xlsx (openpyxl) or pdf (fpdf2) bytes.

Amounts are strings with the currency's decimals from the cache's integer minor units to the file: never a float.
In xlsx they are text cells, because openpyxl writes a Decimal through float (84512.40 would become
84512.39999999999 in the file).
Money is never added across currencies: totals are per system and currency (`control_totals`), and a system's
top-level `total`/`paid` is null when the period holds several currencies. Periods are checked (`check_period`).
Must not: query remote systems, hold secrets (the report has no connection data at all), or change the cache.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.money import fmt, from_minor
from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, Role, System, system_for
from app.reconcile.diff import canonical_ledger_invoice
from app.reconcile.rules import Rules
from app.services import signoff
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database, Tx
from app.storage.models import ItemRecord

FORMATS = ("json", "csv", "xlsx", "pdf")

CSV_COLUMNS = (
    "kind",
    "key",
    "status",
    "fields",
    "invoice",
    "contact",
    "date",
    "amount",
    "currency",
    "accessplanit_id",
    "xero_id",
    "push",
    "note",
    "flags",
    "twin",
    "difference",
    "reason",
)


def _amount(item: ItemRecord) -> str | None:
    if item.amount_minor is None:
        return None
    return fmt(from_minor(item.amount_minor, item.currency or None), item.currency or None)


def report_item(item: ItemRecord, difference: str | None = None) -> dict[str, Any]:
    """One item in the report's shape (section 5) with section 7's `flags`, `reason`, `twin` (flagged items) and
    `difference` (where an amount differs); payments and invoices both carry invoice/date/amount."""
    out = {
        "kind": str(item.kind),
        "key": item.key,
        "status": str(item.status),
        "fields": list(item.fields),
        "accessplanit_id": item.source_id,
        "xero_id": item.ledger_id,
        "push": str(item.push_state) if item.push_state is not None else None,
        "invoice": item.invoice or item.invoice_key or None,
        "contact": item.contact,
        "date": item.date.isoformat() if item.date else None,
        "amount": _amount(item),
        "currency": item.currency or None,
        "note": item.note,
        "flags": list(item.flags),
        "reason": item.reason,
    }
    if item.twin is not None:
        out["twin"] = item.twin
    if difference is not None:
        out["difference"] = difference
    return out


# The amounts whose difference the report gives (`difference`: ledger minus source), first differing one wins.
_AMOUNT_FIELDS = ("total", "net", "tax", "paid", "due", "amount")


def _difference(item: ItemRecord, source: Invoice | Payment | None, ledger: Invoice | Payment | None) -> str | None:
    """Ledger minus source of the item's first differing amount, with the currency's decimals; None when no amount
    differs or a side is missing. `ledger` is the canonical one (refunds applied) for invoices."""
    name = next((f for f in _AMOUNT_FIELDS if f in item.fields), None)
    if name is None or source is None or ledger is None or type(source) is not type(ledger):
        return None
    a, b = getattr(source, name, None), getattr(ledger, name, None)
    if not isinstance(a, Decimal) or not isinstance(b, Decimal):
        return None
    return fmt(b - a, source.currency or None)


class PeriodError(ValueError):
    """A period that is not `YYYY-MM` with a month 1-12; the message is one line for people."""


def check_period(period: str | None) -> str | None:
    """`period` when it is `YYYY-MM` (month 1-12) or None; raises `PeriodError` otherwise."""
    if period is None:
        return None
    text = period.strip()
    ok = len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()
    if not ok or not 1 <= int(text[5:]) <= 12 or int(text[:4]) < 1:
        raise PeriodError(f"a period is YYYY-MM with a month from 01 to 12 (e.g. 2026-10), not {period!r}")
    return text


Invoices = dict[System, dict[str, Invoice]]


def _invoices(tx: Tx) -> Invoices:
    return {system: {inv.id: inv for inv in records_repo.load_invoices(tx, system)} for system in System}


def control_totals(
    tx: Tx, rows: Sequence[ItemRecord], rules: Rules, invoices: Invoices | None = None
) -> dict[str, Any]:
    """Per system: `invoices` (count), `total` and `paid` (null when the invoices are in more than one currency:
    never a sum across currencies) and `by_currency.<CODE>` = {invoices, total, paid, due} as strings. Counts the
    invoice items of `rows` that are not invalid, each system's own record; Xero's paid/due are the canonical ones
    (refunds paid out of credit notes applied, docs/reconciliation.md section 4)."""
    invoices = invoices if invoices is not None else _invoices(tx)
    refunds = records_repo.ledger_refunds_on_keys(tx, {r.invoice_key for r in rows if r.kind is Kind.INVOICE})
    totals: dict[str, Any] = {}
    for system in System:
        sums: dict[str, list[Any]] = {}  # currency -> [count, total, paid, due]
        for item in rows:
            if item.kind is not Kind.INVOICE or item.status is ItemStatus.INVALID:
                continue
            remote = item.source_id if system.role is Role.SOURCE else item.ledger_id
            inv = invoices[system].get(remote) if remote else None
            if inv is None:
                continue
            if system.role is Role.LEDGER:
                inv = canonical_ledger_invoice(inv, rules, refunds.get(item.invoice_key, Decimal(0)))
            acc = sums.setdefault(inv.currency, [0, Decimal(0), Decimal(0), Decimal(0)])
            acc[0] += 1
            acc[1] += inv.total
            acc[2] += inv.paid
            acc[3] += inv.due
        by_currency = {
            c: {"invoices": str(n), "total": fmt(t, c), "paid": fmt(p, c), "due": fmt(d, c)}
            for c, (n, t, p, d) in sorted(sums.items())
        }
        single = next(iter(by_currency.values())) if len(by_currency) == 1 else None
        totals[str(system)] = {
            "invoices": sum(n for n, *_ in sums.values()),
            "total": single["total"] if single else (None if by_currency else "0.00"),
            "paid": single["paid"] if single else (None if by_currency else "0.00"),
            "by_currency": by_currency,
        }
    return totals


def _unreadable(item: ItemRecord) -> dict[str, Any]:
    return {
        "kind": str(item.kind),
        "key": item.key,
        "accessplanit_id": item.source_id,
        "xero_id": item.ledger_id,
        "invoice": item.invoice or item.invoice_key or None,
        "reason": item.reason or item.note,
    }


def _signoff(tx: Tx, period: str | None, rows: Sequence[ItemRecord]) -> dict[str, Any] | None:
    """Section 8's `signoff` (by, at, note, with_exceptions, hash), plus whether a later sync reopened it."""
    if period is None:
        return None
    found = signoff_repo.current_signoff(tx, period)
    if found is None:
        return None
    reopened = [r.key for r in rows if signoff.REOPENED in r.flags]
    return {
        "by": found.who,
        "at": found.at.isoformat(),
        "note": found.note,
        "with_exceptions": found.with_exceptions,
        "hash": found.hash,
        "exceptions": found.exceptions,
        "totals": found.totals,
        "reopened": bool(reopened),
        "reopened_keys": reopened,
    }


def build_report(db: Database, period: str | None, rules: Rules | None = None) -> dict[str, Any]:
    """The report of `period` (`YYYY-MM`, or None for everything in the cache). Records that could not be read and
    have no readable date belong to no month: they are listed under `unreadable` (with their reason) in every
    period's report, never among its items. Raises `PeriodError` for a period that is not `YYYY-MM`."""
    period = check_period(period)
    rules = rules or Rules()
    with db.transaction(readonly=True) as tx:
        ids = items_repo.query_item_ids(tx, period)
        every = items_repo.item_rows(tx, list(ids))
        rows = [r for r in every if r.period is not None or r.status is not ItemStatus.INVALID]
        loose = [r for r in every if r.period is None and r.status is ItemStatus.INVALID]
        invoices = _invoices(tx)
        totals = control_totals(tx, rows, rules, invoices)
        refunds = records_repo.ledger_refunds_on_keys(tx, {r.invoice_key for r in rows if r.kind is Kind.INVOICE})
        signed = _signoff(tx, period, rows)
        since = signoff.drift_since(tx, period, rows, rules) if signed is not None and period else {}
    rows = sorted(rows, key=lambda r: (0 if r.kind is Kind.INVOICE else 1, r.key))
    counts: dict[str, int] = {}
    for item in rows:
        counts[str(item.status)] = counts.get(str(item.status), 0) + 1
    differences: dict[int, str | None] = {}
    for item in rows:
        if not any(f in item.fields for f in _AMOUNT_FIELDS):
            continue
        if item.kind is Kind.INVOICE:
            src = invoices[system_for(Role.SOURCE)].get(item.source_id or "")
            led = invoices[system_for(Role.LEDGER)].get(item.ledger_id or "")
            if led is not None:
                led = canonical_ledger_invoice(led, rules, refunds.get(item.invoice_key, Decimal(0)))
            differences[item.id] = _difference(item, src, led)
        elif item.source_record_id is not None and item.ledger_record_id is not None:
            with db.transaction(readonly=True) as tx:  # differing payment amounts: few
                pay_src = records_repo.get_record(tx, item.source_record_id).record
                pay_led = records_repo.get_record(tx, item.ledger_record_id).record
            differences[item.id] = _difference(item, pay_src, pay_led)
    items = []
    for r in rows:
        out = report_item(r, differences.get(r.id))
        if r.id in since:
            out["since"] = since[r.id]
        items.append(out)
    return {
        "period": period,
        "totals": totals,
        "counts": counts,
        "signoff": signed,
        "items": items,
        "unreadable": [_unreadable(r) for r in sorted(loose, key=lambda r: r.key)],
    }


# --- writers ------------------------------------------------------------------------------------------------


def to_json(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _cell(item: dict[str, Any], column: str) -> str:
    value = item.get(column)
    if column in ("fields", "flags"):
        return ";".join(value or [])
    return "" if value is None else str(value)


def to_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in report["items"]:
        writer.writerow([_cell(item, c) for c in CSV_COLUMNS])
    # utf-8-sig: Excel opens a BOM-less UTF-8 CSV as ANSI and garbles names such as "Zoë".
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Items"
    ws.append(list(CSV_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    right = Alignment(horizontal="right")
    amount_col = CSV_COLUMNS.index("amount") + 1
    for item in report["items"]:
        ws.append([_cell(item, c) for c in CSV_COLUMNS])
        ws.cell(row=ws.max_row, column=amount_col).alignment = right
    ws.freeze_panes = "A2"
    widths = (8, 28, 15, 24, 14, 30, 11, 12, 8, 14, 38, 10, 30, 18, 14, 12, 60)
    for letter, width in zip("ABCDEFGHIJKLMNOPQ", widths, strict=True):
        ws.column_dimensions[letter].width = width
    tot = wb.create_sheet("Totals")
    tot.append(["period", report.get("period") or "all"])
    tot.append(["system", "invoices", "total", "paid"])
    for system, t in report["totals"].items():
        tot.append([System(system).label, t["invoices"], t["total"], t["paid"]])
        for col in (3, 4):
            tot.cell(row=tot.max_row, column=col).alignment = right
    tot.append([])
    tot.append(["status", "items"])
    for status, n in sorted(report.get("counts", {}).items()):
        tot.append([status, n])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_PDF_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("C:/Windows/Fonts/arial.ttf"),
    Path("/System/Library/Fonts/Supplemental/Arial.ttf"),
    Path("/Library/Fonts/Arial.ttf"),
)


def to_pdf(report: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    font = next((p for p in _PDF_FONTS if p.is_file()), None)
    if font is not None:
        pdf.add_font("body", "", str(font))
        family = "body"

        def clean(text: str) -> str:
            return text
    else:
        # The built-in fonts are Latin-1 only; other characters become "?" rather than stopping the export.
        family = "helvetica"

        def clean(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    pdf.set_font(family, size=14)
    pdf.cell(
        0, 8, clean(f"Reconciliation report: {report.get('period') or 'all periods'}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font(family, size=9)
    for system, t in report["totals"].items():
        pdf.cell(
            0,
            5,
            clean(f"{System(system).label}: {t['invoices']} invoices, total {t['total']}, paid {t['paid']}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    counts = report.get("counts", {})
    if counts:
        pdf.cell(0, 5, clean(", ".join(f"{k} {v}" for k, v in sorted(counts.items()))), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    columns: list[tuple[str, float, Callable[[dict[str, Any]], str]]] = [
        ("Kind", 14, lambda i: str(i["kind"])),
        ("Key", 44, lambda i: str(i["key"])),
        ("Status", 24, lambda i: str(i["status"])),
        ("Contact", 42, lambda i: i.get("contact") or ""),
        ("Fields", 36, lambda i: ", ".join(i["fields"])),
        ("Date", 18, lambda i: i.get("date") or ""),
        ("Amount", 26, lambda i: (i.get("amount") or "") + (" " + i["currency"] if i.get("currency") else "")),
        ("accessplanit", 20, lambda i: i.get("accessplanit_id") or ""),
        ("Xero", 38, lambda i: i.get("xero_id") or ""),
        ("Push", 15, lambda i: i.get("push") or ""),
    ]

    def header() -> None:
        pdf.set_font(family, size=8)
        pdf.set_fill_color(230, 230, 230)
        for title, width, _ in columns:
            pdf.cell(width, 5, title, border=1, fill=True)
        pdf.ln()

    header()
    for item in report["items"]:
        if pdf.will_page_break(5):
            pdf.add_page()
            header()
        for title, width, get in columns:
            text = clean(get(item))
            while text and pdf.get_string_width(text) > width - 2:  # clip rather than wrap: one row per item
                text = text[:-1]
            pdf.cell(width, 5, text, border=1, align="R" if title == "Amount" else "L")
        pdf.ln()
    return bytes(pdf.output())


WRITERS: dict[str, Callable[[dict[str, Any]], bytes]] = {"json": to_json, "csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}


def report_bytes(db: Database, period: str | None, fmt_name: str, rules: Rules | None = None) -> bytes:
    """The report of `period` in format `fmt_name` (json, csv, xlsx, pdf)."""
    writer = WRITERS.get(fmt_name)
    if writer is None:
        raise ValueError(f"unknown report format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    return writer(build_report(db, period, rules))

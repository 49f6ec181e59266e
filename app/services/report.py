"""The reconciliation report: `build_report(db, period)` gives the JSON of product.md section 5; `report_bytes`
gives it as json, or as csv, xlsx or pdf through the month-end pack's writers (app/services/pack).

Amounts are strings with the currency's decimals from the cache's integer minor units to the JSON: never a float.
Must not: query remote systems, hold secrets (the report has no connection data at all), or change the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from app.domain.money import decimals, fmt, from_minor
from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, Role, System, system_for
from app.reconcile.diff import canonical_ledger_invoice
from app.reconcile.rules import Rules
from app.services.pack.csv_writer import to_csv
from app.services.pack.model import PackData, pack_from_report
from app.services.pack.pdf_writer import to_pdf
from app.services.pack.xlsx_writer import to_xlsx
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage.db import Database
from app.storage.models import ItemRecord

FORMATS = ("json", "csv", "xlsx", "pdf")


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


def _sum_text(amounts: dict[str, Decimal]) -> str:
    """One figure for the totals line: exact when all invoices share a currency (the normal case)."""
    total = sum(amounts.values(), Decimal(0))
    currencies = list(amounts)
    places = decimals(currencies[0]) if len(currencies) == 1 else max((decimals(c) for c in currencies), default=2)
    return f"{total:.{places}f}"


def build_report(db: Database, period: str | None, rules: Rules | None = None) -> dict[str, Any]:
    """The report of `period` (`YYYY-MM`, or None for everything in the cache)."""
    rules = rules or Rules()
    with db.transaction(readonly=True) as tx:
        ids = items_repo.query_item_ids(tx, period)
        rows = items_repo.item_rows(tx, list(ids))
        invoices = {system: {inv.id: inv for inv in records_repo.load_invoices(tx, system)} for system in System}
        refunds = records_repo.ledger_refunds_on_keys(tx, {r.invoice_key for r in rows if r.kind is Kind.INVOICE})
    rows = sorted(rows, key=lambda r: (0 if r.kind is Kind.INVOICE else 1, r.key))
    totals: dict[str, Any] = {}
    for system in System:
        count = 0
        total: dict[str, Decimal] = {}
        paid: dict[str, Decimal] = {}
        for item in rows:
            if item.kind is not Kind.INVOICE or item.status is ItemStatus.INVALID:
                continue
            remote = item.source_id if system.role is Role.SOURCE else item.ledger_id
            inv = invoices[system].get(remote) if remote else None
            if inv is None:
                continue
            if system.role is Role.LEDGER:
                # Xero's paid as the rules compare it (docs/reconciliation.md section 4): minus its refunds.
                inv = canonical_ledger_invoice(inv, rules, refunds.get(item.invoice_key, Decimal(0)))
            count += 1
            total[inv.currency] = total.get(inv.currency, Decimal(0)) + inv.total
            paid[inv.currency] = paid.get(inv.currency, Decimal(0)) + inv.paid
        totals[str(system)] = {
            "invoices": count,
            "total": _sum_text(total) if total else "0.00",
            "paid": _sum_text(paid) if paid else "0.00",
            "by_currency": {c: {"total": fmt(total[c], c), "paid": fmt(paid[c], c)} for c in sorted(total)},
        }
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
    items = [report_item(r, differences.get(r.id)) for r in rows]
    return {"period": period, "totals": totals, "counts": counts, "items": items}


# --- writers ------------------------------------------------------------------------------------------------


def to_json(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _pack_writer(write: Callable[[PackData], bytes]) -> Callable[[dict[str, Any]], bytes]:
    """csv, xlsx and pdf are the month-end pack's writers (app/services/pack) over this report."""
    return lambda report: write(pack_from_report(report))


WRITERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "json": to_json,
    "csv": _pack_writer(to_csv),
    "xlsx": _pack_writer(to_xlsx),
    "pdf": _pack_writer(to_pdf),
}


def report_bytes(db: Database, period: str | None, fmt_name: str, rules: Rules | None = None) -> bytes:
    """The report of `period` in format `fmt_name` (json, csv, xlsx, pdf)."""
    writer = WRITERS.get(fmt_name)
    if writer is None:
        raise ValueError(f"unknown report format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    return writer(build_report(db, period, rules))

"""The reconciliation report: `build_report(db, period)` gives the JSON of product.md section 5; `report_bytes`
gives it as json, or as csv, xlsx or pdf through the month-end pack's writers (app/services/pack).

Amounts are strings with the currency's decimals from the cache's integer minor units to the JSON: never a float;
the month-end pack's files (`app.services.pack`) type them as numbers.
Money is never added across currencies: totals are per system and currency (`control_totals`), and a system's
top-level `total`/`paid` is null when the period holds several currencies. Periods are checked (`check_period`).
Must not: query remote systems, hold secrets (the report has no connection data at all), or change the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from app.domain.money import fmt, from_minor
from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, Role, System, system_for
from app.reconcile.diff import canonical_ledger_invoice
from app.reconcile.rules import Rules
from app.services import signoff
from app.services.pack.csv_writer import to_csv
from app.services.pack.model import PackData, pack_from_report
from app.services.pack.pdf_writer import to_pdf
from app.services.pack.xlsx_writer import to_xlsx
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database, Tx
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


Groups = dict[System, dict[str, str | None]]


def _payment_groups(tx: Tx, number_keys: set[str]) -> Groups:
    """Per system, payment id -> the combined payment it is a part of (`Payment.group`), for the payments on
    `number_keys` (the invoices of the report's payment items)."""
    if not number_keys:
        return {system: {} for system in System}
    return {
        system: {p.id: p.group for p in records_repo.load_payments(tx, system, number_keys=number_keys)}
        for system in System
    }


def _added_keys(item: ItemRecord, invoices: Invoices, groups: Groups) -> dict[str, str | None]:
    """Keys added after section 5 (never renaming one): a payment's `group`, the combined payment it is a part of
    (the source's, else the ledger's; null for a payment on one invoice), and an invoice's `rate`, the exchange rate
    the ledger gives it (Xero's CurrencyRate as text; null when none; shown, never used to convert)."""
    source, ledger = system_for(Role.SOURCE), system_for(Role.LEDGER)
    if item.kind is Kind.PAYMENT:
        group = groups[source].get(item.source_id or "") or groups[ledger].get(item.ledger_id or "")
        return {"group": group or None}
    if item.kind is Kind.INVOICE:
        rate = next(
            (
                inv.rate
                for inv in (invoices[ledger].get(item.ledger_id or ""), invoices[source].get(item.source_id or ""))
                if inv is not None and inv.rate is not None
            ),
            None,
        )
        return {"rate": str(rate) if rate is not None else None}
    return {}


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
        groups = _payment_groups(tx, {r.invoice_key for r in rows if r.kind is Kind.PAYMENT})
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
        out.update(_added_keys(r, invoices, groups))
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

"""Building and writing the month-end pack: `build_pack` reads the period's report, standing decisions and audit
entries into one `PackData`; `write_pack` writes the xlsx, pdf and csv into a folder.

Files are written under temporary names and renamed only when all three are done, so a cancel or a failure leaves
no half-written pack (and no temporary file); each file is created private to the user (0600).
Must not: query remote systems, change the cache, or put a secret in a file (the report has no connection data).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.money import fmt
from app.domain.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from app.domain.records import Invoice
from app.domain.status import ItemStatus, Kind, System
from app.reconcile.diff import canonical_ledger_invoice
from app.reconcile.rules import INVOICE_FIELDS, Rules
from app.services.pack.csv_writer import to_csv
from app.services.pack.model import PackData, pack_from_report
from app.services.pack.pdf_writer import to_pdf
from app.services.pack.xlsx_writer import to_xlsx
from app.services.report import build_report
from app.storage import audit as audit_repo
from app.storage import decisions as decisions_repo
from app.storage import records as records_repo
from app.storage.db import Database, Tx

PACK_WRITERS: dict[str, Callable[[PackData], bytes]] = {"xlsx": to_xlsx, "pdf": to_pdf, "csv": to_csv}
_AUDIT_LIMIT = 1_000_000  # the whole log, newest first; filtered to the period's items below


def build_pack(
    db: Database, period: str | None, rules: Rules | None = None, *, preparer: str = "", all_items: bool = False
) -> PackData:
    """The pack of `period`: the report, plus the standing decisions and the audit entries on its items (and on
    the period itself: a sign-off)."""
    rules = rules or Rules()
    report = build_report(db, period, rules)
    keys = {(str(i["kind"]), str(i["key"])) for i in report["items"]}
    with db.transaction(readonly=True) as tx:
        report["items"] = _with_values(tx, report["items"], rules)
        standing = [
            d
            for d in (*decisions_repo.active_decisions(tx).values(), *decisions_repo.active_matches(tx).values())
            if (d.kind.value, d.key) in keys and d.resolution != decisions_repo.REOPEN
        ]
        entries = audit_repo.list_audit(tx, _AUDIT_LIMIT)
    item_keys = {k for _, k in keys} | ({period} if period else set())
    decisions = [
        {"at": d.at, "who": d.who, "kind": d.kind.value, "key": d.key, "decision": d.resolution, "note": d.note}
        for d in sorted(standing, key=lambda d: d.at)
    ]
    audit = [
        {
            "id": e.id,
            "at": e.at,
            "who": e.who,
            "action": e.action,
            "kind": e.item_kind,
            "key": e.item_key,
            "before": e.before,
            "after": e.after,
            "note": e.note,
        }
        for e in reversed(entries)
        if e.item_key in item_keys
    ]
    return pack_from_report(report, preparer=preparer, decisions=decisions, audit=audit, all_items=all_items)


_GETTERS = {f.name: f for f in INVOICE_FIELDS}


def _value(value: object, currency: str) -> str:
    if isinstance(value, Decimal):
        return fmt(value, currency or None)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return f"{len(value)} lines"
    return "" if value is None else str(value)


def _with_values(tx: Tx, items: list[dict[str, Any]], rules: Rules) -> list[dict[str, Any]]:
    """Items where an invoice differs gain `field` (the first differing field, in words) and its value on each side
    (`source_value`, `ledger_value`): what a reader of the pack needs to see what differs."""
    wanted = {
        (i["accessplanit_id"], i["xero_id"]): i
        for i in items
        if i["kind"] == Kind.INVOICE and i["status"] == ItemStatus.DIFFERS and i["fields"] and i["xero_id"]
    }
    if not wanted:
        return items
    source_ids, ledger_ids = {a for a, _ in wanted}, {b for _, b in wanted}
    src = {i.id: i for i in records_repo.load_invoices(tx, System.ACCESSPLANIT) if i.id in source_ids}
    led = {i.id: i for i in records_repo.load_invoices(tx, System.XERO) if i.id in ledger_ids}
    refunds = records_repo.ledger_refunds_on_keys(tx, {i["key"] for i in wanted.values()})
    out = []
    for item in items:
        pair = (item["accessplanit_id"], item["xero_id"])
        a, b = src.get(pair[0] or ""), led.get(pair[1] or "")
        rule = _GETTERS.get(item["fields"][0]) if item["fields"] else None
        if pair in wanted and isinstance(a, Invoice) and isinstance(b, Invoice) and rule is not None:
            b = canonical_ledger_invoice(b, rules, refunds.get(item["key"], Decimal(0)))
            item = {
                **item,
                "field": rule.label,
                "source_value": _value(rule.getter(a), a.currency),
                "ledger_value": _value(rule.getter(b), b.currency),
            }
        out.append(item)
    return out


def pack_names(period: str | None) -> dict[str, str]:
    stem = f"recondesk-pack-{period or 'all'}"
    return {fmt_name: f"{stem}.{fmt_name}" for fmt_name in PACK_WRITERS}


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_pack(
    data: PackData,
    directory: Path,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[Path]:
    """Write the pack's files into `directory` (which must exist); returns their paths. Raises `CancelledError`
    when cancelled, OSError when a file cannot be written: either way nothing of this pack is left behind."""
    cancel = cancel or CancelToken()
    names = pack_names(data.period)
    temps: dict[Path, Path] = {}
    try:
        for n, (fmt_name, writer) in enumerate(PACK_WRITERS.items()):
            cancel.check()
            progress(ProgressEvent(f"month-end pack: {fmt_name}", n, len(PACK_WRITERS), unit="files"))
            final = directory / names[fmt_name]
            temp = directory / f".{names[fmt_name]}.{os.getpid()}.part"
            temps[final] = temp
            _write_private(temp, writer(data))
        cancel.check()
        for final, temp in temps.items():
            os.replace(temp, final)
        progress(ProgressEvent("month-end pack", len(PACK_WRITERS), len(PACK_WRITERS), unit="files"))
        return list(temps)
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

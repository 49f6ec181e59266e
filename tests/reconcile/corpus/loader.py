"""Reads `cases.json` into domain records: one `Case` per labelled case.

Amounts the cases do not give take neutral values (net = total, no tax, nothing paid, no lines, an open state), the
same on both sides, so they never make a difference of their own.
Must not: label anything (the labels are the file's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.records import Invoice, Payment
from app.domain.status import Direction, InvoiceState, System

CASES = Path(__file__).resolve().parent / "cases.json"
Link = tuple[str, str, str]  # (kind, source id, ledger id)


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    about: str
    source_invoices: list[Invoice]
    ledger_invoices: list[Invoice]
    source_payments: list[Payment]
    ledger_payments: list[Payment]
    links: frozenset[Link]
    auto: frozenset[Link]
    known_gap: str


def _invoice(system: System, r: dict[str, Any]) -> Invoice:
    total = Decimal(r["total"])
    return Invoice(
        system=system, id=r["id"], number=r["number"], contact=r["contact"], issue_date=date.fromisoformat(r["date"]),
        due_date=None, po_number=r.get("po", ""), currency=r["cur"], net=total, tax=Decimal(0), total=total,
        paid=Decimal(0), due=total, state=InvoiceState.OPEN,
    )  # fmt: skip


def _payment(system: System, r: dict[str, Any]) -> Payment:
    method = "BACS" if system is System.ACCESSPLANIT else "090"
    return Payment(
        system=system, id=r["id"], invoice_number=r["invoice"], invoice_id=None, date=date.fromisoformat(r["date"]),
        amount=Decimal(r["amount"]), reference=r["ref"], method=method, direction=Direction(r["dir"]),
        currency=r["cur"],
    )  # fmt: skip


def load(path: Path = CASES) -> list[Case]:
    out = []
    for c in json.loads(path.read_text()):
        src, led = c["source"], c["ledger"]
        out.append(
            Case(
                id=c["id"],
                category=c["category"],
                about=c["about"],
                source_invoices=[_invoice(System.ACCESSPLANIT, r) for r in src["invoices"]],
                ledger_invoices=[_invoice(System.XERO, r) for r in led["invoices"]],
                source_payments=[_payment(System.ACCESSPLANIT, r) for r in src["payments"]],
                ledger_payments=[_payment(System.XERO, r) for r in led["payments"]],
                links=frozenset((k, s, g) for k, s, g in c["links"]),
                auto=frozenset((k, s, g) for k, s, g in c["auto"]),
                known_gap=c.get("known_gap", ""),
            )
        )
    return out

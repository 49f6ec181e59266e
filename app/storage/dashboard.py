"""Aggregates of the money view, each one `GROUP BY` in the database: per system and currency the invoices' count,
total, paid and due; per status and currency the items and their value; what is still open per currency (noted with
each sync run).

Amounts stay integer minor units of their currency, grouped by currency: nothing here adds different currencies.
Must not: format money, judge statuses beyond the one list of open ones, or write anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from app.domain.status import Direction, ItemStatus, Kind, Role, System, system_for
from app.storage.db import Tx
from app.storage.items import _filtered
from app.storage.schema import items, records

OPEN_STATUSES = (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER, ItemStatus.INVALID)
"""Statuses that still need someone: their items' value is what is "open"."""


@dataclass(frozen=True, slots=True)
class TotalsRow:
    system: System
    currency: str
    invoices: int
    total_minor: int
    paid_minor: int
    due_minor: int


def currency_totals(tx: Tx, period: str | None) -> list[TotalsRow]:
    """Per system and currency: the period's readable invoices behind its invoice items (not `invalid` ones), with
    their total, paid and due as each system holds them; the ledger's paid and due with its refunds applied
    (docs/reconciliation.md section 4: paid - R, due + R), as the report and the rules read them."""
    out: list[TotalsRow] = []
    ledger = system_for(Role.LEDGER)
    refunds = (
        select(records.c.number_key.label("key"), func.sum(records.c.amount_minor).label("minor"))
        .where(
            records.c.system == ledger.value,
            records.c.kind == Kind.PAYMENT.value,
            records.c.direction == Direction.REFUND.value,
            records.c.deleted.is_(False),
            records.c.invalid_reason.is_(None),
        )
        .group_by(records.c.number_key)
        .subquery()
    )
    for system in (system_for(Role.SOURCE), ledger):
        link = items.c.source_record_id if system.role is Role.SOURCE else items.c.ledger_record_id
        refund = func.coalesce(refunds.c.minor, 0) if system is ledger else 0
        joined = items.join(records, records.c.id == link)
        if system is ledger:
            joined = joined.outerjoin(refunds, refunds.c.key == items.c.invoice_key)
        q = select(
            records.c.currency,
            func.count(),
            func.sum(records.c.total_minor),
            func.sum(records.c.paid_minor - refund),
            func.sum(records.c.due_minor + refund),
        ).select_from(joined)
        q = q.where(
            and_(
                items.c.kind == Kind.INVOICE.value,
                items.c.status != ItemStatus.INVALID.value,
                records.c.invalid_reason.is_(None),
            )
        )
        q = _filtered(q, period, (), None, "").group_by(records.c.currency).order_by(records.c.currency)
        for currency, n, total, paid, due in tx.conn.execute(q):
            out.append(TotalsRow(system, currency or "", int(n), int(total or 0), int(paid or 0), int(due or 0)))
    return out


def status_values(tx: Tx, period: str | None) -> list[tuple[str, str, int, int]]:
    """(status, currency, items, value in minor units) of the period's items, by status then currency."""
    q = _filtered(
        select(items.c.status, items.c.currency, func.count(), func.coalesce(func.sum(items.c.amount_minor), 0)),
        period,
        (),
        None,
        "",
    )
    q = q.group_by(items.c.status, items.c.currency).order_by(items.c.status, items.c.currency)
    return [(s, c or "", int(n), int(v)) for s, c, n, v in tx.conn.execute(q)]


def open_value(tx: Tx) -> dict[str, int]:
    """What is still open now, all periods: the value of the items of an open status, per currency (minor units)."""
    q = (
        select(items.c.currency, func.coalesce(func.sum(items.c.amount_minor), 0))
        .where(items.c.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(items.c.currency)
    )
    return {c or "": int(v) for c, v in tx.conn.execute(q)}

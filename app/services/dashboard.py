"""The money view of a period (`Recondesk.dashboard`): per system and currency the invoices' count, total, paid and
due; the difference between the systems per currency (ledger minus source); the items and their value by status;
open items and open value across the last syncs (from the sync-run log); connection health, the last run's
rate-limit budget and the last health check of each connection.

Every aggregate is a `GROUP BY` in the database (`app.storage.dashboard`); this module turns minor units into Decimal
per currency and pairs the two systems' figures. Nothing is ever added across currencies.
Must not: write anything, talk to the network, or format money for people (views do, with `Dashboard.decimals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from app.domain.money import decimals, from_minor
from app.domain.status import ItemStatus, Role, System
from app.services.api import (
    ConnectionHealth,
    CurrencyDifference,
    Dashboard,
    DashboardTotals,
    HealthCheck,
    Roles,
    RunPoint,
    StatusValue,
)
from app.storage import dashboard as dashboard_repo
from app.storage import synclog
from app.storage.db import Database

OPEN = frozenset(dashboard_repo.OPEN_STATUSES)


def build_dashboard(
    db: Database, period: str | None, roles: Roles, configured: Mapping[System, bool], runs: int = 20
) -> Dashboard:
    """The dashboard of `period` (None: all periods) with the last `runs` finished sync runs, oldest first."""
    with db.transaction(readonly=True) as tx:
        totals_rows = dashboard_repo.currency_totals(tx, period)
        status_rows = dashboard_repo.status_values(tx, period)
        run_rows = synclog.list_runs(tx, runs + 1)
        checks = synclog.last_health(tx)
    totals = tuple(
        DashboardTotals(
            r.system,
            r.currency,
            r.invoices,
            from_minor(r.total_minor, r.currency),
            from_minor(r.paid_minor, r.currency),
            from_minor(r.due_minor, r.currency),
        )
        for r in totals_rows
    )
    by_status = tuple(
        StatusValue(ItemStatus(s), c, n, from_minor(v, c), ItemStatus(s) in OPEN) for s, c, n, v in status_rows
    )
    finished = [r for r in run_rows if r.finished_at is not None][:runs]
    points = tuple(
        RunPoint(
            r.id,
            r.finished_at,
            {s.value: int(r.counts.get(s.value, 0)) for s in dashboard_repo.OPEN_STATUSES},
            None if r.open_value is None else {c: from_minor(v, c) for c, v in sorted(r.open_value.items())},
        )
        for r in reversed(finished)
        if r.finished_at is not None
    )
    last = run_rows[0] if run_rows else None
    health = []
    for system in (roles.source, roles.ledger):
        errors = [s.error for s in (last.streams if last else ()) if s.system is system and s.error]
        prefix = f"{system.value}."
        budget = {k.removeprefix(prefix): v for k, v in (last.budget if last else {}).items() if k.startswith(prefix)}
        check = checks.get(system)
        last_check = None if check is None else HealthCheck(system, check.level, check.message, check.at, check.seconds)
        health.append(
            ConnectionHealth(system, bool(configured.get(system)), errors[0] if errors else "", budget, last_check)
        )
    currencies = {t.currency for t in totals} | {s.currency for s in by_status}
    for point in points:
        currencies |= set(point.open_value or {})
    return Dashboard(
        period=period,
        roles=roles,
        totals=totals,
        differences=_differences(totals, roles),
        by_status=by_status,
        runs=points,
        health=tuple(health),
        last_sync=last.finished_at if last is not None else None,
        last_sync_ok=last.ok if last is not None else None,
        decimals={c: decimals(c or None) for c in sorted(currencies)},
    )


def _differences(totals: tuple[DashboardTotals, ...], roles: Roles) -> tuple[CurrencyDifference, ...]:
    """Ledger minus source per currency; a currency held by one system only counts the other's as zero."""
    by = {(t.system, t.currency): t for t in totals}
    out = []
    for currency in sorted({t.currency for t in totals}):
        zero = DashboardTotals(roles.source, currency, 0, Decimal(0), Decimal(0), Decimal(0))
        src = by.get((roles.system(Role.SOURCE), currency), zero)
        led = by.get((roles.system(Role.LEDGER), currency), zero)
        out.append(
            CurrencyDifference(
                currency, led.invoices - src.invoices, led.total - src.total, led.paid - src.paid, led.due - src.due
            )
        )
    return tuple(out)

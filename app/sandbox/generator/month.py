"""One generated month: plans every invoice slot (`scenarios`), writes them in each service's wire format
(`accessplanit`, `xero`) and asks the oracle for the items the app must produce.

It only orders the steps; what a month contains, how each side writes it and what the rules say live in those
modules. The expected items are computed from the wire records, never from the scenario names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.sandbox.generator.accessplanit import AccessplanitWriter
from app.sandbox.generator.oracle import expected_items, invoice_key, no_gc
from app.sandbox.generator.scenarios import Calendar, Planner
from app.sandbox.generator.xero import Guids, XeroWriter


@dataclass
class Dataset:
    """One generated month: the wire records of both systems and the items the app must produce.

    `scenarios` maps each invoice's normalized number to the scenario it was built from (for tests and people;
    the expected statuses never depend on it). `month` is `YYYY-MM`.
    """

    accessplanit: dict[str, list[dict[str, Any]]]
    xero: dict[str, dict[str, Any]]
    expected: list[dict[str, Any]]
    scenarios: dict[str, str] = field(default_factory=dict)
    month: str = ""
    seed: int = 0


def generate(seed: int = 1, invoices: int = 200, month: str = "2026-10", *, paid_instalments: float = 1.0) -> Dataset:
    """Make one month of both systems' records and the items the app must produce. Same arguments, same output.

    `paid_instalments`: the mean number of payments an invoice paid in full (`matched_paid`) is paid in, in both
    systems (1 by default; about 3.9 gives 150,000 payments a system for 100,000 invoices, the month issue 4's
    throughput figure asks for)."""
    if not 1.0 <= paid_instalments <= 50.0:
        raise ValueError("paid_instalments must be between 1 and 50")
    if invoices < 0:
        raise ValueError("invoices must be >= 0")
    cal = Calendar.of(month)
    with no_gc():
        planner = Planner(seed, invoices, cal, paid_instalments)
        ap = AccessplanitWriter(cal)
        xero = XeroWriter(cal, Guids(seed))
        scenarios: dict[str, str] = {}
        for slot, scenario in enumerate(planner.scenario_list()):
            p = planner.plan(slot, scenario)
            scenarios[invoice_key(p.number)] = scenario
            if p.in_source:
                ap.add(p)
            if p.in_ledger:
                xero.add(p)
        envelopes = xero.envelopes()
        return Dataset(
            accessplanit=ap.records,
            xero=envelopes,
            expected=expected_items(ap.records, envelopes),
            scenarios=scenarios,
            month=month,
            seed=seed,
        )

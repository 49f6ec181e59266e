"""What is particular to Xero as a service, for the generic HTTP layer: its label, its paced limits, the headers
that say how many calls are left and which limit a 429 hit, and the shape of its validation errors;
and how its reference data reads for the checks before a push (lock dates, tax types, accounts, contacts).

Must not: make requests or read records (that is `client`, `streams`, `mapping`); import another system's package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from app.connectors.base import PushFacts, normalised_name
from app.connectors.http import PacerConfig, ServiceProfile


def error_reasons(body: Mapping[str, Any]) -> tuple[str, ...]:
    """`Elements[].ValidationErrors[].Message` of a refused write (`summarizeErrors=false`)."""
    return tuple(
        str(v.get("Message"))
        for element in body.get("Elements") or []
        if isinstance(element, dict)
        for v in element.get("ValidationErrors") or []
        if isinstance(v, dict)
    )


XERO = ServiceProfile(
    label="Xero",
    # 50 a minute per tenant with a burst of 5 keeps any rolling minute at or under 55, below Xero's 60; Xero
    # allows 5 calls in flight, 2 leave room for the user's other apps.
    pacing=PacerConfig(rate=50 / 60, burst=5, max_in_flight=2),
    budget_prefix="xero.",
    budget_headers={
        "X-MinLimit-Remaining": "min_remaining",
        "X-DayLimit-Remaining": "day_remaining",
        "X-AppMinLimit-Remaining": "app_min_remaining",
    },
    rate_problem_header="X-Rate-Limit-Problem",
    error_reasons=error_reasons,
)


LOCKS = (("PeriodLockDate", "period lock date"), ("EndOfYearLockDate", "end of year lock date"))
"""Xero's lock dates (Organisation) and their names for people: nothing dated on or before one may be written."""
ADVISER_FREE = frozenset({"period lock date"})
"""Xero's period lock date stops "all users except advisers"; the end of year lock date stops advisers too."""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def lock_refusal(label: str, day: date) -> str:
    """Xero's validation message for a document dated in a locked period, in its own words ("The document date
    cannot be before the end of year lock date, currently set at 31-Jul-2013", a 400 quoted in xeroizer#92)."""
    shown = f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"
    return f"The document date cannot be before the {label}, currently set at {shown}"


def _day(value: Any) -> date | None:
    """A lock date as the cache holds it: `YYYY-MM-DD...` text or Xero's `/Date(ms)/`."""
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    match = re.match(r"^/Date\((-?\d+)", text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def ledger_facts(reference: Mapping[str, Any]) -> PushFacts:
    """The cached `organisation`, `accounts`, `tax_rates` and `contacts` entries (stream -> list of dicts) read
    for the checks before a push: lock dates, active tax types (`Status` ACTIVE) and account codes (`Status`
    ACTIVE), and contacts that are not archived."""
    locks: list[tuple[str, date]] = []
    for org in reference.get("organisation") or []:
        for name, label in LOCKS:
            day = _day(org.get(name))
            if day is not None:
                locks.append((label, day))
    tax_types = {
        str(r.get("TaxType")): str(r.get("Status", "ACTIVE")).upper() == "ACTIVE"
        for r in reference.get("tax_rates") or []
        if r.get("TaxType")
    }
    accounts = {
        str(r.get("Code")).strip(): str(r.get("Status", "ACTIVE")).upper() == "ACTIVE"
        for r in reference.get("accounts") or []
        if r.get("Code")
    }
    live = [c for c in reference.get("contacts") or [] if str(c.get("ContactStatus", "ACTIVE")).upper() != "ARCHIVED"]
    contacts = {normalised_name(str(c.get("Name", ""))): str(c.get("ContactID", "")) for c in live if c.get("Name")}
    ids = frozenset(str(c.get("ContactID")) for c in live if c.get("ContactID"))
    refusals = {label: lock_refusal(label, day) for label, day in locks}
    return PushFacts(tuple(locks), tax_types, accounts, contacts, ids, ADVISER_FREE, refusals)

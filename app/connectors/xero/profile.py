"""What is particular to Xero as a service, for the generic HTTP layer: its label, its paced limits, the headers
that say how many calls are left and which limit a 429 hit, and the shape of its validation errors.

Must not: make requests or read records (that is `client`, `streams`, `mapping`); import another system's package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

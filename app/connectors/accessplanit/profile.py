"""What is particular to accessplanit as a service, for the generic HTTP layer: its label, its paced limits and
the shape of its error bodies.

Must not: make requests or read records (that is `client`, `streams`, `mapping`); import another system's package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.connectors.http import PacerConfig, ServiceProfile


def error_reasons(body: Mapping[str, Any]) -> tuple[str, ...]:
    """`{"errors": [{"field", "message"}]}`, each as "field: message"."""
    return tuple(
        (f"{err['field']}: " if err.get("field") else "") + str(err.get("message", ""))
        for err in body.get("errors") or []
        if isinstance(err, dict)
    )


ACCESSPLANIT = ServiceProfile(
    label="accessplanit",
    # 4,800 an hour per endpoint, under the documented 5,000, with a burst of 100.
    pacing=PacerConfig(rate=4800 / 3600, burst=100, max_in_flight=2),
    budget_prefix="accessplanit.",
    error_reasons=error_reasons,
)

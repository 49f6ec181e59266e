"""Match keys. One place decides how invoice numbers are normalized and how items are keyed in reports.

Must not: depend on anything but the standard library.
"""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def invoice_key(number: str | None) -> str:
    """Normalized invoice number: trimmed, inner whitespace removed, upper case. `inv-1042 ` -> `INV-1042`."""
    return _SPACE.sub("", number or "").upper()


def payment_key(invoice: str | None, source_id: str | None, ledger_id: str | None) -> str:
    """Report key of a payment item: `INV-1042:P88:X0f6e...` (`-` for a missing side). Stable across syncs: the
    letters `P` (the source's record) and `X` (the ledger's) are part of keys already stored and reported."""
    return f"{invoice_key(invoice) or '?'}:{'P' + source_id if source_id else '-'}:" + (
        f"X{ledger_id}" if ledger_id else "-"
    )


def credit_note_key(number: str | None, ledger_id: str) -> str:
    """Report key of a credit note item: `CN-0007:X3c1d...` (its normalized number, then the ledger's id)."""
    return f"{invoice_key(number) or '?'}:X{ledger_id}"


def invalid_key(system: str, kind: str, record_id: str) -> str:
    """Report key of an invalid record: `invalid:accessplanit:payment:88`."""
    return f"invalid:{system}:{kind}:{record_id}"

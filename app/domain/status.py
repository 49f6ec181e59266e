"""The fixed vocabularies of `docs/product.md`: systems, item kinds, item statuses, push states, invoice states.

Must not: rename a value; tests, reports and scripts outside this repo rely on the strings.
"""

from __future__ import annotations

from enum import StrEnum


class System(StrEnum):
    ACCESSPLANIT = "accessplanit"  # the source: invoices are born here
    XERO = "xero"  # the ledger

    @property
    def other(self) -> System:
        return System.XERO if self is System.ACCESSPLANIT else System.ACCESSPLANIT

    @property
    def label(self) -> str:
        return {"accessplanit": "accessplanit", "xero": "Xero"}[self.value]


class Kind(StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"


class ItemStatus(StrEnum):
    MATCHED = "matched"
    DIFFERS = "differs"
    ONLY_IN_SOURCE = "only_in_source"
    ONLY_IN_LEDGER = "only_in_ledger"
    RESOLVED = "resolved"
    INVALID = "invalid"


class PushState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class InvoiceState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PART_PAID = "part_paid"
    PAID = "paid"
    VOID = "void"


class Direction(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class Resolution(StrEnum):
    ACCEPT_SOURCE = "accept_accessplanit"
    ACCEPT_LEDGER = "accept_xero"
    IGNORE = "ignore"

"""The fixed vocabularies of `docs/product.md`: systems and their roles, item kinds, item statuses, push states,
invoice states.

Must not: rename a value; tests, reports and scripts outside this repo rely on the strings.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a system is to a reconciliation: the generic layers speak of roles, never of vendors."""

    SOURCE = "source"  # where invoices are born (accessplanit)
    LEDGER = "ledger"  # the books (Xero today; QuickBooks Online next)

    @property
    def other(self) -> Role:
        return Role.LEDGER if self is Role.SOURCE else Role.SOURCE


class System(StrEnum):
    """A vendor a connection reaches. Adding a ledger adds a member here (with its role and label) plus a connector
    package and its registration in the composition root; nothing in the generic layers names a member."""

    ACCESSPLANIT = "accessplanit"
    XERO = "xero"

    @property
    def role(self) -> Role:
        return _ROLES[self.value]

    @property
    def other(self) -> System:
        return System.XERO if self is System.ACCESSPLANIT else System.ACCESSPLANIT

    @property
    def label(self) -> str:
        return _LABELS[self.value]


_ROLES = {"accessplanit": Role.SOURCE, "xero": Role.LEDGER}
_LABELS = {"accessplanit": "accessplanit", "xero": "Xero"}


def system_for(role: Role) -> System:
    """The system that plays `role` in this build. The generic layers ask this instead of naming a vendor; a second
    ledger makes it a choice of the profile (its saved connection) in the composition root."""
    return next(System(value) for value, r in _ROLES.items() if r is role)


class Kind(StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"  # a ledger credit note as an item of its own (docs/reconciliation.md section 9)
    OVERPAYMENT = "overpayment"  # a ledger overpayment's unallocated credit, an item of its own (section 9)
    PREPAYMENT = "prepayment"  # a ledger prepayment's unallocated credit, an item of its own (section 9)


CREDIT_KINDS = frozenset({Kind.CREDIT_NOTE, Kind.OVERPAYMENT, Kind.PREPAYMENT})
"""The ledger credits that are items of their own: what remains of them is weighed, nothing is compared."""


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

"""Push plans: what a push will write, worked out from the cache before anything is sent.

A plan is a value (`PushPlan`): the item, the action, the target system and a JSON-able payload that holds everything
needed to send it again. Its idempotency key comes from the record and the intent only (`idempotency_key`).
`app.services.push` sends plans through the outbox.

Must not: import connectors, PySide6 or sqlalchemy; read the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from app.domain.errors import RecondeskError
from app.domain.keys import invoice_key
from app.domain.money import fmt
from app.domain.records import Invoice, Payment
from app.domain.status import Kind, System
from app.reconcile.rules import POSSIBLE_DUPLICATE
from app.settings import Settings

PUSH_INVOICE = "push_invoice"
PUSH_FIELD = "push_field"
PUSH_PAYMENT = "push_payment"

PUSHABLE_FIELDS = ("po_number", "due_date")
"""Invoice fields a push may write (product.md section 1); `app.reconcile.rules` says in which direction."""

PO_NUMBER_MAX = 50  # accessplanit refuses longer PO numbers; we say so before sending


class PushError(RecondeskError):
    """A push that cannot even be planned (missing invoice on the other side, unmapped payment method...)."""


class PushRefused(PushError):
    """A push a rule refuses (product.md section 7-8: exit 3): `flag` names the rule, e.g. `possible_duplicate`."""

    def __init__(self, flag: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.flag = flag
        self.message = message


def refuse_flagged(flags: tuple[str, ...], override_note: str, what: str, twin: str | None) -> None:
    """Refuse a push of a `possible_duplicate` unless a person overrides it with a note (`PushRefused`)."""
    if POSSIBLE_DUPLICATE in flags and not override_note.strip():
        of = f" of {twin}" if twin else ""
        raise PushRefused(
            POSSIBLE_DUPLICATE,
            f"Not pushed: {what} is a possible duplicate{of}, so pushing it could record it twice.",
            "Check the twin; to push anyway, override with a note saying why.",
        )


@dataclass(frozen=True, slots=True)
class PushPlan:
    """One push, fully described before anything is sent. `payload` is JSON-able (money and dates as strings)
    and holds everything needed to send it again, so a retry never depends on the cache still holding the record.
    """

    item_kind: Kind
    item_key: str
    action: str  # "push_invoice:xero", "push_field:po_number:accessplanit", "push_payment:xero"
    target: System
    payload: dict[str, Any]
    before: dict[str, Any] = field(default_factory=dict)  # what the target held before, for the audit

    @property
    def invoice_key(self) -> str:
        return str(self.payload.get("invoice_key", ""))


# --- idempotency key ----------------------------------------------------------------------------------------


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The one text form of a payload: sorted keys, no spaces, money and dates already strings."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


LOCAL_FIELDS = frozenset({"retry_of"})
"""Payload fields that only link outbox rows of one cache; they never go into a key."""


def target_scope(url: str, tenant_id: str = "") -> str:
    """The account a push writes to: the service's address and, for a ledger, its tenant (organisation).

    Read from the saved connection, which names the same account the same way in every cache (only letter case and
    a trailing slash of the address are not significant)."""
    return f"{url.strip().rstrip('/').lower()}#{tenant_id.strip()}"


def idempotency_key(target: str, scope: str, action: str, payload: Mapping[str, Any]) -> str:
    """sha256 of `target|scope|action|canonical payload`, hex (64 chars; Xero allows 128).

    The record and the intent only: the target system and account (`target_scope`), the action, and the values
    written, which name the records by their remote ids and carry `attempt` (how many refusals came before this
    send). Nothing local (profile, user, cache, outbox row): two people or two profiles pushing the same record to
    the same account get the same key, so the service recognises the second as a repeat. A refused push is sent
    again under `attempt + 1`, because Xero answers a reused key with the stored refusal.
    """
    values = {k: v for k, v in payload.items() if k not in LOCAL_FIELDS}
    text = "|".join(("recondesk-push-2", target, scope, action, canonical_json(values)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- plans --------------------------------------------------------------------------------------------------


def _d(value: date | None) -> str:
    return value.isoformat() if value else ""


def _money(value: Decimal, currency: str) -> str:
    return fmt(value, currency)


def plan_push_invoice(invoice: Invoice, settings: Settings, item_key: str) -> PushPlan:
    """Create the accessplanit invoice `invoice` in Xero as an ACCREC invoice with its lines."""
    if invoice.system is not System.ACCESSPLANIT:
        raise PushError("Only invoices from accessplanit can be pushed to Xero.")
    if not invoice.lines:
        raise PushError(
            f"Invoice {invoice.number} has no lines in the cache, so it cannot be created in Xero.",
            "Sync again; if it still has no lines, add them in accessplanit first.",
        )
    lines = [
        {
            "description": line.description,
            "net": _money(line.net, invoice.currency),
            "tax": _money(line.tax, invoice.currency),
            "quantity": str(line.quantity),
            "unit_amount": str(line.unit_amount) if line.unit_amount is not None else "",
            "account_code": settings.sales_account_code,
            # Untaxed lines need a zero-rated tax type in Xero, or Xero adds the default rate's tax.
            "tax_type": settings.sales_tax_type if line.tax != 0 else settings.zero_tax_type,
        }
        for line in invoice.lines
    ]
    payload: dict[str, Any] = {
        "invoice_key": invoice_key(invoice.number),
        "source_id": invoice.id,
        "number": invoice.number,
        "contact": invoice.contact,
        "contact_id": invoice.contact_id or "",
        "issue_date": _d(invoice.issue_date),
        "due_date": _d(invoice.due_date),
        "po_number": invoice.po_number,
        "currency": invoice.currency,
        "net": _money(invoice.net, invoice.currency),
        "tax": _money(invoice.tax, invoice.currency),
        "total": _money(invoice.total, invoice.currency),
        "lines": lines,
        "account_code": settings.sales_account_code,
        "tax_type": settings.sales_tax_type,
    }
    return PushPlan(
        Kind.INVOICE, item_key, f"{PUSH_INVOICE}:{System.XERO}", System.XERO, payload, before={"xero": None}
    )


def plan_push_field(source: Invoice, target: Invoice, field_name: str, item_key: str) -> PushPlan:
    """Write `field_name` (po_number or due_date) of `source` onto `target` (the same invoice in the other system)."""
    if field_name not in PUSHABLE_FIELDS:
        raise PushError(f"The field {field_name!r} cannot be pushed; only the PO number and the due date can.")
    if source.system is target.system:
        raise PushError("A field is pushed from one system to the other.")
    if field_name == "po_number":
        value = source.po_number.strip()
        old = target.po_number
        if target.system is System.ACCESSPLANIT and len(value) > PO_NUMBER_MAX:
            raise PushError(
                f"The PO number {value!r} is longer than accessplanit's {PO_NUMBER_MAX} characters.",
                "Shorten it in Xero, sync, and push again.",
            )
    else:
        if source.due_date is None:
            raise PushError("There is no due date to push.")
        value = source.due_date.isoformat()
        old = _d(target.due_date)
    payload = {
        "invoice_key": invoice_key(target.number),
        "invoice_id": target.id,
        "number": target.number,
        "field": field_name,
        "value": value,
    }
    return PushPlan(
        Kind.INVOICE,
        item_key,
        f"{PUSH_FIELD}:{field_name}:{target.system}",
        target.system,
        payload,
        before={field_name: old},
    )


def method_label_for(account_code: str, method_accounts: Mapping[str, str]) -> str | None:
    """The accessplanit method label whose Xero account is `account_code` (the mapping read backwards)."""
    for label, code in method_accounts.items():
        if code.strip() == account_code.strip():
            return label
    return None


def plan_push_payment(payment: Payment, target_invoice: Invoice, settings: Settings, item_key: str) -> PushPlan:
    """Record the one-sided `payment` on `target_invoice`, the same invoice in the other system."""
    if payment.system is target_invoice.system:
        raise PushError("A payment is pushed from one system to the other.")
    base: dict[str, Any] = {
        "invoice_key": invoice_key(target_invoice.number),
        "source_id": payment.id,
        "invoice_id": target_invoice.id,
        "invoice_number": target_invoice.number,
        "direction": str(payment.direction),
        "amount": _money(payment.amount, payment.currency),
        "date": payment.date.isoformat(),
        "currency": payment.currency or target_invoice.currency,
    }
    if target_invoice.system is System.XERO:
        from app.reconcile.rules import Rules

        code = Rules(settings.money_tolerance, settings.method_accounts).account_for(payment.method)
        if code is None:
            raise PushError(
                f"The payment method {payment.method!r} has no Xero account.",
                "Add it to the method-to-account mapping in Settings, then push again.",
            )
        payload = {**base, "account_code": code, "reference": payment.reference, "contact": target_invoice.contact}
    else:
        label = method_label_for(payment.method, settings.method_accounts)
        if label is None:
            raise PushError(
                f"No accessplanit payment method is mapped to the Xero account {payment.method!r}.",
                "Add the account to the method-to-account mapping in Settings, then push again.",
            )
        # The reference carries Xero's, or the Xero payment id when it has none, so the read-back after a lost
        # answer can tell this transaction from any other of the same amount on the invoice.
        payload = {**base, "method_label": label, "reference": payment.reference.strip() or payment.id}
    return PushPlan(
        Kind.PAYMENT,
        item_key,
        f"{PUSH_PAYMENT}:{target_invoice.system}",
        target_invoice.system,
        payload,
        before={str(target_invoice.system): None},
    )


def action_parts(action: str) -> tuple[str, str | None, System]:
    """`push_field:po_number:xero` -> ("push_field", "po_number", System.XERO); no field for the other kinds."""
    parts = action.split(":")
    return parts[0], (parts[1] if len(parts) == 3 else None), System(parts[-1])

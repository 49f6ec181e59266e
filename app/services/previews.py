"""Previews: the exact request a push will send (asked of the target's connector, which builds the same request it
sends) and the change it makes, field by field, as an `api.PlannedWrite`.

Must not: import concrete connectors, PySide6 or sqlalchemy; send anything (describing a write makes no call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, cast

from app.connectors.base import PushFacts
from app.domain.status import Direction, Role, System
from app.services import plans
from app.services.api import FieldChange, PlannedWrite
from app.services.push import Writers, _invoice_from_payload

WriteRequest = tuple[str, str, dict[str, Any]]


class DescribesWrites(Protocol):
    """What a writer offers besides its writes: the requests they send, and its reference data read for checks."""

    def streams(self) -> list[str]: ...

    def push_facts(self, reference: Mapping[str, Any]) -> PushFacts: ...


class DescribesLedgerWrites(DescribesWrites, Protocol):
    def describe_create_invoice(
        self, invoice: Any, lines: Any, *, account_code: str, tax_type: str | None, contact_id: str = ""
    ) -> WriteRequest: ...

    def describe_update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None
    ) -> WriteRequest: ...

    def describe_create_payment(
        self,
        *,
        invoice_id: str,
        invoice_number: str,
        direction: Direction,
        amount: Decimal,
        day: date,
        account_code: str,
        reference: str,
        currency: str,
        contact: str,
    ) -> list[WriteRequest]: ...


class DescribesSourceWrites(DescribesWrites, Protocol):
    def describe_update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None
    ) -> WriteRequest: ...

    def describe_create_transaction(
        self, *, invoice_id: str, direction: Direction, amount: Decimal, day: date, method_label: str, reference: str
    ) -> WriteRequest: ...


def writer_for(writers: Writers, target: System) -> DescribesWrites:
    """The target's writer, seen as what it describes (every connector's client implements both)."""
    if target.role is Role.LEDGER:
        return cast(DescribesLedgerWrites, writers.ledger_writer())
    return cast(DescribesSourceWrites, writers.source_writer())


def describe(writers: Writers, action: str, payload: Mapping[str, Any]) -> list[WriteRequest]:
    """The requests `push._send` makes for this action and payload, in order (built by the same connector code)."""
    kind, field_name, target = plans.action_parts(action)
    p = payload
    if kind == plans.PUSH_INVOICE:
        ledger = cast(DescribesLedgerWrites, writer_for(writers, target))
        invoice, lines = _invoice_from_payload(p)
        return [
            ledger.describe_create_invoice(
                invoice,
                lines,
                account_code=str(p["account_code"]),
                tax_type=str(p["tax_type"]) or None,
                contact_id=str(p.get("ledger_contact_id") or ""),
            )
        ]
    if kind == plans.PUSH_FIELD:
        po = str(p["value"]) if field_name == "po_number" else None
        due = date.fromisoformat(str(p["value"])) if field_name == "due_date" and p["value"] else None
        writer = cast(DescribesSourceWrites, writer_for(writers, target))
        return [writer.describe_update_invoice(str(p["invoice_id"]), po_number=po, due_date=due)]
    if kind == plans.PUSH_PAYMENT:
        direction, amount, day = Direction(p["direction"]), Decimal(p["amount"]), date.fromisoformat(p["date"])
        if target.role is Role.LEDGER:
            return cast(DescribesLedgerWrites, writer_for(writers, target)).describe_create_payment(
                invoice_id=str(p["invoice_id"]),
                invoice_number=str(p["invoice_number"]),
                direction=direction,
                amount=amount,
                day=day,
                account_code=str(p["account_code"]),
                reference=str(p["reference"]),
                currency=str(p["currency"]),
                contact=str(p["contact"]),
            )
        source = cast(DescribesSourceWrites, writer_for(writers, target))
        return [
            source.describe_create_transaction(
                invoice_id=str(p["invoice_id"]),
                direction=direction,
                amount=amount,
                day=day,
                method_label=str(p["method_label"]),
                reference=str(p["reference"]),
            )
        ]
    raise plans.PushError(f"Unknown push action {action!r}.")


_DEC = re.compile(r'"\\u0000DEC:([-+0-9.Ee]+)\\u0000"')


def body_text(body: Any) -> str:
    """A request body as indented JSON, money digit for digit (written as JSON numbers, as it is sent)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"\x00DEC:{value}\x00"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mark(v) for v in value]
        return value

    return _DEC.sub(lambda m: m.group(1), json.dumps(mark(body), indent=2, ensure_ascii=False))


def _changes(plan: plans.PushPlan) -> tuple[FieldChange, ...]:
    kind, field_name, _target = plans.action_parts(plan.action)
    p = plan.payload
    if kind == plans.PUSH_FIELD and field_name:
        label = {"po_number": "PO number", "due_date": "Due date"}.get(field_name, field_name)
        return (FieldChange(field_name, label, str(plan.before.get(field_name) or ""), str(p.get("value") or "")),)
    if kind == plans.PUSH_INVOICE:
        contact = str(p["contact"]) + ("" if p.get("ledger_contact_id") else " (new contact)")
        shown = (
            ("number", "Invoice number", str(p["number"])),
            ("contact", "Contact", contact),
            ("issue_date", "Issue date", str(p["issue_date"])),
            ("due_date", "Due date", str(p["due_date"])),
            ("po_number", "PO number", str(p["po_number"])),
            ("total", "Total", f"{p['total']} {p['currency']}"),
        )
    else:
        method = str(p.get("account_code") or p.get("method_label") or "")
        shown = (
            ("invoice", "On invoice", str(p["invoice_number"])),
            ("direction", "Kind", str(p["direction"])),
            ("amount", "Amount", f"{p['amount']} {p['currency']}"),
            ("date", "Date", str(p["date"])),
            ("reference", "Reference", str(p["reference"])),
            ("method", "Account" if p.get("account_code") else "Method", method),
        )
    return tuple(FieldChange(f, label, "", value) for f, label, value in shown)


def planned_write(
    item_id: int, plan: plans.PushPlan, requests: Sequence[WriteRequest], problems: Sequence[plans.Problem]
) -> PlannedWrite:
    methods = sorted({m for m, _p, _b in requests})
    return PlannedWrite(
        item_id=item_id,
        target=plan.target,
        method=", ".join(methods),
        path=", then ".join(path for _m, path, _b in requests),
        body=body_text(requests[0][2] if len(requests) == 1 else [b for _m, _p, b in requests]),
        changes=_changes(plan),
        problems=tuple(x.text for x in problems),
        needs=next((x.needs for x in problems if x.needs), ""),
        blocked=any(x.flag == "blocked" and not x.needs for x in problems),
    )

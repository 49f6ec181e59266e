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

from app.connectors.base import PushFacts, normalised_name
from app.domain.errors import RecondeskError
from app.domain.keys import invoice_key
from app.domain.money import fmt
from app.domain.records import Invoice, Line, Payment, allocated_from
from app.domain.status import Direction, Kind, Role, System
from app.reconcile.rules import INVOICE_FIELDS, POSSIBLE_DUPLICATE
from app.settings import Settings

PUSH_INVOICE = "push_invoice"
PUSH_FIELD = "push_field"
PUSH_PAYMENT = "push_payment"

PUSHABLE_FIELDS = ("po_number", "due_date")
"""Invoice fields a push may write (product.md section 1); `app.reconcile.rules` says in which direction."""

PO_NUMBER_MAX = 50  # accessplanit refuses longer PO numbers; we say so before sending


class PushError(RecondeskError):
    """A push that cannot even be planned (missing invoice on the other side, unmapped payment method...)."""


FLAGS = ("blocked", "possible_duplicate", "blanking")


class PushRefused(PushError):
    """A push refused by a rule before anything is sent (exit 3 on the command line). `flag` says which:
    "blocked" (a rule of the target: lock date, unknown tax type or account, amount over what is due, PO too long,
    number taken; `needs` "new_contact" when only a person's confirmation of a new contact is missing),
    "possible_duplicate" (needs an override with a note) or "blanking" (needs the choice to clear the value)."""

    def __init__(self, flag: str, message: str, hint: str = "", *, needs: str = "") -> None:
        super().__init__(message, hint)
        self.flag = flag
        self.needs = needs


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


def tax_type_for(line: Line, settings: Settings) -> str:
    """The Xero tax type of a pushed line: its tax rate (tax as a percent of net, to 2 places) through
    `settings.tax_rate_types` when listed there, else the sales tax type (taxed) or the zero tax type (untaxed)."""
    if settings.tax_rate_types and line.net:
        rate = (line.tax * 100 / line.net).quantize(Decimal("0.01"))
        for key, tax_type in settings.tax_rate_types.items():
            try:
                if Decimal(key.strip().rstrip("%")) == rate:
                    return tax_type
            except ArithmeticError:
                continue  # a key that is not a rate matches nothing
    return settings.sales_tax_type if line.tax != 0 else settings.zero_tax_type


def plan_push_invoice(
    invoice: Invoice, settings: Settings, item_key: str, target: System, ledger_contact_id: str = ""
) -> PushPlan:
    """Create the source's invoice `invoice` in the ledger `target` with its lines; the ledger's contact by its id
    when one was matched (`match_contact`), else by name."""
    if invoice.system.role is not Role.SOURCE or target.role is not Role.LEDGER:
        raise PushError(f"Only invoices from {invoice.system.label} can be pushed, to the ledger.")
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
            "tax_type": tax_type_for(line, settings),
        }
        for line in invoice.lines
    ]
    payload: dict[str, Any] = {
        "invoice_key": invoice_key(invoice.number),
        "source_id": invoice.id,
        "number": invoice.number,
        "contact": invoice.contact,
        "contact_id": invoice.contact_id or "",
        **({"ledger_contact_id": ledger_contact_id} if ledger_contact_id else {}),
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
    return PushPlan(Kind.INVOICE, item_key, f"{PUSH_INVOICE}:{target}", target, payload, before={str(target): None})


def plan_push_field(source: Invoice, target: Invoice, field_name: str, item_key: str) -> PushPlan:
    """Write `field_name` (po_number or due_date) of `source` onto `target` (the same invoice in the other system)."""
    if field_name not in PUSHABLE_FIELDS:
        raise PushError(f"The field {field_name!r} cannot be pushed; only the PO number and the due date can.")
    if source.system is target.system:
        raise PushError("A field is pushed from one system to the other.")
    if field_name == "po_number":
        value = source.po_number.strip()
        old = target.po_number
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
    if target_invoice.system.role is Role.LEDGER:
        from app.reconcile.rules import Rules

        code = Rules(settings.money_tolerance, settings.method_accounts).account_for(payment.method)
        if code is None:
            raise PushError(
                f"The payment method {payment.method!r} has no {target_invoice.system.label} account.",
                "Add it to the method-to-account mapping in Settings, then push again.",
            )
        payload = {**base, "account_code": code, "reference": payment.reference, "contact": target_invoice.contact}
    else:
        credit = allocated_from(payment)
        if credit is not None:  # docs/reconciliation.md section 9: no bank account to map to a method
            raise PushError(
                f"This {payment.system.label} payment is an allocation of a {credit[0].value.replace('_', ' ')}"
                " to the invoice, with no bank account behind it.",
                f"Record it in {target_invoice.system.label} by hand with the method the money came in by.",
            )
        label = method_label_for(payment.method, settings.method_accounts)
        if label is None:
            raise PushError(
                f"No {target_invoice.system.label} payment method is mapped to the account {payment.method!r}.",
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


def describe_push(action: str, *, done: bool = False) -> str:
    """A stored push's action (`action_parts`' format) for people: "push po number to Xero", or with `done` as the
    audit log tells it, "pushed the PO number to Xero". Anything else comes back as it is."""
    try:
        kind, field_name, target = action_parts(action)
    except ValueError:  # not a push's action
        return action
    if kind == PUSH_FIELD and field_name:
        if done:
            label = next((r.label for r in INVOICE_FIELDS if r.name == field_name), field_name.replace("_", " "))
            return f"pushed the {label} to {target.label}"
        return f"push {field_name.replace('_', ' ')} to {target.label}"
    if kind == PUSH_INVOICE:
        return f"{'created' if done else 'create'} the invoice in {target.label}"
    if kind == PUSH_PAYMENT:
        return f"{'recorded' if done else 'record'} the payment in {target.label}"
    return action


# --- checks before sending ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule of a plan: `flag` as in `PushRefused`, `needs` what a person could choose to allow it."""

    flag: str
    text: str
    needs: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    """What the checks know besides the plan, all from the cache: the target's reference data read by its connector
    (`facts`), the invoice the write lands on in the target (None when it creates one), whether the target already
    holds an invoice with the number (any state, deleted and voided included: such a number stays taken), and what
    the person chose (`clear`, `new_contact`)."""

    facts: PushFacts
    target_invoice: Invoice | None = None
    number_taken: str = ""  # the state of the target's invoice holding the number ("" when none)
    clear: bool = False
    new_contact: bool = False
    duplicate_of: str = ""  # the item is flagged `possible_duplicate`: its twin, for people ("" when not flagged)
    override_note: str = ""  # a person's note allowing a flagged push
    adviser: bool = False  # the target's connection has the adviser role (`Settings.xero_adviser`)


def match_contact(name: str, facts: PushFacts) -> str:
    """The ledger's contact id for an invoice's contact: the exact normalised name (`normalised_name`); '' if none."""
    return facts.contacts.get(normalised_name(name), "")


def _lock_problem(target: System, facts: PushFacts, day: date | None, what: str, adviser: bool) -> Problem | None:
    """The target's rule: nothing dated on or before a lock date; an adviser's connection (`Context.adviser`) is
    held only by the locks the connector does not name in `adviser_free` (Xero: the end of year lock date)."""
    if day is None:
        return None
    hit = [(n, d) for n, d in facts.locks if day <= d and not (adviser and n in facts.adviser_free)]
    if not hit:
        return None
    name, locked = max(hit, key=lambda h: h[1])
    said = facts.lock_refusals.get(name)
    quoted = f' ({target.label} says: "{said}.")' if said else ""
    if name in facts.adviser_free:
        advice = (
            f"Someone with the adviser role can post into it (and move the {name} in {target.label}'s settings); "
            "if your sign-in has that role, say so in Settings (Connections), then push again."
        )
    else:
        advice = f"An adviser can move the {name} in {target.label}'s settings; then push again."
    return Problem(
        "blocked",
        f"{target.label} is locked by its {name} ({locked.isoformat()}): {what} dated {day.isoformat()} cannot be "
        f"written{quoted}. {advice}",
    )


def _code_problem(kind: str, code: str, known: Mapping[str, bool], target: System) -> Problem | None:
    if not known or not code:
        return None  # nothing fetched to check against
    if code not in known:
        return Problem("blocked", f"The {kind} {code!r} does not exist in {target.label}; map one that does.")
    if not known[code]:
        return Problem("blocked", f"The {kind} {code!r} is archived in {target.label}; map an active one.")
    return None


def check_plan(plan: PushPlan, ctx: Context) -> list[Problem]:
    """Every rule a plan breaks, in one place, from what was fetched: no blanking; lock dates; tax type and account
    exist and are active; amount not above what is due; PO number length; invoice number free; contact matched."""
    kind, field_name, target = action_parts(plan.action)
    p, facts, inv = plan.payload, ctx.facts, ctx.target_invoice
    out: list[Problem | None] = []
    if ctx.duplicate_of and not ctx.override_note.strip():
        out.append(
            Problem(
                POSSIBLE_DUPLICATE,
                f"This record is a possible duplicate of {ctx.duplicate_of}, so pushing it could record it twice; "
                "check the twin, and to push anyway override with a note saying why.",
                "override",
            )
        )
    if kind == PUSH_FIELD and field_name:
        old, new = str(plan.before.get(field_name) or ""), str(p.get("value") or "")
        label = field_name.replace("_", " ")
        if not new.strip() and old.strip() and not ctx.clear:
            out.append(
                Problem(
                    "blanking",
                    f"This would blank the {label} in {target.label}, which holds {old!r}; "
                    "choose to clear the value if that is what you mean.",
                    "clear",
                )
            )
        if field_name == "po_number" and target.role is Role.SOURCE and len(new) > PO_NUMBER_MAX:
            out.append(
                Problem(
                    "blocked",
                    f"The PO number {new!r} is longer than {target.label}'s {PO_NUMBER_MAX} characters; "
                    f"shorten it in {target.other.label}, sync, and push again.",
                )
            )
        out.append(
            _lock_problem(target, facts, inv.issue_date if inv else None, f"invoice {p.get('number')}", ctx.adviser)
        )
    elif kind == PUSH_INVOICE:
        day = date.fromisoformat(p["issue_date"]) if p.get("issue_date") else None
        out.append(_lock_problem(target, facts, day, f"invoice {p['number']}", ctx.adviser))
        for code in sorted({str(ln.get("tax_type") or "") for ln in p["lines"]}):
            out.append(_code_problem("tax type", code, facts.tax_types, target))
        for code in sorted({str(ln.get("account_code") or "") for ln in p["lines"]}):
            out.append(_code_problem("account", code, facts.accounts, target))
        if ctx.number_taken:
            out.append(
                Problem(
                    "blocked",
                    f"{target.label} already holds an invoice numbered {p['number']} ({ctx.number_taken.lower()}); "
                    f"{target.label} refuses a number that is taken, even by a deleted or voided invoice.",
                )
            )
        if facts.contacts and not p.get("ledger_contact_id") and not ctx.new_contact:
            out.append(
                Problem(
                    "blocked",
                    f"No contact named {p['contact']!r} exists in {target.label}; pushing creates a new one. "
                    "Confirm the new contact, or rename the contact on one side to match.",
                    "new_contact",
                )
            )
    elif kind == PUSH_PAYMENT:
        day = date.fromisoformat(p["date"])
        out.append(_lock_problem(target, facts, day, "a payment", ctx.adviser))
        if p.get("account_code"):
            out.append(_code_problem("account", str(p["account_code"]), facts.accounts, target))
        amount = Decimal(p["amount"])
        if inv is not None and p.get("direction") == str(Direction.PAYMENT) and amount > inv.due:
            out.append(
                Problem(
                    "blocked",
                    f"The payment of {p['amount']} is more than the {fmt(inv.due, inv.currency)} due on invoice "
                    f"{inv.number} in {target.label}.",
                )
            )
    return [x for x in out if x is not None]


def refusal(problems: list[Problem]) -> PushRefused | None:
    """The refusal a plan's problems amount to (the first problem's flag names it), or None when there are none."""
    if not problems:
        return None
    blocked = [x for x in problems if x.flag == "blocked" and not x.needs]
    first = blocked[0] if blocked else problems[0]
    text = " ".join(x.text for x in problems)
    return PushRefused(first.flag, text, needs="" if blocked else first.needs)

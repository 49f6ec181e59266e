"""Push through an outbox: invoices from accessplanit to Xero, PO number / due date either way, one-sided payments
to the other side, and the retry of failed, uncertain or interrupted pushes.

The rules that keep money safe (docs/services.md):
- a push is written to the outbox (state `pending`, with a deterministic idempotency key) and COMMITTED before
  anything is sent; it is marked `sending` (committed) just before the call;
- a refusal by the service (`RejectedError`, 4xx) is `failed`: nothing was created, the reasons are kept for people;
- a lost answer (timeout, reset, 5xx after the connector's retries) is `uncertain`: the call may have landed;
- an `uncertain` push, or one left `sending` by a process that died mid-send, is READ BACK before anything else:
  found -> `succeeded` with what was found; not found -> sent again with the SAME idempotency key;
- a `failed` push is retried as a new outbox row linked to it (`retry_of`) with the next `attempt`, so it gets a
  key of its own: Xero answers a reused key with the stored answer, which for a refusal is the same refusal;
- the key comes from the record and the intent (target account, action, values written), never from anything
  local, so the same push from two profiles or two people is one push to the service.
So nothing is ever posted twice, even to accessplanit, which has no idempotency key.

Must not: import concrete connectors, PySide6 or sqlalchemy; put a secret in a message; send before committing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from app.connectors.base import LedgerWriter, SourceWriter
from app.domain.errors import (
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RateLimited,
    RecondeskError,
    RejectedError,
)
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, PushState, System
from app.services.plans import (
    PUSH_FIELD,
    PUSH_INVOICE,
    PUSH_PAYMENT,
    PushError,
    PushPlan,
    action_parts,
    idempotency_key,
    target_scope,
)
from app.settings import Settings
from app.storage import audit as audit_repo
from app.storage import connections as connections_repo
from app.storage import outbox
from app.storage import records as records_repo
from app.storage.db import Database, Tx

log = logging.getLogger(__name__)


class Writers(Protocol):
    """Where the push service gets the two writers; built lazily because building one reads the keyring."""

    def source_writer(self) -> SourceWriter: ...

    def ledger_writer(self) -> LedgerWriter: ...


@dataclass(frozen=True, slots=True)
class PushOutcome:
    push_id: int
    state: PushState
    message: str  # for people
    remote_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is PushState.SUCCEEDED


# --- sending ------------------------------------------------------------------------------------------------


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _invoice_from_payload(p: Mapping[str, Any]) -> tuple[Invoice, tuple[Line, ...]]:
    lines = tuple(
        Line(
            description=str(ln["description"]),
            net=Decimal(ln["net"]),
            tax=Decimal(ln["tax"]),
            quantity=Decimal(ln.get("quantity") or "1"),
            unit_amount=Decimal(ln["unit_amount"]) if ln.get("unit_amount") else None,
            account_code=str(ln.get("account_code") or "") or None,
            tax_type=str(ln.get("tax_type") or "") or None,
        )
        for ln in p["lines"]
    )
    net, tax, total = Decimal(p["net"]), Decimal(p["tax"]), Decimal(p["total"])
    from app.domain.status import InvoiceState

    invoice = Invoice(
        system=System.ACCESSPLANIT,
        id=str(p["source_id"]),
        number=str(p["number"]),
        contact=str(p["contact"]),
        issue_date=_date(p["issue_date"]),
        due_date=_date(p["due_date"]),
        po_number=str(p["po_number"]),
        currency=str(p["currency"]),
        net=net,
        tax=tax,
        total=total,
        paid=Decimal(0),
        due=total,
        state=InvoiceState.OPEN,
        lines=lines,
        contact_id=str(p.get("contact_id") or "") or None,
    )
    return invoice, lines


def _send(
    writers: Writers, action: str, payload: Mapping[str, Any], wire_key: str
) -> Invoice | Payment | InvalidRecord:
    kind, field_name, target = action_parts(action)
    p = payload
    if kind == PUSH_INVOICE:
        invoice, lines = _invoice_from_payload(p)
        return writers.ledger_writer().create_invoice(
            invoice,
            lines,
            idempotency_key=wire_key,
            account_code=str(p["account_code"]),
            tax_type=str(p["tax_type"]) or None,
            contact_id=str(p.get("ledger_contact_id") or ""),
        )
    if kind == PUSH_FIELD:
        po = str(p["value"]) if field_name == "po_number" else None
        due = date.fromisoformat(str(p["value"])) if field_name == "due_date" else None
        if target is System.XERO:
            return writers.ledger_writer().update_invoice(
                str(p["invoice_id"]), po_number=po, due_date=due, idempotency_key=wire_key
            )
        return writers.source_writer().update_invoice(str(p["invoice_id"]), po_number=po, due_date=due)
    if kind == PUSH_PAYMENT:
        direction = Direction(p["direction"])
        if target is System.XERO:
            return writers.ledger_writer().create_payment(
                invoice_id=str(p["invoice_id"]),
                invoice_number=str(p["invoice_number"]),
                direction=direction,
                amount=Decimal(p["amount"]),
                day=date.fromisoformat(p["date"]),
                account_code=str(p["account_code"]),
                reference=str(p["reference"]),
                currency=str(p["currency"]),
                contact=str(p["contact"]),
                idempotency_key=wire_key,
            )
        return writers.source_writer().create_transaction(
            invoice_id=str(p["invoice_id"]),
            direction=direction,
            amount=Decimal(p["amount"]),
            day=date.fromisoformat(p["date"]),
            method_label=str(p["method_label"]),
            reference=str(p["reference"]),
        )
    raise PushError(f"Unknown push action {action!r}.")


_RESEND = object()  # read-back says: not there, send again with the same key


def _read_back(writers: Writers, action: str, payload: Mapping[str, Any]) -> Invoice | Payment | object:
    """After an unknown outcome: is the thing already in the target? Returns the record found, or `_RESEND`."""
    kind, field_name, target = action_parts(action)
    p = payload
    if kind == PUSH_INVOICE:
        found = writers.ledger_writer().find_invoice(str(p["number"]))
        return found if isinstance(found, Invoice) and not found.deleted else _RESEND
    if kind == PUSH_PAYMENT:
        direction = Direction(p["direction"])
        if target is System.XERO:
            pay = writers.ledger_writer().find_payment(
                str(p["invoice_id"]),
                Decimal(p["amount"]),
                date.fromisoformat(p["date"]),
                str(p["reference"]),
                direction,
            )
        else:
            pay = writers.source_writer().find_transaction(
                str(p["invoice_id"]), Decimal(p["amount"]), str(p["reference"]), direction
            )
        return pay if pay is not None and not pay.deleted else _RESEND
    if kind == PUSH_FIELD and target is System.XERO:
        found = writers.ledger_writer().find_invoice(str(p["number"]))
        if isinstance(found, Invoice):
            current = (
                found.po_number if field_name == "po_number" else (found.due_date.isoformat() if found.due_date else "")
            )
            if current.strip() == str(p["value"]).strip():
                return found
        return _RESEND
    # accessplanit field PUT: setting a value twice is harmless, so sending again is the read-back.
    return _RESEND


def _people_error(exc: BaseException) -> str:
    if isinstance(exc, RejectedError):
        reasons = "; ".join(exc.details) if exc.details else ""
        return f"{exc.message}{': ' + reasons if reasons and reasons not in exc.message else ''}"
    if isinstance(exc, RecondeskError):
        return exc.user_text()
    # Unknown exception types: the type only, since a message could echo a URL with credentials in it.
    return f"unexpected error ({type(exc).__name__})"


def _definitely_not_sent(exc: BaseException) -> bool:
    """Errors that prove the service did not act: it answered with a refusal."""
    if isinstance(exc, RejectedError | AuthenticationError | NotFoundError | RateLimited | PushError):
        return True
    if isinstance(exc, ConnectorError) and exc.status is not None and 400 <= exc.status < 500:
        return True
    return False


def _stored(record: Invoice | Payment) -> dict[str, Any]:
    """What we store as the raw payload of a record a push returned (the next sync replaces it with the wire one);
    the cache's JSON writer keeps its Decimals exact."""
    return {"recondesk_push_result": asdict(record)}


class PushService:
    """The outbox flow. One instance per workspace; thread-safe for one process (a lock guards in-flight pushes).

    `reconcile_invoice(invoice_key)` is called after a success so the item's status is right without a re-sync.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        who: str,
        writers: Writers,
        reconcile_invoice: Callable[[str], None],
    ) -> None:
        self.db = db
        self.settings = settings
        self.who = who
        self.writers = writers
        self._reconcile = reconcile_invoice
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()

    # -- public --

    def push(self, plan: PushPlan) -> PushOutcome:
        """Push `plan` once: add it to the outbox (or find it there) and drive it to a final state."""
        with self.db.transaction() as tx:
            key = idempotency_key(str(plan.target), self._scope(tx, plan.target), plan.action, plan.payload)
            push_id = outbox.add_push(
                tx, str(plan.item_kind), plan.item_key, plan.action, str(plan.target), plan.payload, key
            )
        return self._drive(push_id, before=plan.before)

    def retry(self, push_id: int) -> PushOutcome:
        """Retry one push: read back an uncertain/interrupted one first; resend a failed one under a new row."""
        return self._drive(push_id, before={})

    def retryable(self) -> list[int]:
        """Pushes worth retrying: the latest push per (item, action) that is failed, uncertain, sending or pending.

        A `sending` push of this process is skipped: it is in flight, not interrupted.
        """
        with self.db.transaction() as tx:
            rows = outbox.pushes_in_state(
                tx, [PushState.FAILED, PushState.UNCERTAIN, PushState.SENDING, PushState.PENDING]
            )
            superseded: set[int] = set()
            for row in rows:
                later = [
                    p
                    for p in outbox.pushes_for(tx, row.item_kind, row.item_key)
                    if p.action == row.action and p.id > row.id
                ]
                if later:
                    superseded.add(row.id)
        with self._lock:
            busy = set(self._in_flight)
        return [r.id for r in rows if r.id not in superseded and r.id not in busy]

    @staticmethod
    def _scope(tx: Tx, target: System) -> str:
        connection = connections_repo.get_connection(tx, target)
        return target_scope(connection.url, connection.tenant_id) if connection is not None else ""

    # -- the state machine --

    def _drive(self, push_id: int, *, before: dict[str, Any], depth: int = 0) -> PushOutcome:
        with self._lock:
            if push_id in self._in_flight:
                return PushOutcome(push_id, PushState.SENDING, "This push is being sent right now.")
            self._in_flight.add(push_id)
        try:
            return self._drive_locked(push_id, before=before, depth=depth)
        finally:
            with self._lock:
                self._in_flight.discard(push_id)

    def _drive_locked(self, push_id: int, *, before: dict[str, Any], depth: int) -> PushOutcome:
        with self.db.transaction() as tx:
            row = outbox.get_push(tx, push_id)
        state = PushState(row.state)
        if state is PushState.SUCCEEDED:
            return PushOutcome(push_id, state, "Already pushed; nothing was sent again.", row.result_remote_id)
        if state is PushState.FAILED:
            if depth > 20:  # a chain of failed retries this long means something else is wrong
                return PushOutcome(push_id, state, row.last_error or "The push failed.")
            payload = {**row.payload, "retry_of": row.id, "attempt": int(row.payload.get("attempt", 0)) + 1}
            with self.db.transaction() as tx:
                key = idempotency_key(str(row.target), self._scope(tx, row.target), row.action, payload)
                new_id = outbox.add_push(tx, row.item_kind, row.item_key, row.action, row.target, payload, key)
            return self._drive(new_id, before=before, depth=depth + 1)
        if state in (PushState.UNCERTAIN, PushState.SENDING):
            try:
                found = _read_back(self.writers, row.action, row.payload)
            except Exception as exc:  # any failure of the read-back leaves the outcome unknown
                msg = f"Could not check whether the earlier attempt arrived: {_people_error(exc)} Try again later."
                with self.db.transaction() as tx:
                    outbox.mark_push(tx, push_id, PushState.UNCERTAIN, error=msg)
                return PushOutcome(push_id, PushState.UNCERTAIN, msg)
            if found is not _RESEND:
                assert isinstance(found, Invoice | Payment)
                return self._succeeded(row, found, before, "found by read-back; it was not sent again")
        return self._send_row(row, before)

    def _send_row(self, row: Any, before: dict[str, Any]) -> PushOutcome:
        with self.db.transaction() as tx:
            outbox.mark_push(tx, row.id, PushState.SENDING)
        try:
            result = _send(self.writers, row.action, row.payload, row.idempotency_key)
        except Exception as exc:  # classified below; unknown errors are treated as unknown outcomes
            text = _people_error(exc)
            if _definitely_not_sent(exc):
                log.info("push %s failed: %s", row.id, text)
                with self.db.transaction() as tx:
                    outbox.mark_push(tx, row.id, PushState.FAILED, error=text)
                    audit_repo.append_audit(
                        tx,
                        self.who,
                        f"{row.action}:failed",
                        row.item_kind,
                        row.item_key,
                        before,
                        {"push_id": row.id, "state": "failed"},
                        text,
                    )
                hint = getattr(exc, "hint", "")
                return PushOutcome(
                    row.id,
                    PushState.FAILED,
                    f"{_target_label(row.target)} refused the push: {text}" + (f" {hint}" if hint else ""),
                )
            msg = (
                f"The answer from {_target_label(row.target)} was lost ({text}); it may or may not have arrived. "
                "Retry: Recondesk checks first and never sends it twice."
            )
            log.warning("push %s uncertain: %s", row.id, text)
            with self.db.transaction() as tx:
                outbox.mark_push(tx, row.id, PushState.UNCERTAIN, error=msg)
                audit_repo.append_audit(
                    tx,
                    self.who,
                    f"{row.action}:uncertain",
                    row.item_kind,
                    row.item_key,
                    before,
                    {"push_id": row.id, "state": "uncertain"},
                    msg,
                )
            return PushOutcome(row.id, PushState.UNCERTAIN, msg)
        return self._succeeded(row, result, before, "")

    def _succeeded(
        self, row: Any, result: Invoice | Payment | InvalidRecord, before: dict[str, Any], how: str
    ) -> PushOutcome:
        target = System(row.target)
        refreshed: Invoice | None = None
        if isinstance(result, Payment):
            # A payment changes its invoice's paid/due on the target: re-read that invoice so the invoice item is
            # right too. Best effort: a failure here only leaves the invoice stale until the next sync.
            refreshed = self._refetch_invoice(target, row.payload)
        remote_id = result.id
        with self.db.transaction() as tx:
            if isinstance(result, Invoice | Payment):
                records_repo.upsert_one(tx, target, result, _stored(result))
            if refreshed is not None:
                records_repo.upsert_one(tx, target, refreshed, _stored(refreshed))
            outbox.mark_push(tx, row.id, PushState.SUCCEEDED, result_remote_id=remote_id)
            after = {
                "push_id": row.id,
                "state": "succeeded",
                "remote_id": remote_id,
                **{k: v for k, v in row.payload.items() if k in ("field", "value", "amount", "date", "number")},
            }
            audit_repo.append_audit(tx, self.who, row.action, row.item_kind, row.item_key, before, after, how)
        invoice = str(row.payload.get("invoice_key", ""))
        if invoice:
            try:
                self._reconcile(invoice)
            except Exception:  # the push itself succeeded; the status catches up at the next sync
                log.exception("re-reconciling %s after push %s failed", invoice, row.id)
        if isinstance(result, InvalidRecord):
            msg = f"Pushed to {_target_label(row.target)}, but its answer could not be read ({result.reason}); sync."
        else:
            msg = f"Pushed to {_target_label(row.target)}" + (f" ({how})." if how else ".")
        return PushOutcome(row.id, PushState.SUCCEEDED, msg, remote_id)

    def _refetch_invoice(self, target: System, payload: Mapping[str, Any]) -> Invoice | None:
        try:
            if target is System.XERO:
                found = self.writers.ledger_writer().find_invoice(str(payload.get("invoice_number", "")))
            else:
                # Not part of `SourceWriter`: accessplanit's connector has it, a writer without it just skips this.
                getter = getattr(self.writers.source_writer(), "fetch_invoice", None)
                found = getter(str(payload["invoice_id"])) if getter is not None else None
        except Exception:  # see _succeeded
            log.warning("could not re-read invoice %s after a payment push", payload.get("invoice_number"))
            return None
        return found if isinstance(found, Invoice) else None


def _target_label(target: str) -> str:
    return System(target).label

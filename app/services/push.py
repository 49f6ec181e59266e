"""Push through an outbox: invoices from accessplanit to Xero, PO number / due date either way, one-sided payments
to the other side, and the retry of failed, uncertain or interrupted pushes; one at a time or in bulk
(`push_many`: Xero invoices and payments in batches of up to 50 per request, accessplanit one per call).

The rules that keep money safe (docs/services.md):
- a push is written to the outbox (state `pending`, with a deterministic idempotency key) and COMMITTED before
  anything is sent; it is marked `sending` (committed) just before the call;
- one sender per row, across processes: a row is CLAIMED (compare-and-set of owner and lease) before it is read
  back or sent; a row another sender holds is left alone, and the claim is released at the end;
- a refusal by the service (`RejectedError`, 4xx) is `failed`: nothing was created, the reasons are kept for people;
  a definitive refusal (`refused`) is not retried automatically: it stays one failed row until a person retries it
  or the push changes;
- a lost answer (timeout, reset, 5xx after the connector's retries) is `uncertain`: the call may have landed;
- an `uncertain` push, or one left `sending` by a process that died mid-send, waits out the service's write
  latency (`write_settle_seconds`) and is then READ BACK before anything else: the EXACT record (amount, date,
  reference, direction), never one already linked to another item or push. Found -> `succeeded` with what was
  found; not found -> sent again with the SAME idempotency key;
- a `failed` push sent again goes out from the same row with the next `attempt`, so its wire key is new: Xero
  answers a reused key with the stored answer, which for a refusal is the same refusal;
- the key comes from the record and the intent (target account, action, values written), never from anything
  local, so the same push from two profiles or two people is one push to the service.
So nothing is ever posted twice, even to accessplanit, which has no idempotency key.

Must not: import concrete connectors, PySide6 or sqlalchemy; put a secret in a message; send before committing.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from app.connectors.base import BATCH_SIZE, BatchResult, InvoiceCreate, LedgerWriter, PaymentCreate, SourceWriter
from app.domain.errors import (
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RateLimited,
    RecondeskError,
    RejectedError,
)
from app.domain.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, Kind, PushState, Role, System, system_for
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
from app.storage.models import PushRecord

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
        system=system_for(Role.SOURCE),
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
        if target.role is Role.LEDGER:
            return writers.ledger_writer().update_invoice(
                str(p["invoice_id"]), po_number=po, due_date=due, idempotency_key=wire_key
            )
        return writers.source_writer().update_invoice(str(p["invoice_id"]), po_number=po, due_date=due)
    if kind == PUSH_PAYMENT:
        direction = Direction(p["direction"])
        if target.role is Role.LEDGER:
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


def _read_back(
    writers: Writers, action: str, payload: Mapping[str, Any], exclude: Collection[str]
) -> Invoice | Payment | object:
    """After an unknown outcome: is the thing already in the target? Returns the record found, or `_RESEND`.
    Payments must match exactly (amount, date, reference, direction) and not be one of `exclude`."""
    kind, field_name, target = action_parts(action)
    p = payload
    if kind == PUSH_INVOICE:
        found = writers.ledger_writer().find_invoice(str(p["number"]))
        return found if isinstance(found, Invoice) and not found.deleted else _RESEND
    if kind == PUSH_PAYMENT:
        direction = Direction(p["direction"])
        day = date.fromisoformat(p["date"])
        if target.role is Role.LEDGER:
            pay = writers.ledger_writer().find_payment(
                str(p["invoice_id"]), Decimal(p["amount"]), day, str(p["reference"]), direction, exclude
            )
        else:
            pay = writers.source_writer().find_transaction(
                str(p["invoice_id"]), Decimal(p["amount"]), str(p["reference"]), direction, day, exclude
            )
        return pay if pay is not None and not pay.deleted else _RESEND
    if kind == PUSH_FIELD and target.role is Role.LEDGER:
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


def _exact_payment(p: Mapping[str, Any], pay: Payment) -> bool:
    return (
        not pay.deleted
        and pay.invoice_id == str(p["invoice_id"])
        and pay.direction is Direction(p["direction"])
        and pay.amount == Decimal(p["amount"])
        and pay.date == date.fromisoformat(p["date"])
        and pay.reference.strip() == str(p["reference"]).strip()
    )


def _batchable(row: PushRecord) -> str | None:
    """ "invoice" / "payment" when the row goes to Xero in a batch create; None: one call of its own."""
    kind, _field, target = action_parts(row.action)
    if target.role is not Role.LEDGER:
        return None
    if kind == PUSH_INVOICE:
        return "invoice"
    if kind == PUSH_PAYMENT and row.payload.get("direction") == str(Direction.PAYMENT):
        return "payment"
    return None


def _refusal(exc: BaseException) -> bool:
    """A definitive refusal: sending the same thing again gets the same answer (not a pause, not a sign-in)."""
    return isinstance(exc, RejectedError | NotFoundError | PushError)


class _Taken:
    """`exclude` of a read-back: succeeded pushes' remote ids (`linked`), and records the cache pairs with another
    record (`pairs`: id -> the other side's id) unless that other record is the one this row copies."""

    def __init__(self, linked: set[str], pairs: dict[str, str], copied: str = "") -> None:
        self.linked, self.pairs, self.copied = linked, pairs, copied

    def for_row(self, row: PushRecord) -> _Taken:
        copied = str(row.payload.get("source_id", "")) if row.item_kind is Kind.PAYMENT else ""
        linked = self.linked - ({row.result_remote_id} if row.result_remote_id else set())
        return _Taken(linked, self.pairs if copied else {}, copied)

    def __contains__(self, record_id: object) -> bool:
        if record_id in self.linked:
            return True
        other = self.pairs.get(str(record_id))
        return other is not None and other != self.copied

    def __iter__(self) -> Iterator[str]:
        return iter({*self.linked, *(k for k, v in self.pairs.items() if v != self.copied)})

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _batch_key(wire_keys: Iterable[str]) -> str:
    return hashlib.sha256(("recondesk-batch-1|" + "|".join(sorted(wire_keys))).encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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
    """The outbox flow. One instance per workspace; safe across threads and processes (rows are claimed).

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
        self._owner_base = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._claims = itertools.count(1)
        self.sleep: Callable[[float], None] = time.sleep

    # -- public --

    def push(self, plan: PushPlan) -> PushOutcome:
        """Push `plan` once: add it to the outbox (or find it there) and drive it to a final state."""
        return self._drive(self._add(plan), before=plan.before)

    def retry(self, push_id: int) -> PushOutcome:
        """Retry one push: read back an uncertain/interrupted one first; send a failed one again (next attempt)."""
        return self._drive(push_id, before={})

    def retryable(self) -> list[int]:
        """Pushes worth retrying: the latest push per (item, action) that is failed, uncertain, sending or pending,
        neither refused for good (that needs a change or a person) nor held by a live sender."""
        now = _utcnow()
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
        return [
            r.id
            for r in rows
            if r.id not in superseded
            and not r.refused
            and not (r.claimed_by and r.lease_until is not None and r.lease_until > now)
        ]

    def refused(self) -> list[PushRecord]:
        """Failed pushes the service refused for good: left for a person (a change, or an explicit retry)."""
        with self.db.transaction(readonly=True) as tx:
            return [
                r
                for r in outbox.pushes_in_state(tx, [PushState.FAILED])
                if r.refused
                and not any(
                    p.action == r.action and p.id > r.id for p in outbox.pushes_for(tx, r.item_kind, r.item_key)
                )
            ]

    def push_many(
        self,
        plans: Sequence[PushPlan],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[PushOutcome]:
        """Push every plan: all go into the outbox first (committed), then Xero invoices and payments are claimed
        and sent in batches of up to `BATCH_SIZE` per request, everything else one per call. One outcome per plan,
        in order; what a cancel stops stays `pending` (a retry sends it)."""
        ids = [self._add(plan) for plan in plans]
        return self._drive_many(ids, {pid: plan.before for pid, plan in zip(ids, plans, strict=True)}, progress, cancel)

    def retry_many(
        self, push_ids: Sequence[int], progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> list[PushOutcome]:
        """Retry many pushes as `push_many` sends them: Xero invoices and payments in batches, so the rows a lost
        batch answer (or a crash) left unknown are read back in bulk. One outcome per id, in order."""
        return self._drive_many(list(push_ids), {}, progress, cancel)

    def _drive_many(
        self,
        ids: list[int],
        before: Mapping[int, dict[str, Any]],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> list[PushOutcome]:
        report = progress or no_progress
        cancel = cancel or CancelToken()
        with self.db.transaction() as tx:
            rows = {pid: outbox.get_push(tx, pid) for pid in dict.fromkeys(ids)}
        groups: dict[str, list[int]] = {"invoice": [], "payment": []}
        singles: list[int] = []
        for pid, row in rows.items():
            group = _batchable(row)
            (groups[group] if group else singles).append(pid)
        chunks = [groups[g][i : i + BATCH_SIZE] for g in groups for i in range(0, len(groups[g]), BATCH_SIZE)]
        outcomes: dict[int, PushOutcome] = {}
        total, done = len(rows), 0
        for chunk in chunks:
            if cancel.cancelled:
                break
            outcomes.update(self._drive_batch(chunk, before))
            done += len(chunk)
            report(ProgressEvent("Pushing", done, total, unit="records"))
        for pid in singles:
            if cancel.cancelled:
                break
            outcomes[pid] = self._drive(pid, before=before.get(pid, {}))
            done += 1
            report(ProgressEvent("Pushing", done, total, unit="records"))
        for pid, row in rows.items():
            if pid not in outcomes:
                outcomes[pid] = PushOutcome(pid, row.state, "Cancelled before it was sent; nothing was sent for it.")
        return [outcomes[pid] for pid in ids]

    # -- the outbox and claims --

    def _add(self, plan: PushPlan) -> int:
        with self.db.transaction() as tx:
            key = idempotency_key(str(plan.target), self._scope(tx, plan.target), plan.action, plan.payload)
            return outbox.add_push(
                tx, str(plan.item_kind), plan.item_key, plan.action, str(plan.target), plan.payload, key, self.who
            )

    @staticmethod
    def _scope(tx: Tx, target: System) -> str:
        connection = connections_repo.get_connection(tx, target)
        return target_scope(connection.url, connection.tenant_id) if connection is not None else ""

    def _wire_key(self, row: PushRecord) -> str:
        """The key sent: the row's own for its first attempt; after refusals, one of the next attempt's payload."""
        if not int(row.payload.get("attempt", 0)):
            return row.idempotency_key
        with self.db.transaction(readonly=True) as tx:
            return idempotency_key(str(row.target), self._scope(tx, row.target), row.action, row.payload)

    def _claim(self, push_ids: Iterable[int]) -> tuple[str, list[int]]:
        owner = f"{self._owner_base}:{next(self._claims)}"
        lease = self.settings.push_lease_seconds
        with self.db.transaction() as tx:
            return owner, [pid for pid in push_ids if outbox.claim(tx, pid, owner, lease)]

    def _release(self, push_ids: Iterable[int], owner: str) -> None:
        with self.db.transaction() as tx:
            outbox.release(tx, push_ids, owner)

    def _busy(self, push_id: int) -> PushOutcome:
        with self.db.transaction(readonly=True) as tx:
            state = outbox.get_push(tx, push_id).state
        return PushOutcome(
            push_id, state, "This push is being sent by another process or window right now; nothing was sent."
        )

    def _settle(self, rows: Iterable[PushRecord]) -> None:
        """Wait until the write latency has passed since the latest of `rows` became uncertain or was sent."""
        latest = max((r.updated_at for r in rows), default=None)
        if latest is None:
            return
        settle = self.settings.write_settle_seconds
        wait = (latest + timedelta(seconds=settle) - _utcnow()).total_seconds()
        if wait > 0:
            self.sleep(min(wait, settle))

    def _taken(self, target: System) -> _Taken:
        """Records a read-back to `target` must never take: results of succeeded pushes, and records the cache
        already pairs with a record other than the one a row copies (see `_Taken`)."""
        column = "source_id" if target.role.value == "source" else "ledger_id"
        with self.db.transaction(readonly=True) as tx:
            return _Taken(outbox.linked_remote_ids(tx, target), outbox.pairs(tx, Kind.PAYMENT, column))

    # -- the state machine, one row --

    def _drive(self, push_id: int, *, before: dict[str, Any]) -> PushOutcome:
        owner, claimed = self._claim([push_id])
        if not claimed:
            return self._busy(push_id)
        try:
            return self._drive_claimed(push_id, before=before)
        finally:
            self._release(claimed, owner)

    def _restart_failed(self, row: PushRecord) -> PushRecord:
        """A failed row sent again: the same row, the next attempt (so a new wire key)."""
        payload = {**row.payload, "attempt": int(row.payload.get("attempt", 0)) + 1}
        with self.db.transaction() as tx:
            outbox.restart(tx, row.id, payload)
            return outbox.get_push(tx, row.id)

    def _drive_claimed(self, push_id: int, *, before: dict[str, Any]) -> PushOutcome:
        with self.db.transaction() as tx:
            row = outbox.get_push(tx, push_id)
        state = PushState(row.state)
        if state is PushState.SUCCEEDED:
            return PushOutcome(push_id, state, "Already pushed; nothing was sent again.", row.result_remote_id)
        if state is PushState.FAILED:
            row = self._restart_failed(row)
        if state in (PushState.UNCERTAIN, PushState.SENDING):
            self._settle([row])
            try:
                taken = self._taken(System(row.target)).for_row(row)
                found = _read_back(self.writers, row.action, row.payload, taken)
            except Exception as exc:  # any failure of the read-back leaves the outcome unknown
                msg = f"Could not check whether the earlier attempt arrived: {_people_error(exc)} Try again later."
                with self.db.transaction() as tx:
                    outbox.mark_push(tx, push_id, PushState.UNCERTAIN, error=msg)
                return PushOutcome(push_id, PushState.UNCERTAIN, msg)
            if found is not _RESEND:
                assert isinstance(found, Invoice | Payment)
                return self._succeeded(row, found, before, "found by read-back; it was not sent again")
        return self._send_row(row, before)

    def _send_row(self, row: PushRecord, before: dict[str, Any]) -> PushOutcome:
        with self.db.transaction() as tx:
            outbox.mark_push(tx, row.id, PushState.SENDING)
        try:
            result = _send(self.writers, row.action, row.payload, self._wire_key(row))
        except Exception as exc:  # classified below; unknown errors are treated as unknown outcomes
            if _definitely_not_sent(exc):
                return self._failed(row, exc, before)
            return self._uncertain(row, exc, before)
        return self._succeeded(row, result, before, "")

    def _failed(self, row: PushRecord, exc: BaseException, before: dict[str, Any]) -> PushOutcome:
        text = _people_error(exc)
        refused = _refusal(exc)
        log.info("push %s failed: %s", row.id, text)
        with self.db.transaction() as tx:
            outbox.mark_push(tx, row.id, PushState.FAILED, error=text, refused=refused)
            audit_repo.append_audit(
                tx,
                self.who,
                f"{row.action}:failed",
                row.item_kind,
                row.item_key,
                before,
                {"push_id": row.id, "state": "failed", "refused": refused},
                text,
            )
        hint = getattr(exc, "hint", "")
        return PushOutcome(
            row.id,
            PushState.FAILED,
            f"{_target_label(row.target)} refused the push: {text}" + (f" {hint}" if hint else ""),
        )

    def _uncertain(self, row: PushRecord, exc: BaseException, before: dict[str, Any]) -> PushOutcome:
        text = _people_error(exc)
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

    def _succeeded(
        self,
        row: PushRecord,
        result: Invoice | Payment | InvalidRecord,
        before: dict[str, Any],
        how: str,
        *,
        refreshed: Invoice | None = None,
        refetch: bool = True,
    ) -> PushOutcome:
        target = System(row.target)
        if isinstance(result, Payment) and refetch:
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

    # -- the state machine, a batch of Xero creates --

    def _drive_batch(self, push_ids: list[int], before: Mapping[int, dict[str, Any]]) -> dict[int, PushOutcome]:
        """Claim the rows, read back in bulk those whose earlier outcome is unknown, send the rest in ONE request
        under one key built from their wire keys, and settle each row from its own result."""
        owner, claimed = self._claim(push_ids)
        outcomes = {pid: self._busy(pid) for pid in push_ids if pid not in claimed}
        try:
            with self.db.transaction() as tx:
                rows = [outbox.get_push(tx, pid) for pid in claimed]
            to_send: list[PushRecord] = []
            unknown: list[PushRecord] = []
            for row in rows:
                if row.state is PushState.SUCCEEDED:
                    outcomes[row.id] = PushOutcome(
                        row.id, row.state, "Already pushed; nothing was sent again.", row.result_remote_id
                    )
                elif row.state is PushState.FAILED:
                    to_send.append(self._restart_failed(row))
                elif row.state in (PushState.UNCERTAIN, PushState.SENDING):
                    unknown.append(row)
                else:
                    to_send.append(row)
            if unknown:
                found, left = self._read_back_batch(unknown, before)
                outcomes.update(found)
                to_send.extend(left)
            if to_send:
                outcomes.update(self._send_batch(to_send, before))
        finally:
            self._release(claimed, owner)
        return outcomes

    def _read_back_batch(
        self, rows: list[PushRecord], before: Mapping[int, dict[str, Any]]
    ) -> tuple[dict[int, PushOutcome], list[PushRecord]]:
        """Bulk read-back: invoices by number, payments by invoice, a few calls for the whole batch."""
        self._settle(rows)
        writer = self.writers.ledger_writer()
        how = "found by read-back; it was not sent again"
        outcomes: dict[int, PushOutcome] = {}
        left: list[PushRecord] = []
        try:
            if _batchable(rows[0]) == "invoice":
                invoices = writer.find_invoices([str(r.payload["number"]) for r in rows])
                for row in rows:
                    inv = invoices.get(str(row.payload["number"]).strip())
                    if inv is not None:
                        outcomes[row.id] = self._succeeded(row, inv, before.get(row.id, {}), how)
                    else:
                        left.append(row)
                return outcomes, left
            payments = writer.find_payments([str(r.payload["invoice_id"]) for r in rows])
            taken = self._taken(system_for(Role.LEDGER))
            matched: dict[int, Payment] = {}
            for row in rows:
                mine = taken.for_row(row)
                pay = next((p for p in payments if p.id not in mine and _exact_payment(row.payload, p)), None)
                if pay is None:
                    left.append(row)
                else:
                    taken.linked.add(pay.id)  # one record answers for one row of the batch
                    matched[row.id] = pay
            refreshed = self._refetch_many([r for r in rows if r.id in matched])
        except Exception as exc:  # the check itself failed: the outcome stays unknown, nothing is sent
            msg = f"Could not check whether the earlier attempt arrived: {_people_error(exc)} Try again later."
            with self.db.transaction() as tx:
                for row in rows:
                    outbox.mark_push(tx, row.id, PushState.UNCERTAIN, error=msg)
            return {row.id: PushOutcome(row.id, PushState.UNCERTAIN, msg) for row in rows}, []
        for row in rows:
            if row.id in matched:
                inv = refreshed.get(str(row.payload.get("invoice_number", "")).strip())
                outcomes[row.id] = self._succeeded(
                    row, matched[row.id], before.get(row.id, {}), how, refreshed=inv, refetch=False
                )
        return outcomes, left

    def _send_batch(self, rows: list[PushRecord], before: Mapping[int, dict[str, Any]]) -> dict[int, PushOutcome]:
        wire = [self._wire_key(r) for r in rows]
        # One key per batch from its rows' keys; a batch of one is sent under that row's own key (the same request
        # as a single push, so an uncertain single push resent in a batch keeps its key).
        batch_key = wire[0] if len(wire) == 1 else _batch_key(wire)
        with self.db.transaction() as tx:
            for row in rows:
                outbox.mark_push(tx, row.id, PushState.SENDING)
        writer = self.writers.ledger_writer()
        try:
            results: list[BatchResult]
            if _batchable(rows[0]) == "invoice":
                creates = []
                for row in rows:
                    invoice, lines = _invoice_from_payload(row.payload)
                    creates.append(
                        InvoiceCreate(
                            invoice,
                            lines,
                            str(row.payload["account_code"]),
                            str(row.payload["tax_type"]) or None,
                            str(row.payload.get("ledger_contact_id") or ""),
                        )
                    )
                results = writer.create_invoices(creates, idempotency_key=batch_key)
            else:
                results = writer.create_payments(
                    [
                        PaymentCreate(
                            invoice_id=str(r.payload["invoice_id"]),
                            invoice_number=str(r.payload["invoice_number"]),
                            amount=Decimal(r.payload["amount"]),
                            day=date.fromisoformat(r.payload["date"]),
                            account_code=str(r.payload["account_code"]),
                            reference=str(r.payload["reference"]),
                        )
                        for r in rows
                    ],
                    idempotency_key=batch_key,
                )
        except Exception as exc:  # the whole request: refused (nothing created) or lost (any may have landed)
            if _definitely_not_sent(exc):
                return {r.id: self._failed(r, exc, before.get(r.id, {})) for r in rows}
            return {r.id: self._uncertain(r, exc, before.get(r.id, {})) for r in rows}
        created = [r for r, res in zip(rows, results, strict=True) if isinstance(res, Payment)]
        refreshed = self._refetch_many(created)
        outcomes: dict[int, PushOutcome] = {}
        for row, res in zip(rows, results, strict=True):
            if isinstance(res, RejectedError):
                outcomes[row.id] = self._failed(row, res, before.get(row.id, {}))
            else:
                inv = refreshed.get(str(row.payload.get("invoice_number", "")).strip())
                outcomes[row.id] = self._succeeded(row, res, before.get(row.id, {}), "", refreshed=inv, refetch=False)
        return outcomes

    def _refetch_many(self, rows: list[PushRecord]) -> dict[str, Invoice]:
        """The invoices that payments in `rows` changed, re-read in bulk (best effort, see `_succeeded`)."""
        numbers = [str(r.payload.get("invoice_number", "")) for r in rows]
        if not numbers:
            return {}
        try:
            return self.writers.ledger_writer().find_invoices(numbers)
        except Exception:  # see _succeeded
            log.warning("could not re-read %d invoices after a payment batch", len(numbers))
            return {}

    def _refetch_invoice(self, target: System, payload: Mapping[str, Any]) -> Invoice | None:
        try:
            if target.role is Role.LEDGER:
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

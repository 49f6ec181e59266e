"""`Workspace`: the one object the GUI and the command line talk to; implements `app.services.api.Recondesk`.

It wires the use cases (sync, reconcile, push, retry, resolve, report, connections) over one cache database, one
credential store, the settings and a `ClientFactory` that makes connectors (the composition root supplies the
concrete one; this module never imports a concrete connector). Every method may block: callers run them off the
GUI thread. Must not: import PySide6 or concrete connectors, return storage objects, or let a secret out.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from app.connectors.base import CheckStep, LedgerWriter, SecretBox, SourceWriter, SystemClient
from app.credentials import CredentialStore
from app.domain.errors import ConfigurationError, RecondeskError
from app.domain.keys import invoice_key
from app.domain.money import fmt, from_minor
from app.domain.progress import CancelToken, ProgressCallback
from app.domain.records import Invoice, Line, Payment
from app.domain.status import ItemStatus, Kind, PushState, System
from app.reconcile import diff
from app.reconcile.rules import INVOICE_FIELDS, PAYMENT_FIELDS, Rules
from app.services import push as push_mod
from app.services import report as report_mod
from app.services.api import (
    ORDERS,
    Action,
    ActionResult,
    ActionSpec,
    AuditEntry,
    ChangeSet,
    CheckResult,
    ConnectionInfo,
    FieldDiff,
    ItemDetail,
    ItemFilter,
    ItemPage,
    ItemRow,
    ListCounts,
    PageCursor,
    PushField,
    PushRecord,
    PushRow,
    Resolve,
    RetryPush,
    Roles,
    StreamStats,
    Summary,
    SyncResult,
)
from app.services.connections import SECRET_FIELD, Connections, MemorySecretBox
from app.services.resolve import RESOLUTION_LABELS, RESOLVABLE, ResolveError, resolve_item
from app.settings import Settings
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import outbox
from app.storage import records as records_repo
from app.storage.db import Database
from app.storage.models import ItemRecord
from app.storage.models import PushRecord as StoredPush

log = logging.getLogger(__name__)

SOURCE, LEDGER = System.ACCESSPLANIT, System.XERO
"""The systems playing each role (the clients below are made for these)."""

_RETRYABLE = (PushState.FAILED, PushState.UNCERTAIN, PushState.SENDING)


class SourceClient(SystemClient, SourceWriter, Protocol):
    """accessplanit: reads and writes."""


class LedgerClient(SystemClient, LedgerWriter, Protocol):
    """Xero: reads and writes."""


class ClientFactory(Protocol):
    """Makes connectors from a saved connection and a box over its secret (written by the composition root)."""

    def source(self, info: ConnectionInfo, secrets: SecretBox) -> SourceClient: ...

    def ledger(self, info: ConnectionInfo, secrets: SecretBox) -> LedgerClient: ...

    def check(self, info: ConnectionInfo, secrets: SecretBox) -> list[CheckStep]: ...


class _Clients:
    """Connectors made on first use and kept (their tokens and pacing live in them); dropped when a connection
    changes. Implements `push.Writers`."""

    def __init__(self, connections: Connections, factory: ClientFactory) -> None:
        self._connections = connections
        self._factory = factory
        self._lock = threading.Lock()
        self._source: SourceClient | None = None
        self._ledger: LedgerClient | None = None

    def reset(self) -> None:
        with self._lock:
            self._source = self._ledger = None

    def source(self) -> SourceClient:
        with self._lock:
            if self._source is None:
                info, box = self._connections.get(SOURCE)
                self._source = self._factory.source(info, box)
            return self._source

    def ledger(self) -> LedgerClient:
        with self._lock:
            if self._ledger is None:
                info, box = self._connections.get(LEDGER)
                self._ledger = self._factory.ledger(info, box)
            return self._ledger

    def source_writer(self) -> SourceWriter:
        return self.source()

    def ledger_writer(self) -> LedgerWriter:
        return self.ledger()


def _money_text(minor: int | None, currency: str) -> str:
    return "" if minor is None else fmt(from_minor(minor, currency or None), currency or None)


def to_row(item: ItemRecord) -> ItemRow:
    return ItemRow(
        item_id=item.id,
        kind=Kind(item.kind),
        key=item.key,
        invoice=item.invoice or item.invoice_key,
        contact=item.contact,
        date=item.date.isoformat() if item.date else "",
        currency=item.currency,
        amount=_money_text(item.amount_minor, item.currency),
        status=ItemStatus(item.status),
        fields=tuple(item.fields),
        push=PushState(item.push_state) if item.push_state is not None else None,
        source_id=item.accessplanit_id,
        ledger_id=item.xero_id,
        note=item.note,
    )


def to_push_row(p: StoredPush) -> PushRow:
    return PushRow(
        push_id=p.id,
        action=p.action,
        target=System(p.target),
        state=PushState(p.state),
        attempts=p.attempts,
        last_error=p.last_error,
        idempotency_key=p.idempotency_key,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _lines(lines: Sequence[Line], currency: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((ln.description, fmt(ln.net, currency), fmt(ln.tax, currency)) for ln in diff.sorted_lines(lines))


class Workspace:
    """Implements `app.services.api.Recondesk` (plus `report_bytes` and `credentials_description` for the CLI)."""

    def __init__(
        self,
        db: Database,
        credentials: CredentialStore,
        settings: Settings,
        clients: ClientFactory,
        profile: str,
        who: str | None = None,
    ) -> None:
        self.db = db
        self.credentials = credentials
        self.settings = settings
        self.profile = profile
        self.who = who or settings.who()
        self.factory = clients
        self.rules = Rules(settings.money_tolerance, dict(settings.method_accounts))
        self._connections = Connections(db, credentials, profile)
        self._clients = _Clients(self._connections, clients)
        self.pusher = push_mod.PushService(db, settings, profile, self.who, self._clients, self._reconcile_invoice)

    # --- helpers ---

    def _reconcile_invoice(self, key: str) -> None:
        from app.services.reconciling import reconcile_invoice

        reconcile_invoice(self.db, self.settings, key)

    def _item(self, item_id: int) -> ItemRecord:
        with self.db.transaction(readonly=True) as tx:
            found = items_repo.item_rows(tx, [item_id])
        if not found:
            raise RecondeskError("That item no longer exists.", "Sync again and pick it from the list.")
        return found[0]

    def _item_by_key(self, kind: Kind, key: str) -> ItemRecord | None:
        with self.db.transaction(readonly=True) as tx:
            return items_repo.item_by_key(tx, kind, key)

    def _records(self, item: ItemRecord) -> tuple[Any, Any, Any]:
        """(source stored record, ledger stored record, invalid stored record); None where absent."""
        with self.db.transaction(readonly=True) as tx:
            src = records_repo.get_record(tx, item.source_record_id) if item.source_record_id else None
            led = records_repo.get_record(tx, item.ledger_record_id) if item.ledger_record_id else None
            bad = records_repo.get_record(tx, item.invalid_record_id) if item.invalid_record_id else None
        return src, led, bad

    @staticmethod
    def _still_needed(push: StoredPush, item: ItemRecord | None) -> bool:
        """Whether resending a push makes sense. An `uncertain`/`sending` push always does (its retry reads back
        first). A `failed` one only while its item still shows the difference: after the user fixed it by hand
        and synced (item matched, resolved, or a payment paired under a new key), resending would duplicate."""
        if PushState(push.state) is not PushState.FAILED:
            return True
        if item is None or item.status not in (
            ItemStatus.DIFFERS,
            ItemStatus.ONLY_IN_SOURCE,
            ItemStatus.ONLY_IN_LEDGER,
        ):
            return False
        kind, field_name, _ = push_mod.action_parts(push.action)
        return kind != push_mod.PUSH_FIELD or field_name in item.fields

    def _invoice_on(self, system: System, number_key: str) -> Invoice | None:
        """The invoice with this normalized number on `system` (the first, as matching takes it)."""
        if not number_key or number_key == "?":
            return None
        with self.db.transaction(readonly=True) as tx:
            found = [i for i in records_repo.load_invoices(tx, system, number_key=number_key) if not i.deleted]
        return found[0] if found else None

    def _ledger_refunds(self, number_key: str) -> Decimal:
        """R of docs/reconciliation.md section 4 for one invoice, for the diff panel's canonical Xero values."""
        with self.db.transaction(readonly=True) as tx:
            return report_mod.xero_refunds(tx).get(number_key, Decimal(0))

    # --- item list ---

    def roles(self) -> Roles:
        return Roles(SOURCE, LEDGER)

    def periods(self) -> Sequence[str]:
        with self.db.transaction(readonly=True) as tx:
            return list(items_repo.periods(tx))

    def count_items(self, flt: ItemFilter) -> int:
        with self.db.transaction(readonly=True) as tx:
            return int(items_repo.count_items(tx, flt.period, flt.statuses, flt.kind, flt.search))

    def item_ids(self, flt: ItemFilter) -> Sequence[int]:
        with self.db.transaction(readonly=True) as tx:
            return list(items_repo.query_item_ids(tx, flt.period, flt.statuses, flt.kind, flt.search))

    def page(self, flt: ItemFilter, order: str = "key", after: PageCursor | None = None, limit: int = 200) -> ItemPage:
        if order.lstrip("-") not in ORDERS:
            raise ValueError(f"unknown order {order!r}; use one of {ORDERS}")
        with self.db.transaction(readonly=True) as tx:
            found = items_repo.item_page(
                tx,
                flt.period,
                flt.statuses,
                flt.kind,
                flt.search,
                order,
                (after.value, after.item_id) if after is not None else None,
                limit + 1,  # one more than asked says whether another page follows, without a count
            )
        more = len(found) > limit
        found = found[:limit]
        last = PageCursor(found[-1][0], found[-1][1].id) if more and found else None
        return ItemPage(tuple(to_row(r) for _v, r in found), last)

    def list_counts(self, flt: ItemFilter) -> ListCounts:
        with self.db.transaction(readonly=True) as tx:
            by_status = items_repo.count_by_status(tx, flt.period, flt.kind, flt.search)
        wanted = {str(s) for s in flt.statuses} or set(by_status)
        return ListCounts(sum(n for s, n in by_status.items() if s in wanted), by_status)

    def rows(self, item_ids: Sequence[int]) -> Sequence[ItemRow]:
        with self.db.transaction(readonly=True) as tx:
            found = {r.id: r for r in items_repo.item_rows(tx, list(item_ids))}
        return [to_row(found[i]) for i in item_ids if i in found]

    # --- detail and actions ---

    def item_detail(self, item_id: int) -> ItemDetail:
        item = self._item(item_id)
        src, led, bad = self._records(item)
        a = src.record if src is not None else None
        b = led.record if led is not None else None
        diffs: list[FieldDiff] = []
        lines_a: tuple[tuple[str, str, str], ...] = ()
        lines_b: tuple[tuple[str, str, str], ...] = ()
        if item.kind is Kind.INVOICE and (isinstance(a, Invoice) or isinstance(b, Invoice)):
            ia = a if isinstance(a, Invoice) else None
            ib = b if isinstance(b, Invoice) else None
            refunds = self._ledger_refunds(item.invoice_key) if ib is not None else Decimal(0)
            comps = diff.compare_invoice(ia, ib, self.rules, ledger_refunds=refunds)
            pushable = {r.name: r.pushable_to for r in INVOICE_FIELDS}
            diffs = [self._field_diff(c, pushable, both=ia is not None and ib is not None) for c in comps]
            lines_a = _lines(ia.lines, ia.currency) if ia else ()
            lines_b = _lines(ib.lines, ib.currency) if ib else ()
        elif item.kind is Kind.PAYMENT and (isinstance(a, Payment) or isinstance(b, Payment)):
            pa = a if isinstance(a, Payment) else None
            pb = b if isinstance(b, Payment) else None
            pushable = {r.name: r.pushable_to for r in PAYMENT_FIELDS}
            comps = diff.compare_payment(pa, pb, self.rules)
            diffs = [self._field_diff(c, pushable, both=pa is not None and pb is not None) for c in comps]
        with self.db.transaction(readonly=True) as tx:
            pushes = outbox.pushes_for(tx, item.kind, item.key)
            audit = audit_repo.list_audit(tx, 200, item_key=item.key)
        raw_a = _pretty(src.raw) if src is not None else ""
        raw_b = _pretty(led.raw) if led is not None else ""
        error = ""
        if bad is not None:
            error = bad.invalid_reason or ""
            if bad.system is System.ACCESSPLANIT:
                raw_a = _pretty(bad.raw)
            else:
                raw_b = _pretty(bad.raw)
        return ItemDetail(
            row=to_row(item),
            diffs=tuple(diffs),
            lines_source=lines_a,
            lines_ledger=lines_b,
            actions=tuple(self._actions(item, a, b, pushes)),
            pushes=tuple(to_push_row(p) for p in pushes),
            audit=tuple(_audit_entry(e) for e in audit),
            error=error,
            raw_source=raw_a,
            raw_ledger=raw_b,
        )

    @staticmethod
    def _field_diff(c: diff.FieldComparison, pushable: dict[str, tuple[System, ...]], *, both: bool) -> FieldDiff:
        differs = both and not c.equal
        return FieldDiff(
            field=c.field,
            label=c.label,
            source=c.source_value,
            ledger=c.ledger_value,
            differs=differs,
            pushable_to=pushable.get(c.field, ()) if differs else (),
        )

    def _actions(self, item: ItemRecord, a: object, b: object, pushes: Sequence[StoredPush]) -> list[ActionSpec]:
        """What the user can do with this item now: pushes the rules allow, retries, resolutions."""
        out: list[ActionSpec] = []
        status = ItemStatus(item.status)
        if item.kind is Kind.INVOICE:
            if status is ItemStatus.ONLY_IN_SOURCE and isinstance(a, Invoice) and a.lines:
                out.append(ActionSpec(PushRecord(item.id, System.XERO), "Create this invoice in Xero", System.XERO))
            if status is ItemStatus.DIFFERS and isinstance(a, Invoice) and isinstance(b, Invoice):
                for rule in INVOICE_FIELDS:
                    if rule.name not in item.fields:
                        continue
                    for target in rule.pushable_to:
                        label = f"Push {rule.label} from {target.other.label} to {target.label}"
                        out.append(ActionSpec(PushField(item.id, rule.name, target), label, target, rule.name))
        elif item.kind is Kind.PAYMENT:
            if status is ItemStatus.ONLY_IN_SOURCE and isinstance(a, Payment):
                if self._invoice_on(System.XERO, invoice_key(a.invoice_number)) is not None:
                    out.append(ActionSpec(PushRecord(item.id, System.XERO), "Record this payment in Xero", System.XERO))
            if status is ItemStatus.ONLY_IN_LEDGER and isinstance(b, Payment):
                if self._invoice_on(System.ACCESSPLANIT, invoice_key(b.invoice_number)) is not None:
                    out.append(
                        ActionSpec(
                            PushRecord(item.id, System.ACCESSPLANIT),
                            "Record this payment in accessplanit",
                            System.ACCESSPLANIT,
                        )
                    )
        latest: dict[str, StoredPush] = {}
        for p in sorted(pushes, key=lambda p: p.id):
            latest[p.action] = p
        for p in latest.values():
            if PushState(p.state) in _RETRYABLE and self._still_needed(p, item):
                label = f"Retry: {_describe_push(p.action)} ({p.state})"
                out.append(ActionSpec(RetryPush(p.id), label, System(p.target)))
        if status in RESOLVABLE:
            for res, label in RESOLUTION_LABELS.items():
                out.append(ActionSpec(Resolve(item.id, res), label))
        return out

    def act(self, action: Action) -> ActionResult:
        """Do `action`; the result says what changed (nothing when it was refused before anything was done)."""
        item_id = action.item_id if not isinstance(action, RetryPush) else None
        try:
            if isinstance(action, Resolve):
                return self._resolve(action)
            if isinstance(action, RetryPush):
                push = self._push(action.push_id)
                found = self._item_by_key(Kind(push.item_kind), push.item_key)
                item_id = found.id if found is not None else None
                if not self._still_needed(push, found):
                    now = found.status if found is not None else "gone"
                    raise push_mod.PushError(f"Not retried: the item is {now} now, so the push is not needed.")
                before = self._snapshot(push.item_key)
                return self._result(self.pusher.retry(action.push_id), found, push.item_key, before)
            item = self._item(action.item_id)
            plan = self._plan(item, action)
            before = self._snapshot(item.invoice_key)
            return self._result(self.pusher.push(plan), item, item.invoice_key, before)
        except (RecondeskError, ValueError) as exc:
            text = exc.user_text() if isinstance(exc, RecondeskError) else f"Cannot do that: {exc}"
            return ActionResult(False, text, self._safe_row(item_id) if item_id is not None else None)

    def _push(self, push_id: int) -> StoredPush:
        with self.db.transaction(readonly=True) as tx:
            try:
                return outbox.get_push(tx, push_id)
            except KeyError:
                raise push_mod.PushError(f"There is no push {push_id}.", "Open the item again.") from None

    def _plan(self, item: ItemRecord, action: PushRecord | PushField) -> push_mod.PushPlan:
        src, led, _ = self._records(item)
        a = src.record if src is not None else None
        b = led.record if led is not None else None
        if isinstance(action, PushField):
            rule = next((r for r in INVOICE_FIELDS if r.name == action.field), None)
            if rule is None or action.to not in rule.pushable_to:
                raise push_mod.PushError(f"{action.field} cannot be pushed to {action.to.label}.")
            if not (isinstance(a, Invoice) and isinstance(b, Invoice)):
                raise push_mod.PushError("A field can be pushed only when the invoice is in both systems.")
            source, dest = (a, b) if action.to is System.XERO else (b, a)
            return push_mod.plan_push_field(source, dest, action.field, item.key)
        target = action.to
        if item.kind is Kind.INVOICE:
            if target is not System.XERO:
                raise push_mod.PushError("An invoice can be created only in Xero.")
            if not isinstance(a, Invoice):
                raise push_mod.PushError("This item has no accessplanit invoice to push.")
            if self._invoice_on(System.XERO, invoice_key(a.number)) is not None:
                raise push_mod.PushError(f"Xero already has an invoice {a.number}.", "Sync to see it.")
            return push_mod.plan_push_invoice(a, self.settings, item.key)
        pay = a if target is System.XERO else b
        if not isinstance(pay, Payment):
            raise push_mod.PushError(f"This item has no payment to record in {target.label}.")
        inv = self._invoice_on(target, invoice_key(pay.invoice_number))
        if inv is None:
            raise push_mod.PushError(
                f"{target.label} has no invoice {pay.invoice_number or '?'} to record the payment on.",
                "Push or create the invoice first, sync, then push the payment.",
            )
        return push_mod.plan_push_payment(pay, inv, self.settings, item.key)

    def _safe_row(self, item_id: int) -> ItemRow | None:
        try:
            return to_row(self._item(item_id))
        except RecondeskError:
            return None

    def _snapshot(self, key: str) -> dict[int, tuple[str, str | None]]:
        """(status, period) of each item on one invoice key: a push re-reconciles that invoice and nothing else."""
        with self.db.transaction(readonly=True) as tx:
            return {r.id: (str(r.status), r.period) for r in items_repo.items_for_invoice(tx, key)}

    def _changes(self, before: dict[int, tuple[str, str | None]], key: str, *, audit: bool = True) -> ChangeSet:
        after = self._snapshot(key)
        added, removed = after.keys() - before.keys(), before.keys() - after.keys()
        kept = before.keys() & after.keys()
        periods_before = {p for _s, p in before.values()}
        periods_after = {p for _s, p in after.values()}
        return ChangeSet(
            changed=frozenset(kept),
            added=frozenset(added),
            removed=frozenset(removed),
            counts=bool(added or removed) or any(before[i][0] != after[i][0] for i in kept),
            periods=periods_before != periods_after,
            audit=audit,
        )

    def _result(
        self,
        outcome: push_mod.PushOutcome,
        before: ItemRecord | None,
        key: str,
        snapshot: dict[int, tuple[str, str | None]],
    ) -> ActionResult:
        changes = self._changes(snapshot, key)
        now = self._safe_row(before.id) if before is not None else None
        if now is None and outcome.ok and before is not None and before.kind is Kind.PAYMENT:
            # A pushed payment pairs up under a new key (it now has both ids): show that item.
            push = self._push(outcome.push_id)
            ap_id = before.accessplanit_id or (push.result_remote_id if push.target == System.ACCESSPLANIT else None)
            xero_id = before.xero_id or (push.result_remote_id if push.target == System.XERO else None)
            from app.domain.keys import payment_key

            found = self._item_by_key(Kind.PAYMENT, payment_key(before.invoice_key, ap_id, xero_id))
            now = to_row(found) if found is not None else None
        return ActionResult(outcome.ok, outcome.message, now, changes)

    def _resolve(self, action: Resolve) -> ActionResult:
        try:
            before = self._item(action.item_id)
            item = resolve_item(self.db, self.who, action.item_id, action.resolution, action.note)
        except ResolveError as exc:
            return ActionResult(False, exc.user_text(), self._safe_row(action.item_id))
        changes = ChangeSet(changed=frozenset({item.id}), counts=item.status != before.status, audit=True)
        return ActionResult(True, f"Resolved: {RESOLUTION_LABELS[action.resolution]}.", to_row(item), changes)

    def retry_failed(self) -> Sequence[ActionResult]:
        """Retry every failed, uncertain or interrupted push (uncertain ones are read back first)."""
        results: list[ActionResult] = []
        for push_id in self.pusher.retryable():
            row = self._push(push_id)
            if not self._still_needed(row, self._item_by_key(Kind(row.item_kind), row.item_key)):
                continue
            before = self._snapshot(row.item_key)
            outcome = self.pusher.retry(push_id)
            item = self._item_by_key(Kind(row.item_kind), row.item_key)
            label = f"{_describe_push(row.action)} for {row.item_key}: {outcome.message}"
            row_now = to_row(item) if item is not None else None
            results.append(ActionResult(outcome.ok, label, row_now, self._changes(before, row.item_key)))
        return results

    # --- summary, sync, audit ---

    def sync_runs(self, limit: int = 50) -> Sequence[SyncResult]:
        from app.storage import synclog

        with self.db.transaction(readonly=True) as tx:
            runs = synclog.list_runs(tx, limit)
        out = []
        for r in runs:
            errors = r.errors
            if r.finished_at is None:
                errors = (*errors, "This run did not finish (the program stopped); what it had saved is kept.")
            streams = tuple(
                StreamStats(s.system, s.stream, s.fetched, s.pages, s.calls, s.retries, s.invalid, s.error)
                for s in r.streams
            )
            out.append(
                SyncResult(
                    run_id=r.id,
                    started_at=r.started_at,
                    finished_at=r.finished_at or r.started_at,
                    ok=bool(r.ok),
                    cancelled=r.cancelled,
                    streams=streams,
                    counts=dict(r.counts),
                    errors=tuple(errors),
                    budget=dict(r.budget),
                )
            )
        return out

    def summary(self, period: str | None) -> Summary:
        from app.storage import synclog

        with self.db.transaction(readonly=True) as tx:
            counts = dict(items_repo.count_by_status(tx, period))
            last = synclog.last_run(tx)
        configured = {str(c.system): c.has_secret for c in self._connections.list()}
        return Summary(
            counts={str(k): int(v) for k, v in counts.items()},
            last_sync=last.finished_at if last is not None else None,
            last_sync_ok=last.ok if last is not None else None,
            connections={str(s): configured.get(str(s), False) for s in System},
        )

    def sync(
        self, *, full: bool = False, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> SyncResult:
        from app.services.sync import sync_all

        clients: dict[System, SystemClient] = {}
        configured = {c.system for c in self._connections.list() if c.has_secret or c.auth == "oauth"}
        if System.ACCESSPLANIT in configured:
            clients[System.ACCESSPLANIT] = self._clients.source()
        if System.XERO in configured:
            clients[System.XERO] = self._clients.ledger()
        if not clients:
            raise ConfigurationError(
                "There is nothing to sync yet: no connection is set up.",
                "Add the accessplanit and Xero connections in Edit > Connections.",
            )
        return sync_all(self.db, clients, self.settings, full=full, progress=progress, cancel=cancel)

    def audit(self, limit: int = 500) -> Sequence[AuditEntry]:
        with self.db.transaction(readonly=True) as tx:
            return [_audit_entry(e) for e in audit_repo.list_audit(tx, limit)]

    # --- connections ---

    def connections(self) -> Sequence[ConnectionInfo]:
        return self._connections.list()

    def save_connection(self, info: ConnectionInfo, secret: str | None) -> None:
        self._connections.save(info, secret)
        self._clients.reset()

    def save_connection_secrets(self, info: ConnectionInfo, secrets: dict[str, str]) -> None:
        """Save a connection whose secret is several values (the OAuth flow's tokens)."""
        self._connections.save_secret_dict(info, secrets)
        self._clients.reset()

    def _run_checks(self, info: ConnectionInfo, box: SecretBox) -> CheckResult:
        try:
            steps = self.factory.check(info, box)
        except ConfigurationError as exc:
            return CheckResult(False, "configuration", exc.user_text())
        except RecondeskError as exc:
            return CheckResult(False, "reachability", exc.user_text())
        for step in steps:
            if not step.ok:
                return CheckResult(False, step.step, step.message)
        if not steps:
            return CheckResult(False, "reachability", "The connector ran no checks.")
        tenant = next((s for s in steps if s.tenant_id), None)
        found = (tenant.tenant_id, tenant.tenant_name) if tenant else ("", "")
        message = " ".join(s.message for s in steps)
        return CheckResult(True, steps[-1].step, message, tenant_id=found[0], tenant_name=found[1])

    def test_connection(self, system: System) -> CheckResult:
        """Run the connector's checks on the saved connection; the result names the first failing step. The Xero
        organisation the check finds is kept with the connection (a custom connection reaches exactly one)."""
        try:
            info, box = self._connections.get(system)
        except ConfigurationError as exc:
            return CheckResult(False, "configuration", exc.user_text())
        result = self._run_checks(info, box)
        if (
            result.ok
            and result.tenant_id
            and (result.tenant_id, result.tenant_name) != (info.tenant_id, info.tenant_name)
        ):
            self._connections.update_tenant(system, result.tenant_id, result.tenant_name)
            self._clients.reset()
        return result

    def check_connection(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test details typed in but not saved; `secret` None means the saved one. Nothing is stored."""
        if secret is None:
            try:
                _saved, box = self._connections.get(info.system)
            except ConfigurationError as exc:
                return CheckResult(False, "configuration", exc.user_text())
            return self._run_checks(info, MemorySecretBox(box.load()))
        return self._run_checks(info, MemorySecretBox({SECRET_FIELD.get(info.auth, "secret"): secret}))

    def save_checked(self, info: ConnectionInfo, secret: str | None) -> CheckResult:
        """Test first; save (the secret to the keyring) only if the connection works, with the Xero organisation
        the check found. A failed check saves nothing and says which step failed."""
        result = self.check_connection(info, secret)
        if result.ok:
            if result.tenant_id:
                info = dataclasses.replace(info, tenant_id=result.tenant_id, tenant_name=result.tenant_name)
            self.save_connection(info, secret)
        return result

    def credentials_description(self) -> str:
        return self.credentials.describe()

    # --- report ---

    def report(self, period: str | None) -> dict[str, Any]:
        return report_mod.build_report(self.db, period, self.rules)

    def report_bytes(self, period: str | None, fmt_name: str) -> bytes:
        return report_mod.report_bytes(self.db, period, fmt_name, self.rules)


def _describe_push(action: str) -> str:
    """A stored push's action (the outbox's own format, read by `push.action_parts`) for people."""
    kind, field_name, target = push_mod.action_parts(action)
    if kind == push_mod.PUSH_FIELD and field_name:
        return f"push {field_name.replace('_', ' ')} to {target.label}"
    if kind == push_mod.PUSH_INVOICE:
        return f"create the invoice in {target.label}"
    if kind == push_mod.PUSH_PAYMENT:
        return f"record the payment in {target.label}"
    return action


def _audit_entry(e: Any) -> AuditEntry:
    return AuditEntry(
        at=e.at, who=e.who, action=e.action, item_key=e.item_key, before=e.before, after=e.after, note=e.note
    )


def _pretty(raw: str) -> str:
    """The stored payload as indented JSON for people (Decimals kept digit for digit)."""
    import json

    from app.storage.jsontext import loads

    try:
        data = loads(raw)
    except ValueError:
        return raw
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)

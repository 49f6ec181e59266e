"""User actions on items: pushes through the outbox, retries, resolutions. Each returns what it changed (a
`ChangeSet`) so views refresh only that.

Must not: parse strings into actions (they arrive typed), or send anything the outbox has not recorded first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.connectors.base import PushFacts
from app.domain.errors import RecondeskError
from app.domain.keys import invoice_key
from app.domain.records import Invoice, Payment
from app.domain.status import Kind, PushState, Role, System
from app.reconcile.rules import INVOICE_FIELDS, POSSIBLE_DUPLICATE
from app.services import plans, previews
from app.services import push as push_mod
from app.services import resolve as resolve_mod
from app.services.api import (
    Action,
    ActionResult,
    ChangeSet,
    Match,
    PlannedWrite,
    PushField,
    PushRecord,
    Reopen,
    Resolve,
    RetryPush,
    Revert,
    Unmatch,
)
from app.services.item_queries import ROLES, ItemAccess, to_row
from app.services.resolve import (
    RESOLUTION_LABELS,
    ResolveError,
    StaleItem,
    linked_keys,
    match_items,
    reopen_item,
    resolve_item,
    unmatch_item,
)
from app.settings import Settings
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import outbox
from app.storage import records as records_repo
from app.storage.db import Database
from app.storage.models import ItemRecord
from app.storage.models import PushRecord as StoredPush


class ItemActions(ItemAccess):
    """Runs `Action`s for one person (`who`, written to the audit log) through the push service."""

    def __init__(self, db: Database, settings: Settings, who: str, pusher: push_mod.PushService) -> None:
        super().__init__(db)
        self.settings = settings
        self.who = who
        self.pusher = pusher

    def act(self, action: Action) -> ActionResult:
        """Do `action`; the result says what changed (nothing when it was refused before anything was done)."""
        item_id = action.item_id if not isinstance(action, RetryPush | Revert) else None
        try:
            if isinstance(action, Resolve):
                return self._resolve(action)
            if isinstance(action, Reopen | Match | Unmatch):
                return self._decide(action)
            if isinstance(action, Revert):
                return self._revert(action)
            if isinstance(action, RetryPush):
                push = self._push(action.push_id)
                found = self._item_by_key(Kind(push.item_kind), push.item_key)
                item_id = found.id if found is not None else None
                if not self._still_needed(push, found):
                    now = found.status if found is not None else "gone"
                    raise plans.PushError(f"Not retried: the item is {now} now, so the push is not needed.")
                before = self._snapshot(push.item_key)
                return self._result(self.pusher.retry(action.push_id), found, push.item_key, before)
            item = self._item(action.item_id)
            plan, ctx = self._checked_plan(item, action)
            problems = plans.check_plan(plan, ctx)
            self._remember_blocked(item, problems)
            refused = plans.refusal(problems)
            if refused is not None:
                raise refused
            self._take(item, action.expected_version)
            if ctx.duplicate_of:
                self._audit_override(item, plan, action.override_note)
            before = self._snapshot(item.invoice_key)
            return self._result(self.pusher.push(plan), item, item.invoice_key, before)
        except StaleItem as exc:
            return self._stale(exc, item_id)
        except (RecondeskError, ValueError) as exc:
            text = exc.user_text() if isinstance(exc, RecondeskError) else f"Cannot do that: {exc}"
            flag = exc.flag if isinstance(exc, plans.PushRefused) else ""
            row = self._safe_row(item_id) if item_id is not None else None
            # A refusal may have set or cleared the item's `blocked` reason: that row changed.
            changes = ChangeSet(changed=frozenset({row.item_id})) if flag and row is not None else ChangeSet()
            return ActionResult(False, text, row, changes, flag)

    def _take(self, item: ItemRecord, expected: int | None) -> None:
        """Before a push: claim the version the person saw (`resolve.take`), so two people pushing from one view of
        the item cannot both go ahead. Raises `StaleItem`."""
        if expected is not None:
            with self.db.transaction() as tx:
                resolve_mod.take(tx, item, expected)

    def _stale(self, exc: StaleItem, item_id: int | None) -> ActionResult:
        """A decision refused because the item changed since it was shown: say who did what, and refresh the items
        of its invoice (their statuses may have changed too)."""
        row = self._safe_row(item_id) if item_id is not None else None
        ids = frozenset(self._snapshot(self._item(row.item_id).invoice_key)) if row is not None else frozenset()
        return ActionResult(False, exc.user_text(), row, ChangeSet(changed=ids, counts=True, audit=True), "stale")

    def _audit_override(self, item: ItemRecord, plan: plans.PushPlan, note: str) -> None:
        """A person allowed a flagged push: decision `override` (product.md section 7), with their note."""
        with self.db.transaction() as tx:
            audit_repo.append_audit(
                tx,
                self.who,
                "override",
                item.kind.value,
                item.key,
                {"flags": list(item.flags), "twin": item.twin},
                {"push": plan.action},
                note.strip(),
            )

    def _push(self, push_id: int) -> StoredPush:
        with self.db.transaction(readonly=True) as tx:
            try:
                return outbox.get_push(tx, push_id)
            except KeyError:
                raise plans.PushError(f"There is no push {push_id}.", "Open the item again.") from None

    def preview(self, action: PushRecord | PushField) -> PlannedWrite:
        """What `act(action)` would send, with every rule it breaks; sends nothing (remembers a `blocked` reason)."""
        item = self._item(action.item_id)
        plan, ctx = self._checked_plan(item, action)
        problems = plans.check_plan(plan, ctx)
        self._remember_blocked(item, problems)
        return previews.planned_write(
            item.id, plan, previews.describe(self.pusher.writers, plan.action, plan.payload), problems
        )

    def _remember_blocked(self, item: ItemRecord, problems: list[plans.Problem]) -> None:
        reason = " ".join(x.text for x in problems if x.flag == "blocked" and not x.needs)
        if reason != item.blocked:
            with self.db.transaction() as tx:
                items_repo.set_item_blocked(tx, item.id, reason)

    def _facts(self, target: System) -> PushFacts:
        """The target's cached reference data, read by its connector for the checks (a writer that does not read
        reference data, such as a test double, gets the checks that need none)."""
        writer = previews.writer_for(self.pusher.writers, target)
        if not hasattr(writer, "push_facts"):
            return PushFacts()
        with self.db.transaction(readonly=True) as tx:
            reference = {s: records_repo.reference_data(tx, target, s) for s in writer.streams()}
        return writer.push_facts(reference)

    def _checked_plan(self, item: ItemRecord, action: PushRecord | PushField) -> tuple[plans.PushPlan, plans.Context]:
        """The plan of a push and what its checks need to know."""
        facts = self._facts(action.to)
        clear = isinstance(action, PushField) and action.clear
        new_contact = isinstance(action, PushRecord) and action.new_contact
        plan, target_invoice = self._plan(item, action, facts)
        taken = ""
        if plan.action.startswith(plans.PUSH_INVOICE):
            with self.db.transaction(readonly=True) as tx:
                held = records_repo.load_invoices(tx, plan.target, number_key=plan.invoice_key)
            taken = next(("deleted" if i.deleted else str(i.state) for i in held), "")
        duplicate_of = (item.twin or "another record") if POSSIBLE_DUPLICATE in item.flags else ""
        ctx = plans.Context(
            facts,
            target_invoice,
            taken,
            clear=clear,
            new_contact=new_contact,
            duplicate_of=duplicate_of,
            override_note=action.override_note,
            adviser=self._adviser(action.to),
        )
        return plan, ctx

    def _adviser(self, target: System) -> bool:
        """The target's connection has the adviser role (only the ledger's can: `Settings.xero_adviser`)."""
        return target.role is Role.LEDGER and self.settings.xero_adviser

    def _plan(
        self, item: ItemRecord, action: PushRecord | PushField, facts: PushFacts
    ) -> tuple[plans.PushPlan, Invoice | None]:
        src, led, _ = self._records(item)
        a = src.record if src is not None else None
        b = led.record if led is not None else None
        if isinstance(action, PushField):
            rule = next((r for r in INVOICE_FIELDS if r.name == action.field), None)
            if rule is None or action.to not in ROLES.systems(rule.pushable_to):
                raise plans.PushError(f"{action.field} cannot be pushed to {action.to.label}.")
            if not (isinstance(a, Invoice) and isinstance(b, Invoice)):
                raise plans.PushError("A field can be pushed only when the invoice is in both systems.")
            source, dest = (a, b) if action.to.role is Role.LEDGER else (b, a)
            return plans.plan_push_field(source, dest, action.field, item.key), dest
        target = action.to
        if item.kind is Kind.INVOICE:
            if target.role is not Role.LEDGER:
                raise plans.PushError(f"An invoice can be created only in {ROLES.ledger.label}.")
            if not isinstance(a, Invoice):
                raise plans.PushError(f"This item has no {ROLES.source.label} invoice to push.")
            if self._invoice_on(target, invoice_key(a.number)) is not None:
                raise plans.PushError(f"{target.label} already has an invoice {a.number}.", "Sync to see it.")
            contact = plans.match_contact(a.contact, facts)
            return plans.plan_push_invoice(a, self.settings, item.key, target, contact), None
        pay = a if target.role is Role.LEDGER else b
        if not isinstance(pay, Payment):
            raise plans.PushError(f"This item has no payment to record in {target.label}.")
        inv = self._invoice_on(target, invoice_key(pay.invoice_number))
        if inv is None:
            raise plans.PushError(
                f"{target.label} has no invoice {pay.invoice_number or '?'} to record the payment on.",
                "Push or create the invoice first, sync, then push the payment.",
            )
        return plans.plan_push_payment(pay, inv, self.settings, item.key), inv

    # --- revert ---

    def _revert(self, action: Revert) -> ActionResult:
        """Write back what a succeeded field push replaced, if the target still holds what it wrote (read first)."""
        row = self._push(action.push_id)
        kind, field_name, target = plans.action_parts(row.action)
        found = self._item_by_key(Kind(row.item_kind), row.item_key)
        if kind != plans.PUSH_FIELD or not field_name:
            raise plans.PushError(
                "Only a pushed field can be reverted; a created invoice or payment is undone in the target itself."
            )
        if PushState(row.state) is not PushState.SUCCEEDED:
            raise plans.PushError(f"Push {row.id} did not succeed ({row.state}), so there is nothing to revert.")
        if row.payload.get("revert_of"):
            raise plans.PushError(f"Push {row.id} is itself a revert; push the field again instead.")
        old = self._written_before(row)
        if old is None:
            raise plans.PushError(f"The value before push {row.id} was not recorded, so it cannot be written back.")
        if field_name == "due_date" and not old:
            raise plans.PushError("There was no due date before the push, and a due date cannot be emptied.")
        current = self._read_field(target, row.payload, field_name)
        wrote = str(row.payload.get("value") or "")
        if current.strip() != wrote.strip():
            raise plans.PushRefused(
                "blocked",
                f"Cannot revert: {target.label} now holds {current!r} as the {field_name.replace('_', ' ')}, not "
                f"{wrote!r} as written by push {row.id}; it was changed since.",
            )
        plan = plans.PushPlan(
            Kind(row.item_kind),
            row.item_key,
            row.action,
            target,
            {
                **{k: v for k, v in row.payload.items() if k not in ("attempt", "retry_of")},
                "value": old,
                "revert_of": row.id,
            },
            before={field_name: current},
        )
        with self.db.transaction(readonly=True) as tx:
            held = records_repo.load_invoices(tx, target, number_key=plan.invoice_key)
        inv = next((i for i in held if i.id == str(row.payload.get("invoice_id"))), None)
        problems = [
            x
            for x in plans.check_plan(
                plan, plans.Context(self._facts(target), inv, clear=True, adviser=self._adviser(target))
            )
            if x.flag == "blocked"
        ]
        refused = plans.refusal(problems)
        if refused is not None:
            raise plans.PushRefused("blocked", f"Cannot revert: {refused.message}")
        snapshot = self._snapshot(row.item_key)
        outcome = self.pusher.push(plan)
        if outcome.ok:
            with self.db.transaction() as tx:
                audit_repo.append_audit(
                    tx,
                    self.who,
                    "revert",
                    row.item_kind,
                    row.item_key,
                    {field_name: current, "push_id": row.id},
                    {field_name: old, "push_id": outcome.push_id},
                    action.note,
                )
        message = f"Reverted: {field_name.replace('_', ' ')} is {old!r} again." if outcome.ok else outcome.message
        result = self._result(outcome, found, row.item_key, snapshot)
        return ActionResult(result.ok, message, result.item, result.changes)

    def _written_before(self, row: StoredPush) -> str | None:
        """What the target held before the push: the `before` of the push's audit entry."""
        _kind, field_name, _target = plans.action_parts(row.action)
        with self.db.transaction(readonly=True) as tx:
            entries = audit_repo.list_audit(tx, 1000, item_key=row.item_key)
        for e in entries:
            try:
                after, before = json.loads(e.after or "{}"), json.loads(e.before or "{}")
            except ValueError:
                continue
            if e.action == row.action and after.get("push_id") == row.id and field_name in before:
                return str(before[field_name] or "")
        return None

    def _read_field(self, target: System, payload: dict[str, Any], field_name: str) -> str:
        """The field's value in the target now, read through the writer."""
        if target.role is Role.LEDGER:
            found = self.pusher.writers.ledger_writer().find_invoice(str(payload["number"]))
        else:
            getter = getattr(self.pusher.writers.source_writer(), "fetch_invoice", None)
            found = getter(str(payload["invoice_id"])) if getter is not None else None
        if not isinstance(found, Invoice):
            raise plans.PushError(f"Invoice {payload.get('number')} could not be read in {target.label}.")
        if field_name == "po_number":
            return found.po_number
        return found.due_date.isoformat() if found.due_date else ""

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
            target = System(push.target).role
            source_id = before.source_id or (push.result_remote_id if target is Role.SOURCE else None)
            ledger_id = before.ledger_id or (push.result_remote_id if target is Role.LEDGER else None)
            from app.domain.keys import payment_key

            found = self._item_by_key(Kind.PAYMENT, payment_key(before.invoice_key, source_id, ledger_id))
            now = to_row(found) if found is not None else None
        return ActionResult(outcome.ok, outcome.message, now, changes)

    def _resolve(self, action: Resolve) -> ActionResult:
        try:
            before = self._item(action.item_id)
            item = resolve_item(
                self.db, self.who, action.item_id, action.resolution, action.note, action.expected_version
            )
        except StaleItem as exc:
            return self._stale(exc, action.item_id)
        except ResolveError as exc:
            return ActionResult(False, exc.user_text(), self._safe_row(action.item_id))
        changes = ChangeSet(changed=frozenset({item.id}), counts=item.status != before.status, audit=True)
        return ActionResult(True, f"Resolved: {RESOLUTION_LABELS[action.resolution]}.", to_row(item), changes)

    def _decide(self, action: Reopen | Match | Unmatch) -> ActionResult:
        """Reopen, match or unmatch: a decision that re-reconciles the invoice keys it spans (two for a match)."""
        ids = [action.item_id] + ([action.other_item_id] if isinstance(action, Match) else [])
        with self.db.transaction(readonly=True) as tx:
            found = items_repo.item_rows(tx, ids)
        keys = sorted({k for item in found for k in linked_keys(self.db, item)})
        before = {key: self._snapshot(key) for key in keys}
        try:
            seen = action.expected_version
            if isinstance(action, Reopen):
                now = reopen_item(self.db, self.settings, self.who, action.item_id, action.note, seen)
                done = "Reopened"
            elif isinstance(action, Match):
                now = match_items(
                    self.db, self.settings, self.who, action.item_id, action.other_item_id, action.note, seen,
                    action.other_version,
                )  # fmt: skip
                done = "Matched by hand"
            else:
                now = unmatch_item(self.db, self.settings, self.who, action.item_id, action.note, seen)
                done = "Unmatched"
        except StaleItem as exc:
            return self._stale(exc, action.item_id)
        except ResolveError as exc:
            return ActionResult(False, exc.user_text(), self._safe_row(action.item_id))
        changes = ChangeSet(audit=True)
        for key in keys:
            changes = changes | self._changes(before[key], key)
        return ActionResult(True, f"{done}: {now.key} is {now.status} now.", to_row(now), changes)

    def retry_failed(self) -> Sequence[ActionResult]:
        """Retry every failed, uncertain or interrupted push (uncertain ones are read back first, Xero's in bulk)."""
        rows: list[StoredPush] = []
        befores: list[dict[int, tuple[str, str | None]]] = []
        for push_id in self.pusher.retryable():
            row = self._push(push_id)
            if not self._still_needed(row, self._item_by_key(Kind(row.item_kind), row.item_key)):
                continue
            rows.append(row)
            befores.append(self._snapshot(row.item_key))
        outcomes = self.pusher.retry_many([r.id for r in rows])
        results: list[ActionResult] = []
        for row, before, outcome in zip(rows, befores, outcomes, strict=True):
            item = self._item_by_key(Kind(row.item_kind), row.item_key)
            label = f"{plans.describe_push(row.action)} for {row.item_key}: {outcome.message}"
            row_now = to_row(item) if item is not None else None
            results.append(ActionResult(outcome.ok, label, row_now, self._changes(before, row.item_key)))
        return results

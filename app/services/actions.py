"""User actions on items: pushes through the outbox, retries, resolutions. Each returns what it changed (a
`ChangeSet`) so views refresh only that.

Must not: parse strings into actions (they arrive typed), or send anything the outbox has not recorded first.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.errors import RecondeskError
from app.domain.keys import invoice_key
from app.domain.records import Invoice, Payment
from app.domain.status import Kind, Role, System
from app.reconcile.rules import INVOICE_FIELDS
from app.services import plans
from app.services import push as push_mod
from app.services.api import Action, ActionResult, ChangeSet, PushField, PushRecord, Resolve, RetryPush
from app.services.item_detail import describe_push
from app.services.item_queries import ROLES, ItemAccess, to_row
from app.services.resolve import RESOLUTION_LABELS, ResolveError, resolve_item
from app.settings import Settings
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import outbox
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
                    raise plans.PushError(f"Not retried: the item is {now} now, so the push is not needed.")
                before = self._snapshot(push.item_key)
                return self._result(self.pusher.retry(action.push_id), found, push.item_key, before)
            item = self._item(action.item_id)
            plans.refuse_flagged(item.flags, action.override_note, f"{item.kind.value} {item.key}", item.twin)
            plan = self._plan(item, action)
            if item.flags:
                self._audit_override(item, plan, action.override_note)
            before = self._snapshot(item.invoice_key)
            return self._result(self.pusher.push(plan), item, item.invoice_key, before)
        except (RecondeskError, ValueError) as exc:
            text = exc.user_text() if isinstance(exc, RecondeskError) else f"Cannot do that: {exc}"
            return ActionResult(False, text, self._safe_row(item_id) if item_id is not None else None)

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

    def _plan(self, item: ItemRecord, action: PushRecord | PushField) -> plans.PushPlan:
        src, led, _ = self._records(item)
        a = src.record if src is not None else None
        b = led.record if led is not None else None
        if isinstance(action, PushField):
            rule = next((r for r in INVOICE_FIELDS if r.name == action.field), None)
            if rule is None or action.to not in ROLES.systems(rule.pushable_to):
                raise plans.PushError(f"{action.field} cannot be pushed to {action.to.label}.")
            if not (isinstance(a, Invoice) and isinstance(b, Invoice)):
                raise plans.PushError("A field can be pushed only when the invoice is in both systems.")
            source, dest = (a, b) if action.to is System.XERO else (b, a)
            return plans.plan_push_field(source, dest, action.field, item.key)
        target = action.to
        if item.kind is Kind.INVOICE:
            if target is not System.XERO:
                raise plans.PushError("An invoice can be created only in Xero.")
            if not isinstance(a, Invoice):
                raise plans.PushError("This item has no accessplanit invoice to push.")
            if self._invoice_on(System.XERO, invoice_key(a.number)) is not None:
                raise plans.PushError(f"Xero already has an invoice {a.number}.", "Sync to see it.")
            return plans.plan_push_invoice(a, self.settings, item.key)
        pay = a if target is System.XERO else b
        if not isinstance(pay, Payment):
            raise plans.PushError(f"This item has no payment to record in {target.label}.")
        inv = self._invoice_on(target, invoice_key(pay.invoice_number))
        if inv is None:
            raise plans.PushError(
                f"{target.label} has no invoice {pay.invoice_number or '?'} to record the payment on.",
                "Push or create the invoice first, sync, then push the payment.",
            )
        return plans.plan_push_payment(pay, inv, self.settings, item.key)

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
            label = f"{describe_push(row.action)} for {row.item_key}: {outcome.message}"
            row_now = to_row(item) if item is not None else None
            results.append(ActionResult(outcome.ok, label, row_now, self._changes(before, row.item_key)))
        return results

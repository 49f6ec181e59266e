"""Bulk decisions: many `PushRecord` / `PushField` / `Resolve` actions previewed (`plan_many`: how many writes, which
items are skipped and why, how many calls and how long at the configured pacing) and then done (`act_many`: pushes
through `PushService.push_many`, so Xero gets batches of up to 50; resolves one by one), with a result per action.

Planning and the checks before sending go through `ItemActions._checked_plan` / `plans.check_plan`, the same as a
single push: a planning `PushError` or a rule's refusal means "skipped, with its message".
Must not: send anything the outbox has not recorded first, or import connectors, PySide6 or sqlalchemy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.connectors.base import BATCH_SIZE
from app.domain.errors import RecondeskError
from app.domain.progress import CancelToken, ProgressCallback
from app.domain.status import Direction, Role
from app.services import plans
from app.services.actions import ItemActions
from app.services.api import ActionResult, BulkAction, BulkPreview, PushField, PushRecord, Resolve
from app.storage.models import ItemRecord

Planned = tuple[int, ItemRecord, plans.PushPlan]


def _batch_group(plan: plans.PushPlan) -> str | None:
    """Pushes that go to the ledger in batch creates: new invoices and payments (refunds need two calls each)."""
    kind, _field, target = plans.action_parts(plan.action)
    if target.role is not Role.LEDGER:
        return None
    if kind == plans.PUSH_INVOICE:
        return "invoice"
    if kind == plans.PUSH_PAYMENT and plan.payload.get("direction") == str(Direction.PAYMENT):
        return "payment"
    return None


class BulkActions:
    """`plan_many` / `act_many` over one `ItemActions`."""

    def __init__(self, actions: ItemActions) -> None:
        self.actions = actions

    def _plan_all(self, wanted: Sequence[BulkAction]) -> tuple[list[Planned], dict[int, tuple[str, str]], list[int]]:
        """(index, item, plan) of every push that can be planned and passes the checks before sending; index ->
        (why not, the rule's flag) for the others; the indexes of resolves."""
        planned: list[Planned] = []
        skipped: dict[int, tuple[str, str]] = {}
        resolves: list[int] = []
        for i, action in enumerate(wanted):
            if isinstance(action, Resolve):
                resolves.append(i)
                continue
            try:
                item = self.actions._item(action.item_id)
                plan, ctx = self.actions._checked_plan(item, action)
                problems = plans.check_plan(plan, ctx)
                self.actions._remember_blocked(item, problems)
                refused = plans.refusal(problems)
                if refused is not None:
                    raise refused
                planned.append((i, item, plan))
            except (RecondeskError, ValueError) as exc:
                text = exc.user_text() if isinstance(exc, RecondeskError) else f"Cannot do that: {exc}"
                skipped[i] = (text, exc.flag if isinstance(exc, plans.PushRefused) else "")
        return planned, skipped, resolves

    def plan_many(self, wanted: Sequence[BulkAction]) -> BulkPreview:
        planned, skipped, resolves = self._plan_all(wanted)
        groups: dict[str, int] = {}
        xero_single = source_calls = 0
        for _i, _item, plan in planned:
            group = _batch_group(plan)
            if group is not None:
                groups[group] = groups.get(group, 0) + 1
            elif plan.target.role is Role.LEDGER:
                xero_single += 2 if plan.payload.get("direction") == str(Direction.REFUND) else 1
            else:
                source_calls += 1
        xero_calls = xero_single + sum(math.ceil(n / BATCH_SIZE) for n in groups.values())
        xero_calls += math.ceil(groups.get("payment", 0) / BATCH_SIZE)  # the paid invoices re-read in bulk
        settings = self.actions.settings
        seconds = xero_calls * 60.0 / max(1, settings.xero_calls_per_minute)
        seconds += source_calls * 3600.0 / max(1, settings.accessplanit_calls_per_hour)
        return BulkPreview(
            writes=len(planned) + len(resolves),
            skipped=tuple((wanted[i].item_id, why) for i, (why, _flag) in sorted(skipped.items())),
            calls=xero_calls + source_calls,
            seconds=round(seconds, 1),
        )

    def act_many(
        self,
        wanted: Sequence[BulkAction],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[ActionResult]:
        cancel = cancel or CancelToken()
        planned, skipped, resolves = self._plan_all(wanted)
        results: dict[int, ActionResult] = {
            i: ActionResult(False, f"Skipped: {why}", self.actions._safe_row(wanted[i].item_id), refused=flag)
            for i, (why, flag) in skipped.items()
        }
        for i in resolves:
            if cancel.cancelled:
                break
            results[i] = self.actions.act(wanted[i])
        snapshots = {i: self.actions._snapshot(item.invoice_key) for i, item, _plan in planned}
        outcomes = self.actions.pusher.push_many([p for _i, _item, p in planned], progress, cancel)
        for (i, item, _plan), outcome in zip(planned, outcomes, strict=True):
            results[i] = self.actions._result(outcome, item, item.invoice_key, snapshots[i])
        for i, action in enumerate(wanted):
            if i not in results:
                results[i] = ActionResult(
                    False, "Cancelled before it was done.", self.actions._safe_row(action.item_id)
                )
        return [results[i] for i in range(len(wanted))]


__all__ = ["BulkActions", "PushField", "PushRecord", "Resolve"]

"""Item queries: the item list's pages and counts, the months, and reading one item; plus `ItemAccess`, the
lookups the item panel and the actions share.

Must not: write anything, or hold every item of a filter (pages are keyset queries in the database).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.domain.errors import RecondeskError
from app.domain.money import fmt, from_minor
from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, PushState, Role, System, system_for
from app.reconcile.candidates import rank
from app.reconcile.rules import Rules
from app.services import plans
from app.services.api import ORDERS, ItemFilter, ItemPage, ItemRow, ListCounts, MatchCandidate, PageCursor, Roles
from app.storage import items as items_repo
from app.storage import records as records_repo
from app.storage.db import Database
from app.storage.models import ItemRecord
from app.storage.models import PushRecord as StoredPush

SOURCE, LEDGER = system_for(Role.SOURCE), system_for(Role.LEDGER)
"""The systems playing each role (the workspace's clients are made for these)."""
ROLES = Roles(SOURCE, LEDGER)


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
        source_id=item.source_id,
        ledger_id=item.ledger_id,
        note=item.note,
        flags=tuple(item.flags) + (("blocked",) if item.blocked else ()),
        reason=item.blocked or item.reason,
        twin=item.twin,
        difference=_money_text(item.difference_minor, item.currency),
        version=item.version,
    )


class ItemAccess:
    """Reading one item and what lies behind it, shared by the item panel and the actions."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        kind, field_name, _ = plans.action_parts(push.action)
        return kind != plans.PUSH_FIELD or field_name in item.fields

    def _invoice_on(self, system: System, number_key: str) -> Invoice | None:
        """The invoice with this normalized number on `system` (the first, as matching takes it)."""
        if not number_key or number_key == "?":
            return None
        with self.db.transaction(readonly=True) as tx:
            found = [i for i in records_repo.load_invoices(tx, system, number_key=number_key) if not i.deleted]
        return found[0] if found else None

    def _safe_row(self, item_id: int) -> ItemRow | None:
        try:
            return to_row(self._item(item_id))
        except RecondeskError:
            return None


class ItemQueries:
    """The item list: pages in any order, counts from one aggregate, the months."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def roles(self) -> Roles:
        return ROLES

    def periods(self) -> Sequence[str]:
        with self.db.transaction(readonly=True) as tx:
            return list(items_repo.periods(tx))

    def count_items(self, flt: ItemFilter) -> int:
        with self.db.transaction(readonly=True) as tx:
            return int(items_repo.count_items(tx, flt.period, flt.statuses, flt.kind, flt.search, flt.flag))

    def item_ids(self, flt: ItemFilter) -> Sequence[int]:
        with self.db.transaction(readonly=True) as tx:
            return list(items_repo.query_item_ids(tx, flt.period, flt.statuses, flt.kind, flt.search, flag=flt.flag))

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
                flt.flag,
            )
        more = len(found) > limit
        found = found[:limit]
        last = PageCursor(found[-1][0], found[-1][1].id) if more and found else None
        return ItemPage(tuple(to_row(r) for _v, r in found), last)

    def list_counts(self, flt: ItemFilter) -> ListCounts:
        with self.db.transaction(readonly=True) as tx:
            by_status = items_repo.count_by_status(tx, flt.period, flt.kind, flt.search, flt.flag)
        wanted = {str(s) for s in flt.statuses} or set(by_status)
        return ListCounts(sum(n for s, n in by_status.items() if s in wanted), by_status)

    def rows(self, item_ids: Sequence[int]) -> Sequence[ItemRow]:
        with self.db.transaction(readonly=True) as tx:
            found = {r.id: r for r in items_repo.item_rows(tx, list(item_ids))}
        return [to_row(found[i]) for i in item_ids if i in found]


def ranked_candidates(db: Database, rules: Rules, item_id: int, limit: int = 50) -> list[MatchCandidate]:
    """The likely counterparts of a one-sided item, best first (`Recondesk.match_candidates`): the other system's
    one-sided items of the same kind and currency near in amount or date (found by the database, a few hundred at
    most), scored by `reconcile.candidates.rank`. Empty for an item that is not one-sided."""
    with db.transaction(readonly=True) as tx:
        found = items_repo.item_rows(tx, [item_id])
        if not found or found[0].status not in (ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER):
            return []
        item = found[0]
        other = ItemStatus.ONLY_IN_LEDGER if item.status is ItemStatus.ONLY_IN_SOURCE else ItemStatus.ONLY_IN_SOURCE
        near = items_repo.one_sided_near(tx, item.kind, other, item.currency, item.amount_minor, item.date)
        records: dict[int, Invoice | Payment] = {}
        for it in (item, *near):
            rid = it.source_record_id or it.ledger_record_id
            stored = records_repo.get_record(tx, rid) if rid else None
            if stored is not None and isinstance(stored.record, Invoice | Payment):
                records[it.id] = stored.record
    mine = records.get(item.id)
    if mine is None:
        return []
    contacts = {it.invoice_key: it.contact for it in (item, *near) if it.contact}  # a payment's invoice's contact
    by_record = {id(rec): it for it in near if (rec := records.get(it.id)) is not None}
    ranked = rank(mine, [records[it.id] for it in near if it.id in records], rules, contacts=contacts, limit=limit)
    return [
        MatchCandidate(to_row(by_record[id(c.record)]), c.score, c.scores, c.why_not)
        for c in ranked
        if id(c.record) in by_record
    ]

"""Repository of reconciliation items: replaced as a whole after each sync (ids stable per (kind, key)), updated
for one invoice after a push, and queried for the item list with filtering, search, ordering and counting done in
the database.

Must not: compute statuses (the reconcile engine and the services do), or delete anything but items no longer
produced by a reconciliation.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, delete, func, insert, or_, select, tuple_, update

from app.domain.status import CREDIT_KINDS, Direction, ItemStatus, Kind, PushState, Role, system_for
from app.storage.db import Tx
from app.storage.models import ItemData, ItemRecord
from app.storage.schema import items, pushes, records

# Orders the item list offers, by name; a leading "-" reverses. Ties broken by id so paging is stable.
ORDERS: dict[str, Any] = {
    "key": items.c.key,
    "kind": items.c.kind,
    "status": items.c.status,
    "date": items.c.doc_date,
    "contact": items.c.contact,
    "amount": items.c.amount_minor,
    "invoice": items.c.invoice_key,
    "currency": items.c.currency,
    "period": items.c.period,
    "difference": items.c.difference_minor,
    "fields": items.c.fields,
    "id": items.c.id,
}


def _row(data: ItemData) -> dict[str, Any]:
    search = "\n".join((data.key, data.invoice, data.contact, data.reference)).lower()
    return {
        "kind": data.kind.value,
        "key": data.key,
        "status": data.status.value,
        "fields": json.dumps(list(data.fields)),
        "invoice_key": data.invoice_key,
        "invoice": data.invoice,
        "period": data.period,
        "contact": data.contact,
        "doc_date": data.date,
        "currency": data.currency,
        "amount_minor": data.amount_minor,
        "reference": data.reference,
        "source_id": data.source_id,
        "ledger_id": data.ledger_id,
        "source_record_id": data.source_record_id,
        "ledger_record_id": data.ledger_record_id,
        "invalid_record_id": data.invalid_record_id,
        "note": data.note,
        "fingerprint": data.fingerprint,
        "search_text": search,
        "flags": ",".join(data.flags),
        "twin": data.twin,
        "reason": data.reason,
        "difference_minor": data.difference_minor,
    }


_DATA_COLUMNS = [c for c in items.columns if c.name not in ("id", "blocked", "version")]
"""What reconciling writes; `blocked` is the checks' (cleared when an item's data changes, see `_upsert`), and
`version` is raised by one whenever a row is rewritten."""
_DATA_NAMES = [c.name for c in _DATA_COLUMNS]


def _upsert(tx: Tx, results: Sequence[ItemData], existing: dict[tuple[str, str], int]) -> None:
    rows = {(d.kind.value, d.key): _row(d) for d in results}
    # Rewrite only rows whose values changed: a sync that changes nothing writes (almost) nothing.
    current: dict[int, tuple[Any, ...]] = {}
    wanted_ids = sorted(existing[k] for k in rows if k in existing)
    for start in range(0, len(wanted_ids), 500):
        q = select(items.c.id, *_DATA_COLUMNS).where(items.c.id.in_(wanted_ids[start : start + 500]))
        for r in tx.conn.execute(q):
            current[r[0]] = tuple(r[1:])
    values = operator.itemgetter(*_DATA_NAMES)
    ups: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    for k, row in rows.items():
        if k not in existing:
            new.append(row)
        elif current.get(existing[k]) != values(row):
            ups.append({**row, "blocked": "", "_id": existing[k]})
    if ups:
        ups.sort(key=operator.itemgetter("_id"))  # rows locked in id order, as `lock_items` does: no deadlock
        tx.conn.execute(update(items).where(items.c.id == bindparam("_id")).values(version=items.c.version + 1), ups)
    if new:
        tx.conn.execute(insert(items), new)


def replace_items(tx: Tx, results: Sequence[ItemData]) -> None:
    """Make the items table exactly `results`: same (kind, key) keeps its id, new ones are added, others deleted."""
    existing = {(k, key): i for i, k, key in tx.conn.execute(select(items.c.id, items.c.kind, items.c.key))}
    wanted = {(d.kind.value, d.key) for d in results}
    gone = [i for k, i in existing.items() if k not in wanted]
    for start in range(0, len(gone), 500):
        tx.conn.execute(delete(items).where(items.c.id.in_(gone[start : start + 500])))
    _upsert(tx, results, existing)


def upsert_items_for_invoice(tx: Tx, invoice_key: str, results: Sequence[ItemData]) -> None:
    """Replace the items of one invoice (the invoice and its payments) after a re-reconcile of that invoice only."""
    existing = {
        (k, key): i
        for i, k, key in tx.conn.execute(
            select(items.c.id, items.c.kind, items.c.key).where(items.c.invoice_key == invoice_key)
        )
    }
    wanted = {(d.kind.value, d.key) for d in results}
    gone = [i for k, i in existing.items() if k not in wanted]
    if gone:
        tx.conn.execute(delete(items).where(items.c.id.in_(gone)))
    # A result may carry a key that exists under another invoice key (e.g. the invoice number was corrected).
    elsewhere = [(d.kind.value, d.key) for d in results if (d.kind.value, d.key) not in existing]
    for kind, key in elsewhere:
        found = tx.conn.execute(select(items.c.id).where(items.c.kind == kind, items.c.key == key)).scalar()
        if found is not None:
            existing[(kind, key)] = found
    _upsert(tx, results, existing)


def upsert_items_for_keys(
    tx: Tx, invoice_keys: Collection[str], results: Sequence[ItemData]
) -> tuple[set[int], set[int]]:
    """Store the items one chunk of invoice keys produced (ids stable per (kind, key)).

    Returns (stale, claimed): `stale` are the ids of items on these keys that the chunk did not produce; they are
    NOT deleted here, because a later chunk may produce them under another key (an invalid record whose number
    changed keeps its item id). `claimed` are ids of items found under keys outside the chunk and taken over by it.
    The caller deletes what stays stale at the end (`delete_items`)."""
    keys = sorted(invoice_keys)
    existing: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), 500):
        q = select(items.c.id, items.c.kind, items.c.key).where(items.c.invoice_key.in_(keys[start : start + 500]))
        for i, k, key in tx.conn.execute(q):
            existing[(k, key)] = i
    wanted = {(d.kind.value, d.key) for d in results}
    stale = {i for k, i in existing.items() if k not in wanted}
    claimed: set[int] = set()
    # A result may carry a key that exists under another invoice key (an invalid record's number changed).
    # Looked up per kind, so the (kind, key) unique index serves the query.
    for kind in sorted({k for k, _ in wanted}):
        elsewhere = sorted(key for k, key in wanted if k == kind and (k, key) not in existing)
        for start in range(0, len(elsewhere), 500):
            q = select(items.c.id, items.c.key).where(
                items.c.kind == kind, items.c.key.in_(elsewhere[start : start + 500])
            )
            for i, key in tx.conn.execute(q):
                existing[(kind, key)] = i
                claimed.add(i)
    _upsert(tx, results, existing)
    return stale, claimed


def delete_items(tx: Tx, ids: Collection[int]) -> None:
    id_list = sorted(ids)
    for start in range(0, len(id_list), 500):
        tx.conn.execute(delete(items).where(items.c.id.in_(id_list[start : start + 500])))


def item_invoice_keys(tx: Tx) -> set[str]:
    """The distinct invoice keys the items are on (read off the `invoice_key` index)."""
    return {k for (k,) in tx.conn.execute(select(items.c.invoice_key).distinct())}


def delete_items_on_keys(tx: Tx, invoice_keys: Collection[str]) -> None:
    """Delete every item on these invoice keys (keys no record carries any more)."""
    keys = sorted(invoice_keys)
    for start in range(0, len(keys), 500):
        tx.conn.execute(delete(items).where(items.c.invoice_key.in_(keys[start : start + 500])))


def _filtered(
    q: Select[Any],
    period: str | None,
    statuses: Sequence[ItemStatus | str],
    kind: Kind | str | None,
    search: str,
    flag: str | None = None,
) -> Select[Any]:
    conds = []
    if flag:
        # A comma list: the flag alone, first, last or between others.
        f, esc = items.c.flags, flag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(
            or_(
                f == flag,
                f.like(f"{esc},%", escape="\\"),
                f.like(f"%,{esc}", escape="\\"),
                f.like(f"%,{esc},%", escape="\\"),
            )
        )
    if period:
        # Items with no readable date (invalid records) belong to no month: they show in every month, so picking a
        # month can never hide a record that could not be read.
        conds.append(or_(items.c.period == period, items.c.period.is_(None)))
    if statuses:
        conds.append(items.c.status.in_([str(s) for s in statuses]))
    if kind:
        conds.append(items.c.kind == str(kind))
    text = search.strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(items.c.search_text.like(f"%{escaped}%", escape="\\"))
    return q.where(and_(*conds)) if conds else q


def query_item_ids(
    tx: Tx,
    period: str | None = None,
    statuses: Sequence[ItemStatus | str] = (),
    kind: Kind | str | None = None,
    search: str = "",
    order: str = "key",
    flag: str | None = None,
) -> list[int]:
    """Ids of the items matching the filter, in `order` (a key of `ORDERS`, "-" prefix for descending)."""
    col, desc = _order(order)
    q = _filtered(select(items.c.id), period, statuses, kind, search, flag)
    q = q.order_by(*_order_by(col, desc))
    return [i for (i,) in tx.conn.execute(q)]


def _order(order: str) -> tuple[Any, bool]:
    desc = order.startswith("-")
    col = ORDERS.get(order.lstrip("-"))
    if col is None:
        raise ValueError(f"unknown order {order!r}; use one of {sorted(ORDERS)}")
    return col, desc


def _order_by(col: Any, desc: bool) -> tuple[Any, Any]:
    # Explicit NULL placement: SQLite's default, and the same order on PostgreSQL.
    if desc:
        return col.desc().nulls_last(), items.c.id.desc()
    return col.asc().nulls_first(), items.c.id.asc()


def _after(col: Any, desc: bool, value: Any, last_id: int) -> ColumnElement[bool]:
    """Rows after (value, last_id) in the order `col` (NULLs first ascending, last descending), id breaking ties."""
    if not desc:
        if value is None:
            return or_(and_(col.is_(None), items.c.id > last_id), col.is_not(None))
        return tuple_(col, items.c.id) > tuple_(value, last_id)
    if value is None:
        return and_(col.is_(None), items.c.id < last_id)
    return or_(tuple_(col, items.c.id) < tuple_(value, last_id), col.is_(None))


def item_page(
    tx: Tx,
    period: str | None = None,
    statuses: Sequence[ItemStatus | str] = (),
    kind: Kind | str | None = None,
    search: str = "",
    order: str = "key",
    after: tuple[Any, int] | None = None,
    limit: int = 200,
    flag: str | None = None,
) -> list[tuple[Any, ItemRecord]]:
    """One page of the item list: up to `limit` items matching the filter in `order`, after the row whose
    (order value, id) is `after` (None: from the first). Keyset paging: a page deep in the list costs what the
    first costs, and rows added or removed meanwhile never shift a page. Returns (order value, item) pairs; the
    last pair's (value, item.id) is the `after` of the next page."""
    col, desc = _order(order)
    q = _filtered(
        select(items, _latest_push_state().label("push_state"), col.label("_order")),
        period,
        statuses,
        kind,
        search,
        flag,
    )
    if after is not None:
        q = q.where(_after(col, desc, after[0], after[1]))
    q = q.order_by(*_order_by(col, desc)).limit(limit)
    return [(r._order, _record(r)) for r in tx.conn.execute(q)]


def count_items(
    tx: Tx,
    period: str | None = None,
    statuses: Sequence[ItemStatus | str] = (),
    kind: Kind | str | None = None,
    search: str = "",
    flag: str | None = None,
) -> int:
    q = _filtered(select(func.count()).select_from(items), period, statuses, kind, search, flag)
    return int(tx.conn.execute(q).scalar_one())


def count_by_status(
    tx: Tx, period: str | None = None, kind: Kind | str | None = None, search: str = "", flag: str | None = None
) -> dict[str, int]:
    """Item count per status (every status present, zeros included), in one aggregate query."""
    q = _filtered(select(items.c.status, func.count()), period, (), kind, search, flag).group_by(items.c.status)
    out = {s.value: 0 for s in ItemStatus}
    for status, n in tx.conn.execute(q):
        out[status] = int(n)
    return out


def _latest_push_state() -> Any:
    return (
        select(pushes.c.state)
        .where(pushes.c.item_kind == items.c.kind, pushes.c.item_key == items.c.key)
        .order_by(pushes.c.id.desc())
        .limit(1)
        .correlate(items)
        .scalar_subquery()
    )


def _record(r: Any) -> ItemRecord:
    return ItemRecord(
        id=r.id,
        kind=Kind(r.kind),
        key=r.key,
        status=ItemStatus(r.status),
        fields=tuple(json.loads(r.fields)),
        invoice_key=r.invoice_key,
        invoice=r.invoice,
        period=r.period,
        source_record_id=r.source_record_id,
        ledger_record_id=r.ledger_record_id,
        invalid_record_id=r.invalid_record_id,
        push_state=PushState(r.push_state) if r.push_state else None,
        note=r.note,
        contact=r.contact,
        date=r.doc_date,
        currency=r.currency,
        amount_minor=r.amount_minor,
        source_id=r.source_id,
        ledger_id=r.ledger_id,
        reference=r.reference,
        fingerprint=r.fingerprint,
        blocked=r.blocked,
        flags=tuple(f for f in (r.flags or "").split(",") if f),
        twin=r.twin,
        reason=r.reason or "",
        difference_minor=r.difference_minor,
        version=r.version,
    )


def item_rows(tx: Tx, ids: Sequence[int]) -> list[ItemRecord]:
    """The items with these ids, in the order of `ids` (unknown ids are left out)."""
    found: dict[int, ItemRecord] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 500):
        q = select(items, _latest_push_state().label("push_state")).where(items.c.id.in_(id_list[start : start + 500]))
        for r in tx.conn.execute(q):
            found[r.id] = _record(r)
    return [found[i] for i in id_list if i in found]


def item_by_key(tx: Tx, kind: Kind | str, key: str) -> ItemRecord | None:
    q = select(items, _latest_push_state().label("push_state")).where(items.c.kind == str(kind), items.c.key == key)
    r = tx.conn.execute(q).first()
    return None if r is None else _record(r)


def items_for_invoice(tx: Tx, invoice_key: str) -> list[ItemRecord]:
    q = (
        select(items, _latest_push_state().label("push_state"))
        .where(items.c.invoice_key == invoice_key)
        .order_by(items.c.kind, items.c.key)
    )
    return [_record(r) for r in tx.conn.execute(q)]


def set_item_status(tx: Tx, item_id: int, status: ItemStatus | str, note: str = "") -> None:
    done = tx.conn.execute(
        update(items).where(items.c.id == item_id).values(status=str(status), note=note, version=items.c.version + 1)
    )
    if done.rowcount == 0:
        raise KeyError(f"no item {item_id}")


def lock_items(tx: Tx, invoice_keys: Collection[str]) -> None:
    """Lock (until the transaction ends) every item of these invoices, in id order, before a decision changes them:
    two people acting at once on items of one invoice wait for each other instead of deadlocking (PostgreSQL; SQLite
    has one writer at a time anyway)."""
    if invoice_keys and tx.conn.dialect.name != "sqlite":
        q = select(items.c.id).where(items.c.invoice_key.in_(sorted(invoice_keys))).order_by(items.c.id)
        tx.conn.execute(q.with_for_update()).all()


def take_version(tx: Tx, item_id: int, expected: int) -> bool:
    """Raise the item's version if it is still `expected` (compare-and-set); False when someone changed it since."""
    done = tx.conn.execute(
        update(items).where(items.c.id == item_id, items.c.version == expected).values(version=items.c.version + 1)
    )
    return bool(done.rowcount)


def versions(tx: Tx, ids: Collection[int]) -> dict[int, int]:
    """id -> version of the items that exist."""
    out: dict[int, int] = {}
    id_list = sorted(ids)
    for start in range(0, len(id_list), 500):
        q = select(items.c.id, items.c.version).where(items.c.id.in_(id_list[start : start + 500]))
        out.update({i: v for i, v in tx.conn.execute(q)})
    return out


def set_item_blocked(tx: Tx, item_id: int, reason: str) -> None:
    """Remember why a push of the item would break a rule of its target ("" clears it)."""
    tx.conn.execute(update(items).where(items.c.id == item_id).values(blocked=reason))


def invoice_twin_keys(tx: Tx) -> list[tuple[str, str]]:
    """(invoice key of a flagged invoice item, invoice key of its twin record), for every invoice item with a twin:
    few, read off the `flags` index. A reconcile of the twin's key redoes the flagged item with it."""
    # The twin is in the flagged record's system: the item's source system when it has a source id.
    twin_system = case(
        (items.c.source_id.is_not(None), system_for(Role.SOURCE).value), else_=system_for(Role.LEDGER).value
    )
    on = and_(
        records.c.system == twin_system, records.c.kind == Kind.INVOICE.value, records.c.remote_id == items.c.twin
    )
    # Only `flags > ''` in the WHERE: with the kind there too, SQLite walks every invoice item by the kind index.
    q = select(items.c.kind, items.c.invoice_key, records.c.number_key).select_from(items.join(records, on))
    rows = tx.conn.execute(q.where(items.c.flags > ""))
    return [(a, b or "") for kind, a, b in rows if kind == Kind.INVOICE.value]


def periods(tx: Tx) -> list[str]:
    """The months that have items, newest first."""
    q = select(items.c.period).where(items.c.period.is_not(None)).distinct().order_by(items.c.period.desc())
    return [p for (p,) in tx.conn.execute(q)]


def one_sided_items(tx: Tx, kind: Kind | str, status: ItemStatus | str, currency: str, limit: int) -> list[ItemRecord]:
    """Items of one kind, one-sided status and currency (the candidates of a match by hand), by key."""
    q = (
        select(items, _latest_push_state().label("push_state"))
        .where(items.c.kind == str(kind), items.c.status == str(status), items.c.currency == currency)
        .order_by(items.c.key)
        .limit(limit)
    )
    return [_record(r) for r in tx.conn.execute(q)]


def one_sided_near(
    tx: Tx,
    kind: Kind | str,
    status: ItemStatus | str,
    currency: str,
    amount_minor: int | None,
    day: date | None,
    *,
    by_amount: int = 200,
    days: int = 14,
    by_date: int = 100,
) -> list[ItemRecord]:
    """The candidates of a match by hand, cheaply: items of one kind, one-sided status and currency, the `by_amount`
    nearest in amount and up to `by_date` within `days` of `day` (each once; a few hundred at most)."""
    base = select(items, _latest_push_state().label("push_state")).where(
        items.c.kind == str(kind), items.c.status == str(status), items.c.currency == currency
    )
    found: dict[int, ItemRecord] = {}
    near_amount = base.order_by(func.abs(func.coalesce(items.c.amount_minor, 0) - (amount_minor or 0)), items.c.id)
    for r in tx.conn.execute(near_amount.limit(by_amount)):
        found.setdefault(r.id, _record(r))
    if day is not None:
        window = items.c.doc_date.between(day - timedelta(days=days), day + timedelta(days=days))
        for r in tx.conn.execute(base.where(window).order_by(items.c.id).limit(by_date)):
            found.setdefault(r.id, _record(r))
    return list(found.values())


def affected_invoice_keys(
    tx: Tx,
    *,
    fields: Collection[str] = (),
    kind: Kind | str | None = None,
    one_sided_payments: bool = False,
    source_methods: Collection[str] = (),
    contacts_differ: bool = False,
) -> set[str]:
    """Invoice keys of the items a settings change can affect (the union of what is asked):

    - `fields`: items (of `kind`, when given) whose differing fields include one of these names; walks the
      non-empty lists only;
    - `one_sided_payments`: payment items with one side missing (one-sided, or resolved one-sided);
    - `source_methods`: paired payment items whose accessplanit record has one of these method labels;
    - `contacts_differ`: invoice items with both sides whose contacts are not the same text (trimmed, lower case):
      a superset of those a change of contact normalisation can turn."""
    out: set[str] = set()
    if fields:
        q = select(items.c.invoice_key, items.c.fields).where(items.c.fields != "[]")
        if kind is not None:
            q = q.where(items.c.kind == str(kind))
        wanted = set(fields)
        out.update(key for key, text in tx.conn.execute(q) if wanted.intersection(json.loads(text)))
    if one_sided_payments:
        statuses = [ItemStatus.ONLY_IN_SOURCE.value, ItemStatus.ONLY_IN_LEDGER.value, ItemStatus.RESOLVED.value]
        q = select(items.c.invoice_key).where(
            items.c.status.in_(statuses),
            items.c.kind == Kind.PAYMENT.value,
            or_(items.c.source_id.is_(None), items.c.ledger_id.is_(None)),
        )
        out.update(tx.conn.scalars(q))
    labels = sorted(source_methods)
    for start in range(0, len(labels), 500):
        q = (
            select(items.c.invoice_key)
            .join(records, records.c.id == items.c.source_record_id)
            .where(
                items.c.kind == Kind.PAYMENT.value,
                items.c.ledger_id.is_not(None),
                records.c.method.in_(labels[start : start + 500]),
            )
        )
        out.update(tx.conn.scalars(q))
    if contacts_differ:
        src, led = records.alias("src"), records.alias("led")
        q = (
            select(items.c.invoice_key)
            .join(src, src.c.id == items.c.source_record_id)
            .join(led, led.c.id == items.c.ledger_record_id)
            .where(
                items.c.kind == Kind.INVOICE.value,
                func.lower(func.trim(func.coalesce(src.c.contact, "")))
                != func.lower(func.trim(func.coalesce(led.c.contact, ""))),
            )
        )
        out.update(tx.conn.scalars(q))
    return out


def statuses_on_keys(tx: Tx, invoice_keys: Collection[str]) -> dict[int, str]:
    """Item id -> status of the items on these invoice keys."""
    keys = sorted(invoice_keys)
    out: dict[int, str] = {}
    for start in range(0, len(keys), 500):
        q = select(items.c.id, items.c.status).where(items.c.invoice_key.in_(keys[start : start + 500]))
        out.update((int(i), str(st)) for i, st in tx.conn.execute(q))
    return out


def invoice_keys_due_within(tx: Tx, limit_minor: int) -> set[str]:
    """Invoice keys whose ledger invoice has a non-zero amount due of at most `limit_minor` minor units either way,
    or that carry a ledger refund (which moves the due the rules compare): those whose state a wider tolerance can
    turn to paid (`rules.derive_state`)."""
    ledger = system_for(Role.LEDGER).value
    q = select(records.c.number_key).where(
        records.c.system == ledger,
        records.c.kind == Kind.INVOICE.value,
        records.c.due_minor != 0,
        records.c.due_minor.between(-limit_minor, limit_minor),
    )
    refunds = select(records.c.number_key).where(
        records.c.system == ledger, records.c.kind == Kind.PAYMENT.value, records.c.direction == Direction.REFUND.value
    )
    return {k for k in tx.conn.scalars(q.union(refunds)) if k is not None}


def credit_note_invoice_keys(tx: Tx) -> set[str]:
    """Invoice keys of the credit-note items (their status weighs what remains against the amount tolerance)."""
    q = select(items.c.invoice_key).where(items.c.kind.in_([k.value for k in CREDIT_KINDS])).distinct()
    return {k for (k,) in tx.conn.execute(q)}

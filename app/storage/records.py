"""Repository of cached remote records: pages of invoices, payments, credit notes, invalid records and reference data,
with their lines, raw payloads and the stream cursor, and the loaders that rebuild domain records from them.

`upsert_page` writes a page's records AND the stream cursor in the caller's transaction: a crash before the commit
leaves neither, so the next sync re-reads the page; a crash after leaves both, so it resumes after it.
Must not: decide anything about matching, or delete records (a record not seen again stays; voided and deleted
ones come back from the service as such).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update

from app.domain.keys import invoice_key
from app.domain.money import MoneyError, from_minor, to_minor
from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import CREDIT_KINDS, Direction, InvoiceState, Kind, Role, System, system_for
from app.storage import jsontext
from app.storage.db import Tx
from app.storage.models import PageCounts, StoredRecord, SystemState
from app.storage.schema import cursors, record_lines, records, system_state
from app.storage.schema import reference_data as reference_table

CREDIT_NOTE = "credit_note"
CREDITS = tuple(k.value for k in sorted(CREDIT_KINDS))  # credit notes, overpayments, prepayments: `_credit_note`
_CHUNK = 500  # stays far below every driver's bound-parameter limit

_RECORD_COLUMNS = [c.name for c in records.columns if c.name != "id"]
# Ids that reference-data entries are known by, in order of preference; otherwise a digest of the entry.
_REF_ID_KEYS = ("id", "ID", "AccountID", "TaxType", "ContactID", "OrganisationID", "TransactionMethodID", "Code")


def naive_utc(value: datetime | None) -> datetime | None:
    """Instants are stored as naive UTC; an aware value is converted, a naive one is taken as UTC already."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _minor(amount: Decimal | None, currency: str) -> int | None:
    return None if amount is None else to_minor(amount, currency)


# A row with every column None: copying it is the cheapest way to start a full row (a page has 1,000 of them).
_BLANK_ROW: dict[str, Any] = dict.fromkeys(_RECORD_COLUMNS)
# record_lines columns after record_id, in the order `_record_row` builds line tuples.
_LINE_VALUE_COLUMNS = (
    "position",
    "description",
    "net_minor",
    "tax_minor",
    "quantity",
    "unit_amount",
    "account_code",
    "tax_type",
    "line_id",
)
_LINE_COLUMNS = ("record_id", *_LINE_VALUE_COLUMNS)
# Ids of a whole page (1,000 records) in one query; far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
_ID_CHUNK = 2000

LineValues = tuple[Any, ...]  # one record_lines row without its record_id, in `_LINE_VALUE_COLUMNS` order


def _blank_row(system: System, stream: str, kind: str, remote_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    row = _BLANK_ROW.copy()
    row["system"] = system.value
    row["stream"] = stream
    row["kind"] = kind
    row["remote_id"] = str(remote_id)
    row["deleted"] = False
    row["raw"] = jsontext.dumps(raw)
    return row


def _line_values(lines: Sequence[Line], cur: str) -> list[LineValues]:
    """The record_lines values of an invoice's lines; raises MoneyError if a line's money cannot be stored."""
    return [
        (
            pos,
            line.description,
            to_minor(line.net, cur),
            to_minor(line.tax, cur),
            str(line.quantity),
            None if line.unit_amount is None else str(line.unit_amount),
            line.account_code,
            line.tax_type,
            line.line_id,
        )
        for pos, line in enumerate(lines)
    ]


def _record_row(system: System, stream: str, rec: Any, raw: dict[str, Any]) -> tuple[dict[str, Any], list[LineValues]]:
    """The records row and line values of one domain record. Money that cannot be stored exactly makes it invalid."""
    if isinstance(rec, InvalidRecord):
        row = _blank_row(system, stream, rec.kind.value, rec.id, raw)
        row["number"] = rec.number
        row["number_key"] = invoice_key(rec.number) or None
        row["invalid_reason"] = rec.reason
        row["doc_date"] = rec.date
        return row, []
    try:
        if isinstance(rec, Invoice):
            cur = rec.currency
            # Header money, then lines (the reason names the first amount that fails, as it always did); a bad
            # line makes the whole invoice invalid, not a crash.
            net, tax, total = _minor(rec.net, cur), _minor(rec.tax, cur), _minor(rec.total, cur)
            paid, due = _minor(rec.paid, cur), _minor(rec.due, cur)
            line_values = _line_values(rec.lines, cur or "")
            row = _blank_row(system, stream, Kind.INVOICE.value, rec.id, raw)
            row["number"] = rec.number
            row["number_key"] = invoice_key(rec.number)
            row["contact"] = rec.contact
            row["contact_id"] = rec.contact_id
            row["doc_date"] = rec.issue_date
            row["due_date"] = rec.due_date
            row["po_number"] = rec.po_number
            row["currency"] = cur
            row["net_minor"] = net
            row["tax_minor"] = tax
            row["total_minor"] = total
            row["paid_minor"] = paid
            row["due_minor"] = due
            row["state"] = rec.state.value
            row["deleted"] = rec.deleted
            row["updated_at"] = naive_utc(rec.updated_at)
            row["currency_rate"] = None if rec.rate is None else str(rec.rate)
            return row, line_values
        if isinstance(rec, Payment):
            cur = rec.currency
            amount_minor = _minor(rec.amount, cur)
            row = _blank_row(system, stream, Kind.PAYMENT.value, rec.id, raw)
            row["invoice_number"] = rec.invoice_number
            row["number_key"] = invoice_key(rec.invoice_number) or None
            row["invoice_id"] = rec.invoice_id
            row["doc_date"] = rec.date
            row["amount_minor"] = amount_minor
            row["reference"] = rec.reference
            row["method"] = rec.method
            row["direction"] = rec.direction.value
            row["currency"] = cur
            row["deleted"] = rec.deleted
            row["updated_at"] = naive_utc(rec.updated_at)
            row["credit_note_id"] = rec.credit_note_id
            row["group_ref"] = rec.group
            return row, []
        if isinstance(rec, CreditNote):
            cur = rec.currency
            total_minor, remaining_minor = _minor(rec.total, cur), _minor(rec.remaining, cur)
            row = _blank_row(system, stream, rec.kind.value, rec.id, raw)
            row["number"] = rec.number
            row["number_key"] = invoice_key(rec.reference) or None
            row["reference"] = rec.reference
            row["contact"] = rec.contact
            row["doc_date"] = rec.date
            row["currency"] = cur
            row["total_minor"] = total_minor
            row["remaining_minor"] = remaining_minor
            row["state"] = rec.status
            row["updated_at"] = naive_utc(rec.updated_at)
            return row, []
    except MoneyError as exc:
        kind = rec.kind.value
        number = rec.number if isinstance(rec, (Invoice, CreditNote)) else rec.invoice_number
        row = _blank_row(system, stream, kind, rec.id, raw)
        row["number"] = number
        row["number_key"] = invoice_key(number) or None
        row["invalid_reason"] = f"an amount cannot be stored exactly: {exc}"
        return row, []
    raise TypeError(f"not a record: {type(rec).__name__}")


def _ref_key(entry: dict[str, Any]) -> str:
    for name in _REF_ID_KEYS:
        value = entry.get(name)
        if value not in (None, ""):
            return f"{name}:{value}"
    return "sha256:" + hashlib.sha256(jsontext.dumps(entry).encode()).hexdigest()


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _existing_ids(tx: Tx, system: System, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of stored records of `system` among (kind, remote_id) pairs: one query per kind and page."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, remote_id in set(keys):
        by_kind[kind].append(remote_id)
    found: dict[tuple[str, str], int] = {}
    for kind, remote_ids in by_kind.items():
        remote_ids.sort()
        for chunk in _chunks(remote_ids, _ID_CHUNK):
            # system, kind AND remote_id: the whole unique index, so a lookup never scans the system's records.
            rows = tx.conn.execute(
                select(records.c.id, records.c.remote_id).where(
                    records.c.system == system.value, records.c.kind == kind, records.c.remote_id.in_(chunk)
                )
            )
            for rid, remote_id in rows:
                found[(kind, remote_id)] = rid
    return found


def upsert_records(
    tx: Tx,
    system: System,
    stream: str,
    recs: Sequence[Any],
    raws: Sequence[dict[str, Any]],
    versions: Sequence[str | None] = (),
) -> PageCounts:
    """Insert or update records (and their lines) by (system, kind, remote_id), an updated invoice's lines replaced;
    dicts go to reference data. `versions[i]`: the service's version text of `recs[i]` (none given: unknown). A record
    twice in a page: the later wins. Refunds and credit notes of the page are placed (`place_refunds`)."""
    if len(recs) != len(raws) or (versions and len(versions) != len(recs)):
        raise ValueError(
            f"{system}:{stream}: {len(recs)} records but {len(raws)} raw payloads, {len(versions)} versions"
        )
    rows: dict[tuple[str, str], tuple[dict[str, Any], list[LineValues]]] = {}
    refs: dict[str, str] = {}
    for i, (rec, raw) in enumerate(zip(recs, raws, strict=True)):
        if isinstance(rec, dict):
            refs[_ref_key(rec)] = jsontext.dumps(rec)
            continue
        row, lines = _record_row(system, stream, rec, raw)
        row["version"] = versions[i] if versions else None
        rows[(row["kind"], row["remote_id"])] = (row, lines)
    existing = _existing_ids(tx, system, rows)
    to_update = [{**row, "_id": existing[key]} for key, (row, _) in rows.items() if key in existing]
    new_keys = [key for key in rows if key not in existing]
    if to_update:
        tx.conn.execute(update(records).where(records.c.id == bindparam("_id")), to_update)
    if new_keys:
        tx.conn.execute(insert(records), [rows[key][0] for key in new_keys])
    invoice = Kind.INVOICE.value
    new_invoices = [key for key in new_keys if key[0] == invoice]
    ids = {**existing, **_existing_ids(tx, system, new_invoices)} if new_invoices else existing
    # Also for new ids: a line left behind under a reused id must not survive into the new record.
    replaced = [ids[key] for key in rows if key[0] == invoice]
    for chunk in _chunks(replaced, _ID_CHUNK):
        tx.conn.execute(delete(record_lines).where(record_lines.c.record_id.in_(chunk)))
    line_rows = [
        dict(zip(_LINE_COLUMNS, (ids[key], *values), strict=True))
        for key, (row, lines) in rows.items()
        if row["invalid_reason"] is None
        for values in lines
    ]
    if line_rows:
        tx.conn.execute(insert(record_lines), line_rows)
    place_refunds(
        tx,
        system,
        payment_ids=[rid for kind, rid in rows if kind == Kind.PAYMENT.value],
        credit_note_ids=[rid for kind, rid in rows if kind == CREDIT_NOTE],
    )
    if refs:
        _upsert_reference(tx, system, stream, refs)
    return PageCounts(
        fetched=len(recs),
        inserted=len(new_keys),
        updated=len(to_update),
        invalid=sum(1 for row, _ in rows.values() if row["invalid_reason"] is not None),
        reference=len(refs),
    )


def place_refunds(
    tx: Tx, system: System, *, payment_ids: Collection[str] = (), credit_note_ids: Collection[str] = ()
) -> None:
    """Put refunds on the invoice they belong to: the one their credit note's Reference names (docs/reconciliation.md),
    once that credit note is stored and readable; otherwise their own number. The one place this is worked out:
    called for the refunds and credit notes of every stored page, it keeps `number_key` (what the reconcile and the
    diff panel find records by) and `placed_number` right, through the `credit_note_id` index."""
    refund = and_(
        records.c.system == system.value,
        records.c.kind == Kind.PAYMENT.value,
        records.c.direction == Direction.REFUND.value,
        records.c.credit_note_id.is_not(None),
        records.c.invalid_reason.is_(None),
    )
    found: dict[int, tuple[str | None, str, str | None, str | None]] = {}
    for column, wanted in ((records.c.remote_id, payment_ids), (records.c.credit_note_id, credit_note_ids)):
        for chunk in _chunks(sorted(set(wanted))):
            q = select(
                records.c.id,
                records.c.invoice_number,
                records.c.credit_note_id,
                records.c.placed_number,
                records.c.number_key,
            ).where(refund, column.in_(chunk))
            for rid, own, note_id, placed, key in tx.conn.execute(q):
                found[rid] = (own, note_id, placed, key)
    if not found:
        return
    references: dict[str, str] = credit_note_references(tx, system, {note for _, note, _, _ in found.values() if note})
    changes = []
    for rid, (own, note_id, placed, key) in found.items():
        now = references[note_id].strip() if note_id in references else None
        now_key = invoice_key(now if now is not None else own) or None
        if (now, now_key) != (placed, key):
            changes.append({"_id": rid, "placed_number": now, "number_key": now_key})
    if changes:
        tx.conn.execute(update(records).where(records.c.id == bindparam("_id")), changes)


def credit_note_references(tx: Tx, system: System, credit_note_ids: Collection[str]) -> dict[str, str]:
    """Credit note id -> its Reference, for the readable stored credit notes of `system` among these ids."""
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(credit_note_ids))):
        q = select(records.c.remote_id, records.c.reference).where(
            records.c.system == system.value,
            records.c.kind == CREDIT_NOTE,
            records.c.invalid_reason.is_(None),
            records.c.remote_id.in_(chunk),
        )
        out.update((rid, ref or "") for rid, ref in tx.conn.execute(q))
    return out


def _upsert_reference(tx: Tx, system: System, stream: str, refs: dict[str, str]) -> None:
    keys = sorted(refs)
    existing: dict[str, int] = {}
    for chunk in _chunks(keys):
        for rid, key in tx.conn.execute(
            select(reference_table.c.id, reference_table.c.ref_key).where(
                reference_table.c.system == system.value,
                reference_table.c.stream == stream,
                reference_table.c.ref_key.in_(chunk),
            )
        ):
            existing[key] = rid
    ups = [{"rid": existing[k], "data": refs[k]} for k in keys if k in existing]
    new = [{"system": system.value, "stream": stream, "ref_key": k, "data": refs[k]} for k in keys if k not in existing]
    if ups:
        tx.conn.execute(update(reference_table).where(reference_table.c.id == bindparam("rid")), ups)
    if new:
        tx.conn.execute(insert(reference_table), new)


def upsert_page(
    tx: Tx,
    system: System,
    stream: str,
    recs: Sequence[Any],
    raws: Sequence[dict[str, Any]],
    cursor: dict[str, Any],
    *,
    versions: Sequence[str | None] = (),
) -> PageCounts:
    """Store one page's records, lines and raw payloads, and advance the stream cursor, in the caller's transaction."""
    counts = upsert_records(tx, system, stream, recs, raws, versions)
    set_cursor(tx, system, stream, cursor)
    return counts


def upsert_one(
    tx: Tx,
    system: System,
    record: Invoice | Payment | CreditNote | InvalidRecord,
    raw: dict[str, Any],
    stream: str = "push",
) -> int:
    """Store one record a service returned after a push; returns its record id."""
    upsert_records(tx, system, stream, [record], [raw])
    kind = record.kind.value
    rid = tx.conn.execute(
        select(records.c.id).where(
            records.c.system == system.value, records.c.kind == kind, records.c.remote_id == str(record.id)
        )
    ).scalar_one()
    return int(rid)


# --- cursors and per-system sync state ---------------------------------------------------------------------------


def get_cursor(tx: Tx, system: System, stream: str) -> dict[str, Any] | None:
    text = tx.conn.execute(
        select(cursors.c.cursor).where(cursors.c.system == system.value, cursors.c.stream == stream)
    ).scalar_one_or_none()
    return None if text is None else dict(jsontext.loads(text))


def set_cursor(tx: Tx, system: System, stream: str, cursor: dict[str, Any]) -> None:
    text = jsontext.dumps(cursor)
    done = tx.conn.execute(
        update(cursors).where(cursors.c.system == system.value, cursors.c.stream == stream).values(cursor=text)
    )
    if done.rowcount == 0:
        tx.conn.execute(insert(cursors).values(system=system.value, stream=stream, cursor=text))


def clear_cursors(tx: Tx, system: System) -> None:
    """Forget every stream position of `system`: the next read starts from the beginning (full re-pull)."""
    tx.conn.execute(delete(cursors).where(cursors.c.system == system.value))


def get_system_state(tx: Tx, system: System) -> SystemState:
    row = tx.conn.execute(select(system_state).where(system_state.c.system == system.value)).first()
    if row is None:
        return SystemState(system)
    return SystemState(system, row.last_full_at, bool(row.full_pending))


def set_system_state(tx: Tx, state: SystemState) -> None:
    values = {"last_full_at": state.last_full_at, "full_pending": state.full_pending}
    done = tx.conn.execute(update(system_state).where(system_state.c.system == state.system.value).values(values))
    if done.rowcount == 0:
        tx.conn.execute(insert(system_state).values(system=state.system.value, **values))


# --- loading -----------------------------------------------------------------------------------------------------

# Every column but the raw payload: loaders build records from the normalized columns, and the payload (most of a
# row's bytes) would only be read and thrown away.
_FIELDS = [c for c in records.columns if c.name != "raw"]


# Enum members by stored value: a dict lookup instead of an Enum call for each of a cache's million fields.
_SYSTEM = {s.value: s for s in System}
_KIND = {k.value: k for k in Kind}
# Kinds whose unreadable records are invalid items (an unreadable credit note is not one: see `load_on_keys`).
_RECONCILED_KINDS = [Kind.INVOICE.value, Kind.PAYMENT.value]
_STATE = {s.value: s for s in InvoiceState}
_DIRECTION = {d.value: d for d in Direction}


def _lines_by_record(tx: Tx, condition: Any) -> dict[int, list[Line]]:
    q = (
        select(record_lines, records.c.currency)
        .join(records, records.c.id == record_lines.c.record_id)
        .where(condition)
        .order_by(record_lines.c.record_id, record_lines.c.position)
    )
    out: dict[int, list[Line]] = defaultdict(list)
    for r in tx.conn.execute(q):
        cur = r.currency or ""
        out[r.record_id].append(
            Line(
                description=r.description,
                net=from_minor(r.net_minor, cur),
                tax=from_minor(r.tax_minor, cur),
                quantity=Decimal(r.quantity),
                unit_amount=None if r.unit_amount is None else Decimal(r.unit_amount),
                account_code=r.account_code,
                tax_type=r.tax_type,
                line_id=r.line_id,
            )
        )
    return out


def _money(minor: int | None, currency: str) -> Decimal:
    return from_minor(minor or 0, currency)


def _invoice(r: Row[Any], lines: list[Line]) -> Invoice:
    cur = r.currency or ""
    return Invoice(
        system=_SYSTEM[r.system],
        id=r.remote_id,
        number=r.number or "",
        contact=r.contact or "",
        issue_date=r.doc_date,
        due_date=r.due_date,
        po_number=r.po_number or "",
        currency=cur,
        net=_money(r.net_minor, cur),
        tax=_money(r.tax_minor, cur),
        total=_money(r.total_minor, cur),
        paid=_money(r.paid_minor, cur),
        due=_money(r.due_minor, cur),
        state=_STATE[r.state],
        lines=tuple(lines),
        updated_at=r.updated_at,
        contact_id=r.contact_id,
        deleted=bool(r.deleted),
        rate=Decimal(r.currency_rate) if r.currency_rate else None,
    )


def _payment(r: Row[Any]) -> Payment:
    cur = r.currency or ""
    return Payment(
        system=_SYSTEM[r.system],
        id=r.remote_id,
        # A refund placed through its credit note belongs to the invoice that names (`place_refunds`).
        invoice_number=r.invoice_number if r.placed_number is None else (r.placed_number or None),
        invoice_id=r.invoice_id,
        date=r.doc_date,
        amount=_money(r.amount_minor, cur),
        reference=r.reference or "",
        method=r.method or "",
        direction=_DIRECTION[r.direction],
        currency=cur,
        updated_at=r.updated_at,
        deleted=bool(r.deleted),
        credit_note_id=r.credit_note_id,
        group=r.group_ref,
    )


def _credit_note(r: Row[Any]) -> CreditNote:
    cur = r.currency or ""
    return CreditNote(
        system=_SYSTEM[r.system],
        id=r.remote_id,
        number=r.number or "",
        reference=r.reference or "",
        contact=r.contact or "",
        date=r.doc_date,
        currency=cur,
        total=_money(r.total_minor, cur),
        remaining=_money(r.remaining_minor, cur),
        status=r.state or "",
        updated_at=r.updated_at,
        kind=_KIND[r.kind],
    )


def _keys_in(keys: Collection[str]) -> Any:
    """Records on any of these invoice keys. Key "" stands for records without one (NULL or "" in the table)."""
    named = sorted(k for k in keys if k)
    conds: list[Any] = [records.c.number_key.in_(named)] if named else []
    if "" in keys:
        conds += [records.c.number_key.is_(None), records.c.number_key == ""]
    return or_(*conds) if conds else records.c.id.is_(None)  # no keys: nothing (ids are never NULL)


def _by_keys(number_keys: Collection[str], system: System | None, kinds: Sequence[str]) -> Any:
    """Records of `system` and `kinds` on these keys, found through the `number_key` index. `system` and `kind` are
    wrapped in COALESCE because without statistics SQLite's planner would rather walk every record of the system
    through the (system, kind, remote_id) index, and a chunked reconcile would then read the table once per chunk."""
    conds = [_keys_in(number_keys), func.coalesce(records.c.kind, "").in_(list(kinds))]
    if system is not None:
        conds.append(func.coalesce(records.c.system, "") == system.value)
    return and_(*conds)


def invoice_keys(tx: Tx) -> list[str]:
    """Every distinct invoice key the records carry ("" for none), sorted; read off the `number_key` index.
    Credit notes carry their reference's key, so the keys Xero refunds belong to are among them."""
    keys = {k or "" for (k,) in tx.conn.execute(select(records.c.number_key).distinct())}
    return sorted(keys)


def load_invoices(
    tx: Tx, system: System, *, number_key: str | None = None, number_keys: Collection[str] | None = None
) -> list[Invoice]:
    """Readable invoices of `system` (tombstones included, flagged `deleted`), oldest record id first; with
    `number_key` or `number_keys`, only those on that key / those keys ("" = records without a number)."""
    if number_keys is not None:
        cond = and_(_by_keys(number_keys, system, [Kind.INVOICE.value]), records.c.invalid_reason.is_(None))
    else:
        cond = and_(
            records.c.system == system.value, records.c.kind == Kind.INVOICE.value, records.c.invalid_reason.is_(None)
        )
    if number_key is not None:
        cond = and_(cond, records.c.number_key == number_key)
    lines = _lines_by_record(tx, cond)
    rows = tx.conn.execute(select(*_FIELDS).where(cond).order_by(records.c.id))
    return [_invoice(r, lines.get(r.id, [])) for r in rows]


def load_payments(
    tx: Tx,
    system: System,
    *,
    number_key: str | None = None,
    credit_note_ids: Sequence[str] = (),
    number_keys: Collection[str] | None = None,
) -> list[Payment]:
    """Readable payments of `system`; with `number_key` (or `number_keys`), those on that invoice / those
    invoices (plus any paid out of the given credit notes: Xero refunds name the credit note, not the invoice)."""
    if number_keys is not None and not credit_note_ids:
        cond = and_(_by_keys(number_keys, system, [Kind.PAYMENT.value]), records.c.invalid_reason.is_(None))
    else:
        cond = and_(
            records.c.system == system.value, records.c.kind == Kind.PAYMENT.value, records.c.invalid_reason.is_(None)
        )
    if number_key is not None or (number_keys is not None and credit_note_ids):
        on_invoice = records.c.number_key == number_key if number_key is not None else _keys_in(number_keys or ())
        cond = and_(
            cond, on_invoice | records.c.credit_note_id.in_(list(credit_note_ids)) if credit_note_ids else on_invoice
        )
    return [_payment(r) for r in tx.conn.execute(select(*_FIELDS).where(cond).order_by(records.c.id))]


def load_credit_notes(tx: Tx, system: System | None = None) -> list[CreditNote]:
    """The ledger's readable credit notes (or `system`'s)."""
    system = system or system_for(Role.LEDGER)
    cond = and_(records.c.system == system.value, records.c.kind.in_(CREDITS), records.c.invalid_reason.is_(None))
    return [_credit_note(r) for r in tx.conn.execute(select(*_FIELDS).where(cond).order_by(records.c.id))]


def payments_in_group(tx: Tx, system: System, group: str) -> list[Payment]:
    """The readable, non-deleted payments of `system` that are parts of one combined payment (`Payment.group`)."""
    cond = and_(
        records.c.system == system.value,
        records.c.kind == Kind.PAYMENT.value,
        records.c.group_ref == group,
        records.c.invalid_reason.is_(None),
        records.c.deleted.is_(False),
    )
    return [_payment(r) for r in tx.conn.execute(select(*_FIELDS).where(cond).order_by(records.c.id))]


def credit_note(tx: Tx, system: System, credit_note_id: str) -> CreditNote | None:
    """One readable credit note of `system` by its id, or None."""
    cond = and_(
        records.c.system == system.value,
        records.c.kind.in_(CREDITS),
        records.c.remote_id == credit_note_id,
        records.c.invalid_reason.is_(None),
    )
    r = tx.conn.execute(select(*_FIELDS).where(cond)).first()
    return _credit_note(r) if r is not None else None


def load_invalid(
    tx: Tx, *, number_key: str | None = None, number_keys: Collection[str] | None = None
) -> list[InvalidRecord]:
    """Records that could not be read (invoices and payments), with their reasons (optionally on given keys)."""
    if number_keys is not None:
        cond = and_(_by_keys(number_keys, None, _RECONCILED_KINDS), records.c.invalid_reason.is_not(None))
    else:
        cond = and_(records.c.invalid_reason.is_not(None), records.c.kind.in_(_RECONCILED_KINDS))
    if number_key is not None:
        cond = and_(cond, records.c.number_key == number_key)
    rows = tx.conn.execute(select(*_FIELDS).where(cond).order_by(records.c.id))
    return [_invalid(r) for r in rows]


def _invalid(r: Row[Any]) -> InvalidRecord:
    return InvalidRecord(
        system=_SYSTEM[r.system],
        kind=_KIND[r.kind],
        id=r.remote_id,
        reason=r.invalid_reason,
        number=r.number or r.invoice_number,
        date=r.doc_date,
    )


def get_record(tx: Tx, record_id: int) -> StoredRecord:
    """One stored record by its cache id (KeyError when there is none)."""
    r = tx.conn.execute(select(records).where(records.c.id == record_id)).first()
    if r is None:
        raise KeyError(f"no cached record {record_id}")
    rec: Invoice | Payment | None = None
    if r.invalid_reason is None:
        if r.kind == Kind.INVOICE.value:
            rec = _invoice(r, _lines_by_record(tx, records.c.id == record_id).get(r.id, []))
        elif r.kind == Kind.PAYMENT.value:
            rec = _payment(r)
    return StoredRecord(
        id=r.id,
        system=_SYSTEM[r.system],
        kind=r.kind,
        remote_id=r.remote_id,
        record=rec,
        raw=r.raw,
        invalid_reason=r.invalid_reason,
        number=r.number or r.invoice_number,
    )


def find_record(tx: Tx, system: System, kind: Kind | str, remote_id: str) -> StoredRecord | None:
    """One stored record by its remote id (through the unique index), None when the cache has none."""
    q = select(records.c.id).where(
        records.c.system == system.value, records.c.kind == str(kind), records.c.remote_id == remote_id
    )
    found = tx.conn.execute(q).scalar()
    return None if found is None else get_record(tx, int(found))


@dataclass(frozen=True, slots=True)
class KeyRecords:
    """Everything the cache holds on some invoice keys, read in one pass (`load_on_keys`): readable invoices and
    payments per system (tombstones included, flagged `deleted`), invalid invoices and payments, and the cache id of
    every record on the keys (credit notes too), each list oldest record id first."""

    invoices: dict[System, list[Invoice]]
    payments: dict[System, list[Payment]]
    invalid: list[InvalidRecord]
    ids: dict[tuple[str, str, str], int]
    credit_notes: list[CreditNote] = field(default_factory=list)  # readable ones, every system


def load_on_keys(tx: Tx, number_keys: Collection[str]) -> KeyRecords:
    """What `load_invoices`, `load_payments`, `load_invalid` and `record_ids` give for `number_keys`, from one query
    of the records and one of the invoices' lines instead of eight (the reconcile reads the whole cache this way,
    a chunk of keys at a time)."""
    on_keys = _keys_in(number_keys)
    lines = _lines_by_record(
        tx,
        and_(on_keys, func.coalesce(records.c.kind, "") == Kind.INVOICE.value, records.c.invalid_reason.is_(None)),
    )
    invoices: dict[System, list[Invoice]] = {s: [] for s in System}
    payments: dict[System, list[Payment]] = {s: [] for s in System}
    invalid: list[InvalidRecord] = []
    credit_notes: list[CreditNote] = []
    ids: dict[tuple[str, str, str], int] = {}
    invoice = Kind.INVOICE.value
    for r in tx.conn.execute(select(*_FIELDS).where(on_keys).order_by(records.c.id)):
        ids[(r.system, r.kind, r.remote_id)] = r.id
        if r.kind not in _KIND:
            continue
        if r.kind in CREDITS:
            if r.invalid_reason is None:
                credit_notes.append(_credit_note(r))
            continue  # an unreadable credit note is not an item: refunds out of it say so
        if r.invalid_reason is not None:
            invalid.append(_invalid(r))
        elif r.kind == invoice:
            invoices[_SYSTEM[r.system]].append(_invoice(r, lines.get(r.id, [])))
        else:
            payments[_SYSTEM[r.system]].append(_payment(r))
    return KeyRecords(invoices, payments, invalid, ids, credit_notes)


def record_ids(
    tx: Tx,
    *,
    number_key: str | None = None,
    number_keys: Collection[str] | None = None,
    credit_note_ids: Sequence[str] = (),
) -> dict[tuple[str, str, str], int]:
    """(system, kind, remote_id) -> cache id, for linking items to records. With `number_keys`, the records on
    those keys plus the payments paid out of `credit_note_ids` (Xero refunds, which carry no invoice key)."""
    q = select(records.c.id, records.c.system, records.c.kind, records.c.remote_id)
    if number_key is not None:
        q = q.where(records.c.number_key == number_key)
    if number_keys is not None:
        cond = _keys_in(number_keys)
        if credit_note_ids:
            cond = or_(cond, records.c.credit_note_id.in_(list(credit_note_ids)))
        q = q.where(cond)
    return {(s, k, rid): i for i, s, k, rid in tx.conn.execute(q)}


def touched_invoice_keys(tx: Tx, system: System, recs: Iterable[Any]) -> set[str]:
    """The invoice keys ("" = none) that the stored versions of these records (a page about to be written, or just
    written) put them on, for reconciling only what a sync changed. A Xero refund is on the key its credit note
    places it on (`place_refunds`); a credit note also brings the keys of the refunds paid from it, which move with
    it. Records not stored yet add nothing."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for rec in recs:
        if isinstance(rec, (Invoice, Payment, InvalidRecord, CreditNote)):
            by_kind[rec.kind.value].append(str(rec.id))
        # anything else is reference data (accounts, tax rates, ...), which is on no invoice
    keys: set[str] = set()
    for kind, ids in by_kind.items():
        for chunk in _chunks(sorted(set(ids))):
            q = select(records.c.number_key).where(
                records.c.system == system.value, records.c.kind == kind, records.c.remote_id.in_(chunk)
            )
            keys.update(key or "" for (key,) in tx.conn.execute(q))
    for chunk in _chunks(sorted(set(by_kind.get(CREDIT_NOTE, ())))):
        refunds = select(records.c.number_key).where(
            records.c.system == system.value, records.c.kind == Kind.PAYMENT.value, records.c.credit_note_id.in_(chunk)
        )
        keys.update(key or "" for (key,) in tx.conn.execute(refunds))
    return keys


def shared_invoice_keys(tx: Tx, system: System, number_keys: Collection[str] | None = None) -> dict[str, list[str]]:
    """Invoice key -> remote ids of the readable, non-deleted invoices of `system` on it, for the keys that more
    than one such invoice shares (duplicate numbers: few). With `number_keys`, only among those keys, found
    through the `number_key` index (the work of an incremental reconcile then follows what changed)."""
    live = and_(
        records.c.system == system.value,
        records.c.kind == Kind.INVOICE.value,
        records.c.invalid_reason.is_(None),
        records.c.deleted.is_(False),
    )
    if number_keys is None:
        scopes = [live]
    else:
        named = sorted(k for k in set(number_keys) if k)
        scopes = [and_(live, records.c.number_key.in_(list(chunk))) for chunk in _chunks(named)]
    out: dict[str, list[str]] = defaultdict(list)
    for where in scopes:
        shared = select(records.c.number_key).where(where).group_by(records.c.number_key).having(func.count() > 1)
        q = select(records.c.number_key, records.c.remote_id).where(where, records.c.number_key.in_(shared))
        for key, rid in tx.conn.execute(q):
            out[key or ""].append(rid)
    return dict(out)


def same_date_and_total(
    tx: Tx, number_keys: Collection[str] | None = None
) -> dict[tuple[str, Any, int, str], list[tuple[str, str, str]]]:
    """Readable, live, not void invoices with a number that share one system, issue date, total and currency with
    another: (system, date, total minor, currency) -> [(invoice key, contact, remote id)], the candidates of invoices
    that may repeat each other under other numbers (the services compare the contacts as the rules do). With
    `number_keys`, only the groups an invoice on those keys belongs to, found through the (system, kind, doc_date,
    total_minor) index; None: every group of the cache, from one pass over the invoices (a full reconcile reads
    them all anyway)."""
    live = and_(
        records.c.kind == Kind.INVOICE.value,
        records.c.invalid_reason.is_(None),
        records.c.deleted.is_(False),
        records.c.doc_date.is_not(None),
        records.c.total_minor.is_not(None),
        func.coalesce(records.c.number_key, "") != "",
        func.coalesce(records.c.state, "") != InvoiceState.VOID.value,
    )
    columns = (
        records.c.system,
        records.c.doc_date,
        records.c.total_minor,
        records.c.currency,
        records.c.number_key,
        records.c.contact,
        records.c.remote_id,
    )
    queries: list[Any] = []
    if number_keys is None:
        queries.append(select(*columns).where(live))
    else:
        # The signatures of the invoices on these keys, then every invoice with one of them: per system and date,
        # an index seek on (system, kind, doc_date, total_minor IN ...).
        wanted: dict[tuple[str, Any], set[int]] = defaultdict(set)
        for chunk in _chunks(sorted(k for k in set(number_keys) if k)):
            q = select(records.c.system, records.c.doc_date, records.c.total_minor).where(
                live, records.c.number_key.in_(list(chunk))
            )
            for system, day, total in tx.conn.execute(q):
                wanted[(system, day)].add(total)
        for (system, day), totals in sorted(wanted.items()):
            for part in _chunks(sorted(totals)):
                where = (records.c.system == system, records.c.doc_date == day, records.c.total_minor.in_(list(part)))
                queries.append(select(*columns).where(live, *where))
    groups: dict[tuple[str, Any, int, str], list[tuple[str, str, str]]] = defaultdict(list)
    for q in queries:
        for system, day, total, currency, key, contact, rid in tx.conn.execute(q):
            groups[(system, day, total, (currency or "").upper())].append((key, contact or "", rid))
    return {sig: found for sig, found in groups.items() if len({k for k, _c, _r in found}) > 1}


def keys_with_invoices(tx: Tx, system: System, number_keys: Collection[str]) -> set[str]:
    """Those of `number_keys` that a readable, live invoice of `system` is on (through the `number_key` index)."""
    out: set[str] = set()
    for chunk in _chunks(sorted(set(number_keys))):
        # Only the key in the WHERE: with the system and kind there too, SQLite prefers an index on those and walks
        # every invoice of the system. A key holds a handful of records; the rest is checked here.
        q = select(records.c.number_key, records.c.system, records.c.kind, records.c.invalid_reason, records.c.deleted)
        for key, sys_, kind, bad, deleted in tx.conn.execute(q.where(records.c.number_key.in_(list(chunk)))):
            if sys_ == system.value and kind == Kind.INVOICE.value and bad is None and not deleted:
                out.add(key)
    return out


def payment_keys_on_invoice_ids(tx: Tx, system: System, invoice_ids: Collection[str]) -> dict[str, set[str]]:
    """Invoice remote id -> the invoice keys of the payments of `system` that hang on it by id."""
    out: dict[str, set[str]] = defaultdict(set)
    ids = sorted(invoice_ids)
    for chunk in _chunks(ids):
        q = select(records.c.invoice_id, records.c.number_key).where(
            records.c.system == system.value, records.c.kind == Kind.PAYMENT.value, records.c.invoice_id.in_(chunk)
        )
        for iid, key in tx.conn.execute(q):
            out[iid].add(key or "")
    return dict(out)


def invoice_keys_behind_payments(tx: Tx, system: System, number_keys: Collection[str]) -> set[str]:
    """The keys of the invoices that payments of `system` on these keys hang on by invoice id, where those differ
    from the payments' own (a number changed since the payment was read: rare). Through the indexes."""
    invoice = records.alias("invoice")
    out: set[str] = set()
    for chunk in _chunks(sorted(set(number_keys))):
        q = (
            select(invoice.c.number_key)
            .select_from(
                records.join(
                    invoice,
                    and_(
                        invoice.c.system == records.c.system,
                        invoice.c.kind == Kind.INVOICE.value,
                        invoice.c.remote_id == records.c.invoice_id,
                    ),
                )
            )
            .where(
                _keys_in(chunk),
                func.coalesce(records.c.system, "") == system.value,
                func.coalesce(records.c.kind, "") == Kind.PAYMENT.value,
                func.coalesce(invoice.c.number_key, "") != func.coalesce(records.c.number_key, ""),
            )
        )
        out.update(key or "" for (key,) in tx.conn.execute(q))
    return out


def invoice_numbers(tx: Tx, system: System, invoice_ids: Collection[str]) -> dict[str, str]:
    """remote invoice id -> invoice number, for the stored invoices of `system` among these ids (accessplanit
    payments carry only the invoice id)."""
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(invoice_ids))):
        q = select(records.c.remote_id, records.c.number).where(
            records.c.system == system.value,
            records.c.kind == Kind.INVOICE.value,
            records.c.remote_id.in_(chunk),
            records.c.number.is_not(None),
        )
        out.update((rid, value) for rid, value in tx.conn.execute(q))
    return out


def unchanged_on_page(tx: Tx, system: System, recs: Sequence[Any], versions: Sequence[str | None]) -> set[int]:
    """Positions of the page's records whose stored version equals the one the service sent now: nothing of them
    changed, so an incremental sync neither stores them again nor reconciles their invoice (a service's overlap
    window sends records again). Records without a version are never skipped. Through the unique index."""
    wanted: dict[str, dict[str, int]] = {}
    for i, rec in enumerate(recs):
        version = versions[i] if i < len(versions) else None
        if version is None or isinstance(rec, dict):
            continue
        kind = rec.kind.value
        wanted.setdefault(kind, {})[rec.id] = i
    same: set[int] = set()
    for kind, positions in wanted.items():
        for rid, stored in record_versions(tx, system, kind, positions).items():
            if stored == versions[positions[rid]]:
                same.add(positions[rid])
    return same


def record_versions(tx: Tx, system: System, kind: Kind | str, ids: Collection[str]) -> dict[str, str]:
    """remote id -> the stored version text (the service's own, as it sent it), for the records of `kind` among
    these ids that have one; invalid records too. A connector compares it with what it reads again, to skip
    records that did not change (accessplanit incremental runs). Through the (system, kind, remote_id) index."""
    kind_value = kind.value if isinstance(kind, Kind) else kind
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(ids)), _ID_CHUNK):
        q = select(records.c.remote_id, records.c.version).where(
            records.c.system == system.value,
            records.c.kind == kind_value,
            records.c.remote_id.in_(chunk),
            records.c.version.is_not(None),
        )
        out.update((rid, value) for rid, value in tx.conn.execute(q))
    return out


def ledger_refunds_on_keys(tx: Tx, number_keys: Collection[str], system: System | None = None) -> dict[str, Decimal]:
    """R of docs/reconciliation.md section 4 for these invoice keys: the sum of the readable, non-deleted refunds of
    the ledger placed on each (`place_refunds`), summed by the database through the `number_key` index. Keys
    without refunds are left out; key "" (no invoice) adjusts nothing."""
    system = system or system_for(Role.LEDGER)
    out: dict[str, Decimal] = {}
    for chunk in _chunks(sorted(k for k in set(number_keys) if k)):
        q = (
            select(records.c.number_key, records.c.currency, func.sum(records.c.amount_minor))
            .where(
                records.c.number_key.in_(list(chunk)),
                func.coalesce(records.c.system, "") == system.value,
                func.coalesce(records.c.kind, "") == Kind.PAYMENT.value,
                records.c.direction == Direction.REFUND.value,
                records.c.deleted.is_(False),
                records.c.invalid_reason.is_(None),
            )
            .group_by(records.c.number_key, records.c.currency)
        )
        for key, currency, minor in tx.conn.execute(q):
            out[key] = out.get(key, Decimal(0)) + from_minor(int(minor or 0), currency or "")
    return out


def ledger_refunds_on_key(tx: Tx, number_key: str, system: System | None = None) -> Decimal:
    """R of docs/reconciliation.md section 4 for one invoice key (the diff panel's canonical ledger values)."""
    return ledger_refunds_on_keys(tx, [number_key], system).get(number_key, Decimal(0))


def reference_data(tx: Tx, system: System, stream: str) -> list[dict[str, Any]]:
    """The entries of a reference-data stream (accounts, tax rates, ...), numbers as Decimal."""
    q = (
        select(reference_table.c.data)
        .where(reference_table.c.system == system.value, reference_table.c.stream == stream)
        .order_by(reference_table.c.ref_key)
    )
    return [dict(jsontext.loads(text)) for (text,) in tx.conn.execute(q)]

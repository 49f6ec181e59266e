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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, insert, select, update

from app.domain.keys import invoice_key
from app.domain.money import MoneyError, from_minor, to_minor
from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, Kind, System
from app.storage import jsontext
from app.storage.db import Tx
from app.storage.models import PageCounts, StoredRecord, SystemState
from app.storage.schema import cursors, record_lines, records, system_state
from app.storage.schema import reference_data as reference_table

CREDIT_NOTE = "credit_note"
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


def _blank_row(system: System, stream: str, kind: str, remote_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_RECORD_COLUMNS)
    row.update(
        system=system.value, stream=stream, kind=kind, remote_id=str(remote_id), deleted=False, raw=jsontext.dumps(raw)
    )
    return row


def _record_row(system: System, stream: str, rec: Any, raw: dict[str, Any]) -> tuple[dict[str, Any], list[Line]]:
    """The records row and lines of one domain record. Money that cannot be stored exactly makes it invalid."""
    if isinstance(rec, InvalidRecord):
        row = _blank_row(system, stream, rec.kind.value, rec.id, raw)
        row.update(number=rec.number, number_key=invoice_key(rec.number) or None, invalid_reason=rec.reason)
        return row, []
    try:
        if isinstance(rec, Invoice):
            cur = rec.currency
            row = _blank_row(system, stream, Kind.INVOICE.value, rec.id, raw)
            row.update(
                number=rec.number,
                number_key=invoice_key(rec.number),
                contact=rec.contact,
                contact_id=rec.contact_id,
                doc_date=rec.issue_date,
                due_date=rec.due_date,
                po_number=rec.po_number,
                currency=cur,
                net_minor=_minor(rec.net, cur),
                tax_minor=_minor(rec.tax, cur),
                total_minor=_minor(rec.total, cur),
                paid_minor=_minor(rec.paid, cur),
                due_minor=_minor(rec.due, cur),
                state=rec.state.value,
                deleted=rec.deleted,
                updated_at=naive_utc(rec.updated_at),
            )
            for line in rec.lines:  # checked here so a bad line makes the whole invoice invalid, not a crash
                to_minor(line.net, cur)
                to_minor(line.tax, cur)
            return row, list(rec.lines)
        if isinstance(rec, Payment):
            cur = rec.currency
            row = _blank_row(system, stream, Kind.PAYMENT.value, rec.id, raw)
            row.update(
                invoice_number=rec.invoice_number,
                number_key=invoice_key(rec.invoice_number) or None,
                invoice_id=rec.invoice_id,
                doc_date=rec.date,
                amount_minor=_minor(rec.amount, cur),
                reference=rec.reference,
                method=rec.method,
                direction=rec.direction.value,
                currency=cur,
                deleted=rec.deleted,
                updated_at=naive_utc(rec.updated_at),
                credit_note_id=rec.credit_note_id,
            )
            return row, []
        if isinstance(rec, CreditNote):
            cur = rec.currency
            row = _blank_row(system, stream, CREDIT_NOTE, rec.id, raw)
            row.update(
                number=rec.number,
                number_key=invoice_key(rec.reference) or None,
                reference=rec.reference,
                contact=rec.contact,
                doc_date=rec.date,
                currency=cur,
                total_minor=_minor(rec.total, cur),
                remaining_minor=_minor(rec.remaining, cur),
                state=rec.status,
                updated_at=naive_utc(rec.updated_at),
            )
            return row, []
    except MoneyError as exc:
        kind = CREDIT_NOTE if isinstance(rec, CreditNote) else rec.kind.value
        number = rec.number if isinstance(rec, (Invoice, CreditNote)) else rec.invoice_number
        row = _blank_row(system, stream, kind, rec.id, raw)
        row.update(
            number=number,
            number_key=invoice_key(number) or None,
            invalid_reason=f"an amount cannot be stored exactly: {exc}",
        )
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
    """Ids of stored records of `system` among (kind, remote_id) pairs."""
    wanted = set(keys)
    found: dict[tuple[str, str], int] = {}
    remote_ids = sorted({rid for _, rid in wanted})
    for chunk in _chunks(remote_ids):
        rows = tx.conn.execute(
            select(records.c.id, records.c.kind, records.c.remote_id).where(
                records.c.system == system.value, records.c.remote_id.in_(chunk)
            )
        )
        for rid, kind, remote_id in rows:
            if (kind, remote_id) in wanted:
                found[(kind, remote_id)] = rid
    return found


def upsert_records(
    tx: Tx, system: System, stream: str, recs: Sequence[Any], raws: Sequence[dict[str, Any]]
) -> PageCounts:
    """Insert or update records (and their lines) by (system, kind, remote_id); dicts go to reference data."""
    if len(recs) != len(raws):
        raise ValueError(f"{system}:{stream}: {len(recs)} records but {len(raws)} raw payloads")
    by_key: dict[tuple[str, str], tuple[dict[str, Any], list[Line]]] = {}
    refs: dict[str, str] = {}
    for rec, raw in zip(recs, raws, strict=True):
        if isinstance(rec, dict):
            refs[_ref_key(rec)] = jsontext.dumps(rec)
            continue
        row, lines = _record_row(system, stream, rec, raw)
        by_key[(row["kind"], row["remote_id"])] = (row, lines)  # a record twice in a page: the later one wins
    invalid = sum(1 for row, _ in by_key.values() if row["invalid_reason"] is not None)

    existing = _existing_ids(tx, system, by_key)
    to_update = [{**row, "rid": existing[key]} for key, (row, _) in by_key.items() if key in existing]
    to_insert = [row for key, (row, _) in by_key.items() if key not in existing]
    if to_update:
        tx.conn.execute(update(records).where(records.c.id == bindparam("rid")), to_update)
    if to_insert:
        tx.conn.execute(insert(records), to_insert)

    with_lines = {key: lines for key, (row, lines) in by_key.items() if row["kind"] == Kind.INVOICE.value}
    if with_lines:
        ids = existing if not to_insert else _existing_ids(tx, system, with_lines)
        record_ids = [ids[key] for key in with_lines]
        for chunk in _chunks(record_ids):
            tx.conn.execute(delete(record_lines).where(record_lines.c.record_id.in_(chunk)))
        line_rows = []
        for key, lines in with_lines.items():
            cur = by_key[key][0]["currency"] or ""
            if by_key[key][0]["invalid_reason"] is not None:
                continue
            for pos, line in enumerate(lines):
                line_rows.append(
                    {
                        "record_id": ids[key],
                        "position": pos,
                        "description": line.description,
                        "net_minor": to_minor(line.net, cur),
                        "tax_minor": to_minor(line.tax, cur),
                        "quantity": str(line.quantity),
                        "unit_amount": None if line.unit_amount is None else str(line.unit_amount),
                        "account_code": line.account_code,
                        "tax_type": line.tax_type,
                        "line_id": line.line_id,
                    }
                )
        if line_rows:
            tx.conn.execute(insert(record_lines), line_rows)

    if refs:
        _upsert_reference(tx, system, stream, refs)
    return PageCounts(
        fetched=len(recs), inserted=len(to_insert), updated=len(to_update), invalid=invalid, reference=len(refs)
    )


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
) -> PageCounts:
    """Store one page's records, lines and raw payloads, and advance the stream cursor, in the caller's transaction."""
    counts = upsert_records(tx, system, stream, recs, raws)
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
    kind = CREDIT_NOTE if isinstance(record, CreditNote) else record.kind.value
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
        system=System(r.system),
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
        state=InvoiceState(r.state),
        lines=tuple(lines),
        updated_at=r.updated_at,
        contact_id=r.contact_id,
        deleted=bool(r.deleted),
    )


def _payment(r: Row[Any]) -> Payment:
    cur = r.currency or ""
    return Payment(
        system=System(r.system),
        id=r.remote_id,
        invoice_number=r.invoice_number,
        invoice_id=r.invoice_id,
        date=r.doc_date,
        amount=_money(r.amount_minor, cur),
        reference=r.reference or "",
        method=r.method or "",
        direction=Direction(r.direction),
        currency=cur,
        updated_at=r.updated_at,
        deleted=bool(r.deleted),
        credit_note_id=r.credit_note_id,
    )


def _credit_note(r: Row[Any]) -> CreditNote:
    cur = r.currency or ""
    return CreditNote(
        system=System(r.system),
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
    )


def load_invoices(tx: Tx, system: System, *, number_key: str | None = None) -> list[Invoice]:
    """Readable invoices of `system` (tombstones included, flagged `deleted`), oldest record id first."""
    cond = and_(
        records.c.system == system.value, records.c.kind == Kind.INVOICE.value, records.c.invalid_reason.is_(None)
    )
    if number_key is not None:
        cond = and_(cond, records.c.number_key == number_key)
    lines = _lines_by_record(tx, cond)
    rows = tx.conn.execute(select(records).where(cond).order_by(records.c.id))
    return [_invoice(r, lines.get(r.id, [])) for r in rows]


def load_payments(
    tx: Tx, system: System, *, number_key: str | None = None, credit_note_ids: Sequence[str] = ()
) -> list[Payment]:
    """Readable payments of `system`; with `number_key`, those on that invoice (plus any paid out of the given
    credit notes: Xero refunds name the credit note, not the invoice)."""
    cond = and_(
        records.c.system == system.value, records.c.kind == Kind.PAYMENT.value, records.c.invalid_reason.is_(None)
    )
    if number_key is not None:
        on_invoice = records.c.number_key == number_key
        cond = and_(
            cond, on_invoice | records.c.credit_note_id.in_(list(credit_note_ids)) if credit_note_ids else on_invoice
        )
    return [_payment(r) for r in tx.conn.execute(select(records).where(cond).order_by(records.c.id))]


def load_credit_notes(tx: Tx, system: System = System.XERO) -> list[CreditNote]:
    cond = and_(records.c.system == system.value, records.c.kind == CREDIT_NOTE, records.c.invalid_reason.is_(None))
    return [_credit_note(r) for r in tx.conn.execute(select(records).where(cond).order_by(records.c.id))]


def load_invalid(tx: Tx, *, number_key: str | None = None) -> list[InvalidRecord]:
    """Records that could not be read (invoices and payments), with their reasons."""
    cond = and_(records.c.invalid_reason.is_not(None), records.c.kind.in_([k.value for k in Kind]))
    if number_key is not None:
        cond = and_(cond, records.c.number_key == number_key)
    rows = tx.conn.execute(select(records).where(cond).order_by(records.c.id))
    return [
        InvalidRecord(
            system=System(r.system),
            kind=Kind(r.kind),
            id=r.remote_id,
            reason=r.invalid_reason,
            number=r.number or r.invoice_number,
        )
        for r in rows
    ]


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
        system=System(r.system),
        kind=r.kind,
        remote_id=r.remote_id,
        record=rec,
        raw=r.raw,
        invalid_reason=r.invalid_reason,
        number=r.number or r.invoice_number,
    )


def record_ids(tx: Tx, *, number_key: str | None = None) -> dict[tuple[str, str, str], int]:
    """(system, kind, remote_id) -> cache id, for linking items to records."""
    q = select(records.c.id, records.c.system, records.c.kind, records.c.remote_id)
    if number_key is not None:
        q = q.where(records.c.number_key == number_key)
    return {(s, k, rid): i for i, s, k, rid in tx.conn.execute(q)}


def invoice_numbers(tx: Tx, system: System) -> dict[str, str]:
    """remote invoice id -> invoice number (accessplanit payments carry only the invoice id)."""
    q = select(records.c.remote_id, records.c.number).where(
        records.c.system == system.value, records.c.kind == Kind.INVOICE.value, records.c.number.is_not(None)
    )
    return {rid: num for rid, num in tx.conn.execute(q)}


def record_versions(tx: Tx, system: System, kind: Kind | str) -> dict[str, str]:
    """remote id -> the `DateUpdated` text of the stored raw payload, for records of `kind` that have one.

    The raw text is the exact version the service sent (`updated_at` is parsed: an offset or digits beyond
    microseconds would be lost), and invalid records have it too. A connector compares it with what it reads
    again, to skip records that did not change (accessplanit incremental runs)."""
    kind_value = kind.value if isinstance(kind, Kind) else kind
    q = select(records.c.remote_id, records.c.raw).where(records.c.system == system.value, records.c.kind == kind_value)
    out: dict[str, str] = {}
    for rid, raw in tx.conn.execute(q):
        try:
            payload = jsontext.loads(raw)
        except ValueError:  # a raw payload is always our own JSON text; never let one bad row stop a sync
            continue
        version = payload.get("DateUpdated") if isinstance(payload, dict) else None
        if isinstance(version, str) and version:
            out[rid] = version
    return out


def reference_data(tx: Tx, system: System, stream: str) -> list[dict[str, Any]]:
    """The entries of a reference-data stream (accounts, tax rates, ...), numbers as Decimal."""
    q = (
        select(reference_table.c.data)
        .where(reference_table.c.system == system.value, reference_table.c.stream == stream)
        .order_by(reference_table.c.ref_key)
    )
    return [dict(jsontext.loads(text)) for (text,) in tx.conn.execute(q)]

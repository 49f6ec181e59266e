"""Xero streams, in reading order: `organisation`, `accounts`, `tax_rates`, `contacts`, `credit_notes`, `invoices`,
`payments`, `overpayments`, `prepayments`.

Reference data (organisation, accounts, tax rates) is one unpaged call each, read in full every time. The others
are paged with `page`/`pageSize` (1,000), `order=UpdatedDateUTC ASC`, and on incremental runs the
`If-Modified-Since` header set to `watermark − overlap`. The cursor of a paged stream:

    {"v": 1, "since": "2026-10-14T09:00:00" | null,  # If-Modified-Since of this run (null: everything)
     "page": 3,                                      # next page to fetch in this run
     "watermark": "2026-10-14T09:12:31" | null,      # highest UpdatedDateUTC seen (naive UTC, ISO)
     "done": false}

In here the cursor is typed (`PageCursor`, frozen); a `Page` carries its JSON form above, stored as it is.
How many records a run reads (`pagination.itemCount`) is progress, not position: it rides on the `Page`, not in the
cursor. Each record's version (`UpdatedDateUTC` as sent) rides on the page too, for the cache.

A credit (credit note, overpayment, prepayment) row gives its record and one payment per allocation to an invoice
(`mapping.map_credit`); the page repeats the row for each, as the accessplanit Transaction of a combined payment.
Credit notes are read before payments so a refund (paid out of a credit note) can be tied to the invoice named in
the credit note's `Reference`: read this run, else asked of the cache (`CacheLookups`), else of Xero.
Must not: build URLs or headers itself (it calls `Get`), or map fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.connectors.base import NO_LOOKUPS, CacheLookups, CallStats, MappedRecord, Page
from app.connectors.pagination import PageNumberPaging
from app.connectors.wire import Unreadable
from app.connectors.xero import mapping
from app.domain.errors import RejectedError
from app.domain.progress import CancelToken
from app.domain.records import CreditNote, Invoice, Payment
from app.domain.status import Kind

STREAMS = (
    "organisation",
    "accounts",
    "tax_rates",
    "contacts",
    "credit_notes",
    "invoices",
    "payments",
    "overpayments",
    "prepayments",
)
# stream -> (path, collection key in the envelope)
REFERENCE = {
    "organisation": ("Organisation", "Organisations"),
    "accounts": ("Accounts", "Accounts"),
    "tax_rates": ("TaxRates", "TaxRates"),
}
PAGED = {
    "contacts": ("Contacts", "Contacts"),
    "credit_notes": ("CreditNotes", "CreditNotes"),
    "invoices": ("Invoices", "Invoices"),
    "payments": ("Payments", "Payments"),
    "overpayments": ("Overpayments", "Overpayments"),
    "prepayments": ("Prepayments", "Prepayments"),
}
CREDITS = {"credit_notes": Kind.CREDIT_NOTE, "overpayments": Kind.OVERPAYMENT, "prepayments": Kind.PREPAYMENT}
ID_CHUNK = 50  # Xero's IDs filter tops out near 52 GUIDs (URL too long -> 404)
# `IDs=` is documented for Invoices and Contacts, not for CreditNotes. If Xero answers 400 to it, credit notes are
# looked up with the documented `where` on CreditNoteID instead (WHERE_CHUNK per call), and "IDs" rides in every
# paged cursor (`"unsupported": ["IDs"]`) so the connection remembers it.
WHERE_CHUNK = 20


class Get(Protocol):
    def __call__(
        self, path: str, params: Mapping[str, str], headers: Mapping[str, str], cancel: CancelToken
    ) -> dict[str, Any]: ...


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a run of a paged stream stands (the JSON of the module docstring, `v: 1`)."""

    since: str | None = None  # If-Modified-Since of this run (None: everything)
    page: int = 1  # next page to fetch in this run
    watermark: str | None = None  # highest UpdatedDateUTC seen (naive UTC, ISO)
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "since": self.since, "page": self.page, "watermark": self.watermark, "done": self.done}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PageCursor:
        since, mark = data.get("since"), data.get("watermark")
        return cls(
            since=str(since) if since else None,
            page=int(data.get("page") or 1),
            watermark=str(mark) if mark else None,
            done=bool(data.get("done")),
        )


DONE = {"v": 1, "done": True}  # the cursor of a reference stream, read whole every time


def start_cursor(cursor: Mapping[str, Any] | None, *, full: bool, overlap: timedelta) -> PageCursor:
    if full or not cursor:
        return PageCursor()
    state = PageCursor.from_json(cursor)
    if not state.done:
        return state
    since = None
    if state.watermark:
        mark = mapping.parse_instant(state.watermark, "watermark")
        since = _fmt(mark - overlap) if mark is not None else None
    return PageCursor(since=since, watermark=state.watermark)


def collection(data: Any, key: str) -> list[dict[str, Any]]:
    rows = data.get(key) if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


class XeroStreams:
    """Reads the streams through `get`; keeps CreditNoteID -> Reference for refunds."""

    def __init__(
        self, get: Get, stats: CallStats, *, page_size: int = 1000, overlap: timedelta = timedelta(minutes=5)
    ) -> None:
        self.get = get
        self.stats = stats
        self.paging = PageNumberPaging(page_size)
        self.overlap = overlap
        self.credit_note_refs: dict[str, str] = {}
        self.unsupported: set[str] = set()  # query features Xero refused ("IDs" on CreditNotes)

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        if stream in REFERENCE:
            path, key = REFERENCE[stream]
            calls, retries = self.stats.calls, self.stats.retries
            rows = collection(self.get(path, {}, {}, cancel), key)
            yield Page(
                stream,
                list(rows),
                rows,
                dict(DONE),
                calls=self.stats.calls - calls,
                retries=self.stats.retries - retries,
                done=True,
            )
        elif stream in PAGED:
            known = cursor.get("unsupported") if cursor else None
            if isinstance(known, list) and "IDs" in known:
                self.unsupported.add("IDs")
            for page in self._paged(stream, cursor, full, cancel, lookups):
                if self.unsupported:
                    page = replace(page, cursor={**page.cursor, "unsupported": sorted(self.unsupported)})
                yield page
        else:
            raise ValueError(f"unknown Xero stream {stream!r}")

    def _paged(
        self, stream: str, cursor: Mapping[str, Any] | None, full: bool, cancel: CancelToken, lookups: CacheLookups
    ) -> Iterator[Page]:
        path, key = PAGED[stream]
        state = start_cursor(cursor, full=full, overlap=self.overlap)
        calls, retries = self.stats.calls, self.stats.retries
        total: int | None = None
        for data, page_rows, following in self._pages(path, key, state, cancel):
            records, rows = self._map(stream, page_rows, cancel, lookups)
            # The mapped records' instants (each parsed once); rows stored as they are, or invalid, read here.
            stamps = [m for m in map(_updated, records, rows) if m is not None]
            if stamps:
                best = max(stamps)
                old = mapping.parse_instant(state.watermark) if state.watermark else None
                state = replace(state, watermark=_fmt(max(best, old) if old else best))
            pagination = data.get("pagination") if isinstance(data, dict) else None
            if isinstance(pagination, dict) and isinstance(pagination.get("itemCount"), int):
                # Records this run will read in all (for progress and time left); pages already read count too.
                total = int(pagination["itemCount"])
            state = replace(state, done=following is None, page=following if following is not None else state.page)
            now_calls, now_retries = self.stats.calls, self.stats.retries
            yield Page(
                stream,
                records,
                rows,
                state.to_json(),
                calls=now_calls - calls,
                retries=now_retries - retries,
                done=state.done,
                total=total,
                versions=[_version(r) for r in rows],
            )
            calls, retries = now_calls, now_retries

    def _pages(
        self, path: str, key: str, state: PageCursor, cancel: CancelToken
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], int | None]]:
        """The run's pages from `state.page` as (body, rows, next page number or None after the last)."""
        page = state.page
        headers = {"If-Modified-Since": if_modified_since(state.since)} if state.since else {}
        while True:
            params = {**self.paging.params(page), "order": "UpdatedDateUTC ASC"}
            data = self.get(path, params, headers, cancel)
            rows = collection(data, key)
            following = self.paging.next(page, len(rows), data)
            yield data, rows, following
            if following is None:
                return
            page = following

    def _map(
        self, stream: str, rows: list[dict[str, Any]], cancel: CancelToken, lookups: CacheLookups
    ) -> tuple[list[MappedRecord], list[dict[str, Any]]]:
        """The page's records and their raw rows (a credit's row once for it and once per allocation)."""
        mapper: Callable[[dict[str, Any]], MappedRecord | None]
        if stream in CREDITS:
            records: list[MappedRecord] = []
            raws: list[dict[str, Any]] = []
            for row in rows:
                parts = mapping.map_credit(row, CREDITS[stream])
                for part in parts if parts is not None else [row]:  # supplier credits stay plain dicts
                    if isinstance(part, CreditNote) and part.kind is Kind.CREDIT_NOTE:
                        self.credit_note_refs[part.id] = part.reference
                    records.append(part)
                    raws.append(row)
            return records, raws
        if stream == "invoices":
            mapper = mapping.map_invoice
        elif stream == "payments":
            self._resolve_credit_notes(rows, cancel, lookups)
            refs = self.credit_note_refs
            mapper = lambda r: mapping.map_payment(r, refs)  # noqa: E731
        else:
            return list(rows), rows
        # Types that are not reconciled (bills, supplier payments) stay as plain dicts: stored, never dropped.
        return [rec if (rec := mapper(r)) is not None else r for r in rows], rows

    def _resolve_credit_notes(
        self, rows: Sequence[dict[str, Any]], cancel: CancelToken, lookups: CacheLookups = NO_LOOKUPS
    ) -> None:
        """The references of the credit notes of refunds not seen in this run (incremental runs): from the cache,
        else from Xero, 50 ids a call."""
        missing = sorted(
            {
                cid
                for r in rows
                if str(r.get("PaymentType", "")).upper() == "ARCREDITPAYMENT"
                for cid in [
                    str(
                        mapping.credit_note_of(r).get("CreditNoteID")
                        or mapping.credit_note_of(r).get("InvoiceID")
                        or ""
                    )
                ]
                if cid and cid not in self.credit_note_refs
            }
        )
        if missing:
            cached = lookups.credit_note_references(missing)
            self.credit_note_refs.update(cached)
            missing = [cid for cid in missing if cid not in cached]
        while missing:
            size = WHERE_CHUNK if "IDs" in self.unsupported else ID_CHUNK
            chunk, rest = missing[:size], missing[size:]
            try:
                notes = self._credit_notes(chunk, cancel)
            except RejectedError as exc:
                if exc.status != 400 or "IDs" in self.unsupported:
                    raise
                self.unsupported.add("IDs")  # the chunk again, with `where`
                continue
            for note in notes:
                if note.get("CreditNoteID"):
                    self.credit_note_refs[str(note["CreditNoteID"])] = str(note.get("Reference") or "").strip()
            for cid in chunk:  # unknown to Xero: remember, so we do not ask again
                self.credit_note_refs.setdefault(cid, "")
            missing = rest

    def _credit_notes(self, ids: Sequence[str], cancel: CancelToken) -> list[dict[str, Any]]:
        """Credit notes by id: `IDs=` while Xero takes it, else `where=CreditNoteID==Guid("..") OR ...`."""
        if "IDs" not in self.unsupported:
            params = {"IDs": ",".join(ids), "page": "1", "pageSize": str(ID_CHUNK)}
        else:
            guids = [i for i in ids if _GUID.fullmatch(i)]  # a where text cannot carry anything else
            if not guids:
                return []
            where = " OR ".join(f'CreditNoteID==Guid("{g}")' for g in guids)
            params = {"where": where, "page": "1", "pageSize": str(ID_CHUNK)}
        return collection(self.get("CreditNotes", params, {}, cancel), "CreditNotes")


_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _version(raw: Mapping[str, Any]) -> str | None:
    """The record's version as Xero sent it (`UpdatedDateUTC` text), kept by the cache as it came."""
    value = raw.get("UpdatedDateUTC")
    return value if isinstance(value, str) and value else None


def _updated(record: MappedRecord, raw: Mapping[str, Any]) -> datetime | None:
    """The UpdatedDateUTC of a page's row: its mapped record's, else read from the row."""
    if isinstance(record, Invoice | Payment | CreditNote):
        return record.updated_at
    return _instant(raw)


def _instant(raw: Mapping[str, Any]) -> datetime | None:
    """The record's UpdatedDateUTC, or None when absent or unreadable (such a record is stored as invalid)."""
    try:
        return mapping.pick_instant(raw, "UpdatedDateUTC")
    except Unreadable:
        return None


def if_modified_since(since: str) -> str:
    """The header value for a cursor's naive-UTC `since`: RFC 3339 with an explicit `Z`, as the spec's `date-time`
    format requires (a bare `2026-10-14T09:00:00` is refused by the schema and is ambiguous about its zone)."""
    text = str(since)
    return text if text.endswith("Z") or "+" in text[10:] or "-" in text[10:] else text + "Z"

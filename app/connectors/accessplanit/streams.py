"""accessplanit streams: `transaction_methods`, `invoices` (with their lines), `payments` (Transactions).

Incremental reads filter `DateUpdated ge <from>` ordered by `DateUpdated,ID`, paged with `$top`/`$skip`. The
cursor is a keyset with a tie-breaking skip, so a record updated while we page (it moves to the end of the order)
cannot make us skip another one:

    {"v": 1, "after": "2026-10-14T09:00:00" | null,   # DateUpdated of the last row read (the next page's `ge`)
     "skip": 3,                                        # rows already read at `after` (tied DateUpdated)
     "last_id": "5531" | null,                         # ID of the last row read (for people and logs)
     "watermark": "2026-10-14T09:00:00" | null,        # highest DateUpdated seen in completed runs and pages
     "done": false}                                    # true after the last page of a run

A new incremental run starts at `watermark − overlap`; a cursor with `done: false` resumes the interrupted run.
Invoice lines are fetched per page with `InvoiceID in ('1','2',...)` in chunks, never one call per invoice.
Must not: build HTTP requests itself (it calls `Fetch`), or map fields (that is `mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.connectors.accessplanit import mapping
from app.connectors.base import CallStats, Page
from app.connectors.pagination import PAGE_SIZE, SkipTopPaging
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice

STREAMS = ("transaction_methods", "invoices", "payments")
ID_CHUNK = 100  # ids per `in (...)` filter: keeps the query string well under IIS's 2,048-byte default limit


class Fetch(Protocol):
    def __call__(self, module: str, params: Mapping[str, str], cancel: CancelToken) -> list[dict[str, Any]]: ...


def quote(value: str) -> str:
    """An OData string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def id_in(field: str, ids: Sequence[str]) -> str:
    """`field in ('1','2')`; one id is `field eq '1'` (OData parsers read `('1')` as a bracketed value)."""
    if len(ids) == 1:
        return f"{field} eq {quote(ids[0])}"
    return f"{field} in ({','.join(quote(i) for i in ids)})"


def chunks(items: Sequence[str], size: int = ID_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def start_cursor(cursor: Mapping[str, Any] | None, *, full: bool, overlap: timedelta) -> dict[str, Any]:
    """The cursor to read from: resume an interrupted run, start an incremental one, or start from scratch."""
    if full or not cursor:
        return {"v": 1, "after": None, "skip": 0, "last_id": None, "watermark": None, "done": False}
    state = dict(cursor)
    if not state.get("done"):
        return state
    since: str | None = None
    if state.get("watermark"):
        mark = mapping.parse_datetime(state["watermark"], "watermark")
        since = _fmt(mark - overlap) if mark is not None else None
    return {"v": 1, "after": since, "skip": 0, "last_id": None, "watermark": state.get("watermark"), "done": False}


def read_keyset(
    fetch: Fetch, module: str, fields: Sequence[str], cursor: dict[str, Any], paging: SkipTopPaging, cancel: CancelToken
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Pages of `module` from `cursor` as (rows, cursor after those rows); the last cursor has `done: true`."""
    state = dict(cursor)
    while True:
        params = {"$select": ",".join(fields), "$orderby": "DateUpdated,ID", **paging.params(int(state["skip"]))}
        if state.get("after"):
            params["$filter"] = f"DateUpdated ge {quote(state['after'])}"
        if "total" not in state:
            params["$count"] = "true"  # once a run: how many records it will read, for progress and time left
        rows = fetch(module, params, cancel)
        received = len(rows)
        state = dict(state)
        count = getattr(rows, "total", None)
        if "total" not in state and isinstance(count, int):
            state["total"] = count
        if rows:
            tail = rows[-1].get("DateUpdated")
            if isinstance(tail, str) and tail and tail != state.get("after"):
                state["after"] = tail
                state["skip"] = sum(1 for r in rows if r.get("DateUpdated") == tail)
            else:
                state["skip"] = int(state["skip"]) + received
            state["last_id"] = mapping.record_id(rows[-1])
            seen = [r["DateUpdated"] for r in rows if isinstance(r.get("DateUpdated"), str)]
            if seen:
                state["watermark"] = max([*seen, *([state["watermark"]] if state.get("watermark") else [])])
        state["done"] = paging.next(0, received) is None
        yield rows, state
        if state["done"]:
            return


class AccessplanitStreams:
    """Reads the three streams through `fetch`; keeps the invoice id -> number map payments need."""

    def __init__(
        self, fetch: Fetch, stats: CallStats, *, page_size: int = 1000, overlap: timedelta = timedelta(minutes=5)
    ) -> None:
        self.fetch = fetch
        self.stats = stats
        self.paging = SkipTopPaging(page_size)
        # Lines and number lookups are filtered to at most ID_CHUNK invoices: always ask for the largest page.
        self.lookup_paging = SkipTopPaging(max(page_size, PAGE_SIZE))
        self.overlap = overlap
        self.invoice_numbers: dict[str, str] = {}

    def read(self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool, cancel: CancelToken) -> Iterator[Page]:
        if stream == "transaction_methods":
            yield from self._methods(cancel)
        elif stream == "invoices":
            yield from self._paged(stream, "Invoice", mapping.INVOICE_FIELDS, cursor, full, cancel, self._invoices)
        elif stream == "payments":
            yield from self._paged(
                stream, "Transaction", mapping.TRANSACTION_FIELDS, cursor, full, cancel, self._payments
            )
        else:
            raise ValueError(f"unknown accessplanit stream {stream!r}")

    def _methods(self, cancel: CancelToken) -> Iterator[Page]:
        calls, retries = self.stats.calls, self.stats.retries
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.fetch("TransactionMethod", self.paging.params(offset), cancel)
            rows.extend(page)
            offset = self.paging.next(offset, len(page))
        yield Page(
            "transaction_methods",
            list(rows),
            rows,
            {"v": 1, "done": True},
            calls=self.stats.calls - calls,
            retries=self.stats.retries - retries,
            done=True,
        )

    def _paged(
        self,
        stream: str,
        module: str,
        fields: Sequence[str],
        cursor: Mapping[str, Any] | None,
        full: bool,
        cancel: CancelToken,
        mapper: Callable[[list[dict[str, Any]], CancelToken], list[Any]],
    ) -> Iterator[Page]:
        start = start_cursor(cursor, full=full, overlap=self.overlap)
        calls, retries = self.stats.calls, self.stats.retries
        for rows, state in read_keyset(self.fetch, module, fields, start, self.paging, cancel):
            records = mapper(rows, cancel)
            yield Page(
                stream,
                records,
                rows,
                state,
                calls=self.stats.calls - calls,
                retries=self.stats.retries - retries,
                done=bool(state["done"]),
            )
            calls, retries = self.stats.calls, self.stats.retries

    def _invoices(self, rows: list[dict[str, Any]], cancel: CancelToken) -> list[Any]:
        ids = [str(r["ID"]) for r in rows if r.get("ID") not in (None, "")]
        items = self.lines_for(ids, cancel)
        out: list[Invoice | InvalidRecord] = []
        for row in rows:
            # Lines ride inside the stored raw payload, so the cache can show them and re-map them later.
            row["InvoiceItems"] = items.get(str(row.get("ID")), [])
            record = mapping.map_invoice(row, row["InvoiceItems"])
            if isinstance(record, Invoice):
                self.invoice_numbers[record.id] = record.number
            elif record.number:
                self.invoice_numbers[record.id] = record.number
            out.append(record)
        return list(out)

    def lines_for(self, invoice_ids: Sequence[str], cancel: CancelToken) -> dict[str, list[dict[str, Any]]]:
        """InvoiceItems of these invoices, by invoice id: one list call per chunk of ids (paged when long)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in chunks(list(invoice_ids)):
            offset: int | None = 0
            while offset is not None:
                params = {
                    "$filter": id_in("InvoiceID", chunk),
                    "$select": ",".join(mapping.ITEM_FIELDS),
                    "$orderby": "ID",
                    **self.lookup_paging.params(offset),
                }
                page = self.fetch("InvoiceItem", params, cancel)
                for item in page:
                    found.setdefault(str(item.get("InvoiceID")), []).append(item)
                offset = self.lookup_paging.next(offset, len(page))
        return found

    def _payments(self, rows: list[dict[str, Any]], cancel: CancelToken) -> list[Any]:
        unknown = sorted(
            {
                str(r["InvoiceID"])
                for r in rows
                if r.get("InvoiceID") not in (None, "") and str(r["InvoiceID"]) not in self.invoice_numbers
            }
        )
        if unknown:
            self.lookup_numbers(unknown, self.invoice_numbers, cancel)
        return [mapping.map_payment(row, self.invoice_numbers) for row in rows]

    def lookup_numbers(self, ids: Sequence[str], into: MutableMapping[str, str], cancel: CancelToken) -> None:
        """Invoice numbers of these invoice ids, one list call per chunk."""
        for chunk in chunks(list(ids)):
            offset: int | None = 0
            while offset is not None:
                params = {"$filter": id_in("ID", chunk), "$select": "ID,Reference", **self.lookup_paging.params(offset)}
                page = self.fetch("Invoice", params, cancel)
                for inv in page:
                    if inv.get("ID") not in (None, "") and inv.get("Reference"):
                        into[str(inv["ID"])] = str(inv["Reference"]).strip()
                offset = self.lookup_paging.next(offset, len(page))

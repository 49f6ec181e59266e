"""accessplanit streams: `transaction_methods`, `invoices` (with their lines), `payments` (Transactions).

Two read plans, chosen per run (docs/connectors.md, "Paging and streams"):

- **Full run** of `invoices` (no cursor, `full=True`, or resuming one): invoices in `ID` order with a keyset
  (`ID gt '<last>'`, `$orderby=ID`), and their lines as ONE ordered walk over `InvoiceItem` alongside
  (`InvoiceID ge '<first>' and InvoiceID le '<bound>'`, `$orderby=InvoiceID,ID`, keyset on (InvoiceID, ID) with a
  tie-breaking skip). Lines beyond the current invoice page stay in a buffer for the next one, so the lines cost
  ceil(lines / page) calls (+1 at most) instead of one call per 100 invoices. Cursor:

    {"v": 2, "by": "ID", "after_id": "5531" | null,   # last invoice ID read; lines are complete up to it too
     "skip": 0,                                        # rows read past `after_id` (only rows without an ID)
     "last_id": "5531" | null, "watermark": "2026-10-14T09:00:00" | null, "done": false}

- **Incremental run** (a finished cursor exists), and every run of `payments`: `DateUpdated ge <from>` ordered by
  `DateUpdated,ID`, paged with `$top`/`$skip`. A keyset with a tie-breaking skip, so a record updated while we page
  (it moves to the end of the order) cannot make us skip another one:

    {"v": 1, "after": "2026-10-14T09:00:00" | null,   # DateUpdated of the last row read (the next page's `ge`)
     "skip": 3,                                        # rows already read at `after` (tied DateUpdated)
     "last_id": "5531" | null,                         # ID of the last row read (for people and logs)
     "watermark": "2026-10-14T09:00:00" | null,        # highest DateUpdated seen in completed runs and pages
     "incremental": true,                              # started from a watermark: unchanged records are skipped
     "done": false}                                    # true after the last page of a run

  A new incremental run starts at `watermark - overlap`. Rows whose DateUpdated equals the version the cache holds
  (`CacheLookups.versions`, asked for each page's ids) are dropped before their lines are fetched, so a run with
  nothing changed costs one call per stream. Lines of the changed invoices: `InvoiceID in ('1','2',...)` in chunks.

Every list query ends on an empty page or at the `count` the service reported, never on a short page (see
`SkipTopPaging`). The undocumented `in (...)` and DateUpdated queries fall back to documented ones when refused
(see FEATURES); two rows of a page with one ID are both kept `invalid` (`_refused`).

A cursor with `done: false` resumes the interrupted run in its own plan. In here a cursor is typed (`IdCursor`,
`KeysetCursor`, frozen); a `Page` carries its JSON form above, which the cache stores as it is.
How many records a run reads (`$count`, asked once a run) is progress, not position: it rides on the `Page`
(`total`), as does each record's version (its `DateUpdated` text, which the cache stores to compare on the next
incremental run).
Must not: build HTTP requests itself (it calls `Fetch`), or map fields (that is `mapping`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.connectors.accessplanit import mapping
from app.connectors.base import NO_LOOKUPS, CacheLookups, CallStats, Page
from app.connectors.pagination import PAGE_SIZE, SkipTopPaging
from app.domain.errors import RejectedError
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Payment
from app.domain.status import Kind, System

STREAMS = ("transaction_methods", "invoices", "payments")
ID_CHUNK = 100  # ids per `in (...)` filter: keeps the query string well under IIS's 2,048-byte default limit
OR_CHUNK = 40  # ids per `eq ... or eq ...` chain (the fallback when `in` is refused): longer per id
# Query features public material does not document for the finance feeds. When the service answers 400 to one,
# the documented fallback is used from then on, and the name rides in every cursor (`"unsupported": [...]`), so
# the connection remembers it: "in" -> `or` chains of `eq`; "DateUpdated" (`$filter`/`$orderby` on it) -> the
# incremental plan becomes a full re-read in ID order.
FEATURES = ("in", "DateUpdated")
# [ours] The upper end of the line walk's InvoiceID range. The emulator (like, we assume, the real feed: "items can
# only be read for given invoices") refuses an unbounded InvoiceItem list, and we do not know the highest invoice
# ID without an extra call. 2147483647 is the largest SQL Server `int`, the usual type of a .NET identity key, so
# for the numeric IDs the service hands out it bounds nothing away. Correctness never rests on it: an invoice page
# that ends above it (bigint or text IDs) raises the bound to that page's last ID, at the price of more calls.
LINE_BOUND = "2147483647"

Row = dict[str, Any]


class Fetch(Protocol):
    def __call__(self, module: str, params: Mapping[str, str], cancel: CancelToken) -> list[dict[str, Any]]: ...


def quote(value: str) -> str:
    """An OData string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def id_in(field: str, ids: Sequence[str], *, use_in: bool = True) -> str:
    """`field in ('1','2')`; one id is `field eq '1'` (OData parsers read `('1')` as a bracketed value); without
    `use_in`, the documented form `field eq '1' or field eq '2'`."""
    if len(ids) == 1:
        return f"{field} eq {quote(ids[0])}"
    if not use_in:
        return " or ".join(f"{field} eq {quote(i)}" for i in ids)
    return f"{field} in ({','.join(quote(i) for i in ids)})"


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _row_id(row: Mapping[str, Any], name: str = "ID") -> str | None:
    value = row.get(name)
    return None if value in (None, "") or isinstance(value, dict | list | bool) else str(value)


def _version(row: Mapping[str, Any]) -> str | None:
    """The record's version as the service sent it (`DateUpdated` text: exact, never re-formatted)."""
    value = row.get("DateUpdated")
    return value if isinstance(value, str) and value else None


def _watermark(mark: str | None, rows: Sequence[Row]) -> str | None:
    """The highest DateUpdated of `mark` and these rows (ISO text without offset sorts as time)."""
    seen = [r["DateUpdated"] for r in rows if isinstance(r.get("DateUpdated"), str) and r["DateUpdated"]]
    return max([*seen, *([mark] if mark else [])]) if seen or mark else None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True, slots=True)
class KeysetCursor:
    """Where a DateUpdated-keyset run stands (incremental invoices, every payments run); JSON `v: 1`."""

    after: str | None = None  # DateUpdated of the last row read: the next page's `ge`
    skip: int = 0  # rows already read at `after` (tied DateUpdated)
    last_id: str | None = None  # ID of the last row read (for people and logs)
    watermark: str | None = None  # highest DateUpdated seen
    incremental: bool = False  # started from a watermark: unchanged records are skipped
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "after": self.after, "skip": self.skip, "last_id": self.last_id}
        out["watermark"] = self.watermark
        if self.incremental:
            out["incremental"] = True
        out["done"] = self.done
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeysetCursor:
        return cls(
            after=_text(data.get("after")),
            skip=int(data.get("skip") or 0),
            last_id=_text(data.get("last_id")),
            watermark=_text(data.get("watermark")),
            incremental=bool(data.get("incremental")),
            done=bool(data.get("done")),
        )


@dataclass(frozen=True, slots=True)
class IdCursor:
    """Where a full run of invoices in ID order stands; JSON `v: 2, by: "ID"`. Lines are complete up to `after_id`."""

    after_id: str | None = None  # last invoice ID read
    skip: int = 0  # rows read past `after_id` (only rows without an ID)
    last_id: str | None = None
    watermark: str | None = None
    done: bool = False
    at_after: int = 0  # rows read with ID == `after_id`: the next page asks `ge` and skips them (0: `gt`)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 2,
            "by": "ID",
            "after_id": self.after_id,
            "at_after": self.at_after,
            "skip": self.skip,
            "last_id": self.last_id,
            "watermark": self.watermark,
            "done": self.done,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IdCursor:
        return cls(
            after_id=_text(data.get("after_id")),
            skip=int(data.get("skip") or 0),
            last_id=_text(data.get("last_id")),
            watermark=_text(data.get("watermark")),
            done=bool(data.get("done")),
            at_after=int(data.get("at_after") or 0),
        )


DONE = {"v": 1, "done": True}  # the cursor of a stream read whole every time (transaction methods)


def start_cursor(cursor: Mapping[str, Any] | None, *, full: bool, overlap: timedelta) -> KeysetCursor:
    """The DateUpdated-keyset cursor to read from: resume an interrupted run, start an incremental one, or start
    from scratch."""
    if full or not cursor:
        return KeysetCursor()
    state = KeysetCursor.from_json(cursor)
    if not state.done:
        return state
    since: str | None = None
    if state.watermark:
        mark = mapping.parse_datetime(state.watermark, "watermark")
        since = _fmt(mark - overlap) if mark is not None else None
    return KeysetCursor(after=since, watermark=state.watermark, incremental=True)


def read_keyset(
    fetch: Fetch, module: str, fields: Sequence[str], cursor: KeysetCursor, paging: SkipTopPaging, cancel: CancelToken
) -> Iterator[tuple[list[dict[str, Any]], KeysetCursor, int | None]]:
    """Pages of `module` from `cursor` as (rows, cursor after those rows, records the run reads if the service
    said); the last cursor is `done`."""
    state = cursor
    total: int | None = None
    first = True
    while True:
        # `$count` (on every page, see SkipTopPaging): the first page's is how many records the run reads, for
        # progress and time left; each page's says whether rows remain past it.
        params = {"$select": ",".join(fields), "$orderby": "DateUpdated,ID", **paging.params(state.skip)}
        if state.after:
            params["$filter"] = f"DateUpdated ge {quote(state.after)}"
        rows = fetch(module, params, cancel)
        received, offset = len(rows), state.skip
        count = getattr(rows, "total", None)
        if first and isinstance(count, int):
            total = count
        first = False
        if rows:
            tail = rows[-1].get("DateUpdated")
            if isinstance(tail, str) and tail and tail != state.after:
                state = replace(state, after=tail, skip=sum(1 for r in rows if r.get("DateUpdated") == tail))
            else:
                state = replace(state, skip=state.skip + received)
            state = replace(state, last_id=mapping.record_id(rows[-1]), watermark=_watermark(state.watermark, rows))
        state = replace(state, done=paging.next(offset, received, count) is None)
        yield rows, state, total
        if state.done:
            return


def read_by_id(
    fetch: Fetch, module: str, fields: Sequence[str], cursor: IdCursor, paging: SkipTopPaging, cancel: CancelToken
) -> Iterator[tuple[list[dict[str, Any]], IdCursor, int | None]]:
    """Pages of `module` in ID order from an `IdCursor`: `ID ge '<after_id>'` skipping the rows already read with
    that ID (`at_after`), `$orderby=ID`. Asking `ge` rather than `gt` costs one row a page and means a second row
    carrying the page's last ID (a duplicate, which the service should not have) is read, not skipped unseen.

    IDs never change, so a record updated while we page keeps its place. Rows without an ID (a malformed record)
    match no `ge`; should a whole page hold none, `$skip` moves past it instead of looping."""
    state = cursor
    total: int | None = None
    first = True
    while True:
        offset = state.skip + state.at_after
        params = {"$select": ",".join(fields), "$orderby": "ID", **paging.params(offset)}
        if state.after_id:
            params["$filter"] = f"ID {'ge' if state.at_after else 'gt'} {quote(state.after_id)}"
        rows = fetch(module, params, cancel)
        count = getattr(rows, "total", None)
        if first and isinstance(count, int):
            total = count
        first = False
        ids = [i for i in (_row_id(r) for r in rows) if i is not None]
        if ids:
            tail = next((n for n, i in enumerate(reversed(ids)) if i != ids[-1]), len(ids))  # rows at the last ID
            before = state.at_after if ids[0] == ids[-1] == state.after_id else 0
            state = replace(state, after_id=ids[-1], skip=0, at_after=before + tail)
        else:
            state = replace(state, skip=state.skip + len(rows))
        if rows:
            state = replace(state, last_id=mapping.record_id(rows[-1]), watermark=_watermark(state.watermark, rows))
        state = replace(state, done=paging.next(offset, len(rows), count) is None)
        yield rows, state, total
        if state.done:
            return


class LineWalk:
    """InvoiceItems in (InvoiceID, ID) order, read one page at a time only as far as the invoices need.

    `take_through(b)` hands over the lines of invoices up to ID `b` and keeps the lines read beyond `b` for the
    next call. Its position lives only in memory: after a crash it restarts at `InvoiceID gt <last invoice ID
    stored>` (the cursor's `after_id`), so a resumed run reads exactly what an uninterrupted one would."""

    def __init__(
        self, fetch: Fetch, paging: SkipTopPaging, after: str, *, inclusive: bool, upper: str = LINE_BOUND
    ) -> None:
        self.fetch = fetch
        self.paging = paging
        self.after = after  # the walk's lower bound: `ge` (inclusive) or `gt`
        self.inclusive = inclusive
        self.skip = 0  # lines already read at InvoiceID == after (ties broken by `$orderby=InvoiceID,ID`)
        self.upper = upper
        self.exhausted = False  # every line up to `upper` has been read ...
        self.exhausted_through: tuple[int, int, str] = (0, 0, "")  # ... as needed by invoices up to this ID
        self.highest: tuple[int, int, str] = (0, 0, "")  # the highest invoice ID asked for so far
        # Set by the final look: earlier invoice pages in this ID range got no lines from the walk.
        self.rechecked: tuple[tuple[int, int, str], tuple[int, int, str]] | None = None
        self.buffer: deque[Row] = deque()
        self.calls = 0

    def take_through(self, last: str | None, cancel: CancelToken, *, final: bool = False) -> dict[str, list[Row]]:
        """The buffered and newly read lines of invoices with ID <= `last`, by invoice ID.

        `final` (the last invoice page): if the lines ran out before an earlier page, look once more. Running out
        proved nothing about invoices created since (identity IDs only grow), so an invoice booked during a full
        run could otherwise be stored without its lines; the caller re-reads the invoices such lines belong to."""
        limit = mapping.id_order(last) if last is not None else self.highest
        if last is not None and limit > mapping.id_order(self.upper):
            self.upper, self.exhausted = last, False  # see LINE_BOUND: never leave an invoice's lines out
        if final and self.exhausted and max(limit, self.highest) > self.exhausted_through:
            self.rechecked = (self.exhausted_through, self.highest)
            self.exhausted, limit = False, max(limit, self.highest)
        self.highest = max(self.highest, limit)
        while not self.exhausted and not (self.buffer and self._key(self.buffer[-1]) > limit):
            self._read_page(cancel)
            if self.exhausted:
                self.exhausted_through = limit
        out: dict[str, list[Row]] = {}
        while self.buffer and self._key(self.buffer[0]) <= limit:
            item = self.buffer.popleft()
            out.setdefault(str(item.get("InvoiceID")), []).append(item)
        return out

    def late(self, items: Mapping[str, Any]) -> list[str]:
        """Invoice IDs among `items` that belong to earlier pages, found by the final look (see `take_through`)."""
        if self.rechecked is None:
            return []
        low, high = self.rechecked
        return sorted((i for i in items if low < mapping.id_order(i) <= high), key=mapping.id_order)

    @staticmethod
    def _key(item: Mapping[str, Any]) -> tuple[int, int, str]:
        return mapping.id_order(_row_id(item, "InvoiceID"))

    def _read_page(self, cancel: CancelToken) -> None:
        low = "ge" if self.inclusive else "gt"
        params = {
            "$filter": f"InvoiceID {low} {quote(self.after)} and InvoiceID le {quote(self.upper)}",
            "$select": ",".join(mapping.ITEM_FIELDS),
            "$orderby": "InvoiceID,ID",
            **self.paging.params(self.skip),
        }
        rows = self.fetch("InvoiceItem", params, cancel)
        offset, count = self.skip, getattr(rows, "total", None)
        self.calls += 1
        self.buffer.extend(rows)
        tail = _row_id(rows[-1], "InvoiceID") if rows else None
        if tail is not None and (tail != self.after or not self.inclusive):
            self.after, self.inclusive = tail, True
            self.skip = sum(1 for r in rows if _row_id(r, "InvoiceID") == tail)
        else:
            self.skip += len(rows)
        self.exhausted = self.paging.next(offset, len(rows), count) is None


def _twice(rows: Sequence[Row]) -> dict[str, int]:
    """IDs that more than one row of a page carries (0: none of them mapped yet). IDs are the service's keys:
    two records under one would overwrite each other in the cache and move payments between invoices."""
    seen: dict[str, int] = {}
    for row in rows:
        rid = _row_id(row)
        if rid is not None:
            seen[rid] = seen.get(rid, 0) + 1
    return {rid: 0 for rid, n in seen.items() if n > 1}


def _refused(
    record: Any, kind: Kind, row: Row, twice: dict[str, int], numbers: MutableMapping[str, str]
) -> InvalidRecord:
    """One of several rows with the same ID, kept as `invalid` (never merged). The first keeps the ID; the
    others get `<ID>~2`, `~3`, ... so every one of them stays visible. The id -> number map keeps the first's
    number, so payments naming the ID do not move to another invoice."""
    rid = str(record.id)
    twice[rid] += 1
    number = record.number if isinstance(record, InvalidRecord | Invoice) else _text(row.get("Reference"))
    if isinstance(record, Payment):
        number = record.invoice_number
    if twice[rid] == 1 and kind is Kind.INVOICE and number:
        numbers[rid] = number
    when = record.date if isinstance(record, InvalidRecord | Payment) else getattr(record, "issue_date", None)
    return InvalidRecord(
        System.ACCESSPLANIT,
        kind,
        rid if twice[rid] == 1 else f"{rid}~{twice[rid]}",
        f"two records with ID {rid}",
        number=number or None,
        date=when,
    )


def _with_duplicates(changed: list[Row], rows: list[Row], twice: Mapping[str, int]) -> list[Row]:
    """`changed` plus the rows of IDs kept `invalid` (`twice`) even where the cache holds their version: a row the
    cache holds unchanged must not let its twin through as if it were alone under the ID."""
    if not twice:
        return changed
    keep = {id(r) for r in changed}
    return [r for r in rows if id(r) in keep or _row_id(r) in twice]


IDENTITY = {
    Kind.INVOICE: ("Reference",),
    Kind.PAYMENT: ("InvoiceID", "TransactionType", "Amount", "TransactionDate"),
}
"""What tells two rows under one ID apart across pages: another invoice number, or a payment of another invoice,
type, amount or date. The same ID with the same identity on a later page is the same record read again (updated
while we paged, which moves it in a DateUpdated order): the later row wins, as before."""


class RunIds:
    """The IDs one run of a stream has read (with each first row's identity, hashed to keep 100,000 of them
    small) and how many rows with another identity came under each. Pages are read one at a time, so a second
    record under an ID already read on an earlier page shows only here. Forgotten when a new run starts."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.first: dict[str, int] = {}
        self.copies: dict[str, int] = {}

    def identity(self, row: Row) -> int:
        return hash(tuple(repr(row.get(name)) for name in IDENTITY[self.kind]))

    def clear(self) -> None:
        self.first.clear()
        self.copies.clear()

    def repeats(self, rows: Sequence[Row]) -> dict[str, int]:
        """IDs of `rows` read on an earlier page under another identity -> the first row's identity."""
        out: dict[str, int] = {}
        for row in rows:
            rid = _row_id(row)
            if rid is not None and rid in self.first and self.first[rid] != self.identity(row):
                out[rid] = self.first[rid]
        return out

    def note(self, rows: Sequence[Row]) -> None:
        for row in rows:
            rid = _row_id(row)
            if rid is None:
                continue
            if rid not in self.first:
                self.first[rid], self.copies[rid] = self.identity(row), 1
            elif self.first[rid] != self.identity(row):
                self.copies[rid] += 1


Mapper = Callable[[list[Row], bool, CancelToken, CacheLookups], tuple[list[Any], list[Row]]]


class AccessplanitStreams:
    """Reads the three streams through `fetch`; keeps the invoice id -> number map payments need (what this run
    read, then what the cache knows, then asked of the service).

    On an incremental run, rows whose DateUpdated is the version the cache holds (`CacheLookups.versions`) are
    not read again (nor their lines)."""

    def __init__(
        self,
        fetch: Fetch,
        stats: CallStats,
        *,
        page_size: int = 1000,
        line_page_size: int = PAGE_SIZE,
        overlap: timedelta = timedelta(minutes=5),
    ) -> None:
        self.fetch = fetch
        self.stats = stats
        self.paging = SkipTopPaging(page_size)
        # Lines and number lookups are filtered to at most ID_CHUNK invoices: always ask for the largest page.
        self.lookup_paging = SkipTopPaging(max(page_size, PAGE_SIZE))
        self.line_paging = SkipTopPaging(line_page_size)
        self.overlap = overlap
        self.invoice_numbers: dict[str, str] = {}
        self.unsupported: set[str] = set()  # FEATURES the service refused (this run, or remembered in a cursor)
        self.run_ids = {"invoices": RunIds(Kind.INVOICE), "payments": RunIds(Kind.PAYMENT)}

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        if stream in self.run_ids and (full or not cursor or cursor.get("done")):
            self.run_ids[stream].clear()  # a new run (a resumed one keeps what this process read of it)
        known = cursor.get("unsupported") if cursor else None
        if isinstance(known, list):
            self.unsupported.update(str(f) for f in known if f in FEATURES)
        for page in self._read(stream, cursor, full=full, cancel=cancel, lookups=lookups):
            if self.unsupported:
                page = replace(page, cursor={**page.cursor, "unsupported": sorted(self.unsupported)})
            yield page

    def _read(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool, cancel: CancelToken, lookups: CacheLookups
    ) -> Iterator[Page]:
        resume = cursor is not None and cursor.get("by") == "ID" and not cursor.get("done")
        if stream == "transaction_methods":
            yield from self._methods(cancel)
        elif stream == "invoices":
            if full or not cursor or resume or "DateUpdated" in self.unsupported:
                yield from self._invoices_by_id(IdCursor.from_json(cursor) if resume and cursor else IdCursor(), cancel)
            else:
                yield from self._without_date_updated(
                    self._paged(
                        stream, "Invoice", mapping.INVOICE_FIELDS, cursor, False, cancel, lookups, self._invoices
                    ),
                    lambda: self._invoices_by_id(IdCursor(), cancel),
                )
        elif stream == "payments":
            if resume and cursor:
                yield from self._payments_by_id(IdCursor.from_json(cursor), cancel, lookups, incremental=False)
            elif "DateUpdated" in self.unsupported:
                again = bool(cursor) and not full  # a re-read: rows the cache holds unchanged are dropped
                yield from self._payments_by_id(IdCursor(), cancel, lookups, incremental=again)
            else:
                again = bool(cursor) and not full
                yield from self._without_date_updated(
                    self._paged(
                        stream, "Transaction", mapping.TRANSACTION_FIELDS, cursor, full, cancel, lookups, self._payments
                    ),
                    lambda: self._payments_by_id(IdCursor(), cancel, lookups, incremental=again),
                )
        else:
            raise ValueError(f"unknown accessplanit stream {stream!r}")

    def _without_date_updated(self, pages: Iterator[Page], fallback: Callable[[], Iterator[Page]]) -> Iterator[Page]:
        """`pages` (a DateUpdated keyset read); if the service refuses its first request (400), remember that
        DateUpdated cannot be queried and read `fallback` (the full re-read in ID order) instead."""
        try:
            first = next(pages)
        except StopIteration:
            return
        except RejectedError as exc:
            if exc.status != 400:
                raise
            self.unsupported.add("DateUpdated")
            yield from fallback()
            return
        yield first
        yield from pages

    def _payments_by_id(
        self, start: IdCursor, cancel: CancelToken, lookups: CacheLookups, *, incremental: bool
    ) -> Iterator[Page]:
        """Every Transaction in ID order (the fallback when DateUpdated cannot be queried)."""
        calls, retries = self.stats.calls, self.stats.retries
        for rows, state, total in read_by_id(
            self.fetch, "Transaction", mapping.TRANSACTION_FIELDS, start, self.paging, cancel
        ):
            records, raws = self._payments(rows, incremental, cancel, lookups)
            now_calls, now_retries = self.stats.calls, self.stats.retries
            yield Page(
                "payments",
                records,
                raws,
                state.to_json(),
                calls=now_calls - calls,
                retries=now_retries - retries,
                done=state.done,
                total=total,
                versions=[_version(r) for r in raws],
            )
            calls, retries = now_calls, now_retries

    def _methods(self, cancel: CancelToken) -> Iterator[Page]:
        calls, retries = self.stats.calls, self.stats.retries
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.fetch("TransactionMethod", self.paging.params(offset), cancel)
            rows.extend(page)
            offset = self.paging.next(offset, len(page), getattr(page, "total", None))
        yield Page(
            "transaction_methods",
            list(rows),
            rows,
            dict(DONE),
            calls=self.stats.calls - calls,
            retries=self.stats.retries - retries,
            done=True,
        )

    def _invoices_by_id(self, start: IdCursor, cancel: CancelToken) -> Iterator[Page]:
        """The full-run plan: invoice pages in ID order, each with its lines from one shared `LineWalk`."""
        walk: LineWalk | None = None
        resumed = start.after_id  # lines up to it were stored with their invoices before the stop
        calls, retries = self.stats.calls, self.stats.retries
        for rows, state, total in read_by_id(self.fetch, "Invoice", mapping.INVOICE_FIELDS, start, self.paging, cancel):
            ids = [i for i in (_row_id(r) for r in rows) if i is not None]
            items: dict[str, list[Row]] = {}
            if ids and walk is None:
                low, inclusive = (str(resumed), False) if resumed else (min(ids, key=mapping.id_order), True)
                walk = LineWalk(self.fetch, self.line_paging, low, inclusive=inclusive)
            if walk is not None and (ids or state.done):
                last = max(ids, key=mapping.id_order) if ids else None
                items = walk.take_through(last, cancel, final=state.done)
            late = walk.late(items) if walk is not None else []
            if late:  # lines of invoices created on earlier pages' turf after the walk ran out: store them again
                extra = self._invoice_rows(late, cancel)
                rows, state = [*rows, *extra], replace(state, watermark=_watermark(state.watermark, extra))
            records, rows = self._map_invoices(rows, items, self._duplicates(Kind.INVOICE, rows, cancel))
            now_calls, now_retries = self.stats.calls, self.stats.retries
            yield Page(
                "invoices",
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

    def _paged(
        self,
        stream: str,
        module: str,
        fields: Sequence[str],
        cursor: Mapping[str, Any] | None,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups,
        mapper: Mapper,
    ) -> Iterator[Page]:
        start = start_cursor(cursor, full=full, overlap=self.overlap)
        incremental = start.incremental
        calls, retries = self.stats.calls, self.stats.retries
        for rows, state, total in read_keyset(self.fetch, module, fields, start, self.paging, cancel):
            records, raws = mapper(rows, incremental, cancel, lookups)
            now_calls, now_retries = self.stats.calls, self.stats.retries
            yield Page(
                stream,
                records,
                raws,
                state.to_json(),
                calls=now_calls - calls,
                retries=now_retries - retries,
                done=state.done,
                total=total,
                versions=[_version(r) for r in raws],
            )
            calls, retries = now_calls, now_retries

    @staticmethod
    def _changed(rows: list[Row], incremental: bool, lookups: CacheLookups) -> list[Row]:
        """On an incremental run, the rows whose DateUpdated is not the version the cache holds (rows without an
        ID or DateUpdated always count as changed: they cannot be compared)."""
        # A transaction allocated across invoices is cached as its parts, each with the row's version.
        cached = {n: mapping.cached_id(r, rid) for n, r in enumerate(rows) if (rid := _row_id(r)) is not None}
        known = lookups.versions(list(cached.values())) if incremental and cached else {}
        if not known:
            return rows
        out = []
        for n, row in enumerate(rows):
            rid, version = cached.get(n), row.get("DateUpdated")
            if rid is None or not isinstance(version, str) or known.get(rid) != version:
                out.append(row)
        return out

    def _invoices(
        self, rows: list[Row], incremental: bool, cancel: CancelToken, lookups: CacheLookups
    ) -> tuple[list[Any], list[Row]]:
        dups = self._duplicates(Kind.INVOICE, rows, cancel)
        changed = _with_duplicates(self._changed(rows, incremental, lookups), rows, dups[0])
        twice = dups[0]
        for row in rows:  # unchanged ones too: payments on them need their numbers
            rid, number = _row_id(row), row.get("Reference")
            if rid is not None and rid not in twice and isinstance(number, str) and number.strip():
                self.invoice_numbers[rid] = number.strip()
        ids = [i for i in (_row_id(r) for r in changed) if i is not None]
        items = self.lines_for(ids, cancel) if ids else {}
        return self._map_invoices(changed, items, dups)

    def _earlier(self, kind: Kind, repeats: Mapping[str, int], cancel: CancelToken) -> list[Row]:
        """The first rows (read on earlier pages) of IDs that came again under another identity: read again by ID,
        so both records can be kept `invalid` (the first was stored as it was read)."""
        if not repeats:
            return []
        module, fields = (
            ("Invoice", mapping.INVOICE_FIELDS) if kind is Kind.INVOICE else ("Transaction", mapping.TRANSACTION_FIELDS)
        )
        seen = self.run_ids["invoices" if kind is Kind.INVOICE else "payments"]
        rows = self.list_in(module, "ID", sorted(repeats), {"$select": ",".join(fields)}, cancel)
        out: dict[str, Row] = {}
        for row in rows:
            rid = _row_id(row)
            if rid is not None and rid not in out and seen.identity(row) == repeats.get(rid):
                out[rid] = row
        return list(out.values())

    def _duplicates(self, kind: Kind, rows: list[Row], cancel: CancelToken) -> tuple[dict[str, int], list[Row]]:
        """The IDs of `rows` to keep `invalid` (-> rows already read under each, as `_refused` counts them) and
        the earlier first rows to store again as `invalid`, put before `rows`."""
        seen = self.run_ids["invoices" if kind is Kind.INVOICE else "payments"]
        repeats = seen.repeats(rows)
        earlier = self._earlier(kind, repeats, cancel)
        twice = _twice(rows)
        for rid in repeats:
            twice[rid] = seen.copies[rid]
        seen.note(rows)
        return twice, earlier

    def _map_invoices(
        self, rows: list[Row], items: Mapping[str, list[Row]], dups: tuple[dict[str, int], list[Row]]
    ) -> tuple[list[Any], list[Row]]:
        """Invoices of `rows` with their lines; the IDs in `dups` (`_duplicates`) kept `invalid`."""
        out: list[Invoice | InvalidRecord] = []
        twice, earlier = dups
        for row in earlier:
            row["InvoiceItems"] = []
            first = mapping.map_invoice(row, [])
            out.append(_refused(first, Kind.INVOICE, row, {str(first.id): 0}, self.invoice_numbers))
        for row in rows:
            # Lines ride inside the stored raw payload, so the cache can show them and re-map them later.
            row["InvoiceItems"] = items.get(str(row.get("ID")), [])
            record = mapping.map_invoice(row, row["InvoiceItems"])
            if record.id in twice:
                record = _refused(record, Kind.INVOICE, row, twice, self.invoice_numbers)
            elif record.number:
                self.invoice_numbers[record.id] = record.number
            out.append(record)
        return list(out), [*earlier, *rows]

    def list_in(
        self, module: str, field: str, ids: Sequence[str], params: Mapping[str, str], cancel: CancelToken
    ) -> list[Row]:
        """Every row of `module` whose `field` is one of `ids`: one list call per chunk of ids (paged when long),
        `in (...)` while the service takes it, `or` chains once it has refused it (400)."""
        found: list[Row] = []
        todo = list(ids)
        while todo:
            use_in = "in" not in self.unsupported
            chunk, rest = (todo[:ID_CHUNK], todo[ID_CHUNK:]) if use_in else (todo[:OR_CHUNK], todo[OR_CHUNK:])
            rows: list[Row] = []
            offset: int | None = 0
            try:
                while offset is not None:
                    query = {"$filter": id_in(field, chunk, use_in=use_in), **params}
                    page = self.fetch(module, {**query, **self.lookup_paging.params(offset)}, cancel)
                    rows.extend(page)
                    offset = self.lookup_paging.next(offset, len(page), getattr(page, "total", None))
            except RejectedError as exc:
                if exc.status != 400 or not use_in or len(chunk) == 1:
                    raise
                self.unsupported.add("in")  # the chunk again, as `or` chains
                continue
            found.extend(rows)
            todo = rest
        return found

    def _invoice_rows(self, ids: Sequence[str], cancel: CancelToken) -> list[Row]:
        """Invoice rows by ID."""
        return self.list_in("Invoice", "ID", ids, {"$select": ",".join(mapping.INVOICE_FIELDS)}, cancel)

    def lines_for(self, invoice_ids: Sequence[str], cancel: CancelToken) -> dict[str, list[dict[str, Any]]]:
        """InvoiceItems of these invoices, by invoice id."""
        found: dict[str, list[dict[str, Any]]] = {}
        params = {"$select": ",".join(mapping.ITEM_FIELDS), "$orderby": "ID"}
        for item in self.list_in("InvoiceItem", "InvoiceID", invoice_ids, params, cancel):
            found.setdefault(str(item.get("InvoiceID")), []).append(item)
        return found

    def _payments(
        self, rows: list[Row], incremental: bool, cancel: CancelToken, lookups: CacheLookups
    ) -> tuple[list[Any], list[Row]]:
        twice, earlier = self._duplicates(Kind.PAYMENT, rows, cancel)
        changed = _with_duplicates(self._changed(rows, incremental, lookups), rows, twice)
        named = {str(r["InvoiceID"]) for r in changed if r.get("InvoiceID") not in (None, "")}
        named.update(i for r in changed for i in mapping.allocation_invoice_ids(r))  # combined payments
        unknown = sorted(i for i in named if i not in self.invoice_numbers)
        if unknown:  # the cache first; what it does not know, from the service
            self.invoice_numbers.update(lookups.invoice_numbers(unknown))
            unknown = [i for i in unknown if i not in self.invoice_numbers]
        if unknown:
            self.lookup_numbers(unknown, self.invoice_numbers, cancel)
        # A transaction allocated across invoices is one payment per allocation, each with the row as its payload.
        # Rows sharing one ID are each kept as one `invalid` record (never merged).
        records: list[Any] = []
        raws: list[Row] = []
        for row in earlier:
            first = mapping.map_payment(row, self.invoice_numbers)
            records.append(_refused(first, Kind.PAYMENT, row, {str(first.id): 0}, {}))
            raws.append(row)
        for row in changed:
            if _row_id(row) in twice:
                parts: list[Any] = [
                    _refused(mapping.map_payment(row, self.invoice_numbers), Kind.PAYMENT, row, twice, {})
                ]
            else:
                parts = list(mapping.map_payments(row, self.invoice_numbers))
            records.extend(parts)
            raws.extend([row] * len(parts))
        return records, raws

    def lookup_numbers(self, ids: Sequence[str], into: MutableMapping[str, str], cancel: CancelToken) -> None:
        """Invoice numbers of these invoice ids."""
        for inv in self.list_in("Invoice", "ID", ids, {"$select": "ID,Reference"}, cancel):
            if inv.get("ID") not in (None, "") and inv.get("Reference"):
                into[str(inv["ID"])] = str(inv["Reference"]).strip()

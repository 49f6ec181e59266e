"""In-memory tables of the accessplanit emulator, in wire format, and the query engine over them.

Records stay exactly as the fixtures gave them (PascalCase keys, ISO datetime strings, Decimal amounts);
malformed ones are kept and served, never dropped. Each table keeps rows in ID order, plus sorted indexes on
`InvoiceID` (InvoiceItem, Transaction) and `DateUpdated` (Invoice, Transaction), so the clients' page walks
(`ID gt '...'`; `DateUpdated ge ...` ordered by `DateUpdated,ID` with `$skip`; `InvoiceID in (...)`; `InvoiceID`
ranges ordered by `InvoiceID,ID`) cost about one page, not one table. An index answers only what it answers
exactly as the general evaluator would; everything else goes through the general evaluator.
It knows nothing of HTTP and must not import anything from the rest of `app`.
"""

from __future__ import annotations

import bisect
import gc
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

from app.sandbox.accessplanit import odata
from app.sandbox.accessplanit.odata import QueryError

# Canonical property names per module (the wire names of accessplanit-api.md section 5 and 9). Names seen in
# the fixtures' records are added, so custom `CF_*` fields resolve too.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "Invoice": (
        "ID",
        "Reference",
        "IssuerID",
        "Amount",
        "Tax",
        "TaxRate",
        "DateCreated",
        "DateDue",
        "DateUpdated",
        "Status",
        "Outstanding",
        "AmountPaid",
        "TargetIDType",
        "TargetID",
        "TargetLabel",
        "PONumber",
        "CompanyName",
        "CurrencyCode",
        "Address",
        "InvoiceAddress",
        "InvoiceTown",
        "InvoiceCounty",
        "InvoiceCountry",
        "InvoicePostcode",
        "InvoiceEmail",
    ),
    "InvoiceItem": (
        "ID",
        "InvoiceID",
        "DynamicLabel",
        "Reference",
        "Amount",
        "Tax",
        "TaxRate",
        "Quantity",
        "SourceID",
        "SourceIDType",
    ),
    "Transaction": (
        "ID",
        "InvoiceID",
        "TransactionType",
        "Amount",
        "TransactionMethodID",
        "TransactionMethodLabel",
        "TransactionDate",
        "Reference",
        "Notes",
        "CurrencyCode",
        "DateCreated",
        "DateUpdated",
        "CreatedByID",
        # One transaction allocated across several invoices: [{"InvoiceID": ..., "Amount": ...}, ...] (the
        # `TransactionInvoice` module, served as allocation lines on the Transaction; docs/sandboxes.md).
        "TransactionInvoices",
    ),
    "TransactionMethod": ("ID", "Label", "IsOnline", "Enabled"),
}
MODULES: tuple[str, ...] = tuple(SCHEMAS)
# The sorted indexes each module keeps: property -> the kind of key (see `odata.key_constraint`).
INDEXES: dict[str, dict[str, str]] = {
    "Invoice": {"DateUpdated": "datetime"},
    "InvoiceItem": {"InvoiceID": "number"},
    "Transaction": {"InvoiceID": "number", "DateUpdated": "datetime"},
    "TransactionMethod": {},
}
DEFAULT_TOP = 100
MAX_TOP = 1000
_SCAN_FOR_NAMES = 2000  # records looked at for extra property names; enough for custom fields, cheap at 1M


def id_key(value: Any) -> tuple[int, Any]:
    """Sort key of an ID: numeric IDs numerically, then other text, then records with no ID at all."""
    if value is None or isinstance(value, dict | list | bool):
        return (2, "")
    if isinstance(value, str) and value.isdigit():  # the usual case, kept cheap for a million rows
        return (0, int(value))
    number = odata.as_number(value)
    if number is not None:
        return (0, number)
    return (1, str(value))


_WIRE_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


def number_key(value: Any) -> Any:
    """A field's index key as the filter compares it with a number (`odata.as_number`), or None."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # the usual case, kept cheap
        return int(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = odata.as_number(value)
    return number if number is not None and number.is_finite() else None


def datetime_key(value: Any) -> Any:
    """A wire datetime (`YYYY-MM-DDTHH:MM:SS`), which the filter compares as text with a datetime literal, or None.

    Among such strings text order is also `$orderby`'s order (`sort_key` casefolds only the `T`)."""
    if isinstance(value, str) and len(value) == 19 and _WIRE_DATETIME.fullmatch(value):
        return value
    return None


_KEYS: dict[str, Callable[[Any], Any]] = {"number": number_key, "datetime": datetime_key}


def _digit_id(row: Any) -> int | None:
    rid = row.get("ID")
    return int(rid) if isinstance(rid, str) and rid.isascii() and rid.isdigit() else None


class SortedIndex:
    """Rows sorted by (key of `prop`, numeric ID, row number), with the keys alongside for bisecting.

    Only "clean" rows are in it: objects with an all-digit ID whose `prop` has a key. For them that order is
    exactly `$orderby=prop,ID` (and `prop` alone), and a key comparison is exactly the filter's comparison.
    Every other row is "odd": kept aside (usually none) and always decided by the general evaluator.
    """

    def __init__(self, prop: str, kind: str, rows: list[Any], id_order: Sequence[int] | None = None) -> None:
        """`id_order`, when given, lists the row numbers sorted by (ID key, row number), as `Table` keeps them:
        then ties on the key are already in (numeric ID, row) order and a stable sort on the key alone does."""
        self.prop = prop
        self.kind = kind
        self._key = _KEYS[kind]
        self._rows = rows  # the table's own list: rows are appended there, never moved
        self.odd: set[int] = set()
        pairs: list[tuple[Any, int]] = []
        key_of, odd, append = self._key, self.odd, pairs.append
        for index in id_order if id_order is not None else range(len(rows)):  # `_entry` inlined: once per row
            row = rows[index]
            if isinstance(row, dict):
                rid = row.get("ID")
                if isinstance(rid, str) and rid.isascii() and rid.isdigit():
                    key = key_of(row.get(prop))
                    if key is not None:
                        append((key, index))
                        continue
            odd.add(index)
        if id_order is not None:
            pairs.sort(key=itemgetter(0))
        else:
            pairs.sort(key=lambda p: (p[0], int(rows[p[1]]["ID"]), p[1]))
        self.order: list[int] = [p[1] for p in pairs]  # row numbers
        self.keys: list[Any] = [p[0] for p in pairs]  # their keys, parallel to `order`

    def _entry(self, row: Any, index: int, key_of: Callable[[Any], Any]) -> tuple[Any, int, int] | None:
        if not isinstance(row, dict):
            return None
        rid = _digit_id(row)
        if rid is None:
            return None
        key = key_of(row.get(self.prop))
        return None if key is None else (key, rid, index)

    def _locate(self, entry: tuple[Any, int, int]) -> int:
        """Where `entry` is, or would go: bisect on the key, then on (ID, row number) among equal keys."""
        lo = bisect.bisect_left(self.keys, entry[0])
        hi = bisect.bisect_right(self.keys, entry[0], lo)
        rows, order, tail = self._rows, self.order, entry[1:]
        while lo < hi:
            mid = (lo + hi) // 2
            index = order[mid]
            if (_digit_id(rows[index]), index) < tail:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def add(self, index: int) -> None:
        entry = self._entry(self._rows[index], index, self._key)
        if entry is None:
            self.odd.add(index)
            return
        pos = self._locate(entry)
        self.order.insert(pos, index)
        self.keys.insert(pos, entry[0])

    def remove(self, index: int) -> None:
        """Take a row out before it changes (its current key is the one it is filed under)."""
        if index in self.odd:
            self.odd.discard(index)
            return
        entry = self._entry(self._rows[index], index, self._key)
        pos = self._locate(entry) if entry is not None else -1
        if not (0 <= pos < len(self.order) and self.order[pos] == index):
            pos = self.order.index(index)  # changed behind our back: find it the slow way
        del self.order[pos]
        del self.keys[pos]

    def span(self, c: odata.KeyConstraint) -> tuple[int, int]:
        """Positions [start, end) of the clean rows within the constraint's bounds."""
        keys = self.keys
        start = 0
        if c.lower is not None:
            start = (bisect.bisect_right if c.lower_strict else bisect.bisect_left)(keys, c.lower)
        end = len(keys)
        if c.upper is not None:
            end = (bisect.bisect_left if c.upper_strict else bisect.bisect_right)(keys, c.upper)
        return start, max(start, end)

    def positions(self, values: set[Any], start: int, end: int) -> list[int]:
        """Positions, in order, of the clean rows whose key is one of `values`, within [start, end)."""
        found: list[int] = []
        keys = self.keys
        for value in values:
            lo = bisect.bisect_left(keys, value, start, end)
            hi = bisect.bisect_right(keys, value, lo, end)
            found.extend(range(lo, hi))
        found.sort()
        return found


class Merged:
    """A query's matches in order: clean rows (already in order, from an index) merged with a few odd rows.

    `clean[start:end]` are row numbers in sort-key order; `odd` are the odd rows that match. Their places are
    found by bisecting with the full sort key, so a page is a slice, whatever its `$skip`.
    """

    def __init__(
        self, clean: Sequence[int], start: int, end: int, odd: list[int], sort_key: Callable[[int], Any]
    ) -> None:
        self.clean, self.start, self.end = clean, start, end
        self.odd = sorted(odd, key=sort_key)
        self.odd_at = [
            j + bisect.bisect_left(clean, sort_key(o), start, end, key=sort_key) - start for j, o in enumerate(self.odd)
        ]

    def __len__(self) -> int:
        return self.end - self.start + len(self.odd)

    def page(self, skip: int, top: int) -> list[int]:
        out: list[int] = []
        at = skip
        j = bisect.bisect_left(self.odd_at, at)
        c = self.start + at - j
        while len(out) < top:
            if j < len(self.odd_at) and self.odd_at[j] == at:
                out.append(self.odd[j])
                j += 1
            elif c < self.end:
                out.append(self.clean[c])
                c += 1
            else:
                break
            at += 1
        return out


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic collector while a table is built: the rows and index entries are millions of new
    objects, none of them garbage, and collecting among them tripled start-up at 1,000,000 invoices."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Page:
    records: list[dict[str, Any]]
    count: int | None


class Table:
    """One module's records: insertion-ordered rows, an ID index, a sorted ID order, and the module's
    `SortedIndex`es (`INDEXES`), all kept current by `insert` and `modify`."""

    def __init__(self, module: str, records: Iterable[Any], *, indexed: bool = True) -> None:
        with _no_gc():
            self._build(module, records, indexed)

    def _build(self, module: str, records: Iterable[Any], indexed: bool) -> None:
        self.module = module
        self.rows: list[Any] = list(records)
        self.version = 0
        self._names = {name.lower(): name for name in SCHEMAS[module]}
        for row in self.rows[:_SCAN_FOR_NAMES]:
            if isinstance(row, dict):
                for key in row:
                    if isinstance(key, str):
                        self._names.setdefault(key.lower(), key)
        self.by_id: dict[str, int] = {}
        keyed: list[tuple[tuple[int, Any], int]] = []
        for index, row in enumerate(self.rows):
            rid = row.get("ID") if isinstance(row, dict) else None
            if rid is not None and not isinstance(rid, dict | list) and str(rid) not in self.by_id:
                self.by_id[str(rid)] = index
            keyed.append((id_key(rid), index))
        keyed.sort()
        self._keys = [k for k, _ in keyed]
        self._order = [i for _, i in keyed]
        self._cache: OrderedDict[tuple[str, str, str], tuple[int, list[int]]] = OrderedDict()
        # `indexed=False` keeps only the general evaluator: the tests compare both paths on the same data.
        self.indexes: dict[str, SortedIndex] = (
            {prop: SortedIndex(prop, kind, self.rows, self._order) for prop, kind in INDEXES[module].items()}
            if indexed
            else {}
        )

    # ---- names and records ----------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        canonical = self._names.get(name.strip().lower())
        if canonical is None:
            raise QueryError(f"Could not find a property named '{name}' on {self.module}", name)
        return canonical

    def get(self, rid: str) -> dict[str, Any] | None:
        index = self.by_id.get(rid)
        return None if index is None else self.rows[index]

    def insert(self, record: dict[str, Any]) -> None:
        index = len(self.rows)
        self.rows.append(record)
        self.by_id.setdefault(str(record["ID"]), index)
        key = id_key(record["ID"])
        pos = bisect.bisect_right(self._keys, key)
        self._keys.insert(pos, key)
        self._order.insert(pos, index)
        for sorted_index in self.indexes.values():
            sorted_index.add(index)
        self.touch()

    def modify(self, rid: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `changes` to the record with ID `rid` (which must exist), re-filing it in the indexes they touch.

        Every write to a stored record goes through here (never `record.update`), or the indexes go stale."""
        index = self.by_id[rid]
        record: dict[str, Any] = self.rows[index]
        moved = [i for prop, i in self.indexes.items() if prop in changes]
        for sorted_index in moved:
            sorted_index.remove(index)
        record.update(changes)
        for sorted_index in moved:
            sorted_index.add(index)
        self.touch()
        return record

    def touch(self) -> None:
        """Note a change, so cached query results are not reused."""
        self.version += 1
        self._cache.clear()

    def next_id(self) -> str:
        # _keys sorts numeric IDs first: the last of them is the highest.
        pos = bisect.bisect_left(self._keys, (1, ""))
        if pos == 0:
            return "1"
        return str(int(self._keys[pos - 1][1]) + 1)

    def records_in_order(self) -> list[Any]:
        return [self.rows[i] for i in self._order]

    # ---- querying -------------------------------------------------------------------------------------
    def query(
        self,
        filter_text: str | None,
        orderby_text: str | None,
        top: int,
        skip: int,
        count: bool,
    ) -> Page:
        node = odata.parse_filter(filter_text) if filter_text else None
        predicate = odata.compile_filter(node, self.resolve) if node is not None else None
        order = odata.parse_orderby(orderby_text, self.resolve) if orderby_text else []
        natural = not order or (len(order) == 1 and order[0][0] == "ID")
        descending = bool(order) and order[0][1] and natural

        if self.indexes:
            merged = self._indexed(node, predicate, order, natural, descending, filter_text or "", orderby_text or "")
            if merged is not None:
                return Page([self.rows[i] for i in merged.page(skip, top)], len(merged) if count else None)

        if natural and not count and skip == 0 and top > 0:  # ($top=0 once gave one row here; now none)
            # The cursor walk: start at the filter's ID bound and stop after one page.
            picked: list[dict[str, Any]] = []
            for index in self._scan(node, descending):
                row = self.rows[index]
                if predicate is None or _safe(predicate, row):
                    picked.append(row)
                    if len(picked) >= top:
                        break
            return Page(picked, None)

        matches = self._matches(node, predicate, filter_text or "", orderby_text or "", order, natural, descending)
        return Page([self.rows[i] for i in matches[skip : skip + top]], len(matches) if count else None)

    def _scan(self, node: Any, descending: bool) -> Iterator[int]:
        lower, upper = odata.id_bounds(node, self.resolve)
        start = bisect.bisect_left(self._keys, (0, lower)) if lower is not None else 0
        end = bisect.bisect_right(self._keys, (0, upper)) if upper is not None else len(self._keys)
        if descending:
            for pos in range(end - 1, start - 1, -1):
                yield self._order[pos]
        else:
            for pos in range(start, end):
                yield self._order[pos]

    def _matches(
        self,
        node: Any,
        predicate: odata.Predicate | None,
        filter_text: str,
        orderby_text: str,
        order: list[tuple[str, bool]],
        natural: bool,
        descending: bool,
    ) -> list[int]:
        # Page walks repeat the same filter and order with a growing $skip: compute the match list once.
        cache_key = ("scan", filter_text, orderby_text)
        hit = self._cached(cache_key)
        if hit is not None:
            return hit
        matches = [i for i in self._scan(node, descending) if predicate is None or _safe(predicate, self.rows[i])]
        if not natural:
            self._sort(matches, order)
        return self._remember(cache_key, matches)

    def _cached(self, cache_key: tuple[str, str, str]) -> list[int] | None:
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self.version:
            self._cache.move_to_end(cache_key)
            return hit[1]
        return None

    def _remember(self, cache_key: tuple[str, str, str], matches: list[int]) -> list[int]:
        self._cache[cache_key] = (self.version, matches)
        while len(self._cache) > 8:
            self._cache.popitem(last=False)
        return matches

    def _sort(self, matches: list[int], order: list[tuple[str, bool]]) -> None:
        """`$orderby` applied to matches in ID order: stable sorts, last key first."""
        for name, desc in reversed(order):
            rows, field = self.rows, name

            def key(i: int, rows: list[Any] = rows, field: str = field) -> tuple[int, Any]:
                return odata.sort_key(_field(rows[i], field))

            matches.sort(key=key, reverse=desc)

    # ---- the indexed path -------------------------------------------------------------------------------
    def _id_position(self, index: int) -> tuple[tuple[int, Any], int]:
        """A row's place in ID order, the order every general answer starts from (before `$orderby`)."""
        row = self.rows[index]
        return id_key(row.get("ID") if isinstance(row, dict) else None), index

    def _in_scan(self, node: Any, index: int) -> bool:
        """Whether the general path's `_scan` would look at this row at all (it narrows by the filter's ID
        bounds, which can leave out rows with non-numeric IDs that the predicate alone would take)."""
        lower, upper = odata.id_bounds(node, self.resolve)
        key = self._id_position(index)[0]
        return (lower is None or key >= (0, lower)) and (upper is None or key <= (0, upper))

    def _indexed(
        self,
        node: Any,
        predicate: odata.Predicate | None,
        order: list[tuple[str, bool]],
        natural: bool,
        descending: bool,
        filter_text: str,
        orderby_text: str,
    ) -> Merged | None:
        """The matches from an index, in the general path's order; None when no index fits the query."""
        best: _Choice | None = None
        for prop, sorted_index in self.indexes.items():
            # The answer is in this index's order: a page is a slice of it, with no sort at all.
            walks = not descending and order in ([(prop, False)], [(prop, False), ("ID", False)])
            constraint = odata.key_constraint(node, self.resolve, prop, sorted_index.kind) if node is not None else None
            if constraint is None:
                if not walks:
                    continue
                constraint = odata.KeyConstraint(residual=[] if node is None else [node])
            start, end = sorted_index.span(constraint)
            picked = None if constraint.values is None else sorted_index.positions(constraint.values, start, end)
            choice = _Choice(walks, sorted_index, constraint, start, end, picked)
            if best is None or choice.rank() < best.rank():
                best = choice
        if best is None or (not best.walks and best.size() > len(self.rows) // 4):
            return None  # most of the table in another order: the general ID-order scan (and cache) does as well

        sorted_index, constraint = best.index, best.constraint
        residual = odata.compile_all(constraint.residual, self.resolve)
        rows = self.rows
        clean: Sequence[int] = sorted_index.order
        start, end = best.start, best.end
        if best.picked is not None or residual is not None:
            cache_key = ("index:" + sorted_index.prop, filter_text, orderby_text)
            hit = self._cached(cache_key)
            if hit is None:
                order_ = sorted_index.order
                candidates = order_[start:end] if best.picked is None else [order_[p] for p in best.picked]
                hit = candidates if residual is None else [i for i in candidates if residual(rows[i])]
                if len(candidates) > 1000:  # worth keeping for the next page of a $skip walk
                    self._remember(cache_key, hit)
            clean, start, end = hit, 0, len(hit)
        odd = [
            i
            for i in sorted(sorted_index.odd)
            if (predicate is None or _safe(predicate, rows[i])) and self._in_scan(node, i)
        ]
        if best.walks:
            names = [name for name, _ in order]

            def sort_key(i: int) -> tuple[Any, ...]:
                row = rows[i]
                return (*(odata.sort_key(_field(row, n)) for n in names), *self._id_position(i))

            return Merged(clean, start, end, odd, sort_key)
        # Another order, and few candidates: order them exactly as the general path would.
        matches = sorted([*clean[start:end], *odd], key=self._id_position, reverse=descending)
        if not natural:
            self._sort(matches, order)
        return Merged(matches, 0, len(matches), [], self._id_position)


@dataclass
class _Choice:
    """One index's answer to a query, before it is read: which rows, and how costly."""

    walks: bool
    index: SortedIndex
    constraint: odata.KeyConstraint
    start: int
    end: int
    picked: list[int] | None

    def size(self) -> int:
        return self.end - self.start if self.picked is None else len(self.picked)

    def rank(self) -> tuple[int, int]:
        return (0 if self.walks else 1, self.size())


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else None


def _safe(predicate: odata.Predicate, row: Any) -> bool:
    # A malformed record (not an object) matches no filter but is still listed when there is none.
    return isinstance(row, dict) and predicate(row)


def select(record: Any, names: list[str] | None) -> Any:
    """The record cut down to `$select` (keys it lacks are left out: a malformed record is served as is)."""
    if names is None or not isinstance(record, dict):
        return record
    return {name: record[name] for name in names if name in record}


def money(value: Any) -> Decimal | None:
    """A record's amount as Decimal, or None when it is not a readable number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        return odata.as_number(value)
    return None

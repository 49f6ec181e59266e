"""In-memory tables of the accessplanit emulator, in wire format, and the query engine over them.

Records stay exactly as the fixtures gave them (PascalCase keys, ISO datetime strings, Decimal amounts);
malformed ones are kept and served, never dropped. Each table keeps rows in ID order so the common page walks
(`$orderby=ID` with `ID gt '...'`, or `DateUpdated ge ...` with `$skip`) cost about one page, not one table.
It knows nothing of HTTP and must not import anything from the rest of `app`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
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
    ),
    "TransactionMethod": ("ID", "Label", "IsOnline", "Enabled"),
}
MODULES: tuple[str, ...] = tuple(SCHEMAS)
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


@dataclass
class Page:
    records: list[dict[str, Any]]
    count: int | None


class Table:
    """One module's records: insertion-ordered rows, an ID index, and a sorted ID order."""

    def __init__(self, module: str, records: Iterable[Any]) -> None:
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
        self._cache: OrderedDict[tuple[str, str], tuple[int, list[int]]] = OrderedDict()

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
        self.touch()

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

        if natural and not count and skip == 0:
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
        cache_key = (filter_text, orderby_text)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self.version:
            self._cache.move_to_end(cache_key)
            return hit[1]
        matches = [i for i in self._scan(node, descending) if predicate is None or _safe(predicate, self.rows[i])]
        if not natural:
            for name, desc in reversed(order):  # stable sorts, last key first
                rows, field = self.rows, name

                def key(i: int, rows: list[Any] = rows, field: str = field) -> tuple[int, Any]:
                    return odata.sort_key(_field(rows[i], field))

                matches.sort(key=key, reverse=desc)
        self._cache[cache_key] = (self.version, matches)
        while len(self._cache) > 8:
            self._cache.popitem(last=False)
        return matches


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

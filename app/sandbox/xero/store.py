"""An indexed, ordered collection of Xero records (Invoices, Payments, CreditNotes, Contacts) for the emulator.

Responsibility: keep records as wire-format dicts in insertion order (what `/__admin/state` writes back), with an
index by id, by number, and an order by `UpdatedDateUTC` that is maintained on every write, so a page of 1,000 out
of 1,000,000 is a slice, not a sort. It must not apply business rules, and never rebuilds indexes per request.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from .wire import wire_ms

Record = dict[str, Any]
_Key = tuple[int, int, str]


def number_key(number: Any) -> str | None:
    """Numbers are matched trimmed and case-insensitively [ours: Xero's uniqueness check behaves so in practice]."""
    return number.strip().casefold() if isinstance(number, str) and number.strip() else None


class Store:
    """Records of one collection. Not thread-safe on its own: the ledger holds one lock around every call."""

    def __init__(self, id_field: str, number_field: str | None = None) -> None:
        self.id_field = id_field
        self.number_field = number_field
        self._records: dict[str, Record] = {}  # lower-cased id -> record, insertion ordered
        self._order: list[_Key] = []  # (UpdatedDateUTC ms, sequence, id), sorted
        self._key_of: dict[str, _Key] = {}
        self._by_number: dict[str, list[str]] = {}
        self._number_of: dict[str, str] = {}  # id -> the number key it is indexed under
        self._seq = 0
        self.version = 0  # moves on every change, so cached query results can tell they are stale

    def __len__(self) -> int:
        return len(self._records)

    def _id_of(self, record: Record) -> str:
        raw = record.get(self.id_field)
        if isinstance(raw, str) and raw:
            return raw.lower()
        # A fixture record without a usable id is still served as it is; it gets a private key.
        self._seq += 1
        return f"__row{self._seq}"

    def add(self, record: Record) -> None:
        self.version += 1
        rid = self._id_of(record)
        if rid in self._records:
            self._unindex(rid)
        self._records[rid] = record
        self._index(rid, record)

    def load(self, records: list[Record]) -> None:
        """Bulk load (fixtures): one sort at the end instead of an insertion per record."""
        self.version += 1
        for record in records:
            rid = self._id_of(record)
            if rid in self._records:
                self._unindex(rid)
            self._records[rid] = record
            self._seq += 1
            ms = wire_ms(record.get("UpdatedDateUTC"))
            key = (ms if ms is not None else -1, self._seq, rid)
            self._order.append(key)
            self._key_of[rid] = key
            if self.number_field:
                nkey = number_key(record.get(self.number_field))
                if nkey:
                    self._by_number.setdefault(nkey, []).append(rid)
                    self._number_of[rid] = nkey
        self._order.sort()

    def touch(self, record: Record) -> None:
        """Re-index a record after it changed (its number or UpdatedDateUTC may have moved)."""
        self.version += 1
        rid = self.key_for(record)
        if rid is None:
            return
        self._unindex(rid)
        self._index(rid, record)

    def key_for(self, record: Record) -> str | None:
        raw = record.get(self.id_field)
        if isinstance(raw, str) and raw.lower() in self._records:
            return raw.lower()
        for rid, rec in self._records.items():  # only for id-less fixture rows, which are never written to
            if rec is record:
                return rid
        return None

    def _index(self, rid: str, record: Record) -> None:
        self._seq += 1
        ms = wire_ms(record.get("UpdatedDateUTC"))
        key = (ms if ms is not None else -1, self._seq, rid)
        bisect.insort(self._order, key)
        self._key_of[rid] = key
        if self.number_field:
            nkey = number_key(record.get(self.number_field))
            if nkey:
                self._by_number.setdefault(nkey, []).append(rid)
                self._number_of[rid] = nkey

    def _unindex(self, rid: str) -> None:
        key = self._key_of.pop(rid, None)
        if key is not None:
            pos = bisect.bisect_left(self._order, key)
            if pos < len(self._order) and self._order[pos] == key:
                del self._order[pos]
        nkey = self._number_of.pop(rid, None)
        if nkey is not None:
            ids = self._by_number.get(nkey, [])
            if rid in ids:
                ids.remove(rid)
            if not ids:
                self._by_number.pop(nkey, None)

    def get(self, record_id: str) -> Record | None:
        return self._records.get(record_id.lower()) if isinstance(record_id, str) else None

    def by_number(self, number: str) -> list[Record]:
        nkey = number_key(number)
        return [self._records[rid] for rid in self._by_number.get(nkey, [])] if nkey else []

    def all(self) -> list[Record]:
        """Insertion order: the order `/__admin/state` writes and `--fixtures` reads."""
        return list(self._records.values())

    def count_since(self, since_ms: int | None) -> int:
        return len(self._order) - self._start(since_ms)

    def _start(self, since_ms: int | None) -> int:
        return 0 if since_ms is None else bisect.bisect_left(self._order, (since_ms, -1, ""))

    def ordered(self, since_ms: int | None = None) -> Iterator[Record]:
        """Records by UpdatedDateUTC ascending (ties in write order), from `since_ms` on."""
        for _ms, _seq, rid in self._order[self._start(since_ms) :]:
            yield self._records[rid]

    def ordered_slice(self, since_ms: int | None, offset: int, limit: int) -> list[Record]:
        start = self._start(since_ms) + offset
        return [self._records[rid] for _ms, _seq, rid in self._order[start : start + limit]]

"""Plain dataclasses the repositories return or take (besides domain records). No ORM rows ever leave storage.

Must not: hold a connection, a session or anything lazy; every value is loaded when the object is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, PushState, System


@dataclass(frozen=True, slots=True)
class PageCounts:
    """What one `upsert_page` did. `invalid` counts records stored as invalid (including money we could not store)."""

    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    invalid: int = 0
    reference: int = 0


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One cached record with its raw payload. `record` is None for invalid records and credit notes."""

    id: int
    system: System
    kind: str  # "invoice" | "payment" | "credit_note"
    remote_id: str
    record: Invoice | Payment | None
    raw: str  # exact JSON text of the wire payload
    invalid_reason: str | None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class ItemData:
    """One reconciliation item to store (what `reconcile_all` derives from an engine `ItemResult`)."""

    kind: Kind
    key: str
    status: ItemStatus
    fields: tuple[str, ...] = ()
    invoice_key: str = ""
    invoice: str = ""  # the invoice number as shown
    period: str | None = None
    contact: str = ""
    date: date | None = None
    currency: str = ""
    amount_minor: int | None = None
    reference: str = ""
    source_id: str | None = None
    ledger_id: str | None = None
    source_record_id: int | None = None
    ledger_record_id: int | None = None
    invalid_record_id: int | None = None
    note: str = ""
    fingerprint: str = ""
    flags: tuple[str, ...] = ()  # product.md section 7
    twin: str | None = None  # a `possible_duplicate`'s twin: the other record's remote id (same system)
    reason: str = ""  # one sentence for people: why the item has its status
    difference_minor: int | None = None  # ledger minus source of the first differing amount, minor units


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One stored item, with the state of its newest push (None when it was never pushed)."""

    id: int
    kind: Kind
    key: str
    status: ItemStatus
    fields: tuple[str, ...]
    invoice_key: str
    invoice: str
    period: str | None
    source_record_id: int | None
    ledger_record_id: int | None
    invalid_record_id: int | None
    push_state: PushState | None
    note: str
    contact: str
    date: date | None
    currency: str
    amount_minor: int | None
    source_id: str | None
    ledger_id: str | None
    reference: str = ""
    fingerprint: str = ""
    blocked: str = ""  # why a push would break a rule of its target, as the checks before sending last found
    flags: tuple[str, ...] = ()
    twin: str | None = None
    reason: str = ""
    difference_minor: int | None = None  # ledger minus source of the first differing amount, minor units
    version: int = 0  # raised on every change of the item (optimistic locking of decisions)


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    kind: Kind
    key: str
    resolution: str
    note: str
    who: str
    fingerprint: str
    at: datetime
    source_id: str | None = None  # a manual match: the source record's remote id
    ledger_id: str | None = None  # ... the ledger record's
    link_key: str | None = None  # ... and the invoice key of the ledger record (reconciled together with `key`'s)


@dataclass(frozen=True, slots=True)
class PushRecord:
    id: int
    item_kind: Kind
    item_key: str
    action: str
    target: System
    payload: dict[str, Any]
    idempotency_key: str
    state: PushState
    attempts: int
    last_error: str
    result_remote_id: str | None
    created_at: datetime
    updated_at: datetime
    claimed_by: str | None = None
    lease_until: datetime | None = None
    refused: bool = False


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    who: str
    action: str
    item_kind: str
    item_key: str
    before: str  # JSON text
    after: str  # JSON text
    note: str


class StreamStatsLike(Protocol):
    """What `finish_run` needs of a stream's statistics (`app.services.api.StreamStats` fits)."""

    @property
    def system(self) -> System: ...
    @property
    def stream(self) -> str: ...
    @property
    def fetched(self) -> int: ...
    @property
    def pages(self) -> int: ...
    @property
    def calls(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def error(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StreamStatRecord:
    system: System
    stream: str
    fetched: int
    pages: int
    calls: int
    retries: int
    invalid: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One sync run. `finished_at` None: running, or the process died before it could write the end."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    full: bool
    ok: bool | None
    cancelled: bool
    errors: tuple[str, ...]
    counts: dict[str, int]
    budget: dict[str, str]
    streams: tuple[StreamStatRecord, ...] = ()
    rules: str | None = None  # digest of the matching rules the run reconciled with
    open_value: dict[str, int] | None = None  # currency -> minor units still open when it ended (None: not noted)
    who: str = ""  # who started it ("" for runs before 0017)


@dataclass(frozen=True, slots=True)
class SystemState:
    system: System
    last_full_at: datetime | None = None
    full_pending: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A saved connection without its secret. `connection_id` (uuid) names the keyring entry."""

    system: System
    connection_id: str
    url: str
    username: str = ""
    auth: str = ""
    identity_url: str = ""
    client_id: str = ""
    tenant_id: str = ""
    tenant_name: str = ""
    has_secret: bool = False
    updated_at: datetime | None = field(default=None, compare=False)

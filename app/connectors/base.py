"""What every connector gives the services: pages of mapped records with their raw payloads and a resume cursor,
connection checks, a call budget, and the write operations the push service needs; and what the services give a
connector while it reads (`CacheLookups`: answers from the cache, passed to `read()`).

Must not: know about the cache, the GUI, or where secrets are kept (a `TokenStore`/secret is passed in).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from app.domain.errors import RejectedError
from app.domain.progress import CancelToken
from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, System

MappedRecord = Invoice | Payment | CreditNote | InvalidRecord | dict[str, Any]
"""A page holds domain records; reference-data streams (accounts, tax rates, ...) hold plain dicts."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of one stream. `raws[i]` is the wire payload of `records[i]` (Decimal numbers kept).

    `cursor` is the stream state to persist *in the same transaction* as the records, so a crash after the
    commit resumes after this page and a crash before it re-reads this page.
    """

    stream: str
    records: list[MappedRecord]
    raws: list[dict[str, Any]]
    cursor: dict[str, Any]
    calls: int = 1
    retries: int = 0
    done: bool = False  # last page of this stream for this run
    total: int | None = None  # records this run of the stream reads in all, when the service says (progress only)
    versions: list[str | None] = field(default_factory=list)  # the service's version text of each record, if any


class CacheLookups(Protocol):
    """What a connector may ask of the cache while it reads a stream, a page's ids at a time (the services answer
    from storage; a connector never reaches the cache itself). Ids it does not know are left out of an answer."""

    def invoice_numbers(self, invoice_ids: Collection[str]) -> Mapping[str, str]:
        """Source invoice id -> invoice number, for payments that name only their invoice's id."""
        ...

    def versions(self, ids: Collection[str]) -> Mapping[str, str]:
        """Record id -> the version text stored for it (of the stream being read), to skip unchanged records."""
        ...

    def credit_note_references(self, credit_note_ids: Collection[str]) -> Mapping[str, str]:
        """Credit note id -> its `Reference` (the refunded invoice's number), for refunds paid from it."""
        ...


class NoLookups:
    """The cache of a connector read on its own (tests, benchmarks): it knows nothing."""

    def invoice_numbers(self, invoice_ids: Collection[str]) -> Mapping[str, str]:
        return {}

    def versions(self, ids: Collection[str]) -> Mapping[str, str]:
        return {}

    def credit_note_references(self, credit_note_ids: Collection[str]) -> Mapping[str, str]:
        return {}


NO_LOOKUPS = NoLookups()


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One step of "Test connection": reachability, credentials, tenant, scopes."""

    step: str
    ok: bool
    message: str
    tenant_id: str = ""  # the "tenant" step of Xero: the organisation the connection reaches
    tenant_name: str = ""


@dataclass(slots=True)
class CallStats:
    calls: int = 0
    retries: int = 0
    budget: dict[str, str] = field(default_factory=dict)


class SystemClient(Protocol):
    """Reading side of a connector, the same for both systems."""

    system: System
    stats: CallStats

    def streams(self) -> list[str]:
        """Stream names in the order they must be read (reference data first)."""
        ...

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        """Pages of `stream` from `cursor` (None or `full`: from the start); `lookups` answers from the cache."""
        ...

    def check(self) -> list[CheckStep]:
        """Test the connection, step by step; stops at the first failing step."""
        ...


class SourceWriter(Protocol):
    """accessplanit writes: PUT of PONumber/DateDue; POST of a Transaction (no idempotency key exists)."""

    def update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None
    ) -> Invoice | InvalidRecord: ...

    def find_transaction(
        self,
        invoice_id: str,
        amount: Decimal,
        reference: str,
        direction: Direction,
        day: date | None = None,
        exclude: Collection[str] = (),
    ) -> Payment | None:
        """The read-back: a transaction with exactly this amount, reference, direction and (when given) date, whose
        id is not in `exclude` (records already linked to another item or push)."""
        ...

    def create_transaction(
        self, *, invoice_id: str, direction: Direction, amount: Decimal, day: date, method_label: str, reference: str
    ) -> Payment | InvalidRecord: ...


@dataclass(frozen=True, slots=True)
class InvoiceCreate:
    """One invoice of a batch create."""

    invoice: Invoice
    lines: tuple[Line, ...]
    account_code: str
    tax_type: str | None
    contact_id: str = ""  # the ledger's contact, when one was matched; else the invoice's contact name


@dataclass(frozen=True, slots=True)
class PaymentCreate:
    """One payment (direction `payment`) of a batch create."""

    invoice_id: str
    invoice_number: str
    amount: Decimal
    day: date
    account_code: str
    reference: str


BatchResult = Invoice | Payment | InvalidRecord | RejectedError
"""A batch write answers per record: the record created, or the service's refusal of that record."""


@dataclass(frozen=True, slots=True)
class PushFacts:
    """What the checks before a push need from a system's cached reference data, in the system's own words read by
    its connector: lock dates (`(name for people, last locked day)`), tax types and account codes (code -> active)
    and contacts (normalised name -> id, plus every id). Empty maps mean "not known": nothing is checked then.
    `adviser_free`: names of the locks an adviser's connection may write past (Xero: the period lock date);
    `lock_refusals`: lock name -> the service's own words when it refuses a write past that lock."""

    locks: tuple[tuple[str, date], ...] = ()
    tax_types: Mapping[str, bool] = field(default_factory=dict)
    accounts: Mapping[str, bool] = field(default_factory=dict)
    contacts: Mapping[str, str] = field(default_factory=dict)
    contact_ids: frozenset[str] = frozenset()
    adviser_free: frozenset[str] = frozenset()
    lock_refusals: Mapping[str, str] = field(default_factory=dict)


def normalised_name(name: str) -> str:
    """A contact's name compared without case or repeated spaces ("ACME  Ltd" == "acme ltd")."""
    return " ".join(name.split()).casefold()


class LedgerWriter(Protocol):
    """Xero writes, each with a deterministic `Idempotency-Key` supplied by the outbox. The batch creates send up
    to `BATCH_SIZE` records in one request (`summarizeErrors=false`) under one key and answer per record."""

    def find_invoice(self, number: str) -> Invoice | InvalidRecord | None: ...

    def find_invoices(self, numbers: Sequence[str]) -> dict[str, Invoice]:
        """Live invoices by number (stripped), in as few calls as the service allows; unknown numbers left out."""
        ...

    def find_payments(self, invoice_ids: Sequence[str]) -> list[Payment]:
        """Every live payment on these invoices, in as few calls as the service allows (the bulk read-back)."""
        ...

    def create_invoice(
        self,
        invoice: Invoice,
        lines: tuple[Line, ...],
        *,
        idempotency_key: str,
        account_code: str,
        tax_type: str | None,
        contact_id: str = "",  # the ledger's contact, when one was matched; else the invoice's contact name
    ) -> Invoice | InvalidRecord: ...

    def create_invoices(self, invoices: Sequence[InvoiceCreate], *, idempotency_key: str) -> list[BatchResult]: ...

    def update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None, idempotency_key: str
    ) -> Invoice | InvalidRecord: ...

    def find_payment(
        self,
        invoice_id: str,
        amount: Decimal,
        day: date,
        reference: str,
        direction: Direction,
        exclude: Collection[str] = (),
    ) -> Payment | None: ...

    def create_payment(
        self,
        *,
        invoice_id: str,
        invoice_number: str,
        direction: Direction,
        amount: Decimal,
        day: date,
        account_code: str,
        reference: str,
        currency: str,
        contact: str,
        idempotency_key: str,
    ) -> Payment | InvalidRecord: ...

    def create_payments(self, payments: Sequence[PaymentCreate], *, idempotency_key: str) -> list[BatchResult]: ...


BATCH_SIZE = 50
"""Records per batch write (Xero: 50 is the recommended most per request)."""


class SecretBox(Protocol):
    """Where a connector reads and writes its connection's secret (a JSON-able dict of strings).

    The services back it with the OS keyring; connectors call `save` before using a rotated refresh token.
    """

    def load(self) -> dict[str, str]: ...

    def save(self, secret: dict[str, str]) -> None: ...

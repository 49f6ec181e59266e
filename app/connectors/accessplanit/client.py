"""The accessplanit connector: reading (`SystemClient`), the connection check, and the writes (`SourceWriter`).

Config is the site root (`https://acme.accessplanit.com/accessplan`; the API is under `{root}/api/v2/`) and
either a username + password or an API key. Must not: import another system's package, storage or services;
keep secrets anywhere but in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.connectors.accessplanit import mapping
from app.connectors.accessplanit import requests as wire
from app.connectors.accessplanit.auth import ApiKeyAuth, PasswordAuth
from app.connectors.accessplanit.profile import ACCESSPLANIT
from app.connectors.accessplanit.streams import STREAMS, AccessplanitStreams
from app.connectors.accessplanit.streams import quote as odata_quote
from app.connectors.base import NO_LOOKUPS, CacheLookups, CallStats, CheckStep, Page, PushFacts
from app.connectors.http import Auth, HttpClient, HttpConfig, Pacer, PacerConfig
from app.domain.errors import AuthenticationError, ConfigurationError, ConnectorError, RejectedError
from app.domain.money import D
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Payment
from app.domain.status import Direction, System

PO_MAX = 50


@dataclass(frozen=True)
class AccessplanitConfig:
    """Where and how to connect. Give `username` + `password`, or `api_key`."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    page_size: int = 1000
    line_page_size: int = 1000  # InvoiceItem pages of a full run's line walk (smaller only in tests)
    overlap_seconds: int = 300
    http: HttpConfig = field(default_factory=HttpConfig)
    pacing: PacerConfig = ACCESSPLANIT.pacing

    @property
    def root(self) -> str:
        return self.url.rstrip("/")

    @property
    def api(self) -> str:
        return f"{self.root}/api/v2"


class AccessplanitClient:
    """Implements `SystemClient` and `SourceWriter` for accessplanit.

    `read()` asks the `CacheLookups` it is given for the invoice numbers of payments on invoices not read this run
    and, on an incremental run, for the stored versions of a page's records: rows that come back unchanged are
    dropped before their lines are fetched. `invoice_numbers` is what this client learnt (invoice ID -> number).
    """

    system = System.ACCESSPLANIT

    def __init__(self, config: AccessplanitConfig, *, http: HttpClient | None = None) -> None:
        if not config.url:
            raise ConfigurationError("The accessplanit address is missing.", "Enter it in Edit > Connections.")
        if not config.api_key and not (config.username and config.password):
            raise ConfigurationError(
                "accessplanit needs a user name and password, or an API key.", "Enter them in Edit > Connections."
            )
        self.config = config
        self.stats = CallStats()
        self.http = http or HttpClient(ACCESSPLANIT, config=config.http, pacer=Pacer(config.pacing), stats=self.stats)
        self.stats = self.http.stats
        self.auth: Auth
        if config.api_key:
            self.auth = ApiKeyAuth(config.api_key, self.http)
        else:
            self.auth = PasswordAuth(f"{config.api}/token", config.username, config.password, self.http)
        self._streams = AccessplanitStreams(
            self._fetch,
            self.stats,
            page_size=config.page_size,
            line_page_size=config.line_page_size,
            overlap=timedelta(seconds=config.overlap_seconds),
        )

    # ----------------------------------------------------------------------------------------------- reading
    @property
    def invoice_numbers(self) -> dict[str, str]:
        return self._streams.invoice_numbers

    def streams(self) -> list[str]:
        return list(STREAMS)

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        return self._streams.read(stream, cursor, full=full, cancel=cancel, lookups=lookups)

    def _fetch(self, module: str, params: Mapping[str, str], cancel: CancelToken) -> list[dict[str, Any]]:
        reply = self.http.request(
            "GET", f"{self.config.api}/{module}", params=params, auth=self.auth, cancel=cancel, pace_key=module
        )
        return results(reply.data, module)

    def get(
        self, module: str, params: Mapping[str, str] | None = None, cancel: CancelToken | None = None
    ) -> list[dict[str, Any]]:
        """One GET of a module's list (for checks and tools). Not paged."""
        return self._fetch(module, params or {}, cancel or CancelToken())

    # ----------------------------------------------------------------------------------------------- check
    def check(self) -> list[CheckStep]:
        """reachability -> credentials -> scopes (can the user read the finance feeds?)."""
        steps: list[CheckStep] = []
        cancel = CancelToken()
        try:
            self.http.request(
                "GET",
                f"{self.config.api}/Invoice",
                params={"$top": "1", "$select": "ID"},
                cancel=cancel,
                accept=(400, 401, 403),
            )
            steps.append(CheckStep("reachability", True, f"accessplanit answered at {self.config.root}."))
        except ConnectorError as exc:
            steps.append(CheckStep("reachability", False, exc.user_text()))
            return steps
        try:
            self.auth.apply({}, cancel)
            steps.append(CheckStep("credentials", True, "The credentials were accepted."))
        except ConnectorError as exc:
            steps.append(CheckStep("credentials", False, exc.user_text()))
            return steps
        for module in ("Invoice", "Transaction"):
            try:
                self._fetch(module, {"$top": "1", "$select": "ID"}, cancel)
            except AuthenticationError as exc:
                steps.append(CheckStep("scopes", False, f"The API user cannot read {module}: {exc.user_text()}"))
                return steps
            except ConnectorError as exc:
                steps.append(CheckStep("scopes", False, exc.user_text()))
                return steps
        steps.append(CheckStep("scopes", True, "The API user can read invoices and transactions."))
        return steps

    # ----------------------------------------------------------------------------------------------- writes
    def fetch_invoice(self, invoice_id: str, cancel: CancelToken | None = None) -> Invoice | InvalidRecord | None:
        """One invoice with its lines, by ID (a filtered list call, as accessplanit's own demo app does)."""
        cancel = cancel or CancelToken()
        rows = self._fetch(
            "Invoice",
            {"$filter": f"ID eq {odata_quote(invoice_id)}", "$select": ",".join(mapping.INVOICE_FIELDS)},
            cancel,
        )
        if not rows:
            return None
        items = self._streams.lines_for([invoice_id], cancel).get(invoice_id, [])
        record = mapping.map_invoice(rows[0], items)
        if isinstance(record, Invoice):
            self.invoice_numbers[record.id] = record.number
        return record

    def update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None
    ) -> Invoice | InvalidRecord:
        """PUT only the changed fields (PONumber, DateDue), then read the invoice back."""
        if po_number is not None and len(po_number) > PO_MAX:
            raise RejectedError(
                f"The PO number is longer than accessplanit allows ({PO_MAX} characters).",
                "Shorten it in Xero, then push again.",
                system="accessplanit",
                details=(f"PONumber: more than {PO_MAX} characters",),
            )
        method, path, body = wire.update_invoice(invoice_id, po_number=po_number, due_date=due_date)
        if not body:
            raise ValueError("nothing to update")
        self.http.request(method, f"{self.config.api}/{path}", json_body=body, auth=self.auth, pace_key="Invoice")
        record = self.fetch_invoice(invoice_id)
        if record is None:
            raise ConnectorError(
                f"accessplanit invoice {invoice_id} vanished after the update.", "Sync again.", system="accessplanit"
            )
        return record

    def find_transaction(
        self,
        invoice_id: str,
        amount: Decimal,
        reference: str,
        direction: Direction,
        day: date | None = None,
        exclude: Collection[str] = (),
    ) -> Payment | None:
        """A Transaction on the invoice with exactly this amount, reference, direction and (when given) date whose
        id is not in `exclude` (the read-back after an unknown outcome: accessplanit has no idempotency key, so a
        same-amount instalment with the same reference, or a record linked elsewhere, must not pass for ours)."""
        cancel = CancelToken()
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        paging = self._streams.paging
        while offset is not None:
            page = self._fetch(
                "Transaction",
                {
                    "$filter": f"InvoiceID eq {odata_quote(invoice_id)}",
                    "$select": ",".join(mapping.TRANSACTION_FIELDS),
                    "$orderby": "ID",
                    **paging.params(offset),
                },
                cancel,
            )
            rows.extend(page)
            offset = paging.next(offset, len(page), getattr(page, "total", None))
        if invoice_id not in self.invoice_numbers:
            self._streams.lookup_numbers([invoice_id], self.invoice_numbers, cancel)
        for row in rows:
            record = mapping.map_payment(row, self.invoice_numbers)
            if (
                isinstance(record, Payment)
                and record.direction is direction
                and record.amount == D(amount)
                and record.reference.strip() == reference.strip()
                and (day is None or record.date == day)
                and record.id not in exclude
            ):
                return record
        return None

    def create_transaction(
        self, *, invoice_id: str, direction: Direction, amount: Decimal, day: date, method_label: str, reference: str
    ) -> Payment | InvalidRecord:
        """POST a Transaction. Not retried after an ambiguous failure (it could duplicate): the error says the
        outcome is unknown, and the caller reads back with `find_transaction` first."""
        method, path, body = wire.create_transaction(
            invoice_id=invoice_id,
            direction=direction,
            amount=amount,
            day=day,
            method_label=method_label,
            reference=reference,
        )
        reply = self.http.request(
            method,
            f"{self.config.api}/{path}",
            json_body=body,
            auth=self.auth,
            pace_key="Transaction",
            idempotent=False,
        )
        rows = results(reply.data, "Transaction")
        if invoice_id not in self.invoice_numbers:
            self._streams.lookup_numbers([invoice_id], self.invoice_numbers, CancelToken())
        if rows:
            return mapping.map_payment(rows[0], self.invoice_numbers)
        found = self.find_transaction(invoice_id, amount, reference, direction, day)
        if found is None:
            raise ConnectorError(
                "accessplanit accepted the payment but it cannot be found.",
                "Sync again before retrying.",
                system="accessplanit",
            )
        return found

    # what the writes above send, for a preview (pure: no call is made)
    describe_update_invoice = staticmethod(wire.update_invoice)
    describe_create_transaction = staticmethod(wire.create_transaction)

    @staticmethod
    def push_facts(reference: Mapping[str, Any]) -> PushFacts:
        """accessplanit has no lock dates, tax or account vocabulary to check before a push."""
        return PushFacts()


class Results(list[dict[str, Any]]):
    """The rows of one answer, and the total the service reported when asked with `$count=true` (else None)."""

    total: int | None = None


def results(data: Any, module: str) -> Results:
    """The `results` array of an accessplanit answer (a bare list or single object are accepted too)."""
    out = Results()
    if isinstance(data, dict) and isinstance(data.get("count"), int) and not isinstance(data.get("count"), bool):
        out.total = int(data["count"])
    if isinstance(data, dict):
        rows = data.get("results")
        if rows is None and "ID" in data:
            out.append(data)
            return out
    else:
        rows = data
    if not isinstance(rows, list):
        raise ConnectorError(
            f"accessplanit sent an unexpected answer for {module} (no results list).",
            "Try again; if it persists, check the connection's address.",
            system="accessplanit",
        )
    out.extend(r for r in rows if isinstance(r, dict))
    return out

"""The Xero connector: reading (`SystemClient`), tenants and the connection check, and the writes (`LedgerWriter`).

Config: the API URL (`.../api.xro/2.0`), the identity URL (authorize = `{identity}/connect/authorize`, token =
`{identity}/connect/token`; empty means Xero's real hosts), the connections URL (`{api origin}/connections` by
default), the client id and the tenant id. Every write sends `summarizeErrors=false` and the outbox's
`Idempotency-Key`; a per-element `HasErrors` is a `RejectedError` with Xero's validation messages.
Must not: import another system's package, storage or services; hold secrets outside the auth object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit

from app.connectors.base import (
    BATCH_SIZE,
    NO_LOOKUPS,
    BatchResult,
    CacheLookups,
    CallStats,
    CheckStep,
    InvoiceCreate,
    Page,
    PaymentCreate,
    PushFacts,
    SecretBox,
)
from app.connectors.http import Auth, HttpClient, HttpConfig, Pacer, PacerConfig
from app.connectors.xero import mapping, profile
from app.connectors.xero import requests as wire
from app.connectors.xero.auth import DEFAULT_SCOPES, ClientCredentialsAuth, OAuthAuth
from app.connectors.xero.profile import XERO
from app.connectors.xero.streams import STREAMS, XeroStreams, collection
from app.domain.errors import ConfigurationError, ConnectorError, RejectedError
from app.domain.money import D
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, System

REAL_AUTHORIZE = "https://login.xero.com/identity/connect/authorize"
REAL_TOKEN = "https://identity.xero.com/connect/token"
REAL_IDENTITY_HOST = "https://identity.xero.com"
NEEDED_SCOPES = ("accounting.invoices", "accounting.payments", "accounting.contacts", "accounting.settings")
LEGACY_SCOPES = {"accounting.transactions": ("accounting.invoices", "accounting.payments")}


@dataclass(frozen=True)
class XeroConfig:
    url: str = "https://api.xero.com/api.xro/2.0"
    identity_url: str = ""
    connections_url: str = ""
    client_id: str = ""
    tenant_id: str = ""
    client_secret: str = field(default="", repr=False)  # custom connection only; else OAuth via `box`
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    page_size: int = 1000
    overlap_seconds: int = 300
    refund_account_code: str = "200"  # the credit note line of a pushed refund (sales)
    connection_id: str = ""
    lock_dir: Path | None = None  # cross-process refresh lock directory (user data dir)
    http: HttpConfig = field(default_factory=HttpConfig)
    pacing: PacerConfig = XERO.pacing

    @property
    def api(self) -> str:
        return self.url.rstrip("/")

    @property
    def _identity(self) -> str:
        """The identity server given, or "" for Xero's own: its sign-in page is not on the token host
        (login.xero.com/identity vs identity.xero.com), so Xero's host means the real pair of endpoints."""
        given = self.identity_url.strip().rstrip("/")
        return "" if given.lower() in ("", REAL_IDENTITY_HOST) else given

    @property
    def authorize_endpoint(self) -> str:
        return f"{self._identity}/connect/authorize" if self._identity else REAL_AUTHORIZE

    @property
    def token_endpoint(self) -> str:
        return f"{self._identity}/connect/token" if self._identity else REAL_TOKEN

    @property
    def connections_endpoint(self) -> str:
        if self.connections_url:
            return self.connections_url
        parts = urlsplit(self.api)
        return f"{parts.scheme}://{parts.netloc}/connections"


class _NoTenant:
    """The same credentials without the tenant header (`/connections` is not tenant-scoped)."""

    def __init__(self, auth: Auth) -> None:
        self._auth = auth

    def apply(self, headers: dict[str, str], cancel: CancelToken) -> None:
        self._auth.apply(headers, cancel)
        headers.pop("xero-tenant-id", None)

    def renew(self, cancel: CancelToken) -> bool:
        return self._auth.renew(cancel)


def derived_key(key: str, step: str) -> str:
    """An idempotency key for one step of a multi-call push, derived from the outbox's key (<= 128 chars)."""
    candidate = f"{key}:{step}"
    return candidate if len(candidate) <= 128 else hashlib.sha256(candidate.encode()).hexdigest()


class XeroClient:
    """Implements `SystemClient` and `LedgerWriter` for one Xero organisation (tenant)."""

    system = System.XERO

    def __init__(self, config: XeroConfig, *, box: SecretBox | None = None, http: HttpClient | None = None) -> None:
        if not config.client_id:
            raise ConfigurationError("The Xero client id is missing.", "Enter it in Edit > Connections.")
        if not config.client_secret and box is None:
            raise ConfigurationError("Xero is not signed in.", "Connect Xero in Edit > Connections.")
        self.config = config
        self.http = http or HttpClient(XERO, config=config.http, pacer=Pacer(config.pacing), stats=CallStats())
        self.stats = self.http.stats
        self.auth: ClientCredentialsAuth | OAuthAuth
        if config.client_secret:
            self.auth = ClientCredentialsAuth(
                self.http,
                config.token_endpoint,
                config.client_id,
                config.client_secret,
                tenant_id=config.tenant_id,
                scopes=config.scopes,
            )
        else:
            assert box is not None
            self.auth = OAuthAuth(
                self.http,
                config.token_endpoint,
                config.client_id,
                box,
                tenant_id=config.tenant_id,
                connection_id=config.connection_id or config.client_id,
                lock_dir=config.lock_dir,
            )
        self._streams = XeroStreams(
            self._get, self.stats, page_size=config.page_size, overlap=timedelta(seconds=config.overlap_seconds)
        )

    # ----------------------------------------------------------------------------------------------- plumbing
    @property
    def tenant_id(self) -> str:
        return self.auth.tenant_id

    @tenant_id.setter
    def tenant_id(self, value: str) -> None:
        self.auth.tenant_id = value

    @property
    def credit_note_refs(self) -> dict[str, str]:
        """CreditNoteID -> Reference, as this client learnt them (reads and pushes)."""
        return self._streams.credit_note_refs

    def _need_tenant(self) -> None:
        if not self.auth.tenant_id:
            raise ConfigurationError("No Xero organisation is selected.", "Pick one in Edit > Connections.")

    def _get(
        self, path: str, params: Mapping[str, str], headers: Mapping[str, str], cancel: CancelToken
    ) -> dict[str, Any]:
        self._need_tenant()
        reply = self.http.request(
            "GET",
            f"{self.config.api}/{path}",
            params=params,
            headers=headers,
            auth=self.auth,
            cancel=cancel,
            pace_key=self.auth.tenant_id,
        )
        return reply.data if isinstance(reply.data, dict) else {}

    def _write(self, method: str, path: str, body: dict[str, Any], key: str, collection_key: str) -> dict[str, Any]:
        """One write of one element; returns that element, or raises `RejectedError` with its messages."""
        result = self._write_many(method, path, body, key, collection_key, 1)[0]
        if isinstance(result, RejectedError):
            raise result
        return result

    def _write_many(
        self, method: str, path: str, body: dict[str, Any], key: str, collection_key: str, count: int
    ) -> list[dict[str, Any] | RejectedError]:
        """One write of `count` elements (`summarizeErrors=false`): per element, the element or its refusal. An
        answer without one element per record sent is a `ConnectorError` (the outcome is unknown)."""
        self._need_tenant()
        reply = self.http.request(
            method,
            f"{self.config.api}/{path}",
            params={"summarizeErrors": "false"},
            json_body=body,
            headers={"Idempotency-Key": key[:128]},
            auth=self.auth,
            pace_key=self.auth.tenant_id,
            idempotent=True,
        )  # the key makes retries safe
        elements = collection(reply.data, collection_key)
        if len(elements) != count:
            raise ConnectorError(
                f"Xero accepted the request but sent {len(elements)} {collection_key} back for {count}.",
                "Sync again to see whether it was created.",
                system="xero",
            )
        out: list[dict[str, Any] | RejectedError] = []
        for element in elements:
            if element.get("HasErrors") or element.get("StatusAttributeString") == "ERROR":
                details = mapping.element_errors(element)
                out.append(
                    RejectedError(
                        f"Xero refused the {collection_key[:-1].lower()}: {'; '.join(details) or 'no reason'}",
                        "Correct the record, then push again.",
                        system="xero",
                        details=details,
                    )
                )
            else:
                out.append(element)
        return out

    # ----------------------------------------------------------------------------------------------- reading
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

    def list_tenants(self, cancel: CancelToken | None = None) -> list[dict[str, Any]]:
        """The organisations this sign-in can reach: `[{"tenantId", "tenantName", "tenantType", ...}]`."""
        reply = self.http.request(
            "GET", self.config.connections_endpoint, auth=_NoTenant(self.auth), cancel=cancel or CancelToken()
        )
        data = reply.data
        return [t for t in data if isinstance(t, dict)] if isinstance(data, list) else []

    def check(self) -> list[CheckStep]:
        """reachability -> credentials -> tenant -> scopes; stops at the first failing step."""
        steps: list[CheckStep] = []
        cancel = CancelToken()
        try:
            self.http.request("GET", self.config.connections_endpoint, cancel=cancel, accept=(400, 401, 403))
            steps.append(CheckStep("reachability", True, "Xero answered."))
        except ConnectorError as exc:
            steps.append(CheckStep("reachability", False, exc.user_text()))
            return steps
        try:
            self.auth.bearer(cancel)
            steps.append(CheckStep("credentials", True, "Xero accepted the sign-in."))
        except ConnectorError as exc:
            steps.append(CheckStep("credentials", False, exc.user_text()))
            return steps
        try:
            tenants = self.list_tenants(cancel)
        except ConnectorError as exc:
            steps.append(CheckStep("tenant", False, exc.user_text()))
            return steps
        if not self.auth.tenant_id and len(tenants) == 1:
            self.auth.tenant_id = str(tenants[0].get("tenantId", ""))
        names = {str(t.get("tenantId")): str(t.get("tenantName", "")) for t in tenants}
        if self.auth.tenant_id not in names:
            listed = ", ".join(f"{n} ({i})" for i, n in names.items()) or "none"
            steps.append(
                CheckStep(
                    "tenant",
                    False,
                    f"This sign-in cannot reach the selected organisation. Organisations it can reach: {listed}.",
                )
            )
            return steps
        steps.append(
            CheckStep(
                "tenant",
                True,
                f"Organisation: {names[self.auth.tenant_id]}.",
                tenant_id=self.auth.tenant_id,
                tenant_name=names[self.auth.tenant_id],
            )
        )
        granted = set(self.auth.granted_scopes)
        for legacy, modern in LEGACY_SCOPES.items():
            if legacy in granted:
                granted.update(modern)
        missing = [s for s in NEEDED_SCOPES if granted and s not in granted and f"{s}.read" not in granted]
        if missing:
            steps.append(
                CheckStep(
                    "scopes",
                    False,
                    f"The sign-in lacks the permissions {', '.join(missing)}. Reconnect Xero and allow them.",
                )
            )
            return steps
        for path in ("Organisation", "Invoices", "Payments"):
            try:
                self._get(path, {"page": "1", "pageSize": "1"} if path != "Organisation" else {}, {}, cancel)
            except ConnectorError as exc:
                steps.append(CheckStep("scopes", False, f"Recondesk cannot read {path}: {exc.user_text()}"))
                return steps
        steps.append(CheckStep("scopes", True, "Recondesk can read the organisation, invoices and payments."))
        return steps

    # ----------------------------------------------------------------------------------------------- writes
    def get_invoice(self, invoice_id: str, cancel: CancelToken | None = None) -> dict[str, Any] | None:
        data = self._get(f"Invoices/{urlquote(invoice_id, safe='')}", {}, {}, cancel or CancelToken())
        rows = collection(data, "Invoices")
        return rows[0] if rows else None

    def find_invoice(self, number: str) -> Invoice | InvalidRecord | None:
        data = self._get("Invoices", {"InvoiceNumbers": number, "page": "1"}, {}, CancelToken())
        for raw in collection(data, "Invoices"):
            record = mapping.map_invoice(raw)
            if record is not None and str(raw.get("InvoiceNumber", "")).strip() == number.strip():
                return record
        return None

    def find_invoices(self, numbers: Sequence[str]) -> dict[str, Invoice]:
        """Live sales invoices by number, `BATCH_SIZE` numbers per call (`InvoiceNumbers=a,b,...`)."""
        wanted = sorted({n.strip() for n in numbers if n.strip()})
        found: dict[str, Invoice] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            data = self._get("Invoices", {"InvoiceNumbers": ",".join(chunk), "page": "1"}, {}, CancelToken())
            for raw in collection(data, "Invoices"):
                record = mapping.map_invoice(raw)
                number = str(raw.get("InvoiceNumber", "")).strip()
                if isinstance(record, Invoice) and not record.deleted and number in chunk:
                    found[number] = record
        return found

    def find_payments(self, invoice_ids: Sequence[str]) -> list[Payment]:
        """Live payments on these invoices: one `where` of up to 25 invoice ids per call (paged by 100)."""
        wanted = sorted({i for i in invoice_ids if i})
        out: list[Payment] = []
        cancel = CancelToken()
        for start in range(0, len(wanted), 25):
            chunk = wanted[start : start + 25]
            where = " OR ".join(f'Invoice.InvoiceID==Guid("{_where_text(i)}")' for i in chunk)
            page = 1
            while True:
                rows = collection(self._get("Payments", {"where": where, "page": str(page)}, {}, cancel), "Payments")
                for raw in rows:
                    record = mapping.map_payment(raw, self.credit_note_refs)
                    if isinstance(record, Payment) and not record.deleted:
                        out.append(record)
                if len(rows) < 100:
                    break
                page += 1
        return out

    def create_invoices(self, invoices: Sequence[InvoiceCreate], *, idempotency_key: str) -> list[BatchResult]:
        """Up to `BATCH_SIZE` invoices in one PUT under one key; a result per invoice, in order."""
        # Each element exactly as `create_invoice` writes it (`wire.create_invoice`), so a batch of one is the same
        # request as a single push and a resend under the same key is recognised as a repeat.
        body = {
            "Invoices": [
                wire.create_invoice(
                    c.invoice, c.lines, account_code=c.account_code, tax_type=c.tax_type, contact_id=c.contact_id
                )[2]["Invoices"][0]
                for c in invoices
            ]
        }
        out: list[BatchResult] = []
        for element in self._write_many("PUT", "Invoices", body, idempotency_key, "Invoices", len(invoices)):
            out.append(element if isinstance(element, RejectedError) else self._as_invoice(element))
        return out

    def create_payments(self, payments: Sequence[PaymentCreate], *, idempotency_key: str) -> list[BatchResult]:
        """Up to `BATCH_SIZE` payments (not refunds) in one PUT under one key; a result per payment, in order."""
        # Each element exactly as `create_payment` writes it (`wire.create_payment`), as for invoices above.
        body = {
            "Payments": [
                wire.create_payment(
                    invoice_id=p.invoice_id,
                    amount=p.amount,
                    day=p.day,
                    account_code=p.account_code,
                    reference=p.reference,
                )[2]["Payments"][0]
                for p in payments
            ]
        }
        out: list[BatchResult] = []
        for element in self._write_many("PUT", "Payments", body, idempotency_key, "Payments", len(payments)):
            if isinstance(element, RejectedError):
                out.append(element)
                continue
            record = mapping.map_payment(element, self.credit_note_refs)
            if record is None:
                raise ConnectorError(
                    "Xero answered with a payment of an unexpected type.", "Sync again.", system="xero"
                )
            out.append(record)
        return out

    def create_invoice(
        self,
        invoice: Invoice,
        lines: tuple[Line, ...],
        *,
        idempotency_key: str,
        account_code: str,
        tax_type: str | None,
        contact_id: str = "",
    ) -> Invoice | InvalidRecord:
        method, path, body = wire.create_invoice(
            invoice, lines, account_code=account_code, tax_type=tax_type, contact_id=contact_id
        )
        element = self._write(method, path, body, idempotency_key, "Invoices")
        return self._as_invoice(element)

    def update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None, idempotency_key: str
    ) -> Invoice | InvalidRecord:
        method, path, body = wire.update_invoice(invoice_id, po_number=po_number, due_date=due_date)
        element = self._write(method, path, body, idempotency_key, "Invoices")
        return self._as_invoice(element)

    # what the writes above send, for a preview (pure: no call is made)
    describe_create_invoice = staticmethod(wire.create_invoice)
    describe_update_invoice = staticmethod(wire.update_invoice)

    def describe_create_payment(
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
    ) -> list[wire.WriteRequest]:
        """The calls `create_payment` makes: one for a payment; a credit note, then its payment, for a refund."""
        if direction is Direction.PAYMENT:
            return [
                wire.create_payment(
                    invoice_id=invoice_id, amount=amount, day=day, account_code=account_code, reference=reference
                )
            ]
        note = wire.refund_credit_note(
            invoice_number=invoice_number,
            contact=contact,
            amount=amount,
            day=day,
            currency=currency,
            account_code=self.config.refund_account_code,
        )
        pay = wire.create_payment(
            invoice_id=invoice_id,
            amount=amount,
            day=day,
            account_code=account_code,
            reference=reference,
            credit_note_id=wire.NEW_CREDIT_NOTE,
        )
        return [note, pay]

    @staticmethod
    def push_facts(reference: Mapping[str, Any]) -> PushFacts:
        """What the checks before a push need from the cached reference data (see `profile.ledger_facts`)."""
        return profile.ledger_facts(reference)

    def _as_invoice(self, element: dict[str, Any]) -> Invoice | InvalidRecord:
        record = mapping.map_invoice(element)
        if record is None:
            raise ConnectorError(
                "Xero answered with a document that is not a sales invoice.", "Sync again.", system="xero"
            )
        return record

    def find_payment(
        self,
        invoice_id: str,
        amount: Decimal,
        day: date,
        reference: str,
        direction: Direction,
        exclude: Collection[str] = (),
    ) -> Payment | None:
        """The read-back before a retry: a live payment (or refund) with exactly this amount, date, reference and
        direction, whose id is not in `exclude` (already linked to another item or push)."""

        def exact(record: object) -> bool:
            return (
                isinstance(record, Payment)
                and not record.deleted
                and record.id not in exclude
                and str(record.direction) == str(direction)
                and record.amount == D(amount)
                and record.date == day
                and record.reference.strip() == reference.strip()
            )

        if direction is Direction.PAYMENT:
            return next((p for p in self.find_payments([invoice_id]) if exact(p)), None)
        cancel = CancelToken()
        invoice = self.get_invoice(invoice_id, cancel)
        if invoice is None:
            return None
        number = str(invoice.get("InvoiceNumber", ""))
        notes = collection(
            self._get("CreditNotes", {"where": f'Reference=="{_where_text(number)}"', "page": "1"}, {}, cancel),
            "CreditNotes",
        )
        candidates = [str(p["PaymentID"]) for n in notes for p in n.get("Payments") or [] if p.get("PaymentID")]
        for note in notes:
            if note.get("CreditNoteID"):
                self.credit_note_refs[str(note["CreditNoteID"])] = str(note.get("Reference") or "").strip()
        for payment_id in candidates:
            rows = collection(self._get(f"Payments/{urlquote(payment_id, safe='')}", {}, {}, cancel), "Payments")
            for raw in rows:
                record = mapping.map_payment(raw, self.credit_note_refs)
                if isinstance(record, Payment) and exact(record):
                    return record
        return None

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
    ) -> Payment | InvalidRecord:
        """A payment on the invoice; a refund is an ACCRECCREDIT credit note (Reference = invoice number) plus an
        ARCREDITPAYMENT out of it, each with its own key derived from `idempotency_key`."""
        if direction is Direction.PAYMENT:
            key = idempotency_key
            credit_note_id = ""
        else:
            method, path, note_body = wire.refund_credit_note(
                invoice_number=invoice_number,
                contact=contact,
                amount=amount,
                day=day,
                currency=currency,
                account_code=self.config.refund_account_code,
            )
            note = self._write(method, path, note_body, derived_key(idempotency_key, "credit-note"), "CreditNotes")
            credit_note_id = str(note.get("CreditNoteID", ""))
            self.credit_note_refs[credit_note_id] = invoice_number
            key = derived_key(idempotency_key, "refund-payment")
        method, path, body = wire.create_payment(
            invoice_id=invoice_id,
            amount=amount,
            day=day,
            account_code=account_code,
            reference=reference,
            credit_note_id=credit_note_id,
        )
        element = self._write(method, path, body, key, "Payments")
        if direction is Direction.REFUND and not element.get("PaymentType"):
            element = {**element, "PaymentType": "ARCREDITPAYMENT"}
        record = mapping.map_payment(element, self.credit_note_refs)
        if record is None:
            raise ConnectorError("Xero answered with a payment of an unexpected type.", "Sync again.", system="xero")
        return record


def _where_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["XeroClient", "XeroConfig", "derived_key"]

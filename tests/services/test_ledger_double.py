"""The ledger is a role: the services' contract (sync, reconcile, push through the outbox, sync again) run against a
ledger that is not Xero's connector at all, an in-memory double implementing only `connectors.base`'s
`SystemClient` and `LedgerWriter`. A new ledger is a connector package plus its registration; if the services
leaned on anything Xero's client does beyond those protocols, this test would fail.
The source is the real accessplanit connector over its emulator (real HTTP on 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from services_clients import SandboxClientFactory

from app.connectors.base import (
    NO_LOOKUPS,
    BatchResult,
    CacheLookups,
    CallStats,
    CheckStep,
    InvoiceCreate,
    Page,
    PaymentCreate,
    SecretBox,
)
from app.credentials import MemoryCredentialStore
from app.domain.keys import invoice_key
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services.api import ConnectionInfo, ItemFilter, PushRecord
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database


@dataclass
class MemoryLedger:
    """A ledger kept in a dict: what it was asked to create, it has; a repeated idempotency key gets the first
    answer (as a real ledger's idempotency does)."""

    system: System = System.XERO  # the role it plays is what counts: System.XERO.role is the ledger
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    answers: dict[str, Invoice | Payment] = field(default_factory=dict)
    creates: list[str] = field(default_factory=list)
    stats: CallStats = field(default_factory=CallStats)

    def streams(self) -> list[str]:
        return ["invoices", "payments"]

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        self.stats.calls += 1
        recs: list[Any] = list(self.invoices.values() if stream == "invoices" else self.payments.values())
        yield Page(stream, recs, [{"id": r.id} for r in recs], {}, done=True, total=len(recs))

    def check(self) -> list[CheckStep]:
        return [CheckStep("reachability", True, "in memory")]

    def find_invoice(self, number: str) -> Invoice | InvalidRecord | None:
        return next((i for i in self.invoices.values() if invoice_key(i.number) == invoice_key(number)), None)

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
        if idempotency_key in self.answers:
            answer = self.answers[idempotency_key]
            assert isinstance(answer, Invoice)
            return answer
        self.creates.append(idempotency_key)
        made = dataclasses.replace(
            invoice,
            system=self.system,
            id=str(uuid.uuid4()),
            lines=lines,
            paid=Decimal(0),
            due=invoice.total,
            state=InvoiceState.OPEN,
        )
        self.invoices[made.id] = self.answers[idempotency_key] = made
        return made

    def update_invoice(
        self, invoice_id: str, *, po_number: str | None = None, due_date: date | None = None, idempotency_key: str
    ) -> Invoice | InvalidRecord:
        inv = self.invoices[invoice_id]
        inv = dataclasses.replace(
            inv,
            po_number=inv.po_number if po_number is None else po_number,
            due_date=inv.due_date if due_date is None else due_date,
        )
        self.invoices[invoice_id] = inv
        return inv

    def find_invoices(self, numbers: Sequence[str]) -> dict[str, Invoice]:
        wanted = {n.strip() for n in numbers}
        return {i.number.strip(): i for i in self.invoices.values() if i.number.strip() in wanted}

    def create_invoices(self, invoices: Sequence[InvoiceCreate], *, idempotency_key: str) -> list[BatchResult]:
        return [
            self.create_invoice(
                c.invoice,
                c.lines,
                idempotency_key=f"{idempotency_key}:{n}",
                account_code=c.account_code,
                tax_type=c.tax_type,
            )
            for n, c in enumerate(invoices)
        ]

    def find_payment(
        self,
        invoice_id: str,
        amount: Decimal,
        day: date,
        reference: str,
        direction: Direction,
        exclude: Collection[str] = (),
    ) -> Payment | None:
        return None

    def find_payments(self, invoice_ids: Sequence[str]) -> list[Payment]:
        return []

    def create_payment(self, **kw: Any) -> Payment | InvalidRecord:
        raise AssertionError("not used by this test")

    def create_payments(self, payments: Sequence[PaymentCreate], *, idempotency_key: str) -> list[BatchResult]:
        raise AssertionError("not used by this test")


class DoubleFactory(SandboxClientFactory):
    """The real accessplanit connector; the ledger is the double."""

    def __init__(self, ledger: MemoryLedger) -> None:
        super().__init__()
        self.double = ledger

    def ledger(self, info: ConnectionInfo, secrets: SecretBox) -> MemoryLedger:  # type: ignore[override]
        return self.double


@pytest.fixture
def source() -> Iterator[Sandboxes]:
    boxes = start_sandboxes(SandboxOptions(seed=3, invoices=12, month="2026-10"))
    try:
        yield boxes
    finally:
        boxes.stop()


def test_the_services_contract_holds_for_a_ledger_that_is_not_xero(cache: Database, source: Sandboxes) -> None:
    double = MemoryLedger()
    ws = Workspace(cache, MemoryCredentialStore(), Settings(), DoubleFactory(double), "test", who="tester")
    ap = source.info["accessplanit"]
    ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password"), ap["password"])
    ws.save_connection(ConnectionInfo(System.XERO, "memory://ledger", auth="client_credentials"), "unused")

    first = ws.sync(full=True)
    assert first.ok, first.errors
    invoices = ws.rows(ws.item_ids(ItemFilter(kind=Kind.INVOICE, statuses=(ItemStatus.ONLY_IN_SOURCE,))))
    assert invoices, "an empty ledger leaves every readable source invoice only in the source"
    assert not ws.item_ids(ItemFilter(statuses=(ItemStatus.MATCHED,)))

    row = next(r for r in invoices if r.ledger_id is None)
    pushed = ws.act(PushRecord(row.item_id, System.XERO))
    assert pushed.ok, pushed.message
    assert len(double.creates) == 1 and double.find_invoice(row.invoice) is not None

    again = ws.sync()
    assert again.ok, again.errors
    [now] = [
        r for r in ws.rows(ws.item_ids(ItemFilter(kind=Kind.INVOICE, search=row.invoice))) if r.invoice == row.invoice
    ]
    assert now.ledger_id == double.find_invoice(row.invoice).id  # type: ignore[union-attr]
    # Paired with the ledger's invoice; what can still differ is only what the source's payments (not pushed here)
    # changed: the double creates invoices unpaid, as a ledger does.
    assert now.status is ItemStatus.MATCHED or set(now.fields) <= {"paid", "due", "state"}, now.fields
    # Nothing is sent twice: pushing the same item again is refused before any call, and the double saw one create.
    assert not ws.act(PushRecord(now.item_id, System.XERO)).ok
    assert len(double.creates) == 1

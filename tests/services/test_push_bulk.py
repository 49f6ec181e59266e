"""Bulk pushes: Xero invoices and payments in batches of up to 50 per request (one key per batch, a result per
record), accessplanit one per call; under 20% lost answers on both emulators and a crash in the middle (a second
PushService resumes), every record exists exactly once and no push is lost, in a few Xero calls per 1,000.
Also the workspace's bulk preview and per-record results on the generated month.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services_world import World

from app.connectors.base import LedgerWriter, SourceWriter
from app.domain.records import Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, PushState, System
from app.services import plans
from app.services.api import PushRecord, Resolve
from app.services.push import PushService
from app.settings import Settings
from app.storage import outbox
from app.storage import records as records_repo


class Crash(BaseException):
    """What kill -9 looks like from inside: nothing after it runs (no except Exception, no state written)."""


class _CrashingLedger:
    def __init__(self, inner: LedgerWriter, after: int) -> None:
        self._inner, self._left = inner, after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not name.startswith("create_"):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            result = attr(*args, **kw)  # the request lands ...
            self._left -= 1
            if self._left <= 0:
                raise Crash  # ... and the process dies before it records the answer
            return result

        return call


class _Writers:
    def __init__(self, source: SourceWriter, ledger: Any) -> None:
        self._source, self._ledger = source, ledger

    def source_writer(self) -> SourceWriter:
        return self._source

    def ledger_writer(self) -> LedgerWriter:
        return self._ledger  # type: ignore[no-any-return]


def _invoice(i: int) -> Invoice:
    lines = (Line("Course seat", Decimal("100.00"), Decimal("20.00"), Decimal(1), Decimal("100.00")),)
    return Invoice(
        system=System.ACCESSPLANIT,
        id=f"ap-bulk-{i}",
        number=f"BULK-{i:04d}",
        contact="Bulk Training Ltd",
        issue_date=date(2026, 10, 1) + timedelta(days=i % 28),
        due_date=date(2026, 11, 1),
        po_number="",
        currency="GBP",
        net=Decimal("100.00"),
        tax=Decimal("20.00"),
        total=Decimal("120.00"),
        paid=Decimal(0),
        due=Decimal("120.00"),
        state=InvoiceState.OPEN,
        lines=lines,
    )


def _payment(system: System, i: int, invoice: Invoice, method: str, day: date) -> Payment:
    return Payment(
        system=system,
        id=f"{system.value}-pay-{i}",
        invoice_number=invoice.number,
        invoice_id=invoice.id,
        date=day,
        amount=Decimal("10.00") + Decimal(i % 7),
        reference=f"BULK-REF-{i}",
        method=method,
        direction=Direction.PAYMENT,
        currency="GBP",
    )


def _until_done(make: Callable[[], PushService], all_plans: list[plans.PushPlan], passes: int = 12) -> int:
    """Run `push_many` over the same plans until every push has succeeded (each pass reads back the unknown ones)."""
    for n in range(1, passes + 1):
        outcomes = make().push_many(all_plans)
        if all(o.ok for o in outcomes):
            return n
        time.sleep(0.05)
    raise AssertionError(Counter(o.state for o in outcomes), {o.message for o in outcomes if not o.ok})


def _xero_requests(world: World) -> list[dict[str, Any]]:
    return [r for r in world.admin(System.XERO, "requests") if "/api.xro/" in r["path"]]


def test_a_thousand_records_under_lost_answers_and_a_crash_leave_no_duplicate_and_nothing_lost(world: World) -> None:
    settings = Settings(write_settle_seconds=0.05, push_lease_seconds=0.2)
    clients = world.ws._clients

    def service(ledger: Any = None) -> PushService:
        writers = _Writers(clients.source_writer(), ledger or clients.ledger_writer())
        return PushService(world.db, settings, "bulk-test", writers, lambda _key: None)

    # 600 invoices, then 300 payments on them to Xero, and 100 transactions to accessplanit on the month's invoices.
    invoices = [_invoice(i) for i in range(600)]
    invoice_plans = [plans.plan_push_invoice(inv, settings, inv.number, System.XERO) for inv in invoices]
    with world.db.transaction() as tx:
        ap_invoices = [i for i in records_repo.load_invoices(tx, System.ACCESSPLANIT) if not i.deleted]
    assert ap_invoices
    world.admin(System.XERO, "requests")  # (the log is read below by difference)
    before_xero = len(_xero_requests(world))
    world.faults(System.XERO, "drop_after_commit=0.2,seed=13")
    world.faults(System.ACCESSPLANIT, "drop_after_commit=0.2,seed=13")

    # A crash after the 4th batch request has landed: those rows stay `sending`, claimed by a dead process.
    try:
        service(_CrashingLedger(clients.ledger_writer(), after=4)).push_many(invoice_plans)
        raise AssertionError("the crash did not happen")
    except Crash:
        pass
    with world.db.transaction() as tx:
        states = Counter(p.state for p in outbox.pushes_in_state(tx, list(PushState)))
    assert states[PushState.SENDING] >= 1 and states[PushState.SUCCEEDED] < 600, states
    # A second process resumes as `recondesk retry` does, once the dead one's claims have lapsed: the rows left
    # `sending` are read back in bulk (one lookup for the whole batch), the pending ones go out in batches.
    resumed = service()
    time.sleep(settings.push_lease_seconds + 0.05)
    left = resumed.retryable()
    assert len(left) == 600 - states[PushState.SUCCEEDED]
    reads_before = sum(1 for r in _xero_requests(world)[before_xero:] if r["method"] == "GET")
    resumed.retry_many(left)
    reads = sum(1 for r in _xero_requests(world)[before_xero:] if r["method"] == "GET") - reads_before
    assert reads <= 2, reads
    _until_done(service, invoice_plans)

    with world.db.transaction() as tx:
        remote = {p.item_key: p.result_remote_id for p in outbox.pushes_in_state(tx, [PushState.SUCCEEDED])}
    on_xero = [replace(inv, system=System.XERO, id=str(remote[inv.number])) for inv in invoices[:300]]
    pay_plans = [
        plans.plan_push_payment(
            _payment(System.ACCESSPLANIT, i, inv, "BACS", date(2026, 10, 15)), inv, settings, f"bulk-pay-{i}"
        )
        for i, inv in enumerate(on_xero)
    ]
    room = {inv.id: inv.due for inv in ap_invoices}  # accessplanit refuses a payment above what is due
    ap_plans = []
    for i, inv in enumerate(invoices[:100]):
        pay = _payment(System.XERO, 1000 + i, replace(inv, system=System.XERO), "090", date(2026, 10, 1 + i % 28))
        target = next(a for a in ap_invoices if room[a.id] >= pay.amount)
        room[target.id] -= pay.amount
        ap_plans.append(plans.plan_push_payment(pay, target, settings, f"bulk-ap-{i}"))
    _until_done(service, pay_plans + ap_plans)
    world.faults(System.XERO, "")
    world.faults(System.ACCESSPLANIT, "")

    # Xero: each invoice once, each payment once; accessplanit: each transaction once. Nothing lost.
    state = world.admin(System.XERO, "state")
    numbers = Counter(
        i["InvoiceNumber"] for i in state["Invoices"]["Invoices"] if str(i.get("InvoiceNumber", "")).startswith("BULK-")
    )
    assert len(numbers) == 600 and set(numbers.values()) == {1}
    refs = Counter(
        p["Reference"]
        for p in state["Payments"]["Payments"]
        if str(p.get("Reference", "")).startswith("BULK-REF-") and p.get("Status") != "DELETED"
    )
    assert len(refs) == 300 and set(refs.values()) == {1}
    ap_refs = Counter(
        t["Reference"]
        for t in world.admin(System.ACCESSPLANIT, "state")["Transaction"]["results"]
        if str(t.get("Reference", "")).startswith("BULK-REF-")
    )
    assert len(ap_refs) == 100 and set(ap_refs.values()) == {1}
    with world.db.transaction() as tx:
        rows = outbox.pushes_in_state(tx, list(PushState))
    assert len(rows) == 1000 and {r.state for r in rows} == {PushState.SUCCEEDED}
    assert len({r.result_remote_id for r in rows}) == 1000

    # Calls: batches of 50, so at most 20 write requests per 1,000 (distinct keys), whatever was lost; the
    # transport's own retries of a lost request repeat its key. Reads are the bulk read-backs and invoice re-reads.
    log = _xero_requests(world)[before_xero:]
    invoice_keys = {r["idempotency_key"] for r in log if r["method"] == "PUT" and r["path"].endswith("/Invoices")}
    payment_keys = {r["idempotency_key"] for r in log if r["method"] == "PUT" and r["path"].endswith("/Payments")}
    assert len(invoice_keys) <= 12 + 2, len(invoice_keys)  # 600 / 50, plus at most a resend batch or two
    assert len(payment_keys) <= 6 + 2, len(payment_keys)  # 300 / 50
    writes = [r for r in log if r["method"] == "PUT"]
    reads = [r for r in log if r["method"] == "GET"]
    assert len(writes) <= 2 * (len(invoice_keys) + len(payment_keys)), len(writes)
    assert len(reads) <= 60, len(reads)  # bulk read-backs and re-reads, never one per record


def test_bulk_preview_and_per_record_results_through_the_workspace(world: World) -> None:
    inv = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    pay = world.item(world.number("payment_only_in_source"), Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    ap_pay = world.item(world.number("payment_only_in_ledger"), Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
    matched = world.item(world.number("matched_open"), Kind.INVOICE, ItemStatus.MATCHED)
    differs = world.item(world.number("amounts_differ"), Kind.INVOICE)
    from app.domain.status import Resolution

    actions = [
        PushRecord(inv.item_id, System.XERO),
        PushRecord(pay.item_id, System.XERO),
        PushRecord(ap_pay.item_id, System.ACCESSPLANIT),
        PushRecord(matched.item_id, System.XERO),  # already in Xero: skipped, with why
        Resolve(differs.item_id, Resolution.ACCEPT_LEDGER),
    ]
    preview = world.ws.plan_many(actions)
    assert preview.writes == 4 and [i for i, _why in preview.skipped] == [matched.item_id]
    assert "already has" in preview.skipped[0][1]
    assert preview.calls == 1 + 1 + 1 + 1  # an invoice batch, a payment batch, its invoice re-read, one POST
    assert preview.seconds > 0
    world.admin(System.XERO, "requests")
    results = world.ws.act_many(actions)
    assert [r.ok for r in results] == [True, True, True, False, True], [r.message for r in results]
    assert "Skipped" in results[3].message
    assert results[0].item is not None and results[0].item.status is ItemStatus.MATCHED
    assert results[1].item is not None and results[1].item.status is ItemStatus.MATCHED
    assert len(world.xero_invoices(inv.invoice)) == 1

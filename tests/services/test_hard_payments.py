"""The hard payments through a real sync of both sandboxes into a SQLite cache: a combined payment's part, a
credit note as an item of its own and a foreign invoice's rate, as the item panel shows them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from services_clients import SandboxClientFactory
from services_world import World

from app.connectors.xero.client import XeroClient
from app.domain.records import Invoice, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.services.api import ItemFilter
from app.services.plans import PushError, plan_push_payment
from app.settings import Settings


def test_a_part_of_a_combined_payment_says_so_in_the_detail(world: World) -> None:
    number = world.number("combined_payment")
    row = world.item(number, Kind.PAYMENT)
    assert row.status is ItemStatus.MATCHED and row.source_id is not None and "-" in row.source_id
    notes = world.ws.item_detail(row.item_id).notes
    assert any(n.startswith("Part of a combined accessplanit payment ") and number in n for n in notes), notes
    assert any(n.startswith("Part of a combined Xero payment ") for n in notes), notes


def test_a_ledger_only_credit_and_a_used_up_refund_credit_note_are_items(world: World) -> None:
    rows = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.CREDIT_NOTE)))
    credit = {r.status: r for r in rows if r.kind is Kind.CREDIT_NOTE}
    assert set(credit) == {ItemStatus.MATCHED, ItemStatus.ONLY_IN_LEDGER}
    left = world.ws.item_detail(credit[ItemStatus.ONLY_IN_LEDGER].item_id)
    assert "left unallocated" in left.row.reason
    assert any("credit note CN-" in n and "remaining" in n for n in left.notes), left.notes
    assert not any(s.label.startswith("Match") for s in left.actions)  # nothing to pair it with
    used = world.ws.item_detail(credit[ItemStatus.MATCHED].item_id)
    assert any("remaining 0.00 GBP" in n for n in used.notes), used.notes
    # The refund itself (placed against its credit note) names the credit note it was paid out of.
    pays = world.items(world.number("refund"), Kind.PAYMENT)
    refunds = [world.ws.item_detail(r.item_id).notes for r in pays if r.ledger_id]
    assert sum(any(n.startswith("Paid out of Xero credit note CN-") for n in notes) for notes in refunds) == 1


def test_a_foreign_invoice_shows_its_rate(world: World) -> None:
    row = world.item(world.number("foreign_currency"), Kind.INVOICE)
    assert row.status is ItemStatus.MATCHED
    notes = world.ws.item_detail(row.item_id).notes
    assert any(" at rate 1.1523" in n or " at rate 1.2718" in n for n in notes), notes


def test_overpayments_prepayments_and_credit_notes_pay_invoices_through_their_allocations(world: World) -> None:
    # What an overpayment leaves over is a ledger-only item; a prepayment allocated in full is used up.
    for kind, status in ((Kind.OVERPAYMENT, ItemStatus.ONLY_IN_LEDGER), (Kind.PREPAYMENT, ItemStatus.MATCHED)):
        [row] = world.ws.rows(world.ws.item_ids(ItemFilter(kind=kind)))
        assert row.status is status, row
        detail = world.ws.item_detail(row.item_id)
        assert any(n.startswith(f"Xero {kind.value} ") and "remaining" in n for n in detail.notes), detail.notes
        assert not any(s.label.startswith("Match") for s in detail.actions)
    [left] = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.OVERPAYMENT)))
    assert "left unallocated" in left.reason and world.number("overpayment") in left.reason
    # Each allocation is the Xero side of the invoice's payment, paired with accessplanit's (method not compared).
    for scenario, credit in (
        ("overpayment", "overpayment"),
        ("prepayment", "prepayment"),
        ("credit_allocation", "credit note"),
    ):
        number = world.number(scenario)
        [pay] = world.items(number, Kind.PAYMENT)
        assert pay.status is ItemStatus.MATCHED and f"an allocation of {credit} " in pay.reason, pay
        notes = world.ws.item_detail(pay.item_id).notes
        assert any(n.startswith(f"An allocation to {number} of Xero {credit}") for n in notes), notes
        assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED
    # Part allocated, part refunded out of one credit note: the payment, the credit and the refund all pair.
    pays = world.items(world.number("credit_refund"), Kind.PAYMENT)
    assert len(pays) == 3 and {p.status for p in pays} == {ItemStatus.MATCHED}


def test_an_allocation_is_never_pushed_to_accessplanit_as_a_payment_of_money() -> None:
    target = Invoice(
        System.ACCESSPLANIT, "5001", "INV-1", "Acme", date(2026, 10, 1), None, "", "GBP",
        Decimal(100), Decimal(20), Decimal(120), Decimal(0), Decimal(120), InvoiceState.OPEN,
    )  # fmt: skip
    allocation = Payment(
        System.XERO, "al-1", "INV-1", "x1", date(2026, 10, 2), Decimal(120), "BACS 7", "", Direction.PAYMENT, "GBP",
        group="prepayment:pp-1",
    )  # fmt: skip
    with pytest.raises(PushError) as caught:
        plan_push_payment(allocation, target, Settings(), "INV-1:-:Xal-1")
    assert "allocation of a prepayment" in str(caught.value) and "no bank account" in str(caught.value)


def test_a_credit_allocated_after_a_sync_shows_in_the_next_incremental_sync(
    world: World, client_factory: SandboxClientFactory
) -> None:
    # In Xero, the goodwill credit note is allocated in full to a new invoice of its customer. An incremental sync
    # (If-Modified-Since) reads the note again: its allocation is a Xero payment on that invoice, and it is used up.
    state = world.admin(System.XERO, "state")
    [note] = [c for c in state["CreditNotes"]["CreditNotes"] if c["Status"] == "AUTHORISED" and not c["Reference"]]
    [item] = [
        r
        for r in world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.CREDIT_NOTE)))
        if r.ledger_id == note["CreditNoteID"]
    ]
    assert item.status is ItemStatus.ONLY_IN_LEDGER
    xero = next(c for c in reversed(client_factory.made) if isinstance(c, XeroClient))
    line = {"Description": "Course place", "Quantity": 1, "UnitAmount": Decimal("500.00"), "AccountCode": "200"}
    body = {
        "Type": "ACCREC",
        "Contact": {"ContactID": note["Contact"]["ContactID"]},
        "Date": "2026-10-28",
        "DueDate": "2026-11-27",
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [line],
    }
    invoice = xero._write("PUT", "Invoices", {"Invoices": [body]}, "test-inv-1", "Invoices")
    allocation = {
        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
        "Amount": note["RemainingCredit"],
        "Date": "2026-10-28",
    }
    path = f"CreditNotes/{note['CreditNoteID']}/Allocations"
    xero._write("PUT", path, {"Allocations": [allocation]}, "test-alloc-1", "Allocations")

    result = world.ws.sync(full=False)
    assert result.ok, result.errors
    [pay] = world.items(invoice["InvoiceNumber"], Kind.PAYMENT)
    assert pay.status is ItemStatus.ONLY_IN_LEDGER and "an allocation of credit note " in pay.reason, pay
    [after] = [
        r for r in world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.CREDIT_NOTE))) if r.item_id == item.item_id
    ]
    assert after.status is ItemStatus.MATCHED and "nothing remains" in after.reason

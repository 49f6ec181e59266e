"""Xero overpayments, prepayments and credit-note allocations in the mapping (docs/reconciliation.md section 9):
a customer's credit is a `CreditNote` of its kind, and each of its allocations to an invoice is a ledger payment on
that invoice; what cannot be read becomes invalid, and a record never stops the page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.connectors.http import loads
from app.connectors.xero import mapping as xm
from app.domain.records import CreditNote, InvalidRecord, Payment, allocated_from
from app.domain.status import Direction, Kind

OVERPAYMENT = loads("""{"OverpaymentID": "op-1", "Type": "RECEIVE-OVERPAYMENT", "Status": "AUTHORISED",
 "Reference": "BACS 0001", "Contact": {"Name": "Oak Ltd"}, "Date": "/Date(1792022400000+0000)/",
 "CurrencyCode": "GBP", "Total": 550.00, "RemainingCredit": 50.00, "UpdatedDateUTC": "/Date(1792065600000+0000)/",
 "Allocations": [{"AllocationID": "al-1", "Amount": 500.00, "Date": "/Date(1792108800000+0000)/",
                  "Invoice": {"InvoiceID": "inv-1", "InvoiceNumber": "INV-1042"}}]}""")


def test_an_overpayment_is_a_credit_and_its_allocation_a_payment_on_the_invoice() -> None:
    mapped = xm.map_credit(OVERPAYMENT, Kind.OVERPAYMENT)
    assert mapped is not None
    credit, allocation = mapped
    assert isinstance(credit, CreditNote) and credit.kind is Kind.OVERPAYMENT
    assert (credit.number, credit.reference, credit.total, credit.remaining) == (
        "BACS 0001",
        "INV-1042",  # the first invoice it is allocated to: its item sits with that invoice
        Decimal("550.00"),
        Decimal("50.00"),
    )
    assert isinstance(allocation, Payment)
    got = (allocation.id, allocation.invoice_number, allocation.invoice_id, allocation.amount, allocation.reference)
    assert got == ("al-1", "INV-1042", "inv-1", Decimal("500.00"), "BACS 0001")
    # dated when the money came in (the overpayment's date), not the day it was allocated
    assert allocation.date == date(2026, 10, 15) and allocation.direction is Direction.PAYMENT
    assert allocation.method == "" and allocation.credit_note_id is None and not allocation.deleted
    assert allocated_from(allocation) == (Kind.OVERPAYMENT, "op-1")


def test_a_prepayment_and_a_credit_note_allocate_the_same_way() -> None:
    prepayment = {**OVERPAYMENT, "Type": "RECEIVE-PREPAYMENT", "PrepaymentID": "pp-1", "RemainingCredit": 0}
    del prepayment["OverpaymentID"]
    mapped = xm.map_credit(prepayment, Kind.PREPAYMENT)
    assert mapped is not None and isinstance(mapped[0], CreditNote) and mapped[0].kind is Kind.PREPAYMENT
    assert isinstance(mapped[1], Payment) and allocated_from(mapped[1]) == (Kind.PREPAYMENT, "pp-1")
    note = {**OVERPAYMENT, "Type": "ACCRECCREDIT", "CreditNoteID": "cn-1", "CreditNoteNumber": "CN-7"}
    del note["OverpaymentID"]
    mapped = xm.map_credit(note, Kind.CREDIT_NOTE)
    assert mapped is not None and isinstance(mapped[0], CreditNote) and mapped[0].kind is Kind.CREDIT_NOTE
    assert mapped[0].number == "CN-7" and mapped[0].reference == "BACS 0001"  # a credit note's Reference as sent
    assert isinstance(mapped[1], Payment) and mapped[1].reference == "CN-7"  # logged under the note's number
    assert allocated_from(mapped[1]) == (Kind.CREDIT_NOTE, "cn-1")


def test_supplier_credits_are_not_reconciled() -> None:
    assert xm.map_credit({**OVERPAYMENT, "Type": "SPEND-OVERPAYMENT"}, Kind.OVERPAYMENT) is None
    assert xm.map_credit({**OVERPAYMENT, "Type": "APPREPAYMENT"}, Kind.PREPAYMENT) is None


def test_deleted_allocations_and_those_of_a_voided_credit_are_tombstones() -> None:
    gone = {**OVERPAYMENT["Allocations"][0], "IsDeleted": True}
    mapped = xm.map_credit({**OVERPAYMENT, "Allocations": [gone]}, Kind.OVERPAYMENT)
    assert mapped is not None and isinstance(mapped[1], Payment) and mapped[1].deleted
    mapped = xm.map_credit({**OVERPAYMENT, "Status": "VOIDED"}, Kind.OVERPAYMENT)
    assert mapped is not None and isinstance(mapped[1], Payment) and mapped[1].deleted


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Amount": "12,50"}, "bad amount Amount"),
        ({"Amount": 0}, "must be more than 0"),
        ({"Invoice": {"InvoiceID": "inv-1"}}, "missing invoice number"),
        ({"Invoice": "INV-1042"}, "missing invoice number"),
    ],
)
def test_an_unreadable_allocation_is_an_invalid_payment_of_its_own(change: dict[str, Any], reason: str) -> None:
    bad = {**OVERPAYMENT["Allocations"][0], **change}
    mapped = xm.map_credit({**OVERPAYMENT, "Allocations": [bad, OVERPAYMENT["Allocations"][0]]}, Kind.OVERPAYMENT)
    assert mapped is not None
    credit, first, second = mapped
    assert isinstance(credit, CreditNote) and isinstance(second, Payment)
    assert isinstance(first, InvalidRecord) and first.kind is Kind.PAYMENT
    assert first.reason.startswith("overpayment allocation: ") and reason in first.reason
    assert first.date == date(2026, 10, 15)  # its credit's month


def test_an_unreadable_overpayment_is_invalid_with_its_reason() -> None:
    mapped = xm.map_credit({**OVERPAYMENT, "Total": "lots"}, Kind.OVERPAYMENT)
    assert mapped is not None and len(mapped) == 1
    [bad] = mapped
    assert isinstance(bad, InvalidRecord) and bad.id == "op-1" and bad.reason.startswith("overpayment: bad amount")
    assert bad.date == date(2026, 10, 15)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.decimals(allow_nan=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
_FIELDS = ("Type", "Status", "Total", "RemainingCredit", "Date", "Contact", "Allocations", "Reference")


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(_FIELDS),
    value=_JSONISH,
    kind=st.sampled_from([Kind.OVERPAYMENT, Kind.PREPAYMENT, Kind.CREDIT_NOTE]),
)
def test_never_raises_whatever_a_field_holds(field: str, value: Any, kind: Kind) -> None:
    raw = {**OVERPAYMENT, "PrepaymentID": "pp-1", "CreditNoteID": "cn-1", field: value}
    if field == "Type":
        raw["Type"] = value
    else:
        raw["Type"] = {Kind.OVERPAYMENT: "RECEIVE-OVERPAYMENT", Kind.PREPAYMENT: "RECEIVE-PREPAYMENT"}.get(
            kind, "ACCRECCREDIT"
        )
    mapped = xm.map_credit(raw, kind)
    assert mapped is None or all(isinstance(m, CreditNote | Payment | InvalidRecord) for m in mapped)
    alone = xm.map_credit(value, kind)  # not a credit at all: invalid or nothing, never an exception
    assert alone is None or all(isinstance(m, CreditNote | Payment | InvalidRecord) for m in alone)

"""Combined payments, batch payments and currency rates in the two systems' mappings (docs/reconciliation.md
section 8): one accessplanit Transaction allocated across invoices is one payment per allocation; a Xero payment
names its batch; a Xero invoice carries its rate for display."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.connectors.accessplanit import mapping as ap
from app.connectors.http import loads
from app.connectors.xero import mapping as xm
from app.domain.records import InvalidRecord, Invoice, Payment

COMBINED = loads("""{"ID": "88", "InvoiceID": "5531", "TransactionType": "Payment", "Amount": 300.00,
 "TransactionDate": "2026-10-20T00:00:00", "Reference": "BACS 12", "TransactionMethodLabel": "BACS",
 "CurrencyCode": "GBP", "DateUpdated": "2026-10-20T10:00:00",
 "TransactionInvoices": [{"InvoiceID": "5531", "Amount": 120.00}, {"InvoiceID": "5532", "Amount": 180.00}]}""")
NUMBERS = {"5531": "INV-1042", "5532": "INV-1043"}


def test_a_transaction_allocated_across_invoices_is_one_payment_per_allocation() -> None:
    parts = ap.map_payments(COMBINED, NUMBERS)
    assert all(isinstance(p, Payment) for p in parts)
    got = [(p.id, p.invoice_number, p.invoice_id, p.amount, p.group) for p in parts if isinstance(p, Payment)]
    assert got == [
        ("88-5531", "INV-1042", "5531", Decimal("120.00"), "88"),
        ("88-5532", "INV-1043", "5532", Decimal("180.00"), "88"),
    ]
    # The rest is the transaction's: one date, reference and method for every part.
    assert {(p.date.isoformat(), p.reference, p.method) for p in parts if isinstance(p, Payment)} == {
        ("2026-10-20", "BACS 12", "BACS")
    }
    assert ap.allocation_invoice_ids(COMBINED) == ["5531", "5532"]


def test_a_transaction_on_one_invoice_is_one_payment_without_a_group() -> None:
    plain = {k: v for k, v in COMBINED.items() if k != "TransactionInvoices"} | {"Amount": Decimal("120.00")}
    [pay] = ap.map_payments(plain, NUMBERS)
    assert isinstance(pay, Payment) and (pay.id, pay.group, pay.invoice_number) == ("88", None, "INV-1042")
    assert ap.allocation_invoice_ids(plain) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Amount": Decimal("299.99")}, "the allocations add up to 300.00, not the Amount 299.99"),
        ({"TransactionInvoices": "5531"}, "not a list of allocations"),
        ({"TransactionInvoices": [{"InvoiceID": "5531", "Amount": -300}]}, "an Amount above 0"),
        ({"TransactionInvoices": [{"Amount": 300}]}, "needs an InvoiceID"),
        ({"TransactionType": "Transfer"}, "unknown transaction type"),
    ],
)
def test_malformed_allocations_make_the_whole_transaction_invalid(change: dict[str, Any], reason: str) -> None:
    [rec] = ap.map_payments({**COMBINED, **change}, NUMBERS)
    assert isinstance(rec, InvalidRecord) and rec.id == "88" and reason in rec.reason


def test_an_allocation_to_an_unknown_invoice_is_an_invalid_part_of_its_own() -> None:
    first, second = ap.map_payments(COMBINED, {"5531": "INV-1042"})
    assert isinstance(first, Payment) and first.id == "88-5531"
    assert isinstance(second, InvalidRecord) and second.id == "88-5532" and "5532" in second.reason


def test_a_xero_payment_names_its_batch_and_an_invoice_its_rate() -> None:
    pay = xm.map_payment(
        loads("""{"PaymentID": "p-1", "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED",
        "Date": "/Date(1791936000000+0000)/", "Amount": 30.00, "Reference": "R1", "Account": {"Code": "090"},
        "BatchPaymentID": "b-7", "Invoice": {"InvoiceID": "i-1", "InvoiceNumber": "INV-1", "CurrencyCode": "GBP"}}"""),
        {},
    )
    assert isinstance(pay, Payment) and pay.group == "b-7"
    invoice = loads("""{"Type": "ACCREC", "InvoiceID": "i-2", "InvoiceNumber": "INV-2", "Status": "AUTHORISED",
     "Contact": {"Name": "A"}, "Date": "/Date(1791936000000+0000)/", "CurrencyCode": "EUR", "CurrencyRate": 1.152300,
     "SubTotal": 10, "TotalTax": 2, "Total": 12, "AmountPaid": 0, "AmountDue": 12, "LineItems": []}""")
    inv = xm.map_invoice(invoice)
    assert isinstance(inv, Invoice) and inv.rate == Decimal("1.152300") and inv.total == Decimal("12")
    for rate in (1, "junk", None):  # the base currency's 1, or nothing readable: no rate to show
        again = xm.map_invoice({**invoice, "CurrencyRate": rate})
        assert isinstance(again, Invoice) and again.rate is None

"""Wire samples -> domain records, for both systems, including malformed ones (-> InvalidRecord with a reason)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.connectors.accessplanit import mapping as ap
from app.connectors.http import loads
from app.connectors.wire import Unreadable
from app.connectors.xero import mapping as xm
from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, System

AP_INVOICE = loads("""{"ID": "5531", "Reference": "INV-1042", "TargetLabel": "  Jane Smith ", "CompanyName": "Acme",
 "DateCreated": "2026-10-14T23:30:00", "DateDue": "2026-11-13T00:00:00", "DateUpdated": "2026-10-15T08:00:01",
 "PONumber": "PO-9", "CurrencyCode": "gbp", "Amount": 100.10, "Tax": 20.02, "AmountPaid": 50, "Outstanding": 70.12,
 "Status": "Part Paid"}""")
AP_ITEMS = loads("""[{"ID": "12", "InvoiceID": "5531", "DynamicLabel": "Course B", "Amount": 60.06, "Tax": 10.01},
 {"ID": "9", "InvoiceID": "5531", "DynamicLabel": "Course A", "Amount": 60.06, "Tax": null}]""")


def test_accessplanit_invoice_follows_the_section_9_conventions() -> None:
    inv = ap.map_invoice(AP_INVOICE, AP_ITEMS)
    assert isinstance(inv, Invoice)
    assert inv.system is System.ACCESSPLANIT and inv.id == "5531" and inv.number == "INV-1042"
    assert inv.contact == "Jane Smith"  # TargetLabel first
    assert inv.issue_date == date(2026, 10, 14)  # the date part, never shifted
    assert inv.due_date == date(2026, 11, 13)
    assert (inv.net, inv.tax, inv.total) == (Decimal("100.10"), Decimal("20.02"), Decimal("120.12"))
    assert (inv.paid, inv.due) == (Decimal(50), Decimal("70.12"))
    assert inv.state is InvoiceState.PART_PAID and inv.currency == "GBP"
    assert inv.updated_at == datetime(2026, 10, 15, 8, 0, 1)
    # lines sorted by numeric ID; net = gross - tax; a null tax is 0
    assert [(line.description, line.net, line.tax) for line in inv.lines] == [
        ("Course A", Decimal("60.06"), Decimal(0)),
        ("Course B", Decimal("50.05"), Decimal("10.01")),
    ]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Outstanding", InvoiceState.OPEN),
        ("Paid", InvoiceState.PAID),
        ("Cancelled", InvoiceState.VOID),
        ("Credited", InvoiceState.VOID),
        ("part paid", InvoiceState.PART_PAID),
    ],
)
def test_accessplanit_states(status: str, state: InvoiceState) -> None:
    inv = ap.map_invoice({**AP_INVOICE, "Status": status})
    assert isinstance(inv, Invoice) and inv.state is state


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Status": "Refunded"}, "unknown status"),
        ({"Amount": "12,50"}, "bad amount Amount"),
        ({"Tax": None}, "missing amount Tax"),
        ({"Amount": True}, "bad amount Amount"),
        ({"DateCreated": "14/10/2026"}, "bad date DateCreated"),
        ({"DateCreated": None}, "missing date DateCreated"),
        ({"Reference": "  "}, "missing invoice number"),
        ({"DateDue": 20261113}, "bad date DateDue"),
    ],
)
def test_accessplanit_malformed_invoices_are_invalid_with_the_reason(change: dict[str, Any], reason: str) -> None:
    rec = ap.map_invoice({**AP_INVOICE, **change})
    assert isinstance(rec, InvalidRecord)
    assert reason in rec.reason and rec.id == "5531" and rec.system is System.ACCESSPLANIT


def test_accessplanit_invalid_record_without_id_gets_a_stable_digest() -> None:
    raw = {k: v for k, v in AP_INVOICE.items() if k != "ID"} | {"Status": "?"}
    first, second = ap.map_invoice(raw), ap.map_invoice(dict(raw))
    assert isinstance(first, InvalidRecord) and isinstance(second, InvalidRecord)
    assert first.id == second.id and first.id.startswith("sha1:")


AP_TX = loads("""{"ID": "88", "InvoiceID": "5531", "TransactionType": "Refund", "Amount": 12.5,
 "TransactionDate": "2026-10-20T00:00:00", "Reference": "RF-1", "TransactionMethodLabel": "Card",
 "CurrencyCode": "GBP", "DateUpdated": "2026-10-20T10:00:00"}""")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-14T09:30:00", datetime(2026, 10, 14, 9, 30)),
        ("2026-10-14T09:30:00.250", datetime(2026, 10, 14, 9, 30, 0, 250000)),
        ("2026-10-14", datetime(2026, 10, 14)),
        ("  2026-10-14T09:30:00 ", datetime(2026, 10, 14, 9, 30)),
        # An offset or a Z is dropped, not applied: the calendar date is the one the platform shows.
        ("2026-10-14T23:30:00+01:00", datetime(2026, 10, 14, 23, 30)),
        ("2026-10-14T23:30:00Z", datetime(2026, 10, 14, 23, 30)),
        (" 2026-10-14T23:30:00Z", datetime(2026, 10, 14, 23, 30)),
        (None, None),
        ("", None),
    ],
)
def test_accessplanit_date_times_as_sent(text: str | None, expected: datetime | None) -> None:
    assert ap.parse_datetime(text, "DateUpdated") == expected


@pytest.mark.parametrize("value", ["14/10/2026", "2026-13-01T00:00:00", "yesterday", 20261014, "   "])
def test_accessplanit_unreadable_date_times_name_the_field(value: object) -> None:
    with pytest.raises(Unreadable, match="bad date DateUpdated"):
        ap.parse_datetime(value, "DateUpdated")


def test_accessplanit_transaction() -> None:
    pay = ap.map_payment(AP_TX, {"5531": "INV-1042"})
    assert isinstance(pay, Payment)
    assert (pay.invoice_number, pay.invoice_id, pay.direction) == ("INV-1042", "5531", Direction.REFUND)
    assert pay.amount == Decimal("12.5") and pay.date == date(2026, 10, 20) and pay.method == "Card"


@pytest.mark.parametrize(
    ("change", "numbers", "reason"),
    [
        ({}, {}, "invoice id that is not known"),
        ({"InvoiceID": None}, {"5531": "INV-1"}, "missing InvoiceID"),
        ({"TransactionType": "Transfer"}, {"5531": "INV-1"}, "unknown transaction type"),
        ({"Amount": -5}, {"5531": "INV-1"}, "must be more than 0"),
        ({"Amount": "abc"}, {"5531": "INV-1"}, "bad amount"),
        ({"TransactionDate": "yesterday"}, {"5531": "INV-1"}, "bad date"),
    ],
)
def test_accessplanit_malformed_transactions(change: dict[str, Any], numbers: dict[str, str], reason: str) -> None:
    rec = ap.map_payment({**AP_TX, **change}, numbers)
    assert isinstance(rec, InvalidRecord) and reason in rec.reason


def test_accessplanit_transaction_body_keeps_decimals() -> None:
    body = ap.transaction_body(
        invoice_id="1",
        direction=Direction.PAYMENT,
        amount=Decimal("10.10"),
        day=date(2026, 10, 1),
        method_label="BACS",
        reference="X",
    )
    assert body["Amount"] == Decimal("10.10") and body["TransactionType"] == "Payment"
    assert body["TransactionDate"] == "2026-10-01T00:00:00"


# ---------------------------------------------------------------------------------------------------------- Xero
X_INVOICE = loads("""{"Type": "ACCREC", "InvoiceID": "0f6e-1", "InvoiceNumber": "INV-1042", "Reference": "PO-9",
 "Contact": {"ContactID": "c-1", "Name": "Jane Smith"}, "Date": "/Date(1791936000000+1300)/",
 "DueDate": "/Date(1794528000000+0000)/", "Status": "AUTHORISED", "LineAmountTypes": "Inclusive",
 "CurrencyCode": "GBP", "SubTotal": 100.10, "TotalTax": 20.02, "Total": 120.12, "AmountPaid": 30.00,
 "AmountCredited": 20.00, "AmountDue": 70.12, "UpdatedDateUTC": "/Date(1792070000123+0000)/",
 "LineItems": [{"LineItemID": "l1", "Description": "Course A", "Quantity": 1.0, "UnitAmount": 120.12,
   "LineAmount": 120.12, "TaxAmount": 20.02, "AccountCode": "200", "TaxType": "OUTPUT2"}]}""")


def test_xero_dates_are_utc_calendar_dates_with_the_offset_ignored() -> None:
    # 1791936000000 ms = 2026-10-14T00:00:00Z; the +1300 must not move it to the 13th or 15th.
    assert xm.pick_date({"Date": "/Date(1791936000000+1300)/"}, "Date") == date(2026, 10, 14)
    assert xm.pick_date({"Date": "/Date(1791936000000-0800)/"}, "Date") == date(2026, 10, 14)
    assert xm.pick_date({"Date": "/Date(1791936000000)/"}, "Date") == date(2026, 10, 14)
    # DateString wins when present
    assert xm.pick_date({"Date": "/Date(0)/", "DateString": "2026-10-20T00:00:00"}, "Date") == date(2026, 10, 20)
    assert xm.parse_instant("/Date(-86400000+0000)/") == datetime(1969, 12, 31)


def test_xero_invoice() -> None:
    inv = xm.map_invoice(X_INVOICE)
    assert isinstance(inv, Invoice)
    assert inv.system is System.XERO and inv.number == "INV-1042" and inv.po_number == "PO-9"
    assert inv.issue_date == date(2026, 10, 14) and inv.due_date == date(2026, 11, 13)
    assert (inv.net, inv.tax, inv.total) == (Decimal("100.10"), Decimal("20.02"), Decimal("120.12"))
    assert inv.paid == Decimal("50.00") and inv.due == Decimal("70.12")  # AmountPaid + AmountCredited
    assert inv.state is InvoiceState.PART_PAID and inv.contact == "Jane Smith" and inv.contact_id == "c-1"
    # Inclusive: net = LineAmount - TaxAmount
    assert inv.lines == (
        Line(
            "Course A", Decimal("100.10"), Decimal("20.02"), Decimal("1.0"), Decimal("120.12"), "200", "OUTPUT2", "l1"
        ),
    )
    assert inv.updated_at == datetime(2026, 10, 15, 13, 13, 20, 123000)


@pytest.mark.parametrize(
    ("change", "state", "deleted"),
    [
        ({"Status": "DRAFT"}, InvoiceState.DRAFT, False),
        ({"Status": "SUBMITTED"}, InvoiceState.DRAFT, False),
        ({"Status": "VOIDED"}, InvoiceState.VOID, False),
        ({"Status": "DELETED"}, InvoiceState.VOID, True),
        ({"Status": "PAID", "AmountDue": 0}, InvoiceState.PAID, False),
        ({"AmountPaid": 0, "AmountCredited": 0}, InvoiceState.OPEN, False),
    ],
)
def test_xero_states(change: dict[str, Any], state: InvoiceState, deleted: bool) -> None:
    inv = xm.map_invoice({**X_INVOICE, **change})
    assert isinstance(inv, Invoice) and inv.state is state and inv.deleted is deleted


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Status": "ARCHIVED"}, "unknown status"),
        ({"Total": "1.2.3"}, "bad amount Total"),
        ({"InvoiceNumber": ""}, "missing invoice number"),
        ({"Date": "/Date(abc)/"}, "bad date Date"),
        ({"AmountDue": None}, "missing amount AmountDue"),
    ],
)
def test_xero_malformed_invoices(change: dict[str, Any], reason: str) -> None:
    rec = xm.map_invoice({**X_INVOICE, **change})
    assert isinstance(rec, InvalidRecord) and reason in rec.reason and rec.id == "0f6e-1"


def test_xero_bills_are_not_reconciled() -> None:
    assert xm.map_invoice({**X_INVOICE, "Type": "ACCPAY"}) is None


X_PAYMENT = loads("""{"PaymentID": "p-1", "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED",
 "Date": "/Date(1791936000000+0000)/", "Amount": 30.00, "Reference": "R1", "Account": {"Code": "090"},
 "Invoice": {"InvoiceID": "0f6e-1", "InvoiceNumber": "INV-1042", "CurrencyCode": "GBP"},
 "UpdatedDateUTC": "/Date(1792070000000+0000)/"}""")


def test_xero_payment_and_refund() -> None:
    pay = xm.map_payment(X_PAYMENT, {})
    assert isinstance(pay, Payment)
    assert (pay.invoice_number, pay.invoice_id, pay.method, pay.currency) == ("INV-1042", "0f6e-1", "090", "GBP")
    assert pay.amount == Decimal("30.00") and pay.date == date(2026, 10, 14) and pay.direction is Direction.PAYMENT
    refund = {
        **X_PAYMENT,
        "PaymentType": "ARCREDITPAYMENT",
        "CreditNote": {"CreditNoteID": "cn-1", "CreditNoteNumber": "CN-1"},
        "Invoice": None,
    }
    rec = xm.map_payment(refund, {"cn-1": "INV-1042"})
    assert isinstance(rec, Payment)
    assert rec.direction is Direction.REFUND and rec.invoice_number == "INV-1042" and rec.credit_note_id == "cn-1"
    # credit note inside Invoice, no known reference: belongs to no invoice (reconcile files it under `?`)
    other = {
        **X_PAYMENT,
        "PaymentType": "ARCREDITPAYMENT",
        "Invoice": {"InvoiceID": "cn-2", "Type": "ACCRECCREDIT", "InvoiceNumber": "CN-2"},
    }
    rec2 = xm.map_payment(other, {})
    assert isinstance(rec2, Payment) and rec2.invoice_number is None and rec2.credit_note_id == "cn-2"
    assert xm.map_payment({**X_PAYMENT, "PaymentType": "ACCPAYPAYMENT"}, {}) is None
    deleted = xm.map_payment({**X_PAYMENT, "Status": "DELETED"}, {})
    assert isinstance(deleted, Payment) and deleted.deleted


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Amount": 0}, "must be more than 0"),
        ({"Amount": None}, "missing amount"),
        ({"Date": None}, "missing date"),
        ({"Invoice": {"InvoiceID": "x"}}, "missing invoice number"),
    ],
)
def test_xero_malformed_payments(change: dict[str, Any], reason: str) -> None:
    rec = xm.map_payment({**X_PAYMENT, **change}, {})
    assert isinstance(rec, InvalidRecord) and reason in rec.reason


def test_xero_credit_note() -> None:
    note = xm.map_credit_note(
        {
            "CreditNoteID": "cn-1",
            "CreditNoteNumber": "CN-1",
            "Type": "ACCRECCREDIT",
            "Reference": " INV-1042 ",
            "Contact": {"Name": "Jane"},
            "Total": Decimal("12.50"),
            "RemainingCredit": Decimal(0),
            "Status": "PAID",
            "CurrencyCode": "GBP",
            "DateString": "2026-10-20T00:00:00",
        }
    )
    assert isinstance(note, CreditNote) and note.reference == "INV-1042" and note.date == date(2026, 10, 20)
    assert xm.map_credit_note({"Type": "ACCPAYCREDIT"}) is None


def test_xero_invoice_body_sets_line_tax_so_totals_agree() -> None:
    inv = Invoice(
        System.ACCESSPLANIT,
        "5531",
        "INV-1042",
        "Jane",
        date(2026, 10, 14),
        date(2026, 11, 13),
        "PO-9",
        "GBP",
        Decimal("100.10"),
        Decimal("20.02"),
        Decimal("120.12"),
        Decimal(0),
        Decimal("120.12"),
        InvoiceState.OPEN,
    )
    lines = (Line("A", Decimal("50.05"), Decimal("10.01")), Line("B", Decimal("50.05"), Decimal("10.01")))
    body = xm.invoice_body(inv, lines, account_code="200", tax_type="OUTPUT2")
    assert body["Status"] == "AUTHORISED" and body["Type"] == "ACCREC" and body["Reference"] == "PO-9"
    assert body["Date"] == "2026-10-14" and body["DueDate"] == "2026-11-13"
    assert sum(i["LineAmount"] for i in body["LineItems"]) == inv.net
    assert sum(i["TaxAmount"] for i in body["LineItems"]) == inv.tax
    assert {i["TaxType"] for i in body["LineItems"]} == {"OUTPUT2"}
    # no lines: one line carries the invoice's amounts
    single = xm.invoice_body(inv, (), account_code="200", tax_type=None)
    assert len(single["LineItems"]) == 1 and single["LineItems"][0]["TaxAmount"] == Decimal("20.02")
    assert "TaxType" not in single["LineItems"][0]


def test_xero_identity_endpoints_default_to_the_real_pair() -> None:
    """Xero's sign-in page (login.xero.com/identity) is not on its token host (identity.xero.com): an empty identity
    URL, or Xero's token host typed in, must give the real pair; a test server's address gives its own pair."""
    from app.connectors.xero.client import REAL_AUTHORIZE, REAL_TOKEN, XeroConfig

    for given in ("", "https://identity.xero.com", "https://identity.xero.com/"):
        cfg = XeroConfig(identity_url=given)
        assert (cfg.authorize_endpoint, cfg.token_endpoint) == (REAL_AUTHORIZE, REAL_TOKEN)
    assert REAL_AUTHORIZE == "https://login.xero.com/identity/connect/authorize"
    local = XeroConfig(identity_url="http://127.0.0.1:5000/")
    assert local.authorize_endpoint == "http://127.0.0.1:5000/connect/authorize"
    assert local.token_endpoint == "http://127.0.0.1:5000/connect/token"

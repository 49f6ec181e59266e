"""The rule table itself: canonical order, what is pushable, the state mappings, method accounts, id order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.status import InvoiceState, System
from app.reconcile.rules import (
    INVOICE_FIELD_NAMES,
    INVOICE_FIELDS,
    PAYMENT_FIELD_NAMES,
    PAYMENT_FIELDS,
    Rules,
    derive_state,
    map_ledger_state,
    map_source_state,
    natural_id,
)

D = Decimal


def test_fields_in_the_docs_canonical_order() -> None:
    assert INVOICE_FIELD_NAMES == (
        "contact",
        "issue_date",
        "due_date",
        "po_number",
        "currency",
        "net",
        "tax",
        "total",
        "paid",
        "due",
        "state",
        "lines",
    )
    assert PAYMENT_FIELD_NAMES == ("date", "amount", "reference", "method")


def test_only_po_number_and_due_date_are_pushable_and_to_both_systems() -> None:
    pushable = {f.name: f.pushable_to for f in (*INVOICE_FIELDS, *PAYMENT_FIELDS) if f.pushable_to}
    assert pushable == {
        "po_number": (System.ACCESSPLANIT, System.XERO),
        "due_date": (System.ACCESSPLANIT, System.XERO),
    }


def test_every_field_has_a_label_and_a_known_kind() -> None:
    kinds = {"text", "text_ci", "reference", "date", "money", "code", "state", "lines", "method"}
    for f in (*INVOICE_FIELDS, *PAYMENT_FIELDS):
        assert f.label and f.label[0].isupper()
        assert f.kind in kinds


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Cancelled", InvoiceState.VOID),
        ("Credited", InvoiceState.VOID),
        ("Paid", InvoiceState.PAID),
        ("Part Paid", InvoiceState.PART_PAID),
        ("Outstanding", InvoiceState.OPEN),
        (" Outstanding ", InvoiceState.OPEN),
        ("Draft", None),  # anything else: the record is invalid
        ("paid", None),  # the values are exact
        ("", None),
    ],
)
def test_source_state_mapping(status: str, state: InvoiceState | None) -> None:
    assert map_source_state(status) == state


@pytest.mark.parametrize(
    ("status", "paid", "due", "total", "state"),
    [
        ("DRAFT", "0", "120", "120", InvoiceState.DRAFT),
        ("SUBMITTED", "0", "120", "120", InvoiceState.DRAFT),
        ("VOIDED", "0", "120", "120", InvoiceState.VOID),
        ("VOIDED", "120", "0", "120", InvoiceState.VOID),  # fixed states ignore the amounts
        ("AUTHORISED", "0", "120", "120", InvoiceState.OPEN),
        ("AUTHORISED", "50", "70", "120", InvoiceState.PART_PAID),
        ("AUTHORISED", "120", "0", "120", InvoiceState.PAID),
        ("PAID", "120", "0", "120", InvoiceState.PAID),
        ("PAID", "70", "50", "120", InvoiceState.PART_PAID),  # PAID in Xero, but a refund reopened it
        ("PAID", "0", "120", "120", InvoiceState.OPEN),  # fully refunded
        ("AUTHORISED", "119.99", "0.01", "120", InvoiceState.PAID),  # due 0 within tolerance
        ("AUTHORISED", "119.98", "0.02", "120", InvoiceState.PART_PAID),
        ("AUTHORISED", "0", "0", "0", InvoiceState.OPEN),  # a zero invoice is not "paid"
        ("DELETED", "0", "0", "120", None),  # a tombstone
        ("BOGUS", "0", "0", "120", None),
    ],
)
def test_ledger_state_mapping(status: str, paid: str, due: str, total: str, state: InvoiceState | None) -> None:
    assert map_ledger_state(status, D(paid), D(due), D(total), D("0.01")) == state


def test_derive_state_uses_the_tolerance_given() -> None:
    assert derive_state(D("119.98"), D("0.02"), D("120"), D("0.05")) is InvoiceState.PAID
    assert derive_state(D("119.99"), D("0.01"), D("120"), D("0")) is InvoiceState.PART_PAID


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("BACS", "090"),
        ("Card", "091"),
        ("Cheque", "092"),
        ("Cash", "093"),
        ("Stripe", "094"),
        ("PayPal", "095"),
        ("paypal", None),  # exact labels only: a near miss is a mapping to fix, not to guess
        ("Voucher", None),
        ("", None),
    ],
)
def test_default_method_accounts(label: str, code: str | None) -> None:
    assert Rules().account_for(label) == code


def test_method_accounts_setting_replaces_the_defaults() -> None:
    rules = Rules(method_accounts={"Voucher": "099"})
    assert rules.account_for("Voucher") == "099"
    assert rules.account_for("BACS") is None


def test_rules_are_values() -> None:
    assert Rules(method_accounts={"BACS": "090"}) == Rules(method_accounts={"BACS": "090"})
    assert hash(Rules(method_accounts={"BACS": "090"})) == hash(Rules(method_accounts={"BACS": "090"}))
    assert Rules() != Rules(money_tolerance=D("0.02"))


def test_natural_id_order() -> None:
    ids = ["10", "9", "b", "100", "a10", "a2", "1"]
    assert sorted(ids, key=natural_id) == ["1", "9", "10", "100", "a10", "a2", "b"]

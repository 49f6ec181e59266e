"""The rule table itself: canonical order, what is pushable, the derived state, method accounts, id order.
(Each connector maps its own status words to states: tests/connectors/test_mapping.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.status import InvoiceState, Role
from app.reconcile.rules import (
    INVOICE_FIELD_NAMES,
    INVOICE_FIELDS,
    PAYMENT_FIELD_NAMES,
    PAYMENT_FIELDS,
    Rules,
    derive_state,
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


def test_only_po_number_and_due_date_are_pushable_and_to_both_roles() -> None:
    pushable = {f.name: f.pushable_to for f in (*INVOICE_FIELDS, *PAYMENT_FIELDS) if f.pushable_to}
    assert pushable == {
        "po_number": (Role.SOURCE, Role.LEDGER),
        "due_date": (Role.SOURCE, Role.LEDGER),
    }


def test_every_field_has_a_label_and_a_known_kind() -> None:
    kinds = {"text", "text_ci", "reference", "date", "money", "code", "state", "lines", "method"}
    for f in (*INVOICE_FIELDS, *PAYMENT_FIELDS):
        assert f.label and f.label[0].isupper()
        assert f.kind in kinds


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

from __future__ import annotations

import pytest

from app.domain.keys import invalid_key, invoice_key, payment_key
from app.domain.status import ItemStatus, PushState, System


@pytest.mark.parametrize(
    ("raw", "key"),
    [("INV-1042", "INV-1042"), (" inv-1042 ", "INV-1042"), ("INV 1042", "INV1042"), ("", ""), (None, "")],
)
def test_invoice_key_normalizes(raw: str | None, key: str) -> None:
    assert invoice_key(raw) == key


def test_payment_and_invalid_keys() -> None:
    assert payment_key("inv-1", "88", None) == "INV-1:P88:-"
    assert payment_key("INV-1", None, "0f6e") == "INV-1:-:X0f6e"
    assert payment_key(None, "1", "2") == "?:P1:X2"
    assert invalid_key("accessplanit", "payment", "88") == "invalid:accessplanit:payment:88"


def test_contract_vocabularies_are_fixed() -> None:
    # product.md section 3 fixes these strings; tests and reports outside this repo rely on them.
    assert [s.value for s in ItemStatus] == [
        "matched",
        "differs",
        "only_in_source",
        "only_in_ledger",
        "resolved",
        "invalid",
    ]
    assert [s.value for s in PushState] == ["pending", "sending", "succeeded", "failed", "uncertain"]
    assert System.ACCESSPLANIT.other is System.XERO


def test_every_system_has_a_role_and_a_label() -> None:
    from app.domain.status import Role, System

    assert {s: s.role for s in System} == {System.ACCESSPLANIT: Role.SOURCE, System.XERO: Role.LEDGER}
    assert all(s.label for s in System)
    assert Role.SOURCE.other is Role.LEDGER and Role.LEDGER.other is Role.SOURCE

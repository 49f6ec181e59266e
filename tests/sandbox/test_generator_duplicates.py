"""The oracle's possible-duplicate labels against what the generator meant: every `duplicate_payment` invoice (the
same payment logged twice in accessplanit, once in Xero) has exactly one flagged payment, the unmatched copy, whose
twin is the matched one; no other payment is flagged. An invoice is flagged only when it really repeats another
(same contact, issue date, currency and total under another number) and is one-sided."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from app.sandbox.generator import expected_items, generate

FLAG = "possible_duplicate"


@pytest.mark.parametrize(
    ("seed", "invoices", "instalments"), [(1, 400, 1.0), (7, 2000, 1.0), (3, 600, 3.9), (11, 5000, 1.0)]
)
def test_the_oracle_flags_every_generated_duplicate_and_no_other_payment(
    seed: int, invoices: int, instalments: float
) -> None:
    ds = generate(seed=seed, invoices=invoices, month="2026-10", paid_instalments=instalments)
    by_invoice: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in ds.expected:
        if item["kind"] == "payment":
            by_invoice[item["invoice"]].append(item)
    duplicates = sorted(k for k, s in ds.scenarios.items() if s == "duplicate_payment")
    assert duplicates
    for number in duplicates:
        pays = {p["accessplanit_id"]: p for p in by_invoice[number]}
        [flagged] = [p for p in pays.values() if p.get("flags")]
        assert flagged["flags"] == [FLAG] and flagged["status"] == "only_in_source"
        twin = pays[flagged["twin"]]
        assert twin["status"] == "matched" and twin["amount"] == flagged["amount"]
    flagged_payments = {i["invoice"] for i in ds.expected if i["kind"] == "payment" and i.get("flags")}
    assert flagged_payments == set(duplicates)
    for item in ds.expected:
        if item["kind"] == "invoice" and item.get("flags"):
            assert item["status"] in ("only_in_source", "only_in_ledger") and item["twin"]
        else:
            assert "twin" not in item or item.get("flags")


def test_invoices_repeated_under_another_number_are_flagged_by_the_oracle() -> None:
    ds = generate(seed=1, invoices=60, month="2026-10")
    ap = ds.accessplanit
    one_sided = next(i for i in ds.expected if i["kind"] == "invoice" and i["status"] == "only_in_source")
    original = next(r for r in ap["Invoice"] if r["ID"] == one_sided["accessplanit_id"])
    copy = {**original, "ID": "999999", "Reference": "INV-COPY"}
    ap["Invoice"].append(copy)
    ap["InvoiceItem"].extend(
        {**line, "ID": f"c{n}", "InvoiceID": "999999"}
        for n, line in enumerate(li for li in ap["InvoiceItem"] if li["InvoiceID"] == original["ID"])
    )
    items = {i["key"]: i for i in expected_items(ap, ds.xero)}
    assert items["INV-COPY"]["flags"] == [FLAG] and items["INV-COPY"]["twin"] == original["ID"]
    assert not items[one_sided["key"]].get("flags")  # the lower id is the one repeated

"""Tests of the month generator (`app.sandbox.generator`), the oracle the app's reconciliation is held to.

They check that a month is deterministic, holds every scenario even when small, is internally consistent on each
side (the way each system keeps its own books), has the wire shapes the docs and Xero's OpenAPI spec describe,
and that the expected items computed from the wire records agree with what each scenario was built to show.
Must not: import the app's reconciliation code (the oracle stays an independent implementation).
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sandbox import generator as gen
from app.sandbox.generator import (
    METHOD_ACCOUNTS,
    SCENARIO_NAMES,
    Dataset,
    expected_items,
    generate,
    load_fixtures,
    oracle,
    write_expected,
    write_fixtures,
)
from app.sandbox.generator.xero import Guids

SPEC = Path(os.environ.get("RECONDESK_SPECS") or Path(__file__).resolve().parents[1] / "specs") / "xero_accounting.yaml"
CENT = Decimal("0.01")
STATUSES = {"matched", "differs", "only_in_source", "only_in_ledger", "invalid"}
ISO_NO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
MSDATE = re.compile(r"^/Date\((\d+)\+0000\)/$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

PAID_ONCE = [("matched", (), "payment")]
# What each scenario was built to show, written down independently of the oracle: (invoice status, invoice
# fields, alternatives for its payment items as sorted (status, fields, direction)). If the oracle, reading the
# wire records, says otherwise, either the records or the oracle are wrong.
INTENDED: dict[str, tuple[str, list[str], list[list[tuple[str, tuple[str, ...], str]]]]] = {
    "matched_open": ("matched", [], [[]]),
    "matched_paid": ("matched", [], [PAID_ONCE]),
    "matched_part_paid": ("matched", [], [PAID_ONCE]),
    "matched_two_payments": ("matched", [], [PAID_ONCE * 2]),
    "combined_payment": ("matched", [], [PAID_ONCE]),  # this invoice's part of a combined payment, paired
    "ledger_credit": ("matched", [], [PAID_ONCE]),  # the unallocated credit note is an item of its own (below)
    "matched_contact_spelling": ("matched", [], [PAID_ONCE]),
    "matched_number_case": ("matched", [], [PAID_ONCE]),
    "foreign_currency": ("matched", [], [PAID_ONCE]),
    "rounding_one_cent": ("matched", [], [[]]),
    "only_in_source": ("only_in_source", [], [[]]),
    "only_in_source_deleted_in_ledger": ("only_in_source", [], [[]]),
    "only_in_ledger": ("only_in_ledger", [], [[], [("only_in_ledger", (), "payment")]]),
    "po_changed_source": ("differs", ["po_number"], [[], PAID_ONCE]),
    "po_changed_ledger": ("differs", ["po_number"], [[]]),
    "due_changed_source": ("differs", ["due_date"], [[]]),
    "due_changed_ledger": ("differs", ["due_date"], [[]]),
    "amounts_differ": ("differs", ["net", "tax", "total", "due", "lines"], [[]]),
    "payment_only_in_source": ("differs", ["paid", "due", "state"], [[("only_in_source", (), "payment")]]),
    "payment_only_in_ledger": ("differs", ["paid", "due", "state"], [[("only_in_ledger", (), "payment")]]),
    "refund": ("matched", [], [[("matched", (), "payment"), ("matched", (), "refund")]]),
    "void_both": ("matched", [], [[]]),
    "void_source_only": ("differs", ["due", "state"], [[]]),
    "void_ledger_only": ("differs", ["due", "state"], [[]]),
    "duplicate_payment": (
        "differs",
        ["paid", "due"],
        [[("matched", (), "payment"), ("only_in_source", (), "payment")]],
    ),
    "payment_reference_differs": ("matched", [], [[("differs", ("reference",), "payment")]]),
    "payment_method_differs": ("matched", [], [[("differs", ("method",), "payment")]]),
    # the unreadable 12,50 payment still counts in accessplanit's AmountPaid; Xero has nothing
    "invalid_source_payment": ("differs", ["paid", "due", "state"], [[]]),
    # the allocation of a Xero overpayment / prepayment / credit note pairs with accessplanit's payment or credit
    "overpayment": ("matched", [], [PAID_ONCE]),
    "prepayment": ("matched", [], [PAID_ONCE]),
    "credit_allocation": ("matched", [], [PAID_ONCE]),
    # part paid, the rest credited by a credit note, part of which is refunded out of it
    "credit_refund": ("matched", [], [[*PAID_ONCE * 2, ("matched", (), "refund")]]),
}


@pytest.fixture(scope="module")
def month50() -> Dataset:
    return generate(seed=11, invoices=50)


@pytest.fixture(scope="module")
def month2000() -> Dataset:
    return generate(seed=3, invoices=2000, month="2026-02")  # February: the shortest month still fits


def q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def ms_to_date(value: str) -> date:
    match = MSDATE.match(value)
    assert match, value
    ms = int(match.group(1))
    assert ms % 86_400_000 == 0, f"date-only field not at UTC midnight: {value}"
    return date(1970, 1, 1) + timedelta(milliseconds=ms)


def in_month(d: date, month: str) -> bool:
    return d.strftime("%Y-%m") == month


# --- determinism -------------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_output(tmp_path: Path) -> None:
    a, b = generate(seed=42, invoices=300), generate(seed=42, invoices=300)
    assert a.accessplanit == b.accessplanit
    assert a.xero == b.xero
    assert a.expected == b.expected
    for ds, name in ((a, "a"), (b, "b")):
        write_fixtures(ds, tmp_path / name)
        write_expected(ds, tmp_path / name / "expected.json")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    assert len(files_a) == 15  # Overpayments and Prepayments too
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_seed_and_month_change_the_output() -> None:
    base = generate(seed=1, invoices=100)
    other_seed = generate(seed=2, invoices=100)
    other_month = generate(seed=1, invoices=100, month="2026-11")
    assert base.xero["Invoices"] != other_seed.xero["Invoices"]
    assert base.accessplanit["Invoice"] != other_seed.accessplanit["Invoice"]
    assert all(r["DateCreated"].startswith("2026-11-") for r in other_month.accessplanit["Invoice"])


def test_guids_are_real_uuid5_of_the_seed() -> None:
    guids = Guids(7)
    for name in ("invoice:0", "payment:12:1", "contact:Northfield Training Ltd", "ünïcode"):
        assert guids(name) == guids.reference(name)
        assert uuid.UUID(guids(name)).version == 5
    assert Guids(8)("invoice:0") != guids("invoice:0")


def test_the_oracle_imports_only_the_standard_library() -> None:
    """The 100% agreement test trusts the oracle because it shares no code: not the app's engine (import-linter
    guards that), and not the generator's scenarios or wire writers either (which would let a bug in how a month
    is built hide itself in what the month is expected to give)."""
    tree = ast.parse(Path(oracle.__file__).read_text("utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported, "no imports found: the check would pass for the wrong reason"
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {"__future__"}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate(invoices=10, month="October")
    with pytest.raises(ValueError):
        generate(invoices=-1)


# --- scenarios ---------------------------------------------------------------------------------------------------


def outcomes(ds: Dataset) -> dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
    """Invoice key -> (its invoice item, its payment items), leaving invalid items out."""
    by_key: dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]]] = defaultdict(lambda: (None, []))
    for item in ds.expected:
        if item["status"] == "invalid":
            continue
        if item["kind"] == "invoice":
            by_key[item["key"]] = (item, by_key[item["key"]][1])
        elif item["kind"] == "payment":
            by_key[item["invoice"]][1].append(item)
    return dict(by_key)


def check_scenarios(ds: Dataset) -> Counter[str]:
    found = outcomes(ds)
    seen: Counter[str] = Counter()
    invalid = [i for i in ds.expected if i["status"] == "invalid"]
    bad_payments = {i["invoice"] for i in invalid if i["kind"] == "payment"}
    bad_ledger_ids = {i["xero_id"] for i in invalid if i["kind"] == "invoice"}
    xero_by_number = {inv["InvoiceNumber"]: inv for inv in ds.xero["Invoices"]["Invoices"]}
    for key, scenario in ds.scenarios.items():
        seen[scenario] += 1
        if scenario == "invalid_ledger_invoice":
            assert key not in found, "a malformed record must have no counterpart"
            assert xero_by_number[key]["InvoiceID"] in bad_ledger_ids
            assert f"invalid:xero:invoice:{xero_by_number[key]['InvoiceID']}" in {i["key"] for i in invalid}
            continue
        invoice, pays = found[key]
        status, fields, payment_options = INTENDED[scenario]
        assert invoice is not None, (scenario, key)
        assert (invoice["status"], invoice["fields"]) == (status, fields), (scenario, invoice)
        got = sorted((p["status"], tuple(p["fields"]), p["direction"]) for p in pays)
        assert got in [sorted(option) for option in payment_options], (scenario, key, got)
        if scenario == "invalid_source_payment":
            assert key in bad_payments
    return seen


@pytest.mark.parametrize("fixture", ["month50", "month2000"])
def test_every_scenario_is_present_and_reconciles_as_intended(fixture: str, request: pytest.FixtureRequest) -> None:
    ds: Dataset = request.getfixturevalue(fixture)
    seen = check_scenarios(ds)
    assert set(seen) == set(SCENARIO_NAMES), set(SCENARIO_NAMES) - set(seen)
    assert sum(seen.values()) == len(ds.scenarios) == (50 if fixture == "month50" else 2000)


def test_credit_notes_are_items_of_their_own(month2000: Dataset) -> None:
    # A refund's credit note is used up (matched); a goodwill credit left unallocated is a ledger-only credit.
    notes = Counter(i["status"] for i in month2000.expected if i["kind"] == "credit_note")
    scenarios = Counter(month2000.scenarios.values())
    used_up = scenarios["refund"] + scenarios["credit_allocation"] + scenarios["credit_refund"]
    assert notes == {"matched": used_up, "only_in_ledger": scenarios["ledger_credit"]}
    assert scenarios["refund"] > 0 and scenarios["ledger_credit"] > 0
    by_id = {cn["CreditNoteID"]: cn for cn in month2000.xero["CreditNotes"]["CreditNotes"]}
    for item in (i for i in month2000.expected if i["kind"] == "credit_note"):
        cn = by_id[item["xero_id"]]
        assert item["key"] == f"{cn['CreditNoteNumber']}:X{cn['CreditNoteID']}"
        assert (cn["RemainingCredit"] > 0) == (item["status"] == "only_in_ledger")


def test_overpayments_prepayments_and_credit_notes_are_allocated_to_the_invoices_they_pay(month2000: Dataset) -> None:
    # Each allocation is the Xero side of a payment item, paired with accessplanit's payment (or logged credit) on
    # the allocated invoice, dated the credit's date; what an overpayment leaves over is a ledger-only item.
    scenarios = Counter(month2000.scenarios.values())
    xero = month2000.xero
    credits = {
        "overpayment": xero["Overpayments"]["Overpayments"],
        "prepayment": xero["Prepayments"]["Prepayments"],
        "credit_note": [c for c in xero["CreditNotes"]["CreditNotes"] if c["Allocations"]],
    }
    assert len(credits["overpayment"]) == scenarios["overpayment"] > 0
    assert len(credits["prepayment"]) == scenarios["prepayment"] > 0
    assert len(credits["credit_note"]) == scenarios["credit_allocation"] + scenarios["credit_refund"] > 0
    by_xero_id = {i["xero_id"]: i for i in month2000.expected if i["xero_id"]}
    transactions = {t["ID"]: t for t in month2000.accessplanit["Transaction"]}
    invoices = {i["InvoiceNumber"]: i for i in xero["Invoices"]["Invoices"]}
    for kind, records in credits.items():
        for credit in records:
            [allocation] = credit["Allocations"]
            number = allocation["Invoice"]["InvoiceNumber"]
            item = by_xero_id[allocation["AllocationID"]]
            assert (item["kind"], item["status"], item["invoice"]) == ("payment", "matched", number)
            assert item["date"] == ms_to_date(credit["Date"]).isoformat()
            tx = transactions[item["accessplanit_id"]]
            assert tx["Amount"] == allocation["Amount"] and tx["TransactionType"] == "Payment"
            assert (tx["TransactionMethodLabel"] == "Credit Note") == (kind == "credit_note")
            assert invoices[number]["AmountCredited"] >= allocation["Amount"]
            if kind == "credit_note":
                continue
            own = by_xero_id[credit[f"{kind.capitalize()}ID"]]
            assert own["kind"] == kind
            assert own["status"] == ("only_in_ledger" if credit["RemainingCredit"] > 0 else "matched")
    assert all(o["RemainingCredit"] > 0 for o in credits["overpayment"])
    assert all(p["RemainingCredit"] == 0 for p in credits["prepayment"])
    for prepayment in credits["prepayment"]:  # received on or before the issue day, allocated on it
        invoice = invoices[prepayment["Allocations"][0]["Invoice"]["InvoiceNumber"]]
        assert ms_to_date(prepayment["Date"]) <= ms_to_date(invoice["Date"])
    refunded = [c for c in credits["credit_note"] if c["Payments"]]
    assert len(refunded) == scenarios["credit_refund"]
    for note in refunded:  # allocated to what was due, the rest refunded out of it: nothing remains
        assert note["Total"] == note["Allocations"][0]["Amount"] + note["Payments"][0]["Amount"]
        assert note["RemainingCredit"] == 0 and by_xero_id[note["CreditNoteID"]]["status"] == "matched"


def test_combined_payments_are_one_transaction_and_one_batch(month2000: Dataset) -> None:
    combined = [t for t in month2000.accessplanit["Transaction"] if "TransactionInvoices" in t]
    batches = month2000.xero["BatchPayments"]["BatchPayments"]
    assert combined and len(combined) == len(batches)
    assert any(len(t["TransactionInvoices"]) == 3 for t in combined)
    parts = {f"{t['ID']}-{a['InvoiceID']}" for t in combined for a in t["TransactionInvoices"]}
    in_batch = {p["PaymentID"] for b in batches for p in b["Payments"]}
    paired = {i["accessplanit_id"]: i for i in month2000.expected if i["accessplanit_id"] in parts}
    assert paired.keys() == parts  # every allocation is a payment item of its own ...
    assert all(i["status"] == "matched" and i["xero_id"] in in_batch for i in paired.values())  # ... paired in Xero
    assert sum(b["TotalAmount"] for b in batches) == sum(t["Amount"] for t in combined)


def test_invalid_items_are_keyed_by_system_kind_and_id(month50: Dataset) -> None:
    invalid = {i["key"]: i for i in month50.expected if i["status"] == "invalid"}
    bad_tx = [t for t in month50.accessplanit["Transaction"] if t["Amount"] == "12,50"]
    bad_inv = [i for i in month50.xero["Invoices"]["Invoices"] if i["Date"] == "not a date"]
    assert len(bad_tx) >= 1 and len(bad_inv) >= 1
    assert set(invalid) == {f"invalid:accessplanit:payment:{t['ID']}" for t in bad_tx} | {
        f"invalid:xero:invoice:{i['InvoiceID']}" for i in bad_inv
    }
    for t in bad_tx:
        item = invalid[f"invalid:accessplanit:payment:{t['ID']}"]
        assert (item["kind"], item["accessplanit_id"], item["xero_id"]) == ("payment", t["ID"], None)
        assert item["fields"] == []
        assert "12,50" in item["reason"]


def test_scenario_rates_are_sensible(month2000: Dataset) -> None:
    invoices = Counter(i["status"] for i in month2000.expected if i["kind"] == "invoice")
    total = sum(invoices.values())
    assert invoices["matched"] / total > 0.6  # most of a month agrees
    assert 0.02 < invoices["only_in_source"] / total < 0.1
    assert 0.05 < invoices["differs"] / total < 0.3
    payments = Counter(i["status"] for i in month2000.expected if i["kind"] == "payment")
    assert payments["matched"] / sum(payments.values()) > 0.8


def test_small_months_do_not_break() -> None:
    assert generate(invoices=0).expected == []
    for n in (1, 5, 26, 27):
        ds = generate(seed=n, invoices=n)
        assert len(ds.scenarios) == n
        check_scenarios(ds)
        check_accessplanit_books(ds)
        check_xero_books(ds)


# --- internal consistency of each side -----------------------------------------------------------------------------


def amount_of(tx: dict[str, Any]) -> Decimal:
    value = tx["Amount"]
    return Decimal(value.replace(",", ".")) if isinstance(value, str) else value  # "12,50" is 12.50 to a person


def check_accessplanit_books(ds: Dataset) -> None:
    ap = ds.accessplanit
    items = defaultdict(list)
    for item in ap["InvoiceItem"]:
        items[item["InvoiceID"]].append(item)
    txs = defaultdict(list)
    for tx in ap["Transaction"]:
        if "TransactionInvoices" in tx:  # a combined payment: each invoice is paid its allocation
            assert sum(a["Amount"] for a in tx["TransactionInvoices"]) == tx["Amount"]
            for a in tx["TransactionInvoices"]:
                txs[a["InvoiceID"]].append({**tx, "InvoiceID": a["InvoiceID"], "Amount": a["Amount"]})
        else:
            txs[tx["InvoiceID"]].append(tx)
    methods = {m["ID"]: m["Label"] for m in ap["TransactionMethod"]}
    for inv in ap["Invoice"]:
        lines = items[inv["ID"]]
        assert lines, inv["ID"]
        nets = [line["Amount"] - line["Tax"] for line in lines]
        for line, net in zip(lines, nets, strict=True):
            assert line["Tax"] == q(net * Decimal("0.2")), line  # line VAT rounded per line
        assert inv["Amount"] == sum(nets)
        assert inv["Tax"] == q(inv["Amount"] * Decimal("0.2"))  # invoice VAT rounded once, on the document
        paid = sum(
            (amount_of(t) if t["TransactionType"] == "Payment" else -amount_of(t) for t in txs[inv["ID"]]), Decimal(0)
        )
        gross = inv["Amount"] + inv["Tax"]
        if inv["Status"] == "Cancelled":
            assert (inv["AmountPaid"], inv["Outstanding"], paid) == (0, 0, 0)
        else:
            assert inv["AmountPaid"] == paid
            assert inv["Outstanding"] == gross - paid
            expected_status = "Paid" if inv["Outstanding"] == 0 else "Part Paid" if paid > 0 else "Outstanding"
            assert inv["Status"] == expected_status, inv
            assert 0 <= paid <= gross
        assert in_month(date.fromisoformat(inv["DateCreated"][:10]), ds.month)
        assert in_month(date.fromisoformat(inv["DateDue"][:10]), ds.month)
        assert inv["DateDue"] >= inv["DateCreated"][:10]
        for tx in txs[inv["ID"]]:
            assert in_month(date.fromisoformat(tx["TransactionDate"][:10]), ds.month)
            assert methods[tx["TransactionMethodID"]] == tx["TransactionMethodLabel"]
            assert tx["CurrencyCode"] == inv["CurrencyCode"]


def check_xero_books(ds: Dataset) -> None:
    payments = defaultdict(list)
    refunds = defaultdict(list)
    for pay in ds.xero["Payments"]["Payments"]:
        assert pay["Status"] == "AUTHORISED"
        assert in_month(ms_to_date(pay["Date"]), ds.month)
        if pay["PaymentType"] == "ACCRECPAYMENT":
            payments[pay["Invoice"]["InvoiceID"]].append(pay)
        else:
            assert pay["PaymentType"] == "ARCREDITPAYMENT"
            assert pay["Invoice"]["Type"] == "ACCRECCREDIT"
            refunds[pay["Invoice"]["InvoiceID"]].append(pay)
    invoices_by_number = {inv["InvoiceNumber"]: inv for inv in ds.xero["Invoices"]["Invoices"]}
    credited: defaultdict[str, Decimal] = defaultdict(Decimal)  # invoice id -> allocated to it by credits
    allocated_notes = [cn for cn in ds.xero["CreditNotes"]["CreditNotes"] if cn["Allocations"]]
    for credit in [*allocated_notes, *ds.xero["Overpayments"]["Overpayments"], *ds.xero["Prepayments"]["Prepayments"]]:
        assert credit["LineAmountTypes"] == "NoTax" and credit["TotalTax"] == 0  # money received or credited as is
        assert credit["Total"] == credit["SubTotal"] == sum(line["LineAmount"] for line in credit["LineItems"])
        allocated = sum(a["Amount"] for a in credit["Allocations"])
        paid_out = sum(p["Amount"] for p in credit["Payments"])
        assert credit["RemainingCredit"] == credit["Total"] - allocated - paid_out >= 0
        for a in credit["Allocations"]:
            credited[a["Invoice"]["InvoiceID"]] += a["Amount"]
            assert invoices_by_number[a["Invoice"]["InvoiceNumber"]]["InvoiceID"] == a["Invoice"]["InvoiceID"]
    for cn in ds.xero["CreditNotes"]["CreditNotes"]:
        if cn["Allocations"]:
            continue  # checked above
        check_lines(cn)
        paid_out = sum(p["Amount"] for p in refunds[cn["CreditNoteID"]])
        assert cn["RemainingCredit"] == cn["Total"] - paid_out
        if paid_out:  # a refund: used up, naming the refunded invoice by number
            assert cn["RemainingCredit"] == 0 and cn["Reference"] in invoices_by_number
        else:  # a goodwill credit: unallocated, naming no invoice
            assert cn["Status"] == "AUTHORISED" and cn["Reference"] == "" and cn["RemainingCredit"] > 0
        assert [p["PaymentID"] for p in cn["Payments"]] == [p["PaymentID"] for p in refunds[cn["CreditNoteID"]]]
    for inv in ds.xero["Invoices"]["Invoices"]:
        assert (inv["Type"], inv["LineAmountTypes"]) == ("ACCREC", "Exclusive")
        check_lines(inv)
        mine = payments[inv["InvoiceID"]]
        assert [p["PaymentID"] for p in inv["Payments"]] == [p["PaymentID"] for p in mine]
        assert all(p["Invoice"]["InvoiceNumber"] == inv["InvoiceNumber"] for p in mine)
        paid = sum((p["Amount"] for p in mine), Decimal(0))
        if inv["Status"] == "VOIDED":
            assert (inv["AmountPaid"], inv["AmountDue"], paid) == (0, 0, 0)
            continue
        if inv["Status"] == "DELETED":
            assert paid == 0
            continue
        assert inv["AmountPaid"] == paid and inv["AmountCredited"] == credited[inv["InvoiceID"]]
        assert inv["AmountDue"] == inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]
        settled = paid + inv["AmountCredited"]
        assert inv["Status"] == ("PAID" if inv["AmountDue"] == 0 and settled > 0 else "AUTHORISED")
        if inv["Date"] != "not a date":
            assert in_month(ms_to_date(inv["Date"]), ds.month)
            assert inv["DateString"] == ms_to_date(inv["Date"]).isoformat() + "T00:00:00"
        assert in_month(ms_to_date(inv["DueDate"]), ds.month)
        assert inv["DueDateString"] == ms_to_date(inv["DueDate"]).isoformat() + "T00:00:00"


def check_lines(doc: dict[str, Any]) -> None:
    for line in doc["LineItems"]:
        assert line["LineAmount"] == line["Quantity"] * line["UnitAmount"]
        assert line["TaxAmount"] == q(line["LineAmount"] * Decimal("0.2"))  # Xero: per line, half up
        assert (line["AccountCode"], line["TaxType"]) == ("200", "OUTPUT2")
    assert doc["SubTotal"] == sum(line["LineAmount"] for line in doc["LineItems"])
    assert doc["TotalTax"] == sum(line["TaxAmount"] for line in doc["LineItems"])
    assert doc["Total"] == doc["SubTotal"] + doc["TotalTax"]


def test_each_side_keeps_consistent_books(month2000: Dataset) -> None:
    check_accessplanit_books(month2000)
    check_xero_books(month2000)


def test_one_cent_rounding_is_real_and_matched(month2000: Dataset) -> None:
    ap = {i["Reference"]: i for i in month2000.accessplanit["Invoice"]}
    xero = {i["InvoiceNumber"]: i for i in month2000.xero["Invoices"]["Invoices"]}
    rounded = [k for k, s in month2000.scenarios.items() if s == "rounding_one_cent"]
    assert rounded
    for key in rounded:
        assert xero[key]["TotalTax"] - ap[key]["Tax"] == CENT  # per-line tax is one penny more
        assert xero[key]["Total"] - (ap[key]["Amount"] + ap[key]["Tax"]) == CENT
    statuses = {i["key"]: i["status"] for i in month2000.expected}
    assert {statuses[k] for k in rounded} == {"matched"}


def test_refunds_go_through_a_credit_note_that_names_the_invoice(month2000: Dataset) -> None:
    refunded = {k for k, s in month2000.scenarios.items() if s in ("refund", "credit_refund")}
    notes = [cn for cn in month2000.xero["CreditNotes"]["CreditNotes"] if cn["Payments"]]
    assert {cn["Reference"] for cn in notes} == refunded
    ap_refunds = [t for t in month2000.accessplanit["Transaction"] if t["TransactionType"] == "Refund"]
    assert len(ap_refunds) == len(notes)
    ap_status = {i["Reference"]: i["Status"] for i in month2000.accessplanit["Invoice"]}
    xero_status = {i["InvoiceNumber"]: i["Status"] for i in month2000.xero["Invoices"]["Invoices"]}
    assert {ap_status[k] for k in refunded} == {"Part Paid"}  # accessplanit lowers AmountPaid
    assert {xero_status[k] for k in refunded} == {"PAID"}  # Xero leaves the invoice alone


# --- wire shapes --------------------------------------------------------------------------------------------------

AP_FIELDS = {
    "Invoice": {
        "ID",
        "Reference",
        "Amount",
        "Tax",
        "TaxRate",
        "AmountPaid",
        "Outstanding",
        "Status",
        "CurrencyCode",
        "DateCreated",
        "DateDue",
        "DateUpdated",
        "TargetIDType",
        "TargetID",
        "TargetLabel",
        "CompanyName",
        "PONumber",
    },
    "InvoiceItem": {"ID", "InvoiceID", "DynamicLabel", "Amount", "Tax"},
    "Transaction": {
        "ID",
        "InvoiceID",
        "TransactionType",
        "Amount",
        "TransactionMethodID",
        "TransactionMethodLabel",
        "TransactionDate",
        "Reference",
        "CurrencyCode",
        "DateCreated",
        "DateUpdated",
    },
    "TransactionMethod": {"ID", "Label"},
}
AP_MONEY = {"Amount", "Tax", "AmountPaid", "Outstanding"}
AP_DATES = {"DateCreated", "DateDue", "DateUpdated", "TransactionDate"}


def test_accessplanit_records_have_the_documented_wire_shape(month2000: Dataset) -> None:
    for module, records in month2000.accessplanit.items():
        assert records, module
        for rec in records:
            shape = set(rec) - {"TransactionInvoices"}  # allocation lines of a combined payment, when there are any
            assert shape == AP_FIELDS[module], (module, shape ^ AP_FIELDS[module])
            assert rec["ID"].isdigit()
            for name in AP_MONEY & set(rec):
                value = rec[name]
                if value == "12,50":
                    continue  # the deliberately malformed record
                assert type(value) is Decimal and value == q(value) and value.as_tuple().exponent == -2, (rec, name)
            for name in AP_DATES & set(rec):
                assert ISO_NO_OFFSET.match(rec[name]), (module, name, rec[name])
    statuses = Counter(i["Status"] for i in month2000.accessplanit["Invoice"])
    assert set(statuses) <= {"Outstanding", "Part Paid", "Paid", "Cancelled", "Credited"}
    assert {t["TransactionType"] for t in month2000.accessplanit["Transaction"]} == {"Payment", "Refund"}
    labels = {m["Label"] for m in month2000.accessplanit["TransactionMethod"]}
    assert labels == {*METHOD_ACCOUNTS, "Credit Note"}  # credits logged on a booking have no bank account
    assert all(len(i["PONumber"] or "") <= 50 for i in month2000.accessplanit["Invoice"])


def test_xero_records_use_guids_and_ms_dates(month2000: Dataset) -> None:
    for inv in month2000.xero["Invoices"]["Invoices"]:
        assert GUID.match(inv["InvoiceID"]) and GUID.match(inv["Contact"]["ContactID"])
        assert all(GUID.match(li["LineItemID"]) for li in inv["LineItems"])
        assert MSDATE.match(inv["UpdatedDateUTC"])
    for pay in month2000.xero["Payments"]["Payments"]:
        assert GUID.match(pay["PaymentID"]) and GUID.match(pay["Account"]["AccountID"])
        assert pay["Account"]["Code"] in METHOD_ACCOUNTS.values()
    currencies = {i["CurrencyCode"] for i in month2000.xero["Invoices"]["Invoices"]}
    assert "GBP" in currencies and currencies & {"EUR", "USD"}


@pytest.fixture(scope="module")
def xero_spec() -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = yaml.load(fh, Loader=loader)  # a safe loader, C-accelerated when available
    return spec


def test_xero_envelopes_validate_against_the_openapi_schemas(
    month50: Dataset, tmp_path: Path, xero_spec: dict[str, Any]
) -> None:
    from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

    write_fixtures(month50, tmp_path)
    names = ("Invoices", "Payments", "CreditNotes", "Overpayments", "Prepayments", "Contacts", "TaxRates", "Accounts")
    for name in (*names, "Organisation"):
        envelope = json.loads((tmp_path / "xero" / f"{name}.json").read_text("utf-8"))  # as a JSON client sees it
        schema_name = "Organisations" if name == "Organisation" else name
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": xero_spec["components"]}
        validator = OAS30ReadValidator(schema, format_checker=oas30_format_checker)
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(envelope)]
        assert errors == [], (name, errors[:5])
    # the validator can fail: a wrong type in a copy is caught
    broken = json.loads((tmp_path / "xero" / "Invoices.json").read_text("utf-8"))
    broken["Invoices"][0]["Status"] = "SETTLED"
    schema = {"$ref": "#/components/schemas/Invoices", "components": xero_spec["components"]}
    assert list(OAS30ReadValidator(schema, format_checker=oas30_format_checker).iter_errors(broken))


# --- files ----------------------------------------------------------------------------------------------------------


def test_fixtures_keep_money_exact_and_round_trip_to_the_same_expected_items(month50: Dataset, tmp_path: Path) -> None:
    write_fixtures(month50, tmp_path)
    write_expected(month50, tmp_path / "expected.json")
    assert sorted(p.name for p in (tmp_path / "accessplanit").iterdir()) == [
        "Invoice.json",
        "InvoiceItem.json",
        "Transaction.json",
        "TransactionMethod.json",
    ]
    raw = (tmp_path / "accessplanit" / "Transaction.json").read_text("utf-8")
    assert '"Amount":"12,50"' in raw  # the malformed value stays a string
    assert re.search(r'"Amount":\d+\.\d\d,', raw)  # money as JSON numbers with pence, never quoted
    data = load_fixtures(tmp_path)  # the servers' reader, which `--check` uses too
    ap, xero = data["accessplanit"], data["xero"]
    assert ap == month50.accessplanit and xero == month50.xero
    assert expected_items(ap, xero) == month50.expected
    written = json.loads((tmp_path / "expected.json").read_text("utf-8"))
    assert written["items"] == month50.expected and written["period"] == month50.month


def test_missing_fixture_files_are_empty_collections(tmp_path: Path) -> None:
    data = load_fixtures(tmp_path)
    assert data == {"accessplanit": {}, "xero": {}}
    assert expected_items(data["accessplanit"], data["xero"]) == []


# --- the oracle's rules on hand-made records ---------------------------------------------------------------------


def ap_invoice(rid: str, number: str, **kw: Any) -> dict[str, Any]:
    rec = {
        "ID": rid,
        "Reference": number,
        "Amount": Decimal("100.00"),
        "Tax": Decimal("20.00"),
        "AmountPaid": Decimal("0.00"),
        "Outstanding": Decimal("120.00"),
        "Status": "Outstanding",
        "CurrencyCode": "GBP",
        "DateCreated": "2026-10-01T10:00:00",
        "DateDue": "2026-10-15T00:00:00",
        "TargetLabel": "Acme Ltd",
        "CompanyName": "Acme Ltd",
        "PONumber": None,
    }
    rec.update(kw)
    return rec


def x_invoice(rid: str, number: str, **kw: Any) -> dict[str, Any]:
    rec = {
        "Type": "ACCREC",
        "InvoiceID": rid,
        "InvoiceNumber": number,
        "Reference": "",
        "Status": "AUTHORISED",
        "Contact": {"Name": "ACME  LTD"},
        "Date": "/Date(1790812800000+0000)/",
        "DueDate": "/Date(1792022400000+0000)/",
        "CurrencyCode": "GBP",
        "LineAmountTypes": "Exclusive",
        "LineItems": [{"Description": "Course", "LineAmount": Decimal("100.00"), "TaxAmount": Decimal("20.00")}],
        "SubTotal": Decimal("100.00"),
        "TotalTax": Decimal("20.00"),
        "Total": Decimal("120.00"),
        "AmountPaid": Decimal("0.00"),
        "AmountCredited": Decimal("0.00"),
        "AmountDue": Decimal("120.00"),
    }
    rec.update(kw)
    return rec


def ap_item(rid: str, inv: str) -> dict[str, Any]:
    return {"ID": rid, "InvoiceID": inv, "DynamicLabel": "course", "Amount": Decimal("120.00"), "Tax": Decimal("20.00")}


def tx(rid: str, amount: str, day: int, ref: str, label: str = "BACS", kind: str = "Payment") -> dict[str, Any]:
    return {
        "ID": rid,
        "InvoiceID": "1",
        "TransactionType": kind,
        "Amount": Decimal(amount),
        "TransactionMethodLabel": label,
        "TransactionDate": f"2026-10-{day:02d}T00:00:00",
        "Reference": ref,
    }


def xpay(pid: str, amount: str, day: int, ref: str, code: str = "090") -> dict[str, Any]:
    ms = (date(2026, 10, day) - date(1970, 1, 1)).days * 86_400_000
    return {
        "PaymentID": pid,
        "PaymentType": "ACCRECPAYMENT",
        "Status": "AUTHORISED",
        "Date": f"/Date({ms}+0000)/",
        "Amount": Decimal(amount),
        "Reference": ref,
        "Account": {"Code": code},
        "Invoice": {"InvoiceNumber": "INV-1"},
    }


Rec = dict[str, Any]


def run(
    ap_invoices: Sequence[Rec],
    x_invoices: Sequence[Rec],
    txs: Sequence[Rec] = (),
    xpays: Sequence[Rec] = (),
    items: Sequence[Rec] | None = None,
    notes: Sequence[Rec] = (),
) -> dict[str, Rec]:
    """The oracle's items, by key, for a few hand-made records (one accessplanit line unless given)."""
    ap = {
        "Invoice": list(ap_invoices),
        "InvoiceItem": list(items) if items is not None else [ap_item("9", "1")],
        "Transaction": list(txs),
    }
    xero = {
        "Invoices": {"Invoices": list(x_invoices)},
        "Payments": {"Payments": list(xpays)},
        "CreditNotes": {"CreditNotes": list(notes)},
    }
    return {i["key"]: i for i in expected_items(ap, xero)}


def test_oracle_normalizes_number_and_contact_and_applies_tolerance() -> None:
    ledger = [x_invoice("g", "INV-1")]
    got = run([ap_invoice("1", " inv-1 ", Tax=Decimal("19.99"), Outstanding=Decimal("119.99"))], ledger)
    assert got["INV-1"]["status"] == "matched"  # 0.01 apart in tax, total and due
    got = run([ap_invoice("1", "INV-1", Tax=Decimal("19.98"), Outstanding=Decimal("119.98"))], ledger)
    assert got["INV-1"]["fields"] == ["tax", "total", "due"]


def test_oracle_pairs_payments_in_tiers_and_orders_fields() -> None:
    paid = {"AmountPaid": Decimal("120.00"), "Outstanding": Decimal("0.00"), "Status": "Paid"}
    xpaid = {"AmountPaid": Decimal("120.00"), "AmountDue": Decimal("0.00"), "Status": "PAID"}
    got = run(
        [ap_invoice("1", "INV-1", **paid)],
        [x_invoice("g", "INV-1", **xpaid)],
        txs=[tx("10", "60.00", 5, "A"), tx("11", "60.00", 6, "B", label="Card")],
        xpays=[xpay("x2", "60.00", 6, "A"), xpay("x1", "60.00", 9, "B")],
    )
    # tier 2 (same amount and reference) wins over tier 3 (same amount and date) for both
    assert got["INV-1:P10:Xx2"]["fields"] == ["date"]
    assert got["INV-1:P11:Xx1"]["fields"] == ["date", "method"]  # Card maps to 091, not 090
    assert got["INV-1"]["status"] == "matched"
    got = run(
        [ap_invoice("1", "INV-1", **paid)],
        [x_invoice("g", "INV-1", **xpaid)],
        txs=[tx("10", "120.00", 5, "A", label="Barter")],
        xpays=[xpay("x1", "99.00", 5, "a ")],
    )
    assert got["INV-1:P10:Xx1"]["fields"] == ["amount", "method"]  # tier 4; references compare trimmed, folded


def test_oracle_refund_without_credit_note_reference_belongs_to_no_invoice() -> None:
    refund = xpay("r1", "12.00", 7, "R") | {"PaymentType": "ARCREDITPAYMENT", "Invoice": {"InvoiceID": "cn1"}}
    got = run(
        [ap_invoice("1", "INV-1")],
        [x_invoice("g", "INV-1")],
        xpays=[refund],
        notes=[{"CreditNoteID": "cn1", "Reference": ""}],
    )
    assert got["?:-:Xr1"]["status"] == "only_in_ledger"
    assert got["INV-1"]["status"] == "matched"  # R counts only for the invoice the credit note names


def test_oracle_marks_duplicates_unknown_states_and_bad_dates_invalid() -> None:
    got = run(
        [ap_invoice("2", "INV-1"), ap_invoice("10", "INV-1"), ap_invoice("3", "INV-3", Status="Written off")],
        [
            x_invoice("g", "INV-1", Status="DRAFT"),
            x_invoice("h", "INV-9", DueDate="31/10/2026"),
            x_invoice("d", "INV-3", Status="DELETED"),
        ],
        items=[ap_item("9", "2"), ap_item("8", "10")],
    )
    assert got["invalid:accessplanit:invoice:10"]["reason"] == "duplicate invoice number"
    assert got["INV-1"]["fields"] == ["state"] and got["INV-1"]["accessplanit_id"] == "2"  # lowest id takes part
    assert "invalid:accessplanit:invoice:3" in got and "INV-3" not in got  # DELETED is a tombstone
    assert "invalid:xero:invoice:h" in got
    # the same records in the other order: still the lowest id (numerically: 2 < 10) takes part
    got = run(
        [ap_invoice("10", "INV-1"), ap_invoice("2", "INV-1")],
        [x_invoice("g", "INV-1")],
        items=[ap_item("9", "2"), ap_item("8", "10")],
    )
    assert got["INV-1"]["accessplanit_id"] == "2" and "invalid:accessplanit:invoice:10" in got


# --- the expected counts ---------------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), invoices=st.integers(50, 400))
def test_expected_counts_are_stable_and_add_up(seed: int, invoices: int) -> None:
    ds = generate(seed=seed, invoices=invoices)
    counts = Counter(i["status"] for i in ds.expected)
    assert set(counts) <= STATUSES
    assert sum(counts.values()) == len(ds.expected)
    assert len({i["key"] for i in ds.expected}) == len(ds.expected)  # keys are unique
    invoice_items = [i for i in ds.expected if i["kind"] == "invoice" and i["status"] != "invalid"]
    assert (
        len(invoice_items)
        + counts["invalid"]
        - sum(1 for i in ds.expected if i["status"] == "invalid" and i["kind"] == "payment")
        == invoices
    )  # one item per invoice slot (a malformed invoice is its invalid item)
    payments = sum(len(t.get("TransactionInvoices") or [t]) for t in ds.accessplanit["Transaction"])
    payments += len(ds.xero["Payments"]["Payments"])
    credits = ("CreditNotes", "Overpayments", "Prepayments")
    payments += sum(len(c["Allocations"]) for name in credits for c in ds.xero[name][name])  # each a payment
    pay_items = [i for i in ds.expected if i["kind"] == "payment"]
    assert payments == sum(2 if i["accessplanit_id"] and i["xero_id"] else 1 for i in pay_items)
    assert Counter(i["status"] for i in generate(seed=seed, invoices=invoices).expected) == counts
    assert check_scenarios(ds).keys() == set(SCENARIO_NAMES)


def test_the_side_edited_last_has_the_later_update_stamp(month2000: Dataset) -> None:
    ap = {i["Reference"]: i["DateUpdated"] for i in month2000.accessplanit["Invoice"]}
    xero = {i["InvoiceNumber"]: ms_to_instant(i["UpdatedDateUTC"]) for i in month2000.xero["Invoices"]["Invoices"]}
    for key, scenario in month2000.scenarios.items():
        if scenario in ("po_changed_source", "due_changed_source"):
            assert ap[key] > xero[key], (scenario, key)
        elif scenario in ("po_changed_ledger", "due_changed_ledger", "amounts_differ", "void_ledger_only"):
            assert xero[key] > ap[key], (scenario, key)


def ms_to_instant(value: str) -> str:
    """`/Date(ms+0000)/` as the accessplanit-style ISO string (both are UK winter time = UTC in February)."""
    match = MSDATE.match(value)
    assert match, value
    return (datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)))).isoformat()


def test_command_line_writes_fixtures_and_checks_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        gen.main(
            [
                "--seed",
                "5",
                "--invoices",
                "60",
                "--fixtures",
                str(tmp_path / "f"),
                "--expected",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["invoices"] == 60 and sum(made["statuses"].values()) == made["items"]
    assert gen.main(["--check", str(tmp_path / "f"), "--expected", str(tmp_path / "again.json")]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["statuses"] == made["statuses"]
    first = json.loads((tmp_path / "e.json").read_text("utf-8"))["items"]
    assert json.loads((tmp_path / "again.json").read_text("utf-8"))["items"] == first
    assert first == generate(seed=5, invoices=60).expected


def test_output_does_not_depend_on_the_interpreters_hash_seed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = tmp_path / hash_seed
        cmd = [
            sys.executable,
            "-m",
            "app.sandbox.generator",
            "--seed",
            "4",
            "--invoices",
            "120",
            "--fixtures",
            str(out),
            "--expected",
            str(out / "expected.json"),
        ]
        subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True)
    for path in sorted((tmp_path / "1").rglob("*.json")):
        assert path.read_bytes() == (tmp_path / "2" / path.relative_to(tmp_path / "1")).read_bytes(), path


# --- contacts carry an update stamp, so If-Modified-Since can leave them out -----------------------------------


def test_contacts_have_a_deterministic_update_stamp_within_the_month(month2000: Dataset) -> None:
    contacts = month2000.xero["Contacts"]["Contacts"]
    assert contacts
    first = datetime(2026, 2, 1)
    stamps = []
    for contact in contacts:
        match = MSDATE.match(contact["UpdatedDateUTC"])
        assert match, contact
        moment = datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)))
        assert first <= moment < datetime(2026, 3, 1), contact
        stamps.append(moment)
    assert len(set(stamps)) > len(stamps) // 2  # spread over the month, not one shared stamp
    again = generate(seed=3, invoices=2000, month="2026-02").xero["Contacts"]["Contacts"]
    assert [c["UpdatedDateUTC"] for c in again] == [c["UpdatedDateUTC"] for c in contacts]


def test_the_xero_emulator_leaves_contacts_out_by_if_modified_since(month50: Dataset) -> None:
    import requests

    from app.sandbox.common import loads, serve
    from app.sandbox.xero import XeroApp

    contacts = month50.xero["Contacts"]["Contacts"]
    ms = sorted(int(MSDATE.match(c["UpdatedDateUTC"]).group(1)) for c in contacts)  # type: ignore[union-attr]
    since = ms[len(ms) // 2]
    want = sorted(c["ContactID"] for c in contacts if int(c["UpdatedDateUTC"][6:-7]) >= since)
    assert 0 < len(want) < len(contacts)
    with serve(XeroApp(month50.xero, "client", "secret")) as server:
        token = requests.post(
            server.url + "/connect/token",
            data={"grant_type": "client_credentials"},
            auth=("client", "secret"),
            timeout=5,
        ).json()["access_token"]
        app_tenant = requests.get(server.url + "/connections", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        headers = {
            "Authorization": f"Bearer {token}",
            "xero-tenant-id": app_tenant.json()[0]["tenantId"],
            "Accept": "application/json",
        }

        def contact_ids(extra: dict[str, str]) -> list[str]:
            r = requests.get(server.url + "/api.xro/2.0/Contacts", headers={**headers, **extra}, timeout=5)
            assert r.status_code == 200, r.text
            return sorted(c["ContactID"] for c in loads(r.content)["Contacts"])

        assert contact_ids({}) == sorted(c["ContactID"] for c in contacts)
        stamp = datetime(1970, 1, 1) + timedelta(milliseconds=since)
        assert contact_ids({"If-Modified-Since": stamp.strftime("%Y-%m-%dT%H:%M:%S")}) == want
        later = datetime(1970, 1, 1) + timedelta(milliseconds=ms[-1] + 1000)
        assert contact_ids({"If-Modified-Since": later.strftime("%Y-%m-%dT%H:%M:%S")}) == []

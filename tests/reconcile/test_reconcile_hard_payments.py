"""The hard payments in the engine (docs/reconciliation.md section 8): a combined payment's parts pair per
invoice; credit notes are items of their own; a foreign invoice is compared in its own currency."""

from __future__ import annotations

from datetime import date

from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.records import CreditNote
from app.domain.status import ItemStatus, Kind, System
from app.reconcile.engine import reconcile
from app.reconcile.rules import Rules


def _note(number: str, total: str, remaining: str, status: str = "AUTHORISED", ref: str = "") -> CreditNote:
    return CreditNote(
        System.XERO, f"cn-{number}", number, ref, "Acme", date(2026, 10, 9), "GBP", D(total), D(remaining), status
    )


def test_each_part_of_a_combined_payment_pairs_with_the_ledger_payment_on_its_invoice() -> None:
    invoices = [ap_inv("INV-1", "1"), ap_inv("INV-2", "2")]
    ledger = [xe_inv("INV-1", "x1"), xe_inv("INV-2", "x2")]
    parts = [  # one transaction 88 of 300.00: 120.00 on INV-1, 180.00 on INV-2
        ap_pay("88-1", "INV-1", amount=D("120.00"), group="88"),
        ap_pay("88-2", "INV-2", amount=D("180.00"), group="88"),
    ]
    batch = [  # a batch payment: one payment per invoice, the larger one first
        xe_pay("p2", "INV-2", amount=D("180.00"), group="b1"),
        xe_pay("p1", "INV-1", amount=D("120.00"), group="b1"),
    ]
    items = reconcile(
        source_invoices=invoices,
        ledger_invoices=ledger,
        source_payments=parts,
        ledger_payments=batch,
        invalid=[],
        rules=Rules(),
    )
    pays = {i.key: i for i in items if i.kind is Kind.PAYMENT}
    assert set(pays) == {"INV-1:P88-1:Xp1", "INV-2:P88-2:Xp2"}
    assert all(i.status is ItemStatus.MATCHED and i.tier == 1 for i in pays.values())
    assert {(i.source.group, i.ledger.group) for i in pays.values() if i.source and i.ledger} == {("88", "b1")}


def test_credit_notes_are_items_matched_when_used_up_and_ledger_only_while_credit_remains() -> None:
    notes = [
        _note("CN-1", "60.00", "0.00", "PAID", ref="INV-1"),  # refunded in full
        _note("CN-2", "120.00", "40.00"),  # 80.00 allocated, 40.00 left: a ledger-only credit
        _note("CN-3", "12.00", "0.01"),  # within the tolerance: used up
        _note("CN-4", "50.00", "50.00", "DRAFT"),  # not approved: no item
        _note("CN-5", "50.00", "50.00", "VOIDED"),
    ]
    items = reconcile(
        source_invoices=[],
        ledger_invoices=[],
        source_payments=[],
        ledger_payments=[],
        invalid=[],
        rules=Rules(),
        ledger_credit_notes=notes,
    )
    got = {i.key: (i.kind, i.status, i.invoice_key, i.period) for i in items}
    assert got == {
        "CN-1:Xcn-CN-1": (Kind.CREDIT_NOTE, ItemStatus.MATCHED, "INV-1", "2026-10"),
        "CN-2:Xcn-CN-2": (Kind.CREDIT_NOTE, ItemStatus.ONLY_IN_LEDGER, "", "2026-10"),
        "CN-3:Xcn-CN-3": (Kind.CREDIT_NOTE, ItemStatus.MATCHED, "", "2026-10"),
    }
    assert all(i.credit_note is not None and i.source is None and i.ledger is None for i in items)
    assert all(i.comparisons == () for i in items)


def test_a_foreign_invoice_is_compared_in_its_own_currency_whatever_its_rate() -> None:
    eur = {"currency": "EUR", "net": D("100.00"), "tax": D("20.00"), "total": D("120.00"), "due": D("120.00")}
    items = reconcile(
        source_invoices=[ap_inv("INV-9", "9", **eur)],
        ledger_invoices=[xe_inv("INV-9", "x9", rate=D("1.152300"), **eur)],
        source_payments=[],
        ledger_payments=[],
        invalid=[],
        rules=Rules(),
    )
    [item] = items
    assert item.status is ItemStatus.MATCHED  # 120.00 EUR against 120.00 EUR: nothing converted
    assert item.ledger is not None and getattr(item.ledger, "rate", None) == D("1.152300")


def _credit(kind: Kind, total: str, remaining: str, ref: str = "BACS 7", first: str = "INV-1") -> CreditNote:
    cid = f"{kind.value}-1"
    return CreditNote(
        System.XERO, cid, ref, first, "Acme", date(2026, 10, 9), "GBP", D(total), D(remaining), "AUTHORISED", kind=kind
    )


def test_an_overpayments_allocation_pairs_with_the_source_payment_and_its_remainder_is_an_item() -> None:
    # Paid 550.00 for a 500.00 invoice: Xero allocates 500.00 of the overpayment to INV-1 and keeps 50.00.
    allocation = xe_pay("al-1", "INV-1", amount=D("500.00"), method="", reference="BACS 7", group="overpayment:op-1")
    items = reconcile(
        source_invoices=[ap_inv("INV-1", "1")],
        ledger_invoices=[xe_inv("INV-1", "x1")],
        source_payments=[ap_pay("88", "INV-1", amount=D("500.00"), method="BACS", reference="BACS 7")],
        ledger_payments=[allocation],
        invalid=[],
        rules=Rules(),
        ledger_credit_notes=[_credit(Kind.OVERPAYMENT, "550.00", "50.00"), _credit(Kind.PREPAYMENT, "80.00", "0")],
    )
    got = {i.key: (i.kind, i.status, i.fields, i.invoice_key) for i in items if i.kind is not Kind.INVOICE}
    assert got == {
        "INV-1:P88:Xal-1": (Kind.PAYMENT, ItemStatus.MATCHED, (), "INV-1"),  # no account: the method is not compared
        "BACS7:Xoverpayment-1": (Kind.OVERPAYMENT, ItemStatus.ONLY_IN_LEDGER, (), "INV-1"),
        "BACS7:Xprepayment-1": (Kind.PREPAYMENT, ItemStatus.MATCHED, (), "INV-1"),
    }


def test_a_ledger_payment_of_money_still_has_its_method_compared() -> None:
    # The same pair without the allocation's group: an empty account code differs from BACS's 090.
    items = reconcile(
        source_invoices=[ap_inv("INV-1", "1")],
        ledger_invoices=[xe_inv("INV-1", "x1")],
        source_payments=[ap_pay("88", "INV-1", amount=D("500.00"), method="BACS", reference="BACS 7")],
        ledger_payments=[xe_pay("p1", "INV-1", amount=D("500.00"), method="", reference="BACS 7")],
        invalid=[],
        rules=Rules(),
    )
    [item] = [i for i in items if i.kind is Kind.PAYMENT]
    assert (item.status, item.fields) == (ItemStatus.DIFFERS, ("method",))

"""The engine (docs/reconciliation.md sections 1-6): statuses, keys, invalid records, duplicates, tombstones,
refunds, periods, and that it scales by grouping rather than by comparing everything with everything."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from reconcile_builders import D, ap_inv, ap_pay, xe_inv, xe_pay

from app.domain.records import InvalidRecord, Invoice, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.reconcile.engine import ItemResult, ledger_refunds, reconcile
from app.reconcile.rules import Rules

RULES = Rules()


def run(
    si: list[Invoice] | None = None,
    li: list[Invoice] | None = None,
    sp: list[Payment] | None = None,
    lp: list[Payment] | None = None,
    invalid: list[InvalidRecord] | None = None,
    refunds: dict[str, Decimal] | None = None,
) -> dict[str, ItemResult]:
    items = reconcile(
        source_invoices=si or [],
        ledger_invoices=li or [],
        source_payments=sp or [],
        ledger_payments=lp or [],
        invalid=invalid or [],
        rules=RULES,
        ledger_refunds_by_invoice=refunds,
    )
    by_key = {i.key: i for i in items}
    assert len(by_key) == len(items), "item keys must be unique"
    return by_key


def statuses(items: dict[str, ItemResult]) -> dict[str, str]:
    return {k: i.status.value for k, i in items.items()}


def test_a_month_of_invoices_and_payments() -> None:
    items = run(
        si=[ap_inv("INV-1", "1"), ap_inv("INV-2", "2", po_number="PO-A"), ap_inv("INV-3", "3")],
        li=[xe_inv("INV-1", "a"), xe_inv("INV-2", "b", po_number="PO-B"), xe_inv("INV-4", "d")],
        sp=[ap_pay("88", "INV-1"), ap_pay("89", "INV-2", method="Card")],
        lp=[xe_pay("p1", "INV-1"), xe_pay("p2", "INV-2", method="090"), xe_pay("p3", "INV-4")],
    )
    assert statuses(items) == {
        "INV-1": "matched",
        "INV-2": "differs",
        "INV-3": "only_in_source",
        "INV-4": "only_in_ledger",
        "INV-1:P88:Xp1": "matched",
        "INV-2:P89:Xp2": "differs",
        "INV-4:-:Xp3": "only_in_ledger",
    }
    assert items["INV-2"].fields == ("po_number",)
    assert items["INV-2:P89:Xp2"].fields == ("method",)
    assert items["INV-2:P89:Xp2"].invoice_key == "INV-2"
    assert items["INV-2:P89:Xp2"].kind is Kind.PAYMENT and items["INV-2:P89:Xp2"].tier == 1
    assert items["INV-3"].fields == () and items["INV-3"].ledger is None


def test_fields_are_exactly_the_unequal_comparisons() -> None:
    items = run(
        si=[ap_inv(contact="A", net=D("1"))], li=[xe_inv(contact="B")], sp=[ap_pay(amount=D("1"))], lp=[xe_pay()]
    )
    for item in items.values():
        assert item.fields == tuple(c.field for c in item.comparisons if not c.equal)
        assert item.fields  # both differ here, so the test above is not vacuous
    assert items["INV-1"].fields == ("contact", "net")


def test_one_sided_and_matched_items_explain_themselves() -> None:
    items = run(si=[ap_inv("INV-1"), ap_inv("INV-2")], li=[xe_inv("INV-1")])
    assert items["INV-2"].comparisons == ()
    comps = items["INV-1"].comparisons
    assert len(comps) == 12 and all(c.equal for c in comps)
    assert {c.field: c.source_value for c in comps}["total"] == "120.00"


def test_invalid_records_become_invalid_items_and_take_no_part() -> None:
    bad = [
        InvalidRecord(System.ACCESSPLANIT, Kind.INVOICE, "5", "unknown Status 'Draft'", "INV-5"),
        InvalidRecord(System.XERO, Kind.PAYMENT, "p9", "Amount is not a number"),
    ]
    items = run(li=[xe_inv("INV-5")], invalid=bad)
    assert statuses(items) == {
        "INV-5": "only_in_ledger",  # the unreadable source invoice does not match it
        "invalid:accessplanit:invoice:5": "invalid",
        "invalid:xero:payment:p9": "invalid",
    }
    item = items["invalid:accessplanit:invoice:5"]
    assert item.invalid is bad[0] and item.invoice_key == "INV-5" and item.period is None
    assert item.fields == () and item.comparisons == ()


def test_duplicate_invoice_numbers_become_invalid_with_the_record_kept() -> None:
    dup = ap_inv("inv-1", "12", issue_date=date(2026, 9, 30))
    items = run(si=[ap_inv("INV-1", "11"), dup], li=[xe_inv("INV-1", "a"), xe_inv("INV-1", "b")])
    assert statuses(items) == {
        "INV-1": "matched",
        "invalid:accessplanit:invoice:12": "invalid",
        "invalid:xero:invoice:b": "invalid",
    }
    item = items["invalid:accessplanit:invoice:12"]
    assert item.invalid is not None and item.invalid.reason == "duplicate invoice number"
    assert item.source is dup and item.ledger is None and item.period == "2026-09"
    assert items["invalid:xero:invoice:b"].ledger is not None


def test_missing_numbers_are_invalid() -> None:
    items = run(si=[ap_inv(" ", "7")], li=[xe_inv("", "z")], sp=[ap_pay("88", None)])
    assert statuses(items) == {
        "invalid:accessplanit:invoice:7": "invalid",
        "invalid:xero:invoice:z": "invalid",
        "invalid:accessplanit:payment:88": "invalid",
    }
    assert items["invalid:accessplanit:payment:88"].invalid is not None
    assert items["invalid:accessplanit:payment:88"].invalid.reason == "missing invoice number"  # type: ignore[union-attr]


def test_payments_on_invoices_that_take_no_part_are_invalid() -> None:
    # accessplanit payments hang on an accessplanit invoice; when that invoice is not there, unreadable, or
    # set aside as a duplicate, the payment is "on an invoice id that is not known".
    items = run(
        si=[ap_inv("INV-1", "1"), ap_inv("INV-1", "2")],
        li=[xe_inv("INV-1"), xe_inv("INV-2")],
        sp=[
            ap_pay("88", "INV-1", invoice_id="1"),
            ap_pay("89", "INV-1", invoice_id="2"),  # on the duplicate
            ap_pay("90", "INV-2", invoice_id="3"),  # accessplanit has no INV-2 (Xero does)
        ],
        lp=[xe_pay("p1", "INV-1"), xe_pay("p2", "INV-2")],
        invalid=[InvalidRecord(System.ACCESSPLANIT, Kind.INVOICE, "3", "unknown Status 'Draft'", "INV-2")],
    )
    assert statuses(items) == {
        "INV-1": "matched",
        "INV-2": "only_in_ledger",
        "INV-1:P88:Xp1": "matched",
        "INV-2:-:Xp2": "only_in_ledger",
        "invalid:accessplanit:invoice:2": "invalid",
        "invalid:accessplanit:invoice:3": "invalid",
        "invalid:accessplanit:payment:89": "invalid",
        "invalid:accessplanit:payment:90": "invalid",
    }
    bad = items["invalid:accessplanit:payment:90"]
    assert bad.invalid is not None and bad.invalid.reason.startswith("payment on an invoice that is not known")
    assert bad.source is not None and bad.invoice_key == "INV-2" and bad.period == "2026-10"


def test_tombstones_take_no_part() -> None:
    items = run(
        si=[ap_inv("INV-1")],
        li=[xe_inv("INV-1", deleted=True), xe_inv("INV-2", deleted=True)],
        sp=[ap_pay("88")],
        lp=[xe_pay("p1", deleted=True)],
    )
    assert statuses(items) == {"INV-1": "only_in_source", "INV-1:P88:-": "only_in_source"}


def test_refunds_from_the_ledger_adjust_the_invoice() -> None:
    src = ap_inv("INV-1", paid=D("70"), due=D("50"), state=InvoiceState.PART_PAID)
    led = xe_inv("INV-1", paid=D("120"), due=D("0"), state=InvoiceState.PAID)
    pays = dict(
        sp=[ap_pay("88", amount=D("120")), ap_pay("89", amount=D("50"), direction=Direction.REFUND)],
        lp=[
            xe_pay("p1", amount=D("120")),
            xe_pay("r1", amount=D("30"), direction=Direction.REFUND),
            xe_pay("r2", amount=D("20"), direction=Direction.REFUND, date=date(2026, 10, 20)),
            xe_pay("r3", amount=D("999"), direction=Direction.REFUND, deleted=True),  # deleted: not counted
        ],
    )
    items = run(si=[src], li=[led], **pays)
    assert items["INV-1"].status is ItemStatus.MATCHED
    assert items["INV-1"].ledger_refunds == D("50")
    # The refunds are items too: 89 pairs with r1 in tier 4 (same date and reference), r2 is left over.
    assert items["INV-1:P89:Xr1"].fields == ("amount",)
    assert items["INV-1:-:Xr2"].status is ItemStatus.ONLY_IN_LEDGER
    # Given explicitly (e.g. by the services from stored credit notes), the mapping wins; keys are normalized.
    assert run(si=[src], li=[led], refunds={" inv-1": D("50")}, **pays)["INV-1"].status is ItemStatus.MATCHED
    assert run(si=[src], li=[led], refunds={}, **pays)["INV-1"].fields == ("paid", "due", "state")


def test_ledger_refunds_on_invoice_question_mark_adjust_nothing() -> None:
    r = ledger_refunds([xe_pay("r", None, direction=Direction.REFUND), xe_pay("p", "INV-1")])
    assert r == {}
    items = run(lp=[xe_pay("r", None, direction=Direction.REFUND)])
    assert statuses(items) == {"?:-:Xr": "only_in_ledger"}


def test_periods() -> None:
    items = run(
        si=[ap_inv("INV-1", issue_date=date(2026, 10, 31)), ap_inv("INV-2", issue_date=None)],
        li=[
            xe_inv("INV-1", issue_date=date(2026, 11, 1)),
            xe_inv("INV-2", issue_date=date(2026, 9, 1)),
            xe_inv("INV-3", issue_date=date(2027, 1, 5)),
            xe_inv("INV-4", issue_date=None),
        ],
        sp=[ap_pay("88", date=date(2026, 12, 31))],
        lp=[xe_pay("p1", date=date(2027, 1, 1)), xe_pay("p2", "INV-3", date=date(2027, 2, 1))],
    )
    assert {k: i.period for k, i in items.items()} == {
        "INV-1": "2026-10",  # accessplanit's issue date wins
        "INV-2": "2026-09",  # ... unless it has none
        "INV-3": "2027-01",
        "INV-4": None,
        "INV-1:P88:Xp1": "2026-12",  # accessplanit's payment date wins
        "INV-3:-:Xp2": "2027-02",
    }


def test_result_order_is_invoices_then_payments_then_invalid() -> None:
    items = reconcile(
        source_invoices=[ap_inv("INV-2"), ap_inv("INV-1"), ap_inv("INV-1", "2")],
        ledger_invoices=[],
        source_payments=[ap_pay("1", "INV-2"), ap_pay("2", "INV-1")],
        ledger_payments=[],
        invalid=[InvalidRecord(System.XERO, Kind.INVOICE, "q", "bad")],
        rules=RULES,
    )
    assert [i.key for i in items] == [
        "INV-1",
        "INV-2",
        "INV-1:P2:-",
        "INV-2:P1:-",
        "invalid:accessplanit:invoice:2",
        "invalid:xero:invoice:q",
    ]


def test_a_large_month_reconciles_exactly() -> None:
    # 10,000 invoices and 15,000 payments, counted exactly. How long it takes is a benchmark's question
    # (benchmarks/sync_paced.py, figures in docs/figures.md), not a unit test's.
    n = 10_000
    si = [ap_inv(f"INV-{i}", str(i)) for i in range(n)]
    li = [xe_inv(f"INV-{i}", f"x{i}", po_number="PO-2" if i % 7 == 0 else "PO-1") for i in range(n)]
    day0 = date(2026, 10, 1)
    sp = [ap_pay(str(m), f"INV-{m % n}", date=day0 + timedelta(m % 28), reference=f"R{m}") for m in range(15_000)]
    lp = [
        xe_pay(f"p{m}", f"INV-{m % n}", date=day0 + timedelta(m % 28), reference=f"R{m}" if m % 5 else "")
        for m in range(15_000)
    ]
    items = reconcile(
        source_invoices=si, ledger_invoices=li, source_payments=sp, ledger_payments=lp, invalid=[], rules=RULES
    )
    assert len(items) == n + 15_000
    differs = [i for i in items if i.status is ItemStatus.DIFFERS]
    assert sum(i.kind is Kind.INVOICE for i in differs) == len(range(0, n, 7))  # PO numbers
    assert sum(i.fields == ("reference",) for i in differs) == 15_000 // 5  # Xero lost the reference: tier 3

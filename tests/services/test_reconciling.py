"""reconcile_all / reconcile_invoice on a real SQLite cache: statuses from stored records, Xero refunds placed on
their invoice through the credit note, people's decisions applied while their fingerprint holds, stable item ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.services.reconciling import fingerprint, reconcile_all, reconcile_invoice
from app.settings import Settings
from app.storage import decisions, items, records
from app.storage.db import Database

AP, XERO = System.ACCESSPLANIT, System.XERO
D = Decimal
SETTINGS = Settings()


def _inv(
    system: System,
    rid: str,
    number: str,
    *,
    po: str = "PO-1",
    paid: str = "0",
    due: str = "120.00",
    state: InvoiceState = InvoiceState.OPEN,
) -> Invoice:
    return Invoice(
        system=system,
        id=rid,
        number=number,
        contact="Acme Ltd",
        issue_date=date(2026, 10, 3),
        due_date=date(2026, 11, 2),
        po_number=po,
        currency="GBP",
        net=D("100.00"),
        tax=D("20.00"),
        total=D("120.00"),
        paid=D(paid),
        due=D(due),
        state=state,
        lines=(Line("Course", D("100.00"), D("20.00")),),
        updated_at=datetime(2026, 10, 3),
    )


def _pay(
    system: System,
    rid: str,
    number: str | None,
    amount: str = "120.00",
    *,
    ref: str = "R1",
    method: str = "BACS",
    direction: Direction = Direction.PAYMENT,
    cn: str | None = None,
) -> Payment:
    return Payment(
        system=system,
        id=rid,
        invoice_number=number,
        invoice_id="1",
        date=date(2026, 10, 14),
        amount=D(amount),
        reference=ref,
        method=method,
        direction=direction,
        currency="GBP",
        credit_note_id=cn,
    )


def _store(db: Database, system: System, recs: list[object]) -> None:
    with db.transaction() as tx:
        records.upsert_records(tx, system, "test", recs, [{} for _ in recs])


def _items(db: Database) -> dict[str, items.ItemRecord]:
    with db.transaction(readonly=True) as tx:
        return {r.key: r for r in items.item_rows(tx, items.query_item_ids(tx))}


def _seed(db: Database) -> None:
    _store(
        db,
        AP,
        [
            _inv(AP, "1", "INV-1"),  # matched
            _inv(AP, "2", "INV-2", po="PO-A"),  # differs: po_number
            _inv(AP, "3", "INV-3"),  # only in source
            _pay(AP, "88", "INV-1", "120.00"),
            InvalidRecord(AP, Kind.PAYMENT, "77", "amount is not a number", number="INV-1"),
        ],
    )
    _store(
        db,
        XERO,
        [
            _inv(XERO, "x1", "inv-1"),
            _inv(XERO, "x2", "INV-2", po="PO-B"),
            _inv(XERO, "x4", "INV-4"),  # only in ledger
            _pay(XERO, "xp1", "INV-1", "120.00", method="090"),
        ],
    )


def test_statuses_links_and_display_fields(cache: Database) -> None:
    _seed(cache)
    counts = reconcile_all(cache, SETTINGS)
    assert counts == {"matched": 2, "differs": 1, "only_in_source": 1, "only_in_ledger": 1, "resolved": 0, "invalid": 1}
    got = _items(cache)
    assert got["INV-2"].status is ItemStatus.DIFFERS and got["INV-2"].fields == ("po_number",)
    assert got["INV-1"].accessplanit_id == "1" and got["INV-1"].xero_id == "x1" and got["INV-1"].period == "2026-10"
    assert got["INV-1"].amount_minor == 12000 and got["INV-1"].contact == "Acme Ltd"
    pay = got["INV-1:P88:Xxp1"]
    assert pay.status is ItemStatus.MATCHED and pay.contact == "Acme Ltd" and pay.invoice == "INV-1"
    with cache.transaction(readonly=True) as tx:
        src = records.get_record(tx, pay.source_record_id or -1)
        led = records.get_record(tx, pay.ledger_record_id or -1)
        bad = items.item_by_key(tx, Kind.PAYMENT, "invalid:accessplanit:payment:77")
        assert bad is not None and bad.invalid_record_id is not None
        assert records.get_record(tx, bad.invalid_record_id).invalid_reason == "amount is not a number"
    assert src.remote_id == "88" and led.remote_id == "xp1"


def test_item_ids_are_stable_and_gone_items_disappear(cache: Database) -> None:
    _seed(cache)
    reconcile_all(cache, SETTINGS)
    before = {k: r.id for k, r in _items(cache).items()}
    _store(cache, XERO, [_inv(XERO, "x3", "INV-3")])  # INV-3 now on both sides
    reconcile_all(cache, SETTINGS)
    after = _items(cache)
    assert after["INV-3"].id == before["INV-3"] and after["INV-3"].status is ItemStatus.MATCHED
    assert {k: after[k].id for k in before} == before


def test_xero_refund_is_placed_on_its_invoice_through_the_credit_note(cache: Database) -> None:
    _store(
        cache,
        AP,
        [
            _inv(AP, "1", "INV-1", paid="90.00", due="30.00", state=InvoiceState.PART_PAID),
            _pay(AP, "88", "INV-1", "120.00"),
            _pay(AP, "89", "INV-1", "30.00", ref="RF", direction=Direction.REFUND),
        ],
    )
    cn = CreditNote(XERO, "cn1", "CN-1", "INV-1", "Acme Ltd", date(2026, 10, 14), "GBP", D("30.00"), D("0"), "PAID")
    _store(
        cache,
        XERO,
        [
            _inv(XERO, "x1", "INV-1", paid="120.00", due="0.00", state=InvoiceState.PAID),
            _pay(XERO, "xp1", "INV-1", "120.00", method="090"),
            cn,
            _pay(XERO, "xr1", None, "30.00", ref="RF", method="090", direction=Direction.REFUND, cn="cn1"),
        ],
    )
    counts = reconcile_all(cache, SETTINGS)
    got = _items(cache)
    assert got["INV-1"].status is ItemStatus.MATCHED, got["INV-1"].fields  # paid/due adjusted by the refund
    assert got["INV-1:P89:Xxr1"].status is ItemStatus.MATCHED
    assert counts["matched"] == 3 and counts["only_in_ledger"] == 0


def test_decision_holds_until_the_data_changes(cache: Database) -> None:
    _seed(cache)
    reconcile_all(cache, SETTINGS)
    item = _items(cache)["INV-2"]
    with cache.transaction() as tx:
        decisions.add_decision(tx, Kind.INVOICE, "INV-2", "ignore", "PO fixed next month", "ann", item.fingerprint)
    counts = reconcile_all(cache, SETTINGS)
    got = _items(cache)["INV-2"]
    assert got.status is ItemStatus.RESOLVED and got.note == "PO fixed next month" and counts["resolved"] == 1
    assert got.fields == ("po_number",)  # what was decided on stays visible

    _store(cache, XERO, [_inv(XERO, "x2", "INV-2", po="PO-C")])  # a different disagreement: the decision lapses
    reconcile_all(cache, SETTINGS)
    assert _items(cache)["INV-2"].status is ItemStatus.DIFFERS
    _store(cache, XERO, [_inv(XERO, "x2", "INV-2", po="PO-A")])  # now they agree: matched, not resolved
    reconcile_all(cache, SETTINGS)
    assert _items(cache)["INV-2"].status is ItemStatus.MATCHED


def test_fingerprint_depends_on_values_not_only_fields() -> None:
    from app.reconcile.engine import reconcile
    from app.services.reconciling import rules_from

    def fp(po: str) -> str:
        [res] = reconcile(
            source_invoices=[_inv(AP, "1", "I")],
            ledger_invoices=[_inv(XERO, "x", "I", po=po)],
            source_payments=[],
            ledger_payments=[],
            invalid=[],
            rules=rules_from(SETTINGS),
        )
        return fingerprint(res)

    assert fp("B") == fp("B") and fp("B") != fp("C")


def test_reconcile_invoice_updates_that_invoice_only(cache: Database) -> None:
    _seed(cache)
    reconcile_all(cache, SETTINGS)
    before = _items(cache)
    # Change two invoices in the cache, re-reconcile only INV-3: INV-2's item must not move.
    _store(cache, XERO, [_inv(XERO, "x3", "INV-3"), _inv(XERO, "x2", "INV-2", po="PO-A")])
    data = reconcile_invoice(cache, SETTINGS, "inv-3")
    assert [d.key for d in data] == ["INV-3"]
    after = _items(cache)
    assert after["INV-3"].status is ItemStatus.MATCHED and after["INV-3"].id == before["INV-3"].id
    assert after["INV-2"].status is ItemStatus.DIFFERS
    assert set(after) == set(before)


def test_reconcile_invoice_adds_a_payment_pushed_after_the_sync(cache: Database) -> None:
    _seed(cache)
    reconcile_all(cache, SETTINGS)
    assert _items(cache)["INV-1:P88:Xxp1"].status is ItemStatus.MATCHED
    _store(cache, AP, [_pay(AP, "90", "INV-1", "5.00", ref="R9")])
    reconcile_invoice(cache, SETTINGS, "INV-1")
    got = _items(cache)
    assert got["INV-1:P90:-"].status is ItemStatus.ONLY_IN_SOURCE
    assert got["invalid:accessplanit:payment:77"].status is ItemStatus.INVALID  # kept, not dropped


def test_resolving_by_hand_then_reconciling_keeps_resolved(cache: Database) -> None:
    """What the resolve service does: decision + set_item_status; a later sync must agree."""
    _seed(cache)
    reconcile_all(cache, SETTINGS)
    item = _items(cache)["INV-3"]
    with cache.transaction() as tx:
        decisions.add_decision(tx, Kind.INVOICE, "INV-3", "accept_accessplanit", "", "ann", item.fingerprint)
        items.set_item_status(tx, item.id, ItemStatus.RESOLVED, "")
    reconcile_all(cache, SETTINGS)
    assert _items(cache)["INV-3"].status is ItemStatus.RESOLVED
    changed = replace(_inv(AP, "3", "INV-3"), total=D("130.00"), net=D("110.00"))
    _store(cache, AP, [changed])
    reconcile_all(cache, SETTINGS)
    assert _items(cache)["INV-3"].status is ItemStatus.ONLY_IN_SOURCE

"""reconcile_all / reconcile_invoice on a real SQLite cache: statuses from stored records, Xero refunds placed on
their invoice through the credit note, people's decisions applied while their fingerprint holds, stable item ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from services_world import World

from app.domain.errors import CancelledError
from app.domain.keys import invoice_key
from app.domain.progress import CancelToken, ProgressEvent
from app.domain.records import CreditNote, InvalidRecord, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.services.api import ItemFilter
from app.services.reconciling import fingerprint, reconcile_all, reconcile_invoice
from app.settings import Settings
from app.storage import decisions, items, records
from app.storage.db import Database
from app.storage.models import ItemData

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
    assert got["INV-1"].source_id == "1" and got["INV-1"].ledger_id == "x1" and got["INV-1"].period == "2026-10"
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
    assert got["CN-1:Xcn1"].status is ItemStatus.MATCHED  # the credit note, used up: an item of its own
    assert counts["matched"] == 4 and counts["only_in_ledger"] == 0


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


# --- chunked and key-limited reconciling -----------------------------------------------------------------------


def _oracle(db: Database) -> dict[tuple[str, str], ItemData]:
    """Today's one-pass reconcile over every record (the reference the chunked run must equal exactly)."""
    from app.reconcile.engine import reconcile
    from app.services.reconciling import rules_from, to_item_data

    with db.transaction(readonly=True) as tx:
        # Placed here again from the credit notes, as docs/reconciliation.md says, not trusting the stored placement.
        notes = {cn.id: cn.reference.strip() or None for cn in records.load_credit_notes(tx, XERO)}
        placed = [
            replace(p, invoice_number=notes[p.credit_note_id])
            if p.direction is Direction.REFUND and p.credit_note_id in notes
            else p
            for p in records.load_payments(tx, XERO)
        ]
        src, led = records.load_invoices(tx, AP), records.load_invoices(tx, XERO)
        results = reconcile(
            source_invoices=src,
            ledger_invoices=led,
            source_payments=records.load_payments(tx, AP),
            ledger_payments=placed,
            invalid=records.load_invalid(tx),
            rules=rules_from(SETTINGS),
            ledger_credit_notes=records.load_credit_notes(tx, XERO),  # credit notes are items of their own
        )
        ids = records.record_ids(tx)
        active = decisions.active_decisions(tx)
    contacts: dict[str, str] = {}
    for inv in [*src, *led]:
        contacts.setdefault(invoice_key(inv.number), inv.contact)
    out = [to_item_data(r, ids, contacts, active.get((r.kind.value, r.key))) for r in results]
    return {(d.kind.value, d.key): d for d in out}


def _stored(db: Database) -> dict[tuple[str, str], tuple[int, ItemData]]:
    """Every stored item as (id, the ItemData it was written from)."""
    with db.transaction(readonly=True) as tx:
        rows = items.item_rows(tx, items.query_item_ids(tx))
    return {
        (r.kind.value, r.key): (
            r.id,
            ItemData(
                kind=r.kind,
                key=r.key,
                status=r.status,
                fields=r.fields,
                invoice_key=r.invoice_key,
                invoice=r.invoice,
                period=r.period,
                contact=r.contact,
                date=r.date,
                currency=r.currency,
                amount_minor=r.amount_minor,
                reference=r.reference,
                source_id=r.source_id,
                ledger_id=r.ledger_id,
                source_record_id=r.source_record_id,
                ledger_record_id=r.ledger_record_id,
                invalid_record_id=r.invalid_record_id,
                note=r.note,
                flags=r.flags,
                twin=r.twin,
                reason=r.reason,
                difference_minor=r.difference_minor,
                fingerprint=r.fingerprint,
            ),
        )
        for r in rows
    }


def _tricky(db: Database) -> None:
    """Every case that crosses one invoice key's records: duplicates, refunds placed through credit notes (also
    against their own invoice number), records without a number, invalid records, and an accessplanit payment that
    hangs by id on a duplicate invoice of another key."""
    _seed(db)
    dup_pay = replace(_pay(AP, "91", "INV-9", "50.00"), invoice_id="6")  # invoice 6: duplicate of INV-5
    no_number = replace(_inv(AP, "20", ""), contact="Nobody Ltd")
    _store(
        db,
        AP,
        [
            _inv(AP, "5", "INV-5"),
            _inv(AP, "6", "inv-5"),  # duplicate number: invalid, and so are payments hanging on it by id
            replace(_pay(AP, "90", "INV-5", "120.00"), invoice_id="5"),
            _inv(AP, "9", "INV-9"),
            dup_pay,
            no_number,
            _pay(AP, "92", None, "10.00"),
            _inv(AP, "30", "INV-30"),
            _pay(AP, "93", "INV-30", "40.00", ref="RF3", direction=Direction.REFUND),
            InvalidRecord(AP, Kind.INVOICE, "40", "total is not a number", number="INV-9"),
        ]
        + [_inv(AP, str(100 + n), f"INV-{100 + n}") for n in range(12)],
    )
    _store(
        db,
        XERO,
        [
            _inv(XERO, "x5", "INV-5"),
            _inv(XERO, "x9", "INV-9"),
            _inv(XERO, "x30", "INV-30"),
            _inv(XERO, "xn", " "),
            CreditNote(XERO, "cn3", "CN-3", "inv-30", "Acme Ltd", date(2026, 10, 14), "GBP", D("40"), D("0"), "PAID"),
            CreditNote(XERO, "cn0", "CN-0", "", "Acme Ltd", date(2026, 10, 14), "GBP", D("5"), D("0"), "PAID"),
            # Its own invoice number says INV-5; the credit note says INV-30, and wins.
            _pay(XERO, "xr3", "INV-5", "40.00", ref="RF3", method="090", direction=Direction.REFUND, cn="cn3"),
            _pay(XERO, "xr0", None, "5.00", ref="RF0", method="090", direction=Direction.REFUND, cn="cn0"),
            _pay(XERO, "xp9", "INV-9", "50.00", method="090"),
            _pay(XERO, "xp0", None, "7.00", method="090"),
            InvalidRecord(XERO, Kind.PAYMENT, "xbad", "amount is not a number", number="INV-30"),
        ]
        + [_inv(XERO, f"x{100 + n}", f"INV-{100 + n}", po="PO-Z" if n % 3 else "PO-1") for n in range(12)],
    )


def test_chunked_reconcile_equals_one_pass_over_everything(cache: Database) -> None:
    _tricky(cache)
    with cache.transaction() as tx:
        decisions.add_decision(tx, Kind.INVOICE, "INV-2", "ignore", "fine", "ann", "not-the-fingerprint")
    want = _oracle(cache)
    assert len(want) > 30  # the seed is big enough for many chunks of 3 keys
    # The cases the chunks must not split: a duplicate, the payment on it by id, refunds via credit notes.
    assert want[("invoice", "invalid:accessplanit:invoice:6")].status is ItemStatus.INVALID
    assert want[("payment", "invalid:accessplanit:payment:91")].status is ItemStatus.INVALID
    assert want[("payment", "INV-30:P93:Xxr3")].status is ItemStatus.MATCHED
    assert want[("payment", "?:-:Xxr0")].status is ItemStatus.ONLY_IN_LEDGER
    assert want[("invoice", "invalid:accessplanit:invoice:20")].contact == "Nobody Ltd"

    reconcile_all(cache, SETTINGS, chunk_keys=3)
    small = _stored(cache)
    assert {k: d for k, (_, d) in small.items()} == want
    reconcile_all(cache, SETTINGS)  # one big chunk over the same items: same rows, same ids
    assert _stored(cache) == small


@pytest.mark.timeout(60)
def test_progress_counts_invoices_and_cancel_keeps_the_last_complete_items(cache: Database) -> None:
    _tricky(cache)
    reconcile_all(cache, SETTINGS, chunk_keys=3)
    before = _stored(cache)
    _store(cache, XERO, [_inv(XERO, "x99", "INV-99")])  # a complete run now changes the items
    token = CancelToken()
    heard: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        heard.append(event)
        if event.done >= 6:
            token.cancel()

    with pytest.raises(CancelledError):
        reconcile_all(cache, SETTINGS, chunk_keys=3, progress=progress, cancel=token)
    assert _stored(cache) == before  # rolled back: never half a reconcile
    total = heard[0].total
    assert total is not None and total > 12 and heard[0].done == 0
    assert {(e.stage, e.unit, e.total) for e in heard} == {("reconciling", "invoices", total)}
    dones = [e.done for e in heard]
    assert dones == sorted(set(dones)) and dones[-1] >= 6 and dones[-2] < 6  # stopped before the next chunk

    heard.clear()
    reconcile_all(cache, SETTINGS, chunk_keys=3, progress=heard.append)
    assert heard[-1].done == total == heard[-1].total and heard[-1].eta_seconds == 0
    assert ("invoice", "INV-99") in _stored(cache) and ("invoice", "INV-99") not in before


def test_chunked_reconcile_keeps_ids_when_records_move_between_keys(cache: Database) -> None:
    _tricky(cache)
    reconcile_all(cache, SETTINGS, chunk_keys=3)
    before = _stored(cache)
    # An invalid record's number changes (its item moves to another key, keeping its id); an invoice is renumbered
    # (its old key is carried by no record any more: that key's items go); a refund's credit note moves.
    _store(cache, AP, [InvalidRecord(AP, Kind.INVOICE, "40", "total is not a number", number="INV-101")])
    _store(cache, AP, [_inv(AP, "30", "INV-31")])
    _store(cache, XERO, [_inv(XERO, "x30", "INV-31")])
    _store(cache, XERO, [_pay(XERO, "xbad", "INV-31", "1.00")])
    reconcile_all(cache, SETTINGS, chunk_keys=2)
    after = _stored(cache)
    assert {k: d for k, (_, d) in after.items()} == _oracle(cache)
    moved = ("invoice", "invalid:accessplanit:invoice:40")
    assert after[moved][0] == before[moved][0] and after[moved][1].invoice_key == "INV-101"
    assert ("invoice", "INV-30") in before and ("invoice", "INV-30") not in after
    assert ("invoice", "INV-31") in after
    assert all(after[k][0] == i for k, (i, _) in before.items() if k in after)


def test_reconcile_of_some_keys_redoes_those_only(cache: Database) -> None:
    _tricky(cache)
    reconcile_all(cache, SETTINGS)
    before = _stored(cache)
    _store(cache, XERO, [_inv(XERO, "x2", "INV-2", po="PO-A"), _inv(XERO, "x101", "INV-101", po="PO-1")])
    counts = reconcile_all(cache, SETTINGS, keys=["inv-2 "], chunk_keys=1)
    after = _stored(cache)
    assert after[("invoice", "INV-2")][1].status is ItemStatus.MATCHED  # redone
    assert after[("invoice", "INV-101")] == before[("invoice", "INV-101")]  # not asked for: left as it was
    assert sum(counts.values()) == len(after)
    reconcile_all(cache, SETTINGS, keys=["INV-101"])
    assert {k: d for k, (_, d) in _stored(cache).items()} == _oracle(cache)
    # Payment 91 (number INV-9) hangs by id on invoice 6. Invoice 6 becomes a duplicate of INV-5: the caller asks
    # for the keys invoice 6 had and has; INV-9 is redone too, and payment 91 turns invalid.
    _store(cache, AP, [_inv(AP, "6", "INV-6")])
    reconcile_all(cache, SETTINGS)
    assert _stored(cache)[("payment", "INV-9:P91:Xxp9")][1].status is ItemStatus.MATCHED
    _store(cache, AP, [_inv(AP, "6", "inv-5")])
    reconcile_all(cache, SETTINGS, keys=["INV-6", "INV-5"], chunk_keys=1)
    assert {k: d for k, (_, d) in _stored(cache).items()} == _oracle(cache)
    assert _stored(cache)[("payment", "invalid:accessplanit:payment:91")][1].status is ItemStatus.INVALID


def test_keys_a_page_touches_cover_records_that_move(cache: Database) -> None:
    """What `sync_all` does on an incremental run: the keys of a page's records before and after it is stored."""
    _tricky(cache)
    reconcile_all(cache, SETTINGS)
    page_ap = [_pay(AP, "88", "INV-2", "120.00")]  # a payment moves from INV-1 to INV-2
    page_xero: list[object] = [
        # The credit note now names INV-9: its refund xr3 leaves INV-30 for INV-9 (its own number, INV-5, which it
        # was never on, is not touched).
        CreditNote(XERO, "cn3", "CN-3", "INV-9", "Acme Ltd", date(2026, 10, 14), "GBP", D("40"), D("0"), "PAID"),
        InvalidRecord(XERO, Kind.INVOICE, "x101", "total is not a number", number="INV-101"),
    ]
    touched: set[str] = set()
    for system, page in ((AP, page_ap), (XERO, page_xero)):
        with cache.transaction() as tx:
            touched |= records.touched_invoice_keys(tx, system, page)
            records.upsert_records(tx, system, "test", page, [{} for _ in page])
            touched |= records.touched_invoice_keys(tx, system, page)
    assert touched == {"INV-1", "INV-2", "INV-30", "INV-9", "INV-101"}
    reconcile_all(cache, SETTINGS, keys=touched, chunk_keys=2)
    got = {k: d for k, (_, d) in _stored(cache).items()}
    assert got == _oracle(cache)
    assert got[("payment", "INV-9:-:Xxr3")].status is ItemStatus.ONLY_IN_LEDGER
    assert got[("payment", "INV-2:P88:-")].status is ItemStatus.ONLY_IN_SOURCE


def test_incremental_sync_reconciles_only_the_invoices_it_read(world: World) -> None:
    rows = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.INVOICE, statuses=(ItemStatus.MATCHED,))))
    changed, untouched = rows[0], rows[1]
    assert changed.ledger_id and untouched.ledger_id
    before = _items(world.db)
    # A real change in Xero, which the incremental sync reads back ...
    ledger = world.ws._clients.ledger()  # the workspace's own connector: the same emulator and token
    ledger.update_invoice(changed.ledger_id, po_number="PO-CHANGED", idempotency_key="test-incremental-1")
    # ... and a record put in the cache behind the sync's back (no sync reads it): an incremental run leaves it.
    _store(world.db, XERO, [_inv(XERO, "local-1", "INV-LOCAL-1")])
    result = world.ws.sync()
    assert result.ok, result.errors
    after = _items(world.db)
    assert after[changed.key].status is ItemStatus.DIFFERS and after[changed.key].fields == ("po_number",)
    assert after[changed.key].id == before[changed.key].id
    assert after[untouched.key] == before[untouched.key]
    assert "INV-LOCAL-1" not in after  # not reconciled: the run was incremental
    reconcile_all(world.db, world.ws.settings)  # a full one sees it
    assert _items(world.db)["INV-LOCAL-1"].status is ItemStatus.ONLY_IN_LEDGER

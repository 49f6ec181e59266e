"""Possible duplicates through the services, over real HTTP to both emulators and a real SQLite cache: the generated
duplicate payment is flagged against its twin (as the generator's oracle says), listed by the flag filter, never
offered for push, refused without an override note (nothing reaches Xero), and pushed with one, audited as
`override`. The report JSON carries flags, twin and reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from services_world import World

from app.domain.records import Invoice, Line
from app.domain.status import InvoiceState, ItemStatus, Kind, System
from app.services.api import ItemFilter, PushField, PushRecord
from app.services.reconciling import reconcile_all
from app.services.report import build_report
from app.settings import Settings
from app.storage import audit, items, records
from app.storage.db import Database

FLAG = "possible_duplicate"


def _flagged(world: World) -> dict[str, str | None]:
    rows = world.ws.rows(world.ws.item_ids(ItemFilter(flag=FLAG)))
    return {r.key: r.twin for r in rows}


def test_the_generated_duplicate_is_flagged_as_the_oracle_says_and_nothing_else(world: World) -> None:
    assert world.boxes.expected is not None
    want = {i["key"]: i["twin"] for i in world.boxes.expected if FLAG in i.get("flags", [])}
    assert want  # the month holds the duplicate_payment scenario
    assert _flagged(world) == want
    number = world.number("duplicate_payment")
    [row] = [r for r in world.items(number, Kind.PAYMENT) if r.flags]
    assert row.status is ItemStatus.ONLY_IN_SOURCE and row.flags == (FLAG,)
    assert f"possible duplicate of accessplanit payment {row.twin}" in row.reason
    assert world.ws.count_items(ItemFilter(flag=FLAG)) == len(want)
    assert world.ws.count_items(ItemFilter(flag="blocked")) == 0


def test_a_flagged_payment_is_not_offered_refused_without_a_note_and_pushed_with_one(world: World) -> None:
    number = world.number("duplicate_payment")
    [row] = [r for r in world.items(number, Kind.PAYMENT) if r.flags]
    detail = world.ws.item_detail(row.item_id)
    assert not [a for a in detail.actions if isinstance(a.action, (PushRecord, PushField))]
    [held] = detail.held_back
    assert held.action == PushRecord(row.item_id, System.XERO, expected_version=row.version)
    assert detail.twin_label == f"accessplanit payment {row.twin}"
    values = dict(detail.twin_values)
    assert values["Amount"] == row.amount and values["Date"] == row.date

    invoice = world.item(number, Kind.INVOICE)
    assert invoice.ledger_id is not None
    before = len(world.xero_payments(invoice.ledger_id))
    refused = world.ws.act(held.action)
    assert not refused.ok and "possible duplicate" in refused.message
    assert len(world.xero_payments(invoice.ledger_id)) == before  # nothing sent
    blank = world.ws.act(replace(held.action, override_note="   "))
    assert not blank.ok

    done = world.ws.act(replace(held.action, override_note="Customer paid twice; refund follows"))
    assert done.ok, done.message
    assert len(world.xero_payments(invoice.ledger_id)) == before + 1
    with world.db.transaction(readonly=True) as tx:
        entries = [e for e in audit.list_audit(tx, 50, item_key=row.key) if e.action == "override"]
    assert len(entries) == 1 and entries[0].note == "Customer paid twice; refund follows"
    assert entries[0].who == "tester"


def test_report_items_carry_flags_reason_twin_and_difference(world: World) -> None:
    report = build_report(world.db, None)
    items = {i["key"]: i for i in report["items"]}
    assert all(isinstance(i["flags"], list) and i["reason"] for i in items.values())
    flagged = [i for i in items.values() if i["flags"]]
    assert flagged and all(i["flags"] == [FLAG] and i["twin"] for i in flagged)
    assert all("twin" not in i for i in items.values() if not i["flags"])
    differs = items[world.number("amounts_differ")]
    assert "total" in differs["fields"]
    row = world.item(world.number("amounts_differ"), Kind.INVOICE)
    [total] = [d for d in world.ws.item_detail(row.item_id).diffs if d.field == "total"]
    assert Decimal(differs["difference"]) == Decimal(total.ledger) - Decimal(total.source) != 0
    matched = items[world.number("matched_open")]
    assert "difference" not in matched and matched["reason"].endswith("agrees in accessplanit and Xero.")


# --- invoices repeated under other numbers, through chunked and incremental reconciles --------------------------


def _invoice(system: System, rid: str, number: str, total: str = "120.00") -> Invoice:
    return Invoice(
        system=system,
        id=rid,
        number=number,
        contact="Acme Ltd",
        issue_date=date(2026, 10, 3),
        due_date=date(2026, 11, 2),
        po_number="",
        currency="GBP",
        net=Decimal(total) - Decimal("20.00"),
        tax=Decimal("20.00"),
        total=Decimal(total),
        paid=Decimal(0),
        due=Decimal(total),
        state=InvoiceState.OPEN,
        lines=(Line("Course", Decimal(total) - Decimal("20.00"), Decimal("20.00")),),
    )


def _put(db: Database, system: System, *recs: Invoice) -> None:
    with db.transaction() as tx:
        records.upsert_records(tx, system, "test", list(recs), [{} for _ in recs])


def _twins(db: Database) -> dict[str, str | None]:
    with db.transaction(readonly=True) as tx:
        rows = items.item_rows(tx, items.query_item_ids(tx, flag=FLAG))
    return {r.key: r.twin for r in rows}


def test_repeat_invoices_are_flagged_across_chunks_and_kept_right_by_incremental_reconciles(cache: Database) -> None:
    _repeat_invoices_story(cache)


@pytest.mark.postgres
def test_repeat_invoices_on_postgresql(pg_cache: Database) -> None:
    _repeat_invoices_story(pg_cache)  # the look-up by (date, total) row values and the flag index, on PostgreSQL


def _repeat_invoices_story(cache: Database) -> None:
    ap, xero = System.ACCESSPLANIT, System.XERO
    others = [_invoice(ap, str(10 + n), f"INV-{10 + n}", total=f"{200 + n}.00") for n in range(6)]
    _put(cache, ap, _invoice(ap, "1", "INV-1"), _invoice(ap, "2", "INV-2"), *others)
    _put(cache, xero, _invoice(xero, "x1", "INV-1"))
    reconcile_all(cache, Settings(), chunk_keys=1)  # one key a chunk: the two are still compared
    assert _twins(cache) == {"INV-2": "1"}

    # A new look-alike arrives: only its key is touched, and it is flagged against the matched one.
    _put(cache, ap, _invoice(ap, "3", "INV-3"))
    reconcile_all(cache, Settings(), keys=["INV-3"], chunk_keys=1)
    assert _twins(cache) == {"INV-2": "1", "INV-3": "1"}

    # The twin changes (only its key is touched): the items flagged against it are redone with it.
    _put(cache, ap, _invoice(ap, "1", "INV-1", total="130.00"))
    reconcile_all(cache, Settings(), keys=["INV-1"], chunk_keys=1)
    assert _twins(cache) == {"INV-3": "2"}  # INV-2 and INV-3 still repeat each other: the later one is flagged

    # A flagged one changes: it is no longer a repeat.
    _put(cache, ap, _invoice(ap, "3", "INV-3", total="99.00"))
    reconcile_all(cache, Settings(), keys=["inv-3"])
    assert _twins(cache) == {}

"""Possible duplicates through the services, over real HTTP to both emulators and a real SQLite cache: the generated
duplicate payment is flagged against its twin (as the generator's oracle says), listed by the flag filter, never
offered for push, refused without an override note (nothing reaches Xero), and pushed with one, audited as
`override`. The report JSON carries flags, twin and reason."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from services_world import World

from app.domain.status import ItemStatus, Kind, System
from app.services.api import ItemFilter, PushField, PushRecord
from app.services.report import build_report
from app.storage import audit

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
    assert held.action == PushRecord(row.item_id, System.XERO)
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

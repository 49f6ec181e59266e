"""Pushes end to end over real HTTP against both emulators, with a real SQLite cache: every push kind turns its
item `matched` without a re-sync; a refusal is `failed` and a retry sends it under a new row; a lost answer is
`uncertain` and its retry reads back first, so the emulators' own state shows exactly one record (Xero, and
accessplanit, which has no idempotency key). Generated month: one invoice per scenario of the generator.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from services_clients import SandboxClientFactory
from services_world import World

from app.credentials import MemoryCredentialStore
from app.domain.status import Direction, ItemStatus, Kind, PushState, System
from app.services.api import Action, ConnectionInfo, ItemFilter, ItemRow, PushField, PushRecord, RetryPush
from app.services.plans import idempotency_key, plan_push_field, target_scope
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage import audit, outbox
from app.storage import connections as connections_repo
from app.storage.db import Database


def _unversioned(action: Action) -> Action:
    """An offered action without the version it names (the tests build theirs without)."""
    return replace(action, expected_version=None) if hasattr(action, "expected_version") else action


def _act(w: World, row: ItemRow, action: Action) -> Any:
    actions = [_unversioned(a.action) for a in w.ws.item_detail(row.item_id).actions]
    assert action in actions, actions
    return w.ws.act(action)


def _key(db: Database, target: System, action: str, payload: dict[str, Any]) -> str:
    """The key the push service must have used: from the saved connection's account, never the profile."""
    with db.transaction() as tx:
        connection = connections_repo.get_connection(tx, target)
    assert connection is not None
    return idempotency_key(str(target), target_scope(connection.url, connection.tenant_id), action, payload)


def _pushes(db: Database, kind: Kind, key: str) -> list[Any]:
    with db.transaction() as tx:
        return outbox.pushes_for(tx, kind, key)


# --- every push kind, end to end -------------------------------------------------------------------------------


def test_push_invoice_to_xero_matches_and_audits(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    result = _act(world, row, PushRecord(row.item_id, System.XERO))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED, result.item
    assert len(world.xero_invoices(number)) == 1
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.state is PushState.SUCCEEDED and push.attempts == 1 and push.result_remote_id == result.item.ledger_id
    assert push.idempotency_key == _key(world.db, System.XERO, "push_invoice:xero", push.payload)
    sent = [r for r in world.admin(System.XERO, "requests") if r["method"] == "PUT" and r["path"].endswith("/Invoices")]
    assert [r["idempotency_key"] for r in sent] == [push.idempotency_key]
    with world.db.transaction() as tx:
        [entry] = audit.list_audit(tx, item_key=number)
    assert entry.action == "push_invoice:xero" and entry.who == "tester"
    assert json.loads(entry.after)["remote_id"] == result.item.ledger_id
    # Pushing again finds the row in the outbox: nothing is sent twice.
    again = world.ws.pusher.retry(push.id)
    assert again.ok and "Already pushed" in again.message
    assert len(world.xero_invoices(number)) == 1
    # A full re-sync agrees with what the push stored.
    assert world.ws.sync(full=True).ok
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED


@pytest.mark.parametrize(
    ("scenario", "field", "target"),
    [
        ("po_changed_source", "po_number", System.XERO),
        ("po_changed_ledger", "po_number", System.ACCESSPLANIT),
        ("due_changed_source", "due_date", System.XERO),
        ("due_changed_ledger", "due_date", System.ACCESSPLANIT),
    ],
)
def test_push_field_either_way(world: World, scenario: str, field: str, target: System) -> None:
    number = world.number(scenario)
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    assert row.fields == (field,)
    detail = world.ws.item_detail(row.item_id)
    diff = next(d for d in detail.diffs if d.field == field)
    assert diff.differs and set(diff.pushable_to) == {System.ACCESSPLANIT, System.XERO}
    wanted = diff.source if target is System.XERO else diff.ledger
    result = _act(world, row, PushField(row.item_id, field, System(target)))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED and result.item.item_id == row.item_id
    if target is System.XERO:
        [inv] = world.xero_invoices(number)
        wire = inv.get("Reference", "") if field == "po_number" else str(inv.get("DueDateString", ""))[:10]
    else:
        [inv] = [i for i in world.admin(System.ACCESSPLANIT, "state")["Invoice"]["results"] if i["Reference"] == number]
        wire = inv.get("PONumber") or "" if field == "po_number" else str(inv["DateDue"])[:10]
    assert wire == wanted


def test_push_payment_to_xero_pairs_it_and_fixes_the_invoice(world: World) -> None:
    number = world.number("payment_only_in_source")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    assert world.item(number, Kind.INVOICE).status is ItemStatus.DIFFERS  # paid/due/state until Xero has it
    result = _act(world, pay, PushRecord(pay.item_id, System.XERO))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED and result.item.ledger_id
    assert result.item.key == f"{number}:P{pay.source_id}:X{result.item.ledger_id}"
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED
    xero_id = world.item(number, Kind.INVOICE).ledger_id
    assert xero_id is not None and len(world.xero_payments(xero_id)) == 1


def test_push_payment_to_accessplanit_pairs_it_and_fixes_the_invoice(world: World) -> None:
    number = world.number("payment_only_in_ledger")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
    ap_invoice = world.item(number, Kind.INVOICE).source_id
    assert ap_invoice is not None and world.ap_transactions(ap_invoice) == []
    result = _act(world, pay, PushRecord(pay.item_id, System.ACCESSPLANIT))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED, result.item
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED
    [txn] = world.ap_transactions(ap_invoice)
    assert Decimal(str(txn["Amount"])) == Decimal(pay.amount)


# --- failure, retry, and lost answers ---------------------------------------------------------------------------


def test_refusal_is_failed_with_reasons_and_a_fixed_retry_succeeds(world: World) -> None:
    number = world.number("only_in_source")
    # Xero had an account 999 at the last sync and has since removed it: the checks pass, Xero refuses.
    accounts = world.boxes.xero_app.ledger.accounts
    accounts.append({**accounts[0], "AccountID": "acc-999", "Code": "999", "Name": "Gone soon"})
    assert world.ws.sync().ok
    accounts.pop()
    bad = world.workspace(replace(Settings(), sales_account_code="999"))
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    result = bad.act(PushRecord(row.item_id, System.XERO))
    assert not result.ok and "refused" in result.message and "999" in result.message, result.message
    assert result.item is not None and result.item.push is PushState.FAILED
    assert world.xero_invoices(number) == []
    [failed] = _pushes(world.db, Kind.INVOICE, number)
    assert failed.state is PushState.FAILED and "999" in failed.last_error
    with world.db.transaction() as tx:
        assert audit.list_audit(tx, item_key=number)[0].action == "push_invoice:xero:failed"

    # The user fixes the setting and pushes again: a different payload, so a new row and a new key.
    fixed = world.workspace(Settings())
    ok = fixed.act(PushRecord(row.item_id, System.XERO))
    assert ok.ok, ok.message
    assert len(world.xero_invoices(number)) == 1
    pushes = _pushes(world.db, Kind.INVOICE, number)
    assert [p.state for p in pushes] == [PushState.FAILED, PushState.SUCCEEDED]
    assert pushes[0].idempotency_key != pushes[1].idempotency_key


def test_failed_push_retried_as_is_goes_out_under_a_new_key(world: World) -> None:
    number = world.number("payment_only_in_source")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    world.faults(System.XERO, "burst429=6x,retry_after=0")  # refused: slow down, more often than the client retries
    result = world.ws.act(PushRecord(pay.item_id, System.XERO))
    assert not result.ok and result.item is not None and result.item.push is PushState.FAILED, result
    [failed] = _pushes(world.db, Kind.PAYMENT, pay.key)
    actions = [a.action for a in world.ws.item_detail(pay.item_id).actions]
    assert RetryPush(failed.id) in actions
    world.faults(System.XERO, "")
    retried = world.ws.act(RetryPush(failed.id))
    assert retried.ok, retried.message
    assert retried.item is not None and retried.item.status is ItemStatus.MATCHED
    # The same row (one row per push, not one per retry), sent under the next attempt's key.
    [row] = _pushes(world.db, Kind.PAYMENT, pay.key)
    assert row.id == failed.id and row.state is PushState.SUCCEEDED and row.payload["attempt"] == 1
    assert row.idempotency_key == failed.idempotency_key  # the row's own key names the push
    wire = _key(world.db, System.XERO, row.action, {**failed.payload, "attempt": 1})
    assert wire != failed.idempotency_key
    sent = [r["idempotency_key"] for r in world.admin(System.XERO, "requests") if r["method"] == "PUT"]
    assert sent[-1] == wire and failed.idempotency_key in sent
    xero_invoice = world.item(number, Kind.INVOICE).ledger_id
    assert xero_invoice is not None and len(world.xero_payments(xero_invoice)) == 1
    assert world.ws.retry_failed() == []  # done: nothing left to retry


def test_lost_answer_from_xero_is_uncertain_and_the_retry_reads_back(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    # Every attempt of the client lands in Xero and loses its answer.
    world.faults(System.XERO, "drop_after_commit=3x")
    result = world.ws.act(PushRecord(row.item_id, System.XERO))
    assert not result.ok and "may or may not" in result.message, result.message
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.state is PushState.UNCERTAIN
    assert len(world.xero_invoices(number)) == 1  # it did land
    world.faults(System.XERO, "")
    [retried] = world.ws.retry_failed()
    assert retried.ok and "read-back" in retried.message, retried.message
    assert retried.item is not None and retried.item.status is ItemStatus.MATCHED
    assert len(world.xero_invoices(number)) == 1
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.state is PushState.SUCCEEDED and push.attempts == 1  # found, not sent again


def test_lost_xero_payment_is_not_paid_twice(world: World) -> None:
    number = world.number("payment_only_in_source")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    world.faults(System.XERO, "drop_after_commit=3x")
    first = world.ws.act(PushRecord(pay.item_id, System.XERO))
    assert not first.ok
    world.faults(System.XERO, "")
    [retried] = world.ws.retry_failed()
    assert retried.ok, retried.message
    xero_invoice = world.item(number, Kind.INVOICE).ledger_id
    assert xero_invoice is not None and len(world.xero_payments(xero_invoice)) == 1
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED


def test_request_that_never_arrived_is_resent_with_the_same_key(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    world.faults(System.XERO, "reset=3x")  # the connection drops before Xero sees the request
    assert not world.ws.act(PushRecord(row.item_id, System.XERO)).ok
    assert world.xero_invoices(number) == []
    world.faults(System.XERO, "")
    [retried] = world.ws.retry_failed()
    assert retried.ok, retried.message
    assert len(world.xero_invoices(number)) == 1
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.state is PushState.SUCCEEDED and push.attempts == 2
    keys = {
        r["idempotency_key"]
        for r in world.admin(System.XERO, "requests")
        if r["method"] == "PUT" and r["path"].endswith("/Invoices")
    }
    assert keys == {push.idempotency_key}


def test_lost_answer_from_accessplanit_is_read_back_not_reposted(world: World) -> None:
    number = world.number("payment_only_in_ledger")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
    ap_invoice = world.item(number, Kind.INVOICE).source_id
    assert ap_invoice is not None
    world.faults(System.ACCESSPLANIT, "drop_after_commit=1x")
    first = world.ws.act(PushRecord(pay.item_id, System.ACCESSPLANIT))
    assert not first.ok and first.item is not None and first.item.push is PushState.UNCERTAIN, first
    assert len(world.ap_transactions(ap_invoice)) == 1  # it landed; accessplanit has no idempotency key
    world.faults(System.ACCESSPLANIT, "")
    [push] = _pushes(world.db, Kind.PAYMENT, pay.key)
    retried = world.ws.act(RetryPush(push.id))
    assert retried.ok, retried.message
    assert len(world.ap_transactions(ap_invoice)) == 1
    posts = [
        r
        for r in world.admin(System.ACCESSPLANIT, "requests")
        if r["method"] == "POST" and r["path"].endswith("/Transaction")
    ]
    assert len(posts) == 1
    assert world.item(number, Kind.PAYMENT).status is ItemStatus.MATCHED


def test_push_left_sending_by_a_dead_process_is_finished_on_retry(world: World, tmp_path: Path) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    # What a process that died right after committing `sending` leaves behind.
    from app.services.plans import plan_push_invoice

    src = world.ws.item_detail(row.item_id)
    assert src.row.source_id
    with world.db.transaction() as tx:
        from app.storage import records

        [inv] = records.load_invoices(tx, System.ACCESSPLANIT, number_key=number)
    plan = plan_push_invoice(inv, Settings(), row.key, System.XERO)
    key = _key(world.db, System.XERO, plan.action, plan.payload)
    with world.db.transaction() as tx:
        pid = outbox.add_push(tx, "invoice", row.key, plan.action, "xero", plan.payload, key)
        outbox.mark_push(tx, pid, PushState.SENDING)
    restarted = world.workspace(Settings())
    [result] = restarted.retry_failed()
    assert result.ok, result.message
    assert len(world.xero_invoices(number)) == 1
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.id == pid and push.state is PushState.SUCCEEDED


# --- idempotency keys from the record and the intent --------------------------------------------------------


def test_same_push_from_two_profiles_on_two_caches_is_one_key_and_one_invoice(world: World, tmp_path: Path) -> None:
    """Two people, each with a profile and a cache of their own, push the same invoice: Xero sees one key twice and
    answers the second with the first's invoice, so the invoice exists once and both caches record it."""
    other_db = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other_db.migrate()
    try:
        other = Workspace(other_db, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "office", who="kim")
        ap, xe = world.boxes.info["accessplanit"], world.boxes.info["xero"]
        other.save_connection(
            ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password"), ap["password"]
        )
        other.save_connection(
            ConnectionInfo(
                System.XERO,
                xe["url"],
                auth="client_credentials",
                identity_url=xe["identity_url"],
                client_id=xe["client_id"],
            ),
            xe["client_secret"],
        )
        assert other.sync(full=True).ok
        number = world.number("only_in_source")
        mine = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
        [theirs] = [r for r in other.rows(other.item_ids(ItemFilter(kind=Kind.INVOICE, search=number)))]
        assert theirs.invoice == number and theirs.status is ItemStatus.ONLY_IN_SOURCE
        assert _act(world, mine, PushRecord(mine.item_id, System.XERO)).ok
        result = other.act(PushRecord(theirs.item_id, System.XERO))
        assert result.ok, result.message
        [first] = _pushes(world.db, Kind.INVOICE, number)
        [second] = _pushes(other_db, Kind.INVOICE, number)
        assert first.idempotency_key == second.idempotency_key
        assert first.result_remote_id == second.result_remote_id
        assert len(world.xero_invoices(number)) == 1
        sent = [
            r["idempotency_key"]
            for r in world.admin(System.XERO, "requests")
            if r["method"] == "PUT" and r["path"].endswith("/Invoices")
        ]
        assert sent == [first.idempotency_key, first.idempotency_key]
    finally:
        other_db.dispose()


def test_key_changes_with_the_value_the_account_and_the_attempt_only(world: World) -> None:
    number = world.number("po_changed_source")
    with world.db.transaction() as tx:
        from app.storage import records

        [source] = records.load_invoices(tx, System.ACCESSPLANIT, number_key=number)
        [target] = records.load_invoices(tx, System.XERO, number_key=number)
    plan = plan_push_field(source, target, "po_number", number)
    other_value = plan_push_field(replace(source, po_number=source.po_number + "-2"), target, "po_number", number)
    scope = target_scope("http://127.0.0.1:1/api.xro/2.0", "tenant-a")

    def key(payload: dict[str, Any], scope: str = scope) -> str:
        return idempotency_key("xero", scope, plan.action, payload)

    assert key(plan.payload) == key(dict(plan.payload))  # deterministic
    assert key(plan.payload) == key({**plan.payload, "retry_of": 17})  # an outbox row id is local: not in it
    assert key(plan.payload) != key(other_value.payload)  # a different value written
    assert key(plan.payload) != key({**plan.payload, "attempt": 1})  # the send after a refusal
    assert key(plan.payload) != key(plan.payload, target_scope("http://127.0.0.1:1/api.xro/2.0", "tenant-b"))
    assert target_scope("HTTP://Host:1/api/", "t") == target_scope("http://host:1/api", "t")


# --- refunds ----------------------------------------------------------------------------------------------------


def test_refund_taken_in_accessplanit_is_pushed_as_a_xero_credit_note_refund(world: World) -> None:
    number = world.number("matched_paid")
    inv = world.item(number, Kind.INVOICE, ItemStatus.MATCHED)
    assert inv.source_id is not None and inv.ledger_id is not None
    # A refund logged in accessplanit after the last sync.
    world.ws._clients.source().create_transaction(
        invoice_id=inv.source_id,
        direction=Direction.REFUND,
        amount=Decimal("12.00"),
        day=date(2026, 10, 25),
        method_label="BACS",
        reference="RF-T1",
    )
    assert world.ws.sync().ok
    assert world.item(number, Kind.INVOICE).status is ItemStatus.DIFFERS
    refund = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    result = _act(world, refund, PushRecord(refund.item_id, System.XERO))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED
    notes = [n for n in world.admin(System.XERO, "state")["CreditNotes"]["CreditNotes"] if n.get("Reference") == number]
    assert len(notes) == 1 and Decimal(str(notes[0]["Total"])) == Decimal("12.00")
    assert world.ws.sync(full=True).ok  # what the push stored agrees with a fresh read
    assert {r.status for r in world.items(number)} == {ItemStatus.MATCHED}


def test_refund_recorded_in_xero_is_pushed_to_accessplanit(world: World) -> None:
    number = world.number("matched_paid")
    inv = world.item(number, Kind.INVOICE, ItemStatus.MATCHED)
    assert inv.source_id is not None and inv.ledger_id is not None
    world.ws._clients.ledger().create_payment(
        invoice_id=inv.ledger_id,
        invoice_number=number,
        direction=Direction.REFUND,
        amount=Decimal("30.00"),
        day=date(2026, 10, 26),
        account_code="091",
        reference="XR-1",
        currency="GBP",
        contact=inv.contact,
        idempotency_key="test-refund-xr-1",
    )
    assert world.ws.sync().ok
    refund = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
    result = _act(world, refund, PushRecord(refund.item_id, System.ACCESSPLANIT))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED
    [txn] = [t for t in world.ap_transactions(inv.source_id) if t.get("TransactionType") == "Refund"]
    assert txn["Reference"] == "XR-1" and txn["TransactionMethodLabel"] == "Card"


def test_a_read_back_that_fails_never_resends_blindly(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    world.faults(System.XERO, "drop_after_commit=3x")
    assert not world.ws.act(PushRecord(row.item_id, System.XERO)).ok
    [push] = _pushes(world.db, Kind.INVOICE, number)
    world.faults(System.XERO, "error503=50x")  # Xero is down when the user retries: the check itself fails
    down = world.ws.act(RetryPush(push.id))
    assert not down.ok and "Could not check" in down.message, down.message
    assert _pushes(world.db, Kind.INVOICE, number)[0].state is PushState.UNCERTAIN
    world.faults(System.XERO, "")
    assert world.ws.act(RetryPush(push.id)).ok
    assert len(world.xero_invoices(number)) == 1
    puts = [r for r in world.admin(System.XERO, "requests") if r["method"] == "PUT" and r["path"].endswith("/Invoices")]
    assert len(puts) == 3  # the three dropped attempts of the first push; nothing after


def test_failed_push_fixed_by_hand_is_not_resent(world: World) -> None:
    number = world.number("payment_only_in_source")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    world.faults(System.XERO, "burst429=6x,retry_after=0")
    assert not world.ws.act(PushRecord(pay.item_id, System.XERO)).ok
    world.faults(System.XERO, "")
    # The accountant gives up on Recondesk and enters the payment in Xero by hand, then syncs.
    xero_invoice = world.item(number, Kind.INVOICE).ledger_id
    assert xero_invoice is not None
    detail = world.ws.item_detail(pay.item_id)
    world.ws._clients.ledger().create_payment(
        invoice_id=xero_invoice,
        invoice_number=number,
        direction=Direction.PAYMENT,
        amount=Decimal(pay.amount),
        day=date.fromisoformat(pay.date),
        account_code="090" if "BACS" in next(f.source for f in detail.diffs if f.field == "method") else "091",
        reference=next(f.source for f in detail.diffs if f.field == "reference"),
        currency=pay.currency,
        contact=world.item(number, Kind.INVOICE).contact,
        idempotency_key="by-hand-1",
    )
    assert world.ws.sync().ok
    paired = world.items(number, Kind.PAYMENT)
    assert pay.key not in {r.key for r in paired} and all(r.ledger_id and r.source_id for r in paired)
    assert world.ws.retry_failed() == []  # the failed push is not needed any more: nothing is sent
    assert len(world.xero_payments(xero_invoice)) == 1

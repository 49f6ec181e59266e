"""The three races of the outbox that fooled it before (issue 13), each over real HTTP against the emulators and one
real SQLite file: a read-back that took a same-amount instalment for ours, a read-back while the first (slow) write
was still in flight, and a second process driving a row the first one was sending. Plus the key lifecycle of a
permanent refusal: one failed row, not retried automatically, a new wire key only when a person retries it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import services_clients
from services_world import World

from app.domain.status import Direction, ItemStatus, Kind, PushState, System
from app.services.api import ActionResult, PushRecord, RetryPush
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage import outbox
from app.storage.db import Database


def _pushes(db: Database, kind: Kind, key: str) -> list[Any]:
    with db.transaction() as tx:
        return outbox.pushes_for(tx, kind, key)


def _posts(world: World) -> list[dict[str, Any]]:
    return [
        r
        for r in world.admin(System.ACCESSPLANIT, "requests")
        if r["method"] == "POST" and r["path"].endswith("/Transaction")
    ]


def _wait_until(check: Any, limit: float = 10.0) -> None:
    """Poll `check` until it is true (a bound on how long to wait, not an assertion on time)."""
    end = time.monotonic() + limit
    while not check() and time.monotonic() < end:
        time.sleep(0.02)


def _account_999_gone(world: World) -> Settings:
    """Xero had an account 999 at the last sync and has since removed it: the checks before sending pass, and Xero
    refuses every push to it for good (a permanent refusal). The settings that push to it."""
    accounts = world.boxes.xero_app.ledger.accounts
    accounts.append({**accounts[0], "AccountID": "acc-999", "Code": "999", "Name": "Gone soon"})
    assert world.ws.sync().ok
    accounts.pop()
    return replace(Settings(), sales_account_code="999")


def _xero_payment(world: World, number: str, amount: str, day: date, reference: str) -> None:
    inv = world.item(number, Kind.INVOICE)
    assert inv.ledger_id is not None
    world.ws._clients.ledger().create_payment(
        invoice_id=inv.ledger_id,
        invoice_number=number,
        direction=Direction.PAYMENT,
        amount=Decimal(amount),
        day=day,
        account_code="090",
        reference=reference,
        currency="GBP",
        contact=inv.contact,
        idempotency_key=f"by-hand-{number}-{day}",
    )


def test_a_same_amount_instalment_with_the_same_reference_is_not_taken_for_ours(world: World) -> None:
    """Two instalments of 10.00, both referenced with the invoice number, on different dates: the second's lost
    POST is read back by date (and never as the first's transaction), so it is created, not marked done."""
    number = world.number("matched_open")
    ap_invoice = world.item(number, Kind.INVOICE).source_id
    assert ap_invoice is not None
    _xero_payment(world, number, "10.00", date(2026, 10, 20), number)
    _xero_payment(world, number, "10.00", date(2026, 10, 27), number)
    assert world.ws.sync().ok
    first, second = sorted(world.items(number, Kind.PAYMENT), key=lambda r: r.date)
    assert first.status is second.status is ItemStatus.ONLY_IN_LEDGER
    assert world.ws.act(PushRecord(first.item_id, System.ACCESSPLANIT)).ok
    world.faults(System.ACCESSPLANIT, "reset=1x,only=/Transaction")  # the second POST never reaches the service
    # Flagged a possible duplicate of the first (same amount and reference): a person overrides it with a note.
    lost = world.ws.act(PushRecord(second.item_id, System.ACCESSPLANIT, override_note="second instalment"))
    assert not lost.ok and lost.item is not None and lost.item.push is PushState.UNCERTAIN, lost
    world.faults(System.ACCESSPLANIT, "")
    [push] = _pushes(world.db, Kind.PAYMENT, second.key)
    retried = world.ws.act(RetryPush(push.id))
    assert retried.ok and "read-back" not in retried.message, retried.message
    txns = world.ap_transactions(ap_invoice)
    assert sorted(str(t["TransactionDate"])[:10] for t in txns) == ["2026-10-20", "2026-10-27"]
    assert world.item(number, Kind.INVOICE).status is ItemStatus.MATCHED


def test_a_read_back_waits_out_a_slow_write_instead_of_posting_it_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """accessplanit takes 1.5 s to commit a POST; the client gives up after 0.4 s (uncertain). The retry right
    after waits the settle time before reading back, finds the late write, and never posts again."""
    monkeypatch.setattr(services_clients, "FAST_HTTP", replace(services_clients.FAST_HTTP, read_timeout=0.4))
    ws = world.workspace(Settings(write_settle_seconds=2.0))
    number = world.number("payment_only_in_ledger")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
    ap_invoice = world.item(number, Kind.INVOICE).source_id
    assert ap_invoice is not None
    world.faults(System.ACCESSPLANIT, "write_latency=1.5,only=/Transaction")
    first = ws.act(PushRecord(pay.item_id, System.ACCESSPLANIT))
    assert not first.ok and first.item is not None and first.item.push is PushState.UNCERTAIN, first
    world.faults(System.ACCESSPLANIT, "")
    [push] = _pushes(world.db, Kind.PAYMENT, pay.key)
    retried = ws.act(RetryPush(push.id))  # at once, as the GUI's retry does
    assert retried.ok and "read-back" in retried.message, retried.message
    _wait_until(lambda: len(_posts(world)) >= 2)  # give a second POST, if one was sent, the time to land
    assert len(world.ap_transactions(ap_invoice)) == 1
    assert len(_posts(world)) == 1


def test_a_second_process_leaves_a_row_being_sent_alone(world: World) -> None:
    """Process A sends a payment to a slow accessplanit; process B (its own PushService over the same SQLite
    file) retries everything meanwhile: the row is claimed by A, so B neither reads it back nor posts it."""
    other_db = Database(world.db.url)
    try:
        settings = Settings(write_settle_seconds=0.05)
        a = world.workspace(settings)
        b = Workspace(
            other_db, world.ws.credentials, settings, services_clients.SandboxClientFactory(), "test", who="b"
        )
        number = world.number("payment_only_in_ledger")
        pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
        ap_invoice = world.item(number, Kind.INVOICE).source_id
        assert ap_invoice is not None
        world.faults(System.ACCESSPLANIT, "write_latency=1.5,only=/Transaction")
        results: list[ActionResult] = []
        sender = threading.Thread(target=lambda: results.append(a.act(PushRecord(pay.item_id, System.ACCESSPLANIT))))
        sender.start()
        _wait_until(lambda: any(p.state is PushState.SENDING for p in _pushes(other_db, Kind.PAYMENT, pay.key)))
        [push] = _pushes(other_db, Kind.PAYMENT, pay.key)
        assert push.state is PushState.SENDING and push.claimed_by
        assert b.retry_failed() == []  # held by a live sender: not B's to retry
        busy = b.act(RetryPush(push.id))
        assert not busy.ok and "being sent by another process" in busy.message, busy.message
        sender.join(30)
        [done] = results
        assert done.ok, done.message
        assert len(world.ap_transactions(ap_invoice)) == 1
        assert len(_posts(world)) == 1
        [push] = _pushes(world.db, Kind.PAYMENT, pay.key)
        assert push.state is PushState.SUCCEEDED and push.claimed_by is None  # released
    finally:
        other_db.dispose()


def test_two_retry_processes_over_uncertain_pushes_send_each_once(world: World) -> None:
    """Two workspaces over one SQLite file retry the same uncertain payments at the same time: each row is read
    back and settled by exactly one of them; nothing is posted twice and nothing that exists is left failed."""
    other_db = Database(world.db.url)
    try:
        settings = Settings(write_settle_seconds=0.05)
        number = world.number("payment_only_in_ledger")
        pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_LEDGER)
        ap_invoice = world.item(number, Kind.INVOICE).source_id
        assert ap_invoice is not None
        world.faults(System.ACCESSPLANIT, "drop_after_commit=1x,only=/Transaction")
        assert not world.ws.act(PushRecord(pay.item_id, System.ACCESSPLANIT)).ok
        world.faults(System.ACCESSPLANIT, "write_latency=0.5,only=/Transaction")
        a = world.workspace(settings)
        b = Workspace(
            other_db, world.ws.credentials, settings, services_clients.SandboxClientFactory(), "test", who="b"
        )
        out: dict[str, list[ActionResult]] = {}
        threads = [
            threading.Thread(target=lambda n=n, w=w: out.__setitem__(n, list(w.retry_failed())))
            for n, w in (("a", a), ("b", b))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        results = out["a"] + out["b"]
        assert all(r.ok or "being sent by another process" in r.message for r in results), results
        assert len(world.ap_transactions(ap_invoice)) == 1
        assert len(_posts(world)) == 1
        [push] = _pushes(world.db, Kind.PAYMENT, pay.key)
        assert push.state is PushState.SUCCEEDED
    finally:
        other_db.dispose()


def test_a_permanent_refusal_stays_one_failed_row_and_is_not_retried_for_ever(world: World) -> None:
    number = world.number("only_in_source")
    bad = world.workspace(_account_999_gone(world))
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    assert not bad.act(PushRecord(row.item_id, System.XERO)).ok
    [failed] = _pushes(world.db, Kind.INVOICE, number)
    assert failed.state is PushState.FAILED and failed.refused and "999" in failed.last_error
    # `recondesk retry` leaves it alone (it needs a change first), so it does not fail on every run.
    assert bad.retry_failed() == [] and bad.retry_failed() == []
    assert [p.id for p in bad.pusher.refused()] == [failed.id]  # listed by `recondesk retry` as needing a change
    # A person pushes it again unchanged: the same row, under the next attempt's key (Xero would only replay the
    # stored refusal for the old one), refused again, still one row.
    again = bad.act(PushRecord(row.item_id, System.XERO))
    assert not again.ok and "999" in again.message
    [still] = _pushes(world.db, Kind.INVOICE, number)
    assert still.id == failed.id and still.refused and still.payload["attempt"] == 1
    puts = [r for r in world.admin(System.XERO, "requests") if r["method"] == "PUT" and r["path"].endswith("/Invoices")]
    assert len({r["idempotency_key"] for r in puts}) == 2
    # The cause is fixed: a different payload, so a new push and a new key; it goes through.
    ok = world.workspace(Settings()).act(PushRecord(row.item_id, System.XERO))
    assert ok.ok, ok.message
    assert [p.state for p in _pushes(world.db, Kind.INVOICE, number)] == [PushState.FAILED, PushState.SUCCEEDED]
    assert len(world.xero_invoices(number)) == 1
    assert world.ws.retry_failed() == [] and world.ws.pusher.refused() == []


def test_a_same_day_twin_is_not_taken_for_ours_in_xero(world: World) -> None:
    """Two accessplanit payments of 10.00 on the same day with the same reference: after the first is in Xero, the
    second's lost request is read back; the first's Xero payment (linked to the first push) is not ours."""
    number = world.number("matched_open")
    inv = world.item(number, Kind.INVOICE)
    assert inv.source_id is not None and inv.ledger_id is not None
    for _ in range(2):
        world.ws._clients.source().create_transaction(
            invoice_id=inv.source_id,
            direction=Direction.PAYMENT,
            amount=Decimal("10.00"),
            day=date(2026, 10, 21),
            method_label="BACS",
            reference="TWIN-1",
        )
    assert world.ws.sync().ok
    first, second = sorted(
        (r for r in world.items(number, Kind.PAYMENT) if r.status is ItemStatus.ONLY_IN_SOURCE), key=lambda r: r.key
    )
    assert world.ws.act(PushRecord(first.item_id, System.XERO)).ok
    world.faults(System.XERO, "reset=3x,only=/Payments")  # the second never reaches Xero
    # Flagged a possible duplicate of the first (same amount and reference): a person overrides it with a note.
    lost = world.ws.act(PushRecord(second.item_id, System.XERO, override_note="two seats, paid separately"))
    assert not lost.ok and lost.item is not None and lost.item.push is PushState.UNCERTAIN, lost
    world.faults(System.XERO, "")
    [push] = _pushes(world.db, Kind.PAYMENT, second.key)
    retried = world.ws.act(RetryPush(push.id))
    assert retried.ok and "read-back" not in retried.message, retried.message
    twins = [p for p in world.xero_payments(inv.ledger_id) if p.get("Reference") == "TWIN-1"]
    assert len(twins) == 2
    [first_push] = _pushes(world.db, Kind.PAYMENT, first.key)
    [second_push] = _pushes(world.db, Kind.PAYMENT, second.key)
    assert first_push.result_remote_id != second_push.result_remote_id


def test_recondesk_retry_lists_a_permanent_refusal_and_does_not_fail_for_it(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import cli, composition

    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.setattr(composition, "system_credentials", lambda: world.ws.credentials)
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    assert not world.workspace(_account_999_gone(world)).act(PushRecord(row.item_id, System.XERO)).ok
    capsys.readouterr()
    for _ in range(2):  # every run, not only the first
        assert cli.main(["retry", "--db", world.db.url, "--profile", "test"]) == 0
    out = capsys.readouterr().out
    assert out.count("needs a change first") == 2 and "999" in out and "Nothing to retry." in out
    [push] = _pushes(world.db, Kind.INVOICE, number)
    assert push.state is PushState.FAILED and push.attempts == 1  # not sent again

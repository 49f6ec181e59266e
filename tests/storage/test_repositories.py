"""Decisions, outbox, audit, sync log and connections on a real database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest

from app.domain.status import Kind, PushState, System
from app.storage import audit, connections, decisions, outbox, synclog
from app.storage.db import Database
from app.storage.models import ConnectionRecord


def test_newest_decision_is_active(db: Database) -> None:
    with db.transaction() as tx:
        decisions.add_decision(tx, Kind.INVOICE, "INV-1", "ignore", "known", "ann", "fp1", at=datetime(2026, 10, 1))
        decisions.add_decision(tx, Kind.INVOICE, "INV-1", "accept_xero", "", "bob", "fp2", at=datetime(2026, 10, 2))
        decisions.add_decision(tx, Kind.PAYMENT, "INV-1:P8:-", "ignore", "dup", "ann", "fp3")
    with db.transaction(readonly=True) as tx:
        active = decisions.active_decisions(tx)
        history = decisions.decisions_for(tx, Kind.INVOICE, "INV-1")
    assert set(active) == {("invoice", "INV-1"), ("payment", "INV-1:P8:-")}
    assert active[("invoice", "INV-1")].resolution == "accept_xero" and active[("invoice", "INV-1")].who == "bob"
    assert [d.fingerprint for d in history] == ["fp1", "fp2"]


def test_outbox_never_adds_the_same_idempotency_key_twice(db: Database) -> None:
    payload = {"amount": Decimal("120.10"), "day": "2026-10-14"}
    with db.transaction() as tx:
        first = outbox.add_push(tx, Kind.PAYMENT, "INV-1:P8:-", "push_payment:xero", System.XERO, payload, "key-1")
    with db.transaction() as tx:
        again = outbox.add_push(tx, Kind.PAYMENT, "INV-1:P8:-", "push_payment:xero", System.XERO, payload, "key-1")
        other = outbox.add_push(tx, Kind.PAYMENT, "INV-1:P8:-", "push_payment:xero", System.XERO, payload, "key-2")
    assert again == first and other != first
    with db.transaction() as tx:
        outbox.mark_push(tx, first, PushState.SENDING)
        outbox.mark_push(tx, first, PushState.UNCERTAIN, error="timed out")
        outbox.mark_push(tx, first, PushState.SENDING)
        outbox.mark_push(tx, first, PushState.SUCCEEDED, result_remote_id="x-9")
        with pytest.raises(KeyError):
            outbox.mark_push(tx, 999, PushState.FAILED)
    with db.transaction(readonly=True) as tx:
        push = outbox.get_push(tx, first)
        assert push.state is PushState.SUCCEEDED and push.attempts == 2 and push.result_remote_id == "x-9"
        assert push.payload == payload and str(push.payload["amount"]) == "120.10"
        assert push.target is System.XERO and push.idempotency_key == "key-1"
        assert [p.id for p in outbox.pushes_for(tx, Kind.PAYMENT, "INV-1:P8:-")] == [first, other]
        assert [p.id for p in outbox.pushes_in_state(tx, [PushState.PENDING])] == [other]


def test_audit_is_append_only(db: Database) -> None:
    with db.transaction() as tx:
        audit.append_audit(
            tx, "ann", "resolve", "invoice", "INV-1", {"status": "differs"}, {"status": "resolved"}, "ok"
        )
        audit.append_audit(tx, "bob", "push", "invoice", "INV-2", {}, {"po": "P"}, "")
    with db.transaction(readonly=True) as tx:
        entries = audit.list_audit(tx, 10)
        only = audit.list_audit(tx, 10, item_key="INV-1")
    assert [e.item_key for e in entries] == ["INV-2", "INV-1"]  # newest first
    assert [e.who for e in only] == ["ann"] and only[0].before == '{"status":"differs"}'
    public = [name for name in dir(audit) if not name.startswith("_")]
    assert not [n for n in public if n.startswith(("update", "delete", "remove", "edit", "set"))]


@dataclass(frozen=True)
class _Stats:
    system: System
    stream: str
    fetched: int = 10
    pages: int = 1
    calls: int = 2
    retries: int = 0
    invalid: int = 1
    error: str = ""


def test_sync_log(db: Database) -> None:
    with db.transaction() as tx:
        crashed = synclog.start_run(tx, full=True, started_at=datetime(2026, 10, 1, 9))
        run = synclog.start_run(tx, full=False, started_at=datetime(2026, 10, 2, 9))
        synclog.finish_run(
            tx,
            run,
            ok=False,
            cancelled=False,
            errors=["Xero: daily limit"],
            stats=[_Stats(System.ACCESSPLANIT, "invoices"), _Stats(System.XERO, "invoices", error="x")],
            counts={"matched": 3},
            budget={"xero.day_remaining": "10"},
            finished_at=datetime(2026, 10, 2, 9, 5),
        )
    with db.transaction(readonly=True) as tx:
        last = synclog.last_run(tx)
        runs = synclog.list_runs(tx, 10)
    assert last is not None and last.id == run and last.ok is False and last.errors == ("Xero: daily limit",)
    assert [s.stream for s in last.streams] == ["invoices", "invoices"] and last.streams[1].error == "x"
    assert last.counts == {"matched": 3} and last.budget == {"xero.day_remaining": "10"}
    assert [r.id for r in runs] == [run, crashed] and runs[1].finished_at is None and runs[1].ok is None


def test_connections_hold_no_secret_and_replace_per_system(db: Database) -> None:
    info = ConnectionRecord(
        System.XERO,
        "uuid-1",
        "http://127.0.0.1:1/api.xro/2.0",
        auth="client_credentials",
        identity_url="http://127.0.0.1:1/identity",
        client_id="cid",
        has_secret=True,
    )
    with db.transaction() as tx:
        connections.save_connection(tx, info)
        connections.save_connection(tx, ConnectionRecord(System.ACCESSPLANIT, "uuid-2", "http://a", username="u"))
        connections.save_connection(tx, ConnectionRecord(System.ACCESSPLANIT, "uuid-3", "http://b", username="v"))
    with db.transaction(readonly=True) as tx:
        assert connections.get_connection(tx, System.XERO) == info
        assert [(c.system, c.connection_id) for c in connections.list_connections(tx)] == [
            (System.ACCESSPLANIT, "uuid-3"),
            (System.XERO, "uuid-1"),
        ]

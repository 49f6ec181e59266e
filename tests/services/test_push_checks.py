"""Preview, checks before sending, no blanking and revert, over the two emulators and a real SQLite cache.

The preview must name exactly the request that is then sent; a rule the target would break is found from the cached
reference data before any call; an empty value is never written over a non-empty one unless a person chose to clear
it; a field push is undone only where the target still holds what was written.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from services_world import World

from app.connectors.base import PushFacts
from app.domain.records import Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, PushState, System
from app.services import plans
from app.services.api import PushField, PushRecord, Revert
from app.settings import Settings
from app.storage import audit, outbox


def _pushes(world: World, kind: Kind, key: str) -> list[Any]:
    with world.db.transaction() as tx:
        return outbox.pushes_for(tx, kind, key)


def _xero_reference(world: World, number: str) -> str:
    [inv] = world.xero_invoices(number)
    return str(inv.get("Reference") or "")


def _requests(world: World, method: str) -> list[dict[str, Any]]:
    log = world.admin(System.XERO, "requests")
    entries = log if isinstance(log, list) else log.get("requests", [])
    return [e for e in entries if e.get("method") == method]


# --- preview ------------------------------------------------------------------------------------------------------


def test_preview_is_the_request_then_sent(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    action = PushField(row.item_id, "po_number", System.XERO)
    before = _xero_reference(world, number)
    plan = world.ws.preview(action)
    assert plan.sendable and not plan.problems and plan.needs == "" and not plan.blocked
    assert plan.target is System.XERO and plan.method == "POST" and plan.path == f"Invoices/{row.ledger_id}"
    body = json.loads(plan.body)
    [change] = plan.changes
    assert (change.field, change.before) == ("po_number", before) and change.after != before
    assert body == {"Invoices": [{"InvoiceID": row.ledger_id, "Reference": change.after}]}
    assert _pushes(world, Kind.INVOICE, row.key) == []  # a preview sends nothing and records nothing

    result = world.ws.act(action)
    assert result.ok, result.message
    assert _xero_reference(world, number) == change.after


def test_preview_of_a_new_invoice_names_its_contact_and_lines(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    plan = world.ws.preview(PushRecord(row.item_id, System.XERO, new_contact=True))
    assert (plan.method, plan.path) == ("PUT", "Invoices")
    [invoice] = json.loads(plan.body, parse_float=Decimal)["Invoices"]
    assert invoice["InvoiceNumber"] == number and invoice["LineItems"]
    assert {c.field for c in plan.changes} >= {"number", "contact", "total"}


# --- checks before sending ----------------------------------------------------------------------------------------


def test_a_locked_period_blocks_the_push_before_any_call(world: World) -> None:
    number = world.number("only_in_source")
    world.boxes.xero_app.ledger.organisation["PeriodLockDate"] = "2026-10-31T00:00:00"
    assert world.ws.sync().ok
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    action = PushRecord(row.item_id, System.XERO, new_contact=True)
    plan = world.ws.preview(action)
    assert plan.blocked and not plan.sendable
    text = " ".join(plan.problems)
    assert "period lock date" in text and "2026-10-31" in text and "adviser" in text, text
    [shown] = world.ws.rows([row.item_id])
    assert "blocked" in shown.flags and "period lock date" in shown.reason

    puts = len(_requests(world, "PUT"))
    result = world.ws.act(action)
    assert not result.ok and result.refused == "blocked" and "period lock date" in result.message
    assert _pushes(world, Kind.INVOICE, row.key) == [] and world.xero_invoices(number) == []
    assert len(_requests(world, "PUT")) == puts  # nothing reached Xero

    # An adviser moves the lock date back; the next sync reads it and the push goes through.
    world.boxes.xero_app.ledger.organisation["PeriodLockDate"] = "2026-09-30T00:00:00"
    assert world.ws.sync().ok
    assert world.ws.act(action).ok
    [now] = world.ws.rows([row.item_id])
    assert "blocked" not in now.flags


def test_lock_dates_follow_the_connection_role_as_xero_does(world: World) -> None:
    """Xero's period lock date holds everyone but advisers; its end of year lock date holds advisers too. The checks
    before a push follow the role (`Settings.xero_adviser`), and quote Xero's own refusal."""
    number = world.number("only_in_source")
    org = world.boxes.xero_app.ledger.organisation
    org["PeriodLockDate"], org["EndOfYearLockDate"] = "2026-10-31T00:00:00", "2026-03-31T00:00:00"
    assert world.ws.sync().ok
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    action = PushRecord(row.item_id, System.XERO, new_contact=True)

    standard = world.ws.preview(action)
    text = " ".join(standard.problems)
    assert standard.blocked and "period lock date (2026-10-31)" in text, text
    assert '"The document date cannot be before the period lock date, currently set at 31-Oct-2026."' in text
    assert "adviser role can post into it" in text
    refused = world.ws.act(action)
    assert not refused.ok and refused.refused == "blocked" and world.xero_invoices(number) == []

    # The same connection with the adviser role (the sandbox's `role=adviser`): the period lock does not hold it.
    world.faults(System.XERO, "role=adviser")
    adviser = world.workspace(replace(Settings(), xero_adviser=True))
    assert not adviser.preview(action).blocked
    # ... but the end of year lock does, for advisers too: the check and Xero agree.
    org["EndOfYearLockDate"] = "2026-10-31T00:00:00"
    assert adviser.sync().ok
    year = adviser.preview(action)
    text = " ".join(year.problems)
    assert year.blocked and "end of year lock date (2026-10-31)" in text and "period lock date (" not in text, text
    assert "currently set at 31-Oct-2026" in text and "An adviser can move the end of year lock date" in text
    assert not adviser.act(action).ok and world.xero_invoices(number) == []
    org["EndOfYearLockDate"] = "2026-03-31T00:00:00"
    assert adviser.sync().ok
    pushed = adviser.act(action)
    assert pushed.ok, pushed.message
    assert len(world.xero_invoices(number)) == 1  # Xero took it from the adviser, inside the period lock


def test_the_lock_rule_per_role_and_lock_from_the_connectors_facts() -> None:
    from app.connectors.xero.profile import ledger_facts

    facts = ledger_facts(
        {"organisation": [{"PeriodLockDate": "2026-09-30", "EndOfYearLockDate": "/Date(1774915200000+0000)/"}]}
    )
    pay = Payment(
        system=System.ACCESSPLANIT,
        id="t-1",
        invoice_id="x-1",
        invoice_number="INV-1",
        direction=Direction.PAYMENT,
        amount=Decimal("10.00"),
        date=date(2026, 9, 15),
        method="Card",
        reference="r",
        currency="GBP",
    )
    settings = replace(Settings(), method_accounts={"Card": "090"})
    plan = plans.plan_push_payment(pay, _invoice(System.XERO), settings, "INV-1:P1")
    for adviser, day, held in [
        (False, date(2026, 9, 15), "period lock date"),
        (True, date(2026, 9, 15), None),
        (False, date(2026, 3, 31), "period lock date"),
        (True, date(2026, 3, 31), "end of year lock date"),
        (True, date(2026, 4, 1), None),
    ]:
        plan = replace(plan, payload={**plan.payload, "date": day.isoformat()})
        problems = plans.check_plan(plan, plans.Context(facts, _invoice(System.XERO), adviser=adviser))
        locks = [x.text for x in problems if "lock date" in x.text]
        if held is None:
            assert locks == [], (adviser, day, locks)
        else:
            assert len(locks) == 1 and f"locked by its {held}" in locks[0], (adviser, day, locks)


def test_a_new_contact_needs_a_choice_and_a_known_one_is_sent_by_id(world: World) -> None:
    number = world.number("only_in_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    plan = world.ws.preview(PushRecord(row.item_id, System.XERO))
    body = json.loads(plan.body)["Invoices"][0]
    if plan.needs == "new_contact":  # no Xero contact has this name: a person must confirm a new one
        assert "Contact" in body and body["Contact"] == {"Name": row.contact}
        refused = world.ws.act(PushRecord(row.item_id, System.XERO))
        assert not refused.ok and refused.refused == "blocked" and world.xero_invoices(number) == []
        assert world.ws.act(PushRecord(row.item_id, System.XERO, new_contact=True)).ok
    else:  # an existing contact has exactly this name: the invoice names it by its ContactID
        assert set(body["Contact"]) == {"ContactID"}
        assert world.ws.act(PushRecord(row.item_id, System.XERO)).ok
    [created] = world.xero_invoices(number)
    assert created["Contact"]["Name"].casefold() == row.contact.casefold()


def test_blanking_is_refused_unless_the_person_chooses_to_clear(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    assert row.ledger_id is not None
    # Xero's PO number is emptied there; accessplanit still has one. Pushing Xero's value would blank it.
    world.ws._clients.ledger().update_invoice(row.ledger_id, po_number="", idempotency_key="test-empty-po")
    assert world.ws.sync().ok
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    action = PushField(row.item_id, "po_number", System.ACCESSPLANIT)
    plan = world.ws.preview(action)
    assert plan.needs == "clear" and not plan.blocked and not plan.sendable
    assert plan.changes[0].before != "" and plan.changes[0].after == ""
    refused = world.ws.act(action)
    assert not refused.ok and refused.refused == "blanking", refused
    assert _pushes(world, Kind.INVOICE, row.key) == []
    ap = [i for i in world.admin(System.ACCESSPLANIT, "state")["Invoice"]["results"] if i["Reference"] == number]
    assert ap[0]["PONumber"]

    cleared = world.ws.act(replace(action, clear=True))
    assert cleared.ok, cleared.message
    ap = [i for i in world.admin(System.ACCESSPLANIT, "state")["Invoice"]["results"] if i["Reference"] == number]
    assert not ap[0]["PONumber"]


def _facts() -> PushFacts:
    return PushFacts(
        locks=(("period lock date", date(2026, 9, 30)),),
        tax_types={"OUTPUT2": True, "OLDTAX": False},
        accounts={"200": True, "090": True, "299": False},
        contacts={"acme ltd": "c-1"},
        contact_ids=frozenset({"c-1"}),
    )


def _invoice(system: System, **kw: Any) -> Invoice:
    base: dict[str, Any] = {
        "system": system,
        "id": "x-1",
        "number": "INV-1",
        "contact": "Acme Ltd",
        "issue_date": date(2026, 10, 5),
        "due_date": date(2026, 11, 4),
        "po_number": "PO-1",
        "currency": "GBP",
        "net": Decimal("100.00"),
        "tax": Decimal("20.00"),
        "total": Decimal("120.00"),
        "paid": Decimal("0"),
        "due": Decimal("120.00"),
        "state": InvoiceState.OPEN,
    }
    return Invoice(**{**base, **kw})


def test_the_rules_each_name_what_is_wrong() -> None:
    facts = _facts()
    source = _invoice(System.ACCESSPLANIT)
    ledger = _invoice(System.XERO, id="g-1")
    # PO too long for accessplanit
    long_po = plans.plan_push_field(replace(ledger, po_number="P" * 60), source, "po_number", "INV-1")
    [problem] = plans.check_plan(long_po, plans.Context(facts, source))
    assert problem.flag == "blocked" and "50 characters" in problem.text
    # a payment above what is due
    pay = Payment(
        system=System.ACCESSPLANIT,
        id="t-1",
        invoice_id="x-1",
        invoice_number="INV-1",
        direction=Direction.PAYMENT,
        amount=Decimal("150.00"),
        date=date(2026, 10, 6),
        method="Card",
        reference="r",
        currency="GBP",
    )
    settings = replace(Settings(), method_accounts={"Card": "090"})
    plan = plans.plan_push_payment(pay, ledger, settings, "INV-1")
    [over] = plans.check_plan(plan, plans.Context(facts, ledger))
    assert "more than" in over.text and "120.00" in over.text
    # archived account, unknown tax type, a number taken by a deleted invoice, unknown contact
    inv = replace(source, lines=(Line("a", Decimal(1), Decimal(1)),))
    bad = replace(Settings(), sales_account_code="299", sales_tax_type="NOPE")
    plan = plans.plan_push_invoice(replace(inv, contact="Nobody"), bad, "INV-1", System.XERO)
    texts = [p.text for p in plans.check_plan(plan, plans.Context(facts, None, number_taken="deleted"))]
    assert any("'NOPE' does not exist" in t for t in texts), texts
    assert any("'299' is archived" in t for t in texts), texts
    assert any("deleted" in t and "INV-1" in t for t in texts), texts
    assert any("No contact named 'Nobody'" in t for t in texts), texts
    # a known contact is matched by its normalised name
    assert plans.match_contact("  ACME   ltd ", facts) == "c-1"


# --- revert -------------------------------------------------------------------------------------------------------


def test_revert_writes_back_what_the_push_replaced(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    old = _xero_reference(world, number)
    assert world.ws.act(PushField(row.item_id, "po_number", System.XERO)).ok
    [push] = _pushes(world, Kind.INVOICE, row.key)
    assert _xero_reference(world, number) != old

    result = world.ws.act(Revert(push.id, "pushed the wrong way"))
    assert result.ok, result.message
    assert _xero_reference(world, number) == old
    last = _pushes(world, Kind.INVOICE, row.key)[-1]
    assert last.state is PushState.SUCCEEDED and last.payload["revert_of"] == push.id
    with world.db.transaction() as tx:
        entries = audit.list_audit(tx, item_key=row.key)
    assert any(e.action == "revert" and e.note == "pushed the wrong way" for e in entries)


def test_revert_refuses_when_the_target_changed_since(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    assert row.ledger_id is not None
    assert world.ws.act(PushField(row.item_id, "po_number", System.XERO)).ok
    [push] = _pushes(world, Kind.INVOICE, row.key)
    world.ws._clients.ledger().update_invoice(row.ledger_id, po_number="PO-EDITED", idempotency_key="test-edit")
    result = world.ws.act(Revert(push.id, "undo"))
    assert not result.ok and result.refused == "blocked"
    assert "changed since" in result.message and "PO-EDITED" in result.message
    assert _xero_reference(world, number) == "PO-EDITED"
    assert len(_pushes(world, Kind.INVOICE, row.key)) == 1


def test_only_field_pushes_can_be_reverted(world: World) -> None:
    number = world.number("payment_only_in_source")
    pay = world.item(number, Kind.PAYMENT, ItemStatus.ONLY_IN_SOURCE)
    assert world.ws.act(PushRecord(pay.item_id, System.XERO)).ok
    [push] = _pushes(world, Kind.PAYMENT, pay.key)
    result = world.ws.act(Revert(push.id, "undo"))
    assert not result.ok and "Only a pushed field can be reverted" in result.message

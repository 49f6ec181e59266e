"""Sign-off that holds: a period signed off on a real SQLite cache synced from the built-in sandboxes; a later change
of one PO number and one payment in the sandbox, then an ordinary (incremental) sync, reopens exactly those two
items with the agreed and current values, and the report JSON carries `signoff` as product.md section 8 says.
Also: per-currency control totals, refusal while items are open, the audit entry, and period checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from services_world import MONTH, World

from app.domain.status import ItemStatus, Kind, System
from app.sandbox.accessplanit.app import wire_datetime
from app.services import report
from app.services.api import ItemFilter, ItemRow
from app.storage import audit as audit_repo


def _ap_change(world: World, module: str, rid: str, changes: dict[str, Any]) -> None:
    """Change a record in the accessplanit sandbox as a person would in its UI (its DateUpdated moves on)."""
    app = world.boxes.accessplanit_app
    app.tables[module].modify(rid, {**changes, "DateUpdated": wire_datetime(app._clock())})


def _rows(world: World) -> list[ItemRow]:
    return list(world.ws.rows(world.ws.item_ids(ItemFilter(period=MONTH))))


def test_signoff_is_refused_while_items_are_open_and_records_the_exceptions(world: World) -> None:
    ws = world.ws
    preview = ws.signoff_preview(MONTH)
    assert preview.open_items and preview.current is None
    assert len({t.currency for t in preview.totals}) > 1 and "GBP" in {t.currency for t in preview.totals}
    refused = ws.sign_off(MONTH, "checked against the bank", with_exceptions=False)
    assert not refused.ok and refused.refused and "open" in refused.message
    assert ws.report(MONTH)["signoff"] is None
    done = ws.sign_off(MONTH, "checked against the bank", with_exceptions=True)
    assert done.ok and done.state is not None
    assert set(done.state.exceptions) == {r.key for r in preview.open_items}
    assert done.state.by == "tester" and done.items == preview.items
    signed = ws.report(MONTH)["signoff"]
    assert {k: signed[k] for k in ("by", "note", "with_exceptions", "hash")} == {
        "by": "tester",
        "note": "checked against the bank",
        "with_exceptions": True,
        "hash": done.state.hash,
    }
    assert signed["at"] == done.state.at.isoformat() and signed["reopened"] is False
    with world.db.transaction(readonly=True) as tx:
        entry = audit_repo.list_audit(tx, 1)[0]
    assert (entry.action, entry.item_kind, entry.item_key, entry.who) == ("signoff", "period", MONTH, "tester")
    assert done.state.hash in entry.after
    # Nothing changed: a sync reopens nothing, and signing again gives the same digest.
    assert world.ws.sync().ok
    assert not [r for r in _rows(world) if "reopened" in r.flags]
    again = ws.sign_off(MONTH, "again", with_exceptions=True)
    assert again.state is not None and again.state.hash == done.state.hash


def test_a_later_sync_reopens_exactly_the_changed_items_with_agreed_and_current_values(world: World) -> None:
    ws = world.ws
    assert ws.sign_off(MONTH, "month closed", with_exceptions=True).ok
    invoice = next(r for r in _rows(world) if r.kind is Kind.INVOICE and r.status is ItemStatus.MATCHED)
    payment = next(
        r
        for r in _rows(world)
        if r.kind is Kind.PAYMENT and r.status is ItemStatus.MATCHED and r.invoice != invoice.invoice
    )
    assert invoice.source_id and payment.source_id
    state = world.admin(System.ACCESSPLANIT, "state")
    old_po = next(i for i in state["Invoice"]["results"] if str(i["ID"]) == invoice.source_id)["PONumber"] or ""
    tx = next(t for t in state["Transaction"]["results"] if str(t["ID"]) == payment.source_id)
    old_amount = Decimal(str(tx["Amount"]))
    _ap_change(world, "Invoice", invoice.source_id, {"PONumber": "PO-MOVED-1"})
    _ap_change(world, "Transaction", payment.source_id, {"Amount": old_amount + Decimal("5.00")})

    assert ws.sync().ok  # an ordinary (incremental) sync: only the touched keys are redone
    reopened = [r for r in _rows(world) if "reopened" in r.flags]
    assert {(r.kind, r.key) for r in reopened} == {(Kind.INVOICE, invoice.key), (Kind.PAYMENT, payment.key)}

    data = ws.report(MONTH)
    assert data["signoff"]["reopened"] is True
    assert set(data["signoff"]["reopened_keys"]) == {invoice.key, payment.key}
    by_key = {i["key"]: i for i in data["items"]}
    since_inv = by_key[invoice.key]["since"]
    assert since_inv["accessplanit"] == {"po_number": old_po} and since_inv["xero"] == {"po_number": old_po}
    assert since_inv["now"]["accessplanit"] == {"po_number": "PO-MOVED-1"}
    assert since_inv["now"]["xero"] == {"po_number": old_po} and since_inv["moved"] == ["accessplanit"]
    since_pay = by_key[payment.key]["since"]
    cur = payment.currency
    assert Decimal(since_pay["accessplanit"]["amount"].split()[0]) == old_amount, since_pay
    assert Decimal(since_pay["now"]["accessplanit"]["amount"].split()[0]) == old_amount + 5, (since_pay, cur)
    assert since_pay["moved"] == ["accessplanit"]
    assert all("since" not in i for k, i in by_key.items() if k not in (invoice.key, payment.key))

    # The item panel: a three-way view of each moved field (agreed, accessplanit now, Xero now, which moved).
    detail = ws.item_detail(invoice.item_id)
    assert [(d.label, d.agreed, d.source_now, d.ledger_now) for d in detail.drift] == [
        ("PO number", old_po, "PO-MOVED-1", old_po)
    ]
    assert [m.value for m in detail.drift[0].moved] == ["source"] and "moved" in detail.drift_note

    # Signing the period off again agrees to the new values: nothing is reopened any more.
    assert ws.sign_off(MONTH, "re-checked after the changes", with_exceptions=True).ok
    assert not [r for r in _rows(world) if "reopened" in r.flags]
    assert ws.report(MONTH)["signoff"]["reopened"] is False


def test_totals_are_per_currency_and_never_summed_across_currencies(world: World) -> None:
    data = world.ws.report(MONTH)
    for system in ("accessplanit", "xero"):
        t = data["totals"][system]
        assert len(t["by_currency"]) > 1
        assert t["total"] is None and t["paid"] is None
        assert sum(int(c["invoices"]) for c in t["by_currency"].values()) == t["invoices"]
        for c in t["by_currency"].values():
            assert set(c) == {"invoices", "total", "paid", "due"}
            assert all(isinstance(v, str) for v in c.values())


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "october", "2026-1", "26-10", "2026/10", ""])
def test_a_bad_period_is_refused_with_one_line(world: World, bad: str) -> None:
    with pytest.raises(report.PeriodError) as caught:
        world.ws.report(bad)
    assert "\n" not in str(caught.value) and "YYYY-MM" in str(caught.value)
    with pytest.raises(report.PeriodError):
        world.ws.signoff_preview(bad)

"""The `Workspace` facade over a synced generated month (both emulators, real SQLite): item queries filtered in the
database, the side-by-side detail, actions per status, resolve through `act`, decisions that survive a re-sync,
summary, audit, reports, and no secret in the cache file or any export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from services_world import MONTH, World

from app.domain.status import ItemStatus, Kind, Resolution, System
from app.reconcile.rules import INVOICE_FIELD_NAMES, PAYMENT_FIELD_NAMES
from app.services.api import (
    ChangeSet,
    ItemFilter,
    PushField,
    PushRecord,
    Recondesk,
    Resolve,
    RetryPush,
)
from app.services.workspace import Workspace


def test_workspace_implements_the_protocol(world: World) -> None:
    ws: Recondesk = world.ws  # mypy checks this assignment; the loop checks at run time
    for name in [n for n in dir(Recondesk) if not n.startswith("_")]:
        assert callable(getattr(ws, name)), name
    assert isinstance(world.ws, Workspace)


def test_item_queries_filter_in_the_database(world: World) -> None:
    ws = world.ws
    assert list(ws.periods()) == [MONTH]
    everything = ws.item_ids(ItemFilter())
    assert ws.count_items(ItemFilter()) == len(everything) > 40
    # Another month holds none of this month's items; only records with no readable date (invalid) show in every month.
    other = ws.rows(ws.item_ids(ItemFilter(period="2026-09")))
    assert ws.count_items(ItemFilter(period="2026-09")) == len(other)
    assert all(r.status is ItemStatus.INVALID and not r.date for r in other)
    differs = ItemFilter(period=MONTH, statuses=(ItemStatus.DIFFERS,))
    rows = ws.rows(ws.item_ids(differs))
    assert len(rows) == ws.count_items(differs) > 0 and {r.status for r in rows} == {ItemStatus.DIFFERS}
    payments = ws.rows(ws.item_ids(ItemFilter(kind=Kind.PAYMENT)))
    assert payments and {r.kind for r in payments} == {Kind.PAYMENT}
    contact = rows[0].contact
    found = ws.rows(ws.item_ids(ItemFilter(search=contact.upper())))
    assert found and all(contact.casefold() in r.contact.casefold() or r.key for r in found)
    some = list(reversed(everything[:5]))
    assert [r.item_id for r in ws.rows(some)] == some  # rows come back in the order asked
    for r in ws.rows(everything):
        if r.amount:
            whole, _, cents = r.amount.partition(".")
            assert whole.lstrip("-").isdigit() and len(cents) == 2, r.amount


def test_detail_of_a_differing_invoice(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    d = world.ws.item_detail(row.item_id)
    assert [f.field for f in d.diffs] == list(INVOICE_FIELD_NAMES)
    po = next(f for f in d.diffs if f.field == "po_number")
    assert po.differs and po.source != po.ledger and po.label == "PO number"
    assert [f.field for f in d.diffs if f.differs] == ["po_number"]
    assert d.lines_source and len(d.lines_source) == len(d.lines_ledger)
    v = d.row.version  # each offered action names the version shown
    assert {a.action for a in d.actions} >= {
        PushField(row.item_id, "po_number", System.XERO, expected_version=v),
        PushField(row.item_id, "po_number", System.ACCESSPLANIT, expected_version=v),
        Resolve(row.item_id, Resolution.ACCEPT_SOURCE, expected_version=v),
        Resolve(row.item_id, Resolution.ACCEPT_LEDGER, expected_version=v),
        Resolve(row.item_id, Resolution.IGNORE, expected_version=v),
    }
    assert number in d.raw_source and number in d.raw_ledger
    assert json.loads(d.raw_ledger)["InvoiceNumber"] == number
    assert d.error == "" and d.pushes == () and d.audit == ()


def test_detail_shows_xero_paid_net_of_refunds(world: World) -> None:
    """docs/reconciliation.md section 4: Xero pays a refund out of a credit note and leaves the invoice alone."""
    number = world.number("refund")
    row = world.item(number, Kind.INVOICE, ItemStatus.MATCHED)
    d = world.ws.item_detail(row.item_id)
    paid = next(f for f in d.diffs if f.field == "paid")
    assert not paid.differs and paid.source == paid.ledger


def test_detail_of_one_sided_and_invalid_items(world: World) -> None:
    only = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    d = world.ws.item_detail(only.item_id)
    assert all(not f.differs and f.ledger == "" for f in d.diffs)
    assert next(f for f in d.diffs if f.field == "total").source == only.amount
    assert (
        PushRecord(only.item_id, System.XERO, expected_version=d.row.version) in {a.action for a in d.actions}
        and d.raw_ledger == ""
    )

    pay = world.item(world.number("payment_reference_differs"), Kind.PAYMENT, ItemStatus.DIFFERS)
    dp = world.ws.item_detail(pay.item_id)
    assert [f.field for f in dp.diffs] == list(PAYMENT_FIELD_NAMES)
    assert [f.field for f in dp.diffs if f.differs] == ["reference"]
    assert not any(isinstance(a.action, (PushRecord, PushField)) for a in dp.actions)  # Xero payments are read-only

    invalid = [r for r in world.ws.rows(world.ws.item_ids(ItemFilter(statuses=(ItemStatus.INVALID,))))]
    assert {r.key.split(":")[1] for r in invalid} == {"accessplanit", "xero"}
    for r in invalid:
        di = world.ws.item_detail(r.item_id)
        assert di.error and (di.raw_source or di.raw_ledger), di
        assert di.actions == ()


def test_resolve_through_act_survives_a_resync(world: World) -> None:
    ws = world.ws
    row = world.item(world.number("amounts_differ"), Kind.INVOICE, ItemStatus.DIFFERS)
    refused = ws.act(Resolve(row.item_id, Resolution.IGNORE, ""))
    assert not refused.ok and "note" in refused.message and refused.item is not None
    assert refused.item.status is ItemStatus.DIFFERS and refused.changes == ChangeSet()
    done = ws.act(Resolve(row.item_id, Resolution.IGNORE, "Xero has the discounted price; agreed with the customer"))
    assert done.ok and done.item is not None and done.item.status is ItemStatus.RESOLVED
    # What changed: that one item, in place; its status moved, so the counts; the audit log has a line.
    assert done.changes == ChangeSet(changed=frozenset({row.item_id}), counts=True, audit=True)
    accepted = ws.act(
        Resolve(world.item(world.number("only_in_ledger"), Kind.INVOICE).item_id, Resolution.ACCEPT_LEDGER)
    )
    assert accepted.ok
    assert ws.sync(full=True).ok
    # The data did not change, so the decisions still hold.
    assert world.item(world.number("amounts_differ"), Kind.INVOICE).status is ItemStatus.RESOLVED
    assert world.item(world.number("only_in_ledger"), Kind.INVOICE).status is ItemStatus.RESOLVED
    entries = ws.audit()
    assert [e.action for e in entries[:2]] == ["resolve:accept_xero", "resolve:ignore"]
    assert entries[1].note.startswith("Xero has the discounted price") and entries[1].who == "tester"
    detail = ws.item_detail(world.item(world.number("amounts_differ"), Kind.INVOICE).item_id)
    assert [a.action for a in detail.audit] == ["resolve:ignore"]


def test_unknown_actions_are_refused_for_people(world: World) -> None:
    row = world.item(world.number("matched_open"), Kind.INVOICE, ItemStatus.MATCHED)
    assert world.ws.item_detail(row.item_id).actions == ()
    for action in (
        PushRecord(row.item_id, System.XERO),
        PushRecord(row.item_id, System.ACCESSPLANIT),
        PushField(row.item_id, "contact", System.XERO),
        RetryPush(99999),
    ):
        result = world.ws.act(action)
        assert not result.ok and result.message and result.changes == ChangeSet(), action
    assert not world.ws.act(Resolve(10**9, Resolution.IGNORE, "x")).ok


def test_summary(world: World) -> None:
    s = world.ws.summary(MONTH)
    assert s.connections == {"accessplanit": True, "xero": True}
    assert s.last_sync is not None and s.last_sync_ok is True
    for status in ItemStatus:
        assert s.counts.get(str(status), 0) == world.ws.count_items(ItemFilter(period=MONTH, statuses=(status,)))


def test_reports_and_no_secret_anywhere(world: World, tmp_path: Path) -> None:
    ws = world.ws
    secrets = [world.boxes.info["accessplanit"]["password"], world.boxes.info["xero"]["client_secret"]]
    # push something so the outbox and the audit have rows too
    only = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    assert ws.act(PushRecord(only.item_id, System.XERO)).ok
    data = json.loads(ws.report_bytes(MONTH, "json"))
    assert data["period"] == MONTH and data["totals"]["accessplanit"]["invoices"] > 0
    assert len(data["items"]) + len(data["unreadable"]) == ws.count_items(ItemFilter(period=MONTH))
    pushed = next(i for i in data["items"] if i["key"] == only.key)
    assert pushed["status"] == "matched" and pushed["push"] == "succeeded"
    rows = list(csv.DictReader(io.StringIO(ws.report_bytes(MONTH, "csv").decode("utf-8-sig"))))
    # the csv is the pack's: one row per item of the period; an unreadable record without a date is in its own section
    assert len(rows) == len([i for i in data["items"] if i["status"] != "invalid" or i["date"]])
    exports = {f: ws.report_bytes(MONTH, f) for f in ("json", "csv", "xlsx", "pdf")}
    assert exports["pdf"].startswith(b"%PDF") and exports["xlsx"].startswith(b"PK")
    for secret in secrets:
        for name, blob in exports.items():
            assert secret.encode() not in blob, name
    if world.db.url.startswith("sqlite"):
        world.db.dispose()  # flush the WAL so the files hold everything
        files = [p for p in Path(world.db.url.removeprefix("sqlite:///")).parent.glob("cache.sqlite3*") if p.is_file()]
        assert files
        stored = [(str(path), path.read_bytes()) for path in files]
    else:  # PostgreSQL: every row of every table, as text
        from sqlalchemy import select

        from app.storage.schema import metadata

        with world.db.engine.connect() as conn:
            stored = [(t.name, repr(conn.execute(select(t)).all()).encode()) for t in metadata.sorted_tables]
        assert any(len(blob) > 1000 for _name, blob in stored)  # the tables were read
    for secret in secrets:
        for where, blob in stored:
            assert secret.encode() not in blob, where
    assert ws.credentials_description().startswith("memory")
    assert {c.system for c in ws.connections()} == {System.ACCESSPLANIT, System.XERO}


def test_pages_in_every_order_cover_the_filter_once_in_order(world: World) -> None:
    """Keyset pages in each order the list offers: together exactly the filter's items, none twice, sorted by the
    database the way one sorted query would sort them; counts come from one aggregate."""
    from app.services.api import ORDERS
    from app.storage import items as items_repo

    ws = world.ws
    flt = ItemFilter(period=MONTH)
    expected = set(ws.item_ids(flt))
    counts = ws.list_counts(flt)
    assert counts.total == len(expected) == sum(counts.by_status.values())
    differs = ws.list_counts(ItemFilter(period=MONTH, statuses=(ItemStatus.DIFFERS,)))
    assert (
        differs.total
        == counts.by_status[ItemStatus.DIFFERS.value]
        == len(ws.item_ids(ItemFilter(period=MONTH, statuses=(ItemStatus.DIFFERS,))))
    )
    for order in (*ORDERS, *(f"-{o}" for o in ORDERS)):
        got: list[int] = []
        page = ws.page(flt, order, None, 7)
        got.extend(r.item_id for r in page.rows)
        while page.next is not None:
            page = ws.page(flt, order, page.next, 7)
            got.extend(r.item_id for r in page.rows)
        assert len(got) == len(set(got)) and set(got) == expected, order
        with ws.db.transaction(readonly=True) as tx:
            assert got == items_repo.query_item_ids(tx, MONTH, order=order), order
    with pytest.raises(ValueError):
        ws.page(flt, "fingerprint")


def test_a_push_says_what_it_changed(world: World) -> None:
    """Creating an invoice in Xero re-reconciles that invoice only: its item changed in place (status and counts),
    nothing else in the cache is named, and the change set matches what the list shows afterwards."""
    ws = world.ws
    only = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    others = {i for i in ws.item_ids(ItemFilter()) if i != only.item_id}
    result = ws.act(PushRecord(only.item_id, System.XERO))
    assert result.ok, result.message
    assert result.item is not None and result.item.status is ItemStatus.MATCHED
    assert only.item_id in result.changes.changed and result.changes.counts and result.changes.audit
    assert not result.changes.everything
    # Only items of the same invoice (the invoice and its payments) may be named.
    assert {r.invoice for r in ws.rows(sorted(result.changes.items - {only.item_id}))} <= {only.invoice}
    assert len(result.changes.items & others) < len(others)

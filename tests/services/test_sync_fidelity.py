"""End to end against emulators that behave like a stricter real service: the whole sync (real connectors, real
SQLite cache) agrees with the generator's oracle when accessplanit caps `$top` at 100, 250 or 1,000, and in strict
mode (no `in (...)`, no DateUpdated queries, no Xero `IDs=` on CreditNotes), where a later incremental sync still
brings a change made on the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from test_sync import _new_cache, _snapshot, make_clients

from app.domain.status import System
from app.sandbox.runner import SandboxOptions, start_sandboxes
from app.services.sync import sync_all
from app.settings import Settings
from app.storage import items as item_repo
from app.storage import records
from app.storage.db import Database
from app.storage.schema import records as records_table

AP = System.ACCESSPLANIT


def _agrees_with_oracle(db: Database, expected: list[dict[str, Any]]) -> None:
    with db.transaction(readonly=True) as tx:
        got = {(r.kind.value, r.key): r for r in item_repo.item_rows(tx, item_repo.query_item_ids(tx))}
    want = {(e["kind"], e["key"]): e for e in expected}
    assert set(got) == set(want)
    wrong = [k for k in want if want[k]["status"] != got[k].status.value]
    assert wrong == []


@pytest.mark.parametrize(
    ("cap", "strict"),
    [(100, False), (250, False), (1000, False), (100, True), (250, True), (1000, True)],
    ids=["100", "250", "1000", "strict-100", "strict-250", "strict-1000"],
)
def test_sync_agrees_with_the_generator_at_any_cap_and_in_strict_mode(tmp_path: Path, cap: int, strict: bool) -> None:
    opts = SandboxOptions(seed=7, invoices=400, month="2026-10", max_top=cap, strict=strict)
    with start_sandboxes(opts) as sb:
        assert sb.expected is not None
        db = _new_cache(tmp_path / "cache.sqlite3")
        result = sync_all(db, make_clients(sb.info, page_size=1000), Settings())
        assert result.ok, result.errors
        _agrees_with_oracle(db, sb.expected)
        with db.transaction(readonly=True) as tx:
            rows = tx.conn.execute(
                select(func.count()).where(records_table.c.system == AP.value, records_table.c.kind == "invoice")
            ).scalar_one()
        assert rows == len(sb.accessplanit_app.tables["Invoice"].rows)  # every record arrived
        with db.transaction(readonly=True) as tx:  # every payment too (one allocated across invoices: its parts)
            ids = tx.conn.execute(
                select(records_table.c.remote_id).where(
                    records_table.c.system == AP.value, records_table.c.kind == "payment"
                )
            ).scalars()
            cached = {i.split("-", 1)[0] for i in ids}
        assert cached == {str(t["ID"]) for t in sb.accessplanit_app.tables["Transaction"].rows}
        if not strict:
            return
        with db.transaction(readonly=True) as tx:
            assert records.get_cursor(tx, AP, "payments")["unsupported"] == ["DateUpdated"]  # type: ignore[index]
        # A change on the service reaches the cache on the next (incremental) sync, by the full re-read.
        before = _snapshot(db)
        clients = make_clients(sb.info, page_size=1000)
        some = next(iter(records_of(db)))
        clients[AP].update_invoice(some, po_number="PO-CHANGED-IN-STRICT")
        again = sync_all(db, make_clients(sb.info, page_size=1000), Settings())
        assert again.ok, again.errors
        with db.transaction(readonly=True) as tx:
            changed = {i.id: i.po_number for i in records.load_invoices(tx, AP)}
        assert changed[some] == "PO-CHANGED-IN-STRICT"
        assert _snapshot(db) != before
        db.dispose()


def records_of(db: Database) -> list[str]:
    with db.transaction(readonly=True) as tx:
        return sorted(i.id for i in records.load_invoices(tx, AP))


def test_two_accessplanit_invoices_with_one_id_stay_visible_as_invalid(tmp_path: Path) -> None:
    """The issue's case: a second invoice carrying INV-A's ID must not replace INV-A nor take its payments."""
    from app.sandbox.common import dumps
    from app.sandbox.generator import generate, write_fixtures
    from app.sandbox.runner import load_fixtures

    month = generate(seed=7, invoices=60, month="2026-10")
    write_fixtures(month, tmp_path / "fx")
    data = load_fixtures(str(tmp_path / "fx"))["accessplanit"]
    paid_ids = {str(t["InvoiceID"]) for t in data["Transaction"] if isinstance(t, dict)}
    first = next(i for i in data["Invoice"] if str(i.get("ID")) in paid_ids)
    after = data["Invoice"][data["Invoice"].index(first) + 1 :]  # the second comes later in the page
    other = next(i for i in after if str(i.get("ID")) not in paid_ids)
    other["ID"] = first["ID"]  # two invoices, one ID
    (tmp_path / "fx" / "accessplanit" / "Invoice.json").write_bytes(dumps({"results": data["Invoice"]}))
    with start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "fx"))) as sb:
        db = _new_cache(tmp_path / "cache.sqlite3")
        result = sync_all(db, make_clients(sb.info, page_size=1000), Settings())
        assert result.ok, result.errors
        with db.transaction(readonly=True) as tx:
            rows = item_repo.item_rows(tx, item_repo.query_item_ids(tx))
        reason = f"two records with ID {first['ID']}"
        invalid = sorted(r.source_id or "" for r in rows if r.status.value == "invalid" and reason in r.reason)
        assert invalid == sorted([str(first["ID"]), f"{first['ID']}~2"])
        number = str(first["Reference"]).strip()
        its = {str(t["ID"]) for t in data["Transaction"] if str(t["InvoiceID"]) == str(first["ID"])}
        payments = [r for r in rows if r.kind.value == "payment" and r.source_id in its]
        assert payments and all(r.invoice.upper() == number.upper() for r in payments)  # they did not move
        db.dispose()


@pytest.mark.parametrize("strict", [False, True], ids=["lax", "strict"])
def test_duplicate_ids_on_different_pages_stay_visible_as_invalid_and_the_second_never_overwrites_the_first(
    tmp_path: Path, strict: bool
) -> None:
    """accessplanit caps pages at 100: an invoice ID repeated on the next page (the last row of one page, the first
    of the next, in ID order) and a payment ID repeated far apart (DateUpdated order) are each caught across pages.
    Both rows of each stay `invalid`; the first keeps its number and payments; a later sync in the same process
    (incremental, then full) keeps it so."""
    from app.sandbox.common import dumps
    from app.sandbox.generator import generate, write_fixtures
    from app.sandbox.runner import load_fixtures

    month = generate(seed=7, invoices=260, month="2026-10")
    write_fixtures(month, tmp_path / "fx")
    data = load_fixtures(str(tmp_path / "fx"))["accessplanit"]
    invoices = [i for i in data["Invoice"] if isinstance(i, dict)]
    transactions = [t for t in data["Transaction"] if isinstance(t, dict)]
    by_id = sorted(invoices, key=lambda i: int(i["ID"]))
    first = by_id[99]  # the last row of the first page of 100
    transactions[len(transactions) // 2]["InvoiceID"] = first["ID"]  # it has a payment
    paid_ids = {str(t["InvoiceID"]) for t in transactions}
    later = invoices[invoices.index(first) + 1 :]  # stored after it, so listed after it under the same ID
    other = next(i for i in later if int(i["ID"]) > int(first["ID"]) and str(i["ID"]) not in paid_ids)
    other_number = str(other["Reference"]).strip()
    other["ID"] = first["ID"]  # two invoices, one ID, on pages 1 and 2
    by_date = sorted(transactions, key=lambda t: (t["DateUpdated"], int(t["ID"])))
    pay_first, pay_twin = by_date[5], by_date[-5]  # far apart in DateUpdated order: pages 1 and 3 or later
    assert pay_first["InvoiceID"] != pay_twin["InvoiceID"]
    pay_twin["ID"] = pay_first["ID"]
    (tmp_path / "fx" / "accessplanit" / "Invoice.json").write_bytes(dumps({"results": data["Invoice"]}))
    (tmp_path / "fx" / "accessplanit" / "Transaction.json").write_bytes(dumps({"results": data["Transaction"]}))

    def check(db: Database) -> None:
        with db.transaction(readonly=True) as tx:
            rows = item_repo.item_rows(tx, item_repo.query_item_ids(tx))
            stored = {i.id: i.number for i in records.load_invoices(tx, AP)}
        reason = f"two records with ID {first['ID']}"
        invalid = {r.source_id: r.invoice for r in rows if r.status.value == "invalid" and reason in r.reason}
        number = str(first["Reference"]).strip()
        assert invalid == {str(first["ID"]): number, f"{first['ID']}~2": other_number}
        assert str(first["ID"]) not in stored  # kept as an invalid record, not as either invoice
        its = {str(t["ID"]) for t in transactions if str(t["InvoiceID"]) == str(first["ID"])}
        its.discard(str(pay_first["ID"]))
        payments = [r for r in rows if r.kind.value == "payment" and r.source_id in its]
        assert payments and all(r.invoice.upper() == number.upper() for r in payments)  # they did not move
        twice = f"two records with ID {pay_first['ID']}"
        pays = sorted(r.source_id or "" for r in rows if r.status.value == "invalid" and twice in r.reason)
        assert pays == sorted([str(pay_first["ID"]), f"{pay_first['ID']}~2"])

    with start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "fx"), max_top=100, strict=strict)) as sb:
        db = _new_cache(tmp_path / "cache.sqlite3")
        clients = make_clients(sb.info, page_size=1000)
        result = sync_all(db, clients, Settings())
        assert result.ok, result.errors
        check(db)
        for full in (False, True):  # the same connectors again: an incremental sync, then a full one
            assert sync_all(db, clients, Settings(), full=full).ok
            check(db)
        db.dispose()

"""The items repository: stable ids across replacements, filtering/search/ordering in the database, push state."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.status import ItemStatus, Kind, PushState, System
from app.storage import items as repo
from app.storage import outbox
from app.storage.db import Database
from app.storage.models import ItemData

S = ItemStatus


def _inv(
    key: str,
    status: ItemStatus = S.MATCHED,
    *,
    period: str = "2026-10",
    contact: str = "Acme",
    amount: int = 12000,
    day: int = 3,
) -> ItemData:
    return ItemData(
        kind=Kind.INVOICE,
        key=key,
        status=status,
        fields=("po_number",) if status is S.DIFFERS else (),
        invoice_key=key,
        invoice=key.lower(),
        period=period,
        contact=contact,
        date=date(int(period[:4]), int(period[5:]), day),
        currency="GBP",
        amount_minor=amount,
        source_id="1",
        ledger_id="x",
        fingerprint="f" + key,
    )


def _pay(inv: str, pid: str, status: ItemStatus = S.ONLY_IN_SOURCE) -> ItemData:
    return ItemData(
        kind=Kind.PAYMENT,
        key=f"{inv}:P{pid}:-",
        status=status,
        invoice_key=inv,
        invoice=inv,
        period="2026-10",
        reference=f"Ref {pid}",
        currency="GBP",
        amount_minor=100,
    )


def _ids(db: Database) -> dict[tuple[str, str], int]:
    with db.transaction(readonly=True) as tx:
        rows = repo.item_rows(tx, repo.query_item_ids(tx))
    return {(r.kind.value, r.key): r.id for r in rows}


def test_replace_keeps_ids_for_the_same_key_and_deletes_the_rest(db: Database) -> None:
    with db.transaction() as tx:
        repo.replace_items(tx, [_inv("INV-1"), _inv("INV-2"), _pay("INV-1", "8")])
    before = _ids(db)
    with db.transaction() as tx:
        repo.replace_items(tx, [_inv("INV-2", S.DIFFERS), _inv("INV-3"), _pay("INV-1", "8", S.MATCHED)])
    after = _ids(db)
    assert after[("invoice", "INV-2")] == before[("invoice", "INV-2")]
    assert after[("payment", "INV-1:P8:-")] == before[("payment", "INV-1:P8:-")]
    assert ("invoice", "INV-1") not in after and ("invoice", "INV-3") in after
    with db.transaction(readonly=True) as tx:
        [row] = repo.item_rows(tx, [after[("invoice", "INV-2")]])
    assert row.status is S.DIFFERS and row.fields == ("po_number",) and row.fingerprint == "fINV-2"
    assert row.date == date(2026, 10, 3) and row.amount_minor == 12000 and row.push_state is None


def test_filters_search_order_and_counts_happen_in_the_database(db: Database) -> None:
    with db.transaction() as tx:
        repo.replace_items(
            tx,
            [
                _inv("INV-1", S.MATCHED, contact="Acme", amount=300, day=5),
                _inv("INV-2", S.DIFFERS, contact="Beta 100%_Co", amount=100, day=9),
                _inv("INV-3", S.ONLY_IN_SOURCE, period="2026-09", amount=200),
                _pay("INV-1", "8"),
            ],
        )
    ids = _ids(db)
    with db.transaction(readonly=True) as tx:
        assert repo.count_items(tx) == 4
        assert repo.count_items(tx, period="2026-10") == 3
        assert repo.count_items(tx, statuses=[S.MATCHED, S.DIFFERS]) == 2
        assert repo.count_items(tx, kind=Kind.PAYMENT) == 1
        assert repo.query_item_ids(tx, search="beta") == [ids[("invoice", "INV-2")]]
        assert repo.query_item_ids(tx, search="100%_") == [ids[("invoice", "INV-2")]]
        assert repo.query_item_ids(tx, search="100%x") == []  # % and _ are literal, not wildcards
        assert repo.query_item_ids(tx, search="ref 8") == [ids[("payment", "INV-1:P8:-")]]
        assert repo.query_item_ids(tx, kind=Kind.INVOICE, order="amount") == [
            ids[("invoice", "INV-2")],
            ids[("invoice", "INV-3")],
            ids[("invoice", "INV-1")],
        ]
        assert repo.query_item_ids(tx, kind=Kind.INVOICE, order="-amount")[0] == ids[("invoice", "INV-1")]
        counts = repo.count_by_status(tx, "2026-10")
        assert counts["matched"] == 1 and counts["differs"] == 1 and counts["only_in_source"] == 1
        assert counts["resolved"] == 0 and counts["invalid"] == 0
        assert repo.periods(tx) == ["2026-10", "2026-09"]
        with pytest.raises(ValueError):
            repo.query_item_ids(tx, order="amount; drop table items")


def test_item_rows_keep_the_asked_order_and_show_the_newest_push(db: Database) -> None:
    with db.transaction() as tx:
        repo.replace_items(tx, [_inv("INV-1"), _inv("INV-2")])
    ids = _ids(db)
    with db.transaction() as tx:
        p1 = outbox.add_push(tx, Kind.INVOICE, "INV-1", "push_invoice:xero", System.XERO, {}, "k1")
        outbox.mark_push(tx, p1, PushState.FAILED, error="rejected")
        p2 = outbox.add_push(tx, Kind.INVOICE, "INV-1", "push_invoice:xero", System.XERO, {}, "k2")
        outbox.mark_push(tx, p2, PushState.SUCCEEDED)
    order = [ids[("invoice", "INV-2")], 99999, ids[("invoice", "INV-1")]]
    with db.transaction(readonly=True) as tx:
        rows = repo.item_rows(tx, order)
    assert [r.key for r in rows] == ["INV-2", "INV-1"]
    assert rows[0].push_state is None and rows[1].push_state is PushState.SUCCEEDED


def test_upsert_for_one_invoice_touches_only_that_invoice(db: Database) -> None:
    with db.transaction() as tx:
        repo.replace_items(tx, [_inv("INV-1", S.ONLY_IN_SOURCE), _pay("INV-1", "8"), _pay("INV-1", "9"), _inv("INV-2")])
    before = _ids(db)
    with db.transaction() as tx:
        repo.upsert_items_for_invoice(tx, "INV-1", [_inv("INV-1", S.MATCHED), _pay("INV-1", "8", S.MATCHED)])
    after = _ids(db)
    assert after[("invoice", "INV-1")] == before[("invoice", "INV-1")]
    assert ("payment", "INV-1:P9:-") not in after and after[("invoice", "INV-2")] == before[("invoice", "INV-2")]
    with db.transaction(readonly=True) as tx:
        assert [r.status for r in repo.items_for_invoice(tx, "INV-1")] == [S.MATCHED, S.MATCHED]
        assert repo.item_by_key(tx, Kind.INVOICE, "INV-2") is not None


def test_set_item_status(db: Database) -> None:
    with db.transaction() as tx:
        repo.replace_items(tx, [_inv("INV-1", S.DIFFERS)])
    iid = _ids(db)[("invoice", "INV-1")]
    with db.transaction() as tx:
        repo.set_item_status(tx, iid, S.RESOLVED, "accepted accessplanit")
        with pytest.raises(KeyError):
            repo.set_item_status(tx, 424242, S.RESOLVED)
    with db.transaction(readonly=True) as tx:
        [row] = repo.item_rows(tx, [iid])
    assert row.status is S.RESOLVED and row.note == "accepted accessplanit"


def test_replacing_with_the_same_items_writes_nothing(tmp_path: object) -> None:
    from pathlib import Path

    db = Database(f"sqlite:///{Path(str(tmp_path)) / 'c.sqlite3'}")
    db.migrate()
    data = [_inv("INV-1"), _inv("INV-2", S.DIFFERS), _pay("INV-1", "8")]
    with db.transaction() as tx:
        repo.replace_items(tx, data)
    with db.transaction() as tx:
        before = tx.conn.exec_driver_sql("SELECT total_changes()").scalar()
        repo.replace_items(tx, data)
        unchanged = tx.conn.exec_driver_sql("SELECT total_changes()").scalar()
        repo.replace_items(tx, [*data[:2], _pay("INV-1", "8", S.MATCHED)])
        one_changed = tx.conn.exec_driver_sql("SELECT total_changes()").scalar()
    assert unchanged == before and one_changed == before + 1
    db.dispose()

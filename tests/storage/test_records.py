"""The records repository on a real database: exact round trips, idempotent upserts, and page + cursor atomicity."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from storage_samples import credit_note, invalid, invoice, payment, raw_of

from app.domain.records import Invoice, Payment
from app.domain.status import Direction, InvoiceState, Kind, System
from app.storage import records as repo
from app.storage.db import Database
from app.storage.models import SystemState
from app.storage.schema import record_lines, records

AP, XERO = System.ACCESSPLANIT, System.XERO


def _count(db: Database, table: object) -> int:
    with db.transaction(readonly=True) as tx:
        return int(tx.conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_every_record_type_round_trips_exactly(db: Database) -> None:
    inv = invoice()
    kwd = invoice("102", "INV-1002", currency="KWD", net="10.125", tax="0.500")  # 3-decimal currency
    jpy = invoice("103", "inv 1003", currency="JPY", net="1000", tax="100")
    pays = [payment(), payment("89", amount="0.01", direction=Direction.REFUND)]
    bad = invalid()
    recs = [inv, kwd, jpy, *pays, bad]
    with db.transaction() as tx:
        counts = repo.upsert_page(tx, AP, "invoices", recs, [raw_of(r) for r in recs], {"skip": 6})
    assert counts.fetched == 6 and counts.inserted == 6 and counts.invalid == 1
    cn = credit_note()
    xpay = payment("x-1", None, system=XERO, direction=Direction.REFUND, credit_note_id="cn-1")
    with db.transaction() as tx:
        repo.upsert_page(tx, XERO, "credit_notes", [cn, xpay], [raw_of(cn), raw_of(xpay)], {"page": 2})

    with db.transaction(readonly=True) as tx:
        assert repo.load_invoices(tx, AP) == [inv, kwd, jpy]
        assert repo.load_payments(tx, AP) == pays
        assert repo.load_credit_notes(tx) == [cn]
        # The refund is loaded on the invoice its credit note names (placed when stored), not on its own number.
        assert repo.load_payments(tx, XERO) == [replace(xpay, invoice_number=cn.reference)]
        assert repo.load_invalid(tx) == [bad]
        loaded = repo.load_invoices(tx, AP)
    # Decimal exactness, not just numeric equality: the currency's exponent comes back.
    assert str(loaded[1].net) == "10.125" and str(loaded[2].total) == "1100" and str(loaded[0].tax) == "20.00"
    assert loaded[0].lines[0].quantity == Decimal("1.5") and str(loaded[0].lines[0].unit_amount) == "59.3333"
    assert loaded[0].updated_at is not None and loaded[0].updated_at.tzinfo is None


def test_raw_payload_keeps_decimal_digits(db: Database) -> None:
    inv = invoice()
    with db.transaction() as tx:
        rid = repo.upsert_one(tx, AP, inv, {"Amount": Decimal("120.10"), "Tax": Decimal("1E-7"), "Count": 3})
    with db.transaction(readonly=True) as tx:
        stored = repo.get_record(tx, rid)
    assert stored.record == inv and stored.kind == "invoice" and stored.remote_id == "101"
    assert '"Amount":120.10' in stored.raw
    assert json.loads(stored.raw, parse_float=Decimal) == {
        "Amount": Decimal("120.10"),
        "Tax": Decimal("1E-7"),
        "Count": 3,
    }
    assert str(json.loads(stored.raw, parse_float=Decimal)["Amount"]) == "120.10"


def test_upsert_is_idempotent_and_updates_in_place(db: Database) -> None:
    inv = invoice()
    for _ in range(2):
        with db.transaction() as tx:
            repo.upsert_page(tx, AP, "invoices", [inv], [raw_of(inv)], {"skip": 1})
    assert _count(db, records) == 1 and _count(db, record_lines) == 2
    changed = invoice(po="PO-2", state=InvoiceState.PAID)
    with db.transaction() as tx:
        counts = repo.upsert_page(tx, AP, "invoices", [changed], [raw_of(changed)], {"skip": 1})
    assert counts.updated == 1 and counts.inserted == 0
    with db.transaction(readonly=True) as tx:
        assert repo.load_invoices(tx, AP) == [changed]
    assert _count(db, records) == 1 and _count(db, record_lines) == 2


def test_same_remote_id_in_two_systems_is_two_records(db: Database) -> None:
    a, x = invoice("1"), invoice("1", system=XERO)
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "invoices", [a], [{}])
        repo.upsert_records(tx, XERO, "invoices", [x], [{}])
    with db.transaction(readonly=True) as tx:
        assert repo.load_invoices(tx, AP) == [a] and repo.load_invoices(tx, XERO) == [x]


def test_a_record_that_turns_invalid_is_kept_with_its_reason(db: Database) -> None:
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "payments", [payment("77")], [{}])
        repo.upsert_records(tx, AP, "payments", [invalid("77")], [{"Amount": "abc"}])
    with db.transaction(readonly=True) as tx:
        assert repo.load_payments(tx, AP) == []
        assert [r.reason for r in repo.load_invalid(tx)] == ["amount is not a number"]


def test_money_finer_than_the_currency_is_stored_as_invalid_not_lost(db: Database) -> None:
    bad = invoice(net="10.001")
    with db.transaction() as tx:
        counts = repo.upsert_records(tx, AP, "invoices", [bad], [{"Amount": Decimal("10.001")}])
    assert counts.invalid == 1
    with db.transaction(readonly=True) as tx:
        inv = repo.load_invalid(tx)
    assert len(inv) == 1 and inv[0].kind is Kind.INVOICE and "10.001" in inv[0].reason and inv[0].number == "INV-1001"


def test_page_and_cursor_commit_together_or_not_at_all(db: Database) -> None:
    first = invoice("1", "INV-1")
    with db.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", [first], [{}], {"skip": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", [invoice("2", "INV-2")], [{}], {"skip": 2})
        raise Boom  # the process dies mid-page: after the writes, before the commit
    with db.transaction(readonly=True) as tx:
        assert [i.id for i in repo.load_invoices(tx, AP)] == ["1"]
        assert repo.get_cursor(tx, AP, "invoices") == {"skip": 1}

    # A record whose money cannot even be converted raises inside upsert_page: nothing of that page remains.
    with pytest.raises(TypeError), db.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", [invoice("3", "INV-3"), object()], [{}, {}], {"skip": 3})
    with db.transaction(readonly=True) as tx:
        assert [i.id for i in repo.load_invoices(tx, AP)] == ["1"]
        assert repo.get_cursor(tx, AP, "invoices") == {"skip": 1}


def test_cursors_are_per_system_and_stream_and_clearable(db: Database) -> None:
    with db.transaction() as tx:
        repo.set_cursor(tx, AP, "invoices", {"watermark": "2026-10-01T00:00:00", "skip": Decimal("0")})
        repo.set_cursor(tx, AP, "invoices", {"watermark": "2026-10-02T00:00:00", "skip": 0})
        repo.set_cursor(tx, XERO, "invoices", {"page": 3})
    with db.transaction() as tx:
        assert repo.get_cursor(tx, AP, "invoices") == {"watermark": "2026-10-02T00:00:00", "skip": 0}
        repo.clear_cursors(tx, AP)
        assert repo.get_cursor(tx, AP, "invoices") is None
        assert repo.get_cursor(tx, XERO, "invoices") == {"page": 3}


def test_reference_data_and_invoice_numbers(db: Database) -> None:
    accounts = [
        {"AccountID": "a1", "Code": "090", "Name": "Bank"},
        {"AccountID": "a2", "Code": "200", "Rate": Decimal("20.0")},
    ]
    with db.transaction() as tx:
        counts = repo.upsert_page(tx, XERO, "accounts", accounts, accounts, {"done": True})
        repo.upsert_page(tx, XERO, "accounts", accounts[:1], accounts[:1], {"done": True})
        repo.upsert_records(tx, AP, "invoices", [invoice("5", "INV-5"), invoice("6", "INV-6")], [{}, {}])
    assert counts.reference == 2
    with db.transaction(readonly=True) as tx:
        assert repo.reference_data(tx, XERO, "accounts") == accounts
        assert str(repo.reference_data(tx, XERO, "accounts")[1]["Rate"]) == "20.0"
        assert repo.invoice_numbers(tx, AP, ["5", "6", "7"]) == {"5": "INV-5", "6": "INV-6"}
        assert repo.invoice_numbers(tx, AP, ["6"]) == {"6": "INV-6"} and repo.invoice_numbers(tx, XERO, ["5"]) == {}


def test_loading_one_invoice_with_its_payments_and_refunds(db: Database) -> None:
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "invoices", [invoice("1", "inv-1"), invoice("2", "INV-2")], [{}, {}])
        repo.upsert_records(
            tx,
            XERO,
            "payments",
            [
                payment("p1", "INV-1", system=XERO),
                payment("p2", "INV-2", system=XERO),
                payment("r1", None, system=XERO, direction=Direction.REFUND, credit_note_id="cn-1"),
            ],
            [{}, {}, {}],
        )
    with db.transaction(readonly=True) as tx:
        one: list[Invoice] = repo.load_invoices(tx, AP, number_key="INV-1")
        assert [i.id for i in one] == ["1"]
        pays = repo.load_payments(tx, XERO, number_key="INV-1", credit_note_ids=["cn-1"])
        assert [p.id for p in pays] == ["p1", "r1"]
        assert [p.id for p in repo.load_payments(tx, XERO, number_key="INV-1")] == ["p1"]


def test_system_state(db: Database) -> None:
    from datetime import datetime

    with db.transaction() as tx:
        assert repo.get_system_state(tx, AP).last_full_at is None
        repo.set_system_state(tx, SystemState(AP, datetime(2026, 10, 1, 12), True))
        repo.set_system_state(tx, SystemState(AP, datetime(2026, 10, 2, 12), False))
        state = repo.get_system_state(tx, AP)
    assert state.last_full_at == datetime(2026, 10, 2, 12) and state.full_pending is False


def test_record_versions_are_the_exact_text_the_connector_gave(db: Database) -> None:
    inv, other = invoice(), invoice("102", "INV-1002")
    pay, bad = payment(), invalid("78")  # the invalid one is a payment: it has a version too
    versions = ["2026-10-14T09:00:00.1234567", None, "2026-10-14T10:00:00", "2026-10-14T11:00:00+01:00"]
    with db.transaction() as tx:
        raws = [raw_of(r) for r in (inv, other, pay, bad)]
        repo.upsert_page(tx, AP, "invoices", [inv, other, pay, bad], raws, {"skip": 4}, versions=versions)
        repo.upsert_page(tx, XERO, "invoices", [invoice("101", system=XERO)], [{}], {"page": 2}, versions=["x"])
    with db.transaction(readonly=True) as tx:
        # Seven fractional digits and the offset survive: updated_at could not hold them. Only the ids asked for.
        assert repo.record_versions(tx, AP, Kind.INVOICE, ["101", "102", "103"]) == {
            "101": "2026-10-14T09:00:00.1234567"
        }
        assert repo.record_versions(tx, AP, "payment", ["88", "78"]) == {
            "88": "2026-10-14T10:00:00",
            "78": "2026-10-14T11:00:00+01:00",
        }
        assert repo.record_versions(tx, AP, "payment", ["78"]) == {"78": "2026-10-14T11:00:00+01:00"}
        assert repo.record_versions(tx, XERO, Kind.PAYMENT, ["101"]) == {}
    with db.transaction() as tx:  # stored again without a version (a push's answer): unknown, so it counts as changed
        repo.upsert_records(tx, AP, "push", [inv], [raw_of(inv)])
        assert repo.record_versions(tx, AP, Kind.INVOICE, ["101"]) == {}


def _refund(rid: str, own: str | None, note: str, amount: str = "30.00", deleted: bool = False) -> Payment:
    r = payment(rid, own, system=XERO, direction=Direction.REFUND, credit_note_id=note, amount=amount)
    return replace(r, deleted=deleted)


def _keys_of(db: Database, *ids: str) -> list[tuple[str | None, str | None]]:
    with db.transaction(readonly=True) as tx:
        got = {p.id: p for p in repo.load_payments(tx, XERO)}
        rows = dict(
            tx.conn.execute(select(records.c.remote_id, records.c.number_key).where(records.c.kind == "payment")).all()
        )
    return [(got[i].invoice_number, rows[i]) for i in ids]


def test_refunds_are_placed_by_their_credit_note_whichever_is_stored_first(db: Database) -> None:
    with db.transaction() as tx:  # the refund first: its credit note is not known yet, so its own number holds
        repo.upsert_records(tx, XERO, "payments", [_refund("r1", "CN-OWN", "cn-1")], [{}])
    assert _keys_of(db, "r1") == [("CN-OWN", "CN-OWN")]
    with db.transaction() as tx:  # then the credit note: the refund moves to the invoice it names
        repo.upsert_records(tx, XERO, "credit_notes", [credit_note("cn-1", " inv-7 ")], [{}])
    assert _keys_of(db, "r1") == [("inv-7", "INV-7")]
    with db.transaction() as tx:  # the refund read again keeps its place; a second one lands there at once
        repo.upsert_records(
            tx, XERO, "payments", [_refund("r1", "CN-OWN", "cn-1"), _refund("r2", None, "cn-1")], [{}, {}]
        )
    assert _keys_of(db, "r1", "r2") == [("inv-7", "INV-7"), ("inv-7", "INV-7")]
    with db.transaction() as tx:  # the credit note names another invoice: its refunds follow
        repo.upsert_records(tx, XERO, "credit_notes", [credit_note("cn-1", "INV-8")], [{}])
    assert _keys_of(db, "r1", "r2") == [("INV-8", "INV-8"), ("INV-8", "INV-8")]
    with db.transaction() as tx:  # a credit note with no reference: on no invoice
        repo.upsert_records(tx, XERO, "credit_notes", [credit_note("cn-1", "  ")], [{}])
    assert _keys_of(db, "r1") == [(None, None)]
    bad = replace(credit_note("cn-1", "INV-9"), total=Decimal("30.001"))  # cannot be stored exactly: invalid
    with db.transaction() as tx:  # an unreadable credit note places nothing: back to their own numbers
        repo.upsert_records(tx, XERO, "credit_notes", [bad], [{}])
    assert _keys_of(db, "r1", "r2") == [("CN-OWN", "CN-OWN"), (None, None)]


def test_ledger_refunds_on_a_key_are_summed_by_the_database(db: Database) -> None:
    with db.transaction() as tx:
        repo.upsert_records(
            tx, XERO, "credit_notes", [credit_note("cn-1", "INV-7"), credit_note("cn-2", "INV-8")], [{}, {}]
        )
        refunds = [
            _refund("r1", None, "cn-1", "30.00"),
            _refund("r2", "INV-7", "cn-1", "0.05"),
            _refund("r3", None, "cn-1", "99.00", deleted=True),  # deleted: adjusts nothing
            _refund("r4", "INV-7", "cn-2", "5.00"),  # its credit note puts it on INV-8
            payment("p1", "INV-7", system=XERO, amount="40.00"),  # a payment, not a refund
        ]
        repo.upsert_records(tx, XERO, "payments", refunds, [{} for _ in refunds])
        repo.upsert_records(tx, AP, "payments", [_refund("s1", "INV-7", "cn-1")], [{}])  # the source's: not R
    with db.transaction(readonly=True) as tx:
        assert repo.ledger_refunds_on_key(tx, "INV-7") == Decimal("30.05")
        assert repo.ledger_refunds_on_key(tx, "INV-8") == Decimal("5.00")
        assert repo.ledger_refunds_on_key(tx, "INV-9") == Decimal(0) and repo.ledger_refunds_on_key(tx, "") == 0
        assert repo.ledger_refunds_on_keys(tx, ["INV-7", "INV-8", "INV-9"]) == {
            "INV-7": Decimal("30.05"),
            "INV-8": Decimal("5.00"),
        }


def test_duplicate_numbers_are_found_among_the_keys_asked_for(db: Database) -> None:
    recs = [invoice("1", "INV-1"), invoice("2", "inv-1"), invoice("3", "INV-3"), invoice("4", "INV-4")]
    recs.append(invoice("5", "INV-4", deleted=True))  # a deleted one is no duplicate
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "invoices", recs, [{} for _ in recs])
        repo.upsert_records(tx, AP, "payments", [replace(payment("p1", "INV-3"), invoice_id="2")], [{}])
    with db.transaction(readonly=True) as tx:
        assert {k: sorted(v) for k, v in repo.shared_invoice_keys(tx, AP).items()} == {"INV-1": ["1", "2"]}
        assert repo.shared_invoice_keys(tx, AP, ["INV-3", "INV-4"]) == {}
        assert {k: sorted(v) for k, v in repo.shared_invoice_keys(tx, AP, ["INV-1"]).items()} == {"INV-1": ["1", "2"]}
        # Payment p1 (number INV-3) hangs by id on invoice 2, whose key is INV-1.
        assert repo.invoice_keys_behind_payments(tx, AP, ["INV-3"]) == {"INV-1"}
        assert repo.invoice_keys_behind_payments(tx, AP, ["INV-1"]) == set()


def test_a_page_is_stored_exactly_as_core_inserts_of_the_same_rows_would_store_it(db: Database) -> None:
    # Inserted, then updated in place: every stored value (dates, instants, booleans, money, raw text) is what a
    # plain insert of the same row writes.
    from sqlalchemy import insert, text

    recs = [invoice(), payment(), credit_note(), invalid(), invoice("104", "INV-1004", deleted=True)]
    raws = [raw_of(r) for r in recs]
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "invoices", recs, raws)
        for rec, raw in zip(recs, raws, strict=True):
            row, _ = repo._record_row(XERO, "core", rec, raw)  # the other system: same ids allowed
            tx.conn.execute(insert(records).values(row))
    cols = ", ".join(c.name for c in records.columns if c.name not in ("id", "stream", "system"))
    with db.engine.connect() as conn:
        fast = conn.execute(text(f"SELECT {cols} FROM records WHERE stream = 'invoices' ORDER BY id")).all()
        core = conn.execute(text(f"SELECT {cols} FROM records WHERE stream = 'core' ORDER BY id")).all()
    assert len(fast) == len(recs) and fast == core


def test_a_mixed_page_updates_inserts_and_replaces_lines(db: Database) -> None:
    with db.transaction() as tx:
        repo.upsert_records(tx, AP, "invoices", [invoice("1", "INV-1")], [{}])
    one_line = invoice("1", "INV-1", net="55.00")
    one_line = Invoice(**{**{f: getattr(one_line, f) for f in one_line.__dataclass_fields__ if f != "kind"},
                          "lines": one_line.lines[1:]})  # fmt: skip
    bad_line = invoice("3", "INV-3", net="10.001")  # header and first line both sub-penny: the header is named
    recs = [one_line, invoice("2", "INV-2"), bad_line, payment("p1")]
    with db.transaction() as tx:
        counts = repo.upsert_records(tx, AP, "invoices", recs, [{} for _ in recs])
    assert (counts.inserted, counts.updated, counts.invalid) == (3, 1, 1)
    with db.transaction(readonly=True) as tx:
        invs = {i.id: i for i in repo.load_invoices(tx, AP)}
        assert invs["1"].net == Decimal("55.00") and [ln.description for ln in invs["1"].lines] == ["Materials"]
        assert len(invs["2"].lines) == 2 and "3" not in invs
        assert [r.reason for r in repo.load_invalid(tx)] == [
            "an amount cannot be stored exactly: 10.001 has more decimals than GBP allows"
        ]
        assert _count(db, record_lines) == 3


def test_a_page_of_new_and_changed_invoices_keeps_every_line_with_its_own_record(db: Database) -> None:
    # New records get their ids in the same write as the page (on SQLite, after the largest id, without a second
    # lookup): lines must land on their own invoice, an updated invoice's lines are replaced, none are lost.
    first = [invoice(str(i), f"INV-{i}") for i in range(1, 4)]
    with db.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", first, [raw_of(r) for r in first], {"page": 1})
    second = [invoice("2", "INV-2", po="PO-9"), invoice("4", "INV-4", net="50.00"), invoice("5", "INV-5")]
    second.append(invoice("4", "INV-4", net="60.00"))  # the same record twice in a page: the later one wins
    with db.transaction() as tx:
        counts = repo.upsert_page(tx, AP, "invoices", second, [raw_of(r) for r in second], {"page": 2})
    assert (counts.inserted, counts.updated) == (2, 1)
    with db.transaction(readonly=True) as tx:
        loaded = {inv.id: inv for inv in repo.load_invoices(tx, AP)}
    assert set(loaded) == {"1", "2", "3", "4", "5"}
    assert loaded["2"] == second[0] and loaded["4"] == second[3] and loaded["5"] == second[2]
    assert all(loaded[k].lines and loaded[k].net == sum(li.net for li in loaded[k].lines) for k in loaded)
    assert _count(db, record_lines) == sum(len(inv.lines) for inv in loaded.values())


def test_lines_left_under_an_id_are_not_given_to_a_new_record(tmp_path: object) -> None:
    # A line row whose record row is gone (written before foreign keys were enforced, or by a faulty tool) must not
    # attach itself to the new record that takes the free id.
    import sqlite3

    path = Path(str(tmp_path)) / "orphans.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    old = invoice("1", "INV-1")
    with database.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", [old], [raw_of(old)], {"page": 1})
    con = sqlite3.connect(path)  # behind the repository's back (foreign keys are off by default), as a tool would
    with con:
        con.execute("DELETE FROM records")
    con.close()
    assert _count(database, record_lines) == len(old.lines)
    new = invoice("2", "INV-2", net="70.00", tax="14.00")
    with database.transaction() as tx:
        repo.upsert_page(tx, AP, "invoices", [new], [raw_of(new)], {"page": 2})
    with database.transaction(readonly=True) as tx:
        assert repo.load_invoices(tx, AP) == [new]
    assert _count(database, record_lines) == len(new.lines)
    database.dispose()

"""The report: product.md section 5's JSON shape and values from a real SQLite cache, and every export format
readable by its own reader (csv module, openpyxl, a PDF header), with amounts exact and never floats."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from services_samples import month_fixture

from app.domain.records import CreditNote, Payment
from app.domain.status import Direction, PushState, System
from app.services import report
from app.storage import outbox, records
from app.storage.db import Database


def test_report_json_has_the_contract_shape_and_exact_values(cache: Database) -> None:
    month_fixture(cache)
    data = report.build_report(cache, "2026-10")
    assert data["period"] == "2026-10"
    assert set(data) >= {"period", "totals", "items"}
    ap, xe = data["totals"]["accessplanit"], data["totals"]["xero"]
    # INV-1 120.00 + INV-2 240.50 + INV-3 99.99; INV-5 is in November.
    assert ap["invoices"] == 3 and ap["total"] == "460.49" and ap["paid"] == "50.00"
    assert xe["invoices"] == 3 and xe["total"] == "370.51" and xe["paid"] == "50.00"
    by_key = {(i["kind"], i["key"]): i for i in data["items"]}
    assert ("invoice", "INV-5") not in by_key
    inv2 = by_key[("invoice", "INV-2")]
    assert inv2 == {
        **inv2,
        "status": "differs",
        "fields": ["po_number"],
        "accessplanit_id": "102",
        "xero_id": "x-2",
        "push": None,
    }
    pay = by_key[("payment", "INV-1:P89:-")]
    assert pay["invoice"] == "INV-1" and pay["date"] == "2026-10-14" and pay["amount"] == "12.34"
    assert pay["status"] == "only_in_source" and pay["fields"] == [] and pay["xero_id"] is None
    bad = by_key[("payment", "invalid:accessplanit:payment:77")]
    assert bad["status"] == "invalid"
    for item in data["items"]:
        assert set(item) >= {"kind", "key", "status", "fields", "accessplanit_id", "xero_id", "push"}
        assert not isinstance(item.get("amount"), float)
    assert {i["status"] for i in data["items"]} == {"matched", "differs", "only_in_source", "only_in_ledger", "invalid"}


def test_xero_paid_total_is_net_of_refunds(cache: Database) -> None:
    """A Xero refund is paid out of a credit note whose Reference is the invoice number (reconciliation.md s. 4)."""
    month_fixture(cache)
    note = CreditNote(
        System.XERO,
        "cn-1",
        "CN-1",
        "INV-2",
        "Acme",
        date(2026, 10, 20),
        "GBP",
        Decimal("12.00"),
        Decimal("0.00"),
        "PAID",
    )
    refund = Payment(
        System.XERO,
        "rf-1",
        None,
        None,
        date(2026, 10, 20),
        Decimal("12.00"),
        "RF-1",
        "090",
        Direction.REFUND,
        "GBP",
        credit_note_id="cn-1",
    )
    with cache.transaction() as tx:
        records.upsert_page(tx, System.XERO, "CreditNotes", [note], [{"CreditNoteID": "cn-1"}], {})
        records.upsert_page(tx, System.XERO, "Payments", [refund], [{"PaymentID": "rf-1"}], {})
    totals = report.build_report(cache, "2026-10")["totals"]
    assert totals["xero"]["paid"] == "38.00" and totals["accessplanit"]["paid"] == "50.00"


def test_report_shows_the_latest_push_state(cache: Database) -> None:
    month_fixture(cache)
    with cache.transaction() as tx:
        pid = outbox.add_push(tx, "payment", "INV-1:P89:-", "push_payment:xero", System.XERO, {"a": "1"}, "k1")
        outbox.mark_push(tx, pid, PushState.FAILED, error="refused")
    items = {i["key"]: i for i in report.build_report(cache, "2026-10")["items"]}
    assert items["INV-1:P89:-"]["push"] == "failed"
    assert items["INV-1"]["push"] is None


def test_report_without_period_has_everything(cache: Database) -> None:
    month_fixture(cache)
    data = report.build_report(cache, None)
    assert data["period"] is None
    assert data["totals"]["accessplanit"]["total"] == "1460.49"
    assert any(i["key"] == "INV-5" for i in data["items"])


def test_json_bytes_parse_with_decimal_strings(cache: Database) -> None:
    month_fixture(cache)
    data = json.loads(report.report_bytes(cache, "2026-10", "json"), parse_float=Decimal)
    assert data["totals"]["accessplanit"]["total"] == "460.49"
    assert all(isinstance(i["amount"], str) for i in data["items"] if i["amount"] is not None)


def test_csv_is_readable_and_exact(cache: Database) -> None:
    """csv, xlsx and pdf are the month-end pack's writers (tests/services/test_pack.py checks them in depth)."""
    month_fixture(cache)
    raw = report.report_bytes(cache, "2026-10", "csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 7  # the unreadable payment has a readable date, so it belongs to the month
    by_key = {r["Key"]: r for r in rows}
    assert by_key["INV-2"]["Fields that differ"] == "PO number" and by_key["INV-2"]["Status"] == "Differs"
    assert by_key["INV-2"]["Amount"] == "240.50"
    assert by_key["INV-1:P89:-"]["Amount"] == "12.34" and by_key["INV-1:P89:-"]["Invoice"] == "INV-1"


def test_xlsx_loads_with_openpyxl_and_keeps_amounts_exact(cache: Database, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    month_fixture(cache)
    path = tmp_path / "r.xlsx"
    path.write_bytes(report.report_bytes(cache, "2026-10", "xlsx"))
    wb = load_workbook(path)
    ws = wb["All items"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["Kind", "Key", "Status"]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(rows["INV-2"]["Amount"])) == Decimal("240.50")  # a number, exact to the cent
    totals = list(wb["Summary"].iter_rows(values_only=True))
    assert any(r[:2] == ("accessplanit", "GBP") and Decimal(str(r[3])) == Decimal("460.49") for r in totals)


def test_pdf_is_a_pdf_and_copes_with_any_name(cache: Database) -> None:
    month_fixture(cache)
    data = report.build_report(cache, "2026-10")
    data["items"].append({**data["items"][1], "key": "INV-ZOË", "contact": "Zoë Ünal 東京 Ltd"})
    pdf = report.WRITERS["pdf"](data)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 1000
    assert "Zoë Ünal" in report.WRITERS["csv"](data).decode("utf-8-sig")


def test_unknown_format_is_refused(cache: Database) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        report.report_bytes(cache, None, "doc")


def test_empty_cache_gives_an_empty_report(cache: Database) -> None:
    data = report.build_report(cache, "2026-10")
    assert data["items"] == []
    assert data["totals"]["xero"] == {**data["totals"]["xero"], "invoices": 0, "total": "0.00", "paid": "0.00"}
    for fmt_name in report.FORMATS:
        assert report.report_bytes(cache, "2026-10", fmt_name)


@pytest.mark.postgres
def test_report_and_resolve_on_postgresql(pg_cache: Database) -> None:
    from app.domain.status import ItemStatus, Resolution
    from app.services.resolve import resolve_item

    ids = month_fixture(pg_cache)
    data = report.build_report(pg_cache, "2026-10")
    assert data["totals"]["accessplanit"]["total"] == "460.49" and len(data["items"]) == 7
    assert resolve_item(pg_cache, "ana", ids["differs"], Resolution.IGNORE, "pg").status is ItemStatus.RESOLVED
    assert {i["key"]: i["status"] for i in report.build_report(pg_cache, "2026-10")["items"]}["INV-2"] == "resolved"


def test_payment_rows_name_their_combined_payment_and_invoice_rows_their_rate(cache: Database) -> None:
    """Keys added by addition only: a payment's `group` (the combined payment it is a part of, source's first) and
    an invoice's `rate` (the ledger's exchange rate as text); null where there is none."""
    import dataclasses

    from services_samples import invoice, invoice_item, payment, payment_item, store

    from app.domain.status import ItemStatus
    from app.storage import items

    ap1 = invoice(System.ACCESSPLANIT, "101", "INV-1")
    xe1 = dataclasses.replace(invoice(System.XERO, "x-1", "INV-1"), rate=Decimal("1.1734"))
    ap2, xe2 = invoice(System.ACCESSPLANIT, "102", "INV-2"), invoice(System.XERO, "x-2", "INV-2")
    pa = dataclasses.replace(payment(System.ACCESSPLANIT, "88-101", "INV-1"), group="88")
    pb = dataclasses.replace(payment(System.XERO, "p-1", "INV-1"), group="batch-7")
    pc = payment(System.XERO, "p-2", "INV-2")  # a payment on one invoice only
    a_ids = store(cache, System.ACCESSPLANIT, [ap1, ap2, pa])
    b_ids = store(cache, System.XERO, [xe1, xe2, pb, pc])
    with cache.transaction() as tx:
        items.replace_items(
            tx,
            [
                invoice_item(ap1, xe1, ItemStatus.MATCHED, a_id=a_ids[0], b_id=b_ids[0]),
                invoice_item(ap2, xe2, ItemStatus.MATCHED, a_id=a_ids[1], b_id=b_ids[1]),
                payment_item(pa, pb, ItemStatus.MATCHED, a_id=a_ids[2], b_id=b_ids[2]),
                payment_item(None, pc, ItemStatus.ONLY_IN_LEDGER, b_id=b_ids[3]),
            ],
        )
    data = json.loads(report.to_json(report.build_report(cache, "2026-10")))
    by_id = {(i["kind"], i["accessplanit_id"] or i["xero_id"]): i for i in data["items"]}
    assert by_id[("invoice", "101")]["rate"] == "1.1734" and by_id[("invoice", "102")]["rate"] is None
    assert by_id[("payment", "88-101")]["group"] == "88" and by_id[("payment", "p-2")]["group"] is None
    assert "rate" not in by_id[("payment", "p-2")] and "group" not in by_id[("invoice", "101")]

"""The month-end pack over a real SQLite cache: one model, three writers. The workbook is read back with openpyxl
(numbers, real dates, filters, frozen headers, no formula from data), the CSV with the csv module, the PDF's text with
pdftotext and its pages with pdftoppm; hostile text (`=1+1` in a PO number, `+cmd|...` in a contact) never becomes
a formula. Writing is all or nothing: a cancel leaves no file behind, and files are private (0600)."""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from services_samples import invoice, invoice_item, month_fixture, store

from app.domain.errors import CancelledError
from app.domain.progress import CancelToken, ProgressEvent
from app.domain.status import ItemStatus, System
from app.services.pack.build import build_pack, pack_names, write_pack
from app.services.pack.csv_writer import to_csv
from app.services.pack.model import neutralise
from app.services.pack.pdf_writer import to_pdf
from app.services.pack.xlsx_writer import to_xlsx
from app.storage import items as items_repo
from app.storage.db import Database
from app.storage.models import ItemData, ItemRecord

EVIL_PO = "=1+1"
EVIL_CONTACT = "+cmd|' /C calc'!A0"


def pack_fixture(db: Database) -> None:
    """The small month plus: a PO number `=1+1` that differs, a hostile contact, an amount 570.00 against 540.00
    (difference -30.00) and a USD invoice (two currencies in one period)."""
    month_fixture(db)
    ap7 = invoice(System.ACCESSPLANIT, "107", "INV-7", po=EVIL_PO, contact=EVIL_CONTACT)
    xe7 = invoice(System.XERO, "x-7", "INV-7", po="PO-OTHER", contact=EVIL_CONTACT)
    ap8 = invoice(System.ACCESSPLANIT, "108", "INV-8", total="570.00", tax="95.00")
    xe8 = invoice(System.XERO, "x-8", "INV-8", total="540.00", tax="95.00")
    ap9 = invoice(System.ACCESSPLANIT, "109", "INV-9", total="1000.00", currency="USD", issue=date(2026, 10, 31))
    xe9 = invoice(System.XERO, "x-9", "INV-9", total="1000.00", currency="USD", issue=date(2026, 10, 31))
    a = store(db, System.ACCESSPLANIT, [ap7, ap8, ap9])
    b = store(db, System.XERO, [xe7, xe8, xe9])
    with db.transaction() as tx:
        keep = _as_data(items_repo.item_rows(tx, items_repo.query_item_ids(tx)))  # the month's items as they are
        items_repo.replace_items(
            tx,
            [
                *keep,
                replace(
                    invoice_item(ap7, xe7, ItemStatus.DIFFERS, ("po_number",), a_id=a[0], b_id=b[0]),
                    reason="The PO number differs.",
                ),
                replace(
                    invoice_item(ap8, xe8, ItemStatus.DIFFERS, ("net", "total"), a_id=a[1], b_id=b[1]),
                    reason="The net and total differ.",
                ),
                invoice_item(ap9, xe9, ItemStatus.MATCHED, a_id=a[2], b_id=b[2]),
            ],
        )


def _as_data(rows: list[ItemRecord]) -> list[ItemData]:
    """Stored items back as the data `replace_items` takes (same kind and key: same ids)."""
    return [ItemData(**{f: getattr(r, f) for f in ItemData.__dataclass_fields__}) for r in rows]


@pytest.fixture
def pack_db(cache: Database) -> Database:
    pack_fixture(cache)
    return cache


def test_workbook_has_typed_cells_filters_and_no_formula_from_data(pack_db: Database, tmp_path: Path) -> None:
    data = build_pack(pack_db, "2026-10", preparer="Ann Preparer")
    path = tmp_path / "p.xlsx"
    path.write_bytes(to_xlsx(data))
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Exceptions", "All items", "Decisions", "Audit extract", "Unreadable records"]
    ws = wb["All items"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["Kind", "Key", "Status"] and "Difference (Xero minus accessplanit)" in header
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    amount_col = header.index("Amount") + 1
    inv8 = rows["INV-8"]
    assert isinstance(inv8["Amount"], int | float) and Decimal(str(inv8["Amount"])) == Decimal("570.00")
    assert Decimal(str(inv8["Difference (Xero minus accessplanit)"])) == Decimal("-30.00")
    assert inv8["Date"] == datetime(2026, 10, 3)
    assert inv8["Status"] == "Differs" and inv8["Reason"] == "The net and total differ."
    # amounts sum: every GBP amount cell is a number with a GBP number format
    gbp = [r for r in ws.iter_rows(min_row=2) if r[header.index("Currency")].value == "GBP"]
    cells = [r[amount_col - 1] for r in gbp]
    assert all(c.data_type == "n" and "GBP" in c.number_format for c in cells)
    assert sum(Decimal(str(c.value)) for c in cells) > 0
    # nothing from the data is a formula: the hostile values are plain strings, whole
    inv7 = rows["INV-7"]
    assert inv7["accessplanit value"] == EVIL_PO and inv7["Contact"] == EVIL_CONTACT
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    # exceptions first, grouped, with the group named; matched items are not exceptions
    ex = wb["Exceptions"]
    ex_rows = list(ex.iter_rows(min_row=2, values_only=True))
    # The unreadable payment of the month (its date was readable) is an exception too, in its own group, last.
    assert [r[0] for r in ex_rows] == ["Differs"] * 3 + ["Only in accessplanit"] * 2 + ["Only in Xero", "Unreadable"]
    assert {r[2] for r in ex_rows} >= {"INV-7", "INV-8", "INV-2"} and "INV-1" not in {r[2] for r in ex_rows}
    # the summary: control totals per system and currency, never one sum of GBP and USD
    summary = list(wb["Summary"].iter_rows(values_only=True))
    assert ("Prepared by", "Ann Preparer", None, None, None, None) in summary
    assert ("Sign-off", "Not signed off", None, None, None, None) in summary
    usd = [r for r in summary if r[1] == "USD"]
    assert {r[0] for r in usd} == {"accessplanit", "Xero"} and all(r[3] == 1000 for r in usd)
    gbp_ap = next(r for r in summary if r[:2] == ("accessplanit", "GBP"))
    assert Decimal(str(gbp_ap[3])) == Decimal("1150.49")  # 120 + 240.50 + 99.99 + 120 + 570; USD apart


def test_csv_neutralises_text_and_keeps_amounts_plain(pack_db: Database) -> None:
    data = build_pack(pack_db, "2026-10")
    rows = list(csv.DictReader(io.StringIO(to_csv(data).decode("utf-8-sig"))))
    by_key = {r["Key"]: r for r in rows}
    assert by_key["INV-7"]["Contact"] == "'" + EVIL_CONTACT and by_key["INV-7"]["accessplanit value"] == "'=1+1"
    assert by_key["INV-8"]["Difference (Xero minus accessplanit)"] == "-30.00"  # an amount, not text: no quote
    assert by_key["INV-8"]["Amount"] == "570.00" and by_key["INV-9"]["Currency"] == "USD"
    assert by_key["INV-2"]["Date"] == "2026-10-03"
    assert len(rows) == len(data.items)
    for row in rows:
        for name, value in row.items():
            if name not in ("Amount", "Difference (Xero minus accessplanit)"):
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)


@pytest.mark.parametrize("text", ["=1+1", "+cmd|x", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_prefixes_every_dangerous_start(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert neutralise("PO-1") == "PO-1" and neutralise("") == ""


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_pdf_holds_every_exception_whole_with_page_numbers(pack_db: Database, tmp_path: Path) -> None:
    data = build_pack(pack_db, "2026-10", preparer="Ann Preparer")
    long_key = "INV-2:P88:X" + "0f6c3a2e-5a1b-4c7d-9e8f-123456789abc"
    long_contact = "The Extremely Long Named Training Consortium of Northern Europe and Beyond Ltd (Zoë Ünal)"
    items = [*data.items, {**data.items[1], "key": long_key, "status": "only_in_ledger", "contact": long_contact}]
    text = _pdf_text(to_pdf(replace(data, items=items)), tmp_path)
    words = text.split()
    for item in [*data.exceptions(), items[-1]]:
        assert item["key"] in words, item["key"]
        assert item["date"] is None or item["date"] in words, item["date"]
    assert "Zoë Ünal)" in text.replace("\n", " ")  # wrapped, not cut
    assert "Page 1 of 2" in text or "Page 1 of 1" in text
    pages = text.count("\f")
    assert f"Page {pages} of {pages}" in text
    assert "Month-end pack: 2026-10" in text and "Prepared by Ann Preparer" in text
    assert "Not signed off" in text
    assert "1,000.00" in text and "USD" in text  # thousands grouped, digit for digit
    # matched items are summarised, not listed, unless asked for
    assert "INV-9" not in words
    listed = _pdf_text(to_pdf(replace(data, all_items=True)), tmp_path)
    assert "INV-9" in listed.split() and "INV-1" in listed.split()


def test_pdf_and_workbook_show_a_signoff_when_the_report_has_one(pack_db: Database, tmp_path: Path) -> None:
    data = build_pack(pack_db, "2026-10")
    signed = replace(
        data,
        signoff={
            "by": "Bea Signer",
            "at": "2026-11-03T09:15:00",
            "note": "Agreed",
            "with_exceptions": True,
            "hash": "ab12",
        },
    )
    text = _pdf_text(to_pdf(signed), tmp_path)
    assert "Signed off by Bea Signer" in text and "ab12" in text and "Agreed" in text
    path = tmp_path / "s.xlsx"
    path.write_bytes(to_xlsx(signed))
    summary = list(load_workbook(path)["Summary"].iter_rows(values_only=True))
    assert any(r[1:3] == ("Signed off by", "Bea Signer") for r in summary)
    assert any(r[1:3] == ("With exceptions", "Yes") for r in summary)


def test_write_pack_is_private_and_all_or_nothing(pack_db: Database, tmp_path: Path) -> None:
    data = build_pack(pack_db, "2026-10")
    events: list[ProgressEvent] = []
    out = tmp_path / "out"
    out.mkdir()
    paths = write_pack(data, out, events.append)
    assert sorted(p.name for p in paths) == sorted(pack_names("2026-10").values())
    assert sorted(p.name for p in out.iterdir()) == sorted(pack_names("2026-10").values())
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in paths)
    assert [e.done for e in events] == [0, 1, 2, 3] and events[-1].total == 3

    token = CancelToken()
    cancelled = tmp_path / "cancelled"
    cancelled.mkdir()

    def cancel_after_first(event: ProgressEvent) -> None:
        if event.done == 1:
            token.cancel()

    with pytest.raises(CancelledError):
        write_pack(data, cancelled, cancel_after_first, token)
    assert list(cancelled.iterdir()) == []


def test_the_pack_lists_decisions_and_the_audit_of_its_items(pack_db: Database, tmp_path: Path) -> None:
    from app.domain.status import Resolution
    from app.services.resolve import resolve_item

    with pack_db.transaction(readonly=True) as tx:
        row = next(r for r in items_repo.item_rows(tx, items_repo.query_item_ids(tx)) if r.key == "INV-3")
    resolve_item(pack_db, "Cy Clerk", row.id, Resolution.IGNORE, '=HYPERLINK("x") written off')
    data = build_pack(pack_db, "2026-10")
    assert [(d["key"], d["decision"], d["who"]) for d in data.decisions] == [("INV-3", "ignore", "Cy Clerk")]
    assert [(e["key"], e["who"]) for e in data.audit] == [("INV-3", "Cy Clerk")]
    path = tmp_path / "d.xlsx"
    path.write_bytes(to_xlsx(data))
    wb = load_workbook(path)
    decisions = list(wb["Decisions"].iter_rows(min_row=2, values_only=True))
    assert decisions[0][1:6] == ("Cy Clerk", "Invoice", "INV-3", "Ignored", '=HYPERLINK("x") written off')
    assert wb["Decisions"]["F2"].data_type == "s"
    audit = list(wb["Audit extract"].iter_rows(min_row=2, values_only=True))
    assert audit and audit[0][2] == "Cy Clerk" and audit[0][5] == "INV-3"
    inv3 = next(i for i in data.items if i["key"] == "INV-3")
    assert data.decision_text()(inv3).startswith("Ignored by Cy Clerk on ")

"""The connectors against emulators that behave like a stricter real service: accessplanit capping `$top` below
what we ask, accessplanit refusing `in (...)` and DateUpdated, Xero refusing `IDs=` on CreditNotes, and two
accessplanit records with one ID. Real HTTP to the sandboxes throughout."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Payment
from app.sandbox.runner import SandboxOptions, start_sandboxes

from .conftest import Admin, make_ap_client, make_x_client, standard_ap_data, write_ap_fixtures
from .test_accessplanit_client import gets, read_all


@pytest.mark.parametrize("cap", [100, 250, 1000])
def test_every_record_arrives_whatever_the_services_top_cap(tmp_path: Path, cap: int) -> None:
    invoices, items, transactions = standard_ap_data(1200)
    root = write_ap_fixtures(tmp_path / "fx", invoices, items, transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root), max_top=cap)) as sb:
        admin = Admin(sb.accessplanit.url)
        client = make_ap_client(sb.info["accessplanit"], page_size=1000, line_page_size=1000)
        pages = read_all(client, "invoices", full=True)
        got = [r for p in pages for r in p.records]
        assert sorted(r.id for r in got) == sorted(i["ID"] for i in invoices)
        assert all(isinstance(r, Invoice) and len(r.lines) == 1 for r in got)
        asked = [parse_qs(r["query"])["$top"] for r in gets(admin, "Invoice")]
        assert asked and all(a == ["1000"] for a in asked)  # we ask for 1000; the service answers `cap`
        assert len(gets(admin, "Invoice")) == -(-1200 // cap)  # the count ends it: no extra empty page
        # Payments page on the DateUpdated keyset: 240 rows, capped pages included.
        paid = [r for p in read_all(client, "payments", full=True) for r in p.records]
        assert sorted(r.id for r in paid) == sorted(t["ID"] for t in transactions)
        assert all(isinstance(r, Payment) for r in paid)


def test_strict_accessplanit_gets_the_documented_fallbacks_remembered_per_connection(tmp_path: Path) -> None:
    invoices, items, transactions = standard_ap_data(250)
    root = write_ap_fixtures(tmp_path / "fx", invoices, items, transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root), strict=True)) as sb:
        admin = Admin(sb.accessplanit.url)
        info = sb.info["accessplanit"]
        client = make_ap_client(info, page_size=100)
        full = read_all(client, "invoices", full=True)  # ID keyset and a ranged line walk: documented already
        assert sum(len(p.records) for p in full) == 250
        assert "unsupported" not in full[-1].cursor
        paid = read_all(client, "payments")
        assert sorted(r.id for p in paid for r in p.records) == sorted(t["ID"] for t in transactions)
        assert paid[-1].cursor["unsupported"] == ["DateUpdated"] and paid[-1].cursor["done"] is True
        # Lines of many invoices: `in` is refused once, then `or` chains carry them all.
        ids = [i["ID"] for i in invoices[:150]]
        lines = client._streams.lines_for(ids, CancelToken())
        assert sorted(lines) == sorted(ids)
        assert client._streams.unsupported == {"DateUpdated", "in"}
        statuses = [(r["status"], parse_qs(r["query"]).get("$filter", [""])[0]) for r in gets(admin, "InvoiceItem")]
        assert [s for s, _ in statuses].count(400) == 1 and " in (" in next(f for s, f in statuses if s == 400)
        assert all(" or InvoiceID eq " in f for s, f in statuses if s == 200 and "le" not in f)

        # A new client of the same connection starts from the stored cursors. The invoices cursor was stored
        # before payments learnt about DateUpdated: its incremental run is refused once, then re-reads in ID
        # order and remembers; the payments cursor already knows, so nothing of it is refused.
        admin.reset()
        again = make_ap_client(info, page_size=100)
        reread = read_all(again, "invoices", json.loads(json.dumps(full[-1].cursor)))
        assert sum(len(p.records) for p in reread) == 250
        assert sum(len(p.records) for p in read_all(again, "payments", json.loads(json.dumps(paid[-1].cursor)))) == 50
        log = admin.requests()
        refused = [r for r in log if r["status"] == 400]
        assert len(refused) == 1 and refused[0]["path"].endswith("/Invoice")
        asked = [parse_qs(r["query"]) for r in log if r["status"] == 200]
        assert not any("DateUpdated" in q.get("$filter", [""])[0] + q.get("$orderby", [""])[0] for q in asked)
        assert not any(" in (" in q.get("$filter", [""])[0] for q in asked)
        assert reread[-1].cursor["unsupported"] == ["DateUpdated"]


def test_strict_xero_credit_notes_are_looked_up_with_where(tmp_path: Path) -> None:
    guid = "abcdef01-0000-4000-8000-00000000000a"
    folder = write_ap_fixtures(tmp_path / "fx", [], [], []) / "xero"
    folder.mkdir(parents=True, exist_ok=True)
    note = {
        "CreditNoteID": guid,
        "CreditNoteNumber": "CN-1",
        "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED",
        "Reference": "INV-7",
        "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Acme"},
        "Date": "/Date(1760313600000+0000)/",
        "LineAmountTypes": "Exclusive",
        "SubTotal": 10,
        "TotalTax": 2,
        "Total": 12,
        "RemainingCredit": 12,
        "CurrencyCode": "GBP",
    }
    (folder / "CreditNotes.json").write_text(json.dumps({"CreditNotes": [note]}), encoding="utf-8")
    refund = {"PaymentType": "ARCREDITPAYMENT", "CreditNote": {"CreditNoteID": guid}}
    unknown = {"PaymentType": "ARCREDITPAYMENT", "CreditNote": {"CreditNoteID": "abcdef01-0000-4000-8000-0000000000ff"}}
    with start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "fx"), strict=True)) as sb:
        admin = Admin(sb.xero.url)
        client = make_x_client(sb.info["xero"])
        admin.reset()
        client._streams._resolve_credit_notes([refund, unknown], CancelToken())
        assert client.credit_note_refs[guid] == "INV-7" and client._streams.unsupported == {"IDs"}
        calls = [r for r in admin.requests() if r["path"].endswith("/CreditNotes")]
        assert [r["status"] for r in calls] == [400, 200]
        assert "IDs=" in calls[0]["query"] and "where=" in calls[1]["query"] and "IDs=" not in calls[1]["query"]
    with start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "fx"))) as lax:
        client = make_x_client(lax.info["xero"])
        client._streams._resolve_credit_notes([refund], CancelToken())
        assert client.credit_note_refs[guid] == "INV-7" and not client._streams.unsupported


def test_two_invoices_with_one_id_are_both_kept_invalid_and_payments_stay(tmp_path: Path) -> None:
    invoices, items, transactions = standard_ap_data(10)
    twin = {**invoices[6], "ID": invoices[5]["ID"], "Reference": "INV-TWIN"}  # INV-5's ID (it has a payment)
    root = write_ap_fixtures(tmp_path / "fx", [*invoices, twin], items, transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        client = make_ap_client(sb.info["accessplanit"], page_size=100)
        got = {r.id: r for p in read_all(client, "invoices", full=True) for r in p.records}
        first, second = got["1005"], got["1005~2"]
        assert isinstance(first, InvalidRecord) and isinstance(second, InvalidRecord)
        assert first.reason == second.reason == "two records with ID 1005"
        assert (first.number, second.number) == ("INV-5", "INV-TWIN")
        assert all(isinstance(r, Invoice) for k, r in got.items() if not k.startswith("1005"))
        assert len(got) == 11
        # Payments on the shared ID stay with the invoice the service listed first.
        fresh = make_ap_client(sb.info["accessplanit"], page_size=100)
        read_all(fresh, "invoices", full=True)
        transactions_of = [t["ID"] for t in transactions if t["InvoiceID"] == "1005"]
        paid = {r.id: r for p in read_all(fresh, "payments", full=True) for r in p.records}
        assert transactions_of
        assert all(isinstance(paid[t], Payment) and paid[t].invoice_number == "INV-5" for t in transactions_of)
        assert fresh.invoice_numbers["1005"] == "INV-5"

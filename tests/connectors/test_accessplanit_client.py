"""The accessplanit connector against the real emulator over HTTP on 127.0.0.1, with faults switched on."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from app.connectors.accessplanit.client import AccessplanitClient
from app.connectors.base import NO_LOOKUPS, CacheLookups, Page
from app.domain.errors import AuthenticationError, CancelledError, RateLimited, RejectedError, TransientError
from app.domain.progress import CancelToken
from app.domain.records import InvalidRecord, Invoice, Payment
from app.domain.status import Direction, InvoiceState
from app.sandbox.runner import SandboxOptions, start_sandboxes

from .conftest import (
    Admin,
    ap_invoice,
    ap_item,
    ap_transaction,
    make_ap_client,
    standard_ap_data,
    write_ap_fixtures,
)


def read_all(
    client: AccessplanitClient,
    stream: str,
    cursor: dict[str, Any] | None = None,
    full: bool = False,
    lookups: CacheLookups = NO_LOOKUPS,
) -> list[Page]:
    return list(client.read(stream, cursor, full=full, cancel=CancelToken(), lookups=lookups))


@dataclass
class Known:
    """A cache that knows some invoice numbers and versions (`CacheLookups`); remembers what it was asked."""

    numbers: dict[str, str] = field(default_factory=dict)
    known_versions: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, list[str]]] = field(default_factory=list)

    def invoice_numbers(self, invoice_ids: Collection[str]) -> dict[str, str]:
        self.asked.append(("numbers", sorted(invoice_ids)))
        return {i: self.numbers[i] for i in invoice_ids if i in self.numbers}

    def versions(self, ids: Collection[str]) -> dict[str, str]:
        self.asked.append(("versions", sorted(ids)))
        return {i: self.known_versions[i] for i in ids if i in self.known_versions}

    def credit_note_references(self, credit_note_ids: Collection[str]) -> dict[str, str]:
        return {}


def gets(admin: Admin, module: str) -> list[dict[str, Any]]:
    return [r for r in admin.requests() if r["method"] == "GET" and r["path"].endswith(f"/api/v2/{module}")]


def test_invoices_page_to_the_end_with_the_exact_number_of_calls(
    ap_client: AccessplanitClient, ap_admin: Admin
) -> None:
    pages = read_all(ap_client, "invoices", full=True)
    # 250 invoices, pages of 100: 100, 100, 50 (the short page ends the stream). The 250 lines fit one line page,
    # read with the first invoice page; the walk ran out early, so the last invoice page looks once more (an
    # invoice created meanwhile must not be stored without its lines): 2 line calls, not one per invoice page.
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.done for p in pages] == [False, False, True]
    assert len(gets(ap_admin, "Invoice")) == 3
    assert len(gets(ap_admin, "InvoiceItem")) == 2
    assert all(len(r.lines) == 1 for p in pages for r in p.records if isinstance(r, Invoice))
    assert len([r for r in ap_admin.requests() if r["path"].endswith("/token")]) == 1
    ids = [r.id for p in pages for r in p.records]
    assert len(set(ids)) == 250
    assert sum(p.calls for p in pages) == ap_client.stats.calls


def test_amounts_are_decimal_and_dates_are_calendar_dates(ap_client: AccessplanitClient) -> None:
    pages = read_all(ap_client, "invoices", full=True)
    first = pages[0].records[0]
    assert isinstance(first, Invoice)
    assert first.net == Decimal("100.10") and type(first.net) is Decimal
    assert first.total == Decimal("120.12") and first.due == Decimal("120.12")
    assert first.issue_date == date(2026, 10, 5) and first.due_date == date(2026, 11, 4)
    assert first.state is InvoiceState.OPEN and first.po_number == "PO-0" and first.contact == "Customer 0"
    assert len(first.lines) == 1
    assert first.lines[0].net == Decimal("100.10") and first.lines[0].tax == Decimal("20.02")
    raw = pages[0].raws[0]
    assert isinstance(raw["Amount"], Decimal) and raw["InvoiceItems"][0]["InvoiceID"] == first.id


def test_payments_map_with_invoice_numbers_from_this_run(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    read_all(ap_client, "invoices", full=True)
    before = len(gets(ap_admin, "Invoice"))
    pages = read_all(ap_client, "payments", full=True)
    payments = [r for p in pages for r in p.records]
    assert len(payments) == 50 and all(isinstance(p, Payment) for p in payments)
    first = payments[0]
    assert isinstance(first, Payment)
    assert first.invoice_number == "INV-0" and first.amount == Decimal("50.00") and first.method == "BACS"
    assert first.direction is Direction.PAYMENT and first.date == date(2026, 10, 14)
    assert len(gets(ap_admin, "Invoice")) == before  # no lookups needed


def test_payments_alone_look_up_unknown_invoice_numbers_in_chunks(
    ap_client: AccessplanitClient, ap_admin: Admin
) -> None:
    cache = Known(numbers={"1000": "INV-0"})  # the caller's cache knows this one: no lookup for it
    pages = read_all(ap_client, "payments", full=True, lookups=cache)
    payments = [r for p in pages for r in p.records]
    assert all(isinstance(p, Payment) for p in payments), [p for p in payments if isinstance(p, InvalidRecord)]
    assert {p.invoice_number for p in payments if isinstance(p, Payment)} == {f"INV-{i}" for i in range(0, 250, 5)}
    lookups = gets(ap_admin, "Invoice")
    assert len(lookups) == 1  # 49 unknown ids fit one chunk of 100
    asked = parse_qs(lookups[0]["query"])["$filter"][0]
    assert asked.startswith("ID in (") and "'1005'" in asked and "'1000'" not in asked
    # The cache was asked for the page's unknown invoice ids only, once; a full run asks it for no versions.
    assert [what for what, _ in cache.asked] == ["numbers"] and "1000" in cache.asked[0][1]


def test_cursor_resumes_mid_stream_without_gaps_or_repeats(
    ap_client: AccessplanitClient, ap_info: dict[str, str]
) -> None:
    stream = ap_client.read("invoices", None, full=True, cancel=CancelToken())
    first = next(stream)
    cursor = first.cursor
    assert cursor["done"] is False and cursor["by"] == "ID" and cursor["after_id"] == "1099"
    # A new client (a new process after a crash) resumes from the saved cursor.
    again = make_ap_client(ap_info)
    rest = read_all(again, "invoices", cursor)
    ids = [r.id for r in first.records] + [r.id for p in rest for r in p.records]
    assert len(ids) == 250 and len(set(ids)) == 250


def test_cursor_is_json_serialisable_and_incremental_reads_only_changes(
    ap_info: dict[str, str], ap_admin: Admin
) -> None:

    ap_client = make_ap_client(ap_info, overlap_seconds=0)
    pages = read_all(ap_client, "invoices", full=True)
    newest = max((raw for p in pages for raw in p.raws), key=lambda raw: str(raw["DateUpdated"]))["ID"]
    cursor = json.loads(json.dumps(pages[-1].cursor))
    assert cursor["watermark"] == max(str(raw["DateUpdated"]) for p in pages for raw in p.raws)
    assert cursor["done"] is True
    ap_client.update_invoice("1007", po_number="PO-NEW")
    ap_admin.reset()
    incremental = read_all(ap_client, "invoices", cursor)
    changed = [r for p in incremental for r in p.records]
    # The update stamps DateUpdated with the emulator's clock (after every fixture date): it comes back, with
    # the record at the watermark itself (`ge`: the reader de-duplicates by id).
    assert [r.id for r in changed] == [newest, "1007"]
    assert isinstance(changed[1], Invoice) and changed[1].po_number == "PO-NEW"
    assert "DateUpdated ge" in gets(ap_admin, "Invoice")[0]["query"].replace("%20", " ").replace("+", " ")


def test_ties_on_date_updated_across_a_page_boundary(tmp_path: Path) -> None:
    # 30 invoices with one DateUpdated: the keyset must page through the tie by skip, not loop or drop rows.
    invoices = [ap_invoice(i, updated="2026-10-10T10:00:00") for i in range(30)]
    items = [ap_item(i, inv["ID"]) for i, inv in enumerate(invoices)]
    root = write_ap_fixtures(tmp_path / "f", invoices, items, [])
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        client = make_ap_client(sb.info["accessplanit"], page_size=10)
        pages = read_all(client, "invoices", full=True)
    ids = [r.id for p in pages for r in p.records]
    assert sorted(ids) == sorted(inv["ID"] for inv in invoices)


@pytest.mark.parametrize(
    "fault",
    [
        "burst429=1x,retry_after=1",
        "error503=2x",
        "error500=1x",
        "reset=1x",
        "truncate=1x",
        "html200=1x",
        "timeout=1x,timeout_seconds=3",
    ],
)
def test_transient_faults_are_retried(ap_client: AccessplanitClient, ap_admin: Admin, fault: str) -> None:
    read_all(ap_client, "transaction_methods")  # log in first, so the fault hits a data call
    ap_admin.faults(fault + ",only=/Invoice")
    started = time.monotonic()
    pages = read_all(ap_client, "invoices", full=True)
    assert sum(len(p.records) for p in pages) == 250
    assert ap_client.stats.retries >= 1
    assert sum(p.retries for p in pages) >= 1
    if "retry_after=1" in fault:
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
    statuses = [r["status"] for r in gets(ap_admin, "Invoice")]
    assert statuses[-1] == 200


def test_persistent_failure_ends_in_a_transient_error_for_people(
    ap_client: AccessplanitClient, ap_admin: Admin
) -> None:
    read_all(ap_client, "transaction_methods")
    ap_admin.faults("html200=1.0,only=/Invoice")
    with pytest.raises(TransientError) as err:
        read_all(ap_client, "invoices", full=True)
    assert "could not be read" in err.value.user_text()
    assert len(gets(ap_admin, "Invoice")) == 4  # max_attempts of the test config


def test_hourly_limit_stops_the_system_with_the_time_to_resume(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    ap_admin.faults("limit_hour=2")
    with pytest.raises(RateLimited) as err:
        read_all(ap_client, "invoices", full=True)
    assert err.value.problem == "hour" and err.value.retry_after > 60
    calls = len(ap_admin.requests())
    with pytest.raises(RateLimited):  # the pacer now refuses at once, without calling
        read_all(ap_client, "invoices", full=True)
    assert len(ap_admin.requests()) == calls


def test_token_expiry_mid_stream_logs_in_again(ap_info: dict[str, str], ap_admin: Admin) -> None:
    ap_admin.faults("token_ttl=1")
    client = make_ap_client(ap_info)
    client.auth.margin = 0.0  # type: ignore[union-attr]  # let the token really expire
    stream = client.read("invoices", None, full=True, cancel=CancelToken())
    next(stream)
    time.sleep(1.2)
    rest = list(stream)
    assert sum(len(p.records) for p in rest) == 150
    assert client.auth.logins >= 2  # type: ignore[union-attr]


def test_a_401_mid_stream_logs_in_again_once(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    stream = ap_client.read("invoices", None, full=True, cancel=CancelToken())
    next(stream)
    ap_client.auth._token = "revoked-token-value"  # type: ignore[union-attr]  # the server no longer knows it
    rest = list(stream)
    assert sum(len(p.records) for p in rest) == 150
    assert 401 in [r["status"] for r in ap_admin.requests()]
    assert ap_client.auth.logins == 2  # type: ignore[union-attr]


def test_wrong_password_is_an_authentication_error_without_the_secret(
    ap_info: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_ap_client({**ap_info, "password": "hunter2-not-it"})
    with pytest.raises(AuthenticationError) as err:
        read_all(client, "invoices", full=True)
    assert "hunter2-not-it" not in err.value.user_text()
    assert "hunter2-not-it" not in caplog.text
    steps = client.check()
    assert [s.step for s in steps] == ["reachability", "credentials"] and not steps[-1].ok


def test_api_key_works_and_a_wrong_one_is_refused(ap_info: dict[str, str]) -> None:
    client = make_ap_client(ap_info, api_key=True)
    assert sum(len(p.records) for p in read_all(client, "payments", full=True)) == 50
    bad = make_ap_client({**ap_info, "api_key": "wrong-key-123456"}, api_key=True)
    with pytest.raises(AuthenticationError) as err:
        read_all(bad, "payments", full=True)
    assert "wrong-key-123456" not in err.value.user_text()


def test_check_passes_every_step(ap_client: AccessplanitClient) -> None:
    steps = ap_client.check()
    assert [(s.step, s.ok) for s in steps] == [("reachability", True), ("credentials", True), ("scopes", True)]


def test_check_reports_an_unreachable_address() -> None:
    client = make_ap_client({"url": "http://127.0.0.1:9/accessplan", "username": "u", "password": "p", "api_key": ""})
    steps = client.check()
    assert steps[0].step == "reachability" and not steps[0].ok


def test_cancel_is_checked_before_any_request(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CancelledError):
        list(ap_client.read("invoices", None, full=True, cancel=cancel))
    assert ap_admin.requests() == []


def test_cancel_interrupts_a_backoff_wait(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    import threading

    read_all(ap_client, "transaction_methods")
    ap_admin.faults("burst429=1x,retry_after=4,only=/Invoice")
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        list(ap_client.read("invoices", None, full=True, cancel=cancel))
    assert time.monotonic() - started < 2.0


def test_update_invoice_puts_only_the_changed_fields(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    record = ap_client.update_invoice("1003", po_number="PO-777", due_date=date(2026, 12, 1))
    assert isinstance(record, Invoice)
    assert record.po_number == "PO-777" and record.due_date == date(2026, 12, 1)
    stored = next(r for r in ap_admin.state()["Invoice"]["results"] if r["ID"] == "1003")
    assert stored["PONumber"] == "PO-777" and stored["DateDue"].startswith("2026-12-01")
    with pytest.raises(RejectedError):
        ap_client.update_invoice("1003", po_number="X" * 51)


def test_create_and_find_transaction(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    created = ap_client.create_transaction(
        invoice_id="1001",
        direction=Direction.PAYMENT,
        amount=Decimal("20.12"),
        day=date(2026, 10, 20),
        method_label="BACS",
        reference="XERO-PAY-1",
    )
    assert isinstance(created, Payment)
    assert created.invoice_number == "INV-1" and created.amount == Decimal("20.12")
    found = ap_client.find_transaction("1001", Decimal("20.12"), "XERO-PAY-1", Direction.PAYMENT)
    assert found is not None and found.id == created.id
    assert ap_client.find_transaction("1001", Decimal("20.13"), "XERO-PAY-1", Direction.PAYMENT) is None
    invoice = next(r for r in ap_admin.state()["Invoice"]["results"] if r["ID"] == "1001")
    assert invoice["AmountPaid"] == Decimal("20.12")


def test_a_dropped_post_is_not_resent_and_can_be_found(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    read_all(ap_client, "transaction_methods")
    ap_admin.faults("drop_after_commit=1x,only=/Transaction")
    with pytest.raises(TransientError) as err:
        ap_client.create_transaction(
            invoice_id="1002",
            direction=Direction.PAYMENT,
            amount=Decimal("10.00"),
            day=date(2026, 10, 21),
            method_label="Card",
            reference="XERO-PAY-2",
        )
    assert "unknown" in err.value.hint
    posts = [r for r in ap_admin.requests() if r["method"] == "POST" and r["path"].endswith("/Transaction")]
    assert len(posts) == 1  # a POST without an idempotency key is never blindly repeated
    found = ap_client.find_transaction("1002", Decimal("10.00"), "XERO-PAY-2", Direction.PAYMENT)
    assert found is not None


def test_a_refused_transaction_is_rejected_with_the_reason(ap_client: AccessplanitClient) -> None:
    with pytest.raises(RejectedError) as err:
        ap_client.create_transaction(
            invoice_id="1002",
            direction=Direction.REFUND,
            amount=Decimal("500.00"),
            day=date(2026, 10, 21),
            method_label="Card",
            reference="TOO-MUCH",
        )
    assert err.value.details


def test_malformed_records_come_back_invalid_not_dropped(tmp_path: Path) -> None:
    invoices = [
        ap_invoice(0),
        ap_invoice(1, Status="Weird"),
        ap_invoice(2, Amount="12,50"),
        ap_invoice(3, Reference=""),
    ]
    transactions = [ap_transaction(0, "1000"), ap_transaction(1, "9999"), ap_transaction(2, "1000", Amount=None)]
    root = write_ap_fixtures(tmp_path / "f", invoices, [ap_item(0, "1000")], transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        client = make_ap_client(sb.info["accessplanit"])
        records = [r for p in read_all(client, "invoices", full=True) for r in p.records]
        payments = [r for p in read_all(client, "payments", full=True) for r in p.records]
    assert [type(r).__name__ for r in records] == ["Invoice", "InvalidRecord", "InvalidRecord", "InvalidRecord"]
    reasons = [r.reason for r in records if isinstance(r, InvalidRecord)]
    assert "unknown status" in reasons[0] and "bad amount" in reasons[1] and "missing invoice number" in reasons[2]
    assert [type(r).__name__ for r in payments] == ["Payment", "InvalidRecord", "InvalidRecord"]
    assert "not known" in payments[1].reason  # type: ignore[union-attr]


# --- the two read plans: a full run's one line walk, and an incremental run that skips unchanged records -----------


def uneven_data(n: int = 300) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` invoices with IDs 3 apart (so lines of a missing invoice can sit between real ones), 0 to 10 lines each
    (every 11th has none, the last one too), two malformed invoices, line IDs falling as invoice IDs rise (so only
    `$orderby=InvoiceID,ID` gives invoice order), and orphan lines between and beyond the invoices."""
    invoices = [ap_invoice(i, ID=str(1000 + 3 * i)) for i in range(n)]
    invoices[7]["Status"] = "Weird"
    invoices[120]["Amount"] = "12,50"
    items: list[dict[str, Any]] = []
    for i, inv in enumerate(invoices):
        for _ in range(0 if i == n - 1 else (i * 7) % 11):
            items.append({**ap_item(0, inv["ID"]), "ID": str(90000 - len(items))})
    items.append({**ap_item(0, "1001"), "ID": "1"})  # no invoice 1001: between 1000 and 1003
    items.append({**ap_item(0, str(1000 + 3 * n + 50)), "ID": "2"})  # beyond the last invoice
    return invoices, items[::-1]  # stored out of order: the service sorts


def lines_by_invoice(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        out.setdefault(str(item["InvoiceID"]), []).append(str(item["ID"]))
    return {k: sorted(v, key=int) for k, v in out.items()}


@pytest.fixture
def uneven(tmp_path: Path) -> Any:
    invoices, items = uneven_data()
    root = write_ap_fixtures(tmp_path / "uneven", invoices, items, [])
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        yield sb.info["accessplanit"], Admin(sb.accessplanit.url), invoices, items


@pytest.mark.parametrize("line_page", [1000, 40])
def test_full_run_reads_lines_in_one_walk_at_the_minimum_of_calls(uneven: Any, line_page: int) -> None:
    info, admin, invoices, items = uneven
    client = make_ap_client(info, page_size=50, line_page_size=line_page)
    pages = read_all(client, "invoices", full=True)

    # 300 = 6 x 50: the last full page reaches the `count` the service reported, so no empty page is asked for
    assert [len(p.records) for p in pages] == [50] * 6
    assert len(gets(admin, "Invoice")) == 6
    real = [i for i in items if i["InvoiceID"] in {inv["ID"] for inv in invoices}]
    minimum = math.ceil(len(items) / line_page)
    assert minimum <= len(gets(admin, "InvoiceItem")) <= minimum + 1, (len(items), len(gets(admin, "InvoiceItem")))
    # Every invoice, valid or not, has exactly its own lines; nothing is lost across page or buffer boundaries.
    want = lines_by_invoice(real)
    got = {str(raw["ID"]): [str(i["ID"]) for i in raw["InvoiceItems"]] for p in pages for raw in p.raws}
    assert set(got) == {inv["ID"] for inv in invoices}
    assert {k: sorted(v, key=int) for k, v in got.items() if v} == want
    assert sum(not v for v in got.values()) == len(invoices) - len(want)  # those with none have none
    records = [r for p in pages for r in p.records]
    assert [r.id for r in records if isinstance(r, InvalidRecord)] == ["1021", "1360"]
    valid = [r for r in records if isinstance(r, Invoice)]
    assert all(len(r.lines) == len(want.get(r.id, [])) for r in valid)
    assert sum(p.calls for p in pages) == client.stats.calls
    walks = [parse_qs(r["query"]) for r in gets(admin, "InvoiceItem")]
    assert all(w["$orderby"] == ["InvoiceID,ID"] and "InvoiceID le '2147483647'" in w["$filter"][0] for w in walks)
    assert walks[0]["$filter"][0].startswith("InvoiceID ge '1000' and")


def test_a_full_run_resumed_from_any_page_gives_the_uninterrupted_result(uneven: Any) -> None:
    info, admin, _, _ = uneven
    whole = read_all(make_ap_client(info, page_size=50, line_page_size=40), "invoices", full=True)
    want = [json.dumps(raw, default=str, sort_keys=True) for p in whole for raw in p.raws]
    for k, page in enumerate(whole[:-1]):
        cursor = json.loads(json.dumps(page.cursor))  # as stored
        assert cursor["after_id"] == page.raws[-1]["ID"] and cursor["done"] is False
        admin.reset()
        rest = read_all(make_ap_client(info, page_size=50, line_page_size=40), "invoices", cursor)
        got = [json.dumps(raw, default=str, sort_keys=True) for p in [*whole[: k + 1], *rest] for raw in p.raws]
        assert got == want, f"resumed after page {k}"
        # The resumed line walk starts after the last invoice stored, not at the start; an empty last page of
        # invoices needs no line call at all.
        walks = [parse_qs(r["query"])["$filter"][0] for r in gets(admin, "InvoiceItem")]
        if any(p.raws for p in rest):
            assert walks[0].startswith(f"InvoiceID gt '{cursor['after_id']}' and")
        else:
            assert walks == []
    assert whole[-1].cursor["watermark"] == max(str(raw["DateUpdated"]) for p in whole for raw in p.raws)


def test_an_invoice_created_after_the_lines_ran_out_still_gets_its_lines(tmp_path: Path) -> None:
    invoices = [ap_invoice(i, ID=str(1000 + 2 * i)) for i in range(120)]  # pages 1000-1098, 1100-1198, 1200-1238
    items = [ap_item(i, inv["ID"]) for i, inv in enumerate(invoices[:10])]  # the last 110 have no lines
    root = write_ap_fixtures(tmp_path / "f", invoices, items, [])
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        admin = Admin(sb.accessplanit.url)
        client = make_ap_client(sb.info["accessplanit"], page_size=50)
        stream = client.read("invoices", None, full=True, cancel=CancelToken())
        first = next(stream)  # the walk ran out of lines on this page
        assert len(gets(admin, "InvoiceItem")) == 1
        # Meanwhile a booking lands in the second page's ID range, with its line (the platform creates invoices;
        # the API cannot, so it goes straight into the emulator's store).
        app = sb.accessplanit_app
        with app._lock:
            app.tables["Invoice"].insert({**ap_invoice(0, ID="1151"), "Reference": "INV-LATE"})
            app.tables["InvoiceItem"].insert(ap_item(500, "1151"))
        rest = list(stream)
        line_calls, invoice_calls = len(gets(admin, "InvoiceItem")), len(gets(admin, "Invoice"))
    records: dict[str, Any] = {}
    for page in [first, *rest]:
        records.update({r.id: r for r in page.records})  # the cache upserts by id: the last copy wins
    assert isinstance(records["1151"], Invoice) and records["1151"].number == "INV-LATE"
    assert [line.line_id for line in records["1151"].lines] == ["50500"]
    assert rest[-1].done and "1151" in [r.id for r in rest[-1].records]  # stored again with the last page
    assert line_calls == 2  # one more look on the last page, not one per page
    assert invoice_calls == 4  # 3 pages + reading the late invoice again


def in_overlap(pages: list[Page], seconds: int = 300) -> int:
    """Records of a finished run updated within `seconds` of its watermark (what an incremental run re-reads)."""
    mark = datetime.fromisoformat(pages[-1].cursor["watermark"])
    return sum(
        1
        for p in pages
        for r in p.raws
        if datetime.fromisoformat(r["DateUpdated"]) >= mark - timedelta(seconds=seconds)
    )


def test_unchanged_incremental_run_costs_one_call_per_stream(ap_client: AccessplanitClient, ap_admin: Admin) -> None:
    methods = read_all(ap_client, "transaction_methods")
    invoices = read_all(ap_client, "invoices", full=True)
    payments = read_all(ap_client, "payments", full=True)
    ap_admin.reset()

    held = Known(known_versions={str(r["ID"]): r["DateUpdated"] for p in invoices for r in p.raws})
    again = read_all(ap_client, "invoices", invoices[-1].cursor, lookups=held)
    held_pay = Known(known_versions={str(r["ID"]): r["DateUpdated"] for p in payments for r in p.raws})
    again_pay = read_all(ap_client, "payments", payments[-1].cursor, lookups=held_pay)
    read_all(ap_client, "transaction_methods", methods[-1].cursor)

    # The 5-minute overlap re-reads 6 invoices and 8 transactions: all unchanged, so none is kept and no lines.
    assert again[-1].total == in_overlap(invoices) == 6 and "total" not in again[-1].cursor
    assert again_pay[-1].total == in_overlap(payments) == 8
    # The cache was asked for the versions of the ids the service sent back, nothing more.
    assert [len(ids) for what, ids in held.asked if what == "versions"] == [6]
    assert [r for p in [*again, *again_pay] for r in p.records] == []
    assert [len(gets(ap_admin, m)) for m in ("Invoice", "InvoiceItem", "Transaction", "TransactionMethod")] == [
        1,
        0,
        1,
        1,
    ]
    assert again[-1].cursor["done"] and again[-1].cursor["watermark"] == invoices[-1].cursor["watermark"]
    # A full run ignores what the caller holds: everything is read again, and every version rides on its page.
    full = read_all(ap_client, "payments", full=True, lookups=held_pay)
    assert sum(len(p.records) for p in full) == 50
    assert [v for p in full for v in p.versions] == [r["DateUpdated"] for p in full for r in p.raws]


def test_a_changed_invoice_in_the_overlap_is_read_again_with_its_lines(tmp_path: Path) -> None:
    invoices, items, transactions = standard_ap_data()
    root = write_ap_fixtures(tmp_path / "before", invoices, items, transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        pages = read_all(make_ap_client(sb.info["accessplanit"]), "invoices", full=True)
    cursor = pages[-1].cursor
    assert cursor["watermark"] == "2026-10-03T00:59:00"
    # Invoice 1236 (updated 00:56, inside the overlap, below the watermark) changed on the service since: its
    # DateUpdated moved to 00:57:30 (still not past the watermark), its PO number and its lines changed.
    changed = next(inv for inv in invoices if inv["ID"] == "1236")
    changed.update(DateUpdated="2026-10-03T00:57:30", PONumber="PO-CHANGED")
    items.append({**ap_item(999, "1236"), "DynamicLabel": "Late fee"})
    root = write_ap_fixtures(tmp_path / "after", invoices, items, transactions)
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        admin = Admin(sb.accessplanit.url)
        client = make_ap_client(sb.info["accessplanit"])
        held = Known(known_versions={str(r["ID"]): r["DateUpdated"] for p in pages for r in p.raws})
        again = read_all(client, "invoices", cursor, lookups=held)
        invoice_calls = gets(admin, "Invoice")
        line_filters = [parse_qs(r["query"])["$filter"] for r in gets(admin, "InvoiceItem")]
    records = [r for p in again for r in p.records]
    assert [r.id for r in records] == ["1236"]
    assert isinstance(records[0], Invoice) and records[0].po_number == "PO-CHANGED"
    assert [line.description for line in records[0].lines] == ["Course place 236", "Late fee"]
    assert len(invoice_calls) == 1
    assert line_filters == [["InvoiceID eq '1236'"]]

"""The Xero connector against the real Xero emulator over HTTP on 127.0.0.1: paging, faults, limits, OAuth
(client credentials, PKCE without a browser, refresh rotation saved before use, invalid_grant), and writes."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from app.connectors.http import HttpClient
from app.connectors.xero.auth import LoopbackListener, connect_headless
from app.connectors.xero.profile import XERO
from app.domain.errors import AuthenticationError, RateLimited, RejectedError
from app.domain.progress import CancelToken
from app.domain.records import CreditNote, Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, System

from .conftest import FAST, Admin, MemoryBox, make_x_client


def read_all(client: Any, stream: str, cursor: dict[str, Any] | None = None, full: bool = False) -> list[Any]:
    return list(client.read(stream, cursor, full=full, cancel=CancelToken()))


def api_calls(admin: Admin, path: str, method: str = "GET") -> list[dict[str, Any]]:
    return [r for r in admin.requests() if r["method"] == method and r["path"].endswith(f"/api.xro/2.0/{path}")]


def test_invoices_page_to_the_end_with_the_exact_number_of_calls(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info)
    x_admin.reset()
    pages = read_all(client, "invoices", full=True)
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.done for p in pages] == [False, False, True]
    calls = api_calls(x_admin, "Invoices")
    assert len(calls) == 3  # page == pageCount ends it: no extra empty call
    assert [parse_qs(c["query"])["page"] for c in calls] == [["1"], ["2"], ["3"]]
    assert parse_qs(calls[0]["query"])["order"] == ["UpdatedDateUTC ASC"]
    first = pages[0].records[0]
    assert isinstance(first, Invoice) and first.system is System.XERO
    assert first.total == Decimal("120.12") and type(first.total) is Decimal
    assert first.issue_date == date(2026, 10, 14) and first.due_date == date(2026, 10, 30)
    assert first.state is InvoiceState.OPEN and len(first.lines) == 1
    assert client.stats.budget["xero.day_remaining"].isdigit()
    assert "xero.min_remaining" in client.stats.budget and "xero.app_min_remaining" in client.stats.budget


def test_reference_streams_in_order(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info)
    assert client.streams() == [
        "organisation",
        "accounts",
        "tax_rates",
        "contacts",
        "credit_notes",
        "invoices",
        "payments",
        "overpayments",
        "prepayments",
    ]
    org = read_all(client, "organisation")[0]
    assert org.done and org.records[0]["Name"]
    codes = {a["Code"] for p in read_all(client, "accounts") for a in p.records}
    assert {"090", "200"} <= codes


def test_cursor_resumes_mid_stream(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info)
    first = next(iter(client.read("invoices", None, full=True, cancel=CancelToken())))
    assert first.cursor == {
        "v": 1,
        "since": None,
        "page": 2,
        "watermark": first.cursor["watermark"],
        "done": False,
    }
    assert first.total == 250  # progress rides on the page, not in the cursor
    again = make_x_client(x_info)
    rest = read_all(again, "invoices", first.cursor)
    ids = [r.id for r in first.records] + [r.id for p in rest for r in p.records]
    assert len(ids) == 250 and len(set(ids)) == 250


def test_incremental_run_sends_if_modified_since_and_gets_only_changes(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info, overlap_seconds=0)
    pages = read_all(client, "invoices", full=True)
    cursor = pages[-1].cursor
    assert cursor["done"] and cursor["watermark"] == "2026-10-15T04:09:00"  # minute 249 of the 15th
    changed = client.update_invoice(pages[0].records[3].id, po_number="PO-CHANGED", idempotency_key="k-upd-1")
    incremental = read_all(client, "invoices", cursor)
    records = [r for p in incremental for r in p.records]
    assert changed.id in [r.id for r in records]
    assert len(records) <= 2  # the changed one (+ the one at the watermark second, if Xero's test is >=)


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
def test_transient_faults_are_retried(x_info: dict[str, str], x_admin: Admin, fault: str) -> None:
    client = make_x_client(x_info)
    x_admin.faults(fault + ",only=/Invoices")
    started = time.monotonic()
    pages = read_all(client, "invoices", full=True)
    assert sum(len(p.records) for p in pages) == 250
    assert sum(p.retries for p in pages) >= 1
    if "burst429" in fault:
        assert time.monotonic() - started >= 1.0
        assert [c["status"] for c in api_calls(x_admin, "Invoices")][:2] == [429, 200]


def test_minute_limit_waits_and_carries_on(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info)
    x_admin.faults("limit_minute=2,limit_window=1")
    pages = read_all(client, "invoices", full=True)
    assert sum(len(p.records) for p in pages) == 250
    assert 429 in [c["status"] for c in api_calls(x_admin, "Invoices")]


def test_daily_limit_stops_cleanly_with_the_time_to_resume(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info)
    x_admin.faults("limit_day=1")
    with pytest.raises(RateLimited) as err:
        read_all(client, "invoices", full=True)
    assert err.value.problem == "day" and err.value.retry_after > 3600
    assert "resume at" in err.value.message and "UTC" in err.value.message
    before = len(x_admin.requests())
    with pytest.raises(RateLimited):
        read_all(client, "payments", full=True)
    assert len(x_admin.requests()) == before  # stopped: no more calls today


# ------------------------------------------------------------------------------------------------------ OAuth
class RecordingSession(requests.Session):
    """A real session that notes which access token each API call carried (to check save-before-use)."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events
        self.headers.update({"Accept": "application/json"})

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        auth = (kwargs.get("headers") or {}).get("Authorization", "")
        if auth.startswith("Bearer ") and "/api.xro/" in url:
            self.events.append("use:" + auth[-12:])
        return super().request(method, url, *args, **kwargs)


def pkce_box(info: dict[str, str], events: list[str] | None = None) -> MemoryBox:
    box = MemoryBox(events)
    connect_headless(
        HttpClient(XERO, config=FAST), identity_url=info["identity_url"], client_id=info["client_id"], box=box
    )
    return box


def test_pkce_flow_without_a_browser_saves_a_refresh_token(x_info: dict[str, str]) -> None:
    box = pkce_box(x_info)
    assert box.secret["refresh_token"] and box.secret["access_token"] and "offline_access" in box.secret["scope"]
    client = make_x_client(x_info, box=box)
    assert [t["tenantId"] for t in client.list_tenants()] == [client.tenant_id]
    assert [s.ok for s in client.check()] == [True, True, True, True]


def test_refresh_rotation_is_saved_before_the_new_token_is_used(x_info: dict[str, str], x_admin: Admin) -> None:
    events: list[str] = []
    box = pkce_box(x_info, events)
    client = make_x_client(x_info, box=box, session=RecordingSession(events))
    read_all(client, "organisation")
    old_refresh = box.secret["refresh_token"]
    requests.post(f"{x_admin.base}/__admin/expire_tokens", timeout=5)
    events.clear()
    pages = read_all(client, "invoices", full=True)
    assert sum(len(p.records) for p in pages) == 250
    assert client.auth.refreshes == 1
    new = box.secret
    assert new["refresh_token"] != old_refresh  # rotated
    saved = events.index("save:" + new["access_token"][-12:])
    first_use = events.index("use:" + new["access_token"][-12:])
    assert saved < first_use, events


def test_two_clients_share_one_token_set_and_refresh_once(x_info: dict[str, str], x_admin: Admin) -> None:
    box = pkce_box(x_info)
    first, second = make_x_client(x_info, box=box), make_x_client(x_info, box=box)
    read_all(first, "organisation")
    read_all(second, "organisation")
    requests.post(f"{x_admin.base}/__admin/expire_tokens", timeout=5)
    read_all(first, "organisation")
    read_all(second, "organisation")  # finds the rotated set in the box instead of spending the old token
    assert first.auth.refreshes + second.auth.refreshes == 1
    assert len(box.saved) == 2  # the sign-in and one refresh


def test_revoked_grant_is_an_authentication_error_telling_to_reconnect(x_info: dict[str, str], x_admin: Admin) -> None:
    box = pkce_box(x_info)
    client = make_x_client(x_info, box=box)
    read_all(client, "organisation")
    requests.post(f"{x_admin.base}/__admin/revoke", timeout=5)
    with pytest.raises(AuthenticationError) as err:
        read_all(client, "invoices", full=True)
    assert "Reconnect" in err.value.user_text()
    assert box.secret["refresh_token"] not in err.value.user_text()


def test_loopback_listener_refuses_a_wrong_state() -> None:
    listener = LoopbackListener("expected-state")
    try:
        r = requests.get(f"{listener.redirect_uri}?code=abc&state=forged", timeout=5)
        assert r.status_code == 400
        with pytest.raises(AuthenticationError):
            listener.wait(2)
    finally:
        listener.close()


def test_client_credentials_with_a_wrong_secret(x_info: dict[str, str]) -> None:
    client = make_x_client({**x_info, "client_secret": "not-the-secret-123"}, tenant_id="t")
    steps = client.check()
    assert [s.step for s in steps] == ["reachability", "credentials"] and not steps[-1].ok
    assert "not-the-secret-123" not in steps[-1].message


def test_check_reports_a_tenant_this_sign_in_cannot_reach(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info, tenant_id="11111111-2222-3333-4444-555555555555")
    steps = client.check()
    assert steps[-1].step == "tenant" and not steps[-1].ok


def test_check_reports_missing_scopes(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info, scopes=("accounting.settings",))
    steps = client.check()
    assert steps[-1].step == "scopes" and not steps[-1].ok


# ------------------------------------------------------------------------------------------------------ writes
def source_invoice(number: str) -> Invoice:
    return Invoice(
        System.ACCESSPLANIT,
        "5531",
        number,
        "Jane Smith",
        date(2026, 10, 14),
        date(2026, 11, 13),
        "PO-9",
        "GBP",
        Decimal("100.10"),
        Decimal("20.01"),
        Decimal("120.11"),
        Decimal(0),
        Decimal("120.11"),
        InvoiceState.OPEN,
    )


LINES = (Line("Course A", Decimal("50.05"), Decimal("10.01")), Line("Course B", Decimal("50.05"), Decimal("10.00")))


def test_create_invoice_is_idempotent_and_totals_agree(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info)
    created = client.create_invoice(
        source_invoice("AP-1"), LINES, idempotency_key="push-1", account_code="200", tax_type="OUTPUT2"
    )
    assert isinstance(created, Invoice)
    assert (created.net, created.tax, created.total) == (Decimal("100.10"), Decimal("20.01"), Decimal("120.11"))
    assert created.po_number == "PO-9" and created.due_date == date(2026, 11, 13)
    again = client.create_invoice(
        source_invoice("AP-1"), LINES, idempotency_key="push-1", account_code="200", tax_type="OUTPUT2"
    )
    assert isinstance(again, Invoice) and again.id == created.id
    puts = api_calls(x_admin, "Invoices", "PUT")
    assert [p["idempotency_key"] for p in puts] == ["push-1", "push-1"]
    assert parse_qs(puts[0]["query"])["summarizeErrors"] == ["false"]
    found = client.find_invoice("AP-1")
    assert isinstance(found, Invoice) and found.id == created.id
    assert client.find_invoice("NO-SUCH") is None
    with pytest.raises(RejectedError) as err:  # a new key, same number: Xero's uniqueness check
        client.create_invoice(
            source_invoice("AP-1"), LINES, idempotency_key="push-2", account_code="200", tax_type="OUTPUT2"
        )
    assert any("unique" in d for d in err.value.details)


def test_update_invoice_reference_and_due_date(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info)
    inv_id = "00000000-0000-4000-8000-000000000007"
    updated = client.update_invoice(inv_id, po_number="PO-X", due_date=date(2026, 12, 24), idempotency_key="u-1")
    assert isinstance(updated, Invoice) and updated.po_number == "PO-X" and updated.due_date == date(2026, 12, 24)


def test_payment_and_refund_are_created_and_found(x_info: dict[str, str], x_admin: Admin) -> None:
    client = make_x_client(x_info)
    inv_id = "00000000-0000-4000-8000-000000000005"
    pay = client.create_payment(
        invoice_id=inv_id,
        invoice_number="INV-5",
        direction=Direction.PAYMENT,
        amount=Decimal("100.00"),
        day=date(2026, 10, 20),
        account_code="090",
        reference="AP-88",
        currency="GBP",
        contact="Acme Ltd",
        idempotency_key="pay-1",
    )
    assert isinstance(pay, Payment) and pay.invoice_number == "INV-5" and pay.amount == Decimal("100.00")
    assert pay.method == "090" and pay.direction is Direction.PAYMENT
    refund = client.create_payment(
        invoice_id=inv_id,
        invoice_number="INV-5",
        direction=Direction.REFUND,
        amount=Decimal("40.00"),
        day=date(2026, 10, 25),
        account_code="090",
        reference="AP-89",
        currency="GBP",
        contact="Acme Ltd",
        idempotency_key="ref-1",
    )
    assert isinstance(refund, Payment) and refund.direction is Direction.REFUND
    assert refund.invoice_number == "INV-5" and refund.credit_note_id
    keys = [r["idempotency_key"] for r in x_admin.requests() if r["method"] == "PUT"]
    assert keys == ["pay-1", "ref-1:credit-note", "ref-1:refund-payment"]
    assert client.find_payment(inv_id, Decimal("100.00"), date(2026, 10, 20), "AP-88", Direction.PAYMENT) is not None
    assert client.find_payment(inv_id, Decimal("99.00"), date(2026, 10, 20), "AP-88", Direction.PAYMENT) is None
    found = client.find_payment(inv_id, Decimal("40.00"), date(2026, 10, 25), "AP-89", Direction.REFUND)
    assert found is not None and found.id == refund.id
    # the refund reads back through the streams as a refund on INV-5
    fresh = make_x_client(x_info)
    notes = [r for p in read_all(fresh, "credit_notes", full=True) for r in p.records]
    assert any(isinstance(n, CreditNote) and n.reference == "INV-5" for n in notes)
    payments = [r for p in read_all(fresh, "payments", full=True) for r in p.records]
    refunds = [p for p in payments if isinstance(p, Payment) and p.direction is Direction.REFUND]
    assert [(r.invoice_number, r.amount) for r in refunds] == [("INV-5", Decimal("40.00"))]


def test_refund_payments_of_credit_notes_not_read_this_run_are_looked_up(
    x_info: dict[str, str], x_admin: Admin
) -> None:
    writer = make_x_client(x_info)
    writer.create_payment(
        invoice_id="00000000-0000-4000-8000-000000000009",
        invoice_number="INV-9",
        direction=Direction.PAYMENT,
        amount=Decimal("50.00"),
        day=date(2026, 10, 20),
        account_code="090",
        reference="P",
        currency="GBP",
        contact="Acme Ltd",
        idempotency_key="p-9",
    )
    writer.create_payment(
        invoice_id="00000000-0000-4000-8000-000000000009",
        invoice_number="INV-9",
        direction=Direction.REFUND,
        amount=Decimal("10.00"),
        day=date(2026, 10, 21),
        account_code="090",
        reference="R",
        currency="GBP",
        contact="Acme Ltd",
        idempotency_key="r-9",
    )
    reader = make_x_client(x_info)  # an incremental run that did not read credit notes
    x_admin.reset()
    payments = [r for p in read_all(reader, "payments", full=True) for r in p.records]
    refunds = [p for p in payments if isinstance(p, Payment) and p.direction is Direction.REFUND]
    assert [r.invoice_number for r in refunds] == ["INV-9"]
    assert len(api_calls(x_admin, "CreditNotes")) == 1


def test_a_rejected_payment_carries_xero_messages(x_info: dict[str, str]) -> None:
    client = make_x_client(x_info)
    with pytest.raises(RejectedError) as err:
        client.create_payment(
            invoice_id="00000000-0000-4000-8000-000000000001",
            invoice_number="INV-1",
            direction=Direction.PAYMENT,
            amount=Decimal("9999.00"),
            day=date(2026, 10, 20),
            account_code="090",
            reference="X",
            currency="GBP",
            contact="Acme Ltd",
            idempotency_key="too-much",
        )
    assert err.value.details and err.value.system == "xero"

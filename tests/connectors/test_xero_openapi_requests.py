"""Every request the Xero connector sends, and the emulator's answer to it, validated against Xero's own OpenAPI
files: a full read of every stream, an incremental read (If-Modified-Since), the connection check, and every write the
push service uses (create invoice, update PO number and due date, payment, refund via credit note, the read-backs).

Only the OAuth token endpoint is not validated (and the 401 answer to the deliberately unauthenticated reachability
probe, a status the identity spec does not list): it is in neither of Xero's OpenAPI files (identity.xero.com's
`/connect/token` is documented in prose only); the test asserts it is the only path left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from xero_spec import REAL_API, REAL_ROOT, accounting_spec, identity_spec, validate_exchange

from app.connectors.http import HttpClient, HttpConfig, Pacer, PacerConfig, make_session
from app.connectors.xero.client import XeroClient, XeroConfig
from app.connectors.xero.profile import XERO
from app.domain.progress import CancelToken
from app.domain.records import Invoice, Line, Payment
from app.domain.status import Direction, InvoiceState, System
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes

pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    sb = start_sandboxes(SandboxOptions(seed=3, invoices=80, month="2026-10"))
    yield sb
    sb.stop()


def _client(sb: Sandboxes, seen: list[requests.Response]) -> XeroClient:
    session = make_session()
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    info = sb.info["xero"]
    config = XeroConfig(
        url=info["url"],
        identity_url=info["identity_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        page_size=25,
    )
    http = HttpClient(XERO, config=HttpConfig(), pacer=Pacer(PacerConfig.unlimited()), session=session)
    return XeroClient(config, http=http)


def test_every_request_the_connector_sends_matches_the_spec(sandboxes: Sandboxes) -> None:
    seen: list[requests.Response] = []
    client = _client(sandboxes, seen)
    assert all(step.ok for step in client.check())
    cancel = CancelToken()
    cursors: dict[str, Any] = {}
    records: dict[str, list[Any]] = {}
    for stream in client.streams():
        for page in client.read(stream, None, full=True, cancel=cancel):
            cursors[stream] = page.cursor
            records.setdefault(stream, []).extend(page.records)
    for stream in client.streams():  # incremental: If-Modified-Since from the saved cursors
        list(client.read(stream, cursors.get(stream), full=False, cancel=cancel))

    invoices = [r for r in records["invoices"] if isinstance(r, Invoice)]
    open_invoice = next(i for i in invoices if i.state is InvoiceState.OPEN and i.due > 10)
    paid_invoice = next(i for i in invoices if i.state is InvoiceState.PAID)
    assert client.find_invoice(open_invoice.number) is not None

    new = replace(open_invoice, system=System.ACCESSPLANIT, id="ap-1", number="SPEC-0001", po_number="PO-SPEC")
    lines = (Line("Course place", Decimal("100.00"), Decimal("20.00")), Line("Manual", Decimal("15.50"), Decimal("0")))
    created = client.create_invoice(new, lines, idempotency_key="spec-create-1", account_code="200", tax_type="OUTPUT2")
    assert isinstance(created, Invoice) and created.total == Decimal("135.50")
    client.update_invoice(created.id, po_number="PO-CHANGED", idempotency_key="spec-update-1")
    client.update_invoice(created.id, due_date=date(2026, 11, 30), idempotency_key="spec-update-2")
    paid = client.create_payment(
        invoice_id=created.id,
        invoice_number=created.number,
        direction=Direction.PAYMENT,
        amount=Decimal("35.50"),
        day=date(2026, 10, 20),
        account_code="090",
        reference="SPEC-PAY",
        currency="GBP",
        contact=created.contact,
        idempotency_key="spec-pay-1",
    )
    assert isinstance(paid, Payment)
    assert client.find_payment(created.id, Decimal("35.50"), date(2026, 10, 20), "SPEC-PAY", Direction.PAYMENT)
    refund = client.create_payment(
        invoice_id=paid_invoice.id,
        invoice_number=paid_invoice.number,
        direction=Direction.REFUND,
        amount=Decimal("5.00"),
        day=date(2026, 10, 25),
        account_code="090",
        reference="SPEC-REFUND",
        currency=paid_invoice.currency,
        contact=paid_invoice.contact,
        idempotency_key="spec-refund-1",
    )
    assert isinstance(refund, Payment) and refund.direction is Direction.REFUND
    assert client.find_payment(paid_invoice.id, Decimal("5.00"), date(2026, 10, 25), "SPEC-REFUND", Direction.REFUND)

    root = sandboxes.info["xero"]["identity_url"].rstrip("/")
    api = sandboxes.info["xero"]["url"].rstrip("/")
    validated, left_out = [], set()
    for response in seen:
        url = str(response.request.url)
        if url.startswith(api):
            validate_exchange(accounting_spec(), response, api, REAL_API)
        elif url.startswith(root + "/connections"):
            # The reachability probe of "Test connection" goes out without a token on purpose and gets 401, which
            # the identity spec does not list for /Connections: its request is validated, its answer is not.
            probe = "Authorization" not in response.request.headers
            assert not probe or response.status_code == 401
            validate_exchange(
                identity_spec(), response, root + "/connections", REAL_ROOT + "/Connections", check_response=not probe
            )
        else:
            left_out.add(url.split("?")[0].removeprefix(root))
            continue
        validated.append(f"{response.request.method} {url.removeprefix(root).split('?')[0]}")
    assert left_out == {"/connect/token"}
    kinds = {v.split("/api.xro/2.0/")[-1].split("/")[0] for v in validated}
    assert {"Organisation", "Accounts", "TaxRates", "Contacts", "CreditNotes", "Invoices", "Payments"} <= kinds
    methods = {v.split()[0] for v in validated}
    assert {"GET", "PUT", "POST"} <= methods
    assert any("If-Modified-Since" in r.request.headers for r in seen)

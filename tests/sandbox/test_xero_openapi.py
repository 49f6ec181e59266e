"""Every response shape the Xero emulator gives, and representative requests, validated against Xero's own
OpenAPI files (`tests/specs`, loaded once per module with openapi-core). The emulator runs on 127.0.0.1;
its base URL is rewritten to the spec's server before validation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from xero_spec import accounting_spec, identity_spec, validate_exchange

from app.sandbox.common import Faults, Server, dumps, loads, serve
from app.sandbox.xero import XeroApp

CLIENT_ID, SECRET = "spec-client", "spec-secret"
# openapi-core cannot check OAuth2 security schemes and says so on every request; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")
API = "/api.xro/2.0"


@pytest.fixture(scope="module")
def accounting() -> OpenAPI:
    return accounting_spec()


@pytest.fixture(scope="module")
def identity() -> OpenAPI:
    return identity_spec()


class Client:
    def __init__(self, server: Server, app: XeroApp) -> None:
        self.server = server
        r = requests.post(
            server.url + "/connect/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, SECRET),
            timeout=5,
        )
        self.token = r.json()["access_token"]
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "xero-tenant-id": app.tenant_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        data = None if body is None else dumps(body)
        return requests.request(
            method, self.server.url + API + path, params=params or None, data=data, headers=self.headers, timeout=10
        )


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    app = XeroApp(None, CLIENT_ID, SECRET, Faults("limit_minute=100000,limit_day=100000"))
    server = serve(app)
    yield Client(server, app)
    server.stop()


def validate(spec: OpenAPI, response: requests.Response, base: str, real: str, check_request: bool = True) -> None:
    """Validate the response (and, when asked, the request) as if it had gone to the real host."""
    validate_exchange(spec, response, base, real, check_request=check_request)


def check(spec: OpenAPI, client: Client, response: requests.Response, status: int = 200, **kw: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    validate(spec, response, client.server.url + API, "https://api.xero.com/api.xro/2.0", **kw)
    return dict(loads(response.content))


def invoice_body(number: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"Name": "Spec Client Ltd"},
        "Date": "2026-10-01",
        "DueDate": "2026-10-31",
        "Status": "AUTHORISED",
        "LineItems": [
            {
                "Description": "Course",
                "Quantity": 2,
                "UnitAmount": Decimal("49.95"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "DiscountRate": Decimal("10"),
            }
        ],
    }
    body.update(over)
    return body


def test_reference_endpoints_match_the_spec(accounting: OpenAPI, client: Client) -> None:
    org = check(accounting, client, client.call("GET", "/Organisation"))
    assert org["Organisations"][0]["BaseCurrency"] == "GBP"
    check(accounting, client, client.call("GET", "/Accounts", where='Type=="BANK"', order="Code DESC"))
    check(accounting, client, client.call("GET", "/TaxRates"))


def test_invoice_responses_match_the_spec(accounting: OpenAPI, client: Client) -> None:
    created = check(
        accounting, client, client.call("PUT", "/Invoices", {"Invoices": [invoice_body("S-1")]}, unitdp="4")
    )
    inv = created["Invoices"][0]
    assert inv["Total"] == Decimal("107.89")  # 2 x 49.95 less 10% = 89.91, VAT 17.98
    check(accounting, client, client.call("PUT", "/Invoices", {"Invoices": [invoice_body("S-1")]}), status=400)
    mixed = {"Invoices": [invoice_body("S-2"), invoice_body("S-1")]}
    check(accounting, client, client.call("PUT", "/Invoices", mixed, summarizeErrors="false"))
    check(
        accounting,
        client,
        client.call("POST", "/Invoices", {"Invoices": [{"InvoiceNumber": "S-2", "Reference": "PO-7"}]}),
    )
    check(
        accounting,
        client,
        client.call("POST", f"/Invoices/{inv['InvoiceID']}", {"Invoices": [{"DueDate": "2026-11-30"}]}),
    )
    check(accounting, client, client.call("GET", f"/Invoices/{inv['InvoiceID']}", unitdp="4"))
    listed = check(
        accounting,
        client,
        client.call(
            "GET",
            "/Invoices",
            page="1",
            pageSize="10",
            order="UpdatedDateUTC ASC",
            where='Type=="ACCREC"',
            Statuses="AUTHORISED,PAID",
            summaryOnly="false",
        ),
    )
    assert listed["pagination"]["itemCount"] == 2
    check(accounting, client, client.call("GET", "/Invoices", page="1", summaryOnly="true"))
    check(accounting, client, client.call("GET", "/Invoices", IDs=inv["InvoiceID"], InvoiceNumbers="S-1"))


def test_payment_and_credit_note_responses_match_the_spec(accounting: OpenAPI, client: Client) -> None:
    inv = check(accounting, client, client.call("PUT", "/Invoices", {"Invoices": [invoice_body("S-10")]}))["Invoices"][
        0
    ]
    pay_body = {
        "Payments": [
            {
                "Invoice": {"InvoiceID": inv["InvoiceID"]},
                "Account": {"Code": "090"},
                "Date": "2026-10-10",
                "Amount": Decimal("10.00"),
                "Reference": "BACS",
            }
        ]
    }
    payment = check(accounting, client, client.call("PUT", "/Payments", pay_body))["Payments"][0]
    check(accounting, client, client.call("GET", "/Payments", page="1", where='PaymentType=="ACCRECPAYMENT"'))
    check(accounting, client, client.call("GET", f"/Payments/{payment['PaymentID']}"))
    check(accounting, client, client.call("GET", f"/Invoices/{inv['InvoiceID']}"))
    # The spec's schema is the bare PaymentDelete; its example wraps it (both are accepted, see test_xero).
    check(accounting, client, client.call("POST", f"/Payments/{payment['PaymentID']}", {"Status": "DELETED"}))
    over = {"Payments": [{**pay_body["Payments"][0], "Amount": Decimal("100000.00")}]}
    check(accounting, client, client.call("PUT", "/Payments", over), status=400)
    check(accounting, client, client.call("PUT", "/Payments", over, summarizeErrors="false"))

    cn_body = {
        "CreditNotes": [
            {
                "Type": "ACCRECCREDIT",
                "Contact": {"Name": "Spec Client Ltd"},
                "Date": "2026-10-11",
                "Status": "AUTHORISED",
                "LineItems": [
                    {
                        "Description": "Credit",
                        "Quantity": 1,
                        "UnitAmount": Decimal("20.00"),
                        "AccountCode": "200",
                        "TaxType": "OUTPUT2",
                    }
                ],
            }
        ]
    }
    cn = check(accounting, client, client.call("PUT", "/CreditNotes", cn_body))["CreditNotes"][0]
    alloc = {
        "Allocations": [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": Decimal("5.00"), "Date": "2026-10-12"}]
    }
    check(accounting, client, client.call("PUT", f"/CreditNotes/{cn['CreditNoteID']}/Allocations", alloc))
    refund = {
        "Payments": [
            {
                "CreditNote": {"CreditNoteID": cn["CreditNoteID"]},
                "Account": {"Code": "090"},
                "Date": "2026-10-13",
                "Amount": Decimal("5.00"),
            }
        ]
    }
    check(accounting, client, client.call("PUT", "/Payments", refund))
    check(accounting, client, client.call("GET", f"/CreditNotes/{cn['CreditNoteID']}"))
    check(accounting, client, client.call("GET", "/CreditNotes", page="1"))
    check(accounting, client, client.call("GET", f"/Invoices/{inv['InvoiceID']}"))


def test_contact_responses_match_the_spec(accounting: OpenAPI, client: Client) -> None:
    made = check(
        accounting,
        client,
        client.call("PUT", "/Contacts", {"Contacts": [{"Name": "Spec Contact", "EmailAddress": "s@x.test"}]}),
    )
    cid = made["Contacts"][0]["ContactID"]
    check(accounting, client, client.call("GET", "/Contacts", page="1", where='Name.Contains("Spec")'))
    check(accounting, client, client.call("GET", f"/Contacts/{cid}"))


def test_fixture_records_round_trip_through_the_spec(accounting: OpenAPI, client: Client) -> None:
    # What /__admin/state writes is what a list returns; the list must still be valid after writes of every kind.
    state = loads(requests.get(client.server.url + "/__admin/state", timeout=5).content)
    assert state["Invoices"]["Invoices"]
    check(accounting, client, client.call("GET", "/Invoices", page="1", pageSize="1000"))
    check(accounting, client, client.call("GET", "/Payments", page="1", pageSize="1000"))


def test_connections_match_the_identity_spec(identity: OpenAPI, client: Client) -> None:
    r = requests.get(client.server.url + "/connections", headers={"Authorization": f"Bearer {client.token}"}, timeout=5)
    assert r.status_code == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", r.json()[0]["createdDateUtc"])
    # The identity spec names the path /Connections; the live service answers /connections [docs].
    prepared = r.request.copy()
    prepared.url = str(prepared.url).replace(client.server.url + "/connections", "https://api.xero.com/Connections")
    identity.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(r))


def test_the_validator_catches_a_wrong_shape(accounting: OpenAPI, client: Client) -> None:
    """The checks above can fail: a response with a wrong type is refused."""
    r = client.call("GET", "/Organisation")
    r._content = dumps({"Organisations": [{"BaseCurrency": 123}]})
    with pytest.raises(OpenAPIError):
        validate(accounting, r, client.server.url + API, "https://api.xero.com/api.xro/2.0", check_request=False)

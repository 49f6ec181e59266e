"""The Xero emulator over real HTTP on 127.0.0.1: identity flows, every business rule, error shapes, rate limits,
idempotency and list semantics. Nothing is mocked; time is a clock object handed to the app, so token expiry
and the refresh grace period are tested without sleeping."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.sandbox.common import Faults, Server, dumps, loads, serve
from app.sandbox.xero import XeroApp
from app.sandbox.xero.where import QueryError, compile_order, compile_where
from app.sandbox.xero.wire import date_to_wire, ms_to_wire, parse_instant, wire_date

CLIENT_ID, SECRET = "sandbox-client", "sandbox-secret"
REDIRECT = "http://localhost:53682/callback"
SCOPES = "openid offline_access accounting.transactions accounting.contacts accounting.settings"
API = "/api.xro/2.0"


class Clock:
    """Wall time that a test can move forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Xero:
    """A small test client: client-credentials token, tenant header, JSON with Decimals both ways."""

    def __init__(self, server: Server, app: XeroApp, clock: Clock) -> None:
        self.server, self.app, self.clock = server, app, clock
        self.url = server.url
        self.token = self.client_credentials()["access_token"]
        self.tenant = app.tenant_id

    def client_credentials(self, scope: str | None = None) -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        r = requests.post(self.url + "/connect/token", data=data, auth=(CLIENT_ID, SECRET), timeout=5)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "xero-tenant-id": self.tenant,
            "Accept": "application/json",
            **extra,
        }

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        return requests.get(self.url + API + path, params=params, headers=headers or self.headers(), timeout=10)

    def send(self, method: str, path: str, body: Any, params: dict[str, str] | None = None, **hdrs: str):
        h = self.headers(**{"Content-Type": "application/json", **hdrs})
        return requests.request(method, self.url + API + path, data=dumps(body), params=params, headers=h, timeout=10)

    def put(self, path: str, body: Any, params: dict[str, str] | None = None, **hdrs: str) -> requests.Response:
        return self.send("PUT", path, body, params, **hdrs)

    def post(self, path: str, body: Any, params: dict[str, str] | None = None, **hdrs: str) -> requests.Response:
        return self.send("POST", path, body, params, **hdrs)

    def ok(self, response: requests.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return dict(loads(response.content))

    def invoice(self, key: str) -> dict[str, Any]:
        return dict(self.ok(self.get(f"/Invoices/{key}"))["Invoices"][0])

    def create_invoice(self, **over: Any) -> dict[str, Any]:
        return dict(self.ok(self.put("/Invoices", {"Invoices": [invoice_body(**over)]}))["Invoices"][0])

    def pay(self, invoice_id: str, amount: str, **over: Any) -> requests.Response:
        body = {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "090"}, "Date": "2026-10-20"}
        body.update({"Amount": Decimal(amount), **over})
        return self.put("/Payments", {"Payments": [body]})

    def faults(self, spec: str) -> None:
        r = requests.post(self.url + "/__admin/faults", json={"spec": spec}, timeout=5)
        assert r.status_code == 200, r.text

    def admin(self, name: str, method: str = "GET") -> Any:
        r = requests.request(method, self.url + f"/__admin/{name}", timeout=5)
        assert r.status_code == 200, r.text
        return loads(r.content)


def invoice_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": "Northwind Training"},
        "Date": "2026-10-01",
        "DueDate": "2026-10-31",
        "Status": "AUTHORISED",
        "Reference": "PO-1",
        "LineItems": [
            {
                "Description": "Course place",
                "Quantity": 1,
                "UnitAmount": Decimal("100.00"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            }
        ],
    }
    body.update(over)
    return body


def errors_of(response: requests.Response) -> list[str]:
    """The validation messages of a 400 ValidationException (spec `Error` shape)."""
    assert response.status_code == 400, response.text
    body = loads(response.content)
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10, body
    return [m["Message"] for element in body["Elements"] for m in element["ValidationErrors"]]


def wire_invoice(i: int, **over: Any) -> dict[str, Any]:
    """An invoice in Xero wire format for fixtures."""
    record: dict[str, Any] = {
        "Type": "ACCREC",
        "InvoiceID": f"00000000-0000-4000-8000-{i:012d}",
        "InvoiceNumber": f"INV-{i:05d}",
        "Reference": f"PO-{i}",
        "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Fixture Client"},
        "Date": ms_to_wire(1_790_812_800_000 + (i % 28) * 86_400_000),
        "DueDate": ms_to_wire(1_793_404_800_000),
        "Status": "AUTHORISED" if i % 3 else "PAID",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "LineItemID": f"10000000-0000-4000-8000-{i:012d}",
                "Description": "Place",
                "Quantity": Decimal("1.0000"),
                "UnitAmount": Decimal("10.1234"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "TaxAmount": Decimal("2.02"),
                "LineAmount": Decimal("10.12"),
            }
        ],
        "SubTotal": Decimal("10.12"),
        "TotalTax": Decimal("2.02"),
        "Total": Decimal("12.14"),
        "AmountDue": Decimal("12.14") if i % 3 else Decimal("0.00"),
        "AmountPaid": Decimal("0.00") if i % 3 else Decimal("12.14"),
        "AmountCredited": Decimal("0.00"),
        "CurrencyCode": "GBP",
        "UpdatedDateUTC": ms_to_wire(1_791_000_000_000 + i * 1000),
    }
    record.update(over)
    return record


@pytest.fixture
def start_xero() -> Iterator[Callable[..., Xero]]:
    servers: list[Server] = []

    def start(fixtures: dict[str, Any] | None = None, faults: str = "", **kwargs: Any) -> Xero:
        clock = Clock()
        app = XeroApp(fixtures, CLIENT_ID, SECRET, Faults(faults), clock=clock, **kwargs)
        server = serve(app)
        servers.append(server)
        return Xero(server, app, clock)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def xero(start_xero: Callable[..., Xero]) -> Xero:
    return start_xero()


# ---------------------------------------------------------------------------------------------- identity


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(url: str, challenge: str, scope: str = SCOPES, **over: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-42",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **over,
    }
    return requests.get(url + "/connect/authorize", params=params, allow_redirects=False, timeout=5)


def code_from(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["st-42"]
    return query["code"][0]


def exchange(url: str, code: str, verifier: str) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return requests.post(url + "/connect/token", data=data, timeout=5)


def refresh(url: str, token: str, **extra: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": token, **extra}
    return requests.post(url + "/connect/token", data=data, timeout=5)


def login(url: str, scope: str = SCOPES) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    r = exchange(url, code_from(authorize(url, challenge, scope)), verifier)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_pkce_flow_gives_tokens_and_the_connected_tenant(xero: Xero) -> None:
    verifier, challenge = pkce_pair()
    r = authorize(xero.url, challenge)
    assert r.headers["Location"].startswith(REDIRECT + "?")
    tokens = exchange(xero.url, code_from(r), verifier).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 1800
    assert tokens["refresh_token"] and tokens["id_token"] and "accounting.transactions" in tokens["scope"]
    conns = requests.get(xero.url + "/connections", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert conns.status_code == 200
    assert [(c["tenantId"], c["tenantType"], c["tenantName"]) for c in conns.json()] == [
        (xero.tenant, "ORGANISATION", "Demo Training Ltd")
    ]
    # /connections carries only the app-wide limit header [docs].
    assert "X-AppMinLimit-Remaining" in conns.headers and "X-MinLimit-Remaining" not in conns.headers
    h = {
        "Authorization": "Bearer " + tokens["access_token"],
        "xero-tenant-id": xero.tenant,
        "Accept": "application/json",
    }
    assert requests.get(xero.url + API + "/Organisation", headers=h).status_code == 200


def test_wrong_verifier_and_reused_code_are_invalid_grant(xero: Xero) -> None:
    verifier, challenge = pkce_pair()
    code = code_from(authorize(xero.url, challenge))
    wrong = exchange(xero.url, code, pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(xero.url, code, verifier).status_code == 200
    again = exchange(xero.url, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_authorize_refuses_bad_requests(xero: Xero) -> None:
    _v, challenge = pkce_pair()
    assert authorize(xero.url, challenge, client_id="someone-else").status_code == 400
    assert authorize(xero.url, challenge, redirect_uri="http://evil.example/cb").status_code == 400
    plain = authorize(xero.url, challenge, code_challenge_method="plain")
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["Location"]
    token = authorize(xero.url, challenge, response_type="token")
    assert "error=unsupported_response_type" in token.headers["Location"]
    scope = authorize(xero.url, challenge, scope="accounting.everything")
    assert "error=invalid_scope" in scope.headers["Location"] and "state=st-42" in scope.headers["Location"]


def test_no_offline_access_means_no_refresh_token(xero: Xero) -> None:
    tokens = login(xero.url, "accounting.transactions accounting.settings")
    assert "refresh_token" not in tokens and "id_token" not in tokens


def test_refresh_rotates_and_grace_reuse_returns_the_same_pair(xero: Xero) -> None:
    first = login(xero.url)
    new = refresh(xero.url, first["refresh_token"])
    assert new.status_code == 200
    pair = new.json()
    assert pair["refresh_token"] != first["refresh_token"]
    xero.clock.advance(29 * 60)  # within the 30-minute grace
    again = refresh(xero.url, first["refresh_token"])
    assert again.status_code == 200
    assert (again.json()["access_token"], again.json()["refresh_token"]) == (
        pair["access_token"],
        pair["refresh_token"],
    )
    xero.clock.advance(2 * 60)  # grace over
    late = refresh(xero.url, first["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert refresh(xero.url, pair["refresh_token"]).status_code == 200  # the new one still works


def test_old_refresh_token_dies_once_its_successor_is_used(xero: Xero) -> None:
    first = login(xero.url)
    second = refresh(xero.url, first["refresh_token"]).json()
    assert refresh(xero.url, second["refresh_token"]).status_code == 200
    stale = refresh(xero.url, first["refresh_token"])
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def test_two_different_refreshes_of_one_token_give_invalid_grant(xero: Xero) -> None:
    first = login(xero.url)
    assert refresh(xero.url, first["refresh_token"]).status_code == 200
    other = refresh(xero.url, first["refresh_token"], scope="accounting.transactions")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


def test_unused_refresh_token_expires_after_60_days(xero: Xero) -> None:
    tokens = login(xero.url)
    xero.clock.advance(60 * 86400 + 1)
    r = refresh(xero.url, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_access_token_expires_with_a_json_401(start_xero: Callable[..., Xero]) -> None:
    xero = start_xero(faults="token_ttl=60")
    tokens = login(xero.url)
    assert tokens["expires_in"] == 60
    xero.token = tokens["access_token"]
    assert xero.get("/Organisation").status_code == 200
    xero.clock.advance(61)
    r = xero.get("/Organisation")
    assert r.status_code == 401
    assert r.json()["Title"] == "Unauthorized" and r.json()["Detail"].startswith("TokenExpired")
    assert "X-MinLimit-Remaining" not in r.headers
    renewed = refresh(xero.url, tokens["refresh_token"]).json()
    xero.token = renewed["access_token"]
    assert xero.get("/Organisation").status_code == 200


def test_client_credentials_is_a_custom_connection(xero: Xero) -> None:
    tokens = xero.client_credentials()
    assert "refresh_token" not in tokens and tokens["expires_in"] == 1800
    conns = requests.get(xero.url + "/connections", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert [c["tenantId"] for c in conns.json()] == [xero.tenant]
    bad = requests.post(
        xero.url + "/connect/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong"), timeout=5
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    no_basic = requests.post(
        xero.url + "/connect/token", data={"grant_type": "client_credentials", "client_id": CLIENT_ID}, timeout=5
    )
    assert no_basic.status_code == 401


def test_revocation_ends_the_grant(xero: Xero) -> None:
    tokens = login(xero.url)
    r = requests.post(
        xero.url + "/connect/revocation", data={"token": tokens["refresh_token"], "client_id": CLIENT_ID}, timeout=5
    )
    assert r.status_code == 200
    assert refresh(xero.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    xero.token = tokens["access_token"]
    assert xero.get("/Organisation").status_code == 401


def test_admin_revoke_disconnect_and_expire(xero: Xero) -> None:
    tokens = login(xero.url)
    xero.admin("expire_tokens", "POST")
    assert xero.get("/Organisation").status_code == 401  # the fixture's token expired too
    xero.token = refresh(xero.url, tokens["refresh_token"]).json()["access_token"]
    assert xero.get("/Organisation").status_code == 200
    xero.admin("disconnect", "POST")
    r = xero.get("/Organisation")
    assert r.status_code == 403 and r.json()["Title"] == "Forbidden"
    assert requests.get(xero.url + "/connections", headers={"Authorization": "Bearer " + xero.token}).json() == []
    xero.admin("revoke", "POST")
    assert xero.get("/Organisation").status_code == 401


def test_deleting_the_connection_gives_403(xero: Xero) -> None:
    auth = {"Authorization": "Bearer " + xero.token}
    conn = requests.get(xero.url + "/connections", headers=auth).json()[0]
    assert requests.delete(xero.url + f"/connections/{conn['id']}", headers=auth).status_code == 204
    assert xero.get("/Invoices").status_code == 403


def test_missing_scope_is_403(xero: Xero) -> None:
    xero.token = xero.client_credentials("accounting.settings.read")["access_token"]
    assert xero.get("/Organisation").status_code == 200
    assert xero.get("/Invoices").status_code == 403
    assert xero.put("/Invoices", {"Invoices": [invoice_body()]}).status_code == 403


# ---------------------------------------------------------------------------------------------- access and shapes


def test_bad_token_wrong_tenant_and_accept(xero: Xero) -> None:
    r = requests.get(xero.url + API + "/Invoices", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.json()["Detail"] == "AuthenticationUnsuccessful"
    r = xero.get("/Invoices", headers={**xero.headers(), "Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    r = xero.get("/Invoices", headers={**xero.headers(), "xero-tenant-id": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 403 and r.json()["Status"] == 403
    r = xero.get("/Invoices", headers={k: v for k, v in xero.headers().items() if k != "xero-tenant-id"})
    assert r.status_code == 403
    r = xero.get("/Invoices", headers={**xero.headers(), "Accept": "*/*"})
    assert r.status_code == 406  # Xero would answer XML; we refuse loudly instead


def test_uk_defaults_for_reference_data(xero: Xero) -> None:
    org = xero.ok(xero.get("/Organisation"))["Organisations"][0]
    assert (org["BaseCurrency"], org["CountryCode"], org["Timezone"]) == ("GBP", "GB", "GMTSTANDARDTIME")
    assert org["OrganisationID"] == xero.tenant
    accounts = {a["Code"]: a for a in xero.ok(xero.get("/Accounts"))["Accounts"]}
    assert {"090", "091", "092", "093", "094", "095", "200"} <= set(accounts)
    assert all(accounts[c]["Type"] == "BANK" or accounts[c]["EnablePaymentsToAccount"] for c in ("090", "092", "095"))
    banks = xero.ok(xero.get("/Accounts", where='Type=="BANK"'))["Accounts"]
    assert {a["Code"] for a in banks} == {"090", "091", "093"}
    rates = {t["TaxType"]: t for t in xero.ok(xero.get("/TaxRates"))["TaxRates"]}
    assert rates["OUTPUT2"]["EffectiveRate"] == Decimal("20.0000")
    assert {"ZERORATEDOUTPUT", "NONE"} <= set(rates)


def test_envelope_dates_and_decimals(xero: Xero) -> None:
    r = xero.put("/Invoices", {"Invoices": [invoice_body()]})
    text = r.text
    assert '"AmountDue":120.00' in text and '"Quantity":1.0000' in text and '"CurrencyRate":1.000000' in text
    body = loads(r.content)
    assert body["Status"] == "OK" and body["ProviderName"] and body["Id"]
    assert body["DateTimeUTC"].startswith("/Date(") and "+" not in body["DateTimeUTC"]
    inv = body["Invoices"][0]
    assert inv["Date"] == "/Date(1790812800000+0000)/" and inv["DateString"] == "2026-10-01T00:00:00"
    assert inv["DueDateString"] == "2026-10-31T00:00:00" and inv["UpdatedDateUTCString"].endswith("Z")
    assert wire_date(inv["Date"]).isoformat() == "2026-10-01"


# ---------------------------------------------------------------------------------------------- invoices


def test_totals_use_per_line_tax_rounding(xero: Xero) -> None:
    lines = [
        {
            "Description": f"L{i}",
            "Quantity": 1,
            "UnitAmount": Decimal("10.03"),
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
        }
        for i in range(3)
    ]
    inv = xero.create_invoice(LineItems=lines)
    # 2.006 rounds to 2.01 per line: 6.03, where document-level rounding would give 6.02 [docs rounding guide].
    assert [line["TaxAmount"] for line in inv["LineItems"]] == [Decimal("2.01")] * 3
    assert (inv["SubTotal"], inv["TotalTax"], inv["Total"]) == (Decimal("30.09"), Decimal("6.03"), Decimal("36.12"))
    inclusive = xero.create_invoice(
        LineAmountTypes="Inclusive",
        LineItems=[
            {
                "Description": "Gross",
                "Quantity": 1,
                "UnitAmount": Decimal("120.00"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            }
        ],
    )
    assert (inclusive["SubTotal"], inclusive["TotalTax"], inclusive["Total"]) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("120.00"),
    )
    given = xero.create_invoice(
        LineItems=[
            {
                "Description": "Set tax",
                "Quantity": 1,
                "UnitAmount": Decimal("10.03"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "TaxAmount": Decimal("2.00"),
            }
        ]
    )
    assert given["TotalTax"] == Decimal("2.00")
    zero = xero.create_invoice(
        LineItems=[
            {
                "Description": "Zero",
                "Quantity": 2,
                "UnitAmount": Decimal("5"),
                "AccountCode": "200",
                "TaxType": "ZERORATEDOUTPUT",
            }
        ]
    )
    assert (zero["TotalTax"], zero["Total"], zero["AmountDue"]) == (Decimal("0.00"), Decimal("10.00"), Decimal("10.00"))
    bad_total = xero.put("/Invoices", {"Invoices": [invoice_body(Total=Decimal("999.00"))]})
    assert errors_of(bad_total) == ["The invoice total does not equal the sum of the lines"]


def test_unit_amounts_keep_four_places_only_with_unitdp(xero: Xero) -> None:
    line = {
        "Description": "Fine price",
        "Quantity": 3,
        "UnitAmount": Decimal("1.2345"),
        "AccountCode": "200",
        "TaxType": "NONE",
    }
    four = xero.ok(xero.put("/Invoices", {"Invoices": [invoice_body(LineItems=[line])]}, {"unitdp": "4"}))
    inv = four["Invoices"][0]
    assert inv["LineItems"][0]["UnitAmount"] == Decimal("1.2345") and inv["Total"] == Decimal("3.70")
    assert xero.invoice(inv["InvoiceID"])["LineItems"][0]["UnitAmount"] == Decimal("1.23")
    assert '"UnitAmount":1.2345' in xero.get(f"/Invoices/{inv['InvoiceID']}", unitdp=4).text
    two = xero.create_invoice(LineItems=[line])  # without unitdp=4 the price is rounded on the way in [docs]
    assert two["LineItems"][0]["UnitAmount"] == Decimal("1.23") and two["Total"] == Decimal("3.69")


def test_numbers_are_unique_and_auto_assigned(xero: Xero) -> None:
    first = xero.create_invoice()
    second = xero.create_invoice()
    assert (first["InvoiceNumber"], second["InvoiceNumber"]) == ("INV-0001", "INV-0002")
    named = xero.create_invoice(InvoiceNumber="AP-1042")
    assert named["InvoiceNumber"] == "AP-1042"
    dup = xero.put("/Invoices", {"Invoices": [invoice_body(InvoiceNumber="ap-1042 ")]})
    assert errors_of(dup) == ["Invoice # must be unique."]
    element = loads(dup.content)["Elements"][0]
    assert element["InvoiceNumber"] == "ap-1042 " and element["HasErrors"] is True  # the submitted element, echoed
    bill = xero.create_invoice(Type="ACCPAY", InvoiceNumber="AP-1042")  # bills may repeat numbers [docs]
    assert bill["Type"] == "ACCPAY"
    assert xero.invoice("AP-1042")["InvoiceID"] == named["InvoiceID"]  # GET by number finds the sales invoice


def test_validation_messages(xero: Xero) -> None:
    no_contact = xero.put("/Invoices", {"Invoices": [invoice_body(Contact={})]})
    assert "identify the contact" in errors_of(no_contact)[0]
    bad_account = invoice_body(LineItems=[{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "999"}])
    assert errors_of(xero.put("/Invoices", {"Invoices": [bad_account]})) == [
        "Account code '999' is not a valid code for this document."
    ]
    bad_tax = invoice_body(
        LineItems=[{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200", "TaxType": "BOGUS"}]
    )
    assert "TaxType code 'BOGUS'" in errors_of(xero.put("/Invoices", {"Invoices": [bad_tax]}))[0]
    assert "valid Type" in errors_of(xero.put("/Invoices", {"Invoices": [invoice_body(Type="NOPE")]}))[0]
    paid = xero.put("/Invoices", {"Invoices": [invoice_body(Status="PAID")]})
    assert "cannot be created with Status PAID" in errors_of(paid)[0]
    r = requests.put(xero.url + API + "/Invoices", data=b"{not json", headers=xero.headers())
    assert r.status_code == 400 and r.json()["Type"] == "PostDataInvalidException"


def test_summarize_errors_false_gives_200_per_element_and_batches_are_not_atomic(xero: Xero) -> None:
    good, bad = invoice_body(InvoiceNumber="B-1"), invoice_body(InvoiceNumber="B-2", Contact={})
    r = xero.put("/Invoices", {"Invoices": [good, bad]}, {"summarizeErrors": "false"})
    assert r.status_code == 200
    first, second = loads(r.content)["Invoices"]
    assert (first["HasErrors"], first["StatusAttributeString"], first["InvoiceNumber"]) == (False, "OK", "B-1")
    assert second["HasErrors"] is True and second["StatusAttributeString"] == "ERROR"
    assert "identify the contact" in second["ValidationErrors"][0]["Message"]
    # Default summarizeErrors: 400 for the batch, yet the valid element was still created [docs].
    r = xero.put("/Invoices", {"Invoices": [invoice_body(InvoiceNumber="B-3"), bad]})
    assert r.status_code == 400 and len(loads(r.content)["Elements"]) == 1
    numbers = [i["InvoiceNumber"] for i in xero.admin("state")["Invoices"]["Invoices"]]
    assert numbers == ["B-1", "B-3"]


def test_post_creates_or_updates_and_omitted_lines_are_deleted(xero: Xero) -> None:
    lines = [
        {"Description": n, "Quantity": 1, "UnitAmount": Decimal("10"), "AccountCode": "200", "TaxType": "OUTPUT2"}
        for n in ("A", "B")
    ]
    inv = xero.create_invoice(InvoiceNumber="P-1", Status="DRAFT", LineItems=lines)
    keep = inv["LineItems"][0]
    body = {
        "InvoiceNumber": "P-1",
        "Reference": "PO-NEW",
        "LineItems": [
            {"LineItemID": keep["LineItemID"], "UnitAmount": Decimal("50")},
            {"Description": "C", "Quantity": 2, "UnitAmount": Decimal("5"), "AccountCode": "200", "TaxType": "NONE"},
        ],
    }
    updated = xero.ok(xero.post("/Invoices", {"Invoices": [body]}))["Invoices"][0]
    assert updated["InvoiceID"] == inv["InvoiceID"] and updated["Reference"] == "PO-NEW"
    assert [(line["Description"], line["LineAmount"]) for line in updated["LineItems"]] == [
        ("A", Decimal("50.00")),
        ("C", Decimal("10.00")),
    ]
    assert updated["LineItems"][0]["LineItemID"] == keep["LineItemID"]
    assert (updated["SubTotal"], updated["TotalTax"], updated["Total"]) == (
        Decimal("60.00"),
        Decimal("10.00"),
        Decimal("70.00"),
    )
    created = xero.ok(xero.post("/Invoices", {"Invoices": [invoice_body(InvoiceNumber="P-2")]}))["Invoices"][0]
    assert created["InvoiceNumber"] == "P-2" and created["InvoiceID"] != inv["InvoiceID"]
    by_path = xero.ok(xero.post(f"/Invoices/{inv['InvoiceID']}", {"DueDate": "2026-12-01"}))["Invoices"][0]
    assert by_path["DueDateString"] == "2026-12-01T00:00:00" and len(by_path["LineItems"]) == 2
    assert xero.post("/Invoices/00000000-0000-0000-0000-000000000000", {"Reference": "x"}).status_code == 404


def test_status_moves(xero: Xero) -> None:
    inv = xero.create_invoice(Status="DRAFT")
    for status in ("SUBMITTED", "AUTHORISED"):
        assert (
            xero.ok(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": status}))["Invoices"][0]["Status"] == status
        )
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "DELETED"})) == [
        "Invoice not of valid status for modification"
    ]
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "DRAFT"})) == [
        "Invoice not of valid status for modification"
    ]
    voided = xero.ok(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"}))["Invoices"][0]
    assert voided["Status"] == "VOIDED" and voided["AmountDue"] == Decimal("0.00")
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Reference": "late"})) == [
        "Invoice not of valid status for modification"
    ]
    draft = xero.create_invoice(Status="DRAFT")
    assert (
        xero.ok(xero.post(f"/Invoices/{draft['InvoiceID']}", {"Status": "DELETED"}))["Invoices"][0]["Status"]
        == "DELETED"
    )


# ---------------------------------------------------------------------------------------------- payments


def test_payments_move_amounts_and_status(xero: Xero) -> None:
    inv = xero.create_invoice()  # total 120.00
    part = xero.ok(xero.pay(inv["InvoiceID"], "20.00", Reference="BACS-1"))["Payments"][0]
    assert (part["PaymentType"], part["Status"], part["Amount"]) == ("ACCRECPAYMENT", "AUTHORISED", Decimal("20.00"))
    assert part["Invoice"]["InvoiceNumber"] == inv["InvoiceNumber"] and part["Account"]["Code"] == "090"
    now = xero.invoice(inv["InvoiceID"])
    assert (now["AmountPaid"], now["AmountDue"], now["Status"]) == (Decimal("20.00"), Decimal("100.00"), "AUTHORISED")
    assert [p["PaymentID"] for p in now["Payments"]] == [part["PaymentID"]]
    rest = xero.ok(xero.pay(inv["InvoiceID"], "100.00", Account={"Code": "092"}, Date="2026-10-25"))["Payments"][0]
    paid = xero.invoice(inv["InvoiceID"])
    assert (paid["Status"], paid["AmountDue"]) == ("PAID", Decimal("0.00"))
    assert wire_date(paid["FullyPaidOnDate"]).isoformat() == "2026-10-25"
    assert paid["UpdatedDateUTC"] >= now["UpdatedDateUTC"]
    # Deleting a payment: bare body and wrapped body both work; the invoice goes back to AUTHORISED.
    deleted = xero.ok(xero.post(f"/Payments/{rest['PaymentID']}", {"Status": "DELETED"}))["Payments"][0]
    assert deleted["Status"] == "DELETED"
    back = xero.invoice(inv["InvoiceID"])
    assert (back["Status"], back["AmountDue"], "FullyPaidOnDate" in back) == ("AUTHORISED", Decimal("100.00"), False)
    xero.ok(xero.post(f"/Payments/{part['PaymentID']}", {"Payments": [{"Status": "DELETED"}]}))
    assert xero.invoice(inv["InvoiceID"])["AmountDue"] == Decimal("120.00")
    again = xero.post(f"/Payments/{part['PaymentID']}", {"Status": "DELETED"})
    assert errors_of(again) == ["This payment has already been deleted."]
    assert errors_of(xero.post(f"/Payments/{part['PaymentID']}", {"Amount": 5})) == [
        'A payment can only be deleted: send {"Status": "DELETED"}.'
    ]
    listed = xero.ok(xero.get("/Payments", where='Status=="DELETED"'))["Payments"]
    assert {p["PaymentID"] for p in listed} == {part["PaymentID"], rest["PaymentID"]}


def test_payment_rules(xero: Xero) -> None:
    draft = xero.create_invoice(Status="DRAFT")
    assert errors_of(xero.pay(draft["InvoiceID"], "1.00")) == [
        "Payments can only be made against AUTHORISED documents."
    ]
    inv = xero.create_invoice()
    assert "exceeds the amount outstanding" in errors_of(xero.pay(inv["InvoiceID"], "120.01"))[0]
    assert "cannot take payments" in errors_of(xero.pay(inv["InvoiceID"], "1.00", Account={"Code": "200"}))[0]
    assert "Account could not be found" in errors_of(xero.pay(inv["InvoiceID"], "1.00", Account={"Code": "777"}))[0]
    assert errors_of(xero.pay("00000000-0000-0000-0000-000000000000", "1.00")) == ["Invoice could not be found."]
    assert "greater than zero" in errors_of(xero.pay(inv["InvoiceID"], "0"))[0]
    by_number = xero.put(
        "/Payments",
        {
            "Payments": [
                {
                    "Invoice": {"InvoiceNumber": inv["InvoiceNumber"]},
                    "Account": {"Code": "090"},
                    "Date": "2026-10-02",
                    "Amount": Decimal("10.00"),
                }
            ]
        },
    )
    assert xero.ok(by_number)["Payments"][0]["Invoice"]["InvoiceID"] == inv["InvoiceID"]
    bare = xero.post(
        "/Payments",
        {
            "Invoice": {"InvoiceID": inv["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": "2026-10-03",
            "Amount": Decimal("10.00"),
        },
    )
    assert xero.ok(bare)["Payments"][0]["Amount"] == Decimal("10.00")


def test_allocated_invoice_cannot_be_edited_except_reference_and_due_date(xero: Xero) -> None:
    inv = xero.create_invoice()
    xero.ok(xero.pay(inv["InvoiceID"], "50.00"))
    msg = "This document cannot be edited as it has a payment or credit note allocated to it."
    new_lines = [{"Description": "More", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}]
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"LineItems": new_lines})) == [msg]
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Contact": {"Name": "Other Ltd"}})) == [msg]
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})) == [msg]
    ok = xero.ok(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Reference": "PO-9", "DueDate": "2026-11-15"}))
    assert ok["Invoices"][0]["Reference"] == "PO-9"
    # Re-sending unchanged values is not an edit.
    xero.ok(
        xero.post(f"/Invoices/{inv['InvoiceID']}", {"Contact": {"Name": "Northwind Training"}, "Date": "2026-10-01"})
    )


def test_lock_dates_block_writes(start_xero: Callable[..., Xero]) -> None:
    org = {
        "OrganisationID": "22222222-2222-4222-8222-222222222222",
        "Name": "Locked Ltd",
        "BaseCurrency": "GBP",
        "PeriodLockDate": date_to_wire(__import__("datetime").date(2026, 9, 30)),
    }
    xero = start_xero({"Organisation": {"Organisations": [org]}})
    assert xero.tenant == org["OrganisationID"]
    assert xero.ok(xero.get("/Accounts"))["Accounts"]  # defaults still served when only Organisation is given
    on_lock = xero.put("/Invoices", {"Invoices": [invoice_body(Date="2026-09-30")]})
    assert errors_of(on_lock) == [
        "The document date cannot be before the period lock date, currently set at 30-Sep-2026"
    ]
    inv = xero.create_invoice(Date="2026-10-01")
    assert "lock date" in errors_of(xero.pay(inv["InvoiceID"], "1.00", Date="2026-09-15"))[0]
    assert "lock date" in errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Date": "2026-09-01"}))[0]


# ---------------------------------------------------------------------------------------------- credit notes


def test_credit_note_allocation_and_refund(xero: Xero) -> None:
    inv = xero.create_invoice()
    cn_body = {
        "Type": "ACCRECCREDIT",
        "Contact": {"Name": "Northwind Training"},
        "Date": "2026-10-05",
        "Status": "AUTHORISED",
        "Reference": inv["InvoiceNumber"],
        "LineItems": [
            {
                "Description": "Refund",
                "Quantity": 1,
                "UnitAmount": Decimal("50.00"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            }
        ],
    }
    cn = xero.ok(xero.put("/CreditNotes", {"CreditNotes": [cn_body]}))["CreditNotes"][0]
    assert (cn["CreditNoteNumber"], cn["Total"], cn["RemainingCredit"]) == (
        "CN-0001",
        Decimal("60.00"),
        Decimal("60.00"),
    )
    alloc = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": Decimal("30.00"), "Date": "2026-10-06"}
    r = xero.put(f"/CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [alloc]})
    assert xero.ok(r)["Allocations"][0]["Amount"] == Decimal("30.00")
    now = xero.invoice(inv["InvoiceID"])
    assert (now["AmountCredited"], now["AmountDue"]) == (Decimal("30.00"), Decimal("90.00"))
    assert now["CreditNotes"][0]["AppliedAmount"] == Decimal("30.00")
    msg = "This document cannot be edited as it has a payment or credit note allocated to it."
    assert errors_of(xero.post(f"/Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})) == [msg]
    too_much = {**alloc, "Amount": Decimal("31.00")}
    assert (
        "remaining credit"
        in errors_of(xero.put(f"/CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [too_much]}))[0]
    )
    refund = xero.put(
        "/Payments",
        {
            "Payments": [
                {
                    "CreditNote": {"CreditNoteID": cn["CreditNoteID"]},
                    "Account": {"Code": "090"},
                    "Date": "2026-10-07",
                    "Amount": Decimal("10.00"),
                    "Reference": "Refund",
                }
            ]
        },
    )
    pay = xero.ok(refund)["Payments"][0]
    assert pay["PaymentType"] == "ARCREDITPAYMENT" and pay["Invoice"]["Type"] == "ACCRECCREDIT"
    assert pay["Invoice"]["InvoiceID"] == cn["CreditNoteID"]
    left = xero.ok(xero.get(f"/CreditNotes/{cn['CreditNoteID']}"))["CreditNotes"][0]
    assert left["RemainingCredit"] == Decimal("20.00") and len(left["Payments"]) == 1
    # A credit note's id in Invoice.InvoiceID is a refund too [docs].
    via_invoice = xero.pay(cn["CreditNoteID"], "20.00")
    assert xero.ok(via_invoice)["Payments"][0]["PaymentType"] == "ARCREDITPAYMENT"
    done = xero.ok(xero.get(f"/CreditNotes/{cn['CreditNoteID']}"))["CreditNotes"][0]
    assert (done["RemainingCredit"], done["Status"]) == (Decimal("0.00"), "PAID")
    assert errors_of(xero.pay(cn["CreditNoteID"], "0.01")) == [
        "Payments can only be made against AUTHORISED documents.",
        "The payment amount (0.01) exceeds the amount outstanding on this document (0.00).",
    ]
    assert xero.get("/CreditNotes/nope").status_code == 404


# ---------------------------------------------------------------------------------------------- lists


@pytest.fixture
def listed(start_xero: Callable[..., Xero]) -> Xero:
    invoices = [wire_invoice(i) for i in range(1, 251)]
    invoices[9]["Contact"] = {"ContactID": "33333333-3333-4333-8333-333333333333", "Name": "Other"}
    return start_xero({"Invoices": {"Invoices": invoices}})


def test_paging_and_page_size(listed: Xero) -> None:
    body = listed.ok(listed.get("/Invoices", page=1))
    assert body["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 3, "itemCount": 250}
    assert len(body["Invoices"]) == 100 and body["Invoices"][0]["LineItems"]
    third = listed.ok(listed.get("/Invoices", page=3))
    assert len(third["Invoices"]) == 50 and third["Invoices"][-1]["InvoiceNumber"] == "INV-00250"
    assert listed.ok(listed.get("/Invoices", page=4))["Invoices"] == []
    big = listed.ok(listed.get("/Invoices", page=1, pageSize=5000))
    assert big["pagination"]["pageSize"] == 1000 and len(big["Invoices"]) == 250
    unpaged = listed.ok(listed.get("/Invoices"))
    assert "pagination" not in unpaged and len(unpaged["Invoices"]) == 250
    assert "LineItems" not in unpaged["Invoices"][0]
    summary = listed.ok(listed.get("/Invoices", page=1, summaryOnly="true"))
    assert "LineItems" not in summary["Invoices"][0] and summary["Invoices"][0]["Total"] == Decimal("12.14")


def test_where_order_and_list_filters(listed: Xero) -> None:
    def numbers(**params: Any) -> list[str]:
        return [
            i["InvoiceNumber"] for i in listed.ok(listed.get("/Invoices", page=1, pageSize=1000, **params))["Invoices"]
        ]

    assert len(numbers(where='Status=="PAID"')) == 83
    assert numbers(where='Status=="PAID" AND (InvoiceNumber=="INV-00003" OR InvoiceNumber=="INV-00004")') == [
        "INV-00003"
    ]
    assert numbers(where='Contact.ContactID==Guid("33333333-3333-4333-8333-333333333333")') == ["INV-00010"]
    dated = numbers(where="Date>=DateTime(2026,10,27) AND Date<DateTime(2026,10,28)")
    assert dated and all(wire_date(listed.invoice(n)["Date"]).isoformat() == "2026-10-27" for n in dated[:2])
    assert numbers(where='Total>12.13 AND Total<=12.14 AND Type!="ACCPAY"')[:1] == ["INV-00001"]
    assert numbers(where="HasErrors==false") == []  # fixture rows carry no HasErrors field: null is not false
    assert numbers(order="InvoiceNumber DESC")[:2] == ["INV-00250", "INV-00249"]
    assert numbers(order="Status ASC, InvoiceNumber DESC")[:1] == ["INV-00250"]
    assert numbers(Statuses="PAID,AUTHORISED")[:2] == ["INV-00001", "INV-00002"]
    assert numbers(InvoiceNumbers="INV-00007,INV-00008") == ["INV-00007", "INV-00008"]
    assert numbers(ContactIDs="33333333-3333-4333-8333-333333333333") == ["INV-00010"]
    ids = ",".join(wire_invoice(i)["InvoiceID"] for i in (5, 6))
    assert numbers(IDs=ids) == ["INV-00005", "INV-00006"]
    too_many = ",".join(wire_invoice(i)["InvoiceID"] for i in range(1, 52))
    assert listed.get("/Invoices", IDs=too_many).status_code == 404
    bad = listed.get("/Invoices", where="Status==")
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"
    assert listed.get("/Invoices", where='Colour=="red"').status_code == 400


def test_if_modified_since_and_every_write_moves_updated_date(listed: Xero) -> None:
    since = "2026-10-03T04:03:20"  # = 1791000200 s: invoices 200.. were updated at or after it
    r = listed.get("/Invoices", headers=listed.headers(**{"If-Modified-Since": since}), page=1)
    assert listed.ok(r)["pagination"]["itemCount"] == 51
    assert parse_instant(since) == 1_791_000_200_000
    listed.clock.now = time.time()
    inv = listed.invoice("INV-00002")
    listed.ok(listed.post(f"/Invoices/{inv['InvoiceID']}", {"Reference": "changed"}))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(listed.clock.now - 1))
    changed = listed.ok(listed.get("/Invoices", headers=listed.headers(**{"If-Modified-Since": stamp}), page=1))
    assert [i["InvoiceNumber"] for i in changed["Invoices"]] == ["INV-00002"]
    before = listed.invoice(inv["InvoiceID"])["UpdatedDateUTC"]
    payment = listed.ok(listed.pay(inv["InvoiceID"], "1.00"))["Payments"][0]
    after = listed.invoice(inv["InvoiceID"])["UpdatedDateUTC"]
    assert int(after[6:-7]) > int(before[6:-7]) and after == payment["UpdatedDateUTC"]
    default_order = listed.ok(listed.get("/Invoices", page=3))["Invoices"]
    assert default_order[-1]["InvoiceNumber"] == "INV-00002"  # newest last: default order is UpdatedDateUTC ASC


def test_fixtures_round_trip_and_malformed_records_are_served_as_they_are(start_xero: Callable[..., Xero]) -> None:
    weird = {
        "InvoiceID": "not-a-guid",
        "InvoiceNumber": "ODD-1",
        "Total": "twelve",
        "Date": "yesterday",
        "Type": "ACCREC",
    }
    first = start_xero({"Invoices": {"Invoices": [wire_invoice(1), weird]}})
    served = first.invoice("not-a-guid")
    assert served["Total"] == "twelve" and served["Date"] == "yesterday" and "DateString" not in served
    first.create_invoice()
    state = first.admin("state")
    assert set(state) == {
        "Organisation",
        "Accounts",
        "TaxRates",
        "Contacts",
        "Invoices",
        "Payments",
        "CreditNotes",
        "BatchPayments",
        "Overpayments",
        "Prepayments",
    }
    second = start_xero(state)
    assert second.admin("state") == state
    assert second.tenant == first.tenant


def test_contacts(xero: Xero) -> None:
    xero.create_invoice()
    contacts = xero.ok(xero.get("/Contacts", page=1))["Contacts"]
    assert [c["Name"] for c in contacts] == ["Northwind Training"] and contacts[0]["IsCustomer"] is True
    created = xero.ok(xero.put("/Contacts", {"Contacts": [{"Name": "Acme Ltd", "EmailAddress": "a@acme.test"}]}))
    cid = created["Contacts"][0]["ContactID"]
    assert xero.ok(xero.get(f"/Contacts/{cid}"))["Contacts"][0]["EmailAddress"] == "a@acme.test"
    dup = xero.put("/Contacts", {"Contacts": [{"Name": "acme ltd"}]})
    assert "must be unique" in errors_of(dup)[0]
    inv = xero.create_invoice(Contact={"ContactID": cid})
    assert inv["Contact"]["Name"] == "Acme Ltd"


def test_a_hundred_thousand_invoices_page_quickly(start_xero: Callable[..., Xero]) -> None:
    base = wire_invoice(0)
    invoices = []
    for i in range(100_000):
        record = dict(base)
        record["InvoiceID"] = f"00000000-0000-4000-8000-{i:012d}"
        record["InvoiceNumber"] = f"INV-{i:06d}"
        record["UpdatedDateUTC"] = ms_to_wire(1_791_000_000_000 + (i * 7919 % 100_000) * 1000)  # shuffled
        invoices.append(record)
    xero = start_xero({"Invoices": {"Invoices": invoices}})
    started = time.perf_counter()
    body = xero.ok(xero.get("/Invoices", page=57, pageSize=1000))
    assert time.perf_counter() - started < 1.5
    assert body["pagination"] == {"page": 57, "pageSize": 1000, "pageCount": 100, "itemCount": 100_000}
    stamps = [i["UpdatedDateUTC"] for i in body["Invoices"]]
    assert stamps == sorted(stamps, key=lambda s: int(s[6:-7])) and len(stamps) == 1000
    started = time.perf_counter()
    one = xero.ok(xero.get("/Invoices", InvoiceNumbers="INV-054321", page=1))
    assert one["Invoices"][0]["InvoiceNumber"] == "INV-054321" and time.perf_counter() - started < 0.5


# ---------------------------------------------------------------------------------------------- limits


def test_minute_limit(start_xero: Callable[..., Xero]) -> None:
    xero = start_xero(faults="limit_minute=3,limit_window=1")
    remaining = [xero.get("/Organisation").headers["X-MinLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = xero.get("/Organisation")
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "minute"
    assert r.headers["Retry-After"] == "1"
    assert r.json()["Status"] == 429
    time.sleep(float(r.headers["Retry-After"]) + 0.05)
    ok = xero.get("/Organisation")
    assert ok.status_code == 200
    assert {"X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining"} <= set(ok.headers)


def test_day_limit_and_admin_reset(start_xero: Callable[..., Xero]) -> None:
    xero = start_xero(faults="limit_day=2")
    assert [xero.get("/Organisation").headers["X-DayLimit-Remaining"] for _ in range(2)] == ["1", "0"]
    r = xero.get("/Organisation")
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "day"
    assert int(r.headers["Retry-After"]) > 80_000
    xero.admin("reset", "POST")
    assert xero.get("/Organisation").status_code == 200


def test_concurrent_limit(start_xero: Callable[..., Xero]) -> None:
    xero = start_xero(faults="limit_concurrent=1,latency=0.4")
    results: list[requests.Response] = []

    def call() -> None:
        results.append(xero.get("/Organisation"))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 429]
    refused = next(r for r in results if r.status_code == 429)
    assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"


def test_injected_faults_use_xero_shapes(xero: Xero) -> None:
    xero.faults("error503=1x")
    r = xero.get("/Invoices")
    assert r.status_code == 503 and r.json()["Title"] == "Service Unavailable"
    xero.faults("burst429=1x,retry_after=3")
    r = xero.get("/Invoices")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.headers["X-Rate-Limit-Problem"] == "minute"
    assert xero.get("/Invoices").status_code == 200


# ---------------------------------------------------------------------------------------------- idempotency


def test_idempotency_key_replays_and_refuses_a_different_body(xero: Xero) -> None:
    body = {"Invoices": [invoice_body(InvoiceNumber="ID-1")]}
    first = xero.put("/Invoices", body, **{"Idempotency-Key": "k-1"})
    second = xero.put("/Invoices", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert len(xero.admin("state")["Invoices"]["Invoices"]) == 1
    other = xero.put("/Invoices", {"Invoices": [invoice_body(InvoiceNumber="ID-2")]}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 400 and "already used with a different request" in other.json()["Message"]
    assert xero.put("/Invoices", body, **{"Idempotency-Key": "x" * 129}).status_code == 400
    log = xero.admin("requests")
    assert [e["idempotency_key"] for e in log if e["method"] == "PUT"][:2] == ["k-1", "k-1"]


def test_idempotency_key_makes_a_lost_response_safe_to_retry(xero: Xero) -> None:
    inv = xero.create_invoice()
    xero.faults("drop_after_commit=1x")
    body = {
        "Payments": [
            {
                "Invoice": {"InvoiceID": inv["InvoiceID"]},
                "Account": {"Code": "090"},
                "Date": "2026-10-20",
                "Amount": Decimal("20.00"),
            }
        ]
    }
    with pytest.raises(requests.ConnectionError):
        xero.put("/Payments", body, **{"Idempotency-Key": "pay-1"})
    retry = xero.put("/Payments", body, **{"Idempotency-Key": "pay-1"})
    assert retry.status_code == 200
    assert len(xero.admin("state")["Payments"]["Payments"]) == 1
    assert xero.invoice(inv["InvoiceID"])["AmountDue"] == Decimal("100.00")


# ---------------------------------------------------------------------------------------------- where parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Name=="acme"', True),  # strings compare case-insensitively [ours]
        ('Name!="Acme"', False),
        ("Total>=10.5 && Total<11", True),
        ("Total>10.5 || Name==null", False),
        ("NOT (Total<10)", True),
        ("Date>DateTime(2026,10,01)", False),
        ("Date>=DateTime(2026,10,01,00,00,00)", True),
        ('Contact.ContactID==Guid("AB-CD")', True),
        ('Name.StartsWith("AC") AND Name.Contains("cm")', True),
        ('Name.ToUpper()=="ACME"', True),
        ("IsCustomer==true AND IsSupplier", False),
    ],
)
def test_where_expressions(text: str, expected: bool) -> None:
    record = {
        "Name": "Acme",
        "Total": Decimal("10.50"),
        "Date": "/Date(1790812800000+0000)/",
        "Contact": {"ContactID": "ab-cd"},
        "IsCustomer": True,
        "IsSupplier": False,
    }
    assert compile_where(text)(record) is expected


@pytest.mark.parametrize("text", ['Name=="x', "Total >", "(Total>1", "Date>DateTime(2026)", 'Name.Explode("x")'])
def test_where_syntax_errors(text: str) -> None:
    with pytest.raises(QueryError):
        compile_where(text)


def test_order_sorts_dates_numbers_and_missing_values() -> None:
    rows = [{"N": "b", "T": Decimal("2")}, {"N": "a", "T": Decimal("10")}, {"N": "c"}]
    assert [r["N"] for r in compile_order("T DESC")(rows)] == ["a", "b", "c"]
    assert [r["N"] for r in compile_order("T")(rows)] == ["c", "b", "a"]
    with pytest.raises(QueryError):
        compile_order("T SIDEWAYS")


def test_filtered_pages_are_consistent_and_see_writes(listed: Xero) -> None:
    def paid(page: int) -> dict[str, Any]:
        return listed.ok(listed.get("/Invoices", page=page, pageSize=50, where='Status=="PAID"'))

    pages = [paid(1), paid(2)]
    assert [p["pagination"]["itemCount"] for p in pages] == [83, 83]
    first_two = [i["InvoiceNumber"] for p in pages for i in p["Invoices"]]
    assert len(set(first_two)) == 83  # 50 + 33, no overlap
    inv = listed.invoice("INV-00001")
    listed.ok(listed.pay(inv["InvoiceID"], "12.14"))
    assert paid(1)["pagination"]["itemCount"] == 84  # the cached filter result was dropped by the write


def test_a_browser_sign_in_connects_every_organisation_a_custom_connection_one() -> None:
    """With a second organisation, /connections lists both for a code-flow token and each tenant has its own books;
    a custom connection (client credentials) still reaches exactly one."""
    import base64
    import hashlib
    import secrets as _secrets
    from urllib.parse import parse_qs, urlsplit

    import requests

    from app.sandbox.common import Faults, serve
    from app.sandbox.xero import XeroApp

    app = XeroApp(
        None, "cid", "csecret", Faults("limit_minute=100000,limit_day=100000"), other_organisations=("Second Org Ltd",)
    )
    server = serve(app)
    try:
        verifier = _secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://localhost:9/callback"
        r = requests.get(
            server.url + "/connect/authorize",
            allow_redirects=False,
            timeout=5,
            params={
                "response_type": "code",
                "client_id": "cid",
                "redirect_uri": redirect,
                "state": "s",
                "scope": "offline_access accounting.invoices accounting.settings",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        token = requests.post(
            server.url + "/connect/token",
            timeout=5,
            data={
                "grant_type": "authorization_code",
                "client_id": "cid",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        ).json()["access_token"]
        conns = requests.get(
            server.url + "/connections", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).json()
        names = {c["tenantName"]: c["tenantId"] for c in conns}
        assert set(names) == {app.tenant_name, "Second Org Ltd"}
        for name, tenant in names.items():
            org = requests.get(
                server.url + "/api.xro/2.0/Organisation",
                timeout=5,
                headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant, "Accept": "application/json"},
            ).json()
            assert org["Organisations"][0]["Name"] == name
        custom = requests.post(
            server.url + "/connect/token", data={"grant_type": "client_credentials"}, auth=("cid", "csecret"), timeout=5
        ).json()["access_token"]
        assert (
            len(
                requests.get(
                    server.url + "/connections", headers={"Authorization": f"Bearer {custom}"}, timeout=5
                ).json()
            )
            == 1
        )
    finally:
        server.stop()

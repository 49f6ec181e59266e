"""Fidelity knobs of the emulators, over real HTTP: accessplanit's `$top` cap and strict mode (no undocumented
query features), Xero's case-blind routing, its strict `IDs=` on CreditNotes, and the one registered OAuth
redirect URI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import requests
from test_accessplanit import Api
from test_xero import (
    CLIENT_ID,
    SECRET,
    Clock,
    Xero,
    authorize,
    code_from,
    errors_of,
    exchange,
    invoice_body,
    pkce_pair,
)

from app.connectors.xero.auth import LoopbackListener
from app.sandbox.common import Faults, Server, serve
from app.sandbox.xero import XeroApp
from app.sandbox.xero.identity import REGISTERED_REDIRECT
from app.sandbox.xero.wire import date_to_wire


@pytest.fixture
def start_xero() -> Iterator[Callable[..., Xero]]:
    servers: list[Server] = []

    def start(fixtures: dict[str, Any] | None = None, faults: str = "") -> Xero:
        clock = Clock()
        server = serve(app := XeroApp(fixtures, CLIENT_ID, SECRET, Faults(faults), clock=clock))
        servers.append(server)
        return Xero(server, app, clock)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def xero(start_xero: Callable[..., Xero]) -> Xero:
    return start_xero()


# ---- accessplanit ------------------------------------------------------------------------------------


def test_the_top_cap_is_a_setting(start_api: Callable[..., Api], kit: Any) -> None:
    api = start_api({"Invoice": [kit.make_invoice(i) for i in range(1, 301)]}, faults="max_top=100")
    body = api.get("/Invoice", **{"$top": "1000", "$count": "true"}).json()
    assert len(body["results"]) == 100 and body["count"] == 300  # short page, yet more rows remain
    assert len(api.results("/Invoice", **{"$top": "40"})) == 40


def test_strict_mode_refuses_in_and_date_updated(start_api: Callable[..., Api], kit: Any) -> None:
    api = start_api(faults="strict=1")
    refused = [
        {"$filter": "ID in ('1','2')"},
        {"$filter": "DateUpdated ge 2026-10-01T00:00:00"},
        {"$filter": "ID gt '1' and dateupdated ge '2026-10-01'"},
        {"$orderby": "DateUpdated,ID"},
    ]
    for params in refused:
        r = api.get("/Invoice", **params)
        assert r.status_code == 400, params
        assert r.json()["errors"][0]["field"] in ("$filter", "$orderby")
    items = api.get("/InvoiceItem", **{"$filter": "InvoiceID in ('1','2')"})
    assert items.status_code == 400
    # The documented forms still work, and records still carry DateUpdated.
    rows = api.results("/Invoice", **{"$filter": "ID eq '1' or ID eq '2'", "$orderby": "ID"})
    assert [r["ID"] for r in rows] == ["1", "2"] and all("DateUpdated" in r for r in rows)
    lax = start_api()
    assert [r["ID"] for r in lax.results("/Invoice", **{"$filter": "ID in ('1','2')"})] == ["1", "2"]


# ---- Xero --------------------------------------------------------------------------------------------


def test_xero_routes_whatever_the_path_case(xero: Xero) -> None:
    token = {"Authorization": f"Bearer {xero.token}"}
    for path in ("/connections", "/Connections", "/CONNECTIONS"):
        r = requests.get(xero.url + path, headers=token, timeout=5)
        assert r.status_code == 200 and r.json()[0]["tenantId"] == xero.tenant, path
    for path in ("/Invoices", "/invoices", "/INVOICES", "/Organisation", "/organisation"):
        r = requests.get(xero.url + "/api.xro/2.0" + path, headers=xero.headers(), timeout=5)
        assert r.status_code == 200, path
    r = requests.get(xero.url + "/API.XRO/2.0/Invoices", headers=xero.headers(), timeout=5)
    assert r.status_code == 200
    assert requests.get(xero.url + "/api.xro/2.0/Nothing", headers=xero.headers(), timeout=5).status_code == 404


def test_xero_keys_keep_their_case_in_a_lower_cased_route(start_xero: Callable[..., Xero]) -> None:
    guid = "AbCdEf01-0000-4000-8000-00000000000A"
    x = start_xero({"CreditNotes": {"CreditNotes": [_credit_note(guid)]}})
    r = requests.get(x.url + "/api.xro/2.0/creditnotes/" + guid, headers=x.headers(), timeout=5)
    assert r.status_code == 200 and r.json()["CreditNotes"][0]["CreditNoteNumber"] == "CN-1"


def _credit_note(guid: str) -> dict[str, Any]:
    return {
        "CreditNoteID": guid,
        "CreditNoteNumber": "CN-1",
        "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED",
        "Reference": "INV-1",
        "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Acme"},
        "Date": "/Date(1760313600000+0000)/",
        "LineAmountTypes": "Exclusive",
        "SubTotal": 10,
        "TotalTax": 2,
        "Total": 12,
        "RemainingCredit": 12,
        "CurrencyCode": "GBP",
    }


def test_strict_xero_refuses_ids_on_credit_notes_only(start_xero: Callable[..., Xero]) -> None:
    guid = "abcdef01-0000-4000-8000-00000000000a"
    strict = start_xero({"CreditNotes": {"CreditNotes": [_credit_note(guid)]}}, faults="strict=1")
    r = strict.get("/CreditNotes", IDs=guid)
    assert r.status_code == 400 and "IDs" in r.json()["Message"]
    where = strict.get("/CreditNotes", where=f'CreditNoteID==Guid("{guid}")')
    assert where.status_code == 200 and [c["CreditNoteID"] for c in where.json()["CreditNotes"]] == [guid]
    assert strict.get("/Invoices", IDs=guid).status_code == 200  # documented there
    lax = start_xero({"CreditNotes": {"CreditNotes": [_credit_note(guid)]}})
    assert len(lax.get("/CreditNotes", IDs=guid).json()["CreditNotes"]) == 1


def test_only_the_registered_redirect_uri_is_accepted(xero: Xero, start_xero: Callable[..., Xero]) -> None:
    verifier, challenge = pkce_pair()
    listener = LoopbackListener("st", port=0)
    try:
        sent = listener.redirect_uri  # what the app sends: the URI the README asks users to register
    finally:
        listener.close()
    assert sent == f"http://localhost:{listener.port}/callback"
    assert REGISTERED_REDIRECT == "http://localhost:*/callback"
    code = code_from(authorize(xero.url, challenge, redirect_uri=sent))
    assert code
    for other in (
        f"http://127.0.0.1:{listener.port}/callback",
        f"http://localhost:{listener.port}/other",
        "https://evil.example/callback",
        f"http://localhost:{listener.port}/callback/",
    ):
        r = authorize(xero.url, challenge, redirect_uri=other)
        assert r.status_code == 400 and "Location" not in r.headers, other
        assert r.text == "unauthorized_client: Invalid redirect_uri"
    # The exchange must name the same URI.
    code = code_from(authorize(xero.url, challenge))
    assert exchange(xero.url, code, verifier).status_code == 200
    # Pinned to one port by a setting, as on the real service (exact match).
    pinned = start_xero(faults="redirect_uri=http://localhost:53682/callback")
    assert authorize(pinned.url, challenge).status_code == 302
    assert authorize(pinned.url, challenge, redirect_uri="http://localhost:53683/callback").status_code == 400


def test_an_adviser_posts_into_the_period_lock_but_not_the_end_of_year_lock(start_xero: Callable[..., Xero]) -> None:
    org = {
        "OrganisationID": "22222222-2222-4222-8222-222222222222",
        "Name": "Locked Ltd",
        "BaseCurrency": "GBP",
        "PeriodLockDate": date_to_wire(date(2026, 9, 30)),
        "EndOfYearLockDate": date_to_wire(date(2026, 3, 31)),
    }
    fixtures = {"Organisation": {"Organisations": [org]}}
    standard = start_xero(fixtures)
    refused = standard.put("/Invoices", {"Invoices": [invoice_body(Date="2026-09-15")]})
    assert errors_of(refused) == [
        "The document date cannot be before the period lock date, currently set at 30-Sep-2026"
    ]
    adviser = start_xero(fixtures, faults="role=adviser")
    assert adviser.put("/Invoices", {"Invoices": [invoice_body(Date="2026-09-15")]}).status_code == 200
    year = adviser.put("/Invoices", {"Invoices": [invoice_body(Date="2026-03-31")]})
    assert errors_of(year) == [
        "The document date cannot be before the end of year lock date, currently set at 31-Mar-2026"
    ]

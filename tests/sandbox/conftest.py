"""Fixtures for the sandbox tests: small hand-written accessplanit records in wire format and a running
emulator on 127.0.0.1 with a fresh token. Real HTTP throughout; nothing here is mocked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from app.sandbox.accessplanit import AccessplanitApp
from app.sandbox.common import Faults, Server, serve

USERNAME, PASSWORD, API_KEY = "demo", "s3cret-pw", "the-api-key"
FIXED_NOW = datetime(2026, 11, 2, 9, 30, 0)


def make_invoice(i: int, **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ID": str(i),
        "Reference": f"INV-{1000 + i}",
        "Amount": Decimal("100.00"),
        "Tax": Decimal("20.00"),
        "TaxRate": Decimal("20.00"),
        "DateCreated": f"2026-10-{(i % 28) + 1:02d}T00:00:00",
        "DateDue": "2026-11-30T00:00:00",
        "DateUpdated": f"2026-10-{(i % 28) + 1:02d}T12:00:00",
        "Status": "Outstanding",
        "Outstanding": Decimal("120.00"),
        "AmountPaid": Decimal("0.00"),
        "TargetIDType": "Company",
        "TargetID": str(500 + i % 3),
        "TargetLabel": f"Client {i % 3}",
        "PONumber": None,
        "CompanyName": f"Client {i % 3} Ltd",
        "CurrencyCode": "GBP",
    }
    record.update(over)
    return record


def make_fixtures(n: int = 30) -> dict[str, list[Any]]:
    invoices = [make_invoice(i) for i in range(1, n + 1)]
    items = [
        {
            "ID": str(10 * i + k),
            "InvoiceID": str(i),
            "DynamicLabel": f"Course place {k}",
            "Reference": f"L{k}",
            "Amount": Decimal("60.00"),
            "Tax": Decimal("10.00"),
            "SourceID": "77",
            "SourceIDType": "Booking",
        }
        for i in range(1, n + 1)
        for k in (1, 2)
    ]
    transactions = [
        {
            "ID": "900",
            "InvoiceID": "5",
            "TransactionType": "Payment",
            "Amount": Decimal("20.00"),
            "TransactionMethodID": "1",
            "TransactionMethodLabel": "BACS",
            "TransactionDate": "2026-10-20T00:00:00",
            "Reference": "BACS-1",
            "Notes": None,
            "CurrencyCode": "GBP",
            "DateCreated": "2026-10-20T10:00:00",
            "DateUpdated": "2026-10-20T10:00:00",
            "CreatedByID": "1",
        }
    ]
    invoices[4].update(AmountPaid=Decimal("20.00"), Outstanding=Decimal("100.00"), Status="Part Paid")
    return {"Invoice": invoices, "InvoiceItem": items, "Transaction": transactions}


class Api:
    """A tiny client for the tests: base URL, token, and helpers that keep each test to its point."""

    def __init__(self, server: Server, app: AccessplanitApp) -> None:
        self.server = server
        self.app = app
        self.root = server.url + "/accessplan"
        self.base = self.root + "/api/v2"
        self.token = self.login()

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> str:
        r = requests.post(
            self.base + "/token",
            data={"grant_type": "password", "username": username, "password": password},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.base + path, params=params, headers=self.auth, timeout=5)

    def results(self, path: str, **params: Any) -> list[dict[str, Any]]:
        r = self.get(path, **params)
        assert r.status_code == 200, r.text
        return list(r.json(parse_float=Decimal)["results"])

    def put(self, path: str, body: Any) -> requests.Response:
        return requests.put(self.base + path, json=body, headers=self.auth, timeout=5)

    def post(self, path: str, body: bytes | str, **headers: str) -> requests.Response:
        h = {**self.auth, "Content-Type": "application/json", **headers}
        return requests.post(self.base + path, data=body, headers=h, timeout=5)

    def faults(self, spec: str) -> None:
        r = requests.post(self.server.url + "/__admin/faults", json={"spec": spec}, timeout=5)
        assert r.status_code == 200, r.text

    def admin(self, name: str) -> Any:
        r = requests.get(self.server.url + f"/__admin/{name}", timeout=5)
        assert r.status_code == 200, r.text
        return r.json(parse_float=Decimal)


@pytest.fixture
def start_api() -> Iterator[Callable[..., Api]]:
    servers: list[Server] = []

    def start(fixtures: dict[str, Any] | None = None, faults: str = "") -> Api:
        app = AccessplanitApp(
            make_fixtures() if fixtures is None else fixtures,
            USERNAME,
            PASSWORD,
            API_KEY,
            Faults(faults),
            clock=lambda: FIXED_NOW,
        )
        server = serve(app)
        servers.append(server)
        return Api(server, app)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api(start_api: Callable[..., Api]) -> Api:
    return start_api()


class Kit:
    """The builders and credentials, handed to tests as a fixture (test modules here are not a package)."""

    USERNAME = USERNAME
    PASSWORD = PASSWORD
    API_KEY = API_KEY
    make_invoice = staticmethod(make_invoice)
    make_fixtures = staticmethod(make_fixtures)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit

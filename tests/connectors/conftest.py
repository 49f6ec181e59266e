"""Fixtures for connector tests: the real emulators on 127.0.0.1, loaded with small wire-format fixtures written
here (so every count and amount in an assertion is known), plus helpers for the `/__admin/*` endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from app.connectors.accessplanit.client import AccessplanitClient, AccessplanitConfig
from app.connectors.http import HttpConfig, PacerConfig, loads
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes

FAST = HttpConfig(
    connect_timeout=2.0, read_timeout=1.0, max_attempts=4, backoff_base=0.01, backoff_cap=0.05, max_rate_wait=5.0
)


def ap_invoice(i: int, *, updated: str | None = None, **over: Any) -> dict[str, Any]:
    """An accessplanit Invoice in wire format: ID 1000+i, INV-i, net 100.10 + tax 20.02."""
    rec: dict[str, Any] = {
        "ID": str(1000 + i),
        "Reference": f"INV-{i}",
        "TargetLabel": f"Customer {i}",
        "CompanyName": "Acme Ltd",
        "DateCreated": "2026-10-05T09:30:00",
        "DateDue": "2026-11-04T00:00:00",
        "DateUpdated": updated or f"2026-10-{1 + i // 100:02d}T{(i % 100) // 60:02d}:{i % 60:02d}:00",
        "PONumber": f"PO-{i}",
        "CurrencyCode": "GBP",
        "Amount": Decimal("100.10"),
        "Tax": Decimal("20.02"),
        "AmountPaid": Decimal("0.00"),
        "Outstanding": Decimal("120.12"),
        "Status": "Outstanding",
    }
    rec.update(over)
    return rec


def ap_item(i: int, invoice_id: str) -> dict[str, Any]:
    return {
        "ID": str(50000 + i),
        "InvoiceID": invoice_id,
        "DynamicLabel": f"Course place {i}",
        "Amount": Decimal("120.12"),
        "Tax": Decimal("20.02"),
    }


def ap_transaction(i: int, invoice_id: str, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "ID": str(80000 + i),
        "InvoiceID": invoice_id,
        "TransactionType": "Payment",
        "Amount": Decimal("50.00"),
        "TransactionDate": "2026-10-14T00:00:00",
        "Reference": f"R{i}",
        "TransactionMethodLabel": "BACS",
        "CurrencyCode": "GBP",
        "DateUpdated": f"2026-10-14T10:{i % 60:02d}:00",
    }
    rec.update(over)
    return rec


def write_ap_fixtures(
    root: Path, invoices: list[dict[str, Any]], items: list[dict[str, Any]], transactions: list[dict[str, Any]]
) -> Path:
    folder = root / "accessplanit"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("Invoice", invoices), ("InvoiceItem", items), ("Transaction", transactions)):
        # Decimals are written through str so the file holds exactly the digits given.
        text = json.dumps({"results": rows}, default=str)
        (folder / f"{name}.json").write_text(_unquote_decimals(text, rows), encoding="utf-8")
    return root


def _unquote_decimals(text: str, rows: list[dict[str, Any]]) -> str:
    """json.dumps(default=str) writes Decimal("1.10") as "1.10" (a string); turn those back into numbers."""
    for row in rows:
        for value in row.values():
            if isinstance(value, Decimal):
                text = text.replace(f'"{value}"', str(value))
    return text


class Admin:
    """The sandbox's `/__admin/*` endpoints."""

    def __init__(self, base: str) -> None:
        self.base = base

    def faults(self, spec: str) -> None:
        r = requests.post(f"{self.base}/__admin/faults", json={"spec": spec}, timeout=5)
        assert r.status_code == 200, r.text

    def requests(self) -> list[dict[str, Any]]:
        return list(loads(requests.get(f"{self.base}/__admin/requests", timeout=5).content))

    def reset(self) -> None:
        requests.post(f"{self.base}/__admin/reset", timeout=5)

    def state(self) -> dict[str, Any]:
        return dict(loads(requests.get(f"{self.base}/__admin/state", timeout=5).content))


def standard_ap_data(n: int = 250) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    invoices = [ap_invoice(i) for i in range(n)]
    items = [ap_item(i, inv["ID"]) for i, inv in enumerate(invoices)]
    transactions = [ap_transaction(i, invoices[i]["ID"]) for i in range(0, n, 5)]
    return invoices, items, transactions


@pytest.fixture
def ap_fixtures(tmp_path: Path) -> Path:
    return write_ap_fixtures(tmp_path / "fixtures", *standard_ap_data())


@pytest.fixture
def sandboxes(ap_fixtures: Path) -> Iterator[Sandboxes]:
    with start_sandboxes(SandboxOptions(fixtures=str(ap_fixtures))) as sb:
        yield sb


@pytest.fixture
def ap_info(sandboxes: Sandboxes) -> dict[str, str]:
    return dict(sandboxes.info["accessplanit"])


@pytest.fixture
def ap_admin(sandboxes: Sandboxes) -> Admin:
    return Admin(sandboxes.accessplanit.url)


def make_ap_client(
    info: dict[str, str], *, page_size: int = 100, api_key: bool = False, **over: Any
) -> AccessplanitClient:
    config = AccessplanitConfig(
        url=info["url"],
        username="" if api_key else info["username"],
        password="" if api_key else info["password"],
        api_key=info["api_key"] if api_key else "",
        page_size=page_size,
        http=FAST,
        pacing=PacerConfig.unlimited(),
        **over,
    )
    return AccessplanitClient(config)


@pytest.fixture
def ap_client(ap_info: dict[str, str]) -> AccessplanitClient:
    return make_ap_client(ap_info)


# ---------------------------------------------------------------------------------------------------------- Xero
def x_ms(day: int, minute: int = 0) -> str:
    """`/Date(ms+0000)/` for 2026-10-{day} at 00:{minute} UTC."""
    import datetime as dt

    moment = dt.datetime(2026, 10, day, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return f"/Date({int(moment.timestamp()) * 1000}+0000)/"


def x_invoice(i: int) -> dict[str, Any]:
    """A Xero ACCREC invoice in wire format: INV-i, 100.10 + 20.02, updated one minute apart."""
    return {
        "Type": "ACCREC",
        "InvoiceID": f"00000000-0000-4000-8000-{i:012d}",
        "InvoiceNumber": f"INV-{i}",
        "Reference": f"PO-{i}",
        "Contact": {"ContactID": "c0000000-0000-4000-8000-000000000001", "Name": "Acme Ltd"},
        "Date": x_ms(14),
        "DueDate": x_ms(30),
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": "GBP",
        "SubTotal": Decimal("100.10"),
        "TotalTax": Decimal("20.02"),
        "Total": Decimal("120.12"),
        "AmountPaid": Decimal("0.00"),
        "AmountCredited": Decimal("0.00"),
        "AmountDue": Decimal("120.12"),
        "UpdatedDateUTC": x_ms(15, i),
        "LineItems": [
            {
                "LineItemID": f"10000000-0000-4000-8000-{i:012d}",
                "Description": "Course place",
                "Quantity": Decimal("1.0"),
                "UnitAmount": Decimal("100.10"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "TaxAmount": Decimal("20.02"),
                "LineAmount": Decimal("100.10"),
            }
        ],
    }


def write_xero_fixtures(root: Path, invoices: list[dict[str, Any]]) -> Path:
    folder = root / "xero"
    folder.mkdir(parents=True, exist_ok=True)
    contacts = [
        {
            "ContactID": "c0000000-0000-4000-8000-000000000001",
            "Name": "Acme Ltd",
            "ContactStatus": "ACTIVE",
            "IsCustomer": True,
            "UpdatedDateUTC": x_ms(1),
        }
    ]
    for name, body in (("Invoices", {"Invoices": invoices}), ("Contacts", {"Contacts": contacts})):
        text = json.dumps(body, default=str)
        for inv in invoices:  # Decimals back to JSON numbers
            for value in [*inv.values(), *(v for line in inv["LineItems"] for v in line.values())]:
                if isinstance(value, Decimal):
                    text = text.replace(f'"{value}"', str(value))
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def x_sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    root = write_ap_fixtures(tmp_path / "fx", [], [], [])
    write_xero_fixtures(root, [x_invoice(i) for i in range(250)])
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        assert sb.info["xero"], "the Xero emulator did not start"
        yield sb


@pytest.fixture
def x_info(x_sandboxes: Sandboxes) -> dict[str, str]:
    return dict(x_sandboxes.info["xero"])


@pytest.fixture
def x_admin(x_sandboxes: Sandboxes) -> Admin:
    assert x_sandboxes.xero is not None
    return Admin(x_sandboxes.xero.url)


class MemoryBox:
    """A SecretBox in memory that records every save (the services back it with the OS keyring)."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.secret: dict[str, str] = {}
        self.saved: list[dict[str, str]] = []
        self.events = events if events is not None else []

    def load(self) -> dict[str, str]:
        return dict(self.secret)

    def save(self, secret: dict[str, str]) -> None:
        self.secret = dict(secret)
        self.saved.append(dict(secret))
        self.events.append("save:" + secret["access_token"][-12:])


def make_x_client(
    info: dict[str, str], *, box: MemoryBox | None = None, page_size: int = 100, session: Any = None, **over: Any
) -> Any:
    from app.connectors.http import HttpClient, Pacer
    from app.connectors.xero.client import XeroClient, XeroConfig
    from app.connectors.xero.profile import XERO

    config = XeroConfig(
        url=info["url"],
        identity_url=info["identity_url"],
        client_id=info["client_id"],
        client_secret="" if box is not None else info["client_secret"],
        page_size=page_size,
        http=FAST,
        pacing=PacerConfig.unlimited(),
        **over,
    )
    http = None
    if session is not None:
        http = HttpClient(XERO, config=FAST, pacer=Pacer(PacerConfig.unlimited()), session=session)
    client = XeroClient(config, box=box, http=http)
    if not client.tenant_id:
        client.tenant_id = str(client.list_tenants()[0]["tenantId"])
    return client

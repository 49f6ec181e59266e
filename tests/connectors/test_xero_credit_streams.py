"""The `overpayments` and `prepayments` streams against the Xero emulator over real HTTP: paged in UpdatedDateUTC
order, incremental with If-Modified-Since from the watermark, each row giving its credit and one payment per
allocation (docs/reconciliation.md section 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from app.domain.progress import CancelToken
from app.domain.records import CreditNote, InvalidRecord, Payment, allocated_from
from app.domain.status import Kind
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes

from .conftest import Admin, make_x_client, write_ap_fixtures, write_xero_fixtures, x_ms


def credit(kind: str, i: int, **over: Any) -> dict[str, Any]:
    id_name = "OverpaymentID" if kind == "Overpayments" else "PrepaymentID"
    record: dict[str, Any] = {
        id_name: f"{kind[:2].lower()}000000-0000-4000-8000-{i:012d}",
        "Type": "RECEIVE-OVERPAYMENT" if kind == "Overpayments" else "RECEIVE-PREPAYMENT",
        "Status": "AUTHORISED",
        "Reference": f"BACS {i}",
        "Contact": {"Name": "Acme Ltd"},
        "Date": x_ms(3),
        "CurrencyCode": "GBP",
        "Total": 150,
        "RemainingCredit": 30,
        "UpdatedDateUTC": x_ms(4, minute=i),
        "Allocations": [
            {
                "AllocationID": f"a{kind[:1].lower()}000000-0000-4000-8000-{i:012d}",
                "Amount": 120,
                "Date": x_ms(5),
                "Invoice": {"InvoiceID": f"i{i}", "InvoiceNumber": f"INV-{2000 + i}"},
            }
        ],
    }
    record.update(over)
    return record


@pytest.fixture
def credit_sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    root = write_xero_fixtures(write_ap_fixtures(tmp_path / "fx", [], [], []), [])
    overpayments = [credit("Overpayments", i) for i in range(25)]
    overpayments.append(credit("Overpayments", 99, Type="SPEND-OVERPAYMENT"))  # a supplier's: kept, not reconciled
    overpayments.append(credit("Overpayments", 98, Total="lots"))  # unreadable: invalid, the page goes on
    prepayments = [credit("Prepayments", i, RemainingCredit=0, Total=120) for i in range(3)]
    for name, rows in (("Overpayments", overpayments), ("Prepayments", prepayments)):
        (root / "xero" / f"{name}.json").write_text(json.dumps({name: rows}), encoding="utf-8")
    with start_sandboxes(SandboxOptions(fixtures=str(root))) as sb:
        assert sb.info["xero"], "the Xero emulator did not start"
        yield sb


def read(client: Any, stream: str, cursor: dict[str, Any] | None = None, full: bool = False) -> list[Any]:
    return list(client.read(stream, cursor, full=full, cancel=CancelToken()))


def test_overpayments_are_paged_and_read_again_only_when_changed(credit_sandboxes: Sandboxes) -> None:
    info = dict(credit_sandboxes.info["xero"])
    assert credit_sandboxes.xero is not None
    admin = Admin(credit_sandboxes.xero.url)
    client = make_x_client(info, page_size=10, overlap_seconds=0)
    admin.reset()
    pages = read(client, "overpayments", full=True)
    calls = [r for r in admin.requests() if r["path"].endswith("/Overpayments")]
    assert [parse_qs(c["query"])["page"] for c in calls] == [["1"], ["2"], ["3"]]
    assert parse_qs(calls[0]["query"])["order"] == ["UpdatedDateUTC ASC"]
    records = [r for p in pages for r in p.records]
    credits = [r for r in records if isinstance(r, CreditNote)]
    allocations = [r for r in records if isinstance(r, Payment)]
    assert len(credits) == 25 and {c.kind for c in credits} == {Kind.OVERPAYMENT}
    assert len(allocations) == 25 and all(allocated_from(a) == (Kind.OVERPAYMENT, a.group[12:]) for a in allocations)
    assert {a.invoice_number for a in allocations} == {f"INV-{2000 + i}" for i in range(25)}
    [bad] = [r for r in records if isinstance(r, InvalidRecord)]
    assert bad.reason.startswith("overpayment: bad amount Total")
    assert sum(isinstance(r, dict) for r in records) == 1  # the supplier's overpayment, stored as it came
    for page in pages:  # a credit's row rides once for it and once per allocation
        assert len(page.raws) == len(page.records)
    cursor = pages[-1].cursor
    assert cursor["done"] and cursor["watermark"] == "2026-10-04T01:39:00"  # minute 99 of the 4th
    admin.reset()
    again = read(make_x_client(info, page_size=10, overlap_seconds=0), "overpayments", cursor)
    [call] = [r for r in admin.requests() if r["path"].endswith("/Overpayments")]
    assert call["status"] == 200
    assert [r for p in again for r in p.records if isinstance(r, CreditNote)] == []  # nothing changed since
    assert len([r for p in again for r in p.records]) == 1  # only the one stamped at the watermark second
    assert again[-1].cursor["since"] == "2026-10-04T01:39:00"  # sent as If-Modified-Since


def test_prepayments_map_as_prepayments_with_their_allocations(credit_sandboxes: Sandboxes) -> None:
    client = make_x_client(dict(credit_sandboxes.info["xero"]))
    records = [r for p in read(client, "prepayments", full=True) for r in p.records]
    credits = [r for r in records if isinstance(r, CreditNote)]
    assert len(credits) == 3 and {(c.kind, c.remaining) for c in credits} == {(Kind.PREPAYMENT, 0)}
    assert all(allocated_from(r) is not None for r in records if isinstance(r, Payment))

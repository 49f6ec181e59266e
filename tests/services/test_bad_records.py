"""One bad record never stops a sync: 78 malformed records, written into a generated month's fixture files and
served by the real emulators, each become `invalid` with its reason, and every other item of the month gets the
status it has when the month is clean (a first sync, so a lost page would turn its items one-sided).

The records travel as JSON text through the fixture files (product.md section 4), so a lone `\\ud800` escape, a
400-digit number or `1E+30` reach the connectors exactly as a service would send them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from services_clients import SandboxClientFactory

from app.connectors.http import dumps
from app.credentials import MemoryCredentialStore
from app.domain.status import System
from app.sandbox import generator
from app.sandbox.runner import SandboxOptions, start_sandboxes
from app.services.api import ConnectionInfo
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database

SEED, INVOICES, MONTH = 7, 250, "2026-10"
BIG = "9" * 400
SURROGATE = "\ud800"
MS_FAR = "/Date(99999999999999999)/"

Data = dict[str, Any]
# (case, system, the spoiled record's id, ids of its records and of those that depend on it, invoice number, words)
Spoiled = tuple[str, str, str, set[str], str, str]


def setter(field: str, value: Any, *drop: str) -> Callable[[dict[str, Any]], None]:
    def change(rec: dict[str, Any]) -> None:
        if value is _ABSENT:
            rec.pop(field, None)
        else:
            rec[field] = value
        for name in drop:
            rec.pop(name, None)

    return change


def line_setter(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(rec: dict[str, Any]) -> None:
        rec["LineItems"][0][field] = value

    return change


_ABSENT = object()

# (case, collection, change, the reason's words). Collections: ap:Invoice, ap:InvoiceItem (its invoice becomes
# invalid), ap:Transaction, xero:Invoices, xero:Payments. Each case changes a different record.
CASES: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("ap amount 1E+30", "ap:Invoice", setter("Amount", Decimal("1E+30")), "bad amount Amount"),
    ("ap amount 400 digits", "ap:Invoice", setter("Amount", Decimal(BIG)), "bad amount Amount"),
    ("ap amount past int64", "ap:Invoice", setter("Amount", 99999999999999999999), "out of range"),
    ("ap amount text 400 digits", "ap:Invoice", setter("Amount", BIG), "bad amount Amount"),
    ("ap amount comma", "ap:Invoice", setter("Amount", "12,50"), "bad amount Amount"),
    ("ap amount NaN text", "ap:Invoice", setter("Amount", "NaN"), "bad amount Amount"),
    ("ap amount Infinity text", "ap:Invoice", setter("Amount", "Infinity"), "bad amount Amount"),
    ("ap amount true", "ap:Invoice", setter("Amount", True), "bad amount Amount"),
    ("ap amount object", "ap:Invoice", setter("Amount", {}), "bad amount Amount"),
    ("ap amount list", "ap:Invoice", setter("Amount", [1]), "bad amount Amount"),
    ("ap amount empty", "ap:Invoice", setter("Amount", ""), "bad amount Amount"),
    ("ap amount tiny", "ap:Invoice", setter("Amount", "1e-999999"), "bad amount Amount"),
    ("ap amount sub-penny", "ap:Invoice", setter("Amount", Decimal("0.001")), "cannot be stored exactly"),
    ("ap tax missing", "ap:Invoice", setter("Tax", _ABSENT), "missing amount Tax"),
    ("ap tax text", "ap:Invoice", setter("Tax", "abc"), "bad amount Tax"),
    ("ap paid huge", "ap:Invoice", setter("AmountPaid", "1E+30"), "bad amount AmountPaid"),
    ("ap outstanding junk", "ap:Invoice", setter("Outstanding", "x"), "bad amount Outstanding"),
    ("ap number null", "ap:Invoice", setter("Reference", None), "missing invoice number"),
    ("ap number empty", "ap:Invoice", setter("Reference", ""), "missing invoice number"),
    ("ap number object", "ap:Invoice", setter("Reference", {"a": 1}), "bad text Reference"),
    ("ap number surrogate", "ap:Invoice", setter("Reference", SURROGATE), "bad text Reference"),
    ("ap status unknown", "ap:Invoice", setter("Status", "Weird"), "unknown status"),
    ("ap status null", "ap:Invoice", setter("Status", None), "unknown status"),
    ("ap status object", "ap:Invoice", setter("Status", {}), "bad text Status"),
    ("ap created missing", "ap:Invoice", setter("DateCreated", None), "missing date DateCreated"),
    ("ap created month 13", "ap:Invoice", setter("DateCreated", "2026-13-45T00:00:00"), "bad date DateCreated"),
    ("ap created surrogate", "ap:Invoice", setter("DateCreated", SURROGATE), "bad date DateCreated"),
    ("ap created number", "ap:Invoice", setter("DateCreated", 12345), "bad date DateCreated"),
    ("ap created 400 digits", "ap:Invoice", setter("DateCreated", BIG), "bad date DateCreated"),
    ("ap due junk", "ap:Invoice", setter("DateDue", "yesterday"), "bad date DateDue"),
    ("ap currency object", "ap:Invoice", setter("CurrencyCode", {}), "bad text CurrencyCode"),
    ("ap contact list", "ap:Invoice", setter("TargetLabel", ["x"]), "bad text TargetLabel"),
    ("ap po object", "ap:Invoice", setter("PONumber", {"a": 1}), "bad text PONumber"),
    ("ap item amount comma", "ap:InvoiceItem", setter("Amount", "12,50"), "bad amount Amount"),
    ("ap item tax NaN", "ap:InvoiceItem", setter("Tax", "NaN"), "bad amount Tax"),
    ("ap item label object", "ap:InvoiceItem", setter("DynamicLabel", {}), "bad text DynamicLabel"),
    ("ap item amount huge", "ap:InvoiceItem", setter("Amount", Decimal("1E+30")), "bad amount Amount"),
    ("ap payment 1E+30", "ap:Transaction", setter("Amount", Decimal("1E+30")), "bad amount Amount"),
    ("ap payment negative", "ap:Transaction", setter("Amount", Decimal("-5")), "must be more than 0"),
    ("ap payment zero", "ap:Transaction", setter("Amount", Decimal("0")), "must be more than 0"),
    ("ap payment type", "ap:Transaction", setter("TransactionType", "Gift"), "unknown transaction type"),
    ("ap payment no date", "ap:Transaction", setter("TransactionDate", None), "missing date TransactionDate"),
    ("ap payment ms date", "ap:Transaction", setter("TransactionDate", "/Date(1)/"), "bad date TransactionDate"),
    ("ap payment id superscript", "ap:Transaction", setter("InvoiceID", "²"), "not known (²)"),
    ("ap payment no invoice", "ap:Transaction", setter("InvoiceID", None), "missing InvoiceID"),
    ("ap payment reference surrogate", "ap:Transaction", setter("Reference", SURROGATE), "bad text Reference"),
    ("ap payment currency list", "ap:Transaction", setter("CurrencyCode", []), "bad text CurrencyCode"),
    ("ap payment amount 400", "ap:Transaction", setter("Amount", Decimal(BIG)), "bad amount Amount"),
    ("xero total 1E+30", "xero:Invoices", setter("Total", Decimal("1E+30")), "bad amount Total"),
    ("xero total 400 digits", "xero:Invoices", setter("Total", Decimal(BIG)), "bad amount Total"),
    ("xero subtotal missing", "xero:Invoices", setter("SubTotal", _ABSENT), "missing amount SubTotal"),
    ("xero due NaN", "xero:Invoices", setter("AmountDue", "NaN"), "bad amount AmountDue"),
    ("xero date far", "xero:Invoices", setter("Date", MS_FAR, "DateString"), "bad date Date"),
    ("xero date far back", "xero:Invoices", setter("Date", "/Date(-99999999999999999)/", "DateString"), "bad date"),
    ("xero due date far", "xero:Invoices", setter("DueDate", MS_FAR, "DueDateString"), "bad date DueDate"),
    ("xero unit comma", "xero:Invoices", line_setter("UnitAmount", "12,50"), "bad amount UnitAmount"),
    ("xero unit NaN", "xero:Invoices", line_setter("UnitAmount", "NaN"), "bad amount UnitAmount"),
    ("xero unit Infinity", "xero:Invoices", line_setter("UnitAmount", "Infinity"), "bad amount UnitAmount"),
    ("xero account object", "xero:Invoices", line_setter("AccountCode", {}), "bad text AccountCode"),
    ("xero quantity huge", "xero:Invoices", line_setter("Quantity", "1E+30"), "bad amount Quantity"),
    ("xero line amount 400", "xero:Invoices", line_setter("LineAmount", Decimal(BIG)), "bad amount LineAmount"),
    ("xero lines text", "xero:Invoices", setter("LineItems", "abc"), "bad LineItems"),
    ("xero line number", "xero:Invoices", setter("LineItems", [1]), "bad line item"),
    ("xero number null", "xero:Invoices", setter("InvoiceNumber", None), "missing invoice number"),
    ("xero number surrogate", "xero:Invoices", setter("InvoiceNumber", SURROGATE), "bad text InvoiceNumber"),
    ("xero status unknown", "xero:Invoices", setter("Status", "WEIRD"), "unknown status"),
    ("xero contact name object", "xero:Invoices", setter("Contact", {"Name": {}}), "bad text Name"),
    ("xero currency object", "xero:Invoices", setter("CurrencyCode", {}), "bad text CurrencyCode"),
    ("xero payment 1E+30", "xero:Payments", setter("Amount", Decimal("1E+30")), "bad amount Amount"),
    ("xero payment negative", "xero:Payments", setter("Amount", Decimal("-1")), "must be more than 0"),
    ("xero payment no amount", "xero:Payments", setter("Amount", _ABSENT), "missing amount Amount"),
    ("xero payment date far", "xero:Payments", setter("Date", MS_FAR), "bad date Date"),
    ("xero payment no date", "xero:Payments", setter("Date", _ABSENT), "missing date Date"),
    ("xero payment date surrogate", "xero:Payments", setter("Date", SURROGATE), "bad date Date"),
    ("xero payment reference surrogate", "xero:Payments", setter("Reference", SURROGATE), "bad text Reference"),
    ("xero payment account code list", "xero:Payments", setter("Account", {"Code": []}), "bad text Code"),
    ("xero payment Infinity", "xero:Payments", setter("Amount", "Infinity"), "bad amount Amount"),
    ("xero payment comma", "xero:Payments", setter("Amount", "12,50"), "bad amount Amount"),
]


def write_fixtures(root: Path, ap: Data, xero: Data) -> Path:
    """The section 4 layout, written as JSON text with Decimals as exact numbers and non-ASCII as escapes."""
    for name, rows in ap.items():
        path = root / "accessplanit" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps({"results": rows}), encoding="ascii")
    for name, envelope in xero.items():
        path = root / "xero" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(envelope), encoding="ascii")
    return root


def first_sync(directory: Path, cache: Database) -> dict[str, Any]:
    """Serve the fixtures, sync them once into `cache`, and return the whole report (every period)."""
    with start_sandboxes(SandboxOptions(fixtures=str(directory))) as boxes:
        ws = Workspace(cache, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "test", who="tester")
        ap, xe = boxes.info["accessplanit"], boxes.info["xero"]
        ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password"), ap["password"])
        ws.save_connection(
            ConnectionInfo(
                System.XERO,
                xe["url"],
                auth="client_credentials",
                identity_url=xe["identity_url"],
                client_id=xe["client_id"],
            ),
            xe["client_secret"],
        )
        result = ws.sync(full=True)
        assert result.ok, result.errors
        return ws.report(None)


@pytest.fixture(scope="module")
def month() -> tuple[Data, Data]:
    ds = generator.generate(seed=SEED, invoices=INVOICES, month=MONTH)
    return dict(ds.accessplanit), dict(ds.xero)


@pytest.fixture(scope="module")
def clean_report(month: tuple[Data, Data], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("clean")
    cache = Database(f"sqlite:///{root / 'cache.sqlite3'}")
    cache.migrate()
    try:
        yield first_sync(write_fixtures(root / "fixtures", *month), cache)
    finally:
        cache.dispose()


def _rows(ap: Data, xero: Data, collection: str) -> list[dict[str, Any]]:
    system, name = collection.split(":")
    if system == "ap":
        return list(ap[name])
    return list(xero[name][name])


def spoil(ap: Data, xero: Data) -> list[Spoiled]:
    """Apply every case to its own record; returns (case, system, record id, invoice numbers touched, words)."""
    ap_numbers = {str(r["ID"]): r["Reference"] for r in ap["Invoice"]}
    used: set[str] = set()  # invoice numbers already spoiled: one case per invoice, so each is judged alone
    changed: set[int] = set()  # the records changed (by identity: a changed record's own fields are no guide)
    done: list[Spoiled] = []
    for case, collection, change, words in CASES:
        for rec in _rows(ap, xero, collection):
            if id(rec) in changed:
                continue
            if collection == "ap:Invoice":
                number, rid, system = rec["Reference"], str(rec["ID"]), "accessplanit"
            elif collection in ("ap:InvoiceItem", "ap:Transaction"):
                number, rid, system = ap_numbers.get(str(rec["InvoiceID"])), str(rec["InvoiceID"]), "accessplanit"
                if collection == "ap:Transaction":
                    rid = str(rec["ID"])
            elif collection == "xero:Invoices":
                if rec.get("Type") != "ACCREC" or not rec.get("LineItems"):
                    continue
                number, rid, system = rec["InvoiceNumber"], rec["InvoiceID"], "xero"
            else:
                if rec.get("PaymentType") != "ACCRECPAYMENT":
                    continue
                number, rid, system = rec["Invoice"]["InvoiceNumber"], rec["PaymentID"], "xero"
            if not isinstance(number, str) or number in used:
                continue
            used.add(number)
            changed.add(id(rec))
            change(rec)
            related = {rid}
            if collection in ("ap:Invoice", "ap:InvoiceItem"):  # its payments cannot be placed on it any more
                invoice_id = str(rec["ID"]) if collection == "ap:Invoice" else str(rec["InvoiceID"])
                related |= {str(t["ID"]) for t in ap["Transaction"] if str(t["InvoiceID"]) == invoice_id}
            done.append((case, system, rid, related, number, words))
            break
        else:
            raise AssertionError(f"no record left for {case}")
    return done


@pytest.fixture(scope="module")
def spoiled(
    month: tuple[Data, Data], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], list[Spoiled]]]:
    ap, xero = copy.deepcopy(month)
    done = spoil(ap, xero)
    root = tmp_path_factory.mktemp("spoiled")
    cache = Database(f"sqlite:///{root / 'cache.sqlite3'}")
    cache.migrate()
    try:
        yield first_sync(write_fixtures(root / "fixtures", ap, xero), cache), done
    finally:
        cache.dispose()


def _entries(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list(report["items"]) + [dict(u, status="invalid") for u in report.get("unreadable", [])]


def test_the_table_has_78_cases() -> None:
    assert len(CASES) == 78
    assert len({c[0] for c in CASES}) == 78


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_each_bad_record_is_invalid_with_its_reason(index: int, spoiled: tuple[dict[str, Any], list[Spoiled]]) -> None:
    report, done = spoiled
    case, system, rid, _, _, words = done[index]
    id_key = "accessplanit_id" if system == "accessplanit" else "xero_id"
    found = [e for e in _entries(report) if e.get(id_key) == rid and e["status"] == "invalid"]
    assert len(found) == 1, (case, [e for e in _entries(report) if e.get(id_key) == rid])
    assert words in found[0]["reason"], (case, found[0]["reason"])


def test_every_other_item_keeps_the_status_of_the_clean_month(
    clean_report: dict[str, Any], spoiled: tuple[dict[str, Any], list[Spoiled]]
) -> None:
    report, done = spoiled
    touched = {number for *_, number, _ in done}
    # The spoiled records and those that depend on them (some without a readable number, so not found by it).
    bad = {(system, rid) for _, system, _, related, _, _ in done for rid in related}

    def others(rep: dict[str, Any]) -> dict[tuple[str, str], str]:
        return {
            (e["kind"], e["key"]): e["status"]
            for e in _entries(rep)
            if e.get("invoice") not in touched
            and e["key"] not in touched
            and ("accessplanit", e.get("accessplanit_id")) not in bad
            and ("xero", e.get("xero_id")) not in bad
        }

    clean, after = others(clean_report), others(report)
    assert len(clean) > 100  # most of the month is untouched: the comparison means something
    assert after == clean

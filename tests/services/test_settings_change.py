"""Changing settings through the workspace on a real SQLite cache: validated from the declaration, saved, audited,
and only the items a setting can affect are re-reconciled, at once, without a sync."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from services_clients import SandboxClientFactory
from services_samples import invoice, payment, store

from app.credentials import MemoryCredentialStore
from app.domain.keys import invoice_key
from app.domain.status import ItemStatus, Kind, System
from app.services import settings_change
from app.services.api import ItemFilter
from app.services.reconciling import reconcile_all
from app.services.workspace import Workspace
from app.settings import GROUPS, META, SETTINGS, SettingError, Settings, parse_value
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage.db import Database

AP, XERO = System.ACCESSPLANIT, System.XERO


def _cache(db: Database) -> None:
    """INV-1 differs by 0.02 in its amounts; INV-2 matches; INV-3 differs in its PO number only; INV-4 has a paired
    Card payment; INV-5 has payments two days apart with different references (one-sided both); INV-6's contacts
    differ only by a suffix."""
    store(
        db,
        AP,
        [
            invoice(AP, "a1", "INV-1", total="120.00"),
            invoice(AP, "a2", "INV-2"),
            invoice(AP, "a3", "INV-3", po="PO-A"),
            invoice(AP, "a4", "INV-4"),
            invoice(AP, "a5", "INV-5"),
            invoice(AP, "a6", "INV-6", contact="Acme Training Ltd"),
            payment(AP, "ap4", "INV-4", amount="120.00", method="Card", reference="R4"),
            payment(AP, "ap5", "INV-5", amount="120.00", day=date(2026, 10, 14), reference="A5"),
        ],
    )
    store(
        db,
        XERO,
        [
            invoice(XERO, "x1", "INV-1", total="120.02"),
            invoice(XERO, "x2", "INV-2"),
            invoice(XERO, "x3", "INV-3", po="PO-B"),
            invoice(XERO, "x4", "INV-4"),
            invoice(XERO, "x5", "INV-5"),
            invoice(XERO, "x6", "INV-6", contact="ACME Training Limited."),
            payment(XERO, "xp4", "INV-4", amount="120.00", method="091", reference="R4"),
            payment(XERO, "xp5", "INV-5", amount="120.00", day=date(2026, 10, 16), reference="B5", method="090"),
        ],
    )
    reconcile_all(db, Settings())


@pytest.fixture
def ws(cache: Database) -> Workspace:
    _cache(cache)
    saved: list[Settings] = []
    w = Workspace(cache, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "p1", "tester", saved.append)
    w.saved = saved  # type: ignore[attr-defined]
    return w


def _invoice_status(ws: Workspace, number: str) -> str:
    (row,) = [r for r in ws.rows(ws.item_ids(ItemFilter())) if r.key == invoice_key(number) and r.kind is Kind.INVOICE]
    return str(row.status)


def _snapshot(db: Database) -> dict[tuple[str, str], tuple[Any, ...]]:
    with db.transaction() as tx:
        rows = items_repo.item_rows(tx, sorted(items_repo.statuses_on_keys(tx, items_repo.item_invoice_keys(tx))))
    return {(str(r.kind), r.key): (r.id, str(r.status), tuple(r.fields), r.fingerprint) for r in rows}


def _audit(db: Database) -> list[Any]:
    with db.transaction() as tx:
        return [e for e in audit_repo.list_audit(tx, 100) if e.action == settings_change.AUDIT_ACTION]


def test_a_wider_tolerance_matches_the_002_item_at_once_and_redoes_only_what_it_can_affect(ws: Workspace) -> None:
    assert _invoice_status(ws, "INV-1") == ItemStatus.DIFFERS
    before = _snapshot(ws.db)
    with ws.db.transaction() as tx:
        keys = settings_change.affected_keys(tx, ws.settings, Settings(money_tolerance=Decimal("0.05")))
    assert keys == {"INV-1", "INV-5"}  # the amounts of INV-1; the one-sided payments of INV-5

    result = ws.change_settings({"money_tolerance": "0.05"})

    assert result.ok, result.message
    assert _invoice_status(ws, "INV-1") == ItemStatus.MATCHED
    assert ws.settings.money_tolerance == Decimal("0.05") and ws.rules.money_tolerance == Decimal("0.05")
    assert ws.saved[-1].money_tolerance == Decimal("0.05")  # type: ignore[attr-defined]
    assert "0.01 -> 0.05" in result.message and "1 changed status" in result.message
    after = _snapshot(ws.db)
    redone = {k for k in after if after[k] != before.get(k)}
    assert redone == {("invoice", "INV-1")}
    changed_ids = {after[k][0] for k in after if k[1].startswith(("INV-1", "INV-5"))}
    assert result.changes.changed == changed_ids and result.changes.counts
    (entry,) = _audit(ws.db)
    assert (entry.who, entry.item_key) == ("tester", "money_tolerance")
    assert '"0.01"' in entry.before and '"0.05"' in entry.after
    assert ws.verify_audit().ok


def test_a_pacing_or_name_change_re_reconciles_nothing(ws: Workspace) -> None:
    before = _snapshot(ws.db)
    result = ws.change_settings({"xero_calls_per_minute": "30", "page_size": 500, "user_name": "Ann  Lee"})
    assert result.ok, result.message
    assert "nothing to re-reconcile" in result.message
    assert not result.changes.items and not result.changes.counts and result.changes.audit
    assert _snapshot(ws.db) == before
    assert (ws.settings.xero_calls_per_minute, ws.settings.page_size, ws.who) == (30, 500, "Ann Lee")
    assert {e.item_key for e in _audit(ws.db)} == {"xero_calls_per_minute", "page_size", "user_name"}


def test_a_method_mapping_change_redoes_only_payments_with_that_method(ws: Workspace) -> None:
    with ws.db.transaction() as tx:
        new = Settings(method_accounts={**Settings().method_accounts, "Card": "099"})
        assert settings_change.affected_keys(tx, ws.settings, new) == {"INV-4"}
        assert settings_change.affected_keys(tx, ws.settings, Settings(method_accounts={"Card": "091"})) == set()
    before = _snapshot(ws.db)
    result = ws.change_settings({"method_accounts": "Card=099, BACS=090"})
    assert result.ok, result.message
    after = _snapshot(ws.db)
    (pay,) = [k for k in after if k[0] == "payment" and k[1].startswith("INV-4")]
    assert before[pay][1:3] == ("matched", ()) and after[pay][1:3] == ("differs", ("method",))
    assert {k for k in after if after[k] != before.get(k)} == {pay}


def test_a_tighter_tolerance_redoes_everything(ws: Workspace) -> None:
    ws.change_settings({"money_tolerance": "0.05"})
    with ws.db.transaction() as tx:
        assert settings_change.affected_keys(tx, ws.settings, Settings()) is None
    result = ws.change_settings({"money_tolerance": "0.01"})
    assert result.ok and result.changes.everything
    assert _invoice_status(ws, "INV-1") == ItemStatus.DIFFERS


def test_date_window_and_contact_normalisation_apply_without_a_sync(ws: Workspace) -> None:
    snap = _snapshot(ws.db)
    assert sum(1 for k, v in snap.items() if k[1].startswith("INV-5") and k[0] == "payment") == 2
    assert _invoice_status(ws, "INV-6") == ItemStatus.DIFFERS
    assert ws.change_settings({"payment_date_window_days": "2", "contact_ignore_suffixes": "on"}).ok
    after = _snapshot(ws.db)
    (pay,) = [v for k, v in after.items() if k[1].startswith("INV-5") and k[0] == "payment"]
    assert pay[1:3] == ("differs", ("date", "reference"))
    assert _invoice_status(ws, "INV-6") == ItemStatus.MATCHED


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"money_tolerance": "-1"}, "must be at least 0"),
        ({"money_tolerance": "abc"}, "must be a number"),
        ({"money_tolerance_percent": "101"}, "must be at most 100"),
        ({"payment_date_window_days": "1.5"}, "must be a whole number"),
        ({"contact_ignore_suffixes": "maybe"}, "must be on or off"),
        ({"method_accounts": "BACS"}, "is not NAME=VALUE"),
        ({"sales_account_code": " "}, "may not be empty"),
        ({"no_such_thing": "1"}, "no setting called"),
    ],
)
def test_a_bad_value_changes_nothing(ws: Workspace, changes: dict[str, str], why: str) -> None:
    before = _snapshot(ws.db)
    result = ws.change_settings({"xero_calls_per_minute": "30", **changes})
    assert not result.ok and result.refused == "invalid_setting" and why in result.message
    assert "\n" not in result.message
    assert ws.settings == Settings() and not ws.saved  # type: ignore[attr-defined]
    assert _snapshot(ws.db) == before and not _audit(ws.db)


def test_every_setting_is_declared_once_with_its_metadata() -> None:
    assert [m.name for m in SETTINGS] == [f.name for f in fields(Settings)]
    for m in SETTINGS:
        assert m.label and m.help, m.name
        assert m.group in GROUPS and m.scope in ("firm", "personal")
        assert set(m.affects) <= {"invoices", "payments"}
        assert parse_value(m.name, m.default) == m.default  # every default passes its own validation
    firm = {m.name for m in SETTINGS if m.scope == "firm"}
    assert {"money_tolerance", "money_tolerance_percent", "method_accounts", "tax_rate_types"} <= firm
    assert META["user_name"].scope == META["xero_calls_per_minute"].scope == "personal"
    assert META["money_tolerance"].affects == ("invoices", "payments")
    assert META["method_accounts"].affects == ("payments",) and not META["xero_calls_per_minute"].affects
    with pytest.raises(SettingError):
        parse_value("page_size", True)


def test_the_view_offers_xero_accounts_and_tax_types_once_fetched(ws: Workspace, cache: Database) -> None:
    view = ws.settings_view()
    assert not view.fetched and view.get("sales_account_code").choices == ()
    assert view.get("method_accounts").mapping[0] == ("BACS", "090")
    from app.storage import records as records_repo

    with cache.transaction() as tx:
        accounts = [{"Code": "200", "Name": "Sales", "Status": "ACTIVE"}, {"Code": "9", "Status": "ARCHIVED"}]
        records_repo.upsert_page(tx, XERO, "accounts", accounts, accounts, {})
    view = ws.settings_view()
    assert view.fetched and [(c.code, c.label) for c in view.get("sales_account_code").choices] == [
        ("200", "200 Sales")
    ]


# --- the selective re-reconcile gives exactly what a full one gives, on a generated month with every scenario -------


def _state(db: Database) -> dict[tuple[str, str], tuple[Any, ...]]:
    with db.transaction() as tx:
        rows = items_repo.item_rows(tx, sorted(items_repo.statuses_on_keys(tx, items_repo.item_invoice_keys(tx))))
    return {
        (str(r.kind), r.key): (str(r.status), tuple(r.fields), r.fingerprint, tuple(r.flags), r.reason, r.twin)
        for r in rows
    }


@pytest.fixture(scope="module", params=[11, 3])
def generated(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    """A cache synced from the emulators with 300 generated invoices (every scenario, several times), two seeds."""
    from services_world import FAST

    from app.sandbox.runner import SandboxOptions, start_sandboxes
    from app.services.api import ConnectionInfo

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('gen') / 'cache.sqlite3'}")
    db.migrate()
    boxes = start_sandboxes(SandboxOptions(seed=request.param, invoices=300, month="2026-10"))
    try:
        w = Workspace(db, MemoryCredentialStore(), FAST, SandboxClientFactory(), "test", who="tester")
        ap, xe = boxes.info["accessplanit"], boxes.info["xero"]
        w.save_connection(ConnectionInfo(AP, ap["url"], ap["username"], "password"), ap["password"])
        w.save_connection(
            ConnectionInfo(
                XERO, xe["url"], auth="client_credentials", identity_url=xe["identity_url"], client_id=xe["client_id"]
            ),
            xe["client_secret"],
        )
        assert w.sync(full=True).ok
    finally:
        boxes.stop()
    yield db
    db.dispose()


CHANGES: list[dict[str, Any]] = [
    {"money_tolerance": "0.05"},
    {"money_tolerance": "25"},
    {"money_tolerance": "1000"},
    {"money_tolerance_percent": "2"},
    {"money_tolerance_percent": "100"},
    {"payment_date_window_days": "3"},
    {"payment_date_window_days": "60"},
    {"duplicate_window_days": "0"},
    {"duplicate_window_days": "30"},
    {"contact_ignore_suffixes": "on"},
    {"method_accounts": "BACS=091, Card=090, Cheque=092"},
    {"method_accounts": "BACS=090"},
    {"money_tolerance": "0.05", "payment_date_window_days": "2", "contact_ignore_suffixes": "on"},
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_re_reconciling_only_the_affected_keys_equals_a_full_reconcile(generated: Database, change: dict) -> None:
    db, base = generated, Settings()
    reconcile_all(db, base)
    done = settings_change.apply_changes(db, base, change, "tester")
    assert done.keys is not None  # a widening: not everything
    selective = _state(db)
    reconcile_all(db, done.settings)
    full = _state(db)
    assert selective == full
    reconcile_all(db, base)


def test_and_back_again_equals_a_full_reconcile(generated: Database) -> None:
    """Narrowing the date window, switching normalisation off, or a tighter tolerance after a wider one."""
    db = generated
    wide = parse_settings({"money_tolerance": "0.05", "payment_date_window_days": "3", "contact_ignore_suffixes": "on"})
    reconcile_all(db, wide)
    for change in ({"payment_date_window_days": "0"}, {"contact_ignore_suffixes": "off"}, {"money_tolerance": "0.01"}):
        done = settings_change.apply_changes(db, wide, change, "tester")
        selective = _state(db)
        reconcile_all(db, done.settings)
        assert selective == _state(db), change
        reconcile_all(db, wide)
    reconcile_all(db, Settings())


def parse_settings(changes: dict[str, str]) -> Settings:
    return settings_change.parse_changes(Settings(), changes)


def test_tax_rate_mapping_chooses_the_tax_type_of_pushed_lines() -> None:
    from app.domain.records import Line
    from app.services.plans import tax_type_for

    d = Decimal
    at_20, at_5, untaxed = Line("A", d(100), d(20)), Line("B", d(100), d(5)), Line("C", d(100), d(0))
    default = Settings()
    assert [tax_type_for(ln, default) for ln in (at_20, at_5, untaxed)] == ["OUTPUT2", "OUTPUT2", "ZERORATEDOUTPUT"]
    mapped = parse_settings({"tax_rate_types": "20=OUTPUT2, 5%=RROUTPUT, 0=EXEMPTOUTPUT, x=NONE"})
    assert [tax_type_for(ln, mapped) for ln in (at_20, at_5, untaxed)] == ["OUTPUT2", "RROUTPUT", "EXEMPTOUTPUT"]
    assert tax_type_for(Line("D", d(100), d("12.5")), mapped) == "OUTPUT2"  # a rate not listed: the sales tax type


def test_the_next_sync_after_a_change_stays_incremental(world: Any) -> None:
    from app.domain.progress import ProgressEvent
    from app.services.reconciling import RECONCILING

    def reconciled_keys(ws: Workspace) -> int:
        seen: list[ProgressEvent] = []
        assert ws.sync(progress=seen.append).ok
        return max((e.total or 0) for e in seen if e.stage == RECONCILING)

    ws = world.ws
    everything = len(world.scenarios)
    assert reconciled_keys(ws) < everything  # nothing changed: an incremental sync
    assert ws.change_settings({"money_tolerance": "0.05"}).ok
    assert reconciled_keys(ws) < everything  # the change re-reconciled what it affects; the sync need not redo all
    with ws.db.transaction() as tx:
        from app.storage import synclog

        assert synclog.last_run(tx).rules == settings_change.rules_digest(ws.settings)  # type: ignore[union-attr]

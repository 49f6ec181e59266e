"""`recondesk settings` as a script runs it: lists every declared setting (`--json`: one object), and `settings set
NAME VALUE` saves, audits and re-reconciles the affected items at once; a bad name or value is exit 2 with one line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from app.domain.records import Invoice, Line
from app.domain.status import InvoiceState, System
from app.services.reconciling import reconcile_all
from app.settings import SETTINGS, Settings
from app.storage import records as records_repo
from app.storage.db import Database

ROOT = Path(__file__).resolve().parents[1]


def _invoice(system: System, rid: str, total: str) -> Invoice:
    t = Decimal(total)
    return Invoice(
        system=system,
        id=rid,
        number="INV-7",
        contact="Acme Ltd",
        issue_date=date(2026, 10, 3),
        due_date=date(2026, 11, 2),
        po_number="PO-1",
        currency="GBP",
        net=t - 20,
        tax=Decimal(20),
        total=t,
        paid=Decimal(0),
        due=t,
        state=InvoiceState.OPEN,
        lines=(Line("Course", t - 20, Decimal(20)),),
    )


def _run(env: dict[str, str], db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "settings", "--db", db, "--profile", "clitest", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_settings_list_set_and_refuse(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    db = f"sqlite:///{path}"
    cache = Database(db)
    cache.migrate()
    for system, rid, total in ((System.ACCESSPLANIT, "a7", "120.00"), (System.XERO, "x7", "120.02")):
        with cache.transaction() as tx:
            records_repo.upsert_page(tx, system, "test", [_invoice(system, rid, total)], [{"ID": rid}], {})
    reconcile_all(cache, Settings())
    cache.dispose()
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())

    r = _run(env, db, "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["settings"]
    assert list(listed) == [m.name for m in SETTINGS]
    assert listed["money_tolerance"]["value"] == "0.01" and listed["money_tolerance"]["scope"] == "firm"
    assert listed["method_accounts"]["value"]["BACS"] == "090"
    assert "money_tolerance = 0.01" in _run(env, db).stdout

    with sqlite3.connect(path) as conn:
        assert conn.execute("select status from items where kind = 'invoice'").fetchone() == ("differs",)
    r = _run(env, db, "set", "money_tolerance", "0.05", "--who", "Cy")
    assert r.returncode == 0, r.stderr
    assert "0.01 -> 0.05" in r.stdout and "1 changed status" in r.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("select status from items where kind = 'invoice'").fetchone() == ("matched",)
        audit = conn.execute("select who, action, item_key from audit").fetchall()
    assert audit == [("Cy", "setting", "money_tolerance")]
    saved = json.loads((tmp_path / "xdg_config_home" / "Recondesk" / "clitest" / "settings.json").read_text())
    assert saved["money_tolerance"] == "0.05"
    assert json.loads(_run(env, db, "--json").stdout)["settings"]["money_tolerance"]["value"] == "0.05"

    for bad in (["set", "money_tolerance", "abc"], ["set", "nope", "1"], ["set", "page_size", "0"]):
        r = _run(env, db, *bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from audit").fetchone() == (1,)

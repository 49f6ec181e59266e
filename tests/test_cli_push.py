"""`recondesk push` and `recondesk revert` on the demo month (seed 1, 400 invoices), as a script would run them:
the dry run prints the exact write and sends nothing, a blanking write is refused (exit 3) unless `--clear`, a push
into a locked period is blocked before any call, and a pushed field is reverted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from test_cli_flow import ROOT, _connect_and_sync, _run


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    return env


@pytest.fixture
def demo(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    args = ["sandbox", "--invoices", "400", "--month", "2026-10", "--seed", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    try:
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _items(db: str, env: dict[str, str]) -> list[dict[str, Any]]:
    r = _run(["report", "--db", db, "--profile", "clitest", "--format", "json"], env=env)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout)["items"])


def _item_id(db: str, env: dict[str, str], kind: str, key: str) -> int:
    """The item's id: the cache is a plain SQLite file, read here as any script could."""

    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (found,) = conn.execute("SELECT id FROM items WHERE kind = ? AND key = ?", (kind, key)).fetchone()
    return int(found)


def _admin(info: dict[str, Any], what: str) -> Any:
    parts = urlsplit(info["xero"]["url"])
    return requests.get(f"{parts.scheme}://{parts.netloc}/__admin/{what}", timeout=10).json()


def _xero_invoice(info: dict[str, Any], number: str) -> dict[str, Any]:
    state = _admin(info, "state")
    [found] = [i for i in state["Invoices"]["Invoices"] if i.get("InvoiceNumber") == number]
    return dict(found)


def _xero_writes(info: dict[str, Any]) -> int:
    log = _admin(info, "requests")
    return sum(1 for e in log if e.get("method") in ("PUT", "POST") and "/api.xro/" in e.get("path", ""))


@pytest.mark.slow
def test_push_dry_run_blanking_clear_and_revert(
    demo: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    db = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    _connect_and_sync(demo, db, cli_env)
    common = ["--db", db, "--profile", "clitest"]
    # An invoice of the demo month with no PO number in accessplanit and one in Xero (INV-1036 in issue 13's month).
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        number, po = conn.execute(
            "SELECT s.number, l.po_number FROM records s JOIN records l ON l.number_key = s.number_key"
            " WHERE s.system = 'accessplanit' AND l.system = 'xero' AND s.kind = 'invoice' AND l.kind = 'invoice'"
            " AND coalesce(s.po_number, '') = '' AND coalesce(l.po_number, '') <> '' ORDER BY s.number LIMIT 1"
        ).fetchone()
    item = _item_id(db, cli_env, "invoice", number)
    assert _xero_invoice(demo, number)["Reference"] == po

    # The invoice has no PO number in accessplanit: the dry run shows the blanking write and exits 3.
    writes = _xero_writes(demo)
    r = _run(["push", str(item), "--field", "po_number", "--to", "xero", "--dry-run", *common], env=cli_env)
    assert r.returncode == 3, r.stdout + r.stderr
    plan = json.loads(r.stdout)
    assert plan["target"] == "xero" and plan["method"] == "POST" and plan["path"].startswith("Invoices/")
    assert plan["body"]["Invoices"][0]["Reference"] == "" and plan["needs"] == "clear" and plan["sent"] is False
    assert plan["changes"] == [{"field": "po_number", "label": "PO number", "before": po, "after": ""}]
    assert len(r.stderr.strip().splitlines()) == 1 and "--clear" in r.stderr

    # Without the dry run it is refused the same way, and nothing reaches Xero.
    r = _run(["push", str(item), "--field", "po_number", "--to", "xero", *common], env=cli_env)
    assert r.returncode == 3 and "blank" in r.stderr and "Traceback" not in r.stderr
    assert _xero_writes(demo) == writes and _xero_invoice(demo, number)["Reference"] == po

    # Choosing to clear: the dry run is clean, the push goes through.
    r = _run(["push", str(item), "--field", "po_number", "--to", "xero", "--clear", "--dry-run", *common], env=cli_env)
    assert r.returncode == 0 and json.loads(r.stdout)["problems"] == [], r.stderr
    assert _xero_writes(demo) == writes
    r = _run(["push", str(item), "--field", "po_number", "--to", "xero", "--clear", "--json", *common], env=cli_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
    assert _xero_invoice(demo, number)["Reference"] == "" and _xero_writes(demo) == writes + 1

    # Revert: Xero still holds what was written, so its PO number is written back.

    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (push_id,) = conn.execute("SELECT max(id) FROM pushes WHERE item_key = ?", (number,)).fetchone()
    r = _run(["revert", str(push_id), *common], env=cli_env)
    assert r.returncode == 2  # --note is required
    r = _run(["revert", str(push_id), "--note", "cleared by mistake", *common], env=cli_env)
    assert r.returncode == 0, r.stderr
    assert _xero_invoice(demo, number)["Reference"] == po
    # The revert itself cannot be reverted, and says why in one line with exit 1.
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (last,) = conn.execute("SELECT max(id) FROM pushes WHERE item_key = ?", (number,)).fetchone()
    r = _run(["revert", str(last), "--note", "again", *common], env=cli_env)
    assert r.returncode == 1 and "itself a revert" in r.stderr


@pytest.mark.slow
def test_push_into_a_locked_period_is_blocked_before_any_call(
    demo: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    db = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    _connect_and_sync(demo, db, cli_env)
    common = ["--db", db, "--profile", "clitest"]
    one_sided = [i for i in _items(db, cli_env) if i["kind"] == "invoice" and i["status"] == "only_in_source"]
    assert one_sided
    item = _item_id(db, cli_env, "invoice", one_sided[0]["key"])
    # The cache holds Xero's organisation as synced; a lock date set there is what the checks read.

    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (data,) = conn.execute(
            "SELECT data FROM reference_data WHERE system = 'xero' AND stream = 'organisation'"
        ).fetchone()
        org = json.loads(data)
        org["EndOfYearLockDate"] = "2026-10-31T00:00:00"
        conn.execute(
            "UPDATE reference_data SET data = ? WHERE system = 'xero' AND stream = 'organisation'", (json.dumps(org),)
        )
    writes = _xero_writes(demo)
    r = _run(["push", str(item), "--to", "xero", "--new-contact", "--dry-run", *common], env=cli_env)
    assert r.returncode == 3
    plan = json.loads(r.stdout)
    assert plan["blocked"] is True and "end of year lock date (2026-10-31)" in plan["problems"][0]
    r = _run(["push", str(item), "--to", "xero", "--new-contact", *common], env=cli_env)
    assert r.returncode == 3 and "lock date" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _xero_writes(demo) == writes
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (reason,) = conn.execute("SELECT blocked FROM items WHERE id = ?", (item,)).fetchone()
    assert "end of year lock date" in reason  # shown as the item's `blocked` flag with this reason

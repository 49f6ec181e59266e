"""`recondesk signoff` and the report's money and periods through the command line, as a script would run them, on
the demo month (the generator's defaults) synced into a real SQLite cache from the built-in sandboxes over HTTP.

The per-currency totals are checked against sums computed here from the sandboxes' own state (`/__admin/state`),
not from app code. Exit codes are product.md section 8's: 0 done, 2 bad usage (one line), 3 refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str], dict[str, Any]]]:
    """(database URL, SQLite file, environment, sandbox state) of the demo month synced; sandboxes stopped."""
    from app.composition import demo_workspace
    from app.settings import Settings

    tmp = tmp_path_factory.mktemp("signoff")
    fast = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10_000_000)
    ws, boxes = demo_workspace(tmp / "demo", settings=fast, faults="xero:limit_minute=100000,xero:limit_day=1000000")
    try:
        assert ws.sync(full=True).ok
        state = {
            name: requests.get(f"{server.url}/__admin/state", timeout=30).json(parse_float=Decimal)
            for name, server in (("accessplanit", boxes.accessplanit), ("xero", boxes.xero))
        }
    finally:
        boxes.stop()
        ws.db.dispose()
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    env["USER"] = env["LOGNAME"] = "oslogin"
    path = tmp / "demo" / "demo.sqlite3"
    yield f"sqlite:///{path}", path, env, state


def _run(db: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args, "--db", db, "--profile", "clitest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _report(db: str, env: dict[str, str], period: str) -> dict[str, Any]:
    r = _run(db, env, "report", "--period", period)
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout, parse_float=Decimal)
    return data


def _period(db: str, env: dict[str, str]) -> str:
    r = _run(db, env, "items", "--json")
    assert r.returncode == 0, r.stderr
    months = sorted({i["date"][:7] for i in json.loads(r.stdout)["items"] if i["date"]})
    return months[-1]


def test_per_currency_totals_agree_with_the_sandboxes_state(
    demo_month: tuple[str, Path, dict[str, str], dict[str, Any]],
) -> None:
    db, _path, env, state = demo_month
    period = _period(db, env)
    data = _report(db, env, period)
    invoices = [i for i in data["items"] if i["kind"] == "invoice" and i["status"] != "invalid"]
    ap_ids = {i["accessplanit_id"] for i in invoices if i["accessplanit_id"]}
    xero_ids = {i["xero_id"] for i in invoices if i["xero_id"]}
    ap_expected: dict[str, list[Any]] = {}
    for inv in state["accessplanit"]["Invoice"]["results"]:
        if str(inv["ID"]) in ap_ids:
            acc = ap_expected.setdefault(inv["CurrencyCode"], [0, Decimal(0), Decimal(0), Decimal(0)])
            acc[0] += 1
            acc[1] += Decimal(str(inv["Amount"])) + Decimal(str(inv["Tax"]))
            acc[2] += Decimal(str(inv["AmountPaid"]))
            acc[3] += Decimal(str(inv["Outstanding"]))
    xero_expected: dict[str, list[Any]] = {}
    for inv in state["xero"]["Invoices"]["Invoices"]:
        if inv["InvoiceID"] in xero_ids:
            acc = xero_expected.setdefault(inv["CurrencyCode"], [0, Decimal(0)])
            acc[0] += 1
            acc[1] += Decimal(str(inv["Total"]))
    assert len(ap_expected) > 1, "the demo month holds several currencies"
    ap = data["totals"]["accessplanit"]
    assert ap["total"] is None and ap["paid"] is None, "a sum across currencies must never be given"
    assert {
        code: [int(c["invoices"]), Decimal(c["total"]), Decimal(c["paid"]), Decimal(c["due"])]
        for code, c in ap["by_currency"].items()
    } == ap_expected
    xe = data["totals"]["xero"]
    assert xe["total"] is None
    assert {code: [int(c["invoices"]), Decimal(c["total"])] for code, c in xe["by_currency"].items()} == xero_expected
    for c in (*ap["by_currency"].values(), *xe["by_currency"].values()):
        assert all(isinstance(v, str) for v in c.values())


def test_signoff_is_refused_while_open_then_signed_with_exceptions_and_shown_in_the_report(
    demo_month: tuple[str, Path, dict[str, str], dict[str, Any]],
) -> None:
    db, path, env, _state = demo_month
    period = _period(db, env)
    refused = _run(db, env, "signoff", "--period", period, "--note", "done")
    assert refused.returncode == 3 and refused.stderr.count("\n") == 1 and "open" in refused.stderr
    assert _report(db, env, period)["signoff"] is None
    r = _run(db, env, "signoff", "--period", period, "--with-exceptions", "--note", "bank agreed", "--json")
    assert r.returncode == 0, r.stderr
    signed = json.loads(r.stdout)
    assert signed["ok"] and signed["by"] == "oslogin" and signed["with_exceptions"] is True
    open_keys = {i["key"] for i in _report(db, env, period)["items"] if i["status"] not in ("matched", "resolved")}
    assert set(signed["exceptions"]) == open_keys and open_keys
    assert {t["currency"] for t in signed["totals"]} >= {"GBP"} and len(signed["hash"]) == 64
    report = _report(db, env, period)["signoff"]
    assert {k: report[k] for k in ("by", "at", "note", "with_exceptions", "hash")} == {
        k: signed[k] for k in ("by", "at", "note", "with_exceptions", "hash")
    }
    with sqlite3.connect(path) as raw:
        action, key, who = raw.execute("SELECT action, item_key, who FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert (action, key, who) == ("signoff", period, "oslogin")
    assert _run(db, env, "audit", "verify").returncode == 0


@pytest.mark.parametrize("bad", ["2026-13", "october", "2026-1", "2026-00"])
def test_a_bad_period_is_bad_usage_with_one_line(
    demo_month: tuple[str, Path, dict[str, str], dict[str, Any]], bad: str
) -> None:
    db, _path, env, _state = demo_month
    for args in (("report", "--period", bad), ("items", "--period", bad), ("signoff", "--period", bad, "--note", "x")):
        r = _run(db, env, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and "YYYY-MM" in r.stderr and "Traceback" not in r.stderr

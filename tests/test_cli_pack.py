"""`recondesk pack` as a script would run it: a real `python -m app` process on a real SQLite cache synced from the
built-in sandboxes over HTTP. The files are private, the PDF's text (pdftotext) holds every exception's full key and
date and its page numbers, the workbook's amounts are numbers; a bad period or a folder that cannot be made is one
line and exit 2 (product.md section 8)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parents[1]
MONTH = "2026-10"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """(database URL, environment): a demo month synced into a cache file, sandboxes stopped."""
    from app.composition import demo_workspace
    from app.settings import Settings

    tmp = tmp_path_factory.mktemp("pack")
    fast = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10_000_000)
    ws, boxes = demo_workspace(
        tmp / "demo",
        invoices=80,
        month=MONTH,
        settings=fast,
        faults="xero:limit_minute=100000,xero:limit_day=1000000",
    )
    try:
        assert ws.sync(full=True).ok
    finally:
        boxes.stop()
        ws.db.dispose()
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    yield f"sqlite:///{tmp / 'demo' / 'demo.sqlite3'}", env


def _run(db: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "pack", *args, "--db", db, "--profile", "clitest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _report(db: str, env: dict[str, str]) -> dict[str, object]:
    import json

    r = subprocess.run(
        [sys.executable, "-m", "app", "report", "--period", MONTH, "--db", db, "--profile", "clitest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_pack_writes_three_private_files_that_hold_every_exception(
    synced: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    db, env = synced
    out = tmp_path / "made" / "here"
    r = _run(db, env, "--period", MONTH, "-o", str(out))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"recondesk-pack-{MONTH}.{ext}" for ext in ("csv", "pdf", "xlsx")]
    assert all((out / n).stat().st_mode & 0o777 == 0o600 for n in names)
    assert r.stdout.split() == [str(out / f"recondesk-pack-{MONTH}.{ext}") for ext in ("xlsx", "pdf", "csv")]

    items = _report(db, env)["items"]
    assert isinstance(items, list)
    dated = [i for i in items if i["date"]]
    exceptions = [i for i in dated if i["status"] != "matched" or i["flags"]]
    assert exceptions, "the demo month has exceptions"
    text = subprocess.run(
        ["pdftotext", str(out / f"recondesk-pack-{MONTH}.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = set(text.split())
    missing = [(i["key"], i["date"]) for i in exceptions if i["key"] not in words or i["date"] not in words]
    assert not missing, missing[:5]
    pages = text.count("\f")
    assert pages >= 2 and all(f"Page {n} of {pages}" in text for n in range(1, pages + 1))
    # Matched items are summarised, not listed (an exception's reason may still name the invoice it is on).
    quoted = " ".join(str(i.get("reason") or "") for i in exceptions)
    matched = {i["key"] for i in dated if i["status"] == "matched" and not i["flags"]}
    assert not {k for k in matched if k not in quoted} & words

    wb = load_workbook(out / f"recondesk-pack-{MONTH}.xlsx")
    ws = wb["All items"]
    header = [c.value for c in ws[1]]
    amount = header.index("Amount")
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == len(dated)
    assert all(r[amount].data_type == "n" for r in rows if r[amount].value is not None)
    # per currency, the workbook's amounts add up to the report's (the demo month is all one currency or more)
    by_currency: dict[str, Decimal] = {}
    for i in dated:
        if i["kind"] == "invoice" and i["amount"]:
            by_currency[i["currency"]] = by_currency.get(i["currency"], Decimal(0)) + Decimal(i["amount"])
    cur = header.index("Currency")
    kind = header.index("Kind")
    summed: dict[str, Decimal] = {}
    for r in rows:
        if r[kind].value == "Invoice" and r[amount].value is not None:
            summed[r[cur].value] = summed.get(r[cur].value, Decimal(0)) + Decimal(str(r[amount].value))
    assert {c: round(v, 2) for c, v in summed.items()} == by_currency

    lines = list(csv.DictReader(io.StringIO((out / f"recondesk-pack-{MONTH}.csv").read_text("utf-8-sig"))))
    assert len(lines) == len(dated) and {ln["Key"] for ln in lines} == {i["key"] for i in dated}

    again = tmp_path / "all"
    r = _run(db, env, "--period", MONTH, "-o", str(again), "--all-items")
    assert r.returncode == 0, r.stderr
    listed = subprocess.run(
        ["pdftotext", str(again / f"recondesk-pack-{MONTH}.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {i["key"] for i in dated} <= set(listed)


@pytest.mark.parametrize("period", ["2026-13", "october", "2026-1", "26-10"])
def test_a_bad_period_is_one_line_and_exit_2(synced: tuple[str, dict[str, str]], tmp_path: Path, period: str) -> None:
    db, env = synced
    r = _run(db, env, "--period", period, "-o", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "YYYY-MM" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_folder_that_cannot_be_made_is_one_line_and_exit_2(
    synced: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    db, env = synced
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = _run(db, env, "--period", MONTH, "-o", str(blocker / "sub"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "cannot use" in r.stderr and "Traceback" not in r.stderr
    r = _run(db, env, "--period", MONTH)
    assert r.returncode == 2 and "-o/--output" in r.stderr

"""The decision verbs through the command line, as a script would run them: `items`, `resolve`, `reopen`, `match`,
`unmatch` and `audit verify`, each a real `python -m app` process on a real SQLite cache synced from the built-in
sandboxes over HTTP. Exit codes are product.md section 8's: 0 done, 2 bad usage (one line), 3 refused, 4 audit broken.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """(database URL, the SQLite file, environment): a demo month synced into a cache file, sandboxes stopped."""
    from app.composition import demo_workspace
    from app.settings import Settings

    fast = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10_000_000)
    ws, boxes = demo_workspace(
        tmp_path / "demo", invoices=60, settings=fast, faults="xero:limit_minute=100000,xero:limit_day=1000000"
    )
    try:
        assert ws.sync(full=True).ok
    finally:
        boxes.stop()
        ws.db.dispose()
    path = tmp_path / "demo" / "demo.sqlite3"
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["USER"] = env["LOGNAME"] = "oslogin"
    yield f"sqlite:///{path}", path, env


def _run(db: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args, "--db", db, "--profile", "clitest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _items(db: str, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    r = _run(db, env, "items", "--json", *args)
    assert r.returncode == 0, r.stderr
    items: list[dict[str, Any]] = json.loads(r.stdout)["items"]
    return items


def _audit(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute("SELECT id, who, action, item_key, note FROM audit ORDER BY id").fetchall()


def test_items_lists_every_item_with_a_reason_and_filters(synced: tuple[str, Path, dict[str, str]]) -> None:
    db, _path, env = synced
    every = _items(db, env)
    assert every and all(i["reason"] and isinstance(i["flags"], list) for i in every)
    assert {"id", "kind", "key", "status", "flags", "fields", "reason"} <= set(every[0])
    differs = _items(db, env, "--status", "differs")
    assert differs and {i["status"] for i in differs} == {"differs"}
    # The reason names the first differing field in words ("po_number" -> "PO number"), case aside.
    assert all(i["fields"] and i["fields"][0].replace("_", " ").lower() in i["reason"].lower() for i in differs), [
        (i["fields"], i["reason"])
        for i in differs
        if i["fields"][0].replace("_", " ").lower() not in i["reason"].lower()
    ][:3]
    period = every[0]["date"][:7]
    assert {i["id"] for i in _items(db, env, "--period", period)} <= {i["id"] for i in every}
    text = _run(db, env, "items", "--status", "only_in_source")
    assert text.returncode == 0 and "only_in_source" in text.stdout
    for bad in (["--status", "nonsense"], ["--period", "2026-13"]):
        r = _run(db, env, "items", *bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_resolve_reopen_and_who_is_recorded(synced: tuple[str, Path, dict[str, str]]) -> None:
    db, path, env = synced
    item = _items(db, env, "--status", "differs")[0]
    iid = str(item["id"])
    r = _run(db, env, "resolve", iid, "--accept", "xero", "--who", "Ann Smith", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["who"] == "Ann Smith" and out["item"]["status"] == "resolved"
    assert _audit(path)[-1][1:3] == ("Ann Smith", "resolve:accept_xero")
    # Bad usage: one line, exit 2, nothing recorded.
    for bad in (
        ["resolve", iid, "--ignore"],
        ["resolve", iid],
        ["reopen", iid],
        ["reopen", "999999", "--note", "x"],
        ["resolve", "abc", "--accept", "xero"],
    ):
        r = _run(db, env, *bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(_audit(path)) == 1
    # Refused by a rule: exit 3 (a resolved item cannot be resolved again).
    r = _run(db, env, "resolve", iid, "--ignore", "--note", "again")
    assert r.returncode == 3 and "nothing to resolve" in r.stderr
    # The saved name is used when there is no --who; without one, the OS login.
    r = _run(db, env, "reopen", iid, "--note", "wrong side")
    assert r.returncode == 0, r.stderr
    assert _audit(path)[-1][1:] == ("oslogin", "reopen", item["key"], "wrong side")
    assert next(i for i in _items(db, env) if i["id"] == item["id"])["status"] == "differs"
    settings = Path(env["XDG_CONFIG_HOME"]) / "Recondesk" / "clitest" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"user_name": "Bo Jones"}), encoding="utf-8")
    r = _run(db, env, "resolve", iid, "--ignore", "--note", "agreed")
    assert r.returncode == 0, r.stderr
    assert _audit(path)[-1][1:3] == ("Bo Jones", "resolve:ignore")
    r = _run(db, env, "reopen", iid, "--note", "undo")
    r = _run(db, env, "reopen", iid, "--note", "nothing left")
    assert r.returncode == 3 and "neither resolved nor matched" in r.stderr


def test_match_and_unmatch_by_hand(synced: tuple[str, Path, dict[str, str]]) -> None:
    db, path, env = synced
    src = [i for i in _items(db, env, "--status", "only_in_source") if i["kind"] == "invoice"]
    led = [i for i in _items(db, env, "--status", "only_in_ledger") if i["kind"] == "invoice"]
    a = src[0]
    b = next(i for i in led if i["currency"] == a["currency"])
    r = _run(db, env, "match", str(a["id"]), str(b["id"]), "--note", "renumbered in Xero", "--json")
    assert r.returncode == 0, r.stderr
    paired = json.loads(r.stdout)["item"]
    assert paired["accessplanit_id"] == a["accessplanit_id"] and paired["xero_id"] == b["xero_id"]
    assert paired["status"] in ("matched", "differs")
    assert b["id"] not in {i["id"] for i in _items(db, env)}
    r = _run(db, env, "match", str(a["id"]), str(b["id"]), "--note", "again")
    assert r.returncode == 2  # the ledger item is gone (it is part of the pair now)
    r = _run(db, env, "unmatch", str(a["id"]))
    assert r.returncode == 0, r.stderr
    now = {i["xero_id"]: i for i in _items(db, env, "--status", "only_in_ledger")}
    assert b["xero_id"] in now
    r = _run(db, env, "unmatch", str(a["id"]))
    assert r.returncode == 3 and "not matched by hand" in r.stderr
    assert [row[2] for row in _audit(path)] == ["match", "unmatch"]


def test_audit_verify_names_an_edited_deleted_or_inserted_entry(synced: tuple[str, Path, dict[str, str]]) -> None:
    db, path, env = synced
    ids = [str(i["id"]) for i in _items(db, env, "--status", "differs")[:4]]
    for iid in ids:
        assert _run(db, env, "resolve", iid, "--ignore", "--note", f"n{iid}").returncode == 0
    r = _run(db, env, "audit", "verify", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] and json.loads(r.stdout)["checked"] == len(ids)
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, to copy it

    def tampered(n: int, sql: str) -> dict[str, Any]:
        """A copy of the cache with one statement run on it by plain sqlite3; `audit verify` must exit 4."""
        copy = path.with_name(f"tampered{n}.sqlite3")
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as raw:
            raw.execute(sql)
        url = f"sqlite:///{copy}"
        r = _run(url, env, "audit", "verify", "--json")
        assert r.returncode == 4, r.stdout + r.stderr
        plain = _run(url, env, "audit", "verify")
        assert plain.returncode == 4 and len(plain.stderr.strip().splitlines()) == 1
        found: dict[str, Any] = json.loads(r.stdout)
        assert not found["ok"] and f"entry {found['first_broken_id']}" in plain.stderr
        return found

    found = tampered(1, "UPDATE audit SET who = 'someone else' WHERE id = 2")
    assert found["first_broken_id"] == 2 and "changed" in found["message"] and "resolve:ignore" in found["message"]
    found = tampered(2, "DELETE FROM audit WHERE id = 3")
    assert found["first_broken_id"] == 4 and "entry 3 was deleted" in found["message"]
    found = tampered(3, "DELETE FROM audit WHERE id = 4")
    assert found["first_broken_id"] == 4 and "deleted" in found["message"]
    found = tampered(
        4,
        "INSERT INTO audit (id, at, who, action, item_kind, item_key, before, after, note, prev_hash, hash) "
        "SELECT 5, at, 'mallory', action, item_kind, 'INV-X', before, after, note, hash, hash FROM audit WHERE id = 4",
    )
    assert found["first_broken_id"] == 5 and "INV-X" in found["message"]
    assert _run(db, env, "audit", "verify").returncode == 0  # the original is untouched


def test_candidates_lists_the_likely_counterparts_best_first(synced: tuple[str, Path, dict[str, str]]) -> None:
    db, _path, env = synced
    a = next(i for i in _items(db, env, "--status", "only_in_source") if i["kind"] == "invoice")
    led = [i for i in _items(db, env, "--status", "only_in_ledger") if i["kind"] == "invoice"]
    r = _run(db, env, "candidates", str(a["id"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["item"]["id"] == a["id"]
    found = out["candidates"]
    same_currency = {i["id"] for i in led if i["currency"] == a["currency"]}
    assert found and {c["item"]["id"] for c in found} <= same_currency
    assert [c["score"] for c in found] == sorted((c["score"] for c in found), reverse=True)
    assert all(c["why_not"] and set(c["scores"]) == {"number", "amount", "date", "contact", "reference"} for c in found)
    text = _run(db, env, "candidates", str(a["id"]))
    assert text.returncode == 0 and str(found[0]["item"]["id"]) in text.stdout.splitlines()[0]
    r = _run(db, env, "candidates", "999999")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr

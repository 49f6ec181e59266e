"""The whole flow through the command line, as a script would run it: sandbox -> connect -> sync -> report.

Every item's status (and differing fields) must agree 100% with what the generator says it made. The secrets typed
into `connect` must be in the real keyring and nowhere else (not in the SQLite file, settings or logs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(
    args: list[str], *, stdin: str = "", env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


@pytest.fixture
def sandbox_proc(tmp_path: Path, cli_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    param = getattr(request, "param", 300)
    invoices, instalments, seed = (*param, 7)[:3] if isinstance(param, tuple) else (param, 1.0, 7)
    expected = tmp_path / "expected.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "sandbox",
            "--invoices",
            str(invoices),
            "--month",
            "2026-10",
            "--seed",
            str(seed),
            "--expected",
            str(expected),
            "--paid-instalments",
            str(instalments),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    try:
        info = json.loads(first)
    except ValueError as exc:
        proc.kill()
        raise AssertionError(
            f"sandbox did not print its JSON first line: {first!r} {proc.stderr.read() if proc.stderr else ''}"
        ) from exc
    info["expected"] = json.loads(expected.read_text())["items"]
    try:
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _xero_args(xero: dict[str, Any], db: str) -> list[str]:
    """`recondesk connect xero` against the sandbox's API and identity server (add a secret flag or a tenant)."""
    return [
        "connect",
        "xero",
        "--db",
        db,
        "--profile",
        "clitest",
        "--url",
        xero["url"],
        "--identity-url",
        xero["identity_url"],
        "--client-id",
        xero["client_id"],
    ]


def _connect_accessplanit(ap: dict[str, Any], db: str, env: dict[str, str]) -> None:
    """`recondesk connect accessplanit ... --password-stdin`, as a script would run it."""
    r = _run(
        [
            "connect",
            "accessplanit",
            "--db",
            db,
            "--profile",
            "clitest",
            "--url",
            ap["url"],
            "--username",
            ap["username"],
            "--password-stdin",
        ],
        stdin=ap["password"] + "\n",
        env=env,
    )
    assert r.returncode == 0, r.stderr


def _connect_and_sync(info: dict[str, Any], db: str, env: dict[str, str], *, verbose: bool = False) -> dict[str, Any]:
    ap, xero = info["accessplanit"], info["xero"]
    _connect_accessplanit(ap, db, env)
    r = _run(
        [*_xero_args(xero, db), "--client-secret-stdin"],
        stdin=xero["client_secret"] + "\n",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    r = _run([*(["-v"] if verbose else []), "sync", "--db", db, "--profile", "clitest", "--json"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    run = json.loads(r.stdout)
    assert run["ok"] is True and not run["errors"]
    if verbose:
        run["log"] = r.stderr
    return run


def _compare(report: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    got = {(i["kind"], i["key"]): i for i in report["items"]}
    # Records that could not be read and have no readable date are listed apart (`unreadable`), with their reason.
    for u in report.get("unreadable", []):
        assert u["reason"] and (u["kind"], u["key"]) not in got
        got[(u["kind"], u["key"])] = {**u, "status": "invalid", "fields": [], "flags": []}
    want = {(i["kind"], i["key"]): i for i in expected}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(
        (k, want[k]["status"], got[k]["status"], want[k].get("fields"), got[k]["fields"])
        for k in set(want) & set(got)
        if want[k]["status"] != got[k]["status"] or list(want[k].get("fields", [])) != list(got[k]["fields"])
    )
    # Possible duplicates (product.md section 7): the oracle labels only the flagged items.
    wrong += sorted(
        (k, want[k].get("flags", []), got[k]["flags"], want[k].get("twin"), got[k].get("twin"))
        for k in set(want) & set(got)
        if list(want[k].get("flags", [])) != got[k]["flags"] or want[k].get("twin") != got[k].get("twin")
    )
    assert not missing and not extra and not wrong, (
        f"{len(missing)} missing, {len(extra)} extra, {len(wrong)} wrong of {len(want)}:\n"
        f"missing {missing[:10]}\nextra {extra[:10]}\nwrong {wrong[:10]}"
    )


@pytest.mark.slow
def test_cli_flow_reproduces_the_generators_statuses(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    db_file = tmp_path / "cache.sqlite3"
    db = f"sqlite:///{db_file}"
    run = _connect_and_sync(sandbox_proc, db, cli_env)
    assert sum(s["fetched"] for s in run["streams"]) > 0

    r = _run(["report", "--db", db, "--profile", "clitest", "--format", "json"], env=cli_env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert set(report) >= {"period", "totals", "items"}
    _compare(report, sandbox_proc["expected"])
    statuses = {i["status"] for i in report["items"]} | ({"invalid"} if report["unreadable"] else set())
    assert {"matched", "differs", "only_in_source", "only_in_ledger", "invalid"} <= statuses

    # A second sync with nothing changed gives the same items.
    r = _run(["sync", "--db", db, "--profile", "clitest", "--json"], env=cli_env)
    assert r.returncode == 0, r.stderr
    again = json.loads(_run(["report", "--db", db, "--profile", "clitest"], env=cli_env).stdout)
    _compare(again, sandbox_proc["expected"])

    # The secrets typed into `connect` are in the keyring and nowhere else.
    secrets = [sandbox_proc["accessplanit"]["password"], sandbox_proc["xero"]["client_secret"]]
    import keyring

    stored = [keyring.get_password("recondesk", name) for name in _keyring_entries(db_file)]
    assert any(secrets[0] in (s or "") for s in stored) and any(secrets[1] in (s or "") for s in stored)
    for path in [
        db_file,
        *db_file.parent.glob("cache.sqlite3*"),
        *Path(cli_env["XDG_CONFIG_HOME"]).rglob("*"),
        *Path(cli_env["XDG_STATE_HOME"]).rglob("*"),
        *Path(cli_env["XDG_CACHE_HOME"]).rglob("*"),
    ]:
        if path.is_file():
            data = path.read_bytes()
            for s in secrets:
                assert s.encode() not in data, f"secret found in {path}"
    for out in (r.stdout, r.stderr):
        for s in secrets:
            assert s not in out


def _keyring_entries(db_file: Path) -> list[str]:
    """The keyring entry names the cache refers to (connection ids are in the DB, secrets are not)."""
    import sqlite3

    con = sqlite3.connect(db_file)
    try:
        rows = con.execute("SELECT system, connection_id FROM connections").fetchall()
    finally:
        con.close()
    return [f"clitest/{system}/{cid}" for system, cid in rows]


def _synced_report(sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str]) -> dict[str, Any]:
    """Connect, sync and report (JSON) through the command line into a fresh cache."""
    db = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    _connect_and_sync(sandbox_proc, db, cli_env)
    r = _run(["report", "--db", db, "--profile", "clitest", "--format", "json"], env=cli_env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


@pytest.mark.parametrize("sandbox_proc", [(600, 3.9)], indirect=True)
def test_cli_flow_exact_with_invoices_paid_in_instalments(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    # The benchmark's month (1.5 payments per invoice): many equal-sized instalments per invoice to tell apart.
    report = _synced_report(sandbox_proc, tmp_path, cli_env)
    payments = [i for i in report["items"] if i["kind"] == "payment"]
    assert len(payments) > 600  # more than one payment item per invoice
    _compare(report, sandbox_proc["expected"])


@pytest.mark.parametrize("sandbox_proc", [(400, 1.0, 1)], indirect=True)
def test_cli_flow_demo_month_flags_every_generated_duplicate_and_nothing_else(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    # The demo's month (seed 1, 400 invoices): P88013 on INV-1019 repeats the matched P88012 (same amount, logged
    # twice), and INV-1089 and INV-1192 hold the same pattern.
    report = _synced_report(sandbox_proc, tmp_path, cli_env)
    _compare(report, sandbox_proc["expected"])  # statuses, fields, flags and twins, item by item
    flagged = {i["key"]: i for i in report["items"] if i["flags"]}
    assert {k.split(":")[0] for k in flagged} == {"INV-1019", "INV-1089", "INV-1192"}
    assert flagged["INV-1019:P88013:-"]["twin"] == "88012"
    assert all(i["status"] == "only_in_source" and i["flags"] == ["possible_duplicate"] for i in flagged.values())
    assert "possible duplicate of accessplanit payment 88012" in flagged["INV-1019:P88013:-"]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("sandbox_proc", [2000], indirect=True)
def test_cli_flow_2000_invoices_exact(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    report = _synced_report(sandbox_proc, tmp_path, cli_env)
    _compare(report, sandbox_proc["expected"])
    # Xero's credits (docs/reconciliation.md section 9): overpayments and prepayments are items of their own, and
    # the allocations of each kind of credit pair with accessplanit's payments on the invoices they pay.
    kinds = {(i["kind"], i["status"]) for i in report["items"]}
    assert {("overpayment", "only_in_ledger"), ("prepayment", "matched")} <= kinds
    for credit in ("overpayment", "prepayment", "credit note"):
        assert any(
            i["kind"] == "payment" and i["status"] == "matched" and f"an allocation of {credit} " in i["reason"]
            for i in report["items"]
        ), credit
    [left] = [i for i in report["items"] if i["kind"] == "overpayment"][:1]
    assert "left unallocated" in left["reason"] and "first allocated to INV-" in left["reason"]


@pytest.mark.slow
def test_cli_connects_xero_with_oauth_pkce_and_keeps_tokens_in_the_keyring(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    """`connect xero` without a secret runs the OAuth code flow with PKCE (headless against the loopback sandbox),
    picks the only organisation, and stores the token set in the keyring; a sync then reads Xero with it."""
    db_file = tmp_path / "oauth.sqlite3"
    db = f"sqlite:///{db_file}"
    xero, ap = sandbox_proc["xero"], sandbox_proc["accessplanit"]
    r = _run(
        _xero_args(xero, db),
        env=cli_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    _connect_accessplanit(ap, db, cli_env)
    import keyring

    [entry] = [e for e in _keyring_entries(db_file) if e.startswith("clitest/xero/")]
    tokens = json.loads(keyring.get_password("recondesk", entry) or "{}")
    assert tokens.get("refresh_token") and tokens.get("access_token")
    r = _run(["sync", "--db", db, "--profile", "clitest", "--json"], env=cli_env)
    assert r.returncode == 0, r.stdout + r.stderr
    run = json.loads(r.stdout)
    assert any(s["system"] == "xero" and s["stream"] == "invoices" and s["fetched"] > 0 for s in run["streams"])
    data = db_file.read_bytes()
    assert tokens["refresh_token"].encode() not in data and tokens["access_token"].encode() not in data


@pytest.mark.slow
def test_cli_oauth_with_several_organisations_lists_them_and_tenant_id_picks(
    tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "sandbox", "--invoices", "20", "--xero-organisation", "Second Org Ltd"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        xero = json.loads(proc.stdout.readline())["xero"]
        db = f"sqlite:///{tmp_path / 'orgs.sqlite3'}"
        base = _xero_args(xero, db)
        r = _run(base, env=cli_env)
        assert r.returncode == 1 and "several organisations" in r.stderr and "Second Org Ltd" in r.stderr
        tenant = r.stderr.split("Second Org Ltd (")[1].split(")")[0]
        r = _run([*base, "--tenant-id", tenant], env=cli_env)
        assert r.returncode == 0, r.stderr
        import sqlite3

        con = sqlite3.connect(tmp_path / "orgs.sqlite3")
        try:
            assert con.execute("SELECT tenant_name FROM connections WHERE system='xero'").fetchone() == (
                "Second Org Ltd",
            )
        finally:
            con.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("sandbox_proc", [40], indirect=True)
def test_cli_disconnect_revokes_xero_removes_the_keyring_entries_and_keeps_the_cache(
    sandbox_proc: dict[str, Any], tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    """`disconnect xero` revokes the OAuth refresh token at the revocation endpoint (it no longer refreshes) and
    removes the real keyring entry; `disconnect --system accessplanit` removes the password; the cache stays."""
    import keyring
    import requests

    db_file = tmp_path / "disc.sqlite3"
    db = f"sqlite:///{db_file}"
    xero, ap = sandbox_proc["xero"], sandbox_proc["accessplanit"]
    assert _run(_xero_args(xero, db), env=cli_env).returncode == 0
    _connect_accessplanit(ap, db, cli_env)
    r = _run(["sync", "--db", db, "--profile", "clitest", "--json"], env=cli_env)
    assert r.returncode == 0, r.stdout + r.stderr
    entries = {e.split("/")[1]: e for e in _keyring_entries(db_file)}
    refresh = json.loads(keyring.get_password("recondesk", entries["xero"]) or "{}")["refresh_token"]
    before = _run(["report", "--db", db, "--profile", "clitest", "--format", "json"], env=cli_env)

    r = _run(["disconnect", "--db", db, "--profile", "clitest"], env=cli_env)
    assert (r.returncode, r.stderr.strip()) == (
        2,
        "recondesk: name one connection: `recondesk disconnect accessplanit|xero`",
    )
    r = _run(["disconnect", "xero", "--db", db, "--profile", "clitest"], env=cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Disconnected from Xero; the cached records are kept. The sign-in was revoked at Xero."
    assert keyring.get_password("recondesk", entries["xero"]) is None
    answer = requests.post(
        f"{xero['identity_url'].rstrip('/')}/connect/token",
        data={"grant_type": "refresh_token", "client_id": xero["client_id"], "refresh_token": refresh},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"

    r = _run(["disconnect", "--system", "accessplanit", "--db", db, "--profile", "clitest"], env=cli_env)
    assert (r.returncode, r.stdout.strip()) == (0, "Disconnected from accessplanit; the cached records are kept.")
    assert keyring.get_password("recondesk", entries["accessplanit"]) is None

    after = _run(["report", "--db", db, "--profile", "clitest", "--format", "json"], env=cli_env)
    assert after.returncode == 0 and json.loads(after.stdout)["items"] == json.loads(before.stdout)["items"]
    r = _run(["sync", "--db", db, "--profile", "clitest"], env=cli_env)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_cli_sync_is_refused_while_another_process_syncs_the_cache(
    tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    """A second sync of one cache (here the command line while another process holds the cache's sync lock) stops
    before doing anything, with one line naming the holder, exit 3 (refused)."""
    from app.credentials import KeyringCredentialStore
    from app.domain.status import System
    from app.services.api import ConnectionInfo
    from app.services.sync import SyncLock
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage.db import Database

    db_url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    db = Database(db_url)
    db.migrate()
    ws = Workspace(db, KeyringCredentialStore(), Settings(), object(), "clitest")  # type: ignore[arg-type]
    ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, "http://127.0.0.1:9/accessplan", "u", "password"), "pw")
    holder = SyncLock(db, 600)
    holder.acquire()
    try:
        r = _run(["sync", "--db", db_url, "--profile", "clitest"], env=cli_env)
    finally:
        holder.release()
        db.dispose()
    assert r.returncode == 3, r.stdout + r.stderr  # refused
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"recondesk: A sync of this cache is already running (pid {os.getpid()}, started "
    )
    assert lines[0].endswith("; try again when it ends, or sync with --wait to queue behind it.")


def test_cli_sync_wait_queues_behind_another_process_and_gives_up_after_its_timeout(
    tmp_path: Path, cli_env: dict[str, str], secret_service: object
) -> None:
    """`sync --wait`: while another process holds the cache's sync lock it says once who holds it and waits; it
    gives up with exit 3 after `--wait-timeout`, and starts as soon as the lock is freed."""
    import socket

    from app.credentials import KeyringCredentialStore
    from app.domain.status import System
    from app.services.api import ConnectionInfo
    from app.services.sync import SyncLock
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage import synclog
    from app.storage.db import Database

    db_url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    db = Database(db_url)
    db.migrate()
    ws = Workspace(db, KeyringCredentialStore(), Settings(), object(), "clitest")  # type: ignore[arg-type]
    ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, "http://127.0.0.1:9/accessplan", "u", "password"), "pw")
    holder = SyncLock(db, 600, who="Ann Other")
    holder.acquire()
    waiting = "recondesk: Another sync is running (by Ann Other on host " + socket.gethostname()[:64] + ", started "
    try:
        r = _run(["sync", "--db", db_url, "--profile", "clitest", "--wait", "--wait-timeout", "1.5"], env=cli_env)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 3, r.stdout + r.stderr
        assert len(lines) == 2 and lines[0].startswith(waiting), lines
        assert lines[0].endswith("); this one starts when it ends.")
        assert lines[1].startswith("recondesk: A sync of this cache is already running (pid ")
        assert lines[1].endswith("(waited 1.5 s).")
        bad = _run(["sync", "--db", db_url, "--profile", "clitest", "--wait", "--wait-timeout", "soon"], env=cli_env)
        assert bad.returncode == 2 and "'soon' is not a number of seconds" in bad.stderr

        queued = subprocess.Popen(
            [sys.executable, "-m", "app", "sync", "--db", db_url, "--profile", "clitest", "--wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env,
            cwd=ROOT,
        )
        assert queued.stderr is not None
        assert queued.stderr.readline().startswith(waiting)  # it waits ...
        with db.transaction(readonly=True) as tx:
            assert synclog.list_runs(tx) == []  # ... having done nothing
    finally:
        holder.release()
    out, err = queued.communicate(timeout=120)  # ... and syncs once the lock is free (the service is down here)
    assert queued.returncode == 1 and "Traceback" not in err, out + err
    with db.transaction(readonly=True) as tx:
        assert len(synclog.list_runs(tx)) == 1 and synclog.sync_holder(tx) is None
    db.dispose()

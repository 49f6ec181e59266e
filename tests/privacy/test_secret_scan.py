"""The whole command line with `-v`, against the sandboxes and the real keyring (run under scripts/with-keyring):
connect (password, client secret, then the OAuth sign-in), sync, push, a decision, report in every format and the
pack, and a sync that refreshes the Xero tokens. Afterwards:

- every secret (the password, the client secret, the authorization code, the PKCE verifier, every access and
  refresh token) is found in none of: the cache file and its -wal/-shm, lock files, exports (unpacked:
  xlsx members, PDF streams), and the commands' standard output and error (the `-v` log);
- every file the app created (the cache and its -wal/-shm, lock files, exports, the pack) is owner-only (0600)
  and every folder it created 0700, though it ran under umask 022;
- `report` and `items` open the cache at once while another process holds its write lock.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

# `connect xero` without a secret, with the token exchange watched: the authorization code, the verifier and the
# first token set are written to a file the scan knows (the test's own record, outside what is scanned).
_SPY = """
import json, sys
from app.connectors.xero import auth
real = auth.exchange_code
def spy(http, token_url, client_id, code, redirect_uri, verifier, **kw):
    tokens = real(http, token_url, client_id, code, redirect_uri, verifier, **kw)
    with open(sys.argv[1], "w") as fh:
        json.dump({"code": code, "verifier": verifier, **tokens}, fh)
    return tokens
auth.exchange_code = spy
from app.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def _run(
    args: list[str], env: dict[str, str], *, stdin: str = "", spy: Path | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", _SPY, str(spy)] if spy else [sys.executable, "-m", "app"]
    return subprocess.run(
        [*cmd, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, umask=0o022
    )


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    home = tmp_path / "home"  # not created here: the app creates what it needs under it
    env = dict(os.environ)
    # The keyring daemon already runs (over D-Bus): the app's own data folder (its lock files) can move here too.
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        env[var] = str(home / var.lower())
    cache, exports = tmp_path / "cache", tmp_path / "exports"
    cache.mkdir()
    exports.mkdir()
    return {"env": env, "home": home, "cache": cache, "exports": exports, "spy": tmp_path / "spy.json"}


@pytest.fixture
def sandbox(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    args = ["sandbox", "--invoices", "60", "--month", "2026-10", "--seed", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=world["env"],
        cwd=ROOT,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    try:
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _texts(path: Path) -> list[bytes]:
    """The bytes to search in a file: itself, plus what an xlsx or PDF compresses."""
    data = path.read_bytes()
    found = [data]
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            found += [z.read(name) for name in z.namelist()]
    if data[:4] == b"%PDF":
        for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
            try:
                found.append(zlib.decompress(stream))
            except zlib.error:
                pass
    return found


def test_no_secret_anywhere_but_the_keyring_and_every_file_owner_only(
    sandbox: dict[str, Any], world: dict[str, Any], secret_service: object
) -> None:
    env, cache, exports = world["env"], world["cache"], world["exports"]
    ap, xero = sandbox["accessplanit"], sandbox["xero"]
    db_file = cache / "cache.sqlite3"
    common = ["--db", f"sqlite:///{db_file}", "--profile", "scan"]
    outputs: list[str] = []

    def run(args: list[str], *, ok: tuple[int, ...] = (0,), **kw: Any) -> subprocess.CompletedProcess[str]:
        r = _run(["-v", *args], env, **kw)
        outputs.extend([r.stdout, r.stderr])
        assert r.returncode in ok, f"{args}: {r.returncode} {r.stdout} {r.stderr}"
        return r

    run(
        ["connect", "accessplanit", *common, "--url", ap["url"], "--username", ap["username"], "--password-stdin"],
        stdin=ap["password"] + "\n",
    )
    xero_args = [
        "connect",
        "xero",
        *common,
        "--url",
        xero["url"],
        "--identity-url",
        xero["identity_url"],
        "--client-id",
        xero["client_id"],
    ]
    run([*xero_args, "--client-secret-stdin"], stdin=xero["client_secret"] + "\n")
    r = run(["sync", *common, "--json"])  # with the custom connection
    run(xero_args, spy=world["spy"])  # the OAuth sign-in replaces it
    first = json.loads(world["spy"].read_text())
    assert first["code"] and first["refresh_token"]
    r = run(["sync", *common, "--json"])
    assert json.loads(r.stdout)["ok"] is True
    items = json.loads(run(["items", *common, "--json"]).stdout)["items"]
    one_sided = [i for i in items if i["kind"] == "invoice" and i["status"] == "only_in_source" and not i["flags"]]
    assert len(one_sided) >= 2
    run(["push", str(one_sided[0]["id"]), "--to", "xero", "--new-contact", *common], ok=(0, 1, 3))
    run(["resolve", str(one_sided[1]["id"]), "--ignore", "--note", "scan", *common])
    for fmt in ("json", "csv", "xlsx", "pdf"):
        run(["report", *common, "--format", fmt, "-o", str(exports / f"report.{fmt}")])
    run(["report", *common, "--format", "csv"])  # to standard output
    run(["pack", *common, "--period", "2026-10", "-o", str(exports / "pack")])
    # Xero forgets the access token: the next sync refreshes (rotating the refresh token) under the lock file.
    parts = urlsplit(xero["url"])
    requests.post(f"{parts.scheme}://{parts.netloc}/__admin/expire_tokens", timeout=10).raise_for_status()
    run(["sync", *common, "--json"])

    import keyring

    with sqlite3.connect(db_file) as conn:
        entries = [f"scan/{s}/{c}" for s, c in conn.execute("SELECT system, connection_id FROM connections")]
    last = json.loads(keyring.get_password("recondesk", next(e for e in entries if "/xero/" in e)) or "{}")
    saved_ap = json.loads(keyring.get_password("recondesk", next(e for e in entries if "/accessplanit/" in e)) or "{}")
    assert saved_ap == {"password": ap["password"]} and last["refresh_token"]
    secrets = {
        "password": ap["password"],
        "client secret": xero["client_secret"],
        "authorization code": first["code"],
        "PKCE verifier": first["verifier"],
        "first access token": first["access_token"],
        "first refresh token": first["refresh_token"],
        "last access token": last["access_token"],
        "last refresh token": last["refresh_token"],
    }
    files = [p for root in (world["home"], cache, exports) for p in root.rglob("*") if p.is_file()]
    names = sorted(p.name for p in files)
    assert any(n.endswith(".lock") for n in names) and "cache.sqlite3-wal" in names, names
    assert last["refresh_token"] != first["refresh_token"]  # the refresh happened (and rotated)
    assert sorted(p.suffix for p in (exports / "pack").iterdir()) == [".csv", ".pdf", ".xlsx"]
    haystacks = {str(p): _texts(p) for p in files}
    haystacks["standard output and error"] = ["\n".join(outputs).encode()]
    assert "DEBUG" in "\n".join(outputs)  # -v really logged
    leaks = [
        f"{name} in {where}"
        for name, secret in secrets.items()
        for where, texts in haystacks.items()
        if any(secret.encode() in text for text in texts)
    ]
    assert not leaks, leaks

    loose = [f"{p} {oct(p.stat().st_mode & 0o777)}" for p in files if p.stat().st_mode & 0o077]
    home_dirs = [p for p in world["home"].rglob("*") if p.is_dir()] + [world["home"], exports / "pack"]
    loose += [f"{p} {oct(p.stat().st_mode & 0o777)}" for p in home_dirs if p.stat().st_mode & 0o077]
    assert not loose, loose
    assert {p.name for p in cache.iterdir()} >= {"cache.sqlite3"}


def test_read_only_commands_open_the_cache_while_another_process_holds_the_write_lock(world: dict[str, Any]) -> None:
    env, db_file = world["env"], world["cache"] / "busy.sqlite3"
    common = ["--db", f"sqlite:///{db_file}", "--profile", "busy"]
    assert _run(["items", *common, "--json"], env).returncode == 0  # creates and migrates the cache
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); sys.stdin.read()",
            str(db_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        probe = sqlite3.connect(db_file, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")  # the lock is real: a writer would wait
        probe.close()
        r = _run(["report", *common, "--format", "json"], env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["items"] == []
        r = _run(["items", *common, "--json"], env)
        assert r.returncode == 0, r.stderr
        # The GUI opens the workspace the same way, then reads the items.
        from app import composition
        from app.credentials import MemoryCredentialStore
        from app.services.api import ItemFilter
        from app.settings import Settings

        ws = composition.build_workspace(common[1], "busy", MemoryCredentialStore(), Settings(), keep_settings=False)
        try:
            assert list(ws.item_ids(ItemFilter())) == [] and ws.report(None)["items"] == []
        finally:
            ws.db.dispose()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_the_settings_file_and_its_folder_are_owner_only_under_a_lax_umask(tmp_path: Path) -> None:
    from app.settings import Settings, SettingsFile

    old = os.umask(0o022)
    try:
        SettingsFile(tmp_path / "config" / "p").save(Settings(ca_bundle="/etc/ssl/corp.pem"))
    finally:
        os.umask(old)
    assert (tmp_path / "config" / "p").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "config" / "p" / "settings.json").stat().st_mode & 0o777 == 0o600
    assert SettingsFile(tmp_path / "config" / "p").load().ca_bundle == "/etc/ssl/corp.pem"

"""The bad-input table: the real `recondesk` command in a subprocess, given what people mistype. Each case gets one
line on standard error saying what is wrong and what to do, the right exit code (2 for usage), no traceback, no
sentence said twice, no brackets inside brackets, and no folder the user did not ask for.

The connection cases (dead ports, a wrong Xero client secret) need the keyring of `scripts/with-keyring`.
A full disk is `/dev/full` as the output file (a real ENOSPC from the kernel; a small filesystem needs root).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        out[name] = str(tmp_path / name.lower())
    return out


def assert_one_clear_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Exit `code`; standard error is one line, naming `words`, without a traceback or repeats."""
    err = r.stderr.strip()
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert not re.search(r"\b[A-Z]\w+Error\b", err), err  # a raw exception's name is not a message
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    sentences = [s.strip().lower() for s in re.split(r"[.;]\s+", lines[0]) if s.strip()]
    assert len(sentences) == len(set(sentences)), lines[0]
    assert not re.search(r"\([^()]*\(", lines[0]), lines[0]  # no bracket opened inside a bracket
    return lines[0]


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cache.sqlite3'}"


# (case, arguments with {tmp} and {db} filled in, exit code, words the line must hold)
TABLE: list[tuple[str, list[str], int, tuple[str, ...]]] = [
    ("db not a url", ["report", "--db", "notaurl"], 2, ("--db", "not a database URL")),
    ("db folder missing", ["report", "--db", "sqlite:///{tmp}/missing/x.sqlite3"], 2, ("does not exist",)),
    ("db in missing folder of read-only", ["report", "--db", "sqlite:///{tmp}/ro/sub/x.sqlite3"], 2, ("ro/sub",)),
    ("report into missing folder", ["report", "--db", "{db}", "-o", "{tmp}/nowhere/r.json"], 2, ("-o", "nowhere")),
    ("report into a folder", ["report", "--db", "{db}", "-o", "{tmp}"], 2, ("is a folder",)),
    ("report onto a full disk", ["report", "--db", "{db}", "-o", "/dev/full"], 1, ("disk is full",)),
    ("report bad period", ["report", "--db", "{db}", "--period", "2026-13"], 2, ("--period",)),
    ("sandbox month 13", ["sandbox", "--month", "2026-13"], 2, ("--month", "YYYY-MM")),
    ("sandbox month name", ["sandbox", "--month", "october"], 2, ("--month", "'october'")),
    ("sandbox negative invoices", ["sandbox", "--invoices", "-5"], 2, ("--invoices", "-5")),
    ("sandbox fault value", ["sandbox", "--faults", "error500=abc"], 2, ("--faults", "error500")),
    ("sandbox fault prefix", ["sandbox", "--faults", "bank:error500=1"], 2, ("--faults", "prefix")),
    ("sandbox port", ["sandbox", "--xero-port", "70000"], 2, ("--xero-port",)),
    ("sandbox fixtures missing", ["sandbox", "--fixtures", "{tmp}/nofixtures"], 2, ("--fixtures",)),
    ("sandbox fixtures broken", ["sandbox", "--fixtures", "{tmp}/broken"], 2, ("not valid JSON",)),
    ("invoices not a number", ["sandbox", "--invoices", "many"], 2, ("--invoices",)),
    (
        "connect url not a url",
        ["connect", "accessplanit", "--db", "{db}", "--url", "not a url", "--username", "u", "--password-stdin"],
        2,
        ("--url", "not a web address"),
    ),
    (
        "connect identity url",
        ["connect", "xero", "--db", "{db}", "--identity-url", "ftp://x", "--client-id", "X", "--client-secret-stdin"],
        2,
        ("--identity-url", "not a web address"),
    ),
]


@pytest.mark.parametrize(("case", "args", "code", "words"), TABLE, ids=[t[0] for t in TABLE])
def test_bad_input_gets_one_clear_line(
    case: str, args: list[str], code: int, words: tuple[str, ...], tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    (tmp_path / "broken" / "accessplanit").mkdir(parents=True)
    (tmp_path / "broken" / "accessplanit" / "Invoice.json").write_text('{"results": [', encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    filled = [a.replace("{tmp}", str(tmp_path)).replace("{db}", _db(tmp_path)) for a in args]
    r = _run(filled, env, stdin="secret\n")
    assert_one_clear_line(r, code, *words)
    assert "secret" not in r.stderr + r.stdout
    # Nothing the user did not ask for: no folder made for a cache or an output (the cache file itself may be).
    after = sorted(p.name for p in tmp_path.iterdir())
    assert set(after) - set(before) <= {"cache.sqlite3"}, after
    assert not (tmp_path / "ro" / "sub").exists() and not (tmp_path / "missing").exists()


def test_a_db_in_a_missing_root_folder_is_not_created(env: dict[str, str]) -> None:
    folder = Path(f"/recondesk-missing-{uuid.uuid4().hex[:8]}")
    r = _run(["report", "--db", f"sqlite:///{folder}/x.sqlite3"], env)
    assert_one_clear_line(r, 2, "does not exist")
    assert not folder.exists()


# --- connections: dead ports and a wrong client secret (a real keyring, a real emulator) -------------------------


@pytest.fixture
def sandbox(env: dict[str, str]) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "sandbox", "--invoices", "3", "--month", "2026-10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_wrong_xero_client_secret_says_so(
    sandbox: dict[str, Any], tmp_path: Path, env: dict[str, str], secret_service: object
) -> None:
    xero = sandbox["xero"]
    args = ["connect", "xero", "--db", _db(tmp_path), "--url", xero["url"], "--identity-url", xero["identity_url"]]
    r = _run([*args, "--client-id", xero["client_id"], "--client-secret-stdin"], env, stdin="not-the-secret\n")
    line = assert_one_clear_line(r, 1, "client id or client secret")
    assert "expired" not in line and "revoked" not in line


def test_sync_against_dead_ports_says_what_failed_per_system(
    tmp_path: Path, env: dict[str, str], secret_service: object
) -> None:
    db = _db(tmp_path)
    dead = "http://127.0.0.1:9"
    r = _run(
        ["connect", "accessplanit", "--db", db, "--url", f"{dead}/accessplan", "--username", "u", "--password-stdin"],
        env,
        stdin="pw\n",
    )
    assert_one_clear_line(r, 1, "connection not saved", "accessplanit")
    for args in (
        ["connect", "accessplanit", "--url", f"{dead}/accessplan", "--username", "u", "--password-stdin"],
        ["connect", "xero", "--url", f"{dead}/api.xro/2.0", "--identity-url", dead, "--client-id", "X"],
    ):
        extra = [] if args[1] == "accessplanit" else ["--client-secret-stdin"]
        saved = _run([*args[:2], "--db", db, *args[2:], *extra, "--no-check"], env, stdin="pw\n")
        assert saved.returncode == 0, saved.stderr
    r = _run(["sync", "--db", db], env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == ""  # the outcome is printed once, on standard output; no log line repeats it
    errors = [line for line in r.stdout.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 2, r.stdout
    assert "accessplanit" in errors[0] and "Xero" in errors[1]
    for line in errors:
        sentences = [s.strip().lower() for s in re.split(r"[.;]\s+", line) if s.strip()]
        assert len(sentences) == len(set(sentences)), line


# --- the guard: an unexpected error is one line and a log file; -v shows the traceback ---------------------------


def test_an_unexpected_error_is_one_line_and_a_log_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app import cli, composition

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom at postgresql://me:hunter2@db/x with password=hunter2")

    monkeypatch.setattr(composition, "build_workspace", broken)
    assert cli.main(["report", "--db", _db(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unexpected error (RuntimeError)" in lines[0] and "Traceback" not in err
    log = Path(lines[0].rsplit("The details are in ", 1)[1].rstrip("."))
    details = log.read_text(encoding="utf-8")
    assert "Traceback" in details and "RuntimeError: boom" in details
    assert "hunter2" not in details and "hunter2" not in err
    assert (log.stat().st_mode & 0o777) == 0o600

    assert cli.main(["-v", "report", "--db", _db(tmp_path)]) == 1
    verbose = capsys.readouterr().err
    assert "Traceback" in verbose and "hunter2" not in verbose

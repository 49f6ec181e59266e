"""Team mode through the command line, as a script runs it: `people` (list, add, set-role), roles refused with exit
3 and one line, the firm's settings shared through the database, a database of a newer Recondesk refused, and
`team login` keeping the team database's password in the keyring only (never in the settings file, the database
or any other file)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from app.composition import database_password, team_entry
from app.credentials import MemoryCredentialStore

ROOT = Path(__file__).resolve().parents[1]
VIEWER = "recondesk: You are a viewer on this team database; ask a reviewer to make you a preparer"


def _env(tmp_path: Path, login: str) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / f"config-{login}")
    env["XDG_DATA_HOME"] = os.environ.get("XDG_DATA_HOME", str(tmp_path / "data"))
    env["USER"] = env["LOGNAME"] = login
    return env


def _run(env: dict[str, str], *args: str, stdin: str = "", db: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--db", db] if db else []
    return subprocess.run(
        [sys.executable, "-m", "app", *args, *extra, "--profile", "team"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr.strip()


def test_people_and_roles_through_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    # Ann; the login comes from the team_login setting here (the OS login otherwise).
    ann = _env(tmp_path, "ann")
    assert _run(ann, "settings", "set", "team_login", "ann", db=db).returncode == 0
    r = _run(ann, "people", db=db)
    assert r.returncode == 0 and r.stdout.split()[:3] == ["ann", "reviewer", "active"] and "(you)" in r.stdout
    r = _run(ann, "people", "add", "dana", "--name", "Dana Smith", "--role", "viewer", db=db)
    assert r.returncode == 0 and r.stdout.strip() == "Added dana (Dana Smith) as viewer.", r.stderr
    assert "already" in _one_line(_run(ann, "people", "add", "dana", "--name", "D", "--role", "viewer", db=db))
    assert _run(ann, "people", "add", "cy", "--name", "Cy", "--role", "boss", db=db).returncode == 2
    # Dana, a viewer: reads, and every change is refused with exit 3 and one line saying whom to ask.
    dana = _env(tmp_path, "dana")
    listed = json.loads(_run(dana, "people", "--json", db=db).stdout)
    assert listed["me"] == "dana" and {p["login"]: p["role"] for p in listed["people"]} == {
        "ann": "reviewer",
        "dana": "viewer",
    }
    for args in (
        ("settings", "set", "money_tolerance", "0.5"),
        ("people", "set-role", "dana", "reviewer"),
        ("sync",),
    ):
        r = _run(dana, *args, db=db)
        assert r.returncode == 3 and _one_line(r).startswith(VIEWER[:60]), (args, r.stderr)
    assert _run(dana, "settings", "set", "page_size", "500", db=db).returncode == 0  # personal: hers
    # Ann makes her a preparer: the firm's setting Dana changes is everyone's (it lives in the database).
    assert (
        _run(ann, "people", "set-role", "dana", "preparer", db=db).stdout.strip()
        == "dana (Dana Smith) is now preparer."
    )
    assert _run(dana, "settings", "set", "money_tolerance", "0.5", db=db).returncode == 0
    shown = json.loads(_run(ann, "settings", "--json", db=db).stdout)["settings"]
    assert shown["money_tolerance"]["value"] == "0.5" and shown["page_size"]["value"] == "1000"
    r = _run(ann, "people", "deactivate", "ann", db=db)
    assert r.returncode == 2 and "last reviewer" in _one_line(r)
    with sqlite3.connect(tmp_path / "cache.sqlite3") as conn:
        actions = [a for (a,) in conn.execute("SELECT action FROM audit WHERE item_kind = 'person' ORDER BY id")]
        who = conn.execute("SELECT changed_by FROM firm_settings WHERE name = 'money_tolerance'").fetchone()
    assert actions == ["person_add", "person_role"] and who == ("dana",)


def test_a_cache_of_a_newer_recondesk_is_refused_in_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    env = _env(tmp_path, "ann")
    assert _run(env, "people", db=db).returncode == 0
    with sqlite3.connect(tmp_path / "cache.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    r = _run(env, "items", db=db)
    assert r.returncode == 3
    assert _one_line(r) == (
        "recondesk: This database was upgraded by a newer Recondesk (revision 0099_future); install the newer version."
    )


def test_team_login_refuses_what_it_cannot_use_and_stores_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path, "ann")
    r = _run(env, "team", "login", "--password-stdin", stdin="pw\n")
    assert r.returncode == 2 and "no team database" in _one_line(r)
    r = _run(env, "team", "login", "--password-stdin", stdin="pw\n", db="postgresql+psycopg://u:inline@127.0.0.1/x")
    assert r.returncode == 2 and "inline" not in r.stderr
    r = _run(env, "team", "login", "--password-stdin", stdin="Not-Kept-7\n", db="postgresql+psycopg://u@127.0.0.1:1/x")
    assert r.returncode == 1 and "The password was not stored." in _one_line(r) and "Not-Kept-7" not in r.stderr


def test_a_url_without_a_password_finds_it_in_the_keyring_entry_of_that_database() -> None:
    store = MemoryCredentialStore()
    url = "postgresql+psycopg://dana@db.firm.example/recon"
    assert team_entry(url) == "team/dana@db.firm.example:5432/recon"
    assert database_password(url, store) is None
    store.set(team_entry(url), {"password": "pw-1"})
    assert database_password(url, store) == "pw-1"
    assert database_password("postgresql+psycopg://dana@db.firm.example:5433/recon", store) is None  # another
    assert database_password("postgresql+psycopg://dana:inline@db.firm.example/recon", store) is None
    assert database_password("sqlite:////tmp/x.sqlite3", store) is None


@pytest.fixture
def team_db(pg_url: str) -> Iterator[str]:
    """A fresh database on the run's PostgreSQL server, as a firm's DBA would create it (URL without password)."""
    name = "team_" + uuid.uuid4().hex[:10]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_team_login_keeps_the_password_in_the_keyring_only(
    tmp_path: Path, team_db: str, secret_service: object
) -> None:
    import keyring

    secret = "Team-Secret-" + uuid.uuid4().hex[:8]
    u = make_url(team_db)
    env = _env(tmp_path, "ann")
    server = ["--host", str(u.host), "--port", str(u.port), "--database", str(u.database), "--user", str(u.username)]
    r = _run(env, "team", "login", *server, "--password-stdin", stdin=secret + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Connected to postgresql+psycopg://{u.username}@{u.host}:{u.port}/{u.database}.")
    entry = team_entry(f"postgresql+psycopg://{u.username}@{u.host}:{u.port}/{u.database}")
    assert secret in (keyring.get_password("recondesk", entry) or "")
    # With no --db, the app opens the team database from the settings (its schema brought up to date).
    r = _run(env, "people", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["people"][0]["role"] == "reviewer"
    assert _run(env, "settings", "set", "money_tolerance", "0.02").returncode == 0
    # The password is in no file written and in no row of the database.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    engine = create_engine(team_db)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        assert "people" in tables and "firm_settings" in tables
        for table in tables:
            assert secret not in str(conn.execute(text(f'SELECT * FROM "{table}"')).all()), table
    engine.dispose()
    r = _run(env, "team", "logout")
    assert r.returncode == 0 and keyring.get_password("recondesk", entry) is None
    settings = json.loads((tmp_path / "config-ann" / "Recondesk" / "team" / "settings.json").read_text())
    assert settings["team_db_host"] == "" and settings["team_db_user"] == u.username

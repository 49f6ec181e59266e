"""The audit log's hash chain: an entry edited, deleted or inserted with a plain sqlite3 connection is found and
named; entries written before the chain existed are hashed by the migration; appends from two processes do not fork
the chain."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from app.storage import audit
from app.storage.db import Database
from app.storage.migrate import upgrade


def _file_db(tmp_path: Path, entries: int = 5) -> tuple[Database, Path]:
    path = tmp_path / "cache.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.transaction() as tx:
        for n in range(1, entries + 1):
            audit.append_audit(tx, "ann", "resolve:ignore", "invoice", f"INV-{n}", {"status": "differs"}, {}, "n")
    return db, path


def _check(db: Database) -> audit.AuditCheck:
    with db.transaction(readonly=True) as tx:
        return audit.verify(tx)


def test_an_intact_chain_verifies(db: Database) -> None:
    with db.transaction(readonly=True) as tx:
        assert audit.verify(tx).ok  # empty
    with db.transaction() as tx:
        for n in range(3):
            audit.append_audit(tx, "ann", "push", "invoice", f"INV-{n}", {"a": "1"}, {"a": "é"}, "")
    with db.transaction(readonly=True) as tx:
        found = audit.verify(tx)
    assert found.ok and found.checked == 3 and found.first_broken_id is None


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    db, path = _file_db(tmp_path)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE audit SET note = 'changed' WHERE id = 3")
    found = _check(db)
    assert not found.ok and found.first_broken_id == 3 and found.broken_item == "INV-3"
    assert "changed" in found.message and found.checked == 2


@pytest.mark.parametrize(("gone", "named"), [(2, 3), (5, 5)])
def test_a_deleted_entry_is_named(tmp_path: Path, gone: int, named: int) -> None:
    db, path = _file_db(tmp_path)
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM audit WHERE id = ?", (gone,))
    found = _check(db)
    assert not found.ok and found.first_broken_id == named
    assert f"entry {gone}" in found.message and "deleted" in found.message


def test_an_inserted_entry_is_named_even_with_a_correct_hash(tmp_path: Path) -> None:
    db, path = _file_db(tmp_path, entries=2)
    with db.transaction(readonly=True) as tx:
        last = tx.conn.execute(text("SELECT hash FROM audit WHERE id = 2")).scalar_one()
    from datetime import datetime

    at = datetime(2026, 12, 1, 9, 0)
    digest = audit.entry_hash(3, at, "mallory", "push", "invoice", "INV-9", "{}", "{}", "", last)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO audit (id, at, who, action, item_kind, item_key, before, after, note, prev_hash, hash) "
            "VALUES (3, ?, 'mallory', 'push', 'invoice', 'INV-9', '{}', '{}', '', ?, ?)",
            (at.isoformat(sep=" "), last, digest),
        )
    found = _check(db)
    assert not found.ok and found.first_broken_id == 3 and found.broken_item == "INV-9"
    # ... and one inserted in the middle (shifting nothing) breaks its successor's link.
    db2, path2 = _file_db(tmp_path / "b", entries=3)
    with sqlite3.connect(path2) as raw:
        raw.execute("DELETE FROM audit WHERE id = 2")
        raw.execute(
            "INSERT INTO audit (id, at, who, action, item_kind, item_key, before, after, note, prev_hash, hash) "
            "SELECT 2, at, who, action, item_kind, 'INV-X', before, after, note, prev_hash, hash FROM audit WHERE id=1"
        )
    found = _check(db2)
    assert not found.ok and found.first_broken_id == 2


def test_the_migration_hashes_entries_written_before_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine, "0005")
    with sqlite3.connect(path) as raw:
        for n in (1, 2, 4):  # a gap, as a rolled-back insert leaves on PostgreSQL
            raw.execute(
                "INSERT INTO audit (id, at, who, action, item_kind, item_key, before, after, note) "
                "VALUES (?, '2026-11-30 10:00:00.000000', 'ann', 'push', 'invoice', ?, '{}', '{}', '')",
                (n, f"INV-{n}"),
            )
    db.migrate()
    found = _check(db)
    assert found.ok and found.checked == 3
    with db.transaction() as tx:
        assert audit.append_audit(tx, "bob", "push", "invoice", "INV-5", {}, {}) == 5
    assert _check(db).ok


def test_two_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    db, path = _file_db(tmp_path, entries=0)
    script = (
        "import sys\nfrom app.storage.db import Database\nfrom app.storage import audit\n"
        "db = Database(sys.argv[1])\n"
        "for n in range(40):\n"
        "    with db.transaction() as tx:\n"
        "        audit.append_audit(tx, sys.argv[2], 'push', 'invoice', f'INV-{n}', {}, {})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, f"sqlite:///{path}", who], cwd=Path(__file__).parents[2])
        for who in ("ann", "bob")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    found = _check(db)
    assert found.ok and found.checked == 80

"""Messages say what happened: a full disk says so, in the cache (SQLite's real SQLITE_FULL, from `max_page_count`)
and for an export (the kernel's real ENOSPC, from /dev/full), with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.domain.errors import StorageError
from app.storage.db import DISK_FULL, Database

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_cache_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    db.dispose()

    @event.listens_for(db.engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA max_page_count=60")  # about 480 KiB: as a disk that has no more

    with pytest.raises(StorageError) as caught, db.transaction() as tx:
        tx.conn.exec_driver_sql("CREATE TABLE filler (x BLOB)")
        for _ in range(200):
            tx.conn.exec_driver_sql("INSERT INTO filler VALUES (randomblob(8000))")
    assert caught.value.message == DISK_FULL == "The disk is full: free some space and try again."
    assert "may be damaged" not in caught.value.user_text()


def test_an_export_to_a_full_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_DATA_HOME=str(tmp_path / "d"))
    db = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    r = subprocess.run(
        [sys.executable, "-m", "app", "report", "--db", db, "--format", "csv", "-o", "/dev/full"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == "recondesk: The disk is full: free some space and try again."

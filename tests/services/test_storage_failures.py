"""The cache fails the way a disk does: a sync that runs out of space stops with a message that says what happened
and what to do, keeps every page committed before, and a later sync (space freed) ends in exactly the cache an
uninterrupted sync makes. SQLite's `max_page_count` gives a real SQLITE_FULL ("database or disk is full")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.composition import demo_workspace
from app.domain.errors import StorageError
from app.services.api import ItemFilter
from app.settings import Settings

FAST = replace(Settings(), page_size=25, xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10**7)
LIFTED = "xero:limit_minute=100000,xero:limit_day=1000000"


def _items(ws: Any) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return sorted((r.kind.value, r.key, r.status.value, r.fields) for r in ws.rows(ws.item_ids(ItemFilter())))


def _cap_pages(db: Any, pages: int | None) -> None:
    """Limit (or, with None, free) the SQLite file's size on every connection, as a full disk would."""
    db.dispose()
    if pages is not None:

        @event.listens_for(db.engine, "connect")
        def _cap(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

        db._cap = _cap  # keep a handle to remove it
    else:
        event.remove(db.engine, "connect", db._cap)


def test_a_full_disk_stops_the_sync_clearly_and_loses_nothing(tmp_path: Path) -> None:
    ref, sb_ref = demo_workspace(tmp_path / "ref", invoices=150, settings=FAST, faults=LIFTED)
    try:
        assert ref.sync().ok
        reference = _items(ref)
    finally:
        sb_ref.stop()

    ws, sandboxes = demo_workspace(tmp_path / "full", invoices=150, settings=FAST, faults=LIFTED)
    try:
        db_file = tmp_path / "full" / "demo.sqlite3"
        with ws.db.transaction(readonly=True) as tx:
            used = tx.conn.exec_driver_sql("PRAGMA page_count").scalar()
        _cap_pages(ws.db, int(used) + 40)  # room for a few pages of records, not for the month
        try:
            result = ws.sync()
        except StorageError as exc:  # the run log itself may not fit: then the sync raises the same clear error
            messages = [exc.user_text()]
        else:
            assert not result.ok
            messages = list(result.errors)
        assert any("The disk is full: free some space and try again." in m for m in messages), messages
        assert db_file.exists()

        _cap_pages(ws.db, None)  # space freed
        again = ws.sync()
        assert again.ok, again.errors
        assert _items(ws) == reference
    finally:
        sandboxes.stop()


def test_a_damaged_cache_file_says_so(tmp_path: Path) -> None:
    from app.storage.db import Database

    bad = tmp_path / "cache.sqlite3"
    bad.write_bytes(b"this is not a database" * 200)
    db = Database(f"sqlite:///{bad}")
    with pytest.raises(StorageError) as info:
        with db.transaction(readonly=True) as tx:
            tx.conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
    assert "damaged" in info.value.user_text() and "move the file aside" in info.value.user_text()


def test_opening_a_damaged_cache_says_so_before_anything_else(tmp_path: Path) -> None:
    from app.composition import build_workspace
    from app.credentials import MemoryCredentialStore

    bad = tmp_path / "cache.sqlite3"
    bad.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StorageError) as info:
        build_workspace(f"sqlite:///{bad}", "damaged", MemoryCredentialStore(), Settings())
    assert "damaged" in info.value.user_text()


def test_any_other_refusal_of_the_cache_is_one_short_sentence_without_the_statement(tmp_path: Path) -> None:
    """A failure no rule above names (here a cache whose records table a tool dropped) still reads as a sentence:
    the driver's words, not SQLAlchemy's message with the whole statement and its hundreds of parameters."""
    import sqlite3

    ws, sandboxes = demo_workspace(tmp_path / "gone", invoices=60, settings=FAST, faults=LIFTED)
    try:
        con = sqlite3.connect(tmp_path / "gone" / "demo.sqlite3")  # behind the app's back, as a tool would
        with con:
            con.execute("DROP TABLE record_lines")
            con.execute("DROP TABLE records")
        con.close()
        result = ws.sync()
        assert not result.ok
        assert result.errors
        for message in result.errors:
            assert "no such table: records" in message, message
            assert "[SQL" not in message and "?, ?" not in message and len(message) < 400, message
            assert "may be damaged" in message, message
    finally:
        sandboxes.stop()

"""Pages written by a child process (`PageWriter`): the same cache as in-process writes, errors reach the caller,
and a writer whose parent died commits nothing more and exits. Real SQLite files, real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from storage_samples import credit_note, invalid, invoice, payment, raw_of

from app.domain.errors import StorageError
from app.domain.status import Direction, System
from app.storage import records as repo
from app.storage.db import Database
from app.storage.pagewriter import PageWriter
from app.storage.schema import cursors, record_lines, records

AP, XERO = System.ACCESSPLANIT, System.XERO
HERE = Path(__file__).resolve().parent


def _cache(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


def _pages() -> list[tuple[repo.PreparedPage, dict[str, Any]]]:
    """Eight pages across streams: new records, a record updated on a later page (its lines replaced), an invalid
    one, reference data, a credit note."""
    out = []
    for n in range(6):
        recs: list[Any] = [invoice(str(100 + 10 * n + i), f"INV-{100 + 10 * n + i}") for i in range(5)]
        recs.append(payment(f"p-{n}", f"INV-{100 + 10 * n}", amount="12.50"))
        if n == 3:
            recs.append(invoice("101", "INV-101", net="99.00"))  # seen again: updated, lines replaced
            recs.append(invalid(f"bad-{n}"))
        out.append((repo.prepare_records(AP, "invoices", recs, [raw_of(r) for r in recs]), {"page": n + 1}))
    cn = credit_note()
    refund = payment("x-1", None, system=XERO, direction=Direction.REFUND, credit_note_id="cn-1")
    out.append((repo.prepare_records(XERO, "credit_notes", [cn, refund], [raw_of(cn), raw_of(refund)]), {"page": 1}))
    refs = [{"AccountID": "a-1", "Code": "090"}, {"AccountID": "a-2", "Code": "200"}]
    out.append((repo.prepare_records(XERO, "accounts", refs, refs), {"done": True}))
    return out


def _tables(db: Database) -> list[list[tuple[Any, ...]]]:
    with db.transaction(readonly=True) as tx:
        return [
            sorted(tuple(r) for r in tx.conn.execute(select(table)))  # ids included: same order, same ids
            for table in (records, record_lines, cursors)
        ]


def _invoices_cursor(db: Database) -> dict[str, Any] | None:
    with db.transaction(readonly=True) as tx:
        return repo.get_cursor(tx, AP, "invoices")


def test_a_child_writes_exactly_what_in_process_writes(tmp_path: Path) -> None:
    pages = _pages()
    here, there = _cache(tmp_path / "here.sqlite3"), _cache(tmp_path / "there.sqlite3")
    for page, cursor in pages:
        with here.transaction() as tx:
            repo.upsert_page(tx, page.system, page.stream, (), (), cursor, prepared=page)
    with PageWriter(there.url) as writer:
        for page, cursor in pages:
            writer.write(page, cursor)
        writer.flush()
    assert _tables(there) == _tables(here)
    assert len(_tables(there)[0]) == 6 * 6 + 1 + 2  # 36 AP records (one updated, not doubled) + bad + cn + refund
    with there.transaction(readonly=True) as tx:
        assert repo.get_cursor(tx, AP, "invoices") == {"page": 6}
        assert len(repo.reference_data(tx, XERO, "accounts")) == 2
    here.dispose()
    there.dispose()


def test_close_commits_the_pages_already_sent(tmp_path: Path) -> None:
    db = _cache(tmp_path / "cache.sqlite3")
    writer = PageWriter(db.url)
    for page, cursor in _pages()[:6]:
        writer.write(page, cursor)
    writer.close()  # no flush: a cancelled sync stops the writer this way
    assert _invoices_cursor(db) == {"page": 6}
    db.dispose()


def test_a_page_is_committed_soon_without_a_flush_when_no_more_come(tmp_path: Path) -> None:
    """A paced sync (a page a second or slower) must not leave pages uncommitted while the child waits to fill a
    group: after `_GATHER_SECONDS` without a new page it commits what it has, unasked."""
    db = _cache(tmp_path / "cache.sqlite3")
    pages = _pages()
    with PageWriter(db.url) as writer:
        writer.write(*pages[0])
        writer.write(*pages[1])
        deadline = time.monotonic() + 20
        while _invoices_cursor(db) != {"page": 2} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _invoices_cursor(db) == {"page": 2}  # committed, no flush asked for
        writer.write(*pages[2])
        writer.flush()
        assert _invoices_cursor(db) == {"page": 3}
    db.dispose()


def test_the_writer_runs_below_the_app_s_priority(tmp_path: Path) -> None:
    """A background writer: the app's process (mapping, the GUI) goes first when both want a core."""
    db = _cache(tmp_path / "cache.sqlite3")
    with PageWriter(db.url) as writer:
        writer.write(*_pages()[0])
        writer.flush()  # answered: the child has set its priority before its first page
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, writer._process.pid or 0) == min(19, ours + 5)
    db.dispose()


def test_a_failed_write_reaches_the_caller_and_keeps_the_pages_before(tmp_path: Path) -> None:
    db = _cache(tmp_path / "cache.sqlite3")
    pages = _pages()
    with PageWriter(db.url) as writer:
        writer.write(*pages[0])
        writer.flush()
        with db.transaction() as tx:  # the next page's insert will fail: its table is gone
            tx.conn.exec_driver_sql("DROP TABLE reference_data")
        writer.write(*pages[-1])  # reference data
        with pytest.raises(Exception) as failed:
            writer.flush()
        assert "reference_data" in str(failed.value)
        with pytest.raises(type(failed.value)):
            writer.write(*pages[1])  # a failed writer takes no more pages
    assert _invoices_cursor(db) == {"page": 1}
    db.dispose()


def _explode() -> None:
    raise ValueError("a page that cannot be read")


class _Unpicklable:
    """Pickles fine here; reading it in the child raises."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_explode, ())


@pytest.mark.timeout(60)
def test_a_page_the_child_cannot_read_is_an_error_not_a_hang(tmp_path: Path) -> None:
    db = _cache(tmp_path / "cache.sqlite3")
    pages = _pages()
    with PageWriter(db.url) as writer:
        writer.write(*pages[0])
        writer.flush()
        writer.write(*pages[1])
        writer.write(_Unpicklable(), {})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="cannot be read"):
            writer.flush()
    # Page 2 is rolled back with the failed group, or committed alone if the bad message came after the group ended.
    assert _invoices_cursor(db) in ({"page": 1}, {"page": 2})
    db.dispose()


def test_a_writer_that_died_is_a_storage_error(tmp_path: Path) -> None:
    db = _cache(tmp_path / "cache.sqlite3")
    pages = _pages()
    writer = PageWriter(db.url)
    writer.write(*pages[0])
    writer.flush()
    os.kill(writer._process.pid or 0, signal.SIGKILL)
    writer._process.join(10)
    with pytest.raises(StorageError, match="stopped unexpectedly"):
        for page, cursor in pages[1:]:
            writer.write(page, cursor)
        writer.flush()
    writer.close()
    assert _invoices_cursor(db) == {"page": 1}
    db.dispose()


_PARENT = """
import os, signal, sys, time, json
sys.path.insert(0, sys.argv[1])
from test_pagewriter import _pages
from app.storage.pagewriter import PageWriter
pages = _pages()
writer = PageWriter(sys.argv[2])
writer.write(*pages[0])
writer.flush()
print(json.dumps({"child": writer._process.pid}), flush=True)
for page, cursor in pages[1:6]:
    writer.write(page, cursor)
os.kill(os.getpid(), signal.SIGKILL)  # pages 2-6 sent, some maybe unwritten
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by its new parent) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def test_the_writer_of_a_killed_process_exits_and_leaves_whole_pages(tmp_path: Path) -> None:
    db = _cache(tmp_path / "cache.sqlite3")
    proc = subprocess.run(
        [sys.executable, "-c", _PARENT, str(HERE), db.url], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    child = json.loads(proc.stdout.splitlines()[0])["child"]
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the page writer outlived the process that started it"
    # Whatever it committed is whole pages with their cursor: the records of pages 1..k, the cursor of page k.
    with db.transaction(readonly=True) as tx:
        page = repo.get_cursor(tx, AP, "invoices")
        assert page is not None and 1 <= page["page"] <= 6
        stored = {r for (r,) in tx.conn.execute(select(records.c.remote_id))}
    want: set[str] = set()
    for prepared, _ in _pages()[: page["page"]]:
        want |= {remote_id for (_, remote_id) in prepared.rows}
    assert stored == want
    db.dispose()

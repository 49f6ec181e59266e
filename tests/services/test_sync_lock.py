"""One sync per cache at a time, across processes: a second sync is refused with a message naming the first; the
cache then holds each record once and the same items as a single sync; a killed holder does not block; a lease
that passed frees the lock on another host."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sync_processes import workspace

from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services.sync import SyncBusy, SyncLock
from app.storage import synclog
from app.storage.db import Database
from app.storage.schema import records, sync_lock

HERE = Path(__file__).resolve().parent


@pytest.fixture
def boxes() -> Iterator[Sandboxes]:
    sandboxes = start_sandboxes(SandboxOptions(seed=11, invoices=40, month="2026-10"))
    try:
        yield sandboxes
    finally:
        sandboxes.stop()


def _child(db: Database, boxes: Sandboxes, hold: Path | None, wait: float = 0) -> subprocess.Popen[str]:
    args = {
        "db": db.url,
        "ap": boxes.info["accessplanit"],
        "xe": boxes.info["xero"],
        "hold": str(hold or ""),
        "wait": wait,
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / "sync_processes.py"), json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _last_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no result from the child: {out!r} {err[-2000:]!r}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _record_rows(db: Database) -> tuple[int, int]:
    """All stored records, and the distinct (system, kind, remote id) among them."""
    with db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(records)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(records.c.system, records.c.kind, records.c.remote_id).distinct().subquery()
            )
        ).scalar_one()
    return total, distinct


def test_two_processes_syncing_one_cache_one_is_refused_and_nothing_is_doubled(
    cache: Database, boxes: Sandboxes, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    first = _child(cache, boxes, hold=go)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "holding"  # the first sync has committed a page and waits

    second = _child(cache, boxes, hold=None)
    refused = _last_json(second)
    assert second.returncode == 0
    assert refused["refused"].startswith(f"A sync of this cache is already running (pid {first.pid}, started ")
    assert refused["refused"].endswith("try again when it ends.")

    go.touch()
    done = _last_json(first)
    assert done["ok"], done["errors"]

    # the same items as one sync alone, on a cache of its own
    alone = Database(f"sqlite:///{tmp_path / 'alone.sqlite3'}")
    alone.migrate()
    single = workspace(alone, boxes.info["accessplanit"], boxes.info["xero"]).sync(full=True)
    assert single.ok, single.errors
    assert done["counts"] == single.counts
    total, distinct = _record_rows(cache)
    assert total == distinct == _record_rows(alone)[0]
    with cache.transaction(readonly=True) as tx:
        assert synclog.sync_holder(tx) is None  # freed at the end
        runs = synclog.list_runs(tx)
    assert len(runs) == 1  # the refused sync logged no run
    alone.dispose()


def test_a_second_process_asked_to_wait_queues_behind_the_first_and_then_syncs(
    cache: Database, boxes: Sandboxes, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    first = _child(cache, boxes, hold=go)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "holding"

    second = _child(cache, boxes, hold=None, wait=120)
    assert second.stdout is not None
    said = json.loads(second.stdout.readline())["waiting"]
    assert said.startswith(f"Another sync is running (by tester on host {socket.gethostname()[:64]}, started ")
    assert "started " in said and said.endswith("); Recondesk will start yours when it ends.")
    with cache.transaction(readonly=True) as tx:
        assert len(synclog.list_runs(tx)) == 1  # the waiting one has not started a run

    go.touch()
    done, queued = _last_json(first), _last_json(second)
    assert done["ok"], done["errors"]
    assert queued["ok"], queued["errors"]  # it ran once the first had finished
    with cache.transaction(readonly=True) as tx:
        runs = synclog.list_runs(tx)
        assert synclog.sync_holder(tx) is None
    assert len(runs) == 2 and all(r.finished_at is not None for r in runs)
    assert runs[0].started_at >= runs[1].finished_at  # one after the other, never both at once
    total, distinct = _record_rows(cache)
    assert total == distinct  # nothing doubled


def test_a_killed_sync_does_not_block_the_next_one(cache: Database, boxes: Sandboxes, tmp_path: Path) -> None:
    first = _child(cache, boxes, hold=tmp_path / "never")
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "holding"
    with cache.transaction(readonly=True) as tx:
        holder = synclog.sync_holder(tx)
    assert holder is not None and holder.pid == first.pid
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)

    result = workspace(cache, boxes.info["accessplanit"], boxes.info["xero"]).sync()
    assert result.ok, result.errors


def test_a_live_holder_refuses_and_a_passed_lease_on_another_host_frees(cache: Database) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with cache.transaction() as tx:
        assert synclog.claim_sync(tx, "elsewhere:1234:a", "elsewhere", 1234, 600, now=now)
    mine = SyncLock(cache, 600)
    with pytest.raises(SyncBusy) as err:
        mine.acquire()
    # a real time in the message, and the other host named (its pid means nothing here)
    assert "pid 1234 on elsewhere, started " in err.value.user_text()

    with cache.transaction() as tx:  # its lease passes: the holder is gone from anyone's point of view
        tx.conn.execute(sync_lock.update().values(lease_until=now - timedelta(seconds=1)))
    mine.acquire()
    with cache.transaction(readonly=True) as tx:
        holder = synclog.sync_holder(tx)
    assert holder is not None and holder.owner == mine.owner
    mine.release()
    with cache.transaction(readonly=True) as tx:
        assert synclog.sync_holder(tx) is None


def test_the_lock_holds_between_two_holders_on_postgresql(pg_cache: Database) -> None:
    first, second = SyncLock(pg_cache, 600), SyncLock(pg_cache, 600)
    first.acquire()
    with pytest.raises(SyncBusy) as err:
        second.acquire()
    assert err.value.user_text().startswith(f"A sync of this cache is already running (pid {os.getpid()}, started ")
    first.release()
    second.acquire()
    with pg_cache.transaction(readonly=True) as tx:
        holder = synclog.sync_holder(tx)
    assert holder is not None and holder.owner == second.owner
    second.release()

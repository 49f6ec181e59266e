"""Repository of the sync-run log: one row per run (start, end, outcome, errors, item counts, API budget) and the
per-stream statistics (records, pages, calls, retries, invalid, error); the health checks of the connections (one
row per check); and the one-row sync lock (who syncs this cache now, with a lease).

Must not: run a sync or judge it; a run whose process died simply has no `finished_at`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from app.domain.status import System
from app.storage.dashboard import open_value
from app.storage.db import Tx
from app.storage.models import RunRecord, StreamStatRecord, StreamStatsLike
from app.storage.schema import health_checks, sync_lock, sync_runs, sync_stream_stats


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start_run(
    tx: Tx, full: bool, started_at: datetime | None = None, rules: str | None = None, who: str | None = None
) -> int:
    """Log the start of a run; `rules` names the matching rules it will reconcile with; `who` started it."""
    result = tx.conn.execute(
        insert(sync_runs).values(
            started_at=started_at or _now(),
            full=full,
            ok=None,
            cancelled=False,
            errors="[]",
            counts="{}",
            budget="{}",
            rules=rules,
            who=who,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _stat_row(run_id: int, s: StreamStatsLike) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "system": str(s.system),
        "stream": s.stream,
        "fetched": s.fetched,
        "pages": s.pages,
        "calls": s.calls,
        "retries": s.retries,
        "invalid": s.invalid,
        "error": s.error,
    }


def finish_run(
    tx: Tx,
    run_id: int,
    ok: bool,
    cancelled: bool,
    errors: Sequence[str],
    stats: Sequence[StreamStatsLike],
    counts: Mapping[str, int],
    budget: Mapping[str, str] | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Write the end of a run with its stream statistics, and what is still open per currency as the run leaves the
    items (`dashboard.open_value`: the money view's trend across syncs)."""
    tx.conn.execute(
        update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(
            finished_at=finished_at or _now(),
            ok=ok,
            cancelled=cancelled,
            errors=json.dumps(list(errors)),
            counts=json.dumps(dict(counts), sort_keys=True),
            budget=json.dumps(dict(budget or {}), sort_keys=True),
            open_value=json.dumps(open_value(tx), sort_keys=True),
        )
    )
    if stats:
        tx.conn.execute(insert(sync_stream_stats), [_stat_row(run_id, s) for s in stats])


def _runs(tx: Tx, q: Any) -> list[RunRecord]:
    rows = list(tx.conn.execute(q))
    if not rows:
        return []
    ids = [r.id for r in rows]
    streams: dict[int, list[StreamStatRecord]] = {i: [] for i in ids}
    sq = select(sync_stream_stats).where(sync_stream_stats.c.run_id.in_(ids)).order_by(sync_stream_stats.c.id)
    for s in tx.conn.execute(sq):
        streams[s.run_id].append(
            StreamStatRecord(
                system=System(s.system),
                stream=s.stream,
                fetched=s.fetched,
                pages=s.pages,
                calls=s.calls,
                retries=s.retries,
                invalid=s.invalid,
                error=s.error,
            )
        )
    return [
        RunRecord(
            id=r.id,
            started_at=r.started_at,
            finished_at=r.finished_at,
            full=bool(r.full),
            ok=None if r.ok is None else bool(r.ok),
            cancelled=bool(r.cancelled),
            errors=tuple(json.loads(r.errors)),
            counts=dict(json.loads(r.counts)),
            budget=dict(json.loads(r.budget)),
            streams=tuple(streams[r.id]),
            rules=r.rules,
            open_value=None if r.open_value is None else {str(k): int(v) for k, v in json.loads(r.open_value).items()},
            who=r.who or "",
        )
        for r in rows
    ]


def last_run(tx: Tx, *, finished_only: bool = False) -> RunRecord | None:
    q = select(sync_runs).order_by(sync_runs.c.id.desc()).limit(1)
    if finished_only:
        q = q.where(sync_runs.c.finished_at.is_not(None))
    runs = _runs(tx, q)
    return runs[0] if runs else None


def last_finished_run_id(tx: Tx) -> int:
    """The newest finished run's id (0 when none finished)."""
    q = select(func.max(sync_runs.c.id)).where(sync_runs.c.finished_at.is_not(None))
    return int(tx.conn.execute(q).scalar() or 0)


def list_runs(tx: Tx, limit: int = 50) -> list[RunRecord]:
    """Newest first."""
    return _runs(tx, select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit))


def restamp_rules(tx: Tx, old: str, new: str) -> bool:
    """After a settings change re-reconciled every item it can affect, the last run counts as reconciled with the new
    rules `new`, so the next sync stays incremental. Only when that run finished, ok, with `old`: a run still going
    (or failed) keeps its digest, and the next sync then reconciles everything."""
    last = last_run(tx)
    if last is None or last.finished_at is None or not last.ok or last.rules != old:
        return False
    tx.conn.execute(update(sync_runs).where(sync_runs.c.id == last.id).values(rules=new))
    return True


# --- the sync lock -------------------------------------------------------------------------------------------------

SYNC_LOCK = "sync"


@dataclass(frozen=True, slots=True)
class SyncHolder:
    """Who holds the sync lock: `owner` (host:pid:instance), its host and pid, when it started, until when."""

    owner: str
    host: str
    pid: int
    started_at: datetime
    lease_until: datetime
    progress: str = ""  # where the sync is ("" before its first step)

    @property
    def who(self) -> str:
        """The person named in the owner (host:pid:instance:who), else "process <pid>"."""
        parts = self.owner.split(":", 3)
        return parts[3] if len(parts) == 4 and parts[3] else f"process {self.pid}"


def set_sync_progress(tx: Tx, owner: str, text: str) -> None:
    """Say where `owner`'s sync is (only while it holds the lock)."""
    tx.conn.execute(
        update(sync_lock)
        .where(and_(sync_lock.c.name == SYNC_LOCK, sync_lock.c.owner == owner))
        .values(progress=text[:500])
    )


def claim_sync(
    tx: Tx, owner: str, host: str, pid: int, lease_seconds: float, *, now: datetime, steal_from: str | None = None
) -> bool:
    """Take the sync lock for `owner`: one compare-and-set UPDATE that succeeds when the lock is free, already
    `owner`'s, its lease has passed, or it is held by `steal_from` (a holder known to be dead). False: held."""
    free = or_(sync_lock.c.owner.is_(None), sync_lock.c.owner == owner, sync_lock.c.lease_until < now)
    if steal_from is not None:
        free = or_(free, sync_lock.c.owner == steal_from)
    values = {
        "owner": owner,
        "host": host[:64],
        "pid": pid,
        "started_at": now,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "progress": None,
    }
    done = tx.conn.execute(update(sync_lock).where(and_(sync_lock.c.name == SYNC_LOCK, free)).values(**values))
    if done.rowcount:
        return True
    if tx.conn.execute(select(func.count()).select_from(sync_lock)).scalar_one() == 0:
        # A cache made from the schema without the migration's seed row (tests' metadata.create_all).
        tx.conn.execute(insert(sync_lock).values(name=SYNC_LOCK, **values))
        return True
    return False


def renew_sync(tx: Tx, owner: str, lease_seconds: float, *, now: datetime) -> bool:
    """Move the lease on while `owner` still holds the lock; False when it lost it."""
    done = tx.conn.execute(
        update(sync_lock)
        .where(and_(sync_lock.c.name == SYNC_LOCK, sync_lock.c.owner == owner))
        .values(lease_until=now + timedelta(seconds=lease_seconds))
    )
    return bool(done.rowcount)


def release_sync(tx: Tx, owner: str) -> None:
    """Free the lock (only if `owner` still holds it)."""
    tx.conn.execute(
        update(sync_lock)
        .where(and_(sync_lock.c.name == SYNC_LOCK, sync_lock.c.owner == owner))
        .values(owner=None, host=None, pid=None, started_at=None, lease_until=None, progress=None)
    )


def sync_holder(tx: Tx) -> SyncHolder | None:
    row = tx.conn.execute(select(sync_lock).where(sync_lock.c.name == SYNC_LOCK)).first()
    if row is None or row.owner is None:
        return None
    return SyncHolder(row.owner, row.host or "", int(row.pid or 0), row.started_at, row.lease_until, row.progress or "")


# --- health checks -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One check of one connection. `level`: "ok", "slow" (answered slowly or rate-limited) or "failed"."""

    id: int
    at: datetime
    system: System
    level: str
    seconds: int
    message: str


def add_health(tx: Tx, at: datetime, system: System | str, level: str, seconds: int, message: str) -> int:
    result = tx.conn.execute(
        insert(health_checks).values(at=at, system=str(system), level=level, seconds=seconds, message=message)
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


HEALTH_KEEP_PER_SYSTEM = 1000
"""The most checks kept per connection, however recent (`prune_health`)."""


def prune_health(tx: Tx, system: System | str, before: datetime, keep: int = HEALTH_KEEP_PER_SYSTEM) -> int:
    """Delete the checks of `system` older than `before`, and those beyond its newest `keep`; returns how many."""
    hc = health_checks.c
    gone = tx.conn.execute(delete(health_checks).where(hc.system == str(system), hc.at < before)).rowcount
    cut = tx.conn.execute(
        select(hc.id).where(hc.system == str(system)).order_by(hc.id.desc()).offset(keep).limit(1)
    ).scalar()
    if cut is not None:
        gone += tx.conn.execute(delete(health_checks).where(hc.system == str(system), hc.id <= cut)).rowcount
    return int(gone or 0)


def _health(r: Any) -> HealthRecord:
    return HealthRecord(r.id, r.at, System(r.system), r.level, r.seconds, r.message)


def list_health(tx: Tx, limit: int = 50) -> list[HealthRecord]:
    """Newest first."""
    q = select(health_checks).order_by(health_checks.c.id.desc()).limit(limit)
    return [_health(r) for r in tx.conn.execute(q)]


def last_health(tx: Tx) -> dict[System, HealthRecord]:
    """The latest check of each system (one indexed look-up per system)."""
    out: dict[System, HealthRecord] = {}
    for system in System:
        q = (
            select(health_checks)
            .where(health_checks.c.system == str(system))
            .order_by(health_checks.c.id.desc())
            .limit(1)
        )
        row = tx.conn.execute(q).first()
        if row is not None:
            out[system] = _health(row)
    return out

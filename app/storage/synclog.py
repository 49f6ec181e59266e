"""Repository of the sync-run log: one row per run (start, end, outcome, errors, item counts, API budget) and the
per-stream statistics (records, pages, calls, retries, invalid, error).

Must not: run a sync or judge it; a run whose process died simply has no `finished_at`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from app.domain.status import System
from app.storage.dashboard import open_value
from app.storage.db import Tx
from app.storage.models import RunRecord, StreamStatRecord, StreamStatsLike
from app.storage.schema import sync_runs, sync_stream_stats


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start_run(tx: Tx, full: bool, started_at: datetime | None = None, rules: str | None = None) -> int:
    """Log the start of a run; `rules` names the matching rules it will reconcile with."""
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
        )
        for r in rows
    ]


def last_run(tx: Tx, *, finished_only: bool = False) -> RunRecord | None:
    q = select(sync_runs).order_by(sync_runs.c.id.desc()).limit(1)
    if finished_only:
        q = q.where(sync_runs.c.finished_at.is_not(None))
    runs = _runs(tx, q)
    return runs[0] if runs else None


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

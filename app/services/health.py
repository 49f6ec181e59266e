"""Health checks of the connections: run each saved connection's checks, judge the light (green ok, amber slow or
rate-limited, red failed), record each check in the run log (`storage.synclog.add_health`), and read them back.
The lights' names and the scheduled sync's rule are pure, in `app.domain.watch`.

Must not: import Qt or connectors, schedule anything itself (the GUI's timers do), or put a secret in a message.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from app.domain.status import System
from app.domain.watch import FAILED, OK, SLOW
from app.services.api import CheckResult, HealthCheck
from app.storage import synclog
from app.storage.db import Database

RATE_LIMIT_STEP = "rate_limit"  # the step of a CheckResult whose service said "slow down"


def level_for(result: CheckResult, seconds: float, slow_seconds: float) -> str:
    """The light of one check: red when it failed (amber when only the rate limit stopped it), amber when it took
    longer than `slow_seconds`, else green."""
    if not result.ok:
        return SLOW if result.step == RATE_LIMIT_STEP else FAILED
    return SLOW if seconds > slow_seconds else OK


def run_checks(
    db: Database,
    systems: Iterable[System],
    check: Callable[[System], CheckResult],
    slow_seconds: float,
    *,
    keep_days: int = 30,
    now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
    monotonic: Callable[[], float] = time.monotonic,
) -> list[HealthCheck]:
    """Check each of `systems` in turn and record each check; a check never raises (`check` returns a result). After
    each, the connection's checks older than `keep_days` or beyond its newest `synclog.HEALTH_KEEP_PER_SYSTEM` go."""
    out = []
    for system in systems:
        t0 = monotonic()
        result = check(system)
        took = monotonic() - t0
        level = level_for(result, took, slow_seconds)
        message = result.message if level != SLOW or not result.ok else f"{result.message} (slow: {took:.0f} s)"
        hc = HealthCheck(system, level, message, now(), math.ceil(took))
        with db.transaction() as tx:
            synclog.add_health(tx, hc.at, system, level, hc.seconds, message)
            synclog.prune_health(tx, system, hc.at - timedelta(days=keep_days))
        out.append(hc)
    return out


def _check(rec: synclog.HealthRecord) -> HealthCheck:
    return HealthCheck(rec.system, rec.level, rec.message, rec.at, rec.seconds)


def history(db: Database, limit: int = 50) -> Sequence[HealthCheck]:
    with db.transaction(readonly=True) as tx:
        return [_check(r) for r in synclog.list_health(tx, limit)]


def latest(db: Database) -> dict[System, HealthCheck]:
    with db.transaction(readonly=True) as tx:
        return {s: _check(r) for s, r in synclog.last_health(tx).items()}

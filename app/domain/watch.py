"""Watching the connections, the pure part: the names of a health check's light, and the daily scheduled sync's
rule (when is a sync due), testable with any clock.

Must not: import anything outside the standard library, read a clock itself, or schedule anything.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as day_time

OK, SLOW, FAILED = "ok", "slow", "failed"
"""A check's light: green (worked), amber (answered slowly, or rate-limited), red (failed)."""


def parse_daily_time(text: str) -> day_time | None:
    """ "HH:MM" (00:00-23:59) as a time; None for "" (off) or anything else (a bad value is off, never a guess)."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and 1 <= len(p) <= 2 for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    if hour > 23 or minute > 59:
        return None
    return day_time(hour, minute)


def sync_due(at: day_time | None, now: datetime, last_day: date | None) -> bool:
    """The scheduled sync is due when the local time `now` has reached `at` on a day it was not due yet
    (`last_day`). The caller then marks the day and starts a sync unless one is running (that one counts as the
    day's). The GUI starts `last_day` at today when it opens after the time: no catch-up sync."""
    if at is None:
        return False
    return now.time() >= at and last_day != now.date()

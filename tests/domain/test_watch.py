"""The daily sync's rule and the parsing of its time, against any clock."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from app.domain.watch import parse_daily_time, sync_due


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("07:30", time(7, 30)),
        ("7:05", time(7, 5)),
        (" 23:59 ", time(23, 59)),
        ("00:00", time(0, 0)),
        ("", None),
        ("24:00", None),
        ("12:60", None),
        ("7.30", None),
        ("07:30:00", None),
        ("seven", None),
        ("-1:30", None),
        ("٠٧:٣٠", None),  # digits of another script are not a time here
    ],
)
def test_parse_daily_time(text: str, parsed: time | None) -> None:
    assert parse_daily_time(text) == parsed


@pytest.mark.parametrize(
    ("now", "last_day", "due"),
    [
        (datetime(2026, 12, 7, 7, 29, 59), None, False),
        (datetime(2026, 12, 7, 7, 30), None, True),
        (datetime(2026, 12, 7, 22, 0), None, True),
        (datetime(2026, 12, 7, 7, 30), date(2026, 12, 7), False),
        (datetime(2026, 12, 8, 7, 30), date(2026, 12, 7), True),
        (datetime(2026, 12, 8, 0, 5), date(2026, 12, 7), False),
    ],
)
def test_sync_due(now: datetime, last_day: date | None, due: bool) -> None:
    assert sync_due(time(7, 30), now, last_day) is due
    assert sync_due(None, now, last_day) is False

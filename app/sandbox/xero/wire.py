"""Xero's wire formats: `/Date(ms+0000)/` instants, date-only fields at UTC midnight, money with fixed decimals.

Responsibility: convert between what Xero puts on the wire and Python values, leniently on input (clients send
"YYYY-MM-DD", ISO date-times or `/Date()/`) and exactly on output. It must not know about records or rules, and it
imports nothing from the rest of `app` (the emulator must not share the client's parsing bugs).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CENT = Decimal("0.01")
FOUR_DP = Decimal("0.0001")
SIX_DP = Decimal("0.000001")


def ms_to_wire(ms: int) -> str:
    """An instant as Xero writes it on records: `/Date(1539993600000+0000)/`."""
    return f"/Date({ms}+0000)/"


def ms_to_envelope(ms: int) -> str:
    """The envelope's `DateTimeUTC` has no offset in Xero's examples: `/Date(1552326816230)/`."""
    return f"/Date({ms})/"


def date_to_ms(day: dt.date) -> int:
    """A calendar date is sent as midnight UTC of that day (Xero's own convention for date-only fields)."""
    return (dt.date.toordinal(day) - dt.date(1970, 1, 1).toordinal()) * 86_400_000


def date_to_wire(day: dt.date) -> str:
    return ms_to_wire(date_to_ms(day))


def wire_ms(value: Any) -> int | None:
    """The Unix milliseconds of a `/Date()/` value; the offset is ignored as Xero's docs say. None if unreadable."""
    if not isinstance(value, str):
        return None
    match = _MS_DATE.match(value.strip())
    return int(match.group(1)) if match else None


def wire_date(value: Any) -> dt.date | None:
    """The UTC calendar date of a `/Date()/` value (never shifted by a local zone)."""
    ms = wire_ms(value)
    if ms is None:
        return None
    return (_EPOCH + dt.timedelta(milliseconds=ms)).date()


def date_string(value: Any) -> str | None:
    """`DateString`/`DueDateString`: the date part as `2018-10-20T00:00:00`; none for a date past year 9999 (a
    fixture may hold one on purpose: the `/Date()/` value is served as it is)."""
    try:
        day = wire_date(value)
    except OverflowError:
        return None
    return None if day is None else f"{day.isoformat()}T00:00:00"


def utc_string(ms: int) -> str:
    """`UpdatedDateUTCString`: `2018-11-02T16:31:30Z`."""
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_input_date(value: Any) -> dt.date | None:
    """A date a client sent: "2025-03-12", "2025-03-12T00:00:00" (offset ignored: the date part is what Xero keeps)
    or `/Date(ms)/`. None when unreadable, so the caller can raise a validation error."""
    if isinstance(value, str):
        text = value.strip()
        if _MS_DATE.match(text):
            return wire_date(text)
        match = _ISO_DATE.match(text)
        if match:
            try:
                return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                return None
    return None


def parse_instant(value: str) -> int | None:
    """An `If-Modified-Since` header as Unix ms (UTC, or the offset given). Accepts ISO 8601 and RFC 1123."""
    text = value.strip()
    match = _ISO_DATE.match(text)
    if match:
        try:
            moment = dt.datetime(
                int(match.group(1)),
                int(match.group(2)),
                int(match.group(3)),
                int(match.group(4) or 0),
                int(match.group(5) or 0),
                int(match.group(6) or 0),
                tzinfo=dt.UTC,
            )
        except ValueError:
            return None
        zone = match.group(7)
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            moment -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return int((moment - _EPOCH).total_seconds() * 1000)
    try:
        from email.utils import parsedate_to_datetime

        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int((moment - _EPOCH).total_seconds() * 1000)


def to_decimal(value: Any) -> Decimal | None:
    """A number a client sent (Decimal from the JSON parser, int, or a numeric string); None if it is not one.
    Floats are refused on purpose: the JSON layer must hand us Decimals."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def money(value: Decimal, places: Decimal = CENT) -> Decimal:
    """Round half away from zero, as Xero does for line amounts and tax [ours: the rounding mode is assumed]."""
    return value.quantize(places, rounding=ROUND_HALF_UP)

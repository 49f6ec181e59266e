"""Typed settings, each declared once with its type, default and meaning (after Picard's `options.py`).

Holds only non-secret values. Secrets live in the OS keyring (`app.credentials`), never here. Settings are stored
as JSON per profile in the user config directory; an unknown key in the file is kept but ignored, a bad value falls
back to the default with a warning rather than stopping the app.
Must not: import Qt, touch the network, or hold a secret.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_METHOD_ACCOUNTS: dict[str, str] = {
    "BACS": "090",
    "Card": "091",
    "Cheque": "092",
    "Cash": "093",
    "Stripe": "094",
    "PayPal": "095",
}


@dataclass(frozen=True)
class Settings:
    """Every setting of the app. Change a default here and nowhere else."""

    money_tolerance: Decimal = Decimal("0.01")
    """Largest difference between two amounts that still counts as equal (per field)."""
    method_accounts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METHOD_ACCOUNTS))
    """accessplanit payment method label -> Xero bank account code used for and compared with payments."""
    duplicate_window_days: int = 3
    """Two payments of one invoice in one system, same amount, this many days apart or fewer: a possible duplicate."""
    sales_account_code: str = "200"
    """Xero account code for lines of invoices pushed from accessplanit."""
    sales_tax_type: str = "OUTPUT2"
    """Xero tax type for taxed lines of pushed invoices (untaxed lines use `zero_tax_type`)."""
    zero_tax_type: str = "ZERORATEDOUTPUT"
    overlap_seconds: int = 300
    """Incremental syncs re-read this much before the last watermark (clock skew, same-second updates)."""
    full_resync_days: int = 7
    """A full re-pull happens when the last one is older than this (some changes do not move Xero's timestamps)."""
    page_size: int = 1000
    xero_max_in_flight: int = 2
    """Calls in flight at once per Xero organisation (Xero allows 5)."""
    xero_calls_per_minute: int = 50
    """Pace of calls per Xero organisation; with a burst of 5 any rolling minute stays under Xero's 60."""
    accessplanit_calls_per_hour: int = 4800
    """Pace of calls per accessplanit endpoint (the documented limit is 5,000 an hour)."""
    oauth_loopback_port: int = 53682
    """Fixed port of the loopback listener that receives Xero's OAuth redirect (register it with Xero)."""
    connect_timeout: float = 5.0  # float ok: seconds, not money
    read_timeout: float = 60.0  # float ok: seconds, not money
    user_name: str = ""
    """Shown in the audit log as `who`; empty means the OS login name."""
    write_settle_seconds: float = 3.0  # float ok: seconds, not money
    """After a lost answer, wait this long (since the push became uncertain) before reading it back, so a slow
    write still in flight at the service has landed."""
    push_lease_seconds: float = 300.0  # float ok: seconds, not money
    """How long a claim on an outbox row lasts; a process that died holding one blocks it at most this long."""
    sync_lease_seconds: float = 600.0  # float ok: seconds, not money
    """How long the cache's sync lock lasts without renewal (a sync renews it between pages); a sync that died on
    another host blocks others at most this long (on the same host, at once no longer)."""
    health_check_minutes: int = 15
    """While the app is open, check each connection every this many minutes (0: never); a status light shows it."""
    health_slow_seconds: int = 10
    """A connection check that takes longer than this shows amber (slow) instead of green."""
    daily_sync_time: str = ""
    """Sync automatically once a day at this local time ("HH:MM") while the app is open; empty: never."""

    def who(self) -> str:
        if self.user_name:
            return self.user_name
        try:
            return os.getlogin()
        except OSError:
            return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _coerce(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, Decimal):
        return Decimal(str(value))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number")
        return value
    if isinstance(default, float):
        return float(value)  # float ok: timeouts
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be text")
        return value
    if isinstance(default, dict):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise TypeError(f"{name} must map text to text")
        return dict(value)
    return value


def from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from a JSON object, keeping defaults for missing or bad values."""
    base = Settings()
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in data:
            try:
                changes[f.name] = _coerce(f.name, getattr(base, f.name), data[f.name])
            except (TypeError, ValueError, InvalidOperation) as exc:
                log.warning("setting %s ignored: %s", f.name, exc)
    return replace(base, **changes)


def to_dict(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal) else value
    return out


class SettingsFile:
    """Settings of one profile in `<config dir>/<profile>/settings.json`, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "settings.json"

    def load(self) -> Settings:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Settings()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unreadable (%s); using defaults", self.path, exc)
            return Settings()
        return from_dict(data if isinstance(data, dict) else {})

    def save(self, settings: Settings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(to_dict(settings), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

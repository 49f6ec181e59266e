"""Typed settings, each declared once with its type, default, meaning and metadata (after Picard's `options.py`).

Holds only non-secret values. Secrets live in the OS keyring (`app.credentials`), never here. Settings are stored
as JSON per profile in the user config directory; an unknown key in the file is kept but ignored, a bad value falls
back to the default with a warning rather than stopping the app.

Each field's metadata (`setting(...)`) names its label, group, scope (`firm`: the firm's rules, shared in team mode;
`personal`: this person's machine), bounds, where its values come from (Xero accounts or tax types) and which items
of the reconciliation it can change (`affects`). The settings dialog, the command line's `settings` verb and the
validation are generated from `SETTINGS`; the help text of each is the docstring under its field.
Must not: import Qt, touch the network, or hold a secret.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import logging
import os
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

DEFAULT_METHOD_ACCOUNTS: dict[str, str] = {
    "BACS": "090",
    "Card": "091",
    "Cheque": "092",
    "Cash": "093",
    "Stripe": "094",
    "PayPal": "095",
}

Scope = Literal["firm", "personal"]
Choices = Literal["", "accounts", "tax_types"]
GROUPS = ("Matching", "Mappings", "Connections", "You", "Team database")
"""The groups (dialog tabs) in their order."""
AFFECTABLE = ("invoices", "payments")


def setting(
    default: Any = None,
    *,
    label: str,
    group: str,
    scope: Scope,
    affects: tuple[str, ...] = (),
    minimum: Any = None,
    maximum: Any = None,
    choices: Choices = "",
    factory: Any = None,
) -> Any:
    """A dataclass field with the setting's metadata (see the module docstring). `choices`: for text, the value is
    one of those Xero entries; for a mapping, each value is."""
    meta = {
        "label": label,
        "group": group,
        "scope": scope,
        "affects": affects,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


_MATCH, _MAP, _CONN, _YOU, _TEAM = GROUPS
_BOTH = ("invoices", "payments")


@dataclass(frozen=True)
class Settings:
    """Every setting of the app. Change a default here and nowhere else."""

    money_tolerance: Decimal = setting(  # noqa: RUF009 (a field with metadata)
        Decimal("0.01"), label="Amount tolerance", group=_MATCH, scope="firm", affects=_BOTH, minimum=Decimal(0),
        maximum=Decimal(1000),
    )  # fmt: skip
    """Largest difference between two amounts that still counts as equal (per field, in the record's currency)."""
    money_tolerance_percent: Decimal = setting(  # noqa: RUF009 (a field with metadata)
        Decimal(0), label="Amount tolerance (%)", group=_MATCH, scope="firm", affects=_BOTH, minimum=Decimal(0),
        maximum=Decimal(100),
    )  # fmt: skip
    """Two amounts are also equal when they differ by at most this percent of the larger one (0: off)."""
    payment_date_window_days: int = setting(
        0, label="Payment date window (days)", group=_MATCH, scope="firm", affects=("payments",), minimum=0, maximum=60
    )
    """Payments whose dates are at most this many days apart count as on the same date when pairing them
    (0: the same day only). Their dates still show as a difference."""
    duplicate_window_days: int = setting(
        3, label="Duplicate window (days)", group=_MATCH, scope="firm", affects=("payments",), minimum=0, maximum=365
    )
    """Two payments of one invoice in one system, same amount, this many days apart or fewer: a possible duplicate."""
    contact_ignore_suffixes: bool = setting(
        False, label="Ignore company suffixes in contacts", group=_MATCH, scope="firm", affects=("invoices",)
    )
    """Compare contacts without "Ltd", "Limited", "LLP", "plc" at the end and without punctuation."""
    method_accounts: dict[str, str] = setting(  # noqa: RUF009 (a field with metadata)
        label="Payment method accounts", group=_MAP, scope="firm", affects=("payments",), choices="accounts",
        factory=lambda: dict(DEFAULT_METHOD_ACCOUNTS),
    )  # fmt: skip
    """accessplanit payment method label -> Xero bank account code used for and compared with payments."""
    tax_rate_types: dict[str, str] = setting(  # noqa: RUF009 (a field with metadata)
        label="Tax rate to Xero tax type", group=_MAP, scope="firm", choices="tax_types", factory=dict
    )
    """accessplanit tax rate in percent of a line's net (e.g. 20, 5, 0) -> Xero tax type for lines of pushed
    invoices; a rate not listed uses the sales or zero tax type below."""
    sales_account_code: str = setting("200", label="Sales account", group=_MAP, scope="firm", choices="accounts")
    """Xero account code for lines of invoices pushed from accessplanit."""
    sales_tax_type: str = setting("OUTPUT2", label="Sales tax type", group=_MAP, scope="firm", choices="tax_types")
    """Xero tax type for taxed lines of pushed invoices (untaxed lines use the zero tax type)."""
    zero_tax_type: str = setting(
        "ZERORATEDOUTPUT", label="Zero-rated tax type", group=_MAP, scope="firm", choices="tax_types"
    )
    """Xero tax type for untaxed lines of pushed invoices."""
    overlap_seconds: int = setting(300, label="Sync overlap (s)", group=_CONN, scope="personal", minimum=0)
    """Incremental syncs re-read this much before the last watermark (clock skew, same-second updates)."""
    full_resync_days: int = setting(7, label="Full re-pull every (days)", group=_CONN, scope="personal", minimum=0)
    """A full re-pull happens when the last one is older than this (some changes do not move Xero's timestamps)."""
    page_size: int = setting(1000, label="Page size", group=_CONN, scope="personal", minimum=1, maximum=10000)
    """Records asked for per page."""
    xero_max_in_flight: int = setting(
        2, label="Xero calls at once", group=_CONN, scope="personal", minimum=1, maximum=5
    )
    """Calls in flight at once per Xero organisation (Xero allows 5)."""
    xero_calls_per_minute: int = setting(
        50, label="Xero calls per minute", group=_CONN, scope="personal", minimum=1, maximum=60
    )
    """Pace of calls per Xero organisation; with a burst of 5 any rolling minute stays under Xero's 60."""
    accessplanit_calls_per_hour: int = setting(
        4800, label="accessplanit calls per hour", group=_CONN, scope="personal", minimum=1, maximum=5000
    )
    """Pace of calls per accessplanit endpoint (the documented limit is 5,000 an hour)."""
    oauth_loopback_port: int = setting(
        53682, label="OAuth redirect port", group=_CONN, scope="personal", minimum=1024, maximum=65535
    )
    """Fixed port of the loopback listener that receives Xero's OAuth redirect: register exactly
    `http://localhost:53682/callback` with Xero (README)."""
    connect_timeout: float = setting(5.0, label="Connect timeout (s)", group=_CONN, scope="personal", minimum=0.1)
    """Seconds to wait for a connection to a service."""
    read_timeout: float = setting(60.0, label="Read timeout (s)", group=_CONN, scope="personal", minimum=0.1)
    """Seconds to wait for an answer from a service."""
    user_name: str = setting("", label="Your name", group=_YOU, scope="personal")
    """Shown in the audit log as `who`; empty means the OS login name."""
    write_settle_seconds: float = setting(3.0, label="Write settle time (s)", group=_CONN, scope="personal", minimum=0)
    """After a lost answer, wait this long (since the push became uncertain) before reading it back, so a slow
    write still in flight at the service has landed."""
    push_lease_seconds: float = setting(300.0, label="Push lease (s)", group=_CONN, scope="personal", minimum=1)
    """How long a claim on an outbox row lasts; a process that died holding one blocks it at most this long."""
    ca_bundle: str = setting("", label="CA bundle (PEM file)", group=_CONN, scope="personal")
    """A PEM file of the certificate authorities to trust for HTTPS instead of the system's store (a corporate
    proxy's own CA); empty: the system's store. Certificates are always verified, against one or the other."""
    sync_lease_seconds: float = setting(600.0, label="Sync lock lease (s)", group=_CONN, scope="personal", minimum=10)
    """How long the cache's sync lock lasts without renewal (a sync renews it between pages); a sync that died on
    another host blocks others at most this long (on the same host, at once no longer)."""
    health_check_minutes: int = setting(
        15, label="Check connections every (min)", group=_CONN, scope="personal", minimum=0, maximum=1440
    )
    """While the app is open, check each connection every this many minutes (0: never); a status light shows it."""
    health_slow_seconds: int = setting(
        10, label="Slow check after (s)", group=_CONN, scope="personal", minimum=1, maximum=600
    )
    """A connection check that takes longer than this shows amber (slow) instead of green."""
    daily_sync_time: str = setting("", label="Daily sync at (HH:MM)", group=_CONN, scope="personal")
    """Sync automatically once a day at this local time ("HH:MM") while the app is open; empty: never."""
    xero_adviser: bool = setting(False, label="Xero sign-in has the adviser role", group=_CONN, scope="firm")
    """The Xero user who connected has the adviser role: Xero lets advisers write into the period up to its period
    lock date (never past the end of year lock date), and the checks before a push follow that."""
    health_keep_days: int = setting(
        30, label="Keep connection checks (days)", group=_CONN, scope="personal", minimum=1, maximum=3650
    )
    """Connection checks older than this are deleted after each check (and beyond the newest 1,000 per connection)."""
    team_login: str = setting("", label="Your login", group=_YOU, scope="personal")
    """Who you are on a team database (its people list); empty means the OS login name."""
    team_db_host: str = setting("", label="Server", group=_TEAM, scope="personal")
    """The PostgreSQL server of the firm's shared database (a host name or address); empty: this computer's own
    cache file. The password is kept in the system keyring, never here."""
    team_db_port: int = setting(5432, label="Port", group=_TEAM, scope="personal", minimum=1, maximum=65535)
    """The server's port (PostgreSQL's usual one is 5432)."""
    team_db_name: str = setting("", label="Database", group=_TEAM, scope="personal")
    """The database on that server that holds the firm's reconciliation."""
    team_db_user: str = setting("", label="Database user", group=_TEAM, scope="personal")
    """Your user on that server (its password is asked for once and kept in the system keyring)."""

    def who(self) -> str:
        if self.user_name:
            return self.user_name
        return os_login()

    def login(self) -> str:
        """Who this process is on the database's people list: the `team_login` setting, else the OS login."""
        return self.team_login or os_login()

    def team_url(self) -> str:
        """The team database's URL without a password ("" when none is set)."""
        if not (self.team_db_host and self.team_db_name):
            return ""
        from urllib.parse import quote

        user = f"{quote(self.team_db_user, safe='')}@" if self.team_db_user else ""
        return f"postgresql+psycopg://{user}{self.team_db_host}:{self.team_db_port}/{quote(self.team_db_name, safe='')}"

    def team_entry(self) -> str:
        """The keyring user name of the team database's password (`app.composition.team_entry` of its URL)."""
        return team_entry_name(self.team_db_user, self.team_db_host, self.team_db_port, self.team_db_name)


def team_entry_name(user: str, host: str, port: int, database: str) -> str:
    """`team/<user>@<host>:<port>/<database>`: one keyring entry per person and team database (not a secret)."""
    return f"team/{user}@{host}:{port}/{database}"


def os_login() -> str:
    """The operating system's login name of this process."""
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


class SettingError(ValueError):
    """A value a setting cannot take; the message is one line for people."""


@dataclass(frozen=True, slots=True)
class SettingMeta:
    """One setting as declared: what the dialog, the command line and the validation are generated from."""

    name: str
    label: str
    help: str
    group: str
    scope: Scope
    kind: Literal["decimal", "int", "float", "bool", "text", "mapping"]
    default: Any
    affects: tuple[str, ...] = ()
    minimum: Any = None
    maximum: Any = None
    choices: Choices = ""


def _docstrings(cls: type) -> dict[str, str]:
    """The string literal under each field of `cls` (its help text); empty when the source is not available."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                out[stmt.target.id] = " ".join(nxt.value.value.split())
    return out


def _kind(default: Any) -> Any:
    for typ, kind in ((bool, "bool"), (Decimal, "decimal"), (int, "int"), (float, "float"), (dict, "mapping")):
        if isinstance(default, typ):
            return kind
    return "text"


def _declare() -> tuple[SettingMeta, ...]:
    helps, base = _docstrings(Settings), Settings()
    out = []
    for f in fields(Settings):
        m = f.metadata
        default = getattr(base, f.name)
        out.append(
            SettingMeta(
                f.name,
                m["label"],
                helps.get(f.name, ""),
                m["group"],
                m["scope"],
                _kind(default),
                default,
                m["affects"],
                m["minimum"],
                m["maximum"],
                m["choices"],
            )
        )
    return tuple(out)


SETTINGS: tuple[SettingMeta, ...] = _declare()
META: Mapping[str, SettingMeta] = {m.name: m for m in SETTINGS}

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_mapping(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingError(f"not a JSON object ({exc.msg})") from None
        else:
            value = {}
            for part in filter(None, (p.strip() for p in text.replace("\n", ",").split(","))):
                key, sep, val = part.partition("=")
                if not sep or not key.strip():
                    raise SettingError(f"{part!r} is not NAME=VALUE")
                value[key.strip()] = val.strip()
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SettingError("must map text to text")
    if any(not k.strip() or not v.strip() for k, v in value.items()):
        raise SettingError("names and values may not be empty")
    return {k.strip(): v.strip() for k, v in value.items()}


def parse_value(name: str, value: Any) -> Any:
    """`value` (typed, or text as typed by a person) as the setting `name` holds it; raises `SettingError` with a
    one-line reason (unknown name, wrong type, out of bounds)."""
    meta = META.get(name)
    if meta is None:
        raise SettingError(f"there is no setting called {name!r}")
    text = value.strip() if isinstance(value, str) else None
    try:
        if meta.kind == "bool":
            if isinstance(value, bool):
                out: Any = value
            elif text is not None and text.lower() in _TRUE + _FALSE:
                out = text.lower() in _TRUE
            else:
                raise SettingError("must be on or off")
        elif meta.kind == "decimal":
            if isinstance(value, bool | float):
                raise SettingError("must be a decimal number written as text")
            out = Decimal(text if text is not None else str(value))
            if not out.is_finite():
                raise SettingError("must be a number")
        elif meta.kind == "int":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (text is not None and text.lstrip("-").isdigit())
            ):
                raise SettingError("must be a whole number")
            out = int(value)
        elif meta.kind == "float":
            if isinstance(value, bool):
                raise SettingError("must be a number")
            out = float(text if text is not None else value)  # float ok: seconds, not money
        elif meta.kind == "mapping":
            out = _parse_mapping(value)
        else:
            if not isinstance(value, str):
                raise SettingError("must be text")
            out = " ".join(value.split()) if name == "user_name" else value.strip()
            if meta.choices and not out:
                raise SettingError("may not be empty")
    except (InvalidOperation, ValueError) as exc:
        if isinstance(exc, SettingError):
            raise
        raise SettingError("must be a number") from None
    if meta.minimum is not None and out < meta.minimum:
        raise SettingError(f"must be at least {meta.minimum}")
    if meta.maximum is not None and out > meta.maximum:
        raise SettingError(f"must be at most {meta.maximum}")
    return out


def format_value(name: str, value: Any) -> str:
    """A setting's value as text a person reads and `parse_value` reads back."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from a JSON object, keeping defaults for missing or bad values."""
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in data:
            try:
                changes[f.name] = parse_value(f.name, data[f.name])
            except SettingError as exc:
                log.warning("setting %s ignored: %s", f.name, exc)
    return replace(Settings(), **changes)


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
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # mkstemp: the file is 0600
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(to_dict(settings), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

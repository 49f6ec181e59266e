"""Starts both emulated services for `recondesk sandbox`, `--demo` and tests: picks the data (generated month
or a `--fixtures` directory), makes fresh credentials, splits the faults spec per server, and reports how to
connect.

It wires the emulators together and nothing else: no CLI parsing, no printing, and no import from the rest of
`app`. The generator and the Xero emulator are imported lazily, so this module works before they exist.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from app.sandbox.accessplanit import AccessplanitApp
from app.sandbox.common import Faults, SandboxApp, Server, loads, parse_spec, serve

ACCESSPLANIT_FILES = ("Invoice", "InvoiceItem", "Transaction", "TransactionMethod")
XERO_FILES = ("Invoices", "Payments", "CreditNotes", "Contacts", "TaxRates", "Accounts", "Organisation")
DEMO_USERNAME = "demo"


def _this_month() -> str:
    return date.today().strftime("%Y-%m")


@dataclass
class SandboxOptions:
    seed: int = 1
    invoices: int = 200
    month: str = field(default_factory=_this_month)
    fixtures: str | None = None
    faults: str = ""
    accessplanit_port: int = 0
    xero_port: int = 0
    xero_organisations: tuple[str, ...] = ()  # more (empty) organisations the Xero browser sign-in can connect
    paid_instalments: float = 1.0  # generated months: mean payments per invoice paid in full (see generator)


@dataclass
class Sandboxes:
    """The running servers, product.md's first-line JSON (`info`) and, for generated data, expected items."""

    info: dict[str, Any]
    expected: list[dict[str, Any]] | None
    accessplanit: Server
    xero: Server | None
    accessplanit_app: AccessplanitApp
    xero_app: SandboxApp | None

    def stop(self) -> None:
        if self.xero is not None:
            self.xero.stop()
        self.accessplanit.stop()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def split_faults(spec: str) -> tuple[dict[str, str], dict[str, str]]:
    """(accessplanit, xero) settings: `accessplanit:`/`xero:` keys go to one server, others to both."""
    ap: dict[str, str] = {}
    xero: dict[str, str] = {}
    for key, value in parse_spec(spec).items():
        prefix, sep, rest = key.partition(":")
        if sep and prefix.lower() == "accessplanit":
            ap[rest] = value
        elif sep and prefix.lower() == "xero":
            xero[rest] = value
        elif sep:
            raise ValueError(f"fault key {key!r}: the prefix must be accessplanit: or xero:")
        else:
            ap.setdefault(key, value)
            xero.setdefault(key, value)
    return ap, xero


def _read_json(path: Path) -> Any:
    try:
        return loads(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"fixture file {path} is not valid JSON: {exc}") from None


def load_fixtures(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Read a product.md section 4 fixtures directory.

    Returns `{"accessplanit": {"Invoice": [records], ...}, "xero": {"Invoices": <envelope as in the file>}}`;
    a missing file leaves its key out (an empty collection; accessplanit's TransactionMethod gets defaults).
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"fixtures directory {root} does not exist")
    ap: dict[str, Any] = {}
    for name in ACCESSPLANIT_FILES:
        path = root / "accessplanit" / f"{name}.json"
        if path.is_file():
            ap[name] = _records(_read_json(path), str(path))
    xero: dict[str, Any] = {}
    for name in XERO_FILES:
        path = root / "xero" / f"{name}.json"
        if path.is_file():
            xero[name] = _read_json(path)
    return {"accessplanit": ap, "xero": xero}


def _records(value: Any, where: str) -> list[Any]:
    """The record list of an accessplanit collection given as `{"results": [...]}` or as a bare list."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("results"), list):
        return list(value["results"])
    raise ValueError(f'{where}: expected {{"results": [...]}}')


def _generated(opts: SandboxOptions) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]] | None]:
    generator = importlib.import_module("app.sandbox.generator")
    month = generator.generate(
        seed=opts.seed, invoices=opts.invoices, month=opts.month, paid_instalments=opts.paid_instalments
    )
    ap = {k: _records(v, f"generated {k}") for k, v in dict(month.accessplanit).items()}
    expected = getattr(month, "expected", None)
    return ap, dict(month.xero), (list(expected) if expected is not None else None)


def _expected_for(ap_data: dict[str, Any], xero_data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What the rules say about records loaded with `--fixtures` (the generator's oracle works on any wire records);
    None, with a warning, when the fixtures are too far from the wire shapes for it to judge."""
    generator = importlib.import_module("app.sandbox.generator")
    try:
        return list(generator.expected_items(ap_data, xero_data))
    except Exception as exc:  # fixtures may be deliberately odd; the servers still serve them as they are
        print(f"sandbox: no expected statuses for these fixtures ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _xero_class() -> type[SandboxApp] | None:
    for name in ("app.sandbox.xero", "app.sandbox.xero.app"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        cls = getattr(module, "XeroApp", None)
        if isinstance(cls, type):
            return cls
    return None


def start_sandboxes(opts: SandboxOptions) -> Sandboxes:
    """Start the accessplanit emulator (and Xero's, when `app.sandbox.xero` has `XeroApp`) on 127.0.0.1."""
    ap_faults, xero_faults = split_faults(opts.faults)
    if opts.fixtures:
        data = load_fixtures(opts.fixtures)
        ap_data, xero_data = data["accessplanit"], data["xero"]
        expected = _expected_for(ap_data, xero_data)
    else:
        ap_data, xero_data, expected = _generated(opts)

    password, api_key = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
    ap_app = AccessplanitApp(ap_data, DEMO_USERNAME, password, api_key, Faults(ap_faults))
    ap_server = serve(ap_app, port=opts.accessplanit_port)
    info: dict[str, Any] = {
        "accessplanit": {
            "url": ap_server.url + "/accessplan",
            "username": DEMO_USERNAME,
            "password": password,
            "api_key": api_key,
        },
        "xero": None,
    }
    xero_server: Server | None = None
    xero_app: SandboxApp | None = None
    xero_cls = _xero_class()
    if xero_cls is not None:
        client_id, client_secret = secrets.token_hex(16).upper(), secrets.token_urlsafe(36)
        try:
            extra = {"other_organisations": opts.xero_organisations} if opts.xero_organisations else {}
            xero_app = xero_cls(xero_data, client_id, client_secret, Faults(xero_faults), **extra)  # type: ignore[call-arg,arg-type]
            xero_server = serve(xero_app, port=opts.xero_port)
        except BaseException:
            ap_server.stop()
            raise
        info["xero"] = {
            "url": xero_server.url + "/api.xro/2.0",
            "identity_url": xero_server.url,
            "client_id": client_id,
            "client_secret": client_secret,
        }
    return Sandboxes(info, expected, ap_server, xero_server, ap_app, xero_app)

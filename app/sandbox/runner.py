"""Starts both emulated services for `recondesk sandbox`, `--demo` and tests: picks the data (generated month
or a `--fixtures` directory), makes fresh credentials, splits the faults spec per server, and reports how to
connect.

It wires the emulators together and nothing else: no CLI parsing, no printing, and no import from the rest of
`app`. Reading a fixtures directory is the generator's (`app.sandbox.generator.files`), next to the writer of the
same layout; `load_fixtures` is re-exported here for callers of the runner.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.sandbox import generator
from app.sandbox.accessplanit import AccessplanitApp
from app.sandbox.common import Faults, Server, parse_spec, serve
from app.sandbox.generator.files import load_fixtures
from app.sandbox.xero import XeroApp

__all__ = ["DEMO_USERNAME", "SandboxOptions", "Sandboxes", "load_fixtures", "split_faults", "start_sandboxes"]

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
    # Fidelity knobs (docs/sandboxes.md), the same as the settings `strict=1` and `accessplanit:max_top=<n>`:
    strict: bool = False  # refuse the undocumented query features (accessplanit `in`, DateUpdated; Xero `IDs=`)
    max_top: int = 0  # accessplanit's `$top` cap (0: the default 1000)


@dataclass
class Sandboxes:
    """The running servers, product.md's first-line JSON (`info`) and, for generated data, expected items."""

    info: dict[str, Any]
    expected: list[dict[str, Any]] | None
    accessplanit: Server
    xero: Server
    accessplanit_app: AccessplanitApp
    xero_app: XeroApp

    def stop(self) -> None:
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


def _generated(opts: SandboxOptions) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    # Looked up on the module at call time: benchmarks/_bench.py wraps `generator.generate` to time it.
    month = generator.generate(
        seed=opts.seed, invoices=opts.invoices, month=opts.month, paid_instalments=opts.paid_instalments
    )
    return dict(month.accessplanit), month.xero, month.expected


def _expected_for(ap_data: dict[str, Any], xero_data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What the rules say about records loaded with `--fixtures` (the generator's oracle works on any wire records);
    None, with a warning, when the fixtures are too far from the wire shapes for it to judge."""
    try:
        return generator.expected_items(ap_data, xero_data)
    except Exception as exc:  # fixtures may be deliberately odd; the servers still serve them as they are
        print(f"sandbox: no expected statuses for these fixtures ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def start_sandboxes(opts: SandboxOptions) -> Sandboxes:
    """Start the accessplanit and Xero emulators on 127.0.0.1."""
    ap_faults, xero_faults = split_faults(opts.faults)
    if opts.strict:
        ap_faults.setdefault("strict", "1")
        xero_faults.setdefault("strict", "1")
    if opts.max_top:
        ap_faults.setdefault("max_top", str(opts.max_top))
    if opts.fixtures:
        data = load_fixtures(opts.fixtures)
        ap_data, xero_data = data["accessplanit"], data["xero"]
        expected = _expected_for(ap_data, xero_data)
    else:
        ap_data, xero_data, expected = _generated(opts)

    password, api_key = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
    ap_app = AccessplanitApp(ap_data, DEMO_USERNAME, password, api_key, Faults(ap_faults))
    ap_server = serve(ap_app, port=opts.accessplanit_port)
    client_id, client_secret = secrets.token_hex(16).upper(), secrets.token_urlsafe(36)
    try:
        xero_app = XeroApp(
            xero_data, client_id, client_secret, Faults(xero_faults), other_organisations=opts.xero_organisations
        )
        xero_server = serve(xero_app, port=opts.xero_port)
    except BaseException:
        ap_server.stop()
        raise
    info: dict[str, Any] = {
        "accessplanit": {
            "url": ap_server.url + "/accessplan",
            "username": DEMO_USERNAME,
            "password": password,
            "api_key": api_key,
        },
        "xero": {
            "url": xero_server.url + "/api.xro/2.0",
            "identity_url": xero_server.url,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    }
    return Sandboxes(info, expected, ap_server, xero_server, ap_app, xero_app)

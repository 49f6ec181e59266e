"""Composition root shared by the command line, the demo and the tests: the only module (with `cli`) that wires
concrete classes together — database, keyring, settings, connectors, sandboxes — into a `Workspace`.

Must not: hold business rules; those live in services. Secrets pass through here only on their way to the keyring
or a connector, never into a log line or a printed message.
"""

from __future__ import annotations

import ipaddress
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import platformdirs

from app.connectors.accessplanit.client import AccessplanitClient, AccessplanitConfig
from app.connectors.accessplanit.profile import ACCESSPLANIT
from app.connectors.base import CheckStep, SecretBox, SystemClient
from app.connectors.http import HttpClient, HttpConfig, PacerConfig
from app.connectors.xero import auth as xero_auth
from app.connectors.xero.client import XeroClient, XeroConfig
from app.connectors.xero.profile import XERO
from app.credentials import CredentialStore, LazyKeyringStore, MemoryCredentialStore
from app.domain.errors import ConfigurationError, KeyringUnavailable
from app.domain.status import System
from app.services.api import CheckResult, ConnectionInfo
from app.services.connections import MemorySecretBox
from app.services.workspace import LedgerClient, SourceClient, Workspace
from app.settings import Settings, SettingsFile, team_entry_name
from app.storage.db import Database, default_url, url_parts

APP_NAME = "Recondesk"


def config_dir(profile: str) -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / profile


def data_dir(profile: str) -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / profile


def load_settings(profile: str) -> Settings:
    return SettingsFile(config_dir(profile)).load()


def save_settings(profile: str, settings: Settings) -> None:
    SettingsFile(config_dir(profile)).save(settings)


def system_credentials() -> CredentialStore:
    """The OS keyring, opened when a secret is first needed; then `KeyringUnavailable` (with how to get one) when
    there is none. Commands that need no secret (a report) work without one."""
    return LazyKeyringStore()


def team_entry(url: str) -> str:
    """The keyring user name of a team database's password: `team/<user>@<host>:<port>/<database>`."""
    u = url_parts(url)
    return team_entry_name(u.user, u.host, u.port, u.database)


def database_password(url: str, credentials: CredentialStore) -> str | None:
    """The password of a server database's URL that carries none, from the keyring (`recondesk team login`); None
    when the URL has one, for a SQLite file, or when nothing is stored (the server may not need one)."""
    u = url_parts(url)
    if u.backend == "sqlite" or u.has_password:
        return None
    try:
        secret = credentials.get(team_entry(url))
    except KeyringUnavailable:
        return None  # the server may trust this host, or read ~/.pgpass: let it say whether it needs one
    return secret.get("password") if secret else None


def open_database(
    db_url: str | None, profile: str, settings: Settings | None = None, credentials: CredentialStore | None = None
) -> Database:
    """The cache: `db_url`, else the team database of the settings (Settings > Team database), else the SQLite
    file of the profile. A server's password comes from the keyring, handed to the driver apart from the URL."""
    url = db_url or (settings.team_url() if settings is not None else "") or default_url(profile)
    password = database_password(url, credentials) if credentials is not None else None
    db = Database(url, password=password)
    db.migrate()
    return db


def check_team_database(url: str, password: str | None) -> CheckResult:
    """Try to open the team database at `url` (read only: nothing is created or migrated); one line for people."""
    from app.storage.migrate import check_database

    problem = check_database(url, password)
    return CheckResult(not problem, "reachability", problem or f"Connected to {Database(url).url_for_display}.")


def _accessplanit(f: ConnectorFactory, info: ConnectionInfo, secrets: SecretBox) -> AccessplanitClient:
    secret = secrets.load()
    return AccessplanitClient(
        AccessplanitConfig(
            url=info.url,
            username=info.username,
            password=secret.get("password", ""),
            api_key=secret.get("api_key", ""),
            page_size=f.settings.page_size,
            overlap_seconds=f.settings.overlap_seconds,
            http=f.http_config(),
            pacing=f.pacing(info.system),
        )
    )


def _xero(f: ConnectorFactory, info: ConnectionInfo, secrets: SecretBox) -> XeroClient:
    secret = secrets.load()
    config = XeroConfig(
        url=info.url,
        identity_url=info.identity_url,
        client_id=info.client_id,
        tenant_id=info.tenant_id,
        client_secret=secret.get("client_secret", "") if info.auth == "client_credentials" else "",
        page_size=f.settings.page_size,
        overlap_seconds=f.settings.overlap_seconds,
        refund_account_code=f.settings.sales_account_code,
        lock_dir=f.lock_dir,
        http=f.http_config(),
        pacing=f.pacing(info.system),
    )
    return XeroClient(config, box=secrets)


@dataclass(frozen=True)
class Registration:
    """One system's connector: its profile's paced limits as the user's settings adjust them, and how to build its
    client from a saved connection."""

    pacing: Callable[[Settings], PacerConfig]
    build: Callable[[ConnectorFactory, ConnectionInfo, SecretBox], SystemClient]


CONNECTORS: Mapping[System, Registration] = {
    System.ACCESSPLANIT: Registration(
        lambda s: replace(ACCESSPLANIT.pacing, rate=s.accessplanit_calls_per_hour / 3600), _accessplanit
    ),
    System.XERO: Registration(
        lambda s: replace(XERO.pacing, rate=s.xero_calls_per_minute / 60, max_in_flight=s.xero_max_in_flight), _xero
    ),
}
"""A new source or ledger is a connector package plus a line here."""


class ConnectorFactory:
    """Makes the concrete connectors from a saved connection (implements `services.workspace.ClientFactory`),
    through the `CONNECTORS` table."""

    def __init__(self, settings: Settings, lock_dir: Path | None = None) -> None:
        self.settings = settings
        self.lock_dir = lock_dir

    def http_config(self) -> HttpConfig:
        return replace(
            HttpConfig(),
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            ca_bundle=self.settings.ca_bundle,
        )

    def pacing(self, system: System) -> PacerConfig:
        return CONNECTORS[system].pacing(self.settings)

    def build(self, info: ConnectionInfo, secrets: SecretBox) -> SystemClient:
        return CONNECTORS[info.system].build(self, info, secrets)

    def source(self, info: ConnectionInfo, secrets: SecretBox) -> SourceClient:
        return cast(SourceClient, self.build(info, secrets))

    def ledger(self, info: ConnectionInfo, secrets: SecretBox) -> LedgerClient:
        return cast(LedgerClient, self.build(info, secrets))

    def check(self, info: ConnectionInfo, secrets: SecretBox) -> list[CheckStep]:
        return self.build(info, secrets).check()

    def revoke(self, info: ConnectionInfo, secrets: SecretBox) -> bool:
        return revoke_grant(info, secrets, self.http_config())


def revoke_grant(info: ConnectionInfo, secrets: SecretBox, http: HttpConfig) -> bool:
    """Revoke a saved connection's grant: a Xero OAuth sign-in's refresh token at the revocation endpoint. Nothing
    else can be revoked from here (an accessplanit password or API key, a Xero custom connection's secret)."""
    if info.system is not System.XERO or info.auth != "oauth":
        return False
    token_url = XeroConfig(url=info.url, identity_url=info.identity_url, client_id=info.client_id).token_endpoint
    return xero_auth.revoke_refresh_token(HttpClient(XERO, config=http), token_url, info.client_id, secrets)


def build_workspace(
    db_url: str | None,
    profile: str,
    credentials: CredentialStore,
    settings: Settings | None = None,
    *,
    who: str | None = None,
    keep_settings: bool = True,
) -> Workspace:
    """`who`: the name decisions are recorded under (default: the saved name, else the OS login).
    `keep_settings`: a name the person gives is saved in the profile's settings file (not for the demo)."""
    settings = settings or load_settings(profile)
    db = open_database(db_url, profile, settings, credentials)
    lock_dir = data_dir(profile) / "locks"
    saver = SettingsFile(config_dir(profile)).save if keep_settings else None
    factory = ConnectorFactory(settings, lock_dir)
    ws = Workspace(db, credentials, settings, factory, profile, who, saver, firm_from_db=True)
    factory.settings = ws.settings  # with the firm's settings from the database
    return ws


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ChooseTenant = Callable[[list[tuple[str, str]]], "str | None"]
"""Asked when a sign-in reaches several organisations: (tenant id, name) pairs in, the chosen id (or None) out."""


def connect_xero_oauth(
    ws: Workspace,
    *,
    api_url: str,
    identity_url: str,
    client_id: str,
    tenant_id: str = "",
    open_browser: bool = True,
    choose_tenant: ChooseTenant | None = None,
) -> CheckResult:
    """Xero sign-in with OAuth 2.0 + PKCE. Against a loopback identity server (the sandbox) it runs headless; against
    Xero it opens the system browser (or prints the URL) and waits on the loopback listener for the redirect.
    The organisations the sign-in reaches are listed from /connections: the only one is taken, `tenant_id` picks one,
    or `choose_tenant` asks the user. Only then is anything saved: the token set to the keyring, the rest to the
    cache."""
    box = MemorySecretBox({})
    http = HttpClient(XERO, config=ConnectorFactory(ws.settings).http_config())
    port = ws.settings.oauth_loopback_port
    if identity_url and _is_loopback(identity_url):
        xero_auth.connect_headless(http, identity_url=identity_url, client_id=client_id, box=box, port=0)
    else:

        def show(url: str) -> None:
            if not open_browser or not webbrowser.open(url):
                print(f"Open this address in a browser to sign in to Xero:\n{url}", flush=True)

        cfg = XeroConfig(url=api_url, identity_url=identity_url, client_id=client_id)
        xero_auth.run_pkce_flow(
            http,
            authorize_endpoint=cfg.authorize_endpoint,
            token_url=cfg.token_endpoint,
            client_id=client_id,
            box=box,
            open_browser=show,
            port=port,
        )
    info = ConnectionInfo(
        system=System.XERO,
        url=api_url,
        auth="oauth",
        identity_url=identity_url,
        client_id=client_id,
        tenant_id=tenant_id,
    )
    client = _xero(ConnectorFactory(ws.settings), info, box)
    tenants = client.list_tenants()
    pairs = [(str(t.get("tenantId")), str(t.get("tenantName", ""))) for t in tenants]
    if not tenant_id:
        listed = ", ".join(f"{name} ({tid})" for tid, name in pairs)
        if not pairs:
            return CheckResult(False, "tenant", "This sign-in reaches no organisation. Sign in again and allow one.")
        if len(pairs) == 1:
            tenant_id = pairs[0][0]
        elif choose_tenant is None:
            return CheckResult(
                False, "tenant", f"This sign-in reaches several organisations: {listed}. Pick one (--tenant-id ID)."
            )
        else:
            picked = choose_tenant(pairs)
            if not picked:
                return CheckResult(False, "tenant", "No organisation was chosen; nothing was saved.")
            tenant_id = picked
    names = {str(t.get("tenantId")): str(t.get("tenantName", "")) for t in tenants}
    if tenant_id not in names:
        return CheckResult(False, "tenant", "This sign-in cannot reach that organisation.")
    info = replace(info, tenant_id=tenant_id, tenant_name=names[tenant_id])
    ws.save_connection_secrets(info, box.load())  # the (possibly rotated) token set, to the keyring
    return CheckResult(True, "tenant", f"Connected to {names[tenant_id]}.")


def connect_to_sandboxes(ws: Workspace, info: dict[str, Any]) -> None:
    """Connect `ws` to running sandboxes (`info` is `recondesk sandbox`'s first line): accessplanit with the demo
    user's password, Xero as a custom connection checked first (which also records its organisation)."""
    ap, xero = info["accessplanit"], info["xero"]
    ws.save_connection(
        ConnectionInfo(system=System.ACCESSPLANIT, url=ap["url"], username=ap["username"], auth="password"),
        ap["password"],
    )
    xero_info = ConnectionInfo(
        system=System.XERO,
        url=xero["url"],
        auth="client_credentials",
        identity_url=xero["identity_url"],
        client_id=xero["client_id"],
    )
    result = ws.save_checked(xero_info, xero["client_secret"])
    if not result.ok:
        raise ConfigurationError(f"The Xero sandbox refused the connection: {result.message}")


def demo_workspace(
    directory: Path,
    *,
    seed: int = 1,
    invoices: int = 200,
    month: str | None = None,
    faults: str = "",
    credentials: CredentialStore | None = None,
    settings: Settings | None = None,
) -> tuple[Workspace, Any]:
    """The demo: both sandboxes on 127.0.0.1 with a generated month, a fresh SQLite cache in `directory`, and the
    sandbox credentials kept in memory for this session only (never in the keyring or on disk)."""
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    opts = SandboxOptions(seed=seed, invoices=invoices, faults=faults)
    if month:
        opts.month = month
    sandboxes = start_sandboxes(opts)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ws = build_workspace(
            f"sqlite:///{directory / 'demo.sqlite3'}",
            "demo",
            credentials or MemoryCredentialStore(),
            settings or Settings(),
            keep_settings=False,
        )
        connect_to_sandboxes(ws, sandboxes.info)
    except BaseException:
        sandboxes.stop()
        raise
    return ws, sandboxes

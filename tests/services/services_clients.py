"""The `ClientFactory` the services tests use: the real connectors, with short timeouts, over the emulators."""

from __future__ import annotations

from app.connectors.accessplanit.client import AccessplanitClient, AccessplanitConfig
from app.connectors.base import CheckStep, SecretBox
from app.connectors.http import HttpConfig, PacerConfig
from app.domain.status import System
from app.services.api import ConnectionInfo

# Short timeouts and quick backoff keep fault tests to seconds; no pacing against a local emulator.
FAST_HTTP = HttpConfig(
    connect_timeout=2.0, read_timeout=5.0, max_attempts=3, backoff_base=0.01, backoff_cap=0.05, max_rate_wait=1.0
)


class SandboxClientFactory:
    """The `ClientFactory` the tests use: the real connectors, pointed at whatever `ConnectionInfo` says."""

    def __init__(self) -> None:
        self.made: list[object] = []

    def source(self, info: ConnectionInfo, secrets: SecretBox) -> AccessplanitClient:
        s = secrets.load()
        client = AccessplanitClient(
            AccessplanitConfig(
                url=info.url,
                username=info.username,
                password=s.get("password", ""),
                api_key=s.get("api_key", ""),
                http=FAST_HTTP,
                pacing=PacerConfig.unlimited(),
            )
        )
        self.made.append(client)
        return client

    def ledger(self, info: ConnectionInfo, secrets: SecretBox):  # type: ignore[no-untyped-def]
        from app.connectors.xero.client import XeroClient, XeroConfig

        s = secrets.load()
        client = XeroClient(
            XeroConfig(
                url=info.url,
                identity_url=info.identity_url,
                client_id=info.client_id,
                tenant_id=info.tenant_id,
                client_secret=s.get("client_secret", ""),
                http=FAST_HTTP,
                pacing=PacerConfig.unlimited(),
            ),
            box=secrets,
        )
        if not client.tenant_id:  # a custom connection reaches exactly one organisation
            tenants = client.list_tenants()
            if len(tenants) == 1:
                client.tenant_id = str(tenants[0]["tenantId"])
        self.made.append(client)
        return client

    def check(self, info: ConnectionInfo, secrets: SecretBox) -> list[CheckStep]:
        client = self.source(info, secrets) if info.system is System.ACCESSPLANIT else self.ledger(info, secrets)
        return list(client.check())

    def revoke(self, info: ConnectionInfo, secrets: SecretBox) -> bool:
        from app.composition import revoke_grant

        return revoke_grant(info, secrets, FAST_HTTP)

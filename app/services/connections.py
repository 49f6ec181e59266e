"""Saved connections: the non-secret part in the cache database, the secret in the `CredentialStore` (OS keyring)
under `connection_entry(profile, system, connection_id)`; and `StoreSecretBox`, the `SecretBox` connectors use to
read their secret and save rotated refresh tokens.

Secret shapes (dicts of strings), by `ConnectionInfo.auth`:
  password -> {"password": ...}; api_key -> {"api_key": ...}; client_credentials -> {"client_secret": ...};
  oauth -> whatever the OAuth flow saves (refresh token...), through `save_secret_dict`.
`disconnect` revokes what the service lets us revoke (Xero's refresh token, through the `revoke` the composition
root supplies), removes the keyring entry, keeps the connection's settings (marked without a secret) and the cache,
and appends an audit row.
Must not: write a secret to the database, a log line, an exception message or an export; import connectors.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable

from app.connectors.base import SecretBox
from app.credentials import CredentialStore, connection_entry
from app.domain.errors import ConfigurationError, RecondeskError
from app.domain.status import System
from app.domain.transport import check_transport
from app.services.api import ConnectionInfo
from app.storage import audit as audit_repo
from app.storage import connections as connections_repo
from app.storage.db import Database
from app.storage.models import ConnectionRecord

log = logging.getLogger(__name__)

Revoke = Callable[[ConnectionInfo, SecretBox], bool]
"""Revoke a saved connection's grant at its service; True when something was revoked, False when the service has
nothing to revoke (a password, an API key, a custom connection); raises a `RecondeskError` when it failed."""

SECRET_FIELD = {
    "password": "password",
    "api_key": "api_key",
    "client_credentials": "client_secret",
    "oauth": "refresh_token",
}


class StoreSecretBox:
    """A `SecretBox` over one keyring entry. `save` merges nothing: it replaces the entry (rotated tokens)."""

    def __init__(self, store: CredentialStore, entry: str) -> None:
        self._store = store
        self._entry = entry

    def load(self) -> dict[str, str]:
        return self._store.get(self._entry) or {}

    def save(self, secret: dict[str, str]) -> None:
        self._store.set(self._entry, dict(secret))

    def __repr__(self) -> str:  # never show the secret, even in a debugger's repr or a log of locals
        return f"StoreSecretBox({self._entry!r})"


class MemorySecretBox:
    """A `SecretBox` over a dict in memory: checking details not saved yet, and a sign-in whose tokens are kept
    only once an organisation is chosen (a rotated token stays here too)."""

    def __init__(self, secret: dict[str, str]) -> None:
        self._secret = dict(secret)

    def load(self) -> dict[str, str]:
        return dict(self._secret)

    def save(self, secret: dict[str, str]) -> None:
        self._secret = dict(secret)

    def __repr__(self) -> str:  # never show the secret
        return "MemorySecretBox(<hidden>)"


def _info(rec: ConnectionRecord, has_secret: bool) -> ConnectionInfo:
    return ConnectionInfo(
        system=System(rec.system),
        url=rec.url,
        username=rec.username,
        auth=rec.auth,
        identity_url=rec.identity_url,
        client_id=rec.client_id,
        tenant_id=rec.tenant_id,
        tenant_name=rec.tenant_name,
        has_secret=has_secret,
    )


class Connections:
    """Connections of one profile."""

    def __init__(self, db: Database, credentials: CredentialStore, profile: str) -> None:
        self.db = db
        self.credentials = credentials
        self.profile = profile

    def _record(self, system: System) -> ConnectionRecord | None:
        with self.db.transaction(readonly=True) as tx:
            return connections_repo.get_connection(tx, system)

    def entry(self, rec: ConnectionRecord) -> str:
        return connection_entry(self.profile, str(rec.system), rec.connection_id)

    def list(self) -> list[ConnectionInfo]:
        with self.db.transaction(readonly=True) as tx:
            recs = connections_repo.list_connections(tx)
        return [_info(r, r.has_secret) for r in recs]

    def get(self, system: System) -> tuple[ConnectionInfo, StoreSecretBox]:
        """The connection of `system` and a box over its secret; `ConfigurationError` when there is none."""
        rec = self._record(system)
        if rec is None:
            raise ConfigurationError(
                f"There is no {system.label} connection yet.",
                f"Add one in Edit > Connections (or `recondesk connect {system}`).",
            )
        box = StoreSecretBox(self.credentials, self.entry(rec))
        return _info(rec, rec.has_secret), box

    def save(self, info: ConnectionInfo, secret: str | None) -> None:
        """Save `info`; `secret` (when given) goes to the keyring as the auth type's field. None keeps the old one."""
        field = SECRET_FIELD.get(info.auth, "secret")
        self.save_secret_dict(info, {field: secret} if secret else None)

    def save_secret_dict(self, info: ConnectionInfo, secret: dict[str, str] | None) -> None:
        """Save `info` and, when given, the whole secret dict (the OAuth flow's tokens)."""
        check_transport(info.url, f"The {info.system.label} address")  # https://, or http:// to loopback only
        check_transport(info.identity_url, "The identity server address")
        old = self._record(info.system)
        # Keep the connection id (and so the keyring entry) when only the settings change.
        connection_id = old.connection_id if old is not None else str(uuid.uuid4())
        entry = connection_entry(self.profile, str(info.system), connection_id)
        if secret:
            self.credentials.set(entry, secret)  # keyring first: a DB row never points at a secret that is not there
        has_secret = bool(secret) or (old is not None and self.credentials.get(entry) is not None)
        rec = ConnectionRecord(
            system=info.system,
            connection_id=connection_id,
            url=info.url,
            username=info.username,
            auth=info.auth,
            identity_url=info.identity_url,
            client_id=info.client_id,
            tenant_id=info.tenant_id,
            tenant_name=info.tenant_name,
            has_secret=has_secret,
        )
        with self.db.transaction() as tx:
            connections_repo.save_connection(tx, rec)

    def update_tenant(self, system: System, tenant_id: str, tenant_name: str) -> None:
        """After a check found the organisation: keep its id and name (not secret)."""
        rec = self._record(system)
        if rec is None:
            return
        with self.db.transaction() as tx:
            connections_repo.save_connection(tx, dataclasses.replace(rec, tenant_id=tenant_id, tenant_name=tenant_name))

    def disconnect(self, system: System, revoke: Revoke, who: str) -> tuple[bool, str]:
        """Revoke, remove the keyring entry, keep the settings and the cache, audit. Returns (ok, message): not ok
        when the revocation failed (the entry is removed all the same, and the message says how to revoke it at
        the service)."""
        rec = self._record(system)
        if rec is None:
            raise ConfigurationError(f"There is no {system.label} connection to disconnect.")
        info, box = _info(rec, rec.has_secret), StoreSecretBox(self.credentials, self.entry(rec))
        revoked, failure = False, ""
        if rec.has_secret:
            try:
                revoked = revoke(info, box)
            except RecondeskError as exc:
                failure = exc.user_text()
                log.warning("revoking the %s sign-in failed: %s", system.value, failure)
        self.credentials.delete(self.entry(rec))
        with self.db.transaction() as tx:
            connections_repo.save_connection(tx, dataclasses.replace(rec, has_secret=False))
            audit_repo.append_audit(
                tx,
                who,
                "disconnect",
                "connection",
                str(system),
                {"has_secret": rec.has_secret, "tenant_name": rec.tenant_name},
                {"has_secret": False, "revoked": revoked, "revoke_error": failure},
            )
        kept = f"Disconnected from {system.label}; the cached records are kept."
        if failure:
            return False, (
                f"{kept} The saved sign-in was removed here, but it could not be revoked: {failure} To end it, "
                f"remove Recondesk from the apps connected to your {system.label} account."
            )
        if revoked:
            return True, f"{kept} The sign-in was revoked at {system.label}."
        return True, kept

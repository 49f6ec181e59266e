"""Repository of saved connections: the non-secret settings of each system's connection. The secret itself lives
in the OS keyring under an entry named by `connection_id`; it never reaches this table.

Must not: accept or store a secret (there is no column for one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from app.domain.status import System
from app.storage.db import Tx
from app.storage.models import ConnectionRecord
from app.storage.schema import connections


def save_connection(tx: Tx, info: ConnectionRecord) -> None:
    """Insert or replace the connection of `info.system`."""
    values: dict[str, Any] = {
        "connection_id": info.connection_id,
        "url": info.url,
        "username": info.username,
        "auth": info.auth,
        "identity_url": info.identity_url,
        "client_id": info.client_id,
        "tenant_id": info.tenant_id,
        "tenant_name": info.tenant_name,
        "has_secret": info.has_secret,
        "updated_at": datetime.now(UTC).replace(tzinfo=None),
    }
    done = tx.conn.execute(update(connections).where(connections.c.system == info.system.value).values(values))
    if done.rowcount == 0:
        tx.conn.execute(insert(connections).values(system=info.system.value, **values))


def _record(r: Any) -> ConnectionRecord:
    return ConnectionRecord(
        system=System(r.system),
        connection_id=r.connection_id,
        url=r.url,
        username=r.username,
        auth=r.auth,
        identity_url=r.identity_url,
        client_id=r.client_id,
        tenant_id=r.tenant_id,
        tenant_name=r.tenant_name,
        has_secret=bool(r.has_secret),
        updated_at=r.updated_at,
    )


def list_connections(tx: Tx) -> list[ConnectionRecord]:
    return [_record(r) for r in tx.conn.execute(select(connections).order_by(connections.c.system))]


def get_connection(tx: Tx, system: System) -> ConnectionRecord | None:
    r = tx.conn.execute(select(connections).where(connections.c.system == system.value)).first()
    return None if r is None else _record(r)


def delete_connection(tx: Tx, system: System) -> None:
    tx.conn.execute(delete(connections).where(connections.c.system == system.value))

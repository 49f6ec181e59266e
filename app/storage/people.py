"""The people of a team database and the firm's settings: rows in, plain values out.

`people`: login -> (name, role, active); `firm_settings`: setting name -> JSON text. Who may change what is decided
by the services (services/team.py), not here.
Must not: know which role may do what, read the settings file, or hold a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from app.storage.db import Tx
from app.storage.schema import firm_settings, people

ROLES = ("viewer", "preparer", "reviewer")
"""The roles, least to most: a viewer reads, a preparer also acts, a reviewer also signs off and manages people."""


@dataclass(frozen=True, slots=True)
class PersonRecord:
    login: str
    name: str
    role: str
    active: bool
    changed_by: str
    changed_at: datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _person(row: Any) -> PersonRecord:
    return PersonRecord(row.login, row.name, row.role, bool(row.active), row.changed_by, row.changed_at)


def list_people(tx: Tx) -> list[PersonRecord]:
    rows = tx.conn.execute(select(people).order_by(people.c.login)).all()
    return [_person(r) for r in rows]


def get_person(tx: Tx, login: str) -> PersonRecord | None:
    row = tx.conn.execute(select(people).where(people.c.login == login)).first()
    return None if row is None else _person(row)


def count_people(tx: Tx) -> int:
    return int(tx.conn.execute(select(func.count()).select_from(people)).scalar_one())


def add_person(tx: Tx, login: str, name: str, role: str, changed_by: str) -> PersonRecord:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    tx.conn.execute(
        insert(people).values(login=login, name=name, role=role, active=True, changed_by=changed_by, changed_at=_now())
    )
    found = get_person(tx, login)
    assert found is not None
    return found


def update_person(
    tx: Tx, login: str, changed_by: str, *, name: str | None = None, role: str | None = None, active: bool | None = None
) -> PersonRecord | None:
    """Change what is given; None when there is no such person."""
    values: dict[str, Any] = {"changed_by": changed_by, "changed_at": _now()}
    if name is not None:
        values["name"] = name
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        values["role"] = role
    if active is not None:
        values["active"] = active
    tx.conn.execute(update(people).where(people.c.login == login).values(**values))
    return get_person(tx, login)


def load_firm_settings(tx: Tx) -> dict[str, Any]:
    """Setting name -> value as stored (JSON-decoded; money as text)."""
    rows = tx.conn.execute(select(firm_settings.c.name, firm_settings.c.value)).all()
    return {r.name: json.loads(r.value) for r in rows}


def save_firm_settings(tx: Tx, values: dict[str, Any], changed_by: str) -> None:
    """Write each value (JSON-able: money as text) under its name, replacing what was there."""
    at = _now()
    for name, value in values.items():
        text = json.dumps(value, sort_keys=True)
        done = tx.conn.execute(
            update(firm_settings)
            .where(firm_settings.c.name == name)
            .values(value=text, changed_by=changed_by, changed_at=at)
        )
        if done.rowcount == 0:
            tx.conn.execute(insert(firm_settings).values(name=name, value=text, changed_by=changed_by, changed_at=at))

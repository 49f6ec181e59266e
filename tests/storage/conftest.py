"""Fixtures for the storage tests: a migrated cache on a real SQLite file, and the same on PostgreSQL (marked
`postgres`; the server comes from scripts/with-postgres) in a throw-away schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from app.storage.db import Database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'cache.sqlite3'}")
        database.migrate()
        yield database
        database.dispose()
        return
    base = request.getfixturevalue("pg_url")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    database = Database(f"{base}{sep}options={quote(f'-csearch_path={schema}')}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

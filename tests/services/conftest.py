"""Fixtures for the services tests: a migrated cache on a real SQLite file, records and items stored through the
real repositories, and (for push tests) the two emulated services on 127.0.0.1 with connectors built over them.

Shared by the storage/sync engineer and the services engineer; add fixtures, do not change others' meaning.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_clients import SandboxClientFactory
from services_world import World, make_world

from app.storage.db import Database

SERVICES_DB = os.environ.get("RECONDESK_SERVICES_DB", "sqlite")
"""Where `cache` (and so `world`) lives: "sqlite" (a file; the default) or "postgres" (a throw-away schema of the
run's PostgreSQL server). `make test` runs the services suite once on each."""


@pytest.fixture
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated cache: a real SQLite file under `tmp_path`, or with RECONDESK_SERVICES_DB=postgres `pg_cache`."""
    if SERVICES_DB == "postgres":
        yield request.getfixturevalue("pg_cache")
        return
    database = Database(f"sqlite:///{tmp_path / 'cache.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


# --- connectors over the emulators (services tests that talk HTTP) ------------------------------------------------


@pytest.fixture
def client_factory() -> SandboxClientFactory:
    return SandboxClientFactory()


@pytest.fixture
def world(cache: Database, client_factory: SandboxClientFactory) -> Iterator[World]:
    """Both emulators with a generated month (one invoice per scenario), synced into `cache` by a Workspace."""
    yield from make_world(cache, client_factory)


@pytest.fixture
def pg_cache(pg_url: str) -> Iterator[Database]:
    """A migrated cache in a throw-away schema of the run's PostgreSQL server (scripts/with-postgres)."""
    import uuid
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    schema = "svc_" + uuid.uuid4().hex[:12]
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in pg_url else "?"
    database = Database(f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pg_world(pg_cache: Database, client_factory: SandboxClientFactory) -> Iterator[World]:
    """`world` on PostgreSQL: both emulators with the generated month, synced into a throw-away schema."""
    yield from make_world(pg_cache, client_factory)

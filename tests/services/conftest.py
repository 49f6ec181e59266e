"""Fixtures for the services tests: a migrated cache on a real SQLite file, records and items stored through the
real repositories, and (for push tests) the two emulated services on 127.0.0.1 with connectors built over them.

Shared by the storage/sync engineer and the services engineer; add fixtures, do not change others' meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.storage.db import Database


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Database]:
    """A migrated cache in a real SQLite file under `tmp_path`."""
    database = Database(f"sqlite:///{tmp_path / 'cache.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


# --- connectors over the emulators (services tests that talk HTTP) ------------------------------------------------

from services_clients import SandboxClientFactory  # noqa: E402


@pytest.fixture
def client_factory() -> SandboxClientFactory:
    return SandboxClientFactory()


from services_world import World, make_world  # noqa: E402


@pytest.fixture
def world(cache: Database, client_factory: SandboxClientFactory) -> Iterator[World]:
    """Both emulators with a generated month (one invoice per scenario), synced into `cache` by a Workspace."""
    yield from make_world(cache, client_factory)

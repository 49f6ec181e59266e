"""Run the packaged Alembic migrations programmatically: the `Config` is built in code, never read from the CWD.

Must not: depend on an alembic.ini, on the current directory, or on logging configuration from a file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of `engine` to `revision`, in one transaction."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def heads() -> set[str]:
    """The newest revision(s) of the packaged migrations."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def is_current(conn: Connection) -> bool:
    """True when the database on `conn` is at the newest revision already (a read: no write lock is taken by the
    caller's read-only transaction, so this answers at once while a sync writes)."""
    return set(MigrationContext.configure(conn).get_current_heads()) == heads()

"""Run the packaged Alembic migrations programmatically: the `Config` is built in code, never read from the CWD.

A database whose revision this app does not know (a newer Recondesk upgraded it: a shared team database) is
refused before anything is written (`SchemaTooNew`): downgrading it, or running older code on it, could lose data.
Must not: depend on an alembic.ini, on the current directory, or on logging configuration from a file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from app.domain.errors import ConfigurationError

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


class SchemaTooNew(ConfigurationError):
    """The database is at a revision this version of Recondesk does not know."""


def unknown_revisions(conn: Connection) -> list[str]:
    """The database's revisions that the packaged migrations do not hold (a newer Recondesk wrote them)."""
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    return sorted(r for r in MigrationContext.configure(conn).get_current_heads() if r not in known)


def refuse_newer(conn: Connection) -> None:
    """Raise `SchemaTooNew` (one line for people) when the database was upgraded by a newer Recondesk."""
    newer = unknown_revisions(conn)
    if newer:
        raise SchemaTooNew(
            f"This database was upgraded by a newer Recondesk (revision {', '.join(newer)}); install the newer version."
        )


def check_database(url: str, password: str | None) -> str:
    """Why the database at `url` cannot be used ("" when it can): it does not answer, refuses the sign-in, or was
    upgraded by a newer Recondesk. Read only: nothing is created or migrated. One line, never the password."""
    from app.storage.db import Database

    db = Database(url, password=password)
    try:
        with db.engine.connect() as conn:
            refuse_newer(conn)
    except SchemaTooNew as exc:
        return exc.user_text()
    except Exception as exc:  # the driver's own errors, of every kind: one line
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        if password:
            first = first.replace(password, "***")
        return f"Could not open {db.url_for_display}: {first}"
    finally:
        db.dispose()
    return ""

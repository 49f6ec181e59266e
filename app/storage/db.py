"""The engine and the unit of work: `Database(url)`, `Database.migrate()`, `Database.transaction() -> Tx`.

SQLite gets WAL (readers never wait for the sync's writer), foreign keys on, a busy timeout, and explicit
`BEGIN IMMEDIATE` for write transactions (two processes never deadlock upgrading a read lock). PostgreSQL works with
the same code. A `write_guard` (set by the services: who may change this database) runs inside each write
transaction, on the same connection, just before its first INSERT, UPDATE or DELETE. A `password` is handed to the
driver apart from the URL, so the URL (shown, logged) never holds it.
Must not: expose SQLAlchemy objects beyond this package (a `Tx` is opaque to callers), or know any table's meaning.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from app.domain.errors import StorageError

_READONLY = "recondesk_readonly"
_GUARD_PENDING = "recondesk_guard_pending"
_WRITES = ("insert", "update", "delete")
DISK_FULL = "The disk is full: free some space and try again."


def default_url(profile: str) -> str:
    """SQLite file `<user data dir>/Recondesk/<profile>/cache.sqlite3` (directory created)."""
    from platformdirs import user_data_dir

    directory = Path(user_data_dir("Recondesk", appauthor=False)) / (profile or "default")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'cache.sqlite3'}"


@dataclass(frozen=True, slots=True)
class UrlParts:
    """What the composition root needs of a database URL, without SQLAlchemy: its backend ("sqlite",
    "postgresql"), the server's user, host, port and database, and whether it carries a password."""

    backend: str
    user: str
    host: str
    port: int
    database: str
    has_password: bool


def url_parts(url: str) -> UrlParts:
    """Parse a database URL; `ValueError` for one that is not. For SQLite, `database` is the file's path."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise ValueError(str(exc)) from None
    return UrlParts(
        u.get_backend_name(), u.username or "", u.host or "", u.port or 5432, u.database or "", u.password is not None
    )


class Tx:
    """One open transaction. Repositories take it; callers only pass it along."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


CACHE_KIB = 64 * 1024
PAGE_BYTES = 8192
WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024


class Database:
    """The cache database at `url` (any SQLAlchemy URL; SQLite and PostgreSQL are tested)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, password: str | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        self.write_guard: Callable[[Tx], None] | None = None
        self.url_for_display: str = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.sqlite_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database in ("", ":memory:"):
                # One shared connection, or every checkout would see a new empty database.
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            else:
                Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.sqlite_file = Path(database)
        elif password is not None:
            kwargs["connect_args"] = {"password": password}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite(busy_timeout_ms)
        self._install_guard()

    def _install_guard(self) -> None:
        @event.listens_for(self.engine, "before_cursor_execute")
        def _before(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
            if self.write_guard is None or not conn.info.get(_GUARD_PENDING):
                return
            if statement.lstrip()[:6].lower() in _WRITES:
                conn.info[_GUARD_PENDING] = False  # the guard's own reads and the rest of the transaction pass
                self.write_guard(Tx(conn))

    def _configure_sqlite(self, busy_timeout_ms: int) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling starts transactions late and never for SELECT; we issue BEGIN.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                # 8 KiB pages (new files only; SQLite keeps a file's page size once it has one): a record row with its
                # raw payload is 1-2 KiB, and bigger pages mean fewer pages to write per sync page (-25% commit time).
                cur.execute(f"PRAGMA page_size={PAGE_BYTES}")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                # NORMAL in WAL mode survives a killed process (the crash the sync must survive); only a power cut
                # may lose the last commits, which the next sync fetches again.
                cur.execute("PRAGMA synchronous=NORMAL")
                # A page cache of 64 MiB (the default is 2 MiB): a sync writes records in id order but their unique
                # (system, kind, remote_id) index in random order; with the default cache a 100,000-invoice sync
                # rereads index pages from disk for most inserts. A bound, not a share of the data: memory stays flat.
                cur.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
                # Checkpoint the WAL every 64 MiB instead of every 4 MiB: each checkpoint syncs both files to disk,
                # which on this project's machines cost more than all the writes of a 100,000-invoice sync together;
                # and the file is cut back to that size afterwards.
                cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // PAGE_BYTES}")
                cur.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_BYTES}")
            finally:
                cur.close()
            self.restrict_files()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            readonly = conn.get_execution_options().get(_READONLY, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    def restrict_files(self) -> None:
        """The SQLite file and its -wal/-shm owner-only (0600), whoever created them and under whatever umask: the
        cache holds the month's invoices, customers and the audit log. Files we do not own are left alone."""
        if self.sqlite_file is None:
            return
        for path in (self.sqlite_file, Path(f"{self.sqlite_file}-wal"), Path(f"{self.sqlite_file}-shm")):
            with contextlib.suppress(OSError):  # absent, or another user's file: nothing to tighten
                if path.stat().st_mode & 0o077:
                    path.chmod(0o600)

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Tx]:
        """One atomic unit of work: committed when the block ends, rolled back if it raises.

        `readonly=True` takes no write lock on SQLite (for queries that run while a sync writes).
        """
        try:
            with self.engine.connect() as conn:
                if readonly:
                    conn.execution_options(**{_READONLY: True})
                with conn.begin():
                    conn.info[_GUARD_PENDING] = not readonly
                    try:
                        yield Tx(conn)
                    finally:
                        conn.info[_GUARD_PENDING] = False
        except DBAPIError as exc:
            raise self._for_people(exc) from exc

    def _for_people(self, exc: DBAPIError) -> StorageError:
        """A database failure as a message that says what happened and what to do."""
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        where = self.url_for_display
        kept = "Everything saved before this step is kept; the step itself was undone."
        if "disk is full" in text or "no space left" in text or "could not extend file" in text or self._no_space(text):
            return StorageError(DISK_FULL, f"(The cache is {where}.) {kept}")
        if "database is locked" in text or "database table is locked" in text:
            return StorageError(
                "The cache is busy: another Recondesk window or command is writing to it.",
                f"Wait for it to finish (or close it) and try again. {kept}",
            )
        if "unable to open database" in text or "readonly database" in text or "permission denied" in text:
            return StorageError(
                f"Recondesk cannot write its cache ({where}).",
                "Check that the folder exists and that you may write to it, then try again.",
            )
        if "not a database" in text or "malformed" in text:
            return StorageError(
                f"The cache file is damaged ({where}).",
                "Close Recondesk, move the file aside and sync again: the cache is rebuilt from "
                "accessplanit and Xero (decisions and the audit log live in that file; keep it).",
            )
        if not self.is_sqlite and ("password authentication failed" in text or "no password supplied" in text):
            return StorageError(
                f"The team database refused the sign-in ({where}).",
                "Keep your password with `recondesk team login` (or Settings > Team database), then try again.",
            )
        if isinstance(exc, OperationalError) and not self.is_sqlite:
            return StorageError(
                f"The database server did not answer ({where}).",
                f"Check that it is running and reachable, then try again. {kept}",
            )
        # Anything else (a table missing from a damaged or foreign file, a constraint): the driver's own sentence,
        # not SQLAlchemy's, which carries the whole statement and hundreds of its parameters into the message.
        # The original stays chained for the log.
        orig = exc.orig if exc.orig is not None else exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return StorageError(
            f"The cache database refused a step ({first}).",
            f"{kept} Try again; if it fails again, the cache ({where}) may be damaged or not Recondesk's.",
        )

    def _no_space(self, text: str) -> bool:
        """SQLite reports some writes that failed for want of space (the -wal or -shm growing) as a "disk I/O
        error": it is a full disk when the cache's folder has (almost) no free space left."""
        if "disk i/o error" not in text or self.sqlite_file is None:
            return False
        try:
            return shutil.disk_usage(self.sqlite_file.parent).free < 1024 * 1024
        except OSError:
            return False

    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head). Safe to call on every start: a schema that
        is current already is only read (no write lock), so opening never waits for a sync writing in another
        process; only an actual upgrade takes the write lock."""
        from app.storage.migrate import is_current, refuse_newer, upgrade

        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_READONLY: True})
                with conn.begin():
                    if is_current(conn):
                        return
                    refuse_newer(conn)
            upgrade(self.engine)
        except DBAPIError as exc:
            raise self._for_people(exc) from exc

    def dispose(self) -> None:
        """Close pooled connections (tests, and before deleting the file)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url_for_display!r})"

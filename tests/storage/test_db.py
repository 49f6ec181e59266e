"""The engine and migrations: WAL and foreign keys on SQLite, the migration equals the metadata, migrate() twice is
harmless, the password never shows, and the default location is per profile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.storage.db import Database, default_url
from app.storage.schema import metadata


def test_migration_matches_metadata_and_is_idempotent(db: Database) -> None:
    db.migrate()  # second time: nothing to do, nothing breaks
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0018_item_version"
        names = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= names


def test_a_cache_of_the_first_revision_is_upgraded_with_its_run_log(tmp_path: Path) -> None:
    from app.storage import synclog
    from app.storage.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(database.engine, "0001")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO sync_runs (started_at, finished_at, "full", ok, cancelled, errors, counts, budget) '
                "VALUES ('2026-10-31 18:00:00.000000', '2026-10-31 18:05:00.000000', 1, 1, 0, '[]', '{}', '{}')"
            )
        )
    database.migrate()
    with database.transaction(readonly=True) as tx:
        run = synclog.last_run(tx)
    assert run is not None and run.ok and run.rules is None  # kept; its rules unknown, so the next run redoes all
    database.dispose()


def test_revision_3_places_the_refunds_already_cached_on_sqlite_and_postgresql(db: Database) -> None:
    """A cache of revision 0002 holds a Xero refund on its own number and the credit note naming another invoice;
    the upgrade places the refund (the later code no longer does it while reconciling). Down and up again."""
    from alembic import command

    from app.domain.status import System
    from app.storage import records
    from app.storage.migrate import alembic_config

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    row = (
        "INSERT INTO records (system, kind, stream, remote_id, number, invoice_number, number_key, reference, "
        "currency, amount_minor, total_minor, direction, credit_note_id, deleted, doc_date, state, raw) VALUES "
    )
    with db.engine.begin() as conn:
        conn.execute(
            text(
                row + "('xero', 'credit_note', 'credit_notes', 'cn-1', 'CN-1', NULL, 'INV-7', ' inv-7 ', 'GBP', "
                "NULL, 3000, NULL, NULL, false, '2026-10-20', 'PAID', '{}'), "
                "('xero', 'payment', 'payments', 'r1', NULL, 'CN-OWN', 'CN-OWN', '', 'GBP', 3000, NULL, 'refund', "
                "'cn-1', false, '2026-10-21', NULL, '{}'), "
                "('xero', 'payment', 'payments', 'r2', NULL, 'INV-2', 'INV-2', '', 'GBP', 500, NULL, 'refund', "
                "'cn-unknown', false, '2026-10-21', NULL, '{}')"
            )
        )
    db.migrate()
    with db.transaction(readonly=True) as tx:
        placed = {p.id: p.invoice_number for p in records.load_payments(tx, System.XERO)}
        assert placed == {"r1": "inv-7", "r2": "INV-2"}  # r2's credit note is not cached: its own number holds
        assert records.ledger_refunds_on_key(tx, "INV-7") == 30 and records.ledger_refunds_on_key(tx, "CN-OWN") == 0


def test_indexes_the_item_list_and_sync_rely_on(db: Database) -> None:
    with db.engine.connect() as conn:
        insp = inspect(conn)
        item_ix = {tuple(ix["column_names"]) for ix in insp.get_indexes("items")}
        item_uq = {tuple(uq["column_names"]) for uq in insp.get_unique_constraints("items")}
        rec_ix = {tuple(ix["column_names"]) for ix in insp.get_indexes("records")}
        rec_uq = {tuple(uq["column_names"]) for uq in insp.get_unique_constraints("records")}
    assert ("period", "status") in item_ix and ("kind", "key") in item_uq
    assert ("number_key",) in rec_ix and ("system", "kind", "remote_id") in rec_uq
    assert ("credit_note_id",) in rec_ix  # refunds are placed through it


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'c.sqlite3'}")  # the directory is created
    db.migrate()
    with db.transaction() as tx:
        assert tx.conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert tx.conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert tx.conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    db.dispose()


def test_a_reader_is_not_blocked_by_an_open_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    writer, reader = Database(url), Database(url, busy_timeout_ms=200)
    writer.migrate()
    with writer.transaction() as wtx:
        wtx.conn.exec_driver_sql("INSERT INTO cursors (system, stream, cursor) VALUES ('xero', 's', '{}')")
        with reader.transaction(readonly=True) as rtx:  # WAL: reads the last commit, no waiting
            assert rtx.conn.exec_driver_sql("SELECT count(*) FROM cursors").scalar() == 0
    writer.dispose()
    reader.dispose()


def test_url_for_display_hides_the_password() -> None:
    db = Database("postgresql+psycopg://ann:s3cret@127.0.0.1:5432/recon")
    assert "s3cret" not in db.url_for_display and "ann" in db.url_for_display
    assert "s3cret" not in repr(db)


def test_default_url_is_per_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = default_url("work")
    assert url == f"sqlite:///{tmp_path / 'Recondesk' / 'work' / 'cache.sqlite3'}"
    assert os.path.isdir(tmp_path / "Recondesk" / "work")


def test_migrate_does_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.dispose()


def test_one_database_serves_several_threads(tmp_path: Path) -> None:
    """The GUI reads on its DB lane while a sync writes on the network lane: pooled connections cross threads."""
    import threading

    from app.domain.status import System
    from app.storage import records

    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                with db.transaction() as tx:
                    records.set_cursor(tx, System.XERO, f"s{n}", {"i": i})
                with db.transaction(readonly=True) as tx:
                    assert records.get_cursor(tx, System.XERO, f"s{n}") == {"i": i}
        except BaseException as exc:  # collected and asserted below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.dispose()

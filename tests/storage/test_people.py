"""Team mode in storage, on SQLite and PostgreSQL: the people list, the firm's settings, the write guard (run inside
each write transaction before its first write, never for reads), and a database of a newer Recondesk refused."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.storage import people as people_repo
from app.storage.db import Database, Tx
from app.storage.migrate import SchemaTooNew


def test_people_are_added_listed_and_changed(db: Database) -> None:
    with db.transaction() as tx:
        assert people_repo.count_people(tx) == 0
        people_repo.add_person(tx, "ann", "Ann Lee", "reviewer", "ann")
        people_repo.add_person(tx, "bob", "Bob Ray", "viewer", "ann")
        with pytest.raises(ValueError):
            people_repo.add_person(tx, "cy", "Cy", "boss", "ann")
    with db.transaction() as tx:
        changed = people_repo.update_person(tx, "bob", "ann", role="preparer", active=False)
        assert people_repo.update_person(tx, "nobody", "ann", role="viewer") is None
    assert changed is not None and (changed.role, changed.active, changed.changed_by) == ("preparer", False, "ann")
    with db.transaction(readonly=True) as tx:
        assert [(p.login, p.role, p.active) for p in people_repo.list_people(tx)] == [
            ("ann", "reviewer", True),
            ("bob", "preparer", False),
        ]


def test_firm_settings_are_replaced_by_name(db: Database) -> None:
    with db.transaction() as tx:
        people_repo.save_firm_settings(tx, {"money_tolerance": "0.05", "method_accounts": {"BACS": "090"}}, "Ann")
    with db.transaction() as tx:
        people_repo.save_firm_settings(tx, {"money_tolerance": "0.10"}, "Bob")
    with db.transaction(readonly=True) as tx:
        assert people_repo.load_firm_settings(tx) == {"money_tolerance": "0.10", "method_accounts": {"BACS": "090"}}
        who = tx.conn.execute(text("SELECT changed_by FROM firm_settings WHERE name = 'money_tolerance'")).scalar()
    assert who == "Bob"


def test_the_write_guard_runs_once_per_write_transaction_and_can_refuse(db: Database) -> None:
    calls: list[str] = []

    def guard(tx: Tx) -> None:
        calls.append(str(tx.conn.execute(text("SELECT count(*) FROM people")).scalar_one()))
        if len(calls) > 1:
            raise PermissionError("refused")

    db.write_guard = guard
    with db.transaction() as tx:  # reads only: no guard
        people_repo.list_people(tx)
    with db.transaction(readonly=True) as tx:
        people_repo.list_people(tx)
    assert calls == []
    with db.transaction() as tx:  # two writes: one guard call, before the first
        people_repo.add_person(tx, "ann", "Ann", "reviewer", "ann")
        people_repo.add_person(tx, "bob", "Bob", "viewer", "ann")
    assert calls == ["0"]
    with pytest.raises(PermissionError), db.transaction() as tx:
        people_repo.add_person(tx, "cy", "Cy", "viewer", "ann")
    with db.transaction(readonly=True) as tx:  # the refused transaction wrote nothing
        assert [p.login for p in people_repo.list_people(tx)] == ["ann", "bob"]


def test_a_database_of_a_newer_recondesk_is_refused_in_one_line(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(SchemaTooNew) as caught:
        db.migrate()
    assert caught.value.user_text() == (
        "This database was upgraded by a newer Recondesk (revision 0099_from_the_future); install the newer version."
    )
    with db.engine.connect() as conn:  # nothing was touched
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0099_from_the_future"

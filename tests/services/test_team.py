"""Team mode in the services: who acts (recorded on decisions, sync runs and pushes), roles enforced against the
database (the checks before acting and the guard inside each write transaction), people changes audited, and the
firm's settings kept in the database. On the synced generated month (SQLite) and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from services_clients import SandboxClientFactory
from services_world import MONTH, World
from sqlalchemy import text

from app.credentials import MemoryCredentialStore
from app.domain.status import ItemStatus, Kind, Resolution, System
from app.services.api import PushRecord, Resolve
from app.services.team import RoleRefused
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database

VIEWER = "You are a viewer on this team database; ask a reviewer to make you a preparer"


def _as(world: World, login: str, who: str | None = None) -> Workspace:
    """Someone else on the same database: their own engine, as their own process would have."""
    db = Database(world.db.url)
    return Workspace(db, world.ws.credentials, Settings(), SandboxClientFactory(), "test", who, login=login)


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_the_first_person_is_a_reviewer_and_who_is_recorded_on_sync_runs_and_pushes(world: World) -> None:
    ws = world.ws
    me = ws.me()
    assert me.role == "reviewer" and me.can_sign_off and me.login == ws.team.login
    assert [p.login for p in ws.people()] == [me.login]
    with world.db.engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM sync_runs")).scalars().all() == ["tester"]
    only = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    assert ws.act(PushRecord(only.item_id, System.XERO)).ok
    with world.db.engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM pushes")).scalars().all() == ["tester"]


def test_a_viewer_reads_everything_and_changes_nothing(world: World) -> None:
    world.ws.add_person("dana", "Dana Smith", "viewer")
    dana = _as(world, "dana")
    assert dana.who == "Dana Smith" and not dana.me().can_act
    row = world.item(world.number("amounts_differ"), Kind.INVOICE, ItemStatus.DIFFERS)
    assert dana.item_detail(row.item_id).row.key == row.key  # reading is fine
    decisions, audit = _count(world.db, "decisions"), _count(world.db, "audit")
    refused = dana.act(Resolve(row.item_id, Resolution.IGNORE, "looks fine"))
    assert not refused.ok and refused.refused == "role" and refused.message.startswith(VIEWER)
    assert [r.refused for r in dana.act_many([Resolve(row.item_id, Resolution.ACCEPT_SOURCE)])] == ["role"]
    with pytest.raises(RoleRefused, match=VIEWER):
        dana.sync()
    with pytest.raises(RoleRefused):
        dana.retry_failed()
    assert dana.change_settings({"money_tolerance": "0.50"}).refused == "role"
    assert dana.sign_off(MONTH, "checked", True).refused
    with pytest.raises(RoleRefused):
        dana.add_person("eve", "Eve", "reviewer")
    # Past the checks before acting, the database guard still refuses: the item part writes nothing.
    done = dana.actions.act(Resolve(row.item_id, Resolution.IGNORE, "looks fine"))
    assert not done.ok and VIEWER in done.message
    assert (_count(world.db, "decisions"), _count(world.db, "audit")) == (decisions, audit)
    # Her own, personal settings are hers to change (audited).
    assert dana.change_settings({"page_size": "500"}).ok


def test_a_role_change_holds_at_the_next_write_without_a_restart(world: World) -> None:
    world.ws.add_person("pat", "Pat Doe", "preparer")
    pat = _as(world, "pat")
    row = world.item(world.number("amounts_differ"), Kind.INVOICE, ItemStatus.DIFFERS)
    assert pat.act(Resolve(row.item_id, Resolution.IGNORE, "agreed with the customer")).ok
    with world.db.engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM decisions ORDER BY id DESC")).scalars().first() == "Pat Doe"
    assert pat.sign_off(MONTH, "checked", True).message.startswith("You are a preparer on this team database")
    assert world.ws.set_role("pat", "viewer").role == "viewer"
    assert pat.act(Resolve(row.item_id, Resolution.ACCEPT_SOURCE)).refused == "role"
    world.ws.set_role("pat", active=False)
    assert pat.act(Resolve(row.item_id, Resolution.ACCEPT_SOURCE)).message.startswith("You are no longer active")
    assert world.ws.sign_off(MONTH, "checked by the reviewer", True).ok


def test_people_changes_are_audited_and_the_last_reviewer_stays(world: World) -> None:
    ws = world.ws
    ws.add_person("dana", "Dana Smith", "preparer")
    with pytest.raises(ValueError, match="already"):
        ws.add_person("dana", "Dana", "viewer")
    with pytest.raises(ValueError, match="role must be one of"):
        ws.add_person("eve", "Eve", "boss")
    with pytest.raises(ValueError, match="last reviewer"):
        ws.set_role(ws.team.login, "preparer")
    ws.set_role("dana", "reviewer")
    assert ws.set_role(ws.team.login, "preparer").role == "preparer"  # Dana reviews now
    entries = [(e.action, e.item_key) for e in ws.audit() if e.action.startswith("person_")]
    assert entries[:3] == [("person_role", ws.team.login), ("person_role", "dana"), ("person_add", "dana")]
    assert ws.verify_audit().ok


def test_firm_settings_live_in_the_database_and_personal_ones_stay_local(cache: Database) -> None:
    def open_ws(settings: Settings, login: str = "ann") -> Workspace:
        db = Database(cache.url)
        return Workspace(
            db, MemoryCredentialStore(), settings, SandboxClientFactory(), "t", login=login, firm_from_db=True
        )

    first = open_ws(Settings(money_tolerance=Decimal("0.05"), page_size=10))
    assert first.settings.money_tolerance == Decimal("0.05")
    # Someone else, with other local values: the firm's from the database, their own personal ones.
    other = open_ws(Settings(money_tolerance=Decimal("0.01"), page_size=20), login="bob")
    assert (other.settings.money_tolerance, other.settings.page_size) == (Decimal("0.05"), 20)
    assert first.change_settings({"money_tolerance": "0.25", "duplicate_window_days": "5"}).ok
    again = open_ws(Settings(), login="bob")
    assert (again.settings.money_tolerance, again.settings.duplicate_window_days) == (Decimal("0.25"), 5)
    with cache.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, changed_by FROM firm_settings")).all())  # type: ignore[arg-type]
    assert rows["money_tolerance"] == "ann" and "page_size" not in rows


@pytest.mark.postgres
def test_on_a_shared_postgresql_database_a_newcomer_is_a_viewer_until_a_reviewer_says(pg_cache: Database) -> None:
    def open_ws(login: str) -> Workspace:
        db = Database(pg_cache.url)
        return Workspace(
            db, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "t", login=login, firm_from_db=True
        )

    ann = open_ws("ann")
    bob = open_ws("bob")
    assert (ann.me().role, bob.me().role) == ("reviewer", "viewer")
    assert bob.change_settings({"money_tolerance": "0.20"}).message.startswith("You are a viewer")
    ann.set_role("bob", "preparer")
    assert bob.change_settings({"money_tolerance": "0.20"}).ok
    assert open_ws("ann").settings.money_tolerance == Decimal("0.20")
    assert [(e.action, e.item_key) for e in ann.audit() if e.action.startswith("person_")][-1] == ("person_join", "bob")
    with pytest.raises(ValueError, match="open it again"):
        Workspace(ann.db, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "t", login="cy")

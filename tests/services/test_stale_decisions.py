"""No lost updates (team mode): a decision names the item's version the person saw; when someone else changed the
item since, it is refused with who did what and when, nothing is written or sent, and the result carries the item as
it is now. On the synced generated month, on SQLite and on PostgreSQL (where two people really act at once)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from services_clients import SandboxClientFactory
from services_world import World
from sqlalchemy import text

from app.domain.status import ItemStatus, Kind, Resolution, System
from app.services.api import ActionResult, Match, PushField, PushRecord, Reopen, Resolve
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def team(request: pytest.FixtureRequest) -> World:
    """The synced month on either database, with Dana Smith added as a preparer."""
    world: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    world.ws.add_person("dana", "Dana Smith", "preparer")
    return world


def _as(world: World, login: str) -> Workspace:
    """Someone else on the same database, with their own engine (as their own process would have)."""
    return Workspace(
        Database(world.db.url), world.ws.credentials, Settings(), SandboxClientFactory(), "test", login=login
    )


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_decision_on_an_item_someone_changed_since_is_refused_with_who_did_what(team: World) -> None:
    dana = _as(team, "dana")
    row = team.item(team.number("po_changed_source"), Kind.INVOICE, ItemStatus.DIFFERS)
    mine = team.ws.item_detail(row.item_id)  # both people look at the item
    hers = dana.item_detail(row.item_id)
    assert mine.row.version == hers.row.version == row.version
    accept = next(
        s.action for s in hers.actions if isinstance(s.action, Resolve) and s.action.resolution.value == "accept_xero"
    )
    assert isinstance(accept, Resolve) and accept.expected_version == row.version  # the action names what was shown
    assert dana.act(accept).ok

    decisions, audit, pushes = (_count(team.db, t) for t in ("decisions", "audit", "pushes"))
    ignore = Resolve(row.item_id, Resolution.IGNORE, "fine as it is", expected_version=mine.row.version)
    refused = team.ws.act(ignore)
    assert not refused.ok and refused.refused == "stale"
    assert refused.message.startswith(f"{row.key} changed since it was shown: Dana Smith accepted Xero just now.")
    assert refused.item is not None and refused.item.status is ItemStatus.RESOLVED  # the view gets the item as it is
    assert row.item_id in refused.changes.changed and refused.changes.counts
    push = next(s.action for s in mine.actions if isinstance(s.action, PushField))
    stale_push = team.ws.act(push)
    assert not stale_push.ok and stale_push.refused == "stale" and "Dana Smith accepted Xero" in stale_push.message
    assert (_count(team.db, "decisions"), _count(team.db, "audit"), _count(team.db, "pushes")) == (
        decisions,
        audit,
        pushes,
    )  # nothing was written, and nothing queued to send

    # On the item as it is now, the decision goes through; the command line (no version) is not checked.
    assert refused.item is not None
    reopened = team.ws.act(Reopen(row.item_id, "Dana accepted the wrong side", expected_version=refused.item.version))
    assert reopened.ok, reopened.message
    assert reopened.item is not None and reopened.item.version > refused.item.version
    assert dana.act(Resolve(row.item_id, Resolution.IGNORE, "by the command line")).ok


def test_pushes_and_matches_check_the_version_and_a_sync_that_changes_nothing_keeps_it(team: World) -> None:
    dana = _as(team, "dana")
    only = team.item(team.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    led = team.item(team.number("only_in_ledger"), Kind.INVOICE, ItemStatus.ONLY_IN_LEDGER)
    assert team.ws.sync().ok  # nothing changed in either system: no version moves
    assert [r.version for r in team.ws.rows([only.item_id, led.item_id])] == [only.version, led.version]

    done = dana.act(
        Match(only.item_id, led.item_id, "same sale", expected_version=only.version, other_version=led.version)
    )
    assert done.ok, done.message
    xero_before = len(team.admin(System.XERO, "requests"))
    late = team.ws.act(PushRecord(only.item_id, System.XERO, expected_version=only.version))
    assert not late.ok and late.refused == "stale" and "Dana Smith matched it by hand just now" in late.message
    assert len(team.admin(System.XERO, "requests")) == xero_before  # nothing reached Xero
    # A match whose other side changed since is refused too (it was removed by the match: "no longer exists").
    again = team.ws.act(
        Match(only.item_id, led.item_id, "again", expected_version=done.item.version if done.item else 0)
    )
    assert not again.ok


def test_a_push_by_someone_else_refuses_a_decision_on_the_old_version(team: World) -> None:
    dana = _as(team, "dana")
    row = team.item(team.number("po_changed_source"), Kind.INVOICE, ItemStatus.DIFFERS)
    assert "po_number" in row.fields
    pushed = dana.act(PushField(row.item_id, "po_number", System.XERO))  # no version: as the command line does
    assert pushed.ok, pushed.message
    refused = team.ws.act(Resolve(row.item_id, Resolution.ACCEPT_SOURCE, expected_version=row.version))
    assert not refused.ok and "Dana Smith pushed the PO number to Xero just now" in refused.message, refused.message


@pytest.mark.parametrize("people", [8])
def test_people_deciding_at_once_on_one_version_exactly_one_wins(pg_world: World, people: int) -> None:
    """Real concurrent transactions on PostgreSQL: each person's own engine, all released together on one item and
    on the other items of its invoice (which each decision re-reconciles): one decision per version, no deadlock."""
    logins = [f"p{i}" for i in range(people)]
    for login in logins:
        pg_world.ws.add_person(login, login.upper(), "preparer")
    crowd = [_as(pg_world, login) for login in logins]
    number = pg_world.number("payment_only_in_source")
    rows = [r for r in pg_world.items(number) if r.status in (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE)]
    assert rows
    target = rows[0]
    gate = threading.Barrier(people)
    results: list[ActionResult] = []
    errors: list[BaseException] = []

    def act(ws: Workspace, i: int) -> None:
        try:
            gate.wait()
            note = f"person {i}"
            action = Resolve(target.item_id, Resolution.IGNORE, note, expected_version=target.version)
            results.append(ws.act(action if i % 2 == 0 else replace(action, resolution=Resolution.ACCEPT_SOURCE)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=act, args=(ws, i)) for i, ws in enumerate(crowd)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r.ok for r in results) == 1, [r.message for r in results]
    assert all(r.refused == "stale" and "just now" in r.message for r in results if not r.ok)
    with pg_world.db.engine.connect() as conn:
        made = conn.execute(text("SELECT count(*) FROM decisions WHERE key = :k"), {"k": target.key}).scalar_one()
    assert made == 1
    for ws in crowd:
        ws.db.dispose()


def test_the_others_see_decisions_as_item_changes_syncs_as_a_reload_and_who_is_syncing(team: World) -> None:
    from app.domain.progress import ProgressEvent
    from app.services.sync import SyncLock

    dana = _as(team, "dana")
    first = team.ws.others(None)
    assert first.changes.items == frozenset() and not first.changes.everything and first.syncing == ""
    assert team.ws.others(first.mark).changes == first.changes  # nothing happened: nothing to refresh

    row = team.item(team.number("po_changed_source"), Kind.INVOICE, ItemStatus.DIFFERS)
    assert dana.act(Resolve(row.item_id, Resolution.ACCEPT_LEDGER, expected_version=row.version)).ok
    seen = team.ws.others(first.mark)
    assert row.item_id in seen.changes.changed and seen.changes.counts and not seen.changes.everything
    assert seen.lines == (f"Dana Smith accepted Xero on {row.key}.",)
    mine = dana.others(first.mark)  # one's own decisions are not news to oneself
    assert mine.lines == () and mine.changes.items == frozenset()

    lock = SyncLock(dana.db, 60, who="Dana Smith")
    lock.acquire()
    try:
        lock.share(ProgressEvent("accessplanit: invoices", done=400, total=2000))
        running = team.ws.others(seen.mark)
        assert running.syncing.startswith("Dana Smith is syncing (since ")
        assert running.syncing.endswith("): accessplanit: invoices: 400 of 2,000 records"), running.syncing
    finally:
        lock.release()
    assert dana.sync().ok
    after = team.ws.others(seen.mark)
    assert after.changes.everything and after.syncing == "" and after.mark.run_id > seen.mark.run_id

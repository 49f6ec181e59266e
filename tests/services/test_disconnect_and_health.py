"""`disconnect` over the sandboxes (the revoked refresh token no longer refreshes; the secret leaves the store; the
cache, the connection's settings and the audit chain stay), and the health checks (a light per connection, each
check in the run log, the dashboard's last check)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from app.composition import build_workspace, connect_xero_oauth
from app.credentials import MemoryCredentialStore
from app.domain.status import System
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services import health
from app.services.api import CheckResult, ConnectionInfo
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage import records as records_repo
from app.storage.db import Database

FAST = replace(Settings(), read_timeout=5.0, connect_timeout=2.0)


@pytest.fixture
def boxes() -> Iterator[Sandboxes]:
    sandboxes = start_sandboxes(SandboxOptions(seed=3, invoices=20, month="2026-10"))
    try:
        yield sandboxes
    finally:
        sandboxes.stop()


@pytest.fixture
def ws(tmp_path: Path, boxes: Sandboxes) -> Iterator[Workspace]:
    store = MemoryCredentialStore()
    workspace = build_workspace(f"sqlite:///{tmp_path / 'c.sqlite3'}", "watch", store, FAST, keep_settings=False)
    ap, xe = boxes.info["accessplanit"], boxes.info["xero"]
    source = ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password")
    workspace.save_connection(source, ap["password"])
    signed = connect_xero_oauth(
        workspace, api_url=xe["url"], identity_url=xe["identity_url"], client_id=xe["client_id"]
    )
    assert signed.ok, signed.message
    yield workspace
    workspace.db.dispose()


def _entries(ws: Workspace) -> dict[System, str]:
    return {c.system: ws._connections.entry(ws._connections._record(c.system)) for c in ws.connections()}  # type: ignore[arg-type]


def _record_count(ws: Workspace) -> int:
    with ws.db.transaction(readonly=True) as tx:
        return sum(len(records_repo.load_invoices(tx, s)) for s in System)


def test_disconnect_xero_revokes_the_refresh_token_removes_the_secret_and_keeps_the_cache(
    ws: Workspace, boxes: Sandboxes
) -> None:
    assert ws.sync(full=True).ok
    before = _record_count(ws)
    entry = _entries(ws)[System.XERO]
    refresh = ws.credentials.get(entry)["refresh_token"]  # type: ignore[index]

    result = ws.disconnect(System.XERO)

    assert result.ok
    assert result.message == ("Disconnected from Xero; the cached records are kept. The sign-in was revoked at Xero.")
    assert ws.credentials.get(entry) is None
    # the old refresh token no longer refreshes at the identity server
    xe = boxes.info["xero"]
    answer = requests.post(
        f"{xe['identity_url'].rstrip('/')}/connect/token",
        data={"grant_type": "refresh_token", "client_id": xe["client_id"], "refresh_token": refresh},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert _record_count(ws) == before > 0
    xero = next(c for c in ws.connections() if c.system is System.XERO)
    assert not xero.has_secret and xero.client_id == xe["client_id"]  # the settings stay for reconnecting
    entry_row = ws.audit(5)[0]
    assert (entry_row.action, entry_row.item_key) == ("disconnect", "xero")
    assert ws.verify_audit().ok
    # a health check leaves the disconnected connection alone
    assert [c.system for c in ws.check_health()] == [System.ACCESSPLANIT]


def test_disconnect_accessplanit_removes_the_keyring_entry(ws: Workspace) -> None:
    entry = _entries(ws)[System.ACCESSPLANIT]
    assert ws.credentials.get(entry) is not None
    result = ws.disconnect(System.ACCESSPLANIT)
    assert result.ok
    assert result.message == "Disconnected from accessplanit; the cached records are kept."
    assert ws.credentials.get(entry) is None


def test_a_failed_revocation_still_removes_the_secret_and_says_how_to_revoke(ws: Workspace, boxes: Sandboxes) -> None:
    boxes.stop()  # Xero cannot be reached
    result = ws.disconnect(System.XERO)
    assert not result.ok
    assert result.message.startswith(
        "Disconnected from Xero; the cached records are kept. The saved sign-in was removed here, but it could not "
        "be revoked: Xero's sign-in server could not be reached"
    )
    assert "remove Recondesk from the apps connected to your Xero account" in result.message
    assert ws.credentials.get(_entries(ws)[System.XERO]) is None


def test_health_checks_record_a_light_per_connection_and_the_dashboard_shows_the_last(
    ws: Workspace, boxes: Sandboxes
) -> None:
    checks = ws.check_health()
    assert {(c.system, c.level) for c in checks} == {(System.ACCESSPLANIT, "ok"), (System.XERO, "ok")}
    # Xero revokes the app: the next check is red with the reason, and both checks stay in the history
    xe = boxes.info["xero"]
    requests.post(f"{xe['identity_url'].rstrip('/')}/__admin/revoke", timeout=10).raise_for_status()
    ws._clients.reset()
    second = {c.system: c for c in ws.check_health()}
    assert second[System.XERO].level == "failed"
    assert "revoked" in second[System.XERO].message
    assert second[System.ACCESSPLANIT].level == "ok"
    history = ws.health_history()
    assert len(history) == 4 and history[0].at >= history[-1].at
    dash = {h.system: h for h in ws.dashboard(None).health}
    assert dash[System.XERO].last_check is not None and dash[System.XERO].last_check.level == "failed"
    assert dash[System.ACCESSPLANIT].last_check is not None and dash[System.ACCESSPLANIT].last_check.level == "ok"


@pytest.mark.parametrize(
    ("result", "seconds", "level"),
    [
        (CheckResult(True, "tenant", "Connected."), 1.0, "ok"),
        (CheckResult(True, "tenant", "Connected."), 11.0, "slow"),
        (CheckResult(False, "rate_limit", "Xero: the call limit is used up."), 0.5, "slow"),
        (CheckResult(False, "credentials", "Refused."), 0.5, "failed"),
        (CheckResult(False, "reachability", "No answer."), 30.0, "failed"),
    ],
)
def test_the_light_of_a_check(result: CheckResult, seconds: float, level: str) -> None:
    assert health.level_for(result, seconds, slow_seconds=10) == level


def test_old_checks_and_those_beyond_the_last_thousand_per_connection_are_pruned_after_each_check(
    cache: Database,
) -> None:
    from datetime import datetime, timedelta

    from app.storage import synclog

    today = datetime(2026, 10, 20, 12, 0)
    with cache.transaction() as tx:
        for days in (45, 31, 29):  # Xero: two older than 30 days, one inside
            synclog.add_health(tx, today - timedelta(days=days), System.XERO, "ok", 1, "Connected.")
        for n in range(1005):  # accessplanit: recent, but more than 1,000
            synclog.add_health(tx, today - timedelta(minutes=1005 - n), System.ACCESSPLANIT, "ok", 1, f"check {n}")
    answer = CheckResult(True, "tenant", "Connected.")
    health.run_checks(cache, [System.XERO], lambda s: answer, 10, keep_days=30, now=lambda: today)

    def kept(system: System) -> list[str]:
        return [f"{r.at:%m-%d} {r.message}"[6:] for r in synclog.list_health(tx, 5000) if r.system is system]

    with cache.transaction(readonly=True) as tx:
        assert [f"{r.at:%m-%d}" for r in synclog.list_health(tx, 5000) if r.system is System.XERO] == ["10-20", "09-21"]
        assert len(kept(System.ACCESSPLANIT)) == 1005  # another connection's checks are its own
    health.run_checks(cache, [System.ACCESSPLANIT], lambda s: answer, 10, keep_days=30, now=lambda: today)
    with cache.transaction(readonly=True) as tx:
        ap = kept(System.ACCESSPLANIT)
    assert len(ap) == synclog.HEALTH_KEEP_PER_SYSTEM and ap[:2] == ["Connected.", "check 1004"]
    assert ap[-1] == "check 6"  # the newest 999 earlier checks stay; the oldest six went
    # The setting is declared, with its default
    assert Settings().health_keep_days == 30

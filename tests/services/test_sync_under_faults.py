"""A full sync with each of the sandboxes' faults switched on leaves exactly the cache a clean sync leaves: nothing
lost, nothing duplicated (issue 4). The faults: 429 bursts with Retry-After, 503s, 500s, read timeouts, connection
resets, truncated JSON, HTML error pages with status 200, tokens that expire mid-sync; and an OAuth connection whose
refresh token rotates mid-sync (stored back in the credential store) or is revoked (`invalid_grant`: that system stops
with a reconnect message and everything already fetched stays).

Real parts: both emulators over HTTP on 127.0.0.1, the real connectors, real SQLite files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from app.composition import build_workspace, connect_xero_oauth
from app.credentials import MemoryCredentialStore
from app.domain.status import System
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services.api import ConnectionInfo
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage import records as records_repo

FAST = replace(
    Settings(),
    read_timeout=1.5,
    connect_timeout=2.0,
    page_size=40,
    xero_calls_per_minute=100_000,
    accessplanit_calls_per_hour=10_000_000,
)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    sb = start_sandboxes(
        SandboxOptions(seed=11, invoices=120, month="2026-10", faults="xero:limit_minute=100000,xero:limit_day=100000")
    )
    yield sb
    sb.stop()


def _admin(sb: Sandboxes, system: str, what: str, body: dict[str, Any] | None = None) -> Any:
    base = (
        sb.info["accessplanit"]["url"].rsplit("/accessplan", 1)[0]
        if system == "accessplanit"
        else sb.info["xero"]["identity_url"].rstrip("/")
    )
    if body is None:
        return requests.get(f"{base}/__admin/{what}", timeout=10).json()
    return requests.post(f"{base}/__admin/{what}", json=body, timeout=10)


def _faults(sb: Sandboxes, ap: str, xero: str) -> None:
    base_xero = "limit_minute=100000,limit_day=100000"
    assert _admin(sb, "accessplanit", "faults", {"spec": ap}).status_code == 200
    assert _admin(sb, "xero", "faults", {"spec": ",".join(x for x in (base_xero, xero) if x)}).status_code == 200


def _workspace(sb: Sandboxes, directory: Path, *, oauth: bool = False) -> tuple[Workspace, MemoryCredentialStore]:
    store = MemoryCredentialStore()
    ws = build_workspace(f"sqlite:///{directory / 'cache.sqlite3'}", "faults", store, FAST)
    ap, xero = sb.info["accessplanit"], sb.info["xero"]
    ws.save_connection(
        ConnectionInfo(system=System.ACCESSPLANIT, url=ap["url"], username=ap["username"], auth="password"),
        ap["password"],
    )
    if oauth:
        result = connect_xero_oauth(
            ws, api_url=xero["url"], identity_url=xero["identity_url"], client_id=xero["client_id"]
        )
        assert result.ok, result.message
    else:
        tenant = requests.get(f"{xero['identity_url'].rstrip('/')}/__admin/state", timeout=10).json()
        org = tenant["Organisation"]["Organisations"][0]["OrganisationID"]
        ws.save_connection(
            ConnectionInfo(
                system=System.XERO,
                url=xero["url"],
                auth="client_credentials",
                identity_url=xero["identity_url"],
                client_id=xero["client_id"],
                tenant_id=org,
            ),
            xero["client_secret"],
        )
    return ws, store


def _snapshot(ws: Workspace) -> dict[str, Any]:
    """Everything the cache knows, in a comparable form: records of both systems and the report's items."""
    with ws.db.transaction(readonly=True) as tx:
        records = {
            str(system): {
                "invoices": sorted(repr(i) for i in records_repo.load_invoices(tx, system)),
                "payments": sorted(repr(p) for p in records_repo.load_payments(tx, system)),
            }
            for system in System
        }
        records["invalid"] = sorted(repr(i) for i in records_repo.load_invalid(tx))  # type: ignore[assignment]
    report = ws.report(None)
    items = sorted(json.dumps({k: v for k, v in i.items() if k != "push"}, sort_keys=True) for i in report["items"])
    return {"records": records, "items": items, "totals": report["totals"]}


@pytest.fixture(scope="module")
def reference(sandboxes: Sandboxes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _faults(sandboxes, "", "")
    ws, _ = _workspace(sandboxes, tmp_path_factory.mktemp("reference"))
    result = ws.sync(full=True)
    assert result.ok, result.errors
    snap = _snapshot(ws)
    assert len(snap["items"]) > 150
    return snap


FAULTS = {
    "429 bursts": ("burst429=2x,retry_after=1", "burst429=2x,retry_after=1"),
    "503s": ("error503=0.25,seed=1", "error503=0.25,seed=2"),
    "500s": ("error500=2x", "error500=2x"),
    "read timeouts": ("timeout=2x,timeout_seconds=3", "timeout=2x,timeout_seconds=3"),
    "connection resets": ("reset=0.2,seed=3", "reset=0.2,seed=4"),
    "truncated JSON": ("truncate=0.2,seed=5", "truncate=0.2,seed=6"),
    "HTML pages with status 200": ("html200=0.2,seed=7", "html200=0.2,seed=8"),
    "tokens expiring mid-sync": ("token_ttl=1,latency=0.15", "token_ttl=1,latency=0.15"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_sync_under_faults_gives_the_clean_cache(
    name: str, sandboxes: Sandboxes, reference: dict[str, Any], tmp_path: Path
) -> None:
    ap_spec, xero_spec = FAULTS[name]
    ws, _ = _workspace(sandboxes, tmp_path)
    _faults(sandboxes, ap_spec, xero_spec)
    try:
        result = ws.sync(full=True)
    finally:
        _faults(sandboxes, "", "")
    assert result.ok, result.errors
    faulted = [
        r
        for r in _admin(sandboxes, "accessplanit", "requests") + _admin(sandboxes, "xero", "requests")
        if r.get("fault")
    ]
    if name != "tokens expiring mid-sync":
        assert faulted, "the fault never fired: this run proved nothing"
    assert sum(s.retries for s in result.streams) > 0 or name == "tokens expiring mid-sync"
    assert _snapshot(ws) == reference


def test_refresh_token_rotation_mid_sync_is_stored_and_the_cache_is_clean(
    sandboxes: Sandboxes, reference: dict[str, Any], tmp_path: Path
) -> None:
    ws, store = _workspace(sandboxes, tmp_path, oauth=True)
    [entry] = [e for e in store._data if e.startswith("faults/xero/")]
    first = store.get(entry)
    assert first and first.get("refresh_token")
    _faults(sandboxes, "", "token_ttl=1,latency=0.2")
    # The access token from the sign-in is still good for 30 minutes: expire it, so the sync must refresh (and,
    # with 1-second tokens, refresh again mid-sync).
    assert _admin(sandboxes, "xero", "expire_tokens", {}).status_code in (200, 204)
    try:
        result = ws.sync(full=True)
    finally:
        _faults(sandboxes, "", "")
    assert result.ok, result.errors
    now = store.get(entry)
    assert now and now["refresh_token"] != first["refresh_token"], "the rotated refresh token was not stored"
    assert _snapshot(ws) == reference
    # The old refresh token is dead (rotation); the stored one works: a second sync needs no new sign-in.
    assert ws.sync().ok


def test_invalid_grant_stops_xero_cleanly_and_keeps_what_was_fetched(
    sandboxes: Sandboxes, reference: dict[str, Any], tmp_path: Path
) -> None:
    ws, _ = _workspace(sandboxes, tmp_path, oauth=True)
    assert _admin(sandboxes, "xero", "revoke", {}).status_code in (200, 204)
    result = ws.sync(full=True)
    assert not result.ok
    assert any("reconnect" in e.lower() for e in result.errors), result.errors
    xero_streams = [s for s in result.streams if s.system is System.XERO]
    assert all(s.fetched == 0 for s in xero_streams if s.error)
    # accessplanit went on and its records are all there.
    snap = _snapshot(ws)
    assert snap["records"]["accessplanit"] == reference["records"]["accessplanit"]

"""sync_all on a real SQLite cache.

Two kinds of tests. (1) Against `ListClient`, a small in-process `SystemClient` that serves fixed pages of domain
records: it makes failure points exact (an error on page 2 of one stream, a cancel after page 1) so the crash, error
and cancel rules can be checked to the record. It stands in for a connector, not for HTTP. (2) End to end against
the real emulators over HTTP on 127.0.0.1 with the real connectors: full sync, incremental with nothing changed,
resume after SIGKILL of a syncing process (the cache must equal an uninterrupted sync's), and cancel.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.base import NO_LOOKUPS, CacheLookups, CallStats, CheckStep, MappedRecord, Page
from app.domain.errors import AuthenticationError, RateLimited, TransientError
from app.domain.progress import CancelToken, ProgressEvent
from app.domain.records import Invoice, Payment
from app.domain.status import Direction, InvoiceState, ItemStatus, Kind, System
from app.services.reconciling import rules_digest
from app.services.sync import sync_all
from app.settings import Settings
from app.storage import records, synclog
from app.storage.db import Database
from app.storage.schema import items as items_table
from app.storage.schema import records as records_table

AP, XERO = System.ACCESSPLANIT, System.XERO
D = Decimal
T0 = datetime(2026, 10, 31, 18, 0, 0)


def _inv(system: System, n: int) -> Invoice:
    return Invoice(
        system=system,
        id=f"{system.value[0]}{n}",
        number=f"INV-{n}",
        contact="Acme",
        issue_date=date(2026, 10, 1 + n % 28),
        due_date=None,
        po_number="",
        currency="GBP",
        net=D("10.00"),
        tax=D("2.00"),
        total=D("12.00"),
        paid=D("0"),
        due=D("12.00"),
        state=InvoiceState.OPEN,
    )


def _pay(system: System, n: int) -> Payment:
    return Payment(
        system=system,
        id=f"{system.value[0]}p{n}",
        invoice_number=f"INV-{n}",
        invoice_id=None,
        date=date(2026, 10, 20),
        amount=D("12.00"),
        reference=f"R{n}",
        method="BACS" if system is AP else "090",
        direction=Direction.PAYMENT,
        currency="GBP",
    )


@dataclass
class ListClient:
    """A `SystemClient` serving fixed pages; the cursor is {"next": page index}. Can fail at one page."""

    system: System
    pages: dict[str, list[list[MappedRecord]]]
    fail: tuple[str, int, Exception] | None = None
    stats: CallStats = field(default_factory=CallStats)
    reads: list[tuple[str, Any, bool]] = field(default_factory=list)
    numbers_seen: dict[str, dict[str, str]] = field(default_factory=dict)

    def streams(self) -> list[str]:
        return list(self.pages)

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        self.reads.append((stream, None if cursor is None else dict(cursor), full))
        self.numbers_seen[stream] = dict(lookups.invoice_numbers([f"a{n}" for n in range(9)]))
        pages = self.pages[stream]
        start = 0 if cursor is None or full else int(cursor["next"])
        total = sum(len(p) for p in pages)
        for i in range(start, len(pages)):
            cancel.check()
            self.stats.calls += 1
            if self.fail is not None and self.fail[:2] == (stream, i):
                raise self.fail[2]
            self.stats.budget["day_remaining"] = str(1000 - self.stats.calls)
            recs = pages[i]
            yield Page(
                stream,
                list(recs),
                [{"n": i, "Amount": D("1.10")} for _ in recs],
                {"next": i + 1},
                calls=1,
                done=i == len(pages) - 1,
                total=total,
            )

    def check(self) -> list[CheckStep]:
        return [CheckStep("reachability", True, "ok")]


def _clients(
    fail_ap: tuple[str, int, Exception] | None = None, fail_xero: tuple[str, int, Exception] | None = None
) -> dict[System, ListClient]:
    ap = ListClient(
        AP,
        {
            "invoices": [[_inv(AP, n) for n in range(0, 3)], [_inv(AP, n) for n in range(3, 6)]],
            "payments": [[_pay(AP, n) for n in range(0, 2)]],
        },
        fail=fail_ap,
    )
    xero = ListClient(
        XERO,
        {
            "accounts": [[{"AccountID": "a1", "Code": "090"}]],
            "invoices": [[_inv(XERO, n) for n in range(1, 4)], [_inv(XERO, n) for n in range(4, 7)]],
            "payments": [[_pay(XERO, n) for n in range(0, 3)]],
        },
        fail=fail_xero,
    )
    return {AP: ap, XERO: xero}


def _snapshot(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Records and items tables without surrogate ids, for comparing two caches."""
    with db.transaction(readonly=True) as tx:
        recs = sorted(tuple(r[1:]) for r in tx.conn.execute(select(records_table)))
        its = sorted(
            tuple(v for k, v in r._mapping.items() if not k.endswith("id") or k in ("source_id", "ledger_id"))
            for r in tx.conn.execute(select(items_table))
        )
    return recs, its


def test_full_sync_stores_pages_reconciles_and_logs(cache: Database) -> None:
    clients = _clients()
    events: list[ProgressEvent] = []
    result = sync_all(cache, clients, Settings(), progress=events.append, now=T0)
    assert result.ok and not result.errors and not result.cancelled
    # INV-0 only in source, INV-1..5 matched, INV-6 only in ledger; payments 0 and 1 paired, Xero's 2 one-sided.
    assert result.counts["matched"] == 5 + 2 and result.counts["only_in_source"] == 1 + 0
    assert result.counts["only_in_ledger"] == 1 + 1 and result.counts["invalid"] == 0
    got = {(s.system, s.stream): s for s in result.streams}
    assert got[(AP, "invoices")].fetched == 6 and got[(AP, "invoices")].pages == 2
    assert got[(XERO, "accounts")].fetched == 1
    page_events = [e for e in events if e.stage.endswith(": invoices")]
    assert [e.done for e in page_events] == [3, 6, 3, 6] and page_events[0].total == 6
    assert page_events[-1].eta_seconds == 0.0
    assert result.budget["xero.day_remaining"] == "996"  # 4 pages, 4 calls
    # Every read of a first sync is a full one from the start.
    assert all(cursor is None and full for _, cursor, full in clients[AP].reads)
    with cache.transaction(readonly=True) as tx:
        run = synclog.last_run(tx)
        assert run is not None and run.ok and run.full and run.counts == result.counts
        assert len(run.streams) == 5 and run.finished_at == T0
        assert records.get_cursor(tx, AP, "invoices") == {"next": 2}
        assert records.reference_data(tx, XERO, "accounts") == [{"AccountID": "a1", "Code": "090"}]
        assert records.get_system_state(tx, AP).last_full_at == T0


def test_payments_stream_gets_the_cached_invoice_numbers(cache: Database) -> None:
    clients = _clients()
    sync_all(cache, clients, Settings(), now=T0)
    assert clients[AP].numbers_seen["payments"] == {f"a{n}": f"INV-{n}" for n in range(6)}


def test_incremental_sync_resumes_from_cursors_and_changes_nothing(cache: Database) -> None:
    sync_all(cache, _clients(), Settings(), now=T0)
    before = _snapshot(cache)
    clients = _clients()
    result = sync_all(cache, clients, Settings(), now=T0 + timedelta(hours=1))
    assert result.ok
    assert all(not full and cursor is not None for _, cursor, full in clients[AP].reads)
    assert sum(s.fetched for s in result.streams) == 0  # every stream was already at its end
    assert _snapshot(cache) == before


def test_one_system_failing_keeps_its_pages_and_the_other_goes_on(cache: Database) -> None:
    boom = TransientError(
        "accessplanit did not answer (HTTP 503) after 5 tries.", "Try again later.", system="accessplanit", status=503
    )
    result = sync_all(cache, _clients(fail_ap=("invoices", 1, boom)), Settings(), now=T0)
    assert not result.ok and len(result.errors) == 1
    assert result.errors[0].startswith("accessplanit: accessplanit did not answer")
    with cache.transaction(readonly=True) as tx:
        assert [i.id for i in records.load_invoices(tx, AP)] == ["a0", "a1", "a2"]  # page 1 kept
        assert records.get_cursor(tx, AP, "invoices") == {"next": 1}
        assert len(records.load_invoices(tx, XERO)) == 6  # Xero went on
        assert records.get_system_state(tx, AP).full_pending  # the full pull is not finished
        run = synclog.last_run(tx)
    assert run is not None and run.ok is False and run.errors == result.errors
    failed = [s for s in run.streams if s.error]
    assert [(s.system, s.stream, s.fetched) for s in failed] == [(AP, "invoices", 3)]

    # The next sync resumes the pending full pull from the committed cursor, not from the start.
    clients = _clients()
    result = sync_all(cache, clients, Settings(), now=T0 + timedelta(minutes=5))
    assert result.ok
    assert clients[AP].reads[0] == ("invoices", {"next": 1}, False)
    with cache.transaction(readonly=True) as tx:
        assert not records.get_system_state(tx, AP).full_pending


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            AuthenticationError("Xero refused the refresh token (invalid_grant).", system="xero", status=400),
            "Xero: sign-in was refused: Xero refused the refresh token (invalid_grant). Reconnect it under Connections",
        ),
        (
            RateLimited("Xero daily limit reached.", system="xero", retry_after=3600, problem="day"),
            "Xero: the daily API call limit is used up; sync again after",
        ),
        (ValueError("bad mapping"), "Xero: unexpected error while reading invoices (ValueError: bad mapping)"),
    ],
)
def test_errors_are_sentences_for_people(cache: Database, exc: Exception, expected: str) -> None:
    result = sync_all(cache, _clients(fail_xero=("invoices", 0, exc)), Settings(), now=T0)
    assert not result.ok and len(result.errors) == 1 and result.errors[0].startswith(expected), result.errors
    with cache.transaction(readonly=True) as tx:
        assert len(records.load_invoices(tx, AP)) == 6  # the other system was synced


def test_cancel_keeps_committed_pages_and_does_not_reconcile(cache: Database) -> None:
    sync_all(cache, _clients(), Settings(), now=T0)
    before_items = _snapshot(cache)[1]
    token = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.pages == 1:
            token.cancel()

    clients = _clients()
    result = sync_all(
        cache, clients, Settings(), full=True, progress=on_progress, cancel=token, now=T0 + timedelta(hours=1)
    )
    assert result.cancelled and not result.ok
    assert [(r[0]) for r in clients[AP].reads] == ["invoices"] and XERO not in {s.system for s in result.streams}
    with cache.transaction(readonly=True) as tx:
        assert records.get_cursor(tx, AP, "invoices") == {"next": 1}  # page 1 committed with its cursor
        assert records.get_system_state(tx, AP).full_pending
        run = synclog.last_run(tx)
    assert run is not None and run.cancelled and run.finished_at is not None
    assert _snapshot(cache)[1] == before_items


def test_full_resync_when_the_last_one_is_too_old(cache: Database) -> None:
    settings = Settings(full_resync_days=7)
    sync_all(cache, _clients(), settings, now=T0)
    clients = _clients()
    sync_all(cache, clients, settings, now=T0 + timedelta(days=6))
    assert not any(full for _, _, full in clients[AP].reads)
    clients = _clients()
    sync_all(cache, clients, settings, now=T0 + timedelta(days=8))
    assert all(full and cursor is None for _, cursor, full in clients[AP].reads)
    assert all(full and cursor is None for _, cursor, full in clients[XERO].reads)


def test_records_not_seen_again_are_kept(cache: Database) -> None:
    sync_all(cache, _clients(), Settings(), now=T0)
    smaller = _clients()
    smaller[AP].pages["invoices"] = [[_inv(AP, 0)]]
    sync_all(cache, smaller, Settings(), full=True, now=T0 + timedelta(hours=1))
    with cache.transaction(readonly=True) as tx:
        assert len(records.load_invoices(tx, AP)) == 6


# --- end to end: the real connectors over HTTP against the emulators on 127.0.0.1 ----------------------------------

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes  # noqa: E402
from app.storage import items as item_repo  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SMALL_PAGES = 25  # many pages from a small data set, so a kill can land between and inside them


class MemoryBox:
    """The connectors' `SecretBox`, in memory (the keyring-backed one is tested with the connections service)."""

    def __init__(self, secret: dict[str, str]) -> None:
        self.secret = dict(secret)

    def load(self) -> dict[str, str]:
        return dict(self.secret)

    def save(self, secret: dict[str, str]) -> None:
        self.secret = dict(secret)


def make_clients(info: dict[str, Any], page_size: int = SMALL_PAGES) -> dict[System, Any]:
    """The real connectors over the emulators whose `info` (product.md first line) is given. Also used by the
    child process of the kill test."""
    from app.connectors.accessplanit.client import AccessplanitClient, AccessplanitConfig
    from app.connectors.http import HttpConfig, PacerConfig
    from app.connectors.xero.client import XeroClient, XeroConfig

    fast = HttpConfig(connect_timeout=2.0, read_timeout=10.0, max_attempts=3, backoff_base=0.01, backoff_cap=0.05)
    a, x = info["accessplanit"], info["xero"]
    ap = AccessplanitClient(
        AccessplanitConfig(
            url=a["url"],
            username=a["username"],
            password=a["password"],
            page_size=page_size,
            http=fast,
            pacing=PacerConfig.unlimited(),
        )
    )
    xero = XeroClient(
        XeroConfig(
            url=x["url"],
            identity_url=x["identity_url"],
            client_id=x["client_id"],
            client_secret=x["client_secret"],
            page_size=page_size,
            http=fast,
            pacing=PacerConfig.unlimited(),
        ),
        box=MemoryBox({"client_secret": x["client_secret"]}),
    )
    xero.tenant_id = xero.list_tenants()[0]["tenantId"]
    return {AP: ap, XERO: xero}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    sb = start_sandboxes(SandboxOptions(seed=7, invoices=150, month="2026-10"))
    assert sb.xero is not None and sb.expected is not None, "both emulators and the generator's expectations needed"
    yield sb
    sb.stop()


@pytest.fixture
def fresh_limits(sandboxes: Sandboxes) -> None:
    """Clear the emulators' rate-limit counters: several syncs in a row would otherwise meet Xero's 60 calls a
    minute and wait out a real Retry-After (that path is the connectors' tests' business)."""
    import requests

    for server in (sandboxes.accessplanit, sandboxes.xero):
        assert server is not None
        requests.post(f"{server.url}/__admin/reset", timeout=5).raise_for_status()


def _new_cache(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


@pytest.fixture(scope="module")
def reference_snapshot(sandboxes: Sandboxes, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The cache an uninterrupted sync makes: what every interrupted-then-resumed sync must end up equal to."""
    import requests

    for server in (sandboxes.accessplanit, sandboxes.xero):
        assert server is not None
        requests.post(f"{server.url}/__admin/reset", timeout=5).raise_for_status()
    db = _new_cache(tmp_path_factory.mktemp("reference") / "cache.sqlite3")
    result = sync_all(db, make_clients(sandboxes.info), Settings())
    assert result.ok, result.errors
    snap = _snapshot(db)
    db.dispose()
    return snap


def test_end_to_end_sync_agrees_with_the_generator(sandboxes: Sandboxes, tmp_path: Path, fresh_limits: None) -> None:
    db = _new_cache(tmp_path / "cache.sqlite3")
    result = sync_all(db, make_clients(sandboxes.info), Settings())
    assert result.ok, result.errors
    assert all(s.pages >= 1 and s.calls >= 1 for s in result.streams)
    with db.transaction(readonly=True) as tx:
        got = {(r.kind.value, r.key): r for r in item_repo.item_rows(tx, item_repo.query_item_ids(tx))}
    assert sandboxes.expected is not None
    want = {(e["kind"], e["key"]): e for e in sandboxes.expected}
    assert set(got) == set(want)
    wrong = [
        (k, want[k]["status"], got[k].status.value, want[k].get("fields"), got[k].fields)
        for k in want
        if want[k]["status"] != got[k].status.value or tuple(want[k].get("fields") or ()) != got[k].fields
    ]
    assert wrong == []
    assert {ItemStatus.MATCHED.value, ItemStatus.DIFFERS.value} <= {e["status"] for e in want.values()}

    # Incremental sync with nothing changed: same records, same items (same ids), and few records re-read.
    before = _snapshot(db)
    with db.transaction(readonly=True) as tx:
        ids_before = item_repo.query_item_ids(tx)
    again = sync_all(db, make_clients(sandboxes.info), Settings())
    assert again.ok, again.errors
    assert sum(s.fetched for s in again.streams if s.stream == "invoices") < len(want) // 4  # the overlap only
    assert _snapshot(db) == before
    with db.transaction(readonly=True) as tx:
        assert item_repo.query_item_ids(tx) == ids_before
    db.dispose()


def test_unchanged_incremental_sync_costs_one_accessplanit_call_per_stream(
    sandboxes: Sandboxes, tmp_path: Path, fresh_limits: None
) -> None:
    """The sync service answers the connector's version lookups from the cache (`CacheLookups.versions`): the
    records the overlap window re-reads are unchanged, so they are dropped before their lines are fetched. Counted
    by the emulator."""
    import requests

    from app.connectors.http import loads

    db = _new_cache(tmp_path / "cache.sqlite3")
    first = sync_all(db, make_clients(sandboxes.info, page_size=1000), Settings())
    assert first.ok, first.errors
    before = _snapshot(db)
    url = sandboxes.accessplanit.url
    requests.post(f"{url}/__admin/reset", timeout=5).raise_for_status()
    again = sync_all(db, make_clients(sandboxes.info, page_size=1000), Settings())
    assert again.ok, again.errors
    log = loads(requests.get(f"{url}/__admin/requests", timeout=5).content)
    data_calls: dict[str, int] = {}
    for entry in log:
        module = str(entry["path"]).rsplit("/", 1)[-1]
        data_calls[module] = data_calls.get(module, 0) + 1
    # A new client signs in once; then exactly one call per stream, and no line or invoice-number lookups.
    assert data_calls == {"token": 1, "TransactionMethod": 1, "Invoice": 1, "Transaction": 1}
    ap = {s.stream: s for s in again.streams if s.system is AP}
    assert ap["invoices"].fetched == 0 and ap["payments"].fetched == 0
    assert _snapshot(db) == before
    db.dispose()


_CHILD = """
import json, os, signal, sys
sys.path.insert(0, sys.argv[1])
from test_sync import make_clients
from app.services.sync import sync_all
from app.settings import Settings
from app.storage.db import Database
info, url, after = json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
db = Database(url)
db.migrate()
clients = make_clients(info)
print("syncing", flush=True)
pages = 0
def progress(event):
    global pages
    if event.pages:
        pages += 1
        if after and pages >= after:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally blocks: like a power-cut of the process
sync_all(db, clients, Settings(), progress=progress)
print("finished")
"""


def _child(sandboxes: Sandboxes, url: str, kill_after_pages: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(HERE), json.dumps(sandboxes.info), url, str(kill_after_pages)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


@pytest.mark.parametrize("kill", ["pages:1", "pages:4", "pages:9", "time:0.05", "time:0.2", "time:0.4"])
def test_sync_killed_with_sigkill_resumes_to_the_same_cache(
    sandboxes: Sandboxes, reference_snapshot: Any, tmp_path: Path, kill: str, fresh_limits: None
) -> None:
    how, _, value = kill.partition(":")
    url = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    proc = _child(sandboxes, url, int(value) if how == "pages" else 0)
    if how == "time":
        # A kill at an arbitrary moment after the sync started: inside a page's transaction, between pages, or
        # while reconciling.
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "syncing"
        try:
            proc.wait(timeout=float(value))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    if how == "pages":
        assert proc.returncode == -signal.SIGKILL, (out, err)  # it really died mid-sync
    db = Database(url)
    db.migrate()  # what the app does on start
    with db.transaction(readonly=True) as tx:
        run = synclog.last_run(tx)
    if how == "pages":
        # The log shows the run never finished. (A timed kill may land after the run's end was committed.)
        assert run is not None and run.finished_at is None
    result = sync_all(db, make_clients(sandboxes.info), Settings())
    assert result.ok, result.errors
    assert _snapshot(db) == reference_snapshot
    db.dispose()


def test_cancel_over_http_then_sync_again(
    sandboxes: Sandboxes, reference_snapshot: Any, tmp_path: Path, fresh_limits: None
) -> None:
    db = _new_cache(tmp_path / "cache.sqlite3")
    token = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.stage == "Xero: invoices" and event.pages == 1:
            token.cancel()

    first = sync_all(db, make_clients(sandboxes.info), Settings(), progress=on_progress, cancel=token)
    assert first.cancelled and not first.ok
    with db.transaction(readonly=True) as tx:
        assert records.get_cursor(tx, XERO, "invoices") is not None
        unreadable = [r for r in records.load_invalid(tx) if r.system is XERO and r.kind is Kind.INVOICE]
        assert len(records.load_invoices(tx, XERO)) + len(unreadable) == SMALL_PAGES  # one page of Xero invoices, kept
        assert item_repo.count_items(tx) == 0  # half a sync is not reconciled
    second = sync_all(db, make_clients(sandboxes.info), Settings())
    assert second.ok, second.errors
    assert _snapshot(db) == reference_snapshot
    db.dispose()


def test_cancel_while_lining_up_keeps_every_record_and_the_next_sync_reconciles_them(
    sandboxes: Sandboxes, reference_snapshot: Any, tmp_path: Path, fresh_limits: None
) -> None:
    db = _new_cache(tmp_path / "cache.sqlite3")
    token = CancelToken()
    stages: list[str] = []

    def on_progress(event: ProgressEvent) -> None:
        stages.append(event.stage)
        if event.stage == "reconciling":
            token.cancel()

    first = sync_all(db, make_clients(sandboxes.info), Settings(), progress=on_progress, cancel=token)
    assert first.cancelled and not first.ok and "reconciling" in stages
    assert {s.system for s in first.streams} == {AP, XERO}  # every stream was read to its end
    with db.transaction(readonly=True) as tx:
        assert item_repo.count_items(tx) == 0  # the reconcile was rolled back whole
        run = synclog.last_run(tx)
    assert run is not None and run.cancelled and not run.ok
    second = sync_all(db, make_clients(sandboxes.info), Settings())  # incremental, but it reconciles everything
    assert second.ok, second.errors
    assert _snapshot(db) == reference_snapshot
    db.dispose()


def test_a_sync_after_the_matching_rules_changed_reconciles_every_item(cache: Database) -> None:
    # INV-9 is 1p apart between the systems: matched within the default tolerance of 0.01, different at 0.
    def clients() -> dict[System, ListClient]:
        both = _clients()
        near = replace(_inv(XERO, 9), net=D("10.01"), total=D("12.01"), due=D("12.01"))
        both[AP].pages["invoices"].append([_inv(AP, 9)])
        both[XERO].pages["invoices"].append([near])
        return both

    def status_of_inv_9() -> str:
        with cache.transaction(readonly=True) as tx:
            found = tx.conn.execute(
                select(items_table.c.status).where(items_table.c.kind == "invoice", items_table.c.key == "INV-9")
            ).scalar_one()
        return str(found)

    assert sync_all(cache, clients(), Settings(), now=T0).ok
    assert status_of_inv_9() == ItemStatus.MATCHED.value
    # Nothing changed in either system, so the incremental run touches no invoice; the rules did change.
    strict = Settings(money_tolerance=D("0"))
    assert sync_all(cache, clients(), strict, now=T0 + timedelta(hours=1)).ok
    assert status_of_inv_9() == ItemStatus.DIFFERS.value
    # And back: the run logs the rules it reconciled with, so the next unchanged run with the same rules is cheap.
    assert sync_all(cache, clients(), Settings(), now=T0 + timedelta(hours=2)).ok
    assert status_of_inv_9() == ItemStatus.MATCHED.value
    with cache.transaction(readonly=True) as tx:
        last = synclog.last_run(tx)
    assert last is not None and last.rules == rules_digest(Settings())


def test_pages_account_for_every_call(sandboxes: Sandboxes, fresh_limits: None) -> None:
    """Every call a connector makes lands on some page, none between two (the run log's calls per stream)."""
    import requests

    from app.connectors.http import loads

    clients = make_clients(sandboxes.info)
    for server in (sandboxes.accessplanit, sandboxes.xero):
        assert server is not None
        requests.post(f"{server.url}/__admin/reset", timeout=5).raise_for_status()
    counted = {}
    for system, client in clients.items():
        total = 0
        for stream in client.streams():
            for page in client.read(stream, None, full=True, cancel=CancelToken()):
                total += page.calls
        counted[system] = total
    served = {}
    for system, server in ((AP, sandboxes.accessplanit), (XERO, sandboxes.xero)):
        assert server is not None
        log = loads(requests.get(f"{server.url}/__admin/requests", timeout=5).content)
        served[system] = len([e for e in log if not str(e["path"]).endswith(("/token", "/connect/token"))])
    # accessplanit's sign-in is a call of its client (on its first page) and has a log of its own.
    assert counted == {AP: served[AP] + 1, XERO: served[XERO]} and served[XERO] >= 12


@dataclass
class OverlapClient(ListClient):
    """Sends each record's version, and on an incremental read sends the last page again (as Xero's
    If-Modified-Since overlap does)."""

    version: dict[str, str] = field(default_factory=dict)

    def read(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        full: bool,
        cancel: CancelToken,
        lookups: CacheLookups = NO_LOOKUPS,
    ) -> Iterator[Page]:
        pages = self.pages[stream]
        start = 0 if cursor is None or full else max(0, int(cursor["next"]) - 1)
        for i in range(start, len(pages)):
            recs = list(pages[i])
            versions: list[str | None] = [self.version.get(getattr(r, "id", ""), "v1") for r in recs]
            yield Page(stream, recs, [{"n": i} for _ in recs], {"next": i + 1}, versions=versions)


def test_an_incremental_sync_skips_what_the_service_sent_again_unchanged(
    cache: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.services.sync as sync_mod

    pages = {"invoices": [[_inv(XERO, 1), _inv(XERO, 2)], [_inv(XERO, 3)]]}
    client = OverlapClient(XERO, pages)
    assert sync_all(cache, {XERO: client}, Settings(), now=T0).ok
    stored: list[list[str]] = []
    touched: list[object] = []
    real_upsert, real_reconcile = sync_mod.record_repo.upsert_page, sync_mod.reconcile_all

    def upsert(tx: Any, system: System, stream: str, recs: Any, *args: Any, **kw: Any) -> Any:
        stored.append([r.id for r in recs])
        return real_upsert(tx, system, stream, recs, *args, **kw)

    def reconcile(db: Database, settings: Settings, keys: Any, **kw: Any) -> Any:
        touched.append(None if keys is None else set(keys))
        return real_reconcile(db, settings, keys, **kw)

    monkeypatch.setattr(sync_mod.record_repo, "upsert_page", upsert)
    monkeypatch.setattr(sync_mod, "reconcile_all", reconcile)
    before = _snapshot(cache)
    again = sync_all(cache, {XERO: client}, Settings(), now=T0 + timedelta(hours=1))
    assert again.ok and sum(s.fetched for s in again.streams) == 1  # read again...
    assert stored == [[]] and touched == [set()]  # ...but neither stored nor reconciled
    assert _snapshot(cache) == before

    client.version["x3"] = "v2"  # the service changed it: stored, and its invoice reconciled
    stored.clear(), touched.clear()
    assert sync_all(cache, {XERO: client}, Settings(), now=T0 + timedelta(hours=2)).ok
    assert stored == [["x3"]] and touched == [{"INV-3"}]

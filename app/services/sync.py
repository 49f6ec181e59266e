"""Use case: sync both systems into the cache, then reconcile.

For each system, for each stream in `client.streams()`, for each page of `client.read(...)`: ONE transaction stores
the page's records (raw payloads, lines) and advances the stream cursor, so a crash at any point either keeps a page
with its cursor or neither; the next sync resumes after the last committed page. A full re-pull (asked for, or the
last complete one older than `settings.full_resync_days`) clears the cursors first and is marked pending until all
streams finish, so a killed full pull resumes from its cursors instead of starting over. Records not seen again
are never deleted: voided and deleted ones come back from the services as such.
A failure in one system stops that system (what was fetched stays), is written to the run log, and the other system
goes on. Cancel stops within one request and keeps every committed page.
One sync per cache at a time, across windows, processes and hosts: `sync_all` first takes the cache's sync lock (a
row with owner and lease, `storage.synclog.claim_sync`), renews it after each page and frees it at the end; a second
sync is refused with `SyncBusy` naming the holder. A holder that died stops blocking when its lease passes, or at
once on its own host (its pid is gone).
One process, one path for every cache: pages are read, mapped and written in turn. What a connector needs from the
cache (invoice numbers behind payments, stored record versions, credit-note references) it asks through the
`CacheLookups` it is given (`StoredLookups`, read from the cache a page's ids at a time).
Must not: import Qt or concrete connectors, hold secrets, or retry HTTP itself (the connectors do).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from app.connectors.base import SystemClient
from app.domain.errors import AuthenticationError, CancelledError, ConnectorError, RateLimited, RecondeskError
from app.domain.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from app.domain.status import Kind, Role, System
from app.services.api import SYNC_WAITING, StreamStats, SyncResult
from app.services.reconciling import LINING_UP, RECONCILING, reconcile_all, rules_digest
from app.settings import Settings
from app.storage import items as item_repo
from app.storage import records as record_repo
from app.storage import synclog
from app.storage.db import Database
from app.storage.models import SystemState

log = logging.getLogger(__name__)

PAYMENTS_STREAM = "payments"
# Streams whose records a connector may skip when unchanged (`CacheLookups.versions`), and the kind they store.
VERSIONED_STREAMS = {"invoices": Kind.INVOICE, PAYMENTS_STREAM: Kind.PAYMENT}
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SyncBusy(RecondeskError):
    """Another sync of this cache is running (another window, the command line, another process or host).
    `holder`: who, for people ("by Ann on host pc-7, started 09:12")."""

    holder: str = ""


WAITING = SYNC_WAITING  # `ProgressEvent.stage` while a sync waits for another one to end (`sync_all(wait=...)`)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


SHARE_EVERY = 2.0
"""Seconds between two writes of a sync's progress into the lock row (the others' windows poll every few seconds)."""


def progress_text(event: ProgressEvent) -> str:
    """One line for people: "accessplanit: invoices: 400 of 2000 records" (or the event's message)."""
    if event.message and not event.done:
        return f"{event.stage}: {event.message}" if event.stage else event.message
    count = f"{event.done:,} of {event.total:,}" if event.total else f"{event.done:,}"
    return f"{event.stage}: {count} {event.unit}"


def _local_hhmm(at: datetime) -> str:
    return at.replace(tzinfo=UTC).astimezone().strftime("%H:%M")


class SyncLock:
    """This process's hold on the cache's sync lock. `acquire` raises `SyncBusy`; `renew` (cheap, throttled) moves
    the lease on and raises when the lock was lost; `release` frees it."""

    def __init__(self, db: Database, lease_seconds: float, who: str = "") -> None:
        self.db = db
        self.lease = lease_seconds
        self.host = socket.gethostname()[:64]
        self.pid = os.getpid()
        # host:pid:instance[:who] - who (the person, for the others' message) rides in the owner: no new column
        name = who.replace(":", " ").strip()[:40]
        self.owner = f"{self.host[:40]}:{self.pid}:{uuid.uuid4().hex[:12]}" + (f":{name}" if name else "")
        self._renewed = 0.0
        self._shared = 0.0

    def acquire(self) -> None:
        with self.db.transaction() as tx:
            if synclog.claim_sync(tx, self.owner, self.host, self.pid, self.lease, now=_utc_now()):
                self._renewed = time.monotonic()
                return
            holder = synclog.sync_holder(tx)
            # A holder on this host whose process is gone (killed) does not block until its lease passes.
            if holder is not None and holder.host == self.host and not _pid_alive(holder.pid):
                if synclog.claim_sync(
                    tx, self.owner, self.host, self.pid, self.lease, now=_utc_now(), steal_from=holder.owner
                ):
                    self._renewed = time.monotonic()
                    return
        where = f"pid {holder.pid}" if holder is not None else "another process"
        if holder is not None and holder.host != self.host:
            where += f" on {holder.host}"
        started = f", started {_local_hhmm(holder.started_at)}" if holder is not None else ""
        busy = SyncBusy(f"A sync of this cache is already running ({where}{started}); try again when it ends.")
        if holder is not None:
            busy.holder = f"by {holder.who} on host {holder.host}{started}"
        raise busy

    def share(self, event: ProgressEvent) -> None:
        """Write where this sync is into the lock row, at most every `SHARE_EVERY` seconds, for the others (their
        windows poll it). A failed write only loses that line."""
        if time.monotonic() - self._shared < SHARE_EVERY:
            return
        self._shared = time.monotonic()
        try:
            with self.db.transaction() as tx:
                synclog.set_sync_progress(tx, self.owner, progress_text(event))
        except Exception:  # the sync goes on; the others see an older line
            log.warning("could not share the sync's progress", exc_info=True)

    def acquire_waiting(self, wait: float, cancel: CancelToken, report: ProgressCallback, poll: float = 1.0) -> None:
        """`acquire`, but while another sync holds the lock and `wait` seconds have not passed, say so once (a
        progress event, stage `WAITING`) and try again every `poll` seconds; cancellable. Raises `SyncBusy` when
        the time is up."""
        deadline = time.monotonic() + wait
        said = False
        while True:
            try:
                self.acquire()
                return
            except SyncBusy as busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                if not said:
                    who = f" ({busy.holder})" if busy.holder else ""
                    text = f"Another sync is running{who}; Recondesk will start yours when it ends."
                    report(ProgressEvent(WAITING, message=text))
                    said = True
                cancel.wait(min(poll, left))

    def renew(self) -> None:
        if time.monotonic() - self._renewed < self.lease / 4:
            return
        with self.db.transaction() as tx:
            held = synclog.renew_sync(tx, self.owner, self.lease, now=_utc_now())
        if not held:
            raise SyncBusy(
                "This sync lost its hold on the cache (it was paused longer than the lease) and stopped.",
                "Everything fetched so far is kept; sync again.",
            )
        self._renewed = time.monotonic()

    def release(self) -> None:
        with self.db.transaction() as tx:
            synclog.release_sync(tx, self.owner)


def error_message(system: System, exc: BaseException, stream: str = "") -> str:
    """A sentence for people about why `system` stopped (connectors already scrub secrets from their messages)."""
    label = system.label
    if isinstance(exc, RateLimited) and exc.problem == "day":
        resume = _utc_now() + timedelta(seconds=exc.retry_after)
        return (
            f"{label}: the daily API call limit is used up; sync again after {resume:%Y-%m-%d %H:%M} UTC. "
            "Everything fetched so far is kept."
        )
    if isinstance(exc, AuthenticationError):
        hint = exc.hint or "Reconnect it under Connections, then sync again."
        return f"{label}: sign-in was refused: {exc.message} {hint}"
    if isinstance(exc, ConnectorError):
        return f"{label}: {exc.user_text()}"
    if isinstance(exc, RecondeskError):
        return f"{label}: {exc.user_text()}"
    where = f" while reading {stream}" if stream else ""
    return f"{label}: unexpected error{where} ({type(exc).__name__}: {exc}). Everything fetched so far is kept."


@dataclass
class _Tally:
    fetched: int = 0
    pages: int = 0
    calls: int = 0
    retries: int = 0
    invalid: int = 0

    def stats(self, system: System, stream: str, error: str = "") -> StreamStats:
        return StreamStats(
            system=system,
            stream=stream,
            fetched=self.fetched,
            pages=self.pages,
            calls=self.calls,
            retries=self.retries,
            invalid=self.invalid,
            error=error,
        )


class _SystemStopped(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _plan_full(db: Database, system: System, full: bool, started: datetime, settings: Settings) -> bool:
    """Decide whether `system` gets a full re-pull; when a new one starts, clear its cursors and mark it pending."""
    with db.transaction() as tx:
        state = record_repo.get_system_state(tx, system)
        stale = state.last_full_at is None or started - state.last_full_at > timedelta(days=settings.full_resync_days)
        do_full = full or stale or state.full_pending
        if do_full and (full or not state.full_pending):
            record_repo.clear_cursors(tx, system)
            record_repo.set_system_state(tx, replace(state, full_pending=True))
    return do_full


class StoredLookups:
    """`CacheLookups` over the cache: what a connector asks while reading one system's stream, each answer one
    indexed query over the ids it names (a page's worth), so an incremental run reads what it touches, not the
    cache. `versions` answers nothing on a read from the start (it re-reads everything anyway)."""

    def __init__(self, db: Database, system: System, stream: str, *, from_start: bool) -> None:
        self.db = db
        self.system = system
        self.kind = None if from_start else VERSIONED_STREAMS.get(stream)

    def invoice_numbers(self, invoice_ids: Collection[str]) -> dict[str, str]:
        with self.db.transaction(readonly=True) as tx:
            return record_repo.invoice_numbers(tx, self.system, invoice_ids)

    def versions(self, ids: Collection[str]) -> dict[str, str]:
        if self.kind is None or not ids:
            return {}
        with self.db.transaction(readonly=True) as tx:
            return record_repo.record_versions(tx, self.system, self.kind, ids)

    def credit_note_references(self, credit_note_ids: Collection[str]) -> dict[str, str]:
        with self.db.transaction(readonly=True) as tx:
            return record_repo.credit_note_references(tx, self.system, credit_note_ids)


def _sync_system(
    db: Database,
    system: System,
    client: SystemClient,
    *,
    do_full: bool,
    cancel: CancelToken,
    progress: ProgressCallback,
    stats: list[StreamStats],
    started: datetime,
    touched: set[str] | None = None,
    heartbeat: Callable[[], None] = lambda: None,
) -> None:
    for stream in client.streams():
        tally = _Tally()
        t0 = time.monotonic()
        try:
            cancel.check()
            with db.transaction(readonly=True) as tx:
                cursor = record_repo.get_cursor(tx, system, stream)
            from_start = do_full and cursor is None  # a pending full pull resumes from its committed cursors
            lookups = StoredLookups(db, system, stream, from_start=from_start)
            pages = client.read(stream, None if from_start else cursor, full=from_start, cancel=cancel, lookups=lookups)
            for page in pages:
                with db.transaction() as tx:
                    recs, raws, versions = page.records, page.raws, page.versions
                    if touched is not None:
                        # Incremental: what the service sent again unchanged is neither stored nor reconciled. (A
                        # full re-read stores everything: it exists for changes that do not move a version.)
                        same = record_repo.unchanged_on_page(tx, system, recs, versions)
                        if same:
                            keep = [i for i in range(len(recs)) if i not in same]
                            recs, raws = [recs[i] for i in keep], [raws[i] for i in keep]
                            versions = [versions[i] for i in keep] if versions else versions
                        # the keys these records were on, before and after (they can move)
                        touched |= record_repo.touched_invoice_keys(tx, system, recs)
                    counts = record_repo.upsert_page(tx, system, stream, recs, raws, page.cursor, versions=versions)
                    if touched is not None:
                        touched |= record_repo.touched_invoice_keys(tx, system, recs)
                heartbeat()  # the sync lock's lease, renewed between pages
                tally.fetched += len(page.records)  # read, whether stored again or not
                tally.invalid += counts.invalid
                tally.pages += 1
                tally.calls += page.calls
                tally.retries += page.retries
                progress(_event(system, stream, tally, page.total, t0))
                cancel.check()  # stop between pages too: what is committed is kept
        except CancelledError:
            stats.append(tally.stats(system, stream, "cancelled"))
            raise
        except Exception as exc:  # one system's failure must not stop the other
            message = error_message(system, exc, stream)
            log.warning("sync of %s stopped: %s", system.value, message, exc_info=not isinstance(exc, ConnectorError))
            stats.append(tally.stats(system, stream, message))
            raise _SystemStopped(message) from exc
        stats.append(tally.stats(system, stream))
    if do_full:
        with db.transaction() as tx:
            record_repo.set_system_state(tx, SystemState(system, started, False))


def _event(system: System, stream: str, tally: _Tally, total_n: int | None, t0: float) -> ProgressEvent:
    eta = None
    if total_n is not None and tally.fetched:
        elapsed = time.monotonic() - t0
        eta = max(0.0, elapsed / tally.fetched * (total_n - tally.fetched))
    return ProgressEvent(
        stage=f"{system.label}: {stream}",
        done=tally.fetched,
        total=total_n,
        pages=tally.pages,
        calls=tally.calls,
        eta_seconds=eta,
    )


def sync_all(
    db: Database,
    clients: Mapping[System, SystemClient],
    settings: Settings,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    now: Clock | datetime | None = None,
    wait: float = 0.0,
    who: str = "",
) -> SyncResult:
    """Fetch every configured system into the cache, then reconcile. Never raises for a remote failure: errors are
    in the result (and the run log); `ok` is False when any system failed or the user cancelled. Raises `SyncBusy`
    (before doing anything) while another sync of this cache runs, or once it has waited `wait` seconds for it to
    end (`SyncLock.acquire_waiting`; cancelling the wait raises `CancelledError`). `who` names us to the others."""
    lock = SyncLock(db, settings.sync_lease_seconds, who=who or settings.who())
    if wait > 0:
        lock.acquire_waiting(wait, cancel or CancelToken(), progress or no_progress)
    else:
        lock.acquire()
    try:
        return _sync_locked(db, clients, settings, lock, full=full, progress=progress, cancel=cancel, now=now, who=who)
    finally:
        lock.release()


def _sync_locked(
    db: Database,
    clients: Mapping[System, SystemClient],
    settings: Settings,
    lock: SyncLock,
    *,
    full: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    now: Clock | datetime | None,
    who: str | None = None,
) -> SyncResult:
    clock: Clock = (lambda: now) if isinstance(now, datetime) else (now or _utc_now)
    tell = progress or no_progress

    def report(event: ProgressEvent) -> None:
        lock.share(event)
        tell(event)

    token = cancel or CancelToken()
    started = clock()
    # The source first: the numbers of its invoices are what its payments are read against.
    systems = sorted(clients, key=lambda s: s.role is not Role.SOURCE)
    fulls = {s: _plan_full(db, s, full, started, settings) for s in systems}
    with db.transaction() as tx:
        previous = synclog.last_run(tx)
        rules = rules_digest(settings)
        run_id = synclog.start_run(tx, full or any(fulls.values()), started, rules=rules, who=who)
    # Reconcile only the invoice keys this run's records were and are on, when nothing else can be stale: no full
    # pull, the previous run finished its reconcile (a cancelled, failed or killed run left keys undone), and with
    # the same matching rules (a changed tolerance or method account changes items no record change touches).
    previous_done = (
        previous is not None and previous.finished_at is not None and bool(previous.ok) and previous.rules == rules
    )
    touched: set[str] | None = None if full or any(fulls.values()) or not previous_done else set()

    stats: list[StreamStats] = []
    errors: list[str] = []
    budget: dict[str, str] = {}
    cancelled = False
    for system in systems:
        client = clients[system]
        try:
            _sync_system(
                db,
                system,
                client,
                do_full=fulls[system],
                cancel=token,
                progress=report,
                stats=stats,
                started=started,
                touched=touched,
                heartbeat=lock.renew,
            )
        except CancelledError:
            cancelled = True
        except _SystemStopped as stop:
            errors.append(stop.message)
        finally:
            for k, v in client.stats.budget.items():
                prefix = "" if k.startswith(f"{system.value}.") else f"{system.value}."
                budget[prefix + k] = str(v)
        if cancelled:
            break

    counts: dict[str, int] = {}
    if not cancelled:
        report(ProgressEvent(stage=RECONCILING, message=LINING_UP, unit="invoices"))
        try:
            lock.renew()
            counts = reconcile_all(db, settings, touched, progress=report, cancel=token)
        except CancelledError:
            cancelled = True  # rolled back: the next sync reconciles everything again (this run is not `ok`)
        except Exception as exc:
            if isinstance(exc, RecondeskError):
                log.warning("reconcile failed: %s", exc.user_text())
                errors.append(f"Reconciling failed: {exc.user_text()} The previous items are kept.")
            else:
                log.exception("reconcile failed")
                errors.append(f"Reconciling failed ({type(exc).__name__}: {exc}); the previous items are kept.")
            with db.transaction(readonly=True) as tx:
                counts = item_repo.count_by_status(tx)
    if cancelled:
        # Half a sync would show false one-sided items; the items stay as the last complete reconcile left them.
        with db.transaction(readonly=True) as tx:
            counts = item_repo.count_by_status(tx)

    finished = clock()
    ok = not errors and not cancelled
    with db.transaction() as tx:
        synclog.finish_run(
            tx,
            run_id,
            ok=ok,
            cancelled=cancelled,
            errors=errors,
            stats=stats,
            counts=counts,
            budget=budget,
            finished_at=finished,
        )
    report(ProgressEvent(stage="done", message="Cancelled" if cancelled else ("Done" if ok else "Done with errors")))
    return SyncResult(
        run_id=run_id,
        started_at=started,
        finished_at=finished,
        ok=ok,
        cancelled=cancelled,
        streams=tuple(stats),
        counts=counts,
        errors=tuple(errors),
        budget=budget,
    )

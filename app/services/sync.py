"""Use case: sync both systems into the cache, then reconcile.

For each system, for each stream in `client.streams()`, for each page of `client.read(...)`: ONE transaction stores
the page's records (raw payloads, lines) and advances the stream cursor, so a crash at any point either keeps a page
with its cursor or neither; the next sync resumes after the last committed page. A full re-pull (asked for, or the
last complete one older than `settings.full_resync_days`) clears the cursors first and is marked pending until all
streams finish, so a killed full pull resumes from its cursors instead of starting over. Records not seen again
are never deleted: voided and deleted ones come back from the services as such.
A failure in one system stops that system (what was fetched stays), is written to the run log, and the other system
goes on. Cancel stops within one request and keeps every committed page.
Each stream is read one page ahead in a worker thread (`ReadAhead`): the next page is fetched, mapped and its rows
built (`prepare_records`) while this one is written; pages are still written in order, each with its cursor.
Must not: import Qt or concrete connectors, hold secrets, or retry HTTP itself (the connectors do).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from app.connectors.ahead import ReadAhead
from app.connectors.base import Page, SystemClient
from app.domain.errors import AuthenticationError, CancelledError, ConnectorError, RateLimited, RecondeskError
from app.domain.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from app.domain.status import Kind, System
from app.services.api import StreamStats, SyncResult
from app.services.gcpace import fewer_collections, prompt_handoffs
from app.services.reconciling import LINING_UP, RECONCILING, reconcile_all, rules_digest
from app.settings import Settings
from app.storage import items as item_repo
from app.storage import records as record_repo
from app.storage import synclog
from app.storage.db import Database
from app.storage.models import SystemState
from app.storage.pagewriter import PageWriter

log = logging.getLogger(__name__)

ORDER = (System.ACCESSPLANIT, System.XERO)  # the source first: its invoice numbers are needed by its payments
PAYMENTS_STREAM = "payments"
# Streams whose records a connector may skip when unchanged (`client.known_versions`), and the kind they store.
VERSIONED_STREAMS = {"invoices": Kind.INVOICE, PAYMENTS_STREAM: Kind.PAYMENT}
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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


def _read_prepared(
    client: SystemClient,
    system: System,
    stream: str,
    cursor: Mapping[str, object] | None,
    full: bool,
    cancel: CancelToken,
    sqlite: bool,
) -> Iterator[tuple[Page, record_repo.PreparedPage]]:
    """The stream's pages, each with its rows built for the database (`prepare_records`), no database touched."""
    for page in client.read(stream, cursor, full=full, cancel=cancel):
        yield page, record_repo.prepare_records(system, stream, page.records, page.raws, sqlite=sqlite)


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


class _Writes:
    """Where a sync's pages are written: in this process, one transaction each, or (a big full sync of a SQLite file,
    `settings.process_writes_from`) by a `PageWriter` child process started at the first big stream and kept for the
    run. A writer that failed is not used again in the run; pages then go back to in-process writes."""

    def __init__(self, db: Database, settings: Settings, allowed: bool) -> None:
        self.db = db
        self.threshold = settings.process_writes_from
        self.allowed = allowed and db.can_write_in_child() and self.threshold >= 0
        self.writer: PageWriter | None = None

    def child(self, system: System, page: Page) -> PageWriter | None:
        """The child writer for this page, started when the stream is big enough; None: write in-process."""
        if self.writer is None and self.allowed:
            total = page.cursor.get("total")
            expected = total if isinstance(total, int) else len(page.records)
            if expected >= self.threshold:
                log.info("%s.%s: %s records: pages are written by a child process", system.value, page.stream, expected)
                try:
                    self.writer = PageWriter(self.db.url)
                except Exception as exc:  # no child (a process limit, a locked-down machine): write in-process
                    log.warning("no page writer process (%s); pages are written in this process", exc)
                    self.allowed = False
        return self.writer

    def flush(self) -> None:
        if self.writer is not None:
            try:
                self.writer.flush()
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        """Stop the child after the pages sent; it is not used again in this run."""
        if self.writer is not None:
            writer, self.writer, self.allowed = self.writer, None, False
            writer.close()


def _settle(writes: _Writes | None) -> None:
    """After a stream stopped early: the pages already handed to the child writer are committed before we go on
    (they are whole pages, each with its cursor); a failure there is logged, the stream's own error is reported."""
    if writes is None:
        return
    try:
        writes.flush()
    except Exception as exc:
        log.warning("pages handed to the cache writer were not all stored: %s", exc)


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
    writes: _Writes | None = None,
) -> None:
    for stream in client.streams():
        tally = _Tally()
        t0 = time.monotonic()
        try:
            cancel.check()
            with db.transaction(readonly=True) as tx:
                cursor = record_repo.get_cursor(tx, system, stream)
                if stream == PAYMENTS_STREAM and hasattr(client, "invoice_numbers"):
                    client.invoice_numbers = record_repo.invoice_numbers(tx, system)
                if hasattr(client, "known_versions"):
                    # Set for every stream (empty where none apply, or on a read from the start, which re-reads
                    # everything anyway) so one stream's ids never meet another's.
                    kind = VERSIONED_STREAMS.get(stream)
                    fresh = do_full and cursor is None
                    versions = record_repo.record_versions(tx, system, kind) if kind and not fresh else {}
                    client.known_versions = versions
                if stream == PAYMENTS_STREAM and hasattr(client, "credit_note_refs"):
                    # Refunds name their credit note; cached ones spare the connector a lookup on incremental runs.
                    known = {cn.id: cn.reference for cn in record_repo.load_credit_notes(tx, system)}
                    client.credit_note_refs = {**known, **client.credit_note_refs}
            from_start = do_full and cursor is None  # a pending full pull resumes from its committed cursors
            read = functools.partial(
                _read_prepared, client, system, stream, None if from_start else cursor, from_start, sqlite=db.is_sqlite
            )
            # Read ahead: the next page is read, mapped and its rows built while this one is written.
            for page, prepared in ReadAhead(read, cancel, f"{system.value}.{stream}"):
                # Only full runs (`touched is None`) may use the child: `_Writes(allowed=...)` says so.
                writer = writes.child(system, page) if writes is not None else None
                if writer is not None:  # committed in order by the child, some pages (at most `ahead`) behind
                    writer.write(prepared, page.cursor)
                    tally.fetched += prepared.fetched
                    tally.invalid += prepared.invalid
                else:
                    with db.transaction() as tx:
                        if touched is not None:  # the keys these records were on, before and after (they can move)
                            touched |= record_repo.touched_invoice_keys(tx, system, page.records)
                        counts = record_repo.upsert_page(
                            tx, system, stream, page.records, page.raws, page.cursor, prepared=prepared
                        )
                        if touched is not None:
                            touched |= record_repo.touched_invoice_keys(tx, system, page.records)
                    tally.fetched += counts.fetched
                    tally.invalid += counts.invalid
                tally.pages += 1
                tally.calls += page.calls
                tally.retries += page.retries
                progress(_event(system, stream, tally, page.cursor, t0))
                cancel.check()  # stop between pages too: what is committed is kept
            if writes is not None:
                writes.flush()  # the next stream reads what this one stored (cursors, invoice numbers)
        except CancelledError:
            _settle(writes)
            stats.append(tally.stats(system, stream, "cancelled"))
            raise
        except Exception as exc:  # one system's failure must not stop the other
            _settle(writes)
            message = error_message(system, exc, stream)
            log.warning("sync of %s stopped: %s", system.value, message, exc_info=not isinstance(exc, ConnectorError))
            stats.append(tally.stats(system, stream, message))
            raise _SystemStopped(message) from exc
        stats.append(tally.stats(system, stream))
    if do_full:
        with db.transaction() as tx:
            record_repo.set_system_state(tx, SystemState(system, started, False))


def _event(system: System, stream: str, tally: _Tally, cursor: Mapping[str, object], t0: float) -> ProgressEvent:
    total = cursor.get("total") if isinstance(cursor, Mapping) else None
    total_n = total if isinstance(total, int) and not isinstance(total, bool) else None
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
) -> SyncResult:
    """Fetch every configured system into the cache, then reconcile. Never raises for a remote failure: errors are
    in the result (and the run log); `ok` is False when any system failed or the user cancelled."""
    clock: Clock = (lambda: now) if isinstance(now, datetime) else (now or _utc_now)
    report = progress or no_progress
    token = cancel or CancelToken()
    started = clock()
    systems = [s for s in ORDER if s in clients] + [s for s in clients if s not in ORDER]
    fulls = {s: _plan_full(db, s, full, started, settings) for s in systems}
    with db.transaction() as tx:
        previous = synclog.last_run(tx)
        rules = rules_digest(settings)
        run_id = synclog.start_run(tx, full or any(fulls.values()), started, rules=rules)
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
    writes = _Writes(db, settings, allowed=touched is None)
    # The fetch makes tens of millions of short-lived objects: fewer collector passes (gcpace). Not the reconcile:
    # its peak memory grew by a third with them (tracemalloc at 100,000 invoices: 47 -> 70 MiB). Its threads (read,
    # map, write) hand the interpreter lock to each other sooner (gcpace): the service waits less for our requests.
    with fewer_collections(), prompt_handoffs():
        try:
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
                        writes=writes,
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
        finally:
            writes.close()

    counts: dict[str, int] = {}
    if not cancelled:
        report(ProgressEvent(stage=RECONCILING, message=LINING_UP, unit="invoices"))
        try:
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

"""Page writes in a child process: `PageWriter(url)`, for the big full syncs of a SQLite cache.

A sync's pages are read, mapped and built into rows (`records.prepare_records`) in the app's process, and written
here, by a process of its own with its own interpreter lock: the two halves of a big sync then run on two cores
instead of taking turns on one (docs/storage.md, "Writing pages in a child process"). Each page is written exactly
as in-process (`records.upsert_page`): its records, lines and reference data with its stream cursor, in the order
sent; up to `GROUP` pages that follow each other closely share one transaction (see `serve`).

Protocol (a duplex `multiprocessing` pipe): the parent sends `(PreparedPage, cursor)`; the child answers each page
with `("ok", None)` after its commit or `("error", exception)` and then stops. `"flush"` asks it to commit what it
has now; `None` asks it to stop. At most `ahead` pages are unanswered: `write` waits for the oldest answer beyond
that, so memory stays bounded.
Crash safety: a second pipe is the child's lifeline. If the app's process dies (kill -9), the child rolls back the
pages it is writing instead of committing them, and exits: no write outlives the sync that asked for it, so a new
sync (which may clear cursors for a full pull) never meets a late page of a dead one. If the child dies, the parent
gets a `StorageError` at its next call and every page answered before stays committed.
Must not: be used for PostgreSQL or in-memory SQLite (in-process writes there), or hold secrets (it only gets rows).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from app.domain.errors import StorageError
from app.storage.db import Database
from app.storage.records import PreparedPage, upsert_page

log = logging.getLogger(__name__)

_STOP_SECONDS = 30.0
_GATHER_SECONDS = 0.5
_FLUSH = "flush"  # from the app: commit what you have, more pages may not come soon
_GONE = object()  # from the inbox thread: the pipe closed
GROUP = 16  # pages written in one transaction at most
_NICENESS = 5


class _Unreadable:
    """From the inbox thread: a message could not be read (`error`); nothing after it can be trusted."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Orphaned(Exception):
    """The process that asked for this page is gone: roll back, do not commit."""


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (StorageError does), else a StorageError that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return StorageError(f"Writing to the cache failed ({type(exc).__name__}: {exc}).", "Sync again.")
    return exc


def serve(url: str, pages: Connection, lifeline: Connection) -> None:
    """The child's loop: write the pages sent, answer each after its commit, until told to stop or the parent is gone.

    A thread reads the pipe as pages arrive: the app's process never waits on a full pipe while a transaction is
    written here. Up to `GROUP` pages share a transaction: each page's rows land all over the (system, kind,
    remote_id) index, so every commit writes most of that index to the WAL again; one commit per `GROUP` pages writes
    it a sixteenth as often. A group ends early when the app flushes, or when no page comes for `_GATHER_SECONDS` (a
    paced sync commits as it goes; the write lock is never held longer than that waiting for the network). Each page
    still lands with its cursor, in order, and a crash keeps a whole group or none of it."""
    # This process lives for one sync and makes millions of short-lived tuples (rows): fewer collector passes, as
    # the sync's own process has (app/services/gcpace.py).
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    _lower_priority()
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(pages, inbox), name="page writer inbox", daemon=True).start()
    db = Database(url)
    try:
        while True:
            message = inbox.get()  # no transaction is open while the next group is awaited
            if message is None or message is _GONE:
                return  # told to stop, or the parent is gone: nothing more to write
            if isinstance(message, _Unreadable):
                _answer(pages, ("error", _portable(message.error)))
                return
            if message == _FLUSH:
                continue
            written, stop = 0, False
            try:
                with db.transaction() as tx:
                    while True:
                        page, cursor = message
                        upsert_page(tx, page.system, page.stream, (), (), cursor, prepared=page, single_rows=True)
                        written += 1
                        if written >= GROUP:
                            break
                        try:
                            message = inbox.get(timeout=_GATHER_SECONDS)
                        except queue.Empty:
                            break
                        if message is None or message is _GONE:
                            stop = True  # commit this group (unless orphaned, below), then stop
                            break
                        if isinstance(message, _Unreadable):
                            raise message.error  # the group is rolled back and the app told why
                        if message == _FLUSH:
                            break
                    if lifeline.poll():  # readable only at EOF: the app's process died while we wrote
                        raise _Orphaned
            except (_Orphaned, EOFError, OSError):
                return  # rolled back: nobody is waiting for these pages
            except BaseException as exc:
                _answer(pages, ("error", _portable(exc)))
                return
            for _ in range(written):
                _answer(pages, ("ok", None))
            if stop:
                return
    finally:
        db.dispose()


def _lower_priority() -> None:
    """Let the app's process (mapping the next pages, the GUI) have a core first: this process is a background
    writer with pages in hand, never what the user waits on. On two cores, with the
    sandbox serving on the same machine, the fetch of 100,000 invoices took 28.6 s instead of 30 s (docs/figures.md).
    Niceness 5, not more: a busy program elsewhere on the machine must not starve the sync's writes."""
    nice = getattr(os, "nice", None)  # POSIX; Windows has none and keeps normal priority
    if nice is not None:
        try:
            nice(_NICENESS)
        except OSError as exc:
            log.debug("the page writer keeps its priority: %s", exc)


def _receive(pages: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    """The inbox thread: every message from the app's process, then `_GONE` when the pipe closes."""
    try:
        while True:
            message = pages.recv()
            inbox.put(message)
            if message is None:
                return
    except (EOFError, OSError):
        inbox.put(_GONE)
    except BaseException as exc:  # a message that cannot be read: the writer answers with it and stops
        inbox.put(_Unreadable(exc))


def _answer(pages: Connection, answer: tuple[str, Any]) -> None:
    try:
        pages.send(answer)
    except OSError:
        pass  # the parent is gone: nobody to tell; its next sync reads the cache as committed


class PageWriter:
    """Writes prepared pages, each with its cursor, in a child process; `flush()` waits until all are committed."""

    def __init__(self, url: str, *, ahead: int = GROUP + GROUP // 2) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process with threads and open connections
        self._pages, child_pages = context.Pipe(duplex=True)
        child_lifeline, self._lifeline = context.Pipe(duplex=False)
        self._process = context.Process(
            target=serve, args=(url, child_pages, child_lifeline), name="recondesk page writer", daemon=True
        )
        self._process.start()
        child_pages.close()  # so the child's death reads as EOF here
        child_lifeline.close()  # so our death reads as EOF there
        self._ahead = max(1, ahead)
        self._unanswered = 0
        self._failed: BaseException | None = None

    def write(self, page: PreparedPage, cursor: Mapping[str, Any]) -> None:
        """Send one page (written after the ones before it); raises the error of an earlier page, if any."""
        self._check()
        while self._unanswered >= self._ahead:
            self._answer()
        try:
            self._pages.send((page, dict(cursor)))
        except OSError:
            self._drain()  # the child stopped: its own error says why
            raise self._failure() from None
        self._unanswered += 1

    def flush(self) -> None:
        """Wait until every page sent is committed; raises the first page's error."""
        if self._unanswered:
            try:
                self._pages.send(_FLUSH)
            except OSError:
                self._drain()
                raise self._failure() from None
        while self._unanswered:
            self._answer()
        self._check()

    def close(self) -> None:
        """Stop the child after the pages already sent (committed or failed); never raises for them."""
        try:
            self._pages.send(None)
        except OSError:
            pass  # already gone
        self._process.join(_STOP_SECONDS)
        if self._process.is_alive():
            log.warning("the page writer did not stop in %ss; ending it", _STOP_SECONDS)
            self._process.terminate()
            self._process.join()
        self._pages.close()
        self._lifeline.close()

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- helpers
    def _answer(self) -> None:
        try:
            kind, value = self._pages.recv()
        except (EOFError, OSError):
            self._unanswered = 0
            raise self._failure() from None
        self._unanswered -= 1
        if kind == "error":
            self._failed = value
            self._unanswered = 0  # the child stops after an error: nothing more will be answered
            raise self._failure()

    def _drain(self) -> None:
        try:
            while self._pages.poll():
                kind, value = self._pages.recv()
                if kind == "error" and self._failed is None:
                    self._failed = value
        except (EOFError, OSError):
            pass  # the child is gone: what it said before it went has been read
        self._unanswered = 0

    def _check(self) -> None:
        if self._failed is not None:
            raise self._failure()

    def _failure(self) -> BaseException:
        if self._failed is None:
            self._failed = StorageError(
                "The process writing the cache stopped unexpectedly.",
                "Everything written before it stopped is kept; sync again.",
            )
        return self._failed

"""Background work for the GUI: a serial database lane and a small parallel network lane (after Anki's taskman
and Orange's concurrent utils).

A task is a plain callable `fn(ctx) -> result` that runs on a worker thread; `ctx.cancel` is a `CancelToken` it
may poll and `ctx.progress(event)` reports `ProgressEvent`s. Progress, results and errors come back to the GUI
thread as queued signals, so callbacks given to `run` always execute on the GUI thread and may touch widgets.
After a task that changed data, `sig_operation_finished` fires once with the task's `ChangeSet` (what its result
says it changed; everything when it failed): views listen to it and refresh what changed (Anki's "operation did
execute" with its `OpChanges`), instead of tasks knowing which views to poke.

Must not: touch widgets from a worker thread, call the services itself, or swallow an error silently (every
failure reaches `on_error` or, without one, `sig_task_failed`).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from app.domain.errors import CancelledError, RecondeskError
from app.domain.progress import CancelToken, ProgressEvent
from app.services.api import EVERYTHING, ChangeSet

log = logging.getLogger(__name__)


class Lane(enum.Enum):
    """Where a task runs. DB work is serial (one SQLite writer, predictable order); network work overlaps."""

    DB = "db"
    NETWORK = "network"


class TaskContext:
    """What a running task can use: the cancel token and a thread-safe progress reporter."""

    def __init__(self, task_id: int, token: CancelToken, relay: _Relay) -> None:
        self.task_id = task_id
        self.cancel = token
        self._relay = relay

    def progress(self, event: ProgressEvent) -> None:
        """Report progress; delivered to the GUI thread as a queued signal. Safe from any thread."""
        self._relay.sig_progress.emit(self.task_id, event)

    def check(self) -> None:
        """Raise `CancelledError` if the user asked to cancel."""
        self.cancel.check()


ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[str, BaseException], None]
ProgressSlot = Callable[[ProgressEvent], None]
ChangesOf = Callable[[Any], ChangeSet]
"""What a data-changing task changed, read off its result."""


@dataclass
class TaskHandle:
    """A submitted task. `cancel()` asks it to stop at its next check; work done so far is kept."""

    task_id: int
    name: str
    lane: Lane
    token: CancelToken
    on_result: ResultCallback | None = None
    on_error: ErrorCallback | None = None
    on_progress: ProgressSlot | None = None
    changes: ChangesOf | None = None
    finished: bool = field(default=False)

    def cancel(self) -> None:
        self.token.cancel()


class _Relay(QObject):
    """Lives on the GUI thread; workers emit on it, so connections to the runner are queued."""

    sig_progress = Signal(int, object)
    sig_done = Signal(int, object)
    sig_failed = Signal(int, object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[TaskContext], Any], ctx: TaskContext, relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._ctx = ctx
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn(self._ctx)
        except BaseException as exc:  # every failure must reach the GUI thread, never vanish
            self._relay.sig_failed.emit(self._ctx.task_id, exc)
        else:
            self._relay.sig_done.emit(self._ctx.task_id, result)


def user_message(exc: BaseException) -> str:
    """The text a person sees for an error: `user_text()` for ours, a plain sentence for anything else."""
    if isinstance(exc, RecondeskError):
        return exc.user_text()
    return f"Something unexpected went wrong ({type(exc).__name__}: {exc}). The details are in the log."


class TaskRunner(QObject):
    """Runs callables on the DB lane (one worker) or the network lane (`network_workers` workers)."""

    sig_task_started = Signal(int, str)
    """A task was queued: (task id, name)."""
    sig_task_progress = Signal(int, object)
    """A running task reported a `ProgressEvent`: (task id, event)."""
    sig_task_succeeded = Signal(int, str, object)
    """A task returned: (task id, name, result)."""
    sig_task_failed = Signal(int, str, str)
    """A task raised: (task id, name, message for people). Cancellation is reported here too."""
    sig_operation_finished = Signal(object)
    """A task run with `changes` ended: (ChangeSet from its result; `EVERYTHING` when it failed or was cancelled)."""
    sig_tasks_changed = Signal(int)
    """The number of unfinished tasks changed: (count)."""

    def __init__(self, parent: QObject | None = None, *, network_workers: int = 2) -> None:
        super().__init__(parent)
        self._pools = {Lane.DB: QThreadPool(self), Lane.NETWORK: QThreadPool(self)}
        self._pools[Lane.DB].setMaxThreadCount(1)
        self._pools[Lane.NETWORK].setMaxThreadCount(network_workers)
        self._relay = _Relay(self)
        self._relay.sig_progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._relay.sig_done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self._relay.sig_failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self._ids = itertools.count(1)
        self._live: dict[int, TaskHandle] = {}
        self._closed = False

    # -- submitting -------------------------------------------------------------------------------------------
    def run(
        self,
        lane: Lane,
        name: str,
        fn: Callable[[TaskContext], Any],
        *,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        on_progress: ProgressSlot | None = None,
        changes: ChangesOf | None = None,
        token: CancelToken | None = None,
    ) -> TaskHandle:
        """Queue `fn` on `lane`. Callbacks run later on the GUI thread, never before this returns; after
        `shutdown` nothing runs and the returned handle is already finished."""
        task_id = next(self._ids)
        handle = TaskHandle(task_id, name, lane, token or CancelToken(), on_result, on_error, on_progress, changes)
        if self._closed:
            # A view reacting to a late signal while the window closes: nothing will run or report back.
            handle.token.cancel()
            handle.finished = True
            log.debug("task %s not started: the runner is shut down", name)
            return handle
        self._live[task_id] = handle
        ctx = TaskContext(task_id, handle.token, self._relay)
        self.sig_task_started.emit(task_id, name)
        self.sig_tasks_changed.emit(len(self._live))
        self._pools[lane].start(_Job(fn, ctx, self._relay))
        return handle

    def db(self, name: str, fn: Callable[[TaskContext], Any], **kwargs: Any) -> TaskHandle:
        """Shorthand for `run(Lane.DB, ...)`: reads and writes of the local cache."""
        return self.run(Lane.DB, name, fn, **kwargs)

    def network(self, name: str, fn: Callable[[TaskContext], Any], **kwargs: Any) -> TaskHandle:
        """Shorthand for `run(Lane.NETWORK, ...)`: anything that talks to accessplanit or Xero."""
        return self.run(Lane.NETWORK, name, fn, **kwargs)

    # -- state ------------------------------------------------------------------------------------------------
    def pending(self) -> int:
        """Tasks queued or running whose outcome has not been delivered yet."""
        return len(self._live)

    def cancel_all(self) -> None:
        for handle in list(self._live.values()):
            handle.cancel()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel everything and wait for the workers; later results are dropped. True if all ended in time."""
        self._closed = True
        self.cancel_all()
        ok = True
        for pool in self._pools.values():
            pool.clear()  # queued but not started: never start them
            ok = pool.waitForDone(timeout_ms) and ok
        self._live.clear()
        return ok

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Block until both lanes are idle (tests and shutdown only; callbacks still arrive as queued events)."""
        return all(pool.waitForDone(timeout_ms) for pool in self._pools.values())

    # -- delivery on the GUI thread ---------------------------------------------------------------------------
    @Slot(int, object)
    def _on_progress(self, task_id: int, event: object) -> None:
        handle = self._live.get(task_id)
        if handle is None or not isinstance(event, ProgressEvent):
            return
        self.sig_task_progress.emit(task_id, event)
        if handle.on_progress is not None:
            handle.on_progress(event)

    @Slot(int, object)
    def _on_done(self, task_id: int, result: object) -> None:
        handle = self._finish(task_id)
        if handle is None:
            return
        try:
            if handle.on_result is not None:
                handle.on_result(result)
            self.sig_task_succeeded.emit(task_id, handle.name, result)
        finally:
            self._after(handle, result)

    @Slot(int, object)
    def _on_failed(self, task_id: int, exc: object) -> None:
        handle = self._finish(task_id)
        if handle is None:
            return
        assert isinstance(exc, BaseException)
        message = user_message(exc)
        if not isinstance(exc, RecondeskError):
            log.error("task %s failed", handle.name, exc_info=exc)
        elif not isinstance(exc, CancelledError):
            log.warning("task %s failed: %s", handle.name, message)
        try:
            if handle.on_error is not None:
                handle.on_error(message, exc)
            self.sig_task_failed.emit(task_id, handle.name, message)
        finally:
            self._after(handle, None, failed=True)

    def _finish(self, task_id: int) -> TaskHandle | None:
        handle = self._live.pop(task_id, None)
        if handle is None or self._closed:
            return None
        handle.finished = True
        return handle

    def _after(self, handle: TaskHandle, result: object, *, failed: bool = False) -> None:
        self.sig_tasks_changed.emit(len(self._live))
        if handle.changes is not None:
            # A failed task may have done part of its work: only a whole reload is sure to show it.
            self.sig_operation_finished.emit(EVERYTHING if failed else handle.changes(result))

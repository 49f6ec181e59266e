"""Progress reporting and cancellation for long work, without any GUI type.

Services call `report(...)` and `check()` between requests; the UI adapts these to Qt signals.
Must not: sleep, block, or import anything but the standard library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.domain.errors import CancelledError


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of long work. `done`/`total` count `unit`s (total None when unknown): records while fetching,
    invoices (each with its payments) while reconciling."""

    stage: str  # e.g. "accessplanit: invoices"
    done: int = 0
    total: int | None = None
    pages: int = 0
    calls: int = 0
    eta_seconds: float | None = None
    message: str = ""
    unit: str = "records"


class CancelToken:
    """Set from any thread; checked by the worker between requests. Thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._children: list[CancelToken] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            children = list(self._children)
        for child in children:
            child.cancel()

    def child(self) -> CancelToken:
        """A token cancelled with this one that can also be cancelled alone (this one stays as it is): for work
        that must stop when the user cancels or when the code that waits for it gives up."""
        token = CancelToken()
        with self._lock:
            self._children.append(token)
            parent_cancelled = self._event.is_set()
        if parent_cancelled:
            token.cancel()
        return token

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `CancelledError` if cancellation was asked for."""
        if self._event.is_set():
            raise CancelledError("Cancelled by the user; everything fetched so far is kept.")

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once on cancel (then raising)."""
        if self._event.wait(max(0.0, seconds)):
            self.check()


ProgressCallback = Callable[[ProgressEvent], None]


def no_progress(_event: ProgressEvent) -> None:
    """A progress callback that ignores everything."""

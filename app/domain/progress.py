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
    """One step of long work. `done`/`total` count records (total None when unknown)."""

    stage: str  # e.g. "accessplanit: invoices"
    done: int = 0
    total: int | None = None
    pages: int = 0
    calls: int = 0
    eta_seconds: float | None = None
    message: str = ""


class CancelToken:
    """Set from any thread; checked by the worker between requests. Thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

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

"""The interpreter's pace during a big sync: `with fewer_collections(): ...` and `with prompt_handoffs(): ...`.

Fewer collector passes. Python's cyclic collector runs a young-generation pass every 700 new container objects, and
promotes what survives to older generations that are scanned again and again. A 100,000-invoice sync makes tens of
millions of short-lived dicts, lists and tuples (decoded pages, mapped records, rows), and pages in flight survive
several passes: a profile of the sync's process showed a tenth of its CPU time in the collector, for almost nothing
to collect (the records are trees, freed by reference counting). For the length of the block the young generation is
allowed `YOUNG` objects instead; cycles are still collected, just in fewer, bigger passes, so memory stays bounded.

Prompt hand-offs. A sync runs three threads in one interpreter: one reads pages from the service, one maps them, one
hands rows to the writer. The reading thread lets go of the interpreter lock for every socket read and must then wait
for the busy thread to give it back, which Python asks of that thread only every `sys.getswitchinterval()` (5 ms by
default): a page of 1,000 invoices is read in dozens of pieces, and all that while the service waits for our next
request. For the block the interval is `SWITCH_SECONDS` (0.5 ms): at 100,000 invoices the fetch took 28.3-28.6 s
instead of 30.4-30.5 s (docs/figures.md, session 5), for the same CPU time. The GUI thread gets its turns sooner too.

Both settings are the process's; blocks may nest and overlap across threads (a GUI sync while a report runs): the
previous values come back when the last block of that kind ends.
Must not: disable the collector, or leave a setting changed after the last block.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

YOUNG = 50_000  # young-generation allocations between passes (Python's default: 700)
SWITCH_SECONDS = 0.0005  # interpreter-lock hand-off interval during a fetch (Python's default: 0.005)


class _Shared:
    """A process-wide setting changed while at least one block holds it: `change()` returns the value to restore,
    called when the first block starts; `restore(value)` when the last one ends."""

    def __init__(self, change: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._change, self._restore = change, restore
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._saved = self._change()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore(self._saved)
                    self._saved = None


def _raise_young() -> tuple[int, int, int]:
    saved = gc.get_threshold()
    young, middle, old = saved
    if young:  # 0: the collector is off already; leave it so
        gc.set_threshold(max(young, YOUNG), middle, old)
    return saved


def _shorten_switches() -> float:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(saved, SWITCH_SECONDS))
    return saved


_collections = _Shared(_raise_young, lambda saved: gc.set_threshold(*saved))
_switches = _Shared(_shorten_switches, sys.setswitchinterval)


def fewer_collections() -> AbstractContextManager[None]:
    """Raise the young generation's threshold to `YOUNG` for the block (older ones keep theirs)."""
    return _collections.held()


def prompt_handoffs() -> AbstractContextManager[None]:
    """Hand the interpreter lock between threads every `SWITCH_SECONDS` at most, for the block."""
    return _switches.held()

"""Fewer garbage-collector passes during a big sync: `with fewer_collections(): ...`.

Python's cyclic collector runs a young-generation pass every 700 new container objects, and promotes what survives
to older generations that are scanned again and again. A 100,000-invoice sync makes tens of millions of short-lived
dicts, lists and tuples (decoded pages, mapped records, rows), and pages in flight survive several passes: a profile
of the sync's process showed a tenth of its CPU time in the collector, for almost nothing to collect (the records are
trees, freed by reference counting). For the length of the block the young generation is allowed `YOUNG` objects
instead; cycles are still collected, just in fewer, bigger passes, so memory stays bounded.

The thresholds are the process's; blocks may nest and overlap across threads (a GUI sync while a report runs): the
previous thresholds come back when the last block ends.
Must not: disable the collector, or leave the thresholds changed after the last block.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # young-generation allocations between passes (Python's default: 700)

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's threshold to `YOUNG` for the block (older ones keep theirs)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            young, middle, old = _saved
            if young:  # 0: the collector is off already; leave it so
                gc.set_threshold(max(young, YOUNG), middle, old)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None

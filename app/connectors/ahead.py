"""Read ahead: iterate a reading generator one item ahead, in a worker thread, while the caller works on the item
before. Used twice: a connector reads page n+1 from the service while it maps page n (the service's time overlaps
ours), and the sync builds the next page's rows while it writes the current one (ours overlaps the database's).

The order of items is unchanged. At most one item waits in the queue and one is being read, so memory stays
bounded. The worker's generator gets a child of `cancel`: the user's cancel stops it within one request as before;
when the caller stops early (an error, a cancel between items, `break`) the child is cancelled, the worker ends
after its request in flight and closes its generator there, and the caller waits for it, so no read outlives the
loop. An exception in the worker is raised in the caller, unchanged, after the items before it.
Must not: reorder, drop or duplicate items, or let a worker run on after its caller's loop has ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

from app.domain.progress import CancelToken

T = TypeVar("T")

_POLL_SECONDS = 0.1


class ReadAhead(Generic[T]):
    """`for item in ReadAhead(lambda token: reader(..., cancel=token), cancel, "name")`."""

    def __init__(self, read: Callable[[CancelToken], Iterator[T]], cancel: CancelToken, name: str) -> None:
        self._token = cancel.child()
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(read,), name=f"ahead {name}", daemon=True)
        self._started = False

    def _put(self, kind: str, value: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, read: Callable[[CancelToken], Iterator[T]]) -> None:
        try:
            items = read(self._token)
            try:
                for item in items:
                    if not self._put("item", item):
                        return
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()  # the generator's own cleanup runs in this thread, where it ran
            self._put("end", None)
        except BaseException as exc:  # handed to the caller, which decides
            self._put("error", exc)

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError("a ReadAhead is iterated once")
        self._started = True
        self._thread.start()
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    assert isinstance(value, BaseException)
                    raise value
                yield cast(T, value)
        finally:
            self._stopped.set()
            self._token.cancel()
            self._thread.join()

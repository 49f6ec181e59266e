"""Read ahead (`app.connectors.ahead.ReadAhead`, used by the connectors and the sync): same items in the same order,
the worker's errors raised in the caller, and no read that outlives the loop when the caller stops or the user
cancels."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from app.connectors.ahead import ReadAhead
from app.connectors.base import Page
from app.domain.errors import CancelledError
from app.domain.progress import CancelToken


class Source:
    """A stream of `n` pages; records which thread read them and whether the generator was closed."""

    def __init__(self, n: int, *, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.n, self.fail_at, self.delay = n, fail_at, delay
        self.read_in: set[str] = set()
        self.closed_in: str | None = None
        self.served = 0
        self.token: CancelToken | None = None

    def read(self, cancel: CancelToken) -> Iterator[Page]:
        self.token = cancel
        try:
            for i in range(self.n):
                cancel.check()  # as the HTTP layer does before every request
                if self.delay:
                    cancel.wait(self.delay)
                if i == self.fail_at:
                    raise RuntimeError(f"page {i} broke")
                self.read_in.add(threading.current_thread().name)
                self.served += 1
                yield Page(stream="s", records=[], raws=[], cursor={"page": i})
        finally:
            self.closed_in = threading.current_thread().name


def test_pages_arrive_in_order_read_in_another_thread() -> None:
    src = Source(5)
    got = list(ReadAhead(src.read, CancelToken(), "t"))
    assert [p.cursor["page"] for p in got] == list(range(5))
    assert src.read_in == {"ahead t"} and src.closed_in == "ahead t"


def test_an_error_in_the_worker_is_raised_in_the_caller_after_the_pages_before_it() -> None:
    src = Source(5, fail_at=3)
    seen = []
    with pytest.raises(RuntimeError, match="page 3 broke"):
        for page in ReadAhead(src.read, CancelToken(), "t"):
            seen.append(page.cursor["page"])
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_early_stops_the_worker_and_waits_for_it() -> None:
    src = Source(1000)
    user = CancelToken()
    before = threading.active_count()
    for page in ReadAhead(src.read, user, "t"):
        if page.cursor["page"] == 2:
            break  # e.g. the database write of page 2 failed
    # The worker has ended (joined), closed its generator, and read at most one page ahead plus one queued.
    assert threading.active_count() == before
    assert src.closed_in == "ahead t"
    assert src.served <= 5
    assert src.token is not None and src.token.cancelled
    assert not user.cancelled  # the user's token is untouched: only the worker's child was cancelled


def test_the_users_cancel_reaches_the_worker_within_one_request() -> None:
    src = Source(1000, delay=0.05)
    user = CancelToken()
    seen = []
    t0 = time.monotonic()
    with pytest.raises(CancelledError):
        for page in ReadAhead(src.read, user, "t"):
            seen.append(page.cursor["page"])
            if len(seen) == 2:
                user.cancel()
                user.check()  # what the sync does between pages
    assert time.monotonic() - t0 < 5
    assert src.closed_in == "ahead t"
    assert src.served < 10


def test_child_tokens_follow_their_parent_but_not_the_other_way() -> None:
    parent = CancelToken()
    child = parent.child()
    child.cancel()
    assert child.cancelled and not parent.cancelled
    other = parent.child()
    parent.cancel()
    assert other.cancelled
    assert parent.child().cancelled  # made after the cancel: born cancelled
    with pytest.raises(CancelledError):
        other.check()

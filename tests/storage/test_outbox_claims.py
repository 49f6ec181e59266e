"""The outbox claim (`outbox.claim` / `outbox.release`) on SQLite and PostgreSQL, through two separate `Database`
objects (two connection pools, as two processes have): a second claimer is refused while the first one's lease is
live and takes the row once it has lapsed; two claims racing in open transactions leave exactly one owner.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from app.domain.status import Kind, System
from app.storage import outbox
from app.storage.db import Database


def _row(db: Database) -> int:
    with db.transaction() as tx:
        return outbox.add_push(tx, Kind.PAYMENT, "PAY-1", "create_payment", System.XERO, {"amount": "10.00"}, "k-1")


def _owner(db: Database, push_id: int) -> tuple[str | None, datetime | None]:
    with db.transaction(readonly=True) as tx:
        row = outbox.get_push(tx, push_id)
    return row.claimed_by, row.lease_until


def _claim(db: Database, push_id: int, owner: str, lease: float) -> bool:
    with db.transaction() as tx:
        return outbox.claim(tx, push_id, owner, lease)


def _release(db: Database, push_id: int, owner: str) -> None:
    with db.transaction() as tx:
        outbox.release(tx, [push_id], owner)


def test_a_second_claimer_is_refused_while_the_lease_is_live_and_takes_the_row_after_it_lapses(db: Database) -> None:
    other = Database(db.url)  # "process B": its own engine over the same database
    try:
        push_id = _row(db)
        assert _claim(db, push_id, "a", 600)
        assert not _claim(other, push_id, "b", 600)  # A's lease is live: B is refused ...
        _release(other, push_id, "b")  # ... and cannot give back what it does not hold
        assert _owner(db, push_id)[0] == "a"
        assert _claim(db, push_id, "a", 600)  # the holder may renew

        # A renews with a short lease and dies without releasing: once the lease has lapsed, B's claim succeeds.
        assert _claim(db, push_id, "a", 0.3)
        deadline = time.monotonic() + 10  # a bound on the wait, not an assertion on time
        while not _claim(other, push_id, "b", 600) and time.monotonic() < deadline:
            time.sleep(0.05)
        owner, lease_until = _owner(db, push_id)
        assert owner == "b" and lease_until is not None
        assert not _claim(db, push_id, "a", 600)  # now A is the one refused
        _release(db, push_id, "a")  # A's late release does not free B's row
        assert _owner(db, push_id)[0] == "b"
        _release(other, push_id, "b")
        assert _owner(db, push_id) == (None, None)
        assert _claim(db, push_id, "a", 600)  # released: anyone may take it at once
    finally:
        other.dispose()


def test_two_claims_racing_in_open_transactions_leave_one_owner(db: Database) -> None:
    """A claims inside a transaction it keeps open; B claims meanwhile (PostgreSQL: B waits on the row lock, then
    re-checks the condition against A's committed claim; SQLite: B waits for the write lock). B is refused."""
    other = Database(db.url)
    try:
        push_id = _row(db)
        claimed, commit = threading.Event(), threading.Event()
        got: dict[str, bool] = {}

        def a() -> None:
            with db.transaction() as tx:
                got["a"] = outbox.claim(tx, push_id, "a", 600)
                claimed.set()
                commit.wait(10)

        def b() -> None:
            got["b"] = _claim(other, push_id, "b", 600)

        ta = threading.Thread(target=a)
        ta.start()
        assert claimed.wait(10)
        tb = threading.Thread(target=b)
        tb.start()
        tb.join(0.3)  # B is blocked behind A's open transaction (or already done, if it was faster: same answer)
        commit.set()
        ta.join(10)
        tb.join(30)
        assert got == {"a": True, "b": False}
        assert _owner(db, push_id)[0] == "a"
    finally:
        other.dispose()

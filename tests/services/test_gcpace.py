"""The collector's thresholds during a sync: raised for the young generation only, restored after the last block,
whatever the nesting or threads; a collector turned off stays off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from app.services.gcpace import YOUNG, fewer_collections


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_raised_for_the_block_and_restored_after() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG, 10, 10)
        with fewer_collections():  # nested (a sync's reconcile inside the sync)
            assert gc.get_threshold() == (YOUNG, 10, 10)
        assert gc.get_threshold() == (YOUNG, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a failed sync")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_blocks_in_threads_restore_only_after_the_last() -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    with fewer_collections():
        worker.start()
        inside.wait(10)
    assert gc.get_threshold() == (YOUNG, 10, 10)  # the other block still runs
    leave.set()
    worker.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_collector_that_is_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)

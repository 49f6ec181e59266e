"""The interpreter's pace during a sync: the collector's young threshold raised, the switch interval shortened; each
restored after the last block, whatever the nesting or threads; a collector turned off stays off, and an interval
already shorter is not lengthened."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest

from app.services.gcpace import SWITCH_SECONDS, YOUNG, fewer_collections, prompt_handoffs


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    interval = sys.getswitchinterval()
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    yield
    gc.set_threshold(*saved)
    sys.setswitchinterval(interval)


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


def test_handoffs_are_prompt_for_the_block_and_the_interval_comes_back_after_the_last() -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with prompt_handoffs():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    with prompt_handoffs():
        assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS)
        with prompt_handoffs(), fewer_collections():  # nested, and together with the collector's setting
            assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS)
            assert gc.get_threshold() == (YOUNG, 10, 10)
        worker.start()
        inside.wait(10)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS)  # the other block still runs
    leave.set()
    worker.join(10)
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.get_threshold() == (700, 10, 10)


def test_an_interval_already_shorter_is_kept() -> None:
    sys.setswitchinterval(SWITCH_SECONDS / 2)
    with prompt_handoffs():
        assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS / 2)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS / 2)

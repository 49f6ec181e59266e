"""The interpreter's pace during a sync: the collector's young threshold raised, the switch interval shortened; each
restored after the last block, whatever the nesting or threads; a collector turned off stays off, and an interval
already shorter is not lengthened."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

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


# Each setting: (the block, how to read the setting, its value inside, its value outside: the fixture's).
SETTINGS: dict[str, tuple[Callable[[], AbstractContextManager[None]], Callable[[], object], object, object]] = {
    "collector": (fewer_collections, gc.get_threshold, (YOUNG, 10, 10), (700, 10, 10)),
    "switch interval": (prompt_handoffs, sys.getswitchinterval, SWITCH_SECONDS, 0.005),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_overlapping_blocks_in_threads_restore_only_after_the_last(name: str) -> None:
    block, read, inside_value, outside_value = SETTINGS[name]
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with block():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    with block():
        assert read() == pytest.approx(inside_value)
        worker.start()
        inside.wait(10)
    assert read() == pytest.approx(inside_value)  # the other block still runs
    leave.set()
    worker.join(10)
    assert read() == pytest.approx(outside_value)


def test_a_collector_that_is_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_both_settings_nest_together() -> None:
    with prompt_handoffs(), fewer_collections():
        with fewer_collections(), prompt_handoffs():
            assert (sys.getswitchinterval(), gc.get_threshold()) == (pytest.approx(SWITCH_SECONDS), (YOUNG, 10, 10))
        assert (sys.getswitchinterval(), gc.get_threshold()) == (pytest.approx(SWITCH_SECONDS), (YOUNG, 10, 10))
    assert (sys.getswitchinterval(), gc.get_threshold()) == (pytest.approx(0.005), (700, 10, 10))


def test_an_interval_already_shorter_is_kept() -> None:
    sys.setswitchinterval(SWITCH_SECONDS / 2)
    with prompt_handoffs():
        assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS / 2)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS / 2)

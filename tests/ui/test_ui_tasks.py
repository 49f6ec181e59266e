"""The task runner: results, errors and progress reach the GUI thread as queued signals; the DB lane is serial;
cancellation reaches the worker; data-changing tasks announce themselves once."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from app.domain.errors import CancelledError, ConfigurationError
from app.domain.progress import ProgressEvent
from app.services.api import EVERYTHING, ChangeSet
from app.ui.tasks import Lane, TaskContext, TaskRunner


def _on_gui_thread() -> bool:
    app = QApplication.instance()
    assert app is not None
    return QThread.currentThread() is app.thread()


def test_result_arrives_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    seen: dict[str, object] = {}

    def work(_ctx: TaskContext) -> str:
        seen["worker_on_gui"] = _on_gui_thread()
        return "done"

    def on_result(value: object) -> None:
        seen["value"] = value
        seen["callback_on_gui"] = _on_gui_thread()

    with qtbot.waitSignal(runner.sig_task_succeeded, timeout=5000) as blocker:
        runner.db("answer", work, on_result=on_result)
    assert blocker.args[1:] == ["answer", "done"]
    assert seen == {"worker_on_gui": False, "value": "done", "callback_on_gui": True}
    assert runner.pending() == 0
    runner.shutdown()


def test_our_errors_show_their_user_text_and_others_a_plain_sentence(qtbot):
    runner = TaskRunner()
    messages: list[str] = []

    def ours(_ctx: TaskContext) -> None:
        raise ConfigurationError("No Xero connection.", "Open Edit → Connections….")

    def theirs(_ctx: TaskContext) -> None:
        raise KeyError("boom")

    with qtbot.waitSignal(runner.sig_task_failed, timeout=5000) as blocker:
        runner.db("ours", ours, on_error=lambda msg, exc: messages.append(msg))
    assert blocker.args[2] == "No Xero connection. Open Edit → Connections…."
    with qtbot.waitSignal(runner.sig_task_failed, timeout=5000) as blocker:
        runner.network("theirs", theirs)
    assert "KeyError" in blocker.args[2] and "unexpected" in blocker.args[2]
    assert messages == ["No Xero connection. Open Edit → Connections…."]
    runner.shutdown()


def test_progress_is_delivered_in_order_and_cancel_reaches_the_worker(qtbot):
    runner = TaskRunner()
    started = threading.Event()
    events: list[ProgressEvent] = []
    errors: list[BaseException] = []

    def work(ctx: TaskContext) -> None:
        for i in range(1000):
            ctx.progress(ProgressEvent("counting", done=i, total=1000))
            started.set()
            ctx.cancel.wait(0.01)  # raises CancelledError once cancelled

    def on_progress(ev: ProgressEvent) -> None:
        events.append(ev)
        if len(events) == 3:
            handle.cancel()

    with qtbot.waitSignal(runner.sig_task_failed, timeout=10000):
        handle = runner.network("count", work, on_progress=on_progress, on_error=lambda m, e: errors.append(e))
    assert [e.done for e in events[:3]] == [0, 1, 2]
    assert len(events) < 1000
    assert len(errors) == 1 and isinstance(errors[0], CancelledError)
    runner.shutdown()


def test_the_db_lane_is_serial_and_the_network_lane_overlaps(qtbot):
    runner = TaskRunner()
    lock = threading.Lock()
    active = {Lane.DB: 0, Lane.NETWORK: 0}
    peak = {Lane.DB: 0, Lane.NETWORK: 0}

    def make(lane: Lane):
        def work(_ctx: TaskContext) -> None:
            with lock:
                active[lane] += 1
                peak[lane] = max(peak[lane], active[lane])
            time.sleep(0.05)  # in the worker: holds the lane long enough for overlap to show
            with lock:
                active[lane] -= 1

        return work

    for lane in (Lane.DB, Lane.NETWORK):
        for _ in range(4):
            runner.run(lane, f"{lane.value} job", make(lane))
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=10000)
    assert peak[Lane.DB] == 1
    assert peak[Lane.NETWORK] == 2
    runner.shutdown()


def test_data_changing_tasks_announce_once_even_when_they_fail(qtbot):
    runner = TaskRunner()
    changes: list[ChangeSet] = []
    runner.sig_operation_finished.connect(changes.append)
    pushed = ChangeSet(changed=frozenset({7}), audit=True)

    def fail(_ctx: TaskContext) -> None:
        raise ConfigurationError("nope")

    with qtbot.waitSignal(runner.sig_operation_finished, timeout=5000):
        runner.db("push", lambda _ctx: pushed, changes=lambda result: result)
    with qtbot.waitSignal(runner.sig_operation_finished, timeout=5000):
        runner.db("resolve", fail, changes=lambda result: result)
    with qtbot.waitSignal(runner.sig_task_succeeded, timeout=5000):
        runner.db("read", lambda _ctx: 1)
    # The push's own change set; a failure may have done part of its work, so every view reloads.
    assert changes == [pushed, EVERYTHING]
    runner.shutdown()


def test_results_after_shutdown_are_dropped(qtbot):
    runner = TaskRunner()
    delivered: list[object] = []
    gate = threading.Event()

    def work(_ctx: TaskContext) -> int:
        gate.wait(5)
        return 1

    runner.db("late", work, on_result=delivered.append)
    gate.set()
    assert runner.shutdown(5000)
    qtbot.wait(50)  # let any queued delivery run: it must be dropped
    assert delivered == []

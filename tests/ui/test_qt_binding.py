"""The Qt binding keeps Python's reference counts: a binding that drops a reference on each signal or event-loop call
ends a long session in "Fatal Python error: deallocating True" (PySide6 6.12.0 does both: `emit` returns True without
a reference and `processEvents` drops one to None; pyproject.toml pins a release that does neither)."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication


class _Emitter(QObject):
    finished = Signal(bool, str)


def test_signals_and_the_event_loop_keep_the_reference_counts(qtbot: Any) -> None:
    app = QApplication.instance()
    assert app is not None
    emitter = _Emitter()
    received: list[bool] = []
    emitter.finished.connect(lambda ok, _message: received.append(ok))
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(200):
        emitter.finished.emit(False, "done")
        app.processEvents()
    assert len(received) == 200
    # Other threads may hold or drop a few references meanwhile; a leaking binding drops one per call, 200 or more.
    assert sys.getrefcount(True) - true_before > -50
    assert sys.getrefcount(None) - none_before > -50

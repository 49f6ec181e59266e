"""The GUI's exception hook over a real event loop: a slot that raises (and a thread that dies) is said in one
line in a message box (answered here by the hook's provider), its traceback goes only to an owner-only log file
(never to standard error without -v), and the window keeps working."""

from __future__ import annotations

import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from ui_helpers import TIMEOUT_MS, settle

from app.cli import scrub, write_details
from app.ui.app import ErrorHook


@pytest.fixture
def log_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user log folder (platformdirs) inside tmp_path."""
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


def _logs(home: Path) -> list[Path]:
    return sorted(home.rglob("recondesk-error-*.log"))


@pytest.mark.qt_no_exception_capture
@pytest.mark.parametrize("verbose", [False, True])
def test_a_slot_that_raises_is_said_in_one_line_logged_0600_and_the_app_keeps_running(
    qtbot: Any, window: Any, log_home: Path, capfd: pytest.CaptureFixture[str], verbose: bool
) -> None:
    w = window
    settle(qtbot, w)
    hook = ErrorHook(write_details, scrub=scrub, verbose=verbose, parent=w)
    said: list[tuple[Any, str]] = []
    hook.show = lambda parent, text: said.append((parent, text))
    hook.install()
    try:
        button = QPushButton("break", w)

        def broken() -> None:
            raise ValueError("the figure 'x' is not a number at https://me:hunter22@example.com/\nsecond line")

        button.clicked.connect(broken)
        capfd.readouterr()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(said) == 1, timeout=TIMEOUT_MS)
        [log] = _logs(log_home)
        assert said == [
            (
                w,
                "Something went wrong: the figure 'x' is not a number at https://me:***@example.com/; "
                f"details were written to {log}.",
            )
        ]
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        text = log.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" in text and "in broken" in text and "ValueError" in text
        assert "hunter22" not in text  # a password in a URL is scrubbed
        err = capfd.readouterr().err
        assert ("Traceback" in err) is verbose and "hunter22" not in err

        # A worker thread that dies is said the same way, on the GUI thread.
        def dies() -> None:
            raise RuntimeError("worker lost")

        worker = threading.Thread(target=dies)
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: len(said) == 2, timeout=TIMEOUT_MS)
        assert said[1][1].startswith("Something went wrong: worker lost; details were written to ")
        assert len(_logs(log_home)) == 2
        assert ("Traceback" in capfd.readouterr().err) is verbose

        # The app keeps running: the window still syncs and lists its items.
        with qtbot.waitSignal(w.sig_sync_finished, timeout=TIMEOUT_MS) as blocker:
            assert w.sync() is not None
        assert blocker.args[0] is not None
        settle(qtbot, w)
        assert w.list_view.model.rowCount() > 0
    finally:
        hook.uninstall()

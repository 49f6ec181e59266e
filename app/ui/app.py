"""Starts the GUI over a ready workspace: creates (or reuses) the QApplication, shows the main window, runs the
event loop and shuts the background lanes down on exit.

Must not: build the workspace (the command line's composition root does), or read secrets.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from app import __version__
from app.process import harden
from app.services.api import Recondesk
from app.ui import style
from app.ui.dialogs.connections_dialog import XeroSignIn
from app.ui.main_window import REOPEN, MainWindow


def ensure_application(argv: list[str] | None = None) -> QApplication:
    """The one QApplication, with the names QSettings keys its file by."""
    QCoreApplication.setOrganizationName("Recondesk")
    QCoreApplication.setApplicationName("Recondesk")
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setWindowIcon(style.icon("recondesk"))
    app.setDesktopFileName("recondesk")
    return app


def run_gui(
    workspace: Recondesk,
    *,
    title_suffix: str = "",
    xero_sign_in: XeroSignIn | None = None,
    smoke: str = "",
) -> int:
    """Show the main window over `workspace` and run until it is closed. Returns the exit code.

    `xero_sign_in` enables "Sign in with Xero…" in Edit → Connections (the composition root passes e.g.
    `functools.partial(composition.connect_xero_oauth, ws)`); without it the button says it is not available.
    `smoke` ("window" or "sync", for the installed-bundle check in packaging/smoke.py): print one JSON line when the
    window is on screen, optionally sync, then quit by itself."""
    harden()  # owner-only files, no core dumps (app/process.py); the command line did it too when it started us
    app = ensure_application()
    window = MainWindow(workspace, title_suffix=title_suffix, xero_sign_in=xero_sign_in)
    window.show()
    window.start()
    failed: list[str] = []
    if smoke:
        QTimer.singleShot(0, lambda: _smoke(app, window, smoke, failed))
    code = app.exec()
    window.runner.shutdown()
    if window.reopen_requested:
        return REOPEN
    return 1 if failed else int(code)


def _smoke(app: QApplication, window: MainWindow, mode: str, failed: list[str]) -> None:
    """The window has been shown and the event loop runs: say so, then sync (mode "sync") and quit when idle."""
    print(json.dumps({"event": "window", "at": time.time()}), flush=True)
    if mode != "sync":
        QTimer.singleShot(0, app.quit)
        return
    started = time.monotonic()
    window.runner.sig_task_failed.connect(lambda _id, name, message: failed.append(f"{name}: {message}"))

    def idle(live: int) -> None:
        if live == 0 and not window.syncing:
            print(json.dumps({"event": "synced", "seconds": round(time.monotonic() - started, 2), "failed": failed}))
            sys.stdout.flush()
            app.quit()

    window.runner.sig_tasks_changed.connect(idle)
    if window.sync() is None:
        failed.append("a sync was already running")

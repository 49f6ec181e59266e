"""Starts the GUI over a ready workspace: creates (or reuses) the QApplication, shows the main window, runs the
event loop and shuts the background lanes down on exit. An unexpected exception (a slot raising, a thread dying)
goes to `ErrorHook`: one line in a message box, the traceback only in an owner-only log file, the app keeps running.

Must not: build the workspace (the command line's composition root does), read secrets, or print a traceback to
standard error without -v.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

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


WriteDetails = Callable[[BaseException], Path | None]
"""Writes an exception's traceback (secrets scrubbed) to a new 0600 log file; its path, or None when it could not."""
ErrorProvider = Callable[[QWidget | None, str], None]
"""Shows one line to the person (a message box; tests answer it themselves)."""
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]+@")


def _no_url_password(text: str) -> str:
    return _URL_PASSWORD.sub(r"\1***@", text)


def _message_box(parent: QWidget | None, text: str) -> None:
    QMessageBox.warning(parent, "Recondesk", text)


class ErrorHook(QObject):
    """`sys.excepthook` and `threading.excepthook` of the GUI: each unexpected exception is written to a log file by
    `write` and said in ONE line ("Something went wrong: ...; details were written to <path>.") through `show` on
    the GUI thread (a worker thread's error is queued there). The traceback reaches standard error only with
    `verbose`. While one message is on screen, further errors are only logged."""

    sig_error = Signal(str)
    """An unexpected error was said: (the line)."""

    def __init__(
        self,
        write: WriteDetails,
        *,
        scrub: Callable[[str], str] = _no_url_password,
        verbose: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__()
        self.write = write
        self.scrub = scrub
        self.verbose = verbose
        self.parent_widget = parent
        self.show: ErrorProvider = _message_box
        self.showing = False
        self._previous: tuple[object, object] | None = None
        self.sig_error.connect(self._show)

    def install(self) -> None:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._thread

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous  # type: ignore[assignment]
            self._previous = None

    def _thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, KeyboardInterrupt):
            QCoreApplication.quit()
            return
        path = self.write(exc.with_traceback(tb))
        if self.verbose:  # the log's scrubbed text when written
            text = path.read_text(encoding="utf-8") if path is not None else "".join(traceback.format_exception(exc))
            print(self.scrub(text), file=sys.stderr, end="")
        what = self.scrub((str(exc).strip().splitlines() or [""])[0]) or exc_type.__name__
        where = f"details were written to {path}" if path is not None else "the details could not be written"
        self.sig_error.emit(f"Something went wrong: {what}; {where}.")

    def _show(self, text: str) -> None:
        if self.showing:
            return
        self.showing = True
        try:
            self.show(self.parent_widget, text)
        finally:
            self.showing = False


def run_gui(
    workspace: Recondesk,
    *,
    title_suffix: str = "",
    xero_sign_in: XeroSignIn | None = None,
    smoke: str = "",
    write_details: WriteDetails | None = None,
    scrub: Callable[[str], str] = _no_url_password,
    verbose: bool = False,
) -> int:
    """Show the main window over `workspace` and run until it is closed. Returns the exit code.

    `xero_sign_in` enables "Sign in with Xero…" in Edit → Connections (the composition root passes e.g.
    `functools.partial(composition.connect_xero_oauth, ws)`); without it the button says it is not available.
    `smoke` ("window" or "sync", for the installed-bundle check in packaging/smoke.py): print one JSON line when the
    window is on screen, optionally sync, then quit by itself. `write_details` (the command line's): where an
    unexpected exception's traceback goes (`ErrorHook`), `scrub` what takes secrets out of the line shown; `verbose`
    (-v) also prints the traceback on standard error."""
    harden()  # owner-only files, no core dumps (app/process.py); the command line did it too when it started us
    app = ensure_application()
    window = MainWindow(workspace, title_suffix=title_suffix, xero_sign_in=xero_sign_in)
    hook = ErrorHook(write_details or (lambda _exc: None), scrub=scrub, verbose=verbose, parent=window)
    hook.install()
    window.show()
    window.start()
    failed: list[str] = []
    if smoke:
        QTimer.singleShot(0, lambda: _smoke(app, window, smoke, failed))
    code = app.exec()
    window.runner.shutdown()
    hook.uninstall()
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

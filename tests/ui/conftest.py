"""UI test set-up: Qt offscreen before any Qt import, and a small demo workspace (real sandboxes over HTTP on
127.0.0.1, a real SQLite file in tmp_path, in-memory credentials) built by the lead's composition root."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

DEMO_INVOICES = 60
"""Small enough that a sync over loopback takes well under a second; big enough for every status to occur."""


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """(workspace, sandboxes): the real services over real HTTP and a real SQLite file, as `recondesk --demo`."""
    from dataclasses import replace

    from app.composition import demo_workspace
    from app.settings import Settings

    # The sandboxes' rate limits are lifted for speed, and our own pacing with them; both are tested elsewhere.
    fast = replace(Settings(), xero_calls_per_minute=100_000, accessplanit_calls_per_hour=10_000_000)
    ws, sandboxes = demo_workspace(
        tmp_path / "demo",
        invoices=DEMO_INVOICES,
        settings=fast,
        faults="xero:limit_minute=100000,xero:limit_day=1000000",
    )
    try:
        yield ws, sandboxes
    finally:
        sandboxes.stop()


@pytest.fixture
def ui_settings(tmp_path: Path) -> QSettings:
    """A QSettings file of this test only, so tests never read or write the user's window state."""
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot: Any, demo: tuple[Any, Any], ui_settings: QSettings) -> Iterator[Any]:
    from app.ui.main_window import MainWindow

    ws, _ = demo
    w = MainWindow(ws, settings=ui_settings)
    qtbot.addWidget(w)
    w.show()
    w.start()
    try:
        yield w
    finally:
        w.close()  # cancels and waits for background work before the sandboxes stop

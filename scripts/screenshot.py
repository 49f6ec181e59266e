"""Screenshot of the main window after a sync of the demo month, for the README and docs/gui.md.

Usage: `python scripts/screenshot.py [OUT.png] [--dashboard]` (default docs/screenshot.png). Runs offscreen unless
a display is set (`make screenshot` uses xvfb). Builds the demo workspace (sandboxes on 127.0.0.1, a throw-away SQLite
file), syncs, selects an invoice that differs, and grabs the window. With `--dashboard` it syncs twice (so the trend
has two points) and grabs the Dashboard tab instead (docs/dashboard.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings, QTimer

from app.composition import demo_workspace
from app.domain.status import ItemStatus, Kind
from app.ui.app import ensure_application
from app.ui.main_window import MainWindow


def main(out: Path, dashboard: bool = False) -> int:
    app = ensure_application()
    directory = Path(tempfile.mkdtemp(prefix="recondesk-shot-"))
    ws, sandboxes = demo_workspace(directory, invoices=120)
    settings = QSettings(str(directory / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(ws, title_suffix="demo on sandboxes", settings=settings)
    window.resize(1440, 860)
    window.show()
    window.start()
    failures: list[str] = []

    def fail(why: str) -> None:
        failures.append(why)
        app.quit()

    def when_idle(then: object, tries: int = 600) -> None:
        # Poll the runner instead of sleeping: the grab must show loaded rows, not placeholders.
        if window.runner.pending() == 0 and window.list_view.model.loaded:
            then()  # type: ignore[operator]
        elif tries <= 0:
            fail("timed out waiting for background work")
        else:
            QTimer.singleShot(50, lambda: when_idle(then, tries - 1))

    def pick() -> None:
        model = window.list_view.model
        for r in range(model.rowCount()):
            model.data(model.index(r, 0))
        when_idle(select)

    def select() -> None:
        model = window.list_view.model
        rows = [model.item_row(i) for i in model.ids()]
        chosen = next(
            (r for r in rows if r and r.kind == Kind.INVOICE and r.status == ItemStatus.DIFFERS and len(r.fields) >= 2),
            None,
        )
        chosen = chosen or next((r for r in rows if r and r.status == ItemStatus.DIFFERS), None)
        if chosen is None:
            fail("no differing item in the demo month")
            return
        window.list_view.select_item(chosen.item_id)
        when_idle(lambda: QTimer.singleShot(200, grab))

    def grab() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            failures.append(f"could not write {out}")
        app.quit()

    def show_dashboard() -> None:
        window.dashboard_view.sig_dashboard_loaded.connect(lambda _d: when_idle(lambda: QTimer.singleShot(300, grab)))
        window.view_actions[3].trigger()

    syncs: list[object] = []

    def synced(result: object) -> None:
        syncs.append(result)
        if not dashboard:
            when_idle(pick)
        elif len(syncs) == 1:
            when_idle(window.sync)
        else:
            when_idle(show_dashboard)

    # The refresh after a sync is queued behind the sync's result: start polling on the next turn of the loop.
    window.sig_sync_finished.connect(lambda r: QTimer.singleShot(0, lambda: synced(r)))
    QTimer.singleShot(0, window.sync)
    app.exec()
    window.close()
    sandboxes.stop()
    for f in failures:
        print(f"screenshot: {f}", file=sys.stderr)
    if not failures:
        print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--dashboard"]
    sys.exit(main(Path(args[0]) if args else Path("docs/screenshot.png"), "--dashboard" in sys.argv[1:]))

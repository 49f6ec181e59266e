"""Watching the connections in the GUI, over the demo sandboxes and a real event loop: the status-bar lights and the
dashboard's last check, a notification when a connection starts failing (once, not at every check), the check
interval and the daily sync decided against an injected clock, and "Disconnect…" in the connections dialog."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt
from ui_helpers import TIMEOUT_MS, settle

from app.domain.status import System
from app.services.api import DisconnectResult, ItemFilter
from app.ui.dialogs.connections_dialog import ConnectionsDialog
from app.ui.health import should_notify
from app.ui.tasks import TaskRunner


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _checked(qtbot: Any, w: Any) -> list[Any]:
    with qtbot.waitSignal(w.sig_health_shown, timeout=TIMEOUT_MS) as blocker:
        w.watch.check_now()
    settle(qtbot, w)
    return list(blocker.args[0])


def test_lights_turn_green_at_start_and_the_dashboard_shows_the_last_check(qtbot: Any, window: Any) -> None:
    w = window
    # the demo has no check yet: one runs at start (the default interval is 15 minutes)
    qtbot.waitUntil(lambda: w.health_lights.level(System.XERO) == "ok", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.health_lights.level(System.ACCESSPLANIT) == "ok", timeout=TIMEOUT_MS)
    assert "Xero: working (checked " in w.health_lights.labels[System.XERO].toolTip()
    settle(qtbot, w)
    w.tabs.setCurrentWidget(w.dashboard_view)
    qtbot.waitUntil(lambda: w.dashboard_view.dashboard is not None, timeout=TIMEOUT_MS)
    model = w.dashboard_view.health_model
    column = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())].index("Last check")
    texts = [model.data(model.index(r, column)) for r in range(model.rowCount())]
    assert texts and all(t.startswith("\u25cf Working, ") for t in texts)
    assert len(w._ws.health_history()) == 2  # each check is in the run log's history
    assert w.sync_view.health_model.rowCount() == 2  # and in the Sync runs tab, under "Connection checks"


def test_a_failing_connection_is_announced_once_and_shows_red(qtbot: Any, window: Any, demo: Any) -> None:
    w = window
    ws, _sandboxes = demo
    qtbot.waitUntil(lambda: w.health_lights.level(System.ACCESSPLANIT) == "ok", timeout=TIMEOUT_MS)
    settle(qtbot, w)
    source = next(c for c in ws.connections() if c.system is System.ACCESSPLANIT)
    ws.save_connection(source, "not-the-password")  # the password was changed at accessplanit
    announced: list[str] = []
    w.watch.sig_notified.connect(announced.append)

    _checked(qtbot, w)
    assert w.health_lights.level(System.ACCESSPLANIT) == "failed"
    assert w.health_lights.level(System.XERO) == "ok"
    assert "accessplanit: failing (checked " in w.health_lights.labels[System.ACCESSPLANIT].toolTip()
    assert len(announced) == 1 and announced[0].startswith("The accessplanit connection is failing: ")
    # offscreen there is no tray: the notice line carries it, and it stays
    assert w.notice.isVisible() and w.notice.text() == "Recondesk: " + announced[0]
    _checked(qtbot, w)  # still failing: not announced again
    assert len(announced) == 1


def test_on_the_interval_a_failure_is_announced_once_and_a_recovery_clears_the_light(
    qtbot: Any, window: Any, demo: Any
) -> None:
    """The timer's own path: ticks on the injected clock start each check. A connection that starts failing is
    announced once however many checks it stays failing; when it works again the light is green, and the
    announcement still in the notice line gives way to the news; a new failure is announced again."""
    w = window
    ws, sandboxes = demo
    qtbot.waitUntil(lambda: w.health_lights.level(System.ACCESSPLANIT) == "ok", timeout=TIMEOUT_MS)
    settle(qtbot, w)
    clock = FakeClock(datetime(2026, 12, 7, 9, 0))
    w.watch.clock, w.watch.last_check_at = clock, clock.now
    w.watch.configure(15, "")
    announced: list[str] = []
    recovered: list[str] = []
    w.watch.sig_notified.connect(announced.append)
    w.watch.sig_recovered.connect(recovered.append)
    source = next(c for c in ws.connections() if c.system is System.ACCESSPLANIT)

    def interval() -> None:
        clock.now += timedelta(minutes=15)
        with qtbot.waitSignal(w.sig_health_shown, timeout=TIMEOUT_MS):
            w.watch.tick()
        settle(qtbot, w)

    ws.save_connection(source, "not-the-password")  # the password was changed at accessplanit
    for _ in range(3):
        interval()
        assert w.health_lights.level(System.ACCESSPLANIT) == "failed"
    assert len(announced) == 1 and announced[0].startswith("The accessplanit connection is failing: ")
    assert w.notice.text() == "Recondesk: " + announced[0]

    ws.save_connection(source, sandboxes.info["accessplanit"]["password"])  # put right
    interval()
    assert w.health_lights.level(System.ACCESSPLANIT) == "ok"
    assert "accessplanit: working (checked " in w.health_lights.labels[System.ACCESSPLANIT].toolTip()
    assert recovered == ["The accessplanit connection works again."]
    assert w.notice.text() == "Recondesk: The accessplanit connection works again."
    interval()  # still fine: nothing more is said
    assert len(announced) == 1 and len(recovered) == 1

    ws.save_connection(source, "changed-again")
    interval()
    assert len(announced) == 2 and w.health_lights.level(System.ACCESSPLANIT) == "failed"


def test_should_notify_only_when_a_connection_starts_failing() -> None:
    assert should_notify(None, "failed") and should_notify("ok", "failed") and should_notify("slow", "failed")
    assert not should_notify("failed", "failed")
    assert not should_notify("failed", "ok") and not should_notify(None, "slow")


def test_checks_follow_the_interval_on_the_injected_clock(qtbot: Any, window: Any) -> None:
    w = window
    qtbot.waitUntil(lambda: w.health_lights.level(System.XERO) == "ok", timeout=TIMEOUT_MS)
    settle(qtbot, w)
    clock = FakeClock(datetime(2026, 12, 7, 9, 0))
    w.watch.clock = clock
    w.watch.last_check_at = clock.now
    w.watch.configure(15, "")
    assert not w.watch.checking and w.watch.timer.isActive()
    clock.now += timedelta(minutes=14, seconds=59)
    w.watch.tick()
    assert not w.watch.checking
    clock.now += timedelta(seconds=1)
    with qtbot.waitSignal(w.sig_health_shown, timeout=TIMEOUT_MS):
        w.watch.tick()
        assert w.watch.checking
    assert w.watch.last_check_at == clock.now and not w.watch.checking
    settle(qtbot, w)
    w.watch.configure(0, "")  # off: the timer stops, a tick does nothing
    clock.now += timedelta(hours=1)
    w.watch.tick()
    assert not w.watch.checking and not w.watch.timer.isActive()


def test_the_daily_sync_starts_once_a_day_at_its_time(qtbot: Any, window: Any) -> None:
    w = window
    settle(qtbot, w)
    clock = FakeClock(datetime(2026, 12, 7, 7, 0))
    w.watch.clock = clock
    w.watch.configure(0, "07:30")
    started: list[object] = []
    w.sig_sync_finished.connect(started.append)

    clock.now = datetime(2026, 12, 7, 7, 29)
    w.watch.tick()
    assert not w.syncing
    clock.now = datetime(2026, 12, 7, 7, 30)
    with qtbot.waitSignal(w.sig_sync_finished, timeout=TIMEOUT_MS):
        w.watch.tick()
        assert w.syncing
    settle(qtbot, w)
    clock.now = datetime(2026, 12, 7, 18, 0)
    w.watch.tick()
    assert not w.syncing  # once a day
    # the next day, a sync already running at the time counts as the day's sync
    assert w.sync() is not None
    clock.now = datetime(2026, 12, 8, 7, 31)
    w.watch.tick()
    assert w.watch.last_sync_day == clock.now.date()
    qtbot.waitUntil(lambda: not w.syncing, timeout=TIMEOUT_MS)
    settle(qtbot, w)
    assert len(started) == 2
    # opened after the time: no catch-up sync that day
    w.watch.configure(0, "")
    clock.now = datetime(2026, 12, 9, 9, 0)
    w.watch.configure(0, "08:00")
    w.watch.tick()
    assert not w.syncing and w.watch.last_sync_day == clock.now.date()


def test_disconnect_asks_first_then_removes_the_secret_and_keeps_the_cache(qtbot: Any, demo: Any) -> None:
    ws, _ = demo
    assert ws.sync().ok
    items = ws.count_items(ItemFilter())
    runner = TaskRunner()
    dialog = ConnectionsDialog(ws, runner)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=TIMEOUT_MS)
    dialog.show()
    asked: list[System] = []
    dialog.confirm_disconnect = lambda system: asked.append(system) or False
    qtbot.mouseClick(dialog.disconnect_buttons[System.XERO], Qt.MouseButton.LeftButton)
    assert asked == [System.XERO] and runner.pending() == 0  # cancelled: nothing done
    assert next(c for c in ws.connections() if c.system is System.XERO).has_secret

    dialog.confirm_disconnect = lambda system: True
    with qtbot.waitSignal(dialog.sig_disconnected, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.disconnect_buttons[System.XERO], Qt.MouseButton.LeftButton)
    system, result = blocker.args
    assert system == "xero" and isinstance(result, DisconnectResult) and result.ok
    assert result.message == "Disconnected from Xero; the cached records are kept."
    assert dialog.status_text(System.XERO) == "✓ " + result.message
    assert not next(c for c in ws.connections() if c.system is System.XERO).has_secret
    assert ws.count_items(ItemFilter()) == items
    runner.shutdown()


def _held_elsewhere(ws: Any) -> Any:
    from app.services.sync import SyncLock

    other = SyncLock(ws.db, 600, who="Ann")  # as the command line on another computer would hold it
    other.owner = "elsewhere:4242:cli:Ann"
    other.host, other.pid = "elsewhere", 4242
    other.acquire()
    return other


WAITING = "Another sync is running (by Ann on host elsewhere, started "


def test_a_sync_while_another_process_syncs_is_queued_and_starts_when_that_one_ends(
    qtbot: Any, window: Any, demo: Any
) -> None:
    w = window
    ws, _ = demo
    settle(qtbot, w)
    runs_before = len(ws.sync_runs())
    other = _held_elsewhere(ws)
    try:
        with qtbot.waitSignal(w.sig_notice_shown, timeout=TIMEOUT_MS) as said:
            assert w.sync() is not None
        assert said.args[0].startswith(WAITING) and said.args[0].endswith("); Recondesk will start yours when it ends.")
        assert w.notice.isVisible() and w.progress_label.text() == "Waiting for the other sync to end…"
        assert w.syncing and w.cancel_button.isEnabled() and w.sync() is None  # one queued sync, cancellable
        assert len(ws.sync_runs()) == runs_before  # nothing started yet
        with qtbot.waitSignal(w.sig_sync_finished, timeout=TIMEOUT_MS) as blocker:
            other.release()  # the other sync ends: ours starts by itself
    finally:
        other.release()
    assert blocker.args[0] is not None and blocker.args[0].ok
    assert len(ws.sync_runs()) == runs_before + 1
    assert not w.notice.text().startswith(WAITING)


def test_a_queued_sync_can_be_cancelled_while_it_waits(qtbot: Any, window: Any, demo: Any) -> None:
    w = window
    ws, _ = demo
    settle(qtbot, w)
    runs_before = len(ws.sync_runs())
    other = _held_elsewhere(ws)
    try:
        with qtbot.waitSignal(w.sig_notice_shown, timeout=TIMEOUT_MS):
            w.sync()
        with qtbot.waitSignal(w.sig_sync_finished, timeout=TIMEOUT_MS) as blocker:
            w.cancel_sync()
        assert blocker.args[0] is None and not w.syncing
        assert w.notice.text() == "Sync cancelled; everything fetched so far is kept."
    finally:
        other.release()
    assert len(ws.sync_runs()) == runs_before  # the cancelled wait did nothing, not even a run log row


def test_a_daily_sync_time_that_is_not_a_time_is_said_and_left_off(qtbot: Any, window: Any) -> None:
    w = window
    settle(qtbot, w)
    w.watch.configure(15, "7.30")
    assert w.watch.daily_at is None
    assert w.notice.text().startswith("The daily sync time “7.30” is not a time of day (HH:MM, e.g. 07:30)")

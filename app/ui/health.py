"""Watching the connections while the app is open: a health check of each connection every
`Settings.health_check_minutes` (0: off), a status light per connection, a desktop notification when one starts
failing, and the daily scheduled sync (`Settings.daily_sync_time`, "" = off).

A QTimer on the GUI thread only TICKS: each tick decides (against an injectable clock) and starts work on the task
runner's network lane; the checks run there (`Recondesk.check_health`, which records each in the run log) and their
results come back as queued signals. The scheduled sync is started through the main window's own `sync()`, so it
never runs twice at once (and the cache's sync lock refuses one started elsewhere).
Must not: call the services on the GUI thread, sleep, or notify again while a connection stays failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSystemTrayIcon, QWidget

from app.domain import watch as rules
from app.domain.status import System
from app.services.api import HealthCheck, Recondesk
from app.ui import style
from app.ui.tasks import TaskContext, TaskRunner

Clock = Callable[[], datetime]
"""Local wall-clock time, naive (the scheduled time is the person's own)."""

COLOURS = {"ok": "#2e7d32", "slow": "#c77c02", "failed": "#c62828"}
WORDS = {"ok": "working", "slow": "slow or rate-limited", "failed": "failing"}
UNKNOWN = "#9e9e9e"


def light_tooltip(check: HealthCheck) -> str:
    return f"{check.system.label}: {WORDS.get(check.level, check.level)} (checked {style.local_time(check.at)}). " + (
        check.message
    )


def local_naive(at_utc: datetime) -> datetime:
    """A naive UTC instant (as the services keep them) in local wall-clock time, naive (as `Clock` gives)."""
    return at_utc.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def should_notify(previous: str | None, level: str) -> bool:
    """Notify when a connection starts failing, not again at every check while it stays failed."""
    return level == rules.FAILED and previous != rules.FAILED


class HealthLights(QWidget):
    """One coloured dot and name per connection, for the status bar and the dashboard; tooltip: message and time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthLights")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.labels: dict[System, QLabel] = {}
        for system in System:
            label = QLabel(self)
            label.setObjectName(f"healthLight_{system.value}")
            layout.addWidget(label)
            self.labels[system] = label
            self._paint(label, system, None)

    @staticmethod
    def _paint(label: QLabel, system: System, check: HealthCheck | None) -> None:
        colour = COLOURS.get(check.level, UNKNOWN) if check else UNKNOWN
        label.setText(f'<span style="color:{colour}">\u25cf</span> {system.label}')
        label.setToolTip(light_tooltip(check) if check else f"{system.label}: not checked yet")
        label.setProperty("level", check.level if check else "")

    def set_checks(self, checks: Sequence[HealthCheck]) -> None:
        for check in checks:
            self._paint(self.labels[check.system], check.system, check)

    def level(self, system: System) -> str:
        return str(self.labels[system].property("level") or "")


class Notifier:
    """A desktop notification through the tray when the desktop has one; otherwise `fallback(text)` (the main
    window's notice line, which stays until replaced: `replace(old, new)` swaps an announcement still shown there
    for the news that it is over)."""

    def __init__(
        self,
        fallback: Callable[[str], None],
        parent: QObject | None = None,
        *,
        replace: Callable[[str, str], None] | None = None,
    ) -> None:
        self.fallback = fallback
        self.replace = replace
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(style.icon("recondesk"), parent)
            self.tray.show()

    def notify(self, title: str, text: str) -> str:
        """Show it; returns where it went ("tray" or "window")."""
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning)
            return "tray"
        self.fallback(f"{title}: {text}")
        return "window"

    def over(self, title: str, text: str, news: str) -> None:
        """The announcement `text` no longer holds: where it still shows in the window, show `news` instead (a tray
        message has gone by itself)."""
        if self.replace is not None:
            self.replace(f"{title}: {text}", f"{title}: {news}")


class HealthWatch(QObject):
    """The timers' logic. `tick()` is what the QTimer calls (every `tick_ms`); tests call it with their own clock."""

    sig_health_checked = Signal(object)
    """A round of checks ended: (list of HealthCheck)."""
    sig_notified = Signal(str)
    """A failing connection was announced: (text)."""
    sig_recovered = Signal(str)
    """A connection announced as failing works again: (text)."""

    def __init__(
        self,
        workspace: Recondesk,
        runner: TaskRunner,
        *,
        is_syncing: Callable[[], bool],
        start_sync: Callable[[], object],
        notifier: Notifier,
        clock: Clock = datetime.now,
        tick_ms: int = 30_000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._is_syncing = is_syncing
        self._start_sync = start_sync
        self.notifier = notifier
        self.clock = clock
        self.minutes = 0
        self.daily_at: day_time | None = None
        self.last_sync_day: date | None = None
        self.last_check_at: datetime | None = None
        self.checking = False
        self.levels: dict[System, str] = {}
        self.announced: dict[System, str] = {}  # what was said about each connection now failing
        self.timer = QTimer(self)
        self.timer.setObjectName("healthTimer")
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.tick)

    def configure(self, minutes: int, daily_sync_time: str) -> None:
        """Apply the settings (at start, and when they change). Opening after today's sync time means no catch-up
        sync today. Set `last_check_at` first to the last recorded check, so a restart does not check again early."""
        self.minutes = max(0, minutes)
        at = rules.parse_daily_time(daily_sync_time)
        if at is None and daily_sync_time.strip():
            self.notifier.fallback(
                f"The daily sync time “{daily_sync_time.strip()}” is not a time of day (HH:MM, e.g. 07:30); "
                "the daily sync is off until it is corrected in the settings."
            )
        if at != self.daily_at:
            now = self.clock()
            self.last_sync_day = now.date() if at is not None and now.time() >= at else None
        self.daily_at = at
        if self.minutes or self.daily_at is not None:
            self.timer.start()
            self.tick()  # a check now when the last one (of any earlier session) is older than the interval
        else:
            self.timer.stop()

    def tick(self) -> None:
        now = self.clock()
        if self.minutes and not self.checking:
            if self.last_check_at is None or now - self.last_check_at >= timedelta(minutes=self.minutes):
                self.check_now()
        if rules.sync_due(self.daily_at, now, self.last_sync_day):
            self.last_sync_day = now.date()
            if not self._is_syncing():  # a sync already running is the day's sync
                self._start_sync()

    def check_now(self) -> None:
        """Start a round of checks on the network lane (the GUI thread only starts it)."""
        self.checking = True
        self.last_check_at = self.clock()

        def work(_ctx: TaskContext) -> list[HealthCheck]:
            return list(self._ws.check_health())

        self._runner.network("health check", work, on_result=self._checked, on_error=self._failed)

    def _checked(self, checks: list[HealthCheck]) -> None:
        self.checking = False
        for check in checks:
            if should_notify(self.levels.get(check.system), check.level):
                text = f"The {check.system.label} connection is failing: {check.message}"
                self.notifier.notify("Recondesk", text)
                self.announced[check.system] = text
                self.sig_notified.emit(text)
            elif check.level != rules.FAILED and check.system in self.announced:
                news = f"The {check.system.label} connection works again."
                self.notifier.over("Recondesk", self.announced.pop(check.system), news)
                self.sig_recovered.emit(news)
            self.levels[check.system] = check.level
        self.sig_health_checked.emit(checks)

    def _failed(self, message: str, _exc: BaseException) -> None:
        self.checking = False  # the checks themselves never raise; a cache failure is said at the next action
        self.sig_health_checked.emit([])

"""The Dashboard tab, the money view of a month: per system and currency the invoices' count, total, paid and due;
the difference between the systems per currency; items and their value by status; a bar chart of open items by
status and a line chart of open items and open value across the last syncs (QtCharts); connection health and the
last run's rate-limit budget; the last sync.

Every money cell holds one amount of the currency named in its row, with that currency's decimals: nothing adds
currencies. Charts carry their figures in words too (a caption and an accessible description), never colour alone;
tables and charts take keyboard focus in reading order.
Must not: call the services on the GUI thread, compute totals itself (the services' database does), or add amounts
of different currencies.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QAbstractItemModel, QMargins, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.status import ItemStatus
from app.services.api import (
    ConnectionHealth,
    CurrencyDifference,
    Dashboard,
    DashboardTotals,
    Recondesk,
    StatusValue,
)
from app.ui import style
from app.ui.health import COLOURS, WORDS, light_tooltip
from app.ui.models.record_table_model import RIGHT, Column, RecordTableModel
from app.ui.tasks import TaskContext, TaskRunner

OPEN_STATUSES = (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER, ItemStatus.INVALID)
"""The statuses the bar chart shows, in this order (the services say which are open; these are all of them)."""


def _signed(text: str) -> str:
    """A difference with its sign spelled for people: "+30.00", "-30.00", "0.00"."""
    return text if text.startswith("-") or Decimal(text.replace(",", "")) == 0 else f"+{text}"


def budget_text(budget: dict[str, str]) -> str:
    """ "day remaining 4,873; minute remaining 58" from {"day_remaining": "4873", ...}; "" when none."""
    parts = []
    for key, value in sorted(budget.items()):
        shown = f"{int(value):,}" if value.isdigit() else value
        parts.append(f"{key.replace('_', ' ').replace('.', ' ')} {shown}")
    return "; ".join(parts)


class DashboardView(QWidget):
    """The money view of `period`; `reload()` reads it on the DB lane (older answers are dropped)."""

    sig_dashboard_loaded = Signal(object)
    """A fresh dashboard is shown: (Dashboard)."""
    sig_load_failed = Signal(str)
    """Reading the dashboard failed: (message for people)."""

    def __init__(self, workspace: Recondesk, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardView")
        self._ws = workspace
        self._runner = runner
        self._generation = 0
        self.period: str | None = None
        self.dashboard: Dashboard | None = None
        self.stale = True  # data changed since the last read (reloaded when the tab is shown)

        self.title = QLabel("Money view", self)
        self.title.setObjectName("dashboardTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.last_sync = QLabel("", self)
        self.last_sync.setObjectName("dashboardLastSync")
        self.reload_button = QPushButton("Re&load", self)
        self.reload_button.setObjectName("dashboardReload")
        self.reload_button.clicked.connect(self.reload)

        self.totals_model: RecordTableModel[DashboardTotals] = RecordTableModel(self._totals_columns(), self)
        self.diff_model: RecordTableModel[CurrencyDifference] = RecordTableModel(self._diff_columns(), self)
        self.status_model: RecordTableModel[StatusValue] = RecordTableModel(self._status_columns(), self)
        self.health_model: RecordTableModel[ConnectionHealth] = RecordTableModel(self._health_columns(), self)
        self.totals_table = self._table("dashboardTotals", self.totals_model, "Totals by system and currency")
        self.diff_table = self._table("dashboardDifferences", self.diff_model, "Differences between the systems")
        self.status_table = self._table("dashboardByStatus", self.status_model, "Items and value by status")
        self.health_table = self._table("dashboardHealth", self.health_model, "Connections")

        self.bar_view, self.bar_caption = self._chart_view("dashboardOpenChart", "Open items by status")
        self.line_view, self.line_caption = self._chart_view("dashboardTrendChart", "Open items and value by sync")

        self.totals_box = self._box("Invoices by system and currency", self.totals_table)
        self.diff_box = self._box("Difference per currency", self.diff_table)
        grid = QGridLayout()
        grid.addWidget(self.totals_box, 0, 0)
        grid.addWidget(self.diff_box, 0, 1)
        grid.addWidget(self._box("Open items by status", self.bar_view, self.bar_caption), 1, 0)
        trend = self._box(
            "Open items and open value after each of the last syncs (all months)", self.line_view, self.line_caption
        )
        grid.addWidget(trend, 1, 1)
        grid.addWidget(self._box("Items and value by status", self.status_table), 2, 0)
        grid.addWidget(self._box("Connections and the last sync's rate-limit budget", self.health_table), 2, 1)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(0, 2)
        grid.setRowStretch(2, 2)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.last_sync)
        top.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 1)
        order = [
            self.totals_table,
            self.diff_table,
            self.bar_view,
            self.line_view,
            self.status_table,
            self.health_table,
            self.reload_button,
        ]
        for a, b in pairwise(order):
            QWidget.setTabOrder(a, b)
        self.setFocusProxy(self.totals_table)

    # -- construction -----------------------------------------------------------------------------------------
    def _table(self, name: str, model: QAbstractItemModel, what: str) -> QTableView:
        table = QTableView(self)
        table.setObjectName(name)
        table.setModel(model)
        table.setAccessibleName(what)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _chart_view(self, name: str, what: str) -> tuple[QChartView, QLabel]:
        chart = QChart()
        chart.setTitle(what)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        view = QChartView(chart, self)
        view.setObjectName(name)
        view.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        view.setAccessibleName(what)
        view.setMinimumHeight(200)
        caption = QLabel("", self)
        caption.setObjectName(name + "Caption")
        caption.setWordWrap(True)
        caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return view, caption

    def _box(self, title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title, self)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(6, 6, 6, 6)
        for w in widgets:
            inner.addWidget(w, 1 if not isinstance(w, QLabel) else 0)
        return box

    def _money(self, amount: Decimal, currency: str) -> str:
        """One amount of one currency; "" for items without a currency (unreadable records carry no amount)."""
        if not currency:
            return ""
        return self.dashboard.money(amount, currency) if self.dashboard is not None else str(amount)

    def _totals_columns(self) -> tuple[Column[DashboardTotals], ...]:
        return (
            Column("System", lambda t: t.system.label),
            Column("Currency", lambda t: t.currency),
            Column("Invoices", lambda t: f"{t.invoices:,}", RIGHT),
            Column("Total", lambda t: self._money(t.total, t.currency), RIGHT),
            Column("Paid", lambda t: self._money(t.paid, t.currency), RIGHT),
            Column("Due", lambda t: self._money(t.due, t.currency), RIGHT),
        )

    def _diff_columns(self) -> tuple[Column[CurrencyDifference], ...]:
        return (
            Column("Currency", lambda d: d.currency),
            Column("Invoices", lambda d: _signed(f"{d.invoices:,}"), RIGHT),
            Column("Total", lambda d: _signed(self._money(d.total, d.currency)), RIGHT, _red_unless_zero("total")),
            Column("Paid", lambda d: _signed(self._money(d.paid, d.currency)), RIGHT, _red_unless_zero("paid")),
            Column("Due", lambda d: _signed(self._money(d.due, d.currency)), RIGHT, _red_unless_zero("due")),
        )

    def _status_columns(self) -> tuple[Column[StatusValue], ...]:
        return (
            Column("Status", lambda v: style.status_text(v.status)),
            Column("Currency", lambda v: v.currency),
            Column("Items", lambda v: f"{v.items:,}", RIGHT),
            Column("Value", lambda v: self._money(v.value, v.currency), RIGHT),
            Column("Still open", lambda v: "Open" if v.open else "Done"),
        )

    def _health_columns(self) -> tuple[Column[ConnectionHealth], ...]:
        return (
            Column("System", lambda h: h.system.label),
            Column("Connection", lambda h: "Set up" if h.configured else "Not set up"),
            Column("Last sync error", lambda h: h.last_error or "None", tooltip=lambda h: h.last_error or "None"),
            Column("Rate-limit budget left", lambda h: budget_text(h.budget) or "Not reported"),
            Column(
                "Last check",
                _last_check_text,
                foreground=lambda h: COLOURS.get(h.last_check.level) if h.last_check else None,
                tooltip=lambda h: light_tooltip(h.last_check) if h.last_check else "Not checked yet",
            ),
        )

    # -- loading ----------------------------------------------------------------------------------------------
    def set_period(self, period: str | None) -> None:
        """Show `period` (None: all months); reads again when it changed or the data is stale."""
        if period != self.period or self.stale or self.dashboard is None:
            self.period = period
            self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation, period = self._generation, self.period
        self.stale = False

        def fetch(_ctx: TaskContext) -> Dashboard:
            return self._ws.dashboard(period)

        def done(dash: Dashboard) -> None:
            if generation == self._generation:
                self.set_dashboard(dash)

        def failed(message: str, _exc: BaseException) -> None:
            if generation == self._generation:
                self.last_sync.setText(f"Could not read the figures: {message}")
                self.sig_load_failed.emit(message)

        self._runner.db("load dashboard", fetch, on_result=done, on_error=failed)

    def set_dashboard(self, dash: Dashboard) -> None:
        self.dashboard = dash
        month = dash.period or "all months"
        self.title.setText(f"Money view: {month}")
        if dash.last_sync is None:
            self.last_sync.setText("Not synced yet")
        else:
            ok = "" if dash.last_sync_ok in (None, True) else " (with errors)"
            self.last_sync.setText(f"Last sync {style.local_time(dash.last_sync)}{ok}")
        self.diff_box.setTitle(f"Difference per currency ({dash.roles.ledger.label} minus {dash.roles.source.label})")
        self.totals_model.set_rows(dash.totals)
        self.diff_model.set_rows(dash.differences)
        self.status_model.set_rows(dash.by_status)
        self.health_model.set_rows(dash.health)
        for table in (self.totals_table, self.diff_table, self.status_table, self.health_table):
            table.resizeColumnsToContents()
            table.horizontalHeader().setStretchLastSection(True)
        self._draw_open_bars(dash)
        self._draw_trend(dash)
        self.sig_dashboard_loaded.emit(dash)

    # -- charts -----------------------------------------------------------------------------------------------
    def open_counts(self, dash: Dashboard) -> dict[ItemStatus, int]:
        """Open items per status of the period (counts of items may be added across currencies; money may not)."""
        out = dict.fromkeys(OPEN_STATUSES, 0)
        for v in dash.by_status:
            if v.open and v.status in out:
                out[v.status] += v.items
        return out

    def _draw_open_bars(self, dash: Dashboard) -> None:
        chart = self.bar_view.chart()
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        counts = self.open_counts(dash)
        bars = QBarSet("Open items")
        bars.setColor(QColor(style.STATUS_LOOK[ItemStatus.DIFFERS].foreground))
        bars.setLabelColor(QColor("#000000"))
        for n in counts.values():
            bars.append(n)
        series = QBarSeries()
        series.append(bars)
        series.setLabelsVisible(True)
        series.setLabelsPosition(QBarSeries.LabelsPosition.LabelsOutsideEnd)
        chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append([style.status_text(s) for s in counts])
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(x)
        y = QValueAxis()
        y.setRange(0, max(1, max(counts.values(), default=0)) * 1.15)
        y.applyNiceNumbers()
        y.setLabelFormat("%d")
        y.setTitleText("Items")
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(y)
        chart.legend().setVisible(False)
        words = ", ".join(f"{style.STATUS_LOOK[s].label} {n:,}" for s, n in counts.items())
        text = f"Open items in {dash.period or 'all months'}: {words}."
        self.bar_caption.setText(text)
        self.bar_view.setAccessibleDescription(text)

    def _draw_trend(self, dash: Dashboard) -> None:
        chart = self.line_view.chart()
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        runs = dash.runs
        if not runs:
            text = "No finished sync yet: the trend starts with the first one."
            self.line_caption.setText(text)
            self.line_view.setAccessibleDescription(text)
            return
        labels = [f"#{r.run_id} {style.local_time(r.finished_at, '%d %b %H:%M')}" for r in runs]
        x = QBarCategoryAxis()
        x.append(labels)
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        items = QLineSeries()
        items.setName("Open items (left axis)")
        for i, r in enumerate(runs):
            items.append(i, sum(r.open_items.values()))
        chart.addSeries(items)
        items.attachAxis(x)
        left = QValueAxis()
        left.setLabelFormat("%d")
        left.setTitleText("Open items")
        left.setRange(0, max(1, max(sum(r.open_items.values()) for r in runs)) * 1.15)
        left.applyNiceNumbers()
        chart.addAxis(left, Qt.AlignmentFlag.AlignLeft)
        items.attachAxis(left)
        currencies = sorted({c for r in runs for c in (r.open_value or {}) if c})  # "": no amount to plot
        if currencies:
            right = QValueAxis()
            right.setTitleText("Open value")
            right.setLabelFormat("%.0f")
            top = max((float(v) for r in runs for v in (r.open_value or {}).values()), default=0.0)
            right.setRange(0, max(1.0, top) * 1.15)
            right.applyNiceNumbers()
            chart.addAxis(right, Qt.AlignmentFlag.AlignRight)
            for currency in currencies:
                line = QLineSeries()
                line.setName(f"Open value {currency} (right axis)")
                for i, r in enumerate(runs):
                    if r.open_value is not None:
                        line.append(i, float(r.open_value.get(currency, Decimal(0))))  # plotted only, never summed
                chart.addSeries(line)
                line.attachAxis(x)
                line.attachAxis(right)
        chart.legend().setVisible(True)
        last = runs[-1]
        if last.open_value is None:
            value_words = "not noted"
        else:
            value_words = "; ".join(f"{c} {dash.money(v, c)}" for c, v in sorted(last.open_value.items()) if c)
            value_words = value_words or "nothing"
        text = (
            f"{len(runs)} sync{'s' if len(runs) != 1 else ''}; after the last, in all months: "
            f"{sum(last.open_items.values()):,} open items, open value {value_words}."
        )
        self.line_caption.setText(text)
        self.line_view.setAccessibleDescription(text)


def _red_unless_zero(name: str) -> Callable[[CurrencyDifference], str | None]:
    """Non-zero differences in red; their sign and figure say the same in text."""

    def colour(d: CurrencyDifference) -> str | None:
        return None if getattr(d, name) == 0 else "#8a1c1c"

    return colour


def _last_check_text(h: ConnectionHealth) -> str:
    """The connection's light as words and when: "● Working, 10:02" (the dot in the light's colour)."""
    if h.last_check is None:
        return "Not checked yet"
    word = WORDS.get(h.last_check.level, h.last_check.level)
    return f"\u25cf {word[0].upper()}{word[1:]}, {style.local_time(h.last_check.at)}"

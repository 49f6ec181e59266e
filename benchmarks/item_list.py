"""Item list figures: how soon the window shows the list, how long a filter or sort change (the difference column's
sort included) and an item click take, how long the Dashboard tab takes to show its figures, and the memory of the
window, on a cache of 100,000 and of 1,000,000 items (`--sizes`).

Each size is built (items rows written straight through the storage layer; no sync, no records behind them, so a
click measures the item's own queries, its pushes and audit) and measured in its own child process, with a real
Qt event loop on the offscreen platform. The baseline in the same run is what the old list asked the database at
each filter change: every matching id (`Workspace.item_ids`), before sorting or counting anything in Python.
Must not: patch app code, or measure against a warm cache it did not build.

    .venv/bin/python benchmarks/item_list.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from _bench import emit, finish, machine, note, proc_memory

ROOT = Path(__file__).resolve().parent.parent
STATUSES = (  # a month-end's mix: most agree
    ["matched"] * 70
    + ["differs"] * 14
    + ["only_in_source"] * 6
    + ["only_in_ledger"] * 6
    + ["invalid"] * 2
    + ["resolved"] * 2
)


def build(path: Path, n: int) -> None:
    from app.domain.status import ItemStatus, Kind
    from app.storage import items as items_repo
    from app.storage.db import Database
    from app.storage.models import ItemData

    db = Database(f"sqlite:///{path}")
    db.migrate()
    rnd = random.Random(12)
    contacts = [f"Contact {i:04d} Ltd" for i in range(2000)]
    chunk: list[ItemData] = []
    keys: set[str] = set()

    def flush() -> None:
        with db.transaction() as tx:
            items_repo.upsert_items_for_keys(tx, keys, chunk)
        chunk.clear()
        keys.clear()

    for i in range(n):
        kind = Kind.PAYMENT if i % 5 == 4 else Kind.INVOICE
        number = f"INV-{i - 1 if kind is Kind.PAYMENT else i:07d}"  # a payment is on the invoice before it
        status = ItemStatus(rnd.choice(STATUSES))
        d = date(2026, 1 + i % 12, 1 + i % 28)
        # Half the differing items differ in an amount: they carry a difference (ledger minus source).
        amount_differs = status is ItemStatus.DIFFERS and rnd.random() < 0.5
        chunk.append(
            ItemData(
                kind=kind,
                key=number if kind is Kind.INVOICE else f"{number}/p{i}",
                status=status,
                fields=("total",) if amount_differs else ("po_number",) if status is ItemStatus.DIFFERS else (),
                invoice_key=number,
                invoice=number,
                period=None if status is ItemStatus.INVALID else d.strftime("%Y-%m"),
                contact=rnd.choice(contacts),
                date=None if status is ItemStatus.INVALID else d,
                currency="GBP",
                amount_minor=rnd.randrange(100, 500_000),
                reference=f"PO-{i}",
                source_id=str(i),
                ledger_id=f"x-{i}" if status is not ItemStatus.ONLY_IN_SOURCE else None,
                fingerprint=str(i),
                difference_minor=rnd.randrange(-50_000, 50_000) if amount_differs else None,
            )
        )
        keys.add(number)
        if len(chunk) >= 20_000:
            flush()
    if chunk:
        flush()


def _wait(app: Any, done: Any, timeout: float = 300.0) -> None:
    """Run a real event loop until `done()`; polled by a 1 ms timer."""
    from PySide6.QtCore import QEventLoop, QTimer

    if done():
        return
    loop = QEventLoop()
    end = time.perf_counter() + timeout
    failed: list[bool] = []

    def poll() -> None:
        if done():
            loop.quit()
        elif time.perf_counter() > end:
            failed.append(True)
            loop.quit()

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(poll)
    timer.start()
    loop.exec()
    timer.stop()
    if failed:
        raise TimeoutError("the window did not settle")


def measure(path: Path) -> dict[str, Any]:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    from app.composition import ConnectorFactory
    from app.credentials import MemoryCredentialStore
    from app.domain.status import ItemStatus, Kind
    from app.services.api import ItemFilter
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage.db import Database
    from app.ui.main_window import MainWindow
    from app.ui.models.item_table_model import COLUMN_INDEX

    app = QApplication.instance() or QApplication([])
    settings = Settings()
    tmp = Path(tempfile.mkdtemp())
    ws = Workspace(
        Database(f"sqlite:///{path}"), MemoryCredentialStore(), settings, ConnectorFactory(settings, tmp), "bench"
    )
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    w = MainWindow(ws, settings=QSettings(str(tmp / "ui.ini"), QSettings.Format.IniFormat))
    w.show()
    w.start()
    model, view = w.list_view.model, w.list_view
    _wait(app, lambda: model.loaded and w.runner.pending() == 0)
    out["window_ready_s"] = round(time.perf_counter() - t0, 3)
    out["rows_in_memory"] = model.rowCount()
    out["items_in_filter"] = model.total

    def timed(change: Any) -> float:
        loaded: list[int] = []
        model.sig_list_loaded.connect(loaded.append)
        t = time.perf_counter()
        change()
        _wait(app, lambda: bool(loaded) and w.runner.pending() == 0)
        model.sig_list_loaded.disconnect(loaded.append)
        return round(time.perf_counter() - t, 4)

    bar = view.filter_bar
    changes: dict[str, float] = {}
    changes["status_differs"] = timed(lambda: bar.set_status(ItemStatus.DIFFERS))
    changes["status_all"] = timed(lambda: bar.set_status(None))
    changes["kind_payments"] = timed(lambda: bar.kind_combo.setCurrentIndex(bar.kind_combo.findData(Kind.PAYMENT)))
    changes["kind_all"] = timed(lambda: bar.kind_combo.setCurrentIndex(0))
    changes["all_months"] = timed(lambda: bar.period_combo.setCurrentIndex(0))
    changes["search"] = timed(lambda: (bar.search_edit.setText("contact 0042"), bar._flush_search()))
    changes["search_cleared"] = timed(lambda: (bar.search_edit.setText(""), bar._flush_search()))
    changes["sort_difference_asc"] = timed(
        lambda: view.table.sortByColumn(COLUMN_INDEX["difference"], Qt.SortOrder.AscendingOrder)
    )
    for col in ("contact", "date", "difference", "fields", "amount", "status"):
        changes[f"sort_{col}_desc"] = timed(
            lambda col=col: view.table.sortByColumn(COLUMN_INDEX[col], Qt.SortOrder.DescendingOrder)
        )
    changes["sort_differs_by_amount"] = timed(lambda: bar.set_status(ItemStatus.DIFFERS))
    out["filter_or_sort_change_s"] = changes
    out["filter_or_sort_change_max_s"] = max(changes.values())

    clicks: list[float] = []
    for row in range(0, min(model.rowCount(), 60), 3):
        item_id = model.item_id_at(row)
        got: list[object] = []
        w.detail_view.sig_detail_loaded.connect(got.append)
        t = time.perf_counter()
        view.select_item(item_id)
        _wait(app, lambda got=got: bool(got))
        clicks.append(time.perf_counter() - t)
        w.detail_view.sig_detail_loaded.disconnect(got.append)
    clicks.sort()
    out["item_click_median_s"] = round(clicks[len(clicks) // 2], 4)
    out["item_click_p95_s"] = round(clicks[int(len(clicks) * 0.95) - 1], 4)
    out["memory"] = proc_memory(os.getpid())

    # The Dashboard tab: from the tab shown to its figures on screen (the aggregates run on the DB lane).
    shown: list[object] = []
    w.dashboard_view.sig_dashboard_loaded.connect(shown.append)
    t = time.perf_counter()
    w.view_actions[3].trigger()
    _wait(app, lambda: bool(shown))
    out["dashboard_shown_s"] = round(time.perf_counter() - t, 4)
    t = time.perf_counter()
    ws.dashboard(None)
    out["dashboard_all_months_query_s"] = round(time.perf_counter() - t, 4)

    # Baseline, same cache and process: every matching id, as the old list asked at each filter change.
    base: dict[str, float] = {}
    for name, flt in (
        ("all", ItemFilter()),
        ("newest_month", ItemFilter(period=max(ws.periods()))),
        ("differs", ItemFilter(statuses=(ItemStatus.DIFFERS,))),
    ):
        t = time.perf_counter()
        n = len(ws.item_ids(flt))
        base[f"{name}_ids_s"] = round(time.perf_counter() - t, 4)
        base[f"{name}_ids"] = n
    out["baseline_all_ids_query"] = base
    w.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="item counts of the caches (default: %(default)s)")
    parser.add_argument("--build", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        build(Path(args.build[0]), int(args.build[1]))
        return
    if args.measure:
        sys.stdout.write(json.dumps(measure(Path(args.measure))) + "\n")
        return
    result: dict[str, Any] = {"benchmark": "item_list", "machine": machine(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"items-{n}.sqlite3"
            note(f"building a cache of {n:,} items")
            t = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--build", str(path), str(n)], check=True)
            built = round(time.perf_counter() - t, 1)
            note(f"measuring the window on {n:,} items")
            done = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            figures["build_s"] = built
            figures["cache_mib"] = round(path.stat().st_size / 1024 / 1024, 1)
            result["sizes"][str(n)] = figures
    finish(result)
    emit(result)


if __name__ == "__main__":
    main()

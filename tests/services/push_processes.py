"""Pushes driven from CHILD PROCESSES over one SQLite cache: the plans of the bulk kill test (built the same way in
every process from the cache), a `PushService` over the real connectors, and the child's entry point.

Run as a script (`python push_processes.py ARGS-JSON`) it is the child:
- `{"mode": "push", "phase": "invoices"|"payments", "kill": ["xero"|"accessplanit", n] | null, ...}` pushes the
  phase's plans with `push_many` and, when `kill` is set, SIGKILLs itself right after the n-th write request to
  that system has returned or failed (the request landed, its answer is not recorded: kill -9 mid-push);
- `{"mode": "retry", "go": PATH, ...}` lists the retryable pushes, prints `ready`, waits for the file `go` to
  exist (so two children start together), retries them with `retry_many` and prints one JSON summary line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if __name__ == "__main__":  # the child: the project and this folder on the path, as pytest sets them
    sys.path[:0] = [str(ROOT), str(HERE)]

from app.domain.records import Invoice, Line, Payment  # noqa: E402
from app.domain.status import Direction, InvoiceState, PushState, System  # noqa: E402
from app.services import plans  # noqa: E402
from app.services.push import PushService  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage import outbox  # noqa: E402
from app.storage import records as records_repo  # noqa: E402
from app.storage.db import Database  # noqa: E402

PREFIX = "KILL-"


def settings(lease: float) -> Settings:
    return Settings(write_settle_seconds=0.05, push_lease_seconds=lease)


def sizes(total: int) -> tuple[int, int, int]:
    """`total` records as Xero invoices, Xero payments on them and accessplanit payments, 60/30/10 (1,000 gives
    600 + 300 + 100)."""
    invoices, xero_payments = total * 6 // 10, total * 3 // 10
    return invoices, xero_payments, total - invoices - xero_payments


def invoice(i: int) -> Invoice:
    lines = (Line("Course seat", Decimal("100.00"), Decimal("20.00"), Decimal(1), Decimal("100.00")),)
    return Invoice(
        system=System.ACCESSPLANIT,
        id=f"ap-kill-{i}",
        number=f"{PREFIX}{i:04d}",
        contact="Kill Nine Training Ltd",
        issue_date=date(2026, 10, 1) + timedelta(days=i % 28),
        due_date=date(2026, 11, 1),
        po_number="",
        currency="GBP",
        net=Decimal("100.00"),
        tax=Decimal("20.00"),
        total=Decimal("120.00"),
        paid=Decimal(0),
        due=Decimal("120.00"),
        state=InvoiceState.OPEN,
        lines=lines,
    )


def payment(system: System, i: int, inv: Invoice, method: str, day: date) -> Payment:
    return Payment(
        system=system,
        id=f"{system.value}-kill-pay-{i}",
        invoice_number=inv.number,
        invoice_id=inv.id,
        date=day,
        amount=Decimal("10.00") + Decimal(i % 7),
        reference=f"{PREFIX}REF-{i}",
        method=method,
        direction=Direction.PAYMENT,
        currency="GBP",
    )


def invoice_plans(total: int, s: Settings) -> list[plans.PushPlan]:
    n, _, _ = sizes(total)
    return [plans.plan_push_invoice(inv, s, inv.number, System.XERO) for inv in map(invoice, range(n))]


def payment_plans(db: Database, total: int, s: Settings) -> list[plans.PushPlan]:
    """Payments to Xero on the invoices the first phase put there (their Xero ids from the outbox), then the
    accessplanit payments."""
    _, n_xero, n_ap = sizes(total)
    with db.transaction(readonly=True) as tx:
        remote = {p.item_key: p.result_remote_id for p in outbox.pushes_in_state(tx, [PushState.SUCCEEDED])}
    out = []
    for i in range(n_xero):
        inv = invoice(i)
        on_xero = replace(inv, system=System.XERO, id=str(remote[inv.number]))
        pay = payment(System.ACCESSPLANIT, i, inv, "BACS", date(2026, 10, 15))
        out.append(plans.plan_push_payment(pay, on_xero, s, f"kill-pay-{i}"))
    return out + accessplanit_plans(db, n_ap, s)


def accessplanit_plans(db: Database, n: int, s: Settings) -> list[plans.PushPlan]:
    """`n` Xero payments to accessplanit on the generated month's invoices (never more than one has left to pay)."""
    with db.transaction(readonly=True) as tx:
        ap_invoices = sorted(
            (i for i in records_repo.load_invoices(tx, System.ACCESSPLANIT) if not i.deleted), key=lambda a: a.id
        )
    room = {inv.id: inv.due for inv in ap_invoices}
    out = []
    for i in range(n):
        pay = payment(System.XERO, 1000 + i, replace(invoice(i), system=System.XERO), "090", date(2026, 10, 1 + i % 28))
        target = next(a for a in ap_invoices if room[a.id] >= pay.amount)
        room[target.id] -= pay.amount
        out.append(plans.plan_push_payment(pay, target, s, f"kill-ap-{i}"))
    return out


class _Killing:
    """A writer whose n-th `create_*` request is followed by SIGKILL of this process, whatever its answer."""

    def __init__(self, inner: Any, after: int) -> None:
        self._inner, self._left = inner, after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not name.startswith("create_"):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            try:
                return attr(*args, **kw)
            finally:
                self._left -= 1
                if self._left <= 0:
                    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally blocks: a power-cut of the process

        return call


class Writers:
    """The push service's writers: the real connectors over the emulators described by `info`."""

    def __init__(self, info: dict[str, Any], kill: list[Any] | None = None) -> None:
        from test_sync import make_clients

        clients = make_clients(info)
        self.source, self.ledger = clients[System.ACCESSPLANIT], clients[System.XERO]
        if kill:
            system, after = kill
            if system == "xero":
                self.ledger = _Killing(self.ledger, int(after))
            else:
                self.source = _Killing(self.source, int(after))

    def source_writer(self) -> Any:
        return self.source

    def ledger_writer(self) -> Any:
        return self.ledger


def service(db: Database, info: dict[str, Any], lease: float, kill: list[Any] | None = None) -> PushService:
    return PushService(db, settings(lease), f"child-{os.getpid()}", Writers(info, kill), lambda _key: None)


def main(args: dict[str, Any]) -> None:
    db = Database(args["url"])
    pusher = service(db, args["info"], float(args["lease"]), args.get("kill"))
    if args["mode"] == "push":
        s = settings(float(args["lease"]))
        todo = invoice_plans(args["total"], s) if args["phase"] == "invoices" else payment_plans(db, args["total"], s)
        print("pushing", len(todo), flush=True)
        outcomes = pusher.push_many(todo)
        print(json.dumps({"ok": sum(o.ok for o in outcomes), "of": len(outcomes)}), flush=True)
        return
    ids = pusher.retryable()
    print("ready", len(ids), flush=True)
    go = Path(args["go"])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    outcomes = pusher.retry_many(ids)
    print(json.dumps({"ids": ids, "ok": [o.ok for o in outcomes], "messages": [o.message for o in outcomes]}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

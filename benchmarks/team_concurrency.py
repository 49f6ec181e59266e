"""Benchmark (issue 17): two people, as two processes, deciding and pushing on the same items of one database at
once, one of them killed with SIGKILL right after one of its writes reached Xero (its answer never recorded).

The sandboxes serve a generated month (`--invoices`); a reviewer syncs it into the database (`--db`; by default a
throw-away schema of the PostgreSQL server of `scripts/with-postgres`, `RECONDESK_TEST_PG_URL`) and adds two
preparers. First one preparer alone runs half the operations (the baseline), then both run `--ops` between them at
once, each picking items at random from one shared list (so they collide): a field or record push to Xero, a
resolve, or a reopen, whatever the item offers, each naming the version it read. The killed one's claims are taken
over by the other after the lease (`--lease` seconds), which reads back the uncertain write before any resend.

Prints one JSON object: operations per second alone and together; every outcome counted (done, refused because the
item changed, refused by a rule, failed); `lost_updates` (two decisions that succeeded on one version of an item:
must be 0); `duplicate_writes` (writes Xero applied under a key no succeeded push holds, or two succeeded pushes of
one thing: must be 0); what is left unfinished in the outbox.
Must not: change the app's code paths; the only intervention is the SIGKILL after a write request.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import _bench

HERE = Path(__file__).resolve()


# --- the person's process -----------------------------------------------------------------------------------------


class _Killing:
    """A writer whose next create/update request once `armed` is followed by SIGKILL of this process, whatever its
    answer (the write reached Xero; its outcome is never recorded)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not (name.startswith("create_") or name.startswith("update_")):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            try:
                return attr(*args, **kw)
            finally:
                if self.armed:
                    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally blocks: a power cut of the process

        return call


def workspace(
    url: str, info: dict[str, Any], login: str, lease: float, locks: Path, killers: list[Any] | None = None
) -> Any:
    """A person's `Workspace` on the database, connected to the sandboxes, unpaced (the sandboxes' limits are off).
    With `killers` (a list), each Xero client made is a `_Killing` wrapper, appended to it."""
    from dataclasses import replace

    from app.composition import ConnectorFactory, connect_to_sandboxes
    from app.connectors.http import Pacer, PacerConfig
    from app.credentials import MemoryCredentialStore
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage.db import Database

    class Factory(ConnectorFactory):
        def source(self, info: Any, secrets: Any) -> Any:
            client = super().source(info, secrets)
            client.http.pacer = Pacer(PacerConfig.unlimited())
            return client

        def ledger(self, info: Any, secrets: Any) -> Any:
            client = super().ledger(info, secrets)
            client.http.pacer = Pacer(PacerConfig.unlimited())
            if killers is None:
                return client
            killers.append(_Killing(client))
            return killers[-1]

    settings = replace(Settings(), push_lease_seconds=lease, write_settle_seconds=0.05)
    ws = Workspace(Database(url), MemoryCredentialStore(), settings, Factory(settings, locks), "bench", login=login)
    connect_to_sandboxes(ws, info)
    return ws


def choose(row: Any, rng: random.Random, *, push: bool = False) -> Any:
    """What a person would do with the item as read: a push where one is offered (sometimes; `push`: always),
    else a decision."""
    from app.domain.status import ItemStatus, Kind, Resolution, System
    from app.services.api import PushField, PushRecord, Reopen, Resolve

    v = row.version
    if row.status is ItemStatus.RESOLVED:
        return Reopen(row.item_id, "looked again", expected_version=v)
    if row.status not in (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER):
        return None
    if push or rng.random() < 0.3:
        field = next((f for f in ("po_number", "due_date") if f in row.fields), None)
        if row.status is ItemStatus.DIFFERS and row.kind is Kind.INVOICE and field:
            return PushField(row.item_id, field, System.XERO, expected_version=v)
        if row.status is ItemStatus.ONLY_IN_SOURCE and row.kind in (Kind.INVOICE, Kind.PAYMENT):
            return PushRecord(row.item_id, System.XERO, expected_version=v)
    resolution = rng.choice(list(Resolution))
    return Resolve(row.item_id, resolution, "checked by hand", expected_version=v)


def child(args: dict[str, Any]) -> None:
    killers: list[Any] | None = [] if args.get("kill") else None
    ws = workspace(args["url"], args["info"], args["login"], args["lease"], Path(args["locks"]), killers)
    rng = random.Random(args["seed"])
    ids: list[int] = args["ids"]
    log = Path(args["log"]).open("a", encoding="utf-8")
    go = Path(args["go"])
    print(json.dumps({"ready": os.getpid()}), flush=True)
    while not go.exists():
        time.sleep(0.01)
    started = time.perf_counter()
    first, at = args.get("first"), args["ops"] // 2
    for n in range(args["ops"]):
        item_id = first if n == at and first is not None else rng.choice(ids)
        if n == at and killers is not None:
            for k in killers:
                k.armed = True  # this operation pushes the reserved invoice's PO number: die right after it lands
        rows = ws.rows([item_id])
        action = choose(rows[0], rng, push=item_id == first) if rows else None
        if action is not None and args.get("think"):
            time.sleep(rng.uniform(0, args["think"] / 1000))  # a person reads the item before deciding
        if action is None:
            log.write(json.dumps({"op": "none"}) + "\n")
            log.flush()
            continue
        result = ws.act(action)
        entry = {
            "op": type(action).__name__,
            "item": item_id,
            "version": action.expected_version,
            "ok": result.ok,
            "refused": result.refused,
            "message": result.message,
        }
        log.write(json.dumps(entry) + "\n")
        log.flush()
    seconds = time.perf_counter() - started
    print(json.dumps({"done": args["ops"], "seconds": round(seconds, 3)}), flush=True)
    finish = Path(args["finish"]) if args.get("finish") else None
    if finish is not None:  # the survivor: take over the dead one's claims once their lease has passed
        while not finish.exists():
            time.sleep(0.01)
        time.sleep(args["lease"] + 0.5)
        retried = ws.retry_failed()
        print(json.dumps({"retried": len(retried), "ok": sum(r.ok for r in retried)}), flush=True)
    ws.db.dispose()


# --- the run ------------------------------------------------------------------------------------------------------


def _spawn(args: dict[str, Any]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(HERE), "--child", json.dumps(args)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the person's process {args['login']} exited with {proc.wait()} before it was ready")
    return proc


def _answer(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return json.loads(line) if line.strip() else {}


def _database(db: str | None, tmp: Path) -> tuple[str, Any]:
    """The URL to use and a clean-up; PostgreSQL gets a throw-away schema."""
    base = db or os.environ.get("RECONDESK_TEST_PG_URL") or f"sqlite:///{tmp / 'team.sqlite3'}"
    if not base.startswith("postgresql"):
        return base, lambda: None
    from sqlalchemy import create_engine, text

    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", drop


def _outcomes(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for e in entries:
        if e["op"] == "none":
            counts["nothing_to_do"] += 1
        elif e["ok"]:
            counts["done"] += 1
        elif e["refused"] == "stale":
            counts["refused_changed_since"] += 1
        elif e["refused"]:
            counts["refused_by_a_rule"] += 1
        else:
            counts["failed"] += 1
    return dict(sorted(counts.items()))


def _lost_updates(entries: list[dict[str, Any]]) -> int:
    """Decisions that succeeded on a version another succeeded decision had already used (an update lost)."""
    used: Counter[tuple[int, int]] = Counter(
        (e["item"], e["version"]) for e in entries if e.get("ok") and e.get("version") is not None
    )
    return sum(n - 1 for n in used.values() if n > 1)


def _writes(info: dict[str, Any], ws: Any) -> dict[str, Any]:
    """Xero's applied writes against the outbox: every key Xero wrote under must be a succeeded push's, and no
    thing pushed twice."""
    from app.domain.status import PushState, System
    from app.storage import outbox

    log = _bench.request_log(_bench.xero_root(info))
    written = {
        str(r["idempotency_key"])
        for r in log
        if r.get("method") in ("POST", "PUT") and "/api.xro/" in str(r.get("path")) and (r.get("status") or 0) < 300
    }
    with ws.db.transaction(readonly=True) as tx:
        rows = [r for r in outbox.pushes_in_state(tx, list(PushState)) if r.target == System.XERO.value]
    succeeded = [r for r in rows if r.state == PushState.SUCCEEDED.value]
    keys = {r.idempotency_key for r in succeeded}
    per_thing = Counter((r.item_key, r.action, json.dumps(r.payload.get("value"), default=str)) for r in succeeded)
    states = Counter(r.state for r in rows)
    return {
        "xero_write_keys": len(written),
        "succeeded_pushes": len(succeeded),
        "duplicate_writes": len(written - keys) + sum(n - 1 for n in per_thing.values() if n > 1),
        "succeeded_but_not_written": len(keys - written),
        "outbox_states": dict(sorted(states.items())),
        "unfinished": sum(states[s.value] for s in (PushState.SENDING, PushState.UNCERTAIN, PushState.PENDING)),
    }


def run(
    invoices: int, ops: int, kill: bool, lease: float, db: str | None, items: int = 0, think: float = 0.0
) -> dict[str, Any]:
    from app.domain.status import ItemStatus, Kind
    from app.services.api import ItemFilter

    with _bench.sandbox_child(invoices) as box, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        info = box.hello["info"]
        url, drop = _database(db, tmp)
        try:
            from app.storage.db import Database

            Database(url).migrate()
            reviewer = workspace(url, info, "reviewer", lease, tmp / "locks")
            t0 = time.perf_counter()
            assert reviewer.sync(full=True).ok
            sync_s = time.perf_counter() - t0
            for login in ("ana", "ben"):
                reviewer.add_person(login, login.capitalize(), "preparer")
            statuses = (ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER)
            rows = reviewer.rows(reviewer.item_ids(ItemFilter(statuses=statuses)))
            # One invoice whose PO number differs is kept for ben's middle operation (a push to Xero), so he is
            # killed half-way, right after a write, whatever the draw; the others are shared, pushable ones first.
            po = [
                r for r in rows if r.kind is Kind.INVOICE and r.status is ItemStatus.DIFFERS and "po_number" in r.fields
            ]
            reserved = po[0].item_id if po else None
            pushable = [r.item_id for r in rows if r in po[1:] or r.status is ItemStatus.ONLY_IN_SOURCE]
            ids = pushable + [r.item_id for r in rows if r.item_id not in pushable and r.item_id != reserved]
            ids = ids[:items] if items else ids
            base = {"url": url, "info": info, "ids": ids, "lease": lease, "locks": str(tmp / "locks"), "think": think}

            _bench.note(f"alone: {ops // 2} operations on {len(ids)} items")
            alone_log = tmp / "alone.jsonl"
            go = tmp / "go-alone"
            solo = _spawn({**base, "login": "ana", "seed": 1, "ops": ops // 2, "log": str(alone_log), "go": str(go)})
            go.touch()
            alone = _answer(solo)
            solo.wait(timeout=600)

            _bench.note(f"together: {ops} operations, ben killed half-way, after a write reaches Xero: {kill}")
            logs = {p: tmp / f"{p}.jsonl" for p in ("ana", "ben")}
            go, finish = tmp / "go", tmp / "finish"
            ana = _spawn({**base, "login": "ana", "seed": 2, "ops": ops // 2, "log": str(logs["ana"]),
                          "go": str(go), "finish": str(finish)})  # fmt: skip
            ben = _spawn({**base, "login": "ben", "seed": 3, "ops": ops - ops // 2, "log": str(logs["ben"]),
                          "go": str(go), "kill": kill, "first": reserved})  # fmt: skip
            t1 = time.perf_counter()
            go.touch()
            ana_done = _answer(ana)
            together_s = time.perf_counter() - t1
            ben_code = ben.wait(timeout=600)
            finish.touch()
            survivor = _answer(ana)
            ana.wait(timeout=600)

            entries = {p: [json.loads(x) for x in logs[p].read_text().splitlines() if x.strip()] for p in logs}
            both = entries["ana"] + entries["ben"]
            solo_entries = [json.loads(x) for x in alone_log.read_text().splitlines() if x.strip()]
            writes = _writes(info, reviewer)
            per_item: dict[int, int] = defaultdict(int)
            for e in both:
                if e["op"] != "none":
                    per_item[e["item"]] += 1
            reviewer.db.dispose()
        finally:
            drop()
    done_ops = len(both)
    return {
        "database": url.split("://")[0],
        "invoices": invoices,
        "items_shared": len(ids),
        "think_ms": think,
        "sync_seconds": round(sync_s, 2),
        "alone": {
            "operations": len(solo_entries),
            "seconds": alone.get("seconds"),
            "operations_per_second": _bench.rate(len(solo_entries), float(alone.get("seconds") or 0)),
            "outcomes": _outcomes(solo_entries),
        },
        "two_people": {
            "operations": done_ops,
            "seconds": round(together_s, 3),
            "operations_per_second": _bench.rate(done_ops, together_s),
            "outcomes": _outcomes(both),
            "busiest_item_operations": max(per_item.values(), default=0),
            "ana_seconds": ana_done.get("seconds"),
        },
        "killed": {
            "asked": kill,
            "ben_exit": ben_code,
            "ben_operations_before": len(entries["ben"]),
            "ana_took_over": survivor,
        },
        "lost_updates": _lost_updates(both) + _lost_updates(solo_entries),
        "messages_of_failures_and_rule_refusals": sorted(
            {e["message"] for e in both + solo_entries if e["op"] != "none" and not e["ok"] and e["refused"] != "stale"}
        )[:5],
        "refused_without_a_message": sum(1 for e in both if e["op"] != "none" and not e["ok"] and not e["message"]),
        **writes,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=200, help="invoices in the generated month")
    parser.add_argument("--ops", type=int, default=1000, help="operations of the two people together")
    parser.add_argument("--no-kill", action="store_true", help="do not kill the second person's process")
    parser.add_argument("--lease", type=float, default=2.0, help="seconds a push claim is held (Settings)")
    parser.add_argument("--db", help="database URL (default: a schema of $RECONDESK_TEST_PG_URL, else SQLite)")
    parser.add_argument("--items", type=int, default=0, help="share only the first N open items (more collisions)")
    parser.add_argument("--think", type=float, default=0.0, help="up to this many ms between reading and acting")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return {}
    result: dict[str, Any] = {
        "benchmark": "team_concurrency",
        "issue": 17,
        "machine": _bench.machine(),
        "command": "python benchmarks/team_concurrency.py " + " ".join(argv or []),
        **run(args.invoices, args.ops, not args.no_kill, args.lease, args.db, args.items, args.think),
    }
    _bench.finish(result)
    _bench.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

"""Shared parts of the benchmark scripts: the machine description, process memory, child processes that serve the
sandboxes or a static file, authenticated request headers, request-log helpers, and a workspace wired like the
demo's (`app.composition`) but with the client's pacing scaled for a benchmark.

Servers run in child processes, so a measuring loop never shares a GIL with the server it measures and a child's
RSS is its own. Run as a script (`python benchmarks/_bench.py`) it prints the machine description as one JSON
object, so `make benchmarks`, which runs every file here, stays harmless.
Must not: change or patch app code to make a figure look better. The only interventions are a timer wrapped
around the generator inside the sandbox child (no change of behaviour) and, in `bench_workspace`, the clients'
token buckets swapped for unlimited ones ("rate limits scaled for the benchmark"; `pacing="default"` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # scripts run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

# Every rate limit of both sandboxes lifted (docs/sandboxes.md, docs/sandboxes-xero.md): the benchmarks measure
# serving and syncing, not waiting. Unprefixed keys reach both servers; each reads the ones it knows.
NO_LIMITS = (
    "limit_minute=100000000,limit_day=1000000000,limit_hour=1000000000,limit_app_minute=100000000,limit_concurrent=1000"
)
DEFAULT_MONTH = "2026-10"
MIB = 1024 * 1024


def machine() -> dict[str, Any]:
    """What a figure was measured on, including how busy the machine was (the 2 cores are shared)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_mib": mem_total,
        "load_average_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "code": code_state(),
    }


def code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and a digest of every `app/` source as it is in the working tree
    (several people edit the tree at once, so the commit alone does not say what ran)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "app").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        head = ""
    return {"commit": head, "app_sources_sha256": digest.hexdigest()[:16]}


def proc_memory(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a live process, in MiB (`VmRSS`, `VmHWM` of /proc/PID/status)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
        elif line.startswith("VmHWM:"):
            out["peak_rss_mib"] = round(int(line.split()[1]) / 1024, 1)
    return out


def finish(result: dict[str, Any]) -> None:
    """Record the load after the run, and whether the app's code changed while it ran (then the figures mix two
    versions and must be measured again)."""
    now = machine()
    result["machine_after"] = {"load_average_1m_5m_15m": now["load_average_1m_5m_15m"], "code": now["code"]}
    result["code_changed_during_run"] = now["code"] != result.get("machine", {}).get("code")


def emit(result: dict[str, Any]) -> None:
    """The script's one JSON object on stdout (progress goes to stderr)."""
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def loads(body: bytes) -> Any:
    """JSON as every client of ours reads it: non-integers as Decimal."""
    return json.loads(body, parse_float=Decimal)


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


# ----------------------------------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------------------------------


class Child:
    """A child process started with `python _bench.py MODE ...`; its first stdout line is a JSON object (`hello`).

    Closing its stdin asks it to stop. Use as a context manager."""

    def __init__(self, *args: str, timeout: float = 1800.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=timeout)
            raise RuntimeError(f"benchmark child {args[0]} exited with {code} before answering")
        self.hello: dict[str, Any] = json.loads(line)
        self.pid = self.proc.pid

    def memory(self) -> dict[str, float]:
        return proc_memory(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sandbox_child(
    invoices: int, *, seed: int = 1, month: str = DEFAULT_MONTH, faults: str = NO_LIMITS, paid_instalments: float = 1.0
) -> Child:
    """Both sandboxes with a generated month in a child process; `hello` holds `info`, timings and counts."""
    return Child(
        "serve-sandboxes",
        *("--invoices", str(invoices), "--seed", str(seed), "--month", month, "--faults", faults),
        *("--paid-instalments", str(paid_instalments)),
    )


def static_child(path: Path) -> Child:
    """A werkzeug threaded server (the sandboxes' server) answering every GET with the bytes of `path`."""
    return Child("serve-static", str(path))


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        return len(lists[0]) if lists else 0
    return 0


def _serve_sandboxes(args: argparse.Namespace) -> None:
    from app.sandbox import generator
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    timing: dict[str, Any] = {}
    real_generate = generator.generate

    def timed_generate(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        ds = real_generate(*a, **kw)
        timing["generate_seconds"] = round(time.perf_counter() - t0, 3)
        # Counts only: keeping a reference to the dataset here would inflate the RSS being measured.
        timing["counts"] = {
            **{f"accessplanit.{k}": _count(v) for k, v in ds.accessplanit.items()},
            **{f"xero.{k}": _count(v) for k, v in ds.xero.items()},
        }
        return ds

    generator.generate = timed_generate  # the runner looks the function up at call time
    before = proc_memory(os.getpid())
    t0 = time.perf_counter()
    sb = start_sandboxes(
        SandboxOptions(
            seed=args.seed,
            invoices=args.invoices,
            month=args.month,
            faults=args.faults,
            paid_instalments=args.paid_instalments,
        )
    )
    started = time.perf_counter() - t0
    generator.generate = real_generate
    hello = {
        "info": sb.info,
        "pid": os.getpid(),
        "invoices_asked": args.invoices,
        "start_seconds": round(started, 3),
        "load_seconds": round(started - timing.get("generate_seconds", 0.0), 3),
        "rss_before_generate_mib": before.get("rss_mib"),
        **timing,
    }
    print(json.dumps(hello, default=str), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    sb.stop()


def _serve_static(args: argparse.Namespace) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    body = Path(args.path).read_bytes()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # Same headers as the sandboxes' answers, `Connection: close` included, so both loops pay the same setup.
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")],
        )
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    srv = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    import threading

    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    print(
        json.dumps({"url": f"http://127.0.0.1:{srv.server_port}/page.json", "pid": os.getpid(), "bytes": len(body)}),
        flush=True,
    )
    sys.stdin.read()
    srv.shutdown()


# ----------------------------------------------------------------------------------------------------------------
# Talking to the sandboxes
# ----------------------------------------------------------------------------------------------------------------


def ap_root(info: dict[str, Any]) -> str:
    """The accessplanit server root (admin endpoints live there, the tenant under `/accessplan`)."""
    return str(info["accessplanit"]["url"]).rsplit("/accessplan", 1)[0]


def xero_root(info: dict[str, Any]) -> str:
    return str(info["xero"]["identity_url"]).rstrip("/")


def ap_headers(info: dict[str, Any]) -> dict[str, str]:
    """The API key as bearer (accessplanit-api.md): no token call needed."""
    return {"Authorization": f"Bearer {info['accessplanit']['api_key']}", "Accept": "application/json"}


def xero_headers(info: dict[str, Any]) -> dict[str, str]:
    """A client_credentials token (custom connection) and the one tenant."""
    xero = info["xero"]
    tok = requests.post(
        f"{xero_root(info)}/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(xero["client_id"], xero["client_secret"]),
        timeout=30,
    )
    tok.raise_for_status()
    access = tok.json()["access_token"]
    conns = requests.get(f"{xero_root(info)}/connections", headers={"Authorization": f"Bearer {access}"}, timeout=30)
    conns.raise_for_status()
    return {
        "Authorization": f"Bearer {access}",
        "xero-tenant-id": conns.json()[0]["tenantId"],
        "Accept": "application/json",
    }


def reset_logs(info: dict[str, Any]) -> None:
    """Clear both request logs and rate-limit counters (`POST /__admin/reset`)."""
    for root in (ap_root(info), xero_root(info)):
        requests.post(f"{root}/__admin/reset", timeout=60).raise_for_status()


def request_log(root: str) -> list[dict[str, Any]]:
    r = requests.get(f"{root}/__admin/requests", timeout=300)
    r.raise_for_status()
    return list(r.json())


def classify(system: str, entry: dict[str, Any]) -> str:
    """The stream (or purpose) a logged sandbox request served, from its path and query alone."""
    path = str(entry.get("path") or "")
    query = unquote_plus(str(entry.get("query") or ""))
    tail = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if system == "accessplanit":
        if tail == "token":
            return "auth"
        if tail == "transactionmethod":
            return "transaction_methods"
        if tail == "invoiceitem":
            return "invoice_lines"
        if tail == "transaction":
            return "payments"
        if tail == "invoice":
            # `ID in (...)` / `ID eq '..'` with `$select=ID,Reference`: the payments' invoice-number lookups.
            select = parse_qs(str(entry.get("query") or "")).get("$select", [""])[0]
            return "invoice_number_lookups" if select == "ID,Reference" else "invoices"
        return f"other:{path}"
    if path.startswith("/connect/") or tail == "connections":
        return "auth"
    names = {
        "organisation": "organisation",
        "accounts": "accounts",
        "taxrates": "tax_rates",
        "contacts": "contacts",
        "creditnotes": "credit_notes",
        "invoices": "invoices",
        "payments": "payments",
    }
    if tail in names:
        if tail == "creditnotes" and "IDs=" in query:
            return "credit_note_lookups"
        return names[tail]
    return f"other:{path}"


def calls_by_stream(info: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Counts of logged requests per system and stream since the last `reset_logs`."""
    out: dict[str, dict[str, int]] = {}
    for system, root in (("accessplanit", ap_root(info)), ("xero", xero_root(info))):
        counts: dict[str, int] = {}
        for entry in request_log(root):
            key = classify(system, entry)
            counts[key] = counts.get(key, 0) + 1
        out[system] = dict(sorted(counts.items()))
    return out


# Which stream a helper call belongs to: lines are read for each invoice page, lookups for each payment page.
STREAM_OF = {"invoice_lines": "invoices", "invoice_number_lookups": "payments", "credit_note_lookups": "payments"}


def per_stream(calls: dict[str, dict[str, int]]) -> dict[str, int]:
    """`calls_by_stream` folded into the app's streams (`system.stream`); sign-in calls stay under `auth`."""
    out: dict[str, int] = {}
    for system, by in calls.items():
        for name, n in by.items():
            key = f"{system}.{STREAM_OF.get(name, name)}"
            out[key] = out.get(key, 0) + n
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------------------------------
# A workspace on running sandboxes
# ----------------------------------------------------------------------------------------------------------------


def bench_workspace(
    db_path: Path, info: dict[str, Any], *, pacing: str = "unlimited", waited: list[float] | None = None
) -> Any:
    """A real `Workspace` on a SQLite file, connected to the sandboxes in `info` as `demo_workspace` does.

    `pacing="unlimited"` swaps each client's token bucket for `PacerConfig.unlimited()` (the sandboxes' own limits
    are lifted too, "rate limits scaled for the benchmark"); `pacing="default"` keeps the production pacing.
    `waited`: a one-element list the seconds spent waiting for a pacing slot are added to (all clients)."""
    from app.composition import ConnectorFactory, connect_to_sandboxes
    from app.connectors.http import Pacer, PacerConfig
    from app.credentials import MemoryCredentialStore
    from app.services.api import ConnectionInfo
    from app.services.workspace import Workspace
    from app.settings import Settings
    from app.storage.db import Database

    class BenchFactory(ConnectorFactory):
        def _paced(self, client: Any) -> Any:
            if pacing == "unlimited":
                client.http.pacer = Pacer(PacerConfig.unlimited())
            if waited is not None:
                _time_slots(client.http.pacer, waited)
            return client

        def source(self, info: ConnectionInfo, secrets: Any) -> Any:
            return self._paced(super().source(info, secrets))

        def ledger(self, info: ConnectionInfo, secrets: Any) -> Any:
            return self._paced(super().ledger(info, secrets))

    settings = Settings()
    db = Database(f"sqlite:///{db_path}")
    db.migrate()
    ws = Workspace(
        db,
        MemoryCredentialStore(),
        settings,
        BenchFactory(settings, db_path.parent / "locks"),
        "bench",
        who="benchmark",
    )
    connect_to_sandboxes(ws, info)
    return ws


def _time_slots(pacer: Any, waited: list[float]) -> None:
    """Add the time each call waits for its pacing slot (the token bucket, the in-flight bound) to `waited[0]`."""
    real = pacer.slot

    @contextmanager
    def slot(cancel: Any, key: str = "") -> Iterator[None]:
        t0 = time.perf_counter()
        with real(cancel, key):
            waited[0] += time.perf_counter() - t0
            yield

    pacer.slot = slot


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode")
    sb = sub.add_parser("serve-sandboxes")
    sb.add_argument("--invoices", type=int, default=200)
    sb.add_argument("--seed", type=int, default=1)
    sb.add_argument("--month", default=DEFAULT_MONTH)
    sb.add_argument("--faults", default=NO_LIMITS)
    sb.add_argument("--paid-instalments", type=float, default=1.0)
    st = sub.add_parser("serve-static")
    st.add_argument("path")
    args = parser.parse_args(argv)
    if args.mode == "serve-sandboxes":
        _serve_sandboxes(args)
    elif args.mode == "serve-static":
        _serve_static(args)
    else:
        emit({"benchmark": "machine", "machine": machine()})


if __name__ == "__main__":
    main()

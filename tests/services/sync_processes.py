"""A sync driven from a CHILD PROCESS over a shared SQLite cache, against the emulators the test started.

Run as a script (`python sync_processes.py ARGS-JSON`): `{"db", "ap": {url, username, password}, "xe": {url,
identity_url, client_id, client_secret}, "hold": PATH | null}`. It saves both connections (secrets in this process's
memory), syncs (a full pull), and prints one JSON line: `{"ok", "counts", "errors"}` or, when another sync holds the
cache, `{"refused": message}`. With `hold`, it prints `holding` at the first page and waits for the file `hold` to
exist before going on (so the test can start a second sync while this one is mid-way, without timing). With `wait`
(seconds) it queues behind a sync that holds the cache, printing `{"waiting": message}` when it starts waiting.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if __name__ == "__main__":  # the child: the project and this folder on the path, as pytest sets them
    sys.path[:0] = [str(ROOT), str(HERE)]

from services_clients import SandboxClientFactory  # noqa: E402

from app.credentials import MemoryCredentialStore  # noqa: E402
from app.domain.progress import ProgressEvent  # noqa: E402
from app.domain.status import System  # noqa: E402
from app.services.api import ConnectionInfo  # noqa: E402
from app.services.sync import WAITING, SyncBusy  # noqa: E402
from app.services.workspace import Workspace  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.db import Database  # noqa: E402


def workspace(db: Database, ap: dict[str, Any], xe: dict[str, Any]) -> Workspace:
    ws = Workspace(db, MemoryCredentialStore(), Settings(), SandboxClientFactory(), "test", who="tester")
    ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password"), ap["password"])
    xero = ConnectionInfo(
        System.XERO, xe["url"], auth="client_credentials", identity_url=xe["identity_url"], client_id=xe["client_id"]
    )
    ws.save_connection(xero, xe["client_secret"])
    return ws


def main(args: dict[str, Any]) -> None:
    db = Database(args["db"])
    ws = workspace(db, args["ap"], args["xe"])
    hold = Path(args["hold"]) if args.get("hold") else None
    held = False

    def progress(ev: ProgressEvent) -> None:
        nonlocal held
        if ev.stage == WAITING:
            print(json.dumps({"waiting": ev.message}), flush=True)
            return
        if hold is not None and not held and ev.pages:
            held = True
            print("holding", flush=True)
            while not hold.exists():
                time.sleep(0.02)

    try:
        result = ws.sync(full=True, progress=progress, wait=float(args.get("wait") or 0))
    except SyncBusy as exc:
        print(json.dumps({"refused": exc.user_text()}), flush=True)
        return
    print(json.dumps({"ok": result.ok, "counts": result.counts, "errors": list(result.errors)}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

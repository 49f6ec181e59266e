"""Refresh tokens rotate, and two refreshes of one token set give `invalid_grant`: so several Recondesk processes
(the GUI and a scheduled `recondesk sync`, say) sharing one Xero sign-in must refresh one at a time, and the others
must pick up the rotated set instead of spending the old one. Four real processes, one expired token set, the
connector's file lock: exactly one refresh reaches Xero and every process gets a working token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests

from app.connectors.http import HttpClient, HttpConfig
from app.connectors.xero.auth import connect_headless
from app.connectors.xero.profile import XERO
from app.sandbox.common import Faults, serve
from app.sandbox.xero import XeroApp

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from app.connectors.xero.client import XeroClient, XeroConfig

    class FileBox:  # the keyring's role, shared by the processes: one JSON file
        def __init__(self, path): self.path = Path(path)
        def load(self): return json.loads(self.path.read_text())
        def save(self, secret):
            tmp = self.path.with_suffix(".tmp"); tmp.write_text(json.dumps(secret)); tmp.replace(self.path)

    url, identity, client_id, box_path, lock_dir, start_at = sys.argv[1:7]
    config = XeroConfig(url=url, identity_url=identity, client_id=client_id, connection_id="shared",
                        lock_dir=Path(lock_dir))
    client = XeroClient(config, box=FileBox(box_path))
    while time.time() < float(start_at):
        time.sleep(0.005)
    tenants = client.list_tenants()
    print(json.dumps({"tenants": len(tenants), "refreshes": client.auth.refreshes}))
    """
)


class _FileBox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, secret: dict[str, str]) -> None:
        self.path.write_text(json.dumps(secret))


def test_processes_sharing_a_sign_in_refresh_once_and_all_get_a_token(tmp_path: Path) -> None:
    app = XeroApp(None, "shared-client", "unused-secret", Faults("limit_minute=100000,limit_day=100000"))
    server = serve(app)
    try:
        box = _FileBox(tmp_path / "tokens.json")
        connect_headless(
            HttpClient(XERO, config=HttpConfig()), identity_url=server.url, client_id="shared-client", box=box
        )
        first = box.load()
        assert first["refresh_token"]
        assert requests.post(server.url + "/__admin/expire_tokens", json={}, timeout=5).status_code in (200, 204)
        requests.post(server.url + "/__admin/reset", timeout=5)
        # A slow token endpoint, so that refreshes which are not serialised would overlap for certain.
        requests.post(
            server.url + "/__admin/faults",
            json={"spec": "limit_minute=100000,limit_day=100000,latency=0.3,only=/connect/token"},
            timeout=5,
        )

        start_at = time.time() + 3.0  # every child is up and waiting before any of them asks for a token
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    server.url + "/api.xro/2.0",
                    server.url,
                    "shared-client",
                    str(box.path),
                    str(tmp_path / "locks"),
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=ROOT,
            )
            for _ in range(4)
        ]
        outputs = [c.communicate(timeout=60) for c in children]
        for child, (out, err) in zip(children, outputs, strict=True):
            assert child.returncode == 0, err
            assert json.loads(out)["tenants"] == 1
        refreshes = [json.loads(out)["refreshes"] for out, _ in outputs]
        assert sorted(refreshes) == [0, 0, 0, 1], refreshes  # one refreshed; three used the set it saved

        token_calls = [
            r for r in requests.get(server.url + "/__admin/requests", timeout=5).json() if r["path"] == "/connect/token"
        ]
        assert len(token_calls) == 1 and token_calls[0]["status"] == 200
        rotated = box.load()
        assert rotated["refresh_token"] != first["refresh_token"]
    finally:
        server.stop()

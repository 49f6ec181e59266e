"""A generated month served by both emulators, synced into a real SQLite cache through a `Workspace`: the `world`
fixture of the push and workspace tests. One invoice per scenario of the generator, so every kind of item exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from services_clients import SandboxClientFactory

from app.credentials import MemoryCredentialStore
from app.domain.status import ItemStatus, Kind, System
from app.sandbox import generator
from app.sandbox.runner import Sandboxes, SandboxOptions, start_sandboxes
from app.services.api import ConnectionInfo, ItemFilter, ItemRow
from app.services.workspace import Workspace
from app.settings import Settings
from app.storage.db import Database

SEED, MONTH = 5, "2026-10"
N = len(generator.SCENARIO_NAMES)
FAST = Settings(write_settle_seconds=0.05)  # the emulators write at once: a short settle before read-backs


@dataclass
class World:
    ws: Workspace
    boxes: Sandboxes
    scenarios: dict[str, str]  # invoice key -> scenario
    db: Database

    def number(self, scenario: str) -> str:
        return next(k for k, s in sorted(self.scenarios.items()) if s == scenario)

    def items(self, number: str, kind: Kind | None = None) -> list[ItemRow]:
        rows = self.ws.rows(self.ws.item_ids(ItemFilter(kind=kind, search=number)))
        return [r for r in rows if r.invoice == number or r.key == number]

    def item(self, number: str, kind: Kind, status: ItemStatus | None = None) -> ItemRow:
        found = [r for r in self.items(number, kind) if status is None or r.status is status]
        assert len(found) == 1, found
        return found[0]

    def admin(self, system: System, what: str) -> Any:
        server = self.boxes.accessplanit if system is System.ACCESSPLANIT else self.boxes.xero
        assert server is not None
        reply = requests.get(f"{server.url}/__admin/{what}", timeout=10)
        reply.raise_for_status()
        return json.loads(reply.text, parse_float=Decimal)

    def faults(self, system: System, spec: str) -> None:
        server = self.boxes.accessplanit if system is System.ACCESSPLANIT else self.boxes.xero
        assert server is not None
        requests.post(f"{server.url}/__admin/faults", json={"spec": spec}, timeout=10).raise_for_status()

    def xero_invoices(self, number: str) -> list[dict[str, Any]]:
        state = self.admin(System.XERO, "state")
        return [i for i in state["Invoices"]["Invoices"] if i.get("InvoiceNumber") == number]

    def xero_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        state = self.admin(System.XERO, "state")
        return [
            p
            for p in state["Payments"]["Payments"]
            if (p.get("Invoice") or {}).get("InvoiceID") == invoice_id and p.get("Status") != "DELETED"
        ]

    def ap_transactions(self, invoice_id: str) -> list[dict[str, Any]]:
        state = self.admin(System.ACCESSPLANIT, "state")
        return [t for t in state["Transaction"]["results"] if str(t.get("InvoiceID")) == invoice_id]

    def workspace(self, settings: Settings) -> Workspace:
        """Another workspace on the same cache and connections (a restart, or new settings)."""
        return Workspace(self.db, self.ws.credentials, settings, SandboxClientFactory(), "test", who="tester")


def make_world(cache: Database, client_factory: SandboxClientFactory) -> Iterator[World]:
    boxes = start_sandboxes(SandboxOptions(seed=SEED, invoices=N, month=MONTH))
    try:
        assert boxes.info["xero"] is not None, "the Xero emulator did not start"
        ws = Workspace(cache, MemoryCredentialStore(), FAST, client_factory, "test", who="tester")
        ap, xe = boxes.info["accessplanit"], boxes.info["xero"]
        ws.save_connection(ConnectionInfo(System.ACCESSPLANIT, ap["url"], ap["username"], "password"), ap["password"])
        ws.save_connection(
            ConnectionInfo(
                System.XERO,
                xe["url"],
                auth="client_credentials",
                identity_url=xe["identity_url"],
                client_id=xe["client_id"],
            ),
            xe["client_secret"],
        )
        result = ws.sync(full=True)
        assert result.ok, result.errors
        scenarios = generator.generate(seed=SEED, invoices=N, month=MONTH).scenarios
        yield World(ws, boxes, scenarios, cache)
    finally:
        boxes.stop()
